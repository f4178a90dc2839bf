/*
 * kernels.h: the kernel tables: the inner loops of the matmuls and of
 * attention, one table per instruction set, chosen once per process.
 *
 * How a matmul y = W x uses a table k (ops.c does this):
 *   1. each activation row of x is quantized once, to the format
 *      k->act_type[W's type] names: GGML_TYPE_Q8_K (k->quantize_q8_K),
 *      GGML_TYPE_Q8_0 (k->quantize_q8_0) or GGML_TYPE_F32 (used as is);
 *   2. k->dot[W's type] multiplies one weight row with up to k->nx of
 *      those activation rows at a time, so a row's unpacked blocks are
 *      reused across tokens while they sit in registers and L1.
 *
 * The tables:
 *   generic  portable C, float activations for every type: each weight
 *            block is dequantized exactly and dotted in double. This is
 *            the exact-math path (what the fixtures' *.exact.* logits
 *            are), and the reference the others are judged against.
 *   avx2     x86-64 with AVX2, FMA and F16C (kernels_avx2.c).
 *   avx512   x86-64 with AVX-512 F/BW/VL/DQ and VNNI (kernels_avx512.c).
 *   neon     aarch64 Advanced SIMD (kernels_neon.c).
 * The SIMD tables quantize activations as ggml does (quant.h,
 * quant_act_type) and compute quant_vec_dot's integers exactly; F32,
 * F16 and BF16 weights keep float activations on every table.
 *
 * Choice: kernels_default picks SMOL_KERNELS=generic|avx2|avx512|neon
 * when set, else the best table this CPU and OS support (cpuid and
 * xgetbv on x86, getauxval on aarch64). It decides once per process;
 * the tables are constant, so sharing them between models is fine.
 *
 * Determinism: a table's dot gives a (row, activation row) pair the
 * same bits whatever nx it was called with and wherever the pair sat in
 * the call, so results do not depend on how work is split.
 */
#ifndef SMOL_KERNELS_H
#define SMOL_KERNELS_H

#include "base.h"
#include "err.h"
#include "quant.h"

/* The most activation rows a dot call takes. */
#define KERN_NX_MAX 8

/* out[t] = row w (n elements of the weight type) . activation row t,
 * for t < nx, where row t starts x_stride bytes after row t - 1 and is
 * in the table's act_type for this weight type. 1 <= nx <= table nx.
 * n is a multiple of the type's block size (and of the activation
 * format's); w and x are aligned for their block structs. */
typedef void (*kern_dot_fn)(int64_t n, const void *w, const void *x, size_t x_stride, int nx,
                            float *out);

struct kernels {
    const char *name;                       /* "generic", "avx2", "avx512", "neon" */
    int nx;                                 /* activation rows per dot call, <= KERN_NX_MAX */
    uint8_t act_type[GGML_TYPE_COUNT];      /* per weight type: F32, Q8_0 or Q8_K */
    kern_dot_fn dot[GGML_TYPE_COUNT];       /* per weight type; NULL: unsupported */
    /* activation quantizers: bit-identical to quant.h's references */
    void (*quantize_q8_0)(const float *x, struct block_q8_0 *y, int64_t n);
    void (*quantize_q8_K)(const float *x, struct block_q8_K *y, int64_t n);
    /* attention for one query head over n cached positions, whose key
     * and value rows of hd floats lie stride floats apart:
     *   attn_scores  s[j] = scale * (q . k_j)
     *   attn_mix     out = sum_j p[j] * v_j (out is overwritten) */
    void (*attn_scores)(float *s, const float *q, const float *k, size_t stride, int n, int hd,
                        float scale);
    void (*attn_mix)(float *out, const float *p, const float *v, size_t stride, int n, int hd);
    /* element-wise, n >= 1 (the SIMD tables use a vector exp within
     * 2 ulp of expf; generic and neon call expf):
     *   softmax  x = exp(x - max x) / sum_j exp(x_j - max x), in place
     *   swiglu   g = silu(g) * u = g / (1 + exp(-g)) * u */
    void (*softmax)(float *x, int n);
    void (*swiglu)(float *g, const float *u, int n);
};

/* The portable softmax and swiglu (the generic and neon tables'). */
void kern_softmax_scalar(float *x, int n);
void kern_swiglu_scalar(float *g, const float *u, int n);

/* The table named name if this binary has it and this CPU and OS can
 * run it; else NULL, with a sentence in err naming what is missing. */
const struct kernels *kernels_get(const char *name, struct smol_err *err);

/* The process's table: SMOL_KERNELS if set, else the best usable one.
 * Decided on the first call; later calls give the same table (or the
 * same error, for an unusable SMOL_KERNELS). */
const struct kernels *kernels_default(struct smol_err *err);

/* Names of the tables usable here, generic first and the best last;
 * returns how many (at most cap are stored). */
int kernels_usable(const char **names, int cap);

/* The tables themselves (kernels_get checks the CPU first). */
extern const struct kernels kernels_generic;
#if defined(__x86_64__)
extern const struct kernels kernels_avx2;
extern const struct kernels kernels_avx512;
#endif
#if defined(__aarch64__)
extern const struct kernels kernels_neon;
#endif

#endif
