/*
 * quant.c: the scalar reference for every tensor type we support.
 *
 * This is the specification the SIMD kernels are tested against, so it
 * is written for exactness, not speed:
 *
 *  - Dequantizers perform the same float operations in the same order
 *    as ggml's dequantize_row_* (e.g. Q4_K is (d*sc)*q - dmin*m), so a
 *    weight decodes to the very float llama.cpp and gguf-py see.
 *
 *  - Quantizers follow ggml's quantize_row_*_ref operation by operation
 *    (including its float evaluation order and its rounding helper), so
 *    that quantizing the F32 weights of a model gives the same bytes as
 *    llama-quantize without an importance matrix. That needs IEEE single
 *    precision for every intermediate and no fused multiply-adds: GCC in
 *    ISO C mode (-std=c17) does not contract; clang is told below.
 *
 *  - quant_dot accumulates in double: it is the "exact" answer.
 *
 *  - quant_vec_dot is the integer path of the SIMD kernels: weights
 *    against activations quantized to Q8_0 / Q8_K, an exact integer per
 *    block scaled by ggml's float products, blocks summed in double.
 *
 * Layout of the file: the type table; f16/bf16; dequantizers; the
 * rounding and scale-search helpers; quantizers; the row entry points;
 * the integer dot products.
 */
#include "quant.h"

#include <math.h>
#include <string.h>

#include "mem.h"

#ifdef __clang__
/* A contracted a*b+c rounds once instead of twice and changes which
 * scale the K-quant search picks; ggml's reference is built without it. */
#pragma STDC FP_CONTRACT OFF
#endif

/* ==================================================================== */
/* The type table                                                        */
/* ==================================================================== */

/* Blocks of the types we only describe. Their sizes feed the table (never
 * typed by hand); the asserts pin them to ggml's. */
struct block_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct block_q8_1 { uint16_t d, s; int8_t qs[32]; };
struct block_q2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct block_q3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct block_iq2_xxs { uint16_t d; uint16_t qs[32]; };
struct block_iq2_xs { uint16_t d; uint16_t qs[32]; uint8_t scales[8]; };
struct block_iq3_xxs { uint16_t d; uint8_t qs[96]; };
struct block_iq1_s { uint16_t d; uint8_t qs[32]; uint16_t qh[8]; };
struct block_iq4_nl { uint16_t d; uint8_t qs[16]; };
struct block_iq3_s { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t signs[32]; uint8_t scales[4]; };
struct block_iq2_s { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t scales[8]; };
struct block_iq4_xs { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };
struct block_iq1_m { uint8_t qs[32]; uint8_t qh[16]; uint8_t scales[8]; };
struct block_tq1_0 { uint8_t qs[48]; uint8_t qh[4]; uint16_t d; };
struct block_tq2_0 { uint8_t qs[64]; uint16_t d; };
struct block_mxfp4 { uint8_t e; uint8_t qs[16]; };

static_assert(sizeof(struct block_q4_1) == 20, "q4_1");
static_assert(sizeof(struct block_q5_0) == 22, "q5_0");
static_assert(sizeof(struct block_q5_1) == 24, "q5_1");
static_assert(sizeof(struct block_q8_1) == 36, "q8_1");
static_assert(sizeof(struct block_q2_K) == 84, "q2_K");
static_assert(sizeof(struct block_q3_K) == 110, "q3_K");
static_assert(sizeof(struct block_iq2_xxs) == 66, "iq2_xxs");
static_assert(sizeof(struct block_iq2_xs) == 74, "iq2_xs");
static_assert(sizeof(struct block_iq3_xxs) == 98, "iq3_xxs");
static_assert(sizeof(struct block_iq1_s) == 50, "iq1_s");
static_assert(sizeof(struct block_iq4_nl) == 18, "iq4_nl");
static_assert(sizeof(struct block_iq3_s) == 110, "iq3_s");
static_assert(sizeof(struct block_iq2_s) == 82, "iq2_s");
static_assert(sizeof(struct block_iq4_xs) == 136, "iq4_xs");
static_assert(sizeof(struct block_iq1_m) == 56, "iq1_m");
static_assert(sizeof(struct block_tq1_0) == 54, "tq1_0");
static_assert(sizeof(struct block_tq2_0) == 66, "tq2_0");
static_assert(sizeof(struct block_mxfp4) == 17, "mxfp4");

