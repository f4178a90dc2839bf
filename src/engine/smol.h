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
    int n_threads;   /* threads for the matmuls and attention (a pool kept while the
                        model is open, shared by its sequences); 0: one per online CPU */
    bool vocab_only; /* load only the tokenizer (vocabulary-only GGUFs); no sequences */
    bool map_weights;/* map the file (shared page cache, nothing copied) instead of
                        reading it into memory with 2 MiB pages, which decodes faster
                        and makes later changes to the file harmless; vocab_only maps */
};

/* Loads (or maps) and validates the GGUF at path: architecture "smollm3" or "llama",
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
    char kernels[16];       /* kernel set in use: "generic", "avx2", "avx512", "neon"
                               (SMOL_KERNELS forces one); "" for vocabulary-only */
    int n_threads;          /* threads of the model's pool; 0 for vocabulary-only */
};
void smol_model_get_info(const struct smol_model *m, struct smol_model_info *out);

/* ---- tokens ---- */

enum { SMOL_TOKENIZE_SPECIAL = 1 }; /* parse <|im_start|> etc. in text */

/* Tokenizes text[0..len) into out[0..cap). Returns the number of tokens
 * the text needs (which may exceed cap: retry with a larger buffer), or
 * a negative status: SMOL_ERANGE for an unbroken run of over 1 MiB (one
 * "word" or run of spaces: tokenizer.h bounds memory so), SMOL_ENOMEM. */
int smol_tokenize(const struct smol_model *m, const char *text, size_t len,
                  int flags, int32_t *out, int cap);

/* A byte range [start, end) of a text. */
struct smol_span {
    size_t start, end;
};

/* smol_tokenize for a rendered chat prompt: spans[0..n_spans) (in order,
 * not overlapping, within len; smol_chat_render_spans gives them) mark
 * the caller's text. With SMOL_TOKENIZE_SPECIAL a control token
 * (<|im_start|>, <|im_end|>, ...) is parsed only where all its bytes lie
 * outside every span, so a message cannot forge a turn: its text stays
 * text. <think>, <tool_call> and the other non-control added tokens are
 * parsed everywhere, as smol_tokenize does even without the flag. Apart
 * from that the ids are smol_tokenize's. Also fails with SMOL_EINVAL for
 * bad spans. */
int smol_tokenize_literal(const struct smol_model *m, const char *text, size_t len,
                          int flags, const struct smol_span *spans, int n_spans,
                          int32_t *out, int cap);

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

/* ---- chat template (chat_template.c, tool_call.c) ---- */

/*
 * A conversation is an array of messages rendered into the prompt text
 * the model was trained on: SmolLM3's own template, reproduced byte for
 * byte from its Jinja original (tokenizer.chat_template), or plain
 * ChatML for a model whose GGUF carries another template.
 */
enum smol_role { SMOL_ROLE_SYSTEM, SMOL_ROLE_USER, SMOL_ROLE_ASSISTANT, SMOL_ROLE_TOOL };

/* A call the assistant made. All strings borrowed, NUL-terminated. */
struct smol_tool_call {
    const char *id;        /* the client's call id, or NULL (not rendered) */
    const char *name;      /* function name */
    const char *arguments; /* JSON text of the arguments object, or NULL for {} */
};

/*
 * One message; every pointer is borrowed for the duration of the call.
 * SmolLM3 renders content (NULL as ""): a system message only as the
 * first message, where "/think" and "/no_think" in it set the reasoning
 * mode and "/system_override" replaces the whole header; an assistant's
 * content without its leading newlines, then its tool_calls, each as
 * <tool_call>\n{"name": NAME, "arguments": ARGS}\n</tool_call>, the layout
 * the template asks the model to write (ARGS re-written as compact JSON
 * when it parses, else verbatim), each preceded by "\n" unless the text
 * so far is empty or ends in one (as smol_chat_history_content); a tool
 * result as a user turn, as the template does. reasoning, tool_call_id and name are carried for
 * clients and not rendered (the template has no place for them: put a
 * <think> block in content to show reasoning to the model).
 */
