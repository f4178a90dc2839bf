/*
 * test_quantize_parity.c: our quantizer against llama-quantize.
 *
 * Every tiny-<q>.gguf of ../shared/fixtures was made by llama-quantize
 * (no importance matrix) from tiny-f32.gguf. quantize_file on the same
 * input must give the very same file, byte for byte: metadata (keys in
 * order, general.quantization_version and general.file_type moved
 * last), the tensor table (llama.cpp's order, types, offsets), padding
 * and every block. When a file differs the test names the first
 * differing byte and what it belongs to, so a recipe, order or block bug
 * is told apart at once.
 *
 * Then what the files are for: the engine opens a quantized file and its
 * logits stay close to the F32 model's; a quantized input can be
 * converted again (dequantize, quantize); the thread count changes no
 * byte.
 */
#include "testutil.h"

#include "gguf.h"
#include "quant.h"
#include "quantize.h"
#include "smol.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

/* max_sigma: the bound on the logits' distance from the F32 model's
 * (test_quantized_runs_close_to_f32), with room over what was measured
 * on the generic and the AVX-512 kernels: Q8_0 0.11-0.13, Q4_0
 * 1.11-1.14, Q6_K 0.33-0.42, Q4_K_M 0.86-0.96, Q5_K_M 0.51-0.52 sigma. */
static const struct {
    const char *scheme, *file;
    double max_sigma;
} cases[] = {
    {"Q8_0", "tiny-q8_0.gguf", 0.25},     {"Q4_0", "tiny-q4_0.gguf", 2.0},
    {"Q6_K", "tiny-q6_k.gguf", 0.6},      {"Q4_K_M", "tiny-q4_k_m.gguf", 1.6},
    {"Q5_K_M", "tiny-q5_k_m.gguf", 1.0},
};

/* Says where offset `at` of a GGUF falls: the header or a tensor. */
static void describe_offset(const char *path, uint64_t at, char *out, size_t cap)
{
    struct gguf_file *f = NULL;
    struct smol_err err = {0};
    snprintf(out, cap, "the header (metadata or tensor table)");
    if (gguf_open(&f, path, &err) != 0)
        return;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        const uint64_t start = f->data_offset + t->offset;
        if (at >= start && at < start + t->size)
            snprintf(out, cap, "tensor '%.*s' (%s), byte %llu of its data", (int)t->name.len,
                     t->name.ptr, quant_type_info(t->type)->name,
                     (unsigned long long)(at - start));
    }
    gguf_close(f);
}

/* Fails unless the files at a and b are identical, naming the first
 * differing byte. */
static void assert_same_file(const char *got, const char *want)
{
    size_t na, nb;
    char *a = test_read_file(got, &na), *b = test_read_file(want, &nb);
    assert_non_null(a);
    assert_non_null(b);
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    if (i < na || i < nb) {
        char where[256];
        describe_offset(want, i, where, sizeof(where));
        fail_msg("%s differs from %s at byte %zu of %zu/%zu: %s", got, want, i, na, nb, where);
    }
    free(a);
    free(b);
}

static void test_files_identical(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    char f32[512];
    snprintf(f32, sizeof(f32), "%s", test_fixture("tiny-f32.gguf"));
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *out = test_tmp_path(".gguf");
        struct smol_err err = {0};
        struct quantize_stats st;
        if (quantize_file(f32, out, quantize_scheme_find(cases[i].scheme), 2, &st, &err) != 0)
            fail_msg("quantize %s: %s", cases[i].scheme, err.msg);
        assert_int_equal(st.n_tensors, 74);
        assert_int_equal(st.n_converted, 57);
        assert_int_equal(st.n_fallback, 0);
        assert_same_file(out, test_fixture(cases[i].file));
        unlink(out);
    }
}

/* Rows are independent, so 1 and 3 threads write the same bytes. */
static void test_threads_change_nothing(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    char f32[512], a[512], b[512];
    snprintf(f32, sizeof(f32), "%s", test_fixture("tiny-f32.gguf"));
    snprintf(a, sizeof(a), "%s", test_tmp_path(".gguf"));
    snprintf(b, sizeof(b), "%s", test_tmp_path(".gguf"));
    struct smol_err err = {0};
    const struct quantize_scheme *s = quantize_scheme_find("Q4_K_M");
    assert_int_equal(quantize_file(f32, a, s, 1, NULL, &err), 0);
    assert_int_equal(quantize_file(f32, b, s, 3, NULL, &err), 0);
    assert_same_file(a, b);
    unlink(a);
    unlink(b);
}

/* Logits over a fixed sequence of ids, malloc'd [n][n_vocab]. */
static float *sequence_logits(const char *path, int n, int *n_vocab)
{
    struct smol_err err = {0};
    struct smol_model *m = smol_model_open(path, NULL, &err);
    if (!m)
        fail_msg("open %s: %s", path, err.msg);
    const int V = smol_n_vocab(m);
    int32_t ids[32];
    uint64_t seed = 7;
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)(test_rand_u64(&seed) % 2048);
    struct smol_seq *s = smol_seq_new(m, n, &err);
    assert_non_null(s);
    float *l = malloc((size_t)n * V * sizeof(float));
    assert_int_equal(smol_eval(s, ids, n, l, SMOL_EVAL_ALL_LOGITS, &err), 0);
    smol_seq_free(s);
    smol_model_close(m);
    *n_vocab = V;
    return l;
}

