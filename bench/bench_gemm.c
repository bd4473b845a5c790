/* bench/bench_gemm.c — F32 GEMM throughput: nabla's built-in kernel against
 * OpenBLAS (through the same nb_gemm entry point), square sizes, 1 and 2
 * threads, with the machine's measured FMA peak for the fraction.
 *
 *   OPENBLAS_CORETYPE=SkylakeX ./bench_gemm [sizes...]   (default 64 256 1024 2048)
 *
 * OpenBLAS picks its kernels from OPENBLAS_CORETYPE when it loads (this
 * machine's environment says Haswell = AVX2); run with SkylakeX to compare
 * AVX-512 with our AVX-512 kernel. Each figure is the best of 3 rounds (the
 * two backends alternate) of 5 timed runs, each long enough (≥ 0.1 s) for the
 * clock. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nabla/nabla.h"
#include "kernels/gemm.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Peak: 16 independent FMA chains per thread, registers only. */
__attribute__((target("avx512f"))) static double fma_loop512(long iters) {
    __m512 acc[16], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    float s = 0, buf[16];
    for (int i = 0; i < 16; i++) { _mm512_storeu_ps(buf, acc[i]); s += buf[0]; }
    return s;
}
__attribute__((target("avx2,fma"))) static double fma_loop256(long iters) {
    __m256 acc[12], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 16
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    float s = 0, buf[8];
    for (int i = 0; i < 12; i++) { _mm256_storeu_ps(buf, acc[i]); s += buf[0]; }
    return s;
}

/* GFLOP/s of the FMA loop on nt threads (flops = 2 per lane per FMA). */
static double peak(bool avx512, int nt) {
    const long iters = 20 * 1000 * 1000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now(), sink = 0;
#pragma omp parallel num_threads(nt) reduction(+ : sink)
        sink += avx512 ? fma_loop512(iters) : fma_loop256(iters);
        double dt = now() - t0;
        double flops = (double)nt * iters * (avx512 ? 16 * 16 * 2 : 12 * 8 * 2);
        if (sink == 12345) puts("");
        if (flops / dt / 1e9 > best) best = flops / dt / 1e9;
    }
    return best;
}

static double bench(int64_t n, float *A, float *B, float *C) {
    double flops = 2.0 * n * n * n, best = 1e30;
    long reps = 1;
    for (;;) { /* calibrate: one timed batch lasts ≥ 0.1 s */
        double t0 = now();
        for (long r = 0; r < reps; r++) nb_gemm_f32(false, false, n, n, n, 1, A, n, B, n, 0, C, n);
        double dt = now() - t0;
        if (dt >= 0.1) { best = dt / reps; break; }
        reps *= 2;
    }
    for (int k = 0; k < 2; k++) {
        double t0 = now();
        for (long r = 0; r < reps; r++) nb_gemm_f32(false, false, n, n, n, 1, A, n, B, n, 0, C, n);
        double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    return flops / best / 1e9;
}

int main(int argc, char **argv) {
    int64_t sizes[16] = {64, 256, 1024, 2048};
    int ns = 4;
    if (argc > 1) {
        ns = 0;
        for (int i = 1; i < argc && ns < 16; i++) sizes[ns++] = atoll(argv[i]);
    }
    const char *ct = getenv("OPENBLAS_CORETYPE");
    const bool has512 = strcmp(nb_gemm_isa(), "avx512") == 0;
    printf("# GEMM f32 C = A·B, n×n; built-in ISA %s; OPENBLAS_CORETYPE=%s\n", nb_gemm_isa(), ct ? ct : "(unset)");
    double pk[3];
    for (int nt = 1; nt <= 2; nt++) pk[nt] = peak(has512, nt);
    printf("# measured FMA peak (%s): %.0f GFLOP/s on 1 thread, %.0f on 2\n", has512 ? "AVX-512" : "AVX2", pk[1],
           pk[2]);
    printf("%-6s %-3s %12s %8s %12s %8s %8s\n", "n", "thr", "builtin", "of peak", "openblas", "of peak",
           "bi/blas");
    for (int i = 0; i < ns; i++) {
        const int64_t n = sizes[i];
        float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n);
        float *C = malloc(sizeof(float) * n * n);
        for (int64_t j = 0; j < n * n; j++) { A[j] = (float)(j % 7) - 3; B[j] = (float)(j % 5) - 2; }
        for (int nt = 1; nt <= 2; nt++) {
            nb_set_num_threads(nt);
            /* Alternate the two 3 times and keep each one's best: on a shared
             * machine the load changes between runs. */
            double g_bi = 0, g_bl = 0;
            for (int round = 0; round < 3; round++) {
                nb_gemm_set_backend(NB_GEMM_BUILTIN);
                double g = bench(n, A, B, C);
                if (g > g_bi) g_bi = g;
                if (nb_gemm_set_backend(NB_GEMM_BLAS)) {
                    g = bench(n, A, B, C);
                    if (g > g_bl) g_bl = g;
                }
            }
            printf("%-6lld %-3d %8.1f GF/s %7.0f%% %8.1f GF/s %7.0f%% %8.2f\n", (long long)n, nt, g_bi,
                   100 * g_bi / pk[nt], g_bl, 100 * g_bl / pk[nt], g_bl > 0 ? g_bi / g_bl : 0);
            fflush(stdout);
        }
        free(A); free(B); free(C);
    }
    return 0;
}
