/*
 * ops.c: the forward pass's operations: the element-wise ones, and the
 * matmuls over the thread pool through the kernel table.
 *
 * A matmul job (ops_matmul) runs in two steps:
 *   1. quantize: each activation row is converted once into every
 *      format the job's weight types ask for (the table's act_type:
 *      Q8_K, Q8_0, or float used as is), one pool task per token row;
 *   2. multiply: the output rows of every matrix are cut into chunks
 *      of 16..64 rows (whole cache lines of y, so no two threads write
 *      one line) sized to stay in L2 (256 KiB), one pool task each.
 *      A task takes the tokens k->nx at a time (their activations sit
 *      in L1) and runs the kernel over each of its rows for them:
 *      every weight block is fetched from memory once per job, from L2
 *      once per nx tokens, and unpacked once per nx tokens.
 * Splitting by rows only keeps each output's summation order fixed, so
 * the thread count never changes a bit of the result.
 */
#include "ops.h"
#include "mem.h"
#include "quant.h"

#include <math.h>
#include <string.h>

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

void ops_embed(const struct weight *w, int32_t id, float *out)
{
    quant_dequantize_row(w->type, w->data + (uint64_t)id * w->row_bytes, out, w->cols);
}

/* ------------------------------------------------------------------ */
/* Matmuls                                                             */
/* ------------------------------------------------------------------ */

/* A task's weight rows are sized to stay in L2 (half of a 512 KiB one)
 * while every token of the batch passes over them. */
#define OPS_TILE_BYTES (256 * 1024)

/* How far ahead of the kernel the weight stream is prefetched. Measured
 * on the 3B Q4_K model, two threads: 2 KiB gave decode +10% over no
 * prefetch, 4 KiB a little less, 12 KiB was slower than none. */
#define OPS_PREFETCH_BYTES 2048

/* 64-byte aligned allocation of n * size bytes (rounded up to whole
 * cache lines), NULL on overflow or exhaustion; release with free(). */
static void *ops_alloc_lines(uint64_t n, uint64_t size)
{
    uint64_t bytes;
    if (!mem_mul(n, size, &bytes) || !mem_align_up(bytes ? bytes : 1, 64, &bytes) ||
        bytes > SIZE_MAX)
        return NULL;
    return aligned_alloc(64, (size_t)bytes);
}

int ops_env_init(struct ops_env *e, const struct kernels *k, struct pool *pool, int n_tok_max,
                 int64_t cols_max, struct smol_err *err)
{
    memset(e, 0, sizeof(*e));
    e->k = k;
    e->pool = pool;
    e->n_tok_max = n_tok_max;
    e->cols_max = cols_max;
    /* room for any row width up to cols_max, whole blocks */
    const uint64_t nb0 = ((uint64_t)cols_max + QK8_0 - 1) / QK8_0;
    const uint64_t nbk = ((uint64_t)cols_max + QK_K - 1) / QK_K;
    e->act_q8_0 = ops_alloc_lines((uint64_t)n_tok_max * nb0, sizeof(struct block_q8_0));
    e->act_q8_K = ops_alloc_lines((uint64_t)n_tok_max * nbk, sizeof(struct block_q8_K));
    if (!e->act_q8_0 || !e->act_q8_K)
        return err_set(err, SMOL_ENOMEM,
                       "ops: out of memory for quantized activations (%d rows of %lld)",
                       n_tok_max, (long long)cols_max);
    return 0;
}

void ops_env_release(struct ops_env *e)
{
    free(e->act_q8_0);
    free(e->act_q8_K);
    e->act_q8_0 = NULL;
    e->act_q8_K = NULL;
}

/* One matrix of a job, with where its activations are and how its rows
 * are cut into tasks. */
struct mm_part {
    const struct weight *w;
    float *y;
    kern_dot_fn dot;
    const void *act;        /* row t at act + t * act_stride */
    size_t act_stride;
    int rows_per_chunk;     /* a multiple of 16 */
    int first_chunk;        /* its first task number in the job */
    int n_chunks;
};

struct mm_job {
    struct mm_part part[OPS_MM_MAX];
    int n_part;
    int n_tok;
    int nx;
    bool swiglu;            /* part 0 = gate, part 1 = up, chunked together */
    const struct kernels *k;
};

/* y[t][r] for rows r0..r1 and every token: nx tokens at a time
 * outside, the chunk's rows inside. The nx activation rows stay in L1
 * while the chunk's weight rows (sized for L2) stream past them, so per
 * weight block the kernel reads its 144-210 bytes from L2 instead of
 * nx activation blocks of 292. */
static void mm_rows(const struct mm_part *p, int r0, int r1, int n_tok, int nx)
{
    const int64_t cols = p->w->cols, rows = p->w->rows;
    const uint64_t rb = p->w->row_bytes;
    float out[KERN_NX_MAX];
    for (int t = 0; t < n_tok; t += nx) {
        const int m = MIN(nx, n_tok - t);
        const void *xt = (const char *)p->act + (size_t)t * p->act_stride;
        for (int r = r0; r < r1; r++) {
            const uint8_t *row = p->w->data + (uint64_t)r * rb;
            /* First pass over the rows: they come from memory. The
             * hardware prefetchers stop at 4 KiB page boundaries (the
             * map has small pages), so ask for the bytes one prefetch
             * distance ahead ourselves. Prefetches never fault, so
             * running past the matrix is harmless. */
            if (t == 0)
                for (uint64_t off = 0; off < rb; off += 64)
                    __builtin_prefetch(row + OPS_PREFETCH_BYTES + off, 0, 3);
            p->dot(cols, row, xt, p->act_stride, m, out);
            for (int j = 0; j < m; j++)
                p->y[(size_t)(t + j) * rows + r] = out[j];
        }
    }
}

