/*
 * bench.h: the measurements behind `smolbot bench`: one timed run of
 * prompt processing and decoding through the public API (smol.h), and
 * the bytes a decode step reads, for the bandwidth roofline.
 *
 * One run, on a fresh sequence of n_prompt + n_gen tokens:
 *   prompt  n_prompt pseudo-random ids (from seed) evaluated as one
 *           batch; pp_ms is that smol_eval call;
 *   ttft    from the start of the prompt to the first token chosen
 *           (the argmax of the last logits): what a user waits for;
 *   decode  n_gen tokens one at a time, each the argmax of the previous
 *           logits (greedy); tg_ms covers all n_gen smol_eval calls and
 *           their argmaxes.
 * The sequence's allocation is outside the timings.
 */
#ifndef SMOL_BENCH_H
#define SMOL_BENCH_H

#include "smol.h"

struct bench_params {
    int n_prompt;   /* >= 1 */
    int n_gen;      /* >= 1 */
    uint64_t seed;  /* the prompt's ids */
};

struct bench_run {
    double pp_ms, ttft_ms, tg_ms;
    int32_t first_token, last_token; /* what greedy decoding produced */
};

/* One run as described above. Returns 0 or a negative status with err
 * (SMOL_EINVAL for counts out of range, or smol_eval's failure). */
int bench_run_once(struct smol_model *m, const struct bench_params *p, struct bench_run *out,
                   struct smol_err *err);

/* Bytes of weights one decode step reads from the GGUF at path: every
 * tensor except the token embeddings, whose one looked-up row is
 * negligible, unless they are tied and so also the output matrix.
 * Returns 0 or a negative status with err. */
int bench_decode_bytes(const char *path, uint64_t *bytes, struct smol_err *err);

#endif
