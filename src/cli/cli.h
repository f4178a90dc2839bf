/*
 * cli.h: what the smolbot commands share.
 *
 * Each command is `int cmd_NAME(int argc, char **argv)` returning the
 * process exit status; it prints one clear line on stderr on failure
 * (through cli_fail). Only main.c exits.
 */
#ifndef SMOL_CLI_H
#define SMOL_CLI_H

#include "base.h"
#include "smol.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "smolbot: <message>" on stderr; returns 1 (the exit status). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict number parsing of option values: the whole string must be a
 * number in [lo, hi]. On failure prints a line naming the option and
 * returns false. */
bool cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out);
bool cli_parse_u64(const char *opt, const char *s, uint64_t *out);

/* Parses "1,2,3" into a malloc'd array (*ids, *n). false with a message
 * on a bad list. */
bool cli_parse_ids(const char *s, int32_t **ids, int *n);

/* Opens the model at path (only its tokenizer when vocab_only); prints
 * the engine's error on failure. */
/* SMOLBOT_MMAP set (and not "0"): map model files instead of loading
 * them into memory (smol_model_opts.map_weights). */
bool cli_map_weights(void);

/* How cli_open_model opens: the weights loaded into memory (mapped when
 * SMOLBOT_MMAP is set), mapped (commands that only read the file's
 * metadata and shapes), or the vocabulary only. */
enum cli_open { CLI_OPEN_RUN, CLI_OPEN_MAP, CLI_OPEN_VOCAB };
struct smol_model *cli_open_model(const char *path, int n_threads, enum cli_open how);

/* Reads all of a stream into a malloc'd NUL-terminated buffer. */
char *cli_read_stream(FILE *f, size_t *len);

/* Tokenizes text into a malloc'd array; prints errors. */
int32_t *cli_tokenize(const struct smol_model *m, const char *text, size_t len, int flags,
                      int *n);
/* cli_tokenize with control tokens parsed only outside spans[0..n_spans)
 * (smol_tokenize_literal): for a rendered chat prompt. */
int32_t *cli_tokenize_spans(const struct smol_model *m, const char *text, size_t len, int flags,
                            const struct smol_span *spans, int n_spans, int *n);

/* Prints ids as a one-line JSON array to f. */
void cli_print_ids(FILE *f, const int32_t *ids, int n);

#endif