#define TYPE_ROW(t, name, bs, blk, sup) \
    [GGML_TYPE_##t] = { name, bs, (uint32_t)sizeof(blk), sup }

static const struct quant_type_info type_table[GGML_TYPE_COUNT] = {
    TYPE_ROW(F32, "F32", 1, float, true),
    TYPE_ROW(F16, "F16", 1, uint16_t, true),
    TYPE_ROW(Q4_0, "Q4_0", QK4_0, struct block_q4_0, true),
    TYPE_ROW(Q4_1, "Q4_1", 32, struct block_q4_1, false),
    TYPE_ROW(Q5_0, "Q5_0", 32, struct block_q5_0, false),
    TYPE_ROW(Q5_1, "Q5_1", 32, struct block_q5_1, false),
    TYPE_ROW(Q8_0, "Q8_0", QK8_0, struct block_q8_0, true),
    TYPE_ROW(Q8_1, "Q8_1", 32, struct block_q8_1, false),
    TYPE_ROW(Q2_K, "Q2_K", QK_K, struct block_q2_K, false),
    TYPE_ROW(Q3_K, "Q3_K", QK_K, struct block_q3_K, false),
    TYPE_ROW(Q4_K, "Q4_K", QK_K, struct block_q4_K, true),
    TYPE_ROW(Q5_K, "Q5_K", QK_K, struct block_q5_K, true),
    TYPE_ROW(Q6_K, "Q6_K", QK_K, struct block_q6_K, true),
    TYPE_ROW(Q8_K, "Q8_K", QK_K, struct block_q8_K, true),
    TYPE_ROW(IQ2_XXS, "IQ2_XXS", QK_K, struct block_iq2_xxs, false),
    TYPE_ROW(IQ2_XS, "IQ2_XS", QK_K, struct block_iq2_xs, false),
    TYPE_ROW(IQ3_XXS, "IQ3_XXS", QK_K, struct block_iq3_xxs, false),
    TYPE_ROW(IQ1_S, "IQ1_S", QK_K, struct block_iq1_s, false),
    TYPE_ROW(IQ4_NL, "IQ4_NL", 32, struct block_iq4_nl, false),
    TYPE_ROW(IQ3_S, "IQ3_S", QK_K, struct block_iq3_s, false),
    TYPE_ROW(IQ2_S, "IQ2_S", QK_K, struct block_iq2_s, false),
    TYPE_ROW(IQ4_XS, "IQ4_XS", QK_K, struct block_iq4_xs, false),
    TYPE_ROW(I8, "I8", 1, int8_t, false),
    TYPE_ROW(I16, "I16", 1, int16_t, false),
    TYPE_ROW(I32, "I32", 1, int32_t, false),
    TYPE_ROW(I64, "I64", 1, int64_t, false),
    TYPE_ROW(F64, "F64", 1, double, false),
    TYPE_ROW(IQ1_M, "IQ1_M", QK_K, struct block_iq1_m, false),
    TYPE_ROW(BF16, "BF16", 1, uint16_t, true),
    TYPE_ROW(TQ1_0, "TQ1_0", QK_K, struct block_tq1_0, false),
    TYPE_ROW(TQ2_0, "TQ2_0", QK_K, struct block_tq2_0, false),
    TYPE_ROW(MXFP4, "MXFP4", 32, struct block_mxfp4, false),
};

const struct quant_type_info *quant_type_info(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || !type_table[type].name)
        return NULL;
    return &type_table[type];
}

bool quant_is_supported(uint32_t type)
{
    const struct quant_type_info *ti = quant_type_info(type);
    return ti && ti->supported;
}

bool quant_row_size(uint32_t type, uint64_t n, uint64_t *bytes)
{
    const struct quant_type_info *ti = quant_type_info(type);
    if (!ti || n % ti->block_size != 0)
        return false;
    return mem_mul(n / ti->block_size, ti->type_size, bytes);
}

/* ==================================================================== */
/* f16 and bf16                                                          */
/* ==================================================================== */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

