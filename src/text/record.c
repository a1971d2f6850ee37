/* Document records: sources over every supported input and the JSONL writer (record.h).
 *
 * Invariants:
 *  - The file list is sorted by path bytes and each file's documents come in file order, so a
 *    document's number (file index, ordinal) is the same in every run and every part.
 *  - The ordinal counts every document of the file, including those another part takes.
 *  - A writer's output appears under its final name only after commit. */
#include "text/record.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zstd.h>

#include "hyperlm/file.h"
#include "text/docs.h"
#include "text/extract.h"
#include "text/unicode.h"

void hlm_record_free(hlm_record *r)
{
    hlm_buf_free(&r->id);
    hlm_buf_free(&r->text);
    hlm_buf_free(&r->source);
    hlm_buf_free(&r->url);
    hlm_buf_free(&r->lang);
    hlm_buf_free(&r->extra);
    memset(r, 0, sizeof *r);
}

static hlm_status set_buf(hlm_buf *b, const void *data, size_t n)
{
    b->len = 0;
    hlm_status st = hlm_buf_append(b, data, n);
    return st ? st : hlm_buf_terminate(b);
}

static hlm_status set_str(hlm_buf *b, const char *s) { return set_buf(b, s, strlen(s)); }

hlm_status hlm_record_copy(hlm_record *dst, const hlm_record *src, hlm_error *err)
{
    hlm_status st;
    if ((st = set_buf(&dst->id, src->id.data, src->id.len)) || (st = set_buf(&dst->text, src->text.data, src->text.len)) ||
        (st = set_buf(&dst->source, src->source.data, src->source.len)) ||
        (st = set_buf(&dst->url, src->url.data, src->url.len)) ||
        (st = set_buf(&dst->lang, src->lang.data, src->lang.len)) ||
        (st = set_buf(&dst->extra, src->extra.data, src->extra.len)))
        return hlm_errorf(err, st, "out of memory copying a document");
    dst->lang_score = src->lang_score;
    dst->doc_number = src->doc_number;
    return HLM_OK;
}

/* ---- file list ---- */

typedef struct src_file {
    char *path;
    char *root; /* the input argument it came from (the record's "source") */
    hlm_source_kind kind;
    uint64_t bytes;
} src_file;

struct hlm_source {
    hlm_source_opts opts;
    src_file *files;
    size_t n_files, cap_files;
    int by_file; /* parts split by file (enough files) or by document ordinal */

