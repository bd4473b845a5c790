/* ops/kernels/pool2.c — 2×2 stride-2 max pooling (pool2_tmpl.h for f32 and
 * f64), and its AVX-512 f32 row. */
#include "pool2.h"
#include "cpu.h"

#include <stdbool.h>
#include <string.h>

typedef int (*pool2_row_fn_f32)(const float *, const float *, float *, uint8_t *, int64_t);
typedef int (*pool2_row_fn_f64)(const double *, const double *, double *, uint8_t *, int64_t);
static pool2_row_fn_f32 pool2_row_fast_f32(void);
static pool2_row_fn_f64 pool2_row_fast_f64(void);

#define T float
#define FN(name) name##_f32
#include "pool2_tmpl.h"

#define T double
#define FN(name) name##_f64
#include "pool2_tmpl.h"

/* The AVX-512 forward row for f32 (the CNN case), 16 outputs a step: the
 * two input rows split into even and odd columns by permutes, the same
 * selects (maxps(a, b) is a > b ? a : b, as the scalar rule) and the same
 * winner rule by compare masks: the scalar row's bits, 5x faster on the
 * CNN's first pool (the baseline build is SSE2, and the compiler's stride-2
 * code stayed scalar). Chosen when nb_isa() is AVX-512 (kernels/cpu.h).
 * A masked-store backward row was 1.8x slower than the scalar scatter
 * here and is not used. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define P2_TARGET __attribute__((target("avx512f")))
P2_TARGET static int pool2_row_f32_avx512(const float *restrict r0, const float *restrict r1, float *restrict yr,
                                          uint8_t *restrict kr, int64_t Wo) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1)), one = _mm512_set1_epi32(1);
    __mmask16 nan = 0;
    for (int64_t j = 0; j < Wo; j += 16) {
        const int64_t m = Wo - j < 16 ? Wo - j : 16;
        const __mmask16 om = (__mmask16)((1u << m) - 1), lo = (__mmask16)(m >= 8 ? 0xFFFF : (1u << 2 * m) - 1),
                        hi = (__mmask16)(m > 8 ? (1u << (2 * m - 16)) - 1 : 0);
        const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * j), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * j + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * j), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * j + 16);
        const __m512 v0 = _mm512_permutex2var_ps(a0, ev, a1), v1 = _mm512_permutex2var_ps(a0, od, a1);
        const __m512 v2 = _mm512_permutex2var_ps(b0, ev, b1), v3 = _mm512_permutex2var_ps(b0, od, b1);
        const __m512 m01 = _mm512_max_ps(v1, v0), m23 = _mm512_max_ps(v3, v2), b = _mm512_max_ps(m23, m01);
        nan |= _mm512_mask_cmp_ps_mask(om, v0, v1, _CMP_UNORD_Q) | _mm512_mask_cmp_ps_mask(om, v2, v3, _CMP_UNORD_Q);
        _mm512_mask_storeu_ps(yr + j, om, b);
        const __mmask16 e0 = _mm512_cmp_ps_mask(v0, b, _CMP_NEQ_UQ), e1 = e0 & _mm512_cmp_ps_mask(v1, b, _CMP_NEQ_UQ),
                        e2 = e1 & _mm512_cmp_ps_mask(v2, b, _CMP_NEQ_UQ);
        const __m512i k =
            _mm512_add_epi32(_mm512_add_epi32(_mm512_maskz_mov_epi32(e0, one), _mm512_maskz_mov_epi32(e1, one)),
                             _mm512_maskz_mov_epi32(e2, one));
        _mm512_mask_cvtepi32_storeu_epi8(kr + j, om, k);
    }
    return nan != 0;
}
static bool pool2_avx512(void) { return nb_isa() == ISA_AVX512; }
static pool2_row_fn_f32 pool2_row_fast_f32(void) { return pool2_avx512() ? pool2_row_f32_avx512 : pool2_row_f32; }
#else
static pool2_row_fn_f32 pool2_row_fast_f32(void) { return pool2_row_f32; }
#endif
static pool2_row_fn_f64 pool2_row_fast_f64(void) { return pool2_row_f64; }
