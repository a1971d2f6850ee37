/* BPE trainer: the merge core against a hand-computed example and against a naive reference
 * trainer (recounts every pair from scratch each step), then the whole trainer (counting with
 * threads, specials, NFC, limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/log.h"
#include "hyperlm/tokenizer.h"
#include "tokenizer/bpe_train_internal.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/pretok.h"

/* ---- words built by hand: ids are byte values (the core does not care which ids bytes get) ---- */

typedef struct {
    uint32_t *sym;
    size_t *off;
    uint64_t *freq;
    size_t n, n_sym;
} corpus;

static void corpus_add(corpus *c, const uint32_t *s, size_t len, uint64_t f)
{
    c->sym = realloc(c->sym, (c->n_sym + len) * sizeof *c->sym);
    c->off = realloc(c->off, (c->n + 2) * sizeof *c->off);
    c->freq = realloc(c->freq, (c->n + 1) * sizeof *c->freq);
    assert_non_null(c->sym);
    assert_non_null(c->off);
    assert_non_null(c->freq);
    if (c->n == 0) c->off[0] = 0;
    memcpy(c->sym + c->n_sym, s, len * sizeof *s);
    c->n_sym += len;
    c->freq[c->n] = f;
    c->off[++c->n] = c->n_sym;
}

static void corpus_add_str(corpus *c, const char *s, uint64_t f)
{
    uint32_t buf[256];
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)s[i];
    corpus_add(c, buf, n, f);
}

static void corpus_free(corpus *c)
{
    free(c->sym);
    free(c->off);
    free(c->freq);
    memset(c, 0, sizeof *c);
}

/* Bytes of id under merges (ids < 256 are bytes). */
static size_t spell(const uint32_t (*merges)[2], uint32_t id, char *out)
{
    if (id < 256) {
        out[0] = (char)id;
        return 1;
    }
    size_t n = spell(merges, merges[id - 256][0], out);
    return n + spell(merges, merges[id - 256][1], out + n);
}

static size_t learn(const corpus *c, size_t max_merges, uint64_t min_freq, uint32_t (*merges)[2])
{
    hlm_bpe_words words = {0};
    for (size_t w = 0; w < c->n; w++) {
        size_t n = c->off[w + 1] - c->off[w];
        uint32_t *s = hlm_bpe_words_push(&words, n, c->freq[w]);
        assert_non_null(s);
        memcpy(s, c->sym + c->off[w], n * sizeof *s);
    }
    size_t n_merges = 0;
    hlm_error err = {0};
    assert_int_equal(hlm_bpe_learn_merges(&words, max_merges, min_freq, 0, merges, &n_merges, &err), HLM_OK);
    hlm_bpe_words_free(&words);
    return n_merges;
}

static void test_hand_example(void **state)
{
    /* Sennrich et al.'s example without end-of-word marks. Worked by hand: (e,s) and (s,t) tie at
     * 9 and e < s; then "es"+"t" = 9; (l,o) and (o,w) tie at 7; "lo"+"w"; at 6, (e,w) < (n,e) <
     * (w,est); (n,ew) before (ew,est) since n is a byte; at 3 (d,est) < (i,d) < (w,i); at 2
     * (e,r) < (low,e). */
    corpus c = {0};
    corpus_add_str(&c, "low", 5);
    corpus_add_str(&c, "lower", 2);
    corpus_add_str(&c, "newest", 6);
    corpus_add_str(&c, "widest", 3);
    static const char *expect[] = {"es", "est", "lo", "low", "ew", "new", "newest", "dest", "idest",
                                   "widest", "er", "lower"};
    uint32_t merges[64][2];
    size_t n = learn(&c, 64, 2, merges);
    assert_int_equal(n, 12);
    for (size_t i = 0; i < n; i++) {
        char buf[64] = {0};
        spell(merges, 256 + (uint32_t)i, buf);
        assert_string_equal(buf, expect[i]);
    }
    /* min_frequency 3 stops before the two merges seen only twice; max_merges cuts the list. */
    assert_int_equal(learn(&c, 64, 3, merges), 10);
    assert_int_equal(learn(&c, 4, 2, merges), 4);
    corpus_free(&c);
}

