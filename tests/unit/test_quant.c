/*
 * test_quant.c: the scalar reference of quant.c.
 *
 * What each group of tests guards:
 *  - the type table: sizes equal ggml's for every known type;
 *  - f16/bf16: every half decodes to its exact value and survives a round
 *    trip; float -> half is the nearest half, ties to even, checked by a
 *    brute-force "is it the nearest" property (and by the compiler's own
 *    _Float16 where it has one);
 *  - hand-built blocks: bytes assembled here from the layout diagrams
 *    (a bit-position table, not the library's packing code) and literal
 *    bytes decoded by hand in the comments, so a dequantizer that reads
 *    a nibble or a scale bit from the wrong place fails;
 *  - round trips: dequantize(quantize(x)) within a per-type bound on
 *    random data of several shapes, distributions and magnitudes;
 *  - quant_dot against a double sum of the dequantized row;
 *  - the activation quantizers (Q8_K, Q8_0) against their stated rules,
 *    including exact ties.
 * Byte parity with llama-quantize lives in tests/parity/test_quant_parity.c.
 */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "quant.h"

/* ==================================================================== */
/* The type table                                                        */
/* ==================================================================== */

static void test_type_table(void **state)
{
    (void)state;
    static const struct {
        uint32_t type;
        const char *name;
        uint32_t bs, ts;
        bool supported;
    } want[] = {
        { GGML_TYPE_F32, "F32", 1, 4, true },     { GGML_TYPE_F16, "F16", 1, 2, true },
        { GGML_TYPE_BF16, "BF16", 1, 2, true },   { GGML_TYPE_Q8_0, "Q8_0", 32, 34, true },
        { GGML_TYPE_Q4_0, "Q4_0", 32, 18, true }, { GGML_TYPE_Q4_K, "Q4_K", 256, 144, true },
        { GGML_TYPE_Q5_K, "Q5_K", 256, 176, true }, { GGML_TYPE_Q6_K, "Q6_K", 256, 210, true },
        { GGML_TYPE_Q8_K, "Q8_K", 256, 292, true }, { GGML_TYPE_Q4_1, "Q4_1", 32, 20, false },
        { GGML_TYPE_Q5_0, "Q5_0", 32, 22, false }, { GGML_TYPE_Q5_1, "Q5_1", 32, 24, false },
        { GGML_TYPE_Q8_1, "Q8_1", 32, 36, false }, { GGML_TYPE_Q2_K, "Q2_K", 256, 84, false },
        { GGML_TYPE_Q3_K, "Q3_K", 256, 110, false }, { GGML_TYPE_IQ4_NL, "IQ4_NL", 32, 18, false },
        { GGML_TYPE_IQ4_XS, "IQ4_XS", 256, 136, false }, { GGML_TYPE_IQ2_XXS, "IQ2_XXS", 256, 66, false },
        { GGML_TYPE_IQ3_S, "IQ3_S", 256, 110, false }, { GGML_TYPE_IQ1_M, "IQ1_M", 256, 56, false },
        { GGML_TYPE_TQ1_0, "TQ1_0", 256, 54, false }, { GGML_TYPE_MXFP4, "MXFP4", 32, 17, false },
        { GGML_TYPE_I8, "I8", 1, 1, false },      { GGML_TYPE_I32, "I32", 1, 4, false },
        { GGML_TYPE_F64, "F64", 1, 8, false },
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        const struct quant_type_info *ti = quant_type_info(want[i].type);
        assert_non_null(ti);
        assert_string_equal(ti->name, want[i].name);
        assert_int_equal(ti->block_size, want[i].bs);
        assert_int_equal(ti->type_size, want[i].ts);
        assert_int_equal(ti->supported, want[i].supported);
        assert_int_equal(quant_is_supported(want[i].type), want[i].supported);
    }
    /* numbers no type has (4 and 5 were Q4_2/Q4_3, 31..33 and 36..38
     * the removed repacked types) */
    static const uint32_t unknown[] = { 4, 5, 31, 32, 33, 36, 37, 38, 40, 41, 1000, UINT32_MAX };
    for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
        assert_null(quant_type_info(unknown[i]));
        assert_false(quant_is_supported(unknown[i]));
    }
}

static void test_row_size(void **state)
{
    (void)state;
    uint64_t b = 0;
    assert_true(quant_row_size(GGML_TYPE_Q4_K, 2048, &b));
    assert_int_equal(b, 8 * 144);
    assert_true(quant_row_size(GGML_TYPE_Q8_0, 96, &b));
    assert_int_equal(b, 3 * 34);
    assert_true(quant_row_size(GGML_TYPE_F16, 7, &b));
    assert_int_equal(b, 14);
    assert_true(quant_row_size(GGML_TYPE_Q6_K, 0, &b));
    assert_int_equal(b, 0);
    assert_false(quant_row_size(GGML_TYPE_Q4_K, 255, &b));   /* not whole blocks */
    assert_false(quant_row_size(GGML_TYPE_Q4_0, 33, &b));
    assert_false(quant_row_size(31, 32, &b));                /* unknown type */
    assert_false(quant_row_size(GGML_TYPE_F64, UINT64_MAX / 4, &b)); /* overflow */
    assert_true(quant_row_size(GGML_TYPE_Q2_K, 512, &b));    /* described only */
    assert_int_equal(b, 2 * 84);
}

