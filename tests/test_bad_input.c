/* test_bad_input.c — a catalog of misuse across the public API.
 *
 * Each row of BAD_CASES is one misuse: the status it must produce, a text the
 * FIRST reported message must contain (the op or layer name), and an
 * expression that is true when the call signalled failure (a NULL tensor or
 * module, a status other than NB_OK, false). Every row runs in its own scope
 * with a handler installed: a crash, a missing report, a different status, a
 * message without the name, or a "successful" return is a failure. The test
 * prints "bad-input catalog: N cases, all reported"; NB_CATALOG_PRINT=1 prints
 * every case's message, to read them.
 *
 * test_errors.c checks exact message texts for the core; this file is about
 * breadth: every op family (core, math, index, conv), layers and losses,
 * autograd misuse and optimizers. Loader misuse is at the end (io never uses
 * the handler: its errors come back as statuses and text). */
#include "test_util.h"
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

/* ----------------------------------------------------------- helpers */

#define F(...) nb_randn(NB_F32, NB_SHAPE(__VA_ARGS__), 0, 1)
#define D(...) nb_randn(NB_F64, NB_SHAPE(__VA_ARGS__), 0, 1)
#define I(...) nb_zeros(NB_I64, NB_SHAPE(__VA_ARGS__))
#define RG(t) nb_set_requires_grad((t), true)
#define T(expr) ((expr) == NULL)  /* a tensor/module/optimizer call failed */
#define S(expr) ((expr) != NB_OK) /* a status call failed                  */
#define B(expr) (!(expr))         /* a bool call failed                    */

static nb_tensor *labels(int n, int64_t v) {
    nb_tensor *t = nb_zeros(NB_I64, NB_SHAPE(n));
    for (int i = 0; i < n; i++) nb_i64(t)[i] = v;
    return t;
}

/* Forwards x through a layer, frees the layer; true if the forward failed. */
static bool layer_fails(nb_module *m, nb_tensor *x) {
    if (!m) return false; /* the constructor itself must work here */
    nb_tensor *y = nb_forward(m, x);
    nb_module_free(m);
    return y == NULL;
}

/* A constructor that must fail: true if it did (frees what it made). */
static bool ctor_fails(nb_module *m) {
    nb_module_free(m);
    return m == NULL;
}

static nb_conv2d_opts conv_opts(int stride, int pad, int dil) {
    nb_conv2d_opts o;
    memset(&o, 0, sizeof o);
    o.stride[0] = o.stride[1] = stride;
    o.pad[0] = o.pad[1] = pad;
    o.dilation[0] = o.dilation[1] = dil;
    o.padding = NB_PAD_EXPLICIT;
    return o;
}

/* backward through a graph whose saved input was changed in place */
static bool version_violation(void) {
    nb_tensor *w = RG(D(3));
    nb_tensor *y = nb_sum_all(nb_mul(w, w));
    NB_NO_GRAD { nb_add_(w, nb_ones(NB_F64, NB_SHAPE(3))); }
    return nb_backward(y) != NB_OK;
}

/* backward with a seed of the wrong shape */
static bool backward_bad_seed(void) {
    nb_tensor *x = RG(D(2, 3));
    nb_tensor *y = nb_mul_scalar(x, 2);
    return nb_backward_with(y, nb_ones(NB_F64, NB_SHAPE(3, 2))) != NB_OK;
}

/* backward with a seed of the wrong dtype */
static bool backward_seed_dtype(void) {
    nb_tensor *x = RG(D(2, 3));
    nb_tensor *y = nb_mul_scalar(x, 2);
    return nb_backward_with(y, nb_ones(NB_F32, NB_SHAPE(2, 3))) != NB_OK;
}

/* an optimizer over a tensor that does not require grad */
static bool optim_no_grad_param(void) {
    nb_tensor *p = nb_zeros(NB_F32, NB_SHAPE(3)); /* scoped, requires_grad false */
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_SGD);
    nb_optim *opt = nb_optim_new_tensors(&o, &p, 1);
    nb_optim_free(opt);
    return opt == NULL;
}

static bool optim_bad_lr(void) {
    nb_tensor *p = RG(nb_zeros(NB_F32, NB_SHAPE(3)));
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_ADAM);
    o.lr = -1;
    nb_optim *opt = nb_optim_new_tensors(&o, &p, 1);
    nb_optim_free(opt);
    return opt == NULL;
}

static bool optim_null_params(void) {
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_SGD);
    nb_optim *opt = nb_optim_new_tensors(&o, NULL, 2);
    nb_optim_free(opt);
    return opt == NULL;
}

static bool optim_i64_param(void) {
    nb_tensor *p = I(3);
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_SGD);
    nb_optim *opt = nb_optim_new_tensors(&o, &p, 1);
    nb_optim_free(opt);
    return opt == NULL;
}

static bool module_dup_name(void) {
    nb_module *m = nb_sequential(nb_linear(2, 2), NULL);
    nb_module *child = nb_linear(2, 2);
    nb_module *r = nb_module_add(m, "0", child); /* a failed add frees the child (nn/module.c) */
    nb_module_free(m);
    return r == NULL;
}

