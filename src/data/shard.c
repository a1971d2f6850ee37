/* Token shards: the writer (streaming, atomic) and the memory-mapped reader. The format is
 * documented in shard.h and docs/data-format.md.
 *
 * Invariants: a writer's file holds a zeroed header and then exactly n_tokens tokens until
 * commit writes the real header over it; a reader's bytes are never read past len, and after
 * open, len == 64 + n_tokens * token_bytes, so token(i) for i < n_tokens is in bounds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "data/shard.h"
#include "hyperlm/file.h"

/* ---- little-endian helpers ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* ---- writer ---- */

#define WRITE_BUF_BYTES (1u << 20)

struct hlm_shard_writer {
    hlm_atomic_file f;
    XXH64_state_t *hash;
    uint8_t *buf;   /* encoded tokens not yet written */
    size_t buf_len;
    uint32_t token_bytes, vocab_size, eot_id;
    uint64_t n_tokens, n_docs;
    int failed;     /* a write failed: commit refuses */
    int saved_errno;
};

hlm_status hlm_shard_writer_open(const char *path, uint32_t token_bytes, uint32_t vocab_size, uint32_t eot_id,
                                 hlm_shard_writer **out, hlm_error *err)
{
    *out = NULL;
    if (vocab_size == 0) return hlm_errorf(err, HLM_ERR_INVALID, "%s: vocab_size must be > 0", path);
    if (eot_id >= vocab_size)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: eot_id %u must be < vocab_size %u", path, eot_id, vocab_size);
    if (token_bytes == 0) token_bytes = vocab_size <= 65536 ? 2 : 4;
    if (token_bytes != 2 && token_bytes != 4)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: token_bytes must be 2 or 4, got %u", path, token_bytes);
    if (token_bytes == 2 && vocab_size > 65536)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: token_bytes 2 holds ids < 65536, but vocab_size is %u", path,
                          vocab_size);
    hlm_shard_writer *w = calloc(1, sizeof *w);
    if (!w) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    w->token_bytes = token_bytes;
    w->vocab_size = vocab_size;
    w->eot_id = eot_id;
    w->hash = XXH64_createState();
    w->buf = malloc(WRITE_BUF_BYTES);
    if (!w->hash || !w->buf) {
        hlm_shard_writer_abort(w);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    }
    XXH64_reset(w->hash, 0);
    hlm_status st = hlm_atomic_open(&w->f, path, err);
    if (st) {
        hlm_shard_writer_abort(w);
        return st;
    }
    static const uint8_t zero[HLM_SHARD_HEADER_BYTES];
    if (fwrite(zero, 1, sizeof zero, w->f.fp) != sizeof zero) {
        st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        hlm_shard_writer_abort(w);
        return st;
    }
    *out = w;
    return HLM_OK;
}

static void flush_buf(hlm_shard_writer *w)
{
    if (!w->buf_len) return;
    XXH64_update(w->hash, w->buf, w->buf_len);
    if (!w->failed && fwrite(w->buf, 1, w->buf_len, w->f.fp) != w->buf_len) {
        w->failed = 1;
        w->saved_errno = errno;
    }
    w->buf_len = 0;
}

static void put_tokens(hlm_shard_writer *w, const uint32_t *tokens, size_t n)
{
    size_t per_flush = WRITE_BUF_BYTES / w->token_bytes;
    while (n) {
        size_t room = per_flush - w->buf_len / w->token_bytes, k = n < room ? n : room;
        uint8_t *p = w->buf + w->buf_len;
        if (w->token_bytes == 2)
            for (size_t i = 0; i < k; i++, p += 2) p[0] = (uint8_t)tokens[i], p[1] = (uint8_t)(tokens[i] >> 8);
        else
            for (size_t i = 0; i < k; i++, p += 4) put_u32(p, tokens[i]);
        w->buf_len += k * w->token_bytes;
        w->n_tokens += k;
        tokens += k;
        n -= k;
        if (w->buf_len == per_flush * w->token_bytes) flush_buf(w);
    }
}

hlm_status hlm_shard_writer_append(hlm_shard_writer *w, const uint32_t *tokens, size_t n, hlm_error *err)
{
    uint32_t max = 0;
    for (size_t i = 0; i < n; i++) max = tokens[i] > max ? tokens[i] : max;
    if (n && max >= w->vocab_size) {
        size_t i = 0;
        while (tokens[i] < w->vocab_size) i++;
        return hlm_errorf(err, HLM_ERR_RANGE, "%s: token %zu of the appended %zu is %u, expected < vocab_size %u",
                          w->f.path, i, n, tokens[i], w->vocab_size);
    }
    put_tokens(w, tokens, n);
    if (w->failed)
        return hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", w->f.path, strerror(w->saved_errno));
    return HLM_OK;
}

hlm_status hlm_shard_writer_end_doc(hlm_shard_writer *w, hlm_error *err)
{
    hlm_status st = hlm_shard_writer_append(w, &w->eot_id, 1, err);
    if (!st) w->n_docs++;
    return st;
}

