#!/usr/bin/env bash
# Installs what QuantCrunch needs to build and run on Debian 12 (with --test:
# also what the tests need):
# Debian packages (apt-get, as root or through sudo) and the Swagger UI assets
# (npm ci, from package-lock.json). Idempotent: when everything is present it
# only checks and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config make
  # libraries
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libhowardhinnant-date-dev libsimdjson-dev tzdata
  libmongoc-dev libbson-dev libhiredis-dev libspdlog-dev libcli11-dev
  zlib1g-dev
  # the test suite is built by default (scripts/run.sh turns it off, but CMake
  # still looks for GoogleTest when configuring a tree that builds it)
  libgtest-dev libbenchmark-dev python3
  # front-end assets (Swagger UI, playwright-core) come from npm
  nodejs npm
)
# Only for `setup.sh --test` (scripts/test.sh): real servers and a browser.
TEST_PACKAGES=(
  wrk curl python3-jsonschema
  # the openssl command makes the throwaway certificates of the TLS tests
  openssl
  # real Redis for the cache tests; MongoDB wire-protocol stand-in deps
  redis-server python3-pymongo python3-mongomock
  # DNS stand-in serving mongodb+srv:// SRV/TXT records (the binary only: no
  # service is started or configured)
  dnsmasq-base
  # browser tests: Debian's Chromium, driven by npm playwright-core (which
  # never downloads a browser of its own)
  chromium
)
if [[ ${1:-} == --test ]]; then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

missing=()
for p in "${PACKAGES[@]}"; do
  case "$p" in
    nodejs|npm)  # a node/npm already on PATH (e.g. from NodeSource or nvm) is fine
      command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install packages" >&2; exit 1; }
    SUDO=(sudo)
  fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

# Swagger UI assets for /docs, lightweight-charts for the dashboard and the
# backtest report, and playwright-core for the browser tests, pinned by
# package-lock.json (npm ci installs all three).
if [[ ! -f node_modules/swagger-ui-dist/swagger-ui-bundle.js ||
      ! -f node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js ||
      package-lock.json -nt node_modules/.package-lock.json ||
      ( ${1:-} == --test && ! -f node_modules/playwright-core/package.json ) ]]; then
  echo "setup: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  echo "setup: npm packages present"
fi
