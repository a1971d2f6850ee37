/* Document readers for plain text, JSONL and TSV.
 *
 * Invariants:
 *  - Input flows through one window, win[win_pos..win_len), refilled in READ_BYTES steps; it only
 *    grows to hold the current line or text chunk, so memory is bounded by the largest document.
 *  - A document returned by hlm_doc_reader_next points into the window (text, TSV) or into the
 *    parsed JSON value (JSONL); both stay untouched until the next call. Lines are NUL-terminated
 *    in place (over their '\n'), so cJSON and TSV fields can be NUL-terminated without a copy.
 *  - win_cap > win_len at all times, so a line that ends the input still has a byte after it to
 *    hold that NUL.
 *  - line_no is the number of the last line taken from the window (1-based), for error messages.
 *
 * Plain text chunks end right after a '\n' that has a non-whitespace character before it and,
 * after it, a character that is neither whitespace nor '/'. Why that is a piece boundary for
 * every OpenAI pattern (gpt2, cl100k, o200k): no letter, number or contraction alternative can
 * contain '\n' (their optional prefix excludes \r\n); the whitespace alternatives
 * `\s*[\r\n]+`, `\s+(?!\S)`, `\s+` cannot start before it (the character there is not
 * whitespace) nor continue past it; the punctuation alternative may end with it, as
 * `?[^\s\p{L}\p{N}]+[\r\n]*` (cl100k) or `?[^\s\p{L}\p{N}]+[\r\n/]*` (o200k), and
 * o200k's would go on into a '/' after it ("a.\n/b" has the piece ".\n/"), hence the '/' rule.
 * The pieces after the cut match from their own start, and the only lookahead, `(?!\S)`, sees
 * one character, the same in the chunk as in the whole text. NFC cannot join across the cut
 * either ('\n' is a starter that composes with nothing).
 *
 * Text whose paragraphs are separated by blank lines has few such newlines, so a chunk may also
 * end right after an ASCII letter or a Hangul syllable that is followed by U+0020 (the space
 * starts the next chunk). Why: every alternative that can contain a letter stops at a space
 * (` ?\p{L}+` takes a space only in front; the contraction and o200k letter alternatives take
 * letters, marks and an apostrophe suffix), so a piece ends between the letter and the space in
 * the whole text, and a letter run cut at its end is matched the same way (its case split and
 * optional suffix depend only on the run). Both characters are starters, so NFC cannot join
 * them either. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "text/docs.h"
#include "text/docs_internal.h"

#define READ_BYTES (64u << 10)
#define DEFAULT_CHUNK_BYTES (1u << 20)

struct hlm_doc_reader {
    char *name;
    hlm_doc_format format;
    hlm_reader *src;             /* file source, or NULL for memory */
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    int compressed;
    uint64_t file_bytes, raw_bytes; /* raw_bytes: decompressed bytes taken from the source */
    uint8_t *win;
    size_t win_len, win_pos, win_cap;
    int eof;
    uint64_t line_no;

    size_t chunk_bytes;
    size_t scan;                 /* text: bytes of the pending chunk already searched for a cut */

    char *field;                 /* JSONL */
    cJSON *json;                 /* the value returned last, freed on the next call */

    char *column_spec;           /* TSV: as given (NULL: "text" column, else the last) */
    size_t column;               /* 0-based, resolved from the header */
    int header_done;
};

/* ---- input window ---- */

static hlm_status refill(hlm_doc_reader *r, hlm_error *err)
{
    if (r->win_pos > 0) {
        memmove(r->win, r->win + r->win_pos, r->win_len - r->win_pos);
        r->win_len -= r->win_pos;
        r->win_pos = 0;
    }
    if (r->win_cap - r->win_len < READ_BYTES + 1) {
        size_t cap = r->win_cap;
        while (cap - r->win_len < READ_BYTES + 1) {
            if (cap > SIZE_MAX / 2) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", r->name);
            cap *= 2;
        }
        uint8_t *p = realloc(r->win, cap);
        if (!p) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory (a document of %zu bytes)",
                                  r->name, r->win_len);
        r->win = p;
        r->win_cap = cap;
    }
    size_t n;
    if (r->src) {
        hlm_status st = hlm_reader_read(r->src, r->win + r->win_len, READ_BYTES, &n, err);
        if (st) return st;
    } else {
        n = r->mem_len - r->mem_pos;
        if (n > READ_BYTES) n = READ_BYTES;
        if (n) memcpy(r->win + r->win_len, r->mem + r->mem_pos, n);
        r->mem_pos += n;
    }
    if (n == 0) r->eof = 1;
    r->win_len += n;
    r->raw_bytes += n;
    return HLM_OK;
}

