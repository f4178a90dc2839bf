/*
 * ops.h: the numeric building blocks of the forward pass.
 *
 * Every hot loop of the model lives here (and in quant.c beneath it), so
 * the speed work can swap in SIMD kernels and a thread pool without
 * touching forward.c. Activations are float; weights stay in their
 * stored type and are read straight from the map.
 */
#ifndef SMOL_OPS_H
#define SMOL_OPS_H

#include "base.h"
#include "model.h"

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

/* In-place softmax of x[0..n) (max-subtracted). */
void ops_softmax(float *x, int n);

/* g[i] = silu(g[i]) * u[i]. */
void ops_swiglu(float *g, const float *u, int n);

/* y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tok: x is (n_tok, w->cols),
 * y is (n_tok, w->rows). Each weight row is read once for all tokens.
 * scratch holds w->cols floats. */
void ops_matmul(const struct weight *w, const float *x, int n_tok, float *y,
                float *scratch);

/* out[0..cols) = row `id` of an embedding matrix, dequantized. */
void ops_embed(const struct weight *w, int32_t id, float *out);

#endif
