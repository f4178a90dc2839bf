/*
 * chat_template.c: turning messages into the prompt the model was trained
 * on, SmolLM3's Jinja template written out in C (see chat_template.h for
 * what it reproduces and where it decides), the messages JSON reader and
 * the one-turn smol_render_prompt that `smolbot run -p` uses. Each
 * render can also record which of its bytes came from the caller (struct
 * chat_spans), so that smol_tokenize_literal parses control tokens only
 * in the template's own text: a message cannot forge a turn.
 *
 * The template, ../shared/fixtures/chat/template.jinja, in short:
 *
 *   <|im_start|>system\n
 *   if the system text holds "/system_override":
 *       TEXT (flags and "/system_override" removed, rstripped) <|im_end|>\n
 *   else:
 *       ## Metadata ... Today Date ... Reasoning Mode: /think|/no_think
 *       ## Custom Instructions: TEXT or the default for the mode
 *       if tools: ### Tools, each tool as Python's str(), then <|im_end|>\n
 *   every user / assistant / tool message as a turn
 *   <|im_start|>assistant\n (+ an empty think block in no-think mode)
 */
#include "chat_template.h"
#include "mem.h"
#include "model.h"
#include "tool_call.h"
#include "utf8.h"

#include <limits.h>
#include <string.h>
#include <time.h>

static const char chat_default_think[] =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face. Your role as "
    "an assistant involves thoroughly exploring questions through a systematic thinking "
    "process before providing the final precise and accurate solutions. This requires "
    "engaging in a comprehensive cycle of analysis, summarizing, exploration, reassessment, "
    "reflection, backtracking, and iteration to develop well-considered thinking process. "
    "Please structure your response into two main sections: Thought and Solution using the "
    "specified format: <think> Thought section </think> Solution section. In the Thought "
    "section, detail your reasoning process in steps. Each step should include detailed "
    "considerations such as analysing questions, summarizing relevant findings, "
    "brainstorming new ideas, verifying the accuracy of the current steps, refining any "
    "errors, and revisiting previous steps. In the Solution section, based on various "
    "attempts, explorations, and reflections from the Thought section, systematically "
    "present the final solution that you deem correct. The Solution section should be "
    "logical, accurate, and concise and detail necessary steps needed to reach the "
    "conclusion.";
static const char chat_default_no_think[] =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face.";

static const char chat_xml_tools_head[] =
    "You may call one or more functions to assist with the user query.\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n\n<tools>\n";
static const char chat_xml_tools_tail[] =
    "</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
    "<function-name>, \"arguments\": <args-json-object>}\n</tool_call>";
static const char chat_python_tools_head[] =
    "When you send a message containing Python code between '<code>' and '</code>' tags, "
    "it will be executed in a stateful Jupyter notebook environment, and you will then be "
    "given the output to continued reasoning in an agentic loop.\n\nYou can use the "
    "following tools in your python code like regular functions:\n<tools>\n";
static const char chat_python_tools_tail[] =
    "</tools>\n\nThe state persists between code executions: so variables that you define "
    "in one step are still available thereafter.";

/* ------------------------------------------------------------------ */
/* Python string methods the template calls                            */
/* ------------------------------------------------------------------ */

/* str.isspace() for one character (the list is the Unicode database's
 * Zs category plus bidi classes WS, B and S; it has been stable since
 * Unicode 6.3). */
