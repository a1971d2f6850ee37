/* Document readers: a stream of documents from plain text, JSONL or TSV files, each optionally
 * .gz or .zst compressed (detected from content). Memory stays bounded by the largest document
 * (JSONL line, TSV row, or text chunk), whatever the file size.
 *
 * Plain text has no document boundaries, so it is cut into chunks of about chunk_bytes right
 * after a newline that has a non-whitespace character before it and a character after it that
 * is neither whitespace nor '/' (o200k's punctuation piece continues into "\n/"), or right after
 * an ASCII letter or Hangul syllable that a space follows: at such a point every supported
 * pre-tokenizer pattern ends a piece, so chunking never changes how the text tokenizes (see
 * docs.c). A text without such a point is one chunk. */
#ifndef HLM_TEXT_DOCS_H
#define HLM_TEXT_DOCS_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

typedef enum hlm_doc_format {
    HLM_DOC_AUTO = 0, /* from the name without .gz/.zst: .jsonl/.json/.ndjson JSONL, .tsv TSV, else text */
    HLM_DOC_TEXT,
    HLM_DOC_JSONL,
    HLM_DOC_TSV,
} hlm_doc_format;

typedef struct hlm_doc_reader_opts {
    hlm_doc_format format;
    const char *jsonl_field; /* default "text" */
    const char *tsv_column;  /* header name, or a 0-based index; default: a "text" column, else the last */
    size_t chunk_bytes;      /* plain text chunk target; default 1 MiB */
} hlm_doc_reader_opts;

typedef struct hlm_doc_reader hlm_doc_reader;

hlm_status hlm_doc_reader_open(hlm_doc_reader **out, const char *path, const hlm_doc_reader_opts *opts,
                               hlm_error *err);
/* Sets *text and *len to the next document (valid until the next call) and returns HLM_OK with
 * *more = 1, or *more = 0 at the end. Errors name the file and line (e.g. "a.jsonl:17: field
 * 'text': expected a string"). Text is returned as bytes; invalid UTF-8 is passed through. */
hlm_status hlm_doc_reader_next(hlm_doc_reader *r, const char **text, size_t *len, int *more, hlm_error *err);
/* Compressed bytes consumed so far and the file size (for progress), 0 if unknown (stdin). */
uint64_t hlm_doc_reader_bytes_read(const hlm_doc_reader *r);
uint64_t hlm_doc_reader_file_bytes(const hlm_doc_reader *r);
/* The 1-based line number where the last document started (JSONL, TSV), or the chunk number
 * (text). */
uint64_t hlm_doc_reader_line(const hlm_doc_reader *r);
/* JSONL: the whole object the last document came from (its other fields: id, source, ...), owned
 * by the reader and valid until the next call; NULL for the other formats. */
struct cJSON;
const struct cJSON *hlm_doc_reader_json(const hlm_doc_reader *r);
void hlm_doc_reader_close(hlm_doc_reader *r);

#endif
