/*
 * test_engine.c: the engine's public API on models the test writes
 * itself (synth.c), so it needs no fixtures: batched evaluation equals
 * token-by-token evaluation, chunking past the batch size, truncation,
 * independent sequences and models, errors that leave a sequence
 * unchanged, reproducible generation, and model validation messages.
 */
#include "testutil.h"
#include "smol.h"
#include "synth.h"
#include "quant.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static const uint32_t types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K,
                                 GGML_TYPE_Q6_K};

/* Writes a synthetic model of type to a temp file and opens it. */
static struct smol_model *open_synth(uint32_t type, const char *arch, char *path_out)
{
    struct synth_shape sh;
    synth_shape_tiny(&sh, type);
    if (arch)
        sh.arch = arch;
    const char *path = test_tmp_path(".gguf");
    struct smol_err err = {0};
    if (synth_write(path, &sh, type, 42, &err) != 0)
        fail_msg("synth_write: %s", err.msg);
    struct smol_model *m = smol_model_open(path, NULL, &err);
    if (!m)
        fail_msg("open synthetic model: %s", err.msg);
    if (path_out)
        strcpy(path_out, path);
    else
        unlink(path);
    return m;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void make_tokens(int32_t *t, int n, int n_vocab, uint64_t seed)
{
    for (int i = 0; i < n; i++)
        t[i] = (int32_t)(test_rand_u64(&seed) % (uint64_t)n_vocab);
}

/* All logits of a 100-token batch (two chunks) equal one-at-a-time
 * evaluation, for every weight type. */
static void test_batch_equals_incremental(void **state)
{
    (void)state;
    for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
        struct smol_model *m = open_synth(types[ti], NULL, NULL);
        const int n = 100, V = smol_n_vocab(m);
        int32_t toks[100];
        make_tokens(toks, n, V, 7 + ti);
        struct smol_err err = {0};
        struct smol_seq *a = smol_seq_new(m, 128, &err), *b = smol_seq_new(m, 128, &err);
        assert_non_null(a);
        assert_non_null(b);
        float *all = malloc((size_t)n * V * sizeof(float)), *one = malloc((size_t)V * sizeof(float));
        assert_int_equal(smol_eval(a, toks, n, all, SMOL_EVAL_ALL_LOGITS, &err), 0);
        assert_int_equal(smol_seq_len(a), n);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            assert_int_equal(smol_eval(b, &toks[i], 1, one, 0, &err), 0);
            worst = fmax(worst, max_diff(all + (size_t)i * V, one, (size_t)V));
        }
        /* the same operations in the same order: expect equality */
        if (worst > 1e-5)
            fail_msg("type %s: batch vs incremental max |diff| %g", quant_type_info(types[ti])->name, worst);
        /* the last-row-only path agrees with the all-rows path */
        struct smol_seq *c = smol_seq_new(m, 128, &err);
        assert_int_equal(smol_eval(c, toks, n, one, 0, &err), 0);
        assert_true(max_diff(all + (size_t)(n - 1) * V, one, (size_t)V) <= 1e-6);
        assert_true(max_diff(smol_seq_logits(c), one, (size_t)V) == 0.0);
        free(all);
        free(one);
        smol_seq_free(a);
        smol_seq_free(b);
        smol_seq_free(c);
        smol_model_close(m);
    }
}

/* Truncating and re-evaluating gives the same logits; the token record
 * follows the cache. */
static void test_truncate(void **state)
{
    (void)state;
    struct smol_model *m = open_synth(GGML_TYPE_Q8_0, NULL, NULL);
    const int V = smol_n_vocab(m);
    int32_t toks[40];
    make_tokens(toks, 40, V, 3);
    struct smol_err err = {0};
    struct smol_seq *s = smol_seq_new(m, 64, &err);
    float *ref = malloc((size_t)V * sizeof(float)), *got = malloc((size_t)V * sizeof(float));
    assert_int_equal(smol_eval(s, toks, 40, ref, 0, &err), 0);
    assert_int_equal(smol_seq_truncate(s, 25), 0);
    assert_int_equal(smol_seq_len(s), 25);
    assert_null(smol_seq_logits(s)); /* they belonged to token 39 */
    assert_memory_equal(smol_seq_tokens(s), toks, 25 * sizeof(int32_t));
    assert_int_equal(smol_eval(s, toks + 25, 15, got, 0, &err), 0);
    assert_true(max_diff(ref, got, (size_t)V) == 0.0);
    assert_int_equal(smol_seq_truncate(s, 41), SMOL_EINVAL);
    assert_int_equal(smol_seq_truncate(s, -1), SMOL_EINVAL);
    free(ref);
    free(got);
    smol_seq_free(s);
    smol_model_close(m);
}

