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
 *     valid UTF-8, and valid UTF-8 (U+FFFD for bad bytes) otherwise.
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
