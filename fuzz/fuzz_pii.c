/* PII detection on arbitrary bytes: never crash, and keep the contract of hlm_pii_find and
 * hlm_pii_redact.
 *
 * Input layout: byte 0 is the type mask (low 6 bits); the rest is the text.
 * Checks: spans are in bounds, non-empty, ordered and non-overlapping, of a type in the mask,
 * and made of ASCII bytes only; the count does not depend on cap or on spans being NULL; the
 * spans for a mask are exactly the all-types spans of those types (detection does not depend on
 * the mask); redaction equals the text with each span replaced by its placeholder, its counts
 * add up to the matches, and valid UTF-8 stays valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/pii.h"
#include "text/unicode.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mask = data[0] & HLM_PII_ALL;
    const uint8_t *s = data + 1;
    size_t len = size - 1;

    size_t n = hlm_pii_find(s, len, mask, NULL, 0);
    size_t n_all = hlm_pii_find(s, len, HLM_PII_ALL, NULL, 0);
    CHECK(n <= n_all && n_all <= len);
    hlm_pii_span *sp = malloc((n + 1) * sizeof *sp), *all = malloc((n_all + 1) * sizeof *all);
    CHECK(sp && all);
    CHECK(hlm_pii_find(s, len, mask, sp, n) == n);
    CHECK(hlm_pii_find(s, len, HLM_PII_ALL, all, n_all) == n_all);

    size_t prev_end = 0;
    for (size_t k = 0; k < n; k++) {
        CHECK(sp[k].start >= prev_end && sp[k].start < sp[k].end && sp[k].end <= len);
        CHECK((unsigned)sp[k].type < HLM_PII_TYPE_COUNT && (mask & (1u << sp[k].type)));
        for (size_t i = sp[k].start; i < sp[k].end; i++) CHECK(s[i] < 0x80);
        prev_end = sp[k].end;
    }
    /* the mask only filters */
    size_t j = 0;
    for (size_t k = 0; k < n_all; k++) {
        if (!(mask & (1u << all[k].type))) continue;
        CHECK(j < n && all[k].start == sp[j].start && all[k].end == sp[j].end && all[k].type == sp[j].type);
        j++;
    }
    CHECK(j == n);
    if (n > 0) {
        hlm_pii_span one;
        CHECK(hlm_pii_find(s, len, mask, &one, 1) == n);
        CHECK(one.start == sp[0].start && one.end == sp[0].end && one.type == sp[0].type);
    }

    hlm_buf out = {0}, want = {0};
    hlm_error err;
    uint64_t counts[HLM_PII_TYPE_COUNT] = {0};
    CHECK(hlm_pii_redact(s, len, mask, &out, counts, &err) == HLM_OK);
    uint64_t total = 0;
    for (int t = 0; t < HLM_PII_TYPE_COUNT; t++) total += counts[t];
    CHECK(total == n);
    size_t copied = 0;
    for (size_t k = 0; k < n; k++) {
        const char *ph = hlm_pii_placeholder(sp[k].type);
        CHECK(hlm_buf_append(&want, s + copied, sp[k].start - copied) == HLM_OK);
        CHECK(hlm_buf_append(&want, ph, strlen(ph)) == HLM_OK);
        copied = sp[k].end;
    }
    if (len > copied) CHECK(hlm_buf_append(&want, s + copied, len - copied) == HLM_OK);
    CHECK(out.len == want.len && (out.len == 0 || memcmp(out.data, want.data, out.len) == 0));
    if (hlm_utf8_valid(s, len)) CHECK(hlm_utf8_valid(out.data, out.len));

    hlm_buf_free(&out);
    hlm_buf_free(&want);
    free(sp);
    free(all);
    return 0;
}
