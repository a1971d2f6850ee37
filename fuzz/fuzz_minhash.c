/* MinHash signatures of arbitrary document text, in each way of shingling Korean (characters,
 * words, morphemes) and with the language given, Korean or guessed: no crash, every value a
 * residue mod 2^61 - 1, the same signature twice, and band hashes that agree with it (two texts
 * with one signature have the same bands). Input byte 0 picks the language and the shingle size. */
#include <stdint.h>
#include <string.h>

#include "hyperlm/buf.h"
#include "text/dedup.h"
#include "fuzz_check.h"

enum { BANDS = 4, ROWS = 4 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const langs[] = {"ko", NULL, "en", "ja"};
    const char *lang = langs[data[0] & 3];
    const uint8_t *text = data + 1;
    size_t n = size - 1;
    static hlm_buf scratch;
    hlm_error err;
    for (int kind = HLM_KO_SHINGLES_CHARACTERS; kind <= HLM_KO_SHINGLES_MORPHEMES; kind++) {
        hlm_minhash_params p;
        hlm_minhash_params_default(&p);
        p.bands = BANDS, p.rows = ROWS;
        p.word_ngram = p.char_ngram = 1 + (data[0] >> 2 & 7);
        p.korean_shingles = kind;
        hlm_minhash *m;
        CHECK(hlm_minhash_new(&m, &p, &err) == HLM_OK);
        uint64_t a[BANDS * ROWS], b[BANDS * ROWS], bands[BANDS], bands2[BANDS];
        CHECK(hlm_minhash_signature(m, text, n, lang, a, &scratch, &err) == HLM_OK);
        CHECK(hlm_minhash_signature(m, text, n, lang, b, &scratch, &err) == HLM_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
        for (int i = 0; i < BANDS * ROWS; i++) CHECK(a[i] < (1ull << 61) - 1);
        CHECK(hlm_minhash_bands(m, text, n, lang, bands, &scratch, &err) == HLM_OK);
        CHECK(hlm_minhash_bands(m, text, n, lang, bands2, &scratch, &err) == HLM_OK);
        CHECK(memcmp(bands, bands2, sizeof bands) == 0);
        hlm_minhash_free(m);
    }
    return 0;
}
