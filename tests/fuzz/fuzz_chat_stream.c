/*
 * fuzz_chat_stream.c: the thinking / answer / tool-call split and the
 * stop strings (smol_chat_stream_*), fed in random splits.
 *
 * Input layout:
 *   byte 0      options: bit 0 thinking, bit 1 start_in_reasoning, bit 2
 *               split only at UTF-8 character boundaries
 *   byte 1      number of stop strings (mod SMOL_CHAT_MAX_STOP + 1)
 *   2 per stop  offset and length (1..32) of the stop string inside the
 *               text, so that stops do occur in it; a slice that is not
 *               valid UTF-8 or holds a NUL is left out
 *   8 bytes     seed of the split points
 *   the rest    the generated text
 *
 * The text is fed once whole and once in random pieces (empty ones
 * included). What must hold:
 *   - each channel's events concatenate to the same bytes both ways,
 *     tool calls one by one; the stop index, ended_in_reasoning and the
 *     history form are the same;
 *   - the accumulated views (smol_chat_stream_content, ...) equal what
 *     the events gave;
 *   - with pieces that are complete UTF-8 (bit 2 on valid text) every
 *     event is valid UTF-8.
 */
#include "fuzzutil.h"

#include "buf.h"
#include "utf8.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one run saw: per channel the concatenated events; tool calls as
 * "<length>:" + text records so that event boundaries count too. */
struct run {
    struct buf ch[4];
    bool check_utf8;
};

static int on_event(void *user, int channel, const char *text, size_t len)
{
    struct run *r = user;
    FUZZ_CHECK(channel >= SMOL_CH_CONTENT && channel <= SMOL_CH_TOOL_CALL_INCOMPLETE,
               "channel %d", channel);
    if (r->check_utf8)
        FUZZ_CHECK(utf8_valid(text, len, NULL), "event on channel %d is not valid UTF-8",
                   channel);
    struct buf *b = &r->ch[channel];
    if (channel >= SMOL_CH_TOOL_CALL) {
        FUZZ_CHECK(buf_appendf(b, "%zu:", len) == 0, "out of memory");
    } else {
        FUZZ_CHECK(len > 0, "an empty event on channel %d", channel);
    }
    FUZZ_CHECK(buf_append(b, text, len) == 0, "out of memory");
    return 0;
}

