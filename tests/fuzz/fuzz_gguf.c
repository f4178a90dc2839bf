/*
 * fuzz_gguf.c: the GGUF reader on whole files, and what is built on it.
 *
 * Each input is a whole file, opened with gguf_open_mem from libFuzzer's
 * exactly-sized buffer, so any read past the end is an ASan report. A
 * file that fails must fail with a status and a sentence; a file that
 * opens is walked completely (every key, string, array element and the
 * first and last byte of every tensor: views past the end would show),
 * its typed getters are called on every key, its tokenizer is loaded
 * when it has one (and must give back a sample text exactly), and it is
 * opened as a model from a memfd (smol_model_open, one thread) and, when
 * that works, one token is evaluated.
 *
 * Random bytes rarely get past the magic and the counts, so a custom
 * mutator (LLVMFuzzerCustomMutator) keeps the structure: it reads the
 * input leniently into header, key/value records, tensor-info records
 * and the tail (padding and data), mutates one of them (a record's bytes,
 * a count, length, dimension, type or offset set to an edge value, a
 * record dropped, duplicated or swapped, a key from a dictionary of the
 * ones the model and tokenizer read), and writes the file back with the
 * header's counts kept in step. One mutation in eight is the plain
 * byte-level one, so the header and framing are fuzzed too; one in eight
 * also recomputes the tensor offsets as the padded running sum and sizes
 * the data to match, so mutated shapes and types still make files the
 * reader accepts and the model code gets to check.
 */
#include "fuzzutil.h"

#include "buf.h"
#include "gguf.h"
#include "quant.h"
#include "tokenizer.h"

#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ================================================================ */
/* Checking one input                                                */
/* ================================================================ */

/* Reads every byte of p[0..n) so a bad view shows up under ASan. */
static unsigned touch(const void *p, uint64_t n)
{
    const volatile uint8_t *b = p;
    unsigned s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

/* Bytes of a fixed-size metadata type, 0 for strings, arrays, unknown. */
static size_t scalar_size(uint32_t t)
{
    static const uint8_t sz[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < GGUF_TYPE_COUNT ? sz[t] : 0;
}

/* The key as a C string (NULL when it holds a NUL: getters take C keys). */
static const char *kv_key(const struct gguf_kv *kv, char *buf, size_t cap)
{
    if (kv->key.len >= cap || memchr(kv->key.ptr, '\0', kv->key.len))
        return NULL;
    memcpy(buf, kv->key.ptr, kv->key.len);
    buf[kv->key.len] = '\0';
    return buf;
}

static void walk_kv(const struct gguf_file *f, const struct gguf_kv *kv)
{
    touch(kv->key.ptr, kv->key.len);
    if (kv->type == GGUF_TYPE_STRING) {
        touch(kv->data, kv->n);
    } else if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
        struct gguf_str *s = kv->n ? calloc(kv->n, sizeof(*s)) : NULL;
        FUZZ_CHECK(!kv->n || s, "out of memory for %llu strings", (unsigned long long)kv->n);
        FUZZ_CHECK(gguf_arr_strings(kv, s) == 0, "string array refused");
        for (uint64_t i = 0; i < kv->n; i++)
            touch(s[i].ptr, s[i].len);
        free(s);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        FUZZ_CHECK(scalar_size(kv->arr_type) > 0, "array of type %u accepted", kv->arr_type);
        touch(kv->data, kv->n * scalar_size(kv->arr_type));
    }
    char key[256];
    const char *k = kv_key(kv, key, sizeof(key));
    if (!k)
        return;
    FUZZ_CHECK(gguf_find_kv(f, k) != NULL, "key '%s' not found by name", k);
    uint32_t u32;
    int64_t i64;
    float f32;
    bool b;
    struct gguf_str s;
    uint64_t n;
    const uint8_t *arr;
    struct smol_err err = {0};
    /* each getter either works or fails with a sentence */
    int rc[] = {
        gguf_get_u32(f, k, &u32, &err), gguf_get_i64(f, k, &i64, &err),
        gguf_get_f32(f, k, &f32, &err), gguf_get_bool(f, k, &b, &err),
        gguf_get_str(f, k, &s, &err), gguf_get_arr(f, k, kv->arr_type, &n, &arr, &err),
    };
    for (size_t i = 0; i < ARRAY_SIZE(rc); i++)
        FUZZ_CHECK(rc[i] == 0 || (rc[i] < 0 && err.msg[0]), "getter %zu: %d without a message",
                   i, rc[i]);
}

static void walk_tensor(const struct gguf_file *f, const struct gguf_tensor *t)
{
    FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS, "n_dims %u", t->n_dims);
    FUZZ_CHECK(f->data_offset <= f->size && t->offset <= f->size - f->data_offset &&
               t->size <= f->size - f->data_offset - t->offset,
               "tensor data outside the file");
    if (t->size > 0) {
        touch(t->data, 1);
        touch((const uint8_t *)t->data + t->size - 1, 1);
    }
    touch(t->name.ptr, t->name.len);
    char name[256];
    if (t->name.len < sizeof(name) && !memchr(t->name.ptr, '\0', t->name.len)) {
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = '\0';
        FUZZ_CHECK(gguf_find_tensor(f, name) == t, "tensor '%s' not found by name", name);
    }
}

