/* The word splitter's shortcut for ASCII chunks (split_ascii_simple) against the general
 * spaCy-like splitter (split_en, which test_filters.c checks against datatrove's words): the
 * same words, offsets, lengths and flags on random chunks over letters, digits and the
 * punctuation either treats specially, in English and in the other languages' mode. The
 * static functions are reached by compiling filters.c into this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "text/filters.c"

static void test_ascii_shortcut(void **state)
{
    (void)state;
    tables_init();
    const hlm_class_table *t = hlm_class_table_get();
    static const char alphabet[] = "aZ09(\"[,;:!?)]'.-/x";
    uint64_t r = 1;
    size_t fast = 0, n1 = 0, c1 = 0, n2 = 0, c2 = 0;
    word *w1 = NULL, *w2 = NULL;
    uint32_t cp[16], off[17];
    for (int it = 0; it < 300000; it++) {
        char buf[16];
        int len = 1 + (int)((r >> 33) % 8);
        for (int k = 0; k < len; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            buf[k] = alphabet[(r >> 33) % (sizeof alphabet - 1)];
        }
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        wlist l1 = {&w1, &n1, &c1}, l2 = {&w2, &n2, &c2};
        n1 = 0;
        hlm_error e = {0};
        hlm_status st = split_ascii_simple(&l1, (const uint8_t *)buf, 0, (size_t)len, &e);
        if (st == HLM_ERR_RANGE) continue;
        assert_int_equal(st, HLM_OK);
        fast++;
        for (int k = 0; k <= len; k++) cp[k] = (uint8_t)buf[k], off[k] = (uint32_t)k;
        for (int english = 0; english < 2; english++) {
            n2 = 0;
            assert_int_equal(split_en(&l2, t, cp, off, 0, (size_t)len, english, &e), HLM_OK);
            int same = n1 == n2;
            for (size_t k = 0; same && k < n1; k++)
                same = w1[k].start == w2[k].start && w1[k].len == w2[k].len && w1[k].cps == w2[k].cps &&
                       w1[k].flags == w2[k].flags;
            if (!same) fail_msg("\"%.*s\" (english %d): %zu words by the shortcut, %zu by split_en", len, buf, english, n1, n2);
        }
    }
    assert_true(fast > 10000); /* the shortcut was taken often enough to mean something */
    free(w1), free(w2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ascii_shortcut)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
