/*
 * mem.h: allocation with overflow-checked size arithmetic.
 *
 * Sizes that come from outside (files, requests) go through mem_mul /
 * mem_add before they size anything. The allocators return NULL on
 * overflow or exhaustion and never abort; the caller reports SMOL_ENOMEM.
 * Memory from mem_* is released with free().
 */
#ifndef SMOL_MEM_H
#define SMOL_MEM_H

#include "base.h"

/* *out = a * b; false (and *out untouched) on overflow. */
static inline bool mem_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* *out = a + b; false on overflow. */
static inline bool mem_add(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Rounds v up to a multiple of align (a power of two); false on overflow. */
static inline bool mem_align_up(uint64_t v, uint64_t align, uint64_t *out)
{
    uint64_t t;
    if (!mem_add(v, align - 1, &t))
        return false;
    *out = t & ~(align - 1);
    return true;
}

/* calloc(n, size) with an explicit overflow check; NULL on failure. */
void *mem_calloc(uint64_t n, uint64_t size);

/* malloc(n * size) uninitialised; NULL on overflow or failure. */
void *mem_alloc_array(uint64_t n, uint64_t size);

/* malloc'd, NUL-terminated copy of len bytes of s; NULL on failure. */
char *mem_strndup(const char *s, size_t len);

#endif