static bool chat_py_space(uint32_t cp)
{
    if (cp <= 0x20)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t chat_py_rstrip(const char *s, size_t len)
{
    while (len > 0) {
        /* step back to the start of the last character */
        size_t i = len - 1;
        while (i > 0 && len - i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80)
            i--;
        uint32_t cp;
        if (utf8_decode(s + i, len - i, &cp) != (int)(len - i) || !chat_py_space(cp))
            break;
        len = i;
    }
    return len;
}

/* Appends s[0..len) with every occurrence of pat removed, scanning left
 * to right without overlaps: Python's s.replace(pat, ""). */
static int chat_append_without(struct buf *out, const char *s, size_t len, const char *pat)
{
    size_t n = strlen(pat);
    int rc = 0;
    for (;;) {
        const char *hit = memmem(s, len, pat, n);
        if (!hit)
            return rc ? rc : buf_append(out, s, len);
        rc = buf_append(out, s, (size_t)(hit - s));
        len -= (size_t)(hit - s) + n;
        s = hit + n;
    }
}

static bool chat_contains(const char *s, const char *pat)
{
    return strstr(s, pat) != NULL;
}

/* ------------------------------------------------------------------ */
/* The caller's bytes                                                  */
/* ------------------------------------------------------------------ */

/* Where the caller's text lies in the render: what smol_tokenize_literal
 * must keep from becoming control tokens. A NULL list records nothing. */
struct chat_spans {
    struct smol_span *v; /* owned, [n] in order */
    int n, cap;
};

/* Records out[start..end) as the caller's; joins a range that touches the
 * last one. Empty ranges are not recorded. */
static int chat_span_add(struct chat_spans *sp, size_t start, size_t end)
{
    if (!sp || start == end)
        return 0;
    if (sp->n > 0 && sp->v[sp->n - 1].end == start) {
        sp->v[sp->n - 1].end = end;
        return 0;
    }
    if (sp->n == sp->cap) {
        if (sp->cap > INT_MAX / 2)
            return SMOL_ENOMEM;
        int cap = sp->cap ? 2 * sp->cap : 16;
        uint64_t bytes;
        struct smol_span *v = NULL;
        if (mem_mul((uint64_t)cap, sizeof(*v), &bytes) && bytes <= SIZE_MAX)
            v = realloc(sp->v, (size_t)bytes);
        if (!v)
            return SMOL_ENOMEM;
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[sp->n++] = (struct smol_span){start, end};
    return 0;
}

/* Appends the caller's s[0..len) and records it as a span. */
static int chat_append_caller(struct buf *out, struct chat_spans *sp, const char *s, size_t len)
{
    size_t at = out->len;
    int rc = buf_append(out, s, len);
    return rc ? rc : chat_span_add(sp, at, out->len);
}

/* ------------------------------------------------------------------ */
/* The system header                                                   */
/* ------------------------------------------------------------------ */

/* What the template derives from the first message and the options. */
struct chat_header {
    bool thinking;     /* reasoning_mode == "/think" */
    bool override;     /* "/system_override" in the first (system) message */
    struct buf text;   /* custom_instructions, or the override text */
};

/* b.rstrip() in place. */
static void chat_buf_rstrip(struct buf *b)
{
    if (!b->data)
        return;
    b->len = chat_py_rstrip(b->data, b->len);
    b->data[b->len] = '\0';
}

static int chat_header_read(struct chat_header *h, const struct smol_message *msgs, int n_msgs,
                            const struct smol_chat_opts *o)
{
    h->thinking = !o || o->thinking != 0;
    h->override = false;
    buf_init(&h->text);
    if (n_msgs <= 0 || msgs[0].role != SMOL_ROLE_SYSTEM)
        return 0; /* system_message stays undefined: defaults, no override */
    const char *sys = msgs[0].content ? msgs[0].content : "";
    /* the flags in the system text beat the request's switch */
    if (chat_contains(sys, "/no_think"))
        h->thinking = false;
    else if (chat_contains(sys, "/think"))
        h->thinking = true;
    /* custom_instructions = sys.replace("/no_think", "").replace("/think", "").rstrip() */
    struct buf tmp;
    buf_init(&tmp);
    int rc = chat_append_without(&tmp, sys, strlen(sys), "/no_think");
    if (rc == 0)
        rc = chat_append_without(&h->text, tmp.data ? tmp.data : "", tmp.len, "/think");
    buf_release(&tmp);
    if (rc)
        return rc;
    chat_buf_rstrip(&h->text);
    if (!chat_contains(sys, "/system_override"))
        return 0;
    /* the header is custom_instructions.replace("/system_override", "").rstrip() */
    h->override = true;
    buf_init(&tmp);
    rc = chat_append_without(&tmp, h->text.data ? h->text.data : "", h->text.len,
                             "/system_override");
    buf_release(&h->text);
    h->text = tmp;
    chat_buf_rstrip(&h->text);
    return rc;
}

/* Parses a tools option: NULL, null and [] mean none (the template tests
 * their truth); anything else must be an array. *out is then an array
 * value (n may be 0) to release. */
static int chat_tools_read(const char *json, const char *what, struct tool_json *out,
                           struct smol_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!json)
        return 0;
    struct smol_err jerr = {0};
    int rc = tool_json_parse(json, strlen(json), TOOL_JSON_STRICT, out, &jerr);
    if (rc)
        return err_set(err, rc, "chat: %s: %s", what, jerr.msg);
    if (out->type == TOOL_JSON_NULL)
        return 0;
    if (out->type != TOOL_JSON_ARRAY) {
        tool_json_release(out);
        return err_set(err, SMOL_EFORMAT, "chat: %s must be a JSON array of tools", what);
    }
    /* A tool that is a string prints as itself (str(), not repr()), so a
     * \u0000 in it would put a NUL in the prompt and cut the C string
     * there, dropping every message after it. */
    for (size_t i = 0; i < out->n; i++) {
        const struct tool_json *t = &out->items[i];
        if (t->type == TOOL_JSON_STRING && memchr(t->s, '\0', t->n)) {
            size_t at = t->at;
            tool_json_release(out);
            return err_set(err, SMOL_EFORMAT,
                           "chat: %s[%zu] is a string holding a NUL character (\\u0000) at "
                           "offset %zu", what, i, at);
        }
    }
    return 0;
}

/* One tools block: head, each tool as Python's str() on its own line
 * (the caller's), tail. */
static int chat_tools_write(struct buf *out, struct chat_spans *sp, const struct tool_json *tools,
                            const char *head, const char *tail)
{
    int rc = buf_append_str(out, head);
    for (size_t i = 0; i < tools->n && rc == 0; i++) {
        size_t at = out->len;
        rc = tool_json_write_str(out, &tools->items[i]);
        rc = rc ? rc : chat_span_add(sp, at, out->len);
        rc = rc ? rc : buf_append_char(out, '\n');
    }
    return rc ? rc : buf_append_str(out, tail);
}

static int chat_header_write(struct buf *out, struct chat_spans *sp, const struct chat_header *h,
                             const struct smol_chat_opts *o, struct smol_err *err)
{
    int rc = buf_append_str(out, "<|im_start|>system\n");
    if (h->override) {
        rc = rc ? rc : chat_append_caller(out, sp, h->text.data ? h->text.data : "", h->text.len);
        return rc ? rc : buf_append_str(out, "<|im_end|>\n");
    }
    char today[32];
    const char *date = o && o->date ? o->date : (chat_template_today(today), today);
    rc = rc ? rc
            : buf_append_str(out, "## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
                                  "Today Date: ");
    /* the date is the caller's when given */
    rc = rc ? rc : chat_append_caller(out, o && o->date ? sp : NULL, date, strlen(date));
    rc = rc ? rc
            : buf_appendf(out, "\nReasoning Mode: %s\n\n## Custom Instructions\n\n",
                          h->thinking ? "/think" : "/no_think");
    if (rc)
        return rc;
    if (h->text.len)
        rc = chat_append_caller(out, sp, h->text.data, h->text.len);
    else
        rc = buf_append_str(out, h->thinking ? chat_default_think : chat_default_no_think);
    rc = rc ? rc : buf_append_str(out, "\n\n");
    if (rc)
        return rc;

    struct tool_json xml, py;
    if ((rc = chat_tools_read(o ? o->tools_json : NULL, "tools", &xml, err)) != 0)
        return rc;
    if ((rc = chat_tools_read(o ? o->python_tools_json : NULL, "python tools", &py, err)) != 0) {
        tool_json_release(&xml);
        return rc;
    }
    /* {% if xml_tools or python_tools %}: an empty list is false */
    if (xml.n || py.n) {
        rc = buf_append_str(out, "### Tools\n\n");
        if (rc == 0 && xml.n)
            rc = chat_tools_write(out, sp, &xml, chat_xml_tools_head, chat_xml_tools_tail);
        /* the template puts nothing between the two blocks */
        if (rc == 0 && py.n)
            rc = chat_tools_write(out, sp, &py, chat_python_tools_head, chat_python_tools_tail);
        rc = rc ? rc : buf_append_str(out, "\n\n<|im_end|>\n");
    }
    /* without tools the system block stays open: the template's quirk */
    tool_json_release(&xml);
    tool_json_release(&py);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Turns                                                               */
/* ------------------------------------------------------------------ */

/* An assistant's tool calls after its content, which starts at
 * out->data[from]: each <tool_call> block on a line of its own, its name
 * and arguments the caller's. */
static int chat_tool_calls_write(struct buf *out, struct chat_spans *sp, size_t from,
                                 const struct smol_message *m, int index, struct smol_err *err)
{
    int rc = 0;
    for (int i = 0; i < m->n_tool_calls && rc == 0; i++) {
        const struct smol_tool_call *c = &m->tool_calls[i];
        if (!c->name)
            return err_set(err, SMOL_EINVAL, "chat: message %d: tool call %d has no name",
                           index, i);
        if (out->len > from && out->data[out->len - 1] != '\n')
            rc = buf_append_char(out, '\n');
        rc = rc ? rc : buf_append_str(out, "<tool_call>\n{\"name\": ");
        size_t at = out->len;
        rc = rc ? rc : tool_json_write_string(out, c->name, strlen(c->name));
        rc = rc ? rc : chat_span_add(sp, at, out->len);
        rc = rc ? rc : buf_append_str(out, ", \"arguments\": ");
        if (rc)
            break;
        at = out->len;
        /* arguments as compact JSON, as the model writes them; text that
         * does not parse as an object goes in as given */
        const char *args = c->arguments ? c->arguments : "";
        size_t a = 0, z = strlen(args);
        while (a < z && (args[a] == ' ' || args[a] == '\t' || args[a] == '\n' || args[a] == '\r'))
            a++;
        if (a == z) {
            rc = buf_append_str(out, "{}");
        } else {
            struct tool_json v;
            if (tool_json_parse(args, z, TOOL_JSON_LENIENT, &v, NULL) == 0 &&
                v.type == TOOL_JSON_OBJECT)
                rc = tool_json_write_json(out, &v);
            else
                rc = buf_append(out, args + a, chat_py_rstrip(args + a, z - a));
            tool_json_release(&v);
        }
        rc = rc ? rc : chat_span_add(sp, at, out->len);
        rc = rc ? rc : buf_append_str(out, "}\n</tool_call>");
    }
    return rc;
}

static const char *chat_role_name(int role)
{
    switch (role) {
    case SMOL_ROLE_SYSTEM: return "system";
    case SMOL_ROLE_USER: return "user";
    case SMOL_ROLE_ASSISTANT: return "assistant";
    case SMOL_ROLE_TOOL: return "tool";
    default: return NULL;
    }
}

static int chat_render_smollm3(struct buf *out, struct chat_spans *sp,
                               const struct smol_message *msgs, int n_msgs,
                               const struct smol_chat_opts *o, struct smol_err *err)
{
    struct chat_header h;
    int rc = chat_header_read(&h, msgs, n_msgs, o);
    if (rc == 0)
        rc = chat_header_write(out, sp, &h, o, err);
    for (int i = 0; i < n_msgs && rc == 0; i++) {
        const struct smol_message *m = &msgs[i];
        const char *content = m->content ? m->content : "";
        switch (m->role) {
        case SMOL_ROLE_USER:
        case SMOL_ROLE_TOOL: /* the template shows tool results as user turns */
            rc = buf_append_str(out, "<|im_start|>user\n");
            rc = rc ? rc : chat_append_caller(out, sp, content, strlen(content));
            rc = rc ? rc : buf_append_str(out, "<|im_end|>\n");
            break;
        case SMOL_ROLE_ASSISTANT: {
            rc = buf_append_str(out, h.thinking ? "<|im_start|>assistant\n"
                                                : "<|im_start|>assistant\n<think>\n\n</think>\n");
            size_t from = out->len;
            while (*content == '\n') /* content.lstrip("\n") */
                content++;
            rc = rc ? rc : chat_append_caller(out, sp, content, strlen(content));
            rc = rc ? rc : chat_tool_calls_write(out, sp, from, m, i, err);
            rc = rc ? rc : buf_append_str(out, "<|im_end|>\n");
            break;
        }
        default: /* system messages are read only as the first message */
            break;
        }
    }
    if (rc == 0 && !(o && o->no_generation_prompt))
        rc = buf_append_str(out, h.thinking ? "<|im_start|>assistant\n"
                                            : "<|im_start|>assistant\n<think>\n\n</think>\n");
    buf_release(&h.text);
    return rc;
}

static int chat_render_chatml(struct buf *out, struct chat_spans *sp,
                              const struct smol_message *msgs, int n_msgs,
                              const struct smol_chat_opts *o, struct smol_err *err)
{
    int rc = 0;
    for (int i = 0; i < n_msgs && rc == 0; i++) {
        const struct smol_message *m = &msgs[i];
        rc = buf_appendf(out, "<|im_start|>%s\n", chat_role_name(m->role));
        size_t from = out->len;
        const char *content = m->content ? m->content : "";
        rc = rc ? rc : chat_append_caller(out, sp, content, strlen(content));
        if (m->role == SMOL_ROLE_ASSISTANT)
            rc = rc ? rc : chat_tool_calls_write(out, sp, from, m, i, err);
        rc = rc ? rc : buf_append_str(out, "<|im_end|>\n");
    }
    if (rc == 0 && !(o && o->no_generation_prompt))
        rc = buf_append_str(out, "<|im_start|>assistant\n");
    return rc;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

void chat_template_today(char out[32])
{
    static const char *const months[12] = {
        "January", "February", "March", "April", "May", "June", "July",
        "August", "September", "October", "November", "December",
    };
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm))
        memset(&tm, 0, sizeof(tm));
    snprintf(out, 32, "%02d %s %04d", tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900);
}

bool chat_template_thinking(int family, const struct smol_message *msgs, int n_msgs,
                            const struct smol_chat_opts *o)
{
    bool thinking = !o || o->thinking != 0;
    if (family != CHAT_FAMILY_SMOLLM3 || n_msgs <= 0 || !msgs ||
        msgs[0].role != SMOL_ROLE_SYSTEM || !msgs[0].content)
        return thinking;
    if (chat_contains(msgs[0].content, "/no_think"))
        return false;
    return chat_contains(msgs[0].content, "/think") || thinking;
}

/* chat_template_render, recording the caller's bytes in sp (may be NULL). */
static int chat_render(struct buf *out, struct chat_spans *sp, int family,
                       const struct smol_message *msgs, int n_msgs, const struct smol_chat_opts *o,
                       struct smol_err *err)
{
    if (n_msgs < 0 || (n_msgs > 0 && !msgs))
        return err_set(err, SMOL_EINVAL, "chat: no messages array for %d messages", n_msgs);
    for (int i = 0; i < n_msgs; i++) {
        if (!chat_role_name(msgs[i].role))
            return err_set(err, SMOL_EINVAL, "chat: message %d has role %d, not a smol_role",
                           i, msgs[i].role);
        if (msgs[i].n_tool_calls < 0 || (msgs[i].n_tool_calls > 0 && !msgs[i].tool_calls))
            return err_set(err, SMOL_EINVAL, "chat: message %d: bad tool_calls array", i);
    }
    int rc = family == CHAT_FAMILY_SMOLLM3 ? chat_render_smollm3(out, sp, msgs, n_msgs, o, err)
                                           : chat_render_chatml(out, sp, msgs, n_msgs, o, err);
    if (rc == SMOL_ENOMEM)
        err_set(err, rc, "chat: out of memory rendering %d messages", n_msgs);
    return rc;
}

int chat_template_render(struct buf *out, int family, const struct smol_message *msgs,
                         int n_msgs, const struct smol_chat_opts *o, struct smol_err *err)
{
    return chat_render(out, NULL, family, msgs, n_msgs, o, err);
}

char *smol_chat_render_spans(const struct smol_model *m, const struct smol_message *msgs,
                             int n_msgs, const struct smol_chat_opts *o,
                             struct smol_span **spans, int *n_spans, struct smol_err *err)
{
    if (spans)
        *spans = NULL;
    if (n_spans)
        *n_spans = 0;
    if (!m) {
        err_set(err, SMOL_EINVAL, "chat: no model");
        return NULL;
    }
    struct buf b;
    buf_init(&b);
    struct chat_spans sp = {0};
    int family = m->is_smollm3_template ? CHAT_FAMILY_SMOLLM3 : CHAT_FAMILY_CHATML;
    char *s = NULL;
    if (chat_render(&b, spans && n_spans ? &sp : NULL, family, msgs, n_msgs, o, err) != 0)
        goto fail;
    if (!(s = buf_detach(&b))) {
        err_set(err, SMOL_ENOMEM, "chat: out of memory");
        goto fail;
    }
    if (spans && n_spans) {
        *spans = sp.v; /* the caller's now */
        *n_spans = sp.n;
    }
    return s;
fail:
    buf_release(&b);
    free(sp.v);
    return NULL;
}

char *smol_chat_render(const struct smol_model *m, const struct smol_message *msgs, int n_msgs,
                       const struct smol_chat_opts *o, struct smol_err *err)
{
    return smol_chat_render_spans(m, msgs, n_msgs, o, NULL, NULL, err);
}

bool smol_chat_thinking(const struct smol_model *m, const struct smol_message *msgs, int n_msgs,
                        const struct smol_chat_opts *o)
{
    int family = m && m->is_smollm3_template ? CHAT_FAMILY_SMOLLM3 : CHAT_FAMILY_CHATML;
    return chat_template_thinking(family, msgs, n_msgs, o);
}

char *smol_render_prompt(const struct smol_model *m, const char *system, const char *user,
                         bool thinking, const char *date)
{
    struct smol_message msgs[2];
    int n = 0;
    if (system && *system)
        msgs[n++] = (struct smol_message){.role = SMOL_ROLE_SYSTEM, .content = system};
    msgs[n++] = (struct smol_message){.role = SMOL_ROLE_USER, .content = user};
    struct smol_chat_opts o = {.thinking = thinking ? 1 : 0, .date = date};
    return smol_chat_render(m, msgs, n, &o, NULL);
}

/* ------------------------------------------------------------------ */
/* Messages from JSON                                                  */
/* ------------------------------------------------------------------ */

/* A short, printable excerpt of s for error messages (one line). */
static void chat_excerpt(char out[48], const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 40; i++)
        out[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    /* do not end inside a UTF-8 character */
    k = utf8_complete_prefix(out, k);
    memcpy(out + k, n > 40 ? "..." : "", n > 40 ? 4 : 1);
}

/* A string member into a malloc'd copy: absent and null give NULL. */
static int chat_json_str(const struct tool_json *obj, const char *key, const char **out,
                         const char *where, struct smol_err *err)
{
    *out = NULL;
    const struct tool_json *v = tool_json_get(obj, key);
    if (!v || v->type == TOOL_JSON_NULL)
        return 0;
    if (v->type != TOOL_JSON_STRING)
        return err_set(err, SMOL_EFORMAT, "%s.%s must be a string (at offset %zu)", where, key,
                       v->at);
    if (memchr(v->s, '\0', v->n))
        return err_set(err, SMOL_EFORMAT, "%s.%s holds a NUL character (\\u0000) at offset %zu",
                       where, key, v->at);
    char *s = mem_strndup(v->s, v->n);
    if (!s)
        return err_set(err, SMOL_ENOMEM, "messages: out of memory");
    *out = s;
    return 0;
}

/* content: a string, null, or text parts joined as llama.cpp joins them
 * (a "\n" before each part once the text is not empty). */
static int chat_json_content(const struct tool_json *obj, const char **out, const char *where,
                             struct smol_err *err)
{
    const struct tool_json *v = tool_json_get(obj, "content");
    if (!v || v->type != TOOL_JSON_ARRAY)
        return chat_json_str(obj, "content", out, where, err);
    struct buf b;
    buf_init(&b);
    int rc = 0;
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        const struct tool_json *part = &v->items[i], *type = tool_json_get(part, "type");
        const struct tool_json *text = tool_json_get(part, "text");
        if (!type || type->type != TOOL_JSON_STRING) {
            rc = err_set(err, SMOL_EFORMAT, "%s.content[%zu] is not a {\"type\": ...} part", where,
                         i);
        } else if (type->n != 4 || memcmp(type->s, "text", 4) != 0) {
            char ex[48];
            chat_excerpt(ex, type->s, type->n);
            rc = err_set(err, SMOL_EUNSUPPORTED,
                         "%s.content[%zu]: part type '%s' is not supported (only \"text\")", where,
                         i, ex);
        } else if (!text || text->type != TOOL_JSON_STRING || memchr(text->s, '\0', text->n)) {
            rc = err_set(err, SMOL_EFORMAT, "%s.content[%zu] has no \"text\" string", where, i);
        } else {
            if (b.len)
                rc = buf_append_char(&b, '\n');
            rc = rc ? rc : buf_append(&b, text->s, text->n);
        }
    }
    if (rc == SMOL_ENOMEM)
        err_set(err, rc, "messages: out of memory");
    if (rc) {
        buf_release(&b);
        return rc;
    }
    if (!(*out = buf_detach(&b)))
        return err_set(err, SMOL_ENOMEM, "messages: out of memory");
    return 0;
}

