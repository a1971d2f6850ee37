/* hyperlm tokenizer encode | decode | stats: the tokenizer on files and pipes.
 *
 * encode prints ids as decimal numbers separated by single spaces, one line per input (or per
 * input line with --lines); decode reads such numbers back. Output is formatted by hand into a
 * large buffer: printf per id would cost more than encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "text/docs.h"
#include "cli/tokenizer.h"
#include "hyperlm/file.h"
#include "hyperlm/thread.h"
#include "hyperlm/tokenizer.h"
#include "text/unicode.h"


static int load_tokenizer(const char *path, const char *pattern_name, hlm_tokenizer **tok)
{
    hlm_error err;
    int pattern = -1;
    if (pattern_name) {
        hlm_pattern p;
        if (hlm_pattern_from_name(pattern_name, &p, &err)) {
            fprintf(stderr, "hyperlm: error: --pattern: %s\n", err.msg);
            return CLI_USAGE;
        }
        pattern = (int)p;
    }
    hlm_status st = hlm_tokenizer_load(path, pattern, tok, &err);
    if (st) {
        /* a broken or missing tokenizer file is a runtime failure, not a usage error */
        if (st == HLM_ERR_INVALID) err.code = HLM_ERR_FORMAT;
        return cli_report(&err);
    }
    return CLI_OK;
}

/* ---- output ---- */

typedef struct out_buf {
    char *data;
    size_t len, cap;
    int failed;
} out_buf;

static void out_flush(out_buf *o)
{
    if (o->len && fwrite(o->data, 1, o->len, stdout) != o->len) o->failed = 1;
    o->len = 0;
}

static void out_bytes(out_buf *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) out_flush(o);
    if (n > o->cap) {
        if (fwrite(p, 1, n, stdout) != n) o->failed = 1;
        return;
    }
    memcpy(o->data + o->len, p, n);
    o->len += n;
}

