/*
 * kernels_avx2.c: the AVX2 + FMA + F16C kernel table (x86-64 only; the
 * Makefile builds this file alone with -mavx2 -mfma -mf16c, and
 * kernels.c runs it only after cpuid and xgetbv said yes).
 *
 * Strategy. Activations arrive quantized (Q8_0 blocks of 32 for Q8_0
 * and Q4_0 weights, Q8_K blocks of 256 for the K-quants), so the inner
 * loop is integer: each weight block is unpacked once into unsigned
 * bytes (or |w| with the signs moved onto the activations, for the
 * signed formats), then for each of up to 4 activation rows
 *   maddubs  u8 x s8 -> pairs summed into s16 (never saturates: at most
 *            63 * 128 * 2 = 16128 for our formats)
 *   madd     s16 x per-sub-block scale (or x 1) -> s32
 * and the block's s32 lanes are converted once and fma'd into 8 float
 * lanes with the block's float scale. That is quant_vec_dot's math: the
 * integers are exact, only the float summation order differs. Q4_K/Q5_K
 * apply their mins through the activation's bsums; Q6_K takes its -32
 * offset the same way (sum_j sc_j * 32 * bsums_j), which saves a
 * maddubs per 32 elements.
 *
 * Each kernel body is written once for a constant nx (1..4), so every
 * (row, token) pair goes through the same instruction sequence whatever
 * the batch: results are bitwise independent of how work is split.
 *
 * F32/F16/BF16 weights keep float activations: 32 elements per step in
 * four FMA accumulators.
 */
#if defined(__x86_64__)

#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX2_NX 4

/* The token, group and sub-block loops below have constant trip counts
 * and must be unrolled so the accumulators live in registers: GCC at -O2
 * keeps them as loops over arrays on the stack otherwise. */
