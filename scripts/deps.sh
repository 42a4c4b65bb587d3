#!/usr/bin/env bash
# Installs the Debian packages trustbox needs to build (and, with --test, to
# run its whole test suite), skipping what is already installed.
# Sourced or run; uses sudo when not root.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config libuv1-dev libsqlite3-dev libmbedtls-dev
  libcjson-dev liblua5.4-dev libhttp-parser-dev libnghttp2-dev libsodium-dev libssl-dev zlib1g-dev)
# Real clients and peers the tests drive, and the tools that build the fuzzers. Every client
# an integration script needs is here: a script that cannot find its tool exits 77 and
# scripts/test counts that as a failure (see docs/testing.md).
TEST_PKGS=(curl ca-certificates clang libclang-rt-14-dev nodejs npm openssl sqlite3 iproute2 wget jq
  python3 python3-cryptography nghttp2-client chromium
  bind9-dnsutils bind9-utils knot-dnsutils unbound nsd
  certbot python3-certbot-dns-rfc2136 lego dehydrated uacme acme-tiny
  golang-go golang-golang-x-mod-dev certspotter python3-prometheus-client)

want=("${BUILD_PKGS[@]}")
if [ "${1:-}" = "--test" ]; then
  want+=("${TEST_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node may come from elsewhere than Debian's nodejs package; npm alone then is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) tmp+=("$p");; esac
  done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The browser test's npm packages (playwright-core drives Debian's chromium, axe-core checks
# accessibility), pinned in tests/integration/browser/package.json and installed next to it;
# test_webui_browser.sh installs them under the build directory itself when they are not here.
if [ "${1:-}" = "--test" ]; then
  browser_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/integration/browser"
  if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] ||
     [ ! -f "$browser_dir/node_modules/axe-core/package.json" ]; then
    echo "installing the browser test's npm packages into $browser_dir/node_modules"
    npm install --prefix "$browser_dir" --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
  fi
fi
