/*
 * conversation.c: reusing a sequence's KV cache across turns.
 *
 * A chat re-renders the whole conversation every turn. The new prompt
 * shares a prefix with what the sequence already holds (everything up
 * to the previous answer), so only the rest needs evaluating: this is
 * what makes the second turn start at once. Editing or regenerating an
 * earlier turn shortens the common prefix, and the cache is truncated
 * to it.
 */
#include "seq.h"

int smol_seq_sync(struct smol_seq *s, const int32_t *tokens, int n, int *n_reused,
                  struct smol_err *err)
{
    if (n <= 0 || !tokens)
        return err_set(err, SMOL_EINVAL, "sync: the prompt is empty");
    if (n > s->kv.n_ctx)
        return err_set(err, SMOL_EFULL, "sync: the prompt has %d tokens but the context holds %d",
                       n, s->kv.n_ctx);
    int keep = kv_common_prefix(&s->kv, tokens, n);
    /* Re-evaluate at least the last token: its logits are what the next
     * sample is drawn from, and the cache keeps no logits per position. */
    if (keep == n)
        keep = n - 1;
    int rc = smol_seq_truncate(s, keep);
    if (rc)
        return err_set(err, rc, "sync: cannot truncate the cache to %d tokens", keep);
    rc = smol_eval(s, tokens + keep, n - keep, NULL, 0, err);
    if (rc)
        return rc;
    if (n_reused)
        *n_reused = keep;
    return n - keep;
}
