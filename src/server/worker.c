/*
 * worker.c: the engine's thread: a fair job queue, the sequences kept
 * for KV reuse, generation with per-token cancellation. See worker.h.
 *
 * Locking: w->mu guards the queue, the client table, the running job
 * pointer and the statistics. The slots (sequences) are touched only by
 * the worker thread, so generation runs without the lock. Job callbacks
 * are called without the lock too: they may block on a slow client
 * (sse_stream backpressure) and must not stall submitters.
 */
#include "worker.h"
#include "mem.h"
#include "model_guard.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define WORKER_MAX_CLIENTS 256  /* fairness table; the least recent is forgotten */

struct worker_job {
    atomic_int refs;
    atomic_bool cancel;
    atomic_llong cancel_us;      /* when cancel was asked (monotonic), 0: never */
    struct worker_job *next;     /* queue link */
    uint64_t order;              /* submit order: FIFO within a client */
    int32_t *tokens;
    int n_tokens;
    struct smol_gen_params gen;
    char *stop[SMOL_CHAT_MAX_STOP];
    int n_stop;
    bool raw, thinking;
    char *client, *conv_key;
    struct worker_job_ops ops;
    void *user;
    double t_submit;
    /* worker-thread state while it runs */
    struct smol_chat_stream *cs; /* chat jobs: the thinking / tool-call split */
    struct buf held;             /* raw jobs: text that may begin a stop string */
    int raw_stop;                /* raw jobs: the stop string that matched, or -1 */
    bool event_halt;             /* on_event asked to stop */
    bool saw_cancel;
    uint64_t faults0;            /* model_guard_faults() when it started */
};

struct worker_slot {
    struct smol_seq *seq;        /* NULL until first used */
    char *key;                   /* conversation key of its last job, or NULL */
    uint64_t last_used;
};

struct worker_client {
    char *key;
    uint64_t last_turn;          /* 0: never served */
};

struct worker {
    struct smol_model *m;
    struct worker_opts o;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* a job arrived, or stop */
    pthread_cond_t idle_cv;      /* a job ended (drain waits on it) */
    struct worker_job *head;     /* queue, in submit order */
    int n_queued;
    struct worker_job *running;
    bool stopping, draining;
    uint64_t next_order, turn, use_clock;
    struct worker_client clients[WORKER_MAX_CLIENTS];
    struct worker_slot slots[WORKER_MAX_SLOTS];
    struct worker_stats st;
};

static double worker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- jobs ---- */

static void job_free(struct worker_job *j)
{
    if (j->ops.release)
        j->ops.release(j->user);
    for (int i = 0; i < j->n_stop; i++)
        free(j->stop[i]);
    smol_chat_stream_free(j->cs);
    buf_release(&j->held);
    free(j->tokens);
    free(j->client);
    free(j->conv_key);
    free(j);
}

void worker_job_unref(struct worker_job *j)
{
    if (j && atomic_fetch_sub(&j->refs, 1) == 1)
        job_free(j);
}

void worker_job_cancel(struct worker_job *j)
{
    if (!j)
        return;
    long long zero = 0;
    atomic_compare_exchange_strong(&j->cancel_us, &zero, (long long)(worker_now_ms() * 1e3));
    atomic_store(&j->cancel, true);
}

