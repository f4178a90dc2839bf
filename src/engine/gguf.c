/*
 * gguf.c: GGUF reading and writing (see gguf.h for the contract).
 *
 * The file, as we read and write it (all integers little-endian):
 *
 *   u32 magic "GGUF" | u32 version (2, 3) | u64 n_tensors | u64 n_kv
 *   n_kv x   { string key | u32 type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   zero padding up to general.alignment (default 32)
 *   the data section: each tensor at its offset (a multiple of the alignment)
 *
 *   string = u64 len | len bytes (no NUL)
 *   value  = scalar bytes | string | array
 *   array  = u32 elem_type | u64 n | n elements (fixed-size, or strings)
 *
 * Reading goes through a bounded cursor with a sticky first error (as in
 * antirez's gguf-tools): every read asks the cursor for n bytes, the
 * cursor checks them against what is left of the map, and after the
 * first failure every further read returns zeros and does nothing, so
 * the parser can be written straight without an error check per field
 * and still never reads past the end. Every count is compared with the
 * bytes left BEFORE anything is allocated from it.
 *
 * Writing serialises each value once, when it is set, into the exact
 * bytes that follow its type on disk; writing the file is then a walk.
 */
#include "gguf.h"

#include "buf.h"
#include "mem.h"
#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Values are read with memcpy straight into host integers. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "gguf.c assumes a little-endian host");

#define GGUF_MAX_STR_LEN (64u * 1024u)     /* keys and tensor names */
#define GGUF_MAX_ELEMENTS (1ull << 62)     /* per tensor; keeps int64 maths safe */
#define GGUF_ALIGNMENT_KEY "general.alignment"

/* The least bytes one key/value or one tensor info can take on disk;
 * n_kv and n_tensors are bounded by the bytes left divided by these. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)              /* len, 1-byte key, type, u8 */
#define MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8)  /* len, name, n_dims, ne, type, offset */

/* A key or name quoted in a message: at most 96 bytes of it. */
#define QUOTE(s) (int)MIN((s).len, (uint64_t)96), (s).ptr

/* ================================================================ */
/* Metadata value types                                              */
/* ================================================================ */

static const char *const type_names[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = "uint8",     [GGUF_TYPE_INT8] = "int8",
    [GGUF_TYPE_UINT16] = "uint16",   [GGUF_TYPE_INT16] = "int16",
    [GGUF_TYPE_UINT32] = "uint32",   [GGUF_TYPE_INT32] = "int32",
    [GGUF_TYPE_FLOAT32] = "float32", [GGUF_TYPE_BOOL] = "bool",
    [GGUF_TYPE_STRING] = "string",   [GGUF_TYPE_ARRAY] = "array",
    [GGUF_TYPE_UINT64] = "uint64",   [GGUF_TYPE_INT64] = "int64",
    [GGUF_TYPE_FLOAT64] = "float64",
};

/* Bytes of one scalar; 0 for STRING and ARRAY (variable size). */
static const uint8_t type_sizes[GGUF_TYPE_COUNT] = {
    [GGUF_TYPE_UINT8] = 1,   [GGUF_TYPE_INT8] = 1,   [GGUF_TYPE_UINT16] = 2,
    [GGUF_TYPE_INT16] = 2,   [GGUF_TYPE_UINT32] = 4, [GGUF_TYPE_INT32] = 4,
    [GGUF_TYPE_FLOAT32] = 4, [GGUF_TYPE_BOOL] = 1,   [GGUF_TYPE_STRING] = 0,
    [GGUF_TYPE_ARRAY] = 0,   [GGUF_TYPE_UINT64] = 8, [GGUF_TYPE_INT64] = 8,
    [GGUF_TYPE_FLOAT64] = 8,
};

static uint64_t type_size(uint32_t type)
{
    return type < GGUF_TYPE_COUNT ? type_sizes[type] : 0;
}

const char *gguf_type_name(uint32_t type)
{
    return type < GGUF_TYPE_COUNT ? type_names[type] : "?";
}

bool gguf_str_eq(struct gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

/* Orders two views bytewise, shorter first on a common prefix. */
static int str_cmp(struct gguf_str a, struct gguf_str b)
{
    uint64_t n = MIN(a.len, b.len);
    int r = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (r)
        return r;
    return (a.len > b.len) - (a.len < b.len);
}

/* ================================================================ */
/* The bounded cursor                                                */
/* ================================================================ */

struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t off;          /* next byte to read; never above size */
    int code;              /* 0 until the first error, then sticky */
    struct smol_err *err;
    /* What is being read, for messages: "key"/"tensor" and its name
     * (or its index while the name itself is not read yet). */
    const char *ctx_kind;
    uint64_t ctx_index;
    struct gguf_str ctx_name;
};

/* Records the first error (later ones are dropped: the first is the
 * cause) and returns the sticky code. */
__attribute__((format(printf, 3, 4)))
static int cur_fail(struct cursor *c, int code, const char *fmt, ...)
{
    if (c->code)
        return c->code;
    char msg[SMOL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->code = code;
    return err_set(c->err, code, "%s", msg);
}

/* Takes n bytes and returns a pointer to them, or NULL (with the
 * truncation error recorded) when fewer than n are left. */
static const uint8_t *cur_take(struct cursor *c, uint64_t n, const char *what)
{
    if (c->code)
        return NULL;
    uint64_t left = c->size - c->off;
    if (n > left) {
        char ctx[160] = "";
        if (c->ctx_kind && c->ctx_name.len)
            snprintf(ctx, sizeof(ctx), " of %s '%.*s'", c->ctx_kind,
                     QUOTE(c->ctx_name));
        else if (c->ctx_kind)
            snprintf(ctx, sizeof(ctx), " of %s #%" PRIu64, c->ctx_kind,
                     c->ctx_index);
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: file truncated at offset %" PRIu64 " reading %s%s "
                 "(need %" PRIu64 " bytes, %" PRIu64 " left)",
                 c->off, what, ctx, n, left);
        return NULL;
    }
    const uint8_t *p = c->base + c->off;
    c->off += n;
    return p;
}

static uint32_t cur_u32(struct cursor *c, const char *what)
{
    uint32_t v = 0;
    const uint8_t *p = cur_take(c, sizeof(v), what);
    if (p)
        memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t cur_u64(struct cursor *c, const char *what)
{
    uint64_t v = 0;
    const uint8_t *p = cur_take(c, sizeof(v), what);
    if (p)
        memcpy(&v, p, sizeof(v));
    return v;
}

/* Reads a string (u64 length, bytes) whose length must be 1..max when
 * max is nonzero. `what` names it ("key", "name"). */
static struct gguf_str cur_str(struct cursor *c, const char *what_len,
                               const char *what, uint64_t max)
{
    struct gguf_str s = {NULL, 0};
    uint64_t at = c->off;
    uint64_t len = cur_u64(c, what_len);
    if (c->code)
        return s;
    if (max && (len == 0 || len > max)) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: %s #%" PRIu64 " has %s %" PRIu64 " at offset %" PRIu64
                 " (must be 1..%" PRIu64 ")",
                 c->ctx_kind ? c->ctx_kind : "item", c->ctx_index, what_len,
                 len, at, max);
        return s;
    }
    s.ptr = (const char *)cur_take(c, len, what);
    s.len = s.ptr ? len : 0;
    return s;
}

