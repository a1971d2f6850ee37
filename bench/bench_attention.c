/* Causal attention forward and backward (src/model/attention.c) at the model's shapes:
 * GPT-2 124M (B=4, H=12, hd=64) at T = 256 and 1024, and a Llama-style GQA row (H=32, KV=8,
 * hd=128), with 1 and 2 threads. Prints the best wall-clock ms per call over the run and the
 * effective GFLOP/s, counting the causal FLOPs: forward 4*B*H*T*T/2*hd (QK^T and PV), backward
 * 2.5x that (five products). The peer, PyTorch's scaled_dot_product_attention (is_causal) on
 * CPU, has no bench script yet; it was measured by hand for the first figures.
 * Usage: bench_attention [min_seconds_per_case] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/layers.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* [-0.5, 0.5): scores of a few units, like a trained model's. */
static float uniform(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return (float)(*x >> 8) / 16777216.0f - 0.5f;
}

typedef struct {
    const char *name;
    int B, T, H, KV, hd;
} bench_shape;

int main(int argc, char **argv)
{
    double min_s = argc > 1 ? atof(argv[1]) : 0.5;
    static const bench_shape shapes[] = {
        {"gpt2", 4, 256, 12, 12, 64},
        {"gpt2", 4, 1024, 12, 12, 64},
        {"llama-gqa", 2, 1024, 32, 8, 128},
    };
    printf("%-10s %2s %5s %3s %3s %4s %3s | %9s %8s | %9s %8s\n", "model", "B", "T", "H", "KV",
           "hd", "thr", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        bench_shape s = shapes[si];
        size_t nqkv = (size_t)s.B * s.T * (s.H + 2 * s.KV) * s.hd;
        size_t nout = (size_t)s.B * s.T * s.H * s.hd, nlse = (size_t)s.B * s.H * s.T;
        float *qkv = malloc(nqkv * sizeof *qkv), *dqkv = calloc(nqkv, sizeof *dqkv);
        float *out = malloc(nout * sizeof *out), *dout = malloc(nout * sizeof *dout);
        float *lse = malloc(nlse * sizeof *lse);
        if (!qkv || !dqkv || !out || !dout || !lse) {
            fprintf(stderr, "bench_attention: out of memory\n");
            return 1;
        }
        unsigned x = 12345;
        for (size_t i = 0; i < nqkv; i++) qkv[i] = uniform(&x);
        for (size_t i = 0; i < nout; i++) dout[i] = uniform(&x);
        double flops_fwd = 4.0 * s.B * s.H * (double)s.T * s.T / 2 * s.hd;
        for (int threads = 1; threads <= 2; threads++) {
#ifdef _OPENMP
            omp_set_num_threads(threads);
#else
            if (threads > 1) break;
#endif
            double best[2] = {1e30, 1e30};
            for (int pass = 0; pass < 2; pass++) {
                double t_start = now_s();
                int reps = 0;
                do {
                    double t0 = now_s();
                    if (pass == 0) attention_forward(out, lse, qkv, s.B, s.T, s.H, s.KV, s.hd);
                    else attention_backward(dqkv, dout, qkv, out, lse, s.B, s.T, s.H, s.KV, s.hd);
                    double dt = now_s() - t0;
                    if (reps > 0 && dt < best[pass]) best[pass] = dt; /* first call warms up */
                    reps++;
                } while (reps < 3 || now_s() - t_start < min_s);
            }
            printf("%-10s %2d %5d %3d %3d %4d %3d | %9.2f %8.1f | %9.2f %8.1f\n", s.name, s.B, s.T,
                   s.H, s.KV, s.hd, threads, best[0] * 1e3, flops_fwd / best[0] / 1e9,
                   best[1] * 1e3, 2.5 * flops_fwd / best[1] / 1e9);
        }
        free(qkv), free(dqkv), free(out), free(dout), free(lse);
    }
    return 0;
}