/* Builds a job from d, copying everything it points to. */
static struct worker_job *job_new(const struct worker *w, const struct worker_job_desc *d,
                                  const struct worker_job_ops *ops, void *user,
                                  struct smol_err *err)
{
    if (!d || !ops || !ops->on_done || !d->tokens || d->n_tokens <= 0 ||
        d->n_tokens > w->o.n_ctx || d->n_stop < 0 || d->n_stop > SMOL_CHAT_MAX_STOP) {
        err_set(err, SMOL_EINVAL, "worker: invalid job (%d prompt tokens, %d stop strings)",
                d ? d->n_tokens : 0, d ? d->n_stop : 0);
        return NULL;
    }
    struct worker_job *j = calloc(1, sizeof(*j));
    if (!j) {
        err_set(err, SMOL_ENOMEM, "worker: out of memory");
        return NULL;
    }
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancel, false);
    atomic_init(&j->cancel_us, 0);
    buf_init(&j->held);
    j->raw_stop = -1;
    j->gen = d->gen;
    j->raw = d->raw;
    j->thinking = d->thinking;
    j->n_tokens = d->n_tokens;
    j->tokens = mem_alloc_array((uint64_t)d->n_tokens, sizeof(int32_t));
    j->client = strdup(d->client ? d->client : "");
    j->conv_key = d->conv_key ? strdup(d->conv_key) : NULL;
    bool ok = j->tokens && j->client && (!d->conv_key || j->conv_key);
    for (int i = 0; ok && i < d->n_stop; i++) {
        size_t len = d->stop[i] ? strlen(d->stop[i]) : 0;
        if (len == 0 || len > SMOL_CHAT_STOP_MAX_BYTES) {
            err_set(err, SMOL_EINVAL, "worker: stop string %d is empty or longer than %d bytes",
                    i, SMOL_CHAT_STOP_MAX_BYTES);
            job_free(j);
            return NULL;
        }
        ok = (j->stop[i] = strdup(d->stop[i])) != NULL;
        j->n_stop += ok;
    }
    if (!ok) {
        err_set(err, SMOL_ENOMEM, "worker: out of memory");
        job_free(j);
        return NULL;
    }
    memcpy(j->tokens, d->tokens, (size_t)d->n_tokens * sizeof(int32_t));
    if (!d->raw) {
        /* made now, so bad stop strings fail the submit, not the run */
        struct smol_chat_stream_opts so = {.thinking = d->thinking,
                                           .stop = (const char *const *)j->stop,
                                           .n_stop = j->n_stop};
        j->cs = smol_chat_stream_new(&so, err);
        if (!j->cs) {
            job_free(j);
            return NULL;
        }
    }
    j->ops = *ops;
    j->user = user;
    return j;
}

/* ---- the fair queue (w->mu held) ---- */

static struct worker_client *worker_client_find(struct worker *w, const char *key, bool add)
{
    struct worker_client *oldest = &w->clients[0];
    for (int i = 0; i < WORKER_MAX_CLIENTS; i++) {
        struct worker_client *c = &w->clients[i];
        if (c->key && !strcmp(c->key, key))
            return c;
        if (!c->key || (oldest->key && c->last_turn < oldest->last_turn))
            oldest = c;
    }
    if (!add)
        return NULL;
    char *k = strdup(key);
    if (!k)
        return NULL; /* the client just counts as never served */
    free(oldest->key);
    oldest->key = k;
    oldest->last_turn = 0;
    return oldest;
}

/* Removes and returns the oldest job of the least recently served client. */
static struct worker_job *worker_pick_job(struct worker *w)
{
    struct worker_job **best = NULL;
    uint64_t best_turn = UINT64_MAX;
    for (struct worker_job **p = &w->head; *p; p = &(*p)->next) {
        const struct worker_client *c = worker_client_find(w, (*p)->client, false);
        uint64_t turn = c ? c->last_turn : 0;
        /* the queue is in submit order, so '<' keeps the oldest on ties */
        if (turn < best_turn) {
            best_turn = turn;
            best = p;
        }
    }
    if (!best)
        return NULL;
    struct worker_job *j = *best;
    *best = j->next;
    j->next = NULL;
    w->n_queued--;
    struct worker_client *c = worker_client_find(w, j->client, true);
    if (c)
        c->last_turn = ++w->turn;
    return j;
}

struct worker_job *worker_submit(struct worker *w, const struct worker_job_desc *d,
                                 const struct worker_job_ops *ops, void *user,
                                 struct smol_err *err)
{
    /* a model file changed on disk: nothing more runs on it (503) */
    if (model_guard_check(err) < 0)
        return NULL;
    struct worker_job *j = job_new(w, d, ops, user, err);
    if (!j)
        return NULL;
    pthread_mutex_lock(&w->mu);
    int total = w->n_queued + (w->running != NULL), mine = 0;
    for (struct worker_job *q = w->head; q; q = q->next)
        mine += !strcmp(q->client, j->client);
    mine += w->running && !strcmp(w->running->client, j->client);
    int rc = 0;
    if (w->draining || w->stopping)
        rc = err_set(err, SMOL_ECANCELED, "the server is shutting down");
    else if (total >= w->o.max_queue)
        rc = err_set(err, SMOL_EFULL, "the server is busy: %d generations are queued or "
                     "running (the limit is %d); retry later", total, w->o.max_queue);
    else if (mine >= w->o.max_per_client)
        rc = err_set(err, SMOL_EFULL, "too many concurrent generations from this client "
                     "(the limit is %d); retry later", w->o.max_per_client);
    if (rc) {
        pthread_mutex_unlock(&w->mu);
        j->ops.release = NULL; /* user stays the caller's */
        job_free(j);
        return NULL;
    }
    j->order = w->next_order++;
    j->t_submit = worker_now_ms();
    atomic_fetch_add(&j->refs, 1); /* the queue's reference */
    struct worker_job **tail = &w->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    w->n_queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return j;
}

