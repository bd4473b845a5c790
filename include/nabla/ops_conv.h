/* nabla/ops_conv.h — convolution and pooling.
 *
 * Layouts are PyTorch's (NCHW, contiguous, row-major):
 *   images  x (N, C, H, W)        weights w (O, C, kh, kw)      bias b (O)
 *   signals x (N, C, L)  (conv1d) weights w (O, C, k)
 *
 * Convolution here is cross-correlation, as in every ML library (PyTorch,
 * TensorFlow, Caffe): the kernel is NOT flipped,
 *
 *   y[n,o,i,j] = b[o] + Σ_c Σ_p Σ_q  x[n, c, i·sh − ph + p·dh, j·sw − pw + q·dw] · w[o,c,p,q]
 *
 * with x = 0 outside the image (zero padding). Along each spatial axis of
 * size n, with kernel k, stride s, padding p (each side) and dilation d:
 *
 *   out = ⌊(n + 2p − d(k−1) − 1) / s⌋ + 1
 *
 * Misuse (wrong rank, channel mismatch, bias of the wrong size, kernel bigger
 * than the padded input, stride < 1, dilation < 1, negative padding, groups
 * < 0 or not dividing C and O, pooling pad > half the window) is reported through nb_fail naming the op and the
 * shapes; the op then returns NULL. Every op supports NB_F32 and NB_F64. */
#ifndef NABLA_OPS_CONV_H
#define NABLA_OPS_CONV_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How conv2d pads:
 *   NB_PAD_EXPLICIT  opts.pad[0] rows above and below, opts.pad[1] columns left and right;
 *   NB_PAD_SAME      TensorFlow's "SAME": out = ⌈n/s⌉; the total padding
 *                    max((out−1)s + d(k−1) + 1 − n, 0) is split before = total/2,
 *                    after = the rest (one more after when odd: asymmetric);
 *   NB_PAD_VALID     no padding (opts.pad ignored). */
typedef enum nb_padding { NB_PAD_EXPLICIT = 0, NB_PAD_SAME, NB_PAD_VALID } nb_padding;

/* Index 0 is the height (rows), index 1 the width (columns). */
typedef struct nb_conv2d_opts {
    int stride[2];   /* >= 1 */
    int pad[2];      /* >= 0, used with NB_PAD_EXPLICIT */
    int dilation[2]; /* >= 1; 1 = a dense kernel */
    nb_padding padding;
    int groups; /* >= 0; 0 or 1 = ungrouped; g > 1: PyTorch's groups (see nb_conv2d) */
} nb_conv2d_opts;

/* stride 1, no padding, no dilation, ungrouped */
#define NB_CONV2D_DEFAULT ((nb_conv2d_opts){{1, 1}, {0, 0}, {1, 1}, NB_PAD_EXPLICIT, 1})

/* 2-D cross-correlation (see above): x (N,C,H,W), w (O,C,kh,kw), b (O) or
 * NULL for no bias; o NULL = NB_CONV2D_DEFAULT. Returns a new (N,O,Ho,Wo)
 * tensor. Computed as im2col + GEMM.
 *
 * Grouped (o->groups = g > 1, PyTorch's `groups`): C and O must both be
 * multiples of g and w is (O, C/g, kh, kw); output channel o sees only the
 * C/g input channels of its group k = o / (O/g):
 *
 *   y[n,o,i,j] = b[o] + Σ_{c<C/g} Σ_p Σ_q  x[n, k·C/g + c, ...] · w[o,c,p,q]
 *
 * g = C is depthwise convolution (O = m·C: channel multiplier m). Output
 * shape as above. Computed by a direct loop (one thread, fixed order). */
NB_API nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o);

/* The 1-D case: x (N,C,L), w (O,C,k), b (O) or NULL; returns (N,O,Lo) with
 * Lo = ⌊(L + 2·pad − dilation(k−1) − 1)/stride⌋ + 1. */
NB_API nb_tensor *nb_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int pad, int dilation);