/* A vocabulary in the file: load it and round-trip a sample. */
static void check_tokenizer(const struct gguf_file *f)
{
    struct tokenizer *t = NULL;
    struct smol_err err = {0};
    if (tokenizer_load(&t, f, &err) != 0) {
        FUZZ_CHECK(err.msg[0], "tokenizer_load failed without a message");
        return;
    }
    static const char sample[] = "Hi <think>x</think> <|im_start|>user\n\xc3\xa9\xff 123!";
    for (int flags = 0; flags <= TOKENIZER_PARSE_SPECIAL; flags++) {
        int32_t ids[sizeof(sample)];
        int n = tokenizer_encode(t, sample, sizeof(sample) - 1, flags, ids, (int)sizeof(sample));
        FUZZ_CHECK(n >= 0 && n <= (int)sizeof(sample) - 1, "encode gave %d", n);
        size_t pos = 0;
        for (int i = 0; i < n; i++) {
            size_t len;
            const char *b = tokenizer_token_bytes(t, ids[i], &len);
            FUZZ_CHECK(b && pos + len < sizeof(sample) && memcmp(sample + pos, b, len) == 0,
                       "token %d does not give back the sample", i);
            pos += len;
        }
        FUZZ_CHECK(pos == sizeof(sample) - 1, "the tokens cover %zu bytes", pos);
    }
    tokenizer_free(t);
}

