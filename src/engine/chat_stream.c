/*
 * chat_stream.c: splitting one generated assistant turn into reasoning,
 * answer and tool calls while it streams, and applying stop strings
 * (the contract is the "chat stream" section of smol.h).
 *
 * Two layers, each holding back only what it cannot decide yet:
 *
 *   pieces -> [tags] -> reasoning events (trailing whitespace held)
 *                    -> tool-call text (buffered until </tool_call>)
 *                    -> answer text -> [stops] -> answer events
 *
 * The tag layer keeps in `pend` the longest suffix of the input that is
 * a proper prefix of a tag valid in the current mode (at most 11 bytes
 * for "</tool_call>"); everything before it is decided. The stop layer
 * does the same in `sp` with the stop strings, on answer text only.
 * Both search a small buffer (held bytes + the new piece), so each feed
 * costs O(piece + longest tag/stop) per pattern, never the whole turn.
 */
#include "smol.h"
#include "buf.h"
#include "mem.h"
#include "utf8.h"

#include <string.h>

enum chat_mode { CHAT_CONTENT, CHAT_REASONING, CHAT_TOOL };

static const char chat_tag_think[] = "<think>";
static const char chat_tag_think_end[] = "</think>";
static const char chat_tag_tool[] = "<tool_call>";
static const char chat_tag_tool_end[] = "</tool_call>";

struct chat_tool_call {
    char *text;    /* owned, NUL-terminated, trimmed */
    size_t len;
    bool complete; /* false: the turn ended before </tool_call> */
};

struct smol_chat_stream {
    bool thinking;
    char *stops[SMOL_CHAT_MAX_STOP]; /* owned copies */
    size_t stop_len[SMOL_CHAT_MAX_STOP];
    int n_stop;

    int mode;               /* enum chat_mode */
    struct buf pend;        /* undecided input: a possible tag prefix */
    bool seen_think;        /* a think block was opened */
    bool think_ok;          /* <think> may still open the turn */
    bool content_lstrip;    /* drop answer whitespace (turn start, after a tag) */
    bool reasoning_lstrip;  /* drop reasoning whitespace (block start) */
    struct buf rws;         /* reasoning whitespace: dropped if </think> follows */
    struct buf sp;          /* answer bytes that may start a stop string */
    struct buf tool;        /* the open tool call's text */

    struct buf reasoning, content; /* everything emitted, per channel */
    struct chat_tool_call *calls;
    int n_calls, cap_calls;

    int stop_index;         /* matched stop string, -1 */
    bool halted;            /* stop string, callback or error: emit nothing more */
    bool finished;
    bool ended_in_reasoning;
    int status;             /* first error (SMOL_ENOMEM), sticky */

    smol_chat_event_fn fn;  /* the current feed/finish call's callback */
    void *user;
};

/* ---- small helpers ---- */