/* Takes the next line (without its '\n') from the window; *line == NULL at the end of input.
 * The line is NUL-terminated in place. */
static hlm_status next_line(hlm_doc_reader *r, uint8_t **line, size_t *len, hlm_error *err)
{
    size_t scanned = 0;
    *line = NULL;
    *len = 0;
    for (;;) {
        uint8_t *start = r->win + r->win_pos;
        size_t avail = r->win_len - r->win_pos;
        uint8_t *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
        if (nl || (r->eof && avail > 0)) {
            size_t n = nl ? (size_t)(nl - start) : avail;
            start[n] = 0;
            r->win_pos += nl ? n + 1 : n;
            r->line_no++;
            *line = start;
            *len = n;
            return HLM_OK;
        }
        if (r->eof) return HLM_OK;
        scanned = avail;
        hlm_status st = refill(r, err);
        if (st) return st;
    }
}

static void strip_line_end(uint8_t *line, size_t *len, uint64_t line_no)
{
    if (*len > 0 && line[*len - 1] == '\r') line[--*len] = 0;
    /* A UTF-8 byte order mark (as spreadsheet exports write) is not part of the first line. */
    if (line_no == 1 && *len >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF) {
        memmove(line, line + 3, *len - 3 + 1);
        *len -= 3;
    }
}

static int blank(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

/* ---- plain text ---- */

/* Unicode White_Space (what \s matches in the tokenizer patterns): U+0009..000D, 0020, 0085,
 * 00A0, 1680, 2000..200A, 2028, 2029, 202F, 205F, 3000. */
static int ws_ascii(uint8_t b) { return b == ' ' || (b >= 0x09 && b <= 0x0D); }

static int ws_2(const uint8_t *s) { return s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0); }

static int ws_3(const uint8_t *s)
{
    if (s[0] == 0xE1) return s[1] == 0x9A && s[2] == 0x80;
    if (s[0] == 0xE2)
        return (s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 ||
                                 s[2] == 0xAF)) ||
               (s[1] == 0x81 && s[2] == 0x9F);
    if (s[0] == 0xE3) return s[1] == 0x80 && s[2] == 0x80;
    return 0;
}

/* The encodings above are all well-formed and start with a lead byte that is never a
 * continuation byte, so matching them at a position is exactly what a strict decoder would see.
 * '/' may not follow: o200k's punctuation piece would continue into it (see the top). */
/* A letter ends at s[i]: an ASCII letter, or the last byte of a Hangul syllable U+AC00..U+D7A3
 * (EA B0 80 .. ED 9E A3; a strict decoder sees exactly these three bytes as one character). */
static int letter_ends_at(const uint8_t *s, size_t i)
{
    uint8_t c = s[i];
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
    if (i < 2 || (c & 0xC0) != 0x80 || (s[i - 1] & 0xC0) != 0x80) return 0;
    uint32_t cp = ((uint32_t)(s[i - 2] & 0x0F) << 12) | ((uint32_t)(s[i - 1] & 0x3F) << 6) | (c & 0x3Fu);
    return (s[i - 2] & 0xF0) == 0xE0 && cp >= 0xAC00 && cp <= 0xD7A3;
}

int hlm_doc_text_cut_ok(const uint8_t *s, size_t len, size_t i)
{
    if (i + 1 < len && s[i + 1] == ' ' && letter_ends_at(s, i)) return 1;
    if (i == 0 || i + 1 >= len || s[i] != '\n') return 0;
    if (ws_ascii(s[i - 1])) return 0;
    if (i >= 2 && ws_2(s + i - 2)) return 0;
    if (i >= 3 && ws_3(s + i - 3)) return 0;
    const uint8_t *t = s + i + 1;
    size_t m = len - i - 1;
    if (ws_ascii(t[0]) || t[0] == '/') return 0;
    if (m >= 2 && ws_2(t)) return 0;
    if (m >= 3 && ws_3(t)) return 0;
    return 1;
}

