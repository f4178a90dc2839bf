/*
 * forward.c: the SmolLM3 forward pass, and the sequence that holds its
 * state.
 *
 * One block, for each token t of the batch at position p:
 *   h      = rmsnorm(x) * attn_norm
 *   q,k,v  = Wq h, Wk h, Wv h                  (k, v appended to the cache)
 *   q,k    = rope(q, p), rope(k, p)            (skipped on NoPE layers)
 *   a_head = sum_j softmax_j(q_head . k_j / sqrt(d)) v_j,  j <= p
 *            (query head h reads KV head h / (n_head / n_head_kv))
 *   x     += Wo a
 *   h      = rmsnorm(x) * ffn_norm
 *   x     += Wdown (silu(Wgate h) * Wup h)
 * and at the end: logits = Wout (rmsnorm(x) * output_norm), with Wout
 * the token embedding when the model ties them.
 *
 * Threads: the matmuls split their output rows over the model's pool
 * (ops.c); attention splits by (KV head, token), each task with its own
 * row of score scratch. The norms, RoPE and residual adds are cheap and
 * stay on the calling thread.
 */
#include "seq.h"
#include "mem.h"
#include "ops.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The forward pass                                                    */
/* ------------------------------------------------------------------ */

/* Causal attention of the batch's queries over the cache, for layer l.
 * Positions p0..p0+n-1 are already stored in the cache. One task per
 * (KV head, token, slice of the query heads that read that KV head),
 * head-major: a task's query heads share their keys and values, so
 * those come from memory once and from cache for the other heads, and
 * consecutive tasks read the same head. A slice is the whole group
 * unless that leaves fewer tasks than threads. */
struct attn_job {
    struct smol_seq *s;
    int l, p0, n;
    int per_task;           /* query heads per task: group, or less */
};

static void forward_attention_task(void *ctx, int task, int thread)
{
    const struct attn_job *job = ctx;
    struct smol_seq *s = job->s;
    const struct kernels *kt = s->ops.k;
    const struct hparams *hp = &s->m->hp;
    const int hd = hp->head_dim, q_dim = hp->n_head * hd;
    const int group = hp->n_head / hp->n_head_kv;
    const int slices = group / job->per_task;
    const float scale = 1.0f / sqrtf((float)hd);
    const int kvh = task / (job->n * slices), rest = task % (job->n * slices);
    const int t = rest / slices, h0 = kvh * group + rest % slices * job->per_task;
    const int n_pos = job->p0 + t + 1; /* causal: positions 0..p0+t */
    const float *k = kv_k(&s->kv, job->l, kvh, 0), *v = kv_v(&s->kv, job->l, kvh, 0);
    float *att = s->att + (size_t)thread * s->att_stride;
    for (int h = h0; h < h0 + job->per_task; h++) {
        const size_t off = (size_t)t * q_dim + (size_t)h * hd;
        kt->attn_scores(att, s->q + off, k, (size_t)hd, n_pos, hd, scale);
        kt->softmax(att, n_pos);
        kt->attn_mix(s->attn + off, att, v, (size_t)hd, n_pos, hd);
    }
}

static void forward_attention(struct smol_seq *s, int l, int p0, int n)
{
    const struct hparams *hp = &s->m->hp;
    const int group = hp->n_head / hp->n_head_kv;
    int per_task = group;
    while (per_task > 1 && per_task % 2 == 0 &&
           hp->n_head_kv * n * (group / per_task) < pool_n_threads(s->ops.pool))
        per_task /= 2;
    struct attn_job job = {s, l, p0, n, per_task};
    pool_run(s->ops.pool, hp->n_head_kv * n * (group / per_task), forward_attention_task, &job);
}

