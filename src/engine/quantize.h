/*
 * quantize.h: converting a model's weights to another type, the way
 * llama.cpp's llama-quantize does, and the per-tensor type recipe that
 * `smolbot quantize` and `smolbot synth` share.
 *
 * A scheme names what a file becomes. The mixes are llama.cpp's:
 *
 *   scheme   file_type  weight matrices
 *   F32          0      F32
 *   F16          1      F16
 *   BF16        32      BF16
 *   Q8_0         7      Q8_0
 *   Q4_0         2      Q4_0; the output matrix Q6_K
 *   Q6_K        18      Q6_K
 *   Q4_K_M      15      Q4_K; the output matrix Q6_K; attn_v and ffn_down
 *                       Q6_K on the layers use_more_bits(i, n) picks:
 *                       i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2
 *   Q5_K_M      17      the same with Q5_K
 *   Q4_K        15      Q4_K everywhere (llama-quantize --pure Q4_K_M)
 *   Q5_K        17      Q5_K everywhere (llama-quantize --pure Q5_K_M)
 *
 * "The output matrix" is output.weight, or token_embd.weight when the
 * embeddings are tied (no output.weight): llama.cpp quantizes a tied
 * embedding as the output it also is. Tensors that are not weight
 * matrices (names not ending in "weight", one dimension, "_norm.weight")
 * keep their type, as llama-quantize keeps them.
 *
 * Fallback: a matrix whose rows are not a multiple of the chosen type's
 * block gets another type. llama.cpp picks Q5_0 for Q4_K, Q5_1 for Q5_K
 * and Q8_0 for Q6_K; we have no Q5_0/Q5_1, so all three fall back to
 * Q8_0 (at least as precise as llama.cpp's choice), and to F16 when the
 * rows are not a multiple of 32 either (where llama.cpp refuses Q4_0 and
 * Q8_0 outright, we use F16 too). The output-matrix rule has its own
 * test first, as llama.cpp's does: rows that do not fit the scheme's
 * base type make it Q8_0.
 */
#ifndef SMOL_QUANTIZE_H
#define SMOL_QUANTIZE_H

#include "base.h"
#include "err.h"
#include "quant.h"

#define QUANTIZE_QNT_VERSION 2 /* general.quantization_version (ggml's GGML_QNT_VERSION) */

struct quantize_scheme {
    const char *name;   /* "Q4_K_M" */
    uint32_t file_type; /* general.file_type: llama.cpp's LLAMA_FTYPE_* */
    uint32_t base_type; /* enum ggml_type of most weight matrices */
    bool pure;          /* base_type for every matrix: no recipe */
};

/* The scheme called name (case-insensitive), NULL if none is. */
const struct quantize_scheme *quantize_scheme_find(const char *name);

/* The pure scheme of a weight type (F32, F16, BF16, Q8_0, Q4_0, Q4_K,
 * Q5_K, Q6_K), NULL for any other type. */
const struct quantize_scheme *quantize_scheme_pure(uint32_t type);

/* "F32, F16, ..., Q5_K": the names quantize_scheme_find knows. */
const char *quantize_scheme_names(void);

/* True when the scheme's base type is a block-quantized one (not F32,
 * F16 or BF16). */
bool quantize_scheme_is_quantized(const struct quantize_scheme *s);

/* llama.cpp's use_more_bits(i, n): the layers a _M mix gives Q6_K. */
bool quantize_use_more_bits(int i_layer, int n_layer);

/* True when llama-quantize would convert this tensor: the name ends in
 * "weight", it has two or more dimensions above 1, and it is not a
 * norm. ne has GGUF_MAX_DIMS (4) entries, unused ones 1. */
bool quantize_is_matrix(const char *name, const uint64_t *ne);

/* The type tensor `name` gets under scheme s (the recipe above), in a
 * model of n_layer blocks that has (or not) a separate output.weight.
 * src_type is what the tensor is now: non-matrices keep it. Sets
 * *fallback (may be NULL) when the row length forced a fallback type. */
uint32_t quantize_tensor_type(const struct quantize_scheme *s, const char *name,
                              const uint64_t *ne, uint32_t src_type, int n_layer,
                              bool has_output, bool *fallback);

/* llama.cpp's tensor order in a quantized file: tensors outside blocks
 * first, then by block number (blk.N.), each group by name (bytewise). */
int quantize_name_cmp(const char *a, const char *b);

/* What quantize_file did. */
struct quantize_stats {
    int n_tensors;
    int n_converted;                 /* tensors whose type changed */
    int n_fallback;                  /* matrices that got a fallback type */
    int n_layer;
    uint64_t bytes_in, bytes_out;    /* tensor data */
    uint32_t type_count[GGML_TYPE_COUNT]; /* output tensors per type */
};

/* Reads the GGUF at in and writes out with its weights converted to
 * scheme s, as llama-quantize does (see the top of this file): every
 * key of the input in order, then general.quantization_version and
 * general.file_type, moved last as ggml's gguf_set_* moves a key it
 * sets; tensors in quantize_name_cmp order.
 * Quantized inputs are dequantized first (llama-quantize's
 * --allow-requantize). Tensors are converted while they are written,
 * with n_threads threads (<= 0: 1), so memory stays at a few MiB beyond
 * the input's map. st may be NULL. Returns 0 or a negative status with
 * err set (the output file is then not created). */
int quantize_file(const char *in, const char *out, const struct quantize_scheme *s,
                  int n_threads, struct quantize_stats *st, struct smol_err *err);

#endif
