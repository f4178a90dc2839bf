/*
 * kv.h: a sequence's KV cache and the tokens it holds.
 *
 * Keys and values are float, laid out (layer, kv head, position,
 * head_dim): one head's keys (or values) for one layer are contiguous,
 * so attention streams them in order, every byte of every cache line
 * used, and the hardware prefetchers see one sequential stream. Keys
 * are stored after RoPE.
 * Truncating forgets positions from n on; nothing is moved.
 */
#ifndef SMOL_KV_H
#define SMOL_KV_H

#include "base.h"
#include "err.h"

struct kv_cache {
    int n_layer;
    int n_ctx;      /* capacity in positions */
    int n_head;     /* KV heads */
    int head_dim;
    int n;          /* positions filled */
    float *k;       /* (n_layer, n_head, n_ctx, head_dim) owned */
    float *v;       /* (n_layer, n_head, n_ctx, head_dim) owned */
    int32_t *tokens;/* (n_ctx) owned: the token at each position */
};

/* Allocates the cache; SMOL_ENOMEM with a sentence giving the size. */
int kv_init(struct kv_cache *kv, int n_layer, int n_ctx, int n_head, int head_dim,
            struct smol_err *err);
void kv_release(struct kv_cache *kv);

/* Key (value) of KV head h of layer l at position pos: head_dim
 * floats; the next position's follows it. */
static inline size_t kv_index(const struct kv_cache *kv, int l, int h, int pos)
{
    return (((size_t)l * kv->n_head + h) * kv->n_ctx + pos) * kv->head_dim;
}
static inline float *kv_k(const struct kv_cache *kv, int l, int h, int pos)
{
    return kv->k + kv_index(kv, l, h, pos);
}
static inline float *kv_v(const struct kv_cache *kv, int l, int h, int pos)
{
    return kv->v + kv_index(kv, l, h, pos);
}

/* Forgets positions >= n (0 <= n <= kv->n). */
void kv_truncate(struct kv_cache *kv, int n);

/* Length of the common prefix of the cached tokens and tokens[0..n). */
int kv_common_prefix(const struct kv_cache *kv, const int32_t *tokens, int n);

#endif