hlm_status hlm_shard_writer_append_doc(hlm_shard_writer *w, const uint32_t *tokens, size_t n, hlm_error *err)
{
    hlm_status st = hlm_shard_writer_append(w, tokens, n, err);
    return st ? st : hlm_shard_writer_end_doc(w, err);
}

uint64_t hlm_shard_writer_n_tokens(const hlm_shard_writer *w) { return w->n_tokens; }
uint64_t hlm_shard_writer_n_docs(const hlm_shard_writer *w) { return w->n_docs; }

hlm_status hlm_shard_writer_commit(hlm_shard_writer *w, hlm_error *err)
{
    flush_buf(w);
    uint8_t h[HLM_SHARD_HEADER_BYTES] = {0};
    memcpy(h, HLM_SHARD_MAGIC, 8);
    put_u32(h + 8, HLM_SHARD_VERSION);
    put_u32(h + 12, w->token_bytes);
    put_u64(h + 16, w->n_tokens);
    put_u64(h + 24, w->n_docs);
    put_u32(h + 32, w->vocab_size);
    put_u32(h + 36, w->eot_id);
    put_u64(h + 40, XXH64_digest(w->hash));
    if (!w->failed && (fseek(w->f.fp, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, w->f.fp) != sizeof h)) {
        w->failed = 1;
        w->saved_errno = errno;
    }
    hlm_status st;
    if (w->failed)
        st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", w->f.path, strerror(w->saved_errno));
    else
        st = hlm_atomic_commit(&w->f, err);
    hlm_shard_writer_abort(w);
    return st;
}

void hlm_shard_writer_abort(hlm_shard_writer *w)
{
    if (!w) return;
    hlm_atomic_abort(&w->f);
    if (w->hash) XXH64_freeState(w->hash);
    free(w->buf);
    free(w);
}

/* ---- reader ---- */

struct hlm_shard {
    hlm_mmap map;          /* when opened from a file */
    const uint8_t *data;   /* the whole file */
    size_t len;
    char *name;
    uint32_t version, token_bytes, vocab_size, eot_id;
    uint64_t n_tokens, n_docs, checksum;
};

static hlm_status parse_header(hlm_shard *s, hlm_error *err)
{
    const char *name = s->name;
    if (s->len < HLM_SHARD_HEADER_BYTES)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: truncated header: file is %zu bytes, expected at least %d",
                          name, s->len, HLM_SHARD_HEADER_BYTES);
    const uint8_t *h = s->data;
    if (memcmp(h, HLM_SHARD_MAGIC, 8) != 0) {
        char found[8 * 4 + 1];
        size_t k = 0;
        for (int i = 0; i < 8; i++)
            k += (size_t)snprintf(found + k, sizeof found - k, h[i] >= 0x20 && h[i] < 0x7f ? "%c" : "\\x%02x", h[i]);
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'magic': expected \"%s\", found \"%s\" (not a token shard)",
                          name, HLM_SHARD_MAGIC, found);
    }
    s->version = get_u32(h + 8);
    s->token_bytes = get_u32(h + 12);
    s->n_tokens = get_u64(h + 16);
    s->n_docs = get_u64(h + 24);
    s->vocab_size = get_u32(h + 32);
    s->eot_id = get_u32(h + 36);
    s->checksum = get_u64(h + 40);
    if (s->version != HLM_SHARD_VERSION)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'version': expected %d, found %u", name, HLM_SHARD_VERSION,
                          s->version);
    if (s->token_bytes != 2 && s->token_bytes != 4)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'token_bytes': expected 2 or 4, found %u", name,
                          s->token_bytes);
    if (s->vocab_size == 0)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'vocab_size': expected > 0, found 0", name);
    if (s->eot_id >= s->vocab_size)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'eot_id': expected < vocab_size %u, found %u", name,
                          s->vocab_size, s->eot_id);
    if (s->n_docs > s->n_tokens)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'n_docs': expected <= n_tokens %llu, found %llu", name,
                          (unsigned long long)s->n_tokens, (unsigned long long)s->n_docs);
    uint64_t body = s->len - HLM_SHARD_HEADER_BYTES;
    if (s->n_tokens > body / s->token_bytes || s->n_tokens * s->token_bytes != body) {
        if (s->n_tokens > (UINT64_MAX - HLM_SHARD_HEADER_BYTES) / s->token_bytes)
            return hlm_errorf(err, HLM_ERR_FORMAT,
                              "%s: field 'n_tokens': %llu tokens of %u bytes cannot fit a file of %zu bytes", name,
                              (unsigned long long)s->n_tokens, s->token_bytes, s->len);
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: file size: expected 64 + n_tokens %llu * token_bytes %u = %llu bytes, found %zu "
                          "(truncated or trailing bytes)",
                          name, (unsigned long long)s->n_tokens, s->token_bytes,
                          (unsigned long long)(HLM_SHARD_HEADER_BYTES + s->n_tokens * s->token_bytes), s->len);
    }
    return HLM_OK;
}

