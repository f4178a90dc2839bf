/*
 * test_kernels.c: the kernel tables against the scalar reference, and
 * the matmuls' independence of the thread count.
 *
 * What each group guards:
 *  - quant_vec_dot (the spec): with unit scales it must equal a plain
 *    integer dot of the dequantized levels exactly, so a reference that
 *    reads a nibble, a high bit, a scale or a min from the wrong place
 *    fails; with random scales it agrees with float64 math on the
 *    dequantized rows.
 *  - the generic table: bit for bit quant_dot (the exact-math path).
 *  - every SIMD table this CPU runs (and only those: the others are
 *    reported as skipped): its activation quantizers byte for byte the
 *    reference; its dot products on random rows of odd block counts
 *    (quantized from floats, and raw random bytes with sane scales)
 *    within a tight bound of the reference, and exactly equal to it
 *    with unit scales, where every sum is an integer below 2^24; the
 *    same bits whatever nx the call groups the activation rows in;
 *    float weights (F32/F16/BF16) at lengths that exercise every tail;
 *    the attention helpers.
 *  - ops_matmul with pools of 1, 2, 3 and 5 threads: bitwise equal
 *    results, equal to the kernel called row by row; a whole model
 *    whose logits do not change a bit with the thread count, nor with
 *    how a long prompt is cut into forward steps.
 *  - choosing: unknown and foreign names fail with a sentence.
 */
#include "testutil.h"
#include "kernels.h"
#include "ops.h"
#include "pool.h"
#include "quant.h"
#include "smol.h"
#include "synth.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static const uint32_t quant_types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
                                       GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
static const uint32_t float_types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16};

/* Weight rows to test, in blocks: 1, a few odd counts, and 43 (the 3B
 * model's n_ff = 11008 in K-quant blocks). */
static const int block_counts[] = {1, 2, 3, 5, 8, 43};

/* 64-byte aligned bytes (aligned_alloc wants a whole number of lines). */
static void *alloc64(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    assert_non_null(p);
    return p;
}

/* ==================================================================== */
/* Test data                                                             */
/* ==================================================================== */

enum weight_kind {
    W_QUANTIZED,  /* quant_quantize_row of normal floats */
    W_RANDOM,     /* random bytes, scales set to modest f16 values */
    W_UNIT,       /* random bytes, scales 1.0: every sum an integer */
};

static uint16_t rand_f16_scale(uint64_t *rng)
{
    return quant_f32_to_f16(0.001f + 0.05f * test_rand_uniform(rng));
}

/* n_rows rows of n elements of type into out (row_bytes apart). */
static void make_weights(uint32_t type, int64_t n, int n_rows, enum weight_kind kind,
                         uint64_t *rng, uint8_t *out)
{
    uint64_t rb;
    assert_true(quant_row_size(type, (uint64_t)n, &rb));
    const struct quant_type_info *ti = quant_type_info(type);
    float *f = malloc((size_t)n * sizeof(float));
    assert_non_null(f);
    for (int r = 0; r < n_rows; r++) {
        uint8_t *row = out + (size_t)r * rb;
        if (kind == W_QUANTIZED) {
            const float scale = 0.1f + 3.0f * test_rand_uniform(rng);
            for (int64_t i = 0; i < n; i++)
                f[i] = scale * test_rand_normal(rng);
            quant_quantize_row(type, f, row, n);
            continue;
        }
        for (uint64_t i = 0; i < rb; i++)
            row[i] = (uint8_t)test_rand_u64(rng);
        const uint16_t unit = 0x3c00; /* 1.0 */
        for (int64_t b = 0; b < n / ti->block_size; b++) {
            uint8_t *blk = row + b * ti->type_size;
            uint16_t d = kind == W_UNIT ? unit : rand_f16_scale(rng);
            uint16_t dmin = kind == W_UNIT ? unit : rand_f16_scale(rng);
            switch (type) {
            case GGML_TYPE_Q8_0:
                memcpy(blk + offsetof(struct block_q8_0, d), &d, 2);
                break;
            case GGML_TYPE_Q4_0:
                memcpy(blk + offsetof(struct block_q4_0, d), &d, 2);
                break;
            case GGML_TYPE_Q4_K:
                memcpy(blk + offsetof(struct block_q4_K, d), &d, 2);
                memcpy(blk + offsetof(struct block_q4_K, dmin), &dmin, 2);
                break;
            case GGML_TYPE_Q5_K:
                memcpy(blk + offsetof(struct block_q5_K, d), &d, 2);
                memcpy(blk + offsetof(struct block_q5_K, dmin), &dmin, 2);
                break;
            case GGML_TYPE_Q6_K:
                memcpy(blk + offsetof(struct block_q6_K, d), &d, 2);
                break;
            default:
                fail_msg("no raw blocks for type %u", type);
            }
        }
    }
    free(f);
}

