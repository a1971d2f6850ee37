/* Pre-tokenizer: hand cases for every alternative of the three patterns, then a differential test
 * against PCRE2 (an independent backtracking engine with the same leftmost-first semantics as
 * tiktoken's fancy-regex) running hlm_pattern_regex itself, on random strings built to stress
 * the boundaries between alternatives. Invalid bytes are covered by hand cases and, in the
 * differential test, by standing in for each invalid byte a private-use character (U+E000),
 * which has exactly the classes an invalid byte has: none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/unicode.h"
#include "tokenizer/pretok.h"

static void print_escaped(const char *label, const uint8_t *s, size_t n)
{
    fprintf(stderr, "%s\"", label);
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\') fputc(s[i], stderr);
        else fprintf(stderr, "\\x%02x", s[i]);
    }
    fprintf(stderr, "\"\n");
}

static pcre2_code *pattern_re(hlm_pattern p);
static size_t pcre2_pieces(pcre2_code *re, pcre2_match_data *md, const uint8_t *s, size_t len, size_t *ends);

/* Checks that p splits s into exactly the pieces given after it (NULL-terminated), and that
 * PCRE2 agrees with the expectation. */
static void expect_pieces(hlm_pattern p, const char *s, ...)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t len = strlen(s), pos = 0;
    va_list ap;
    va_start(ap, s);
    const char *want;
    int ok = 1;
    while ((want = va_arg(ap, const char *))) {
        size_t wl = strlen(want);
        size_t end = pos < len ? hlm_pretok_next(p, u, len, pos) : pos;
        if (end - pos != wl || memcmp(u + pos, want, wl)) {
            fprintf(stderr, "%s: at byte %zu: ", hlm_pattern_name(p), pos);
            print_escaped("want ", (const uint8_t *)want, wl);
            print_escaped("  got ", u + pos, end - pos);
            ok = 0;
            break;
        }
        pos = end;
    }
    va_end(ap);
    size_t n_want = 0, ends[512];
    va_start(ap, s);
    for (size_t at = 0; (want = va_arg(ap, const char *)); n_want++) ends[n_want] = at += strlen(want);
    va_end(ap);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(pattern_re(p), NULL);
    size_t got[512], n_got = pcre2_pieces(pattern_re(p), md, u, len, got);
    pcre2_match_data_free(md);
    if (n_got != n_want || memcmp(got, ends, n_got * sizeof got[0])) {
        fprintf(stderr, "%s: PCRE2 disagrees with the expected pieces:\n", hlm_pattern_name(p));
        for (size_t j = 0, a = 0; j < n_got; a = got[j++]) print_escaped("  pcre2 piece: ", u + a, got[j] - a);
        ok = 0;
    }
    if (ok && pos != len) {
        fprintf(stderr, "%s: pieces end at %zu of %zu\n", hlm_pattern_name(p), pos, len);
        ok = 0;
    }
    if (!ok) print_escaped("input: ", u, len);
    assert_true(ok);
}

#define G HLM_PATTERN_GPT2
#define C HLM_PATTERN_CL100K
#define O HLM_PATTERN_O200K