static hlm_status next_text(hlm_doc_reader *r, const char **text, size_t *len, int *more, hlm_error *err)
{
    for (;;) {
        uint8_t *s = r->win + r->win_pos;
        size_t avail = r->win_len - r->win_pos;
        size_t from = r->scan > r->chunk_bytes - 1 ? r->scan : r->chunk_bytes - 1;
        while (from < avail) {
            /* The next '\n' or ' ' (a cut is only ever right before or after one). */
            size_t i = from;
            while (i < avail && s[i] != '\n' && s[i + 1 < avail ? i + 1 : i] != ' ') i++;
            if (i >= avail) {
                from = avail;
                break;
            }
            /* Deciding needs the longest whitespace encoding (3 bytes) after the '\n'. */
            if (avail - i - 1 < 3 && !r->eof) {
                from = i;
                break;
            }
            if (hlm_doc_text_cut_ok(s, avail, i)) {
                r->scan = 0;
                r->win_pos += i + 1;
                *text = (const char *)s;
                *len = i + 1;
                *more = 1;
                return HLM_OK;
            }
            from = i + 1;
        }
        r->scan = from;
        if (r->eof) {
            r->scan = 0;
            r->win_pos = r->win_len;
            *text = (const char *)s;
            *len = avail;
            *more = avail > 0;
            return HLM_OK;
        }
        hlm_status st = refill(r, err);
        if (st) return st;
    }
}

/* ---- JSONL ---- */

/* The value of 4 hex digits, or -1. */
static long hex4(const uint8_t *s)
{
    long v = 0;
    for (int d = 0; d < 4; d++) {
        int c = s[d], x;
        if (c >= '0' && c <= '9') x = c - '0';
        else if (c >= 'a' && c <= 'f') x = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') x = c - 'A' + 10;
        else return -1;
        v = v * 16 + x;
    }
    return v;
}

/* cJSON returns strings NUL-terminated without a length, so a "\u0000" escape would cut the text
 * short. Such escapes (rare) are rewritten in place to a noncharacter U+FDD0..U+FDEF that the
 * line does not otherwise contain (same 6 bytes), and turned back into a 0 byte after parsing.
 * Returns the sentinel's last UTF-8 byte (0xEF 0xB7 x), 0 if the line has no "\u0000", or -1 if
 * every candidate is already in use. */
static int protect_nul_escapes(uint8_t *s, size_t n)
{
    uint32_t used = 0; /* bit k: U+FDD0+k appears in the line */
    int has_nul = 0;
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == 0xEF && s[i + 1] == 0xB7 && s[i + 2] >= 0x90 && s[i + 2] <= 0xAF)
            used |= 1u << (s[i + 2] - 0x90);
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\') continue;
        long v = s[i + 1] == 'u' && i + 5 < n ? hex4(s + i + 2) : -1;
        if (v == 0) has_nul = 1;
        else if (v >= 0xFDD0 && v <= 0xFDEF) used |= 1u << (v - 0xFDD0);
        i++; /* the escaped character is never the start of another escape */
    }
    if (!has_nul) return 0;
    int k = 0;
    while (k < 32 && (used >> k & 1)) k++;
    if (k == 32) return -1;
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u' && i + 5 < n && s[i + 2] == '0' && s[i + 3] == '0' && s[i + 4] == '0' &&
            s[i + 5] == '0') {
            unsigned v = 0xFDD0u + (unsigned)k;
            for (int d = 0; d < 4; d++) s[i + 2 + d] = (uint8_t)digits[v >> (12 - 4 * d) & 15];
        }
        i++;
    }
    return 0x90 + k;
}

static size_t restore_nuls(char *s, int last)
{
    size_t n = strlen(s), j = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && (uint8_t)s[i] == 0xEF && (uint8_t)s[i + 1] == 0xB7 && (uint8_t)s[i + 2] == last) {
            s[j++] = 0;
            i += 2;
        } else {
            s[j++] = s[i];
        }
    }
    s[j] = 0;
    return j;
}

static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "something else";
}