/* Activation rows in format act (Q8_0 or Q8_K), stride bytes apart:
 * quantized from random floats with quant.h's reference, or, for unit,
 * random levels in -15..15 with scale 1 and consistent bsums (small
 * enough that a 43-block Q6_K sum with its 8-bit scales stays far below
 * 2^24, where float lanes stop holding integers exactly; the full
 * range is covered by the quantized rows). */
static size_t act_row_bytes(uint32_t act, int64_t n)
{
    uint64_t b;
    assert_true(quant_row_size(act, (uint64_t)n, &b));
    return (size_t)b;
}

static void make_acts(uint32_t act, int64_t n, int n_rows, bool unit, uint64_t *rng,
                      uint8_t *out, float *floats)
{
    const size_t stride = act_row_bytes(act, n);
    for (int r = 0; r < n_rows; r++) {
        float *f = floats + (size_t)r * n;
        const float scale = 0.05f + 2.0f * test_rand_uniform(rng);
        for (int64_t i = 0; i < n; i++)
            f[i] = scale * test_rand_normal(rng);
        void *row = out + (size_t)r * stride;
        if (act == GGML_TYPE_Q8_K)
            quant_quantize_row_q8_K(f, row, n);
        else
            quant_quantize_row_q8_0_act(f, row, n);
        if (!unit)
            continue;
        if (act == GGML_TYPE_Q8_K) {
            struct block_q8_K *b = row;
            for (int64_t i = 0; i < n / QK_K; i++) {
                b[i].d = 1.0f;
                for (int j = 0; j < QK_K; j++)
                    b[i].qs[j] = (int8_t)((int)(test_rand_u64(rng) % 31) - 15);
                for (int g = 0; g < QK_K / 16; g++) {
                    int s = 0;
                    for (int j = 0; j < 16; j++)
                        s += b[i].qs[16 * g + j];
                    b[i].bsums[g] = (int16_t)s;
                }
            }
        } else {
            struct block_q8_0 *b = row;
            for (int64_t i = 0; i < n / QK8_0; i++) {
                b[i].d = 0x3c00;
                for (int j = 0; j < QK8_0; j++)
                    b[i].qs[j] = (int8_t)((int)(test_rand_u64(rng) % 31) - 15);
            }
        }
    }
}

/* Dequantizes an activation row (exact: d * q). */
static void dequant_act(uint32_t act, const void *row, int64_t n, float *out)
{
    quant_dequantize_row(act, row, out, n);
}

/* sum_i |w_i| |x_i| + 2 |min_i| |x_i|: bounds the sum of the absolute
 * block terms any kernel adds up, so it scales the float tolerance. */
static double dot_magnitude(uint32_t type, const void *w, const float *x, int64_t n)
{
    float *wf = malloc((size_t)n * sizeof(float));
    assert_non_null(wf);
    quant_dequantize_row(type, w, wf, n);
    double mag = 0;
    for (int64_t i = 0; i < n; i++)
        mag += fabs((double)wf[i] * x[i]);
    if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K) {
        const size_t ts = quant_type_info(type)->type_size;
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *blk = (const uint8_t *)w + (size_t)(i / QK_K) * ts;
            /* both block structs start with d, dmin, scales[12] */
            const struct block_q4_K *b = (const struct block_q4_K *)(const void *)blk;
            uint8_t sc, m;
            quant_k4_scale_min((int)(i % QK_K) / 32, b->scales, &sc, &m);
            mag += 2.0 * fabs((double)quant_f16_to_f32(b->dmin) * m * x[i]);
        }
    }
    free(wf);
    return mag;
}

/* ==================================================================== */
/* The reference                                                         */
/* ==================================================================== */

/* With unit scales, quant_vec_dot is the integer dot of the dequantized
 * levels (weights through the tested dequantizers, activations d * q):
 * exact, since every partial sum is an integer far below 2^53. */
