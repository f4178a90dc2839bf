/*
 * openai.h: the OpenAI-compatible API (/v1/chat/completions,
 * /v1/completions, /v1/models) and the llama.cpp-style extras
 * (/tokenize, /detokenize, /apply-template, /props, /health, /metrics).
 *
 * Two layers:
 *
 *   openai_parse_request  a request body (JSON text) into a struct
 *                         openai_request, every field type- and
 *                         range-checked against struct openai_limits. Pure:
 *                         no model, no I/O, so it is unit-tested and fuzzed.
 *   struct openai_api     the handlers: render the conversation with the
 *                         chat template, tokenize, check the context, submit
 *                         to the worker and format its output as OpenAI
 *                         JSON or SSE chunks.
 *
 * What we do where OpenAI's API leaves room (also in README's API
 * section): the thinking goes out both as "reasoning_content" (DeepSeek,
 * llama.cpp) and as "reasoning" (vLLM); thinking is on unless the request
 * says chat_template_kwargs.enable_thinking=false or reasoning_effort
 * "none", or the system prompt says /no_think; temperature 0.6 and top_p
 * 0.95 when the request gives none (SmolLM3's card); tool_choice "none"
 * drops the tools from the prompt and returns any call the model still
 * writes as text, "auto" and "required" pass all tools (we cannot force
 * a call: "required" is "auto"), a named function passes only that tool;
 * stop strings apply to the answer, never to the reasoning, and are not
 * part of the output; n must be 1.
 */
#ifndef SMOL_OPENAI_H
#define SMOL_OPENAI_H

#include "base.h"
#include "json.h"
#include "smol.h"

struct http_server;
struct worker;

struct openai_limits {
    int max_depth;            /* JSON nesting (default 32) */
    int max_messages;         /* messages per request (default 1024) */
    size_t max_message_bytes; /* bytes of one message's content (default 256 KiB) */
    int max_tools;            /* tools per request (default 128) */
    int max_stop;             /* stop strings (default and at most SMOL_CHAT_MAX_STOP) */
    int max_tokens;           /* upper bound of max_tokens (the context size) */
    int n_vocab;              /* upper bound of top_k */
};
void openai_limits_default(struct openai_limits *l);

enum openai_tool_choice {
    OPENAI_TOOLS_AUTO = 0,
    OPENAI_TOOLS_NONE,
    OPENAI_TOOLS_REQUIRED,
    OPENAI_TOOLS_NAMED,
};

/* A parsed request. Strings are views into root, valid until release. */
struct openai_request {
    cJSON *root;              /* owned */
    bool chat;                /* /v1/chat/completions, else /v1/completions */
    const char *model;        /* as given, or NULL */
    const cJSON *messages;    /* chat: the messages array (checked for shape) */
    const cJSON *tools;       /* chat: the tools array, or NULL */
    int tool_choice;          /* enum openai_tool_choice */
    const char *tool_name;    /* OPENAI_TOOLS_NAMED: the function */
    const char *prompt;       /* completions: the prompt text */
    bool stream;
    bool include_usage;       /* stream_options.include_usage */
    struct smol_gen_params gen; /* sampling (defaults filled) and max_tokens (0: no limit) */
    const char *stop[SMOL_CHAT_MAX_STOP]; /* non-empty stop strings */
    int n_stop;
    int thinking;             /* -1: the template's default, 0: off, 1: on */
    const char *user;         /* the client's end-user id, or NULL */
};

/* Parses body[0..len) (valid UTF-8) into out for the chat endpoint
 * (chat true) or the completions one. Returns 0, or -1 with e naming the
 * offending parameter; out then holds nothing to release. */
int openai_parse_request(const char *body, size_t len, bool chat, const struct openai_limits *l,
                         struct openai_request *out, struct json_err *e);
void openai_request_release(struct openai_request *r);

/* ---- the API ---- */

struct openai_opts {
    const char *model_path;   /* for /props */
    const char *model_id;     /* the id /v1/models lists and replies carry */
    int n_slots;              /* for /props */
    struct openai_limits limits; /* max_tokens and n_vocab are set by openai_attach */
    int max_streams;          /* streamed replies open at once; more: 429 */
    size_t stream_buffer;     /* unread bytes per stream before the worker waits */
    int stall_ms;             /* how long the worker waits for a stalled client */
    const char *date;         /* the template's "Today Date" (NULL: today): tests */
};

struct openai_api;

/* The API before its model is loaded (strings in o are copied); its
 * routes can be registered at once, and answer only after the server is
 * marked ready. NULL on ENOMEM. */
struct openai_api *openai_new(const struct openai_opts *o, struct smol_err *err);
/* Adds the routes to s (before http_start). */
int openai_register(struct openai_api *a, struct http_server *s);
/* The engine to use: m and w are borrowed and must outlive the API's
 * last request; n_ctx is each sequence's context. Call before marking
 * the server ready. */
void openai_attach(struct openai_api *a, struct smol_model *m, struct worker *w, int n_ctx);
void openai_free(struct openai_api *a); /* accepts NULL */

#endif
