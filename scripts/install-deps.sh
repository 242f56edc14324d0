#!/usr/bin/env bash
# Installs what building and testing need on Debian 12: compilers and libraries from apt, the test
# oracles (official AWS clients, dynalite, s3rver) from npm with the committed lockfile.
# Uses sudo when not root. Skips what is already there, so it is cheap to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  wrk zip unzip ca-certificates openssl)
# Node.js and npm run the test oracles; Debian's packages unless a Node.js is already installed
# (e.g. a NodeSource build, which bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1; then APT_PACKAGES+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then APT_PACKAGES+=(npm); fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" != "--no-npm" ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