struct smol_message {
    int role;               /* enum smol_role */
    const char *content;
    const char *reasoning;
    const struct smol_tool_call *tool_calls; /* [n_tool_calls], assistant only */
    int n_tool_calls;
    const char *tool_call_id; /* tool results */
    const char *name;
};

struct smol_chat_opts {
    int thinking;                  /* -1: the template's default (on), 0: off, 1: on;
                                      "/think" or "/no_think" in the system message wins */
    const char *tools_json;        /* JSON array of tools (OpenAI's {"type": "function",
                                      "function": {...}} objects, printed whole as Python
                                      reprs, as HF's xml_tools), or NULL */
    const char *python_tools_json; /* JSON array for the template's python_tools, or NULL */
    const char *date;              /* "DD Month YYYY" for "Today Date:", NULL: today (local) */
    bool no_generation_prompt;     /* leave out the final "<|im_start|>assistant\n..." */
};

/* Renders msgs[0..n_msgs) with m's template. o may be NULL (defaults).
 * Returns a malloc'd NUL-terminated prompt (caller frees), or NULL with
 * err set: SMOL_EINVAL for a bad role or argument, SMOL_EFORMAT for
 * malformed tools JSON (naming the offset), SMOL_ENOMEM. */
char *smol_chat_render(const struct smol_model *m, const struct smol_message *msgs,
                       int n_msgs, const struct smol_chat_opts *o, struct smol_err *err);

/* smol_chat_render that also says which bytes of the prompt came from
 * the caller: message content, tool-call names and arguments, tool
 * results, the system text, the tools and the date, everything but the
 * template's own text. On success *spans is a malloc'd array (caller
 * frees; NULL when *n_spans is 0) of *n_spans ranges in order, for
 * smol_tokenize_literal; on failure *spans is NULL and *n_spans 0. */
char *smol_chat_render_spans(const struct smol_model *m, const struct smol_message *msgs,
                             int n_msgs, const struct smol_chat_opts *o,
                             struct smol_span **spans, int *n_spans, struct smol_err *err);

/* The reasoning mode smol_chat_render uses for these arguments: the
 * request's (default on), overridden by "/no_think" or else "/think" in
 * a first system message. ChatML models: the request's setting. The
 * stream parser uses it to know whether the answer starts with thinking. */
bool smol_chat_thinking(const struct smol_model *m, const struct smol_message *msgs,
                        int n_msgs, const struct smol_chat_opts *o);

/*
 * Reads an OpenAI-style messages array: [{"role", "content", ...}].
 * role: system (also "developer"), user, assistant or tool. content: a
 * string, null, or an array of {"type": "text", "text"} parts, joined
 * with "\n" as llama.cpp does (other part types are refused). Also read:
 * "reasoning_content" (or "reasoning"), "tool_calls" ([{id, type,
 * function: {name, arguments}}], arguments a JSON string or an object),
 * "tool_call_id" and "name". Unknown keys are ignored. On success *out
 * is a malloc'd array of *n messages owning their strings (free with
 * smol_messages_free). On failure returns SMOL_EFORMAT (malformed JSON:
 * the message names the byte offset; a wrong shape: it names the
 * message, as in "messages[2]: unknown role 'robot'") or SMOL_ENOMEM.
 */
int smol_messages_from_json(const char *json, size_t len, struct smol_message **out, int *n,
                            struct smol_err *err);
void smol_messages_free(struct smol_message *msgs, int n);

/* Parses one tool call the model wrote (tool_call.h lists exactly what
 * is accepted: optional <tool_call> tags, lenient JSON, "arguments" or
 * "parameters", arguments as an object or a JSON string). On success
 * returns 0 with *name and *arguments_json malloc'd (caller frees; the
 * arguments as compact JSON, {"city": "Paris"}); else a negative status,
 * both NULL and err naming the problem and its offset. */
int smol_tool_call_parse(const char *text, size_t len, char **name, char **arguments_json,
                         struct smol_err *err);

/* Renders a one-turn prompt (optional system text, one user message)
 * with the model's template family and the generation prompt, in
 * thinking mode or not. date is "DD Month YYYY" (NULL: today). Returns
 * a malloc'd string (caller frees) or NULL on ENOMEM. */
char *smol_render_prompt(const struct smol_model *m, const char *system,
                         const char *user, bool thinking, const char *date);