static bool swap_params_wrong_count(void) {
    nb_module *m = nb_linear(2, 3);
    nb_tensor *ts[1] = {F(3, 2)};
    bool ok = nb_module_swap_parameters(m, ts, 1);
    nb_module_free(m);
    return !ok;
}

static bool module_cast_i64(void) {
    nb_module *m = nb_linear(2, 3);
    bool ok = nb_module_cast(m, NB_I64);
    nb_module_free(m);
    return !ok;
}

/* ----------------------------------------------------------- the table */

#define BAD_CASES(X)                                                                                                   \
    /* ------------------------------------------------ core ops (ops.h) */                                            \
    X(NB_ERR_SHAPE, "add", T(nb_add(F(2, 3), F(4))))                                                                   \
    X(NB_ERR_SHAPE, "sub", T(nb_sub(F(2, 3), F(3, 2))))                                                                \
    X(NB_ERR_SHAPE, "mul", T(nb_mul(F(5), F(4))))                                                                      \
    X(NB_ERR_SHAPE, "div", T(nb_div(F(2, 1, 3), F(2, 2))))                                                             \
    X(NB_ERR_DTYPE, "add", T(nb_add(F(3), D(3))))                                                                      \
    X(NB_ERR_DTYPE, "mul", T(nb_mul(I(3), I(3))))                                                                      \
    X(NB_ERR_SHAPE, "matmul", T(nb_matmul(F(2, 3), F(4, 5))))                                                          \
    X(NB_ERR_SHAPE, "matmul", T(nb_matmul(F(3), F(3, 2))))                                                             \
    X(NB_ERR_SHAPE, "matmul", T(nb_matmul(F(2, 2, 3), F(3, 2, 4))))                                                    \
    X(NB_ERR_DTYPE, "matmul", T(nb_matmul(F(2, 3), D(3, 2))))                                                          \
    X(NB_ERR_SHAPE, "affine", T(nb_affine(F(2, 3), F(4, 5), NULL)))                                                    \
    X(NB_ERR_SHAPE, "affine", T(nb_affine(F(2, 3), F(4, 3, 1), NULL)))                                                 \
    X(NB_ERR_SHAPE, "affine", T(nb_affine(F(2, 3), F(4, 3), F(3))))                                                    \
    X(NB_ERR_DTYPE, "affine", T(nb_affine(F(2, 3), D(4, 3), NULL)))                                                    \
    X(NB_ERR_SHAPE, "affine_add", T(nb_affine_add(F(2, 3), F(4, 3), F(4), F(2, 3))))                                   \
    X(NB_ERR_SHAPE, "affine_add", T(nb_affine_add(F(2, 3), F(4, 3), NULL, F(4))))                                      \
    X(NB_ERR_SHAPE, "affine_add", T(nb_affine_add(F(2, 3), F(4, 5), NULL, F(2, 4))))                                   \
    X(NB_ERR_DTYPE, "affine_add", T(nb_affine_add(F(2, 3), F(4, 3), NULL, D(2, 4))))                                   \
    X(NB_ERR_DTYPE, "exp", T(nb_exp(I(3))))                                                                            \
    X(NB_ERR_DTYPE, "log", T(nb_log(I(3))))                                                                            \
    X(NB_ERR_DTYPE, "sqrt", T(nb_sqrt(I(3))))                                                                          \
    X(NB_ERR_DTYPE, "sigmoid", T(nb_sigmoid(I(3))))                                                                    \
    X(NB_ERR_DTYPE, "tanh", T(nb_tanh(I(3))))                                                                          \
    X(NB_ERR_DTYPE, "relu", T(nb_relu(I(3))))                                                                          \
    X(NB_ERR_DTYPE, "pow", T(nb_pow_scalar(I(3), 2)))                                                                  \
    X(NB_ERR_AXIS, "sum", T(nb_sum(F(2, 3), (int[]){2}, 1, false)))                                                    \
    X(NB_ERR_AXIS, "mean", T(nb_mean(F(2, 3), (int[]){0, 0}, 2, false)))                                               \
    X(NB_ERR_SHAPE, "sum_to", T(nb_sum_to(F(2, 3), NB_SHAPE(4))))                                                      \
    X(NB_ERR_SHAPE, "reshape", T(nb_reshape(F(2, 3), NB_SHAPE(4, 2))))                                                 \
    X(NB_ERR_AXIS, "flatten", T(nb_flatten(F(2, 3), 0, 5)))                                                            \
    X(NB_ERR_AXIS, "permute", T(nb_permute(F(2, 3, 4), (int[]){0, 0, 1}, 3)))                                          \
    X(NB_ERR_AXIS, "permute", T(nb_permute(F(2, 3, 4), (int[]){1, 0}, 2)))                                             \
    X(NB_ERR_AXIS, "transpose", T(nb_transpose(F(2, 3), 0, 2)))                                                        \
    X(NB_ERR_DTYPE, "cast", T(nb_cast(F(2), (nb_dtype)7)))                                                             \
    X(NB_ERR_SHAPE, "add_", T(nb_add_(F(3), F(2, 3))))                                                                 \
    X(NB_ERR_SHAPE, "copy_", T(nb_copy_(F(3), F(4))))                                                                  \
    X(NB_ERR_DTYPE, "axpy_", T(nb_axpy_(D(3), 1.0, F(3))))                                                             \
    X(NB_ERR_GRAPH, "add_", T(nb_add_(RG(F(3)), F(3))))                                                                \
    X(NB_ERR_GRAPH, "fill_", T(nb_fill_(RG(F(3)), 0)))                                                                 \
    X(NB_ERR_GRAPH, "scale_", T(nb_scale_(RG(D(3)), 2)))                                                               \
    X(NB_ERR_SHAPE, "item", B(!isnan(nb_item(F(2, 3)))))                                                               \
    X(NB_ERR_SHAPE, "zeros", T(nb_zeros(NB_F32, NB_SHAPE(2, -3))))                                                     \
    X(NB_ERR_ARG, "from_data", T(nb_from_data(NB_F32, NB_SHAPE(2), NULL)))                                             \
    X(NB_ERR_DTYPE, "set_requires_grad", T(RG(I(3))))                                                                  \
    X(NB_ERR_ARG, "arange", T(nb_arange(NB_F32, 0, 1, 0)))                                                             \
    /* ------------------------------------------------ math (ops_math.h) */                                           \
    X(NB_ERR_SHAPE, "maximum", T(nb_maximum(F(2, 3), F(2))))                                                           \
    X(NB_ERR_SHAPE, "minimum", T(nb_minimum(F(3), F(4))))                                                              \
    X(NB_ERR_ARG, "clamp", T(nb_clamp(F(3), 1, -1)))                                                                   \
    X(NB_ERR_SHAPE, "where", T(nb_where(F(3), F(4), F(4))))                                                            \
    X(NB_ERR_DTYPE, "leaky_relu", T(nb_leaky_relu(I(3), 0.1)))                                                         \
    X(NB_ERR_DTYPE, "softplus", T(nb_softplus(I(3))))                                                                  \
    X(NB_ERR_AXIS, "max", T(nb_max(F(2, 3), (int[]){3}, 1, false)))                                                    \
    X(NB_ERR_AXIS, "min", T(nb_min(F(2, 3), (int[]){-3}, 1, false)))                                                   \
    X(NB_ERR_AXIS, "argmax", T(nb_argmax(F(2, 3), 2, false)))                                                          \
    X(NB_ERR_AXIS, "argmax", T(nb_argmax(nb_scalar(NB_F32, 1), 1, false)))                                             \
    X(NB_ERR_AXIS, "argmin", T(nb_argmin(F(2, 3), -3, false)))                                                         \
    X(NB_ERR_AXIS, "logsumexp", T(nb_logsumexp(F(2, 3), (int[]){4}, 1, false)))                                        \
    X(NB_ERR_AXIS, "var", T(nb_var(F(2, 3), (int[]){2}, 1, true, false)))                                              \
    X(NB_ERR_AXIS, "std", T(nb_std(F(2, 3), (int[]){-4}, 1, true, false)))                                             \
    X(NB_ERR_AXIS, "softmax", T(nb_softmax(F(2, 3), 2)))                                                               \
    X(NB_ERR_AXIS, "log_softmax", T(nb_log_softmax(F(2, 3), -3)))                                                      \
    X(NB_ERR_DTYPE, "nll", T(nb_nll(F(2, 3), F(2), NB_REDUCE_MEAN)))                                                   \
    X(NB_ERR_SHAPE, "nll", T(nb_nll(F(2, 3), labels(3, 0), NB_REDUCE_MEAN)))                                           \
    X(NB_ERR_ARG, "nll", T(nb_nll(F(2, 3), labels(2, 3), NB_REDUCE_MEAN)))                                             \
    X(NB_ERR_ARG, "nll", T(nb_nll(F(2, 3), labels(2, -1), NB_REDUCE_SUM)))                                             \
    X(NB_ERR_SHAPE, "bce_with_logits", T(nb_bce_with_logits(F(2, 3), F(3, 2), NB_REDUCE_MEAN)))                        \
    X(NB_ERR_DTYPE, "bce_with_logits", T(nb_bce_with_logits(F(3), D(3), NB_REDUCE_MEAN)))                              \
    /* ------------------------------------------------ index (ops_index.h) */                                         \
    X(NB_ERR_DTYPE, "gather", T(nb_gather(F(2, 3), 1, F(2, 1))))                                                       \
    X(NB_ERR_AXIS, "gather", T(nb_gather(F(2, 3), 2, I(2, 1))))                                                        \
    X(NB_ERR_ARG, "gather", T(nb_gather(F(2, 3), 1, nb_full(NB_I64, NB_SHAPE(2, 1), 3))))                              \
    X(NB_ERR_ARG, "index_select", T(nb_index_select(F(4, 3), 0, labels(2, 4))))                                        \
    X(NB_ERR_DTYPE, "index_select", T(nb_index_select(F(4, 3), 0, F(2))))                                              \
    X(NB_ERR_ARG, "one_hot", T(nb_one_hot(labels(3, 5), 5, NB_F32)))                                                   \
    X(NB_ERR_DTYPE, "one_hot", T(nb_one_hot(F(3), 5, NB_F32)))                                                         \
    X(NB_ERR_SHAPE, "concat", T(nb_concat((nb_tensor *[]){F(2, 3), F(2, 4)}, 2, 0)))                                   \
    X(NB_ERR_ARG, "concat", T(nb_concat((nb_tensor *[]){NULL}, 0, 0)))                                                 \
    X(NB_ERR_DTYPE, "concat", T(nb_concat((nb_tensor *[]){F(2, 3), D(2, 3)}, 2, 0)))                                   \
    X(NB_ERR_SHAPE, "stack", T(nb_stack((nb_tensor *[]){F(2, 3), F(3, 2)}, 2, 0)))                                     \
    X(NB_ERR_AXIS, "stack", T(nb_stack((nb_tensor *[]){F(2, 3), F(2, 3)}, 2, 4)))                                      \
    X(NB_ERR_ARG, "slice", T(nb_slice(F(5), 0, 0, 5, 0)))                                                              \
    X(NB_ERR_AXIS, "slice", T(nb_slice(F(5), 1, 0, 5, 1)))                                                             \
    X(NB_ERR_ARG, "pad", T(nb_pad(F(2, 3), (int64_t[]){1, 1, 1}, 3, 0)))                                               \
    X(NB_ERR_SHAPE, "expand", T(nb_expand(F(2, 3), NB_SHAPE(4, 3))))                                                   \
    X(NB_ERR_SHAPE, "squeeze", T(nb_squeeze(F(2, 3), 0)))                                                              \
    X(NB_ERR_AXIS, "unsqueeze", T(nb_unsqueeze(F(2, 3), 4)))                                                           \
    X(NB_ERR_ARG, "dropout", T(nb_dropout(F(2, 3), 1.5, true)))                                                        \
    X(NB_ERR_SHAPE, "maxout", T(nb_maxout(F(2, 6), 1, 4)))                                                             \
    /* ------------------------------------------------ seq (ops_seq.h) */                                             \
    X(NB_ERR_ARG, "narrow", T(nb_narrow(F(2, 5), 1, 3, 3)))                                                            \
    X(NB_ERR_ARG, "select", T(nb_select(F(2, 5), 0, -3)))                                                              \
    X(NB_ERR_ARG, "chunk", B(nb_chunk(F(2, 5), 0, 1, (nb_tensor *[1]){0}) >= 0))                                       \
    X(NB_ERR_ARG, "split", B(nb_split(F(2, 5), (int64_t[]){2, 2}, 2, 1, (nb_tensor *[2]){0}) >= 0))                    \
    X(NB_ERR_ARG, "unbind", B(nb_unbind(F(2, 5), 1, (nb_tensor *[4]){0}, 4) >= 0))                                     \
    X(NB_ERR_AXIS, "flip", T(nb_flip(F(2, 5), (int[]){0, -2}, 2)))                                                     \
    X(NB_ERR_AXIS, "cumsum", T(nb_cumsum(F(2, 5), 2)))                                                                 \
    X(NB_ERR_SHAPE, "masked_fill", T(nb_masked_fill(F(2, 5), I(2), 0)))                                                \
    /* ------------------------------------------------ conv (ops_conv.h) */                                           \
    X(NB_ERR_SHAPE, "conv2d", T(nb_conv2d(F(3, 8, 8), F(4, 3, 3, 3), NULL, NULL)))                                     \
    X(NB_ERR_SHAPE, "conv2d", T(nb_conv2d(F(1, 2, 8, 8), F(4, 3, 3, 3), NULL, NULL)))                                  \
    X(NB_ERR_SHAPE, "conv2d", T(nb_conv2d(F(1, 3, 8, 8), F(4, 3, 3, 3), F(5), NULL)))                                  \
    X(NB_ERR_ARG, "conv2d", T(nb_conv2d(F(1, 3, 8, 8), F(4, 3, 3, 3), NULL, &(nb_conv2d_opts){0})))                    \
    X(NB_ERR_SHAPE, "conv2d", T(nb_conv2d(F(1, 3, 2, 2), F(4, 3, 3, 3), NULL, NULL)))                                  \
    X(NB_ERR_ARG, "conv2d", T(nb_conv2d(F(1, 3, 8, 8), F(4, 3, 3, 3), NULL, (nb_conv2d_opts[]){conv_opts(1, -1, 1)}))) \
    X(NB_ERR_DTYPE, "conv2d", T(nb_conv2d(F(1, 3, 8, 8), D(4, 3, 3, 3), NULL, NULL)))                                  \
    X(NB_ERR_SHAPE, "conv1d", T(nb_conv1d(F(3, 8), F(4, 3, 3), NULL, 1, 0, 1)))                                        \
    X(NB_ERR_ARG, "conv1d", T(nb_conv1d(F(1, 3, 8), F(4, 3, 3), NULL, 0, 0, 1)))                                       \
    X(NB_ERR_ARG, "max_pool2d", T(nb_max_pool2d(F(1, 1, 4, 4), 0, 0, 1, 1, 0, 0)))                                     \
    X(NB_ERR_ARG, "avg_pool2d", T(nb_avg_pool2d(F(1, 1, 4, 4), 2, 2, 2, 2, 2, 2)))                                     \
    X(NB_ERR_SHAPE, "max_pool2d", T(nb_max_pool2d(F(4, 4), 2, 2, 2, 2, 0, 0)))                                         \
    X(NB_ERR_SHAPE, "global_avg_pool2d", T(nb_global_avg_pool2d(F(4, 4))))                                             \
    /* ------------------------------------------------ layers and losses (nn.h) */                                    \
    X(NB_ERR_SHAPE, "Linear", layer_fails(nb_linear(4, 2), F(3, 5)))                                                   \
    X(NB_ERR_DTYPE, "Linear", layer_fails(nb_linear(4, 2), D(3, 4)))                                                   \
    X(NB_ERR_ARG, "Linear", ctor_fails(nb_linear(0, 2)))                                                               \
    X(NB_ERR_SHAPE, "Conv2d", layer_fails(nb_conv2d_layer(3, 4, 3, 1, 1), F(1, 2, 8, 8)))                              \
    X(NB_ERR_SHAPE, "Conv2d", layer_fails(nb_conv2d_layer(3, 4, 3, 1, 1), F(3, 8, 8)))                                 \
    X(NB_ERR_ARG, "Conv2d", ctor_fails(nb_conv2d_layer(3, 4, 0, 1, 0)))                                                \
    X(NB_ERR_ARG, "Conv2d",                                                                                            \
      ctor_fails(nb_conv2d_layer_ex(3, 4, 3, 3, &(nb_conv2d_opts){{1, 1}, {0, 0}, {1, 1}, NB_PAD_EXPLICIT, 2}, true))) \
    X(NB_ERR_SHAPE, "Conv1d", layer_fails(nb_conv1d_layer(3, 4, 3, 1, 1), F(1, 2, 8)))                                 \
    X(NB_ERR_SHAPE, "MaxPool2d", layer_fails(nb_max_pool2d_layer(2, 2), F(4, 4)))                                      \
    X(NB_ERR_SHAPE, "AvgPool2d", layer_fails(nb_avg_pool2d_layer(2, 2), F(8)))                                         \
    X(NB_ERR_SHAPE, "Flatten", layer_fails(nb_flatten_layer(), F(4)))                                                  \
    X(NB_ERR_SHAPE, "BatchNorm1d", layer_fails(nb_batchnorm1d(4), F(2, 5)))                                            \
    X(NB_ERR_SHAPE, "BatchNorm2d", layer_fails(nb_batchnorm2d(3), F(2, 3)))                                            \
    X(NB_ERR_SHAPE, "BatchNorm2d", layer_fails(nb_batchnorm2d(3), F(2, 4, 5, 5)))                                      \
    X(NB_ERR_ARG, "Dropout", ctor_fails(nb_dropout_layer(1.5)))                                                        \
    X(NB_ERR_SHAPE, "PReLU", layer_fails(nb_prelu_layer(3), F(2, 4)))                                                  \
    X(NB_ERR_SHAPE, "Maxout", layer_fails(nb_maxout_layer(4, 2, 3), F(2, 5)))                                          \
    X(NB_ERR_DTYPE, "Embedding", layer_fails(nb_embedding(10, 3), F(4)))                                               \
    X(NB_ERR_ARG, "Embedding", layer_fails(nb_embedding(10, 3), labels(4, 10)))                                        \
    X(NB_ERR_SHAPE, "Linear", layer_fails(nb_sequential(nb_linear(4, 8), nb_relu_layer(), nb_linear(7, 2)), F(3, 4)))  \
    X(NB_ERR_ARG, "forward", T(nb_forward(NULL, F(2, 3))))                                                             \
    X(NB_ERR_SHAPE, "mse", T(nb_mse_loss(F(2, 3), F(3, 2), NB_REDUCE_MEAN)))                                           \
    X(NB_ERR_SHAPE, "cross_entropy", T(nb_cross_entropy(F(4, 3), labels(3, 0), NB_REDUCE_MEAN)))                       \
    X(NB_ERR_DTYPE, "cross_entropy", T(nb_cross_entropy(F(4, 3), F(4), NB_REDUCE_MEAN)))                               \
    X(NB_ERR_ARG, "nll", T(nb_cross_entropy(F(4, 3), labels(4, 7), NB_REDUCE_MEAN))) /* found by nll */                \
    X(NB_ERR_SHAPE, "svm", T(nb_svm_loss(F(4, 3), labels(2, 0), 1.0, NB_REDUCE_MEAN)))                                 \
    X(NB_ERR_SHAPE, "bce", T(nb_bce_with_logits_loss(F(4), F(3), NB_REDUCE_MEAN)))                                     \
    X(NB_ERR_SHAPE, "init", T(nb_init_xavier_uniform(F(), 1.0)))                                                       \
    X(NB_ERR_ARG, "module_add", module_dup_name())                                                                     \
    X(NB_ERR_ARG, "module_swap_parameters", swap_params_wrong_count())                                                 \
    X(NB_ERR_DTYPE, "module_cast", module_cast_i64())                                                                  \
    /* ------------------------------------------------ autograd */                                                    \
    X(NB_ERR_GRAPH, "backward", S(nb_backward(nb_mul_scalar(RG(D(2, 3)), 2))))                                         \
    X(NB_ERR_GRAPH, "backward", S(nb_backward(nb_sum_all(D(2, 3)))))                                                   \
    X(NB_ERR_ARG, "backward", S(nb_backward(NULL)))                                                                    \
    X(NB_ERR_SHAPE, "backward", B(!backward_bad_seed()))                                                               \
    X(NB_ERR_DTYPE, "backward", B(!backward_seed_dtype()))                                                             \
    X(NB_ERR_VERSION, "mul", B(!version_violation()))                                                                  \
    X(NB_ERR_GRAPH, "set_requires_grad", T(nb_set_requires_grad(nb_set_requires_grad(nb_exp(RG(D(2))), false), true))) \
    /* ------------------------------------------------ optimizers */                                                  \
    X(NB_ERR_ARG, "SGD", B(!optim_no_grad_param()))                                                                    \
    X(NB_ERR_ARG, "Adam", B(!optim_bad_lr()))                                                                          \
    X(NB_ERR_ARG, "optim", B(!optim_null_params()))                                                                    \
    X(NB_ERR_ARG, "SGD", B(!optim_i64_param()))

