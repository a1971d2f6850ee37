/* The pipeline's report: report.json (read back to merge parts) and the readable summary.
 * Counts are written as JSON numbers, exact up to 2^53. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "text/pii.h"
#include "text/pipeline.h"

static double rate_mb_s(uint64_t bytes, double s) { return s > 0 ? (double)bytes / 1e6 / s : 0; }

static uint64_t removed_total(const hlm_pipeline_report *r)
{
    uint64_t t = 0;
    for (int k = 0; k < HLM_RM_COUNT; k++) t += r->removed[k];
    return t;
}

#define ADD_NUM(obj, name, v) cJSON_AddNumberToObject(obj, name, (double)(v))

hlm_status hlm_report_to_json(const hlm_pipeline_report *r, const hlm_pipeline_opts *o, hlm_buf *out, hlm_error *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    ADD_NUM(root, "version", 1);
    ADD_NUM(root, "parts", r->parts);
    cJSON *docs = cJSON_AddObjectToObject(root, "documents");
    ADD_NUM(docs, "in", r->docs_in);
    ADD_NUM(docs, "kept", r->docs_kept);
    ADD_NUM(docs, "removed", removed_total(r));
    cJSON_AddBoolToObject(docs, "in_equals_kept_plus_removed", r->docs_in == r->docs_kept + removed_total(r));
    cJSON *bytes = cJSON_AddObjectToObject(root, "bytes");
    ADD_NUM(bytes, "input_files", r->input_file_bytes);
    ADD_NUM(bytes, "raw", r->raw_bytes_in);
    ADD_NUM(bytes, "text_in", r->bytes_in);
    ADD_NUM(bytes, "kept", r->bytes_kept);
    ADD_NUM(root, "wall_seconds", r->wall_s);

    cJSON *rm = cJSON_AddObjectToObject(root, "removed");
    for (int k = 0; k < HLM_RM_COUNT; k++) {
        if (!r->removed[k]) continue;
        cJSON *e = cJSON_AddObjectToObject(rm, hlm_removal_name(k));
        ADD_NUM(e, "count", r->removed[k]);
        cJSON *ex = cJSON_AddArrayToObject(e, "examples");
        for (uint64_t i = 0; i < r->examples_n[k] && i < HLM_REPORT_EXAMPLES; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "id", r->examples[k][i].id);
            cJSON_AddStringToObject(x, "text", r->examples[k][i].snippet);
            ADD_NUM(x, "value", r->examples[k][i].value);
            cJSON_AddItemToArray(ex, x);
        }
    }
    cJSON *stages = cJSON_AddArrayToObject(root, "stages");
    for (int k = 0; k < HLM_STAGE_COUNT; k++) {
        const hlm_stage_stats *s = &r->stage[k];
        if (!s->docs_in) continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", hlm_stage_name(k));
        ADD_NUM(x, "docs_in", s->docs_in);
        ADD_NUM(x, "docs_out", s->docs_out);
        ADD_NUM(x, "bytes_in", s->bytes_in);
        ADD_NUM(x, "bytes_out", s->bytes_out);
        ADD_NUM(x, "cpu_seconds", s->cpu_s);
        ADD_NUM(x, "mb_per_s_per_core", rate_mb_s(s->bytes_in, s->cpu_s));
        cJSON_AddItemToArray(stages, x);
    }
    cJSON *langs = cJSON_AddObjectToObject(root, "languages");
    for (size_t i = 0; i < r->n_langs; i++) {
        cJSON *x = cJSON_AddObjectToObject(langs, r->langs[i].lang);
        ADD_NUM(x, "docs", r->langs[i].docs);
        ADD_NUM(x, "bytes", r->langs[i].bytes);
    }
    cJSON *pii = cJSON_AddObjectToObject(root, "pii");
    for (int k = 0; k < HLM_PII_TYPE_COUNT; k++) ADD_NUM(pii, hlm_pii_type_name((hlm_pii_type)k), r->pii[k]);
    cJSON *lines = cJSON_AddObjectToObject(root, "lines_removed");
    ADD_NUM(lines, "filters", r->lines_removed_filters);
    ADD_NUM(lines, "dedup", r->lines_removed_dedup);
    cJSON *dd = cJSON_AddObjectToObject(root, "dedup");
    ADD_NUM(dd, "near_duplicate_clusters", r->near_dup_clusters);
    ADD_NUM(dd, "line_table_entries", r->line_table_entries);
    ADD_NUM(dd, "line_table_dropped", r->line_table_dropped);
    ADD_NUM(dd, "memory_bytes", r->dedup_memory_bytes);
    ADD_NUM(root, "invalid_utf8_repaired_docs", r->invalid_repaired_docs);
    ADD_NUM(root, "warc_records_skipped", r->warc_records_skipped);
    if (o) {
        cJSON *c = cJSON_AddObjectToObject(root, "settings");
        cJSON *keep = cJSON_AddArrayToObject(c, "lang");
        for (size_t i = 0; i < o->n_keep_langs; i++) cJSON_AddItemToArray(keep, cJSON_CreateString(o->keep_langs[i]));
        ADD_NUM(c, "min_lang_score", o->min_lang_score);
        cJSON_AddBoolToObject(c, "normalize", o->normalize);
        cJSON_AddBoolToObject(c, "langid", o->langid);
        cJSON_AddBoolToObject(c, "filters", o->filters);
        cJSON_AddBoolToObject(c, "pii", o->pii);
        cJSON_AddBoolToObject(c, "dedup_exact", o->dedup_exact);
        cJSON_AddBoolToObject(c, "dedup_lines", o->dedup_lines);
        cJSON_AddBoolToObject(c, "dedup_minhash", o->dedup_minhash);
        ADD_NUM(c, "minhash_bands", o->minhash.bands);
        ADD_NUM(c, "minhash_rows", o->minhash.rows);
        cJSON_AddStringToObject(c, "minhash_korean_shingles", hlm_ko_shingles_names[o->minhash.korean_shingles]);
        ADD_NUM(c, "line_min_docs", o->line_min_docs);
        ADD_NUM(c, "line_min_chars", o->line_min_chars);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    hlm_status st = hlm_buf_append(out, text, strlen(text));
    if (st == HLM_OK) st = hlm_buf_append(out, "\n", 1);
    free(text);
    return st ? hlm_errorf(err, st, "report: out of memory") : HLM_OK;
}

hlm_status hlm_report_write_json(const hlm_pipeline_report *r, const hlm_pipeline_opts *o, const char *path,
                                 hlm_error *err)
{
    hlm_buf b = {0};
    hlm_status st = hlm_report_to_json(r, o, &b, err);
    if (st == HLM_OK) st = hlm_file_write_atomic(path, b.data, b.len, err);
    hlm_buf_free(&b);
    return st;
}

/* A count: a whole number in [0, 2^53] (what a double holds exactly), else 0 and *bad names the
 * field. A missing field is 0. */
