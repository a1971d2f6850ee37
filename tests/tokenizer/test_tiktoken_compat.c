/* Exactness against PyPI tiktoken: tests/fixtures/tokenizer/tiktoken_<enc>.tsv.zst hold inputs and
 * the ids tiktoken gives for them (tools/gen_tokenizer_fixtures.py: English, Korean NFC/NFD, mixed
 * scripts, emoji, whitespace, contractions, special tokens, 50 KB inputs, 2500 random strings,
 * 400 strings with invalid UTF-8). Tolerance: none, every id must be equal. Needs OpenAI's rank
 * files from $HLM_SHARED/tokenizers; without them the tests are skipped, visibly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperlm/file.h"
#include "hyperlm/tokenizer.h"
#include "tokenizer/tokenizer_fixtures.h"

static hlm_tokenizer *load_shared(const char *enc)
{
    const char *shared = getenv("HLM_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizers/%s.tiktoken", shared ? shared : "../shared", enc);
    if (access(path, R_OK) != 0) {
        printf("SKIPPED: %s not found (set HLM_SHARED to the folder with tokenizers/*.tiktoken)\n", path);
        return NULL;
    }
    hlm_tokenizer *t;
    hlm_error err;
    if (hlm_tokenizer_load(path, -1, &t, &err)) fail_msg("%s", err.msg);
    return t;
}

static void run_encoding(const char *enc)
{
    hlm_tokenizer *t = load_shared(enc);
    if (!t) skip();
    char path[4096], name[128];
    snprintf(name, sizeof name, "tiktoken_%s.tsv.zst", enc);
    fixture_path(path, sizeof path, name);
    size_t n;
    fixture_case *c = read_cases(path, &n);
    assert_true(n > 2900);
    size_t bad = check_cases(t, enc, c, n);
    printf("  %s: %zu cases, %zu differ from tiktoken\n", enc, n, bad);
    assert_int_equal(bad, 0);

    /* the batch API gives the same ids as one call per text, with several threads */
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    hlm_ids *outs = calloc(n, sizeof *outs);
    int allow = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!c[i].allow_special) {
            texts[m] = (const char *)c[i].text;
            lens[m] = c[i].len;
            m++;
        }
    hlm_error err;
    assert_int_equal(hlm_tokenizer_encode_batch(t, texts, lens, m, allow, 3, outs, &err), HLM_OK);
    for (size_t i = 0, j = 0; i < n; i++) {
        if (c[i].allow_special) continue;
        assert_int_equal(outs[j].len, c[i].n_ids);
        if (c[i].n_ids) assert_memory_equal(outs[j].data, c[i].ids, c[i].n_ids * sizeof *c[i].ids);
        hlm_ids_free(&outs[j]);
        j++;
    }
    free(outs);
    free(texts);
    free(lens);

    /* saved as tokenizer.json (derived merges, ignore_merges) and loaded back: the same ids */
    char tmp[] = "/tmp/hlm-tiktoken-json-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(hlm_tokenizer_save(t, tmp, &err), HLM_OK);
    hlm_tokenizer *u;
    if (hlm_tokenizer_load(tmp, -1, &u, &err)) fail_msg("%s", err.msg);
    unlink(tmp);
    assert_int_equal(hlm_tokenizer_vocab_size(u), hlm_tokenizer_vocab_size(t));
    assert_int_equal(hlm_tokenizer_special_count(u), hlm_tokenizer_special_count(t));
    snprintf(name, sizeof name, "%s via tokenizer.json", enc);
    bad = check_cases(u, name, c, n);
    assert_int_equal(bad, 0);
    hlm_tokenizer_free(u);

    free_cases(c, n);
    hlm_tokenizer_free(t);
}

static void test_gpt2(void **state) { run_encoding("gpt2"); }
static void test_cl100k(void **state) { run_encoding("cl100k_base"); }
static void test_o200k(void **state) { run_encoding("o200k_base"); }

/* The special tokens of the three encodings, and the errors of a rank file with an unknown name. */
static void test_specials(void **state)
{
    hlm_tokenizer *t = load_shared("cl100k_base");
    if (!t) skip();
    static const struct {
        const char *text;
        uint32_t id;
    } want[] = {{"<|endoftext|>", 100257},
                {"<|fim_prefix|>", 100258},
                {"<|fim_middle|>", 100259},
                {"<|fim_suffix|>", 100260},
                {"<|endofprompt|>", 100276}};
    assert_int_equal(hlm_tokenizer_special_count(t), 5);
    assert_int_equal(hlm_tokenizer_vocab_size(t), 100277);
    assert_int_equal(hlm_tokenizer_pattern(t), HLM_PATTERN_CL100K);
    for (size_t i = 0; i < 5; i++) {
        const char *text;
        uint32_t id;
        hlm_tokenizer_special(t, i, &text, &id);
        assert_string_equal(text, want[i].text);
        assert_int_equal(id, want[i].id);
    }
    const uint8_t *b;
    size_t len;
    hlm_error err;
    assert_int_equal(hlm_tokenizer_token_bytes(t, 100256, &b, &len, &err), HLM_ERR_RANGE); /* a hole */
    assert_int_equal(hlm_tokenizer_token_bytes(t, 100276, &b, &len, &err), HLM_OK);
    assert_memory_equal(b, "<|endofprompt|>", len);
    hlm_tokenizer_free(t);

    t = load_shared("o200k_base");
    if (!t) skip();
    assert_int_equal(hlm_tokenizer_vocab_size(t), 200019);
    assert_int_equal(hlm_tokenizer_special_count(t), 2);
    hlm_tokenizer_free(t);
    t = load_shared("gpt2");
    if (!t) skip();
    assert_int_equal(hlm_tokenizer_vocab_size(t), 50257);
    assert_int_equal(hlm_tokenizer_pattern(t), HLM_PATTERN_GPT2);
    hlm_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_cl100k),
        cmocka_unit_test(test_o200k),
        cmocka_unit_test(test_specials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
