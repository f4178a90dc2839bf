/*
 * model.c: opening a SmolLM3 (or Llama) GGUF: hyperparameters from the
 * metadata, every tensor bound by name with its shape and type checked,
 * the tokenizer built. After smol_model_open the model is immutable.
 */
#include "model.h"
#include "kernels.h"
#include "mem.h"
#include "pool.h"
#include "quant.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Hyperparameters                                                     */
/* ------------------------------------------------------------------ */

/* Reads "<arch>.<suffix>" as a u32 into *out. Required keys fail with a
 * sentence; optional ones leave *out as it was when absent. */
static int model_get_arch_u32(const struct smol_model *m, const char *suffix,
                              int *out, bool required, struct smol_err *err)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch, suffix);
    uint32_t v;
    int rc = gguf_get_u32(m->gguf, key, &v, err);
    if (rc == SMOL_ENOTFOUND) {
        if (!required)
            return 0;
        return err_set(err, SMOL_EFORMAT, "model: required key '%s' is missing", key);
    }
    if (rc)
        return rc;
    if (v > (uint32_t)INT32_MAX)
        return err_set(err, SMOL_EFORMAT, "model: key '%s' = %u is too large", key, v);
    *out = (int)v;
    return 0;
}

static int model_get_arch_f32(const struct smol_model *m, const char *suffix,
                              float *out, struct smol_err *err)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch, suffix);
    int rc = gguf_get_f32(m->gguf, key, out, err);
    return rc == SMOL_ENOTFOUND ? 0 : rc;
}