static void test_overlapping_pairs(void **state)
{
    /* "aaaaa": (a,a) counts 4; merging left to right gives aa aa a, so (aa,aa) and (aa,a) count 1
     * each; (aa,a) wins the tie (a < aa), then aa aaa -> aaaaa. */
    corpus c = {0};
    corpus_add_str(&c, "aaaaa", 1);
    uint32_t merges[8][2];
    assert_int_equal(learn(&c, 8, 1, merges), 3);
    uint32_t expect[3][2] = {{'a', 'a'}, {256, 'a'}, {256, 257}};
    assert_memory_equal(merges, expect, sizeof expect);
    /* (a,a) counts 3 in "aaaa" (x2) = 6 but merging leaves none; with "abab" (x1) around it. */
    corpus_free(&c);
    corpus_add_str(&c, "aaaa", 2);
    corpus_add_str(&c, "abab", 1);
    assert_int_equal(learn(&c, 1, 1, merges), 1);
    assert_int_equal(merges[0][0], 'a');
    assert_int_equal(merges[0][1], 'a');
    corpus_free(&c);
}

/* ---- the naive reference: recount every pair of every word at each step ---- */

typedef struct {
    uint64_t key, count;
} kc;

static int cmp_kc(const void *a, const void *b)
{
    uint64_t x = ((const kc *)a)->key, y = ((const kc *)b)->key;
    return x < y ? -1 : x > y;
}

static size_t naive_learn(const corpus *c, size_t max_merges, uint64_t min_freq, uint32_t (*merges)[2])
{
    uint64_t thr = min_freq ? min_freq : 1;
    uint32_t *sym = malloc((c->n_sym + 1) * sizeof *sym);
    size_t *len = malloc((c->n + 1) * sizeof *len);
    kc *all = malloc((c->n_sym + 1) * sizeof *all);
    memcpy(sym, c->sym, c->n_sym * sizeof *sym);
    for (size_t w = 0; w < c->n; w++) len[w] = c->off[w + 1] - c->off[w];
    size_t nm = 0;
    while (nm < max_merges) {
        size_t n = 0;
        for (size_t w = 0; w < c->n; w++)
            for (size_t i = 0; i + 1 < len[w]; i++) {
                const uint32_t *s = sym + c->off[w];
                all[n].key = (uint64_t)s[i] << 32 | s[i + 1];
                all[n++].count = c->freq[w];
            }
        qsort(all, n, sizeof *all, cmp_kc);
        uint64_t best_key = 0, best = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i;
            uint64_t sum = 0;
            while (j < n && all[j].key == all[i].key) sum += all[j++].count;
            if (sum > best) { /* keys ascend, so a tie keeps the smaller key */
                best = sum;
                best_key = all[i].key;
            }
            i = j;
        }
        if (best < thr) break;
        uint32_t a = (uint32_t)(best_key >> 32), b = (uint32_t)best_key, id = 256 + (uint32_t)nm;
        merges[nm][0] = a;
        merges[nm][1] = b;
        nm++;
        for (size_t w = 0; w < c->n; w++) {
            uint32_t *s = sym + c->off[w];
            size_t o = 0;
            for (size_t i = 0; i < len[w];) {
                if (i + 1 < len[w] && s[i] == a && s[i + 1] == b) {
                    s[o++] = id;
                    i += 2;
                } else {
                    s[o++] = s[i++];
                }
            }
            len[w] = o;
        }
    }
    free(sym);
    free(len);
    free(all);
    return nm;
}

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33) % n;
}

