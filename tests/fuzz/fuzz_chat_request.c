/*
 * fuzz_chat_request.c: an OpenAI request body, all the way to the prompt
 * tokens, as the HTTP thread handles it (openai.c, openai_render).
 *
 * The body (valid UTF-8, as http.c guarantees; other inputs are skipped)
 * is parsed for /v1/chat/completions and for /v1/completions with
 * openai_parse_request. A body that is refused must name a parameter or
 * say why. One that is accepted must hold only values inside the limits
 * (temperature 0..2, top_p and min_p 0..1, top_k 0..n_vocab, max_tokens
 * 0..limit, at most SMOL_CHAT_MAX_STOP non-empty stop strings of at most
 * SMOL_CHAT_STOP_MAX_BYTES bytes), and its stop strings must be accepted
 * by smol_chat_stream_new (else the worker would fail the request late).
 * For the chat endpoint the messages are printed back by cJSON and read
 * by smol_messages_from_json, rendered with the vocab-only model and its
 * tools, and the prompt tokenized as openai_render and openai_tokenize
 * do (smol_chat_render_spans, smol_tokenize_literal): each step gives a
 * result or a sentence. The spans must be in order, apart and within the
 * prompt; the ids must give the prompt back byte for byte; no control
 * token may cover a byte of a span (the caller's text); and the render
 * must equal smol_chat_render's.
 */
#include "fuzzutil.h"

#include "model.h"
#include "openai.h"
#include "tokenizer.h"
#include "utf8.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smol_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    model = fuzz_vocab_model();
    return 0;
}

static void check_ranges(const struct openai_request *q, const struct openai_limits *l)
{
    const struct smol_sampling *s = &q->gen.sampling;
    FUZZ_CHECK(s->temperature >= 0 && s->temperature <= 2, "temperature %g",
               (double)s->temperature);
    FUZZ_CHECK(s->top_p >= 0 && s->top_p <= 1, "top_p %g", (double)s->top_p);
    FUZZ_CHECK(s->min_p >= 0 && s->min_p <= 1, "min_p %g", (double)s->min_p);
    FUZZ_CHECK(s->top_k >= 0 && s->top_k <= l->n_vocab, "top_k %d", s->top_k);
    FUZZ_CHECK(isfinite(s->repeat_penalty) && s->repeat_penalty > 0, "repeat_penalty %g",
               (double)s->repeat_penalty);
    FUZZ_CHECK(q->gen.max_tokens >= 0 && q->gen.max_tokens <= l->max_tokens, "max_tokens %d",
               q->gen.max_tokens);
    FUZZ_CHECK(q->n_stop >= 0 && q->n_stop <= SMOL_CHAT_MAX_STOP, "n_stop %d", q->n_stop);
    for (int i = 0; i < q->n_stop; i++) {
        size_t n = strlen(q->stop[i]);
        FUZZ_CHECK(n > 0 && n <= SMOL_CHAT_STOP_MAX_BYTES, "stop %d has %zu bytes", i, n);
    }
    struct smol_chat_stream_opts so = {.stop = q->stop, .n_stop = q->n_stop};
    struct smol_err err = {0};
    struct smol_chat_stream *st = smol_chat_stream_new(&so, &err);
    FUZZ_CHECK(st != NULL, "accepted stop strings refused by the stream: %s", err.msg);
    smol_chat_stream_free(st);
    FUZZ_CHECK(!q->chat || (q->messages && cJSON_IsArray(q->messages)), "no messages");
    FUZZ_CHECK(q->chat || q->prompt, "no prompt");
}

