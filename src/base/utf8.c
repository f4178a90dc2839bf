/* utf8.c: strict UTF-8 (see utf8.h). */
#include "utf8.h"

/* Expected length of a sequence from its lead byte; 0 if not a lead. */
static int utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

int utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return -1;
    const unsigned char *u = (const unsigned char *)s;
    int n = utf8_seq_len(u[0]);
    if (n == 0 || (size_t)n > len)
        return -1;
    if (n == 1) {
        *cp = u[0];
        return 1;
    }
    uint32_t c = u[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return -1;
        c = (c << 6) | (u[i] & 0x3F);
    }
    /* reject overlongs, surrogates and > U+10FFFF */
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10FFFF ||
        (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *cp = c;
    return n;
}

int utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        o[0] = (unsigned char)(0xF0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

bool utf8_valid(const char *s, size_t len, size_t *bad_at)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = utf8_decode(s + i, len - i, &cp);
        if (n < 0) {
            if (bad_at)
                *bad_at = i;
            return false;
        }
        i += (size_t)n;
    }
    return true;
}

size_t utf8_complete_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    /* Only the last 3 bytes can start an unfinished sequence. */
    size_t start = len > 3 ? len - 3 : 0;
    for (size_t i = len; i > start; i--) {
        unsigned char c = u[i - 1];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        int n = utf8_seq_len(c);
        if (n > 1 && (size_t)n > len - (i - 1)) {
            /* lead byte whose sequence is not finished: hold it back if
             * the bytes seen so far are valid continuations */
            for (size_t j = i; j < len; j++)
                if ((u[j] & 0xC0) != 0x80)
                    return len;
            return i - 1;
        }
        return len;
    }
    return len;
}