/* ids separated by single spaces; continued: ids were already written on this line */
static void out_ids_part(out_buf *o, const uint32_t *ids, size_t n, int continued)
{
    for (size_t i = 0; i < n; i++) {
        if (o->len + 12 > o->cap) out_flush(o);
        char tmp[10], *d = o->data + o->len;
        int k = 0;
        uint32_t v = ids[i];
        do {
            tmp[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        if (i || continued) *d++ = ' ';
        while (k) *d++ = tmp[--k];
        o->len = (size_t)(d - o->data);
    }
}

/* ids separated by single spaces, then a newline */
static void out_ids(out_buf *o, const uint32_t *ids, size_t n)
{
    out_ids_part(o, ids, n, 0);
    out_bytes(o, "\n", 1);
}

static int out_init(out_buf *o)
{
    o->cap = 1 << 20;
    o->len = 0;
    o->failed = 0;
    o->data = malloc(o->cap);
    return o->data != NULL;
}

static int out_finish(out_buf *o)
{
    out_flush(o);
    free(o->data);
    if (fflush(stdout) || o->failed) {
        fprintf(stderr, "hyperlm: error: writing to standard output failed\n");
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* ---- encode ---- */

static void encode_usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm tokenizer encode -t TOKENIZER [options] [FILE|-]\n"
            "\n"
            "Encodes FILE (default: standard input; .gz and .zst are decompressed) and prints the token\n"
            "ids as decimal numbers separated by single spaces, followed by a newline. The input is\n"
            "read in chunks cut where tokenization cannot change, so memory stays bounded for any\n"
            "size (--lines, and --allow-special with a special token that has a space or newline,\n"
            "read it whole).\n"
            "\n"
            "  -t, --tokenizer PATH  tokenizer.json or tiktoken rank file (required)\n"
            "  --pattern NAME        pre-tokenizer pattern gpt2, cl100k or o200k (default: from the\n"
            "                        tokenizer file, or from a rank file's name or size)\n"
            "  --lines               encode each input line on its own (without its newline) and print\n"
            "                        one line of ids per input line; an empty line gives an empty line\n"
            "                        (default: the whole input is one text)\n"
            "  --allow-special       special-token text (e.g. <|endoftext|>) becomes its id (default: off,\n"
            "                        it is encoded as ordinary text)\n"
            "  --threads N           threads for --lines (default: 0 = all CPUs, or $HYPERLM_THREADS)\n"
            "  -h, --help            this help\n");
}

/* Lines are encoded in groups of this many, so memory stays bounded for any input. */
#define LINE_GROUP 65536

/* Plain-text chunks (text/docs.h) end only where tokenization cannot change: right after a
 * '\n' or right before a ' '. A special token containing either could straddle a cut when
 * special tokens are matched; such tokenizers read the whole input instead. */
static int specials_may_straddle(const hlm_tokenizer *tok)
{
    for (size_t i = 0; i < hlm_tokenizer_special_count(tok); i++) {
        const char *text;
        uint32_t id;
        hlm_tokenizer_special(tok, i, &text, &id);
        if (strchr(text, '\n') || strchr(text, ' ')) return 1;
    }
    return 0;
}

/* Encodes input chunk by chunk, so memory stays bounded whatever the input size; the ids are
 * those of encoding the whole input at once. Takes ownership of tok. */
static int encode_stream(hlm_tokenizer *tok, const char *input, int allow_special)
{
    hlm_error err;
    hlm_doc_reader_opts opts = {.format = HLM_DOC_TEXT, .chunk_bytes = 4u << 20};
    hlm_doc_reader *r;
    if (hlm_doc_reader_open(&r, input, &opts, &err)) {
        hlm_tokenizer_free(tok);
        return cli_report(&err);
    }
    out_buf o;
    if (!out_init(&o)) {
        hlm_doc_reader_close(r);
        hlm_tokenizer_free(tok);
        fprintf(stderr, "hyperlm: error: out of memory\n");
        return CLI_FAIL;
    }
    hlm_ids ids = {0};
    int any = 0, more = 1;
    hlm_status st = HLM_OK;
    while (!st) {
        const char *text;
        size_t len;
        if ((st = hlm_doc_reader_next(r, &text, &len, &more, &err)) || !more) break;
        ids.len = 0;
        if ((st = hlm_tokenizer_encode(tok, text, len, allow_special, &ids, &err))) break;
        out_ids_part(&o, ids.data, ids.len, any);
        any |= ids.len > 0;
    }
    hlm_ids_free(&ids);
    hlm_doc_reader_close(r);
    hlm_tokenizer_free(tok);
    if (st) {
        free(o.data);
        return cli_report(&err);
    }
    out_bytes(&o, "\n", 1);
    return out_finish(&o);
}

int cli_tokenizer_encode(int argc, char **argv)
{
    const char *tok_path = NULL, *pattern = NULL, *input = NULL;
    int lines = 0, allow_special = 0;
    unsigned long long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            encode_usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-t") || cli_flag_is(a, "--tokenizer")) {
            if (!(tok_path = cli_flag_value("tokenizer encode", argc, argv, &i, a[1] == '-' ? "--tokenizer" : "-t"))) return CLI_USAGE;
        } else if (cli_flag_is(a, "--pattern")) {
            if (!(pattern = cli_flag_value("tokenizer encode", argc, argv, &i, "--pattern"))) return CLI_USAGE;
        } else if (!strcmp(a, "--lines")) {
            lines = 1;
        } else if (!strcmp(a, "--allow-special")) {
            allow_special = 1;
        } else if (cli_flag_is(a, "--threads")) {
            const char *v = cli_flag_value("tokenizer encode", argc, argv, &i, "--threads");
            if (!v || !cli_parse_u64("--threads", v, 4096, &threads)) return CLI_USAGE;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("tokenizer encode", "unknown flag '%s'", a);
        } else if (input) {
            return cli_usage_error("tokenizer encode", "more than one input file ('%s')", a);
        } else {
            input = a;
        }
    }
    if (!tok_path) return cli_usage_error("tokenizer encode", "%s is required", "-t/--tokenizer");
    if (!input) input = "-";

    hlm_tokenizer *tok;
    int rc = load_tokenizer(tok_path, pattern, &tok);
    if (rc) return rc;
    if (!lines && !(allow_special && specials_may_straddle(tok))) return encode_stream(tok, input, allow_special);
    hlm_error err;
    hlm_buf text = {0};
    out_buf o;
    if (hlm_file_read_all(input, &text, &err)) {
        hlm_tokenizer_free(tok);
        hlm_buf_free(&text);
        return cli_report(&err);
    }
    if (!out_init(&o)) {
        hlm_tokenizer_free(tok);
        hlm_buf_free(&text);
        fprintf(stderr, "hyperlm: error: out of memory\n");
        return CLI_FAIL;
    }
    hlm_status st = HLM_OK;
    if (!lines) {
        hlm_ids ids = {0};
        st = hlm_tokenizer_encode(tok, text.data, text.len, allow_special, &ids, &err);
        if (!st) out_ids(&o, ids.data, ids.len);
        hlm_ids_free(&ids);
    } else {
        const char **ptrs = malloc(LINE_GROUP * sizeof *ptrs);
        size_t *lens = malloc(LINE_GROUP * sizeof *lens);
        hlm_ids *outs = calloc(LINE_GROUP, sizeof *outs);
        if (!ptrs || !lens || !outs) st = hlm_errorf(&err, HLM_ERR_NOMEM, "encode: out of memory");
        size_t pos = 0;
        while (!st && pos < text.len) {
            size_t n = 0;
            while (n < LINE_GROUP && pos < text.len) {
                const uint8_t *nl = memchr(text.data + pos, '\n', text.len - pos);
                size_t end = nl ? (size_t)(nl - text.data) : text.len;
                ptrs[n] = (const char *)text.data + pos;
                lens[n] = end - pos;
                outs[n].len = 0;
                n++;
                pos = nl ? end + 1 : text.len;
            }
            st = hlm_tokenizer_encode_batch(tok, ptrs, lens, n, allow_special, (int)threads, outs, &err);
            for (size_t i = 0; !st && i < n; i++) out_ids(&o, outs[i].data, outs[i].len);
        }
        for (size_t i = 0; outs && i < LINE_GROUP; i++) hlm_ids_free(&outs[i]);
        free(ptrs);
        free(lens);
        free(outs);
    }
    hlm_buf_free(&text);
    hlm_tokenizer_free(tok);
    if (st) {
        free(o.data);
        return cli_report(&err);
    }
    return out_finish(&o);
}

