/*
 * kernels_neon.c: the aarch64 Advanced SIMD kernel table (baseline
 * ARMv8-A: every aarch64 CPU has it; kernels.c still checks HWCAP_ASIMD).
 *
 * Strategy: the integer math of quant_vec_dot, 16 lanes at a time.
 * Weight levels are unpacked into signed bytes (Q4_0: q - 8; Q6_K:
 * q - 32; Q4_K/Q5_K: 0..31), multiplied with the activation bytes by
 * vmull_s8 into 16-bit products (|127 * 127| fits), pairwise-added into
 * 32-bit lanes (vpadalq_s16), and reduced per sub-block; the sub-block
 * scale is applied to that exact integer, the Q4_K/Q5_K mins through
 * the activation's bsums, and each block's integer is multiplied by its
 * float scale product and summed in float. One activation row at a time:
 * a (row, token) pair runs the same code whatever nx it came in.
 *
 * NEEDSWORK: the ARMv8.2 dot-product instructions (SDOT) would halve
 * the integer work; they need their own table and a HWCAP_ASIMDDP check.
 */
#if defined(__aarch64__)

#include "kernels.h"

#include <arm_neon.h>
#include <string.h>

#define NEON_NX 4

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static inline const void *neon_row(const void *x, size_t stride, int t)
{
    return (const char *)x + (size_t)t * stride;
}

/* sum_i a[i] * b[i] over 16 signed bytes, added to acc as 4 s32 lanes. */
static inline int32x4_t neon_dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

static inline float neon_f16(uint16_t h)
{
    return quant_f16_to_f32(h);
}

/* ------------------------------------------------------------------ */
/* Float activations: F32, F16, BF16 weights                           */
/* ------------------------------------------------------------------ */

static inline float32x4_t neon_w4_f32(const void *w, int64_t i)
{
    return vld1q_f32((const float *)w + i);
}
static inline float neon_w1_f32(const void *w, int64_t i)
{
    return ((const float *)w)[i];
}
static inline float32x4_t neon_w4_f16(const void *w, int64_t i)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
}
static inline float neon_w1_f16(const void *w, int64_t i)
{
    return neon_f16(((const uint16_t *)w)[i]);
}
static inline float32x4_t neon_w4_bf16(const void *w, int64_t i)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
}
static inline float neon_w1_bf16(const void *w, int64_t i)
{
    return quant_bf16_to_f32(((const uint16_t *)w)[i]);
}

