/* Document readers on arbitrary bytes: JSONL and TSV parsing (and plain text chunking) must
 * return documents or an error naming the input, never crash, and keep their invariants.
 *
 * Plain text chunks must also keep the pre-tokenizer's pieces: every pattern splits each chunk
 * exactly as it splits the whole text there.
 *
 * Input layout: byte 0 picks the format, byte 1 the field/column and chunk size; the rest is
 * the file content, read through the in-memory reader (the same parsers as for files). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/docs.h"
#include "text/docs_internal.h"
#include "tokenizer/pretok.h"
#include "fuzz_check.h"

/* Marks in ends[] (1 + n bytes) where the pieces of s[0..n) end, offset by base. */
static void mark_piece_ends(hlm_pattern p, const uint8_t *s, size_t n, uint8_t *ends, size_t base)
{
    for (size_t pos = 0; pos < n;) {
        size_t e = hlm_pretok_next(p, s, n, pos);
        CHECK(e > pos && e <= n);
        ends[base + e] |= 1;
        pos = e;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const hlm_doc_format formats[] = {HLM_DOC_JSONL, HLM_DOC_TSV, HLM_DOC_TEXT};
    static const char *const fields[] = {"text", "a", "", "review"};
    static const char *const columns[] = {NULL, "text", "0", "2", "review", "99999999999999999999999"};
    hlm_doc_reader_opts o = {
        .format = formats[data[0] % 3],
        .jsonl_field = fields[data[1] % 4],
        .tsv_column = columns[data[1] % 6],
        .chunk_bytes = 1 + (size_t)(data[1] >> 2) * 13,
    };
    const uint8_t *in = data + 2;
    size_t n = size - 2;

    hlm_doc_reader *r;
    hlm_error err;
    if (hlm_doc_reader_open_mem(&r, "fuzz.in", in, n, &o, &err) != HLM_OK) return 0;
    size_t off = 0, docs = 0;
    for (;;) {
        const char *text;
        size_t len;
        int more;
        hlm_status st = hlm_doc_reader_next(r, &text, &len, &more, &err);
        if (st) {
            CHECK(strncmp(err.msg, "fuzz.in:", 8) == 0);
            CHECK(o.format != HLM_DOC_TEXT);
            break;
        }
        if (!more) break;
        CHECK(++docs <= n + 1);
        if (o.format == HLM_DOC_TEXT) {
            /* Chunks are consecutive slices of the input, cut only where the rule allows. */
            CHECK(len > 0 && off + len <= n);
            CHECK(memcmp(text, in + off, len) == 0);
            off += len;
            if (off < n) CHECK(hlm_doc_text_cut_ok(in, n, off - 1));
        } else {
            /* JSONL values and TSV fields are NUL-terminated copies or slices of one line. */
            CHECK(text[len] == 0);
            if (o.format == HLM_DOC_TSV) CHECK(memchr(text, '\t', len) == NULL && memchr(text, '\n', len) == NULL);
        }
    }
    if (o.format == HLM_DOC_TEXT) {
        CHECK(off == n);
        /* Re-read the chunks and compare their pieces with the whole text's, per pattern. */
        uint8_t *whole = calloc(n + 1, 1), *parts = calloc(n + 1, 1);
        CHECK(whole && parts);
        for (int p = 0; p < HLM_PATTERN_COUNT; p++) {
            memset(whole, 0, n + 1);
            memset(parts, 0, n + 1);
            mark_piece_ends((hlm_pattern)p, in, n, whole, 0);
            hlm_doc_reader *again;
            CHECK(hlm_doc_reader_open_mem(&again, "fuzz.in", in, n, &o, &err) == HLM_OK);
            size_t at = 0;
            for (;;) {
                const char *text;
                size_t len;
                int more;
                CHECK(hlm_doc_reader_next(again, &text, &len, &more, &err) == HLM_OK);
                if (!more) break;
                mark_piece_ends((hlm_pattern)p, (const uint8_t *)text, len, parts, at);
                at += len;
            }
            hlm_doc_reader_close(again);
            CHECK(memcmp(whole, parts, n + 1) == 0);
        }
        free(whole);
        free(parts);
    }
    CHECK(hlm_doc_reader_bytes_read(r) <= n);
    hlm_doc_reader_close(r);
    return 0;
}
