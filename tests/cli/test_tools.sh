#!/usr/bin/env bash
# End-to-end tests of the tool commands (quantize, synth, bench) through
# the real binary ($SMOLBOT, the sanitizer build under `make test`).
# Prints "ok"/"not ok"/"skip" lines that tests/run.sh counts. The
# quantize parity checks need ../shared/fixtures ($SMOL_FIXTURES); the
# rest is self-contained. node checks bench's JSON.
. "$(dirname "$0")/lib.sh"


# ---- synth (self-contained) ----
if "$BIN" synth "$TMP/tiny.gguf" --shape tiny --type Q4_K_M --seed 3 >"$TMP/out" 2>&1; then
  out=$("$BIN" info -m "$TMP/tiny.gguf" 2>&1)
  if grep -q 'layers:           8 (every 4th without RoPE)' <<<"$out" && grep -q 'embedding:        256' <<<"$out" \
     && grep -q 'heads:            4 query, 2 key/value, head dim 64' <<<"$out" \
     && grep -q 'feed-forward:     768' <<<"$out" && grep -q 'F32:17 Q4_K:48 Q6_K:9' <<<"$out" \
     && grep -q 'vocabulary:       268 tokens' <<<"$out" && grep -q 'tied' <<<"$out"; then
    ok "synth --shape tiny: info shows the shape and the Q4_K_M recipe"
  else bad "synth --shape tiny: info" "$out"; fi
else bad "synth --shape tiny" "$(cat "$TMP/out")"; fi
"$BIN" synth "$TMP/tiny2.gguf" --shape tiny --type Q4_K_M --seed 3 >/dev/null 2>&1
cmp -s "$TMP/tiny.gguf" "$TMP/tiny2.gguf" && ok "synth: the same seed writes the same file" \
  || bad "synth: the same seed writes the same file"
"$BIN" synth "$TMP/tiny3.gguf" --shape tiny --type Q4_K_M --seed 4 >/dev/null 2>&1
cmp -s "$TMP/tiny.gguf" "$TMP/tiny3.gguf" && bad "synth: another seed writes other weights" \
  || ok "synth: another seed writes other weights"
got=$("$BIN" run -m "$TMP/tiny.gguf" --ids 104,101,108 -n 4 --temp 0 --ignore-eos --print-ids 2>"$TMP/err")
[[ "$got" =~ ^\[[0-9]+,[0-9]+,[0-9]+,[0-9]+\]$ ]] && ok "run on a synthetic model generates" \
  || bad "run on a synthetic model" "$got" "$(cat "$TMP/err")"
if "$BIN" synth "$TMP/s.gguf" --shape 128x2x4x2x256 --type Q8_0 >/dev/null 2>&1 \
   && "$BIN" info -m "$TMP/s.gguf" 2>&1 | grep -q 'F32:5 Q8_0:15'; then
  ok "synth WxLxHxKVxFF --type Q8_0"
else bad "synth WxLxHxKVxFF --type Q8_0" "$("$BIN" info -m "$TMP/s.gguf" 2>&1)"; fi
expect_fail "synth: bad shape" "is not 3b, tiny or" "$BIN" synth "$TMP/x.gguf" --shape 4b
expect_fail "synth: inconsistent shape" "divisible" "$BIN" synth "$TMP/x.gguf" --shape 100x2x3x1x64
expect_fail "synth: bad type" "unknown type 'Q3_K'" "$BIN" synth "$TMP/x.gguf" --type Q3_K
expect_fail "synth: no output" "exactly one output path" "$BIN" synth
expect_fail "synth: missing vocabulary" "cannot open vocabulary" "$BIN" synth "$TMP/x.gguf" --vocab "$TMP/none.gguf"