typedef struct bad_case {
    nb_status st;
    const char *needle;
    const char *code;
} bad_case;

#define META(st, needle, expr) {st, needle, #expr},
static const bad_case CASES[] = {BAD_CASES(META)};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

enum { COUNTER_BASE = __COUNTER__ + 1 };
#define RUN(st, needle, expr) \
    case __COUNTER__ - COUNTER_BASE: return (expr);
static bool run_case(int i) {
    switch (i) {
        BAD_CASES(RUN)
    default: return false;
    }
}

static void catalog(void **state) {
    (void)state;
    int bad = 0;
    nb_seed(8);
    for (int i = 0; i < NCASES; i++) {
        tu_err_reset();
        nb_scope *s = nb_scope_begin();
        bool failed = run_case(i);
        nb_scope_end(&s);
        const bad_case *c = &CASES[i];
        const char *why = NULL;
        if (tu_err.count == 0) why = "no error reported";
        else if (tu_err.st != c->st) why = "wrong status";
        else if (!strstr(tu_err.msg, c->needle)) why = "message does not name it";
        else if (!failed) why = "the call returned a value after reporting an error";
        if (getenv("NB_CATALOG_PRINT")) printf("%3d %s\n", i, tu_err.msg); /* to read them all */
        if (why) {
            bad++;
            printf("FAIL case %d (%s, '%s'): %s\n  code: %s\n  got: %s [%s] (%d errors)\n", i, nb_status_str(c->st),
                   c->needle, why, c->code, tu_err.count ? nb_status_str(tu_err.st) : "-", tu_err.msg, tu_err.count);
        }
    }
    assert_int_equal(bad, 0);
    printf("bad-input catalog: %d cases, all reported\n", NCASES);
}