static void test_matches_naive_reference(void **state)
{
    /* Small alphabets and small frequencies: many ties, many overlapping runs ("aaaa", "abab"),
     * repeated words, words of one symbol. Every merge must be identical. */
    for (uint64_t seed = 1; seed <= 400; seed++) {
        rng_state = seed * 0x9E3779B97F4A7C15ull;
        corpus c = {0};
        uint32_t alphabet[8];
        uint32_t n_alpha = 1 + rnd(6);
        for (uint32_t i = 0; i < n_alpha; i++) alphabet[i] = rnd(256);
        size_t n_words = 1 + rnd(seed % 20 == 0 ? 2000 : 150);
        for (size_t w = 0; w < n_words; w++) {
            uint32_t s[32];
            size_t len = 1 + rnd(seed % 3 == 0 ? 30 : 10);
            for (size_t i = 0; i < len; i++) s[i] = alphabet[rnd(n_alpha)];
            corpus_add(&c, s, len, 1 + rnd(seed % 2 ? 3 : 50));
        }
        uint64_t min_freq = rnd(4);
        size_t max_merges = 1 + rnd(400);
        uint32_t (*fast)[2] = malloc(max_merges * sizeof *fast), (*slow)[2] = malloc(max_merges * sizeof *slow);
        size_t nf = learn(&c, max_merges, min_freq, fast);
        size_t ns = naive_learn(&c, max_merges, min_freq, slow);
        if (nf != ns || memcmp(fast, slow, nf * sizeof *fast) != 0) {
            size_t i = 0;
            while (i < nf && i < ns && fast[i][0] == slow[i][0] && fast[i][1] == slow[i][1]) i++;
            fail_msg("seed %llu: %zu vs %zu merges, first difference at merge %zu", (unsigned long long)seed,
                     nf, ns, i);
        }
        free(fast);
        free(slow);
        corpus_free(&c);
    }
}

static void test_word_order_does_not_matter(void **state)
{
    /* The counting phase hands words over in hash order, which depends on the threads. */
    rng_state = 77;
    corpus c = {0}, r = {0};
    for (size_t w = 0; w < 3000; w++) {
        uint32_t s[16];
        size_t len = 1 + rnd(12);
        for (size_t i = 0; i < len; i++) s[i] = 'a' + rnd(5);
        corpus_add(&c, s, len, 1 + rnd(4));
    }
    for (size_t w = c.n; w-- > 0;) corpus_add(&r, c.sym + c.off[w], c.off[w + 1] - c.off[w], c.freq[w]);
    uint32_t m1[2000][2], m2[2000][2];
    size_t n1 = learn(&c, 2000, 2, m1), n2 = learn(&r, 2000, 2, m2);
    assert_int_equal(n1, n2);
    assert_memory_equal(m1, m2, n1 * sizeof *m1);
    corpus_free(&c);
    corpus_free(&r);
}

static void test_empty_and_single_symbol_words(void **state)
{
    corpus c = {0};
    uint32_t merges[4][2];
    assert_int_equal(learn(&c, 4, 1, merges), 0);
    corpus_add_str(&c, "a", 10);
    corpus_add_str(&c, "b", 10);
    assert_int_equal(learn(&c, 4, 1, merges), 0);
    corpus_free(&c);
}

/* ---- the whole trainer: feed -> finish ---- */

#include "tmpdir.h"

typedef struct {
    char **texts;
    size_t *lens;
    size_t n;
} docs;

static void docs_add(docs *d, const char *text, size_t len)
{
    d->texts = realloc(d->texts, (d->n + 1) * sizeof *d->texts);
    d->lens = realloc(d->lens, (d->n + 1) * sizeof *d->lens);
    assert_non_null(d->texts);
    assert_non_null(d->lens);
    d->texts[d->n] = malloc(len + 1);
    assert_non_null(d->texts[d->n]);
    memcpy(d->texts[d->n], text, len);
    d->texts[d->n][len] = 0;
    d->lens[d->n++] = len;
}

static void docs_free(docs *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->texts[i]);
    free(d->texts);
    free(d->lens);
    memset(d, 0, sizeof *d);
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Korean syllables: NFC (precomposed U+AC00..) or NFD (conjoining jamo, Unicode ch. 3.12). */
static size_t put_hangul(char *out, uint32_t l, uint32_t v, uint32_t t, int nfd)
{
    if (!nfd) return put_utf8(out, 0xAC00 + (l * 21 + v) * 28 + t);
    size_t n = put_utf8(out, 0x1100 + l);
    n += put_utf8(out + n, 0x1161 + v);
    if (t) n += put_utf8(out + n, 0x11A7 + t);
    return n;
}

/* Random documents: English-like words, Korean words from a small syllable set, digits,
 * punctuation and newlines, so that every pattern alternative occurs. */