    size_t cur;  /* index of the open file, n_files when done */
    int open;
    uint64_t ordinal;
    hlm_doc_reader *docs;
    hlm_warc_reader *warc;
    hlm_reader *lines;
    hlm_buf line_buf;
    size_t line_pos;
    int lines_eof;
    hlm_buf page, scratch;
    hlm_html_info info;
    uint64_t total_bytes, done_bytes, raw_bytes, records_skipped;
    iconv_t iconv; /* for iconv_name, when iconv_open */
    char iconv_name[48];
    int iconv_open;
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The kind from the name (without .gz/.zst); HLM_SRC_AUTO if the name says nothing. */
static hlm_source_kind kind_from_name(const char *path)
{
    char name[512];
    const char *base = strrchr(path, '/');
    snprintf(name, sizeof name, "%s", base ? base + 1 : path);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    if (ends_with(name, ".gz")) name[strlen(name) - 3] = 0;
    else if (ends_with(name, ".zst")) name[strlen(name) - 4] = 0;
    static const struct {
        const char *ext;
        hlm_source_kind kind;
    } table[] = {{".jsonl", HLM_SRC_JSONL}, {".json", HLM_SRC_JSONL}, {".ndjson", HLM_SRC_JSONL},
                 {".tsv", HLM_SRC_TSV},     {".html", HLM_SRC_HTML},  {".htm", HLM_SRC_HTML},
                 {".xhtml", HLM_SRC_HTML},  {".warc", HLM_SRC_WARC},  {".wet", HLM_SRC_WARC},
                 {".txt", HLM_SRC_TEXT},    {".text", HLM_SRC_TEXT}};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (ends_with(name, table[i].ext)) return table[i].kind;
    return HLM_SRC_AUTO;
}

/* For a file named on the command line whose name says nothing: WARC if it starts like one,
 * else text. */
static hlm_source_kind sniff_kind(const char *path)
{
    hlm_reader *r;
    hlm_error err;
    if (hlm_reader_open(&r, path, &err)) return HLM_SRC_TEXT;
    uint8_t head[16];
    size_t n = 0;
    hlm_reader_read(r, head, sizeof head, &n, &err);
    hlm_reader_close(r);
    return hlm_warc_sniff(head, n) ? HLM_SRC_WARC : HLM_SRC_TEXT;
}

static hlm_status add_file(hlm_source *s, const char *path, const char *root, hlm_source_kind kind, uint64_t bytes,
                           hlm_error *err)
{
    if (s->n_files == s->cap_files) {
        size_t cap = s->cap_files ? 2 * s->cap_files : 64;
        src_file *f = realloc(s->files, cap * sizeof *f);
        if (!f) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory listing input files");
        s->files = f;
        s->cap_files = cap;
    }
    src_file *f = &s->files[s->n_files];
    f->path = strdup(path);
    f->root = strdup(root);
    if (!f->path || !f->root) {
        free(f->path);
        free(f->root);
        return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory listing input files");
    }
    f->kind = kind;
    f->bytes = bytes;
    s->n_files++;
    return HLM_OK;
}

/* Walks a folder recursively; only files whose names say what they are are taken (a folder of
 * pages also holds images and fonts). Symbolic links to folders are not followed (no cycles). */
static hlm_status walk(hlm_source *s, const char *dir, const char *root, int depth, hlm_error *err)
{
    if (depth > 64) return hlm_errorf(err, HLM_ERR_INVALID, "%s: folders nested more than 64 deep", dir);
    DIR *d = opendir(dir);
    if (!d) return hlm_errorf(err, HLM_ERR_IO, "%s: cannot read folder: %s", dir, strerror(errno));
    hlm_status st = HLM_OK;
    struct dirent *e;
    char path[4096];
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ., .., hidden files and our own .tmp files */
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) {
            st = hlm_errorf(err, HLM_ERR_INVALID, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        struct stat sb;
        if (lstat(path, &sb)) continue;
        if (S_ISLNK(sb.st_mode) && stat(path, &sb)) continue;
        if (S_ISDIR(sb.st_mode)) {
            struct stat lb;
            if (!lstat(path, &lb) && S_ISLNK(lb.st_mode)) continue;
            st = walk(s, path, root, depth + 1, err);
        } else if (S_ISREG(sb.st_mode)) {
            hlm_source_kind k = kind_from_name(path);
            if (k == HLM_SRC_TEXT && s->opts.text_as == HLM_SRC_LINES) k = HLM_SRC_LINES;
            if (k != HLM_SRC_AUTO) st = add_file(s, path, root, k, (uint64_t)sb.st_size, err);
        }
    }
    closedir(d);
    return st;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const src_file *)a)->path, ((const src_file *)b)->path);
}

