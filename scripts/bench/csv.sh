#!/usr/bin/env bash
# Side-by-side benchmark: txguard's CSV reader against pandas.read_csv, same file, same run.
#
#   scripts/bench/csv.sh [BUILD_DIR] [N]
#
# Decompresses ../shared/data/handbook/transactions.csv.gz (103 MB, 1,754,155 rows) to a temporary
# file, warms the page cache, then runs, alternately, N times each (default 5):
#   (a) BUILD_DIR/bench/bench_csv --time-file FILE --threads T   (ReadTransactionsCsv, handbook
#       schema; read time and the process's peak RSS)
#   (b) /usr/bin/python3: pandas.read_csv(FILE), timed inside Python, and its peak RSS
# and prints the medians and the ratios. Environment: THREADS (default 2), CSV_BENCH_SRC (another
# .csv or .csv.gz with the handbook's columns).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
N=${2:-5}
THREADS=${THREADS:-2}
SRC=${CSV_BENCH_SRC:-../shared/data/handbook/transactions.csv.gz}
BIN="$BUILD/bench/bench_csv"
PY=/usr/bin/python3

[ -x "$BIN" ] || { echo "csv.sh: $BIN not found; build it: cmake --build $BUILD --target bench_csv" >&2; exit 1; }
[ -f "$SRC" ] || { echo "csv.sh: $SRC not found (../shared/data is needed for this benchmark)" >&2; exit 1; }
"$PY" -c 'import pandas' 2>/dev/null || { echo "csv.sh: $PY has no pandas (apt-get install python3-pandas)" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FILE="$TMP/transactions.csv"
case "$SRC" in
  *.gz) gzip -dc "$SRC" > "$FILE" ;;
  *) cp "$SRC" "$FILE" ;;
esac
cat "$FILE" > /dev/null  # page cache

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "file:    $SRC -> $(du -m "$FILE" | cut -f1) MB, threads=$THREADS, N=$N"
echo "pandas:  $("$PY" -c 'import pandas; print(pandas.__version__)')"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min averages; other work on the machine slows both)"

PANDAS_CODE='
import resource, sys, time
import pandas
t0 = time.perf_counter()
df = pandas.read_csv(sys.argv[1])
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print("read_s=%.4f peak_rss_mb=%.1f rows=%d" % (dt, rss, len(df)))
'
: > "$TMP/txguard.txt"
: > "$TMP/pandas.txt"
for i in $(seq "$N"); do
  a=$("$BIN" --time-file "$FILE" --threads "$THREADS")
  b=$("$PY" -c "$PANDAS_CODE" "$FILE")
  echo "run $i: txguard $a | pandas $b"
  echo "$a" >> "$TMP/txguard.txt"
  echo "$b" >> "$TMP/pandas.txt"
done

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at the end"
"$PY" - "$TMP/txguard.txt" "$TMP/pandas.txt" <<'PYEOF'
import statistics, sys
def load(path):
    rows = [dict(kv.split("=") for kv in line.split()) for line in open(path) if line.strip()]
    return ([float(r["read_s"]) for r in rows], [float(r["peak_rss_mb"]) for r in rows],
            {r["rows"] for r in rows})
tx_t, tx_m, tx_rows = load(sys.argv[1])
pd_t, pd_m, pd_rows = load(sys.argv[2])
if tx_rows != pd_rows:
    print("row counts differ: txguard %s, pandas %s" % (tx_rows, pd_rows))
    sys.exit(1)
mt, mp = statistics.median(tx_t), statistics.median(pd_t)
rt, rp = statistics.median(tx_m), statistics.median(pd_m)
print("| reader | read time (median) | peak RSS (median) |")
print("|---|---|---|")
print("| txguard ReadTransactionsCsv | %.3f s | %.0f MB |" % (mt, rt))
print("| pandas.read_csv | %.3f s | %.0f MB |" % (mp, rp))
print("speed: txguard is %.1fx faster than pandas (target >= 10x: %s)" % (mp / mt, "met" if mp / mt >= 10 else "NOT met"))
print("memory: txguard peak RSS is %.2fx pandas' (target <= 1x: %s)" % (rt / rp, "met" if rt <= rp else "NOT met"))
PYEOF
