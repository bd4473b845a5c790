/* ops/kernels/t8.h — 8×8 transposes in registers (internal): the GEMM's
 * packing (gemm_tmpl.h, PACK_T8) and the attention slices' Kᵀ, Vᵀ
 * (attn_f32.c). Each carries its ISA as a target attribute, so it inlines
 * into a file built for that ISA or into a function of that target. */
#ifndef NB_KERNELS_T8_H
#define NB_KERNELS_T8_H
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>

#define T8_AVX2 __attribute__((target("avx2"))) static inline
#define T8_AVX512 __attribute__((target("avx512f"))) static inline

/* dst[k*ds + r] = src[r*lda + k] for r, k < 8: the 8×8 transpose of f32 in
 * ymm registers (unpack, shuffle, 128-bit lane permute). */
T8_AVX2 void nb_gemm_t8_f32(const float *src, int64_t lda, float *dst, int64_t ds) {
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

/* The same for f64 in zmm registers (unpack, then two rounds of 128-bit lane
 * shuffles). */
T8_AVX512 void nb_gemm_t8_f64(const double *src, int64_t lda, double *dst, int64_t ds) {
    __m512d r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm512_loadu_pd(src + i * lda);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);     /* columns 0 2 4 6 of rows i, i+1 */
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]); /* columns 1 3 5 7 */
    }
    for (int h = 0; h < 2; h++) {                                                     /* h = 0: even columns, 1: odd */
        u[h] = _mm512_shuffle_f64x2(t[h], t[2 + h], _MM_SHUFFLE(2, 0, 2, 0));         /* c0|c4 rows 0-3 */
        u[2 + h] = _mm512_shuffle_f64x2(t[h], t[2 + h], _MM_SHUFFLE(3, 1, 3, 1));     /* c2|c6 rows 0-3 */
        u[4 + h] = _mm512_shuffle_f64x2(t[4 + h], t[6 + h], _MM_SHUFFLE(2, 0, 2, 0)); /* c0|c4 rows 4-7 */
        u[6 + h] = _mm512_shuffle_f64x2(t[4 + h], t[6 + h], _MM_SHUFFLE(3, 1, 3, 1)); /* c2|c6 rows 4-7 */
        _mm512_storeu_pd(dst + (0 + h) * ds, _mm512_shuffle_f64x2(u[h], u[4 + h], _MM_SHUFFLE(2, 0, 2, 0)));
        _mm512_storeu_pd(dst + (4 + h) * ds, _mm512_shuffle_f64x2(u[h], u[4 + h], _MM_SHUFFLE(3, 1, 3, 1)));
        _mm512_storeu_pd(dst + (2 + h) * ds, _mm512_shuffle_f64x2(u[2 + h], u[6 + h], _MM_SHUFFLE(2, 0, 2, 0)));
        _mm512_storeu_pd(dst + (6 + h) * ds, _mm512_shuffle_f64x2(u[2 + h], u[6 + h], _MM_SHUFFLE(3, 1, 3, 1)));
    }
}

#endif
#endif
