#!/usr/bin/env bash
# `smolbot pull` against a local HTTP server (tests/support/http_file_server.mjs)
# serving a random file: a verified download with progress, resume after
# the server cuts the connection (across runs and within one), a server
# that ignores Range, checksum and size mismatches refused, Hugging Face's
# X-Linked-Etag used as the checksum, 404, bad schemes, unsafe names and no
# network. Prints TAP-style lines that tests/run.sh counts.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER_PID=
cleanup_extra() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; }

command -v node >/dev/null || { bad "node is needed for the test HTTP server"; exit 1; }

# The file: 3 MB of random bytes, and its hash.
head -c 3000000 /dev/urandom >"$TMP/blob.bin"
SHA=$(sha256sum "$TMP/blob.bin" | cut -d' ' -f1)
SIZE=3000000

node "$HERE/../support/http_file_server.mjs" --file "$TMP/blob.bin" --log "$TMP/log" \
  >"$TMP/port" 2>"$TMP/server.err" &
SERVER_PID=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
[ -n "$PORT" ] || { bad "the test server did not start" "$(cat "$TMP/server.err")"; exit 1; }
URL="http://127.0.0.1:$PORT"

# pull ARGS...: runs the binary; stdout to $TMP/out, stderr to $TMP/err, $rc.
pull() { "$BIN" pull "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }
# A failure before any byte arrived: exactly one line on stderr, containing
# $1, and a non-zero exit.
one_line_error() {
  local lines; lines=$(wc -l <"$TMP/err")
  [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -qF -- "$1" "$TMP/err"
}
# A failure after progress lines: the last line is the error, containing $1.
fails_with() {
  [ $rc -ne 0 ] && tail -n 1 "$TMP/err" | grep -q '^smolbot: ' && tail -n 1 "$TMP/err" | grep -qF -- "$1"
}
same_file() { cmp -s "$TMP/blob.bin" "$1"; }
log_has() { grep -qF -- "$1" "$TMP/log"; }
requests() { wc -l <"$TMP/log"; }

# ---- a full download, verified, with progress ----
pull "$URL/full/blob.bin" --dir "$TMP/m1" --sha256 "$SHA"
if [ $rc -eq 0 ] && same_file "$TMP/m1/blob.bin" && [ "$(cat "$TMP/out")" = "$TMP/m1/blob.bin" ] \
   && [ ! -e "$TMP/m1/blob.bin.part" ]; then ok "full download with --sha256"
else bad "full download with --sha256" "rc $rc" "$(cat "$TMP/err")"; fi
if grep -q '^pull: 100%  3.0 MB / 3.0 MB  .* MB/s  ETA ' "$TMP/err" \
   && grep -qF "saved $TMP/m1/blob.bin (3000000 bytes, sha256 $SHA)" "$TMP/err"; then
  ok "progress lines (bytes, %, MB/s, ETA) on stderr"
else bad "progress lines" "$(cat "$TMP/err")"; fi

before=$(requests)
pull "$URL/full/blob.bin" --dir "$TMP/m1"
if [ $rc -eq 0 ] && grep -q "already here" "$TMP/err" && [ "$(requests)" -eq "$before" ]; then
  ok "a file already there is not downloaded again"
else bad "already there" "$(cat "$TMP/err")"; fi
# ... but --sha256 checks it, and a wrong hash is reported, the file kept.
pull "$URL/full/blob.bin" --dir "$TMP/m1" --sha256 "$(printf '0%.0s' $(seq 64))"
if one_line_error "exists but its SHA-256 is $SHA" && same_file "$TMP/m1/blob.bin"; then
  ok "--sha256 verifies an existing file"
else bad "--sha256 on an existing file" "$(cat "$TMP/err")"; fi

# ---- resume across runs after a cut ----
pull "$URL/cut/1000000/blob.bin" --dir "$TMP/m2" --retries 0
psize=$(stat -c %s "$TMP/m2/blob.bin.part" 2>/dev/null || echo none)
if fails_with "interrupted at 1000000 bytes" && [ "$psize" = 1000000 ] \
   && [ ! -e "$TMP/m2/blob.bin" ]; then ok "a cut connection leaves a 1000000-byte .part"
else bad "cut leaves .part" "rc $rc, part $psize" "$(cat "$TMP/err")"; fi
pull "$URL/full/blob.bin" --dir "$TMP/m2" --sha256 "$SHA"
if [ $rc -eq 0 ] && same_file "$TMP/m2/blob.bin" && [ ! -e "$TMP/m2/blob.bin.part" ] \
   && log_has '"path":"/full/blob.bin","range":"bytes=1000000-"' \
   && grep -q "resuming $TMP/m2/blob.bin.part at 1000000 bytes" "$TMP/err"; then
  ok "the next run resumes with Range: bytes=1000000- and the file is correct"
else bad "resume across runs" "rc $rc" "$(cat "$TMP/err")" "$(tail -3 "$TMP/log")"; fi

# ---- resume within one run ----
pull "$URL/cut/700000/blob.bin" --dir "$TMP/m3" --sha256 "$SHA"
ranges=$(grep -c '"path":"/cut/700000/blob.bin","range":"bytes=' "$TMP/log")
if [ $rc -eq 0 ] && same_file "$TMP/m3/blob.bin" && [ "$ranges" -eq 4 ] \
   && log_has '"range":"bytes=2800000-"'; then
  ok "retries resume within one run (4 Range requests)"
else bad "retries within a run" "rc $rc ranges $ranges" "$(cat "$TMP/err")"; fi
pull "$URL/cut/700000/blob.bin" --dir "$TMP/m3b" --retries 2
if fails_with "interrupted at 2100000 bytes" && [ "$(stat -c %s "$TMP/m3b/blob.bin.part")" = 2100000 ]; then
  ok "--retries bounds the attempts"
else bad "--retries" "$(cat "$TMP/err")"; fi

# ---- a server that ignores Range ----
mkdir -p "$TMP/m4"
head -c 500000 /dev/zero >"$TMP/m4/blob.bin.part"
pull "$URL/norange/blob.bin" --dir "$TMP/m4" --sha256 "$SHA"
if [ $rc -eq 0 ] && same_file "$TMP/m4/blob.bin" && grep -q "ignored the range request" "$TMP/err" \
   && log_has '"path":"/norange/blob.bin","range":"bytes=500000-"'; then
  ok "a server ignoring Range: the .part starts over"
else bad "server ignoring Range" "rc $rc" "$(cat "$TMP/err")"; fi

# ---- wrong content ----
pull "$URL/wrong/blob.bin" --dir "$TMP/m5" --sha256 "$SHA"
if fails_with "checksum mismatch" && grep -qF "expected $SHA" "$TMP/err" \
   && [ -z "$(ls -A "$TMP/m5")" ]; then ok "checksum mismatch refused, nothing left behind"
else bad "checksum mismatch" "rc $rc" "$(cat "$TMP/err")" "$(ls -A "$TMP/m5")"; fi

# Hugging Face's X-Linked-Etag is the checksum when none is given.
pull "$URL/hf/blob.bin" --dir "$TMP/m6"
if [ $rc -eq 0 ] && same_file "$TMP/m6/blob.bin" && grep -qF "sha256 $SHA" "$TMP/err"; then
  ok "redirect with X-Linked-Etag: verified download"
else bad "X-Linked-Etag download" "$(cat "$TMP/err")"; fi
pull "$URL/hfbad/blob.bin" --dir "$TMP/m7"
if fails_with "checksum mismatch" && [ -z "$(ls -A "$TMP/m7")" ]; then
  ok "X-Linked-Etag catches wrong content"
else bad "X-Linked-Etag mismatch" "$(cat "$TMP/err")"; fi

# The default name asks Hugging Face's path for SmolLM3 and checks its size.
SMOLBOT_PULL_BASE="$URL/" "$BIN" pull --dir "$TMP/m8" >"$TMP/out" 2>"$TMP/err"; rc=$?
if one_line_error "offers 3000000 bytes, but the file should have 1915305312" \
   && log_has '"path":"/ggml-org/SmolLM3-3B-GGUF/resolve/main/SmolLM3-Q4_K_M.gguf"' \
   && [ -z "$(ls -A "$TMP/m8")" ]; then ok "default name: SmolLM3 Q4_K_M path, size checked"
else bad "default name" "$(cat "$TMP/err")"; fi

# ---- errors: one line each ----
pull "$URL/missing/blob.bin" --dir "$TMP/m9"
one_line_error "answered HTTP 404" && [ -z "$(ls -A "$TMP/m9")" ] \
  && ok "404: one-line error, no .part" || bad "404" "$(cat "$TMP/err")"
pull "ftp://127.0.0.1:$PORT/full/blob.bin" --dir "$TMP/m9"
one_line_error "only http:// and https:// URLs" && ok "ftp:// refused" || bad "ftp://" "$(cat "$TMP/err")"
pull "file:///etc/passwd" --dir "$TMP/m9"
one_line_error "only http:// and https:// URLs" && ok "file:// refused" || bad "file://" "$(cat "$TMP/err")"
for name in "..%2F..%2Fescape" ".hidden" "a%2Fb" "" "x..y"; do
  pull "$URL/full/$name" --dir "$TMP/m9"
  one_line_error "does not end in a usable file name" && ok "unsafe name '$name' refused" \
    || bad "unsafe name '$name'" "$(cat "$TMP/err")"
done
pull "$URL/full/blob.bin" --dir "$TMP/m9" --sha256 abc
one_line_error "--sha256 expects 64 hex digits" && ok "bad --sha256 refused" || bad "bad --sha256" "$(cat "$TMP/err")"
pull nosuchmodel
one_line_error "unknown model 'nosuchmodel'" && ok "unknown name refused" || bad "unknown name" "$(cat "$TMP/err")"

# No network: a port nothing listens on.
DEAD=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})')
SMOLBOT_PULL_BASE="http://127.0.0.1:$DEAD" "$BIN" pull --dir "$TMP/m10" >"$TMP/out" 2>"$TMP/err"; rc=$?
if one_line_error "cannot reach 127.0.0.1: " && grep -qF 'yourself and run `MODEL=path make run`' "$TMP/err"; then
  ok "no network: one line saying how to use a local file"
else bad "no network" "$(cat "$TMP/err")"; fi

# SMOLBOT_MODELS is the default directory.
SMOLBOT_MODELS="$TMP/m11" "$BIN" pull "$URL/full/blob.bin" >"$TMP/out" 2>"$TMP/err"; rc=$?
[ $rc -eq 0 ] && same_file "$TMP/m11/blob.bin" && [ "$(cat "$TMP/out")" = "$TMP/m11/blob.bin" ] \
  && ok "SMOLBOT_MODELS sets the directory" || bad "SMOLBOT_MODELS" "$(cat "$TMP/err")"
exit 0
