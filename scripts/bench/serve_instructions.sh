#!/usr/bin/env bash
# User-space instructions a transaction of `txguard serve` under load, counted by callgrind: the
# measure to compare builds by when a change is a few percent of CPU, which this shared VM's
# requests/s and CPU time (±10-20% from minute to minute) cannot resolve. Kernel work (TCP,
# pwrite, fsync) is not counted; callgrind runs the server's threads one at a time, so group
# commits are smaller than in a real run and per-commit costs weigh more.
#   scripts/bench/serve_instructions.sh BIN MODEL [single|batch] [SECONDS=20] [serve options...]
# Starts BIN serve on a fresh SQLite store under valgrind, warms it for 15 s with the load
# (single: ../shared/peers/wrk/score.lua, wrk -t1 -c16; batch: scripts/bench/serve_batch.lua,
# 1000 transactions a request, wrk -t1 -c2), zeroes the counters, runs the load SECONDS more,
# dumps, and prints the transactions stored in that window and instructions (Ir) a transaction.
# Repeated runs of one build differ by about 2%.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n 2,12p "$0" >&2; exit 2; }
bin=$1; model=$2; load=${3:-single}; secs=${4:-20}; shift $(($# < 4 ? $# : 4))
for tool in valgrind callgrind_control wrk sqlite3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (scripts/setup.sh installs it)" >&2; exit 1; }
done
out=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT
# shellcheck source=scripts/bench/wrk_common.sh
. scripts/bench/wrk_common.sh
if [ "$load" = batch ]; then
  with_p999 scripts/bench/serve_batch.lua "$out/load.lua"; conns=2; export BATCH=1000
else
  with_p999 ../shared/peers/wrk/score.lua "$out/load.lua"; conns=16
fi
port=$((18700 + RANDOM % 200))
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
  "$bin" serve --model "$model" --db "sqlite://$out/s.db" --port "$port" "$@" 2>"$out/log" &
pid=$!
for _ in $(seq 1 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
stored() { sqlite3 "$out/s.db" "SELECT count(*) FROM transactions"; }
wrk -t1 -c"$conns" -d15s -s "$out/load.lua" "http://127.0.0.1:$port" >"$out/warm.txt" 2>&1
n0=$(stored)
callgrind_control -z "$pid" >/dev/null 2>&1
wrk -t1 -c"$conns" -d"${secs}s" -s "$out/load.lua" "http://127.0.0.1:$port" >"$out/wrk.txt" 2>&1
callgrind_control -d "$pid" >/dev/null 2>&1
n1=$(stored)
ir=$(awk '/^summary:/ {print $2}' "$out/cg.out.1")
echo "$load: $((n1 - n0)) transactions, $((ir / (n1 - n0))) instructions a transaction"
