/*
 * pool.c: a persistent pool of worker threads (see pool.h).
 *
 * One job at a time, published in one 64-bit atomic word:
 *
 *   bits 63..40  generation (bumped per job)
 *   bits 39..20  n_tasks of the job
 *   bits 19..0   next task to hand out
 *
 * A thread claims task `next` with a compare-and-swap of the whole word,
 * so a claim succeeds only while the job it read is still the current
 * one: a worker that was descheduled in the middle of a claim cannot
 * take a task of a later job with the function it read for an earlier
 * one. Each finished task increments `done`; pool_run returns when done
 * reaches n_tasks. The caller never waits for a worker that has not
 * woken up yet, which matters on a machine shared with other work: a
 * preempted worker costs its own tasks only, and the threads that are
 * running take the rest.
 *
 * fn and ctx are written before the word is published (release) and
 * read after it is loaded (acquire); the CAS then confirms they belong
 * to the claimed job. The caller only overwrites them after done ==
 * n_tasks, when every claimed task of the old job has finished.
 *
 * Sleeping without lost wake-ups: a worker about to sleep increments
 * `n_sleeping` and then re-reads the word under the mutex; pool_run
 * publishes the word and then reads `n_sleeping`. Both are sequentially
 * consistent, so one of them sees the other: either the worker sees the
 * new job, or pool_run sees a sleeper and broadcasts under the mutex
 * (which the worker holds until it is inside pthread_cond_wait). The
 * caller's wait for `done` uses the same pattern with `caller_sleeping`.
 *
 * ABA: the generation has 24 bits; a claim could be fooled only by a
 * thread stalled between its load and its CAS while 16 million jobs
 * pass, which the other threads cannot do without it (they would have
 * to run for minutes while it never gets a time slice).
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Spin this long for the next job before sleeping: long enough to span
 * the gaps between a token's matmuls, short enough that an idle pool
 * gives its CPUs back at once. */
#define POOL_SPIN_NS 200000

#define POOL_NEXT_BITS 20
#define POOL_MAX_JOB_TASKS ((1 << POOL_NEXT_BITS) - 1)
#define POOL_NEXT(w) ((int)((w) & POOL_MAX_JOB_TASKS))
#define POOL_N(w) ((int)(((w) >> POOL_NEXT_BITS) & POOL_MAX_JOB_TASKS))
#define POOL_GEN(w) ((uint32_t)((w) >> (2 * POOL_NEXT_BITS)))

struct pool_worker {
    struct pool *pool;
    pthread_t thread;
    int id;
    bool started;
};

struct pool {
    int n_threads;
    struct pool_worker *workers;   /* [n_threads - 1] owned */
    pthread_mutex_t run_lock;      /* one pool_run at a time */
    pthread_mutex_t mu;            /* guards sleeping and waking */
    pthread_cond_t wake;           /* workers: a new job or stop */
    pthread_cond_t done_cv;        /* caller: done reached n_tasks */
    bool stop;                     /* under mu */
    uint32_t gen;                  /* the caller's generation counter */

    /* the current job's function, valid for the job in `work` */
    _Atomic(pool_fn) fn;
    _Atomic(void *) ctx;

    /* written by every thread: each on its own cache line */
    _Alignas(64) _Atomic uint64_t work;   /* generation | n_tasks | next */
    _Alignas(64) atomic_int done;         /* finished tasks of the job */
    _Alignas(64) atomic_int n_sleeping;   /* workers in (or entering) cond_wait */
    atomic_int caller_sleeping;
};

/* ------------------------------------------------------------------ */
/* Claiming and waiting                                                */
/* ------------------------------------------------------------------ */

/* A hint to the CPU that this is a spin loop (lets a sibling hyperthread
 * run, saves power). */
static inline void pool_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

static uint64_t pool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Claims and runs tasks of the job in w (as loaded) until it has none
 * left or a newer job replaced it. The thread that finishes the last
 * task wakes the caller if it is asleep. */
static void pool_work(struct pool *p, uint64_t w, int thread)
{
    for (;;) {
        const int n = POOL_N(w), t = POOL_NEXT(w);
        if (t >= n)
            return;
        const pool_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        /* on failure w is reloaded: another claim, or a new job */
        if (!atomic_compare_exchange_weak_explicit(&p->work, &w, w + 1, memory_order_acquire,
                                                   memory_order_acquire))
            continue;
        fn(ctx, t, thread);
        if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
        w = atomic_load_explicit(&p->work, memory_order_acquire);
    }
}

/* Spins until the generation differs from seen or the budget is spent;
 * returns the word, or 0 when it gave up. The clock is read every 256
 * polls to keep the loop cheap. */
static uint64_t pool_spin_for_job(struct pool *p, uint32_t seen)
{
    const uint64_t start = pool_now_ns();
    for (unsigned i = 1;; i++) {
        const uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
        if (POOL_GEN(w) != seen)
            return w;
        pool_cpu_relax();
        if (i % 256 == 0 && pool_now_ns() - start > POOL_SPIN_NS)
            return 0;
    }
}

