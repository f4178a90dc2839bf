/* synth.c: random-weight models with a generated vocabulary (see synth.h). */
#include "synth.h"
#include "mem.h"
#include "quant.h"
#include "tokenizer.h"
#include "utf8.h"

#include <math.h>
#include <string.h>

struct synth_data {
    void **bufs;
    int n, cap;
};

static int synth_keep(struct synth_data *d, void *p)
{
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 32;
        void **b = realloc(d->bufs, (size_t)cap * sizeof(void *));
        if (!b)
            return SMOL_ENOMEM;
        d->bufs = b;
        d->cap = cap;
    }
    d->bufs[d->n++] = p;
    return 0;
}

void synth_free(struct synth_data *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++)
        free(d->bufs[i]);
    free(d->bufs);
    free(d);
}

void synth_shape_tiny(struct synth_shape *s, uint32_t type)
{
    const struct quant_type_info *ti = quant_type_info(type);
    const bool k = ti && ti->block_size == QK_K;
    *s = (struct synth_shape){
        .arch = "smollm3", .n_embd = k ? 256 : 64, .n_layer = 4, .n_head = 4, .n_head_kv = 2,
        .n_ff = k ? 256 : 128, .n_ctx = 512, .rope_base = 10000.0f, .rms_eps = 1e-6f, .tied = true,
    };
}

/* splitmix64 then Box-Muller: reproducible on every platform. */
static uint64_t synth_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float synth_normal(uint64_t *x)
{
    double u1 = ((synth_next(x) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (synth_next(x) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* GPT-2's byte-level alphabet: printable bytes stand for themselves, the
 * others are shifted to U+0100 and up, in byte order. */
static uint32_t synth_byte_char(int b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return (uint32_t)b;
    int k = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
            k++;
    return 256u + (uint32_t)k;
}

static const char *const synth_added[] = {
    "<|begin_of_text|>", "<|end_of_text|>", "<think>", "</think>", "<|im_start|>", "<|im_end|>",
};
static const char *const synth_merges[][2] = {
    {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"\xc4\xa0", "t"}, {"\xc4\xa0t", "he"},
};

static int synth_vocab(struct gguf_writer *w, struct synth_data *d, int *n_vocab)
{
    enum { N_BYTES = 256 };
    const int n_merge = (int)ARRAY_SIZE(synth_merges);
    const int n = N_BYTES + n_merge + (int)ARRAY_SIZE(synth_added);
    struct gguf_str *tok = calloc((size_t)n, sizeof(*tok));
    int32_t *types = calloc((size_t)n, sizeof(int32_t));
    char *chars = calloc(N_BYTES, 4);
    struct gguf_str *merges = calloc((size_t)n_merge, sizeof(*merges));
    char *merge_text = calloc((size_t)n_merge, 32);
    char *merged_text = calloc((size_t)n_merge, 32);
    if (!tok || !types || !chars || !merges || !merge_text || !merged_text ||
        synth_keep(d, tok) || synth_keep(d, types) || synth_keep(d, chars) ||
        synth_keep(d, merges) || synth_keep(d, merge_text) || synth_keep(d, merged_text)) {
        free(tok), free(types), free(chars), free(merges), free(merge_text), free(merged_text);
        return SMOL_ENOMEM;
    }
    int k = 0;
    for (int b = 0; b < N_BYTES; b++, k++) {
        int len = utf8_encode(synth_byte_char(b), chars + 4 * b);
        tok[k] = (struct gguf_str){chars + 4 * b, (uint64_t)len};
        types[k] = TOKEN_TYPE_NORMAL;
    }
    for (int i = 0; i < n_merge; i++, k++) {
        char *mt = merge_text + 32 * i, *jt = merged_text + 32 * i;
        int ml = snprintf(mt, 32, "%s %s", synth_merges[i][0], synth_merges[i][1]);
        int jl = snprintf(jt, 32, "%s%s", synth_merges[i][0], synth_merges[i][1]);
        merges[i] = (struct gguf_str){mt, (uint64_t)ml};
        tok[k] = (struct gguf_str){jt, (uint64_t)jl};
        types[k] = TOKEN_TYPE_NORMAL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(synth_added); i++, k++) {
        tok[k] = (struct gguf_str){synth_added[i], strlen(synth_added[i])};
        types[k] = strstr(synth_added[i], "think") ? TOKEN_TYPE_USER_DEFINED : TOKEN_TYPE_CONTROL;
    }
    const int first_added = N_BYTES + n_merge;
    int rc = 0;
    rc |= gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    rc |= gguf_writer_set_str(w, "tokenizer.ggml.pre", "smaug-bpe");
    rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok, (uint64_t)n);
    rc |= gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)n);
    rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merge);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)first_added);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)first_added + 5);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)first_added + 5);
    *n_vocab = n;
    return rc ? SMOL_ENOMEM : 0;
}

