/* bench/bench_gemm.c — F32 GEMM throughput: nabla's built-in kernel against
 * OpenBLAS (through the same nb_gemm entry point), square sizes, 1 and 2
 * threads, with the machine's measured FMA peak for the fraction.
 *
 *   OPENBLAS_CORETYPE=SkylakeX ./bench_gemm [sizes...]   (default 64 256 1024 2048)
 *
 * OpenBLAS picks its kernels from OPENBLAS_CORETYPE when it loads (this
 * machine's environment says Haswell = AVX2); run with SkylakeX to compare
 * AVX-512 with our AVX-512 kernel.
 *
 * The two backends alternate in 7 rounds; a round times one batch of each
 * (a batch lasts >= 0.05 s). Printed: each backend's best GFLOP/s, and the
 * median (min-max) over rounds of the round's ratio built-in/OpenBLAS: on a
 * shared machine a ratio of neighbouring batches holds where absolute speed
 * drifts. One thread is timed in process CPU time (a preempted thread does
 * not count the time it waits: both backends then run in the caller's
 * thread), two threads in wall time (what parallel work is for), each
 * backend in a process of its own (spawn_one). */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nabla/nabla.h"
#include "bench_peak.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

static double now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Seconds of `clock` per call of the product, over a batch of reps calls. */
static double batch(clockid_t clock, int64_t n, long reps, float *A, float *B, float *C) {
    double t0 = now(clock);
    for (long r = 0; r < reps; r++) nb_gemm_f32(false, false, n, n, n, 1, A, n, B, n, 0, C, n);
    return (now(clock) - t0) / reps;
}

/* Calls per batch so that one batch lasts >= 0.05 s (after a warm-up call). */
static long calibrate(clockid_t clock, int64_t n, float *A, float *B, float *C) {
    long reps = 1;
    batch(clock, n, 1, A, B, C);
    while (batch(clock, n, reps, A, B, C) * reps < 0.05) reps *= 2;
    return reps;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Child mode "--one builtin|blas n": 2-thread GFLOP/s of one backend alone,
 * best of two batches, printed as "gflops: X". */
static int one(const char *backend, int64_t n) {
    nb_set_num_threads(2);
    if (!nb_gemm_set_backend(strcmp(backend, "blas") == 0 ? NB_GEMM_BLAS : NB_GEMM_BUILTIN)) return 1;
    float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n), *C = malloc(sizeof(float) * n * n);
    for (int64_t j = 0; j < n * n; j++) {
        A[j] = (float)(j % 7) - 3;
        B[j] = (float)(j % 5) - 2;
    }
    const long reps = calibrate(CLOCK_MONOTONIC, n, A, B, C);
    double t = batch(CLOCK_MONOTONIC, n, reps, A, B, C), t2 = batch(CLOCK_MONOTONIC, n, reps, A, B, C);
    printf("gflops: %.3f\n", 2.0 * n * n * n / (t2 < t ? t2 : t) / 1e9);
    free(A), free(B), free(C);
    return 0;
}

/* 2-thread GFLOP/s of one backend in a process of its own (this program,
 * "--one"): in one process each library's idle threads (OpenBLAS's spin on
 * sched_yield after a call, libgomp's spin a while) take the cores the other
 * library's batch needs, which decided the 2-thread ratio more than the
 * kernels did. The built-in child runs without OpenBLAS's thread pool. */
