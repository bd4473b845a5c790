/* ops/kernels/gelu_f32.c — exact GELU in f32 on AVX-512F (gelu_f32.h has
 * the formulas and the accuracy). Compiled with the library's baseline
 * flags; the vector functions carry target("avx512f") and run only after
 * nb_isa() said AVX-512. */
#include "gelu_f32.h"

#include "cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool nb_gelu_f32_fast(void) { return nb_isa() >= ISA_AVX512; }

#define GF_TARGET __attribute__((target("avx512f"), always_inline)) static inline
#define GF_INV_SQRT2 0.70710678118654752440f
#define GF_INV_SQRT2PI 0.39894228040143267794f

/* e^(a + s), a = −x²/2's high part (any size), s small (|s| < 2): k from
 * the sum, r = (a − k·ln2) + s with ln2 split in two (Cody-Waite) */
GF_TARGET __m512 gf_exp2(__m512 a, __m512 s) {
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_add_ps(a, s), _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), a);
    r = _mm512_add_ps(r, _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), s));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, k);
}

/* −x²/2 as hi + lo (|x| clamped to 20, where every result below is exact
 * to f32: Φ(−20) underflows) */
GF_TARGET void gf_halfsq(__m512 ax, __m512 *hi, __m512 *lo) {
    const __m512 h = _mm512_mul_ps(ax, ax);
    const __m512 l = _mm512_fmsub_ps(ax, ax, h); /* ax² − h, exact */
    *hi = _mm512_mul_ps(h, _mm512_set1_ps(-0.5f));
    *lo = _mm512_mul_ps(l, _mm512_set1_ps(-0.5f));
}

/* 2Φ(x) */
GF_TARGET __m512 gf_t2(__m512 x) {
    const __m512 ax = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(20.0f)); /* NaN: 20 (blended back below) */
    /* centre: 1 + erf(x/√2) = 1 + x·Q(x²) */
    const __m512 u = _mm512_mul_ps(x, x);
    __m512 Q = _mm512_set1_ps(1.0736901003838284e-06f);
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(-1.8546274077380076e-05f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(0.00023063863045535982f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(-0.002374575939029455f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(0.019947100430727005f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(-0.13298076391220093f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(0.7978845834732056f));
    const __m512 centre = _mm512_fmadd_ps(x, Q, _mm512_set1_ps(1.0f));
    /* tails: erfc(z) = t·exp(−z² + R(t)) */
    const __m512 z = _mm512_mul_ps(ax, _mm512_set1_ps(GF_INV_SQRT2));
    const __m512 t =
        _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f)));
    __m512 R = _mm512_set1_ps(0.20162630081176758f);
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(-0.9823785424232483f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(1.8289306163787842f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(-1.5253212451934814f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(0.5447582602500916f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(-0.297608882188797f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(0.12521140277385712f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(0.36985933780670166f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(1.0003546476364136f));
    R = _mm512_fmadd_ps(R, t, _mm512_set1_ps(-1.2655225992202759f));
    __m512 hi, lo;
    gf_halfsq(ax, &hi, &lo);
    const __m512 E = _mm512_mul_ps(t, gf_exp2(hi, _mm512_add_ps(R, lo)));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 tail = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), E), E);
    const __mmask16 mid = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(1.0f), _CMP_LT_OQ);
    __m512 r = _mm512_mask_blend_ps(mid, tail, centre);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), r, x); /* NaN in, NaN out */
}

/* ½·t2 + x·φ(x) */
GF_TARGET __m512 gf_dgelu(__m512 x, __m512 t2) {
    const __m512 ax = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(20.0f));
    __m512 hi, lo;
    gf_halfsq(ax, &hi, &lo);
    const __m512 e = gf_exp2(hi, lo);
    return _mm512_fmadd_ps(_mm512_mul_ps(x, _mm512_set1_ps(GF_INV_SQRT2PI)), e,
                           _mm512_mul_ps(t2, _mm512_set1_ps(0.5f)));
}

/* gelu'(x) = ½ + x·D(x²) for |x| < 1 in f64 (the two O(½) terms of
 * Φ + x·φ cancel near x = −0.75, where f32 would cost 3e-8 absolute):
 * D(v) = Σ (−1)ⁿ(2n + 2)/((2n + 1)·2ⁿ·n!)·vⁿ/√(2π), its Taylor series,
 * 10 terms (the rest below 1.2e-10: far below f32's rounding) */
