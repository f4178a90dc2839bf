/*
 * bench.h: the measurements behind `smolbot bench`: one timed run of
 * prompt processing and decoding through the public API (smol.h), the
 * bytes a decode step reads, and this machine's read bandwidth: the two
 * give the decode roofline.
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
 *
 * Decoding one token reads every weight once, so a CPU decoder is bound
 * by memory bandwidth: tokens/s can at best be bandwidth / bytes read
 * per token (the roofline). `smolbot bench` measures both in one run,
 * on the same threads, and reports decode speed as a fraction of it.
 * The bandwidth test: a buffer (1 GiB in `bench`, far beyond any cache)
 * is written once, faulting its pages in, then n_threads threads each
 * sum the 64-bit words of their contiguous share; a pass lasts from the
 * start of the first thread to the end of the last, and the best of
 * `passes` passes (the least disturbed by other processes) is kept.
 */
#ifndef SMOL_BENCH_H
#define SMOL_BENCH_H

#include "smol.h"

#include <stdint.h>

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

/* ---- memory bandwidth ---- */

struct bench_bandwidth {
    double best_gbs;    /* bytes read / best pass time, in 1e9 bytes per second */
    double median_gbs;
    uint64_t checksum;  /* the sum of all words (keeps the reads from being optimised away) */
};

/* Measures read bandwidth with n_threads (1..256) threads over a buffer
 * of bytes (at least 1 MiB; rounded down to whole 64-byte lines),
 * `passes` times (1..100); a share whose thread cannot be started is
 * read by the caller. Returns 0, SMOL_EINVAL for bad arguments or
 * SMOL_ENOMEM when the buffer cannot be had, with err. */
int bench_measure_bandwidth(uint64_t bytes, int n_threads, int passes, struct bench_bandwidth *out,
                            struct smol_err *err);

#endif
