/*
 * ui_live.c: the live side of the web chat: chats in memory with their
 * numbered events and subscribers, and the answers being written (by the
 * model through the worker, or by /quote) with the flush buffer, the
 * progressive markdown and the checkpoints in the store. See ui_int.h
 * for the structures and the lock order.
 *
 * An answer's path: a piece of text arrives (worker thread, or the
 * quote thread) -> appended to its channel's markdown -> when 10 pieces
 * wait, or the oldest waited 500 ms (the ticker checks), or a piece ends
 * a sentence or a line: a flush -> the settled blocks are rendered once
 * and appended on the page, the rest (the tail) re-rendered and replaced
 * -> one event -> every subscriber. When it ends: the final message is
 * committed to the store and the page's element replaced by its final
 * rendering.
 *
 * Resumes: every event has a number, and the last UI_LOG_MAX_EVENTS (at
 * most UI_LOG_MAX_BYTES) are kept per chat; a reconnect with the id of
 * one of them gets exactly the events after it. Anything else (an id
 * from before a restart, or too old) gets a snapshot of all messages,
 * the streamed one as far as the page had it, numbered as the last
 * event, so the next deltas apply to it.
 */
#include "markdown.h"
#include "mem.h"
#include "ui_int.h"

#include <inttypes.h>
#include <string.h>

double ui_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the registry ---- */

