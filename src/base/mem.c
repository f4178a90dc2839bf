/* mem.c: overflow-checked allocation (see mem.h). */
#include "mem.h"

#include <string.h>

void *mem_calloc(uint64_t n, uint64_t size)
{
    uint64_t total;
    if (!mem_mul(n, size, &total) || total > SIZE_MAX)
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *mem_alloc_array(uint64_t n, uint64_t size)
{
    uint64_t total;
    if (!mem_mul(n, size, &total) || total > SIZE_MAX)
        return NULL;
    return malloc(total ? total : 1);
}

char *mem_strndup(const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