static bool chat_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Drops the first n bytes of b, keeping it NUL-terminated. */
static void chat_buf_consume(struct buf *b, size_t n)
{
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

/* Records an allocation failure: the stream halts with SMOL_ENOMEM. */
static void chat_fail(struct smol_chat_stream *s, int rc)
{
    if (!s->status)
        s->status = rc;
    s->halted = true;
}

/* Length of the longest suffix of p[0..n) that is a proper prefix of one
 * of the patterns: those bytes must wait for the next piece. */
static size_t chat_hold_len(const char *p, size_t n, const char *const *pats,
                            const size_t *lens, int n_pats)
{
    size_t longest = 0;
    for (int i = 0; i < n_pats; i++)
        longest = MAX(longest, lens[i]);
    for (size_t k = MIN(n, longest ? longest - 1 : 0); k > 0; k--)
        for (int i = 0; i < n_pats; i++)
            if (lens[i] > k && memcmp(p + n - k, pats[i], k) == 0)
                return k;
    return 0;
}

/* ---- events ---- */

/* Emits text on the reasoning or content channel: record, then report. */
static void chat_emit(struct smol_chat_stream *s, int ch, const char *p, size_t n)
{
    if (n == 0 || s->halted)
        return;
    struct buf *acc = ch == SMOL_CH_REASONING ? &s->reasoning : &s->content;
    int rc = buf_append(acc, p, n);
    if (rc) {
        chat_fail(s, rc);
        return;
    }
    if (s->fn && s->fn(s->user, ch, p, n))
        s->halted = true;
}

/* Ends the open tool call: trims it, records it, reports it. */
static void chat_close_tool(struct smol_chat_stream *s, bool complete)
{
    const char *p = s->tool.data ? s->tool.data : "";
    size_t n = s->tool.len;
    while (n > 0 && chat_is_space(*p))
        p++, n--;
    while (n > 0 && chat_is_space(p[n - 1]))
        n--;
    if (s->n_calls == s->cap_calls) {
        int cap = s->cap_calls ? 2 * s->cap_calls : 4;
        struct chat_tool_call *c = realloc(s->calls, (size_t)cap * sizeof(*c));
        if (!c) {
            chat_fail(s, SMOL_ENOMEM);
            return;
        }
        s->calls = c;
        s->cap_calls = cap;
    }
    char *text = mem_strndup(p, n);
    if (!text) {
        chat_fail(s, SMOL_ENOMEM);
        return;
    }
    s->calls[s->n_calls++] = (struct chat_tool_call){text, n, complete};
    buf_reset(&s->tool);
    const int ch = complete ? SMOL_CH_TOOL_CALL : SMOL_CH_TOOL_CALL_INCOMPLETE;
    if (s->fn && s->fn(s->user, ch, text, n))
        s->halted = true;
}

/* ---- the stop layer: answer text in, answer events out ---- */

/* Emits the held answer bytes: a tag or the end follows, so they cannot
 * complete a stop string any more. */
static void chat_stop_flush(struct smol_chat_stream *s)
{
    chat_emit(s, SMOL_CH_CONTENT, s->sp.data, s->sp.len);
    buf_reset(&s->sp);
}

/* Takes answer text; emits all of it that cannot be part of a stop
 * string, or, on a match, what precedes it and halts. */
static void chat_answer(struct smol_chat_stream *s, const char *p, size_t n)
{
    if (s->n_stop == 0) {
        chat_emit(s, SMOL_CH_CONTENT, p, n);
        return;
    }
    int rc = buf_append(&s->sp, p, n);
    if (rc) {
        chat_fail(s, rc);
        return;
    }
    /* The match that completes first wins (it is the one generation
     * would have stopped at), then the one that starts first. */
    int best = -1;
    size_t best_pos = 0, best_end = SIZE_MAX;
    for (int i = 0; i < s->n_stop; i++) {
        const char *hit = memmem(s->sp.data, s->sp.len, s->stops[i], s->stop_len[i]);
        if (!hit)
            continue;
        size_t pos = (size_t)(hit - s->sp.data), end = pos + s->stop_len[i];
        if (end < best_end || (end == best_end && pos < best_pos)) {
            best = i;
            best_pos = pos;
            best_end = end;
        }
    }
    if (best >= 0) {
        chat_emit(s, SMOL_CH_CONTENT, s->sp.data, best_pos);
        buf_reset(&s->sp);
        s->stop_index = best;
        s->halted = true;
        return;
    }
    size_t keep = chat_hold_len(s->sp.data, s->sp.len, (const char *const *)s->stops,
                                s->stop_len, s->n_stop);
    chat_emit(s, SMOL_CH_CONTENT, s->sp.data, s->sp.len - keep);
    chat_buf_consume(&s->sp, s->sp.len - keep);
}

/* ---- the tag layer's channels ---- */

/* Answer text from the tag layer: drops leading whitespace where the
 * template puts newlines, passes the rest to the stop layer. */
static void chat_content(struct smol_chat_stream *s, const char *p, size_t n)
{
    if (s->content_lstrip) {
        while (n > 0 && chat_is_space(*p))
            p++, n--;
        if (n == 0)
            return;
        s->content_lstrip = false;
    }
    chat_answer(s, p, n);
}

/* Reasoning text: drops leading whitespace, emits up to the last
 * non-whitespace byte and holds the whitespace after it, which is
 * emitted before the next non-whitespace byte or dropped at </think>. */
static void chat_reasoning(struct smol_chat_stream *s, const char *p, size_t n)
{
    if (s->reasoning_lstrip) {
        while (n > 0 && chat_is_space(*p))
            p++, n--;
        if (n == 0)
            return;
        s->reasoning_lstrip = false;
    }
    size_t last = n;
    while (last > 0 && chat_is_space(p[last - 1]))
        last--;
    int rc = 0;
    if (last > 0) {
        /* held whitespace + the decided text, as one event */
        rc = buf_append(&s->rws, p, last);
        if (!rc) {
            chat_emit(s, SMOL_CH_REASONING, s->rws.data, s->rws.len);
            buf_reset(&s->rws);
        }
    }
    if (!rc)
        rc = buf_append(&s->rws, p + last, n - last);
    if (rc)
        chat_fail(s, rc);
}

/* Decided text of the current mode; final: a tag (or the end) follows. */
static void chat_text(struct smol_chat_stream *s, const char *p, size_t n, bool final)
{
    if (n == 0 && !final)
        return;
    switch (s->mode) {
    case CHAT_CONTENT:
        if (n > 0)
            chat_content(s, p, n);
        if (final)
            chat_stop_flush(s);
        break;
    case CHAT_REASONING:
        if (n > 0)
            chat_reasoning(s, p, n);
        if (final)
            buf_reset(&s->rws);
        break;
    default: {
        int rc = n > 0 ? buf_append(&s->tool, p, n) : 0;
        if (rc)
            chat_fail(s, rc);
        break;
    }
    }
}

/* The one tag that ends or interrupts the current mode's text (<think>
 * is chat_open_think's). */
static const char *chat_mode_tag(const struct smol_chat_stream *s)
{
    switch (s->mode) {
    case CHAT_CONTENT:
        return chat_tag_tool;
    case CHAT_REASONING:
        return chat_tag_think_end;
    default:
        return chat_tag_tool_end;
    }
}

/* Switches mode on a complete tag. */
static void chat_on_tag(struct smol_chat_stream *s, const char *tag)
{
    if (tag == chat_tag_think) {
        s->mode = CHAT_REASONING;
        s->seen_think = true;
        s->think_ok = false;
        s->reasoning_lstrip = true;
    } else if (tag == chat_tag_tool) {
        s->mode = CHAT_TOOL;
        buf_reset(&s->tool);
    } else if (tag == chat_tag_think_end) {
        s->mode = CHAT_CONTENT;
        s->content_lstrip = true;
    } else {
        chat_close_tool(s, true);
        s->mode = CHAT_CONTENT;
        s->content_lstrip = true;
    }
}

/* A think block only opens the turn (as llama.cpp reads it): <think>
 * counts only as the first non-whitespace text. Returns the bytes of
 * rest[0..n) consumed (leading whitespace, which the answer would drop
 * anyway, and the tag); *wait when the rest may still become <think>. */
static size_t chat_open_think(struct smol_chat_stream *s, const char *rest, size_t n,
                              bool *wait)
{
    const size_t tag_len = sizeof(chat_tag_think) - 1;
    size_t f = 0;
    while (f < n && chat_is_space(rest[f]))
        f++;
    *wait = false;
    if (n - f >= tag_len && memcmp(rest + f, chat_tag_think, tag_len) == 0) {
        chat_on_tag(s, chat_tag_think);
        return f + tag_len;
    }
    if (n - f < tag_len && memcmp(rest + f, chat_tag_think, n - f) == 0) {
        *wait = true; /* "", "<", ..., "<think": undecided */
        return f;
    }
    s->think_ok = false; /* the turn starts with something else */
    return f;
}

/* Decides as much of pend as the tags allow. */
static void chat_process(struct smol_chat_stream *s)
{
    size_t pos = 0;
    while (!s->halted) {
        const char *rest = s->pend.data + pos;
        const size_t n = s->pend.len - pos;
        if (s->mode == CHAT_CONTENT && s->think_ok) {
            bool wait;
            pos += chat_open_think(s, rest, n, &wait);
            if (wait)
                break;
            continue;
        }
        const char *tag = chat_mode_tag(s);
        const size_t tag_len = strlen(tag);
        const char *hit = memmem(rest, n, tag, tag_len);
        if (hit) {
            const size_t at = (size_t)(hit - rest);
            chat_text(s, rest, at, true);
            if (s->halted)
                break;
            chat_on_tag(s, tag);
            pos += at + tag_len;
            continue;
        }
        const size_t keep = chat_hold_len(rest, n, &tag, &tag_len, 1);
        chat_text(s, rest, n - keep, false);
        pos += n - keep;
        break;
    }
    chat_buf_consume(&s->pend, pos);
}

/* ---- the public API ---- */

struct smol_chat_stream *smol_chat_stream_new(const struct smol_chat_stream_opts *opts,
                                              struct smol_err *err)
{
    const struct smol_chat_stream_opts none = {0};
    if (!opts)
        opts = &none;
    if (opts->n_stop < 0 || opts->n_stop > SMOL_CHAT_MAX_STOP) {
        err_set(err, SMOL_EINVAL, "chat stream: %d stop strings given, at most %d allowed",
                opts->n_stop, SMOL_CHAT_MAX_STOP);
        return NULL;
    }
    if (opts->n_stop > 0 && !opts->stop) {
        err_set(err, SMOL_EINVAL, "chat stream: %d stop strings announced but the array is NULL",
                opts->n_stop);
        return NULL;
    }
    /* validate every stop string before allocating anything */
    for (int i = 0; i < opts->n_stop; i++) {
        const char *st = opts->stop[i];
        if (!st) {
            err_set(err, SMOL_EINVAL, "chat stream: stop string %d is NULL", i);
            return NULL;
        }
        const size_t len = strnlen(st, SMOL_CHAT_STOP_MAX_BYTES + 1);
        size_t bad = 0;
        if (len == 0) {
            err_set(err, SMOL_EINVAL, "chat stream: stop string %d is empty", i);
            return NULL;
        }
        if (len > SMOL_CHAT_STOP_MAX_BYTES) {
            err_set(err, SMOL_EINVAL, "chat stream: stop string %d is longer than %d bytes", i,
                    SMOL_CHAT_STOP_MAX_BYTES);
            return NULL;
        }
        if (!utf8_valid(st, len, &bad)) {
            err_set(err, SMOL_EINVAL, "chat stream: stop string %d is not valid UTF-8 at byte %zu",
                    i, bad);
            return NULL;
        }
    }
    struct smol_chat_stream *s = calloc(1, sizeof(*s));
    if (!s)
        goto fail_alloc;
    s->thinking = opts->thinking;
    s->stop_index = -1;
    s->content_lstrip = true;
    s->think_ok = !opts->start_in_reasoning;
    if (opts->start_in_reasoning) {
        s->mode = CHAT_REASONING;
        s->seen_think = true;
        s->reasoning_lstrip = true;
    }
    buf_init(&s->pend);
    buf_init(&s->rws);
    buf_init(&s->sp);
    buf_init(&s->tool);
    buf_init(&s->reasoning);
    buf_init(&s->content);
    for (int i = 0; i < opts->n_stop; i++) {
        s->stop_len[i] = strlen(opts->stop[i]);
        s->stops[i] = mem_strndup(opts->stop[i], s->stop_len[i]);
        if (!s->stops[i])
            goto fail_stream;
        s->n_stop = i + 1;
    }
    return s;

fail_stream:
    smol_chat_stream_free(s);
fail_alloc:
    err_set(err, SMOL_ENOMEM, "chat stream: out of memory");
    return NULL;
}

void smol_chat_stream_free(struct smol_chat_stream *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_stop; i++)
        free(s->stops[i]);
    for (int i = 0; i < s->n_calls; i++)
        free(s->calls[i].text);
    free(s->calls);
    buf_release(&s->pend);
    buf_release(&s->rws);
    buf_release(&s->sp);
    buf_release(&s->tool);
    buf_release(&s->reasoning);
    buf_release(&s->content);
    free(s);
}

