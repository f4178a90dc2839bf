/*
 * sse.h: the per-request stream between the engine's worker and one
 * HTTP connection, and Server-Sent Events framing.
 *
 * A struct sse_stream is a byte queue with one producer and one
 * consumer:
 *
 *   producer  the worker thread, through a formatter (openai.c, ui.c):
 *             appends framed events (sse_stream_data/_event) or plain
 *             bytes (sse_stream_write), then closes the stream once.
 *   consumer  the connection's thread in http.c: waits for bytes, for
 *             the close, for a keep-alive tick or for its client to
 *             hang up (sse_stream_read), or, for a response that is not
 *             streamed, only for the close (sse_stream_wait_closed) and
 *             then takes the whole body (sse_stream_body).
 *
 * Both sides hold a reference (sse_stream_new gives one, sse_stream_ref
 * another); the last sse_stream_unref frees it, so neither side has to
 * outlive the other. The producer never blocks on a dead client: once
 * the consumer is gone, writes are dropped and report SSE_GONE so the
 * generation can stop. A live but slow client gets backpressure: a write
 * waits while more than max_pending bytes are unread, and gives up
 * (marking the stream gone) after stall_ms.
 *
 * Framing follows the WHATWG EventSource format: every line of a data
 * payload becomes one "data: " field, an event ends with a blank line,
 * and a keep-alive is the comment line ": keep-alive".
 */
#ifndef SMOL_SSE_H
#define SMOL_SSE_H

#include "base.h"

#include <stdatomic.h>

struct sse_stream;

enum sse_status {
    SSE_OK = 0,
    SSE_GONE = 1,   /* the consumer left: stop producing */
};

/* The consumer's read result, beside a byte count. */
enum { SSE_READ_END = -1, SSE_READ_CLIENT_GONE = -2 };

/* A stream holding at most max_pending unread bytes before writes wait
 * (at most stall_ms, then the consumer counts as gone). NULL on ENOMEM
 * or when no eventfd can be made. */
struct sse_stream *sse_stream_new(size_t max_pending, int stall_ms);
struct sse_stream *sse_stream_ref(struct sse_stream *s);
void sse_stream_unref(struct sse_stream *s); /* accepts NULL */

/* ---- producer side ---- */

/* One event: "event: NAME\n" when event is not NULL, "id: ID\n" when id
 * is not NULL, the payload as data lines, then a blank line. event and
 * id must not contain newlines (SMOL_EINVAL). Returns SSE_OK, SSE_GONE,
 * or SMOL_ENOMEM. */
int sse_stream_event(struct sse_stream *s, const char *event, const char *id,
                     const char *data, size_t len);
/* The common case: "data: " payload "\n\n". */
int sse_stream_data(struct sse_stream *s, const char *data, size_t len);
/* Bytes as they are (a body that is not an event stream). */
int sse_stream_write(struct sse_stream *s, const char *data, size_t len);
/* Ends the stream with an HTTP status for a body that is not streamed
 * (ignored for event streams, whose status went out first). Idempotent:
 * the first close wins. */
void sse_stream_close(struct sse_stream *s, int status);
/* True once the consumer has left (or stalled past stall_ms). */
bool sse_stream_is_gone(struct sse_stream *s);

/* ---- consumer side ---- */

/* Waits until bytes are available and copies at most max of them to
 * out. Returns the count (> 0), SSE_READ_END once the stream is closed
 * and drained, or SSE_READ_CLIENT_GONE when client_fd (a connected
 * socket, -1 for none) hangs up; then the stream is marked gone. When
 * keepalive_ms (> 0) pass without bytes, writes ": keep-alive\n\n" to
 * out instead (max must hold it). *stop is checked at least every
 * 250 ms; when it becomes true the read returns SSE_READ_END. */
long sse_stream_read(struct sse_stream *s, char *out, size_t max, int client_fd,
                     int keepalive_ms, const atomic_bool *stop);

/* Waits for the close (0) or for client_fd to hang up (SSE_READ_CLIENT_GONE,
 * the stream marked gone); *stop as above. */
int sse_stream_wait_closed(struct sse_stream *s, int client_fd, const atomic_bool *stop);

/* After the close: the unread bytes (owned by s, valid until the next
 * call on s) and the status given to sse_stream_close. */
const char *sse_stream_body(struct sse_stream *s, size_t *len, int *status);

/* The consumer abandons the stream (the connection ended early). */
void sse_stream_set_gone(struct sse_stream *s);

/* True when fd's peer has closed or reset the connection (a zero-timeout
 * poll for POLLRDHUP/POLLHUP/POLLERR). */
bool sse_fd_hung_up(int fd);

#endif
