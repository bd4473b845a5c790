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

/* dst[k*ds + r] = src[r*lda + k] for r, k < 8: the 8×8 transpose of f32 in
 * ymm registers (unpack, shuffle, 128-bit lane permute). */
static inline void pack_a_t8_f32(const float *src, int64_t lda, float *dst, int64_t ds) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lda);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

#define T float
#define SFX _avx512_f32
#define PACK_A_T8 pack_a_t8_f32
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
#undef T
#undef SFX
#undef V
#undef VL
#undef MR
#undef NV
#undef KC
#undef MC
#undef NC
#undef DIRECT_MAX
#undef PACK_A_T8
#undef VZERO
#undef VLOAD
#undef VLOADU
#undef VSTOREU
#undef VSET1
#undef VFMA
#undef VMUL

#define T double
#define SFX _avx512_f64
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
