#!/usr/bin/env bash
# End-to-end tests of the smolbot command line, through the real binary
# ($SMOLBOT, the sanitizer build under `make test`). Prints TAP-style
# "ok"/"not ok"/"skip" lines that tests/run.sh counts. Reference data
# comes from ../shared/fixtures ($SMOL_FIXTURES); node reads its JSON.
. "$(dirname "$0")/lib.sh"
# check NAME CMD...: passes when CMD succeeds
check() { local name=$1; shift; if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi; }


# ---- self-contained ----
"$BIN" >/dev/null 2>&1; [ $? -eq 2 ] && ok "no command: usage, exit 2" || bad "no command: usage, exit 2"
"$BIN" --help | grep -q '^  run ' && ok "--help lists the commands" || bad "--help lists the commands"
expect_fail "unknown command" "unknown command 'frobnicate'" "$BIN" frobnicate
expect_fail "missing model file" "cannot open model '$TMP/none.gguf'" "$BIN" info -m "$TMP/none.gguf"
printf 'GGUF\x03\x00\x00\x00' >"$TMP/short.gguf"
expect_fail "truncated GGUF header" "truncated" "$BIN" info -m "$TMP/short.gguf"
printf 'NOPE\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' >"$TMP/magic.gguf"
expect_fail "bad magic" "magic" "$BIN" info -m "$TMP/magic.gguf"
expect_fail "run needs a prompt" "give exactly one of -p PROMPT and --ids LIST" "$BIN" run -m x.gguf

if [ ! -d "$FIX" ]; then
  echo "*** FIXTURES NOT FOUND at $FIX: the CLI parity checks are SKIPPED ***" >&2
  skip "info on tiny-q4_k_m"; skip "tokenize"; skip "tokenize: long word"; skip "logits"; skip "greedy run"; skip "scripted run"; skip "run -p literal prompt"
  exit 0
fi
command -v node >/dev/null || { bad "node is needed to read the fixtures' JSON"; exit 1; }

# ---- info ----
out=$("$BIN" info -m "$FIX/tiny-q4_k_m.gguf" 2>&1)
if grep -q 'architecture:     smollm3' <<<"$out" && grep -q 'F32:17 Q4_K:48 Q6_K:9' <<<"$out" \
   && grep -q 'parameters:       6885632' <<<"$out" && grep -q 'every 4th without RoPE' <<<"$out" \
   && grep -q 'present (SmolLM3)' <<<"$out" && grep -qE 'kernels:          (generic|avx2|avx512|neon), [0-9]+ thread' <<<"$out" && grep -q 'heads:            4 query, 2 key/value, head dim 64' <<<"$out"; then
  ok "info on tiny-q4_k_m"
else bad "info on tiny-q4_k_m" "$out"; fi

# ---- tokenize ----
got=$("$BIN" tokenize -m "$FIX/vocab-smollm3.gguf" "Hello world" 2>&1)
[ "$got" = "[9906,1917]" ] && ok "tokenize 'Hello world'" || bad "tokenize 'Hello world'" "$got"
got=$(printf '<|im_start|>' | "$BIN" tokenize -m "$FIX/vocab-smollm3.gguf" - 2>&1)
[ "$got" = "[128011]" ] && ok "tokenize from stdin parses control tokens" || bad "tokenize <|im_start|>" "$got"
got=$(printf '<|im_start|>' | "$BIN" tokenize -m "$FIX/vocab-smollm3.gguf" --no-special - 2>&1)
[ "$got" != "[128011]" ] && [ "${got:0:1}" = "[" ] && ok "tokenize --no-special splits control tokens" || bad "tokenize --no-special" "$got"
head -c 1200000 /dev/zero | tr '\0' a >"$TMP/longword.txt"
expect_fail "tokenize: a 1.2 MB word is refused by name" "one unbroken word (or run of spaces) is longer than 1 MiB" \
  sh -c '"$1" tokenize -m "$2" - <"$3"' sh "$BIN" "$FIX/vocab-smollm3.gguf" "$TMP/longword.txt"
# every case of the tokenizer reference through the CLI
node -e '
  const fs=require("fs"); const lines=fs.readFileSync(process.argv[1],"utf8").trim().split("\n");
  lines.forEach((l,i)=>{const c=JSON.parse(l); fs.writeFileSync(process.argv[2]+"/case"+i+".txt", c.text);
    fs.writeFileSync(process.argv[2]+"/case"+i+".want", JSON.stringify(c.ids)+(c.parse_special?"":"\tnospecial"));});
  console.log(lines.length);' "$FIX/tokenizer/cases.jsonl" "$TMP" >"$TMP/ncases"
fails=0; ncases=$(cat "$TMP/ncases")
for ((i=0;i<ncases;i++)); do
  w=$(cat "$TMP/case$i.want"); flag=""
  case "$w" in *nospecial) flag="--no-special"; w=${w%$'\t'nospecial};; esac
  g=$("$BIN" tokenize -m "$FIX/vocab-smollm3.gguf" $flag - <"$TMP/case$i.txt" 2>&1)
  [ "$g" = "$w" ] || { fails=$((fails+1)); echo "#   case $i: got $g want $w"; }
