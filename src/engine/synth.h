/*
 * synth.h: random-weight SmolLM3 models, made here so tests and
 * benchmarks need no download: from the unit tests' 4-layer toys to a
 * file with exactly SmolLM3-3B's shapes, types and size.
 *
 * Vocabulary: either generated (the 256 byte-level tokens of GPT-2's
 * alphabet, a few merges, then the chat control tokens <|begin_of_text|>,
 * <|end_of_text|>, <|im_start|>, <|im_end|> and the user-defined <think>
 * and </think>: 268 tokens), or every tokenizer.* key copied from
 * another GGUF (e.g. the fixtures' vocab-smollm3.gguf, for the real
 * 128,256 tokens and chat template).
 *
 * Weights: N(mean, sd) with sd = 1/sqrt(columns) for the matrices (so
 * activations keep their scale through any depth), 0.25 for the token
 * embeddings and 1 + 0.1 N(0, 1) for the norms. Drawing billions of
 * normals and quantizing them would take minutes, so each matrix kind
 * (q, k, v, o, gate, up, down, embeddings, output) has a pool of 128
 * random rows, quantized once per type it is needed in; a matrix row is
 * made of 256-element segments (32 when rows are shorter), each copied
 * from a randomly chosen pool row at the same position. Every block is
 * thus a real quantization of Gaussian values, rows differ, and the
 * 3B model takes seconds. Random choices depend on the seed, the tensor
 * and the row only, not on the type, so an F32 and a Q8_0 model of one
 * seed are the same model up to quantization.
 *
 * Types follow the scheme's recipe (quantize.h), so a synthetic Q4_K_M
 * has the real file's Q4_K/Q6_K pattern. Tensors are streamed to disk
 * (gguf_writer_add_tensor_rows): memory stays at the pools, tens of MiB.
 * Metadata follows the real SmolLM3 files' keys and order; tensors are
 * in llama-quantize's order.
 */
#ifndef SMOL_SYNTH_H
#define SMOL_SYNTH_H

#include "base.h"
#include "err.h"
#include "gguf.h"
#include "quantize.h"

struct synth_shape {
    const char *arch;  /* "smollm3" or "llama" */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base, rms_eps;
    bool tied;         /* no output.weight */
};

/* The unit tests' shape: 4 layers of 64 (n_embd 256 for K-quants, whose
 * rows must be multiples of 256), context 512, rope base 1e4. */
void synth_shape_tiny(struct synth_shape *s, uint32_t type);

/* SmolLM3-3B: n_embd 2048, 36 layers, 16 heads of 128, 4 KV heads,
 * FFN 11008, context 65536, rope base 5e6, rms eps 1e-6, tied. */
void synth_shape_3b(struct synth_shape *s);

/* Parses "3b", "tiny" (the fixtures' tiny models: 256 wide, 8 layers,
 * 4 heads, 2 KV heads, FFN 768, context 2048) or "WxLxHxKVxFF" (context
 * 4096); rope base 5e6 and rms eps 1e-6 throughout. SMOL_EINVAL with a
 * sentence for anything else or an inconsistent shape. */
int synth_shape_parse(const char *spec, struct synth_shape *s, struct smol_err *err);

struct synth_opts {
    struct synth_shape shape;
    const struct quantize_scheme *scheme; /* the types, as quantize makes them */
    uint64_t seed;
    const struct gguf_file *vocab; /* tokenizer.* copied from here (borrowed
                                      for the call); NULL: generated */
    const char *name;              /* general.name; NULL: "smolbot synthetic" */
    const char *skip_tensor;       /* leave this tensor out (validation tests) */
};

/* Tensor data a writer borrows until it has written: free with synth_free. */
struct synth_data;

/* Adds the metadata and the (streamed) tensors of a random model to w.
 * Returns what the writer borrows, to keep until gguf_writer_write
 * returns, or NULL with err (SMOL_EINVAL for a bad shape or vocabulary,
 * SMOL_ENOMEM). */
struct synth_data *synth_build_model(struct gguf_writer *w, const struct synth_opts *o,
                                     struct smol_err *err);
void synth_free(struct synth_data *d);

/* synth_build_model + write to path. */
int synth_write_model(const char *path, const struct synth_opts *o, struct smol_err *err);

/* The unit tests' entry points: a generated vocabulary and every matrix
 * in type (quantize_scheme_pure), norms F32. */
struct synth_data *synth_build(struct gguf_writer *w, const struct synth_shape *shape,
                               uint32_t type, uint64_t seed, const char *skip_tensor,
                               struct smol_err *err);
int synth_write(const char *path, const struct synth_shape *shape, uint32_t type,
                uint64_t seed, struct smol_err *err);

#endif