__attribute__((target("avx512f"), always_inline)) static inline __m512d gf_dmid_pd(__m512d x) {
    const __m512d v = _mm512_mul_pd(x, x);
    __m512d D = _mm512_set1_pd(-2.2602343283238428e-09);
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(4.0923536838710518e-08));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(-6.5962678637803035e-07));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(9.3235709228433138e-06));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(-0.00011333587511404338));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(0.0011543468761615529));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(-0.0094986257238436362));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(0.059841342060214908));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(-0.26596152026762182));
    D = _mm512_fmadd_pd(D, v, _mm512_set1_pd(0.79788456080286541));
    return _mm512_fmadd_pd(x, D, _mm512_set1_pd(0.5));
}
GF_TARGET __m512 gf_dmid(__m512 x) {
    const __m512d lo = gf_dmid_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    const __m512d hi = gf_dmid_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))));
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo))),
                                               _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
}

/* Four vectors an iteration: one vector's Φ is a chain of ~40 dependent
 * operations (Horner, exp, the division), which one at a time leaves most
 * of the FMA unit idle; four independent chains keep it busy (1.26 → 0.95
 * ms for 1M elements, 1 thread). Each element's operations are unchanged. */
#define GF_UNROLL 4

__attribute__((target("avx512f"))) void nb_gelu_fwd_f32(float *y, float *t2, const float *x, int64_t n) {
    int64_t i0 = 0;
    for (; i0 + 16 * GF_UNROLL <= n; i0 += 16 * GF_UNROLL) {
        __m512 xv[GF_UNROLL], t[GF_UNROLL];
#pragma GCC unroll 4
        for (int u = 0; u < GF_UNROLL; u++) xv[u] = _mm512_loadu_ps(x + i0 + 16 * u);
#pragma GCC unroll 4
        for (int u = 0; u < GF_UNROLL; u++) t[u] = gf_t2(xv[u]);
#pragma GCC unroll 4
        for (int u = 0; u < GF_UNROLL; u++) {
            if (t2) _mm512_storeu_ps(t2 + i0 + 16 * u, t[u]);
            _mm512_storeu_ps(y + i0 + 16 * u, _mm512_mul_ps(_mm512_mul_ps(xv[u], _mm512_set1_ps(0.5f)), t[u]));
        }
    }
    for (int64_t i = i0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i), t = gf_t2(xv);
        if (t2) _mm512_mask_storeu_ps(t2 + i, m, t);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_mul_ps(xv, _mm512_set1_ps(0.5f)), t));
    }
}

/* gelu'(x) of one vector from t = 2Φ(x): the exp path outside |x| < 1, the
 * f64 series inside, blended by lane (both computed: the loop below runs
 * GF_UNROLL of these side by side; the tail one masked) */
GF_TARGET __m512 gf_dboth(__m512 xv, __m512 t) {
    const __mmask16 mid = _mm512_cmp_ps_mask(_mm512_abs_ps(xv), _mm512_set1_ps(1.0f), _CMP_LT_OQ);
    return _mm512_mask_blend_ps(mid, gf_dgelu(xv, t), gf_dmid(xv));
}

__attribute__((target("avx512f"))) void nb_gelu_bwd_f32(float *gx, const float *g, const float *x, const float *t2,
                                                        int64_t n, bool acc) {
    int64_t i0 = 0;
    for (; i0 + 16 * GF_UNROLL <= n; i0 += 16 * GF_UNROLL) {
        __m512 d[GF_UNROLL];
#pragma GCC unroll 4
        for (int u = 0; u < GF_UNROLL; u++) {
            const __m512 xv = _mm512_loadu_ps(x + i0 + 16 * u);
            d[u] = gf_dboth(xv, t2 ? _mm512_loadu_ps(t2 + i0 + 16 * u) : gf_t2(xv));
        }
#pragma GCC unroll 4
        for (int u = 0; u < GF_UNROLL; u++)
            _mm512_storeu_ps(gx + i0 + 16 * u,
                             _mm512_fmadd_ps(_mm512_loadu_ps(g + i0 + 16 * u), d[u],
                                             acc ? _mm512_loadu_ps(gx + i0 + 16 * u) : _mm512_setzero_ps()));
    }
    for (int64_t i = i0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 d = gf_dboth(xv, t2 ? _mm512_maskz_loadu_ps(m, t2 + i) : gf_t2(xv));
        _mm512_mask_storeu_ps(gx + i, m,
                              _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g + i), d,
                                              acc ? _mm512_maskz_loadu_ps(m, gx + i) : _mm512_setzero_ps()));
    }
}

#else
bool nb_gelu_f32_fast(void) { return false; }
void nb_gelu_fwd_f32(float *y, float *t2, const float *x, int64_t n) { (void)y, (void)t2, (void)x, (void)n; }
void nb_gelu_bwd_f32(float *gx, const float *g, const float *x, const float *t2, int64_t n, bool acc) {
    (void)gx, (void)g, (void)x, (void)t2, (void)n, (void)acc;
}
#endif
