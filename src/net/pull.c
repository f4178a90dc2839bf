/*
 * pull.c: resumable, verified model downloads with libcurl (see pull.h).
 *
 * One pull is a loop of attempts. Each attempt opens NAME.part, hashes
 * what it already holds (unless the running hash already covers it),
 * asks for the rest with a Range request, and appends what arrives. The
 * first body byte of each response decides what the response means:
 * 206 continues the .part, 200 replaces it (the server ignored Range).
 * The loop ends when the size the server announced is reached; then the
 * size and hash are checked and the file is renamed into place.
 */
#include "pull.h"
#include "utf8.h"

#include <ctype.h>
#include <stdarg.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ================================================================== */
/* Known models                                                        */
/* ================================================================== */

/*
 * SmolLM3-3B in Q4_K_M as ggml-org (llama.cpp's maintainers) publish it;
 * `llama-cli -hf ggml-org/SmolLM3-3B-GGUF` picks this file. Size and
 * SHA-256 are the LFS object's (repository revision 4965cb60b150).
 * Saved under the name the Makefile's `make run` looks for.
 */
static const struct pull_source sources[] = {
    {"smollm3", "/ggml-org/SmolLM3-3B-GGUF/resolve/main/SmolLM3-Q4_K_M.gguf",
     "SmolLM3-3B-Q4_K_M.gguf", 1915305312,
     "8334b850b7bd46238c16b0c550df2138f0889bf433809008cc17a8b05761863e"},
};

const struct pull_source *pull_find_source(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(sources); i++)
        if (!strcasecmp(name, sources[i].name) || !strcasecmp(name, sources[i].file_name))
            return &sources[i];
    return NULL;
}

const struct pull_source *pull_sources(size_t *n)
{
    *n = ARRAY_SIZE(sources);
    return sources;
}

/* ================================================================== */
/* Names, paths, hashes                                                */
/* ================================================================== */

bool pull_url_ok(const char *url)
{
    return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

static int hex_val(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool pull_parse_sha256(const char *s, char out[65])
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++) {
        if (hex_val((unsigned char)s[i]) < 0)
            return false;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[64] = '\0';
    return true;
}

int pull_name_from_url(const char *url, char *out, size_t cap, struct smol_err *err)
{
    if (!pull_url_ok(url))
        return err_set(err, SMOL_EINVAL,
                       "pull: only http:// and https:// URLs can be pulled, not '%.200s'", url);
    /* The path starts after "scheme://host"; the name is its last
     * segment, before any query or fragment. */
    const char *p = strstr(url, "://") + 3;
    const char *path = strchr(p, '/');
    size_t end = path ? strcspn(path, "?#") : 0;
    const char *seg = path;
    for (size_t i = 0; path && i < end; i++)
        if (path[i] == '/')
            seg = path + i + 1;
    size_t seg_len = path ? (size_t)(path + end - seg) : 0;
    char name[256];
    size_t n = 0;
    for (size_t i = 0; i < seg_len; i++) {
        int c = (unsigned char)seg[i];
        if (c == '%') {
            int hi = i + 2 < seg_len ? hex_val((unsigned char)seg[i + 1]) : -1;
            int lo = hi >= 0 ? hex_val((unsigned char)seg[i + 2]) : -1;
            if (lo < 0)
                return err_set(err, SMOL_EINVAL, "pull: bad %%-escape in the URL '%.200s'", url);
            c = hi * 16 + lo;
            i += 2;
        }
        if (n + 1 >= sizeof(name))
            return err_set(err, SMOL_EINVAL, "pull: the file name in '%.200s' is too long", url);
        name[n++] = (char)c;
    }
    name[n] = '\0';
    bool bad = n == 0 || name[0] == '.' || strstr(name, "..") || memchr(name, '/', n) ||
               memchr(name, '\\', n) || strlen(name) != n || !utf8_valid(name, n, NULL);
    for (size_t i = 0; !bad && i < n; i++)
        bad = (unsigned char)name[i] < 0x20 || name[i] == 0x7f;
    if (bad)
        return err_set(err, SMOL_EINVAL,
                       "pull: the URL '%.200s' does not end in a usable file name", url);
    if (n + 1 > cap)
        return err_set(err, SMOL_ERANGE, "pull: file name too long");
    memcpy(out, name, n + 1);
    return 0;
}

int pull_models_dir(char *buf, size_t cap, struct smol_err *err)
{
    const char *env = getenv("SMOLBOT_MODELS"), *xdg = getenv("XDG_DATA_HOME"),
               *home = getenv("HOME");
    int n;
    if (env && env[0])
        n = snprintf(buf, cap, "%s", env);
    else if (xdg && xdg[0] == '/')
        n = snprintf(buf, cap, "%s/smolbot/models", xdg);
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/.local/share/smolbot/models", home);
    else
        return err_set(err, SMOL_ENOTFOUND,
                       "pull: HOME is not set; give the directory with --dir");
    if (n < 0 || (size_t)n >= cap)
        return err_set(err, SMOL_ERANGE, "pull: the models directory path is too long");
    return 0;
}

/* mkdir -p dir, creating what is missing with mode 0700. */
static int pull_make_dirs(const char *dir, struct smol_err *err)
{
    char p[4096];
    if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
        return err_set(err, SMOL_ERANGE, "pull: directory path too long");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return err_set(err, SMOL_EIO, "pull: cannot create directory '%s': %s", p,
                           strerror(errno));
        *s = c;
        if (c == '\0')
            break;
    }
    return 0;
}

