/*
 * test_tokenizer.c: the tokenizer on a small vocabulary built here.
 *
 * Each test writes a GGUF with gguf_writer: the 256 byte-level tokens
 * (id b stands for byte b), a few merged tokens and added tokens, then
 * loads it. That checks BPE rank order, ignore_merges, added-token
 * splitting with and without TOKENIZER_PARSE_SPECIAL, the special ids,
 * the streaming decoder on characters split across tokens, and the
 * error for each kind of malformed metadata. The pre-tokenizer is
 * checked piece by piece through pretok_next, against splits computed
 * with a regex engine running the Llama-3 pattern.
 */
#include "testutil.h"

#include "gguf.h"
#include "pretok.h"
#include "tokenizer.h"
#include "utf8.h"

#include <string.h>

/* ---- the pre-tokenizer ----------------------------------------------- */

/* Each row: the pieces a text must split into (the text is their
 * concatenation), NULL-terminated. Rows from the Llama-3 regex run by
 * Python's `regex` module with \s spelled as White_Space; the last
 * rows (invalid UTF-8) by the rule in pretok.h. */
static const char *const pretok_rows[][16] = {
    {"Hello", " world", NULL},
    {"  ", " hello", NULL},
    {"a", "  \x0a", " ", " b", NULL},
    {"\x0d\x0a\x0d\x0a", NULL},
    {"mixed", " \x0d\x0a", "\x09", " end", " \x0d", NULL},
    {"'s", " '", "S", " '", "RE", " '", "Ve", " '", "LL", " '", "d", " '", "x", NULL},
    {"don", "\xe2\x80\x99t", NULL},
    {"it", "'s", "ure", NULL},
    {"'\xc5\xbf", NULL},
    {"123", "456", "7", NULL},
    {"x", "1", "y", "22", "z", "333", NULL},
    {"\x09", "\x09x", NULL},
    {"a", "\x0a\x0a", "b", NULL},
    {"end", "  ", NULL},
    {"x", " \x0a", NULL},
    {"!!!\x0a\x0a", "x", NULL},
    {" !", "x", NULL},
    {"\x0a", " x", NULL},
    {"a", "\x0b" "b", NULL},
    {"a", "\x1c" "b", NULL},
    {"a", "\xc2\x85", "\xc2\x85" "b", NULL},
    {"NBSP", ":", "\xc2\xa0x", NULL},
    {"\xe3\x80\x80", "\xe3\x80\x80x", NULL},
    {"3", ".", "14", NULL},
    {"\xe2\x85\xa7\xc2\xb2", "x", NULL},
    {"caf\xc3\xa9", " \xe4\xbd\xa0\xe5\xa5\xbd", NULL},
    {"e", "\xcc\x81!", NULL},
    {"(([[", " x", NULL},
    {"  \x09\x0a", NULL},
    {" ", NULL},
    {"?\x0a\x0d\x0a", NULL},
    /* invalid bytes: each is one character of class "other" */
    {"\xff\xfe", "ab", NULL},
    {"\xff" "ab", NULL},
    {"\xe2\x82", "x", NULL},
    {" \xff", "x", NULL},
    {"a", "\xc0\xaf", NULL},
};

static void test_pretok_rows(void **state)
{
    (void)state;
    for (size_t r = 0; r < ARRAY_SIZE(pretok_rows); r++) {
        char text[256];
        size_t len = 0;
        for (int k = 0; pretok_rows[r][k]; k++) {
            size_t n = strlen(pretok_rows[r][k]);
            assert_true(len + n < sizeof(text));
            memcpy(text + len, pretok_rows[r][k], n);
            len += n;
        }
        size_t pos = 0;
        int k = 0;
        while (pos < len) {
            size_t end = pretok_next(text, len, pos);
            const char *want = pretok_rows[r][k];
            if (!want || end - pos != strlen(want) ||
                memcmp(text + pos, want, end - pos) != 0)
                fail_msg("row %zu, piece %d: got '%.*s', want '%s'", r, k,
                         (int)(end - pos), text + pos, want ? want : "(end)");
            pos = end;
            k++;
        }
        assert_null(pretok_rows[r][k]);
    }
}

