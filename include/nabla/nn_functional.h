/* nabla/nn_functional.h — PyTorch's loss options and the losses beyond nn.h's
 * core four, plus functional forms users port from torch.nn.functional:
 * softplus with beta/threshold, prelu, 1-D pooling, padding on each side.
 *
 * Every function here is a composition of primitive ops (nn/loss_ext.c,
 * nn/functional.c), so gradients flow to every float input PyTorch
 * differentiates (targets included) and second-order support follows the ops.
 * Reductions: NB_REDUCE_MEAN, NB_REDUCE_SUM, NB_REDUCE_NONE (per element or
 * per sample, no reduction); nb_kl_div also takes NB_REDUCE_BATCHMEAN. Bad
 * input is an error naming the loss and the shapes; a class index out of
 * range names the sample. */
#ifndef NABLA_NN_FUNCTIONAL_H
#define NABLA_NN_FUNCTIONAL_H

#include "core.h"
#include "ops_conv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* KL divergence's "sum over everything divided by the batch size". Only
 * nb_kl_div accepts it; other losses refuse it with NB_ERR_ARG. */
#define NB_REDUCE_BATCHMEAN ((nb_reduction)3)

/* ------------------------------------------------ classification */

/* Options of F.cross_entropy / F.nll_loss. NB_CE_DEFAULT is PyTorch's
 * defaults: no weight, ignore_index −100, no smoothing, mean. */
typedef struct nb_ce_opts {
    nb_tensor *weight;      /* (C) per-class weight w_c, or NULL (all 1). A constant: no gradient (as PyTorch) */
    int64_t ignore_index;   /* a target equal to it adds nothing and is not counted */
    double label_smoothing; /* ε in [0, 1]: the target is (1−ε)·onehot + ε/C (cross_entropy only) */
    nb_reduction reduction;
} nb_ce_opts;
#define NB_CE_DEFAULT ((nb_ce_opts){NULL, -100, 0.0, NB_REDUCE_MEAN})

/* Softmax cross-entropy with PyTorch's options. logits (N, C), labels NB_I64
 * (N), each in [0, C) or equal to ignore_index. With logp = log_softmax(x):
 *   nll_i    = −w_{y_i}·logp[i, y_i]            (0 for an ignored sample)
 *   smooth_i = −Σ_c w_c·logp[i, c]              (0 for an ignored sample)
 *   l_i      = (1−ε)·nll_i + (ε/C)·smooth_i
 * MEAN divides Σ l_i by Σ w_{y_i} over the samples not ignored (N without
 * weights and ignores). When every target is ignored that sum is 0 and MEAN
 * gives NaN, as PyTorch does (SUM gives 0). */
NB_API nb_tensor *nb_cross_entropy_ex(nb_tensor *logits, nb_tensor *labels, const nb_ce_opts *o);
/* Negative log-likelihood on log-probabilities logp (N, C): nb_cross_entropy_ex
 * without the log_softmax (label_smoothing must be 0, as F.nll_loss has none). */
NB_API nb_tensor *nb_nll_loss_ex(nb_tensor *logp, nb_tensor *labels, const nb_ce_opts *o);

/* Binary cross-entropy on probabilities p in [0, 1] (F.binary_cross_entropy):
 *   l = −w·(y·max(log p, −100) + (1−y)·max(log(1−p), −100))
 * the clamp at −100 keeps p = 0 or 1 finite, as PyTorch. y the same shape as
 * p; weight NULL or broadcastable to p (a constant). p outside [0, 1] is an
 * NB_ERR_ARG naming the element. Gradients flow to p and to y. */
NB_API nb_tensor *nb_binary_cross_entropy(nb_tensor *p, nb_tensor *y, nb_tensor *weight, nb_reduction red);

/* BCE on logits with F.binary_cross_entropy_with_logits' weight and
 * pos_weight (either may be NULL):
 *   l = w·((1−y)·x + (1 + (pw−1)·y)·softplus(−x))
 * pos_weight broadcasts along the last dim (one per class). With both NULL
 * this is the primitive nb_bce_with_logits. */
NB_API nb_tensor *nb_bce_with_logits_ex(nb_tensor *x, nb_tensor *y, nb_tensor *weight, nb_tensor *pos_weight,
                                        nb_reduction red);

/* F.multi_margin_loss: x (N, C), labels (N), p 1 or 2, weight (C) or NULL:
 *   l_i = Σ_{j≠y_i} w_{y_i}·max(0, margin − x[i,y_i] + x[i,j])^p / C
 * (nb_svm_loss is p = 1 without the 1/C). */
NB_API nb_tensor *nb_multi_margin_loss(nb_tensor *x, nb_tensor *labels, int p, double margin, nb_tensor *weight,
                                       nb_reduction red);

/* ------------------------------------------------ regression */

