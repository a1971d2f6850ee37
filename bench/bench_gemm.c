/* GEMM engines at GPT-2-small training shapes:
 *   bench_gemm [--reps N] [--out PATH] [--no-bf16] [--only SUBSTRING]
 *
 * N = B*T = 1024 rows, C = 768, vocabulary 50257. For each layer's forward y = x . W, backward
 * dx = dy . W^T and dW = x^T . dy (beta = 1 in backward, as the model accumulates), with 1 and 2
 * threads; the best of --reps (default 7) runs after one warm-up call, more runs (up to 3x) when
 * other programs took CPUs from some of them (see best_gflops):
 *   - hlm_sgemm: oneDNN's dnnl_sgemm, what the model uses;
 *   - OpenBLAS cblas_sgemm, loaded with dlopen("libopenblas.so.0") in a child process, once with
 *     its own CPU detection and once with OPENBLAS_CORETYPE=SkylakeX (read by OpenBLAS when it is
 *     loaded, hence a fresh process); skipped with a message when the library is absent;
 *   - oneDNN's matmul primitive in bf16 (inputs bf16, converted beforehand and not timed; fp32
 *     output), which runs on AMX tiles where the CPU has them.
 * Prints the table (GFLOP/s, % of the fp32 FMA peak of 170 GFLOP/s per core, ratio to oneDNN
 * sgemm) and writes it as Markdown to --out (default: bench/out/gemm.md beside this source, or
 * $HLM_BENCH_OUT/gemm.md). Also says whether dnnl_sgemm gives the same bits with 1 and 2 threads.
 *
 * Internal: bench_gemm --openblas-child REPS SHAPE prints "corename NAME", "config TEXT" and
 * "R shape threads gflops" lines on stdout for the parent. */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dnnl.h>

#include "model/gemm.h"

#define PEAK_GFLOPS_PER_CORE 170.0
#define MAX_THREADS 2

typedef struct {
    const char *name;
    bool ta, tb;  /* C (M,N) = op(A) (M,K) . op(B) (K,N), row-major */
    int M, N, K;
    float beta;
    int per_step; /* how many a GPT-2-small training step does: 12 layers, one lm head */
} shape;

