/* hyperlm sample: continuations of a prompt from a checkpoint, by recomputing the forward pass
 * over the (window of the) context for every token. Simple on purpose: the inference engine with
 * a KV cache is its own stage (src/infer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/generation.h"
#include "hyperlm/model.h"
#include "hyperlm/tokenizer.h"
#include "model/checkpoint.h"
#include "model/gemm.h"

int cli_sample(int argc, char **argv)
{
    const char *dir = NULL, *prompt = "", *tok_path = NULL;
    unsigned long long n = 64, threads = 0, count = 1;
    hlm_sampler_params sp;
    hlm_sampler_params_default(&sp);
    sp.top_p = 1; /* sample has no nucleus by default (it predates it) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm sample -m DIR [-p PROMPT] [-n N] [SAMPLING FLAGS] [--count C] [--tokenizer TOK]\n"
                   "                      [--threads N]\n\n"
                   "Prints C sampled continuations of PROMPT (N tokens each) from the checkpoint DIR\n"
                   "(its tokenizer.json unless --tokenizer), recomputing the forward pass for every token.\n"
                   "Top-p defaults to 1 here.\n\nsampling flags:\n%s",
                   cli_sampling_help);
            return CLI_OK;
        }
        if (!v) {
            fprintf(stderr, "hyperlm: error: sample: unknown flag or missing value: '%s'\n", a);
            return CLI_USAGE;
        }
        i++;
        int r = cli_sampling_flag("sample", a, v, &sp);
        if (r < 0) return CLI_USAGE;
        if (r > 0) continue;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "-n")) {
            if (!cli_parse_u64("-n", v, 1 << 20, &n)) return CLI_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_u64("--threads", v, 4096, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--count")) {
            if (!cli_parse_u64("--count", v, 1 << 20, &count)) return CLI_USAGE;
        } else {
            fprintf(stderr, "hyperlm: error: sample: unknown flag '%s'\n", a);
            return CLI_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "hyperlm: error: sample: -m DIR is required\n");
        return CLI_USAGE;
    }
    hlm_set_threads((int)threads);
    hlm_error err = {0};
    hlm_model *m = NULL;
    hlm_tokenizer *tok = NULL;
    char tp[4200];
    if (!tok_path) {
        snprintf(tp, sizeof tp, "%s/tokenizer.json", dir);
        tok_path = tp;
    }
    hlm_ids ids = {0};
    hlm_buf out = {0};
    int32_t *ctx = NULL;
    hlm_sampler *sampler = NULL;
    hlm_status s = hlm_checkpoint_load_model(dir, &m, &err);
    if (s == HLM_OK) s = hlm_tokenizer_load(tok_path, -1, &tok, &err);
    if (s == HLM_OK) s = hlm_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &err);
    const hlm_model_config *c = s == HLM_OK ? hlm_model_config_of(m) : NULL;
    if (s == HLM_OK) {
        ctx = malloc(sizeof(int32_t) * (ids.len + n + 1));
        if (!ctx) s = hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory");
    }
    int vs = 0;
    if (s == HLM_OK) {
        int tv = (int)hlm_tokenizer_vocab_size(tok);
        vs = c->vocab_size < tv ? c->vocab_size : tv;
        s = hlm_sampler_new(&sp, vs, &sampler, &err);
    }
    for (unsigned long long k = 0; s == HLM_OK && k < count; k++) {
        size_t len = 0;
        for (size_t i = 0; i < ids.len; i++) ctx[len++] = (int32_t)ids.data[i];
        if (len == 0) {
            /* no prompt: start from the end-of-text token when the tokenizer has one */
            uint32_t eot = 0;
            if (!hlm_tokenizer_token_id(tok, "<|endoftext|>", 13, &eot)) eot = 0;
            ctx[len++] = (int32_t)eot;
        }
        /* each continuation starts a new history; the random stream goes on */
        hlm_sampler_reset(sampler);
        hlm_sampler_accept_context(sampler, ctx, (int)len);
        hlm_decoder dec;
        hlm_decoder_init(&dec, tok);
        printf("%s", prompt);
        for (unsigned long long t = 0; s == HLM_OK && t < n; t++) {
            size_t start = len > (size_t)c->max_seq ? len - (size_t)c->max_seq : 0;
            int T = (int)(len - start);
            s = hlm_model_forward(m, ctx + start, NULL, 1, T, NULL, &err);
            if (s != HLM_OK) break;
            const float *logits = hlm_model_logits(m) + (size_t)(T - 1) * c->vocab_size;
            int next = hlm_sample(sampler, logits, vs);
            hlm_sampler_accept(sampler, next);
            ctx[len++] = next;
            out.len = 0;
            s = hlm_decoder_push(&dec, (uint32_t)next, &out, &err);
            if (s == HLM_OK && out.len) {
                fwrite(out.data, 1, out.len, stdout);
                fflush(stdout);
            }
        }
        out.len = 0;
        if (s == HLM_OK) s = hlm_decoder_flush(&dec, &out, &err);
        if (s == HLM_OK && out.len) fwrite(out.data, 1, out.len, stdout);
        printf("\n%s", k + 1 < count ? "---\n" : "");
    }
    free(ctx);
    hlm_sampler_free(sampler);
    hlm_ids_free(&ids);
    hlm_buf_free(&out);
    hlm_tokenizer_free(tok);
    hlm_model_free(m);
    return s == HLM_OK ? CLI_OK : cli_report(&err);
}
