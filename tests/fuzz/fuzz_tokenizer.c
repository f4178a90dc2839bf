/*
 * fuzz_tokenizer.c: the tokenizer on arbitrary bytes, with and without
 * special-token parsing, against the real SmolLM3 vocabulary when the
 * fixtures are there (else the synthetic one: fuzzutil.h).
 *
 * Input: byte 0 chooses the flags (bit 0: TOKENIZER_PARSE_SPECIAL) and a
 * short output buffer size (the high bits); the rest is the text.
 *
 * What must hold for every input (tokenizer.h's contract):
 *   - encoding never fails (any bytes can be encoded) and needs at most
 *     one id per byte;
 *   - the ids' bytes concatenate back to the input exactly;
 *   - a short buffer gets the same count and a prefix of the same ids;
 *   - without special parsing no CONTROL token appears;
 *   - the streaming decoder gives back the input exactly when it is
 *     valid UTF-8, and valid UTF-8 (U+FFFD for bad bytes) otherwise;
 *   - with special parsing and up to 4 literal spans cut from the input
 *     (tokenizer_encode_spans, as chat prompts are tokenized): the ids
 *     still give back the input, no CONTROL token covers a byte of a
 *     span, there are no more CONTROL tokens than without spans, and
 *     when no CONTROL token of the plain encoding touches a span the ids
 *     are the plain ones exactly.
 */
#include "fuzzutil.h"

#include "model.h"
#include "tokenizer.h"
#include "utf8.h"

#include <string.h>

static const struct tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tok = fuzz_vocab_model()->tok;
    return 0;
}

/* Decodes ids with the streaming decoder into a malloc'd buffer. */
static char *stream_decode(const int32_t *ids, int n, size_t *len)
{
    const size_t room = 3 * tokenizer_max_token_len(tok) + 8;
    size_t cap = (size_t)n * room + 8, pos = 0;
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL, "out of memory");
    struct tokenizer_stream st;
    tokenizer_stream_init(&st);
    for (int i = 0; i < n; i++) {
        int w = tokenizer_stream_push(tok, &st, ids[i], out + pos, room);
        FUZZ_CHECK(w >= 0, "stream_push of id %d gave %d", ids[i], w);
        pos += (size_t)w;
    }
    int w = tokenizer_stream_flush(&st, out + pos, 3);
    FUZZ_CHECK(w == 0 || w == 3, "stream_flush gave %d", w);
    *len = pos + (size_t)w;
    return out;
}

/* Whether [a, b) shares a byte with a non-empty span. */
static bool touches_span(size_t a, size_t b, const struct smol_span *sp, int n)
{
    for (int i = 0; i < n; i++)
        if (sp[i].start < sp[i].end && a < sp[i].end && sp[i].start < b)
            return true;
    return false;
}

