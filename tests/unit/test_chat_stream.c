/*
 * test_chat_stream.c: the streaming reasoning / answer / tool-call split
 * and stop strings (smol.h, "chat stream").
 *
 * Every case is fed whole, one byte at a time, split at every byte
 * position, at every pair of positions, and in random pieces; each way
 * must give exactly the expected channel texts, tool calls, order of
 * events, stop and end state, and the events must add up to what the
 * accessors report.
 */
#include "testutil.h"
#include "smol.h"

#include <string.h>

/* ---- what one run produced ---- */

#define GOT_TEXT 1024
#define GOT_CALLS 4

struct got {
    char content[GOT_TEXT], reasoning[GOT_TEXT]; /* concatenated events */
    size_t n_content, n_reasoning;
    char calls[GOT_CALLS][GOT_TEXT];
    bool complete[GOT_CALLS];
    int n_calls;
    char order[64];    /* channels in event order, runs of C or R merged */
    int n_order;
    bool halted;       /* some feed returned 1 */
    int stop_index;
    bool ended_in_reasoning;
    int halt_after;    /* >0: the callback asks to halt at this event */
    int n_events;
};

static void got_append(char *dst, size_t *n, const char *p, size_t len)
{
    assert_true(*n + len < GOT_TEXT);
    memcpy(dst + *n, p, len);
    *n += len;
    dst[*n] = '\0';
}

static int got_event(void *user, int channel, const char *text, size_t len)
{
    struct got *g = user;
    static const char letters[] = "CRTI";
    assert_true(channel >= SMOL_CH_CONTENT && channel <= SMOL_CH_TOOL_CALL_INCOMPLETE);
    const char letter = letters[channel];
    switch (channel) {
    case SMOL_CH_CONTENT:
        assert_true(len > 0); /* text events are never empty */
        got_append(g->content, &g->n_content, text, len);
        break;
    case SMOL_CH_REASONING:
        assert_true(len > 0);
        got_append(g->reasoning, &g->n_reasoning, text, len);
        break;
    default: {
        assert_true(g->n_calls < GOT_CALLS);
        size_t n = 0;
        got_append(g->calls[g->n_calls], &n, text, len);
        g->complete[g->n_calls++] = channel == SMOL_CH_TOOL_CALL;
        break;
    }
    }
    /* consecutive text events of one channel are one run */
    const bool merge = g->n_order > 0 && g->order[g->n_order - 1] == letter &&
                       (letter == 'C' || letter == 'R');
    if (!merge) {
        assert_true(g->n_order + 1 < (int)sizeof(g->order));
        g->order[g->n_order++] = letter;
        g->order[g->n_order] = '\0';
    }
    g->n_events++;
    return g->halt_after > 0 && g->n_events >= g->halt_after;
}

/* ---- the cases ---- */

struct scase {
    const char *name;
    const char *text;
    bool thinking, start_in_reasoning;
    const char *stops[3];
    int n_stop;
    /* expected */
    const char *reasoning, *content;
    const char *calls[3];
    int n_calls;
    bool last_incomplete;
    const char *order;
    int stop_index;
    bool ended_in_reasoning;
};

#define TOOL_JSON "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"

