/* nabla/nn.h — modules, layers, losses, initializers.
 *
 * Everything here is a COMPOSITION of the public ops (ops.h and the family
 * headers): gradients come from the tape, never from hand-written backward
 * code. docs/nn.md lists every layer with its defaults and formulas.
 *
 * Modules in one paragraph. A module (nb_module) owns named parameters
 * (persistent tensors that require grad), named buffers (persistent tensors
 * that don't: BatchNorm's running statistics), named child modules, a forward
 * function and a train/eval flag. Names are dotted from the module you ask:
 * "fc1.weight", or "0.weight" inside a Sequential. Parameters and buffers are
 * created outside any scope (whatever scope is open when the layer is made)
 * and are freed, with the children, by nb_module_free. A model is either a
 * Sequential of layers or a plain C struct of modules:
 *
 *     typedef struct mlp { nb_module *fc1, *fc2; } mlp;
 *     static nb_tensor *mlp_forward(nb_module *m, nb_tensor *x) {
 *         mlp *net = nb_module_data(m);
 *         return nb_forward(net->fc2, nb_relu(nb_forward(net->fc1, x)));
 *     }
 *     nb_module *m = nb_module_new("MLP", mlp_forward, sizeof(mlp));
 *     mlp *net = nb_module_data(m);
 *     net->fc1 = nb_module_add(m, "fc1", nb_linear(784, 256));
 *     net->fc2 = nb_module_add(m, "fc2", nb_linear(256, 10));
 *
 * Layers are F32 when made; nb_module_cast(m, NB_F64) switches a whole model
 * (gradient checking). Every layer checks its input and a wrong shape is an
 * NB_ERR_SHAPE naming the layer, the expected and the actual shape:
 *   "nabla: Linear: 'fc1' Linear(in=784, out=256) expects (*,784); x is (64,100)".
 */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ modules */

typedef struct nb_module nb_module;
/* A module's forward: y = f(m, x). Must return a tensor made by ops (or x
 * itself), or NULL after reporting an error. */
typedef nb_tensor *(*nb_module_forward_fn)(nb_module *m, nb_tensor *x);

/* A new, empty module of the given type name ("MLP") with a forward function
 * and data_size bytes of zeroed user data (nb_module_data), for custom models.
 * Free it with nb_module_free (which frees its children too). */
NB_API nb_module *nb_module_new(const char *type, nb_module_forward_fn forward, size_t data_size);
/* The module's user data (data_size bytes given to nb_module_new). */
NB_API void *nb_module_data(nb_module *m);
/* Called by nb_module_free before the module's memory goes (to release what
 * the user data points at). Optional. */
NB_API void nb_module_on_free(nb_module *m, void (*fn)(nb_module *m));

/* Registers child under name ("fc1"; no dots) and takes ownership of it:
 * on failure (name taken or invalid, out of memory) the child is freed, so
 * `net->fc1 = nb_module_add(m, "fc1", nb_linear(4, 8))` never leaks. A child
 * that already has a parent is refused and left alone. Returns child or NULL. */
NB_API nb_module *nb_module_add(nb_module *parent, const char *name, nb_module *child);
/* Registers a parameter: takes ownership of t (a persistent tensor; a scoped
 * one is copied to a persistent one), makes it require grad, names it.
 * Returns the stored tensor. */
NB_API nb_tensor *nb_module_add_param(nb_module *m, const char *name, nb_tensor *t);
/* Registers a buffer (saved in checkpoints, not trained): ownership as above;
 * it does not require grad. */
NB_API nb_tensor *nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t);

/* y = m(x). NULL m or x gives NULL (x NULL: an earlier error is kept). */
NB_API nb_tensor *nb_forward(nb_module *m, nb_tensor *x);
/* Frees the module, its children, parameters (with grads) and buffers.
 * Accepts NULL. Optimizers over its parameters must be freed first. */
NB_API void nb_module_free(nb_module *m);

