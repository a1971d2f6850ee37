/* hyperlm plan: flags -> hlm_plan_input -> hlm_plan_search, printed as text or JSON; --validate
 * runs the planner on published runs and prints the comparison (exit 1 when a held check is
 * outside its tolerance). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "dist/plan.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hyperlm plan --model PRESET|CONFIG --tokens D --cluster SPEC [options]\n"
            "       hyperlm plan --validate [--json]\n"
            "       hyperlm plan --list\n\n"
            "Plans training a model on a GPU cluster: parameters, training FLOPs (6ND + attention), memory\n"
            "per GPU (model states under ZeRO 0-3, activations with and without recomputation), the fastest\n"
            "tensor x pipeline x data parallel layout that fits, its MFU and the wall-clock time.\n\n"
            "required:\n"
            "  --model M          planner preset (megatron-1t, lm-600b, hyperclova-204b, lm-150b,\n"
            "                     hyperclova-82b), any model preset (gpt3-175b, llama-70b, ...), a\n"
            "                     config.json or a folder holding one\n"
            "  --tokens D         training tokens: 300e9, 300B, 1.4T (K, M, B or G, T suffixes)\n"
            "  --cluster SPEC     1024xA100-80GB, A100-80GB:1024, 3072xa100 (A100 = 80GB), 512xH100,\n"
            "                     64xH200, A100-40GB:256, or an aggregate peak 95.7PFLOPS[@GPU]\n"
            "                     (FLOPS or FLOP/s with k M G T P E; the GPU, A100-80GB by default,\n"
            "                     sizes memory and the count)\n"
            "options:\n"
            "  --global-batch N   sequences per iteration (default: the published run's for the\n"
            "                     planner presets, 1536 for gpt3-175b, else about 4M tokens)\n"
            "  --global-batch-tokens T  the same in tokens (4M, 4194304)\n"
            "  --seq S            tokens per sequence (default 2048, or the model's context if shorter)\n"
            "  --mfu X            wall-clock at an assumed MFU X (0 < X <= 1) besides the computed one\n"
            "  --tp N  --pp N  --micro-batch N  --zero 0..3\n"
            "                     fix part of the layout instead of searching it\n"
            "  --recompute R      none, selective or full (default: search all three)\n"
            "  --no-sequence-parallel\n"
            "  --usable F         share of GPU memory the estimate may fill (default 0.9)\n"
            "  --efficiency F     framework efficiency (default: calibrated on Megatron-LM's Table 1)\n"
            "  --json             machine-readable output\n"
            "  --validate         compare the planner with published runs\n"
            "  --list             the GPU table and the planner presets\n"
            "  -h, --help         this help\n\n"
            "Formulas, sources and limitations: docs/planner.md\n");
}

static int bad(const char *fmt, const char *arg)
{
    return cli_usage_error("plan", fmt, arg);
}

/* 300e9, 300B, 1.4T, 4M: a positive number with an optional K/M/B/G/T suffix */
static int parse_amount(const char *flag, const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || errno) goto fail;
    static const struct {
        char c;
        double scale;
    } suffix[] = {{'k', 1e3}, {'m', 1e6}, {'b', 1e9}, {'g', 1e9}, {'t', 1e12}};
    if (*end) {
        size_t i = 0;
        for (; i < sizeof suffix / sizeof *suffix; i++)
            if ((*end | 32) == suffix[i].c) break;
        if (i == sizeof suffix / sizeof *suffix || end[1]) goto fail;
        x *= suffix[i].scale;
    }
    if (!(x > 0) || !isfinite(x) || x > 1e18) goto fail;
    *out = x;
    return 1;
fail:
    fprintf(stderr, "hyperlm: error: %s: expected a positive number such as 300e9, 300B or 1.4T, got '%s'\n", flag,
            v ? v : "");
    return 0;
}

static int parse_fraction(const char *flag, const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || errno || !(x > 0 && x <= 1)) {
        fprintf(stderr, "hyperlm: error: %s: expected a number in (0, 1], got '%s'\n", flag, v ? v : "");
        return 0;
    }
    *out = x;
    return 1;
}

