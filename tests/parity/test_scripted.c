/*
 * test_scripted.c: the whole chat path on the fixtures' scripted models
 * (../shared/fixtures/scripted/README.md): render the prompt with the
 * real template, tokenize it, generate, split the stream into reasoning,
 * answer and tool calls, apply stop strings, and compare with the known
 * script exactly: token ids, channel texts, events and stop reasons.
 */
#include "testutil.h"
#include "smol.h"

#include <cJSON.h>
#include <string.h>

#define TOOL_JSON "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"

/* What one generated turn produced. */
struct turn {
    struct smol_chat_stream *cs;
    int32_t ids[512];      /* generated tokens, as reported to the callback */
    int n_ids;
    char raw[8192];        /* the pieces as generated */
    size_t n_raw;
    int n_events[4];       /* per channel */
    char call_event[512];  /* the last tool-call event's text */
    int feed_halts;        /* feeds that returned 1 */
    struct smol_gen_stats stats;
    int n_gen;
};

static int turn_event(void *user, int channel, const char *text, size_t len)
{
    struct turn *t = user;
    assert_true(channel >= 0 && channel < 4);
    t->n_events[channel]++;
    if (channel == SMOL_CH_TOOL_CALL || channel == SMOL_CH_TOOL_CALL_INCOMPLETE) {
        assert_true(len < sizeof(t->call_event));
        memcpy(t->call_event, text, len);
        t->call_event[len] = '\0';
    }
    return 0;
}

static int turn_piece(void *user, int32_t token, const char *text, size_t len)
{
    struct turn *t = user;
    if (token >= 0) {
        assert_true(t->n_ids < (int)ARRAY_SIZE(t->ids));
        t->ids[t->n_ids++] = token;
    }
    assert_true(t->n_raw + len < sizeof(t->raw));
    memcpy(t->raw + t->n_raw, text, len);
    t->n_raw += len;
    t->raw[t->n_raw] = '\0';
    const int rc = smol_chat_stream_feed(t->cs, text, len, turn_event, t);
    assert_true(rc == 0 || rc == 1);
    t->feed_halts += rc == 1;
    return rc;
}

/* Generates one turn of `name` (a file stem under scripted/) answering
 * "Hi", with the stream configured by thinking and stops. */
static void run_turn(const char *name, bool thinking, const char *const *stops, int n_stop,
                     const struct smol_sampling *sampling, int max_tokens, struct turn *t)
{
    char rel[128];
    snprintf(rel, sizeof(rel), "scripted/%s.gguf", name);
    struct smol_err err = {0};
    struct smol_model *m = smol_model_open(test_fixture(rel), NULL, &err);
    if (!m)
        fail_msg("%s: %s", rel, err.msg);
    char *prompt = smol_render_prompt(m, NULL, "Hi", thinking, "08 July 2025");
    assert_non_null(prompt);
    const size_t plen = strlen(prompt);
    /* the scripted models continue from the generation prompt's "\n" */
    assert_true(plen > 0 && prompt[plen - 1] == '\n');
    const int n_prompt = smol_tokenize(m, prompt, plen, SMOL_TOKENIZE_SPECIAL, NULL, 0);
    assert_true(n_prompt > 0);
    int32_t *ids = calloc((size_t)n_prompt, sizeof(*ids));
    assert_non_null(ids);
    assert_int_equal(smol_tokenize(m, prompt, plen, SMOL_TOKENIZE_SPECIAL, ids, n_prompt),
                     n_prompt);
    assert_int_equal(ids[n_prompt - 1], 198);

    memset(t, 0, sizeof(*t));
    const struct smol_chat_stream_opts so = {.thinking = thinking, .stop = stops,
                                             .n_stop = n_stop};
    t->cs = smol_chat_stream_new(&so, &err);
    if (!t->cs)
        fail_msg("chat stream: %s", err.msg);
    struct smol_seq *s = smol_seq_new(m, 1024, &err);
    if (!s)
        fail_msg("seq: %s", err.msg);
    struct smol_gen_params gp = {.max_tokens = max_tokens};
    if (sampling) {
        gp.sampling = *sampling;
    } else {
        smol_sampling_default(&gp.sampling);
        gp.sampling.temperature = 0.0f; /* greedy */
    }
    t->n_gen = smol_generate(s, ids, n_prompt, &gp, turn_piece, t, &t->stats, &err);
    if (t->n_gen < 0)
        fail_msg("%s: generate: %s", name, err.msg);
    assert_int_equal(smol_chat_stream_finish(t->cs, turn_event, t), 0);
    smol_seq_free(s);
    free(ids);
    free(prompt);
    smol_model_close(m);
}