/* ================================================================ */
/* Reading metadata                                                  */
/* ================================================================ */

/* A bool must be exactly 0 or 1: anything else is a corrupt file. */
static void check_bool(struct cursor *c, const uint8_t *p, uint64_t index,
                       bool in_array)
{
    if (!p || *p <= 1)
        return;
    uint64_t at = (uint64_t)(p - c->base);
    if (in_array)
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: key '%.*s' element %" PRIu64 " has bool value %u at "
                 "offset %" PRIu64 " (must be 0 or 1)",
                 QUOTE(c->ctx_name), index, *p, at);
    else
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: key '%.*s' has bool value %u at offset %" PRIu64
                 " (must be 0 or 1)", QUOTE(c->ctx_name), *p, at);
}

/* Reads an array value: element type, count, elements. */
static void parse_array(struct cursor *c, struct gguf_kv *kv)
{
    uint64_t at = c->off;
    uint32_t et = cur_u32(c, "array element type");
    if (c->code)
        return;
    if (et == GGUF_TYPE_ARRAY) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: key '%.*s' at offset %" PRIu64 " is an array of "
                 "arrays, which smolbot does not support",
                 QUOTE(kv->key), at);
        return;
    }
    if (et >= GGUF_TYPE_COUNT) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: key '%.*s' has unknown array element type %u at "
                 "offset %" PRIu64, QUOTE(kv->key), et, at);
        return;
    }
    kv->arr_type = et;

    uint64_t n_at = c->off;
    uint64_t n = cur_u64(c, "array count");
    if (c->code)
        return;
    /* Every element takes at least this many bytes (a string at least
     * its length prefix), so a count that cannot fit fails here, before
     * any loop or allocation sized by it. */
    uint64_t each = et == GGUF_TYPE_STRING ? 8 : type_size(et);
    uint64_t left = c->size - c->off;
    if (n > left / each) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: key '%.*s' array count %" PRIu64 " at offset %" PRIu64
                 " does not fit in the %" PRIu64 " bytes left (%" PRIu64
                 " bytes per %s at least)",
                 QUOTE(kv->key), n, n_at, left, each, type_names[et]);
        return;
    }
    kv->n = n;
    kv->data = c->base + c->off;

    if (et == GGUF_TYPE_STRING) {
        for (uint64_t i = 0; i < n && !c->code; i++) {
            uint64_t len = cur_u64(c, "array string length");
            cur_take(c, len, "array string");
        }
        return;
    }
    const uint8_t *p = cur_take(c, n * each, "array elements");
    if (p && et == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n && !c->code; i++)
            check_bool(c, p + i, i, true);
}

/* Reads key #index: key string, value type, value. */
static void parse_kv(struct cursor *c, struct gguf_kv *kv, uint64_t index)
{
    c->ctx_kind = "key";
    c->ctx_index = index;
    c->ctx_name = (struct gguf_str){NULL, 0};
    kv->offset = c->off;
    kv->key = cur_str(c, "key length", "key", GGUF_MAX_STR_LEN);
    c->ctx_name = kv->key;

    uint64_t type_at = c->off;
    kv->type = cur_u32(c, "value type");
    if (c->code)
        return;
    switch (kv->type) {
    case GGUF_TYPE_ARRAY:
        parse_array(c, kv);
        break;
    case GGUF_TYPE_STRING:
        kv->n = cur_u64(c, "string length");
        kv->data = cur_take(c, kv->n, "string");
        break;
    default:
        if (kv->type >= GGUF_TYPE_COUNT) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: key '%.*s' has unknown value type %u at offset "
                     "%" PRIu64, QUOTE(kv->key), kv->type, type_at);
            return;
        }
        kv->n = 1;
        kv->data = cur_take(c, type_size(kv->type), "value");
        if (kv->type == GGUF_TYPE_BOOL)
            check_bool(c, kv->data, 0, false);
        break;
    }
}

static int kv_ptr_cmp(const void *a, const void *b)
{
    const struct gguf_kv *x = *(const struct gguf_kv *const *)a;
    const struct gguf_kv *y = *(const struct gguf_kv *const *)b;
    return str_cmp(x->key, y->key);
}

/* Rejects a key that appears twice: sorts pointers (n log n, so a
 * hostile file with many keys cannot make this quadratic). */
static void check_duplicate_keys(struct cursor *c, struct gguf_file *f)
{
    if (f->n_kv < 2)
        return;
    const struct gguf_kv **v = mem_alloc_array(f->n_kv, sizeof(*v));
    if (!v) {
        cur_fail(c, SMOL_ENOMEM, "gguf: out of memory checking %" PRIu64
                 " keys for duplicates", f->n_kv);
        return;
    }
    for (uint64_t i = 0; i < f->n_kv; i++)
        v[i] = &f->kv[i];
    qsort(v, f->n_kv, sizeof(*v), kv_ptr_cmp);
    for (uint64_t i = 1; i < f->n_kv; i++) {
        if (str_cmp(v[i - 1]->key, v[i]->key) == 0) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: duplicate key '%.*s' at offsets %" PRIu64
                     " and %" PRIu64, QUOTE(v[i]->key),
                     MIN(v[i - 1]->offset, v[i]->offset),
                     MAX(v[i - 1]->offset, v[i]->offset));
            break;
        }
    }
    free(v);
}

/* general.alignment, when present, must be a nonzero power-of-two u32. */
static void read_alignment(struct cursor *c, struct gguf_file *f)
{
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *kv = gguf_find_kv(f, GGUF_ALIGNMENT_KEY);
    if (!kv)
        return;
    if (kv->type != GGUF_TYPE_UINT32) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: key '" GGUF_ALIGNMENT_KEY "' at offset %" PRIu64
                 " has type %s, expected uint32",
                 kv->offset, gguf_type_name(kv->type));
        return;
    }
    uint32_t a;
    memcpy(&a, kv->data, sizeof(a));
    if (a == 0 || (a & (a - 1)) != 0) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: general.alignment %u at offset %" PRIu64
                 " is not a nonzero power of two", a, kv->offset);
        return;
    }
    f->alignment = a;
}

/* ================================================================ */
/* Reading tensor infos                                              */
/* ================================================================ */

/* Reads tensor info #index and computes its byte size. The data offset
 * is checked later, once the data section's start is known. */