# ---- bench (self-contained) ----
if "$BIN" bench -m "$TMP/tiny.gguf" --json -p 16 -n 8 -r 3 --bw-mib 256 >"$TMP/bench.json" 2>"$TMP/err"; then
  res=$(node -e '
    const fs = require("fs"); let j;
    try { j = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch (e) { console.log("not JSON: " + e.message); process.exit(); }
    const pos = ["pp_tps", "tg_tps", "ttft_ms", "peak_rss_bytes", "bandwidth_gbs", "roofline_tps", "tg_fraction", "threads"];
    for (const k of pos) if (typeof j[k] !== "number" || !(j[k] > 0)) { console.log("bad " + k + ": " + j[k]); process.exit(); }
    if (typeof j.kernels !== "string" || !j.kernels) { console.log("bad kernels"); process.exit(); }
    const med = (a) => a.slice().sort((x, y) => x - y)[1];
    const close = (x, y) => Math.abs(x - y) <= 1e-9 * Math.abs(y);
    if (!Array.isArray(j.runs) || j.runs.length !== 3) { console.log("runs is not 3 runs"); process.exit(); }
    for (const r of j.runs)
      if (!close(r.tg_fraction, r.tg_tps / (r.bandwidth_gbs * 1e9 / j.decode_bytes))) { console.log("a run tg_fraction is not its tg over its roofline"); process.exit(); }
    for (const k of ["pp_tps", "tg_tps", "ttft_ms", "bandwidth_gbs", "tg_fraction"])
      if (!close(j[k], med(j.runs.map((r) => r[k])))) { console.log(k + " is not the median of the runs"); process.exit(); }
    if (!close(j.roofline_tps, j.bandwidth_gbs * 1e9 / j.decode_bytes)) { console.log("roofline is not bandwidth / decode bytes"); process.exit(); }
    console.log("ok");' "$TMP/bench.json")
  [ "$res" = ok ] && ok "bench --json prints the required keys, each run paired with its own bandwidth, medians" || bad "bench --json" "$res" "$(cat "$TMP/bench.json")"
else bad "bench --json" "$(cat "$TMP/err")"; fi
expect_fail "bench: no model" "bench needs a model" "$BIN" bench -p 4
expect_fail "bench: bad -p" "-p expects an integer" "$BIN" bench -m "$TMP/tiny.gguf" -p 0
expect_fail "bench: bad -r" "-r expects an integer" "$BIN" bench -m "$TMP/tiny.gguf" -r x
expect_fail "bench: missing model file" "cannot open model" "$BIN" bench -m "$TMP/none.gguf"

# ---- quantize ----
expect_fail "quantize: unknown type" "unknown quantization type 'Q9'" "$BIN" quantize "$TMP/tiny.gguf" "$TMP/q.gguf" Q9
expect_fail "quantize: too few arguments" "quantize needs IN.gguf OUT.gguf TYPE" "$BIN" quantize "$TMP/tiny.gguf" Q8_0
expect_fail "quantize: output is the input" "would overwrite the input" "$BIN" quantize "$TMP/tiny.gguf" "$TMP/tiny.gguf" Q8_0
expect_fail "quantize: missing input" "cannot quantize '$TMP/none.gguf'" "$BIN" quantize "$TMP/none.gguf" "$TMP/q.gguf" Q8_0
[ -e "$TMP/q.gguf" ] && bad "a failed quantize leaves no output" || ok "a failed quantize leaves no output"
if "$BIN" quantize "$TMP/tiny.gguf" "$TMP/tiny-f32.gguf" F32 >"$TMP/out" 2>&1 \
   && "$BIN" info -m "$TMP/tiny-f32.gguf" 2>&1 | grep -q 'F32:74'; then
  ok "quantize Q4_K_M -> F32 dequantizes every tensor"
else bad "quantize Q4_K_M -> F32" "$(cat "$TMP/out")"; fi

if [ ! -d "$FIX" ]; then
  echo "*** FIXTURES NOT FOUND at $FIX: quantize parity checks are SKIPPED ***" >&2
  for t in Q8_0 Q4_0 Q6_K Q4_K_M Q5_K_M; do skip "quantize tiny-f32 to $t is llama-quantize's file"; done
  skip "synth --vocab copies the real tokenizer"
  exit 0
fi
for t in Q8_0 Q4_0 Q6_K Q4_K_M Q5_K_M; do
  lower=$(tr 'A-Z' 'a-z' <<<"$t")
  if "$BIN" quantize "$FIX/tiny-f32.gguf" "$TMP/$lower.gguf" "$t" -t 2 >"$TMP/out" 2>&1 \
     && cmp "$TMP/$lower.gguf" "$FIX/tiny-$lower.gguf" >"$TMP/cmp" 2>&1; then
    ok "quantize tiny-f32 to $t is llama-quantize's file, byte for byte"
  else bad "quantize tiny-f32 to $t" "$(cat "$TMP/out" "$TMP/cmp")"; fi
  rm -f "$TMP/$lower.gguf"
done
if "$BIN" synth "$TMP/v.gguf" --shape tiny --vocab "$FIX/vocab-smollm3.gguf" >"$TMP/out" 2>&1; then
  out=$("$BIN" info -m "$TMP/v.gguf" 2>&1)
  if grep -q 'vocabulary:       128256 tokens (bos 128000, eos 128012)' <<<"$out" \
     && grep -q 'present (SmolLM3)' <<<"$out"; then
    ok "synth --vocab copies the real tokenizer and template"
  else bad "synth --vocab" "$out"; fi
else bad "synth --vocab" "$(cat "$TMP/out")"; fi
exit 0
