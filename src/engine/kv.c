/* kv.c: the KV cache (see kv.h). */
#include "kv.h"
#include "mem.h"

#include <string.h>

int kv_init(struct kv_cache *kv, int n_layer, int n_ctx, int n_head, int head_dim,
            struct smol_err *err)
{
    memset(kv, 0, sizeof(*kv));
    uint64_t n_el;
    if (n_layer <= 0 || n_ctx <= 0 || n_head <= 0 || head_dim <= 0 ||
        !mem_mul((uint64_t)n_layer * (uint64_t)n_ctx, (uint64_t)n_head * (uint64_t)head_dim, &n_el))
        return err_set(err, SMOL_EINVAL, "kv: invalid cache shape %d x %d x %d x %d",
                       n_layer, n_head, n_ctx, head_dim);
    kv->k = mem_alloc_array(n_el, sizeof(float));
    kv->v = mem_alloc_array(n_el, sizeof(float));
    kv->tokens = mem_alloc_array((uint64_t)n_ctx, sizeof(int32_t));
    if (!kv->k || !kv->v || !kv->tokens) {
        kv_release(kv);
        return err_set(err, SMOL_ENOMEM, "kv: cannot allocate %.1f MiB for a %d-token cache",
                       2.0 * (double)n_el * sizeof(float) / (1 << 20), n_ctx);
    }
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->n_head = n_head;
    kv->head_dim = head_dim;
    return 0;
}

void kv_release(struct kv_cache *kv)
{
    free(kv->k);
    free(kv->v);
    free(kv->tokens);
    memset(kv, 0, sizeof(*kv));
}

void kv_truncate(struct kv_cache *kv, int n)
{
    CHECK(n >= 0 && n <= kv->n);
    kv->n = n;
}

int kv_common_prefix(const struct kv_cache *kv, const int32_t *tokens, int n)
{
    int i = 0;
    while (i < n && i < kv->n && kv->tokens[i] == tokens[i])
        i++;
    return i;
}