hlm_status hlm_source_open(hlm_source **out, const char *const *paths, size_t n_paths, const hlm_source_opts *opts,
                           hlm_error *err)
{
    *out = NULL;
    if (n_paths == 0) return hlm_errorf(err, HLM_ERR_INVALID, "no input given");
    hlm_source *s = calloc(1, sizeof *s);
    if (!s) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    if (opts) s->opts = *opts;
    if (!s->opts.text_as) s->opts.text_as = HLM_SRC_TEXT;
    if (s->opts.parts == 0) s->opts.parts = 1;
    hlm_status st = HLM_OK;
    if (s->opts.part >= s->opts.parts) {
        st = hlm_errorf(err, HLM_ERR_INVALID, "part %u of %u: expected a part below %u", s->opts.part, s->opts.parts,
                        s->opts.parts);
        goto fail;
    }
    for (size_t i = 0; i < n_paths && !st; i++) {
        struct stat sb;
        if (stat(paths[i], &sb)) {
            st = hlm_errorf(err, HLM_ERR_IO, "%s: cannot open: %s", paths[i], strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            size_t before = s->n_files;
            st = walk(s, paths[i], paths[i], 0, err);
            if (!st && s->n_files == before)
                st = hlm_errorf(err, HLM_ERR_INVALID,
                                "%s: no document files in this folder (expected .jsonl, .tsv, .txt, .html, .warc or "
                                ".wet, optionally .gz/.zst)",
                                paths[i]);
        } else {
            hlm_source_kind k = kind_from_name(paths[i]);
            if (k == HLM_SRC_AUTO) k = sniff_kind(paths[i]);
            if (k == HLM_SRC_TEXT && s->opts.text_as == HLM_SRC_LINES) k = HLM_SRC_LINES;
            st = add_file(s, paths[i], paths[i], k, (uint64_t)sb.st_size, err);
        }
    }
    if (st) goto fail;
    qsort(s->files, s->n_files, sizeof *s->files, cmp_files);
    /* The same file named twice (directly and through its folder) would be read twice. */
    for (size_t i = 1; i < s->n_files; i++)
        if (strcmp(s->files[i].path, s->files[i - 1].path) == 0) {
            st = hlm_errorf(err, HLM_ERR_INVALID, "%s: named more than once in the inputs", s->files[i].path);
            goto fail;
        }
    if (s->n_files >= (1u << 23)) {
        st = hlm_errorf(err, HLM_ERR_INVALID, "%zu input files: at most %u are supported", s->n_files, 1u << 23);
        goto fail;
    }
    s->by_file = s->n_files >= s->opts.parts;
    for (size_t i = 0; i < s->n_files; i++)
        if (!s->by_file || i % s->opts.parts == s->opts.part) s->total_bytes += s->files[i].bytes;
    *out = s;
    return HLM_OK;
fail:
    hlm_source_close(s);
    return st;
}

size_t hlm_source_files(const hlm_source *s) { return s->n_files; }
const char *hlm_source_file(const hlm_source *s, size_t i) { return i < s->n_files ? s->files[i].path : NULL; }
uint64_t hlm_source_total_bytes(const hlm_source *s) { return s->total_bytes; }
uint64_t hlm_source_raw_bytes(const hlm_source *s) { return s->raw_bytes; }
uint64_t hlm_source_records_skipped(const hlm_source *s) { return s->records_skipped; }

static uint64_t open_file_bytes_done(const hlm_source *s)
{
    if (!s->open) return 0;
    if (s->docs) return hlm_doc_reader_bytes_read(s->docs);
    if (s->warc) return hlm_warc_bytes_read(s->warc);
    if (s->lines) return hlm_reader_bytes_in(s->lines);
    return 0;
}

uint64_t hlm_source_bytes_done(const hlm_source *s) { return s->done_bytes + open_file_bytes_done(s); }

static void close_file(hlm_source *s)
{
    if (!s->open) return;
    s->done_bytes += s->files[s->cur].bytes;
    hlm_doc_reader_close(s->docs);
    hlm_warc_close(s->warc);
    hlm_reader_close(s->lines);
    s->docs = NULL;
    s->warc = NULL;
    s->lines = NULL;
    s->open = 0;
    s->cur++;
}

void hlm_source_close(hlm_source *s)
{
    if (!s) return;
    if (s->open) close_file(s);
    for (size_t i = 0; i < s->n_files; i++) {
        free(s->files[i].path);
        free(s->files[i].root);
    }
    free(s->files);
    hlm_buf_free(&s->line_buf);
    hlm_buf_free(&s->page);
    hlm_buf_free(&s->scratch);
    hlm_html_info_free(&s->info);
    if (s->iconv_open) iconv_close(s->iconv);
    free(s);
}

static hlm_status open_file(hlm_source *s, hlm_error *err)
{
    const src_file *f = &s->files[s->cur];
    s->ordinal = 0;
    hlm_status st = HLM_OK;
    hlm_doc_reader_opts ro = {0};
    ro.jsonl_field = s->opts.jsonl_field;
    ro.tsv_column = s->opts.tsv_column;
    switch (f->kind) {
    case HLM_SRC_JSONL: ro.format = HLM_DOC_JSONL; st = hlm_doc_reader_open(&s->docs, f->path, &ro, err); break;
    case HLM_SRC_TSV: ro.format = HLM_DOC_TSV; st = hlm_doc_reader_open(&s->docs, f->path, &ro, err); break;
    case HLM_SRC_TEXT: ro.format = HLM_DOC_TEXT; st = hlm_doc_reader_open(&s->docs, f->path, &ro, err); break;
    case HLM_SRC_LINES:
        s->line_buf.len = 0;
        s->line_pos = 0;
        s->lines_eof = 0;
        st = hlm_reader_open(&s->lines, f->path, err);
        break;
    case HLM_SRC_WARC: st = hlm_warc_open(&s->warc, f->path, err); break;
    case HLM_SRC_HTML: break; /* read whole in next_doc */
    default: st = hlm_errorf(err, HLM_ERR_INVALID, "%s: unknown input kind", f->path);
    }
    if (!st) s->open = 1;
    return st;
}

/* The next line of a one-document-per-line file; *line NULL at the end. */
static hlm_status next_line(hlm_source *s, const uint8_t **line, size_t *len, hlm_error *err)
{
    for (;;) {
        uint8_t *start = s->line_buf.data + s->line_pos;
        size_t avail = s->line_buf.len - s->line_pos;
        uint8_t *nl = avail ? memchr(start, '\n', avail) : NULL;
        if (nl || (s->lines_eof && avail)) {
            size_t n = nl ? (size_t)(nl - start) : avail;
            s->line_pos += nl ? n + 1 : n;
            if (n && start[n - 1] == '\r') n--;
            *line = start;
            *len = n;
            return HLM_OK;
        }
        if (s->lines_eof) {
            *line = NULL;
            *len = 0;
            return HLM_OK;
        }
        memmove(s->line_buf.data, start, avail);
        s->line_buf.len = avail;
        s->line_pos = 0;
        hlm_status st = hlm_buf_reserve(&s->line_buf, 1 << 16);
        if (st) return hlm_errorf(err, st, "%s: out of memory (a line of %zu bytes)", s->files[s->cur].path, avail);
        size_t got;
        st = hlm_reader_read(s->lines, s->line_buf.data + s->line_buf.len, 1 << 16, &got, err);
        if (st) return st;
        s->line_buf.len += got;
        if (!got) s->lines_eof = 1;
    }
}

static int is_blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return 0;
    return 1;
}

