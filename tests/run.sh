#!/usr/bin/env bash
# Runs every test binary given as an argument, then the CLI tests, then
# the end-to-end tests, and prints one closing line: "N passed, N failed,
# N skipped" (test cases).
set -u
pass=0; fail=0; skipped=0; failed_bins=()
# The model parity test runs once per kernel table of this architecture
# (SMOL_KERNELS=...); a table the CPU lacks is skipped, loudly, inside it.
case "$(uname -m)" in
  x86_64) kernel_sets="generic avx2 avx512" ;;
  aarch64) kernel_sets="generic neon" ;;
  *) kernel_sets="generic" ;;
esac
runs=()
for bin in "$@"; do
  case "$bin" in
    */test_model_parity) for k in $kernel_sets; do runs+=("SMOL_KERNELS=$k $bin"); done ;;
    *) runs+=("$bin") ;;
  esac
done
for bin in "${runs[@]}"; do
  echo "=== $bin"
  out=$(env $bin 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then fail=$((fail + 1)); fi
  [ $rc -ne 0 ] && failed_bins+=("$bin")
done
for t in tests/cli/test_*.sh; do
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
# The fuzz pass (tests/fuzz/run.sh, the same ok/not ok/skip lines): the
# corpora and regression inputs replayed (FUZZ_REPLAY), and a short
# libFuzzer run per target when clang was there to build them (FUZZ_BIN).
if [ -f tests/fuzz/run.sh ]; then
  echo "=== tests/fuzz"
  out=$(bash tests/fuzz/run.sh 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | grep -c '^ok ' || true)
  f=$(printf '%s\n' "$out" | grep -c '^not ok ' || true)
  s=$(printf '%s\n' "$out" | grep -c '^skip ' || true)
  pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then fail=$((fail + 1)); fi
  [ $f -gt 0 ] || [ $rc -ne 0 ] && failed_bins+=("tests/fuzz")
fi
# The end-to-end tests (tests/e2e/*.test.mjs, node's test runner, TAP
# output) need the npm packages: scripts/deps.sh runs npm ci.
if compgen -G "tests/e2e/*.test.mjs" >/dev/null; then
  echo "=== tests/e2e"
  if [ -d node_modules ] && command -v node >/dev/null 2>&1; then
    out=$(node --test --test-reporter=tap --test-timeout=300000 tests/e2e/ 2>&1); rc=$?
    printf '%s\n' "$out"
    num() { printf '%s\n' "$out" | sed -n "s/^# $1 \([0-9]*\)\$/\1/p" | tail -1; }
    p=$(num pass); f=$(num fail); s=$(num skipped); c=$(num cancelled)
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${c:-0})); skipped=$((skipped + ${s:-0}))
    if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && [ "${c:-0}" -eq 0 ]; then fail=$((fail + 1)); fi
    [ $rc -ne 0 ] && failed_bins+=("tests/e2e")
  else
    echo "SKIPPED tests/e2e: node_modules is missing (run scripts/deps.sh, or npm ci)"
    skipped=$((skipped + 1))
  fi
fi
echo
[ ${#failed_bins[@]} -gt 0 ] && echo "failing: ${failed_bins[*]}"
echo "$pass passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ]
