# lib.sh: what the command-line test scripts share; each one sources it
# first. It sets BIN (the binary under test: $SMOLBOT, the sanitizer
# build under `make test`), FIX (the fixtures: $SMOL_FIXTURES) and TMP (a
# directory removed at exit; a script that needs more clean-up defines
# cleanup_extra), and prints the TAP-style lines tests/run.sh counts.
set -u
BIN=${SMOLBOT:-build/smolbot}
FIX=${SMOL_FIXTURES:-../shared/fixtures}
TMP=$(mktemp -d)
n=0
cleanup_extra() { :; }
trap 'cleanup_extra; rm -rf "$TMP"' EXIT

ok()   { n=$((n+1)); echo "ok $n - $1"; }
# bad NAME [DETAIL...]: one "not ok" line, then each detail as a comment.
bad()  { n=$((n+1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
# skip NAME [WHY]: WHY defaults to the fixtures being absent.
skip() { n=$((n+1)); echo "skip $n - $1 (${2:-fixtures not found at $FIX})"; }

# expect_fail NAME WANT CMD...: CMD must exit non-zero with exactly one
# line on stderr, containing WANT, and nothing on stdout.
expect_fail() {
  local name=$1 want=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  local lines; lines=$(wc -l <"$TMP/err")
  if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -qF -- "$want" "$TMP/err" && [ ! -s "$TMP/out" ]; then
    ok "$name"
  else
    bad "$name" "exit $rc, $lines stderr lines: $(cat "$TMP/err")" "stdout: $(head -c 200 "$TMP/out")"
  fi
}