static int model_read_hparams(struct smol_model *m, struct smol_err *err)
{
    struct hparams *hp = &m->hp;
    struct gguf_str arch;
    int rc = gguf_get_str(m->gguf, "general.architecture", &arch, err);
    if (rc == SMOL_ENOTFOUND)
        return err_set(err, SMOL_EFORMAT, "model: key 'general.architecture' is missing");
    if (rc)
        return rc;
    if (gguf_str_eq(arch, "smollm3"))
        hp->nope_interval = 4; /* SmolLM3: layers 3, 7, 11, ... use no RoPE */
    else if (gguf_str_eq(arch, "llama"))
        hp->nope_interval = 0;
    else
        return err_set(err, SMOL_EUNSUPPORTED,
                       "model: architecture '%.*s' is not supported (smollm3 or llama)",
                       (int)MIN(arch.len, 64), arch.ptr);
    memcpy(m->arch, arch.ptr, arch.len);
    m->arch[arch.len] = '\0';

    struct gguf_str name;
    if (gguf_get_str(m->gguf, "general.name", &name, NULL) == 0) {
        size_t n = MIN(name.len, sizeof(m->name) - 1);
        memcpy(m->name, name.ptr, n);
        m->name[n] = '\0';
    }

    hp->n_ctx_train = 2048;
    hp->rope_base = 10000.0f;
    hp->rms_eps = 1e-5f;
    if ((rc = model_get_arch_u32(m, "embedding_length", &hp->n_embd, true, err)) ||
        (rc = model_get_arch_u32(m, "block_count", &hp->n_layer, true, err)) ||
        (rc = model_get_arch_u32(m, "feed_forward_length", &hp->n_ff, true, err)) ||
        (rc = model_get_arch_u32(m, "attention.head_count", &hp->n_head, true, err)) ||
        (rc = model_get_arch_u32(m, "context_length", &hp->n_ctx_train, false, err)) ||
        (rc = model_get_arch_f32(m, "rope.freq_base", &hp->rope_base, err)) ||
        (rc = model_get_arch_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)))
        return rc;
    hp->n_head_kv = hp->n_head;
    if ((rc = model_get_arch_u32(m, "attention.head_count_kv", &hp->n_head_kv, false, err)))
        return rc;

    /* Validate before anything is sized from these numbers. */
    if (hp->n_embd <= 0 || hp->n_embd > 65536)
        return err_set(err, SMOL_EFORMAT, "model: embedding_length %d outside 1..65536", hp->n_embd);
    if (hp->n_layer <= 0 || hp->n_layer > 1024)
        return err_set(err, SMOL_EFORMAT, "model: block_count %d outside 1..1024", hp->n_layer);
    if (hp->n_ff <= 0 || hp->n_ff > 1 << 20)
        return err_set(err, SMOL_EFORMAT, "model: feed_forward_length %d outside 1..1048576", hp->n_ff);
    if (hp->n_head <= 0 || hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0)
        return err_set(err, SMOL_EFORMAT,
                       "model: head_count %d is not a positive multiple of head_count_kv %d",
                       hp->n_head, hp->n_head_kv);
    if (hp->n_embd % hp->n_head != 0)
        return err_set(err, SMOL_EFORMAT,
                       "model: embedding_length %d is not divisible by head_count %d",
                       hp->n_embd, hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = model_get_arch_u32(m, "attention.key_length", &hp->head_dim, false, err)))
        return rc;
    if (hp->head_dim <= 0 || hp->head_dim > 1024 || hp->head_dim % 2)
        return err_set(err, SMOL_EFORMAT, "model: head dimension %d is not even and in 2..1024",
                       hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((rc = model_get_arch_u32(m, "rope.dimension_count", &hp->n_rot, false, err)))
        return rc;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return err_set(err, SMOL_EFORMAT,
                       "model: rope.dimension_count %d is not even and at most the head dimension %d",
                       hp->n_rot, hp->head_dim);
    if (!(hp->rope_base > 0.0f) || hp->rope_base > 1e12f)
        return err_set(err, SMOL_EFORMAT, "model: rope.freq_base %g is not a positive number",
                       (double)hp->rope_base);
    if (!(hp->rms_eps > 0.0f) || hp->rms_eps > 1.0f)
        return err_set(err, SMOL_EFORMAT, "model: rms epsilon %g is not in (0, 1]",
                       (double)hp->rms_eps);
    if (hp->n_ctx_train <= 0)
        hp->n_ctx_train = 2048;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

/* Binds tensor `name` as a (rows, cols) matrix of a supported type. */
static int model_bind_weight(struct smol_model *m, const char *name, int64_t rows,
                             int64_t cols, struct weight *w, struct smol_err *err)
{
    const struct gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    if (!t)
        return err_set(err, SMOL_EFORMAT, "model: tensor '%s' is missing", name);
    if (t->n_dims != 2 || (int64_t)t->ne[0] != cols || (int64_t)t->ne[1] != rows)
        return err_set(err, SMOL_EFORMAT,
                       "model: tensor '%s' has shape [%llu, %llu] (%u dims), expected [%lld, %lld]",
                       name, (unsigned long long)t->ne[0],
                       (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 1), t->n_dims,
                       (long long)cols, (long long)rows);
    if (!quant_is_supported(t->type) || t->type == GGML_TYPE_Q8_K) {
        const struct quant_type_info *ti = quant_type_info(t->type);
        return err_set(err, SMOL_EUNSUPPORTED,
                       "model: tensor '%s' has type %s, which this engine cannot compute with",
                       name, ti ? ti->name : "unknown");
    }
    w->data = t->data;
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    if (!quant_row_size(t->type, (uint64_t)cols, &w->row_bytes))
        return err_set(err, SMOL_EFORMAT, "model: tensor '%s' row size overflows", name);
    return 0;
}

/* Binds a norm vector of n elements and converts it to an owned float
 * array (*out). */
static int model_bind_norm(struct smol_model *m, const char *name, int64_t n, float **out,
                           struct smol_err *err)
{
    const struct gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    if (!t)
        return err_set(err, SMOL_EFORMAT, "model: tensor '%s' is missing", name);
    if (t->n_dims != 1 || (int64_t)t->ne[0] != n)
        return err_set(err, SMOL_EFORMAT,
                       "model: tensor '%s' has %u dims and %llu elements, expected a vector of %lld",
                       name, t->n_dims, (unsigned long long)t->ne[0], (long long)n);
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16)
        return err_set(err, SMOL_EUNSUPPORTED,
                       "model: norm tensor '%s' must be F32, F16 or BF16", name);
    *out = mem_alloc_array((uint64_t)n, sizeof(float));
    if (!*out)
        return err_set(err, SMOL_ENOMEM, "model: out of memory for '%s'", name);
    quant_dequantize_row(t->type, t->data, *out, n);
    return 0;
}