/* ---- building a vocabulary ------------------------------------------- */

/* GPT-2's bytes_to_unicode, written out again here so the test does not
 * lean on the code it checks: printable Latin-1 stays, the other 68
 * bytes take U+0100 onwards in byte order. */
static uint32_t byte_cp(int b)
{
    uint32_t next = 0x100;
    for (int i = 0; i < 256; i++) {
        bool printable = (i >= 0x21 && i <= 0x7E) ||
                         (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
        if (i == b)
            return printable ? (uint32_t)i : next;
        if (!printable)
            next++;
    }
    return 0;
}

/* What a test vocabulary holds; zeroed fields mean "the default". */
struct spec {
    const char *model;          /* default "gpt2"; "-" omits the key */
    const char *const *extra;   /* tokens after the 256 byte tokens */
    const int32_t *extra_type;  /* their types (default NORMAL) */
    int n_extra;
    const char *const *merges;
    int n_merges;
    bool no_merges_key, no_tokens_key, no_types_key, tokens_as_u32;
    int drop_byte;              /* if > 0: leave out this byte's token */
    int n_types;                /* if > 0: write this many types */
    int32_t bad_type;           /* if != 0: the first extra gets it */
    int64_t bos, eos, pad;      /* 0: absent, else id + 1 */
};

/* Vocabulary strings are at most 64 bytes here. */
struct vocab_strs {
    char s[320][64];
    struct gguf_str v[320];
    int32_t type[320];
    int n;
};

static void vocab_fill(const struct spec *sp, struct vocab_strs *vs)
{
    vs->n = 0;
    for (int b = 0; b < 256; b++) {
        if (sp->drop_byte > 0 && b == sp->drop_byte) {
            strcpy(vs->s[vs->n], "<dropped>");
        } else {
            int k = utf8_encode(byte_cp(b), vs->s[vs->n]);
            vs->s[vs->n][k] = '\0';
        }
        vs->type[vs->n++] = TOKEN_TYPE_NORMAL;
    }
    for (int i = 0; i < sp->n_extra; i++) {
        assert_true(strlen(sp->extra[i]) < 64);
        strcpy(vs->s[vs->n], sp->extra[i]);
        vs->type[vs->n++] = sp->extra_type ? sp->extra_type[i]
                                           : TOKEN_TYPE_NORMAL;
    }
    if (sp->bad_type)
        vs->type[256] = sp->bad_type;
    for (int i = 0; i < vs->n; i++)
        vs->v[i] = (struct gguf_str){vs->s[i], strlen(vs->s[i])};
}

/* Writes the GGUF for sp and loads it. Returns tokenizer_load's status. */
static int build(const struct spec *sp, struct tokenizer **out,
                 struct smol_err *err)
{
    static struct vocab_strs vs;
    vocab_fill(sp, &vs);
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    const char *model = sp->model ? sp->model : "gpt2";
    if (strcmp(model, "-") != 0)
        assert_int_equal(gguf_writer_set_str(w, "tokenizer.ggml.model",
                                             model), 0);
    if (sp->tokens_as_u32)
        assert_int_equal(gguf_writer_set_u32(w, "tokenizer.ggml.tokens", 7),
                         0);
    else if (!sp->no_tokens_key)
        assert_int_equal(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens",
                                                 vs.v, (uint64_t)vs.n), 0);
    if (!sp->no_types_key)
        assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.token_type",
                                             GGUF_TYPE_INT32, vs.type,
                                             (uint64_t)(sp->n_types > 0
                                                            ? sp->n_types
                                                            : vs.n)), 0);
    if (!sp->no_merges_key) {
        struct gguf_str m[64];
        assert_true(sp->n_merges <= 64);
        for (int i = 0; i < sp->n_merges; i++)
            m[i] = (struct gguf_str){sp->merges[i], strlen(sp->merges[i])};
        assert_int_equal(gguf_writer_set_arr_str(w, "tokenizer.ggml.merges",
                                                 m, (uint64_t)sp->n_merges),
                         0);
    }
    if (sp->bos)
        assert_int_equal(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id",
                                             (uint32_t)(sp->bos - 1)), 0);
    if (sp->eos)
        assert_int_equal(gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id",
                                             (uint32_t)(sp->eos - 1)), 0);
    if (sp->pad)
        assert_int_equal(gguf_writer_set_u32(
                             w, "tokenizer.ggml.padding_token_id",
                             (uint32_t)(sp->pad - 1)), 0);
    const char *path = test_tmp_path(".gguf");
    struct smol_err werr;
    err_clear(&werr);
    if (gguf_writer_write(w, path, &werr) != 0)
        fail_msg("gguf_writer_write: %s", werr.msg);
    gguf_writer_free(w);

    struct gguf_file *f = NULL;
    if (gguf_open(&f, path, &werr) != 0)
        fail_msg("gguf_open: %s", werr.msg);
    err_clear(err);
    *out = NULL;
    int rc = tokenizer_load(out, f, err);
    gguf_close(f);
    remove(path);
    if (rc == 0)
        assert_non_null(*out);
    else
        assert_null(*out);
    return rc;
}