/* ---- formatting ---- */

static const char *gb(double bytes, char *buf, size_t n)
{
    double g = bytes / 1073741824.0;
    snprintf(buf, n, g < 10 ? "%.2f GiB" : "%.1f GiB", g);
    return buf;
}

/* 450e9 -> "450.0B" (counts: K, M, B, T) */
static const char *count(double v, char *buf, size_t n)
{
    static const char *prefix[] = {"", "K", "M", "B", "T", "Q"};
    int p = 0;
    while (fabs(v) >= 999.95 && p < 5) {
        v /= 1000;
        p++;
    }
    snprintf(buf, n, p ? "%.1f%s" : "%.0f%s", v, prefix[p]);
    return buf;
}

static const char *si(double v, const char *unit, char *buf, size_t n)
{
    static const char *prefix[] = {"", "K", "M", "G", "T", "P", "E", "Z", "Y"};
    int p = 0;
    while (fabs(v) >= 999.95 && p < 8) {
        v /= 1000;
        p++;
    }
    snprintf(buf, n, "%.2f %s%s", v, prefix[p], unit);
    return buf;
}

static const char *duration(double s, char *buf, size_t n)
{
    if (s >= 86400 * 2)
        snprintf(buf, n, "%.1f days", s / 86400);
    else if (s >= 7200)
        snprintf(buf, n, "%.1f hours", s / 3600);
    else
        snprintf(buf, n, "%.0f s", s);
    return buf;
}

static const char *layout_str(const hlm_layout *l, char *buf, size_t n)
{
    snprintf(buf, n, "TP %d x PP %d x DP %d, micro-batch %d, ZeRO-%d, %s, %s recomputation", l->tp, l->pp, l->dp,
             l->micro_batch, l->zero, l->sp ? "sequence parallel" : "no sequence parallelism",
             l->recompute == HLM_RECOMPUTE_NONE ? "no" : hlm_recompute_name(l->recompute));
    return buf;
}

static cJSON *eval_json(const hlm_plan_eval *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *l = cJSON_AddObjectToObject(o, "layout");
    cJSON_AddNumberToObject(l, "tp", e->layout.tp);
    cJSON_AddNumberToObject(l, "pp", e->layout.pp);
    cJSON_AddNumberToObject(l, "dp", e->layout.dp);
    cJSON_AddNumberToObject(l, "micro_batch", e->layout.micro_batch);
    cJSON_AddNumberToObject(l, "zero", e->layout.zero);
    cJSON_AddBoolToObject(l, "sequence_parallel", e->layout.sp);
    cJSON_AddStringToObject(l, "recompute", hlm_recompute_name(e->layout.recompute));
    cJSON *m = cJSON_AddObjectToObject(o, "memory_bytes_per_gpu");
    cJSON_AddNumberToObject(m, "weights", e->weights);
    cJSON_AddNumberToObject(m, "gradients", e->grads);
    cJSON_AddNumberToObject(m, "optimizer", e->optimizer);
    cJSON_AddNumberToObject(m, "activations", e->activations);
    cJSON_AddNumberToObject(m, "total", e->total_bytes);
    cJSON_AddBoolToObject(o, "fits", e->fits);
    cJSON *t = cJSON_AddObjectToObject(o, "iteration");
    cJSON_AddNumberToObject(t, "microbatches", e->microbatches);
    cJSON_AddNumberToObject(t, "slot_s", e->slot_s);
    cJSON_AddNumberToObject(t, "compute_s", e->compute_s);
    cJSON_AddNumberToObject(t, "elementwise_s", e->elementwise_s);
    cJSON_AddNumberToObject(t, "tp_comm_s", e->tp_comm_s);
    cJSON_AddNumberToObject(t, "pp_comm_s", e->pp_comm_s);
    cJSON_AddNumberToObject(t, "bubble_s", e->bubble_s);
    cJSON_AddNumberToObject(t, "dp_comm_s", e->dp_comm_s);
    cJSON_AddNumberToObject(t, "optimizer_s", e->optimizer_s);
    cJSON_AddNumberToObject(t, "iter_s", e->iter_s);
    cJSON_AddNumberToObject(o, "mfu", e->mfu);
    cJSON_AddNumberToObject(o, "megatron_flops_per_s", e->megatron_flops_per_s);
    cJSON_AddNumberToObject(o, "tokens_per_s", e->tokens_per_s);
    cJSON_AddNumberToObject(o, "gpus_used", (double)e->gpus_used);
    return o;
}

