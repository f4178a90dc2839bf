/*
 * test_tokenizer_parity.c: our tokenizer against the reference ids.
 *
 * - tokenizer/cases.jsonl: 105 texts with Hugging Face's ids for the
 *   full SmolLM3 vocabulary (vocab-smollm3.gguf), each with its
 *   parse_special flag. Every case must match exactly.
 * - tiny-f32.ref.json: the chat renders tokenized with the reduced
 *   2,304-token vocabulary of the tiny models.
 * - chat/llamacpp-renders.json: the same renders with the full vocabulary.
 * - decoding: token bytes, and the streaming decoder, give back the
 *   original text byte for byte.
 */
#include "testutil.h"

#include "gguf.h"
#include "tokenizer.h"
#include "utf8.h"

#include <cJSON.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Opens a fixture GGUF and builds its tokenizer; fails the test on error. */
static struct tokenizer *load_fixture(const char *rel, double *seconds)
{
    const char *path = test_fixture(rel);
    assert_non_null(path);
    struct smol_err err;
    err_clear(&err);
    struct gguf_file *f = NULL;
    int rc = gguf_open(&f, path, &err);
    if (rc)
        fail_msg("gguf_open %s: %s", path, err.msg);
    struct tokenizer *t = NULL;
    double t0 = now_s();
    rc = tokenizer_load(&t, f, &err);
    double dt = now_s() - t0;
    if (seconds)
        *seconds = dt;
    gguf_close(f); /* the tokenizer copies what it needs */
    if (rc)
        fail_msg("tokenizer_load %s: %s", path, err.msg);
    return t;
}

/* ---- a JSON string decoder that keeps NUL bytes ---------------------- */

/* cJSON hands out NUL-terminated strings, so a "\u0000" inside a text
 * would cut it short. This decodes the JSON string starting at the
 * opening quote *p into a malloc'd buffer and sets *len. */
static char *json_string_at(const char *p, size_t *len)
{
    if (*p != '"')
        return NULL;
    size_t cap = strlen(p) + 1, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        p++;
        uint32_t cp;
        switch (*p) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u':
            if (sscanf(p + 1, "%4x", &cp) != 1)
                goto bad;
            p += 4;
            /* a high surrogate is followed by \uDC00..DFFF */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (p[1] != '\\' || p[2] != 'u' ||
                    sscanf(p + 3, "%4x", &lo) != 1)
                    goto bad;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            n += (size_t)utf8_encode(cp, out + n);
            break;
        default: out[n++] = *p; break; /* \" \\ \/ */
        }
    }
    if (*p != '"')
        goto bad;
    out[n] = '\0';
    *len = n;
    return out;
bad:
    free(out);
    return NULL;
}

/* The raw value of "key" in a one-line JSON object whose first key it
 * is (as in cases.jsonl), decoded with json_string_at. */
static char *json_first_key_string(const char *line, const char *key,
                                   size_t *len)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "{\"%s\":", key);
    if (strncmp(line, pat, strlen(pat)) != 0)
        return NULL;
    const char *p = line + strlen(pat);
    while (*p == ' ')
        p++;
    return json_string_at(p, len);
}

/* ---- the cases ------------------------------------------------------- */

struct tcase {
    char *text;
    size_t len;
    int32_t *ids;
    int n_ids;
    bool parse_special;
};

struct cases {
    struct tcase *c;
    int n;
};

static void cases_free(struct cases *cs)
{
    for (int i = 0; i < cs->n; i++) {
        free(cs->c[i].text);
        free(cs->c[i].ids);
    }
    free(cs->c);
}

static int32_t *json_ids(const cJSON *arr, int *n)
{
    assert_true(cJSON_IsArray(arr));
    *n = cJSON_GetArraySize(arr);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n + 1));
    assert_non_null(ids);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        assert_true(cJSON_IsNumber(v));
        ids[i++] = (int32_t)v->valuedouble;
    }
    return ids;
}

