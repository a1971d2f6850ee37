/* Hugging Face tokenizer.json (byte-level BPE): loading and saving.
 *
 * Accepted on load: model.type "BPE" with a byte-level vocabulary (every key spelled in GPT-2's
 * byte alphabet, see bytelevel.h), merges as "a b" strings or ["a", "b"] pairs; added_tokens;
 * normalizer null or NFC; pre_tokenizer ByteLevel(use_regex: true) (GPT-2's pattern) or
 * Sequence[Split(Regex = one of the three OpenAI patterns, Isolated), ByteLevel(use_regex: false)].
 * Everything else that changes ids (dropout, prefixes, byte_fallback, add_prefix_space, other
 * normalizers or patterns) is rejected with the field's path, rather than silently giving ids
 * that differ from `tokenizers`. post_processor and decoder do not change encode's ids and are
 * ignored; added tokens are matched (with allow_special) whether or not they are "special".
 *
 * Saved files follow what `tokenizers` itself writes, so that PyPI `tokenizers` gives the same ids.
 * Rank files are saved with derived merges (tk_derive_merges) and ignore_merges: true, which is
 * tiktoken's "a piece that is a token is emitted as is". */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/tokenizer_impl.h"

/* ---- helpers ---- */

/* bytelevel.c computes its mapping by scanning; these tables make it one load per character.
 * Built once per load/save call (256 entries), so no global state. */
typedef struct bl_tables {
    uint16_t cp_of_byte[256];
    int16_t byte_of_cp[0x144]; /* -1: not in the alphabet */
} bl_tables;

static void bl_tables_init(bl_tables *bl)
{
    for (uint32_t cp = 0; cp < 0x144; cp++) bl->byte_of_cp[cp] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = hlm_bytelevel_char((uint8_t)b);
        bl->cp_of_byte[b] = (uint16_t)cp;
        if (cp < 0x144) bl->byte_of_cp[cp] = (int16_t)b;
    }
}

/* Strict UTF-8 decode of one character; returns its length, or 0 if s does not start with one. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!need || n < need) return 0;
    uint8_t lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    uint8_t hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (s[1] < lo || s[1] > hi) return 0;
    uint32_t v = c & (0xFF >> (need + 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return need;
}

static int utf8_valid(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_next(s + i, n - i, &cp);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* Decodes a byte-level string (each character one byte) into out (room for strlen(s) bytes);
 * returns the number of bytes, or -1 with *bad set to the offending character (or 0xFFFFFFFF for
 * invalid UTF-8). */
static long bytelevel_decode(const bl_tables *bl, const char *s, uint8_t *out, uint32_t *bad)
{
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_next((const uint8_t *)s + i, n - i, &cp);
        int b = k && cp < 0x144 ? bl->byte_of_cp[cp] : -1;
        if (b < 0) {
            *bad = k ? cp : 0xFFFFFFFFu;
            return -1;
        }
        out[o++] = (uint8_t)b;
        i += k;
    }
    return (long)o;
}

static const cJSON *field(const cJSON *obj, const char *name) { return cJSON_GetObjectItemCaseSensitive(obj, name); }

static int is_null_or_absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

/* A JSON number that is a non-negative integer below limit. */
static int as_id(const cJSON *v, uint32_t limit, uint32_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d < (double)limit) || d != (double)(uint32_t)d) return 0;
    *out = (uint32_t)d;
    return 1;
}

