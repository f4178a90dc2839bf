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
  [libmicrohttpd]=libmicrohttpd-dev  # the HTTP server of `smolbot serve`
  [md4c]=libmd4c-dev              # markdown of the web chat (our own safe renderer on md4c's parser)
)
# command -> Debian package
declare -A TOOLS=(
  [gcc]=gcc [make]=make [pkg-config]=pkg-config
  [node]=nodejs                   # the CLI tests read the fixtures' JSON with node
  [npm]=npm                       # installs package-lock.json's packages (npm ci)
  [chromium]=chromium             # the web chat's browser tests (Debian's build, never a download)
  [clang]=clang                   # the fuzzers (make fuzz; make test's short fuzz pass)
)

# The npm packages pinned by package-lock.json (the end-to-end tests'
# openai client and playwright-core; the web page's htmx, its SSE
# extension, highlight.js): `npm ci` when node_modules is missing or older
# than the lock file. With --check, only says so (and fails).
npm_deps() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  [ -f "$root/package-lock.json" ] || return 0
  if [ -d "$root/node_modules" ] && [ ! "$root/package-lock.json" -nt "$root/node_modules" ]; then
    return 0
  fi
  if [ "${1:-}" = "--check" ]; then
    echo "deps: node_modules is missing or older than package-lock.json (run npm ci)"
    return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "deps: npm is missing: install it, then run 'npm ci' in $root" >&2
    return 1
  fi
  echo "deps: npm ci"
  (cd "$root" && npm ci --no-audit --no-fund && touch node_modules)
}

missing=()
for t in "${!TOOLS[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing+=("${TOOLS[$t]}")
done
command -v pkg-config >/dev/null 2>&1 && has_pc=1 || has_pc=0
# libFuzzer's runtime is a separate package from clang, only recommended
# by it (Debian 12: libclang-rt-dev, i.e. libclang-rt-14-dev for clang 14):
# with clang there, check that a fuzzer links.
if ! command -v clang >/dev/null 2>&1; then
  missing+=(libclang-rt-dev)
elif ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
     clang -fsanitize=fuzzer -x c -o /dev/null - >/dev/null 2>&1; then
  missing+=("libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev")
fi
for pc in "${!PKGS[@]}"; do
  if [ $has_pc -eq 0 ] || ! pkg-config --exists "$pc"; then
    missing+=("${PKGS[$pc]}")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  npm_deps "${1:-}"
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
npm_deps
