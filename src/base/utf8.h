/*
 * utf8.h: strict UTF-8 (RFC 3629: no overlongs, no surrogates, max
 * U+10FFFF) decoding, encoding and validation, plus the helper that
 * streaming output needs: how many leading bytes form complete
 * characters, so a character split across tokens is held back.
 */
#ifndef SMOL_UTF8_H
#define SMOL_UTF8_H

#include "base.h"

/* Decodes one code point from s[0..len). Returns the bytes used (1..4)
 * and sets *cp, or returns -1 for an invalid or incomplete sequence. */
int utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Encodes cp into out (room for 4). Returns bytes written, 0 if cp is
 * not a Unicode scalar value. */
int utf8_encode(uint32_t cp, char *out);

/* True when s[0..len) is entirely valid UTF-8. If not and bad_at is not
 * NULL, *bad_at receives the offset of the first bad byte. */
bool utf8_valid(const char *s, size_t len, size_t *bad_at);

/* Length of the longest prefix of s[0..len) that does not end in the
 * middle of a (so far valid) multi-byte sequence. Invalid bytes count as
 * complete (they will never become valid), so a stream never stalls. */
size_t utf8_complete_prefix(const char *s, size_t len);

#endif
