/*
 * kernels_avx512.c: the AVX-512 kernel table (F, BW, VL, DQ and VNNI;
 * x86-64 only; built alone with its -m flags and run only after
 * kernels.c checked cpuid and xgetbv). CPUs with AVX-512 but without
 * VNNI (Skylake-SP) get the AVX2 table instead.
 *
 * Strategy: as kernels_avx2.c (integer dot products over activations
 * quantized once per row, quant_vec_dot's integers exactly, float
 * scales per block), twice as wide, with VNNI fusing the two integer
 * steps:
 *   maddubs  u8 weight levels x s8 activations -> s16 pairs
 *   dpwssd   s16 x per-sub-block scales, added into s32 lanes
 * Each 512-bit register holds 64 consecutive elements of a K-quant
 * block, arranged from the packed nibbles once per block, so the
 * activation side is four plain 64-byte loads per block and token.
 * Q4_K/Q5_K apply their mins and Q6_K its -32 offset through the
 * activation's bsums. Q8_0/Q4_0 blocks (32 elements) use 256-bit VNNI
 * dpbusd with |w| and w's signs moved onto x.
 *
 * Every body is instantiated per constant nx (1..4): each (row, token)
 * pair runs the same instruction sequence whatever the batch.
 */
#if defined(__x86_64__)

#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX512_NX 8

/* The token, group and sub-block loops below have constant trip counts
 * and must be unrolled so the accumulators live in registers: GCC at -O2
 * keeps them as loops over arrays on the stack otherwise. */
#define AVX512_UNROLL _Pragma("GCC unroll 8")

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static inline float avx512_f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

static inline __m512i avx512_load(const void *p)
{
    return _mm512_loadu_si512(p);
}

static inline __m256i avx512_load256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

static inline float avx512_hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline const void *avx512_row(const void *x, size_t stride, int t)
{
    return (const char *)x + (size_t)t * stride;
}

#define AVX512_BY_NX(body, ...)                \
    switch (nx) {                              \
    case 1: body(__VA_ARGS__, 1); break;       \
    case 2: body(__VA_ARGS__, 2); break;       \
    case 3: body(__VA_ARGS__, 3); break;       \
    case 4: body(__VA_ARGS__, 4); break;       \
    case 5: body(__VA_ARGS__, 5); break;       \
    case 6: body(__VA_ARGS__, 6); break;       \
    case 7: body(__VA_ARGS__, 7); break;       \
    default: body(__VA_ARGS__, 8); break;      \
    }

/* ------------------------------------------------------------------ */
/* Float activations: F32, F16, BF16 weights                           */
/* ------------------------------------------------------------------ */

/* Sixteen weights as floats; the masked form reads only the lanes set. */
static inline __m512 avx512_w16_f32(const void *w, int64_t i, __mmask16 k)
{
    return _mm512_maskz_loadu_ps(k, (const float *)w + i);
}
static inline __m512 avx512_w16_f16(const void *w, int64_t i, __mmask16 k)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, (const uint16_t *)w + i));
}
static inline __m512 avx512_w16_bf16(const void *w, int64_t i, __mmask16 k)
{
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, (const uint16_t *)w + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
}

/* One token: four accumulators over 64 elements, then 16 at a time,
 * then one masked step for the tail. */
