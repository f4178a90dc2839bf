/*
 * openai.c: the OpenAI-compatible API and the llama.cpp-style extras.
 * See openai.h for the choices made where OpenAI's API leaves room.
 *
 * The path of a chat completion:
 *
 *   HTTP thread   openai_parse_request (shape, types, ranges) -> the
 *                 messages through smol_messages_from_json and
 *                 smol_chat_render_spans -> smol_tokenize_literal (control
 *                 tokens only from the template, never from a message)
 *                 -> the context check ->
 *                 worker_submit with a struct openai_out as the job's user
 *   worker thread out_event per piece of reasoning / answer / tool call:
 *                 a chunk on the SSE stream, or text gathered for the
 *                 final body; out_done: the last chunk, usage, [DONE], or
 *                 the whole JSON body, then the stream closes
 *   HTTP thread   streamed: libmicrohttpd drains the stream (http.c);
 *                 not streamed: waits for the close, replies with the body.
 *
 * Rendering and tokenizing run on the HTTP thread: they read the model
 * but never run it, their cost is bounded by the body limit, and doing
 * them there lets a prompt that does not fit get its 400 before anything
 * is queued or streamed.
 */
#include "openai.h"
#include "http.h"
#include "mem.h"
#include "sse.h"
#include "utf8.h"
#include "worker.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define OPENAI_MAX_ID 256          /* bytes of model / user / tool names */
#define OPENAI_MAX_TOOL_CALLS 64   /* tool calls reported per answer */

#ifndef SMOL_VERSION
#define SMOL_VERSION "0.1.0"
#endif

void openai_limits_default(struct openai_limits *l)
{
    *l = (struct openai_limits){
        .max_depth = 32,
        .max_messages = 1024,
        .max_message_bytes = 256u << 10,
        .max_tools = 128,
        .max_stop = SMOL_CHAT_MAX_STOP,
        .max_tokens = 1 << 20,
        .n_vocab = 1 << 20,
    };
}

/* ---- request parsing ---- */

/* Bytes of a message's text: a string, or the text parts of an array. */
static int parse_content(const cJSON *msg, int i, size_t max, struct json_err *e)
{
    char param[64];
    snprintf(param, sizeof(param), "messages[%d].content", i);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!c || cJSON_IsNull(c))
        return 0;
    size_t total = 0;
    if (cJSON_IsString(c)) {
        total = strlen(c->valuestring);
    } else if (cJSON_IsArray(c)) {
        int k = 0;
        for (const cJSON *part = c->child; part; part = part->next, k++) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsObject(part) || !cJSON_IsString(t))
                return json_fail(e, param, "%s[%d] must be an object with a \"text\" string "
                                 "(only text parts are supported)", param, k);
            total += strlen(t->valuestring);
        }
    } else {
        return json_fail(e, param, "%s must be a string, an array of text parts or null", param);
    }
    if (total > max)
        return json_fail(e, param, "%s has %zu bytes; the limit is %zu", param, total, max);
    return 0;
}

static int parse_messages(struct openai_request *r, const struct openai_limits *l,
                          struct json_err *e)
{
    if (json_get_kind(r->root, "messages", cJSON_Array, &r->messages, e) < 0)
        return -1;
    if (!r->messages)
        return json_fail(e, "messages", "'messages' is required");
    int n = cJSON_GetArraySize(r->messages);
    if (n < 1 || n > l->max_messages)
        return json_fail(e, "messages", "'messages' must hold 1 to %d messages, got %d",
                         l->max_messages, n);
    int i = 0;
    for (const cJSON *m = r->messages->child; m; m = m->next, i++) {
        char param[64];
        snprintf(param, sizeof(param), "messages[%d]", i);
        if (!cJSON_IsObject(m))
            return json_fail(e, param, "%s must be an object", param);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role))
            return json_fail(e, param, "%s.role must be a string", param);
        static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
        bool known = false;
        for (size_t k = 0; k < ARRAY_SIZE(roles); k++)
            known |= !strcmp(role->valuestring, roles[k]);
        if (!known)
            return json_fail(e, param, "%s.role '%.40s' is not one of system, developer, user, "
                             "assistant, tool", param, role->valuestring);
        if (parse_content(m, i, l->max_message_bytes, e))
            return -1;
    }
    return 0;
}

static int parse_tools(struct openai_request *r, const struct openai_limits *l,
                       struct json_err *e)
{
    if (json_get_kind(r->root, "tools", cJSON_Array, &r->tools, e) < 0)
        return -1;
    int n = r->tools ? cJSON_GetArraySize(r->tools) : 0;
    if (n > l->max_tools)
        return json_fail(e, "tools", "'tools' holds %d tools; the limit is %d", n, l->max_tools);
    if (n == 0)
        r->tools = NULL;
    int i = 0;
    for (const cJSON *t = r->tools ? r->tools->child : NULL; t; t = t->next, i++) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsObject(t) || !cJSON_IsString(type) || strcmp(type->valuestring, "function") ||
            !cJSON_IsObject(fn) || !cJSON_IsString(name) || !*name->valuestring ||
            strlen(name->valuestring) > OPENAI_MAX_ID) {
            char param[32];
            snprintf(param, sizeof(param), "tools[%d]", i);
            return json_fail(e, param, "%s must be {\"type\": \"function\", \"function\": "
                             "{\"name\": ...}} with a name of 1 to %d bytes", param,
                             OPENAI_MAX_ID);
        }
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(r->root, "tool_choice");
    if (!tc || cJSON_IsNull(tc))
        return 0;
    if (cJSON_IsString(tc)) {
        if (!strcmp(tc->valuestring, "auto"))
            r->tool_choice = OPENAI_TOOLS_AUTO;
        else if (!strcmp(tc->valuestring, "none"))
            r->tool_choice = OPENAI_TOOLS_NONE;
        else if (!strcmp(tc->valuestring, "required"))
            r->tool_choice = OPENAI_TOOLS_REQUIRED;
        else
            return json_fail(e, "tool_choice", "'tool_choice' must be \"none\", \"auto\", "
                             "\"required\" or {\"type\": \"function\", \"function\": {\"name\"}}");
        return 0;
    }
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    if (!cJSON_IsObject(tc) || !cJSON_IsString(name))
        return json_fail(e, "tool_choice", "'tool_choice' must be \"none\", \"auto\", "
                         "\"required\" or {\"type\": \"function\", \"function\": {\"name\"}}");
    for (const cJSON *t = r->tools ? r->tools->child : NULL; t; t = t->next) {
        const cJSON *tn = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
        if (!strcmp(tn->valuestring, name->valuestring)) {
            r->tool_choice = OPENAI_TOOLS_NAMED;
            r->tool_name = name->valuestring;
            return 0;
        }
    }
    return json_fail(e, "tool_choice", "'tool_choice' names the function '%.64s', which is "
                     "not in 'tools'", name->valuestring);
}

