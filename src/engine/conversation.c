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

#include <string.h>

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

/* ------------------------------------------------------------------ */
/* Fitting a conversation into the context                             */
/* ------------------------------------------------------------------ */

/* Renders msgs[0..keep_sys) + msgs[from..n) and tokenizes the result
 * into *toks (grown as needed), control tokens parsed only in the
 * template's own text: a message holding "<|im_end|>" cannot end its
 * turn. Returns the token count or < 0. */
static int conversation_render(const struct smol_model *m, const struct smol_message *msgs,
                               int n, int keep_sys, int from, const struct smol_chat_opts *o,
                               struct smol_message *work, int32_t **toks, int *cap,
                               struct smol_err *err)
{
    int k = 0;
    for (int i = 0; i < keep_sys; i++)
        work[k++] = msgs[i];
    for (int i = from; i < n; i++)
        work[k++] = msgs[i];
    struct smol_span *spans = NULL;
    int n_spans = 0;
    char *text = smol_chat_render_spans(m, work, k, o, &spans, &n_spans, err);
    if (!text)
        return err && err->code ? err->code : SMOL_ENOMEM;
    const size_t len = strlen(text);
    int need = smol_tokenize_literal(m, text, len, SMOL_TOKENIZE_SPECIAL, spans, n_spans, *toks,
                                     *cap);
    if (need > *cap) {
        int32_t *t = realloc(*toks, (size_t)need * sizeof(int32_t));
        if (!t) {
            free(text);
            free(spans);
            return err_set(err, SMOL_ENOMEM, "chat: out of memory for %d tokens", need);
        }
        *toks = t;
        *cap = need;
        need = smol_tokenize_literal(m, text, len, SMOL_TOKENIZE_SPECIAL, spans, n_spans, *toks,
                                     *cap);
    }
    free(text);
    free(spans);
    if (need == SMOL_ERANGE)
        return err_set(err, need, "chat: a single word (or run of spaces) of the conversation is "
                       "longer than 1 MiB, more than the tokenizer takes");
    if (need < 0)
        return err_set(err, need, "chat: cannot tokenize the rendered conversation");
    return need;
}

int smol_chat_prompt(const struct smol_model *m, const struct smol_message *msgs, int n_msgs,
                     const struct smol_chat_opts *o, int n_ctx, int reserve, int32_t **tokens,
                     int *n_tokens, int *n_dropped, struct smol_err *err)
{
    *tokens = NULL;
    *n_tokens = 0;
    if (n_dropped)
        *n_dropped = 0;
    if (n_msgs <= 0)
        return err_set(err, SMOL_EINVAL, "chat: no messages to render");
    if (reserve < 0 || reserve >= n_ctx)
        return err_set(err, SMOL_EINVAL, "chat: reserve %d does not leave room in a context of %d",
                       reserve, n_ctx);
    struct smol_message *work = calloc((size_t)n_msgs, sizeof(*work));
    if (!work)
        return err_set(err, SMOL_ENOMEM, "chat: out of memory");
    const int keep_sys = msgs[0].role == SMOL_ROLE_SYSTEM ? 1 : 0;
    /* The current question: the last user message and what follows it. */
    int last_user = n_msgs - 1;
    while (last_user > keep_sys && msgs[last_user].role != SMOL_ROLE_USER)
        last_user--;
    int32_t *toks = NULL;
    int cap = 0, from = keep_sys, rc;
    for (;;) {
        rc = conversation_render(m, msgs, n_msgs, keep_sys, from, o, work, &toks, &cap, err);
        if (rc < 0)
            goto fail;
        if (rc + reserve <= n_ctx)
            break;
        if (from >= last_user) {
            rc = err_set(err, SMOL_EFULL,
                         "chat: the system prompt and the current message alone take %d tokens; "
                         "the context holds %d with %d kept for the answer",
                         rc, n_ctx, reserve);
            goto fail;
        }
        /* Drop the oldest turn: a user message and everything up to the
         * next user message. */
        do
            from++;
        while (from < last_user && msgs[from].role != SMOL_ROLE_USER);
    }
    free(work);
    *tokens = toks;
    *n_tokens = rc;
    if (n_dropped)
        *n_dropped = from - keep_sys;
    return 0;
fail:
    free(work);
    free(toks);
    return rc;
}