#define AVX2_UNROLL _Pragma("GCC unroll 8")

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static inline float avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float avx2_hsum128(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float avx2_f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

static inline __m256i avx2_load(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Activation row t of a dot call. */
static inline const void *avx2_row(const void *x, size_t stride, int t)
{
    return (const char *)x + (size_t)t * stride;
}

/* Calls body(..., nx) with nx a constant, so each body unrolls its token
 * loop and keeps the accumulators in registers. */
#define AVX2_BY_NX(body, ...)                  \
    switch (nx) {                              \
    case 1: body(__VA_ARGS__, 1); break;       \
    case 2: body(__VA_ARGS__, 2); break;       \
    case 3: body(__VA_ARGS__, 3); break;       \
    default: body(__VA_ARGS__, 4); break;      \
    }

/* ------------------------------------------------------------------ */
/* Float activations: F32, F16, BF16 weights                           */
/* ------------------------------------------------------------------ */

/* Eight weights as floats, and one for the scalar tail. */
static inline __m256 avx2_w8_f32(const void *w, int64_t i)
{
    return _mm256_loadu_ps((const float *)w + i);
}
static inline float avx2_w1_f32(const void *w, int64_t i)
{
    return ((const float *)w)[i];
}
static inline __m256 avx2_w8_f16(const void *w, int64_t i)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}
static inline float avx2_w1_f16(const void *w, int64_t i)
{
    return avx2_f16(((const uint16_t *)w)[i]);
}
static inline __m256 avx2_w8_bf16(const void *w, int64_t i)
{
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}
static inline float avx2_w1_bf16(const void *w, int64_t i)
{
    const uint32_t u = (uint32_t)((const uint16_t *)w)[i] << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* One token: four accumulators over 32 elements, then 8 at a time, then
 * the scalar tail. */
#define AVX2_FLOAT_DOT(T)                                                                    \
    static float avx2_dot1_##T(int64_t n, const void *w, const float *x)                    \
    {                                                                                        \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                          \
        int64_t i = 0;                                                                       \
        for (; i + 32 <= n; i += 32) {                                                       \
            a0 = _mm256_fmadd_ps(avx2_w8_##T(w, i), _mm256_loadu_ps(x + i), a0);             \
            a1 = _mm256_fmadd_ps(avx2_w8_##T(w, i + 8), _mm256_loadu_ps(x + i + 8), a1);     \
            a2 = _mm256_fmadd_ps(avx2_w8_##T(w, i + 16), _mm256_loadu_ps(x + i + 16), a2);   \
            a3 = _mm256_fmadd_ps(avx2_w8_##T(w, i + 24), _mm256_loadu_ps(x + i + 24), a3);   \
        }                                                                                    \
        for (; i + 8 <= n; i += 8)                                                           \
            a0 = _mm256_fmadd_ps(avx2_w8_##T(w, i), _mm256_loadu_ps(x + i), a0);             \
        float s = avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));    \
        for (; i < n; i++)                                                                   \
            s += avx2_w1_##T(w, i) * x[i];                                                   \
        return s;                                                                            \
    }                                                                                        \
    static void avx2_dotw_##T(int64_t n, const void *w, const void *x, size_t xs, int nx,    \
                              float *out)                                                    \
    {                                                                                        \
        for (int t = 0; t < nx; t++)                                                         \
            out[t] = avx2_dot1_##T(n, w, avx2_row(x, xs, t));                                \
    }
AVX2_FLOAT_DOT(f32)
AVX2_FLOAT_DOT(f16)
AVX2_FLOAT_DOT(bf16)
#undef AVX2_FLOAT_DOT

/* ------------------------------------------------------------------ */
/* Q8_0 and Q4_0 weights x Q8_0 activations                            */
/* ------------------------------------------------------------------ */

/* sum over the block of w_i * x_i as 8 s32 lanes, with |w| unsigned and
 * w's signs moved onto x (sign_epi8 zeroes x where w is 0, harmless). */
static inline __m256 avx2_q8_block(__m256i aw, __m256i sw, __m256i qx)
{
    const __m256i p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(qx, sw));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __attribute__((always_inline)) void
avx2_q8_0_body(int64_t nb, const struct block_q8_0 *w, const void *x, size_t xs, float *out,
               const int nx)
{
    __m256 acc[AVX2_NX];
    AVX2_UNROLL
    for (int t = 0; t < nx; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i qw = avx2_load(w[i].qs);
        const __m256i aw = _mm256_sign_epi8(qw, qw);
        const float dw = avx2_f16(w[i].d);
        AVX2_UNROLL
        for (int t = 0; t < nx; t++) {
            const struct block_q8_0 *xb = (const struct block_q8_0 *)avx2_row(x, xs, t) + i;
            const __m256 d = _mm256_set1_ps(dw * avx2_f16(xb->d));
            acc[t] = _mm256_fmadd_ps(d, avx2_q8_block(aw, qw, avx2_load(xb->qs)), acc[t]);
        }
    }
    AVX2_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = avx2_hsum(acc[t]);
}

static void avx2_dot_q8_0(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    AVX2_BY_NX(avx2_q8_0_body, n / QK8_0, w, x, xs, out)
}

static inline __attribute__((always_inline)) void
avx2_q4_0_body(int64_t nb, const struct block_q4_0 *w, const void *x, size_t xs, float *out,
               const int nx)
{
    const __m128i m4 = _mm_set1_epi8(15);
    __m256 acc[AVX2_NX];
    AVX2_UNROLL
    for (int t = 0; t < nx; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        /* byte j: element j low, element j + 16 high; minus 8: -8..7 */
        const __m128i v = _mm_loadu_si128((const __m128i *)w[i].qs);
        const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4),
                                           _mm_and_si128(v, m4));
        const __m256i qw = _mm256_sub_epi8(q, _mm256_set1_epi8(8));
        const __m256i aw = _mm256_sign_epi8(qw, qw);
        const float dw = avx2_f16(w[i].d);
        AVX2_UNROLL
        for (int t = 0; t < nx; t++) {
            const struct block_q8_0 *xb = (const struct block_q8_0 *)avx2_row(x, xs, t) + i;
            const __m256 d = _mm256_set1_ps(dw * avx2_f16(xb->d));
            acc[t] = _mm256_fmadd_ps(d, avx2_q8_block(aw, qw, avx2_load(xb->qs)), acc[t]);
        }
    }
    AVX2_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = avx2_hsum(acc[t]);
}

static void avx2_dot_q4_0(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    AVX2_BY_NX(avx2_q4_0_body, n / QK4_0, w, x, xs, out)
}

/* ------------------------------------------------------------------ */
/* K-quant weights x Q8_K activations                                  */
/* ------------------------------------------------------------------ */

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K
 * block from its 12 packed bytes (layout in quant.h): byte shuffles
 * bring each output's low bits and its two high bits into place, masks
 * and shifts finish it. The 16-byte load also reads the block's first
 * 4 qs bytes, which the shuffles ignore. */
static inline void avx2_k4_scales(const uint8_t *packed, uint8_t out[16])
{
    const __m128i b = _mm_loadu_si128((const __m128i *)packed);
    /* low bits: sc0-3 <- b0-3, sc4-7 <- b8-11 (low nibbles),
     * m0-3 <- b4-7, m4-7 <- b8-11 (high nibbles) */
    const __m128i lo = _mm_shuffle_epi8(b, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7,
                                                         8, 9, 10, 11));
    /* bits 6-7 become bits 4-5 of sc4-7 (from b0-3) and m4-7 (from b4-7) */
    const __m128i hi = _mm_shuffle_epi8(b, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1,
                                                         -1, 4, 5, 6, 7));
    const __m128i keep = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
    const __m128i high_nib = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
    __m128i v = _mm_and_si128(lo, keep);
    v = _mm_or_si128(v, _mm_and_si128(_mm_srli_epi16(lo, 4), high_nib));
    v = _mm_or_si128(v, _mm_and_si128(_mm_srli_epi16(hi, 2), _mm_set1_epi8(0x30)));
    _mm_storeu_si128((__m128i *)out, v);
}