done
[ $fails -eq 0 ] && ok "tokenize: all $ncases reference cases" || bad "tokenize: $fails of $ncases cases differ"

# ---- logits ----
ids=$(node -e 'const r=require(process.argv[1]); console.log(r.teacher_forced.find(t=>t.name=="text").ids.join(","))' "$(realpath "$FIX/tiny-f32.ref.json")")
if "$BIN" logits -m "$FIX/tiny-f32.gguf" --ids "$ids" -o "$TMP/l.bin" 2>"$TMP/err"; then
  res=$(node -e '
    const fs=require("fs"); const a=new Float32Array(fs.readFileSync(process.argv[1]).buffer.slice(0));
    const b=new Float32Array(fs.readFileSync(process.argv[2]).buffer.slice(0));
    if (a.length!==b.length) { console.log("length "+a.length+" vs "+b.length); process.exit(); }
    let m=0; for (let i=0;i<a.length;i++) m=Math.max(m,Math.abs(a[i]-b[i])); console.log(m<=1e-3?"ok":"max diff "+m);' \
    "$TMP/l.bin" "$FIX/tiny-f32.logits.text.bin")
  [ "$res" = ok ] && ok "logits of tiny-f32 match llama.cpp within 1e-3" || bad "logits of tiny-f32" "$res"
else bad "logits of tiny-f32" "$(cat "$TMP/err")"; fi
expect_fail "logits: id outside the vocabulary" "outside the vocabulary" "$BIN" logits -m "$FIX/tiny-f32.gguf" --ids 1,99999 -o "$TMP/x.bin"
expect_fail "logits: malformed id list" "--ids expects" "$BIN" logits -m "$FIX/tiny-f32.gguf" --ids 1,,2 -o "$TMP/x.bin"

# ---- run ----
read -r prompt want < <(node -e 'const r=require(process.argv[1]); const g=r.greedy.find(t=>t.name=="text");
  console.log(g.prompt_ids.join(",")+" "+JSON.stringify(g.generated_ids))' "$(realpath "$FIX/tiny-f32.ref.json")")
got=$("$BIN" run -m "$FIX/tiny-f32.gguf" --ids "$prompt" -n 48 --temp 0 --ignore-eos --print-ids 2>"$TMP/err")
[ "$got" = "$want" ] && ok "greedy run equals llama.cpp's 48 tokens" || bad "greedy run" "got $got" "want $want" "$(cat "$TMP/err")"
grep -q 'tok/s' "$TMP/err" && ok "run reports tokens/s on stderr" || bad "run reports tokens/s" "$(cat "$TMP/err")"
a=$("$BIN" run -m "$FIX/tiny-f32.gguf" --ids "$prompt" -n 16 --temp 1.2 --seed 7 --ignore-eos --print-ids 2>/dev/null)
b=$("$BIN" run -m "$FIX/tiny-f32.gguf" --ids "$prompt" -n 16 --temp 1.2 --seed 7 --ignore-eos --print-ids 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok "a seed reproduces a sampled run" || bad "seeded run" "$a" "$b"
got=$("$BIN" run -m "$FIX/scripted/scripted-plain.gguf" -p "Hi" --temp 0 2>/dev/null)
[ "$got" = "Hello there! How are you?" ] && ok "run -p on scripted-plain streams its text" || bad "scripted-plain" "$got"
got=$("$BIN" run -m "$FIX/scripted/scripted-think.gguf" -p "Hi" --no-think 2>/dev/null)
[ "$got" = $'<think>Let me think.</think>\n\nHello there!' ] && ok "run -p on scripted-think" || bad "scripted-think" "$got"
expect_fail "run: bad temperature" "--temp expects a number" "$BIN" run -m "$FIX/tiny-f32.gguf" --ids 1 --temp abc
expect_fail "run: prompt longer than the context" "raise -c" "$BIN" run -m "$FIX/tiny-f32.gguf" --ids 1,2,3,4 -c 3
# the user's "<|im_end|>" stays text: as many tokens as the template's
# control tokens plus the text's own pieces, never one control token
ntok() { "$BIN" run -m "$FIX/tiny-q4_k_m.gguf" -p "$1" -c 2 -n 1 2>&1 | sed -n 's/.*the prompt has \([0-9]*\) tokens.*/\1/p'; }
n0=$(ntok "hi"); n1=$(ntok "hi<|im_end|>"); n2=$("$BIN" tokenize -m "$FIX/tiny-q4_k_m.gguf" --no-special "<|im_end|>" 2>&1 | tr -cd ',' | wc -c)
if [ -n "$n0" ] && [ -n "$n1" ] && [ "$((n1 - n0))" -eq "$((n2 + 1))" ] && [ "$n2" -gt 1 ]; then
  ok "run -p: a prompt's <|im_end|> is text ($((n1 - n0)) tokens), not a control token"
else bad "run -p literal prompt" "hi: $n0 tokens, with <|im_end|>: $n1, <|im_end|> as text: $((n2 + 1))"; fi
exit 0
