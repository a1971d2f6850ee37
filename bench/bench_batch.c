/* Batched decode: aggregate tokens/s of decode steps over n sequences at once (what a server's
 * continuous batching runs), for each way the engine can multiply a step's rows by quantized
 * weights. No HTTP and no sampler: bench/serve.py measures the server end to end against
 * llama.cpp's; this isolates the engine's step so that the paths can be compared on one input.
 *   bench_batch --model F.gguf [--steps 32] [--threads 2] [--rows "1 2 4 8 16"] [--reps 3]
 *               [--paths "dots bf16 int8"]
 * Paths: "dots" (the quantized dot products, row by row), "bf16" (hlm_engine_pack_weights with
 * HLM_PACK_BF16: packed bf16 copies from 6 rows), "int8" (HLM_PACK_INT8: AMX int8 tiles from 2
 * rows). Each sequence first gets a 16-token prompt (not timed); each figure is the best of REPS
 * runs of STEPS steps, all n sequences one token a step. Prints a table and, per path, the ratio
 * of n rows to one row. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer/engine.h"
#include "infer/qpack.h"
#include "model/gemm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define MAXN 16

static double run(hlm_engine *e, int n, int steps, int reps, hlm_error *err)
{
    int vocab = hlm_engine_config(e)->vocab_size;
    int seqs[MAXN], lens[MAXN];
    int32_t prompt[MAXN * 16], tok[MAXN];
    uint64_t s = 12345;
    for (int i = 0; i < MAXN * 16; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        prompt[i] = (int32_t)((s >> 33) % (uint64_t)vocab);
    }
    double best = 0;
    for (int r = 0; r < reps; r++) {
        const float *lg;
        if (hlm_engine_set_seqs(e, n, err) != HLM_OK) return -1;
        for (int i = 0; i < n; i++) seqs[i] = i, lens[i] = 16;
        if (hlm_engine_prefill_batch(e, seqs, prompt, lens, n, &lg, err) != HLM_OK) return -1;
        double t0 = now_s();
        for (int k = 0; k < steps; k++) {
            for (int i = 0; i < n; i++) tok[i] = prompt[(i * 16 + k) % (MAXN * 16)];
            if (hlm_engine_decode_batch(e, seqs, tok, n, &lg, err) != HLM_OK) return -1;
        }
        double tps = (double)n * steps / (now_s() - t0);
        if (tps > best) best = tps;
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *rows_s = "1 2 4 8 16", *paths = "dots bf16 int8";
    int steps = 32, threads = 2, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows")) rows_s = argv[i + 1];
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--paths")) paths = argv[i + 1];
        else {
            fprintf(stderr, "bench_batch: unknown flag '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model || steps < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_batch --model F.gguf [--steps 32] [--threads 2] [--rows \"1 2 4 8 16\"] [--reps 3]\n");
        return 2;
    }
    int rows[MAXN], nr = 0;
    for (const char *p = rows_s; *p && nr < MAXN;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (v < 1 || v > MAXN) {
            fprintf(stderr, "bench_batch: --rows values must be 1..%d\n", MAXN);
            return 2;
        }
        rows[nr++] = (int)v;
        p = end;
    }
    hlm_set_threads(threads);
    const char *names[3] = {"dots", "bf16", "int8"};
    int kinds[3] = {0, HLM_PACK_BF16, HLM_PACK_INT8};
    double tps[3][MAXN];
    int have[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (!strstr(paths, names[k])) continue;
        hlm_error err = {0};
        hlm_engine *e = NULL;
        if (hlm_engine_open_gguf(model, 64 + steps, &e, NULL, &err) != HLM_OK) {
            fprintf(stderr, "bench_batch: %s\n", err.msg);
            return 1;
        }
        size_t bytes = 0;
        if (kinds[k] && hlm_engine_pack_weights(e, kinds[k], &bytes, &err) != HLM_OK) {
            fprintf(stderr, "bench_batch: %s\n", err.msg);
            hlm_engine_free(e);
            return 1;
        }
        if (kinds[k] && !bytes) {
            printf("%s: SKIPPED (this CPU has no %s)\n", names[k], k == 1 ? "native bf16" : "AMX int8");
            hlm_engine_free(e);
            continue;
        }
        have[k] = 1;
        for (int i = 0; i < nr; i++) {
            tps[k][i] = run(e, rows[i], steps, reps, &err);
            if (tps[k][i] < 0) {
                fprintf(stderr, "bench_batch: %s\n", err.msg);
                hlm_engine_free(e);
                return 1;
            }
            fprintf(stderr, "%s %2d rows: %.1f tokens/s\n", names[k], rows[i], tps[k][i]);
        }
        hlm_engine_free(e);
    }
    printf("# batched decode, %s, %d threads, %d steps, best of %d\n\n| rows |", model, threads, steps, reps);
    for (int k = 0; k < 3; k++)
        if (have[k]) printf(" %s tokens/s | vs its 1 row |", names[k]);
    printf("\n| ---: |");
    for (int k = 0; k < 3; k++)
        if (have[k]) printf(" ---: | ---: |");
    printf("\n");
    for (int i = 0; i < nr; i++) {
        printf("| %d |", rows[i]);
        for (int k = 0; k < 3; k++)
                if (have[k]) printf(" %.1f | %.2fx |", tps[k][i], tps[k][i] / tps[k][0]);
        printf("\n");
    }
    return 0;
}
