/* ops/kernels/gemm_avx2.c — the blocked GEMM with AVX2+FMA micro-kernels.
 * Compiled with -mavx2 -mfma (this file only, see ops/meson.build); called
 * only after __builtin_cpu_supports("avx2") and ("fma") said yes (gemm.c).
 *
 * Micro-tiles: f32 6×16 (12 ymm accumulators), f64 6×8. A 16-wide row of
 * packed B is two ymm loads; each A element is one broadcast feeding two FMAs. */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

#define T float
#define SFX _avx2_f32
#define PACK_T8 nb_gemm_t8_f32
#define V __m256
#define VL 8
#define MR 6
#define NV 2
#define KC 256
#define MC 192
#define NC 3072
#ifndef DIRECT_MAX
#define DIRECT_MAX (160.0 * 160 * 160)
#endif
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_load_ps(p)
#define VLOADU(p) _mm256_loadu_ps(p)
#define VSTOREU(p, v) _mm256_storeu_ps((p), (v))
#define VSET1(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#include "gemm_tmpl.h"

#define T double
#define SFX _avx2_f64
#define V __m256d
#define VL 4
#define MR 6
#define NV 2
#define KC 256
#define MC 96
#define NC 2048
#define DIRECT_MAX (160.0 * 160 * 160)
#define VZERO() _mm256_setzero_pd()
#define VLOAD(p) _mm256_load_pd(p)
#define VLOADU(p) _mm256_loadu_pd(p)
#define VSTOREU(p, v) _mm256_storeu_pd((p), (v))
#define VSET1(x) _mm256_set1_pd(x)
#define VFMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define VMUL(a, b) _mm256_mul_pd((a), (b))
#include "gemm_tmpl.h"