/* ---- decode ---- */

static void decode_usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm tokenizer decode -t TOKENIZER [options] [FILE|-]\n"
            "\n"
            "Reads token ids (decimal numbers separated by whitespace) from FILE (default: standard\n"
            "input) and writes the bytes they stand for to standard output.\n"
            "\n"
            "  -t, --tokenizer PATH  tokenizer.json or tiktoken rank file (required)\n"
            "  --pattern NAME        as for encode (only needed to load a rank file with an unknown name)\n"
            "  --lines               each input line of ids is decoded to one output line (the inverse of\n"
            "                        encode --lines) (default: all ids form one text, no newline added)\n"
            "  -h, --help            this help\n");
}

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int cli_tokenizer_decode(int argc, char **argv)
{
    const char *tok_path = NULL, *pattern = NULL, *input = NULL;
    int lines = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            decode_usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-t") || cli_flag_is(a, "--tokenizer")) {
            if (!(tok_path = cli_flag_value("tokenizer decode", argc, argv, &i, a[1] == '-' ? "--tokenizer" : "-t"))) return CLI_USAGE;
        } else if (cli_flag_is(a, "--pattern")) {
            if (!(pattern = cli_flag_value("tokenizer decode", argc, argv, &i, "--pattern"))) return CLI_USAGE;
        } else if (!strcmp(a, "--lines")) {
            lines = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("tokenizer decode", "unknown flag '%s'", a);
        } else if (input) {
            return cli_usage_error("tokenizer decode", "more than one input file ('%s')", a);
        } else {
            input = a;
        }
    }
    if (!tok_path) return cli_usage_error("tokenizer decode", "%s is required", "-t/--tokenizer");
    if (!input) input = "-";
    hlm_tokenizer *tok;
    int rc = load_tokenizer(tok_path, pattern, &tok);
    if (rc) return rc;
    hlm_error err;
    hlm_buf text = {0}, bytes = {0};
    hlm_ids ids = {0};
    out_buf o = {0};
    hlm_status st = hlm_file_read_all(input, &text, &err);
    if (!st && !out_init(&o)) st = hlm_errorf(&err, HLM_ERR_NOMEM, "decode: out of memory");
    size_t pos = 0, index = 0, line = 1;
    while (!st && pos < text.len) {
        /* one line (--lines) or everything */
        const uint8_t *nl = lines ? memchr(text.data + pos, '\n', text.len - pos) : NULL;
        size_t end = nl ? (size_t)(nl - text.data) : text.len;
        ids.len = 0;
        size_t first_line = line;
        for (size_t i = pos; !st && i < end;) {
            if (is_space(text.data[i])) {
                line += text.data[i] == '\n';
                i++;
                continue;
            }
            uint64_t v = 0;
            size_t j = i;
            while (j < end && text.data[j] >= '0' && text.data[j] <= '9' && v <= UINT32_MAX) v = v * 10 + (text.data[j++] - '0');
            if (j == i || v > UINT32_MAX || (j < end && !is_space(text.data[j]))) {
                size_t k = i;
                while (k < end && !is_space(text.data[k]) && k - i < 24) k++;
                st = hlm_errorf(&err, HLM_ERR_FORMAT, "%s: line %zu, id %zu (0-based): expected a decimal token id, got '%.*s'",
                                input, line, index, (int)(k - i), (const char *)text.data + i);
                break;
            }
            if (hlm_ids_push(&ids, (uint32_t)v)) st = hlm_errorf(&err, HLM_ERR_NOMEM, "decode: out of memory");
            index++;
            i = j;
        }
        if (!st) {
            bytes.len = 0;
            st = hlm_tokenizer_decode(tok, ids.data, ids.len, &bytes, &err);
            if (st && lines) hlm_error_prefix(&err, "%s: line %zu: ", input, first_line);
            else if (st) hlm_error_prefix(&err, "%s: ", input);
        }
        if (!st) {
            out_bytes(&o, bytes.data, bytes.len);
            if (lines) out_bytes(&o, "\n", 1);
        }
        pos = nl ? end + 1 : text.len;
        line++;
    }
    hlm_buf_free(&text);
    hlm_buf_free(&bytes);
    hlm_ids_free(&ids);
    hlm_tokenizer_free(tok);
    if (st) {
        free(o.data);
        return cli_report(&err);
    }
    return out_finish(&o);
}