/* ---- slots ---- */

static int worker_common_prefix(const struct smol_seq *s, const int32_t *t, int n)
{
    const int32_t *c = smol_seq_tokens(s);
    int len = MIN(smol_seq_len(s), n), i = 0;
    while (i < len && c[i] == t[i])
        i++;
    return i;
}

/* The slot for j: its conversation's (the key), else one whose cache the
 * prompt continues (the prompt shares at least half of what the slot
 * holds: a next turn, an edit, a regeneration of a short answer), else a
 * fresh one, else the one sharing the longest prefix (a common system
 * prompt still saves its evaluation), least recently used on ties.
 * Worker thread only. */
static struct worker_slot *worker_pick_slot(struct worker *w, const struct worker_job *j)
{
    struct worker_slot *cont = NULL, *fresh = NULL, *evict = NULL;
    int cont_lcp = 0, evict_lcp = -1;
    for (int i = 0; i < w->o.n_slots; i++) {
        struct worker_slot *s = &w->slots[i];
        if (!s->seq) {
            if (!fresh)
                fresh = s;
            continue;
        }
        if (j->conv_key && s->key && !strcmp(s->key, j->conv_key))
            return s;
        int lcp = worker_common_prefix(s->seq, j->tokens, j->n_tokens);
        if (lcp > cont_lcp && 2 * lcp >= smol_seq_len(s->seq)) {
            cont_lcp = lcp;
            cont = s;
        }
        if (lcp > evict_lcp || (lcp == evict_lcp && s->last_used < evict->last_used)) {
            evict_lcp = lcp;
            evict = s;
        }
    }
    return cont ? cont : fresh ? fresh : evict;
}

/* ---- generation ---- */

static int job_emit(struct worker_job *j, int channel, const char *text, size_t len)
{
    if (len == 0 && channel == SMOL_CH_CONTENT)
        return 0;
    if (j->ops.on_event && j->ops.on_event(j->user, channel, text, len)) {
        j->event_halt = true;
        return 1;
    }
    return 0;
}

static int job_chat_event(void *user, int channel, const char *text, size_t len)
{
    return job_emit(user, channel, text, len);
}

/* Raw jobs: emits what can no longer be part of a stop string. Returns
 * 1 to halt (a stop matched or on_event said stop), or SMOL_ENOMEM. */
static int job_raw_feed(struct worker_job *j, const char *text, size_t len, bool final)
{
    if (buf_append(&j->held, text, len))
        return SMOL_ENOMEM;
    const char *h = j->held.data ? j->held.data : "";
    size_t n = j->held.len;
    /* the match starting first wins, then the shorter one */
    size_t cut = n;
    for (int i = 0; i < j->n_stop; i++) {
        const char *p = memmem(h, n, j->stop[i], strlen(j->stop[i]));
        if (p && (size_t)(p - h) < cut) {
            cut = (size_t)(p - h);
            j->raw_stop = i;
        }
    }
    if (j->raw_stop >= 0) {
        job_emit(j, SMOL_CH_CONTENT, h, cut);
        return 1;
    }
    size_t keep = 0; /* the longest tail that begins some stop string */
    for (int i = 0; i < j->n_stop && !final; i++) {
        size_t sl = strlen(j->stop[i]);
        for (size_t k = MIN(sl - 1, n); k > keep; k--)
            if (!memcmp(h + n - k, j->stop[i], k)) {
                keep = k;
                break;
            }
    }
    int rc = job_emit(j, SMOL_CH_CONTENT, h, n - keep);
    if (keep)
        memmove(j->held.data, h + n - keep, keep);
    j->held.len = keep;
    return rc;
}