static uint64_t num(const cJSON *obj, const char *name, const char **bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0) ||
        v->valuedouble != (double)(uint64_t)v->valuedouble) {
        if (!*bad) *bad = name;
        return 0;
    }
    return (uint64_t)v->valuedouble;
}

hlm_status hlm_report_read_json(hlm_pipeline_report *r, const char *path, hlm_error *err)
{
    memset(r, 0, sizeof *r);
    hlm_buf b = {0};
    hlm_status st = hlm_file_read_all(path, &b, err);
    if (st == HLM_OK) st = hlm_report_parse_json(r, b.data, b.len, path, err);
    hlm_buf_free(&b); /* a read that fails part way has already filled some of it */
    return st;
}

hlm_status hlm_report_parse_json(hlm_pipeline_report *r, const uint8_t *data, size_t len, const char *path,
                                 hlm_error *err)
{
    memset(r, 0, sizeof *r);
    cJSON *root = cJSON_ParseWithLength((const char *)data, len);
    const cJSON *docs = root ? cJSON_GetObjectItemCaseSensitive(root, "documents") : NULL;
    if (!cJSON_IsObject(docs)) {
        cJSON_Delete(root);
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: expected a pipeline report (a JSON object with \"documents\")",
                          path);
    }
    const char *bad_field = NULL;
    r->parts = (unsigned)num(root, "parts", &bad_field);
    r->docs_in = num(docs, "in", &bad_field);
    r->docs_kept = num(docs, "kept", &bad_field);
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(root, "bytes");
    r->input_file_bytes = num(bytes, "input_files", &bad_field);
    r->raw_bytes_in = num(bytes, "raw", &bad_field);
    r->bytes_in = num(bytes, "text_in", &bad_field);
    r->bytes_kept = num(bytes, "kept", &bad_field);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "wall_seconds");
    r->wall_s = cJSON_IsNumber(w) ? w->valuedouble : 0;
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(root, "removed");
    for (int k = 0; k < HLM_RM_COUNT; k++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(rm, hlm_removal_name(k));
        if (!e) continue;
        r->removed[k] = num(e, "count", &bad_field);
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(e, "examples"), *x;
        cJSON_ArrayForEach(x, ex)
        {
            if (r->examples_n[k] >= HLM_REPORT_EXAMPLES) break;
            hlm_removal_example *d = &r->examples[k][r->examples_n[k]++];
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "id"), *t = cJSON_GetObjectItemCaseSensitive(x, "text"),
                        *v = cJSON_GetObjectItemCaseSensitive(x, "value");
            snprintf(d->id, sizeof d->id, "%s", cJSON_IsString(id) ? id->valuestring : "");
            snprintf(d->snippet, sizeof d->snippet, "%s", cJSON_IsString(t) ? t->valuestring : "");
            d->value = cJSON_IsNumber(v) ? v->valuedouble : 0;
        }
    }
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages"), *x;
    cJSON_ArrayForEach(x, stages)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(x, "name");
        if (!cJSON_IsString(name)) continue;
        for (int k = 0; k < HLM_STAGE_COUNT; k++)
            if (strcmp(name->valuestring, hlm_stage_name(k)) == 0) {
                hlm_stage_stats *s = &r->stage[k];
                s->docs_in = num(x, "docs_in", &bad_field);
                s->docs_out = num(x, "docs_out", &bad_field);
                s->bytes_in = num(x, "bytes_in", &bad_field);
                s->bytes_out = num(x, "bytes_out", &bad_field);
                const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "cpu_seconds");
                s->cpu_s = cJSON_IsNumber(c) ? c->valuedouble : 0;
            }
    }
    const cJSON *langs = cJSON_GetObjectItemCaseSensitive(root, "languages");
    cJSON_ArrayForEach(x, langs)
    {
        if (r->n_langs == sizeof r->langs / sizeof *r->langs) break;
        hlm_lang_count *l = &r->langs[r->n_langs++];
        snprintf(l->lang, sizeof l->lang, "%s", x->string ? x->string : "");
        l->docs = num(x, "docs", &bad_field);
        l->bytes = num(x, "bytes", &bad_field);
    }
    const cJSON *pii = cJSON_GetObjectItemCaseSensitive(root, "pii");
    for (int k = 0; k < HLM_PII_TYPE_COUNT; k++) r->pii[k] = num(pii, hlm_pii_type_name((hlm_pii_type)k), &bad_field);
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(root, "lines_removed");
    r->lines_removed_filters = num(lines, "filters", &bad_field);
    r->lines_removed_dedup = num(lines, "dedup", &bad_field);
    const cJSON *dd = cJSON_GetObjectItemCaseSensitive(root, "dedup");
    r->near_dup_clusters = num(dd, "near_duplicate_clusters", &bad_field);
    r->line_table_entries = num(dd, "line_table_entries", &bad_field);
    r->line_table_dropped = num(dd, "line_table_dropped", &bad_field);
    r->dedup_memory_bytes = num(dd, "memory_bytes", &bad_field);
    r->invalid_repaired_docs = num(root, "invalid_utf8_repaired_docs", &bad_field);
    r->warc_records_skipped = num(root, "warc_records_skipped", &bad_field);
    cJSON_Delete(root);
    if (bad_field)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: field '%s': expected a count (a whole number from 0 to 2^53)",
                          path, bad_field);
    return HLM_OK;
}