#define AVX512_FLOAT_DOT(T)                                                                     \
    static float avx512_dot1_##T(int64_t n, const void *w, const float *x)                     \
    {                                                                                           \
        const __mmask16 all = 0xffff;                                                           \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                             \
        int64_t i = 0;                                                                          \
        for (; i + 64 <= n; i += 64) {                                                          \
            a0 = _mm512_fmadd_ps(avx512_w16_##T(w, i, all), _mm512_loadu_ps(x + i), a0);        \
            a1 = _mm512_fmadd_ps(avx512_w16_##T(w, i + 16, all), _mm512_loadu_ps(x + i + 16), a1); \
            a2 = _mm512_fmadd_ps(avx512_w16_##T(w, i + 32, all), _mm512_loadu_ps(x + i + 32), a2); \
            a3 = _mm512_fmadd_ps(avx512_w16_##T(w, i + 48, all), _mm512_loadu_ps(x + i + 48), a3); \
        }                                                                                       \
        for (; i + 16 <= n; i += 16)                                                            \
            a0 = _mm512_fmadd_ps(avx512_w16_##T(w, i, all), _mm512_loadu_ps(x + i), a0);        \
        if (i < n) {                                                                            \
            const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);                               \
            a1 = _mm512_fmadd_ps(avx512_w16_##T(w, i, k), _mm512_maskz_loadu_ps(k, x + i), a1); \
        }                                                                                       \
        return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
    }                                                                                           \
    static void avx512_dotw_##T(int64_t n, const void *w, const void *x, size_t xs, int nx,    \
                                float *out)                                                     \
    {                                                                                           \
        for (int t = 0; t < nx; t++)                                                            \
            out[t] = avx512_dot1_##T(n, w, avx512_row(x, xs, t));                               \
    }
AVX512_FLOAT_DOT(f32)
AVX512_FLOAT_DOT(f16)
AVX512_FLOAT_DOT(bf16)
#undef AVX512_FLOAT_DOT

/* ------------------------------------------------------------------ */
/* Q8_0 and Q4_0 weights x Q8_0 activations                            */
/* ------------------------------------------------------------------ */

/* A block's sum of w_i * x_i in 8 s32 lanes, as float: |w| unsigned
 * times x with w's signs. */
static inline __m256 avx512_q8_block(__m256i aw, __m256i sw, __m256i qx)
{
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, _mm256_sign_epi8(qx, sw));
    return _mm256_cvtepi32_ps(p);
}

static inline __attribute__((always_inline)) void
avx512_q8_0_body(int64_t nb, const struct block_q8_0 *w, const void *x, size_t xs, float *out,
                 const int nx)
{
    __m256 acc[AVX512_NX];
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i qw = avx512_load256(w[i].qs);
        const __m256i aw = _mm256_sign_epi8(qw, qw);
        const float dw = avx512_f16(w[i].d);
        AVX512_UNROLL
        for (int t = 0; t < nx; t++) {
            const struct block_q8_0 *xb = (const struct block_q8_0 *)avx512_row(x, xs, t) + i;
            const __m256 d = _mm256_set1_ps(dw * avx512_f16(xb->d));
            acc[t] = _mm256_fmadd_ps(d, avx512_q8_block(aw, qw, avx512_load256(xb->qs)), acc[t]);
        }
    }
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = avx512_hsum256(acc[t]);
}

static void avx512_dot_q8_0(int64_t n, const void *w, const void *x, size_t xs, int nx,
                            float *out)
{
    AVX512_BY_NX(avx512_q8_0_body, n / QK8_0, w, x, xs, out)
}

static inline __attribute__((always_inline)) void
avx512_q4_0_body(int64_t nb, const struct block_q4_0 *w, const void *x, size_t xs, float *out,
                 const int nx)
{
    const __m128i m4 = _mm_set1_epi8(15);
    __m256 acc[AVX512_NX];
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        /* byte j: element j low, element j + 16 high; minus 8: -8..7 */
        const __m128i v = _mm_loadu_si128((const __m128i *)w[i].qs);
        const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4),
                                           _mm_and_si128(v, m4));
        const __m256i qw = _mm256_sub_epi8(q, _mm256_set1_epi8(8));
        const __m256i aw = _mm256_sign_epi8(qw, qw);
        const float dw = avx512_f16(w[i].d);
        AVX512_UNROLL
        for (int t = 0; t < nx; t++) {
            const struct block_q8_0 *xb = (const struct block_q8_0 *)avx512_row(x, xs, t) + i;
            const __m256 d = _mm256_set1_ps(dw * avx512_f16(xb->d));
            acc[t] = _mm256_fmadd_ps(d, avx512_q8_block(aw, qw, avx512_load256(xb->qs)), acc[t]);
        }
    }
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = avx512_hsum256(acc[t]);
}

static void avx512_dot_q4_0(int64_t n, const void *w, const void *x, size_t xs, int nx,
                            float *out)
{
    AVX512_BY_NX(avx512_q4_0_body, n / QK4_0, w, x, xs, out)
}

/* ------------------------------------------------------------------ */
/* K-quant weights x Q8_K activations                                  */
/* ------------------------------------------------------------------ */

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K
 * block from its 12 packed bytes (layout in quant.h), in a register:
 * byte shuffles bring each output's low bits and its two high bits into
 * place, masks and shifts finish it. The 16-byte load also reads the
 * block's first 4 qs bytes, which the shuffles ignore. */
