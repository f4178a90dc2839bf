/* bench.c: timed prompt and decode runs, decode bytes, memory bandwidth
 * (see bench.h). */
#include "bench.h"

#include "gguf.h"
#include "mem.h"

#include <pthread.h>
#include <sys/mman.h>
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

/* ================================================================ */
/* Memory bandwidth                                                  */
/* ================================================================ */

#define BW_MAX_THREADS 256
#define BW_MAX_PASSES 100

/* One thread's share of the buffer: words [begin, end). */
struct share {
    uint64_t *words;
    uint64_t begin, end;
    uint64_t sum;
};

/* Fills the share with word indices, so the total is known (n(n-1)/2)
 * and the pages are faulted in by the thread that will read them. */
static void *share_fill(void *arg)
{
    struct share *s = arg;
    for (uint64_t i = s->begin; i < s->end; i++)
        s->words[i] = i;
    return NULL;
}

/* The read: four independent sums so the adds do not serialise on one
 * register; the compiler vectorises this into wide loads. */
static void *share_sum(void *arg)
{
    struct share *s = arg;
    const uint64_t *w = s->words;
    uint64_t a = 0, b = 0, c = 0, d = 0, i = s->begin;
    for (; i + 4 <= s->end; i += 4) {
        a += w[i];
        b += w[i + 1];
        c += w[i + 2];
        d += w[i + 3];
    }
    for (; i < s->end; i++)
        a += w[i];
    s->sum = a + b + c + d;
    return NULL;
}

/* Runs fn over every share, one thread each (the caller runs share 0
 * itself); a share whose thread cannot start runs on the caller. */
static void run_shares(void *(*fn)(void *), struct share *sh, int n)
{
    pthread_t tid[BW_MAX_THREADS];
    bool started[BW_MAX_THREADS] = {false};
    for (int t = 1; t < n; t++)
        started[t] = pthread_create(&tid[t], NULL, fn, &sh[t]) == 0;
    fn(&sh[0]);
    for (int t = 1; t < n; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            fn(&sh[t]); /* could not start: do it here, slower but right */
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_measure_bandwidth(uint64_t bytes, int n_threads, int passes, struct bench_bandwidth *out,
                      struct smol_err *err)
{
    if (!out || n_threads < 1 || n_threads > BW_MAX_THREADS || passes < 1 || passes > BW_MAX_PASSES ||
        bytes < (1u << 20) || bytes > (1ull << 40))
        return err_set(err, SMOL_EINVAL, "bench: bandwidth: need 1..%d threads, 1..%d passes and "
                       "1 MiB..1 TiB (got %d, %d, %llu bytes)", BW_MAX_THREADS, BW_MAX_PASSES,
                       n_threads, passes, (unsigned long long)bytes);
    bytes -= bytes % 64;
    const uint64_t n_words = bytes / 8;
    uint64_t *words = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (words == MAP_FAILED)
        return err_set(err, SMOL_ENOMEM, "bench: bandwidth: cannot map a %llu-byte buffer",
                       (unsigned long long)bytes);
    /* contiguous shares, split on cache lines (8 words) */
    struct share sh[BW_MAX_THREADS];
    const uint64_t lines = n_words / 8;
    for (int t = 0; t < n_threads; t++)
        sh[t] = (struct share){words, lines * (uint64_t)t / (uint64_t)n_threads * 8,
                               lines * (uint64_t)(t + 1) / (uint64_t)n_threads * 8, 0};
    run_shares(share_fill, sh, n_threads);

    double secs[BW_MAX_PASSES];
    uint64_t sum = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = (now_ms() / 1e3);
        run_shares(share_sum, sh, n_threads);
        secs[p] = (now_ms() / 1e3) - t0;
        sum = 0;
        for (int t = 0; t < n_threads; t++)
            sum += sh[t].sum;
    }
    munmap(words, bytes);
    qsort(secs, (size_t)passes, sizeof(double), cmp_double);
    const double median = passes % 2 ? secs[passes / 2] : (secs[passes / 2 - 1] + secs[passes / 2]) / 2;
    out->best_gbs = secs[0] > 0 ? (double)bytes / secs[0] / 1e9 : 0;
    out->median_gbs = median > 0 ? (double)bytes / median / 1e9 : 0;
    out->checksum = sum;
    return 0;
}