/* Bad tokens and a full context fail with a sentence and leave the
 * sequence as it was. */
static void test_eval_errors(void **state)
{
    (void)state;
    struct smol_model *m = open_synth(GGML_TYPE_F32, NULL, NULL);
    const int V = smol_n_vocab(m);
    struct smol_err err = {0};
    struct smol_seq *s = smol_seq_new(m, 8, &err);
    int32_t ok[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(smol_eval(s, ok, 6, NULL, 0, &err), 0);
    int32_t bad[2] = {1, V};
    assert_int_equal(smol_eval(s, bad, 2, NULL, 0, &err), SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    assert_int_equal(smol_seq_len(s), 6);
    err_clear(&err);
    int32_t neg = -5;
    assert_int_equal(smol_eval(s, &neg, 1, NULL, 0, &err), SMOL_EINVAL);
    err_clear(&err);
    assert_int_equal(smol_eval(s, ok, 3, NULL, 0, &err), SMOL_EFULL);
    assert_non_null(strstr(err.msg, "do not fit the context"));
    assert_int_equal(smol_seq_len(s), 6);
    err_clear(&err);
    assert_null(smol_seq_new(m, -1, &err));
    assert_int_equal(err.code, SMOL_EINVAL);
    smol_seq_free(s);
    smol_model_close(m);
}

/* Two models and several sequences in one process do not interfere. */
static void test_two_models(void **state)
{
    (void)state;
    struct smol_model *a = open_synth(GGML_TYPE_F32, NULL, NULL);
    struct smol_model *b = open_synth(GGML_TYPE_Q4_K, NULL, NULL);
    struct smol_err err = {0};
    const int Va = smol_n_vocab(a);
    int32_t toks[10];
    make_tokens(toks, 10, Va, 11);
    float *la = malloc((size_t)Va * sizeof(float)), *la2 = malloc((size_t)Va * sizeof(float));
    struct smol_seq *sa = smol_seq_new(a, 32, &err), *sb = smol_seq_new(b, 32, &err);
    struct smol_seq *sa2 = smol_seq_new(a, 32, &err);
    assert_int_equal(smol_eval(sa, toks, 5, NULL, 0, &err), 0);
    assert_int_equal(smol_eval(sb, toks, 10, NULL, 0, &err), 0);
    assert_int_equal(smol_eval(sa2, toks, 10, la2, 0, &err), 0);
    assert_int_equal(smol_eval(sa, toks + 5, 5, la, 0, &err), 0);
    assert_true(max_diff(la, la2, (size_t)Va) == 0.0);
    smol_seq_free(sa);
    smol_seq_free(sa2);
    smol_seq_free(sb);
    smol_model_close(b);
    smol_model_close(a);
    free(la);
    free(la2);
}

/* NoPE matters: the same weights as "llama" (RoPE everywhere) and as
 * "smollm3" (no RoPE on layer 3) give different logits. */
static void test_nope_layers(void **state)
{
    (void)state;
    struct smol_model *s3 = open_synth(GGML_TYPE_F32, "smollm3", NULL);
    struct smol_model *ll = open_synth(GGML_TYPE_F32, "llama", NULL);
    struct smol_model_info info;
    smol_model_get_info(s3, &info);
    assert_int_equal(info.nope_interval, 4);
    assert_string_equal(info.arch, "smollm3");
    smol_model_get_info(ll, &info);
    assert_int_equal(info.nope_interval, 0);
    const int V = smol_n_vocab(s3);
    int32_t toks[12];
    make_tokens(toks, 12, V, 5);
    struct smol_err err = {0};
    float *a = malloc((size_t)V * sizeof(float)), *b = malloc((size_t)V * sizeof(float));
    struct smol_seq *x = smol_seq_new(s3, 16, &err), *y = smol_seq_new(ll, 16, &err);
    assert_int_equal(smol_eval(x, toks, 12, a, 0, &err), 0);
    assert_int_equal(smol_eval(y, toks, 12, b, 0, &err), 0);
    assert_true(max_diff(a, b, (size_t)V) > 1e-3);
    /* at position 0 RoPE is the identity, so both agree there */
    smol_seq_truncate(x, 0);
    smol_seq_truncate(y, 0);
    assert_int_equal(smol_eval(x, toks, 1, a, 0, &err), 0);
    assert_int_equal(smol_eval(y, toks, 1, b, 0, &err), 0);
    assert_true(max_diff(a, b, (size_t)V) < 1e-5);
    free(a);
    free(b);
    smol_seq_free(x);
    smol_seq_free(y);
    smol_model_close(s3);
    smol_model_close(ll);
}

struct gen_out {
    int32_t ids[64];
    int n;
};

static int on_piece(void *user, int32_t token, const char *text, size_t len)
{
    (void)text;
    (void)len;
    struct gen_out *o = user;
    if (token >= 0 && o->n < 64)
        o->ids[o->n++] = token;
    return 0;
}

static void generate(struct smol_model *m, float temp, uint64_t seed, struct gen_out *o,
                     struct smol_gen_stats *st)
{
    struct smol_err err = {0};
    struct smol_seq *s = smol_seq_new(m, 64, &err);
    struct smol_gen_params gp = {0};
    smol_sampling_default(&gp.sampling);
    gp.sampling.temperature = temp;
    gp.sampling.top_p = 1.0f;
    gp.sampling.seed = seed;
    gp.max_tokens = 20;
    gp.ignore_eos = true;
    int32_t prompt[4] = {104, 101, 108, 108};
    memset(o, 0, sizeof(*o));
    int n = smol_generate(s, prompt, 4, &gp, on_piece, o, st, &err);
    assert_int_equal(n, 20);
    assert_int_equal(smol_seq_len(s), 4 + 19); /* the last token is sampled, not evaluated */
    smol_seq_free(s);
}

/* Greedy follows the argmax; a seed reproduces a sampled run. */
static void test_generate(void **state)
{
    (void)state;
    struct smol_model *m = open_synth(GGML_TYPE_F32, NULL, NULL);
    struct gen_out a, b, c;
    struct smol_gen_stats st;
    generate(m, 0.0f, 1, &a, &st);
    assert_int_equal(st.n_gen, 20);
    assert_int_equal(st.n_prompt, 4);
    assert_int_equal(st.stop, SMOL_STOP_MAX_TOKENS);
    /* greedy: each token is the argmax of the logits after the previous */
    struct smol_err err = {0};
    struct smol_seq *s = smol_seq_new(m, 64, &err);
    int32_t prompt[4] = {104, 101, 108, 108};
    const int V = smol_n_vocab(m);
    float *lg = malloc((size_t)V * sizeof(float));
    assert_int_equal(smol_eval(s, prompt, 4, lg, 0, &err), 0);
    for (int i = 0; i < 20; i++) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[best])
                best = v;
        assert_int_equal(a.ids[i], best);
        assert_int_equal(smol_eval(s, &a.ids[i], 1, lg, 0, &err), 0);
    }
    free(lg);
    smol_seq_free(s);
    generate(m, 3.0f, 1234, &b, NULL);
    generate(m, 3.0f, 1234, &c, NULL);
    assert_memory_equal(b.ids, c.ids, sizeof(b.ids));
    generate(m, 3.0f, 999, &c, NULL);
    assert_memory_not_equal(b.ids, c.ids, sizeof(b.ids));
    smol_model_close(m);
}