/* Shows a JSON string in a message: at most 40 bytes, no control characters. */
static const char *shown(const char *s, char buf[64])
{
    size_t i = 0;
    for (; s[i] && i < 40; i++) buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (s[i]) {
        while (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80) i--; /* do not cut a character */
        if (i > 0 && (unsigned char)buf[i - 1] >= 0xC0) i--;
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = 0;
    return buf;
}

/* ---- loading ---- */

typedef struct added_ref {
    uint32_t id;
    const char *content;
} added_ref;

static int added_cmp(const void *a, const void *b)
{
    const added_ref *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* 1 if the vocabulary entry (key, id) is an added token's own entry: `tokenizers` looks added
 * tokens up in the model's vocabulary by their text, so files (ours included) list special
 * tokens there too, under their plain text rather than in the byte alphabet. */
static int is_added_entry(const added_ref *a, size_t n, uint32_t id, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && a[lo].id == id && !strcmp(a[lo].content, key);
}

static hlm_status parse_normalizer(const cJSON *root, const char *name, int *normalize, hlm_error *err)
{
    const cJSON *n = field(root, "normalizer");
    *normalize = 0;
    if (is_null_or_absent(n)) return HLM_OK;
    const cJSON *type = field(n, "type");
    if (!cJSON_IsString(type))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: normalizer.type: expected a string", name);
    if (!strcmp(type->valuestring, "NFC")) {
        *normalize = 1;
        return HLM_OK;
    }
    if (!strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = field(n, "normalizers"), *e;
        if (!cJSON_IsArray(list))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: normalizer.normalizers: expected an array", name);
        int i = 0;
        cJSON_ArrayForEach(e, list)
        {
            const cJSON *ty = field(e, "type");
            if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "NFC"))
                return hlm_errorf(err, HLM_ERR_FORMAT, "%s: normalizer.normalizers[%d]: only NFC is supported", name, i);
            *normalize = 1;
            i++;
        }
        return HLM_OK;
    }
    char b[64];
    return hlm_errorf(err, HLM_ERR_FORMAT, "%s: normalizer.type: expected null or \"NFC\", got \"%s\"", name,
                      shown(type->valuestring, b));
}

static int get_bool(const cJSON *obj, const char *name, int dflt)
{
    const cJSON *v = field(obj, name);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static hlm_status check_bytelevel(const cJSON *bl, const char *path, const char *name, int want_regex,
                                  hlm_error *err)
{
    if (get_bool(bl, "add_prefix_space", 1))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: %s.add_prefix_space: only false is supported", name, path);
    if (get_bool(bl, "use_regex", 1) != want_regex)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: %s.use_regex: expected %s", name, path,
                          want_regex ? "true (or a Sequence with a Split first)" : "false after a Split");
    return HLM_OK;
}

/* tiktoken's current spellings of the gpt2 and cl100k patterns (tiktoken_ext/openai_public.py),
 * which some tokenizer.json files carry: tiktoken documents them as equivalent to the forms that
 * hlm_pattern_regex() returns (possessive quantifiers instead of backtracking, same matches). */
static const struct {
    hlm_pattern pattern;
    const char *regex;
} regex_aliases[] = {
    {HLM_PATTERN_GPT2, "'(?:[sdmt]|ll|ve|re)| ?\\p{L}++| ?\\p{N}++| ?[^\\s\\p{L}\\p{N}]++|\\s++$|\\s+(?!\\S)|\\s"},
    {HLM_PATTERN_CL100K, "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|"
                         "\\s++$|\\s*[\\r\\n]|\\s+(?!\\S)|\\s"},
};

static hlm_status parse_pre_tokenizer(const cJSON *root, const char *name, int *pattern, hlm_error *err)
{
    const cJSON *p = field(root, "pre_tokenizer");
    if (!cJSON_IsObject(p))
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: pre_tokenizer: expected ByteLevel or a Sequence of Split and ByteLevel", name);
    const cJSON *type = field(p, "type");
    if (!cJSON_IsString(type)) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: pre_tokenizer.type: expected a string", name);
    if (!strcmp(type->valuestring, "ByteLevel")) {
        *pattern = HLM_PATTERN_GPT2; /* ByteLevel's built-in regex is GPT-2's */
        return check_bytelevel(p, "pre_tokenizer", name, 1, err);
    }
    char b[64];
    if (strcmp(type->valuestring, "Sequence"))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: pre_tokenizer.type: expected \"ByteLevel\" or \"Sequence\", got \"%s\"",
                          name, shown(type->valuestring, b));
    const cJSON *list = field(p, "pretokenizers");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != 2)
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: pre_tokenizer.pretokenizers: expected [Split, ByteLevel] (two entries)", name);
    const cJSON *split = cJSON_GetArrayItem(list, 0), *bl = cJSON_GetArrayItem(list, 1);
    const cJSON *st = field(split, "type"), *bt = field(bl, "type");
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "Split"))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: pre_tokenizer.pretokenizers[0].type: expected \"Split\"", name);
    if (!cJSON_IsString(bt) || strcmp(bt->valuestring, "ByteLevel"))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: pre_tokenizer.pretokenizers[1].type: expected \"ByteLevel\"", name);
    hlm_status s = check_bytelevel(bl, "pre_tokenizer.pretokenizers[1]", name, 0, err);
    if (s) return s;
    const cJSON *behavior = field(split, "behavior");
    if (!cJSON_IsString(behavior) || strcmp(behavior->valuestring, "Isolated"))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: pre_tokenizer.pretokenizers[0].behavior: expected \"Isolated\"", name);
    if (get_bool(split, "invert", 0))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: pre_tokenizer.pretokenizers[0].invert: expected false", name);
    const cJSON *re = field(field(split, "pattern"), "Regex");
    if (!cJSON_IsString(re))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: pre_tokenizer.pretokenizers[0].pattern.Regex: expected a string",
                          name);
    for (int i = 0; i < HLM_PATTERN_COUNT; i++)
        if (!strcmp(re->valuestring, hlm_pattern_regex((hlm_pattern)i))) {
            *pattern = i;
            return HLM_OK;
        }
    for (size_t i = 0; i < sizeof regex_aliases / sizeof *regex_aliases; i++)
        if (!strcmp(re->valuestring, regex_aliases[i].regex)) {
            *pattern = (int)regex_aliases[i].pattern;
            return HLM_OK;
        }
    return hlm_errorf(err, HLM_ERR_FORMAT,
                      "%s: pre_tokenizer.pretokenizers[0].pattern.Regex: unknown pattern \"%s\"; expected the gpt2, "
                      "cl100k or o200k pattern",
                      name, shown(re->valuestring, b));
}

