/* SentencePiece BPE vocabularies (llama.cpp's "llama" tokenizer.ggml.model): building one from
 * the pieces, scores and token types of a GGUF file, and encoding with it.
 *
 * Design. A SentencePiece tokenizer is an hlm_tokenizer whose `spm` member is set; the core
 * arrays then hold, for every id, the bytes it decodes to (normal and user-defined pieces with
 * U+2581 turned into ' ', byte pieces <0xXX> as that one raw byte, control and unknown pieces as
 * special tokens with their text, unused pieces as holes), so token_bytes, decode and the
 * streaming decoder work unchanged (the streaming decoder already assembles byte pieces into
 * whole characters). What differs lives here: the pieces as the vocabulary spells them (for
 * lookups while merging and for hlm_tokenizer_token_id), their scores and types, and the
 * encoder. The byte-level tables of tokenizer_impl.h (token map, pair map) are not built.
 *
 * Encoding is SentencePiece's BPE (bpe_model.cc; llama.cpp's llm_tokenizer_spm is the same
 * algorithm), written from its description:
 *  1. spaces (0x20 only) become U+2581, and one U+2581 is put in front (add_space_prefix) unless
 *     the text is empty; nothing else is normalized (Llama's models use the identity rule);
 *  2. the result is cut into symbols: a user-defined piece where one starts (the longest;
 *     SentencePiece's prefix matcher), which never merges again, else one UTF-8 character
 *     (an invalid byte is a symbol of its own, so any bytes encode);
 *  3. while some adjacent pair of symbols spells a normal or user-defined piece, the pair whose
 *     piece has the highest score merges, the leftmost among equal scores. Candidates sit in a
 *     binary heap keyed by (score, position of the left symbol); a popped candidate whose
 *     symbols have changed since it was pushed is stale and dropped (the sum of their lengths
 *     tells: symbols only grow). O(n log n) for n characters;
 *  4. a symbol that is a piece gives its id; any other (a character the vocabulary lacks) gives
 *     its bytes as <0xXX> pieces, or the unknown piece when a byte piece is missing.
 * With allow_special, control and unknown pieces that occur in the text are matched first
 * (leftmost, longest) and emitted as their ids, and each stretch of text between them is
 * encoded as above with its own space prefix: llama.cpp's tokenize(parse_special=true), which
 * prefixes text after a special token. Without it they are plain text, as in SentencePiece and
 * llama.cpp's default. User-defined pieces are always matched, inside the normalized text and
 * with no extra prefix after them, as SentencePiece does (llama.cpp differs there: it splits
 * them out first and prefixes the text that follows with a space).
 *
 * Invariants once built: pieces are non-empty, free of NUL bytes and distinct; `map` finds
 * every piece; byte_id[b] is the <0xXX> piece or TK_NONE; when some byte_id is TK_NONE, unk is
 * an unknown piece (so every symbol of step 4 has an encoding); scores are not NaN.
 *
 * Not reproduced: SentencePiece merges into unused pieces and splits them again afterwards;
 * here unused pieces never form (converters mark padding as unused, which no text reaches). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/unicode.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_internal.h"

struct tk_spm {
    uint32_t n;
    float *scores;
    uint8_t *type;          /* HLM_SPM_* */
    uint8_t *pieces;        /* all pieces, back to back */
    uint32_t *piece_off, *piece_len;
    uint32_t *map;          /* open addressing, linear probing: ids, TK_NONE for empty slots */
    size_t map_mask;
    uint32_t byte_id[256];  /* the piece <0xXX>, or TK_NONE */
    uint32_t unk;           /* TK_NONE: none */
    int add_space_prefix;
    /* user-defined pieces: a filter on their first byte and their distinct lengths, longest first */
    uint8_t user_first[256];
    uint32_t *user_lens;
    size_t n_user_lens;
};

static const uint8_t SPACE_MARK[3] = {0xE2, 0x96, 0x81}; /* U+2581 */