static const shape shapes[] = {
    {"qkv fwd      x.W", false, false, 1024, 2304, 768, 0.0f, 12},
    {"qkv dx       dy.W^T", false, true, 1024, 768, 2304, 1.0f, 12},
    {"qkv dW       x^T.dy", true, false, 768, 2304, 1024, 1.0f, 12},
    {"attn-proj fwd", false, false, 1024, 768, 768, 0.0f, 12},
    {"attn-proj dx", false, true, 1024, 768, 768, 1.0f, 12},
    {"attn-proj dW", true, false, 768, 768, 1024, 1.0f, 12},
    {"fc fwd", false, false, 1024, 3072, 768, 0.0f, 12},
    {"fc dx", false, true, 1024, 768, 3072, 1.0f, 12},
    {"fc dW", true, false, 768, 3072, 1024, 1.0f, 12},
    {"fc-proj fwd", false, false, 1024, 768, 3072, 0.0f, 12},
    {"fc-proj dx", false, true, 1024, 3072, 768, 1.0f, 12},
    {"fc-proj dW", true, false, 3072, 768, 1024, 1.0f, 12},
    {"lm-head fwd  x.wte^T", false, true, 1024, 50257, 768, 0.0f, 1},
    {"lm-head dx   dl.wte", false, false, 1024, 768, 50257, 1.0f, 1},
    {"lm-head dW   dl^T.x", true, false, 50257, 768, 1024, 1.0f, 1},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

enum { E_ONEDNN, E_OPENBLAS, E_OPENBLAS_SKX, E_BF16, NENGINES };
static const char *engine_names[NENGINES] = {"oneDNN sgemm", "OpenBLAS (auto)",
                                             "OpenBLAS SkylakeX", "oneDNN bf16 (AMX)"};
static char engine_label[NENGINES][96];
static double gflops[NSHAPES][NENGINES][MAX_THREADS + 1]; /* 0: not measured */
static int clean_runs[NSHAPES][NENGINES][MAX_THREADS + 1];
static char openblas_config[256];
static char load_start[64], load_end[64];
static bool openblas_absent;

static void read_loadavg(char *out, size_t size)
{
    snprintf(out, size, "?");
    FILE *f = fopen("/proc/loadavg", "r");
    double a, b, c;
    if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(out, size, "%.2f %.2f %.2f", a, b, c);
    if (f) fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rand_matrix(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory (%zu floats)\n", n);
        exit(1);
    }
    uint64_t s = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = (float)((s >> 40) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return p;
}

static size_t a_elems(const shape *s) { return (size_t)s->M * s->K; }
static size_t b_elems(const shape *s) { return (size_t)s->K * s->N; }
static int lda_of(const shape *s) { return s->ta ? s->M : s->K; }
static int ldb_of(const shape *s) { return s->tb ? s->K : s->N; }
static double flop(const shape *s) { return 2.0 * s->M * s->N * s->K; }

typedef void (*gemm_fn)(const shape *s, const float *A, const float *B, float *C, void *ctx);

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best time over runs of fn, as GFLOP/s. The machine may be shared: a run during which this
 * process got less than 90% of `threads` CPUs (process CPU time over wall time; idle workers of
 * both engines spin, so an uncontended run uses all of them) was slowed by other programs. Runs
 * repeat until `reps` were uncontended or 3 * reps were made; *clean says how many were. */
static double best_gflops(const shape *s, int threads, gemm_fn fn, const float *A, const float *B,
                          float *C, void *ctx, int reps, int *clean)
{
    fn(s, A, B, C, ctx); /* warm-up: page faults, packing buffers, thread start */
    double best = 1e30;
    *clean = 0;
    for (int r = 0; r < 3 * reps && *clean < reps; r++) {
        double t0 = now_s(), c0 = cpu_s();
        fn(s, A, B, C, ctx);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        if (dc >= 0.9 * threads * dt) ++*clean;
        if (dt < best) best = dt;
    }
    return flop(s) / best * 1e-9;
}

/* ---- oneDNN sgemm (hlm_sgemm) --------------------------------------------------------------- */

static void run_hlm(const shape *s, const float *A, const float *B, float *C, void *ctx)
{
    (void)ctx;
    hlm_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda_of(s), B, ldb_of(s), s->beta, C, s->N);
}

/* ---- OpenBLAS (child process) ----------------------------------------------------------- */

typedef void (*cblas_sgemm_fn)(int order, int ta, int tb, int M, int N, int K, float alpha,
                               const float *A, int lda, const float *B, int ldb, float beta,
                               float *C, int ldc);
typedef struct {
    cblas_sgemm_fn sgemm;
} blas_ctx;

static void run_openblas(const shape *s, const float *A, const float *B, float *C, void *ctx)
{
    enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
    blas_ctx *b = ctx;
    b->sgemm(ROW_MAJOR, s->ta ? TRANS : NO_TRANS, s->tb ? TRANS : NO_TRANS, s->M, s->N, s->K, 1.0f,
             A, lda_of(s), B, ldb_of(s), s->beta, C, s->N);
}

static int openblas_child(int reps, int si)
{
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("absent %s\n", dlerror());
        return 0;
    }
    blas_ctx ctx = {(cblas_sgemm_fn)(uintptr_t)dlsym(lib, "cblas_sgemm")};
    void (*set_threads)(int) = (void (*)(int))(uintptr_t)dlsym(lib, "openblas_set_num_threads");
    char *(*corename)(void) = (char *(*)(void))(uintptr_t)dlsym(lib, "openblas_get_corename");
    char *(*config)(void) = (char *(*)(void))(uintptr_t)dlsym(lib, "openblas_get_config");
    if (!ctx.sgemm || !set_threads) {
        printf("absent no cblas_sgemm or openblas_set_num_threads in libopenblas.so.0\n");
        return 0;
    }
    printf("corename %s\nconfig %s\n", corename ? corename() : "?", config ? config() : "?");
    fflush(stdout);
    if (si < 0 || si >= NSHAPES) return 2;
    const shape *s = &shapes[si];
    float *A = rand_matrix(a_elems(s)), *B = rand_matrix(b_elems(s));
    float *C = calloc((size_t)s->M * s->N, sizeof *C);
    for (int t = 1; t <= MAX_THREADS; t++) {
        set_threads(t);
        int clean;
        double g = best_gflops(s, t, run_openblas, A, B, C, &ctx, reps, &clean);
        printf("R %d %d %.3f %d\n", si, t, g, clean);
        fflush(stdout);
    }
    free(A), free(B), free(C);
    return 0;
}