/* Training mode (default) or evaluation mode, for m and all its children:
 * Dropout is the identity and BatchNorm uses its running statistics in eval. */
NB_API void nb_module_train(nb_module *m, bool on);
static inline void nb_module_eval(nb_module *m) { nb_module_train(m, false); }
NB_API bool nb_module_is_training(const nb_module *m);

/* Parameters, recursively in registration order (own first, then each child,
 * PyTorch's named_parameters order), with dotted names relative to m. Writes
 * up to max entries (out may be NULL with max 0) and returns the total count.
 * Names stay valid until m's structure changes or m is freed. */
NB_API int nb_module_parameters(nb_module *m, nb_named_tensor *out, int max);
/* The same list without copying: the module's own cached array (built on
 * first use, no allocation after), *n entries. Valid until m's structure
 * changes or m is freed; read-only. NULL (and *n = 0) for NULL. */
NB_API const nb_named_tensor *nb_module_parameter_view(nb_module *m, int *n);
NB_API int nb_module_num_parameters(nb_module *m);
/* Total number of scalar parameters (Σ numel). */
NB_API int64_t nb_module_numel(nb_module *m);
/* Parameters and buffers in PyTorch's state_dict order (per module: its
 * parameters, its buffers, then its children): what checkpoints save. */
NB_API int nb_module_named_tensors(nb_module *m, nb_named_tensor *out, int max);
/* A parameter or buffer by dotted name ("fc1.weight"), or NULL. */
NB_API nb_tensor *nb_module_get(nb_module *m, const char *name);
/* Own parameter i (registration order) of m: what layer forwards read, so
 * that nb_module_swap_parameters takes effect. NULL if out of range. */
NB_API nb_tensor *nb_module_param(nb_module *m, int i);
/* Own buffer i of m, or NULL. */
NB_API nb_tensor *nb_module_buffer(nb_module *m, int i);
/* A descendant by dotted name ("fc1", "0", "block.conv"), or NULL. */
NB_API nb_module *nb_module_child(nb_module *m, const char *name);
NB_API int nb_module_num_children(const nb_module *m);
NB_API nb_module *nb_module_child_at(nb_module *m, int i);

/* "Linear", "Sequential", ... */
NB_API const char *nb_module_type(const nb_module *m);
/* "Linear(in=784, out=256, bias=true)" */
NB_API const char *nb_module_desc(const nb_module *m);
/* The dotted path from the root it was added to ("fc1", "0.2"), "" for a root. */
NB_API const char *nb_module_path(const nb_module *m);
/* PyTorch-like tree with parameter shapes and the total count. */
NB_API void nb_module_print(FILE *f, nb_module *m);

/* Zeroes the .grad of every parameter (nb_zero_grad(m) in autograd.h). */
NB_API void nb_module_zero_grad(struct nb_module *m);
/* Converts every float parameter and buffer to dt (NB_F32/NB_F64), in place
 * of the old tensors (which are freed). Do it before making an optimizer.
 * Returns false (error reported) on a bad dtype. */
NB_API bool nb_module_cast(nb_module *m, nb_dtype dt);
/* Exchanges the parameters of m (in nb_module_parameters order) with ts[0..n):
 * afterwards the module computes with ts, and ts holds the old tensors; call
 * again to swap back. For functional calls: gradient checking a layer with
 * respect to its parameters. n must equal the parameter count (else
 * NB_ERR_ARG); shapes and dtypes must match. Returns success. */
NB_API bool nb_module_swap_parameters(nb_module *m, nb_tensor **ts, int n);

/* A layer reports a wrong input: "'<path>' <desc> expects <expected>; x is (..)"
 * as NB_ERR_SHAPE with the module's type as the op. For custom modules too. */
NB_API void nb_module_fail_shape(const nb_module *m, const char *expected, const nb_tensor *x);

/* ================================================================ containers */

