/*
 * bandwidth.h: how fast this machine reads memory, measured.
 *
 * Decoding one token reads every weight once, so a CPU decoder is bound
 * by memory bandwidth: tokens/s can at best be bandwidth / bytes read
 * per token (the roofline). `smolbot bench` measures both in one run, on
 * the same threads, to report decode speed as a fraction of that bound.
 *
 * The measurement: a buffer of `bytes` (>= 1 GiB by default, far beyond
 * any cache) is written once (faulting its pages in), then n_threads
 * threads each sum the 64-bit words of their contiguous share; the time
 * of a pass is from the start of the first thread to the end of the
 * last. The best of `passes` passes is kept (the least disturbed by
 * other processes). libc and pthreads only.
 */
#ifndef SMOL_BANDWIDTH_H
#define SMOL_BANDWIDTH_H

#include "base.h"
#include "err.h"

#define BANDWIDTH_DEFAULT_BYTES (1ull << 30)

struct bandwidth_result {
    double best_gbs;    /* bytes read / best pass time, in 1e9 bytes per second */
    double median_gbs;
    uint64_t checksum;  /* the sum of all words (keeps the reads from being optimised away) */
};

/* Measures read bandwidth with n_threads (1..256) threads over a buffer
 * of bytes (at least 1 MiB; rounded down to whole 64-byte lines),
 * `passes` times (1..100). Returns 0, SMOL_EINVAL for bad arguments,
 * SMOL_ENOMEM when the buffer cannot be had, SMOL_EIO when no thread can
 * be started; err says which. */
int bandwidth_measure(uint64_t bytes, int n_threads, int passes, struct bandwidth_result *out,
                      struct smol_err *err);

#endif
