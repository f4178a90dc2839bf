/*
 * test_gguf.c: the GGUF reader and writer.
 *
 * Round trips through the writer (every metadata type, several tensor
 * types, alignment 64, a v2 header); then hand-built malformed files,
 * each of which must fail with SMOL_EFORMAT and a message that names the
 * problem; truncation at every prefix; a seeded random-mutation loop;
 * and, when ../shared/fixtures exists, the real model files.
 *
 * Malformed inputs are opened from an exactly-sized heap copy, so any
 * read past the end is an AddressSanitizer report, not a silent pass.
 */
#include "testutil.h"

#include "buf.h"
#include "err.h"
#include "gguf.h"
#include "quant.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

/* ================================================================ */
/* Helpers: building bytes by hand, opening them                     */
/* ================================================================ */

static void put(struct buf *b, const void *p, size_t n)
{
    assert_int_equal(buf_append(b, p, n), 0);
}

static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }

static void put_str(struct buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void put_hdr(struct buf *b, uint32_t version, uint64_t n_tensors,
                    uint64_t n_kv)
{
    put_u32(b, GGUF_MAGIC);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void put_kv_u32(struct buf *b, const char *key, uint32_t v)
{
    put_str(b, key);
    put_u32(b, GGUF_TYPE_UINT32);
    put_u32(b, v);
}

static void put_kv_str(struct buf *b, const char *key, const char *v)
{
    put_str(b, key);
    put_u32(b, GGUF_TYPE_STRING);
    put_str(b, v);
}

static void put_tinfo(struct buf *b, const char *name, uint32_t n_dims,
                      const uint64_t *ne, uint32_t type, uint64_t offset)
{
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

static void put_zeros(struct buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(buf_append_char(b, 0), 0);
}

static void put_pad(struct buf *b, size_t align)
{
    put_zeros(b, (align - b->len % align) % align);
}

/* Opens data[0..len) from an exactly-sized copy; returns the status and
 * fills err. The file (on success) is checked and closed. */
static int open_copy(const void *data, size_t len, struct smol_err *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    static struct gguf_file sentinel; /* gguf_open_mem must reset *out */
    struct gguf_file *f = &sentinel;
    err_clear(err);
    int rc = gguf_open_mem(&f, copy, len, err);
    if (rc == 0)
        assert_non_null(f);
    else
        assert_null(f);
    gguf_close(f);
    free(copy);
    return rc;
}

/* Asserts that data[0..len) fails with code and a message containing
 * every non-NULL want string. */
static void expect_fail(const struct buf *b, int code, const char *want,
                        const char *want2)
{
    struct smol_err err;
    int rc = open_copy(b->data, b->len, &err);
    if (rc != code || !strstr(err.msg, want) ||
        (want2 && !strstr(err.msg, want2)))
        print_error("rc %d, message '%s'; wanted %d with '%s'%s%s\n", rc,
                    err.msg, code, want, want2 ? " and " : "",
                    want2 ? want2 : "");
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, "gguf: "));
    assert_non_null(strstr(err.msg, want));
    if (want2)
        assert_non_null(strstr(err.msg, want2));
}

static bool str_is(struct gguf_str s, const char *c)
{
    return gguf_str_eq(s, c);
}

/* Fills n bytes with a seeded pattern. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)test_rand_u64(&seed);
}

/* Writes w to a fresh temporary path (returned, static slot) and checks
 * that no .tmp file is left behind. */
static const char *write_tmp(struct gguf_writer *w)
{
    const char *path = test_tmp_path(".gguf");
    struct smol_err err;
    err_clear(&err);
    int rc = gguf_writer_write(w, path, &err);
    if (rc)
        print_error("write failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
    return path;
}

static struct gguf_file *open_path(const char *path)
{
    struct gguf_file *f = NULL;
    struct smol_err err;
    err_clear(&err);
    int rc = gguf_open(&f, path, &err);
    if (rc)
        print_error("open %s failed: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(f);
    return f;
}

/* ================================================================ */
/* Round trips                                                       */
/* ================================================================ */

/* One scalar of every type, by gguf_writer_set_scalar. */
struct scalar_case {
    const char *key;
    uint32_t type;
    uint8_t bytes[8];
};

static const struct scalar_case scalars[] = {
    {"t.u8", GGUF_TYPE_UINT8, {0xfe}},
    {"t.i8", GGUF_TYPE_INT8, {0x80}},
    {"t.u16", GGUF_TYPE_UINT16, {0x34, 0x12}},
    {"t.i16", GGUF_TYPE_INT16, {0xff, 0xff}},
    {"t.u32", GGUF_TYPE_UINT32, {1, 2, 3, 4}},
    {"t.i32", GGUF_TYPE_INT32, {0xfb, 0xff, 0xff, 0xff}},          /* -5 */
    {"t.f32", GGUF_TYPE_FLOAT32, {0x00, 0x00, 0xc0, 0x3f}},        /* 1.5 */
    {"t.bool", GGUF_TYPE_BOOL, {1}},
    {"t.u64", GGUF_TYPE_UINT64, {1, 2, 3, 4, 5, 6, 7, 0x80}},
    {"t.i64", GGUF_TYPE_INT64, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    {"t.f64", GGUF_TYPE_FLOAT64, {0, 0, 0, 0, 0, 0, 0x04, 0xc0}},   /* -2.5 */
};

static const uint32_t fixed_types[] = {
    GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16, GGUF_TYPE_INT16,
    GGUF_TYPE_UINT32, GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL,
    GGUF_TYPE_UINT64, GGUF_TYPE_INT64, GGUF_TYPE_FLOAT64,
};
static const uint32_t fixed_sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 8, 8};

static const char *const strings[] = {"", "hello", "\xc4\xa0world", "a\nb"};

/* Every metadata type: scalars, a string, arrays of every fixed element
 * type (bools as 0/1), a string array; all in insertion order. */
static void add_all_metadata(struct gguf_writer *w)
{
    for (size_t i = 0; i < ARRAY_SIZE(scalars); i++)
        assert_int_equal(gguf_writer_set_scalar(w, scalars[i].key,
                                                scalars[i].type,
                                                scalars[i].bytes), 0);
    assert_int_equal(gguf_writer_set_str(w, "t.str", "SmolLM3 \xe2\x9c\x93"), 0);
    for (size_t i = 0; i < ARRAY_SIZE(fixed_types); i++) {
        uint8_t data[5 * 8];
        fill_random(data, sizeof(data), 100 + i);
        if (fixed_types[i] == GGUF_TYPE_BOOL)
            for (size_t j = 0; j < 5; j++)
                data[j] &= 1;
        char key[32];
        snprintf(key, sizeof(key), "a.%s", gguf_type_name(fixed_types[i]));
        assert_int_equal(gguf_writer_set_arr(w, key, fixed_types[i], data, 5), 0);
    }
    struct gguf_str sv[ARRAY_SIZE(strings)];
    for (size_t i = 0; i < ARRAY_SIZE(strings); i++)
        sv[i] = (struct gguf_str){strings[i], strlen(strings[i])};
    assert_int_equal(gguf_writer_set_arr_str(w, "a.string", sv,
                                             ARRAY_SIZE(strings)), 0);
    assert_int_equal(gguf_writer_set_arr_str(w, "a.empty", NULL, 0), 0);
}

static void check_all_metadata(const struct gguf_file *f)
{
    size_t k = 0;
    for (size_t i = 0; i < ARRAY_SIZE(scalars); i++, k++) {
        const struct gguf_kv *kv = &f->kv[k];
        assert_true(str_is(kv->key, scalars[i].key));
        assert_ptr_equal(gguf_find_kv(f, scalars[i].key), kv);
        assert_int_equal(kv->type, scalars[i].type);
        assert_memory_equal(kv->data, scalars[i].bytes,
                            fixed_sizes[i]);
    }
    struct gguf_str s;
    assert_int_equal(gguf_get_str(f, "t.str", &s, NULL), 0);
    assert_true(str_is(s, "SmolLM3 \xe2\x9c\x93"));
    assert_true(str_is(f->kv[k++].key, "t.str"));

    for (size_t i = 0; i < ARRAY_SIZE(fixed_types); i++, k++) {
        uint8_t data[5 * 8];
        fill_random(data, sizeof(data), 100 + i);
        if (fixed_types[i] == GGUF_TYPE_BOOL)
            for (size_t j = 0; j < 5; j++)
                data[j] &= 1;
        char key[32];
        snprintf(key, sizeof(key), "a.%s", gguf_type_name(fixed_types[i]));
        assert_true(str_is(f->kv[k].key, key));
        uint64_t n = 0;
        const uint8_t *p = NULL;
        assert_int_equal(gguf_get_arr(f, key, fixed_types[i], &n, &p, NULL), 0);
        assert_int_equal(n, 5);
        assert_memory_equal(p, data, 5 * fixed_sizes[i]);
    }

    const struct gguf_kv *kv = gguf_find_kv(f, "a.string");
    assert_ptr_equal(kv, &f->kv[k++]);
    assert_int_equal(kv->type, GGUF_TYPE_ARRAY);
    assert_int_equal(kv->arr_type, GGUF_TYPE_STRING);
    assert_int_equal(kv->n, ARRAY_SIZE(strings));
    struct gguf_str sv[ARRAY_SIZE(strings)];
    assert_int_equal(gguf_arr_strings(kv, sv), 0);
    for (size_t i = 0; i < ARRAY_SIZE(strings); i++)
        assert_true(str_is(sv[i], strings[i]));
    kv = gguf_find_kv(f, "a.empty");
    assert_non_null(kv);
    assert_int_equal(kv->n, 0);
    assert_int_equal(gguf_arr_strings(kv, NULL), 0);
    assert_int_equal(gguf_arr_strings(gguf_find_kv(f, "a.int32"), sv),
                     SMOL_EINVAL);
}

static void test_roundtrip_metadata(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    add_all_metadata(w);
    /* Replacing a key keeps its position and takes the new value. */
    uint32_t old = 7;
    assert_int_equal(gguf_writer_set_scalar(w, "t.u32", GGUF_TYPE_UINT32,
                                            &old), 0);
    assert_int_equal(gguf_writer_set_scalar(w, "t.u32", GGUF_TYPE_UINT32,
                                            scalars[4].bytes), 0);
    /* Strings and arrays cannot go through the scalar setter. */
    assert_int_equal(gguf_writer_set_scalar(w, "x", GGUF_TYPE_STRING, &old),
                     SMOL_EINVAL);
    assert_int_equal(gguf_writer_set_arr(w, "x", GGUF_TYPE_STRING, &old, 1),
                     SMOL_EINVAL);
    assert_int_equal(gguf_writer_set_arr(w, "x", 99, &old, 1), SMOL_EINVAL);
    const char *path = write_tmp(w);
    gguf_writer_free(w);

    struct gguf_file *f = open_path(path);
    assert_int_equal(f->version, 3);
    assert_int_equal(f->n_kv, ARRAY_SIZE(scalars) + 1 +
                                  ARRAY_SIZE(fixed_types) + 2);
    assert_int_equal(f->n_tensors, 0);
    assert_true(f->is_mapped);
    check_all_metadata(f);

    /* Typed getters over the same values. */
    uint32_t u32;
    int64_t i64;
    float f32;
    bool b;
    assert_int_equal(gguf_get_u32(f, "t.u8", &u32, NULL), 0);
    assert_int_equal(u32, 0xfe);
    assert_int_equal(gguf_get_u32(f, "t.u16", &u32, NULL), 0);
    assert_int_equal(u32, 0x1234);
    assert_int_equal(gguf_get_u32(f, "t.u32", &u32, NULL), 0);
    assert_int_equal(u32, 0x04030201);
    assert_int_equal(gguf_get_i64(f, "t.i8", &i64, NULL), 0);
    assert_int_equal(i64, -128);
    assert_int_equal(gguf_get_i64(f, "t.i16", &i64, NULL), 0);
    assert_int_equal(i64, -1);
    assert_int_equal(gguf_get_i64(f, "t.i32", &i64, NULL), 0);
    assert_int_equal(i64, -5);
    assert_int_equal(gguf_get_i64(f, "t.i64", &i64, NULL), 0);
    assert_int_equal(i64, -2);
    assert_int_equal(gguf_get_f32(f, "t.f32", &f32, NULL), 0);
    assert_true(f32 == 1.5f);
    assert_int_equal(gguf_get_f32(f, "t.f64", &f32, NULL), 0);
    assert_true(f32 == -2.5f);
    assert_int_equal(gguf_get_bool(f, "t.bool", &b, NULL), 0);
    assert_true(b);
    gguf_close(f);
    unlink(path);
}

/* gguf_writer_copy_kv reproduces a tensor-less file byte for byte. */
static void test_copy_kv_identical(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    add_all_metadata(w);
    const char *p1 = write_tmp(w);
    gguf_writer_free(w);
    char path1[600];
    snprintf(path1, sizeof(path1), "%s", p1);

    struct gguf_file *f = open_path(path1);
    w = gguf_writer_new();
    assert_int_equal(gguf_writer_copy_kv(w, f), 0);
    const char *path2 = write_tmp(w);
    gguf_writer_free(w);
    gguf_close(f);

    size_t n1, n2;
    char *a = test_read_file(path1, &n1), *b = test_read_file(path2, &n2);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    unlink(path1);
    unlink(path2);
}

/* Tensors of several types; expected byte sizes are written out here
 * rather than taken from quant.c, so a wrong table entry fails too. */
struct tensor_case {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t size;
};

static const struct tensor_case tensors[] = {
    {"f32.weight", GGML_TYPE_F32, 2, {7, 3}, 7 * 3 * 4},
    {"f16.weight", GGML_TYPE_F16, 2, {5, 2}, 5 * 2 * 2},
    {"q8_0.weight", GGML_TYPE_Q8_0, 2, {64, 3}, 2 * 34 * 3},
    {"q4_k.weight", GGML_TYPE_Q4_K, 2, {256, 2}, 144 * 2},
    {"q6_k.weight", GGML_TYPE_Q6_K, 4, {512, 1, 1, 2}, 2 * 210 * 2},
    {"vec", GGML_TYPE_F32, 1, {3}, 12},
};

/* Adds the tensor cases to w with seeded data (freed by the caller). */
static uint8_t **add_tensors(struct gguf_writer *w)
{
    uint8_t **data = calloc(ARRAY_SIZE(tensors), sizeof(*data));
    assert_non_null(data);
    for (size_t i = 0; i < ARRAY_SIZE(tensors); i++) {
        const struct tensor_case *t = &tensors[i];
        data[i] = malloc(t->size);
        assert_non_null(data[i]);
        fill_random(data[i], t->size, 1000 + i);
        struct smol_err err;
        err_clear(&err);
        int rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne,
                                        data[i], t->size, &err);
        if (rc)
            print_error("add %s: %s\n", t->name, err.msg);
        assert_int_equal(rc, 0);
    }
    return data;
}

static void free_tensor_data(uint8_t **data)
{
    for (size_t i = 0; i < ARRAY_SIZE(tensors); i++)
        free(data[i]);
    free(data);
}

static void check_tensors(const struct gguf_file *f, uint8_t **data,
                          uint64_t align)
{
    assert_int_equal(f->alignment, align);
    assert_int_equal(f->data_offset % align, 0);
    assert_int_equal(f->n_tensors, ARRAY_SIZE(tensors));
    for (size_t i = 0; i < ARRAY_SIZE(tensors); i++) {
        const struct tensor_case *c = &tensors[i];
        const struct gguf_tensor *t = &f->tensors[i];
        assert_ptr_equal(gguf_find_tensor(f, c->name), t);
        assert_true(str_is(t->name, c->name));
        assert_int_equal(t->type, c->type);
        assert_int_equal(t->n_dims, c->n_dims);
        for (uint32_t d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], d < c->n_dims ? c->ne[d] : 1);
        assert_int_equal(t->size, c->size);
        assert_int_equal(t->offset % align, 0);
        assert_ptr_equal(t->data, f->base + f->data_offset + t->offset);
        assert_memory_equal(t->data, data[i], c->size);
    }
    assert_null(gguf_find_tensor(f, "missing"));
    assert_null(gguf_find_tensor(f, "vec2"));
    assert_int_equal(f->size % align, 0); /* the data section is padded */
}

static void test_roundtrip_tensors(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "test"), 0);
    uint8_t **data = add_tensors(w);
    const char *path = write_tmp(w);
    gguf_writer_free(w);

    struct gguf_file *f = open_path(path);
    check_tensors(f, data, 32);
    /* The writer packs tensors: each offset is the previous one's end
     * rounded up to the alignment. */
    assert_int_equal(f->tensors[0].offset, 0);
    assert_int_equal(f->tensors[1].offset, 96);
    gguf_close(f);
    free_tensor_data(data);
    unlink(path);
}