static double spawn_one(const char *self, bool blas, int64_t n) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s'%s' --one %s %lld", blas ? "" : "OPENBLAS_NUM_THREADS=1 ", self,
             blas ? "blas" : "builtin", (long long)n);
    FILE *f = popen(cmd, "r");
    double g = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) sscanf(line, "gflops: %lf", &g);
        pclose(f);
    }
    return g;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--one") == 0) return one(argv[2], atoll(argv[3]));
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || memchr(self, '\'', (size_t)len)) {
        fprintf(stderr, "bench_gemm: cannot name its own executable\n");
        return 1;
    }
    self[len] = 0;
    int64_t sizes[16] = {64, 256, 1024, 2048};
    int ns = 4;
    if (argc > 1) {
        ns = 0;
        for (int i = 1; i < argc && ns < 16; i++) /* 16 sizes x 2 thread counts: row[32] */
            sizes[ns++] = atoll(argv[i]);
    }
    const char *ct = getenv("OPENBLAS_CORETYPE");
    const bool has512 = strcmp(nb_isa_name(nb_isa()), "avx512") == 0;
    printf("# GEMM f32 C = A·B, n×n; built-in ISA %s; OPENBLAS_CORETYPE=%s\n", nb_isa_name(nb_isa()),
           ct ? ct : "(unset)");
    /* The peak is measured again after each size: on a shared machine (a VM
     * whose cores may be hyperthreads another tenant uses) one measurement
     * can come out low; the table, printed at the end, uses the best. */
    double pk[3];
    for (int nt = 1; nt <= 2; nt++) pk[nt] = bench_fma_peak(has512, nt, 3);
    typedef struct {
        int64_t n;
        int nt;
        double g_bi, g_bl, med, lo, hi;
    } result;
    result row[32];
    int nrow = 0;
    const bool have_blas = nb_gemm_set_backend(NB_GEMM_BLAS);
    enum { ROUNDS = 7 };
    for (int i = 0; i < ns; i++) {
        const int64_t n = sizes[i];
        float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n);
        float *C = malloc(sizeof(float) * n * n);
        for (int64_t j = 0; j < n * n; j++) {
            A[j] = (float)(j % 7) - 3;
            B[j] = (float)(j % 5) - 2;
        }
        for (int nt = 1; nt <= 2; nt++) {
            if (nt == 2) { /* each round: each backend in its own process */
                double g_bi = 0, g_bl = 0, ratio[ROUNDS];
                for (int round = 0; round < ROUNDS; round++) {
                    const double a = spawn_one(self, false, n), b = have_blas ? spawn_one(self, true, n) : 0;
                    if (a > g_bi) g_bi = a;
                    if (b > g_bl) g_bl = b;
                    ratio[round] = b > 0 ? a / b : 0;
                }
                qsort(ratio, ROUNDS, sizeof ratio[0], cmp_double);
                row[nrow++] = (result){n, nt, g_bi, g_bl, ratio[ROUNDS / 2], ratio[0], ratio[ROUNDS - 1]};
                const double p = bench_fma_peak(has512, nt, 1);
                if (p > pk[nt]) pk[nt] = p;
                continue;
            }
            nb_set_num_threads(nt);
            const clockid_t clock = nt == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
            const double flops = 2.0 * n * n * n;
            nb_gemm_set_backend(NB_GEMM_BUILTIN);
            const long reps_bi = calibrate(clock, n, A, B, C);
            long reps_bl = 0;
            if (have_blas) {
                nb_gemm_set_backend(NB_GEMM_BLAS);
                reps_bl = calibrate(clock, n, A, B, C);
            }
            double t_bi = 1e30, t_bl = 1e30, ratio[ROUNDS];
            for (int round = 0; round < ROUNDS; round++) {
                nb_gemm_set_backend(NB_GEMM_BUILTIN);
                const double a = batch(clock, n, reps_bi, A, B, C);
                if (a < t_bi) t_bi = a;
                ratio[round] = 0;
                if (have_blas) {
                    nb_gemm_set_backend(NB_GEMM_BLAS);
                    const double b = batch(clock, n, reps_bl, A, B, C);
                    if (b < t_bl) t_bl = b;
                    ratio[round] = b / a;
                }
            }
            qsort(ratio, ROUNDS, sizeof ratio[0], cmp_double);
            row[nrow++] = (result){n,
                                   nt,
                                   flops / t_bi / 1e9,
                                   have_blas ? flops / t_bl / 1e9 : 0,
                                   ratio[ROUNDS / 2],
                                   ratio[0],
                                   ratio[ROUNDS - 1]};
            const double p = bench_fma_peak(has512, nt, 1);
            if (p > pk[nt]) pk[nt] = p;
        }
        free(A);
        free(B);
        free(C);
    }
    printf("# measured FMA peak (%s, best of the run): %.0f GFLOP/s on 1 thread, %.0f on 2\n",
           has512 ? "AVX-512" : "AVX2", pk[1], pk[2]);
    printf("%-6s %-3s %12s %8s %12s %8s %8s %s\n", "n", "thr", "builtin", "of peak", "openblas", "of peak", "bi/blas",
           "(median of 7 rounds, min-max)");
    for (int r = 0; r < nrow; r++)
        printf("%-6lld %-3d %8.1f GF/s %7.0f%% %8.1f GF/s %7.0f%% %8.2f (%.2f-%.2f)\n", (long long)row[r].n, row[r].nt,
               row[r].g_bi, 100 * row[r].g_bi / pk[row[r].nt], row[r].g_bl, 100 * row[r].g_bl / pk[row[r].nt],
               row[r].med, row[r].lo, row[r].hi);
    return 0;
}
