/* ops/kernels/ew_unary.h — the kernels of the elementwise unary ops
 * (ops/defs/unary.def), internal. For every op <name> of that file and t in
 * f32, f64 (T float, double):
 *
 *   nb_ew_<name>_<t>(nt, y, x, n, p, q):            y[i] = f(x[i]; p, q)
 *   nb_ew_<name>_bwd_<t>(nt, gx, g, x, y, n, p, q): gx[i] += g[i]·f'(x[i])
 *
 * for i < n, y the forward's output (read where the op's backward is written
 * in y), p and q the op's scalar arguments. Each takes at most nt threads
 * (kernels/par.h); the bits do not depend on nt. y may equal x. */
#ifndef NB_KERNELS_EW_UNARY_H
#define NB_KERNELS_EW_UNARY_H

#include <stdint.h>

#define NB_EW_DECL(NAME, ...)                                                                                     \
    void nb_ew_##NAME##_f32(int nt, float *y, const float *x, int64_t n, double p, double q);                     \
    void nb_ew_##NAME##_f64(int nt, double *y, const double *x, int64_t n, double p, double q);                   \
    void nb_ew_##NAME##_bwd_f32(int nt, float *gx, const float *g, const float *x, const float *y, int64_t n,     \
                                double p, double q);                                                              \
    void nb_ew_##NAME##_bwd_f64(int nt, double *gx, const double *g, const double *x, const double *y, int64_t n, \
                                double p, double q);
#define UNARY NB_EW_DECL
#define UNARY_VEC NB_EW_DECL
#define UNARY_KERNEL NB_EW_DECL
#include "../defs/unary.def"
#undef UNARY
#undef UNARY_VEC
#undef UNARY_KERNEL
#undef NB_EW_DECL

#endif
