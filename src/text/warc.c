/* WARC 1.0/1.1 (ISO 28500) and WET reader.
 *
 * A record is: version line ("WARC/1.0" or "WARC/1.1"), header fields "Name: value" (names
 * case-insensitive, continuation lines start with a space or tab), an empty line, a block of
 * exactly Content-Length bytes, then CRLF CRLF. Line ends may be CRLF or bare LF; the blank
 * lines between records are skipped however many there are.
 *
 * Invariants:
 *  - Input flows through one window, data[pos..len). For files, data is buf and is refilled
 *    from an hlm_reader (which undoes .gz, including one member per record as Common Crawl
 *    writes it, and .zst); for memory input, data is the caller's buffer and there is nothing to
 *    refill. The window only grows to hold one record's header and block, so memory is bounded
 *    by HEADER_MAX + max_record; a bigger block is skipped by reading past it.
 *  - base + pos is the offset of data[pos] in the uncompressed stream: error messages name a
 *    record by that offset (for a plain file it is the byte offset in the file).
 *  - A record returned by hlm_warc_next points into the window (payload), into dechunk (a
 *    response with chunked transfer encoding), into decoded (a body with a Content-Encoding)
 *    and into strs (header values); all stay untouched until the next call.
 *  - A Content-Encoding (gzip, deflate, br, zstd) is undone into at most max_record bytes; a
 *    body that does not decode, or is in another encoding, skips the record (counted). */
#include <brotli/decode.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <zlib.h>
#include <zstd.h>

#include "hyperlm/file.h"
#include "text/extract.h"

#define READ_BYTES (256u << 10)
#define HEADER_MAX (1u << 20)
#define DEFAULT_MAX_RECORD ((size_t)64 << 20)

struct hlm_warc_reader {
    char *name;
    hlm_reader *src;       /* NULL for memory input */
    uint8_t *buf;          /* file window storage */
    size_t buf_cap;
    const uint8_t *data;   /* window: buf, or the caller's memory */
    size_t pos, len;
    int eof;
    uint64_t base;         /* uncompressed offset of data[0] */
    uint64_t file_bytes;
    size_t max_record;
    uint64_t skipped;
    hlm_buf strs;          /* NUL-terminated header values of the current record */
    hlm_buf dechunk;       /* de-chunked HTTP body */
    hlm_buf decoded;       /* HTTP body with its Content-Encoding undone */
};

/* ---- window ---- */

/* Makes at least want bytes available at data[pos..), or as many as the input has left. */
static hlm_status fill(hlm_warc_reader *r, size_t want, hlm_error *err)
{
    if (!r->src || r->len - r->pos >= want || r->eof) return HLM_OK;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->base += r->pos;
        r->pos = 0;
    }
    if (want + READ_BYTES > r->buf_cap) {
        /* Double for small steps, but no further than needed for a big record. */
        size_t cap = r->buf_cap ? r->buf_cap * 2 : 2 * READ_BYTES;
        if (cap < want + READ_BYTES) cap = want + READ_BYTES;
        uint8_t *p = realloc(r->buf, cap);
        if (!p) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory for a record of %zu bytes", r->name, want);
        r->buf = p;
        r->buf_cap = cap;
        r->data = p;
    }
    while (r->len < want && !r->eof) {
        size_t n;
        hlm_status st = hlm_reader_read(r->src, r->buf + r->len, r->buf_cap - r->len, &n, err);
        if (st) return st;
        if (n == 0) r->eof = 1;
        r->len += n;
    }
    return HLM_OK;
}

/* Consumes n bytes without keeping them; returns how many there were (< n at the end). */
static hlm_status discard(hlm_warc_reader *r, uint64_t n, uint64_t *done, hlm_error *err)
{
    *done = 0;
    while (*done < n) {
        if (r->pos == r->len) {
            if (r->src) {
                r->base += r->len;
                r->pos = r->len = 0;
                hlm_status st = fill(r, READ_BYTES, err);
                if (st) return st;
            }
            if (r->pos == r->len) break;
        }
        size_t k = r->len - r->pos;
        if (k > n - *done) k = (size_t)(n - *done);
        r->pos += k;
        *done += k;
    }
    return HLM_OK;
}

/* ---- header parsing ---- */