static int parse_stop(struct openai_request *r, const struct openai_limits *l,
                      struct json_err *e)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r->root, "stop");
    if (!s || cJSON_IsNull(s))
        return 0;
    const cJSON *one = cJSON_IsString(s) ? s : NULL;
    if (!one && !cJSON_IsArray(s))
        return json_fail(e, "stop", "'stop' must be a string or an array of strings");
    int n = one ? 1 : cJSON_GetArraySize(s);
    int max = MIN(l->max_stop, SMOL_CHAT_MAX_STOP);
    if (n > max)
        return json_fail(e, "stop", "'stop' holds %d strings; the limit is %d", n, max);
    for (const cJSON *v = one ? one : s->child; v; v = one ? NULL : v->next) {
        if (!cJSON_IsString(v))
            return json_fail(e, "stop", "'stop' must be a string or an array of strings");
        size_t len = strlen(v->valuestring);
        if (len > SMOL_CHAT_STOP_MAX_BYTES)
            return json_fail(e, "stop", "a stop string has %zu bytes; the limit is %d", len,
                             SMOL_CHAT_STOP_MAX_BYTES);
        if (len > 0) /* an empty stop string would stop at once: ignored */
            r->stop[r->n_stop++] = v->valuestring;
    }
    return 0;
}

/* Sampling, lengths and the switches both endpoints share. */
static int parse_sampling(struct openai_request *r, const struct openai_limits *l,
                          struct json_err *e)
{
    const cJSON *o = r->root;
    struct smol_sampling *sp = &r->gen.sampling;
    double d;
    long long v;
    int got;
    if ((got = json_get_number(o, "temperature", 0, 2, &d, e)) < 0)
        return -1;
    if (got)
        sp->temperature = (float)d;
    if ((got = json_get_number(o, "top_p", 0, 1, &d, e)) < 0)
        return -1;
    if (got)
        sp->top_p = (float)d;
    if ((got = json_get_number(o, "min_p", 0, 1, &d, e)) < 0)
        return -1;
    if (got)
        sp->min_p = (float)d;
    if ((got = json_get_int(o, "top_k", 0, l->n_vocab, &v, e)) < 0)
        return -1;
    if (got)
        sp->top_k = (int)v;
    if ((got = json_get_number(o, "repeat_penalty", 0.01, 10, &d, e)) < 0)
        return -1;
    if (got)
        sp->repeat_penalty = (float)d;
    /* accepted for compatibility and range-checked, not applied */
    if (json_get_number(o, "presence_penalty", -2, 2, &d, e) < 0 ||
        json_get_number(o, "frequency_penalty", -2, 2, &d, e) < 0)
        return -1;
    /* -1 is llama.cpp's "random"; beyond 2^53 a JSON number is not exact */
    if ((got = json_get_int(o, "seed", -1, 1LL << 53, &v, e)) < 0)
        return -1;
    if (got)
        sp->seed = v < 0 ? SMOL_SEED_RANDOM : (uint64_t)v;
    long long mt = 0, mct = 0;
    if ((got = json_get_int(o, "max_tokens", 1, l->max_tokens, &mt, e)) < 0 ||
        json_get_int(o, "max_completion_tokens", 1, l->max_tokens, &mct, e) < 0)
        return -1;
    r->gen.max_tokens = (int)(mct ? mct : mt);
    if (json_get_int(o, "n", 1, 1, &v, e) < 0)
        return -1;
    bool b = false;
    if (json_get_bool(o, "logprobs", &b, e) < 0)
        return -1;
    if (b)
        return json_fail(e, "logprobs", "'logprobs' is not supported");
    if (json_get_bool(o, "stream", &r->stream, e) < 0)
        return -1;
    const cJSON *so = NULL;
    if (json_get_kind(o, "stream_options", cJSON_Object, &so, e) < 0 ||
        (so && json_get_bool(so, "include_usage", &r->include_usage, e) < 0))
        return -1;
    if (json_get_string(o, "model", OPENAI_MAX_ID, &r->model, e) < 0 ||
        json_get_string(o, "user", OPENAI_MAX_ID, &r->user, e) < 0)
        return -1;
    return parse_stop(r, l, e);
}

/* The thinking switches: chat_template_kwargs.enable_thinking and
 * reasoning_effort ("none" turns thinking off, any effort turns it on). */