static void mm_task(void *ctx, int task, int thread)
{
    (void)thread;
    const struct mm_job *job = ctx;
    int i = 0;
    while (task >= job->part[i].first_chunk + job->part[i].n_chunks)
        i++;
    const struct mm_part *p = &job->part[i];
    const int r0 = (task - p->first_chunk) * p->rows_per_chunk;
    const int r1 = (int)MIN((int64_t)r0 + p->rows_per_chunk, p->w->rows);
    mm_rows(p, r0, r1, job->n_tok, job->nx);
    if (job->swiglu) {
        /* the same rows of up, then g = silu(g) * u on them */
        const struct mm_part *u = &job->part[1];
        mm_rows(u, r0, r1, job->n_tok, job->nx);
        const size_t rows = (size_t)p->w->rows;
        for (int t = 0; t < job->n_tok; t++)
            job->k->swiglu(p->y + t * rows + r0, u->y + t * rows + r0, r1 - r0);
    }
}

/* Quantizing one token row per task. */
struct quant_job {
    const float *x;
    int64_t cols;
    uint32_t type;
    void *out;
    size_t stride;
    const struct kernels *k;
};

static void quant_task(void *ctx, int t, int thread)
{
    (void)thread;
    const struct quant_job *q = ctx;
    const float *xt = q->x + (size_t)t * q->cols;
    void *yt = (char *)q->out + (size_t)t * q->stride;
    if (q->type == GGML_TYPE_Q8_K)
        q->k->quantize_q8_K(xt, yt, q->cols);
    else
        q->k->quantize_q8_0(xt, yt, q->cols);
}

/* Activations of x in format act, quantized on first use within a job
 * (done[] remembers), with the row stride in *stride. */
static const void *mm_activations(struct ops_env *e, uint32_t act, const float *x, int n_tok,
                                  int64_t cols, bool done[2], size_t *stride)
{
    if (act == GGML_TYPE_F32) {
        *stride = (size_t)cols * sizeof(float);
        return x;
    }
    const bool k = act == GGML_TYPE_Q8_K;
    const struct quant_type_info *ti = quant_type_info(act);
    CHECK(cols % ti->block_size == 0);
    struct quant_job q = {
        .x = x, .cols = cols, .type = act, .k = e->k,
        .out = k ? (void *)e->act_q8_K : (void *)e->act_q8_0,
        .stride = (size_t)(cols / ti->block_size) * ti->type_size,
    };
    if (!done[k]) {
        pool_run(e->pool, n_tok, quant_task, &q);
        done[k] = true;
    }
    *stride = q.stride;
    return q.out;
}

/* Rows per task: as many as fit the tile budget, 16..64, a multiple of
 * 16 (whole cache lines of y). */
static int mm_rows_per_chunk(const struct weight *w)
{
    uint64_t r = OPS_TILE_BYTES / w->row_bytes / 16 * 16;
    return (int)(r < 16 ? 16 : r > 64 ? 64 : r);
}

/* Fills job for the matrices of mm and runs it. */
static void mm_run(struct ops_env *e, const float *x, int n_tok, const struct ops_mm *mm,
                   int n_mm, bool swiglu)
{
    CHECK(n_mm >= 1 && n_mm <= OPS_MM_MAX && n_tok >= 1 && n_tok <= e->n_tok_max);
    struct mm_job job = {.n_part = n_mm, .n_tok = n_tok, .nx = e->k->nx, .swiglu = swiglu, .k = e->k};
    bool done[2] = {false, false};
    int n_tasks = 0;
    for (int i = 0; i < n_mm; i++) {
        const struct weight *w = mm[i].w;
        struct mm_part *p = &job.part[i];
        CHECK(w->cols == mm[0].w->cols && w->cols <= e->cols_max);
        p->w = w;
        p->y = mm[i].y;
        p->dot = e->k->dot[w->type];
        CHECK(p->dot != NULL);
        p->act = mm_activations(e, e->k->act_type[w->type], x, n_tok, w->cols, done,
                                &p->act_stride);
        p->rows_per_chunk = mm_rows_per_chunk(w);
        p->first_chunk = n_tasks;
        p->n_chunks = (int)((w->rows + p->rows_per_chunk - 1) / p->rows_per_chunk);
        if (!swiglu || i == 0)
            n_tasks += p->n_chunks;
    }
    if (swiglu) {
        /* up follows gate's chunks; it gets no tasks of its own */
        job.part[1].rows_per_chunk = job.part[0].rows_per_chunk;
        job.part[1].n_chunks = 0;
    }
    pool_run(e->pool, n_tasks, mm_task, &job);
}

void ops_matmul(struct ops_env *e, const float *x, int n_tok, const struct ops_mm *mm, int n_mm)
{
    mm_run(e, x, n_tok, mm, n_mm, false);
}

void ops_matmul_swiglu(struct ops_env *e, const float *x, int n_tok, const struct weight *gate,
                       const struct weight *up, float *g, float *u)
{
    CHECK(gate->rows == up->rows);
    const struct ops_mm mm[2] = {{gate, g}, {up, u}};
    mm_run(e, x, n_tok, mm, 2, true);
}
