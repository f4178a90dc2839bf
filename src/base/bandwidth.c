/* bandwidth.c: a multi-threaded memory read test (see bandwidth.h). */
#include "bandwidth.h"

#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#define MAX_THREADS 256
#define MAX_PASSES 100

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
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
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

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bandwidth_measure(uint64_t bytes, int n_threads, int passes, struct bandwidth_result *out,
                      struct smol_err *err)
{
    if (!out || n_threads < 1 || n_threads > MAX_THREADS || passes < 1 || passes > MAX_PASSES ||
        bytes < (1u << 20) || bytes > (1ull << 40))
        return err_set(err, SMOL_EINVAL, "bandwidth: need 1..%d threads, 1..%d passes and "
                       "1 MiB..1 TiB (got %d, %d, %llu bytes)", MAX_THREADS, MAX_PASSES,
                       n_threads, passes, (unsigned long long)bytes);
    bytes -= bytes % 64;
    const uint64_t n_words = bytes / 8;
    uint64_t *words = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (words == MAP_FAILED)
        return err_set(err, SMOL_ENOMEM, "bandwidth: cannot map a %llu-byte buffer",
                       (unsigned long long)bytes);
    /* contiguous shares, split on cache lines (8 words) */
    struct share sh[MAX_THREADS];
    const uint64_t lines = n_words / 8;
    for (int t = 0; t < n_threads; t++)
        sh[t] = (struct share){words, lines * (uint64_t)t / (uint64_t)n_threads * 8,
                               lines * (uint64_t)(t + 1) / (uint64_t)n_threads * 8, 0};
    run_shares(share_fill, sh, n_threads);

    double secs[MAX_PASSES];
    uint64_t sum = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now_seconds();
        run_shares(share_sum, sh, n_threads);
        secs[p] = now_seconds() - t0;
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