/* Runs this program again with --openblas-child for shape si, OPENBLAS_CORETYPE set or not,
 * and reads its results into gflops[si][engine][]. */
static void run_openblas_variant(int engine, const char *coretype, int reps, int si)
{
    int fd[2];
    if (pipe(fd)) {
        perror("bench_gemm: pipe");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_gemm: fork");
        return;
    }
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]), close(fd[1]);
        if (coretype) setenv("OPENBLAS_CORETYPE", coretype, 1);
        else unsetenv("OPENBLAS_CORETYPE");
        unsetenv("OPENBLAS_NUM_THREADS");
        char reps_s[16], si_s[16];
        snprintf(reps_s, sizeof reps_s, "%d", reps);
        snprintf(si_s, sizeof si_s, "%d", si);
        execl("/proc/self/exe", "bench_gemm", "--openblas-child", reps_s, si_s, (char *)NULL);
        perror("bench_gemm: exec");
        _exit(127);
    }
    close(fd[1]);
    FILE *in = fdopen(fd[0], "r");
    char line[512];
    while (in && fgets(line, sizeof line, in)) {
        int rs, t, clean;
        double g;
        if (sscanf(line, "R %d %d %lf %d", &rs, &t, &g, &clean) == 4 && rs == si && t >= 1 &&
            t <= MAX_THREADS) {
            gflops[si][engine][t] = g;
            clean_runs[si][engine][t] = clean;
            fprintf(stderr, "  %-22s %-20s %d thr %8.1f GFLOP/s\n", shapes[si].name,
                    engine_label[engine], t, g);
        } else if (!strncmp(line, "corename ", 9)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(engine_label[engine], sizeof engine_label[engine], "OpenBLAS %s (%.40s)",
                     coretype ? "CORETYPE" : "auto", line + 9);
            fprintf(stderr, "%s: core %s\n", engine_names[engine], line + 9);
        } else if (!strncmp(line, "config ", 7)) {
            line[strcspn(line, "\n")] = 0;
            if (engine == E_OPENBLAS)
                snprintf(openblas_config, sizeof openblas_config, "%.200s", line + 7);
        } else if (!strncmp(line, "absent", 6)) {
            fprintf(stderr, "bench_gemm: OpenBLAS skipped: %s", line + 7);
            openblas_absent = true;
        }
    }
    if (in) fclose(in);
    int status;
    waitpid(pid, &status, 0);
}

/* ---- oneDNN bf16 matmul primitive --------------------------------------------------------- */

static uint16_t to_bf16(float f) /* round to nearest even; inputs here are finite */
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

typedef struct {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_exec_arg_t args[3];
} bf16_ctx;

static void run_bf16(const shape *s, const float *A, const float *B, float *C, void *ctx)
{
    (void)s, (void)A, (void)B, (void)C;
    bf16_ctx *b = ctx;
    dnnl_primitive_execute(b->prim, b->stream, 3, b->args);
    dnnl_stream_wait(b->stream);
}

