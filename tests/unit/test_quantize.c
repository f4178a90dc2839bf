/*
 * test_quantize.c: the tools behind `quantize`, `synth` and `bench`,
 * self-contained (the fixture comparisons are in
 * tests/parity/test_quantize_parity.c):
 *
 *  - the type recipe per tensor name for 8 and 36 layers, against the
 *    layer lists of llama.cpp's files (fixtures README), fallbacks,
 *    scheme names and llama-quantize's tensor order;
 *  - the streaming writer gives the in-memory writer's bytes, across
 *    several chunks, and a failing fill fails the write cleanly;
 *  - removing a key moves it to the end when set again;
 *  - synth: shapes, a tiny model the engine opens with the right info,
 *    determinism, type independence of the weights;
 *  - quantize round trip F32 -> Q8_0 -> F32 on a synthetic model;
 *  - the bandwidth checksum, bench runs and decode bytes.
 */
#include "testutil.h"

#include "bench.h"
#include "gguf.h"
#include "quant.h"
#include "quantize.h"
#include "smol.h"
#include "synth.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

/* ================================================================ */
/* The recipe                                                        */
/* ================================================================ */

static uint32_t type_of(const char *scheme, const char *name, uint64_t ne0, uint64_t ne1,
                        int n_layer, bool has_output)
{
    const struct quantize_scheme *s = quantize_scheme_find(scheme);
    assert_non_null(s);
    const uint64_t ne[4] = {ne0, ne1, 1, 1};
    return quantize_tensor_type(s, name, ne, GGML_TYPE_F32, n_layer, has_output, NULL);
}

/* The layers where llama.cpp's Q4_K_M files have Q6_K attn_v/ffn_down
 * (fixtures README: tiny models with 8 layers, and the real 3B). */
static bool more_bits_8(int i) { return i == 0 || i == 3 || i == 6 || i == 7; }
static bool more_bits_36(int i) { return i <= 3 || (i >= 6 && i <= 27 && i % 3 == 0) || i >= 30; }

static void check_mix(const char *scheme, uint32_t base, int n_layer, bool (*more)(int))
{
    char name[64];
    for (int l = 0; l < n_layer; l++) {
        static const char *const plain[] = {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"};
        for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
            snprintf(name, sizeof(name), "blk.%d.%s.weight", l, plain[i]);
            assert_int_equal(type_of(scheme, name, 2048, 512, n_layer, false), base);
        }
        const uint32_t want = more(l) ? GGML_TYPE_Q6_K : base;
        snprintf(name, sizeof(name), "blk.%d.attn_v.weight", l);
        if (type_of(scheme, name, 2048, 512, n_layer, false) != want)
            fail_msg("%s, %d layers: %s is not %s", scheme, n_layer, name, quant_type_info(want)->name);
        snprintf(name, sizeof(name), "blk.%d.ffn_down.weight", l);
        assert_int_equal(type_of(scheme, name, 11008, 2048, n_layer, false), want);
        snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", l);
        assert_int_equal(type_of(scheme, name, 2048, 1, n_layer, false), GGML_TYPE_F32);
    }
}

static void test_recipe_mixes(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++)
        assert_int_equal(quantize_use_more_bits(i, 8), more_bits_8(i));
    for (int i = 0; i < 36; i++)
        assert_int_equal(quantize_use_more_bits(i, 36), more_bits_36(i));
    check_mix("Q4_K_M", GGML_TYPE_Q4_K, 8, more_bits_8);
    check_mix("Q4_K_M", GGML_TYPE_Q4_K, 36, more_bits_36);
    check_mix("Q5_K_M", GGML_TYPE_Q5_K, 8, more_bits_8);
    check_mix("q5_k_m", GGML_TYPE_Q5_K, 36, more_bits_36);
    /* 36 layers give the real 3B's census: 18 + 18 Q6_K, plus the embeddings */
    int n_q6 = 0;
    for (int l = 0; l < 36; l++)
        n_q6 += 2 * quantize_use_more_bits(l, 36);
    assert_int_equal(n_q6 + 1, 37);
}

/* The tied embeddings are the output matrix; with output.weight they
 * are not. Non-_M schemes only touch the output matrix. */
