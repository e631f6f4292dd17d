#!/usr/bin/env bash
# Two builds' long runs, interleaved: ROUNDS times scripts/bench/serve_long.sh A, then B (6 slices
# of 20 s each, a fresh server and store every time), so that both meet the same host. Prints each
# run's slice lines under "== A round N" / "== B round N".
#   scripts/bench/serve_long_ab.sh BIN_A BIN_B MODEL [ROUNDS=2] [extra serve options...]
# LOAD=batch (passed on to serve_long.sh): the batch endpoint.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { sed -n 2,6p "$0" >&2; exit 2; }
a=$1; b=$2; model=$3; rounds=${4:-2}; shift $(($# < 4 ? $# : 4))
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$a; [ "$side" = B ] && bin=$b
    echo "== $side round $round"
    scripts/bench/serve_long.sh "$bin" "$model" 6 20 "$@" | tail -n 6
  done
done