/* Copies the JSONL object's other fields into the record. */
static hlm_status take_json_fields(hlm_record *rec, const cJSON *obj, const char *text_field, hlm_error *err)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *k = it->string;
        if (!k || strcmp(k, text_field) == 0) continue;
        hlm_status st = HLM_OK;
        if (strcmp(k, "id") == 0 && cJSON_IsString(it)) st = set_str(&rec->id, it->valuestring);
        else if (strcmp(k, "id") == 0 && cJSON_IsNumber(it)) {
            char num[64];
            snprintf(num, sizeof num, "%.17g", it->valuedouble);
            st = set_str(&rec->id, num);
        } else if (strcmp(k, "source") == 0 && cJSON_IsString(it)) st = set_str(&rec->source, it->valuestring);
        else if (strcmp(k, "url") == 0 && cJSON_IsString(it)) st = set_str(&rec->url, it->valuestring);
        else if (strcmp(k, "lang") == 0 && cJSON_IsString(it)) st = set_str(&rec->lang, it->valuestring);
        else if (strcmp(k, "lang_score") == 0 && cJSON_IsNumber(it)) rec->lang_score = it->valuedouble;
        else if (strcmp(k, "text") == 0) continue; /* a "text" beside another text field is dropped: we write "text" */
        else {
            char *v = cJSON_PrintUnformatted(it);
            if (!v) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
            if (rec->extra.len) st = hlm_buf_append(&rec->extra, ",", 1);
            if (!st) st = hlm_json_escape_append(&rec->extra, (const uint8_t *)k, strlen(k));
            if (!st) st = hlm_buf_append(&rec->extra, ":", 1);
            if (!st) st = hlm_buf_append(&rec->extra, v, strlen(v));
            free(v);
            if (!st) st = hlm_buf_terminate(&rec->extra);
        }
        if (st) return hlm_errorf(err, st, "out of memory");
    }
    return HLM_OK;
}

/* ---- legacy charsets ----
 * Korean pages are often EUC-KR/CP949. A page whose HTTP Content-Type or <meta> names a charset
 * other than UTF-8 is converted with iconv (glibc) before extraction; a byte iconv cannot convert
 * becomes U+FFFD; an unknown charset leaves the bytes as they are (normalization then repairs or
 * drops the document). */

