/*
 * smol.h: the smolbot engine, the only engine header clients include.
 *
 * The engine turns a GGUF file and text into tokens and answers. It
 * knows nothing of HTTP, terminals or databases.
 *
 *   struct smol_model  the weights (a read-only memory map), the
 *                      hyperparameters and the tokenizer. Immutable after
 *                      smol_model_open; may be shared by threads.
 *   struct smol_seq    one conversation: its tokens, KV cache and scratch.
 *                      Used by one thread at a time.
 *
 * Errors: functions returning int give 0 (or a count) on success and a
 * negative SMOL_E* status (err.h) on failure, with one sentence in the
 * caller's struct smol_err. Functions returning a pointer return NULL on
 * failure and fill err. Nothing in the engine exits or aborts on bad
 * input. Ownership: whoever calls _open/_new calls _close/_free; both
 * accept NULL. Two models in one process are fine: there are no globals.
 */
#ifndef SMOL_SMOL_H
#define SMOL_SMOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct smol_model;
struct smol_seq;

/* ---- models ---- */

struct smol_model_opts {
    int n_threads;   /* 0: one per core (reserved; the reference path is single-threaded) */
    bool vocab_only; /* load only the tokenizer (vocabulary-only GGUFs); no sequences */
};

/* Maps and validates the GGUF at path: architecture "smollm3" or "llama",
 * hyperparameters, every tensor's name, shape and type, the tokenizer. */
struct smol_model *smol_model_open(const char *path,
                                   const struct smol_model_opts *opts,
                                   struct smol_err *err);
void smol_model_close(struct smol_model *m);

struct smol_model_info {
    char arch[32];          /* "smollm3" or "llama" */
    char name[128];         /* general.name, or "" */
    int n_vocab;
    int n_ctx_train;        /* context length the model was trained for */
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    float rope_base, rms_eps;
    int nope_interval;      /* every nth layer skips RoPE (4 for smollm3), 0: none */
    bool tied_embeddings;   /* no output.weight: token_embd is reused */
    bool has_chat_template; /* tokenizer.chat_template present */
    bool is_smollm3_template; /* the template is SmolLM3's (else ChatML is used) */
    uint64_t n_params;      /* elements in all tensors */
    uint64_t file_size;     /* bytes */
    uint64_t weight_bytes;  /* bytes of tensor data */
    int n_tensors;
    char type_counts[256];  /* "F32:17 Q4_K:48 Q6_K:9" */
    int32_t bos, eos;       /* -1 when absent */
};
void smol_model_get_info(const struct smol_model *m, struct smol_model_info *out);

/* ---- tokens ---- */

enum { SMOL_TOKENIZE_SPECIAL = 1 }; /* parse <|im_start|> etc. in text */

/* Tokenizes text[0..len) into out[0..cap). Returns the number of tokens
 * the text needs (which may exceed cap: retry with a larger buffer), or
 * a negative status. */
int smol_tokenize(const struct smol_model *m, const char *text, size_t len,
                  int flags, int32_t *out, int cap);

/* Bytes of a token (a view valid while m is open), NULL if out of range. */
const char *smol_token_bytes(const struct smol_model *m, int32_t id, size_t *len);

/* True for tokens that end a generation (<|im_end|>, <|end_of_text|>, ...). */
bool smol_token_is_eog(const struct smol_model *m, int32_t id);

int smol_n_vocab(const struct smol_model *m);

/* ---- sequences ---- */

/* A conversation with room for n_ctx tokens (0: the model's trained
 * context, capped at 4096). */
struct smol_seq *smol_seq_new(struct smol_model *m, int n_ctx, struct smol_err *err);
void smol_seq_free(struct smol_seq *s);

int smol_seq_len(const struct smol_seq *s);         /* tokens in the cache */
int smol_seq_n_ctx(const struct smol_seq *s);
const int32_t *smol_seq_tokens(const struct smol_seq *s); /* [smol_seq_len] */
/* Forgets every token from position n on (0 <= n <= len). */
int smol_seq_truncate(struct smol_seq *s, int n);

