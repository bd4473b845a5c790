/* ops/kernels/norm_f32.h — layer_norm / rms_norm rows in f32 on AVX-512F
 * (internal; graph-free, one thread: the caller splits rows or columns).
 *
 * x is (rows, n) row-major; S holds (μ, r) per row in double (μ = 0 for
 * rms), r = 1/√(var + eps). ops/norm_act.c's generic row kernels, whose
 * 8-lane double sums gcc leaves mostly scalar (0.7 ns an element forward
 * at the GPT's n = 128), written with 8-double vectors: the same sums in
 * the same order, no FMA, so the same bits as the generic kernels.
 *
 *   fwd_rows:  μ, r saved; y = (x − μ)·r·w + b      (w, b may be NULL)
 *   gx_rows:   gx += r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = g·w, x̂ = (x − μ)·r
 *              (rms: no mean(ĝ) term); where sw or sb is not NULL, the
 *              rows' sums of wb_cols over all n columns in the same pass
 *              (the same bits)
 *   wb_cols:   columns [j0, j0 + nj) over every row in row order:
 *              sw += g·x̂, sb += g (either may be NULL). */
#ifndef NB_KERNELS_NORM_F32_H
#define NB_KERNELS_NORM_F32_H

#include <stdbool.h>
#include <stdint.h>

bool nb_norm_f32_fast(void);
void nb_norm_fwd_rows_f32(float *Y, const float *X, const float *W, const float *B, double *S, int64_t r0, int64_t r1,
                          int64_t n, double eps, bool rms);
void nb_norm_gx_rows_f32(float *GX, const float *G, const float *X, const float *W, const double *S, int64_t r0,
                         int64_t r1, int64_t n, bool rms, double *sw, double *sb);
void nb_norm_wb_cols_f32(const float *G, const float *X, const double *S, int64_t rows, int64_t n, int64_t j0,
                         int64_t nj, double *sw, double *sb);

#endif
