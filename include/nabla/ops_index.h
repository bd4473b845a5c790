/* nabla/ops_index.h — indexing and layout ops, dropout, maxout.
 *
 * Shape rules are given with each op. Axes may be negative (counted from the
 * end). Every op returns a new tensor (scope rule in core.h), returns NULL
 * when given NULL, and reports misuse (NB_ERR_SHAPE / _AXIS / _ARG / _DTYPE)
 * naming the op and the shapes. Differentiable inputs are f32 or f64; index
 * and label tensors are NB_I64 and never require grad. The pure layout ops
 * (concat, stack, slice, pad, expand, squeeze, unsqueeze, index_select,
 * gather) also move NB_I64 data (labels), with no gradient.
 */
#ifndef NABLA_OPS_INDEX_H
#define NABLA_OPS_INDEX_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------ indexing  (ops/index.c) */

/* torch.gather: out[i0..i_axis..] = x[i0.. idx[i0..i_axis..] ..].
 * idx is NB_I64 with x's rank; idx.shape[d] <= x.shape[d] for d != axis;
 * 0 <= idx < x.shape[axis]. out has idx's shape.
 * Backward scatter-adds: dx[.., idx[..], ..] += dout[..] (repeats add up). */
NB_API nb_tensor *nb_gather(nb_tensor *x, int axis, nb_tensor *idx);

/* torch.index_select: picks whole slices along axis (embedding rows, labels).
 * idx is 1-D NB_I64 (K), 0 <= idx < x.shape[axis];
 * out.shape = x.shape with shape[axis] replaced by K.
 * Backward scatter-ADDs, so repeated indices accumulate. */
NB_API nb_tensor *nb_index_select(nb_tensor *x, int axis, nb_tensor *idx);

/* One-hot encoding: labels NB_I64 of shape S (usually (N)) -> S + (C) of
 * float dtype dt (NB_F32 or NB_F64), 1 at [.., labels[..]] and 0 elsewhere.
 * 0 <= labels < C. num_classes == -1 means max(labels)+1 (as torch).
 * Not differentiable (its input is integer). */
NB_API nb_tensor *nb_one_hot(nb_tensor *labels, int64_t num_classes, nb_dtype dt);

/* ------------------------------------------------ layout  (ops/layout.c) */

/* torch.cat: n >= 1 tensors of one dtype and rank >= 1, equal shapes except
 * along axis; out.shape[axis] = Σ ts[i].shape[axis]. Any n (not limited to
 * the 4 inputs a node holds inline). Backward splits the gradient. */
NB_API nb_tensor *nb_concat(nb_tensor *const *ts, int n, int axis);

/* torch.stack: n >= 1 tensors of one shape S -> a new axis of size n at
 * position axis (in [-(ndim+1), ndim]): out.shape = S[:axis] + (n) + S[axis:]. */
NB_API nb_tensor *nb_stack(nb_tensor *const *ts, int n, int axis);

/* x[..., start:stop:step, ...] along axis, with Python semantics: negative
 * start/stop count from the end, both are clamped to [0, L], an empty range
 * gives size 0. step > 0 (else NB_ERR_ARG). Pass INT64_MAX as stop for "to
 * the end". out.shape[axis] = max(0, ceil((stop' - start') / step)). */
NB_API nb_tensor *nb_slice(nb_tensor *x, int axis, int64_t start, int64_t stop, int64_t step);

/* Constant padding: npads == 2*ndim, pads[2i] and pads[2i+1] (>= 0) are the
 * entries added before and after dim i, filled with value:
 * out.shape[i] = x.shape[i] + pads[2i] + pads[2i+1].
 * NOTE: dim 0 comes first, unlike torch.nn.functional.pad (last dim first). */
NB_API nb_tensor *nb_pad(nb_tensor *x, const int64_t *pads, int npads, double value);

/* broadcast_to with NumPy rules: s.ndim >= x.ndim; aligning from the right,
 * each x dim equals s's or is 1 (a -1 in s keeps x's size, as torch.expand).
 * out.shape = s. Backward sums the gradient back to x's shape. A copy. */
NB_API nb_tensor *nb_expand(nb_tensor *x, nb_shape s);

/* Drops axis, which must have size 1 (else NB_ERR_SHAPE; torch would silently
 * do nothing): (2,1,3) axis 1 -> (2,3). A view (nb_reshape). */
NB_API nb_tensor *nb_squeeze(nb_tensor *x, int axis);

/* Inserts a size-1 axis at position axis in [-(ndim+1), ndim]:
 * (2,3) axis 0 -> (1,2,3), axis -1 -> (2,3,1). A view (nb_reshape). */
NB_API nb_tensor *nb_unsqueeze(nb_tensor *x, int axis);

/* ------------------------------------------------ dropout  (ops/dropout.c) */

/* Inverted dropout, PyTorch's convention: p is the DROP probability.
 * train: y = x * mask / (1-p), mask ~ Bernoulli(1-p) per element, drawn from
 * the seeded generator (one nb_rand_uniform per element, in order; an element
 * is kept when u >= p), so E[y] = x. The mask (already scaled by 1/(1-p)) is
 * saved in the node; backward: dx += dy * mask.
 * eval (train false) or p == 0: the identity, returning x itself.
 * p outside [0, 1) is NB_ERR_ARG. The lecture's "keep probability" is
 * p_keep = 1 - p. out.shape = x.shape. */
NB_API nb_tensor *nb_dropout(nb_tensor *x, double p, bool train);

/* ------------------------------------------------ maxout  (ops/maxout.c) */

/* Maxout: groups of k consecutive entries along axis -> their max:
 * out[.., j, ..] = max_{t<k} x[.., j*k + t, ..]; x.shape[axis] must be
 * divisible by k (else NB_ERR_SHAPE), k >= 1. out.shape[axis] = x.shape[axis]/k.
 * Backward sends the gradient to the first maximal entry of each group. */
NB_API nb_tensor *nb_maxout(nb_tensor *x, int axis, int k);

#ifdef __cplusplus
}
#endif
#endif
