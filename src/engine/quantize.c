/*
 * quantize.c: llama-quantize's recipe and file layout (see quantize.h).
 *
 * The recipe is a transcription of the part of llama.cpp's
 * llama_tensor_get_type (src/llama-quant.cpp) that the schemes we offer
 * reach; the file layout follows llama_model_quantize_impl: copy the
 * input's keys, set general.quantization_version and general.file_type
 * (ggml moves a key it sets to the end), drop split keys, walk the
 * tensors in the model loader's weight_name_comparer order, and write
 * each at the running offset padded to 32. The blocks themselves come
 * from quant.c's reference quantizers, which equal ggml's _ref ones.
 *
 * Conversion happens while writing: every converted tensor is a
 * streamed tensor (gguf_writer_add_tensor_rows) whose rows are
 * dequantized from the input map (when not F32) and quantized on the
 * fly, split across threads; tensors that keep their type are written
 * straight from the map.
 */
#include "quantize.h"

#include "gguf.h"
#include "mem.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

/* ================================================================ */
/* Schemes                                                           */
/* ================================================================ */

/* llama.cpp's LLAMA_FTYPE_* numbers for general.file_type. */
enum {
    FTYPE_ALL_F32 = 0,
    FTYPE_MOSTLY_F16 = 1,
    FTYPE_MOSTLY_Q4_0 = 2,
    FTYPE_MOSTLY_Q8_0 = 7,
    FTYPE_MOSTLY_Q4_K_M = 15,
    FTYPE_MOSTLY_Q5_K_M = 17,
    FTYPE_MOSTLY_Q6_K = 18,
    FTYPE_MOSTLY_BF16 = 32,
};

/* The named schemes, in the order usage messages list them. */
static const struct quantize_scheme schemes[] = {
    {"F32", FTYPE_ALL_F32, GGML_TYPE_F32, false},
    {"F16", FTYPE_MOSTLY_F16, GGML_TYPE_F16, false},
    {"BF16", FTYPE_MOSTLY_BF16, GGML_TYPE_BF16, false},
    {"Q8_0", FTYPE_MOSTLY_Q8_0, GGML_TYPE_Q8_0, false},
    {"Q4_0", FTYPE_MOSTLY_Q4_0, GGML_TYPE_Q4_0, false},
    {"Q6_K", FTYPE_MOSTLY_Q6_K, GGML_TYPE_Q6_K, false},
    {"Q4_K_M", FTYPE_MOSTLY_Q4_K_M, GGML_TYPE_Q4_K, false},
    {"Q5_K_M", FTYPE_MOSTLY_Q5_K_M, GGML_TYPE_Q5_K, false},
    {"Q4_K", FTYPE_MOSTLY_Q4_K_M, GGML_TYPE_Q4_K, true},
    {"Q5_K", FTYPE_MOSTLY_Q5_K_M, GGML_TYPE_Q5_K, true},
};

/* Pure schemes for synth's single-type models. Q4_K and Q5_K carry the
 * file_type llama.cpp's loader guesses for a file mostly of that type. */
static const struct quantize_scheme pure_schemes[] = {
    {"F32", FTYPE_ALL_F32, GGML_TYPE_F32, true},
    {"F16", FTYPE_MOSTLY_F16, GGML_TYPE_F16, true},
    {"BF16", FTYPE_MOSTLY_BF16, GGML_TYPE_BF16, true},
    {"Q8_0", FTYPE_MOSTLY_Q8_0, GGML_TYPE_Q8_0, true},
    {"Q4_0", FTYPE_MOSTLY_Q4_0, GGML_TYPE_Q4_0, true},
    {"Q4_K", FTYPE_MOSTLY_Q4_K_M, GGML_TYPE_Q4_K, true},
    {"Q5_K", FTYPE_MOSTLY_Q5_K_M, GGML_TYPE_Q5_K, true},
    {"Q6_K", FTYPE_MOSTLY_Q6_K, GGML_TYPE_Q6_K, true},
};

const struct quantize_scheme *quantize_scheme_find(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(schemes); i++)
        if (!strcasecmp(name, schemes[i].name))
            return &schemes[i];
    return NULL;
}

const struct quantize_scheme *quantize_scheme_pure(uint32_t type)
{
    for (size_t i = 0; i < ARRAY_SIZE(pure_schemes); i++)
        if (pure_schemes[i].base_type == type)
            return &pure_schemes[i];
    return NULL;
}