/* NULL inputs (an earlier failure) propagate: every op returns NULL
 * without a new report and without touching memory (DESIGN.md: the first
 * error is the one kept). */
static void null_inputs_propagate(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = F(2, 3), *n = NULL;
    nb_conv2d_opts co = conv_opts(1, 0, 1);
    nb_tensor *res[] = {
        nb_add(n, x),
        nb_sub(x, n),
        nb_mul(n, n),
        nb_div(n, x),
        nb_neg(n),
        nb_exp(n),
        nb_log(n),
        nb_sqrt(n),
        nb_abs(n),
        nb_pow_scalar(n, 2),
        nb_sigmoid(n),
        nb_tanh(n),
        nb_relu(n),
        nb_add_scalar(n, 1),
        nb_mul_scalar(n, 2),
        nb_sum(n, NULL, 0, false),
        nb_mean_all(n),
        nb_sum_all(n),
        nb_matmul(n, x),
        nb_matmul(x, n),
        nb_affine(n, x, NULL),
        nb_affine(x, n, NULL),
        nb_reshape(n, NB_SHAPE(6)),
        nb_flatten(n, 0, -1),
        nb_transpose(n, 0, 1),
        nb_cast(n, NB_F64),
        nb_maximum(n, x),
        nb_clamp(n, 0, 1),
        nb_where(n, x, x),
        nb_softplus(n),
        nb_max(n, NULL, 0, false),
        nb_argmax(n, 0, false),
        nb_logsumexp(n, NULL, 0, false),
        nb_softmax(n, 1),
        nb_log_softmax(n, 1),
        nb_nll(n, labels(2, 0), NB_REDUCE_MEAN),
        nb_bce_with_logits(n, x, NB_REDUCE_MEAN),
        nb_gather(n, 1, I(2, 1)),
        nb_index_select(x, 0, n),
        nb_one_hot(n, 3, NB_F32),
        nb_concat((nb_tensor *[]){x, n}, 2, 0),
        nb_slice(n, 0, 0, 1, 1),
        nb_expand(n, NB_SHAPE(2, 3)),
        nb_squeeze(n, 0),
        nb_unsqueeze(n, 0),
        nb_dropout(n, 0.5, true),
        nb_conv2d(n, F(1, 1, 1, 1), NULL, &co),
        nb_conv1d(n, F(1, 1, 1), NULL, 1, 0, 1),
        nb_max_pool2d(n, 2, 2, 2, 2, 0, 0),
        nb_global_avg_pool2d(n),
        nb_mse_loss(n, x, NB_REDUCE_MEAN),
        nb_cross_entropy(n, labels(2, 0), NB_REDUCE_MEAN),
        nb_add_(n, x),
        nb_fill_(n, 0),
        nb_copy(n),
    };
    int count = (int)(sizeof res / sizeof res[0]);
    for (int i = 0; i < count; i++) assert_null(res[i]);
    nb_module *lin = nb_linear(3, 2);
    assert_null(nb_forward(lin, NULL));
    nb_module_free(lin);
    nb_scope_end(&s);
    if (tu_err.count) printf("unexpected report: %s\n", tu_err.msg);
    assert_int_equal(tu_err.count, 0);
    assert_int_equal(nb_error(), NB_OK);
    printf("NULL propagation: %d ops return NULL silently\n", count + 1);
}

