/* The merge-learning core of the BPE trainer (bpe_train_merges.c), kept apart from pre-token
 * counting (bpe_train.c) so that it can be tested on word counts built by hand. */
#ifndef HLM_TOKENIZER_BPE_TRAIN_INTERNAL_H
#define HLM_TOKENIZER_BPE_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"
#include "hyperlm/tokenizer.h"

/* What a trainer has seen and done, for the command's summary. */
typedef struct hlm_bpe_train_stats {
    uint64_t n_docs, n_bytes; /* fed so far */
    uint64_t n_pieces;        /* pre-tokens, special tokens excluded */
    uint64_t n_distinct;      /* distinct pre-tokens of 2+ bytes (known after finish) */
    size_t n_merges;          /* learned (after finish) */
    double learn_s;           /* time spent learning merges */
} hlm_bpe_train_stats;

void hlm_bpe_trainer_stats(const hlm_bpe_trainer *t, hlm_bpe_train_stats *out);

/* Words with frequencies, packed in one array: a word is [n][freq low 32 bits][freq high 32 bits]
 * followed by its n symbols, and is named by the offset of its header, so that the learner's
 * per-pair word lists are 32-bit and a word is one contiguous read. */
typedef struct hlm_bpe_words {
    uint32_t *data;
    size_t len, cap, n_words;
} hlm_bpe_words;

/* Appends a word of n symbols seen freq times and returns where its symbols go, or NULL when
 * out of memory or past 2^32 - 2 array values in all (about 4 G symbols of distinct pieces). */
uint32_t *hlm_bpe_words_push(hlm_bpe_words *w, size_t n, uint64_t freq);
void hlm_bpe_words_free(hlm_bpe_words *w);

/* Learns up to max_merges merges from the words, whose symbols are bytes (0..255, in whatever
 * order the caller chose for ids). The words are rewritten in place as merges apply. Merge k
 * creates symbol 256 + k and is written to merges[k] = {left, right}; *n_merges receives the
 * number made, smaller than max_merges when no pair is seen min_frequency times (0 counts as 1).
 *
 * Semantics (the reference that tests/tokenizer/test_bpe_train.c recomputes from scratch):
 *  - the count of a pair is the sum over words of freq * (number of positions i with
 *    w[i] == left and w[i+1] == right), overlapping positions included ("aaa" holds (a,a) twice);
 *  - the next merge is the pair with the highest count; ties go to the smallest (left, right)
 *    in id order, left first;
 *  - a merge rewrites each word left to right, non-overlapping ("aaaaa" -> "aa aa a").
 * The same words in another order give the same merges. show_progress: an hlm_progress bar
 * labelled "merges". */
hlm_status hlm_bpe_learn_merges(hlm_bpe_words *words, size_t max_merges, uint64_t min_frequency,
                                int show_progress, uint32_t (*merges)[2], size_t *n_merges, hlm_error *err);

#endif
