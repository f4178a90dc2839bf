/*
 * http.c: smolbot's HTTP server on libmicrohttpd. See http.h for what
 * happens to a request before its handler runs.
 *
 * libmicrohttpd calls the access handler several times per request:
 * once when the headers are in (*con_cls is still NULL), once per chunk
 * of body, and a last time with *upload_data_size == 0. The checks that
 * need only headers run on the first call, so a bad request is refused
 * before its body is read; the body is collected (bounded) in between;
 * the route's handler runs on the last call.
 *
 * We run one thread per connection: a handler may block on its thread
 * while the worker generates, and a streamed reply's content reader
 * blocks in sse_stream_read, which also watches the client's socket so
 * that a client who leaves cancels its generation at once.
 */
#include "http.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_ROUTES 64
#define HTTP_MAX_ROWS 256           /* (route, status) pairs counted in /metrics */
#define HTTP_DISCARD_FACTOR 16      /* bodies up to 16x max_body are read and dropped */
#define HTTP_STREAM_BLOCK 16384     /* bytes per content-reader call */

struct http_route_ent {
    char *method;
    char *path;
    size_t path_len;
    unsigned flags;
    http_handler_fn fn;
    void *user;
};

struct http_row {
    int route;   /* index into routes, -1 for requests that matched none */
    int status;
    uint64_t n;
};

struct http_server {
    struct http_opts o;                /* host, api_key, cors_origin owned */
    struct MHD_Daemon *d;
    struct http_route_ent routes[HTTP_MAX_ROUTES];
    int n_routes;
    atomic_bool ready;
    atomic_bool stopping;              /* every wait and stream ends */
    bool loopback;                     /* bound to 127.0.0.0/8 or ::1 */
    int port;
    pthread_mutex_t mu;                /* rows */
    struct http_row rows[HTTP_MAX_ROWS];
    int n_rows;
    atomic_int n_conns, n_streams;
    atomic_int n_active;               /* requests begun and not yet completed */
};

struct http_req {
    struct http_server *s;
    struct MHD_Connection *c;
    const char *method, *path;         /* libmicrohttpd's, valid for the request */
    int route;
    struct buf body;
    uint64_t discarded;                /* body bytes dropped past max_body */
    bool too_large;
    bool replied;
    int status;
    double t_start;
    int fd;                            /* the client's socket */
    char client[INET6_ADDRSTRLEN];
};

/* The state of one streamed reply, owned by its libmicrohttpd response. */
struct http_stream {
    struct http_server *s;
    struct sse_stream *st;
    struct http_stream_hooks h;
    int fd;
    bool ended;                        /* the stream closed and was drained */
};

static double http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void http_opts_default(struct http_opts *o)
{
    *o = (struct http_opts){
        .host = "127.0.0.1",
        .port = 3000,
        .max_body = 1u << 20,
        .max_header = 32u << 10,
        .max_connections = 64,
        .conn_timeout_s = 120,
        .keepalive_ms = 30000,
    };
}

/* ---- metrics ---- */

static void http_count(struct http_server *s, int route, int status)
{
    pthread_mutex_lock(&s->mu);
    int i = 0;
    while (i < s->n_rows && (s->rows[i].route != route || s->rows[i].status != status))
        i++;
    if (i == s->n_rows && s->n_rows < HTTP_MAX_ROWS)
        s->rows[s->n_rows++] = (struct http_row){.route = route, .status = status};
    if (i < s->n_rows)
        s->rows[i].n++;
    pthread_mutex_unlock(&s->mu);
}

int http_metrics(struct http_server *s, struct buf *b)
{
    int rc = buf_append_str(b, "# HELP smolbot_http_requests_total HTTP requests answered, "
                               "by route and status.\n# TYPE smolbot_http_requests_total counter\n");
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_rows; i++) {
        const struct http_row *w = &s->rows[i];
        rc |= buf_appendf(b, "smolbot_http_requests_total{route=\"%s\",status=\"%d\"} %" PRIu64 "\n",
                          w->route >= 0 ? s->routes[w->route].path : "other", w->status, w->n);
    }
    pthread_mutex_unlock(&s->mu);
    rc |= buf_appendf(b, "# HELP smolbot_http_connections Open HTTP connections.\n"
                      "# TYPE smolbot_http_connections gauge\nsmolbot_http_connections %d\n"
                      "# HELP smolbot_http_streams Streamed replies in progress.\n"
                      "# TYPE smolbot_http_streams gauge\nsmolbot_http_streams %d\n",
                      atomic_load(&s->n_conns), atomic_load(&s->n_streams));
    return rc ? SMOL_ENOMEM : 0;
}