/* Measures shape si in bf16 with `threads` threads; returns GFLOP/s or 0 on failure. */
static double bench_bf16(int si, int threads, int reps, dnnl_engine_t eng, dnnl_stream_t stream,
                         const char **impl_out)
{
    const shape *s = &shapes[si];
    hlm_set_threads(threads); /* primitives size their work split at creation */
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = {s->M, s->K}, bd = {s->K, s->N}, cd = {s->M, s->N};
    if (dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dnnl_bf16, s->ta ? dnnl_ba : dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&b_md, 2, bd, dnnl_bf16, s->tb ? dnnl_ba : dnnl_ab) ||
        dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab))
        return 0.0;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    if (dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md) ||
        dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL))
        return 0.0;
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    bf16_ctx ctx = {.stream = stream};
    if (dnnl_primitive_create(&ctx.prim, pd)) {
        dnnl_primitive_desc_destroy(pd);
        return 0.0;
    }
    size_t na = a_elems(s), nb = b_elems(s), nc = (size_t)s->M * s->N;
    float *af = rand_matrix(na), *bf = rand_matrix(nb);
    uint16_t *a16 = malloc(na * sizeof *a16), *b16 = malloc(nb * sizeof *b16);
    float *c = calloc(nc, sizeof *c);
    if (!a16 || !b16 || !c) exit(1);
    for (size_t i = 0; i < na; i++) a16[i] = to_bf16(af[i]);
    for (size_t i = 0; i < nb; i++) b16[i] = to_bf16(bf[i]);
    free(af), free(bf);
    dnnl_memory_t am, bm, cm;
    dnnl_memory_create(&am, &a_md, eng, a16);
    dnnl_memory_create(&bm, &b_md, eng, b16);
    dnnl_memory_create(&cm, &c_md, eng, c);
    ctx.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, am};
    ctx.args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, bm};
    ctx.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, cm};
    double g = best_gflops(s, threads, run_bf16, NULL, NULL, NULL, &ctx, reps,
                           &clean_runs[si][E_BF16][threads]);
    /* impl points into pd: copy before destroying */
    static char impl_copy[NSHAPES][64];
    snprintf(impl_copy[si], sizeof impl_copy[si], "%s", impl);
    *impl_out = impl_copy[si];
    dnnl_memory_destroy(am), dnnl_memory_destroy(bm), dnnl_memory_destroy(cm);
    dnnl_primitive_destroy(ctx.prim);
    dnnl_primitive_desc_destroy(pd);
    free(a16), free(b16), free(c);
    return g;
}

/* ---- report ------------------------------------------------------------------------------- */

