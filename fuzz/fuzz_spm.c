/* libFuzzer target: SentencePiece vocabularies (src/tokenizer/spm.c). The vocabulary is the
 * committed fixture tests/fixtures/spm/vocab.gguf (found next to this file), read through
 * hlm_gguf_read_tokenizer. The first input byte picks the mode:
 *  - text (bit 6 clear): the rest is text, encoded with the fixture's tokenizer or with a variant
 *    built from the same pieces without the space prefix and with half the byte pieces turned
 *    into normal ones (so characters fall back to <unk>); bit 7: allow_special. Checked: every
 *    id is in the vocabulary; with all byte pieces, decode(encode(x)) == x for x without U+2581;
 *    the streaming decoder gives the bulk decode, plus the prefix's space when decode dropped it;
 *  - vocabulary (bit 6 set): the rest, 8 bytes at a time, rewrites a token's type, score (raw
 *    float bits: infinities, NaN) or piece (another token's, an empty one, a byte piece's
 *    spelling); the vocabulary then builds or fails with HLM_ERR_FORMAT, and when it builds, a
 *    sample text encodes and decodes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/tokenizer.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "tokenizer/tokenizer_internal.h"
#include "fuzz_check.h"

static hlm_gguf_file *file;
static hlm_tokenizer *toks[2];
static size_t n_tok;
static const char **pieces;
static size_t *lens;
static float *scores;
static int32_t *types;

static void init(void)
{
    char path[4096];
    const char *me = __FILE__, *slash = strrchr(me, '/');
    snprintf(path, sizeof path, "%.*s/../tests/fixtures/spm/vocab.gguf", slash ? (int)(slash - me) : 1, slash ? me : ".");
    hlm_error err;
    const hlm_gguf_kv *tk, *sc, *ty;
    if (hlm_gguf_open(path, &file, &err) || hlm_gguf_read_tokenizer(file, &toks[0], &err) ||
        hlm_gguf_get_array(file, "tokenizer.ggml.tokens", HLM_GGUF_STRING, &tk, &err) ||
        hlm_gguf_get_array(file, "tokenizer.ggml.scores", HLM_GGUF_FLOAT32, &sc, &err) ||
        hlm_gguf_get_array(file, "tokenizer.ggml.token_type", HLM_GGUF_INT32, &ty, &err)) {
        fprintf(stderr, "fuzz_spm: %s\n", err.msg);
        abort();
    }
    n_tok = (size_t)tk->count;
    pieces = malloc(n_tok * sizeof *pieces);
    lens = malloc(n_tok * sizeof *lens);
    scores = malloc(n_tok * sizeof *scores);
    types = malloc(n_tok * sizeof *types);
    if (!pieces || !lens || !scores || !types) abort();
    for (size_t i = 0; i < n_tok; i++) {
        hlm_gguf_str s = hlm_gguf_arr_str(tk, i);
        pieces[i] = s.ptr;
        lens[i] = (size_t)s.len;
        scores[i] = (float)hlm_gguf_kv_elem(sc, i).f;
        types[i] = (int32_t)hlm_gguf_kv_elem(ty, i).i;
    }
    int32_t *t2 = malloc(n_tok * sizeof *t2);
    if (!t2) abort();
    memcpy(t2, types, n_tok * sizeof *t2);
    int k = 0;
    for (size_t i = 0; i < n_tok; i++)
        if (t2[i] == HLM_SPM_BYTE && k++ % 2) t2[i] = HLM_SPM_NORMAL;
    hlm_spm_vocab v = {n_tok, pieces, lens, scores, t2, 1, 0, 1, 0};
    if (hlm_tokenizer_from_spm(&v, "fuzz_spm", &toks[1], &err)) {
        fprintf(stderr, "fuzz_spm: %s\n", err.msg);
        abort();
    }
    free(t2);
}

static void roundtrip(const hlm_tokenizer *t, const uint8_t *s, size_t n, int allow_special, int lossless)
{
    hlm_error err;
    hlm_ids ids = {0};
    hlm_buf back = {0}, stream = {0};
    CHECK(hlm_tokenizer_encode(t, s, n, allow_special, &ids, &err) == HLM_OK);
    for (size_t i = 0; i < ids.len; i++) CHECK(ids.data[i] < hlm_tokenizer_vocab_size(t));
    CHECK(hlm_tokenizer_decode(t, ids.data, ids.len, &back, &err) == HLM_OK);
    if (lossless && !allow_special && !memmem(s, n, "\xe2\x96\x81", 3)) CHECK(back.len == n && (!n || !memcmp(back.data, s, n)));
    hlm_decoder d;
    hlm_decoder_init(&d, t);
    for (size_t i = 0; i < ids.len; i++) {
        CHECK(hlm_decoder_push(&d, ids.data[i], &stream, &err) == HLM_OK);
        CHECK(d.n_pending <= 3);
    }
    CHECK(hlm_decoder_flush(&d, &stream, &err) == HLM_OK);
    CHECK(stream.len == back.len || (stream.len == back.len + 1 && stream.data[0] == ' '));
    CHECK(!back.len || !memcmp(stream.data + (stream.len - back.len), back.data, back.len));
    hlm_ids_free(&ids);
    hlm_buf_free(&back);
    hlm_buf_free(&stream);
}

static void vocab_mode(const uint8_t *s, size_t n)
{
    const char **p = malloc(n_tok * sizeof *p);
    size_t *l = malloc(n_tok * sizeof *l);
    float *sc = malloc(n_tok * sizeof *sc);
    int32_t *ty = malloc(n_tok * sizeof *ty);
    if (!p || !l || !sc || !ty) abort();
    memcpy(p, pieces, n_tok * sizeof *p);
    memcpy(l, lens, n_tok * sizeof *l);
    memcpy(sc, scores, n_tok * sizeof *sc);
    memcpy(ty, types, n_tok * sizeof *ty);
    static const char *const spellings[] = {"", "<0x41>", "<0x4>", "<0x41", "\xe2\x96\x81", "<s>", "a\0b"};
    for (size_t k = 0; k + 8 <= n; k += 8) {
        uint32_t i = (uint32_t)(s[k + 1] | s[k + 2] << 8) % (uint32_t)n_tok, v;
        memcpy(&v, s + k + 4, 4);
        switch (s[k] % 4) {
        case 0: ty[i] = (int32_t)(v % 9) - 1; break;
        case 1: memcpy(&sc[i], &v, 4); break;
        case 2: p[i] = pieces[v % n_tok], l[i] = lens[v % n_tok]; break;
        default: p[i] = spellings[v % 7], l[i] = v % 7 == 6 ? 3 : strlen(spellings[v % 7]); break;
        }
    }
    uint8_t flags = n ? s[0] : 0;
    hlm_spm_vocab voc = {n_tok, p, l, sc, ty, flags & 1 ? 1 : -1, flags & 2 ? 0 : -1, 1, (flags >> 2) & 1};
    hlm_tokenizer *t = NULL;
    hlm_error err;
    hlm_status st = hlm_tokenizer_from_spm(&voc, "fuzz_spm", &t, &err);
    CHECK(st == HLM_OK || st == HLM_ERR_FORMAT);
    CHECK((st == HLM_OK) == (t != NULL));
    if (t) {
        static const char sample[] = "Hello  world <sep> 영화 정말 🤖 \xff<s>\n\ttab";
        roundtrip(t, (const uint8_t *)sample, sizeof sample - 1, 0, 0);
        roundtrip(t, (const uint8_t *)sample, sizeof sample - 1, 1, 0);
        hlm_tokenizer_free(t);
    }
    free(p);
    free(l);
    free(sc);
    free(ty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!toks[0]) init();
    if (len == 0) return 0;
    if (data[0] & 0x40) {
        vocab_mode(data + 1, len - 1);
        return 0;
    }
    int which = data[0] & 1;
    roundtrip(toks[which], data + 1, len - 1, data[0] >> 7, which == 0);
    return 0;
}