/* A model missing a tensor, with a bad head count or an unknown
 * architecture fails to open with a sentence naming the problem. */
static void test_model_validation(void **state)
{
    (void)state;
    static const struct {
        const char *skip, *key, *str;
        uint32_t val;
        const char *expect;
    } cases[] = {
        {"blk.1.ffn_up.weight", NULL, NULL, 0, "tensor 'blk.1.ffn_up.weight' is missing"},
        {"output_norm.weight", NULL, NULL, 0, "'output_norm.weight' is missing"},
        {NULL, "smollm3.attention.head_count_kv", NULL, 3, "head_count_kv 3"},
        {NULL, "smollm3.attention.head_count", NULL, 0, "head_count 0"},
        {NULL, "smollm3.embedding_length", NULL, 96, "has shape"},
        {NULL, "smollm3.rope.dimension_count", NULL, 1000, "rope.dimension_count"},
        {NULL, "general.architecture", "gpt2", 0, "architecture 'gpt2' is not supported"},
        {NULL, "tokenizer.ggml.model", "llama", 0, "llama"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct synth_shape sh;
        synth_shape_tiny(&sh, GGML_TYPE_F32);
        struct gguf_writer *w = gguf_writer_new();
        struct smol_err err = {0};
        struct synth_data *d = synth_build(w, &sh, GGML_TYPE_F32, 1, cases[i].skip, &err);
        assert_non_null(d);
        if (cases[i].str)
            assert_int_equal(gguf_writer_set_str(w, cases[i].key, cases[i].str), 0);
        else if (cases[i].key)
            assert_int_equal(gguf_writer_set_u32(w, cases[i].key, cases[i].val), 0);
        const char *path = test_tmp_path(".gguf");
        assert_int_equal(gguf_writer_write(w, path, &err), 0);
        synth_free(d);
        gguf_writer_free(w);
        struct smol_model *m = smol_model_open(path, NULL, &err);
        unlink(path);
        assert_null(m);
        assert_true(err.code < 0);
        if (!strstr(err.msg, cases[i].expect))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].expect);
    }
    struct smol_err err = {0};
    assert_null(smol_model_open("/nonexistent/model.gguf", NULL, &err));
    assert_true(err.msg[0] != '\0');
}

