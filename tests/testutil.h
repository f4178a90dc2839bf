/*
 * testutil.h: what every smolbot C test shares.
 *
 * Tests use cmocka (include this header, it pulls in cmocka). Fixture
 * helpers find ../shared/fixtures (or $SMOL_FIXTURES); when it is absent
 * a test calls TEST_NEED_FIXTURES(), which prints a loud SKIPPED line and
 * skips, so self-contained tests still run.
 */
#ifndef SMOL_TESTUTIL_H
#define SMOL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base.h"

/* Directory of the reference fixtures, or NULL (and a loud message on
 * stderr, once) when it does not exist. */
const char *test_fixtures_dir(void);

/* Path of a fixture file in a static buffer (overwritten by the next
 * call), or NULL if the fixtures are absent. */
const char *test_fixture(const char *rel);

/* Skips the current test loudly when fixtures are absent. */
#define TEST_NEED_FIXTURES()                                                \
    do {                                                                    \
        if (!test_fixtures_dir()) {                                         \
            fprintf(stderr, "SKIPPED %s: fixtures not found\n", __func__);  \
            skip();                                                         \
        }                                                                   \
    } while (0)

/* Reads a whole file; returns malloc'd bytes (NUL-terminated) and sets
 * *len, or NULL. */
char *test_read_file(const char *path, size_t *len);

/* Writes bytes to path; 0 on success. */
int test_write_file(const char *path, const void *data, size_t len);

/* A fresh temporary file path (under $TMPDIR or /tmp) in a static buffer
 * per call slot (8 slots, rotating). The file is not created. */
const char *test_tmp_path(const char *suffix);

/* Deterministic xorshift random numbers for tests. */
uint64_t test_rand_u64(uint64_t *state);
float test_rand_uniform(uint64_t *state);          /* [0, 1) */
float test_rand_normal(uint64_t *state);           /* N(0, 1) */

#endif