/* The file as a model, the way smolbot opens one: by path (a memfd). */
static void check_model(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    if (fd < 0)
        return;
    struct smol_err err = {0};
    struct smol_model_opts o = {.n_threads = 1};
    struct smol_model *m = smol_model_open(path, &o, &err);
    close(fd); /* the map stays */
    if (!m) {
        FUZZ_CHECK(err.code < 0 && err.msg[0], "model open failed without a message");
        return;
    }
    struct smol_seq *s = smol_seq_new(m, 8, &err);
    if (s) {
        int32_t tok = 0;
        int rc = smol_eval(s, &tok, 1, NULL, 0, &err);
        FUZZ_CHECK(rc >= 0 || err.msg[0], "eval failed without a message");
    }
    smol_seq_free(s);
    smol_model_close(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf_file *f = NULL;
    struct smol_err err = {0};
    int rc = gguf_open_mem(&f, data, size, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err.code == rc && err.msg[0], "failure %d without a sentence", rc);
        FUZZ_CHECK(f == NULL, "failure left a file");
        return 0;
    }
    FUZZ_CHECK(f->alignment > 0 && (f->alignment & (f->alignment - 1)) == 0, "alignment %llu",
               (unsigned long long)f->alignment);
    for (uint64_t i = 0; i < f->n_kv; i++)
        walk_kv(f, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        walk_tensor(f, &f->tensors[i]);
    if (gguf_find_kv(f, "tokenizer.ggml.tokens"))
        check_tokenizer(f);
    const bool model = gguf_find_kv(f, "general.architecture") && f->n_tensors > 0;
    gguf_close(f);
    if (model)
        check_model(data, size);
    return 0;
}

/* ================================================================ */
/* The structure-aware mutator                                       */
/* ================================================================ */

#define MAX_RECS 1024

/* A record: a copy of one key/value or tensor info's bytes. */
struct rec {
    uint8_t *b;
    size_t n;
};

struct layout {
    uint32_t version;
    uint64_t hdr_kv, hdr_tensors;  /* the header's counts, kept in step */
    struct rec kv[MAX_RECS];
    struct rec ten[MAX_RECS];
    size_t n_kv, n_ten;
    bool all_kv, all_ten;          /* every announced record was read */
    const uint8_t *tail;           /* padding and data, borrowed */
    size_t tail_n;
};

/* A lenient cursor: records whether it ran out, never reads past n. */
struct lcur {
    const uint8_t *p;
    size_t n, off;
    bool bad;
};

static uint64_t lc_get(struct lcur *c, size_t k)
{
    uint64_t v = 0;
    if (c->bad || c->n - c->off < k) {
        c->bad = true;
        return 0;
    }
    memcpy(&v, c->p + c->off, k);
    c->off += k;
    return v;
}

static void lc_skip(struct lcur *c, uint64_t k)
{
    if (c->bad || c->n - c->off < k)
        c->bad = true;
    else
        c->off += (size_t)k;
}

/* Skips one value of type t (arrays of strings element by element). */
static void lc_value(struct lcur *c, uint32_t t)
{
    if (t == GGUF_TYPE_STRING) {
        lc_skip(c, lc_get(c, 8));
    } else if (t == GGUF_TYPE_ARRAY) {
        uint32_t et = (uint32_t)lc_get(c, 4);
        uint64_t n = lc_get(c, 8);
        if (et == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < n && !c->bad; i++)
                lc_skip(c, lc_get(c, 8));
        } else if (scalar_size(et) && n <= (c->n - c->off) / scalar_size(et)) {
            lc_skip(c, n * scalar_size(et));
        } else {
            c->bad = true;
        }
    } else if (scalar_size(t)) {
        lc_skip(c, scalar_size(t));
    } else {
        c->bad = true;
    }
}

static bool rec_copy(struct rec *r, const uint8_t *p, size_t n)
{
    r->b = malloc(n ? n : 1);
    if (!r->b)
        return false;
    memcpy(r->b, p, n);
    r->n = n;
    return true;
}

static void layout_free(struct layout *l)
{
    for (size_t i = 0; i < l->n_kv; i++)
        free(l->kv[i].b);
    for (size_t i = 0; i < l->n_ten; i++)
        free(l->ten[i].b);
}

