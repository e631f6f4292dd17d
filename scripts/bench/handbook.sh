#!/usr/bin/env bash
# The fraud handbook's protocol (../shared/data/handbook/PROTOCOL.md) with txguard alone, beside
# the published results, and the peer (the handbook's pandas feature code + XGBoost in Python)
# on the chapter-3 split in the same run.
#   scripts/bench/handbook.sh [--no-peer] [--validation]
# Prints a markdown table: chapter-3 test week and the mean of the four chapter-5 test weeks.
# --validation: model selection instead: the same 7/7/7 layout on the eight weeks whose training
# starts 2018-05-30 .. 07-18 (every validation test week ends before 2018-08-08, the first test
# week); prints their mean (no peer).
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # see scripts/test.sh
cd "$(dirname "$0")/../.."
data=../shared/data/handbook/transactions.csv.gz
[ -f "$data" ] || { echo "needs $data" >&2; exit 1; }
txg=${TXGUARD_BIN:-build/release/txguard}
[ -x "$txg" ] || { cmake --preset release >/dev/null && cmake --build --preset release --target txguard; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Models: name | train options.
models=(
  "xgboost, handbook's 15 features (defaults)|--detector xgboost --features handbook"
  "xgboost, txguard default features, depth 3|--detector xgboost --param depth=3"
  "xgboost, default features before the fraud streak, depth 3|--detector xgboost --param depth=3 --features scripts/bench/handbook_features_nostreak.json"
  "iforest (unsupervised), txguard default features|--detector iforest"
)
weeks=(2018-07-25 2018-08-01 2018-08-08 2018-08-15)
validation=0
for a in "$@"; do [ "$a" = --validation ] && validation=1; done
if [ $validation = 1 ]; then
  weeks=(2018-05-30 2018-06-06 2018-06-13 2018-06-20 2018-06-27 2018-07-04 2018-07-11 2018-07-18)
  models=("${models[@]:0:3}")
fi
day() { date -u -d "$1 + $2 days" +%F; }
metrics() { /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["roc_auc"], j["average_precision"], j["card_precision_at_100"])'; }
if [ $validation = 1 ]; then
  echo "| model | val mean ROC-AUC | val mean AP | val mean CP@100 | train s (first) |"
  echo "|---|---|---|---|---|"
else
  echo "| model | ch.3 ROC-AUC | ch.3 AP | ch.3 CP@100 | ch.5 mean ROC-AUC | ch.5 mean AP | ch.5 mean CP@100 | train s (ch.3) |"
  echo "|---|---|---|---|---|---|---|---|"
fi
for m in "${models[@]}"; do
  name=${m%%|*}; opts=${m#*|}
  sums="0 0 0"; first=""; secs=""
  for w in "${weeks[@]}"; do
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    $txg --quiet train --data "$data" $opts --train-from "$w" --train-to "$(day "$w" 6)" \
      -o "$out/m.txg" >/dev/null
    t1=$(date +%s.%N)
    r=$($txg --quiet evaluate --model "$out/m.txg" --data "$data" --from "$(day "$w" 14)" \
      --to "$(day "$w" 20)" --delay-days 7 --json | metrics)
    if [ -z "$first" ]; then first=$r; secs=$(echo "$t1 - $t0" | bc); fi
    sums=$(echo "$sums $r" | awk '{print $1+$4, $2+$5, $3+$6}')
  done
  read -r a p c <<<"$first"; read -r sa sp sc <<<"$sums"
  nw=${#weeks[@]}
  if [ $validation = 1 ]; then
    printf '| %s | %.4f | %.4f | %.4f | %.1f |\n' "$name" "$(echo "$sa/$nw" | bc -l)" \
      "$(echo "$sp/$nw" | bc -l)" "$(echo "$sc/$nw" | bc -l)" "$secs"
    continue
  fi
  printf '| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f |\n' "$name" "$a" "$p" "$c" \
    "$(echo "$sa/$nw" | bc -l)" "$(echo "$sp/$nw" | bc -l)" "$(echo "$sc/$nw" | bc -l)" "$secs"
done
peer=1
for a in "$@"; do [ "$a" = --no-peer ] && peer=0; done
if [ $peer = 1 ] && [ $validation = 0 ]; then
  echo
  echo "Peer, chapter-3 split (pandas features as the handbook computes them + XGBoost 1.7 in Python, 300 trees):"
  /usr/bin/python3 scripts/bench/handbook_peer.py "$data"
  t0=$(date +%s.%N)
  $txg --quiet train --data "$data" --detector xgboost --features handbook \
    --train-from 2018-07-25 --train-to 2018-07-31 -o "$out/m.txg" >/dev/null
  echo "txguard read + 15 handbook features + xgboost (300 trees): $(echo "$(date +%s.%N) - $t0" | bc) s"
fi