hlm_status hlm_shard_verify(const hlm_shard *s, hlm_error *err)
{
    const uint8_t *tokens = s->data + HLM_SHARD_HEADER_BYTES;
    size_t n_bytes = (size_t)(s->n_tokens * s->token_bytes);
    uint64_t sum = XXH64(tokens, n_bytes, 0);
    if (sum != s->checksum)
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: field 'checksum': expected %016llx (header), found %016llx (XXH64 of the %llu token "
                          "bytes): the shard is corrupt",
                          s->name, (unsigned long long)s->checksum, (unsigned long long)sum,
                          (unsigned long long)n_bytes);
    /* the maximum first (a loop that vectorizes), the position only on failure */
    uint32_t max = 0;
    if (s->token_bytes == 2) {
        for (size_t i = 0; i < n_bytes; i += 2) {
            uint32_t v = (uint32_t)tokens[i] | (uint32_t)tokens[i + 1] << 8;
            max = v > max ? v : max;
        }
    } else {
        for (size_t i = 0; i < n_bytes; i += 4) {
            uint32_t v = get_u32(tokens + i);
            max = v > max ? v : max;
        }
    }
    if (s->n_tokens && max >= s->vocab_size) {
        uint64_t i = 0;
        while (hlm_shard_token(s, i) < s->vocab_size) i++;
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: token %llu: expected < vocab_size %u, found %u", s->name,
                          (unsigned long long)i, s->vocab_size, hlm_shard_token(s, i));
    }
    return HLM_OK;
}

static hlm_status shard_new(const char *name, hlm_shard **out, hlm_error *err)
{
    hlm_shard *s = calloc(1, sizeof *s);
    if (s) s->name = strdup(name);
    if (!s || !s->name) {
        free(s);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    }
    *out = s;
    return HLM_OK;
}

static hlm_status shard_finish_open(hlm_shard *s, int verify, hlm_shard **out, hlm_error *err)
{
    hlm_status st = parse_header(s, err);
    if (!st && verify) st = hlm_shard_verify(s, err);
    if (st) {
        hlm_shard_close(s);
        return st;
    }
    *out = s;
    return HLM_OK;
}

hlm_status hlm_shard_open(const char *path, int verify, hlm_shard **out, hlm_error *err)
{
    *out = NULL;
    hlm_shard *s;
    hlm_status st = shard_new(path, &s, err);
    if (st) return st;
    if ((st = hlm_mmap_open(&s->map, path, err))) {
        hlm_shard_close(s);
        return st;
    }
    s->data = s->map.data;
    s->len = s->map.len;
    return shard_finish_open(s, verify, out, err);
}

hlm_status hlm_shard_open_mem(const void *data, size_t len, const char *name, int verify, hlm_shard **out,
                              hlm_error *err)
{
    *out = NULL;
    hlm_shard *s;
    hlm_status st = shard_new(name, &s, err);
    if (st) return st;
    s->data = data;
    s->len = data ? len : 0;
    return shard_finish_open(s, verify, out, err);
}

void hlm_shard_close(hlm_shard *s)
{
    if (!s) return;
    hlm_mmap_close(&s->map);
    free(s->name);
    free(s);
}

int hlm_shard_file_has_magic(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    char m[8];
    ssize_t n;
    do n = read(fd, m, sizeof m);
    while (n < 0 && errno == EINTR);
    close(fd);
    return n == (ssize_t)sizeof m && memcmp(m, HLM_SHARD_MAGIC, 8) == 0;
}

const char *hlm_shard_name(const hlm_shard *s) { return s->name; }
uint32_t hlm_shard_version(const hlm_shard *s) { return s->version; }
uint32_t hlm_shard_token_bytes(const hlm_shard *s) { return s->token_bytes; }
uint64_t hlm_shard_n_tokens(const hlm_shard *s) { return s->n_tokens; }
uint64_t hlm_shard_n_docs(const hlm_shard *s) { return s->n_docs; }
uint32_t hlm_shard_vocab_size(const hlm_shard *s) { return s->vocab_size; }
uint32_t hlm_shard_eot_id(const hlm_shard *s) { return s->eot_id; }
uint64_t hlm_shard_checksum(const hlm_shard *s) { return s->checksum; }

uint32_t hlm_shard_token(const hlm_shard *s, uint64_t i)
{
    const uint8_t *p = s->data + HLM_SHARD_HEADER_BYTES + i * s->token_bytes;
    return s->token_bytes == 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : get_u32(p);
}

void hlm_shard_copy_u32(const hlm_shard *s, uint64_t pos, size_t n, uint32_t *out)
{
    const uint8_t *p = s->data + HLM_SHARD_HEADER_BYTES + pos * s->token_bytes;
    if (s->token_bytes == 2)
        for (size_t i = 0; i < n; i++, p += 2) out[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    else
        for (size_t i = 0; i < n; i++, p += 4) out[i] = get_u32(p);
}

void hlm_shard_copy_i32(const hlm_shard *s, uint64_t pos, size_t n, int32_t *out)
{
    const uint8_t *p = s->data + HLM_SHARD_HEADER_BYTES + pos * s->token_bytes;
    if (s->token_bytes == 2)
        for (size_t i = 0; i < n; i++, p += 2) out[i] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8);
    else
        for (size_t i = 0; i < n; i++, p += 4) out[i] = (int32_t)get_u32(p);
}
