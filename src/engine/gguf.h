/*
 * gguf.h: reading and writing GGUF files (versions 2 and 3).
 *
 * Reading: gguf_open memory-maps the file read-only and validates all of
 * it before returning: magic, version, every count, string length,
 * array length, dimension and byte size is checked against the file
 * with overflow-safe arithmetic; duplicate keys and tensor names are
 * rejected; general.alignment must be a nonzero power of two (and a
 * u32); each tensor's data must lie inside the file, aligned (to the
 * alignment, and its file offset to what the type's blocks need: 4 bytes
 * for F32, 2 for F16 or Q8_0, ...), and not overlap another. A malformed or truncated file fails with SMOL_EFORMAT
 * and a sentence naming the field and its byte offset; nothing ever
 * reads outside the map. Tensors of a type we do not know fail too.
 *
 * Everything returned by lookups (keys, strings, tensor data) is a view
 * into the map: valid until gguf_close, never NUL-terminated.
 *
 * Writing: struct gguf_writer collects metadata and tensors (borrowed
 * pointers, valid until gguf_writer_write returns; or streamed, produced
 * by a callback while writing) and writes a valid version 3 file. Used
 * by the tests, `quantize` and `synth`.
 */
#ifndef SMOL_GGUF_H
#define SMOL_GGUF_H

#include "base.h"
#include "err.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* Metadata value types, as numbered in the GGUF spec. */
enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
};

/* A string view into the file: not NUL-terminated. */
struct gguf_str {
    const char *ptr;
    uint64_t len;
};

/* One metadata key/value. For scalars, `data` points at the value bytes
 * (little-endian, unaligned: read with memcpy). For strings, `data`
 * points at the characters and n is the length. For arrays, arr_type is
 * the element type, n the count, and `data` points at the first element
 * (for string arrays: the first element's u64 length prefix). */
struct gguf_kv {
    struct gguf_str key;
    uint32_t type;     /* enum gguf_type */
    uint32_t arr_type; /* element type when type == GGUF_TYPE_ARRAY */
    uint64_t n;        /* array count, or string length */
    const uint8_t *data;
    uint64_t offset;   /* file offset of the key, for error messages */
};

struct gguf_tensor {
    struct gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
    uint32_t type;              /* enum ggml_type (quant.h) */
    uint64_t offset;            /* relative to the data section */
    uint64_t size;              /* bytes of data */
    const void *data;           /* view into the map */
};

struct gguf_file {
    uint32_t version;
    uint64_t n_kv;
    struct gguf_kv *kv;           /* owned array of n_kv */
    uint64_t n_tensors;
    struct gguf_tensor *tensors;  /* owned array of n_tensors */
    uint64_t alignment;
    uint64_t data_offset;         /* file offset of the tensor data section
                                     (clamped to size in a tensor-less file
                                     that ends before its padding) */
    const uint8_t *base;          /* start of the map (or caller's buffer) */
    uint64_t size;                /* bytes in the file */
    bool is_mapped;               /* true when we own an mmap */
    uint64_t map_size;            /* bytes of that mmap (whole huge pages when loaded) */
};

/* Maps and validates path. On success *out owns the map (gguf_close);
 * on failure *out is NULL. */
int gguf_open(struct gguf_file **out, const char *path, struct smol_err *err);

/* gguf_open's flags. GGUF_OPEN_LOAD reads the whole file into private
 * anonymous memory, 2 MiB-aligned and advised for transparent huge pages,
 * then made read-only, instead of mapping the file: decoding reads every
 * weight once per token, and with 2 MiB pages its cache lines come in
 * faster (measured: decode +10% on the 3B Q4_K_M, two threads), and a
 * file changed on disk afterwards can no longer affect the process. A
 * file larger than 90% of the available memory (MemAvailable) is mapped
 * anyway: allocating it would succeed and then summon the OOM killer. */
enum { GGUF_OPEN_LOAD = 1 };
int gguf_open_ex(struct gguf_file **out, const char *path, int flags, struct smol_err *err);

/* Validates a file already in memory (tests, fuzzers). data is borrowed
 * and must outlive *out. */
int gguf_open_mem(struct gguf_file **out, const void *data, size_t size,
                  struct smol_err *err);

void gguf_close(struct gguf_file *f); /* accepts NULL */

/* Lookups: NULL when absent. key is a NUL-terminated C string. */
const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f,
                                           const char *name);