static int print_json(cJSON *o)
{
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        fprintf(stderr, "hyperlm: error: out of memory\n");
        return CLI_FAIL;
    }
    puts(text);
    cJSON_free(text);
    return CLI_OK;
}

/* ---- --list ---- */

static int list(void)
{
    int n;
    const hlm_gpu *g = hlm_gpu_table(&n);
    printf("%-10s %14s %9s %11s %13s %14s %9s\n", "GPU", "bf16 TFLOP/s", "memory", "HBM GB/s", "NVLink GB/s",
           "network GB/s", "matmul");
    for (int i = 0; i < n; i++)
        printf("%-10s %14.1f %6.0f GB %11.0f %13.0f %14.0f %8.1f%%\n", g[i].name, g[i].peak_flops / 1e12,
               g[i].hbm_bytes / 1e9, g[i].hbm_bytes_per_s / 1e9, g[i].nvlink_bytes_per_s / 1e9,
               g[i].network_bytes_per_s / 1e9, 100 * g[i].matmul_efficiency);
    printf("(NVLink and network per GPU, one direction; matmul: measured achievable share of peak)\n\n");
    printf("%-16s %18s  %s\n", "planner preset", "parameters", "shape and source");
    const char *const *names = hlm_plan_preset_names();
    for (int i = 0; names[i]; i++) {
        hlm_model_config c;
        hlm_error err;
        if (hlm_plan_model_resolve(names[i], &c, &err)) return cli_report(&err);
        printf("%-16s %18.0f  L%d d%d H%d V%d; %s\n", names[i], (double)hlm_config_num_params(&c), c.n_layer,
               c.d_model, c.n_head, c.vocab_size, hlm_plan_preset_source(names[i]));
    }
    return CLI_OK;
}

/* ---- --validate ---- */

