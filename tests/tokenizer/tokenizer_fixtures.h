/* Shared by the tokenizer tests: reading the reference fixtures of tools/gen_tokenizer_fixtures.py
 * (lines "MODE TAB base64(input) TAB ids", MODE o = ordinary, s = special tokens allowed) and
 * comparing a tokenizer's ids with them. Include after cmocka.h. */
#ifndef HLM_TEST_TOKENIZER_FIXTURES_H
#define HLM_TEST_TOKENIZER_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "hyperlm/tokenizer.h"
#include "text/unicode.h"

typedef struct fixture_case {
    int allow_special;
    uint8_t *text;
    size_t len;
    uint32_t *ids;
    size_t n_ids;
} fixture_case;

static inline int b64v(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static inline size_t b64_decode(const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64v((unsigned char)s[i]);
        if (v < 0) continue; /* '=' */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

/* Reads MODE \t BASE64 \t IDS lines. */
static inline fixture_case *read_cases(const char *path, size_t *n_out)
{
    hlm_buf b = {0};
    hlm_error err;
    if (hlm_file_read_all(path, &b, &err)) fail_msg("%s", err.msg);
    size_t n = 0, cap = 1024;
    fixture_case *c = calloc(cap, sizeof *c);
    char *save = NULL;
    for (char *line = strtok_r((char *)b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        assert_non_null(t2);
        if (n == cap) c = realloc(c, (cap *= 2) * sizeof *c);
        fixture_case *fc = &c[n++];
        fc->allow_special = line[0] == 's';
        fc->text = malloc((size_t)(t2 - t1) + 1);
        fc->len = b64_decode(t1 + 1, (size_t)(t2 - t1 - 1), fc->text);
        size_t k = 0, cap_ids = 16;
        fc->ids = malloc(cap_ids * sizeof *fc->ids);
        for (char *p = t2 + 1; *p;) {
            char *end;
            unsigned long v = strtoul(p, &end, 10);
            if (end == p) break;
            if (k == cap_ids) fc->ids = realloc(fc->ids, (cap_ids *= 2) * sizeof *fc->ids);
            fc->ids[k++] = (uint32_t)v;
            p = *end ? end + 1 : end;
        }
        fc->n_ids = k;
    }
    hlm_buf_free(&b);
    *n_out = n;
    return c;
}

static inline void free_cases(fixture_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].text);
        free(c[i].ids);
    }
    free(c);
}

static inline void fixture_path(char *buf, size_t cap, const char *name)
{
    const char *fx = getenv("HLM_FIXTURES");
    snprintf(buf, cap, "%s/tokenizer/%s", fx ? fx : "tests/fixtures", name);
}

static inline void show_ids(const char *what, const uint32_t *ids, size_t n, size_t around)
{
    size_t from = around > 4 ? around - 4 : 0, to = around + 6 < n ? around + 6 : n;
    printf("    %s (%zu ids) [%zu..%zu):", what, n, from, to);
    for (size_t i = from; i < to; i++) printf(" %u", ids[i]);
    printf("\n");
}

/* Compares every case; prints the first few differences in full. Returns the number that differ. */
static inline size_t check_cases(const hlm_tokenizer *t, const char *label, const fixture_case *c, size_t n)
{
    size_t bad = 0;
    hlm_ids ids = {0};
    hlm_buf back = {0}, nfc = {0};
    hlm_error err;
    for (size_t i = 0; i < n; i++) {
        ids.len = 0;
        assert_int_equal(hlm_tokenizer_encode(t, c[i].text, c[i].len, c[i].allow_special, &ids, &err), HLM_OK);
        int same = ids.len == c[i].n_ids && (!ids.len || !memcmp(ids.data, c[i].ids, ids.len * sizeof *ids.data));
        if (!same && bad++ < 5) {
            size_t k = 0;
            while (k < ids.len && k < c[i].n_ids && ids.data[k] == c[i].ids[k]) k++;
            printf("  %s: case %zu (%zu bytes, mode %c) differs at id %zu: '%.*s'\n", label, i, c[i].len,
                   c[i].allow_special ? 's' : 'o', k, c[i].len < 80 ? (int)c[i].len : 80, (const char *)c[i].text);
            show_ids("ours     ", ids.data, ids.len, k);
            show_ids("reference", c[i].ids, c[i].n_ids, k);
        }
        back.len = 0;
        assert_int_equal(hlm_tokenizer_decode(t, c[i].ids, c[i].n_ids, &back, &err), HLM_OK);
        /* decode gives the input back, or its NFC form if the tokenizer normalizes */
        nfc.len = 0;
        if (hlm_tokenizer_normalizes(t)) assert_int_equal(hlm_nfc_append(c[i].text, c[i].len, &nfc, &err), HLM_OK);
        const uint8_t *want = hlm_tokenizer_normalizes(t) ? nfc.data : c[i].text;
        size_t want_len = hlm_tokenizer_normalizes(t) ? nfc.len : c[i].len;
        if (back.len != want_len || (want_len && memcmp(back.data, want, want_len))) {
            if (bad++ < 5) printf("  %s: case %zu: decode of the reference ids is not the input\n", label, i);
        }
    }
    hlm_ids_free(&ids);
    hlm_buf_free(&back);
    hlm_buf_free(&nfc);
    return bad;
}


#endif