static void test_recipe_output_and_plain(void **state)
{
    (void)state;
    assert_int_equal(type_of("Q4_K_M", "token_embd.weight", 2048, 128256, 36, false), GGML_TYPE_Q6_K);
    assert_int_equal(type_of("Q4_K_M", "token_embd.weight", 2048, 128256, 36, true), GGML_TYPE_Q4_K);
    assert_int_equal(type_of("Q4_K_M", "output.weight", 2048, 128256, 36, true), GGML_TYPE_Q6_K);
    assert_int_equal(type_of("Q4_0", "token_embd.weight", 256, 2304, 8, false), GGML_TYPE_Q6_K);
    assert_int_equal(type_of("Q4_0", "blk.0.attn_v.weight", 256, 128, 8, false), GGML_TYPE_Q4_0);
    assert_int_equal(type_of("Q4_0", "blk.0.ffn_down.weight", 768, 256, 8, false), GGML_TYPE_Q4_0);
    assert_int_equal(type_of("Q8_0", "token_embd.weight", 256, 2304, 8, false), GGML_TYPE_Q8_0);
    assert_int_equal(type_of("Q6_K", "token_embd.weight", 256, 2304, 8, false), GGML_TYPE_Q6_K);
    assert_int_equal(type_of("Q6_K", "blk.7.attn_q.weight", 256, 256, 8, false), GGML_TYPE_Q6_K);
    /* pure: the embeddings too */
    assert_int_equal(type_of("Q4_K", "token_embd.weight", 256, 2304, 8, false), GGML_TYPE_Q4_K);
    assert_int_equal(type_of("Q5_K", "blk.0.attn_v.weight", 256, 128, 8, false), GGML_TYPE_Q5_K);
    assert_int_equal(type_of("F16", "blk.0.attn_v.weight", 256, 128, 8, false), GGML_TYPE_F16);
    assert_int_equal(type_of("BF16", "output_norm.weight", 256, 1, 8, false), GGML_TYPE_F32);
    /* norms and vectors keep their type, whatever it is */
    const uint64_t ne[4] = {256, 1, 1, 1};
    assert_int_equal(quantize_tensor_type(quantize_scheme_find("Q4_K_M"), "output_norm.weight", ne,
                                          GGML_TYPE_F16, 8, false, NULL),
                     GGML_TYPE_F16);
}

/* Rows that do not fit the block: Q8_0 when they fit 32, else F16. */
static void test_recipe_fallback(void **state)
{
    (void)state;
    const uint64_t ne96[4] = {96, 64, 1, 1}, ne100[4] = {100, 64, 1, 1};
    bool fb = false;
    const struct quantize_scheme *m = quantize_scheme_find("Q4_K_M");
    assert_int_equal(quantize_tensor_type(m, "blk.1.attn_q.weight", ne96, 0, 8, false, &fb), GGML_TYPE_Q8_0);
    assert_true(fb);
    assert_int_equal(quantize_tensor_type(m, "blk.1.attn_q.weight", ne100, 0, 8, false, &fb), GGML_TYPE_F16);
    assert_true(fb);
    /* the output rule's own test: Q8_0 without counting as a fallback */
    assert_int_equal(quantize_tensor_type(m, "token_embd.weight", ne96, 0, 8, false, &fb), GGML_TYPE_Q8_0);
    assert_false(fb);
    assert_int_equal(quantize_tensor_type(quantize_scheme_find("Q4_0"), "blk.0.attn_q.weight", ne100, 0,
                                          8, false, &fb), GGML_TYPE_F16);
    assert_true(fb);
    const uint64_t ne256[4] = {256, 64, 1, 1};
    assert_int_equal(quantize_tensor_type(m, "blk.1.attn_q.weight", ne256, 0, 8, false, &fb), GGML_TYPE_Q4_K);
    assert_false(fb);
}