static const struct scase cases[] = {
    {.name = "think script", .text = "<think>Let me think.</think>\n\nHello there!",
     .reasoning = "Let me think.", .content = "Hello there!", .order = "RC", .stop_index = -1},
    {.name = "think with newlines", .thinking = true,
     .text = "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?",
     .reasoning = "The user greets me.", .content = "Hello! How can I help?", .order = "RC",
     .stop_index = -1},
    {.name = "plain", .text = "Hello there! How are you?", .reasoning = "",
     .content = "Hello there! How are you?", .order = "C", .stop_index = -1},
    {.name = "plain, leading newlines dropped, trailing kept", .text = "\n\nHello \n",
     .reasoning = "", .content = "Hello \n", .order = "C", .stop_index = -1},
    {.name = "tool call", .text = "<tool_call>" TOOL_JSON "</tool_call>", .reasoning = "",
     .content = "", .calls = {TOOL_JSON}, .n_calls = 1, .order = "T", .stop_index = -1},
    {.name = "tool call, template layout", .text = "<tool_call>\n" TOOL_JSON "\n</tool_call>",
     .reasoning = "", .content = "", .calls = {TOOL_JSON}, .n_calls = 1, .order = "T",
     .stop_index = -1},
    {.name = "two tool calls and text",
     .text = "A.\n<tool_call>\n{1}\n</tool_call>\n<tool_call>{2}</tool_call>\nB.",
     .reasoning = "", .content = "A.\nB.", .calls = {"{1}", "{2}"}, .n_calls = 2,
     .order = "CTTC", .stop_index = -1},
    {.name = "think then tool call",
     .text = "<think>\nNeed weather.\n</think>\n\n<tool_call>\n{}\n</tool_call>",
     .reasoning = "Need weather.", .content = "", .calls = {"{}"}, .n_calls = 1, .order = "RT",
     .stop_index = -1},
    {.name = "stop", .text = "The answer is 42. STOP here. More text.", .stops = {"STOP"},
     .n_stop = 1, .reasoning = "", .content = "The answer is 42. ", .order = "C",
     .stop_index = 0},
    {.name = "stop is a prefix of another", .text = "The answer is 42. STOP here. More text.",
     .stops = {"STOP here", "STOP"}, .n_stop = 2, .reasoning = "",
     .content = "The answer is 42. ", .order = "C", .stop_index = 1},
    {.name = "the stop completing first wins", .text = "xabcdef", .stops = {"abcd", "bc"},
     .n_stop = 2, .reasoning = "", .content = "xa", .order = "C", .stop_index = 1},
    {.name = "stop at the start", .text = "STOP and more", .stops = {"STOP"}, .n_stop = 1,
     .reasoning = "", .content = "", .order = "", .stop_index = 0},
    {.name = "partial stop at the end is text", .text = "The end ST", .stops = {"STOP"},
     .n_stop = 1, .reasoning = "", .content = "The end ST", .order = "C", .stop_index = -1},
    {.name = "stop does not apply to reasoning",
     .text = "<think>STOP thinking</think>Answer STOP now", .stops = {"STOP"}, .n_stop = 1,
     .reasoning = "STOP thinking", .content = "Answer ", .order = "RC", .stop_index = 0},
    {.name = "\\n\\n stop does not fire on </think>\\n\\n",
     .text = "<think>a\n\nb</think>\n\nOne.\n\nTwo.", .stops = {"\n\n"}, .n_stop = 1,
     .reasoning = "a\n\nb", .content = "One.", .order = "RC", .stop_index = 0},
    {.name = "stop does not apply to tool calls", .text = "<tool_call>STOP</tool_call>ok",
     .stops = {"STOP"}, .n_stop = 1, .reasoning = "", .content = "ok", .calls = {"STOP"},
     .n_calls = 1, .order = "TC", .stop_index = -1},
    {.name = "stop does not match across a tool call",
     .text = "ab<tool_call>x</tool_call>cd", .stops = {"bc"}, .n_stop = 1, .reasoning = "",
     .content = "abcd", .calls = {"x"}, .n_calls = 1, .order = "CTC", .stop_index = -1},
    {.name = "stop in UTF-8", .text = "x\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e!",
     .stops = {"\xe6\x9c\xac\xe8\xaa\x9e"}, .n_stop = 1, .reasoning = "",
     .content = "x\xe6\x97\xa5", .order = "C", .stop_index = 0},
    {.name = "ends inside think", .text = "<think>\nStill thinking\n", .reasoning = "Still thinking",
     .content = "", .order = "R", .stop_index = -1, .ended_in_reasoning = true},
    {.name = "ends inside a partial </think>", .text = "<think>x</thin", .reasoning = "x</thin",
     .content = "", .order = "R", .stop_index = -1, .ended_in_reasoning = true},
    {.name = "unterminated tool call",
     .text = "Let me check.\n<tool_call>\n{\"name\": \"f\", \"argu", .reasoning = "",
     .content = "Let me check.\n", .calls = {"{\"name\": \"f\", \"argu"}, .n_calls = 1,
     .last_incomplete = true, .order = "CI", .stop_index = -1},
    {.name = "partial tags at the end are text", .text = "a <tool_c", .reasoning = "",
     .content = "a <tool_c", .order = "C", .stop_index = -1},
    {.name = "partial <think> at the end is text", .text = " <thi", .reasoning = "",
     .content = "<thi", .order = "C", .stop_index = -1},
    {.name = "<think> after text is text", .text = "Hi <think>x</think>", .reasoning = "",
     .content = "Hi <think>x</think>", .order = "C", .stop_index = -1},
    {.name = "only one think block", .text = "<think>a</think>b<think>c</think>",
     .reasoning = "a", .content = "b<think>c</think>", .order = "RC", .stop_index = -1},
    {.name = "tags inside reasoning are reasoning",
     .text = "<think>maybe <tool_call>x</tool_call></think>ok",
     .reasoning = "maybe <tool_call>x</tool_call>", .content = "ok", .order = "RC",
     .stop_index = -1},
    {.name = "reasoning whitespace: inner kept, outer trimmed",
     .text = "<think>  a \n\n b  \n</think>c", .reasoning = "a \n\n b", .content = "c",
     .order = "RC", .stop_index = -1},
    {.name = "empty think block", .text = "<think>\n\n</think>\nHi", .reasoning = "",
     .content = "Hi", .order = "C", .stop_index = -1},
    {.name = "start in reasoning", .start_in_reasoning = true,
     .text = "Because.\n</think>\n\nYes.", .reasoning = "Because.", .content = "Yes.",
     .order = "RC", .stop_index = -1},
    {.name = "lookalike tags are text", .text = "<thinking> <tool_calls> </think>",
     .reasoning = "", .content = "<thinking> <tool_calls> </think>", .order = "C",
     .stop_index = -1},
    {.name = "stop that looks like a tag start", .text = "1 < 2 <tool_call>x</tool_call>",
     .stops = {"< 2"}, .n_stop = 1, .reasoning = "", .content = "1 ", .order = "C",
     .stop_index = 0},
};

