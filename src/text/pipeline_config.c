/* The pipeline's JSON config file (docs/data-pipeline.md lists every key and its default).
 * Unknown keys are errors, so a misspelt threshold cannot be silently ignored. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "text/pii.h"
#include "text/pipeline.h"
#include "text/unicode.h"

typedef struct cfg {
    const char *path;
    hlm_error *err;
} cfg;

static hlm_status bad(const cfg *c, const char *section, const char *key, const char *expected)
{
    return hlm_errorf(c->err, HLM_ERR_INVALID, "%s: %s%s%s: expected %s", c->path, section, *section ? "." : "", key,
                      expected);
}

static hlm_status get_bool(const cfg *c, const char *section, const cJSON *v, int *out)
{
    if (!cJSON_IsBool(v)) return bad(c, section, v->string, "true or false");
    *out = cJSON_IsTrue(v);
    return HLM_OK;
}

static hlm_status get_num(const cfg *c, const char *section, const cJSON *v, double lo, double hi, double *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
        char what[96];
        snprintf(what, sizeof what, "a number in [%g, %g]", lo, hi);
        return bad(c, section, v->string, what);
    }
    *out = v->valuedouble;
    return HLM_OK;
}

static hlm_status get_int(const cfg *c, const char *section, const cJSON *v, double lo, double hi, double *out)
{
    hlm_status st = get_num(c, section, v, lo, hi, out);
    if (!st && *out != floor(*out)) {
        char what[96];
        snprintf(what, sizeof what, "an integer in [%g, %g]", lo, hi);
        return bad(c, section, v->string, what);
    }
    return st;
}

static hlm_status need_object(const cfg *c, const cJSON *v)
{
    return cJSON_IsObject(v) ? HLM_OK : bad(c, "", v->string, "an object");
}

static hlm_status unknown(const cfg *c, const char *section, const char *key)
{
    return hlm_errorf(c->err, HLM_ERR_INVALID, "%s: %s%s%s: unknown key (see docs/data-pipeline.md)", c->path, section,
                      *section ? "." : "", key);
}

static hlm_status add_overrides(const cfg *c, hlm_pipeline_opts *o, const char *lang, const cJSON *obj)
{
    char section[64];
    snprintf(section, sizeof section, "filters.%s", lang[0] ? lang : "default");
    if (!cJSON_IsObject(obj)) return bad(c, "filters", obj->string, "an object of thresholds");
    const cJSON *v;
    cJSON_ArrayForEach(v, obj)
    {
        hlm_filter_params probe;
        hlm_filter_params_default(&probe, "en");
        if (!cJSON_IsNumber(v) && !cJSON_IsBool(v)) return bad(c, section, v->string, "a number or true/false");
        double value = cJSON_IsBool(v) ? (double)cJSON_IsTrue(v) : v->valuedouble;
        hlm_error e;
        if (hlm_filter_param_set(&probe, v->string, value, &e)) return unknown(c, section, v->string);
        if (o->n_overrides == HLM_PIPE_MAX_OVERRIDES)
            return hlm_errorf(c->err, HLM_ERR_INVALID, "%s: more than %d filter settings", c->path,
                              HLM_PIPE_MAX_OVERRIDES);
        hlm_filter_override *ov = &o->overrides[o->n_overrides++];
        snprintf(ov->lang, sizeof ov->lang, "%s", lang);
        snprintf(ov->name, sizeof ov->name, "%s", v->string);
        ov->value = value;
    }
    return HLM_OK;
}

/* One word or phrase a line, UTF-8; blank lines and lines starting with '#' are skipped. Turns
 * c4_filter_bad_words on for every language that runs C4. */
static hlm_status load_bad_words(const cfg *c, hlm_pipeline_opts *o, const cJSON *v)
{
    if (!cJSON_IsString(v)) return bad(c, "filters", "bad_words_file", "a file name");
    hlm_buf b = {0};
    hlm_status st = hlm_file_read_all(v->valuestring, &b, c->err);
    if (st) {
        hlm_buf_free(&b);
        hlm_error_prefix(c->err, "%s: filters.bad_words_file: ", c->path);
        return st;
    }
    if (!hlm_utf8_valid(b.data, b.len)) {
        hlm_buf_free(&b);
        return hlm_errorf(c->err, HLM_ERR_FORMAT, "%s: expected UTF-8 text, one bad word a line", v->valuestring);
    }
    size_t lines = 1;
    for (size_t i = 0; i < b.len; i++) lines += b.data[i] == '\n';
    const char **list = calloc(lines + 1, sizeof *list);
    if (!list) {
        hlm_buf_free(&b);
        return hlm_errorf(c->err, HLM_ERR_NOMEM, "out of memory");
    }
    size_t n = 0;
    char *p = (char *)b.data;
    while (p && *p) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        size_t k = strlen(p);
        while (k && (p[k - 1] == '\r' || p[k - 1] == ' ' || p[k - 1] == '\t')) p[--k] = 0;
        while (*p == ' ' || *p == '\t') p++;
        if (*p && *p != '#') list[n++] = p;
        p = e ? e + 1 : NULL;
    }
    hlm_pipeline_opts_free(o);
    o->bad_words = list;
    o->bad_words_text = (char *)b.data; /* owns the strings */
    if (o->n_overrides == HLM_PIPE_MAX_OVERRIDES)
        return hlm_errorf(c->err, HLM_ERR_INVALID, "%s: more than %d filter settings", c->path, HLM_PIPE_MAX_OVERRIDES);
    hlm_filter_override *ov = &o->overrides[o->n_overrides++];
    ov->lang[0] = 0;
    snprintf(ov->name, sizeof ov->name, "c4_filter_bad_words");
    ov->value = 1;
    return HLM_OK;
}

