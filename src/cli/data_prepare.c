/* hyperlm data prepare | extract | clean | dedup: the data pipeline (src/text/pipeline.h).
 *
 *   prepare  inputs -> DIR/docs/part-N.jsonl.zst (+ DIR/shards with --tokenizer), DIR/report.json
 *   extract  inputs -> documents (JSONL), no cleaning
 *   clean    documents -> normalized, language-filtered, quality-filtered, PII-scrubbed documents
 *   dedup    documents -> exact, boilerplate-line and near-duplicate removal; or --merge DIR after
 *            `prepare --part i/N` runs */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "dist/comm.h"
#include "hyperlm/file.h"
#include "hyperlm/log.h"
#include "text/pii.h"
#include "text/pipeline.h"

enum { CMD_PREPARE, CMD_EXTRACT, CMD_CLEAN, CMD_DEDUP };
static const char *const cmd_names[] = {"data prepare", "data extract", "data clean", "data dedup"};

static void usage(int cmd, FILE *f)
{
    static const char *const heads[] = {
        "usage: hyperlm data prepare --input SRC... --output DIR [options]\n"
        "\n"
        "Runs the whole chain: extract -> normalize -> language id -> quality filters -> PII ->\n"
        "dedup (exact, boilerplate lines, MinHash LSH) [-> token shards with --tokenizer].\n"
        "Writes DIR/docs/part-*.jsonl.zst, DIR/report.json and DIR/report.txt (the summary it\n"
        "prints), and with --tokenizer DIR/shards/{train,val}-*.tok.\n"
        "With --part i/N only part i of the inputs is processed (pass 1, into DIR/parts/); run\n"
        "`hyperlm data dedup --merge DIR` once all N parts are done. The kept documents are the\n"
        "same for any N. Under `mpirun -np N` (or srun) without --part, rank i runs part i, the\n"
        "ranks all-gather the signatures and each writes its part (DIR need not be shared,\n"
        "except with --tokenizer).\n",
        "usage: hyperlm data extract --input SRC... --output FILE.jsonl[.zst] [options]\n"
        "\n"
        "Reads documents out of text, JSONL, TSV, HTML pages and WARC/WET files (and folders of\n"
        "them; .gz/.zst) and writes them as JSONL records {id, text, source, ...}, unchanged.\n",
        "usage: hyperlm data clean --input DOCS... --output FILE.jsonl[.zst] [options]\n"
        "\n"
        "Normalizes, identifies languages, applies the Gopher/C4 quality filters and replaces PII\n"
        "with typed placeholders. Takes the same inputs as extract.\n",
        "usage: hyperlm data dedup --input DOCS... --output FILE.jsonl[.zst] [options]\n"
        "       hyperlm data dedup --merge DIR [--tokenizer PATH] [options]\n"
        "\n"
        "Removes exact duplicates (normalized text), boilerplate lines repeated across documents\n"
        "(CCNet) and near-duplicates (MinHash LSH, one document kept per cluster). --merge finishes\n"
        "`prepare --part i/N` runs: merges their signatures and line counts, writes DIR/docs.\n",
    };
    fputs(heads[cmd], f);
    fputs("\n"
          "  -i, --input SRC       a file or folder; may repeat, and further arguments are inputs too\n"
          "  -o, --output PATH     output folder (prepare) or file (the others)\n"
          "  --config FILE         JSON settings: every threshold (docs/data-pipeline.md)\n"
          "  --lang LIST           keep only these languages, e.g. ko,en (default: all)\n"
          "  --min-lang-score F    with --lang: minimum language score 0..1 (default 0.5)\n"
          "  --pii TYPES           email,phone,ip,rrn,card,account | all | none (default all)\n"
          "  --no-normalize, --no-langid, --no-filters, --no-pii, --no-exact, --no-lines,\n"
          "  --no-minhash          turn a stage off\n"
          "  --text-lines          plain text files hold one document per line (default: one per file)\n"
          "  --text-field NAME     JSONL field holding the text (default text)\n"
          "  --tsv-column C        TSV column name or 0-based index (default: 'text', else the last)\n"
          "  --part I/N            process part I (0-based) of N\n"
          "  --threads N           worker threads (default: all CPUs, or $HYPERLM_THREADS)\n"
          "  --max-memory SIZE     memory budget, e.g. 512M, 4G (default 2G): batch sizes and tables\n"
          "  -t, --tokenizer PATH  prepare / dedup --merge: also write token shards to DIR/shards\n"
          "  --val-fraction F      share of documents for validation shards (default 0.01)\n"
          "  --report FILE         extract/clean/dedup: write the report there (default OUTPUT.report.json)\n"
          "  -q, --quiet           no progress or summary\n"
          "  -h, --help            this help\n",
          f);
}