/* Length of the header at p[0..n) up to and including its terminating empty line, or 0. */
static size_t header_end(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        if (!nl) return 0;
        size_t j = (size_t)(nl - p) + 1;
        if (j < n && p[j] == '\n') return j + 1;
        if (j + 1 < n && p[j] == '\r' && p[j + 1] == '\n') return j + 2;
        i = j;
    }
    return 0;
}

/* Next line of p[*at..end) without its CRLF/LF; returns 0 at end. */
static int next_line(const uint8_t *p, size_t end, size_t *at, const uint8_t **line, size_t *len)
{
    if (*at >= end) return 0;
    const uint8_t *nl = memchr(p + *at, '\n', end - *at);
    size_t e = nl ? (size_t)(nl - p) : end;
    *line = p + *at;
    *len = e - *at;
    if (*len && (*line)[*len - 1] == '\r') (*len)--;
    *at = nl ? e + 1 : end;
    return 1;
}

/* Length of the printable ASCII prefix of s[0..n), at most max: what an error may quote. */
static int printable(const uint8_t *s, size_t n, size_t max)
{
    size_t k = 0;
    while (k < n && k < max && s[k] >= 0x20 && s[k] < 0x7f) k++;
    return (int)k;
}

static int name_eq(const uint8_t *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp((const char *)s, lit, n) == 0;
}

static void trim(const uint8_t **s, size_t *n)
{
    while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* Parses a decimal length; 0 on anything else. */
static int parse_u64(const uint8_t *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 19) return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return 1;
}

enum { F_TYPE, F_ID, F_URI, F_DATE, F_CTYPE, F_COUNT };

typedef struct span {
    const uint8_t *p;
    size_t n;
} span;

/* Appends s (without NULs, which would cut the C string) and a NUL to strs; returns its offset. */
static hlm_status save_str(hlm_buf *strs, span s, size_t *off)
{
    *off = strs->len;
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i] ? s.p[i] : ' ';
        if (hlm_buf_append(strs, &c, 1)) return HLM_ERR_NOMEM;
    }
    return hlm_buf_append(strs, "", 1);
}

/* ---- HTTP payload ---- */

/* Parses a chunk-size line at body[*at..n): hex digits, optional spaces or tabs, an optional
 * ";extension", then LF or CRLF. Returns 0 if the line is not one. */
static int chunk_size_line(const uint8_t *body, size_t n, size_t *at, uint64_t *size)
{
    size_t i = *at, digits = 0;
    uint64_t v = 0;
    for (; i < n; i++, digits++) {
        uint8_t c = body[i], lc = c | 0x20;
        int d = c >= '0' && c <= '9' ? c - '0' : lc >= 'a' && lc <= 'f' ? lc - 'a' + 10 : -1;
        if (d < 0) break;
        if (v >> 59) return 0;
        v = v * 16 + (uint64_t)d;
    }
    if (!digits) return 0;
    while (i < n && (body[i] == ' ' || body[i] == '\t')) i++;
    if (i < n && body[i] == ';') {
        const uint8_t *nl = memchr(body + i, '\n', n - i);
        if (!nl) return 0;
        i = (size_t)(nl - body);
    }
    if (i < n && body[i] == '\r') i++;
    if (i >= n || body[i] != '\n') return 0;
    *at = i + 1;
    *size = v;
    return 1;
}

/* Undoes chunked transfer encoding of body[0..n) into out. A body that does not start with a
 * chunk-size line was stored decoded (some crawlers keep the header): *decoded stays 0 and the
 * body is to be used as is. A chunk that runs past the end is cut short, and a malformed size
 * line later ends the body there (a broken server is not a broken WARC file). */
static hlm_status dechunk(const uint8_t *body, size_t n, hlm_buf *out, int *decoded)
{
    out->len = 0;
    *decoded = 0;
    size_t at = 0;
    uint64_t size;
    while (at < n && chunk_size_line(body, n, &at, &size)) {
        *decoded = 1;
        if (size == 0) break;
        size_t k = size < n - at ? (size_t)size : n - at;
        if (hlm_buf_append(out, body + at, k)) return HLM_ERR_NOMEM;
        at += k;
        if (at < n && body[at] == '\r') at++;
        if (at < n && body[at] == '\n') at++;
    }
    return HLM_OK;
}

enum { ENC_IDENTITY, ENC_GZIP, ENC_DEFLATE, ENC_BR, ENC_ZSTD, ENC_UNKNOWN };