/* ------------------------------------------------- numerical robustness */

static bool all_finite(const nb_tensor *t) {
    for (int64_t i = 0; t && i < t->numel; i++)
        if (!isfinite(nb_get(t, i))) return false;
    return t != NULL;
}
static bool no_nan(const nb_tensor *t) {
    for (int64_t i = 0; t && i < t->numel; i++)
        if (isnan(nb_get(t, i))) return false;
    return t != NULL;
}

/* Logits of ±1e4 through log_softmax, cross-entropy and BCE-with-logits:
 * finite values and finite gradients, f32 and f64. sigmoid/tanh saturate
 * to their limits with zero (not NaN) gradients; exp overflows to inf and
 * underflows to 0 without NaN. */
static void extreme_logits_stay_finite(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        nb_dtype dt = d ? NB_F64 : NB_F32;
        nb_scope *s = nb_scope_begin();
        const double v[12] = {1e4, -1e4, 0, -1e4, 1e4, 1e4, 1e4, 1e4, 1e4, -1e4, -1e4, -1e4};
        nb_tensor *x = nb_cast(nb_from_f64(NB_SHAPE(4, 3), v), dt);
        x = RG(nb_copy(x));
        nb_tensor *lsm = nb_log_softmax(x, 1);
        assert_true(all_finite(lsm));
        assert_true(nb_get(lsm, 0) == 0.0 && nb_get(lsm, 1) <= -1e4);      /* log 1, log e^-2e4 */
        nb_tensor *ce = nb_cross_entropy(x, labels(4, 1), NB_REDUCE_MEAN); /* label at -1e4 in row 0 */
        assert_true(all_finite(ce));
        assert_true(nb_item(ce) > 1e3);
        assert_int_equal(nb_backward(ce), NB_OK);
        assert_true(all_finite(x->grad));
        nb_tensor_zero_grad(x);
        nb_tensor *t01 = nb_cast(nb_from_f64(NB_SHAPE(4, 3), (const double[]){0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}), dt);
        nb_tensor *bce = nb_bce_with_logits_loss(x, t01, NB_REDUCE_SUM);
        assert_true(all_finite(bce));
        assert_true(nb_item(bce) > 1e4);
        assert_int_equal(nb_backward(bce), NB_OK);
        assert_true(all_finite(x->grad));
        nb_tensor_zero_grad(x);
        /* saturating activations */
        nb_tensor *sg = nb_sigmoid(x), *th = nb_tanh(x), *ex = nb_exp(x);
        assert_true(all_finite(sg) && all_finite(th) && no_nan(ex));
        assert_true(nb_get(sg, 0) == 1.0 && nb_get(sg, 1) == 0.0);
        assert_true(nb_get(th, 0) == 1.0 && nb_get(th, 1) == -1.0);
        assert_true(isinf(nb_get(ex, 0)) && nb_get(ex, 1) == 0.0);
        assert_int_equal(nb_backward(nb_sum_all(nb_add(sg, th))), NB_OK);
        assert_true(all_finite(x->grad));
        assert_true(nb_get(x->grad, 0) == 0.0 && nb_get(x->grad, 1) == 0.0);
        nb_tensor_zero_grad(x);
        /* exp's gradient where it underflowed is 0, not NaN */
        nb_tensor *neg = RG(nb_cast(nb_from_f64(NB_SHAPE(2), (const double[]){-1e4, -800}), dt));
        assert_int_equal(nb_backward(nb_sum_all(nb_exp(neg))), NB_OK);
        assert_true(all_finite(neg->grad) && nb_get(neg->grad, 0) == 0.0);
        nb_scope_end(&s);
    }
    assert_int_equal(tu_err.count, 0);
}