/* ---- replies ---- */

/* Adds "Name: value\r\n" lines to resp. */
static void http_add_headers(struct MHD_Response *resp, const char *lines)
{
    while (lines && *lines) {
        const char *eol = strstr(lines, "\r\n");
        size_t len = eol ? (size_t)(eol - lines) : strlen(lines);
        const char *colon = memchr(lines, ':', len);
        if (colon) {
            char name[128], value[512];
            size_t nl = MIN((size_t)(colon - lines), sizeof(name) - 1);
            const char *v = colon + 1;
            while (v < lines + len && *v == ' ')
                v++;
            size_t vl = MIN((size_t)(lines + len - v), sizeof(value) - 1);
            memcpy(name, lines, nl);
            name[nl] = '\0';
            memcpy(value, v, vl);
            value[vl] = '\0';
            MHD_add_response_header(resp, name, value);
        }
        lines = eol ? eol + 2 : lines + len;
    }
}

static void http_add_cors(const struct http_server *s, struct MHD_Response *resp)
{
    if (!s->o.cors_origin)
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->o.cors_origin);
    MHD_add_response_header(resp, "Vary", "Origin");
}

static int http_queue(struct http_req *r, int status, struct MHD_Response *resp,
                      const char *content_type, const char *extra)
{
    if (!resp)
        return SMOL_ENOMEM;
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_add_headers(resp, extra);
    http_add_cors(r->s, resp);
    enum MHD_Result ok = MHD_queue_response(r->c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->replied = true;
    r->status = status;
    return ok == MHD_YES ? 0 : SMOL_EIO;
}

int http_reply(struct http_req *r, int status, const char *content_type, const char *body,
               size_t len, const char *extra_headers)
{
    if (r->replied)
        return SMOL_EINVAL;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    return http_queue(r, status, resp, content_type, extra_headers);
}

int http_reply_json(struct http_req *r, int status, const char *json, size_t len)
{
    return http_reply(r, status, "application/json; charset=utf-8", json, len, NULL);
}

static const char *http_error_type(int status)
{
    switch (status) {
    case 401: return "invalid_request_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

/* The error body with extra headers: 401 and 405 need theirs. */
static int http_error_with(struct http_req *r, int status, const char *type, const char *param,
                           const char *code, const char *extra, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));
static int http_error_with(struct http_req *r, int status, const char *type, const char *param,
                           const char *code, const char *extra, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    char *text = NULL;
    if (e && cJSON_AddStringToObject(e, "message", msg) &&
        cJSON_AddStringToObject(e, "type", type ? type : http_error_type(status)) &&
        (param ? cJSON_AddStringToObject(e, "param", param) : cJSON_AddNullToObject(e, "param")) &&
        (code ? cJSON_AddStringToObject(e, "code", code) : cJSON_AddNullToObject(e, "code")))
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) /* out of memory: a fixed body still has the right shape */
        text = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                      "\"param\":null,\"code\":null}}");
    int rc = text ? http_reply(r, status, "application/json; charset=utf-8", text,
                               strlen(text), extra)
                  : SMOL_ENOMEM;
    free(text);
    return rc;
}

