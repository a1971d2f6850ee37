/* Deduplication building blocks: exact keys, line-level boilerplate counts (CCNet, Wenzek et al.
 * 2020) and MinHash LSH near-duplicate clusters (Broder 1997; bands and rows as in Leskovec et
 * al., Mining of Massive Datasets ch. 3). The pipeline (pipeline.c) decides what to keep; these
 * pieces do not read files.
 *
 * Everything is deterministic: the same text gives the same keys and signatures on every machine
 * and thread count, so signatures from N separate runs (--part i/N) can be merged. */
#ifndef HLM_TEXT_DEDUP_H
#define HLM_TEXT_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

/* ---- exact ---- */

typedef struct hlm_key128 {
    uint64_t lo, hi;
} hlm_key128;

/* XXH3-128 of the text with case folded (ASCII and via utf8proc for the rest), every run of
 * whitespace made one space and leading/trailing whitespace dropped: two documents that differ
 * only in those get the same key. */
hlm_key128 hlm_dedup_exact_key(const uint8_t *text, size_t len);

/* An open-addressing set of 128-bit keys (16 bytes per slot, kept at most 70% full). */
typedef struct hlm_keyset hlm_keyset;
hlm_status hlm_keyset_new(hlm_keyset **out, size_t expected, hlm_error *err);
/* Sets *inserted = 1 if key was new (and adds it), 0 if it was already there. */
hlm_status hlm_keyset_insert(hlm_keyset *s, hlm_key128 key, int *inserted, hlm_error *err);
size_t hlm_keyset_count(const hlm_keyset *s);
size_t hlm_keyset_bytes(const hlm_keyset *s);
void hlm_keyset_free(hlm_keyset *s);

/* ---- line-level boilerplate (CCNet) ----
 * A line's key is the 64-bit hash of the line lowercased, digits replaced by 0, and punctuation
 * and whitespace at the ends stripped (CCNet's normalization). Each document contributes each of
 * its distinct line keys once; a line whose key occurs in at least min_docs documents is
 * boilerplate (menus, copyright lines, "Share this") and is removed. Lines shorter than
 * min_line_chars characters after normalization are never counted or removed (short lines such as
 * "1." or "예" repeat innocently). Digits are any \p{N}, each made '0'; runs of whitespace inside a
 * line count as one space (dedup_lines.c has the details and the serialized format). */

typedef struct hlm_line_counts hlm_line_counts;
/* max_bytes bounds the table; when it is full, new keys are no longer added (counted in
 * hlm_line_counts_dropped) and lines already counted keep counting. */
hlm_status hlm_line_counts_new(hlm_line_counts **out, size_t max_bytes, size_t min_line_chars, hlm_error *err);
/* Adds the distinct line keys of one document. Not thread-safe: callers add from one thread or
 * compute keys in parallel with hlm_line_keys and add them with hlm_line_counts_add_keys. */
hlm_status hlm_line_counts_add(hlm_line_counts *c, const uint8_t *text, size_t len, hlm_error *err);
/* The distinct keys of the document's countable lines, appended to keys (thread-safe). */
hlm_status hlm_line_keys(const uint8_t *text, size_t len, size_t min_line_chars, hlm_buf *keys_u64,
                         hlm_error *err);
hlm_status hlm_line_counts_add_keys(hlm_line_counts *c, const uint64_t *keys, size_t n, hlm_error *err);
/* Adds every count of src into dst (merging parts). */
hlm_status hlm_line_counts_merge(hlm_line_counts *dst, const hlm_line_counts *src, hlm_error *err);
uint32_t hlm_line_counts_get(const hlm_line_counts *c, uint64_t key);
size_t hlm_line_counts_entries(const hlm_line_counts *c);
size_t hlm_line_counts_bytes(const hlm_line_counts *c);
uint64_t hlm_line_counts_dropped(const hlm_line_counts *c);
/* Serialization for --part runs: a flat little-endian array written/read by the pipeline. */
hlm_status hlm_line_counts_save(const hlm_line_counts *c, hlm_buf *out, hlm_error *err);
hlm_status hlm_line_counts_load(hlm_line_counts *c, const uint8_t *data, size_t len, const char *name,
                                hlm_error *err); /* adds into c */
void hlm_line_counts_free(hlm_line_counts *c);

/* Writes text without its boilerplate lines (count >= min_docs) to out (cleared first) and sets
 * *removed to the number of lines removed. Read-only on c: thread-safe. */
