#!/usr/bin/env bash
# Interleaved A/B of two txguard binaries serving the same model under the shared wrk load
# (../shared/peers/wrk/score.lua, wrk -t2 -c32): A, B, A, B, ... each on a fresh SQLite store, so
# that both see the same machine conditions. Prints one line a run and the medians: requests/s,
# p50/p99/p99.9 latency, and the server's CPU time a request (user + system from /proc, the most
# stable of these on a shared machine).
#   scripts/bench/serve_ab.sh BIN_A BIN_B MODEL [PAIRS=4] [SECONDS=6] [extra serve options...]
# LOAD=batch: the batch endpoint instead (scripts/bench/serve_batch.lua, BATCH=1000 transactions
# a request, wrk -c4): requests/s are then batches/s and the CPU time is per batch.
# DBOPTS_A / DBOPTS_B: SQLite URL options for that side's store, e.g. DBOPTS_B='?wal_limit_mb=256'
# (A and B may then be the same binary).
# MODEL: a bundle both binaries read, e.g. from
#   txguard train --data ../shared/data/handbook/transactions.csv.gz --detector iforest \
#     --train-from 2018-07-25 --train-to 2018-07-31 -o if.txg
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { sed -n 2,11p "$0" >&2; exit 2; }
a=$1; b=$2; model=$3; pairs=${4:-4}; secs=${5:-6}; shift $(($# < 5 ? $# : 5))
extra=("$@")
command -v wrk >/dev/null || { echo "needs wrk (scripts/setup.sh installs it)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# shellcheck source=scripts/bench/wrk_common.sh
. scripts/bench/wrk_common.sh
select_load "$out"
one() {  # BIN DBOPTS -> "rps p50 p99 p999 non2xx cpu_us"
  local db
  db=$(mktemp -d -p "$out")
  serve_run "$1" "$model" "sqlite://$db/s.db$2" $((18500 + RANDOM % 400)) "$secs" "$db/wrk.txt" \
    "${extra[@]}"
}
for _ in $(seq 1 "$pairs"); do
  for side in A B; do
    bin=$a; opts=${DBOPTS_A:-}
    [ $side = B ] && { bin=$b; opts=${DBOPTS_B:-}; }
    r=$(one "$bin" "$opts")
    echo "$side $r" | tee -a "$out/all.txt"
  done
done
/usr/bin/python3 - "$out/all.txt" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
for side in "AB":
    v = [list(map(float, r[1:])) for r in rows if r[0] == side]
    med = [st.median(c) for c in zip(*v)]
    print("median %s: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, non-2xx %.0f, "
          "server CPU %.1f us a request" % (side, *med))
PY