/* ---- stats ---- */

static void stats_usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm tokenizer stats -t TOKENIZER [-t TOKENIZER...] [options] FILE...\n"
            "\n"
            "Encodes the files (each one text; .gz and .zst are decompressed) with each tokenizer and\n"
            "prints one row per tokenizer:\n"
            "  vocab          number of ids (largest id + 1)\n"
            "  bytes, chars   input size in bytes and in characters (an invalid UTF-8 byte counts as one)\n"
            "  tokens         ids produced (special-token text is encoded as ordinary text)\n"
            "  bytes/tok      bytes per token; tok/char: tokens per character\n"
            "  tok/syl        tokens per Hangul syllable: every maximal run of Hangul syllables\n"
            "                 (U+AC00..U+D7A3) is encoded on its own, and the tokens of all runs are\n"
            "                 divided by the number of syllables ('-' when the text has none)\n"
            "  hangul vocab   share of the tokens whose bytes contain a whole Hangul syllable or jamo\n"
            "\n"
            "  -t, --tokenizer PATH  a tokenizer.json or tiktoken rank file; repeat for more rows\n"
            "  --name NAME           a name for the row of the tokenizer in the same position (repeatable;\n"
            "                        default: the file name)\n"
            "  --pattern NAME        pattern for rank files with an unknown name (default: from the file)\n"
            "  --threads N           threads (default: 0 = all CPUs, or $HYPERLM_THREADS)\n"
            "  -h, --help            this help\n");
}

typedef struct stats_row {
    const char *name;
    uint32_t vocab;
    uint64_t bytes, chars, tokens, syllables, syllable_tokens;
    double hangul_vocab;
} stats_row;

