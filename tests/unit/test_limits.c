/*
 * test_limits.c: limits on numbers from outside and bugs the fuzzers led
 * to (issue 6), each with the clean failure it must give.
 *
 *   - tokenizer: a pre-token (an unbroken run the pre-tokenizer leaves
 *     whole) of more than TOKENIZER_MAX_PRETOKEN bytes fails with
 *     SMOL_ERANGE instead of sizing ~40 bytes of BPE scratch per byte;
 *     one of exactly the limit and long texts of ordinary words work.
 *   - gguf: a tensor whose data would sit misaligned for its block type
 *     (legal with general.alignment 1 or 2) fails at open with
 *     SMOL_EFORMAT, instead of tripping quant.c's alignment CHECK (an
 *     abort) when the model is used; fuzz_gguf found that one
 *     (tests/fuzz/regress/gguf).
 *   - tokenizer: a vocabulary whose token for a byte, or the token a
 *     merge makes, has an added-token type (CONTROL, USER_DEFINED) would
 *     decode to its literal text, so encoding no longer gave the input
 *     back; tokenizer_load refuses it (fuzz_gguf, regress/gguf).
 *   - chat template: a tool given as a JSON string holding \u0000 prints
 *     as itself, so it put a NUL in the prompt and every message after it
 *     was lost to strlen; it fails with SMOL_EFORMAT now (fuzz_tool_call,
 *     tests/fuzz/regress/tool_call).
 */
#include "testutil.h"

#include "buf.h"
#include "chat_template.h"
#include "gguf.h"
#include "quant.h"
#include "synth.h"
#include "tokenizer.h"

#include <string.h>
#include <unistd.h>

/* ---- tokenizer -------------------------------------------------------- */

/* The synthetic vocabulary (synth.h), through a temporary file. */
static struct tokenizer *synth_tokenizer(void)
{
    const char *path = test_tmp_path(".gguf");
    struct synth_shape shape;
    synth_shape_tiny(&shape, GGML_TYPE_F32);
    shape.n_layer = 1;
    struct smol_err err = {0};
    assert_int_equal(synth_write(path, &shape, GGML_TYPE_F32, 1, &err), 0);
    struct gguf_file *f = NULL;
    assert_int_equal(gguf_open(&f, path, &err), 0);
    struct tokenizer *t = NULL;
    assert_int_equal(tokenizer_load(&t, f, &err), 0);
    gguf_close(f);
    unlink(path);
    return t;
}

/* Encodes s[0..n) and checks the ids give the bytes back; returns the count. */
static int encode_roundtrip(const struct tokenizer *t, const char *s, size_t n)
{
    int cnt = tokenizer_encode(t, s, n, 0, NULL, 0);
    assert_true(cnt > 0);
    int32_t *ids = malloc(sizeof(*ids) * (size_t)cnt);
    assert_non_null(ids);
    assert_int_equal(tokenizer_encode(t, s, n, 0, ids, cnt), cnt);
    size_t pos = 0;
    for (int i = 0; i < cnt; i++) {
        size_t len;
        const char *b = tokenizer_token_bytes(t, ids[i], &len);
        assert_non_null(b);
        assert_true(pos + len <= n);
        assert_memory_equal(b, s + pos, len);
        pos += len;
    }
    assert_int_equal(pos, n);
    free(ids);
    return cnt;
}

static void test_pretoken_limit(void **state)
{
    (void)state;
    struct tokenizer *t = synth_tokenizer();
    const size_t max = TOKENIZER_MAX_PRETOKEN;
    char *s = malloc(3 * max);
    assert_non_null(s);

    /* one "word" of exactly the limit works, one byte more does not */
    memset(s, 'a', max + 1);
    assert_true(encode_roundtrip(t, s, max) > 0);
    assert_int_equal(tokenizer_encode(t, s, max + 1, 0, NULL, 0), SMOL_ERANGE);
    /* likewise a run of spaces, and a long word after ordinary text */
    memset(s, ' ', max + 1);
    assert_int_equal(tokenizer_encode(t, s, max + 1, 0, NULL, 0), SMOL_ERANGE);
    memcpy(s, "hi ", 3);
    memset(s + 3, 'b', max + 1);
    assert_int_equal(tokenizer_encode(t, s, max + 4, 0, NULL, 0), SMOL_ERANGE);

    /* 3 MiB of ordinary words: no run is long, so it all works */
    for (size_t i = 0; i < 3 * max; i++)
        s[i] = "hello world, 123 "[i % 17];
    assert_true(encode_roundtrip(t, s, 3 * max) > (int)max / 4);
    free(s);
    tokenizer_free(t);
}