void tk_spm_free(struct tk_spm *m)
{
    if (!m) return;
    free(m->scores);
    free(m->type);
    free(m->pieces);
    free(m->piece_off);
    free(m->piece_len);
    free(m->map);
    free(m->user_lens);
    free(m);
}

static uint32_t piece_lookup(const struct tk_spm *m, const uint8_t *s, size_t len)
{
    for (size_t i = (size_t)tk_hash(s, len) & m->map_mask;; i = (i + 1) & m->map_mask) {
        uint32_t id = m->map[i];
        if (id == TK_NONE) return TK_NONE;
        if (m->piece_len[id] == len && !memcmp(m->pieces + m->piece_off[id], s, len)) return id;
    }
}

/* Pieces that merging may form (SentencePiece's pieces_ less the unused ones). */
static inline int mergeable(const struct tk_spm *m, uint32_t id)
{
    return id != TK_NONE && (m->type[id] == HLM_SPM_NORMAL || m->type[id] == HLM_SPM_USER_DEFINED);
}

static int hex_digit(uint8_t c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* What an id decodes to: pieces with U+2581 as ' ', a byte piece as its byte, others as they are. */
static hlm_status set_decoded(hlm_tokenizer *t, uint32_t id, const uint8_t *p, size_t len, int type, int byte,
                              hlm_error *err)
{
    if (type == HLM_SPM_CONTROL || type == HLM_SPM_UNKNOWN) return tk_add_special(t, id, (const char *)p, len, err);
    if (type == HLM_SPM_UNUSED) return HLM_OK; /* a hole */
    if (type == HLM_SPM_BYTE) {
        uint8_t b = (uint8_t)byte;
        return tk_set_token(t, id, &b, 1, err);
    }
    uint8_t small[256] = {0}, *buf = len <= sizeof small ? small : malloc(len);
    if (!buf) return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && !memcmp(p + i, SPACE_MARK, 3)) {
            buf[k++] = ' ';
            i += 3;
        } else {
            buf[k++] = p[i++];
        }
    }
    hlm_status st = tk_set_token(t, id, buf, k, err);
    if (buf != small) free(buf);
    return st;
}

static int u32_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