static void test_alignment_64(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 64), 0);
    uint8_t **data = add_tensors(w);
    const char *path = write_tmp(w);
    gguf_writer_free(w);
    struct gguf_file *f = open_path(path);
    check_tensors(f, data, 64);
    assert_int_equal(f->tensors[1].offset, 128);
    gguf_close(f);
    free_tensor_data(data);
    unlink(path);

    /* The writer refuses an alignment its reader would refuse. */
    w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 48), 0);
    struct smol_err err;
    err_clear(&err);
    path = test_tmp_path(".gguf");
    assert_int_equal(gguf_writer_write(w, path, &err), SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "power-of-two"));
    assert_int_not_equal(access(path, F_OK), 0);
    gguf_writer_free(w);
}

/* GGUF_OPEN_LOAD: the same file, read into 2 MiB-aligned memory of
 * whole 2 MiB pages, parsed the same way, with every byte equal. */
static void test_open_load(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    add_all_metadata(w);
    uint8_t **data = add_tensors(w);
    const char *path = write_tmp(w);
    gguf_writer_free(w);
    size_t len;
    char *bytes = test_read_file(path, &len);
    assert_non_null(bytes);
    struct smol_err err = {0};
    struct gguf_file *mapped = NULL, *loaded = NULL;
    assert_int_equal(gguf_open(&mapped, path, &err), 0);
    assert_int_equal(gguf_open_ex(&loaded, path, GGUF_OPEN_LOAD, &err), 0);
    assert_int_equal((uintptr_t)loaded->base % (2u << 20), 0);
    assert_int_equal(loaded->map_size % (2u << 20), 0);
    assert_true(loaded->map_size >= loaded->size);
    assert_int_equal(loaded->size, len);
    assert_memory_equal(loaded->base, bytes, len);
    assert_int_equal(loaded->n_kv, mapped->n_kv);
    assert_int_equal(loaded->n_tensors, mapped->n_tensors);
    for (uint64_t i = 0; i < loaded->n_tensors; i++) {
        assert_int_equal((const uint8_t *)loaded->tensors[i].data - loaded->base,
                         (const uint8_t *)mapped->tensors[i].data - mapped->base);
        assert_memory_equal(loaded->tensors[i].data, mapped->tensors[i].data,
                            loaded->tensors[i].size);
    }
    gguf_close(mapped);
    gguf_close(loaded);
    /* a truncated file is refused the same way when loaded */
    assert_int_equal(truncate(path, (off_t)(len / 2)), 0);
    err_clear(&err);
    assert_int_equal(gguf_open_ex(&loaded, path, GGUF_OPEN_LOAD, &err), SMOL_EFORMAT);
    assert_null(loaded);
    if (!strstr(err.msg, "truncat") && !strstr(err.msg, "past the file end"))
        fail_msg("unexpected error: %s", err.msg);
    free(bytes);
    free_tensor_data(data);
    unlink(path);
}