/* sum_j mins_j * (bsums[2j] + bsums[2j+1]) as 4 s32 lanes. */
static inline __m128i avx2_k4_mins(__m128i mins16, const int16_t *bsums)
{
    const __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    const __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    return _mm_madd_epi16(mins16, _mm_hadd_epi16(b0, b1));
}

/* Q4_K and Q5_K (qh != NULL: the fifth bits). Group g of 32 qs bytes
 * holds sub-block 2g (elements 64g..64g+31) in its low nibbles and
 * 2g+1 in its high ones; the fifth bit of element 32k + l is bit k of
 * qh[l]. Groups outside, tokens inside: only one group's levels and
 * each token's integer sum stay live, which fits AVX2's 16 registers
 * at four tokens. Integer sums are exact, so their order is free; the
 * float steps per token are the same for every nx. */
static inline __attribute__((always_inline)) void
avx2_k4_body(int64_t nb, const uint8_t *blk, size_t blk_size, size_t qs_off, size_t qh_off,
             const void *x, size_t xs, float *out, const int nx)
{
    const __m256i m4 = _mm256_set1_epi8(15), sixteen = _mm256_set1_epi8(16);
    __m256 acc[AVX2_NX];
    __m128 accm[AVX2_NX];
    AVX2_UNROLL
    for (int t = 0; t < nx; t++) {
        acc[t] = _mm256_setzero_ps();
        accm[t] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++, blk += blk_size) {
        /* both block structs start with d, dmin and scales[12] */
        const struct block_q4_K *b = (const struct block_q4_K *)(const void *)blk;
        uint8_t sm[16];
        avx2_k4_scales(b->scales, sm);
        const __m256i qh = qh_off ? avx2_load(blk + qh_off) : _mm256_setzero_si256();
        __m256i sumi[AVX2_NX];
        AVX2_UNROLL
        for (int t = 0; t < nx; t++)
            sumi[t] = _mm256_setzero_si256();
        AVX2_UNROLL
        for (int g = 0; g < 4; g++) {
            const __m256i v = avx2_load(blk + qs_off + 32 * g);
            __m256i lo = _mm256_and_si256(v, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            if (qh_off) { /* 16 where the fifth bit is set */
                const __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * g)));
                const __m256i b1 = _mm256_set1_epi8((char)(2 << (2 * g)));
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), sixteen));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), sixteen));
            }
            const __m256i s0 = _mm256_set1_epi16(sm[2 * g]), s1 = _mm256_set1_epi16(sm[2 * g + 1]);
            AVX2_UNROLL
            for (int t = 0; t < nx; t++) {
                const struct block_q8_K *xb = (const struct block_q8_K *)avx2_row(x, xs, t) + i;
                const __m256i p0 = _mm256_maddubs_epi16(lo, avx2_load(xb->qs + 64 * g));
                const __m256i p1 = _mm256_maddubs_epi16(hi, avx2_load(xb->qs + 64 * g + 32));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(p0, s0),
                                                                     _mm256_madd_epi16(p1, s1)));
            }
        }
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm + 8)));
        const float dw = avx2_f16(b->d), dminw = avx2_f16(b->dmin);
        AVX2_UNROLL
        for (int t = 0; t < nx; t++) {
            const struct block_q8_K *xb = (const struct block_q8_K *)avx2_row(x, xs, t) + i;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xb->d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            const __m128 m = _mm_cvtepi32_ps(avx2_k4_mins(mins16, xb->bsums));
            accm[t] = _mm_fmadd_ps(_mm_set1_ps(dminw * xb->d), m, accm[t]);
        }
    }
    AVX2_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = avx2_hsum(acc[t]) - avx2_hsum128(accm[t]);
}

