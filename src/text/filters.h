/* Quality filters: the Gopher quality and repetition rules (Rae et al. 2021, appendix A) and the
 * C4 rules (Raffel et al. 2020, section 2.2), with thresholds per language.
 *
 * Definitions follow datatrove's implementations (GopherQualityFilter, GopherRepetitionFilter,
 * C4QualityFilter), which are the bench's peer, so that on the same input the same documents are
 * kept; where we differ (word splitting for languages without a tokenizer, Korean), filters.c
 * says so at the rule. Korean defaults are FineWeb-2's tuned values for kor_Hang.
 *
 * A document either passes, possibly with lines removed (the C4 line rules and the optional
 * citation removal change the text), or fails with exactly one reason: the first rule, in the
 * order of hlm_filter_reason, that it breaks. Thread-safe with one hlm_filter_scratch per thread. */
#ifndef HLM_TEXT_FILTERS_H
#define HLM_TEXT_FILTERS_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

typedef enum hlm_filter_reason {
    HLM_FILTER_KEEP = 0,
    /* C4 (document level, after the line rules) */
    HLM_FILTER_C4_LOREM_IPSUM,
    HLM_FILTER_C4_CURLY_BRACE,
    HLM_FILTER_C4_TOO_FEW_SENTENCES,
    HLM_FILTER_C4_BAD_WORDS,
    /* Gopher quality */
    HLM_FILTER_TOO_FEW_WORDS,
    HLM_FILTER_TOO_MANY_WORDS,
    HLM_FILTER_MEAN_WORD_LEN_LOW,
    HLM_FILTER_MEAN_WORD_LEN_HIGH,
    HLM_FILTER_SYMBOL_WORD_RATIO,
    HLM_FILTER_BULLET_LINES,
    HLM_FILTER_ELLIPSIS_LINES,
    HLM_FILTER_NON_ALPHA_WORDS,
    HLM_FILTER_STOP_WORDS,
    /* Gopher repetition */
    HLM_FILTER_DUP_LINE_FRAC,
    HLM_FILTER_DUP_PARA_FRAC,
    HLM_FILTER_DUP_LINE_CHAR_FRAC,
    HLM_FILTER_DUP_PARA_CHAR_FRAC,
    HLM_FILTER_TOP_2GRAM,
    HLM_FILTER_TOP_3GRAM,
    HLM_FILTER_TOP_4GRAM,
    HLM_FILTER_DUP_5GRAM,
    HLM_FILTER_DUP_6GRAM,
    HLM_FILTER_DUP_7GRAM,
    HLM_FILTER_DUP_8GRAM,
    HLM_FILTER_DUP_9GRAM,
    HLM_FILTER_DUP_10GRAM,
    HLM_FILTER_REASON_COUNT
} hlm_filter_reason;

/* Stable snake_case names ("gopher_too_few_words", "c4_lorem_ipsum", ...) for report.json. */
const char *hlm_filter_reason_name(hlm_filter_reason r);

/* Every threshold. A ratio or count rule is off when its field is negative; flags are 0/1. */
typedef struct hlm_filter_params {
    /* which rule groups run */
    int gopher_quality, gopher_repetition, c4;
    /* Gopher quality */
    double min_doc_words, max_doc_words;
    double min_avg_word_length, max_avg_word_length;
    double max_symbol_word_ratio;
    double max_bullet_lines_ratio, max_ellipsis_lines_ratio;
    double max_non_alpha_words_ratio;
    double min_stop_words;
    /* Gopher repetition */
    double dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac;
    double top_2gram_frac, top_3gram_frac, top_4gram_frac;
    double dup_5gram_frac, dup_6gram_frac, dup_7gram_frac, dup_8gram_frac, dup_9gram_frac, dup_10gram_frac;
    /* C4 */
    int c4_remove_no_terminal_punct_lines, c4_remove_javascript_lines, c4_remove_policy_lines;
    int c4_remove_citations, c4_filter_lorem_ipsum, c4_filter_curly_brace, c4_filter_bad_words;
    double c4_min_words_per_line, c4_max_word_length, c4_min_sentences;
    /* Stop words for min_stop_words: built in for the languages in filters.c; NULL = built in.
     * NULL-terminated; matched against whole words, case-sensitively (as datatrove does), except
     * for "ko", where a stop word also counts at the end of a word (particles and endings are
     * written attached; see filters.c). */
    const char *const *stop_words;
    /* Bad words for c4_filter_bad_words (C4BadWordsFilter: the lowercased text contains one
     * flanked by non-word characters), NULL-terminated, lowercase. No list is built in (C4's
     * lists are downloaded by datatrove at run time), so setting c4_filter_bad_words without a
     * list is HLM_ERR_INVALID in hlm_filter_document. */
    const char *const *bad_words;
} hlm_filter_params;

/* Fills p with the defaults for lang ("ko", "en", ...; unknown languages get the English
 * Gopher/C4 values with the rules that need English words turned off). */
void hlm_filter_params_default(hlm_filter_params *p, const char *lang);

/* Sets one field by its name (the field names above, e.g. "dup_line_frac"); for config files.
 * HLM_ERR_INVALID names the unknown field. */
hlm_status hlm_filter_param_set(hlm_filter_params *p, const char *name, double value, hlm_error *err);
/* All field names settable by hlm_filter_param_set, NULL-terminated (docs, config validation). */
const char *const *hlm_filter_param_names(void);
/* Current value of a named field (for report.json); NAN if unknown. */
double hlm_filter_param_get(const hlm_filter_params *p, const char *name);

typedef struct hlm_filter_scratch hlm_filter_scratch;
hlm_status hlm_filter_scratch_new(hlm_filter_scratch **out, hlm_error *err);
void hlm_filter_scratch_free(hlm_filter_scratch *s);

typedef struct hlm_filter_result {
    hlm_filter_reason reason;
    size_t lines_removed; /* by the C4 line rules / citation removal, when kept */
    double value;         /* the measured quantity that failed (ratio, count), for examples */
} hlm_filter_result;

/* Runs the rules on text[0..len) (normalized UTF-8). If the document is kept and lines were
 * removed, *out_text and *out_len point at the modified text inside the scratch (valid until its
 * next use); otherwise at text itself. lang selects the word splitting (see filters.c). */
hlm_status hlm_filter_document(const hlm_filter_params *p, const char *lang, const uint8_t *text, size_t len,
                               hlm_filter_scratch *s, hlm_filter_result *res, const uint8_t **out_text,
                               size_t *out_len, hlm_error *err);

#endif