static void test_names(void **state)
{
    static const struct {
        const char *name;
        hlm_pattern p;
    } ok[] = {{"gpt2", G},   {"r50k", G},        {"r50k_base", G}, {"cl100k", C},
              {"cl100k_base", C}, {"o200k", O}, {"o200k_base", O}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hlm_pattern p = HLM_PATTERN_COUNT;
        assert_int_equal(hlm_pattern_from_name(ok[i].name, &p, NULL), HLM_OK);
        assert_int_equal(p, ok[i].p);
    }
    hlm_error err;
    hlm_pattern p;
    assert_int_equal(hlm_pattern_from_name("p50k", &p, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'p50k'"));
    assert_non_null(strstr(err.msg, "gpt2, r50k, r50k_base, cl100k, cl100k_base, o200k, o200k_base"));
    assert_int_equal(hlm_pattern_from_name(NULL, &p, &err), HLM_ERR_INVALID);
    assert_string_equal(hlm_pattern_name(G), "gpt2");
    assert_string_equal(hlm_pattern_name(C), "cl100k_base");
    assert_string_equal(hlm_pattern_name(O), "o200k_base");
    /* tiktoken's pat_str, character for character (openai_public.py). */
    assert_string_equal(hlm_pattern_regex(G),
                        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");
    assert_string_equal(hlm_pattern_regex(C),
                        "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+");
    assert_string_equal(hlm_pattern_regex(O),
                        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
                        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
                        "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
    assert_null(hlm_pattern_regex(HLM_PATTERN_COUNT));
}

static void test_gpt2_cases(void **state)
{
    /* contractions: case-sensitive, exact */
    expect_pieces(G, "don't we'll they're I've I'm he'd it's", "don", "'t", " we", "'ll", " they", "'re",
                  " I", "'ve", " I", "'m", " he", "'d", " it", "'s", NULL);
    expect_pieces(G, "IT'S 'S 'x", "IT", "'", "S", " '", "S", " '", "x", NULL);
    expect_pieces(G, "'ſ", "'", "ſ", NULL);
    /* ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` */
    expect_pieces(G, "Hello world", "Hello", " world", NULL);
    expect_pieces(G, "abc123 456!!! ?x", "abc", "123", " 456", "!!!", " ?", "x", NULL);
    expect_pieces(G, "한국어 텍스트", "한국어", " 텍스트", NULL);
    expect_pieces(G, "x²½ Ⅻ٣", "x", "²½", " Ⅻ٣", NULL);
    expect_pieces(G, "e\xcc\x81t\xc3\xa9", "e", "\xcc\x81", "té", NULL); /* a mark is not \p{L} */
    /* `\s+(?!\S)` and `\s+` */
    expect_pieces(G, "a  b", "a", " ", " b", NULL);
    expect_pieces(G, "a   \n b", "a", "   \n", " b", NULL);
    expect_pieces(G, "a\t\tb", "a", "\t", "\t", "b", NULL);
    expect_pieces(G, "a \t", "a", " \t", NULL);
    expect_pieces(G, "  ", "  ", NULL);
    expect_pieces(G, "a\u3000b", "a", "\u3000", "b", NULL);
    expect_pieces(G, "a\x1c" "b", "a", "\x1c", "b", NULL); /* U+001C is not White_Space */
}

static void test_cl100k_cases(void **state)
{
    /* '(?i:[sdmt]|ll|ve|re): case-insensitive, U+017F folds to s */
    expect_pieces(C, "IT'S we'LL they'Re 'ſ 'x", "IT", "'S", " we", "'LL", " they", "'Re", " '", "ſ", " '",
                  "x", NULL);
    expect_pieces(C, "'ſx'D", "'ſ", "x", "'D", NULL);
    /* [^\r\n\p{L}\p{N}]?+\p{L}+: any non-letter, non-digit, non-newline may lead */
    expect_pieces(C, "Hello world", "Hello", " world", NULL);
    expect_pieces(C, "(foo)\tbar", "(foo", ")", "\tbar", NULL);
    expect_pieces(C, "\tbar\u3000baz \u0301x", "\tbar", "\u3000baz", " \u0301", "x", NULL);
    expect_pieces(C, "\nbar", "\n", "bar", NULL);
    /* \p{N}{1,3} */
    expect_pieces(C, "1234567 89", "123", "456", "7", " ", "89", NULL);
    expect_pieces(C, "x²½٣Ⅻ", "x", "²½٣", "Ⅻ", NULL);
    /*  ?[^\s\p{L}\p{N}]++[\r\n]* */
    expect_pieces(C, "a ...\r\n\nb", "a", " ...\r\n\n", "b", NULL);
    expect_pieces(C, "a //\n\n  c", "a", " //\n\n", " ", " c", NULL);
    /* \s*[\r\n]: the longest prefix of the space run ending in \r or \n */
    expect_pieces(C, "a  \n \n  b", "a", "  \n \n", " ", " b", NULL);
    expect_pieces(C, "a \u3000\n\u00a0", "a", " \u3000\n", "\u00a0", NULL);
    /* \s+(?!\S), \s+ */
    expect_pieces(C, "a   1", "a", "  ", " ", "1", NULL);
    expect_pieces(C, "a\xc2\x85\u20281", "a", "\xc2\x85", "\u2028", "1", NULL); /* NEL, LS */
    expect_pieces(C, "x   ", "x", "   ", NULL);
}

static void test_o200k_cases(void **state)
{
    /* A1: P?U*W+ suffix? */
    expect_pieces(O, "Hello world's HELLO'S", "Hello", " world's", " HELLO'S", NULL);
    expect_pieces(O, "helloWorld camelCase XMLHttp", "hello", "World", " camel", "Case", " XMLHttp", NULL);
    expect_pieces(O, "they'RE it'ſ'd", "they'RE", " it'ſ", "'d", NULL);
    expect_pieces(O, "\u01c5ungla", "\u01c5ungla", NULL); /* titlecase starts a word */
    expect_pieces(O, "\u02b0a", "\u02b0a", NULL);
    /* A2: all-upper, then W* */
    expect_pieces(O, "HELLO world", "HELLO", " world", NULL);
    expect_pieces(O, " ABC.", " ABC", ".", NULL);
    /* U and W overlap on Lm Lo M: A1 ends after the last of them when no Ll follows */
    expect_pieces(O, "한국어ABC", "한국어", "ABC", NULL);
    expect_pieces(O, "中A", "中", "A", NULL);
    expect_pieces(O, "中Ab", "中Ab", NULL);
    expect_pieces(O, "Aé\u0301B", "Aé\u0301", "B", NULL);
    /* a mark is P (taken as the prefix) and also U and W */
    expect_pieces(O, "\u0301abc", "\u0301abc", NULL);
    expect_pieces(O, "\u0301A ", "\u0301", "A", " ", NULL);
    expect_pieces(O, "\u0301\u0301A", "\u0301\u0301", "A", NULL);
    expect_pieces(O, " \u0301", " \u0301", NULL);
    expect_pieces(O, "!\u0301x", "!\u0301x", NULL);
    /* A3 */
    expect_pieces(O, "12345 1", "123", "45", " ", "1", NULL);
    /* A4:  ?[^\s\p{L}\p{N}]+[\r\n/]* */
    expect_pieces(O, "a.\n/b", "a", ".\n/", "b", NULL);
    expect_pieces(O, "x //\n\r\n//y", "x", " //\n\r\n//", "y", NULL);
    /* A5: \s*[\r\n]+ */
    expect_pieces(O, "a \n\n b", "a", " \n\n", " b", NULL);
    expect_pieces(O, "a\n \r\n\t1", "a", "\n \r\n", "\t", "1", NULL);
    /* A6, A7 */
    expect_pieces(O, "a   1", "a", "  ", " ", "1", NULL);
    expect_pieces(O, "a \t", "a", " \t", NULL);
}

/* Each invalid byte is one unit of no class: it is P and O, and \S. */
static void test_invalid_bytes(void **state)
{
    for (int p = 0; p < HLM_PATTERN_COUNT; p++) {
        expect_pieces(p, "\xff", "\xff", NULL);
        expect_pieces(p, "\xff\xfe!", "\xff\xfe!", NULL);
        expect_pieces(p, "1\xff" "2", "1", "\xff", "2", NULL);
        expect_pieces(p, "  \xff", " ", " \xff", NULL);
        expect_pieces(p, "\t\xff", "\t", "\xff", NULL);
        expect_pieces(p, "\x80\x80\xc0\xaf", "\x80\x80\xc0\xaf", NULL); /* overlong '/' */
        /* a surrogate, a truncated sequence, an overlong, > U+10FFFF: all bytes of no class */
        expect_pieces(p, "\xed\xa0\x80\xe2\x82\xf4\x90\x80\x80 x", "\xed\xa0\x80\xe2\x82\xf4\x90\x80\x80", " x", NULL);
    }
    /* gpt2: a run of other, then a letter run */
    expect_pieces(G, "\xffhello", "\xff", "hello", NULL);
    expect_pieces(G, " \xffhello", " \xff", "hello", NULL);
    expect_pieces(G, "a\xe2\x82" "b", "a", "\xe2\x82", "b", NULL);
    /* cl100k: an invalid byte is a possible prefix of a letter run */
    expect_pieces(C, "\xffhello", "\xffhello", NULL);
    expect_pieces(C, " \xffhello", " \xff", "hello", NULL);
    expect_pieces(C, "\xff\n\nx", "\xff\n\n", "x", NULL);
    expect_pieces(C, "'\xff", "'\xff", NULL);
    expect_pieces(C, "\xc5'\xc5\xbfx", "\xc5'", "\xc5\xbfx", NULL); /* truncated U+017F */
    /* o200k */
    expect_pieces(O, "\xffhello", "\xffhello", NULL);
    expect_pieces(O, "\xffHELLO", "\xffHELLO", NULL);
    expect_pieces(O, "\xff\xffHELLO", "\xff\xff", "HELLO", NULL);
    expect_pieces(O, "\xff/\n/x", "\xff/\n/", "x", NULL);
    expect_pieces(O, "ab'\xc5\xbf'\xc5", "ab'\xc5\xbf", "'\xc5", NULL);
}

/* ---- differential test against PCRE2 ---- */

/* White_Space, spelled out: PCRE2's \s with UCP is Perl's space class, which also has U+180E. */
#define WS_MEMBERS "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* hlm_pattern_regex with \s and \S replaced by the White_Space class. */
static char *pcre2_source(const char *re)
{
    size_t cap = strlen(re) * 8 + 1024, o = 0;
    char *out = malloc(cap);
    int in_class = 0;
    for (const char *q = re; *q; q++) {
        if (q[0] == '\\' && (q[1] == 's' || q[1] == 'S')) {
            const char *rep = in_class ? WS_MEMBERS : q[1] == 's' ? "[" WS_MEMBERS "]" : "[^" WS_MEMBERS "]";
            assert_true(!(in_class && q[1] == 'S'));
            o += (size_t)snprintf(out + o, cap - o, "%s", rep);
            q++;
            continue;
        }
        if (q[0] == '\\') {
            out[o++] = *q++;
        } else if (q[0] == '[') {
            in_class = 1;
        } else if (q[0] == ']') {
            in_class = 0;
        }
        out[o++] = *q;
    }
    out[o] = 0;
    return out;
}

static pcre2_code *compile_or_fail(const char *src)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        fprintf(stderr, "pcre2: %s at %zu in %s\n", msg, (size_t)eo, src);
    }
    assert_non_null(re);
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
    return re;
}

static pcre2_code *pattern_re(hlm_pattern p)
{
    static pcre2_code *re[HLM_PATTERN_COUNT];
    if (!re[p]) {
        char *src = pcre2_source(hlm_pattern_regex(p));
        re[p] = compile_or_fail(src);
        free(src);
    }
    return re[p];
}

static size_t encode(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000)
        return o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | ((cp >> 6) & 63)),
               o[2] = (uint8_t)(0x80 | (cp & 63)), 3;
    return o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | ((cp >> 12) & 63)),
           o[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)), o[3] = (uint8_t)(0x80 | (cp & 63)), 4;
}

