/*
 * buf.h: a growable byte buffer.
 *
 * struct buf is embedded by its owner: buf_init, then appends, then
 * buf_release (or buf_detach to take the bytes). The data is always
 * NUL-terminated after a successful append, so it can be used as a C
 * string when it holds text. Appends return 0 or SMOL_ENOMEM; after a
 * failed append the buffer keeps its previous contents.
 */
#ifndef SMOL_BUF_H
#define SMOL_BUF_H

#include "base.h"

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
};

void buf_init(struct buf *b);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);          /* len = 0, keeps the memory */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_appendf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns the bytes (caller frees; never NULL on success) and resets b. */
char *buf_detach(struct buf *b);

#endif