static void test_schemes_and_order(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t file_type, base;
    } want[] = {
        {"F32", 0, GGML_TYPE_F32},     {"F16", 1, GGML_TYPE_F16},       {"BF16", 32, GGML_TYPE_BF16},
        {"Q8_0", 7, GGML_TYPE_Q8_0},   {"Q4_0", 2, GGML_TYPE_Q4_0},     {"Q6_K", 18, GGML_TYPE_Q6_K},
        {"Q4_K_M", 15, GGML_TYPE_Q4_K}, {"Q5_K_M", 17, GGML_TYPE_Q5_K}, {"Q4_K", 15, GGML_TYPE_Q4_K},
        {"Q5_K", 17, GGML_TYPE_Q5_K},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        const struct quantize_scheme *s = quantize_scheme_find(want[i].name);
        assert_non_null(s);
        assert_int_equal(s->file_type, want[i].file_type);
        assert_int_equal(s->base_type, want[i].base);
        assert_non_null(strstr(quantize_scheme_names(), want[i].name));
    }
    assert_non_null(quantize_scheme_find("q4_k_m"));
    assert_null(quantize_scheme_find("Q3_K"));
    assert_null(quantize_scheme_find(""));
    assert_null(quantize_scheme_pure(GGML_TYPE_Q8_K));
    assert_true(quantize_scheme_pure(GGML_TYPE_Q4_0)->pure);

    /* llama.cpp's order: outside blocks first, blocks by number */
    const char *names[] = {"blk.10.attn_q.weight", "token_embd.weight", "blk.2.ffn_up.weight",
                           "blk.2.attn_norm.weight", "output_norm.weight", "blk.2.attn_k.weight",
                           "output.weight"};
    const char *sorted[] = {"output.weight", "output_norm.weight", "token_embd.weight",
                            "blk.2.attn_k.weight", "blk.2.attn_norm.weight", "blk.2.ffn_up.weight",
                            "blk.10.attn_q.weight"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        for (size_t j = i + 1; j < ARRAY_SIZE(names); j++)
            if (quantize_name_cmp(names[i], names[j]) > 0) {
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        assert_string_equal(names[i], sorted[i]);
}

/* ================================================================ */
/* The writer                                                        */
/* ================================================================ */

/* A 6 MiB F32 tensor (more than one 4 MiB chunk) with known values. */
#define BIG_COLS 1024
#define BIG_ROWS 1536

static float big_value(uint64_t r, uint64_t c)
{
    return (float)((r * 7919 + c * 104729) % 65536) / 1024.0f - 32.0f;
}

static int big_fill(void *user, uint64_t row, uint64_t n, void *dst, struct smol_err *err)
{
    (void)err;
    int *calls = user;
    (*calls)++;
    float *f = dst;
    for (uint64_t r = 0; r < n; r++)
        for (uint64_t c = 0; c < BIG_COLS; c++)
            f[r * BIG_COLS + c] = big_value(row + r, c);
    return 0;
}

static int failing_fill(void *user, uint64_t row, uint64_t n, void *dst, struct smol_err *err)
{
    (void)user, (void)n, (void)dst;
    return row > 0 ? err_set(err, SMOL_EIO, "the source went away") : 0;
}

static void add_small(struct gguf_writer *w)
{
    static const float v[4] = {1, 2, 3, 4};
    const uint64_t ne[1] = {4};
    struct smol_err err = {0};
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "test"), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "small", GGML_TYPE_F32, 1, ne, v, sizeof(v), &err), 0);
}

static void test_streaming_equals_memory(void **state)
{
    (void)state;
    float *big = malloc((size_t)BIG_ROWS * BIG_COLS * sizeof(float));
    assert_non_null(big);
    for (uint64_t r = 0; r < BIG_ROWS; r++)
        for (uint64_t c = 0; c < BIG_COLS; c++)
            big[r * BIG_COLS + c] = big_value(r, c);
    const uint64_t ne[2] = {BIG_COLS, BIG_ROWS};
    struct smol_err err = {0};
    struct gguf_writer *a = gguf_writer_new(), *b = gguf_writer_new();
    add_small(a);
    add_small(b);
    assert_int_equal(gguf_writer_add_tensor(a, "big", GGML_TYPE_F32, 2, ne, big,
                                            (uint64_t)BIG_ROWS * BIG_COLS * 4, &err), 0);
    int calls = 0;
    assert_int_equal(gguf_writer_add_tensor_rows(b, "big", GGML_TYPE_F32, 2, ne, big_fill, &calls, &err), 0);
    const char *pa = test_tmp_path(".gguf");
    char pb[512];
    snprintf(pb, sizeof(pb), "%s", test_tmp_path(".gguf"));
    assert_int_equal(gguf_writer_write(a, pa, &err), 0);
    assert_int_equal(gguf_writer_write(b, pb, &err), 0);
    assert_true(calls >= 2); /* it really went in chunks */
    size_t la, lb;
    char *da = test_read_file(pa, &la), *db = test_read_file(pb, &lb);
    assert_non_null(da);
    assert_non_null(db);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);
    unlink(pa);
    unlink(pb);

    /* a fill that fails: the write fails with its message, no file */
    struct gguf_writer *c = gguf_writer_new();
    add_small(c);
    assert_int_equal(gguf_writer_add_tensor_rows(c, "big", GGML_TYPE_F32, 2, ne, failing_fill, NULL, &err), 0);
    const char *pc = test_tmp_path(".gguf");
    assert_int_equal(gguf_writer_write(c, pc, &err), SMOL_EIO);
    assert_non_null(strstr(err.msg, "the source went away"));
    assert_int_equal(access(pc, F_OK), -1);
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", pc);
    assert_int_equal(access(tmp, F_OK), -1);
    /* bad arguments */
    err_clear(&err);
    assert_int_equal(gguf_writer_add_tensor_rows(c, "x", GGML_TYPE_F32, 2, ne, NULL, NULL, &err), SMOL_EINVAL);
    err_clear(&err);
    const uint64_t odd[2] = {100, 2};
    assert_int_equal(gguf_writer_add_tensor_rows(c, "y", GGML_TYPE_Q4_K, 2, odd, big_fill, &calls, &err),
                     SMOL_EINVAL);
    gguf_writer_free(a);
    gguf_writer_free(b);
    gguf_writer_free(c);
    free(big);
}

