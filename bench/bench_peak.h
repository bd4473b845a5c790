/* bench/bench_peak.h — the machine's F32 FMA peak (bench_gemm, bench_gpt):
 * 16 (AVX-512) or 12 (AVX2) independent FMA chains per thread in registers
 * only, on nt threads, best of reps runs of ~0.1 s; timed in process CPU
 * time on one thread and wall time on more, as the GEMM benchmark times its
 * GEMMs. */
#ifndef NB_BENCH_PEAK_H
#define NB_BENCH_PEAK_H

#include <immintrin.h>
#include <stdbool.h>
#include <time.h>

__attribute__((target("avx512f"))) static double bp_fma512(long iters) {
    __m512 acc[16], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    float s = 0, buf[16];
    for (int i = 0; i < 16; i++) {
        _mm512_storeu_ps(buf, acc[i]);
        s += buf[0];
    }
    return s;
}
__attribute__((target("avx2,fma"))) static double bp_fma256(long iters) {
    __m256 acc[12], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 16
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    float s = 0, buf[8];
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(buf, acc[i]);
        s += buf[0];
    }
    return s;
}

static double bp_now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s (2 flops per lane per FMA) on nt threads, with AVX-512 or AVX2
 * (the ISA the measured kernels run: nb_isa(), which NB_ISA may cap). */
static double bench_fma_peak(bool avx512, int nt, int reps) {
    const long iters = 10 * 1000 * 1000;
    double best = 0;
    for (int rep = 0; rep < reps; rep++) {
        const clockid_t clock = nt == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
        double t0 = bp_now(clock), sink = 0;
#pragma omp parallel num_threads(nt) reduction(+ : sink)
        sink += avx512 ? bp_fma512(iters) : bp_fma256(iters);
        const double dt = bp_now(clock) - t0;
        const double flops = (double)nt * (double)iters * (avx512 ? 16 * 16 * 2 : 12 * 8 * 2);
        if (sink == 12345) best = -1;
        if (flops / dt / 1e9 > best) best = flops / dt / 1e9;
    }
    return best;
}

#endif