/* The charset named by "charset=" in s[0..n) (Content-Type or the head of a page), lowercased,
 * into out; 0 if there is none. */
static int find_charset(const uint8_t *s, size_t n, char *out, size_t cap)
{
    for (size_t i = 0; i + 8 <= n; i++) {
        if (strncasecmp((const char *)s + i, "charset=", 8) != 0) continue;
        size_t j = i + 8, k = 0;
        while (j < n && (s[j] == '"' || s[j] == '\'' || s[j] == ' ')) j++;
        while (j < n && k + 1 < cap && (isalnum(s[j]) || s[j] == '-' || s[j] == '_' || s[j] == '.' || s[j] == ':'))
            out[k++] = (char)tolower(s[j++]);
        out[k] = 0;
        return k > 0;
    }
    return 0;
}

static int is_utf8_name(const char *cs)
{
    return !strcmp(cs, "utf-8") || !strcmp(cs, "utf8") || !strcmp(cs, "us-ascii") || !strcmp(cs, "ascii");
}

/* Converts rec->text from the charset that header (or else the first 2 KiB of the page) names. */
static hlm_status convert_charset(hlm_source *s, hlm_record *rec, const char *header, hlm_error *err)
{
    char cs[48];
    if (!(header && find_charset((const uint8_t *)header, strlen(header), cs, sizeof cs)) &&
        !find_charset(rec->text.data, rec->text.len < 2048 ? rec->text.len : 2048, cs, sizeof cs))
        return HLM_OK;
    if (is_utf8_name(cs)) return HLM_OK;
    if (strcmp(cs, s->iconv_name) != 0) {
        if (s->iconv_open) iconv_close(s->iconv);
        s->iconv_open = 0;
        snprintf(s->iconv_name, sizeof s->iconv_name, "%s", cs);
        /* EUC-KR pages routinely use CP949's extra syllables: decode them as CP949 */
        const char *from = !strcmp(cs, "euc-kr") || !strcmp(cs, "ks_c_5601-1987") ? "CP949" : cs;
        s->iconv = iconv_open("UTF-8", from);
        if (s->iconv == (iconv_t)-1) return HLM_OK; /* unknown: leave the bytes */
        s->iconv_open = 1;
    }
    if (!s->iconv_open) return HLM_OK;
    iconv(s->iconv, NULL, NULL, NULL, NULL);
    s->scratch.len = 0;
    hlm_status st = hlm_buf_reserve(&s->scratch, 2 * rec->text.len + 16);
    if (st) return hlm_errorf(err, st, "out of memory");
    char *in = (char *)rec->text.data;
    size_t in_left = rec->text.len;
    while (in_left) {
        if ((st = hlm_buf_reserve(&s->scratch, in_left * 2 + 16))) return hlm_errorf(err, st, "out of memory");
        char *o = (char *)s->scratch.data + s->scratch.len;
        size_t o_left = s->scratch.cap - s->scratch.len;
        size_t r = iconv(s->iconv, &in, &in_left, &o, &o_left);
        s->scratch.len = (size_t)((uint8_t *)o - s->scratch.data);
        if (r != (size_t)-1) break;
        if (errno == E2BIG) continue;
        /* EILSEQ or EINVAL (cut short): one U+FFFD for the byte, then go on */
        if ((st = hlm_buf_append(&s->scratch, "\xEF\xBF\xBD", 3))) return hlm_errorf(err, st, "out of memory");
        in++;
        in_left--;
        iconv(s->iconv, NULL, NULL, NULL, NULL);
    }
    hlm_buf t = rec->text;
    rec->text = s->scratch;
    s->scratch = t;
    if ((st = hlm_buf_terminate(&rec->text))) return hlm_errorf(err, st, "out of memory");
    return HLM_OK;
}