static int parse_thinking(struct openai_request *r, struct json_err *e)
{
    const cJSON *kw = NULL;
    bool on;
    const char *effort = NULL;
    if (json_get_kind(r->root, "chat_template_kwargs", cJSON_Object, &kw, e) < 0)
        return -1;
    int got = kw ? json_get_bool(kw, "enable_thinking", &on, e) : 0;
    if (got < 0)
        return -1;
    if (got)
        r->thinking = on;
    if (json_get_string(r->root, "reasoning_effort", 16, &effort, e) < 0)
        return -1;
    if (effort) {
        static const char *const on_levels[] = {"minimal", "low", "medium", "high"};
        bool known = !strcmp(effort, "none");
        for (size_t i = 0; i < ARRAY_SIZE(on_levels); i++)
            known |= !strcmp(effort, on_levels[i]);
        if (!known)
            return json_fail(e, "reasoning_effort", "'reasoning_effort' must be none, minimal, "
                             "low, medium or high");
        r->thinking = strcmp(effort, "none") != 0;
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(r->root, "response_format");
    const cJSON *rft = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (rf && !cJSON_IsNull(rf) &&
        (!cJSON_IsObject(rf) || !cJSON_IsString(rft) || strcmp(rft->valuestring, "text")))
        return json_fail(e, "response_format", "only {\"type\": \"text\"} is supported as "
                         "'response_format'");
    return 0;
}

/* /v1/completions: the prompt (a string, or an array of one) and the
 * legacy switches we do not support. */
static int parse_prompt(struct openai_request *r, struct json_err *e)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r->root, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1)
        p = p->child;
    if (!cJSON_IsString(p))
        return json_fail(e, "prompt", "'prompt' must be a string (or an array of one string)");
    r->prompt = p->valuestring;
    bool echo = false;
    long long best_of = 1;
    const char *suffix = NULL;
    if (json_get_bool(r->root, "echo", &echo, e) < 0 ||
        json_get_int(r->root, "best_of", 1, 1, &best_of, e) < 0 ||
        json_get_string(r->root, "suffix", 0, &suffix, e) < 0)
        return -1;
    if (echo)
        return json_fail(e, "echo", "'echo' is not supported");
    return 0;
}

int openai_parse_request(const char *body, size_t len, bool chat, const struct openai_limits *l,
                         struct openai_request *out, struct json_err *e)
{
    *out = (struct openai_request){.chat = chat, .thinking = -1};
    smol_sampling_default(&out->gen.sampling);
    out->root = json_parse(body, len, l->max_depth, e);
    if (!out->root)
        return -1;
    int rc;
    if (!cJSON_IsObject(out->root))
        rc = json_fail(e, NULL, "the body must be a JSON object");
    else if (chat)
        rc = parse_messages(out, l, e) || parse_tools(out, l, e) || parse_thinking(out, e)
                 ? -1 : 0;
    else
        rc = parse_prompt(out, e);
    if (!rc)
        rc = parse_sampling(out, l, e);
    if (rc) {
        cJSON_Delete(out->root);
        *out = (struct openai_request){0};
        return -1;
    }
    return 0;
}

void openai_request_release(struct openai_request *r)
{
    cJSON_Delete(r->root);
    *r = (struct openai_request){0};
}

/* ---- the API object ---- */

struct openai_api {
    struct openai_opts o;      /* model_path, model_id, date owned */
    struct smol_model *m;
    struct worker *w;
    struct smol_model_info info;
    int n_ctx;
    time_t created;
    atomic_int n_streams;
};

/* Random [A-Za-z0-9] characters after prefix, for ids. */
static void openai_make_id(char *out, size_t cap, const char *prefix)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[24];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        /* no entropy: ids need only be unique, not secret */
        static atomic_ullong counter;
        uint64_t c = atomic_fetch_add(&counter, 1) ^ (uint64_t)time(NULL);
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)(c >> (8 * (i % 8))) + (unsigned char)i;
    }
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    for (size_t i = 0; i < sizeof(rnd) && n + 1 < cap; i++)
        out[n++] = abc[rnd[i] % (sizeof(abc) - 1)];
    out[n] = '\0';
}

/* Replies with a cJSON tree (consumed). */
static void openai_reply_tree(struct http_req *req, int status, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        http_reply_error(req, 500, NULL, NULL, NULL, "out of memory building the reply");
        return;
    }
    http_reply_json(req, status, text, strlen(text));
    free(text);
}

static void openai_reply_parse_error(struct http_req *req, const struct json_err *e)
{
    http_reply_error(req, 400, NULL, *e->param ? e->param : NULL, NULL, "%s", e->msg);
}

/* Appends text[0..len) as a JSON string member, with invalid UTF-8
 * replaced by U+FFFD (a token can hold half a character). */
static cJSON *openai_add_text(cJSON *obj, const char *key, const char *text, size_t len)
{
    struct buf b;
    buf_init(&b);
    size_t i = 0;
    int rc = 0;
    while (i < len) {
        uint32_t cp;
        int n = utf8_decode(text + i, len - i, &cp);
        if (n > 0 && cp != 0) {
            rc |= buf_append(&b, text + i, (size_t)n);
            i += (size_t)n;
        } else {
            rc |= buf_append_str(&b, cp == 0 && n > 0 ? "" : "\xEF\xBF\xBD");
            i += n > 0 ? (size_t)n : 1;
        }
    }
    cJSON *s = rc ? NULL : cJSON_AddStringToObject(obj, key, b.data ? b.data : "");
    buf_release(&b);
    return s;
}

/* ---- generation output (worker thread) ---- */

struct openai_call {
    char id[40];
    char *name, *arguments;
};

/* One generation's output state: the job's user. */
struct openai_out {
    struct openai_api *a;
    struct sse_stream *st;
    bool chat, stream, include_usage;
    bool tools_as_text;                 /* tool_choice "none": calls stay text */
    char id[48];
    time_t created;
    struct buf content, reasoning;      /* not streamed: the whole answer */
    struct openai_call calls[OPENAI_MAX_TOOL_CALLS];
    int n_calls;
    bool failed;                        /* out of memory while formatting */
};

static void out_free(void *user)
{
    struct openai_out *o = user;
    sse_stream_unref(o->st);
    buf_release(&o->content);
    buf_release(&o->reasoning);
    for (int i = 0; i < o->n_calls; i++) {
        free(o->calls[i].name);
        free(o->calls[i].arguments);
    }
    free(o);
}

/* A chunk object with id, object, created, model and one choice (or
 * none); *choice receives it. */
static cJSON *out_chunk(const struct openai_out *o, cJSON **choice)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", o->id);
    cJSON_AddStringToObject(c, "object", o->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(c, "created", (double)o->created);
    cJSON_AddStringToObject(c, "model", o->a->o.model_id);
    cJSON_AddStringToObject(c, "system_fingerprint", "smolbot-" SMOL_VERSION);
    cJSON *arr = cJSON_AddArrayToObject(c, "choices");
    if (choice) {
        *choice = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, *choice);
        cJSON_AddNumberToObject(*choice, "index", 0);
    }
    return c;
}