static inline __attribute__((always_inline)) void
avx2_q4_K_body(int64_t nb, const void *w, const void *x, size_t xs, float *out, const int nx)
{
    avx2_k4_body(nb, w, sizeof(struct block_q4_K), offsetof(struct block_q4_K, qs), 0, x, xs, out,
                 nx);
}

static inline __attribute__((always_inline)) void
avx2_q5_K_body(int64_t nb, const void *w, const void *x, size_t xs, float *out, const int nx)
{
    avx2_k4_body(nb, w, sizeof(struct block_q5_K), offsetof(struct block_q5_K, qs),
                 offsetof(struct block_q5_K, qh), x, xs, out, nx);
}

static void avx2_dot_q4_K(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    AVX2_BY_NX(avx2_q4_K_body, n / QK_K, w, x, xs, out)
}

static void avx2_dot_q5_K(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    AVX2_BY_NX(avx2_q5_K_body, n / QK_K, w, x, xs, out)
}

/* Q6_K: per half h, level group k holds elements 128h + 32k .. +31 as
 * 0..63 (4 low bits from ql, 2 high from bits 2k, 2k+1 of qh); its two
 * sub-blocks of 16 take scales 8h + 2k and 8h + 2k + 1, which sit in
 * s16 lanes 0..7 and 8..15 after maddubs. As for Q4_K, groups outside
 * and tokens inside keep AVX2's 16 registers enough. */
static inline __attribute__((always_inline)) void
avx2_q6_K_body(int64_t nb, const struct block_q6_K *w, const void *x, size_t xs, float *out,
               const int nx)
{
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[AVX2_NX];
    AVX2_UNROLL
    for (int t = 0; t < nx; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)w[i].scales);
        __m256i sumi[AVX2_NX];
        AVX2_UNROLL
        for (int t = 0; t < nx; t++)
            sumi[t] = _mm256_setzero_si256();
        AVX2_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = avx2_load(w[i].ql + 64 * h), l1 = avx2_load(w[i].ql + 64 * h + 32);
            const __m256i qh = avx2_load(w[i].qh + 32 * h);
            AVX2_UNROLL
            for (int k = 0; k < 4; k++) {
                /* the high two bits of group k sit at bits 2k, 2k+1 of qh: move them to 4, 5 */
                __m256i q;
                if (k == 0)
                    q = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                        _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
                else if (k == 1)
                    q = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
                else if (k == 2)
                    q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                        _mm256_and_si256(qh, m30));
                else
                    q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
                const int j = 8 * h + 2 * k; /* scale j in lanes 0..7, j + 1 in 8..15 */
                const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(
                    sc8, _mm_setr_epi8(j, j, j, j, j, j, j, j, j + 1, j + 1, j + 1, j + 1, j + 1,
                                       j + 1, j + 1, j + 1)));
                AVX2_UNROLL
                for (int t = 0; t < nx; t++) {
                    const struct block_q8_K *xb = (const struct block_q8_K *)avx2_row(x, xs, t) + i;
                    const __m256i p = _mm256_maddubs_epi16(q, avx2_load(xb->qs + 128 * h + 32 * k));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, sc));
                }
            }
        }
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        const float dw = avx2_f16(w[i].d);
        AVX2_UNROLL
        for (int t = 0; t < nx; t++) {
            const struct block_q8_K *xb = (const struct block_q8_K *)avx2_row(x, xs, t) + i;
            /* the -32 offset: sum_j sc_j * 32 * bsums_j */
            const __m256i off = _mm256_madd_epi16(sc16, avx2_load(xb->bsums));
            const __m256i si = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(off, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xb->d), _mm256_cvtepi32_ps(si), acc[t]);
        }
    }
    AVX2_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = avx2_hsum(acc[t]);
}

static void avx2_dot_q6_K(int64_t n, const void *w, const void *x, size_t xs, int nx, float *out)
{
    AVX2_BY_NX(avx2_q6_K_body, n / QK_K, w, x, xs, out)
}