static void parse_tensor_info(struct cursor *c, struct gguf_tensor *t,
                              uint64_t index)
{
    c->ctx_kind = "tensor";
    c->ctx_index = index;
    c->ctx_name = (struct gguf_str){NULL, 0};
    t->name = cur_str(c, "name length", "name", GGUF_MAX_STR_LEN);
    c->ctx_name = t->name;

    uint64_t at = c->off;
    t->n_dims = cur_u32(c, "n_dims");
    if (c->code)
        return;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: tensor '%.*s' has n_dims %u at offset %" PRIu64
                 " (must be 1..%d)", QUOTE(t->name), t->n_dims, at,
                 GGUF_MAX_DIMS);
        return;
    }

    /* Unused dimensions are 1, so ne[1] * ne[2] * ne[3] is always the
     * row count. The running product is kept under 2^62 elements. */
    uint64_t n_elem = 1;
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++)
        t->ne[i] = 1;
    for (uint32_t i = 0; i < t->n_dims; i++) {
        at = c->off;
        t->ne[i] = cur_u64(c, "dimension");
        if (c->code)
            return;
        if (t->ne[i] == 0) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: tensor '%.*s' has ne[%u] = 0 at offset %" PRIu64
                     " (dimensions must be at least 1)", QUOTE(t->name), i,
                     at);
            return;
        }
        if (!mem_mul(n_elem, t->ne[i], &n_elem) ||
            n_elem > GGUF_MAX_ELEMENTS) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: tensor '%.*s' dimension ne[%u] = %" PRIu64
                     " at offset %" PRIu64 " makes the element count "
                     "overflow 2^62", QUOTE(t->name), i, t->ne[i], at);
            return;
        }
    }

    at = c->off;
    t->type = cur_u32(c, "type");
    if (c->code)
        return;
    const struct quant_type_info *ti = quant_type_info(t->type);
    if (!ti || ti->block_size == 0 || ti->type_size == 0) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: tensor '%.*s' has unknown type %u at offset %" PRIu64,
                 QUOTE(t->name), t->type, at);
        return;
    }
    if (t->ne[0] % ti->block_size != 0) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: tensor '%.*s' row length ne[0] = %" PRIu64
                 " is not a multiple of the %s block size %u (type at "
                 "offset %" PRIu64 ")", QUOTE(t->name), t->ne[0], ti->name,
                 ti->block_size, at);
        return;
    }
    uint64_t row;
    if (!quant_row_size(t->type, t->ne[0], &row) ||
        !mem_mul(row, n_elem / t->ne[0], &t->size)) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: tensor '%.*s' byte size overflows (type at offset "
                 "%" PRIu64 ")", QUOTE(t->name), at);
        return;
    }
    t->offset = cur_u64(c, "data offset");
}

static int tensor_name_cmp(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    return str_cmp(x->name, y->name);
}

static int tensor_offset_cmp(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Places every tensor in the data section: aligned, inside the file,
 * and (after sorting a copy by offset) not overlapping its neighbour.
 * Also rejects duplicate names, with the same sorted copy. */
static void check_tensors(struct cursor *c, struct gguf_file *f)
{
    for (uint64_t i = 0; i < f->n_tensors && !c->code; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        uint64_t start, end;
        if (t->offset % f->alignment != 0) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: tensor '%.*s' data offset %" PRIu64 " is not a "
                     "multiple of the alignment %" PRIu64, QUOTE(t->name),
                     t->offset, f->alignment);
            break;
        }
        if (!mem_add(f->data_offset, t->offset, &start) ||
            !mem_add(start, t->size, &end)) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: tensor '%.*s' data offset %" PRIu64 " overflows "
                     "64 bits, far past the file end %" PRIu64,
                     QUOTE(t->name), t->offset, f->size);
            break;
        }
        if (end > f->size) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: tensor '%.*s' data ends at %" PRIu64
                     ", past the file end %" PRIu64, QUOTE(t->name), end,
                     f->size);
            break;
        }
        /* quant.c reads blocks through their structs, so the data must
         * start aligned for one: the lowest set bit of the type's byte
         * size, at most 8 (4 for F32, 2 for F16 or Q8_0). A legal but
         * small general.alignment (1, 2) could break that; a file that
         * does fails here instead of tripping a CHECK when it is used. */
        const struct quant_type_info *ti = quant_type_info(t->type);
        const uint64_t need = ti ? MIN((uint64_t)ti->type_size & -(uint64_t)ti->type_size, 8) : 1;
        if (need > 1 && start % need != 0) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: tensor '%.*s' (%s) data starts at file offset %" PRIu64
                     ", not a multiple of %" PRIu64 " as its blocks need (alignment %"
                     PRIu64 ")", QUOTE(t->name), ti->name, start, need, f->alignment);
            break;
        }
        t->data = f->base + start;
    }
    if (c->code || f->n_tensors < 2)
        return;

    const struct gguf_tensor **v = mem_alloc_array(f->n_tensors, sizeof(*v));
    if (!v) {
        cur_fail(c, SMOL_ENOMEM, "gguf: out of memory checking %" PRIu64
                 " tensors", f->n_tensors);
        return;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++)
        v[i] = &f->tensors[i];
    qsort(v, f->n_tensors, sizeof(*v), tensor_name_cmp);
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        if (str_cmp(v[i - 1]->name, v[i]->name) == 0) {
            cur_fail(c, SMOL_EFORMAT, "gguf: duplicate tensor name '%.*s'",
                     QUOTE(v[i]->name));
            goto out;
        }
    }
    qsort(v, f->n_tensors, sizeof(*v), tensor_offset_cmp);
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        const struct gguf_tensor *a = v[i - 1], *b = v[i];
        /* Sizes were checked against the file, so this cannot wrap. */
        if (a->offset + a->size > b->offset) {
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: tensors '%.*s' (data offset %" PRIu64 ", %" PRIu64
                     " bytes) and '%.*s' (data offset %" PRIu64 ") overlap",
                     QUOTE(a->name), a->offset, a->size, QUOTE(b->name),
                     b->offset);
            goto out;
        }
    }
out:
    free(v);
}

/* ================================================================ */
/* Opening                                                           */
/* ================================================================ */