static inline __m128i avx512_k4_scales(const uint8_t *packed)
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
    return _mm_or_si128(v, _mm_and_si128(_mm_srli_epi16(hi, 2), _mm_set1_epi8(0x30)));
}

/* s16 lane pattern: index a in lanes 0..15, b in 16..31. */
static inline __m512i avx512_idx_pair(int a, int b)
{
    return _mm512_mask_set1_epi16(_mm512_set1_epi16((short)a), 0xffff0000u, (short)b);
}

/* Unpacked Q4_K/Q5_K block: wv[g] = elements 64g .. 64g+63 as levels,
 * sc[g] their two sub-block scales as s16 (lanes 0..15, 16..31), minsx
 * the mins doubled up to line up with the 16 bsums. */
struct avx512_k4 {
    __m512i wv[4];
    __m512i sc[4];
    __m256i minsx;
    float d, dmin;
};

/* Levels of a Q4_K/Q5_K block's nibbles, in element order: a 64-byte
 * load holds groups g and g+1 as [lo g | lo g+1] and [hi g | hi g+1];
 * regrouping 128-bit lanes gives [lo g | hi g] and [lo g+1 | hi g+1]. */
static inline void avx512_k4_unpack(const uint8_t *qs, __m128i sm, float d, float dmin,
                                    struct avx512_k4 *k)
{
    const __m512i m4 = _mm512_set1_epi8(15);
    AVX512_UNROLL
    for (int h = 0; h < 2; h++) {
        const __m512i v = avx512_load(qs + 64 * h);
        const __m512i lo = _mm512_and_si512(v, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        k->wv[2 * h] = _mm512_shuffle_i64x2(lo, hi, 0x44);     /* lanes lo.0 lo.1 hi.0 hi.1 */
        k->wv[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, 0xee); /* lanes lo.2 lo.3 hi.2 hi.3 */
    }
    const __m512i s16 = _mm512_cvtepu8_epi16(_mm256_zextsi128_si256(sm));
    AVX512_UNROLL
    for (int g = 0; g < 4; g++)
        k->sc[g] = _mm512_permutexvar_epi16(avx512_idx_pair(2 * g, 2 * g + 1), s16);
    k->minsx = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
    k->d = d;
    k->dmin = dmin;
}

static inline __attribute__((always_inline)) void
avx512_k4_tokens(const struct avx512_k4 *k, int64_t i, const void *x, size_t xs, __m512 *acc,
                 __m256 *accm, const int nx)
{
    AVX512_UNROLL
    for (int t = 0; t < nx; t++) {
        const struct block_q8_K *xb = (const struct block_q8_K *)avx512_row(x, xs, t) + i;
        __m512i sumi = _mm512_setzero_si512();
        AVX512_UNROLL
        for (int g = 0; g < 4; g++) {
            const __m512i p = _mm512_maddubs_epi16(k->wv[g], avx512_load(xb->qs + 64 * g));
            sumi = _mm512_dpwssd_epi32(sumi, p, k->sc[g]);
        }
        acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(k->d * xb->d), _mm512_cvtepi32_ps(sumi), acc[t]);
        const __m256i m = _mm256_madd_epi16(k->minsx, avx512_load256(xb->bsums));
        accm[t] = _mm256_fmadd_ps(_mm256_set1_ps(k->dmin * xb->d), _mm256_cvtepi32_ps(m), accm[t]);
    }
}