/* ---- running a case ---- */

static struct smol_chat_stream *case_stream(const struct scase *c)
{
    const struct smol_chat_stream_opts o = {.thinking = c->thinking,
                                            .start_in_reasoning = c->start_in_reasoning,
                                            .stop = c->stops,
                                            .n_stop = c->n_stop};
    struct smol_err err = {0};
    struct smol_chat_stream *s = smol_chat_stream_new(&o, &err);
    if (!s)
        fail_msg("%s: smol_chat_stream_new: %s", c->name, err.msg);
    return s;
}

/* Feeds c->text cut at cuts[0..n_cuts) (ascending), then finishes.
 * Pieces after a halt are still fed: they must be ignored. */
static void run_cuts(const struct scase *c, const size_t *cuts, int n_cuts, struct got *g)
{
    memset(g, 0, sizeof(*g));
    struct smol_chat_stream *s = case_stream(c);
    const size_t len = strlen(c->text);
    size_t at = 0;
    for (int i = 0; i <= n_cuts; i++) {
        const size_t end = i < n_cuts ? cuts[i] : len;
        const int rc = smol_chat_stream_feed(s, c->text + at, end - at, got_event, g);
        assert_true(rc == 0 || rc == 1);
        if (g->halted)
            assert_int_equal(rc, 1); /* halted stays halted */
        g->halted |= rc == 1;
        at = end;
    }
    assert_int_equal(smol_chat_stream_finish(s, got_event, g), 0);
    g->stop_index = smol_chat_stream_stop_index(s);
    g->ended_in_reasoning = smol_chat_stream_ended_in_reasoning(s);

    /* the accessors report exactly what the events delivered */
    size_t n = 0;
    assert_string_equal(smol_chat_stream_content(s, &n), g->content);
    assert_int_equal(n, g->n_content);
    assert_string_equal(smol_chat_stream_reasoning(s, &n), g->reasoning);
    assert_int_equal(n, g->n_reasoning);
    assert_int_equal(smol_chat_stream_n_tool_calls(s), g->n_calls);
    for (int i = 0; i < g->n_calls; i++) {
        bool complete = false;
        assert_string_equal(smol_chat_stream_tool_call(s, i, &n, &complete), g->calls[i]);
        assert_int_equal(n, strlen(g->calls[i]));
        assert_int_equal(complete, g->complete[i]);
    }
    assert_null(smol_chat_stream_tool_call(s, g->n_calls, NULL, NULL));
    assert_null(smol_chat_stream_tool_call(s, -1, NULL, NULL));
    smol_chat_stream_free(s);
}

