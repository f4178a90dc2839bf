/*
 * test_server.c: the server's pieces below HTTP: bounded JSON parsing,
 * the OpenAI request parser (defaults, switches, every limit and the
 * parameter each error names), SSE framing and the stream's keep-alive,
 * close and backpressure, and the worker on the scripted fixture models
 * (fair order across clients, cancellation within a token, KV reuse,
 * raw stop strings, queue limits).
 */
#include "testutil.h"
#include "json.h"
#include "openai.h"
#include "smol.h"
#include "sse.h"
#include "worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

/* ---- json ---- */

static void test_json_parse_bounds(void **state)
{
    (void)state;
    struct json_err e;
    assert_int_equal(json_depth_exceeded("[[[]]]", 6, 3), -1);
    assert_int_equal(json_depth_exceeded("[[[[]]]]", 8, 3), 3);
    /* brackets inside strings (and escaped quotes) do not count */
    const char *s = "{\"a\": \"[[[[\\\"[[[[\"}";
    assert_int_equal(json_depth_exceeded(s, strlen(s), 1), -1);
    assert_null(json_parse("[[[[1]]]]", 9, 3, &e));
    assert_non_null(strstr(e.msg, "deeper than 3"));
    assert_null(json_parse("{\"a\": 1,}", 9, 8, &e));
    assert_non_null(strstr(e.msg, "offset"));
    assert_null(json_parse("{\"t\": 1e999}", 12, 8, &e));
    assert_string_equal(e.param, "t");
    assert_null(json_parse("{\"t\": NaN}", 10, 8, &e));
    assert_null(json_parse("{} x", 4, 8, &e));
    assert_non_null(strstr(e.msg, "after the JSON value"));
    cJSON *ok = json_parse("{\"n\": 3, \"f\": 0.5, \"s\": \"x\", \"b\": true, \"z\": null} ", 50, 8, &e);
    assert_non_null(ok);
    long long n;
    double f;
    const char *str;
    bool b;
    assert_int_equal(json_get_int(ok, "n", 0, 10, &n, &e), 1);
    assert_int_equal(n, 3);
    assert_int_equal(json_get_int(ok, "f", 0, 10, &n, &e), -1);
    assert_string_equal(e.param, "f");
    assert_int_equal(json_get_int(ok, "n", 4, 10, &n, &e), -1);
    assert_int_equal(json_get_number(ok, "f", 0, 1, &f, &e), 1);
    assert_true(f == 0.5);
    assert_int_equal(json_get_number(ok, "s", 0, 1, &f, &e), -1);
    assert_int_equal(json_get_string(ok, "s", 1, &str, &e), 1);
    assert_int_equal(json_get_string(ok, "s", 0, &str, &e), -1);
    assert_int_equal(json_get_bool(ok, "b", &b, &e), 1);
    assert_true(b);
    assert_int_equal(json_get_bool(ok, "z", &b, &e), 0); /* null is absent */
    assert_int_equal(json_get_bool(ok, "missing", &b, &e), 0);
    cJSON_Delete(ok);
}

/* ---- the OpenAI request parser ---- */

static struct openai_limits limits(void)
{
    struct openai_limits l;
    openai_limits_default(&l);
    l.max_tokens = 4096;
    l.n_vocab = 2304;
    return l;
}