float quant_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t man = h & 0x3ff;
    if (exp == 0x1f) /* inf or NaN: payload moves up, bit for bit */
        return f32_from_bits(sign | 0x7f800000 | (man << 13));
    if (exp != 0) /* normal: rebias 15 -> 127 */
        return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
    /* zero or subnormal: man * 2^-24, exact in float */
    const float v = (float)man * 0x1p-24f;
    return sign ? -v : v;
}

uint16_t quant_f32_to_f16(float f)
{
    const uint32_t u = f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    const uint32_t a = u & 0x7fffffff;

    if (a > 0x7f800000) {
        /* NaN: keep the top 10 payload bits; if they are all zero the
         * result would read as inf, so set the quiet bit instead. */
        uint16_t m = (uint16_t)((a >> 13) & 0x3ff);
        return (uint16_t)(sign | 0x7c00 | (m ? m : 0x200));
    }
    /* 65520 is halfway between 65504 (the largest half, odd mantissa)
     * and 65536: ties to even go up, so from there on it is inf. */
    if (a >= 0x477ff000)
        return (uint16_t)(sign | 0x7c00);
    if (a >= 0x38800000) {
        /* Normal half: drop 13 mantissa bits, rebias, round to nearest
         * even. A carry out of the mantissa correctly bumps the exponent. */
        uint32_t h = (a - 0x38000000) >> 13;
        const uint32_t rem = a & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    /* Below 2^-14: the result is a subnormal half (or zero, or rounds up
     * to the smallest normal 0x0400, which the same encoding yields). */
    const uint32_t exp = a >> 23;
    if (exp < 102) /* below 2^-25, half the smallest subnormal: zero */
        return sign;
    const uint32_t m = (a & 0x7fffff) | 0x800000; /* value = m * 2^(exp-150) */
    const uint32_t shift = 126 - exp;             /* in units of 2^-24: 14..24 */
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float quant_bf16_to_f32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t quant_f32_to_bf16(float f)
{
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) /* NaN: truncate, force quiet */
        return (uint16_t)((u >> 16) | 0x40);
    /* Round to nearest even on the 16 dropped bits; overflow of the
     * largest finite values correctly carries into inf. */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ==================================================================== */
/* Dequantizers: one block each                                          */
/* ==================================================================== */

static void dequantize_block_q8_0(const void *blk, float *y)
{
    const struct block_q8_0 *b = blk;
    const float d = quant_f16_to_f32(b->d);
    for (int j = 0; j < QK8_0; j++)
        y[j] = b->qs[j] * d;
}

static void dequantize_block_q4_0(const void *blk, float *y)
{
    const struct block_q4_0 *b = blk;
    const float d = quant_f16_to_f32(b->d);
    for (int j = 0; j < QK4_0 / 2; j++) {
        y[j] = ((b->qs[j] & 15) - 8) * d;
        y[j + QK4_0 / 2] = ((b->qs[j] >> 4) - 8) * d;
    }
}

static void dequantize_block_q4_K(const void *blk, float *y)
{
    const struct block_q4_K *b = blk;
    const float d = quant_f16_to_f32(b->d);
    const float dmin = quant_f16_to_f32(b->dmin);
    const uint8_t *q = b->qs;
    /* 64 elements per 32 bytes: sub-block 2g in the low nibbles, 2g+1 high */
    for (int g = 0; g < 4; g++, q += 32, y += 64) {
        uint8_t sc, m;
        quant_k4_scale_min(2 * g, b->scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        quant_k4_scale_min(2 * g + 1, b->scales, &sc, &m);
        const float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) {
            y[l] = d1 * (q[l] & 15) - m1;
            y[l + 32] = d2 * (q[l] >> 4) - m2;
        }
    }
}

static void dequantize_block_q5_K(const void *blk, float *y)
{
    const struct block_q5_K *b = blk;
    const float d = quant_f16_to_f32(b->d);
    const float dmin = quant_f16_to_f32(b->dmin);
    const uint8_t *q = b->qs;
    for (int g = 0; g < 4; g++, q += 32, y += 64) {
        uint8_t sc, m;
        quant_k4_scale_min(2 * g, b->scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        quant_k4_scale_min(2 * g + 1, b->scales, &sc, &m);
        const float d2 = d * sc, m2 = dmin * m;
        /* the fifth bit of element 32k + l is bit k of qh[l] */
        const uint8_t lo_bit = (uint8_t)(1u << (2 * g)), hi_bit = (uint8_t)(2u << (2 * g));
        for (int l = 0; l < 32; l++) {
            y[l] = d1 * ((q[l] & 15) + ((b->qh[l] & lo_bit) ? 16 : 0)) - m1;
            y[l + 32] = d2 * ((q[l] >> 4) + ((b->qh[l] & hi_bit) ? 16 : 0)) - m2;
        }
    }
}

static void dequantize_block_q6_K(const void *blk, float *y)
{
    const struct block_q6_K *b = blk;
    const float d = quant_f16_to_f32(b->d);
    /* two halves of 128; in each, byte l of ql/qh feeds elements l + 32k */
    for (int h = 0; h < 2; h++, y += 128) {
        const uint8_t *ql = b->ql + 64 * h;
        const uint8_t *qh = b->qh + 32 * h;
        const int8_t *sc = b->scales + 8 * h;
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q0 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q1 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is + 0] * q0;
            y[l + 32] = d * sc[is + 2] * q1;
            y[l + 64] = d * sc[is + 4] * q2;
            y[l + 96] = d * sc[is + 6] * q3;
        }
    }
}

static void dequantize_block_q8_K(const void *blk, float *y)
{
    const struct block_q8_K *b = blk;
    for (int j = 0; j < QK_K; j++)
        y[j] = b->d * b->qs[j];
}

/* ==================================================================== */
/* Quantizer helpers (ggml's rounding and scale searches)                */
/* ==================================================================== */

/* Below this a group counts as all zero (ggml's GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties to even (the default FP rounding mode), for
 * |v| < 2^22: adding 1.5 * 2^23 leaves the integer in the low mantissa
 * bits. This is ggml's nearest_int; outside that range it returns the
 * same meaningless value ggml's does (callers clamp it), which keeps even
 * degenerate blocks byte-identical. */
static int nearest_int(float v)
{
    const float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Symmetric signed fit for Q6_K (ggml's make_qx_quants with rmse_type 1
 * and no importance weights): choose s so x ~ s * l with l in
 * [-nmax, nmax-1], minimising sum x^2 (x - s l)^2. Starts from the scale
 * that maps the largest |x| (sign kept) to -nmax, tries 18 nearby ones,
 * and keeps the best least-squares scale. L receives l + nmax.
 */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        /* sumlx^2/suml2 is the error reduction of the best s for these l */
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
                L[i] = (int8_t)(l + nmax);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/*
 * Affine fit for Q4_K/Q5_K sub-blocks (ggml's make_qkx2_quants, squared
 * error): x ~ s * l + mn with l in 0..nmax and mn <= 0, weighted by w.
 * Starts from the min/max mapping, then for nstep+1 candidate inverse
 * scales (rmin + rdelta*is + nmax) / (max - mn) rounds, solves the
 * weighted least squares for (s, mn), and keeps the lowest error. As in
 * ggml, an accepted candidate's mn is used by the following candidates.
 * Returns s; *neg_min = -mn (>= 0); L gets the levels.
 */
static float fit_affine(int n, int nmax, const float *x, const float *w,
                        uint8_t *L, float *neg_min, uint8_t *Laux,
                        float rmin, float rdelta, int nstep)
{
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
        const float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        /* normal equations of min over (s, mn) of sum w (s l + mn - x)^2 */
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) { /* the format has no positive offset */
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                const float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += w[i] * (diff * diff);
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

/* ==================================================================== */
/* Quantizers: one block each                                            */
/* ==================================================================== */

static void quantize_block_q8_0(const float *x, void *blk)
{
    struct block_q8_0 *b = blk;
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++)
        amax = MAX(amax, fabsf(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    b->d = quant_f32_to_f16(d);
    for (int j = 0; j < QK8_0; j++)
        b->qs[j] = (int8_t)roundf(x[j] * id); /* ties away from zero, as ggml's ref */
}

static void quantize_block_q4_0(const float *x, void *blk)
{
    struct block_q4_0 *b = blk;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK4_0; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    /* The largest |x| maps exactly to level -8 (its sign chosen so), which
     * uses the asymmetric range -8..7 fully on that side. */
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    b->d = quant_f32_to_f16(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
        /* + 8.5 then truncate: round half up on the shifted level */
        const int q0 = MIN(15, (int)(x[j] * id + 8.5f));
        const int q1 = MIN(15, (int)(x[j + QK4_0 / 2] * id + 8.5f));
        b->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

/*
 * The shared first half of Q4_K and Q5_K: fit each 32-element sub-block
 * (weights sqrt(mean x^2) + |x|, ggml's choice), quantize the 8 scales and
 * 8 mins to 6 bits against the largest of each, then requantize every
 * element against the scales actually stored. L gets levels 0..nmax.
 */
static void quantize_k4_common(const float *x, int nmax, float rmin, float rdelta,
                               int nstep, uint16_t *d_out, uint16_t *dmin_out,
                               uint8_t scales_out[K_SCALE_SIZE], uint8_t L[QK_K])
{
    float scales[QK_K / 32], mins[QK_K / 32], weights[32];
    uint8_t Laux[32];
    float max_scale = 0, max_min = 0; /* scales and mins are >= 0 here */
    for (int j = 0; j < QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_affine(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux,
                               rmin, rdelta, nstep);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }

    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(scales_out, 0, K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 32; j++) {
        /* through uint8_t first, as ggml does, so a stray negative wraps
         * high and clamps to 63 the same way */
        const uint8_t ls = MIN(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        const uint8_t lm = MIN(63, (uint8_t)nearest_int(inv_min * mins[j]));
        if (j < 4) {
            scales_out[j] = ls;
            scales_out[j + 4] = lm;
        } else {
            scales_out[j + 4] = (uint8_t)((ls & 15) | ((lm & 15) << 4));
            scales_out[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales_out[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = quant_f32_to_f16(max_scale / 63.f);
    *dmin_out = quant_f32_to_f16(max_min / 63.f);

    const float d_all = quant_f16_to_f32(*d_out);
    const float dmin_all = quant_f16_to_f32(*dmin_out);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales_out, &sc, &m);
        const float d = d_all * sc;
        if (!d) /* keep the fit's levels; they decode to the min anyway */
            continue;
        const float dm = dmin_all * m;
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t)clamp_int(nearest_int((x[32 * j + ii] + dm) / d), 0, nmax);
    }
}

static void quantize_block_q4_K(const float *x, void *blk)
{
    struct block_q4_K *b = blk;
    uint8_t L[QK_K];
    quantize_k4_common(x, 15, -1.f, 0.1f, 20, &b->d, &b->dmin, b->scales, L);
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * g + l] = (uint8_t)(L[64 * g + l] | (L[64 * g + l + 32] << 4));
}

static void quantize_block_q5_K(const float *x, void *blk)
{
    struct block_q5_K *b = blk;
    uint8_t L[QK_K];
    quantize_k4_common(x, 31, -0.5f, 0.1f, 15, &b->d, &b->dmin, b->scales, L);
    memset(b->qh, 0, sizeof(b->qh));
    for (int g = 0; g < 4; g++) {
        for (int l = 0; l < 32; l++) {
            int l1 = L[64 * g + l], l2 = L[64 * g + l + 32];
            if (l1 > 15) {
                l1 -= 16;
                b->qh[l] |= (uint8_t)(1u << (2 * g));
            }
            if (l2 > 15) {
                l2 -= 16;
                b->qh[l] |= (uint8_t)(2u << (2 * g));
            }
            b->qs[32 * g + l] = (uint8_t)(l1 | (l2 << 4));
        }
    }
}

static void quantize_block_q6_K(const float *x, void *blk)
{
    struct block_q6_K *b = blk;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ib++) {
        scales[ib] = fit_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
        if (fabsf(scales[ib]) > max_abs_scale) {
            max_abs_scale = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < GROUP_MAX_EPS) {
        memset(b, 0, sizeof(*b));
        return;
    }
    /* the largest scale (sign kept) becomes -128: the 8-bit scales use
     * their whole range on that side */
    const float iscale = -128.f / max_scale;
    b->d = quant_f32_to_f16(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ib++)
        b->scales[ib] = (int8_t)MIN(127, nearest_int(iscale * scales[ib]));

    const float d_all = quant_f16_to_f32(b->d);
    for (int j = 0; j < QK_K / 16; j++) {
        const float d = d_all * b->scales[j];
        if (!d)
            continue;
        for (int ii = 0; ii < 16; ii++) {
            const int l = clamp_int(nearest_int(x[16 * j + ii] / d), -32, 31);
            L[16 * j + ii] = (int8_t)(l + 32);
        }
    }

    for (int h = 0; h < 2; h++) {
        const int8_t *Lh = L + 128 * h;
        uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((Lh[l] & 15) | ((Lh[l + 64] & 15) << 4));
            ql[l + 32] = (uint8_t)((Lh[l + 32] & 15) | ((Lh[l + 96] & 15) << 4));
            qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                              ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
        }
    }
}

static void quantize_block_q8_K(const float *x, void *blk)
{
    struct block_q8_K *b = blk;
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (!amax) { /* ggml leaves bsums stale here; zero is what they sum to */
        memset(b, 0, sizeof(*b));
        return;
    }
    /* -127, not -128: the signed max maps to -127 so every q fits
     * [-127, 127] and a kernel may negate freely */
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; j++)
        b->qs[j] = (int8_t)MIN(127, nearest_int(iscale * x[j]));
    for (int g = 0; g < QK_K / 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += b->qs[16 * g + j];
        b->bsums[g] = (int16_t)sum;
    }
    b->d = 1 / iscale;
}

void quant_quantize_row_q8_K(const float *x, struct block_q8_K *y, int64_t n)
{
    CHECK(n >= 0 && n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++)
        quantize_block_q8_K(x + i * QK_K, &y[i]);
}

void quant_quantize_row_q8_0_act(const float *x, struct block_q8_0 *y, int64_t n)
{
    CHECK(n >= 0 && n % QK8_0 == 0);
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = MAX(amax, fabsf(x[j]));
        y[i].d = quant_f32_to_f16(amax / 127.f);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = (int8_t)nearest_int(x[j] * id);
    }
}

/* ==================================================================== */
/* Rows                                                                  */
/* ==================================================================== */

/* Block codecs of the quantized types; F32/F16/BF16 go element-wise. */
struct block_codec {
    void (*dequantize)(const void *blk, float *y);
    void (*quantize)(const float *x, void *blk);
    size_t align; /* of the block struct: what a row pointer must meet */
};

static const struct block_codec codecs[GGML_TYPE_COUNT] = {
    [GGML_TYPE_Q8_0] = { dequantize_block_q8_0, quantize_block_q8_0, _Alignof(struct block_q8_0) },
    [GGML_TYPE_Q4_0] = { dequantize_block_q4_0, quantize_block_q4_0, _Alignof(struct block_q4_0) },
    [GGML_TYPE_Q4_K] = { dequantize_block_q4_K, quantize_block_q4_K, _Alignof(struct block_q4_K) },
    [GGML_TYPE_Q5_K] = { dequantize_block_q5_K, quantize_block_q5_K, _Alignof(struct block_q5_K) },
    [GGML_TYPE_Q6_K] = { dequantize_block_q6_K, quantize_block_q6_K, _Alignof(struct block_q6_K) },
    [GGML_TYPE_Q8_K] = { dequantize_block_q8_K, quantize_block_q8_K, _Alignof(struct block_q8_K) },
};

/* Checks the caller's invariants and returns the type's info. */
static const struct quant_type_info *row_check(uint32_t type, const void *p, int64_t n)
{
    CHECK(quant_is_supported(type));
    const struct quant_type_info *ti = &type_table[type];
    CHECK(n >= 0 && n % ti->block_size == 0);
    const size_t align = codecs[type].dequantize ? codecs[type].align : ti->type_size;
    CHECK((uintptr_t)p % align == 0);
    return ti;
}

void quant_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n)
{
    const struct quant_type_info *ti = row_check(type, src, n);
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = quant_f16_to_f32(((const uint16_t *)src)[i]);
        return;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = quant_bf16_to_f32(((const uint16_t *)src)[i]);
        return;
    default:
        break;
    }
    const uint8_t *p = src;
    const int64_t nb = n / ti->block_size;
    for (int64_t i = 0; i < nb; i++)
        codecs[type].dequantize(p + i * ti->type_size, dst + i * ti->block_size);
}

float quant_dot(uint32_t type, const void *w, const float *x, int64_t n)
{
    const struct quant_type_info *ti = row_check(type, w, n);
    double acc = 0.0;
    if (type == GGML_TYPE_F32) {
        const float *wf = w;
        for (int64_t i = 0; i < n; i++)
            acc += (double)wf[i] * (double)x[i];
        return (float)acc;
    }
    /* Everything else decodes a block (or a 256-element chunk of halves)
     * into a stack buffer, exactly as quant_dequantize_row would. */
    float buf[QK_K];
    if (type == GGML_TYPE_F16 || type == GGML_TYPE_BF16) {
        const uint16_t *h = w;
        for (int64_t i = 0; i < n; i += QK_K) {
            const int64_t m = MIN((int64_t)QK_K, n - i);
            quant_dequantize_row(type, h + i, buf, m);
            for (int64_t j = 0; j < m; j++)
                acc += (double)buf[j] * (double)x[i + j];
        }
        return (float)acc;
    }
    const uint8_t *p = w;
    const int64_t bs = ti->block_size, nb = n / bs;
    for (int64_t i = 0; i < nb; i++) {
        codecs[type].dequantize(p + i * ti->type_size, buf);
        for (int64_t j = 0; j < bs; j++)
            acc += (double)buf[j] * (double)x[i * bs + j];
    }
    return (float)acc;
}

void quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n)
{
    const struct quant_type_info *ti = row_check(type, dst, n);
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case GGML_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = quant_f32_to_f16(src[i]);
        return;
    case GGML_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = quant_f32_to_bf16(src[i]);
        return;
    default:
        break;
    }
    uint8_t *p = dst;
    const int64_t nb = n / ti->block_size;
    for (int64_t i = 0; i < nb; i++)
        codecs[type].quantize(src + i * ti->block_size, p + i * ti->type_size);
}