const char *quantize_scheme_names(void)
{
    return "F32, F16, BF16, Q8_0, Q4_0, Q6_K, Q4_K_M, Q5_K_M, Q4_K, Q5_K";
}

bool quantize_scheme_is_quantized(const struct quantize_scheme *s)
{
    return s->base_type != GGML_TYPE_F32 && s->base_type != GGML_TYPE_F16 &&
           s->base_type != GGML_TYPE_BF16;
}

/* ================================================================ */
/* The recipe                                                        */
/* ================================================================ */

bool quantize_use_more_bits(int i_layer, int n_layer)
{
    /* C's / and % truncate like C++'s; i - n/8 >= 0 whenever the last
     * clause is reached, so % never sees a negative operand. */
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 ||
           (i_layer - n_layer / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

/* ggml_n_dims: the index of the last dimension above 1, plus one. */
static uint32_t n_dims_of(const uint64_t *ne)
{
    for (uint32_t i = 4; i > 1; i--)
        if (ne[i - 1] > 1)
            return i;
    return 1;
}

bool quantize_is_matrix(const char *name, const uint64_t *ne)
{
    /* llama-quantize's test, less the tensors SmolLM3 never has (MoE
     * gates, positional embeddings, Mamba convolutions...). */
    return ends_with(name, "weight") && n_dims_of(ne) >= 2 && !strstr(name, "_norm.weight") &&
           !strstr(name, "ffn_gate_inp.weight");
}

/* The layer of "blk.N.xxx", or -1 outside blocks (as sscanf leaves it in
 * weight_name_comparer). */
static int layer_of(const char *name)
{
    int layer = -1;
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    if (sscanf(name, "blk.%d.", &layer) != 1)
        return -1;
    return layer;
}

static uint32_t block_size(uint32_t type)
{
    const struct quant_type_info *ti = quant_type_info(type);
    return ti ? ti->block_size : 1;
}

/* llama_tensor_get_type's choice for a matrix under a quantized mix,
 * before the row-length check. */
static uint32_t recipe_type(const struct quantize_scheme *s, const char *name, const uint64_t *ne,
                            int n_layer, bool has_output)
{
    uint32_t t = s->base_type;
    const bool is_output = !strcmp(name, "output.weight") ||
                           (!has_output && !strcmp(name, "token_embd.weight"));
    const bool mix_m = s->file_type == FTYPE_MOSTLY_Q4_K_M || s->file_type == FTYPE_MOSTLY_Q5_K_M;
    if (is_output) {
        /* the output matrix: its own row test against the base type,
         * then Q6_K unless the scheme is Q8_0 already */
        if (ne[0] % block_size(t) != 0)
            t = GGML_TYPE_Q8_0;
        else if (t != GGML_TYPE_Q8_0)
            t = GGML_TYPE_Q6_K;
    } else if (strstr(name, "attn_v.weight") || strstr(name, "ffn_down")) {
        /* llama.cpp counts attn_v / ffn_down tensors in its sorted
         * order, where the count is the layer number */
        if (mix_m && quantize_use_more_bits(layer_of(name), n_layer))
            t = GGML_TYPE_Q6_K;
    }
    return t;
}

uint32_t quantize_tensor_type(const struct quantize_scheme *s, const char *name,
                              const uint64_t *ne, uint32_t src_type, int n_layer,
                              bool has_output, bool *fallback)
{
    if (fallback)
        *fallback = false;
    if (!quantize_is_matrix(name, ne))
        return src_type;
    uint32_t t = s->base_type;
    if (!s->pure && quantize_scheme_is_quantized(s))
        t = recipe_type(s, name, ne, n_layer, has_output);
    if (ne[0] % block_size(t) == 0)
        return t;
    if (fallback)
        *fallback = true;
    return ne[0] % QK8_0 == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F16;
}

int quantize_name_cmp(const char *a, const char *b)
{
    int la = layer_of(a), lb = layer_of(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

/* ================================================================ */
/* Converting rows                                                   */
/* ================================================================ */

/* One converted tensor: its source in the input map and its new type.
 * scratch holds one row of floats per thread. */
struct conv {
    const uint8_t *src;
    uint32_t src_type, dst_type;
    uint64_t n_cols, src_row_bytes, dst_row_bytes;
    int n_threads;
    float *scratch; /* [n_threads][n_cols] */
};

/* Rows [row0, row0 + n) of c into dst, with the thread's scratch row. */
static void conv_rows(const struct conv *c, float *scratch, uint64_t row0, uint64_t n,
                      uint8_t *dst)
{
    for (uint64_t r = 0; r < n; r++) {
        const uint8_t *s = c->src + (row0 + r) * c->src_row_bytes;
        const float *x = (const float *)s;
        if (c->src_type != GGML_TYPE_F32) {
            quant_dequantize_row(c->src_type, s, scratch, (int64_t)c->n_cols);
            x = scratch;
        }
        quant_quantize_row(c->dst_type, x, dst + r * c->dst_row_bytes, (int64_t)c->n_cols);
    }
}

struct conv_job {
    const struct conv *c;
    float *scratch;
    uint64_t row0, n;
    uint8_t *dst;
};

static void *conv_thread(void *arg)
{
    struct conv_job *j = arg;
    conv_rows(j->c, j->scratch, j->row0, j->n, j->dst);
    return NULL;
}

/* gguf_rows_fn: converts a chunk, split into one contiguous run of rows
 * per thread. Rows are independent, so the bytes do not depend on the
 * thread count. Threads are started per chunk (a chunk is a few MiB of
 * output, so that costs nothing next to the quantization). */
static int conv_fill(void *user, uint64_t row, uint64_t n_rows, void *dst, struct smol_err *err)
{
    const struct conv *c = user;
    enum { MAX_THREADS = 64 };
    struct conv_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    const uint64_t nt = MIN((uint64_t)c->n_threads, n_rows);
    const uint64_t per = n_rows / nt, extra = n_rows % nt;
    uint64_t at = 0, started = 0;
    for (uint64_t t = 0; t < nt; t++) {
        const uint64_t n = per + (t < extra);
        jobs[t] = (struct conv_job){c, c->scratch + t * c->n_cols, row + at, n,
                                    (uint8_t *)dst + at * c->dst_row_bytes};
        at += n;
    }
    /* job 0 runs on this thread; a failed start runs its job here too */
    for (uint64_t t = 1; t < nt; t++) {
        if (pthread_create(&tid[t], NULL, conv_thread, &jobs[t]) != 0)
            break;
        started = t;
    }
    conv_thread(&jobs[0]);
    for (uint64_t t = started + 1; t < nt; t++)
        conv_thread(&jobs[t]);
    for (uint64_t t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    (void)err;
    return 0;
}

/* ================================================================ */
/* The file                                                          */
/* ================================================================ */

/* A tensor of the input with its name as a C string, for sorting. */
struct entry {
    const struct gguf_tensor *t;
    char *name;
};

static int entry_cmp(const void *a, const void *b)
{
    return quantize_name_cmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The model's block count: <arch>.block_count, else one past the
 * highest blk.N in the tensor names. */
static int model_n_layer(const struct gguf_file *f, const struct entry *e, uint64_t n)
{
    struct gguf_str arch;
    if (gguf_get_str(f, "general.architecture", &arch, NULL) == 0 && arch.len < 64) {
        char key[96];
        uint32_t v;
        snprintf(key, sizeof(key), "%.*s.block_count", (int)arch.len, arch.ptr);
        if (gguf_get_u32(f, key, &v, NULL) == 0 && v <= INT32_MAX)
            return (int)v;
    }
    int n_layer = 0;
    for (uint64_t i = 0; i < n; i++)
        n_layer = MAX(n_layer, layer_of(e[i].name) + 1);
    return n_layer;
}

/* Metadata as llama-quantize leaves it: the input's keys, then
 * quantization_version and file_type re-set (so moved last), without
 * the keys of a split file. */
static int quantize_metadata(struct gguf_writer *w, const struct gguf_file *f,
                             const struct quantize_scheme *s)
{
    static const char *const split_keys[] = {"split.no", "split.count", "split.tensors.count"};
    int rc = gguf_writer_copy_kv(w, f);
    if (rc)
        return rc;
    gguf_writer_remove(w, "general.quantization_version");
    gguf_writer_remove(w, "general.file_type");
    rc = gguf_writer_set_u32(w, "general.quantization_version", QUANTIZE_QNT_VERSION);
    if (!rc)
        rc = gguf_writer_set_u32(w, "general.file_type", s->file_type);
    for (size_t i = 0; i < ARRAY_SIZE(split_keys); i++)
        gguf_writer_remove(w, split_keys[i]);
    return rc;
}

/* Decides tensor e's output type and adds it to w: straight from the
 * map when the type stays, else as a streamed conversion set up in *c. */
static int quantize_add(struct gguf_writer *w, const struct entry *e, const struct quantize_scheme *s,
                        int n_layer, bool has_output, int n_threads, struct conv *c,
                        struct quantize_stats *st, struct smol_err *err)
{
    const struct gguf_tensor *t = e->t;
    bool fb;
    uint32_t type = quantize_tensor_type(s, e->name, t->ne, t->type, n_layer, has_output, &fb);
    const uint32_t n_dims = n_dims_of(t->ne); /* as ggml writes it */
    st->n_fallback += fb;
    if (type == t->type)
        return gguf_writer_add_tensor(w, e->name, type, n_dims, t->ne, t->data, t->size, err);
    if (!quant_is_supported(t->type))
        return err_set(err, SMOL_EUNSUPPORTED, "quantize: tensor '%s' has type %s, which we "
                       "cannot dequantize", e->name, quant_type_info(t->type)->name);
    *c = (struct conv){.src = t->data, .src_type = t->type, .dst_type = type, .n_cols = t->ne[0],
                       .n_threads = n_threads};
    if (!quant_row_size(t->type, t->ne[0], &c->src_row_bytes) ||
        !quant_row_size(type, t->ne[0], &c->dst_row_bytes))
        return err_set(err, SMOL_EINVAL, "quantize: tensor '%s' rows do not fit its type", e->name);
    c->scratch = mem_alloc_array((uint64_t)n_threads * t->ne[0], sizeof(float));
    if (!c->scratch)
        return err_set(err, SMOL_ENOMEM, "quantize: out of memory for tensor '%s'", e->name);
    st->n_converted++;
    return gguf_writer_add_tensor_rows(w, e->name, type, n_dims, t->ne, conv_fill, c, err);
}

int quantize_file(const char *in, const char *out, const struct quantize_scheme *s, int n_threads,
                  struct quantize_stats *st_out, struct smol_err *err)
{
    struct quantize_stats st = {0};
    struct gguf_file *f = NULL;
    struct gguf_writer *w = NULL;
    struct entry *e = NULL;
    struct conv *convs = NULL;
    n_threads = MAX(1, MIN(n_threads, 64));
    if (!s)
        return err_set(err, SMOL_EINVAL, "quantize: no scheme given");
    int rc = gguf_open(&f, in, err);
    if (rc)
        return rc;
    const uint64_t n = f->n_tensors;
    e = mem_calloc(n ? n : 1, sizeof(*e));
    convs = mem_calloc(n ? n : 1, sizeof(*convs));
    w = gguf_writer_new();
    if (!e || !convs || !w) {
        rc = err_set(err, SMOL_ENOMEM, "quantize: out of memory for %llu tensors",
                     (unsigned long long)n);
        goto done;
    }
    bool has_output = false;
    for (uint64_t i = 0; i < n; i++) {
        e[i].t = &f->tensors[i];
        e[i].name = mem_strndup(f->tensors[i].name.ptr, (size_t)f->tensors[i].name.len);
        if (!e[i].name) {
            rc = err_set(err, SMOL_ENOMEM, "quantize: out of memory");
            goto done;
        }
        has_output |= !strcmp(e[i].name, "output.weight");
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    st.n_layer = model_n_layer(f, e, n);
    if (quantize_metadata(w, f, s)) {
        rc = err_set(err, SMOL_ENOMEM, "quantize: out of memory copying metadata");
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        rc = quantize_add(w, &e[i], s, st.n_layer, has_output, n_threads, &convs[i], &st, err);
        if (rc)
            goto done;
    }
    rc = gguf_writer_write(w, out, err);
    if (rc)
        goto done;
    /* the census, from what was actually added */
    for (uint64_t i = 0; i < n; i++) {
        uint32_t type = convs[i].scratch ? convs[i].dst_type : e[i].t->type;
        uint64_t bytes = e[i].t->size;
        if (convs[i].scratch)
            bytes = convs[i].dst_row_bytes * (e[i].t->size / convs[i].src_row_bytes);
        st.n_tensors++;
        st.bytes_in += e[i].t->size;
        st.bytes_out += bytes;
        if (type < GGML_TYPE_COUNT)
            st.type_count[type]++;
    }
    if (st_out)
        *st_out = st;
done:
    for (uint64_t i = 0; e && convs && i < n; i++) {
        free(e[i].name);
        free(convs[i].scratch);
    }
    free(e);
    free(convs);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}