/* Adds one random tensor (rows x cols, or a vector when rows == 0). */
static int synth_tensor(struct gguf_writer *w, struct synth_data *d, const char *name,
                        int64_t rows, int64_t cols, uint32_t type, float stddev, float mean,
                        uint64_t *rng, const char *skip, struct smol_err *err)
{
    if (skip && !strcmp(skip, name))
        return 0;
    const bool vec = rows == 0;
    const int64_t r = vec ? 1 : rows;
    uint64_t row_bytes;
    if (!quant_row_size(type, (uint64_t)cols, &row_bytes))
        return err_set(err, SMOL_EINVAL, "synth: %lld columns do not fit type %u", (long long)cols, type);
    uint8_t *data = mem_alloc_array((uint64_t)r, row_bytes);
    float *row = mem_alloc_array((uint64_t)cols, sizeof(float));
    if (!data || !row || synth_keep(d, data)) {
        free(data), free(row);
        return err_set(err, SMOL_ENOMEM, "synth: out of memory for '%s'", name);
    }
    for (int64_t i = 0; i < r; i++) {
        for (int64_t c = 0; c < cols; c++)
            row[c] = mean + stddev * synth_normal(rng);
        quant_quantize_row(type, row, data + (uint64_t)i * row_bytes, cols);
    }
    free(row);
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)r};
    return gguf_writer_add_tensor(w, name, type, vec ? 1 : 2, ne, data, (uint64_t)r * row_bytes, err);
}

struct synth_data *synth_build(struct gguf_writer *w, const struct synth_shape *sh, uint32_t type,
                               uint64_t seed, const char *skip, struct smol_err *err)
{
    struct synth_data *d = calloc(1, sizeof(*d));
    if (!d)
        return err_set(err, SMOL_ENOMEM, "synth: out of memory"), NULL;
    char key[128];
    int n_vocab = 0, rc = 0;
    const int hd = sh->n_embd / sh->n_head;
#define ARCH_KEY(suffix) (snprintf(key, sizeof(key), "%s.%s", sh->arch, suffix), key)
    rc |= gguf_writer_set_str(w, "general.architecture", sh->arch);
    rc |= gguf_writer_set_str(w, "general.name", "smolbot synthetic");
    rc |= gguf_writer_set_u32(w, ARCH_KEY("context_length"), (uint32_t)sh->n_ctx);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("embedding_length"), (uint32_t)sh->n_embd);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("block_count"), (uint32_t)sh->n_layer);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)sh->n_ff);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)sh->n_head);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)sh->n_head_kv);
    rc |= gguf_writer_set_f32(w, ARCH_KEY("rope.freq_base"), sh->rope_base);
    rc |= gguf_writer_set_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)hd);
    rc |= gguf_writer_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), sh->rms_eps);
#undef ARCH_KEY
    if (rc || synth_vocab(w, d, &n_vocab)) {
        err_set(err, SMOL_ENOMEM, "synth: out of memory for metadata");
        goto fail;
    }
    uint64_t rng = seed;
    const int64_t E = sh->n_embd, Q = (int64_t)sh->n_head * hd, KV = (int64_t)sh->n_head_kv * hd;
    const float se = 1.0f / sqrtf((float)E);
    if (synth_tensor(w, d, "token_embd.weight", n_vocab, E, type, 0.25f, 0, &rng, skip, err) ||
        synth_tensor(w, d, "output_norm.weight", 0, E, GGML_TYPE_F32, 0.1f, 1.0f, &rng, skip, err) ||
        (!sh->tied && synth_tensor(w, d, "output.weight", n_vocab, E, type, se, 0, &rng, skip, err)))
        goto fail;
    for (int l = 0; l < sh->n_layer; l++) {
        char name[64];
#define T(suffix, rows, cols, sd, mean, ty)                                                   \
        snprintf(name, sizeof(name), "blk.%d.%s.weight", l, suffix);                         \
        if (synth_tensor(w, d, name, rows, cols, ty, sd, mean, &rng, skip, err))             \
            goto fail;
        T("attn_norm", 0, E, 0.1f, 1.0f, GGML_TYPE_F32)
        T("attn_q", Q, E, se, 0, type)
        T("attn_k", KV, E, se, 0, type)
        T("attn_v", KV, E, se, 0, type)
        T("attn_output", E, Q, 1.0f / sqrtf((float)Q), 0, type)
        T("ffn_norm", 0, E, 0.1f, 1.0f, GGML_TYPE_F32)
        T("ffn_gate", sh->n_ff, E, se, 0, type)
        T("ffn_up", sh->n_ff, E, se, 0, type)
        T("ffn_down", E, sh->n_ff, 1.0f / sqrtf((float)sh->n_ff), 0, type)
#undef T
    }
    return d;
fail:
    synth_free(d);
    return NULL;
}

int synth_write(const char *path, const struct synth_shape *shape, uint32_t type, uint64_t seed,
                struct smol_err *err)
{
    struct gguf_writer *w = gguf_writer_new();
    if (!w)
        return err_set(err, SMOL_ENOMEM, "synth: out of memory");
    struct synth_data *d = synth_build(w, shape, type, seed, NULL, err);
    int rc = d ? gguf_writer_write(w, path, err) : (err && err->code ? err->code : SMOL_ENOMEM);
    synth_free(d);
    gguf_writer_free(w);
    return rc;
}