static inline __attribute__((always_inline)) void
avx512_q4_K_body(int64_t nb, const struct block_q4_K *w, const void *x, size_t xs, float *out,
                 const int nx)
{
    __m512 acc[AVX512_NX];
    __m256 accm[AVX512_NX];
    AVX512_UNROLL
    for (int t = 0; t < nx; t++) {
        acc[t] = _mm512_setzero_ps();
        accm[t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        struct avx512_k4 k;
        avx512_k4_unpack(w[i].qs, avx512_k4_scales(w[i].scales), avx512_f16(w[i].d), avx512_f16(w[i].dmin), &k);
        avx512_k4_tokens(&k, i, x, xs, acc, accm, nx);
    }
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = _mm512_reduce_add_ps(acc[t]) - avx512_hsum256(accm[t]);
}

static void avx512_dot_q4_K(int64_t n, const void *w, const void *x, size_t xs, int nx,
                            float *out)
{
    AVX512_BY_NX(avx512_q4_K_body, n / QK_K, w, x, xs, out)
}

static inline __attribute__((always_inline)) void
avx512_q5_K_body(int64_t nb, const struct block_q5_K *w, const void *x, size_t xs, float *out,
                 const int nx)
{
    const __m512i sixteen = _mm512_set1_epi8(16);
    __m512 acc[AVX512_NX];
    __m256 accm[AVX512_NX];
    AVX512_UNROLL
    for (int t = 0; t < nx; t++) {
        acc[t] = _mm512_setzero_ps();
        accm[t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        struct avx512_k4 k;
        avx512_k4_unpack(w[i].qs, avx512_k4_scales(w[i].scales), avx512_f16(w[i].d), avx512_f16(w[i].dmin), &k);
        /* wv[g] lanes 0..31 are sub-block 2g (fifth bit: bit 2g of
         * qh[l]), lanes 32..63 sub-block 2g+1 (bit 2g+1) */
        const __m512i qh2 = _mm512_broadcast_i64x4(avx512_load256(w[i].qh));
        AVX512_UNROLL
        for (int g = 0; g < 4; g++) {
            const __m512i sel = _mm512_mask_set1_epi8(_mm512_set1_epi8((char)(1 << (2 * g))),
                                                      0xffffffff00000000ull, (char)(2 << (2 * g)));
            const __mmask64 hb = _mm512_test_epi8_mask(qh2, sel);
            k.wv[g] = _mm512_mask_add_epi8(k.wv[g], hb, k.wv[g], sixteen);
        }
        avx512_k4_tokens(&k, i, x, xs, acc, accm, nx);
    }
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = _mm512_reduce_add_ps(acc[t]) - avx512_hsum256(accm[t]);
}

static void avx512_dot_q5_K(int64_t n, const void *w, const void *x, size_t xs, int nx,
                            float *out)
{
    AVX512_BY_NX(avx512_q5_K_body, n / QK_K, w, x, xs, out)
}

/* Q6_K: per half h, the 64 bytes of ql give [k0 | k1] in their low
 * nibbles and [k2 | k3] in their high ones (k = which 32 of the half);
 * qh's bit pairs 2k, 2k+1 are the high two bits. [qh | qh >> 2] lines
 * bit pairs 0 and 1 up with [k0 | k1], and pairs 2 and 3 (bits 4-5 of
 * each byte) with [k2 | k3]. wv[z] = elements 64z .. 64z+63; its four
 * sub-blocks of 16 take scales 4z .. 4z+3. */
static inline __attribute__((always_inline)) void
avx512_q6_K_body(int64_t nb, const struct block_q6_K *w, const void *x, size_t xs, float *out,
                 const int nx)
{
    const __m512i m4 = _mm512_set1_epi8(15), m3 = _mm512_set1_epi8(3), m30 = _mm512_set1_epi8(0x30);
    __m512i idx[4];
    AVX512_UNROLL
    for (int z = 0; z < 4; z++) {
        /* s16 lanes 8s .. 8s+7 take scale 4z + s */
        __m512i v = _mm512_set1_epi16((short)(4 * z));
        v = _mm512_mask_set1_epi16(v, 0x0000ff00u, (short)(4 * z + 1));
        v = _mm512_mask_set1_epi16(v, 0x00ff0000u, (short)(4 * z + 2));
        idx[z] = _mm512_mask_set1_epi16(v, 0xff000000u, (short)(4 * z + 3));
    }
    __m512 acc[AVX512_NX];
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i wv[4], sc[4];
        AVX512_UNROLL
        for (int h = 0; h < 2; h++) {
            const __m512i ql = avx512_load(w[i].ql + 64 * h);
            const __m256i qh = avx512_load256(w[i].qh + 32 * h);
            const __m512i qhx = _mm512_inserti64x4(_mm512_castsi256_si512(qh),
                                                   _mm256_srli_epi16(qh, 2), 1);
            wv[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                        _mm512_slli_epi16(_mm512_and_si512(qhx, m3), 4));
            wv[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                            _mm512_and_si512(qhx, m30));
        }
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales));
        const __m512i sc16z = _mm512_zextsi256_si512(sc16);
        AVX512_UNROLL
        for (int z = 0; z < 4; z++)
            sc[z] = _mm512_permutexvar_epi16(idx[z], sc16z);
        const float dw = avx512_f16(w[i].d);
        AVX512_UNROLL
        for (int t = 0; t < nx; t++) {
            const struct block_q8_K *xb = (const struct block_q8_K *)avx512_row(x, xs, t) + i;
            __m512i sumi = _mm512_setzero_si512();
            AVX512_UNROLL
            for (int z = 0; z < 4; z++) {
                const __m512i p = _mm512_maddubs_epi16(wv[z], avx512_load(xb->qs + 64 * z));
                sumi = _mm512_dpwssd_epi32(sumi, p, sc[z]);
            }
            /* the -32 offset: sum_j sc_j * 32 * bsums_j */
            const __m256i off = _mm256_madd_epi16(sc16, avx512_load256(xb->bsums));
            sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(off, 5)));
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * xb->d), _mm512_cvtepi32_ps(sumi), acc[t]);
        }
    }
    AVX512_UNROLL
    for (int t = 0; t < nx; t++)
        out[t] = _mm512_reduce_add_ps(acc[t]);
}

