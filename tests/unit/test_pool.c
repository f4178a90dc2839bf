/*
 * test_pool.c: the persistent thread pool.
 *
 * Every task of every job runs exactly once, on a thread id in range,
 * for pools of 1..8 threads and jobs of 0..1000 tasks, many times over
 * (to shake out races in the hand-off); jobs larger than one published
 * word; workers that fell asleep between jobs wake for the next; a
 * caller that fell asleep waiting for a slow task wakes when it ends;
 * two threads sharing one pool; the work really is spread; bad sizes
 * are refused with a sentence.
 */
#include "testutil.h"
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

struct count_job {
    atomic_int *counts;
    int n_threads;
    atomic_int bad_thread;
    atomic_int used[8];
    int sleep_us;   /* each task sleeps this long (0: none) */
};

static void sleep_us(int us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void count_task(void *ctx, int task, int thread)
{
    struct count_job *j = ctx;
    if (thread < 0 || thread >= j->n_threads)
        atomic_store(&j->bad_thread, 1);
    else if (thread < 8)
        atomic_store(&j->used[thread], 1);
    if (j->sleep_us)
        sleep_us(j->sleep_us);
    atomic_fetch_add(&j->counts[task], 1);
}

/* Runs n tasks on p and checks each ran once on a valid thread. */
static void run_and_check(struct pool *p, int n, atomic_int *counts, int sleep)
{
    struct count_job j = {.counts = counts, .n_threads = pool_n_threads(p), .sleep_us = sleep};
    atomic_init(&j.bad_thread, 0);
    for (int i = 0; i < 8; i++)
        atomic_init(&j.used[i], 0);
    for (int i = 0; i < n; i++)
        atomic_init(&counts[i], 0);
    pool_run(p, n, count_task, &j);
    for (int i = 0; i < n; i++)
        if (atomic_load(&counts[i]) != 1)
            fail_msg("%d threads, %d tasks: task %d ran %d times", pool_n_threads(p), n, i,
                     atomic_load(&counts[i]));
    assert_int_equal(atomic_load(&j.bad_thread), 0);
}

static void test_each_task_once(void **state)
{
    (void)state;
    static const int threads[] = {1, 2, 3, 4, 8};
    static const int sizes[] = {0, 1, 2, 3, 7, 64, 1000};
    atomic_int *counts = calloc(1000, sizeof(*counts));
    assert_non_null(counts);
    for (size_t a = 0; a < ARRAY_SIZE(threads); a++) {
        struct smol_err err = {0};
        struct pool *p = pool_new(threads[a], &err);
        assert_non_null(p);
        assert_int_equal(pool_n_threads(p), threads[a]);
        for (int rep = 0; rep < 100; rep++)
            for (size_t b = 0; b < ARRAY_SIZE(sizes); b++)
                run_and_check(p, sizes[b], counts, 0);
        pool_free(p);
    }
    free(counts);
}

/* More tasks than one published word holds (2^20 - 1): run in slices. */
static void test_huge_job(void **state)
{
    (void)state;
    const int n = (1 << 20) + 12345;
    atomic_int *counts = calloc((size_t)n, sizeof(*counts));
    assert_non_null(counts);
    struct pool *p = pool_new(3, NULL);
    assert_non_null(p);
    run_and_check(p, n, counts, 0);
    pool_free(p);
    free(counts);
}

/* Idle workers go to sleep after a fraction of a millisecond; the next
 * job must wake them. A slow task makes the caller sleep too. */
static void test_sleep_and_wake(void **state)
{
    (void)state;
    atomic_int counts[16];
    struct pool *p = pool_new(3, NULL);
    assert_non_null(p);
    for (int rep = 0; rep < 20; rep++) {
        run_and_check(p, 16, counts, 0);
        sleep_us(2000);                    /* workers fall asleep */
        run_and_check(p, 5, counts, 1500); /* the caller outwaits its spin */
    }
    pool_free(p);
}

/* With tasks that block, a two-thread pool must put its worker to use. */
static void test_work_is_spread(void **state)
{
    (void)state;
    atomic_int counts[20];
    struct pool *p = pool_new(2, NULL);
    assert_non_null(p);
    struct count_job j = {.counts = counts, .n_threads = 2, .sleep_us = 3000};
    atomic_init(&j.bad_thread, 0);
    for (int i = 0; i < 8; i++)
        atomic_init(&j.used[i], 0);
    for (int i = 0; i < 20; i++)
        atomic_init(&counts[i], 0);
    pool_run(p, 20, count_task, &j);
    assert_int_equal(atomic_load(&j.used[0]), 1);
    assert_int_equal(atomic_load(&j.used[1]), 1);
    pool_free(p);
}

struct caller_arg {
    struct pool *p;
    int failures;
};

static void *caller_main(void *arg)
{
    struct caller_arg *c = arg;
    atomic_int counts[37];
    for (int rep = 0; rep < 300; rep++) {
        struct count_job j = {.counts = counts, .n_threads = pool_n_threads(c->p)};
        atomic_init(&j.bad_thread, 0);
        for (int i = 0; i < 37; i++)
            atomic_init(&counts[i], 0);
        pool_run(c->p, 37, count_task, &j);
        for (int i = 0; i < 37; i++)
            c->failures += atomic_load(&counts[i]) != 1;
    }
    return NULL;
}

/* Two threads driving one pool (two sequences of one model) take turns. */
static void test_concurrent_callers(void **state)
{
    (void)state;
    struct pool *p = pool_new(3, NULL);
    assert_non_null(p);
    struct caller_arg a = {p, 0}, b = {p, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, caller_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, caller_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.failures, 0);
    assert_int_equal(b.failures, 0);
    pool_free(p);
}

static void test_bad_sizes(void **state)
{
    (void)state;
    struct smol_err err = {0};
    assert_null(pool_new(0, &err));
    assert_int_equal(err.code, SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "thread count 0"));
    err_clear(&err);
    assert_null(pool_new(POOL_MAX_THREADS + 1, &err));
    assert_int_equal(err.code, SMOL_EINVAL);
    assert_true(pool_cpu_count() >= 1);
    pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_task_once),
        cmocka_unit_test(test_huge_job),
        cmocka_unit_test(test_sleep_and_wake),
        cmocka_unit_test(test_work_is_spread),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
