/* hyperlm sample: continuations of a prompt from a checkpoint, by recomputing the forward pass
 * over the (window of the) context for every token. Simple on purpose: the inference engine with
 * a KV cache is its own stage (src/infer). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/rng.h"
#include "hyperlm/model.h"
#include "hyperlm/tokenizer.h"
#include "model/checkpoint.h"
#include "model/gemm.h"

/* Samples from softmax(logits / temperature) restricted to the top_k largest (0 = all);
 * temperature 0 is greedy. */
static int sample_token(const float *logits, int V, float temperature, int top_k, uint64_t *rng, float *probs)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) {
        /* k-th largest by partial selection over a copy */
        memcpy(probs, logits, (size_t)V * sizeof(float));
        for (int k = 0; k < top_k; k++) {
            int arg = k;
            for (int i = k + 1; i < V; i++)
                if (probs[i] > probs[arg]) arg = i;
            float t = probs[k];
            probs[k] = probs[arg];
            probs[arg] = t;
        }
        cut = probs[top_k - 1];
    }
    double sum = 0;
    for (int i = 0; i < V; i++) {
        probs[i] = logits[i] >= cut ? expf((logits[i] - logits[best]) / temperature) : 0.0f;
        sum += probs[i];
    }
    double u = (double)(hlm_splitmix64(rng) >> 11) * 0x1.0p-53 * sum, acc = 0;
    for (int i = 0; i < V; i++) {
        acc += probs[i];
        if (acc > u && probs[i] > 0) return i;
    }
    return best;
}

int cli_sample(int argc, char **argv)
{
    const char *dir = NULL, *prompt = "", *tok_path = NULL;
    unsigned long long n = 64, seed = 1337, threads = 0, top_k = 40, count = 1;
    double temperature = 0.8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: hyperlm sample -m DIR [-p PROMPT] [-n N] [--temperature T] [--top-k K] [--seed S]\n"
                   "                      [--count C] [--tokenizer TOK] [--threads N]\n\n"
                   "Prints C sampled continuations of PROMPT (N tokens each) from the checkpoint DIR\n"
                   "(its tokenizer.json unless --tokenizer). Temperature 0 is greedy.\n");
            return CLI_OK;
        }
        if (!v) {
            fprintf(stderr, "hyperlm: error: sample: unknown flag or missing value: '%s'\n", a);
            return CLI_USAGE;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "-n")) {
            if (!cli_parse_u64("-n", v, 1 << 20, &n)) return CLI_USAGE;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_u64("--seed", v, ~0ull, &seed)) return CLI_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_u64("--threads", v, 4096, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--top-k")) {
            if (!cli_parse_u64("--top-k", v, 1 << 30, &top_k)) return CLI_USAGE;
        } else if (!strcmp(a, "--count")) {
            if (!cli_parse_u64("--count", v, 1 << 20, &count)) return CLI_USAGE;
        } else if (!strcmp(a, "--temperature")) {
            char *end;
            temperature = strtod(v, &end);
            if (end == v || *end || !(temperature >= 0)) {
                fprintf(stderr, "hyperlm: error: --temperature: expected a number >= 0, got '%s'\n", v);
                return CLI_USAGE;
            }
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
    float *probs = NULL;
    hlm_status s = hlm_checkpoint_load_model(dir, &m, &err);
    if (s == HLM_OK) s = hlm_tokenizer_load(tok_path, -1, &tok, &err);
    if (s == HLM_OK) s = hlm_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &err);
    const hlm_model_config *c = s == HLM_OK ? hlm_model_config_of(m) : NULL;
    if (s == HLM_OK) {
        ctx = malloc(sizeof(int32_t) * (ids.len + n + 1));
        probs = malloc(sizeof(float) * (size_t)c->vocab_size);
        if (!ctx || !probs) s = hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory");
    }
    uint64_t rng = seed;
    for (unsigned long long k = 0; s == HLM_OK && k < count; k++) {
        size_t len = 0;
        for (size_t i = 0; i < ids.len; i++) ctx[len++] = (int32_t)ids.data[i];
        if (len == 0) {
            /* no prompt: start from the end-of-text token when the tokenizer has one */
            uint32_t eot = 0;
            if (!hlm_tokenizer_token_id(tok, "<|endoftext|>", 13, &eot)) eot = 0;
            ctx[len++] = (int32_t)eot;
        }
        hlm_decoder dec;
        hlm_decoder_init(&dec, tok);
        printf("%s", prompt);
        for (unsigned long long t = 0; s == HLM_OK && t < n; t++) {
            size_t start = len > (size_t)c->max_seq ? len - (size_t)c->max_seq : 0;
            int T = (int)(len - start);
            s = hlm_model_forward(m, ctx + start, NULL, 1, T, NULL, &err);
            if (s != HLM_OK) break;
            const float *logits = hlm_model_logits(m) + (size_t)(T - 1) * c->vocab_size;
            int vs = c->vocab_size < (int)hlm_tokenizer_vocab_size(tok) ? c->vocab_size : (int)hlm_tokenizer_vocab_size(tok);
            int next = sample_token(logits, vs, (float)temperature, (int)top_k, &rng, probs);
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
    free(probs);
    hlm_ids_free(&ids);
    hlm_buf_free(&out);
    hlm_tokenizer_free(tok);
    hlm_model_free(m);
    return s == HLM_OK ? CLI_OK : cli_report(&err);
}