/* The vocabulary most tests use. Ids: bytes 0..255, then these. */
enum {
    T_HE = 256, T_LL, T_HELL, T_HELLO, T_GW, T_OR, T_GWOR, T_LD, T_GWORLD,
    T_AB, T_BC, T_XY, T_YZ, T_QQQ, T_AA, T_AAAA, T_CROSS,
    T_IM_START, T_IM_END, T_THINK, T_X, T_XY_CTRL, T_BOS, T_EOT_TEXT,
    T_N_EXTRA_END
};

static const char *const mini_tokens[] = {
    "he", "ll", "hell", "hello", "\xc4\xa0w", "or", "\xc4\xa0wor", "ld",
    "\xc4\xa0world", "ab", "bc", "xy", "yz", "qqq", "aa", "aaaa",
    /* bytes A9 E2: the tail of 'é' and the head of '€' in one token */
    "\xc2\xa9\xc3\xa2",
    "<|im_start|>", "<|im_end|>", "<think>", "<|x|>", "<|x|>y",
    "<|begin_of_text|>", "<|end_of_text|>",
};

static const int32_t mini_types[] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED,
    TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL,
    TOKEN_TYPE_CONTROL,
};

/* "b c" ranks before "a b", "x y" before "y z": rank order decides. */
static const char *const mini_merges[] = {
    "h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "o r", "\xc4\xa0w or",
    "l d", "\xc4\xa0wor ld", "b c", "a b", "x y", "y z", "a a", "aa aa",
};

static struct spec mini_spec(void)
{
    _Static_assert(ARRAY_SIZE(mini_tokens) == T_N_EXTRA_END - 256,
                   "one string per id");
    _Static_assert(ARRAY_SIZE(mini_types) == ARRAY_SIZE(mini_tokens),
                   "one type per token");
    return (struct spec){
        .extra = mini_tokens,
        .extra_type = mini_types,
        .n_extra = (int)ARRAY_SIZE(mini_tokens),
        .merges = mini_merges,
        .n_merges = (int)ARRAY_SIZE(mini_merges),
        .bos = T_BOS + 1,
        .eos = T_IM_END + 1,
        .pad = T_IM_END + 1,
    };
}

static struct tokenizer *mini(void)
{
    struct spec sp = mini_spec();
    struct tokenizer *t;
    struct smol_err err;
    if (build(&sp, &t, &err) != 0)
        fail_msg("mini vocabulary: %s", err.msg);
    return t;
}

/* Encodes a C string and compares with the expected ids. */
static void check_encode(const struct tokenizer *t, const char *text,
                         int flags, const int32_t *want, int n_want)
{
    int32_t got[256];
    int n = tokenizer_encode(t, text, strlen(text), flags, got, 256);
    if (n != n_want || memcmp(got, want, sizeof(int32_t) * (size_t)n) != 0) {
        fprintf(stderr, "encode '%s' (flags %d): got", text, flags);
        for (int i = 0; i < MIN(n, 256); i++)
            fprintf(stderr, " %d", got[i]);
        fprintf(stderr, ", want");
        for (int i = 0; i < n_want; i++)
            fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
        fail();
    }
}

