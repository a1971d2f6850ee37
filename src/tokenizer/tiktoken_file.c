/* tiktoken rank files: one "base64(token bytes) SP rank" per line, the format OpenAI publishes
 * for gpt2 (r50k_base), cl100k_base and o200k_base. Ranks are the ids and the merge priorities.
 * Parsing is strict: canonical padded base64, a decimal rank, no duplicate tokens or ranks; each
 * error names the line. Blank lines are skipped, as tiktoken's loader does. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"

typedef struct known_encoding {
    const char *names[2]; /* substrings of the file name that identify it */
    uint32_t n_ranks;
    hlm_pattern pattern;
    size_t n_specials;
    struct {
        const char *text;
        uint32_t id;
    } specials[5];
} known_encoding;

/* From tiktoken_ext/openai_public.py. */
static const known_encoding known[] = {
    {{"gpt2", "r50k"}, 50256, HLM_PATTERN_GPT2, 1, {{"<|endoftext|>", 50256}}},
    {{"cl100k", NULL},
     100256,
     HLM_PATTERN_CL100K,
     5,
     {{"<|endoftext|>", 100257},
      {"<|fim_prefix|>", 100258},
      {"<|fim_middle|>", 100259},
      {"<|fim_suffix|>", 100260},
      {"<|endofprompt|>", 100276}}},
    {{"o200k", NULL}, 199998, HLM_PATTERN_O200K, 2, {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}},
};

static const known_encoding *known_by_name(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        for (int k = 0; k < 2; k++)
            if (known[i].names[k] && strstr(base, known[i].names[k])) return &known[i];
    return NULL;
}

static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes canonical padded base64 s[0..n) into out (room for 3n/4 bytes); returns the length or
 * -1 with *why set. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out, const char **why)
{
    if (n == 0 || n % 4) {
        *why = "a base64 length that is a multiple of 4";
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(s[i + k])) < 0) {
                *why = "only base64 characters (A-Z a-z 0-9 + /, '=' padding at the end)";
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 2 && (w & 0xFFFF)) || (pad == 1 && (w & 0xFF))) {
            *why = "canonical base64 (the unused bits before '=' must be zero)";
            return -1;
        }
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2) out[o++] = (uint8_t)(w >> 8);
        if (pad < 1) out[o++] = (uint8_t)w;
    }
    return (long)o;
}

typedef struct rank_line {
    size_t line;
    size_t b64_off, b64_len;
    uint32_t rank;
} rank_line;