/* Checks the magic and version and reads and bounds the two counts. */
static void parse_header(struct cursor *c, struct gguf_file *f)
{
    uint32_t magic = cur_u32(c, "magic");
    if (c->code)
        return;
    if (magic != GGUF_MAGIC) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: bad magic 0x%08x at offset 0 (expected 0x%08x, "
                 "\"GGUF\"): not a GGUF file", magic, GGUF_MAGIC);
        return;
    }
    f->version = cur_u32(c, "version");
    if (c->code)
        return;
    if (f->version == 1) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: version 1 at offset 4 is not supported (v1 used "
                 "32-bit counts); re-convert the model to GGUF v3");
        return;
    }
    if (f->version != 2 && f->version != 3) {
        uint32_t swapped = __builtin_bswap32(f->version);
        if (swapped == 2 || swapped == 3)
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: version %u at offset 4 is a byte-swapped %u: "
                     "big-endian GGUF files are not supported",
                     f->version, swapped);
        else
            cur_fail(c, SMOL_EFORMAT,
                     "gguf: unsupported version %u at offset 4 (expected 2 "
                     "or 3)", f->version);
        return;
    }
    f->n_tensors = cur_u64(c, "n_tensors");
    f->n_kv = cur_u64(c, "n_kv");
    if (c->code)
        return;
    /* Each entry takes some bytes, so the counts are bounded by the
     * file: this is what keeps a count of 2^60 from sizing a malloc. */
    uint64_t left = c->size - c->off;
    if (f->n_kv > left / MIN_KV_BYTES) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: n_kv %" PRIu64 " at offset 16 cannot fit in the %"
                 PRIu64 " bytes left (each key takes at least %d)",
                 f->n_kv, left, MIN_KV_BYTES);
        return;
    }
    if (f->n_tensors > left / MIN_TENSOR_BYTES) {
        cur_fail(c, SMOL_EFORMAT,
                 "gguf: n_tensors %" PRIu64 " at offset 8 cannot fit in the %"
                 PRIu64 " bytes left (each tensor info takes at least %d)",
                 f->n_tensors, left, MIN_TENSOR_BYTES);
        return;
    }
}

/* Parses and validates f->base[0..f->size) into f. 0 or the first
 * error's code (with err filled). */
static int gguf_parse(struct gguf_file *f, struct smol_err *err)
{
    struct cursor c = {.base = f->base, .size = f->size, .err = err};

    parse_header(&c, f);
    if (c.code)
        return c.code;
    f->kv = mem_calloc(f->n_kv, sizeof(*f->kv));
    f->tensors = mem_calloc(f->n_tensors, sizeof(*f->tensors));
    if (!f->kv || !f->tensors)
        return cur_fail(&c, SMOL_ENOMEM,
                        "gguf: out of memory for %" PRIu64 " keys and %"
                        PRIu64 " tensors", f->n_kv, f->n_tensors);

    for (uint64_t i = 0; i < f->n_kv && !c.code; i++)
        parse_kv(&c, &f->kv[i], i);
    check_duplicate_keys(&c, f);
    if (!c.code)
        read_alignment(&c, f);
    for (uint64_t i = 0; i < f->n_tensors && !c.code; i++)
        parse_tensor_info(&c, &f->tensors[i], i);
    c.ctx_kind = NULL;
    if (c.code)
        return c.code;

    /* The data section starts at the next multiple of the alignment.
     * A file without tensors may end before that padding (llama.cpp
     * writes vocab-only files that way): clamp to the file end. */
    if (!mem_align_up(c.off, f->alignment, &f->data_offset))
        return cur_fail(&c, SMOL_EFORMAT,
                        "gguf: data section offset overflows after the "
                        "tensor infos at %" PRIu64, c.off);
    if (f->n_tensors == 0 && f->data_offset > f->size)
        f->data_offset = f->size;
    check_tensors(&c, f);
    return c.code;
}

void gguf_close(struct gguf_file *f)
{
    if (!f)
        return;
    if (f->is_mapped && f->base)
        munmap((void *)f->base, f->map_size);
    free(f->kv);
    free(f->tensors);
    free(f);
}

int gguf_open_mem(struct gguf_file **out, const void *data, size_t size,
                  struct smol_err *err)
{
    if (!out)
        return err_set(err, SMOL_EINVAL, "gguf: gguf_open_mem needs out");
    *out = NULL;
    if (!data && size)
        return err_set(err, SMOL_EINVAL, "gguf: NULL buffer of %zu bytes",
                       size);
    struct gguf_file *f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, SMOL_ENOMEM, "gguf: out of memory");
    f->base = data;
    f->size = size;
    int rc = gguf_parse(f, err);
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* The file's bytes in private anonymous memory (see GGUF_OPEN_LOAD):
 * *map_size bytes at the result, whole 2 MiB pages; NULL with err. */
#define GGUF_HUGE_PAGE (2u << 20)
static void *gguf_load(int fd, const char *path, uint64_t size, uint64_t *map_size,
                       struct smol_err *err)
{
    uint64_t total;
    if (!mem_align_up(size, GGUF_HUGE_PAGE, &total) || total > SIZE_MAX - GGUF_HUGE_PAGE) {
        err_set(err, SMOL_ENOMEM, "gguf: '%s' (%llu bytes) is too big to load", path,
                (unsigned long long)size);
        return NULL;
    }
    /* over-allocate by a page, then trim to a 2 MiB-aligned range */
    const size_t span = (size_t)total + GGUF_HUGE_PAGE;
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        err_set(err, SMOL_ENOMEM, "gguf: cannot allocate %llu bytes to load '%s' (set "
                "SMOLBOT_MMAP=1 to map the file instead)", (unsigned long long)total, path);
        return NULL;
    }
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + GGUF_HUGE_PAGE - 1) & ~(uintptr_t)(GGUF_HUGE_PAGE - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + span > p + total)
        munmap(p + total, (size_t)(raw + span - (p + total)));
    (void)madvise(p, (size_t)total, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
    /* Fault the pages in before reading into them: measured on the 3B
     * file, pread into untouched memory took 4-6 s (a fault per page in
     * the middle of the copy), touching first 0.15 s and the read 0.3 s. */
    for (uint64_t off = 0; off < total; off += 4096)
        p[off] = 0;
    uint64_t got = 0;
    while (got < size) {
        const size_t want = (size_t)MIN(size - got, (uint64_t)1 << 30);
        const ssize_t k = pread(fd, p + got, want, (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            err_set(err, SMOL_EIO, "gguf: cannot read '%s' at offset %llu: %s", path,
                    (unsigned long long)got, k < 0 ? strerror(errno) : "the file got shorter");
            munmap(p, (size_t)total);
            return NULL;
        }
        got += (uint64_t)k;
    }
    (void)mprotect(p, (size_t)total, PROT_READ); /* the weights are never written */
    *map_size = total;
    return p;
}

/* Whether size bytes fit in the memory the kernel says is available
 * (MemAvailable, with a tenth kept free). Loading more would not fail
 * cleanly: the allocation succeeds (overcommit) and touching the pages
 * wakes the OOM killer. Unknown (no /proc): assume it fits. */
static bool gguf_fits_memory(uint64_t size)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return true;
    char line[128];
    unsigned long long kib = 0;
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
    fclose(f);
    return !found || size / 1024 < kib / 10 * 9;
}

int gguf_open(struct gguf_file **out, const char *path, struct smol_err *err)
{
    return gguf_open_ex(out, path, 0, err);
}