/* Reads the next document of the open file into rec; *got = 0 at the end of the file. */
static hlm_status next_in_file(hlm_source *s, hlm_record *rec, int *got, hlm_error *err)
{
    const src_file *f = &s->files[s->cur];
    *got = 0;
    hlm_status st;
    rec->url.len = 0;
    rec->lang.len = 0;
    rec->extra.len = 0;
    rec->lang_score = 0;
    rec->id.len = 0;
    rec->is_html = 0;
    if ((st = set_str(&rec->source, f->root)) || (st = hlm_buf_terminate(&rec->url)) ||
        (st = hlm_buf_terminate(&rec->lang)) || (st = hlm_buf_terminate(&rec->extra)))
        return hlm_errorf(err, st, "out of memory");
    switch (f->kind) {
    case HLM_SRC_JSONL:
    case HLM_SRC_TSV:
    case HLM_SRC_TEXT: {
        const char *text;
        size_t len;
        int more;
        if ((st = hlm_doc_reader_next(s->docs, &text, &len, &more, err))) return st;
        if (!more) return HLM_OK;
        s->raw_bytes += len;
        if ((st = set_buf(&rec->text, text, len))) return hlm_errorf(err, st, "out of memory");
        const cJSON *obj = hlm_doc_reader_json(s->docs);
        if (obj && (st = take_json_fields(rec, obj, s->opts.jsonl_field ? s->opts.jsonl_field : "text", err)))
            return st;
        break;
    }
    case HLM_SRC_LINES: {
        const uint8_t *line = NULL;
        size_t len = 0;
        do {
            if ((st = next_line(s, &line, &len, err))) return st;
        } while (line && is_blank(line, len));
        if (!line) return HLM_OK;
        s->raw_bytes += len;
        if ((st = set_buf(&rec->text, line, len))) return hlm_errorf(err, st, "out of memory");
        break;
    }
    case HLM_SRC_HTML: {
        if (s->ordinal > 0) return HLM_OK; /* one page per file */
        s->page.len = 0;
        if ((st = hlm_file_read_all(f->path, &s->page, err))) return st;
        s->raw_bytes += s->page.len;
        if ((st = set_buf(&rec->text, s->page.data, s->page.len))) return hlm_errorf(err, st, "out of memory");
        rec->is_html = 1;
        if ((st = convert_charset(s, rec, NULL, err))) return st;
        /* the id is the page's path below the folder it was found in */
        const char *rel = f->path;
        size_t rl = strlen(f->root);
        if (strncmp(rel, f->root, rl) == 0 && rel[rl] == '/') rel += rl + 1;
        if ((st = set_str(&rec->id, rel))) return hlm_errorf(err, st, "out of memory");
        break;
    }
    case HLM_SRC_WARC: {
        for (;;) {
            hlm_warc_record w;
            int more;
            if ((st = hlm_warc_next(s->warc, &w, &more, err))) return st;
            if (!more) return HLM_OK;
            const char *ct = w.content_type ? w.content_type : "";
            int html = strstr(ct, "html") != NULL;
            int text = strncmp(ct, "text/plain", 10) == 0;
            if (w.kind == HLM_WARC_CONVERSION) text = 1, html = 0;
            else if (w.kind == HLM_WARC_RESPONSE || w.kind == HLM_WARC_RESOURCE) {
                if (w.kind == HLM_WARC_RESPONSE && w.http_status && (w.http_status < 200 || w.http_status >= 300))
                    html = text = 0;
            } else {
                html = text = 0;
            }
            if (!html && !text) {
                s->records_skipped++;
                continue;
            }
            s->raw_bytes += w.payload_len;
            if ((st = set_buf(&rec->text, w.payload, w.payload_len))) return hlm_errorf(err, st, "out of memory");
            rec->is_html = html;
            if ((st = convert_charset(s, rec, ct, err))) return st;
            if (w.record_id && *w.record_id) st = set_str(&rec->id, w.record_id);
            if (!st && w.target_uri) st = set_str(&rec->url, w.target_uri);
            if (st) return hlm_errorf(err, st, "out of memory");
            break;
        }
        break;
    }
    default: return hlm_errorf(err, HLM_ERR_INVALID, "%s: unknown input kind", f->path);
    }
    if (rec->id.len == 0) {
        const char *base = strrchr(f->path, '/');
        char id[600];
        snprintf(id, sizeof id, "%s:%llu", base ? base + 1 : f->path, (unsigned long long)s->ordinal + 1);
        if ((st = set_str(&rec->id, id))) return hlm_errorf(err, st, "out of memory");
    }
    if (rec->text.len == 0 && (st = hlm_buf_terminate(&rec->text))) return hlm_errorf(err, st, "out of memory");
    if (rec->is_html && !s->opts.defer_html && (st = hlm_record_extract_html(rec, &s->scratch, &s->info, err)))
        return st;
    rec->doc_number = HLM_DOC_NUMBER(s->cur, s->ordinal);
    s->ordinal++;
    *got = 1;
    return HLM_OK;
}

