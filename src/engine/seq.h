/*
 * seq.h: the inside of struct smol_seq: a conversation's KV cache and
 * the scratch the forward pass works in, allocated once at
 * smol_seq_new so that evaluating tokens allocates nothing.
 */
#ifndef SMOL_SEQ_H
#define SMOL_SEQ_H

#include "kv.h"
#include "model.h"
#include "ops.h"

/* Tokens evaluated per forward step (a prompt goes in chunks of this):
 * every weight is streamed from memory once per step, so a long prompt
 * costs one pass over the weights per 256 tokens. The scratch for the
 * 3B shape is about 40 MiB (the two n_ff buffers dominate). */
#define SEQ_BATCH 256

struct smol_seq {
    struct smol_model *m;  /* borrowed: must outlive the sequence */
    struct kv_cache kv;
    struct ops_env ops;    /* the model's kernels and pool; quantized activations */
    int n_batch;           /* tokens per step: min(SEQ_BATCH, n_ctx) */
    /* scratch, B = n_batch, each buffer 64-byte aligned */
    float *x;       /* (B, n_embd) residual stream */
    float *xb;      /* (B, n_embd) normed input / branch output */
    float *attn;    /* (B, n_head * head_dim) attention output */
    float *q;       /* (B, n_head * head_dim) */
    float *k;       /* (B, kv_dim) */
    float *v;       /* (B, kv_dim) */
    float *hb;      /* (B, n_ff) gate, then swiglu */
    float *hb2;     /* (B, n_ff) up */
    float *att;     /* (n_threads, att_stride) attention scores, a row per thread */
    size_t att_stride; /* n_ctx rounded up to whole cache lines */
    float *rope_c;  /* (B, n_rot/2) */
    float *rope_s;  /* (B, n_rot/2) */
    float *logits;  /* (n_vocab) after the last evaluated token */
    bool has_logits;
};

/* Evaluates tokens[0..n) (n <= s->n_batch) at the end of the cache. If
 * logits is not NULL, writes n_vocab logits for each token when all is
 * true, else for the last one only. Always updates s->logits. */
void forward_batch(struct smol_seq *s, const int32_t *tokens, int n, float *logits,
                   bool all);

#endif