static hlm_status next_jsonl(hlm_doc_reader *r, const char **text, size_t *len, int *more, hlm_error *err)
{
    for (;;) {
        uint8_t *line;
        size_t n;
        hlm_status st = next_line(r, &line, &n, err);
        if (st) return st;
        if (!line) {
            *more = 0;
            return HLM_OK;
        }
        strip_line_end(line, &n, r->line_no);
        if (blank(line, n)) continue;
        int sentinel = protect_nul_escapes(line, n);
        if (sentinel < 0)
            return hlm_errorf(err, HLM_ERR_FORMAT,
                              "%s:%llu: field '%s': \\u0000 together with all of U+FDD0..U+FDEF in one "
                              "line is not supported",
                              r->name, (unsigned long long)r->line_no, r->field);
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithLengthOpts((const char *)line, n, &end, 0);
        if (!doc) {
            size_t col = end && end >= (const char *)line ? (size_t)(end - (const char *)line) + 1 : 1;
            return hlm_errorf(err, HLM_ERR_FORMAT,
                              "%s:%llu: field '%s': expected a string, got invalid JSON (at column %zu)",
                              r->name, (unsigned long long)r->line_no, r->field, col);
        }
        const char *rest = end ? end : (const char *)line + n;
        while (rest < (const char *)line + n && (*rest == ' ' || *rest == '\t')) rest++;
        const char *problem = NULL;
        const cJSON *v = NULL;
        if (rest != (const char *)line + n) problem = "text after the JSON value";
        else if (!cJSON_IsObject(doc)) problem = "a line that is not a JSON object";
        else if (!(v = cJSON_GetObjectItemCaseSensitive(doc, r->field))) problem = "no such field";
        else if (!cJSON_IsString(v) || !v->valuestring) problem = json_kind(v);
        if (problem) {
            size_t col = (size_t)(rest - (const char *)line) + 1;
            if (rest != (const char *)line + n)
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s:%llu: field '%s': expected a string, got %s (column %zu)",
                                r->name, (unsigned long long)r->line_no, r->field, problem, col);
            else
                st = hlm_errorf(err, HLM_ERR_FORMAT, "%s:%llu: field '%s': expected a string, got %s", r->name,
                                (unsigned long long)r->line_no, r->field, problem);
            cJSON_Delete(doc);
            return st;
        }
        cJSON_Delete(r->json);
        r->json = doc;
        *text = v->valuestring;
        *len = sentinel ? restore_nuls(v->valuestring, sentinel) : strlen(v->valuestring);
        *more = 1;
        return HLM_OK;
    }
}

/* ---- TSV ---- */

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static hlm_status read_header(hlm_doc_reader *r, int *have, hlm_error *err)
{
    uint8_t *line;
    size_t n;
    hlm_status st = next_line(r, &line, &n, err);
    *have = line != NULL;
    if (st || !line) return st;
    strip_line_end(line, &n, r->line_no);
    size_t n_cols = 1;
    for (size_t i = 0; i < n; i++) n_cols += line[i] == '\t';
    const char *want = r->column_spec ? r->column_spec : "text";
    size_t k = 0, found = SIZE_MAX;
    for (size_t i = 0, start = 0; i <= n; i++) {
        if (i < n && line[i] != '\t') continue;
        if (found == SIZE_MAX && i - start == strlen(want) && !memcmp(line + start, want, i - start)) found = k;
        k++;
        start = i + 1;
    }
    if (found != SIZE_MAX) {
        r->column = found;
    } else if (!r->column_spec) {
        r->column = n_cols - 1;
    } else if (all_digits(r->column_spec)) {
        errno = 0;
        unsigned long long idx = strtoull(r->column_spec, NULL, 10);
        if (errno || idx >= n_cols)
            return hlm_errorf(err, HLM_ERR_INVALID, "%s:%llu: column %s: out of range, the header has %zu columns",
                              r->name, (unsigned long long)r->line_no, r->column_spec, n_cols);
        r->column = (size_t)idx;
    } else {
        for (size_t i = 0; i < n; i++)
            if (line[i] == '\t') line[i] = ',';
        return hlm_errorf(err, HLM_ERR_INVALID, "%s:%llu: no column '%s' in the header (columns: %.*s)", r->name,
                          (unsigned long long)r->line_no, r->column_spec, n > 400 ? 400 : (int)n, (char *)line);
    }
    r->header_done = 1;
    return HLM_OK;
}

static hlm_status next_tsv(hlm_doc_reader *r, const char **text, size_t *len, int *more, hlm_error *err)
{
    if (!r->header_done) {
        int have;
        hlm_status st = read_header(r, &have, err);
        if (st) return st;
        if (!have) {
            *more = 0;
            return HLM_OK;
        }
    }
    for (;;) {
        uint8_t *line;
        size_t n;
        hlm_status st = next_line(r, &line, &n, err);
        if (st) return st;
        if (!line) {
            *more = 0;
            return HLM_OK;
        }
        strip_line_end(line, &n, r->line_no);
        if (n == 0) continue;
        size_t start = 0, k = 0;
        while (k < r->column) {
            uint8_t *tab = memchr(line + start, '\t', n - start);
            if (!tab) break;
            start = (size_t)(tab - line) + 1;
            k++;
        }
        if (k < r->column)
            return hlm_errorf(err, HLM_ERR_FORMAT,
                              "%s:%llu: expected at least %zu tab-separated columns (the text is column %zu), found %zu",
                              r->name, (unsigned long long)r->line_no, r->column + 1, r->column, k + 1);
        uint8_t *tab = memchr(line + start, '\t', n - start);
        size_t end = tab ? (size_t)(tab - line) : n;
        line[end] = 0;
        *text = (const char *)line + start;
        *len = end - start;
        *more = 1;
        return HLM_OK;
    }
}