/* |pred − target| (F.l1_loss); d/dpred = sign, 0 at equality (as PyTorch). */
NB_API nb_tensor *nb_l1_loss(nb_tensor *pred, nb_tensor *target, nb_reduction red);
/* F.smooth_l1_loss, d = pred − target: 0.5·d²/β where |d| < β, |d| − 0.5·β
 * elsewhere; β = 0 is the L1 loss. β >= 0. */
NB_API nb_tensor *nb_smooth_l1_loss(nb_tensor *pred, nb_tensor *target, double beta, nb_reduction red);
/* F.huber_loss: 0.5·d² where |d| < δ, δ·(|d| − 0.5·δ) elsewhere (= δ times
 * smooth_l1 with β = δ). δ > 0. */
NB_API nb_tensor *nb_huber_loss(nb_tensor *pred, nb_tensor *target, double delta, nb_reduction red);

/* F.kl_div(input, target): input holds log-probabilities; pointwise
 *   log_target false: t·(log t − input), 0 where t = 0
 *   log_target true:  e^t·(t − input)
 * MEAN averages over every element (PyTorch's default, which it warns is not
 * the KL divergence); NB_REDUCE_BATCHMEAN divides the sum by input's first dim. */
NB_API nb_tensor *nb_kl_div(nb_tensor *input, nb_tensor *target, bool log_target, nb_reduction red);

/* ------------------------------------------------ functional forms */

/* F.softplus(x, beta, threshold): log(1 + e^{βx})/β, and x itself (gradient 1)
 * where βx > threshold — PyTorch's exact rule (nb_softplus is β = 1 without
 * the threshold). beta > 0. */
NB_API nb_tensor *nb_softplus_ex(nb_tensor *x, double beta, double threshold);
/* F.prelu(x, weight): x where x > 0, w·x elsewhere; weight (1) shared, or (C)
 * along dim 1 of x (N, C, ...). Gradients to x and weight. */
NB_API nb_tensor *nb_prelu(nb_tensor *x, nb_tensor *weight);

/* 1-D pooling: F.max_pool1d / F.avg_pool1d over the last dim of x (N, C, L)
 * or (C, L), with the 2-D pools' rules (nb_pool2d_opts, one axis). */
typedef struct nb_pool1d_opts {
    int kernel;   /* >= 1 */
    int stride;   /* >= 1 (PyTorch's default: the kernel) */
    int pad;      /* 0 <= pad <= kernel/2, on each side */
    int dilation; /* >= 1; max pooling only */
    bool ceil_mode;
    bool count_include_pad; /* avg: padding counts in the divisor */
} nb_pool1d_opts;
#define NB_POOL1D_DEFAULT(k) ((nb_pool1d_opts){(k), (k), 0, 1, false, true})
NB_API nb_tensor *nb_max_pool1d(nb_tensor *x, const nb_pool1d_opts *o);
NB_API nb_tensor *nb_avg_pool1d(nb_tensor *x, const nb_pool1d_opts *o);

/* Padding on each side separately, as F.pad before a conv or pool:
 * pads = {left, right, top, bottom} for the 2-D forms (W before H, as F.pad),
 * {left, right} for conv1d. The padded entries are zeros (conv, avg pool —
 * they count in the average, as with F.pad) or −∞ (max pool). opts' own
 * padding must be 0 (NB_PAD_EXPLICIT) / o->pad 0. */
NB_API nb_tensor *nb_conv2d_padded(nb_tensor *x, nb_tensor *w, nb_tensor *b, const int64_t pads[4],
                                   const nb_conv2d_opts *o);
NB_API nb_tensor *nb_conv1d_padded(nb_tensor *x, nb_tensor *w, nb_tensor *b, const int64_t pads[2], int stride,
                                   int dilation, int groups);
NB_API nb_tensor *nb_max_pool2d_padded(nb_tensor *x, const int64_t pads[4], const nb_pool2d_opts *o);
NB_API nb_tensor *nb_avg_pool2d_padded(nb_tensor *x, const int64_t pads[4], const nb_pool2d_opts *o);

/* ------------------------------------------------ layers */

/* Conv1d with PyTorch's dilation, groups and bias flag: weight (out, in/groups,
 * k), bias (out); init as nb_conv1d_layer (PyTorch's). */
NB_API struct nb_module *nb_conv1d_layer_ex(int64_t in, int64_t out, int k, int stride, int pad, int dilation,
                                            int groups, bool bias);
/* MaxPool1d / AvgPool1d layers (nb_max_pool1d / nb_avg_pool1d). */
NB_API struct nb_module *nb_max_pool1d_layer(const nb_pool1d_opts *o);
NB_API struct nb_module *nb_avg_pool1d_layer(const nb_pool1d_opts *o);

#ifdef __cplusplus
}
#endif
#endif