/* The span checks for text whose plain special encoding is ids[0..n). */
static void check_spans(const char *text, size_t len, const int32_t *ids, int n)
{
    /* boundaries from the text's first bytes, sorted: up to 4 spans */
    size_t cut[8];
    int n_cut = 0;
    for (size_t i = 0; i + 1 < len && n_cut < 8; i += 2)
        cut[n_cut++] = ((size_t)(uint8_t)text[i] * 257u + (uint8_t)text[i + 1]) % (len + 1);
    for (int i = 1; i < n_cut; i++)
        for (int j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
            size_t t = cut[j];
            cut[j] = cut[j - 1];
            cut[j - 1] = t;
        }
    struct smol_span sp[4];
    const int n_sp = n_cut / 2;
    for (int i = 0; i < n_sp; i++)
        sp[i] = (struct smol_span){cut[2 * i], cut[2 * i + 1]};

    int m = tokenizer_encode_spans(tok, text, len, TOKENIZER_PARSE_SPECIAL, sp, n_sp, NULL, 0);
    FUZZ_CHECK(m >= 0 && (size_t)m <= len, "encode_spans gave %d for %zu bytes", m, len);
    int32_t *lit = malloc(((size_t)m + 1) * sizeof(*lit));
    FUZZ_CHECK(lit != NULL, "out of memory");
    FUZZ_CHECK(tokenizer_encode_spans(tok, text, len, TOKENIZER_PARSE_SPECIAL, sp, n_sp, lit, m) == m,
               "encode_spans count changed");
    size_t pos = 0;
    int ctl_lit = 0, ctl_plain = 0;
    bool plain_touches = false;
    for (int i = 0; i < m; i++) {
        size_t tl;
        const char *tb = tokenizer_token_bytes(tok, lit[i], &tl);
        FUZZ_CHECK(tb && pos + tl <= len && memcmp(text + pos, tb, tl) == 0,
                   "span encoding: id %d (token %d) does not match the input at byte %zu", lit[i],
                   i, pos);
        if (tokenizer_token_type(tok, lit[i]) == TOKEN_TYPE_CONTROL) {
            ctl_lit++;
            FUZZ_CHECK(!touches_span(pos, pos + tl, sp, n_sp),
                       "control token %d at [%zu, %zu) covers a literal span", lit[i], pos, pos + tl);
        }
        pos += tl;
    }
    FUZZ_CHECK(pos == len, "span encoding covers %zu of %zu bytes", pos, len);
    pos = 0;
    for (int i = 0; i < n; i++) {
        size_t tl;
        tokenizer_token_bytes(tok, ids[i], &tl);
        if (tokenizer_token_type(tok, ids[i]) == TOKEN_TYPE_CONTROL) {
            ctl_plain++;
            plain_touches |= touches_span(pos, pos + tl, sp, n_sp);
        }
        pos += tl;
    }
    FUZZ_CHECK(ctl_lit <= ctl_plain, "%d control tokens with spans, %d without", ctl_lit, ctl_plain);
    if (!plain_touches)
        FUZZ_CHECK(m == n && memcmp(lit, ids, (size_t)n * sizeof(*ids)) == 0,
                   "no control token touches a span, yet the ids differ");
    free(lit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int flags = (data[0] & 1) ? TOKENIZER_PARSE_SPECIAL : 0;
    const int short_cap = data[0] >> 1;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;

    int n = tokenizer_encode(tok, text, len, flags, NULL, 0);
    FUZZ_CHECK(n >= 0, "encode failed with %d on %zu bytes", n, len);
    FUZZ_CHECK((size_t)n <= len, "%d ids for %zu bytes", n, len);
    int32_t *ids = malloc(((size_t)n + 1) * sizeof(*ids));
    FUZZ_CHECK(ids != NULL, "out of memory");
    FUZZ_CHECK(tokenizer_encode(tok, text, len, flags, ids, n) == n, "count changed");

    /* the ids' bytes are the input, byte for byte */
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        size_t tl;
        const char *tb = tokenizer_token_bytes(tok, ids[i], &tl);
        FUZZ_CHECK(tb != NULL, "id %d out of range", ids[i]);
        FUZZ_CHECK(tl > 0, "id %d has no bytes", ids[i]);
        FUZZ_CHECK(pos + tl <= len && memcmp(text + pos, tb, tl) == 0,
                   "id %d (token %d) does not match the input at byte %zu", ids[i], i, pos);
        if (!flags)
            FUZZ_CHECK(tokenizer_token_type(tok, ids[i]) != TOKEN_TYPE_CONTROL,
                       "control token %d without special parsing", ids[i]);
        pos += tl;
    }
    FUZZ_CHECK(pos == len, "the ids cover %zu of %zu bytes", pos, len);

    /* a short buffer: same count, same prefix */
    if (short_cap < n) {
        int32_t part[128];
        FUZZ_CHECK(tokenizer_encode(tok, text, len, flags, part, short_cap) == n,
                   "count differs with cap %d", short_cap);
        FUZZ_CHECK(memcmp(part, ids, (size_t)short_cap * sizeof(*ids)) == 0,
                   "prefix differs with cap %d", short_cap);
    }

    if (flags)
        check_spans(text, len, ids, n);

    /* the streaming decoder */
    size_t dlen;
    char *dec = stream_decode(ids, n, &dlen);
    if (utf8_valid(text, len, NULL))
        FUZZ_CHECK(dlen == len && memcmp(dec, text, len) == 0,
                   "stream decode of valid UTF-8 differs (%zu vs %zu bytes)", dlen, len);
    else
        FUZZ_CHECK(utf8_valid(dec, dlen, NULL), "stream decode is not valid UTF-8");
    free(dec);
    free(ids);
    return 0;
}
