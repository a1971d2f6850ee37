/* hyperlm data COMMAND: token shards for training (src/data/); the pipeline commands that make
 * the documents (prepare, extract, clean, dedup) are in data_prepare.c.
 *
 *   tokenize  text, JSONL or TSV -> train-NNNNN.tok and val-NNNNN.tok shards
 *   inspect   a shard's header, checksum, statistics and first documents */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli/cli.h"
#include "data/loader.h"
#include "data/shard.h"
#include "hyperlm/log.h"
#include "hyperlm/progress.h"
#include "hyperlm/tokenizer.h"
#include "text/docs.h"

static int cli_data_inspect(int argc, char **argv);

static const cli_command data_commands[] = {
    {"prepare", cli_data_prepare, "the whole pipeline: extract, clean, filter, scrub PII, dedup, tokenize; report"},
    {"extract", cli_data_extract, "documents out of text, JSONL, TSV, HTML and WARC/WET files, as JSONL"},
    {"clean", cli_data_clean, "normalize, identify languages, apply quality filters, replace PII"},
    {"dedup", cli_data_dedup, "remove exact duplicates, boilerplate lines and near-duplicates (MinHash LSH)"},
    {"tokenize", cli_data_tokenize, "tokenize text, JSONL or TSV into train/validation token shards"},
    {"inspect", cli_data_inspect, "print a shard's header, verify its checksum, show statistics and documents"},
};

int cli_data(int argc, char **argv)
{
    static const char note[] =
        "\nToken shards (*" HLM_SHARD_EXT ") are described in docs/data-format.md.\n"
        "`hyperlm data COMMAND --help` lists a command's flags and their defaults.\n";
    return cli_dispatch("data", data_commands, sizeof data_commands / sizeof *data_commands, note, argc, argv);
}


static int load_tokenizer(const char *path, hlm_tokenizer **tok)
{
    hlm_error err;
    hlm_status st = hlm_tokenizer_load(path, -1, tok, &err);
    if (st) {
        /* a broken or missing tokenizer file is a runtime failure, not a usage error */
        if (st == HLM_ERR_INVALID) err.code = HLM_ERR_FORMAT;
        return cli_report(&err);
    }
    return CLI_OK;
}

/* ---- tokenize ---- */

static void tokenize_usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm data tokenize -t TOKENIZER -o DIR [options] [--input] FILE...\n"
            "\n"
            "Tokenizes documents and writes token shards DIR/train-00000%s, DIR/train-00001%s, ... and\n"
            "DIR/val-00000%s, ... Each JSONL record (field 'text') or TSV row is one document; a plain\n"
            "text file is one document. Inputs may be .gz or .zst compressed. Every document is\n"
            "followed by the tokenizer's special token <|endoftext|>, which it must have. Special-token\n"
            "text inside documents is encoded as ordinary text. A document goes to validation when\n"
            "XXH64(its 0-based index over all inputs as 8 little-endian bytes, seed 0x76616c) / 2^64\n"
            "is below --val-fraction, so the split depends only on the order of the documents. A shard\n"
            "is closed after the document that brings it to --shard-tokens or more; documents are\n"
            "never split across shards. The result is the same whatever --threads.\n"
            "\n"
            "  -t, --tokenizer PATH  tokenizer.json or tiktoken rank file (required)\n"
            "  -i, --input FILE      an input file; may repeat, and further FILE arguments are inputs too\n"
            "  -o, --output DIR      output folder, created if missing (required)\n"
            "  --val-fraction F      share of documents for validation, 0..1 (default: 0.01)\n"
            "  --shard-tokens N      tokens per shard (default: 100000000)\n"
            "  --threads N           encoding threads (default: 0 = all CPUs, or $HYPERLM_THREADS)\n"
            "  --text-field NAME     JSONL field that holds the text (default: text)\n"
            "  --tsv-column N        TSV column: a header name or a 0-based index (default: the 'text'\n"
            "                        column, else the last)\n"
            "  --overwrite           replace shards already in DIR (default: refuse; old train-/val-\n"
            "                        shards beyond the new ones are removed)\n"
            "  -h, --help            this help\n",
            HLM_SHARD_EXT, HLM_SHARD_EXT, HLM_SHARD_EXT);
}