/* The synthetic vocabulary with token id's type set to type: what
 * tokenizer_load says of it (0 or a status, err filled). */
static int load_with_type(int32_t id, int32_t type, struct smol_err *err)
{
    const char *path = test_tmp_path(".gguf"), *path2 = test_tmp_path(".gguf");
    struct synth_shape shape;
    synth_shape_tiny(&shape, GGML_TYPE_F32);
    shape.n_layer = 1;
    assert_int_equal(synth_write(path, &shape, GGML_TYPE_F32, 1, err), 0);
    struct gguf_file *f = NULL;
    assert_int_equal(gguf_open(&f, path, err), 0);
    uint64_t n;
    const uint8_t *data;
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &n, &data, err),
                     0);
    int32_t *types = malloc(n * sizeof(*types));
    assert_non_null(types);
    memcpy(types, data, n * sizeof(*types));
    assert_true(id >= 0 && (uint64_t)id < n);
    types[id] = type;
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(gguf_writer_copy_kv(w, f), 0);
    assert_int_equal(gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n),
                     0);
    assert_int_equal(gguf_writer_write(w, path2, err), 0);
    gguf_writer_free(w);
    gguf_close(f);
    free(types);
    assert_int_equal(gguf_open(&f, path2, err), 0);
    struct tokenizer *t = NULL;
    int rc = tokenizer_load(&t, f, err);
    tokenizer_free(t);
    gguf_close(f);
    unlink(path);
    unlink(path2);
    return rc;
}

static void test_added_byte_tokens(void **state)
{
    (void)state;
    struct tokenizer *t = synth_tokenizer();
    const int32_t byte_a = tokenizer_find(t, "a", 1);
    assert_true(byte_a >= 0);
    /* a merged token: the longest normal one */
    int32_t merged = -1;
    size_t best = 1;
    for (int32_t i = 0; i < tokenizer_n_vocab(t); i++) {
        size_t len;
        tokenizer_token_bytes(t, i, &len);
        if (tokenizer_token_type(t, i) == TOKEN_TYPE_NORMAL && len > best) {
            best = len;
            merged = i;
        }
    }
    assert_true(merged >= 0);
    tokenizer_free(t);

    struct smol_err err = {0};
    assert_int_equal(load_with_type(byte_a, TOKEN_TYPE_NORMAL, &err), 0);
    err_clear(&err);
    assert_int_equal(load_with_type(byte_a, TOKEN_TYPE_CONTROL, &err), SMOL_EFORMAT);
    assert_non_null(strstr(err.msg, "stands for byte 0x61"));
    err_clear(&err);
    assert_int_equal(load_with_type(merged, TOKEN_TYPE_USER_DEFINED, &err), SMOL_EFORMAT);
    assert_non_null(strstr(err.msg, "an added token"));
}

/* ---- gguf: data aligned for its blocks ---------------------------------- */

static void put(struct buf *b, const void *p, size_t n)
{
    assert_int_equal(buf_append(b, p, n), 0);
}

static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }

/* A v3 file with general.alignment = align and one 1-D tensor "t" of
 * n_elem elements of type at data offset `offset`: a 90-byte header,
 * padding to the alignment, then the data section. */
static void make_file(struct buf *b, uint32_t align, uint32_t type, uint64_t n_elem,
                      uint64_t offset)
{
    static const char key[] = "general.alignment";
    buf_init(b);
    put_u32(b, GGUF_MAGIC);
    put_u32(b, 3);
    put_u64(b, 1); /* tensors */
    put_u64(b, 1); /* keys */
    put_u64(b, sizeof(key) - 1);
    put(b, key, sizeof(key) - 1);
    put_u32(b, GGUF_TYPE_UINT32);
    put_u32(b, align);
    put_u64(b, 1);
    put(b, "t", 1);
    put_u32(b, 1);
    put_u64(b, n_elem);
    put_u32(b, type);
    put_u64(b, offset);
    assert_int_equal(b->len, 90);
    while (b->len % align)
        assert_int_equal(buf_append_char(b, 0), 0);
    uint64_t bytes;
    assert_true(quant_row_size(type, n_elem, &bytes));
    for (uint64_t i = 0; i < offset + bytes; i++)
        assert_int_equal(buf_append_char(b, (char)i), 0);
}

