#!/usr/bin/env bash
# Installs what building and testing need on Debian 12: compilers and libraries from apt, the test
# oracles (official AWS clients, dynalite, s3rver) and the chat page's build and browser test tools
# (esbuild, markdown-it, DOMPurify, playwright-core) from npm with the committed lockfile, and Debian's
# Chromium for that browser test (nothing downloads a browser).
# Uses sudo when not root. Skips what is already there, so it is cheap to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# --no-npm: apt only. --with-browser: also Debian's Chromium for the chat page's browser test (make test;
# `make run` does not need a browser). --with-fuzz: also clang 16, libFuzzer and the sanitizer runtimes,
# and llvm-symbolizer for readable crash reports (make fuzz; docs/testing.md, "Fuzzing").
NO_NPM=0
WITH_BROWSER=0
WITH_FUZZ=0
for arg in "$@"; do
  case "$arg" in
    --no-npm) NO_NPM=1 ;;
    --with-browser) WITH_BROWSER=1 ;;
    --with-fuzz) WITH_FUZZ=1 ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  wrk zip unzip ca-certificates openssl)
if [ "$WITH_BROWSER" = 1 ]; then APT_PACKAGES+=(chromium fonts-dejavu-core); fi
# Debian 12's clang 14 cannot compile std::expected from libstdc++ 12; clang 16 can (CMakeLists.txt, BA_FUZZ).
if [ "$WITH_FUZZ" = 1 ]; then APT_PACKAGES+=(clang-16 libclang-rt-16-dev llvm-16); fi
# Node.js and npm run the test oracles; Debian's packages unless a Node.js is already installed
# (e.g. a NodeSource build, which bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1; then APT_PACKAGES+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then APT_PACKAGES+=(npm); fi

# One dpkg-query for all the packages: apt runs only when one is missing (unknown packages print
# nothing on stdout, so they count as missing too).
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  grep -qx "$p installed" <<<"$installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when node_modules does not hold what package-lock.json names: npm's record of the
# installed tree (node_modules/.package-lock.json) is compared with the lockfile, package by package and
# version by version. (Modification times are not enough: a fresh checkout or git worktree has a
# lockfile newer than any node_modules.)
npm_up_to_date() {
  [ -f node_modules/.package-lock.json ] && node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json")).packages;
    const stale = Object.keys(want).filter((k) => k !== "" && !want[k].optional &&
      (!have[k] || have[k].version !== want[k].version));
    process.exit(stale.length ? 1 : 0);' 2>/dev/null
}
if [ "$NO_NPM" = 0 ] && ! npm_up_to_date; then
  if [ -L node_modules ]; then
    # npm ci would replace the link with a folder and empty the one it points to: leave a shared
    # install (e.g. a git worktree's link to the main checkout's) alone.
    echo "install-deps: node_modules links to $(readlink node_modules), which does not match package-lock.json; run npm ci there" >&2
  else
    echo "install-deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
