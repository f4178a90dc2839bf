/* sampler.c: penalties, truncation and a seeded draw (see sampler.h). */
#include "sampler.h"
#include "mem.h"

#include <math.h>
#include <string.h>
#include <time.h>

struct sampler_cand {
    float val;
    int32_t id;
};

struct sampler {
    struct smol_sampling p;
    int n_vocab;
    uint64_t rng[4];   /* xoshiro256** state */
    float *val;        /* (n_vocab) penalised logits */
    struct sampler_cand *cand; /* (n_vocab) candidates */
};

/* ---- RNG ---- */

static uint64_t sampler_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t sampler_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t sampler_next(uint64_t *s)
{
    const uint64_t result = sampler_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sampler_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 bits. */
static double sampler_uniform(uint64_t *s)
{
    return (double)(sampler_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- lifecycle ---- */

struct sampler *sampler_new(const struct smol_sampling *p, int n_vocab, struct smol_err *err)
{
    if (n_vocab <= 0)
        return err_set(err, SMOL_EINVAL, "sampler: vocabulary size %d", n_vocab), NULL;
    if (isnan(p->temperature) || isinf(p->temperature) || p->temperature > 100.0f)
        return err_set(err, SMOL_ERANGE, "sampler: temperature %g is not in 0..100", (double)p->temperature), NULL;
    if (isnan(p->top_p) || p->top_p < 0.0f)
        return err_set(err, SMOL_ERANGE, "sampler: top_p %g is not in 0..1", (double)p->top_p), NULL;
    if (isnan(p->min_p) || p->min_p > 1.0f)
        return err_set(err, SMOL_ERANGE, "sampler: min_p %g is not in 0..1", (double)p->min_p), NULL;
    if (isnan(p->repeat_penalty) || p->repeat_penalty <= 0.0f || p->repeat_penalty > 100.0f)
        return err_set(err, SMOL_ERANGE, "sampler: repeat penalty %g is not in (0, 100]",
                       (double)p->repeat_penalty), NULL;
    struct sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, SMOL_ENOMEM, "sampler: out of memory"), NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->val = mem_alloc_array((uint64_t)n_vocab, sizeof(float));
    s->cand = mem_alloc_array((uint64_t)n_vocab, sizeof(*s->cand));
    if (!s->val || !s->cand) {
        sampler_free(s);
        return err_set(err, SMOL_ENOMEM, "sampler: out of memory"), NULL;
    }
    uint64_t seed = p->seed;
    if (seed == SMOL_SEED_RANDOM) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    for (int i = 0; i < 4; i++)
        s->rng[i] = sampler_splitmix(&seed);
    return s;
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    free(s->val);
    free(s->cand);
    free(s);
}

/* ---- sampling ---- */

int32_t sampler_argmax(const float *logits, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

/* Candidates are (logit, id) pairs sorted by logit, descending, ties
 * by id so that the order never depends on the sort algorithm. */
static int sampler_cmp(const void *a, const void *b)
{
    const struct sampler_cand *x = a, *y = b;
    if (x->val != y->val)
        return x->val > y->val ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

/* Leaves the k best candidates of c[0..n) sorted at the front. With a
 * small k, a min-heap selection pass costs O(n log k) instead of a full
 * sort of the vocabulary. */
static void sampler_sort_top(struct sampler_cand *c, int n, int k)
{
    if (k >= n || k > 256) {
        qsort(c, (size_t)n, sizeof(*c), sampler_cmp);
        return;
    }
    /* c[0..k) is kept as a heap whose root is the worst kept candidate */
    for (int i = 0; i < n; i++) {
        int pos;
        if (i < k) {
            pos = i;
            c[pos] = c[i];
            while (pos > 0 && sampler_cmp(&c[(pos - 1) / 2], &c[pos]) < 0) {
                struct sampler_cand t = c[pos];
                c[pos] = c[(pos - 1) / 2];
                c[(pos - 1) / 2] = t;
                pos = (pos - 1) / 2;
            }
            continue;
        }
        if (sampler_cmp(&c[i], &c[0]) >= 0)
            continue; /* not better than the worst kept one */
        c[0] = c[i];
        pos = 0;
        for (;;) {
            int l = 2 * pos + 1, r = l + 1, w = pos;
            if (l < k && sampler_cmp(&c[l], &c[w]) > 0)
                w = l;
            if (r < k && sampler_cmp(&c[r], &c[w]) > 0)
                w = r;
            if (w == pos)
                break;
            struct sampler_cand t = c[pos];
            c[pos] = c[w];
            c[w] = t;
            pos = w;
        }
    }
    qsort(c, (size_t)k, sizeof(*c), sampler_cmp);
}

int32_t sampler_sample(struct sampler *s, const float *logits, const int32_t *recent,
                       int n_recent)
{
    const struct smol_sampling *p = &s->p;
    const int n = s->n_vocab;
    memcpy(s->val, logits, (size_t)n * sizeof(float));

    /* Repetition penalty (CTRL paper, as llama.cpp): divide positive
     * logits, multiply negative ones, once per distinct token. */
    if (p->repeat_penalty != 1.0f && recent && n_recent > 0) {
        int start = p->repeat_last_n > 0 ? MAX(0, n_recent - p->repeat_last_n) : 0;
        for (int i = start; i < n_recent; i++) {
            const int32_t t = recent[i];
            if (t < 0 || t >= n)
                continue;
            bool seen = false;
            for (int j = start; j < i && !seen; j++)
                seen = recent[j] == t;
            if (seen)
                continue;
            s->val[t] = s->val[t] > 0 ? s->val[t] / p->repeat_penalty
                                      : s->val[t] * p->repeat_penalty;
        }
    }
    if (p->temperature <= 0.0f)
        return sampler_argmax(s->val, n);

    /* Candidates sorted by logit. */
    struct sampler_cand *c = s->cand;
    int n_cand = n;
    for (int i = 0; i < n; i++) {
        c[i].val = s->val[i];
        c[i].id = i;
    }
    if (p->top_k > 0 && p->top_k < n_cand)
        n_cand = p->top_k;
    sampler_sort_top(c, n, n_cand);

    /* Softmax over the candidates at temperature 1 for the truncations
     * (llama.cpp applies temperature last in its default chain). */
    const float max = c[0].val;
    double sum = 0.0;
    for (int i = 0; i < n_cand; i++)
        sum += exp((double)c[i].val - max);
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n_cand; i++) {
            cum += exp((double)c[i].val - max) / sum;
            if (cum >= p->top_p) {
                n_cand = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        /* keep tokens whose probability is at least min_p times the top one */
        const double floor_logit = (double)max + log((double)p->min_p);
        int keep = 1;
        while (keep < n_cand && (double)c[keep].val >= floor_logit)
            keep++;
        n_cand = keep;
    }

    /* Temperature, then draw. */
    double total = 0.0;
    for (int i = 0; i < n_cand; i++)
        total += exp(((double)c[i].val - max) / p->temperature);
    double r = sampler_uniform(s->rng) * total;
    for (int i = 0; i < n_cand; i++) {
        r -= exp(((double)c[i].val - max) / p->temperature);
        if (r < 0.0)
            return c[i].id;
    }
    return c[n_cand - 1].id;
}
