/* Token shards: a file of token ids with a versioned header, memory-mapped for reading.
 *
 * Format, version 1 (all integers little-endian; docs/data-format.md has the same in prose):
 *
 *   offset size  field
 *        0    8  magic        the bytes "HLMSHARD"
 *        8    4  version      u32, 1
 *       12    4  token_bytes  u32, 2 (uint16 tokens) or 4 (uint32 tokens)
 *       16    8  n_tokens     u64, number of tokens after the header
 *       24    8  n_docs       u64, number of documents (<= n_tokens)
 *       32    4  vocab_size   u32, > 0; every token is < vocab_size
 *       36    4  eot_id       u32, < vocab_size: the end-of-text token that ends every document
 *       40    8  checksum     u64, XXH64 (seed 0) of the n_tokens * token_bytes token bytes as stored
 *       48   16  reserved     written as zero, ignored by version-1 readers
 *       64   ..  tokens       n_tokens ids of token_bytes bytes each; nothing follows them
 *
 * Documents are joined as doc EOT doc EOT ...: every document is followed by eot_id, so a shard
 * written one document at a time ends with EOT and n_docs counts the EOTs written that way.
 * Writers choose token_bytes 2 when vocab_size <= 65536, else 4. A reader checks the magic, the
 * version, the token width, vocab_size > 0, eot_id < vocab_size, n_docs <= n_tokens, and that the
 * file is exactly 64 + n_tokens * token_bytes bytes; with verification also the checksum and that
 * every token is < vocab_size. Every failure is HLM_ERR_FORMAT with a message that names the file
 * and the field, with the expected and the found value.
 *
 * Writing is atomic (include/hyperlm/file.h): tokens stream to a temporary file in the same
 * folder, the header is written last, then fsync and rename. An aborted or failed writer leaves
 * no file behind. Shard files are named *.tok (HLM_SHARD_EXT). */
#ifndef HLM_DATA_SHARD_H
#define HLM_DATA_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

#define HLM_SHARD_MAGIC "HLMSHARD"
#define HLM_SHARD_VERSION 1
#define HLM_SHARD_HEADER_BYTES 64
#define HLM_SHARD_EXT ".tok"

/* ---- writing ---- */

typedef struct hlm_shard_writer hlm_shard_writer;

/* Starts a shard at path. token_bytes 0 picks 2 for vocab_size <= 65536, else 4; 2 or 4 forces a
 * width (2 needs vocab_size <= 65536). eot_id must be < vocab_size. */
hlm_status hlm_shard_writer_open(const char *path, uint32_t token_bytes, uint32_t vocab_size, uint32_t eot_id,
                                 hlm_shard_writer **out, hlm_error *err);
/* Appends n raw tokens (no document is counted). HLM_ERR_RANGE, and nothing of this call is
 * written, if a token is >= vocab_size. */
hlm_status hlm_shard_writer_append(hlm_shard_writer *w, const uint32_t *tokens, size_t n, hlm_error *err);
/* Appends eot_id and counts one document. */
hlm_status hlm_shard_writer_end_doc(hlm_shard_writer *w, hlm_error *err);
/* append(tokens, n) then end_doc(). */
hlm_status hlm_shard_writer_append_doc(hlm_shard_writer *w, const uint32_t *tokens, size_t n, hlm_error *err);
uint64_t hlm_shard_writer_n_tokens(const hlm_shard_writer *w);
uint64_t hlm_shard_writer_n_docs(const hlm_shard_writer *w);
/* Writes the header, fsyncs and renames the shard into place. Frees w in every case; on failure
 * nothing is left at path (an older file there stays) and the temporary file is removed. */
hlm_status hlm_shard_writer_commit(hlm_shard_writer *w, hlm_error *err);
/* Removes the temporary file and frees w; path is untouched. NULL is allowed. */
void hlm_shard_writer_abort(hlm_shard_writer *w);

/* ---- reading ---- */

typedef struct hlm_shard hlm_shard;

/* Maps path and validates the header (see above); verify: also the checksum and the token range
 * (one pass over the tokens). */
hlm_status hlm_shard_open(const char *path, int verify, hlm_shard **out, hlm_error *err);
/* The same over bytes in memory, which must stay valid until the shard is closed (not copied);
 * name is used in error messages. For the fuzz target and tests. */
hlm_status hlm_shard_open_mem(const void *data, size_t len, const char *name, int verify, hlm_shard **out,
                              hlm_error *err);
/* The checks of verify for a shard opened without them. */
hlm_status hlm_shard_verify(const hlm_shard *s, hlm_error *err);
void hlm_shard_close(hlm_shard *s);

/* 1 if the file starts with HLM_SHARD_MAGIC (0 if it is shorter, unreadable or a folder). */
int hlm_shard_file_has_magic(const char *path);

const char *hlm_shard_name(const hlm_shard *s);
uint32_t hlm_shard_version(const hlm_shard *s);
uint32_t hlm_shard_token_bytes(const hlm_shard *s);
uint64_t hlm_shard_n_tokens(const hlm_shard *s);
uint64_t hlm_shard_n_docs(const hlm_shard *s);
uint32_t hlm_shard_vocab_size(const hlm_shard *s);
uint32_t hlm_shard_eot_id(const hlm_shard *s);
uint64_t hlm_shard_checksum(const hlm_shard *s);
/* Token i (i < n_tokens; not checked). */
uint32_t hlm_shard_token(const hlm_shard *s, uint64_t i);
/* Copies tokens [pos, pos + n) into out; the caller keeps pos + n <= n_tokens (not checked). Ids
 * must fit int32 (a source checks vocab_size <= 2^31). */
void hlm_shard_copy_i32(const hlm_shard *s, uint64_t pos, size_t n, int32_t *out);
void hlm_shard_copy_u32(const hlm_shard *s, uint64_t pos, size_t n, uint32_t *out);

#endif