/* ==================================================================== */
/* Integer dot products (the spec of the SIMD kernels)                   */
/* ==================================================================== */

uint32_t quant_act_type(uint32_t weight_type)
{
    switch (weight_type) {
    case GGML_TYPE_Q8_0:
    case GGML_TYPE_Q4_0:
        return GGML_TYPE_Q8_0;
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K:
    case GGML_TYPE_Q6_K:
        return GGML_TYPE_Q8_K;
    default:
        return GGML_TYPE_F32;
    }
}

static double vec_dot_q8_0(int64_t nb, const struct block_q8_0 *w, const struct block_q8_0 *x)
{
    double acc = 0.0;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        for (int j = 0; j < QK8_0; j++)
            s += w[i].qs[j] * x[i].qs[j];
        const float d = quant_f16_to_f32(w[i].d) * quant_f16_to_f32(x[i].d);
        acc += (double)d * s;
    }
    return acc;
}

static double vec_dot_q4_0(int64_t nb, const struct block_q4_0 *w, const struct block_q8_0 *x)
{
    double acc = 0.0;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        /* byte j: element j in the low nibble, j + 16 in the high one */
        for (int j = 0; j < QK4_0 / 2; j++)
            s += ((w[i].qs[j] & 15) - 8) * x[i].qs[j] +
                 ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + QK4_0 / 2];
        const float d = quant_f16_to_f32(w[i].d) * quant_f16_to_f32(x[i].d);
        acc += (double)d * s;
    }
    return acc;
}