/* Version 2 has the same layout as 3 for every type we read. */
static void test_version2(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    add_all_metadata(w);
    uint8_t **data = add_tensors(w);
    const char *path = write_tmp(w);
    gguf_writer_free(w);
    size_t len;
    char *bytes = test_read_file(path, &len);
    assert_non_null(bytes);
    unlink(path);
    assert_int_equal((uint8_t)bytes[4], 3);
    bytes[4] = 2;

    struct gguf_file *f = NULL;
    struct smol_err err;
    err_clear(&err);
    assert_int_equal(gguf_open_mem(&f, bytes, len, &err), 0);
    assert_int_equal(f->version, 2);
    assert_false(f->is_mapped);
    check_all_metadata(f);
    check_tensors(f, data, 32);
    gguf_close(f);
    free(bytes);
    free_tensor_data(data);
}

/* ================================================================ */
/* Writer errors                                                     */
/* ================================================================ */

static void test_writer_errors(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    struct smol_err err;
    uint8_t data[64] = {0};
    uint64_t ne[2] = {33, 1};

    err_clear(&err);
    assert_int_equal(gguf_writer_add_tensor(w, "a", GGML_TYPE_Q8_0, 1, ne,
                                            data, 34, &err), SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "block size"));
    ne[0] = 4;
    err_clear(&err);
    assert_int_equal(gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 1, ne,
                                            data, 12, &err), SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "need 16"));
    err_clear(&err);
    assert_int_equal(gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 5, ne,
                                            data, 16, &err), SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "n_dims 5"));
    err_clear(&err);
    assert_int_equal(gguf_writer_add_tensor(w, "a", 99, 1, ne, data, 16, &err),
                     SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown type"));
    assert_int_equal(gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 1, ne,
                                            data, 16, NULL), 0);
    err_clear(&err);
    assert_int_equal(gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 1, ne,
                                            data, 16, &err), SMOL_EINVAL);
    assert_non_null(strstr(err.msg, "duplicate tensor name 'a'"));
    assert_int_equal(gguf_writer_set_u32(w, "", 1), SMOL_EINVAL);

    /* A directory that does not exist: EIO, nothing left behind. */
    err_clear(&err);
    assert_int_equal(gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err),
                     SMOL_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf.tmp"));
    gguf_writer_free(w);
    gguf_writer_free(NULL);
}

