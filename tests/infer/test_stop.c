/* Stopping (src/infer/stop.c): the stop-string filter on text pushed in pieces, against the
 * definition written out here (the text up to the first occurrence of any stop string, found with
 * strstr on the whole text), and the end-of-generation token set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "infer/stop.h"

/* Pushes the pieces; returns the index of the push that stopped (-1: none) and the text shown
 * (flushed at the end when nothing stopped) in out. */
static int feed(hlm_stop *st, const char *const *pieces, int n, hlm_buf *out)
{
    hlm_error err = {0};
    int stopped_at = -1;
    out->len = 0;
    for (int i = 0; i < n; i++) {
        int stopped = 0;
        assert_int_equal(hlm_stop_push(st, pieces[i], strlen(pieces[i]), out, &stopped, &err), HLM_OK);
        if (stopped && stopped_at < 0) stopped_at = i;
    }
    assert_int_equal(hlm_stop_flush(st, out, &err), HLM_OK);
    assert_int_equal(hlm_buf_terminate(out), HLM_OK);
    return stopped_at;
}

static hlm_stop make(const char *const *strs, int n)
{
    hlm_stop st;
    hlm_error err = {0};
    assert_int_equal(hlm_stop_init(&st, strs, n, &err), HLM_OK);
    return st;
}

static void test_split_across_pushes(void **state)
{
    (void)state;
    hlm_stop st = make((const char *[]){"END"}, 1);
    hlm_buf out = {0};
    hlm_error err = {0};
    int stopped = 0;
    /* "E" could start the stop string: held back, the rest shown at once */
    assert_int_equal(hlm_stop_push(&st, "abcE", 4, &out, &stopped, &err), HLM_OK);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "abc", 3);
    assert_int_equal(stopped, 0);
    assert_int_equal(hlm_stop_push(&st, "N", 1, &out, &stopped, &err), HLM_OK);
    assert_int_equal(out.len, 3);
    assert_int_equal(hlm_stop_push(&st, "Dxyz", 4, &out, &stopped, &err), HLM_OK);
    assert_int_equal(stopped, 1);
    assert_int_equal(out.len, 3);
    /* after a stop nothing more comes out */
    assert_int_equal(hlm_stop_push(&st, "more", 4, &out, &stopped, &err), HLM_OK);
    assert_int_equal(stopped, 1);
    assert_int_equal(hlm_stop_flush(&st, &out, &err), HLM_OK);
    assert_int_equal(out.len, 3);
    /* a false start is shown once it can no longer match */
    hlm_stop_reset(&st);
    assert_int_equal(feed(&st, (const char *[]){"xE", "Nd", "!"}, 3, &out), -1);
    assert_string_equal((char *)out.data, "xENd!");
    /* held text comes out at the end */
    hlm_stop_reset(&st);
    assert_int_equal(feed(&st, (const char *[]){"the EN"}, 1, &out), -1);
    assert_string_equal((char *)out.data, "the EN");
    hlm_stop_free(&st);
    hlm_buf_free(&out);
}

static void test_utf8(void **state)
{
    (void)state;
    hlm_stop st = make((const char *[]){"다람쥐"}, 1);
    hlm_buf out = {0};
    hlm_error err = {0};
    int stopped = 0;
    /* a character cut between pushes is never shown in part */
    const char *text = "é 다람 다람쥐 x";
    size_t len = strlen(text), shown = 0;
    for (size_t i = 0; i < len && !stopped; i++) {
        assert_int_equal(hlm_stop_push(&st, text + i, 1, &out, &stopped, &err), HLM_OK);
        /* what is shown ends on a character boundary: the next byte is not a continuation */
        if (out.len < len) assert_int_not_equal((unsigned char)text[out.len] & 0xC0, 0x80);
        assert_true(out.len >= shown);
        shown = out.len;
    }
    assert_int_equal(stopped, 1);
    assert_int_equal(out.len, strlen("é 다람 "));
    assert_memory_equal(out.data, "é 다람 ", out.len);
    hlm_stop_free(&st);
    /* no stop strings: only whole characters, all of it in the end */
    st = make(NULL, 0);
    out.len = 0;
    assert_int_equal(hlm_stop_push(&st, "a\xC3", 2, &out, &stopped, &err), HLM_OK);
    assert_int_equal(out.len, 1);
    assert_int_equal(hlm_stop_push(&st, "\xA9\xF0\x9F", 3, &out, &stopped, &err), HLM_OK);
    assert_int_equal(out.len, 3);
    assert_int_equal(hlm_stop_flush(&st, &out, &err), HLM_OK); /* an incomplete end is shown as it is */
    assert_int_equal(out.len, 5);
    /* bytes that cannot become a character are not held */
    out.len = 0;
    hlm_stop_reset(&st);
    assert_int_equal(hlm_stop_push(&st, "\x80\xFF", 2, &out, &stopped, &err), HLM_OK);
    assert_int_equal(out.len, 2);
    hlm_stop_free(&st);
    hlm_buf_free(&out);
}

