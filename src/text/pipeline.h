/* The data pipeline: documents in, clean deduplicated documents out, with a report that accounts
 * for every document (docs/data-pipeline.md).
 *
 *   pass 1 (hlm_pipeline_run, one per part, all threads):
 *     read/extract -> normalize -> language id -> quality filters -> PII -> exact dedup within
 *     the part -> write docs; for dedup also each document's exact key and MinHash band hashes
 *     (sigs file) and its distinct line keys (line counts file)
 *   pass 2 (hlm_pipeline_dedup, once over all parts):
 *     exact keys and MinHash bands of every part merged in doc-number order -> clusters;
 *     line counts summed -> boilerplate lines removed -> final docs per part
 *
 * Invariant (tested): documents in = documents kept + documents removed, by reason, at every
 * pass. Every decision depends only on the text and the doc number, so the kept documents are
 * the same for any number of parts and threads. */
#ifndef HLM_TEXT_PIPELINE_H
#define HLM_TEXT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"
#include "text/dedup.h"
#include "text/filters.h"
#include "text/record.h"

#define HLM_PIPE_MAX_LANGS 32
#define HLM_PIPE_MAX_OVERRIDES 256

typedef struct hlm_filter_override {
    char lang[8]; /* "" for every language */
    char name[48];
    double value;
} hlm_filter_override;

typedef struct hlm_pipeline_opts {
    hlm_source_opts source;
    /* stages; all on by default except what a stage command turns off */
    int normalize, langid, filters, pii, dedup_exact, dedup_lines, dedup_minhash;
    double max_invalid_fraction; /* invalid UTF-8 bytes / bytes above this: dropped, else repaired */
    size_t min_chars;            /* documents with fewer non-space characters: "empty" */
    char keep_langs[HLM_PIPE_MAX_LANGS][8];
    size_t n_keep_langs; /* 0: keep every language */
    double min_lang_score;
    size_t langid_max_bytes;
    hlm_filter_override overrides[HLM_PIPE_MAX_OVERRIDES];
    size_t n_overrides;
    unsigned pii_mask;
    uint32_t line_min_docs;
    size_t line_min_chars;
    hlm_minhash_params minhash;
    /* C4 bad words (filters.bad_words_file): a NULL-terminated list into bad_words_text, owned
     * by these options (hlm_pipeline_opts_free). */
    const char **bad_words;
    char *bad_words_text;
    int threads;             /* <= 0: all cores */
    size_t max_memory_bytes; /* 0: 2 GiB */
    int progress;            /* show a progress bar / log lines */
} hlm_pipeline_opts;

/* Every stage on, documented defaults (docs/data-pipeline.md). */
void hlm_pipeline_opts_default(hlm_pipeline_opts *o);
/* Frees what a config file loaded into o (the bad-word list). */
void hlm_pipeline_opts_free(hlm_pipeline_opts *o);
/* Reads a JSON config file into o (on top of what is there). Unknown keys and wrong types are
 * errors naming the file and the key. */
hlm_status hlm_pipeline_config_load(hlm_pipeline_opts *o, const char *path, hlm_error *err);
/* Parses "ko,en" into keep_langs. */
hlm_status hlm_pipeline_set_langs(hlm_pipeline_opts *o, const char *list, hlm_error *err);
/* The filter parameters for a language: its defaults, then the overrides for every language,
 * then those for this language. */
hlm_status hlm_pipeline_filter_params(const hlm_pipeline_opts *o, const char *lang, hlm_filter_params *p,
                                      hlm_error *err);

/* ---- the report ---- */

enum {
    HLM_RM_EMPTY = 0,
    HLM_RM_INVALID_UTF8,
    HLM_RM_LANGUAGE,
    HLM_RM_QUALITY, /* + hlm_filter_reason - 1 */
    HLM_RM_DEDUP_EXACT = HLM_RM_QUALITY + HLM_FILTER_REASON_COUNT - 1,
    HLM_RM_DEDUP_NEAR,
    HLM_RM_DEDUP_LINES_EMPTY,
    HLM_RM_COUNT
};
/* "empty", "invalid_utf8", "language", "quality/<filter reason>", "dedup_exact", ... */
const char *hlm_removal_name(int reason);

#define HLM_REPORT_EXAMPLES 3

typedef struct hlm_removal_example {
    char id[96];
    char snippet[256]; /* the first characters of the text, valid UTF-8 */
    double value;      /* the measured quantity (filters), the kept doc number (dedup) */
} hlm_removal_example;