/* Reads data leniently: as many whole records as parse; the rest is tail. */
static bool layout_read(struct layout *l, const uint8_t *data, size_t size)
{
    memset(l, 0, sizeof(*l));
    struct lcur c = {.p = data, .n = size};
    uint32_t magic = (uint32_t)lc_get(&c, 4);
    l->version = (uint32_t)lc_get(&c, 4);
    l->hdr_tensors = lc_get(&c, 8);
    l->hdr_kv = lc_get(&c, 8);
    if (c.bad || magic != GGUF_MAGIC)
        return false;
    size_t end = c.off;
    for (uint64_t i = 0; i < l->hdr_kv && l->n_kv < MAX_RECS; i++) {
        size_t start = c.off;
        lc_skip(&c, lc_get(&c, 8)); /* key */
        lc_value(&c, (uint32_t)lc_get(&c, 4));
        if (c.bad)
            break;
        if (!rec_copy(&l->kv[l->n_kv++], data + start, c.off - start))
            return false;
        end = c.off;
    }
    l->all_kv = l->n_kv == l->hdr_kv;
    for (uint64_t i = 0; l->all_kv && i < l->hdr_tensors && l->n_ten < MAX_RECS; i++) {
        size_t start = c.off;
        lc_skip(&c, lc_get(&c, 8)); /* name */
        uint32_t nd = (uint32_t)lc_get(&c, 4);
        if (nd < 1 || nd > GGUF_MAX_DIMS)
            c.bad = true;
        lc_skip(&c, 8ull * nd + 4 + 8);
        if (c.bad)
            break;
        if (!rec_copy(&l->ten[l->n_ten++], data + start, c.off - start))
            return false;
        end = c.off;
    }
    l->all_ten = l->all_kv && l->n_ten == l->hdr_tensors;
    l->tail = data + end;
    l->tail_n = size - end;
    return true;
}

/* A growing output bounded by max. */
struct obuf {
    uint8_t *p;
    size_t n, max;
    bool over;
};

static void ob_put(struct obuf *o, const void *p, size_t n)
{
    if (o->over || o->max - o->n < n) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->n, p, n);
    o->n += n;
}

static void ob_u32(struct obuf *o, uint32_t v) { ob_put(o, &v, 4); }
static void ob_u64(struct obuf *o, uint64_t v) { ob_put(o, &v, 8); }

static size_t layout_write(const struct layout *l, uint8_t *out, size_t max)
{
    struct obuf o = {.p = out, .max = max};
    ob_u32(&o, GGUF_MAGIC);
    ob_u32(&o, l->version);
    ob_u64(&o, l->hdr_tensors);
    ob_u64(&o, l->hdr_kv);
    for (size_t i = 0; i < l->n_kv; i++)
        ob_put(&o, l->kv[i].b, l->kv[i].n);
    for (size_t i = 0; i < l->n_ten; i++)
        ob_put(&o, l->ten[i].b, l->ten[i].n);
    ob_put(&o, l->tail, l->tail_n);
    return o.over ? 0 : o.n;
}

static const uint64_t edge_values[] = {
    0, 1, 2, 3, 4, 5, 7, 8, 16, 31, 32, 33, 64, 255, 256, 257, 1024, 4096, 65535, 65536, 65537,
    0x7fffffffull, 0x80000000ull, 0xffffffffull, 0x100000000ull, 1ull << 40, 1ull << 62,
    (1ull << 62) + 1, 1ull << 63, UINT64_MAX - 1, UINT64_MAX,
};

/* An edge value, or old nudged by a little. */
static uint64_t edge(uint64_t *rng, uint64_t old)
{
    uint64_t r = fuzz_rand(rng);
    switch (r % 4) {
    case 0: return old + 1;
    case 1: return old - 1;
    case 2: return old ^ (1ull << ((r >> 8) % 64));
    default: return edge_values[(r >> 8) % ARRAY_SIZE(edge_values)];
    }
}

/* Overwrites k bytes at off in r with v when they are inside it. */
static void rec_set(struct rec *r, size_t off, size_t k, uint64_t v)
{
    if (off <= r->n && r->n - off >= k)
        memcpy(r->b + off, &v, k);
}

static uint64_t rec_get(const struct rec *r, size_t off, size_t k)
{
    uint64_t v = 0;
    if (off <= r->n && r->n - off >= k)
        memcpy(&v, r->b + off, k);
    return v;
}

