/* nabla/ops.h — the built-in primitive ops.
 *
 * Every op returns a new tensor (scope rule in core.h), records a node when
 * grad mode is on and an input requires grad, and returns NULL on misuse (in
 * recover mode) or when given NULL. Binary elementwise ops broadcast with
 * NumPy rules; their backward sums the gradient back to each input's shape.
 * Both float dtypes are supported everywhere; inputs of one op share a dtype.
 */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------ elementwise, binary  (ops/binary.c) */
NB_API nb_tensor *nb_add(nb_tensor *a, nb_tensor *b); /* a + b */
NB_API nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b); /* a - b */
NB_API nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b); /* a * b */
NB_API nb_tensor *nb_div(nb_tensor *a, nb_tensor *b); /* a / b */
/* The shape a and b broadcast to; false (NB_ERR_SHAPE naming op) if they don't. */
NB_API bool nb_broadcast_shape(const char *op, const nb_tensor *a, const nb_tensor *b, nb_shape *out);

/* ------------------------------------------------ elementwise, unary  (ops/defs/unary.def) */
NB_API nb_tensor *nb_neg(nb_tensor *x);                  /* -x                      */
NB_API nb_tensor *nb_exp(nb_tensor *x);                  /* e^x                     */
NB_API nb_tensor *nb_log(nb_tensor *x);                  /* ln x                    */
NB_API nb_tensor *nb_sqrt(nb_tensor *x);                 /* √x                      */
NB_API nb_tensor *nb_abs(nb_tensor *x);                  /* |x|, d/dx = sign(x), 0 at 0 */
NB_API nb_tensor *nb_pow_scalar(nb_tensor *x, double p); /* x^p, d/dx = p x^(p-1)   */
NB_API nb_tensor *nb_sigmoid(nb_tensor *x);              /* 1/(1+e^-x), d = y(1-y)  */
NB_API nb_tensor *nb_tanh(nb_tensor *x);                 /* tanh x, d = 1-y²        */
NB_API nb_tensor *nb_relu(nb_tensor *x);                 /* max(0,x), d = [x>0]     */
/* Elementwise with a scalar (a tensor op underneath, so gradients flow). */
NB_API nb_tensor *nb_add_scalar(nb_tensor *x, double s); /* x + s */
NB_API nb_tensor *nb_mul_scalar(nb_tensor *x, double s); /* x * s */

/* ------------------------------------------------ reductions  (ops/reduce.c) */
/* Reduce over the listed axes (negative counts from the end); naxes == 0
 * reduces over all. keepdim keeps reduced axes as size 1. */
NB_API nb_tensor *nb_sum(nb_tensor *x, const int *axes, int naxes, bool keepdim);
NB_API nb_tensor *nb_mean(nb_tensor *x, const int *axes, int naxes, bool keepdim);
NB_API nb_tensor *nb_sum_all(nb_tensor *x);  /* scalar Σx */
NB_API nb_tensor *nb_mean_all(nb_tensor *x); /* scalar mean */
/* Sums x down to shape s (the inverse of broadcasting s to x's shape). */
NB_API nb_tensor *nb_sum_to(nb_tensor *x, nb_shape s);

/* ------------------------------------------------ matmul  (ops/matmul.c) */
/* (...,M,K) @ (...,K,N) -> (...,M,N); batch dims broadcast. Both ≥ 2-D. */
NB_API nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b);
/* x·Wᵀ + b (PyTorch's F.linear): x (..., in), w (out, in), b (out) or NULL
 * -> (..., out). One GEMM reading W transposed in place; nn's Linear. */
NB_API nb_tensor *nb_affine(nb_tensor *x, nb_tensor *w, nb_tensor *b);
/* r + (x·Wᵀ + b), r (..., out) of the result's shape: a linear layer and its
 * residual connection as one op (the add happens as the GEMM stores, with
 * the bits of nb_add(r, nb_affine(x, w, b))). b may be NULL. */
NB_API nb_tensor *nb_affine_add(nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *r);

/* ------------------------------------------------ shape  (ops/shape.c) */
/* A view with the same data; one size may be -1 (inferred). */
NB_API nb_tensor *nb_reshape(nb_tensor *x, nb_shape s);
/* Merges dims start..end (inclusive, negatives allowed) into one: a view. */
NB_API nb_tensor *nb_flatten(nb_tensor *x, int start, int end);
/* out.shape[i] = x.shape[perm[i]] (a copy). */
NB_API nb_tensor *nb_permute(nb_tensor *x, const int *perm, int n);
NB_API nb_tensor *nb_transpose(nb_tensor *x, int d0, int d1);
/* Changes dtype (F32 <-> F64); the gradient is cast back. */
NB_API nb_tensor *nb_cast(nb_tensor *x, nb_dtype dt);

/* ------------------------------------------------ in place  (ops/inplace.c) */
/* In-place writes bump the version counter. With grad mode on they refuse a
 * leaf that requires grad and a tensor inside a recorded graph: run them
 * under nb_no_grad (optimizer updates). b broadcasts to dst. Return dst. */
NB_API nb_tensor *nb_add_(nb_tensor *dst, const nb_tensor *b);                /* dst += b    */
NB_API nb_tensor *nb_sub_(nb_tensor *dst, const nb_tensor *b);                /* dst -= b    */
NB_API nb_tensor *nb_mul_(nb_tensor *dst, const nb_tensor *b);                /* dst *= b    */
NB_API nb_tensor *nb_axpy_(nb_tensor *dst, double alpha, const nb_tensor *x); /* dst += αx */
NB_API nb_tensor *nb_scale_(nb_tensor *dst, double s);                        /* dst *= s    */
NB_API nb_tensor *nb_fill_(nb_tensor *dst, double v);                         /* dst = v     */
NB_API nb_tensor *nb_copy_(nb_tensor *dst, const nb_tensor *src);             /* dst = src (broadcast) */

#ifdef __cplusplus
}
#endif

/* The op library, one header per family. */
#include "ops_math.h"  /* maximum/minimum/clamp/where/activations, max/min/logsumexp/var/std, softmax family */
#include "ops_index.h" /* gather, index_select, concat, stack, slice, pad, expand, squeeze, dropout, maxout */
#include "ops_conv.h"  /* conv2d, conv1d, pooling */
#endif