/* ==================================================================== */
/* f16 and bf16                                                          */
/* ==================================================================== */

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The value of a half, computed from the IEEE definition in double. */
static double half_value(uint16_t h)
{
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void test_f16_exhaustive(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < 65536; i++) {
        const uint16_t h = (uint16_t)i;
        const float f = quant_f16_to_f32(h);
        const int e = (h >> 10) & 31, m = h & 1023;
        if (e == 31 && m != 0) {
            assert_true(isnan(f));
        } else if (e == 31) {
            assert_true(isinf(f));
            assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
        } else {
            assert_true((double)f == half_value(h));
            assert_int_equal(signbit(f) != 0, (h >> 15) != 0); /* -0 too */
        }
        /* every half, NaNs included, comes back bit for bit */
        assert_int_equal(quant_f32_to_f16(f), h);
    }
}

/* The nearest-even property, checked against the two neighbouring
 * halves: no half is closer, and a tie goes to the even mantissa. */
static void check_nearest_half(float f)
{
    const uint16_t h = quant_f32_to_f16(f);
    const double x = f, ax = fabs(x);
    if (ax >= 65520.0) {
        assert_int_equal(h & 0x7fff, 0x7c00);
        return;
    }
    assert_int_equal(h >> 15, signbit(f) ? 1 : 0);
    const uint16_t mag = h & 0x7fff;
    assert_true(mag < 0x7c00);
    const double err = fabs(half_value(mag) - ax);
    if (mag > 0)
        assert_true(err <= fabs(half_value((uint16_t)(mag - 1)) - ax));
    if (mag < 0x7bff)
        assert_true(err <= fabs(half_value((uint16_t)(mag + 1)) - ax));
    else /* above 65504 the next step would be 65536 */
        assert_true(err <= fabs(65536.0 - ax));
    if (mag > 0 && err == fabs(half_value((uint16_t)(mag - 1)) - ax))
        assert_int_equal(mag & 1, 0);
    if (mag < 0x7bff && err == fabs(half_value((uint16_t)(mag + 1)) - ax))
        assert_int_equal(mag & 1, 0);
}