#define VAL_SEED 0x76616cull /* "val" */
#define GROUP_PIECES 4096
#define GROUP_BYTES (16u << 20)

enum { SPLIT_TRAIN, SPLIT_VAL, N_SPLITS };
static const char *const split_names[N_SPLITS] = {"train", "val"};

typedef struct split_out {
    hlm_shard_writer *w;
    unsigned n_shards;
    uint64_t n_docs, n_tokens;
} split_out;

typedef struct tokenize_run {
    const char *dir;
    const hlm_tokenizer *tok;
    uint32_t vocab_size, eot_id;
    uint64_t shard_tokens;
    double val_fraction;
    int threads;
    split_out out[N_SPLITS];
    /* the group of pieces being gathered: documents, or plain text chunks of one document */
    hlm_buf text;
    size_t n, *offs, *lens;
    unsigned char *split, *ends_doc;
    const char **ptrs;
    hlm_ids *ids;
    uint64_t n_docs;
} tokenize_run;

static void shard_path(char *out, size_t cap, const char *dir, const char *split, unsigned k)
{
    snprintf(out, cap, "%s/%s-%05u%s", dir, split, k, HLM_SHARD_EXT);
}

static int is_val(const tokenize_run *t, uint64_t doc)
{
    if (t->val_fraction <= 0) return 0;
    if (t->val_fraction >= 1) return 1;
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(doc >> (8 * i));
    return (double)(XXH64(le, 8, VAL_SEED) >> 11) * 0x1p-53 < t->val_fraction;
}

static hlm_status split_append(tokenize_run *t, int s, const uint32_t *ids, size_t n, int end_doc, hlm_error *err)
{
    split_out *o = &t->out[s];
    hlm_status st;
    if (!o->w) {
        char path[4096];
        shard_path(path, sizeof path, t->dir, split_names[s], o->n_shards);
        if ((st = hlm_shard_writer_open(path, 0, t->vocab_size, t->eot_id, &o->w, err))) return st;
    }
    if ((st = hlm_shard_writer_append(o->w, ids, n, err))) return st;
    o->n_tokens += n;
    if (!end_doc) return HLM_OK;
    if ((st = hlm_shard_writer_end_doc(o->w, err))) return st;
    o->n_tokens++;
    o->n_docs++;
    if (hlm_shard_writer_n_tokens(o->w) >= t->shard_tokens) {
        st = hlm_shard_writer_commit(o->w, err);
        o->w = NULL;
        o->n_shards++;
    }
    return st;
}

/* Encodes the gathered pieces (in parallel) and writes them in order. */
static hlm_status flush_group(tokenize_run *t, hlm_error *err)
{
    if (!t->n) return HLM_OK;
    for (size_t i = 0; i < t->n; i++) {
        t->ptrs[i] = t->text.data ? (const char *)t->text.data + t->offs[i] : "";
        t->ids[i].len = 0;
    }
    hlm_status st = hlm_tokenizer_encode_batch(t->tok, t->ptrs, t->lens, t->n, 0, t->threads, t->ids, err);
    for (size_t i = 0; !st && i < t->n; i++)
        st = split_append(t, t->split[i], t->ids[i].data, t->ids[i].len, t->ends_doc[i], err);
    t->n = 0;
    t->text.len = 0;
    return st;
}

static hlm_status add_piece(tokenize_run *t, const char *text, size_t len, int split, int ends_doc, hlm_error *err)
{
    t->offs[t->n] = t->text.len;
    t->lens[t->n] = len;
    t->split[t->n] = (unsigned char)split;
    t->ends_doc[t->n] = (unsigned char)ends_doc;
    if (len && hlm_buf_append(&t->text, text, len)) return hlm_errorf(err, HLM_ERR_NOMEM, "tokenize: out of memory");
    t->n++;
    if (t->n == GROUP_PIECES || t->text.len >= GROUP_BYTES) return flush_group(t, err);
    return HLM_OK;
}