hlm_status hlm_tokenizer_from_spm(const hlm_spm_vocab *v, const char *what, hlm_tokenizer **out, hlm_error *err)
{
    *out = NULL;
    if (v->n == 0 || v->n > TK_MAX_ID)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s.tokens: %zu tokens; expected 1 to %u", what, v->n, TK_MAX_ID);
    uint32_t n = (uint32_t)v->n;
    if (v->bos >= (int64_t)n || v->unk >= (int64_t)n)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: bos_token_id %lld / unknown_token_id %lld: expected ids below %u",
                          what, (long long)v->bos, (long long)v->unk, n);
    hlm_tokenizer *t;
    hlm_status st = tk_new(n, HLM_PATTERN_GPT2, TK_SEM_HF, &t, err);
    if (st) return st;
    struct tk_spm *m = t->spm = calloc(1, sizeof *m);
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += v->lens[i];
    if (m && total < UINT32_MAX) {
        m->n = n;
        m->scores = malloc(n * sizeof *m->scores);
        m->type = malloc(n);
        m->pieces = malloc(total ? total : 1);
        m->piece_off = malloc(n * sizeof *m->piece_off);
        m->piece_len = malloc(n * sizeof *m->piece_len);
        size_t cap = 1024;
        while (cap < 2 * (size_t)n) cap *= 2;
        m->map = malloc(cap * sizeof *m->map);
        m->map_mask = cap - 1;
        m->user_lens = malloc(n * sizeof *m->user_lens);
    }
    if (!m || total >= UINT32_MAX || !m->scores || !m->type || !m->pieces || !m->piece_off || !m->piece_len || !m->map ||
        !m->user_lens) {
        st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for %u tokens", what, n);
        goto fail;
    }
    memset(m->map, 0xFF, (m->map_mask + 1) * sizeof *m->map);
    for (int b = 0; b < 256; b++) m->byte_id[b] = TK_NONE;
    m->add_space_prefix = v->add_space_prefix != 0;

    size_t off = 0;
    for (uint32_t id = 0; id < n; id++) {
        const uint8_t *p = (const uint8_t *)v->pieces[id];
        size_t len = v->lens[id];
        int type = v->types ? v->types[id] : HLM_SPM_NORMAL;
        if (type == 0) type = HLM_SPM_NORMAL; /* llama.cpp's "undefined" */
        if (type < HLM_SPM_NORMAL || type > HLM_SPM_BYTE) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s.token_type[%u]: %d; expected 1 (normal) to 6 (byte)", what, id, type);
            goto fail;
        }
        if (len == 0 || memchr(p, 0, len)) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s.tokens[%u]: empty or holds a NUL byte", what, id);
            goto fail;
        }
        if (isnan(v->scores[id])) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s.scores[%u]: NaN; expected a number", what, id);
            goto fail;
        }
        int byte = -1;
        if (type == HLM_SPM_BYTE) {
            int hi = len == 6 ? hex_digit(p[3]) : -1, lo = len == 6 ? hex_digit(p[4]) : -1;
            if (hi < 0 || lo < 0 || memcmp(p, "<0x", 3) || p[5] != '>') {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s.tokens[%u]: '%.*s' has type 6 (byte); expected <0xXX>", what, id,
                                (int)(len > 40 ? 40 : len), (const char *)p);
                goto fail;
            }
            byte = hi << 4 | lo;
            if (m->byte_id[byte] != TK_NONE) {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s.tokens[%u]: a second byte token for 0x%02X (the first is %u)",
                                what, id, byte, m->byte_id[byte]);
                goto fail;
            }
            m->byte_id[byte] = id;
        }
        memcpy(m->pieces + off, p, len);
        m->piece_off[id] = (uint32_t)off;
        m->piece_len[id] = (uint32_t)len;
        off += len;
        m->scores[id] = v->scores[id];
        m->type[id] = (uint8_t)type;
        size_t i = (size_t)tk_hash(p, len) & m->map_mask;
        for (; m->map[i] != TK_NONE; i = (i + 1) & m->map_mask) {
            uint32_t o = m->map[i];
            if (m->piece_len[o] == len && !memcmp(m->pieces + m->piece_off[o], p, len)) {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s.tokens[%u]: '%.*s' is also token %u; pieces must be distinct",
                                what, id, (int)(len > 40 ? 40 : len), (const char *)p, o);
                goto fail;
            }
        }
        m->map[i] = id;
        if (type == HLM_SPM_USER_DEFINED) {
            m->user_first[p[0]] = 1;
            size_t k = 0;
            while (k < m->n_user_lens && m->user_lens[k] != len) k++;
            if (k == m->n_user_lens) m->user_lens[m->n_user_lens++] = (uint32_t)len;
        }
        if ((st = set_decoded(t, id, p, len, type, byte, err))) goto fail;
    }
    qsort(m->user_lens, m->n_user_lens, sizeof *m->user_lens, u32_desc);

    m->unk = v->unk >= 0 ? (uint32_t)v->unk : TK_NONE;
    for (uint32_t id = 0; id < n && m->unk == TK_NONE; id++)
        if (m->type[id] == HLM_SPM_UNKNOWN) m->unk = id;
    for (int b = 0; b < 256 && m->unk == TK_NONE; b++)
        if (m->byte_id[b] == TK_NONE) {
            st = hlm_errorf(err, HLM_ERR_FORMAT,
                            "%s.tokens: no byte token <0x%02X> (type 6) and no unknown token (unknown_token_id or a "
                            "token of type 2): text outside the vocabulary could not be encoded", what, b);
            goto fail;
        }
    if (v->add_bos && v->bos >= 0) t->bos_id = (uint32_t)v->bos;
    if ((st = tk_finish_specials(t, what, err))) goto fail;
    *out = t;
    return HLM_OK;
fail:
    hlm_tokenizer_free(t);
    return st;
}

int tk_spm_token_id(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint32_t *id)
{
    uint32_t r = piece_lookup(t->spm, s, len);
    if (r == TK_NONE || !t->kind[r]) return 0; /* unused pieces are holes */
    if (id) *id = r;
    return 1;
}

