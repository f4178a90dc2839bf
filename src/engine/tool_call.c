/*
 * tool_call.c: a JSON reader with Python's json.loads semantics (and a
 * lenient mode for model output), writers for Python's str() and for
 * json.dumps-style JSON, and the parsing of <tool_call> blocks. See
 * tool_call.h for the contracts.
 */
#include "tool_call.h"
#include "mem.h"
#include "smol.h"
#include "utf8.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* A bounded cursor over text[0..end); offsets in errors are absolute. */
struct tj_reader {
    const char *p;
    size_t end, pos;
    bool lenient;
    struct smol_err *err;
};

static int tj_fail(struct tj_reader *r, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tj_fail(struct tj_reader *r, size_t at, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return err_set(r->err, SMOL_EFORMAT, "json: %s at offset %zu", what, at);
}

static void tj_skip_ws(struct tj_reader *r)
{
    while (r->pos < r->end) {
        char c = r->p[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->pos++;
    }
}

static int tj_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads n hex digits at the cursor into *v; false if they are not there. */
static bool tj_read_hex(struct tj_reader *r, int n, uint32_t *v)
{
    if (r->end - r->pos < (size_t)n)
        return false;
    uint32_t x = 0;
    for (int i = 0; i < n; i++) {
        int h = tj_hex(r->p[r->pos + (size_t)i]);
        if (h < 0)
            return false;
        x = x << 4 | (uint32_t)h;
    }
    r->pos += (size_t)n;
    *v = x;
    return true;
}

/* Appends a code point as UTF-8; a surrogate (from a lone \uD8xx, which
 * Python keeps in its str) gets the 3-byte generalized form that
 * tj_decode reads back. */
static int tj_put_cp(struct buf *b, uint32_t cp)
{
    char u[4];
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        return buf_append(b, u, 3);
    }
    int k = utf8_encode(cp, u);
    return buf_append(b, u, (size_t)k);
}

/* One escape after a backslash (the cursor is past the backslash). */
static int tj_escape(struct tj_reader *r, struct buf *b, size_t at)
{
    if (r->pos >= r->end)
        return tj_fail(r, at, "unterminated escape");
    char e = r->p[r->pos++];
    uint32_t cp;
    switch (e) {
    case '"': case '\\': case '/': return buf_append_char(b, e);
    case 'b': return buf_append_char(b, '\b');
    case 'f': return buf_append_char(b, '\f');
    case 'n': return buf_append_char(b, '\n');
    case 'r': return buf_append_char(b, '\r');
    case 't': return buf_append_char(b, '\t');
    case 'u':
        if (!tj_read_hex(r, 4, &cp))
            return tj_fail(r, at, "invalid \\u escape");
        /* a high surrogate followed by a low one is one character */
        if (cp >= 0xD800 && cp <= 0xDBFF && r->end - r->pos >= 6 && r->p[r->pos] == '\\' &&
            r->p[r->pos + 1] == 'u') {
            size_t save = r->pos;
            uint32_t lo;
            r->pos += 2;
            if (tj_read_hex(r, 4, &lo) && lo >= 0xDC00 && lo <= 0xDFFF)
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else
                r->pos = save;
        }
        return tj_put_cp(b, cp);
    default:
        break;
    }
    if (!r->lenient)
        return tj_fail(r, at, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
    if (e == '\'')
        return buf_append_char(b, '\'');
    if (e == 'x') {
        if (!tj_read_hex(r, 2, &cp))
            return tj_fail(r, at, "invalid \\x escape");
        return tj_put_cp(b, cp); /* Python's '\xe9' is U+00E9 */
    }
    /* Python keeps an unknown escape as written: back up over the
     * character so it is read normally after the backslash. */
    r->pos--;
    return buf_append_char(b, '\\');
}

/* A string at the cursor (which is on the quote) into v->s / v->n. */
static int tj_string(struct tj_reader *r, struct tool_json *v)
{
    char quote = r->p[r->pos];
    size_t start = r->pos++;
    struct buf b;
    buf_init(&b);
    int rc = 0;
    for (;;) {
        if (r->pos >= r->end) {
            rc = tj_fail(r, start, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)r->p[r->pos];
        if (c == (unsigned char)quote) {
            r->pos++;
            break;
        }
        if (c == '\\') {
            size_t at = r->pos++;
            rc = tj_escape(r, &b, at);
        } else if (c < 0x80) {
            if (c < 0x20 && !r->lenient) {
                rc = tj_fail(r, r->pos, "control character 0x%02x inside a string", c);
                break;
            }
            rc = buf_append_char(&b, (char)c);
            r->pos++;
        } else {
            uint32_t cp;
            int k = utf8_decode(r->p + r->pos, r->end - r->pos, &cp);
            if (k < 0) {
                rc = tj_fail(r, r->pos, "invalid UTF-8");
                break;
            }
            rc = buf_append(&b, r->p + r->pos, (size_t)k);
            r->pos += (size_t)k;
        }
        if (rc)
            break;
    }
    if (rc) {
        buf_release(&b);
        return rc == SMOL_ENOMEM ? err_set(r->err, rc, "json: out of memory reading a string") : rc;
    }
    v->n = b.len;
    v->s = buf_detach(&b); /* "" gets its own NUL-terminated buffer too */
    if (!v->s)
        return err_set(r->err, SMOL_ENOMEM, "json: out of memory reading a string");
    v->type = TOOL_JSON_STRING;
    return 0;
}

/* A number in RFC 8259's grammar, kept as written. */
static int tj_number(struct tj_reader *r, struct tool_json *v)
{
    size_t start = r->pos;
    const char *p = r->p;
    bool is_float = false;
    if (p[r->pos] == '-')
        r->pos++;
    if (r->pos < r->end && p[r->pos] == '0') {
        r->pos++;
    } else if (r->pos < r->end && p[r->pos] >= '1' && p[r->pos] <= '9') {
        while (r->pos < r->end && p[r->pos] >= '0' && p[r->pos] <= '9')
            r->pos++;
    } else {
        return tj_fail(r, start, "invalid number");
    }
    if (r->pos < r->end && p[r->pos] == '.') {
        size_t digits = ++r->pos;
        while (r->pos < r->end && p[r->pos] >= '0' && p[r->pos] <= '9')
            r->pos++;
        if (r->pos == digits)
            return tj_fail(r, start, "invalid number (no digit after '.')");
        is_float = true;
    }
    if (r->pos < r->end && (p[r->pos] == 'e' || p[r->pos] == 'E')) {
        r->pos++;
        if (r->pos < r->end && (p[r->pos] == '+' || p[r->pos] == '-'))
            r->pos++;
        size_t digits = r->pos;
        while (r->pos < r->end && p[r->pos] >= '0' && p[r->pos] <= '9')
            r->pos++;
        if (r->pos == digits)
            return tj_fail(r, start, "invalid number (no digit in the exponent)");
        is_float = true;
    }
    v->s = mem_strndup(p + start, r->pos - start);
    if (!v->s)
        return err_set(r->err, SMOL_ENOMEM, "json: out of memory");
    v->n = r->pos - start;
    v->type = is_float ? TOOL_JSON_FLOAT : TOOL_JSON_INT;
    return 0;
}

static int tj_value(struct tj_reader *r, struct tool_json *v, int depth);

/* Makes room for one more item (two slots for an object member). */
static int tj_grow(struct tj_reader *r, struct tool_json *v, size_t *cap)
{
    size_t per = v->type == TOOL_JSON_OBJECT ? 2 : 1;
    if ((v->n + 1) * per <= *cap)
        return 0;
    uint64_t want = *cap ? (uint64_t)*cap * 2 : 8 * per;
    uint64_t bytes;
    void *p = NULL;
    if (mem_mul(want, sizeof(struct tool_json), &bytes) && bytes <= SIZE_MAX)
        p = realloc(v->items, (size_t)bytes);
    if (!p)
        return err_set(r->err, SMOL_ENOMEM, "json: out of memory for %zu items", v->n + 1);
    v->items = p;
    *cap = (size_t)want;
    return 0;
}

/* An array or object at the cursor (which is on '[' or '{'). On failure
 * everything read so far is released. */
static int tj_container(struct tj_reader *r, struct tool_json *v, int depth)
{
    bool obj = r->p[r->pos] == '{';
    char close = obj ? '}' : ']';
    if (depth >= TOOL_JSON_MAX_DEPTH)
        return tj_fail(r, r->pos, "values nested more than %d deep", TOOL_JSON_MAX_DEPTH);
    v->type = obj ? TOOL_JSON_OBJECT : TOOL_JSON_ARRAY;
    r->pos++;
    size_t cap = 0;
    int rc = 0;
    tj_skip_ws(r);
    if (r->pos < r->end && r->p[r->pos] == close) {
        r->pos++;
        return 0;
    }
    for (;;) {
        if ((rc = tj_grow(r, v, &cap)) != 0)
            break;
        if (obj) {
            struct tool_json *k = &v->items[2 * v->n];
            memset(k, 0, 2 * sizeof(*k));
            tj_skip_ws(r);
            k->at = r->pos;
            if (r->pos >= r->end || !(r->p[r->pos] == '"' || (r->lenient && r->p[r->pos] == '\''))) {
                rc = tj_fail(r, r->pos, "expected a string key");
                break;
            }
            if ((rc = tj_string(r, k)) != 0)
                break;
            tj_skip_ws(r);
            if (r->pos >= r->end || r->p[r->pos] != ':') {
                tool_json_release(k);
                rc = tj_fail(r, r->pos, "expected ':' after the key");
                break;
            }
            r->pos++;
            if ((rc = tj_value(r, k + 1, depth + 1)) != 0) {
                tool_json_release(k);
                break;
            }
        } else if ((rc = tj_value(r, &v->items[v->n], depth + 1)) != 0) {
            break;
        }
        v->n++;
        tj_skip_ws(r);
        if (r->pos >= r->end) {
            rc = tj_fail(r, r->pos, "unexpected end of text, expected ',' or '%c'", close);
            break;
        }
        char c = r->p[r->pos];
        if (c == close) {
            r->pos++;
            return 0;
        }
        if (c != ',') {
            rc = tj_fail(r, r->pos, "expected ',' or '%c'", close);
            break;
        }
        r->pos++;
        if (r->lenient) { /* a trailing comma */
            tj_skip_ws(r);
            if (r->pos < r->end && r->p[r->pos] == close) {
                r->pos++;
                return 0;
            }
        }
    }
    tool_json_release(v);
    return rc;
}

/* The words JSON (and Python, in lenient mode) spell values with. */
static const struct {
    const char *word;
    int type;
    bool lenient_only, strict_only;
} tj_words[] = {
    {"true", TOOL_JSON_TRUE, false, false},
    {"false", TOOL_JSON_FALSE, false, false},
    {"null", TOOL_JSON_NULL, false, false},
    {"True", TOOL_JSON_TRUE, true, false},
    {"False", TOOL_JSON_FALSE, true, false},
    {"None", TOOL_JSON_NULL, true, false},
    /* json.loads accepts these; they could not be written back as JSON */
    {"NaN", TOOL_JSON_FLOAT, false, true},
    {"Infinity", TOOL_JSON_FLOAT, false, true},
    {"-Infinity", TOOL_JSON_FLOAT, false, true},
};

static int tj_value(struct tj_reader *r, struct tool_json *v, int depth)
{
    memset(v, 0, sizeof(*v));
    tj_skip_ws(r);
    v->at = r->pos;
    if (r->pos >= r->end)
        return tj_fail(r, r->pos, "unexpected end of text, expected a value");
    char c = r->p[r->pos];
    if (c == '{' || c == '[')
        return tj_container(r, v, depth);
    if (c == '"' || (c == '\'' && r->lenient))
        return tj_string(r, v);
    for (size_t i = 0; i < ARRAY_SIZE(tj_words); i++) {
        size_t n = strlen(tj_words[i].word);
        if ((tj_words[i].lenient_only && !r->lenient) || (tj_words[i].strict_only && r->lenient))
            continue;
        if (r->end - r->pos >= n && memcmp(r->p + r->pos, tj_words[i].word, n) == 0) {
            v->type = tj_words[i].type;
            if (v->type == TOOL_JSON_FLOAT) {
                if (!(v->s = mem_strndup(tj_words[i].word, n)))
                    return err_set(r->err, SMOL_ENOMEM, "json: out of memory");
                v->n = n;
            }
            r->pos += n;
            return 0;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return tj_number(r, v);
    if (c == '\'')
        return tj_fail(r, r->pos, "single-quoted string (JSON needs double quotes)");
    return tj_fail(r, r->pos, "unexpected character '%c', expected a value",
                   c >= 0x20 && c < 0x7f ? c : '?');
}

/* Parses text[start..end) with absolute offsets. */
static int tj_parse_range(const char *text, size_t start, size_t end, int mode,
                          struct tool_json *out, struct smol_err *err)
{
    struct tj_reader r = {.p = text, .end = end, .pos = start,
                          .lenient = mode == TOOL_JSON_LENIENT, .err = err};
    int rc = tj_value(&r, out, 0);
    if (rc)
        return rc;
    tj_skip_ws(&r);
    if (r.pos < r.end) {
        tool_json_release(out);
        return tj_fail(&r, r.pos, "unexpected text after the value");
    }
    return 0;
}

int tool_json_parse(const char *text, size_t len, int mode, struct tool_json *out,
                    struct smol_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!text && len)
        return err_set(err, SMOL_EINVAL, "json: no text");
    return tj_parse_range(text ? text : "", 0, len, mode, out, err);
}

void tool_json_release(struct tool_json *v)
{
    if (!v)
        return;
    size_t k = v->type == TOOL_JSON_OBJECT ? 2 * v->n : v->type == TOOL_JSON_ARRAY ? v->n : 0;
    for (size_t i = 0; i < k; i++)
        tool_json_release(&v->items[i]);
    free(v->items);
    free(v->s);
    memset(v, 0, sizeof(*v));
}

static bool tj_key_is(const struct tool_json *k, const char *key)
{
    size_t n = strlen(key);
    return k->n == n && memcmp(k->s, key, n) == 0;
}

const struct tool_json *tool_json_get(const struct tool_json *obj, const char *key)
{
    if (!obj || obj->type != TOOL_JSON_OBJECT)
        return NULL;
    for (size_t i = obj->n; i-- > 0;)
        if (tj_key_is(&obj->items[2 * i], key))
            return &obj->items[2 * i + 1];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Python's dict order                                                 */
/* ------------------------------------------------------------------ */

struct tj_key {
    const char *s;
    size_t n, i;
};

static int tj_key_cmp(const void *pa, const void *pb)
{
    const struct tj_key *a = pa, *b = pb;
    int c = memcmp(a->s, b->s, MIN(a->n, b->n));
    if (c)
        return c;
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* For each member i of obj: which member's value a Python dict built from
 * it shows at that position (the last with the same key), or SIZE_MAX
 * for a repeated key, which takes no position of its own. *order is NULL
 * (identity) when no key repeats; otherwise malloc'd [obj->n]. Sorting
 * keeps this O(n log n) for hostile inputs. */
static int tj_dict_order(const struct tool_json *obj, size_t **order)
{
    *order = NULL;
    if (obj->n < 2)
        return 0;
    struct tj_key *keys = mem_alloc_array(obj->n, sizeof(*keys));
    if (!keys)
        return SMOL_ENOMEM;
    for (size_t i = 0; i < obj->n; i++)
        keys[i] = (struct tj_key){obj->items[2 * i].s, obj->items[2 * i].n, i};
    qsort(keys, obj->n, sizeof(*keys), tj_key_cmp);
    size_t *ord = NULL;
    for (size_t a = 0, b; a < obj->n; a = b) {
        for (b = a + 1; b < obj->n && keys[b].n == keys[a].n &&
                        memcmp(keys[b].s, keys[a].s, keys[a].n) == 0;)
            b++;
        if (b - a == 1)
            continue;
        if (!ord) {
            if (!(ord = mem_alloc_array(obj->n, sizeof(*ord)))) {
                free(keys);
                return SMOL_ENOMEM;
            }
            for (size_t i = 0; i < obj->n; i++)
                ord[i] = i;
        }
        ord[keys[a].i] = keys[b - 1].i;
        for (size_t j = a + 1; j < b; j++)
            ord[keys[j].i] = SIZE_MAX;
    }
    free(keys);
    *order = ord;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writing: Python's str() and repr()                                  */
/* ------------------------------------------------------------------ */

/* Decodes one character of a reader-produced string, surrogates too. */
static int tj_decode(const char *s, size_t n, uint32_t *cp)
{
    int k = utf8_decode(s, n, cp);
    if (k > 0)
        return k;
    const unsigned char *u = (const unsigned char *)s;
    if (n >= 3 && u[0] == 0xED && u[1] >= 0xA0 && u[1] <= 0xBF && (u[2] & 0xC0) == 0x80) {
        *cp = 0xD000 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
        return 3;
    }
    return -1;
}

/* Python's str.isprintable() for one character: everything but the
 * categories Cc Cf Cs Co Cn Zl Zp Zs, except the ASCII space. */
static bool tj_py_printable(uint32_t cp)
{
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return false;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return false;
    case UTF8PROC_CATEGORY_ZS:
        return cp == ' ';
    default:
        return true;
    }
}

/* repr() of a str: single quotes unless the text holds a ' and no ",
 * backslash escapes for the quote, \, \t \n \r, \xNN for other ASCII
 * controls and for unprintable characters up to U+00FF, \uNNNN and
 * \UNNNNNNNN above. */
static int tj_repr_string(struct buf *b, const char *s, size_t n)
{
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    int rc = buf_append_char(b, q);
    for (size_t i = 0; i < n && rc == 0;) {
        unsigned char c = (unsigned char)s[i];
        if (c == (unsigned char)q || c == '\\') {
            rc = buf_append_char(b, '\\') || buf_append_char(b, (char)c) ? SMOL_ENOMEM : 0;
        } else if (c == '\t' || c == '\n' || c == '\r') {
            rc = buf_append_str(b, c == '\t' ? "\\t" : c == '\n' ? "\\n" : "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            rc = buf_appendf(b, "\\x%02x", c);
        } else if (c < 0x80) {
            rc = buf_append_char(b, (char)c);
        } else {
            uint32_t cp;
            int k = tj_decode(s + i, n - i, &cp);
            if (k < 0) { /* not from the reader; show the byte */
                rc = buf_appendf(b, "\\x%02x", c);
                i++;
                continue;
            }
            if (tj_py_printable(cp))
                rc = buf_append(b, s + i, (size_t)k);
            else if (cp <= 0xFF)
                rc = buf_appendf(b, "\\x%02x", (unsigned)cp);
            else if (cp <= 0xFFFF)
                rc = buf_appendf(b, "\\u%04x", (unsigned)cp);
            else
                rc = buf_appendf(b, "\\U%08x", (unsigned)cp);
            i += (size_t)k;
            continue;
        }
        i++;
    }
    return rc ? rc : buf_append_char(b, q);
}

/*
 * repr() of a float: the shortest digits that read back to the same
 * double (the first precision whose correctly rounded %e output round-
 * trips), laid out as Python's float_repr_style 'short' does: with
 * value 0.DIGITS x 10^decpt, positional when -4 < decpt <= 16 (always
 * with a fraction: 1.0, 100.0), else d.ddde+XX (1e-07, 1e+100).
 */
static int tj_repr_float(struct buf *b, const char *text)
{
    double x = strtod(text, NULL);
    if (isnan(x))
        return buf_append_str(b, "nan");
    if (isinf(x))
        return buf_append_str(b, x < 0 ? "-inf" : "inf");
    if (x == 0)
        return buf_append_str(b, signbit(x) ? "-0.0" : "0.0");
    char tmp[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    char digits[24];
    int nd = 0;
    const char *p = tmp + (tmp[0] == '-');
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < (int)sizeof(digits) - 1)
            digits[nd++] = *p;
    int exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int decpt = exp10 + 1;
    int rc = x < 0 ? buf_append_char(b, '-') : 0;
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            rc |= buf_append_str(b, "0.");
            for (int i = 0; i < -decpt; i++)
                rc |= buf_append_char(b, '0');
            rc |= buf_append(b, digits, (size_t)nd);
        } else if (decpt >= nd) {
            rc |= buf_append(b, digits, (size_t)nd);
            for (int i = nd; i < decpt; i++)
                rc |= buf_append_char(b, '0');
            rc |= buf_append_str(b, ".0");
        } else {
            rc |= buf_append(b, digits, (size_t)decpt);
            rc |= buf_append_char(b, '.');
            rc |= buf_append(b, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        rc |= buf_append_char(b, digits[0]);
        if (nd > 1) {
            rc |= buf_append_char(b, '.');
            rc |= buf_append(b, digits + 1, (size_t)(nd - 1));
        }
        rc |= buf_appendf(b, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    }
    return rc ? SMOL_ENOMEM : 0;
}

/* An int as Python prints it: the digits as written, but never "-0". */
static int tj_write_int(struct buf *b, const struct tool_json *v)
{
    if (v->n == 2 && v->s[0] == '-' && v->s[1] == '0')
        return buf_append_char(b, '0');
    return buf_append(b, v->s, v->n);
}

static int tj_repr(struct buf *b, const struct tool_json *v)
{
    int rc = 0;
    switch (v->type) {
    case TOOL_JSON_NULL: return buf_append_str(b, "None");
    case TOOL_JSON_FALSE: return buf_append_str(b, "False");
    case TOOL_JSON_TRUE: return buf_append_str(b, "True");
    case TOOL_JSON_INT: return tj_write_int(b, v);
    case TOOL_JSON_FLOAT: return tj_repr_float(b, v->s);
    case TOOL_JSON_STRING: return tj_repr_string(b, v->s, v->n);
    case TOOL_JSON_ARRAY:
        rc = buf_append_char(b, '[');
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            if (i)
                rc = buf_append_str(b, ", ");
            rc = rc ? rc : tj_repr(b, &v->items[i]);
        }
        return rc ? rc : buf_append_char(b, ']');
    case TOOL_JSON_OBJECT: {
        size_t *ord;
        if ((rc = tj_dict_order(v, &ord)) != 0)
            return rc;
        rc = buf_append_char(b, '{');
        bool first = true;
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            size_t val = ord ? ord[i] : i;
            if (val == SIZE_MAX)
                continue;
            if (!first)
                rc = buf_append_str(b, ", ");
            first = false;
            rc = rc ? rc : tj_repr_string(b, v->items[2 * i].s, v->items[2 * i].n);
            rc = rc ? rc : buf_append_str(b, ": ");
            rc = rc ? rc : tj_repr(b, &v->items[2 * val + 1]);
        }
        free(ord);
        return rc ? rc : buf_append_char(b, '}');
    }
    default:
        return SMOL_EINVAL;
    }
}

int tool_json_write_str(struct buf *b, const struct tool_json *v)
{
    /* str() of a str is the text itself; everything else is its repr */
    if (v->type == TOOL_JSON_STRING)
        return buf_append(b, v->s, v->n);
    return tj_repr(b, v);
}

/* ------------------------------------------------------------------ */
/* Writing: JSON                                                       */
/* ------------------------------------------------------------------ */

int tool_json_write_string(struct buf *b, const char *s, size_t n)
{
    int rc = buf_append_char(b, '"');
    for (size_t i = 0; i < n && rc == 0;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        if (esc) {
            rc = buf_append_str(b, esc);
        } else if (c < 0x20) {
            rc = buf_appendf(b, "\\u%04x", c);
        } else if (c >= 0x80) {
            uint32_t cp;
            int k = tj_decode(s + i, n - i, &cp);
            if (k == 3 && cp >= 0xD800 && cp <= 0xDFFF) { /* keep the output valid UTF-8 */
                rc = buf_appendf(b, "\\u%04x", (unsigned)cp);
                i += 3;
                continue;
            }
            rc = buf_append_char(b, (char)c);
        } else {
            rc = buf_append_char(b, (char)c);
        }
        i++;
    }
    return rc ? rc : buf_append_char(b, '"');
}

int tool_json_write_json(struct buf *b, const struct tool_json *v)
{
    int rc = 0;
    switch (v->type) {
    case TOOL_JSON_NULL: return buf_append_str(b, "null");
    case TOOL_JSON_FALSE: return buf_append_str(b, "false");
    case TOOL_JSON_TRUE: return buf_append_str(b, "true");
    case TOOL_JSON_INT:
    case TOOL_JSON_FLOAT: return buf_append(b, v->s, v->n);
    case TOOL_JSON_STRING: return tool_json_write_string(b, v->s, v->n);
    case TOOL_JSON_ARRAY:
        rc = buf_append_char(b, '[');
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            if (i)
                rc = buf_append_str(b, ", ");
            rc = rc ? rc : tool_json_write_json(b, &v->items[i]);
        }
        return rc ? rc : buf_append_char(b, ']');
    case TOOL_JSON_OBJECT: {
        size_t *ord;
        if ((rc = tj_dict_order(v, &ord)) != 0)
            return rc;
        rc = buf_append_char(b, '{');
        bool first = true;
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            size_t val = ord ? ord[i] : i;
            if (val == SIZE_MAX)
                continue;
            if (!first)
                rc = buf_append_str(b, ", ");
            first = false;
            rc = rc ? rc : tool_json_write_string(b, v->items[2 * i].s, v->items[2 * i].n);
            rc = rc ? rc : buf_append_str(b, ": ");
            rc = rc ? rc : tool_json_write_json(b, &v->items[2 * val + 1]);
        }
        free(ord);
        return rc ? rc : buf_append_char(b, '}');
    }
    default:
        return SMOL_EINVAL;
    }
}

/* ------------------------------------------------------------------ */
/* Tool calls                                                          */
/* ------------------------------------------------------------------ */

static const char *tj_type_name(int type)
{
    switch (type) {
    case TOOL_JSON_NULL: return "null";
    case TOOL_JSON_FALSE: case TOOL_JSON_TRUE: return "a boolean";
    case TOOL_JSON_INT: case TOOL_JSON_FLOAT: return "a number";
    case TOOL_JSON_STRING: return "a string";
    case TOOL_JSON_ARRAY: return "an array";
    default: return "an object";
    }
}

static bool tc_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The arguments value as JSON text into out: an object as is, a string
 * that holds an object (models and clients both do this), or {} for
 * nothing. */
static int tc_arguments(const struct tool_json *args, struct buf *out, struct smol_err *err)
{
    if (!args || args->type == TOOL_JSON_NULL)
        return buf_append_str(out, "{}") ? err_set(err, SMOL_ENOMEM, "tool call: out of memory") : 0;
    if (args->type == TOOL_JSON_OBJECT)
        return tool_json_write_json(out, args) ? err_set(err, SMOL_ENOMEM, "tool call: out of memory")
                                               : 0;
    if (args->type != TOOL_JSON_STRING)
        return err_set(err, SMOL_EFORMAT,
                       "tool call: \"arguments\" at offset %zu is %s, expected an object", args->at,
                       tj_type_name(args->type));
    size_t a = 0, z = args->n;
    while (a < z && tc_space(args->s[a]))
        a++;
    while (z > a && tc_space(args->s[z - 1]))
        z--;
    if (a == z)
        return buf_append_str(out, "{}") ? err_set(err, SMOL_ENOMEM, "tool call: out of memory") : 0;
    struct smol_err inner = {0};
    struct tool_json v;
    int rc = tj_parse_range(args->s, a, z, TOOL_JSON_LENIENT, &v, &inner);
    if (rc == SMOL_ENOMEM)
        return err_set(err, rc, "tool call: out of memory");
    if (rc == 0 && v.type != TOOL_JSON_OBJECT)
        rc = err_set(&inner, SMOL_EFORMAT, "it holds %s", tj_type_name(v.type));
    if (rc == 0)
        rc = tool_json_write_json(out, &v) ? err_set(err, SMOL_ENOMEM, "tool call: out of memory") : 0;
    else
        rc = err_set(err, SMOL_EFORMAT,
                     "tool call: the \"arguments\" string at offset %zu is not a JSON object (%s)",
                     args->at, inner.msg);
    tool_json_release(&v);
    return rc;
}

int tool_call_parse(const char *text, size_t len, char **name, char **arguments_json,
                    struct smol_err *err)
{
    static const char open_tag[] = "<tool_call>", close_tag[] = "</tool_call>";
    const size_t n_open = sizeof(open_tag) - 1, n_close = sizeof(close_tag) - 1;
    *name = NULL;
    *arguments_json = NULL;
    if (!text && len)
        return err_set(err, SMOL_EINVAL, "tool call: no text");
    if (!text)
        text = "";
    size_t a = 0, z = len;
    while (a < z && tc_space(text[a]))
        a++;
    if (z - a >= n_open && memcmp(text + a, open_tag, n_open) == 0)
        a += n_open;
    /* the closing tag ends the JSON; after it only whitespace may come */
    const char *close = memmem(text + a, z - a, close_tag, n_close);
    if (close) {
        for (size_t i = (size_t)(close - text) + n_close; i < len; i++)
            if (!tc_space(text[i]))
                return err_set(err, SMOL_EFORMAT,
                               "tool call: unexpected text after </tool_call> at offset %zu", i);
        z = (size_t)(close - text);
    }
    size_t body = a;
    while (body < z && tc_space(text[body]))
        body++;
    if (body == z)
        return err_set(err, SMOL_EFORMAT, "tool call: no JSON object at offset %zu", a);

    struct tool_json root;
    int rc = tj_parse_range(text, a, z, TOOL_JSON_LENIENT, &root, err);
    if (rc)
        return rc;
    struct buf args;
    buf_init(&args);
    const struct tool_json *obj = &root, *fn = tool_json_get(&root, "function");
    if (root.type != TOOL_JSON_OBJECT) {
        rc = err_set(err, SMOL_EFORMAT, "tool call: expected a JSON object at offset %zu, found %s",
                     root.at, tj_type_name(root.type));
        goto out;
    }
    /* OpenAI's shape, {"type": "function", "function": {...}} */
    if (!tool_json_get(obj, "name") && fn && fn->type == TOOL_JSON_OBJECT)
        obj = fn;
    const struct tool_json *nm = tool_json_get(obj, "name");
    if (!nm || nm->type != TOOL_JSON_STRING || nm->n == 0 || memchr(nm->s, '\0', nm->n)) {
        rc = err_set(err, SMOL_EFORMAT,
                     "tool call: the object at offset %zu has no \"name\" string", obj->at);
        goto out;
    }
    const struct tool_json *av = tool_json_get(obj, "arguments");
    if (!av)
        av = tool_json_get(obj, "parameters");
    if ((rc = tc_arguments(av, &args, err)) != 0)
        goto out;
    *name = mem_strndup(nm->s, nm->n);
    *arguments_json = buf_detach(&args);
    if (!*name || !*arguments_json) {
        free(*name);
        free(*arguments_json);
        *name = *arguments_json = NULL;
        rc = err_set(err, SMOL_ENOMEM, "tool call: out of memory");
    }
out:
    buf_release(&args);
    tool_json_release(&root);
    return rc;
}

int smol_tool_call_parse(const char *text, size_t len, char **name, char **arguments_json,
                         struct smol_err *err)
{
    if (!name || !arguments_json)
        return err_set(err, SMOL_EINVAL, "tool call: no place for the result");
    return tool_call_parse(text, len, name, arguments_json, err);
}
