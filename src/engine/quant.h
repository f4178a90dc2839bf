/*
 * quant.h: tensor element types and the scalar reference for each.
 *
 * This file is the specification: the SIMD kernels (kernels_*.c) are
 * tested against it. Types are numbered as in ggml/GGUF. Blocks are C
 * structs with static_asserts on their size (quant.c). Weights are
 * never dequantized into a copy: the model multiplies straight from the
 * mapped blocks through quant_dot.
 *
 * Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (and Q8_K, the
 * activation format of the K-quant kernels, which never appears as a
 * weight). Other known ggml types are recognised by name and size so a
 * file can be described, but have no dequantizer (quant_is_supported).
 */
#ifndef SMOL_QUANT_H
#define SMOL_QUANT_H

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
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_COUNT = 40
};

#define QK_K 256 /* elements per K-quant super-block */
#define QK8_0 32
#define QK4_0 32

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

/* Half-precision conversions (IEEE binary16, bfloat16; round to nearest
 * even on the way down). */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

/* Dequantizes n elements (a multiple of the block size) of a row. */
void quant_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Scalar reference dot product of a weight row (n elements of type) with
 * float activations x[0..n): sum_i w_i * x_i, accumulated in float per
 * block and summed in double across blocks. */
float quant_dot(uint32_t type, const void *w, const float *x, int64_t n);

/* Reference quantizer: n floats (a multiple of the block size) into
 * blocks of type. Round-to-nearest with the scale search llama.cpp's
 * reference quantizers use for K-quants (no importance matrix). */
void quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

#endif
