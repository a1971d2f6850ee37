/* Prompt processing (pp) and token generation (tg) tokens/s of the inference engine on a GGUF file,
 * as llama-bench measures them (bench/infer_llamacpp.sh runs llama.cpp on the same file):
 *   bench_infer --model F.gguf [--pp 512] [--tg 128] [--prompt 16] [--reps 1] [--threads 2]
 *               [--seed 1] [--tokens-out FILE]
 *   bench_infer --export IN.gguf OUT.gguf f32|q8_0|q4_0 TOKENIZER.json
 *
 * pp: one prefill of PP token ids from an empty cache. tg: after a prefill of PROMPT ids (not
 * timed), TG single-token decodes of the next ids (fed, not sampled: the sampler is not what is
 * timed). The ids are drawn uniformly from the vocabulary with SplitMix64(seed); --tokens-out
 * writes them (one a line) so that the peer runs the same ones. One untimed prefill warms the
 * caches and the allocator first; each figure is the best of REPS. Prints one JSON line:
 *   {file, weights, engine_weights, pp_tokens_per_s, tg_tokens_per_s, weight_bytes_per_token,
 *    file_weight_bytes_per_token, load_s}
 * weights is the type of most of the file's layer matrices; engine_weights what the engine runs
 * them as; weight_bytes_per_token the bytes the engine reads per token (hlm_engine_weight_bytes),
 * file_weight_bytes_per_token the same count over the file's tensors as stored (every tensor but
 * the embedding tables, of which a token reads one row, plus token_embd when it is also the head):
 * what a reader that runs the file as stored (llama.cpp) streams per token.
 *
 * --export re-writes a GGUF file with other weights (hyperlm quantize reads checkpoint folders
 * only): imported to f32, exported with hlm_gguf_export and the tokenizer TOKENIZER.json. The
 * file's own tokenizer cannot go back out today: SmolLM2's vocabulary lacks some of the 256 byte
 * tokens, the reader appends them past vocab_size, and the exporter refuses such ids (and
 * tokenizer.json needs all 256). Speed does not depend on the tokenizer: any byte-level one whose
 * ids are below vocab_size serves (the rest are written as "[PADn]"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperlm/model.h"
#include "infer/engine.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "model/gemm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct file_info {
    hlm_ggml_type weights;      /* the type holding most elements of the blk.* matrices */
    uint64_t bytes_per_token;   /* see the header */
} file_info;

static int has_prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static hlm_status read_file_info(const char *path, file_info *fi, hlm_error *err)
{
    hlm_gguf_file *f = NULL;
    hlm_status s = hlm_gguf_open(path, &f, err);
    if (s != HLM_OK) return s;
    uint64_t elems_of_type[64] = {0};
    int tied = !hlm_gguf_find_tensor(f, "output.weight");
    fi->bytes_per_token = 0;
    for (size_t i = 0; i < hlm_gguf_tensor_count(f); i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        int emb = !strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "position_embd.weight");
        if (!emb || (tied && !strcmp(t->name, "token_embd.weight"))) fi->bytes_per_token += t->nbytes;
        if (has_prefix(t->name, "blk.") && t->n_dims == 2 && (unsigned)t->type < 64)
            elems_of_type[t->type] += t->n_elems;
    }
    fi->weights = HLM_GGML_F32;
    for (int k = 0; k < 64; k++)
        if (elems_of_type[k] > elems_of_type[fi->weights]) fi->weights = (hlm_ggml_type)k;
    hlm_gguf_close(f);
    return HLM_OK;
}

