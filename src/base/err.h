/*
 * err.h: how failures are reported everywhere in smolbot.
 *
 * A function that can fail returns an int: 0 (or a count) on success, a
 * negative SMOL_E* code on failure. It also fills a caller-owned
 * struct smol_err with one human sentence naming the thing, the offset
 * and the limit ("gguf: tensor 'x' data ends at 1893201, past the file
 * end 1800000"). The first error set wins: later err_set calls on an
 * already-set error keep the first message (the root cause) and only
 * return their code. Passing err == NULL is allowed everywhere.
 */
#ifndef SMOL_ERR_H
#define SMOL_ERR_H

enum smol_status {
    SMOL_OK = 0,
    SMOL_EINVAL = -1,      /* bad argument from the caller */
    SMOL_ENOMEM = -2,      /* allocation failed or size overflow */
    SMOL_EIO = -3,         /* open/read/write/mmap failed */
    SMOL_EFORMAT = -4,     /* malformed input file or data */
    SMOL_ERANGE = -5,      /* a value outside its allowed range */
    SMOL_EUNSUPPORTED = -6,/* valid but not supported by us */
    SMOL_ENOTFOUND = -7,   /* a key, tensor or file that is absent */
    SMOL_ECANCELED = -8,   /* stopped on request */
    SMOL_EFULL = -9,       /* context or buffer full */
};

#define SMOL_ERR_MSG_MAX 512

struct smol_err {
    int code;                   /* 0 while no error was set */
    char msg[SMOL_ERR_MSG_MAX]; /* NUL-terminated sentence */
};

/* Clears e (e may be NULL). */
void err_clear(struct smol_err *e);

/* Sets e to code and the printf-style message unless e already holds an
 * error. Returns code, so callers can write `return err_set(...)`. */
int err_set(struct smol_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Human name of a status code ("format error"); never NULL. */
const char *err_str(int code);

#endif
