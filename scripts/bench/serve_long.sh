#!/usr/bin/env bash
# A long single-request run against one server whose store keeps growing: SLICES wrk runs of
# SECONDS each, back to back, on the same server and store, with the shared load
# (../shared/peers/wrk/score.lua, wrk -t2 -c32). Past one million events the server snapshots its
# feature state (serve --snapshot-every); a short run never gets there. One line a slice:
# requests/s, p50/p99/p99.9 (ms), non-2xx, the server's CPU a request (µs), the store's size,
# and the latest snapshot's gauges from /metrics (how long it held the scoring lock, its whole
# duration with the store write, its size).
# The store's log (s.db-wal) size is printed beside the database's. DBOPTS: SQLite URL options,
# e.g. DBOPTS='?wal_limit_mb=0'. LOAD=batch: the batch endpoint instead
# (scripts/bench/serve_batch.lua, BATCH=1000 transactions a request, wrk -c4): requests/s are
# then batches/s and the CPU time is per batch.
#   scripts/bench/serve_long.sh BIN MODEL [SLICES=7] [SECONDS=10] [extra serve options...]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n 2,12p "$0" >&2; exit 2; }
bin=$1; model=$2; slices=${3:-7}; secs=${4:-10}; shift $(($# < 4 ? $# : 4))
command -v wrk >/dev/null || { echo "needs wrk (scripts/setup.sh installs it)" >&2; exit 1; }
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
# shellcheck source=scripts/bench/wrk_common.sh
. scripts/bench/wrk_common.sh
select_load "$out"
port=$((18500 + RANDOM % 400))
"$bin" serve --model "$model" --db "sqlite://$out/s.db${DBOPTS:-}" --port "$port" "$@" 2>"$out/log" &
pid=$!
for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
echo "slice: req/s p50 p99 p99.9 non2xx cpu_us_per_request | store MB, log MB | latest snapshot"
for i in $(seq 1 "$slices"); do
  r=$(run_wrk "$port" "$lua" "$conns" "$secs" "$out/wrk$i.txt" "$pid")
  snap=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^txguard_snapshot_/ {
    sub("txguard_snapshot_", ""); printf "%s %.3g  ", $1, $2 }')
  echo "$i: $r | $(du -m "$out/s.db" | cut -f1), $(du -m "$out/s.db-wal" 2>/dev/null | cut -f1) | $snap"
done
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
