/* Tokenizer: round trips on arbitrary bytes under both merge semantics, the long-piece (heap)
 * merge against a naive reference, special tokens, the streaming decoder, and the errors of every
 * loader and of decode. Uses the committed fixture hf_hyperlm.json (a small HyperLM tokenizer) and
 * a rank file made from it in memory, so nothing here needs ../shared. */
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
#include "hyperlm/progress.h"
#include "hyperlm/tokenizer.h"
#include "text/docs.h"
#include "text/docs_internal.h"
#include "text/unicode.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/reference_bpe.h"
#include "tokenizer/tokenizer_fixtures.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_internal.h"

#include "xorshift.h"

static hlm_tokenizer *hf_tok;       /* Hugging Face semantics (fixture) */
static hlm_tokenizer *tt_tok;       /* the same tokens as a rank file: tiktoken semantics */
static hlm_tokenizer *ig_tok;       /* tt_tok saved as tokenizer.json: Hugging Face, ignore_merges */
static hlm_tokenizer *pattern_tok[HLM_PATTERN_COUNT]; /* the fixture's tokens with each pattern */

static int setup(void **state)
{
    char path[4096];
    fixture_path(path, sizeof path, "hf_hyperlm.json");
    hlm_error err;
    if (hlm_tokenizer_load(path, -1, &hf_tok, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    hlm_buf rf = {0};
    ref_rank_file(hf_tok, &rf);
    if (hlm_tokenizer_load_memory(rf.data, rf.len, "mini.tiktoken", HLM_PATTERN_O200K, &tt_tok, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    for (int p = 0; p < HLM_PATTERN_COUNT; p++)
        if (hlm_tokenizer_load(path, p, &pattern_tok[p], &err)) return -1;
    hlm_buf json = {0};
    if (tk_to_json(tt_tok, &json, "mini.json", &err) ||
        hlm_tokenizer_load_memory(json.data, json.len, "mini.json", -1, &ig_tok, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    hlm_buf_free(&json);
    hlm_buf_free(&rf);
    return 0;
}

static int teardown(void **state)
{
    hlm_tokenizer_free(hf_tok);
    hlm_tokenizer_free(tt_tok);
    hlm_tokenizer_free(ig_tok);
    for (int p = 0; p < HLM_PATTERN_COUNT; p++) hlm_tokenizer_free(pattern_tok[p]);
    return 0;
}

/* Random text: mostly UTF-8 from a pool with letters, Hangul, spaces, digits and symbols; some
 * invalid bytes. */
static size_t random_text(uint8_t *buf, size_t max)
{
    static const char *pool[] = {"a", "b", "e", "t", "the", " ", " ", "  ", "\n", "\r\n", "\t", "1", "23", "'s",
                                 "'S", "!", "?", ".", ",", "<|", "|>", "\xea\xb0\x80", "\xed\x95\x9c",
                                 "\xea\xb5\xad", "\xec\x96\xb4", "\xe1\x84\x80", "\xe1\x85\xa1", "e\xcc\x81",
                                 "\xf0\x9f\x98\x80", "\xc2\xa0", "<|endoftext|>", "\x80", "\xff", "\xe4\xb8",
                                 "\xed\xa0\x80", "\xc0\xaf", "A", "Z", "\xc3\xa9"};
    size_t n = 0, want = rnd() % max;
    while (n < want) {
        const char *p = pool[rnd() % (sizeof pool / sizeof *pool)];
        size_t l = strlen(p);
        if (n + l > max) break;
        memcpy(buf + n, p, l);
        n += l;
    }
    if (rnd() % 4 == 0)
        for (size_t i = 0; i < n / 8; i++) buf[rnd() % (n ? n : 1)] = (uint8_t)rnd(); /* raw bytes */
    return n;
}

static void roundtrip_one(const hlm_tokenizer *t, const uint8_t *s, size_t n, int allow_special)
{
    hlm_ids ids = {0};
    hlm_buf back = {0}, nfc = {0};
    hlm_error err;
    assert_int_equal(hlm_tokenizer_encode(t, s, n, allow_special, &ids, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_decode(t, ids.data, ids.len, &back, &err), HLM_OK);
    const uint8_t *want = s;
    size_t want_len = n;
    if (hlm_tokenizer_normalizes(t)) { /* decode gives the NFC form */
        assert_int_equal(hlm_nfc_append(s, n, &nfc, &err), HLM_OK);
        want = nfc.data;
        want_len = nfc.len;
    }
    assert_int_equal(back.len, want_len);
    if (want_len) assert_memory_equal(back.data, want, want_len);
    hlm_ids_free(&ids);
    hlm_buf_free(&back);
    hlm_buf_free(&nfc);
}

/* `hyperlm tokenizer encode` streams plain text in chunks cut by text/docs.h: the concatenated
 * ids of the chunks must equal the ids of the whole text, for every pattern and for the NFC
 * tokenizer, on text with the separators and scripts around which cuts happen. */
static void test_chunked_encode(void **state)
{
    uint8_t buf[600];
    hlm_buf text = {0};
    for (int i = 0; i < 400; i++) {
        size_t n = random_text(buf, sizeof buf);
        assert_int_equal(hlm_buf_append(&text, buf, n), HLM_OK);
        const char *sep[] = {" ", "\n", "a b", "한 국", "x.\n/y", "word\nword", "\n\n", "A\u0301 b"};
        assert_int_equal(hlm_buf_append(&text, sep[i % 8], strlen(sep[i % 8])), HLM_OK);
    }
    const hlm_tokenizer *toks[] = {hf_tok, tt_tok, pattern_tok[0], pattern_tok[1], pattern_tok[2]};
    hlm_ids whole = {0}, parts = {0};
    hlm_error err;
    for (size_t k = 0; k < sizeof toks / sizeof *toks; k++) {
        whole.len = parts.len = 0;
        assert_int_equal(hlm_tokenizer_encode(toks[k], text.data, text.len, 0, &whole, &err), HLM_OK);
        hlm_doc_reader_opts o = {.format = HLM_DOC_TEXT, .chunk_bytes = 97};
        hlm_doc_reader *r;
        assert_int_equal(hlm_doc_reader_open_mem(&r, "chunks.txt", text.data, text.len, &o, &err), HLM_OK);
        size_t chunks = 0;
        for (;;) {
            const char *c;
            size_t len;
            int more;
            assert_int_equal(hlm_doc_reader_next(r, &c, &len, &more, &err), HLM_OK);
            if (!more) break;
            chunks++;
            assert_int_equal(hlm_tokenizer_encode(toks[k], c, len, 0, &parts, &err), HLM_OK);
        }
        hlm_doc_reader_close(r);
        assert_true(chunks > 100);
        assert_int_equal(parts.len, whole.len);
        assert_memory_equal(parts.data, whole.data, whole.len * sizeof *whole.data);
    }
    hlm_ids_free(&whole);
    hlm_ids_free(&parts);
    hlm_buf_free(&text);
}

static void test_roundtrip_random(void **state)
{
    uint8_t buf[600];
    for (int i = 0; i < 3000; i++) {
        size_t n = random_text(buf, sizeof buf);
        roundtrip_one(hf_tok, buf, n, i & 1);
        roundtrip_one(tt_tok, buf, n, 0);
        roundtrip_one(ig_tok, buf, n, 0);
        roundtrip_one(pattern_tok[i % HLM_PATTERN_COUNT], buf, n, i & 1);
    }
    /* a rank file saved as tokenizer.json (derived merges, ignore_merges) gives tiktoken's ids;
     * shown for OpenAI's files by test_tiktoken_compat, here on random text with a small
     * BPE-trained vocabulary */
    hlm_ids a = {0}, b = {0};
    hlm_error err;
    for (int i = 0; i < 3000; i++) {
        size_t n = random_text(buf, sizeof buf);
        a.len = b.len = 0;
        assert_int_equal(hlm_tokenizer_encode(tt_tok, buf, n, 0, &a, &err), HLM_OK);
        assert_int_equal(hlm_tokenizer_encode(ig_tok, buf, n, 0, &b, &err), HLM_OK);
        assert_int_equal(a.len, b.len);
        if (a.len) assert_memory_equal(a.data, b.data, a.len * sizeof *a.data);
    }
    hlm_ids_free(&a);
    hlm_ids_free(&b);
    /* every single byte and every byte pair */
    for (int a = 0; a < 256; a++) {
        uint8_t s[2] = {(uint8_t)a, 0};
        roundtrip_one(tt_tok, s, 1, 0);
        for (int b = 0; b < 256; b += 7) {
            s[1] = (uint8_t)b;
            roundtrip_one(hf_tok, s, 2, 0);
            roundtrip_one(tt_tok, s, 2, 0);
        }
    }
}


/* Pieces longer than the small-piece limit go through the heap; both must equal the reference. */
static void test_bpe_long_pieces(void **state)
{
    static const char *syll[] = {"\xea\xb0\x80", "\xeb\x82\x98", "\xeb\x8b\xa4", "a", "b", "an", "the", " "};
    uint8_t buf[1200];
    uint32_t want[1200];
    hlm_ids got = {0};
    for (int i = 0; i < 400; i++) {
        size_t n = 0, target = 1 + rnd() % 1000;
        while (n + 3 <= target) {
            const char *p = syll[rnd() % (i % 2 ? 8 : 3)];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        const hlm_tokenizer *t = i % 3 ? hf_tok : tt_tok;
        size_t m = ref_naive_bpe(t, buf, n, want);
        got.len = 0;
        assert_int_equal(tk_bpe(t, buf, n, UINT32_MAX, &got), HLM_OK);
        assert_int_equal(got.len, m);
        assert_memory_equal(got.data, want, m * sizeof *want);
    }
    hlm_ids_free(&got);
}

/* A megabyte that is a single pre-token must not take quadratic time. */
static void test_long_input_time(void **state)
{
    size_t n = 1 << 20;
    uint8_t *s = malloc(n);
    for (int kind = 0; kind < 4; kind++) {
        for (size_t i = 0; i < n; i++) s[i] = kind == 0 ? 'a' : kind == 1 ? "ab"[i & 1] : kind == 2 ? ' ' : "xyz"[rnd() % 3];
        double t0 = hlm_now_s();
        roundtrip_one(tt_tok, s, n, 0);
        roundtrip_one(hf_tok, s, n, 0);
        double dt = hlm_now_s() - t0;
        printf("  1 MiB single piece, kind %d: %.2f s for 2 encodes and decodes\n", kind, dt);
        assert_true(dt < 60); /* quadratic would be hours; sanitizer builds are ~20x slower than release */
    }
    /* and a megabyte of Hangul without spaces: one piece of 3-byte characters */
    for (size_t i = 0; i + 3 <= n; i += 3) memcpy(s + i, i % 2 ? "\xed\x95\x9c" : "\xea\xb8\x80", 3);
    roundtrip_one(tt_tok, s, n / 3 * 3, 0);
    free(s);
}

static void test_empty_and_batch(void **state)
{
    hlm_ids ids = {0};
    hlm_error err;
    assert_int_equal(hlm_tokenizer_encode(hf_tok, "", 0, 1, &ids, &err), HLM_OK);
    assert_int_equal(ids.len, 0);
    hlm_buf out = {0};
    assert_int_equal(hlm_tokenizer_decode(hf_tok, NULL, 0, &out, &err), HLM_OK);
    assert_int_equal(out.len, 0);

    enum { N = 300 };
    uint8_t *texts[N];
    const char *ptrs[N];
    size_t lens[N];
    hlm_ids outs[N];
    memset(outs, 0, sizeof outs);
    for (int i = 0; i < N; i++) {
        texts[i] = malloc(600);
        lens[i] = random_text(texts[i], 600);
        ptrs[i] = (const char *)texts[i];
    }
    for (int sem = 0; sem < 2; sem++) {
        const hlm_tokenizer *t = sem ? tt_tok : hf_tok;
        assert_int_equal(hlm_tokenizer_encode_batch(t, ptrs, lens, N, 1, 4, outs, &err), HLM_OK);
        for (int i = 0; i < N; i++) {
            ids.len = 0;
            assert_int_equal(hlm_tokenizer_encode(t, texts[i], lens[i], 1, &ids, &err), HLM_OK);
            assert_int_equal(outs[i].len, ids.len);
            if (ids.len) assert_memory_equal(outs[i].data, ids.data, ids.len * sizeof *ids.data);
            outs[i].len = 0;
        }
    }
    for (int i = 0; i < N; i++) {
        free(texts[i]);
        hlm_ids_free(&outs[i]);
    }
    hlm_ids_free(&ids);
    hlm_buf_free(&out);
}

static void test_specials(void **state)
{
    const char *specials[] = {"<s>", "<s>x", "</s>", "\"q\\u\xc3\xa9\n"};
    const uint32_t merges[][2] = {{0, 1}}; /* "!" + "\"" */
    hlm_tokenizer *t;
    hlm_error err;
    assert_int_equal(hlm_tokenizer_from_merges(HLM_PATTERN_O200K, 1, merges, 1, specials, 4, &t, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_vocab_size(t), 261);
    hlm_ids ids = {0};
    const char *text = "a<s>xy<s></s>\"q\\u\xc3\xa9\n";
    assert_int_equal(hlm_tokenizer_encode(t, text, strlen(text), 1, &ids, &err), HLM_OK);
    /* leftmost, longest: "<s>x" wins over "<s>" */
    uint32_t a = 0, y = 0;
    assert_true(hlm_tokenizer_token_id(t, "a", 1, &a));
    assert_true(hlm_tokenizer_token_id(t, "y", 1, &y));
    uint32_t want[] = {a, 258, y, 257, 259, 260};
    assert_int_equal(ids.len, 6);
    assert_memory_equal(ids.data, want, sizeof want);
    /* without allow_special the text is ordinary */
    ids.len = 0;
    assert_int_equal(hlm_tokenizer_encode(t, "<s>", 3, 0, &ids, &err), HLM_OK);
    assert_int_equal(ids.len, 3);

    /* special text with characters JSON must escape survives save and load */
    char tmp[] = "/tmp/hlm-tok-special-XXXXXX";
    int fd = mkstemp(tmp);
    close(fd);
    assert_int_equal(hlm_tokenizer_save(t, tmp, &err), HLM_OK);
    hlm_tokenizer *u;
    assert_int_equal(hlm_tokenizer_load(tmp, -1, &u, &err), HLM_OK);
    unlink(tmp);
    assert_int_equal(hlm_tokenizer_special_count(u), 4);
    for (size_t i = 0; i < 4; i++) {
        const char *s;
        uint32_t id;
        hlm_tokenizer_special(u, i, &s, &id);
        assert_string_equal(s, specials[i]);
        assert_int_equal(id, 257 + i);
    }
    assert_true(hlm_tokenizer_normalizes(u));
    assert_int_equal(hlm_tokenizer_pattern(u), HLM_PATTERN_O200K);
    ids.len = 0;
    assert_int_equal(hlm_tokenizer_encode(u, text, strlen(text), 1, &ids, &err), HLM_OK);
    assert_memory_equal(ids.data, want, sizeof want);
    hlm_tokenizer_free(u);
    hlm_tokenizer_free(t);
    hlm_ids_free(&ids);

    /* from_merges rejects merges of ids that do not exist yet, and duplicate tokens */
    const uint32_t bad1[][2] = {{0, 256}};
    assert_int_equal(hlm_tokenizer_from_merges(HLM_PATTERN_GPT2, 0, bad1, 1, NULL, 0, &t, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "merge 0"));
    const uint32_t dup[][2] = {{0, 1}, {0, 1}};
    assert_int_equal(hlm_tokenizer_from_merges(HLM_PATTERN_GPT2, 0, dup, 2, NULL, 0, &t, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "same bytes"));
}

/* The streaming decoder gives the bulk decode, and never stops inside a character that can still
 * be completed. */
static void test_streaming_decoder(void **state)
{
    uint8_t buf[600];
    hlm_ids ids = {0};
    hlm_buf bulk = {0}, stream = {0};
    hlm_error err;
    for (int i = 0; i < 2000; i++) {
        size_t n = random_text(buf, sizeof buf);
        int valid = hlm_utf8_valid(buf, n);
        const hlm_tokenizer *t = i & 1 ? tt_tok : pattern_tok[HLM_PATTERN_GPT2];
        ids.len = bulk.len = stream.len = 0;
        assert_int_equal(hlm_tokenizer_encode(t, buf, n, 0, &ids, &err), HLM_OK);
        assert_int_equal(hlm_tokenizer_decode(t, ids.data, ids.len, &bulk, &err), HLM_OK);
        hlm_decoder d;
        hlm_decoder_init(&d, t);
        for (size_t k = 0; k < ids.len; k++) {
            assert_int_equal(hlm_decoder_push(&d, ids.data[k], &stream, &err), HLM_OK);
            assert_true(stream.len <= bulk.len);
            if (stream.len) assert_memory_equal(stream.data, bulk.data, stream.len);
            /* valid text: everything emitted so far is whole characters */
            if (valid) assert_true(hlm_utf8_valid(stream.data, stream.len));
            /* at most 3 bytes are held back */
            size_t end = 0;
            for (size_t j = 0; j <= k; j++) {
                const uint8_t *b;
                size_t len;
                hlm_tokenizer_token_bytes(t, ids.data[j], &b, &len, NULL);
                end += len;
            }
            assert_true(end - stream.len <= 3);
        }
        assert_int_equal(hlm_decoder_flush(&d, &stream, &err), HLM_OK);
        assert_int_equal(stream.len, bulk.len);
        if (bulk.len) assert_memory_equal(stream.data, bulk.data, bulk.len);
    }
    /* a lone lead byte followed by ASCII is emitted as soon as the ASCII arrives */
    hlm_decoder d;
    hlm_decoder_init(&d, tt_tok);
    stream.len = 0;
    assert_int_equal(hlm_decoder_push(&d, tt_tok->byte_id[0xE4], &stream, &err), HLM_OK);
    assert_int_equal(stream.len, 0);
    assert_int_equal(hlm_decoder_push(&d, tt_tok->byte_id['x'], &stream, &err), HLM_OK);
    assert_int_equal(stream.len, 2);
    /* a byte that can never start a character (0xFF) is not held */
    assert_int_equal(hlm_decoder_push(&d, tt_tok->byte_id[0xFF], &stream, &err), HLM_OK);
    assert_int_equal(stream.len, 3);
    /* E0 80 can never be completed (overlong): not held */
    assert_int_equal(hlm_decoder_push(&d, tt_tok->byte_id[0xE0], &stream, &err), HLM_OK);
    assert_int_equal(stream.len, 3);
    assert_int_equal(hlm_decoder_push(&d, tt_tok->byte_id[0x80], &stream, &err), HLM_OK);
    assert_int_equal(stream.len, 5);
    assert_int_equal(hlm_decoder_push(&d, 999999, &stream, &err), HLM_ERR_RANGE);
    hlm_ids_free(&ids);
    hlm_buf_free(&bulk);
    hlm_buf_free(&stream);
}

static void test_decode_errors(void **state)
{
    hlm_buf out = {0};
    hlm_error err;
    uint32_t ids[] = {5, 6, 1200, 7};
    assert_int_equal(hlm_tokenizer_decode(hf_tok, ids, 4, &out, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "position 2"));
    assert_non_null(strstr(err.msg, "1200"));
    assert_int_equal(out.len, 0); /* nothing appended on error */
    const uint8_t *b;
    size_t len;
    assert_int_equal(hlm_tokenizer_token_bytes(hf_tok, 1u << 30, &b, &len, &err), HLM_ERR_RANGE);
    hlm_buf_free(&out);
}

/* Loads text as a tokenizer and expects an error whose message contains each of the fragments. */
static void expect_load_error(const char *name, const char *text, hlm_status code, const char *frag1,
                              const char *frag2)
{
    hlm_tokenizer *t = (hlm_tokenizer *)1;
    hlm_error err;
    hlm_status st = hlm_tokenizer_load_memory(text, strlen(text), name, -1, &t, &err);
    if (st != code || !strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
        fail_msg("%s: got %s '%s', expected %s with '%s'%s%s", name, hlm_status_name(st), st ? err.msg : "",
                 hlm_status_name(code), frag1, frag2 ? " and " : "", frag2 ? frag2 : "");
    assert_null(t);
}

static void test_rank_file_errors(void **state)
{
    expect_load_error("a.tiktoken", "IQ== 0\nIg== x\n", HLM_ERR_FORMAT, "a.tiktoken: line 2", "rank");
    expect_load_error("a.tiktoken", "IQ== 0\nIg==\n", HLM_ERR_FORMAT, "line 2", "BASE64 RANK");
    expect_load_error("a.tiktoken", "IQ== 0\nIg== \n", HLM_ERR_FORMAT, "line 2", "missing rank");
    expect_load_error("a.tiktoken", "IQ== 0\nI*== 1\n", HLM_ERR_FORMAT, "line 2", "base64");
    expect_load_error("a.tiktoken", "IQ== 0\nIg= 1\n", HLM_ERR_FORMAT, "line 2", "multiple of 4");
    expect_load_error("a.tiktoken", "IQ== 0\nIR== 1\n", HLM_ERR_FORMAT, "line 2", "canonical");
    expect_load_error("a.tiktoken", "IQ== 0\nIg== 0\n", HLM_ERR_FORMAT, "line 2", "already used on line 1");
    expect_load_error("a.tiktoken", "IQ== 0\nIQ== 1\n", HLM_ERR_FORMAT, "line 2", "line 1");
    expect_load_error("a.tiktoken", "IQ== 99999999999\n", HLM_ERR_FORMAT, "line 1", "rank");
    expect_load_error("a.tiktoken", "IQ== 0\n", HLM_ERR_INVALID, "--pattern", NULL);
    /* with a pattern: every byte must be a token */
    hlm_tokenizer *t;
    hlm_error err;
    assert_int_equal(hlm_tokenizer_load_memory("IQ== 0\n", 7, "a.tiktoken", 0, &t, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "byte 0x"));
    expect_load_error("empty", "  \n", HLM_ERR_FORMAT, "empty", NULL);

    /* a missing file names the path */
    assert_int_equal(hlm_tokenizer_load("/nonexistent/dir/tok.json", -1, &t, &err), HLM_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/tok.json"));
    assert_null(t);
}

/* A valid minimal tokenizer.json, then variants with one field broken. */
static char *json_variant(const char *from, const char *to)
{
    static char base[40000];
    hlm_buf b = {0};
    hlm_buf_appendf(&b, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":257,\"content\":\"<|e|>\",\"special\":true}],"
                        "\"normalizer\":{\"type\":\"NFC\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                        "\"use_regex\":true},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"vocab\":{");
    for (int r = 0; r < 256; r++) {
        uint32_t cp = 0;
        uint8_t byte = 0;
        for (int x = 0; x < 256; x++)
            if (hlm_bytelevel_rank_of_byte((uint8_t)x) == r) byte = (uint8_t)x;
        cp = hlm_bytelevel_char(byte);
        char u[8];
        if (cp == '"' || cp == '\\') snprintf(u, sizeof u, "\\%c", (char)cp);
        else if (cp < 0x80) snprintf(u, sizeof u, "%c", (char)cp);
        else snprintf(u, sizeof u, "%c%c", (char)(0xC0 | cp >> 6), (char)(0x80 | (cp & 0x3F)));
        hlm_buf_appendf(&b, "\"%s\":%d,", u, r);
    }
    hlm_buf_appendf(&b, "\"ab\":256},\"merges\":[\"a b\"]}}");
    hlm_buf_terminate(&b);
    snprintf(base, sizeof base, "%s", (char *)b.data);
    hlm_buf_free(&b);
    if (!from) return strdup(base);
    char *at = strstr(base, from);
    assert_non_null(at);
    size_t n = strlen(base) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    return out;
}

static void json_error(const char *from, const char *to, const char *frag)
{
    char *j = json_variant(from, to);
    expect_load_error("tok.json", j, HLM_ERR_FORMAT, "tok.json: ", frag);
    free(j);
}

static void test_json_errors(void **state)
{
    char *ok = json_variant(NULL, NULL);
    hlm_tokenizer *t;
    hlm_error err;
    if (hlm_tokenizer_load_memory(ok, strlen(ok), "tok.json", -1, &t, &err)) fail_msg("%s", err.msg);
    assert_int_equal(hlm_tokenizer_vocab_size(t), 258);
    assert_int_equal(hlm_tokenizer_pattern(t), HLM_PATTERN_GPT2);
    hlm_ids ids = {0};
    assert_int_equal(hlm_tokenizer_encode(t, "ab<|e|>", 7, 1, &ids, &err), HLM_OK);
    assert_int_equal(ids.len, 2);
    assert_int_equal(ids.data[0], 256);
    assert_int_equal(ids.data[1], 257);
    hlm_ids_free(&ids);
    hlm_tokenizer_free(t);
    /* truncated at every length: an error, never a crash */
    for (size_t n = 0; n < strlen(ok); n += 1 + n / 16) {
        t = NULL;
        assert_int_not_equal(hlm_tokenizer_load_memory(ok, n, "tok.json", -1, &t, &err), HLM_OK);
        assert_null(t);
    }
    free(ok);

    json_error("\"merges\":[\"a b\"]", "\"merges\":[\"ab\"]", "model.merges[0]: expected two tokens separated by a space");
    json_error("\"merges\":[\"a b\"]", "\"merges\":[[\"a\"]]", "model.merges[0]");
    json_error("\"merges\":[\"a b\"]", "\"merges\":[\"a zz\"]", "\"zz\" is not in model.vocab");
    json_error("\"merges\":[\"a b\"]", "\"merges\":[\"a c\"]", "not in the vocabulary");
    json_error("\"merges\":[\"a b\"]", "\"merges\":7", "model.merges: expected an array");
    json_error("\"ab\":256", "\"a b\":256", "byte-level alphabet");
    json_error("\"ab\":256", "\"ab\":-1", "model.vocab[\"ab\"]: expected an integer id");
    json_error("\"ab\":256", "\"ab\":1.5", "expected an integer id");
    json_error("\"ab\":256", "\"ab\":5", "id 5 is already used");
    json_error("\"ab\":256", "\"ab\":99999999", "expected an integer id");
    json_error("\"ab\":256", "\"ab\":9999999", "far beyond");
    json_error("\"ab\":256", "\"\":256", "empty string");
    json_error("\"!\":0,", "", "no token for the byte 0x21");
    json_error("{\"type\":\"NFC\"}", "{\"type\":\"NFKC\"}", "normalizer.type: expected null or \"NFC\", got \"NFKC\"");
    json_error("\"type\":\"ByteLevel\",\"add_prefix_space\":false", "\"type\":\"Whitespace\",\"add_prefix_space\":false",
               "pre_tokenizer.type");
    json_error("\"add_prefix_space\":false", "\"add_prefix_space\":true", "pre_tokenizer.add_prefix_space");
    json_error("\"use_regex\":true", "\"use_regex\":false", "pre_tokenizer.use_regex");
    json_error("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}",
               "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},"
               "\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}",
               "unknown pattern \"\\w+\"");
    json_error("\"dropout\":null", "\"dropout\":0.1", "model.dropout");
    json_error("\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "model.type");
    json_error("\"id\":257", "\"id\":\"x\"", "added_tokens[0].id");
    json_error("\"content\":\"<|e|>\"", "\"content\":\"\"", "added_tokens[0].content");
    json_error("\"special\":true", "\"special\":true,\"lstrip\":true", "added_tokens[0].lstrip");
    json_error("\"model\":{", "\"modelx\":{", "model: expected an object");
    expect_load_error("tok.json", "{\"model\": [1,2", HLM_ERR_FORMAT, "tok.json: not valid JSON", NULL);
    expect_load_error("tok.json", "[]", HLM_ERR_FORMAT, "tok.json", NULL);

    /* a Sequence with the cl100k pattern in tiktoken's spelling is recognised */
    char *j = json_variant("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}",
                           "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
                           "\"'(?i:[sdmt]|ll|ve|re)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?+\\\\p{L}++|\\\\p{N}{1,3}+| ?[^\\\\s\\\\p{L}"
                           "\\\\p{N}]++[\\\\r\\\\n]*+|\\\\s++$|\\\\s*[\\\\r\\\\n]|\\\\s+(?!\\\\S)|\\\\s\"},\"behavior\":"
                           "\"Isolated\"},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}");
    if (hlm_tokenizer_load_memory(j, strlen(j), "tok.json", -1, &t, &err)) fail_msg("%s", err.msg);
    assert_int_equal(hlm_tokenizer_pattern(t), HLM_PATTERN_CL100K);
    hlm_tokenizer_free(t);
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_random), cmocka_unit_test(test_bpe_long_pieces),
        cmocka_unit_test(test_long_input_time),  cmocka_unit_test(test_empty_and_batch),
        cmocka_unit_test(test_specials),         cmocka_unit_test(test_streaming_decoder),
        cmocka_unit_test(test_decode_errors),    cmocka_unit_test(test_rank_file_errors),
        cmocka_unit_test(test_json_errors),        cmocka_unit_test(test_chunked_encode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
