/* The data pipeline's two passes (pipeline.h).
 *
 * Pass 1 reads documents in batches on the calling thread, runs the per-document stages on all
 * threads (hlm_parallel_for, one scratch per thread), then commits the batch in document order on
 * the calling thread: counting, exact dedup, writing. Order-dependent work happens only in that
 * serial step, so the output does not depend on the thread count.
 *
 * Files of a part (pass 1 -> pass 2):
 *   docs   JSONL(.zst) of the documents that passed, in doc-number order
 *   sigs   "HLMSIGS1" header, then per document of docs, in the same order:
 *          doc number (u64), exact key (2 x u64), bands x u64 MinHash band hashes; little-endian
 *   lines  hlm_line_counts_save output
 * Pass 2 merges the sigs of all parts in doc-number order, so the first occurrence of an exact
 * duplicate and the smallest doc number of a near-duplicate cluster are the same documents
 * whatever the number of parts. */
#include "text/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hyperlm/file.h"
#include "hyperlm/log.h"
#include "hyperlm/progress.h"
#include "hyperlm/thread.h"
#include "text/dedup_internal.h"
#include "text/extract.h"
#include "text/langid.h"
#include "text/normalize.h"
#include "text/pii.h"

void hlm_pipeline_opts_default(hlm_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->source.text_as = HLM_SRC_TEXT;
    o->normalize = o->langid = o->filters = o->pii = 1;
    o->dedup_exact = o->dedup_lines = o->dedup_minhash = 1;
    o->max_invalid_fraction = 0.01;
    o->min_chars = 1;
    o->min_lang_score = 0.5;
    o->langid_max_bytes = 1024;
    o->pii_mask = HLM_PII_ALL;
    o->line_min_docs = 3;
    o->line_min_chars = 10;
    hlm_minhash_params_default(&o->minhash);
    o->progress = 1;
}

hlm_status hlm_pipeline_set_langs(hlm_pipeline_opts *o, const char *list, hlm_error *err)
{
    o->n_keep_langs = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n >= sizeof o->keep_langs[0])
            return hlm_errorf(err, HLM_ERR_INVALID, "--lang '%s': expected language codes such as ko,en", list);
        if (o->n_keep_langs == HLM_PIPE_MAX_LANGS)
            return hlm_errorf(err, HLM_ERR_INVALID, "--lang: at most %d languages", HLM_PIPE_MAX_LANGS);
        memcpy(o->keep_langs[o->n_keep_langs], p, n);
        o->keep_langs[o->n_keep_langs][n] = 0;
        o->n_keep_langs++;
        p += n + (e ? 1 : 0);
        if (e && !*p) return hlm_errorf(err, HLM_ERR_INVALID, "--lang '%s': empty language code at the end", list);
    }
    return HLM_OK;
}

hlm_status hlm_pipeline_filter_params(const hlm_pipeline_opts *o, const char *lang, hlm_filter_params *p,
                                      hlm_error *err)
{
    hlm_filter_params_default(p, lang);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < o->n_overrides; i++) {
            const hlm_filter_override *v = &o->overrides[i];
            if (pass == 0 ? v->lang[0] != 0 : strcmp(v->lang, lang) != 0) continue;
            hlm_status st = hlm_filter_param_set(p, v->name, v->value, err);
            if (st) return st;
        }
    p->bad_words = o->bad_words;
    return HLM_OK;
}

void hlm_pipeline_opts_free(hlm_pipeline_opts *o)
{
    free(o->bad_words);
    free(o->bad_words_text);
    o->bad_words = NULL;
    o->bad_words_text = NULL;
}

const char *hlm_removal_name(int reason)
{
    static char quality[HLM_FILTER_REASON_COUNT][64];
    static int init;
    if (reason >= HLM_RM_QUALITY && reason < HLM_RM_DEDUP_EXACT) {
        if (!init) { /* benign race: every thread writes the same bytes */
            for (int r = 1; r < HLM_FILTER_REASON_COUNT; r++)
                snprintf(quality[r], sizeof quality[r], "quality/%s", hlm_filter_reason_name((hlm_filter_reason)r));
            init = 1;
        }
        return quality[reason - HLM_RM_QUALITY + 1];
    }
    switch (reason) {
    case HLM_RM_EMPTY: return "empty";
    case HLM_RM_INVALID_UTF8: return "invalid_utf8";
    case HLM_RM_LANGUAGE: return "language";
    case HLM_RM_DEDUP_EXACT: return "dedup_exact";
    case HLM_RM_DEDUP_NEAR: return "dedup_near";
    case HLM_RM_DEDUP_LINES_EMPTY: return "dedup_lines_empty";
    default: return "unknown";
    }
}

const char *hlm_stage_name(int stage)
{
    static const char *const names[HLM_STAGE_COUNT] = {"read", "extract_html", "normalize", "langid",
                                                       "filters", "pii", "signatures", "dedup"};
    return stage >= 0 && stage < HLM_STAGE_COUNT ? names[stage] : "unknown";
}