static int model_bind_tensors(struct smol_model *m, struct smol_err *err)
{
    const struct hparams *hp = &m->hp;
    const struct gguf_tensor *emb = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!emb)
        return err_set(err, SMOL_EFORMAT, "model: tensor 'token_embd.weight' is missing");
    if (emb->n_dims != 2 || emb->ne[1] == 0 || emb->ne[1] > (1u << 24))
        return err_set(err, SMOL_EFORMAT, "model: tensor 'token_embd.weight' is not a [n_embd, n_vocab] matrix");
    m->hp.n_vocab = (int)emb->ne[1];
    int rc = model_bind_weight(m, "token_embd.weight", hp->n_vocab, hp->n_embd, &m->tok_embd, err);
    if (rc)
        return rc;
    m->tied = gguf_find_tensor(m->gguf, "output.weight") == NULL;
    if (m->tied)
        m->output = m->tok_embd;
    else if ((rc = model_bind_weight(m, "output.weight", hp->n_vocab, hp->n_embd, &m->output, err)))
        return rc;
    if ((rc = model_bind_norm(m, "output_norm.weight", hp->n_embd, &m->output_norm, err)))
        return rc;

    m->layers = mem_calloc((uint64_t)hp->n_layer, sizeof(*m->layers));
    if (!m->layers)
        return err_set(err, SMOL_ENOMEM, "model: out of memory for %d layers", hp->n_layer);
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    for (int i = 0; i < hp->n_layer; i++) {
        struct layer *l = &m->layers[i];
        char name[96];
#define BIND_W(field, suffix, rows, cols)                                        \
        snprintf(name, sizeof(name), "blk.%d.%s.weight", i, suffix);             \
        if ((rc = model_bind_weight(m, name, rows, cols, &l->field, err)))       \
            return rc;
#define BIND_N(field, suffix)                                                    \
        snprintf(name, sizeof(name), "blk.%d.%s.weight", i, suffix);             \
        if ((rc = model_bind_norm(m, name, hp->n_embd, &l->field, err)))         \
            return rc;
        BIND_N(attn_norm, "attn_norm")
        BIND_N(ffn_norm, "ffn_norm")
        BIND_W(wq, "attn_q", q_dim, hp->n_embd)
        BIND_W(wk, "attn_k", kv_dim, hp->n_embd)
        BIND_W(wv, "attn_v", kv_dim, hp->n_embd)
        BIND_W(wo, "attn_output", hp->n_embd, q_dim)
        BIND_W(w_gate, "ffn_gate", hp->n_ff, hp->n_embd)
        BIND_W(w_up, "ffn_up", hp->n_ff, hp->n_embd)
        BIND_W(w_down, "ffn_down", hp->n_embd, hp->n_ff)
#undef BIND_W
#undef BIND_N
        l->use_rope = hp->nope_interval == 0 || (i + 1) % hp->nope_interval != 0;
    }
    return 0;
}

/* The SmolLM3 template is recognised by its metadata header; anything
 * else gets plain ChatML. */