/* openai_render and openai_tokenize, minus the HTTP replies. */
static void check_render(const struct openai_request *q)
{
    char *msgs_json = cJSON_PrintUnformatted(q->messages);
    char *tools = q->tools && q->tool_choice != OPENAI_TOOLS_NONE
                      ? cJSON_PrintUnformatted(q->tools) : NULL;
    FUZZ_CHECK(msgs_json != NULL, "cannot print the messages");
    struct smol_message *msgs = NULL;
    int n = 0;
    struct smol_err err = {0};
    if (smol_messages_from_json(msgs_json, strlen(msgs_json), &msgs, &n, &err) < 0) {
        FUZZ_CHECK(err.msg[0] && !msgs, "messages refused without a sentence");
        goto done;
    }
    FUZZ_CHECK(n == cJSON_GetArraySize(q->messages), "%d messages of %d", n,
               cJSON_GetArraySize(q->messages));
    struct smol_chat_opts co = {.thinking = q->thinking, .tools_json = tools,
                                .date = "01 January 2025"};
    struct smol_span *spans = NULL;
    int n_spans = 0;
    char *prompt = smol_chat_render_spans(model, msgs, n, &co, &spans, &n_spans, &err);
    if (!prompt) {
        FUZZ_CHECK(err.code < 0 && err.msg[0], "render failed without a sentence");
        FUZZ_CHECK(!spans && !n_spans, "a failed render kept its spans");
        goto done;
    }
    (void)smol_chat_thinking(model, msgs, n, &co);
    size_t len = strlen(prompt);
    char *plain = smol_chat_render(model, msgs, n, &co, &err);
    FUZZ_CHECK(plain && strcmp(plain, prompt) == 0, "the render with spans differs from the render");
    free(plain);
    for (int i = 0; i < n_spans; i++)
        FUZZ_CHECK(spans[i].start <= spans[i].end && spans[i].end <= len &&
                       (i == 0 || spans[i - 1].end <= spans[i].start),
                   "span %d [%zu, %zu) is out of order or past the prompt (%zu bytes)", i,
                   spans[i].start, spans[i].end, len);
    int need = smol_tokenize_literal(model, prompt, len, SMOL_TOKENIZE_SPECIAL, spans, n_spans,
                                     NULL, 0);
    FUZZ_CHECK(need >= 0 && (size_t)need <= len, "the prompt needs %d tokens for %zu bytes", need,
               len);
    int32_t *ids = malloc(((size_t)need + 1) * sizeof(int32_t));
    FUZZ_CHECK(ids != NULL, "out of memory");
    FUZZ_CHECK(smol_tokenize_literal(model, prompt, len, SMOL_TOKENIZE_SPECIAL, spans, n_spans,
                                     ids, need) == need, "the second pass differs");
    size_t pos = 0;
    int si = 0;
    for (int i = 0; i < need; i++) {
        size_t tl;
        const char *tb = smol_token_bytes(model, ids[i], &tl);
        FUZZ_CHECK(tb && pos + tl <= len && memcmp(prompt + pos, tb, tl) == 0,
                   "token %d (id %d) does not give the prompt back at byte %zu", i, ids[i], pos);
        if (tokenizer_token_type(model->tok, ids[i]) == TOKEN_TYPE_CONTROL) {
            while (si < n_spans && spans[si].end <= pos)
                si++;
            FUZZ_CHECK(si == n_spans || spans[si].start >= pos + tl ||
                           spans[si].start == spans[si].end,
                       "control token id %d at bytes [%zu, %zu) covers span [%zu, %zu)", ids[i],
                       pos, pos + tl, spans[si].start, spans[si].end);
        }
        pos += tl;
    }
    FUZZ_CHECK(pos == len, "the ids give %zu of the prompt's %zu bytes", pos, len);
    free(ids);
    free(spans);
    free(prompt);
done:
    smol_messages_free(msgs, n);
    free(msgs_json);
    free(tools);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    if (!utf8_valid(body, size, NULL))
        return 0;
    struct openai_limits l;
    openai_limits_default(&l);
    l.max_tokens = 4096;
    l.n_vocab = smol_n_vocab(model);
    for (int chat = 1; chat >= 0; chat--) {
        struct openai_request q;
        struct json_err je;
        memset(&je, 0, sizeof(je));
        if (openai_parse_request(body, size, chat, &l, &q, &je) != 0) {
            FUZZ_CHECK(je.msg[0], "refused without a sentence");
            FUZZ_CHECK(q.root == NULL, "refused but kept the tree");
            continue;
        }
        check_ranges(&q, &l);
        if (chat)
            check_render(&q);
        openai_request_release(&q);
    }
    return 0;
}