/* Sequential: applies its children in order, named "0", "1", ...
 *     nb_sequential(nb_linear(4, 8), nb_relu_layer(), nb_linear(8, 2), NULL)
 * Takes ownership of the modules. The trailing NULL is optional; any other
 * NULL (a layer whose constructor failed) frees the rest and returns NULL. */
#define nb_sequential(...) \
    nb_sequential_n((nb_module *[]){__VA_ARGS__}, (int)(sizeof((nb_module *[]){__VA_ARGS__}) / sizeof(nb_module *)))
NB_API nb_module *nb_sequential_n(nb_module *const *mods, int n);
/* Appends a module (named by its index); returns seq (NULL on error). */
NB_API nb_module *nb_sequential_append(nb_module *seq, nb_module *m);

/* ================================================================ layers */
/* Defaults follow PyTorch (see the initializers below and docs/nn.md).
 * "(*, n)" in a shape means any number of leading dims. */

/* Linear: y = x Wᵀ + b. x (*, in) -> (*, out). weight (out, in), bias (out).
 * Init: W ~ U(±1/√in) (PyTorch's kaiming_uniform(a=√5)), b ~ U(±1/√in). */
NB_API nb_module *nb_linear(int64_t in, int64_t out);
NB_API nb_module *nb_linear_ex(int64_t in, int64_t out, bool bias);

/* Conv2d: x (N, in, H, W) -> (N, out, H', W'), square kernel k, stride,
 * zero padding pad, H' = (H + 2 pad − k)/stride + 1. weight (out, in, k, k),
 * bias (out). Init: U(±1/√(in·k·k)) for both (PyTorch). */
NB_API nb_module *nb_conv2d_layer(int64_t in, int64_t out, int k, int stride, int pad);
/* The general form: kh×kw kernel, stride/pad/dilation/padding mode/groups
 * as in nb_conv2d (ops_conv.h; o NULL = stride 1, no padding), bias
 * optional. With groups g > 1 (g divides in and out) the weight is
 * (out, in/g, kh, kw) and the init's fan-in in/g·kh·kw, as torch.nn.Conv2d;
 * g = in is a depthwise convolution. */
struct nb_conv2d_opts;
NB_API nb_module *nb_conv2d_layer_ex(int64_t in, int64_t out, int kh, int kw, const struct nb_conv2d_opts *o,
                                     bool bias);
/* Conv1d: x (N, in, L) -> (N, out, L'), weight (out, in, k), bias (out),
 * dilation 1. Init: U(±1/√(in·k)). */
NB_API nb_module *nb_conv1d_layer(int64_t in, int64_t out, int k, int stride, int pad);
/* Pooling over (N, C, H, W) with a k×k window, stride (0 = k), padding 0. */
NB_API nb_module *nb_max_pool2d_layer(int k, int stride);
NB_API nb_module *nb_avg_pool2d_layer(int k, int stride);
/* The general forms: every option of nb_max_pool2d_ex / nb_avg_pool2d_ex
 * (ops_conv.h; start from NB_POOL2D_DEFAULT(kh, kw)): stride, padding,
 * dilation (max only), ceil_mode, count_include_pad (avg). The options are
 * copied; those that don't depend on the input are checked here. */
struct nb_pool2d_opts;
NB_API nb_module *nb_max_pool2d_layer_ex(const struct nb_pool2d_opts *o);
NB_API nb_module *nb_avg_pool2d_layer_ex(const struct nb_pool2d_opts *o);
/* Flatten: (N, d1, d2, ...) -> (N, d1·d2·...) (PyTorch's start_dim=1). A view. */
NB_API nb_module *nb_flatten_layer(void);

