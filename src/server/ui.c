/*
 * ui.c: the web chat's routes: the page and its embedded assets, the
 * login, the fragments HTMX loads, the actions it posts and the slash
 * commands. See ui.h for the routes and the security rules, ui_int.h
 * for how the files share the work.
 *
 * Every handler follows one shape: check the request (a bad one gets a
 * 4xx with a notice fragment the page shows), take the live chat's
 * lock when the action changes the chat, change the store first, then
 * tell the page through the chat's event stream, and answer the POST
 * with what only the sender needs (a notice, the sidebar).
 */
#include "http.h"
#include "markdown.h"
#include "mem.h"
#include "ui_int.h"
#include "utf8.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

/* Every response: nothing runs but our own scripts, nothing embeds us. */
#define UI_HEADERS                                                                         \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "   \
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; "      \
    "base-uri 'none'; frame-ancestors 'none'\r\n"                                          \
    "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\nCache-Control: no-cache\r\n"
#define UI_HTML "text/html; charset=utf-8"
#define UI_TITLE_MAX 60 /* bytes of a title made from the first message */

/* ---- replies ---- */

static void reply_html(struct http_req *req, int status, const struct buf *b,
                       const char *extra)
{
    char headers[1024];
    snprintf(headers, sizeof(headers), "%s%s", UI_HEADERS, extra ? extra : "");
    http_reply(req, status, UI_HTML, b->data ? b->data : "", b->len, headers);
}

