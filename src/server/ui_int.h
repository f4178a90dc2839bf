/*
 * ui_int.h: what the files of the web chat share (ui.c: routes and
 * actions; ui_live.c: live chats, their event streams and generations;
 * ui_render.c: HTML fragments) and the embedded assets (assets.c,
 * generated at build time by tools/embed.c). Not for other modules.
 *
 * A live chat (struct ui_chat) exists in memory for every chat someone
 * looks at or generates in: it numbers its events, keeps the recent ones
 * for Last-Event-ID resumes, and writes each to every subscribed event
 * stream. Its generation (struct ui_gen) holds the streamed answer: the
 * markdown so far, how much of it the page has seen, and the HTML of the
 * settled blocks already appended.
 *
 * Locking, in this order only:
 *   u->mu     the registry of live chats, the count of /quote threads,
 *             the stopping flag;
 *   c->mu     everything in a chat: its events, subscribers, generation
 *             (worker callbacks, the ticker and HTTP handlers all take
 *             it, so an event's number and its content are one atomic
 *             step);
 *   the store's own lock (store calls happen under c->mu).
 * Nothing takes u->mu while holding a c->mu.
 */
#ifndef SMOL_UI_INT_H
#define SMOL_UI_INT_H

#include "buf.h"
#include "sse.h"
#include "store.h"
#include "ui.h"
#include "worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* ---- embedded assets (build/.../assets.c) ---- */

struct ui_asset {
    const char *path;          /* "/assets/app.js" */
    const char *type;          /* Content-Type */
    const unsigned char *data;
    size_t len;
};
extern const struct ui_asset ui_assets[];
extern const size_t ui_n_assets;

/* ---- limits ---- */

#define UI_MAX_SUBS 8                /* event streams per chat (tabs) */
#define UI_MAX_CHATS 32              /* live chats kept in memory */
#define UI_LOG_MAX_EVENTS 2048       /* events kept per chat for resumes */
#define UI_LOG_MAX_BYTES (2u << 20)  /* and their bytes */
#define UI_MAX_TEXT (256u << 10)     /* bytes of one user message */
#define UI_FLUSH_TOKENS 10           /* flush the streamed text every 10 pieces */
#define UI_FLUSH_MS 500              /* or when the oldest unshown piece is this old */
#define UI_CHECKPOINT_MS 1000        /* store a streaming answer this often */
#define UI_RESET_MARK "/reset"       /* a system message with this content: context starts after it */

/* ---- live chats ---- */

struct ui_event {
    uint64_t n;                      /* its number; the id is "EPOCH-n" */
    char *data;                      /* HTML (out-of-band swaps), owned */
    size_t len;
};

/* One channel (answer or reasoning) of a streamed message. */
struct ui_text {
    struct buf md;                   /* the markdown so far */
    size_t sent;                     /* bytes of md the page has */
    size_t done;                     /* bytes of md rendered as settled blocks */
    struct buf blocks;               /* the HTML of md[0..done), as sent */
};

enum ui_gen_kind { UI_GEN_MODEL, UI_GEN_QUOTE };

struct ui_gen {
    struct ui_chat *c;               /* a reference */
    enum ui_gen_kind kind;
    int64_t msg_id;                  /* the assistant message being written */
    struct ui_text content, reasoning;
    struct worker_job *job;          /* model: our reference until it is done */
    atomic_bool cancel;              /* quote: the stop button */
    int pending;                     /* pieces not yet shown */
    int n_pieces;
    double t_start, t_first, t_pending, t_ckpt; /* monotonic ms */
    char note[160];                  /* "2 older messages were left out ..." */
};

struct ui_chat {
    struct ui *u;
    int64_t id;                      /* the store's session id */
    int refs;                        /* under u->mu; 0: cached, may be evicted */
    struct ui_chat *next;            /* under u->mu */
    pthread_mutex_t mu;
    uint64_t next_event;             /* number of the next event, from 1 */
    struct ui_event *log;            /* [n_log] recent events, oldest first */
    size_t n_log, cap_log, log_bytes;
    struct sse_stream *subs[UI_MAX_SUBS];
    int n_subs;
    struct ui_gen *gen;              /* the generation running, or NULL */
};

