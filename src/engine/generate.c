/*
 * generate.c: the generation loop: evaluate the prompt as a batch, then
 * sample, report the token's complete UTF-8 text, evaluate it, until an
 * end-of-generation token, max_tokens, a full context or the caller
 * says stop.
 */
#include "seq.h"
#include "sampler.h"

#include <string.h>
#include <time.h>

static double generate_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void smol_sampling_default(struct smol_sampling *p)
{
    p->temperature = 0.6f;
    p->top_k = 0;
    p->top_p = 0.95f;
    p->min_p = 0.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = SMOL_SEED_RANDOM;
}

int smol_generate(struct smol_seq *s, const int32_t *prompt, int n_prompt,
                  const struct smol_gen_params *p, smol_piece_fn on_piece, void *user,
                  struct smol_gen_stats *stats, struct smol_err *err)
{
    struct smol_gen_stats st = {0};
    const double t0 = generate_now_ms();
    int rc = smol_eval(s, prompt, n_prompt, NULL, 0, err);
    if (rc)
        return rc;
    st.n_prompt = n_prompt;
    const double t_prompt = generate_now_ms();
    st.prompt_ms = t_prompt - t0;
    if (!s->has_logits)
        return err_set(err, SMOL_EINVAL, "generate: nothing to continue from (empty prompt and sequence)");

    struct sampler *smp = sampler_new(&p->sampling, s->m->hp.n_vocab, err);
    if (!smp)
        return err ? err->code : SMOL_EINVAL;
    struct tokenizer_stream ts;
    tokenizer_stream_init(&ts);
    char piece[256];
    double t_first = 0.0;

    for (;;) {
        const int32_t tok = sampler_sample(smp, s->logits, s->kv.tokens, s->kv.n);
        if (st.n_gen == 0) {
            t_first = generate_now_ms();
            st.ttft_ms = t_first - t0;
        }
        if (!p->ignore_eos && tokenizer_is_eog(s->m->tok, tok)) {
            st.stop = SMOL_STOP_EOG;
            break;
        }
        st.n_gen++;
        int n = tokenizer_stream_push(s->m->tok, &ts, tok, piece, sizeof(piece));
        if (n < 0)
            n = 0; /* a token longer than the buffer: NEEDSWORK, none exists in SmolLM3 */
        if (on_piece && on_piece(user, tok, piece, (size_t)n)) {
            st.stop = SMOL_STOP_CALLER;
            break;
        }
        if (p->max_tokens > 0 && st.n_gen >= p->max_tokens) {
            /* the last token is reported, not evaluated: a follow-up
             * turn evaluates it with its next input */
            st.stop = SMOL_STOP_MAX_TOKENS;
            break;
        }
        if (s->kv.n >= s->kv.n_ctx) {
            st.stop = SMOL_STOP_CONTEXT;
            break;
        }
        rc = smol_eval(s, &tok, 1, NULL, 0, err);
        if (rc) {
            sampler_free(smp);
            return rc;
        }
    }
    if (on_piece) {
        int n = tokenizer_stream_flush(&ts, piece, sizeof(piece));
        if (n > 0)
            on_piece(user, -1, piece, (size_t)n);
    }
    st.gen_ms = st.n_gen > 0 ? generate_now_ms() - t_first : 0.0;
    sampler_free(smp);
    if (stats)
        *stats = st;
    return st.n_gen;
}