static void random_docs(docs *d, uint64_t seed, size_t n_docs, int nfd)
{
    static const char *en[] = {"the", "lower", "newest", "widest", "low", "token", "tokens", "It's", "HyperLM",
                               "don't", "BPE", "aaaa", "ab"};
    static const char *punct[] = {".", ",", "!!", " ...", "?", "\n", "\n\n", "  ", "/", "--", ":)"};
    rng_state = seed;
    char buf[4096];
    for (size_t i = 0; i < n_docs; i++) {
        size_t n = 0, words = 1 + rnd(40);
        for (size_t w = 0; w < words && n < sizeof buf - 64; w++) {
            if (w) buf[n++] = ' ';
            uint32_t kind = rnd(10);
            if (kind < 4) {
                const char *s = en[rnd(sizeof en / sizeof *en)];
                memcpy(buf + n, s, strlen(s));
                n += strlen(s);
            } else if (kind < 8) {
                size_t syl = 1 + rnd(4);
                for (size_t k = 0; k < syl; k++) n += put_hangul(buf + n, rnd(4), rnd(3), rnd(2) ? 0 : 4, nfd);
            } else if (kind == 8) {
                n += (size_t)snprintf(buf + n, 16, "%u", rnd(100000));
            } else {
                const char *s = punct[rnd(sizeof punct / sizeof *punct)];
                memcpy(buf + n, s, strlen(s));
                n += strlen(s);
            }
        }
        docs_add(d, buf, n);
    }
}

static hlm_tokenizer *train_docs(const docs *d, const hlm_bpe_train_opts *o, size_t batch)
{
    hlm_bpe_trainer *tr;
    hlm_error err = {0};
    assert_int_equal(hlm_bpe_trainer_new(o, &tr, &err), HLM_OK);
    for (size_t i = 0; i < d->n; i += batch) {
        size_t n = d->n - i < batch ? d->n - i : batch;
        if (hlm_bpe_trainer_feed(tr, (const char *const *)d->texts + i, d->lens + i, n, &err)) fail_msg("%s", err.msg);
    }
    hlm_tokenizer *tok = NULL;
    if (hlm_bpe_trainer_finish(tr, &tok, &err)) fail_msg("%s", err.msg);
    hlm_bpe_trainer_free(tr);
    return tok;
}

static void assert_same_tokens(const hlm_tokenizer *a, const hlm_tokenizer *b)
{
    assert_int_equal(hlm_tokenizer_vocab_size(a), hlm_tokenizer_vocab_size(b));
    for (uint32_t id = 0; id < hlm_tokenizer_vocab_size(a); id++) {
        const uint8_t *x, *y;
        size_t nx, ny;
        assert_int_equal(hlm_tokenizer_token_bytes(a, id, &x, &nx, NULL), HLM_OK);
        assert_int_equal(hlm_tokenizer_token_bytes(b, id, &y, &ny, NULL), HLM_OK);
        if (nx != ny || memcmp(x, y, nx)) fail_msg("token %u differs", id);
    }
}

static void read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(*len + 1);
    assert_non_null(*data);
    assert_int_equal(fread(*data, 1, *len, f), *len);
    fclose(f);
}

