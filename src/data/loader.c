/* Token sources (shards, folders of shards, tokenized text) and the deterministic batch loader.
 * The orders are specified in loader.h; this file must stay a literal reading of that text. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/rng.h"
#include "data/loader.h"
#include "data/shard.h"
#include "hyperlm/buf.h"

/* ---- token sources ---- */

/* A run of the stream: a shard, or tokens in memory (owned by the source). */
typedef struct segment {
    hlm_shard *shard;
    const uint32_t *mem;
    size_t start, n;
} segment;

struct hlm_token_source {
    segment *segs;
    size_t n_segs, n_shards;
    hlm_ids tokens;   /* text and memory sources */
    size_t len;
    uint32_t vocab_size, eot_id;
    uint64_t n_docs;
};

static hlm_status check_vocab(const char *name, uint32_t vocab_size, hlm_error *err)
{
    if (vocab_size > (1u << 31))
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: vocab_size %u: batches hold int32 ids, so at most 2^31",
                          name, vocab_size);
    return HLM_OK;
}

static hlm_status source_new(hlm_token_source **out, const char *name, hlm_error *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? HLM_OK : hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
}

void hlm_token_source_free(hlm_token_source *src)
{
    if (!src) return;
    for (size_t i = 0; i < src->n_segs; i++) hlm_shard_close(src->segs[i].shard);
    free(src->segs);
    hlm_ids_free(&src->tokens);
    free(src);
}

/* The source's tokens become its one segment. */
static hlm_status memory_segment(hlm_token_source *src, const char *name, hlm_error *err)
{
    src->segs = calloc(1, sizeof *src->segs);
    if (!src->segs) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    src->segs[0].mem = src->tokens.data;
    src->segs[0].n = src->tokens.len;
    src->n_segs = 1;
    src->len = src->tokens.len;
    return HLM_OK;
}

hlm_status hlm_token_source_from_tokens(const uint32_t *tokens, size_t n, uint32_t vocab_size, uint32_t eot_id,
                                        hlm_token_source **out, hlm_error *err)
{
    *out = NULL;
    if (vocab_size == 0 || eot_id >= vocab_size)
        return hlm_errorf(err, HLM_ERR_INVALID, "token source: eot_id %u must be < vocab_size %u", eot_id, vocab_size);
    hlm_status st = check_vocab("token source", vocab_size, err);
    for (size_t i = 0; !st && i < n; i++)
        if (tokens[i] >= vocab_size)
            st = hlm_errorf(err, HLM_ERR_RANGE, "token source: token %zu is %u, expected < vocab_size %u", i,
                            tokens[i], vocab_size);
    hlm_token_source *src = NULL;
    if (!st) st = source_new(&src, "token source", err);
    if (!st && n && hlm_ids_append(&src->tokens, tokens, n))
        st = hlm_errorf(err, HLM_ERR_NOMEM, "token source: out of memory for %zu tokens", n);
    if (!st) {
        src->vocab_size = vocab_size;
        src->eot_id = eot_id;
        for (size_t i = 0; i < n; i++) src->n_docs += tokens[i] == eot_id;
        st = memory_segment(src, "token source", err);
    }
    if (st) {
        hlm_token_source_free(src);
        return st;
    }
    *out = src;
    return HLM_OK;
}

/* Opens paths[0..n) as shards, in that order, and checks that they agree. */
static hlm_status open_shards(char **paths, size_t n, hlm_token_source **out, hlm_error *err)
{
    hlm_token_source *src;
    hlm_status st = source_new(&src, paths[0], err);
    if (st) return st;
    src->segs = calloc(n, sizeof *src->segs);
    if (!src->segs) st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", paths[0]);
    for (size_t i = 0; !st && i < n; i++) {
        hlm_shard *s;
        if ((st = hlm_shard_open(paths[i], 1, &s, err))) break;
        segment *g = &src->segs[src->n_segs++];
        g->shard = s;
        g->start = src->len;
        g->n = (size_t)hlm_shard_n_tokens(s);
        src->len += g->n;
        src->n_docs += hlm_shard_n_docs(s);
        if (i == 0) {
            src->vocab_size = hlm_shard_vocab_size(s);
            src->eot_id = hlm_shard_eot_id(s);
            st = check_vocab(paths[i], src->vocab_size, err);
        } else if (hlm_shard_vocab_size(s) != src->vocab_size) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'vocab_size': expected %u (as in %s), found %u", paths[i],
                            src->vocab_size, paths[0], hlm_shard_vocab_size(s));
        } else if (hlm_shard_eot_id(s) != src->eot_id) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: field 'eot_id': expected %u (as in %s), found %u", paths[i],
                            src->eot_id, paths[0], hlm_shard_eot_id(s));
        }
    }
    src->n_shards = src->n_segs;
    if (st) {
        hlm_token_source_free(src);
        return st;
    }
    *out = src;
    return HLM_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_shard_ext(const char *name)
{
    size_t n = strlen(name), m = strlen(HLM_SHARD_EXT);
    return n > m && strcmp(name + n - m, HLM_SHARD_EXT) == 0;
}