static void cases_read(struct cases *cs)
{
    size_t size;
    char *data = test_read_file(test_fixture("tokenizer/cases.jsonl"), &size);
    assert_non_null(data);
    cs->c = NULL;
    cs->n = 0;
    int cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        if (cs->n == cap) {
            cap = cap ? 2 * cap : 128;
            cs->c = realloc(cs->c, sizeof(*cs->c) * (size_t)cap);
            assert_non_null(cs->c);
        }
        struct tcase *c = &cs->c[cs->n++];
        c->text = json_first_key_string(line, "text", &c->len);
        assert_non_null(c->text);
        /* our decoder and cJSON agree up to the first NUL */
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "text");
        assert_true(cJSON_IsString(jt));
        assert_string_equal(jt->valuestring, c->text);
        c->ids = json_ids(cJSON_GetObjectItemCaseSensitive(j, "ids"),
                          &c->n_ids);
        c->parse_special = cJSON_IsTrue(
            cJSON_GetObjectItemCaseSensitive(j, "parse_special"));
        cJSON_Delete(j);
    }
    free(data);
}

/* ---- shared state: the full vocabulary, loaded once ------------------ */

static struct tokenizer *full;
static struct cases cases;

static int setup(void **state)
{
    (void)state;
    if (!test_fixtures_dir())
        return 0;
    double dt;
    full = load_fixture("vocab-smollm3.gguf", &dt);
    fprintf(stderr, "tokenizer: vocab-smollm3.gguf loaded in %.1f ms\n",
            dt * 1e3);
    cases_read(&cases);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tokenizer_free(full);
    cases_free(&cases);
    return 0;
}

static void print_ids(const char *what, const int32_t *ids, int n)
{
    fprintf(stderr, "  %s (%d):", what, n);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* Encodes text and compares with want; prints the difference. */
static bool encode_matches(const struct tokenizer *t, const char *text,
                           size_t len, int flags, const int32_t *want,
                           int n_want, const char *name)
{
    int cap = n_want + 64;
    int32_t *got = malloc(sizeof(int32_t) * (size_t)cap);
    assert_non_null(got);
    int n = tokenizer_encode(t, text, len, flags, got, cap);
    bool ok = n == n_want &&
              memcmp(got, want, sizeof(int32_t) * (size_t)n) == 0;
    if (!ok) {
        fprintf(stderr, "MISMATCH %s: %.*s\n", name, (int)MIN(len, 200), text);
        print_ids("want", want, n_want);
        print_ids("got ", got, MIN(n, cap));
    }
    free(got);
    return ok;
}

static void test_cases_match_hf(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    assert_int_equal(cases.n, 105);
    int ok = 0;
    for (int i = 0; i < cases.n; i++) {
        const struct tcase *c = &cases.c[i];
        char name[32];
        snprintf(name, sizeof(name), "case %d", i);
        ok += encode_matches(full, c->text, c->len,
                             c->parse_special ? TOKENIZER_PARSE_SPECIAL : 0,
                             c->ids, c->n_ids, name);
    }
    fprintf(stderr, "tokenizer: %d of %d cases match Hugging Face\n", ok,
            cases.n);
    assert_int_equal(ok, cases.n);
}

/* Every case decodes back to its text: through the token bytes, and
 * through the streaming decoder, whose every chunk is valid UTF-8 (the
 * texts are valid UTF-8). */
static void test_cases_round_trip(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    size_t cap = 3 * tokenizer_max_token_len(full) + 8;
    char *chunk = malloc(cap);
    assert_non_null(chunk);
    for (int i = 0; i < cases.n; i++) {
        const struct tcase *c = &cases.c[i];
        for (int flags = 0; flags <= TOKENIZER_PARSE_SPECIAL; flags++) {
            int n = tokenizer_encode(full, c->text, c->len, flags, NULL, 0);
            assert_true(n >= 0);
            int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n + 1));
            assert_non_null(ids);
            assert_int_equal(tokenizer_encode(full, c->text, c->len, flags,
                                              ids, n), n);
            char *joined = malloc(c->len + 1), *streamed = malloc(c->len + 1);
            assert_non_null(joined);
            assert_non_null(streamed);
            size_t nj = 0, ns = 0;
            struct tokenizer_stream st;
            tokenizer_stream_init(&st);
            for (int k = 0; k < n; k++) {
                size_t len;
                const char *b = tokenizer_token_bytes(full, ids[k], &len);
                assert_non_null(b);
                assert_true(nj + len <= c->len);
                memcpy(joined + nj, b, len);
                nj += len;
                int w = tokenizer_stream_push(full, &st, ids[k], chunk, cap);
                assert_true(w >= 0);
                assert_true(utf8_valid(chunk, (size_t)w, NULL));
                assert_true(ns + (size_t)w <= c->len);
                memcpy(streamed + ns, chunk, (size_t)w);
                ns += (size_t)w;
            }
            assert_int_equal(tokenizer_stream_flush(&st, chunk, cap), 0);
            assert_int_equal(nj, c->len);
            assert_memory_equal(joined, c->text, c->len);
            assert_int_equal(ns, c->len);
            assert_memory_equal(streamed, c->text, c->len);
            free(joined);
            free(streamed);
            free(ids);
        }
    }
    free(chunk);
}