static void test_train_matches_reference_on_pieces(void **state)
{
    /* Count the pieces here (hlm_pretok_next, a sort instead of the trainer's hash tables), learn
     * with the naive reference, and compare with what the trainer makes of the same documents. */
    docs d = {0};
    random_docs(&d, 11, 300, 0);
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    o.vocab_size = 256 + 400;
    o.n_threads = 2;
    o.pattern = HLM_PATTERN_CL100K;
    hlm_tokenizer *tok = train_docs(&d, &o, 50);

    corpus c = {0};
    for (size_t i = 0; i < d.n; i++) {
        const uint8_t *s = (const uint8_t *)d.texts[i];
        for (size_t pos = 0; pos < d.lens[i];) {
            size_t end = hlm_pretok_next(o.pattern, s, d.lens[i], pos);
            uint32_t sym[4096];
            for (size_t k = pos; k < end; k++) sym[k - pos] = (uint32_t)hlm_bytelevel_rank_of_byte(s[k]);
            corpus_add(&c, sym, end - pos, 1); /* the reference does not even merge equal pieces */
            pos = end;
        }
    }
    uint32_t merges[400][2];
    size_t n = naive_learn(&c, 400, 2, merges);
    assert_int_equal(hlm_tokenizer_vocab_size(tok), 256 + n);
    /* token bytes from the reference's merges, in the tokenizer's id layout (ranks for bytes) */
    static uint8_t tokb[656][256];
    static size_t tokl[656];
    for (uint32_t r = 0; r < 256; r++) {
        tokb[r][0] = hlm_bytelevel_byte_of_rank((int)r);
        tokl[r] = 1;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t a = merges[i][0], b = merges[i][1];
        assert_true(tokl[a] + tokl[b] <= 256);
        memcpy(tokb[256 + i], tokb[a], tokl[a]);
        memcpy(tokb[256 + i] + tokl[a], tokb[b], tokl[b]);
        tokl[256 + i] = tokl[a] + tokl[b];
        const uint8_t *x;
        size_t nx;
        assert_int_equal(hlm_tokenizer_token_bytes(tok, (uint32_t)(256 + i), &x, &nx, NULL), HLM_OK);
        assert_int_equal(nx, tokl[256 + i]);
        assert_memory_equal(x, tokb[256 + i], nx);
    }
    hlm_tokenizer_free(tok);
    corpus_free(&c);
    docs_free(&d);
}