/* ---- open, next, close ---- */

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

static hlm_doc_format format_from_name(const char *name)
{
    size_t n = strlen(name);
    if (ends_with(name, n, ".gz")) n -= 3;
    else if (ends_with(name, n, ".zst")) n -= 4;
    if (ends_with(name, n, ".jsonl") || ends_with(name, n, ".json") || ends_with(name, n, ".ndjson"))
        return HLM_DOC_JSONL;
    if (ends_with(name, n, ".tsv")) return HLM_DOC_TSV;
    return HLM_DOC_TEXT;
}

static hlm_status reader_new(hlm_doc_reader **out, const char *name, const hlm_doc_reader_opts *opts,
                             hlm_error *err)
{
    *out = NULL;
    hlm_doc_reader_opts o = {0};
    if (opts) o = *opts;
    if ((int)o.format < (int)HLM_DOC_AUTO || (int)o.format > (int)HLM_DOC_TSV)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: unknown document format %d", name, (int)o.format);
    hlm_doc_reader *r = calloc(1, sizeof *r);
    if (!r) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    r->format = o.format == HLM_DOC_AUTO ? format_from_name(name) : o.format;
    r->chunk_bytes = o.chunk_bytes ? o.chunk_bytes : DEFAULT_CHUNK_BYTES;
    r->name = strdup(name);
    r->field = strdup(o.jsonl_field ? o.jsonl_field : "text");
    if (o.tsv_column) r->column_spec = strdup(o.tsv_column);
    r->win_cap = 2 * READ_BYTES;
    r->win = malloc(r->win_cap);
    if (!r->name || !r->field || (o.tsv_column && !r->column_spec) || !r->win) {
        hlm_doc_reader_close(r);
        return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", name);
    }
    *out = r;
    return HLM_OK;
}

hlm_status hlm_doc_reader_open(hlm_doc_reader **out, const char *path, const hlm_doc_reader_opts *opts,
                               hlm_error *err)
{
    *out = NULL;
    hlm_doc_reader *r;
    hlm_status st = reader_new(&r, path, opts, err);
    if (st) return st;
    st = hlm_reader_open(&r->src, path, err);
    if (st) {
        r->src = NULL;
        hlm_doc_reader_close(r);
        return st;
    }
    r->compressed = hlm_reader_compression(r->src) != HLM_COMP_NONE;
    struct stat sb;
    if (strcmp(path, "-") != 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) r->file_bytes = (uint64_t)sb.st_size;
    *out = r;
    return HLM_OK;
}

hlm_status hlm_doc_reader_open_mem(hlm_doc_reader **out, const char *name, const void *data, size_t len,
                                   const hlm_doc_reader_opts *opts, hlm_error *err)
{
    *out = NULL;
    hlm_doc_reader *r;
    hlm_status st = reader_new(&r, name, opts, err);
    if (st) return st;
    r->mem = data;
    r->mem_len = len;
    r->file_bytes = len;
    *out = r;
    return HLM_OK;
}

hlm_status hlm_doc_reader_next(hlm_doc_reader *r, const char **text, size_t *len, int *more, hlm_error *err)
{
    *text = NULL;
    *len = 0;
    *more = 0;
    if (r->json) {
        cJSON_Delete(r->json);
        r->json = NULL;
    }
    switch (r->format) {
    case HLM_DOC_JSONL: return next_jsonl(r, text, len, more, err);
    case HLM_DOC_TSV: return next_tsv(r, text, len, more, err);
    default: return next_text(r, text, len, more, err);
    }
}

/* For a compressed file the progress is the share of the compressed input consumed. */
uint64_t hlm_doc_reader_bytes_read(const hlm_doc_reader *r)
{
    if (!r->compressed) return r->raw_bytes;
    if (r->eof) return r->file_bytes;
    return r->src ? hlm_reader_bytes_in(r->src) : 0;
}

uint64_t hlm_doc_reader_file_bytes(const hlm_doc_reader *r) { return r->file_bytes; }

uint64_t hlm_doc_reader_line(const hlm_doc_reader *r) { return r->line_no; }

const struct cJSON *hlm_doc_reader_json(const hlm_doc_reader *r) { return r->json; }

void hlm_doc_reader_close(hlm_doc_reader *r)
{
    if (!r) return;
    hlm_reader_close(r->src);
    cJSON_Delete(r->json);
    free(r->win);
    free(r->name);
    free(r->field);
    free(r->column_spec);
    free(r);
}