static void chat_free(struct ui_chat *c)
{
    for (size_t i = 0; i < c->n_log; i++)
        free(c->log[i].data);
    free(c->log);
    for (int i = 0; i < c->n_subs; i++) {
        sse_stream_close(c->subs[i], 200);
        sse_stream_unref(c->subs[i]);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* u->mu held: drops unreferenced chats beyond UI_MAX_CHATS, least
 * recently used first. The list is kept in use order (ui_chat_get moves
 * a chat to the head), so the victims are the unreferenced ones nearest
 * the tail. A chat with subscribers or a generation is referenced by
 * them, so it stays. */
static void registry_trim(struct ui *u)
{
    while (u->n_chats > UI_MAX_CHATS) {
        struct ui_chat **victim = NULL;
        for (struct ui_chat **p = &u->chats; *p; p = &(*p)->next)
            if ((*p)->refs == 0)
                victim = p;
        if (!victim)
            return; /* everything is in use */
        struct ui_chat *c = *victim;
        *victim = c->next;
        u->n_chats--;
        chat_free(c);
    }
}

struct ui_chat *ui_chat_get(struct ui *u, int64_t id)
{
    pthread_mutex_lock(&u->mu);
    struct ui_chat *c = NULL;
    if (u->stopping)
        goto done;
    struct ui_chat **pp = &u->chats;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    c = *pp;
    if (c && pp != &u->chats) { /* most recently used goes to the head */
        *pp = c->next;
        c->next = u->chats;
        u->chats = c;
    }
    if (!c && (c = calloc(1, sizeof(*c)))) {
        c->u = u;
        c->id = id;
        c->next_event = 1;
        pthread_mutex_init(&c->mu, NULL);
        c->next = u->chats;
        u->chats = c;
        u->n_chats++;
    }
    if (c) {
        c->refs++;
        registry_trim(u);
    }
done:
    pthread_mutex_unlock(&u->mu);
    return c;
}

void ui_chat_put(struct ui_chat *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->u->mu);
    c->refs--;
    pthread_mutex_unlock(&c->u->mu);
}

/* ---- events ---- */

void ui_chat_last_id(const struct ui_chat *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%" PRIu64, c->u->epoch, c->next_event - 1);
}

static void chat_drop_sub(struct ui_chat *c, int i)
{
    sse_stream_unref(c->subs[i]);
    c->subs[i] = c->subs[--c->n_subs];
}

/* Writes one event to every subscriber; a gone one is dropped. */
static void chat_send(struct ui_chat *c, const char *id, const char *html, size_t len)
{
    for (int i = 0; i < c->n_subs;) {
        int rc = sse_stream_event(c->subs[i], "chat", id, html, len);
        if (rc == SSE_GONE)
            chat_drop_sub(c, i);
        else
            i++;
    }
}

int ui_chat_emit(struct ui_chat *c, const char *html, size_t len)
{
    char *copy = mem_strndup(html, len);
    if (!copy)
        return SMOL_ENOMEM;
    if (c->n_log == c->cap_log) {
        size_t cap = c->cap_log ? 2 * c->cap_log : 16;
        struct ui_event *v = realloc(c->log, cap * sizeof(*v));
        if (!v) {
            free(copy);
            return SMOL_ENOMEM;
        }
        c->log = v;
        c->cap_log = cap;
    }
    uint64_t n = c->next_event++;
    c->log[c->n_log++] = (struct ui_event){n, copy, len};
    c->log_bytes += len;
    /* keep the newest within both limits (at least the last one) */
    size_t drop = 0;
    while (c->n_log - drop > 1 &&
           (c->n_log - drop > UI_LOG_MAX_EVENTS || c->log_bytes > UI_LOG_MAX_BYTES)) {
        c->log_bytes -= c->log[drop].len;
        free(c->log[drop].data);
        drop++;
    }
    if (drop) {
        memmove(c->log, c->log + drop, (c->n_log - drop) * sizeof(*c->log));
        c->n_log -= drop;
    }
    char id[48];
    snprintf(id, sizeof(id), "%s-%" PRIu64, c->u->epoch, n);
    chat_send(c, id, copy, len);
    return 0;
}

/* Parses "EPOCH-N" of this process into *n; false for anything else. */
static bool chat_parse_id(const struct ui_chat *c, const char *id, uint64_t *n)
{
    size_t el = strlen(c->u->epoch);
    if (!id || strncmp(id, c->u->epoch, el) || id[el] != '-')
        return false;
    const char *d = id + el + 1;
    uint64_t v = 0;
    if (!*d || strlen(d) > 15)
        return false;
    for (; *d; d++) {
        if (*d < '0' || *d > '9')
            return false;
        v = v * 10 + (uint64_t)(*d - '0');
    }
    *n = v;
    return v < c->next_event;
}

/* The snapshot event: every message, the streamed one as the page has it. */
static int chat_snapshot(struct ui_chat *c, struct buf *b, struct smol_err *err)
{
    struct store_message *v = NULL;
    size_t n = 0;
    int rc = store_message_list(c->u->st, c->id, &v, &n, err);
    if (rc < 0)
        return rc;
    rc = buf_append_str(b, "<div hx-swap-oob=\"innerHTML:#messages\">") |
         ui_render_messages(b, c->id, v, n, c->gen) | buf_append_str(b, "</div>");
    store_messages_free(v, n);
    return rc ? err_set(err, SMOL_ENOMEM, "out of memory rendering the chat") : 0;
}

int ui_chat_subscribe(struct ui_chat *c, const char *last_id, struct sse_stream **out,
                      struct smol_err *err)
{
    struct ui *u = c->u;
    struct sse_stream *st = sse_stream_new(u->o.stream_buffer, u->o.stall_ms);
    if (!st)
        return err_set(err, SMOL_ENOMEM, "out of memory opening the event stream");
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    uint64_t since = 0;
    if (c->n_subs == UI_MAX_SUBS) {
        rc = err_set(err, SMOL_EFULL, "this chat has %d event streams open already; close a "
                     "tab", UI_MAX_SUBS);
        goto done;
    }
    /* reconnect quickly: the browser's default is 3 s */
    rc = sse_stream_write(st, "retry: 1000\n\n", 13);
    uint64_t first = c->n_log ? c->log[0].n : c->next_event;
    if (rc == 0 && chat_parse_id(c, last_id, &since) && since + 1 >= first) {
        for (size_t i = 0; rc == 0 && i < c->n_log; i++) {
            if (c->log[i].n <= since)
                continue;
            char id[48];
            snprintf(id, sizeof(id), "%s-%" PRIu64, u->epoch, c->log[i].n);
            rc = sse_stream_event(st, "chat", id, c->log[i].data, c->log[i].len);
        }
    } else if (rc == 0) {
        struct buf b;
        buf_init(&b);
        char id[48];
        ui_chat_last_id(c, id, sizeof(id));
        rc = chat_snapshot(c, &b, err);
        if (rc == 0)
            rc = sse_stream_event(st, "chat", id, b.data, b.len);
        buf_release(&b);
    }
    if (rc == 0) {
        c->subs[c->n_subs++] = sse_stream_ref(st);
        *out = st;
        st = NULL;
    } else if (!err->code) {
        err_set(err, SMOL_ENOMEM, "out of memory starting the event stream");
    }
done:
    pthread_mutex_unlock(&c->mu);
    sse_stream_unref(st);
    return rc < 0 ? rc : rc ? SMOL_ENOMEM : 0;
}

void ui_chat_unsubscribe(struct ui_chat *c, struct sse_stream *st)
{
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_subs; i++)
        if (c->subs[i] == st) {
            chat_drop_sub(c, i);
            break;
        }
    pthread_mutex_unlock(&c->mu);
}

