/* ops/elementwise.h — what the elementwise ops share (internal).
 *
 * nb_ew_attr: a unary op's scalar arguments P and Q (ops/defs/unary.def).
 * NB_BINARY_KERNELS(NAME) defines NAME##_fwd and NAME##_bwd of a binary op
 * with NumPy broadcasting: they describe the broadcast walk and call the
 * kernels nb_ew_<NAME>_<t> (kernels/ew_binary.h, where the formulas are).
 * Each op file adds its nb_op and its builder (validation differs per
 * family). */
#ifndef NB_ELEMENTWISE_H
#define NB_ELEMENTWISE_H

#include "broadcast.h"
#include "kernels/ew_binary.h"
#include "../autograd/internal.h"

typedef struct {
    double p, q;
} nb_ew_attr;

typedef void nb_ew_binary_f32(const nb_bc *, const float *, const float *, float *);
typedef void nb_ew_binary_f64(const nb_bc *, const double *, const double *, double *);
typedef void nb_ew_binary_bwd_f32(const nb_bc *, const float *, const float *, const float *, float *, float *);
typedef void nb_ew_binary_bwd_f64(const nb_bc *, const double *, const double *, const double *, double *, double *);

static inline void nb_ew_binary_fwd(nb_node *n, nb_ew_binary_f32 *f32, nb_ew_binary_f64 *f64) {
    nb_bc bc;
    nb_bc_init(&bc, n->out->shape, n->in[0]->shape, n->in[1]->shape);
    if (n->out->dtype == NB_F32) f32(&bc, nb_f32(n->in[0]), nb_f32(n->in[1]), nb_f32(n->out));
    else f64(&bc, nb_f64(n->in[0]), nb_f64(n->in[1]), nb_f64(n->out));
}

static inline void nb_ew_binary_bwd(nb_node *n, const nb_tensor *g, nb_ew_binary_bwd_f32 *f32,
                                    nb_ew_binary_bwd_f64 *f64) {
    nb_tensor *ga = nb_grad_buf(n->in[0]), *gb = nb_grad_buf(n->in[1]);
    nb_bc bc;
    nb_bc_init(&bc, n->out->shape, n->in[0]->shape, n->in[1]->shape);
    if (n->out->dtype == NB_F32)
        f32(&bc, nb_f32(n->in[0]), nb_f32(n->in[1]), nb_f32(g), ga ? nb_f32(ga) : NULL, gb ? nb_f32(gb) : NULL);
    else f64(&bc, nb_f64(n->in[0]), nb_f64(n->in[1]), nb_f64(g), ga ? nb_f64(ga) : NULL, gb ? nb_f64(gb) : NULL);
}

#define NB_BINARY_KERNELS(NAME)                                                                         \
    static void NAME##_fwd(nb_node *n) { nb_ew_binary_fwd(n, nb_ew_##NAME##_f32, nb_ew_##NAME##_f64); } \
    static void NAME##_bwd(nb_node *n, const nb_tensor *g) {                                            \
        nb_ew_binary_bwd(n, g, nb_ew_##NAME##_bwd_f32, nb_ew_##NAME##_bwd_f64);                         \
    }

#endif
