#!/usr/bin/env bash
# Interleaved A/B of two txguard binaries serving the same model under the shared wrk load
# (../shared/peers/wrk/score.lua, wrk -t2 -c32): A, B, A, B, ... each on a fresh SQLite store, so
# that both see the same machine conditions. Prints one line a run and the medians: requests/s,
# p50/p99/p99.9 latency, and the server's CPU time a request (user + system from /proc, the most
# stable of these on a shared machine).
#   scripts/bench/serve_ab.sh BIN_A BIN_B MODEL [PAIRS=4] [SECONDS=6] [extra serve options...]
# MODEL: a bundle both binaries read, e.g. from
#   txguard train --data ../shared/data/handbook/transactions.csv.gz --detector iforest \
#     --train-from 2018-07-25 --train-to 2018-07-31 -o if.txg
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { sed -n 2,9p "$0" >&2; exit 2; }
a=$1; b=$2; model=$3; pairs=${4:-4}; secs=${5:-6}; shift $(($# < 5 ? $# : 5))
extra=("$@")
command -v wrk >/dev/null || { echo "needs wrk (scripts/setup.sh installs it)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
lua="$out/score.lua"
cp ../shared/peers/wrk/score.lua "$lua"
cat >>"$lua" <<'LUA'
function done(summary, latency, requests)
  io.write(string.format("  99.900%%  %.2fms\n", latency:percentile(99.9) / 1000))
end
LUA
one() {  # BIN -> "rps p50 p99 p999 cpu_us"
  local port=$((18500 + RANDOM % 400)) db pid c0 c1
  db=$(mktemp -d -p "$out")
  "$1" serve --model "$model" --db "sqlite://$db/s.db" --port "$port" "${extra[@]}" 2>"$db/log" &
  pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  wrk -t2 -c32 -d"${secs}s" --latency -s "$lua" "http://127.0.0.1:$port" >"$db/wrk.txt" 2>&1 || true
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  /usr/bin/python3 - "$db/wrk.txt" "$c0" "$c1" "$(getconf CLK_TCK)" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + re.escape(label) + r"\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
n = int(re.search(r"(\d+) requests in", t).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
cpu = (float(sys.argv[3]) - float(sys.argv[2])) / float(sys.argv[4]) * 1e6 / n
print("%.0f %.2f %.2f %.2f %.1f" % (rps, ms("50%"), ms("99%"), ms("99.900%"), cpu))
PY
}
for i in $(seq 1 "$pairs"); do
  for side in A B; do
    bin=$a; [ $side = B ] && bin=$b
    r=$(one "$bin")
    echo "$side $r" | tee -a "$out/all.txt"
  done
done
/usr/bin/python3 - "$out/all.txt" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
for side in "AB":
    v = [list(map(float, r[1:])) for r in rows if r[0] == side]
    med = [st.median(c) for c in zip(*v)]
    print("median %s: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, server CPU %.1f us a request" % (side, *med))
PY
