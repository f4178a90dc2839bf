/*
 * synth.c: random-weight models (see synth.h for what and why).
 *
 * Layout: random numbers; shapes; the generated vocabulary; metadata;
 * the weight pools; the tensor plan and its streaming fill; the entry
 * points.
 */
#include "synth.h"

#include "mem.h"
#include "quant.h"
#include "tokenizer.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define POOL_ROWS 128 /* random rows per matrix kind */

/* ================================================================ */
/* Random numbers                                                    */
/* ================================================================ */

/* splitmix64: reproducible on every platform, and a good mixer for
 * deriving independent streams from (seed, tensor, row). */
static uint64_t synth_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A stream seed for sub-stream k of a: two splitmix steps apart. */
static uint64_t synth_mix(uint64_t a, uint64_t k)
{
    uint64_t x = a ^ (k * 0xD1B54A32D192ED03ull);
    synth_next(&x);
    return synth_next(&x);
}

/* Box-Muller: one N(0, 1) per call. */
static float synth_normal(uint64_t *x)
{
    double u1 = ((synth_next(x) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (synth_next(x) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ================================================================ */
/* Shapes                                                            */
/* ================================================================ */

void synth_shape_tiny(struct synth_shape *s, uint32_t type)
{
    const struct quant_type_info *ti = quant_type_info(type);
    const bool k = ti && ti->block_size == QK_K;
    *s = (struct synth_shape){
        .arch = "smollm3", .n_embd = k ? 256 : 64, .n_layer = 4, .n_head = 4, .n_head_kv = 2,
        .n_ff = k ? 256 : 128, .n_ctx = 512, .rope_base = 10000.0f, .rms_eps = 1e-6f, .tied = true,
    };
}

void synth_shape_3b(struct synth_shape *s)
{
    *s = (struct synth_shape){
        .arch = "smollm3", .n_embd = 2048, .n_layer = 36, .n_head = 16, .n_head_kv = 4,
        .n_ff = 11008, .n_ctx = 65536, .rope_base = 5e6f, .rms_eps = 1e-6f, .tied = true,
    };
}

/* Checks what the engine will check, so synth never writes a model that
 * cannot be opened. */
static int synth_shape_check(const struct synth_shape *s, struct smol_err *err)
{
    const int max = 1 << 20;
    if (s->n_embd <= 0 || s->n_layer <= 0 || s->n_head <= 0 || s->n_head_kv <= 0 ||
        s->n_ff <= 0 || s->n_ctx <= 0 || s->n_embd > max || s->n_ff > max || s->n_layer > 4096 ||
        s->n_ctx > (1 << 24))
        return err_set(err, SMOL_EINVAL, "synth: shape %dx%dx%dx%dx%d has a size out of range",
                       s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff);
    if (s->n_embd % s->n_head || (s->n_embd / s->n_head) % 2 || s->n_head % s->n_head_kv)
        return err_set(err, SMOL_EINVAL, "synth: shape needs n_embd %d divisible by n_head %d "
                       "into an even head size, and n_head divisible by n_head_kv %d",
                       s->n_embd, s->n_head, s->n_head_kv);
    return 0;
}

int synth_shape_parse(const char *spec, struct synth_shape *s, struct smol_err *err)
{
    if (!strcmp(spec, "3b"))
        return synth_shape_3b(s), 0;
    synth_shape_3b(s);
    if (!strcmp(spec, "tiny")) {
        s->n_embd = 256, s->n_layer = 8, s->n_head = 4, s->n_head_kv = 2, s->n_ff = 768;
        s->n_ctx = 2048;
        return 0;
    }
    long v[5];
    const char *p = spec;
    for (int i = 0; i < 5; i++) {
        char *end;
        errno = 0;
        v[i] = strtol(p, &end, 10);
        if (errno || end == p || v[i] <= 0 || v[i] > INT32_MAX || *end != (i < 4 ? 'x' : '\0'))
            return err_set(err, SMOL_EINVAL, "synth: shape '%s' is not 3b, tiny or "
                           "WIDTHxLAYERSxHEADSxKV_HEADSxFFN", spec);
        p = end + 1;
    }
    s->n_embd = (int)v[0], s->n_layer = (int)v[1], s->n_head = (int)v[2];
    s->n_head_kv = (int)v[3], s->n_ff = (int)v[4], s->n_ctx = 4096;
    return synth_shape_check(s, err);
}

/* ================================================================ */
/* The generated vocabulary                                          */
/* ================================================================ */

/* GPT-2's byte-level alphabet: printable bytes stand for themselves, the
 * others are shifted to U+0100 and up, in byte order. */
static bool is_printable_byte(int b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static uint32_t synth_byte_char(int b)
{
    if (is_printable_byte(b))
        return (uint32_t)b;
    int k = 0;
    for (int i = 0; i < b; i++)
        k += !is_printable_byte(i);
    return 256u + (uint32_t)k;
}

static const char *const synth_added[] = {
    "<|begin_of_text|>", "<|end_of_text|>", "<think>", "</think>", "<|im_start|>", "<|im_end|>",
};
static const char *const synth_merges[][2] = {
    {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"\xc4\xa0", "t"}, {"\xc4\xa0t", "he"},
};

enum {
    GEN_N_BYTES = 256,
    GEN_N_MERGES = (int)ARRAY_SIZE(synth_merges),
    GEN_FIRST_ADDED = GEN_N_BYTES + GEN_N_MERGES,
    GEN_N_VOCAB = GEN_FIRST_ADDED + (int)ARRAY_SIZE(synth_added), /* 268 */
};

/* Writes the generated vocabulary's tokenizer keys (the setters copy,
 * so the tables here are temporary). */
static int synth_vocab_generated(struct gguf_writer *w)
{
    struct gguf_str tok[GEN_N_VOCAB], merges[GEN_N_MERGES];
    int32_t types[GEN_N_VOCAB];
    char chars[GEN_N_BYTES][4], merge_text[GEN_N_MERGES][32], merged_text[GEN_N_MERGES][32];
    int k = 0;
    for (int b = 0; b < GEN_N_BYTES; b++, k++) {
        int len = utf8_encode(synth_byte_char(b), chars[b]);
        tok[k] = (struct gguf_str){chars[b], (uint64_t)len};
        types[k] = TOKEN_TYPE_NORMAL;
    }
    for (int i = 0; i < GEN_N_MERGES; i++, k++) {
        int ml = snprintf(merge_text[i], 32, "%s %s", synth_merges[i][0], synth_merges[i][1]);
        int jl = snprintf(merged_text[i], 32, "%s%s", synth_merges[i][0], synth_merges[i][1]);
        merges[i] = (struct gguf_str){merge_text[i], (uint64_t)ml};
        tok[k] = (struct gguf_str){merged_text[i], (uint64_t)jl};
        types[k] = TOKEN_TYPE_NORMAL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(synth_added); i++, k++) {
        tok[k] = (struct gguf_str){synth_added[i], strlen(synth_added[i])};
        types[k] = strstr(synth_added[i], "think") ? TOKEN_TYPE_USER_DEFINED : TOKEN_TYPE_CONTROL;
    }
    int rc = 0;
    rc |= gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    rc |= gguf_writer_set_str(w, "tokenizer.ggml.pre", "smaug-bpe");
    rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok, GEN_N_VOCAB);
    rc |= gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, GEN_N_VOCAB);
    rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, GEN_N_MERGES);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", GEN_FIRST_ADDED);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", GEN_FIRST_ADDED + 5);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", GEN_FIRST_ADDED + 5);
    return rc ? SMOL_ENOMEM : 0;
}

/* The vocabulary size of a GGUF's tokenizer, or a negative status. */
static int synth_vocab_size(const struct gguf_file *v, struct smol_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(v, "tokenizer.ggml.tokens");
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING || kv->n == 0 ||
        kv->n > (1u << 24))
        return err_set(err, SMOL_EINVAL, "synth: the vocabulary file has no tokenizer.ggml.tokens "
                       "string array of 1..16777216 tokens");
    return (int)kv->n;
}