/* Sends a chunk (consumed) as one SSE event. Returns nonzero when the
 * client is gone (the generation should stop). */
static int out_send(struct openai_out *o, cJSON *chunk)
{
    char *text = chunk ? cJSON_PrintUnformatted(chunk) : NULL;
    cJSON_Delete(chunk);
    if (!text) {
        o->failed = true;
        return 1;
    }
    int rc = sse_stream_data(o->st, text, strlen(text));
    free(text);
    return rc != SSE_OK;
}

/* A streamed delta: {"content": t} or {"reasoning_content": t, "reasoning": t}
 * for chat, {"text": t} for completions. */
static int out_send_text(struct openai_out *o, int channel, const char *text, size_t len)
{
    cJSON *choice;
    cJSON *c = out_chunk(o, &choice);
    if (o->chat) {
        cJSON *d = cJSON_AddObjectToObject(choice, "delta");
        if (channel == SMOL_CH_REASONING) {
            openai_add_text(d, "reasoning_content", text, len);
            openai_add_text(d, "reasoning", text, len);
        } else {
            openai_add_text(d, "content", text, len);
        }
    } else {
        openai_add_text(choice, "text", text, len);
    }
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddNullToObject(choice, "finish_reason");
    return out_send(o, c);
}

/* The tool_calls array entry for call i (index for streamed deltas). */
static cJSON *out_call_json(const struct openai_call *call, int index)
{
    cJSON *t = cJSON_CreateObject();
    if (index >= 0)
        cJSON_AddNumberToObject(t, "index", index);
    cJSON_AddStringToObject(t, "id", call->id);
    cJSON_AddStringToObject(t, "type", "function");
    cJSON *f = cJSON_AddObjectToObject(t, "function");
    cJSON_AddStringToObject(f, "name", call->name);
    cJSON_AddStringToObject(f, "arguments", call->arguments);
    return t;
}

/* Answer text: streamed now, or kept for the final body. */
static int out_text(struct openai_out *o, int channel, const char *text, size_t len)
{
    if (o->stream)
        return out_send_text(o, channel, text, len);
    struct buf *b = channel == SMOL_CH_REASONING ? &o->reasoning : &o->content;
    if (buf_append(b, text, len))
        o->failed = true;
    return o->failed;
}

/* A tool call the model wrote: parsed into a call, or kept as text when
 * it does not parse, is incomplete, or tools are off (tool_choice none). */
static int out_tool_call(struct openai_out *o, int channel, const char *text, size_t len)
{
    char *name = NULL, *args = NULL;
    if (channel == SMOL_CH_TOOL_CALL && !o->tools_as_text && o->n_calls < OPENAI_MAX_TOOL_CALLS &&
        smol_tool_call_parse(text, len, &name, &args, NULL) == 0) {
        struct openai_call *call = &o->calls[o->n_calls];
        openai_make_id(call->id, sizeof(call->id), "call_");
        call->name = name;
        call->arguments = args;
        o->n_calls++;
        if (!o->stream)
            return 0;
        cJSON *choice;
        cJSON *c = out_chunk(o, &choice);
        cJSON *d = cJSON_AddObjectToObject(choice, "delta");
        cJSON *arr = cJSON_AddArrayToObject(d, "tool_calls");
        cJSON_AddItemToArray(arr, out_call_json(call, o->n_calls - 1));
        cJSON_AddNullToObject(choice, "logprobs");
        cJSON_AddNullToObject(choice, "finish_reason");
        return out_send(o, c);
    }
    free(name);
    free(args);
    struct buf b;
    buf_init(&b);
    int rc = buf_append_str(&b, "<tool_call>\n") | buf_append(&b, text, len);
    if (channel == SMOL_CH_TOOL_CALL)
        rc |= buf_append_str(&b, "\n</tool_call>");
    rc = rc ? (o->failed = true) : out_text(o, SMOL_CH_CONTENT, b.data, b.len);
    buf_release(&b);
    return rc;
}

static int out_event(void *user, int channel, const char *text, size_t len)
{
    struct openai_out *o = user;
    if (o->stream && sse_stream_is_gone(o->st))
        return 1;
    if (channel == SMOL_CH_TOOL_CALL || channel == SMOL_CH_TOOL_CALL_INCOMPLETE)
        return out_tool_call(o, channel, text, len);
    return out_text(o, channel, text, len);
}

static const char *out_finish_reason(const struct openai_out *o, const struct worker_result *r)
{
    if (r->finish == WORKER_FINISH_LENGTH || r->finish == WORKER_FINISH_CONTEXT)
        return "length";
    return o->n_calls > 0 ? "tool_calls" : "stop";
}