static void test_openai_parse_defaults_and_fields(void **state)
{
    (void)state;
    struct openai_limits l = limits();
    struct openai_request q;
    struct json_err e;
    const char *min = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}";
    assert_int_equal(openai_parse_request(min, strlen(min), true, &l, &q, &e), 0);
    assert_true(q.gen.sampling.temperature == 0.6f); /* the model card's defaults */
    assert_true(q.gen.sampling.top_p == 0.95f);
    assert_int_equal(q.gen.max_tokens, 0);
    assert_int_equal(q.thinking, -1);
    assert_false(q.stream);
    assert_int_equal(q.n_stop, 0);
    assert_int_equal(cJSON_GetArraySize(q.messages), 1);
    openai_request_release(&q);

    const char *full =
        "{\"model\": \"m\", \"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
        " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}]}],"
        " \"temperature\": 0, \"top_p\": 0.5, \"top_k\": 7, \"min_p\": 0.1, \"seed\": 42,"
        " \"max_tokens\": 9, \"max_completion_tokens\": 11, \"stop\": [\"A\", \"\", \"BC\"],"
        " \"stream\": true, \"stream_options\": {\"include_usage\": true},"
        " \"chat_template_kwargs\": {\"enable_thinking\": false}, \"n\": 1, \"user\": \"u\","
        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}],"
        " \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"f\"}},"
        " \"unknown_extra\": [1, 2]}";
    assert_int_equal(openai_parse_request(full, strlen(full), true, &l, &q, &e), 0);
    assert_true(q.gen.sampling.temperature == 0.0f);
    assert_true(q.gen.sampling.top_p == 0.5f);
    assert_int_equal(q.gen.sampling.top_k, 7);
    assert_true(q.gen.sampling.min_p == 0.1f);
    assert_int_equal(q.gen.sampling.seed, 42);
    assert_int_equal(q.gen.max_tokens, 11); /* max_completion_tokens wins */
    assert_int_equal(q.n_stop, 2);          /* the empty one is dropped */
    assert_string_equal(q.stop[0], "A");
    assert_string_equal(q.stop[1], "BC");
    assert_true(q.stream && q.include_usage);
    assert_int_equal(q.thinking, 0);
    assert_int_equal(q.tool_choice, OPENAI_TOOLS_NAMED);
    assert_string_equal(q.tool_name, "f");
    assert_string_equal(q.model, "m");
    assert_string_equal(q.user, "u");
    openai_request_release(&q);

    const char *effort = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],"
                         " \"reasoning_effort\": \"none\", \"stop\": \"X\", \"seed\": -1}";
    assert_int_equal(openai_parse_request(effort, strlen(effort), true, &l, &q, &e), 0);
    assert_int_equal(q.thinking, 0);
    assert_int_equal(q.n_stop, 1);
    assert_true(q.gen.sampling.seed == SMOL_SEED_RANDOM);
    openai_request_release(&q);

    const char *comp = "{\"prompt\": [\"raw text\"], \"max_tokens\": 3}";
    assert_int_equal(openai_parse_request(comp, strlen(comp), false, &l, &q, &e), 0);
    assert_string_equal(q.prompt, "raw text");
    assert_int_equal(q.gen.max_tokens, 3);
    openai_request_release(&q);
}