static int job_on_piece(void *user, int32_t token, const char *text, size_t len)
{
    struct worker_job *j = user;
    (void)token;
    if (atomic_load(&j->cancel)) {
        j->saw_cancel = true;
        return 1; /* this token is dropped: nothing after the cancel goes out */
    }
    if (model_guard_faults() != j->faults0)
        return 1; /* made from weights zeroed after a truncation: dropped */
    int rc = j->raw ? job_raw_feed(j, text, len, false)
                    : smol_chat_stream_feed(j->cs, text, len, job_chat_event, j);
    return rc != 0;
}

/* Evaluates the prompt into the slot in chunks, checking for a cancel
 * between them. Returns 0, 1 if cancelled, or a negative status. */
static int worker_prefill(struct worker_job *j, struct smol_seq *seq, int *n_cached,
                          struct smol_err *err)
{
    int lcp = worker_common_prefix(seq, j->tokens, j->n_tokens);
    int upto = MIN(j->n_tokens, lcp + WORKER_PROMPT_CHUNK);
    int reused = 0;
    bool first = true;
    for (;;) {
        int r = 0;
        int rc = smol_seq_sync(seq, j->tokens, upto, first ? &r : NULL, err);
        if (rc < 0)
            return rc;
        if (first)
            reused = r;
        first = false;
        if (upto == j->n_tokens)
            break;
        if (atomic_load(&j->cancel))
            return 1;
        upto = MIN(j->n_tokens, upto + WORKER_PROMPT_CHUNK);
    }
    *n_cached = reused;
    return 0;
}

static enum worker_finish worker_finish_of(const struct worker_job *j, int stop)
{
    if (j->saw_cancel || j->event_halt || atomic_load(&j->cancel))
        return WORKER_FINISH_CANCELLED;
    if (j->raw ? j->raw_stop >= 0 : smol_chat_stream_stop_index(j->cs) >= 0)
        return WORKER_FINISH_STOP;
    switch (stop) {
    case SMOL_STOP_MAX_TOKENS: return WORKER_FINISH_LENGTH;
    case SMOL_STOP_CONTEXT: return WORKER_FINISH_CONTEXT;
    default: return WORKER_FINISH_EOG;
    }
}