static void out_add_usage(cJSON *obj, const struct worker_result *r)
{
    cJSON *u = cJSON_AddObjectToObject(obj, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + r->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", r->n_cached);
}

/* llama.cpp's timings object: what was evaluated and generated, how fast. */
static void out_add_timings(cJSON *obj, const struct worker_result *r)
{
    cJSON *t = cJSON_AddObjectToObject(obj, "timings");
    int prompt_n = r->n_prompt - r->n_cached;
    cJSON_AddNumberToObject(t, "cache_n", r->n_cached);
    cJSON_AddNumberToObject(t, "prompt_n", prompt_n);
    cJSON_AddNumberToObject(t, "prompt_ms", r->prompt_ms);
    cJSON_AddNumberToObject(t, "prompt_per_second",
                            r->prompt_ms > 0 ? prompt_n * 1e3 / r->prompt_ms : 0.0);
    cJSON_AddNumberToObject(t, "predicted_n", r->n_gen);
    cJSON_AddNumberToObject(t, "predicted_ms", r->gen_ms);
    cJSON_AddNumberToObject(t, "predicted_per_second",
                            r->gen_ms > 0 ? r->n_gen * 1e3 / r->gen_ms : 0.0);
}

/* The error object sent inside a stream or as a body. */
static cJSON *out_error_json(int status, const char *msg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", status >= 500 ? "server_error" : "invalid_request_error");
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    return root;
}

static void out_done_stream(struct openai_out *o, const struct worker_result *r)
{
    if (r->finish == WORKER_FINISH_ERROR) {
        out_send(o, out_error_json(500, r->message));
    } else if (r->finish != WORKER_FINISH_CANCELLED) {
        cJSON *choice;
        cJSON *c = out_chunk(o, &choice);
        if (o->chat)
            cJSON_AddObjectToObject(choice, "delta");
        else
            cJSON_AddStringToObject(choice, "text", "");
        cJSON_AddNullToObject(choice, "logprobs");
        cJSON_AddStringToObject(choice, "finish_reason", out_finish_reason(o, r));
        out_add_timings(c, r);
        out_send(o, c);
        if (o->include_usage) {
            c = out_chunk(o, NULL);
            out_add_usage(c, r);
            out_send(o, c);
        }
    }
    sse_stream_data(o->st, "[DONE]", 6);
}

static void out_done_body(struct openai_out *o, const struct worker_result *r)
{
    cJSON *root;
    int status = 200;
    if (r->finish == WORKER_FINISH_ERROR || o->failed) {
        status = 500;
        root = out_error_json(status, o->failed ? "out of memory formatting the answer"
                                                : r->message);
    } else {
        root = out_chunk(o, NULL);
        cJSON_ReplaceItemInObject(root, "object",
                                  cJSON_CreateString(o->chat ? "chat.completion" : "text_completion"));
        cJSON *choice = cJSON_CreateObject();
        cJSON_AddItemToArray(cJSON_GetObjectItem(root, "choices"), choice);
        cJSON_AddNumberToObject(choice, "index", 0);
        const char *content = o->content.data ? o->content.data : "";
        if (o->chat) {
            cJSON *msg = cJSON_AddObjectToObject(choice, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            if (o->n_calls > 0 && !*content)
                cJSON_AddNullToObject(msg, "content");
            else
                openai_add_text(msg, "content", content, o->content.len);
            if (o->reasoning.len) {
                openai_add_text(msg, "reasoning_content", o->reasoning.data, o->reasoning.len);
                openai_add_text(msg, "reasoning", o->reasoning.data, o->reasoning.len);
            }
            if (o->n_calls > 0) {
                cJSON *arr = cJSON_AddArrayToObject(msg, "tool_calls");
                for (int i = 0; i < o->n_calls; i++)
                    cJSON_AddItemToArray(arr, out_call_json(&o->calls[i], -1));
            }
        } else {
            openai_add_text(choice, "text", content, o->content.len);
        }
        cJSON_AddNullToObject(choice, "logprobs");
        cJSON_AddStringToObject(choice, "finish_reason", out_finish_reason(o, r));
        out_add_usage(root, r);
        out_add_timings(root, r);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text) {
        sse_stream_write(o->st, text, strlen(text));
        free(text);
    } else {
        status = 500;
    }
    sse_stream_close(o->st, status);
}

static void out_done(void *user, const struct worker_result *r)
{
    struct openai_out *o = user;
    if (o->stream) {
        out_done_stream(o, r);
        sse_stream_close(o->st, 200);
    } else {
        out_done_body(o, r);
    }
}

/* ---- chat and completions handlers (HTTP thread) ---- */

/* The hooks' context for a streamed reply. */
struct openai_conn {
    struct openai_api *a;
    struct worker_job *job;
};

static void conn_gone(void *ctx)
{
    struct openai_conn *c = ctx;
    worker_job_cancel(c->job);
}

static void conn_release(void *ctx)
{
    struct openai_conn *c = ctx;
    worker_job_unref(c->job);
    atomic_fetch_sub(&c->a->n_streams, 1);
    free(c);
}

/* The tools the template sees: all, the named one, or none. Caller frees. */
static char *openai_tools_json(const struct openai_request *q)
{
    if (!q->tools || q->tool_choice == OPENAI_TOOLS_NONE)
        return NULL;
    if (q->tool_choice != OPENAI_TOOLS_NAMED)
        return cJSON_PrintUnformatted(q->tools);
    cJSON *one = cJSON_CreateArray();
    for (const cJSON *t = q->tools->child; t; t = t->next) {
        const cJSON *tn = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
        if (!strcmp(tn->valuestring, q->tool_name))
            cJSON_AddItemToArray(one, cJSON_Duplicate(t, true));
    }
    char *text = cJSON_PrintUnformatted(one);
    cJSON_Delete(one);
    return text;
}

/* Renders a chat request's prompt (caller frees); *thinking receives the
 * mode used, and spans (may be NULL) the malloc'd ranges of the caller's
 * text in it (*n_spans of them; caller frees). NULL after replying with
 * the error. */
static char *openai_render(struct openai_api *a, struct http_req *req,
                           const struct openai_request *q, bool *thinking,
                           struct smol_span **spans, int *n_spans)
{
    char *msgs_json = cJSON_PrintUnformatted(q->messages);
    char *tools = openai_tools_json(q);
    struct smol_message *msgs = NULL;
    int n = 0;
    char *prompt = NULL;
    struct smol_err err = {0};
    if (!msgs_json || (q->tools && q->tool_choice != OPENAI_TOOLS_NONE && !tools)) {
        http_reply_error(req, 500, NULL, NULL, NULL, "out of memory reading the messages");
        goto done;
    }
    if (smol_messages_from_json(msgs_json, strlen(msgs_json), &msgs, &n, &err) < 0) {
        http_reply_error(req, err.code == SMOL_ENOMEM ? 500 : 400, NULL, "messages", NULL, "%s",
                         err.msg);
        goto done;
    }
    struct smol_chat_opts co = {.thinking = q->thinking, .tools_json = tools,
                                .date = a->o.date};
    prompt = smol_chat_render_spans(a->m, msgs, n, &co, spans, n_spans, &err);
    if (!prompt) {
        http_reply_error(req, err.code == SMOL_ENOMEM ? 500 : 400, NULL, NULL, NULL, "%s",
                         err.msg);
        goto done;
    }
    *thinking = smol_chat_thinking(a->m, msgs, n, &co);
done:
    smol_messages_free(msgs, n);
    free(msgs_json);
    free(tools);
    return prompt;
}

/* Tokenizes text into a malloc'd array (*n tokens), control tokens
 * parsed (with SMOL_TOKENIZE_SPECIAL) only outside spans[0..n_spans), the
 * caller's text of a rendered chat. NULL after replying: 400 naming param
 * when a "word" of the client's text is over the tokenizer's 1 MiB, 500
 * when memory runs out. */
static int32_t *openai_tokenize(struct openai_api *a, struct http_req *req, const char *text,
                                int flags, const struct smol_span *spans, int n_spans,
                                const char *param, int *n)
{
    size_t len = strlen(text);
    int need = smol_tokenize_literal(a->m, text, len, flags, spans, n_spans, NULL, 0);
    int32_t *ids = need >= 0 ? mem_alloc_array((uint64_t)need + 1, sizeof(int32_t)) : NULL;
    int got = ids ? smol_tokenize_literal(a->m, text, len, flags, spans, n_spans, ids, need)
                  : need >= 0 ? SMOL_ENOMEM : need;
    if (got == need && need >= 0) {
        *n = need;
        return ids;
    }
    free(ids);
    if (got == SMOL_ERANGE)
        http_reply_error(req, 400, NULL, param, NULL, "a single word (or run of spaces) of the "
                         "%s is longer than 1 MiB (%u bytes), more than the tokenizer takes",
                         strcmp(param, "content") ? "prompt" : "content",
                         (unsigned)(1u << 20));
    else
        http_reply_error(req, 500, NULL, NULL, NULL, "cannot tokenize the prompt (status %d)",
                         got);
    return NULL;
}

static void openai_generate(struct http_req *req, struct openai_api *a, bool chat)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    struct openai_request q;
    struct json_err je;
    if (openai_parse_request(body, len, chat, &a->o.limits, &q, &je)) {
        openai_reply_parse_error(req, &je);
        return;
    }
    bool thinking = false;
    char *prompt = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    struct openai_out *o = NULL;
    struct worker_job *job = NULL;
    struct openai_conn *conn = NULL;
    bool counted = false;
    struct smol_span *spans = NULL;
    int n_spans = 0;
    if (chat)
        prompt = openai_render(a, req, &q, &thinking, &spans, &n_spans);
    else
        prompt = strdup(q.prompt);
    if (!prompt) {
        if (!chat)
            http_reply_error(req, 500, NULL, NULL, NULL, "out of memory");
        goto done;
    }
    /* The rendered template holds control tokens, the messages in it
     * none (their text stays text); a raw prompt is the client's own
     * template, parsed whole, as llama.cpp does. */
    ids = openai_tokenize(a, req, prompt, SMOL_TOKENIZE_SPECIAL, spans, n_spans,
                          chat ? "messages" : "prompt", &n_ids);
    if (!ids)
        goto done;
    if (n_ids == 0) {
        http_reply_error(req, 400, NULL, chat ? "messages" : "prompt", NULL, "the prompt is empty");
        goto done;
    }
    if (n_ids >= a->n_ctx) {
        http_reply_error(req, 400, NULL, chat ? "messages" : "prompt", "context_length_exceeded",
                         "the prompt has %d tokens but the context holds %d, with room for at "
                         "least one generated token (start the server with a larger -c, or "
                         "send less); nothing is truncated", n_ids, a->n_ctx);
        goto done;
    }
    if (q.stream) {
        if (atomic_fetch_add(&a->n_streams, 1) >= a->o.max_streams) {
            atomic_fetch_sub(&a->n_streams, 1);
            http_reply_error(req, 429, NULL, NULL, "too_many_streams", "%d streamed replies are "
                             "open (the limit is %d); retry later", a->o.max_streams,
                             a->o.max_streams);
            goto done;
        }
        counted = true;
    }
    o = calloc(1, sizeof(*o));
    if (!o || !(o->st = sse_stream_new(a->o.stream_buffer, a->o.stall_ms))) {
        http_reply_error(req, 500, NULL, NULL, NULL, "out of memory");
        goto done;
    }
    o->a = a;
    o->chat = chat;
    o->stream = q.stream;
    o->include_usage = q.include_usage;
    o->tools_as_text = q.tool_choice == OPENAI_TOOLS_NONE;
    o->created = time(NULL);
    buf_init(&o->content);
    buf_init(&o->reasoning);
    openai_make_id(o->id, sizeof(o->id), chat ? "chatcmpl-" : "cmpl-");
    struct sse_stream *st = sse_stream_ref(o->st);
    if (chat && q.stream) {
        /* the role comes first, as OpenAI sends it, before any queueing */
        cJSON *choice;
        cJSON *c = out_chunk(o, &choice);
        cJSON *d = cJSON_AddObjectToObject(choice, "delta");
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        cJSON_AddNullToObject(choice, "logprobs");
        cJSON_AddNullToObject(choice, "finish_reason");
        out_send(o, c);
    }
    struct worker_job_desc d = {
        .tokens = ids, .n_tokens = n_ids, .gen = q.gen,
        .stop = q.stop, .n_stop = q.n_stop, .raw = !chat, .thinking = thinking,
        .client = http_req_client(req),
    };
    static const struct worker_job_ops ops = {out_event, out_done, out_free};
    struct smol_err err = {0};
    job = worker_submit(a->w, &d, &ops, o, &err);
    if (!job) {
        int status = err.code == SMOL_EFULL ? 429 : err.code == SMOL_ECANCELED ? 503
                     : err.code == SMOL_EINVAL ? 400 : 500;
        http_reply_error(req, status, NULL, NULL, NULL, "%s", err.msg);
        sse_stream_unref(st);
        goto done; /* o is still ours */
    }
    o = NULL; /* the job's now */
    if (q.stream) {
        conn = malloc(sizeof(*conn));
        if (conn)
            *conn = (struct openai_conn){a, job};
        struct http_stream_hooks h = {conn_gone, conn_release, conn};
        if (conn && http_reply_stream(req, st, "text/event-stream", &h) == 0) {
            job = NULL;      /* conn_release drops the job */
            counted = false; /* and gives the stream slot back */
        } else {
            free(conn);
            worker_job_cancel(job);
            http_reply_error(req, 500, NULL, NULL, NULL, "out of memory starting the stream");
        }
    } else if (http_wait(req, st) == SSE_READ_CLIENT_GONE) {
        worker_job_cancel(job);
        http_reply_error(req, 499, NULL, NULL, NULL, "the client closed the connection");
    } else {
        int status;
        size_t blen;
        const char *b = sse_stream_body(st, &blen, &status);
        http_reply_json(req, status, b, blen);
    }
    sse_stream_unref(st);
done:
    if (counted)
        atomic_fetch_sub(&a->n_streams, 1);
    worker_job_unref(job);
    if (o)
        out_free(o);
    free(ids);
    free(spans);
    free(prompt);
    openai_request_release(&q);
}

static void h_chat(struct http_req *req, void *user) { openai_generate(req, user, true); }
static void h_completions(struct http_req *req, void *user) { openai_generate(req, user, false); }

/* ---- the other endpoints ---- */

static void h_models(struct http_req *req, void *user)
{
    struct openai_api *a = user;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "data"), m);
    cJSON_AddStringToObject(m, "id", a->o.model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)a->created);
    cJSON_AddStringToObject(m, "owned_by", "smolbot");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_ctx", a->n_ctx);
    cJSON_AddNumberToObject(meta, "n_ctx_train", a->info.n_ctx_train);
    cJSON_AddNumberToObject(meta, "n_vocab", a->info.n_vocab);
    cJSON_AddNumberToObject(meta, "n_params", (double)a->info.n_params);
    cJSON_AddNumberToObject(meta, "size", (double)a->info.file_size);
    openai_reply_tree(req, 200, root);
}