/* ================================================================ */
/* Malformed files                                                   */
/* ================================================================ */

static void test_truncated_header_message(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    put_hdr(&b, 3, 0, 0);
    b.len = 19;
    struct smol_err err;
    assert_int_equal(open_copy(b.data, b.len, &err), SMOL_EFORMAT);
    assert_string_equal(err.msg, "gguf: file truncated at offset 16 reading "
                                 "n_kv (need 8 bytes, 3 left)");
    assert_int_equal(open_copy(b.data, 0, &err), SMOL_EFORMAT);
    assert_non_null(strstr(err.msg, "reading magic (need 4 bytes, 0 left)"));
    buf_release(&b);
}

/* A small valid file whose last tensor ends exactly at the file end, so
 * that every strict prefix is invalid. Returns its bytes (caller frees). */
static char *small_file(size_t *len)
{
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "tiny"), 0);
    assert_int_equal(gguf_writer_set_u32(w, "tiny.block_count", 2), 0);
    assert_int_equal(gguf_writer_set_bool(w, "tiny.flag", true), 0);
    float fv[3] = {1, 2, 3};
    assert_int_equal(gguf_writer_set_arr(w, "tiny.f", GGUF_TYPE_FLOAT32, fv, 3), 0);
    struct gguf_str sv[3] = {{"a", 1}, {"", 0}, {"bc", 2}};
    assert_int_equal(gguf_writer_set_arr_str(w, "tiny.tokens", sv, 3), 0);
    static uint8_t q8[34], f32[64];
    fill_random(q8, sizeof(q8), 5);
    fill_random(f32, sizeof(f32), 6);
    uint64_t ne_q[1] = {32}, ne_f[2] = {4, 4};
    assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 1, ne_q,
                                            q8, sizeof(q8), NULL), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "f", GGML_TYPE_F32, 2, ne_f,
                                            f32, sizeof(f32), NULL), 0);
    const char *path = write_tmp(w);
    gguf_writer_free(w);
    char *bytes = test_read_file(path, len);
    assert_non_null(bytes);
    unlink(path);
    return bytes;
}