hlm_status hlm_pipeline_config_load(hlm_pipeline_opts *o, const char *path, hlm_error *err)
{
    hlm_buf b = {0};
    hlm_status st = hlm_file_read_all(path, &b, err);
    if (st) {
        hlm_buf_free(&b); /* a read that fails part way has already filled some of it */
        return st;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)b.data, b.len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end && end >= (const char *)b.data ? (size_t)(end - (const char *)b.data) : 0;
        hlm_buf_free(&b);
        cJSON_Delete(root);
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: expected a JSON object (invalid JSON near byte %zu)", path, at);
    }
    hlm_buf_free(&b);
    cfg c = {path, err};
    double d;
    const cJSON *sec, *v;
    cJSON_ArrayForEach(sec, root)
    {
        const char *name = sec->string;
        if (strcmp(name, "lang") == 0) {
            if (cJSON_IsString(sec)) st = hlm_pipeline_set_langs(o, sec->valuestring, err);
            else if (cJSON_IsArray(sec)) {
                o->n_keep_langs = 0;
                cJSON_ArrayForEach(v, sec)
                {
                    if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof o->keep_langs[0] ||
                        o->n_keep_langs == HLM_PIPE_MAX_LANGS) {
                        st = bad(&c, "", "lang", "a list of language codes such as [\"ko\", \"en\"]");
                        break;
                    }
                    snprintf(o->keep_langs[o->n_keep_langs++], sizeof o->keep_langs[0], "%s", v->valuestring);
                }
            } else st = bad(&c, "", "lang", "a list of language codes such as [\"ko\", \"en\"]");
        } else if (strcmp(name, "min_lang_score") == 0) {
            if (!(st = get_num(&c, "", sec, 0, 1, &d))) o->min_lang_score = d;
        } else if (strcmp(name, "threads") == 0) {
            if (!(st = get_int(&c, "", sec, 0, 4096, &d))) o->threads = (int)d;
        } else if (strcmp(name, "max_memory_mb") == 0) {
            if (!(st = get_int(&c, "", sec, 64, 1e9, &d))) o->max_memory_bytes = (size_t)d << 20;
        } else if (strcmp(name, "input") == 0) {
            if (!(st = need_object(&c, sec)))
                cJSON_ArrayForEach(v, sec)
                {
                    if (st) break;
                    if (strcmp(v->string, "text_as") == 0) {
                        if (cJSON_IsString(v) && strcmp(v->valuestring, "file") == 0) o->source.text_as = HLM_SRC_TEXT;
                        else if (cJSON_IsString(v) && strcmp(v->valuestring, "lines") == 0)
                            o->source.text_as = HLM_SRC_LINES;
                        else st = bad(&c, "input", "text_as", "\"file\" or \"lines\"");
                    } else st = unknown(&c, "input", v->string);
                }
        } else if (strcmp(name, "normalize") == 0) {
            if (!(st = need_object(&c, sec)))
                cJSON_ArrayForEach(v, sec)
                {
                    if (st) break;
                    if (strcmp(v->string, "enabled") == 0) st = get_bool(&c, "normalize", v, &o->normalize);
                    else if (strcmp(v->string, "max_invalid_fraction") == 0) {
                        if (!(st = get_num(&c, "normalize", v, 0, 1, &d))) o->max_invalid_fraction = d;
                    } else if (strcmp(v->string, "min_chars") == 0) {
                        if (!(st = get_int(&c, "normalize", v, 0, 1e9, &d))) o->min_chars = (size_t)d;
                    } else st = unknown(&c, "normalize", v->string);
                }
        } else if (strcmp(name, "langid") == 0) {
            if (!(st = need_object(&c, sec)))
                cJSON_ArrayForEach(v, sec)
                {
                    if (st) break;
                    if (strcmp(v->string, "enabled") == 0) st = get_bool(&c, "langid", v, &o->langid);
                    else if (strcmp(v->string, "max_bytes") == 0) {
                        if (!(st = get_int(&c, "langid", v, 0, 1e9, &d))) o->langid_max_bytes = (size_t)d;
                    } else st = unknown(&c, "langid", v->string);
                }
        } else if (strcmp(name, "filters") == 0) {
            if (!(st = need_object(&c, sec)))
                cJSON_ArrayForEach(v, sec)
                {
                    if (st) break;
                    if (strcmp(v->string, "enabled") == 0) st = get_bool(&c, "filters", v, &o->filters);
                    else if (strcmp(v->string, "bad_words_file") == 0) st = load_bad_words(&c, o, v);
                    else if (strcmp(v->string, "default") == 0) st = add_overrides(&c, o, "", v);
                    else if (strlen(v->string) < sizeof o->overrides[0].lang) st = add_overrides(&c, o, v->string, v);
                    else st = unknown(&c, "filters", v->string);
                }
        } else if (strcmp(name, "pii") == 0) {
            if (!(st = need_object(&c, sec)))
                cJSON_ArrayForEach(v, sec)
                {
                    if (st) break;
                    if (strcmp(v->string, "enabled") == 0) st = get_bool(&c, "pii", v, &o->pii);
                    else if (strcmp(v->string, "types") == 0) {
                        if (!cJSON_IsString(v)) st = bad(&c, "pii", "types", "a string such as \"email,phone\"");
                        else if (hlm_pii_parse_types(v->valuestring, &o->pii_mask, err)) {
                            hlm_error_prefix(err, "%s: pii.types: ", path);
                            st = HLM_ERR_INVALID;
                        }
                    } else st = unknown(&c, "pii", v->string);
                }
        } else if (strcmp(name, "dedup") == 0) {
            if (!(st = need_object(&c, sec)))
                cJSON_ArrayForEach(v, sec)
                {
                    if (st) break;
                    const char *k = v->string;
                    if (strcmp(k, "exact") == 0) st = get_bool(&c, "dedup", v, &o->dedup_exact);
                    else if (strcmp(k, "lines") == 0) st = get_bool(&c, "dedup", v, &o->dedup_lines);
                    else if (strcmp(k, "minhash") == 0) st = get_bool(&c, "dedup", v, &o->dedup_minhash);
                    else if (strcmp(k, "line_min_docs") == 0) {
                        if (!(st = get_int(&c, "dedup", v, 2, 1e9, &d))) o->line_min_docs = (uint32_t)d;
                    } else if (strcmp(k, "line_min_chars") == 0) {
                        if (!(st = get_int(&c, "dedup", v, 0, 1e6, &d))) o->line_min_chars = (size_t)d;
                    } else if (strcmp(k, "bands") == 0) {
                        if (!(st = get_int(&c, "dedup", v, 1, 64, &d))) o->minhash.bands = (int)d;
                    } else if (strcmp(k, "rows") == 0) {
                        if (!(st = get_int(&c, "dedup", v, 1, 64, &d))) o->minhash.rows = (int)d;
                    } else if (strcmp(k, "word_ngram") == 0) {
                        if (!(st = get_int(&c, "dedup", v, 1, 64, &d))) o->minhash.word_ngram = (int)d;
                    } else if (strcmp(k, "char_ngram") == 0) {
                        if (!(st = get_int(&c, "dedup", v, 1, 64, &d))) o->minhash.char_ngram = (int)d;
                    } else if (strcmp(k, "korean_shingles") == 0) {
                        int kind = -1;
                        for (int q = 0; q < 3 && cJSON_IsString(v); q++)
                            if (strcmp(v->valuestring, hlm_ko_shingles_names[q]) == 0) kind = q;
                        if (kind < 0) st = bad(&c, "dedup", k, "\"characters\", \"words\" or \"morphemes\"");
                        else o->minhash.korean_shingles = kind;
                    } else if (strcmp(k, "seed") == 0) {
                        if (!(st = get_int(&c, "dedup", v, 0, 9007199254740992.0, &d))) o->minhash.seed = (uint64_t)d;
                    } else st = unknown(&c, "dedup", k);
                }
        } else {
            st = unknown(&c, "", name);
        }
        if (st) break;
    }
    cJSON_Delete(root);
    if (!st && o->filters) { /* every override must apply to the params of its language */
        hlm_filter_params p;
        for (size_t i = 0; i < o->n_overrides && !st; i++) {
            const char *lang = o->overrides[i].lang[0] ? o->overrides[i].lang : "en";
            st = hlm_pipeline_filter_params(o, lang, &p, err);
            if (!st && p.c4 && p.c4_filter_bad_words && !p.bad_words)
                st = hlm_errorf(err, HLM_ERR_INVALID,
                                "%s: filters.%s.c4_filter_bad_words: expected filters.bad_words_file too (no list "
                                "is built in)",
                                path, o->overrides[i].lang[0] ? o->overrides[i].lang : "default");
        }
    }
    return st;
}
