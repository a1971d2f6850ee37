/* hyperlm eval: perplexity and bits per byte of a checkpoint on a text or a token shard, and
 * accuracy on multiple-choice tasks, through the inference engine with f32 and/or quantized
 * weights (src/infer/eval.h has the definitions). The model is loaded once; one engine per
 * weight type reads it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/shard.h"
#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "hyperlm/tokenizer.h"
#include "infer/eval.h"
#include "infer/gguf_model.h"
#include "model/checkpoint.h"
#include "model/gemm.h"
#include "text/record.h"

enum { MAX_QUANTS = 3 };

static int add_quant(const char *v, hlm_qtype *qs, int *nq)
{
    static const hlm_qtype all[] = {HLM_QT_F32, HLM_QT_Q8_0, HLM_QT_Q4_0};
    hlm_qtype t[MAX_QUANTS];
    int n = 0;
    if (!strcmp(v, "all")) {
        for (int i = 0; i < MAX_QUANTS; i++) t[n++] = all[i];
    } else {
        hlm_error err = {0};
        if (hlm_qtype_from_name(v, &t[0], &err) != HLM_OK || (t[0] != HLM_QT_F32 && t[0] != HLM_QT_Q8_0 && t[0] != HLM_QT_Q4_0))
            return 0;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < *nq; j++) seen |= qs[j] == t[i];
        if (!seen) qs[(*nq)++] = t[i];
    }
    return 1;
}

/* The token that starts a text: <|endoftext|> when the tokenizer has it, else the model's BOS or
 * EOS; -1 when there is none. */
static int32_t start_token(const hlm_tokenizer *tok, const hlm_model_config *c)
{
    uint32_t id;
    if (hlm_tokenizer_token_id(tok, "<|endoftext|>", 13, &id)) return (int32_t)id;
    if (c->bos_token_id >= 0) return c->bos_token_id;
    return c->eos_token_id;
}

typedef struct stream {
    int32_t *t;
    size_t n;
    uint64_t bytes;
} stream;

static hlm_status load_text(const char *path, const hlm_tokenizer *tok, int32_t start, stream *s, hlm_error *err)
{
    hlm_buf b = {0};
    hlm_ids ids = {0};
    hlm_status st = hlm_file_read_all(path, &b, err);
    if (st == HLM_OK && b.len == 0) st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: the text is empty", path);
    if (st == HLM_OK) st = hlm_tokenizer_encode(tok, b.data, b.len, 0, &ids, err);
    if (st == HLM_OK) {
        s->t = malloc(sizeof(int32_t) * (ids.len + 1));
        if (!s->t) st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
    }
    if (st == HLM_OK) {
        /* with a start token in front every token of the text is a scored target */
        if (start >= 0) s->t[s->n++] = start;
        for (size_t i = 0; i < ids.len; i++) s->t[s->n++] = (int32_t)ids.data[i];
    }
    hlm_ids_free(&ids);
    hlm_buf_free(&b);
    return st;
}

static hlm_status load_shard(const char *path, stream *s, hlm_error *err)
{
    hlm_shard *sh = NULL;
    hlm_status st = hlm_shard_open(path, 1, &sh, err);
    if (st != HLM_OK) return st;
    s->n = hlm_shard_n_tokens(sh);
    s->t = malloc(sizeof(int32_t) * (s->n ? s->n : 1));
    if (!s->t) st = hlm_errorf(err, HLM_ERR_NOMEM, "out of memory for %zu tokens", s->n);
    else hlm_shard_copy_i32(sh, 0, s->n, s->t);
    hlm_shard_close(sh);
    return st;
}