int gguf_open_ex(struct gguf_file **out, const char *path, int flags, struct smol_err *err)
{
    if (!out || !path)
        return err_set(err, SMOL_EINVAL, "gguf: gguf_open needs out and path");
    *out = NULL;
    int rc = 0;
    struct gguf_file *f = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, SMOL_EIO, "gguf: cannot open '%s': %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = err_set(err, SMOL_EIO, "gguf: cannot stat '%s': %s", path,
                     strerror(errno));
        goto close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = err_set(err, SMOL_EIO, "gguf: '%s' is not a regular file", path);
        goto close_fd;
    }
    /* mmap of 0 bytes fails with EINVAL; say what is really wrong. */
    if (st.st_size == 0) {
        rc = err_set(err, SMOL_EFORMAT, "gguf: '%s' is empty (0 bytes)", path);
        goto close_fd;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        rc = err_set(err, SMOL_ENOMEM, "gguf: '%s' (%lld bytes) is too big "
                     "to map", path, (long long)st.st_size);
        goto close_fd;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        rc = err_set(err, SMOL_ENOMEM, "gguf: out of memory");
        goto close_fd;
    }
    /* too big for the free memory: map it (the page cache copes) */
    if ((flags & GGUF_OPEN_LOAD) && gguf_fits_memory((uint64_t)st.st_size)) {
        void *p = gguf_load(fd, path, (uint64_t)st.st_size, &f->map_size, err);
        if (!p) {
            rc = err && err->code ? err->code : SMOL_ENOMEM;
            goto free_file;
        }
        f->base = p;
    } else {
        /* MAP_PRIVATE + PROT_READ: the weights are shared page cache, and
         * a file changed under us cannot be written through the map. */
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            rc = err_set(err, SMOL_EIO, "gguf: cannot map '%s' (%lld bytes): %s",
                         path, (long long)st.st_size, strerror(errno));
            goto free_file;
        }
        f->base = map;
        f->map_size = (uint64_t)st.st_size;
    }
    f->size = (uint64_t)st.st_size;
    f->is_mapped = true;
    rc = gguf_parse(f, err);
    if (rc)
        goto free_file;
    *out = f;
    f = NULL;
free_file:
    gguf_close(f); /* unmaps when mapped */
close_fd:
    close(fd); /* the map keeps its own reference to the file */
    return rc;
}

/* ================================================================ */
/* Lookups and typed getters                                         */
/* ================================================================ */

const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (gguf_str_eq(f->kv[i].key, key))
            return &f->kv[i];
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f,
                                           const char *name)
{
    if (!f || !name)
        return NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (gguf_str_eq(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

/* "string", "array of int32": the type of kv, for messages. */
static void kv_type_desc(const struct gguf_kv *kv, char *out, size_t cap)
{
    if (kv->type == GGUF_TYPE_ARRAY)
        snprintf(out, cap, "array of %s", gguf_type_name(kv->arr_type));
    else
        snprintf(out, cap, "%s", gguf_type_name(kv->type));
}

static int kv_wrong_type(const struct gguf_kv *kv, const char *expected,
                         struct smol_err *err)
{
    char have[48];
    kv_type_desc(kv, have, sizeof(have));
    return err_set(err, SMOL_EFORMAT, "gguf: key '%.*s' has type %s, "
                   "expected %s", QUOTE(kv->key), have, expected);
}

/* Reads an integer-typed scalar. Signed types land in *s (with
 * *is_signed set), unsigned ones in *u. False for non-integer types. */
static bool kv_int(const struct gguf_kv *kv, bool *is_signed, int64_t *s,
                   uint64_t *u)
{
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16;
    uint32_t u32; int32_t i32;
    *is_signed = false;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: memcpy(&u8, kv->data, 1); *u = u8; return true;
    case GGUF_TYPE_UINT16: memcpy(&u16, kv->data, 2); *u = u16; return true;
    case GGUF_TYPE_UINT32: memcpy(&u32, kv->data, 4); *u = u32; return true;
    case GGUF_TYPE_UINT64: memcpy(u, kv->data, 8); return true;
    default: break;
    }
    *is_signed = true;
    switch (kv->type) {
    case GGUF_TYPE_INT8: memcpy(&i8, kv->data, 1); *s = i8; return true;
    case GGUF_TYPE_INT16: memcpy(&i16, kv->data, 2); *s = i16; return true;
    case GGUF_TYPE_INT32: memcpy(&i32, kv->data, 4); *s = i32; return true;
    case GGUF_TYPE_INT64: memcpy(s, kv->data, 8); return true;
    default: return false;
    }
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out,
                 struct smol_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return SMOL_ENOTFOUND;
    bool is_signed;
    int64_t s = 0;
    uint64_t u = 0;
    if (!kv_int(kv, &is_signed, &s, &u))
        return kv_wrong_type(kv, "uint32", err);
    if (is_signed ? (s < 0 || s > UINT32_MAX) : u > UINT32_MAX) {
        if (is_signed)
            return err_set(err, SMOL_EFORMAT, "gguf: key '%.*s' value %"
                           PRId64 " does not fit uint32", QUOTE(kv->key), s);
        return err_set(err, SMOL_EFORMAT, "gguf: key '%.*s' value %" PRIu64
                       " does not fit uint32", QUOTE(kv->key), u);
    }
    *out = is_signed ? (uint32_t)s : (uint32_t)u;
    return 0;
}

int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out,
                 struct smol_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return SMOL_ENOTFOUND;
    bool is_signed;
    int64_t s = 0;
    uint64_t u = 0;
    if (!kv_int(kv, &is_signed, &s, &u))
        return kv_wrong_type(kv, "int64", err);
    if (!is_signed && u > INT64_MAX)
        return err_set(err, SMOL_EFORMAT, "gguf: key '%.*s' value %" PRIu64
                       " does not fit int64", QUOTE(kv->key), u);
    *out = is_signed ? s : (int64_t)u;
    return 0;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out,
                 struct smol_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return SMOL_ENOTFOUND;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->data, sizeof(*out));
        return 0;
    }
    if (kv->type != GGUF_TYPE_FLOAT64)
        return kv_wrong_type(kv, "float32", err);
    double d;
    memcpy(&d, kv->data, sizeof(d));
    /* Converting an out-of-range double to float is undefined in C. */
    if (isfinite(d) && fabs(d) > FLT_MAX)
        return err_set(err, SMOL_EFORMAT, "gguf: key '%.*s' value %g does "
                       "not fit float32", QUOTE(kv->key), d);
    *out = (float)d;
    return 0;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out,
                  struct smol_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return SMOL_ENOTFOUND;
    if (kv->type != GGUF_TYPE_BOOL)
        return kv_wrong_type(kv, "bool", err);
    *out = kv->data[0] != 0; /* 0 or 1, checked at open */
    return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key,
                 struct gguf_str *out, struct smol_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return SMOL_ENOTFOUND;
    if (kv->type != GGUF_TYPE_STRING)
        return kv_wrong_type(kv, "string", err);
    out->ptr = (const char *)kv->data;
    out->len = kv->n;
    return 0;
}

