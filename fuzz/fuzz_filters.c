/* The quality filters on arbitrary bytes, in every split mode (English, Korean, other) and with
 * each rule group on or off: hlm_filter_document never fails on valid parameters, gives a reason
 * in range, keeps the input pointer or returns a text no longer than the input (the C4 rules
 * only remove lines), and gives the same result twice with a reused scratch. Input byte 0
 * picks the language and the rule groups; the rest is the text. The word splitter's 64-byte
 * steps and the 16-byte C4 word counts read ahead within the text: ASan sees any overrun. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/filters.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const langs[] = {"en", "ko", "fr", "ja"};
    const char *lang = langs[data[0] & 3];
    hlm_filter_params p;
    hlm_filter_params_default(&p, lang);
    p.gopher_quality = !(data[0] & 4);
    p.gopher_repetition = !(data[0] & 8);
    p.c4 = !(data[0] & 16);
    if (data[0] & 32) p.c4_min_words_per_line = 1, p.c4_max_word_length = 8;
    /* a copy of exactly the text's size, so that any read past it is an overrun */
    size_t n = size - 1;
    uint8_t *text = malloc(n ? n : 1);
    CHECK(text != NULL);
    memcpy(text, data + 1, n);

    static hlm_filter_scratch *s;
    hlm_error err;
    if (!s) CHECK(hlm_filter_scratch_new(&s, &err) == HLM_OK);
    hlm_filter_result r1, r2;
    const uint8_t *o1, *o2;
    size_t l1, l2;
    CHECK(hlm_filter_document(&p, lang, text, n, s, &r1, &o1, &l1, &err) == HLM_OK);
    CHECK((unsigned)r1.reason < HLM_FILTER_REASON_COUNT);
    CHECK(o1 == text ? l1 == n : l1 <= n);
    uint8_t *copy = malloc(l1 ? l1 : 1);
    CHECK(copy != NULL);
    memcpy(copy, o1, l1);
    CHECK(hlm_filter_document(&p, lang, text, n, s, &r2, &o2, &l2, &err) == HLM_OK);
    CHECK(r2.reason == r1.reason && r2.lines_removed == r1.lines_removed && l2 == l1);
    CHECK(memcmp(r2.value == r2.value ? &r2.value : &r1.value, &r1.value, sizeof r1.value) == 0);
    CHECK(memcmp(o2, copy, l1) == 0);
    free(copy);
    free(text);
    return 0;
}