void hlm_report_merge(hlm_pipeline_report *a, const hlm_pipeline_report *b)
{
    a->docs_in += b->docs_in;
    a->docs_kept += b->docs_kept;
    a->bytes_in += b->bytes_in;
    a->bytes_kept += b->bytes_kept;
    a->raw_bytes_in += b->raw_bytes_in;
    a->input_file_bytes += b->input_file_bytes;
    for (int k = 0; k < HLM_RM_COUNT; k++) {
        a->removed[k] += b->removed[k];
        for (uint64_t i = 0; i < b->examples_n[k] && a->examples_n[k] < HLM_REPORT_EXAMPLES; i++)
            a->examples[k][a->examples_n[k]++] = b->examples[k][i];
    }
    for (int k = 0; k < HLM_STAGE_COUNT; k++) {
        a->stage[k].docs_in += b->stage[k].docs_in;
        a->stage[k].docs_out += b->stage[k].docs_out;
        a->stage[k].bytes_in += b->stage[k].bytes_in;
        a->stage[k].bytes_out += b->stage[k].bytes_out;
        a->stage[k].cpu_s += b->stage[k].cpu_s;
    }
    for (size_t i = 0; i < b->n_langs; i++) {
        size_t j = 0;
        while (j < a->n_langs && strcmp(a->langs[j].lang, b->langs[i].lang) != 0) j++;
        if (j == a->n_langs) {
            if (a->n_langs == sizeof a->langs / sizeof *a->langs) continue;
            a->langs[a->n_langs++] = (hlm_lang_count){.docs = 0};
            memcpy(a->langs[j].lang, b->langs[i].lang, sizeof a->langs[j].lang);
        }
        a->langs[j].docs += b->langs[i].docs;
        a->langs[j].bytes += b->langs[i].bytes;
    }
    for (int k = 0; k < 8; k++) a->pii[k] += b->pii[k];
    a->invalid_repaired_docs += b->invalid_repaired_docs;
    a->lines_removed_filters += b->lines_removed_filters;
    a->lines_removed_dedup += b->lines_removed_dedup;
    a->warc_records_skipped += b->warc_records_skipped;
    a->near_dup_clusters += b->near_dup_clusters;
    a->line_table_entries += b->line_table_entries;
    a->line_table_dropped += b->line_table_dropped;
    if (b->dedup_memory_bytes > a->dedup_memory_bytes) a->dedup_memory_bytes = b->dedup_memory_bytes;
    if (b->wall_s > a->wall_s) a->wall_s = b->wall_s; /* parts run side by side */
}

