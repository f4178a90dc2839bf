/*
 * ops.c: reference implementations of the forward pass's operations.
 *
 * Strategy of the reference matmul: dequantize one weight row into
 * float scratch (exact: the dequantizers in quant.c are the spec), then
 * dot it with every token of the batch, accumulating in double. This is
 * the numerics of the fixtures' exact-math reference (float64 over
 * exactly dequantized weights) up to float rounding of activations.
 * NEEDSWORK: the speed issue replaces this with integer SIMD kernels
 * over quantized activations and a thread pool split by rows.
 */
#include "ops.h"
#include "quant.h"

#include <math.h>

void ops_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * (double)x[i];
    const float scale = (float)(1.0 / sqrt(ss / n + (double)eps));
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

void ops_rope_table(float *c, float *s, int pos, int n_rot, float base)
{
    for (int i = 0; i < n_rot / 2; i++) {
        /* theta_i = pos * base^(-2i/n_rot), in double so that long
         * positions keep their precision */
        double theta = (double)pos * pow((double)base, -2.0 * i / n_rot);
        c[i] = (float)cos(theta);
        s[i] = (float)sin(theta);
    }
}

void ops_rope(float *v, int n_heads, int head_dim, int n_rot, const float *c,
              const float *s)
{
    for (int h = 0; h < n_heads; h++) {
        float *p = v + (size_t)h * head_dim;
        for (int i = 0; i < n_rot / 2; i++) {
            const float x0 = p[2 * i], x1 = p[2 * i + 1];
            p[2 * i] = x0 * c[i] - x1 * s[i];
            p[2 * i + 1] = x0 * s[i] + x1 * c[i];
        }
    }
}

void ops_softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void ops_swiglu(float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void ops_matmul(const struct weight *w, const float *x, int n_tok, float *y,
                float *scratch)
{
    const int64_t cols = w->cols, rows = w->rows;
    for (int64_t r = 0; r < rows; r++) {
        const float *row;
        if (w->type == GGML_TYPE_F32) {
            row = (const float *)(const void *)(w->data + (uint64_t)r * w->row_bytes);
        } else {
            quant_dequantize_row(w->type, w->data + (uint64_t)r * w->row_bytes, scratch, cols);
            row = scratch;
        }
        for (int t = 0; t < n_tok; t++) {
            const float *xt = x + (size_t)t * cols;
            double acc = 0.0;
            for (int64_t c = 0; c < cols; c++)
                acc += (double)row[c] * (double)xt[c];
            y[(size_t)t * rows + r] = (float)acc;
        }
    }
}

void ops_embed(const struct weight *w, int32_t id, float *out)
{
    quant_dequantize_row(w->type, w->data + (uint64_t)id * w->row_bytes, out, w->cols);
}