static void test_f16_rounding(void **state)
{
    (void)state;
    static const struct { float f; uint16_t h; } cases[] = {
        { 0.0f, 0x0000 },
        { -0.0f, 0x8000 },
        { 1.0f, 0x3c00 },
        { -2.0f, 0xc000 },
        { 65504.0f, 0x7bff },              /* largest half */
        { 65519.99f, 0x7bff },             /* just below the tie with 65536 */
        { 65520.0f, 0x7c00 },              /* tie: odd 0x7bff loses, so inf */
        { 1e10f, 0x7c00 },
        { -1e10f, 0xfc00 },
        { 1.0f + 0x1p-11f, 0x3c00 },       /* tie between 1 and 1+2^-10: even */
        { 1.0f + 0x3p-11f, 0x3c02 },       /* tie between 0x3c01 and 0x3c02: even */
        { 1.0f + 0x1p-11f + 0x1p-20f, 0x3c01 }, /* just above the tie */
        { 0x1p-24f, 0x0001 },              /* smallest subnormal */
        { -0x1p-24f, 0x8001 },
        { 0x1p-25f, 0x0000 },              /* tie between 0 and 2^-24: even */
        { 0x1.000002p-25f, 0x0001 },       /* just above it */
        { 0x3p-25f, 0x0002 },              /* tie between 1 and 2 subnormal units */
        { 0x5p-25f, 0x0002 },              /* tie between 2 and 3: even */
        { 0x1p-26f, 0x0000 },
        { 1023.0f * 0x1p-24f, 0x03ff },    /* largest subnormal */
        { 1023.5f * 0x1p-24f, 0x0400 },    /* tie with the smallest normal: even */
        { 0x1p-14f, 0x0400 },              /* smallest normal */
        { 0x1.ffep-15f, 0x0400 },          /* rounds up out of the subnormals */
        { FLT_MIN, 0x0000 },
        { 0x1p-149f, 0x0000 },             /* float subnormal */
        { 3.14159265f, 0x4248 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        if (quant_f32_to_f16(cases[i].f) != cases[i].h)
            fail_msg("f32_to_f16(%a) = 0x%04x, want 0x%04x", (double)cases[i].f,
                     quant_f32_to_f16(cases[i].f), cases[i].h);
    }
    assert_int_equal(quant_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(quant_f32_to_f16(-INFINITY), 0xfc00);
    const uint16_t hn = quant_f32_to_f16(NAN);
    assert_int_equal(hn & 0x7c00, 0x7c00);
    assert_true((hn & 0x3ff) != 0);
    /* a float NaN whose payload sits below the kept bits stays NaN */
    const uint16_t hs = quant_f32_to_f16(float_of(0x7f800001));
    assert_int_equal(hs & 0x7c00, 0x7c00);
    assert_true((hs & 0x3ff) != 0);

    /* The nearest-even property over every float exponent that can reach
     * a half, plus random bit patterns. */
    uint64_t rng = 12345;
    for (uint32_t e = 90; e <= 145; e++) {
        for (int k = 0; k < 4000; k++) {
            const uint32_t man = (uint32_t)(test_rand_u64(&rng) & 0x7fffff);
            const uint32_t lowbits = (k & 3) == 0 ? (man & ~0x1fffu) | 0x1000 : man; /* ties */
            const uint32_t u = (e << 23) | lowbits | ((k & 4) ? 0x80000000u : 0);
            check_nearest_half(float_of(u));
        }
    }
#ifdef __FLT16_MANT_DIG__
    /* GCC's _Float16 conversion (libgcc, round to nearest even) as a
     * second, independent oracle. */
    for (int k = 0; k < 2000000; k++) {
        uint32_t u = (uint32_t)test_rand_u64(&rng);
        const float f = float_of(u);
        if (isnan(f))
            continue;
        const _Float16 hf = (_Float16)f;
        uint16_t want;
        memcpy(&want, &hf, 2);
        if (quant_f32_to_f16(f) != want)
            fail_msg("f32_to_f16(%a) = 0x%04x, _Float16 says 0x%04x", (double)f,
                     quant_f32_to_f16(f), want);
    }
#endif
}

static void test_bf16(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < 65536; i++) {
        const uint16_t h = (uint16_t)i;
        const float f = quant_bf16_to_f32(h);
        assert_int_equal(bits_of(f), (uint32_t)h << 16); /* bf16 is the top half */
        const uint16_t back = quant_f32_to_bf16(f);
        if (isnan(f)) { /* kept NaN, made quiet, sign and payload kept */
            assert_int_equal(back, h | 0x40);
        } else {
            assert_int_equal(back, h);
        }
    }
    static const struct { uint32_t f; uint16_t h; } cases[] = {
        { 0x3f808000, 0x3f80 }, /* 1 + 2^-8: tie, even stays */
        { 0x3f818000, 0x3f82 }, /* tie, odd rounds up */
        { 0x3f808001, 0x3f81 }, /* above the tie */
        { 0x3f807fff, 0x3f80 }, /* below it */
        { 0x7f7fffff, 0x7f80 }, /* FLT_MAX rounds to inf */
        { 0x7f7f7fff, 0x7f7f }, /* the largest that does not */
        { 0xff7fffff, 0xff80 },
        { 0x00008000, 0x0000 }, /* subnormal tie to even zero */
        { 0x00018000, 0x0002 }, /* subnormal tie up */
        { 0x7f800000, 0x7f80 }, /* inf */
        { 0x80000000, 0x8000 }, /* -0 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(quant_f32_to_bf16(float_of(cases[i].f)), cases[i].h);
    assert_int_equal(quant_f32_to_bf16(float_of(0x7f800001)), 0x7fc0); /* sNaN -> qNaN */
    assert_int_equal(quant_f32_to_bf16(float_of(0xffc12345)), 0xffc1);
}

/* ==================================================================== */
/* Hand-built blocks                                                     */
/* ==================================================================== */

static void test_q8_0_literal(void **state)
{
    (void)state;
    struct block_q8_0 b;
    memset(&b, 0, sizeof(b));
    b.d = 0x3800; /* 0.5 */
    b.qs[0] = 127;
    b.qs[3] = -100;
    b.qs[31] = -128;
    float y[32];
    quant_dequantize_row(GGML_TYPE_Q8_0, &b, y, 32);
    assert_true(y[0] == 63.5f);
    assert_true(y[3] == -50.0f);
    assert_true(y[31] == -64.0f);
    assert_true(y[1] == 0.0f);
    /* the layout: d at byte 0 (little-endian), qs from byte 2 */
    uint8_t raw[34] = { 0x00, 0x40 }; /* d = 2.0 */
    raw[2 + 5] = 0xfd;                /* qs[5] = -3 */
    quant_dequantize_row(GGML_TYPE_Q8_0, raw, y, 32);
    assert_true(y[5] == -6.0f);
}

static void test_q4_0_literal(void **state)
{
    (void)state;
    uint8_t raw[18] = { 0x00, 0x3c }; /* d = 1.0 */
    raw[2 + 0] = 0x9f;  /* element 0: 15 - 8 = 7; element 16: 9 - 8 = 1 */
    raw[2 + 15] = 0x08; /* element 15: 8 - 8 = 0; element 31: 0 - 8 = -8 */
    raw[2 + 7] = 0x3c;  /* element 7: 12 - 8 = 4; element 23: 3 - 8 = -5 */
    float y[32];
    quant_dequantize_row(GGML_TYPE_Q4_0, raw, y, 32);
    assert_true(y[0] == 7.0f);
    assert_true(y[16] == 1.0f);
    assert_true(y[15] == 0.0f);
    assert_true(y[31] == -8.0f);
    assert_true(y[7] == 4.0f);
    assert_true(y[23] == -5.0f);
    assert_true(y[1] == -8.0f); /* qs byte 0 -> both nibbles 0 */
}

/*
 * Where bit `b` (0..5) of the 6-bit scale (is_min = 0) or min (is_min = 1)
 * of sub-block j lives in a Q4_K/Q5_K scales[12]: *byte, *bit. Written
 * from the layout table in quant.h.
 */
static void k4_bit_position(int j, bool is_min, int b, int *byte, int *bit)
{
    if (j < 4) {
        *byte = is_min ? j + 4 : j;
        *bit = b;
    } else if (b < 4) {
        *byte = j + 4;
        *bit = is_min ? 4 + b : b;
    } else {
        *byte = is_min ? j : j - 4;
        *bit = 6 + (b - 4);
    }
}

static void k4_pack_scales(const int sc[8], const int mn[8], uint8_t out[12])
{
    memset(out, 0, 12);
    for (int j = 0; j < 8; j++) {
        for (int b = 0; b < 6; b++) {
            int byte, bit;
            k4_bit_position(j, false, b, &byte, &bit);
            out[byte] |= (uint8_t)(((sc[j] >> b) & 1) << bit);
            k4_bit_position(j, true, b, &byte, &bit);
            out[byte] |= (uint8_t)(((mn[j] >> b) & 1) << bit);
        }
    }
}

/* The table above covers each of the 96 bits exactly once. */
static void test_k4_scale_layout(void **state)
{
    (void)state;
    int used[12][8];
    memset(used, 0, sizeof(used));
    for (int j = 0; j < 8; j++) {
        for (int b = 0; b < 6; b++) {
            for (int is_min = 0; is_min < 2; is_min++) {
                int byte, bit;
                k4_bit_position(j, is_min, b, &byte, &bit);
                assert_in_range(byte, 0, 11);
                assert_in_range(bit, 0, 7);
                used[byte][bit]++;
            }
        }
    }
    for (int i = 0; i < 12; i++)
        for (int b = 0; b < 8; b++)
            assert_int_equal(used[i][b], 1);
    /* and the header's decoder reads back what the table wrote */
    uint64_t rng = 7;
    for (int trial = 0; trial < 200; trial++) {
        int sc[8], mn[8];
        for (int j = 0; j < 8; j++) {
            sc[j] = (int)(test_rand_u64(&rng) % 64);
            mn[j] = (int)(test_rand_u64(&rng) % 64);
        }
        uint8_t packed[12];
        k4_pack_scales(sc, mn, packed);
        for (int j = 0; j < 8; j++) {
            uint8_t s, m;
            quant_k4_scale_min(j, packed, &s, &m);
            assert_int_equal(s, sc[j]);
            assert_int_equal(m, mn[j]);
        }
    }
}

/* Literal bytes, decoded by hand:
 *   scales = 41 02 03 c4 | 05 06 07 48 | 21 43 65 87
 *   sub-block 0: sc = 0x41 & 63 = 1, m = 0x05 & 63 = 5
 *   sub-block 1: sc = 2, m = 6
 *   sub-block 4: sc = (0x21 & 15) | (0x41 >> 6) << 4 = 1 | 16 = 17,
 *                m = (0x21 >> 4) | (0x05 >> 6) << 4 = 2
 *   sub-block 5: sc = (0x43 & 15) | (0x02 >> 6) << 4 = 3, m = 4
 *   sub-block 7: sc = (0x87 & 15) | (0xc4 >> 6) << 4 = 7 | 48 = 55,
 *                m = (0x87 >> 4) | (0x48 >> 6) << 4 = 8 | 16 = 24
 * with d = 1, dmin = 0.5. */
static const uint8_t k4_literal_scales[12] = { 0x41, 0x02, 0x03, 0xc4, 0x05, 0x06,
                                               0x07, 0x48, 0x21, 0x43, 0x65, 0x87 };

static void test_q4_K_literal(void **state)
{
    (void)state;
    struct block_q4_K b;
    memset(&b, 0, sizeof(b));
    b.d = 0x3c00;
    b.dmin = 0x3800;
    memcpy(b.scales, k4_literal_scales, 12);
    b.qs[0] = 0x21;   /* element 0 (sub-block 0): q 1; element 32 (sub-block 1): q 2 */
    b.qs[64] = 0xf3;  /* element 128 (sub-block 4): q 3; element 160 (5): q 15 */
    b.qs[69] = 0x70;  /* element 165 (sub-block 5, high nibble): q 7 */
    b.qs[127] = 0xa0; /* element 255 (sub-block 7, high nibble): q 10 */
    float y[256];
    quant_dequantize_row(GGML_TYPE_Q4_K, &b, y, 256);
    assert_true(y[0] == 1 * 1 - 0.5f * 5);     /* -1.5 */
    assert_true(y[32] == 2 * 2 - 0.5f * 6);    /* 1 */
    assert_true(y[128] == 17 * 3 - 0.5f * 2);  /* 50 */
    assert_true(y[160] == 3 * 15 - 0.5f * 4);  /* 43 */
    assert_true(y[165] == 3 * 7 - 0.5f * 4);   /* 19 */
    assert_true(y[255] == 55 * 10 - 0.5f * 24); /* 538 */
    assert_true(y[1] == -2.5f);                 /* q 0: just the min */
    assert_true(y[224] == -12.0f);              /* sub-block 7, q 0 */
}

static void test_q5_K_literal(void **state)
{
    (void)state;
    struct block_q5_K b;
    memset(&b, 0, sizeof(b));
    b.d = 0x3c00;
    b.dmin = 0x3800;
    memcpy(b.scales, k4_literal_scales, 12);
    b.qs[0] = 0x21;
    b.qs[127] = 0xa0;
    b.qh[0] = 0x01;  /* bit 0 of qh[0]: element 0 gets +16 */
    b.qh[31] = 0x80; /* bit 7 of qh[31]: element 7*32 + 31 = 255 gets +16 */
    b.qh[3] = 0x04;  /* bit 2 of qh[3]: element 2*32 + 3 = 67 (sub-block 2) */
    float y[256];
    quant_dequantize_row(GGML_TYPE_Q5_K, &b, y, 256);
    assert_true(y[0] == 1 * 17 - 0.5f * 5);       /* 14.5 */
    assert_true(y[32] == 2 * 2 - 0.5f * 6);       /* no fifth bit */
    assert_true(y[255] == 55 * 26 - 0.5f * 24);   /* 1418 */
    assert_true(y[67] == 3 * 16 - 0.5f * 7);      /* sub-block 2: sc 3, m 7; q 0 + 16 */
}

static void test_q6_K_literal(void **state)
{
    (void)state;
    struct block_q6_K b;
    memset(&b, 0, sizeof(b));
    b.d = 0x3c00;
    b.ql[0] = 0x5a;   /* element 0 low 4 = 0xa; element 64 low 4 = 0x5 */
    b.ql[32] = 0x0f;  /* element 32 low 4 = 0xf; element 96 low 4 = 0 */
    b.qh[0] = 0xe4;   /* 11 10 01 00: high 2 bits of elements 96, 64, 32, 0 */
    b.scales[0] = -3;
    b.scales[2] = 10;
    b.scales[4] = 7;
    b.scales[6] = -1;
    b.ql[64 + 5] = 0x0c; /* second half: element 128 + 5, low 4 = 12, high 0 */
    b.scales[8] = 2;
    float y[256];
    quant_dequantize_row(GGML_TYPE_Q6_K, &b, y, 256);
    assert_true(y[0] == -3 * (10 - 32));         /* 66 */
    assert_true(y[32] == 10 * ((15 | 16) - 32));  /* -10 */
    assert_true(y[64] == 7 * ((5 | 32) - 32));    /* 35 */
    assert_true(y[96] == -1 * ((0 | 48) - 32));   /* -16 */
    assert_true(y[133] == 2 * (12 - 32));         /* -40 */
    assert_true(y[1] == -3 * -32);                /* all-zero bits: q - 32 = -32 */
}

/*
 * Random hand-built blocks: levels and scales chosen here, bytes placed
 * by this file's reading of the diagrams, expected values from the
 * formulas. d and dmin are powers of two, so every expected value is
 * exact in float and the comparison is exact.
 */
static void test_k_quants_built(void **state)
{
    (void)state;
    uint64_t rng = 99;
    float y[256];
    for (int trial = 0; trial < 50; trial++) {
        int sc[8], mn[8], q[256];
        for (int j = 0; j < 8; j++) {
            sc[j] = (int)(test_rand_u64(&rng) % 64);
            mn[j] = (int)(test_rand_u64(&rng) % 64);
        }
        for (int e = 0; e < 256; e++)
            q[e] = (int)(test_rand_u64(&rng) % 32);

        /* Q4_K: element e is in byte 32*(e/64) + e%32, high nibble when
         * e%64 >= 32 */
        struct block_q4_K b4;
        memset(&b4, 0, sizeof(b4));
        b4.d = 0x3400;    /* 0.25 */
        b4.dmin = 0x3000; /* 0.125 */
        k4_pack_scales(sc, mn, b4.scales);
        for (int e = 0; e < 256; e++) {
            const int byte = 32 * (e / 64) + e % 32;
            b4.qs[byte] |= (uint8_t)((q[e] & 15) << ((e % 64) >= 32 ? 4 : 0));
        }
        quant_dequantize_row(GGML_TYPE_Q4_K, &b4, y, 256);
        for (int e = 0; e < 256; e++) {
            const double want = 0.25 * sc[e / 32] * (q[e] & 15) - 0.125 * mn[e / 32];
            if ((double)y[e] != want)
                fail_msg("Q4_K element %d: %g, want %g", e, (double)y[e], want);
        }

        /* Q5_K: same, plus bit (e/32) of qh[e%32] for the fifth bit */
        struct block_q5_K b5;
        memset(&b5, 0, sizeof(b5));
        b5.d = 0x3400;
        b5.dmin = 0x3000;
        memcpy(b5.scales, b4.scales, 12);
        memcpy(b5.qs, b4.qs, sizeof(b5.qs));
        for (int e = 0; e < 256; e++)
            b5.qh[e % 32] |= (uint8_t)(((q[e] >> 4) & 1) << (e / 32));
        quant_dequantize_row(GGML_TYPE_Q5_K, &b5, y, 256);
        for (int e = 0; e < 256; e++) {
            const double want = 0.25 * sc[e / 32] * q[e] - 0.125 * mn[e / 32];
            if ((double)y[e] != want)
                fail_msg("Q5_K element %d: %g, want %g", e, (double)y[e], want);
        }

        /* Q6_K: element e = 128h + 32k + l */
        int q6[256], s6[16];
        for (int e = 0; e < 256; e++)
            q6[e] = (int)(test_rand_u64(&rng) % 64);
        for (int i = 0; i < 16; i++)
            s6[i] = (int)(test_rand_u64(&rng) % 256) - 128;
        struct block_q6_K b6;
        memset(&b6, 0, sizeof(b6));
        b6.d = 0x3400;
        for (int i = 0; i < 16; i++)
            b6.scales[i] = (int8_t)s6[i];
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            b6.ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((q6[e] & 15) << (k >= 2 ? 4 : 0));
            b6.qh[32 * h + l] |= (uint8_t)((q6[e] >> 4) << (2 * k));
        }
        quant_dequantize_row(GGML_TYPE_Q6_K, &b6, y, 256);
        for (int e = 0; e < 256; e++) {
            const double want = 0.25 * s6[e / 16] * (q6[e] - 32);
            if ((double)y[e] != want)
                fail_msg("Q6_K element %d: %g, want %g", e, (double)y[e], want);
        }
    }
}

/* ==================================================================== */
/* Round trips                                                           */
/* ==================================================================== */

enum dist { DIST_NORMAL, DIST_POSITIVE, DIST_NEGATIVE, DIST_OUTLIERS, DIST_COUNT };

static void fill(float *x, int64_t n, enum dist d, float scale, uint64_t *rng)
{
    for (int64_t i = 0; i < n; i++) {
        float v;
        switch (d) {
        case DIST_POSITIVE: v = 0.5f + test_rand_uniform(rng); break;
        case DIST_NEGATIVE: v = -0.5f - test_rand_uniform(rng); break;
        case DIST_OUTLIERS: v = test_rand_normal(rng) * (i % 61 == 7 ? 25.0f : 1.0f); break;
        default: v = test_rand_normal(rng); break;
        }
        x[i] = v * scale;
    }
}

/*
 * Bound on |dequantize(quantize(x)) - x| within one block:
 *   rel * (block's max |x|)  +  abs_levels * 2^-25.
 * rel: Q8_0 rounds to d/2 with d = amax/127, plus the f16 rounding of d
 * (2^-11 relative) times 127 levels; Q4_0 can be a full step d = amax/8
 * off at the far end of its -8..7 range; Q8_K has an f32 d. The K-quants
 * have no closed form (a least-squares fit with 6- or 8-bit scales): their
 * rel is about 1.5x the worst seen over these tests. abs_levels covers an
 * f16 scale that falls into the subnormals (|error| up to 2^-25) times the
 * largest level product it multiplies.
 */
struct bound {
    double rel, abs_levels;
    double rms; /* rms(err) / rms(x) on normal data of 1024+ elements,
                 * about 1.3x what these tests see: a quantizer that got
                 * worse on average fails here even within the max bound */
};

static struct bound type_bound(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_Q8_0: return (struct bound){ 0.5 / 127 + 0x1p-11, 127, 0.007 };
    case GGML_TYPE_Q4_0: return (struct bound){ 0.125 * (1 + 0x1p-10), 8, 0.115 };
    case GGML_TYPE_Q4_K: return (struct bound){ 0.12, 63 * 15 + 63, 0.09 };
    case GGML_TYPE_Q5_K: return (struct bound){ 0.065, 63 * 31 + 63, 0.045 };
    case GGML_TYPE_Q6_K: return (struct bound){ 0.025, 128 * 32, 0.023 };
    case GGML_TYPE_Q8_K: return (struct bound){ 0.5 / 127 * (1 + 1e-5), 0, 0.0095 };
    case GGML_TYPE_F16: return (struct bound){ 0x1p-11, 1, 0.0003 };
    case GGML_TYPE_BF16: return (struct bound){ 0x1p-8, 0, 0.0025 };
    default: return (struct bound){ 0, 0, 0 };
    }
}

