/* SentencePiece vocabularies from GGUF files (src/tokenizer/spm.c, hlm_gguf_read_tokenizer).
 *
 * - tests/fixtures/spm/vocab.gguf and cases.jsonl (tools/gen_spm_fixtures.py: a SentencePiece
 *   BPE model trained with byte fallback and user-defined symbols, written as llama.cpp's
 *   converter writes it): every case's ids equal sentencepiece's encode exactly, decode equals
 *   sentencepiece's decode, the streaming decoder gives every token's bytes and never stops
 *   inside a character, the batch encoder agrees;
 * - the same vocabulary against a naive reference (the O(n^2) statement of the algorithm: merge
 *   the adjacent pair with the highest score, leftmost first) on random texts of characters,
 *   spaces, user-defined symbols and invalid bytes: checks the heap and its stale entries;
 * - BOS, token lookup, control tokens with and without allow_special (llama.cpp's
 *   parse_special), a long input;
 * - small hand-made vocabularies: ties go to the leftmost pair, higher scores first, no space
 *   prefix, unknown-token fallback without byte pieces;
 * - malformed metadata: each gives HLM_ERR_FORMAT naming the GGUF key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "hyperlm/tokenizer.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "text/unicode.h"
#include "tmpdir.h"

#define SP "\xe2\x96\x81" /* U+2581, SentencePiece's space */

static hlm_gguf_file *fx_file;
static hlm_tokenizer *fx_tok;

static void fixture_path(char *buf, size_t cap, const char *name)
{
    const char *fx = getenv("HLM_FIXTURES");
    snprintf(buf, cap, "%s/spm/%s", fx ? fx : "tests/fixtures", name);
}