static void test_deterministic_across_threads_and_batches(void **state)
{
    docs d = {0};
    random_docs(&d, 5, 3000, 0);
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    o.vocab_size = 256 + 2000;
    o.n_threads = 1;
    hlm_tokenizer *one = train_docs(&d, &o, d.n);
    o.n_threads = 4;
    hlm_tokenizer *four = train_docs(&d, &o, 97); /* and fed in uneven batches */
    assert_same_tokens(one, four);
    char p1[300], p4[300];
    snprintf(p1, sizeof p1, "%s/one.json", tmpdir);
    snprintf(p4, sizeof p4, "%s/four.json", tmpdir);
    hlm_error err = {0};
    assert_int_equal(hlm_tokenizer_save(one, p1, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_save(four, p4, &err), HLM_OK);
    char *a, *b;
    size_t na, nb;
    read_file(p1, &a, &na);
    read_file(p4, &b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na); /* byte-identical tokenizer.json */
    free(a);
    free(b);
    hlm_tokenizer_free(one);
    hlm_tokenizer_free(four);
    docs_free(&d);
}

static void test_special_tokens_are_cut_out(void **state)
{
    /* Documents with "<|endoftext|>" inside train exactly like the same documents cut there:
     * nothing is learned from the special's text nor across it. */
    static const char *sp[] = {"<|endoftext|>", "<|end|>"};
    docs with = {0}, cut = {0}, plain = {0};
    rng_state = 3;
    for (int i = 0; i < 400; i++) {
        const char *a = rnd(2) ? "hello world" : "<|end";
        const char *b = rnd(2) ? "|>again" : "x<|endoftext|>";
        char buf[256];
        int n = snprintf(buf, sizeof buf, "%s<|endoftext|>%s<|end|><|end|>%s", a, b, a);
        docs_add(&with, buf, (size_t)n);
        docs_add(&plain, buf, (size_t)n);
        /* the same text cut at the specials (longest first where two start at one place) */
        docs_add(&cut, a, strlen(a));
        if (b[0] == '|') {
            docs_add(&cut, b, strlen(b));
        } else {
            docs_add(&cut, "x", 1);
        }
        docs_add(&cut, a, strlen(a));
    }
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    o.vocab_size = 256 + 30 + 2;
    o.min_frequency = 1;
    o.specials = sp;
    o.n_specials = 2;
    hlm_tokenizer *t1 = train_docs(&with, &o, with.n);
    o.n_specials = 0;
    o.vocab_size -= 2;
    hlm_tokenizer *t2 = train_docs(&cut, &o, cut.n);
    hlm_tokenizer *t3 = train_docs(&plain, &o, plain.n);
    assert_int_equal(hlm_tokenizer_vocab_size(t1), hlm_tokenizer_vocab_size(t2) + 2);
    for (uint32_t id = 256; id < hlm_tokenizer_vocab_size(t2); id++) {
        const uint8_t *x, *y;
        size_t nx, ny;
        assert_int_equal(hlm_tokenizer_token_bytes(t1, id, &x, &nx, NULL), HLM_OK);
        assert_int_equal(hlm_tokenizer_token_bytes(t2, id, &y, &ny, NULL), HLM_OK);
        assert_int_equal(nx, ny);
        assert_memory_equal(x, y, nx);
    }
    /* the specials take the last ids, in order */
    assert_int_equal(hlm_tokenizer_special_count(t1), 2);
    const char *text;
    uint32_t id;
    hlm_tokenizer_special(t1, 0, &text, &id);
    assert_string_equal(text, "<|endoftext|>");
    assert_int_equal(id, hlm_tokenizer_vocab_size(t2));
    hlm_tokenizer_special(t1, 1, &text, &id);
    assert_int_equal(id, hlm_tokenizer_vocab_size(t2) + 1);
    /* without the specials, their text is learned: "<|" shows up among the merges */
    int found = 0;
    for (uint32_t i = 256; i < hlm_tokenizer_vocab_size(t3); i++) {
        const uint8_t *x;
        size_t nx;
        assert_int_equal(hlm_tokenizer_token_bytes(t3, i, &x, &nx, NULL), HLM_OK);
        found |= nx >= 2 && x[0] == '<' && x[1] == '|';
    }
    assert_true(found);
    hlm_tokenizer_free(t1);
    hlm_tokenizer_free(t2);
    hlm_tokenizer_free(t3);
    docs_free(&with);
    docs_free(&cut);
    docs_free(&plain);
}

static void test_vocab_size_limits(void **state)
{
    static const char *sp[] = {"<s>", "</s>", "<pad>"};
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    o.specials = sp;
    o.n_specials = 3;
    hlm_bpe_trainer *tr = NULL;
    hlm_error err = {0};
    o.vocab_size = 259;
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_ERR_INVALID);
    assert_null(tr);
    assert_non_null(strstr(err.msg, "minimum is 260"));
    o.vocab_size = 0;
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_ERR_INVALID);
    o.vocab_size = 1u << 30;
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "maximum"));
    sp[0] = "</s>"; /* duplicates and empty specials are refused */
    o.vocab_size = 1000;
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "twice"));
    sp[0] = "";
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_ERR_INVALID);
    sp[0] = "<s>";

    /* the minimum gives exactly one merge */
    docs d = {0};
    for (int i = 0; i < 10; i++) docs_add(&d, "abc abd", 7);
    o.vocab_size = 260;
    hlm_tokenizer *tok = train_docs(&d, &o, d.n);
    assert_int_equal(hlm_tokenizer_vocab_size(tok), 260);
    const uint8_t *x;
    size_t nx;
    assert_int_equal(hlm_tokenizer_token_bytes(tok, 256, &x, &nx, NULL), HLM_OK);
    assert_int_equal(nx, 2);
    assert_memory_equal(x, "ab", 2); /* (a,b) 20 times, ( ,a) 10 times, ... */
    hlm_tokenizer_free(tok);

    /* when pairs run out below min_frequency the vocabulary is smaller than asked */
    o.vocab_size = 5000;
    tok = train_docs(&d, &o, d.n);
    /* (a,b) x20; then (" ",ab), (ab,c), (ab,d) x10 each: " " (rank 220) < ab (256), so " ab",
     * then abc (256 < 257), then " abd": 4 merges */
    assert_int_equal(hlm_tokenizer_vocab_size(tok), 256 + 4 + 3);
    static const char *expect[] = {"ab", " ab", "abc", " abd"};
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(hlm_tokenizer_token_bytes(tok, 256 + i, &x, &nx, NULL), HLM_OK);
        assert_int_equal(nx, strlen(expect[i]));
        assert_memory_equal(x, expect[i], nx);
    }
    hlm_tokenizer_free(tok);
    docs_free(&d);
}