static void human_bytes(char *out, size_t cap, double b)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int k = 0;
    while (b >= 1000 && k < 4) b /= 1000, k++;
    snprintf(out, cap, k ? "%.1f %s" : "%.0f %s", b, u[k]);
}

hlm_status hlm_report_summary(const hlm_pipeline_report *r, hlm_buf *out)
{
    char a[32], b[32];
    uint64_t removed = removed_total(r);
    hlm_status st = HLM_OK;
#define P(...)                                                                                                        \
    do {                                                                                                              \
        if (!st) st = hlm_buf_appendf(out, __VA_ARGS__);                                                              \
    } while (0)
    human_bytes(a, sizeof a, (double)r->bytes_in);
    human_bytes(b, sizeof b, (double)r->bytes_kept);
    P("documents: %llu in, %llu kept (%.1f%%), %llu removed%s\n", (unsigned long long)r->docs_in,
      (unsigned long long)r->docs_kept, r->docs_in ? 100.0 * (double)r->docs_kept / (double)r->docs_in : 0.0,
      (unsigned long long)removed, r->docs_in == r->docs_kept + removed ? "" : "  (COUNTS DO NOT ADD UP)");
    P("text: %s in, %s kept", a, b);
    human_bytes(a, sizeof a, (double)r->raw_bytes_in);
    P(" (%s read before extraction)\n", a);
    if (removed) {
        P("\nremoved, by reason:\n");
        for (int k = 0; k < HLM_RM_COUNT; k++) {
            if (!r->removed[k]) continue;
            P("  %-34s %10llu  %5.1f%%", hlm_removal_name(k), (unsigned long long)r->removed[k],
              100.0 * (double)r->removed[k] / (double)(r->docs_in ? r->docs_in : 1));
            if (r->examples_n[k]) {
                /* first example, on one line, cut to 60 bytes at a character boundary */
                const char *s = r->examples[k][0].snippet;
                char one[64];
                size_t n = 0;
                for (size_t i = 0; s[i] && n < sizeof one - 4; i++) one[n++] = s[i] == '\n' || s[i] == '\t' ? ' ' : s[i];
                while (n > 0 && ((unsigned char)one[n - 1] & 0xC0) == 0x80) n--;
                if (n > 0 && ((unsigned char)one[n - 1] & 0xC0) == 0xC0) n--;
                one[n] = 0;
                P("  e.g. \"%s\"", one);
            }
            P("\n");
        }
    }
    if (r->n_langs) {
        P("\nlanguages (documents identified):\n");
        for (size_t i = 0; i < r->n_langs; i++) {
            human_bytes(a, sizeof a, (double)r->langs[i].bytes);
            P("  %-6s %10llu docs  %s\n", r->langs[i].lang, (unsigned long long)r->langs[i].docs, a);
        }
    }
    uint64_t pii = 0;
    for (int k = 0; k < HLM_PII_TYPE_COUNT; k++) pii += r->pii[k];
    if (pii) {
        P("\nPII replaced:");
        for (int k = 0; k < HLM_PII_TYPE_COUNT; k++)
            if (r->pii[k]) P(" %s %llu", hlm_pii_type_name((hlm_pii_type)k), (unsigned long long)r->pii[k]);
        P("\n");
    }
    if (r->lines_removed_filters || r->lines_removed_dedup)
        P("lines removed: %llu by the C4 line rules, %llu as boilerplate (repeated across documents)\n",
          (unsigned long long)r->lines_removed_filters, (unsigned long long)r->lines_removed_dedup);
    P("\nstage            docs in    docs out      MB in   MB/s/core\n");
    for (int k = 0; k < HLM_STAGE_COUNT; k++) {
        const hlm_stage_stats *s = &r->stage[k];
        if (!s->docs_in) continue;
        P("  %-12s %10llu  %10llu  %9.1f  %10.1f\n", hlm_stage_name(k), (unsigned long long)s->docs_in,
          (unsigned long long)s->docs_out, (double)s->bytes_in / 1e6, rate_mb_s(s->bytes_in, s->cpu_s));
    }
    P("wall time %.1f s\n", r->wall_s);
#undef P
    return st;
}