static void test_truncation_every_prefix(void **state)
{
    (void)state;
    size_t len;
    char *bytes = small_file(&len);
    struct smol_err err;
    assert_int_equal(open_copy(bytes, len, &err), 0);
    for (size_t n = 0; n < len; n++) {
        int rc = open_copy(bytes, n, &err);
        if (rc != SMOL_EFORMAT)
            print_error("prefix %zu of %zu opened (rc %d)\n", n, len, rc);
        assert_int_equal(rc, SMOL_EFORMAT);
        assert_int_equal(err.code, rc);
        /* Counts are checked against the bytes left first; then the
         * cursor runs out; inside the data, a tensor ends past the end. */
        bool named = strstr(err.msg, "cannot fit") ||
                     strstr(err.msg, "does not fit") ||
                     strstr(err.msg, "truncated") ||
                     strstr(err.msg, "past the file end");
        if (!named)
            print_error("prefix %zu: '%s'\n", n, err.msg);
        assert_true(named);
    }
    free(bytes);
}

static void test_bad_magic_and_version(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    put_u32(&b, 0x58554747); /* "GGUX" */
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, 0);
    expect_fail(&b, SMOL_EFORMAT, "bad magic", "not a GGUF file");

    buf_reset(&b);
    put_hdr(&b, 1, 0, 0);
    expect_fail(&b, SMOL_EFORMAT, "version 1", "not supported");
    buf_reset(&b);
    put_hdr(&b, 99, 0, 0);
    expect_fail(&b, SMOL_EFORMAT, "unsupported version 99", NULL);
    buf_reset(&b);
    put_hdr(&b, 0x03000000, 0, 0);
    expect_fail(&b, SMOL_EFORMAT, "big-endian", NULL);

    /* The smallest valid file: a header and nothing else. */
    buf_reset(&b);
    put_hdr(&b, 3, 0, 0);
    struct smol_err err;
    assert_int_equal(open_copy(b.data, b.len, &err), 0);
    buf_release(&b);
}

static void test_absurd_counts(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    put_hdr(&b, 3, 0, 1ull << 60);
    put_zeros(&b, 64);
    expect_fail(&b, SMOL_EFORMAT, "n_kv 1152921504606846976", "cannot fit");
    buf_reset(&b);
    put_hdr(&b, 3, 1ull << 60, 0);
    put_zeros(&b, 64);
    expect_fail(&b, SMOL_EFORMAT, "n_tensors 1152921504606846976",
                "cannot fit");
    buf_reset(&b);
    put_hdr(&b, 3, UINT64_MAX, UINT64_MAX);
    expect_fail(&b, SMOL_EFORMAT, "cannot fit", NULL);
    buf_release(&b);
}

static void test_bad_strings(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    /* A string value longer than the file. */
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "general.name");
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 1000);
    put(&b, "short", 5);
    expect_fail(&b, SMOL_EFORMAT, "truncated at offset 56 reading string of "
                "key 'general.name'", "need 1000 bytes, 5 left");

    /* A key length of 2^60, and one over the 64 KiB limit. */
    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_u64(&b, 1ull << 60);
    put_zeros(&b, 32);
    expect_fail(&b, SMOL_EFORMAT, "key #0 has key length 1152921504606846976",
                "at offset 24");
    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_u64(&b, 70000);
    put_zeros(&b, 70010);
    expect_fail(&b, SMOL_EFORMAT, "key length 70000", "1..65536");
    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_u64(&b, 0);
    put_zeros(&b, 32);
    expect_fail(&b, SMOL_EFORMAT, "key length 0", NULL);

    /* A tensor name past the end. */
    buf_reset(&b);
    put_hdr(&b, 3, 1, 0);
    put_u64(&b, 500);
    put_zeros(&b, 40);
    expect_fail(&b, SMOL_EFORMAT, "reading name of tensor #0", NULL);
    buf_release(&b);
}

static void test_bad_arrays(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "arr");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_UINT32);
    put_u64(&b, 1ull << 60);
    put_zeros(&b, 64);
    expect_fail(&b, SMOL_EFORMAT, "key 'arr' array count 1152921504606846976",
                "does not fit");

    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, UINT64_MAX);
    put_zeros(&b, 64);
    expect_fail(&b, SMOL_EFORMAT, "array count 18446744073709551615",
                "tokenizer.ggml.tokens");

    /* A string element whose length runs past the end. */
    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "toks");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 2);
    put_str(&b, "ok");
    put_u64(&b, 1ull << 40);
    put(&b, "xy", 2);
    expect_fail(&b, SMOL_EFORMAT, "array string of key 'toks'", "truncated");

    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "nested");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u64(&b, 1);
    put_zeros(&b, 32);
    expect_fail(&b, SMOL_EFORMAT, "key 'nested'", "array of arrays");

    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "weird");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, 13);
    put_u64(&b, 1);
    put_zeros(&b, 32);
    expect_fail(&b, SMOL_EFORMAT, "unknown array element type 13", "'weird'");

    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "weird");
    put_u32(&b, 13);
    put_zeros(&b, 32);
    expect_fail(&b, SMOL_EFORMAT, "key 'weird' has unknown value type 13",
                "offset 37");
    buf_release(&b);
}

static void test_bad_bools(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "flag");
    put_u32(&b, GGUF_TYPE_BOOL);
    put(&b, "\x02", 1);
    expect_fail(&b, SMOL_EFORMAT, "key 'flag' has bool value 2", "0 or 1");

    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "flags");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_BOOL);
    put_u64(&b, 3);
    put(&b, "\x01\x00\xff", 3);
    expect_fail(&b, SMOL_EFORMAT, "key 'flags' element 2 has bool value 255",
                NULL);
    buf_release(&b);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    put_hdr(&b, 3, 0, 3);
    put_kv_u32(&b, "a", 1);
    put_kv_u32(&b, "b", 2);
    put_kv_str(&b, "a", "again");
    expect_fail(&b, SMOL_EFORMAT, "duplicate key 'a' at offsets 24 and 58",
                NULL);

    buf_reset(&b);
    uint64_t ne[1] = {8};
    put_hdr(&b, 3, 2, 0);
    put_tinfo(&b, "w", 1, ne, GGML_TYPE_F32, 0);
    put_tinfo(&b, "w", 1, ne, GGML_TYPE_F32, 32);
    put_pad(&b, 32);
    put_zeros(&b, 64);
    expect_fail(&b, SMOL_EFORMAT, "duplicate tensor name 'w'", NULL);
    buf_release(&b);
}

