/* The word splitter's shortcut for ASCII chunks (split_ascii_simple) against the general
 * spaCy-like splitter (split_en, which test_filters.c checks against datatrove's words): the
 * same words, offsets, lengths and flags on random chunks over letters, digits and the
 * punctuation either treats specially, in English and in the other languages' mode. And the
 * 64-byte steps of split_words against its byte-by-byte path: the same words and Korean token
 * counts on random documents. The static functions are reached by compiling filters.c into this
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

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

/* Pieces of documents for the 64-byte steps: plain words, punctuated ones, Hangul (at both ends
 * of the syllable range, with particles, and three-byte look-alikes just outside it: U+ABFF,
 * U+D7A4, U+D7B0, a surrogate's bytes), jamo, numbers, and every kind of separator the steps
 * must not take for a plain byte (tab, newline, U+00A0, U+3000, U+0085). */
static const char *const g_doc_pieces[] = {
    "word", "Word", "a", "x9", "2024", "it's", "(see", "end.", "e.g.", "5.26.", "co-op", "\"q\"", "a/b",
    "\xEA\xB0\x80", "\xED\x9E\xA3", "\xEC\x98\x81\xED\x99\x94", "\xEC\x98\x81\xED\x99\x94\xEB\x8A\x94",
    "\xEC\x9E\x88\xEB\x8B\xA4.", "\xEA\xAF\xBF", "\xED\x9E\xA4", "\xED\x9E\xB0", "\xED\xA0\x80", "\xE3\x85\x8B",
    "1,000", "\xE2\x80\x9Cq\xE2\x80\x9D", "\xE2\x86\x92",
};
static const char *const g_doc_seps[] = {" ", " ", " ", " ", "  ", "\t", "\n", "\n\n", "\xC2\xA0", "\xE3\x80\x80", "\xC2\x85", ""};

static void test_block_steps(void **state)
{
    (void)state;
    tables_init();
    const hlm_class_table *t = hlm_class_table_get();
    hlm_filter_scratch *s = calloc(1, sizeof *s);
    assert_non_null(s);
    uint8_t doc[4096];
    uint64_t r = 7;
    size_t n1 = 0, c1 = 0, n2 = 0, c2 = 0, long_chunks = 0;
    word *w1 = NULL, *w2 = NULL;
    for (int it = 0; it < 3000; it++) {
        size_t len = 0;
        while (len < 3000) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const char *p = g_doc_pieces[(r >> 33) % (sizeof g_doc_pieces / sizeof *g_doc_pieces)];
            const char *q = g_doc_seps[(r >> 45) % (sizeof g_doc_seps / sizeof *g_doc_seps)];
            /* now and then a piece repeated into a chunk longer than a block */
            int rep = (r >> 55) % 40 == 0 ? 30 : 1;
            for (int k = 0; k < rep; k++) memcpy(doc + len, p, strlen(p)), len += strlen(p);
            memcpy(doc + len, q, strlen(q)), len += strlen(q);
        }
        for (split_mode mode = SPLIT_EN; mode <= SPLIT_KO; mode++) {
            hlm_error e = {0};
            wlist l1 = {&w1, &n1, &c1}, l2 = {&w2, &n2, &c2};
            n1 = n2 = 0;
            memset(&s->ko, 0, sizeof s->ko);
            assert_int_equal(split_words(s, &l1, mode, t, doc, 0, len, &e), HLM_OK);
            ko_counts ko1 = s->ko;
            /* the reference: each chunk by the byte-by-byte path: English and other languages on
             * the chunk alone (a chunk under 64 bytes has no block step; in a longer one the block
             * steps find no separator and leave it all to that path), Korean by split_ko_chunk
             * with the text to its end (its cut can look at the rest of the line) */
            memset(&s->ko, 0, sizeof s->ko);
            for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t k = hlm_utf8_decode_inline(doc + i, len - i, &cp);
                if (py_space(t, cp)) {
                    i += k;
                    continue;
                }
                size_t j = i;
                while (j < len) {
                    k = hlm_utf8_decode_inline(doc + j, len - j, &cp);
                    if (py_space(t, cp)) break;
                    j += k;
                }
                long_chunks += j - i >= 64;
                if (mode == SPLIT_KO) {
                    size_t q = i;
                    k = hlm_utf8_decode_inline(doc + q, len - q, &cp);
                    assert_int_equal(split_ko_chunk(s, &l2, t, doc, &q, len, cp, k, &e), HLM_OK);
                    assert_int_equal(q, j);
                } else {
                    assert_int_equal(split_words(s, &l2, mode, t, doc, i, j, &e), HLM_OK);
                }
                i = j;
            }
            int same = n1 == n2 && memcmp(&ko1, &s->ko, sizeof ko1) == 0;
            for (size_t k = 0; same && k < n1; k++)
                same = w1[k].start == w2[k].start && w1[k].len == w2[k].len && w1[k].cps == w2[k].cps &&
                       w1[k].flags == w2[k].flags;
            if (!same) {
                for (size_t k = 0; k < n1 && k < n2; k++)
                    if (w1[k].start != w2[k].start || w1[k].len != w2[k].len || w1[k].cps != w2[k].cps ||
                        w1[k].flags != w2[k].flags) {
                        fprintf(stderr, "word %zu: \"%.*s\" (%u cps, flags %u) against \"%.*s\" (%u cps, flags %u)\n", k,
                                (int)w1[k].len, doc + w1[k].start, w1[k].cps, w1[k].flags, (int)w2[k].len,
                                doc + w2[k].start, w2[k].cps, w2[k].flags);
                        break;
                    }
                fail_msg("document %d, mode %d: %zu words in 64-byte steps, %zu chunk by chunk", it, (int)mode, n1, n2);
            }
        }
    }
    assert_true(long_chunks > 100);
    free(w1), free(w2);
    hlm_filter_scratch_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ascii_shortcut), cmocka_unit_test(test_block_steps)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