/* Anomaly mode names the FIRST op of a chain that made a non-finite value:
 * an injected log(0) followed by ops that carry the -inf on (test_autograd.c
 * checks single ops forward and backward). */
static void anomaly_names_the_first_op_of_a_chain(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = RG(nb_from_f64(NB_SHAPE(3), (const double[]){1, 0, 2}));
    nb_tensor *w = RG(nb_from_f64(NB_SHAPE(3), (const double[]){0.5, 0.5, 0.5}));
    nb_anomaly_mode(true);
    nb_tensor *h = nb_mul(nb_exp(nb_mul(nb_log(x), w)), w); /* log(0) = -inf first */
    nb_tensor *l = nb_sum_all(nb_tanh(nb_add_scalar(h, 1)));
    assert_true(tu_err.count >= 1);
    assert_int_equal(tu_err.st, NB_ERR_NAN);
    assert_non_null(strstr(tu_err.msg, "nabla: log: "));
    assert_non_null(strstr(tu_err.msg, "forward"));
    /* backward: the chain is finite forward after the log is removed, but
     * log's gradient at 0 is inf: the first backward op to make it is log */
    tu_err_reset();
    nb_anomaly_mode(false);
    nb_tensor *z = RG(nb_from_f64(NB_SHAPE(2), (const double[]){0, 1}));
    nb_tensor *m = nb_sum_all(nb_mul(nb_relu(nb_log(z)), nb_full(NB_F64, NB_SHAPE(2), 3)));
    nb_anomaly_mode(true);
    assert_int_equal(nb_backward(m), NB_ERR_NAN);
    assert_int_equal(tu_err.st, NB_ERR_NAN);
    assert_non_null(strstr(tu_err.msg, "nabla: log: "));
    assert_non_null(strstr(tu_err.msg, "backward"));
    nb_anomaly_mode(false);
    (void)l;
    nb_scope_end(&s);
}