int gguf_get_arr(const struct gguf_file *f, const char *key,
                 uint32_t elem_type, uint64_t *n, const uint8_t **data,
                 struct smol_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return SMOL_ENOTFOUND;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem_type) {
        char want[48];
        snprintf(want, sizeof(want), "array of %s", gguf_type_name(elem_type));
        return kv_wrong_type(kv, want, err);
    }
    *n = kv->n;
    *data = kv->data;
    return 0;
}

int gguf_arr_strings(const struct gguf_kv *kv, struct gguf_str *out)
{
    if (!kv || kv->type != GGUF_TYPE_ARRAY ||
        kv->arr_type != GGUF_TYPE_STRING || (!out && kv->n))
        return SMOL_EINVAL;
    /* Every length was checked against the file at open. */
    const uint8_t *p = kv->data;
    for (uint64_t i = 0; i < kv->n; i++) {
        uint64_t len;
        memcpy(&len, p, sizeof(len));
        out[i].ptr = (const char *)p + sizeof(len);
        out[i].len = len;
        p += sizeof(len) + len;
    }
    return 0;
}

/* ================================================================ */
/* Writing                                                           */
/* ================================================================ */

struct writer_kv {
    char *key;          /* owned, NUL-terminated */
    size_t key_len;
    uint32_t type;      /* enum gguf_type */
    struct buf val;     /* the bytes that follow the type on disk */
};

struct writer_tensor {
    char *name;         /* owned */
    size_t name_len;
    uint32_t type;      /* enum ggml_type */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    const void *data;   /* borrowed until gguf_writer_write returns */
    uint64_t size;
    gguf_rows_fn fill;  /* streamed tensors: produces the rows at write time */
    void *user;         /* fill's argument, borrowed likewise */
};

struct gguf_writer {
    struct writer_kv *kv;       /* in insertion order */
    size_t n_kv, cap_kv;
    struct writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

struct gguf_writer *gguf_writer_new(void)
{
    return calloc(1, sizeof(struct gguf_writer));
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        buf_release(&w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->kv);
    free(w->tensors);
    free(w);
}

/* Grows *arr (of elem-byte items, *cap of them) to hold one more. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t want = *cap ? *cap * 2 : 16;
    void *p = mem_alloc_array(want, elem);
    if (!p)
        return SMOL_ENOMEM;
    if (n)
        memcpy(p, *arr, n * elem);
    free(*arr);
    *arr = p;
    *cap = want;
    return 0;
}

/* Stores key = (type, val). Takes val's bytes on success (val is left
 * empty); on failure the caller still owns val. */
static int writer_put(struct gguf_writer *w, const char *key, size_t key_len,
                      uint32_t type, struct buf *val)
{
    if (key_len == 0 || key_len > GGUF_MAX_STR_LEN)
        return SMOL_EINVAL;
    for (size_t i = 0; i < w->n_kv; i++) {
        struct writer_kv *kv = &w->kv[i];
        if (kv->key_len == key_len && memcmp(kv->key, key, key_len) == 0) {
            /* Replace in place: the key keeps its position. */
            buf_release(&kv->val);
            kv->val = *val;
            kv->type = type;
            buf_init(val);
            return 0;
        }
    }
    if (grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof(*w->kv)))
        return SMOL_ENOMEM;
    char *k = mem_strndup(key, key_len);
    if (!k)
        return SMOL_ENOMEM;
    w->kv[w->n_kv++] = (struct writer_kv){k, key_len, type, *val};
    buf_init(val);
    return 0;
}

static int put_u32(struct buf *b, uint32_t v) { return buf_append(b, &v, 4); }
static int put_u64(struct buf *b, uint64_t v) { return buf_append(b, &v, 8); }

/* Appends a GGUF string (u64 length, bytes). */
static int put_str(struct buf *b, const void *s, uint64_t len)
{
    if (len > SIZE_MAX)
        return SMOL_ENOMEM;
    int rc = put_u64(b, len);
    return rc ? rc : buf_append(b, s, (size_t)len);
}

/* writer_put for a freshly built val, releasing it on failure. */
static int writer_put_built(struct gguf_writer *w, const char *key,
                            size_t key_len, uint32_t type, struct buf *val,
                            int build_rc)
{
    int rc = build_rc ? build_rc : writer_put(w, key, key_len, type, val);
    buf_release(val);
    return rc;
}

int gguf_writer_set_scalar(struct gguf_writer *w, const char *key,
                           uint32_t type, const void *v)
{
    uint64_t size = type_size(type);
    if (!w || !key || !v || size == 0)
        return SMOL_EINVAL;
    struct buf val;
    buf_init(&val);
    int rc;
    if (type == GGUF_TYPE_BOOL) {
        /* Readers (ours included) reject any bool byte but 0 and 1. */
        uint8_t b = *(const uint8_t *)v != 0;
        rc = buf_append(&val, &b, 1);
    } else {
        rc = buf_append(&val, v, (size_t)size);
    }
    return writer_put_built(w, key, strlen(key), type, &val, rc);
}

int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    return gguf_writer_set_scalar(w, key, GGUF_TYPE_UINT32, &v);
}

int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
    return gguf_writer_set_scalar(w, key, GGUF_TYPE_INT32, &v);
}

int gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v)
{
    return gguf_writer_set_scalar(w, key, GGUF_TYPE_UINT64, &v);
}

int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
    return gguf_writer_set_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}

int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v;
    return gguf_writer_set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
    if (!w || !key || !v)
        return SMOL_EINVAL;
    struct buf val;
    buf_init(&val);
    int rc = put_str(&val, v, strlen(v));
    return writer_put_built(w, key, strlen(key), GGUF_TYPE_STRING, &val, rc);
}

/* Builds the value bytes of a fixed-size array into val. */
static int build_arr(struct buf *val, uint32_t elem_type, const void *data,
                     uint64_t n)
{
    uint64_t size = type_size(elem_type), bytes;
    if (size == 0 || (n && !data) || !mem_mul(n, size, &bytes) ||
        bytes > SIZE_MAX)
        return SMOL_EINVAL;
    int rc = put_u32(val, elem_type);
    if (!rc)
        rc = put_u64(val, n);
    if (rc || elem_type != GGUF_TYPE_BOOL)
        return rc ? rc : buf_append(val, data, (size_t)bytes);
    for (uint64_t i = 0; i < n && !rc; i++) {
        char b = ((const uint8_t *)data)[i] != 0; /* 0/1, as for scalars */
        rc = buf_append_char(val, b);
    }
    return rc;
}