/* Removing a key keeps the others in order; setting it again puts it
 * last (what llama-quantize does to general.file_type). */
static void test_writer_remove_moves_last(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_u32(w, "a", 1), 0);
    assert_int_equal(gguf_writer_set_u32(w, "general.file_type", 0), 0);
    assert_int_equal(gguf_writer_set_u32(w, "c", 3), 0);
    assert_int_equal(gguf_writer_remove(w, "general.file_type"), 0);
    assert_int_equal(gguf_writer_remove(w, "absent"), SMOL_ENOTFOUND);
    assert_int_equal(gguf_writer_set_u32(w, "general.file_type", 15), 0);
    const char *path = test_tmp_path(".gguf");
    struct smol_err err = {0};
    assert_int_equal(gguf_writer_write(w, path, &err), 0);
    gguf_writer_free(w);
    struct gguf_file *f = NULL;
    assert_int_equal(gguf_open(&f, path, &err), 0);
    assert_int_equal(f->n_kv, 3);
    assert_true(gguf_str_eq(f->kv[0].key, "a"));
    assert_true(gguf_str_eq(f->kv[1].key, "c"));
    assert_true(gguf_str_eq(f->kv[2].key, "general.file_type"));
    uint32_t v;
    assert_int_equal(gguf_get_u32(f, "general.file_type", &v, &err), 0);
    assert_int_equal(v, 15);
    /* copy_kv_one copies a key with its value */
    struct gguf_writer *w2 = gguf_writer_new();
    assert_int_equal(gguf_writer_copy_kv_one(w2, &f->kv[1]), 0);
    const char *p2 = test_tmp_path(".gguf");
    assert_int_equal(gguf_writer_write(w2, p2, &err), 0);
    gguf_writer_free(w2);
    gguf_close(f);
    assert_int_equal(gguf_open(&f, p2, &err), 0);
    assert_int_equal(f->n_kv, 1);
    assert_int_equal(gguf_get_u32(f, "c", &v, &err), 0);
    assert_int_equal(v, 3);
    gguf_close(f);
    unlink(path);
    unlink(p2);
}

/* ================================================================ */
/* Synth                                                             */
/* ================================================================ */

static void test_synth_shapes(void **state)
{
    (void)state;
    struct synth_shape a, b;
    struct smol_err err = {0};
    synth_shape_3b(&a);
    assert_int_equal(synth_shape_parse("2048x36x16x4x11008", &b, &err), 0);
    assert_int_equal(b.n_embd, a.n_embd);
    assert_int_equal(b.n_layer, 36);
    assert_int_equal(b.n_head, 16);
    assert_int_equal(b.n_head_kv, 4);
    assert_int_equal(b.n_ff, 11008);
    assert_int_equal(a.n_ctx, 65536);
    assert_true(a.rope_base == 5e6f && a.tied);
    assert_int_equal(synth_shape_parse("tiny", &b, &err), 0);
    assert_int_equal(b.n_embd, 256);
    assert_int_equal(b.n_layer, 8);
    assert_int_equal(b.n_ff, 768);
    static const char *const bad[] = {"4b", "12x", "0x1x1x1x1", "64x2x3x1x8", "64x2x4x3x8",
                                      "64x2x4x2x8x9", "64x2x4x2x-8", ""};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err_clear(&err);
        if (synth_shape_parse(bad[i], &b, &err) != SMOL_EINVAL)
            fail_msg("shape '%s' was accepted", bad[i]);
        assert_non_null(strstr(err.msg, "synth: shape"));
    }
}