void hlm_part_files_in(hlm_part_files *f, const char *dir, unsigned part, unsigned parts, const hlm_pipeline_opts *o)
{
    snprintf(f->docs, sizeof f->docs, "%s/parts/part-%05u-of-%05u.docs.jsonl.zst", dir, part, parts);
    f->sigs[0] = f->lines[0] = 0;
    if (o->dedup_exact || o->dedup_minhash)
        snprintf(f->sigs, sizeof f->sigs, "%s/parts/part-%05u-of-%05u.sigs", dir, part, parts);
    if (o->dedup_lines) snprintf(f->lines, sizeof f->lines, "%s/parts/part-%05u-of-%05u.lines", dir, part, parts);
}

/* ---- shared helpers ---- */

static int all_space(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

/* Characters (code points) that are not ASCII whitespace, up to limit. */
static size_t visible_chars(const uint8_t *s, size_t n, size_t limit)
{
    size_t c = 0;
    for (size_t i = 0; i < n && c < limit; i++)
        if ((s[i] & 0xC0) != 0x80 && s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r') c++;
    return c;
}

static void add_example(hlm_pipeline_report *r, int reason, const hlm_record *rec, double value)
{
    uint64_t k = r->examples_n[reason];
    if (k >= HLM_REPORT_EXAMPLES) return;
    hlm_removal_example *e = &r->examples[reason][k];
    snprintf(e->id, sizeof e->id, "%s", rec->id.data ? (const char *)rec->id.data : "");
    size_t n = rec->text.len < sizeof e->snippet - 1 ? rec->text.len : sizeof e->snippet - 1;
    while (n > 0 && n < rec->text.len && (rec->text.data[n] & 0xC0) == 0x80) n--; /* whole characters */
    if (n) memcpy(e->snippet, rec->text.data, n);
    e->snippet[n] = 0;
    e->value = value;
    r->examples_n[reason] = k + 1;
}

static void remove_doc(hlm_pipeline_report *r, int reason, const hlm_record *rec, double value)
{
    r->removed[reason]++;
    add_example(r, reason, rec, value);
}

static void count_lang(hlm_pipeline_report *r, const char *lang, uint64_t bytes)
{
    size_t i = 0;
    while (i < r->n_langs && strcmp(r->langs[i].lang, lang) != 0) i++;
    if (i == r->n_langs) {
        if (r->n_langs == sizeof r->langs / sizeof *r->langs) return;
        snprintf(r->langs[i].lang, sizeof r->langs[i].lang, "%s", lang);
        r->n_langs++;
    }
    r->langs[i].docs++;
    r->langs[i].bytes += bytes;
}

static void stage_add(hlm_stage_stats *s, uint64_t bytes_in, int kept, uint64_t bytes_out, double cpu_s)
{
    s->docs_in++;
    s->bytes_in += bytes_in;
    if (kept) {
        s->docs_out++;
        s->bytes_out += bytes_out;
    }
    s->cpu_s += cpu_s;
}

/* ---- sigs files ---- */

#define SIGS_MAGIC "HLMSIGS1"
#define SIGS_HEADER 32 /* magic, version u32, bands u32, count u64, reserved u64 */

typedef struct sigs_in {
    hlm_mmap map;
    const char *path;
    uint32_t bands;
    uint64_t count;
    size_t rec_bytes;
} sigs_in;

static hlm_status sigs_open(sigs_in *s, const char *path, uint32_t bands, hlm_error *err)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    hlm_status st = hlm_mmap_open(&s->map, path, err);
    if (st) return st;
    const uint8_t *p = s->map.data;
    if (s->map.len < SIGS_HEADER || memcmp(p, SIGS_MAGIC, 8) != 0) {
        hlm_mmap_close(&s->map);
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: not a signatures file (expected the magic " SIGS_MAGIC ")", path);
    }
    uint32_t version = (uint32_t)hlm_dedup_rd64(p + 8) & 0xFFFFFFFFu;
    s->bands = (uint32_t)(hlm_dedup_rd64(p + 8) >> 32);
    s->count = hlm_dedup_rd64(p + 16);
    s->rec_bytes = 24 + 8 * (size_t)s->bands;
    if (version != 1 || s->bands != bands || s->bands > 1024 ||
        (s->map.len - SIGS_HEADER) / s->rec_bytes != s->count || (s->map.len - SIGS_HEADER) % s->rec_bytes) {
        hlm_mmap_close(&s->map);
        return hlm_errorf(err, HLM_ERR_FORMAT,
                          "%s: version %u, %u bands, %llu records in %zu bytes: expected version 1 with %u bands and "
                          "a matching size (written with other MinHash settings, or truncated)",
                          path, version, s->bands, (unsigned long long)s->count, s->map.len, bands);
    }
    return HLM_OK;
}

static const uint8_t *sigs_rec(const sigs_in *s, uint64_t i) { return s->map.data + SIGS_HEADER + i * s->rec_bytes; }

/* ---- pass 1 ---- */

typedef struct slot {
    hlm_record rec;
    size_t len_in;
    int reason; /* -1 kept */
    double value;
    int repaired;
    size_t lines_removed;
    hlm_key128 key;
    uint64_t bands[64];
    hlm_buf line_keys;
    uint64_t pii[HLM_PII_TYPE_COUNT];
} slot;

typedef struct worker {
    hlm_buf tmp, mh_scratch;
    hlm_html_info html;
    hlm_filter_scratch *fs;
    hlm_stage_stats stage[HLM_STAGE_COUNT];
    /* Stage CPU time: reading the thread's CPU clock is a system call (about 0.3 us here, as
     * much as a short document's normalization), so it is read once per document, and the
     * document's CPU time is shared among its stages by their wall times (clock_gettime with
     * CLOCK_MONOTONIC runs in user space). cpu_mark < 0: not read yet in this batch (the
     * thread did other work between batches). */
    double cpu_mark, wall[HLM_STAGE_COUNT];
    hlm_status st;
    hlm_error err;
} worker;

typedef struct lang_params {
    char lang[8];
    hlm_filter_params p;
} lang_params;

typedef struct pass1 {
    const hlm_pipeline_opts *o;
    slot *slots;
    size_t n;
    worker *workers;
    lang_params *params;
    size_t n_params; /* the last one is the default for languages not listed */
    hlm_minhash *mh;
} pass1;

static const hlm_filter_params *params_for(const pass1 *p, const char *lang)
{
    for (size_t i = 0; i + 1 < p->n_params; i++)
        if (strcmp(p->params[i].lang, lang) == 0) return &p->params[i].p;
    return &p->params[p->n_params - 1].p;
}

static void swap_text(slot *s, hlm_buf *tmp)
{
    hlm_buf t = s->rec.text;
    s->rec.text = *tmp;
    *tmp = t;
}

static hlm_status set_lang(hlm_record *rec, const char *lang)
{
    rec->lang.len = 0;
    hlm_status st = hlm_buf_append(&rec->lang, lang, strlen(lang));
    return st ? st : hlm_buf_terminate(&rec->lang);
}

static int lang_kept(const hlm_pipeline_opts *o, const char *lang)
{
    if (o->n_keep_langs == 0) return 1;
    for (size_t i = 0; i < o->n_keep_langs; i++)
        if (strcmp(o->keep_langs[i], lang) == 0) return 1;
    return 0;
}

/* Runs the per-document stages; sets s->reason (-1 when kept). */
static hlm_status process_doc(const pass1 *p, slot *s, worker *w)
{
    const hlm_pipeline_opts *o = p->o;
    hlm_error *err = &w->err;
    hlm_status st;
    s->reason = -1;
    s->value = 0;
    s->repaired = 0;
    s->lines_removed = 0;
    s->line_keys.len = 0;
    memset(s->pii, 0, sizeof s->pii);
    s->len_in = s->rec.text.len;
    double t = hlm_now_s(), t1;

    if (s->rec.is_html) {
        size_t before = s->rec.text.len;
        if ((st = hlm_record_extract_html(&s->rec, &w->tmp, &w->html, err))) return st;
        s->len_in = s->rec.text.len;
        t1 = hlm_now_s();
        stage_add(&w->stage[HLM_STAGE_EXTRACT], before, 1, s->rec.text.len, 0);
        w->wall[HLM_STAGE_EXTRACT] += t1 - t;
        t = t1;
    }

    if (o->normalize) {
        hlm_normalize_info info;
        size_t before = s->rec.text.len;
        if ((st = hlm_text_normalize(s->rec.text.data, s->rec.text.len, &w->tmp, &info, err))) return st;
        int bad = before && (double)info.invalid_bytes > o->max_invalid_fraction * (double)before;
        if (!bad) {
            if (info.changed) swap_text(s, &w->tmp);
            s->repaired = info.invalid_bytes > 0;
        }
        t1 = hlm_now_s();
        stage_add(&w->stage[HLM_STAGE_NORMALIZE], before, !bad, s->rec.text.len, 0);
        w->wall[HLM_STAGE_NORMALIZE] += t1 - t;
        t = t1;
        if (bad) {
            s->reason = HLM_RM_INVALID_UTF8;
            s->value = (double)info.invalid_bytes / (double)before;
            return HLM_OK;
        }
    }
    if ((st = hlm_buf_terminate(&s->rec.text))) return hlm_errorf(err, st, "out of memory");
    if (visible_chars(s->rec.text.data, s->rec.text.len, o->min_chars) < o->min_chars || s->rec.text.len == 0) {
        s->reason = HLM_RM_EMPTY;
        return HLM_OK;
    }
    if (o->langid) {
        hlm_lang_result lr;
        hlm_langid(s->rec.text.data, s->rec.text.len, o->langid_max_bytes, &lr);
        if ((st = set_lang(&s->rec, lr.lang))) return hlm_errorf(err, st, "out of memory");
        s->rec.lang_score = lr.score;
        int keep = lang_kept(o, lr.lang) && (o->n_keep_langs == 0 || lr.score >= o->min_lang_score);
        t1 = hlm_now_s();
        stage_add(&w->stage[HLM_STAGE_LANGID], s->rec.text.len, keep, s->rec.text.len, 0);
        w->wall[HLM_STAGE_LANGID] += t1 - t;
        t = t1;
        if (!keep) {
            s->reason = HLM_RM_LANGUAGE;
            s->value = lr.score;
            return HLM_OK;
        }
    }
    const char *lang = s->rec.lang.len ? (const char *)s->rec.lang.data : "und";
    if (o->filters) {
        hlm_filter_result fr;
        const uint8_t *out;
        size_t out_len, before = s->rec.text.len;
        if ((st = hlm_filter_document(params_for(p, lang), lang, s->rec.text.data, s->rec.text.len, w->fs, &fr, &out,
                                      &out_len, err)))
            return st;
        int keep = fr.reason == HLM_FILTER_KEEP;
        if (keep && out != s->rec.text.data) {
            w->tmp.len = 0;
            if ((st = hlm_buf_append(&w->tmp, out, out_len)) || (st = hlm_buf_terminate(&w->tmp)))
                return hlm_errorf(err, st, "out of memory");
            swap_text(s, &w->tmp);
            s->lines_removed = fr.lines_removed;
        }
        t1 = hlm_now_s();
        stage_add(&w->stage[HLM_STAGE_FILTERS], before, keep, s->rec.text.len, 0);
        w->wall[HLM_STAGE_FILTERS] += t1 - t;
        t = t1;
        if (!keep) {
            s->reason = HLM_RM_QUALITY + (int)fr.reason - 1;
            s->value = fr.value;
            return HLM_OK;
        }
        if (all_space(s->rec.text.data, s->rec.text.len)) {
            s->reason = HLM_RM_EMPTY;
            return HLM_OK;
        }
    }
    if (o->pii && o->pii_mask) {
        size_t before = s->rec.text.len;
        if ((st = hlm_pii_redact(s->rec.text.data, s->rec.text.len, o->pii_mask, &w->tmp, s->pii, err))) return st;
        uint64_t found = 0;
        for (int k = 0; k < HLM_PII_TYPE_COUNT; k++) found += s->pii[k];
        if (found) {
            if ((st = hlm_buf_terminate(&w->tmp))) return hlm_errorf(err, st, "out of memory");
            swap_text(s, &w->tmp);
        }
        t1 = hlm_now_s();
        stage_add(&w->stage[HLM_STAGE_PII], before, 1, s->rec.text.len, 0);
        w->wall[HLM_STAGE_PII] += t1 - t;
        t = t1;
    }
    if (o->dedup_exact || o->dedup_lines || o->dedup_minhash) {
        if (o->dedup_exact) s->key = hlm_dedup_exact_key(s->rec.text.data, s->rec.text.len);
        if (o->dedup_lines &&
            (st = hlm_line_keys(s->rec.text.data, s->rec.text.len, o->line_min_chars, &s->line_keys, err)))
            return st;
        /* without a language (langid off and none in the input) MinHash picks shingles by script */
        if (o->dedup_minhash && (st = hlm_minhash_bands(p->mh, s->rec.text.data, s->rec.text.len,
                                                        s->rec.lang.len ? lang : NULL, s->bands,
                                                        &w->mh_scratch, err)))
            return st;
        t1 = hlm_now_s();
        stage_add(&w->stage[HLM_STAGE_SIGNATURES], s->rec.text.len, 1, s->rec.text.len, 0);
        w->wall[HLM_STAGE_SIGNATURES] += t1 - t;
    }
    return HLM_OK;
}

static void process_task(void *ctx, size_t task, int thread)
{
    pass1 *p = ctx;
    worker *w = &p->workers[thread];
    if (w->st) return;
    if (w->cpu_mark < 0) w->cpu_mark = hlm_thread_cpu_s();
    memset(w->wall, 0, sizeof w->wall);
    w->st = process_doc(p, &p->slots[task], w);
    if (w->st) hlm_error_prefix(&w->err, "document %s: ", (const char *)p->slots[task].rec.id.data);
    double cpu = hlm_thread_cpu_s(), wall = 0;
    for (int k = 0; k < HLM_STAGE_COUNT; k++) wall += w->wall[k];
    if (wall > 0)
        for (int k = 0; k < HLM_STAGE_COUNT; k++) w->stage[k].cpu_s += (cpu - w->cpu_mark) * (w->wall[k] / wall);
    w->cpu_mark = cpu;
}

static hlm_status build_params(pass1 *p, hlm_error *err)
{
    const char *const *langs = hlm_langid_languages();
    size_t n = 0;
    while (langs[n]) n++;
    p->params = calloc(n + 2, sizeof *p->params);
    if (!p->params) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        snprintf(p->params[i].lang, sizeof p->params[i].lang, "%s", langs[i]);
        hlm_status st = hlm_pipeline_filter_params(p->o, langs[i], &p->params[i].p, err);
        if (st) return st;
    }
    snprintf(p->params[n].lang, sizeof p->params[n].lang, "und");
    p->n_params = n + 1;
    return hlm_pipeline_filter_params(p->o, "und", &p->params[n].p, err);
}

