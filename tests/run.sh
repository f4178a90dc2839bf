#!/usr/bin/env bash
# Runs every test binary given as an argument, then the CLI tests, and
# prints one closing line: "N passed, N failed, N skipped" (test cases).
set -u
pass=0; fail=0; skipped=0; failed_bins=()
for bin in "$@"; do
  echo "=== $bin"
  out=$("$bin" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then fail=$((fail + 1)); fi
  [ $rc -ne 0 ] && failed_bins+=("$bin")
done
for t in tests/cli/*.sh; do
  [ -f "$t" ] || continue
  echo "=== $t"
  out=$(bash "$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | grep -c '^ok ' || true)
  f=$(printf '%s\n' "$out" | grep -c '^not ok ' || true)
  s=$(printf '%s\n' "$out" | grep -c '^skip ' || true)
  pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then fail=$((fail + 1)); fi
  [ $rc -ne 0 ] && failed_bins+=("$t")
done
echo
[ ${#failed_bins[@]} -gt 0 ] && echo "failing: ${failed_bins[*]}"
echo "$pass passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ]
