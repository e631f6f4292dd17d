#!/usr/bin/env bash
# Installs everything txguard needs to build, run, test and benchmark on Debian 12.
# Idempotent: safe to run again. Must run as root (or with sudo available).
#   scripts/setup.sh            build + run + test dependencies
#   TXGUARD_SETUP_SKIP=1        skip entirely (for machines you manage yourself)
set -euo pipefail
if [ "${TXGUARD_SETUP_SKIP:-0}" = "1" ]; then
  echo "setup: TXGUARD_SETUP_SKIP=1, not installing anything" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: must run as root (or have sudo) to install Debian packages" >&2; exit 1
  fi
fi
PKGS=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev
  # libraries
  libcli11-dev nlohmann-json3-dev libfast-float-dev zlib1g-dev libyaml-cpp-dev libsqlite3-dev
  libxgboost-dev libboost-dev libjemalloc-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # peers (side-by-side comparisons and the metric cross-check tests)
  python3 python3-numpy python3-sklearn python3-pandas python3-xgboost
  # the scoring service: load generator and the FastAPI reference (scripts/bench/serve.sh), sqlite3 CLI
  wrk python3-fastapi python3-uvicorn sqlite3
  # instruction counts of the scoring service (scripts/bench/serve_instructions.sh)
  valgrind
  # stream workers and the production store (issue 7): Redis Streams, PostgreSQL (libpqxx)
  redis-server libhiredis-dev postgresql libpqxx-dev
  # reports: headless Chromium renders charts to PNG (--png) and runs the browser test
  chromium
)
# Node.js and npm fetch the chart libraries pinned by web/package-lock.json (npm ci below): Debian's
# packages when the machine has neither (a NodeSource nodejs already ships npm and conflicts with
# Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi
# Optional: the libFuzzer preset needs clang 16 (clang 14 cannot compile libstdc++ 12's
# std::expected). TXGUARD_SETUP_FUZZ=1 scripts/setup.sh
if [ "${TXGUARD_SETUP_FUZZ:-0}" = "1" ]; then
  PKGS+=(clang-16 libclang-rt-16-dev)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} Debian packages already installed" >&2
else
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Chart libraries (Vega, Vega-Lite, vega-embed; embedded into the reports at build time) and
# playwright-core (the browser test), exactly as web/package-lock.json pins them. Skipped when
# web/node_modules was installed from this very lock file.
web="$(cd "$(dirname "$0")/.." && pwd)/web"
stamp="$web/node_modules/.txguard-lock.sha256"
want=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: web/node_modules matches web/package-lock.json" >&2
else
  echo "setup: npm ci in web/" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