/* Parses the body of the small JSON endpoints; NULL after replying. */
static cJSON *openai_small_body(struct openai_api *a, struct http_req *req)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    struct json_err e;
    cJSON *root = json_parse(body, len, a->o.limits.max_depth, &e);
    if (root && !cJSON_IsObject(root)) {
        json_fail(&e, NULL, "the body must be a JSON object");
        cJSON_Delete(root);
        root = NULL;
    }
    if (!root)
        openai_reply_parse_error(req, &e);
    return root;
}

/* POST /tokenize {content, add_special?, parse_special?, with_pieces?}:
 * SmolLM3 adds no BOS or EOS, so add_special changes nothing; control
 * tokens in the text are parsed unless parse_special is false. */
static void h_tokenize(struct http_req *req, void *user)
{
    struct openai_api *a = user;
    cJSON *q = openai_small_body(a, req);
    if (!q)
        return;
    const char *content = NULL;
    bool add_special = false, parse_special = true, with_pieces = false;
    struct json_err e;
    int got = json_get_string(q, "content", SIZE_MAX, &content, &e);
    if (got == 0)
        json_fail(&e, "content", "'content' is required");
    if (got <= 0 || json_get_bool(q, "add_special", &add_special, &e) < 0 ||
        json_get_bool(q, "parse_special", &parse_special, &e) < 0 ||
        json_get_bool(q, "with_pieces", &with_pieces, &e) < 0) {
        openai_reply_parse_error(req, &e);
        cJSON_Delete(q);
        return;
    }
    int n = 0;
    int32_t *ids = openai_tokenize(a, req, content, parse_special ? SMOL_TOKENIZE_SPECIAL : 0,
                                   NULL, 0, "content", &n);
    if (ids) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "tokens");
        for (int i = 0; i < n; i++) {
            if (!with_pieces) {
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
                continue;
            }
            size_t pl = 0;
            const char *p = smol_token_bytes(a->m, ids[i], &pl);
            cJSON *t = cJSON_CreateObject();
            cJSON_AddNumberToObject(t, "id", ids[i]);
            if (p && utf8_valid(p, pl, NULL) && !memchr(p, 0, pl)) {
                openai_add_text(t, "piece", p, pl);
            } else { /* part of a character: its bytes, as llama.cpp does */
                cJSON *bytes = cJSON_AddArrayToObject(t, "piece");
                for (size_t k = 0; p && k < pl; k++)
                    cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)p[k]));
            }
            cJSON_AddItemToArray(arr, t);
        }
        openai_reply_tree(req, 200, root);
    }
    free(ids);
    cJSON_Delete(q);
}

