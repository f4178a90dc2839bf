/*
 * ui.h: the web chat page of `smolbot serve`: the page and its assets
 * (embedded in the binary at build time), the HTML fragments it loads
 * with HTMX, one Server-Sent Events stream per chat, slash commands, and
 * the chats kept in the store.
 *
 * Routes (all under the server's Host check):
 *   GET  /              the page (public: it holds no data)
 *   GET  /assets/NAME   an embedded asset by exact name; nothing maps to
 *                       the file system
 *   GET  /ui/...        fragments, the event streams, exports
 *   POST /ui/...        actions (send, stop, regenerate, rename, ...)
 *
 * Authentication. With an API key, every /ui/ route but /ui/login needs
 * either "Authorization: Bearer KEY" or the session cookie that
 * POST /ui/login sets once it is given the key: smolbot_ui, HttpOnly,
 * SameSite=Strict, whose value is a SHA-256 of the key (the key itself
 * never sits in the browser, and the cookie survives a restart). The
 * page's EventSource streams carry the cookie, which a header cannot do.
 * Every POST also needs an "HX-Request" header (HTMX sends it): a
 * cross-site form cannot set one, so no other site can act through a
 * browser that holds the cookie.
 *
 * Every response carries a strict Content-Security-Policy (scripts and
 * styles only from this server, no inline script or style, no frames),
 * X-Content-Type-Options: nosniff and no-referrer.
 *
 * Threads: handlers run on the connection threads; generation output
 * arrives on the worker's thread; a ticker thread flushes streamed text
 * that waited 500 ms. See ui_int.h for the locking.
 */
#ifndef SMOL_UI_H
#define SMOL_UI_H

#include "base.h"
#include "err.h"
#include "smol.h"

struct http_server;
struct worker;
struct store;
struct ui;

struct ui_opts {
    const char *model_id;   /* shown on the page and by /model */
    const char *model_path; /* for /model */
    const char *api_key;    /* NULL or "": no login */
    const char *date;       /* the template's date (NULL: today): tests */
    size_t stream_buffer;   /* unread bytes per event stream before writers wait */
    int stall_ms;           /* how long a writer waits for a stalled stream */
    int max_streams;        /* event streams open at once; more: 429 */
    int quote_ms;           /* delay between the pieces of /quote (default 15) */
    int token_delay_ms;     /* slows the page's answers to a token per this many
                               ms (0: off), so that tests and demos can watch a
                               fast model stream and stop it */
};

/* The page before its model is loaded (strings in o are copied). NULL
 * with err on ENOMEM. */
struct ui *ui_new(const struct ui_opts *o, struct smol_err *err);
/* Adds the routes to s (before http_start). */
int ui_register(struct ui *u, struct http_server *s);
/* The engine and the chats: all borrowed, and they must outlive the
 * last request. n_ctx is each sequence's context. Starts the ticker
 * thread. Call before marking the server ready. */
int ui_attach(struct ui *u, struct smol_model *m, struct worker *w, int n_ctx,
              struct store *st, struct smol_err *err);
/* For shutdown, after the worker has drained: stops /quote answers
 * (saved as far as they got), ends every event stream so that the HTTP
 * server can drain, stops the ticker. */
void ui_shutdown(struct ui *u);
void ui_free(struct ui *u); /* accepts NULL; calls ui_shutdown */

#endif
