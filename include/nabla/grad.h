/* nabla/grad.h — gradients as tensors (torch.autograd.grad), higher-order
 * gradients, and the second-order gradient check.
 *
 *     nb_tensor *x = ..., *loss = f(x);
 *     nb_tensor *g;                       // d loss/d x, on the tape:
 *     nb_grads(&loss, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &g);
 *     nb_tensor *gv = nb_sum_all(nb_mul(g, v));
 *     nb_tensor *hv;                      // Hessian-vector product H v
 *     nb_grads(&gv, 1, &x, 1, NULL, NULL, &hv);
 *
 * nb_backward (autograd.h) stays the fast first-order path: it adds into
 * .grad with the ops' kernel backwards. nb_grads returns new tensors and
 * leaves every .grad alone. With create_graph it calls each op's
 * differentiable backward (nb_op.backward_graph: its gradient formula written
 * with nb_* ops), so the results are recorded on the tape and can be
 * differentiated again; without it, the same kernel backwards as nb_backward
 * compute into fresh buffers. docs/higher_order.md lists the ops that support
 * second order.
 */
#ifndef NABLA_GRAD_H
#define NABLA_GRAD_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_grad_opts {
    /* Record the gradient computation on the tape, so the results can be
     * differentiated again (each op's backward_graph; an op without one is an
     * NB_ERR_GRAPH error naming it). Implies retain_graph. */
    bool create_graph;
    /* Keep the graph usable for another nb_grads/nb_backward. Without it (and
     * without create_graph) the nodes walked are marked released, as PyTorch
     * frees their saved tensors: a later walk through a node that saved
     * tensors fails with "the graph was already used; pass retain_graph".
     * (The memory itself goes with the graph's scope, as always.) */
    bool retain_graph;
    /* An input no output depends on gets a NULL result instead of an error. */
    bool allow_unused;
} nb_grad_opts;

/* result[j] = Σ_k grad_outputs[k]ᵀ · d outputs[k] / d inputs[j], as new
 * tensors of inputs[j]'s shape and dtype (in the current scope); no .grad is
 * touched. grad_outputs NULL, or a NULL entry, means ones for a one-element
 * output (a larger output needs its seed: NB_ERR_GRAPH). Every output and
 * every input must require grad. opts NULL = all false. With create_graph the
 * results require grad when they depend on a tensor that does; grad_outputs
 * may require grad too (gradgradcheck differentiates with respect to them).
 * Returns NB_OK or the error (result entries are then NULL). */
NB_API nb_status nb_grads(nb_tensor *const *outputs, int n_out, nb_tensor *const *inputs, int n_in,
                          nb_tensor *const *grad_outputs, const nb_grad_opts *opts, nb_tensor **result);
/* One output, one input: d out/d in with create_graph as given; NULL on error. */
NB_API nb_tensor *nb_grad_of(nb_tensor *out, nb_tensor *in, bool create_graph);

/* For an op's backward_graph: whether gin[i] is wanted (input i requires
 * grad and leads to an input of the nb_grads call); outside nb_grads, whether
 * input i requires grad. */
NB_API bool nb_grad_needed(const nb_node *n, int i);
/* Whether op supports create_graph (has a backward_graph). */
static inline bool nb_op_has_grad_graph(const nb_op *op) { return op && op->backward_graph; }

/* Second-order check, PyTorch's gradgradcheck: with random upstream
 * gradients v (F64, requiring grad), the function
 *     (inputs, v) -> nb_grads(fn(inputs), inputs, v, create_graph)
 * (its results flattened and concatenated) is gradchecked with respect to the
 * inputs that require grad and v: numerical Jacobians of the vector-Jacobian
 * product against the analytic ones that backward through the
 * create_graph results gives. opts as for nb_gradcheck (NULL = defaults:
 * eps 1e-6, atol 1e-5, rtol 1e-3); the first-order extras (skip_extras) are
 * always skipped: nb_gradcheck covers them. */
NB_API nb_gradcheck_report nb_gradgradcheck(nb_fn fn, nb_tensor *const *in, int nin, void *ctx,
                                            const nb_gradcheck_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