hlm_status tk_load_tiktoken(const uint8_t *data, size_t len, const char *name, int pattern, hlm_tokenizer **out,
                            hlm_error *err)
{
    *out = NULL;
    size_t cap = 1024, n = 0;
    rank_line *lines = malloc(cap * sizeof *lines);
    uint32_t *line_of_rank = NULL; /* 1-based line per rank, 0: unused */
    uint8_t *tok = NULL;
    hlm_tokenizer *t = NULL;
    hlm_status st;
    if (!lines) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);

    /* pass 1: split lines, parse ranks */
    uint32_t max_rank = 0;
    size_t pos = 0, line = 0, max_b64 = 0;
    while (pos < len) {
        line++;
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len, next = nl ? end + 1 : len;
        if (end > pos && data[end - 1] == '\r') end--;
        if (end == pos) {
            pos = next;
            continue;
        }
        const uint8_t *sp = memchr(data + pos, ' ', end - pos);
        if (!sp) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %zu: expected 'BASE64 RANK' (a token, a space, a rank)",
                            name, line);
            goto fail;
        }
        size_t b64_len = (size_t)(sp - (data + pos)), r = b64_len + 1;
        if (pos + r >= end) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %zu: missing rank after the token", name, line);
            goto fail;
        }
        uint64_t rank = 0;
        for (size_t i = pos + r; i < end; i++) {
            if (data[i] < '0' || data[i] > '9' || rank > TK_MAX_ID) {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %zu: rank: expected a decimal integer below %u", name,
                                line, TK_MAX_ID);
                goto fail;
            }
            rank = rank * 10 + (data[i] - '0');
        }
        if (rank >= TK_MAX_ID) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %zu: rank: expected a decimal integer below %u", name, line,
                            TK_MAX_ID);
            goto fail;
        }
        if (n == cap) {
            cap *= 2;
            rank_line *p = realloc(lines, cap * sizeof *p);
            if (!p) {
                st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
                goto fail;
            }
            lines = p;
        }
        lines[n++] = (rank_line){line, pos, b64_len, (uint32_t)rank};
        if (rank > max_rank) max_rank = (uint32_t)rank;
        if (b64_len > max_b64) max_b64 = b64_len;
        pos = next;
    }
    if (n == 0) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: no 'BASE64 RANK' lines", name);
        goto fail;
    }
    /* ranks are ids: allow holes, but not a vocabulary mostly made of holes */
    if ((uint64_t)max_rank >= (uint64_t)n + (1u << 20)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %zu: rank %u is far beyond the number of tokens (%zu)", name,
                        lines[n - 1].line, max_rank, n);
        goto fail;
    }

    const known_encoding *enc = known_by_name(name);
    if (!enc)
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (known[i].n_ranks == n && max_rank + 1 == n) enc = &known[i];
    uint32_t vocab = max_rank + 1;
    if (enc)
        for (size_t i = 0; i < enc->n_specials; i++)
            if (enc->specials[i].id + 1 > vocab) vocab = enc->specials[i].id + 1;

    line_of_rank = calloc(vocab, sizeof *line_of_rank);
    tok = malloc(max_b64 / 4 * 3 + 3);
    if (!line_of_rank || !tok) {
        st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    if ((st = tk_new(vocab, HLM_PATTERN_GPT2, TK_SEM_TIKTOKEN, &t, err))) goto fail;
    for (size_t i = 0; i < n; i++) {
        const rank_line *L = &lines[i];
        if (line_of_rank[L->rank]) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %zu: rank %u is already used on line %u", name, L->line,
                            L->rank, line_of_rank[L->rank]);
            goto fail;
        }
        line_of_rank[L->rank] = (uint32_t)L->line;
        const char *why = "";
        long tl = b64_decode(data + L->b64_off, L->b64_len, tok, &why);
        if (tl < 0) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %zu: token: expected %s", name, L->line, why);
            goto fail;
        }
        if ((st = tk_set_token(t, L->rank, tok, (size_t)tl, err))) goto fail;
    }
    if (enc)
        for (size_t i = 0; i < enc->n_specials; i++) {
            uint32_t id = enc->specials[i].id;
            if (line_of_rank[id]) {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: line %u: rank %u is the id of the special token %s", name,
                                line_of_rank[id], id, enc->specials[i].text);
                goto fail;
            }
            if ((st = tk_add_special(t, id, enc->specials[i].text, strlen(enc->specials[i].text), err))) goto fail;
        }
    uint32_t dup[2];
    st = tk_build_token_map(t, dup);
    if (st == HLM_ERR_NOMEM) {
        st = hlm_errorf(err, st, "%s: out of memory", name);
        goto fail;
    }
    if (st) {
        st = hlm_errorf(err, st, "%s: line %u: duplicate token: the same bytes are on line %u (ranks %u and %u)", name,
                        line_of_rank[dup[1]], line_of_rank[dup[0]], dup[1], dup[0]);
        goto fail;
    }
    /* the pattern is checked after the content, so that a broken file reports what is broken */
    if (pattern < 0) {
        if (!enc) {
            st = hlm_errorf(err, HLM_ERR_INVALID,
                            "%s: cannot tell the pre-tokenizer pattern of this rank file (%zu tokens; the name does not "
                            "contain gpt2, r50k, cl100k or o200k): pass it with --pattern gpt2|cl100k|o200k",
                            name, n);
            goto fail;
        }
        pattern = (int)enc->pattern;
    }
    t->pattern = (hlm_pattern)pattern;
    if ((st = tk_finish(t, name, err))) goto fail;
    free(lines);
    free(line_of_rank);
    free(tok);
    *out = t;
    return HLM_OK;
fail:
    free(lines);
    free(line_of_rank);
    free(tok);
    hlm_tokenizer_free(t);
    return st;
}

hlm_status tk_derive_merges(const hlm_tokenizer *t, uint32_t (**merges)[2], size_t *n_out, hlm_error *err)
{
    *merges = NULL;
    *n_out = 0;
    size_t n = 0;
    for (uint32_t id = 0; id < t->vocab_size; id++) n += (t->kind[id] & TK_REGULAR) && t->tok_len[id] >= 2;
    uint32_t (*m)[2] = malloc((n ? n : 1) * sizeof *m);
    if (!m) return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
    hlm_ids parts = {0};
    size_t k = 0;
    for (uint32_t id = 0; id < t->vocab_size; id++) {
        if (!(t->kind[id] & TK_REGULAR) || t->tok_len[id] < 2) continue;
        parts.len = 0;
        if (tk_bpe(t, t->blob + t->tok_off[id], t->tok_len[id], id, &parts)) {
            hlm_ids_free(&parts);
            free(m);
            return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
        }
        if (parts.len != 2) {
            hlm_ids_free(&parts);
            free(m);
            return hlm_errorf(err, HLM_ERR_FORMAT,
                              "tokenizer: token %u cannot be written as a merge (byte-pair merging of its bytes with "
                              "lower ranks ends in %zu parts, not 2)",
                              id, parts.len);
        }
        m[k][0] = parts.data[0];
        m[k][1] = parts.data[1];
        k++;
    }
    hlm_ids_free(&parts);
    *merges = m;
    *n_out = k;
    return HLM_OK;
}