static void avx512_dot_q6_K(int64_t n, const void *w, const void *x, size_t xs, int nx,
                            float *out)
{
    AVX512_BY_NX(avx512_q6_K_body, n / QK_K, w, x, xs, out)
}

/* ------------------------------------------------------------------ */
/* Activation quantizers (byte for byte quant.h's, for finite input)    */
/* ------------------------------------------------------------------ */

/* Q8_K: the first element of largest |x| keeps its sign as max;
 * q = min(127, round_half_even(x * (-127 / max))), which is what
 * cvtps_epi32 does under the default rounding mode; bsums per 16. */
static void avx512_quantize_q8_K(const float *x, struct block_q8_K *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m512 amax = _mm512_setzero_ps();
        AVX512_UNROLL
        for (int k = 0; k < 16; k++)
            amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)));
        const float am = _mm512_reduce_max_ps(amax);
        if (am == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        float max = 0.0f;
        for (int k = 0; k < 16; k++) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)),
                                                     _mm512_set1_ps(am), _CMP_EQ_OQ);
            if (hit) {
                max = x[16 * k + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        AVX512_UNROLL
        for (int k = 0; k < 16; k++) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * k)));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * k), _mm512_cvtsepi32_epi8(q));
            y[i].bsums[k] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[i].d = 1 / iscale;
    }
}

/* Q8_0 (ggml's x86 activation quantizer): d = f16(amax / 127),
 * q = round_half_even(x * (127 / amax)). */
static void avx512_quantize_q8_0(const float *x, struct block_q8_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
        y[i].d = _cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT);
        const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        const __m128i qa = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(a, id)));
        const __m128i qb = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(b, id)));
        _mm_storeu_si128((__m128i *)y[i].qs, qa);
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), qb);
    }
}

/* ------------------------------------------------------------------ */
/* Attention                                                           */
/* ------------------------------------------------------------------ */

/* Scores, four keys at a time so each load of q serves four of them;
 * the head dimension in steps of 16 with a masked tail. */
static void avx512_attn_scores(float *s, const float *q, const float *k, size_t stride, int n,
                               int hd, float scale)
{
    const __mmask16 tail = (__mmask16)((1u << (hd % 16)) - 1);
    const int full = hd / 16 * 16;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *k0 = k + (size_t)j * stride, *k1 = k0 + stride, *k2 = k1 + stride,
                    *k3 = k2 + stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < full; i += 16) {
            const __m512 qv = _mm512_loadu_ps(q + i);
            a0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + i), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k1 + i), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k2 + i), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k3 + i), a3);
        }
        if (tail) {
            const __m512 qv = _mm512_maskz_loadu_ps(tail, q + full);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, k0 + full), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, k1 + full), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, k2 + full), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, k3 + full), a3);
        }
        s[j] = _mm512_reduce_add_ps(a0) * scale;
        s[j + 1] = _mm512_reduce_add_ps(a1) * scale;
        s[j + 2] = _mm512_reduce_add_ps(a2) * scale;
        s[j + 3] = _mm512_reduce_add_ps(a3) * scale;
    }
    for (; j < n; j++) {
        const float *kj = k + (size_t)j * stride;
        __m512 a = _mm512_setzero_ps();
        for (int i = 0; i < full; i += 16)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(kj + i), a);
        if (tail)
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + full),
                                _mm512_maskz_loadu_ps(tail, kj + full), a);
        s[j] = _mm512_reduce_add_ps(a) * scale;
    }
}