static hlm_status tokenize_file(tokenize_run *t, const char *path, const hlm_doc_reader_opts *ro, hlm_progress *pg,
                                uint64_t *done, hlm_error *err)
{
    hlm_doc_reader_opts o = *ro;
    o.format = hlm_data_doc_format(path, o.format);
    hlm_doc_reader *r;
    hlm_status st = hlm_doc_reader_open(&r, path, &o, err);
    if (st) return st;
    int text_doc = o.format == HLM_DOC_TEXT, split = 0, any = 0;
    if (text_doc) split = is_val(t, t->n_docs);
    for (uint64_t k = 0;; k++) {
        const char *text;
        size_t len;
        int more;
        if ((st = hlm_doc_reader_next(r, &text, &len, &more, err)) || !more) break;
        if (!text_doc) split = is_val(t, t->n_docs++);
        if ((st = add_piece(t, text, len, split, !text_doc, err))) break;
        any = 1;
        if (k % 256 == 0) hlm_progress_update(pg, *done + hlm_doc_reader_bytes_read(r));
    }
    if (!st && text_doc && any) {
        /* the whole file was one document: its end is known only now */
        t->n_docs++;
        if (!(st = flush_group(t, err))) st = split_append(t, split, NULL, 0, 1, err);
    }
    *done += hlm_doc_reader_bytes_read(r);
    hlm_progress_update(pg, *done);
    hlm_doc_reader_close(r);
    return st;
}

/* mkdir -p */
/* Removes DIR/SPLIT-NNNNN shards numbered from first on (old output beyond the new one). */
static void remove_shards_from(const char *dir, const char *split, unsigned first)
{
    char path[4096];
    for (unsigned k = first;; k++) {
        shard_path(path, sizeof path, dir, split, k);
        if (unlink(path) != 0) break;
        HLM_INFO("removed the old shard %s", path);
    }
}

