#!/usr/bin/env bash
# txguard's detectors (iforest, knn, lof, dbscan, ecod) against scikit-learn 1.2 on the 15 ADBench
# datasets in ../shared/data/adbench, in the same run: per dataset and method ROC-AUC, average
# precision, fit+score seconds, peak RSS and the speed-up. Protocol: fit on all rows, score all rows.
#   scripts/bench/adbench.sh [--only http,smtp] [--methods iforest,knn] [--seeds 0,1,2]
#                            [--repeats 3] [--exact] [--json-out FILE]
# Environment: TXGUARD_BUILD (default build/release) is the build directory holding
# bench/bench_detect; it is built first when ninja is available.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${TXGUARD_BUILD:-build/release}"
if [ ! -d ../shared/data/adbench ]; then
  echo "adbench: ../shared/data/adbench not found (shared data is needed for this benchmark)" >&2
  exit 1
fi
if [ -f "$BUILD/build.ninja" ]; then
  ninja -C "$BUILD" bench_detect >&2
fi
BIN="$BUILD/bench/bench_detect"
[ -x "$BIN" ] || { echo "adbench: $BIN not built (cmake --preset release)" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec /usr/bin/python3 scripts/bench/adbench.py --bench "$BIN" "$@"