/* Runs one job to its end and calls on_done. Worker thread, no lock. */
static void worker_run(struct worker *w, struct worker_job *j)
{
    struct worker_result r = {.stop_index = -1, .n_prompt = j->n_tokens};
    struct smol_err err = {0};
    const double t0 = worker_now_ms();
    r.queue_ms = t0 - j->t_submit;
    int rc = 0;
    j->faults0 = model_guard_faults();
    if (atomic_load(&j->cancel)) {
        r.finish = WORKER_FINISH_CANCELLED;
        goto done;
    }
    if ((rc = model_guard_check(&err)) < 0)
        goto done; /* changed while the job waited */
    struct worker_slot *slot = worker_pick_slot(w, j);
    if (!slot->seq && !(slot->seq = smol_seq_new(w->m, w->o.n_ctx, &err))) {
        rc = err.code ? err.code : SMOL_ENOMEM;
        goto done;
    }
    slot->last_used = ++w->use_clock;
    free(slot->key);
    slot->key = j->conv_key ? strdup(j->conv_key) : NULL;

    rc = worker_prefill(j, slot->seq, &r.n_cached, &err);
    const double t1 = worker_now_ms();
    r.prompt_ms = t1 - t0;
    if (rc == 1) {
        j->saw_cancel = true;
        rc = 0;
    }
    if (rc < 0 || j->saw_cancel) {
        r.finish = rc < 0 ? WORKER_FINISH_ERROR : WORKER_FINISH_CANCELLED;
        goto done;
    }
    struct smol_gen_stats gs = {0};
    rc = smol_generate(slot->seq, NULL, 0, &j->gen, job_on_piece, j, &gs, &err);
    r.gen_ms = worker_now_ms() - t1;
    r.n_gen = rc >= 0 ? rc : 0;
    if (rc >= 0) {
        rc = 0;
        /* what the stream held back (a partial tag or stop string) is
         * text now, unless the turn was halted */
        if (j->raw && j->raw_stop < 0 && !j->saw_cancel && !j->event_halt)
            rc = job_raw_feed(j, "", 0, true) < 0 ? SMOL_ENOMEM : 0;
        else if (!j->raw && !j->saw_cancel)
            rc = smol_chat_stream_finish(j->cs, job_chat_event, j);
        if (rc)
            err_set(&err, rc, "out of memory splitting the answer");
    }
    /* weights read as zeros after a truncation: the output is garbage */
    if (rc >= 0 && model_guard_faults() != j->faults0)
        rc = model_guard_check(&err);
    r.finish = rc < 0 ? WORKER_FINISH_ERROR : worker_finish_of(j, gs.stop);
    if (r.finish == WORKER_FINISH_STOP)
        r.stop_index = j->raw ? j->raw_stop : smol_chat_stream_stop_index(j->cs);
    if (!j->raw)
        r.ended_in_reasoning = smol_chat_stream_ended_in_reasoning(j->cs);
done:
    if (rc < 0) {
        r.finish = WORKER_FINISH_ERROR;
        r.status = rc;
        snprintf(r.message, sizeof(r.message), "%s", err.code ? err.msg : err_str(rc));
    }
    double cancel_ms = -1;
    if (r.finish == WORKER_FINISH_CANCELLED && atomic_load(&j->cancel_us))
        cancel_ms = worker_now_ms() - atomic_load(&j->cancel_us) / 1e3;
    pthread_mutex_lock(&w->mu);
    struct worker_stats *st = &w->st;
    if (r.finish == WORKER_FINISH_CANCELLED) {
        st->jobs_cancelled++;
        if (cancel_ms >= 0) {
            st->last_cancel_ms = cancel_ms;
            st->last_cancel_tokens = j->saw_cancel ? 1 : 0;
        }
    } else if (r.finish == WORKER_FINISH_ERROR) {
        st->jobs_failed++;
    } else {
        st->jobs_done++;
    }
    st->prompt_tokens += (uint64_t)r.n_prompt;
    st->cached_tokens += (uint64_t)r.n_cached;
    st->gen_tokens += (uint64_t)r.n_gen;
    st->prompt_ms += r.prompt_ms;
    st->gen_ms += r.gen_ms;
    if (r.n_gen > 0 && r.gen_ms > 0)
        st->last_gen_tps = r.n_gen * 1000.0 / r.gen_ms;
    pthread_mutex_unlock(&w->mu);
    if (r.finish == WORKER_FINISH_CANCELLED && cancel_ms >= 0)
        fprintf(stderr, "smolbot: generation cancelled after %d tokens, %.1f ms after the "
                "cancel (%d token%s made after it)\n", r.n_gen, cancel_ms,
                j->saw_cancel ? 1 : 0, j->saw_cancel ? "" : "s");
    else if (r.finish == WORKER_FINISH_CANCELLED && j->event_halt)
        /* the client left and its stream refused a piece before the
         * cancel came: the generation stopped at that very token */
        fprintf(stderr, "smolbot: generation cancelled after %d tokens: its output was "
                "refused (the client is gone)\n", r.n_gen);
    j->ops.on_done(j->user, &r);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        struct worker_job *j = worker_pick_job(w);
        if (!j)
            break; /* stopping with an empty queue */
        if (w->stopping)
            worker_job_cancel(j);
        w->running = j;
        pthread_mutex_unlock(&w->mu);
        worker_run(w, j);
        pthread_mutex_lock(&w->mu);
        w->running = NULL;
        pthread_cond_broadcast(&w->idle_cv);
        pthread_mutex_unlock(&w->mu);
        worker_job_unref(j); /* the queue's reference; callbacks may run */
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- lifecycle ---- */

struct worker *worker_new(struct smol_model *m, const struct worker_opts *o,
                          struct smol_err *err)
{
    if (!m || !o || o->n_ctx < 2 || o->n_slots < 1 || o->n_slots > WORKER_MAX_SLOTS ||
        o->max_queue < 1 || o->max_per_client < 1) {
        err_set(err, SMOL_EINVAL, "worker: invalid options (context %d, %d slots, queue %d, "
                "%d per client)", o ? o->n_ctx : 0, o ? o->n_slots : 0,
                o ? o->max_queue : 0, o ? o->max_per_client : 0);
        return NULL;
    }
    struct worker *w = calloc(1, sizeof(*w));
    if (!w) {
        err_set(err, SMOL_ENOMEM, "worker: out of memory");
        return NULL;
    }
    w->m = m;
    w->o = *o;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->idle_cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w)) {
        err_set(err, SMOL_ENOMEM, "worker: cannot start the engine thread");
        worker_free(w);
        return NULL;
    }
    w->started = true;
    return w;
}

