/* Language identification: accuracy on held-out text (tests/fixtures/langid/heldout.tsv, made
 * by tools/gen_langid_model.py from man pages the model was not trained on; the reference is the
 * package's language, the bar 0.95 per language as for langid.py-style models on 100+ character
 * text), script decisions on hand-written sentences, and the contract: und for too few letters,
 * invalid bytes ignored, max_bytes honoured at a character boundary, scores and shares in range.
 * With ../shared present, also NSMC movie reviews (short, informal Korean). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "text/langid.h"
#include "text/unicode.h"

static hlm_lang_result id_of(const char *s, size_t max_bytes)
{
    hlm_lang_result r;
    hlm_langid((const uint8_t *)s, strlen(s), max_bytes, &r);
    assert_true(r.score >= 0 && r.score <= 1);
    assert_true(r.hangul_share >= 0 && r.latin_share >= 0 && r.han_share >= 0 && r.kana_share >= 0);
    assert_true(r.hangul_share + r.latin_share + r.han_share + r.kana_share <= 1.0001f);
    return r;
}

static void expect_lang(const char *s, const char *lang)
{
    hlm_lang_result r = id_of(s, 0);
    if (strcmp(r.lang, lang)) fprintf(stderr, "'%s': got %s (%.3f), want %s\n", s, r.lang, r.score, lang);
    assert_string_equal(r.lang, lang);
}

static void test_heldout(void **state)
{
    (void)state;
    const char *fx = getenv("HLM_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/langid/heldout.tsv", fx ? fx : "tests/fixtures");
    FILE *f = fopen(path, "r");
    assert_non_null(f); /* committed with the model: its absence is a failure */
    enum { MAX_LANGS = 64 };
    char langs[MAX_LANGS][8];
    int total[MAX_LANGS] = {0}, right[MAX_LANGS] = {0}, n_langs = 0;
    static char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = 0;
        char *text = tab + 1;
        text[strcspn(text, "\n")] = 0;
        int k = 0;
        while (k < n_langs && strcmp(langs[k], line)) k++;
        if (k == n_langs) {
            assert_true(n_langs < MAX_LANGS && strlen(line) < 8);
            strcpy(langs[n_langs++], line);
        }
        hlm_lang_result r = id_of(text, 0);
        total[k]++;
        if (!strcmp(r.lang, line)) right[k]++;
        else fprintf(stderr, "  %s taken for %s (%.2f): %.60s...\n", line, r.lang, r.score, text);
    }
    fclose(f);
    assert_true(n_langs >= 11);
    for (int k = 0; k < n_langs; k++) {
        double acc = (double)right[k] / total[k];
        printf("  %s: %d/%d = %.3f\n", langs[k], right[k], total[k], acc);
        assert_true(acc >= 0.95);
    }
    const char *required[] = {"en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "ru", "uk"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        int k = 0;
        while (k < n_langs && strcmp(langs[k], required[i])) k++;
        assert_true(k < n_langs && total[k] >= 10);
    }
}

static void test_scripts(void **state)
{
    (void)state;
    /* Korean with English terms: still Korean, and the shares say how much is which */
    hlm_lang_result r = id_of("오늘 회의에서 machine learning 모델 deployment 이야기를 했다", 0);
    assert_string_equal(r.lang, "ko");
    assert_true(r.hangul_share > 0.3f && r.hangul_share < 0.5f); /* 14 syllables, 25 Latin letters */
    assert_true(r.latin_share > 0.5f && r.latin_share < 0.7f);
    assert_true(r.score > 0.5f);

    r = id_of("東京都は日本の首都であり、多くの人々が住んでいます。", 0);
    assert_string_equal(r.lang, "ja");
    assert_true(r.kana_share > 0.2f && r.han_share > 0.2f);
    r = id_of("中华人民共和国是位于东亚的社会主义国家，首都为北京。", 0);
    assert_string_equal(r.lang, "zh");
    assert_true(r.han_share > 0.99f && r.kana_share == 0.0f);
    assert_true(r.score > 0.99f);
    expect_lang("カタカナだけのテキストです", "ja");

    expect_lang("Η Ελλάδα είναι χώρα της νοτιοανατολικής Ευρώπης.", "el");
    expect_lang("ירושלים היא עיר הבירה של מדינת ישראל.", "he");
    expect_lang("اللغة العربية هي إحدى أكثر اللغات انتشاراً في العالم.", "ar");
    expect_lang("ภาษาไทยเป็นภาษาราชการของประเทศไทย", "th");
    expect_lang("भारत दक्षिण एशिया में स्थित एक विशाल देश है।", "hi");
    expect_lang("Москва является столицей Российской Федерации и крупнейшим городом страны.", "ru");
    expect_lang("Київ є столицею та найбільшим містом України, розташованим на річці Дніпро.", "uk");
    expect_lang("The committee will publish its final report on the new railway next spring.", "en");
    expect_lang("Der Ausschuss wird seinen Abschlussbericht über die neue Bahnstrecke im Frühjahr "
                "veröffentlichen.", "de");
    expect_lang("Le comité publiera son rapport final sur la nouvelle ligne ferroviaire au printemps "
                "prochain.", "fr");
    expect_lang("El comité publicará su informe final sobre la nueva línea de ferrocarril la próxima "
                "primavera.", "es");

    /* mixed: an English sentence with one Korean word is English */
    r = id_of("We had dinner at a small restaurant and ordered 김치 with rice and some soup.", 0);
    assert_string_equal(r.lang, "en");
    assert_true(r.hangul_share > 0 && r.hangul_share < 0.1f);
    /* the score of a Latin decision is the posterior times the script's share */
    hlm_lang_result pure = id_of("We had dinner at a small restaurant and ordered kimchi with rice and some soup.", 0);
    assert_true(r.score < pure.score);
}