static void test_openai_parse_errors(void **state)
{
    (void)state;
    struct openai_limits l = limits();
    l.max_messages = 3;
    l.max_message_bytes = 10;
    l.max_tools = 1;
    static const struct {
        bool chat;
        const char *body;
        const char *param; /* "" for the whole body */
    } cases[] = {
#define MSG "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]"
        {true, "[1]", ""},
        {true, "{\"messages\": [{\"role\": \"user\"", ""},
        {true, "{}", "messages"},
        {true, "{\"messages\": {}}", "messages"},
        {true, "{\"messages\": []}", "messages"},
        {true, "{\"messages\": [1, 2, 3, 4]}", "messages"},
        {true, "{\"messages\": [5]}", "messages[0]"},
        {true, "{\"messages\": [{\"content\": \"x\"}]}", "messages[0]"},
        {true, "{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}", "messages[0]"},
        {true, "{\"messages\": [{\"role\": \"user\", \"content\": 3}]}", "messages[0].content"},
        {true, "{\"messages\": [{\"role\": \"user\", \"content\": \"12345678901\"}]}",
         "messages[0].content"},
        {true, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}",
         "messages[0].content"},
        {true, "{" MSG ", \"temperature\": -0.1}", "temperature"},
        {true, "{" MSG ", \"temperature\": 2.5}", "temperature"},
        {true, "{" MSG ", \"temperature\": \"1\"}", "temperature"},
        {true, "{" MSG ", \"top_p\": 1.5}", "top_p"},
        {true, "{" MSG ", \"min_p\": -1}", "min_p"},
        {true, "{" MSG ", \"top_k\": 2305}", "top_k"},
        {true, "{" MSG ", \"top_k\": 1.5}", "top_k"},
        {true, "{" MSG ", \"seed\": -2}", "seed"},
        {true, "{" MSG ", \"seed\": 1e300}", "seed"},
        {true, "{" MSG ", \"max_tokens\": 0}", "max_tokens"},
        {true, "{" MSG ", \"max_tokens\": 4097}", "max_tokens"},
        {true, "{" MSG ", \"max_completion_tokens\": -1}", "max_completion_tokens"},
        {true, "{" MSG ", \"n\": 2}", "n"},
        {true, "{" MSG ", \"stream\": 1}", "stream"},
        {true, "{" MSG ", \"stream_options\": {\"include_usage\": \"yes\"}}", "include_usage"},
        {true, "{" MSG ", \"stop\": [1]}", "stop"},
        {true, "{" MSG ", \"stop\": {}}", "stop"},
        {true, "{" MSG ", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
               "\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}", "stop"},
        {true, "{" MSG ", \"tools\": {}}", "tools"},
        {true, "{" MSG ", \"tools\": [{\"type\": \"function\"}]}", "tools[0]"},
        {true, "{" MSG ", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"a\"}},"
               " {\"type\": \"function\", \"function\": {\"name\": \"b\"}}]}", "tools"},
        {true, "{" MSG ", \"tool_choice\": \"sometimes\"}", "tool_choice"},
        {true, "{" MSG ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"x\"}}}",
         "tool_choice"},
        {true, "{" MSG ", \"chat_template_kwargs\": {\"enable_thinking\": \"no\"}}",
         "enable_thinking"},
        {true, "{" MSG ", \"reasoning_effort\": \"max\"}", "reasoning_effort"},
        {true, "{" MSG ", \"response_format\": {\"type\": \"json_object\"}}", "response_format"},
        {true, "{" MSG ", \"logprobs\": true}", "logprobs"},
        {true, "{" MSG ", \"presence_penalty\": 3}", "presence_penalty"},
        {true, "{" MSG ", \"model\": 7}", "model"},
        {false, "{\"prompt\": 5}", "prompt"},
        {false, "{\"prompt\": [\"a\", \"b\"]}", "prompt"},
        {false, "{\"prompt\": \"a\", \"echo\": true}", "echo"},
        {false, "{\"prompt\": \"a\", \"best_of\": 2}", "best_of"},
#undef MSG
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct openai_request q;
        struct json_err e;
        memset(&e, 0, sizeof(e));
        int rc = openai_parse_request(cases[i].body, strlen(cases[i].body), cases[i].chat, &l,
                                      &q, &e);
        if (rc != -1 || strcmp(e.param, cases[i].param))
            fail_msg("case %zu (%s): rc %d, param '%s' (want '%s'): %s", i, cases[i].body, rc,
                     e.param, cases[i].param, e.msg);
        assert_true(strlen(e.msg) > 10);
        assert_null(q.root);
    }
}

/* ---- SSE framing and the stream ---- */

static long read_all(struct sse_stream *s, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        long r = sse_stream_read(s, out + n, cap - n - 1, -1, 0, NULL);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    return (long)n;
}

static void test_sse_framing(void **state)
{
    (void)state;
    struct sse_stream *s = sse_stream_new(0, 1000);
    assert_non_null(s);
    assert_int_equal(sse_stream_data(s, "{\"a\":1}", 7), SSE_OK);
    assert_int_equal(sse_stream_event(s, "msg", "7", "one\ntwo\r\nthree\n", 15), SSE_OK);
    assert_int_equal(sse_stream_event(s, NULL, NULL, "", 0), SSE_OK);
    assert_int_equal(sse_stream_event(s, "bad\nname", NULL, "x", 1), SMOL_EINVAL);
    sse_stream_close(s, 200);
    char out[512];
    read_all(s, out, sizeof(out));
    assert_string_equal(out, "data: {\"a\":1}\n\n"
                             "event: msg\nid: 7\ndata: one\ndata: two\ndata: three\ndata: \n\n"
                             "data: \n\n");
    /* closed and drained: the end; later writes are refused */
    assert_int_equal(sse_stream_read(s, out, sizeof(out), -1, 0, NULL), SSE_READ_END);
    assert_int_equal(sse_stream_write(s, "x", 1), SSE_GONE);
    sse_stream_unref(s);
}

