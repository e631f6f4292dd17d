#!/usr/bin/env bash
# txguard's main job end to end on embedded defaults, from a fresh Debian 12 machine: installs
# what is needed, builds, simulates a labelled transaction history, trains an Isolation Forest on
# the first three months, evaluates it on a later test period (the delay week between them is
# left out, as labels arrive late), and writes the model, metrics and scores to a folder.
#   scripts/quickstart.sh [OUT_DIR]     (default: out/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out}
scripts/setup.sh
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # see scripts/test.sh
cmake --preset release >/dev/null
cmake --build --preset release --target txguard -j "$(nproc 2>/dev/null || echo 2)"
txg=build/release/txguard
mkdir -p "$out"

echo "== 1. simulate 4 months of card transactions (5,000 customers, 10,000 terminals)"
$txg simulate --customers 5000 --terminals 10000 --days 122 --start 2018-04-01 --seed 7 \
  -o "$out/transactions.csv"
echo "== 2. train an Isolation Forest on April-June"
$txg train --data "$out/transactions.csv" --schema handbook --detector iforest --seed 7 \
  --train-from 2018-04-01 --train-to 2018-06-30 -o "$out/model.txg"
echo "== 3. evaluate on 8-31 July (1-7 July is the label delay)"
$txg evaluate --model "$out/model.txg" --data "$out/transactions.csv" \
  --from 2018-07-08 --to 2018-07-31
$txg evaluate --model "$out/model.txg" --data "$out/transactions.csv" \
  --from 2018-07-08 --to 2018-07-31 --json > "$out/metrics.json"
echo "== 4. score the test period"
$txg score --model "$out/model.txg" --data "$out/transactions.csv" \
  --from 2018-07-08 --to 2018-07-31 -o "$out/scores.csv"

cat <<TXT

Done. In $out/: transactions.csv (the simulated history), model.txg (the model bundle),
metrics.json (the evaluation) and scores.csv (transaction_id,score for the test period).
Next:
  $txg detectors                                   # detectors and their parameters
  $txg train --help                                # every training option
  $txg train --data $out/transactions.csv --param trees=300 --param sample=512 -o $out/big.txg
  $txg train --data $out/transactions.csv --detector xgboost --param depth=3 \
      --train-from 2018-06-01 --train-to 2018-06-30 -o $out/xgb.txg     # supervised
  $txg evaluate --model $out/xgb.txg --model $out/model.txg --data $out/transactions.csv \
      --from 2018-07-08 --to 2018-07-31 --delay-days 7 --report $out/report.html
  $txg eda --data $out/transactions.csv -o $out/eda.html              # explore the data
  $txg evaluate --model $out/model.txg --data YOUR.csv --schema schema.json   # your own data
  scripts/test.sh                                  # the whole test suite
TXT