static struct smol_model *open_model(const char *path)
{
    struct smol_err err = {0};
    struct smol_model *m = smol_model_open(path, NULL, &err);
    if (!m)
        fail_msg("open %s: %s", path, err.msg);
    return m;
}

static void write_tiny(const char *path, const char *scheme, uint64_t seed)
{
    struct smol_err err = {0};
    struct synth_opts o = {.scheme = quantize_scheme_find(scheme), .seed = seed};
    assert_int_equal(synth_shape_parse("tiny", &o.shape, &err), 0);
    if (synth_write_model(path, &o, &err) != 0)
        fail_msg("synth %s: %s", scheme, err.msg);
}

/* Logits after a few tokens, malloc'd [n_vocab]. */
static float *logits_of(struct smol_model *m)
{
    const int32_t ids[5] = {104, 101, 108, 108, 111};
    struct smol_err err = {0};
    struct smol_seq *s = smol_seq_new(m, 16, &err);
    assert_non_null(s);
    float *l = malloc((size_t)smol_n_vocab(m) * sizeof(float));
    assert_int_equal(smol_eval(s, ids, 5, l, 0, &err), 0);
    smol_seq_free(s);
    return l;
}

/* Max |a - b| over n, relative to b's standard deviation. */
static double rel_diff(const float *a, const float *b, int n)
{
    double mean = 0, var = 0, worst = 0;
    for (int i = 0; i < n; i++)
        mean += b[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        var += (b[i] - mean) * (b[i] - mean);
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    }
    return worst / sqrt(var / n);
}