size_t tk_spm_decode_skip(const hlm_tokenizer *t, uint32_t first)
{
    const struct tk_spm *m = t->spm;
    return m->add_space_prefix && mergeable(m, first) && m->piece_len[first] >= 3 &&
                   !memcmp(m->pieces + m->piece_off[first], SPACE_MARK, 3)
               ? 1
               : 0;
}

/* ---- encoding ---- */

typedef struct sym {
    uint32_t start, len; /* in the normalized text; len 0: merged into the symbol on its left */
    uint32_t prev, next; /* UINT32_MAX: none */
    uint32_t id;         /* the piece, or TK_NONE */
    uint32_t frozen;     /* a user-defined piece matched in the text: never merges */
} sym;

/* A merge candidate: key = (order of the score, descending) << 32 | left symbol, smallest first;
 * size = the two symbols' lengths when pushed. */
typedef struct cand {
    uint64_t key;
    uint32_t size, id;
} cand;

typedef struct spm_state {
    const struct tk_spm *m;
    const uint8_t *text;
    sym *syms;
    cand *heap;
    size_t n_heap, cap_heap;
} spm_state;

/* Maps a float to a uint32 whose unsigned order is the float's order reversed (highest first).
 * -0 is 0: SentencePiece's trainer gives its first merge the score -0.0, user-defined pieces 0.0,
 * and as floats those tie. */
static inline uint32_t score_order(float f)
{
    if (f == 0) f = 0;
    uint32_t u;
    memcpy(&u, &f, 4);
    u = u & 0x80000000u ? ~u : u | 0x80000000u;
    return ~u;
}

static int heap_push(spm_state *s, cand c)
{
    if (s->n_heap == s->cap_heap) {
        size_t cap = s->cap_heap ? 2 * s->cap_heap : 64;
        cand *p = realloc(s->heap, cap * sizeof *p);
        if (!p) return -1;
        s->heap = p;
        s->cap_heap = cap;
    }
    size_t i = s->n_heap++;
    while (i > 0 && s->heap[(i - 1) / 2].key > c.key) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = c;
    return 0;
}

static cand heap_pop(spm_state *s)
{
    cand top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->n_heap) break;
        if (c + 1 < s->n_heap && s->heap[c + 1].key < s->heap[c].key) c++;
        if (s->heap[c].key >= last.key) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->n_heap) s->heap[i] = last;
    return top;
}

/* Pushes the merge of symbols l and r = next of l if it spells a piece that may form. */
static int try_pair(spm_state *s, uint32_t l, uint32_t r)
{
    const sym *a = &s->syms[l], *b = &s->syms[r];
    if (a->frozen || b->frozen) return 0;
    uint32_t id = piece_lookup(s->m, s->text + a->start, (size_t)a->len + b->len);
    if (!mergeable(s->m, id)) return 0;
    return heap_push(s, (cand){(uint64_t)score_order(s->m->scores[id]) << 32 | l, a->len + b->len, id});
}

/* The user-defined piece starting at p (the longest), or TK_NONE. */
static uint32_t user_at(const struct tk_spm *m, const uint8_t *p, size_t avail)
{
    if (!m->user_first[p[0]]) return TK_NONE;
    for (size_t k = 0; k < m->n_user_lens; k++) {
        if (m->user_lens[k] > avail) continue;
        uint32_t id = piece_lookup(m, p, m->user_lens[k]);
        if (id != TK_NONE && m->type[id] == HLM_SPM_USER_DEFINED) return id;
    }
    return TK_NONE;
}

static hlm_status emit_fallback(const struct tk_spm *m, const uint8_t *p, size_t len, hlm_ids *out)
{
    size_t k = 0;
    while (k < len && m->byte_id[p[k]] != TK_NONE) k++;
    if (k < len) return hlm_ids_push(out, m->unk); /* the build guarantees unk exists here */
    for (k = 0; k < len; k++)
        if (hlm_ids_push(out, m->byte_id[p[k]])) return HLM_ERR_NOMEM;
    return HLM_OK;
}