static void check_case(const struct scase *c, const struct got *g, const char *how)
{
    if (strcmp(g->reasoning, c->reasoning) || strcmp(g->content, c->content) ||
        strcmp(g->order, c->order) || g->n_calls != c->n_calls ||
        g->stop_index != c->stop_index || g->halted != (c->stop_index >= 0) ||
        g->ended_in_reasoning != c->ended_in_reasoning)
        fail_msg("%s (%s): reasoning '%s' content '%s' order '%s' calls %d stop %d halted %d "
                 "ended_in_reasoning %d",
                 c->name, how, g->reasoning, g->content, g->order, g->n_calls, g->stop_index,
                 g->halted, g->ended_in_reasoning);
    for (int i = 0; i < c->n_calls; i++) {
        if (strcmp(g->calls[i], c->calls[i]))
            fail_msg("%s (%s): tool call %d is '%s', expected '%s'", c->name, how, i,
                     g->calls[i], c->calls[i]);
        const bool want = !(c->last_incomplete && i == c->n_calls - 1);
        if (g->complete[i] != want)
            fail_msg("%s (%s): tool call %d complete %d", c->name, how, i, g->complete[i]);
    }
}

static void test_whole_and_bytewise(void **state)
{
    (void)state;
    for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
        const struct scase *c = &cases[k];
        struct got g;
        run_cuts(c, NULL, 0, &g);
        check_case(c, &g, "whole");
        size_t cuts[512];
        const size_t len = strlen(c->text);
        assert_true(len < ARRAY_SIZE(cuts));
        for (size_t i = 1; i < len; i++)
            cuts[i - 1] = i;
        run_cuts(c, cuts, (int)len - 1, &g);
        check_case(c, &g, "one byte at a time");
    }
}

static void test_every_split(void **state)
{
    (void)state;
    char how[64];
    for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
        const struct scase *c = &cases[k];
        const size_t len = strlen(c->text);
        struct got g;
        for (size_t i = 0; i <= len; i++) {
            const size_t cut[1] = {i};
            run_cuts(c, cut, 1, &g);
            snprintf(how, sizeof(how), "split at %zu", i);
            check_case(c, &g, how);
        }
    }
}

/* Every pair of cut positions, which puts a whole short tag or stop
 * string in a piece of its own and splits both ends of it. */
static void test_every_pair_of_splits(void **state)
{
    (void)state;
    char how[64];
    for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
        const struct scase *c = &cases[k];
        const size_t len = strlen(c->text);
        if (len > 90)
            continue;
        struct got g;
        for (size_t i = 0; i <= len; i++)
            for (size_t j = i; j <= len; j++) {
                const size_t cut[2] = {i, j};
                run_cuts(c, cut, 2, &g);
                snprintf(how, sizeof(how), "split at %zu and %zu", i, j);
                check_case(c, &g, how);
            }
    }
}

