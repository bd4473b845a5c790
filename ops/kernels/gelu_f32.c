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

/* 2Φ(x) for |x| < 1: 1 + erf(x/√2) = 1 + x·Q(x²) */
GF_TARGET __m512 gf_centre(__m512 x) {
    const __m512 u = _mm512_mul_ps(x, x);
    __m512 Q = _mm512_set1_ps(1.0736901003838284e-06f);
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(-1.8546274077380076e-05f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(0.00023063863045535982f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(-0.002374575939029455f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(0.019947100430727005f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(-0.13298076391220093f));
    Q = _mm512_fmadd_ps(Q, u, _mm512_set1_ps(0.7978845834732056f));
    return _mm512_fmadd_ps(x, Q, _mm512_set1_ps(1.0f));
}
/* 2Φ(x) for |x| >= 1 or NaN: erfc(z) = t·exp(−z² + R(t)), z = |x|/√2;
 * NaN in, NaN out */
GF_TARGET __m512 gf_tail(__m512 x) {
    const __m512 ax = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(20.0f)); /* NaN: 20 (blended back below) */
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
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), tail, x);
}
/* the lanes with |x| < 1 (NaN: not) */
GF_TARGET __mmask16 gf_mid(__m512 x) { return _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(1.0f), _CMP_LT_OQ); }

/* ½·t2 + x·φ(x) */
GF_TARGET __m512 gf_dgelu(__m512 x, __m512 t2) {
    const __m512 ax = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(20.0f));
    __m512 hi, lo;
    gf_halfsq(ax, &hi, &lo);
    const __m512 e = gf_exp2(hi, lo);
    return _mm512_fmadd_ps(_mm512_mul_ps(x, _mm512_set1_ps(GF_INV_SQRT2PI)), e,
                           _mm512_mul_ps(t2, _mm512_set1_ps(0.5f)));
}

/* gelu'(x) for |x| < 1 as (x − r)·Q(x) + gelu'(r): r is the f32 nearest
 * the root of gelu' (x = −0.75179152...), Q a degree-12 polynomial in x
 * (Horner in f32), the fit of (gelu'(x) − gelu'(r))/(x − r) at 400 Chebyshev
 * nodes of [−1, 1] (tools/fit_gelu_deriv.py: relative error 4.5e-10).
 * The two O(½) terms of Φ + x·φ cancel near the root: summed in f32 they
 * would cost 3e-8 absolute on a result near 0. With the root factored out
 * no sum cancels (Q lies in [0.33, 0.63]; x − r is exact below −0.375), so
 * the result keeps its relative accuracy at the root too: within 2.3 ULP
 * (1.7e-7 relative) of the exact value, every f32 of [−1, 1) checked
 * against long double. An f64 Taylor series of ½ + x·D(x²) did this before,
 * at 0.5 ULP and twice the cost. */
