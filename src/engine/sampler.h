/*
 * sampler.h: choosing the next token from logits.
 *
 * The chain, in llama.cpp's order: repetition penalty over the recent
 * tokens, top-k, top-p (nucleus), min-p, temperature, then a draw from
 * the renormalised distribution with the sampler's own RNG (xoshiro256**
 * seeded by splitmix64), so a seed gives the same tokens on every run
 * and machine. Temperature <= 0 is greedy: the argmax, lowest id on ties.
 *
 * A sampler owns its work arrays (sized once for the vocabulary):
 * sampling allocates nothing.
 */
#ifndef SMOL_SAMPLER_H
#define SMOL_SAMPLER_H

#include "base.h"
#include "err.h"
#include "smol.h"

struct sampler;

/* NULL with err on a parameter out of range (NaN, negative top_p, ...). */
struct sampler *sampler_new(const struct smol_sampling *p, int n_vocab, struct smol_err *err);
void sampler_free(struct sampler *s);

/* Picks a token. logits[0..n_vocab) is read only; recent[0..n_recent)
 * are the tokens the repetition penalty looks at (most recent last). */
int32_t sampler_sample(struct sampler *s, const float *logits, const int32_t *recent,
                       int n_recent);

/* Index of the largest logit, lowest index on ties. */
int32_t sampler_argmax(const float *logits, int n);

#endif
