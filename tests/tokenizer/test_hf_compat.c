/* Exactness against PyPI `tokenizers` (Hugging Face) on tokenizer.json files
 * (tools/gen_tokenizer_fixtures.py):
 *  - hf_hyperlm.json: trained and written by HyperLM (o200k pattern, NFC), read by `tokenizers`;
 *  - hf_trained.json: trained and written by `tokenizers` itself (GPT-2 pattern in tiktoken's
 *    spelling, NFC), read by HyperLM.
 * The ids are those `tokenizers` gave for ~800 strings (hand-written, random, NFD Korean that the
 * NFC normalizer must compose, 20 KB texts). Tolerance: none. Each file also goes through
 * save -> load and must still give the same ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "hyperlm/tokenizer.h"
#include "tokenizer/tokenizer_fixtures.h"

static hlm_tokenizer *load_fixture(const char *name)
{
    char path[4096];
    fixture_path(path, sizeof path, name);
    hlm_tokenizer *t;
    hlm_error err;
    if (hlm_tokenizer_load(path, -1, &t, &err)) fail_msg("%s", err.msg);
    return t;
}

static hlm_tokenizer *save_and_reload(const hlm_tokenizer *t)
{
    char tmp[] = "/tmp/hlm-hf-json-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    hlm_error err;
    assert_int_equal(hlm_tokenizer_save(t, tmp, &err), HLM_OK);
    hlm_tokenizer *u;
    if (hlm_tokenizer_load(tmp, -1, &u, &err)) fail_msg("%s", err.msg);
    unlink(tmp);
    return u;
}

static void run_file(const char *json, const char *ids, hlm_pattern want_pattern, uint32_t want_vocab)
{
    hlm_tokenizer *t = load_fixture(json);
    assert_int_equal(hlm_tokenizer_pattern(t), want_pattern);
    assert_int_equal(hlm_tokenizer_vocab_size(t), want_vocab);
    assert_true(hlm_tokenizer_normalizes(t));
    assert_int_equal(hlm_tokenizer_special_count(t), 1);
    char path[4096];
    fixture_path(path, sizeof path, ids);
    size_t n;
    fixture_case *c = read_cases(path, &n);
    assert_true(n > 700);
    size_t bad = check_cases(t, json, c, n);
    printf("  %s: %zu cases, %zu differ from tokenizers\n", json, n, bad);
    assert_int_equal(bad, 0);

    hlm_tokenizer *u = save_and_reload(t);
    assert_int_equal(hlm_tokenizer_vocab_size(u), want_vocab);
    assert_int_equal(hlm_tokenizer_pattern(u), want_pattern);
    assert_true(hlm_tokenizer_normalizes(u));
    bad = check_cases(u, "after save and load", c, n);
    assert_int_equal(bad, 0);
    hlm_tokenizer_free(u);
    free_cases(c, n);
    hlm_tokenizer_free(t);
}

static void test_hyperlm_written(void **state) { run_file("hf_hyperlm.json", "hf_hyperlm_ids.tsv.zst", HLM_PATTERN_O200K, 1200); }

static void test_hf_written(void **state) { run_file("hf_trained.json", "hf_trained_ids.tsv.zst", HLM_PATTERN_GPT2, 1200); }

/* NFD input must encode as its NFC form when the tokenizer normalizes. */
static void test_nfd_korean(void **state)
{
    hlm_tokenizer *t = load_fixture("hf_hyperlm.json");
    const char *nfc = "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xed\x86\xa0\xed\x81\xac\xeb\x82\x98\xec\x9d\xb4\xec\xa0\x80"; /* 한국어 토크나이저 */
    /* the same text decomposed into conjoining jamo */
    const char *nfd = "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab\xe1\x84\x80\xe1\x85\xae\xe1\x86\xa8\xe1\x84\x8b\xe1\x85\xa5 "
                      "\xe1\x84\x90\xe1\x85\xa9\xe1\x84\x8f\xe1\x85\xb3\xe1\x84\x82\xe1\x85\xa1\xe1\x84\x8b\xe1\x85\xb5"
                      "\xe1\x84\x8c\xe1\x85\xa5";
    hlm_ids a = {0}, b = {0};
    hlm_error err;
    assert_int_equal(hlm_tokenizer_encode(t, nfc, strlen(nfc), 0, &a, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_encode(t, nfd, strlen(nfd), 0, &b, &err), HLM_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len * sizeof *a.data);
    hlm_ids_free(&a);
    hlm_ids_free(&b);
    hlm_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hyperlm_written),
        cmocka_unit_test(test_hf_written),
        cmocka_unit_test(test_nfd_korean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