/* ---- streamed text ---- */

static void text_init(struct ui_text *t)
{
    *t = (struct ui_text){0};
    buf_init(&t->md);
    buf_init(&t->blocks);
}

static void text_release(struct ui_text *t)
{
    buf_release(&t->md);
    buf_release(&t->blocks);
}

/* Starts a channel from stored text (continue): all of it shown. */
static int text_preload(struct ui_text *t, const char *md)
{
    size_t len = md ? strlen(md) : 0;
    if (len == 0)
        return 0;
    if (buf_append(&t->md, md, len))
        return SMOL_ENOMEM;
    t->done = markdown_stable_prefix(md, len, 0);
    t->sent = len;
    return markdown_render(&t->blocks, md, t->done);
}

/* Appends the swaps that bring the page's copy of t up to date: new
 * settled blocks at the end of #mID-Xb, the tail into #mID-Xt. */
static int text_flush(struct ui_text *t, struct buf *ev, int64_t msg, char ch)
{
    if (t->md.len == t->sent)
        return 0;
    const char *md = t->md.data;
    size_t p = markdown_stable_prefix(md, t->md.len, t->done);
    int rc = 0;
    if (p > t->done) {
        size_t at = t->blocks.len;
        rc |= markdown_render(&t->blocks, md + t->done, p - t->done);
        rc |= buf_appendf(ev, "<div hx-swap-oob=\"beforeend:#m%" PRId64 "-%cb\">", msg, ch);
        rc |= buf_append(ev, t->blocks.data + at, t->blocks.len - at);
        rc |= buf_append_str(ev, "</div>");
        t->done = p;
    }
    rc |= buf_appendf(ev, "<div hx-swap-oob=\"innerHTML:#m%" PRId64 "-%ct\">", msg, ch);
    rc |= markdown_render(ev, md + t->done, t->md.len - t->done);
    rc |= buf_append_str(ev, "</div>");
    t->sent = t->md.len;
    return rc ? SMOL_ENOMEM : 0;
}

/* A stored copy of the answer so far (status and stats given). */
static int gen_store(struct ui_gen *g, enum store_status status, const struct store_stats *stats,
                     struct smol_err *err)
{
    struct store_message m = {
        .role = STORE_ROLE_ASSISTANT,
        .status = status,
        .content = g->content.md.data ? g->content.md.data : "",
        .reasoning = g->reasoning.md.len ? g->reasoning.md.data : NULL,
    };
    if (stats)
        m.stats = *stats;
    return store_message_update(g->c->u->st, g->msg_id, &m, err);
}

/* c->mu held: shows what waits, and checkpoints now and then. */
static void gen_flush(struct ui_gen *g)
{
    struct buf ev;
    buf_init(&ev);
    int rc = text_flush(&g->reasoning, &ev, g->msg_id, 'r') |
             text_flush(&g->content, &ev, g->msg_id, 'c');
    if (rc == 0 && ev.len)
        ui_chat_emit(g->c, ev.data, ev.len);
    buf_release(&ev);
    g->pending = 0;
    double now = ui_now_ms();
    if (now - g->t_ckpt >= UI_CHECKPOINT_MS) {
        struct smol_err err = {0};
        if (gen_store(g, STORE_MSG_GENERATING, NULL, &err) < 0)
            fprintf(stderr, "smolbot: ui: checkpoint of chat %" PRId64 ": %s\n", g->c->id,
                    err.msg);
        g->t_ckpt = now;
    }
}

