#!/usr/bin/env bash
# The fuzz pass of `make test`: one "ok N - ..." / "not ok N - ..." /
# "skip N - ..." line per check (tests/run.sh counts them).
#
#   FUZZ_REPLAY=dir  replay_<target> binaries (gcc ASan build, replay.c):
#                    each replays tests/fuzz/corpus/<target> and
#                    tests/fuzz/regress/<target>
#   FUZZ_BIN=dir     fuzz_<target> libFuzzer binaries (`make fuzz`): each
#                    fuzzes for FUZZ_RUNS runs (default 20000) or
#                    FUZZ_SECONDS seconds (default 30), whichever comes
#                    first, starting from its corpus, and replays its
#                    regression inputs; new inputs go to a temporary
#                    directory, a crashing one to build/fuzz/artifacts/.
#                    The seed is fixed (FUZZ_SEED, default 1) so a run is
#                    repeatable; long runs are for finding new bugs.
# Either may be empty or unset: its checks are then reported as skipped.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
runs=${FUZZ_RUNS:-20000}
seconds=${FUZZ_SECONDS:-30}
seed=${FUZZ_SEED:-1}
targets=$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_\(.*\)\.c|\1|')
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "skip $n - $*"; }

# The input directories of a target that exist.
dirs() {
  local d
  for d in tests/fuzz/corpus/$1 tests/fuzz/regress/$1; do
    [ -d "$d" ] && echo "$d"
  done
}

# Per-target libFuzzer options.
opts() {
  case "$1" in
    gguf) echo "-max_len=98304" ;;
    *) echo "" ;;
  esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in $targets; do
  bin="${FUZZ_REPLAY:-}/replay_$t"
  if [ -z "${FUZZ_REPLAY:-}" ] || [ ! -x "$bin" ]; then
    skip "replay $t: no replay binary (make test builds them)"
  else
    out=$("$bin" $(dirs "$t") 2>&1); rc=$?
    count=$(printf '%s\n' "$out" | sed -n 's/^replayed \([0-9]*\) inputs$/\1/p')
    if [ $rc -eq 0 ] && [ -n "$count" ]; then
      ok "replay $t: $count corpus and regression inputs (gcc ASan+UBSan)"
    else
      printf '%s\n' "$out" | tail -40
      notok "replay $t: exit status $rc"
    fi
  fi
done

for t in $targets; do
  bin="${FUZZ_BIN:-}/fuzz_$t"
  if [ -z "${FUZZ_BIN:-}" ] || [ ! -x "$bin" ]; then
    skip "fuzz $t: clang with libFuzzer is not installed (scripts/deps.sh)"
    continue
  fi
  mkdir -p "$tmp/$t" build/fuzz/artifacts
  log="$tmp/$t.log"
  # shellcheck disable=SC2046
  "$bin" -runs="$runs" -max_total_time="$seconds" -seed="$seed" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix=build/fuzz/artifacts/"$t"- $(opts "$t") "$tmp/$t" $(dirs "$t") \
    >"$log" 2>&1
  rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
  execs=$(printf '%s' "$done_line" | sed -n 's/^#\([0-9]*\).*/\1/p')
  cov=$(printf '%s' "$done_line" | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1, ft \2/p')
  if [ $rc -eq 0 ] && [ -n "$done_line" ]; then
    ok "fuzz $t: ${execs} runs, ${cov}, no crash"
  else
    grep -E 'ERROR|FUZZ_CHECK|SUMMARY|Test unit written|^    #[0-9] ' "$log" | head -30
    notok "fuzz $t: exit status $rc (input saved under build/fuzz/artifacts/)"
  fi
done