/* Characters whose classes stress the boundaries, all assigned long ago (same category in
 * PCRE2 10.42's Unicode 14 and utf8proc's 15; checked below). Repeats weight the draw. */
static const uint32_t g_pool[] = {
    'a', 'b', 'e', 'l', 'l', 'm', 'r', 's', 's', 't', 'v', 'd', 'x', 'k', 'A', 'E', 'L', 'M', 'R', 'S', 'T',
    'V', 'D', 'X', 'K', '0', '1', '9', '\'', '\'', '\'', '\'', '.', ',', '!', '?', '-', '"', '(', '/', '/',
    ' ', ' ', ' ', ' ', ' ', ' ', '\t', '\r', '\n', '\n', '\v', '\f', 0x1C, 0x1F,
    0x00A0, 0x3000, 0x2028, 0x2029, 0x0085, 0x1680, 0x2000, 0x200A, 0x202F, 0x205F,
    0x180E, 0x200B, 0x200D, 0xFEFF, /* not White_Space: Cf */
    0x017F, 0x212A, 0x212B, 0x0130, 0x0131, 0x00DF, 0xFB01,                                 /* folding */
    0xAC00, 0xD55C, 0xAE00, 0xB9D0, 0x1100, 0x1161, 0x11A8, 0x3131,                         /* Hangul */
    0x00E9, 0x00D1, 0x0301, 0x0300, 0x0308, 0x0327, 0x20DD, 0xFE0F,                          /* marks */
    0x0915, 0x093F, 0x0903,                                                                  /* Deva */
    0x03B1, 0x03A9, 0x03C2, 0x0434, 0x0414, 0x4E2D, 0x6587, 0x3042, 0x30AB, 0x30FC, 0x3005,
    0x01C5, 0x01C8, 0x02B0, 0x02C6, 0x00AA, 0x05D0, 0x0627,                                  /* Lt Lm Lo */
    0x00B2, 0x00BD, 0x216B, 0x2170, 0x0663, 0x2460, 0xFF11,                                  /* numbers */
    0x1F600, 0x1F3FB, 0x00AB, 0x2014, 0x2019, 0x00A9, 0x20AC, 0xE001,                         /* other */
};
#define POOL_N (sizeof g_pool / sizeof g_pool[0])

