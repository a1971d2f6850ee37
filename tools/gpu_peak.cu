// Measures what one NVIDIA GPU achieves, for the planner's GPU table (src/dist/plan.c,
// docs/planner.md): the fastest bf16 matrix multiply cuBLAS reaches over a sweep of shapes (the
// "maximum achievable matmul FLOPS" of S. Bekman's mamf-finder, which the table's other GPUs
// come from), fp32 for comparison, and the HBM bandwidth of a device-to-device copy and of a
// read-only kernel.
//
//   nvcc -O3 -arch=native tools/gpu_peak.cu -lcublas -o gpu_peak && ./gpu_peak [--quick] > peak.json
//
// Prints one JSON object. Each GEMM shape is timed with CUDA events over ITERS calls after
// WARMUP calls; FLOPs are 2 M N K per call. Not part of the library or the tests: the machines
// that build HyperLM have no GPU.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CK(x)                                                                               \
    do {                                                                                    \
        cudaError_t e_ = (x);                                                               \
        if (e_ != cudaSuccess) {                                                            \
            fprintf(stderr, "gpu_peak: %s: %s\n", #x, cudaGetErrorString(e_));              \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)
#define CB(x)                                                                               \
    do {                                                                                    \
        cublasStatus_t s_ = (x);                                                            \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                  \
            fprintf(stderr, "gpu_peak: %s: cuBLAS status %d\n", #x, (int)s_);              \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

static const int WARMUP = 5, ITERS = 20;

__global__ void fill_bf16(__nv_bfloat16 *p, size_t n, unsigned seed)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15;
        p[i] = __float2bfloat16(((h & 0xFFFF) / 65536.0f - 0.5f) * 0.1f);
    }
}

__global__ void fill_f32(float *p, size_t n, unsigned seed)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15;
        p[i] = ((h & 0xFFFF) / 65536.0f - 0.5f) * 0.1f;
    }
}

// Reads n float4 and writes one sum per block (so the reads cannot be optimized away).
__global__ void read_kernel(const float4 *p, size_t n, float *out)
{
    float s = 0;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float4 v = p[i];
        s += v.x + v.y + v.z + v.w;
    }
    __shared__ float red[1024];
    red[threadIdx.x] = s;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k /= 2) {
        if (threadIdx.x < k) red[threadIdx.x] += red[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = red[0];
}

static double time_gemm(cublasHandle_t h, int m, int n, int k, bool bf16, void *a, void *b, void *c)
{
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    auto call = [&]() {
        if (bf16)
            CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, CUDA_R_16BF, m, b, CUDA_R_16BF, k, &zero, c,
                            CUDA_R_16BF, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        else
            CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, CUDA_R_32F, m, b, CUDA_R_32F, k, &zero, c,
                            CUDA_R_32F, m, CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
    };
    for (int i = 0; i < WARMUP; i++) call();
    CK(cudaEventRecord(e0));
    for (int i = 0; i < ITERS; i++) call();
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return 2.0 * m * n * (double)k * ITERS / (ms / 1e3);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    cublasHandle_t h;
    CB(cublasCreate(&h));
    const int max_dim = 16384;
    size_t elems = (size_t)max_dim * max_dim;
    void *a, *b, *c;
    CK(cudaMalloc(&a, elems * 4));
    CK(cudaMalloc(&b, elems * 4));
    CK(cudaMalloc(&c, elems * 4));
    fill_bf16<<<1024, 256>>>((__nv_bfloat16 *)a, elems, 1);
    fill_bf16<<<1024, 256>>>((__nv_bfloat16 *)b, elems, 2);
    CK(cudaDeviceSynchronize());

    // bf16: a sweep like mamf-finder's (square and skewed shapes, multiples of 256 and not)
    std::vector<int> dims = quick ? std::vector<int>{4096, 8192} : std::vector<int>{2048, 4096, 6144, 8192, 10240, 12288, 16384};
    double best = 0;
    int bm = 0, bn = 0, bk = 0;
    printf("{\n  \"device\": \"%s\", \"sm\": \"%d.%d\", \"sms\": %d, \"hbm_bytes\": %zu,\n", prop.name, prop.major,
           prop.minor, prop.multiProcessorCount, (size_t)prop.totalGlobalMem);
    printf("  \"bf16_gemm\": [");
    int first = 1;
    for (int m : dims)
        for (int k : dims) {
            if (quick == false && m != k && m != 8192 && k != 8192) continue; // square + cross at 8192
            int n = m;
            double f = time_gemm(h, m, n, k, true, a, b, c);
            printf("%s\n    {\"m\": %d, \"n\": %d, \"k\": %d, \"tflops\": %.1f}", first ? "" : ",", m, n, k, f / 1e12);
            first = 0;
            if (f > best) best = f, bm = m, bn = n, bk = k;
        }
    printf("\n  ],\n  \"bf16_best_tflops\": %.1f, \"bf16_best_shape\": [%d, %d, %d],\n", best / 1e12, bm, bn, bk);

    // fp32 (no TF32): one large square
    fill_f32<<<1024, 256>>>((float *)a, (size_t)8192 * 8192, 3);
    fill_f32<<<1024, 256>>>((float *)b, (size_t)8192 * 8192, 4);
    CK(cudaDeviceSynchronize());
    double f32 = time_gemm(h, 8192, 8192, 8192, false, a, b, c);
    printf("  \"fp32_gemm_8192_tflops\": %.1f,\n", f32 / 1e12);

    // HBM: a device-to-device copy (bytes read + written) and a read-only kernel
    size_t bytes = elems * 4; // 1 GiB
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaMemcpy(c, a, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e0));
    for (int i = 0; i < 10; i++) CK(cudaMemcpyAsync(c, a, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    double copy_bw = 2.0 * bytes * 10 / (ms / 1e3);
    float *out;
    int blocks = prop.multiProcessorCount * 8;
    CK(cudaMalloc(&out, blocks * sizeof(float)));
    read_kernel<<<blocks, 1024>>>((const float4 *)a, bytes / 16, out);
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(e0));
    for (int i = 0; i < 10; i++) read_kernel<<<blocks, 1024>>>((const float4 *)a, bytes / 16, out);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(&ms, e0, e1));
    CK(cudaGetLastError());
    double read_bw = (double)bytes * 10 / (ms / 1e3);
    printf("  \"hbm_copy_gbps\": %.0f, \"hbm_read_gbps\": %.0f\n}\n", copy_bw / 1e9, read_bw / 1e9);
    cublasDestroy(h);
    return 0;
}
