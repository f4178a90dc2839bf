/*
 * tokenizer.h: SmolLM3's tokenizer, read from the GGUF.
 *
 * tokenizer.ggml.model = "gpt2": byte-level BPE with ranked merges and
 * the Llama-3 pre-tokenizer regex, implemented exactly over Unicode
 * categories (utf8proc):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (pretok.h has the details: classes, backtracking, invalid bytes.)
 * Following Hugging Face's tokenizer (which the model was trained with),
 * a pre-token that is itself a vocabulary entry is emitted as one token
 * (ignore_merges), even where llama.cpp would run the merges. Any bytes
 * can be encoded: each byte has a token, so the token bytes of
 * tokenizer_encode's ids always concatenate back to the input.
 *
 * Added tokens (token type CONTROL or USER_DEFINED in the GGUF): USER_
 * DEFINED ones (<think>, </think>, <tool_call>, ...) are always matched
 * as whole tokens in the input; CONTROL ones (<|im_start|>, ...) only
 * when TOKENIZER_PARSE_SPECIAL is given. No BOS is ever added.
 *
 * Decoding maps token ids back to bytes; the streaming decoder holds a
 * multi-byte UTF-8 character split across tokens until it is complete.
 *
 * A tokenizer is immutable after tokenizer_load and may be shared by
 * threads. It copies what it needs: the gguf_file may be closed after.
 */
#ifndef SMOL_TOKENIZER_H
#define SMOL_TOKENIZER_H

#include "base.h"
#include "err.h"
#include "gguf.h"

enum { TOKENIZER_PARSE_SPECIAL = 1 };

/* GGUF token types (tokenizer.ggml.token_type). */
enum tokenizer_token_type {
    TOKEN_TYPE_UNDEFINED = 0,
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6,
};

struct tokenizer;
struct smol_span; /* smol.h: a byte range [start, end) */

/* Builds the tokenizer from f's tokenizer.ggml.* keys. Fails with
 * SMOL_EUNSUPPORTED for a model other than "gpt2", SMOL_EFORMAT for
 * missing or inconsistent keys (a merge naming an unknown token, a
 * special id out of range, ...). */
int tokenizer_load(struct tokenizer **out, const struct gguf_file *f,
                   struct smol_err *err);
void tokenizer_free(struct tokenizer *t); /* accepts NULL */

int tokenizer_n_vocab(const struct tokenizer *t);

/* Length in bytes of the longest token's bytes (tokenizer_token_bytes):
 * a buffer of 3 * this + 8 bytes always suffices for
 * tokenizer_stream_push. */
size_t tokenizer_max_token_len(const struct tokenizer *t);

/* Longest run of bytes the pre-tokenizer leaves whole (one "word", one
 * run of spaces) that tokenizer_encode accepts: its BPE needs about 40
 * bytes of scratch per byte, so this bounds the memory of encoding any
 * text to ~40 MiB (plus the caller's ids). Real text never comes close. */
#define TOKENIZER_MAX_PRETOKEN (1u << 20)

/* Encodes text[0..len) (any bytes; invalid UTF-8 is tokenized byte by
 * byte as the byte-level alphabet allows). Writes up to cap ids to out
 * and returns the total number of ids the text needs (which may exceed
 * cap: call again with a larger buffer), or a negative status:
 * SMOL_ERANGE when a pre-token is longer than TOKENIZER_MAX_PRETOKEN or
 * the text needs more than INT_MAX ids, SMOL_ENOMEM. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
                     int flags, int32_t *out, int cap);

/* tokenizer_encode with literal spans: spans[0..n_spans) are byte ranges
 * [start, end) of text, in order and not overlapping, that hold text
 * from a user (a chat message inside its rendered template). With
 * TOKENIZER_PARSE_SPECIAL a CONTROL token is matched only where all its
 * bytes lie outside every span, so "<|im_end|>" typed by a user stays
 * the text it is; USER_DEFINED tokens match everywhere, as without
 * spans (Hugging Face matches them in any text, and an assistant's
 * <think> and <tool_call> in the history must give back the ids the
 * model generated). The text between matched added tokens is
 * pre-tokenized as one piece, across span boundaries: with no control
 * token text inside a span the ids equal tokenizer_encode's. Returns as
 * tokenizer_encode, or SMOL_EINVAL for spans out of order or past len. */
int tokenizer_encode_spans(const struct tokenizer *t, const char *text, size_t len,
                           int flags, const struct smol_span *spans, int n_spans,
                           int32_t *out, int cap);

/* The bytes a token stands for (byte-level decoded: "Ġhi" -> " hi";
 * control tokens give their text, e.g. "<|im_end|>"). Returns a view
 * valid for the tokenizer's lifetime, or NULL for an id out of range. */
const char *tokenizer_token_bytes(const struct tokenizer *t, int32_t id,
                                  size_t *len);

/* The token's vocabulary string as stored in the GGUF ("Ġhi"). */
const char *tokenizer_token_text(const struct tokenizer *t, int32_t id,
                                 size_t *len);

int tokenizer_token_type(const struct tokenizer *t, int32_t id);

/* Id of a token whose vocabulary string is exactly s, or -1. */
int32_t tokenizer_find(const struct tokenizer *t, const char *s, size_t len);

/* Special ids from the metadata; -1 when absent. */
int32_t tokenizer_bos(const struct tokenizer *t);
int32_t tokenizer_eos(const struct tokenizer *t);
int32_t tokenizer_pad(const struct tokenizer *t);

/* End of generation: eos, eot, <|im_end|>, <|end_of_text|>, <|eot_id|>,
 * <|eom_id|> where present (as llama.cpp's set). */
bool tokenizer_is_eog(const struct tokenizer *t, int32_t id);

/* Streaming decoder state: embed and zero-initialise (or call
 * tokenizer_stream_init). */
struct tokenizer_stream {
    char pending[8]; /* bytes of an unfinished UTF-8 character */
    int n_pending;
};
void tokenizer_stream_init(struct tokenizer_stream *s);

/* Appends the bytes of token id to the stream and writes to out (cap
 * bytes) what is now complete UTF-8. Returns the number of bytes
 * written, or a negative status: SMOL_EINVAL for a bad id, SMOL_EFULL if
 * cap is too small (the stream is then unchanged: retry with more room).
 * Bytes that can never become valid UTF-8 come out as U+FFFD, one per
 * maximal invalid subpart (as Python's errors="replace"), so a 1-byte
 * invalid token yields 3 bytes: cap >= 3*len(token)+8 always suffices,
 * and cap >= len(token)+8 does whenever the stream stays valid UTF-8. */
int tokenizer_stream_push(const struct tokenizer *t, struct tokenizer_stream *s,
                          int32_t id, char *out, size_t cap);

/* Whatever is still pending at the end (as U+FFFD for an incomplete
 * character; cap >= 3 suffices); returns bytes written (0 or 3), or
 * SMOL_EFULL / SMOL_EINVAL. Leaves the stream empty, ready for reuse. */
int tokenizer_stream_flush(struct tokenizer_stream *s, char *out, size_t cap);

#endif
