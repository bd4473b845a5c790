/* nabla/op.h — writing an op: the one mechanism built-in and user ops share.
 *
 * An op is a name, a forward and a backward:
 *
 *     static void swish_fwd(nb_node *n) { ... n->out from n->in[0] ... }
 *     static void swish_bwd(nb_node *n, const nb_tensor *gy) {
 *         nb_tensor *gx = nb_grad_buf(n->in[0]);   // NULL: input needs no grad
 *         if (gx) ... gx += gy * dswish(x) ...
 *     }
 *     static const nb_op SWISH = { "swish", swish_fwd, swish_bwd };
 *     nb_tensor *swish(nb_tensor *x) { return nb_apply(&SWISH, &x, 1, x->shape); }
 *
 * nb_apply validates the inputs (NULL in → NULL out, the sticky error),
 * allocates the output, runs forward, and, when grad mode is on and an input
 * requires grad, records a node on the tape. Backward must only ADD into
 * input gradients (gradients accumulate) and may only read what the node holds.
 *
 * An op that handles only some dtypes says so, and nb_apply refuses the rest:
 *
 *     static const nb_op CUBE64 = {.name = "cube64", .forward = cube64_fwd,
 *                                  .backward = cube64_bwd, .dtypes = NB_DTYPE_BIT(NB_F64)};
 */
#ifndef NABLA_OP_H
#define NABLA_OP_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_ATTR_MAX 128 /* bytes of op attributes a node carries inline */
#define NB_NODE_INLINE_IN 4

/* Which tensors the backward reads, so that an in-place write to one of them
 * after forward is caught. 0 (the default) means: every input and the output. */
#define NB_SAVES_IN(i) (1u << (i))
#define NB_SAVES_OUT (1u << 30)
#define NB_SAVES_NOTHING (1u << 31)

typedef struct nb_op {
    const char *name;
    void (*forward)(nb_node *n);                         /* n->out = f(n->in)   */
    void (*backward)(nb_node *n, const nb_tensor *gout); /* n->in[i]->grad += … */
    uint32_t saves;                                      /* NB_SAVES_* mask     */
    /* Optional: output shares the first input's data (reshape). */
    bool is_view;
    /* Optional: the differentiable backward (nabla/grad.h), used only by
     * nb_grads with create_graph: sets gin[i] to d root/d in[i] as a tensor
     * made with nb_* ops (so it is on the tape), for the inputs where
     * nb_grad_needed(n, i); leaves the others NULL (NULL = a zero gradient).
     * Ops without it refuse create_graph with an error naming the op. */
    void (*backward_graph)(nb_node *n, nb_tensor *gout, nb_tensor **gin);
    /* Optional: the dtypes the op's inputs may have, as NB_DTYPE_BIT(NB_F64)
     * | ...; 0 (the default) means any, the op checking them itself. nb_apply
     * refuses an input of another dtype with NB_ERR_DTYPE naming the op, the
     * input (number and name) and its dtype — before forward runs, so an op
     * written for F64 alone is never handed F32 buffers. nb_gradcheck also
     * runs the op in F32 (unless this excludes F32) and compares with F64. */
    uint32_t dtypes;
} nb_op;

/* nb_op.dtypes */
#define NB_DTYPE_BIT(dt) (1u << (unsigned)(dt))
#define NB_DTYPES_FLOAT (NB_DTYPE_BIT(NB_F32) | NB_DTYPE_BIT(NB_F64))

/* nb_node.flags: its saved tensors were released by an nb_grads without
 * retain_graph: walking it again is an error (nabla/grad.h). */
#define NB_NODE_RELEASED 1u

struct nb_node {
    const nb_op *op;
    nb_tensor **in; /* nin inputs (points at in_inline when nin <= 4) */
    int nin;
    uint32_t flags; /* NB_NODE_* (autograd's bookkeeping; fills padding) */
    nb_tensor *out;
    nb_tensor *saved; /* optional extra tensor forward kept (mask, argmax) */
    uint64_t seq;     /* creation order: the tape order                  */
    uint32_t in_version[NB_NODE_INLINE_IN];
    uint32_t out_version;
    uint32_t *in_version_ext; /* versions for inputs past the inline ones  */
    uint64_t mark;            /* backward's visit mark                           */
    nb_tensor *in_inline[NB_NODE_INLINE_IN];
    _Alignas(16) unsigned char attr[NB_ATTR_MAX];
};

/* Applies op to nin inputs; the output has out_shape and the first input's
 * dtype (F32 when there is no input). attr (attr_size <= NB_ATTR_MAX bytes)
 * is copied into the node, where forward and backward read it (nb_attr). */
NB_API nb_tensor *nb_apply(const nb_op *op, nb_tensor *const *in, int nin, nb_shape out_shape);
NB_API nb_tensor *nb_apply_ex(const nb_op *op, nb_tensor *const *in, int nin, nb_shape out_shape, nb_dtype out_dtype,
                              const void *attr, size_t attr_size);
#define nb_attr(n, T) ((const T *)(const void *)(n)->attr)

/* For backward: the gradient buffer of t (zero-filled on first use), or NULL
 * when t does not require grad. Add into it. */
NB_API nb_tensor *nb_grad_buf(nb_tensor *t);
/* For forward: a scratch tensor owned by the node (kept for backward, freed
 * with the node) — a dropout mask, max-pool argmax indices. */
NB_API nb_tensor *nb_node_save_new(nb_node *n, nb_dtype dt, nb_shape s);

/* Helpers for shape checks inside op builders: an axis in [-ndim, ndim)
 * becomes [0, ndim); otherwise NB_ERR_AXIS naming op and shape, returns -1. */
NB_API int nb_norm_axis(const char *op, const nb_tensor *t, int axis);
/* Checks every input is non-NULL and of a float dtype matching the first:
 * false (the error reported, naming the op) otherwise. */
NB_API bool nb_check_float_inputs(const char *op, nb_tensor *const *in, int nin);
/* "a is (64,784)" or "a 'fc1.weight' is (64,784)" into buf; returns buf. */
NB_API char *nb_describe(const nb_tensor *t, const char *argname, char *buf, size_t size);
#define NB_DESCRIBE_LEN (NB_SHAPE_STRLEN + NB_NAME_MAX + 32)

/* Runs `body` with T typedef'd to float or double per the dtype. */
#define NB_FLOAT_DISPATCH(dt, T, ...) \
    do {                              \
        if ((dt) == NB_F32) {         \
            typedef float T;          \
            __VA_ARGS__               \
        } else {                      \
            typedef double T;         \
            __VA_ARGS__               \
        }                             \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