static void test_reference_exact(void **state)
{
    (void)state;
    uint64_t rng = 11;
    for (size_t ti = 0; ti < ARRAY_SIZE(quant_types); ti++) {
        const uint32_t type = quant_types[ti], act = quant_act_type(type);
        for (size_t bi = 0; bi < ARRAY_SIZE(block_counts); bi++) {
            const int64_t n = (int64_t)block_counts[bi] * quant_type_info(type)->block_size;
            uint64_t rb;
            quant_row_size(type, (uint64_t)n, &rb);
            uint8_t *w = alloc64(rb);
            uint8_t *x = alloc64(act_row_bytes(act, n));
            float *xf = malloc((size_t)n * sizeof(float)), *wf = malloc((size_t)n * sizeof(float));
            make_weights(type, n, 1, W_UNIT, &rng, w);
            make_acts(act, n, 1, true, &rng, x, xf);
            quant_dequantize_row(type, w, wf, n);
            dequant_act(act, x, n, xf);
            double want = 0;
            for (int64_t i = 0; i < n; i++)
                want += (double)wf[i] * xf[i];
            const float got = quant_vec_dot(type, w, x, n);
            if (got != (float)want)
                fail_msg("%s x %d blocks: quant_vec_dot %.9g, integer dot %.9g",
                         quant_type_info(type)->name, block_counts[bi], (double)got, want);
            free(w), free(x), free(xf), free(wf);
        }
    }
}

/* With real scales it agrees with float64 math on dequantized rows (the
 * difference is the float rounding of d * sc and of the dequantizer). */
static void test_reference_float(void **state)
{
    (void)state;
    uint64_t rng = 12;
    for (size_t ti = 0; ti < ARRAY_SIZE(quant_types); ti++) {
        const uint32_t type = quant_types[ti], act = quant_act_type(type);
        const int64_t n = 8 * (int64_t)quant_type_info(type)->block_size;
        uint64_t rb;
        quant_row_size(type, (uint64_t)n, &rb);
        uint8_t *w = alloc64(rb);
        uint8_t *x = alloc64(act_row_bytes(act, n));
        float *xf = malloc((size_t)n * sizeof(float)), *wf = malloc((size_t)n * sizeof(float));
        for (int rep = 0; rep < 20; rep++) {
            make_weights(type, n, 1, rep % 2 ? W_RANDOM : W_QUANTIZED, &rng, w);
            make_acts(act, n, 1, false, &rng, x, xf);
            quant_dequantize_row(type, w, wf, n);
            dequant_act(act, x, n, xf);
            double want = 0;
            for (int64_t i = 0; i < n; i++)
                want += (double)wf[i] * xf[i];
            const double got = quant_vec_dot(type, w, x, n);
            const double tol = 1e-5 * dot_magnitude(type, w, xf, n) + 1e-30;
            if (fabs(got - want) > tol)
                fail_msg("%s: quant_vec_dot %.9g vs float64 %.9g (tolerance %.3g)",
                         quant_type_info(type)->name, got, want, tol);
        }
        free(w), free(x), free(xf), free(wf);
    }
    /* float weights: quant_vec_dot is quant_dot */
    float w[96], xv[96];
    for (int i = 0; i < 96; i++)
        w[i] = test_rand_normal(&rng), xv[i] = test_rand_normal(&rng);
    assert_true(quant_vec_dot(GGML_TYPE_F32, w, xv, 96) == quant_dot(GGML_TYPE_F32, w, xv, 96));
    assert_int_equal(quant_act_type(GGML_TYPE_Q4_K), GGML_TYPE_Q8_K);
    assert_int_equal(quant_act_type(GGML_TYPE_Q4_0), GGML_TYPE_Q8_0);
    assert_int_equal(quant_act_type(GGML_TYPE_BF16), GGML_TYPE_F32);
}

/* ==================================================================== */
/* The tables                                                            */
/* ==================================================================== */

/* The generic table is quant_dot, bit for bit, for every type. */
static void test_generic_is_exact(void **state)
{
    (void)state;
    const struct kernels *k = kernels_get("generic", NULL);
    assert_non_null(k);
    assert_string_equal(k->name, "generic");
    uint64_t rng = 13;
    const uint32_t all[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                            GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
    for (size_t ti = 0; ti < ARRAY_SIZE(all); ti++) {
        const uint32_t type = all[ti];
        assert_int_equal(k->act_type[type], GGML_TYPE_F32);
        const int64_t n = 3 * QK_K;
        uint64_t rb;
        quant_row_size(type, n, &rb);
        uint8_t *w = alloc64(rb);
        float *x = malloc((size_t)n * KERN_NX_MAX * sizeof(float)), *f = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            f[i] = test_rand_normal(&rng);
        quant_quantize_row(type, f, w, n);
        for (int64_t i = 0; i < n * KERN_NX_MAX; i++)
            x[i] = test_rand_normal(&rng);
        float out[KERN_NX_MAX];
        k->dot[type](n, w, x, (size_t)n * sizeof(float), k->nx, out);
        for (int t = 0; t < k->nx; t++)
            assert_true(out[t] == quant_dot(type, w, x + t * n, n));
        free(w), free(x), free(f);
    }
}

/* The SIMD tables this CPU can run; skipped (loudly) when none. */
static int simd_tables(const struct kernels **out)
{
    const char *names[8];
    const int n = kernels_usable(names, 8);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], "generic"))
            out[m++] = kernels_get(names[i], NULL);
    if (m == 0)
        fprintf(stderr, "SKIPPED: this CPU runs no SIMD kernel table\n");
    return m;
}