/* POST /detokenize {tokens: [ids]} -> {content}. */
static void h_detokenize(struct http_req *req, void *user)
{
    struct openai_api *a = user;
    cJSON *q = openai_small_body(a, req);
    if (!q)
        return;
    const cJSON *arr = NULL;
    struct json_err e;
    int got = json_get_kind(q, "tokens", cJSON_Array, &arr, &e);
    if (got <= 0) {
        if (got == 0)
            json_fail(&e, "tokens", "'tokens' is required");
        openai_reply_parse_error(req, &e);
        cJSON_Delete(q);
        return;
    }
    struct buf b;
    buf_init(&b);
    int i = 0, rc = 0;
    const int n_vocab = smol_n_vocab(a->m);
    for (const cJSON *t = arr->child; t; t = t->next, i++) {
        double d = cJSON_IsNumber(t) ? t->valuedouble : -1;
        if (d != floor(d) || d < 0 || d >= n_vocab) {
            http_reply_error(req, 400, NULL, "tokens", NULL, "tokens[%d] must be a token id in "
                             "0..%d", i, n_vocab - 1);
            goto done;
        }
        size_t pl = 0;
        const char *p = smol_token_bytes(a->m, (int32_t)d, &pl);
        if (p)
            rc |= buf_append(&b, p, pl);
    }
    if (rc) {
        http_reply_error(req, 500, NULL, NULL, NULL, "out of memory");
        goto done;
    }
    cJSON *root = cJSON_CreateObject();
    openai_add_text(root, "content", b.data ? b.data : "", b.len);
    openai_reply_tree(req, 200, root);
done:
    buf_release(&b);
    cJSON_Delete(q);
}