int cli_data_tokenize(int argc, char **argv)
{
    const char *tok_path = NULL, *dir = NULL, *field = NULL, *column = NULL;
    double val_fraction = 0.01;
    unsigned long long shard_tokens = 100000000, threads = 0;
    int overwrite = 0;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    size_t n_inputs = 0;
    if (!inputs) return CLI_FAIL;
    int rc = CLI_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_usage(stdout);
            free(inputs);
            return CLI_OK;
        } else if (!strcmp(a, "-t") || cli_flag_is(a, "--tokenizer")) {
            if (!(tok_path = cli_flag_value("data tokenize", argc, argv, &i, a[1] == '-' ? "--tokenizer" : "-t"))) goto out;
        } else if (!strcmp(a, "-i") || cli_flag_is(a, "--input")) {
            if (!(v = cli_flag_value("data tokenize", argc, argv, &i, a[1] == '-' ? "--input" : "-i"))) goto out;
            inputs[n_inputs++] = v;
        } else if (!strcmp(a, "-o") || cli_flag_is(a, "--output")) {
            if (!(dir = cli_flag_value("data tokenize", argc, argv, &i, a[1] == '-' ? "--output" : "-o"))) goto out;
        } else if (cli_flag_is(a, "--val-fraction")) {
            if (!(v = cli_flag_value("data tokenize", argc, argv, &i, "--val-fraction"))) goto out;
            char *end;
            errno = 0;
            val_fraction = strtod(v, &end);
            if (!*v || *end || errno || !(val_fraction >= 0 && val_fraction <= 1)) {
                rc = cli_usage_error("data tokenize", "--val-fraction: expected a number in 0..1, got '%s'", v);
                goto out;
            }
        } else if (cli_flag_is(a, "--shard-tokens")) {
            if (!(v = cli_flag_value("data tokenize", argc, argv, &i, "--shard-tokens")) ||
                !cli_parse_u64("--shard-tokens", v, UINT64_MAX, &shard_tokens))
                goto out;
            if (!shard_tokens) {
                rc = cli_usage_error("data tokenize", "%s: expected at least 1", "--shard-tokens");
                goto out;
            }
        } else if (cli_flag_is(a, "--threads")) {
            if (!(v = cli_flag_value("data tokenize", argc, argv, &i, "--threads")) ||
                !cli_parse_u64("--threads", v, 4096, &threads))
                goto out;
        } else if (cli_flag_is(a, "--text-field")) {
            if (!(field = cli_flag_value("data tokenize", argc, argv, &i, "--text-field"))) goto out;
        } else if (cli_flag_is(a, "--tsv-column")) {
            if (!(column = cli_flag_value("data tokenize", argc, argv, &i, "--tsv-column"))) goto out;
        } else if (!strcmp(a, "--overwrite")) {
            overwrite = 1;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("data tokenize", "unknown flag '%s'", a);
            goto out;
        } else {
            inputs[n_inputs++] = a;
        }
    }
    if (!tok_path) {
        rc = cli_usage_error("data tokenize", "%s is required", "-t/--tokenizer");
        goto out;
    }
    if (!dir) {
        rc = cli_usage_error("data tokenize", "%s is required", "-o/--output");
        goto out;
    }
    if (!n_inputs) {
        rc = cli_usage_error("data tokenize", "%s", "expected one or more input files (--input FILE)");
        goto out;
    }

    hlm_error err = {0};
    uint64_t total_bytes = 0;
    for (size_t i = 0; i < n_inputs; i++) {
        struct stat sb;
        if (strcmp(inputs[i], "-") != 0) {
            if (stat(inputs[i], &sb) != 0) {
                hlm_errorf(&err, HLM_ERR_IO, "%s: cannot open: %s", inputs[i], strerror(errno));
                rc = cli_report(&err);
                goto out;
            }
            total_bytes += (uint64_t)sb.st_size;
        }
    }
    hlm_tokenizer *tok;
    if ((rc = load_tokenizer(tok_path, &tok))) goto out;
    tokenize_run t = {.dir = dir, .tok = tok, .vocab_size = hlm_tokenizer_vocab_size(tok),
                      .shard_tokens = shard_tokens, .val_fraction = val_fraction, .threads = (int)threads};
    if (hlm_data_find_eot(tok, &t.eot_id, &err)) {
        hlm_error_prefix(&err, "%s: ", tok_path);
        err.code = HLM_ERR_FORMAT;
        rc = cli_report(&err);
        hlm_tokenizer_free(tok);
        goto out;
    }
    if (cli_make_dirs(dir, &err)) {
        rc = cli_report(&err);
        hlm_tokenizer_free(tok);
        goto out;
    }
    char first[4096];
    for (int s = 0; s < N_SPLITS && !overwrite; s++) {
        shard_path(first, sizeof first, dir, split_names[s], 0);
        if (access(first, F_OK) == 0) {
            hlm_errorf(&err, HLM_ERR_IO, "%s already exists: remove the old shards or pass --overwrite", first);
            rc = cli_report(&err);
            hlm_tokenizer_free(tok);
            goto out;
        }
    }

    double t0 = hlm_now_s();
    t.offs = malloc(GROUP_PIECES * sizeof *t.offs);
    t.lens = malloc(GROUP_PIECES * sizeof *t.lens);
    t.split = malloc(GROUP_PIECES);
    t.ends_doc = malloc(GROUP_PIECES);
    t.ptrs = malloc(GROUP_PIECES * sizeof *t.ptrs);
    t.ids = calloc(GROUP_PIECES, sizeof *t.ids);
    hlm_status st = HLM_OK;
    if (!t.offs || !t.lens || !t.split || !t.ends_doc || !t.ptrs || !t.ids)
        st = hlm_errorf(&err, HLM_ERR_NOMEM, "tokenize: out of memory");
    hlm_doc_reader_opts ro = {.jsonl_field = field, .tsv_column = column};
    hlm_progress pg;
    hlm_progress_start(&pg, "tokenizing", total_bytes, "B");
    uint64_t done = 0;
    for (size_t i = 0; !st && i < n_inputs; i++) st = tokenize_file(&t, inputs[i], &ro, &pg, &done, &err);
    if (!st) st = flush_group(&t, &err);
    for (int s = 0; s < N_SPLITS && !st; s++) {
        if (!t.out[s].w) continue;
        st = hlm_shard_writer_commit(t.out[s].w, &err);
        t.out[s].w = NULL;
        t.out[s].n_shards++;
    }
    hlm_progress_finish(&pg);
    for (int s = 0; s < N_SPLITS; s++) {
        hlm_shard_writer_abort(t.out[s].w);
        if (st) remove_shards_from(dir, split_names[s], 0); /* leave no partial output */
        else if (overwrite) remove_shards_from(dir, split_names[s], t.out[s].n_shards);
    }
    double el = hlm_now_s() - t0;
    if (st) {
        rc = cli_report(&err);
    } else {
        uint64_t docs = t.out[0].n_docs + t.out[1].n_docs, toks = t.out[0].n_tokens + t.out[1].n_tokens;
        for (int s = 0; s < N_SPLITS; s++)
            printf("%-5s %llu documents, %llu tokens, %u shard%s\n", split_names[s],
                   (unsigned long long)t.out[s].n_docs, (unsigned long long)t.out[s].n_tokens, t.out[s].n_shards,
                   t.out[s].n_shards == 1 ? "" : "s");
        printf("total %llu documents, %llu tokens in %.2f s (%.0f tokens/s), written to %s\n",
               (unsigned long long)docs, (unsigned long long)toks, el, el > 0 ? (double)toks / el : 0.0, dir);
        if (val_fraction > 0 && !t.out[SPLIT_VAL].n_docs)
            HLM_WARN("no document fell into validation (--val-fraction %g of %llu documents)", val_fraction,
                     (unsigned long long)docs);
        rc = fflush(stdout) ? CLI_FAIL : CLI_OK;
    }
    for (size_t i = 0; t.ids && i < GROUP_PIECES; i++) hlm_ids_free(&t.ids[i]);
    free(t.ids);
    free(t.ptrs);
    free(t.offs);
    free(t.lens);
    free(t.split);
    free(t.ends_doc);
    hlm_buf_free(&t.text);
    hlm_tokenizer_free(tok);