/* ------------------------------------------------------------------ */
/* Activation quantizers (byte for byte quant.h's, for finite input)    */
/* ------------------------------------------------------------------ */

static inline float avx2_hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline __m256 avx2_abs(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/* 32 rounded int32 (four vectors of 8, in order) to 32 saturated bytes:
 * the packs interleave 128-bit lanes, the permute puts them back. */
static inline __m256i avx2_pack32(__m256i a, __m256i b, __m256i c, __m256i d)
{
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                       _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline int32_t avx2_hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

/* Q8_K: see kernels_avx512.c; cvtps_epi32 rounds half to even. */
static void avx2_quantize_q8_K(const float *x, struct block_q8_K *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++)
            amax = _mm256_max_ps(amax, avx2_abs(_mm256_loadu_ps(x + 8 * k)));
        const float am = avx2_hmax(amax);
        if (am == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        float max = 0.0f;
        for (int k = 0; k < 32; k++) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(avx2_abs(_mm256_loadu_ps(x + 8 * k)),
                                                             _mm256_set1_ps(am), _CMP_EQ_OQ));
            if (hit) {
                max = x[8 * k + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        for (int k = 0; k < 8; k++) { /* 32 elements: two bsums */
            __m256i q[4];
            AVX2_UNROLL
            for (int j = 0; j < 4; j++)
                q[j] = _mm256_min_epi32(
                    _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * k + 8 * j))), top);
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * k), avx2_pack32(q[0], q[1], q[2], q[3]));
            y[i].bsums[2 * k] = (int16_t)avx2_hsum_epi32(_mm256_add_epi32(q[0], q[1]));
            y[i].bsums[2 * k + 1] = (int16_t)avx2_hsum_epi32(_mm256_add_epi32(q[2], q[3]));
        }
        y[i].d = 1 / iscale;
    }
}

/* Q8_0 (ggml's x86 activation quantizer): d = f16(amax / 127),
 * q = round_half_even(x * (127 / amax)). */
static void avx2_quantize_q8_0(const float *x, struct block_q8_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 8 * j);
            amax = _mm256_max_ps(amax, avx2_abs(v[j]));
        }
        const float am = avx2_hmax(amax);
        y[i].d = _cvtss_sh(am / 127.f, _MM_FROUND_TO_NEAREST_INT);
        const __m256 id = _mm256_set1_ps(am != 0.0f ? 127.f / am : 0.0f);
        __m256i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
        _mm256_storeu_si256((__m256i *)y[i].qs, avx2_pack32(q[0], q[1], q[2], q[3]));
    }
}

/* ------------------------------------------------------------------ */
/* Attention                                                           */
/* ------------------------------------------------------------------ */

/* Scores, four keys at a time so each load of q serves four of them;
 * a scalar tail for head dimensions that are not a multiple of 8. */
static void avx2_attn_scores(float *s, const float *q, const float *k, size_t stride, int n,
                             int hd, float scale)
{
    const int full = hd / 8 * 8;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *k0 = k + (size_t)j * stride, *k1 = k0 + stride, *k2 = k1 + stride,
                    *k3 = k2 + stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < full; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + i), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + i), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + i), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + i), a3);
        }
        float d0 = avx2_hsum(a0), d1 = avx2_hsum(a1), d2 = avx2_hsum(a2), d3 = avx2_hsum(a3);
        for (int i = full; i < hd; i++) {
            d0 += q[i] * k0[i];
            d1 += q[i] * k1[i];
            d2 += q[i] * k2[i];
            d3 += q[i] * k3[i];
        }
        s[j] = d0 * scale;
        s[j + 1] = d1 * scale;
        s[j + 2] = d2 * scale;
        s[j + 3] = d3 * scale;
    }
    for (; j < n; j++)
        s[j] = avx2_dot1_f32(hd, q, k + (size_t)j * stride) * scale;
}

/* The weighted sum of value rows, 32 output floats at a time held in
 * registers across all positions; a scalar tail. */
static void avx2_attn_mix(float *out, const float *p, const float *v, size_t stride, int n,
                          int hd)
{
    int c = 0;
    for (; c + 32 <= hd; c += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *vj = v + c;
        for (int j = 0; j < n; j++, vj += stride) {
            const __m256 pj = _mm256_set1_ps(p[j]);
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), a3);
        }
        _mm256_storeu_ps(out + c, a0);
        _mm256_storeu_ps(out + c + 8, a1);
        _mm256_storeu_ps(out + c + 16, a2);
        _mm256_storeu_ps(out + c + 24, a3);
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

