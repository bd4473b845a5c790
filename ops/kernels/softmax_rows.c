/* ops/kernels/softmax_rows.c — softmax_rows.h for f32 and f64
 * (softmax_rows_tmpl.h), and the in-place f32 rows on AVX-512F (attention's
 * rows: short, many) with the generic loops' sums: 8 double lanes in the
 * same order, mul and add rounded apart (no FMA contraction), so every ISA
 * gives the same bits from the same exponentials (vmath's differ by an ulp
 * between ISAs). Compiled with the library's baseline flags; the
 * vector functions carry target("avx512f") and run only after nb_isa()
 * said AVX-512. */
#include "softmax_rows.h"
#include "cpu.h"
#include "vmath.h"

#include <math.h>

#define T float
#define FN(name) name##_f32
#include "softmax_rows_tmpl.h"

#define T double
#define FN(name) name##_f64
#include "softmax_rows_tmpl.h"

/* 8 double lanes (k = 0, 8, ... while k + 8 <= n), the tail into lane 0,
 * then ((0+1)+(2+3))+((4+5)+(6+7)): row_sum's and row_dot's order. */
static double lanes_total(double *s, const float *a, const float *b, int64_t k, int64_t n) {
    for (; k < n; k++) s[0] += b ? (double)a[k] * (double)b[k] : (double)a[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* gcc contracts a separate mul and add into an FMA by default (fp-contract
 * fast); clang contracts within one expression only, never across these
 * intrinsics, and has no optimize attribute */
#if defined(__clang__)
#define SM_TARGET __attribute__((target("avx512f")))
#else
#define SM_TARGET __attribute__((target("avx512f"), optimize("fp-contract=off")))
#endif

static inline __mmask16 sm_mask(int64_t left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

SM_TARGET static bool sm_inplace_avx512(float *r, int64_t n) {
    __m512 mv = _mm512_set1_ps(-INFINITY);
    __mmask16 nan = 0;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = sm_mask(n - i);
        const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, r + i);
        mv = _mm512_max_ps(mv, v);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    const float mx = nan ? NAN : _mm512_reduce_max_ps(mv);
    if (mx == -INFINITY) return false;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = sm_mask(n - i);
        _mm512_mask_storeu_ps(r + i, k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, r + i), _mm512_set1_ps(mx)));
    }
    nb_vexp_mt_f32(1, r, r, n);
    __m512d acc = _mm512_setzero_pd();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_loadu_ps(r + k)));
    double s[8];
    _mm512_storeu_pd(s, acc);
    const __m512 inv = _mm512_set1_ps((float)(1.0 / lanes_total(s, r, NULL, k, n)));
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = sm_mask(n - i);
        _mm512_mask_storeu_ps(r + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, r + i), inv));
    }
    return true;
}

SM_TARGET static void sm_bwd_inplace_avx512(float *d, const float *y, int64_t n) {
    __m512d acc = _mm512_setzero_pd();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        acc = _mm512_add_pd(
            acc, _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(d + k)), _mm512_cvtps_pd(_mm256_loadu_ps(y + k))));
    double s[8];
    _mm512_storeu_pd(s, acc);
    const double dot = lanes_total(s, d, y, k, n);
    const __m512d vs = _mm512_set1_pd(dot);
    for (k = 0; k + 8 <= n; k += 8) {
        const __m512d dv = _mm512_cvtps_pd(_mm256_loadu_ps(d + k)), yv = _mm512_cvtps_pd(_mm256_loadu_ps(y + k));
        _mm256_storeu_ps(d + k, _mm512_cvtpd_ps(_mm512_mul_pd(yv, _mm512_sub_pd(dv, vs))));
    }
    for (; k < n; k++) d[k] = (float)((double)y[k] * ((double)d[k] - dot));
}
#define SM_AVX512 (nb_isa() >= ISA_AVX512)
#else
#define SM_AVX512 0
static bool sm_inplace_avx512(float *r, int64_t n) { return sm_inplace_f32(r, n); }
static void sm_bwd_inplace_avx512(float *d, const float *y, int64_t n) { sm_bwd_inplace_f32(d, y, n); }
#endif

bool nb_softmax_row_inplace_f32(float *r, int64_t n) {
    return SM_AVX512 ? sm_inplace_avx512(r, n) : sm_inplace_f32(r, n);
}
bool nb_softmax_row_inplace_f64(double *r, int64_t n) { return sm_inplace_f64(r, n); }
void nb_softmax_row_bwd_inplace_f32(float *d, const float *y, int64_t n) {
    if (SM_AVX512) sm_bwd_inplace_avx512(d, y, n);
    else sm_bwd_inplace_f32(d, y, n);
}
void nb_softmax_row_bwd_inplace_f64(double *d, const double *y, int64_t n) { sm_bwd_inplace_f64(d, y, n); }