/* ================================================================ */
/* Metadata                                                          */
/* ================================================================ */

/* The keys of a converted SmolLM3 GGUF, in convert_hf_to_gguf's order;
 * a quantized scheme's quantization_version and file_type come last,
 * where llama-quantize puts them. */
static int synth_metadata(struct gguf_writer *w, const struct synth_opts *o, int n_vocab)
{
    const struct synth_shape *sh = &o->shape;
    const bool quantized = quantize_scheme_is_quantized(o->scheme);
    char key[128];
    int rc = 0;
#define ARCH_KEY(suffix) (snprintf(key, sizeof(key), "%s.%s", sh->arch, suffix), key)
    rc |= gguf_writer_set_str(w, "general.architecture", sh->arch);
    rc |= gguf_writer_set_str(w, "general.type", "model");
    rc |= gguf_writer_set_str(w, "general.name", o->name ? o->name : "smolbot synthetic");
    rc |= gguf_writer_set_u32(w, ARCH_KEY("block_count"), (uint32_t)sh->n_layer);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("context_length"), (uint32_t)sh->n_ctx);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("embedding_length"), (uint32_t)sh->n_embd);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)sh->n_ff);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)sh->n_head);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)sh->n_head_kv);
    rc |= gguf_writer_set_f32(w, ARCH_KEY("rope.freq_base"), sh->rope_base);
    rc |= gguf_writer_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), sh->rms_eps);
    if (!quantized)
        rc |= gguf_writer_set_u32(w, "general.file_type", o->scheme->file_type);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("vocab_size"), (uint32_t)n_vocab);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("rope.dimension_count"),
                              (uint32_t)(sh->n_embd / sh->n_head));
