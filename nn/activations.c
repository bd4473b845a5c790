/* nn/activations.c — activation functions as modules: the ops, plus PReLU's
 * learnable slope. */
#include "nn_internal.h"

typedef struct {
    double a;
} act_cfg;

static nb_tensor *sigmoid_forward(nb_module *m, nb_tensor *x) {
    (void)m;
    return nb_sigmoid(x);
}
static nb_tensor *tanh_forward(nb_module *m, nb_tensor *x) {
    (void)m;
    return nb_tanh(x);
}
static nb_tensor *relu_forward(nb_module *m, nb_tensor *x) {
    (void)m;
    return nb_relu(x);
}
static nb_tensor *leaky_forward(nb_module *m, nb_tensor *x) { return nb_leaky_relu(x, ((const act_cfg *)m->data)->a); }
static nb_tensor *elu_forward(nb_module *m, nb_tensor *x) { return nb_elu(x, ((const act_cfg *)m->data)->a); }

nb_module *nb_sigmoid_layer(void) { return nb__layer_new("Sigmoid", sigmoid_forward, 0, "Sigmoid()"); }
nb_module *nb_tanh_layer(void) { return nb__layer_new("Tanh", tanh_forward, 0, "Tanh()"); }
nb_module *nb_relu_layer(void) { return nb__layer_new("ReLU", relu_forward, 0, "ReLU()"); }

nb_module *nb_leaky_relu_layer(double slope) {
    nb_module *m = nb__layer_new("LeakyReLU", leaky_forward, sizeof(act_cfg), "LeakyReLU(slope=%g)", slope);
    if (m) ((act_cfg *)m->data)->a = slope;
    return m;
}

nb_module *nb_elu_layer(double alpha) {
    nb_module *m = nb__layer_new("ELU", elu_forward, sizeof(act_cfg), "ELU(alpha=%g)", alpha);
    if (m) ((act_cfg *)m->data)->a = alpha;
    return m;
}

/* PReLU: y = relu(x) − α·relu(−x); α is (n), broadcast along axis 1 when n > 1. */
static nb_tensor *prelu_forward(nb_module *m, nb_tensor *x) {
    nb_tensor *alpha = nb_module_param(m, 0);
    const int64_t n = alpha->numel;
    if (!nb__check_input(m, x, n > 1 ? 2 : 0, NB_MAX_DIMS, "(N, C, ...) with C channels")) return NULL;
    if (n > 1) {
        if (x->shape.d[1] != n) {
            char e[64];
            snprintf(e, sizeof e, "(N, %lld, ...)", (long long)n);
            nb_module_fail_shape(m, e, x);
            return NULL;
        }
        nb_shape s = {.ndim = x->shape.ndim};
        for (int i = 0; i < s.ndim; i++) s.d[i] = i == 1 ? n : 1;
        alpha = nb_reshape(alpha, s); /* (1, C, 1, ...) */
    }
    return nb_sub(nb_relu(x), nb_mul(alpha, nb_relu(nb_neg(x))));
}

nb_module *nb_prelu_layer(int64_t n) {
    if (n <= 0) {
        nb_fail(NB_ERR_ARG, "PReLU", "num_parameters must be > 0 (1 or the channel count), got %lld", (long long)n);
        return NULL;
    }
    nb_module *m = nb__layer_new("PReLU", prelu_forward, 0, "PReLU(num_parameters=%lld)", (long long)n);
    if (m) nb_init_constant(nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, NB_SHAPE(n))), 0.25);
    return nb__layer_done(m);
}