static int validate(int json)
{
    hlm_plan_check checks[HLM_PLAN_CHECKS];
    hlm_error err;
    if (hlm_plan_validate(checks, &err)) return cli_report(&err);
    int n_rows, failed = 0;
    const hlm_megatron_row *rows = hlm_plan_megatron_rows(&n_rows);
    double eff = hlm_plan_calibrate();
    cJSON *o = json ? cJSON_CreateObject() : NULL;
    cJSON *jc = o ? cJSON_AddArrayToObject(o, "checks") : NULL;
    if (!json) {
        printf("planner vs published runs\n\n");
        printf("%-44s %-42s %12s %12s %8s %6s  %s\n", "run", "quantity", "published", "predicted", "error", "held",
               "source");
    }
    for (int i = 0; i < HLM_PLAN_CHECKS; i++) {
        const hlm_plan_check *c = &checks[i];
        double rel = c->predicted / c->published - 1;
        int held = c->tolerance > 0, ok = !held || fabs(rel) <= c->tolerance;
        failed += !ok;
        if (json) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "run", c->name);
            cJSON_AddStringToObject(x, "quantity", c->quantity);
            cJSON_AddStringToObject(x, "unit", c->unit);
            cJSON_AddStringToObject(x, "source", c->source);
            cJSON_AddNumberToObject(x, "published", c->published);
            cJSON_AddNumberToObject(x, "predicted", c->predicted);
            cJSON_AddNumberToObject(x, "relative_error", rel);
            cJSON_AddNumberToObject(x, "tolerance", c->tolerance);
            cJSON_AddBoolToObject(x, "ok", ok);
            if (c->note) cJSON_AddStringToObject(x, "note", c->note);
            if (c->has_eval) cJSON_AddItemToObject(x, "plan", eval_json(&c->eval));
            cJSON_AddItemToArray(jc, x);
            continue;
        }
        char p[32], q[32], lay[200];
        snprintf(p, sizeof p, "%.4g %s", c->published, c->unit);
        snprintf(q, sizeof q, "%.4g %s", c->predicted, c->unit);
        printf("%-44s %-42s %12s %12s %+7.1f%% %6s  %s\n", c->name, c->quantity, p, q, 100 * rel,
               !held ? "info" : ok ? "ok" : "FAIL", c->source);
        if (held) printf("%44s tolerance %.0f%%\n", "", 100 * c->tolerance);
        if (c->has_eval) printf("%44s %s\n", "", layout_str(&c->eval.layout, lay, sizeof lay));
        if (c->note) printf("%44s note: %s\n", "", c->note);
    }
    if (json) {
        cJSON_AddNumberToObject(o, "framework_efficiency", eff);
        cJSON *jr = cJSON_AddArrayToObject(o, "megatron_table1");
        for (int i = 0; i < n_rows; i++) {
            hlm_plan_eval e;
            double raw, cal;
            if (hlm_plan_megatron_row_eval(&rows[i], 1.0, &e, &raw, &err) ||
                hlm_plan_megatron_row_eval(&rows[i], eff, &e, &cal, &err)) {
                cJSON_Delete(o);
                return cli_report(&err);
            }
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "params_b", rows[i].params_b);
            cJSON_AddNumberToObject(x, "gpus", rows[i].gpus);
            cJSON_AddNumberToObject(x, "published_tflops_per_gpu", rows[i].tflops_per_gpu);
            cJSON_AddNumberToObject(x, "modelled_tflops_per_gpu", raw);
            cJSON_AddNumberToObject(x, "predicted_tflops_per_gpu", cal);
            cJSON_AddBoolToObject(x, "held_out", rows[i].params_b >= 1000);
            cJSON_AddItemToArray(jr, x);
        }
        cJSON_AddNumberToObject(o, "failed", failed);
        int rc = print_json(o);
        return rc ? rc : failed ? CLI_FAIL : CLI_OK;
    }
    printf("\ncalibration: Narayanan et al. 2021, Table 1 (A100-80GB, full recomputation; TFLOP/s per GPU by\n"
           "Megatron's count). 'model' is the planner at framework efficiency 1; the factor is the geometric\n"
           "mean of published / model over the rows below 1T; the 1T row is held out.\n\n");
    printf("%9s %6s %4s %4s %7s %10s %8s %8s %8s\n", "params", "GPUs", "TP", "PP", "batch", "published", "model",
           "ratio", "planner");
    for (int i = 0; i < n_rows; i++) {
        hlm_plan_eval e;
        double raw, cal;
        if (hlm_plan_megatron_row_eval(&rows[i], 1.0, &e, &raw, &err) ||
            hlm_plan_megatron_row_eval(&rows[i], eff, &e, &cal, &err))
            return cli_report(&err);
        printf("%8.1fB %6d %4d %4d %7d %10.0f %8.1f %8.3f %8.1f%s\n", rows[i].params_b, rows[i].gpus, rows[i].tp,
               rows[i].pp, rows[i].batch, rows[i].tflops_per_gpu, raw, rows[i].tflops_per_gpu / raw, cal,
               rows[i].params_b >= 1000 ? "  (held out)" : "");
    }
    printf("framework efficiency %.3f\n", eff);
    if (failed) printf("\n%d check(s) outside their tolerance\n", failed);
    return failed ? CLI_FAIL : CLI_OK;
}

/* ---- the plan ---- */

typedef struct plan_args {
    const char *model, *cluster;
    double tokens, batch, batch_tokens, mfu, usable, efficiency;
    unsigned long long seq;
    int json;
} plan_args;