/* Random byte strings, valid UTF-8 or not, built from pieces that stress
 * the pre-tokenizer and the added-token splitter: the token bytes always
 * give back the input exactly. */
static void test_random_round_trip(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    static const char *const pieces[] = {
        "a", "Z", "\xc3\xa9", "\xe4\xbd\xa0", "\xf0\x9f\x98\x80", "7", "\xc2\xb2",
        " ", "  ", "\t", "\n", "\r\n", "\xc2\xa0", "\xe3\x80\x80", "'", "'s",
        "\xe2\x80\x99", "!", "<", ">", "<|im_start|>", "<think>", "<|im_end",
        "\xff", "\x80", "\xe2\x82", "\xf0\x9f", "\xed\xa0\x80", "\0", "hello",
    };
    uint64_t rng = 20260701;
    char text[24 * 16]; /* 24 pieces of at most 12 bytes */
    int32_t ids[24 * 16];
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0;
        int n_pieces = (int)(test_rand_u64(&rng) % 24);
        for (int k = 0; k < n_pieces; k++) {
            const char *p = pieces[test_rand_u64(&rng) % ARRAY_SIZE(pieces)];
            size_t n = p[0] ? strlen(p) : 1; /* "\0" is one NUL byte */
            memcpy(text + len, p, n);
            len += n;
        }
        int flags = (int)(test_rand_u64(&rng) & 1);
        int n = tokenizer_encode(full, text, len, flags, ids,
                                 (int)ARRAY_SIZE(ids));
        assert_true(n >= 0 && n <= (int)len);
        size_t total = 0;
        for (int i = 0; i < n; i++) {
            size_t tl;
            const char *b = tokenizer_token_bytes(full, ids[i], &tl);
            assert_non_null(b);
            assert_true(total + tl <= len);
            assert_memory_equal(b, text + total, tl);
            total += tl;
        }
        assert_int_equal(total, len);
    }
}

/* Asking with a small buffer returns the full count and writes no more
 * than cap ids. */
static void test_encode_cap(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    const struct tcase *c = &cases.c[2]; /* the SmolLM3 sentence, 34 ids */
    assert_true(c->n_ids > 10);
    assert_int_equal(tokenizer_encode(full, c->text, c->len,
                                      TOKENIZER_PARSE_SPECIAL, NULL, 0),
                     c->n_ids);
    int32_t buf[12];
    for (int i = 0; i < 12; i++)
        buf[i] = -7;
    assert_int_equal(tokenizer_encode(full, c->text, c->len,
                                      TOKENIZER_PARSE_SPECIAL, buf, 10),
                     c->n_ids);
    assert_memory_equal(buf, c->ids, 10 * sizeof(int32_t));
    assert_int_equal(buf[10], -7);
    assert_int_equal(buf[11], -7);
}

