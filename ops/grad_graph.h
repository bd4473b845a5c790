/* ops/grad_graph.h — helpers for the ops' differentiable backwards
 * (nb_op.backward_graph, nabla/grad.h), internal.
 *
 * A backward_graph writes an op's gradient formula with nb_* ops, so that
 * under nb_grad's create_graph the input gradients are on the tape. It reads
 * the node (inputs, output, attributes, saved tensors) like the kernel
 * backward and sets gin[i] only where GG_NEED(i). Quantities whose
 * derivative is zero almost everywhere (a relu's mask, an abs's sign, a max's
 * selection) enter as constant tensors made by gg_map/gg_const: the second
 * derivative of a piecewise function is taken on its piece, as PyTorch does. */
#ifndef NB_GRAD_GRAPH_H
#define NB_GRAD_GRAPH_H

#include "../autograd/internal.h"

#define GG_NEED(i) nb_grad_needed(n, (i))
#define GG_FN(NAME) static void NAME##_bwg(nb_node *n, nb_tensor *g, nb_tensor **gin)

/* t summed down to shape s (the inverse of broadcasting), t itself when equal. */
static inline nb_tensor *gg_sum_to(nb_tensor *t, nb_shape s) {
    return !t || nb_shape_eq(t->shape, s) ? t : nb_sum_to(t, s);
}

/* A constant (no grad) tensor of x's dtype and shape with element i = f(x_i, p). */
static inline nb_tensor *gg_map(const nb_tensor *x, double (*f)(double v, double p), double p) {
    nb_tensor *m = nb_empty(x->dtype, x->shape);
    if (!m) return NULL;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *xv = (const T *)x->data;
        T *mv = (T *)m->data;
        for (int64_t i = 0; i < x->numel; i++) mv[i] = (T)f((double)xv[i], p);
    });
    return m;
}

/* s with a size-1 axis kept at each reduced axis (bit i of mask). */
static inline nb_shape gg_keepdim_shape(nb_shape x, uint32_t mask) {
    nb_shape k = x;
    for (int i = 0; i < x.ndim; i++)
        if ((mask >> i) & 1u) k.d[i] = 1;
    return k;
}

/* g (a reduction's output over mask, keepdim or not) broadcast back to shape x. */
static inline nb_tensor *gg_unreduce(nb_tensor *g, nb_shape x, uint32_t mask) {
    if (!g) return NULL;
    return nb_expand(nb_reshape(g, gg_keepdim_shape(x, mask)), x);
}

/* The axes of a bitmask into axes[]; returns their count. */
static inline int gg_axes(uint32_t mask, int ndim, int *axes) {
    int k = 0;
    for (int i = 0; i < ndim; i++)
        if ((mask >> i) & 1u) axes[k++] = i;
    return k;
}

/* n's kernel backward for input i alone, with upstream g, into a new zero
 * tensor: a constant (no grad). For the parts of a formula that are constant
 * almost everywhere (a max's tie weights: the kernel run on ones). The node
 * is copied with header copies of its inputs, so nothing of n changes. */
static inline nb_tensor *gg_kernel_vjp(const nb_node *n, int i, const nb_tensor *g) {
    enum { MAXIN = 16 };
    if (n->nin > MAXIN) {
        nb_fail(NB_ERR_ARG, n->op->name, "gg_kernel_vjp: more than %d inputs", MAXIN);
        return NULL;
    }
    nb_tensor *out = nb_zeros(n->in[i]->dtype, n->in[i]->shape);
    if (!out || !g) return NULL;
    nb_tensor hdr[MAXIN], *ins[MAXIN];
    nb_node fake = *n;
    for (int j = 0; j < n->nin; j++) {
        hdr[j] = *n->in[j];
        hdr[j].requires_grad = j == i;
        hdr[j].grad = j == i ? out : NULL;
        ins[j] = &hdr[j];
    }
    fake.in = ins;
    n->op->backward(&fake, g);
    return out;
}

/* The adjoint of a multilinear op (autograd/grad.c): J_tᵀ g for input
 * `target` of node n as a new op on the tape, computed by n's kernel
 * backward; lin = the inputs the op is linear in (bit j), nfwd = how many
 * inputs its forward takes without the additive ones (a bias), attr_size =
 * the bytes of its attributes. The adjoint's own derivatives are the op's
 * forward and the other adjoints, so every order works. adj is the adjoint's
 * nb_op (named "<op>_backward"), defined by NB_ADJOINT_OP. */
nb_tensor *nb__adjoint(const nb_op *adj, const nb_node *n, int target, uint32_t lin, int nfwd, size_t attr_size,
                       nb_tensor *g);
void nb__adj_fwd(nb_node *m);
void nb__adj_bwd(nb_node *m, const nb_tensor *u);
void nb__adj_bwg(nb_node *m, nb_tensor *u, nb_tensor **gin);
#define NB_ADJOINT_OP(VAR, NAME) static const nb_op VAR = {NAME, nb__adj_fwd, nb__adj_bwd, 0, false, nb__adj_bwg}

#endif
