/*
 * http.h: the HTTP server on libmicrohttpd: lifecycle, the route table,
 * limits, authentication, CORS, the Host check, JSON errors in OpenAI's
 * shape and per-route request metrics. Handlers never see libmicrohttpd.
 *
 * Threads: one thread per connection (libmicrohttpd's
 * MHD_USE_THREAD_PER_CONNECTION). A handler runs on its connection's
 * thread and may block there (waiting for the worker); it must not run
 * the model. Handlers of different connections run concurrently.
 *
 * What http.c does before a handler runs, in this order, each answered
 * with an OpenAI-style JSON error ({"error": {message, type, param,
 * code}}):
 *   Host check   when bound to a loopback address, the Host header must
 *                name a loopback host (localhost, 127.0.0.1, [::1], with
 *                any port): a DNS-rebinding page cannot reach us (403).
 *   routing      404 for an unknown path, 405 (with Allow) for a known
 *                path and another method.
 *   CORS         off unless cors_origin is set; then OPTIONS preflights
 *                get 204 and every answer carries the CORS headers.
 *   auth         with api_key set, "Authorization: Bearer KEY" on every
 *                route not marked HTTP_ROUTE_PUBLIC (401 otherwise).
 *   loading      503 until http_set_ready(s, true).
 *   body         at most max_body bytes (413), valid UTF-8 (400 naming
 *                the offset of the first bad byte).
 * Headers beyond max_header bytes are refused by libmicrohttpd (431).
 *
 * Each request gets exactly one reply through the http_reply* functions
 * (a handler that forgets gets a 500). Ownership: strings returned by
 * the http_req accessors are borrowed until the handler returns.
 */
#ifndef SMOL_HTTP_H
#define SMOL_HTTP_H

#include "base.h"
#include "buf.h"
#include "err.h"
#include "sse.h"

struct http_server;
struct http_req;

struct http_opts {
    const char *host;        /* address to bind (default "127.0.0.1") */
    int port;                /* 0: any free port (see http_port) */
    const char *api_key;     /* NULL or "": no authentication */
    const char *cors_origin; /* NULL: no CORS headers */
    size_t max_body;         /* bytes (default 1 MiB) */
    size_t max_header;       /* bytes for the request line and headers (default 16 KiB) */
    int max_connections;     /* open connections (default 64) */
    int conn_timeout_s;      /* idle connection timeout (default 120) */
    int keepalive_ms;        /* SSE keep-alive comment interval (default 30000;
                                at most half of conn_timeout_s) */
    bool log_requests;       /* one line per request on stderr */
};

enum {
    HTTP_ROUTE_PUBLIC = 1,   /* no API key needed (/health, the page) */
    HTTP_ROUTE_PREFIX = 2,   /* path is a prefix ("/static/") */
};

typedef void (*http_handler_fn)(struct http_req *req, void *user);

/* Fills o with the defaults above. */
void http_opts_default(struct http_opts *o);

/* A stopped server with no routes (strings in o are copied). NULL with
 * err on bad options or ENOMEM. */
struct http_server *http_new(const struct http_opts *o, struct smol_err *err);
/* Adds a route (before http_start). method "GET", "POST", ...; path
 * exact unless HTTP_ROUTE_PREFIX. Routes are matched in order. */
int http_route(struct http_server *s, const char *method, const char *path, unsigned flags,
               http_handler_fn fn, void *user);
/* Binds and starts accepting. SMOL_EIO with the reason on failure. */
int http_start(struct http_server *s, struct smol_err *err);
int http_port(const struct http_server *s);
/* Until ready, every request but OPTIONS is answered 503 "loading". */
void http_set_ready(struct http_server *s, bool ready);
/* Stops accepting connections; open ones go on. */
void http_quiesce(struct http_server *s);
/* Waits up to timeout_ms for the requests in progress (streams included)
 * to be answered completely. Returns how many are still in progress. */
int http_drain(struct http_server *s, int timeout_ms);
/* Ends every wait and stream, stops the server, frees it. Accepts NULL. */
void http_free(struct http_server *s);
/* Appends Prometheus metrics: requests by route and status, open
 * connections and streams. */
int http_metrics(struct http_server *s, struct buf *out);

/* ---- requests ---- */

const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
/* The body: valid UTF-8, NUL-terminated, len bytes ("" when none). */
const char *http_req_body(const struct http_req *r, size_t *len);
const char *http_req_header(struct http_req *r, const char *name); /* NULL if absent */
const char *http_req_query(struct http_req *r, const char *name);  /* NULL if absent */
const char *http_req_client(const struct http_req *r);              /* "127.0.0.1" */
struct http_server *http_req_server(const struct http_req *r);

/* ---- replies: exactly one per request ---- */

/* body[0..len) is copied. extra_headers: NULL or "Name: value\r\n..."
 * lines. Returns 0 or SMOL_ENOMEM. */
int http_reply(struct http_req *r, int status, const char *content_type, const char *body,
               size_t len, const char *extra_headers);
int http_reply_json(struct http_req *r, int status, const char *json, size_t len);
/* {"error": {"message", "type", "param", "code"}}: type NULL picks the
 * one that goes with status (invalid_request_error, authentication_error,
 * not_found_error, rate_limit_error, server_error, unavailable_error);
 * param and code may be NULL (JSON null). */
int http_reply_error(struct http_req *r, int status, const char *type, const char *param,
                     const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Hooks for a streamed reply: gone runs (on the connection's thread)
 * when the client left before the stream ended; release runs once when
 * the reply is over either way. Both may be NULL. */
struct http_stream_hooks {
    void (*gone)(void *ctx);
    void (*release)(void *ctx);
    void *ctx;
};
/* Answers 200 with content_type (e.g. "text/event-stream") and the bytes
 * of s as they come, until s closes. Takes its own reference to s. On
 * failure (SMOL_ENOMEM, SMOL_EIO) calls no hook and replies nothing. */
int http_reply_stream(struct http_req *r, struct sse_stream *s, const char *content_type,
                      const struct http_stream_hooks *h);
/* Blocks until s closes (0) or the client hangs up or the server stops
 * (SSE_READ_CLIENT_GONE). For replies that are not streamed. */
int http_wait(struct http_req *r, struct sse_stream *s);

#endif