/* A notice fragment (for #notices) with a status; body is plain text. */
static void reply_notice(struct http_req *req, int status, const char *title, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
static void reply_notice(struct http_req *req, int status, const char *title, const char *fmt,
                         ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    struct buf body, b;
    buf_init(&body);
    buf_init(&b);
    markdown_escape(&body, text, strlen(text));
    ui_render_notice(&b, status >= 400 ? "error" : "info", title, body.data ? body.data : "");
    reply_html(req, status, &b, NULL);
    buf_release(&body);
    buf_release(&b);
}

static void reply_oom(struct http_req *req)
{
    reply_notice(req, 500, "Out of memory", "the server ran out of memory; try again");
}

/* SQLite's "database or disk is full" (the store's SMOL_EFULL), as
 * opposed to a full queue: the store's sentences start with "store:". */
static bool is_disk_full(const struct smol_err *err)
{
    return err->code == SMOL_EFULL && !strncmp(err->msg, "store:", 6);
}

/* A store error: 404 for a missing row, 400 for data it refused, 507
 * for a full disk (nothing was saved; the server goes on), 500. */
static void reply_store_error(struct http_req *req, const struct smol_err *err)
{
    int status = err->code == SMOL_ENOTFOUND ? 404
                 : err->code == SMOL_EINVAL || err->code == SMOL_EFORMAT ? 400
                 : is_disk_full(err) ? 507 : 500;
    reply_notice(req, status, status == 404 ? "Not found" : status == 507 ? "Disk full" : "Error",
                 "%s", err->msg);
}

/* ---- requests ---- */

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes %XX and '+' of v[0..len) into out. -1 on a bad escape. */
static int form_decode(const char *v, size_t len, struct buf *out)
{
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_digit(v[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit(v[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (buf_append_char(out, c))
            return -1;
    }
    return 0;
}

/* Finds key in an x-www-form-urlencoded body and decodes its value into
 * out (NUL-terminated). 1 found, 0 absent, -1 malformed: a bad escape,
 * invalid UTF-8 or a NUL byte in the value (or out of memory). */
static int form_get(const char *body, size_t len, const char *key, struct buf *out)
{
    size_t kl = strlen(key);
    buf_reset(out);
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + i, '=', end - i);
        size_t nl = eq ? (size_t)(eq - body) - i : end - i;
        if (nl == kl && !memcmp(body + i, key, kl)) {
            const char *v = eq ? eq + 1 : body + end;
            if (form_decode(v, (size_t)(body + end - v), out) < 0 || buf_append_char(out, '\0'))
                return -1;
            out->len--; /* the terminator stays, uncounted */
            if (memchr(out->data, 0, out->len) || !utf8_valid(out->data, out->len, NULL))
                return -1;
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

/* Parses a positive decimal id of at most 18 digits; -1 otherwise. */
static int64_t parse_id(const char *s, size_t len)
{
    if (len == 0 || len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > 0 ? v : -1;
}

/* Splits "/ui/a/b/c" into at most max segments (views into path). */
struct seg {
    const char *p;
    size_t n;
};
static int split_path(const char *path, struct seg *v, int max)
{
    int n = 0;
    const char *p = path + strlen("/ui/");
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || n == max)
            return -1; /* "//", a trailing slash, or too deep */
        v[n++] = (struct seg){p, len};
        p += len;
        if (*p == '/')
            p++;
        if (slash && !*p)
            return -1;
    }
    return n;
}

static bool seg_is(const struct seg *s, const char *word)
{
    return s->n == strlen(word) && !memcmp(s->p, word, s->n);
}

/* Constant-time equality, so timing does not reveal a secret. */
static bool secret_eq(const char *want, const char *got, size_t got_len)
{
    size_t wl = strlen(want);
    unsigned char diff = wl != got_len;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
    return diff == 0;
}

/* With a key: the Bearer header or our cookie. */
static bool ui_authorized(struct ui *u, struct http_req *req)
{
    if (!*u->cookie)
        return true;
    const char *auth = http_req_header(req, "Authorization");
    if (auth && !strncasecmp(auth, "Bearer ", 7) && secret_eq(u->o.api_key, auth + 7, strlen(auth + 7)))
        return true;
    const char *ck = http_req_header(req, "Cookie");
    for (const char *p = ck; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 11 && !memcmp(p, "smolbot_ui=", 11) && secret_eq(u->cookie, p + 11, len - 11))
            return true;
        p += len;
    }
    return false;
}

/* ---- the page and its assets ---- */

static const struct ui_asset *asset_find(const char *path)
{
    for (size_t i = 0; i < ui_n_assets; i++)
        if (!strcmp(ui_assets[i].path, path))
            return &ui_assets[i];
    return NULL;
}

static void reply_asset(struct http_req *req, const struct ui_asset *a)
{
    http_reply(req, 200, a->type, (const char *)a->data, a->len, UI_HEADERS);
}

static void h_page(struct http_req *req, void *user)
{
    (void)user;
    const struct ui_asset *a = asset_find("/index.html");
    if (a && asset_find("/assets/htmx.min.js") && asset_find("/assets/sse.js")) {
        reply_asset(req, a);
        return;
    }
    /* built without node_modules: say so rather than show a dead page */
    static const char missing[] =
        "<!doctype html><meta charset=\"utf-8\"><title>smolbot</title>"
        "<h1>smolbot: the web page's assets are missing</h1>"
        "<p>This binary was built without node_modules (htmx, its SSE extension, "
        "highlight.js). Run <code>scripts/deps.sh</code> (or <code>npm ci</code>), then "
        "<code>make</code> again. The API at <code>/v1</code> works regardless.</p>";
    http_reply(req, 503, UI_HTML, missing, sizeof(missing) - 1, UI_HEADERS);
}

static void h_favicon(struct http_req *req, void *user)
{
    (void)user;
    const struct ui_asset *a = asset_find("/assets/favicon.svg");
    if (a)
        reply_asset(req, a);
    else
        http_reply(req, 404, "text/plain", "", 0, UI_HEADERS);
}

static void h_asset(struct http_req *req, void *user)
{
    (void)user;
    /* exact names from the table compiled in: no path reaches a file */
    const struct ui_asset *a = asset_find(http_req_path(req));
    if (a)
        reply_asset(req, a);
    else
        http_reply(req, 404, "text/plain; charset=utf-8", "no such asset\n", 14, UI_HEADERS);
}

/* ---- chats: views and the sidebar ---- */

static void reply_chat_list(struct ui *u, struct http_req *req, int64_t active, bool oob,
                            struct buf *b)
{
    struct store_session *v = NULL;
    size_t n = 0;
    struct smol_err err = {0};
    if (store_session_list(u->st, 200, 0, &v, &n, &err) < 0) {
        reply_store_error(req, &err);
        return;
    }
    if (ui_render_chat_list(b, v, n, active, oob))
        reply_oom(req);
    else
        reply_html(req, 200, b, NULL);
    store_sessions_free(v, n);
}

/* Appends the chat's view (under its lock, so its event id matches). */
static int render_view(struct ui *u, int64_t id, struct buf *b, struct smol_err *err)
{
    struct ui_chat *c = ui_chat_get(u, id);
    if (!c)
        return err_set(err, SMOL_ECANCELED, "the server is stopping");
    struct store_session s = {0};
    struct store_message *v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    int rc = store_session_get(u->st, id, &s, err);
    if (rc >= 0)
        rc = store_message_list(u->st, id, &v, &n, err);
    if (rc >= 0) {
        char since[48];
        ui_chat_last_id(c, since, sizeof(since));
        rc = ui_render_chat(b, u, &s, v, n, c->gen, since)
                 ? err_set(err, SMOL_ENOMEM, "out of memory rendering the chat") : 0;
    }
    pthread_mutex_unlock(&c->mu);
    ui_chat_put(c);
    store_messages_free(v, n);
    store_session_release(&s);
    return rc;
}

/* The view plus the sidebar (out of band): after new, import. */
static void reply_view(struct ui *u, struct http_req *req, int64_t id, bool with_list)
{
    struct buf b;
    buf_init(&b);
    struct smol_err err = {0};
    struct store_session *v = NULL;
    size_t n = 0;
    int rc = render_view(u, id, &b, &err);
    if (rc == 0 && with_list && (rc = store_session_list(u->st, 200, 0, &v, &n, &err)) >= 0)
        rc = ui_render_chat_list(&b, v, n, id, true) ? err_set(&err, SMOL_ENOMEM, "out of memory")
                                                     : 0;
    if (rc < 0)
        reply_store_error(req, &err);
    else
        reply_html(req, 200, &b, NULL);
    store_sessions_free(v, n);
    buf_release(&b);
}

/* GET /ui/chats/latest: the newest chat, or a new one. */
static void h_latest(struct ui *u, struct http_req *req)
{
    struct store_session *v = NULL;
    size_t n = 0;
    struct smol_err err = {0};
    int64_t id = 0;
    if (store_session_list(u->st, 1, 0, &v, &n, &err) < 0 ||
        (n == 0 && store_session_create(u->st, NULL, NULL, &id, &err) < 0)) {
        reply_store_error(req, &err);
        return;
    }
    if (n)
        id = v[0].id;
    store_sessions_free(v, n);
    reply_view(u, req, id, n == 0);
}

/* POST /ui/chats: a new chat (the newest one again when it is empty). */
static void h_new(struct ui *u, struct http_req *req)
{
    struct store_session *v = NULL;
    size_t n = 0;
    struct smol_err err = {0};
    int64_t id = 0;
    if (store_session_list(u->st, 1, 0, &v, &n, &err) < 0) {
        reply_store_error(req, &err);
        return;
    }
    if (n && v[0].n_messages == 0)
        id = v[0].id;
    store_sessions_free(v, n);
    if (!id && store_session_create(u->st, NULL, NULL, &id, &err) < 0) {
        reply_store_error(req, &err);
        return;
    }
    reply_view(u, req, id, true);
}

/* ---- the event stream ---- */

struct ui_sub {
    struct ui *u;
    struct ui_chat *c;
    struct sse_stream *st;
};

static void sub_release(void *ctx)
{
    struct ui_sub *s = ctx;
    ui_chat_unsubscribe(s->c, s->st);
    ui_chat_put(s->c);
    atomic_fetch_sub(&s->u->n_streams, 1);
    free(s);
}

static void h_events(struct ui *u, struct http_req *req, int64_t id)
{
    struct smol_err err = {0};
    struct store_session s = {0};
    if (store_session_get(u->st, id, &s, &err) < 0) {
        reply_store_error(req, &err);
        return;
    }
    store_session_release(&s);
    /* the browser's reconnect names the last event; a first connect, the
     * view's state (?since=) */
    const char *since = http_req_header(req, "Last-Event-ID");
    if (!since || !*since)
        since = http_req_query(req, "since");
    if (atomic_fetch_add(&u->n_streams, 1) >= u->o.max_streams) {
        atomic_fetch_sub(&u->n_streams, 1);
        reply_notice(req, 429, "Too many streams", "%d chat streams are open (the limit is "
                     "%d); close some tabs", u->o.max_streams, u->o.max_streams);
        return;
    }
    struct ui_sub *sub = calloc(1, sizeof(*sub));
    struct ui_chat *c = sub ? ui_chat_get(u, id) : NULL;
    struct sse_stream *st = NULL;
    int rc = !sub ? err_set(&err, SMOL_ENOMEM, "out of memory")
             : !c ? err_set(&err, SMOL_ECANCELED, "the server is stopping")
                  : ui_chat_subscribe(c, since, &st, &err);
    if (rc == 0) {
        *sub = (struct ui_sub){u, c, st};
        struct http_stream_hooks h = {NULL, sub_release, sub};
        if (http_reply_stream(req, st, "text/event-stream; charset=utf-8", &h) == 0) {
            sse_stream_unref(st); /* http.c and the chat hold theirs */
            return;
        }
        ui_chat_unsubscribe(c, st);
        sse_stream_unref(st);
        err_set(&err, SMOL_ENOMEM, "out of memory starting the stream");
    }
    atomic_fetch_sub(&u->n_streams, 1);
    ui_chat_put(c);
    free(sub);
    reply_notice(req, err.code == SMOL_EFULL ? 429 : err.code == SMOL_ECANCELED ? 503 : 500,
                 "No event stream", "%s", err.msg);
}

/* ---- exports, messages ---- */

static void h_export(struct ui *u, struct http_req *req, int64_t id)
{
    const char *fmt = http_req_query(req, "format");
    bool json = fmt && !strcmp(fmt, "json");
    if (fmt && !json && strcmp(fmt, "md")) {
        reply_notice(req, 400, "Bad export", "format must be md or json");
        return;
    }
    struct smol_err err = {0};
    struct store_session s = {0};
    struct store_message *v = NULL;
    size_t n = 0;
    struct buf b;
    buf_init(&b);
    char *text = NULL;
    size_t len = 0;
    int rc;
    if (json) {
        rc = store_session_export(u->st, id, &text, &len, &err);
    } else if ((rc = store_session_get(u->st, id, &s, &err)) == 0 &&
               (rc = store_message_list(u->st, id, &v, &n, &err)) >= 0) {
        rc = ui_render_export_md(&b, &s, v, n) ? err_set(&err, SMOL_ENOMEM, "out of memory") : 0;
        text = b.data;
        len = b.len;
    }
    if (rc < 0) {
        reply_store_error(req, &err);
    } else {
        char headers[1024];
        snprintf(headers, sizeof(headers), "%sContent-Disposition: attachment; "
                 "filename=\"smolbot-chat-%" PRId64 ".%s\"\r\n", UI_HEADERS, id,
                 json ? "json" : "md");
        http_reply(req, 200, json ? "application/json; charset=utf-8"
                                  : "text/markdown; charset=utf-8", text ? text : "", len, headers);
    }
    if (json)
        free(text);
    buf_release(&b);
    store_messages_free(v, n);
    store_session_release(&s);
}

/* Reads message mid of chat id into *m; replies and returns < 0 if not. */
static int get_message(struct ui *u, struct http_req *req, int64_t id, int64_t mid,
                       struct store_message *m)
{
    struct smol_err err = {0};
    int rc = store_message_get(u->st, mid, m, &err);
    if (rc == 0 && m->session_id != id) {
        store_message_release(m);
        rc = err_set(&err, SMOL_ENOTFOUND, "chat %" PRId64 " has no message %" PRId64, id, mid);
    }
    if (rc < 0)
        reply_store_error(req, &err);
    return rc;
}

static void h_message(struct ui *u, struct http_req *req, int64_t id, int64_t mid, bool edit)
{
    struct store_message m = {0};
    if (get_message(u, req, id, mid, &m) < 0)
        return;
    struct buf b;
    buf_init(&b);
    int rc;
    if (!edit) {
        rc = ui_render_message(&b, id, &m, NULL, false);
    } else if (m.role != STORE_ROLE_USER) {
        store_message_release(&m);
        reply_notice(req, 400, "Cannot edit", "only your own messages can be edited");
        return;
    } else {
        rc = buf_appendf(&b, "<form class=\"msg user editing\" id=\"m%" PRId64 "\" hx-post=\"/ui/"
                         "chats/%" PRId64 "/messages/%" PRId64 "/edit\" hx-target=\"#notices\">"
                         "<textarea name=\"text\" class=\"edit-text\" aria-label=\"Edit the "
                         "message\">", mid, id, mid);
        rc |= markdown_escape(&b, m.content, strlen(m.content));
        rc |= buf_appendf(&b, "</textarea><div class=\"edit-bar\"><button type=\"button\" "
                          "class=\"btn\" hx-get=\"/ui/chats/%" PRId64 "/messages/%" PRId64 "\" "
                          "hx-target=\"#m%" PRId64 "\" hx-swap=\"outerHTML\">Cancel</button>"
                          "<button type=\"submit\" class=\"btn send\">Save and answer again"
                          "</button></div></form>", id, mid, mid);
    }
    if (rc)
        reply_oom(req);
    else
        reply_html(req, 200, &b, NULL);
    buf_release(&b);
    store_message_release(&m);
}

/* ---- actions on a live chat (c->mu held) ---- */

/* Emits the chat's messages as they are now stored (after a truncation). */
static int emit_messages(struct ui_chat *c, struct smol_err *err)
{
    struct store_message *v = NULL;
    size_t n = 0;
    int rc = store_message_list(c->u->st, c->id, &v, &n, err);
    if (rc < 0)
        return rc;
    struct buf b;
    buf_init(&b);
    rc = buf_append_str(&b, "<div hx-swap-oob=\"innerHTML:#messages\">") |
         ui_render_messages(&b, c->id, v, n, c->gen) | buf_append_str(&b, "</div>");
    if (rc == 0)
        rc = ui_chat_emit(c, b.data, b.len);
    buf_release(&b);
    store_messages_free(v, n);
    return rc ? err_set(err, SMOL_ENOMEM, "out of memory") : 0;
}

/* Appends a message to the chat (committed) and shows it. */
static int append_message(struct ui_chat *c, enum store_role role, const char *text,
                          struct smol_err *err)
{
    struct store_message m = {.role = role, .status = STORE_MSG_COMPLETE, .content = (char *)text};
    int rc = store_message_append(c->u->st, c->id, &m, &m.id, &m.seq, err);
    if (rc < 0)
        return rc;
    m.session_id = c->id;
    struct buf b;
    buf_init(&b);
    rc = buf_append_str(&b, "<div hx-swap-oob=\"beforeend:#messages\">") |
         ui_render_message(&b, c->id, &m, NULL, false) | buf_append_str(&b, "</div>");
    if (rc == 0)
        rc = ui_chat_emit(c, b.data, b.len);
    buf_release(&b);
    return rc ? err_set(err, SMOL_ENOMEM, "out of memory") : 0;
}

/* The status of a failed start: busy and full are 409/429. */
static int gen_status(const struct smol_err *err)
{
    switch (err->code) {
    case SMOL_EFULL:
        return is_disk_full(err) ? 507 : strstr(err->msg, "being written") ? 409 : 429;
    case SMOL_EINVAL: return 400;
    case SMOL_ERANGE: return 400; /* a "word" of the chat over the tokenizer's 1 MiB */
    case SMOL_ECANCELED: return 503;
    case SMOL_ENOTFOUND: return 404;
    default: return 500;
    }
}

/* A title from the first message: its first line, cut at a character
 * boundary. */
static void title_from(const char *text, char *out, size_t cap)
{
    while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r')
        text++;
    size_t n = strcspn(text, "\r\n");
    size_t max = MIN(cap - 4, (size_t)UI_TITLE_MAX);
    bool cut = n > max;
    n = utf8_complete_prefix(text, MIN(n, max));
    memcpy(out, text, n);
    strcpy(out + n, cut ? "\xE2\x80\xA6" : "");
}

/* ---- slash commands ---- */

static const struct {
    const char *name, *args, *help;
} ui_commands[] = {
    {"/help", "", "this list"},
    {"/clear", "", "delete every message of this chat"},
    {"/reset", "", "the model forgets what came before; the page keeps it"},
    {"/export", "md|json", "download this chat"},
    {"/think", "", "let the model think before it answers"},
    {"/no_think", "", "answer directly, without thinking"},
    {"/temp", "T", "sampling temperature, 0 to 2"},
    {"/system", "TEXT", "the system prompt (empty: none)"},
    {"/model", "", "the model being served"},
    {"/status", "", "server, queue and memory"},
    {"/regenerate", "", "answer the last message again"},
    {"/continue", "", "go on writing the last answer"},
    {"/summarize", "", "ask for a summary of the chat so far"},
    {"/theme", "", "switch between light and dark"},
    {"/quote", "", "stream a fixed passage through the answer path (no model)"},
};

static void cmd_help(struct http_req *req)
{
    struct buf body, b;
    buf_init(&body);
    buf_init(&b);
    int rc = buf_append_str(&body, "<dl class=\"cmds\">");
    for (size_t i = 0; i < ARRAY_SIZE(ui_commands); i++)
        rc |= buf_appendf(&body, "<dt><kbd>%s%s%s</kbd></dt><dd>%s</dd>", ui_commands[i].name,
                          *ui_commands[i].args ? " " : "", ui_commands[i].args,
                          ui_commands[i].help);
    rc |= buf_append_str(&body, "</dl>");
    rc |= ui_render_notice(&b, "info", "Commands", body.data);
    if (rc)
        reply_oom(req);
    else
        reply_html(req, 200, &b, NULL);
    buf_release(&body);
    buf_release(&b);
}

static long ui_rss_kib(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

static void cmd_status(struct ui *u, struct http_req *req)
{
    struct worker_stats ws;
    worker_get_stats(u->w, &ws);
    pthread_mutex_lock(&u->mu);
    int live = u->n_chats, quotes = u->n_quotes;
    pthread_mutex_unlock(&u->mu);
    struct buf body, b;
    buf_init(&body);
    buf_init(&b);
    double up = (ui_now_ms() - u->t_start) / 1e3;
    int rc = buf_appendf(&body, "<dl class=\"kv\"><dt>Up</dt><dd>%.0f s</dd>"
                         "<dt>Queue</dt><dd>%d waiting, %d running</dd>"
                         "<dt>Answers</dt><dd>%" PRIu64 " done, %" PRIu64 " stopped, %" PRIu64
                         " failed</dd><dt>Tokens</dt><dd>%" PRIu64 " prompt (%" PRIu64
                         " from the cache), %" PRIu64 " generated</dd>"
                         "<dt>Last speed</dt><dd>%.1f tok/s</dd>"
                         "<dt>KV slots</dt><dd>%d in use</dd>"
                         "<dt>Memory</dt><dd>%.1f MiB resident</dd>"
                         "<dt>Page</dt><dd>%d event streams, %d live chats, %d quotes</dd>"
                         "<dt>Chats</dt><dd>",
                         up, ws.queued, ws.running, ws.jobs_done, ws.jobs_cancelled,
                         ws.jobs_failed, ws.prompt_tokens, ws.cached_tokens, ws.gen_tokens,
                         ws.last_gen_tps, ws.n_slots_used, ui_rss_kib() / 1024.0,
                         atomic_load(&u->n_streams), live, quotes);
    const char *path = store_path(u->st);
    rc |= markdown_escape(&body, path, strlen(path));
    rc |= buf_append_str(&body, "</dd></dl>");
    rc |= ui_render_notice(&b, "info", "Status", body.data);
    if (rc)
        reply_oom(req);
    else
        reply_html(req, 200, &b, NULL);
    buf_release(&body);
    buf_release(&b);
}

static void cmd_model(struct ui *u, struct http_req *req)
{
    const struct smol_model_info *in = &u->info;
    struct buf body, b;
    buf_init(&body);
    buf_init(&b);
    int rc = buf_append_str(&body, "<dl class=\"kv\"><dt>Model</dt><dd>");
    rc |= markdown_escape(&body, u->o.model_id, strlen(u->o.model_id));
    if (*in->name) {
        rc |= buf_append_str(&body, " (");
        rc |= markdown_escape(&body, in->name, strlen(in->name));
        rc |= buf_append_str(&body, ")");
    }
    rc |= buf_appendf(&body, "</dd><dt>Architecture</dt><dd>%s, %d layers, %d heads (%d KV), "
                      "embedding %d</dd><dt>Parameters</dt><dd>%.2f B</dd><dt>File</dt><dd>"
                      "%.2f GB</dd><dt>Tensors</dt><dd>",
                      in->arch, in->n_layer, in->n_head, in->n_head_kv, in->n_embd,
                      in->n_params / 1e9, in->file_size / 1e9);
    rc |= markdown_escape(&body, in->type_counts, strlen(in->type_counts));
    rc |= buf_appendf(&body, "</dd><dt>Context</dt><dd>%d tokens per chat (trained for %d)</dd>"
                      "<dt>Vocabulary</dt><dd>%d tokens</dd><dt>Kernels</dt><dd>%s, %d threads"
                      "</dd></dl>", u->n_ctx, in->n_ctx_train, in->n_vocab, in->kernels,
                      in->n_threads);
    rc |= ui_render_notice(&b, "info", "Model", body.data);
    if (rc)
        reply_oom(req);
    else
        reply_html(req, 200, &b, NULL);
    buf_release(&body);
    buf_release(&b);
}

/* Changes the chat's settings with fn; replies with a notice. */
static void cmd_setting(struct ui *u, struct http_req *req, int64_t id, const char *which,
                        const char *value)
{
    struct smol_err err = {0};
    struct store_session s = {0};
    if (store_session_get(u->st, id, &s, &err) < 0) {
        reply_store_error(req, &err);
        return;
    }
    char msg[256];
    const char *trigger = NULL;
    int status = 200;
    if (!strcmp(which, "think") || !strcmp(which, "no_think")) {
        s.settings.thinking = which[0] == 't';
        snprintf(msg, sizeof(msg), "Thinking is %s for this chat.", s.settings.thinking ? "on"
                                                                                         : "off");
        trigger = s.settings.thinking ? "HX-Trigger: {\"smolbot-thinking\":{\"on\":true}}\r\n"
                                      : "HX-Trigger: {\"smolbot-thinking\":{\"on\":false}}\r\n";
    } else if (!strcmp(which, "temp")) {
        char *end = NULL;
        double t = value ? strtod(value, &end) : -1;
        if (!value || end == value || *end || !(t >= 0 && t <= 2)) {
            status = 400;
            snprintf(msg, sizeof(msg), "Give a temperature from 0 to 2, as in /temp 0.7.");
        } else {
            s.settings.temperature = t;
            snprintf(msg, sizeof(msg), "Temperature is %g for this chat.", t);
        }
    } else { /* system */
        free(s.settings.system_prompt);
        s.settings.system_prompt = value && *value ? strdup(value) : NULL;
        snprintf(msg, sizeof(msg), value && *value ? "The system prompt is set; it applies from "
                                                     "the next answer."
                                                   : "The system prompt is cleared.");
    }
    if (status == 200 && store_session_set_settings(u->st, id, &s.settings, &err) < 0) {
        store_session_release(&s);
        reply_store_error(req, &err);
        return;
    }
    store_session_release(&s);
    struct buf body, b;
    buf_init(&body);
    buf_init(&b);
    markdown_escape(&body, msg, strlen(msg));
    if (ui_render_notice(&b, status == 200 ? "info" : "error", "Settings", body.data))
        reply_oom(req);
    else
        reply_html(req, status, &b, trigger);
    buf_release(&body);
    buf_release(&b);
}

/* ---- sending, and the actions that start answers ---- */

enum ui_act { ACT_SEND, ACT_QUOTE, ACT_REGENERATE, ACT_CONTINUE, ACT_EDIT, ACT_CLEAR, ACT_RESET };

/* Runs an action that changes the chat's messages, under its lock:
 * text is the user's message (send, edit), mid the edited message. */
static void chat_act(struct ui *u, struct http_req *req, int64_t id, enum ui_act act,
                     const char *text, int64_t mid)
{
    struct smol_err err = {0};
    struct store_session s = {0};
    struct store_message *v = NULL;
    size_t n = 0;
    struct buf extra;
    buf_init(&extra);
    struct ui_chat *c = ui_chat_get(u, id);
    if (!c) {
        reply_notice(req, 503, "Stopping", "the server is shutting down");
        return;
    }
    pthread_mutex_lock(&c->mu);
    int rc = store_session_get(u->st, id, &s, &err);
    if (rc < 0)
        goto fail;
    if (c->gen) {
        rc = err_set(&err, SMOL_EFULL, "an answer is being written in this chat: stop it first");
        goto fail;
    }
    if ((rc = store_message_list(u->st, id, &v, &n, &err)) < 0)
        goto fail;
    switch (act) {
    case ACT_SEND:
    case ACT_QUOTE:
        /* the question is committed before any work depends on it */
        if ((rc = append_message(c, STORE_ROLE_USER, text, &err)) < 0)
            goto fail;
        if (!*s.title) {
            char title[UI_TITLE_MAX + 8];
            title_from(text, title, sizeof(title));
            if (store_session_rename(u->st, id, title, NULL) == 0) {
                buf_appendf(&extra, "<h1 class=\"chat-title\" id=\"title-%" PRId64 "\" "
                            "hx-swap-oob=\"true\">", id);
                markdown_escape(&extra, title, strlen(title));
                buf_append_str(&extra, "</h1>");
            }
        }
        rc = ui_gen_start(c, UI_GEN_NEW, act == ACT_QUOTE ? UI_GEN_QUOTE : UI_GEN_MODEL,
                          http_req_client(req), &err);
        break;
    case ACT_REGENERATE: {
        size_t last = n;
        for (size_t i = 0; i < n; i++)
            if (v[i].role == STORE_ROLE_USER)
                last = i;
        if (last == n) {
            rc = err_set(&err, SMOL_EINVAL, "there is no message to answer again");
            break;
        }
        if ((rc = store_session_truncate(u->st, id, v[last].seq, &err)) >= 0 &&
            (rc = emit_messages(c, &err)) == 0)
            rc = ui_gen_start(c, UI_GEN_NEW, UI_GEN_MODEL, http_req_client(req), &err);
        break;
    }
    case ACT_CONTINUE:
        rc = ui_gen_start(c, UI_GEN_CONTINUE, UI_GEN_MODEL, http_req_client(req), &err);
        break;
    case ACT_EDIT: {
        const struct store_message *m = NULL;
        for (size_t i = 0; i < n; i++)
            if (v[i].id == mid)
                m = &v[i];
        if (!m || m->role != STORE_ROLE_USER) {
            rc = err_set(&err, SMOL_ENOTFOUND, "chat %" PRId64 " has no message %" PRId64
                         " of yours", id, mid);
            break;
        }
        struct store_message in = *m;
        in.content = (char *)text;
        if ((rc = store_message_update(u->st, mid, &in, &err)) >= 0 &&
            (rc = store_session_truncate(u->st, id, m->seq, &err)) >= 0 &&
            (rc = emit_messages(c, &err)) == 0)
            rc = ui_gen_start(c, UI_GEN_NEW, UI_GEN_MODEL, http_req_client(req), &err);
        break;
    }
    case ACT_CLEAR:
        if ((rc = store_session_truncate(u->st, id, 0, &err)) >= 0)
            rc = emit_messages(c, &err);
        break;
    case ACT_RESET:
        rc = append_message(c, STORE_ROLE_SYSTEM, UI_RESET_MARK, &err);
        break;
    }
    if (rc < 0)
        goto fail;
    pthread_mutex_unlock(&c->mu);
    ui_chat_put(c);
    /* the sender's notices clear; the title may have changed */
    reply_html(req, 200, &extra, NULL);
    goto done;
fail:
    pthread_mutex_unlock(&c->mu);
    ui_chat_put(c);
    reply_notice(req, err.code == SMOL_ENOTFOUND ? 404 : gen_status(&err),
                 is_disk_full(&err) ? "Disk full" : err.code == SMOL_EFULL ? "Busy"
                                                                           : "Cannot do that",
                 "%s", err.msg);
done:
    buf_release(&extra);
    store_messages_free(v, n);
    store_session_release(&s);
}

/* POST /ui/chats/ID/send: a message, or a slash command. */
static void h_send(struct ui *u, struct http_req *req, int64_t id, const char *body, size_t len)
{
    struct buf t;
    buf_init(&t);
    int got = form_get(body, len, "text", &t);
    if (got <= 0) {
        reply_notice(req, 400, "Bad request", got < 0 ? "the message is not valid form data "
                     "(bad escape, invalid UTF-8 or a NUL byte)" : "no message (field 'text')");
        goto done;
    }
    const char *text = t.data;
    size_t tl = t.len;
    while (tl && (text[tl - 1] == ' ' || text[tl - 1] == '\n' || text[tl - 1] == '\r' ||
                  text[tl - 1] == '\t'))
        t.data[--tl] = '\0';
    while (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t')
        text++, tl--;
    if (tl == 0) {
        reply_notice(req, 400, "Empty message", "type something first");
        goto done;
    }
    if (tl > UI_MAX_TEXT) {
        reply_notice(req, 413, "Too long", "the message has %zu bytes; the limit is %u", tl,
                     UI_MAX_TEXT);
        goto done;
    }
    if (text[0] != '/') {
        chat_act(u, req, id, ACT_SEND, text, 0);
        goto done;
    }
    /* a slash command: its name, then its argument after one space */
    size_t nl = strcspn(text, " \t\n");
    const char *arg = text + nl;
    while (*arg == ' ' || *arg == '\t' || *arg == '\n')
        arg++;
    char name[24];
    snprintf(name, sizeof(name), "%.*s", (int)MIN(nl, sizeof(name) - 1), text);
#define IS(cmd) (!strcmp(name, cmd))
    if (IS("/help"))
        cmd_help(req);
    else if (IS("/model"))
        cmd_model(u, req);
    else if (IS("/status"))
        cmd_status(u, req);
    else if (IS("/think") || IS("/no_think"))
        cmd_setting(u, req, id, name + 1, NULL);
    else if (IS("/temp"))
        cmd_setting(u, req, id, "temp", *arg ? arg : NULL);
    else if (IS("/system"))
        cmd_setting(u, req, id, "system", arg);
    else if (IS("/clear"))
        chat_act(u, req, id, ACT_CLEAR, NULL, 0);
    else if (IS("/reset"))
        chat_act(u, req, id, ACT_RESET, NULL, 0);
    else if (IS("/regenerate"))
        chat_act(u, req, id, ACT_REGENERATE, NULL, 0);
    else if (IS("/continue"))
        chat_act(u, req, id, ACT_CONTINUE, NULL, 0);
    else if (IS("/summarize"))
        chat_act(u, req, id, ACT_SEND, "Summarize our conversation so far in a few short "
                 "bullet points.", 0);
    else if (IS("/quote"))
        chat_act(u, req, id, ACT_QUOTE, "/quote", 0);
    else if (IS("/theme") || IS("/export"))
        reply_notice(req, 200, name, "this command runs in the page: pick it from the menu");
    else
        reply_notice(req, 400, "Unknown command", "%s is not a command; /help lists them", name);
#undef IS
done:
    buf_release(&t);
}

/* ---- the other posts ---- */

static void h_stop(struct ui *u, struct http_req *req, int64_t id)
{
    struct ui_chat *c = ui_chat_get(u, id);
    if (c) {
        pthread_mutex_lock(&c->mu);
        ui_gen_stop(c);
        pthread_mutex_unlock(&c->mu);
        ui_chat_put(c);
    }
    struct buf b;
    buf_init(&b);
    reply_html(req, 200, &b, NULL);
}

static void h_settings(struct ui *u, struct http_req *req, int64_t id, const char *body,
                       size_t len)
{
    struct buf t;
    buf_init(&t);
    int got = form_get(body, len, "thinking", &t);
    if (got < 0)
        reply_notice(req, 400, "Bad request", "the settings are not valid form data");
    else
        cmd_setting(u, req, id, got && strcmp(t.data, "0") ? "think" : "no_think", NULL);
    buf_release(&t);
}

static void h_rename(struct ui *u, struct http_req *req, int64_t id, const char *body, size_t len)
{
    struct buf t, b;
    buf_init(&t);
    buf_init(&b);
    struct smol_err err = {0};
    int got = form_get(body, len, "title", &t);
    if (got <= 0 || t.len == 0 || t.len > STORE_TITLE_MAX) {
        reply_notice(req, 400, "Bad title", "a title has 1 to %d bytes of text", STORE_TITLE_MAX);
    } else if (store_session_rename(u->st, id, t.data, &err) < 0) {
        reply_store_error(req, &err);
    } else {
        buf_appendf(&b, "<h1 class=\"chat-title\" id=\"title-%" PRId64 "\" hx-swap-oob=\"true\">",
                    id);
        markdown_escape(&b, t.data, t.len);
        buf_append_str(&b, "</h1>");
        reply_chat_list(u, req, id, false, &b);
    }
    buf_release(&t);
    buf_release(&b);
}

static void h_delete(struct ui *u, struct http_req *req, int64_t id)
{
    struct ui_chat *c = ui_chat_get(u, id);
    struct smol_err err = {0};
    int rc = c ? 0 : err_set(&err, SMOL_ECANCELED, "the server is stopping");
    if (c) {
        pthread_mutex_lock(&c->mu);
        if (c->gen)
            rc = err_set(&err, SMOL_EFULL, "an answer is being written in this chat: stop it "
                         "first");
        else
            rc = store_session_delete(u->st, id, &err);
        pthread_mutex_unlock(&c->mu);
        ui_chat_put(c);
    }
    if (rc < 0) {
        if (err.code == SMOL_EFULL || err.code == SMOL_ECANCELED)
            reply_notice(req, gen_status(&err), "Cannot delete", "%s", err.msg);
        else
            reply_store_error(req, &err);
        return;
    }
    struct buf b;
    buf_init(&b);
    reply_chat_list(u, req, 0, false, &b);
    buf_release(&b);
}

static void h_import(struct ui *u, struct http_req *req, const char *body, size_t len)
{
    struct buf t;
    buf_init(&t);
    struct smol_err err = {0};
    int64_t id = 0;
    int got = form_get(body, len, "data", &t);
    if (got <= 0)
        reply_notice(req, 400, "Bad import", "send the exported chat's JSON as the field 'data'");
    else if (store_session_import(u->st, t.data, t.len, &id, &err) < 0)
        reply_notice(req, 400, "Cannot import", "%s", err.msg);
    else
        reply_view(u, req, id, true);
    buf_release(&t);
}

static void h_login(struct ui *u, struct http_req *req, const char *body, size_t len)
{
    struct buf t;
    buf_init(&t);
    int got = form_get(body, len, "key", &t);
    if (!*u->cookie) {
        reply_notice(req, 200, "No key needed", "this server has no API key");
    } else if (got <= 0 || !secret_eq(u->o.api_key, t.data, t.len)) {
        reply_notice(req, 401, "Wrong key", "that is not this server's API key");
    } else {
        char hdr[160];
        /* no Max-Age: the cookie lasts until the browser closes */
        snprintf(hdr, sizeof(hdr), "Set-Cookie: smolbot_ui=%s; Path=/; HttpOnly; "
                 "SameSite=Strict\r\n", u->cookie);
        struct buf b;
        buf_init(&b);
        reply_html(req, 200, &b, hdr);
    }
    buf_release(&t);
}

/* ---- dispatch ---- */

static void h_get(struct http_req *req, void *user)
{
    struct ui *u = user;
    struct seg s[6];
    int n = split_path(http_req_path(req), s, 6);
    if (!ui_authorized(u, req)) {
        reply_notice(req, 401, "Log in", "this server needs its API key");
        return;
    }
    int64_t id = n >= 2 ? parse_id(s[1].p, s[1].n) : -1;
    int64_t mid = n >= 4 ? parse_id(s[3].p, s[3].n) : -1;
    if (n < 1 || !seg_is(&s[0], "chats"))
        goto not_found;
    if (n == 1) {
        struct buf b;
        buf_init(&b);
        reply_chat_list(u, req, 0, false, &b);
        buf_release(&b);
    } else if (n == 2 && seg_is(&s[1], "latest")) {
        h_latest(u, req);
    } else if (id < 0) {
        goto not_found;
    } else if (n == 2) {
        reply_view(u, req, id, false);
    } else if (n == 3 && seg_is(&s[2], "events")) {
        h_events(u, req, id);
    } else if (n == 3 && seg_is(&s[2], "export")) {
        h_export(u, req, id);
    } else if ((n == 4 || (n == 5 && seg_is(&s[4], "edit"))) && seg_is(&s[2], "messages") &&
               mid > 0) {
        h_message(u, req, id, mid, n == 5);
    } else {
        goto not_found;
    }
    return;
not_found:
    reply_notice(req, 404, "Not found", "no page part at %.200s", http_req_path(req));
}

static void h_post(struct http_req *req, void *user)
{
    struct ui *u = user;
    struct seg s[6];
    int n = split_path(http_req_path(req), s, 6);
    size_t len;
    const char *body = http_req_body(req, &len);
    /* a cross-site form cannot add this header: no CSRF */
    if (!http_req_header(req, "HX-Request") && !http_req_header(req, "Authorization")) {
        reply_notice(req, 403, "Refused", "the page's actions need the HX-Request header");
        return;
    }
    if (n == 1 && seg_is(&s[0], "login")) {
        h_login(u, req, body, len);
        return;
    }
    if (!ui_authorized(u, req)) {
        reply_notice(req, 401, "Log in", "this server needs its API key");
        return;
    }
    int64_t id = n >= 2 ? parse_id(s[1].p, s[1].n) : -1;
    if (n == 1 && seg_is(&s[0], "import")) {
        h_import(u, req, body, len);
        return;
    }
    if (n < 1 || !seg_is(&s[0], "chats"))
        goto not_found;
    if (n == 1) {
        h_new(u, req);
        return;
    }
    if (id < 0)
        goto not_found;
    if (n == 5 && seg_is(&s[2], "messages") && seg_is(&s[4], "edit")) {
        int64_t mid = parse_id(s[3].p, s[3].n);
        struct buf t;
        buf_init(&t);
        int got = mid > 0 ? form_get(body, len, "text", &t) : -1;
        if (mid < 0)
            goto not_found;
        if (got <= 0 || t.len == 0 || t.len > UI_MAX_TEXT)
            reply_notice(req, 400, "Bad message", "the edited message must be 1 to %u bytes of "
                         "text", UI_MAX_TEXT);
        else
            chat_act(u, req, id, ACT_EDIT, t.data, mid);
        buf_release(&t);
        return;
    }
    if (n != 3)
        goto not_found;
    if (seg_is(&s[2], "send"))
        h_send(u, req, id, body, len);
    else if (seg_is(&s[2], "stop"))
        h_stop(u, req, id);
    else if (seg_is(&s[2], "regenerate"))
        chat_act(u, req, id, ACT_REGENERATE, NULL, 0);
    else if (seg_is(&s[2], "continue"))
        chat_act(u, req, id, ACT_CONTINUE, NULL, 0);
    else if (seg_is(&s[2], "settings"))
        h_settings(u, req, id, body, len);
    else if (seg_is(&s[2], "rename"))
        h_rename(u, req, id, body, len);
    else if (seg_is(&s[2], "delete"))
        h_delete(u, req, id);
    else
        goto not_found;
    return;
not_found:
    reply_notice(req, 404, "Not found", "no action at %.200s", http_req_path(req));
}

/* ---- lifecycle ---- */

struct ui *ui_new(const struct ui_opts *o, struct smol_err *err)
{
    struct ui *u = calloc(1, sizeof(*u));
    if (!u) {
        err_set(err, SMOL_ENOMEM, "ui: out of memory");
        return NULL;
    }
    u->o = *o;
    u->o.model_id = strdup(o->model_id ? o->model_id : "smolbot");
    u->o.model_path = strdup(o->model_path ? o->model_path : "");
    u->o.api_key = o->api_key && *o->api_key ? strdup(o->api_key) : NULL;
    u->o.date = o->date ? strdup(o->date) : NULL;
    if (!u->o.stream_buffer)
        u->o.stream_buffer = 4u << 20;
    if (u->o.stall_ms <= 0)
        u->o.stall_ms = 30000;
    if (u->o.max_streams <= 0)
        u->o.max_streams = 32;
    if (u->o.quote_ms <= 0)
        u->o.quote_ms = 15;
    u->t_start = ui_now_ms();
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    atomic_init(&u->n_streams, 0);
    unsigned char rnd[4] = {0};
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint32_t t = (uint32_t)time(NULL) ^ (uint32_t)getpid();
        memcpy(rnd, &t, sizeof(rnd));
    }
    snprintf(u->epoch, sizeof(u->epoch), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    if (u->o.api_key) {
        /* the cookie proves the key was given without being the key */
        static const char salt[] = "smolbot-ui-session\n";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdl = 0;
        EVP_MD_CTX *x = EVP_MD_CTX_new();
        bool ok = x && EVP_DigestInit_ex(x, EVP_sha256(), NULL) &&
                  EVP_DigestUpdate(x, salt, sizeof(salt) - 1) &&
                  EVP_DigestUpdate(x, u->o.api_key, strlen(u->o.api_key)) &&
                  EVP_DigestFinal_ex(x, md, &mdl) && mdl == 32;
        EVP_MD_CTX_free(x);
        for (unsigned i = 0; ok && i < 32; i++)
            snprintf(u->cookie + 2 * i, 3, "%02x", md[i]);
        if (!ok) {
            ui_free(u);
            err_set(err, SMOL_ENOMEM, "ui: cannot compute the session cookie");
            return NULL;
        }
    }
    if (!u->o.model_id || !u->o.model_path || (o->api_key && *o->api_key && !u->o.api_key) ||
        (o->date && !u->o.date)) {
        ui_free(u);
        err_set(err, SMOL_ENOMEM, "ui: out of memory");
        return NULL;
    }
    return u;
}

int ui_register(struct ui *u, struct http_server *s)
{
    static const struct {
        const char *method, *path;
        unsigned flags;
        http_handler_fn fn;
    } routes[] = {
        /* public at the HTTP layer; /ui/ checks the key itself, so that
         * the page's cookie counts as well as the Bearer header */
        {"GET", "/", HTTP_ROUTE_PUBLIC, h_page},
        {"GET", "/favicon.ico", HTTP_ROUTE_PUBLIC, h_favicon},
        {"GET", "/assets/", HTTP_ROUTE_PUBLIC | HTTP_ROUTE_PREFIX, h_asset},
        {"GET", "/ui/", HTTP_ROUTE_PUBLIC | HTTP_ROUTE_PREFIX, h_get},
        {"POST", "/ui/", HTTP_ROUTE_PUBLIC | HTTP_ROUTE_PREFIX, h_post},
    };
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        int rc = http_route(s, routes[i].method, routes[i].path, routes[i].flags, routes[i].fn, u);
        if (rc)
            return rc;
    }
    return 0;
}

int ui_attach(struct ui *u, struct smol_model *m, struct worker *w, int n_ctx,
              struct store *st, struct smol_err *err)
{
    u->m = m;
    u->w = w;
    u->n_ctx = n_ctx;
    u->st = st;
    smol_model_get_info(m, &u->info);
    return ui_live_start(u, err);
}

void ui_shutdown(struct ui *u)
{
    if (u)
        ui_live_stop(u);
}

void ui_free(struct ui *u)
{
    if (!u)
        return;
    ui_live_free(u);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    free((char *)u->o.model_id);
    free((char *)u->o.model_path);
    free((char *)u->o.api_key);
    free((char *)u->o.date);
    free(u);
}