static void print_table(FILE *f, bool md, int reps, const bool *same_bits,
                        const char **bf16_impl)
{
    if (md) {
        fprintf(f, "| shape | M | N | K | engine | threads | GFLOP/s | %% of fp32 peak "
                   "| vs oneDNN sgemm | uncontended runs |\n");
        fprintf(f, "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
    } else {
        fprintf(f, "%-22s %6s %6s %6s  %-30s %3s %9s %7s %8s %6s\n", "shape", "M", "N", "K",
                "engine", "thr", "GFLOP/s", "%peak", "vs sgemm", "clean");
    }
    for (int si = 0; si < NSHAPES; si++) {
        const shape *s = &shapes[si];
        for (int e = 0; e < NENGINES; e++)
            for (int t = 1; t <= MAX_THREADS; t++) {
                double g = gflops[si][e][t], ref = gflops[si][E_ONEDNN][t];
                if (g <= 0.0) continue;
                double pct = 100.0 * g / (PEAK_GFLOPS_PER_CORE * t);
                int clean = clean_runs[si][e][t];
                if (md)
                    fprintf(f, "| %s | %d | %d | %d | %s | %d | %.1f | %.0f%% | %.2f | %d/%d |\n",
                            s->name, s->M, s->N, s->K, engine_label[e], t, g, pct,
                            ref > 0 ? g / ref : 0, clean, reps);
                else
                    fprintf(f, "%-22s %6d %6d %6d  %-30s %3d %9.1f %6.0f%% %8.2f %4d/%d\n", s->name,
                            s->M, s->N, s->K, engine_label[e], t, g, pct, ref > 0 ? g / ref : 0,
                            clean, reps);
            }
    }
    fprintf(f, "\n");
    /* A whole step's GEMMs: sum over shapes of per_step * flop / rate, when all were measured */
    for (int e = 0; e < NENGINES; e++)
        for (int t = 1; t <= MAX_THREADS; t++) {
            double sec = 0.0, fl = 0.0;
            int si = 0;
            for (; si < NSHAPES && gflops[si][e][t] > 0.0; si++) {
                sec += shapes[si].per_step * flop(&shapes[si]) / (gflops[si][e][t] * 1e9);
                fl += shapes[si].per_step * flop(&shapes[si]);
            }
            if (si < NSHAPES) continue;
            fprintf(f, "%sGPT-2-small step (B*T = 1024), all GEMMs: %-30s %d thr %7.2f s "
                       "(%.1f GFLOP/s)\n",
                    md ? "- " : "", engine_label[e], t, sec, fl / sec * 1e-9);
        }
    int n_same = 0, n_measured = 0;
    for (int si = 0; si < NSHAPES; si++)
        if (gflops[si][E_ONEDNN][1] > 0.0) n_measured++, n_same += same_bits[si];
    fprintf(f, "%sdnnl_sgemm same bits with 1 and 2 threads: %d of %d shapes", md ? "- " : "",
            n_same, n_measured);
    if (n_same < n_measured) {
        fprintf(f, " (differ:");
        for (int si = 0; si < NSHAPES; si++)
            if (gflops[si][E_ONEDNN][1] > 0.0 && !same_bits[si])
                fprintf(f, " %s;", shapes[si].name);
        fprintf(f, ")");
    }
    fprintf(f, "\n");
    for (int si = 0; si < NSHAPES; si++)
        if (bf16_impl[si]) {
            fprintf(f, "%sbf16 matmul implementation (oneDNN): %s\n", md ? "- " : "",
                    bf16_impl[si]);
            break;
        }
    if (openblas_config[0]) fprintf(f, "%sOpenBLAS: %s\n", md ? "- " : "", openblas_config);
    /* other work on the machine lowers every figure: runs that did not get all their CPUs are
     * counted out of "uncontended runs"; the load average says how much other work there was */
    fprintf(f, "%sload average (1, 5, 15 min) at start: %s; at end: %s\n", md ? "- " : "",
            load_start, load_end);
}

int main(int argc, char **argv)
{
    int reps = 7;
    bool do_bf16 = true;
    const char *out_path = NULL, *only = NULL; /* --only: shapes whose name contains it */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--openblas-child") && i + 2 < argc)
            return openblas_child(atoi(argv[i + 1]), atoi(argv[i + 2]));
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--no-bf16")) do_bf16 = false;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr,
                    "usage: bench_gemm [--reps N] [--out PATH] [--no-bf16] [--only SUBSTRING]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    for (int e = 0; e < NENGINES; e++)
        snprintf(engine_label[e], sizeof engine_label[e], "%s", engine_names[e]);

    read_loadavg(load_start, sizeof load_start);
    dnnl_engine_t eng = NULL;
    dnnl_stream_t stream = NULL;
    if (do_bf16 && (dnnl_engine_create(&eng, dnnl_cpu, 0) ||
                    dnnl_stream_create(&stream, eng, dnnl_stream_default_flags))) {
        fprintf(stderr, "bench_gemm: no oneDNN CPU engine; bf16 skipped\n");
        do_bf16 = false;
    }
    /* Engines take turns shape by shape, so that other load on the machine, if any, falls on
     * all of them alike. OpenBLAS runs in a child while this process holds no big buffers. */
    bool same_bits[NSHAPES];
    const char *bf16_impl[NSHAPES] = {0};
    for (int si = 0; si < NSHAPES; si++) {
        same_bits[si] = true;
        if (only && !strstr(shapes[si].name, only)) continue;
        if (!openblas_absent) run_openblas_variant(E_OPENBLAS, NULL, reps, si);
        if (!openblas_absent) run_openblas_variant(E_OPENBLAS_SKX, "SkylakeX", reps, si);
        const shape *s = &shapes[si];
        float *A = rand_matrix(a_elems(s)), *B = rand_matrix(b_elems(s));
        size_t nc = (size_t)s->M * s->N;
        float *C = calloc(nc, sizeof *C), *C1 = malloc(nc * sizeof *C1);
        if (!C || !C1) return 1;
        for (int t = 1; t <= MAX_THREADS; t++) {
            hlm_set_threads(t);
            gflops[si][E_ONEDNN][t] = best_gflops(s, t, run_hlm, A, B, C, NULL, reps,
                                                  &clean_runs[si][E_ONEDNN][t]);
            fprintf(stderr, "  %-22s %-20s %d thr %8.1f GFLOP/s\n", s->name,
                    engine_label[E_ONEDNN], t, gflops[si][E_ONEDNN][t]);
            /* determinism across thread counts: one product from zero with each count */
            hlm_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda_of(s), B, ldb_of(s), 0.0f,
                      t == 1 ? C1 : C, s->N);
        }
        same_bits[si] = !memcmp(C, C1, nc * sizeof *C);
        free(A), free(B), free(C), free(C1);
        for (int t = 1; do_bf16 && t <= MAX_THREADS; t++) {
            gflops[si][E_BF16][t] = bench_bf16(si, t, reps, eng, stream, &bf16_impl[si]);
            fprintf(stderr, "  %-22s %-20s %d thr %8.1f GFLOP/s (%s)\n", s->name,
                    engine_label[E_BF16], t, gflops[si][E_BF16][t],
                    bf16_impl[si] ? bf16_impl[si] : "failed");
        }
    }
    if (stream) dnnl_stream_destroy(stream);
    if (eng) dnnl_engine_destroy(eng);
    hlm_set_threads(0);
    read_loadavg(load_end, sizeof load_end);

    printf("\nGEMM at GPT-2-small training shapes (N = B*T = 1024), best of %d; peak = %.0f "
           "GFLOP/s per core (fp32 FMA)\n\n", reps, PEAK_GFLOPS_PER_CORE);
    print_table(stdout, false, reps, same_bits, bf16_impl);

    char path[4096];
    if (out_path) {
        snprintf(path, sizeof path, "%s", out_path);
    } else {
        const char *dir = getenv("HLM_BENCH_OUT");
        char src_dir[4096];
        if (!dir) { /* bench/out beside this source file */
            snprintf(src_dir, sizeof src_dir, "%s", __FILE__);
            char *slash = strrchr(src_dir, '/');
            if (slash) snprintf(slash, sizeof src_dir - (size_t)(slash - src_dir), "/out");
            else snprintf(src_dir, sizeof src_dir, "bench/out");
            dir = src_dir;
        }
        if (mkdir(dir, 0777) && errno != EEXIST) {
            fprintf(stderr, "bench_gemm: cannot create %s: %s\n", dir, strerror(errno));
            return 1;
        }
        snprintf(path, sizeof path, "%.4000s/gemm.md", dir);
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_gemm: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", localtime(&now));
    fprintf(f, "# GEMM engines at GPT-2-small training shapes (%s)\n\n", date);
    fprintf(f, "bench_gemm: N = B*T = 1024 rows, C = 768, V = 50257; best of %d; fp32 peak %.0f "
               "GFLOP/s per core; oneDNN %d.%d.%d.\n\n", reps, PEAK_GFLOPS_PER_CORE,
            dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch);
    print_table(f, true, reps, same_bits, bf16_impl);
    fclose(f);
    printf("\nwrote %s\n", path);
    return 0;
}