/* The round trip: the engine opens each quantized file and its logits
 * stay close to the F32 model's, in units of the F32 logits' standard
 * deviation per position (bounds per type in `cases`), with the top-1
 * token agreeing at >= 80% of the positions. Quantization noise is what
 * separates them, so Q8_0 must be the closest. */
static void test_quantized_runs_close_to_f32(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    enum { N = 32 };
    char f32[512];
    snprintf(f32, sizeof(f32), "%s", test_fixture("tiny-f32.gguf"));
    int V;
    float *ref = sequence_logits(f32, N, &V);
    double q8_worst = 0;
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        const char *out = test_tmp_path(".gguf");
        struct smol_err err = {0};
        assert_int_equal(quantize_file(f32, out, quantize_scheme_find(cases[c].scheme), 2, NULL, &err), 0);
        int V2;
        float *got = sequence_logits(out, N, &V2);
        unlink(out);
        assert_int_equal(V, V2);
        int agree = 0;
        double worst = 0;
        for (int p = 0; p < N; p++) {
            const float *r = ref + (size_t)p * V, *g = got + (size_t)p * V;
            double mean = 0, var = 0, mx = 0;
            int ar = 0, ag = 0;
            for (int i = 0; i < V; i++)
                mean += r[i];
            mean /= V;
            for (int i = 0; i < V; i++) {
                var += (r[i] - mean) * (r[i] - mean);
                mx = fmax(mx, fabs((double)g[i] - r[i]));
                ar = r[i] > r[ar] ? i : ar;
                ag = g[i] > g[ag] ? i : ag;
            }
            worst = fmax(worst, mx / sqrt(var / V));
            agree += ar == ag;
        }
        fprintf(stderr, "# %s vs F32: max |diff| %.3f sigma, top-1 %d/%d\n", cases[c].scheme,
                worst, agree, N);
        if (worst > cases[c].max_sigma || agree < N * 8 / 10)
            fail_msg("%s: max |diff| %.3f sigma, top-1 agrees at %d of %d", cases[c].scheme, worst,
                     agree, N);
        assert_true(worst > 0); /* the weights did change */
        if (c == 0)
            q8_worst = worst;
        else
            assert_true(worst > q8_worst);
        free(got);
    }
    free(ref);
}

/* A quantized input is dequantized, then quantized: Q8_0 -> Q4_K_M has
 * the recipe's census, and its blocks are the quantization of the Q8_0
 * weights' exact values. */
static void test_requantize(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    char q8[512];
    snprintf(q8, sizeof(q8), "%s", test_fixture("tiny-q8_0.gguf"));
    const char *out = test_tmp_path(".gguf");
    struct smol_err err = {0};
    struct quantize_stats st;
    assert_int_equal(quantize_file(q8, out, quantize_scheme_find("Q4_K_M"), 2, &st, &err), 0);
    assert_int_equal(st.type_count[GGML_TYPE_Q4_K], 48);
    assert_int_equal(st.type_count[GGML_TYPE_Q6_K], 9);
    assert_int_equal(st.type_count[GGML_TYPE_F32], 17);
    struct gguf_file *in = NULL, *q = NULL;
    assert_int_equal(gguf_open(&in, q8, &err), 0);
    assert_int_equal(gguf_open(&q, out, &err), 0);
    const struct gguf_tensor *a = gguf_find_tensor(in, "blk.3.ffn_down.weight");
    const struct gguf_tensor *b = gguf_find_tensor(q, "blk.3.ffn_down.weight");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(b->type, GGML_TYPE_Q6_K); /* layer 3 of 8 uses more bits */
    const int64_t n = (int64_t)a->ne[0];
    uint64_t ra = 0, rb = 0;
    assert_true(quant_row_size(a->type, (uint64_t)n, &ra));
    assert_true(quant_row_size(b->type, (uint64_t)n, &rb));
    float *x = malloc((size_t)n * sizeof(float));
    uint8_t *blk = malloc(rb);
    for (uint64_t r = 0; r < a->ne[1]; r += 37) {
        quant_dequantize_row(a->type, (const uint8_t *)a->data + r * ra, x, n);
        quant_quantize_row(b->type, x, blk, n);
        assert_memory_equal(blk, (const uint8_t *)b->data + r * rb, rb);
    }
    free(x);
    free(blk);
    gguf_close(in);
    gguf_close(q);
    unlink(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_identical),
        cmocka_unit_test(test_threads_change_nothing),
        cmocka_unit_test(test_quantized_runs_close_to_f32),
        cmocka_unit_test(test_requantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