/* ----------------------------------------------------------- loaders */

/* io never uses the handler: statuses and text instead. */
static void loaders_refuse_bad_files(void **state) {
    (void)state;
    char dir[] = "/tmp/nb_bad_input_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], msg[512];
    /* found by fuzz/fuzz_idx: a 20-byte file whose header promises
     * 2^36 bytes must be refused before anything is allocated */
    snprintf(path, sizeof path, "%s/bomb.idx", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const unsigned char bomb[] = {0, 0, 0x0E, 2, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 1, 2, 3, 4};
    fwrite(bomb, 1, sizeof bomb, f);
    fclose(f);
    nb_tensor *t = NULL;
    tu_err_reset();
    nb_mem_stats before = nb_mem_stats_get();
    assert_int_equal(nb_idx_load(path, NB_F32, &t, msg, sizeof msg), NB_ERR_IO);
    assert_null(t);
    assert_non_null(strstr(msg, "truncated"));
    assert_true(nb_mem_stats_get().heap_peak - before.heap_peak < (1u << 20));
    assert_int_equal(tu_err.count, 0);
    /* the committed regression inputs of the fuzzers, if the tree is here */
    static const char *regress[] = {NB_FUZZ_CORPUS "/fuzz_idx/regress_alloc_bomb_plain",
                                    NB_FUZZ_CORPUS "/fuzz_idx_gz/regress_alloc_bomb_gz"};
    for (int k = 0; k < 2; k++) {
        FILE *in = fopen(regress[k], "rb");
        if (!in) continue;
        unsigned char buf[4096];
        size_t n = fread(buf, 1, sizeof buf, in);
        fclose(in);
        assert_true(n >= 1);
        snprintf(path, sizeof path, "%s/r%d", dir, k);
        FILE *o = fopen(path, "wb");
        if (k == 1 && (buf[0] & 1)) { /* fuzz_idx_gz: the harness gzips the rest */
            fclose(o);
            gzFile g = gzopen(path, "wb");
            gzwrite(g, buf + 1, (unsigned)(n - 1));
            gzclose(g);
        } else {
            fwrite(buf + 1, 1, n - 1, o);
            fclose(o);
        }
        t = NULL;
        assert_int_equal(nb_idx_load(path, (nb_dtype)(k ? (buf[0] >> 1) % 3 : buf[0] % 3), &t, msg, sizeof msg),
                         NB_ERR_IO);
        assert_null(t);
        remove(path);
    }
    /* NULL arguments */
    assert_int_equal(nb_idx_load(NULL, NB_F32, &t, msg, sizeof msg), NB_ERR_ARG);
    assert_int_equal(nb_idx_load(path, NB_F32, NULL, msg, sizeof msg), NB_ERR_ARG);
    nb_dataset ds;
    assert_int_equal(nb_csv_load(NULL, NULL, &ds, msg, sizeof msg), NB_ERR_ARG);
    assert_int_equal(nb_csv_load(path, NULL, NULL, msg, sizeof msg), NB_ERR_ARG);
    nb_tensor *w = nb_zeros(NB_F32, NB_SHAPE(2));
    nb_named_tensor ts[1] = {{"w", w}};
    assert_int_not_equal(nb_checkpoint_load(NULL, ts, 1, NULL, msg, sizeof msg), NB_OK);
    assert_int_not_equal(nb_checkpoint_save(path, NULL, 1, NULL, msg, sizeof msg), NB_OK);
    nb_tensor_free(w);
    remove(dir);
    assert_int_equal(tu_err.count, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(catalog, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(null_inputs_propagate, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(extreme_logits_stay_finite, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(anomaly_names_the_first_op_of_a_chain, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(loaders_refuse_bad_files, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
