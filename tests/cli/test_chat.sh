#!/usr/bin/env bash
# The terminal chat driven through a real pseudo-terminal (tmux): typing,
# streaming, Ctrl-C mid-answer, slash commands, /save then /load, KV
# reuse on the second turn, and the non-interactive pipe mode.
. "$(dirname "$0")/lib.sh"
BIN=$(realpath "$BIN")
SOCK="smoltest-$$-0"
cleanup_extra() { tmux -L "$SOCK" kill-server 2>/dev/null; }

if [ ! -d "$FIX/scripted" ]; then
  echo "*** FIXTURES NOT FOUND at $FIX: the terminal chat tests are SKIPPED ***" >&2
  skip "terminal chat"; exit 0
fi
FIX=$(realpath "$FIX")
if ! command -v tmux >/dev/null; then bad "tmux is needed for the terminal chat test"; exit 1; fi

# ---- pipe mode ----
got=$(echo "Hi" | "$BIN" chat -m "$FIX/scripted/scripted-plain.gguf" 2>&1)
[ "$got" = "Hello there! How are you?" ] && ok "pipe: one message, one answer" || bad "pipe mode" "$got"
got=$(echo "Hi" | "$BIN" chat -m "$FIX/scripted/scripted-think.gguf" --hide-thinking 2>&1)
[ "$got" = $'[thought for 13 bytes; /show_thinking on shows it]\nHello there!' ] \
  && ok "pipe: reasoning folded with --hide-thinking" || bad "folded reasoning" "$got"
got=$(printf '' | "$BIN" chat -m "$FIX/scripted/scripted-plain.gguf" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "nothing to answer" <<<"$got" && ok "pipe: empty input is an error" || bad "empty input" "$got"

# ---- interactive ----
screen() { tmux -L "$SOCK" capture-pane -p -J -S -200 -t chat 2>/dev/null; }
# wait_for REGEX [SECONDS]: until the screen matches
wait_for() {
  local t=$(( ${2:-20} * 10 ))
  for ((i=0;i<t;i++)); do screen | grep -qE -- "$1" && return 0; sleep 0.1; done
  return 1
}
# wait_count REGEX N [SECONDS]: until N screen lines match
wait_count() {
  local t=$(( ${3:-20} * 10 ))
  for ((i=0;i<t;i++)); do [ "$(screen | grep -cE -- "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  return 1
}
type_line() { tmux -L "$SOCK" send-keys -t chat -l -- "$1"; tmux -L "$SOCK" send-keys -t chat Enter; }

start() {
  # a fresh tmux server per session: reusing a socket races its shutdown
  tmux -L "$SOCK" kill-server 2>/dev/null
  SOCK="smoltest-$$-$RANDOM"
  tmux -L "$SOCK" new-session -d -s chat -x 160 -y 50 "cd $TMP && $BIN chat -m $1 --temp 0; echo EXITED-\$?; sleep 30" || echo "tmux failed" >&2
  wait_for '^> ' 30
}

if start "$FIX/scripted/scripted-plain.gguf"; then ok "interactive: prompt shown"; else bad "interactive start" "$(screen)"; exit 0; fi
type_line "Hi"
wait_for 'Hello there! How are you\?' && ok "interactive: answer streams" || bad "answer" "$(screen)"
type_line "And again?"
wait_count 'Hello there! How are you\?' 2
type_line "/stats"
if wait_for 'last turn: prompt [0-9]+ tokens \([1-9][0-9]* reused'; then
  ok "second turn reuses the KV cache (/stats)"
else bad "/stats after two turns" "$(screen)"; fi
grep -q 'messages: 4' <(screen) && ok "/stats counts messages" || bad "/stats messages" "$(screen)"
type_line "/save $TMP/saved.json"
wait_for 'saved 4 messages' && ok "/save" || bad "/save" "$(screen)"
type_line "/clear"
wait_for 'conversation cleared' && ok "/clear" || bad "/clear" "$(screen)"
type_line "/load $TMP/saved.json"
wait_for 'loaded 4 messages' && ok "/load restores the conversation" || bad "/load" "$(screen)"
node -e 'const c=require(process.argv[1]); const m=c.messages;
  if (m.length!==4 || m[0].role!=="user" || m[0].content!=="Hi" || !m[1].content.includes("Hello there! How are you?")) process.exit(1)' \
  "$TMP/saved.json" && ok "saved file holds the conversation" || bad "saved file" "$(cat "$TMP/saved.json")"
type_line "/frobnicate"
wait_for "unknown command '/frobnicate'" && ok "unknown command explained" || bad "unknown command" "$(screen)"
type_line "/quit"
wait_for 'EXITED-0' && ok "/quit leaves with status 0" || bad "/quit" "$(screen)"

# Ctrl-C stops an endless answer and the chat goes on
start "$FIX/scripted/scripted-long.gguf" || { bad "start scripted-long" "$(screen)"; exit 0; }
type_line "Go"
if wait_count 'Streaming test' 2; then
  tmux -L "$SOCK" send-keys -t chat C-c
  wait_for '\[stopped\]' && ok "Ctrl-C stops the answer" || bad "Ctrl-C" "$(screen)"
  type_line "/stats"
  wait_for 'messages: 2' && ok "the chat goes on after Ctrl-C, the partial answer kept" || bad "after Ctrl-C" "$(screen)"
else
  bad "scripted-long streams" "$(screen)"
fi
type_line "/quit"
wait_for 'EXITED-0' && ok "quit after Ctrl-C" || bad "quit after Ctrl-C" "$(screen)"
exit 0