/* ---- chat stream: thinking / answer / tool-call split, stop strings (chat_stream.c) ---- */

/* A chat stream splits the text of one generated assistant turn, fed in
 * the pieces smol_generate delivers (split anywhere, even inside a tag),
 * into channels, and applies the caller's stop strings:
 *
 *   SMOL_CH_REASONING  inside <think>...</think>, with the whitespace
 *                      around it trimmed (ASCII space, tab, CR, LF):
 *                      "<think>\nLet me think.\n</think>" gives
 *                      "Let me think.". Only one block, and only before
 *                      any answer text or tool call; a later <think> is
 *                      answer text. Inside it, only </think> is a tag.
 *   SMOL_CH_CONTENT    the answer: everything outside the tags. Leading
 *                      whitespace is dropped at the start of the turn and
 *                      after </think> or </tool_call>; everything else is
 *                      kept verbatim, trailing whitespace included.
 *   SMOL_CH_TOOL_CALL  the text between <tool_call> and </tool_call>,
 *                      trimmed, as one event when the closing tag
 *                      arrives (not parsed: see smol_tool_call_parse).
 *                      Inside it, only </tool_call> is a tag.
 *   SMOL_CH_TOOL_CALL_INCOMPLETE  an unterminated <tool_call> at finish:
 *                      its text so far, trimmed, as one event.
 *
 * Text is emitted as early as possible: only bytes that may still be the
 * start of a tag or of a stop string, and reasoning whitespace that may
 * still turn out to be trailing, are held back. Events carry complete
 * UTF-8 when the pieces do (tags and trimmed bytes are ASCII).
 *
 * Stop strings apply to the answer only (as llama.cpp's content, not
 * OpenAI's whole output): reasoning and tool-call text never stop, so a
 * stop like "\n\n" does not fire on "</think>\n\n". They match the answer
 * as emitted (after the leading-whitespace drop), contiguous between
 * tags, across any piece split. On a match the text before it is
 * emitted verbatim, the stop string and everything after it never are,
 * and feed returns 1: return nonzero from the piece callback to halt
 * generation. Of matches completing in the same piece, the one ending
 * first wins (then the one starting first), so with "STOP" and "STOP
 * here" the turn stops at "STOP". */

struct smol_chat_stream;

#define SMOL_CHAT_MAX_STOP 16        /* stop strings per stream */
#define SMOL_CHAT_STOP_MAX_BYTES 256 /* bytes per stop string */

enum smol_channel {
    SMOL_CH_CONTENT = 0,
    SMOL_CH_REASONING,
    SMOL_CH_TOOL_CALL,
    SMOL_CH_TOOL_CALL_INCOMPLETE,
};

struct smol_chat_stream_opts {
    bool thinking;            /* the prompt was rendered in think mode:
                                 the history form keeps the think block */
    bool start_in_reasoning;  /* the prompt itself opened <think> (not
                                 SmolLM3: its model writes the tag) */
    const char *const *stop;  /* n_stop NUL-terminated, non-empty, valid
                                 UTF-8 strings; copied by _new */
    int n_stop;               /* 0..SMOL_CHAT_MAX_STOP */
};

/* One event: text[0..len) on channel (enum smol_channel), not
 * NUL-terminated, valid only during the call. Return nonzero to halt
 * the stream: nothing more is emitted and feed returns 1. */
typedef int (*smol_chat_event_fn)(void *user, int channel, const char *text,
                                  size_t len);

/* A stream for one assistant turn; opts may be NULL (no think mode, no
 * stops). NULL with err set on invalid options (SMOL_EINVAL: too many,
 * NULL, empty, too long or invalid UTF-8 stop strings) or SMOL_ENOMEM. */
struct smol_chat_stream *smol_chat_stream_new(const struct smol_chat_stream_opts *opts,
                                              struct smol_err *err);
void smol_chat_stream_free(struct smol_chat_stream *s);

/* Feeds text[0..len) (any split of the turn's text) and emits what is
 * decided through fn (may be NULL: accumulate only). Returns 0 to go
 * on, 1 once halted (a stop string matched, fn returned nonzero, or the
 * stream was finished: later feeds are ignored), or SMOL_ENOMEM (the
 * stream is then halted). */