/* The Content-Encoding value v[0..n) (one coding; "x-gzip" is gzip, "identity" none). */
static int encoding_of(const uint8_t *v, size_t n)
{
    static const struct {
        const char *name;
        int enc;
    } names[] = {{"identity", ENC_IDENTITY}, {"gzip", ENC_GZIP}, {"x-gzip", ENC_GZIP}, {"deflate", ENC_DEFLATE},
                 {"br", ENC_BR}, {"zstd", ENC_ZSTD}};
    if (n == 0) return ENC_IDENTITY;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k].name) == n && strncasecmp((const char *)v, names[k].name, n) == 0) return names[k].enc;
    return ENC_UNKNOWN;
}

/* The room to decode into at the end of out, up to cap bytes in all: 0 when out holds cap
 * already, SIZE_MAX when there is no memory. */
static size_t room_in(hlm_buf *out, size_t cap)
{
    if (out->len >= cap) return 0;
    if (hlm_buf_reserve(out, 64 << 10)) return SIZE_MAX;
    size_t room = out->cap - out->len;
    return room < cap - out->len ? room : cap - out->len;
}

/* gzip or zlib (windowBits 15 + 32: either header) or raw deflate (-15) through zlib. */
static int inflate_into(const uint8_t *in, size_t n, int window_bits, hlm_buf *out, size_t cap)
{
    z_stream z = {0};
    if (inflateInit2(&z, window_bits) != Z_OK) return 0;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)(n < UINT32_MAX ? n : UINT32_MAX);
    int ok = 0;
    for (;;) {
        size_t room = room_in(out, cap);
        if (room == SIZE_MAX) break;
        if (room == 0) {
            ok = 1; /* cut at the cap */
            break;
        }
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)(room < UINT32_MAX ? room : UINT32_MAX);
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len = (size_t)(z.next_out - out->data);
        if (zr == Z_STREAM_END) {
            ok = 1;
            break;
        }
        if (zr != Z_OK) { /* Z_BUF_ERROR at the end of input: a cut stream, kept if anything came out */
            ok = zr == Z_BUF_ERROR && out->len > 0;
            break;
        }
    }
    inflateEnd(&z);
    return ok;
}

/* Undoes the body's Content-Encoding into out, at most cap bytes (more is cut off: the cap is
 * the reader's max_record, which also bounds a decompression bomb). Returns 0 if the body does
 * not decode. */
static int decode_body(int enc, const uint8_t *in, size_t n, hlm_buf *out, size_t cap)
{
    out->len = 0;
    if (enc == ENC_GZIP) return inflate_into(in, n, 15 + 32, out, cap);
    if (enc == ENC_DEFLATE) /* meant to be zlib, often raw deflate */
        return inflate_into(in, n, 15 + 32, out, cap) || (out->len = 0, inflate_into(in, n, -15, out, cap));
    if (enc == ENC_BR) {
        BrotliDecoderState *b = BrotliDecoderCreateInstance(NULL, NULL, NULL);
        if (!b) return 0;
        size_t avail_in = n;
        const uint8_t *next_in = in;
        int ok = 0;
        for (;;) {
            size_t room = room_in(out, cap);
            if (room == SIZE_MAX) break;
            if (room == 0) {
                ok = 1;
                break;
            }
            size_t avail_out = room;
            uint8_t *next_out = out->data + out->len;
            BrotliDecoderResult br = BrotliDecoderDecompressStream(b, &avail_in, &next_in, &avail_out, &next_out, NULL);
            out->len += room - avail_out;
            if (br == BROTLI_DECODER_RESULT_SUCCESS) {
                ok = 1;
                break;
            }
            if (br == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) { /* a cut stream */
                ok = out->len > 0;
                break;
            }
            if (br != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) break;
        }
        BrotliDecoderDestroyInstance(b);
        return ok;
    }
    if (enc == ENC_ZSTD) {
        ZSTD_DStream *z = ZSTD_createDStream();
        if (!z) return 0;
        ZSTD_inBuffer zi = {in, n, 0};
        int ok = 0;
        for (;;) {
            size_t room = room_in(out, cap);
            if (room == SIZE_MAX) break;
            if (room == 0) {
                ok = 1;
                break;
            }
            ZSTD_outBuffer zo = {out->data + out->len, room, 0};
            size_t zr = ZSTD_decompressStream(z, &zo, &zi);
            out->len += zo.pos;
            if (ZSTD_isError(zr)) break;
            if (zr == 0) {
                ok = 1;
                break;
            }
            if (zi.pos == zi.size && zo.pos < room) { /* a cut stream */
                ok = out->len > 0;
                break;
            }
        }
        ZSTD_freeDStream(z);
        return ok;
    }
    return 0;
}

