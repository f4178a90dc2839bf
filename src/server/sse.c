/*
 * sse.c: the per-request stream (a locked byte queue with an eventfd to
 * wake its reader) and Server-Sent Events framing. See sse.h.
 *
 * Wake-ups: the producer appends under the mutex and then writes the
 * eventfd; the consumer checks the queue under the mutex and only then
 * polls the eventfd. A write that lands between the check and the poll
 * leaves the eventfd readable, so no wake-up is ever lost. The consumer
 * polls its client's socket in the same call, which is how a client
 * that hangs up is noticed at once rather than at the next write.
 */
#include "sse.h"
#include "buf.h"
#include "err.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* How often a waiting consumer looks at the server's stop flag. */
#define SSE_STOP_POLL_MS 250

static const char sse_keepalive[] = ": keep-alive\n\n";

struct sse_stream {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t room;    /* signalled when the consumer reads or leaves */
    int efd;                /* eventfd: bytes arrived or the stream closed */
    struct buf q;           /* queued bytes; the unread ones are q[off..len) */
    size_t off;
    size_t max_pending;
    int stall_ms;
    bool closed;
    int status;
    atomic_bool gone;
};

static int64_t sse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct sse_stream *sse_stream_new(size_t max_pending, int stall_ms)
{
    struct sse_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0) {
        free(s);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->room, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    buf_init(&s->q);
    atomic_init(&s->refs, 1);
    atomic_init(&s->gone, false);
    s->max_pending = max_pending ? max_pending : SIZE_MAX;
    s->stall_ms = stall_ms > 0 ? stall_ms : 30000;
    s->status = 200;
    return s;
}

struct sse_stream *sse_stream_ref(struct sse_stream *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void sse_stream_unref(struct sse_stream *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    close(s->efd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->room);
    buf_release(&s->q);
    free(s);
}

static void sse_wake(struct sse_stream *s)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already huge: the reader is awake */
    ssize_t w = write(s->efd, &one, sizeof(one));
    (void)w;
}

/* ---- producer ---- */

/* Waits (mutex held) until the unread bytes fit under max_pending, the
 * consumer leaves, or stall_ms pass (then the consumer counts as gone:
 * a client that reads nothing must not hold the engine forever). */
static int sse_wait_room(struct sse_stream *s)
{
    if (s->q.len - s->off <= s->max_pending)
        return SSE_OK;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += s->stall_ms / 1000;
    dl.tv_nsec += (long)(s->stall_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (s->q.len - s->off > s->max_pending && !atomic_load(&s->gone)) {
        if (pthread_cond_timedwait(&s->room, &s->mu, &dl) == ETIMEDOUT) {
            atomic_store(&s->gone, true);
            break;
        }
    }
    return atomic_load(&s->gone) ? SSE_GONE : SSE_OK;
}

/* Appends the pieces parts[0..n) as one unit, so a reader never sees
 * half an event. */
static int sse_append(struct sse_stream *s, const char *const *parts, const size_t *lens, int n)
{
    if (atomic_load(&s->gone))
        return SSE_GONE;
    pthread_mutex_lock(&s->mu);
    int rc = s->closed ? SSE_GONE : sse_wait_room(s);
    if (rc == SSE_OK) {
        /* drop the consumed prefix before growing */
        if (s->off && s->off == s->q.len) {
            buf_reset(&s->q);
            s->off = 0;
        }
        size_t old = s->q.len;
        for (int i = 0; i < n && rc == SSE_OK; i++)
            if (buf_append(&s->q, parts[i], lens[i]))
                rc = SMOL_ENOMEM;
        if (rc != SSE_OK)
            s->q.len = old; /* all or nothing */
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == SSE_OK)
        sse_wake(s);
    return rc;
}

int sse_stream_write(struct sse_stream *s, const char *data, size_t len)
{
    const char *p[1] = {data};
    size_t l[1] = {len};
    return sse_append(s, p, l, 1);
}

int sse_stream_event(struct sse_stream *s, const char *event, const char *id,
                     const char *data, size_t len)
{
    if ((event && strpbrk(event, "\r\n")) || (id && strpbrk(id, "\r\n")))
        return SMOL_EINVAL;
    struct buf b;
    buf_init(&b);
    int rc = 0;
    if (event)
        rc |= buf_appendf(&b, "event: %s\n", event);
    if (id)
        rc |= buf_appendf(&b, "id: %s\n", id);
    /* Each line of the payload is its own data field; the reader joins
     * them with "\n". CR LF and lone CR also end lines in the format. */
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        rc |= buf_append_str(&b, "data: ");
        rc |= buf_append(&b, data + i, j - i);
        rc |= buf_append_char(&b, '\n');
        if (j >= len)
            break;
        /* a terminator at the very end gives a last, empty field:
         * that is how a payload's trailing newline survives */
        if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    rc |= buf_append_char(&b, '\n');
    if (rc) {
        buf_release(&b);
        return SMOL_ENOMEM;
    }
    rc = sse_stream_write(s, b.data, b.len);
    buf_release(&b);
    return rc;
}

int sse_stream_data(struct sse_stream *s, const char *data, size_t len)
{
    return sse_stream_event(s, NULL, NULL, data, len);
}

void sse_stream_close(struct sse_stream *s, int status)
{
    pthread_mutex_lock(&s->mu);
    if (!s->closed) {
        s->closed = true;
        s->status = status;
    }
    pthread_mutex_unlock(&s->mu);
    sse_wake(s);
}

bool sse_stream_is_gone(struct sse_stream *s)
{
    return atomic_load(&s->gone);
}

void sse_stream_set_gone(struct sse_stream *s)
{
    atomic_store(&s->gone, true);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->room);
    pthread_mutex_unlock(&s->mu);
}

