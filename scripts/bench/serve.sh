#!/usr/bin/env bash
# The scoring service side by side with the FastAPI + scikit-learn reference
# (../shared/peers/fastapi_ref), both driven by ../shared/peers/wrk/score.lua in the same run:
#   scripts/bench/serve.sh [SECONDS]        (default 15 s per load run)
# Trains an Isolation Forest on one week of the handbook data (txguard's default features), serves
# it with a fresh SQLite store (WAL, group commit: every answer waits for its commit), and prints
# requests/s and p50/p99/p99.9 latency for each server, their ratio, and the batch endpoint's
# transactions/s (scripts/bench/serve_batch.lua, 1000 transactions a request). Also runs an
# XGBoost model (SHAP reasons) under the same single-transaction load.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # see scripts/test.sh
cd "$(dirname "$0")/../.."
secs=${1:-15}
data=../shared/data/handbook/transactions.csv.gz
[ -f "$data" ] || { echo "needs $data" >&2; exit 1; }
txg=${TXGUARD_BIN:-build/release/txguard}
[ -x "$txg" ] || { cmake --preset release >/dev/null && cmake --build --preset release --target txguard; }
command -v wrk >/dev/null || { echo "needs wrk (scripts/setup.sh installs it)" >&2; exit 1; }
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT

wait_port() {  # PORT (the reference trains its model at start-up: minutes on a busy machine)
  for _ in $(seq 1 3000); do
    curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2; exit 1
}
# shellcheck source=scripts/bench/wrk_common.sh
. scripts/bench/wrk_common.sh
single="$out/score.lua"
with_p999 ../shared/peers/wrk/score.lua "$single"
batch="$out/batch.lua"
with_p999 scripts/bench/serve_batch.lua "$batch"

echo "training models on the handbook data (2018-07-25..31)..." >&2
$txg --quiet train --data "$data" --detector iforest --train-from 2018-07-25 --train-to 2018-07-31 -o "$out/if.txg" >&2
$txg --quiet train --data "$data" --detector xgboost --param depth=3 --train-from 2018-07-25 --train-to 2018-07-31 -o "$out/xgb.txg" >&2

echo "| server | requests/s | p50 ms | p99 ms | p99.9 ms | non-2xx | server CPU µs a request |"
echo "|---|---|---|---|---|---|---|"
serve() {  # MODEL PORT
  $txg serve --model "$1" --db "sqlite://$out/$2.db" --port "$2" 2>"$out/serve.$2.log" &
  pids+=($!)
  wait_port "$2"
}
stop_last() { kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

serve "$out/if.txg" 18301
read -r t_rps t50 t99 t999 tbad tcpu < <(run_wrk 18301 "$single" 32 "$secs" "$out/wrk.18301.txt" "${pids[-1]}")
echo "| txguard serve (iforest, SQLite) | $t_rps | $t50 | $t99 | $t999 | $tbad | $tcpu |"
stop_last

serve "$out/xgb.txg" 18302
read -r x_rps x50 x99 x999 xbad xcpu < <(run_wrk 18302 "$single" 32 "$secs" "$out/wrk.18302.txt" "${pids[-1]}")
echo "| txguard serve (xgboost + SHAP reasons, SQLite) | $x_rps | $x50 | $x99 | $x999 | $xbad | $xcpu |"
stop_last

serve "$out/if.txg" 18303
read -r b_rps b50 b99 b999 bbad bcpu < <(BATCH=1000 run_wrk 18303 "$batch" 4 "$secs" "$out/wrk.18303.txt" "${pids[-1]}")
stored=$(/usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from transactions').fetchone()[0])" "$out/18303.db")
echo "| txguard serve /v1/score/batch (1000 per request) | $b_rps req/s = $((b_rps * 1000)) tx/s | $b50 | $b99 | $b999 | $bbad | $bcpu (per 1000) |"
stop_last

(cd ../shared/peers/fastapi_ref && TXREF_TRAIN="$(cd - >/dev/null; realpath "$data")" \
  exec /usr/bin/python3 -m uvicorn app:app --host 127.0.0.1 --port 18304 --workers 2 --log-level warning \
  2>"$out/fastapi.log") &
pids+=($!)
wait_port 18304
read -r f_rps f50 f99 f999 fbad fcpu < <(run_wrk 18304 "$single" 32 "$secs" "$out/wrk.18304.txt")
echo "| FastAPI + scikit-learn reference (2 workers) | $f_rps | $f50 | $f99 | $f999 | $fbad | |"
stop_last
echo
echo "throughput ratio txguard/reference: $(echo "scale=1; $t_rps / $f_rps" | bc)x (iforest), $(echo "scale=1; $x_rps / $f_rps" | bc)x (xgboost); batch: $((b_rps * 1000)) transactions/s, $stored stored"
