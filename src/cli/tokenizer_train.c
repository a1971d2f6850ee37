/* hyperlm tokenizer train: documents from text / JSONL / TSV files (optionally .gz or .zst) ->
 * byte-level BPE tokenizer.json. Documents are fed to the trainer in batches of BATCH_BYTES, so
 * memory is one batch plus the trainer's table of distinct pre-tokens, whatever the input size. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/tokenizer.h"
#include "hyperlm/file.h"
#include "hyperlm/log.h"
#include "hyperlm/progress.h"
#include "hyperlm/tokenizer.h"
#include "text/docs.h"
#include "tokenizer/bpe_train_internal.h"

#define BATCH_BYTES ((size_t)32 << 20)
#define DEFAULT_PATTERN "o200k"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm tokenizer train --input FILE... --vocab-size N --output TOKENIZER.json [options]\n"
            "\n"
            "Learns a byte-level BPE tokenizer (Hugging Face tokenizer.json) from plain text, JSONL or TSV\n"
            "files, each optionally .gz or .zst compressed. Ids 0..255 are the bytes, then one id per merge,\n"
            "then the special tokens. The same input and flags give the same file, whatever --threads.\n"
            "\n"
            "required:\n"
            "  --input FILE...      input files; the flag may repeat, '-' reads standard input\n"
            "  --vocab-size N       total ids: 256 bytes + merges + special tokens (minimum: 257 + specials)\n"
            "  --output PATH        the tokenizer.json to write (atomically)\n"
            "\n"
            "options:\n"
            "  --pattern NAME       pre-tokenizer: gpt2, cl100k or o200k (default: " DEFAULT_PATTERN ")\n"
            "  --special TOKEN      a special token such as '<|endoftext|>'; may repeat (default: none).\n"
            "                       Its text in the input is cut out, not learned\n"
            "  --format F           auto, text, jsonl or tsv (default: auto: .jsonl/.json/.ndjson JSONL,\n"
            "                       .tsv TSV, anything else text)\n"
            "  --field NAME         JSONL field that holds the text (default: text)\n"
            "  --tsv-column NAME    TSV column, by header name or 0-based index (default: the column named\n"
            "                       'text', else the last)\n"
            "  --no-normalize       do not apply NFC before pre-tokenization (default: NFC, recorded in\n"
            "                       the tokenizer so that encoding does the same)\n"
            "  --min-frequency N    do not merge pairs seen fewer than N times (default: 2)\n"
            "  --threads N          threads for counting pre-tokens (default: 0 = all CPUs, or\n"
            "                       $HYPERLM_THREADS)\n"
            "  -h, --help           this help\n");
}

typedef struct {
    const char **inputs;
    size_t n_inputs;
    const char **specials;
    size_t n_specials;
    const char *output, *pattern, *format, *field, *tsv_column;
    unsigned long long vocab_size, min_frequency, threads;
    int have_vocab, normalize;
} train_args;

/* Returns -1 when parsing succeeded, else the exit code. */
static int parse_args(int argc, char **argv, train_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_flag_is(arg, "--input")) {
            /* --input=FILE, or every argument up to the next flag ('-' alone is standard input) */
            const char *eq = strchr(arg, '=');
            size_t before = a->n_inputs;
            if (eq) {
                a->inputs[a->n_inputs++] = eq + 1;
            } else {
                while (i + 1 < argc && (argv[i + 1][0] != '-' || !strcmp(argv[i + 1], "-")))
                    a->inputs[a->n_inputs++] = argv[++i];
            }
            if (a->n_inputs == before || !a->inputs[before][0])
                return cli_usage_error("tokenizer train", "%s: expected one or more files", "--input");
        } else if (cli_flag_is(arg, "--vocab-size")) {
            if (!(v = cli_flag_value("tokenizer train", argc, argv, &i, "--vocab-size"))) return CLI_USAGE;
            if (!cli_parse_u64("--vocab-size", v, 0xFFFFFFFFull, &a->vocab_size)) return CLI_USAGE;
            a->have_vocab = 1;
        } else if (cli_flag_is(arg, "--output")) {
            if (!(a->output = cli_flag_value("tokenizer train", argc, argv, &i, "--output"))) return CLI_USAGE;
        } else if (cli_flag_is(arg, "--pattern")) {
            if (!(a->pattern = cli_flag_value("tokenizer train", argc, argv, &i, "--pattern"))) return CLI_USAGE;
        } else if (cli_flag_is(arg, "--special")) {
            if (!(v = cli_flag_value("tokenizer train", argc, argv, &i, "--special"))) return CLI_USAGE;
            a->specials[a->n_specials++] = v;
        } else if (cli_flag_is(arg, "--format")) {
            if (!(a->format = cli_flag_value("tokenizer train", argc, argv, &i, "--format"))) return CLI_USAGE;
        } else if (cli_flag_is(arg, "--field")) {
            if (!(a->field = cli_flag_value("tokenizer train", argc, argv, &i, "--field"))) return CLI_USAGE;
        } else if (cli_flag_is(arg, "--tsv-column")) {
            if (!(a->tsv_column = cli_flag_value("tokenizer train", argc, argv, &i, "--tsv-column"))) return CLI_USAGE;
        } else if (!strcmp(arg, "--no-normalize")) {
            a->normalize = 0;
        } else if (cli_flag_is(arg, "--min-frequency")) {
            if (!(v = cli_flag_value("tokenizer train", argc, argv, &i, "--min-frequency"))) return CLI_USAGE;
            if (!cli_parse_u64("--min-frequency", v, 0xFFFFFFFFFFFFull, &a->min_frequency)) return CLI_USAGE;
        } else if (cli_flag_is(arg, "--threads")) {
            if (!(v = cli_flag_value("tokenizer train", argc, argv, &i, "--threads"))) return CLI_USAGE;
            if (!cli_parse_u64("--threads", v, 4096, &a->threads)) return CLI_USAGE;
        } else {
            return cli_usage_error("tokenizer train", "unknown flag or argument '%s'", arg);
        }
    }
    if (!a->n_inputs) return cli_usage_error("tokenizer train", "%s is required", "--input");
    if (!a->have_vocab) return cli_usage_error("tokenizer train", "%s is required", "--vocab-size");
    if (!a->output) return cli_usage_error("tokenizer train", "%s is required", "--output");
    return -1;
}