/* One field of a tensor info: n_dims, a dimension, the type or the offset. */
static void mutate_tensor_field(struct rec *r, uint64_t *rng)
{
    const size_t nl = (size_t)MIN(rec_get(r, 0, 8), (uint64_t)r->n);
    const size_t at_nd = 8 + nl;
    uint32_t nd = (uint32_t)rec_get(r, at_nd, 4);
    nd = nd >= 1 && nd <= GGUF_MAX_DIMS ? nd : 1;
    const size_t at_type = at_nd + 4 + 8 * (size_t)nd, at_off = at_type + 4;
    switch (fuzz_rand(rng) % 5) {
    case 0: rec_set(r, at_nd, 4, fuzz_rand(rng) % 6); break;
    case 1:
    case 2: {
        size_t d = at_nd + 4 + 8 * (size_t)(fuzz_rand(rng) % nd);
        rec_set(r, d, 8, edge(rng, rec_get(r, d, 8)));
        break;
    }
    case 3: rec_set(r, at_type, 4, fuzz_rand(rng) % (GGML_TYPE_COUNT + 2)); break;
    default: rec_set(r, at_off, 8, edge(rng, rec_get(r, at_off, 8))); break;
    }
}

/* One field of a key/value: the key length, the type, a string length,
 * an array's element type or count, or the first bytes of the value. */
static void mutate_kv_field(struct rec *r, uint64_t *rng)
{
    const size_t kl = (size_t)MIN(rec_get(r, 0, 8), (uint64_t)r->n);
    const size_t at_type = 8 + kl, at_val = at_type + 4;
    const uint32_t type = (uint32_t)rec_get(r, at_type, 4);
    switch (fuzz_rand(rng) % 4) {
    case 0: rec_set(r, 0, 8, edge(rng, kl)); break;
    case 1: rec_set(r, at_type, 4, fuzz_rand(rng) % (GGUF_TYPE_COUNT + 2)); break;
    case 2:
        if (type == GGUF_TYPE_ARRAY)
            rec_set(r, at_val, 4, fuzz_rand(rng) % (GGUF_TYPE_COUNT + 1));
        else
            rec_set(r, at_val, 8, edge(rng, rec_get(r, at_val, 8)));
        break;
    default:
        if (type == GGUF_TYPE_ARRAY)
            rec_set(r, at_val + 4, 8, edge(rng, rec_get(r, at_val + 4, 8)));
        else
            rec_set(r, at_val, 4, edge(rng, rec_get(r, at_val, 4)));
        break;
    }
}

/* A key the model or tokenizer reads, with an edge value, as a record. */
static bool dict_kv(struct rec *r, uint64_t *rng)
{
    static const char *const u32_keys[] = {
        "general.alignment", "smollm3.embedding_length", "smollm3.block_count",
        "smollm3.feed_forward_length", "smollm3.attention.head_count",
        "smollm3.attention.head_count_kv", "smollm3.context_length",
        "smollm3.attention.key_length", "smollm3.rope.dimension_count",
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id",
        "llama.embedding_length", "llama.block_count",
    };
    static const char *const str_keys[][2] = {
        {"general.architecture", "smollm3"}, {"general.architecture", "llama"},
        {"general.architecture", "gpt2"}, {"tokenizer.ggml.model", "gpt2"},
        {"tokenizer.ggml.model", "llama"}, {"tokenizer.ggml.pre", "smaug-bpe"},
        {"tokenizer.chat_template", "Reasoning Mode: "}, {"general.name", ""},
    };
    static const float f32_vals[] = {0.0f, -1.0f, 1e-6f, 1e30f, __builtin_inff(),
                                     -__builtin_inff(), __builtin_nanf("")};
    static const char *const f32_keys[] = {"smollm3.rope.freq_base",
                                           "smollm3.attention.layer_norm_rms_epsilon"};
    struct buf b;
    buf_init(&b);
    uint64_t pick = fuzz_rand(rng);
    const char *key, *sval = NULL;
    uint32_t type;
    uint64_t v = 0;
    if (pick % 3 == 0) {
        key = u32_keys[(pick >> 8) % ARRAY_SIZE(u32_keys)];
        type = GGUF_TYPE_UINT32;
        v = edge(rng, 32);
    } else if (pick % 3 == 1) {
        size_t k = (pick >> 8) % ARRAY_SIZE(str_keys);
        key = str_keys[k][0];
        sval = str_keys[k][1];
        type = GGUF_TYPE_STRING;
    } else {
        key = f32_keys[(pick >> 8) % ARRAY_SIZE(f32_keys)];
        type = GGUF_TYPE_FLOAT32;
        float fv = f32_vals[(pick >> 16) % ARRAY_SIZE(f32_vals)];
        memcpy(&v, &fv, 4);
    }
    uint64_t kl = strlen(key);
    int rc = buf_append(&b, &kl, 8) | buf_append(&b, key, kl) | buf_append(&b, &type, 4);
    if (sval) {
        uint64_t sl = strlen(sval);
        rc |= buf_append(&b, &sl, 8) | buf_append(&b, sval, sl);
    } else {
        rc |= buf_append(&b, &v, 4);
    }
    r->n = b.len;
    r->b = (uint8_t *)buf_detach(&b);
    return rc == 0 && r->b;
}