int gguf_writer_set_arr(struct gguf_writer *w, const char *key,
                        uint32_t elem_type, const void *data, uint64_t n)
{
    if (!w || !key)
        return SMOL_EINVAL;
    struct buf val;
    buf_init(&val);
    int rc = build_arr(&val, elem_type, data, n);
    return writer_put_built(w, key, strlen(key), GGUF_TYPE_ARRAY, &val, rc);
}

int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key,
                            const struct gguf_str *v, uint64_t n)
{
    if (!w || !key || (n && !v))
        return SMOL_EINVAL;
    struct buf val;
    buf_init(&val);
    int rc = put_u32(&val, GGUF_TYPE_STRING);
    if (!rc)
        rc = put_u64(&val, n);
    for (uint64_t i = 0; i < n && !rc; i++)
        rc = put_str(&val, v[i].ptr, v[i].len);
    return writer_put_built(w, key, strlen(key), GGUF_TYPE_ARRAY, &val, rc);
}

/* The on-disk bytes of a parsed value, which follow its type: a view
 * into the map (values are contiguous there). */
static void kv_value_span(const struct gguf_kv *kv, const uint8_t **start,
                          uint64_t *len)
{
    if (kv->type == GGUF_TYPE_STRING) {
        *start = kv->data - 8; /* the u64 length before the characters */
        *len = 8 + kv->n;
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        uint64_t body = kv->n * type_size(kv->arr_type);
        if (kv->arr_type == GGUF_TYPE_STRING) {
            /* Walk the elements: each is a u64 length and its bytes. */
            const uint8_t *p = kv->data;
            for (uint64_t i = 0; i < kv->n; i++) {
                uint64_t l;
                memcpy(&l, p, 8);
                p += 8 + l;
            }
            body = (uint64_t)(p - kv->data);
        }
        *start = kv->data - 12; /* element type and count */
        *len = 12 + body;
    } else {
        *start = kv->data;
        *len = type_size(kv->type);
    }
}

int gguf_writer_copy_kv_one(struct gguf_writer *w, const struct gguf_kv *kv)
{
    if (!w || !kv)
        return SMOL_EINVAL;
    const uint8_t *start;
    uint64_t len;
    kv_value_span(kv, &start, &len);
    struct buf val;
    buf_init(&val);
    int rc = len > SIZE_MAX ? SMOL_ENOMEM : buf_append(&val, start, (size_t)len);
    return writer_put_built(w, kv->key.ptr, (size_t)kv->key.len, kv->type, &val, rc);
}

int gguf_writer_remove(struct gguf_writer *w, const char *key)
{
    if (!w || !key)
        return SMOL_EINVAL;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) != 0)
            continue;
        free(w->kv[i].key);
        buf_release(&w->kv[i].val);
        /* keep the others in order: key order is part of the file */
        memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof(*w->kv));
        w->n_kv--;
        return 0;
    }
    return SMOL_ENOTFOUND;
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *f)
{
    if (!w || !f)
        return SMOL_EINVAL;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        const uint8_t *start;
        uint64_t len;
        kv_value_span(kv, &start, &len);
        struct buf val;
        buf_init(&val);
        int rc = len > SIZE_MAX ? SMOL_ENOMEM
                                : buf_append(&val, start, (size_t)len);
        rc = writer_put_built(w, kv->key.ptr, (size_t)kv->key.len, kv->type,
                              &val, rc);
        if (rc)
            return rc;
    }
    return 0;
}

/* Adds a tensor whose bytes are data[0..size) or, when fill is set,
 * produced by fill at write time (size is then computed here). */
static int writer_add(struct gguf_writer *w, const char *name, uint32_t type,
                      uint32_t n_dims, const uint64_t *ne, const void *data,
                      uint64_t size, gguf_rows_fn fill, void *user,
                      struct smol_err *err)
{
    if (!w || !name || !ne || (!fill && size && !data))
        return err_set(err, SMOL_EINVAL, "gguf: add_tensor: NULL argument");
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > GGUF_MAX_STR_LEN)
        return err_set(err, SMOL_EINVAL, "gguf: tensor name length %zu is "
                       "not 1..%u", name_len, GGUF_MAX_STR_LEN);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return err_set(err, SMOL_EINVAL, "gguf: tensor '%s' has n_dims %u "
                       "(must be 1..%d)", name, n_dims, GGUF_MAX_DIMS);
    const struct quant_type_info *ti = quant_type_info(type);
    if (!ti)
        return err_set(err, SMOL_EINVAL, "gguf: tensor '%s' has unknown "
                       "type %u", name, type);
    uint64_t n_elem = 1, row, want;
    for (uint32_t i = 0; i < n_dims; i++)
        if (ne[i] == 0 || !mem_mul(n_elem, ne[i], &n_elem) ||
            n_elem > GGUF_MAX_ELEMENTS)
            return err_set(err, SMOL_EINVAL, "gguf: tensor '%s' has a bad "
                           "dimension ne[%u] = %" PRIu64, name, i, ne[i]);
    if (!quant_row_size(type, ne[0], &row) ||
        !mem_mul(row, n_elem / ne[0], &want))
        return err_set(err, SMOL_EINVAL, "gguf: tensor '%s' row length %"
                       PRIu64 " is not a multiple of the %s block size %u",
                       name, ne[0], ti->name, ti->block_size);
    if (fill)
        size = want;
    if (size != want)
        return err_set(err, SMOL_EINVAL, "gguf: tensor '%s' has %" PRIu64
                       " bytes of data, its shape and type need %" PRIu64,
                       name, size, want);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (w->tensors[i].name_len == name_len &&
            memcmp(w->tensors[i].name, name, name_len) == 0)
            return err_set(err, SMOL_EINVAL, "gguf: duplicate tensor name "
                           "'%s'", name);

    if (grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors,
             sizeof(*w->tensors)))
        return err_set(err, SMOL_ENOMEM, "gguf: out of memory");
    struct writer_tensor *t = &w->tensors[w->n_tensors];
    *t = (struct writer_tensor){.name = mem_strndup(name, name_len),
                                .name_len = name_len, .type = type,
                                .n_dims = n_dims, .data = data, .size = size,
                                .fill = fill, .user = user};
    if (!t->name)
        return err_set(err, SMOL_ENOMEM, "gguf: out of memory");
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++)
        t->ne[i] = i < n_dims ? ne[i] : 1;
    w->n_tensors++;
    return 0;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
                           uint32_t type, uint32_t n_dims, const uint64_t *ne,
                           const void *data, uint64_t size,
                           struct smol_err *err)
{
    return writer_add(w, name, type, n_dims, ne, data, size, NULL, NULL, err);
}

int gguf_writer_add_tensor_rows(struct gguf_writer *w, const char *name,
                                uint32_t type, uint32_t n_dims,
                                const uint64_t *ne, gguf_rows_fn fill,
                                void *user, struct smol_err *err)
{
    if (!fill)
        return err_set(err, SMOL_EINVAL, "gguf: add_tensor_rows: NULL fill");
    return writer_add(w, name, type, n_dims, ne, NULL, 0, fill, user, err);
}

