/* bench.c: timed prompt and decode runs, decode bytes (see bench.h). */
#include "bench.h"

#include "gguf.h"
#include "mem.h"

#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Greedy: the highest logit, the lowest id on ties (as the sampler). */
static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

int bench_run_once(struct smol_model *m, const struct bench_params *p, struct bench_run *out,
                   struct smol_err *err)
{
    if (!m || !p || !out || p->n_prompt < 1 || p->n_gen < 1 || p->n_prompt > (1 << 20) ||
        p->n_gen > (1 << 20))
        return err_set(err, SMOL_EINVAL, "bench: need a model and 1..1048576 prompt and "
                       "generated tokens");
    const int n_vocab = smol_n_vocab(m);
    int rc = SMOL_ENOMEM;
    int32_t *ids = mem_alloc_array((uint64_t)p->n_prompt, sizeof(int32_t));
    float *logits = mem_alloc_array((uint64_t)n_vocab, sizeof(float));
    struct smol_seq *s = NULL;
    if (!ids || !logits) {
        err_set(err, rc, "bench: out of memory");
        goto done;
    }
    /* splitmix64 ids: reproducible, and no structure a cache could use */
    uint64_t x = p->seed;
    for (int i = 0; i < p->n_prompt; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        ids[i] = (int32_t)((z ^ (z >> 31)) % (uint64_t)n_vocab);
    }
    s = smol_seq_new(m, p->n_prompt + p->n_gen, err);
    if (!s) {
        rc = err && err->code ? err->code : SMOL_ENOMEM;
        goto done;
    }
    double t0 = now_ms();
    rc = smol_eval(s, ids, p->n_prompt, logits, 0, err);
    if (rc)
        goto done;
    double t1 = now_ms();
    int32_t tok = argmax(logits, n_vocab);
    double t2 = now_ms();
    out->first_token = tok;
    for (int i = 0; i < p->n_gen && !rc; i++) {
        rc = smol_eval(s, &tok, 1, logits, 0, err);
        tok = argmax(logits, n_vocab);
    }
    double t3 = now_ms();
    if (rc)
        goto done;
    out->pp_ms = t1 - t0;
    out->ttft_ms = t2 - t0;
    out->tg_ms = t3 - t2;
    out->last_token = tok;
done:
    smol_seq_free(s);
    free(ids);
    free(logits);
    return rc;
}

int bench_decode_bytes(const char *path, uint64_t *bytes, struct smol_err *err)
{
    struct gguf_file *f = NULL;
    int rc = gguf_open(&f, path, err);
    if (rc)
        return rc;
    const bool tied = gguf_find_tensor(f, "output.weight") == NULL;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        if (!tied && gguf_str_eq(t->name, "token_embd.weight"))
            continue; /* only one row of it is read */
        sum += t->size;
    }
    gguf_close(f);
    *bytes = sum;
    return 0;
}