static size_t memory_cap(const hlm_pipeline_opts *o)
{
    return o->max_memory_bytes ? o->max_memory_bytes : (size_t)2 << 30;
}

hlm_status hlm_pipeline_run(const hlm_pipeline_opts *o, const char *const *inputs, size_t n_inputs,
                            const hlm_part_files *out, hlm_pipeline_report *report, hlm_error *err)
{
    memset(report, 0, sizeof *report);
    report->parts = o->source.parts ? o->source.parts : 1;
    double start = hlm_now_s();
    int threads = o->threads > 0 ? o->threads : hlm_default_threads();
    int want_sigs = o->dedup_exact || o->dedup_minhash;
    int bands = o->dedup_minhash ? o->minhash.bands : 0;
    if (bands > 64) return hlm_errorf(err, HLM_ERR_INVALID, "minhash bands %d: at most 64", bands);
    /* A batch holds its text about three times (record, worker scratch, output line). */
    size_t batch_bytes = memory_cap(o) / 16;
    if (batch_bytes > (64u << 20)) batch_bytes = 64u << 20;
    if (batch_bytes < (1u << 20)) batch_bytes = 1u << 20;
    const size_t max_batch = 16384;

    pass1 p = {.o = o};
    hlm_source *src = NULL;
    hlm_record_writer *docs = NULL;
    hlm_atomic_file sigs = {0};
    hlm_keyset *keys = NULL;
    hlm_line_counts *lines = NULL;
    hlm_progress pg = {0};
    hlm_status st;
    uint8_t *sigbuf = NULL;
    size_t sig_bytes = 24 + 8 * (size_t)bands;

    p.slots = calloc(max_batch, sizeof *p.slots);
    p.workers = calloc((size_t)threads, sizeof *p.workers);
    sigbuf = malloc(sig_bytes);
    if (!p.slots || !p.workers || !sigbuf) {
        st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int t = 0; t < threads; t++)
        if ((st = hlm_filter_scratch_new(&p.workers[t].fs, err))) goto done;
    if (o->filters && (st = build_params(&p, err))) goto done;
    if (o->dedup_minhash && (st = hlm_minhash_new(&p.mh, &o->minhash, err))) goto done;
    hlm_source_opts so = o->source;
    so.defer_html = 1; /* extraction runs on the workers */
    if ((st = hlm_source_open(&src, inputs, n_inputs, &so, err))) goto done;
    report->input_file_bytes = hlm_source_total_bytes(src);
    if ((st = hlm_record_writer_open(&docs, out->docs, err))) goto done;
    if (want_sigs) {
        if (!out->sigs[0]) {
            st = hlm_errorf(err, HLM_ERR_INVALID, "dedup is on but no signatures file was named");
            goto done;
        }
        if ((st = hlm_atomic_open(&sigs, out->sigs, err))) goto done;
        uint8_t head[SIGS_HEADER] = {0};
        memcpy(head, SIGS_MAGIC, 8);
        hlm_dedup_le64(head + 8, 1u | (uint64_t)bands << 32);
        if (fwrite(head, 1, sizeof head, sigs.fp) != sizeof head) {
            st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", out->sigs, strerror(errno));
            goto done;
        }
    }
    if (o->dedup_exact && (st = hlm_keyset_new(&keys, 1 << 16, err))) goto done;
    if (o->dedup_lines && (st = hlm_line_counts_new(&lines, memory_cap(o) / 4, o->line_min_chars, err))) goto done;

    if (o->progress) hlm_progress_start(&pg, "prepare", hlm_source_total_bytes(src), "B");
    uint64_t sig_count = 0;
    int more = 1;
    while (more) {
        /* read a batch */
        double t0 = hlm_thread_cpu_s();
        size_t n = 0, bytes = 0;
        uint64_t raw0 = hlm_source_raw_bytes(src);
        while (n < max_batch && bytes < batch_bytes) {
            if ((st = hlm_source_next(src, &p.slots[n].rec, &more, err))) goto done;
            if (!more) break;
            bytes += p.slots[n].rec.text.len;
            n++;
        }
        hlm_stage_stats *rs = &report->stage[HLM_STAGE_READ];
        rs->docs_in += n;
        rs->docs_out += n;
        rs->bytes_in += hlm_source_raw_bytes(src) - raw0;
        rs->bytes_out += hlm_source_raw_bytes(src) - raw0;
        rs->cpu_s += hlm_thread_cpu_s() - t0;
        if (n == 0) break;

        p.n = n;
        for (int t = 0; t < threads; t++) p.workers[t].cpu_mark = -1;
        if ((st = hlm_parallel_for(n, threads, process_task, &p, err))) goto done;
        for (int t = 0; t < threads; t++)
            if (p.workers[t].st) {
                *err = p.workers[t].err;
                st = p.workers[t].st;
                goto done;
            }

        /* commit in document order */
        for (size_t i = 0; i < n; i++) {
            slot *s = &p.slots[i];
            report->docs_in++;
            report->bytes_in += s->len_in;
            if (s->repaired) report->invalid_repaired_docs++;
            if (s->rec.lang.len && (s->reason < 0 || s->reason >= HLM_RM_LANGUAGE))
                count_lang(report, (const char *)s->rec.lang.data, s->rec.text.len);
            if (s->reason >= 0) {
                remove_doc(report, s->reason, &s->rec, s->value);
                continue;
            }
            for (int k = 0; k < HLM_PII_TYPE_COUNT; k++) report->pii[k] += s->pii[k];
            report->lines_removed_filters += s->lines_removed;
            if (lines && (st = hlm_line_counts_add_keys(lines, (const uint64_t *)s->line_keys.data,
                                                        s->line_keys.len / sizeof(uint64_t), err)))
                goto done;
            if (keys) {
                int inserted;
                if ((st = hlm_keyset_insert(keys, s->key, &inserted, err))) goto done;
                if (!inserted) {
                    remove_doc(report, HLM_RM_DEDUP_EXACT, &s->rec, 0);
                    continue;
                }
            }
            if ((st = hlm_record_write(docs, &s->rec, err))) goto done;
            report->docs_kept++;
            report->bytes_kept += s->rec.text.len;
            if (want_sigs) {
                hlm_dedup_le64(sigbuf, s->rec.doc_number);
                hlm_dedup_le64(sigbuf + 8, s->key.lo);
                hlm_dedup_le64(sigbuf + 16, s->key.hi);
                for (int b = 0; b < bands; b++) hlm_dedup_le64(sigbuf + 24 + 8 * b, s->bands[b]);
                if (fwrite(sigbuf, 1, sig_bytes, sigs.fp) != sig_bytes) {
                    st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", out->sigs, strerror(errno));
                    goto done;
                }
                sig_count++;
            }
        }
        if (o->progress) hlm_progress_update(&pg, hlm_source_bytes_done(src));
    }
    if (o->progress) hlm_progress_finish(&pg);
    for (int t = 0; t < threads; t++)
        for (int k = 0; k < HLM_STAGE_COUNT; k++) {
            hlm_stage_stats *a = &report->stage[k], *b = &p.workers[t].stage[k];
            a->docs_in += b->docs_in;
            a->docs_out += b->docs_out;
            a->bytes_in += b->bytes_in;
            a->bytes_out += b->bytes_out;
            a->cpu_s += b->cpu_s;
        }
    report->raw_bytes_in = hlm_source_raw_bytes(src);
    report->warc_records_skipped = hlm_source_records_skipped(src);

    if (want_sigs) {
        uint8_t cnt[8];
        hlm_dedup_le64(cnt, sig_count);
        if (fseek(sigs.fp, 16, SEEK_SET) || fwrite(cnt, 1, 8, sigs.fp) != 8) {
            st = hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", out->sigs, strerror(errno));
            goto done;
        }
        if ((st = hlm_atomic_commit(&sigs, err))) goto done;
    }
    if (lines) {
        hlm_buf b = {0};
        report->line_table_entries = hlm_line_counts_entries(lines);
        report->line_table_dropped = hlm_line_counts_dropped(lines);
        st = hlm_line_counts_save(lines, &b, err);
        if (!st) st = hlm_file_write_atomic(out->lines, b.data, b.len, err);
        hlm_buf_free(&b);
        if (st) goto done;
    }
    st = hlm_record_writer_commit(docs, err);
    docs = NULL;
    report->wall_s = hlm_now_s() - start;
done:
    if (st && o->progress && pg.active) hlm_progress_finish(&pg);
    hlm_record_writer_abort(docs);
    if (st) hlm_atomic_abort(&sigs);
    hlm_source_close(src);
    hlm_keyset_free(keys);
    hlm_line_counts_free(lines);
    hlm_minhash_free(p.mh);
    if (p.slots) {
        for (size_t i = 0; i < max_batch; i++) {
            hlm_record_free(&p.slots[i].rec);
            hlm_buf_free(&p.slots[i].line_keys);
        }
        free(p.slots);
    }
    if (p.workers) {
        for (int t = 0; t < threads; t++) {
            hlm_buf_free(&p.workers[t].tmp);
            hlm_buf_free(&p.workers[t].mh_scratch);
            hlm_html_info_free(&p.workers[t].html);
            hlm_filter_scratch_free(p.workers[t].fs);
        }
        free(p.workers);
    }
    free(p.params);
    free(sigbuf);
    return st;
}

