#!/usr/bin/env bash
# The store's append cost on SQLite and on PostgreSQL, side by side: bench/store_bench.cpp's four
# cases (batch 1000 or 64; ids like the benchmark loads' or random like UUIDs), each on a fresh
# database of a private PostgreSQL server and then on a fresh SQLite file. Prints
# bench_store's lines (CPU a record is the benchmark's process only: the PostgreSQL server's own
# CPU is reported beside it, from /proc, per record).
#   scripts/bench/store_postgres.sh [SECONDS=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
bench=build/release/bench/bench_store
[ -x "$bench" ] || { echo "needs $bench (cmake --build --preset release --target bench_store)" >&2; exit 1; }
out=$(mktemp -d)
chmod 755 "$out"
# shellcheck source=scripts/bench/pg_common.sh
. scripts/bench/pg_common.sh
trap 'pg_stop; rm -rf "$out"' EXIT
pg_start "$out/pg"
pg_cpu() {  # CPU ticks of the private server so far: the postmaster with its exited children
  # (backends are reaped by it), plus its live children
  local pm t
  pm=$(head -1 "$pgdir/postmaster.pid")
  t=$(awk '{print $14+$15+$16+$17}' "/proc/$pm/stat")
  for p in $(pgrep -P "$pm"); do
    t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
i=0
for args in 1000/0 1000/1 64/0 64/1; do
  filter="BM_SqliteAppend/batch:${args%/*}/random_ids:${args#*/}/"
  i=$((i + 1))
  url=$(pg_new_db "b$i")
  c0=$(pg_cpu)
  line=$(TXGUARD_BENCH_STORE_URL="$url" "$bench" --benchmark_filter="$filter" \
    --benchmark_min_time="$secs" 2>/dev/null | grep BM_)
  c1=$(pg_cpu)
  rows=$(pg_query "b$i" "select count(*) from transactions")
  echo "postgres $line  server_cpu_us_a_record=$(python3 -c "print(round(($c1-$c0)*1e4/$rows,2))")"
  echo "sqlite   $("$bench" --benchmark_filter="$filter" --benchmark_min_time="$secs" 2>/dev/null | grep BM_)"
done
