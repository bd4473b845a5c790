/* ops/kernels/norm_rows.h — layer_norm / rms_norm row kernels (the op is
 * ops/norm_act.c, its only includer): per element type, the forward and
 * backward over a range of rows and the weight/bias gradient over a range
 * of columns, on plain arrays. Header-only (static functions), included
 * once. */
#ifndef NB_KERNELS_NORM_ROWS_H
#define NB_KERNELS_NORM_ROWS_H

#include "cpu.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Row kernels per element type: sums in double over 8 lanes, and the
 * functions that run them over a range of rows. Instantiated twice: for the
 * baseline (SSE2) and with target("avx2") (4 doubles a vector instead of 2;
 * no FMA, and the 8 lanes are explicit, so both give the same bits), the
 * AVX2 one chosen at run time when the CPU has it. */
#define NORM_KERNELS(T, SUF, ATTR)                                                                                     \
    ATTR static double sum_##SUF(const T *restrict x, int64_t n) {                                                     \
        double s[8] = {0};                                                                                             \
        int64_t k = 0;                                                                                                 \
        for (; k + 8 <= n; k += 8)                                                                                     \
            for (int j = 0; j < 8; j++) s[j] += (double)x[k + j];                                                      \
        for (; k < n; k++) s[0] += (double)x[k];                                                                       \
        return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));                                      \
    }                                                                                                                  \
    /* Σ (x − c)² */                                                                                               \
    ATTR static double sumsq_##SUF(const T *restrict x, double c, int64_t n) {                                         \
        double s[8] = {0};                                                                                             \
        int64_t k = 0;                                                                                                 \
        for (; k + 8 <= n; k += 8)                                                                                     \
            for (int j = 0; j < 8; j++) {                                                                              \
                const double d = (double)x[k + j] - c;                                                                 \
                s[j] += d * d;                                                                                         \
            }                                                                                                          \
        for (; k < n; k++) {                                                                                           \
            const double d = (double)x[k] - c;                                                                         \
            s[0] += d * d;                                                                                             \
        }                                                                                                              \
        return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));                                      \
    }                                                                                                                  \
    /* rows [r0, r1): μ (0 for rms), r = 1/√(var + eps) saved in S; y = (x − μ)·r·w + b */                     \
    ATTR static void norm_fwd_rows_##SUF(T *restrict Y, const T *restrict X, const T *restrict W, const T *restrict B, \
                                         double *restrict S, int64_t r0, int64_t r1, int64_t n, double eps,            \
                                         bool rms) {                                                                   \
        for (int64_t r = r0; r < r1; r++) {                                                                            \
            const T *x = X + r * n;                                                                                    \
            T *y = Y + r * n;                                                                                          \
            const double mu = rms ? 0.0 : sum_##SUF(x, n) / (double)n;                                                 \
            const double rs = 1.0 / sqrt(sumsq_##SUF(x, mu, n) / (double)n + eps);                                     \
            S[2 * r] = mu, S[2 * r + 1] = rs;                                                                          \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                double v = ((double)x[j] - mu) * rs;                                                                   \
                if (W) v *= (double)W[j];                                                                              \
                if (B) v += (double)B[j];                                                                              \
                y[j] = (T)v;                                                                                           \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
    /* rows [r0, r1), with x̂ = (x − μ)·r, ĝ = g·w:                                             \
     *   gx += r·(ĝ − ma − x̂·mc), ma = mean(ĝ) (0 for rms), mc = mean(ĝ·x̂);                   \
     * and when sw/sb are given, sw += g·x̂, sb += g (dw, db in row order). */               \
    ATTR static void norm_bwd_rows_##SUF(T *restrict GX, const T *restrict G, const T *restrict X,                     \
                                         const T *restrict W, const double *restrict S, int64_t r0, int64_t r1,        \
                                         int64_t n, bool rms, double *restrict sw, double *restrict sb) {              \
        for (int64_t r = r0; r < r1; r++) {                                                                            \
            const T *g = G + r * n, *x = X + r * n;                                                                    \
            const double mu = S[2 * r], rs = S[2 * r + 1];                                                             \
            double sa8[8] = {0}, sc8[8] = {0};                                                                         \
            int64_t k = 0;                                                                                             \
            if (W)                                                                                                     \
                for (; k + 8 <= n; k += 8)                                                                             \
                    for (int j = 0; j < 8; j++) {                                                                      \
                        const double gw = (double)g[k + j] * (double)W[k + j];                                         \
                        sa8[j] += gw;                                                                                  \
                        sc8[j] += gw * (((double)x[k + j] - mu) * rs);                                                 \
                    }                                                                                                  \
            else                                                                                                       \
                for (; k + 8 <= n; k += 8)                                                                             \
                    for (int j = 0; j < 8; j++) {                                                                      \
                        const double gw = (double)g[k + j];                                                            \
                        sa8[j] += gw;                                                                                  \
                        sc8[j] += gw * (((double)x[k + j] - mu) * rs);                                                 \
                    }                                                                                                  \
            for (; k < n; k++) {                                                                                       \
                const double gw = (double)g[k] * (W ? (double)W[k] : 1.0);                                             \
                sa8[0] += gw;                                                                                          \
                sc8[0] += gw * (((double)x[k] - mu) * rs);                                                             \
            }                                                                                                          \
            const double sa = ((sa8[0] + sa8[1]) + (sa8[2] + sa8[3])) + ((sa8[4] + sa8[5]) + (sa8[6] + sa8[7]));       \
            const double sc = ((sc8[0] + sc8[1]) + (sc8[2] + sc8[3])) + ((sc8[4] + sc8[5]) + (sc8[6] + sc8[7]));       \
            const double ma = rms ? 0.0 : sa / (double)n, mc = sc / (double)n;                                         \
            T *gx = GX ? GX + r * n : NULL;                                                                            \
            if (gx && W && sw && sb) /* the common case in one loop */                                                 \
                for (int64_t j = 0; j < n; j++) {                                                                      \
                    const double gj = (double)g[j], xh = ((double)x[j] - mu) * rs;                                     \
                    gx[j] += (T)(rs * (gj * (double)W[j] - ma - xh * mc));                                             \
                    sw[j] += gj * xh;                                                                                  \
                    sb[j] += gj;                                                                                       \
                }                                                                                                      \
            else {                                                                                                     \
                if (gx)                                                                                                \
                    for (int64_t j = 0; j < n; j++) {                                                                  \
                        const double gw = (double)g[j] * (W ? (double)W[j] : 1.0);                                     \
                        const double xh = ((double)x[j] - mu) * rs;                                                    \
                        gx[j] += (T)(rs * (gw - ma - xh * mc));                                                        \
                    }                                                                                                  \
                if (sw)                                                                                                \
                    for (int64_t j = 0; j < n; j++) sw[j] += (double)g[j] * (((double)x[j] - mu) * rs);                \
                if (sb)                                                                                                \
                    for (int64_t j = 0; j < n; j++) sb[j] += (double)g[j];                                             \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
    /* columns [j0, j0 + nj) over every row in row order: sw += g·x̂, sb += g */                                     \
    ATTR static void norm_wb_cols_##SUF(const T *restrict G, const T *restrict X, const double *restrict S,            \
                                        int64_t rows, int64_t n, int64_t j0, int64_t nj, double *restrict sw,          \
                                        double *restrict sb) {                                                         \
        for (int64_t r = 0; r < rows; r++) {                                                                           \
            const T *x = X + r * n + j0, *g = G + r * n + j0;                                                          \
            const double mu = S[2 * r], rs = S[2 * r + 1];                                                             \
            for (int64_t j = 0; j < nj; j++) {                                                                         \
                if (sw) sw[j] += (double)g[j] * (((double)x[j] - mu) * rs);                                            \
                if (sb) sb[j] += (double)g[j];                                                                         \
            }                                                                                                          \
        }                                                                                                              \
    }
NORM_KERNELS(float, f32, )
NORM_KERNELS(double, f64, )
#if defined(__x86_64__) && defined(__GNUC__)
NORM_KERNELS(float, f32_avx2, __attribute__((target("avx2"))))
NORM_KERNELS(double, f64_avx2, __attribute__((target("avx2"))))
static bool norm_avx2(void) { return nb_isa() >= ISA_AVX2; } /* kernels/cpu.h's policy */
#else
#define norm_fwd_rows_f32_avx2 norm_fwd_rows_f32
#define norm_fwd_rows_f64_avx2 norm_fwd_rows_f64
#define norm_bwd_rows_f32_avx2 norm_bwd_rows_f32
#define norm_bwd_rows_f64_avx2 norm_bwd_rows_f64
#define norm_wb_cols_f32_avx2 norm_wb_cols_f32
#define norm_wb_cols_f64_avx2 norm_wb_cols_f64
static bool norm_avx2(void) { return false; }
#endif

#endif
