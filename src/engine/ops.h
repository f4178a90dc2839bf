/*
 * ops.h: the numeric building blocks of the forward pass.
 *
 * Every hot loop of the model lives here (and in the kernel tables
 * beneath it), so forward.c reads as the math. Activations are float;
 * weights stay in their stored type and are read straight from the map.
 *
 * The matmuls run through a struct ops_env: the model's kernel table
 * and thread pool, plus the buffers a sequence owns for the quantized
 * activations. Work is split by output rows only, never along the
 * reduction, and each (row, token) pair is computed by the same kernel
 * instructions wherever it lands, so results are bitwise independent of
 * the thread count and of the batch split.
 */
#ifndef SMOL_OPS_H
#define SMOL_OPS_H

#include "base.h"
#include "kernels.h"
#include "model.h"
#include "pool.h"

/* ---- element-wise ops (single-threaded, cheap next to the matmuls) ---- */

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]; the mean is summed in
 * double, as llama.cpp does. out may alias x. */
void ops_rmsnorm(float *out, const float *x, const float *w, int n, float eps);

/* cos/sin tables for one position: c[i], s[i] for the rotary pair i of
 * n_rot/2, angle pos * base^(-2i / n_rot). */
void ops_rope_table(float *c, float *s, int pos, int n_rot, float base);

/* Rotates the adjacent pairs (2i, 2i+1), i < n_rot/2, of each of n_heads
 * vectors of head_dim in v (ggml's "normal" RoPE mode; GGUF converters
 * permute Q and K for it). */
void ops_rope(float *v, int n_heads, int head_dim, int n_rot, const float *c,
              const float *s);

/* out[0..cols) = row `id` of an embedding matrix, dequantized. */
void ops_embed(const struct weight *w, int32_t id, float *out);

/* ---- matmuls ---- */

/* What a sequence's matmuls run on. k and pool are borrowed from the
 * model; the activation buffers are owned (ops_env_init allocates them
 * once, so evaluating allocates nothing). */
struct ops_env {
    const struct kernels *k;
    struct pool *pool;
    int n_tok_max;                /* activation rows the buffers hold */
    int64_t cols_max;             /* widest matmul input */
    struct block_q8_0 *act_q8_0;  /* (n_tok_max, cols_max / 32) owned */
    struct block_q8_K *act_q8_K;  /* (n_tok_max, cols_max / 256) owned */
};

/* Sizes the buffers for up to n_tok_max rows of up to cols_max
 * columns. SMOL_ENOMEM (with a sentence) on failure; release with
 * ops_env_release either way. */
int ops_env_init(struct ops_env *e, const struct kernels *k, struct pool *pool, int n_tok_max,
                 int64_t cols_max, struct smol_err *err);
void ops_env_release(struct ops_env *e);

/* One matmul of a group sharing an input: y = W x, y (n_tok, w->rows). */
struct ops_mm {
    const struct weight *w;
    float *y;
};
#define OPS_MM_MAX 4

/* y_i[t][r] = sum_c W_i[r][c] * x[t][c] for the n_mm (<= OPS_MM_MAX)
 * matmuls of mm, which all read x (n_tok, cols): x is quantized once
 * per activation format, and all rows go to the pool as one job. Each
 * weight row block is loaded once per tile of tokens. n_tok <=
 * e->n_tok_max, cols <= e->cols_max; y must not overlap x. */
void ops_matmul(struct ops_env *e, const float *x, int n_tok, const struct ops_mm *mm, int n_mm);

/* The SwiGLU feed-forward's first half: g = silu(Wgate x) * (Wup x),
 * with u (n_tok, up->rows) as scratch. Each task computes the same rows
 * of both matrices and combines them while they are in cache. */
void ops_matmul_swiglu(struct ops_env *e, const float *x, int n_tok, const struct weight *gate,
                       const struct weight *up, float *g, float *u);

#endif