static void test_synth_tiny_model(void **state)
{
    (void)state;
    char p1[512], p2[512], p3[512];
    snprintf(p1, sizeof(p1), "%s", test_tmp_path(".gguf"));
    snprintf(p2, sizeof(p2), "%s", test_tmp_path(".gguf"));
    snprintf(p3, sizeof(p3), "%s", test_tmp_path(".gguf"));
    write_tiny(p1, "Q4_K_M", 5);
    write_tiny(p2, "Q4_K_M", 5);
    struct smol_model *m = open_model(p1);
    struct smol_model_info in;
    smol_model_get_info(m, &in);
    assert_string_equal(in.arch, "smollm3");
    assert_int_equal(in.n_embd, 256);
    assert_int_equal(in.n_layer, 8);
    assert_int_equal(in.n_head, 4);
    assert_int_equal(in.n_head_kv, 2);
    assert_int_equal(in.head_dim, 64);
    assert_int_equal(in.n_ff, 768);
    assert_int_equal(in.n_ctx_train, 2048);
    assert_int_equal(in.n_vocab, 268);
    assert_int_equal(in.nope_interval, 4);
    assert_true(in.tied_embeddings);
    assert_true(in.rope_base == 5e6f);
    /* the fixture tiny-q4_k_m's census: the recipe at work */
    assert_string_equal(in.type_counts, "F32:17 Q4_K:48 Q6_K:9");
    float *l = logits_of(m);
    for (int i = 0; i < in.n_vocab; i++)
        assert_true(isfinite(l[i]));
    smol_model_close(m);

    /* the same seed gives the same bytes; another seed other weights */
    size_t n1, n2, n3;
    char *d1 = test_read_file(p1, &n1), *d2 = test_read_file(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(d1, d2, n1);
    write_tiny(p3, "Q4_K_M", 6);
    char *d3 = test_read_file(p3, &n3);
    assert_int_equal(n1, n3);
    assert_memory_not_equal(d1, d3, n1);
    free(d1), free(d2), free(d3);

    /* general.file_type last, after quantization_version, as llama-quantize */
    struct gguf_file *f = NULL;
    struct smol_err err = {0};
    assert_int_equal(gguf_open(&f, p1, &err), 0);
    assert_true(gguf_str_eq(f->kv[f->n_kv - 1].key, "general.file_type"));
    assert_true(gguf_str_eq(f->kv[f->n_kv - 2].key, "general.quantization_version"));
    uint32_t ft;
    assert_int_equal(gguf_get_u32(f, "general.file_type", &ft, &err), 0);
    assert_int_equal(ft, 15);
    gguf_close(f);
    free(l);
    unlink(p1), unlink(p2), unlink(p3);
}

/* An F32 and a Q8_0 model of one seed are one model up to quantization:
 * their logits agree closely (and differ from another seed's). */
static void test_synth_type_independent(void **state)
{
    (void)state;
    char pf[512], pq[512], po[512];
    snprintf(pf, sizeof(pf), "%s", test_tmp_path(".gguf"));
    snprintf(pq, sizeof(pq), "%s", test_tmp_path(".gguf"));
    snprintf(po, sizeof(po), "%s", test_tmp_path(".gguf"));
    write_tiny(pf, "F32", 9);
    write_tiny(pq, "Q8_0", 9);
    write_tiny(po, "F32", 10);
    struct smol_model *mf = open_model(pf), *mq = open_model(pq), *mo = open_model(po);
    float *lf = logits_of(mf), *lq = logits_of(mq), *lo = logits_of(mo);
    const int V = smol_n_vocab(mf);
    const double same = rel_diff(lq, lf, V), other = rel_diff(lo, lf, V);
    if (!(same < 0.1 && other > 1.0))
        fail_msg("Q8_0 vs F32 of one seed: %.3g sd; another seed: %.3g sd", same, other);
    free(lf), free(lq), free(lo);
    smol_model_close(mf), smol_model_close(mq), smol_model_close(mo);
    unlink(pf), unlink(pq), unlink(po);
}

/* ================================================================ */
/* Quantize                                                          */
/* ================================================================ */

/* F32 -> Q8_0 -> back to F32: the engine opens both, logits agree
 * loosely, and dequantizing Q8_0 to F32 changes no logit at all. */
static void test_quantize_round_trip(void **state)
{
    (void)state;
    char pf[512], pq[512], pb[512];
    snprintf(pf, sizeof(pf), "%s", test_tmp_path(".gguf"));
    snprintf(pq, sizeof(pq), "%s", test_tmp_path(".gguf"));
    snprintf(pb, sizeof(pb), "%s", test_tmp_path(".gguf"));
    write_tiny(pf, "F32", 3);
    struct smol_err err = {0};
    struct quantize_stats st;
    assert_int_equal(quantize_file(pf, pq, quantize_scheme_find("Q8_0"), 2, &st, &err), 0);
    assert_int_equal(st.n_tensors, 74);
    assert_int_equal(st.n_converted, 57);
    assert_int_equal(st.type_count[GGML_TYPE_Q8_0], 57);
    assert_int_equal(st.type_count[GGML_TYPE_F32], 17);
    assert_true(st.bytes_out * 3 < st.bytes_in);
    assert_int_equal(quantize_file(pq, pb, quantize_scheme_find("F32"), 1, &st, &err), 0);
    assert_int_equal(st.type_count[GGML_TYPE_F32], 74);

    struct smol_model *mf = open_model(pf), *mq = open_model(pq), *mb = open_model(pb);
    float *lf = logits_of(mf), *lq = logits_of(mq), *lb = logits_of(mb);
    const int V = smol_n_vocab(mf);
    const double d = rel_diff(lq, lf, V);
    if (d > 0.1)
        fail_msg("Q8_0 logits differ from F32 by %.3g sd", d);
    assert_true(d > 0); /* it did quantize */
    /* back in F32, the model runs like the Q8_0 one (the SIMD kernels
     * quantize activations for Q8_0 weights only, hence not exactly) */
    assert_true(rel_diff(lb, lq, V) < 0.1);
    free(lf), free(lq), free(lb);
    /* and its weights are exactly the Q8_0 blocks' values */
    struct gguf_file *fq = NULL, *fb = NULL;
    assert_int_equal(gguf_open(&fq, pq, &err), 0);
    assert_int_equal(gguf_open(&fb, pb, &err), 0);
    assert_int_equal(fq->n_tensors, fb->n_tensors);
    for (uint64_t i = 0; i < fq->n_tensors; i++) {
        const struct gguf_tensor *q = &fq->tensors[i], *b = &fb->tensors[i];
        assert_int_equal(q->name.len, b->name.len);
        assert_memory_equal(q->name.ptr, b->name.ptr, q->name.len);
        assert_int_equal(b->type, GGML_TYPE_F32);
        const uint64_t n = q->ne[0] * q->ne[1] * q->ne[2] * q->ne[3];
        float *x = malloc(n * sizeof(float));
        quant_dequantize_row(q->type, q->data, x, (int64_t)n);
        assert_int_equal(b->size, n * sizeof(float));
        assert_memory_equal(x, b->data, b->size);
        free(x);
    }
    gguf_close(fq);
    gguf_close(fb);
    smol_model_close(mf), smol_model_close(mq), smol_model_close(mb);

    /* errors: a missing input names it and writes nothing */
    err_clear(&err);
    assert_true(quantize_file("/nonexistent/x.gguf", pb, quantize_scheme_find("Q8_0"), 1, NULL, &err) < 0);
    assert_non_null(strstr(err.msg, "/nonexistent/x.gguf"));
    err_clear(&err);
    assert_int_equal(quantize_file(pf, pb, NULL, 1, NULL, &err), SMOL_EINVAL);
    unlink(pf), unlink(pq), unlink(pb);
}

/* ================================================================ */
/* Bench                                                             */
/* ================================================================ */

static void test_bandwidth(void **state)
{
    (void)state;
    struct bench_bandwidth r;
    struct smol_err err = {0};
    const uint64_t bytes = 4u << 20, n = bytes / 8;
    for (int t = 1; t <= 3; t++) {
        assert_int_equal(bench_measure_bandwidth(bytes, t, 2, &r, &err), 0);
        /* every word read exactly once: the sum of 0..n-1 */
        assert_true(r.checksum == n * (n - 1) / 2);
        assert_true(r.best_gbs > 0 && r.best_gbs >= r.median_gbs);
    }
    assert_int_equal(bench_measure_bandwidth(1024, 1, 1, &r, &err), SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "bandwidth"));
    err_clear(&err);
    assert_int_equal(bench_measure_bandwidth(bytes, 0, 1, &r, &err), SMOL_EINVAL);
}

