/* Document readers: plain text chunking, JSONL and TSV fields, compressed input, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "hyperlm/buf.h"
#include "text/docs.h"
#include "text/docs_internal.h"
#include "tokenizer/pretok.h"

#include "tmpdir.h"

static void write_zst(const char *path, const void *data, size_t n)
{
    size_t cap = ZSTD_compressBound(n);
    void *z = malloc(cap);
    size_t zn = ZSTD_compress(z, cap, data, n, 3);
    assert_false(ZSTD_isError(zn));
    write_file(path, z, zn);
    free(z);
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb6");
    assert_non_null(g);
    if (n) assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

/* All documents of a file, each followed by a 0 byte in docs, their lengths in lens. */
typedef struct {
    hlm_buf all;
    size_t lens[1 << 16];
    size_t n;
    hlm_status st;
    hlm_error err;
    uint64_t bytes_read, file_bytes;
} docs_t;

static docs_t *read_docs(const char *path, const hlm_doc_reader_opts *opts)
{
    docs_t *d = calloc(1, sizeof *d);
    hlm_doc_reader *r;
    d->st = hlm_doc_reader_open(&r, path, opts, &d->err);
    if (d->st) return d;
    for (;;) {
        const char *text;
        size_t len;
        int more;
        d->st = hlm_doc_reader_next(r, &text, &len, &more, &d->err);
        if (d->st || !more) break;
        assert_true(d->n < (1 << 16));
        assert_int_equal(hlm_buf_append(&d->all, text, len), HLM_OK);
        assert_int_equal(hlm_buf_append(&d->all, "", 1), HLM_OK);
        d->lens[d->n++] = len;
    }
    d->bytes_read = hlm_doc_reader_bytes_read(r);
    d->file_bytes = hlm_doc_reader_file_bytes(r);
    hlm_doc_reader_close(r);
    return d;
}

/* The i-th document (pointer into d->all). */
static const char *doc_at(const docs_t *d, size_t i)
{
    size_t off = 0;
    for (size_t k = 0; k < i; k++) off += d->lens[k] + 1;
    return (const char *)d->all.data + off;
}

static void docs_free(docs_t *d)
{
    hlm_buf_free(&d->all);
    free(d);
}

static void assert_docs(const docs_t *d, const char *const *want, size_t n)
{
    if (d->st) fail_msg("unexpected error: %s", d->err.msg);
    assert_int_equal(d->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d->lens[i], strlen(want[i]));
        assert_memory_equal(doc_at(d, i), want[i], d->lens[i]);
    }
}