/* sum_j m_j * (bsums[2j] + bsums[2j+1]): the mins of a Q4_K/Q5_K block
 * against the activation's 16-element sums. */
static int32_t vec_dot_k4_mins(const uint8_t *scales, const struct block_q8_K *x)
{
    int32_t s = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales, &sc, &m);
        s += m * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return s;
}

static double vec_dot_q4_K(int64_t nb, const struct block_q4_K *w, const struct block_q8_K *x)
{
    double acc = 0.0;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        const uint8_t *q = w[i].qs;
        const int8_t *a = x[i].qs;
        /* group g: sub-block 2g in the low nibbles, 2g+1 in the high */
        for (int g = 0; g < 4; g++, q += 32, a += 64) {
            uint8_t sc1, sc2, m;
            quant_k4_scale_min(2 * g, w[i].scales, &sc1, &m);
            quant_k4_scale_min(2 * g + 1, w[i].scales, &sc2, &m);
            int32_t s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 15) * a[l];
                s2 += (q[l] >> 4) * a[l + 32];
            }
            s += sc1 * s1 + sc2 * s2;
        }
        const float d = quant_f16_to_f32(w[i].d) * x[i].d;
        const float dmin = quant_f16_to_f32(w[i].dmin) * x[i].d;
        acc += (double)d * s - (double)dmin * vec_dot_k4_mins(w[i].scales, &x[i]);
    }
    return acc;
}