static int parse_size(const char *v, size_t *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno || !(x > 0)) return 0;
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    else if (*end == 'T' || *end == 't') mul = 1024.0 * 1024 * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || x * mul < 16.0 * 1024 * 1024 || x * mul > 1e15) return 0;
    *out = (size_t)(x * mul);
    return 1;
}

typedef struct args {
    hlm_pipeline_opts o;
    const char **inputs;
    size_t n_inputs;
    const char *output, *merge, *tokenizer, *report, *config;
    const char *val_fraction;
    int quiet;
    int have_part;
} args;

/* Flags that turn stages off are kept aside and applied after the config file, which may turn
 * them on: the command line wins. */
static int parse_args(int cmd, int argc, char **argv, args *a)
{
    const char *name = cmd_names[cmd];
    const char *langs = NULL, *pii = NULL, *min_score = NULL;
    int off[7] = {0}, text_lines = 0;
    unsigned long long threads = 0;
    int have_threads = 0;
    size_t max_mem = 0;
    static const char *const off_flags[7] = {"--no-normalize", "--no-langid", "--no-filters", "--no-pii",
                                             "--no-exact",     "--no-lines",  "--no-minhash"};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(cmd, stdout);
            return -1;
        } else if (!strcmp(s, "-i") || cli_flag_is(s, "--input")) {
            if (!(v = cli_flag_value(name, argc, argv, &i, s[1] == '-' ? "--input" : "-i"))) return CLI_USAGE;
            a->inputs[a->n_inputs++] = v;
        } else if (!strcmp(s, "-o") || cli_flag_is(s, "--output")) {
            if (!(a->output = cli_flag_value(name, argc, argv, &i, s[1] == '-' ? "--output" : "-o"))) return CLI_USAGE;
        } else if (!strcmp(s, "-t") || cli_flag_is(s, "--tokenizer")) {
            if (cmd != CMD_PREPARE && cmd != CMD_DEDUP) return cli_usage_error(name, "unknown flag '%s'", s);
            if (!(a->tokenizer = cli_flag_value(name, argc, argv, &i, s[1] == '-' ? "--tokenizer" : "-t")))
                return CLI_USAGE;
        } else if (cli_flag_is(s, "--merge")) {
            if (cmd != CMD_DEDUP) return cli_usage_error(name, "unknown flag '%s'", s);
            if (!(a->merge = cli_flag_value(name, argc, argv, &i, "--merge"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--config")) {
            if (!(a->config = cli_flag_value(name, argc, argv, &i, "--config"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--report")) {
            if (!(a->report = cli_flag_value(name, argc, argv, &i, "--report"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--lang")) {
            if (!(langs = cli_flag_value(name, argc, argv, &i, "--lang"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--min-lang-score")) {
            if (!(min_score = cli_flag_value(name, argc, argv, &i, "--min-lang-score"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--pii")) {
            if (!(pii = cli_flag_value(name, argc, argv, &i, "--pii"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--val-fraction")) {
            if (!(a->val_fraction = cli_flag_value(name, argc, argv, &i, "--val-fraction"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--text-field")) {
            if (!(a->o.source.jsonl_field = cli_flag_value(name, argc, argv, &i, "--text-field"))) return CLI_USAGE;
        } else if (cli_flag_is(s, "--tsv-column")) {
            if (!(a->o.source.tsv_column = cli_flag_value(name, argc, argv, &i, "--tsv-column"))) return CLI_USAGE;
        } else if (!strcmp(s, "--text-lines")) {
            text_lines = 1;
        } else if (cli_flag_is(s, "--part")) {
            if (cmd != CMD_PREPARE) return cli_usage_error(name, "unknown flag '%s'", s);
            if (!(v = cli_flag_value(name, argc, argv, &i, "--part"))) return CLI_USAGE;
            unsigned part, parts;
            char tail;
            if (sscanf(v, "%u/%u%c", &part, &parts, &tail) != 2 || parts == 0 || part >= parts || parts > 65536)
                return cli_usage_error(name, "--part: expected I/N with 0 <= I < N <= 65536, got '%s'", v);
            a->o.source.part = part;
            a->o.source.parts = parts;
            a->have_part = 1;
        } else if (cli_flag_is(s, "--threads")) {
            if (!(v = cli_flag_value(name, argc, argv, &i, "--threads")) || !cli_parse_u64("--threads", v, 4096, &threads))
                return CLI_USAGE;
            have_threads = 1;
        } else if (cli_flag_is(s, "--max-memory")) {
            if (!(v = cli_flag_value(name, argc, argv, &i, "--max-memory"))) return CLI_USAGE;
            if (!parse_size(v, &max_mem))
                return cli_usage_error(name, "--max-memory: expected a size of at least 16M such as 512M or 4G, got '%s'",
                                       v);
        } else if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) {
            a->quiet = 1;
        } else {
            int k = 0;
            while (k < 7 && strcmp(s, off_flags[k])) k++;
            if (k < 7) {
                off[k] = 1;
            } else if (s[0] == '-' && s[1]) {
                return cli_usage_error(name, "unknown flag '%s'", s);
            } else {
                a->inputs[a->n_inputs++] = s;
            }
        }
    }
    hlm_error err;
    if (a->config && hlm_pipeline_config_load(&a->o, a->config, &err)) return cli_report(&err);
    if (langs && hlm_pipeline_set_langs(&a->o, langs, &err)) return cli_report(&err);
    if (pii && hlm_pii_parse_types(pii, &a->o.pii_mask, &err)) {
        hlm_error_prefix(&err, "--pii: ");
        err.code = HLM_ERR_INVALID;
        return cli_report(&err);
    }
    if (min_score) {
        char *end;
        double x = strtod(min_score, &end);
        if (end == min_score || *end || !(x >= 0 && x <= 1))
            return cli_usage_error(name, "--min-lang-score: expected a number in 0..1, got '%s'", min_score);
        a->o.min_lang_score = x;
    }
    if (text_lines) a->o.source.text_as = HLM_SRC_LINES;
    if (have_threads) a->o.threads = (int)threads;
    if (max_mem) a->o.max_memory_bytes = max_mem;
    int *stage[7] = {&a->o.normalize, &a->o.langid, &a->o.filters, &a->o.pii,
                     &a->o.dedup_exact, &a->o.dedup_lines, &a->o.dedup_minhash};
    for (int k = 0; k < 7; k++)
        if (off[k]) *stage[k] = 0;
    if (hlm_log_get_level() < HLM_LOG_INFO) a->quiet = 1; /* hyperlm -q data ... */
    if (a->quiet) a->o.progress = 0;
    if (!a->merge && a->n_inputs == 0) return cli_usage_error(name, "no input given (%s)", "--input SRC");
    if (a->merge && a->n_inputs) return cli_usage_error(name, "--merge DIR takes no inputs, got '%s'", a->inputs[0]);
    if (!a->merge && !a->output) return cli_usage_error(name, "no output given (%s)", "--output");
    return 0;
}

static int dedup_on(const hlm_pipeline_opts *o) { return o->dedup_exact || o->dedup_lines || o->dedup_minhash; }

static int print_summary(const hlm_pipeline_report *r, const char *txt_path, int quiet)
{
    hlm_buf b = {0};
    hlm_error err;
    if (hlm_report_summary(r, &b)) {
        hlm_buf_free(&b);
        return CLI_FAIL;
    }
    if (!quiet) fwrite(b.data, 1, b.len, stdout);
    int rc = CLI_OK;
    if (txt_path && hlm_file_write_atomic(txt_path, b.data, b.len, &err)) rc = cli_report(&err);
    hlm_buf_free(&b);
    return rc;
}

/* DIR/docs/part-*.jsonl.zst -> DIR/shards through `data tokenize`. */
static int tokenize_docs(const args *a, const char *dir, unsigned parts)
{
    char shards[1100], **argv = calloc((size_t)parts + 16, sizeof *argv);
    if (!argv) return CLI_FAIL;
    snprintf(shards, sizeof shards, "%s/shards", dir);
    int n = 0;
    argv[n++] = "tokenize";
    argv[n++] = "--tokenizer";
    argv[n++] = (char *)a->tokenizer;
    argv[n++] = "--output";
    argv[n++] = shards;
    argv[n++] = "--overwrite";
    if (a->val_fraction) {
        argv[n++] = "--val-fraction";
        argv[n++] = (char *)a->val_fraction;
    }
    char threads[32];
    if (a->o.threads > 0) {
        snprintf(threads, sizeof threads, "%d", a->o.threads);
        argv[n++] = "--threads";
        argv[n++] = threads;
    }
    int first = n, rc = CLI_OK;
    for (unsigned i = 0; i < parts; i++) {
        argv[n] = malloc(1100);
        if (!argv[n]) {
            rc = CLI_FAIL;
            break;
        }
        snprintf(argv[n], 1100, "%s/docs/part-%05u.jsonl.zst", dir, i);
        n++;
    }
    if (!rc) {
        if (!a->quiet) printf("\n== tokenize -> %s\n", shards);
        rc = cli_data_tokenize(n, argv);
    }
    for (int i = first; i < n; i++) free(argv[i]);
    free(argv);
    return rc;
}

/* Pass 2 over the parts' pass-1 files pf: the kept documents of part i in
 * DIR/docs/part-i.jsonl.zst, for every part, or only for part own when own >= 0 (a process of an
 * MPI world, which still decides over every part's signatures and line counts). */
static int write_docs(const args *a, const char *dir, const hlm_part_files *pf, unsigned parts, int own,
                      hlm_pipeline_report *rep)
{
    hlm_error err;
    char **outs = calloc(parts, sizeof *outs);
    char path[1100];
    int rc = CLI_FAIL;
    if (!outs) return CLI_FAIL;
    snprintf(path, sizeof path, "%s/docs", dir);
    if (cli_make_dirs(path, &err)) {
        rc = cli_report(&err);
        goto out;
    }
    for (unsigned i = 0; i < parts; i++) {
        if (own >= 0 && i != (unsigned)own) continue;
        if (!(outs[i] = malloc(1100))) goto out;
        snprintf(outs[i], 1100, "%s/docs/part-%05u.jsonl.zst", dir, i);
    }
    if (dedup_on(&a->o)) {
        if (hlm_pipeline_dedup(&a->o, pf, parts, (const char *const *)outs, rep, &err)) {
            rc = cli_report(&err);
            goto out;
        }
    } else {
        for (unsigned i = 0; i < parts; i++)
            if (outs[i] && rename(pf[i].docs, outs[i])) {
                hlm_errorf(&err, HLM_ERR_IO, "%s: cannot move to %s: %s", pf[i].docs, outs[i], strerror(errno));
                rc = cli_report(&err);
                goto out;
            }
    }
    rc = CLI_OK;
out:
    for (unsigned i = 0; i < parts; i++) free(outs[i]);
    free(outs);
    return rc;
}

/* DIR/report.json, DIR/report.txt (the summary printed) and, with --tokenizer, DIR/shards. */
static int write_report(const args *a, const char *dir, unsigned parts, const hlm_pipeline_report *rep)
{
    hlm_error err;
    char path[1100];
    snprintf(path, sizeof path, "%s/report.json", dir);
    if (hlm_report_write_json(rep, &a->o, path, &err)) return cli_report(&err);
    if (!a->quiet) printf("\n== report (%s)\n", path);
    snprintf(path, sizeof path, "%s/report.txt", dir);
    int rc = print_summary(rep, path, a->quiet);
    if (!rc && a->tokenizer) rc = tokenize_docs(a, dir, parts);
    return rc;
}

/* Pass 2 over DIR/parts/part-I-of-N and the rest of prepare: docs, report, shards. */
static int finish(const args *a, const char *dir, unsigned parts, hlm_pipeline_report *rep)
{
    hlm_part_files *pf = calloc(parts, sizeof *pf);
    if (!pf) return CLI_FAIL;
    for (unsigned i = 0; i < parts; i++) hlm_part_files_in(&pf[i], dir, i, parts, &a->o);
    int rc = write_docs(a, dir, pf, parts, -1, rep);
    if (!rc) rc = write_report(a, dir, parts, rep);
    free(pf);
    return rc;
}

/* Pass 1 of part a->o.source.part into pf; the part's report goes beside its documents
 * (DIR/parts/part-I-of-N.report.json, which `dedup --merge` reads). */
static int run_pass1(const args *a, const hlm_part_files *pf, hlm_pipeline_report *rep)
{
    hlm_error err;
    char path[1100];
    unsigned parts = a->o.source.parts ? a->o.source.parts : 1, part = a->o.source.part;
    snprintf(path, sizeof path, "%s/parts", a->output);
    if (cli_make_dirs(path, &err)) return cli_report(&err);
    if (!a->quiet) printf("== pass 1%s: extract, clean, filter, scrub%s\n", parts > 1 ? " (this part)" : "",
                          dedup_on(&a->o) ? ", dedup signatures" : "");
    if (hlm_pipeline_run(&a->o, a->inputs, a->n_inputs, pf, rep, &err)) return cli_report(&err);
    snprintf(path, sizeof path, "%s/parts/part-%05u-of-%05u.report.json", a->output, part, parts);
    if (hlm_report_write_json(rep, &a->o, path, &err)) return cli_report(&err);
    return CLI_OK;
}

static int run_prepare(args *a)
{
    hlm_pipeline_report *rep = calloc(1, sizeof *rep);
    if (!rep) return CLI_FAIL;
    unsigned parts = a->o.source.parts ? a->o.source.parts : 1, part = a->o.source.part;
    hlm_part_files pf;
    hlm_part_files_in(&pf, a->output, part, parts, &a->o);
    int rc = run_pass1(a, &pf, rep);
    if (rc == CLI_OK && parts > 1) {
        if (!a->quiet)
            printf("part %u of %u done: %llu of %llu documents passed (%s/parts/part-%05u-of-%05u.report.json).\n"
                   "When all %u parts are done: hyperlm data dedup --merge %s%s%s\n",
                   part, parts, (unsigned long long)rep->docs_kept, (unsigned long long)rep->docs_in, a->output,
                   part, parts, parts, a->output, a->tokenizer ? " --tokenizer " : "",
                   a->tokenizer ? a->tokenizer : "");
    } else if (rc == CLI_OK) {
        if (!a->quiet && dedup_on(&a->o)) printf("\n== pass 2: dedup\n");
        rc = finish(a, a->output, 1, rep);
    }
    free(rep);
    return rc;
}

/* dedup --merge DIR: the parts' reports say how many parts there are. */
static int run_merge(args *a)
{
    hlm_error err;
    hlm_pipeline_report *rep = calloc(1, sizeof *rep), *one = calloc(1, sizeof *one);
    int rc = CLI_FAIL;
    if (!rep || !one) goto out;
    char path[1100];
    unsigned parts = 0;
    for (unsigned n = 1; n <= 65536 && !parts; n++) {
        snprintf(path, sizeof path, "%s/parts/part-%05u-of-%05u.report.json", a->merge, 0u, n);
        if (access(path, F_OK) == 0) parts = n;
    }
    if (!parts) {
        hlm_errorf(&err, HLM_ERR_IO, "%s/parts: no finished part (expected part-00000-of-NNNNN.report.json from "
                   "`hyperlm data prepare --part 0/N --output %s`)", a->merge, a->merge);
        rc = cli_report(&err);
        goto out;
    }
    for (unsigned i = 0; i < parts; i++) {
        snprintf(path, sizeof path, "%s/parts/part-%05u-of-%05u.report.json", a->merge, i, parts);
        if (access(path, F_OK) != 0) {
            hlm_errorf(&err, HLM_ERR_IO, "%s: missing: part %u of %u has not finished", path, i, parts);
            rc = cli_report(&err);
            goto out;
        }
        if (hlm_report_read_json(one, path, &err)) {
            rc = cli_report(&err);
            goto out;
        }
        hlm_report_merge(rep, one);
    }
    rep->parts = parts;
    if (!a->quiet) printf("== merging %u parts: dedup\n", parts);
    rc = finish(a, a->merge, parts, rep);
out:
    free(rep);
    free(one);
    return rc;
}

/* extract / clean / dedup on files: pass 1 (and 2) into OUTPUT, scratch files beside it. */
static int run_stage(int cmd, args *a)
{
    hlm_error err;
    hlm_pipeline_opts *o = &a->o;
    if (cmd == CMD_EXTRACT) o->normalize = o->langid = o->filters = o->pii = 0;
    if (cmd != CMD_DEDUP) o->dedup_exact = o->dedup_lines = o->dedup_minhash = 0;
    if (cmd == CMD_DEDUP) o->normalize = o->langid = o->filters = o->pii = 0;
    hlm_pipeline_report *rep = calloc(1, sizeof *rep);
    if (!rep) return CLI_FAIL;
    char report[1100], scratch[900];
    snprintf(report, sizeof report, "%s", a->report ? a->report : "");
    if (!a->report) snprintf(report, sizeof report, "%s.report.json", a->output);
    hlm_part_files pf = {0};
    int rc = CLI_FAIL;
    scratch[0] = 0;
    if (cmd == CMD_DEDUP && dedup_on(o)) {
        snprintf(scratch, sizeof scratch, "%s.parts", a->output);
        if (cli_make_dirs(scratch, &err)) {
            rc = cli_report(&err);
            goto out;
        }
        snprintf(pf.docs, sizeof pf.docs, "%s/docs.jsonl.zst", scratch);
        if (o->dedup_exact || o->dedup_minhash) snprintf(pf.sigs, sizeof pf.sigs, "%s/sigs", scratch);
        if (o->dedup_lines) snprintf(pf.lines, sizeof pf.lines, "%s/lines", scratch);
    } else {
        snprintf(pf.docs, sizeof pf.docs, "%s", a->output);
    }
    if (hlm_pipeline_run(o, a->inputs, a->n_inputs, &pf, rep, &err)) {
        rc = cli_report(&err);
        goto out;
    }
    if (scratch[0]) {
        const char *outs[1] = {a->output};
        if (hlm_pipeline_dedup(o, &pf, 1, outs, rep, &err)) {
            rc = cli_report(&err);
            goto out;
        }
    }
    if (hlm_report_write_json(rep, o, report, &err)) {
        rc = cli_report(&err);
        goto out;
    }
    rc = print_summary(rep, NULL, a->quiet);
    if (!a->quiet) printf("report: %s\n", report);
out:
    if (scratch[0]) {
        unlink(pf.docs);
        if (pf.sigs[0]) unlink(pf.sigs);
        if (pf.lines[0]) unlink(pf.lines);
        rmdir(scratch);
    }
    free(rep);
    return rc;
}

/* ---- prepare under mpirun or srun ---- */

/* The number of ranks whose rc is not CLI_OK, the same on every rank. A failed collective ends
 * the job: the other ranks would wait in their next one. */
static int count_failed(hlm_comm *comm, int rc)
{
    hlm_error err;
    double failed = rc != CLI_OK, n_failed = 0;
    if (hlm_comm_sum_f64(comm, &failed, &n_failed, 1, &err)) {
        cli_report(&err);
        hlm_comm_abort(comm, CLI_FAIL, err.msg);
        return hlm_comm_size(comm);
    }
    return (int)n_failed;
}

/* Whether any rank failed the step (rc its own result); rank 0 then says how many, what failed
 * and what did not happen ("nothing merged"). */
static int any_failed(hlm_comm *comm, int rc, const char *step, const char *consequence)
{
    int n_failed = count_failed(comm, rc);
    if (n_failed && hlm_comm_rank(comm) == 0)
        fprintf(stderr, "hyperlm: error: data prepare: %d of %d processes failed in %s; %s\n", n_failed,
                hlm_comm_size(comm), step, consequence);
    return n_failed != 0;
}

/* n bytes of this rank to every rank: all := every rank's bytes in rank order, rank i's at
 * displs[i], counts[i] of them (counts and displs hold one entry per rank). */
static hlm_status gather_bytes(hlm_comm *comm, const void *mine, size_t n, hlm_buf *all, size_t *counts,
                               size_t *displs, hlm_error *err)
{
    int world = hlm_comm_size(comm), rank = hlm_comm_rank(comm);
    uint64_t *sizes = malloc((size_t)world * sizeof *sizes);
    if (!sizes) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    hlm_status st = hlm_comm_allgather_u64(comm, n, sizes, err);
    size_t total = 0;
    for (int i = 0; st == HLM_OK && i < world; i++) {
        counts[i] = (size_t)sizes[i];
        displs[i] = total;
        total += counts[i];
    }
    free(sizes);
    all->len = 0;
    if (st == HLM_OK && hlm_buf_reserve(all, total ? total : 1))
        st = hlm_errorf(err, HLM_ERR_NOMEM, "cannot allocate %zu bytes for the data of %d processes", total, world);
    if (st != HLM_OK) return st;
    if (n) memcpy(all->data + displs[rank], mine, n);
    all->len = total;
    return hlm_comm_allgatherv_bytes(comm, all->data, counts, displs, err);
}

/* Every rank's report, sent as JSON (without the settings, which every rank shares), merged in
 * rank order on every rank, as `dedup --merge` merges the parts' report files. */
static hlm_status gather_reports(hlm_comm *comm, const hlm_pipeline_report *mine, hlm_pipeline_report *merged,
                                 size_t *counts, size_t *displs, hlm_error *err)
{
    hlm_buf json = {0}, all = {0};
    hlm_pipeline_report *one = malloc(sizeof *one);
    hlm_status st = one ? hlm_report_to_json(mine, NULL, &json, err) : hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    if (st == HLM_OK) st = gather_bytes(comm, json.data, json.len, &all, counts, displs, err);
    memset(merged, 0, sizeof *merged);
    for (int i = 0; st == HLM_OK && i < hlm_comm_size(comm); i++) {
        char name[64];
        snprintf(name, sizeof name, "the report of rank %d", i);
        st = hlm_report_parse_json(one, all.data + displs[i], counts[i], name, err);
        if (st == HLM_OK) hlm_report_merge(merged, one);
    }
    free(one);
    hlm_buf_free(&json);
    hlm_buf_free(&all);
    return st;
}

/* This rank's pass-1 file paths[rank] (its signatures or its line counts) to every rank; the
 * other ranks' files are written to paths[i], so that every rank then holds every part's.
 * *bytes grows by the bytes of all parts. */
static hlm_status exchange_file(hlm_comm *comm, const char *const *paths, size_t *counts, size_t *displs,
                                uint64_t *bytes, hlm_error *err)
{
    int rank = hlm_comm_rank(comm);
    hlm_buf mine = {0}, all = {0};
    hlm_status st = hlm_file_read_all(paths[rank], &mine, err);
    if (st == HLM_OK) st = gather_bytes(comm, mine.data, mine.len, &all, counts, displs, err);
    hlm_buf_free(&mine);
    for (int i = 0; st == HLM_OK && i < hlm_comm_size(comm); i++)
        if (i != rank) st = hlm_file_write_atomic(paths[i], all.data + displs[i], counts[i], err);
    *bytes += all.len;
    hlm_buf_free(&all);
    return st;
}

/* The report one process over all parts would write, from the merged reports of pass 1 (pass1)
 * and of each rank after its part's pass 2 (total, which every count comes from). Examples as
 * `dedup --merge` picks them: pass 1's in part order, then pass 2's. The whole-run figures of
 * pass 2, computed alike on every rank, are taken once, from this rank's own report. */
static void combine_reports(hlm_pipeline_report *total, const hlm_pipeline_report *pass1,
                            const hlm_pipeline_report *own, unsigned parts)
{
    for (int k = 0; k < HLM_RM_COUNT; k++) {
        hlm_removal_example ex[HLM_REPORT_EXAMPLES];
        uint64_t n = 0;
        for (uint64_t i = 0; i < pass1->examples_n[k] && n < HLM_REPORT_EXAMPLES; i++) ex[n++] = pass1->examples[k][i];
        for (uint64_t i = 0; i < total->examples_n[k] && n < HLM_REPORT_EXAMPLES; i++) ex[n++] = total->examples[k][i];
        memcpy(total->examples[k], ex, n * sizeof *ex);
        total->examples_n[k] = n;
    }
    total->near_dup_clusters = own->near_dup_clusters;
    total->line_table_entries = own->line_table_entries;
    total->parts = parts;
}

/* prepare under mpirun or srun (without --part): rank i runs pass 1 on part i of N, with its
 * signatures and line counts in a scratch folder of its own. The ranks then all-gather those
 * files, so that each runs the same pass-2 decision over every part and writes only its own
 * part's documents: the kept documents are those of one process, and no rank reads another's
 * files. Rank 0 writes the report, combined from every rank's (all-gathered as JSON). A failure
 * on any rank fails every rank. */
static int run_prepare_world(args *a)
{
    hlm_error err;
    hlm_comm *comm = NULL;
    if (a->have_part) return run_prepare(a);
    if (hlm_comm_init(0, &comm, &err)) return cli_report(&err);
    int world = hlm_comm_size(comm), rank = hlm_comm_rank(comm);
    if (world == 1) {
        hlm_comm_free(comm);
        return run_prepare(a);
    }
    unsigned parts = (unsigned)world, part = (unsigned)rank;
    a->o.source.part = part;
    a->o.source.parts = parts;
    int quiet = a->quiet;
    if (rank > 0) {
        a->quiet = 1;
        a->o.progress = 0;
    }
    char scratch[900]; /* its files' names fit hlm_part_files */
    snprintf(scratch, sizeof scratch, "%s/parts/rank-%05u-of-%05u.exchange", a->output, part, parts);
    hlm_part_files *pf = calloc(parts, sizeof *pf);
    const char **sigs = calloc(parts, sizeof *sigs), **lines = calloc(parts, sizeof *lines);
    size_t *counts = calloc(parts, sizeof *counts), *displs = calloc(parts, sizeof *displs);
    hlm_pipeline_report *rep = calloc(1, sizeof *rep), *pass1 = calloc(1, sizeof *pass1);
    hlm_pipeline_report *after = calloc(1, sizeof *after), *total = calloc(1, sizeof *total);
    int rc = CLI_FAIL;
    if (pf && sigs && lines && counts && displs && rep && pass1 && after && total) {
        for (unsigned i = 0; i < parts; i++) {
            hlm_part_files_in(&pf[i], a->output, i, parts, &a->o);
            if (pf[i].sigs[0]) snprintf(pf[i].sigs, sizeof pf[i].sigs, "%s/part-%05u-of-%05u.sigs", scratch, i, parts);
            if (pf[i].lines[0])
                snprintf(pf[i].lines, sizeof pf[i].lines, "%s/part-%05u-of-%05u.lines", scratch, i, parts);
            sigs[i] = pf[i].sigs;
            lines[i] = pf[i].lines;
        }
        rc = cli_make_dirs(scratch, &err) ? cli_report(&err) : run_pass1(a, &pf[part], rep);
    }
    if (any_failed(comm, rc, "pass 1", "nothing merged")) {
        rc = CLI_FAIL;
        goto out;
    }

    uint64_t bytes = 0;
    hlm_status st = gather_reports(comm, rep, pass1, counts, displs, &err);
    if (st == HLM_OK && sigs[0][0]) st = exchange_file(comm, sigs, counts, displs, &bytes, &err);
    if (st == HLM_OK && lines[0][0]) st = exchange_file(comm, lines, counts, displs, &bytes, &err);
    if (st != HLM_OK) {
        rc = cli_report(&err);
        hlm_comm_abort(comm, CLI_FAIL, err.msg);
        goto out;
    }
    if (!a->quiet && dedup_on(&a->o))
        printf("\n== pass 2 (this part): dedup over the signatures and line counts of %u parts (%.1f MB "
               "all-gathered)\n",
               parts, (double)bytes / 1e6);
    /* this part's pass-2 report starts from its pass-1 counts; its examples are pass 2's only */
    *after = *rep;
    memset(after->examples_n, 0, sizeof after->examples_n);
    rc = write_docs(a, a->output, pf, parts, rank, after);
    if (any_failed(comm, rc, "pass 2", "no report written")) {
        rc = CLI_FAIL;
        goto out;
    }
    if (gather_reports(comm, after, total, counts, displs, &err)) {
        rc = cli_report(&err);
        hlm_comm_abort(comm, CLI_FAIL, err.msg);
        goto out;
    }
    if (rank == 0) {
        combine_reports(total, pass1, after, parts);
        a->quiet = quiet;
        rc = write_report(a, a->output, parts, total);
    }
out:
    for (unsigned i = 0; pf && i < parts; i++) {
        if (pf[i].sigs[0]) unlink(pf[i].sigs);
        if (pf[i].lines[0]) unlink(pf[i].lines);
    }
    rmdir(scratch);
    free(pf);
    free(sigs);
    free(lines);
    free(counts);
    free(displs);
    free(rep);
    free(pass1);
    free(after);
    free(total);
    hlm_comm_free(comm);
    return rc;
}

static int run(int cmd, int argc, char **argv)
{
    args a = {0};
    hlm_pipeline_opts_default(&a.o);
    a.inputs = calloc((size_t)argc + 1, sizeof *a.inputs);
    if (!a.inputs) return CLI_FAIL;
    int rc = parse_args(cmd, argc, argv, &a);
    if (rc) {
        hlm_pipeline_opts_free(&a.o);
        free(a.inputs);
        return rc < 0 ? CLI_OK : rc;
    }
    if (cmd == CMD_PREPARE) rc = run_prepare_world(&a);
    else if (cmd == CMD_DEDUP && a.merge) rc = run_merge(&a);
    else rc = run_stage(cmd, &a);
    hlm_pipeline_opts_free(&a.o);
    free(a.inputs);
    return rc;
}

int cli_data_prepare(int argc, char **argv) { return run(CMD_PREPARE, argc, argv); }
int cli_data_extract(int argc, char **argv) { return run(CMD_EXTRACT, argc, argv); }
int cli_data_clean(int argc, char **argv) { return run(CMD_CLEAN, argc, argv); }
int cli_data_dedup(int argc, char **argv) { return run(CMD_DEDUP, argc, argv); }