static void test_sse_keepalive_and_stop(void **state)
{
    (void)state;
    struct sse_stream *s = sse_stream_new(0, 1000);
    char out[64];
    long n = sse_stream_read(s, out, sizeof(out), -1, 30, NULL);
    assert_int_equal(n, 14);
    assert_memory_equal(out, ": keep-alive\n\n", 14);
    atomic_bool stop;
    atomic_init(&stop, true);
    assert_int_equal(sse_stream_read(s, out, sizeof(out), -1, 0, &stop), SSE_READ_END);
    assert_int_equal(sse_stream_wait_closed(s, -1, &stop), 0);
    /* a hung-up client: the reader reports it and the writer learns */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_false(sse_fd_hung_up(sv[0]));
    close(sv[1]);
    assert_true(sse_fd_hung_up(sv[0]));
    assert_int_equal(sse_stream_read(s, out, sizeof(out), sv[0], 0, NULL), SSE_READ_CLIENT_GONE);
    assert_true(sse_stream_is_gone(s));
    assert_int_equal(sse_stream_data(s, "x", 1), SSE_GONE);
    close(sv[0]);
    sse_stream_unref(s);
}

static void test_sse_backpressure(void **state)
{
    (void)state;
    /* 64 unread bytes at most; nobody reads, so the writer gives up
     * after stall_ms and the stream counts as gone */
    struct sse_stream *s = sse_stream_new(64, 50);
    char big[100];
    memset(big, 'x', sizeof(big));
    assert_int_equal(sse_stream_write(s, big, sizeof(big)), SSE_OK); /* the first always fits */
    assert_int_equal(sse_stream_write(s, big, 10), SSE_GONE);
    assert_true(sse_stream_is_gone(s));
    size_t len;
    int status;
    sse_stream_close(s, 503);
    const char *body = sse_stream_body(s, &len, &status);
    assert_int_equal(len, 100);
    assert_int_equal(status, 503);
    assert_memory_equal(body, big, 100);
    sse_stream_unref(s);
}

/* ---- the worker, on the scripted models ---- */

struct rec {
    atomic_int pieces[8];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char text[8][4096];
    struct worker_result res[8];
    int order[8];
    int n_done;
};

struct job_user {
    struct rec *r;
    int index;
};

static int rec_event(void *user, int channel, const char *text, size_t len)
{
    struct job_user *u = user;
    atomic_fetch_add(&u->r->pieces[u->index], 1);
    char *t = u->r->text[u->index];
    size_t have = strlen(t);
    if (channel == SMOL_CH_CONTENT && have + len < 4096) {
        memcpy(t + have, text, len);
        t[have + len] = '\0';
    }
    return 0;
}

static void rec_done(void *user, const struct worker_result *res)
{
    struct job_user *u = user;
    pthread_mutex_lock(&u->r->mu);
    u->r->res[u->index] = *res;
    u->r->order[u->r->n_done++] = u->index;
    pthread_cond_broadcast(&u->r->cv);
    pthread_mutex_unlock(&u->r->mu);
}

static void rec_wait(struct rec *r, int n)
{
    pthread_mutex_lock(&r->mu);
    while (r->n_done < n)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static const struct worker_job_ops rec_ops = {rec_event, rec_done, NULL};

static struct smol_model *open_scripted(const char *name, int32_t **ids, int *n)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "scripted/%s.gguf", name);
    struct smol_err err = {0};
    struct smol_model *m = smol_model_open(test_fixture(rel), NULL, &err);
    if (!m)
        fail_msg("%s: %s", rel, err.msg);
    char *p = smol_render_prompt(m, NULL, "Hi", false, "01 January 2026");
    *n = smol_tokenize(m, p, strlen(p), SMOL_TOKENIZE_SPECIAL, NULL, 0);
    *ids = calloc((size_t)*n, sizeof(int32_t));
    assert_int_equal(smol_tokenize(m, p, strlen(p), SMOL_TOKENIZE_SPECIAL, *ids, *n), *n);
    free(p);
    return m;
}