/* Activation quantizers: byte for byte the reference. */
static void test_simd_quantizers(void **state)
{
    (void)state;
    const struct kernels *tabs[8];
    const int n_tab = simd_tables(tabs);
    if (!n_tab)
        skip();
    uint64_t rng = 14;
    const int64_t n = 43 * QK_K;
    float *f = malloc((size_t)n * sizeof(float));
    uint8_t *a = malloc(act_row_bytes(GGML_TYPE_Q8_K, n)), *b = malloc(act_row_bytes(GGML_TYPE_Q8_K, n));
    for (int rep = 0; rep < 8; rep++) {
        for (int64_t i = 0; i < n; i++)
            f[i] = (rep == 7 && i < 300) ? 0.0f : (0.01f + rep) * test_rand_normal(&rng);
        if (rep == 6) /* ties: halves of the scale's steps */
            for (int64_t i = 0; i < n; i++)
                f[i] = (float)((int)(test_rand_u64(&rng) % 509) - 254) * 0.5f;
        for (int t = 0; t < n_tab; t++) {
            quant_quantize_row_q8_K(f, (void *)a, n);
            tabs[t]->quantize_q8_K(f, (void *)b, n);
            assert_memory_equal(a, b, act_row_bytes(GGML_TYPE_Q8_K, n));
            quant_quantize_row_q8_0_act(f, (void *)a, n);
            tabs[t]->quantize_q8_0(f, (void *)b, n);
            assert_memory_equal(a, b, act_row_bytes(GGML_TYPE_Q8_0, n));
        }
    }
    free(f), free(a), free(b);
}

/* One table, one type, one length: tolerance, exactness with unit
 * scales, and the same bits for every grouping of the rows. */
static void check_quant_dot(const struct kernels *k, uint32_t type, int64_t n, uint64_t *rng)
{
    const uint32_t act = k->act_type[type];
    assert_int_equal(act, quant_act_type(type));
    const char *tn = quant_type_info(type)->name;
    enum { ROWS = 3, NX = 4 };
    uint64_t rb;
    quant_row_size(type, (uint64_t)n, &rb);
    const size_t xs = act_row_bytes(act, n);
    uint8_t *w = alloc64(ROWS * rb);
    uint8_t *x = alloc64(NX * xs);
    float *xf = malloc((size_t)n * NX * sizeof(float));
    assert_true(w && x && xf);
    for (int kind = W_QUANTIZED; kind <= W_UNIT; kind++) {
        make_weights(type, n, ROWS, kind, rng, w);
        make_acts(act, n, NX, kind == W_UNIT, rng, x, xf);
        for (int r = 0; r < ROWS; r++) {
            const uint8_t *row = w + r * rb;
            float all[NX], one[1];
            k->dot[type](n, row, x, xs, MIN(NX, k->nx), all);
            for (int t = 0; t < NX; t++) {
                const uint8_t *xt = x + t * xs;
                const float want = quant_vec_dot(type, row, xt, n);
                k->dot[type](n, row, xt, xs, 1, one);
                if (t < k->nx && memcmp(one, &all[t], sizeof(float)))
                    fail_msg("%s %s n=%lld: row %d token %d gives %.9g alone and %.9g in a group",
                             k->name, tn, (long long)n, r, t, (double)one[0], (double)all[t]);
                if (kind == W_UNIT) {
                    if (one[0] != want)
                        fail_msg("%s %s n=%lld unit scales: %.9g, reference %.9g", k->name, tn,
                                 (long long)n, (double)one[0], (double)want);
                    continue;
                }
                dequant_act(act, xt, n, xf);
                const double tol = 1e-5 * dot_magnitude(type, row, xf, n) + 1e-30;
                if (fabs((double)one[0] - want) > tol)
                    fail_msg("%s %s n=%lld: %.9g, reference %.9g (tolerance %.3g)", k->name, tn,
                             (long long)n, (double)one[0], (double)want, tol);
            }
        }
    }
    free(w), free(x), free(xf);
}