static hlm_status open_folder(const char *dir, hlm_token_source **out, hlm_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return hlm_errorf(err, HLM_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    char **paths = NULL;
    size_t n = 0, cap = 0;
    hlm_status st = HLM_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (!has_shard_ext(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **p = realloc(paths, cap * sizeof *p);
            if (!p) {
                st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            paths = p;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(paths[n] = malloc(len))) {
            st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        snprintf(paths[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (!st && n == 0)
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: folder holds no token shards (*%s files)", dir, HLM_SHARD_EXT);
    if (!st) {
        qsort(paths, n, sizeof *paths, cmp_str);
        st = open_shards(paths, n, out, err);
    }
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    return st;
}

static hlm_status open_glob(const char *pattern, hlm_token_source **out, hlm_error *err)
{
    glob_t g;
    int rc = glob(pattern, GLOB_ERR, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        return hlm_errorf(err, HLM_ERR_IO, "%s: no file matches the pattern", pattern);
    }
    if (rc) {
        globfree(&g);
        return hlm_errorf(err, rc == GLOB_NOSPACE ? HLM_ERR_NOMEM : HLM_ERR_IO, "%s: cannot expand the pattern",
                          pattern);
    }
    qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
    hlm_status st = open_shards(g.gl_pathv, g.gl_pathc, out, err);
    globfree(&g);
    return st;
}

hlm_doc_format hlm_data_doc_format(const char *path, hlm_doc_format format)
{
    if (format != HLM_DOC_AUTO) return format;
    size_t n = strlen(path);
    if (n >= 3 && !strcasecmp(path + n - 3, ".gz")) n -= 3;
    else if (n >= 4 && !strcasecmp(path + n - 4, ".zst")) n -= 4;
    static const char *const jsonl[] = {".jsonl", ".json", ".ndjson"};
    for (size_t i = 0; i < 3; i++) {
        size_t m = strlen(jsonl[i]);
        if (n >= m && !strncasecmp(path + n - m, jsonl[i], m)) return HLM_DOC_JSONL;
    }
    if (n >= 4 && !strncasecmp(path + n - 4, ".tsv", 4)) return HLM_DOC_TSV;
    return HLM_DOC_TEXT;
}

hlm_status hlm_data_find_eot(const hlm_tokenizer *tok, uint32_t *eot_id, hlm_error *err)
{
    for (size_t i = 0; i < hlm_tokenizer_special_count(tok); i++) {
        const char *text;
        uint32_t id;
        hlm_tokenizer_special(tok, i, &text, &id);
        if (!strcmp(text, HLM_EOT_TEXT)) {
            *eot_id = id;
            return HLM_OK;
        }
    }
    return hlm_errorf(err, HLM_ERR_INVALID,
                      "the tokenizer has no special token \"%s\", which is needed to end every document (train one "
                      "with --special '%s')",
                      HLM_EOT_TEXT, HLM_EOT_TEXT);
}

/* Text is encoded in groups of documents (or plain text chunks) of about this many bytes. */
#define ENCODE_GROUP_BYTES (16u << 20)
#define ENCODE_GROUP_DOCS 4096

hlm_status hlm_token_source_open_text(const char *path, const hlm_tokenizer *tok, const hlm_doc_reader_opts *opts,
                                      int n_threads, hlm_token_source **out, hlm_error *err)
{
    *out = NULL;
    uint32_t eot, vocab_size = hlm_tokenizer_vocab_size(tok);
    hlm_status st = hlm_data_find_eot(tok, &eot, err);
    if (st) {
        hlm_error_prefix(err, "%s: ", path);
        return st;
    }
    if ((st = check_vocab(path, vocab_size, err))) return st;

    hlm_doc_reader_opts o = {0};
    if (opts) o = *opts;
    o.format = hlm_data_doc_format(path, o.format);
    int whole_file_is_doc = o.format == HLM_DOC_TEXT;
    hlm_doc_reader *r;
    if ((st = hlm_doc_reader_open(&r, path, &o, err))) return st;
    hlm_token_source *src;
    if ((st = source_new(&src, path, err))) {
        hlm_doc_reader_close(r);
        return st;
    }
    src->vocab_size = vocab_size;
    src->eot_id = eot;

    hlm_buf arena = {0};
    size_t *offs = malloc(ENCODE_GROUP_DOCS * sizeof *offs), *lens = malloc(ENCODE_GROUP_DOCS * sizeof *lens);
    const char **ptrs = malloc(ENCODE_GROUP_DOCS * sizeof *ptrs);
    hlm_ids *outs = calloc(ENCODE_GROUP_DOCS, sizeof *outs);
    if (!offs || !lens || !ptrs || !outs) st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    int more = 1, any = 0;
    while (!st && more) {
        size_t n = 0;
        arena.len = 0;
        while (n < ENCODE_GROUP_DOCS && arena.len < ENCODE_GROUP_BYTES) {
            const char *text;
            size_t len;
            if ((st = hlm_doc_reader_next(r, &text, &len, &more, err)) || !more) break;
            offs[n] = arena.len;
            lens[n] = len;
            if (len && hlm_buf_append(&arena, text, len)) {
                st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            n++;
        }
        if (st || !n) break;
        for (size_t i = 0; i < n; i++) {
            ptrs[i] = arena.data ? (const char *)arena.data + offs[i] : "";
            outs[i].len = 0;
        }
        if ((st = hlm_tokenizer_encode_batch(tok, ptrs, lens, n, 0, n_threads, outs, err))) break;
        for (size_t i = 0; !st && i < n; i++) {
            if (hlm_ids_append(&src->tokens, outs[i].data, outs[i].len) ||
                (!whole_file_is_doc && hlm_ids_push(&src->tokens, eot)))
                st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for %zu tokens", path, src->tokens.len);
        }
        if (!whole_file_is_doc) src->n_docs += n;
        any = 1;
    }
    if (!st && whole_file_is_doc && any) {
        if (hlm_ids_push(&src->tokens, eot)) st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
        src->n_docs = 1;
    }
    if (!st) st = memory_segment(src, path, err);
    for (size_t i = 0; outs && i < ENCODE_GROUP_DOCS; i++) hlm_ids_free(&outs[i]);
    free(outs);
    free(ptrs);
    free(offs);
    free(lens);
    hlm_buf_free(&arena);
    hlm_doc_reader_close(r);
    if (st) {
        hlm_token_source_free(src);
        return st;
    }
    *out = src;
    return HLM_OK;
}

hlm_status hlm_token_source_open(const char *path, const char *tokenizer_path, hlm_token_source **out,
                                 hlm_error *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (strpbrk(path, "*?[")) return open_glob(path, out, err);
        return hlm_errorf(err, HLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) return open_folder(path, out, err);
    if (hlm_shard_file_has_magic(path)) {
        char *one = (char *)path;
        return open_shards(&one, 1, out, err);
    }
    if (!tokenizer_path)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "%s: not a token shard (no \"%s\" magic); a tokenizer is needed to read it as text, JSONL "
                          "or TSV",
                          path, HLM_SHARD_MAGIC);
    hlm_tokenizer *tok;
    hlm_status st = hlm_tokenizer_load(tokenizer_path, -1, &tok, err);
    if (st) return st;
    st = hlm_token_source_open_text(path, tok, NULL, 0, out, err);
    hlm_tokenizer_free(tok);
    return st;
}

size_t hlm_token_source_length(const hlm_token_source *src) { return src->len; }
uint32_t hlm_token_source_vocab_size(const hlm_token_source *src) { return src->vocab_size; }
uint32_t hlm_token_source_eot_id(const hlm_token_source *src) { return src->eot_id; }
uint64_t hlm_token_source_n_docs(const hlm_token_source *src) { return src->n_docs; }
size_t hlm_token_source_n_shards(const hlm_token_source *src) { return src->n_shards; }

hlm_status hlm_token_source_copy(const hlm_token_source *src, size_t pos, size_t n, int32_t *out)
{
    if (pos > src->len || n > src->len - pos) return HLM_ERR_RANGE;
    if (!n) return HLM_OK;
    /* the last segment that starts at or before pos */
    size_t lo = 0, hi = src->n_segs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (src->segs[mid].start <= pos) lo = mid;
        else hi = mid;
    }
    for (size_t i = lo; n; i++) {
        const segment *g = &src->segs[i];
        size_t off = pos - g->start;
        if (off >= g->n) continue; /* an empty shard */
        size_t k = g->n - off < n ? g->n - off : n;
        if (g->shard) {
            hlm_shard_copy_i32(g->shard, off, k, out);
        } else {
            for (size_t j = 0; j < k; j++) out[j] = (int32_t)g->mem[off + j];
        }
        out += k;
        pos += k;
        n -= k;
    }
    return HLM_OK;
}

/* ---- the shuffled order's permutation (loader.h) ---- */

typedef struct feistel {
    uint64_t key[4];
    uint64_t mask;
    int h;
} feistel;

static void feistel_init(feistel *f, uint64_t seed, uint64_t epoch, uint64_t n)
{
    uint64_t state = hlm_mix64(seed + HLM_GOLDEN64) ^ epoch;
    for (int r = 0; r < 4; r++) {
        state += HLM_GOLDEN64;
        f->key[r] = hlm_mix64(state);
    }
    int h = 1;
    while (h < 32 && (1ull << (2 * h)) < n) h++;
    f->h = h;
    f->mask = h == 32 ? 0xFFFFFFFFull : (1ull << h) - 1;
}

static uint64_t feistel_apply(const feistel *f, uint64_t x)
{
    uint64_t L = x >> f->h, R = x & f->mask;
    for (int r = 0; r < 4; r++) {
        uint64_t next = L ^ (hlm_mix64(R ^ f->key[r]) & f->mask);
        L = R;
        R = next;
    }
    return L << f->h | R;
}

static uint64_t feistel_permute(const feistel *f, uint64_t n, uint64_t x)
{
    uint64_t y = feistel_apply(f, x);
    while (y >= n) y = feistel_apply(f, y);
    return y;
}

uint64_t hlm_loader_permute(uint64_t seed, uint64_t epoch, uint64_t n, uint64_t x)
{
    feistel f;
    feistel_init(&f, seed, epoch, n);
    return feistel_permute(&f, n, x);
}

/* ---- loader ---- */

struct hlm_loader {
    const hlm_token_source *src;
    hlm_loader_config cfg;
    uint64_t n_blocks; /* sequential */
    uint64_t n_win;    /* shuffled */
};

hlm_status hlm_loader_create(const hlm_token_source *src, const hlm_loader_config *cfg, hlm_loader **out,
                             hlm_error *err)
{
    *out = NULL;
    hlm_loader_config c = *cfg;
    if (c.B <= 0 || c.T <= 0)
        return hlm_errorf(err, HLM_ERR_INVALID, "loader: B and T must be > 0, got B=%d T=%d", c.B, c.T);
    if (c.order != HLM_ORDER_SHUFFLED && c.order != HLM_ORDER_SEQUENTIAL)
        return hlm_errorf(err, HLM_ERR_INVALID, "loader: unknown order %d (expected shuffled %d or sequential %d)",
                          c.order, HLM_ORDER_SHUFFLED, HLM_ORDER_SEQUENTIAL);
    if (c.end == 0) c.end = src->len;
    if (c.begin > c.end || c.end > src->len)
        return hlm_errorf(err, HLM_ERR_INVALID, "loader: token range [%zu, %zu) is outside the source's %zu tokens",
                          c.begin, c.end, src->len);
    uint64_t bt = (uint64_t)c.B * (uint64_t)c.T, len = c.end - c.begin;
    if (len < bt + 1)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "loader: token range [%zu, %zu) holds %llu tokens, fewer than B*T+1 = %llu (B=%d, T=%d)",
                          c.begin, c.end, (unsigned long long)len, (unsigned long long)(bt + 1), c.B, c.T);
    hlm_loader *l = calloc(1, sizeof *l);
    if (!l) return hlm_errorf(err, HLM_ERR_NOMEM, "loader: out of memory");
    l->src = src;
    l->cfg = c;
    l->n_blocks = (len - 1) / bt;
    l->n_win = (len - 1) / (uint64_t)c.T;
    *out = l;
    return HLM_OK;
}

void hlm_loader_free(hlm_loader *l) { free(l); }

void hlm_loader_batch(const hlm_loader *l, uint64_t index, int32_t *inputs, int32_t *targets)
{
    const hlm_loader_config *c = &l->cfg;
    size_t T = (size_t)c->T, bt = (size_t)c->B * T;
    if (c->order == HLM_ORDER_SEQUENTIAL) {
        size_t p = c->begin + (size_t)(index % l->n_blocks) * bt;
        hlm_token_source_copy(l->src, p, bt, inputs);
        hlm_token_source_copy(l->src, p + 1, bt, targets);
        return;
    }
    feistel f = {{0}, 0, 0};
    uint64_t epoch = UINT64_MAX;
    for (size_t j = 0; j < (size_t)c->B; j++) {
        uint64_t s = index * (uint64_t)c->B + j, e = s / l->n_win;
        if (e != epoch) feistel_init(&f, c->seed, epoch = e, l->n_win);
        size_t p = c->begin + (size_t)feistel_permute(&f, l->n_win, s % l->n_win) * T;
        hlm_token_source_copy(l->src, p, T, inputs + j * T);
        hlm_token_source_copy(l->src, p + 1, T, targets + j * T);
    }
}

uint64_t hlm_loader_batches_per_epoch(const hlm_loader *l)
{
    return l->cfg.order == HLM_ORDER_SEQUENTIAL ? l->n_blocks : l->n_win / (uint64_t)l->cfg.B;
}

uint64_t hlm_loader_n_windows(const hlm_loader *l)
{
    return l->cfg.order == HLM_ORDER_SEQUENTIAL ? l->n_blocks : l->n_win;
}

const hlm_loader_config *hlm_loader_get_config(const hlm_loader *l) { return &l->cfg; }