static int run_plan(const plan_args *a, hlm_plan_input *in)
{
    hlm_error err;
    if (hlm_plan_model_resolve(a->model, &in->cfg, &err)) return cli_report(&err);
    if (hlm_cluster_parse(a->cluster, &in->cluster, &err)) {
        hlm_error_prefix(&err, "--cluster: ");
        return cli_report(&err);
    }
    const hlm_model_config *c = &in->cfg;
    in->seq = a->seq ? (int)a->seq : (c->max_seq < 2048 ? c->max_seq : 2048);
    if (in->seq > c->max_seq) {
        fprintf(stderr, "hyperlm: error: --seq %d is longer than the model's context (%d)\n", in->seq, c->max_seq);
        return CLI_USAGE;
    }
    in->tokens = a->tokens;
    in->global_batch = a->batch ? a->batch
                       : a->batch_tokens ? ceil(a->batch_tokens / in->seq)
                                         : hlm_plan_default_batch(a->model, in->seq);
    if (a->usable) in->usable_fraction = a->usable;
    if (a->efficiency) in->framework_efficiency = a->efficiency;
    hlm_plan_eval best;
    long searched = 0;
    if (hlm_plan_search(in, &best, &searched, &err)) return cli_report(&err);

    const hlm_gpu *g = &in->cluster.gpu;
    double tokens_per_iter = in->global_batch * in->seq, iters = ceil(in->tokens / tokens_per_iter);
    hlm_plan_flops f = hlm_plan_training_flops(c, in->seq, in->tokens, in->global_batch);
    double train_s = in->tokens / best.tokens_per_s;
    double assumed_s = a->mfu ? f.total / (a->mfu * (double)in->cluster.n_gpus * g->peak_flops) : 0;
    const char *source = hlm_plan_preset_source(a->model);
    /* model states per GPU under ZeRO 0-3 for a few layouts: data parallel only, tensor parallel
     * within a node, and the chosen one */
    struct {
        int tp, pp;
    } layouts[3] = {{1, 1}, {g->gpus_per_node, 1}, {best.layout.tp, best.layout.pp}};
    int n_layouts = 0;
    for (int i = 0; i < 3; i++) {
        int t = layouts[i].tp, p = layouts[i].pp, dup = 0;
        for (int j = 0; j < n_layouts; j++) dup |= layouts[j].tp == t && layouts[j].pp == p;
        if (dup || c->n_head % t || (long)t * p > in->cluster.n_gpus) continue;
        layouts[n_layouts++] = layouts[i];
    }
    int t = best.layout.tp, sp = best.layout.sp, b = best.layout.micro_batch;
    double act[3];
    for (int r = 0; r < 3; r++) act[r] = hlm_plan_layer_activation_bytes(c, in->seq, b, t, sp, (hlm_recompute)r);
    double lps = (double)c->n_layer / best.layout.pp;
    double inflight = best.layout.pp < best.microbatches ? best.layout.pp : best.microbatches;

    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", a->model);
        if (source) cJSON_AddStringToObject(o, "model_source", source);
        cJSON_AddNumberToObject(o, "parameters", f.params);
        cJSON *sh = cJSON_AddObjectToObject(o, "shape");
        cJSON_AddNumberToObject(sh, "layers", c->n_layer);
        cJSON_AddNumberToObject(sh, "d_model", c->d_model);
        cJSON_AddNumberToObject(sh, "heads", c->n_head);
        cJSON_AddNumberToObject(sh, "d_ff", c->d_ff);
        cJSON_AddNumberToObject(sh, "vocab", c->vocab_size);
        cJSON_AddNumberToObject(sh, "seq", in->seq);
        cJSON *cl = cJSON_AddObjectToObject(o, "cluster");
        cJSON_AddStringToObject(cl, "gpu", g->name);
        cJSON_AddNumberToObject(cl, "gpus", (double)in->cluster.n_gpus);
        cJSON_AddNumberToObject(cl, "peak_flops", in->cluster.aggregate_flops);
        cJSON_AddNumberToObject(o, "tokens", in->tokens);
        cJSON_AddNumberToObject(o, "global_batch_sequences", in->global_batch);
        cJSON_AddNumberToObject(o, "iterations", iters);
        cJSON *fl = cJSON_AddObjectToObject(o, "training_flops");
        cJSON_AddNumberToObject(fl, "dense_6nd", f.dense);
        cJSON_AddNumberToObject(fl, "attention", f.attention);
        cJSON_AddNumberToObject(fl, "total", f.total);
        cJSON_AddNumberToObject(fl, "megatron_per_iteration", f.megatron_per_iter);
        cJSON *ms = cJSON_AddArrayToObject(o, "model_states_bytes_per_gpu");
        for (int i = 0; i < n_layouts; i++) {
            int lt = layouts[i].tp, lp = layouts[i].pp;
            int d = (int)(in->cluster.n_gpus / ((long)lt * lp));
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "tp", lt);
            cJSON_AddNumberToObject(x, "pp", lp);
            cJSON_AddNumberToObject(x, "dp", d);
            cJSON *z = cJSON_AddArrayToObject(x, "zero");
            for (int k = 0; k <= 3; k++) {
                double w, gr, op;
                hlm_plan_state_bytes(hlm_plan_stage_params(c, lt, lp), k, d, &w, &gr, &op);
                cJSON_AddItemToArray(z, cJSON_CreateNumber(w + gr + op));
            }
            cJSON_AddItemToArray(ms, x);
        }
        cJSON *ac = cJSON_AddObjectToObject(o, "activation_bytes_per_layer");
        for (int r = 0; r < 3; r++) cJSON_AddNumberToObject(ac, hlm_recompute_name((hlm_recompute)r), act[r]);
        cJSON_AddItemToObject(o, "plan", eval_json(&best));
        cJSON_AddNumberToObject(o, "layouts_searched", (double)searched);
        cJSON_AddNumberToObject(o, "framework_efficiency", in->framework_efficiency);
        cJSON_AddNumberToObject(o, "training_seconds", train_s);
        if (a->mfu) {
            cJSON_AddNumberToObject(o, "assumed_mfu", a->mfu);
            cJSON_AddNumberToObject(o, "training_seconds_at_assumed_mfu", assumed_s);
        }
        return print_json(o);
    }

    char x[64], y[64], z[64], w[64], lay[200];
    printf("model          %s%s%s%s\n", a->model, source ? " (" : "", source ? source : "", source ? ")" : "");
    printf("shape          %d layers, d_model %d, %d heads, d_ff %d, vocabulary %d, sequence %d\n", c->n_layer,
           c->d_model, c->n_head, c->d_ff, c->vocab_size, in->seq);
    printf("parameters     %.0f (%s)\n", f.params, count(f.params, x, sizeof x));
    printf("cluster        %ld x %s = %s peak bf16", in->cluster.n_gpus, g->name,
           si((double)in->cluster.n_gpus * g->peak_flops, "FLOP/s", x, sizeof x));
    if (in->cluster.from_aggregate)
        printf(" (from %s)", si(in->cluster.aggregate_flops, "FLOP/s", y, sizeof y));
    printf("\n               per GPU %s, %s, NVLink %.0f GB/s, network %.0f GB/s\n", si(g->peak_flops, "FLOP/s", x, sizeof x),
           gb(g->hbm_bytes, y, sizeof y), g->nvlink_bytes_per_s / 1e9, g->network_bytes_per_s / 1e9);
    printf("tokens         %s, global batch %.0f x %d = %s tokens, %.0f iterations\n", count(in->tokens, x, sizeof x),
           in->global_batch, in->seq, count(tokens_per_iter, y, sizeof y), iters);

    printf("\ntraining FLOPs\n");
    printf("  6ND                          %.3e\n", f.dense);
    printf("  attention 12 L h s D         %.3e\n", f.attention);
    printf("  total                        %.3e\n", f.total);
    printf("  Megatron 96 B s L h^2 (1 + s/6h + V/16Lh): %.3e per iteration, %.3e in all (counts the\n"
           "  recomputed forward)\n",
           f.megatron_per_iter, f.megatron_per_iter * iters);

    printf("\nmodel states per GPU, heaviest pipeline stage (bf16 weights 2 + bf16 gradients 2 + fp32\n"
           "master weights and Adam m, v 12 = 16 bytes per parameter; ZeRO partitions over DP)\n");
    printf("  %-20s %12s %12s %12s %12s\n", "TP x PP x DP", "ZeRO-0", "ZeRO-1", "ZeRO-2", "ZeRO-3");
    for (int i = 0; i < n_layouts; i++) {
        int lt = layouts[i].tp, lp = layouts[i].pp;
        int d = (int)(in->cluster.n_gpus / ((long)lt * lp));
        char name[40];
        snprintf(name, sizeof name, "%d x %d x %d", lt, lp, d);
        printf("  %-20s", name);
        for (int k = 0; k <= 3; k++) {
            double wt, gr, op;
            hlm_plan_state_bytes(hlm_plan_stage_params(c, lt, lp), k, d, &wt, &gr, &op);
            printf(" %12s", gb(wt + gr + op, x, sizeof x));
        }
        printf("\n");
    }
    printf("\nactivations (Korthikanti et al. 2022, Table 2) at TP %d%s, micro-batch %d\n", t,
           sp ? " with sequence parallelism" : "", b);
    printf("  %-12s %14s %30s\n", "recompute", "per layer", "first stage (L/p x min(p, m))");
    for (int r = 0; r < 3; r++)
        printf("  %-12s %14s %30s\n", hlm_recompute_name((hlm_recompute)r), gb(act[r], x, sizeof x),
               gb(act[r] * lps * inflight + (r == HLM_RECOMPUTE_FULL ? act[0] : 0), y, sizeof y));

    printf("\nfastest layout that fits (%ld layouts searched)\n", searched);
    printf("  %s\n", layout_str(&best.layout, lay, sizeof lay));
    printf("  %d micro-batches per iteration per pipeline, %ld GPUs used\n", best.microbatches, best.gpus_used);
    printf("  memory per GPU: weights %s, gradients %s, optimizer %s, activations %s\n", gb(best.weights, x, sizeof x),
           gb(best.grads, y, sizeof y), gb(best.optimizer, z, sizeof z), gb(best.activations, w, sizeof w));
    printf("                  total %s of %s (%.0f%% usable)\n", gb(best.total_bytes, x, sizeof x),
           gb(g->hbm_bytes, y, sizeof y), 100 * in->usable_fraction);
    printf("  iteration %.2f s: per micro-batch %.3f s (matmul %.3f, element-wise %.3f, TP %.3f, PP %.4f)\n",
           best.iter_s, best.slot_s, best.compute_s, best.elementwise_s, best.tp_comm_s, best.pp_comm_s);
    printf("                  x %d + bubble %.2f s, DP exposed %.3f s, optimizer %.3f s; / framework %.3f\n",
           best.microbatches, best.bubble_s, best.dp_comm_s, best.optimizer_s, in->framework_efficiency);
    printf("  MFU %.1f%%, %s tokens/s (%.0f per GPU), %s aggregate\n", 100 * best.mfu,
           count(best.tokens_per_s, x, sizeof x), best.tokens_per_s / (double)best.gpus_used,
           si(best.mfu * (double)best.gpus_used * g->peak_flops, "FLOP/s", y, sizeof y));
    printf("\nwall-clock for %s tokens: %s at the computed MFU %.1f%%\n", count(in->tokens, x, sizeof x),
           duration(train_s, y, sizeof y), 100 * best.mfu);
    if (a->mfu)
        printf("                          %s at the assumed MFU %.1f%% (all %ld GPUs)\n",
               duration(assumed_s, y, sizeof y), 100 * a->mfu, in->cluster.n_gpus);
    return CLI_OK;
}