static int parse_format(const char *s, hlm_doc_format *out)
{
    static const struct {
        const char *name;
        hlm_doc_format f;
    } names[] = {{"auto", HLM_DOC_AUTO}, {"text", HLM_DOC_TEXT}, {"jsonl", HLM_DOC_JSONL}, {"tsv", HLM_DOC_TSV}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].f;
            return 1;
        }
    return 0;
}

typedef struct {
    hlm_buf text;
    size_t *ends; /* document i = text[ends[i-1] .. ends[i]) */
    const char **ptrs;
    size_t *lens;
    size_t n, cap;
} batch;

static hlm_status batch_add(batch *b, const char *text, size_t len, hlm_error *err)
{
    if (b->n == b->cap) {
        size_t c = b->cap ? b->cap * 2 : 4096;
        size_t *e = realloc(b->ends, c * sizeof *e);
        if (e) b->ends = e;
        const char **p = realloc(b->ptrs, c * sizeof *p);
        if (p) b->ptrs = p;
        size_t *l = realloc(b->lens, c * sizeof *l);
        if (l) b->lens = l;
        if (!e || !p || !l) return hlm_errorf(err, HLM_ERR_NOMEM, "train: out of memory");
        b->cap = c;
    }
    if (hlm_buf_append(&b->text, text, len)) return hlm_errorf(err, HLM_ERR_NOMEM, "train: out of memory");
    b->ends[b->n++] = b->text.len;
    return HLM_OK;
}

static hlm_status batch_flush(batch *b, hlm_bpe_trainer *tr, hlm_error *err)
{
    for (size_t i = 0; i < b->n; i++) {
        size_t start = i ? b->ends[i - 1] : 0;
        b->ptrs[i] = (const char *)b->text.data + start;
        b->lens[i] = b->ends[i] - start;
    }
    hlm_status st = hlm_bpe_trainer_feed(tr, b->ptrs, b->lens, b->n, err);
    b->n = 0;
    b->text.len = 0;
    return st;
}

static void batch_free(batch *b)
{
    hlm_buf_free(&b->text);
    free(b->ends);
    free(b->ptrs);
    free(b->lens);
}

/* Reads every input into the trainer. */
static hlm_status count_inputs(const train_args *a, const hlm_doc_reader_opts *ro, hlm_bpe_trainer *tr,
                               hlm_error *err)
{
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < a->n_inputs; i++) {
        struct stat sb;
        if (strcmp(a->inputs[i], "-") != 0 && stat(a->inputs[i], &sb) == 0) total += (uint64_t)sb.st_size;
    }
    batch b = {0};
    /* reserved, not touched: the buffer never moves unless a document exceeds the slack */
    if (hlm_buf_reserve(&b.text, BATCH_BYTES + (BATCH_BYTES >> 4)))
        return hlm_errorf(err, HLM_ERR_NOMEM, "train: out of memory");
    hlm_progress pg;
    hlm_progress_start(&pg, "counting", total, "B");
    hlm_status st = HLM_OK;
    for (size_t i = 0; i < a->n_inputs && !st; i++) {
        hlm_doc_reader *r;
        if ((st = hlm_doc_reader_open(&r, a->inputs[i], ro, err))) break;
        for (;;) {
            const char *text;
            size_t len;
            int more;
            if ((st = hlm_doc_reader_next(r, &text, &len, &more, err)) || !more) break;
            if ((st = batch_add(&b, text, len, err))) break;
            if (b.text.len >= BATCH_BYTES && (st = batch_flush(&b, tr, err))) break;
            if (b.n % 1024 == 0) hlm_progress_update(&pg, done + hlm_doc_reader_bytes_read(r));
        }
        done += hlm_doc_reader_bytes_read(r);
        hlm_doc_reader_close(r);
        hlm_progress_update(&pg, done);
    }
    if (!st && b.n) st = batch_flush(&b, tr, err);
    hlm_progress_finish(&pg);
    batch_free(&b);
    return st;
}

