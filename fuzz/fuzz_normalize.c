/* Normalization and language identification on arbitrary bytes: the output of
 * hlm_text_normalize is valid UTF-8 and NFC, normalizing it again changes nothing, and
 * hlm_langid returns a known language (or "und") with a score and shares in [0, 1] for the
 * input and the output, whatever max_bytes cuts. Input byte 0 picks max_bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/buf.h"
#include "text/langid.h"
#include "text/normalize.h"
#include "text/unicode.h"
#include "fuzz_check.h"

static void check_langid(const uint8_t *s, size_t n, size_t max_bytes)
{
    hlm_lang_result r;
    hlm_langid(s, n, max_bytes, &r);
    CHECK(r.score >= 0 && r.score <= 1);
    CHECK(r.hangul_share >= 0 && r.latin_share >= 0 && r.han_share >= 0 && r.kana_share >= 0);
    CHECK(r.hangul_share + r.latin_share + r.han_share + r.kana_share <= 1.0001f);
    CHECK(memchr(r.lang, 0, sizeof r.lang) != NULL);
    if (!strcmp(r.lang, "und")) {
        CHECK(r.score == 0);
        return;
    }
    const char *const *l = hlm_langid_languages();
    while (*l && strcmp(*l, r.lang)) l++;
    CHECK(*l != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t max_bytes = data[0] < 128 ? data[0] : 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1;

    static hlm_buf a, b;
    hlm_normalize_info ia, ib;
    hlm_error err;
    CHECK(hlm_text_normalize(in, n, &a, &ia, &err) == HLM_OK);
    CHECK(hlm_utf8_valid(a.data, a.len));
    CHECK(hlm_nfc_is_stable(a.data, a.len));
    CHECK(ia.invalid_bytes >= ia.invalid_sequences && ia.invalid_bytes <= n);
    CHECK(ia.changed == (a.len != n || memcmp(a.data, in, n) != 0));
    CHECK(hlm_text_normalize(a.data, a.len, &b, &ib, &err) == HLM_OK);
    CHECK(b.len == a.len && memcmp(a.data, b.data, a.len) == 0);
    CHECK(!ib.changed && ib.invalid_sequences == 0 && ib.controls_removed == 0);

    check_langid(in, n, max_bytes);
    check_langid(a.data, a.len, max_bytes);
    check_langid(in, n, 0);
    return 0;
}
