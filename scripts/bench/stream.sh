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
  [ -n "${pgdir:-}" ] && { runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$pgdir" -m immediate stop >/dev/null 2>&1 || true; }
  rm -rf "$out"
}
trap cleanup EXIT
chmod 755 "$out"

zcat "$data" 2>/dev/null | head -n $((rows + 1)) > "$out/tx.csv" || true  # zcat stops on SIGPIPE
$txg --quiet train --data "$out/tx.csv" --schema handbook --detector iforest \
  --features scripts/bench/customer_features.json -o "$out/m.txg" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" \
  --logfile "$out/redis.log" --daemonize no &
pids+=($!)
redis="redis://127.0.0.1:$port"
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

if [ "$dbkind" = postgres ]; then
  pgdir="$out/pg"; pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$pgdir"; chown postgres "$pgdir"
  runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$pgdir" -A trust >/dev/null
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$pgdir" -l "$pgdir/log" \
    -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1" -w start >/dev/null
fi

now_ms() { date +%s%3N; }
new_db() {  # RUN -> store URL
  if [ "$dbkind" = postgres ]; then
    runuser -u postgres -- psql -h 127.0.0.1 -p "$pgport" -qc "create database r$1" postgres
    echo "postgresql://postgres@127.0.0.1:$pgport/r$1"
  else
    echo "sqlite://$out/r$1.db?busy_timeout_ms=30000"
  fi
}
count() {  # URL -> stored transactions
  if [ "$dbkind" = postgres ]; then
    runuser -u postgres -- psql -h 127.0.0.1 -p "$pgport" -tAc "select count(*) from transactions" "r$2" 2>/dev/null || echo 0
  else
    sqlite3 "$out/r$2.db" "select count(*) from transactions" 2>/dev/null || echo 0
  fi
}
last_ms() {
  if [ "$dbkind" = postgres ]; then
    runuser -u postgres -- psql -h 127.0.0.1 -p "$pgport" -tAc "select max(received_ms) from transactions" "r$1"
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