int cli_tokenizer_train(int argc, char **argv)
{
    double t0 = hlm_now_s();
    train_args a = {0};
    a.normalize = 1;
    a.min_frequency = 2;
    a.pattern = DEFAULT_PATTERN;
    a.format = "auto";
    /* every argument is at most one input or special */
    a.inputs = calloc((size_t)argc + 1, sizeof *a.inputs);
    a.specials = calloc((size_t)argc + 1, sizeof *a.specials);
    if (!a.inputs || !a.specials) {
        free(a.inputs);
        free(a.specials);
        fprintf(stderr, "hyperlm: error: out of memory\n");
        return CLI_FAIL;
    }
    hlm_error err = {0};
    hlm_bpe_trainer *tr = NULL;
    hlm_tokenizer *tok = NULL;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) goto out;

    hlm_bpe_train_opts opts;
    hlm_bpe_train_opts_default(&opts);
    hlm_doc_reader_opts ro = {0};
    if (hlm_pattern_from_name(a.pattern, &opts.pattern, &err)) {
        rc = cli_usage_error("tokenizer train", "--pattern: expected gpt2, cl100k or o200k, got '%s'", a.pattern);
        goto out;
    }
    if (!parse_format(a.format, &ro.format)) {
        rc = cli_usage_error("tokenizer train", "--format: expected auto, text, jsonl or tsv, got '%s'", a.format);
        goto out;
    }
    ro.jsonl_field = a.field;
    ro.tsv_column = a.tsv_column;
    opts.vocab_size = (uint32_t)a.vocab_size;
    opts.normalize = a.normalize;
    opts.specials = a.specials;
    opts.n_specials = a.n_specials;
    opts.n_threads = (int)a.threads;
    opts.min_frequency = a.min_frequency;
    if (hlm_bpe_trainer_new(&opts, &tr, &err)) {
        rc = cli_report(&err);
        goto out;
    }
    /* Fail now, not after the training, when an input is missing or the output cannot be written. */
    for (size_t i = 0; i < a.n_inputs; i++) {
        struct stat sb;
        if (strcmp(a.inputs[i], "-") != 0 && stat(a.inputs[i], &sb) != 0) {
            hlm_errorf(&err, HLM_ERR_IO, "%s: cannot open: %s", a.inputs[i], strerror(errno));
            rc = cli_report(&err);
            goto out;
        }
    }
    hlm_atomic_file probe;
    if (hlm_atomic_open(&probe, a.output, &err)) {
        rc = cli_report(&err);
        goto out;
    }
    hlm_atomic_abort(&probe);

    if (count_inputs(&a, &ro, tr, &err) || hlm_bpe_trainer_finish(tr, &tok, &err) ||
        hlm_tokenizer_save(tok, a.output, &err)) {
        /* from here on, "nothing to learn" is a problem with the data, not with the flags */
        if (err.code == HLM_ERR_INVALID) err.code = HLM_ERR_FORMAT;
        rc = cli_report(&err);
        goto out;
    }
    hlm_bpe_train_stats s;
    hlm_bpe_trainer_stats(tr, &s);
    HLM_INFO("%s: vocab %u = 256 bytes + %zu merges + %zu specials, from %llu documents, %.1f MB, %llu pre-tokens "
             "(%llu distinct); merges learned in %.2f s, %.2f s in all; peak RSS %.1f MB",
             a.output, hlm_tokenizer_vocab_size(tok), s.n_merges, a.n_specials, (unsigned long long)s.n_docs,
             (double)s.n_bytes / 1e6, (unsigned long long)s.n_pieces, (unsigned long long)s.n_distinct, s.learn_s,
             hlm_now_s() - t0, (double)hlm_peak_rss_bytes() / 1e6);
    rc = CLI_OK;
out:
    hlm_tokenizer_free(tok);
    hlm_bpe_trainer_free(tr);
    free(a.inputs);
    free(a.specials);
    return rc;
}
