#!/usr/bin/env bash
# Installs what QuantCrunch needs to build, test and run on Debian 12:
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
  libmongoc-dev libbson-dev libhiredis-dev
  # tests and benchmarks
  libgtest-dev libbenchmark-dev python3 wrk curl
  # real Redis for the cache tests; MongoDB wire-protocol stand-in deps
  redis-server python3-pymongo python3-mongomock
  # front-end assets (Swagger UI) come from npm
  nodejs npm
)

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

# Swagger UI assets for /docs, pinned by package-lock.json.
if [[ ! -f node_modules/swagger-ui-dist/swagger-ui-bundle.js ||
      package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing Swagger UI assets (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  echo "setup: Swagger UI assets present"
fi