static void hex_digest(const unsigned char *d, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* SHA-256 of the first n bytes of fd into ctx (re-initialised). */
static int pull_hash_fd(EVP_MD_CTX *ctx, int fd, uint64_t n, const char *path,
                        struct smol_err *err)
{
    static unsigned char block[1 << 20];
    if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        return err_set(err, SMOL_ENOMEM, "pull: cannot start SHA-256");
    for (uint64_t off = 0; off < n;) {
        ssize_t r = pread(fd, block, (size_t)MIN((uint64_t)sizeof(block), n - off), (off_t)off);
        if (r <= 0)
            return err_set(err, SMOL_EIO, "pull: cannot read '%s' at %llu: %s", path,
                           (unsigned long long)off, r < 0 ? strerror(errno) : "end of file");
        EVP_DigestUpdate(ctx, block, (size_t)r);
        off += (uint64_t)r;
    }
    return 0;
}

/* ================================================================== */
/* Progress                                                            */
/* ================================================================== */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "812.3 MB", "1.92 GB": decimal units, as Hugging Face shows sizes. */
static void fmt_bytes(char *b, size_t cap, uint64_t n)
{
    if (n >= 1000000000ull)
        snprintf(b, cap, "%.2f GB", n / 1e9);
    else if (n >= 1000000ull)
        snprintf(b, cap, "%.1f MB", n / 1e6);
    else
        snprintf(b, cap, "%.1f kB", n / 1e3);
}

static void fmt_eta(char *b, size_t cap, double s)
{
    if (!(s >= 0) || s > 359999)
        snprintf(b, cap, "--:--");
    else if (s >= 3600)
        snprintf(b, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(b, cap, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* ================================================================== */
/* One download                                                        */
/* ================================================================== */

struct dl {
    const struct pull_request *rq;
    const char *part;      /* DIR/NAME.part */
    int fd;                /* the .part, locked, O_APPEND */
    EVP_MD_CTX *sha;       /* covers exactly the first `hashed` bytes */
    uint64_t hashed;
    uint64_t have;         /* bytes in the .part */
    uint64_t total;        /* the whole file's size; 0 while unknown */
    char want_sha[65];     /* expected hash, "" while unknown */
    struct smol_err *err;
    bool fatal;            /* the error must not be retried */
    bool any_body;         /* some response of this pull had a body */

    /* per response, reset at each status line */
    bool body_started;
    bool has_range;
    uint64_t range_start, range_total;

    /* progress */
    double t0, t_last;
    uint64_t have0;        /* bytes at t0 */
    int last_decile;
};

/* Records an error that a retry cannot fix, and returns 0: from the
 * write callback, a short count makes curl abort the transfer. */
__attribute__((format(printf, 3, 4))) static size_t dl_fatal(struct dl *d, int code,
                                                              const char *fmt, ...)
{
    char msg[SMOL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(d->err, code, "%s", msg);
    d->fatal = true;
    return 0;
}

static void dl_progress(struct dl *d, bool final)
{
    FILE *f = d->rq->progress;
    /* Nothing to show before the first byte (and a failure to connect
     * stays one line). */
    if (!f || !d->any_body)
        return;
    double t = now_s();
    int pct = d->total ? (int)(d->have * 100 / d->total) : -1;
    if (d->rq->progress_tty) {
        if (!final && t - d->t_last < 0.1)
            return;
    } else {
        /* plain lines: one per 10% (or per 30 s when the size is unknown) */
        int decile = pct >= 0 ? pct / 10 : (int)((t - d->t0) / 30);
        if (decile == d->last_decile && (!final || pct == 100))
            return;
        d->last_decile = decile;
    }
    d->t_last = t;
    double rate = t > d->t0 ? (double)(d->have - d->have0) / (t - d->t0) : 0;
    char have[32], total[32], eta[32], bar[32];
    fmt_bytes(have, sizeof(have), d->have);
    fmt_bytes(total, sizeof(total), d->total);
    fmt_eta(eta, sizeof(eta), rate > 0 && d->total ? (double)(d->total - d->have) / rate : -1);
    if (pct < 0) {
        fprintf(f, d->rq->progress_tty ? "\r%s  %.1f MB/s\033[K" : "pull: %s  %.1f MB/s\n", have,
                rate / 1e6);
    } else if (d->rq->progress_tty) {
        int fill = pct / 4;
        for (int i = 0; i < 25; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[25] = '\0';
        fprintf(f, "\r%3d%% [%s] %s / %s  %.1f MB/s  ETA %s\033[K", pct, bar, have, total,
                rate / 1e6, eta);
    } else {
        fprintf(f, "pull: %3d%%  %s / %s  %.1f MB/s  ETA %s\n", pct, have, total, rate / 1e6,
                eta);
    }
    if (final && d->rq->progress_tty)
        fputc('\n', f);
    fflush(f);
}

static int dl_xferinfo(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    dl_progress(user, false);
    return 0;
}

/* Header lines of every response, redirects included. The per-response
 * fields restart at each status line; the X-Linked ones are kept, since
 * they come on the redirect and not on the file's own response. */
static size_t dl_header(char *line, size_t size, size_t n, void *user)
{
    struct dl *d = user;
    size_t len = size * n;
    char h[512];
    snprintf(h, sizeof(h), "%.*s", (int)MIN(len, sizeof(h) - 1), line);
    h[strcspn(h, "\r\n")] = '\0';
    if (!strncmp(h, "HTTP/", 5)) {
        d->has_range = false;
        d->body_started = false;
        return len;
    }
    char *colon = strchr(h, ':');
    if (!colon)
        return len;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    unsigned long long a, b, t;
    if (!strcasecmp(h, "content-range") && sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
        d->has_range = true;
        d->range_start = a;
        d->range_total = t;
    } else if (!strcasecmp(h, "x-linked-etag") && !d->rq->sha256) {
        /* "\"<sha256>\"" for LFS files; anything else is no hash. */
        char tmp[80];
        snprintf(tmp, sizeof(tmp), "%s", v + (*v == '"'));
        tmp[strcspn(tmp, "\"")] = '\0';
        if (!pull_parse_sha256(tmp, d->want_sha))
            d->want_sha[0] = '\0';
    } else if (!strcasecmp(h, "x-linked-size") && !d->rq->size &&
               sscanf(v, "%llu", &t) == 1) {
        d->total = t;
    }
    return len;
}

/* The first body bytes of a response: decide whether they continue the
 * .part (206 from our offset) or replace it (200). false stops the
 * transfer (the error is recorded). */
static bool dl_start_body(struct dl *d, CURL *c)
{
    long status = 0;
    curl_off_t clen = -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    uint64_t announced;
    if (status == 206) {
        if (!d->has_range || d->range_start != d->have)
            return dl_fatal(d, SMOL_EFORMAT, "pull: the server's range does not start at %llu",
                            (unsigned long long)d->have);
        announced = d->range_total;
    } else {
        if (d->have > 0) {
            /* Range ignored: the whole file is coming again. */
            if (d->rq->progress)
                fprintf(d->rq->progress, "pull: the server ignored the range request; "
                                         "starting over\n");
            if (ftruncate(d->fd, 0) != 0)
                return dl_fatal(d, SMOL_EIO, "pull: cannot truncate '%s': %s", d->part,
                                strerror(errno));
            d->have = d->have0 = 0;
        }
        announced = clen >= 0 ? (uint64_t)clen : 0;
    }
    if (d->hashed != d->have && pull_hash_fd(d->sha, d->fd, d->have, d->part, d->err) != 0) {
        d->fatal = true;
        return false;
    }
    d->hashed = d->have;
    if (announced && d->total && announced != d->total)
        return dl_fatal(d, SMOL_EFORMAT,
                        "pull: the server offers %llu bytes, but the file should have %llu",
                        (unsigned long long)announced, (unsigned long long)d->total);
    if (announced)
        d->total = announced;
    if (!d->any_body && d->rq->progress) {
        char size[32] = "size unknown";
        if (d->total)
            fmt_bytes(size, sizeof(size), d->total);
        fprintf(d->rq->progress, "pull: downloading %s (%s)\n", d->rq->url, size);
    }
    d->any_body = d->body_started = true;
    return true;
}

struct dl_ctx {
    struct dl *d;
    CURL *c;
};

static size_t dl_write(char *data, size_t size, size_t n, void *user)
{
    struct dl_ctx *x = user;
    struct dl *d = x->d;
    size_t len = size * n;
    if (!d->body_started && !dl_start_body(d, x->c))
        return 0;
    if (d->total && d->have + len > d->total)
        return dl_fatal(d, SMOL_EFORMAT, "pull: the server sent more than the %llu bytes it announced",
                        (unsigned long long)d->total);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(d->fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return dl_fatal(d, errno == ENOSPC ? SMOL_EFULL : SMOL_EIO,
                            "pull: cannot write '%s': %s", d->part, strerror(errno));
        off += (size_t)w;
    }
    EVP_DigestUpdate(d->sha, data, len);
    d->have += len;
    d->hashed = d->have;
    return len;
}

/* The host of url, for messages ("huggingface.co"). */
static void url_host(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* no user:password in messages */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, cap, "%.*s", (int)MIN(n, cap - 1), p);
    /* drop the port; an IPv6 literal keeps its brackets */
    char *port = out[0] == '[' ? strstr(out, "]:") : strchr(out, ':');
    if (port)
        port[out[0] == '['] = '\0';
}

/* One attempt: GET from d->have on. Returns 0 when the transfer ended
 * cleanly, else an error (d->fatal says whether to stop). */
static int dl_attempt(struct dl *d, CURL *c)
{
    char range[48], ebuf[CURL_ERROR_SIZE] = "";
    struct dl_ctx x = {d, c};
    snprintf(range, sizeof(range), "%llu-", (unsigned long long)d->have);
    curl_easy_setopt(c, CURLOPT_RANGE, d->have ? range : NULL);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    d->body_started = d->has_range = false;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    if (d->fatal)
        return d->err->code ? d->err->code : SMOL_EIO;
    /* Some servers close cleanly without sending all they announced. */
    if (rc == CURLE_OK && d->total && d->have < d->total)
        return err_set(d->err, SMOL_EIO, "pull: the server stopped at %llu of %llu bytes",
                       (unsigned long long)d->have, (unsigned long long)d->total);
    if (rc == CURLE_OK)
        return 0;

    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    const char *why = ebuf[0] ? ebuf : curl_easy_strerror(rc);
    char host[256];
    url_host(d->rq->url, host, sizeof(host));
    switch (rc) {
    case CURLE_HTTP_RETURNED_ERROR:
        /* 416 at a complete .part: the bytes are all here already. */
        if (status == 416 && d->total && d->have == d->total)
            return 0;
        if (status == 416) {
            d->fatal = true;
            if (ftruncate(d->fd, 0) == 0)
                d->have = d->hashed = 0;
            return err_set(d->err, SMOL_EIO,
                           "pull: the server refused to resume '%s' (HTTP 416); the partial "
                           "download was reset, run pull again",
                           d->rq->url);
        }
        d->fatal = status < 500; /* 5xx may pass; 4xx will not */
        return err_set(d->err, status == 404 ? SMOL_ENOTFOUND : SMOL_EIO,
                       "pull: %s answered HTTP %ld for %.300s", host, status, d->rq->url);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        d->fatal = true;
        return err_set(d->err, SMOL_EIO,
                       "pull: cannot reach %s: %s; download %.250s yourself and run "
                       "`MODEL=path make run`",
                       host, why, d->rq->url);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_TOO_MANY_REDIRECTS:
        d->fatal = true;
        return err_set(d->err, SMOL_EINVAL, "pull: cannot fetch %.300s: %s", d->rq->url, why);
    default:
        /* A dropped connection, a stall, a reset: worth resuming. */
        return err_set(d->err, SMOL_EIO, "pull: download of %.300s interrupted at %llu bytes: %s",
                       d->rq->url, (unsigned long long)d->have, why);
    }
}

/* The curl handle with everything but the per-attempt options. */
static CURL *dl_curl(struct dl *d)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    bool https = !strncasecmp(d->rq->url, "https://", 8);
    curl_easy_setopt(c, CURLOPT_URL, d->rq->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
                     (long)(https ? CURLPROTO_HTTPS : CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "smolbot-pull/1 (libcurl)");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stall (under 1 kB/s for a minute) counts as a dropped connection. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, dl_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dl_xferinfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

/* Verifies the finished .part and renames it into place. */
static int dl_finish(struct dl *d, struct pull_result *res)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (d->hashed != d->have && pull_hash_fd(d->sha, d->fd, d->have, d->part, d->err))
        return d->err->code;
    EVP_DigestFinal_ex(d->sha, md, &md_len);
    hex_digest(md, res->sha256);
    res->size = d->have;
    if (d->total && d->have != d->total) {
        unlink(d->part);
        return err_set(d->err, SMOL_EFORMAT,
                       "pull: size mismatch for %s: got %llu bytes, expected %llu; "
                       "the partial download was deleted",
                       res->path, (unsigned long long)d->have, (unsigned long long)d->total);
    }
    if (d->want_sha[0] && strcmp(d->want_sha, res->sha256) != 0) {
        unlink(d->part);
        return err_set(d->err, SMOL_EFORMAT,
                       "pull: checksum mismatch for %s: SHA-256 is %s, expected %s; "
                       "the download was deleted",
                       res->path, res->sha256, d->want_sha);
    }
    /* Data on disk before the name points at it, and the name on disk
     * before we say it is done. */
    if (fsync(d->fd) != 0 || rename(d->part, res->path) != 0)
        return err_set(d->err, SMOL_EIO, "pull: cannot move '%s' into place: %s", d->part,
                       strerror(errno));
    int dfd = open(d->rq->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* DIR/NAME exists: accept it on its size (it only got that name after
 * being verified), and on its hash when asked to. */
static int pull_existing(const struct pull_request *rq, const char *want_sha,
                         const struct stat *sb, struct pull_result *res, struct smol_err *err)
{
    if (rq->size && (uint64_t)sb->st_size != rq->size)
        return err_set(err, SMOL_EFORMAT,
                       "pull: %s exists with %llu bytes, not the expected %llu; delete it to "
                       "download it again",
                       res->path, (unsigned long long)sb->st_size, (unsigned long long)rq->size);
    res->existed = true;
    res->size = (uint64_t)sb->st_size;
    if (!rq->verify_existing || !want_sha[0])
        return 0;
    int fd = open(res->path, O_RDONLY | O_CLOEXEC);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len;
    int rc = fd < 0 ? err_set(err, SMOL_EIO, "pull: cannot open '%s': %s", res->path,
                              strerror(errno))
             : !ctx ? err_set(err, SMOL_ENOMEM, "pull: out of memory")
                    : pull_hash_fd(ctx, fd, res->size, res->path, err);
    if (!rc) {
        EVP_DigestFinal_ex(ctx, md, &md_len);
        hex_digest(md, res->sha256);
        if (strcmp(res->sha256, want_sha) != 0)
            rc = err_set(err, SMOL_EFORMAT,
                         "pull: %s exists but its SHA-256 is %s, not %s; delete it to download "
                         "it again",
                         res->path, res->sha256, want_sha);
    }
    EVP_MD_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    return rc;
}

int pull_file(const struct pull_request *rq, struct pull_result *res, struct smol_err *err)
{
    char name[256], part[4200];
    struct dl d = {.rq = rq, .fd = -1, .err = err, .total = rq->size, .last_decile = -1};
    CURL *c = NULL;
    bool curl_inited = false;
    int rc;
    memset(res, 0, sizeof(*res));
    if (rq->sha256 && !pull_parse_sha256(rq->sha256, d.want_sha))
        return err_set(err, SMOL_EINVAL, "pull: '%.80s' is not a SHA-256 (64 hex digits)",
                       rq->sha256);
    if ((rc = pull_name_from_url(rq->url, name, sizeof(name), err)))
        return rc;
    if (rq->file_name)
        snprintf(name, sizeof(name), "%s", rq->file_name);
    if (snprintf(res->path, sizeof(res->path), "%s/%s", rq->dir, name) >= (int)sizeof(res->path))
        return err_set(err, SMOL_ERANGE, "pull: destination path too long");
    snprintf(part, sizeof(part), "%s.part", res->path);
    d.part = part;
    if ((rc = pull_make_dirs(rq->dir, err)))
        return rc;
    struct stat sb;
    if (stat(res->path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return err_set(err, SMOL_EINVAL, "pull: '%s' exists and is not a file", res->path);
        return pull_existing(rq, d.want_sha, &sb, res, err);
    }

    /* The .part, locked so that two pulls of one file cannot interleave. */
    d.fd = open(part, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (d.fd < 0)
        return err_set(err, SMOL_EIO, "pull: cannot create '%s': %s", part, strerror(errno));
    if (flock(d.fd, LOCK_EX | LOCK_NB) != 0) {
        close(d.fd); /* the .part is the other pull's: leave it be */
        return err_set(err, SMOL_EIO, "pull: another pull is writing '%s'", part);
    }
    if (fstat(d.fd, &sb) != 0) {
        rc = err_set(err, SMOL_EIO, "pull: cannot stat '%s': %s", part, strerror(errno));
        goto out;
    }
    d.have = res->resumed_from = (uint64_t)sb.st_size;
    if (d.total && d.have > d.total) { /* not ours, or a different file */
        if (ftruncate(d.fd, 0) != 0) {
            rc = err_set(err, SMOL_EIO, "pull: cannot truncate '%s'", part);
            goto out;
        }
        d.have = res->resumed_from = 0;
    }
    d.sha = EVP_MD_CTX_new();
    if (!d.sha || !EVP_DigestInit_ex(d.sha, EVP_sha256(), NULL)) {
        rc = err_set(err, SMOL_ENOMEM, "pull: cannot set up SHA-256");
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = err_set(err, SMOL_ENOMEM, "pull: cannot initialise libcurl");
        goto out;
    }
    curl_inited = true;
    if (!(c = dl_curl(&d))) {
        rc = err_set(err, SMOL_ENOMEM, "pull: cannot set up libcurl");
        goto out;
    }
    if (rq->progress && d.have)
        fprintf(rq->progress, "pull: resuming %s at %llu bytes\n", part,
                (unsigned long long)d.have);

    d.t0 = d.t_last = now_s();
    d.have0 = d.have;
    /* A .part that already holds every byte needs no request at all
     * (the last run died between the transfer and the rename). */
    uint64_t start = d.have;
    rc = d.total && d.have == d.total ? 0 : dl_attempt(&d, c);
    for (int attempt = 0, idle = 0; rc && !d.fatal && attempt < rq->retries; attempt++) {
        if (rq->progress) {
            const char *why = err->msg;
            if (!strncmp(why, "pull: ", 6))
                why += 6;
            fprintf(rq->progress, "pull: %s; resuming (retry %d of %d)\n", why, attempt + 1,
                    rq->retries);
        }
        /* An attempt that got nothing: back off 1, 2, 4 ... s; one that
         * made progress is resumed at once. */
        idle = d.have > start ? 0 : idle + 1;
        if (idle)
            sleep(1u << MIN(idle - 1, 4));
        start = d.have;
        err_clear(err);
        rc = dl_attempt(&d, c);
    }
    if (rc)
        goto out;
    dl_progress(&d, true);
    rc = dl_finish(&d, res);
out:
    if (c)
        curl_easy_cleanup(c);
    if (curl_inited)
        curl_global_cleanup();
    EVP_MD_CTX_free(d.sha);
    /* Keep a .part only when it is worth resuming: not when it is empty,
     * nor when what it holds belongs to some other file. */
    if (rc && d.fd >= 0 && d.part && (rc == SMOL_EFORMAT || fstat(d.fd, &sb) != 0 || !sb.st_size))
        unlink(d.part);
    if (d.fd >= 0)
        close(d.fd);
    return rc;
}