/* Splits an HTTP response block into status, Content-Type, Content-Encoding and body. Returns 0
 * if the block is not an HTTP response (no status line or no end of headers). */
static int parse_http(const uint8_t *block, size_t n, int *status, span *ctype, int *chunked, int *enc,
                      size_t *body_off)
{
    if (n < 5 || memcmp(block, "HTTP/", 5) != 0) return 0;
    size_t end = header_end(block, n);
    if (!end) return 0;
    size_t at = 0;
    const uint8_t *line;
    size_t len;
    next_line(block, end, &at, &line, &len);
    *status = 0;
    const uint8_t *sp = memchr(line, ' ', len);
    if (sp) {
        size_t k = (size_t)(sp - line) + 1, d = 0;
        int code = 0;
        while (k < len && d < 3 && line[k] >= '0' && line[k] <= '9') code = code * 10 + (line[k++] - '0'), d++;
        if (d == 3 && (k == len || line[k] == ' ' || line[k] == '\t')) *status = code;
    }
    *ctype = (span){(const uint8_t *)"", 0};
    *chunked = 0;
    *enc = ENC_IDENTITY;
    while (next_line(block, end, &at, &line, &len) && len) {
        const uint8_t *colon = memchr(line, ':', len);
        if (!colon) continue;
        size_t nl = (size_t)(colon - line);
        const uint8_t *v = colon + 1;
        size_t vn = len - nl - 1;
        trim(&v, &vn);
        if (name_eq(line, nl, "Content-Type")) {
            *ctype = (span){v, vn};
        } else if (name_eq(line, nl, "Transfer-Encoding")) {
            for (size_t i = 0; i + 7 <= vn; i++)
                if (strncasecmp((const char *)v + i, "chunked", 7) == 0) *chunked = 1;
        } else if (name_eq(line, nl, "Content-Encoding")) {
            *enc = encoding_of(v, vn);
        }
    }
    *body_off = end;
    return 1;
}

/* ---- records ---- */