static int is_syllable(uint32_t cp) { return cp >= 0xAC00 && cp <= 0xD7A3; }

/* Share of the tokens that contain a whole Hangul syllable or jamo. */
static double hangul_vocab_share(const hlm_tokenizer *tok)
{
    uint64_t n = 0, hangul = 0;
    for (uint32_t id = 0; id < hlm_tokenizer_vocab_size(tok); id++) {
        const uint8_t *b;
        size_t len;
        if (hlm_tokenizer_token_bytes(tok, id, &b, &len, NULL)) continue;
        n++;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            i += hlm_utf8_decode(b + i, len - i, &cp);
            if (cp != HLM_CP_INVALID && (hlm_unicode_class(cp) & HLM_CC_HANGUL)) {
                hangul++;
                break;
            }
        }
    }
    return n ? (double)hangul / (double)n : 0;
}

/* Encodes the Hangul runs of text one by one (in parallel groups) and adds up their tokens. */
static hlm_status hangul_runs(const hlm_tokenizer *tok, const uint8_t *s, size_t len, int threads, stats_row *row,
                              hlm_error *err)
{
    const char **ptrs = malloc(LINE_GROUP * sizeof *ptrs);
    size_t *lens = malloc(LINE_GROUP * sizeof *lens);
    hlm_ids *outs = calloc(LINE_GROUP, sizeof *outs);
    hlm_status st = HLM_OK;
    if (!ptrs || !lens || !outs) st = hlm_errorf(err, HLM_ERR_NOMEM, "stats: out of memory");
    size_t pos = 0, n = 0;
    while (!st) {
        int done = pos >= len;
        if (!done) {
            uint32_t cp;
            size_t k = hlm_utf8_decode(s + pos, len - pos, &cp);
            if (is_syllable(cp)) {
                size_t start = pos;
                while (pos < len && (k = hlm_utf8_decode(s + pos, len - pos, &cp)) && is_syllable(cp)) {
                    pos += k;
                    row->syllables++;
                }
                ptrs[n] = (const char *)s + start;
                lens[n] = pos - start;
                outs[n].len = 0;
                n++;
            } else {
                pos += k;
            }
        }
        if (n == LINE_GROUP || (done && n)) {
            st = hlm_tokenizer_encode_batch(tok, ptrs, lens, n, 0, threads, outs, err);
            for (size_t i = 0; i < n; i++) row->syllable_tokens += outs[i].len;
            n = 0;
        }
        if (done) break;
    }
    for (size_t i = 0; outs && i < LINE_GROUP; i++) hlm_ids_free(&outs[i]);
    free(ptrs);
    free(lens);
    free(outs);
    return st;
}

#define MAX_TOKENIZERS 64