/* The manifest's token ids for a script. */
static int manifest_ids(const char *name, int32_t *out, int cap, char *text, size_t text_cap)
{
    char *json = test_read_file(test_fixture("scripted/manifest.json"), NULL);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    free(json);
    assert_non_null(root);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, name);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(e, "ids");
    const cJSON *txt = cJSON_GetObjectItemCaseSensitive(e, "text");
    assert_true(cJSON_IsArray(arr) && cJSON_IsString(txt));
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        assert_true(n < cap);
        out[n++] = (int32_t)v->valuedouble;
    }
    assert_true(strlen(txt->valuestring) < text_cap);
    strcpy(text, txt->valuestring);
    cJSON_Delete(root);
    return n;
}

/* The turn generated exactly the manifest's ids (the first n of them). */
static void expect_ids(const char *name, const struct turn *t, int n)
{
    int32_t want[128];
    char text[1024];
    const int n_want = manifest_ids(name, want, (int)ARRAY_SIZE(want), text, sizeof(text));
    assert_true(n <= n_want);
    assert_int_equal(t->n_ids, n);
    for (int i = 0; i < n; i++)
        if (t->ids[i] != want[i])
            fail_msg("%s: token %d is %d, the script has %d", name, i, t->ids[i], want[i]);
}

static const char *content(const struct turn *t)
{
    return smol_chat_stream_content(t->cs, NULL);
}

static const char *reasoning(const struct turn *t)
{
    return smol_chat_stream_reasoning(t->cs, NULL);
}

static void test_think(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    /* the model writes its think block in both modes */
    for (int thinking = 1; thinking >= 0; thinking--) {
        struct turn t;
        run_turn("scripted-think", thinking, NULL, 0, NULL, 0, &t);
        expect_ids("scripted-think", &t, 13);
        assert_int_equal(t.stats.stop, SMOL_STOP_EOG);
        assert_string_equal(t.raw, "<think>Let me think.</think>\n\nHello there!");
        assert_string_equal(reasoning(&t), "Let me think.");
        assert_string_equal(content(&t), "Hello there!");
        assert_int_equal(smol_chat_stream_n_tool_calls(t.cs), 0);
        assert_false(smol_chat_stream_ended_in_reasoning(t.cs));
        /* one event per token that carries text: nothing waited longer
         * than a token, except "." (trailing whitespace may follow) */
        assert_true(t.n_events[SMOL_CH_REASONING] >= 4);
        assert_true(t.n_events[SMOL_CH_CONTENT] >= 4);
        char *h = smol_chat_stream_history(t.cs);
        assert_non_null(h);
        assert_string_equal(h, thinking ? "<think>\nLet me think.\n</think>\n\nHello there!"
                                        : "Hello there!");
        free(h);
        smol_chat_stream_free(t.cs);
    }
}

/* max_tokens inside the think block: the turn ends in reasoning. */
static void test_think_cut_short(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct turn t;
    run_turn("scripted-think", true, NULL, 0, NULL, 4, &t);
    assert_int_equal(t.stats.stop, SMOL_STOP_MAX_TOKENS);
    assert_string_equal(t.raw, "<think>Let me");
    assert_string_equal(reasoning(&t), "Let me");
    assert_string_equal(content(&t), "");
    assert_true(smol_chat_stream_ended_in_reasoning(t.cs));
    smol_chat_stream_free(t.cs);
}

static void test_plain(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct turn t;
    run_turn("scripted-plain", false, NULL, 0, NULL, 0, &t);
    expect_ids("scripted-plain", &t, 10);
    assert_int_equal(t.stats.stop, SMOL_STOP_EOG);
    assert_int_equal(t.n_gen, 10);
    assert_string_equal(content(&t), "Hello there! How are you?");
    assert_string_equal(reasoning(&t), "");
    assert_int_equal(t.n_events[SMOL_CH_REASONING], 0);
    assert_int_equal(t.feed_halts, 0);
    smol_chat_stream_free(t.cs);
}

static void check_tool(const char *name, int n_ids)
{
    struct turn t;
    run_turn(name, true, NULL, 0, NULL, 0, &t);
    expect_ids(name, &t, n_ids);
    assert_int_equal(t.stats.stop, SMOL_STOP_EOG);
    assert_int_equal(t.n_events[SMOL_CH_TOOL_CALL], 1);
    assert_int_equal(t.n_events[SMOL_CH_TOOL_CALL_INCOMPLETE], 0);
    assert_int_equal(t.n_events[SMOL_CH_CONTENT], 0);
    assert_string_equal(t.call_event, TOOL_JSON);
    assert_string_equal(content(&t), "");
    assert_int_equal(smol_chat_stream_n_tool_calls(t.cs), 1);
    bool complete = false;
    size_t len = 0;
    assert_string_equal(smol_chat_stream_tool_call(t.cs, 0, &len, &complete), TOOL_JSON);
    assert_true(complete);
    /* the tool-call parser reads what the stream delivers */
    char *fn = NULL, *args = NULL;
    struct smol_err err = {0};
    if (smol_tool_call_parse(t.call_event, strlen(t.call_event), &fn, &args, &err))
        fail_msg("%s: smol_tool_call_parse: %s", name, err.msg);
    assert_string_equal(fn, "get_weather");
    assert_string_equal(args, "{\"city\": \"Paris\"}");
    free(fn);
    free(args);
    char *h = smol_chat_stream_history(t.cs);
    assert_non_null(h);
    assert_string_equal(h, "<tool_call>\n" TOOL_JSON "\n</tool_call>");
    free(h);
    smol_chat_stream_free(t.cs);
}