/* The alignment the reader will use: general.alignment when it is a
 * valid u32 power of two, else 32. */
static uint64_t layout_alignment(const struct layout *l)
{
    static const char key[] = "general.alignment";
    for (size_t i = 0; i < l->n_kv; i++) {
        const struct rec *r = &l->kv[i];
        if (rec_get(r, 0, 8) == sizeof(key) - 1 && r->n >= 8 + sizeof(key) - 1 &&
            memcmp(r->b + 8, key, sizeof(key) - 1) == 0 &&
            rec_get(r, 8 + sizeof(key) - 1, 4) == GGUF_TYPE_UINT32) {
            uint64_t a = rec_get(r, 12 + sizeof(key) - 1, 4);
            return a && !(a & (a - 1)) ? a : 32;
        }
    }
    return 32;
}

/* Rewrites the tensor offsets as the padded running sum of their sizes
 * and sizes the data section to match (old data kept, then zeros).
 * False when a tensor's size cannot be computed or the file would not
 * fit in max. */
static bool layout_fix_offsets(struct layout *l, uint8_t **data_out, size_t *n_out, size_t max)
{
    if (!l->all_ten)
        return false;
    const uint64_t align = layout_alignment(l);
    uint64_t hdr = 24, off = 0;
    for (size_t i = 0; i < l->n_kv; i++)
        hdr += l->kv[i].n;
    for (size_t i = 0; i < l->n_ten; i++)
        hdr += l->ten[i].n;
    for (size_t i = 0; i < l->n_ten; i++) {
        struct rec *r = &l->ten[i];
        const size_t nl = (size_t)rec_get(r, 0, 8);
        const uint32_t nd = (uint32_t)rec_get(r, 8 + nl, 4);
        if (nd < 1 || nd > GGUF_MAX_DIMS) /* a mutated record: no size */
            return false;
        uint64_t rows = 1, bytes;
        for (uint32_t d = 1; d < nd; d++) {
            uint64_t ne = rec_get(r, 12 + nl + 8 * d, 8);
            if (ne && rows > UINT64_MAX / ne)
                return false;
            rows *= ne;
        }
        const uint32_t type = (uint32_t)rec_get(r, 12 + nl + 8 * nd, 4);
        if (!quant_row_size(type, rec_get(r, 12 + nl, 8), &bytes) ||
            (rows && bytes > max / rows))
            return false;
        off = (off + align - 1) / align * align;
        rec_set(r, 16 + nl + 8 * nd, 8, off);
        off += bytes * rows;
        if (off > max)
            return false;
    }
    const uint64_t start = (hdr + align - 1) / align * align;
    if (start + off > max)
        return false;
    /* padding, then the old data bytes where there were some */
    const size_t n = (size_t)(start - hdr + off);
    uint8_t *tail = calloc(1, n ? n : 1);
    if (!tail)
        return false;
    if (l->tail_n > start - hdr)
        memcpy(tail + (start - hdr), l->tail + (start - hdr),
               MIN(l->tail_n - (size_t)(start - hdr), (size_t)off));
    *data_out = tail;
    *n_out = n;
    return true;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
    static struct layout l; /* big: keep it off the stack */
    if (fuzz_rand(&rng) % 8 == 0 || !layout_read(&l, data, size)) {
        layout_free(&l);
        memset(&l, 0, sizeof(l));
        return LLVMFuzzerMutate(data, size, max_size);
    }
    uint8_t *tail = NULL;
    size_t op = fuzz_rand(&rng) % 8;
    struct rec *recs = l.kv;
    size_t *n_recs = &l.n_kv;
    uint64_t *hdr_n = &l.hdr_kv;
    if (l.n_ten && (fuzz_rand(&rng) & 1)) {
        recs = l.ten;
        n_recs = &l.n_ten;
        hdr_n = &l.hdr_tensors;
    }
    const size_t pick = *n_recs ? fuzz_rand(&rng) % *n_recs : 0;
    if (op <= 1 && *n_recs) { /* bytes of one record */
        struct rec *r = &recs[pick];
        size_t cap = r->n + 64;
        uint8_t *b = realloc(r->b, cap);
        if (b) {
            r->b = b;
            r->n = LLVMFuzzerMutate(b, r->n, cap);
        }
    } else if (op == 2 && *n_recs) { /* one field to an edge value */
        if (recs == l.ten)
            mutate_tensor_field(&recs[pick], &rng);
        else
            mutate_kv_field(&recs[pick], &rng);
    } else if (op == 3 && *n_recs) { /* drop a record */
        free(recs[pick].b);
        memmove(&recs[pick], &recs[pick + 1], (*n_recs - pick - 1) * sizeof(*recs));
        (*n_recs)--;
        (*hdr_n)--;
    } else if (op == 4 && *n_recs && *n_recs < MAX_RECS) { /* duplicate one */
        if (rec_copy(&recs[*n_recs], recs[pick].b, recs[pick].n)) {
            (*n_recs)++;
            (*hdr_n)++;
        }
    } else if (op == 5 && *n_recs > 1) { /* swap two */
        size_t other = fuzz_rand(&rng) % *n_recs;
        struct rec t = recs[pick];
        recs[pick] = recs[other];
        recs[other] = t;
    } else if (op == 6 && l.all_kv && l.n_kv < MAX_RECS) { /* a dictionary key */
        if (dict_kv(&l.kv[l.n_kv], &rng)) {
            l.n_kv++;
            l.hdr_kv++;
        }
    } else if (op == 7) { /* the header: version or a count */
        uint64_t r = fuzz_rand(&rng) % 4;
        if (r == 0)
            l.version = (uint32_t)edge(&rng, l.version);
        else if (r == 1)
            l.hdr_kv = edge(&rng, l.hdr_kv);
        else
            l.hdr_tensors = edge(&rng, l.hdr_tensors);
    }
    /* now and then: consistent offsets, so shapes and types get checked */
    size_t tail_n;
    if (fuzz_rand(&rng) % 8 == 0 && layout_fix_offsets(&l, &tail, &tail_n, max_size)) {
        l.tail = tail;
        l.tail_n = tail_n;
    }
    uint8_t *out = malloc(max_size ? max_size : 1);
    size_t n = out ? layout_write(&l, out, max_size) : 0;
    if (n) /* the tail may point into data: copy out first */
        memcpy(data, out, n);
    free(out);
    free(tail);
    layout_free(&l);
    memset(&l, 0, sizeof(l));
    return n ? n : LLVMFuzzerMutate(data, size, max_size);
}