static const uint32_t quantized_types[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
                                            GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K };
static const uint32_t all_types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16,
                                      GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
                                      GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K };
static const int n_blocks_cases[] = { 1, 2, 7, 33 };
static const float magnitudes[] = { 1e-3f, 1.0f, 1e3f };

/* Buffers big enough for 33 blocks of 256 of any type, plus a canary. */
#define MAX_N (34 * 256)
static float xs[MAX_N], ys[MAX_N];
static _Alignas(16) uint8_t qbuf[MAX_N * 4];

static void test_round_trip(void **state)
{
    (void)state;
    uint64_t rng = 2024;
    for (size_t ti = 0; ti < ARRAY_SIZE(all_types); ti++) {
        const uint32_t type = all_types[ti];
        const struct quant_type_info *info = quant_type_info(type);
        const struct bound bd = type_bound(type);
        /* block for the bound: F16/BF16/F32 per element, others per block */
        const int64_t bs = info->block_size;
        for (size_t ni = 0; ni < ARRAY_SIZE(n_blocks_cases); ni++) {
            const int64_t unit = bs == 1 ? 256 : bs;
            const int64_t n = n_blocks_cases[ni] * unit + (bs == 1 ? 3 : 0); /* odd for halves */
            for (size_t mi = 0; mi < ARRAY_SIZE(magnitudes); mi++) {
                for (int d = 0; d < DIST_COUNT; d++) {
                    /* outliers of 1e5 do not fit an f16 (max 65504) */
                    if (type == GGML_TYPE_F16 && magnitudes[mi] > 1 && d == DIST_OUTLIERS)
                        continue;
                    fill(xs, n, (enum dist)d, magnitudes[mi], &rng);
                    memset(qbuf, 0xa5, sizeof(qbuf));
                    quant_quantize_row(type, xs, qbuf, n);
                    uint64_t bytes;
                    assert_true(quant_row_size(type, (uint64_t)n, &bytes));
                    assert_int_equal(qbuf[bytes], 0xa5); /* wrote no further */
                    ys[n] = 12345.0f;
                    quant_dequantize_row(type, qbuf, ys, n);
                    assert_true(ys[n] == 12345.0f);
                    double se = 0, sx = 0;
                    for (int64_t b0 = 0; b0 < n; b0 += bs) {
                        double amax = 0, emax = 0;
                        for (int64_t j = b0; j < b0 + bs; j++) {
                            assert_true(isfinite(ys[j]));
                            const double e = (double)ys[j] - (double)xs[j];
                            amax = fmax(amax, fabs((double)xs[j]));
                            emax = fmax(emax, fabs(e));
                            se += e * e;
                            sx += (double)xs[j] * xs[j];
                        }
                        const double lim = bd.rel * amax + bd.abs_levels * 0x1p-25;
                        if (emax > lim)
                            fail_msg("%s n=%lld mag=%g dist=%d block %lld: max err %.4g > %.4g "
                                     "(amax %.4g)", info->name, (long long)n,
                                     (double)magnitudes[mi], d, (long long)(b0 / bs), emax, lim,
                                     amax);
                    }
                    if (d == DIST_NORMAL && magnitudes[mi] >= 1.0f && n >= 1024 && sqrt(se / sx) > bd.rms)
                        fail_msg("%s n=%lld: rms error %.4g of rms x, bound %.4g", info->name,
                                 (long long)n, sqrt(se / sx), bd.rms);
                    if (type == GGML_TYPE_F32)
                        assert_memory_equal(xs, ys, (size_t)n * sizeof(float));
                }
            }
        }
    }
}