/* ---- pass 2 ---- */

enum { KEEP = 0, DUP_EXACT = 1, DUP_NEAR = 2 };

hlm_status hlm_pipeline_dedup(const hlm_pipeline_opts *o, const hlm_part_files *parts, size_t n,
                              const char *const *out_docs, hlm_pipeline_report *report, hlm_error *err)
{
    double start = hlm_now_s(), start_cpu = hlm_thread_cpu_s();
    int want_sigs = o->dedup_exact || o->dedup_minhash;
    int bands = o->dedup_minhash ? o->minhash.bands : 0;
    sigs_in *sig = calloc(n ? n : 1, sizeof *sig);
    uint8_t **flags = calloc(n ? n : 1, sizeof *flags);
    uint64_t **reps = calloc(n ? n : 1, sizeof *reps);
    size_t *cursor = calloc(n ? n : 1, sizeof *cursor);
    hlm_keyset *keys = NULL;
    hlm_lsh *lsh = NULL;
    hlm_line_counts *lines = NULL;
    hlm_source *src = NULL;
    hlm_record_writer *w = NULL;
    hlm_record rec = {0};
    hlm_buf tmp = {0}, file = {0};
    hlm_status st = HLM_OK;
    hlm_progress pg = {0};
    size_t opened = 0;
    if (!sig || !flags || !reps || !cursor) {
        st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    uint64_t total = 0;
    if (want_sigs) {
        for (; opened < n; opened++) {
            if ((st = sigs_open(&sig[opened], parts[opened].sigs, (uint32_t)bands, err))) goto done;
            total += sig[opened].count;
            flags[opened] = calloc(sig[opened].count ? sig[opened].count : 1, 1);
            reps[opened] = calloc(sig[opened].count ? sig[opened].count : 1, sizeof(uint64_t));
            if (!flags[opened] || !reps[opened]) {
                st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        size_t need = o->dedup_minhash ? (size_t)total * hlm_lsh_bytes_per_doc(bands) : 0;
        need += o->dedup_exact ? (size_t)total * 24 : 0;
        if (need > memory_cap(o))
            HLM_WARN("dedup of %llu documents needs about %.0f MB, above --max-memory %.0f MB",
                         (unsigned long long)total, need / 1e6, memory_cap(o) / 1e6);
        if (o->dedup_exact && (st = hlm_keyset_new(&keys, (size_t)total, err))) goto done;
        if (o->dedup_minhash && (st = hlm_lsh_new(&lsh, bands, err))) goto done;
        uint64_t bh[64];
        /* merge the parts in doc-number order */
        for (uint64_t k = 0; k < total; k++) {
            size_t best = n;
            uint64_t best_doc = 0;
            for (size_t i = 0; i < n; i++)
                if (cursor[i] < sig[i].count) {
                    uint64_t d = hlm_dedup_rd64(sigs_rec(&sig[i], cursor[i]));
                    if (best == n || d < best_doc) best = i, best_doc = d;
                }
            const uint8_t *r = sigs_rec(&sig[best], cursor[best]);
            if (keys) {
                hlm_key128 key = {hlm_dedup_rd64(r + 8), hlm_dedup_rd64(r + 16)};
                int inserted;
                if ((st = hlm_keyset_insert(keys, key, &inserted, err))) goto done;
                if (!inserted) {
                    flags[best][cursor[best]] = DUP_EXACT;
                    cursor[best]++;
                    continue;
                }
            }
            if (lsh) {
                for (int b = 0; b < bands; b++) bh[b] = hlm_dedup_rd64(r + 24 + 8 * b);
                if ((st = hlm_lsh_add(lsh, best_doc, bh, err))) goto done;
            }
            cursor[best]++;
        }
        if (lsh) {
            if ((st = hlm_lsh_cluster(lsh, err))) goto done;
            report->near_dup_clusters += hlm_lsh_clusters(lsh);
            for (size_t i = 0; i < n; i++)
                for (uint64_t j = 0; j < sig[i].count; j++) {
                    uint64_t d = hlm_dedup_rd64(sigs_rec(&sig[i], j));
                    if (flags[i][j] == KEEP && hlm_lsh_is_duplicate(lsh, d)) {
                        flags[i][j] = DUP_NEAR;
                        reps[i][j] = hlm_lsh_representative(lsh, d);
                    }
                }
        }
        report->dedup_memory_bytes = (keys ? hlm_keyset_bytes(keys) : 0) +
                                     (lsh ? hlm_lsh_docs(lsh) * hlm_lsh_bytes_per_doc(bands) : 0);
    }
    if (o->dedup_lines) {
        if ((st = hlm_line_counts_new(&lines, memory_cap(o) / 4, o->line_min_chars, err))) goto done;
        for (size_t i = 0; i < n; i++) {
            file.len = 0;
            if ((st = hlm_file_read_all(parts[i].lines, &file, err)) ||
                (st = hlm_line_counts_load(lines, file.data, file.len, parts[i].lines, err)))
                goto done;
        }
        report->line_table_entries = hlm_line_counts_entries(lines);
    }

    uint64_t done_bytes = 0, total_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (out_docs[i] && !stat(parts[i].docs, &sb)) total_bytes += (uint64_t)sb.st_size;
    }
    if (o->progress) hlm_progress_start(&pg, "dedup", total_bytes, "B");
    for (size_t i = 0; i < n; i++) {
        if (!out_docs[i]) continue; /* another process writes this part */
        hlm_source_opts so = o->source;
        so.part = 0;
        so.parts = 1;
        so.jsonl_field = "text";
        const char *in = parts[i].docs;
        if ((st = hlm_source_open(&src, &in, 1, &so, err))) goto done;
        if ((st = hlm_record_writer_open(&w, out_docs[i], err))) goto done;
        uint64_t j = 0;
        for (;;) {
            int more;
            if ((st = hlm_source_next(src, &rec, &more, err))) goto done;
            if (!more) break;
            if (o->progress && (j & 1023) == 0) hlm_progress_update(&pg, done_bytes + hlm_source_bytes_done(src));
            if (want_sigs && j >= sig[i].count) {
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: more documents than %s has signatures (%llu)", in,
                                parts[i].sigs, (unsigned long long)sig[i].count);
                goto done;
            }
            hlm_stage_stats *ds = &report->stage[HLM_STAGE_DEDUP];
            size_t len_in = rec.text.len;
            int fl = want_sigs ? flags[i][j] : KEEP;
            if (want_sigs) rec.doc_number = hlm_dedup_rd64(sigs_rec(&sig[i], j));
            j++;
            report->docs_kept--;
            report->bytes_kept -= len_in;
            if (fl == DUP_EXACT) {
                remove_doc(report, HLM_RM_DEDUP_EXACT, &rec, 0);
                stage_add(ds, len_in, 0, 0, 0);
                continue;
            }
            if (fl == DUP_NEAR) {
                remove_doc(report, HLM_RM_DEDUP_NEAR, &rec, (double)reps[i][j - 1]);
                stage_add(ds, len_in, 0, 0, 0);
                continue;
            }
            if (lines) {
                size_t removed;
                if ((st = hlm_line_dedup_apply(lines, o->line_min_docs, rec.text.data, rec.text.len, &tmp, &removed,
                                               err)))
                    goto done;
                if (removed) {
                    report->lines_removed_dedup += removed;
                    hlm_buf t = rec.text;
                    rec.text = tmp;
                    tmp = t;
                    if ((st = hlm_buf_terminate(&rec.text))) {
                        st = hlm_errorf(err, st, "out of memory");
                        goto done;
                    }
                    if (all_space(rec.text.data, rec.text.len)) {
                        hlm_buf u = rec.text; /* the example shows the text before removal */
                        rec.text = tmp;
                        tmp = u;
                        remove_doc(report, HLM_RM_DEDUP_LINES_EMPTY, &rec, (double)removed);
                        stage_add(ds, len_in, 0, 0, 0);
                        continue;
                    }
                }
            }
            if ((st = hlm_record_write(w, &rec, err))) goto done;
            report->docs_kept++;
            report->bytes_kept += rec.text.len;
            stage_add(ds, len_in, 1, rec.text.len, 0);
        }
        if (want_sigs && j != sig[i].count) {
            st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: %llu documents but %s has %llu signatures", in,
                            (unsigned long long)j, parts[i].sigs, (unsigned long long)sig[i].count);
            goto done;
        }
        st = hlm_record_writer_commit(w, err);
        w = NULL;
        if (st) goto done;
        done_bytes += hlm_source_total_bytes(src);
        hlm_source_close(src);
        src = NULL;
    }
    if (o->progress) hlm_progress_finish(&pg);
    /* pass 2 runs on the calling thread */
    report->stage[HLM_STAGE_DEDUP].cpu_s += hlm_thread_cpu_s() - start_cpu;
    report->wall_s += hlm_now_s() - start;
done:
    if (st && o->progress && pg.active) hlm_progress_finish(&pg);
    hlm_record_writer_abort(w);
    hlm_source_close(src);
    hlm_record_free(&rec);
    hlm_buf_free(&tmp);
    hlm_buf_free(&file);
    hlm_keyset_free(keys);
    hlm_lsh_free(lsh);
    hlm_line_counts_free(lines);
    for (size_t i = 0; i < opened; i++) hlm_mmap_close(&sig[i].map);
    for (size_t i = 0; flags && i < n; i++) {
        free(flags[i]);
        free(reps[i]);
    }
    free(sig);
    free(flags);
    free(reps);
    free(cursor);
    return st;
}