static void test_random_splits(void **state)
{
    (void)state;
    uint64_t rng = 20260708;
    char how[64];
    for (int round = 0; round < 200; round++)
        for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
            const struct scase *c = &cases[k];
            const size_t len = strlen(c->text);
            size_t cuts[64];
            int n = 0;
            for (size_t at = 0; n < 64;) {
                at += 1 + test_rand_u64(&rng) % 6;
                if (at >= len)
                    break;
                cuts[n++] = at;
            }
            struct got g;
            run_cuts(c, cuts, n, &g);
            snprintf(how, sizeof(how), "random split, round %d", round);
            check_case(c, &g, how);
        }
}

/* ---- text leaves as early as possible ---- */

static void feed(struct smol_chat_stream *s, const char *text, struct got *g, int want_rc)
{
    assert_int_equal(smol_chat_stream_feed(s, text, strlen(text), got_event, g), want_rc);
}

static void test_early_emission(void **state)
{
    (void)state;
    struct got g = {0};
    const char *stop[] = {"STOP"};
    const struct smol_chat_stream_opts o = {.stop = stop, .n_stop = 1};
    struct smol_chat_stream *s = smol_chat_stream_new(&o, NULL);
    assert_non_null(s);
    feed(s, "The answer is 42.", &g, 0);
    assert_string_equal(g.content, "The answer is 42.");
    feed(s, " S", &g, 0); /* "S" may start "STOP" */
    assert_string_equal(g.content, "The answer is 42. ");
    feed(s, "T", &g, 0);
    feed(s, "OW", &g, 0); /* not a stop after all: all of it goes */
    assert_string_equal(g.content, "The answer is 42. STOW");
    feed(s, " <tool", &g, 0); /* "<tool" may start "<tool_call>" */
    assert_string_equal(g.content, "The answer is 42. STOW ");
    feed(s, "box> ST", &g, 0);
    assert_string_equal(g.content, "The answer is 42. STOW <toolbox> ");
    feed(s, "OP!", &g, 1);
    assert_string_equal(g.content, "The answer is 42. STOW <toolbox> ");
    assert_int_equal(smol_chat_stream_stop_index(s), 0);
    feed(s, "more", &g, 1);
    assert_int_equal(smol_chat_stream_finish(s, got_event, &g), 0);
    assert_string_equal(g.content, "The answer is 42. STOW <toolbox> ");
    smol_chat_stream_free(s);

    /* reasoning: only whitespace that may turn out trailing waits */
    memset(&g, 0, sizeof(g));
    s = smol_chat_stream_new(NULL, NULL);
    assert_non_null(s);
    feed(s, "<thi", &g, 0);
    assert_int_equal(g.n_events, 0);
    feed(s, "nk>\nLet", &g, 0);
    assert_string_equal(g.reasoning, "Let");
    feed(s, " me", &g, 0);
    assert_string_equal(g.reasoning, "Let me");
    feed(s, " think.\n", &g, 0);
    assert_string_equal(g.reasoning, "Let me think.");
    feed(s, "</", &g, 0);
    feed(s, "think>\n\nHello", &g, 0);
    assert_string_equal(g.reasoning, "Let me think.");
    assert_string_equal(g.content, "Hello");
    assert_string_equal(g.order, "RC");
    /* a tool call leaves only when complete */
    feed(s, "<tool_call>{\"a\":", &g, 0);
    assert_int_equal(g.n_calls, 0);
    feed(s, " 1}</tool_call", &g, 0);
    assert_int_equal(g.n_calls, 0);
    feed(s, ">", &g, 0);
    assert_int_equal(g.n_calls, 1);
    assert_string_equal(g.calls[0], "{\"a\": 1}");
    assert_int_equal(smol_chat_stream_finish(s, got_event, &g), 0);
    assert_int_equal(smol_chat_stream_finish(s, got_event, &g), 0); /* idempotent */
    assert_int_equal(smol_chat_stream_feed(s, "x", 1, got_event, &g), 1);
    assert_string_equal(g.order, "RCT");
    smol_chat_stream_free(s);
}

