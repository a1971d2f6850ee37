/* Deduplication: exact keys and the keyset, CCNet line counts (counting, removal, save/load/merge,
 * corrupt input), MinHash signatures (against values computed here from the definition, determinism
 * across threads) and LSH clustering, including recall and false positives on near-duplicate pairs
 * from tools/gen_dedup_fixtures.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/rng.h"
#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "text/dedup.h"

#include "tmpdir.h"

#define S(x) (const uint8_t *)(x), strlen(x)

static int key_eq(hlm_key128 a, hlm_key128 b) { return a.lo == b.lo && a.hi == b.hi; }

/* ---- exact ---- */

static void test_exact_keys(void **state)
{
    hlm_key128 k = hlm_dedup_exact_key(S("hello world"));
    assert_true(key_eq(k, hlm_dedup_exact_key(S("Hello  World\n"))));
    assert_true(key_eq(k, hlm_dedup_exact_key(S("  HELLO\t\r\nworld  "))));
    assert_true(key_eq(k, hlm_dedup_exact_key(S("hello\xe3\x80\x80world")))); /* U+3000 is whitespace */
    assert_false(key_eq(k, hlm_dedup_exact_key(S("hello world."))));
    assert_false(key_eq(k, hlm_dedup_exact_key(S("helloworld"))));
    assert_false(key_eq(k, hlm_dedup_exact_key(S("hello world 2"))));
    /* Non-ASCII case folding (utf8proc), Hangul unchanged. */
    assert_true(key_eq(hlm_dedup_exact_key(S("\xc3\x89" "COLE \xce\xa3")), hlm_dedup_exact_key(S("\xc3\xa9" "cole \xcf\x83"))));
    assert_false(key_eq(hlm_dedup_exact_key(S("영화 재밌다")), hlm_dedup_exact_key(S("영화재밌다"))));
    assert_true(key_eq(hlm_dedup_exact_key(S("영화 재밌다")), hlm_dedup_exact_key(S(" 영화\n\n재밌다 "))));
    /* The key is XXH3-128 of the normalized bytes: check one directly, and a long text that goes
     * through the streaming state (more than the 4 KB buffer) against one-shot XXH3 of its form. */
    XXH128_hash_t h = XXH3_128bits("hello world", 11);
    assert_true(k.lo == h.low64 && k.hi == h.high64);
    size_t n = 20000;
    char *raw = malloc(n * 2), *norm = malloc(n);
    size_t r = 0, w = 0;
    for (size_t i = 0; w < n - 8; i++) {
        char c = (char)('a' + i % 26);
        raw[r++] = (char)(c - 32);
        norm[w++] = c;
        if (i % 7 == 6) {
            raw[r++] = ' ';
            raw[r++] = '\n';
            norm[w++] = ' ';
        }
    }
    raw[r++] = '\xff'; /* an ill-formed byte is hashed as it is */
    norm[w++] = '\xff';
    h = XXH3_128bits(norm, w);
    k = hlm_dedup_exact_key((const uint8_t *)raw, r);
    assert_true(k.lo == h.low64 && k.hi == h.high64);
    assert_true(key_eq(hlm_dedup_exact_key(NULL, 0), hlm_dedup_exact_key(S(" \n "))));
    free(raw);
    free(norm);
}

static void test_keyset(void **state)
{
    hlm_keyset *s;
    hlm_error err;
    assert_int_equal(hlm_keyset_new(&s, 10, &err), HLM_OK);
    size_t first_bytes = hlm_keyset_bytes(s);
    enum { N = 50000 };
    char buf[32];
    int ins;
    for (int i = 0; i < N; i++) {
        int len = snprintf(buf, sizeof buf, "doc %d", i);
        assert_int_equal(hlm_keyset_insert(s, hlm_dedup_exact_key((uint8_t *)buf, (size_t)len), &ins, &err), HLM_OK);
        assert_int_equal(ins, 1);
    }
    assert_int_equal(hlm_keyset_count(s), N);
    /* Grew, and at most 70% full: 16 bytes per slot. */
    assert_true(hlm_keyset_bytes(s) > first_bytes);
    assert_true(hlm_keyset_bytes(s) >= (size_t)(N / 0.7 * 16));
    for (int i = 0; i < N; i += 7) {
        int len = snprintf(buf, sizeof buf, "DOC  %d\n", i);
        assert_int_equal(hlm_keyset_insert(s, hlm_dedup_exact_key((uint8_t *)buf, (size_t)len), &ins, &err), HLM_OK);
        assert_int_equal(ins, 0);
    }
    hlm_key128 zero = {0, 0};
    assert_int_equal(hlm_keyset_insert(s, zero, &ins, &err), HLM_OK);
    assert_int_equal(ins, 1);
    assert_int_equal(hlm_keyset_insert(s, zero, &ins, &err), HLM_OK);
    assert_int_equal(ins, 0);
    assert_int_equal(hlm_keyset_count(s), N + 1);
    hlm_keyset_free(s);
}

