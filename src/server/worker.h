/*
 * worker.h: the engine's thread. HTTP threads never run the model: they
 * turn a request into prompt tokens and a struct worker_job_desc, submit
 * it here, and read what the job's callbacks write (an sse_stream).
 *
 * One worker thread runs one generation at a time. Jobs wait in a queue
 * that is fair across clients: the next job is the oldest one of the
 * client served least recently, so a client with ten queued requests
 * cannot starve one with a single request.
 *
 * The worker owns the sequences (struct smol_seq, each with its KV
 * cache): up to n_slots of them, allocated on first use. A job goes to
 * the slot holding its conversation key if it has one, else to the slot
 * whose cached tokens share the longest prefix with its prompt when that
 * covers at least half of what the slot holds (the same conversation),
 * else to a fresh slot, else to the slot sharing the longest prefix
 * (least recently used on ties). smol_seq_sync then evaluates only the
 * tokens past the common prefix: that count of reused tokens is the
 * job's n_cached.
 *
 * Cancellation: worker_job_cancel sets an atomic flag that the
 * generation checks at every token (and between prompt chunks of
 * WORKER_PROMPT_CHUNK tokens), so a cancelled job stops within one token.
 *
 * Callbacks run on the worker thread, in order: on_event for each piece
 * of output (channel: enum smol_channel; raw jobs only SMOL_CH_CONTENT),
 * then on_done exactly once, also for a job cancelled before it started
 * or failed. After on_done the worker calls nothing more for the job.
 */
#ifndef SMOL_WORKER_H
#define SMOL_WORKER_H

#include "base.h"
#include "buf.h"
#include "smol.h"

#define WORKER_PROMPT_CHUNK 256   /* prompt tokens evaluated between cancel checks */
#define WORKER_MAX_SLOTS 64

struct worker;
struct worker_job;

struct worker_opts {
    int n_ctx;           /* context of each sequence (tokens) */
    int n_slots;         /* sequences kept for KV reuse, 1..WORKER_MAX_SLOTS */
    int max_queue;       /* jobs queued or running at once; more: SMOL_EFULL */
    int max_per_client;  /* jobs of one client queued or running; more: SMOL_EFULL */
};

/* Why a generation ended (the OpenAI finish_reason follows from it). */
enum worker_finish {
    WORKER_FINISH_EOG = 0,     /* the model ended its turn */
    WORKER_FINISH_STOP,        /* a stop string matched */
    WORKER_FINISH_LENGTH,      /* max_tokens */
    WORKER_FINISH_CONTEXT,     /* the context is full */
    WORKER_FINISH_CANCELLED,   /* worker_job_cancel, or on_event asked to stop */
    WORKER_FINISH_ERROR,       /* see status and message */
};

struct worker_result {
    int status;                /* 0, or a negative SMOL_E* code */
    char message[SMOL_ERR_MSG_MAX];
    enum worker_finish finish;
    int stop_index;            /* the stop string that matched, or -1 */
    int n_prompt;              /* prompt tokens */
    int n_cached;              /* of them, reused from the slot's KV cache */
    int n_gen;                 /* tokens generated */
    double queue_ms;           /* waiting in the queue */
    double prompt_ms;          /* evaluating the n_prompt - n_cached new tokens */
    double gen_ms;             /* from the end of the prompt to the last token */
    bool ended_in_reasoning;   /* the turn ended inside <think> */
};

struct worker_job_ops {
    /* Output text on a channel; return nonzero to stop the generation
     * (the job then finishes as WORKER_FINISH_CANCELLED). */
    int (*on_event)(void *user, int channel, const char *text, size_t len);
    void (*on_done)(void *user, const struct worker_result *r);
    void (*release)(void *user); /* the job is freed: free user (may be NULL) */
};

struct worker_job_desc {
    const int32_t *tokens;     /* the whole prompt: copied */
    int n_tokens;              /* 1..n_ctx - 1 */
    struct smol_gen_params gen;
    const char *const *stop;   /* n_stop stop strings: copied */
    int n_stop;                /* 0..SMOL_CHAT_MAX_STOP */
    bool raw;                  /* plain text: no thinking / tool-call split */
    bool thinking;             /* the prompt was rendered in think mode */
    const char *client;        /* fairness key (e.g. the remote address): copied */
    const char *conv_key;      /* optional conversation key for the slot: copied */
};

struct worker_stats {
    int queued;                /* jobs waiting */
    int running;               /* 0 or 1 */
    uint64_t jobs_done;
    uint64_t jobs_cancelled;
    uint64_t jobs_failed;
    uint64_t prompt_tokens;    /* total prompt tokens of finished jobs */
    uint64_t cached_tokens;    /* of them, reused from KV caches */
    uint64_t gen_tokens;       /* total generated tokens */
    double prompt_ms, gen_ms;  /* totals */
    double last_gen_tps;       /* generation speed of the last job (tokens/s) */
    double last_cancel_ms;     /* last cancelled job: from cancel to stop */
    int last_cancel_tokens;    /* last cancelled job: tokens made after the cancel */
    int n_slots_used;
};

/* Starts the worker thread on m (borrowed: it must outlive the worker).
 * NULL with err on bad options or failure to start. */
struct worker *worker_new(struct smol_model *m, const struct worker_opts *o,
                          struct smol_err *err);
/* Cancels every job, joins the thread, frees the sequences. Accepts NULL. */
void worker_free(struct worker *w);

/* Queues a job. Returns a reference the caller must drop with
 * worker_job_unref (cancel first if it no longer wants the output), or
 * NULL with err: SMOL_EFULL when the queue or the client's share of it
 * is full, SMOL_ECANCELED while draining or once the model's file
 * changed on disk (model_guard.h; a job it catches running fails with
 * it too), SMOL_EINVAL on a bad
 * description, SMOL_ENOMEM. On NULL no callback runs and ops->release
 * is not called: user stays the caller's. */
struct worker_job *worker_submit(struct worker *w, const struct worker_job_desc *d,
                                 const struct worker_job_ops *ops, void *user,
                                 struct smol_err *err);
void worker_job_cancel(struct worker_job *j);
void worker_job_unref(struct worker_job *j);

/* Stops taking jobs (worker_submit fails with SMOL_ECANCELED), waits up
 * to timeout_ms for the queued and running ones to end, then cancels
 * what is left and waits for that. Returns the number cancelled. */
int worker_drain(struct worker *w, int timeout_ms);

void worker_get_stats(struct worker *w, struct worker_stats *out);
/* Appends the worker's Prometheus metrics (smolbot_* families). */
int worker_metrics(struct worker *w, struct buf *out);

#endif