void forward_batch(struct smol_seq *s, const int32_t *tokens, int n, float *logits, bool all)
{
    const struct smol_model *m = s->m;
    const struct hparams *hp = &m->hp;
    const int d = hp->n_embd, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    const int half = hp->n_rot / 2;
    const int p0 = s->kv.n;
    CHECK(n > 0 && n <= s->n_batch && p0 + n <= s->kv.n_ctx);

    for (int t = 0; t < n; t++) {
        ops_embed(&m->tok_embd, tokens[t], s->x + (size_t)t * d);
        ops_rope_table(s->rope_c + (size_t)t * half, s->rope_s + (size_t)t * half, p0 + t,
                       hp->n_rot, hp->rope_base);
        s->kv.tokens[p0 + t] = tokens[t];
    }

    for (int l = 0; l < hp->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        /* attention: q, k and v share their input, so one job */
        for (int t = 0; t < n; t++)
            ops_rmsnorm(s->xb + (size_t)t * d, s->x + (size_t)t * d, L->attn_norm, d, hp->rms_eps);
        const struct ops_mm qkv[3] = {{&L->wq, s->q}, {&L->wk, s->k}, {&L->wv, s->v}};
        ops_matmul(&s->ops, s->xb, n, qkv, 3);
        for (int t = 0; t < n; t++) {
            float *k = s->k + (size_t)t * kv_dim;
            if (L->use_rope) {
                const float *c = s->rope_c + (size_t)t * half, *sn = s->rope_s + (size_t)t * half;
                ops_rope(s->q + (size_t)t * q_dim, hp->n_head, hd, hp->n_rot, c, sn);
                ops_rope(k, hp->n_head_kv, hd, hp->n_rot, c, sn);
            }
            const float *v = s->v + (size_t)t * kv_dim;
            for (int h = 0; h < hp->n_head_kv; h++) {
                memcpy(kv_k(&s->kv, l, h, p0 + t), k + (size_t)h * hd, (size_t)hd * sizeof(float));
                memcpy(kv_v(&s->kv, l, h, p0 + t), v + (size_t)h * hd, (size_t)hd * sizeof(float));
            }
        }
        forward_attention(s, l, p0, n);
        const struct ops_mm wo = {&L->wo, s->xb};
        ops_matmul(&s->ops, s->attn, n, &wo, 1);
        for (size_t i = 0; i < (size_t)n * d; i++)
            s->x[i] += s->xb[i];

        /* feed-forward: hb = silu(Wgate h) * Wup h, then Wdown hb */
        for (int t = 0; t < n; t++)
            ops_rmsnorm(s->xb + (size_t)t * d, s->x + (size_t)t * d, L->ffn_norm, d, hp->rms_eps);
        ops_matmul_swiglu(&s->ops, s->xb, n, &L->w_gate, &L->w_up, s->hb, s->hb2);
        const struct ops_mm down = {&L->w_down, s->xb};
        ops_matmul(&s->ops, s->hb, n, &down, 1);
        for (size_t i = 0; i < (size_t)n * d; i++)
            s->x[i] += s->xb[i];
    }
    s->kv.n = p0 + n;

    /* Output: every row when asked for all logits, else only the last. */
    const int first = all ? 0 : n - 1;
    for (int t = first; t < n; t++)
        ops_rmsnorm(s->xb + (size_t)t * d, s->x + (size_t)t * d, m->output_norm, d, hp->rms_eps);
    if (all && logits) {
        const struct ops_mm out = {&m->output, logits};
        ops_matmul(&s->ops, s->xb, n, &out, 1);
        memcpy(s->logits, logits + (size_t)(n - 1) * hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
    } else {
        const struct ops_mm out = {&m->output, s->logits};
        ops_matmul(&s->ops, s->xb + (size_t)(n - 1) * d, 1, &out, 1);
        if (logits)
            memcpy(logits, s->logits, (size_t)hp->n_vocab * sizeof(float));
    }
    s->has_logits = true;
}

/* ------------------------------------------------------------------ */
/* Sequences                                                           */
/* ------------------------------------------------------------------ */

/* 64-byte aligned floats (whole cache lines: threads write disjoint
 * lines of the matmul outputs), NULL on overflow or exhaustion. */
static float *seq_alloc_floats(uint64_t n)
{
    uint64_t bytes;
    if (!mem_mul(n ? n : 1, sizeof(float), &bytes) || !mem_align_up(bytes, 64, &bytes) ||
        bytes > SIZE_MAX)
        return NULL;
    return aligned_alloc(64, (size_t)bytes);
}

struct smol_seq *smol_seq_new(struct smol_model *m, int n_ctx, struct smol_err *err)
{
    const struct hparams *hp = &m->hp;
    if (m->vocab_only)
        return err_set(err, SMOL_EINVAL, "seq: the model was opened for its vocabulary only"), NULL;
    if (n_ctx < 0)
        return err_set(err, SMOL_EINVAL, "seq: context size %d is negative", n_ctx), NULL;
    if (n_ctx == 0)
        n_ctx = MIN(hp->n_ctx_train, 4096);
    if (n_ctx > (1 << 20))
        return err_set(err, SMOL_ERANGE, "seq: context size %d exceeds 1048576", n_ctx), NULL;
    struct smol_seq *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, SMOL_ENOMEM, "seq: out of memory"), NULL;
    s->m = m;
    s->n_batch = MIN(SEQ_BATCH, n_ctx);
    const uint64_t B = (uint64_t)s->n_batch;
    const uint64_t q_dim = (uint64_t)hp->n_head * hp->head_dim;
    const uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    const uint64_t max_cols = MAX(MAX((uint64_t)hp->n_embd, q_dim), (uint64_t)hp->n_ff);
    const int n_threads = pool_n_threads(m->pool);
    if (kv_init(&s->kv, hp->n_layer, n_ctx, hp->n_head_kv, hp->head_dim, err) != 0 ||
        ops_env_init(&s->ops, m->kern, m->pool, s->n_batch, (int64_t)max_cols, err) != 0)
        goto fail;
    s->att_stride = ((size_t)n_ctx + 15) / 16 * 16;
    s->x = seq_alloc_floats(B * hp->n_embd);
    s->xb = seq_alloc_floats(B * hp->n_embd);
    s->attn = seq_alloc_floats(B * q_dim);
    s->q = seq_alloc_floats(B * q_dim);
    s->k = seq_alloc_floats(B * kv_dim);
    s->v = seq_alloc_floats(B * kv_dim);
    s->hb = seq_alloc_floats(B * hp->n_ff);
    s->hb2 = seq_alloc_floats(B * hp->n_ff);
    s->att = seq_alloc_floats((uint64_t)n_threads * s->att_stride);
    s->rope_c = seq_alloc_floats(B * (hp->n_rot / 2 + 1));
    s->rope_s = seq_alloc_floats(B * (hp->n_rot / 2 + 1));
    s->logits = seq_alloc_floats((uint64_t)hp->n_vocab);
    if (!s->x || !s->xb || !s->attn || !s->q || !s->k || !s->v || !s->hb || !s->hb2 ||
        !s->att || !s->rope_c || !s->rope_s || !s->logits) {
        err_set(err, SMOL_ENOMEM, "seq: out of memory for scratch buffers");
        goto fail;
    }
    return s;
fail:
    smol_seq_free(s);
    return NULL;
}