/* Opens b from an 8-aligned heap copy (as a map would be page-aligned). */
static int open_copy(const struct buf *b, struct smol_err *err)
{
    void *copy = aligned_alloc(8, (b->len + 7) / 8 * 8);
    assert_non_null(copy);
    memcpy(copy, b->data, b->len);
    struct gguf_file *f = NULL;
    int rc = gguf_open_mem(&f, copy, b->len, err);
    assert_true(rc == 0 ? f != NULL : f == NULL);
    gguf_close(f);
    free(copy);
    return rc;
}

static void test_block_alignment(void **state)
{
    (void)state;
    /* the header is 90 bytes (make_file checks): with alignment 1 or 2
     * the data starts at 90, so F32 data at offset 2 starts at 92 (fine)
     * and at 0 or 1 does not; F16 and Q8_0 need 2 */
    struct {
        uint32_t align, type;
        uint64_t n_elem, offset;
        bool ok;
    } cases[] = {
        {1, GGML_TYPE_F32, 4, 2, true},
        {1, GGML_TYPE_F32, 4, 0, false},
        {1, GGML_TYPE_F32, 4, 1, false},
        {1, GGML_TYPE_F16, 4, 0, true},
        {1, GGML_TYPE_F16, 4, 1, false},
        {1, GGML_TYPE_Q8_0, 32, 0, true},
        {1, GGML_TYPE_Q8_0, 32, 3, false},
        {2, GGML_TYPE_F32, 4, 0, false},
        {2, GGML_TYPE_F32, 4, 2, true},
        {32, GGML_TYPE_F32, 4, 0, true},
        {32, GGML_TYPE_Q4_K, 256, 32, true},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct buf b;
        make_file(&b, cases[i].align, cases[i].type, cases[i].n_elem, cases[i].offset);
        struct smol_err err = {0};
        int rc = open_copy(&b, &err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, SMOL_EFORMAT);
            assert_non_null(strstr(err.msg, "as its blocks need"));
        }
        buf_release(&b);
    }
}

/* ---- chat template: no NUL in the prompt -------------------------------- */

static void test_tools_nul(void **state)
{
    (void)state;
    const struct smol_message msgs[] = {{.role = SMOL_ROLE_USER, .content = "Hi?"}};
    static const char *const bad[] = {"[\"a\\u0000b\"]", "[{\"x\": 1}, \"\\u0000\"]"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        for (int py = 0; py < 2; py++) {
            struct smol_chat_opts o = {.tools_json = py ? NULL : bad[i],
                                       .python_tools_json = py ? bad[i] : NULL,
                                       .date = "01 January 2025"};
            struct buf b;
            buf_init(&b);
            struct smol_err err = {0};
            assert_int_equal(chat_template_render(&b, CHAT_FAMILY_SMOLLM3, msgs, 1, &o, &err),
                             SMOL_EFORMAT);
            assert_non_null(strstr(err.msg, "NUL character"));
            buf_release(&b);
        }
    }
    /* inside a dict the repr escapes it: rendered, and nothing is lost */
    struct smol_chat_opts o = {.tools_json = "[{\"d\": \"a\\u0000b\"}]",
                               .date = "01 January 2025"};
    struct buf b;
    buf_init(&b);
    struct smol_err err = {0};
    assert_int_equal(chat_template_render(&b, CHAT_FAMILY_SMOLLM3, msgs, 1, &o, &err), 0);
    assert_int_equal(strlen(b.data), b.len);
    assert_non_null(strstr(b.data, "{'d': 'a\\x00b'}"));
    assert_non_null(strstr(b.data, "Hi?"));
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pretoken_limit),
        cmocka_unit_test(test_added_byte_tokens),
        cmocka_unit_test(test_block_alignment),
        cmocka_unit_test(test_tools_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
