# Shared by the serving benchmarks (serve.sh, serve_ab.sh, serve_long.sh, batch_bounds.sh, ...):
# source it, do not run it.
# with_p999 SRC DST        copy a wrk Lua script, adding a done() hook that prints the 99.9th
#                          percentile (wrk's --latency prints 50/75/90/99 only)
# summarize < WRK_OUTPUT   "req/s p50 p99 p99.9 non2xx" (latencies in ms)
# run_wrk PORT SCRIPT CONNECTIONS SECONDS OUTFILE [SERVER_PID]
#                          wrk -t2 against 127.0.0.1:PORT, its output kept in OUTFILE; prints the
#                          summary and the server's CPU time (user + system, /proc) per request
# select_load DIR          the load LOAD names, with the p99.9 hook, as DIR/load.lua: single
#                          (default: ../shared/peers/wrk/score.lua, 32 connections) or batch
#                          (scripts/bench/serve_batch.lua, BATCH=1000 transactions a request,
#                          exported; 4 connections); sets lua and conns
# serve_run BIN MODEL DB_URL PORT SECONDS WRK_OUT [serve options...]
#                          starts BIN serve (stderr to WRK_OUT.log), waits until it answers,
#                          runs the selected load for SECONDS, stops it with SIGTERM, and
#                          prints run_wrk's line

with_p999() {
  cp "$1" "$2"
  cat >>"$2" <<'LUA'
function done(summary, latency, requests)
  io.write(string.format("  99.900%%  %.2fms\n", latency:percentile(99.9) / 1000))
end
LUA
}

summarize() {
  /usr/bin/python3 -c '
import re, sys
t = sys.stdin.read()
def ms(label):
    m = re.search(r"^\s*" + re.escape(label) + r"\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print("%.0f %.2f %.2f %.2f %s" % (rps, ms("50%"), ms("99%"), ms("99.900%"), bad.group(1) if bad else 0))
'
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_wrk() {
  local c0=0 c1=0 n
  [ -n "${6:-}" ] && c0=$(cpu_ticks "$6")
  wrk -t2 -c"$3" -d"$4s" --latency -s "$2" "http://127.0.0.1:$1" >"$5" 2>&1 || true
  [ -n "${6:-}" ] && c1=$(cpu_ticks "$6")
  n=$(grep -oE '[0-9]+ requests in' "$5" | cut -d' ' -f1)
  echo "$(summarize <"$5") $(echo "scale=1; ($c1 - $c0) * 1000000 / $(getconf CLK_TCK) / ${n:-1}" | bc)"
}

select_load() {
  lua="$1/load.lua"
  conns=32
  if [ "${LOAD:-single}" = batch ]; then
    with_p999 scripts/bench/serve_batch.lua "$lua"
    conns=4
    export BATCH=${BATCH:-1000}
  else
    with_p999 ../shared/peers/wrk/score.lua "$lua"
  fi
}

serve_run() {
  local bin=$1 model=$2 url=$3 port=$4 secs=$5 wout=$6 pid r
  shift 6
  "$bin" serve --model "$model" --db "$url" --port "$port" "$@" 2>"$wout.log" &
  pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
  r=$(run_wrk "$port" "$lua" "$conns" "$secs" "$wout" "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$r"
}