GF_TARGET __m512 gf_dmid(__m512 x) {
    __m512 q = _mm512_set1_ps(7.004768577e-06f);
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(-5.361138847e-06f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(-1.056954061e-04f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(7.974595064e-05f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(1.091437880e-03f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(-8.208543877e-04f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(-8.880193345e-03f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(6.676220335e-03f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(5.482190847e-02f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(-4.121468589e-02f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(-2.349766344e-01f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(1.766534448e-01f));
    q = _mm512_fmadd_ps(q, x, _mm512_set1_ps(6.650779843e-01f));
    const __m512 t = _mm512_sub_ps(x, _mm512_set1_ps(-7.517915368e-01f));
    return _mm512_fmadd_ps(t, q, _mm512_set1_ps(-5.227312166e-09f));
}

/* The forward in blocks of GF_BLK elements, each path on the lanes that
 * take it. Every operation is lane by lane, so a lane's result does not
 * depend on which lanes share its vector: a block computes the centre
 * polynomial on its vectors that have a |x| < 1 lane, packs the other lanes
 * (register VCOMPRESSPS: the memory form is microcoded and slow on AMD)
 * into dense vectors, runs the erfc tail (a division, a degree-9
 * polynomial and an exp: most of the cost) on them four vectors side by
 * side (one vector's tail is a chain of ~40 dependent operations; four
 * chains keep the FMA unit busy), and expands the results back into their
 * lanes. The bits are those of computing both paths on every lane and
 * blending (tests/test_ops_nn.c, gelu_f32_lanes_alone); the cost follows
 * the lanes' mix: 1 thread, 64K elements in cache, N(0, σ²) inputs,
 * 0.98 → 0.31 ns an element at σ = 0.23 (the GPT benchmark's), 0.87 → 0.63
 * at σ = 1, 0.88 → 0.91 at σ = 3 (almost every lane in the tail). A block
 * of 1024 leaves the packed stores time to drain before they are read
 * (256: 0.74 at σ = 1). */
#define GF_BLK 1024
#define GF_NV (GF_BLK / 16)

GF_TARGET __mmask16 gf_lanes(int64_t left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }
/* pr[0:k] = EXPR over the packed lanes, 4 vectors at a time (the packed
 * inputs hold k rounded up to 64: zeros past k) */
#define GF_PACKED_RUN(k, EXPR)                                                                       \
    for (int j = 0; j < (k); j += 64) {                                                              \
        __m512 r_[4];                                                                                \
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) r_[u] = EXPR(j + 16 * u);                \
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) _mm512_store_ps(pr + j + 16 * u, r_[u]); \
    }
GF_TARGET void gf_pad(float *buf, int k) {
    for (int j = k; j < ((k + 63) & ~63); j++) buf[j] = 0;
}
/* A vector's first pass (lanes m): *out gets the |x| < 1 path where the
 * vector has such a lane (the centre of 2Φ, or gelu' when deriv), else x;
 * the other lanes are packed into px at *k. Returns the packed lanes. */
GF_TARGET __mmask16 gf_split(__m512 xv, __mmask16 m, bool deriv, __m512 *out, float *px, int *k) {
    const __mmask16 mid = gf_mid(xv) & m, rest = (__mmask16)(m & ~mid);
    *out = mid ? (deriv ? gf_dmid(xv) : gf_centre(xv)) : xv;
    if (rest) {
        _mm512_storeu_ps(px + *k, _mm512_maskz_compress_ps(rest, xv));
        *k += __builtin_popcount(rest);
    }
    return rest;
}
/* The last pass: v with the packed lanes' results (pr at *off) in place */
GF_TARGET __m512 gf_merge(__m512 v, __mmask16 rest, const float *pr, int *off) {
    if (!rest) return v;
    v = _mm512_mask_expand_ps(v, rest, _mm512_loadu_ps(pr + *off));
    *off += __builtin_popcount(rest);
    return v;
}

__attribute__((target("avx512f"))) void nb_gelu_fwd_f32(float *y, float *t2, const float *x, int64_t n) {
    float px[GF_BLK + 16] __attribute__((aligned(64))), pr[GF_BLK + 16] __attribute__((aligned(64)));
    __m512 cv[GF_NV];
    __mmask16 mk[GF_NV];
    for (int64_t i0 = 0; i0 < n; i0 += GF_BLK) {
        const int nv = (int)((n - i0 < GF_BLK ? n - i0 : GF_BLK) + 15) / 16;
        int k = 0;
        for (int v = 0; v < nv; v++) {
            const __mmask16 m = gf_lanes(n - i0 - 16 * v);
            mk[v] = gf_split(_mm512_maskz_loadu_ps(m, x + i0 + 16 * v), m, false, &cv[v], px, &k);
        }
        gf_pad(px, k);
#define GF_TAIL_AT(j) gf_tail(_mm512_load_ps(px + (j)))
        GF_PACKED_RUN(k, GF_TAIL_AT)
#undef GF_TAIL_AT
        for (int v = 0, off = 0; v < nv; v++) {
            const __mmask16 m = gf_lanes(n - i0 - 16 * v);
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + i0 + 16 * v);
            const __m512 t = gf_merge(cv[v], mk[v], pr, &off);
            if (t2) _mm512_mask_storeu_ps(t2 + i0 + 16 * v, m, t);
            _mm512_mask_storeu_ps(y + i0 + 16 * v, m, _mm512_mul_ps(_mm512_mul_ps(xv, _mm512_set1_ps(0.5f)), t));
        }
    }
}

/* gelu'(x) of one vector from t = 2Φ(x): the exp path outside |x| < 1, the
 * polynomial inside, blended by lane */
GF_TARGET __m512 gf_dboth(__m512 xv, __m512 t) {
    return _mm512_mask_blend_ps(gf_mid(xv), gf_dgelu(xv, t), gf_dmid(xv));
}

/* The backward without the forward's 2Φ: groups of four vectors all inside
 * |x| < 1 take the polynomial alone (it needs only x; four chains side by
 * side); elsewhere the polynomial on the vectors that have a |x| < 1 lane, and
 * the other lanes packed as in the forward, each computing its 2Φ (the
 * erfc tail: the forward's value) and then the exp path. Inside |x| < 1 there is nothing to recompute, so
 * where most lanes are there (the GPT's pre-activations) the forward need
 * not write 2Φ nor the backward read it. */
GF_TARGET __m512 gf_dtail(__m512 x) { return gf_dgelu(x, gf_tail(x)); }
__attribute__((target("avx512f"))) static void gelu_bwd_packed(float *gx, const float *g, const float *x, int64_t n,
                                                               bool acc) {
    float px[GF_BLK + 16] __attribute__((aligned(64))), pr[GF_BLK + 16] __attribute__((aligned(64)));
    __m512 dv[GF_NV];
    __mmask16 mk[GF_NV];
    bool done[GF_NV];
    for (int64_t i0 = 0; i0 < n; i0 += GF_BLK) {
        const int nv = (int)((n - i0 < GF_BLK ? n - i0 : GF_BLK) + 15) / 16;
        int k = 0;
        for (int v0 = 0; v0 < nv; v0 += 4) {
            /* four whole vectors all inside |x| < 1: the polynomial, stored now */
            if (v0 + 4 <= nv && n - i0 - 16 * v0 >= 64) {
                __m512 xv[4];
                __mmask16 all = 0xFFFF;
#pragma GCC unroll 4
                for (int u = 0; u < 4; u++) {
                    xv[u] = _mm512_loadu_ps(x + i0 + 16 * (v0 + u));
                    all &= gf_mid(xv[u]);
                }
                if (all == 0xFFFF) {
#pragma GCC unroll 4
                    for (int u = 0; u < 4; u++) {
                        float *o = gx + i0 + 16 * (v0 + u);
                        _mm512_storeu_ps(o,
                                         _mm512_fmadd_ps(_mm512_loadu_ps(g + i0 + 16 * (v0 + u)), gf_dmid(xv[u]),
                                                         acc ? _mm512_loadu_ps(o) : _mm512_setzero_ps()));
                        done[v0 + u] = true;
                    }
                    continue;
                }
            }
            for (int v = v0; v < nv && v < v0 + 4; v++) {
                const __mmask16 m = gf_lanes(n - i0 - 16 * v);
                done[v] = false;
                mk[v] = gf_split(_mm512_maskz_loadu_ps(m, x + i0 + 16 * v), m, true, &dv[v], px, &k);
            }
        }
        gf_pad(px, k);
#define GF_DTAIL_AT(j) gf_dtail(_mm512_load_ps(px + (j)))
        GF_PACKED_RUN(k, GF_DTAIL_AT)
#undef GF_DTAIL_AT
        for (int v = 0, off = 0; v < nv; v++) {
            if (done[v]) continue;
            const __mmask16 m = gf_lanes(n - i0 - 16 * v);
            const __m512 d = gf_merge(dv[v], mk[v], pr, &off);
            float *o = gx + i0 + 16 * v;
            _mm512_mask_storeu_ps(o, m,
                                  _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g + i0 + 16 * v), d,
                                                  acc ? _mm512_maskz_loadu_ps(m, o) : _mm512_setzero_ps()));
        }
    }
}

/* With the forward's 2Φ: four vectors an iteration (four independent chains, as above); when all
 * their lanes have |x| < 1 only the polynomial is computed (the blend's
 * choice: the same bits), which is the whole cost there. Packing the lanes
 * by path, as the forward does, was slower here (measured with the f64
 * series gf_dmid had then: the dearer path, and most lanes take it). */
__attribute__((target("avx512f"))) void nb_gelu_bwd_f32(float *gx, const float *g, const float *x, const float *t2,
                                                        int64_t n, bool acc) {
    if (!t2) {
        gelu_bwd_packed(gx, g, x, n, acc);
        return;
    }
    int64_t i0 = 0;
    for (; i0 + 64 <= n; i0 += 64) {
        __m512 xv[4], d[4];
        __mmask16 all = 0xFFFF;
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            xv[u] = _mm512_loadu_ps(x + i0 + 16 * u);
            all &= gf_mid(xv[u]);
        }
        if (all == 0xFFFF) {
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) d[u] = gf_dmid(xv[u]);
        } else {
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) d[u] = gf_dboth(xv[u], _mm512_loadu_ps(t2 + i0 + 16 * u));
        }
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
            _mm512_storeu_ps(gx + i0 + 16 * u,
                             _mm512_fmadd_ps(_mm512_loadu_ps(g + i0 + 16 * u), d[u],
                                             acc ? _mm512_loadu_ps(gx + i0 + 16 * u) : _mm512_setzero_ps()));
    }
    for (int64_t i = i0; i < n; i += 16) {
        const __mmask16 m = gf_lanes(n - i);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 d = gf_dboth(xv, _mm512_maskz_loadu_ps(m, t2 + i));
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