enum { SMOL_EVAL_ALL_LOGITS = 1 };

/* Appends tokens[0..n) to the sequence and evaluates them as a batch.
 * logits: NULL, or n_vocab floats for the last token, or with
 * SMOL_EVAL_ALL_LOGITS n * n_vocab floats, row i for tokens[0..i].
 * Fails with SMOL_EFULL when the tokens do not fit the context and
 * SMOL_EINVAL for an id outside the vocabulary; the sequence is then
 * unchanged. */
int smol_eval(struct smol_seq *s, const int32_t *tokens, int n, float *logits,
              int flags, struct smol_err *err);

/* Logits after the last evaluated token ([n_vocab]), NULL before any. */
const float *smol_seq_logits(const struct smol_seq *s);

/* ---- sampling and generation ---- */

#define SMOL_SEED_RANDOM UINT64_MAX

struct smol_sampling {
    float temperature;    /* <= 0: greedy (argmax, lowest id on ties) */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* window of recent tokens for the penalty */
    uint64_t seed;        /* SMOL_SEED_RANDOM: from the clock */
};
/* SmolLM3's recommended defaults: temperature 0.6, top_p 0.95. */
void smol_sampling_default(struct smol_sampling *p);

struct smol_gen_params {
    struct smol_sampling sampling;
    int max_tokens;   /* <= 0: until the context is full */
    bool ignore_eos;  /* keep going past end-of-generation tokens */
};

enum smol_stop_reason {
    SMOL_STOP_NONE = 0,
    SMOL_STOP_EOG,        /* the model ended its turn */
    SMOL_STOP_MAX_TOKENS,
    SMOL_STOP_CONTEXT,    /* the context is full */
    SMOL_STOP_CALLER,     /* the piece callback asked to stop */
};

struct smol_gen_stats {
    int n_prompt;          /* tokens evaluated for the prompt */
    int n_gen;             /* tokens generated */
    double prompt_ms;      /* time to evaluate the prompt */
    double gen_ms;         /* time from the first to the last generated token */
    double ttft_ms;        /* time from the call to the first token */
    int stop;              /* enum smol_stop_reason */
};

/* Called for each generated token with the complete UTF-8 text it makes
 * available (possibly empty while a character is split across tokens;
 * an end-of-generation token is not reported). Return nonzero to stop. */
typedef int (*smol_piece_fn)(void *user, int32_t token, const char *text,
                             size_t len);

/* Evaluates prompt[0..n_prompt) (appended to what the sequence holds),
 * then samples until a stop. Returns the number of generated tokens or
 * a negative status. stats may be NULL. */
int smol_generate(struct smol_seq *s, const int32_t *prompt, int n_prompt,
                  const struct smol_gen_params *p, smol_piece_fn on_piece,
                  void *user, struct smol_gen_stats *stats, struct smol_err *err);

/* ---- chat template (chat_template.c) ---- */

/* Renders a one-turn prompt (optional system text, one user message)
 * with the model's template family and the generation prompt, in
 * thinking mode or not. date is "DD Month YYYY" (NULL: today). Returns
 * a malloc'd string (caller frees) or NULL on ENOMEM. */
char *smol_render_prompt(const struct smol_model *m, const char *system,
                         const char *user, bool thinking, const char *date);

/* ---- chat stream: thinking / answer / tool-call split, stop strings (chat_stream.c) ---- */

/* ---- conversations (conversation.c) ---- */

/* Makes s hold exactly tokens[0..n) with fresh logits for the last one:
 * keeps the longest common prefix with what is cached, forgets the
 * rest and evaluates only the new suffix (at least the last token).
 * Returns the number of tokens evaluated, and the number kept from the
 * cache in *n_reused (may be NULL). Then smol_generate(s, NULL, 0, ...)
 * continues from it. SMOL_EFULL when n exceeds the context. */
int smol_seq_sync(struct smol_seq *s, const int32_t *tokens, int n, int *n_reused,
                  struct smol_err *err);

#endif