hlm_status hlm_source_next(hlm_source *s, hlm_record *rec, int *more, hlm_error *err)
{
    *more = 0;
    while (s->cur < s->n_files) {
        if (s->by_file && s->cur % s->opts.parts != s->opts.part) {
            s->cur++;
            continue;
        }
        hlm_status st;
        if (!s->open && (st = open_file(s, err))) return st;
        int got;
        if ((st = next_in_file(s, rec, &got, err))) return st;
        if (!got) {
            close_file(s);
            continue;
        }
        if (s->ordinal >= (1ull << 40)) return hlm_errorf(err, HLM_ERR_RANGE, "%s: more than 2^40 documents in one file",
                                                        s->files[s->cur].path);
        if (!s->by_file && (s->ordinal - 1) % s->opts.parts != s->opts.part) continue;
        *more = 1;
        return HLM_OK;
    }
    return HLM_OK;
}

hlm_status hlm_record_extract_html(hlm_record *rec, hlm_buf *tmp, struct hlm_html_info *info, hlm_error *err)
{
    if (!rec->is_html) return HLM_OK;
    hlm_status st = hlm_html_extract((const char *)rec->text.data, rec->text.len, tmp, info, err);
    if (st) {
        hlm_error_prefix(err, "%s: ", (const char *)rec->id.data);
        return st;
    }
    hlm_buf t = rec->text;
    rec->text = *tmp;
    *tmp = t;
    rec->is_html = 0;
    if ((st = hlm_buf_terminate(&rec->text))) return hlm_errorf(err, st, "out of memory");
    if (info->title.len) {
        if (rec->extra.len) st = hlm_buf_append(&rec->extra, ",", 1);
        if (!st) st = hlm_buf_append(&rec->extra, "\"title\":", 8);
        if (!st) st = hlm_json_escape_append(&rec->extra, info->title.data, info->title.len);
        if (!st) st = hlm_buf_terminate(&rec->extra);
        if (st) return hlm_errorf(err, st, "out of memory");
    }
    return HLM_OK;
}

/* ---- JSON escaping ---- */

hlm_status hlm_json_escape_append(hlm_buf *out, const uint8_t *s, size_t len)
{
    /* worst case: every byte becomes \u00XX (6) or U+FFFD (3) */
    if (len > (SIZE_MAX - 2) / 6) return HLM_ERR_NOMEM;
    hlm_status st = hlm_buf_reserve(out, 6 * len + 2);
    if (st) return st;
    uint8_t *o = out->data + out->len;
    *o++ = '"';
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\t': *o++ = 't'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = (uint8_t)hex[c >> 4];
                *o++ = (uint8_t)hex[c & 15];
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = hlm_utf8_decode_inline(s + i, len - i, &cp);
        if (cp == HLM_CP_INVALID) {
            *o++ = 0xEF;
            *o++ = 0xBF;
            *o++ = 0xBD;
        } else {
            memcpy(o, s + i, n);
            o += n;
        }
        i += n;
    }
    *o++ = '"';
    out->len = (size_t)(o - out->data);
    return HLM_OK;
}

/* ---- writer ---- */

#define WRITER_FLUSH (1u << 20)

struct hlm_record_writer {
    hlm_atomic_file file;
    ZSTD_CCtx *zstd; /* NULL: plain JSONL */
    hlm_buf line, zout;
    uint64_t docs, bytes;
};

hlm_status hlm_record_writer_open(hlm_record_writer **out, const char *path, hlm_error *err)
{
    *out = NULL;
    hlm_record_writer *w = calloc(1, sizeof *w);
    if (!w) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    if (ends_with(path, ".zst")) {
        w->zstd = ZSTD_createCCtx();
        if (!w->zstd) {
            free(w);
            return hlm_errorf(err, HLM_ERR_NOMEM, "%s: cannot create a zstd context", path);
        }
        ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_compressionLevel, 3);
        ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_checksumFlag, 1);
    } else if (ends_with(path, ".gz")) {
        free(w);
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: documents are written as .jsonl or .jsonl.zst, not .gz", path);
    }
    hlm_status st = hlm_atomic_open(&w->file, path, err);
    if (st) {
        ZSTD_freeCCtx(w->zstd);
        free(w);
        return st;
    }
    *out = w;
    return HLM_OK;
}

