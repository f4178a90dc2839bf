/*
 * pool.h: the persistent thread pool the forward pass splits its work
 * over.
 *
 * A pool of n threads is the caller plus n - 1 workers started once by
 * pool_new and kept until pool_free: nothing is created per token. A
 * job is n_tasks independent tasks; pool_run hands them out one at a
 * time (an atomic counter, so a thread that finishes early takes the
 * next) and returns when all are done. Which thread runs a task may
 * change from run to run, so a task's result must depend only on its
 * index, never on the thread: that is what makes the model's output
 * bitwise independent of the thread count.
 *
 * Waiting: idle workers spin briefly (the next job of a token usually
 * comes within microseconds), then sleep on a condition variable, so an
 * idle pool costs no CPU.
 *
 * Threads: any thread may call pool_run; concurrent calls on one pool
 * take turns (a mutex), so sequences of one model may be evaluated from
 * different threads. A task must not call pool_run on its own pool.
 *
 * Ownership: pool_new's caller calls pool_free (NULL is fine).
 */
#ifndef SMOL_POOL_H
#define SMOL_POOL_H

#include "base.h"
#include "err.h"

struct pool;

/* A task: task is in [0, n_tasks); thread in [0, pool_n_threads) names
 * the thread running it (0 is pool_run's caller), for per-thread
 * scratch. */
typedef void (*pool_fn)(void *ctx, int task, int thread);

/* A pool of n_threads (1..POOL_MAX_THREADS) threads, the caller
 * included. NULL with SMOL_EINVAL, SMOL_ENOMEM or SMOL_EIO (a thread
 * could not be started) in err. */
#define POOL_MAX_THREADS 256
struct pool *pool_new(int n_threads, struct smol_err *err);

/* Stops and joins the workers. Not while a pool_run is in progress. */
void pool_free(struct pool *p);

int pool_n_threads(const struct pool *p);

/* Runs fn(ctx, i, thread) for every i in [0, n_tasks), spread over the
 * pool's threads, and returns when all have returned. n_tasks <= 0 does
 * nothing; one task, or a pool of one thread, runs on the caller. */
void pool_run(struct pool *p, int n_tasks, pool_fn fn, void *ctx);

/* Online CPUs (at least 1): the default thread count. */
int pool_cpu_count(void);

#endif
