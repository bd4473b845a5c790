/* ops/kernels/gemm_avx512.c — the blocked GEMM with AVX-512F micro-kernels.
 * Compiled with -mavx512f -mfma (this file only, see ops/meson.build); called
 * only after __builtin_cpu_supports("avx512f") said yes (gemm.c).
 *
 * Micro-tiles: f32 8×32 (16 zmm accumulators), f64 8×16. A 32-wide row of
 * packed B is two zmm loads; each A element is one broadcast feeding two FMAs. */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

#define T float
#define SFX _avx512_f32
#define PACK_T8 nb_gemm_t8_f32
#define V __m512
#define VL 16
#define MR 8
#define NV 2
#define KC 256
#define MC 192
#define NC 3072
#ifndef DIRECT_MAX
#define DIRECT_MAX (160.0 * 160 * 160)
#endif
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_load_ps(p)
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTOREU(p, v) _mm512_storeu_ps((p), (v))
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#include "gemm_tmpl.h"

#define T double
#define SFX _avx512_f64
#define PACK_T8 nb_gemm_t8_f64
#define V __m512d
#define VL 8
#define MR 8
#define NV 2
#define KC 256
#define MC 96
#define NC 2048
#define DIRECT_MAX (160.0 * 160 * 160)
#define VZERO() _mm512_setzero_pd()
#define VLOAD(p) _mm512_load_pd(p)
#define VLOADU(p) _mm512_loadu_pd(p)
#define VSTOREU(p, v) _mm512_storeu_pd((p), (v))
#define VSET1(x) _mm512_set1_pd(x)
#define VFMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define VMUL(a, b) _mm512_mul_pd((a), (b))
#include "gemm_tmpl.h"