int smol_chat_stream_feed(struct smol_chat_stream *s, const char *text, size_t len,
                          smol_chat_event_fn fn, void *user);

/* Ends the turn: emits what was held back (a partial tag or stop string
 * is plain text now), drops reasoning's trailing whitespace, and emits
 * an unterminated tool call as SMOL_CH_TOOL_CALL_INCOMPLETE. After a
 * halt it emits nothing. Returns 0 or SMOL_ENOMEM; idempotent. */
int smol_chat_stream_finish(struct smol_chat_stream *s, smol_chat_event_fn fn, void *user);

/* After finish: the turn ended inside <think> (no </think>). */
bool smol_chat_stream_ended_in_reasoning(const struct smol_chat_stream *s);
/* Index of the stop string that matched, or -1. */
int smol_chat_stream_stop_index(const struct smol_chat_stream *s);

/* Everything emitted so far on a channel, NUL-terminated, never NULL
 * (views owned by s, valid until the next feed/finish or free). */
const char *smol_chat_stream_reasoning(const struct smol_chat_stream *s, size_t *len);
const char *smol_chat_stream_content(const struct smol_chat_stream *s, size_t *len);
/* Tool calls emitted, in order; i out of range gives NULL. *complete
 * (may be NULL) is false for the SMOL_CH_TOOL_CALL_INCOMPLETE one. */
int smol_chat_stream_n_tool_calls(const struct smol_chat_stream *s);
const char *smol_chat_stream_tool_call(const struct smol_chat_stream *s, int i, size_t *len,
                                       bool *complete);

/* The history form: the assistant message content to store for the next
 * turn, rebuilt so SmolLM3's template (which writes content after
 * "<|im_start|>assistant\n", and in no-think mode adds the empty think
 * block itself) renders what the model produces:
 *   - thinking and reasoning != NULL: "<think>\n" reasoning "\n</think>\n\n"
 *     (the layout SmolLM3 generates), else no think block;
 *   - then answer (may be NULL) verbatim;
 *   - then each tool call as "<tool_call>\n" text "\n</tool_call>",
 *     preceded by "\n" unless the text so far is empty or ends in "\n".
 * Answer text between tool calls thus moves before them. Returns a
 * malloc'd string (caller frees) or NULL on ENOMEM. */
char *smol_chat_history_content(const char *reasoning, const char *answer,
                                const char *const *tool_calls, int n_tool_calls,
                                bool thinking);
/* The history form of the stream's turn: its reasoning if a think block
 * was opened (kept only in think mode), answer and complete tool calls
 * (an incomplete one is left out). Caller frees; NULL on ENOMEM. */
char *smol_chat_stream_history(const struct smol_chat_stream *s);

/* ---- conversations (conversation.c) ---- */

/* Makes s hold exactly tokens[0..n) with fresh logits for the last one:
 * keeps the longest common prefix with what is cached, forgets the
 * rest and evaluates only the new suffix (at least the last token).
 * Returns the number of tokens evaluated, and the number kept from the
 * cache in *n_reused (may be NULL). Then smol_generate(s, NULL, 0, ...)
 * continues from it. SMOL_EFULL when n exceeds the context. */
int smol_seq_sync(struct smol_seq *s, const int32_t *tokens, int n, int *n_reused,
                  struct smol_err *err);

/* Renders and tokenizes a conversation (control tokens parsed in the
 * template's text only: smol_tokenize_literal) so that it leaves `reserve`
 * tokens of n_ctx for the answer: when it does not fit, the oldest turns
 * (a user message and the replies up to the next one) after the system
 * message are dropped, never the system message or the current
 * question. *tokens is malloc'd (caller frees), *n_dropped (may be
 * NULL) counts the messages dropped, to tell the user. SMOL_EFULL when
 * even the system message and the current question do not fit;
 * SMOL_ERANGE for a "word" over 1 MiB (smol_tokenize). */
int smol_chat_prompt(const struct smol_model *m, const struct smol_message *msgs, int n_msgs,
                     const struct smol_chat_opts *o, int n_ctx, int reserve, int32_t **tokens,
                     int *n_tokens, int *n_dropped, struct smol_err *err);

#endif