/* A piece that ends a sentence or a line: show it now. */
static bool piece_ends_sentence(const char *text, size_t len)
{
    if (memchr(text, '\n', len))
        return true;
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    return len > 0 && (text[len - 1] == '.' || text[len - 1] == '!' || text[len - 1] == '?');
}

/* c->mu held: one piece of output. */
static void gen_piece(struct ui_gen *g, int channel, const char *text, size_t len)
{
    double now = ui_now_ms();
    if (g->n_pieces++ == 0)
        g->t_first = now;
    if (g->pending++ == 0)
        g->t_pending = now;
    int rc;
    if (channel == SMOL_CH_REASONING) {
        rc = buf_append(&g->reasoning.md, text, len);
    } else if (channel == SMOL_CH_CONTENT) {
        rc = buf_append(&g->content.md, text, len);
    } else { /* the page offers no tools: a call the model writes is shown as code */
        rc = buf_append_str(&g->content.md, "\n\n```\n<tool_call>\n") |
             buf_append(&g->content.md, text, len) |
             buf_append_str(&g->content.md, "\n</tool_call>\n```\n\n");
    }
    if (rc == 0 && (g->pending >= UI_FLUSH_TOKENS || now - g->t_pending >= UI_FLUSH_MS ||
                    piece_ends_sentence(text, len)))
        gen_flush(g);
}

static const char *finish_reason(enum worker_finish f)
{
    switch (f) {
    case WORKER_FINISH_EOG:
    case WORKER_FINISH_STOP: return "stop";
    case WORKER_FINISH_LENGTH: return "length";
    case WORKER_FINISH_CONTEXT: return "context";
    case WORKER_FINISH_CANCELLED: return "stopped";
    default: return "error";
    }
}

/* c->mu held: the answer ended: store it, show its final form, and let
 * the chat take the next one. */
static void gen_finish(struct ui_gen *g, const struct worker_result *r)
{
    struct ui_chat *c = g->c;
    /* the stream of deltas is whole on its own, before the final form */
    if (g->pending)
        gen_flush(g);
    struct store_stats stats = {
        .n_prompt = r->n_prompt,
        .n_cached = r->n_cached,
        .n_gen = r->n_gen,
        .prompt_tps = r->prompt_ms > 0 ? (r->n_prompt - r->n_cached) * 1e3 / r->prompt_ms : 0,
        .gen_tps = r->gen_ms > 0 ? r->n_gen * 1e3 / r->gen_ms : 0,
        .ttft_ms = g->n_pieces ? g->t_first - g->t_start : 0,
    };
    snprintf(stats.stop_reason, sizeof(stats.stop_reason), "%s", finish_reason(r->finish));
    bool partial = r->finish == WORKER_FINISH_CANCELLED || r->finish == WORKER_FINISH_ERROR;
    enum store_status status = partial ? STORE_MSG_PARTIAL : STORE_MSG_COMPLETE;
    struct smol_err err = {0};
    struct buf ev;
    buf_init(&ev);
    int rc = gen_store(g, status, &stats, &err);
    struct store_message m = {0};
    if (rc == 0)
        rc = store_message_get(c->u->st, g->msg_id, &m, &err);
    if (rc == 0) {
        c->gen = NULL; /* rendered as a stored message from now on */
        rc = ui_render_message(&ev, c->id, &m, NULL, true);
        if (r->finish == WORKER_FINISH_ERROR) {
            rc |= buf_append_str(&ev, "<div hx-swap-oob=\"beforeend:#messages\">");
            struct buf msg;
            buf_init(&msg);
            rc |= markdown_escape(&msg, r->message, strlen(r->message));
            rc |= ui_render_notice(&ev, "error", "The answer failed", msg.data ? msg.data : "");
            rc |= buf_append_str(&ev, "</div>");
            buf_release(&msg);
        }
        if (rc == 0)
            ui_chat_emit(c, ev.data, ev.len);
    } else {
        /* the answer could not be saved (a full disk): show it as it
         * ended, so the page leaves its writing state, and say so where
         * the reader looks */
        struct store_message shown = {
            .id = g->msg_id, .session_id = c->id, .role = STORE_ROLE_ASSISTANT,
            .status = status, .content = g->content.md.data ? g->content.md.data : "",
            .reasoning = g->reasoning.md.len ? g->reasoning.md.data : NULL, .stats = stats};
        struct buf msg;
        buf_init(&msg);
        markdown_escape(&msg, err.msg, strlen(err.msg));
        ui_render_message(&ev, c->id, &shown, NULL, true);
        buf_appendf(&ev, "<div hx-swap-oob=\"beforeend:#messages\">");
        ui_render_notice(&ev, "error", "The answer could not be saved", msg.data ? msg.data : "");
        buf_append_str(&ev, "</div>");
        ui_chat_emit(c, ev.data, ev.len);
        buf_release(&msg);
        fprintf(stderr, "smolbot: ui: saving the answer of chat %" PRId64 ": %s\n", c->id,
                err.msg);
    }
    if (r->finish == WORKER_FINISH_ERROR)
        fprintf(stderr, "smolbot: ui: generation in chat %" PRId64 " failed: %s\n", c->id,
                r->message);
    store_message_release(&m);
    buf_release(&ev);
    c->gen = NULL;
    if (g->job) {
        worker_job_unref(g->job); /* the queue still holds the job: not the last */
        g->job = NULL;
    }
}

