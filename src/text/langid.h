/* Language identification in two steps.
 *
 * 1. Script: every letter is counted by Unicode script (Hangul, Latin, Han, Hiragana/Katakana,
 *    Cyrillic, Arabic, Greek, Hebrew, Thai, Devanagari, ...). Scripts that one language owns
 *    decide directly (Hangul -> ko; any Kana share above a small threshold -> ja; Thai -> th,
 *    Greek -> el, Hebrew -> he, ...), Han without Kana -> zh.
 * 2. Languages that share a script (Latin: en, de, fr, es, it, pt, nl, pl, sv, ...; Cyrillic:
 *    ru, uk, bg, ...) are told apart by a character n-gram model (1..4-grams with word
 *    boundaries, naive Bayes over log-probabilities, Cavnar & Trenkle / langid.py style), trained
 *    by tools/gen_langid_model.py on text from Debian packages and compiled in
 *    (src/text/langid_model.inc), so nothing is loaded at run time.
 *
 * The score is the winning language's posterior probability in [0, 1] (for a script decision:
 * that script's share of the letters). Text with fewer than a handful of letters is "und" with
 * score 0. Codes are ISO 639-1 where one exists. Thread-safe; no allocation per call.
 *
 * Details of the implementation (langid.c): for the script decision a Hangul syllable, an
 * ideograph or a kana counts as three letters (its UTF-8 length; about the information of three
 * alphabet letters), so Korean with English terms stays Korean; Han and kana count together, and
 * kana at 5 % or more of them means ja. A script decision's score is that weighted share; an
 * n-gram decision's score is the posterior (log-likelihoods tempered by 4, since overlapping
 * n-grams are far from independent) times the weighted share of its script. Fewer than 8
 * weighted letters is "und". The n-gram model knows en de fr es it pt nl pl sv cs da fi hu ro
 * tr vi (Latin) and ru uk sr mk (Cyrillic); other Latin or Cyrillic languages get the closest
 * of these. */
#ifndef HLM_TEXT_LANGID_H
#define HLM_TEXT_LANGID_H

#include <stddef.h>
#include <stdint.h>

typedef struct hlm_lang_result {
    char lang[8];  /* "ko", "en", ..., "und" */
    float score;   /* in [0, 1] */
    /* Letter shares by script, for the report and for filters (sum <= 1). */
    float hangul_share, latin_share, han_share, kana_share;
} hlm_lang_result;

/* Identifies the language of s[0..len) (UTF-8; invalid bytes are ignored). Only the first
 * max_bytes are read when max_bytes > 0 (cut at a character boundary); 0 reads all. */
void hlm_langid(const uint8_t *s, size_t len, size_t max_bytes, hlm_lang_result *out);

/* The languages the model can name, as a NULL-terminated list. */
const char *const *hlm_langid_languages(void);

#endif