static int chat_json_tool_calls(const struct tool_json *obj, struct smol_message *m,
                                const char *where, struct smol_err *err)
{
    const struct tool_json *v = tool_json_get(obj, "tool_calls");
    if (!v || v->type == TOOL_JSON_NULL)
        return 0;
    if (v->type != TOOL_JSON_ARRAY)
        return err_set(err, SMOL_EFORMAT, "%s.tool_calls must be an array (at offset %zu)", where,
                       v->at);
    if (v->n == 0)
        return 0;
    if (v->n > INT_MAX)
        return err_set(err, SMOL_ERANGE, "%s: too many tool calls", where);
    struct smol_tool_call *calls = mem_calloc(v->n, sizeof(*calls));
    if (!calls)
        return err_set(err, SMOL_ENOMEM, "messages: out of memory");
    m->tool_calls = calls;
    int rc = 0;
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        char at[96];
        snprintf(at, sizeof(at), "%s.tool_calls[%zu]", where, i);
        const struct tool_json *c = &v->items[i], *fn = tool_json_get(c, "function");
        m->n_tool_calls = (int)i + 1; /* so that a failure frees what is filled */
        if (!fn || fn->type != TOOL_JSON_OBJECT) {
            rc = err_set(err, SMOL_EFORMAT, "%s has no \"function\" object", at);
            break;
        }
        if ((rc = chat_json_str(c, "id", &calls[i].id, at, err)) != 0 ||
            (rc = chat_json_str(fn, "name", &calls[i].name, at, err)) != 0)
            break;
        if (!calls[i].name) {
            rc = err_set(err, SMOL_EFORMAT, "%s.function has no \"name\" string", at);
            break;
        }
        /* arguments: a JSON string (OpenAI) or, leniently, the object itself */
        const struct tool_json *args = tool_json_get(fn, "arguments");
        if (args && (args->type == TOOL_JSON_OBJECT || args->type == TOOL_JSON_ARRAY)) {
            struct buf b;
            buf_init(&b);
            if (tool_json_write_json(&b, args) || !(calls[i].arguments = buf_detach(&b)))
                rc = err_set(err, SMOL_ENOMEM, "messages: out of memory");
            buf_release(&b);
        } else {
            rc = chat_json_str(fn, "arguments", &calls[i].arguments, at, err);
        }
    }
    return rc;
}