static void test_worker_fair_queue_and_cancel(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    int32_t *ids;
    int n;
    struct smol_model *m = open_scripted("scripted-long", &ids, &n);
    struct worker_opts wo = {.n_ctx = 4096, .n_slots = 2, .max_queue = 5, .max_per_client = 3};
    struct smol_err err = {0};
    struct worker *w = worker_new(m, &wo, &err);
    assert_non_null(w);
    static struct rec r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    struct job_user u[8];
    for (int i = 0; i < 8; i++)
        u[i] = (struct job_user){&r, i};
    struct worker_job_desc d = {.tokens = ids, .n_tokens = n, .client = "x"};
    smol_sampling_default(&d.gen.sampling);
    /* job 0 runs until cancelled; meanwhile a, a, b queue up */
    struct worker_job *j0 = worker_submit(w, &d, &rec_ops, &u[0], &err);
    assert_non_null(j0);
    d.gen.max_tokens = 5;
    d.client = "a";
    struct worker_job *j1 = worker_submit(w, &d, &rec_ops, &u[1], &err);
    struct worker_job *j2 = worker_submit(w, &d, &rec_ops, &u[2], &err);
    d.client = "b";
    struct worker_job *j3 = worker_submit(w, &d, &rec_ops, &u[3], &err);
    assert_true(j1 && j2 && j3);
    /* the queue holds 4 of 5: one more fits, the next does not */
    d.client = "c";
    struct worker_job *j4 = worker_submit(w, &d, &rec_ops, &u[4], &err);
    assert_non_null(j4);
    err = (struct smol_err){0};
    assert_null(worker_submit(w, &d, &rec_ops, &u[5], &err));
    assert_int_equal(err.code, SMOL_EFULL);
    struct worker_stats st;
    worker_get_stats(w, &st);
    assert_int_equal(st.queued + st.running, 5);
    /* cancel job 0 once it produces text, so its slot still holds
     * mostly the prompt the others share */
    while (atomic_load(&r.pieces[0]) == 0)
        usleep(500);
    worker_job_cancel(j0);
    rec_wait(&r, 5);
    assert_int_equal(r.res[0].finish, WORKER_FINISH_CANCELLED);
    assert_true(r.res[0].n_gen > 0);
    /* served least-recently-served client first: a, b, c, then a again */
    assert_int_equal(r.order[0], 0);
    assert_int_equal(r.order[1], 1);
    assert_int_equal(r.order[2], 3);
    assert_int_equal(r.order[3], 4);
    assert_int_equal(r.order[4], 2);
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(r.res[i].finish, WORKER_FINISH_LENGTH);
        assert_int_equal(r.res[i].n_gen, 5);
        assert_string_equal(r.text[i], "- **Stream"); /* the first 5 tokens */
        /* the same prompt as the last job: all but one token reused */
        assert_int_equal(r.res[i].n_cached, n - 1);
    }
    worker_get_stats(w, &st);
    assert_int_equal(st.jobs_cancelled, 1);
    assert_int_equal(st.jobs_done, 4);
    assert_true(st.last_cancel_tokens <= 1);
    worker_job_unref(j0);
    worker_job_unref(j1);
    worker_job_unref(j2);
    worker_job_unref(j3);
    worker_job_unref(j4);
    assert_int_equal(worker_drain(w, 1000), 0);
    err = (struct smol_err){0};
    assert_null(worker_submit(w, &d, &rec_ops, &u[5], &err));
    assert_int_equal(err.code, SMOL_ECANCELED);
    worker_free(w);
    smol_model_close(m);
    free(ids);
}