/* Zeros quantize to blocks that decode to exact zeros (no 0/0). */
static void test_zeros(void **state)
{
    (void)state;
    memset(xs, 0, sizeof(float) * 512);
    for (size_t ti = 0; ti < ARRAY_SIZE(all_types); ti++) {
        memset(qbuf, 0xff, sizeof(qbuf));
        quant_quantize_row(all_types[ti], xs, qbuf, 512);
        for (int i = 0; i < 512; i++)
            ys[i] = NAN;
        quant_dequantize_row(all_types[ti], qbuf, ys, 512);
        for (int i = 0; i < 512; i++)
            if (ys[i] != 0.0f)
                fail_msg("%s: zero input decodes to %g at %d", quant_type_info(all_types[ti])->name,
                         (double)ys[i], i);
    }
    /* and a Q8_K block of zeros is all zero bytes, bsums included */
    quant_quantize_row(GGML_TYPE_Q8_K, xs, qbuf, 256);
    for (size_t i = 0; i < sizeof(struct block_q8_K); i++)
        assert_int_equal(qbuf[i], 0);
    /* one block of zeros next to a normal one stays zero */
    fill(xs + 256, 256, DIST_NORMAL, 1.0f, &(uint64_t){ 3 });
    quant_quantize_row(GGML_TYPE_Q4_K, xs, qbuf, 512);
    quant_dequantize_row(GGML_TYPE_Q4_K, qbuf, ys, 512);
    for (int i = 0; i < 256; i++)
        assert_true(ys[i] == 0.0f);
}