static void gen_free(struct ui_gen *g)
{
    text_release(&g->content);
    text_release(&g->reasoning);
    ui_chat_put(g->c);
    free(g);
}

/* ---- the worker's callbacks (worker thread) ---- */

static int job_event(void *user, int channel, const char *text, size_t len)
{
    struct ui_gen *g = user;
    pthread_mutex_lock(&g->c->mu);
    gen_piece(g, channel, text, len);
    pthread_mutex_unlock(&g->c->mu);
    int ms = g->c->u->o.token_delay_ms;
    if (ms > 0) { /* --ui-token-delay-ms: a fast model made watchable */
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void job_done(void *user, const struct worker_result *r)
{
    struct ui_gen *g = user;
    pthread_mutex_lock(&g->c->mu);
    gen_finish(g, r);
    pthread_mutex_unlock(&g->c->mu);
}

static void job_release(void *user)
{
    gen_free(user);
}

/* ---- /quote: a fixed passage through the same path, no model ---- */

static const char quote_text[] =
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
    "having nothing to do: once or twice she had peeped into the book her sister was "
    "reading, but it had no pictures or conversations in it, \xE2\x80\x9C" "and what is the "
    "use of a book,\xE2\x80\x9D thought Alice, \xE2\x80\x9Cwithout pictures or "
    "conversations?\xE2\x80\x9D\n\n"
    "\xE2\x80\x94 Lewis Carroll, *Alice's Adventures in Wonderland* (1865)\n\n"
    "```c\nprintf(\"%s\\n\", \"streamed by /quote\");\n```\n";

static void *quote_main(void *arg)
{
    struct ui_gen *g = arg;
    struct ui_chat *c = g->c;
    struct ui *u = c->u;
    const double t0 = ui_now_ms();
    int n = 0;
    bool cancelled = false;
    /* word-sized pieces, each with the spaces before it, like tokens */
    for (size_t i = 0; quote_text[i];) {
        size_t j = i;
        while (quote_text[j] == ' ' || quote_text[j] == '\n')
            j++;
        while (quote_text[j] && quote_text[j] != ' ' && quote_text[j] != '\n')
            j++;
        struct timespec ts = {0, (long)u->o.quote_ms * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&u->mu);
        bool stop = u->stopping;
        pthread_mutex_unlock(&u->mu);
        if (stop || atomic_load(&g->cancel)) {
            cancelled = true;
            break;
        }
        pthread_mutex_lock(&c->mu);
        gen_piece(g, SMOL_CH_CONTENT, quote_text + i, j - i);
        pthread_mutex_unlock(&c->mu);
        n++;
        i = j;
    }
    struct worker_result r = {
        .finish = cancelled ? WORKER_FINISH_CANCELLED : WORKER_FINISH_EOG,
        .stop_index = -1,
        .n_gen = n,
        .gen_ms = ui_now_ms() - t0,
    };
    pthread_mutex_lock(&c->mu);
    gen_finish(g, &r);
    pthread_mutex_unlock(&c->mu);
    gen_free(g);
    pthread_mutex_lock(&u->mu);
    u->n_quotes--;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

/* ---- starting an answer ---- */

/* The conversation as the model sees it: the system prompt, then the
 * user and assistant messages after the last /reset marker (empty
 * answers left out). msgs[] borrows from v. Returns the count. */
static int prompt_messages(const struct store_session *s, const struct store_message *v,
                           size_t n, struct smol_message *msgs)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].role == STORE_ROLE_SYSTEM && !strcmp(v[i].content, UI_RESET_MARK))
            from = i + 1;
    int k = 0;
    if (s->settings.system_prompt && *s->settings.system_prompt)
        msgs[k++] = (struct smol_message){.role = SMOL_ROLE_SYSTEM,
                                          .content = s->settings.system_prompt};
    for (size_t i = from; i < n; i++) {
        if (v[i].role == STORE_ROLE_USER)
            msgs[k++] = (struct smol_message){.role = SMOL_ROLE_USER, .content = v[i].content};
        else if (v[i].role == STORE_ROLE_ASSISTANT && *v[i].content)
            msgs[k++] = (struct smol_message){.role = SMOL_ROLE_ASSISTANT,
                                              .content = v[i].content};
    }
    return k;
}