int smol_chat_stream_feed(struct smol_chat_stream *s, const char *text, size_t len,
                          smol_chat_event_fn fn, void *user)
{
    if (s->halted || s->finished)
        return s->status ? s->status : 1;
    if (len == 0)
        return 0;
    int rc = buf_append(&s->pend, text, len);
    if (rc) {
        chat_fail(s, rc);
        return rc;
    }
    s->fn = fn;
    s->user = user;
    chat_process(s);
    s->fn = NULL;
    s->user = NULL;
    if (s->status)
        return s->status;
    return s->halted ? 1 : 0;
}

int smol_chat_stream_finish(struct smol_chat_stream *s, smol_chat_event_fn fn, void *user)
{
    if (s->finished)
        return s->status;
    s->finished = true;
    s->ended_in_reasoning = s->mode == CHAT_REASONING;
    if (s->halted)
        return s->status;
    s->fn = fn;
    s->user = user;
    /* a partial tag is plain text of the current mode now */
    chat_text(s, s->pend.data, s->pend.len, true);
    buf_reset(&s->pend);
    if (s->mode == CHAT_TOOL && !s->halted)
        chat_close_tool(s, false);
    s->fn = NULL;
    s->user = NULL;
    return s->status;
}

bool smol_chat_stream_ended_in_reasoning(const struct smol_chat_stream *s)
{
    return s->ended_in_reasoning;
}

