/*
 * pretok.h: the Llama-3 pre-tokenizer, by hand, exactly.
 *
 * Hugging Face's tokenizer for SmolLM3 first splits text with this
 * regex (Oniguruma, leftmost-first alternation, "isolated" splitting):
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} |
 *    ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *
 * Every byte of the input lands in exactly one pre-token: the seven
 * alternatives between them match any character, so the pieces tile the
 * text. pretok_next implements the regex with its backtracking spelled
 * out (see pretok.c); no regex library is involved.
 *
 * Character classes, as Oniguruma defines them for UTF-8:
 *   \p{L}  general category Lu Ll Lt Lm Lo   (via utf8proc)
 *   \p{N}  general category Nd Nl No         (via utf8proc)
 *   \s     the Unicode White_Space property: U+0009-000D, 0020, 0085,
 *          00A0, 1680, 2000-200A, 2028, 2029, 202F, 205F, 3000
 *   (?i)   simple case folding: 's also matches 'S and 'ſ (U+017F)
 *
 * Invalid UTF-8: Hugging Face never sees invalid bytes (its input is a
 * Rust &str). We treat each byte that does not start a valid sequence as
 * a one-byte character that is neither a letter, a number nor a space,
 * the class U+FFFD (So) would have. The byte-level BPE downstream then
 * still covers it exactly, so decode(encode(x)) == x for any bytes.
 */
#ifndef SMOL_PRETOK_H
#define SMOL_PRETOK_H

#include "base.h"

/* Returns the end offset of the pre-token that starts at byte pos of
 * text[0..len). Requires pos < len; the result is in (pos, len]. The
 * caller walks a text with pos = pretok_next(text, len, pos) until
 * pos == len. Pure function: no allocation, thread-safe. */
size_t pretok_next(const char *text, size_t len, size_t pos);

#endif