/* A constant block: exactly representable for every type with a scale. */
static void test_constant_block(void **state)
{
    (void)state;
    for (size_t ti = 0; ti < ARRAY_SIZE(quantized_types); ti++) {
        const uint32_t type = quantized_types[ti];
        for (int k = 0; k < 256; k++)
            xs[k] = -0.75f;
        quant_quantize_row(type, xs, qbuf, 256);
        quant_dequantize_row(type, qbuf, ys, 256);
        for (int k = 0; k < 256; k++)
            if (fabsf(ys[k] + 0.75f) > 0.75f * 0x1p-9f)
                fail_msg("%s: constant -0.75 decodes to %.9g", quant_type_info(type)->name,
                         (double)ys[k]);
    }
}

/* ==================================================================== */
/* quant_dot                                                             */
/* ==================================================================== */

static void test_dot(void **state)
{
    (void)state;
    uint64_t rng = 77;
    static float act[MAX_N];
    for (size_t ti = 0; ti < ARRAY_SIZE(all_types); ti++) {
        const uint32_t type = all_types[ti];
        const int64_t bs = quant_type_info(type)->block_size;
        const int64_t sizes_half[] = { 1, 255, 256, 257, 1000, 4099 };
        for (size_t ni = 0; ni < (bs == 1 ? ARRAY_SIZE(sizes_half) : ARRAY_SIZE(n_blocks_cases));
             ni++) {
            const int64_t n = bs == 1 ? sizes_half[ni] : n_blocks_cases[ni] * bs;
            for (size_t mi = 0; mi < ARRAY_SIZE(magnitudes); mi++) {
                fill(xs, n, DIST_NORMAL, magnitudes[mi], &rng);
                fill(act, n, DIST_OUTLIERS, 1.0f, &rng);
                quant_quantize_row(type, xs, qbuf, n);
                quant_dequantize_row(type, qbuf, ys, n);
                double ref = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)ys[i] * (double)act[i];
                    mag += fabs((double)ys[i] * (double)act[i]);
                }
                const double got = quant_dot(type, qbuf, act, n);
                /* relative to the sum of |terms|, so cancellation cannot
                 * make a correct result fail */
                if (fabs(got - ref) > 1e-5 * mag + 1e-30)
                    fail_msg("%s n=%lld: dot %.9g, reference %.9g (sum |terms| %.3g)",
                             quant_type_info(type)->name, (long long)n, got, ref, mag);
                /* it accumulates in double: off by at most the final rounding */
                assert_true(fabs(got - ref) <= fabs(ref) * 0x1p-24 + 1e-12 * mag);
            }
        }
    }
    /* A one-hot activation picks out single weights exactly. */
    fill(xs, 512, DIST_NORMAL, 1.0f, &rng);
    quant_quantize_row(GGML_TYPE_Q6_K, xs, qbuf, 512);
    quant_dequantize_row(GGML_TYPE_Q6_K, qbuf, ys, 512);
    memset(act, 0, 512 * sizeof(float));
    for (int i = 0; i < 512; i += 37) {
        act[i] = 1.0f;
        assert_true(quant_dot(GGML_TYPE_Q6_K, qbuf, act, 512) == ys[i]);
        act[i] = 0.0f;
    }
}