/* A FILE with a running offset and a sticky failure. */
struct out {
    FILE *fp;
    uint64_t off;
    bool failed;
};

static void out_bytes(struct out *o, const void *p, uint64_t n)
{
    if (o->failed || n == 0)
        return;
    if (fwrite(p, 1, (size_t)n, o->fp) != n)
        o->failed = true;
    o->off += n;
}

static void out_u32(struct out *o, uint32_t v) { out_bytes(o, &v, 4); }
static void out_u64(struct out *o, uint64_t v) { out_bytes(o, &v, 8); }

/* Zero bytes up to the next multiple of align. */
static void out_pad(struct out *o, uint64_t align)
{
    static const uint8_t zeros[256];
    uint64_t pad = (align - o->off % align) % align;
    while (pad > 0) {
        uint64_t n = MIN(pad, (uint64_t)sizeof(zeros));
        out_bytes(o, zeros, n);
        pad -= n;
    }
}

/* The writer's alignment: general.alignment if set (validated), else 32. */
static int writer_alignment(const struct gguf_writer *w, uint64_t *align,
                            struct smol_err *err)
{
    *align = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        const struct writer_kv *kv = &w->kv[i];
        if (strcmp(kv->key, GGUF_ALIGNMENT_KEY) != 0)
            continue;
        uint32_t a = 0;
        if (kv->type == GGUF_TYPE_UINT32)
            memcpy(&a, kv->val.data, sizeof(a));
        if (a == 0 || (a & (a - 1)) != 0)
            return err_set(err, SMOL_EINVAL, "gguf: general.alignment must "
                           "be a nonzero power-of-two uint32");
        *align = a;
    }
    return 0;
}

/* Bytes of rows a streamed tensor is produced in: big enough that the
 * callback's per-call cost vanishes, small enough to stay in cache. */
#define STREAM_CHUNK_BYTES (4u << 20)

/* Writes a streamed tensor's data: asks its fill for whole rows, at
 * most STREAM_CHUNK_BYTES at a time (at least one row), through one
 * buffer, so memory stays bounded however big the tensor is. */
static int writer_stream(const struct writer_tensor *t, struct out *o,
                         struct smol_err *err)
{
    uint64_t row_bytes = 0;
    quant_row_size(t->type, t->ne[0], &row_bytes); /* checked when added */
    const uint64_t n_rows = t->size / row_bytes;
    const uint64_t chunk = MAX(1, STREAM_CHUNK_BYTES / row_bytes);
    uint8_t *buf = mem_alloc_array(MIN(chunk, n_rows), row_bytes);
    if (!buf)
        return err_set(err, SMOL_ENOMEM, "gguf: out of memory streaming "
                       "tensor '%s'", t->name);
    int rc = 0;
    for (uint64_t r = 0; r < n_rows && !rc && !o->failed; r += chunk) {
        uint64_t n = MIN(chunk, n_rows - r);
        rc = t->fill(t->user, r, n, buf, err);
        if (!rc)
            out_bytes(o, buf, n * row_bytes);
        else /* keeps fill's own message if it set one */
            err_set(err, rc, "gguf: producing tensor '%s' failed at row %"
                    PRIu64, t->name, r);
    }
    free(buf);
    return rc;
}

/* Writes the whole file to o: header, keys, infos, padded data. */
static int writer_emit(const struct gguf_writer *w, struct out *o,
                       uint64_t align, struct smol_err *err)
{
    out_u32(o, GGUF_MAGIC);
    out_u32(o, 3);
    out_u64(o, w->n_tensors);
    out_u64(o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        const struct writer_kv *kv = &w->kv[i];
        out_u64(o, kv->key_len);
        out_bytes(o, kv->key, kv->key_len);
        out_u32(o, kv->type);
        out_bytes(o, kv->val.data, kv->val.len);
    }
    /* Offsets are the running sum of sizes, each padded to align, as
     * llama.cpp writes them. */
    uint64_t data_off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct writer_tensor *t = &w->tensors[i];
        out_u64(o, t->name_len);
        out_bytes(o, t->name, t->name_len);
        out_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            out_u64(o, t->ne[d]);
        out_u32(o, t->type);
        out_u64(o, data_off);
        if (!mem_add(data_off, t->size, &data_off) ||
            !mem_align_up(data_off, align, &data_off))
            return err_set(err, SMOL_EINVAL, "gguf: tensor data of '%s' "
                           "overflows 64-bit offsets", t->name);
    }
    /* The reference writers pad the metadata only when data follows: a
     * vocab-only file ends right after its last key. */
    if (w->n_tensors > 0)
        out_pad(o, align);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct writer_tensor *t = &w->tensors[i];
        if (t->fill) {
            int rc = writer_stream(t, o, err);
            if (rc)
                return rc;
        } else {
            out_bytes(o, t->data, t->size);
        }
        out_pad(o, align);
    }
    return 0;
}

int gguf_writer_write(struct gguf_writer *w, const char *path,
                      struct smol_err *err)
{
    if (!w || !path)
        return err_set(err, SMOL_EINVAL, "gguf: write needs a writer and "
                       "a path");
    uint64_t align;
    int rc = writer_alignment(w, &align, err);
    if (rc)
        return rc;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof(".tmp"));
    if (!tmp)
        return err_set(err, SMOL_ENOMEM, "gguf: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", sizeof(".tmp"));

    /* Write beside the target and rename, so a reader never sees a
     * half-written model and a failure leaves the old file alone. */
    struct out o = {.fp = fopen(tmp, "wb")};
    if (!o.fp) {
        rc = err_set(err, SMOL_EIO, "gguf: cannot create '%s': %s", tmp,
                     strerror(errno));
        goto free_tmp;
    }
    rc = writer_emit(w, &o, align, err);
    if (rc)
        goto remove_tmp;
    if (o.failed || fflush(o.fp) != 0 || fsync(fileno(o.fp)) != 0) {
        rc = err_set(err, SMOL_EIO, "gguf: writing '%s' failed near offset %"
                     PRIu64 ": %s", tmp, o.off, strerror(errno));
        goto remove_tmp;
    }
    int close_rc = fclose(o.fp);
    o.fp = NULL;
    if (close_rc != 0) {
        rc = err_set(err, SMOL_EIO, "gguf: closing '%s' failed: %s", tmp,
                     strerror(errno));
        goto remove_tmp;
    }
    if (rename(tmp, path) != 0) {
        rc = err_set(err, SMOL_EIO, "gguf: cannot rename '%s' to '%s': %s",
                     tmp, path, strerror(errno));
        goto remove_tmp;
    }
    goto free_tmp;
remove_tmp:
    if (o.fp)
        fclose(o.fp);
    unlink(tmp);
free_tmp:
    free(tmp);
    return rc;
}