static double vec_dot_q5_K(int64_t nb, const struct block_q5_K *w, const struct block_q8_K *x)
{
    double acc = 0.0;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        const uint8_t *q = w[i].qs;
        const int8_t *a = x[i].qs;
        for (int g = 0; g < 4; g++, q += 32, a += 64) {
            uint8_t sc1, sc2, m;
            quant_k4_scale_min(2 * g, w[i].scales, &sc1, &m);
            quant_k4_scale_min(2 * g + 1, w[i].scales, &sc2, &m);
            int32_t s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                /* the fifth bit of element 32k + l is bit k of qh[l] */
                const int h1 = (w[i].qh[l] >> (2 * g)) & 1, h2 = (w[i].qh[l] >> (2 * g + 1)) & 1;
                s1 += ((q[l] & 15) + 16 * h1) * a[l];
                s2 += ((q[l] >> 4) + 16 * h2) * a[l + 32];
            }
            s += sc1 * s1 + sc2 * s2;
        }
        const float d = quant_f16_to_f32(w[i].d) * x[i].d;
        const float dmin = quant_f16_to_f32(w[i].dmin) * x[i].d;
        acc += (double)d * s - (double)dmin * vec_dot_k4_mins(w[i].scales, &x[i]);
    }
    return acc;
}