static int group_setup(void **state)
{
    if (setup(state)) return -1;
    char path[600];
    fixture_path(path, sizeof path, "vocab.gguf");
    hlm_error err = {0};
    if (hlm_gguf_open(path, &fx_file, &err) || hlm_gguf_read_tokenizer(fx_file, &fx_tok, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    hlm_tokenizer_free(fx_tok);
    hlm_gguf_close(fx_file);
    return teardown(state);
}

/* memcmp of n bytes, which may be 0 with NULL pointers (empty arrays) */
static int mem_eq(const void *a, const void *b, size_t n) { return n == 0 || !memcmp(a, b, n); }

#define HLM_TEST_SEED 0x2545F4914F6CDD1Dull
#include "xorshift.h"

/* The streaming decoder over ids: returns every token's bytes; checks that with valid text it
 * only ever emits whole characters. */
static void stream_decode(const hlm_tokenizer *t, const uint32_t *ids, size_t n, int valid, hlm_buf *out)
{
    hlm_decoder d;
    hlm_error err;
    hlm_decoder_init(&d, t);
    out->len = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(hlm_decoder_push(&d, ids[i], out, &err), HLM_OK);
        if (valid) assert_true(hlm_utf8_valid(out->data, out->len));
    }
    assert_int_equal(hlm_decoder_flush(&d, out, &err), HLM_OK);
}

static void test_fixture_cases(void **state)
{
    (void)state;
    char path[600];
    fixture_path(path, sizeof path, "cases.jsonl");
    hlm_buf file = {0}, back = {0}, stream = {0};
    hlm_error err = {0};
    assert_int_equal(hlm_file_read_all(path, &file, &err), HLM_OK);
    hlm_ids ids = {0}, ids_special = {0};
    const char *texts[400];
    size_t lens[400], n_cases = 0;
    hlm_ids want[400] = {{0}};
    size_t pos = 0, agree = 0;
    while (pos < file.len) {
        const char *line = (const char *)file.data + pos, *nl = memchr(line, '\n', file.len - pos);
        size_t ll = nl ? (size_t)(nl - line) : file.len - pos;
        pos += ll + 1;
        cJSON *j = cJSON_ParseWithLength(line, ll);
        assert_non_null(j);
        const cJSON *hex = cJSON_GetObjectItem(j, "hex"), *jids = cJSON_GetObjectItem(j, "ids"),
                    *dec = cJSON_GetObjectItem(j, "decoded"), *e;
        assert_true(cJSON_IsString(hex) && cJSON_IsArray(jids) && cJSON_IsString(dec));
        /* the text's bytes from "hex": cJSON's strings stop at a NUL, and one case has one */
        size_t n = strlen(hex->valuestring) / 2;
        char *s = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            assert_int_equal(sscanf(hex->valuestring + 2 * i, "%2x", &v), 1);
            s[i] = (char)v;
        }
        s[n] = 0;
        int has_nul = memchr(s, 0, n) != NULL;
        hlm_ids *w = &want[n_cases];
        cJSON_ArrayForEach(e, jids) assert_int_equal(hlm_ids_push(w, (uint32_t)e->valueint), HLM_OK);
        ids.len = 0;
        assert_int_equal(hlm_tokenizer_encode(fx_tok, s, n, 0, &ids, &err), HLM_OK);
        int same = ids.len == w->len && mem_eq(ids.data, w->data, ids.len * sizeof *ids.data);
        if (!same) {
            fprintf(stderr, "case %zu %.*s: got", n_cases, (int)ll, line);
            for (size_t i = 0; i < ids.len; i++) fprintf(stderr, " %u", ids.data[i]);
            fprintf(stderr, "\n");
        }
        agree += same;
        /* allow_special changes nothing unless the text spells a control token */
        ids_special.len = 0;
        assert_int_equal(hlm_tokenizer_encode(fx_tok, s, n, 1, &ids_special, &err), HLM_OK);
        if (!strstr(s, "<s>") && !strstr(s, "</s>") && !strstr(s, "<unk>"))
            assert_true(ids_special.len == w->len && mem_eq(ids_special.data, w->data, w->len * sizeof *w->data));
        texts[n_cases] = s;
        lens[n_cases] = n;
        /* decode: sentencepiece's decoded text, which is the text unless it holds U+2581 */
        back.len = 0;
        assert_int_equal(hlm_tokenizer_decode(fx_tok, w->data, w->len, &back, &err), HLM_OK);
        if (!has_nul) { /* "decoded" is a JSON string too */
            assert_int_equal(back.len, strlen(dec->valuestring));
            assert_memory_equal(back.data, dec->valuestring, back.len);
        }
        if (!memmem(s, n, SP, 3)) {
            assert_int_equal(back.len, n);
            assert_memory_equal(back.data, s, n);
        }
        /* the stream: every token's bytes, i.e. the decode with the prefix's space */
        stream_decode(fx_tok, w->data, w->len, hlm_utf8_valid(back.data, back.len), &stream);
        assert_true(stream.len == back.len || (stream.len == back.len + 1 && stream.data[0] == ' '));
        if (back.len) assert_memory_equal(stream.data + (stream.len - back.len), back.data, back.len);
        cJSON_Delete(j);
        n_cases++;
        assert_true(n_cases < 400);
    }
    printf("sentencepiece agreement: %zu/%zu cases\n", agree, n_cases);
    assert_true(n_cases > 150);
    assert_int_equal(agree, n_cases);

    /* the batch encoder gives the same ids */
    const char *bt[400];
    size_t bl[400], k = 0, idx[400];
    for (size_t i = 0; i < n_cases; i++) bt[k] = texts[i], bl[k] = lens[i], idx[k++] = i;
    hlm_ids outs[400] = {{0}};
    assert_int_equal(hlm_tokenizer_encode_batch(fx_tok, bt, bl, k, 0, 2, outs, &err), HLM_OK);
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(outs[i].len, want[idx[i]].len);
        assert_memory_equal(outs[i].data, want[idx[i]].data, outs[i].len * sizeof *outs[i].data);
        hlm_ids_free(&outs[i]);
    }
    for (size_t i = 0; i < n_cases; i++) {
        hlm_ids_free(&want[i]);
        free((char *)texts[i]);
    }
    hlm_ids_free(&ids);
    hlm_ids_free(&ids_special);
    hlm_buf_free(&file);
    hlm_buf_free(&back);
    hlm_buf_free(&stream);
}

