/* nabla/ops_seq.h — ops for sequence models: narrow, select, chunk, split,
 * unbind, flip, cumsum, masked_fill (ops/seq.c).
 *
 * PyTorch's semantics throughout (torch.narrow, select, chunk, split, unbind,
 * flip, cumsum, masked_fill). Axes may be negative (counted from the end).
 * Each op returns new tensors (scope rule in core.h), returns NULL (or -1)
 * when given NULL, and reports misuse (NB_ERR_SHAPE / _AXIS / _ARG / _DTYPE)
 * naming the op and the shapes. The data-moving ops (narrow, select, chunk,
 * split, unbind, flip) accept NB_I64 data too (no gradient).
 *
 * Views: narrow and select (and so chunk, split and unbind, which are made
 * of them) return a VIEW of x's data when the picked part is one contiguous
 * block — when every dim before axis has size 1, e.g. any slice along axis 0
 * (a time step of a (T,B,H) sequence); otherwise a copy. A view shares x's
 * data and version counter (as in PyTorch): an in-place write to one is seen
 * by the other, and backward through a node that saved x reports it. Either
 * way each output is its own node, whose backward adds its gradient into its
 * part of dx, so outputs used by different branches get separate gradients.
 */
#ifndef NABLA_OPS_SEQ_H
#define NABLA_OPS_SEQ_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.narrow: x[..., start : start+length, ...] along axis.
 * -L <= start <= L (a negative start counts from the end), length >= 0,
 * start' + length <= L. out.shape[axis] = length.
 * Backward: dx[.., start+j, ..] += dout[.., j, ..]. */
NB_API nb_tensor *nb_narrow(nb_tensor *x, int axis, int64_t start, int64_t length);

/* torch.select / x[..., index, ...]: one entry along axis, the axis dropped
 * (rank - 1; a 1-D x gives a 0-d tensor). -L <= index < L (negative counts
 * from the end). Backward: dx[.., index, ..] += dout. */
NB_API nb_tensor *nb_select(nb_tensor *x, int axis, int64_t index);

/* torch.chunk: splits axis into pieces of ceil(L/chunks) entries, the last
 * possibly smaller. out must hold `chunks` pointers; returns how many pieces
 * were made, which may be FEWER than chunks (torch: L=6, chunks=4 gives 3
 * pieces of 2), and sets the rest of out[] to NULL. When L == 0 it makes
 * `chunks` empty pieces (as torch). chunks >= 1. Returns -1 on error (every
 * out[i] NULL). The LSTM's gates: nb_chunk(gates, 4, -1, g) -> i, f, g, o. */
NB_API int nb_chunk(nb_tensor *x, int chunks, int axis, nb_tensor **out);

/* torch.split with a list of sizes: n >= 1 pieces, sizes[i] >= 0, summing to
 * L = x.shape[axis]; out[i].shape[axis] = sizes[i]. out must hold n pointers.
 * Returns n, or -1 on error (every out[i] NULL). */
NB_API int nb_split(nb_tensor *x, const int64_t *sizes, int n, int axis, nb_tensor **out);

/* torch.unbind: the L = x.shape[axis] entries along axis, each with the axis
 * dropped: out[i] = nb_select(x, axis, i). out must hold max pointers; L > max
 * is NB_ERR_ARG (nothing written past max). Returns L, or -1 on error (the
 * first min(max, ...) entries of out NULL; none when x is NULL). A (T,B,H)
 * sequence unbinds along axis 0 into T free views. */
NB_API int nb_unbind(nb_tensor *x, int axis, nb_tensor **out, int max);

/* torch.flip: reverses the order of entries along each listed axis
 * (0 <= n <= ndim axes, no axis twice; n == 0 gives a copy). A copy.
 * Backward: dx += flip(dout) along the same axes. */
NB_API nb_tensor *nb_flip(nb_tensor *x, const int *axes, int n);

/* torch.cumsum: out[.., j, ..] = Σ_{k<=j} x[.., k, ..] along axis, summed in
 * double for f32 too (as PyTorch's CPU kernel). Float or NB_I64 x (no
 * gradient for I64). x must have rank >= 1.
 * Backward: dx[.., k, ..] += Σ_{j>=k} dout[.., j, ..] (a reversed cumsum). */
NB_API nb_tensor *nb_cumsum(nb_tensor *x, int axis);

/* torch.masked_fill: out = value where mask is nonzero, x elsewhere.
 * mask: any dtype (NB_I64 0/1 is the convention, like a torch bool tensor;
 * a float mask counts nonzero as true, like nb_where's cond), never
 * differentiated, and broadcast TO x's shape (NumPy rules, one way: out has
 * x's shape). Float or NB_I64 x. Backward: dx += dout where mask == 0, and 0
 * where filled. Typical use: attention scores masked with -INFINITY. */
NB_API nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value);

#ifdef __cplusplus
}
#endif
#endif
