/* Token sources and the training data loader.
 *
 * A token source is one stream of token ids, addressed by position: a shard (data/shard.h), a
 * list of shards concatenated in name order, or a text/JSONL/TSV file tokenized in memory.
 * The loader cuts a range of a source into (inputs, targets) batches. Batch number `index` is a
 * pure function of (source, config, index): resuming needs only the number of batches taken, and
 * P processes can take batches index * P + rank. Both orders below are specified exactly, so
 * another implementation can replay them (docs/data-format.md says the same in prose).
 *
 * Notation: len = end - begin (the tokens of the range), tok[p] = the source's token at position
 * begin + p, BT = B * T. All arithmetic is on unsigned 64-bit integers, wrapping mod 2^64.
 *
 * HLM_ORDER_SEQUENTIAL (llm.c's DataLoader, one pass after another):
 *     n_blocks = (len - 1) / BT
 *     batch k reads the BT + 1 tokens starting at p = (k mod n_blocks) * BT:
 *     inputs[i] = tok[p + i], targets[i] = tok[p + i + 1] for i in [0, BT)
 *   (row b of the (B, T) batch is inputs[b*T .. b*T+T)). llm.c applies the same rule to each shard
 *   on its own; here it applies to the whole concatenated range, so for one shard they agree.
 *
 * HLM_ORDER_SHUFFLED (the default): the range is cut into windows of T + 1 tokens that start at
 * multiples of T (consecutive windows share one token, so every token is a target once):
 *     n_win = (len - 1) / T,   window w = tok[w*T .. w*T + T]
 *   Samples are numbered s = 0, 1, 2, ... and batch k holds samples s = k*B + j, j in [0, B):
 *     epoch e = s / n_win,  w = perm(seed, e, s mod n_win)
 *     inputs[j*T + t] = tok[w*T + t], targets[j*T + t] = tok[w*T + t + 1] for t in [0, T)
 *   so every window is used exactly once per epoch, in a fresh order each epoch, and a batch may
 *   span two epochs when B does not divide n_win.
 *
 *   perm(seed, e, x) is a bijection of [0, n_win), computed in O(1) memory by a 4-round Feistel
 *   network with cycle walking:
 *     mix(z):  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *              return z ^ (z >> 31)                                   (splitmix64's finalizer)
 *     G = 0x9E3779B97F4A7C15
 *     keys:    state = mix(seed + G) ^ e; for r in 0..3: state += G; key[r] = mix(state)
 *     h = the smallest integer >= 1 with 4^h >= n_win (bits per half, h <= 32); mask = 2^h - 1
 *     F(x):    L = x >> h, R = x & mask;
 *              for r in 0..3: (L, R) = (R, L ^ (mix(R ^ key[r]) & mask));
 *              return (L << h) | R                                    (a bijection of [0, 4^h))
 *     perm:    y = F(x); while (y >= n_win) y = F(y); return y
 *   F permutes [0, 4^h), so walking F's cycle from x reaches a value < n_win again; as 4^h is
 *   at most 4 * n_win, a walk takes at most 4 steps on average.
 *
 * Thread safety: sources and loaders are read-only after creation; hlm_loader_batch may be called
 * from many threads at once. */
#ifndef HLM_DATA_LOADER_H
#define HLM_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"
#include "hyperlm/tokenizer.h"
#include "text/docs.h"

/* ---- token sources ---- */

typedef struct hlm_token_source hlm_token_source;

/* The special token that ends every document of a tokenized text source. */
#define HLM_EOT_TEXT "<|endoftext|>"

/* path is one of:
 *  - a shard file (recognized by its magic, whatever the name);
 *  - a folder: all its *.tok shards, in byte order of their names (strcmp);
 *  - a pattern with '*', '?' or '[' (glob(3)), e.g. "data/train-*.tok": the shards it matches,
 *    in the same order;
 *  - any other file: text, JSONL or TSV (optionally .gz/.zst; the format from the name as in
 *    text/docs.h), tokenized in memory with the tokenizer at tokenizer_path (then required). Each
 *    JSONL record or TSV row is one document; a plain text file is one document. Every document
 *    is followed by the tokenizer's special token "<|endoftext|>", which must exist.
 * Shards are verified when opened (checksum and token range, one pass over each); all shards of a
 * source must agree on vocab_size and eot_id. vocab_size must be <= 2^31 (ids are int32 batches). */
