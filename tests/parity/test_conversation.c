/*
 * test_conversation.c: KV reuse across chat turns on a fixture model
 * with its real template: the second turn evaluates only the tokens
 * after the common prefix (counted through the API), and its logits
 * equal a from-scratch evaluation of the whole prompt.
 */
#include "testutil.h"
#include "smol.h"

#include <math.h>
#include <string.h>

struct answer {
    struct smol_chat_stream *st;
};

static int on_piece(void *user, int32_t token, const char *text, size_t len)
{
    (void)token;
    struct answer *a = user;
    return smol_chat_stream_feed(a->st, text, len, NULL, NULL) != 0;
}

static int32_t *tokenize(struct smol_model *m, const char *text, int *n)
{
    int need = smol_tokenize(m, text, strlen(text), SMOL_TOKENIZE_SPECIAL, NULL, 0);
    assert_true(need > 0);
    int32_t *ids = malloc((size_t)need * sizeof(int32_t));
    assert_int_equal(smol_tokenize(m, text, strlen(text), SMOL_TOKENIZE_SPECIAL, ids, need), need);
    *n = need;
    return ids;
}

static void run_two_turns(const char *model, bool thinking)
{
    TEST_NEED_FIXTURES();
    struct smol_err err = {0};
    struct smol_model *m = smol_model_open(test_fixture(model), NULL, &err);
    if (!m)
        fail_msg("%s: %s", model, err.msg);
    struct smol_seq *s = smol_seq_new(m, 1024, &err), *fresh = smol_seq_new(m, 1024, &err);
    assert_non_null(s);
    struct smol_chat_opts o = {.thinking = thinking, .date = "08 July 2025"};

    /* turn 1 */
    struct smol_message msgs[3] = {
        {.role = SMOL_ROLE_USER, .content = "What is the capital of France?"},
    };
    char *p1 = smol_chat_render(m, msgs, 1, &o, &err);
    assert_non_null(p1);
    int n1, reused = -1;
    int32_t *t1 = tokenize(m, p1, &n1);
    assert_int_equal(smol_seq_sync(s, t1, n1, &reused, &err), n1);
    assert_int_equal(reused, 0);
    struct smol_chat_stream_opts so = {.thinking = thinking};
    struct answer a = {.st = smol_chat_stream_new(&so, &err)};
    struct smol_gen_params gp = {0};
    smol_sampling_default(&gp.sampling);
    gp.sampling.temperature = 0.0f;
    gp.max_tokens = 12;
    assert_true(smol_generate(s, NULL, 0, &gp, on_piece, &a, NULL, &err) > 0);
    smol_chat_stream_finish(a.st, NULL, NULL);
    char *hist = smol_chat_stream_history(a.st);
    assert_non_null(hist);

    /* turn 2: the whole conversation re-rendered */
    msgs[1] = (struct smol_message){.role = SMOL_ROLE_ASSISTANT, .content = hist};
    msgs[2] = (struct smol_message){.role = SMOL_ROLE_USER, .content = "And of Italy?"};
    char *p2 = smol_chat_render(m, msgs, 3, &o, &err);
    assert_non_null(p2);
    assert_int_equal(strncmp(p1, p2, strlen(p1)), 0); /* the text grows at the end */
    int n2;
    int32_t *t2 = tokenize(m, p2, &n2);
    const int evaluated = smol_seq_sync(s, t2, n2, &reused, &err);
    printf("  %s %s: turn 2 has %d tokens, %d reused from the cache, %d evaluated\n", model,
           thinking ? "think" : "no-think", n2, reused, evaluated);
    assert_int_equal(evaluated + reused, n2);
    assert_true(reused >= n1 - 1); /* at least the first prompt */
    assert_true(evaluated < n2 - n1 + 16);

    const int V = smol_n_vocab(m);
    float *ref = malloc((size_t)V * sizeof(float));
    assert_int_equal(smol_eval(fresh, t2, n2, ref, 0, &err), 0);
    double max = 0;
    const float *got = smol_seq_logits(s);
    for (int i = 0; i < V; i++)
        max = fmax(max, fabs((double)got[i] - ref[i]));
    printf("  max |diff| against a from-scratch evaluation: %.2e\n", max);
    assert_true(max <= 1e-3);

    free(ref);
    free(t1);
    free(t2);
    free(p1);
    free(p2);
    free(hist);
    smol_chat_stream_free(a.st);
    smol_seq_free(s);
    smol_seq_free(fresh);
    smol_model_close(m);
}

static void test_reuse_think(void **state)
{
    (void)state;
    run_two_turns("tiny-q4_k_m.gguf", true);
}

static void test_reuse_no_think(void **state)
{
    (void)state;
    run_two_turns("tiny-q8_0.gguf", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_think),
        cmocka_unit_test(test_reuse_no_think),
    };
    return cmocka_run_group_tests_name("conversation", tests, NULL, NULL);
}