static void test_simd_quant_dots(void **state)
{
    (void)state;
    const struct kernels *tabs[8];
    const int n_tab = simd_tables(tabs);
    if (!n_tab)
        skip();
    uint64_t rng = 15;
    for (int t = 0; t < n_tab; t++)
        for (size_t ti = 0; ti < ARRAY_SIZE(quant_types); ti++)
            for (size_t bi = 0; bi < ARRAY_SIZE(block_counts); bi++)
                for (int rep = 0; rep < 3; rep++)
                    check_quant_dot(tabs[t], quant_types[ti],
                                    (int64_t)block_counts[bi] *
                                        quant_type_info(quant_types[ti])->block_size, &rng);
}

/* Float weights keep float activations: within float summation error
 * of quant_dot, at lengths hitting every vector tail. */
static void test_simd_float_dots(void **state)
{
    (void)state;
    const struct kernels *tabs[8];
    const int n_tab = simd_tables(tabs);
    if (!n_tab)
        skip();
    static const int lens[] = {1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 257, 2051};
    uint64_t rng = 16;
    for (int t = 0; t < n_tab; t++) {
        const struct kernels *k = tabs[t];
        for (size_t ti = 0; ti < ARRAY_SIZE(float_types); ti++) {
            const uint32_t type = float_types[ti];
            assert_int_equal(k->act_type[type], GGML_TYPE_F32);
            for (size_t li = 0; li < ARRAY_SIZE(lens); li++) {
                const int n = lens[li];
                uint64_t rb;
                quant_row_size(type, (uint64_t)n, &rb);
                uint8_t *w = malloc(rb);
                float *f = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * 4 * sizeof(float));
                for (int i = 0; i < n; i++)
                    f[i] = test_rand_normal(&rng);
                for (int i = 0; i < 4 * n; i++)
                    x[i] = test_rand_normal(&rng);
                quant_quantize_row(type, f, w, n);
                float out[4], one[1];
                k->dot[type](n, w, x, (size_t)n * sizeof(float), MIN(4, k->nx), out);
                for (int r = 0; r < MIN(4, k->nx); r++) {
                    const float want = quant_dot(type, w, x + r * n, n);
                    k->dot[type](n, w, x + r * n, 0, 1, one);
                    assert_memory_equal(one, &out[r], sizeof(float));
                    double mag = 0;
                    quant_dequantize_row(type, w, f, n);
                    for (int i = 0; i < n; i++)
                        mag += fabs((double)f[i] * x[r * n + i]);
                    if (fabs((double)out[r] - want) > 1e-6 * mag + 1e-30)
                        fail_msg("%s %s n=%d: %.9g, reference %.9g", k->name,
                                 quant_type_info(type)->name, n, (double)out[r], (double)want);
                }
                free(w), free(f), free(x);
            }
        }
        /* attention helpers against plain double math, at head sizes
         * that hit every tail and with keys a row stride apart */
        static const int hds[] = {1, 7, 8, 16, 24, 64, 65, 100, 128, 256};
        static const int n_pos[] = {1, 3, 4, 5, 17, 64};
        for (size_t hi = 0; hi < ARRAY_SIZE(hds); hi++) {
            for (size_t pi = 0; pi < ARRAY_SIZE(n_pos); pi++) {
                const int hd = hds[hi], n = n_pos[pi];
                const size_t stride = (size_t)hd + 13;
                float *q = malloc((size_t)hd * sizeof(float));
                float *kv = malloc((size_t)n * stride * sizeof(float));
                float *sc = malloc((size_t)n * sizeof(float)), *p = malloc((size_t)n * sizeof(float));
                float *out = malloc((size_t)hd * sizeof(float));
                for (int i = 0; i < hd; i++)
                    q[i] = test_rand_normal(&rng);
                for (size_t i = 0; i < (size_t)n * stride; i++)
                    kv[i] = test_rand_normal(&rng);
                for (int j = 0; j < n; j++)
                    p[j] = test_rand_uniform(&rng);
                k->attn_scores(sc, q, kv, stride, n, hd, 0.125f);
                k->attn_mix(out, p, kv, stride, n, hd);
                for (int j = 0; j < n; j++) {
                    double want = 0, mag = 0;
                    for (int i = 0; i < hd; i++) {
                        want += (double)q[i] * kv[j * stride + i];
                        mag += fabs((double)q[i] * kv[j * stride + i]);
                    }
                    if (fabs(sc[j] - 0.125 * want) > 1e-6 * mag)
                        fail_msg("%s attn_scores hd=%d n=%d: key %d %.9g, want %.9g", k->name, hd,
                                 n, j, (double)sc[j], 0.125 * want);
                }
                for (int i = 0; i < hd; i++) {
                    double want = 0, mag = 0;
                    for (int j = 0; j < n; j++) {
                        want += (double)p[j] * kv[j * stride + i];
                        mag += fabs((double)p[j] * kv[j * stride + i]);
                    }
                    if (fabs(out[i] - want) > 1e-6 * mag)
                        fail_msg("%s attn_mix hd=%d n=%d: element %d %.9g, want %.9g", k->name,
                                 hd, n, i, (double)out[i], want);
                }
                free(q), free(kv), free(sc), free(p), free(out);
            }
        }
        /* softmax and swiglu against double math, at lengths that hit
         * every tail, with wide spreads and the edges of exp's range */
        static const int elt_lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 33, 100, 577};
        for (size_t li = 0; li < ARRAY_SIZE(elt_lens); li++) {
            const int n = elt_lens[li];
            float *x = malloc((size_t)n * sizeof(float)), *g = malloc((size_t)n * sizeof(float));
            float *u = malloc((size_t)n * sizeof(float));
            double *want = malloc((size_t)n * sizeof(double));
            for (int i = 0; i < n; i++) {
                x[i] = test_rand_normal(&rng) * (i % 3 ? 4.0f : 40.0f);
                g[i] = test_rand_normal(&rng) * 6.0f;
                u[i] = test_rand_normal(&rng);
            }
            if (n > 2)
                x[1] = -1e30f, g[1] = -100.0f, g[2] = 100.0f;
            float max = x[0];
            double sum = 0;
            for (int i = 1; i < n; i++)
                max = x[i] > max ? x[i] : max;
            /* the difference as the kernels form it, in float */
            for (int i = 0; i < n; i++)
                sum += want[i] = exp((double)(x[i] - max));
            k->softmax(x, n);
            for (int i = 0; i < n; i++)
                if (fabs(x[i] - want[i] / sum) > 1e-6 * want[i] / sum + 1e-30)
                    fail_msg("%s softmax n=%d: element %d %.9g, want %.9g", k->name, n, i,
                             (double)x[i], want[i] / sum);
            for (int i = 0; i < n; i++)
                want[i] = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
            k->swiglu(g, u, n);
            for (int i = 0; i < n; i++)
                if (fabs(g[i] - want[i]) > 1e-6 * fabs(want[i]) + 1e-30)
                    fail_msg("%s swiglu n=%d: element %d %.9g, want %.9g", k->name, n, i,
                             (double)g[i], want[i]);
            free(x), free(g), free(u), free(want);
        }
    }
}