static bool model_detect_smollm3_template(const struct gguf_file *f)
{
    struct gguf_str t;
    if (gguf_get_str(f, "tokenizer.chat_template", &t, NULL) != 0)
        return false;
    static const char marker[] = "Reasoning Mode: ";
    if (t.len < sizeof(marker))
        return false;
    for (uint64_t i = 0; i + sizeof(marker) - 1 <= t.len; i++)
        if (memcmp(t.ptr + i, marker, sizeof(marker) - 1) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Public                                                              */
/* ------------------------------------------------------------------ */

struct smol_model *smol_model_open(const char *path, const struct smol_model_opts *opts,
                                   struct smol_err *err)
{
    struct smol_model *m = calloc(1, sizeof(*m));
    if (!m) {
        err_set(err, SMOL_ENOMEM, "model: out of memory");
        return NULL;
    }
    m->vocab_only = opts && opts->vocab_only;
    const bool map = m->vocab_only || (opts && opts->map_weights);
    if (gguf_open_ex(&m->gguf, path, map ? 0 : GGUF_OPEN_LOAD, err) != 0)
        goto fail;
    if (!m->vocab_only && (model_read_hparams(m, err) != 0 || model_bind_tensors(m, err) != 0))
        goto fail;
    if (!m->vocab_only) {
        /* the kernels (SMOL_KERNELS may name an unusable set: say so),
         * then the threads every sequence of this model shares */
        m->kern = kernels_default(err);
        if (!m->kern)
            goto fail;
        m->n_threads = opts && opts->n_threads > 0 ? MIN(opts->n_threads, POOL_MAX_THREADS)
                                                   : pool_cpu_count();
        m->pool = pool_new(m->n_threads, err);
        if (!m->pool)
            goto fail;
    }
    if (tokenizer_load(&m->tok, m->gguf, err) != 0)
        goto fail;
    if (m->vocab_only) {
        m->hp.n_vocab = tokenizer_n_vocab(m->tok);
    } else if (tokenizer_n_vocab(m->tok) != m->hp.n_vocab) {
        err_set(err, SMOL_EFORMAT,
                "model: the tokenizer has %d tokens but token_embd.weight has %d rows",
                tokenizer_n_vocab(m->tok), m->hp.n_vocab);
        goto fail;
    }
    m->is_smollm3_template = model_detect_smollm3_template(m->gguf);
    return m;
fail:
    smol_model_close(m);
    return NULL;
}

void smol_model_close(struct smol_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int i = 0; i < m->hp.n_layer; i++) {
            free(m->layers[i].attn_norm);
            free(m->layers[i].ffn_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    pool_free(m->pool);
    tokenizer_free(m->tok);
    gguf_close(m->gguf);
    free(m);
}

void smol_model_get_info(const struct smol_model *m, struct smol_model_info *out)
{
    memset(out, 0, sizeof(*out));
    const struct hparams *hp = &m->hp;
    snprintf(out->arch, sizeof(out->arch), "%s", m->arch);
    snprintf(out->name, sizeof(out->name), "%s", m->name);
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    out->n_embd = hp->n_embd;
    out->n_layer = hp->n_layer;
    out->n_head = hp->n_head;
    out->n_head_kv = hp->n_head_kv;
    out->head_dim = hp->head_dim;
    out->n_ff = hp->n_ff;
    out->n_rot = hp->n_rot;
    out->rope_base = hp->rope_base;
    out->rms_eps = hp->rms_eps;
    out->nope_interval = hp->nope_interval;
    out->tied_embeddings = m->tied;
    out->has_chat_template = gguf_find_kv(m->gguf, "tokenizer.chat_template") != NULL;
    out->is_smollm3_template = m->is_smollm3_template;
    out->file_size = m->gguf->size;
    out->n_tensors = (int)m->gguf->n_tensors;
    out->bos = tokenizer_bos(m->tok);
    out->eos = tokenizer_eos(m->tok);
    snprintf(out->kernels, sizeof(out->kernels), "%s", m->kern ? m->kern->name : "");
    out->n_threads = m->n_threads;

    /* Parameter count, data bytes and a per-type census. */
    uint64_t counts[GGML_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const struct gguf_tensor *t = &m->gguf->tensors[i];
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= t->ne[d]; /* cannot overflow: gguf validated it */
        out->n_params += n;
        out->weight_bytes += t->size;
        if (t->type < GGML_TYPE_COUNT)
            counts[t->type]++;
    }
    size_t pos = 0;
    for (uint32_t ty = 0; ty < GGML_TYPE_COUNT; ty++) {
        if (!counts[ty])
            continue;
        const struct quant_type_info *ti = quant_type_info(ty);
        int n = snprintf(out->type_counts + pos, sizeof(out->type_counts) - pos, "%s%s:%llu",
                         pos ? " " : "", ti ? ti->name : "?", (unsigned long long)counts[ty]);
        if (n < 0 || (size_t)n >= sizeof(out->type_counts) - pos)
            break;
        pos += (size_t)n;
    }
}

int smol_n_vocab(const struct smol_model *m)
{
    return m->hp.n_vocab;
}

int smol_tokenize(const struct smol_model *m, const char *text, size_t len, int flags,
                  int32_t *out, int cap)
{
    int tflags = (flags & SMOL_TOKENIZE_SPECIAL) ? TOKENIZER_PARSE_SPECIAL : 0;
    return tokenizer_encode(m->tok, text, len, tflags, out, cap);
}

int smol_tokenize_literal(const struct smol_model *m, const char *text, size_t len, int flags,
                          const struct smol_span *spans, int n_spans, int32_t *out, int cap)
{
    int tflags = (flags & SMOL_TOKENIZE_SPECIAL) ? TOKENIZER_PARSE_SPECIAL : 0;
    return tokenizer_encode_spans(m->tok, text, len, tflags, spans, n_spans, out, cap);
}

const char *smol_token_bytes(const struct smol_model *m, int32_t id, size_t *len)
{
    return tokenizer_token_bytes(m->tok, id, len);
}

bool smol_token_is_eog(const struct smol_model *m, int32_t id)
{
    return tokenizer_is_eog(m->tok, id);
}