/* ---- line counts ---- */

static const char *const boiler_docs[] = {
    "Local team wins the cup\nShare this article on Facebook\nCopyright 2023 Example News. All rights reserved.\n예\n",
    "Rain expected tomorrow in the north\n  share this article on facebook!\nCopyright 2024 Example News. All rights reserved.\n예\n",
    "New library opens downtown\nSHARE THIS ARTICLE ON FACEBOOK\n예\nCopyright 1999 Example News. All rights reserved.",
    "Prices rose by 3 percent\nShare this article on Facebook\nShare this article on Facebook\n예",
    "An unrelated note with no boilerplate at all\n예\n",
};
enum { N_BOILER = sizeof boiler_docs / sizeof boiler_docs[0] };

static uint64_t line_key(const char *line, size_t min_chars)
{
    hlm_buf keys = {0};
    hlm_error err;
    assert_int_equal(hlm_line_keys(S(line), min_chars, &keys, &err), HLM_OK);
    assert_int_equal(keys.len, 8);
    uint64_t k;
    memcpy(&k, keys.data, 8);
    hlm_buf_free(&keys);
    return k;
}

static void test_line_counts(void **state)
{
    hlm_line_counts *c;
    hlm_error err;
    assert_int_equal(hlm_line_counts_new(&c, 1 << 20, 5, &err), HLM_OK);
    for (int i = 0; i < N_BOILER; i++) assert_int_equal(hlm_line_counts_add(c, S(boiler_docs[i]), &err), HLM_OK);
    uint64_t share = line_key("Share this article on Facebook", 5);
    uint64_t copy = line_key("copyright 1234 example news. all rights reserved", 5);
    assert_int_equal(hlm_line_counts_get(c, share), 4); /* doc 4 has it twice: counted once */
    assert_int_equal(hlm_line_counts_get(c, copy), 3);  /* years are digits -> 0 */
    assert_int_equal(hlm_line_counts_get(c, line_key("Local team wins the cup", 5)), 1);
    /* "예" (1 character) is shorter than min_line_chars: never counted. 5 first lines + 2. */
    assert_int_equal(hlm_line_counts_entries(c), N_BOILER + 2);
    hlm_buf keys = {0};
    assert_int_equal(hlm_line_keys(S("예\n\n  ..  \n"), 5, &keys, &err), HLM_OK);
    assert_int_equal(keys.len, 0);
    assert_int_equal(hlm_line_keys(S("예\n"), 1, &keys, &err), HLM_OK);
    assert_int_equal(keys.len, 8);
    hlm_buf_free(&keys);

    hlm_buf out = {0};
    size_t removed;
    assert_int_equal(hlm_line_dedup_apply(c, 3, S(boiler_docs[1]), &out, &removed, &err), HLM_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(out.len, strlen("Rain expected tomorrow in the north\n예\n"));
    assert_memory_equal(out.data, "Rain expected tomorrow in the north\n예\n", out.len);
    assert_int_equal(hlm_line_dedup_apply(c, 4, S(boiler_docs[3]), &out, &removed, &err), HLM_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(out.len, strlen("Prices rose by 3 percent\n예"));
    assert_memory_equal(out.data, "Prices rose by 3 percent\n예", out.len);
    assert_int_equal(hlm_line_dedup_apply(c, 5, S(boiler_docs[3]), &out, &removed, &err), HLM_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(out.len, strlen(boiler_docs[3]));
    assert_int_equal(hlm_line_dedup_apply(c, 0, S(boiler_docs[3]), &out, &removed, &err), HLM_ERR_INVALID);
    hlm_buf_free(&out);
    hlm_line_counts_free(c);
}

static hlm_line_counts *counts_of(size_t from, size_t to)
{
    hlm_line_counts *c;
    hlm_error err;
    assert_int_equal(hlm_line_counts_new(&c, 1 << 20, 5, &err), HLM_OK);
    for (size_t i = from; i < to; i++) assert_int_equal(hlm_line_counts_add(c, S(boiler_docs[i]), &err), HLM_OK);
    return c;
}

static void assert_same_counts(const hlm_line_counts *a, const hlm_line_counts *b)
{
    assert_int_equal(hlm_line_counts_entries(a), hlm_line_counts_entries(b));
    for (int i = 0; i < N_BOILER; i++) {
        hlm_buf keys = {0};
        hlm_error err;
        assert_int_equal(hlm_line_keys(S(boiler_docs[i]), 5, &keys, &err), HLM_OK);
        for (size_t j = 0; j < keys.len / 8; j++) {
            uint64_t k;
            memcpy(&k, keys.data + 8 * j, 8);
            assert_int_equal(hlm_line_counts_get(a, k), hlm_line_counts_get(b, k));
        }
        hlm_buf_free(&keys);
    }
}

static void test_line_counts_save_load_merge(void **state)
{
    hlm_error err;
    hlm_line_counts *all = counts_of(0, N_BOILER), *p1 = counts_of(0, 2), *p2 = counts_of(2, N_BOILER);
    hlm_buf s1 = {0}, s2 = {0};
    assert_int_equal(hlm_line_counts_save(p1, &s1, &err), HLM_OK);
    assert_int_equal(hlm_line_counts_save(p2, &s2, &err), HLM_OK);
    assert_int_equal(s1.len, 40 + 12 * hlm_line_counts_entries(p1));

    hlm_line_counts *loaded;
    assert_int_equal(hlm_line_counts_new(&loaded, 1 << 20, 5, &err), HLM_OK);
    assert_int_equal(hlm_line_counts_load(loaded, s1.data, s1.len, "part0.bin", &err), HLM_OK);
    assert_int_equal(hlm_line_counts_load(loaded, s2.data, s2.len, "part1.bin", &err), HLM_OK);
    assert_same_counts(loaded, all);
    assert_int_equal(hlm_line_counts_merge(p1, p2, &err), HLM_OK);
    assert_same_counts(p1, all);

    /* Corrupt inputs: an error naming the input, and nothing added. */
    size_t before = hlm_line_counts_entries(loaded);
    hlm_buf bad = {0};
    assert_int_equal(hlm_buf_append(&bad, s2.data, s2.len), HLM_OK);
    bad.data[40] ^= 1; /* a key: checksum mismatch */
    assert_int_equal(hlm_line_counts_load(loaded, bad.data, bad.len, "bad.bin", &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "bad.bin"));
    assert_non_null(strstr(err.msg, "checksum"));
    bad.data[40] ^= 1;
    assert_int_equal(hlm_line_counts_load(loaded, bad.data, bad.len - 1, "short.bin", &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "short.bin"));
    assert_int_equal(hlm_line_counts_load(loaded, bad.data, 20, "tiny.bin", &err), HLM_ERR_FORMAT);
    bad.data[0] = 'X';
    assert_int_equal(hlm_line_counts_load(loaded, bad.data, bad.len, "magic.bin", &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "magic"));
    bad.data[0] = s2.data[0];
    bad.data[16]++; /* entries */
    assert_int_equal(hlm_line_counts_load(loaded, bad.data, bad.len, "n.bin", &err), HLM_ERR_FORMAT);
    bad.data[16]--;
    /* A zero count with a valid checksum (a writer bug) is rejected too. */
    memset(bad.data + 40, 0, 12);
    uint64_t sum = XXH3_64bits(bad.data, bad.len - 8);
    for (int i = 0; i < 8; i++) bad.data[bad.len - 8 + i] = (uint8_t)(sum >> (8 * i));
    assert_int_equal(hlm_line_counts_load(loaded, bad.data, bad.len, "zero.bin", &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "entry 0"));
    assert_int_equal(hlm_line_counts_entries(loaded), before);
    hlm_line_counts *other;
    assert_int_equal(hlm_line_counts_new(&other, 1 << 20, 3, &err), HLM_OK);
    assert_int_equal(hlm_line_counts_load(other, s1.data, s1.len, "part0.bin", &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_line_counts_merge(other, p1, &err), HLM_ERR_INVALID);

    hlm_buf_free(&bad);
    hlm_buf_free(&s1);
    hlm_buf_free(&s2);
    hlm_line_counts_free(other);
    hlm_line_counts_free(loaded);
    hlm_line_counts_free(all);
    hlm_line_counts_free(p1);
    hlm_line_counts_free(p2);
}

static void test_line_counts_bounded(void **state)
{
    hlm_line_counts *c;
    hlm_error err;
    assert_int_equal(hlm_line_counts_new(&c, 4, 1, &err), HLM_ERR_INVALID);
    size_t max_bytes = 64 * 12 + 1000;
    assert_int_equal(hlm_line_counts_new(&c, max_bytes, 1, &err), HLM_OK);
    uint64_t keys[1000];
    for (int i = 0; i < 1000; i++) keys[i] = XXH3_64bits(&i, sizeof i) | 1;
    assert_int_equal(hlm_line_counts_add_keys(c, keys, 1000, &err), HLM_OK);
    size_t kept = hlm_line_counts_entries(c);
    assert_true(kept < 1000 && kept >= 40); /* 64 slots, 70% full */
    assert_int_equal(hlm_line_counts_dropped(c), 1000 - kept);
    assert_true(hlm_line_counts_bytes(c) <= max_bytes + 256); /* the table, plus the struct */
    /* Present keys keep counting; dropped ones stay absent. */
    assert_int_equal(hlm_line_counts_add_keys(c, keys, 1000, &err), HLM_OK);
    size_t twos = 0, zeros = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t n = hlm_line_counts_get(c, keys[i]);
        twos += n == 2;
        zeros += n == 0;
    }
    assert_int_equal(twos, kept);
    assert_int_equal(zeros, 1000 - kept);
    hlm_line_counts_free(c);
}

/* ---- MinHash ---- */

#define P61 ((1ull << 61) - 1)

/* The definition in minhash.c, computed independently: a_i, b_i from SplitMix64(seed) by
 * rejection, x = XXH3-64(shingle, seed) >> 3, value (a x + b) mod p. */
static void reference_params(uint64_t seed, int k, uint64_t *a, uint64_t *b)
{
    uint64_t s = seed;
    for (int i = 0; i < k; i++) {
        do a[i] = hlm_splitmix64(&s) >> 3;
        while (a[i] == 0 || a[i] >= P61);
        do b[i] = hlm_splitmix64(&s) >> 3;
        while (b[i] >= P61);
    }
}

static void reference_signature(const char *const *shingles, int n, uint64_t seed, int k, uint64_t *sig)
{
    uint64_t a[112], b[112];
    reference_params(seed, k, a, b);
    for (int i = 0; i < k; i++) {
        sig[i] = UINT64_MAX;
        for (int j = 0; j < n; j++) {
            uint64_t x = XXH3_64bits_withSeed(shingles[j], strlen(shingles[j]), seed) >> 3;
            uint64_t v = (uint64_t)(((unsigned __int128)a[i] * x + b[i]) % P61);
            if (v < sig[i]) sig[i] = v;
        }
    }
}

static void check_signature(const hlm_minhash *m, const char *text, const char *lang, const char *const *shingles,
                            int n)
{
    uint64_t got[112], want[112];
    hlm_buf scratch = {0};
    hlm_error err;
    assert_int_equal(hlm_minhash_signature(m, S(text), lang, got, &scratch, &err), HLM_OK);
    reference_signature(shingles, n, 1, 112, want);
    assert_memory_equal(got, want, sizeof got);
    hlm_buf_free(&scratch);
}

static void test_minhash_reference(void **state)
{
    hlm_minhash_params p;
    hlm_minhash_params_default(&p);
    assert_int_equal(p.bands * p.rows, 112);
    hlm_minhash *m;
    hlm_error err;
    assert_int_equal(hlm_minhash_new(&m, &p, &err), HLM_OK);
    check_signature(m, "Hello!", "en", (const char *const[]){"hello"}, 1);
    check_signature(m, "One, TWO three... four-five six!", NULL,
                    (const char *const[]){"one two three four five", "two three four five six"}, 2);
    check_signature(m, "Pi is 3.14, not 1,000 or 42", "en",
                    (const char *const[]){"pi is 0 not 0", "is 0 not 0 or", "0 not 0 or 0"}, 3);
    check_signature(m, "", "en", (const char *const[]){""}, 1);
    /* Unspaced: spaces and punctuation removed, then 5 code points. */
    check_signature(m, "재밌다 정말!", "ko", (const char *const[]){"재밌다정말"}, 1);
    check_signature(m, "가나 다라마바", NULL, (const char *const[]){"가나다라마", "나다라마바"}, 2);
    check_signature(m, "가나 다라마바", "ko-KR", (const char *const[]){"가나다라마", "나다라마바"}, 2);
    /* Many shingles: more than one block of the kernel (256). */
    char text[8192];
    static char words[600][8];
    const char *sh[600];
    size_t w = 0;
    for (int i = 0; i < 600; i++) {
        snprintf(words[i], sizeof words[i], "w%c%c", 'a' + i % 26, 'a' + i / 26);
        w += (size_t)snprintf(text + w, sizeof text - w, "%s%s", i ? " " : "", words[i]);
    }
    static char shingle_buf[600][48];
    for (int i = 0; i + 5 <= 600; i++) {
        memcpy(shingle_buf[i], text + 4 * i, 19); /* five 3-letter words and their spaces */
        shingle_buf[i][19] = 0;
        sh[i] = shingle_buf[i];
    }
    check_signature(m, text, "en", sh, 596);

    hlm_minhash_free(m);

    /* Korean as morphemes (datatrove's configuration): word 5-grams of Kiwi's tokens of the
     * simplified text, the reference shingles written from kiwipiepy 0.21 (sbg) on these texts;
     * spacing does not change them ("재밌다정말" is 재밌 다 정말 too). Other languages as before. */
    hlm_minhash_params pk = p;
    pk.korean_shingles = HLM_KO_SHINGLES_MORPHEMES;
    assert_int_equal(hlm_minhash_new(&m, &pk, &err), HLM_OK);
    check_signature(m, "영화가 정말 재밌었다 ㅋㅋ 10점!", "ko",
                    (const char *const[]){"영화 가 정말 재밌 었", "가 정말 재밌 었 다", "정말 재밌 었 다 ㅋㅋ",
                                          "재밌 었 다 ㅋㅋ 0", "었 다 ㅋㅋ 0 점"},
                    5);
    check_signature(m, "재밌다정말 최고의 영화", "ko",
                    (const char *const[]){"재밌 다 정말 최고 의", "다 정말 최고 의 영화"}, 2);
    check_signature(m, "재밌다 정말 최고의 영화", NULL,
                    (const char *const[]){"재밌 다 정말 최고 의", "다 정말 최고 의 영화"}, 2);
    check_signature(m, "배우들의 연기", "ko", (const char *const[]){"배우 들 의 연기"}, 1);
    check_signature(m, "One, TWO three... four-five six!", "en",
                    (const char *const[]){"one two three four five", "two three four five six"}, 2);
    check_signature(m, "가나 다라마바", "ja", (const char *const[]){"가나다라마", "나다라마바"}, 2);
    hlm_minhash_free(m);
    /* Korean as words, as datatrove's Korean MinHash shingles them in practice: the reference
     * tokens are datatrove 0.10.1's (simplify_text, then kiwipiepy on the jamo it leaves),
     * recomposed to NFC. */
    pk.korean_shingles = HLM_KO_SHINGLES_WORDS;
    assert_int_equal(hlm_minhash_new(&m, &pk, &err), HLM_OK);
    check_signature(m, "영화가 정말 재밌었다 ㅋㅋ 10점!", "ko",
                    (const char *const[]){"영화가 정말 재밌었다 ㅋㅋ 0", "정말 재밌었다 ㅋㅋ 0 점"}, 2);
    check_signature(m, "DVD로 봤는데 3번째 봐도 좋네요^^", "ko",
                    (const char *const[]){"dvd 로 봤는데 0 번째", "로 봤는데 0 번째 봐도", "봤는데 0 번째 봐도 좋네요"}, 3);
    check_signature(m, "재밌다정말 최고의 영화", "ko", (const char *const[]){"재밌다정말 최고의 영화"}, 1);
    hlm_minhash_free(m);

    hlm_minhash_params bad = p;
    bad.rows = 0;
    assert_int_equal(hlm_minhash_new(&m, &bad, &err), HLM_ERR_INVALID);
    assert_null(m);
    bad = p;
    bad.bands = 0;
    assert_int_equal(hlm_minhash_new(&m, &bad, &err), HLM_ERR_INVALID);
}

/* Synthetic documents: words drawn from a small vocabulary by SplitMix64. */
static size_t synth_doc(uint64_t seed, char *buf, size_t cap)
{
    static const char *const vocab[] = {"data", "model", "영화", "재밌다", "the", "of", "train", "Token", "배우",
                                        "최고", "loss", "batch", "정말", "story"};
    uint64_t s = seed;
    size_t w = 0, nwords = 20 + hlm_splitmix64(&s) % 200;
    for (size_t i = 0; i < nwords && w + 16 < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s%s", i ? " " : "", vocab[hlm_splitmix64(&s) % 14]);
    return w;
}

enum { SYNTH = 96, THREADS = 4 };
typedef struct {
    const hlm_minhash *m;
    int first;
    uint64_t (*bands)[14];
} job_t;

static void *band_job(void *arg)
{
    job_t *j = arg;
    hlm_buf scratch = {0};
    char buf[4096];
    hlm_error err;
    for (int i = j->first; i < SYNTH; i += THREADS) {
        size_t n = synth_doc((uint64_t)i, buf, sizeof buf);
        if (hlm_minhash_bands(j->m, (uint8_t *)buf, n, i % 2 ? "ko" : NULL, j->bands[i], &scratch, &err)) abort();
    }
    hlm_buf_free(&scratch);
    return NULL;
}

static void test_minhash_threads(void **state)
{
    hlm_minhash_params p;
    hlm_minhash_params_default(&p);
    hlm_minhash *m;
    hlm_error err;
    assert_int_equal(hlm_minhash_new(&m, &p, &err), HLM_OK);
    static uint64_t serial[SYNTH][14], parallel[SYNTH][14];
    hlm_buf scratch = {0};
    char buf[4096];
    for (int i = 0; i < SYNTH; i++) {
        size_t n = synth_doc((uint64_t)i, buf, sizeof buf);
        assert_int_equal(hlm_minhash_bands(m, (uint8_t *)buf, n, i % 2 ? "ko" : NULL, serial[i], &scratch, &err), HLM_OK);
    }
    pthread_t th[THREADS];
    job_t jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job_t){m, t, parallel};
        assert_int_equal(pthread_create(&th[t], NULL, band_job, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    assert_memory_equal(serial, parallel, sizeof serial);
    /* A second instance with the same seed agrees; another seed does not. */
    hlm_minhash *m2;
    assert_int_equal(hlm_minhash_new(&m2, &p, &err), HLM_OK);
    uint64_t again[14];
    size_t n = synth_doc(5, buf, sizeof buf);
    assert_int_equal(hlm_minhash_bands(m2, (uint8_t *)buf, n, "ko", again, &scratch, &err), HLM_OK);
    assert_memory_equal(again, serial[5], sizeof again);
    hlm_minhash_free(m2);
    p.seed = 2;
    assert_int_equal(hlm_minhash_new(&m2, &p, &err), HLM_OK);
    assert_int_equal(hlm_minhash_bands(m2, (uint8_t *)buf, n, "ko", again, &scratch, &err), HLM_OK);
    for (int b = 0; b < 14; b++) assert_true(again[b] != serial[5][b]);
    hlm_minhash_free(m2);
    hlm_buf_free(&scratch);
    hlm_minhash_free(m);
}

/* ---- LSH ---- */

static void test_lsh_chain(void **state)
{
    hlm_lsh *l;
    hlm_error err;
    assert_int_equal(hlm_lsh_new(&l, 3, &err), HLM_OK);
    /* A shares band 0 with B, B shares band 2 with C; A and C share nothing. */
    uint64_t a[3] = {1, 2, 3}, b[3] = {1, 20, 30}, c[3] = {100, 200, 30}, d[3] = {2, 3, 1}, e[3] = {7, 8, 9},
             f[3] = {70, 8, 90};
    assert_int_equal(hlm_lsh_add(l, 30, a, &err), HLM_OK);
    assert_int_equal(hlm_lsh_add(l, 10, b, &err), HLM_OK);
    assert_int_equal(hlm_lsh_add(l, 20, c, &err), HLM_OK);
    assert_int_equal(hlm_lsh_add(l, 5, d, &err), HLM_OK); /* same values, other bands: unrelated */
    assert_int_equal(hlm_lsh_add(l, 1000, e, &err), HLM_OK);
    assert_int_equal(hlm_lsh_add(l, 999, f, &err), HLM_OK);
    assert_int_equal(hlm_lsh_cluster(l, &err), HLM_OK);
    assert_int_equal(hlm_lsh_docs(l), 6);
    assert_int_equal(hlm_lsh_clusters(l), 2);
    assert_int_equal(hlm_lsh_representative(l, 30), 10);
    assert_int_equal(hlm_lsh_representative(l, 20), 10);
    assert_int_equal(hlm_lsh_representative(l, 10), 10);
    assert_int_equal(hlm_lsh_representative(l, 1000), 999);
    assert_false(hlm_lsh_is_duplicate(l, 10));
    assert_true(hlm_lsh_is_duplicate(l, 20));
    assert_true(hlm_lsh_is_duplicate(l, 30));
    assert_false(hlm_lsh_is_duplicate(l, 5));
    assert_false(hlm_lsh_is_duplicate(l, 999));
    assert_true(hlm_lsh_is_duplicate(l, 1000));
    assert_false(hlm_lsh_is_duplicate(l, 77)); /* unknown */
    assert_int_equal(hlm_lsh_representative(l, 77), 77);
    assert_int_equal(hlm_lsh_bytes_per_doc(14), 128);
    /* Doc numbers must be unique. */
    assert_int_equal(hlm_lsh_add(l, 20, e, &err), HLM_OK);
    assert_int_equal(hlm_lsh_cluster(l, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "20"));
    hlm_lsh_free(l);
    assert_int_equal(hlm_lsh_new(&l, 0, &err), HLM_ERR_INVALID);
}

/* ---- the near-duplicate pair set ---- */

static void test_pairs(void **state)
{
    char path[512];
    const char *fx = getenv("HLM_FIXTURES");
    snprintf(path, sizeof path, "%s/dedup/pairs.jsonl", fx ? fx : "tests/fixtures");
    hlm_buf file = {0};
    hlm_error err;
    if (hlm_file_read_all(path, &file, &err)) {
        printf("SKIPPED: %s\n", err.msg);
        return;
    }
    hlm_minhash_params p;
    hlm_minhash_params_default(&p);
    hlm_minhash *m;
    hlm_lsh *l;
    assert_int_equal(hlm_minhash_new(&m, &p, &err), HLM_OK);
    assert_int_equal(hlm_lsh_new(&l, p.bands, &err), HLM_OK);
    enum { MAX_ROWS = 2048 };
    static double jac[MAX_ROWS];
    static int is_pair[MAX_ROWS];
    hlm_buf scratch = {0};
    uint64_t bands[14], bands_auto[14], sig_a[112], sig_b[112];
    double est_err = 0;
    size_t rows = 0, pairs = 0;
    char *line = (char *)file.data, *file_end = (char *)file.data + file.len;
    while (line < file_end) {
        char *nl = memchr(line, '\n', (size_t)(file_end - line));
        if (nl) *nl = 0;
        if (*line) {
            assert_true(rows < MAX_ROWS);
            cJSON *o = cJSON_Parse(line);
            assert_non_null(o);
            const char *lang = cJSON_GetObjectItem(o, "lang")->valuestring;
            const char *kind = cJSON_GetObjectItem(o, "kind")->valuestring;
            is_pair[rows] = strcmp(kind, "single") != 0;
            const char *texts[2] = {cJSON_GetObjectItem(o, "a")->valuestring,
                                    is_pair[rows] ? cJSON_GetObjectItem(o, "b")->valuestring : NULL};
            for (int t = 0; t < 1 + is_pair[rows]; t++) {
                assert_int_equal(hlm_minhash_bands(m, S(texts[t]), lang, bands, &scratch, &err), HLM_OK);
                /* Script detection picks the same shingling as the language. */
                assert_int_equal(hlm_minhash_bands(m, S(texts[t]), NULL, bands_auto, &scratch, &err), HLM_OK);
                assert_memory_equal(bands, bands_auto, sizeof bands);
                assert_int_equal(hlm_lsh_add(l, 2 * rows + (size_t)t, bands, &err), HLM_OK);
            }
            if (is_pair[rows]) {
                jac[rows] = cJSON_GetObjectItem(o, "jaccard")->valuedouble;
                assert_int_equal(hlm_minhash_signature(m, S(texts[0]), lang, sig_a, &scratch, &err), HLM_OK);
                assert_int_equal(hlm_minhash_signature(m, S(texts[1]), lang, sig_b, &scratch, &err), HLM_OK);
                int eq = 0;
                for (int i = 0; i < 112; i++) eq += sig_a[i] == sig_b[i];
                est_err += fabs(eq / 112.0 - jac[rows]);
                pairs++;
            }
            cJSON_Delete(o);
            rows++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    assert_int_equal(hlm_lsh_cluster(l, &err), HLM_OK);
    size_t hi = 0, hi_found = 0, lo = 0, lo_found = 0, strays = 0, docs = 0;
    for (size_t r = 0; r < rows; r++) {
        for (int t = 0; t < 1 + is_pair[r]; t++) {
            /* A document joined to anything outside its own pair. */
            strays += hlm_lsh_representative(l, 2 * r + (size_t)t) / 2 != r;
            docs++;
        }
        if (!is_pair[r]) continue;
        int found = hlm_lsh_representative(l, 2 * r + 1) == hlm_lsh_representative(l, 2 * r);
        if (jac[r] >= 0.8) hi++, hi_found += found;
        if (jac[r] < 0.5) lo++, lo_found += found;
    }
    /* Recall and false positives of 14 x 8 bands, the figures issue 3 asks for; the binomial
     * expectation is ~0.96 recall over these J >= 0.8 pairs and ~0.5% flagged below 0.5. */
    double recall = (double)hi_found / (double)hi, fp = (double)lo_found / (double)lo;
    est_err /= (double)pairs;
    printf("pairs: %zu; J >= 0.8: %zu, recall %.3f; J < 0.5: %zu, flagged %.3f; mean |est - J| %.3f; "
           "docs joined outside their pair %zu / %zu\n",
           pairs, hi, recall, lo, fp, est_err, strays, docs);
    assert_true(hi >= 100 && lo >= 100);
    assert_true(recall >= 0.9);
    assert_true(fp <= 0.02);
    /* 112 hashes: the estimate's standard deviation is at most 0.047 per pair. */
    assert_true(est_err <= 0.1);
    /* Unrelated documents (different movies, different man pages) stay apart. */
    assert_true(strays * 50 <= docs);
    hlm_buf_free(&scratch);
    hlm_buf_free(&file);
    hlm_lsh_free(l);
    hlm_minhash_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_keys),
        cmocka_unit_test(test_keyset),
        cmocka_unit_test(test_line_counts),
        cmocka_unit_test(test_line_counts_save_load_merge),
        cmocka_unit_test(test_line_counts_bounded),
        cmocka_unit_test(test_minhash_reference),
        cmocka_unit_test(test_minhash_threads),
        cmocka_unit_test(test_lsh_chain),
        cmocka_unit_test(test_pairs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