/* The event callback can halt the stream, like a stop string. */
static void test_callback_halts(void **state)
{
    (void)state;
    struct got g = {0};
    g.halt_after = 2;
    struct smol_chat_stream *s = smol_chat_stream_new(NULL, NULL);
    assert_non_null(s);
    feed(s, "<think>a</think>b", &g, 1);
    feed(s, "c", &g, 1);
    assert_int_equal(smol_chat_stream_finish(s, got_event, &g), 0);
    assert_int_equal(g.n_events, 2);
    assert_string_equal(smol_chat_stream_content(s, NULL), "b");
    assert_int_equal(smol_chat_stream_stop_index(s), -1);
    smol_chat_stream_free(s);

    /* without a callback the stream still accumulates */
    s = smol_chat_stream_new(NULL, NULL);
    assert_non_null(s);
    assert_int_equal(smol_chat_stream_feed(s, "<think>a</think>b", 17, NULL, NULL), 0);
    assert_int_equal(smol_chat_stream_finish(s, NULL, NULL), 0);
    assert_string_equal(smol_chat_stream_reasoning(s, NULL), "a");
    assert_string_equal(smol_chat_stream_content(s, NULL), "b");
    smol_chat_stream_free(s);
}

/* ---- options ---- */

static void expect_bad_opts(const struct smol_chat_stream_opts *o, const char *want)
{
    struct smol_err err = {0};
    assert_null(smol_chat_stream_new(o, &err));
    assert_int_equal(err.code, SMOL_EINVAL);
    if (!strstr(err.msg, want))
        fail_msg("error '%s' does not say '%s'", err.msg, want);
}

static void test_bad_options(void **state)
{
    (void)state;
    char long_stop[SMOL_CHAT_STOP_MAX_BYTES + 2];
    memset(long_stop, 'x', sizeof(long_stop) - 1);
    long_stop[sizeof(long_stop) - 1] = '\0';
    const char *many[SMOL_CHAT_MAX_STOP + 1];
    for (int i = 0; i <= SMOL_CHAT_MAX_STOP; i++)
        many[i] = "s";

    struct smol_chat_stream_opts o = {.stop = many, .n_stop = SMOL_CHAT_MAX_STOP + 1};
    expect_bad_opts(&o, "17 stop strings given, at most 16");
    o.n_stop = -1;
    expect_bad_opts(&o, "-1 stop strings");
    const char *one_long[] = {"ok", long_stop};
    o = (struct smol_chat_stream_opts){.stop = one_long, .n_stop = 2};
    expect_bad_opts(&o, "stop string 1 is longer than 256 bytes");
    const char *empty[] = {""};
    o = (struct smol_chat_stream_opts){.stop = empty, .n_stop = 1};
    expect_bad_opts(&o, "stop string 0 is empty");
    const char *null_one[] = {"a", "b", NULL};
    o = (struct smol_chat_stream_opts){.stop = null_one, .n_stop = 3};
    expect_bad_opts(&o, "stop string 2 is NULL");
    o = (struct smol_chat_stream_opts){.stop = NULL, .n_stop = 1};
    expect_bad_opts(&o, "array is NULL");
    const char *bad_utf8[] = {"ab\xff"};
    o = (struct smol_chat_stream_opts){.stop = bad_utf8, .n_stop = 1};
    expect_bad_opts(&o, "not valid UTF-8 at byte 2");

    /* the limits themselves are fine */
    long_stop[SMOL_CHAT_STOP_MAX_BYTES] = '\0';
    many[SMOL_CHAT_MAX_STOP - 1] = long_stop;
    o = (struct smol_chat_stream_opts){.stop = many, .n_stop = SMOL_CHAT_MAX_STOP};
    struct smol_err err = {0};
    struct smol_chat_stream *s = smol_chat_stream_new(&o, &err);
    assert_non_null(s);
    assert_int_equal(err.code, 0);
    /* the copies are the stream's: the caller's strings may go */
    long_stop[0] = 'y';
    assert_int_equal(smol_chat_stream_feed(s, "ab", 2, NULL, NULL), 0);
    assert_int_equal(smol_chat_stream_finish(s, NULL, NULL), 0);
    assert_string_equal(smol_chat_stream_content(s, NULL), "ab");
    smol_chat_stream_free(s);
    smol_chat_stream_free(NULL);
}