static void test_choosing(void **state)
{
    (void)state;
    struct smol_err err = {0};
    assert_null(kernels_get("sse9", &err));
    assert_int_equal(err.code, SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown kernel set 'sse9'"));
    err_clear(&err);
#if defined(__x86_64__)
    assert_null(kernels_get("neon", &err));
    assert_non_null(strstr(err.msg, "another architecture"));
#else
    assert_null(kernels_get("avx2", &err));
    assert_non_null(strstr(err.msg, "another architecture"));
#endif
    const char *names[8];
    const int n = kernels_usable(names, 8);
    assert_true(n >= 1);
    assert_string_equal(names[0], "generic");
    for (int i = 0; i < n; i++)
        assert_non_null(kernels_get(names[i], NULL));
    /* the default is usable and stable */
    const struct kernels *d = kernels_default(NULL);
    if (d) {
        assert_ptr_equal(d, kernels_default(NULL));
        printf("  kernel tables usable here:");
        for (int i = 0; i < n; i++)
            printf(" %s", names[i]);
        printf("; default %s\n", d->name);
    }
}

/* ==================================================================== */
/* Threads                                                               */
/* ==================================================================== */

/* ops_matmul over pools of several sizes: the same bits every time,
 * and each output the kernel's dot for its (row, token). */
static void test_matmul_threads(void **state)
{
    (void)state;
    const char *names[8];
    const int n_names = kernels_usable(names, 8);
    uint64_t rng = 17;
    const uint32_t types[] = {GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_0, GGML_TYPE_F16};
    const int64_t cols = 512;
    const int rows_a = 200, rows_b = 48, n_tok = 11; /* rows not multiples of a chunk */
    for (int ni = 0; ni < n_names; ni++) {
        const struct kernels *k = kernels_get(names[ni], NULL);
        for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
            const uint32_t type = types[ti];
            uint64_t rb;
            quant_row_size(type, (uint64_t)cols, &rb);
            uint8_t *wa = alloc64(rows_a * rb), *wb = alloc64(rows_b * rb);
            float *x = malloc((size_t)n_tok * cols * sizeof(float)), *f = malloc(cols * sizeof(float));
            for (int r = 0; r < rows_a + rows_b; r++) {
                for (int64_t c = 0; c < cols; c++)
                    f[c] = test_rand_normal(&rng);
                quant_quantize_row(type, f, r < rows_a ? wa + r * rb : wb + (r - rows_a) * rb, cols);
            }
            for (int64_t i = 0; i < n_tok * cols; i++)
                x[i] = test_rand_normal(&rng);
            const struct weight A = {wa, type, rows_a, cols, rb}, B = {wb, type, rows_b, cols, rb};
            float *ref_a = NULL, *ref_b = NULL;
            static const int thread_counts[] = {1, 2, 3, 5};
            for (size_t tc = 0; tc < ARRAY_SIZE(thread_counts); tc++) {
                struct pool *p = pool_new(thread_counts[tc], NULL);
                struct ops_env e;
                assert_int_equal(ops_env_init(&e, k, p, n_tok, cols, NULL), 0);
                float *ya = malloc((size_t)n_tok * rows_a * sizeof(float));
                float *yb = malloc((size_t)n_tok * rows_b * sizeof(float));
                const struct ops_mm mm[2] = {{&A, ya}, {&B, yb}};
                ops_matmul(&e, x, n_tok, mm, 2);
                if (!ref_a) {
                    ref_a = ya, ref_b = yb;
                    /* each output is the kernel's dot for its pair */
                    const uint32_t act = k->act_type[type];
                    for (int t = 0; t < n_tok; t++) {
                        uint8_t *xq = malloc(act == GGML_TYPE_F32 ? cols * 4 : act_row_bytes(act, cols));
                        const void *xt = x + t * cols;
                        if (act == GGML_TYPE_Q8_K)
                            quant_quantize_row_q8_K(x + t * cols, (void *)xq, cols), xt = xq;
                        else if (act == GGML_TYPE_Q8_0)
                            quant_quantize_row_q8_0_act(x + t * cols, (void *)xq, cols), xt = xq;
                        for (int r = 0; r < rows_a; r++) {
                            float o;
                            k->dot[type](cols, wa + r * rb, xt, 0, 1, &o);
                            assert_memory_equal(&o, &ya[t * rows_a + r], sizeof(float));
                        }
                        free(xq);
                    }
                } else {
                    if (memcmp(ref_a, ya, (size_t)n_tok * rows_a * sizeof(float)) ||
                        memcmp(ref_b, yb, (size_t)n_tok * rows_b * sizeof(float)))
                        fail_msg("%s %s: %d threads change the result", k->name,
                                 quant_type_info(type)->name, thread_counts[tc]);
                    free(ya), free(yb);
                }
                /* the fused SwiGLU equals matmul then silu(g) * u */
                float *g = malloc((size_t)n_tok * rows_a * sizeof(float));
                float *u = malloc((size_t)n_tok * rows_a * sizeof(float));
                ops_matmul_swiglu(&e, x, n_tok, &A, &A, g, u);
                for (int i = 0; i < n_tok * rows_a; i++) {
                    float want = ref_a[i];
                    k->swiglu(&want, &ref_a[i], 1);
                    assert_memory_equal(&want, &g[i], sizeof(float));
                }
                free(g), free(u);
                ops_env_release(&e);
                pool_free(p);
            }
            free(ref_a), free(ref_b), free(wa), free(wb), free(x), free(f);
        }
    }
}