/* ---- the naive reference ---- */

typedef struct ref_vocab {
    const hlm_gguf_kv *tokens, *scores, *types;
    const hlm_tokenizer *tok;
} ref_vocab;

static int ref_type(const ref_vocab *v, uint32_t id) { return (int)hlm_gguf_kv_elem(v->types, id).i; }

/* Id of a piece that merging may form (normal or user-defined), or -1. */
static int64_t ref_piece(const ref_vocab *v, const uint8_t *s, size_t len)
{
    uint32_t id;
    if (!hlm_tokenizer_token_id(v->tok, s, len, &id)) return -1;
    int ty = ref_type(v, id);
    return ty == 1 || ty == 4 ? (int64_t)id : -1;
}

static void ref_encode(const ref_vocab *v, const uint8_t *text, size_t len, hlm_ids *out)
{
    if (!len) return;
    uint8_t *norm = malloc(3 * len + 3);
    size_t n = 0;
    memcpy(norm, SP, 3), n = 3;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ' ') memcpy(norm + n, SP, 3), n += 3;
        else norm[n++] = text[i];
    size_t *start = malloc(n * sizeof *start), *slen = malloc(n * sizeof *slen);
    int *frozen = malloc(n * sizeof *frozen);
    size_t m = 0;
    for (size_t i = 0; i < n; m++) {
        size_t best = 0;
        for (uint64_t id = 0; id < v->tokens->count; id++) { /* the longest user-defined piece here */
            hlm_gguf_str p = hlm_gguf_arr_str(v->tokens, id);
            if (ref_type(v, (uint32_t)id) == 4 && p.len <= n - i && p.len > best && !memcmp(p.ptr, norm + i, p.len))
                best = p.len;
        }
        uint32_t cp;
        start[m] = i;
        frozen[m] = best > 0;
        slen[m] = best ? best : hlm_utf8_decode(norm + i, n - i, &cp);
        i += slen[m];
    }
    for (;;) {
        size_t at = SIZE_MAX;
        double best = -INFINITY;
        for (size_t i = 0; i + 1 < m; i++) {
            if (frozen[i] || frozen[i + 1]) continue;
            int64_t id = ref_piece(v, norm + start[i], slen[i] + slen[i + 1]);
            if (id < 0) continue;
            double sc = hlm_gguf_kv_elem(v->scores, (uint64_t)id).f;
            if (at == SIZE_MAX || sc > best) at = i, best = sc;
        }
        if (at == SIZE_MAX) break;
        slen[at] += slen[at + 1];
        memmove(start + at + 1, start + at + 2, (m - at - 2) * sizeof *start);
        memmove(slen + at + 1, slen + at + 2, (m - at - 2) * sizeof *slen);
        memmove(frozen + at + 1, frozen + at + 2, (m - at - 2) * sizeof *frozen);
        m--;
    }
    for (size_t i = 0; i < m; i++) {
        int64_t id = ref_piece(v, norm + start[i], slen[i]);
        if (id >= 0) {
            assert_int_equal(hlm_ids_push(out, (uint32_t)id), HLM_OK);
            continue;
        }
        for (size_t k = 0; k < slen[i]; k++) {
            char name[8];
            uint32_t b;
            snprintf(name, sizeof name, "<0x%02X>", norm[start[i] + k]);
            assert_true(hlm_tokenizer_token_id(v->tok, name, 6, &b));
            assert_int_equal(hlm_ids_push(out, b), HLM_OK);
        }
    }
    free(norm);
    free(start);
    free(slen);
    free(frozen);
}