static void test_bench_run(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof(p), "%s", test_tmp_path(".gguf"));
    write_tiny(p, "Q8_0", 4);
    struct smol_model *m = open_model(p);
    struct bench_params bp = {.n_prompt = 8, .n_gen = 4, .seed = 1};
    struct bench_run a, b;
    struct smol_err err = {0};
    assert_int_equal(bench_run_once(m, &bp, &a, &err), 0);
    assert_int_equal(bench_run_once(m, &bp, &b, &err), 0);
    assert_true(a.pp_ms > 0 && a.tg_ms > 0 && a.ttft_ms >= a.pp_ms);
    /* greedy on the same prompt: the same tokens */
    assert_int_equal(a.first_token, b.first_token);
    assert_int_equal(a.last_token, b.last_token);
    bp.n_gen = 0;
    assert_int_equal(bench_run_once(m, &bp, &a, &err), SMOL_EINVAL);
    smol_model_close(m);

    /* tied: every tensor is read per token */
    struct smol_model_info in;
    m = open_model(p);
    smol_model_get_info(m, &in);
    smol_model_close(m);
    uint64_t bytes = 0;
    err_clear(&err);
    assert_int_equal(bench_decode_bytes(p, &bytes, &err), 0);
    assert_true(bytes == in.weight_bytes);
    /* untied: the embedding table is not */
    struct synth_opts o = {.scheme = quantize_scheme_find("F32"), .seed = 1};
    assert_int_equal(synth_shape_parse("64x2x4x2x128", &o.shape, &err), 0);
    o.shape.tied = false;
    assert_int_equal(synth_write_model(p, &o, &err), 0);
    assert_int_equal(bench_decode_bytes(p, &bytes, &err), 0);
    m = open_model(p);
    smol_model_get_info(m, &in);
    smol_model_close(m);
    assert_true(bytes == in.weight_bytes - 268ull * 64 * 4);
    assert_true(bench_decode_bytes("/nonexistent.gguf", &bytes, &err) < 0);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipe_mixes),
        cmocka_unit_test(test_recipe_output_and_plain),
        cmocka_unit_test(test_recipe_fallback),
        cmocka_unit_test(test_schemes_and_order),
        cmocka_unit_test(test_streaming_equals_memory),
        cmocka_unit_test(test_writer_remove_moves_last),
        cmocka_unit_test(test_synth_shapes),
        cmocka_unit_test(test_synth_tiny_model),
        cmocka_unit_test(test_synth_type_independent),
        cmocka_unit_test(test_quantize_round_trip),
        cmocka_unit_test(test_bandwidth),
        cmocka_unit_test(test_bench_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