/* ------------------------------------------------------------------ */
/* Softmax and SwiGLU: a vector exp                                    */
/* ------------------------------------------------------------------ */

/* exp(x), 8 lanes, within 2 ulp of expf over the normal range: as
 * kernels_avx512.c's, with 2^n built in the exponent bits, so x is
 * clamped to where n fits: below about -87.3 the result is 2^-126 e^r
 * (about 1e-38, where expf gives denormals or 0), above 88.4 it stays
 * finite. NaN stays NaN. */
static inline __m256 avx2_exp(__m256 x)
{
    x = _mm256_max_ps(_mm256_set1_ps(-87.3f), x);
    x = _mm256_min_ps(_mm256_set1_ps(88.37f), x);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 e = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
}

static void avx2_softmax(float *x, int n)
{
    const int full = n / 8 * 8;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    for (int i = 0; i < full; i += 8)
        mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float max = _mm_cvtss_f32(m4);
    for (int i = full; i < n; i++)
        max = x[i] > max ? x[i] : max;
    const __m256 mb = _mm256_set1_ps(max);
    __m256 sv = _mm256_setzero_ps();
    for (int i = 0; i < full; i += 8) {
        const __m256 e = avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float tail[8] = {0};
    if (full < n) {
        float in[8];
        for (int i = 0; i < 8; i++)
            in[i] = full + i < n ? x[full + i] - max : -INFINITY;
        _mm256_storeu_ps(tail, avx2_exp(_mm256_loadu_ps(in)));
        for (int i = full; i < n; i++)
            x[i] = tail[i - full];
        for (int i = n - full; i < 8; i++)
            tail[i] = 0.0f; /* 2^-126 e^r, not part of the sum */
        sv = _mm256_add_ps(sv, _mm256_loadu_ps(tail));
    }
    const float inv = 1.0f / avx2_hsum(sv);
    const __m256 ib = _mm256_set1_ps(inv);
    for (int i = 0; i < full; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), ib));
    for (int i = full; i < n; i++)
        x[i] *= inv;
}

static void avx2_swiglu(float *g, const float *u, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gv = _mm256_loadu_ps(g + i);
        const __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), gv)));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(gv, den), _mm256_loadu_ps(u + i)));
    }
    if (i < n) {
        float gb[8] = {0}, ub[8] = {0};
        memcpy(gb, g + i, (size_t)(n - i) * sizeof(float));
        memcpy(ub, u + i, (size_t)(n - i) * sizeof(float));
        const __m256 gv = _mm256_loadu_ps(gb);
        const __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), gv)));
        _mm256_storeu_ps(gb, _mm256_mul_ps(_mm256_div_ps(gv, den), _mm256_loadu_ps(ub)));
        memcpy(g + i, gb, (size_t)(n - i) * sizeof(float));
    }
}

const struct kernels kernels_avx2 = {
    .name = "avx2",
    .nx = AVX2_NX,
    .act_type = {
        [GGML_TYPE_Q8_0] = GGML_TYPE_Q8_0,
        [GGML_TYPE_Q4_0] = GGML_TYPE_Q8_0,
        [GGML_TYPE_Q4_K] = GGML_TYPE_Q8_K,
        [GGML_TYPE_Q5_K] = GGML_TYPE_Q8_K,
        [GGML_TYPE_Q6_K] = GGML_TYPE_Q8_K,
    },
    .dot = {
        [GGML_TYPE_F32] = avx2_dotw_f32,
        [GGML_TYPE_F16] = avx2_dotw_f16,
        [GGML_TYPE_BF16] = avx2_dotw_bf16,
        [GGML_TYPE_Q8_0] = avx2_dot_q8_0,
        [GGML_TYPE_Q4_0] = avx2_dot_q4_0,
        [GGML_TYPE_Q4_K] = avx2_dot_q4_K,
        [GGML_TYPE_Q5_K] = avx2_dot_q5_K,
        [GGML_TYPE_Q6_K] = avx2_dot_q6_K,
    },
    .quantize_q8_0 = avx2_quantize_q8_0,
    .quantize_q8_K = avx2_quantize_q8_K,
    .attn_scores = avx2_attn_scores,
    .attn_mix = avx2_attn_mix,
    .softmax = avx2_softmax,
    .swiglu = avx2_swiglu,
};

#endif /* __x86_64__ */