hlm_status hlm_token_source_open(const char *path, const char *tokenizer_path, hlm_token_source **out,
                                 hlm_error *err);
/* A text/JSONL/TSV file with a loaded tokenizer and reader options (opts NULL: defaults);
 * n_threads for encoding (<= 0: all CPUs). */
hlm_status hlm_token_source_open_text(const char *path, const hlm_tokenizer *tok, const hlm_doc_reader_opts *opts,
                                      int n_threads, hlm_token_source **out, hlm_error *err);
/* A copy of n tokens in memory (every token < vocab_size, eot_id < vocab_size): for tests and
 * synthetic data. */
hlm_status hlm_token_source_from_tokens(const uint32_t *tokens, size_t n, uint32_t vocab_size, uint32_t eot_id,
                                        hlm_token_source **out, hlm_error *err);
void hlm_token_source_free(hlm_token_source *src);

size_t hlm_token_source_length(const hlm_token_source *src);
uint32_t hlm_token_source_vocab_size(const hlm_token_source *src);
uint32_t hlm_token_source_eot_id(const hlm_token_source *src);
/* Number of documents (the shards' n_docs, or the documents tokenized). */
uint64_t hlm_token_source_n_docs(const hlm_token_source *src);
/* Number of shard files (0 for a text or memory source). */
size_t hlm_token_source_n_shards(const hlm_token_source *src);
/* Copies tokens [pos, pos + n) into out, across shard boundaries. HLM_ERR_RANGE (nothing copied)
 * if pos + n > length. */
hlm_status hlm_token_source_copy(const hlm_token_source *src, size_t pos, size_t n, int32_t *out);

/* The id of the tokenizer's special token "<|endoftext|>"; HLM_ERR_INVALID naming it if absent. */
hlm_status hlm_data_find_eot(const hlm_tokenizer *tok, uint32_t *eot_id, hlm_error *err);
/* format, or for HLM_DOC_AUTO the format text/docs.h chooses from path's name. Sources and
 * `hyperlm data tokenize` need it: a plain text file is one document, a JSONL record or TSV row
 * is one document. */
hlm_doc_format hlm_data_doc_format(const char *path, hlm_doc_format format);

/* ---- loader ---- */

enum { HLM_ORDER_SHUFFLED = 0, HLM_ORDER_SEQUENTIAL = 1 };

typedef struct hlm_loader_config {
    int B, T;            /* batch size and sequence length, both > 0 */
    int order;           /* HLM_ORDER_SHUFFLED (0, the default) or HLM_ORDER_SEQUENTIAL */
    uint64_t seed;       /* shuffled order only */
    size_t begin, end;   /* the range [begin, end) of the source; end 0: to the end */
} hlm_loader_config;

typedef struct hlm_loader hlm_loader;

/* Checks the config against the source: HLM_ERR_INVALID if B or T is not > 0, the order is
 * unknown, the range is outside the source or holds fewer than B*T + 1 tokens. The source must
 * outlive the loader. */
hlm_status hlm_loader_create(const hlm_token_source *src, const hlm_loader_config *cfg, hlm_loader **out,
                             hlm_error *err);
void hlm_loader_free(hlm_loader *l);

/* Fills inputs and targets (B*T ids each, row-major (B, T)) with batch number index. */
void hlm_loader_batch(const hlm_loader *l, uint64_t index, int32_t *inputs, int32_t *targets);
/* Whole batches in one pass over the range: n_blocks (sequential) or n_win / B (shuffled). */
uint64_t hlm_loader_batches_per_epoch(const hlm_loader *l);
/* n_blocks (sequential) or n_win (shuffled). */
uint64_t hlm_loader_n_windows(const hlm_loader *l);
/* The config as used: end 0 replaced by the source's length. */
const hlm_loader_config *hlm_loader_get_config(const hlm_loader *l);

/* perm(seed, epoch, x) of the shuffled order for [0, n) (n > 0, x < n), exposed for tests and
 * tools. */
uint64_t hlm_loader_permute(uint64_t seed, uint64_t epoch, uint64_t n, uint64_t x);

#endif
