/* ops/kernels/reduce.h — the reductions' loops (internal; ops/reduce.c is
 * the op side). t is f32 or f64 (T float or double).
 *
 * The general forms walk x with an nb_bc (kernels/bcast.h) built over x's
 * shape with, as operand a, the kept shape (reduced axes of size 1): oo is
 * the element of x, oa + j·sa its output. Scratch comes from the caller,
 * zero-filled. Sums of many terms accumulate in double where the comments
 * say so.
 *
 *   nb_red_sum_<t>(bc, X, xn, R, rn, mean, count)
 *       R = Σ over the reduced axes (÷ count when mean; NaN for a mean of
 *       nothing); a full reduction (rn == 1) sums in 8 double lanes
 *       (SUM8, reduce.c) and reads no bc
 *   nb_red_sum_bwd_<t>(bc, G, GX, xn, rn, mean, count, fresh)
 *       GX += G (broadcast), ÷ count when mean; with fresh GX is new
 *       (unzeroed) and written instead; a full reduction (rn == 1) reads
 *       no bc
 *   nb_red_maxmin_<t>(bc, X, R, rn, is_min)       R = max (min); NaN wins
 *   nb_red_maxmin_bwd_<t>(bc, X, Y, G, GX, cnt, split)
 *       split: each of the elements equal to the extremum gets G / their
 *       count (cnt: rn int64 of scratch); else only the first in row-major
 *       order (cnt marks it)
 *   nb_red_arg_<t>(X, R, outer, len, inner, is_min)
 *       R[o·inner + i] = index k of the extremum of X[(o·len + k)·inner + i]
 *       (the first; NaN wins)
 *   nb_red_lse_rows_<t>(nt, X, R, rows, len)      R[r] = log Σ_j e^X[r·len + j]
 *   nb_red_lse_rows_bwd_<t>(nt, X, Y, G, GX, rows, len)
 *       GX[r·len + j] += G[r]·e^(X[r·len + j] − Y[r])
 *   nb_red_lse_<t>(bc, X, R, M, S, rn)            logsumexp by the walk; M, S:
 *       rn doubles of scratch each
 *   nb_red_lse_bwd_<t>(bc, X, Y, G, GX)           its backward by the walk
 *   nb_red_var_<t>(bc, X, R, MU, SS, rn, count, denom, is_std)
 *       MU (rn doubles, kept for backward) = the means, SS (rn doubles of
 *       scratch) the sums of squares; R = SS/denom (NaN when denom <= 0),
 *       its square root when is_std
 *   nb_red_var_bwd_<t>(bc, X, Y, G, GX, MU, denom, is_std)
 *       GX += G·2(x − μ)/denom (var), G·(x − μ)/(denom·y) (std; 0 where y == 0)
 *
 * The lse rows (the last axis alone reduced) take at most nt threads, rows
 * split between them (kernels/par.h): the same arithmetic in the same order
 * as the walk does for such rows, so the same bits either way and for any
 * nt. The exponentials run on kernels/vmath.h in T, LSE_CHUNK elements of a
 * row at a time. */
#ifndef NB_KERNELS_REDUCE_H
#define NB_KERNELS_REDUCE_H

#include "bcast.h"

#include <stdbool.h>
#include <stdint.h>

#define NB_RED_DECL(T, t)                                                                                             \
    void nb_red_sum_##t(const nb_bc *bc, const T *X, int64_t xn, T *R, int64_t rn, bool mean, int64_t count);         \
    void nb_red_sum_bwd_##t(const nb_bc *bc, const T *G, T *GX, int64_t xn, int64_t rn, bool mean, int64_t count,     \
                            bool fresh);                                                                              \
    void nb_red_maxmin_##t(const nb_bc *bc, const T *X, T *R, int64_t rn, bool is_min);                               \
    void nb_red_maxmin_bwd_##t(const nb_bc *bc, const T *X, const T *Y, const T *G, T *GX, int64_t *cnt, bool split); \
    void nb_red_arg_##t(const T *X, int64_t *R, int64_t outer, int64_t len, int64_t inner, bool is_min);              \
    void nb_red_lse_rows_##t(int nt, const T *X, T *R, int64_t rows, int64_t len);                                    \
    void nb_red_lse_rows_bwd_##t(int nt, const T *X, const T *Y, const T *G, T *GX, int64_t rows, int64_t len);       \
    void nb_red_lse_##t(const nb_bc *bc, const T *X, T *R, double *M, double *S, int64_t rn);                         \
    void nb_red_lse_bwd_##t(const nb_bc *bc, const T *X, const T *Y, const T *G, T *GX);                              \
    void nb_red_var_##t(const nb_bc *bc, const T *X, T *R, double *MU, double *SS, int64_t rn, int64_t count,         \
                        double denom, bool is_std);                                                                   \
    void nb_red_var_bwd_##t(const nb_bc *bc, const T *X, const T *Y, const T *G, T *GX, const double *MU,             \
                            double denom, bool is_std);
NB_RED_DECL(float, f32)
NB_RED_DECL(double, f64)
#undef NB_RED_DECL

#endif