/* Short, informal Korean as in movie reviews: slang, jamo laughter, numbers, emoticons. */
static void test_reviews(void **state)
{
    (void)state;
    const char *reviews[] = {
        "진짜 재밌어요 ㅋㅋㅋ 강추",
        "시간 아까움.. 비추",
        "배우들 연기가 너무 좋았다!!",
        "이게 왜 평점이 높지?",
        "OST 최고 ㅠㅠ 두번 봤어요",
        "스토리가 산으로 감 1점도 아깝다",
        "CG는 좋은데 내용이 없음",
        "10점 만점에 10점^^",
    };
    for (size_t i = 0; i < sizeof reviews / sizeof reviews[0]; i++) expect_lang(reviews[i], "ko");

    const char *shared = getenv("HLM_SHARED");
    char path[512];
    snprintf(path, sizeof path, "%s/data/nsmc/reviews.tsv.zst", shared ? shared : "../shared");
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("SKIPPED: NSMC reviews (%s not found)\n", path);
        return;
    }
    /* the first 1 MB of the file is enough for a few thousand reviews */
    static uint8_t zin[1 << 20];
    size_t zn = fread(zin, 1, sizeof zin, f);
    fclose(f);
    size_t cap = 4 << 20;
    char *raw = malloc(cap + 1);
    assert_non_null(raw);
    ZSTD_DStream *ds = ZSTD_createDStream();
    ZSTD_inBuffer in = {zin, zn, 0};
    ZSTD_outBuffer out = {raw, cap, 0};
    while (in.pos < in.size && out.pos < out.size) {
        size_t rc = ZSTD_decompressStream(ds, &out, &in);
        if (ZSTD_isError(rc)) break;
    }
    ZSTD_freeDStream(ds);
    raw[out.pos] = 0;
    /* reviews (4th column) with at least 3 Hangul syllables */
    int n = 0, ko = 0;
    char *save = NULL;
    strtok_r(raw, "\n", &save); /* header */
    for (char *line = strtok_r(NULL, "\n", &save); line && n < 3000; line = strtok_r(NULL, "\n", &save)) {
        char *col = line;
        for (int c = 0; c < 3 && col; c++) {
            col = strchr(col, '\t');
            if (col) col++;
        }
        if (!col) continue;
        int syl = 0;
        for (const uint8_t *p = (const uint8_t *)col; *p; p++) syl += *p >= 0xEA && *p <= 0xED;
        if (syl < 3) continue;
        hlm_lang_result r = id_of(col, 0);
        n++;
        if (!strcmp(r.lang, "ko")) ko++;
        else if (n - ko <= 5) fprintf(stderr, "  review taken for %s: %s\n", r.lang, col);
    }
    free(raw);
    printf("  NSMC: %d/%d reviews with 3+ syllables are ko\n", ko, n);
    assert_true(n >= 1000);
    assert_true(ko >= 0.995 * n);
}

static void test_und_and_invalid(void **state)
{
    (void)state;
    const char *und[] = {"", "1234567890", "!!! ??? ... 2024-01-01 12:30", "ok", "\xFF\xFE\x80\x80\xC0",
                         "😀😀😀😀😀😀😀😀"};
    for (size_t i = 0; i < sizeof und / sizeof und[0]; i++) {
        hlm_lang_result r = id_of(und[i], 0);
        assert_string_equal(r.lang, "und");
        assert_true(r.score == 0.0f);
    }
    hlm_lang_result r;
    hlm_langid(NULL, 0, 0, &r);
    assert_string_equal(r.lang, "und");

    /* invalid bytes next to word boundaries change nothing at all */
    const char *clean = "The quick brown fox jumps over the lazy dog and keeps running far away";
    const char *dirty = "The quick \xFF brown fox \xC0\xAF jumps over \xED\xA0\x80 the lazy dog and keeps "
                        "running \x80 far away";
    hlm_lang_result a = id_of(clean, 0), b = id_of(dirty, 0);
    assert_string_equal(a.lang, "en");
    assert_string_equal(b.lang, "en");
    assert_true(a.score == b.score && a.latin_share == b.latin_share);
}

