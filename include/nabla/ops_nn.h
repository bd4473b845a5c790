/* nabla/ops_nn.h — the transformer's non-attention primitives: layer and
 * RMS normalization, GELU (exact and tanh), SiLU.
 *
 * Same contract as ops.h: every function returns a new tensor (scope rule in
 * core.h) or NULL on misuse (the error names the op and the shapes) or when
 * given NULL. Float inputs of one op share a dtype (F32 or F64). "g" is the
 * upstream gradient. Code in ops/norm_act.c; PyTorch twins in
 * tests/fixtures/torch_ops/transformer.py.
 */
#ifndef NABLA_OPS_NN_H
#define NABLA_OPS_NN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------ normalization */

/* torch.nn.functional.layer_norm over the last `normalized_ndim` dims of x
 * (1 <= normalized_ndim <= x.ndim): each row x_r (the D elements of those
 * dims) becomes
 *     y = (x − μ)/√(σ² + eps) · weight + bias,
 * μ the row mean, σ² the biased variance (divide by D), computed in double
 * with two passes. weight and bias are optional (NULL), each of shape
 * x.shape[-normalized_ndim:] and x's dtype. eps >= 0 (PyTorch's default is
 * NB_LAYER_NORM_EPS). With x̂ = (x − μ)·r, r = 1/√(σ² + eps), ĝ = g·weight:
 *     dx += r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),  dweight += Σ_rows g·x̂,
 *     dbias += Σ_rows g.
 * A fused op: forward keeps (μ, r) per row for backward. */
#define NB_LAYER_NORM_EPS 1e-5
NB_API nb_tensor *nb_layer_norm(nb_tensor *x, int normalized_ndim, nb_tensor *weight, nb_tensor *bias, double eps);

/* RMS normalization (torch.nn.functional.rms_norm, PyTorch >= 2.4):
 *     y = x / √(mean(x²) + eps) · weight,
 * the mean over the last normalized_ndim dims; weight optional (NULL), shape
 * x.shape[-normalized_ndim:]. eps = NB_RMS_NORM_EPS_DEFAULT (any negative)
 * takes torch's default for eps=None: the machine epsilon of x's dtype
 * (FLT_EPSILON 1.19e-7 for F32, DBL_EPSILON 2.2e-16 for F64). With
 * r = 1/√(mean(x²) + eps), x̂ = x·r, ĝ = g·weight:
 *     dx += r·(ĝ − x̂·mean(ĝ·x̂)),  dweight += Σ_rows g·x̂. */
#define NB_RMS_NORM_EPS_DEFAULT (-1.0)
NB_API nb_tensor *nb_rms_norm(nb_tensor *x, int normalized_ndim, nb_tensor *weight, double eps);

/* ------------------------------------------------ activations */

/* GELU, exact (torch.nn.functional.gelu, approximate='none'):
 *     y = x·Φ(x) = ½x(1 + erf(x/√2))        (erf by SLEEF, within 1 ULP)
 *     dx += g·(Φ(x) + x·φ(x)),  φ(x) = e^(−x²/2)/√(2π). */
NB_API nb_tensor *nb_gelu(nb_tensor *x);
/* GELU, tanh approximation (approximate='tanh'; GPT-2's "gelu_new"):
 *     y = ½x(1 + t),  t = tanh(√(2/π)(x + 0.044715x³))
 *     dx += g·(½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)). */
NB_API nb_tensor *nb_gelu_tanh(nb_tensor *x);
/* SiLU / swish: y = x·sigmoid(x) (torch.nn.functional.silu);
 *     dx += g·s(1 + x(1 − s)),  s = sigmoid(x) (stable for any x). */
NB_API nb_tensor *nb_silu(nb_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
