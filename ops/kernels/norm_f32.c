/* ops/kernels/norm_f32.c — layer_norm / rms_norm rows of f32 on AVX-512F
 * (norm_f32.h): ops/norm_act.c's generic row kernels written with 8-double
 * vectors. Baseline flags; the vector functions carry target("avx512f")
 * with contraction off (no FMA: the generic kernels have none) and run
 * only after nb_isa() said AVX-512. */
#include "norm_f32.h"

#include "cpu.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool nb_norm_f32_fast(void) { return nb_isa() >= ISA_AVX512; }

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define NF_TARGET __attribute__((target("avx512f")))
#else
#define NF_TARGET __attribute__((target("avx512f"), optimize("fp-contract=off")))
#endif

/* 8 floats at p as doubles */
static inline NF_TARGET __m512d nf_ld(const float *p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
/* the generic kernels' lane combination: ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) */
static inline double nf_comb(const double *s) {
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* gx[0:n8) += r·(ĝ − ma − x̂·mc) of one row, 8 at a time, and where not
 * NULL sw[0:n8) += g·x̂, sb[0:n8) += g */
static inline NF_TARGET void nf_gx_out(float *gx, const float *g, const float *x, const float *W, double mu, double rs,
                                       double ma, double mc, int64_t n8, double *sw, double *sb) {
    const __m512d vmu = _mm512_set1_pd(mu), vr = _mm512_set1_pd(rs), vma = _mm512_set1_pd(ma), vmc = _mm512_set1_pd(mc);
    for (int64_t k = 0; k < n8; k += 8) {
        const __m512d gv = nf_ld(g + k), gw = W ? _mm512_mul_pd(gv, nf_ld(W + k)) : gv;
        const __m512d xh = _mm512_mul_pd(_mm512_sub_pd(nf_ld(x + k), vmu), vr);
        const __m512d d = _mm512_mul_pd(vr, _mm512_sub_pd(_mm512_sub_pd(gw, vma), _mm512_mul_pd(xh, vmc)));
        _mm256_storeu_ps(gx + k, _mm256_add_ps(_mm256_loadu_ps(gx + k), _mm512_cvtpd_ps(d)));
        if (sw) _mm512_storeu_pd(sw + k, _mm512_add_pd(_mm512_loadu_pd(sw + k), _mm512_mul_pd(gv, xh)));
        if (sb) _mm512_storeu_pd(sb + k, _mm512_add_pd(_mm512_loadu_pd(sb + k), gv));
    }
}

/* y[0:n8) = (x − μ)·r (·w + b) of one row, 8 at a time */
static inline NF_TARGET void nf_fwd_out(float *y, const float *x, const float *W, const float *B, double mu, double rs,
                                        int64_t n8) {
    const __m512d vmu = _mm512_set1_pd(mu), vr = _mm512_set1_pd(rs);
    for (int64_t k = 0; k < n8; k += 8) {
        __m512d v = _mm512_mul_pd(_mm512_sub_pd(nf_ld(x + k), vmu), vr);
        if (W) v = _mm512_mul_pd(v, nf_ld(W + k));
        if (B) v = _mm512_add_pd(v, nf_ld(B + k));
        _mm256_storeu_ps(y + k, _mm512_cvtpd_ps(v));
    }
}

/* Rows taken together when n % 8 == 0: each row's sums are one chain of
 * dependent adds (latency-bound alone); NF_R rows interleave NF_R chains.
 * Every row gets the same operations in the same order as alone. */
#define NF_R 4

static inline NF_TARGET void nf_fwd_rows(float *Y, const float *X, const float *W, const float *B, double *S, int64_t r,
                                         int64_t n, double eps, bool rms) {
    double mu[NF_R], rs[NF_R], s[8];
    __m512d a[NF_R];
#pragma GCC unroll 4
    for (int q = 0; q < NF_R; q++) mu[q] = 0, a[q] = _mm512_setzero_pd();
    if (!rms) {
        for (int64_t k = 0; k < n; k += 8)
#pragma GCC unroll 4
            for (int q = 0; q < NF_R; q++) a[q] = _mm512_add_pd(a[q], nf_ld(X + (r + q) * n + k));
        for (int q = 0; q < NF_R; q++) {
            _mm512_storeu_pd(s, a[q]);
            mu[q] = nf_comb(s) / (double)n;
            a[q] = _mm512_setzero_pd();
        }
    }
    for (int64_t k = 0; k < n; k += 8)
#pragma GCC unroll 4
        for (int q = 0; q < NF_R; q++) {
            const __m512d d = _mm512_sub_pd(nf_ld(X + (r + q) * n + k), _mm512_set1_pd(mu[q]));
            a[q] = _mm512_add_pd(a[q], _mm512_mul_pd(d, d));
        }
    for (int q = 0; q < NF_R; q++) {
        _mm512_storeu_pd(s, a[q]);
        rs[q] = 1.0 / sqrt(nf_comb(s) / (double)n + eps);
        S[2 * (r + q)] = mu[q], S[2 * (r + q) + 1] = rs[q];
    }
    for (int q = 0; q < NF_R; q++) nf_fwd_out(Y + (r + q) * n, X + (r + q) * n, W, B, mu[q], rs[q], n);
}

NF_TARGET void nb_norm_fwd_rows_f32(float *Y, const float *X, const float *W, const float *B, double *S, int64_t r0,
                                    int64_t r1, int64_t n, double eps, bool rms) {
    const int64_t n8 = n / 8 * 8;
    if (n8 == n)
        for (; r0 + NF_R <= r1; r0 += NF_R) nf_fwd_rows(Y, X, W, B, S, r0, n, eps, rms);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = X + r * n;
        float *y = Y + r * n;
        double s[8];
        double mu = 0;
        if (!rms) {
            __m512d a = _mm512_setzero_pd();
            for (int64_t k = 0; k < n8; k += 8) a = _mm512_add_pd(a, nf_ld(x + k));
            _mm512_storeu_pd(s, a);
            for (int64_t k = n8; k < n; k++) s[0] += (double)x[k];
            mu = nf_comb(s) / (double)n;
        }
        const __m512d vmu = _mm512_set1_pd(mu);
        __m512d q = _mm512_setzero_pd();
        for (int64_t k = 0; k < n8; k += 8) {
            const __m512d d = _mm512_sub_pd(nf_ld(x + k), vmu);
            q = _mm512_add_pd(q, _mm512_mul_pd(d, d));
        }
        _mm512_storeu_pd(s, q);
        for (int64_t k = n8; k < n; k++) {
            const double d = (double)x[k] - mu;
            s[0] += d * d;
        }
        const double rs = 1.0 / sqrt(nf_comb(s) / (double)n + eps);
        S[2 * r] = mu, S[2 * r + 1] = rs;
        nf_fwd_out(y, x, W, B, mu, rs, n8);
        for (int64_t k = n8; k < n; k++) {
            double v = ((double)x[k] - mu) * rs;
            if (W) v *= (double)W[k];
            if (B) v += (double)B[k];
            y[k] = (float)v;
        }
    }
}

/* NF_R rows' dx, and their sums sw += g·x̂, sb += g (where not NULL) in
 * the same pass, each row's after the one before: the bits of wb_cols
 * over the same rows. One pass over g and x for all three, not a third
 * over the chunk for the sums (the tiny GPT's layer_norm backward: 25%
 * less time, its rows coming from memory). */
static inline NF_TARGET void nf_gx_rows(float *GX, const float *G, const float *X, const float *W, const double *S,
                                        int64_t r, int64_t n, bool rms, double *sw, double *sb) {
    __m512d va[NF_R], vc[NF_R];
    double ma[NF_R], mc[NF_R], sa8[8], sc8[8];
#pragma GCC unroll 4
    for (int q = 0; q < NF_R; q++) va[q] = vc[q] = _mm512_setzero_pd();
    for (int64_t k = 0; k < n; k += 8)
#pragma GCC unroll 4
        for (int q = 0; q < NF_R; q++) {
            __m512d gw = nf_ld(G + (r + q) * n + k);
            if (W) gw = _mm512_mul_pd(gw, nf_ld(W + k));
            va[q] = _mm512_add_pd(va[q], gw);
            const __m512d xh = _mm512_mul_pd(_mm512_sub_pd(nf_ld(X + (r + q) * n + k), _mm512_set1_pd(S[2 * (r + q)])),
                                             _mm512_set1_pd(S[2 * (r + q) + 1]));
            vc[q] = _mm512_add_pd(vc[q], _mm512_mul_pd(gw, xh));
        }
    for (int q = 0; q < NF_R; q++) {
        _mm512_storeu_pd(sa8, va[q]);
        _mm512_storeu_pd(sc8, vc[q]);
        ma[q] = rms ? 0.0 : nf_comb(sa8) / (double)n, mc[q] = nf_comb(sc8) / (double)n;
    }
    /* row by row: the 4 rows' stores interleaved ran 60% slower from memory */
    for (int q = 0; q < NF_R; q++)
        nf_gx_out(GX + (r + q) * n, G + (r + q) * n, X + (r + q) * n, W, S[2 * (r + q)], S[2 * (r + q) + 1], ma[q],
                  mc[q], n, sw, sb);
}

NF_TARGET void nb_norm_gx_rows_f32(float *GX, const float *G, const float *X, const float *W, const double *S,
                                   int64_t r0, int64_t r1, int64_t n, bool rms, double *sw, double *sb) {
    const int64_t n8 = n / 8 * 8;
    if (n8 == n)
        for (; r0 + NF_R <= r1; r0 += NF_R) nf_gx_rows(GX, G, X, W, S, r0, n, rms, sw, sb);
    if ((sw || sb) && r0 < r1) /* the rows left, after the rows before them */
        nb_norm_wb_cols_f32(G + r0 * n, X + r0 * n, S + 2 * r0, r1 - r0, n, 0, n, sw, sb);
    for (int64_t r = r0; r < r1; r++) {
        const float *g = G + r * n, *x = X + r * n;
        float *gx = GX + r * n;
        const double mu = S[2 * r], rs = S[2 * r + 1];
        const __m512d vmu = _mm512_set1_pd(mu), vr = _mm512_set1_pd(rs);
        __m512d va = _mm512_setzero_pd(), vc = _mm512_setzero_pd();
        for (int64_t k = 0; k < n8; k += 8) {
            __m512d gw = nf_ld(g + k);
            if (W) gw = _mm512_mul_pd(gw, nf_ld(W + k));
            va = _mm512_add_pd(va, gw);
            vc = _mm512_add_pd(vc, _mm512_mul_pd(gw, _mm512_mul_pd(_mm512_sub_pd(nf_ld(x + k), vmu), vr)));
        }
        double sa8[8], sc8[8];
        _mm512_storeu_pd(sa8, va);
        _mm512_storeu_pd(sc8, vc);
        for (int64_t k = n8; k < n; k++) {
            const double gw = (double)g[k] * (W ? (double)W[k] : 1.0);
            sa8[0] += gw;
            sc8[0] += gw * (((double)x[k] - mu) * rs);
        }
        const double ma = rms ? 0.0 : nf_comb(sa8) / (double)n, mc = nf_comb(sc8) / (double)n;
        nf_gx_out(gx, g, x, W, mu, rs, ma, mc, n8, NULL, NULL); /* the sums: wb_cols above */
        for (int64_t k = n8; k < n; k++) {
            const double gw = (double)g[k] * (W ? (double)W[k] : 1.0);
            const double xh = ((double)x[k] - mu) * rs;
            gx[k] += (float)(rs * (gw - ma - xh * mc));
        }
    }
}

NF_TARGET void nb_norm_wb_cols_f32(const float *G, const float *X, const double *S, int64_t rows, int64_t n, int64_t j0,
                                   int64_t nj, double *sw, double *sb) {
    const int64_t n8 = nj / 8 * 8;
    for (int64_t r = 0; r < rows; r++) {
        const float *g = G + r * n + j0, *x = X + r * n + j0;
        const double mu = S[2 * r], rs = S[2 * r + 1];
        const __m512d vmu = _mm512_set1_pd(mu), vr = _mm512_set1_pd(rs);
        for (int64_t j = 0; j < n8; j += 8) {
            const __m512d gv = nf_ld(g + j);
            if (sw)
                _mm512_storeu_pd(sw + j,
                                 _mm512_add_pd(_mm512_loadu_pd(sw + j),
                                               _mm512_mul_pd(gv, _mm512_mul_pd(_mm512_sub_pd(nf_ld(x + j), vmu), vr))));
            if (sb) _mm512_storeu_pd(sb + j, _mm512_add_pd(_mm512_loadu_pd(sb + j), gv));
        }
        for (int64_t j = n8; j < nj; j++) {
            if (sw) sw[j] += (double)g[j] * (((double)x[j] - mu) * rs);
            if (sb) sb[j] += (double)g[j];
        }
    }
}

#else
bool nb_norm_f32_fast(void) { return false; }
void nb_norm_fwd_rows_f32(float *Y, const float *X, const float *W, const float *B, double *S, int64_t r0, int64_t r1,
                          int64_t n, double eps, bool rms) {
    (void)Y, (void)X, (void)W, (void)B, (void)S, (void)r0, (void)r1, (void)n, (void)eps, (void)rms;
}
void nb_norm_gx_rows_f32(float *GX, const float *G, const float *X, const float *W, const double *S, int64_t r0,
                         int64_t r1, int64_t n, bool rms, double *sw, double *sb) {
    (void)GX, (void)G, (void)X, (void)W, (void)S, (void)r0, (void)r1, (void)n, (void)rms, (void)sw, (void)sb;
}
void nb_norm_wb_cols_f32(const float *G, const float *X, const double *S, int64_t rows, int64_t n, int64_t j0,
                         int64_t nj, double *sw, double *sb) {
    (void)G, (void)X, (void)S, (void)rows, (void)n, (void)j0, (void)nj, (void)sw, (void)sb;
}
#endif