/* Renders and tokenizes the chat for the model into *tokens (caller
 * frees). Continue: the last message is the assistant's, left open. */
static int gen_prompt(struct ui *u, const struct store_session *s, const struct store_message *v,
                      size_t n, bool cont, int32_t **tokens, int *n_tokens, int *n_dropped,
                      bool *thinking, struct smol_err *err)
{
    struct smol_message *msgs = mem_alloc_array((uint64_t)n + 1, sizeof(*msgs));
    if (!msgs)
        return err_set(err, SMOL_ENOMEM, "out of memory building the prompt");
    int k = prompt_messages(s, v, n, msgs);
    int rc = 0;
    if (k == 0 || (cont ? msgs[k - 1].role != SMOL_ROLE_ASSISTANT
                        : msgs[k - 1].role != SMOL_ROLE_USER)) {
        rc = err_set(err, SMOL_EINVAL, cont ? "there is no answer to continue"
                                            : "there is no question to answer");
        goto done;
    }
    struct smol_chat_opts co = {.thinking = s->settings.thinking ? 1 : 0, .date = u->o.date,
                                .no_generation_prompt = cont};
    int reserve = s->settings.max_tokens > 0 ? MIN(s->settings.max_tokens, u->n_ctx / 2)
                                             : MIN(1024, u->n_ctx / 4);
    rc = smol_chat_prompt(u->m, msgs, k, &co, u->n_ctx, reserve, tokens, n_tokens, n_dropped,
                          err);
    if (rc < 0) {
        if (rc == SMOL_EFULL)
            err_set(err, rc, "the message does not fit in the context of %d tokens, even "
                    "without the earlier turns", u->n_ctx);
        goto done;
    }
    *thinking = !cont && smol_chat_thinking(u->m, msgs, k, &co);
    /* continue: the answer stays open; drop its end-of-turn token and
     * what the template writes after it */
    for (int i = *n_tokens - 1; cont && i >= 0 && i >= *n_tokens - 3; i--)
        if (smol_token_is_eog(u->m, (*tokens)[i])) {
            *n_tokens = i;
            break;
        }
    if (*n_tokens <= 0) {
        free(*tokens);
        *tokens = NULL;
        rc = err_set(err, SMOL_EINVAL, "the prompt is empty");
    }
done:
    free(msgs);
    return rc;
}

/* Shows the message as the generation starts it: appended, or (continue)
 * in place of the stored one. */
static int gen_show(struct ui_chat *c, struct ui_gen *g, const struct store_message *m, bool cont)
{
    struct buf ev;
    buf_init(&ev);
    int rc = 0;
    if (!cont)
        rc |= buf_append_str(&ev, "<div hx-swap-oob=\"beforeend:#messages\">");
    rc |= ui_render_message(&ev, c->id, m, g, cont);
    if (!cont)
        rc |= buf_append_str(&ev, "</div>");
    if (rc == 0)
        rc = ui_chat_emit(c, ev.data, ev.len);
    buf_release(&ev);
    return rc ? SMOL_ENOMEM : 0;
}