static void test_worker_raw_stop_and_chat_split(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    int32_t *ids;
    int n;
    struct smol_model *m = open_scripted("scripted-stop", &ids, &n);
    struct worker_opts wo = {.n_ctx = 1024, .n_slots = 1, .max_queue = 4, .max_per_client = 4};
    struct smol_err err = {0};
    struct worker *w = worker_new(m, &wo, &err);
    static struct rec r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    struct job_user u[3] = {{&r, 0}, {&r, 1}, {&r, 2}};
    /* raw: "STOP" arrives as " S" "T" "O" "P"; " S" is held, then cut */
    const char *stops[] = {"nothing", "STOP"};
    struct worker_job_desc d = {.tokens = ids, .n_tokens = n, .stop = stops, .n_stop = 2,
                                .raw = true, .client = "x"};
    smol_sampling_default(&d.gen.sampling);
    worker_job_unref(worker_submit(w, &d, &rec_ops, &u[0], &err));
    /* the chat split: the same stop in the answer */
    d.raw = false;
    worker_job_unref(worker_submit(w, &d, &rec_ops, &u[1], &err));
    /* no stop: the whole script, then the end of the turn */
    d.n_stop = 0;
    worker_job_unref(worker_submit(w, &d, &rec_ops, &u[2], &err));
    rec_wait(&r, 3);
    assert_string_equal(r.text[0], "The answer is 42. ");
    assert_int_equal(r.res[0].finish, WORKER_FINISH_STOP);
    assert_int_equal(r.res[0].stop_index, 1);
    assert_string_equal(r.text[1], "The answer is 42. ");
    assert_int_equal(r.res[1].finish, WORKER_FINISH_STOP);
    assert_int_equal(r.res[1].stop_index, 1);
    assert_string_equal(r.text[2], "The answer is 42. STOP here. More text.");
    assert_int_equal(r.res[2].finish, WORKER_FINISH_EOG);
    assert_int_equal(r.res[2].n_gen, 20);
    assert_int_equal(r.res[2].n_prompt, n);
    /* a bad stop string fails the submit, not the run */
    const char *empty[] = {""};
    d.stop = empty;
    d.n_stop = 1;
    err = (struct smol_err){0};
    assert_null(worker_submit(w, &d, &rec_ops, &u[0], &err));
    assert_int_equal(err.code, SMOL_EINVAL);
    worker_free(w);
    smol_model_close(m);
    free(ids);
}

/* Slots: a keyed conversation finds its own cache; a prompt that shares
 * only a small part of a long cache gets a fresh slot instead of
 * evicting it. */
static void test_worker_slots(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    int32_t *ids;
    int n;
    struct smol_model *m = open_scripted("scripted-long", &ids, &n);
    struct worker_opts wo = {.n_ctx = 4096, .n_slots = 2, .max_queue = 4, .max_per_client = 4};
    struct smol_err err = {0};
    struct worker *w = worker_new(m, &wo, &err);
    static struct rec r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    struct job_user u[4] = {{&r, 0}, {&r, 1}, {&r, 2}, {&r, 3}};
    struct worker_job_desc d = {.tokens = ids, .n_tokens = n, .client = "x", .conv_key = "k1"};
    smol_sampling_default(&d.gen.sampling);
    d.gen.max_tokens = 2 * n; /* the cache ends up mostly answer */
    worker_job_unref(worker_submit(w, &d, &rec_ops, &u[0], &err));
    rec_wait(&r, 1);
    d.gen.max_tokens = 3;
    d.conv_key = "k2"; /* the same prompt, another conversation */
    worker_job_unref(worker_submit(w, &d, &rec_ops, &u[1], &err));
    rec_wait(&r, 2);
    d.conv_key = "k1";
    worker_job_unref(worker_submit(w, &d, &rec_ops, &u[2], &err));
    rec_wait(&r, 3);
    d.conv_key = NULL; /* no key: the prefix decides, and k2's slot is short */
    worker_job_unref(worker_submit(w, &d, &rec_ops, &u[3], &err));
    rec_wait(&r, 4);
    assert_int_equal(r.res[0].n_cached, 0);
    assert_int_equal(r.res[0].n_gen, 2 * n);
    assert_int_equal(r.res[1].n_cached, 0);     /* a fresh slot */
    assert_int_equal(r.res[2].n_cached, n - 1); /* k1's own slot */
    assert_int_equal(r.res[3].n_cached, n - 1);
    struct worker_stats st;
    worker_get_stats(w, &st);
    assert_int_equal(st.n_slots_used, 2);
    assert_int_equal(st.cached_tokens, 2 * (uint64_t)(n - 1));
    worker_free(w);
    smol_model_close(m);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_parse_bounds),
        cmocka_unit_test(test_openai_parse_defaults_and_fields),
        cmocka_unit_test(test_openai_parse_errors),
        cmocka_unit_test(test_sse_framing),
        cmocka_unit_test(test_sse_keepalive_and_stop),
        cmocka_unit_test(test_sse_backpressure),
        cmocka_unit_test(test_worker_fair_queue_and_cancel),
        cmocka_unit_test(test_worker_raw_stop_and_chat_split),
        cmocka_unit_test(test_worker_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