static void test_bad_alignment(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    static const uint32_t bad[] = {0, 3, 48};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        buf_reset(&b);
        put_hdr(&b, 3, 0, 1);
        put_kv_u32(&b, "general.alignment", bad[i]);
        char want[64];
        snprintf(want, sizeof(want), "general.alignment %u", bad[i]);
        expect_fail(&b, SMOL_EFORMAT, want, "not a nonzero power of two");
    }
    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_kv_str(&b, "general.alignment", "32");
    expect_fail(&b, SMOL_EFORMAT, "general.alignment' at offset 24 has type "
                "string, expected uint32", NULL);
    buf_reset(&b);
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, GGUF_TYPE_UINT64);
    put_u64(&b, 32);
    expect_fail(&b, SMOL_EFORMAT, "has type uint64, expected uint32", NULL);
    buf_release(&b);
}

/* A file of one tensor info 'blk.0.w', padding to 32 and data_bytes of
 * (zero) data. */
static void one_tensor(struct buf *b, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset, size_t data_bytes)
{
    buf_reset(b);
    put_hdr(b, 3, 1, 0);
    put_tinfo(b, "blk.0.w", n_dims, ne, type, offset);
    put_pad(b, 32);
    put_zeros(b, data_bytes);
}

static void test_bad_tensor_infos(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    struct smol_err err;

    one_tensor(&b, 2, ne, GGML_TYPE_F32, 0, 256);
    assert_int_equal(open_copy(b.data, b.len, &err), 0);

    one_tensor(&b, 0, ne, GGML_TYPE_F32, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "tensor 'blk.0.w' has n_dims 0", "1..4");
    one_tensor(&b, 5, ne, GGML_TYPE_F32, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "tensor 'blk.0.w' has n_dims 5", "1..4");

    uint64_t zero[2] = {32, 0};
    one_tensor(&b, 2, zero, GGML_TYPE_F32, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "has ne[1] = 0", NULL);

    uint64_t huge[3] = {1ull << 32, 1ull << 32, 1ull << 32};
    one_tensor(&b, 3, huge, GGML_TYPE_F32, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "ne[1] = 4294967296", "overflow");
    uint64_t big[1] = {1ull << 63};
    one_tensor(&b, 1, big, GGML_TYPE_F32, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "ne[0] = 9223372036854775808", "overflow");
    /* 2^61 f32 elements fit the element limit but not the file. */
    uint64_t large[1] = {1ull << 61};
    one_tensor(&b, 1, large, GGML_TYPE_F32, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "past the file end", NULL);

    uint64_t odd[2] = {33, 2};
    one_tensor(&b, 2, odd, GGML_TYPE_Q8_0, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "ne[0] = 33 is not a multiple", "block size 32");

    one_tensor(&b, 2, ne, 99, 0, 256);
    expect_fail(&b, SMOL_EFORMAT, "tensor 'blk.0.w' has unknown type 99", NULL);
    one_tensor(&b, 2, ne, 4, 0, 256); /* a number ggml retired */
    expect_fail(&b, SMOL_EFORMAT, "unknown type 4", NULL);

    one_tensor(&b, 2, ne, GGML_TYPE_F32, 4, 256);
    expect_fail(&b, SMOL_EFORMAT, "data offset 4 is not a multiple of the "
                "alignment 32", NULL);

    /* 256 bytes needed, 128 present: the message gives both ends. */
    one_tensor(&b, 2, ne, GGML_TYPE_F32, 0, 128);
    char want[96];
    snprintf(want, sizeof(want), "data ends at %zu, past the file end %zu",
             b.len + 128, b.len);
    expect_fail(&b, SMOL_EFORMAT, "tensor 'blk.0.w'", want);
    one_tensor(&b, 2, ne, GGML_TYPE_F32, UINT64_MAX - 31, 256);
    expect_fail(&b, SMOL_EFORMAT, "overflows", NULL);
    buf_release(&b);
}

static void test_overlap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    uint64_t ne[1] = {16}; /* 64 bytes of f32 */
    put_hdr(&b, 3, 3, 0);
    put_tinfo(&b, "c", 1, ne, GGML_TYPE_F32, 128);
    put_tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 0);
    put_tinfo(&b, "b", 1, ne, GGML_TYPE_F32, 32);
    put_pad(&b, 32);
    put_zeros(&b, 192);
    expect_fail(&b, SMOL_EFORMAT, "tensors 'a' (data offset 0, 64 bytes) and "
                "'b' (data offset 32) overlap", NULL);

    /* The same tensors without the overlap open, in any order. */
    buf_reset(&b);
    put_hdr(&b, 3, 3, 0);
    put_tinfo(&b, "c", 1, ne, GGML_TYPE_F32, 128);
    put_tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 0);
    put_tinfo(&b, "b", 1, ne, GGML_TYPE_F32, 64);
    put_pad(&b, 32);
    put_zeros(&b, 192);
    struct smol_err err;
    assert_int_equal(open_copy(b.data, b.len, &err), 0);
    buf_release(&b);
}

