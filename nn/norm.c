/* nn/norm.c — BatchNorm1d/2d as a composition of mean, sub, mul, sqrt, div:
 * the tape differentiates through the batch statistics, which gives
 * PyTorch's dx = γ/(Nσ)(N·dy − Σdy − x̂Σ(dy·x̂)) without writing it. */
#include "nn_internal.h"

typedef struct {
    int64_t c;
    double eps, momentum;
    int spatial; /* 1: (N,C) or (N,C,L); 2: (N,C,H,W) */
} bn_cfg;

static nb_tensor *bn_forward(nb_module *m, nb_tensor *x) {
    const bn_cfg *c = m->data;
    char e[96];
    if (c->spatial == 1) snprintf(e, sizeof e, "(N,%lld) or (N,%lld,L)", (long long)c->c, (long long)c->c);
    else snprintf(e, sizeof e, "(N,%lld,H,W)", (long long)c->c);
    const int lo = c->spatial == 1 ? 2 : 4, hi = c->spatial == 1 ? 3 : 4;
    if (!nb__check_input(m, x, lo, hi, e)) return NULL;
    if (x->shape.d[1] != c->c) {
        nb_module_fail_shape(m, e, x);
        return NULL;
    }
    const int nd = x->shape.ndim;
    int axes[NB_MAX_DIMS], na = 0;
    nb_shape bs = {.ndim = nd}; /* (1, C, 1, ...): broadcasts per channel */
    for (int i = 0; i < nd; i++) {
        bs.d[i] = i == 1 ? c->c : 1;
        if (i != 1) axes[na++] = i;
    }
    const int64_t n = x->numel / c->c; /* values per channel */
    nb_tensor *gamma = nb_reshape(nb_module_param(m, 0), bs), *beta = nb_reshape(nb_module_param(m, 1), bs);
    nb_tensor *rm = nb_module_buffer(m, 0), *rv = nb_module_buffer(m, 1), *nbt = nb_module_buffer(m, 2);
    nb_tensor *xhat;
    if (m->training) {
        if (n <= 1) {
            nb_module_fail_shape(m, "more than 1 value per channel when training", x);
            return NULL;
        }
        nb_tensor *mu = nb_mean(x, axes, na, true); /* (1,C,1..) batch mean       */
        nb_tensor *d = nb_sub(x, mu);
        nb_tensor *var = nb_mean(nb_mul(d, d), axes, na, true); /* biased batch variance */
        xhat = nb_div(d, nb_sqrt(nb_add_scalar(var, c->eps)));
        NB_NO_GRAD { /* running = (1−m)·running + m·batch, the variance unbiased */
            nb_scale_(rm, 1 - c->momentum);
            nb_axpy_(rm, c->momentum, nb_reshape(mu, NB_SHAPE(c->c)));
            nb_scale_(rv, 1 - c->momentum);
            nb_axpy_(rv, c->momentum * (double)n / (double)(n - 1), nb_reshape(var, NB_SHAPE(c->c)));
        }
        nb_i64(nbt)[0] += 1;
        nb_bump_version(nbt);
    } else {
        xhat = nb_div(nb_sub(x, nb_reshape(rm, bs)), nb_sqrt(nb_add_scalar(nb_reshape(rv, bs), c->eps)));
    }
    return nb_add(nb_mul(xhat, gamma), beta);
}

static nb_module *bn_new(const char *type, int spatial, int64_t ch, double eps, double momentum) {
    if (ch <= 0 || !(eps > 0) || !(momentum >= 0 && momentum <= 1)) {
        nb_fail(NB_ERR_ARG, type, "needs channels > 0, eps > 0, momentum in [0, 1]; got %lld, %g, %g", (long long)ch,
                eps, momentum);
        return NULL;
    }
    nb_module *m = nb__layer_new(type, bn_forward, sizeof(bn_cfg), "%s(%lld, eps=%g, momentum=%g)", type, (long long)ch,
                                 eps, momentum);
    if (!m) return NULL;
    *(bn_cfg *)m->data = (bn_cfg){ch, eps, momentum, spatial};
    nb_init_constant(nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, NB_SHAPE(ch))), 1);
    nb_module_add_param(m, "bias", nb__persistent_zeros(NB_F32, NB_SHAPE(ch)));
    nb_module_add_buffer(m, "running_mean", nb__persistent_zeros(NB_F32, NB_SHAPE(ch)));
    nb_init_constant(nb_module_add_buffer(m, "running_var", nb__persistent_zeros(NB_F32, NB_SHAPE(ch))), 1);
    nb_module_add_buffer(m, "num_batches_tracked", nb__persistent_zeros(NB_I64, NB_SCALAR));
    return nb__layer_done(m);
}

nb_module *nb_batchnorm1d_ex(int64_t n, double eps, double momentum) {
    return bn_new("BatchNorm1d", 1, n, eps, momentum);
}
nb_module *nb_batchnorm2d_ex(int64_t c, double eps, double momentum) {
    return bn_new("BatchNorm2d", 2, c, eps, momentum);
}
nb_module *nb_batchnorm1d(int64_t n) { return nb_batchnorm1d_ex(n, 1e-5, 0.1); }
nb_module *nb_batchnorm2d(int64_t c) { return nb_batchnorm2d_ex(c, 1e-5, 0.1); }

/* For dist/'s synchronized BatchNorm: the configuration of a
 * BatchNorm1d/2d made here, false for any other module. With converted, also
 * one whose forward dist/ replaced (its type and data are still ours). */
bool nb__batchnorm_config(const nb_module *m, bool converted, int64_t *ch, double *eps, double *momentum,
                          int *spatial) {
    if (!m || !m->data) return false;
    if (m->forward != bn_forward &&
        !(converted && (!strcmp(m->type, "BatchNorm1d") || !strcmp(m->type, "BatchNorm2d"))))
        return false;
    const bn_cfg *c = m->data;
    *ch = c->c, *eps = c->eps, *momentum = c->momentum, *spatial = c->spatial;
    return true;
}