/* The info census matches what synth wrote. */
static void test_info(void **state)
{
    (void)state;
    struct smol_model *m = open_synth(GGML_TYPE_Q8_0, NULL, NULL);
    struct smol_model_info in;
    smol_model_get_info(m, &in);
    assert_int_equal(in.n_layer, 4);
    assert_int_equal(in.n_embd, 64);
    assert_int_equal(in.n_head, 4);
    assert_int_equal(in.n_head_kv, 2);
    assert_int_equal(in.head_dim, 16);
    assert_true(in.tied_embeddings);
    assert_int_equal(in.n_tensors, 2 + 4 * 9);
    assert_string_equal(in.type_counts, "F32:9 Q8_0:29");
    /* 268 tokens x 64 + 64 + 4 x (2x64 + 64x64 + 2x(32x64) + 64x64 + 3x(128x64)) */
    assert_int_equal(in.n_params, (uint64_t)268 * 64 + 64 + 4 * (2 * 64 + 2 * 4096 + 2 * 2048 + 3 * 8192));
    smol_model_close(m);
}

/* smol_seq_sync keeps the common prefix and evaluates only the rest;
 * the logits equal a from-scratch evaluation. */
static void test_sync_reuses_cache(void **state)
{
    (void)state;
    struct smol_model *m = open_synth(GGML_TYPE_Q8_0, NULL, NULL);
    const int V = smol_n_vocab(m);
    int32_t t[80], u[80];
    make_tokens(t, 80, V, 21);
    struct smol_err err = {0};
    struct smol_seq *s = smol_seq_new(m, 128, &err), *fresh = smol_seq_new(m, 128, &err);
    float *ref = malloc((size_t)V * sizeof(float));
    int reused = -1;
    /* turn 1: nothing cached */
    assert_int_equal(smol_seq_sync(s, t, 30, &reused, &err), 30);
    assert_int_equal(reused, 0);
    /* turn 2: the first 30 tokens are reused, 50 evaluated */
    assert_int_equal(smol_seq_sync(s, t, 80, &reused, &err), 50);
    assert_int_equal(reused, 30);
    assert_int_equal(smol_eval(fresh, t, 80, ref, 0, &err), 0);
    assert_true(max_diff(smol_seq_logits(s), ref, (size_t)V) == 0.0);
    /* the same prompt again: only the last token is re-evaluated */
    assert_int_equal(smol_seq_sync(s, t, 80, &reused, &err), 1);
    assert_int_equal(reused, 79);
    assert_true(max_diff(smol_seq_logits(s), ref, (size_t)V) == 0.0);
    /* an edit at position 10: truncated to 10, the rest evaluated */
    memcpy(u, t, sizeof(u));
    u[10] = (u[10] + 1) % V;
    assert_int_equal(smol_seq_sync(s, u, 60, &reused, &err), 50);
    assert_int_equal(reused, 10);
    assert_int_equal(smol_seq_len(s), 60);
    smol_seq_truncate(fresh, 0);
    assert_int_equal(smol_eval(fresh, u, 60, ref, 0, &err), 0);
    assert_true(max_diff(smol_seq_logits(s), ref, (size_t)V) == 0.0);
    /* too long for the context */
    int32_t big[130] = {0};
    assert_int_equal(smol_seq_sync(s, big, 130, &reused, &err), SMOL_EFULL);
    assert_int_equal(smol_seq_len(s), 60);
    free(ref);
    smol_seq_free(s);
    smol_seq_free(fresh);
    smol_model_close(m);
}