static hlm_status next_record(hlm_warc_reader *r, hlm_warc_record *rec, int *more, int *skipped, hlm_error *err)
{
    *more = 0;
    *skipped = 0;
    /* Blank lines between records (the CRLF CRLF after each block, or stray ones). */
    for (;;) {
        hlm_status st = fill(r, 1, err);
        if (st) return st;
        if (r->pos == r->len) return HLM_OK;
        uint8_t c = r->data[r->pos];
        if (c != '\r' && c != '\n') break;
        r->pos++;
    }
    uint64_t rec_off = r->base + r->pos;

    size_t want = 4096, hlen = 0;
    for (;;) {
        hlm_status st = fill(r, want, err);
        if (st) return st;
        size_t avail = r->len - r->pos;
        if (avail >= 9 && memcmp(r->data + r->pos, "WARC/", 5) != 0) break; /* reported below */
        size_t scan = avail < HEADER_MAX ? avail : HEADER_MAX;
        hlen = header_end(r->data + r->pos, scan);
        if (hlen) break;
        if (avail >= HEADER_MAX)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: header longer than %u bytes: expected an empty line to end it",
                              r->name, (unsigned long long)rec_off, HEADER_MAX);
        if (r->eof || !r->src) {
            if (avail < 9 || memcmp(r->data + r->pos, "WARC/", 5) == 0)
                return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: truncated header (%zu bytes before the end of the file)",
                                  r->name, (unsigned long long)rec_off, avail);
            break;
        }
        want = avail * 2 < HEADER_MAX ? avail * 2 : HEADER_MAX;
    }
    const uint8_t *h = r->data + r->pos;
    size_t at = 0;
    const uint8_t *line;
    size_t len;
    if (!hlen || !next_line(h, hlen, &at, &line, &len) || !(name_eq(line, len, "WARC/1.0") || name_eq(line, len, "WARC/1.1"))) {
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: version line \"%.*s\": expected WARC/1.0 or WARC/1.1",
                          r->name, (unsigned long long)rec_off, printable(h, r->len - r->pos, 16), (const char *)h);
    }

    span f[F_COUNT] = {{0}};
    int have_len = 0;
    uint64_t clen = 0;
    int last = -1; /* field a continuation line extends */
    while (next_line(h, hlen, &at, &line, &len) && len) {
        if (line[0] == ' ' || line[0] == '\t') {
            /* Folded value: the field's value grows to the end of this line (its bytes are
             * contiguous in the header, with the line break inside, which is kept as is). */
            if (last >= 0) f[last].n = (size_t)(line + len - f[last].p);
            continue;
        }
        const uint8_t *colon = memchr(line, ':', len);
        if (!colon || colon == line)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: header line \"%.*s\": expected Name: value",
                              r->name, (unsigned long long)rec_off, printable(line, len, 60), (const char *)line);
        size_t nl = (size_t)(colon - line);
        span v = {colon + 1, len - nl - 1};
        trim(&v.p, &v.n);
        last = -1;
        if (name_eq(line, nl, "Content-Length")) {
            if (!parse_u64(v.p, v.n, &clen))
                return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: Content-Length \"%.*s\": expected a decimal byte count",
                                  r->name, (unsigned long long)rec_off, printable(v.p, v.n, 40), (const char *)v.p);
            have_len = 1;
        } else if (name_eq(line, nl, "WARC-Type")) {
            last = F_TYPE;
        } else if (name_eq(line, nl, "WARC-Record-ID")) {
            last = F_ID;
        } else if (name_eq(line, nl, "WARC-Target-URI")) {
            last = F_URI;
        } else if (name_eq(line, nl, "WARC-Date")) {
            last = F_DATE;
        } else if (name_eq(line, nl, "Content-Type")) {
            last = F_CTYPE;
        }
        if (last >= 0) f[last] = v;
    }
    if (!have_len)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: no Content-Length field: expected one in every record",
                          r->name, (unsigned long long)rec_off);
    if (!f[F_TYPE].p || f[F_TYPE].n == 0)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: no WARC-Type field: expected one in every record",
                          r->name, (unsigned long long)rec_off);

    if (clen > r->max_record) {
        uint64_t done;
        hlm_status st = discard(r, hlen + clen, &done, err);
        if (st) return st;
        if (done < hlen + clen)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: Content-Length %llu runs past the end of the file (%llu bytes left)",
                              r->name, (unsigned long long)rec_off, (unsigned long long)clen,
                              (unsigned long long)(done - hlen));
        r->skipped++;
        *skipped = 1;
        return HLM_OK;
    }
    /* fill may move the window: keep the field values as offsets into the header meanwhile. */
    size_t field_off[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) field_off[i] = f[i].p ? (size_t)(f[i].p - h) : 0;
    hlm_status st = fill(r, hlen + (size_t)clen, err);
    if (st) return st;
    if (r->len - r->pos < hlen + clen)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: record at byte %llu: Content-Length %llu runs past the end of the file (%zu bytes left)",
                          r->name, (unsigned long long)rec_off, (unsigned long long)clen, r->len - r->pos - hlen);
    h = r->data + r->pos;
    for (int i = 0; i < F_COUNT; i++)
        if (f[i].p) f[i].p = h + field_off[i];
    const uint8_t *block = h + hlen;
    r->pos += hlen + (size_t)clen;

    /* Kind, payload and content type. */
    span type = f[F_TYPE];
    rec->kind = name_eq(type.p, type.n, "response")     ? HLM_WARC_RESPONSE
                : name_eq(type.p, type.n, "resource")   ? HLM_WARC_RESOURCE
                : name_eq(type.p, type.n, "conversion") ? HLM_WARC_CONVERSION
                                                        : HLM_WARC_OTHER;
    rec->payload = block;
    rec->payload_len = (size_t)clen;
    rec->http_status = 0;
    span ctype = f[F_CTYPE].p ? f[F_CTYPE] : (span){(const uint8_t *)"", 0};
    if (rec->kind == HLM_WARC_RESPONSE) {
        int status, chunked, enc;
        size_t body;
        span hct;
        if (parse_http(block, (size_t)clen, &status, &hct, &chunked, &enc, &body)) {
            rec->http_status = status;
            ctype = hct;
            rec->payload = block + body;
            rec->payload_len = (size_t)clen - body;
            int decoded = 0;
            if (chunked && dechunk(rec->payload, rec->payload_len, &r->dechunk, &decoded))
                return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", r->name);
            if (decoded) {
                rec->payload = r->dechunk.data ? r->dechunk.data : (const uint8_t *)"";
                rec->payload_len = r->dechunk.len;
            }
            if (enc != ENC_IDENTITY && rec->payload_len > 0) {
                if (!decode_body(enc, rec->payload, rec->payload_len, &r->decoded, r->max_record)) {
                    r->skipped++; /* an encoding we do not know, or a body that does not decode */
                    *skipped = 1;
                    return HLM_OK;
                }
                rec->payload = r->decoded.data ? r->decoded.data : (const uint8_t *)"";
                rec->payload_len = r->decoded.len;
            }
        } else {
            ctype = (span){(const uint8_t *)"", 0}; /* not HTTP: no HTTP Content-Type */
        }
    }

    /* Header values as C strings. */
    r->strs.len = 0;
    size_t off[F_COUNT + 1];
    span id = f[F_ID].p ? f[F_ID] : (span){(const uint8_t *)"", 0};
    if (id.n >= 2 && id.p[0] == '<' && id.p[id.n - 1] == '>') id.p++, id.n -= 2;
    span vals[F_COUNT] = {type, id, f[F_URI].p ? f[F_URI] : (span){0}, f[F_DATE].p ? f[F_DATE] : (span){0}, ctype};
    for (int i = 0; i < F_COUNT; i++)
        if (save_str(&r->strs, vals[i], &off[i])) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", r->name);
    const char *s = (const char *)r->strs.data;
    rec->type = s + off[F_TYPE];
    rec->record_id = s + off[F_ID];
    rec->target_uri = s + off[F_URI];
    rec->date = s + off[F_DATE];
    rec->content_type = s + off[F_CTYPE];
    *more = 1;
    return HLM_OK;
}