/* ---- the history form ---- */

static void expect_history(const char *reasoning, const char *answer, const char *const *calls,
                           int n, bool thinking, const char *want)
{
    char *h = smol_chat_history_content(reasoning, answer, calls, n, thinking);
    assert_non_null(h);
    assert_string_equal(h, want);
    free(h);
}

static void test_history_content(void **state)
{
    (void)state;
    /* the layouts of ../shared/fixtures/chat/renders.jsonl */
    expect_history("The user greets me.", "Hello! How can I help?", NULL, 0, true,
                   "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?");
    expect_history("The user greets me.", "Hello! How can I help?", NULL, 0, false,
                   "Hello! How can I help?");
    const char *one[] = {TOOL_JSON};
    expect_history(NULL, "", one, 1, true, "<tool_call>\n" TOOL_JSON "\n</tool_call>");
    const char *two[] = {"{1}", "{2}"};
    expect_history(NULL, "A.", two, 2, false,
                   "A.\n<tool_call>\n{1}\n</tool_call>\n<tool_call>\n{2}\n</tool_call>");
    expect_history(NULL, "A.\n", two, 1, false, "A.\n<tool_call>\n{1}\n</tool_call>");
    expect_history("r", NULL, two, 1, true,
                   "<think>\nr\n</think>\n\n<tool_call>\n{1}\n</tool_call>");
    expect_history("", "x", NULL, 0, true, "<think>\n\n</think>\n\nx");
    expect_history(NULL, NULL, NULL, 0, true, "");
}

static char *stream_history(const char *text, bool thinking)
{
    const struct smol_chat_stream_opts o = {.thinking = thinking};
    struct smol_chat_stream *s = smol_chat_stream_new(&o, NULL);
    assert_non_null(s);
    assert_int_equal(smol_chat_stream_feed(s, text, strlen(text), NULL, NULL), 0);
    assert_int_equal(smol_chat_stream_finish(s, NULL, NULL), 0);
    char *h = smol_chat_stream_history(s);
    assert_non_null(h);
    smol_chat_stream_free(s);
    return h;
}

static void test_stream_history(void **state)
{
    (void)state;
    char *h = stream_history("<think>Let me think.</think>\n\nHello there!", true);
    assert_string_equal(h, "<think>\nLet me think.\n</think>\n\nHello there!");
    free(h);
    /* no-think mode: the template writes the (empty) think block itself */
    h = stream_history("<think>Let me think.</think>\n\nHello there!", false);
    assert_string_equal(h, "Hello there!");
    free(h);
    /* think mode without a think block: none is invented */
    h = stream_history("Hello there!", true);
    assert_string_equal(h, "Hello there!");
    free(h);
    h = stream_history("<tool_call>" TOOL_JSON "</tool_call>", true);
    assert_string_equal(h, "<tool_call>\n" TOOL_JSON "\n</tool_call>");
    free(h);
    /* an unterminated tool call is left out */
    h = stream_history("Checking.<tool_call>{}</tool_call><tool_call>{\"na", false);
    assert_string_equal(h, "Checking.\n<tool_call>\n{}\n</tool_call>");
    free(h);
    /* a turn cut inside <think> still renders as a closed block */
    h = stream_history("<think>\nhmm", true);
    assert_string_equal(h, "<think>\nhmm\n</think>\n\n");
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_bytewise),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_every_pair_of_splits),
        cmocka_unit_test(test_random_splits),
        cmocka_unit_test(test_early_emission),
        cmocka_unit_test(test_callback_halts),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_history_content),
        cmocka_unit_test(test_stream_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