out:
    free(inputs);
    return rc;
}

/* ---- inspect ---- */

static void inspect_usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm data inspect [options] SHARD...\n"
            "\n"
            "Prints each shard's header, verifies its checksum and token range (exit 1 naming the\n"
            "field on a mismatch), then token statistics: tokens, documents (the header's n_docs and\n"
            "the EOT tokens counted), mean document length in tokens, distinct token ids used. The\n"
            "first --samples documents are printed as text (with --tokenizer, at most 200 characters\n"
            "each, control characters escaped) or else as their first 16 ids.\n"
            "\n"
            "  -t, --tokenizer PATH  tokenizer to decode the sample documents with (default: none)\n"
            "  --samples N           documents to show (default: 3)\n"
            "  -h, --help            this help\n");
}

#define SAMPLE_CHARS 200
#define SAMPLE_IDS 16

/* Document text for a terminal: at most SAMPLE_CHARS characters, control characters escaped. */
static void print_sample(const uint8_t *s, size_t len)
{
    size_t chars = 0, i = 0;
    putchar('"');
    while (i < len && chars < SAMPLE_CHARS) {
        uint8_t c = s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
        i++;
        while (i < len && (s[i] & 0xC0) == 0x80) putchar(s[i++]); /* the rest of a UTF-8 character */
        chars++;
    }
    putchar('"');
    if (i < len) printf("...");
    putchar('\n');
}