/* A whole model: logits of a prompt and of the decode steps after it
 * are the same bits with 1, 2 and 4 threads. */
static void test_model_threads(void **state)
{
    (void)state;
    struct synth_shape sh;
    synth_shape_tiny(&sh, GGML_TYPE_Q4_K);
    const char *path = test_tmp_path(".gguf");
    struct smol_err err = {0};
    if (synth_write(path, &sh, GGML_TYPE_Q4_K, 5, &err) != 0)
        fail_msg("synth_write: %s", err.msg);
    float *ref = NULL;
    int V = 0;
    static const int thread_counts[] = {1, 2, 4};
    for (size_t tc = 0; tc < ARRAY_SIZE(thread_counts); tc++) {
        struct smol_model_opts o = {.n_threads = thread_counts[tc]};
        struct smol_model *m = smol_model_open(path, &o, &err);
        if (!m)
            fail_msg("open: %s", err.msg);
        struct smol_model_info info;
        smol_model_get_info(m, &info);
        assert_int_equal(info.n_threads, thread_counts[tc]);
        assert_true(info.kernels[0] != '\0');
        V = smol_n_vocab(m);
        struct smol_seq *s = smol_seq_new(m, 64, &err);
        assert_non_null(s);
        int32_t toks[20];
        for (int i = 0; i < 20; i++)
            toks[i] = (i * 37 + 5) % V;
        float *got = malloc((size_t)21 * V * sizeof(float));
        assert_int_equal(smol_eval(s, toks, 20, got, SMOL_EVAL_ALL_LOGITS, &err), 0);
        assert_int_equal(smol_eval(s, toks, 1, got + (size_t)20 * V, 0, &err), 0);
        if (!ref)
            ref = got;
        else {
            if (memcmp(ref, got, (size_t)21 * V * sizeof(float)))
                fail_msg("%s: logits with %d threads differ from 1 thread", info.kernels,
                         thread_counts[tc]);
            free(got);
        }
        smol_seq_free(s);
        smol_model_close(m);
    }
    free(ref);
    unlink(path);
}