static int chat_json_message(const struct tool_json *v, size_t i, struct smol_message *m,
                             struct smol_err *err)
{
    char where[32];
    snprintf(where, sizeof(where), "messages[%zu]", i);
    if (v->type != TOOL_JSON_OBJECT)
        return err_set(err, SMOL_EFORMAT, "%s is not an object (at offset %zu)", where, v->at);
    const struct tool_json *role = tool_json_get(v, "role");
    if (!role || role->type != TOOL_JSON_STRING)
        return err_set(err, SMOL_EFORMAT, "%s has no \"role\" string (at offset %zu)", where,
                       v->at);
    static const struct {
        const char *name;
        int role;
    } roles[] = {
        {"system", SMOL_ROLE_SYSTEM}, {"developer", SMOL_ROLE_SYSTEM}, {"user", SMOL_ROLE_USER},
        {"assistant", SMOL_ROLE_ASSISTANT}, {"tool", SMOL_ROLE_TOOL},
    };
    m->role = -1;
    for (size_t k = 0; k < ARRAY_SIZE(roles); k++)
        if (role->n == strlen(roles[k].name) && memcmp(role->s, roles[k].name, role->n) == 0)
            m->role = roles[k].role;
    if (m->role < 0) {
        char ex[48];
        chat_excerpt(ex, role->s, role->n);
        return err_set(err, SMOL_EFORMAT, "%s: unknown role '%s' (at offset %zu)", where, ex,
                       role->at);
    }
    int rc = chat_json_content(v, &m->content, where, err);
    if (rc == 0 && tool_json_get(v, "reasoning_content"))
        rc = chat_json_str(v, "reasoning_content", &m->reasoning, where, err);
    else if (rc == 0)
        rc = chat_json_str(v, "reasoning", &m->reasoning, where, err);
    if (rc == 0)
        rc = chat_json_tool_calls(v, m, where, err);
    if (rc == 0)
        rc = chat_json_str(v, "tool_call_id", &m->tool_call_id, where, err);
    if (rc == 0)
        rc = chat_json_str(v, "name", &m->name, where, err);
    return rc;
}