static int inspect_one(const char *path, const hlm_tokenizer *tok, uint64_t samples)
{
    hlm_error err;
    hlm_shard *s;
    if (hlm_shard_open(path, 0, &s, &err)) return cli_report(&err);
    uint64_t n = hlm_shard_n_tokens(s), docs = hlm_shard_n_docs(s);
    uint32_t vocab = hlm_shard_vocab_size(s), eot = hlm_shard_eot_id(s);
    printf("%s\n", path);
    printf("  version      %u\n", hlm_shard_version(s));
    printf("  token_bytes  %u\n", hlm_shard_token_bytes(s));
    printf("  n_tokens     %llu\n", (unsigned long long)n);
    printf("  n_docs       %llu\n", (unsigned long long)docs);
    printf("  vocab_size   %u\n", vocab);
    printf("  eot_id       %u\n", eot);
    printf("  checksum     %016llx\n", (unsigned long long)hlm_shard_checksum(s));
    fflush(stdout);
    if (hlm_shard_verify(s, &err)) {
        hlm_shard_close(s);
        return cli_report(&err);
    }
    printf("  verified     checksum and token range ok\n");
    uint8_t *seen = calloc((vocab + 7) / 8, 1);
    if (!seen) {
        hlm_shard_close(s);
        fprintf(stderr, "hyperlm: error: out of memory\n");
        return CLI_FAIL;
    }
    uint64_t eots = 0, distinct = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = hlm_shard_token(s, i);
        eots += v == eot;
        if (!(seen[v >> 3] & (1u << (v & 7)))) {
            seen[v >> 3] |= (uint8_t)(1u << (v & 7));
            distinct++;
        }
    }
    free(seen);
    printf("  eot tokens   %llu\n", (unsigned long long)eots);
    if (docs)
        printf("  mean doc     %.1f tokens (EOT included)\n", (double)n / (double)docs);
    else
        printf("  mean doc     - (no documents)\n");
    printf("  distinct     %llu of %u ids used\n", (unsigned long long)distinct, vocab);

    int rc = CLI_OK;
    if (tok && samples && hlm_tokenizer_vocab_size(tok) != vocab)
        HLM_WARN("%s: vocab_size %u, but the tokenizer has %u ids: the samples may not decode as written", path,
                 vocab, hlm_tokenizer_vocab_size(tok));
    hlm_buf text = {0};
    uint32_t *ids = NULL;
    uint64_t pos = 0;
    for (uint64_t d = 0; d < samples && pos < n && !rc; d++) {
        uint64_t end = pos;
        while (end < n && hlm_shard_token(s, end) != eot) end++;
        size_t len = (size_t)(end - pos);
        printf("  doc %llu (%zu tokens): ", (unsigned long long)d, len);
        if (tok) {
            /* decode a prefix long enough for SAMPLE_CHARS characters: no token is empty */
            size_t k = len < 4 * SAMPLE_CHARS ? len : 4 * SAMPLE_CHARS;
            uint32_t *p = realloc(ids, (k ? k : 1) * sizeof *ids);
            if (!p) {
                fprintf(stderr, "hyperlm: error: out of memory\n");
                rc = CLI_FAIL;
                break;
            }
            ids = p;
            hlm_shard_copy_u32(s, pos, k, ids);
            text.len = 0;
            if (hlm_tokenizer_decode(tok, ids, k, &text, &err)) {
                hlm_error_prefix(&err, "%s: document %llu: ", path, (unsigned long long)d);
                rc = cli_report(&err);
                break;
            }
            print_sample(text.data, text.len);
        } else {
            for (size_t i = 0; i < len && i < SAMPLE_IDS; i++)
                printf(i ? " %u" : "%u", hlm_shard_token(s, pos + i));
            printf(len > SAMPLE_IDS ? " ...\n" : "\n");
        }
        pos = end + 1;
    }
    free(ids);
    hlm_buf_free(&text);
    hlm_shard_close(s);
    return rc;
}

int cli_data_inspect(int argc, char **argv)
{
    const char *tok_path = NULL;
    unsigned long long samples = 3;
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t n_files = 0;
    if (!files) return CLI_FAIL;
    int rc = CLI_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            inspect_usage(stdout);
            free(files);
            return CLI_OK;
        } else if (!strcmp(a, "-t") || cli_flag_is(a, "--tokenizer")) {
            if (!(tok_path = cli_flag_value("data inspect", argc, argv, &i, a[1] == '-' ? "--tokenizer" : "-t"))) goto out;
        } else if (cli_flag_is(a, "--samples")) {
            if (!(v = cli_flag_value("data inspect", argc, argv, &i, "--samples")) ||
                !cli_parse_u64("--samples", v, UINT32_MAX, &samples))
                goto out;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("data inspect", "unknown flag '%s'", a);
            goto out;
        } else {
            files[n_files++] = a;
        }
    }
    if (!n_files) {
        rc = cli_usage_error("data inspect", "%s", "expected one or more shard files");
        goto out;
    }
    hlm_tokenizer *tok = NULL;
    if (tok_path && (rc = load_tokenizer(tok_path, &tok))) goto out;
    rc = CLI_OK;
    for (size_t i = 0; i < n_files; i++) {
        int r = inspect_one(files[i], tok, samples);
        if (r && !rc) rc = r;
    }
    if (fflush(stdout)) rc = CLI_FAIL;
    hlm_tokenizer_free(tok);
out:
    free(files);
    return rc;
}
