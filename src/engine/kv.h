/*
 * kv.h: a sequence's KV cache and the tokens it holds.
 *
 * Keys and values are float, laid out (layer, position, n_head_kv *
 * head_dim), so one position's K or V for one layer is contiguous and
 * attention reads positions in order. Keys are stored after RoPE.
 * Truncating forgets positions from n on; nothing is moved.
 */
#ifndef SMOL_KV_H
#define SMOL_KV_H

#include "base.h"
#include "err.h"

struct kv_cache {
    int n_layer;
    int n_ctx;      /* capacity in positions */
    int kv_dim;     /* n_head_kv * head_dim */
    int n;          /* positions filled */
    float *k;       /* (n_layer, n_ctx, kv_dim) owned */
    float *v;       /* (n_layer, n_ctx, kv_dim) owned */
    int32_t *tokens;/* (n_ctx) owned: the token at each position */
};

/* Allocates the cache; SMOL_ENOMEM with a sentence giving the size. */
int kv_init(struct kv_cache *kv, int n_layer, int n_ctx, int kv_dim, struct smol_err *err);
void kv_release(struct kv_cache *kv);

/* Row of layer l at position pos. */
static inline float *kv_k(const struct kv_cache *kv, int l, int pos)
{
    return kv->k + ((size_t)l * kv->n_ctx + pos) * kv->kv_dim;
}
static inline float *kv_v(const struct kv_cache *kv, int l, int pos)
{
    return kv->v + ((size_t)l * kv->n_ctx + pos) * kv->kv_dim;
}

/* Forgets positions >= n (0 <= n <= kv->n). */
void kv_truncate(struct kv_cache *kv, int n);

/* Length of the common prefix of the cached tokens and tokens[0..n). */
int kv_common_prefix(const struct kv_cache *kv, const int32_t *tokens, int n);

#endif