/* ---- consumer ---- */

bool sse_fd_hung_up(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Sleeps until the eventfd fires, the client hangs up or timeout_ms
 * pass. Returns SSE_READ_CLIENT_GONE for a hang-up, else 0. */
static int sse_sleep(struct sse_stream *s, int client_fd, int timeout_ms)
{
    struct pollfd p[2] = {
        {.fd = s->efd, .events = POLLIN},
        {.fd = client_fd, .events = POLLRDHUP},
    };
    int n = poll(p, client_fd >= 0 ? 2 : 1, timeout_ms);
    if (n <= 0)
        return 0;
    if (client_fd >= 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
        sse_stream_set_gone(s);
        return SSE_READ_CLIENT_GONE;
    }
    if (p[0].revents & POLLIN) {
        uint64_t v;
        ssize_t r = read(s->efd, &v, sizeof(v));
        (void)r;
    }
    return 0;
}

long sse_stream_read(struct sse_stream *s, char *out, size_t max, int client_fd,
                     int keepalive_ms, const atomic_bool *stop)
{
    const int64_t tick = keepalive_ms > 0 ? sse_now_ms() + keepalive_ms : INT64_MAX;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        size_t avail = s->q.len - s->off;
        if (avail > 0) {
            size_t n = MIN(avail, max);
            memcpy(out, s->q.data + s->off, n);
            s->off += n;
            if (s->off == s->q.len) {
                buf_reset(&s->q);
                s->off = 0;
            }
            pthread_cond_signal(&s->room);
            pthread_mutex_unlock(&s->mu);
            return (long)n;
        }
        bool closed = s->closed;
        pthread_mutex_unlock(&s->mu);
        if (closed || (stop && atomic_load(stop)))
            return SSE_READ_END;
        int64_t now = sse_now_ms();
        if (now >= tick && max >= sizeof(sse_keepalive) - 1) {
            memcpy(out, sse_keepalive, sizeof(sse_keepalive) - 1);
            return (long)(sizeof(sse_keepalive) - 1);
        }
        int wait = (int)MIN((int64_t)SSE_STOP_POLL_MS, tick - now);
        if (sse_sleep(s, client_fd, wait) == SSE_READ_CLIENT_GONE)
            return SSE_READ_CLIENT_GONE;
    }
}

int sse_stream_wait_closed(struct sse_stream *s, int client_fd, const atomic_bool *stop)
{
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool closed = s->closed;
        pthread_mutex_unlock(&s->mu);
        if (closed || (stop && atomic_load(stop)))
            return 0;
        if (sse_sleep(s, client_fd, SSE_STOP_POLL_MS) == SSE_READ_CLIENT_GONE)
            return SSE_READ_CLIENT_GONE;
    }
}

const char *sse_stream_body(struct sse_stream *s, size_t *len, int *status)
{
    pthread_mutex_lock(&s->mu);
    const char *p = s->q.data ? s->q.data + s->off : "";
    *len = s->q.len - s->off;
    if (status)
        *status = s->status;
    pthread_mutex_unlock(&s->mu);
    return p;
}