#define CHECK_ENCODE(t, text, flags, ...)                                   \
    do {                                                                    \
        const int32_t want_[] = {__VA_ARGS__};                              \
        check_encode(t, text, flags, want_, (int)ARRAY_SIZE(want_));        \
    } while (0)

/* ---- encoding -------------------------------------------------------- */

static void test_bpe(void **state)
{
    (void)state;
    struct tokenizer *t = mini();
    assert_int_equal(tokenizer_n_vocab(t), T_N_EXTRA_END);
    CHECK_ENCODE(t, "hello world", 0, T_HELLO, T_GWORLD);
    CHECK_ENCODE(t, "hello", 0, T_HELLO);
    CHECK_ENCODE(t, "hellohe", 0, T_HELLO, T_HE);
    /* rank order: "b c" beats "a b"; "x y" beats "y z" */
    CHECK_ENCODE(t, "abc", 0, 'a', T_BC);
    CHECK_ENCODE(t, "xyz", 0, T_XY, 'z');
    /* equal ranks: the leftmost pair merges first */
    CHECK_ENCODE(t, "aaa", 0, T_AA, 'a');
    CHECK_ENCODE(t, "aaaaa", 0, T_AAAA, 'a');
    CHECK_ENCODE(t, "aaaaaa", 0, T_AAAA, T_AA);
    /* ignore_merges: a whole pre-token in the vocabulary is one token,
     * though no merge makes "qqq" */
    CHECK_ENCODE(t, "qqq", 0, T_QQQ);
    CHECK_ENCODE(t, "qqqq", 0, 'q', 'q', 'q', 'q');
    /* pre-tokens do not merge across: "he" + " ll" */
    CHECK_ENCODE(t, "he ll", 0, T_HE, ' ', T_LL);
    /* every byte has its token, valid UTF-8 or not */
    CHECK_ENCODE(t, "\xff\x80", 0, 0xff, 0x80);
    assert_int_equal(tokenizer_encode(t, "", 0, 0, NULL, 0), 0);
    tokenizer_free(t);
}

static void test_added_tokens(void **state)
{
    (void)state;
    struct tokenizer *t = mini();
    const int P = TOKENIZER_PARSE_SPECIAL;
    CHECK_ENCODE(t, "<|im_start|>hello<|im_end|>", P, T_IM_START, T_HELLO,
                 T_IM_END);
    /* without PARSE_SPECIAL a control token is plain text */
    CHECK_ENCODE(t, "<|x|>", 0, '<', '|', 'x', '|', '>');
    /* USER_DEFINED tokens always match */
    CHECK_ENCODE(t, "<think>hello", 0, T_THINK, T_HELLO);
    CHECK_ENCODE(t, "<think>hello", P, T_THINK, T_HELLO);
    /* the longest match wins */
    CHECK_ENCODE(t, "<|x|>yz", P, T_XY_CTRL, 'z');
    CHECK_ENCODE(t, "<|x|>z", P, T_X, 'z');
    /* segments around added tokens are pre-tokenized on their own: the
     * space before <think> cannot join "hello" */
    CHECK_ENCODE(t, "he <think> world", P, T_HE, ' ', T_THINK, T_GWORLD);
    CHECK_ENCODE(t, "<<think>>", 0, '<', T_THINK, '>');
    CHECK_ENCODE(t, "<|im_start", P, '<', '|', 'i', 'm', '_', 's', 't',
                 'a', 'r', 't');
    tokenizer_free(t);
}

/* A short buffer gets the first cap ids; the count is the full one. */
static void test_encode_cap(void **state)
{
    (void)state;
    struct tokenizer *t = mini();
    const char *s = "hello world hello"; /* hello, Ġworld, Ġ, hello */
    assert_int_equal(tokenizer_encode(t, s, strlen(s), 0, NULL, 0), 4);
    int32_t out[4] = {-7, -7, -7, -7};
    assert_int_equal(tokenizer_encode(t, s, strlen(s), 0, out, 2), 4);
    assert_int_equal(out[0], T_HELLO);
    assert_int_equal(out[1], T_GWORLD);
    assert_int_equal(out[2], -7);
    assert_int_equal(tokenizer_encode(NULL, s, 1, 0, out, 4), SMOL_EINVAL);
    assert_int_equal(tokenizer_encode(t, NULL, 1, 0, out, 4), SMOL_EINVAL);
    assert_int_equal(tokenizer_encode(t, s, 1, 0, out, -1), SMOL_EINVAL);
    assert_int_equal(tokenizer_encode(t, s, 1, 0, NULL, 1), SMOL_EINVAL);
    tokenizer_free(t);
}