int cli_tokenizer_stats(int argc, char **argv)
{
    const char *toks[MAX_TOKENIZERS], *names[MAX_TOKENIZERS], *pattern = NULL;
    size_t n_toks = 0, n_names = 0, n_files = 0;
    unsigned long long threads = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    if (!files) return CLI_FAIL;
    int rc = CLI_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            stats_usage(stdout);
            free(files);
            return CLI_OK;
        } else if (!strcmp(a, "-t") || cli_flag_is(a, "--tokenizer")) {
            if (!(v = cli_flag_value("tokenizer stats", argc, argv, &i, a[1] == '-' ? "--tokenizer" : "-t"))) goto usage;
            if (n_toks == MAX_TOKENIZERS) {
                rc = cli_usage_error("tokenizer stats", "%s: at most 64 tokenizers", "-t");
                goto done;
            }
            toks[n_toks++] = v;
        } else if (cli_flag_is(a, "--name")) {
            if (!(v = cli_flag_value("tokenizer stats", argc, argv, &i, "--name"))) goto usage;
            if (n_names == MAX_TOKENIZERS) {
                rc = cli_usage_error("tokenizer stats", "%s: at most 64 names", "--name");
                goto done;
            }
            names[n_names++] = v;
        } else if (cli_flag_is(a, "--pattern")) {
            if (!(pattern = cli_flag_value("tokenizer stats", argc, argv, &i, "--pattern"))) goto usage;
        } else if (cli_flag_is(a, "--threads")) {
            if (!(v = cli_flag_value("tokenizer stats", argc, argv, &i, "--threads")) || !cli_parse_u64("--threads", v, 4096, &threads))
                goto usage;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("tokenizer stats", "unknown flag '%s'", a);
            goto done;
        } else {
            files[n_files++] = a;
        }
    }
    if (!n_toks) {
        rc = cli_usage_error("tokenizer stats", "%s is required", "-t/--tokenizer");
        goto done;
    }
    if (!n_files) {
        rc = cli_usage_error("tokenizer stats", "%s", "expected one or more input files");
        goto done;
    }
    if (n_names > n_toks) {
        rc = cli_usage_error("tokenizer stats", "%s: more names than tokenizers", "--name");
        goto done;
    }

    hlm_error err;
    hlm_buf *texts = calloc(n_files, sizeof *texts);
    stats_row *rows = calloc(n_toks, sizeof *rows);
    hlm_ids ids = {0};
    if (!texts || !rows) {
        free(texts);
        free(rows);
        rc = CLI_FAIL;
        goto done;
    }
    uint64_t total_bytes = 0, total_chars = 0;
    for (size_t f = 0; f < n_files && !rc; f++) {
        if (hlm_file_read_all(files[f], &texts[f], &err)) {
            rc = cli_report(&err);
            break;
        }
        total_bytes += texts[f].len;
        for (size_t i = 0; i < texts[f].len;) {
            uint32_t cp;
            i += hlm_utf8_decode(texts[f].data + i, texts[f].len - i, &cp);
            total_chars++;
        }
    }
    for (size_t k = 0; k < n_toks && !rc; k++) {
        hlm_tokenizer *tok;
        if ((rc = load_tokenizer(toks[k], pattern, &tok))) break;
        stats_row *r = &rows[k];
        const char *base = strrchr(toks[k], '/');
        r->name = k < n_names ? names[k] : base ? base + 1 : toks[k];
        r->vocab = hlm_tokenizer_vocab_size(tok);
        r->bytes = total_bytes;
        r->chars = total_chars;
        r->hangul_vocab = hangul_vocab_share(tok);
        for (size_t f = 0; f < n_files && !rc; f++) {
            ids.len = 0;
            if (hlm_tokenizer_encode(tok, texts[f].data, texts[f].len, 0, &ids, &err) ||
                hangul_runs(tok, texts[f].data, texts[f].len, (int)threads, r, &err))
                rc = cli_report(&err);
            r->tokens += ids.len;
        }
        hlm_tokenizer_free(tok);
    }
    if (!rc) {
        int w = 9;
        for (size_t k = 0; k < n_toks; k++)
            if ((int)strlen(rows[k].name) > w) w = (int)strlen(rows[k].name);
        printf("%-*s %9s %12s %12s %12s %9s %8s %8s %12s\n", w, "tokenizer", "vocab", "bytes", "chars", "tokens",
               "bytes/tok", "tok/char", "tok/syl", "hangul vocab");
        for (size_t k = 0; k < n_toks; k++) {
            const stats_row *r = &rows[k];
            char syl[32];
            if (r->syllables)
                snprintf(syl, sizeof syl, "%.3f", (double)r->syllable_tokens / (double)r->syllables);
            else
                snprintf(syl, sizeof syl, "-");
            printf("%-*s %9u %12llu %12llu %12llu %9.3f %8.3f %8s %11.2f%%\n", w, r->name, r->vocab,
                   (unsigned long long)r->bytes, (unsigned long long)r->chars, (unsigned long long)r->tokens,
                   r->tokens ? (double)r->bytes / (double)r->tokens : 0.0,
                   r->chars ? (double)r->tokens / (double)r->chars : 0.0, syl, 100.0 * r->hangul_vocab);
        }
        if (fflush(stdout)) rc = CLI_FAIL;
    }
    for (size_t f = 0; f < n_files; f++) hlm_buf_free(&texts[f]);
    free(texts);
    free(rows);
    hlm_ids_free(&ids);
done:
    free(files);
    return rc;
usage:
    free(files);
    return CLI_USAGE;
}