struct ui {
    struct ui_opts o;                /* strings owned */
    struct smol_model *m;
    struct worker *w;
    struct store *st;
    int n_ctx;
    struct smol_model_info info;
    char epoch[12];                  /* this process's event-id prefix */
    char cookie[65];                 /* the session cookie's value, "" without a key */
    double t_start;
    pthread_mutex_t mu;
    pthread_cond_t cv;               /* the ticker's sleep; quotes ending */
    struct ui_chat *chats;
    int n_chats;
    int n_quotes;
    bool stopping;
    bool ticker_on;
    pthread_t ticker;
    atomic_int n_streams;
};

double ui_now_ms(void);

/* Returns a reference to the live chat for session id (made on first
 * use), or NULL on ENOMEM or while stopping. */
struct ui_chat *ui_chat_get(struct ui *u, int64_t id);
void ui_chat_put(struct ui_chat *c); /* accepts NULL */

/* c->mu held: numbers html as the next event, keeps it for resumes and
 * writes it to every subscriber. 0 or SMOL_ENOMEM. */
int ui_chat_emit(struct ui_chat *c, const char *html, size_t len);
/* c->mu held: the id of the last event ("EPOCH-0" before any). */
void ui_chat_last_id(const struct ui_chat *c, char *out, size_t cap);

/* Subscribes a new event stream to c: replays what followed last_id
 * when it is one of ours and still kept, else starts with a snapshot of
 * every message. *out receives a reference. SMOL_EFULL when c has
 * UI_MAX_SUBS streams, SMOL_ECANCELED while stopping. */
int ui_chat_subscribe(struct ui_chat *c, const char *last_id, struct sse_stream **out,
                      struct smol_err *err);
void ui_chat_unsubscribe(struct ui_chat *c, struct sse_stream *st);

enum ui_gen_mode { UI_GEN_NEW, UI_GEN_CONTINUE };

/* c->mu held: starts an answer to the chat as stored: renders and
 * tokenizes it (dropping the oldest turns that do not fit), appends the
 * assistant message (or reopens the last one to continue it), shows it
 * and queues the job. client is the fairness key. SMOL_EFULL when an
 * answer is already being written or the queue is full. */
int ui_gen_start(struct ui_chat *c, enum ui_gen_mode mode, enum ui_gen_kind kind,
                 const char *client, struct smol_err *err);
/* c->mu held: stops the running answer, if any (it is kept, partial). */
void ui_gen_stop(struct ui_chat *c);

/* The ticker thread: flushes text that waited UI_FLUSH_MS. */
int ui_live_start(struct ui *u, struct smol_err *err);
/* Cancels quotes and waits for them, ends every stream, joins the ticker,
 * frees the live chats (none may be referenced any more). */
void ui_live_stop(struct ui *u);
void ui_live_free(struct ui *u);

/* ---- fragments (ui_render.c); each appends to b, 0 or SMOL_ENOMEM ---- */

/* One message. g: the live generation when it writes this message.
 * oob: marked to replace the element of the same id. */
int ui_render_message(struct buf *b, int64_t chat, const struct store_message *m,
                      const struct ui_gen *g, bool oob);
int ui_render_messages(struct buf *b, int64_t chat, const struct store_message *v, size_t n,
                       const struct ui_gen *g);
/* The chat's whole view: header, messages, the composer, and the event
 * stream to connect to from since (an event id). */
int ui_render_chat(struct buf *b, const struct ui *u, const struct store_session *s,
                   const struct store_message *v, size_t n, const struct ui_gen *g,
                   const char *since);
/* The sidebar's list; oob: replaces the list in place. */
int ui_render_chat_list(struct buf *b, const struct store_session *v, size_t n, int64_t active,
                        bool oob);
/* A notice in the chat (not stored): kind "info" or "error", a title
 * and a body given as HTML (escape what comes from outside). */
int ui_render_notice(struct buf *b, const char *kind, const char *title, const char *body_html);
/* A chat as a markdown document, for /export md. */
int ui_render_export_md(struct buf *b, const struct store_session *s,
                        const struct store_message *v, size_t n);

#endif
