/* Documents as the data pipeline passes them between stages: JSONL records, one per line, with
 * at least "id", "text" and "source" (docs/data-pipeline.md).
 *
 * A source reads documents out of the inputs a user names: JSONL (our own stage files or anyone
 * else's), TSV, plain text, HTML pages and WARC/WET files, each optionally .gz/.zst, and folders of
 * them (walked recursively, in byte order of the path, so every run sees the same order). Every
 * document gets a doc number, file index << 40 | ordinal in the file, which orders the corpus
 * the same way however it is split into parts: dedup keeps the smallest doc number of a cluster,
 * so `--part i/N` runs keep the same documents as one run.
 *
 * A writer appends records to a JSONL file, zstd-compressed when the name ends in .zst, written
 * atomically (nothing appears under the final name until commit). */
#ifndef HLM_TEXT_RECORD_H
#define HLM_TEXT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

typedef struct hlm_record {
    hlm_buf id, text, source, url; /* NUL-terminated; url may be empty */
    hlm_buf lang;                   /* "" until language identification */
    double lang_score;
    /* Other JSON fields of the input object, serialized as `"k":v,...` without braces (kept
     * through every stage); empty when there are none. */
    hlm_buf extra;
    uint64_t doc_number;
    /* 1 when text still holds a raw HTML page (a source opened with defer_html): the pipeline
     * extracts it on its worker threads with hlm_record_extract_html. */
    int is_html;
} hlm_record;

void hlm_record_free(hlm_record *r);
/* Deep copy (dst's buffers are reused). */
hlm_status hlm_record_copy(hlm_record *dst, const hlm_record *src, hlm_error *err);

#define HLM_DOC_NUMBER(file, ordinal) (((uint64_t)(file) << 40) | (uint64_t)(ordinal))

typedef enum hlm_source_kind {
    HLM_SRC_AUTO = 0,
    HLM_SRC_JSONL,
    HLM_SRC_TSV,
    HLM_SRC_TEXT,  /* one document per file (chunked at ~1 MiB like hlm_doc_reader) */
    HLM_SRC_LINES, /* one document per non-empty line */
    HLM_SRC_HTML,
    HLM_SRC_WARC,  /* WARC response/resource records with HTML or text, and WET conversions */
} hlm_source_kind;

typedef struct hlm_source_opts {
    hlm_source_kind text_as; /* what plain text files are: HLM_SRC_TEXT (default) or HLM_SRC_LINES */
    const char *jsonl_field; /* default "text" */
    const char *tsv_column;  /* see docs.h */
    unsigned part, parts;    /* take only this part's documents (parts 0 or 1: all) */
    int defer_html;          /* return HTML pages raw (is_html = 1) instead of extracting them */
} hlm_source_opts;

typedef struct hlm_source hlm_source;

/* Expands paths (files and folders) into the ordered file list. An input that does not exist, or
 * a folder with no readable document files, is an error naming it. */
hlm_status hlm_source_open(hlm_source **out, const char *const *paths, size_t n_paths, const hlm_source_opts *opts,
                           hlm_error *err);
/* Fills rec with the next document of this part (rec's buffers are reused); *more = 0 at the end.
 * Documents are passed on even when empty (an HTML page without text): the pipeline counts their
 * removal. WARC records that are not documents (requests, metadata, images) are not documents. */
hlm_status hlm_source_next(hlm_source *s, hlm_record *rec, int *more, hlm_error *err);
size_t hlm_source_files(const hlm_source *s);
const char *hlm_source_file(const hlm_source *s, size_t i);
/* Input bytes (compressed, as on disk) of this part's files, and consumed so far (progress). */
uint64_t hlm_source_total_bytes(const hlm_source *s);
uint64_t hlm_source_bytes_done(const hlm_source *s);
/* Raw (decompressed) bytes of the documents as read, before extraction: HTML bytes for pages. */
uint64_t hlm_source_raw_bytes(const hlm_source *s);
/* WARC records that were not documents (requests, metadata, non-HTML responses), for the report. */
uint64_t hlm_source_records_skipped(const hlm_source *s);
void hlm_source_close(hlm_source *s);

struct hlm_html_info;
/* Replaces a raw HTML record's text with its extracted main text and adds the page's "title" to
 * extra; tmp and info are the caller's scratch (one per thread). No-op unless rec->is_html. */
hlm_status hlm_record_extract_html(hlm_record *rec, hlm_buf *tmp, struct hlm_html_info *info, hlm_error *err);

typedef struct hlm_record_writer hlm_record_writer;

hlm_status hlm_record_writer_open(hlm_record_writer **out, const char *path, hlm_error *err);
/* Writes one line: {"id":...,"text":...,"source":...[,"url":...][,"lang":...,"lang_score":...]
 * [,extra]}. Text is escaped as JSON (invalid UTF-8 bytes become U+FFFD so the line stays valid). */
hlm_status hlm_record_write(hlm_record_writer *w, const hlm_record *rec, hlm_error *err);
uint64_t hlm_record_writer_docs(const hlm_record_writer *w);
uint64_t hlm_record_writer_bytes(const hlm_record_writer *w); /* uncompressed JSONL bytes */
/* Finishes compression, fsyncs, renames into place, frees w. */
hlm_status hlm_record_writer_commit(hlm_record_writer *w, hlm_error *err);
/* Removes the temporary file, frees w (NULL is fine). */
void hlm_record_writer_abort(hlm_record_writer *w);

/* Appends s as a JSON string literal (with quotes) to out. */
hlm_status hlm_json_escape_append(hlm_buf *out, const uint8_t *s, size_t len);

#endif