/* BatchNorm over (N, C) or (N, C, L) (1d) and (N, C, H, W) (2d), per channel C:
 *   train: y = γ (x − μ_B)/√(σ²_B + eps) + β, μ_B and the biased σ²_B over
 *          every axis but C; running_mean = (1−m) running_mean + m μ_B,
 *          running_var = (1−m) running_var + m σ²_B·n/(n−1) (unbiased),
 *          num_batches_tracked += 1;
 *   eval:  y = γ (x − running_mean)/√(running_var + eps) + β.
 * eps 1e-5, momentum m 0.1; γ ("weight") = 1, β ("bias") = 0; running_mean 0,
 * running_var 1 ("running_mean", "running_var" buffers, and
 * "num_batches_tracked", an I64 scalar). As PyTorch. */
NB_API nb_module *nb_batchnorm1d(int64_t n);
NB_API nb_module *nb_batchnorm2d(int64_t c);
NB_API nb_module *nb_batchnorm1d_ex(int64_t n, double eps, double momentum);
NB_API nb_module *nb_batchnorm2d_ex(int64_t c, double eps, double momentum);

/* Dropout (inverted): train: y = x·mask/(1−p), p the DROP probability
 * (PyTorch's convention; keep probability 1 − p); eval: y = x. */
NB_API nb_module *nb_dropout_layer(double p);

/* Activations as modules (no parameters unless said). */
NB_API nb_module *nb_sigmoid_layer(void);            /* 1/(1+e^−x)            */
NB_API nb_module *nb_tanh_layer(void);               /* tanh x                */
NB_API nb_module *nb_relu_layer(void);               /* max(0, x)             */
NB_API nb_module *nb_leaky_relu_layer(double slope); /* x>0 ? x : slope·x (PyTorch default 0.01) */
NB_API nb_module *nb_elu_layer(double alpha);        /* x>0 ? x : α(e^x−1) (PyTorch default 1)  */
/* PReLU: y = relu(x) − α·relu(−x), α learnable ("weight"), n = 1 (one α
 * shared) or n = C (one per channel, axis 1 of x), init 0.25 (PyTorch). */
NB_API nb_module *nb_prelu_layer(int64_t n);
/* Maxout: a linear map in -> out·k ("weight" (out·k, in), "bias" (out·k),
 * Linear's init), then the max over each group of k consecutive units:
 * y_j = max_{t<k} z_{j·k+t}. x (*, in) -> (*, out). */
NB_API nb_module *nb_maxout_layer(int64_t in, int64_t out, int k);
/* Embedding: idx NB_I64 of any shape S -> S + (dim), rows of "weight"
 * (num, dim), init N(0, 1) (PyTorch). An index outside [0, num) is an error. */
NB_API nb_module *nb_embedding(int64_t num, int64_t dim);

/* ================================================================ initializers */
/* Each fills t in place (no gradient is recorded; its version is bumped)
 * from the global seeded generator (nb_seed) and returns t (NULL on error).
 * Fans (PyTorch): for t of shape (out, in, k...) fan_in = in·Πk,
 * fan_out = out·Πk; a 1-D tensor has fan_in = fan_out = its size. */

typedef enum nb_fan_mode { NB_FAN_IN = 0, NB_FAN_OUT } nb_fan_mode;
typedef enum nb_nonlinearity {
    NB_NONLIN_LINEAR = 0, /* gain 1 (also conv, sigmoid)    */
    NB_NONLIN_SIGMOID,    /* gain 1                          */
    NB_NONLIN_TANH,       /* gain 5/3                        */
    NB_NONLIN_RELU,       /* gain √2                         */
    NB_NONLIN_LEAKY_RELU  /* gain √(2/(1+a²)), a the slope   */
} nb_nonlinearity;

/* PyTorch's calculate_gain. */
NB_API double nb_init_gain(nb_nonlinearity nl, double a);
/* fan_in and fan_out of t as above; false (NB_ERR_SHAPE) for a 0-d tensor. */
NB_API bool nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out);