static void test_reference(void **state)
{
    (void)state;
    ref_vocab v = {NULL, NULL, NULL, fx_tok};
    hlm_error err;
    assert_int_equal(hlm_gguf_get_array(fx_file, "tokenizer.ggml.tokens", HLM_GGUF_STRING, &v.tokens, &err), HLM_OK);
    assert_int_equal(hlm_gguf_get_array(fx_file, "tokenizer.ggml.scores", HLM_GGUF_FLOAT32, &v.scores, &err), HLM_OK);
    assert_int_equal(hlm_gguf_get_array(fx_file, "tokenizer.ggml.token_type", HLM_GGUF_INT32, &v.types, &err), HLM_OK);
    static const char *const atoms[] = {"a", "e", "t", "h", "th", "the", "in", "ing", " ", " ", " ", "  ", "\n", "\t",
                                        "영", "화", "정말", "재미", "있", "어요", "똠", "🤖", "漢", "é", "<sep>", "<mask>",
                                        "[IMG]", "<|im_start|>", "<s>", "<", ">", "|", "\xff", "\xe2\x96", "\xc3",
                                        SP, "1", "23", ".", ","};
    const size_t n_atoms = sizeof atoms / sizeof *atoms;
    hlm_ids got = {0}, want = {0};
    hlm_buf back = {0};
    uint8_t text[400];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = 0, parts = 1 + rnd() % 40;
        for (size_t p = 0; p < parts; p++) {
            const char *a = atoms[rnd() % n_atoms];
            size_t l = strlen(a);
            if (n + l > sizeof text) break;
            memcpy(text + n, a, l);
            n += l;
        }
        got.len = want.len = back.len = 0;
        assert_int_equal(hlm_tokenizer_encode(fx_tok, text, n, 0, &got, &err), HLM_OK);
        ref_encode(&v, text, n, &want);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, got.len * sizeof *got.data);
        /* lossless on any bytes with no U+2581 (byte pieces keep invalid bytes) */
        assert_int_equal(hlm_tokenizer_decode(fx_tok, got.data, got.len, &back, &err), HLM_OK);
        if (!memmem(text, n, SP, 3)) {
            assert_int_equal(back.len, n);
            assert_memory_equal(back.data, text, n);
        }
    }
    hlm_ids_free(&got);
    hlm_ids_free(&want);
    hlm_buf_free(&back);
}