hlm_status hlm_warc_next(hlm_warc_reader *r, hlm_warc_record *rec, int *more, hlm_error *err)
{
    for (;;) {
        int skipped;
        hlm_status st = next_record(r, rec, more, &skipped, err);
        if (st || !skipped) return st;
    }
}

/* ---- open/close ---- */

static hlm_warc_reader *reader_new(const char *name)
{
    hlm_warc_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->name = strdup(name);
    if (!r->name) {
        free(r);
        return NULL;
    }
    r->max_record = DEFAULT_MAX_RECORD;
    return r;
}

hlm_status hlm_warc_open(hlm_warc_reader **out, const char *path, hlm_error *err)
{
    *out = NULL;
    hlm_warc_reader *r = reader_new(path);
    if (!r) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", path);
    hlm_status st = hlm_reader_open(&r->src, path, err);
    if (st) {
        hlm_warc_close(r);
        return st;
    }
    struct stat sb;
    if (strcmp(path, "-") != 0 && stat(path, &sb) == 0) r->file_bytes = (uint64_t)sb.st_size;
    *out = r;
    return HLM_OK;
}

hlm_status hlm_warc_open_mem(hlm_warc_reader **out, const char *name, const void *data, size_t len, hlm_error *err)
{
    *out = NULL;
    hlm_warc_reader *r = reader_new(name);
    if (!r) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    r->data = data ? data : (const void *)"";
    r->len = len;
    r->eof = 1;
    r->file_bytes = len;
    *out = r;
    return HLM_OK;
}

void hlm_warc_set_max_record(hlm_warc_reader *r, size_t bytes)
{
    /* Sizes near SIZE_MAX would overflow the window arithmetic; nothing that big fits anyway. */
    r->max_record = bytes < SIZE_MAX / 4 ? bytes : SIZE_MAX / 4;
}

uint64_t hlm_warc_skipped_records(const hlm_warc_reader *r) { return r->skipped; }

uint64_t hlm_warc_bytes_read(const hlm_warc_reader *r)
{
    return r->src ? hlm_reader_bytes_in(r->src) : r->base + r->pos;
}

uint64_t hlm_warc_file_bytes(const hlm_warc_reader *r) { return r->file_bytes; }

void hlm_warc_close(hlm_warc_reader *r)
{
    if (!r) return;
    hlm_reader_close(r->src);
    free(r->buf);
    free(r->name);
    hlm_buf_free(&r->strs);
    hlm_buf_free(&r->dechunk);
    hlm_buf_free(&r->decoded);
    free(r);
}

int hlm_warc_sniff(const uint8_t *head, size_t len)
{
    size_t i = 0;
    while (i < len && i < 8 && (head[i] == '\r' || head[i] == '\n')) i++;
    return len - i >= 7 && memcmp(head + i, "WARC/1.", 7) == 0;
}