int http_reply_error(struct http_req *r, int status, const char *type, const char *param,
                     const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = http_error_with(r, status, type, param, code, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static int http_error_extra(struct http_req *r, int status, const char *code, const char *extra,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int http_error_extra(struct http_req *r, int status, const char *code, const char *extra,
                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = http_error_with(r, status, NULL, NULL, code, extra, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- streamed replies ---- */

static ssize_t http_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct http_stream *hs = cls;
    (void)pos;
    long n = sse_stream_read(hs->st, out, max, hs->fd, hs->s->o.keepalive_ms, &hs->s->stopping);
    if (n > 0)
        return (ssize_t)n;
    if (n == SSE_READ_END) {
        hs->ended = true;
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void http_stream_free(void *cls)
{
    struct http_stream *hs = cls;
    if (!hs->ended) {
        sse_stream_set_gone(hs->st);
        if (hs->h.gone)
            hs->h.gone(hs->h.ctx);
    }
    if (hs->h.release)
        hs->h.release(hs->h.ctx);
    sse_stream_unref(hs->st);
    atomic_fetch_sub(&hs->s->n_streams, 1);
    free(hs);
}

int http_reply_stream(struct http_req *r, struct sse_stream *s, const char *content_type,
                      const struct http_stream_hooks *h)
{
    if (r->replied)
        return SMOL_EINVAL;
    struct http_stream *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return SMOL_ENOMEM;
    *hs = (struct http_stream){.s = r->s, .st = s, .fd = r->fd};
    if (h)
        hs->h = *h;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, http_stream_read, hs, http_stream_free);
    if (!resp) {
        free(hs);
        return SMOL_ENOMEM;
    }
    sse_stream_ref(s);
    atomic_fetch_add(&r->s->n_streams, 1);
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_add_cors(r->s, resp);
    enum MHD_Result ok = MHD_queue_response(r->c, 200, resp);
    if (ok != MHD_YES) {
        /* destroying the response frees hs: without calling the hooks */
        hs->h = (struct http_stream_hooks){0};
        hs->ended = true;
    }
    MHD_destroy_response(resp);
    if (ok != MHD_YES)
        return SMOL_EIO;
    r->replied = true;
    r->status = 200;
    return 0;
}

int http_wait(struct http_req *r, struct sse_stream *s)
{
    int rc = sse_stream_wait_closed(s, r->fd, &r->s->stopping);
    return rc == 0 && atomic_load(&r->s->stopping) ? SSE_READ_CLIENT_GONE : rc;
}

/* ---- request accessors ---- */

const char *http_req_method(const struct http_req *r) { return r->method; }
const char *http_req_path(const struct http_req *r) { return r->path; }
const char *http_req_client(const struct http_req *r) { return r->client; }
struct http_server *http_req_server(const struct http_req *r) { return r->s; }

const char *http_req_body(const struct http_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *http_req_header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

const char *http_req_query(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- the checks before the handler ---- */

/* True when the Host header names this machine's loopback (or is
 * absent, as in HTTP/1.0). A DNS-rebinding page's requests carry its
 * own host name, so they are refused. */
static bool http_host_ok(const struct http_server *s, const char *host)
{
    if (!host || !*host)
        return true;
    char name[256];
    size_t n;
    const char *rest; /* after the name: nothing, or ":PORT" */
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end)
            return false;
        n = (size_t)(end - host - 1);
        host++;
        rest = end + 1;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
        rest = host + n;
    }
    /* "[::1].evil.example" or "localhost:x.evil" are no loopback names */
    if (*rest && (rest[0] != ':' || strspn(rest + 1, "0123456789") != strlen(rest + 1)))
        return false;
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (!strcasecmp(name, "localhost") || !strcmp(name, "::1") || !strcmp(name, s->o.host))
        return true;
    if (n > 10 && !strcasecmp(name + n - 10, ".localhost"))
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, name, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* Compares without an early exit, so timing does not reveal the key. */
static bool http_key_ok(const char *want, const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return false;
    const char *got = auth + 7;
    while (*got == ' ')
        got++;
    size_t wl = strlen(want), gl = strlen(got);
    unsigned char diff = wl != gl;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
    return diff == 0;
}

static bool http_path_match(const struct http_route_ent *e, const char *path)
{
    if (e->flags & HTTP_ROUTE_PREFIX)
        return !strncmp(path, e->path, e->path_len);
    return !strcmp(path, e->path);
}

/* Finds the route; 404/405 and CORS preflights are answered here.
 * Returns the route index, or -1 when the request was answered. */
static int http_find_route(struct http_req *r)
{
    struct http_server *s = r->s;
    char allow[128] = "";
    const bool head = !strcmp(r->method, "HEAD");
    for (int i = 0; i < s->n_routes; i++) {
        const struct http_route_ent *e = &s->routes[i];
        if (!http_path_match(e, r->path))
            continue;
        if (!strcmp(e->method, r->method) || (head && !strcmp(e->method, "GET")))
            return i;
        if (!strstr(allow, e->method) && strlen(allow) + strlen(e->method) + 3 < sizeof(allow)) {
            if (*allow)
                strcat(allow, ", ");
            strcat(allow, e->method);
        }
    }
    if (!strcmp(r->method, "OPTIONS") && s->o.cors_origin && *allow) {
        http_reply(r, 204, NULL, "", 0,
                   "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                   "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
                   "Access-Control-Max-Age: 600\r\n");
        return -1;
    }
    if (!*allow) {
        http_reply_error(r, 404, NULL, NULL, "not_found", "no route for %s %s", r->method,
                         r->path);
        return -1;
    }
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
    http_error_extra(r, 405, "method_not_allowed", hdr, "%s is not allowed on %s (allowed: %s)",
                     r->method, r->path, allow);
    return -1;
}

/* The header-only checks. Returns true when the request was answered. */
static bool http_precheck(struct http_req *r)
{
    struct http_server *s = r->s;
    if (s->loopback && !http_host_ok(s, http_req_header(r, "Host"))) {
        http_reply_error(r, 403, NULL, NULL, "host_not_allowed",
                         "the Host header '%.100s' is not a loopback name: this server is bound "
                         "to %s and refuses other hosts (DNS-rebinding protection)",
                         http_req_header(r, "Host"), s->o.host);
        return true;
    }
    r->route = http_find_route(r);
    if (r->route < 0)
        return true;
    const struct http_route_ent *e = &s->routes[r->route];
    if (s->o.api_key && !(e->flags & HTTP_ROUTE_PUBLIC) &&
        !http_key_ok(s->o.api_key, http_req_header(r, "Authorization"))) {
        http_error_extra(r, 401, "invalid_api_key", "WWW-Authenticate: Bearer\r\n",
                         "%s", http_req_header(r, "Authorization")
                                   ? "incorrect API key provided"
                                   : "missing API key: send 'Authorization: Bearer KEY'");
        return true;
    }
    if (!atomic_load(&s->ready)) {
        http_reply_error(r, 503, NULL, NULL, "loading", "the model is loading; retry shortly");
        return true;
    }
    const char *cl = http_req_header(r, "Content-Length");
    if (cl) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (v > s->o.max_body) {
            r->too_large = true;
            /* far too big: answer now and let the connection close,
             * rather than read it all */
            if (v / HTTP_DISCARD_FACTOR > s->o.max_body) {
                http_reply_error(r, 413, NULL, NULL, "body_too_large",
                                 "the request body has %llu bytes; the limit is %zu", v,
                                 s->o.max_body);
                return true;
            }
        }
    }
    return false;
}

/* ---- the libmicrohttpd callbacks ---- */

static int http_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes %XX in the path and query values in place, as libmicrohttpd
 * does, except that %00 is left as it is: a NUL would cut the string
 * short, and "/assets/app.js%00.txt" would name app.js. */
static size_t http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi = r[0] == '%' ? http_hex(r[1]) : -1;
        int lo = hi >= 0 ? http_hex(r[2]) : -1;
        if (lo >= 0 && (hi | lo)) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO; /* closes the connection */
        *r = (struct http_req){.s = s, .c = c, .method = method, .path = url, .route = -1,
                               .fd = -1, .t_start = http_now_ms()};
        buf_init(&r->body);
        *con_cls = r;
        atomic_fetch_add(&s->n_active, 1);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            const void *a = sa->sa_family == AF_INET6
                                ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                                : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
            inet_ntop(sa->sa_family, a, r->client, sizeof(r->client));
        }
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            r->fd = ci->connect_fd;
        http_precheck(r);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->replied)
            return MHD_YES;
        if (!r->too_large && r->body.len + n > s->o.max_body) {
            r->too_large = true;
            r->discarded = r->body.len;
            buf_release(&r->body);
        }
        if (r->too_large) {
            r->discarded += n;
            /* a chunked body without a length: stop reading at some point */
            return r->discarded / HTTP_DISCARD_FACTOR > s->o.max_body ? MHD_NO : MHD_YES;
        }
        if (buf_append(&r->body, upload_data, n))
            return MHD_NO;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    size_t bad;
    if (r->too_large) {
        http_reply_error(r, 413, NULL, NULL, "body_too_large",
                         "the request body is larger than the limit of %zu bytes", s->o.max_body);
    } else if (!utf8_valid(r->body.data ? r->body.data : "", r->body.len, &bad)) {
        http_reply_error(r, 400, NULL, NULL, "invalid_utf8",
                         "the request body is not valid UTF-8: bad byte 0x%02x at offset %zu",
                         (unsigned char)r->body.data[bad], bad);
    } else {
        const struct http_route_ent *e = &s->routes[r->route];
        e->fn(r, e->user);
        if (!r->replied)
            http_reply_error(r, 500, NULL, NULL, NULL, "the handler of %s gave no reply", e->path);
    }
    return MHD_YES;
}

static void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    (void)c;
    if (!r)
        return;
    /* 499, as nginx logs it: the client left before any reply */
    int status = r->replied ? r->status : 499;
    http_count(s, r->route, status);
    if (s->o.log_requests)
        fprintf(stderr, "smolbot: %s %s %s %d %.1f ms%s\n", r->client, r->method, r->path,
                status, http_now_ms() - r->t_start,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    buf_release(&r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->n_active, 1);
}

static void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                             enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    (void)c;
    (void)socket_context;
    atomic_fetch_add(&s->n_conns, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* a streamed reply whose client left: expected, and counted elsewhere */
    if (strstr(msg, "application error generating response"))
        return;
    fprintf(stderr, "smolbot: http: %s%s", msg, strchr(msg, '\n') ? "" : "\n");
}

/* ---- lifecycle ---- */

struct http_server *http_new(const struct http_opts *o, struct smol_err *err)
{
    if (!o || !o->host || o->port < 0 || o->port > 65535 || o->max_body == 0 ||
        o->max_header < 1024 || o->max_connections < 1 || o->keepalive_ms < 0) {
        err_set(err, SMOL_EINVAL, "http: invalid options");
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        err_set(err, SMOL_ENOMEM, "http: out of memory");
        return NULL;
    }
    s->o = *o;
    /* a stream waiting in the queue writes nothing but keep-alives: they
     * must come before libmicrohttpd drops the connection as idle */
    if (s->o.conn_timeout_s > 0 && s->o.keepalive_ms > s->o.conn_timeout_s * 500)
        s->o.keepalive_ms = s->o.conn_timeout_s * 500;
    s->o.host = strdup(o->host);
    s->o.api_key = o->api_key && *o->api_key ? strdup(o->api_key) : NULL;
    s->o.cors_origin = o->cors_origin && *o->cors_origin ? strdup(o->cors_origin) : NULL;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->ready, false);
    atomic_init(&s->stopping, false);
    atomic_init(&s->n_conns, 0);
    atomic_init(&s->n_streams, 0);
    atomic_init(&s->n_active, 0);
    if (!s->o.host || (o->api_key && *o->api_key && !s->o.api_key) ||
        (o->cors_origin && *o->cors_origin && !s->o.cors_origin)) {
        http_free(s);
        err_set(err, SMOL_ENOMEM, "http: out of memory");
        return NULL;
    }
    return s;
}

int http_route(struct http_server *s, const char *method, const char *path, unsigned flags,
               http_handler_fn fn, void *user)
{
    if (s->n_routes == HTTP_MAX_ROUTES || !method || !path || !fn || s->d)
        return SMOL_EINVAL;
    struct http_route_ent *e = &s->routes[s->n_routes];
    e->method = strdup(method);
    e->path = strdup(path);
    if (!e->method || !e->path) {
        free(e->method);
        free(e->path);
        return SMOL_ENOMEM;
    }
    e->path_len = strlen(path);
    e->flags = flags;
    e->fn = fn;
    e->user = user;
    s->n_routes++;
    return 0;
}

int http_start(struct http_server *s, struct smol_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", s->o.port);
    int g = getaddrinfo(s->o.host, port, &hints, &ai);
    if (g || !ai)
        return err_set(err, SMOL_EIO, "cannot resolve the address '%s': %s", s->o.host,
                       gai_strerror(g));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        s->loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    } else {
        s->loopback = (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    }
    s->d = MHD_start_daemon(flags, (uint16_t)s->o.port, NULL, NULL, http_access, s,
                            MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->o.max_header,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.conn_timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, http_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, http_conn_notify, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, s,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d)
        return err_set(err, SMOL_EIO, "cannot listen on %s port %d (in use, or not an address "
                       "of this machine?)", s->o.host, s->o.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->o.port;
    return 0;
}

int http_port(const struct http_server *s) { return s->port; }

void http_set_ready(struct http_server *s, bool ready) { atomic_store(&s->ready, ready); }

void http_quiesce(struct http_server *s)
{
    if (!s || !s->d)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

int http_drain(struct http_server *s, int timeout_ms)
{
    /* polling is fine here: this runs once, at shutdown */
    const double end = http_now_ms() + timeout_ms;
    while (atomic_load(&s->n_active) > 0 && http_now_ms() < end) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&s->n_active);
}

void http_free(struct http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    if (s->d)
        MHD_stop_daemon(s->d);
    for (int i = 0; i < s->n_routes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    free((char *)s->o.host);
    free((char *)s->o.api_key);
    free((char *)s->o.cors_origin);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