static void *pool_worker_main(void *arg)
{
    struct pool_worker *wk = arg;
    struct pool *p = wk->pool;
    uint32_t seen = 0;
    for (;;) {
        uint64_t w = pool_spin_for_job(p, seen);
        if (!w) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1);
            while (POOL_GEN(w = atomic_load(&p->work)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            const bool stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop)
                return NULL;
        }
        seen = POOL_GEN(w);
        pool_work(p, w, wk->id);
    }
}

/* ------------------------------------------------------------------ */
/* Public                                                              */
/* ------------------------------------------------------------------ */

int pool_cpu_count(void)
{
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)n;
}

struct pool *pool_new(int n_threads, struct smol_err *err)
{
    if (n_threads < 1 || n_threads > POOL_MAX_THREADS) {
        err_set(err, SMOL_EINVAL, "pool: thread count %d is outside 1..%d", n_threads,
                POOL_MAX_THREADS);
        return NULL;
    }
    /* aligned for the cache-line members */
    struct pool *p = aligned_alloc(64, (sizeof(struct pool) + 63) & ~(size_t)63);
    if (!p) {
        err_set(err, SMOL_ENOMEM, "pool: out of memory");
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    p->n_threads = n_threads;
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->work, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->caller_sleeping, 0);
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (n_threads == 1)
        return p;
    p->workers = calloc((size_t)n_threads - 1, sizeof(*p->workers));
    if (!p->workers) {
        err_set(err, SMOL_ENOMEM, "pool: out of memory for %d workers", n_threads - 1);
        goto fail;
    }
    for (int i = 0; i < n_threads - 1; i++) {
        struct pool_worker *w = &p->workers[i];
        w->pool = p;
        w->id = i + 1;
        int rc = pthread_create(&w->thread, NULL, pool_worker_main, w);
        if (rc != 0) {
            err_set(err, SMOL_EIO, "pool: cannot start worker thread %d of %d (error %d)", i + 1,
                    n_threads - 1, rc);
            goto fail;
        }
        w->started = true;
    }
    return p;
fail:
    pool_free(p);
    return NULL;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    if (p->workers) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        /* A spinning worker sees no new job; it falls asleep, then sees
         * stop under the mutex. */
        for (int i = 0; i < p->n_threads - 1; i++)
            if (p->workers[i].started)
                pthread_join(p->workers[i].thread, NULL);
        free(p->workers);
    }
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_lock);
    free(p);
}

int pool_n_threads(const struct pool *p)
{
    return p->n_threads;
}

/* One job of at most POOL_MAX_JOB_TASKS tasks; run_lock held. */
static void pool_run_job(struct pool *p, int n_tasks, pool_fn fn, void *ctx)
{
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    p->gen = p->gen % 0xffffff + 1; /* 1..2^24-1: 0 is the word before any job */
    const uint64_t w = (uint64_t)p->gen << (2 * POOL_NEXT_BITS) |
                       (uint64_t)n_tasks << POOL_NEXT_BITS;
    atomic_store(&p->work, w); /* publishes fn, ctx and done (seq_cst) */
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    pool_work(p, atomic_load_explicit(&p->work, memory_order_acquire), 0);

    /* the last tasks may still run on workers */
    const uint64_t start = pool_now_ns();
    for (unsigned i = 1; atomic_load_explicit(&p->done, memory_order_acquire) != n_tasks; i++) {
        pool_cpu_relax();
        if (i % 256 == 0 && pool_now_ns() - start > POOL_SPIN_NS) {
            pthread_mutex_lock(&p->mu);
            atomic_store(&p->caller_sleeping, 1);
            while (atomic_load(&p->done) != n_tasks)
                pthread_cond_wait(&p->done_cv, &p->mu);
            atomic_store(&p->caller_sleeping, 0);
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
}

/* Runs a slice of a job too large for one word: tasks base + t. */
struct pool_slice {
    pool_fn fn;
    void *ctx;
    int base;
};

static void pool_slice_task(void *arg, int t, int thread)
{
    const struct pool_slice *s = arg;
    s->fn(s->ctx, s->base + t, thread);
}

void pool_run(struct pool *p, int n_tasks, pool_fn fn, void *ctx)
{
    if (n_tasks <= 0)
        return;
    pthread_mutex_lock(&p->run_lock);
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
    } else if (n_tasks <= POOL_MAX_JOB_TASKS) {
        pool_run_job(p, n_tasks, fn, ctx);
    } else {
        for (int base = 0; base < n_tasks; base += POOL_MAX_JOB_TASKS) {
            struct pool_slice s = {fn, ctx, base};
            pool_run_job(p, MIN(POOL_MAX_JOB_TASKS, n_tasks - base), pool_slice_task, &s);
        }
    }
    pthread_mutex_unlock(&p->run_lock);
}