static void test_empty_input(void **state)
{
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    o.vocab_size = 300;
    hlm_bpe_trainer *tr;
    hlm_error err = {0};
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_OK);
    assert_int_equal(hlm_bpe_trainer_feed(tr, NULL, NULL, 0, &err), HLM_OK);
    const char *texts[] = {"", "a\n", "."};
    size_t lens[] = {0, 2, 1};
    assert_int_equal(hlm_bpe_trainer_feed(tr, texts, lens, 3, &err), HLM_OK);
    hlm_tokenizer *tok = NULL;
    assert_int_equal(hlm_bpe_trainer_finish(tr, &tok, &err), HLM_ERR_INVALID);
    assert_null(tok);
    assert_non_null(strstr(err.msg, "nothing to learn"));
    hlm_bpe_trainer_free(tr);
    /* pieces of two bytes, but no pair seen min_frequency (2) times: nothing to learn either */
    texts[1] = "a b c\n";
    lens[1] = 6;
    assert_int_equal(hlm_bpe_trainer_new(&o, &tr, &err), HLM_OK);
    assert_int_equal(hlm_bpe_trainer_feed(tr, texts, lens, 3, &err), HLM_OK);
    assert_int_equal(hlm_bpe_trainer_finish(tr, &tok, &err), HLM_ERR_INVALID);
    assert_null(tok);
    assert_non_null(strstr(err.msg, "nothing to learn"));
    assert_int_equal(hlm_bpe_trainer_finish(tr, &tok, &err), HLM_ERR_INVALID); /* only once */
    assert_int_equal(hlm_bpe_trainer_feed(tr, texts, lens, 3, &err), HLM_ERR_INVALID);
    hlm_bpe_trainer_free(tr);
}

static void test_nfc(void **state)
{
    /* The same Korean text, precomposed (NFC) and decomposed into jamo (NFD): with normalization
     * the tokenizers are identical; without it, NFD teaches jamo merges. */
    docs nfc = {0}, nfd = {0};
    random_docs(&nfc, 21, 500, 0);
    random_docs(&nfd, 21, 500, 1);
    hlm_bpe_train_opts o;
    hlm_bpe_train_opts_default(&o);
    o.vocab_size = 256 + 300;
    o.n_threads = 2;
    hlm_tokenizer *a = train_docs(&nfc, &o, 64), *b = train_docs(&nfd, &o, 64);
    assert_same_tokens(a, b);
    assert_int_equal(hlm_tokenizer_normalizes(a), 1);
    o.normalize = 0;
    hlm_tokenizer *c = train_docs(&nfd, &o, 64);
    assert_int_equal(hlm_tokenizer_normalizes(c), 0);
    int differs = 0;
    for (uint32_t id = 256; id < 556 && !differs; id++) {
        const uint8_t *x, *y;
        size_t nx, ny;
        assert_int_equal(hlm_tokenizer_token_bytes(a, id, &x, &nx, NULL), HLM_OK);
        assert_int_equal(hlm_tokenizer_token_bytes(c, id, &y, &ny, NULL), HLM_OK);
        differs = nx != ny || memcmp(x, y, nx);
    }
    assert_true(differs);
    /* and without normalization, NFC input trains the same as with it (nothing to change) */
    hlm_tokenizer *e = train_docs(&nfc, &o, 64);
    assert_same_tokens(a, e);
    hlm_tokenizer_free(a);
    hlm_tokenizer_free(b);
    hlm_tokenizer_free(c);
    hlm_tokenizer_free(e);
    docs_free(&nfc);
    docs_free(&nfd);
}

int main(void)
{
    hlm_log_set_level(HLM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_example),
        cmocka_unit_test(test_overlapping_pairs),
        cmocka_unit_test(test_matches_naive_reference),
        cmocka_unit_test(test_word_order_does_not_matter),
        cmocka_unit_test(test_empty_and_single_symbol_words),
        cmocka_unit_test(test_train_matches_reference_on_pieces),
        cmocka_unit_test(test_deterministic_across_threads_and_batches),
        cmocka_unit_test(test_special_tokens_are_cut_out),
        cmocka_unit_test(test_vocab_size_limits),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_nfc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