static void assert_error(const docs_t *d, hlm_status code, const char *msg_prefix)
{
    assert_int_equal(d->st, code);
    if (strncmp(d->err.msg, msg_prefix, strlen(msg_prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", d->err.msg, msg_prefix);
}

/* ---- plain text ---- */

/* Unicode White_Space, listed independently of the byte patterns in docs.c. */
static int is_white_space(uint32_t cp)
{
    static const uint32_t ws[] = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
                                  0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
                                  0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
        if (ws[i] == cp) return 1;
    return 0;
}

/* Strict UTF-8 decoding of the unit starting at s (an invalid byte is one unit, cp = -1). */
static size_t decode(const uint8_t *s, size_t n, int64_t *cp)
{
    uint8_t b = s[0];
    size_t k = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    *cp = -1;
    if (k == 0 || k > n) return 1;
    uint32_t v = k == 1 ? b : k == 2 ? b & 0x1F : k == 3 ? b & 0x0F : b & 0x07;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 1;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 1;
    *cp = v;
    return k;
}

/* Character classes around every '\n' of s, computed by decoding from the start. */
static int *valid_cuts(const uint8_t *s, size_t n)
{
    int *ok = calloc(n + 1, sizeof *ok);
    int64_t prev = -2; /* none yet */
    for (size_t i = 0; i < n;) {
        int64_t cp;
        size_t k = decode(s + i, n - i, &cp);
        if (cp == '\n' && i + 1 < n && prev != -2 && (prev < 0 || !is_white_space((uint32_t)prev))) {
            int64_t next;
            decode(s + i + 1, n - i - 1, &next);
            ok[i] = next < 0 || (!is_white_space((uint32_t)next) && next != '/');
        }
        /* An ASCII letter or a Hangul syllable followed by a space: cut before the space. */
        int letter = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= 0xAC00 && cp <= 0xD7A3);
        if (letter && i + k < n && s[i + k] == ' ') ok[i + k - 1] = 1;
        prev = cp;
        i += k;
    }
    return ok;
}

/* Chunks concatenate to the text; each ends right after a valid '\n' and is the shortest that
 * reaches chunk_bytes (the first valid cut at or after it); the last one takes the rest. */
static void check_chunks(const uint8_t *text, size_t n, const docs_t *d, size_t chunk_bytes)
{
    if (d->st) fail_msg("unexpected error: %s", d->err.msg);
    int *ok = valid_cuts(text, n);
    size_t off = 0;
    for (size_t c = 0; c < d->n; c++) {
        size_t len = d->lens[c];
        assert_true(len > 0);
        assert_true(off + len <= n);
        assert_memory_equal(doc_at(d, c), text + off, len);
        size_t first_allowed = off + chunk_bytes - 1;
        size_t want_end = n;
        for (size_t i = first_allowed; i < n; i++)
            if (ok[i]) {
                want_end = i + 1;
                break;
            }
        assert_int_equal(off + len, want_end);
        off += len;
    }
    assert_int_equal(off, n);
    free(ok);
}

/* Text with lines of every kind around newlines: ASCII, Hangul, CRLF, blank lines, leading and
 * trailing spaces, U+3000 and U+00A0 next to '\n', invalid bytes, punctuation before '\n'. */
static uint8_t *make_text(size_t target, size_t *n_out)
{
    static const char *const parts[] = {
        "Hello world.", "\n", "한국어 문장입니다", "\n", "\r\n", "  indented", "trailing  ", "\n\n",
        "\xe3\x80\x80ideographic space", "nbsp\xc2\xa0", "\xff\xfe", "x\xe2\x80\xa8y", "12345", "?!",
        "\t", "\n", "\xe1\x9a\x80", "\xe2\x81\x9f", "\xc2\x85", "\xe2\x80\x8a", "😀", "'s", "\n", "/", "./",
    };
    size_t np = sizeof parts / sizeof *parts;
    hlm_buf b = {0};
    uint32_t x = 12345;
    while (b.len < target) {
        x = x * 1103515245u + 12345u;
        const char *p = parts[(x >> 16) % np];
        assert_int_equal(hlm_buf_append(&b, p, strlen(p)), HLM_OK);
    }
    *n_out = b.len;
    return b.data;
}

static void test_text_chunks(void **state)
{
    size_t n;
    uint8_t *text = make_text(300000, &n); /* several 64 KiB refills */
    const char *path = tmp_path("a.txt");
    write_file(path, text, n);
    static const size_t sizes[] = {1, 7, 64, 1000, 70000, 1u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        hlm_doc_reader_opts o = {.chunk_bytes = sizes[k]};
        docs_t *d = read_docs(path, &o);
        check_chunks(text, n, d, sizes[k]);
        if (sizes[k] == 1000) assert_true(d->n > 100);
        if (sizes[k] == 1u << 20) assert_int_equal(d->n, 1);
        assert_int_equal(d->bytes_read, n);
        assert_int_equal(d->file_bytes, n);
        docs_free(d);
    }
    /* Compressed forms give the same chunks. */
    hlm_doc_reader_opts o = {.chunk_bytes = 5000};
    docs_t *plain = read_docs(path, &o);
    const char *names[] = {"a.txt.zst", "a.txt.gz"};
    for (int z = 0; z < 2; z++) {
        const char *p = tmp_path(names[z]);
        if (z == 0) write_zst(p, text, n);
        else write_gz(p, text, n);
        docs_t *d = read_docs(p, &o);
        check_chunks(text, n, d, 5000);
        assert_int_equal(d->n, plain->n);
        assert_true(d->file_bytes > 0 && d->file_bytes < n);
        assert_int_equal(d->bytes_read, d->file_bytes); /* at the end of input */
        docs_free(d);
    }
    docs_free(plain);
    free(text);
}

static void test_text_cut_rule(void **state)
{
    hlm_doc_reader_opts o = {.chunk_bytes = 1};
    struct {
        const char *text;
        const char *chunks[6];
    } cases[] = {
        {"a\nb\nc", {"a\n", "b\n", "c"}},
        {"a\nb\nc\n", {"a\n", "b\n", "c\n"}},
        /* whitespace on either side of a newline: no cut there */
        {"a. \nb", {"a. \nb"}},
        {"a\n b", {"a\n b"}},
        {"a\r\nb", {"a\r\nb"}},
        {"a\n\nb", {"a\n\nb"}},
        {"\na\nb", {"\na\n", "b"}},
        {"a\xc2\xa0\nb\n\xe3\x80\x80x\nc", {"a\xc2\xa0\nb\n\xe3\x80\x80x\n", "c"}},
        /* invalid bytes and non-space characters count as non-whitespace */
        {"\xff\n\xfe\n한\n😀", {"\xff\n", "\xfe\n", "한\n", "😀"}},
        /* o200k's punctuation piece ".\n/" crosses a newline followed by '/' */
        {"a.\n/b\n.c/\nd", {"a.\n/b\n", ".c/\n", "d"}},
        /* a byte that only looks like the end of U+00A0 is not whitespace */
        {"\xa0\nb", {"\xa0\n", "b"}},
        /* no valid newline and no letter before a space: one chunk */
        {"  \n  \n\n", {"  \n  \n\n"}},
        {"1 2. 3?  \n", {"1 2. 3?  \n"}},
        /* a space after an ASCII letter or a Hangul syllable: cut before the space */
        {"no newline here", {"no", " newline", " here"}},
        {"한국어 문장.\n\n다음", {"한국어", " 문장.\n\n다음"}},
        {"a  b", {"a", "  b"}},
        /* a byte that only looks like the end of a Hangul syllable is not a letter */
        {"\x80\xb0\x80 x", {"\x80\xb0\x80 x"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *path = tmp_path("cut.txt");
        write_file(path, cases[c].text, strlen(cases[c].text));
        docs_t *d = read_docs(path, &o);
        size_t want = 0;
        while (want < 6 && cases[c].chunks[want]) want++;
        assert_docs(d, cases[c].chunks, want);
        docs_free(d);
    }
    /* An empty file has no documents. */
    write_file(tmp_path("empty.txt"), "", 0);
    docs_t *d = read_docs(tmp_path("empty.txt"), NULL);
    assert_docs(d, NULL, 0);
    docs_free(d);
    /* The default chunk is about 1 MiB: 3 MB of short lines give 3 chunks, the first of them just
     * past 1 MiB. */
    size_t n = 3000000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = i % 10 == 9 ? '\n' : 'a' + i % 7;
    write_file(tmp_path("big.txt"), big, n);
    d = read_docs(tmp_path("big.txt"), NULL);
    assert_int_equal(d->st, HLM_OK);
    assert_int_equal(d->n, 3);
    assert_true(d->lens[0] >= 1u << 20 && d->lens[0] < (1u << 20) + 10);
    docs_free(d);
    free(big);
}

/* Piece boundaries of s[0..n) under pattern p, as a 0/1 array (1 where a piece ends). */
static uint8_t *piece_ends(hlm_pattern p, const uint8_t *s, size_t n)
{
    uint8_t *ends = calloc(n + 1, 1);
    for (size_t pos = 0; pos < n;) {
        size_t e = hlm_pretok_next(p, s, n, pos);
        assert_true(e > pos && e <= n);
        ends[e] = 1;
        pos = e;
    }
    return ends;
}

/* The point of the cut rule: pre-tokenizing each chunk gives the pieces of the whole text, for
 * every pattern (the pre-tokenizer is itself checked against PCRE2 in tests/tokenizer). */
static void test_chunks_keep_pieces(void **state)
{
    size_t n;
    uint8_t *text = make_text(200000, &n);
    hlm_doc_reader *r;
    hlm_error err;
    hlm_doc_reader_opts o = {.chunk_bytes = 1};
    for (int p = 0; p < HLM_PATTERN_COUNT; p++) {
        uint8_t *whole = piece_ends((hlm_pattern)p, text, n);
        assert_int_equal(hlm_doc_reader_open_mem(&r, "mem.txt", text, n, &o, &err), HLM_OK);
        size_t off = 0, chunks = 0;
        for (;;) {
            const char *c;
            size_t len;
            int more;
            assert_int_equal(hlm_doc_reader_next(r, &c, &len, &more, &err), HLM_OK);
            if (!more) break;
            uint8_t *part = piece_ends((hlm_pattern)p, (const uint8_t *)c, len);
            for (size_t i = 1; i <= len; i++)
                if (part[i] != whole[off + i]) fail_msg("pattern %d: chunk at %zu changes a piece boundary at %zu", p, off, off + i);
            free(part);
            off += len;
            chunks++;
        }
        assert_int_equal(off, n);
        assert_true(chunks > 1000);
        hlm_doc_reader_close(r);
        free(whole);
    }
    free(text);
    /* Why '/' may not follow the newline: o200k keeps ".\n/" together. */
    const uint8_t *s = (const uint8_t *)"a.\n/b";
    assert_int_equal(hlm_pretok_next(HLM_PATTERN_O200K, s, 5, 1), 4);
    assert_false(hlm_doc_text_cut_ok(s, 5, 2));
}

/* ---- JSONL ---- */

static void test_jsonl(void **state)
{
    const char *jsonl =
        "{\"id\": 1, \"text\": \"plain\"}\n"
        "{\"text\": \"tab\\there\\nnewline \\\"quoted\\\" back\\\\slash \\/ \\b\\f\\r\"}\r\n"
        "\n"
        "   \r\n"
        "{\"meta\": {\"text\": \"nested is not it\"}, \"text\": \"\\u00e9\\uD55C\\ud83d\\ude00 raw 한국어\"}\n"
        "{\"text\": \"nul\\u0000inside\\u0000\", \"other\": \"\\uFDD0\"}\n"
        "{\"text\": \"\"}\n"
        "  {\"text\" : \"spaces around\" }  \n"
        "{\"text\": \"last line without newline\"}";
    const char *want[] = {
        "plain",
        "tab\there\nnewline \"quoted\" back\\slash / \b\f\r",
        "\xc3\xa9\xed\x95\x9c\xf0\x9f\x98\x80 raw 한국어",
        "nul\0inside\0",
        "",
        "spaces around",
        "last line without newline",
    };
    size_t want_len[] = {5, 0, 0, 11, 0, 0, 0};
    const char *names[] = {"d.jsonl", "d.jsonl.gz", "d.ndjson.zst", "d.json"};
    for (int k = 0; k < 4; k++) {
        const char *path = tmp_path(names[k]);
        if (k == 1) write_gz(path, jsonl, strlen(jsonl));
        else if (k == 2) write_zst(path, jsonl, strlen(jsonl));
        else write_file(path, jsonl, strlen(jsonl));
        docs_t *d = read_docs(path, NULL);
        if (d->st) fail_msg("unexpected error: %s", d->err.msg);
        assert_int_equal(d->n, 7);
        for (size_t i = 0; i < 7; i++) {
            size_t len = want_len[i] ? want_len[i] : strlen(want[i]);
            assert_int_equal(d->lens[i], len);
            assert_memory_equal(doc_at(d, i), want[i], len);
        }
        docs_free(d);
    }
    /* Another field; the format forced whatever the name says. */
    const char *other = "{\"body\": \"b1\", \"text\": 5}\n{\"body\": \"b2\"}\n";
    write_file(tmp_path("o.txt"), other, strlen(other));
    hlm_doc_reader_opts o = {.format = HLM_DOC_JSONL, .jsonl_field = "body"};
    docs_t *d = read_docs(tmp_path("o.txt"), &o);
    assert_docs(d, (const char *[]){"b1", "b2"}, 2);
    docs_free(d);
    /* A line longer than the read size (the window grows). */
    size_t n = 300000;
    hlm_buf line = {0};
    assert_int_equal(hlm_buf_appendf(&line, "{\"text\": \""), HLM_OK);
    for (size_t i = 0; i < n; i++) assert_int_equal(hlm_buf_append(&line, i % 100 == 99 ? "\\n" : "x", i % 100 == 99 ? 2 : 1), HLM_OK);
    assert_int_equal(hlm_buf_appendf(&line, "\"}\n{\"text\": \"after\"}\n"), HLM_OK);
    write_file(tmp_path("long.jsonl"), line.data, line.len);
    d = read_docs(tmp_path("long.jsonl"), NULL);
    assert_int_equal(d->st, HLM_OK);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->lens[0], n);
    assert_int_equal(doc_at(d, 0)[99], '\n');
    assert_string_equal(doc_at(d, 1), "after");
    docs_free(d);
    hlm_buf_free(&line);
}

static void test_jsonl_errors(void **state)
{
    struct {
        const char *line;
        const char *msg;
    } cases[] = {
        {"[1, 2]", "e.jsonl:2: field 'text': expected a string, got a line that is not a JSON object"},
        {"\"just a string\"", "e.jsonl:2: field 'text': expected a string, got a line that is not a JSON object"},
        {"{\"txt\": \"a\"}", "e.jsonl:2: field 'text': expected a string, got no such field"},
        {"{\"text\": 17}", "e.jsonl:2: field 'text': expected a string, got a number"},
        {"{\"text\": null}", "e.jsonl:2: field 'text': expected a string, got null"},
        {"{\"text\": [\"a\"]}", "e.jsonl:2: field 'text': expected a string, got an array"},
        {"{\"Text\": \"case matters\"}", "e.jsonl:2: field 'text': expected a string, got no such field"},
        {"{\"text\": \"unterminated}", "e.jsonl:2: field 'text': expected a string, got invalid JSON"},
        {"{\"text\": \"a\"} {\"text\": \"b\"}", "e.jsonl:2: field 'text': expected a string, got text after the JSON value (column 15)"},
        {"{\"text\": \"lone \\ud800 surrogate\"}", "e.jsonl:2: field 'text': expected a string, got invalid JSON"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char buf[256];
        snprintf(buf, sizeof buf, "{\"text\": \"ok\"}\n%s\n{\"text\": \"never reached\"}\n", cases[c].line);
        write_file(tmp_path("e.jsonl"), buf, strlen(buf));
        hlm_doc_reader *r;
        hlm_error err;
        const char *text;
        size_t len;
        int more;
        /* The error names the file as given and the 1-based line. */
        const char *path = tmp_path("e.jsonl");
        assert_int_equal(hlm_doc_reader_open(&r, path, NULL, &err), HLM_OK);
        assert_int_equal(hlm_doc_reader_next(r, &text, &len, &more, &err), HLM_OK);
        assert_int_equal(more, 1);
        assert_string_equal(text, "ok");
        assert_int_equal(hlm_doc_reader_next(r, &text, &len, &more, &err), HLM_ERR_FORMAT);
        const char *msg = strstr(err.msg, "e.jsonl:");
        assert_true(msg == err.msg + strlen(path) - strlen("e.jsonl"));
        if (strncmp(msg, cases[c].msg, strlen(cases[c].msg)) != 0)
            fail_msg("case %zu: '%s' does not start with '%s'", c, msg, cases[c].msg);
        hlm_doc_reader_close(r);
    }
    docs_t *d = read_docs(tmp_path("missing.jsonl"), NULL);
    assert_error(d, HLM_ERR_IO, tmp_path("missing.jsonl"));
    docs_free(d);
}

/* ---- TSV ---- */

static void test_tsv(void **state)
{
    const char *tsv = "\xef\xbb\xbfid\ttext\trating\r\n"
                      "1\tfirst review\t10\r\n"
                      "\r\n"
                      "2\t한국어 리뷰\t9\n"
                      "3\t\t1\n"
                      "4\tlast, no newline\t5";
    const char *names[] = {"r.tsv", "r.tsv.gz", "r.tsv.zst"};
    for (int k = 0; k < 3; k++) {
        const char *path = tmp_path(names[k]);
        if (k == 1) write_gz(path, tsv, strlen(tsv));
        else if (k == 2) write_zst(path, tsv, strlen(tsv));
        else write_file(path, tsv, strlen(tsv));
        docs_t *d = read_docs(path, NULL);
        assert_docs(d, (const char *[]){"first review", "한국어 리뷰", "", "last, no newline"}, 4);
        docs_free(d);
        hlm_doc_reader_opts o = {.tsv_column = "rating"};
        d = read_docs(path, &o);
        assert_docs(d, (const char *[]){"10", "9", "1", "5"}, 4);
        docs_free(d);
        o.tsv_column = "0";
        d = read_docs(path, &o);
        assert_docs(d, (const char *[]){"1", "2", "3", "4"}, 4);
        docs_free(d);
    }
    /* No "text" column: the last one. A header name that is all digits wins over the index. */
    const char *nsmc = "review_id\tmovie_id\t2\treview\n10\t20\tx\tgood movie\n11\t21\ty\tbad movie\n";
    write_file(tmp_path("n.tsv"), nsmc, strlen(nsmc));
    docs_t *d = read_docs(tmp_path("n.tsv"), NULL);
    assert_docs(d, (const char *[]){"good movie", "bad movie"}, 2);
    docs_free(d);
    hlm_doc_reader_opts o = {.tsv_column = "2"};
    d = read_docs(tmp_path("n.tsv"), &o);
    assert_docs(d, (const char *[]){"x", "y"}, 2);
    docs_free(d);
    o.tsv_column = "1";
    d = read_docs(tmp_path("n.tsv"), &o);
    assert_docs(d, (const char *[]){"20", "21"}, 2);
    docs_free(d);
    /* A header only, or nothing: no documents. */
    write_file(tmp_path("h.tsv"), "a\ttext\n", 7);
    d = read_docs(tmp_path("h.tsv"), NULL);
    assert_docs(d, NULL, 0);
    docs_free(d);
    write_file(tmp_path("h.tsv"), "", 0);
    d = read_docs(tmp_path("h.tsv"), NULL);
    assert_docs(d, NULL, 0);
    docs_free(d);
}

static void test_tsv_errors(void **state)
{
    const char *tsv = "a\tb\ttext\n1\t2\tok\n1\t2\n";
    write_file(tmp_path("bad.tsv"), tsv, strlen(tsv));
    docs_t *d = read_docs(tmp_path("bad.tsv"), NULL);
    assert_int_equal(d->n, 1);
    assert_error(d, HLM_ERR_FORMAT, tmp_path("bad.tsv"));
    assert_non_null(strstr(d->err.msg, "bad.tsv:3: expected at least 3 tab-separated columns (the text is column 2), found 2"));
    docs_free(d);
    hlm_doc_reader_opts o = {.tsv_column = "review"};
    d = read_docs(tmp_path("bad.tsv"), &o);
    assert_int_equal(d->st, HLM_ERR_INVALID);
    assert_non_null(strstr(d->err.msg, "bad.tsv:1: no column 'review' in the header (columns: a,b,text)"));
    docs_free(d);
    o.tsv_column = "3";
    d = read_docs(tmp_path("bad.tsv"), &o);
    assert_int_equal(d->st, HLM_ERR_INVALID);
    assert_non_null(strstr(d->err.msg, "bad.tsv:1: column 3: out of range, the header has 3 columns"));
    docs_free(d);
    /* A corrupt compressed file is an error, not a short read. */
    write_file(tmp_path("t.tsv.zst"), "\x28\xb5\x2f\xfd\x00\x01\x02", 7);
    d = read_docs(tmp_path("t.tsv.zst"), NULL);
    assert_int_equal(d->st, HLM_ERR_FORMAT);
    docs_free(d);
}

/* ---- the in-memory reader and options ---- */

static void test_mem_and_options(void **state)
{
    const char *data = "x\ttext\n1\tone\n2\ttwo\n";
    hlm_doc_reader *r;
    hlm_error err;
    assert_int_equal(hlm_doc_reader_open_mem(&r, "mem.tsv", data, strlen(data), NULL, &err), HLM_OK);
    const char *text;
    size_t len;
    int more;
    assert_int_equal(hlm_doc_reader_next(r, &text, &len, &more, &err), HLM_OK);
    assert_int_equal(more, 1);
    assert_string_equal(text, "one");
    assert_int_equal(hlm_doc_reader_next(r, &text, &len, &more, &err), HLM_OK);
    assert_string_equal(text, "two");
    assert_int_equal(hlm_doc_reader_next(r, &text, &len, &more, &err), HLM_OK);
    assert_int_equal(more, 0);
    assert_int_equal(hlm_doc_reader_next(r, &text, &len, &more, &err), HLM_OK); /* stays at the end */
    assert_int_equal(more, 0);
    assert_int_equal(hlm_doc_reader_bytes_read(r), strlen(data));
    hlm_doc_reader_close(r);

    hlm_doc_reader_opts o = {.format = (hlm_doc_format)42};
    assert_int_equal(hlm_doc_reader_open_mem(&r, "m", data, 1, &o, &err), HLM_ERR_INVALID);
    assert_null(r);

    /* Valid cuts, directly. */
    const uint8_t *s = (const uint8_t *)"ab\ncd";
    assert_true(hlm_doc_text_cut_ok(s, 5, 2));
    assert_false(hlm_doc_text_cut_ok(s, 5, 1));
    assert_true(hlm_doc_text_cut_ok((const uint8_t *)"ab cd", 5, 1));
    assert_false(hlm_doc_text_cut_ok((const uint8_t *)"a. cd", 5, 1));
    assert_false(hlm_doc_text_cut_ok(s, 3, 2)); /* nothing after it */
    assert_false(hlm_doc_text_cut_ok((const uint8_t *)"\nab", 3, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_chunks),  cmocka_unit_test(test_text_cut_rule),
        cmocka_unit_test(test_chunks_keep_pieces),
        cmocka_unit_test(test_jsonl),        cmocka_unit_test(test_jsonl_errors),
        cmocka_unit_test(test_tsv),          cmocka_unit_test(test_tsv_errors),
        cmocka_unit_test(test_mem_and_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
