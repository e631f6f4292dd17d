#!/usr/bin/env bash
# What bounds the batch endpoint's transactions/s: txguard serve four ways, interleaved round by
# round under the batch load (scripts/bench/serve_batch.lua, 1000 transactions a request,
# wrk -t2 -c4), each run on a fresh SQLite store:
#   full            BIN as given
#   no-reasons      BIN --reasons 0 (no contributions, no reasons JSON)
#   no-store or     a scratch build of HEAD with scripts/bench/patches/store_VARIANT.diff applied:
#   packed            none    the store writer skips the database write (commit order, answers
#                             and everything else unchanged)
#                     packed  each commit's transactions go into one blob row (no id index, no
#                             per-row indexes): a lower bound for a store of packed batches
#   ...-bare        the scratch build with --reasons 0 (no-store-bare, packed-bare)
# Prints one line a run and the medians: transactions/s, p50/p99 of a batch, and the server's CPU
# time a transaction (user + system from /proc). Both patches are diagnoses, not products: their
# stores cannot be read back.
#   scripts/bench/batch_bounds.sh BIN MODEL [ROUNDS=3] [SECONDS=8]
# VARIANT=none (default) or packed. SCRATCH_BIN=path reuses a scratch build; otherwise one is built
# from HEAD in a temporary git worktree (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n 2,20p "$0" >&2; exit 2; }
bin=$1; model=$2; rounds=${3:-3}; secs=${4:-8}
command -v wrk >/dev/null || { echo "needs wrk (scripts/setup.sh installs it)" >&2; exit 1; }
out=$(mktemp -d)
tree=
cleanup() {
  [ -n "$tree" ] && git worktree remove --force "$tree" >/dev/null 2>&1
  rm -rf "$out"
}
trap cleanup EXIT
variant=${VARIANT:-none}
patch="scripts/bench/patches/store_$variant.diff"
[ -f "$patch" ] || { echo "no $patch (VARIANT is none or packed)" >&2; exit 2; }
label=$variant
[ "$variant" = none ] && label=no-store
scratch=${SCRATCH_BIN:-}
if [ -z "$scratch" ]; then
  tree="$out/tree"
  git worktree add --detach "$tree" HEAD >/dev/null 2>&1
  git -C "$tree" apply "$PWD/$patch" || {
    echo "$patch no longer applies to HEAD: update it" >&2; exit 1; }
  echo "building the scratch build ($patch) in $tree ..." >&2
  (cd "$tree" && cmake --preset release >/dev/null 2>&1 &&
    cmake --build --preset release --target txguard >"$out/build.log" 2>&1) || {
    tail -20 "$out/build.log" >&2; exit 1; }
  scratch="$tree/build/release/txguard"
fi
# shellcheck source=scripts/bench/wrk_common.sh
. scripts/bench/wrk_common.sh
LOAD="batch"
select_load "$out"
one() {  # LABEL BIN [serve options...] -> "LABEL tx/s p50 p99 cpu_us_a_tx"
  local label=$1 b=$2 db r
  shift 2
  db=$(mktemp -d -p "$out")
  r=$(serve_run "$b" "$model" "sqlite://$db/s.db" $((18100 + RANDOM % 400)) "$secs" \
    "$db/wrk.txt" "$@")
  rm -rf "$db"
  # run_wrk: batches/s p50 p99 p99.9 non2xx cpu_us_a_batch
  read -r rps p50 p99 _ bad cpu <<<"$r"
  [ "$bad" = 0 ] || echo "warning: $label had $bad non-2xx answers" >&2
  echo "$label $((rps * BATCH)) $p50 $p99 $(echo "scale=2; $cpu / $BATCH" | bc)"
}
for _ in $(seq 1 "$rounds"); do
  one full "$bin" | tee -a "$out/all.txt"
  one no-reasons "$bin" --reasons 0 | tee -a "$out/all.txt"
  one "$label" "$scratch" | tee -a "$out/all.txt"
  one "$label-bare" "$scratch" --reasons 0 | tee -a "$out/all.txt"
done
/usr/bin/python3 - "$out/all.txt" "$label" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
for label in ("full", "no-reasons", sys.argv[2], sys.argv[2] + "-bare"):
    v = [list(map(float, r[1:])) for r in rows if r[0] == label]
    med = [st.median(c) for c in zip(*v)]
    print("median %-12s %7.0f transactions/s, batch p50 %6.2f ms, p99 %6.2f ms, "
          "server CPU %5.2f us a transaction" % (label, *med))
PY