typedef struct hlm_stage_stats {
    uint64_t docs_in, docs_out, bytes_in, bytes_out;
    double cpu_s; /* summed over threads: bytes_in / cpu_s is the per-core rate */
} hlm_stage_stats;

enum {
    HLM_STAGE_READ = 0, /* reading and decompressing (one thread) */
    HLM_STAGE_EXTRACT,  /* HTML -> main text */
    HLM_STAGE_NORMALIZE,
    HLM_STAGE_LANGID,
    HLM_STAGE_FILTERS,
    HLM_STAGE_PII,
    HLM_STAGE_SIGNATURES, /* exact key, line keys, MinHash */
    HLM_STAGE_DEDUP,      /* pass 2 */
    HLM_STAGE_COUNT
};
const char *hlm_stage_name(int stage);

typedef struct hlm_lang_count {
    char lang[8];
    uint64_t docs, bytes;
} hlm_lang_count;

typedef struct hlm_pipeline_report {
    uint64_t docs_in, docs_kept, bytes_in, bytes_kept; /* bytes: text bytes after extraction */
    uint64_t raw_bytes_in, input_file_bytes;           /* before extraction; as on disk */
    uint64_t removed[HLM_RM_COUNT];
    uint64_t examples_n[HLM_RM_COUNT];
    hlm_removal_example examples[HLM_RM_COUNT][HLM_REPORT_EXAMPLES];
    hlm_stage_stats stage[HLM_STAGE_COUNT];
    hlm_lang_count langs[64]; /* documents entering the language filter, by detected language */
    size_t n_langs;
    uint64_t pii[8];
    uint64_t invalid_repaired_docs, lines_removed_filters, lines_removed_dedup;
    uint64_t warc_records_skipped;
    uint64_t near_dup_clusters, line_table_entries, line_table_dropped;
    uint64_t dedup_memory_bytes;
    double wall_s;
    unsigned parts;
} hlm_pipeline_report;

/* report.json (atomic) and a readable summary. */
hlm_status hlm_report_write_json(const hlm_pipeline_report *r, const hlm_pipeline_opts *o, const char *path,
                                 hlm_error *err);
hlm_status hlm_report_read_json(hlm_pipeline_report *r, const char *path, hlm_error *err);
/* The same JSON in memory, appended to out (the processes of an MPI world send their reports as
 * these bytes); path names the bytes in errors. */
hlm_status hlm_report_to_json(const hlm_pipeline_report *r, const hlm_pipeline_opts *o, hlm_buf *out, hlm_error *err);
hlm_status hlm_report_parse_json(hlm_pipeline_report *r, const uint8_t *data, size_t len, const char *path,
                                 hlm_error *err);
/* Adds b's counts into a (parts merged). */
void hlm_report_merge(hlm_pipeline_report *a, const hlm_pipeline_report *b);
hlm_status hlm_report_summary(const hlm_pipeline_report *r, hlm_buf *out);

/* ---- passes ---- */

typedef struct hlm_part_files {
    char docs[1024];  /* JSONL(.zst) of documents that passed pass 1 */
    char sigs[1024];  /* "" unless dedup is on */
    char lines[1024]; /* "" unless line dedup is on */
} hlm_part_files;

/* The pass-1 file names of part i of n inside dir ("dir/parts/part-00001-of-00004.docs.jsonl.zst"...). */
void hlm_part_files_in(hlm_part_files *f, const char *dir, unsigned part, unsigned parts, const hlm_pipeline_opts *o);

/* Pass 1 for opts->source.part of opts->source.parts over inputs; fills report. */
hlm_status hlm_pipeline_run(const hlm_pipeline_opts *o, const char *const *inputs, size_t n_inputs,
                            const hlm_part_files *out, hlm_pipeline_report *report, hlm_error *err);

/* Pass 2 over n parts' pass-1 files: writes the kept documents of part i to out_docs[i]; adds
 * its removals and statistics to report (which should hold the merged pass-1 reports).
 * out_docs[i] NULL: part i's signatures and line counts still take part in every decision, but
 * its docs file is neither read nor written and its documents add nothing to report (a process
 * of an MPI world writes only its own part). The whole-run figures (near_dup_clusters,
 * line_table_entries, dedup_memory_bytes) are the same whichever parts are written. */
hlm_status hlm_pipeline_dedup(const hlm_pipeline_opts *o, const hlm_part_files *parts, size_t n,
                              const char *const *out_docs, hlm_pipeline_report *report, hlm_error *err);

#endif