int ui_gen_start(struct ui_chat *c, enum ui_gen_mode mode, enum ui_gen_kind kind,
                 const char *client, struct smol_err *err)
{
    struct ui *u = c->u;
    const bool cont = mode == UI_GEN_CONTINUE;
    if (c->gen)
        return err_set(err, SMOL_EFULL, "an answer is being written in this chat: stop it "
                       "first");
    struct store_session s = {0};
    struct store_message *v = NULL, am = {0};
    size_t n = 0;
    int32_t *tokens = NULL;
    int n_tokens = 0, n_dropped = 0;
    bool thinking = false;
    struct ui_gen *g = NULL;
    int rc = store_session_get(u->st, c->id, &s, err);
    if (rc < 0 || (rc = store_message_list(u->st, c->id, &v, &n, err)) < 0)
        goto done;
    if (kind == UI_GEN_MODEL &&
        (rc = gen_prompt(u, &s, v, n, cont, &tokens, &n_tokens, &n_dropped, &thinking, err)) < 0)
        goto done;
    if (kind == UI_GEN_QUOTE && cont) {
        rc = err_set(err, SMOL_EINVAL, "/quote cannot continue an answer");
        goto done;
    }
    if (!(g = calloc(1, sizeof(*g)))) {
        rc = err_set(err, SMOL_ENOMEM, "out of memory starting the answer");
        goto done;
    }
    g->kind = kind;
    g->c = c; /* its reference is taken once the answer is under way */
    atomic_init(&g->cancel, false);
    text_init(&g->content);
    text_init(&g->reasoning);
    g->t_start = g->t_ckpt = ui_now_ms();
    if (n_dropped > 0)
        snprintf(g->note, sizeof(g->note), "%d earlier message%s left out: the conversation "
                 "no longer fits in the context of %d tokens.", n_dropped,
                 n_dropped == 1 ? " was" : "s were", u->n_ctx);
    /* the answer exists in the store before any of it is generated */
    if (cont) {
        const struct store_message *last = &v[n - 1];
        g->msg_id = last->id;
        if (text_preload(&g->content, last->content) || text_preload(&g->reasoning, last->reasoning)) {
            rc = err_set(err, SMOL_ENOMEM, "out of memory starting the answer");
            goto done;
        }
        am = (struct store_message){.id = last->id, .role = STORE_ROLE_ASSISTANT,
                                    .status = STORE_MSG_GENERATING, .content = last->content,
                                    .reasoning = last->reasoning};
        rc = gen_store(g, STORE_MSG_GENERATING, &last->stats, err);
    } else {
        struct store_message in = {.role = STORE_ROLE_ASSISTANT, .status = STORE_MSG_GENERATING};
        rc = store_message_append(u->st, c->id, &in, &g->msg_id, NULL, err);
        am = (struct store_message){.id = g->msg_id, .role = STORE_ROLE_ASSISTANT,
                                    .status = STORE_MSG_GENERATING};
    }
    if (rc < 0)
        goto done;
    am.id = g->msg_id;
    if (kind == UI_GEN_MODEL) {
        struct worker_job_desc d = {.tokens = tokens, .n_tokens = n_tokens, .thinking = thinking,
                                    .client = client, .raw = false};
        char key[48];
        snprintf(key, sizeof(key), "ui:%" PRId64, c->id);
        d.conv_key = key;
        smol_sampling_default(&d.gen.sampling);
        d.gen.sampling.temperature = (float)s.settings.temperature;
        d.gen.sampling.top_p = (float)s.settings.top_p;
        d.gen.max_tokens = s.settings.max_tokens;
        static const struct worker_job_ops ops = {job_event, job_done, job_release};
        /* the callbacks may run at once (they wait for c->mu, which we
         * hold): g and its reference must be complete before the submit */
        pthread_mutex_lock(&u->mu);
        c->refs++;
        pthread_mutex_unlock(&u->mu);
        g->job = worker_submit(u->w, &d, &ops, g, err);
        if (!g->job) {
            ui_chat_put(c);
            /* nothing was generated: the empty answer goes away again */
            int64_t seq = cont ? 0 : v[n - 1].seq;
            if (!cont)
                store_session_truncate(u->st, c->id, seq, NULL);
            else
                store_message_update(u->st, g->msg_id, &v[n - 1], NULL);
            rc = err->code ? err->code : SMOL_ENOMEM;
            goto done;
        }
        /* the job's callbacks own g now; g->job is our reference */
    } else {
        pthread_mutex_lock(&u->mu);
        c->refs++;
        u->n_quotes++;
        pthread_mutex_unlock(&u->mu);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int prc = pthread_create(&t, &at, quote_main, g);
        pthread_attr_destroy(&at);
        if (prc) {
            pthread_mutex_lock(&u->mu);
            c->refs--;
            u->n_quotes--;
            pthread_mutex_unlock(&u->mu);
            store_session_truncate(u->st, c->id, v[n - 1].seq, NULL);
            rc = err_set(err, SMOL_ENOMEM, "cannot start the /quote thread");
            goto done;
        }
    }
    c->gen = g;
    g = NULL;
    gen_show(c, c->gen, &am, cont);
done:
    if (g) {
        text_release(&g->content);
        text_release(&g->reasoning);
        free(g);
    }
    free(tokens);
    store_messages_free(v, n);
    store_session_release(&s);
    return rc < 0 ? rc : 0;
}