static int export_gguf(const char *in, const char *out, const char *type, const char *tok_path)
{
    hlm_error err = {0};
    hlm_qtype wt;
    hlm_model *m = NULL;
    hlm_status s = hlm_qtype_from_name(type, &wt, &err);
    if (s == HLM_OK) s = hlm_gguf_import(in, &m, NULL, &err);
    if (s == HLM_OK) s = hlm_gguf_export(m, tok_path, wt, NULL, out, &err);
    hlm_model_free(m);
    if (s != HLM_OK) {
        fprintf(stderr, "bench_infer: export %s -> %s: %s\n", in, out, err.msg);
        return 1;
    }
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "--export")) return export_gguf(argv[2], argv[3], argv[4], argv[5]);
    const char *path = NULL, *tokens_out = NULL;
    int pp = 512, tg = 128, prompt = 16, reps = 1, threads = 2;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "usage: bench_infer --model F.gguf [--pp N] [--tg N] [--prompt N] [--reps N] "
                            "[--threads N] [--seed S] [--tokens-out FILE]\n"
                            "       bench_infer --export IN.gguf OUT.gguf f32|q8_0|q4_0 TOKENIZER.json\n");
            return 2;
        }
        i++;
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) path = v;
        else if (!strcmp(a, "--pp")) pp = atoi(v);
        else if (!strcmp(a, "--tg")) tg = atoi(v);
        else if (!strcmp(a, "--prompt")) prompt = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--tokens-out")) tokens_out = v;
        else {
            fprintf(stderr, "bench_infer: unknown flag '%s'\n", a);
            return 2;
        }
    }
    if (!path || pp < 1 || tg < 1 || prompt < 1 || reps < 1 || threads < 1) {
        fprintf(stderr, "bench_infer: need --model, and --pp, --tg, --prompt, --reps, --threads >= 1\n");
        return 2;
    }
    hlm_set_threads(threads);
    hlm_error err = {0};
    file_info fi;
    hlm_engine *e = NULL;
    int ctx = pp > prompt + tg ? pp : prompt + tg;
    double t0 = now_s();
    hlm_status s = read_file_info(path, &fi, &err);
    /* the file memory-mapped, its matrices run in their stored types */
    if (s == HLM_OK) s = hlm_engine_open_gguf(path, ctx, &e, NULL, &err);
    double load_s = now_s() - t0;
    if (s != HLM_OK) {
        fprintf(stderr, "bench_infer: %s: %s\n", path, err.msg);
        return 1;
    }
    int V = hlm_engine_config(e)->vocab_size;
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    if (!ids) return 1;
    uint64_t rng = seed;
    for (int i = 0; i < ctx; i++) ids[i] = (int32_t)(splitmix64(&rng) % (uint64_t)V);
    if (tokens_out) {
        FILE *f = fopen(tokens_out, "w");
        if (!f) {
            fprintf(stderr, "bench_infer: cannot write %s\n", tokens_out);
            return 1;
        }
        for (int i = 0; i < ctx; i++) fprintf(f, "%d\n", (int)ids[i]);
        fclose(f);
    }

    const float *logits = NULL;
    double best_pp = 1e30, best_tg = 1e30;
    s = hlm_engine_prefill(e, ids, pp, &logits, &err); /* warm-up */
    for (int r = 0; r < reps && s == HLM_OK; r++) {
        hlm_engine_reset(e);
        double a = now_s();
        s = hlm_engine_prefill(e, ids, pp, &logits, &err);
        double b = now_s() - a;
        if (b < best_pp) best_pp = b;
    }
    for (int r = 0; r < reps && s == HLM_OK; r++) {
        hlm_engine_reset(e);
        s = hlm_engine_prefill(e, ids, prompt, &logits, &err);
        double a = now_s();
        for (int i = 0; i < tg && s == HLM_OK; i++) s = hlm_engine_decode(e, ids[prompt + i], &logits, &err);
        double b = now_s() - a;
        if (b < best_tg) best_tg = b;
    }
    int rc = 0;
    if (s != HLM_OK) {
        fprintf(stderr, "bench_infer: %s: %s\n", path, err.msg);
        rc = 1;
    } else {
        printf("{\"file\": \"%s\", \"weights\": \"%s\", \"engine_weights\": \"%s\", \"threads\": %d, "
               "\"pp\": %d, \"tg\": %d, \"pp_tokens_per_s\": %.2f, \"tg_tokens_per_s\": %.2f, "
               "\"weight_bytes_per_token\": %zu, \"file_weight_bytes_per_token\": %llu, \"load_s\": %.2f}\n",
               base_name(path), hlm_ggml_type_name(fi.weights) ? hlm_ggml_type_name(fi.weights) : "?",
               hlm_qtype_name(hlm_engine_wtype(e)), threads, pp, tg, pp / best_pp, tg / best_tg,
               hlm_engine_weight_bytes(e), (unsigned long long)fi.bytes_per_token, load_s);
    }
    free(ids);
    hlm_engine_free(e);
    return rc;
}