void smol_seq_free(struct smol_seq *s)
{
    if (!s)
        return;
    kv_release(&s->kv);
    ops_env_release(&s->ops);
    free(s->x);
    free(s->xb);
    free(s->attn);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->hb);
    free(s->hb2);
    free(s->att);
    free(s->rope_c);
    free(s->rope_s);
    free(s->logits);
    free(s);
}

int smol_seq_len(const struct smol_seq *s)
{
    return s->kv.n;
}

int smol_seq_n_ctx(const struct smol_seq *s)
{
    return s->kv.n_ctx;
}

const int32_t *smol_seq_tokens(const struct smol_seq *s)
{
    return s->kv.tokens;
}

int smol_seq_truncate(struct smol_seq *s, int n)
{
    if (n < 0 || n > s->kv.n)
        return SMOL_EINVAL;
    if (n < s->kv.n)
        s->has_logits = false; /* the logits belonged to a forgotten token */
    kv_truncate(&s->kv, n);
    return 0;
}

const float *smol_seq_logits(const struct smol_seq *s)
{
    return s->has_logits ? s->logits : NULL;
}

int smol_eval(struct smol_seq *s, const int32_t *tokens, int n, float *logits, int flags,
              struct smol_err *err)
{
    const int n_vocab = s->m->hp.n_vocab;
    if (n < 0 || (n > 0 && !tokens))
        return err_set(err, SMOL_EINVAL, "eval: invalid token count %d", n);
    if (n == 0)
        return 0;
    if (n > s->kv.n_ctx - s->kv.n)
        return err_set(err, SMOL_EFULL,
                       "eval: %d tokens do not fit the context (%d of %d positions used)",
                       n, s->kv.n, s->kv.n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return err_set(err, SMOL_EINVAL, "eval: token %d at index %d is outside the vocabulary 0..%d",
                           tokens[i], i, n_vocab - 1);
    const bool all = (flags & SMOL_EVAL_ALL_LOGITS) != 0;
    for (int off = 0; off < n; off += s->n_batch) {
        const int chunk = MIN(s->n_batch, n - off);
        float *out = NULL;
        if (logits && all)
            out = logits + (size_t)off * n_vocab;
        else if (logits && off + chunk == n)
            out = logits;
        forward_batch(s, tokens + off, chunk, out, all);
    }
    return 0;
}
