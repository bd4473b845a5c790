/* ops/elementwise.h — what the elementwise ops share (internal).
 *
 * nb_ew_attr: a unary op's scalar arguments P and Q (ops/defs/unary.def).
 * Binary: NB_BINARY_KERNELS(NAME, FWD, DA, DB) defines both
 * directions over the broadcast iteration with a, b and gg; backward adds each
 * partial at the input's broadcast offset, summing the gradient back to the
 * input's shape in the same pass. T is float or double (NB_FLOAT_DISPATCH);
 * math written with <tgmath.h> names runs in T. Each op file adds its nb_op
 * and its builder (validation differs per family). */
#ifndef NB_ELEMENTWISE_H
#define NB_ELEMENTWISE_H

#include "broadcast.h"
#include "../autograd/internal.h"

typedef struct { double p, q; } nb_ew_attr;

#define NB_BINARY_KERNELS(NAME, FWD, DA, DB)                                               \
    static void NAME##_fwd(nb_node *n) {                                                   \
        nb_bc bc;                                                                          \
        nb_bc_init(&bc, n->out->shape, n->in[0]->shape, n->in[1]->shape);                  \
        NB_FLOAT_DISPATCH(n->out->dtype, T, {                                              \
            const T *A = (const T *)n->in[0]->data, *B = (const T *)n->in[1]->data;        \
            T *O = (T *)n->out->data;                                                      \
            NB_BC_FOR(&bc, {                                                               \
                for (int64_t j = 0; j < len; j++) {                                        \
                    const T a = A[oa + j * sa], b = B[ob + j * sb];                        \
                    O[oo + j] = (T)(FWD);                                                  \
                }                                                                          \
            });                                                                            \
        });                                                                                \
    }                                                                                      \
    static void NAME##_bwd(nb_node *n, const nb_tensor *g) {                               \
        nb_tensor *gat = nb_grad_buf(n->in[0]), *gbt = nb_grad_buf(n->in[1]);              \
        nb_bc bc;                                                                          \
        nb_bc_init(&bc, n->out->shape, n->in[0]->shape, n->in[1]->shape);                  \
        NB_FLOAT_DISPATCH(n->out->dtype, T, {                                              \
            const T *A = (const T *)n->in[0]->data, *B = (const T *)n->in[1]->data;        \
            const T *G = (const T *)g->data;                                               \
            T *GA = gat ? (T *)gat->data : NULL, *GB = gbt ? (T *)gbt->data : NULL;        \
            NB_BC_FOR(&bc, {                                                               \
                for (int64_t j = 0; j < len; j++) {                                        \
                    const T a = A[oa + j * sa], b = B[ob + j * sb], gg = G[oo + j];        \
                    (void)a; (void)b;                                                      \
                    if (GA) GA[oa + j * sa] += (T)(DA);                                    \
                    if (GB) GB[ob + j * sb] += (T)(DB);                                    \
                }                                                                          \
            });                                                                            \
        });                                                                                \
    }

#endif