static void test_max_bytes(void **state)
{
    (void)state;
    /* Korean first, then much more English: the prefix decides when max_bytes cuts it */
    char text[8192] = "";
    for (int i = 0; i < 10; i++) strcat(text, "한국어 문장입니다 ");
    size_t ko_bytes = strlen(text);
    for (int i = 0; i < 40; i++) strcat(text, "this is a much longer english paragraph ");
    assert_string_equal(id_of(text, 0).lang, "en");
    assert_string_equal(id_of(text, ko_bytes).lang, "ko");
    assert_true(id_of(text, ko_bytes).hangul_share == 1.0f);

    /* a cut inside a syllable reads only up to the character before it */
    const char *syl = "가나다라마바사아자차카타파하가나다라마바사";
    for (size_t cut = 1; cut < strlen(syl); cut++) {
        hlm_lang_result got, want;
        hlm_langid((const uint8_t *)syl, strlen(syl), cut, &got);
        hlm_langid((const uint8_t *)syl, cut / 3 * 3, 0, &want);
        assert_memory_equal(&got, &want, sizeof got);
    }
    /* max_bytes beyond the length reads everything */
    hlm_lang_result all = id_of(text, 0), big = id_of(text, 1 << 20);
    assert_memory_equal(&all, &big, sizeof all);
}

static void test_languages(void **state)
{
    (void)state;
    const char *const *l = hlm_langid_languages();
    const char *want[] = {"en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "ru", "uk",
                          "ko", "ja", "zh", "th", "el", "he", "ar", "hi"};
    size_t n = 0;
    while (l[n]) n++;
    assert_true(n >= sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t k = 0;
        while (k < n && strcmp(l[k], want[i])) k++;
        assert_true(k < n);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) assert_true(strcmp(l[i], l[j]) != 0);
}

/* The script counts against a count by hand (the reference: each character decoded on its own
 * with hlm_utf8_decode_inline), on random mixtures of ASCII letters and other ASCII, Hangul
 * syllables at the edges of their range, characters that are no letters (… and an emoji), and
 * ill-formed bytes (a surrogate, a cut syllable, stray lead and continuation bytes): the only
 * letters are the ASCII ones and the syllables, so the shares are H / (H + L) and L / (H + L),
 * whatever the 16-byte blocks see. Exact to float rounding. */
static void test_share_counts(void **state)
{
    (void)state;
    static const char *const pieces[] = {"a", "Z", "q", " ", ".", "1", "\n", "가", "힣", "영화", "\xE2\x80\xA6",
                                         "\xF0\x9F\x98\x80", "\xED\xA0\x80", "\xEA\xB0", "\xC0", "\x80",
                                         "\xEA\xAF\xBF", "\xED\x9E\xA4", "\xFF"};
    enum { N_PIECES = sizeof pieces / sizeof pieces[0] };
    uint64_t seed = 7;
    char buf[512];
    for (int t = 0; t < 3000; t++) {
        size_t len = 0, n = 1 + (size_t)(seed % 120);
        for (size_t k = 0; k < n; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            const char *p = pieces[(seed >> 33) % N_PIECES];
            size_t l = strlen(p);
            if (len + l >= sizeof buf) break;
            memcpy(buf + len, p, l), len += l;
        }
        size_t h = 0, lat = 0;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            i += hlm_utf8_decode_inline((const uint8_t *)buf + i, len - i, &cp);
            h += cp >= 0xAC00 && cp <= 0xD7A3;
            lat += cp < 0x80 && ((cp | 32) - 'a') < 26u;
        }
        hlm_lang_result r;
        hlm_langid((const uint8_t *)buf, len, 0, &r);
        if (h + lat == 0) {
            assert_true(r.hangul_share == 0 && r.latin_share == 0);
            continue;
        }
        assert_float_equal(r.hangul_share, (double)h / (double)(h + lat), 1e-6);
        assert_float_equal(r.latin_share, (double)lat / (double)(h + lat), 1e-6);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heldout),         cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_reviews),         cmocka_unit_test(test_und_and_invalid),
        cmocka_unit_test(test_max_bytes),       cmocka_unit_test(test_languages),
        cmocka_unit_test(test_share_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