static double vec_dot_q6_K(int64_t nb, const struct block_q6_K *w, const struct block_q8_K *x)
{
    double acc = 0.0;
    for (int64_t i = 0; i < nb; i++) {
        int32_t s = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h, *qh = w[i].qh + 32 * h;
            const int8_t *a = x[i].qs + 128 * h;
            const int8_t *sc = w[i].scales + 8 * h;
            /* element 128h + 32k + l; its scale is sc[2k + l/16] */
            int32_t sub[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int q0 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                sub[0 + l / 16] += q0 * a[l];
                sub[2 + l / 16] += q1 * a[l + 32];
                sub[4 + l / 16] += q2 * a[l + 64];
                sub[6 + l / 16] += q3 * a[l + 96];
            }
            for (int j = 0; j < 8; j++)
                s += sc[j] * sub[j];
        }
        const float d = quant_f16_to_f32(w[i].d) * x[i].d;
        acc += (double)d * s;
    }
    return acc;
}

float quant_vec_dot(uint32_t type, const void *w, const void *x, int64_t n)
{
    const struct quant_type_info *ti = row_check(type, w, n);
    const int64_t nb = n / ti->block_size;
    switch (type) {
    case GGML_TYPE_Q8_0:
        return (float)vec_dot_q8_0(nb, w, x);
    case GGML_TYPE_Q4_0:
        return (float)vec_dot_q4_0(nb, w, x);
    case GGML_TYPE_Q4_K:
        return (float)vec_dot_q4_K(nb, w, x);
    case GGML_TYPE_Q5_K:
        return (float)vec_dot_q5_K(nb, w, x);
    case GGML_TYPE_Q6_K:
        return (float)vec_dot_q6_K(nb, w, x);
    default:
        return quant_dot(type, w, x, n);
    }
}