static void test_tool(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    check_tool("scripted-tool", 30);
    check_tool("scripted-tool-nl", 31);
}

/* max_tokens inside the tool call: delivered, marked incomplete. */
static void test_tool_cut_short(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct turn t;
    run_turn("scripted-tool-nl", false, NULL, 0, NULL, 8, &t);
    assert_int_equal(t.stats.stop, SMOL_STOP_MAX_TOKENS);
    assert_string_equal(t.raw, "<tool_call>\n{\"name\": \"get");
    assert_int_equal(t.n_events[SMOL_CH_TOOL_CALL], 0);
    assert_int_equal(t.n_events[SMOL_CH_TOOL_CALL_INCOMPLETE], 1);
    assert_string_equal(t.call_event, "{\"name\": \"get");
    bool complete = true;
    assert_non_null(smol_chat_stream_tool_call(t.cs, 0, NULL, &complete));
    assert_false(complete);
    smol_chat_stream_free(t.cs);
}

static void test_stop(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    const char *stops[] = {"STOP"};
    struct turn t;
    run_turn("scripted-stop", false, stops, 1, NULL, 0, &t);
    /* halted on "P", the 14th token: " here" and "More text" never came */
    expect_ids("scripted-stop", &t, 14);
    assert_int_equal(t.stats.stop, SMOL_STOP_CALLER);
    assert_int_equal(t.n_gen, 14);
    assert_string_equal(t.raw, "The answer is 42. STOP");
    /* the text before the stop string, verbatim (its trailing space too) */
    assert_string_equal(content(&t), "The answer is 42. ");
    assert_int_equal(smol_chat_stream_stop_index(t.cs), 0);
    assert_int_equal(t.feed_halts, 1);
    smol_chat_stream_free(t.cs);

    /* without the stop string the script runs to its end */
    run_turn("scripted-stop", false, NULL, 0, NULL, 0, &t);
    expect_ids("scripted-stop", &t, 20);
    assert_int_equal(t.stats.stop, SMOL_STOP_EOG);
    assert_string_equal(content(&t), "The answer is 42. STOP here. More text.");
    assert_int_equal(smol_chat_stream_stop_index(t.cs), -1);
    smol_chat_stream_free(t.cs);
}

/* A 100-token cap on the endless script: exactly the first 100 tokens,
 * no end-of-generation, all of it answer. */
static void test_long(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct turn t;
    run_turn("scripted-long", false, NULL, 0, NULL, 100, &t);
    assert_int_equal(t.stats.stop, SMOL_STOP_MAX_TOKENS);
    assert_int_equal(t.n_gen, 100);
    int32_t cycle[128];
    char text[1024];
    const int n_cycle = manifest_ids("scripted-long", cycle, (int)ARRAY_SIZE(cycle), text,
                                     sizeof(text));
    assert_int_equal(n_cycle, 48);
    assert_int_equal(t.n_ids, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(t.ids[i], cycle[i % n_cycle]);
    /* the answer is a prefix of the script repeated */
    char rep[4096] = "";
    for (int i = 0; i < 3; i++)
        strcat(rep, text);
    size_t n = 0;
    const char *c = smol_chat_stream_content(t.cs, &n);
    assert_true(n > 2 * strlen(text));
    assert_memory_equal(c, rep, n);
    assert_string_equal(c, t.raw); /* nothing to strip or hold at the end */
    smol_chat_stream_free(t.cs);
}

/* The script survives sampling (its winning logit leads by 30+). */
static void test_sampled(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct smol_sampling sp;
    smol_sampling_default(&sp);
    sp.temperature = 0.7f;
    sp.top_p = 0.95f;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        sp.seed = seed;
        struct turn t;
        run_turn("scripted-think", true, NULL, 0, &sp, 0, &t);
        expect_ids("scripted-think", &t, 13);
        assert_int_equal(t.stats.stop, SMOL_STOP_EOG);
        assert_string_equal(reasoning(&t), "Let me think.");
        assert_string_equal(content(&t), "Hello there!");
        smol_chat_stream_free(t.cs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_think),
        cmocka_unit_test(test_think_cut_short),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_tool),
        cmocka_unit_test(test_tool_cut_short),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_sampled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