int smol_messages_from_json(const char *json, size_t len, struct smol_message **out, int *n,
                            struct smol_err *err)
{
    if (!out || !n)
        return err_set(err, SMOL_EINVAL, "messages: no place for the result");
    *out = NULL;
    *n = 0;
    struct tool_json root;
    int rc = tool_json_parse(json, len, TOOL_JSON_STRICT, &root, err);
    if (rc)
        return rc;
    struct smol_message *msgs = NULL;
    if (root.type != TOOL_JSON_ARRAY) {
        rc = err_set(err, SMOL_EFORMAT, "messages: expected a JSON array of messages");
        goto out;
    }
    if (root.n > INT_MAX) {
        rc = err_set(err, SMOL_ERANGE, "messages: %zu messages is too many", root.n);
        goto out;
    }
    /* one extra slot so that an empty array still allocates */
    if (!(msgs = mem_calloc(root.n + 1, sizeof(*msgs)))) {
        rc = err_set(err, SMOL_ENOMEM, "messages: out of memory for %zu messages", root.n);
        goto out;
    }
    for (size_t i = 0; i < root.n; i++) {
        if ((rc = chat_json_message(&root.items[i], i, &msgs[i], err)) != 0) {
            smol_messages_free(msgs, (int)i + 1);
            msgs = NULL;
            goto out;
        }
    }
    *out = msgs;
    *n = (int)root.n;
out:
    tool_json_release(&root);
    return rc;
}

void smol_messages_free(struct smol_message *msgs, int n)
{
    if (!msgs)
        return;
    /* the strings were allocated by smol_messages_from_json: ours to free */
    for (int i = 0; i < n; i++) {
        struct smol_message *m = &msgs[i];
        for (int k = 0; k < m->n_tool_calls; k++) {
            free((char *)m->tool_calls[k].id);
            free((char *)m->tool_calls[k].name);
            free((char *)m->tool_calls[k].arguments);
        }
        free((struct smol_tool_call *)m->tool_calls);
        free((char *)m->content);
        free((char *)m->reasoning);
        free((char *)m->tool_call_id);
        free((char *)m->name);
    }
    free(msgs);
}