/* The weighted sum of value rows, 64 output floats at a time held in
 * registers across all positions (the last slice masked). */
static void avx512_attn_mix(float *out, const float *p, const float *v, size_t stride, int n,
                            int hd)
{
    for (int c = 0; c < hd; c += 64) {
        __mmask16 m[4];
        AVX512_UNROLL
        for (int u = 0; u < 4; u++) {
            const int left = hd - c - 16 * u;
            m[u] = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        }
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *vj = v + c;
        for (int j = 0; j < n; j++, vj += stride) {
            const __m512 pj = _mm512_set1_ps(p[j]);
            a0 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m[0], vj), a0);
            a1 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m[1], vj + 16), a1);
            a2 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m[2], vj + 32), a2);
            a3 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m[3], vj + 48), a3);
        }
        _mm512_mask_storeu_ps(out + c, m[0], a0);
        _mm512_mask_storeu_ps(out + c + 16, m[1], a1);
        _mm512_mask_storeu_ps(out + c + 32, m[2], a2);
        _mm512_mask_storeu_ps(out + c + 48, m[3], a3);
    }
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Softmax and SwiGLU: a vector exp                                    */
/* ------------------------------------------------------------------ */

/* exp(x), 16 lanes, within 2 ulp of expf: x = n ln2 + r with n an
 * integer and |r| <= ln2/2 (ln2 in two parts so r is exact), Cephes'
 * degree-6 polynomial for e^r, then scalef multiplies by 2^n, which
 * also gives 0 and inf past the float range. The clamp keeps -inf
 * (and huge |x|) from making n * ln2 - x a NaN; NaN stays NaN. */
static inline __m512 avx512_exp(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 e = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(e, n);
}

static inline __mmask16 avx512_tail_mask(int left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

static void avx512_softmax(float *x, int n)
{
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16)
        mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(mv, avx512_tail_mask(n - i), x + i));
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = avx512_tail_mask(n - i);
        const __m512 e = avx512_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), max));
        _mm512_mask_storeu_ps(x + i, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = avx512_tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
    }
}

static void avx512_swiglu(float *g, const float *u, int n)
{
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = avx512_tail_mask(n - i);
        const __m512 gv = _mm512_maskz_loadu_ps(k, g + i);
        const __m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f), avx512_exp(_mm512_sub_ps(_mm512_setzero_ps(), gv)));
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(_mm512_div_ps(gv, den), _mm512_maskz_loadu_ps(k, u + i)));
    }
}

const struct kernels kernels_avx512 = {
    .name = "avx512",
    .nx = AVX512_NX,
    .act_type = {
        [GGML_TYPE_Q8_0] = GGML_TYPE_Q8_0,
        [GGML_TYPE_Q4_0] = GGML_TYPE_Q8_0,
        [GGML_TYPE_Q4_K] = GGML_TYPE_Q8_K,
        [GGML_TYPE_Q5_K] = GGML_TYPE_Q8_K,
        [GGML_TYPE_Q6_K] = GGML_TYPE_Q8_K,
    },
    .dot = {
        [GGML_TYPE_F32] = avx512_dotw_f32,
        [GGML_TYPE_F16] = avx512_dotw_f16,
        [GGML_TYPE_BF16] = avx512_dotw_bf16,
        [GGML_TYPE_Q8_0] = avx512_dot_q8_0,
        [GGML_TYPE_Q4_0] = avx512_dot_q4_0,
        [GGML_TYPE_Q4_K] = avx512_dot_q4_K,
        [GGML_TYPE_Q5_K] = avx512_dot_q5_K,
        [GGML_TYPE_Q6_K] = avx512_dot_q6_K,
    },
    .quantize_q8_0 = avx512_quantize_q8_0,
    .quantize_q8_K = avx512_quantize_q8_K,
    .attn_scores = avx512_attn_scores,
    .attn_mix = avx512_attn_mix,
    .softmax = avx512_softmax,
    .swiglu = avx512_swiglu,
};

#endif /* __x86_64__ */