/* ==================================================================== */
/* Activation quantizers                                                 */
/* ==================================================================== */

static void test_q8_K_rule(void **state)
{
    (void)state;
    uint64_t rng = 5;
    struct block_q8_K blk[3];
    for (int trial = 0; trial < 200; trial++) {
        fill(xs, 768, (enum dist)(trial % DIST_COUNT), trial % 2 ? 1.0f : 1e-3f, &rng);
        /* make the largest |x| of block 1 negative and of block 2 positive */
        xs[256 + 17] = -1000.0f;
        xs[512 + 200] = 1000.0f;
        quant_quantize_row_q8_K(xs, blk, 768);
        for (int b = 0; b < 3; b++) {
            const float *x = xs + 256 * b;
            int arg = 0;
            for (int j = 1; j < 256; j++)
                if (fabsf(x[j]) > fabsf(x[arg]))
                    arg = j;
            const float iscale = -127.f / x[arg];
            for (int j = 0; j < 256; j++) {
                long q = lrintf(iscale * x[j]); /* default mode: nearest even */
                if (q > 127)
                    q = 127;
                assert_int_equal(blk[b].qs[j], q);
            }
            assert_int_equal(blk[b].qs[arg], -127); /* the signed max maps to -127 */
            assert_true(blk[b].d == 1 / iscale);
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int j = 0; j < 16; j++)
                    sum += blk[b].qs[16 * g + j];
                assert_int_equal(blk[b].bsums[g], sum);
            }
        }
        assert_true(blk[1].d > 0); /* negative max: positive d */
        assert_true(blk[2].d < 0);
    }
    /* The generic entry point gives the same bytes. */
    quant_quantize_row(GGML_TYPE_Q8_K, xs, qbuf, 768);
    assert_memory_equal(qbuf, blk, sizeof(blk));

    /* Ties go to even: with max = -127, iscale is exactly 1. */
    memset(xs, 0, 256 * sizeof(float));
    const float in[] = { -127.0f, 2.5f, 3.5f, -2.5f, 0.5f, 1.5f, -0.5f, 126.5f, 127.0f };
    const int8_t want[] = { -127, 2, 4, -2, 0, 2, 0, 126, 127 };
    memcpy(xs, in, sizeof(in));
    quant_quantize_row_q8_K(xs, blk, 256);
    assert_true(blk[0].d == 1.0f);
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        assert_int_equal(blk[0].qs[i], want[i]);
    assert_int_equal(blk[0].bsums[0], -127 + 2 + 4 - 2 + 0 + 2 + 0 + 126 + 127);
}

