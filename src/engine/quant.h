/*
 * quant.h: tensor element types, their block layouts, and the scalar
 * reference for each.
 *
 * This file is the specification: the SIMD kernels (kernels_*.c) are
 * tested against it. Types are numbered as in ggml/GGUF. The block
 * structs below are byte-for-byte ggml's (static_asserts pin each size),
 * so a pointer into a mapped GGUF file can be read through them. Weights
 * are never dequantized into a copy: the model multiplies straight from
 * the mapped blocks.
 *
 * Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (and Q8_K, the
 * activation format of the K-quant kernels, which never appears as a
 * weight). Other known ggml types are recognised by name and size so a
 * file can be described, but have no dequantizer (quant_is_supported).
 *
 * Alignment: row pointers passed here must be aligned for their block
 * struct (2 bytes for the f16-scaled blocks and F16/BF16, 4 for F32 and
 * Q8_K). GGUF tensor data is 32-byte aligned and every row size of these
 * types is even, so rows of a mapped file always qualify.
 *
 * Values: quantizers expect finite input whose block scale fits an f16
 * (|x| below about 65504 times the type's largest level); like ggml's,
 * they do not diagnose NaN or overflow.
 */
#ifndef SMOL_QUANT_H
#define SMOL_QUANT_H

#include <assert.h>

#include "base.h"

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    /* 31..33 and 36..38 were the removed Q4_0_4_4-style repacked types */
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40
};

#define QK_K 256 /* elements per K-quant super-block */
#define QK8_0 32
#define QK4_0 32
#define K_SCALE_SIZE 12 /* bytes of packed 6-bit scales in Q4_K/Q5_K */

/* ---- block layouts (all little-endian; f16 fields are IEEE binary16 bits) ---- */

/* Q8_0: 32 elements, x[i] = d * qs[i]. */
struct block_q8_0 {
    uint16_t d;         /* f16 scale */
    int8_t qs[QK8_0];
};
static_assert(sizeof(struct block_q8_0) == 34, "block_q8_0 must be 34 bytes");

/* Q4_0: 32 elements, x[i] = d * (q[i] - 8) with q in 0..15.
 * qs[j] low nibble is element j, high nibble is element j + 16. */
struct block_q4_0 {
    uint16_t d;         /* f16 scale */
    uint8_t qs[QK4_0 / 2];
};
static_assert(sizeof(struct block_q4_0) == 18, "block_q4_0 must be 18 bytes");

/*
 * Q4_K: 256 elements in 8 sub-blocks of 32. Sub-block j has a 6-bit
 * scale sc[j] and a 6-bit min m[j]:  x = d*sc[j]*q - dmin*m[j],  q 0..15.
 *
 * scales[12], byte i:
 *
 *               bits 7..6            bits 5..0
 *   i = 0..3  : sc[i+4] bits 5..4    sc[i]
 *   i = 4..7  : m[i]    bits 5..4    m[i-4]
 *               bits 7..4            bits 3..0
 *   i = 8..11 : m[i-4]  bits 3..0    sc[i-4] bits 3..0
 *
 * So sub-blocks 0..3 read plain 6-bit fields, and 4..7 gather a low
 * nibble from bytes 8..11 and two high bits from the top of bytes 0..7
 * (quant_k4_scale_min below decodes it).
 *
 * qs[128]: four 32-byte groups, group g = qs[32g .. 32g+31]. In group g,
 * byte l holds element 64g + l in its low nibble (sub-block 2g) and
 * element 64g + 32 + l in its high nibble (sub-block 2g + 1).
 */
struct block_q4_K {
    uint16_t d;                    /* f16 super-scale of the scales */
    uint16_t dmin;                 /* f16 super-scale of the mins */
    uint8_t scales[K_SCALE_SIZE];  /* 8 scales + 8 mins, 6 bits each */
    uint8_t qs[QK_K / 2];          /* 4-bit quants */
};
static_assert(sizeof(struct block_q4_K) == 144, "block_q4_K must be 144 bytes");