static void test_specials_and_lookup(void **state)
{
    (void)state;
    uint32_t id, bos;
    assert_true(hlm_tokenizer_bos(fx_tok, &bos));
    assert_int_equal(bos, 1);
    assert_true(hlm_tokenizer_token_id(fx_tok, "<s>", 3, &id));
    assert_int_equal(id, 1);
    assert_true(hlm_tokenizer_token_id(fx_tok, "</s>", 4, &id));
    assert_int_equal(id, 2);
    assert_true(hlm_tokenizer_token_id(fx_tok, "<unk>", 5, &id));
    assert_int_equal(id, 0);
    assert_true(hlm_tokenizer_token_id(fx_tok, "<sep>", 5, &id));
    assert_true(hlm_tokenizer_token_id(fx_tok, "<0x0A>", 6, &id));
    const uint8_t *b;
    size_t len;
    hlm_error err;
    assert_int_equal(hlm_tokenizer_token_bytes(fx_tok, id, &b, &len, &err), HLM_OK);
    assert_int_equal(len, 1);
    assert_int_equal(b[0], '\n');
    assert_true(hlm_tokenizer_token_id(fx_tok, SP "the", 6, &id));
    assert_int_equal(hlm_tokenizer_token_bytes(fx_tok, id, &b, &len, &err), HLM_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(b, " the", 4);
    assert_false(hlm_tokenizer_token_id(fx_tok, "no such piece", 13, &id));
    /* control tokens: specials (their text decodes as it is) */
    assert_int_equal(hlm_tokenizer_special_count(fx_tok), 3);

    /* allow_special: "<s>" and "</s>" are their ids and the text after a control token gets its
     * own space prefix (llama.cpp's parse_special); without it, they are text */
    hlm_ids a = {0}, plain = {0}, hello = {0};
    assert_int_equal(hlm_tokenizer_encode(fx_tok, "hello", 5, 0, &hello, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_encode(fx_tok, "<s>hello</s>", 12, 1, &a, &err), HLM_OK);
    assert_int_equal(a.len, hello.len + 2);
    assert_int_equal(a.data[0], 1);
    assert_memory_equal(a.data + 1, hello.data, hello.len * sizeof *hello.data);
    assert_int_equal(a.data[a.len - 1], 2);
    assert_int_equal(hlm_tokenizer_encode(fx_tok, "<s>hello</s>", 12, 0, &plain, &err), HLM_OK);
    for (size_t i = 0; i < plain.len; i++) assert_true(plain.data[i] != 1 && plain.data[i] != 2);
    hlm_buf out = {0};
    assert_int_equal(hlm_tokenizer_decode(fx_tok, a.data, a.len, &out, &err), HLM_OK);
    assert_int_equal(out.len, strlen("<s> hello</s>"));
    assert_memory_equal(out.data, "<s> hello</s>", out.len);
    out.len = 0;
    assert_int_equal(hlm_tokenizer_decode(fx_tok, plain.data, plain.len, &out, &err), HLM_OK);
    assert_int_equal(out.len, 12);
    assert_memory_equal(out.data, "<s>hello</s>", 12);
    /* a SentencePiece vocabulary is not a tokenizer.json */
    assert_int_equal(hlm_tokenizer_save(fx_tok, tmp_path("x.json"), &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "SentencePiece"));
    /* decode errors as for any tokenizer */
    uint32_t bad = 999999;
    assert_int_equal(hlm_tokenizer_decode(fx_tok, &bad, 1, &out, &err), HLM_ERR_RANGE);
    hlm_ids_free(&a);
    hlm_ids_free(&plain);
    hlm_ids_free(&hello);
    hlm_buf_free(&out);
}

/* A megabyte of one letter and of alternating syllables: the heap keeps this O(n log n) (the
 * test would take minutes at O(n^2)); the result decodes back. */
static void test_long_input(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i++) s[i] = "ab c"[i % 4 == 3 ? 2 + (i / 4) % 2 : i % 2];
    hlm_ids ids = {0};
    hlm_buf back = {0};
    hlm_error err;
    assert_int_equal(hlm_tokenizer_encode(fx_tok, s, n, 0, &ids, &err), HLM_OK);
    assert_true(ids.len > 0 && ids.len < n);
    assert_int_equal(hlm_tokenizer_decode(fx_tok, ids.data, ids.len, &back, &err), HLM_OK);
    assert_int_equal(back.len, n);
    assert_memory_equal(back.data, s, n);
    memset(s, 'a', n);
    ids.len = back.len = 0;
    assert_int_equal(hlm_tokenizer_encode(fx_tok, s, n, 0, &ids, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_decode(fx_tok, ids.data, ids.len, &back, &err), HLM_OK);
    assert_int_equal(back.len, n);
    hlm_ids_free(&ids);
    hlm_buf_free(&back);
    free(s);
}

/* ---- hand-made vocabularies ---- */

typedef struct mini {
    const char *model;
    const char *tokens[300];
    size_t n_tokens;
    float scores[300];
    size_t n_scores; /* SIZE_MAX: no scores key */
    int scores_as_int;
    int32_t types[300];
    size_t n_types; /* SIZE_MAX: no token_type key */
    int64_t bos, unk; /* -1: key absent */
    int add_prefix;   /* -1: key absent */
    int add_bos_as_string;
} mini;

static char byte_names[256][8];

/* <unk>, <s>, </s>, then the pieces given (normal, score -index), then the 256 byte pieces when
 * with_bytes. */
static void mini_init(mini *m, const char *const *pieces, size_t n, int with_bytes)
{
    memset(m, 0, sizeof *m);
    m->model = "llama";
    const char *head[3] = {"<unk>", "<s>", "</s>"};
    int head_type[3] = {2, 3, 3};
    for (int i = 0; i < 3; i++) {
        m->tokens[m->n_tokens] = head[i];
        m->types[m->n_tokens] = head_type[i];
        m->scores[m->n_tokens++] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        m->tokens[m->n_tokens] = pieces[i];
        m->types[m->n_tokens] = 1;
        m->scores[m->n_tokens] = -(float)i;
        m->n_tokens++;
    }
    for (int b = 0; with_bytes && b < 256; b++) {
        snprintf(byte_names[b], sizeof byte_names[b], "<0x%02X>", b);
        m->tokens[m->n_tokens] = byte_names[b];
        m->types[m->n_tokens] = 6;
        m->scores[m->n_tokens++] = 0;
    }
    m->n_scores = m->n_types = m->n_tokens;
    m->bos = 1;
    m->unk = 0;
    m->add_prefix = -1;
}

static hlm_status mini_load(const mini *m, hlm_tokenizer **tok, hlm_error *err)
{
    hlm_gguf_writer *w;
    assert_int_equal(hlm_gguf_writer_new(&w, err), HLM_OK);
    assert_int_equal(hlm_gguf_add_str(w, "general.architecture", "llama", err), HLM_OK);
    if (m->model) assert_int_equal(hlm_gguf_add_str(w, "tokenizer.ggml.model", m->model, err), HLM_OK);
    if (m->n_tokens)
        assert_int_equal(hlm_gguf_add_str_array(w, "tokenizer.ggml.tokens", m->tokens, NULL, m->n_tokens, err), HLM_OK);
    if (m->n_scores != SIZE_MAX) {
        int32_t ints[300];
        for (size_t i = 0; i < m->n_scores; i++) ints[i] = (int32_t)m->scores[i];
        assert_int_equal(hlm_gguf_add_array(w, "tokenizer.ggml.scores", m->scores_as_int ? HLM_GGUF_INT32 : HLM_GGUF_FLOAT32,
                                            m->scores_as_int ? (const void *)ints : (const void *)m->scores, m->n_scores, err),
                         HLM_OK);
    }
    if (m->n_types != SIZE_MAX)
        assert_int_equal(hlm_gguf_add_array(w, "tokenizer.ggml.token_type", HLM_GGUF_INT32, m->types, m->n_types, err), HLM_OK);
    if (m->bos >= 0) assert_int_equal(hlm_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)m->bos, err), HLM_OK);
    if (m->unk >= 0) assert_int_equal(hlm_gguf_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)m->unk, err), HLM_OK);
    if (m->add_prefix >= 0) assert_int_equal(hlm_gguf_add_bool(w, "tokenizer.ggml.add_space_prefix", m->add_prefix, err), HLM_OK);
    if (m->add_bos_as_string) assert_int_equal(hlm_gguf_add_str(w, "tokenizer.ggml.add_bos_token", "yes", err), HLM_OK);
    const char *path = tmp_path("mini.gguf");
    assert_int_equal(hlm_gguf_write(w, path, err), HLM_OK);
    hlm_gguf_writer_free(w);
    /* read through memory, as a reader of a mapped file would */
    hlm_buf b = {0};
    assert_int_equal(hlm_file_read_all(path, &b, err), HLM_OK);
    hlm_gguf_file *f;
    assert_int_equal(hlm_gguf_open_mem(b.data, b.len, "mini.gguf", &f, err), HLM_OK);
    *tok = NULL;
    hlm_status st = hlm_gguf_read_tokenizer(f, tok, err);
    hlm_gguf_close(f);
    hlm_buf_free(&b);
    return st;
}