static void test_q8_0_act_vs_weight(void **state)
{
    (void)state;
    /* amax = 127: d = 1 exactly for both rules */
    memset(xs, 0, 32 * sizeof(float));
    const float in[] = { 127.0f, 2.5f, 3.5f, -2.5f, 0.5f, 1.5f, -0.5f, -126.5f };
    const int8_t want_act[] = { 127, 2, 4, -2, 0, 2, 0, -126 };   /* ties to even */
    const int8_t want_wgt[] = { 127, 3, 4, -3, 1, 2, -1, -127 };  /* ties away (roundf) */
    memcpy(xs, in, sizeof(in));
    struct block_q8_0 a, w;
    quant_quantize_row_q8_0_act(xs, &a, 32);
    quant_quantize_row(GGML_TYPE_Q8_0, xs, &w, 32);
    assert_int_equal(a.d, 0x3c00);
    assert_int_equal(w.d, 0x3c00);
    for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
        assert_int_equal(a.qs[i], want_act[i]);
        assert_int_equal(w.qs[i], want_wgt[i]);
    }

    /* Random blocks against the stated rule. */
    uint64_t rng = 11;
    struct block_q8_0 blk[8];
    for (int trial = 0; trial < 100; trial++) {
        fill(xs, 256, (enum dist)(trial % DIST_COUNT), trial % 3 ? 1.0f : 1e-3f, &rng);
        quant_quantize_row_q8_0_act(xs, blk, 256);
        for (int b = 0; b < 8; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(xs[32 * b + j]));
            assert_int_equal(blk[b].d, quant_f32_to_f16(amax / 127.f));
            const float id = 127.f / amax;
            for (int j = 0; j < 32; j++)
                assert_int_equal(blk[b].qs[j], lrintf(xs[32 * b + j] * id));
        }
    }
    /* zeros: d = 0, q = 0 */
    memset(xs, 0, 32 * sizeof(float));
    quant_quantize_row_q8_0_act(xs, blk, 32);
    assert_int_equal(blk[0].d, 0);
    for (int j = 0; j < 32; j++)
        assert_int_equal(blk[0].qs[j], 0);
}

/* The Q4_0 reference maps the signed max to level -8 (d = max / -8). */
static void test_q4_0_sign_rule(void **state)
{
    (void)state;
    for (int sgn = -1; sgn <= 1; sgn += 2) {
        for (int j = 0; j < 32; j++)
            xs[j] = (float)(j % 8) * 0.1f;
        xs[9] = 4.0f * (float)sgn;
        struct block_q4_0 b;
        quant_quantize_row(GGML_TYPE_Q4_0, xs, &b, 32);
        assert_int_equal(b.d, quant_f32_to_f16(4.0f * (float)sgn / -8));
        assert_int_equal(b.qs[9] & 15, 0); /* level 0 = -8 */
        quant_dequantize_row(GGML_TYPE_Q4_0, &b, ys, 32);
        assert_true(ys[9] == xs[9]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_row_size),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_q8_0_literal),
        cmocka_unit_test(test_q4_0_literal),
        cmocka_unit_test(test_k4_scale_layout),
        cmocka_unit_test(test_q4_K_literal),
        cmocka_unit_test(test_q5_K_literal),
        cmocka_unit_test(test_q6_K_literal),
        cmocka_unit_test(test_k_quants_built),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_zeros),
        cmocka_unit_test(test_constant_block),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_q8_K_rule),
        cmocka_unit_test(test_q8_0_act_vs_weight),
        cmocka_unit_test(test_q4_0_sign_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