void ui_gen_stop(struct ui_chat *c)
{
    struct ui_gen *g = c->gen;
    if (!g)
        return;
    if (g->job)
        worker_job_cancel(g->job);
    atomic_store(&g->cancel, true);
}

/* ---- the ticker ---- */

static void *ticker_main(void *arg)
{
    struct ui *u = arg;
    pthread_mutex_lock(&u->mu);
    while (!u->stopping) {
        struct ui_chat *due[UI_MAX_CHATS * 2];
        int n = 0;
        for (struct ui_chat *c = u->chats; c && n < (int)ARRAY_SIZE(due); c = c->next) {
            c->refs++;
            due[n++] = c;
        }
        pthread_mutex_unlock(&u->mu);
        const double now = ui_now_ms();
        for (int i = 0; i < n; i++) {
            struct ui_chat *c = due[i];
            pthread_mutex_lock(&c->mu);
            if (c->gen && c->gen->pending && now - c->gen->t_pending >= UI_FLUSH_MS)
                gen_flush(c->gen);
            pthread_mutex_unlock(&c->mu);
        }
        pthread_mutex_lock(&u->mu);
        for (int i = 0; i < n; i++)
            due[i]->refs--;
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += 50 * 1000000L; /* 50 ms: a flush is at most 10% late */
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        if (!u->stopping)
            pthread_cond_timedwait(&u->cv, &u->mu, &dl);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

int ui_live_start(struct ui *u, struct smol_err *err)
{
    if (pthread_create(&u->ticker, NULL, ticker_main, u))
        return err_set(err, SMOL_ENOMEM, "ui: cannot start the flush thread");
    u->ticker_on = true;
    return 0;
}

void ui_live_stop(struct ui *u)
{
    pthread_mutex_lock(&u->mu);
    bool was = u->stopping;
    u->stopping = true;
    pthread_cond_broadcast(&u->cv);
    /* quotes see the flag at their next piece and save what they have */
    while (u->n_quotes > 0)
        pthread_cond_wait(&u->cv, &u->mu);
    struct ui_chat *chats = u->chats;
    pthread_mutex_unlock(&u->mu);
    if (was)
        return;
    if (u->ticker_on) {
        pthread_join(u->ticker, NULL);
        u->ticker_on = false;
    }
    /* end every event stream: the connections can then complete */
    for (struct ui_chat *c = chats; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        for (int i = 0; i < c->n_subs; i++)
            sse_stream_close(c->subs[i], 200);
        pthread_mutex_unlock(&c->mu);
    }
}

void ui_live_free(struct ui *u)
{
    ui_live_stop(u);
    while (u->chats) {
        struct ui_chat *c = u->chats;
        u->chats = c->next;
        chat_free(c);
    }
    u->n_chats = 0;
}