#undef ARCH_KEY
    if (rc)
        return SMOL_ENOMEM;
    if (!o->vocab)
        rc = synth_vocab_generated(w);
    for (uint64_t i = 0; o->vocab && i < o->vocab->n_kv && !rc; i++)
        if (o->vocab->kv[i].key.len > 10 && !memcmp(o->vocab->kv[i].key.ptr, "tokenizer.", 10))
            rc = gguf_writer_copy_kv_one(w, &o->vocab->kv[i]);
    if (!rc && quantized) {
        rc |= gguf_writer_set_u32(w, "general.quantization_version", QUANTIZE_QNT_VERSION);
        rc |= gguf_writer_set_u32(w, "general.file_type", o->scheme->file_type);
    }
    return rc ? SMOL_ENOMEM : 0;
}

/* ================================================================ */
/* Weight pools                                                      */
/* ================================================================ */

enum pool_kind { P_EMBD, P_OUT, P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN, P_COUNT };

/* POOL_ROWS random rows of one matrix kind: the floats, and their
 * quantization in each type a tensor of that kind needs. */
struct weight_pool {
    uint64_t cols;
    float sd;
    float *f;                          /* [POOL_ROWS][cols] */
    uint8_t *q[GGML_TYPE_COUNT];       /* [POOL_ROWS][row bytes of type] */
};

/* One tensor to write, and what its fill needs. */
struct synth_tensor {
    char name[48];
    struct synth_data *d;
    int kind;            /* enum pool_kind, or -1 for a norm (drawn directly) */
    uint32_t type;
    uint64_t cols, rows;
    uint64_t seed;
};

struct synth_data {
    struct weight_pool pools[P_COUNT];
    struct synth_tensor *t;
    int n_t;
};

void synth_free(struct synth_data *d)
{
    if (!d)
        return;
    for (int k = 0; k < P_COUNT; k++) {
        free(d->pools[k].f);
        for (int t = 0; t < GGML_TYPE_COUNT; t++)
            free(d->pools[k].q[t]);
    }
    free(d->t);
    free(d);
}

/* Makes sure pool kind has its rows quantized to type. */
static int pool_need(struct synth_data *d, int kind, uint32_t type, uint64_t seed)
{
    struct weight_pool *p = &d->pools[kind];
    if (!p->f) {
        p->f = mem_alloc_array((uint64_t)POOL_ROWS * p->cols, sizeof(float));
        if (!p->f)
            return SMOL_ENOMEM;
        uint64_t rng = synth_mix(seed, 0x1000 + (uint64_t)kind);
        for (uint64_t i = 0; i < POOL_ROWS * p->cols; i++)
            p->f[i] = p->sd * synth_normal(&rng);
    }
    if (p->q[type])
        return 0;
    uint64_t row_bytes;
    if (!quant_row_size(type, p->cols, &row_bytes))
        return SMOL_EINVAL;
    p->q[type] = mem_alloc_array(POOL_ROWS, row_bytes);
    if (!p->q[type])
        return SMOL_ENOMEM;
    for (int r = 0; r < POOL_ROWS; r++)
        quant_quantize_row(type, p->f + (uint64_t)r * p->cols, p->q[type] + r * row_bytes,
                           (int64_t)p->cols);
    return 0;
}