/* Typed getters. Each returns 0, SMOL_ENOTFOUND when the key is absent
 * (err untouched, so callers can treat keys as optional), or
 * SMOL_EFORMAT with a sentence when the key has the wrong type or the
 * value does not fit. Integer getters accept any integer type whose
 * value fits the destination. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out,
                 struct smol_err *err);
int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out,
                 struct smol_err *err);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out,
                 struct smol_err *err); /* FLOAT32 or FLOAT64 */
int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out,
                  struct smol_err *err);
int gguf_get_str(const struct gguf_file *f, const char *key,
                 struct gguf_str *out, struct smol_err *err);
/* An array whose elements have type elem_type: *n and *data as in
 * struct gguf_kv. */
int gguf_get_arr(const struct gguf_file *f, const char *key,
                 uint32_t elem_type, uint64_t *n, const uint8_t **data,
                 struct smol_err *err);
/* Fills out[0..kv->n) with views of a string array's elements. out is
 * caller-allocated. Returns 0 or SMOL_EINVAL if kv is not a string array. */
int gguf_arr_strings(const struct gguf_kv *kv, struct gguf_str *out);

/* Name of a metadata type ("uint32"), "?" if unknown. */
const char *gguf_type_name(uint32_t type);

/* True when s equals the C string c. */
bool gguf_str_eq(struct gguf_str s, const char *c);

/* ---- writing ---- */

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void); /* NULL on ENOMEM */
void gguf_writer_free(struct gguf_writer *w);

/* Setters copy key and value. Setting an existing key replaces it and
 * keeps its position. Return 0, SMOL_ENOMEM, or SMOL_EINVAL for a NULL
 * argument, an empty key or a key over 64 KiB. */
int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
/* Any fixed-size type (not STRING/ARRAY): v points at one value of that
 * type in host order (little-endian, as in the file); a BOOL is one byte,
 * written as 0 or 1. SMOL_EINVAL for STRING, ARRAY or an unknown type. */
int gguf_writer_set_scalar(struct gguf_writer *w, const char *key,
                           uint32_t type, const void *v);
/* Array of fixed-size elements (not STRING/ARRAY): n * size bytes copied. */
int gguf_writer_set_arr(struct gguf_writer *w, const char *key,
                        uint32_t elem_type, const void *data, uint64_t n);
/* Array of strings given as views (copied). */
int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key,
                            const struct gguf_str *v, uint64_t n);
/* Copies every key/value of f (used by quantize to keep metadata). */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *f);
/* Copies one key/value read from a file (kv borrowed for the call). */
int gguf_writer_copy_kv_one(struct gguf_writer *w, const struct gguf_kv *kv);
/* Removes key, keeping the others in order: 0, or SMOL_ENOTFOUND.
 * Removing then setting a key moves it to the end, as ggml's
 * gguf_set_* does (llama-quantize's general.file_type comes last). */
int gguf_writer_remove(struct gguf_writer *w, const char *key);

/* Adds a tensor. ne has n_dims entries; data (size bytes, which must
 * equal the type's row size times the rows) is borrowed until write. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
                           uint32_t type, uint32_t n_dims, const uint64_t *ne,
                           const void *data, uint64_t size,
                           struct smol_err *err);

/* Produces rows [row, row + n_rows) of a streamed tensor into dst
 * (n_rows times the row size bytes). Returns 0, or a negative status
 * with err set, which fails the write. */
typedef int (*gguf_rows_fn)(void *user, uint64_t row, uint64_t n_rows,
                            void *dst, struct smol_err *err);

/* Adds a streamed tensor: its data is produced at write time by fill,
 * in row order, a few MiB at a time, so a model bigger than memory can
 * be written (user is borrowed until write returns). The header is
 * computed from shapes and types alone, so the file is byte-identical to
 * one written with gguf_writer_add_tensor and the same bytes. */
int gguf_writer_add_tensor_rows(struct gguf_writer *w, const char *name,
                                uint32_t type, uint32_t n_dims,
                                const uint64_t *ne, gguf_rows_fn fill,
                                void *user, struct smol_err *err);

/* Writes the file (version 3; alignment from general.alignment if set,
 * else 32). Writes to path.tmp then renames. */
int gguf_writer_write(struct gguf_writer *w, const char *path,
                      struct smol_err *err);

#endif