/* The special ids, the end-of-generation set, and special_tokens.tsv. */
static void test_special_tokens(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    assert_int_equal(tokenizer_n_vocab(full), 128256);
    assert_int_equal(tokenizer_bos(full), 128000);
    assert_int_equal(tokenizer_eos(full), 128012);
    assert_int_equal(tokenizer_pad(full), 128012);
    /* llama.cpp's end-of-generation set for this vocabulary */
    const int32_t eog[] = {128001, 128008, 128009, 128012};
    for (size_t i = 0; i < ARRAY_SIZE(eog); i++)
        assert_true(tokenizer_is_eog(full, eog[i]));
    const int32_t not_eog[] = {0, 13, 198, 128000, 128002, 128003, 128011,
                               128255, -1, 128256};
    for (size_t i = 0; i < ARRAY_SIZE(not_eog); i++)
        assert_false(tokenizer_is_eog(full, not_eog[i]));

    size_t size;
    char *data = test_read_file(test_fixture("tokenizer/special_tokens.tsv"),
                                &size);
    assert_non_null(data);
    int rows = 0, n_control = 0, n_user = 0;
    char *save = NULL;
    char *line = strtok_r(data, "\n", &save); /* the header */
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        int id;
        char content[128], special[16];
        assert_int_equal(sscanf(line, "%d\t%127s\t%15s", &id, content,
                                special), 3);
        size_t len;
        const char *text = tokenizer_token_text(full, id, &len);
        assert_non_null(text);
        assert_int_equal(len, strlen(content));
        assert_memory_equal(text, content, len);
        /* added tokens decode to their literal text */
        const char *bytes = tokenizer_token_bytes(full, id, &len);
        assert_int_equal(len, strlen(content));
        assert_memory_equal(bytes, content, len);
        assert_int_equal(tokenizer_find(full, content, strlen(content)), id);
        bool is_special = strcmp(special, "true") == 0;
        assert_int_equal(tokenizer_token_type(full, id),
                         is_special ? TOKEN_TYPE_CONTROL
                                    : TOKEN_TYPE_USER_DEFINED);
        n_control += is_special;
        n_user += !is_special;
        rows++;
    }
    free(data);
    assert_int_equal(rows, 256);
    assert_int_equal(n_control, 248);
    assert_int_equal(n_user, 8);

    /* a regular token: "Ġhi" stands for " hi" */
    int32_t hi = tokenizer_find(full, "\xc4\xa0hi", 4);
    assert_true(hi >= 0);
    size_t len;
    const char *b = tokenizer_token_bytes(full, hi, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(b, " hi", 3);
    assert_int_equal(tokenizer_token_type(full, hi), TOKEN_TYPE_NORMAL);
    assert_null(tokenizer_token_bytes(full, 128256, &len));
    assert_null(tokenizer_token_text(full, -1, &len));
}

/* Pathological inputs stay fast: one pre-token of 100k spaces or
 * letters goes through the O(n log n) BPE. */