/* Elements per segment copied from one pool row: 256 when rows allow
 * (every block size divides it), else 32, else the whole row. */
static uint64_t segment_len(uint64_t cols)
{
    return cols % QK_K == 0 ? QK_K : cols % QK8_0 == 0 ? QK8_0 : cols;
}

/* gguf_rows_fn: rows [row, row + n) of tensor t into dst. */
static int synth_fill(void *user, uint64_t row, uint64_t n, void *dst, struct smol_err *err)
{
    const struct synth_tensor *t = user;
    (void)err;
    if (t->kind < 0) {
        /* a norm: one row of 1 + 0.1 N(0, 1), F32 */
        uint64_t rng = t->seed;
        float *f = dst;
        for (uint64_t c = 0; c < t->cols; c++)
            f[c] = 1.0f + 0.1f * synth_normal(&rng);
        return 0;
    }
    const struct weight_pool *p = &t->d->pools[t->kind];
    uint64_t row_bytes, seg_bytes;
    const uint64_t seg = segment_len(t->cols), n_seg = t->cols / seg;
    quant_row_size(t->type, t->cols, &row_bytes); /* checked when planned */
    quant_row_size(t->type, seg, &seg_bytes);
    uint8_t *out = dst;
    for (uint64_t r = 0; r < n; r++, out += row_bytes) {
        uint64_t rng = synth_mix(t->seed, row + r);
        for (uint64_t s = 0; s < n_seg; s++) {
            const uint64_t k = synth_next(&rng) % POOL_ROWS;
            memcpy(out + s * seg_bytes, p->q[t->type] + k * row_bytes + s * seg_bytes, seg_bytes);
        }
    }
    return 0;
}

/* ================================================================ */
/* The tensor plan                                                   */
/* ================================================================ */

static int tensor_cmp(const void *a, const void *b)
{
    return quantize_name_cmp(((const struct synth_tensor *)a)->name,
                             ((const struct synth_tensor *)b)->name);
}

