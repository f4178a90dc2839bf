/*
 * synth.h: random-weight SmolLM3 models, made here so tests (and later
 * benchmarks) need no download.
 *
 * The vocabulary is generated: the 256 byte-level tokens of GPT-2's
 * alphabet, a few merges, then the chat control tokens (<|im_start|>,
 * <|im_end|>, <|begin_of_text|>, <|end_of_text|>) and the user-defined
 * <think> and </think>. Weights are N(0, 1/cols) drawn from a seeded
 * generator and quantized to the chosen type (norms stay F32).
 */
#ifndef SMOL_SYNTH_H
#define SMOL_SYNTH_H

#include "base.h"
#include "err.h"
#include "gguf.h"

struct synth_shape {
    const char *arch;  /* "smollm3" or "llama" */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base, rms_eps;
    bool tied;         /* no output.weight */
};

/* The shape of the test models: 2 layers of 64 (or n_embd 256 for
 * K-quants, whose rows must be multiples of 256). */
void synth_shape_tiny(struct synth_shape *s, uint32_t type);

/* Data a writer borrows until it has written: free with synth_free. */
struct synth_data;

/* Adds the metadata and the tensors of a random model to w. skip_tensor
 * (NULL: none) names a tensor to leave out, for tests of validation.
 * Returns the tensor data to keep alive until gguf_writer_write, or NULL
 * with err. */
struct synth_data *synth_build(struct gguf_writer *w, const struct synth_shape *shape,
                               uint32_t type, uint64_t seed, const char *skip_tensor,
                               struct smol_err *err);
void synth_free(struct synth_data *d);

/* synth_build + write to path. */
int synth_write(const char *path, const struct synth_shape *shape, uint32_t type,
                uint64_t seed, struct smol_err *err);

#endif