/* nb_conv1d with groups (as nb_conv2d's; 0 or 1 = ungrouped): w (O, C/groups, k). */
NB_API nb_tensor *nb_conv1d_ex(nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int pad, int dilation, int groups);

/* Pooling options: PyTorch's F.max_pool2d / F.avg_pool2d arguments. Index 0
 * is the height (rows), index 1 the width (columns). Along an axis of size n:
 *
 *   out = ⌊(n + 2p − d(k−1) − 1 + (ceil_mode ? s − 1 : 0)) / s⌋ + 1
 *
 * and with ceil_mode one less if the last window would start at or past
 * n + p (every window starts inside the image or its left/top padding; the
 * last may hang over the bottom/right edge). Errors (nb_fail naming the op
 * and x's shape): kernel, stride or dilation < 1, pad < 0, pad > kernel/2
 * (PyTorch's rule, on the undilated kernel), an empty output (the dilated
 * window d(k−1)+1 bigger than n + 2p; in ceil mode, bigger by more than
 * s − 1), an empty image, dilation != 1 for avg_pool2d, NULL options. */
typedef struct nb_pool2d_opts {
    int kernel[2];          /* window, >= 1 */
    int stride[2];          /* >= 1 (PyTorch's default stride is the kernel) */
    int pad[2];             /* 0 <= pad <= kernel/2, on each side */
    int dilation[2];        /* >= 1, spacing of the window's taps; max_pool2d only (avg: 1) */
    bool ceil_mode;         /* round the output size up (see above) */
    bool count_include_pad; /* avg_pool2d: padding counts in the divisor */
} nb_pool2d_opts;

/* PyTorch's defaults for a kh×kw window: stride = kernel, no padding, no
 * dilation, floor mode, count_include_pad. Change fields after:
 *   nb_pool2d_opts o = NB_POOL2D_DEFAULT(3, 3); o.stride[0] = o.stride[1] = 2; o.ceil_mode = true; */
#define NB_POOL2D_DEFAULT(kh, kw) ((nb_pool2d_opts){{(kh), (kw)}, {(kh), (kw)}, {0, 0}, {1, 1}, false, true})

/* y[n,c,i,j] = max of x over the window at (i·sh − ph, j·sw − pw), taps
 * (dh, dw) apart: x (N,C,H,W) -> (N,C,Ho,Wo) (sizes above). Padding and the
 * ceil-mode overhang count as −inf (never win); a window with no element of
 * x (only possible with dilation and padding) gives −inf, as PyTorch, and no
 * gradient. Ties: the first maximum in row-major window order wins, as in
 * PyTorch; a NaN wins (propagates). Backward routes each output's gradient
 * to the element that won (saved in forward) and accumulates where windows
 * overlap (stride < kernel). */
NB_API nb_tensor *nb_max_pool2d_ex(nb_tensor *x, const nb_pool2d_opts *o);

/* y[n,c,i,j] = the mean of x over the window at (i·sh − ph, j·sw − pw)
 * (no dilation). The window is clipped to the padded input (the ceil-mode
 * overhang never counts); the divisor is that clipped window's size when
 * count_include_pad (padding counts as zeros: kh·kw without ceil_mode), else
 * the number of elements of x in it. Backward spreads each output's
 * gradient / divisor over its window. */
NB_API nb_tensor *nb_avg_pool2d_ex(nb_tensor *x, const nb_pool2d_opts *o);

/* The short forms: nb_max_pool2d_ex / nb_avg_pool2d_ex with kernel (kh, kw),
 * stride (sh, sw), padding (ph, pw), dilation 1, floor mode,
 * count_include_pad (PyTorch's default). Ho = ⌊(H + 2ph − kh)/sh⌋ + 1
 * (likewise Wo). */
NB_API nb_tensor *nb_max_pool2d(nb_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw);
NB_API nb_tensor *nb_avg_pool2d(nb_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw);

/* y[n,c] = mean over (H,W) of x[n,c]: (N,C,H,W) -> (N,C). */
NB_API nb_tensor *nb_global_avg_pool2d(nb_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
