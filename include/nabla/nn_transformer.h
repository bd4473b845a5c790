/* nabla/nn_transformer.h — the transformer's layers other than attention:
 * LayerNorm, RMSNorm, GELU, SiLU as modules; sinusoidal position tables;
 * weight tying. docs/nn.md ("Transformer layers") has the details.
 *
 * The layers call the fused ops of ops_nn.h; parameter names, shapes and
 * initial values are torch.nn's, so a state_dict maps by name. */
#ifndef NABLA_NN_TRANSFORMER_H
#define NABLA_NN_TRANSFORMER_H

#include "core.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* LayerNorm over the last dim of size d: torch.nn.LayerNorm(d), eps 1e-5,
 * "weight" (d) = 1 and "bias" (d) = 0. x (*, d) -> (*, d). */
NB_API nb_module *nb_layernorm(int64_t d);
/* The general form: normalized_shape (the last normalized_shape.ndim dims
 * of x, as torch's), eps >= 0, elementwise_affine (weight and bias made),
 * bias (only with elementwise_affine; torch >= 2.1's bias=False). */
NB_API nb_module *nb_layernorm_ex(nb_shape normalized_shape, double eps, bool elementwise_affine, bool bias);
/* RMSNorm over the last dim: torch.nn.RMSNorm(d) (PyTorch >= 2.4), eps
 * None = the machine epsilon of x's dtype, "weight" (d) = 1. */
NB_API nb_module *nb_rmsnorm(int64_t d);
/* eps < 0 (NB_RMS_NORM_EPS_DEFAULT) means torch's eps=None. */
NB_API nb_module *nb_rmsnorm_ex(nb_shape normalized_shape, double eps, bool elementwise_affine);

/* torch.nn.GELU() (exact, erf), torch.nn.GELU(approximate='tanh'), torch.nn.SiLU(). */
NB_API nb_module *nb_gelu_layer(void);
NB_API nb_module *nb_gelu_tanh_layer(void);
NB_API nb_module *nb_silu_layer(void);

/* The sinusoidal position table of "Attention Is All You Need" (§3.5), a
 * new (T, d) tensor of dtype dt that requires no grad (scope rule of
 * core.h), interleaved as the paper writes it:
 *     PE[t, 2i]   = sin(t / 10000^(2i/d))
 *     PE[t, 2i+1] = cos(t / 10000^(2i/d)),   t in [0, T), 2i < d.
 * (tensor2tensor's variant puts all sines first, then all cosines: a
 * permutation of the columns.) Odd d: the last column is a sine. Computed in
 * double. T >= 0 and d >= 1 (NB_ERR_ARG otherwise). */
NB_API nb_tensor *nb_sinusoidal_positions(int64_t T, int64_t d, nb_dtype dt);

/* Weight tying: m gets a parameter slot `name` that is the tensor `shared`
 * (a parameter another module owns, e.g. the token embedding's weight for
 * the output layer: y = x·sharedᵀ). The slot does not own it: freeing m
 * leaves it alone, nb_module_cast and nb_module_swap_parameters keep the
 * slot pointing at the owner's (new) tensor when the owner is in the same
 * tree, and nb_module_parameters / named_tensors / numel list it ONCE,
 * under the owner's name (so an optimizer steps it once and a checkpoint
 * saves it once). Both uses add their gradients into shared->grad.
 * shared must outlive m (own it in the same tree). Returns shared, or NULL
 * (error reported) when the name is taken or shared is not a float leaf. */
NB_API nb_tensor *nb_module_tie_param(nb_module *m, const char *name, nb_tensor *shared);

#ifdef __cplusplus
}
#endif
#endif
