/* hyperlm generate: a continuation of a prompt from a checkpoint through the inference engine
 * (KV cache; f32, Q8_0 or Q4_0 weights), streamed as tokens come. The prompt handling and the
 * output match `hyperlm sample` (prompt echoed, <|endoftext|> as the start of an empty prompt,
 * a newline at the end), so greedy output of the two is the same text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "hyperlm/log.h"
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"
#include "infer/gguf_model.h"
#include "model/gemm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_float(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "hyperlm: error: %s: expected a number in [%g, %g], got '%s' (see hyperlm generate --help)\n",
                flag, lo, hi, v);
        return 0;
    }
    *out = x;
    return 1;
}

int cli_generate(int argc, char **argv)
{
    const char *dir = NULL, *prompt = "", *tok_path = NULL, *quant = "f32";
    unsigned long long n = 64, seed = 1337, threads = 0, top_k = 40;
    double temperature = 0.8, top_p = 0.95;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm generate -m DIR|FILE.gguf [-p PROMPT] [-n N] [--temperature T] [--top-k K] [--top-p P]\n"
                   "                        [--seed S] [--quant f32|q8_0|q4_0] [-t TOKENIZER] [--threads N]\n\n"
                   "Streams a continuation of PROMPT (N tokens, default 64) from the checkpoint DIR with\n"
                   "the inference engine: a KV cache, weights as f32 or quantized when loaded. Temperature 0\n"
                   "is greedy (defaults: 0.8, top-k 40, top-p 0.95, seed 1337). The tokenizer is DIR's\n"
                   "tokenizer.json unless -t. A GGUF file (llama or gpt2 architecture, e.g. from `hyperlm\n"
                   "quantize` or llama.cpp's converter) is dequantized to f32 and brings its own tokenizer.\n"
                   "Prefill and decode speeds go to standard error (info level).\n");
            return CLI_OK;
        }
        if (!v) return cli_usage_error("generate", "unknown flag or missing value: '%s'", a);
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--quant")) quant = v;
        else if (!strcmp(a, "-n")) {
            if (!cli_parse_u64("-n", v, 1 << 20, &n)) return CLI_USAGE;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_u64("--seed", v, ~0ull, &seed)) return CLI_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_u64("--threads", v, 4096, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--top-k")) {
            if (!cli_parse_u64("--top-k", v, 1 << 30, &top_k)) return CLI_USAGE;
        } else if (!strcmp(a, "--temperature")) {
            if (!parse_float("--temperature", v, 0, 1e6, &temperature)) return CLI_USAGE;
        } else if (!strcmp(a, "--top-p")) {
            if (!parse_float("--top-p", v, 0, 1, &top_p)) return CLI_USAGE;
        } else {
            return cli_usage_error("generate", "unknown flag '%s'", a);
        }
    }
    if (!dir) return cli_usage_error("generate", "%s is required", "-m DIR");
    hlm_qtype wt;
    hlm_error err = {0};
    if (hlm_qtype_from_name(quant, &wt, &err) != HLM_OK || (wt != HLM_QT_F32 && wt != HLM_QT_Q8_0 && wt != HLM_QT_Q4_0))
        return cli_usage_error("generate", "--quant: expected f32, q8_0 or q4_0, got '%s'", quant);
    hlm_set_threads((int)threads);

    /* a GGUF file (llama.cpp's format) is imported with its tokenizer; -t still overrides it */
    int is_gguf = hlm_gguf_is_file(dir);
    char tp[4200];
    if (!tok_path && !is_gguf) {
        snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
        tok_path = tp;
    }
    hlm_tokenizer *tok = NULL;
    hlm_engine *e = NULL;
    hlm_model *gguf_model = NULL;
    hlm_ids ids = {0};
    hlm_buf out = {0};
    int32_t *ctx = NULL;
    float *scratch = NULL;
    double t0 = now_s();
    hlm_status s;
    if (is_gguf) {
        s = hlm_gguf_import(dir, &gguf_model, tok_path ? NULL : &tok, &err);
        if (s == HLM_OK) s = hlm_engine_create(gguf_model, wt, 0, &e, &err);
    } else {
        s = hlm_engine_load(dir, wt, 0, &e, &err);
    }
    if (s == HLM_OK && !tok) s = hlm_tokenizer_load(tok_path, -1, &tok, &err);
    if (s == HLM_OK) s = hlm_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &err);
    const hlm_model_config *c = s == HLM_OK ? hlm_engine_config(e) : NULL;
    size_t len = 0;
    if (s == HLM_OK) {
        ctx = malloc(sizeof(int32_t) * (ids.len + 2));
        scratch = malloc(sizeof(float) * 2 * (size_t)c->vocab_size);
        if (!ctx || !scratch) s = hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory");
    }
    if (s == HLM_OK) {
        uint32_t bos;
        if (hlm_tokenizer_bos(tok, &bos)) ctx[len++] = (int32_t)bos; /* the vocabulary asks for it (Llama's) */
        for (size_t i = 0; i < ids.len; i++) ctx[len++] = (int32_t)ids.data[i];
        if (len == 0) {
            /* no prompt: start from the end-of-text token when the tokenizer has one */
            uint32_t eot = 0;
            if (!hlm_tokenizer_token_id(tok, "<|endoftext|>", 13, &eot)) eot = 0;
            ctx[len++] = (int32_t)eot;
        }
        /* the last generated token is never fed back, so len + n - 1 positions are needed */
        if (len + n - 1 > (size_t)hlm_engine_ctx(e))
            s = hlm_errorf(&err, HLM_ERR_RANGE,
                           "generate: the prompt (%zu tokens) and %llu new tokens exceed the model's context of %d",
                           len, n, hlm_engine_ctx(e));
    }
    double t_load = now_s();
    int vs = 0;
    if (s == HLM_OK) {
        int tv = (int)hlm_tokenizer_vocab_size(tok);
        vs = c->vocab_size < tv ? c->vocab_size : tv;
    }
    hlm_sampler sampler = {(float)temperature, (int)top_k, (float)top_p, seed};
    const float *logits = NULL;
    if (s == HLM_OK) s = hlm_engine_prefill(e, ctx, (int)len, &logits, &err);
    double t_prefill = now_s(), t_end = t_prefill;
    if (s == HLM_OK) {
        hlm_decoder dec;
        hlm_decoder_init(&dec, tok);
        printf("%s", prompt);
        fflush(stdout);
        for (unsigned long long t = 0; s == HLM_OK && t < n; t++) {
            int next = hlm_sample(&sampler, logits, vs, scratch);
            out.len = 0;
            s = hlm_decoder_push(&dec, (uint32_t)next, &out, &err);
            if (s == HLM_OK && out.len) {
                fwrite(out.data, 1, out.len, stdout);
                fflush(stdout);
            }
            if (s == HLM_OK && t + 1 < n) s = hlm_engine_decode(e, next, &logits, &err);
        }
        out.len = 0;
        if (s == HLM_OK) s = hlm_decoder_flush(&dec, &out, &err);
        if (s == HLM_OK && out.len) fwrite(out.data, 1, out.len, stdout);
        printf("\n");
        fflush(stdout);
        t_end = now_s();
    }
    if (s == HLM_OK) {
        double pf = t_prefill - t_load, dc = t_end - t_prefill;
        hlm_log(HLM_LOG_INFO, "generate: %s weights, load %.2f s; prefill %zu tokens %.1f tokens/s; decode %llu tokens %.1f tokens/s",
                hlm_qtype_name(wt), t_load - t0, len, pf > 0 ? (double)len / pf : 0.0, n > 1 ? n - 1 : 0,
                n > 1 && dc > 0 ? (double)(n - 1) / dc : 0.0);
    }
    free(ctx);
    free(scratch);
    hlm_ids_free(&ids);
    hlm_buf_free(&out);
    hlm_tokenizer_free(tok);
    hlm_engine_free(e);
    hlm_model_free(gguf_model);
    return s == HLM_OK ? CLI_OK : cli_report(&err);
}