/* 100k letters in one pre-token: the BPE must not be quadratic. */
static void test_long_pretoken(void **state)
{
    (void)state;
    struct tokenizer *t = mini();
    const size_t n = 100001;
    char *s = malloc(n);
    assert_non_null(s);
    memset(s, 'a', n);
    int32_t *ids = malloc(sizeof(int32_t) * n);
    assert_non_null(ids);
    int cnt = tokenizer_encode(t, s, n, 0, ids, (int)n);
    /* 25000 "aaaa" and one "a" */
    assert_int_equal(cnt, 25001);
    for (int i = 0; i < 25000; i++)
        assert_int_equal(ids[i], T_AAAA);
    assert_int_equal(ids[25000], 'a');
    free(ids);
    free(s);
    tokenizer_free(t);
}

/* ---- lookups and special ids ----------------------------------------- */

static void test_lookups(void **state)
{
    (void)state;
    struct tokenizer *t = mini();
    size_t len;
    const char *b = tokenizer_token_bytes(t, T_GWORLD, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(b, " world", 6);
    b = tokenizer_token_text(t, T_GWORLD, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(b, "\xc4\xa0world", 7);
    b = tokenizer_token_bytes(t, '\n', &len); /* "Ċ" */
    assert_int_equal(len, 1);
    assert_int_equal(b[0], '\n');
    b = tokenizer_token_bytes(t, T_IM_END, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(b, "<|im_end|>", 10);
    assert_null(tokenizer_token_bytes(t, -1, &len));
    assert_null(tokenizer_token_bytes(t, T_N_EXTRA_END, &len));
    assert_int_equal(tokenizer_find(t, "hello", 5), T_HELLO);
    assert_int_equal(tokenizer_find(t, "<think>", 7), T_THINK);
    assert_int_equal(tokenizer_find(t, "nope", 4), -1);
    assert_int_equal(tokenizer_token_type(t, T_THINK),
                     TOKEN_TYPE_USER_DEFINED);
    assert_int_equal(tokenizer_token_type(t, T_X), TOKEN_TYPE_CONTROL);
    assert_int_equal(tokenizer_token_type(t, 'a'), TOKEN_TYPE_NORMAL);
    assert_int_equal(tokenizer_max_token_len(t), 17); /* <|begin_of_text|> */

    assert_int_equal(tokenizer_bos(t), T_BOS);
    assert_int_equal(tokenizer_eos(t), T_IM_END);
    assert_int_equal(tokenizer_pad(t), T_IM_END);
    /* eos, and <|end_of_text|> by name */
    assert_true(tokenizer_is_eog(t, T_IM_END));
    assert_true(tokenizer_is_eog(t, T_EOT_TEXT));
    assert_false(tokenizer_is_eog(t, T_IM_START));
    assert_false(tokenizer_is_eog(t, T_BOS));
    assert_false(tokenizer_is_eog(t, -1));
    tokenizer_free(t);

    /* without the special keys */
    struct spec sp = mini_spec();
    sp.bos = sp.eos = sp.pad = 0;
    sp.no_types_key = true; /* every token NORMAL */
    struct smol_err err;
    assert_int_equal(build(&sp, &t, &err), 0);
    assert_int_equal(tokenizer_bos(t), -1);
    assert_int_equal(tokenizer_eos(t), -1);
    assert_int_equal(tokenizer_pad(t), -1);
    assert_int_equal(tokenizer_token_type(t, T_THINK), TOKEN_TYPE_NORMAL);
    assert_true(tokenizer_is_eog(t, T_IM_END)); /* by name */
    /* NORMAL tokens are not split out of the text */
    int32_t ids[16];
    assert_true(tokenizer_encode(t, "<think>", 7, TOKENIZER_PARSE_SPECIAL,
                                 ids, 16) > 1);
    tokenizer_free(t);
}

/* ---- the streaming decoder ------------------------------------------- */

/* Pushes ids through a stream; checks that no chunk ends inside a
 * character and that the whole equals want (want_len bytes). */
static void check_stream(const struct tokenizer *t, const int32_t *ids,
                         int n, const char *want, size_t want_len)
{
    char out[256], chunk[64];
    size_t total = 0;
    struct tokenizer_stream st;
    tokenizer_stream_init(&st);
    for (int i = 0; i < n; i++) {
        int w = tokenizer_stream_push(t, &st, ids[i], chunk, sizeof(chunk));
        assert_true(w >= 0);
        assert_true(utf8_valid(chunk, (size_t)w, NULL));
        assert_int_equal(utf8_complete_prefix(chunk, (size_t)w), (size_t)w);
        assert_true(total + (size_t)w <= sizeof(out));
        memcpy(out + total, chunk, (size_t)w);
        total += (size_t)w;
    }
    int w = tokenizer_stream_flush(&st, chunk, sizeof(chunk));
    assert_true(w >= 0);
    memcpy(out + total, chunk, (size_t)w);
    total += (size_t)w;
    assert_int_equal(total, want_len);
    assert_memory_equal(out, want, want_len);
}

#define CHECK_STREAM(t, want, ...)                                          \
    do {                                                                    \
        const int32_t ids_[] = {__VA_ARGS__};                               \
        check_stream(t, ids_, (int)ARRAY_SIZE(ids_), want, sizeof(want) - 1); \
    } while (0)

#define FFFD "\xef\xbf\xbd"

static void test_stream(void **state)
{
    (void)state;
    struct tokenizer *t = mini();
    /* 2-, 3- and 4-byte characters arrive one byte token at a time */
    const char *text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
    int32_t ids[32];
    int n = tokenizer_encode(t, text, strlen(text), 0, ids, 32);
    assert_int_equal(n, 11); /* no merges apply: one token per byte */
    check_stream(t, ids, n, text, strlen(text));
    /* a token that ends one character and starts the next */
    CHECK_STREAM(t, "a\xc3\xa9\xe2\x82\xac", 'a', 0xc3, T_CROSS, 0x82, 0xac);

    /* bytes that can never be valid come out as U+FFFD */
    CHECK_STREAM(t, FFFD, 0xff);
    CHECK_STREAM(t, FFFD, 0x80);
    CHECK_STREAM(t, FFFD "a", 0xe2, 0x82, 'a');
    CHECK_STREAM(t, FFFD FFFD, 0xed, 0xa0);       /* a surrogate */
    CHECK_STREAM(t, FFFD FFFD, 0xe0, 0x80);       /* an overlong */
    CHECK_STREAM(t, FFFD "x", 0xf0, 0x9f, 0x98, 'x');
    CHECK_STREAM(t, FFFD "\xc3\xa9", 0xe2, 0xc3, 0xa9);
    /* an unfinished character at the end is flushed as U+FFFD */
    CHECK_STREAM(t, "a" FFFD, 'a', 0xf0, 0x9f);

    /* too small a buffer: SMOL_EFULL, and the stream is unchanged */
    struct tokenizer_stream st;
    tokenizer_stream_init(&st);
    char out[16];
    assert_int_equal(tokenizer_stream_push(t, &st, 0xc3, out, 0), 0);
    assert_int_equal(tokenizer_stream_push(t, &st, 0xa9, out, 1),
                     SMOL_EFULL);
    assert_int_equal(tokenizer_stream_push(t, &st, 0xa9, out, 2), 2);
    assert_memory_equal(out, "\xc3\xa9", 2);
    assert_int_equal(tokenizer_stream_push(t, &st, T_HELLO, out, 4),
                     SMOL_EFULL);
    assert_int_equal(tokenizer_stream_push(t, &st, -1, out, 16),
                     SMOL_EINVAL);
    assert_int_equal(tokenizer_stream_push(t, &st, T_N_EXTRA_END, out, 16),
                     SMOL_EINVAL);
    assert_int_equal(tokenizer_stream_push(t, &st, 0xe2, out, 16), 0);
    assert_int_equal(tokenizer_stream_flush(&st, out, 2), SMOL_EFULL);
    assert_int_equal(tokenizer_stream_flush(&st, out, 3), 3);
    assert_int_equal(tokenizer_stream_flush(&st, out, 3), 0);
    tokenizer_free(t);
}

/* ---- malformed metadata ---------------------------------------------- */

/* Loads sp, which must fail with code and a message containing each of
 * the NULL-terminated needles. */
static void check_load_error(const struct spec *sp, int code, ...)
{
    struct tokenizer *t;
    struct smol_err err;
    int rc = build(sp, &t, &err);
    if (rc != code)
        fail_msg("load gave %d (%s), want %d", rc, err.msg, code);
    assert_int_equal(err.code, code);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (!strstr(err.msg, needle))
            fail_msg("message '%s' lacks '%s'", err.msg, needle);
    va_end(ap);
}

static void test_bad_metadata(void **state)
{
    (void)state;
    struct spec sp;

    sp = mini_spec();
    sp.model = "llama";
    check_load_error(&sp, SMOL_EUNSUPPORTED, "'llama'", "gpt2", NULL);

    sp = mini_spec();
    sp.model = "-";
    check_load_error(&sp, SMOL_EFORMAT, "tokenizer.ggml.model", "missing",
                     NULL);

    sp = mini_spec();
    sp.no_tokens_key = true;
    sp.no_types_key = true;
    check_load_error(&sp, SMOL_EFORMAT, "tokenizer.ggml.tokens", "missing",
                     NULL);

    sp = mini_spec();
    sp.tokens_as_u32 = true;
    sp.no_types_key = true;
    check_load_error(&sp, SMOL_EFORMAT, "tokenizer.ggml.tokens",
                     "not an array of strings", NULL);

    sp = mini_spec();
    sp.no_merges_key = true;
    check_load_error(&sp, SMOL_EFORMAT, "tokenizer.ggml.merges", "missing",
                     NULL);

    static const char *const unknown[] = {"h e", "zz q"};
    sp = mini_spec();
    sp.merges = unknown;
    sp.n_merges = 2;
    check_load_error(&sp, SMOL_EFORMAT, "merge 1", "'zz q'",
                     "unknown token 'zz'", NULL);

    static const char *const not_made[] = {"q q"};
    sp = mini_spec();
    sp.merges = not_made;
    sp.n_merges = 1;
    check_load_error(&sp, SMOL_EFORMAT, "merge 0", "makes 'qq'",
                     "not in the vocabulary", NULL);

    static const char *const no_space[] = {"he"};
    sp = mini_spec();
    sp.merges = no_space;
    sp.n_merges = 1;
    check_load_error(&sp, SMOL_EFORMAT, "merge 0", "'he'", "space", NULL);

    sp = mini_spec();
    sp.bos = 100000 + 1;
    check_load_error(&sp, SMOL_EFORMAT, "bos_token_id", "100000", "280",
                     NULL);

    sp = mini_spec();
    sp.eos = T_N_EXTRA_END + 1;
    check_load_error(&sp, SMOL_EFORMAT, "eos_token_id", NULL);

    sp = mini_spec();
    sp.n_types = 10;
    check_load_error(&sp, SMOL_EFORMAT, "token_type", "10 entries", NULL);

    sp = mini_spec();
    sp.bad_type = 9;
    check_load_error(&sp, SMOL_EFORMAT, "token 256", "type 9", NULL);

    sp = mini_spec();
    sp.drop_byte = 0x41;
    sp.merges = NULL;
    sp.n_merges = 0;
    check_load_error(&sp, SMOL_EFORMAT, "byte 0x41", NULL);

    /* and no crash on NULL */
    struct smol_err err;
    err_clear(&err);
    assert_int_equal(tokenizer_load(NULL, NULL, &err), SMOL_EINVAL);
    tokenizer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pretok_rows),
        cmocka_unit_test(test_bpe),
        cmocka_unit_test(test_added_tokens),
        cmocka_unit_test(test_encode_cap),
        cmocka_unit_test(test_long_pretoken),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_bad_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