static hlm_status parse_model_options(const cJSON *model, const char *name, int *ignore_merges, hlm_error *err)
{
    const cJSON *type = field(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE")))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.type: expected \"BPE\"", name);
    const cJSON *dropout = field(model, "dropout");
    if (!is_null_or_absent(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.dropout: expected null (dropout is not supported)", name);
    static const char *const empty_strings[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = field(model, empty_strings[i]);
        if (!is_null_or_absent(v) && !(cJSON_IsString(v) && !v->valuestring[0]))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.%s: expected null", name, empty_strings[i]);
    }
    if (get_bool(model, "byte_fallback", 0))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.byte_fallback: expected false", name);
    *ignore_merges = get_bool(model, "ignore_merges", 0);
    return HLM_OK;
}

/* One side of a merge: a vocabulary key -> its id. */
static hlm_status merge_side(const hlm_tokenizer *t, const bl_tables *bl, const char *s, size_t len, uint8_t *scratch, const char *name,
                             int index, uint32_t *id, hlm_error *err)
{
    char key[64];
    char *copy = malloc(len + 1);
    if (!copy) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    memcpy(copy, s, len);
    copy[len] = 0;
    uint32_t bad;
    long n = bytelevel_decode(bl, copy, scratch, &bad);
    *id = n > 0 ? tk_lookup(t, scratch, (size_t)n) : TK_NONE;
    hlm_status st = HLM_OK;
    if (*id == TK_NONE)
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.merges[%d]: \"%s\" is not in model.vocab", name, index,
                        shown(copy, key));
    free(copy);
    return st;
}

hlm_status tk_load_json(const uint8_t *data, size_t len, const char *name, int pattern, hlm_tokenizer **out,
                        hlm_error *err)
{
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)data, len, &end, 0);
    if (!root) {
        size_t at = end && end >= (const char *)data ? (size_t)(end - (const char *)data) : 0;
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", name, at);
    }
    hlm_tokenizer *t = NULL;
    uint8_t *scratch = NULL;
    added_ref *added_list = NULL;
    size_t n_added = 0;
    hlm_status st;
    char b1[64];
    bl_tables bl;
    bl_tables_init(&bl);
    const cJSON *model = field(root, "model"), *vocab = field(model, "vocab"), *merges = field(model, "merges");
    const cJSON *added = field(root, "added_tokens"), *e;
    if (!cJSON_IsObject(root)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: expected a JSON object at the top level", name);
        goto done;
    }
    if (!cJSON_IsObject(model)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model: expected an object", name);
        goto done;
    }
    int ignore_merges = 0, normalize = 0, file_pattern = 0;
    if ((st = parse_model_options(model, name, &ignore_merges, err))) goto done;
    if ((st = parse_normalizer(root, name, &normalize, err))) goto done;
    if ((st = parse_pre_tokenizer(root, name, &file_pattern, err))) goto done;
    if (!cJSON_IsObject(vocab)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.vocab: expected an object", name);
        goto done;
    }
    if (!is_null_or_absent(merges) && !cJSON_IsArray(merges)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.merges: expected an array", name);
        goto done;
    }
    if (!is_null_or_absent(added) && !cJSON_IsArray(added)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: added_tokens: expected an array", name);
        goto done;
    }

    /* sizes: the largest id in the vocabulary and the added tokens */
    size_t n_vocab = 0, max_key = 0;
    uint32_t max_id = 0, id = 0;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!as_id(e, TK_MAX_ID, &id)) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.vocab[\"%s\"]: expected an integer id in 0..%u", name,
                            shown(e->string ? e->string : "", b1), TK_MAX_ID - 1);
            goto done;
        }
        if (id > max_id) max_id = id;
        size_t kl = e->string ? strlen(e->string) : 0;
        if (kl > max_key) max_key = kl;
        n_vocab++;
    }
    int ai = 0;
    cJSON_ArrayForEach(e, added)
    {
        const cJSON *content = field(e, "content");
        if (!as_id(field(e, "id"), TK_MAX_ID, &id)) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: added_tokens[%d].id: expected an integer id in 0..%u", name, ai,
                            TK_MAX_ID - 1);
            goto done;
        }
        if (!cJSON_IsString(content) || !content->valuestring[0]) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: added_tokens[%d].content: expected a non-empty string", name, ai);
            goto done;
        }
        static const char *const unsupported[] = {"single_word", "lstrip", "rstrip"};
        for (int k = 0; k < 3; k++)
            if (get_bool(e, unsupported[k], 0)) {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: added_tokens[%d].%s: only false is supported", name, ai,
                                unsupported[k]);
                goto done;
            }
        if (id > max_id) max_id = id;
        n_vocab++;
        ai++;
    }
    added_list = malloc((size_t)(ai ? ai : 1) * sizeof *added_list);
    if (!added_list) {
        st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    cJSON_ArrayForEach(e, added)
    {
        as_id(field(e, "id"), TK_MAX_ID, &id);
        added_list[n_added++] = (added_ref){id, field(e, "content")->valuestring};
    }
    qsort(added_list, n_added, sizeof *added_list, added_cmp);
    if ((uint64_t)max_id >= (uint64_t)n_vocab + (1u << 20)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.vocab: id %u is far beyond the number of tokens (%zu)", name,
                        max_id, n_vocab);
        goto done;
    }
    if (pattern < 0) pattern = file_pattern;
    if ((st = tk_new(max_id + 1, (hlm_pattern)pattern, TK_SEM_HF, &t, err))) goto done;
    t->normalize = normalize;
    t->ignore_merges = ignore_merges;
    scratch = malloc(max_key + 1);
    if (!scratch) {
        st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    cJSON_ArrayForEach(e, vocab)
    {
        as_id(e, TK_MAX_ID, &id);
        const char *key = e->string ? e->string : "";
        if (is_added_entry(added_list, n_added, id, key)) continue;
        uint32_t bad;
        long n = bytelevel_decode(&bl, key, scratch, &bad);
        if (n <= 0) {
            if (n == 0)
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.vocab: the empty string is not a token", name);
            else if (bad == 0xFFFFFFFFu)
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.vocab[\"%s\"]: not valid UTF-8", name, shown(key, b1));
            else
                st = hlm_errorf(err, HLM_ERR_FORMAT,
                                "%s: model.vocab[\"%s\"]: character U+%04X is not in the byte-level alphabet (expected "
                                "a byte-level BPE vocabulary)",
                                name, shown(key, b1), bad);
            goto done;
        }
        if (t->kind[id] & TK_REGULAR) {
            const uint8_t *o = t->blob + t->tok_off[id];
            char prev[64];
            size_t pl = t->tok_len[id] < 40 ? t->tok_len[id] : 40;
            for (size_t i = 0; i < pl; i++) prev[i] = o[i] < 0x20 || o[i] >= 0x7F ? '?' : (char)o[i];
            prev[pl] = 0;
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.vocab[\"%s\"]: id %u is already used by the token \"%s\"",
                            name, shown(key, b1), id, prev);
            goto done;
        }
        if ((st = tk_set_token(t, id, scratch, (size_t)n, err))) goto done;
    }
    uint32_t dup[2];
    st = tk_build_token_map(t, dup);
    if (st) {
        st = st == HLM_ERR_NOMEM ? hlm_errorf(err, st, "%s: out of memory", name)
                                 : hlm_errorf(err, st, "%s: model.vocab: ids %u and %u have the same key", name, dup[0],
                                              dup[1]);
        goto done;
    }

    int n_merges = cJSON_GetArraySize(merges);
    if (n_merges > 0) {
        t->merges = malloc((size_t)n_merges * sizeof *t->merges);
        if (!t->merges) {
            st = hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
            goto done;
        }
    }
    int mi = 0;
    cJSON_ArrayForEach(e, merges)
    {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ')) {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.merges[%d]: expected two tokens separated by a space",
                                name, mi);
                goto done;
            }
            a = s, la = (size_t)(sp - s), b = sp + 1, lb = strlen(sp + 1);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring, la = strlen(a);
            b = cJSON_GetArrayItem(e, 1)->valuestring, lb = strlen(b);
        } else {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", name, mi);
            goto done;
        }
        if (la > max_key || lb > max_key) { /* longer than every key: cannot be in the vocabulary */
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: model.merges[%d]: \"%s\" is not in model.vocab", name, mi,
                            shown(la > max_key ? a : b, b1));
            goto done;
        }
        if ((st = merge_side(t, &bl, a, la, scratch, name, mi, &t->merges[mi][0], err))) goto done;
        if ((st = merge_side(t, &bl, b, lb, scratch, name, mi, &t->merges[mi][1], err))) goto done;
        mi++;
        t->n_merges = (size_t)mi;
    }

    ai = 0;
    cJSON_ArrayForEach(e, added)
    {
        as_id(field(e, "id"), TK_MAX_ID, &id);
        const char *content = field(e, "content")->valuestring;
        if (t->kind[id] & TK_SPECIAL) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: added_tokens[%d].id: %u is already an added token", name, ai, id);
            goto done;
        }
        if ((st = tk_add_special(t, id, content, strlen(content), err))) goto done;
        ai++;
    }
    st = tk_finish(t, name, err);
