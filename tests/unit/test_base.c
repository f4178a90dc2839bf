/* test_base.c: UTF-8, buffers, overflow-checked sizes and errors. */
#include "testutil.h"
#include "buf.h"
#include "err.h"
#include "mem.h"
#include "utf8.h"

#include <string.h>

static void test_utf8_decode(void **state)
{
    (void)state;
    uint32_t cp;
    assert_int_equal(utf8_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(utf8_decode("\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(utf8_decode("\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    /* overlong, surrogate, beyond U+10FFFF, stray continuation, truncated */
    assert_int_equal(utf8_decode("\xc0\xaf", 2, &cp), -1);
    assert_int_equal(utf8_decode("\xe0\x80\xaf", 3, &cp), -1);
    assert_int_equal(utf8_decode("\xed\xa0\x80", 3, &cp), -1);
    assert_int_equal(utf8_decode("\xf4\x90\x80\x80", 4, &cp), -1);
    assert_int_equal(utf8_decode("\x80", 1, &cp), -1);
    assert_int_equal(utf8_decode("\xe2\x82", 2, &cp), -1);
    /* encode/decode round trip over all scalar values */
    for (uint32_t c = 0; c <= 0x10FFFF; c += (c < 0x1000 ? 1 : 97)) {
        char b[4];
        int n = utf8_encode(c, b);
        if (c >= 0xD800 && c <= 0xDFFF) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_int_equal(utf8_decode(b, (size_t)n, &cp), n);
        assert_int_equal(cp, c);
    }
}

static void test_utf8_valid_and_prefix(void **state)
{
    (void)state;
    size_t bad;
    assert_true(utf8_valid("h\xc3\xa9llo", 6, NULL));
    assert_false(utf8_valid("ab\xff" "cd", 5, &bad));
    assert_int_equal(bad, 2);
    const char *euro = "a\xe2\x82\xac";
    assert_int_equal(utf8_complete_prefix(euro, 4), 4);
    assert_int_equal(utf8_complete_prefix(euro, 3), 1);
    assert_int_equal(utf8_complete_prefix(euro, 2), 1);
    assert_int_equal(utf8_complete_prefix("\xf0\x9f\x98", 3), 0);
    /* a byte that can never start a sequence is passed on, not held */
    assert_int_equal(utf8_complete_prefix("a\xff", 2), 2);
    /* a lead followed by a non-continuation is not held either */
    assert_int_equal(utf8_complete_prefix("\xe2" "a", 2), 2);
}

static void test_buf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_appendf(&b, "%d,", i), 0);
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    assert_int_equal(b.len, strlen(b.data));
    assert_int_equal(buf_append(&b, "x\0y", 3), 0);
    assert_int_equal(b.data[b.len], '\0');
    size_t n = b.len;
    char *p = buf_detach(&b);
    assert_int_equal(p[n - 1], 'y');
    assert_null(b.data);
    free(p);
    buf_release(&b);
}

static void test_mem_and_err(void **state)
{
    (void)state;
    uint64_t r;
    assert_false(mem_mul(UINT64_MAX / 2, 3, &r));
    assert_true(mem_mul(1u << 20, 1u << 20, &r));
    assert_int_equal(r, 1ull << 40);
    assert_false(mem_add(UINT64_MAX, 1, &r));
    assert_true(mem_align_up(33, 32, &r));
    assert_int_equal(r, 64);
    assert_false(mem_align_up(UINT64_MAX - 3, 32, &r));
    assert_null(mem_alloc_array(UINT64_MAX / 4, 8));
    assert_null(mem_calloc(1ull << 62, 1ull << 4));
    struct smol_err e = {0};
    assert_int_equal(err_set(&e, SMOL_EFORMAT, "first %d", 1), SMOL_EFORMAT);
    assert_int_equal(err_set(&e, SMOL_EIO, "second"), SMOL_EIO);
    assert_string_equal(e.msg, "first 1");
    assert_int_equal(e.code, SMOL_EFORMAT);
    assert_int_equal(err_set(NULL, SMOL_EIO, "ignored"), SMOL_EIO);
    err_clear(&e);
    assert_int_equal(e.code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decode),
        cmocka_unit_test(test_utf8_valid_and_prefix),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_mem_and_err),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