/* A prompt longer than a forward step (SEQ_BATCH) goes in chunks; the
 * logits must not depend on where the chunks fall: one call of 300
 * tokens (256 + 44), two of 150, and one token at a time give the same
 * bits, on the default kernels with two threads. */
static void test_prompt_chunks(void **state)
{
    (void)state;
    struct synth_shape sh;
    synth_shape_tiny(&sh, GGML_TYPE_Q6_K);
    const char *path = test_tmp_path(".gguf");
    struct smol_err err = {0};
    if (synth_write(path, &sh, GGML_TYPE_Q6_K, 9, &err) != 0)
        fail_msg("synth_write: %s", err.msg);
    struct smol_model_opts o = {.n_threads = 2};
    struct smol_model *m = smol_model_open(path, &o, &err);
    if (!m)
        fail_msg("open: %s", err.msg);
    const int n = 300, V = smol_n_vocab(m);
    int32_t toks[300];
    for (int i = 0; i < n; i++)
        toks[i] = (i * 131 + 17) % V;
    float *a = malloc((size_t)n * V * sizeof(float)), *b = malloc((size_t)n * V * sizeof(float));
    assert_true(a && b);
    struct smol_seq *s = smol_seq_new(m, 320, &err);
    assert_non_null(s);
    assert_int_equal(smol_eval(s, toks, n, a, SMOL_EVAL_ALL_LOGITS, &err), 0);
    smol_seq_free(s);
    s = smol_seq_new(m, 320, &err);
    assert_int_equal(smol_eval(s, toks, 150, b, SMOL_EVAL_ALL_LOGITS, &err), 0);
    assert_int_equal(smol_eval(s, toks + 150, 150, b + (size_t)150 * V, SMOL_EVAL_ALL_LOGITS, &err), 0);
    if (memcmp(a, b, (size_t)n * V * sizeof(float)))
        fail_msg("300 tokens at once and as 150 + 150 give different logits");
    smol_seq_free(s);
    s = smol_seq_new(m, 320, &err);
    for (int i = 0; i < n; i++) {
        assert_int_equal(smol_eval(s, &toks[i], 1, b, 0, &err), 0);
        if (memcmp(a + (size_t)i * V, b, (size_t)V * sizeof(float)))
            fail_msg("token %d: one at a time differs from the batch", i);
    }
    smol_seq_free(s);
    free(a), free(b);
    smol_model_close(m);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_exact),
        cmocka_unit_test(test_reference_float),
        cmocka_unit_test(test_generic_is_exact),
        cmocka_unit_test(test_simd_quantizers),
        cmocka_unit_test(test_simd_quant_dots),
        cmocka_unit_test(test_simd_float_dots),
        cmocka_unit_test(test_choosing),
        cmocka_unit_test(test_matmul_threads),
        cmocka_unit_test(test_model_threads),
        cmocka_unit_test(test_prompt_chunks),
    };
    return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