/* Appends tensor name (rows x cols; rows 0 for a norm vector) to d. */
static void plan_add(struct synth_data *d, const char *name, int kind, uint64_t rows,
                     uint64_t cols)
{
    struct synth_tensor *t = &d->t[d->n_t++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->d = d;
    t->kind = kind;
    t->rows = rows;
    t->cols = cols;
}

/* Lists every tensor of the model with its kind and shape, sorted into
 * llama-quantize's order. */
static int synth_plan(struct synth_data *d, const struct synth_shape *sh, int n_vocab)
{
    const uint64_t E = (uint64_t)sh->n_embd, hd = E / (uint64_t)sh->n_head;
    const uint64_t Q = (uint64_t)sh->n_head * hd, KV = (uint64_t)sh->n_head_kv * hd;
    const uint64_t F = (uint64_t)sh->n_ff;
    d->t = mem_calloc(3 + 9 * (uint64_t)sh->n_layer, sizeof(*d->t));
    if (!d->t)
        return SMOL_ENOMEM;
    plan_add(d, "token_embd.weight", P_EMBD, (uint64_t)n_vocab, E);
    plan_add(d, "output_norm.weight", -1, 0, E);
    if (!sh->tied)
        plan_add(d, "output.weight", P_OUT, (uint64_t)n_vocab, E);
    static const struct {
        const char *suffix;
        int kind;
    } per_layer[] = {
        {"attn_norm", -1}, {"attn_q", P_Q},       {"attn_k", P_K},       {"attn_v", P_V},
        {"attn_output", P_O}, {"ffn_norm", -1},   {"ffn_gate", P_GATE},  {"ffn_up", P_UP},
        {"ffn_down", P_DOWN},
    };
    for (int l = 0; l < sh->n_layer; l++) {
        for (size_t i = 0; i < ARRAY_SIZE(per_layer); i++) {
            char name[48];
            snprintf(name, sizeof(name), "blk.%d.%s.weight", l, per_layer[i].suffix);
            const int k = per_layer[i].kind;
            const uint64_t rows = k == P_Q ? Q : k == P_K || k == P_V ? KV : k == P_GATE || k == P_UP ? F
                                : k < 0 ? 0 : E;
            const uint64_t cols = k == P_O ? Q : k == P_DOWN ? F : E;
            plan_add(d, name, k, rows, cols);
        }
    }
    qsort(d->t, (size_t)d->n_t, sizeof(*d->t), tensor_cmp);
    /* each pool's row length and spread: 1/sqrt(cols) keeps every
     * matmul's output at the scale of its normalised input */
    static const float embd_sd = 0.25f;
    const uint64_t cols[P_COUNT] = {E, E, E, E, E, Q, E, E, F};
    for (int k = 0; k < P_COUNT; k++) {
        d->pools[k].cols = cols[k];
        d->pools[k].sd = k == P_EMBD ? embd_sd : 1.0f / sqrtf((float)cols[k]);
    }
    return 0;
}

/* ================================================================ */
/* Entry points                                                      */
/* ================================================================ */

struct synth_data *synth_build_model(struct gguf_writer *w, const struct synth_opts *o,
                                     struct smol_err *err)
{
    if (!w || !o || !o->scheme || !o->shape.arch)
        return err_set(err, SMOL_EINVAL, "synth: missing writer, options or scheme"), NULL;
    if (synth_shape_check(&o->shape, err))
        return NULL;
    int n_vocab = o->vocab ? synth_vocab_size(o->vocab, err) : GEN_N_VOCAB;
    if (n_vocab < 0)
        return NULL;
    struct synth_data *d = calloc(1, sizeof(*d));
    if (!d || synth_plan(d, &o->shape, n_vocab) || synth_metadata(w, o, n_vocab)) {
        err_set(err, SMOL_ENOMEM, "synth: out of memory");
        goto fail;
    }
    for (int i = 0; i < d->n_t; i++) {
        struct synth_tensor *t = &d->t[i];
        const uint64_t ne[4] = {t->cols, t->rows ? t->rows : 1, 1, 1};
        t->seed = synth_mix(o->seed, (uint64_t)i + 1);
        t->type = quantize_tensor_type(o->scheme, t->name, ne, GGML_TYPE_F32, o->shape.n_layer,
                                       !o->shape.tied, NULL);
        if (o->skip_tensor && !strcmp(o->skip_tensor, t->name))
            continue;
        int rc = t->kind >= 0 ? pool_need(d, t->kind, t->type, o->seed) : 0;
        if (rc) {
            err_set(err, rc, "synth: cannot make the weight pool of '%s'", t->name);
            goto fail;
        }
        if (gguf_writer_add_tensor_rows(w, t->name, t->type, t->rows ? 2 : 1, ne, synth_fill, t, err))
            goto fail;
    }
    return d;
fail:
    synth_free(d);
    return NULL;
}

int synth_write_model(const char *path, const struct synth_opts *o, struct smol_err *err)
{
    struct gguf_writer *w = gguf_writer_new();
    if (!w)
        return err_set(err, SMOL_ENOMEM, "synth: out of memory");
    struct synth_data *d = synth_build_model(w, o, err);
    int rc = d ? gguf_writer_write(w, path, err) : (err && err->code ? err->code : SMOL_ENOMEM);
    synth_free(d);
    gguf_writer_free(w);
    return rc;
}

struct synth_data *synth_build(struct gguf_writer *w, const struct synth_shape *shape,
                               uint32_t type, uint64_t seed, const char *skip_tensor,
                               struct smol_err *err)
{
    struct synth_opts o = {.shape = *shape, .scheme = quantize_scheme_pure(type), .seed = seed,
                           .skip_tensor = skip_tensor};
    if (!o.scheme)
        return err_set(err, SMOL_EINVAL, "synth: type %u is not a weight type", type), NULL;
    return synth_build_model(w, &o, err);
}

int synth_write(const char *path, const struct synth_shape *shape, uint32_t type, uint64_t seed,
                struct smol_err *err)
{
    struct synth_opts o = {.shape = *shape, .scheme = quantize_scheme_pure(type), .seed = seed};
    if (!o.scheme)
        return err_set(err, SMOL_EINVAL, "synth: type %u is not a weight type", type);
    return synth_write_model(path, &o, err);
}