hlm_status hlm_line_dedup_apply(const hlm_line_counts *c, uint32_t min_docs, const uint8_t *text, size_t len,
                                hlm_buf *out, size_t *removed, hlm_error *err);

/* ---- MinHash LSH ---- */

/* Korean shingles: char_ngram characters with the spaces removed (spacing varies between copies of
 * a text); word_ngram words, a word cut where its kind changes (Hangul, Latin, digits, jamo), as
 * datatrove's Korean MinHash shingles in practice (its simplify_text decomposes Hangul to jamo
 * before Kiwi, which then finds no morphemes); or word_ngram morphemes (ko_seg.c), what Kiwi
 * gives on syllables. See minhash.c. */
enum { HLM_KO_SHINGLES_CHARACTERS = 0, HLM_KO_SHINGLES_WORDS, HLM_KO_SHINGLES_MORPHEMES };
extern const char *const hlm_ko_shingles_names[3]; /* by HLM_KO_SHINGLES_*: the config's values */

typedef struct hlm_minhash_params {
    int bands, rows;     /* 14 x 8 by default: P(candidate) = 1 - (1 - J^8)^14; 0.5 at J ~ 0.72 */
    int word_ngram;      /* shingle size in words for spaced text; default 5 */
    int char_ngram;      /* shingle size in characters for unspaced text (Han, Kana, Thai; and
                            Korean, whose spacing is unreliable); default 5 */
    int korean_shingles; /* HLM_KO_SHINGLES_*: how Korean is shingled; default characters */
    uint64_t seed;       /* default 1 */
} hlm_minhash_params;

void hlm_minhash_params_default(hlm_minhash_params *p);

typedef struct hlm_minhash hlm_minhash;
hlm_status hlm_minhash_new(hlm_minhash **out, const hlm_minhash_params *p, hlm_error *err);
void hlm_minhash_free(hlm_minhash *m);

/* One 64-bit hash per band (bands entries) of the document's MinHash signature. Text is
 * lowercased and punctuation-stripped before shingling (as datatrove's simplify_text); unspaced
 * shingling is used when lang is "ko", "ja", "zh", "th" (or, with lang NULL, when most letters are
 * in such a script). A text shorter than one shingle is one shingle. Thread-safe with one scratch
 * buffer per thread. The exact simplification and shingling are described at the top of minhash.c. */
hlm_status hlm_minhash_bands(const hlm_minhash *m, const uint8_t *text, size_t len, const char *lang,
                             uint64_t *band_hashes, hlm_buf *scratch, hlm_error *err);
/* The signature itself (same text handling as hlm_minhash_bands): bands * rows values, each in
 * [0, 2^61 - 1). The fraction of positions where two signatures agree estimates the Jaccard
 * similarity of the two documents' shingle sets. */
hlm_status hlm_minhash_signature(const hlm_minhash *m, const uint8_t *text, size_t len, const char *lang,
                                 uint64_t *sig, hlm_buf *scratch, hlm_error *err);

/* Collects band hashes of many documents and finds clusters: documents sharing any band hash
 * are joined (union-find); in each cluster the document with the smallest doc number is kept.
 * Memory: hlm_lsh_bytes_per_doc(bands) per document. */
typedef struct hlm_lsh hlm_lsh;
hlm_status hlm_lsh_new(hlm_lsh **out, int bands, hlm_error *err);
/* doc numbers need not be dense or sorted, but must be unique. */
hlm_status hlm_lsh_add(hlm_lsh *l, uint64_t doc, const uint64_t *band_hashes, hlm_error *err);
/* Sorts and clusters; afterwards hlm_lsh_is_duplicate answers for every added doc. */
hlm_status hlm_lsh_cluster(hlm_lsh *l, hlm_error *err);
/* 1 if doc is in a cluster whose kept document is another one; 0 if kept or unknown. */
int hlm_lsh_is_duplicate(const hlm_lsh *l, uint64_t doc);
/* The kept document of doc's cluster (doc itself when kept). */
uint64_t hlm_lsh_representative(const hlm_lsh *l, uint64_t doc);
size_t hlm_lsh_docs(const hlm_lsh *l);
size_t hlm_lsh_clusters(const hlm_lsh *l); /* clusters with two or more documents */
size_t hlm_lsh_bytes_per_doc(int bands);
void hlm_lsh_free(hlm_lsh *l);

#endif
