/*
 * test_quant_parity.c: our reference quantizers and dequantizers against
 * the files llama-quantize made (../shared/fixtures).
 *
 * Every tiny-<q>.gguf was quantized by llama-quantize from tiny-f32.gguf
 * without an importance matrix, which runs ggml's quantize_row_*_ref. So
 * quantizing the same F32 rows with quant_quantize_row must give the
 * very same bytes, block for block. This is the test that pins the
 * quantizers (and through their requantization step, the scale packing)
 * to ggml's; the unit tests cannot, since they only know what we wrote.
 *
 * It also checks that each file's weights dequantize close to the F32
 * originals, which catches a dequantizer that misreads a layout the
 * same way our quantizer miswrites it.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "err.h"
#include "gguf.h"
#include "quant.h"

/* Per-type bound on |dequantized - original| relative to the largest
 * |x| of the row's block (generous: this is about layouts, the unit
 * tests bound the error tightly). */
static double type_error_bound(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_Q8_0: return 0.5 / 127 + 1.0 / 2048 + 1e-6;
    case GGML_TYPE_Q4_0: return 1.0 / 8 + 1e-3;
    case GGML_TYPE_Q6_K: return 0.05;
    case GGML_TYPE_Q5_K: return 0.08;
    case GGML_TYPE_Q4_K: return 0.15;
    default: return 0.0;
    }
}

struct type_tally {
    uint64_t blocks, identical, rows_checked;
    double worst_rel_err; /* max over blocks of max|err| / block amax */
};

/* Quantizes every quantized tensor of `qpath` again from the F32 file
 * and compares, per type, block bytes and dequantized values. */
static void check_file(const struct gguf_file *f32, const char *name)
{
    struct smol_err err;
    err_clear(&err);
    struct gguf_file *qf = NULL;
    const char *path = test_fixture(name);
    assert_non_null(path);
    int rc = gguf_open(&qf, path, &err);
    if (rc != 0)
        fail_msg("gguf_open %s: %s", name, err.msg);

    struct type_tally tally[GGML_TYPE_COUNT];
    memset(tally, 0, sizeof(tally));
    uint64_t n_quant_tensors = 0;

    for (uint64_t ti = 0; ti < qf->n_tensors; ti++) {
        const struct gguf_tensor *qt = &qf->tensors[ti];
        if (qt->type == GGML_TYPE_F32)
            continue;
        assert_true(quant_is_supported(qt->type));
        char tname[256];
        snprintf(tname, sizeof(tname), "%.*s", (int)MIN(qt->name.len, 255), qt->name.ptr);
        const struct gguf_tensor *ft = gguf_find_tensor(f32, tname);
        if (!ft)
            fail_msg("%s: tensor %s missing from tiny-f32.gguf", name, tname);
        assert_int_equal(ft->type, GGML_TYPE_F32);
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            assert_int_equal(ft->ne[d], qt->ne[d]);
        n_quant_tensors++;

        const struct quant_type_info *info = quant_type_info(qt->type);
        const int64_t cols = (int64_t)qt->ne[0];
        const uint64_t rows = qt->ne[1] * qt->ne[2] * qt->ne[3];
        uint64_t row_bytes;
        assert_true(quant_row_size(qt->type, (uint64_t)cols, &row_bytes));
        assert_int_equal(row_bytes * rows, qt->size);

        uint8_t *mine = malloc(row_bytes);
        float *deq = malloc((size_t)cols * sizeof(float));
        assert_non_null(mine);
        assert_non_null(deq);
        struct type_tally *t = &tally[qt->type];
        const double bound = type_error_bound(qt->type);
        for (uint64_t r = 0; r < rows; r++) {
            const float *src = (const float *)ft->data + r * (uint64_t)cols;
            const uint8_t *theirs = (const uint8_t *)qt->data + r * row_bytes;
            quant_quantize_row(qt->type, src, mine, cols);
            const uint64_t nb = (uint64_t)cols / info->block_size;
            for (uint64_t b = 0; b < nb; b++) {
                t->blocks++;
                if (memcmp(mine + b * info->type_size, theirs + b * info->type_size,
                           info->type_size) == 0)
                    t->identical++;
            }
            /* the file's own weights, decoded, against the originals */
            quant_dequantize_row(qt->type, theirs, deq, cols);
            for (uint64_t b = 0; b < nb; b++) {
                const uint64_t j0 = b * info->block_size;
                double amax = 0, emax = 0;
                for (uint64_t j = j0; j < j0 + info->block_size; j++) {
                    amax = fmax(amax, fabs((double)src[j]));
                    emax = fmax(emax, fabs((double)deq[j] - (double)src[j]));
                }
                const double rel = amax > 0 ? emax / amax : emax;
                if (rel > t->worst_rel_err)
                    t->worst_rel_err = rel;
                if (rel > bound)
                    fail_msg("%s: %s row %llu block %llu decodes %.3g x amax from F32 (bound %.3g)",
                             name, tname, (unsigned long long)r, (unsigned long long)b, rel, bound);
            }
            t->rows_checked++;
        }
        free(mine);
        free(deq);
    }
    assert_true(n_quant_tensors > 0);

    bool all_identical = true;
    for (uint32_t ty = 0; ty < GGML_TYPE_COUNT; ty++) {
        const struct type_tally *t = &tally[ty];
        if (!t->blocks)
            continue;
        printf("    %-18s %-5s %8llu / %8llu blocks byte-identical to llama-quantize "
               "(%.4f%%); worst |deq - f32| = %.4f x block amax\n",
               name, quant_type_info(ty)->name, (unsigned long long)t->identical,
               (unsigned long long)t->blocks, 100.0 * (double)t->identical / (double)t->blocks,
               t->worst_rel_err);
        if (t->identical != t->blocks)
            all_identical = false;
    }
    gguf_close(qf);
    /* Our quantizers follow ggml's _ref ones operation by operation:
     * anything short of every block is a bug in ours. */
    assert_true(all_identical);
}

