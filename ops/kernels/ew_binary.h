/* ops/kernels/ew_binary.h — the kernels of the elementwise ops with more
 * than one input (internal; ops/binary.c and ops/elementwise.c are the op
 * side). t is f32 or f64 (T float or double).
 *
 * Binary ops, over the broadcast walk bc (kernels/bcast.h: the output's
 * shape, a and b as its two operands):
 *   nb_ew_<name>_<t>(bc, A, B, O):             O = f(a, b)
 *   nb_ew_<name>_bwd_<t>(bc, A, B, G, GA, GB): GA += ∂f/∂a·g, GB += ∂f/∂b·g
 *       at each input's broadcast offset (so summed back to its shape);
 *       GA or GB may be NULL (no gradient wanted)
 * with f and its partials from the table below, in a, b, gg (= g), in T.
 * maximum/minimum: NaN in either input propagates; a tie gives each side
 * half the gradient, the loser none; a NaN on either side makes both "not the
 * loser": each gets all of g, as PyTorch's masked_fill(a < b, 0) does.
 *
 * where, over the output shape (nd, shape) with element strides sc, sa, sb
 * of cond, a and b (0 along broadcast dims); cond is f32, f64 or i64
 * (nonzero = true):
 *   nb_ew_where_<t>(w, cond, A, B, O):         O = cond ? a : b
 *   nb_ew_where_bwd_<t>(w, cond, G, GA, GB):   GA += g where cond, GB += g
 *       elsewhere (GA or GB may be NULL) */
#ifndef NB_KERNELS_EW_BINARY_H
#define NB_KERNELS_EW_BINARY_H

#include "bcast.h"

#include <stdint.h>

/* name, forward, ∂/∂a·gg, ∂/∂b·gg */
#define NB_EW_BINARY_OPS(X)                  \
    X(add, a + b, gg, gg)                    \
    X(sub, a - b, gg, -gg)                   \
    X(mul, a *b, gg *b, gg *a)               \
    X(div, a / b, gg / b, -gg * a / (b * b)) \
    X(maximum,                               \
      a != a       ? a                       \
          : b != b ? b                       \
                   : (a > b ? a : b),        \
      gg *                                   \
          (a == b      ? (T)0.5              \
               : b > a ? 0                   \
                       : 1),                 \
      gg *                                   \
          (a == b      ? (T)0.5              \
               : a > b ? 0                   \
                       : 1))                 \
    X(minimum,                               \
      a != a       ? a                       \
          : b != b ? b                       \
                   : (a < b ? a : b),        \
      gg *                                   \
          (a == b      ? (T)0.5              \
               : b < a ? 0                   \
                       : 1),                 \
      gg *                                   \
          (a == b      ? (T)0.5              \
               : a < b ? 0                   \
                       : 1))

#define NB_EW_BINARY_DECL(NAME, FWD, DA, DB)                                                                    \
    void nb_ew_##NAME##_f32(const nb_bc *bc, const float *A, const float *B, float *O);                         \
    void nb_ew_##NAME##_f64(const nb_bc *bc, const double *A, const double *B, double *O);                      \
    void nb_ew_##NAME##_bwd_f32(const nb_bc *bc, const float *A, const float *B, const float *G, float *GA,     \
                                float *GB);                                                                     \
    void nb_ew_##NAME##_bwd_f64(const nb_bc *bc, const double *A, const double *B, const double *G, double *GA, \
                                double *GB);
NB_EW_BINARY_OPS(NB_EW_BINARY_DECL)
#undef NB_EW_BINARY_DECL

typedef enum { NB_EW_COND_F32, NB_EW_COND_F64, NB_EW_COND_I64 } nb_ew_cond_type;

typedef struct {
    int nd;
    int64_t shape[NB_BC_MAX_DIMS];
    int64_t sc[NB_BC_MAX_DIMS], sa[NB_BC_MAX_DIMS], sb[NB_BC_MAX_DIMS];
    nb_ew_cond_type ct;
} nb_ew_where_walk;

void nb_ew_where_f32(const nb_ew_where_walk *w, const void *cond, const float *A, const float *B, float *O);
void nb_ew_where_f64(const nb_ew_where_walk *w, const void *cond, const double *A, const double *B, double *O);
void nb_ew_where_bwd_f32(const nb_ew_where_walk *w, const void *cond, const float *G, float *GA, float *GB);
void nb_ew_where_bwd_f64(const nb_ew_where_walk *w, const void *cond, const double *G, double *GA, double *GB);

#endif
