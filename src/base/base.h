/*
 * base.h: the first include of every smolbot source file.
 *
 * Fixed-width types, bool, size helpers and CHECK(), an always-on
 * assertion for our own invariants (never for file, network or user
 * data: those get a struct smol_err instead).
 */
#ifndef SMOL_BASE_H
#define SMOL_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* CHECK(cond): stays on in release builds; prints where and aborts. */
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            abort();                                                       \
        }                                                                  \
    } while (0)

#endif