int cli_plan(int argc, char **argv)
{
    plan_args a = {0};
    hlm_plan_input in;
    hlm_plan_input_default(&in);
    int do_validate = 0, do_list = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        unsigned long long u;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(arg, "--json")) {
            a.json = 1;
        } else if (!strcmp(arg, "--validate")) {
            do_validate = 1;
        } else if (!strcmp(arg, "--list")) {
            do_list = 1;
        } else if (!strcmp(arg, "--no-sequence-parallel")) {
            in.sp = 0;
        }
#define VALUE(flag) (cli_flag_is(arg, flag) && (v = cli_flag_value("plan", argc, argv, &i, flag)) != NULL)
#define MISSING(flag) (cli_flag_is(arg, flag))
        else if (VALUE("--model")) a.model = v;
        else if (VALUE("--cluster")) a.cluster = v;
        else if (VALUE("--tokens")) {
            if (!parse_amount("--tokens", v, &a.tokens)) return CLI_USAGE;
        } else if (VALUE("--global-batch-tokens")) {
            if (!parse_amount("--global-batch-tokens", v, &a.batch_tokens)) return CLI_USAGE;
        } else if (VALUE("--global-batch")) {
            if (!cli_parse_u64("--global-batch", v, 1ull << 30, &u)) return CLI_USAGE;
            if (!u) return bad("%s: expected a positive number of sequences", "--global-batch");
            a.batch = (double)u;
        } else if (VALUE("--seq")) {
            if (!cli_parse_u64("--seq", v, 1 << 24, &a.seq)) return CLI_USAGE;
            if (!a.seq) return bad("%s: expected a positive integer", "--seq");
        } else if (VALUE("--mfu")) {
            if (!parse_fraction("--mfu", v, &a.mfu)) return CLI_USAGE;
        } else if (VALUE("--usable")) {
            if (!parse_fraction("--usable", v, &a.usable)) return CLI_USAGE;
        } else if (VALUE("--efficiency")) {
            if (!parse_fraction("--efficiency", v, &a.efficiency)) return CLI_USAGE;
        } else if (VALUE("--tp")) {
            if (!cli_parse_u64("--tp", v, 8, &u)) return CLI_USAGE;
            if (u != 1 && u != 2 && u != 4 && u != 8) return bad("%s: expected 1, 2, 4 or 8", "--tp");
            in.tp = (int)u;
        } else if (VALUE("--pp")) {
            if (!cli_parse_u64("--pp", v, 4096, &u)) return CLI_USAGE;
            if (!u) return bad("%s: expected a positive integer that divides the layers", "--pp");
            in.pp = (int)u;
        } else if (VALUE("--micro-batch")) {
            if (!cli_parse_u64("--micro-batch", v, 16, &u)) return CLI_USAGE;
            if (u != 1 && u != 2 && u != 4 && u != 8 && u != 16)
                return bad("%s: expected 1, 2, 4, 8 or 16", "--micro-batch");
            in.micro_batch = (int)u;
        } else if (VALUE("--zero")) {
            if (!cli_parse_u64("--zero", v, 3, &u)) return CLI_USAGE;
            in.zero = (int)u;
        } else if (VALUE("--recompute")) {
            int r = !strcmp(v, "none") ? 0 : !strcmp(v, "selective") ? 1 : !strcmp(v, "full") ? 2 : -1;
            if (r < 0) {
                fprintf(stderr, "hyperlm: error: --recompute: expected none, selective or full, got '%s'\n", v);
                return CLI_USAGE;
            }
            in.recompute_mask = 1u << r;
        } else if (MISSING("--model") || MISSING("--cluster") || MISSING("--tokens") || MISSING("--global-batch") ||
                   MISSING("--global-batch-tokens") || MISSING("--seq") || MISSING("--mfu") ||
                   MISSING("--usable") || MISSING("--efficiency") || MISSING("--tp") || MISSING("--pp") ||
                   MISSING("--micro-batch") || MISSING("--zero") || MISSING("--recompute")) {
            return CLI_USAGE; /* cli_flag_value printed "missing value" */
        } else {
            return bad("unknown option '%s'", arg);
        }
#undef VALUE
#undef MISSING
    }
    if (do_list) return list();
    if (do_validate) return validate(a.json);
    if (!a.model) return bad("%s", "--model is required (a preset, a config.json or a folder holding one)");
    if (!a.tokens) return bad("%s", "--tokens is required (training tokens, such as 300B)");
    if (!a.cluster) return bad("%s", "--cluster is required (such as 1024xA100-80GB or 95.7PFLOPS@A100-80GB)");
    if (a.batch && a.batch_tokens) return bad("%s", "--global-batch and --global-batch-tokens exclude each other");
    return run_plan(&a, &in);
}