static int pcre2_has(pcre2_code *re, uint32_t cp)
{
    uint8_t b[4];
    size_t n = encode(cp, b);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, b, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc > 0;
}

/* The pool's classes agree between PCRE2 and our table (so differences below are real). */
static void test_pool_classes(void **state)
{
    static const struct {
        const char *re;
        uint8_t mask, want; /* cp in class iff (cls & mask) == want */
    } cls[] = {
        {"^\\p{L}$", HLM_CC_LETTER, HLM_CC_LETTER},
        {"^\\p{N}$", HLM_CC_NUMBER, HLM_CC_NUMBER},
        {"^\\p{M}$", HLM_CC_MARK, HLM_CC_MARK},
        {"^[" WS_MEMBERS "]$", HLM_CC_SPACE, HLM_CC_SPACE},
        {"^[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]$", HLM_CC_UPPERISH, HLM_CC_UPPERISH},
        {"^[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]$", HLM_CC_LOWERISH, HLM_CC_LOWERISH},
        {"^[\\p{Lu}\\p{Lt}]$", HLM_CC_UPPERISH | HLM_CC_LOWERISH | HLM_CC_MARK, HLM_CC_UPPERISH},
        {"^\\p{Ll}$", HLM_CC_UPPERISH | HLM_CC_LOWERISH, HLM_CC_LOWERISH},
    };
    for (size_t k = 0; k < sizeof cls / sizeof cls[0]; k++) {
        pcre2_code *re = compile_or_fail(cls[k].re);
        for (size_t i = 0; i < POOL_N; i++) {
            int ours = (hlm_unicode_class(g_pool[i]) & cls[k].mask) == cls[k].want;
            if (ours != pcre2_has(re, g_pool[i])) fprintf(stderr, "U+%04X differs on %s\n", g_pool[i], cls[k].re);
            assert_int_equal(ours, pcre2_has(re, g_pool[i]));
        }
        pcre2_code_free(re);
    }
    /* The stand-in for an invalid byte has no class, like the byte. */
    assert_int_equal(hlm_unicode_class(0xE000), 0);
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Random string: pool characters, sometimes runs of one class, sometimes invalid bytes. */
static size_t random_text(uint8_t *buf, size_t cap, int with_invalid)
{
    static const char *const bad[] = {"\xff", "\x80", "\xbf", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80", "\xe2\x82", "\xf0\x9f\x98", "\xc5", "\xf5", "\xc3"};
    size_t n = 0, units = rnd() % 25;
    for (size_t k = 0; k < units && n + 16 < cap; k++) {
        if (with_invalid && rnd() % 8 == 0) {
            const char *b = bad[rnd() % (sizeof bad / sizeof bad[0])];
            memcpy(buf + n, b, strlen(b));
            n += strlen(b);
            continue;
        }
        uint32_t cp = g_pool[rnd() % POOL_N];
        size_t reps = rnd() % 4 == 0 ? 1 + rnd() % 3 : 1;
        for (size_t r = 0; r < reps && n + 8 < cap; r++) n += encode(cp, buf + n);
    }
    return n;
}

/* Pieces of s by PCRE2: each invalid byte is replaced by U+E000 and offsets mapped back. */
static size_t pcre2_pieces(pcre2_code *re, pcre2_match_data *md, const uint8_t *s, size_t len, size_t *ends)
{
    uint8_t t[2048];
    size_t map[2048]; /* offset in t -> offset in s */
    size_t tn = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = hlm_utf8_decode(s + i, len - i, &cp);
        for (size_t k = 0; k < (cp == HLM_CP_INVALID ? 3 : n); k++) map[tn + k] = i + (cp == HLM_CP_INVALID ? 0 : k);
        if (cp == HLM_CP_INVALID) tn += encode(0xE000, t + tn);
        else memcpy(t + tn, s + i, n), tn += n;
        i += n;
    }
    map[tn] = len;
    size_t np = 0;
    for (size_t pos = 0; pos < tn;) {
        int rc = pcre2_match(re, t, tn, pos, 0, md, NULL);
        assert_true(rc > 0);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        assert_true(ov[0] == pos && ov[1] > pos); /* no gaps, no empty matches */
        ends[np++] = map[ov[1]];
        pos = ov[1];
    }
    return np;
}

static void differential(int with_invalid, int n_strings)
{
    for (int p = 0; p < HLM_PATTERN_COUNT; p++) {
        pcre2_code *re = pattern_re(p);
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        size_t want[1024];
        uint8_t s[512];
        int pieces = 0;
        for (int it = 0; it < n_strings; it++) {
            size_t len = random_text(s, sizeof s, with_invalid);
            size_t nw = pcre2_pieces(re, md, s, len, want);
            size_t pos = 0, k = 0;
            int ok = 1;
            while (pos < len) {
                size_t end = hlm_pretok_next(p, s, len, pos);
                if (k >= nw || end != want[k]) {
                    ok = 0;
                    break;
                }
                pos = end;
                k++;
            }
            if (!ok || k != nw) {
                fprintf(stderr, "%s: differs from PCRE2 at piece %zu\n", hlm_pattern_name(p), k);
                print_escaped("input: ", s, len);
                for (size_t j = 0, a = 0; j < nw; a = want[j++]) print_escaped("  pcre2 piece: ", s + a, want[j] - a);
                for (size_t a = 0; a < len;) {
                    size_t e = hlm_pretok_next(p, s, len, a);
                    if (e <= a || e > len) break;
                    print_escaped("  our piece:   ", s + a, e - a);
                    a = e;
                }
            }
            assert_true(ok && k == nw);
            pieces += (int)nw;
        }
        printf("%s: %d strings, %d pieces agree with PCRE2%s\n", hlm_pattern_name(p), n_strings, pieces,
               with_invalid ? " (with invalid bytes)" : "");
        pcre2_match_data_free(md);
    }
}

static void test_differential_pcre2(void **state) { differential(0, 30000); }
static void test_differential_pcre2_invalid(void **state) { differential(1, 20000); }

/* On arbitrary bytes: non-empty pieces that partition the input. */
static void test_partition_random_bytes(void **state)
{
    uint8_t s[300];
    for (int it = 0; it < 20000; it++) {
        size_t len = 1 + rnd() % sizeof s;
        for (size_t i = 0; i < len; i++) {
            /* any byte, continuation bytes (to complete some characters) or frequent ASCII */
            uint64_t r = rnd();
            uint8_t any = (uint8_t)(r >> 8), cont = (uint8_t)(0x80 | ((r >> 8) & 0x3F));
            s[i] = r % 4 == 0 ? any : r % 4 == 1 ? cont : (uint8_t)" a'\n\t1.A"[(r >> 8) % 8];
        }
        for (int p = 0; p < HLM_PATTERN_COUNT; p++) {
            size_t pos = 0;
            while (pos < len) {
                size_t end = hlm_pretok_next(p, s, len, pos);
                assert_true(end > pos && end <= len);
                pos = end;
            }
        }
    }
    assert_int_equal(hlm_pretok_next(G, (const uint8_t *)"ab", 2, 2), 2); /* at the end: no piece */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_gpt2_cases),
        cmocka_unit_test(test_cl100k_cases),
        cmocka_unit_test(test_o200k_cases),
        cmocka_unit_test(test_invalid_bytes),
        cmocka_unit_test(test_pool_classes),
        cmocka_unit_test(test_differential_pcre2),
        cmocka_unit_test(test_differential_pcre2_invalid),
        cmocka_unit_test(test_partition_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
