/* pretok.c: the Llama-3 pre-tokenizer regex, by hand (see pretok.h). */
#include "pretok.h"
#include "utf8.h"

#include <utf8proc.h>

/* ---- character classes ---------------------------------------------- */

/* The regex only ever asks four questions of a character, so we sort
 * every character into one of these classes (bit flags, so a scan can
 * accept several at once). */
enum {
    CL_L = 1,     /* \p{L} */
    CL_N = 2,     /* \p{N} */
    CL_SPACE = 4, /* \s other than \r and \n */
    CL_CRLF = 8,  /* \r or \n: both \s and the [\r\n] of the pattern */
    CL_OTHER = 16 /* [^\s\p{L}\p{N}]; also every invalid byte */
};

#define CL_WS (CL_SPACE | CL_CRLF)

/* One decoded character: its bytes, class and code point (the code
 * point of an invalid byte is 0xFFFD, which no test below looks for). */
struct pt_char {
    size_t n;
    int cls;
    uint32_t cp;
};

/* The Unicode White_Space property. utf8proc has no accessor for it
 * (its categories put U+0085 in Cc and U+00A0 in Zs next to U+200B-like
 * characters that are not spaces), so the list is spelled out. */
static bool is_white_space(uint32_t cp)
{
    if (cp <= 0x20)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85)
        return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static int class_of(uint32_t cp)
{
    if (cp == '\r' || cp == '\n')
        return CL_CRLF;
    /* ASCII fast path: most text is mostly ASCII */
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return CL_L;
        if (cp >= '0' && cp <= '9')
            return CL_N;
        return is_white_space(cp) ? CL_SPACE : CL_OTHER;
    }
    if (is_white_space(cp))
        return CL_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return CL_L;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return CL_N;
    default:
        return CL_OTHER;
    }
}

/* Decodes the character at s[i] (i < len). */
static struct pt_char char_at(const char *s, size_t len, size_t i)
{
    struct pt_char c;
    unsigned char b = (unsigned char)s[i];
    if (b < 0x80) {
        c.n = 1;
        c.cp = b;
    } else {
        int n = utf8_decode(s + i, len - i, &c.cp);
        if (n < 0) {
            /* an invalid byte stands alone, as U+FFFD would */
            c.n = 1;
            c.cp = 0xFFFD;
            c.cls = CL_OTHER;
            return c;
        }
        c.n = (size_t)n;
    }
    c.cls = class_of(c.cp);
    return c;
}

/* Class of the character at i, or 0 at the end of the text. */
static int class_at(const char *s, size_t len, size_t i)
{
    return i < len ? char_at(s, len, i).cls : 0;
}

/* Advances from i over characters whose class is in mask; returns the
 * first offset that is not (or len). */
static size_t skip_class(const char *s, size_t len, size_t i, int mask)
{
    while (i < len) {
        struct pt_char c = char_at(s, len, i);
        if (!(c.cls & mask))
            break;
        i += c.n;
    }
    return i;
}

/* ---- the alternatives ----------------------------------------------- */

/* ASCII letter test for the case-insensitive contractions. */
static bool ascii_ieq(const char *s, size_t len, size_t i, char lower)
{
    return i < len && (s[i] | 0x20) == lower &&
           ((unsigned char)s[i] & 0x80) == 0;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) with s[pos] == '\''. Returns the match
 * length in bytes, 0 for no match. Oniguruma folds case with Unicode's
 * simple case folding; the only non-ASCII character that folds onto one
 * of these letters is U+017F LATIN SMALL LETTER LONG S (to 's'). The
 * Kelvin sign folds to 'k', which no contraction uses. */
static size_t match_contraction(const char *s, size_t len, size_t pos)
{
    size_t i = pos + 1;
    if (i >= len)
        return 0;
    if (ascii_ieq(s, len, i, 's') || ascii_ieq(s, len, i, 't') ||
        ascii_ieq(s, len, i, 'm') || ascii_ieq(s, len, i, 'd'))
        return 2;
    if (i + 1 < len && (unsigned char)s[i] == 0xC5 &&
        (unsigned char)s[i + 1] == 0xBF)
        return 3; /* 'ſ */
    if ((ascii_ieq(s, len, i, 'r') && ascii_ieq(s, len, i + 1, 'e')) ||
        (ascii_ieq(s, len, i, 'v') && ascii_ieq(s, len, i + 1, 'e')) ||
        (ascii_ieq(s, len, i, 'l') && ascii_ieq(s, len, i + 1, 'l')))
        return 3;
    return 0;
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+ at pos, where s[pos] is whitespace.
 *
 * All three start by taking the maximal whitespace run [pos, end).
 * - \s*[\r\n]+: \s* backtracks from the end of the run until a [\r\n]
 *   follows, so the match ends just after the last \r or \n of the run.
 * - \s+(?!\S): at the end of the text the whole run matches. Otherwise a
 *   non-space follows, so \s+ gives back its last character (which is a
 *   space, so the lookahead then holds), provided one remains. That is
 *   why " hello" keeps its space for the word.
 * - \s+: a single space followed by a non-space. */
static size_t match_whitespace(const char *s, size_t len, size_t pos)
{
    size_t i = pos, last_char = pos, after_crlf = 0;
    while (i < len) {
        struct pt_char c = char_at(s, len, i);
        if (!(c.cls & CL_WS))
            break;
        last_char = i;
        i += c.n;
        if (c.cls == CL_CRLF)
            after_crlf = i;
    }
    if (after_crlf)
        return after_crlf;
    if (i == len)
        return i;
    if (last_char > pos)
        return last_char;
    return i;
}

size_t pretok_next(const char *s, size_t len, size_t pos)
{
    CHECK(pos < len);
    struct pt_char c0 = char_at(s, len, pos);
    size_t p1 = pos + c0.n; /* start of the second character */
    int k1 = class_at(s, len, p1);

    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (c0.cp == '\'') {
        size_t n = match_contraction(s, len, pos);
        if (n)
            return pos + n;
    }

    /* [^\r\n\p{L}\p{N}]?\p{L}+: the optional character is tried first,
     * and when it cannot be used the letters must start at pos. */
    if (c0.cls == CL_L)
        return skip_class(s, len, p1, CL_L);
    if ((c0.cls & (CL_SPACE | CL_OTHER)) && k1 == CL_L)
        return skip_class(s, len, p1, CL_L);

    /* \p{N}{1,3} */
    if (c0.cls == CL_N) {
        size_t end = p1;
        for (int k = 1; k < 3 && end < len; k++) {
            struct pt_char c = char_at(s, len, end);
            if (c.cls != CL_N)
                break;
            end += c.n;
        }
        return end;
    }

    /* ' '?[^\s\p{L}\p{N}]+[\r\n]*: only an ASCII space may lead. */
    size_t start = SIZE_MAX;
    if (c0.cp == ' ' && k1 == CL_OTHER)
        start = p1;
    else if (c0.cls == CL_OTHER)
        start = pos;
    if (start != SIZE_MAX) {
        size_t end = skip_class(s, len, start, CL_OTHER);
        while (end < len && (s[end] == '\r' || s[end] == '\n'))
            end++;
        return end;
    }

    /* What is left is whitespace: the last three alternatives. */
    CHECK(c0.cls & CL_WS);
    return match_whitespace(s, len, pos);
}