static void test_getter_types(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_set_str(w, "general.name", "smol"), 0);
    assert_int_equal(gguf_writer_set_u32(w, "x.count", 5), 0);
    assert_int_equal(gguf_writer_set_i32(w, "x.neg", -1), 0);
    assert_int_equal(gguf_writer_set_u64(w, "x.big", 1ull << 40), 0);
    assert_int_equal(gguf_writer_set_u64(w, "x.huge", UINT64_MAX), 0);
    double dbig = 1e300;
    assert_int_equal(gguf_writer_set_scalar(w, "x.dbig", GGUF_TYPE_FLOAT64,
                                            &dbig), 0);
    int32_t arr[2] = {1, 2};
    assert_int_equal(gguf_writer_set_arr(w, "x.arr", GGUF_TYPE_INT32, arr, 2), 0);
    const char *path = write_tmp(w);
    gguf_writer_free(w);
    struct gguf_file *f = open_path(path);
    unlink(path);

    struct smol_err err;
    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f32;
    bool b;
    struct gguf_str s;
    uint64_t n;
    const uint8_t *p;

#define EXPECT_ERR(call, want)                                              \
    do {                                                                    \
        err_clear(&err);                                                    \
        assert_int_equal((call), SMOL_EFORMAT);                             \
        assert_int_equal(err.code, SMOL_EFORMAT);                           \
        if (!strstr(err.msg, want))                                         \
            print_error("message '%s' lacks '%s'\n", err.msg, want);        \
        assert_non_null(strstr(err.msg, want));                             \
    } while (0)

    EXPECT_ERR(gguf_get_u32(f, "general.name", &u32, &err),
               "gguf: key 'general.name' has type string, expected uint32");
    EXPECT_ERR(gguf_get_u32(f, "x.neg", &u32, &err),
               "key 'x.neg' value -1 does not fit uint32");
    EXPECT_ERR(gguf_get_u32(f, "x.big", &u32, &err),
               "value 1099511627776 does not fit uint32");
    EXPECT_ERR(gguf_get_i64(f, "x.huge", &i64, &err), "does not fit int64");
    EXPECT_ERR(gguf_get_i64(f, "x.arr", &i64, &err),
               "has type array of int32, expected int64");
    EXPECT_ERR(gguf_get_str(f, "x.count", &s, &err),
               "key 'x.count' has type uint32, expected string");
    EXPECT_ERR(gguf_get_bool(f, "x.count", &b, &err), "expected bool");
    EXPECT_ERR(gguf_get_f32(f, "general.name", &f32, &err),
               "expected float32");
    EXPECT_ERR(gguf_get_f32(f, "x.dbig", &f32, &err), "does not fit float32");
    EXPECT_ERR(gguf_get_arr(f, "x.arr", GGUF_TYPE_STRING, &n, &p, &err),
               "has type array of int32, expected array of string");
    EXPECT_ERR(gguf_get_arr(f, "x.count", GGUF_TYPE_INT32, &n, &p, &err),
               "has type uint32, expected array of int32");
#undef EXPECT_ERR

    /* Absent keys: ENOTFOUND and err untouched, so keys can be optional. */
    err_clear(&err);
    assert_int_equal(gguf_get_u32(f, "nope", &u32, &err), SMOL_ENOTFOUND);
    assert_int_equal(gguf_get_str(f, "nope", &s, &err), SMOL_ENOTFOUND);
    assert_int_equal(err.code, 0);

    /* Integer getters accept any integer type whose value fits. */
    assert_int_equal(gguf_get_u32(f, "x.count", &u32, &err), 0);
    assert_int_equal(u32, 5);
    assert_int_equal(gguf_get_i64(f, "x.neg", &i64, &err), 0);
    assert_int_equal(i64, -1);
    assert_int_equal(gguf_get_i64(f, "x.big", &i64, &err), 0);
    assert_int_equal(i64, 1ll << 40);
    assert_int_equal(gguf_get_arr(f, "x.arr", GGUF_TYPE_INT32, &n, &p, &err), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(p, arr, sizeof(arr));
    assert_int_equal(err.code, 0);
    assert_string_equal(gguf_type_name(GGUF_TYPE_FLOAT64), "float64");
    assert_string_equal(gguf_type_name(77), "?");
    gguf_close(f);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct gguf_file *f = NULL;
    struct smol_err err;
    err_clear(&err);
    assert_int_equal(gguf_open(&f, "/nonexistent/model.gguf", &err), SMOL_EIO);
    assert_null(f);
    assert_non_null(strstr(err.msg, "cannot open '/nonexistent/model.gguf'"));

    const char *path = test_tmp_path(".gguf");
    assert_int_equal(test_write_file(path, "", 0), 0);
    err_clear(&err);
    assert_int_equal(gguf_open(&f, path, &err), SMOL_EFORMAT);
    assert_non_null(strstr(err.msg, "is empty (0 bytes)"));

    /* A malformed file on disk is unmapped again and reports why. */
    assert_int_equal(test_write_file(path, "GGUF\x01\0\0\0", 8), 0);
    err_clear(&err);
    assert_int_equal(gguf_open(&f, path, &err), SMOL_EFORMAT);
    assert_non_null(strstr(err.msg, "version 1"));
    unlink(path);

    err_clear(&err);
    assert_int_equal(gguf_open(&f, "/tmp", &err), SMOL_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    gguf_close(NULL);
}

/* ================================================================ */
/* Random mutations                                                  */
/* ================================================================ */

/* Uses everything a successfully opened file offers, so that a bad
 * view (a string or tensor reaching past the map) is an ASan report. */
static void touch_everything(const struct gguf_file *f)
{
    volatile uint8_t sink = 0;
    char key[256];
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        snprintf(key, sizeof(key), "%.*s", (int)MIN(kv->key.len, 255),
                 kv->key.ptr);
        struct smol_err err;
        uint32_t u32;
        int64_t i64;
        float f32;
        bool b;
        struct gguf_str s;
        int rcs[5];
        err_clear(&err);
        rcs[0] = gguf_get_u32(f, key, &u32, &err);
        rcs[1] = gguf_get_i64(f, key, &i64, &err);
        rcs[2] = gguf_get_f32(f, key, &f32, &err);
        rcs[3] = gguf_get_bool(f, key, &b, &err);
        rcs[4] = gguf_get_str(f, key, &s, &err);
        for (size_t r = 0; r < ARRAY_SIZE(rcs); r++)
            assert_true(rcs[r] == 0 || rcs[r] == SMOL_EFORMAT ||
                        rcs[r] == SMOL_ENOTFOUND);
        if (err.code)
            assert_true(err.msg[0] != '\0');
        if (kv->type == GGUF_TYPE_STRING && kv->n)
            sink ^= kv->data[kv->n - 1];
        if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
            struct gguf_str *sv = calloc(kv->n ? kv->n : 1, sizeof(*sv));
            assert_non_null(sv);
            assert_int_equal(gguf_arr_strings(kv, sv), 0);
            for (uint64_t j = 0; j < kv->n; j++)
                if (sv[j].len)
                    sink ^= (uint8_t)sv[j].ptr[sv[j].len - 1];
            free(sv);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        const uint8_t *d = t->data;
        sink ^= d[0] ^ d[t->size - 1];
    }
    (void)sink;
}