static void test_overlapping(void **state)
{
    (void)state;
    hlm_buf out = {0};
    /* "abc" starts "abcd" but "bce" completes first: shown up to where "bce" starts */
    hlm_stop st = make((const char *[]){"abcd", "bce"}, 2);
    assert_int_equal(feed(&st, (const char *[]){"ab", "c", "e"}, 3, &out), 2);
    assert_string_equal((char *)out.data, "a");
    hlm_stop_free(&st);
    /* a stop string that overlaps itself: "aab" in "aaab" starts at 1 */
    st = make((const char *[]){"aab"}, 1);
    assert_int_equal(feed(&st, (const char *[]){"a", "a", "a", "b"}, 4, &out), 3);
    assert_string_equal((char *)out.data, "a");
    hlm_stop_free(&st);
    /* two stop strings in one push: the one that starts first wins */
    st = make((const char *[]){"world", "lo w"}, 2);
    assert_int_equal(feed(&st, (const char *[]){"hello world"}, 1, &out), 0);
    assert_string_equal((char *)out.data, "hel");
    hlm_stop_free(&st);
    hlm_buf_free(&out);
}

/* Random texts over {a, b, c} cut into random pieces against the definition. */
static void test_random_against_definition(void **state)
{
    (void)state;
    const char *stops[3] = {"abc", "bb", "cab"};
    uint64_t r = 12345;
    hlm_buf out = {0};
    for (int trial = 0; trial < 2000; trial++) {
        char text[41];
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        int len = (int)((r >> 33) % 40);
        for (int i = 0; i < len; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            text[i] = "abc"[(r >> 33) % 3];
        }
        text[len] = 0;
        int n_stops = 1 + trial % 3;
        size_t want = (size_t)len;
        for (int k = 0; k < n_stops; k++) {
            const char *at = strstr(text, stops[k]);
            if (at && (size_t)(at - text) < want) want = (size_t)(at - text);
        }
        hlm_stop st = make(stops, n_stops);
        hlm_error err = {0};
        out.len = 0;
        int stopped = 0;
        for (int i = 0; i < len && !stopped;) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            int n = 1 + (int)((r >> 33) % 4);
            if (n > len - i) n = len - i;
            assert_int_equal(hlm_stop_push(&st, text + i, (size_t)n, &out, &stopped, &err), HLM_OK);
            assert_true(out.len <= want); /* never shows a stop string or what follows it */
            i += n;
        }
        assert_int_equal(hlm_stop_flush(&st, &out, &err), HLM_OK);
        assert_int_equal(stopped, want < (size_t)len);
        assert_int_equal(out.len, want);
        assert_memory_equal(out.data ? (const char *)out.data : "", text, want);
        hlm_stop_free(&st);
    }
    hlm_buf_free(&out);
}

static void test_errors_and_eog(void **state)
{
    (void)state;
    hlm_stop st;
    hlm_error err = {0};
    assert_int_equal(hlm_stop_init(&st, (const char *[]){"ok", ""}, 2, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "empty"));
    hlm_eog e = {0};
    hlm_eog_add(&e, 7);
    hlm_eog_add(&e, 7);
    hlm_eog_add(&e, -1);
    hlm_eog_add(&e, 0);
    assert_int_equal(e.n, 2);
    assert_true(hlm_eog_has(&e, 7) && hlm_eog_has(&e, 0));
    assert_false(hlm_eog_has(&e, 1) || hlm_eog_has(&e, -1));
    for (int i = 0; i < 20; i++) hlm_eog_add(&e, 100 + i);
    assert_int_equal(e.n, HLM_EOG_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_across_pushes), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_overlapping),         cmocka_unit_test(test_random_against_definition),
        cmocka_unit_test(test_errors_and_eog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