done:
    free(scratch);
    free(added_list);
    cJSON_Delete(root);
    if (st) {
        hlm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return HLM_OK;
}

/* ---- saving ---- */

static hlm_status json_string(hlm_buf *b, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (hlm_buf_reserve(b, n * 6 + 2)) return HLM_ERR_NOMEM;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = c;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default:
                *o++ = 'u', *o++ = '0', *o++ = '0', *o++ = hex[c >> 4], *o++ = hex[c & 15];
            }
        } else {
            *o++ = c; /* UTF-8 passes through; the caller checked it is valid */
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return HLM_OK;
}

/* A token in GPT-2's byte alphabet: each byte is a code point below U+0144 (at most 2 bytes of
 * UTF-8, never a control character); only '"' and '\\' need escaping. */
static hlm_status json_bytelevel(hlm_buf *b, const bl_tables *bl, const uint8_t *s, size_t n)
{
    if (hlm_buf_reserve(b, 2 * n + 2)) return HLM_ERR_NOMEM;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = bl->cp_of_byte[s[i]];
        if (cp == '"' || cp == '\\') {
            *o++ = '\\';
            *o++ = (uint8_t)cp;
        } else if (cp < 0x80) {
            *o++ = (uint8_t)cp;
        } else {
            *o++ = (uint8_t)(0xC0 | cp >> 6);
            *o++ = (uint8_t)(0x80 | (cp & 0x3F));
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return HLM_OK;
}

#define PUT(str) hlm_buf_append(&b, str, strlen(str))

hlm_status tk_to_json(const hlm_tokenizer *t, hlm_buf *out, const char *path, hlm_error *err)
{
    uint32_t(*derived)[2] = NULL;
    const uint32_t(*merges)[2] = (const uint32_t(*)[2])t->merges;
    size_t n_merges = t->n_merges;
    int ignore_merges = t->ignore_merges;
    if (t->spm)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: a SentencePiece vocabulary (from a GGUF file) cannot be saved as a "
                          "byte-level BPE tokenizer.json", path);
    if (t->semantics == TK_SEM_TIKTOKEN) {
        hlm_status st = tk_derive_merges(t, &derived, &n_merges, err);
        if (st) {
            hlm_error_prefix(err, "%s: cannot save as tokenizer.json: ", path);
            return st;
        }
        merges = (const uint32_t(*)[2])derived;
        ignore_merges = 1;
    }
    for (size_t i = 0; i < t->n_specials; i++)
        if (!utf8_valid((const uint8_t *)t->specials[i].text, t->specials[i].len)) {
            free(derived);
            return hlm_errorf(err, HLM_ERR_INVALID, "%s: special token %u is not valid UTF-8, which JSON cannot hold",
                              path, t->specials[i].id);
        }

    bl_tables bl;
    bl_tables_init(&bl);
    hlm_buf b = *out;
    int bad = 0;
    bad |= PUT("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
    for (size_t i = 0; i < t->n_specials; i++) {
        bad |= hlm_buf_appendf(&b, "%s\n    {\"id\": %u, \"content\": ", i ? "," : "", t->specials[i].id);
        bad |= json_string(&b, (const uint8_t *)t->specials[i].text, t->specials[i].len);
        bad |= PUT(", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
                   "\"special\": true}");
    }
    bad |= PUT(t->n_specials ? "\n  ],\n" : "],\n");
    bad |= t->normalize ? PUT("  \"normalizer\": {\"type\": \"NFC\"},\n") : PUT("  \"normalizer\": null,\n");
    bad |= PUT("  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [\n"
               "    {\"type\": \"Split\", \"pattern\": {\"Regex\": ");
    const char *re = hlm_pattern_regex(t->pattern);
    bad |= json_string(&b, (const uint8_t *)re, strlen(re));
    bad |= PUT("}, \"behavior\": \"Isolated\", \"invert\": false},\n"
               "    {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}\n"
               "  ]},\n"
               "  \"post_processor\": null,\n"
               "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
               "\"use_regex\": true},\n"
               "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
               "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
               "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n");
    bad |= ignore_merges ? PUT("    \"ignore_merges\": true,\n") : PUT("    \"ignore_merges\": false,\n");
    bad |= PUT("    \"vocab\": {");
    int first = 1;
    size_t si = 0; /* specials are sorted by id */
    for (uint32_t id = 0; id < t->vocab_size && !bad; id++) {
        while (si < t->n_specials && t->specials[si].id < id) si++;
        if (t->kind[id] & TK_REGULAR) {
            bad |= PUT(first ? "\n      " : ",\n      ");
            bad |= json_bytelevel(&b, &bl, t->blob + t->tok_off[id], t->tok_len[id]);
        } else if (t->kind[id] & TK_SPECIAL) {
            /* Listed under its text so that `tokenizers` gives it this id (it numbers added tokens
             * that are not in the vocabulary from the vocabulary's size up, which is wrong when
             * ids have gaps, as in cl100k_base). Not if the text is some token's key already. */
            const tk_special *sp = &t->specials[si];
            uint8_t *tmp = malloc(sp->len + 1);
            uint32_t badcp;
            long k = tmp ? bytelevel_decode(&bl, sp->text, tmp, &badcp) : -1;
            int clash = k > 0 && tk_lookup(t, tmp, (size_t)k) != TK_NONE;
            free(tmp);
            if (clash) continue;
            bad |= PUT(first ? "\n      " : ",\n      ");
            bad |= json_string(&b, (const uint8_t *)sp->text, sp->len);
        } else {
            continue;
        }
        first = 0;
        bad |= hlm_buf_appendf(&b, ": %u", id);
    }
    bad |= PUT("\n    },\n    \"merges\": [");
    for (size_t i = 0; i < n_merges && !bad; i++) {
        bad |= PUT(i ? ",\n      [" : "\n      [");
        bad |= json_bytelevel(&b, &bl, t->blob + t->tok_off[merges[i][0]], t->tok_len[merges[i][0]]);
        bad |= PUT(", ");
        bad |= json_bytelevel(&b, &bl, t->blob + t->tok_off[merges[i][1]], t->tok_len[merges[i][1]]);
        bad |= PUT("]");
    }
    bad |= PUT(n_merges ? "\n    ]\n  }\n}\n" : "]\n  }\n}\n");
    free(derived);
    *out = b;
    if (bad) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    return HLM_OK;
}

hlm_status hlm_tokenizer_save(const hlm_tokenizer *t, const char *path, hlm_error *err)
{
    hlm_buf b = {0};
    hlm_status st = tk_to_json(t, &b, path, err);
    if (st) {
        hlm_buf_free(&b);
        return st;
    }
    hlm_atomic_file f;
    st = hlm_atomic_open(&f, path, err);
    if (!st) {
        if (fwrite(b.data, 1, b.len, f.fp) != b.len) {
            hlm_atomic_abort(&f);
            st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed", path);
        } else {
            st = hlm_atomic_commit(&f, err);
        }
    }
    hlm_buf_free(&b);
    return st;
}