/*
 * Q5_K: like Q4_K (same d, dmin, scales and qs layout) plus a fifth bit
 * per element:  x = d*sc[j]*(q + 16*h) - dmin*m[j],  q + 16h in 0..31.
 *
 * qh[32]: byte l holds the high bits of the 8 elements l + 32k, k = 0..7:
 * bit k of qh[l] is h of element 32k + l (so bit 2g is the low-nibble
 * element of qs group g, bit 2g+1 the high-nibble one).
 */
struct block_q5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];          /* fifth bits */
    uint8_t qs[QK_K / 2];          /* low 4 bits */
};
static_assert(sizeof(struct block_q5_K) == 176, "block_q5_K must be 176 bytes");

/*
 * Q6_K: 256 elements in 16 sub-blocks of 16, each with a signed 8-bit
 * scale:  x = d * scales[e / 16] * (q - 32),  q 0..63 (4 low + 2 high bits).
 *
 * The block is two halves of 128 elements (h = 0, 1), using
 * ql[64h .. 64h+63] and qh[32h .. 32h+31]. Within half h, for l in 0..31,
 * element e = 128h + l + 32k (k = 0..3) takes
 *   low 4 bits : k=0: ql[64h + l] & 15     k=1: ql[64h + 32 + l] & 15
 *                k=2: ql[64h + l] >> 4     k=3: ql[64h + 32 + l] >> 4
 *   high 2 bits: bits 2k+1..2k of qh[32h + l]
 */
struct block_q6_K {
    uint8_t ql[QK_K / 2];          /* low 4 bits */
    uint8_t qh[QK_K / 4];          /* high 2 bits */
    int8_t scales[QK_K / 16];      /* per 16 elements */
    uint16_t d;                    /* f16 super-scale */
};
static_assert(sizeof(struct block_q6_K) == 210, "block_q6_K must be 210 bytes");

/* Q8_K: the activation format of K-quant dot products (never a weight
 * in a file). x[i] = d * qs[i]; bsums[g] = sum of qs[16g .. 16g+15], so
 * a kernel can apply a weight block's mins without touching qs. */
struct block_q8_K {
    float d;                       /* f32, not f16 */
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
};
static_assert(sizeof(struct block_q8_K) == 292, "block_q8_K must be 292 bytes");

/* Scale and min of sub-block j (0..7) of a Q4_K/Q5_K block's packed
 * scales[12] (layout above). */