static void expect_ids(const hlm_tokenizer *t, const char *text, const uint32_t *want, size_t n)
{
    hlm_ids ids = {0};
    hlm_error err;
    assert_int_equal(hlm_tokenizer_encode(t, text, strlen(text), 0, &ids, &err), HLM_OK);
    if (ids.len != n || !mem_eq(ids.data, want, n * sizeof *want)) {
        fprintf(stderr, "'%s': got", text);
        for (size_t i = 0; i < ids.len; i++) fprintf(stderr, " %u", ids.data[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(ids.len, n);
    assert_memory_equal(ids.data, want, n * sizeof *want);
    hlm_ids_free(&ids);
}

static void test_hand_made(void **state)
{
    (void)state;
    /* ids: 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 ab, 7 ba, 8 ▁a; scores 0, -1, ... by position */
    const char *pieces[] = {SP, "a", "b", "ab", "ba", SP "a"};
    mini m;
    hlm_tokenizer *t;
    hlm_error err = {0};
    mini_init(&m, pieces, 6, 0);
    m.add_prefix = 0;
    m.scores[6] = m.scores[7] = -3; /* "ab" and "ba" tie: the leftmost pair merges */
    assert_int_equal(mini_load(&m, &t, &err), HLM_OK);
    expect_ids(t, "aba", (const uint32_t[]){6, 4}, 2);
    expect_ids(t, "bab", (const uint32_t[]){7, 5}, 2);
    /* no prefix; a space is ▁; a character the vocabulary lacks (no byte pieces) is <unk>, one
     * per character, multi-byte ones included */
    expect_ids(t, "a b", (const uint32_t[]){4, 3, 5}, 3);
    expect_ids(t, "axé b", (const uint32_t[]){4, 0, 0, 3, 5}, 5);
    uint32_t bos;
    assert_true(hlm_tokenizer_bos(t, &bos)); /* add_bos_token absent: llama.cpp's default, true */
    assert_int_equal(bos, 1);
    hlm_tokenizer_free(t);

    /* higher score first: "ba" (-1) before "ab" (-3) */
    mini_init(&m, pieces, 6, 0);
    m.scores[6] = -3;
    m.scores[7] = -1;
    assert_int_equal(mini_load(&m, &t, &err), HLM_OK);
    expect_ids(t, "aba", (const uint32_t[]){8, 7}, 2); /* ▁ a ba (-1), then ▁a (-5); ab (-3) never */
    expect_ids(t, "ab", (const uint32_t[]){3, 6}, 2);  /* ab (-3) before ▁a (-5) */
    m.scores[8] = 0.5f;
    hlm_tokenizer_free(t);
    assert_int_equal(mini_load(&m, &t, &err), HLM_OK);
    expect_ids(t, "ab", (const uint32_t[]){8, 5}, 2); /* ▁a first now */
    hlm_buf out = {0};
    assert_int_equal(hlm_tokenizer_decode(t, (const uint32_t[]){8, 7}, 2, &out, &err), HLM_OK);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "aba", 3);
    hlm_buf_free(&out);
    hlm_tokenizer_free(t);

    /* byte pieces present: é falls back to its two bytes, and the stream assembles them */
    mini_init(&m, pieces, 6, 1);
    assert_int_equal(mini_load(&m, &t, &err), HLM_OK);
    uint32_t e1, e2;
    assert_true(hlm_tokenizer_token_id(t, "<0xC3>", 6, &e1));
    assert_true(hlm_tokenizer_token_id(t, "<0xA9>", 6, &e2));
    expect_ids(t, "é", (const uint32_t[]){3, e1, e2}, 3);
    hlm_decoder d;
    hlm_buf s = {0};
    hlm_decoder_init(&d, t);
    assert_int_equal(hlm_decoder_push(&d, 3, &s, &err), HLM_OK);
    assert_int_equal(hlm_decoder_push(&d, e1, &s, &err), HLM_OK);
    assert_int_equal(s.len, 1); /* " ", and the first byte of é held back */
    assert_int_equal(hlm_decoder_push(&d, e2, &s, &err), HLM_OK);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.data, " \xc3\xa9", 3);
    hlm_buf_free(&s);
    hlm_tokenizer_free(t);
}

static void expect_error(const mini *m, const char *needle1, const char *needle2)
{
    hlm_tokenizer *t = NULL;
    hlm_error err = {0};
    hlm_status st = mini_load(m, &t, &err);
    if (st == HLM_OK || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fprintf(stderr, "status %d, message: %s\n", st, err.msg);
    assert_int_equal(st, HLM_ERR_FORMAT);
    assert_null(t);
    assert_non_null(strstr(err.msg, needle1));
    if (needle2) assert_non_null(strstr(err.msg, needle2));
}

static void test_malformed(void **state)
{
    (void)state;
    const char *pieces[] = {SP, "a", "b", "ab"};
    mini m;
    mini_init(&m, pieces, 4, 1);
    hlm_tokenizer *t;
    hlm_error err;
    assert_int_equal(mini_load(&m, &t, &err), HLM_OK); /* the base loads */
    hlm_tokenizer_free(t);

    mini_init(&m, pieces, 4, 1), m.model = "bert";
    expect_error(&m, "tokenizer.ggml.model", "\"llama\"");
    mini_init(&m, pieces, 4, 1), m.n_tokens = 0, m.n_scores = m.n_types = SIZE_MAX;
    expect_error(&m, "tokenizer.ggml.tokens", NULL);
    mini_init(&m, pieces, 4, 1), m.n_scores = SIZE_MAX;
    expect_error(&m, "tokenizer.ggml.scores", "missing");
    mini_init(&m, pieces, 4, 1), m.scores_as_int = 1;
    expect_error(&m, "tokenizer.ggml.scores", "float32");
    mini_init(&m, pieces, 4, 1), m.n_scores -= 1;
    expect_error(&m, "tokenizer.ggml.scores", "one per token");
    mini_init(&m, pieces, 4, 1), m.scores[5] = NAN;
    expect_error(&m, "tokenizer.ggml.scores[5]", "NaN");
    mini_init(&m, pieces, 4, 1), m.n_types = 10;
    expect_error(&m, "tokenizer.ggml.token_type", "integers");
    mini_init(&m, pieces, 4, 1), m.types[4] = 9;
    expect_error(&m, "tokenizer.ggml.token_type[4]", "expected 1");
    mini_init(&m, pieces, 4, 1), m.bos = 5000;
    expect_error(&m, "tokenizer.ggml.bos_token_id", "below");
    mini_init(&m, pieces, 4, 1), m.unk = 300000;
    expect_error(&m, "tokenizer.ggml.unknown_token_id", "below");
    mini_init(&m, pieces, 4, 1), m.add_bos_as_string = 1;
    expect_error(&m, "tokenizer.ggml.add_bos_token", NULL);
    mini_init(&m, pieces, 4, 1), m.tokens[4] = "";
    expect_error(&m, "tokenizer.ggml.tokens[4]", "empty");
    mini_init(&m, pieces, 4, 1), m.tokens[5] = "a";
    expect_error(&m, "tokenizer.ggml.tokens[5]", "distinct");
    mini_init(&m, pieces, 4, 1), m.tokens[7] = "<0xZZ>";
    expect_error(&m, "tokenizer.ggml.tokens[7]", "<0xXX>");
    mini_init(&m, pieces, 4, 1), m.tokens[7] = "<0x01>"; /* a second 0x01; nothing is 0x00 any more */
    expect_error(&m, "tokenizer.ggml.tokens[8]", "second byte token");
    /* byte pieces missing and no unknown token: some text could not be encoded */
    mini_init(&m, pieces, 4, 0), m.unk = -1, m.types[0] = 3;
    expect_error(&m, "tokenizer.ggml.tokens", "no byte token");
    /* ... which an unknown token makes fine */
    mini_init(&m, pieces, 4, 0), m.unk = -1;
    assert_int_equal(mini_load(&m, &t, &err), HLM_OK);
    hlm_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_cases), cmocka_unit_test(test_reference),  cmocka_unit_test(test_specials_and_lookup),
        cmocka_unit_test(test_long_input),    cmocka_unit_test(test_hand_made), cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
