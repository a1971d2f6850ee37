/* Encoder throughput: bench_encode TOKENIZER FILE [--runs N] [--threads N] [--ids-out PATH]
 *
 * 1 thread: hlm_tokenizer_encode on the whole file as one text (encode_ordinary semantics, no
 * special tokens), best of --runs (default 3). N threads: hlm_tokenizer_encode_batch over the
 * file's lines (each line one document), best of --runs. Prints MB/s of input and the token
 * counts; --ids-out writes the single-thread ids as little-endian uint32 for bench/encode.py to
 * compare with tiktoken's. The tiktoken figure is measured by bench/encode.py in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "hyperlm/progress.h"
#include "hyperlm/thread.h"
#include "hyperlm/tokenizer.h"

static int usage(void)
{
    fprintf(stderr, "usage: bench_encode TOKENIZER FILE [--runs N] [--threads N] [--ids-out PATH]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    const char *tok_path = argv[1], *file = argv[2], *ids_out = NULL;
    int runs = 3, threads = hlm_default_threads();
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ids-out") && i + 1 < argc) ids_out = argv[++i];
        else return usage();
    }
    if (runs < 1 || threads < 1) return usage();
    hlm_error err;
    hlm_tokenizer *tok;
    double t0 = hlm_now_s();
    if (hlm_tokenizer_load(tok_path, -1, &tok, &err)) {
        fprintf(stderr, "bench_encode: %s\n", err.msg);
        return 1;
    }
    double load_s = hlm_now_s() - t0;
    hlm_buf text = {0};
    if (hlm_file_read_all(file, &text, &err)) {
        fprintf(stderr, "bench_encode: %s\n", err.msg);
        return 1;
    }
    double mb = (double)text.len / 1e6;
    printf("tokenizer %s: loaded in %.3f s; input %s: %.2f MB\n", tok_path, load_s, file, mb);

    hlm_ids ids = {0};
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
        ids.len = 0;
        t0 = hlm_now_s();
        if (hlm_tokenizer_encode(tok, text.data, text.len, 0, &ids, &err)) {
            fprintf(stderr, "bench_encode: %s\n", err.msg);
            return 1;
        }
        double dt = hlm_now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("1 thread:   %8.2f MB/s  %zu tokens  (best of %d: %.3f s)\n", mb / best, ids.len, runs, best);
    if (ids_out) {
        FILE *f = fopen(ids_out, "wb");
        if (!f || fwrite(ids.data, sizeof *ids.data, ids.len, f) != ids.len || fclose(f)) {
            fprintf(stderr, "bench_encode: cannot write %s\n", ids_out);
            return 1;
        }
    }

    /* batch: one document per line */
    size_t n = 0;
    for (size_t i = 0; i < text.len; i++) n += text.data[i] == '\n';
    n++;
    const char **ptrs = malloc(n * sizeof *ptrs);
    size_t *lens = malloc(n * sizeof *lens);
    hlm_ids *outs = calloc(n, sizeof *outs);
    if (!ptrs || !lens || !outs) return 1;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= text.len; i++)
        if (i == text.len || text.data[i] == '\n') {
            ptrs[k] = (const char *)text.data + start;
            lens[k++] = i - start;
            start = i + 1;
        }
    best = 1e30;
    size_t batch_tokens = 0;
    for (int r = 0; r < runs; r++) {
        for (size_t i = 0; i < k; i++) outs[i].len = 0;
        t0 = hlm_now_s();
        if (hlm_tokenizer_encode_batch(tok, ptrs, lens, k, 0, threads, outs, &err)) {
            fprintf(stderr, "bench_encode: %s\n", err.msg);
            return 1;
        }
        double dt = hlm_now_s() - t0;
        if (dt < best) best = dt;
    }
    for (size_t i = 0; i < k; i++) batch_tokens += outs[i].len;
    printf("%d threads: %8.2f MB/s  %zu tokens  (batch of %zu lines, best of %d: %.3f s)\n", threads, mb / best,
           batch_tokens, k, runs, best);
    for (size_t i = 0; i < k; i++) hlm_ids_free(&outs[i]);
    free(outs);
    free(ptrs);
    free(lens);
    hlm_ids_free(&ids);
    hlm_buf_free(&text);
    hlm_tokenizer_free(tok);
    return 0;
}