/* POST /apply-template: the chat request's prompt, as the model sees it. */
static void h_apply_template(struct http_req *req, void *user)
{
    struct openai_api *a = user;
    size_t len;
    const char *body = http_req_body(req, &len);
    struct openai_request q;
    struct json_err je;
    if (openai_parse_request(body, len, true, &a->o.limits, &q, &je)) {
        openai_reply_parse_error(req, &je);
        return;
    }
    bool thinking;
    char *prompt = openai_render(a, req, &q, &thinking, NULL, NULL);
    if (prompt) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "prompt", prompt);
        cJSON_AddBoolToObject(root, "thinking", thinking);
        openai_reply_tree(req, 200, root);
    }
    free(prompt);
    openai_request_release(&q);
}

static double openai_round(float f)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%g", (double)f);
    return strtod(tmp, NULL);
}

static void h_props(struct http_req *req, void *user)
{
    struct openai_api *a = user;
    const struct smol_model_info *in = &a->info;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model_path", a->o.model_path);
    cJSON_AddStringToObject(root, "model_alias", a->o.model_id);
    cJSON_AddStringToObject(root, "model_name", in->name);
    cJSON_AddStringToObject(root, "architecture", in->arch);
    cJSON_AddNumberToObject(root, "n_ctx", a->n_ctx);
    cJSON_AddNumberToObject(root, "n_ctx_train", in->n_ctx_train);
    cJSON_AddNumberToObject(root, "n_vocab", in->n_vocab);
    cJSON_AddNumberToObject(root, "n_params", (double)in->n_params);
    cJSON_AddNumberToObject(root, "total_slots", a->o.n_slots);
    /* the template family in use; the engine renders it natively */
    cJSON_AddStringToObject(root, "chat_template", in->is_smollm3_template ? "smollm3" : "chatml");
    cJSON_AddBoolToObject(root, "has_chat_template", in->has_chat_template);
    cJSON_AddStringToObject(root, "reasoning_format", "both: reasoning_content and reasoning");
    cJSON *gs = cJSON_AddObjectToObject(root, "default_generation_settings");
    struct smol_sampling sp;
    smol_sampling_default(&sp);
    /* floats through "%g", so 0.6f prints as 0.6 and not 0.6000000238 */
    cJSON_AddNumberToObject(gs, "temperature", openai_round(sp.temperature));
    cJSON_AddNumberToObject(gs, "top_p", openai_round(sp.top_p));
    cJSON_AddNumberToObject(gs, "top_k", sp.top_k);
    cJSON_AddNumberToObject(gs, "min_p", openai_round(sp.min_p));
    cJSON_AddNumberToObject(gs, "n_ctx", a->n_ctx);
    cJSON *bi = cJSON_AddObjectToObject(root, "build_info");
    cJSON_AddStringToObject(bi, "version", SMOL_VERSION);
#ifdef __VERSION__
    cJSON_AddStringToObject(bi, "compiler", __VERSION__);
#endif
    cJSON_AddStringToObject(bi, "http", "libmicrohttpd");
    openai_reply_tree(req, 200, root);
}

static void h_health(struct http_req *req, void *user)
{
    (void)user;
    static const char ok[] = "{\"status\":\"ok\"}";
    http_reply_json(req, 200, ok, sizeof(ok) - 1);
}

static void h_metrics(struct http_req *req, void *user)
{
    struct openai_api *a = user;
    struct buf b;
    buf_init(&b);
    int rc = http_metrics(http_req_server(req), &b) | worker_metrics(a->w, &b);
    if (rc)
        http_reply_error(req, 500, NULL, NULL, NULL, "out of memory");
    else
        http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
    buf_release(&b);
}

/* ---- lifecycle ---- */

struct openai_api *openai_new(const struct openai_opts *o, struct smol_err *err)
{
    struct openai_api *a = calloc(1, sizeof(*a));
    if (!a) {
        err_set(err, SMOL_ENOMEM, "openai: out of memory");
        return NULL;
    }
    a->o = *o;
    a->o.model_path = strdup(o->model_path ? o->model_path : "");
    a->o.model_id = strdup(o->model_id ? o->model_id : "smolbot");
    a->o.date = o->date ? strdup(o->date) : NULL;
    a->created = time(NULL);
    atomic_init(&a->n_streams, 0);
    if (!a->o.model_path || !a->o.model_id || (o->date && !a->o.date)) {
        openai_free(a);
        err_set(err, SMOL_ENOMEM, "openai: out of memory");
        return NULL;
    }
    return a;
}

int openai_register(struct openai_api *a, struct http_server *s)
{
    static const struct {
        const char *method, *path;
        unsigned flags;
        http_handler_fn fn;
    } routes[] = {
        {"POST", "/v1/chat/completions", 0, h_chat},
        {"POST", "/v1/completions", 0, h_completions},
        {"GET", "/v1/models", 0, h_models},
        {"POST", "/tokenize", 0, h_tokenize},
        {"POST", "/detokenize", 0, h_detokenize},
        {"POST", "/apply-template", 0, h_apply_template},
        {"GET", "/props", 0, h_props},
        {"GET", "/health", HTTP_ROUTE_PUBLIC, h_health},
        {"GET", "/metrics", 0, h_metrics},
    };
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        int rc = http_route(s, routes[i].method, routes[i].path, routes[i].flags, routes[i].fn, a);
        if (rc)
            return rc;
    }
    return 0;
}

void openai_attach(struct openai_api *a, struct smol_model *m, struct worker *w, int n_ctx)
{
    a->m = m;
    a->w = w;
    a->n_ctx = n_ctx;
    smol_model_get_info(m, &a->info);
    a->o.limits.max_tokens = n_ctx;
    a->o.limits.n_vocab = a->info.n_vocab;
}

void openai_free(struct openai_api *a)
{
    if (!a)
        return;
    free((char *)a->o.model_path);
    free((char *)a->o.model_id);
    free((char *)a->o.date);
    free(a);
}