/* Cancels every job (w->mu held). Returns how many. */
static int worker_cancel_all(struct worker *w)
{
    int n = 0;
    for (struct worker_job *q = w->head; q; q = q->next, n++)
        worker_job_cancel(q);
    if (w->running) {
        worker_job_cancel(w->running);
        n++;
    }
    return n;
}

int worker_drain(struct worker *w, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    w->draining = true;
    while ((w->head || w->running) &&
           pthread_cond_timedwait(&w->idle_cv, &w->mu, &dl) == 0) {
    }
    int n = worker_cancel_all(w);
    /* cancelled jobs end within a token; queued ones end at once */
    while (w->head || w->running)
        pthread_cond_wait(&w->idle_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return n;
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        worker_cancel_all(w);
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    for (int i = 0; i < WORKER_MAX_SLOTS; i++) {
        smol_seq_free(w->slots[i].seq);
        free(w->slots[i].key);
    }
    for (int i = 0; i < WORKER_MAX_CLIENTS; i++)
        free(w->clients[i].key);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->idle_cv);
    free(w);
}

void worker_get_stats(struct worker *w, struct worker_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    out->queued = w->n_queued;
    out->running = w->running != NULL;
    pthread_mutex_unlock(&w->mu);
    int used = 0;
    for (int i = 0; i < w->o.n_slots; i++)
        used += w->slots[i].seq != NULL; /* a racy read of a pointer: a gauge */
    out->n_slots_used = used;
}

int worker_metrics(struct worker *w, struct buf *b)
{
    struct worker_stats s;
    worker_get_stats(w, &s);
    int rc = 0;
#define GAUGE(name, help, fmt, v) \
    rc |= buf_appendf(b, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " " fmt "\n", v)
#define COUNTER(name, help, fmt, v) \
    rc |= buf_appendf(b, "# HELP " name " " help "\n# TYPE " name " counter\n" name " " fmt "\n", v)
    GAUGE("smolbot_queue_length", "Generations waiting for the engine.", "%d", s.queued);
    GAUGE("smolbot_generations_running", "Generations running now (0 or 1).", "%d", s.running);
    rc |= buf_appendf(b, "# HELP smolbot_generations_total Generations ended, by result.\n"
                      "# TYPE smolbot_generations_total counter\n"
                      "smolbot_generations_total{result=\"done\"} %" PRIu64 "\n"
                      "smolbot_generations_total{result=\"cancelled\"} %" PRIu64 "\n"
                      "smolbot_generations_total{result=\"failed\"} %" PRIu64 "\n",
                      s.jobs_done, s.jobs_cancelled, s.jobs_failed);
    COUNTER("smolbot_prompt_tokens_total", "Prompt tokens of ended generations.", "%" PRIu64,
            s.prompt_tokens);
    COUNTER("smolbot_prompt_tokens_cached_total", "Prompt tokens reused from a KV cache.",
            "%" PRIu64, s.cached_tokens);
    COUNTER("smolbot_generated_tokens_total", "Tokens generated.", "%" PRIu64, s.gen_tokens);
    COUNTER("smolbot_prompt_seconds_total", "Time spent evaluating prompts.", "%.6f",
            s.prompt_ms / 1e3);
    COUNTER("smolbot_generation_seconds_total", "Time spent generating.", "%.6f",
            s.gen_ms / 1e3);
    GAUGE("smolbot_prompt_tokens_per_second", "Prompt evaluation speed over all generations.",
          "%.3f", s.prompt_ms > 0 ? (s.prompt_tokens - s.cached_tokens) * 1e3 / s.prompt_ms : 0.0);
    GAUGE("smolbot_generation_tokens_per_second", "Generation speed of the last generation.",
          "%.3f", s.last_gen_tps);
    GAUGE("smolbot_last_cancel_seconds", "Last cancelled generation: from the cancel to its end.",
          "%.6f", s.last_cancel_ms / 1e3);
    GAUGE("smolbot_last_cancel_tokens_after", "Last cancelled generation: tokens made after "
          "the cancel (at most 1).", "%d", s.last_cancel_tokens);
    GAUGE("smolbot_kv_slots_used", "Sequences holding a KV cache.", "%d", s.n_slots_used);
#undef GAUGE
#undef COUNTER
    return rc ? SMOL_ENOMEM : 0;
}
