/*
 * fuzzutil.h: what the libFuzzer targets in tests/fuzz share.
 *
 * Each fuzz_*.c is one target: LLVMFuzzerTestOneInput (and, where it
 * needs one, LLVMFuzzerInitialize or a custom mutator) linked with
 * -fsanitize=fuzzer,address,undefined against the engine and server
 * objects built with the same flags (Makefile, `make fuzz`).
 *
 * A property the target checks fails through FUZZ_CHECK, which prints
 * what broke and aborts: libFuzzer records the input as a crash, the
 * same as a sanitizer report. Abort is right here (a test harness, not
 * the library); the library itself never aborts on bad input.
 *
 * The vocabulary: the real SmolLM3 one (fixtures' vocab-smollm3.gguf,
 * under $SMOL_FIXTURES or ../shared/fixtures) when it is there, else a
 * synthetic one (synth.h: 268 tokens) with a chat template that marks
 * it as SmolLM3's, so the SmolLM3 template path (tools as Python reprs)
 * is fuzzed either way. SMOL_FUZZ_SYNTH_VOCAB=1 forces the synthetic one.
 */
#ifndef SMOL_FUZZUTIL_H
#define SMOL_FUZZUTIL_H

#include "base.h"
#include "smol.h"

#include <stdio.h>
#include <stdlib.h>

/* Checks a property of the code under test; on failure prints where and
 * why, then aborts so libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s: ", __FILE__,      \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Path of fixture file rel in a static buffer, or NULL when the fixtures
 * (or that file) are absent. */
const char *fuzz_fixture(const char *rel);

/* The vocabulary-only model described above, opened once per process and
 * kept (never closed: the process ends with the fuzzer). Aborts with a
 * message when neither vocabulary can be made: the target is useless
 * without one. */
struct smol_model *fuzz_vocab_model(void);

/* Writes data[0..len) to an anonymous memory file and returns its path
 * ("/proc/self/fd/N") in path (room for 64 bytes), so code that opens
 * files by name reads fuzzer bytes. Returns the fd (caller closes) or -1. */
int fuzz_memfd(const void *data, size_t len, char path[64]);

/* A small deterministic generator for choices a target derives from its
 * input (splits, options): xorshift64*, never returns the same state
 * twice from a nonzero seed. */
uint64_t fuzz_rand(uint64_t *state);

#endif