#define NEON_FLOAT_DOT(T)                                                                      \
    static float neon_dot1_##T(int64_t n, const void *w, const float *x)                      \
    {                                                                                          \
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;                            \
        int64_t i = 0;                                                                         \
        for (; i + 16 <= n; i += 16) {                                                         \
            a0 = vfmaq_f32(a0, neon_w4_##T(w, i), vld1q_f32(x + i));                           \
            a1 = vfmaq_f32(a1, neon_w4_##T(w, i + 4), vld1q_f32(x + i + 4));                   \
            a2 = vfmaq_f32(a2, neon_w4_##T(w, i + 8), vld1q_f32(x + i + 8));                   \
            a3 = vfmaq_f32(a3, neon_w4_##T(w, i + 12), vld1q_f32(x + i + 12));                 \
        }                                                                                      \
        for (; i + 4 <= n; i += 4)                                                             \
            a0 = vfmaq_f32(a0, neon_w4_##T(w, i), vld1q_f32(x + i));                           \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));                 \
        for (; i < n; i++)                                                                     \
            s += neon_w1_##T(w, i) * x[i];                                                     \
        return s;                                                                              \
    }                                                                                          \
    static void neon_dotw_##T(int64_t n, const void *w, const void *x, size_t xs, int nx,     \
                              float *out)                                                      \
    {                                                                                          \
        for (int t = 0; t < nx; t++)                                                           \
            out[t] = neon_dot1_##T(n, w, neon_row(x, xs, t));                                  \
    }
NEON_FLOAT_DOT(f32)
NEON_FLOAT_DOT(f16)
NEON_FLOAT_DOT(bf16)
#undef NEON_FLOAT_DOT

/* ------------------------------------------------------------------ */
/* Q8_0 and Q4_0 weights x Q8_0 activations                            */
/* ------------------------------------------------------------------ */

static float neon_dot1_q8_0(int64_t nb, const struct block_q8_0 *w, const struct block_q8_0 *x)
{
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32x4_t s = vdupq_n_s32(0);
        s = neon_dot16(s, vld1q_s8(w[i].qs), vld1q_s8(x[i].qs));
        s = neon_dot16(s, vld1q_s8(w[i].qs + 16), vld1q_s8(x[i].qs + 16));
        acc += (neon_f16(w[i].d) * neon_f16(x[i].d)) * (float)vaddvq_s32(s);
    }
    return acc;
}

static float neon_dot1_q4_0(int64_t nb, const struct block_q4_0 *w, const struct block_q8_0 *x)
{
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int8x16_t eight = vdupq_n_s8(8);
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        /* byte j: element j low, element j + 16 high; minus 8: -8..7 */
        const uint8x16_t q = vld1q_u8(w[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
        int32x4_t s = vdupq_n_s32(0);
        s = neon_dot16(s, lo, vld1q_s8(x[i].qs));
        s = neon_dot16(s, hi, vld1q_s8(x[i].qs + 16));
        acc += (neon_f16(w[i].d) * neon_f16(x[i].d)) * (float)vaddvq_s32(s);
    }
    return acc;
}

/* ------------------------------------------------------------------ */
/* K-quant weights x Q8_K activations                                  */
/* ------------------------------------------------------------------ */

/* sum_j m_j * (bsums[2j] + bsums[2j+1]) of a Q4_K/Q5_K block. */
static int32_t neon_k4_mins(const uint8_t *scales, const int16_t *bsums)
{
    int32_t s = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales, &sc, &m);
        s += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    return s;
}

/* sum over 32 levels (two vectors) times 32 activations, one integer. */
static inline int32_t neon_dot32(int8x16_t a0, int8x16_t a1, const int8_t *x)
{
    int32x4_t s = vdupq_n_s32(0);
    s = neon_dot16(s, a0, vld1q_s8(x));
    s = neon_dot16(s, a1, vld1q_s8(x + 16));
    return vaddvq_s32(s);
}

/* Q4_K (qh == NULL) and Q5_K: group g of 32 bytes holds sub-block 2g in
 * its low nibbles and 2g+1 in its high ones; Q5_K's fifth bits come
 * from bit 2g / 2g+1 of qh[l]. */
static float neon_dot1_k4(int64_t nb, const uint8_t *blk, size_t blk_size, size_t qs_off,
                          size_t qh_off, bool has_qh, const struct block_q8_K *x)
{
    const uint8x16_t m4 = vdupq_n_u8(15), sixteen = vdupq_n_u8(16);
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++, blk += blk_size) {
        /* both block structs start with d, dmin and scales[12] */
        const struct block_q4_K *b = (const struct block_q4_K *)(const void *)blk;
        const uint8_t *qs = blk + qs_off;
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = qh0;
        if (has_qh) {
            qh0 = vld1q_u8(blk + qh_off);
            qh1 = vld1q_u8(blk + qh_off + 16);
        }
        int32_t sumi = 0;
        for (int g = 0; g < 4; g++) {
            const uint8x16_t v0 = vld1q_u8(qs + 32 * g), v1 = vld1q_u8(qs + 32 * g + 16);
            uint8x16_t lo0 = vandq_u8(v0, m4), lo1 = vandq_u8(v1, m4);
            uint8x16_t hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
            if (has_qh) {
                const uint8x16_t b0 = vdupq_n_u8((uint8_t)(1u << (2 * g)));
                const uint8x16_t b1 = vdupq_n_u8((uint8_t)(2u << (2 * g)));
                lo0 = vorrq_u8(lo0, vandq_u8(vtstq_u8(qh0, b0), sixteen));
                lo1 = vorrq_u8(lo1, vandq_u8(vtstq_u8(qh1, b0), sixteen));
                hi0 = vorrq_u8(hi0, vandq_u8(vtstq_u8(qh0, b1), sixteen));
                hi1 = vorrq_u8(hi1, vandq_u8(vtstq_u8(qh1, b1), sixteen));
            }
            uint8_t sc1, sc2, m;
            quant_k4_scale_min(2 * g, b->scales, &sc1, &m);
            quant_k4_scale_min(2 * g + 1, b->scales, &sc2, &m);
            sumi += sc1 * neon_dot32(vreinterpretq_s8_u8(lo0), vreinterpretq_s8_u8(lo1),
                                     x[i].qs + 64 * g);
            sumi += sc2 * neon_dot32(vreinterpretq_s8_u8(hi0), vreinterpretq_s8_u8(hi1),
                                     x[i].qs + 64 * g + 32);
        }
        const float d = neon_f16(b->d) * x[i].d, dmin = neon_f16(b->dmin) * x[i].d;
        acc += d * (float)sumi - dmin * (float)neon_k4_mins(b->scales, x[i].bsums);
    }
    return acc;
}

/* Q6_K: per half h, byte l of ql[0..31] / ql[32..63] and qh[l] give
 * elements 128h + l + 32k (k = 0..3; see quant.h); each run of 16 takes
 * one signed 8-bit scale. */
static float neon_dot1_q6_K(int64_t nb, const struct block_q6_K *w, const struct block_q8_K *x)
{
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h, *qh = w[i].qh + 32 * h;
            const int8_t *xs = x[i].qs + 128 * h;
            const int8_t *sc = w[i].scales + 8 * h;
            for (int half = 0; half < 2; half++) { /* l = 16 * half .. +15 */
                const uint8x16_t l0 = vld1q_u8(ql + 16 * half), l1 = vld1q_u8(ql + 32 + 16 * half);
                const uint8x16_t hb = vld1q_u8(qh + 16 * half);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
                q[1] = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
                q[2] = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
                q[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                for (int k = 0; k < 4; k++) {
                    const int8x16_t a = vsubq_s8(vreinterpretq_s8_u8(q[k]), off);
                    int32x4_t s = neon_dot16(vdupq_n_s32(0), a, vld1q_s8(xs + 32 * k + 16 * half));
                    sumi += sc[2 * k + half] * vaddvq_s32(s);
                }
            }
        }
        acc += (neon_f16(w[i].d) * x[i].d) * (float)sumi;
    }
    return acc;
}

static void neon_dot_q8_0(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    for (int t = 0; t < nx; t++)
        out[t] = neon_dot1_q8_0(n / QK8_0, w, neon_row(x, xs, t));
}

static void neon_dot_q4_0(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    for (int t = 0; t < nx; t++)
        out[t] = neon_dot1_q4_0(n / QK4_0, w, neon_row(x, xs, t));
}

static void neon_dot_q4_K(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    for (int t = 0; t < nx; t++)
        out[t] = neon_dot1_k4(n / QK_K, w, sizeof(struct block_q4_K),
                              offsetof(struct block_q4_K, qs), 0, false, neon_row(x, xs, t));
}

static void neon_dot_q5_K(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    for (int t = 0; t < nx; t++)
        out[t] = neon_dot1_k4(n / QK_K, w, sizeof(struct block_q5_K),
                              offsetof(struct block_q5_K, qs), offsetof(struct block_q5_K, qh),
                              true, neon_row(x, xs, t));
}

static void neon_dot_q6_K(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    for (int t = 0; t < nx; t++)
        out[t] = neon_dot1_q6_K(n / QK_K, w, neon_row(x, xs, t));
}

/* ------------------------------------------------------------------ */
/* Attention                                                           */
/* ------------------------------------------------------------------ */

static void neon_attn_scores(float *s, const float *q, const float *k, size_t stride, int n,
                             int hd, float scale)
{
    for (int j = 0; j < n; j++)
        s[j] = neon_dot1_f32(hd, q, k + (size_t)j * stride) * scale;
}

/* The weighted sum of value rows, 16 output floats at a time held in
 * registers across all positions; a scalar tail. */
static void neon_attn_mix(float *out, const float *p, const float *v, size_t stride, int n,
                          int hd)
{
    int c = 0;
    for (; c + 16 <= hd; c += 16) {
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        const float *vj = v + c;
        for (int j = 0; j < n; j++, vj += stride) {
            a0 = vfmaq_n_f32(a0, vld1q_f32(vj), p[j]);
            a1 = vfmaq_n_f32(a1, vld1q_f32(vj + 4), p[j]);
            a2 = vfmaq_n_f32(a2, vld1q_f32(vj + 8), p[j]);
            a3 = vfmaq_n_f32(a3, vld1q_f32(vj + 12), p[j]);
        }
        vst1q_f32(out + c, a0);
        vst1q_f32(out + c + 4, a1);
        vst1q_f32(out + c + 8, a2);
        vst1q_f32(out + c + 12, a3);
    }
    for (; c < hd; c++) {
        float a = 0.0f;
        for (int j = 0; j < n; j++)
            a += p[j] * v[(size_t)j * stride + c];
        out[c] = a;
    }
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

const struct kernels kernels_neon = {
    .name = "neon",
    .nx = NEON_NX,
    .act_type = {
        [GGML_TYPE_Q8_0] = GGML_TYPE_Q8_0,
        [GGML_TYPE_Q4_0] = GGML_TYPE_Q8_0,
        [GGML_TYPE_Q4_K] = GGML_TYPE_Q8_K,
        [GGML_TYPE_Q5_K] = GGML_TYPE_Q8_K,
        [GGML_TYPE_Q6_K] = GGML_TYPE_Q8_K,
    },
    .dot = {
        [GGML_TYPE_F32] = neon_dotw_f32,
        [GGML_TYPE_F16] = neon_dotw_f16,
        [GGML_TYPE_BF16] = neon_dotw_bf16,
        [GGML_TYPE_Q8_0] = neon_dot_q8_0,
        [GGML_TYPE_Q4_0] = neon_dot_q4_0,
        [GGML_TYPE_Q4_K] = neon_dot_q4_K,
        [GGML_TYPE_Q5_K] = neon_dot_q5_K,
        [GGML_TYPE_Q6_K] = neon_dot_q6_K,
    },
    .quantize_q8_0 = quant_quantize_row_q8_0_act,
    .quantize_q8_K = quant_quantize_row_q8_K,
    .attn_scores = neon_attn_scores,
    .attn_mix = neon_attn_mix,
    .softmax = kern_softmax_scalar,
    .swiglu = kern_swiglu_scalar,
};

#endif /* __aarch64__ */
