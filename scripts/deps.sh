#!/usr/bin/env bash
# Installs what smolbot's build and tests need, when it is missing:
# Debian -dev packages (apt, as root; otherwise prints the command).
# Usage: scripts/deps.sh [--check]   (--check only reports, exit 1 if missing)
set -euo pipefail

# pkg-config name -> Debian package
declare -A PKGS=(
  [libutf8proc]=libutf8proc-dev   # Unicode categories for the pre-tokenizer
  [cmocka]=libcmocka-dev          # C unit tests
  [libcjson]=libcjson-dev         # JSON: chat messages and tools, fixtures in tests
  [libedit]=libedit-dev           # line editing in `smolbot chat`
  [sqlite3]=libsqlite3-dev        # the chat store
  [libcurl]=libcurl4-openssl-dev  # smolbot pull
  [libcrypto]=libssl-dev          # SHA-256 of downloads (OpenSSL EVP)
)
# command -> Debian package
declare -A TOOLS=(
  [gcc]=gcc [make]=make [pkg-config]=pkg-config
  [node]=nodejs                   # the CLI tests read the fixtures' JSON with node
)

missing=()
for t in "${!TOOLS[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing+=("${TOOLS[$t]}")
done
command -v pkg-config >/dev/null 2>&1 && has_pc=1 || has_pc=0
for pc in "${!PKGS[@]}"; do
  if [ $has_pc -eq 0 ] || ! pkg-config --exists "$pc"; then
    missing+=("${PKGS[$pc]}")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: everything is installed"
  exit 0
fi
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "deps: missing: ${missing[*]}"
[ "${1:-}" = "--check" ] && exit 1
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: run as root:  apt-get update && $cmd" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