static hlm_status flush_lines(hlm_record_writer *w, ZSTD_EndDirective mode, hlm_error *err)
{
    if (!w->zstd) {
        if (w->line.len && fwrite(w->line.data, 1, w->line.len, w->file.fp) != w->line.len)
            return hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", w->file.path, strerror(errno));
        w->line.len = 0;
        return HLM_OK;
    }
    ZSTD_inBuffer in = {w->line.data, w->line.len, 0};
    size_t cap = ZSTD_CStreamOutSize();
    if (hlm_buf_reserve(&w->zout, cap)) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    for (;;) {
        ZSTD_outBuffer o = {w->zout.data, cap, 0};
        size_t left = ZSTD_compressStream2(w->zstd, &o, &in, mode);
        if (ZSTD_isError(left))
            return hlm_errorf(err, HLM_ERR_IO, "%s: zstd: %s", w->file.path, ZSTD_getErrorName(left));
        if (o.pos && fwrite(w->zout.data, 1, o.pos, w->file.fp) != o.pos)
            return hlm_errorf(err, HLM_ERR_IO, "%s: write failed: %s", w->file.path, strerror(errno));
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
    }
    w->line.len = 0;
    return HLM_OK;
}

hlm_status hlm_record_write(hlm_record_writer *w, const hlm_record *rec, hlm_error *err)
{
    hlm_buf *b = &w->line;
    size_t start = b->len;
    hlm_status st = hlm_buf_append(b, "{\"id\":", 6);
    if (!st) st = hlm_json_escape_append(b, rec->id.data, rec->id.len);
    if (!st) st = hlm_buf_append(b, ",\"text\":", 8);
    if (!st) st = hlm_json_escape_append(b, rec->text.data, rec->text.len);
    if (!st) st = hlm_buf_append(b, ",\"source\":", 10);
    if (!st) st = hlm_json_escape_append(b, rec->source.data, rec->source.len);
    if (!st && rec->url.len) {
        st = hlm_buf_append(b, ",\"url\":", 7);
        if (!st) st = hlm_json_escape_append(b, rec->url.data, rec->url.len);
    }
    if (!st && rec->lang.len) {
        st = hlm_buf_append(b, ",\"lang\":", 8);
        if (!st) st = hlm_json_escape_append(b, rec->lang.data, rec->lang.len);
        if (!st) st = hlm_buf_appendf(b, ",\"lang_score\":%.4f", rec->lang_score);
    }
    if (!st && rec->extra.len) {
        st = hlm_buf_append(b, ",", 1);
        if (!st) st = hlm_buf_append(b, rec->extra.data, rec->extra.len);
    }
    if (!st) st = hlm_buf_append(b, "}\n", 2);
    if (st) return hlm_errorf(err, st, "%s: out of memory", w->file.path);
    w->docs++;
    w->bytes += b->len - start;
    if (b->len >= WRITER_FLUSH) return flush_lines(w, ZSTD_e_continue, err);
    return HLM_OK;
}

uint64_t hlm_record_writer_docs(const hlm_record_writer *w) { return w->docs; }
uint64_t hlm_record_writer_bytes(const hlm_record_writer *w) { return w->bytes; }

hlm_status hlm_record_writer_commit(hlm_record_writer *w, hlm_error *err)
{
    hlm_status st = flush_lines(w, ZSTD_e_end, err);
    if (st) {
        hlm_record_writer_abort(w);
        return st;
    }
    st = hlm_atomic_commit(&w->file, err);
    ZSTD_freeCCtx(w->zstd);
    hlm_buf_free(&w->line);
    hlm_buf_free(&w->zout);
    free(w);
    return st;
}

void hlm_record_writer_abort(hlm_record_writer *w)
{
    if (!w) return;
    hlm_atomic_abort(&w->file);
    ZSTD_freeCCtx(w->zstd);
    hlm_buf_free(&w->line);
    hlm_buf_free(&w->zout);
    free(w);
}