static void test_long_inputs(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    const size_t n = 100000;
    char *s = malloc(n);
    assert_non_null(s);
    const char fills[] = {' ', 'a', '7', '\n', '!'};
    for (size_t k = 0; k < sizeof(fills); k++) {
        memset(s, fills[k], n);
        double t0 = now_s();
        int cnt = tokenizer_encode(full, s, n, 0, NULL, 0);
        double dt = now_s() - t0;
        assert_true(cnt > 0);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)cnt);
        assert_non_null(ids);
        assert_int_equal(tokenizer_encode(full, s, n, 0, ids, cnt), cnt);
        size_t total = 0;
        for (int i = 0; i < cnt; i++) {
            size_t len;
            const char *b = tokenizer_token_bytes(full, ids[i], &len);
            assert_true(total + len <= n);
            assert_memory_equal(b, s + total, len);
            total += len;
        }
        assert_int_equal(total, n);
        free(ids);
        fprintf(stderr, "tokenizer: 100k x '%s' -> %d ids in %.1f ms\n",
                fills[k] == '\n' ? "\\n" : (char[2]){fills[k], 0}, cnt,
                dt * 1e3);
        assert_true(dt < 2.0); /* a quadratic BPE would take minutes */
    }
    free(s);
}

/* The renders of chat/llamacpp-renders.json with the full vocabulary. */
static void test_llamacpp_renders(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    size_t size;
    char *data = test_read_file(test_fixture("chat/llamacpp-renders.json"),
                                &size);
    assert_non_null(data);
    cJSON *j = cJSON_Parse(data);
    assert_non_null(j);
    const cJSON *r;
    int n = 0, ok = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "renders")) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(r, "rendered");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
        assert_true(cJSON_IsString(text) && cJSON_IsString(name));
        int n_ids;
        int32_t *ids = json_ids(cJSON_GetObjectItemCaseSensitive(r, "ids"),
                                &n_ids);
        ok += encode_matches(full, text->valuestring,
                             strlen(text->valuestring),
                             TOKENIZER_PARSE_SPECIAL, ids, n_ids,
                             name->valuestring);
        free(ids);
        n++;
    }
    cJSON_Delete(j);
    free(data);
    assert_int_equal(n, 6);
    assert_int_equal(ok, n);
}

/* tiny-f32.gguf's reduced vocabulary against its sidecar's chat renders. */
static void test_tiny_vocab(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct tokenizer *t = load_fixture("tiny-f32.gguf", NULL);
    assert_int_equal(tokenizer_n_vocab(t), 2304);
    assert_int_equal(tokenizer_bos(t), 2048);
    assert_int_equal(tokenizer_eos(t), 2060);
    assert_int_equal(tokenizer_pad(t), 2060);
    const int32_t eog[] = {2049, 2056, 2057, 2060};
    for (size_t i = 0; i < ARRAY_SIZE(eog); i++)
        assert_true(tokenizer_is_eog(t, eog[i]));
    assert_false(tokenizer_is_eog(t, 2048));
    assert_false(tokenizer_is_eog(t, 2059));
    assert_int_equal(tokenizer_find(t, "<|im_start|>", 12), 2059);
    assert_int_equal(tokenizer_find(t, "<think>", 7), 2050);
    assert_int_equal(tokenizer_find(t, "</think>", 8), 2051);

    size_t size;
    char *data = test_read_file(test_fixture("tiny-f32.ref.json"), &size);
    assert_non_null(data);
    cJSON *j = cJSON_Parse(data);
    assert_non_null(j);
    const cJSON *r;
    int n = 0, ok = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j,
                                                           "chat_renders")) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(r, "rendered");
        assert_true(cJSON_IsString(text));
        int n_ids;
        int32_t *ids = json_ids(cJSON_GetObjectItemCaseSensitive(r, "ids"),
                                &n_ids);
        ok += encode_matches(t, text->valuestring, strlen(text->valuestring),
                             TOKENIZER_PARSE_SPECIAL, ids, n_ids, r->string);
        free(ids);
        n++;
    }
    cJSON_Delete(j);
    free(data);
    fprintf(stderr, "tokenizer: %d of %d tiny-vocab chat renders match\n",
            ok, n);
    assert_int_equal(n, 6);
    assert_int_equal(ok, n);
    tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_match_hf),
        cmocka_unit_test(test_cases_round_trip),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_encode_cap),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_long_inputs),
        cmocka_unit_test(test_llamacpp_renders),
        cmocka_unit_test(test_tiny_vocab),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