int smol_chat_stream_stop_index(const struct smol_chat_stream *s)
{
    return s->stop_index;
}

static const char *chat_buf_view(const struct buf *b, size_t *len)
{
    if (len)
        *len = b->len;
    return b->data ? b->data : "";
}

const char *smol_chat_stream_reasoning(const struct smol_chat_stream *s, size_t *len)
{
    return chat_buf_view(&s->reasoning, len);
}

const char *smol_chat_stream_content(const struct smol_chat_stream *s, size_t *len)
{
    return chat_buf_view(&s->content, len);
}

int smol_chat_stream_n_tool_calls(const struct smol_chat_stream *s)
{
    return s->n_calls;
}

const char *smol_chat_stream_tool_call(const struct smol_chat_stream *s, int i, size_t *len,
                                       bool *complete)
{
    if (i < 0 || i >= s->n_calls)
        return NULL;
    if (len)
        *len = s->calls[i].len;
    if (complete)
        *complete = s->calls[i].complete;
    return s->calls[i].text;
}

/* ---- the history form ---- */

char *smol_chat_history_content(const char *reasoning, const char *answer,
                                const char *const *tool_calls, int n_tool_calls,
                                bool thinking)
{
    struct buf b;
    buf_init(&b);
    int rc = 0;
    if (thinking && reasoning)
        rc |= buf_appendf(&b, "<think>\n%s\n</think>\n\n", reasoning);
    if (answer)
        rc |= buf_append_str(&b, answer);
    for (int i = 0; i < n_tool_calls && !rc; i++) {
        /* each call on its own lines, as the template's tool prompt asks */
        if (b.len > 0 && b.data[b.len - 1] != '\n')
            rc |= buf_append_char(&b, '\n');
        rc |= buf_appendf(&b, "<tool_call>\n%s\n</tool_call>", tool_calls[i]);
    }
    /* an empty message is "" rather than NULL, which means ENOMEM */
    if (!rc && !b.data)
        rc = buf_append(&b, "", 0);
    if (rc) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

char *smol_chat_stream_history(const struct smol_chat_stream *s)
{
    const char **calls = NULL;
    int n = 0;
    if (s->n_calls > 0) {
        calls = mem_alloc_array((uint64_t)s->n_calls, sizeof(*calls));
        if (!calls)
            return NULL;
    }
    for (int i = 0; i < s->n_calls; i++)
        if (s->calls[i].complete)
            calls[n++] = s->calls[i].text;
    const char *reasoning = s->seen_think ? chat_buf_view(&s->reasoning, NULL) : NULL;
    char *out = smol_chat_history_content(reasoning, chat_buf_view(&s->content, NULL), calls, n,
                                          s->thinking);
    free(calls);
    return out;
}