/* Detokenizes ids into a malloc'd string. */
static char *detok(struct smol_model *m, const int32_t *ids, int n)
{
    size_t cap = 16, len = 0;
    char *out = malloc(cap);
    for (int i = 0; i < n; i++) {
        size_t l;
        const char *p = smol_token_bytes(m, ids[i], &l);
        while (len + l + 1 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, p, l);
        len += l;
    }
    out[len] = '\0';
    return out;
}

/* A conversation too long for the context loses its oldest turns, never
 * the system message or the current question. */
static void test_chat_prompt_drops_old_turns(void **state)
{
    (void)state;
    struct smol_model *m = open_synth(GGML_TYPE_F32, NULL, NULL);
    struct smol_message msgs[8] = {
        {.role = SMOL_ROLE_SYSTEM, .content = "SYSTEM-RULES"},
        {.role = SMOL_ROLE_USER, .content = "first question, a long one with many words in it"},
        {.role = SMOL_ROLE_ASSISTANT, .content = "first answer, also long with words"},
        {.role = SMOL_ROLE_USER, .content = "second question, quite long as well"},
        {.role = SMOL_ROLE_ASSISTANT, .content = "second answer here"},
        {.role = SMOL_ROLE_USER, .content = "third question"},
        {.role = SMOL_ROLE_ASSISTANT, .content = "third answer"},
        {.role = SMOL_ROLE_USER, .content = "CURRENT-QUESTION"},
    };
    struct smol_err err = {0};
    int32_t *toks = NULL;
    int n = 0, dropped = -1;
    /* everything fits in a big context */
    assert_int_equal(smol_chat_prompt(m, msgs, 8, NULL, 4096, 64, &toks, &n, &dropped, &err), 0);
    assert_int_equal(dropped, 0);
    const int full = n;
    char *text = detok(m, toks, n);
    assert_non_null(strstr(text, "first question"));
    free(text);
    free(toks);
    /* a context a little smaller than that: the first turn goes */
    assert_int_equal(smol_chat_prompt(m, msgs, 8, NULL, full + 64 - 10, 64, &toks, &n, &dropped, &err), 0);
    assert_int_equal(dropped, 2);
    assert_true(n + 64 <= full + 64 - 10);
    text = detok(m, toks, n);
    assert_null(strstr(text, "first question"));
    assert_non_null(strstr(text, "second question"));
    assert_non_null(strstr(text, "SYSTEM-RULES"));
    assert_non_null(strstr(text, "CURRENT-QUESTION"));
    free(text);
    free(toks);
    /* only the system message and the question fit */
    int32_t *t2 = NULL;
    int n2 = 0;
    struct smol_message two[2] = {msgs[0], msgs[7]};
    assert_int_equal(smol_chat_prompt(m, two, 2, NULL, 4096, 0, &t2, &n2, NULL, &err), 0);
    free(t2);
    assert_int_equal(smol_chat_prompt(m, msgs, 8, NULL, n2 + 8, 8, &toks, &n, &dropped, &err), 0);
    assert_int_equal(dropped, 6);
    free(toks);
    /* not even that: a clear error */
    assert_int_equal(smol_chat_prompt(m, msgs, 8, NULL, n2 + 7, 8, &toks, &n, &dropped, &err), SMOL_EFULL);
    assert_non_null(strstr(err.msg, "current message alone"));
    assert_null(toks);
    smol_model_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_incremental),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_eval_errors),
        cmocka_unit_test(test_two_models),
        cmocka_unit_test(test_nope_layers),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_model_validation),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_sync_reuses_cache),
        cmocka_unit_test(test_chat_prompt_drops_old_turns),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