static inline void quant_k4_scale_min(int j, const uint8_t *scales,
                                      uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
        *m = (uint8_t)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

/* ---- the type table ---- */

/* Name and size of a type: block_size elements are stored in type_size
 * bytes. NULL for a number no known type has. */
struct quant_type_info {
    const char *name;
    uint32_t block_size;
    uint32_t type_size;
    bool supported; /* has dequantize/dot/quantize here */
};
const struct quant_type_info *quant_type_info(uint32_t type);

/* True when type has a reference implementation. */
bool quant_is_supported(uint32_t type);

/* Bytes for a row of n elements; false if n is not a multiple of the
 * block size, the type is unknown, or the size overflows. */
bool quant_row_size(uint32_t type, uint64_t n, uint64_t *bytes);

/* ---- scalars ---- */

/* Half-precision conversions. F16 is IEEE binary16: exact in both
 * directions where representable; f32 -> f16 rounds to nearest even,
 * including into and within the subnormals, and overflows to inf from
 * 65520 up. NaN stays NaN with its top payload bits (an f16 NaN survives
 * f16 -> f32 -> f16 bit for bit). BF16 rounds to nearest even; NaN is
 * kept and made quiet, as ggml does. */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

/* ---- rows ---- */

/* Dequantizes n elements (a multiple of the block size) of a row of a
 * supported type. Same float operations, in the same order, as ggml's
 * dequantize_row_*, so results are bit-identical to ggml's. */
void quant_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Scalar reference dot product of a weight row (n elements of type) with
 * float activations x[0..n): sum_i w_i * x_i where w_i is the exactly
 * dequantized weight. Products and sums are in double, then rounded to
 * float once: this is the most accurate answer a kernel can aim for
 * (the model's logits are checked against float64 references), so
 * kernels are tested against it with a tolerance. Allocates nothing. */
float quant_dot(uint32_t type, const void *w, const float *x, int64_t n);

/* Reference quantizer: n floats (a multiple of the block size) into
 * blocks of type. Follows ggml's quantize_row_*_ref operation by
 * operation, which is what llama-quantize runs without an importance
 * matrix, so the same floats give the same bytes as a llama.cpp file:
 * Q8_0 and Q4_0 round to nearest; Q4_K/Q5_K search scale and min per 32
 * (make_qkx2_quants); Q6_K searches a signed scale per 16
 * (make_qx_quants); Q8_K is quant_quantize_row_q8_K. F32/F16/BF16 copy
 * or convert. */
void quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* Activation quantizers, as ggml's CPU backend applies them to the input
 * of a matmul (the fixtures' llama.cpp numeric path):
 *
 * quant_quantize_row_q8_K: per 256, the element with the largest |x|
 * keeps its sign as max; iscale = -127/max; q = min(127,
 * round_half_even(iscale*x)); d = 1/iscale (f32); bsums = sums of 16.
 * An all-zero block gives d = 0 and zero qs and bsums. Identical to
 * quant_quantize_row(GGML_TYPE_Q8_K, ...).
 *
 * quant_quantize_row_q8_0_act: per 32, d = amax/127 stored as f16;
 * q = round_half_even(x * (127/amax)). This is ggml's x86 (AVX)
 * quantize_row_q8_0. It differs from the weight quantizer
 * (quant_quantize_row Q8_0: q = round_half_away(x * (1/d))) in rare
 * last-bit ties, which is why both exist. */
void quant_quantize_row_q8_K(const float *x, struct block_q8_K *y, int64_t n);
void quant_quantize_row_q8_0_act(const float *x, struct block_q8_0 *y, int64_t n);

/* ---- integer dot products: the specification of the SIMD kernels ---- */

/* The format a weight type's activations are quantized to before its
 * dot product, as ggml's CPU backend does: GGML_TYPE_Q8_K for Q4_K,
 * Q5_K and Q6_K; GGML_TYPE_Q8_0 (quant_quantize_row_q8_0_act) for Q8_0
 * and Q4_0; GGML_TYPE_F32 (plain floats) for F32, F16 and BF16. */
uint32_t quant_act_type(uint32_t weight_type);

/*
 * Dot product of a weight row (n elements of type) with a row of
 * activations in quant_act_type(type), with ggml's vec_dot_*_q8_* math:
 *
 *   Q8_0, Q4_0:  sum_b  (f16(w.d) * f16(x.d)) * sum_i qw_i * qx_i
 *                (qw = q - 8 for Q4_0)
 *   Q4_K, Q5_K:  sum_b  (f16(w.d) * x.d) * sum_j sc_j * sum_i q_i * qx_i
 *                     - (f16(w.dmin) * x.d) * sum_j m_j * (bsums of j)
 *   Q6_K:        sum_b  (f16(w.d) * x.d) * sum_j sc_j * sum_i (q_i - 32) * qx_i
 *
 * Each inner sum is an exact integer; the two scale products are float
 * (as in ggml), the block terms are summed in double and the result is
 * rounded to float once. SIMD kernels must reproduce the integers
 * exactly; their float sums may differ in rounding only. The K-quant
 * mins use the activation's bsums, as ggml's kernels do; a Q8_K row
 * must be well formed (bsums the sums of its qs, as the quantizer makes
 * them), since kernels may take other sums from bsums too. For F32, F16
 * and BF16 x is float and this is quant_dot. */
float quant_vec_dot(uint32_t type, const void *w, const void *x, int64_t n);

#endif