static void test_random_mutations(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    add_all_metadata(w);
    uint8_t **data = add_tensors(w);
    const char *path = write_tmp(w);
    gguf_writer_free(w);
    size_t len;
    char *orig = test_read_file(path, &len);
    assert_non_null(orig);
    unlink(path);
    free_tensor_data(data);

    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    uint64_t seed = 0x5eed;
    int n_ok = 0, n_fail = 0;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(copy, orig, len);
        /* Mostly one byte; sometimes a few, to reach deeper states. */
        int n_mut = (iter % 8 == 7) ? 4 : 1;
        for (int m = 0; m < n_mut; m++) {
            size_t at = test_rand_u64(&seed) % len;
            uint8_t v = (uint8_t)test_rand_u64(&seed);
            copy[at] = v == copy[at] ? (uint8_t)(v + 1) : v;
        }
        struct gguf_file *f = NULL;
        struct smol_err err;
        err_clear(&err);
        int rc = gguf_open_mem(&f, copy, len, &err);
        if (rc == 0) {
            n_ok++;
            touch_everything(f);
            gguf_close(f);
        } else {
            n_fail++;
            assert_null(f);
            assert_int_equal(err.code, rc);
            assert_true(err.msg[0] != '\0');
        }
    }
    /* Mutating the tensor data or metadata values keeps a file valid;
     * mutating structure breaks it. Both kinds must have happened. */
    assert_true(n_ok > 100);
    assert_true(n_fail > 100);
    free(copy);
    free(orig);
}

/* ================================================================ */
/* The real fixtures                                                 */
/* ================================================================ */

static void test_fixtures_all_open(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    DIR *d = opendir(test_fixtures_dir());
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf") != 0)
            continue;
        struct gguf_file *f = open_path(test_fixture(e->d_name));
        assert_true(f->n_kv > 0);
        gguf_close(f);
        n++;
    }
    closedir(d);
    assert_true(n >= 2);
}

static void test_fixture_tiny_f32(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct gguf_file *f = open_path(test_fixture("tiny-f32.gguf"));
    assert_int_equal(f->n_tensors, 74);
    struct gguf_str arch;
    assert_int_equal(gguf_get_str(f, "general.architecture", &arch, NULL), 0);
    assert_true(str_is(arch, "smollm3"));
    uint32_t n_layer = 0;
    assert_int_equal(gguf_get_u32(f, "smollm3.block_count", &n_layer, NULL), 0);
    assert_int_equal(n_layer, 8);
    const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 256);
    assert_int_equal(t->ne[1], 2304);
    assert_int_equal(t->type, GGML_TYPE_F32);
    assert_int_equal(t->size, 256ull * 2304 * 4);
    gguf_close(f);
}

static void test_fixture_vocab(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct gguf_file *f = open_path(test_fixture("vocab-smollm3.gguf"));
    uint64_t n = 0;
    const uint8_t *p = NULL;
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING,
                                  &n, &p, NULL), 0);
    assert_int_equal(n, 128256);
    assert_int_equal(gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING,
                                  &n, &p, NULL), 0);
    assert_int_equal(n, 280147);
    const struct gguf_kv *kv = gguf_find_kv(f, "tokenizer.ggml.tokens");
    struct gguf_str *sv = calloc(kv->n, sizeof(*sv));
    assert_non_null(sv);
    assert_int_equal(gguf_arr_strings(kv, sv), 0);
    for (uint64_t i = 0; i < kv->n; i++)
        assert_true(sv[i].len > 0);
    free(sv);
    gguf_close(f);
}

/* Rewriting a reference file (metadata copied, tensors re-added in
 * order) gives the same bytes: our layout is the one llama.cpp writes. */
static void rewrite_identical(const char *fixture)
{
    char src[4096];
    snprintf(src, sizeof(src), "%s", test_fixture(fixture));
    struct gguf_file *f = open_path(src);
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(gguf_writer_copy_kv(w, f), 0);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)t->name.len, t->name.ptr);
        assert_int_equal(gguf_writer_add_tensor(w, name, t->type, t->n_dims,
                                                t->ne, t->data, t->size,
                                                NULL), 0);
    }
    const char *out = write_tmp(w);
    gguf_writer_free(w);
    gguf_close(f);
    size_t n1, n2;
    char *a = test_read_file(src, &n1), *b = test_read_file(out, &n2);
    unlink(out);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

static void test_fixture_rewrite_identical(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    rewrite_identical("tiny-q4_k_m.gguf");
    rewrite_identical("vocab-smollm3.gguf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_metadata),
        cmocka_unit_test(test_copy_kv_identical),
        cmocka_unit_test(test_roundtrip_tensors),
        cmocka_unit_test(test_alignment_64),
        cmocka_unit_test(test_version2),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_truncated_header_message),
        cmocka_unit_test(test_truncation_every_prefix),
        cmocka_unit_test(test_bad_magic_and_version),
        cmocka_unit_test(test_absurd_counts),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bad_arrays),
        cmocka_unit_test(test_bad_bools),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_bad_tensor_infos),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_getter_types),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_open_load),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_fixtures_all_open),
        cmocka_unit_test(test_fixture_tiny_f32),
        cmocka_unit_test(test_fixture_vocab),
        cmocka_unit_test(test_fixture_rewrite_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
