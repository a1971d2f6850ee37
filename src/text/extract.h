/* Extraction: documents out of HTML pages and Common Crawl WARC/WET files.
 *
 * HTML goes through gumbo (Debian libgumbo, a conforming HTML5 parser), so broken markup is
 * repaired the way a browser would. The main text is the visible text of the page with one
 * paragraph per block element (paragraphs separated by "\n\n", <br> as "\n"); script, style,
 * template, noscript, head, nav, header, footer, aside, form controls, hidden elements
 * (hidden attribute, aria-hidden="true", display:none) and elements whose class or id names page
 * chrome (navbar, menu, sidebar, breadcrumb, cookie, footer, ...) are dropped. Boilerplate that
 * repeats across pages is removed later, by line-level dedup (dedup.h), which sees many pages.
 *
 * Thread-safe: no global state. */
#ifndef HLM_TEXT_EXTRACT_H
#define HLM_TEXT_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

typedef struct hlm_html_info {
    hlm_buf title; /* <title> text, whitespace collapsed (may be empty) */
    hlm_buf lang;  /* <html lang="..."> as written (may be empty) */
} hlm_html_info;

/* Appends the main text of the page html[0..len) to out (cleared first). Entities are decoded,
 * whitespace inside a paragraph is collapsed to single spaces, <pre> keeps its line breaks.
 * info may be NULL; when given, its buffers are cleared and filled. Invalid UTF-8 in the input
 * comes out as U+FFFD (gumbo's behaviour). HLM_ERR_FORMAT only if gumbo cannot parse at all;
 * a page with no visible text gives an empty out and HLM_OK. */
hlm_status hlm_html_extract(const char *html, size_t len, hlm_buf *out, hlm_html_info *info, hlm_error *err);
void hlm_html_info_free(hlm_html_info *info);

/* ---- WARC 1.0/1.1 (ISO 28500) and WET: a stream of records, .gz (one member per record, as
 * Common Crawl writes them, or one for the whole file) and .zst detected from content. ---- */

typedef enum hlm_warc_kind {
    HLM_WARC_OTHER = 0, /* warcinfo, request, metadata, ...: callers skip them */
    HLM_WARC_RESPONSE,  /* payload: an HTTP response (status line, headers, body) */
    HLM_WARC_RESOURCE,
    HLM_WARC_CONVERSION, /* WET: payload is the extracted plain text */
} hlm_warc_kind;

typedef struct hlm_warc_record {
    hlm_warc_kind kind;
    const char *type;       /* WARC-Type as written, NUL-terminated */
    const char *record_id;  /* WARC-Record-ID without <>, "" if absent */
    const char *target_uri; /* WARC-Target-URI, "" if absent */
    const char *date;       /* WARC-Date, "" if absent */
    /* For RESPONSE records: the HTTP body after the HTTP headers (chunked transfer encoding
     * undone), its Content-Type header value ("" if absent) and status code (0 if unparsable).
     * For the other kinds: the whole record block, content_type from the WARC header. */
    const uint8_t *payload;
    size_t payload_len;
    const char *content_type;
    int http_status;
} hlm_warc_record;

typedef struct hlm_warc_reader hlm_warc_reader;

hlm_status hlm_warc_open(hlm_warc_reader **out, const char *path, hlm_error *err);
/* Same parser over an uncompressed buffer (fuzz targets, tests); data must outlive the reader. */
hlm_status hlm_warc_open_mem(hlm_warc_reader **out, const char *name, const void *data, size_t len,
                             hlm_error *err);
/* Fills *rec (valid until the next call) and sets *more = 1, or *more = 0 at the end. A record
 * whose header is malformed or whose Content-Length runs past the end of the file is an error
 * naming the file and the record's byte offset; records bigger than max_record_bytes (default
 * 64 MiB, see hlm_warc_set_max_record) are skipped whole and counted.
 * The offset is in the uncompressed stream (for a plain file, the byte offset in the file).
 * A body sent chunked but stored already decoded is returned as stored. A Content-Encoding of
 * the HTTP body (gzip, x-gzip, deflate, br, zstd) is undone, into at most max_record bytes (a
 * longer body is cut there); a record in another encoding, or whose body does not decode, is
 * skipped and counted. */
hlm_status hlm_warc_next(hlm_warc_reader *r, hlm_warc_record *rec, int *more, hlm_error *err);
void hlm_warc_set_max_record(hlm_warc_reader *r, size_t bytes);
uint64_t hlm_warc_skipped_records(const hlm_warc_reader *r);
uint64_t hlm_warc_bytes_read(const hlm_warc_reader *r); /* compressed bytes consumed (progress) */
uint64_t hlm_warc_file_bytes(const hlm_warc_reader *r);
void hlm_warc_close(hlm_warc_reader *r);

/* 1 if the first bytes (decompressed) look like a WARC file ("WARC/1."). */
int hlm_warc_sniff(const uint8_t *head, size_t len);

#endif
