/* nabla/ops_math.h — elementwise extras, reductions with argmax, the softmax family.
 *
 * Same contract as ops.h: every function returns a new tensor (scope rule in
 * core.h) or NULL on misuse (the error names the op and the shapes) or when
 * given NULL. Float inputs of one op share a dtype (F32 or F64); labels and
 * indices are NB_I64. Where an op has a kink or a tie, the gradient follows
 * PyTorch and the rule is written next to the op. "g" is the upstream gradient.
 */
#ifndef NABLA_OPS_MATH_H
#define NABLA_OPS_MATH_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------ elementwise  (ops/elementwise.c; unary: ops/defs/unary.def) */

/* y = max(a, b), broadcast (NumPy rules). da += g·[a>b], db += g·[b>a];
 * at a tie (a == b) each side gets g/2, as in PyTorch. */
NB_API nb_tensor *nb_maximum(nb_tensor *a, nb_tensor *b);
/* y = min(a, b), broadcast. da += g·[a<b], db += g·[b<a]; a tie splits g/2 each. */
NB_API nb_tensor *nb_minimum(nb_tensor *a, nb_tensor *b);
/* y = min(max(x, lo), hi), lo <= hi (±INFINITY for a one-sided clamp).
 * dx += g for lo <= x <= hi (bounds included, as PyTorch), 0 outside. */
NB_API nb_tensor *nb_clamp(nb_tensor *x, double lo, double hi);
/* y = cond ? a : b, elementwise; cond, a and b broadcast together. cond may
 * be any dtype (nonzero = true) and never gets a gradient.
 * da += g·[cond], db += g·[!cond] (summed back to each input's shape). */
NB_API nb_tensor *nb_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b);
/* y = x for x > 0, slope·x otherwise. dx += g for x > 0, g·slope otherwise. */
NB_API nb_tensor *nb_leaky_relu(nb_tensor *x, double slope);
/* y = x for x > 0, alpha·(e^x − 1) otherwise. dx += g for x > 0,
 * g·alpha·e^x (= g·(y + alpha)) otherwise. */
NB_API nb_tensor *nb_elu(nb_tensor *x, double alpha);
/* y = log(1 + e^x), computed as max(x,0) + log1p(e^−|x|): finite for any
 * finite x (PyTorch's threshold=20 shortcut differs by < 3e-9).
 * dx += g·sigmoid(x). */
NB_API nb_tensor *nb_softplus(nb_tensor *x);
/* y = log(1 + x), accurate near 0. dx += g / (1 + x). */
NB_API nb_tensor *nb_log1p(nb_tensor *x);
/* y = e^x − 1, accurate near 0. dx += g·e^x (= g·(y + 1)). */
NB_API nb_tensor *nb_expm1(nb_tensor *x);
/* y = x². dx += 2·g·x. */
NB_API nb_tensor *nb_square(nb_tensor *x);
/* y = 1/x. dx += −g·y². */
NB_API nb_tensor *nb_reciprocal(nb_tensor *x);
/* y = 1/√x (NaN for x < 0, +inf at 0). dx += −g·y³/2. */
NB_API nb_tensor *nb_rsqrt(nb_tensor *x);

/* ------------------------------------------------ reductions  (ops/reduce.c) */
/* Axes as in nb_sum: a list (negatives count from the end), naxes == 0 means
 * all axes, keepdim keeps reduced axes as size 1. max/min/argmax/argmin refuse
 * an empty reduced axis (NB_ERR_SHAPE); logsumexp of nothing is −inf and
 * var/std of nothing NaN, as in PyTorch. */

/* y = max over the axes; NaN propagates. Gradient (PyTorch's rules):
 *  - one axis (naxes == 1): all of g goes to the element nb_argmax returns
 *    (the first maximum along the axis), like torch.max(x, dim);
 *  - all axes (naxes == 0) or several axes: g is split evenly among the tied
 *    maxima, like torch.max(x) and torch.amax(x, dims). */
NB_API nb_tensor *nb_max(nb_tensor *x, const int *axes, int naxes, bool keepdim);
/* y = min over the axes; same tie rules as nb_max (first minimum / split). */
NB_API nb_tensor *nb_min(nb_tensor *x, const int *axes, int naxes, bool keepdim);
/* Index (NB_I64) of the first maximum along axis; NaN counts as the maximum
 * (as in PyTorch). Not differentiable: the result never requires grad. */
NB_API nb_tensor *nb_argmax(nb_tensor *x, int axis, bool keepdim);
/* Index (NB_I64) of the first minimum along axis; NaN counts as the minimum. */
NB_API nb_tensor *nb_argmin(nb_tensor *x, int axis, bool keepdim);
/* y = m + log Σ e^(x − m), m = max over the axes (so no overflow; all −inf
 * gives −inf, a +inf gives +inf). dx += g·e^(x − y) (= g·softmax). */
NB_API nb_tensor *nb_logsumexp(nb_tensor *x, const int *axes, int naxes, bool keepdim);
/* y = Σ (x − μ)² / (N − d), μ the mean over the axes, N the count reduced,
 * d = 1 when unbiased (Bessel, PyTorch's default) else 0. N − d = 0 gives NaN,
 * as in PyTorch. dx += g·2(x − μ)/(N − d). Two passes in double. */
NB_API nb_tensor *nb_var(nb_tensor *x, const int *axes, int naxes, bool unbiased, bool keepdim);
/* y = √var(x). dx += g·(x − μ)/((N − d)·y); 0 where y == 0 (PyTorch). */
NB_API nb_tensor *nb_std(nb_tensor *x, const int *axes, int naxes, bool unbiased, bool keepdim);

/* ------------------------------------------------ softmax family  (ops/softmax.c) */

/* y = e^(x − m) / Σ e^(x − m) along axis (m the max: stable).
 * dx += y·(g − Σ g·y). */
NB_API nb_tensor *nb_softmax(nb_tensor *x, int axis);
/* y = x − m − log Σ e^(x − m) along axis (stable; finite for finite x).
 * dx += g − e^y·Σ g. */
NB_API nb_tensor *nb_log_softmax(nb_tensor *x, int axis);
/* Negative log-likelihood: logp (N,C) float, labels (N) NB_I64 in [0, C).
 * l_i = −logp[i, labels_i]; NB_REDUCE_MEAN: Σ l_i / N (a scalar),
 * NB_REDUCE_SUM: Σ l_i, NB_REDUCE_NONE: l, shape (N).
 * dlogp[i, labels_i] += −g (·1/N for mean); labels get no gradient.
 * A label out of range is NB_ERR_ARG naming the index, the label and C. */
NB_API nb_tensor *nb_nll(nb_tensor *logp, nb_tensor *labels, nb_reduction r);
/* Binary cross-entropy on logits: x and y the same shape (y targets in [0,1]),
 * l = max(x,0) − x·y + log1p(e^−|x|) (stable for any finite x), reduced as in
 * nb_nll (mean over all elements). dx += g·(sigmoid(x) − y), dy += −g·x
 * (y may or may not require grad). */
NB_API nb_tensor *nb_bce_with_logits(nb_tensor *x, nb_tensor *y, nb_reduction r);

#ifdef __cplusplus
}
#endif
#endif