/* Steps 1-4 of the header on one stretch of text. */
static hlm_status encode_stretch(const struct tk_spm *m, const uint8_t *s, size_t len, hlm_ids *out)
{
    if (len == 0) return HLM_OK;
    if (len > (UINT32_MAX - 3) / 3) return HLM_ERR_NOMEM; /* positions are 32-bit */
    spm_state st = {m, NULL, NULL, NULL, 0, 0};
    hlm_status rc = HLM_ERR_NOMEM;
    uint8_t *norm = malloc(3 * len + 3);
    if (!norm) return HLM_ERR_NOMEM;
    size_t n = 0;
    if (m->add_space_prefix) {
        memcpy(norm, SPACE_MARK, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(norm + n, SPACE_MARK, 3);
            n += 3;
        } else {
            norm[n++] = s[i];
        }
    }
    st.text = norm;
    if (!(st.syms = malloc(n * sizeof *st.syms))) goto done;
    uint32_t ns = 0;
    for (size_t i = 0; i < n;) {
        sym *y = &st.syms[ns];
        y->start = (uint32_t)i;
        y->prev = ns ? ns - 1 : UINT32_MAX;
        y->next = UINT32_MAX;
        if (ns) st.syms[ns - 1].next = ns;
        uint32_t u = user_at(m, norm + i, n - i);
        if (u != TK_NONE) {
            y->len = m->piece_len[u];
            y->id = u;
            y->frozen = 1;
        } else {
            uint32_t cp;
            y->len = (uint32_t)hlm_utf8_decode_inline(norm + i, n - i, &cp);
            y->id = piece_lookup(m, norm + i, y->len);
            if (!mergeable(m, y->id)) y->id = TK_NONE;
            y->frozen = 0;
        }
        i += y->len;
        ns++;
    }
    for (uint32_t i = 0; i + 1 < ns; i++)
        if (try_pair(&st, i, i + 1)) goto done;
    while (st.n_heap) {
        cand c = heap_pop(&st);
        uint32_t l = (uint32_t)c.key;
        sym *a = &st.syms[l];
        if (a->len == 0 || a->next == UINT32_MAX) continue;
        sym *b = &st.syms[a->next];
        if (a->len + b->len != c.size) continue; /* stale: one of them has grown */
        a->len += b->len;
        a->id = c.id;
        b->len = 0;
        a->next = b->next;
        if (a->next != UINT32_MAX) st.syms[a->next].prev = l;
        if (a->prev != UINT32_MAX && try_pair(&st, a->prev, l)) goto done;
        if (a->next != UINT32_MAX && try_pair(&st, l, a->next)) goto done;
    }
    for (uint32_t i = 0; ns && i != UINT32_MAX; i = st.syms[i].next) {
        const sym *y = &st.syms[i];
        if (y->id != TK_NONE ? hlm_ids_push(out, y->id) : emit_fallback(m, norm + y->start, y->len, out)) goto done;
    }
    rc = HLM_OK;
done:
    free(norm);
    free(st.syms);
    free(st.heap);
    return rc;
}

hlm_status tk_spm_encode(const hlm_tokenizer *t, const uint8_t *s, size_t len, int allow_special, hlm_ids *out,
                         hlm_error *err)
{
    const struct tk_spm *m = t->spm;
    size_t start = 0;
    if (allow_special && t->n_specials) {
        for (size_t i = 0; i < len; i++) {
            if (!t->special_first[s[i]]) continue;
            const tk_special *sp = tk_special_at(t, s + i, len - i);
            if (!sp) continue;
            if (encode_stretch(m, s + start, i - start, out) || hlm_ids_push(out, sp->id))
                return hlm_errorf(err, HLM_ERR_NOMEM, "encode: out of memory");
            i += sp->len - 1;
            start = i + 1;
        }
    }
    if (encode_stretch(m, s + start, len - start, out)) return hlm_errorf(err, HLM_ERR_NOMEM, "encode: out of memory");
    return HLM_OK;
}
