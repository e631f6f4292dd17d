#!/usr/bin/env bash
# Stream workers end to end (issue 7): handbook transactions through Redis Streams into the store.
#   scripts/bench/stream.sh [ROWS] [DB]     (default 400000 rows; DB: sqlite (default) or postgres)
# Trains an Isolation Forest with customer-keyed features (scripts/bench/customer_features.json)
# on the first ROWS handbook transactions, starts a private redis-server (no persistence), and for
# 1 and then 2 workers (fresh stream and store each time, 6 partitions):
#   drain:      the stream is filled first (`txguard replay`), then the workers start; rate =
#               ROWS / (last stored transaction's received time - workers' start)
#   end-to-end: replay and workers run together; rate = ROWS / (last stored - replay start)
# Every run checks that the store holds ROWS transactions afterwards.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
cd "$(dirname "$0")/../.."
rows=${1:-400000}
dbkind=${2:-sqlite}
data=../shared/data/handbook/transactions.csv.gz
[ -f "$data" ] || { echo "needs $data" >&2; exit 1; }
txg=${TXGUARD_BIN:-build/release/txguard}
[ -x "$txg" ] || { cmake --preset release >/dev/null && cmake --build --preset release --target txguard; }
out=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pg_stop
  rm -rf "$out"
}
trap cleanup EXIT
chmod 755 "$out"
# shellcheck source=scripts/bench/pg_common.sh
. scripts/bench/pg_common.sh

zcat "$data" 2>/dev/null | head -n $((rows + 1)) > "$out/tx.csv" || true  # zcat stops on SIGPIPE
$txg --quiet train --data "$out/tx.csv" --schema handbook --detector iforest \
  --features scripts/bench/customer_features.json -o "$out/m.txg" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" \
  --logfile "$out/redis.log" --daemonize no &
pids+=($!)
redis="redis://127.0.0.1:$port"
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

[ "$dbkind" = postgres ] && pg_start "$out/pg"

now_ms() { date +%s%3N; }
new_db() {  # RUN -> store URL
  if [ "$dbkind" = postgres ]; then
    pg_new_db "r$1"
  else
    echo "sqlite://$out/r$1.db?busy_timeout_ms=30000"
  fi
}
count() {  # URL -> stored transactions
  if [ "$dbkind" = postgres ]; then
    pg_query "r$2" "select count(*) from transactions" 2>/dev/null || echo 0
  else
    sqlite3 "$out/r$2.db" "select count(*) from transactions" 2>/dev/null || echo 0
  fi
}
last_ms() {
  if [ "$dbkind" = postgres ]; then
    pg_query "r$1" "select max(received_ms) from transactions"
  else
    sqlite3 "$out/r$1.db" "select max(received_ms) from transactions"
  fi
}

run=0
echo "| workers | mode | rows | seconds | transactions/s |"
echo "|---|---|---|---|---|"
for mode in drain end-to-end; do
  for workers in 1 2; do
    run=$((run + 1)); stream="s$run"; db=$(new_db $run)
    t0=$(now_ms)
    if [ "$mode" = drain ]; then
      $txg --quiet replay --data "$out/tx.csv" --redis "$redis" --stream "$stream" --partitions 6 \
        --model "$out/m.txg" >/dev/null 2>>"$out/replay.log"
      t0=$(now_ms)
    else
      $txg --quiet replay --data "$out/tx.csv" --redis "$redis" --stream "$stream" --partitions 6 \
        --model "$out/m.txg" >/dev/null 2>>"$out/replay.log" &
      pids+=($!)
    fi
    wp=()
    for w in $(seq "$workers"); do
      $txg --quiet stream --model "$out/m.txg" --redis "$redis" --in "$stream" --group g \
        --consumer "w$w" --out "$stream:alerts" --db "$db" --partitions 6 &
      wp+=($!); pids+=($!)
    done
    while [ "$(count "$db" $run)" -lt "$rows" ]; do sleep 0.2; done
    t1=$(last_ms $run)
    for p in "${wp[@]}"; do kill -TERM "$p"; wait "$p" || true; done
    secs=$(echo "($t1 - $t0) / 1000" | bc -l)
    printf '| %d | %s | %d | %.2f | %.0f |\n' "$workers" "$mode" "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)"
  done
done
