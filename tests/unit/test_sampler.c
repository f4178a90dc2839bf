/* test_sampler.c: each stage of the sampling chain, on hand-made logits. */
#include "testutil.h"
#include "sampler.h"

#include <math.h>
#include <string.h>

static struct sampler *make(float temp, int top_k, float top_p, float min_p, float rep,
                            uint64_t seed, int n_vocab)
{
    struct smol_sampling p;
    smol_sampling_default(&p);
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = rep;
    p.seed = seed;
    struct smol_err err = {0};
    struct sampler *s = sampler_new(&p, n_vocab, &err);
    if (!s)
        fail_msg("sampler_new: %s", err.msg);
    return s;
}

static void test_greedy(void **state)
{
    (void)state;
    const float lg[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, 0.0f};
    struct sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.0f, 1, 6);
    /* ties go to the lowest id */
    assert_int_equal(sampler_sample(s, lg, NULL, 0), 1);
    assert_int_equal(sampler_argmax(lg, 6), 1);
    sampler_free(s);
}

/* With temperature 1 and two tokens whose logits differ by ln 2, the
 * first is drawn twice as often; the seed fixes the exact sequence. */
static void test_distribution_and_seed(void **state)
{
    (void)state;
    const float lg[2] = {logf(2.0f), 0.0f};
    struct sampler *a = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 77, 2);
    struct sampler *b = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 77, 2);
    int n0 = 0, same = 0;
    const int N = 30000;
    for (int i = 0; i < N; i++) {
        int x = sampler_sample(a, lg, NULL, 0), y = sampler_sample(b, lg, NULL, 0);
        n0 += x == 0;
        same += x == y;
    }
    assert_int_equal(same, N);
    const double frac = (double)n0 / N;
    if (fabs(frac - 2.0 / 3.0) > 0.015)
        fail_msg("token 0 drawn %.4f of the time, expected 0.6667", frac);
    sampler_free(a);
    sampler_free(b);
}

/* top-k 1 is greedy; top-p and min-p cut the tail. */
static void test_truncation(void **state)
{
    (void)state;
    float lg[100];
    for (int i = 0; i < 100; i++)
        lg[i] = (float)(i % 7) * 0.1f;
    lg[42] = 8.0f; /* p(42) ~ 0.95 */
    lg[43] = 5.0f;
    struct sampler *k1 = make(2.0f, 1, 1.0f, 0.0f, 1.0f, 5, 100);
    struct sampler *tp = make(2.0f, 0, 0.5f, 0.0f, 1.0f, 5, 100);
    struct sampler *mp = make(5.0f, 0, 1.0f, 0.01f, 1.0f, 5, 100);
    struct sampler *k2 = make(50.0f, 2, 1.0f, 0.0f, 1.0f, 5, 100);
    int seen43 = 0;
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(sampler_sample(k1, lg, NULL, 0), 42);
        assert_int_equal(sampler_sample(tp, lg, NULL, 0), 42);
        /* min-p 0.01 keeps 42 and 43 (p ratio e^-3 = 0.05) but no other */
        int x = sampler_sample(mp, lg, NULL, 0);
        assert_true(x == 42 || x == 43);
        int y = sampler_sample(k2, lg, NULL, 0);
        assert_true(y == 42 || y == 43);
        seen43 += y == 43;
    }
    assert_true(seen43 > 500); /* at temperature 50 the two are near even */
    sampler_free(k1);
    sampler_free(tp);
    sampler_free(mp);
    sampler_free(k2);
}

/* The repetition penalty can move the argmax off a recent token. */
static void test_repeat_penalty(void **state)
{
    (void)state;
    const float lg[4] = {2.0f, 1.5f, -1.0f, 0.0f};
    const int32_t recent[3] = {0, 0, 2};
    struct sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.5f, 1, 4);
    /* 2.0 / 1.5 = 1.33 < 1.5: token 1 wins */
    assert_int_equal(sampler_sample(s, lg, recent, 3), 1);
    assert_int_equal(sampler_sample(s, lg, NULL, 0), 0);
    sampler_free(s);
}

static void test_bad_params(void **state)
{
    (void)state;
    struct smol_sampling p;
    smol_sampling_default(&p);
    struct smol_err err = {0};
    p.temperature = NAN;
    assert_null(sampler_new(&p, 10, &err));
    assert_non_null(strstr(err.msg, "temperature"));
    smol_sampling_default(&p);
    p.top_p = -0.5f;
    err_clear(&err);
    assert_null(sampler_new(&p, 10, &err));
    assert_non_null(strstr(err.msg, "top_p"));
    smol_sampling_default(&p);
    p.repeat_penalty = 0.0f;
    err_clear(&err);
    assert_null(sampler_new(&p, 10, &err));
    smol_sampling_default(&p);
    err_clear(&err);
    assert_null(sampler_new(&p, 0, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_distribution_and_seed),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
