/* common.c: helpers shared by the commands (see cli.h). */
#include "cli.h"
#include "mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("smolbot: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

bool cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_fail("%s expects an integer in %ld..%ld, got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        cli_fail("%s expects a number in %g..%g, got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0') {
        cli_fail("%s expects a non-negative integer, got '%s'", opt, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        cli_fail("%s expects a non-negative integer, got '%s'", opt, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_ids(const char *s, int32_t **ids, int *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int32_t *v = mem_alloc_array(cap, sizeof(int32_t));
    if (!v) {
        cli_fail("out of memory");
        return false;
    }
    int k = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            cli_fail("--ids expects comma-separated non-negative token ids, got '%s'", s);
            free(v);
            return false;
        }
        v[k++] = (int32_t)x;
        if (!*end)
            break;
        p = end + 1;
    }
    *ids = v;
    *n = k;
    return true;
}

bool cli_map_weights(void)
{
    const char *v = getenv("SMOLBOT_MMAP");
    return v && *v && strcmp(v, "0") != 0;
}

struct smol_model *cli_open_model(const char *path, int n_threads, enum cli_open how)
{
    if (!path) {
        cli_fail("no model given (use -m MODEL.gguf)");
        return NULL;
    }
    struct smol_err err = {0};
    struct smol_model_opts opts = {.n_threads = n_threads, .vocab_only = how == CLI_OPEN_VOCAB,
                                   .map_weights = how == CLI_OPEN_MAP || cli_map_weights()};
    struct smol_model *m = smol_model_open(path, &opts, &err);
    if (!m)
        cli_fail("cannot open model '%s': %s", path, err.msg);
    return m;
}

char *cli_read_stream(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    if (!p)
        return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *q = cap < SIZE_MAX / 2 ? realloc(p, cap * 2) : NULL;
            if (!q) {
                free(p);
                return NULL;
            }
            p = q;
            cap *= 2;
        }
        size_t r = fread(p + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    p[n] = '\0';
    *len = n;
    return p;
}

int32_t *cli_tokenize(const struct smol_model *m, const char *text, size_t len, int flags, int *n)
{
    return cli_tokenize_spans(m, text, len, flags, NULL, 0, n);
}

int32_t *cli_tokenize_spans(const struct smol_model *m, const char *text, size_t len, int flags,
                            const struct smol_span *spans, int n_spans, int *n)
{
    int need = smol_tokenize_literal(m, text, len, flags, spans, n_spans, NULL, 0);
    if (need == SMOL_ERANGE) {
        cli_fail("cannot tokenize the text: one unbroken word (or run of spaces) is longer "
                 "than 1 MiB");
        return NULL;
    }
    if (need < 0) {
        cli_fail("cannot tokenize the text: %s", need == SMOL_ENOMEM ? "out of memory"
                                                                     : "the tokenizer failed");
        return NULL;
    }
    int32_t *ids = mem_alloc_array((uint64_t)need + 1, sizeof(int32_t));
    if (!ids) {
        cli_fail("out of memory for %d tokens", need);
        return NULL;
    }
    int got = smol_tokenize_literal(m, text, len, flags, spans, n_spans, ids, need);
    if (got != need) {
        free(ids);
        cli_fail("tokenizer returned %d tokens, expected %d", got, need);
        return NULL;
    }
    *n = need;
    return ids;
}

void cli_print_ids(FILE *f, const int32_t *ids, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++)
        fprintf(f, i ? ",%d" : "%d", ids[i]);
    fputs("]\n", f);
}
