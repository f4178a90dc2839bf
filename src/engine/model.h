/*
 * model.h: the inside of struct smol_model: SmolLM3 hyperparameters and
 * the weight views, bound by name from the GGUF with their shapes and
 * types checked at open.
 *
 * Weights are const views into the read-only map (struct weight); only
 * the small norm vectors are converted to float at open (they may be
 * stored as F16/BF16 and are read once per token).
 */
#ifndef SMOL_MODEL_H
#define SMOL_MODEL_H

#include "base.h"
#include "gguf.h"
#include "smol.h"
#include "tokenizer.h"

struct kernels;
struct pool;

/* A 2-D weight matrix: rows of `cols` elements of `type`, as stored. */
struct weight {
    const uint8_t *data; /* view into the map */
    uint32_t type;       /* enum ggml_type */
    int64_t rows;        /* output features (GGUF ne[1]) */
    int64_t cols;        /* input features (GGUF ne[0]) */
    uint64_t row_bytes;
};

struct layer {
    float *attn_norm;              /* (n_embd) owned */
    float *ffn_norm;               /* (n_embd) owned */
    struct weight wq;              /* (n_head * head_dim, n_embd) */
    struct weight wk;              /* (n_head_kv * head_dim, n_embd) */
    struct weight wv;              /* (n_head_kv * head_dim, n_embd) */
    struct weight wo;              /* (n_embd, n_head * head_dim) */
    struct weight w_gate;          /* (n_ff, n_embd) */
    struct weight w_up;            /* (n_ff, n_embd) */
    struct weight w_down;          /* (n_embd, n_ff) */
    bool use_rope;                 /* false on SmolLM3's NoPE layers */
};

struct hparams {
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim;
    int n_ff, n_rot;
    float rope_base, rms_eps;
    int nope_interval; /* layer i skips RoPE when (i+1) % interval == 0 */
};

struct smol_model {
    struct gguf_file *gguf;   /* owns the map */
    struct tokenizer *tok;
    struct hparams hp;
    char arch[32];
    char name[128];
    struct weight tok_embd;   /* (n_vocab, n_embd) */
    struct weight output;     /* (n_vocab, n_embd): tok_embd when tied */
    bool tied;
    float *output_norm;       /* (n_embd) owned */
    struct layer *layers;     /* [n_layer] owned */
    int n_threads;            /* threads of pool (0 when vocab_only) */
    const struct kernels *kern; /* the process's kernel table (kernels.h) */
    struct pool *pool;        /* owned: the persistent threads every sequence's matmuls use */
    bool vocab_only;          /* opened without weights: tokenizing only */
    bool is_smollm3_template;
};

#endif