/* U(lo, hi). */
NB_API nb_tensor *nb_init_uniform(nb_tensor *t, double lo, double hi);
/* N(mean, std²): the lecture's "small random numbers" is std = 0.01. */
NB_API nb_tensor *nb_init_normal(nb_tensor *t, double mean, double std);
/* N(mean, std²) truncated to [a, b] — ABSOLUTE cut-offs, as PyTorch's
 * trunc_normal_(t, mean, std, a, b) (defaults 0, 1, −2, 2): inverse-CDF
 * sampling, so every draw is one uniform. */
NB_API nb_tensor *nb_init_trunc_normal(nb_tensor *t, double mean, double std, double a, double b);
/* Xavier/Glorot: U(±gain·√(6/(fan_in+fan_out))), i.e. Var = gain²·2/(fan_in+fan_out). */
NB_API nb_tensor *nb_init_xavier_uniform(nb_tensor *t, double gain);
/* Xavier/Glorot: N(0, gain²·2/(fan_in+fan_out)). */
NB_API nb_tensor *nb_init_xavier_normal(nb_tensor *t, double gain);
/* He/Kaiming: U(±gain·√(3/fan)), gain = nb_init_gain(nl, a), fan per mode.
 * PyTorch's defaults are a = 0, NB_FAN_IN, NB_NONLIN_LEAKY_RELU (gain √2). */
NB_API nb_tensor *nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl);
/* He/Kaiming: N(0, (gain/√fan)²). */
NB_API nb_tensor *nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl);
/* Every element = v. */
NB_API nb_tensor *nb_init_constant(nb_tensor *t, double v);

/* ================================================================ losses */
/* red: NB_REDUCE_MEAN (default in PyTorch), NB_REDUCE_SUM, NB_REDUCE_NONE
 * (per element / per sample, no reduction). Inputs of the wrong shape are an
 * NB_ERR_SHAPE naming the loss and both shapes. */

/* Squared error: (pred − target)², pred and target the same shape.
 * MEAN: Σ(y−ŷ)²/numel (PyTorch's MSELoss); SUM: E = Σ(y−ŷ)², the lecture's
 * error. */
NB_API nb_tensor *nb_mse_loss(nb_tensor *pred, nb_tensor *target, nb_reduction red);
/* Binary cross-entropy on logits x (the stable primitive nb_bce_with_logits):
 * l = max(x,0) − x·y + log(1 + e^−|x|), y in [0, 1], same shape as x. */
NB_API nb_tensor *nb_bce_with_logits_loss(nb_tensor *x, nb_tensor *y, nb_reduction red);
/* Softmax cross-entropy: logits (N, C), labels NB_I64 (N) in [0, C):
 * l_i = −log softmax(logits_i)[labels_i] = nll(log_softmax(logits)).
 * MEAN divides by N (PyTorch's CrossEntropyLoss without weights). */
NB_API nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *labels, nb_reduction red);
/* Multiclass SVM (hinge) loss, cs231n's form: scores (N, C), labels (N),
 * L_i = Σ_{j≠y_i} max(0, s_j − s_{y_i} + margin) (margin Δ = 1 usual).
 * MEAN divides by N. PyTorch's multi_margin_loss also divides each L_i by C. */
NB_API nb_tensor *nb_svm_loss(nb_tensor *scores, nb_tensor *labels, double margin, nb_reduction red);
/* L2 weight penalty λ·R(W), R(W) = Σ w² over the module's WEIGHTS: the
 * parameters of rank >= 2 (Linear/Conv/Embedding weights, Maxout's). Biases,
 * BatchNorm's γ/β and PReLU's α are not penalised (cs231n's convention;
 * PyTorch's optimizer weight_decay would decay them all). The full loss is
 * data loss + nb_l2_penalty(m, λ). A scalar in the parameters' dtype. */
NB_API nb_tensor *nb_l2_penalty(nb_module *m, double lambda);
/* λ·Σ_i Σ t_i² over n tensors (all of them). */
NB_API nb_tensor *nb_l2_penalty_list(nb_tensor *const *ts, int n, double lambda);

#ifdef __cplusplus
}
#endif
#endif