int cli_eval(int argc, char **argv)
{
    const char *dir = NULL, *text = NULL, *shard = NULL, *task_path = NULL, *fewshot_path = NULL, *tok_path = NULL;
    unsigned long long ctx_len = 0, stride = 0, max_tokens = 0, shots = 0, threads = 0;
    int json = 0, nq = 0;
    hlm_qtype qs[MAX_QUANTS];
    int nq_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm eval -m DIR|FILE.gguf [--quant f32|q8_0|q4_0|all]... [--text FILE | --shard FILE]\n"
                   "                    [--task FILE.jsonl [--shots K] [--fewshot FILE.jsonl]] [--ctx N] [--stride N]\n"
                   "                    [--max-tokens N] [-t TOKENIZER] [--threads N] [--json]\n\n"
                   "Evaluates the checkpoint DIR with the inference engine, once per weight type (--quant may\n"
                   "repeat; default f32), or a GGUF file in the types it stores, with its tokenizer. --text/--shard: perplexity over windows of the context (--ctx,\n"
                   "default the model's), moving by --stride (default the context; a smaller stride scores\n"
                   "only the new tokens of each window), and bits per byte = NLL / ln 2 / UTF-8 bytes, which\n"
                   "compares across tokenizers; a text is scored after an <|endoftext|>. --max-tokens scores\n"
                   "at most N tokens. --task: JSONL lines {\"context\": ..., \"choices\": [...], \"label\": k},\n"
                   "each choice scored by the log-likelihood of its tokens after the context (accuracy, and\n"
                   "per byte of the choice: acc_norm); --shots K puts K solved examples (from the start of\n"
                   "the task file, then not scored, or of --fewshot) before each. The tokenizer is DIR's\n"
                   "tokenizer.json unless -t. --json: one JSON object per row.\n");
            return CLI_OK;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_usage_error("eval", "unknown flag or missing value: '%s'", a);
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--text")) text = v;
        else if (!strcmp(a, "--shard")) shard = v;
        else if (!strcmp(a, "--task")) task_path = v;
        else if (!strcmp(a, "--fewshot")) fewshot_path = v;
        else if (!strcmp(a, "--quant")) {
            nq_set = 1;
            if (!add_quant(v, qs, &nq))
                return cli_usage_error("eval", "--quant: expected f32, q8_0, q4_0 or all, got '%s'", v);
        } else if (!strcmp(a, "--ctx")) {
            if (!cli_parse_u64("--ctx", v, 1 << 24, &ctx_len)) return CLI_USAGE;
        } else if (!strcmp(a, "--stride")) {
            if (!cli_parse_u64("--stride", v, 1 << 24, &stride)) return CLI_USAGE;
        } else if (!strcmp(a, "--max-tokens")) {
            if (!cli_parse_u64("--max-tokens", v, ~0ull, &max_tokens)) return CLI_USAGE;
        } else if (!strcmp(a, "--shots")) {
            if (!cli_parse_u64("--shots", v, 1 << 20, &shots)) return CLI_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_u64("--threads", v, 4096, &threads)) return CLI_USAGE;
        } else {
            return cli_usage_error("eval", "unknown flag '%s'", a);
        }
    }
    if (!dir) return cli_usage_error("eval", "%s is required", "-m DIR");
    if (text && shard) return cli_usage_error("eval", "%s: give one of them", "--text and --shard");
    if (!text && !shard && !task_path) return cli_usage_error("eval", "%s", "nothing to evaluate: give --text, --shard or --task");
    if ((shots || fewshot_path) && !task_path) return cli_usage_error("eval", "%s needs --task", shots ? "--shots" : "--fewshot");
    if (nq == 0) qs[nq++] = HLM_QT_F32; /* a GGUF file: replaced by its stored type */
    hlm_set_threads((int)threads);

    /* a GGUF file runs memory-mapped in its stored types, with its own tokenizer unless -t */
    int is_gguf = hlm_gguf_is_file(dir);
    if (is_gguf && nq_set)
        return cli_usage_error("eval", "--quant: %s is a GGUF file, which runs in the types it stores", dir);
    char tp[4200];
    if (!tok_path && !is_gguf) {
        snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
        tok_path = tp;
    }
    hlm_error err = {0};
    hlm_model *m = NULL;
    hlm_engine *gguf = NULL;
    hlm_tokenizer *tok = NULL;
    hlm_task task = {0}, fewshot = {0};
    stream s = {0};
    hlm_status st = is_gguf ? hlm_engine_open_gguf(dir, (int)ctx_len, &gguf, tok_path ? NULL : &tok, &err)
                            : hlm_checkpoint_load_model(dir, &m, &err);
    if (st == HLM_OK && !tok) st = hlm_tokenizer_load(tok_path, -1, &tok, &err);
    if (st == HLM_OK && gguf) qs[0] = hlm_engine_wtype(gguf);
    const hlm_model_config *c = st == HLM_OK ? (gguf ? hlm_engine_config(gguf) : hlm_model_config_of(m)) : NULL;
    int32_t start = c ? start_token(tok, c) : -1;
    if (st == HLM_OK && ctx_len > (unsigned long long)c->max_seq)
        st = hlm_errorf(&err, HLM_ERR_INVALID, "--ctx %llu exceeds the model's context of %d", ctx_len, c->max_seq);
    if (st == HLM_OK && stride > (ctx_len ? ctx_len : (unsigned long long)c->max_seq))
        st = hlm_errorf(&err, HLM_ERR_INVALID, "--stride %llu exceeds the context of %llu", stride,
                        ctx_len ? ctx_len : (unsigned long long)c->max_seq);
    if (st == HLM_OK && text) st = load_text(text, tok, start, &s, &err);
    if (st == HLM_OK && shard) st = load_shard(shard, &s, &err);
    if (st == HLM_OK && (text || shard)) {
        if (max_tokens && s.n > max_tokens + 1) s.n = (size_t)max_tokens + 1;
        if (s.n < 2) st = hlm_errorf(&err, HLM_ERR_FORMAT, "%s: %zu tokens; perplexity needs at least 2", text ? text : shard, s.n);
        if (st == HLM_OK) st = hlm_eval_token_bytes(tok, s.t + 1, s.n - 1, &s.bytes, &err);
    }
    if (st == HLM_OK && task_path) st = hlm_task_load(task_path, &task, &err);
    if (st == HLM_OK && fewshot_path) st = hlm_task_load(fewshot_path, &fewshot, &err);

    double f32_ppl = NAN;
    int header = 0;
    for (int q = 0; q < nq && st == HLM_OK; q++) {
        hlm_engine *e = gguf;
        if (!gguf) st = hlm_engine_create(m, qs[q], (int)ctx_len, &e, &err);
        const char *wn = hlm_qtype_name(qs[q]);
        if (st == HLM_OK && (text || shard)) {
            hlm_ppl_result r;
            st = hlm_eval_perplexity(e, s.t, s.n, (int)stride, &r, &err);
            if (st == HLM_OK) {
                r.bytes = s.bytes;
                double ppl = hlm_ppl_perplexity(&r);
                if (qs[q] == HLM_QT_F32 && !gguf) f32_ppl = ppl;
                double ratio = ppl / f32_ppl;
                if (json) {
                    printf("{\"weights\": \"%s\", \"tokens\": %llu, \"bytes\": %llu, \"nll\": %.6f, \"perplexity\": %.6f, "
                           "\"bits_per_byte\": %.6f",
                           wn, (unsigned long long)r.tokens, (unsigned long long)r.bytes, hlm_ppl_mean_nll(&r), ppl,
                           hlm_ppl_bits_per_byte(&r));
                    if (!isnan(ratio)) printf(", \"ppl_vs_f32\": %.6f", ratio);
                    printf("}\n");
                } else {
                    if (!header++)
                        printf("%-8s %10s %10s %12s %10s %8s\n", "weights", "tokens", "nll/token", "perplexity", "bits/byte",
                               "vs f32");
                    printf("%-8s %10llu %10.4f %12.4f %10.4f ", wn, (unsigned long long)r.tokens, hlm_ppl_mean_nll(&r), ppl,
                           hlm_ppl_bits_per_byte(&r));
                    if (isnan(ratio)) printf("%8s\n", "-");
                    else printf("%8.4f\n", ratio);
                }
            }
        }
        if (st == HLM_OK && task_path) {
            hlm_task_result r;
            st = hlm_eval_task(e, tok, &task, fewshot_path ? &fewshot : NULL, (int)shots, start, &r, &err);
            if (st == HLM_OK) {
                double n = (double)r.n;
                hlm_buf name = {0};
                if (!json)
                    printf("task %s, %s: %zu examples, %llu shots: accuracy %.4f, acc_norm %.4f (majority class %.4f)\n",
                           task_path, wn, r.n, shots, (double)r.correct / n, (double)r.correct_norm / n,
                           (double)r.majority / n);
                else if (hlm_json_escape_append(&name, (const uint8_t *)task_path, strlen(task_path)) != HLM_OK ||
                         hlm_buf_terminate(&name) != HLM_OK)
                    st = hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory");
                else
                    printf("{\"task\": %s, \"weights\": \"%s\", \"examples\": %zu, \"shots\": %llu, \"accuracy\": %.6f, "
                           "\"accuracy_norm\": %.6f, \"majority\": %.6f}\n",
                           (const char *)name.data, wn, r.n, shots, (double)r.correct / n, (double)r.correct_norm / n,
                           (double)r.majority / n);
                hlm_buf_free(&name);
            }
        }
        fflush(stdout);
        if (e != gguf) hlm_engine_free(e);
    }
    free(s.t);
    hlm_task_free(&task);
    hlm_task_free(&fewshot);
    hlm_tokenizer_free(tok);
    hlm_engine_free(gguf);
    hlm_model_free(m);
    return st == HLM_OK ? CLI_OK : cli_report(&err);
}
