#!/usr/bin/env bash
# Builds the two reports and checks them in headless Chromium (check_reports.cjs).
#   run_browser_test.sh TXGUARD EVAL_REPORT_PROGRAM OUT_DIR WEB_DIR [NODE]
set -euo pipefail
txguard=$1 eval_report=$2 out=$3 web=$4 node=${5:-node}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"
mkdir -p "$out"
"$txguard" --quiet simulate --customers 200 --terminals 400 --days 20 --seed 7 -o "$out/sim.csv" >/dev/null
"$txguard" --quiet eda --data "$out/sim.csv" --schema handbook -o "$out/eda.html"
"$eval_report" "$out/evaluation.html"
if [ ! -d "$web/node_modules/playwright-core" ]; then
  echo "browser test: $web/node_modules/playwright-core is missing: run scripts/setup.sh (npm ci in web/)" >&2
  exit 1
fi
"$node" "$here/check_reports.cjs" "$web" "$out" "$out/eda.html" "$out/evaluation.html"