/* Byte equality that allows NULL for empty (a fresh struct buf). */
static bool same(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* The stream's own accumulators must be what the events said. */
static void check_views(const struct smol_chat_stream *s, const struct run *r)
{
    size_t n;
    const char *c = smol_chat_stream_content(s, &n);
    FUZZ_CHECK(same(c, n, r->ch[SMOL_CH_CONTENT].data, r->ch[SMOL_CH_CONTENT].len),
               "content view differs from the events");
    c = smol_chat_stream_reasoning(s, &n);
    FUZZ_CHECK(same(c, n, r->ch[SMOL_CH_REASONING].data, r->ch[SMOL_CH_REASONING].len),
               "reasoning view differs from the events");
    struct buf calls[2];
    buf_init(&calls[0]);
    buf_init(&calls[1]);
    for (int i = 0; i < smol_chat_stream_n_tool_calls(s); i++) {
        bool complete;
        const char *t = smol_chat_stream_tool_call(s, i, &n, &complete);
        FUZZ_CHECK(t != NULL, "tool call %d missing", i);
        struct buf *b = &calls[complete ? 0 : 1];
        FUZZ_CHECK(buf_appendf(b, "%zu:", n) == 0 && buf_append(b, t, n) == 0, "out of memory");
    }
    for (int k = 0; k < 2; k++) {
        const struct buf *e = &r->ch[SMOL_CH_TOOL_CALL + k];
        FUZZ_CHECK(same(calls[k].data, calls[k].len, e->data, e->len),
                   "tool call views differ from the events (%s)", k ? "incomplete" : "complete");
        buf_release(&calls[k]);
    }
}

struct outcome {
    struct run r;
    int stop_index;
    bool ended_in_reasoning;
    char *history;
};

/* Feeds text in pieces (one piece when seed is 0) and finishes. */
static void run_stream(const struct smol_chat_stream_opts *o, const char *text, size_t len,
                       uint64_t seed, bool utf8_splits, struct outcome *out)
{
    struct smol_err err = {0};
    struct smol_chat_stream *s = smol_chat_stream_new(o, &err);
    FUZZ_CHECK(s != NULL, "stream_new refused valid options: %s", err.msg);
    for (int k = 0; k < 4; k++)
        buf_init(&out->r.ch[k]);
    out->r.check_utf8 = utf8_splits || (seed == 0 && utf8_valid(text, len, NULL));
    size_t pos = 0;
    bool halted = false;
    while (pos < len) {
        size_t n = len - pos;
        if (seed) {
            size_t r = (size_t)(fuzz_rand(&seed) % 17); /* 0..16 bytes (MIN evaluates twice) */
            n = MIN(n, r);
            if (utf8_splits) /* move the cut to the end of a character */
                while (pos + n < len && ((unsigned char)text[pos + n] & 0xC0) == 0x80)
                    n++;
        }
        int rc = smol_chat_stream_feed(s, text + pos, n, on_event, &out->r);
        FUZZ_CHECK(rc == 0 || rc == 1, "feed returned %d", rc);
        FUZZ_CHECK(!halted || rc == 1, "feed went on after a halt");
        halted = rc == 1;
        pos += n;
    }
    FUZZ_CHECK(smol_chat_stream_finish(s, on_event, &out->r) == 0, "finish failed");
    FUZZ_CHECK(smol_chat_stream_finish(s, on_event, &out->r) == 0, "second finish failed");
    check_views(s, &out->r);
    out->stop_index = smol_chat_stream_stop_index(s);
    out->ended_in_reasoning = smol_chat_stream_ended_in_reasoning(s);
    out->history = smol_chat_stream_history(s);
    FUZZ_CHECK(out->history != NULL, "history: out of memory");
    FUZZ_CHECK(out->stop_index >= -1 && out->stop_index < o->n_stop, "stop index %d of %d",
               out->stop_index, o->n_stop);
    smol_chat_stream_free(s);
}

static void outcome_release(struct outcome *o)
{
    for (int k = 0; k < 4; k++)
        buf_release(&o->r.ch[k]);
    free(o->history);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 10)
        return 0;
    const uint8_t opt = data[0];
    int want = data[1] % (SMOL_CHAT_MAX_STOP + 1);
    size_t head = 2 + 2 * (size_t)want + 8;
    if (size < head)
        return 0;
    const char *text = (const char *)data + head;
    const size_t len = size - head;
    uint64_t seed;
    memcpy(&seed, data + 2 + 2 * want, 8);
    seed |= 1; /* 0 means "whole" */

    /* stop strings: slices of the text, NUL-terminated copies */
    char stops[SMOL_CHAT_MAX_STOP][33];
    const char *stop_ptrs[SMOL_CHAT_MAX_STOP];
    int n_stop = 0;
    for (int i = 0; i < want && len > 0; i++) {
        size_t off = data[2 + 2 * i] % len, n = 1 + data[3 + 2 * i] % 32;
        n = MIN(n, len - off);
        if (memchr(text + off, '\0', n) || !utf8_valid(text + off, n, NULL))
            continue;
        memcpy(stops[n_stop], text + off, n);
        stops[n_stop][n] = '\0';
        stop_ptrs[n_stop] = stops[n_stop];
        n_stop++;
    }
    struct smol_chat_stream_opts o = {
        .thinking = opt & 1, .start_in_reasoning = (opt >> 1) & 1,
        .stop = stop_ptrs, .n_stop = n_stop,
    };
    const bool utf8_splits = (opt >> 2) & 1 && utf8_valid(text, len, NULL);

    struct outcome whole, split;
    run_stream(&o, text, len, 0, false, &whole);
    run_stream(&o, text, len, seed, utf8_splits, &split);
    static const char *const names[4] = {"content", "reasoning", "tool call", "incomplete call"};
    for (int k = 0; k < 4; k++)
        FUZZ_CHECK(same(whole.r.ch[k].data, whole.r.ch[k].len, split.r.ch[k].data,
                        split.r.ch[k].len),
                   "%s differs when split (%zu vs %zu bytes)", names[k], whole.r.ch[k].len,
                   split.r.ch[k].len);
    FUZZ_CHECK(whole.stop_index == split.stop_index, "stop index %d vs %d", whole.stop_index,
               split.stop_index);
    FUZZ_CHECK(whole.ended_in_reasoning == split.ended_in_reasoning, "ended_in_reasoning differs");
    FUZZ_CHECK(strcmp(whole.history, split.history) == 0, "history differs");
    outcome_release(&whole);
    outcome_release(&split);
    return 0;
}