static struct gguf_file *open_f32(void)
{
    struct smol_err err;
    err_clear(&err);
    struct gguf_file *f = NULL;
    if (gguf_open(&f, test_fixture("tiny-f32.gguf"), &err) != 0)
        fail_msg("gguf_open tiny-f32.gguf: %s", err.msg);
    return f;
}

#define PARITY_TEST(fn, file)                  \
    static void fn(void **state)               \
    {                                          \
        (void)state;                           \
        TEST_NEED_FIXTURES();                  \
        struct gguf_file *f32 = open_f32();    \
        check_file(f32, file);                 \
        gguf_close(f32);                       \
    }

PARITY_TEST(test_parity_q8_0, "tiny-q8_0.gguf")
PARITY_TEST(test_parity_q4_0, "tiny-q4_0.gguf")
PARITY_TEST(test_parity_q6_k, "tiny-q6_k.gguf")
PARITY_TEST(test_parity_q4_k_m, "tiny-q4_k_m.gguf")
PARITY_TEST(test_parity_q5_k_m, "tiny-q5_k_m.gguf")

/* The F32 file's own tensors are F32 and decode to themselves. */
static void test_parity_f32_identity(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct gguf_file *f32 = open_f32();
    uint64_t n = 0;
    for (uint64_t i = 0; i < f32->n_tensors; i++) {
        const struct gguf_tensor *t = &f32->tensors[i];
        assert_int_equal(t->type, GGML_TYPE_F32);
        const int64_t cols = (int64_t)t->ne[0];
        float *row = malloc((size_t)cols * sizeof(float));
        assert_non_null(row);
        quant_dequantize_row(GGML_TYPE_F32, t->data, row, cols);
        assert_memory_equal(row, t->data, (size_t)cols * sizeof(float));
        free(row);
        n++;
    }
    assert_int_equal(n, 74);
    gguf_close(f32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_f32_identity),
        cmocka_unit_test(test_parity_q8_0),
        cmocka_unit_test(test_parity_q4_0),
        cmocka_unit_test(test_parity_q6_k),
        cmocka_unit_test(test_parity_q4_k_m),
        cmocka_unit_test(test_parity_q5_k_m),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
