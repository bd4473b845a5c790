/* nn/layers.c — Linear, Flatten, Dropout, Maxout, Embedding: compositions of ops. */
#include "nn_internal.h"
#include "../autograd/internal.h"

#include <math.h>

/* Shape text like "(*,784)" for error messages. */
static const char *star_shape(char *buf, size_t n, int64_t last) {
    snprintf(buf, n, "(*,%lld)", (long long)last);
    return buf;
}

static bool positive(const char *layer, const char *what, int64_t v) {
    if (v > 0) return true;
    nb_fail(NB_ERR_ARG, layer, "%s must be > 0, got %lld", what, (long long)v);
    return false;
}

/* PyTorch's Linear/Conv default: kaiming_uniform(a=√5) on the weight, which is
 * U(±1/√fan_in), and U(±1/√fan_in) on the bias. */
void nb__init_default(nb_tensor *w, nb_tensor *b);
void nb__init_default(nb_tensor *w, nb_tensor *b) {
    int64_t fi = 1;
    nb_init_kaiming_uniform(w, sqrt(5.0), NB_FAN_IN, NB_NONLIN_LEAKY_RELU);
    nb_init_fans(w, &fi, NULL);
    if (b) {
        const double bound = fi > 0 ? 1.0 / sqrt((double)fi) : 0;
        nb_init_uniform(b, -bound, bound);
    }
}

/* ------------------------------------------------------------ Linear */

typedef struct {
    int64_t in, out;
} linear_cfg;

/* (*, in) -> (*, out): nb_affine, one GEMM over all leading dims; with r
 * (not NULL) r + that, nb_affine_add: the residual added as the GEMM stores. */
static nb_tensor *affine_r(nb_module *m, nb_tensor *x, int64_t in, nb_tensor *r) {
    char e[48];
    if (!nb__check_input(m, x, 1, NB_MAX_DIMS, star_shape(e, sizeof e, in))) return NULL;
    if (x->shape.d[x->shape.ndim - 1] != in) {
        nb_module_fail_shape(m, e, x);
        return NULL;
    }
    if (r) return nb_affine_add(x, nb_module_param(m, 0), nb_module_param(m, 1), r);
    return nb_affine(x, nb_module_param(m, 0), nb_module_param(m, 1)); /* x·Wᵀ + b, W read in place */
}
static nb_tensor *affine(nb_module *m, nb_tensor *x, int64_t in) { return affine_r(m, x, in, NULL); }

static nb_tensor *linear_forward(nb_module *m, nb_tensor *x) {
    const linear_cfg *c = m->data;
    return affine(m, x, c->in);
}

nb_tensor *nb__linear_add(nb_module *m, nb_tensor *x, nb_tensor *r) {
    if (!r) return NULL;
    if (!m || m->forward != linear_forward) {
        nb_fail(NB_ERR_ARG, "linear_add", "needs a Linear module, got %s", m ? m->type : "NULL");
        return NULL;
    }
    const linear_cfg *c = m->data;
    return affine_r(m, x, c->in, r);
}

nb_module *nb_linear_ex(int64_t in, int64_t out, bool bias) {
    if (!positive("Linear", "in", in) || !positive("Linear", "out", out)) return NULL;
    if (!nb__weight_fits("Linear", 2, (int64_t[]){out, in})) return NULL;
    nb_module *m = nb__layer_new("Linear", linear_forward, sizeof(linear_cfg), "Linear(in=%lld, out=%lld%s)",
                                 (long long)in, (long long)out, bias ? "" : ", bias=false");
    if (!m) return NULL;
    *(linear_cfg *)m->data = (linear_cfg){in, out};
    nb_tensor *w = nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, NB_SHAPE(out, in)));
    nb_tensor *b = bias ? nb_module_add_param(m, "bias", nb__persistent_zeros(NB_F32, NB_SHAPE(out))) : NULL;
    nb__init_default(w, b);
    return nb__layer_done(m);
}
nb_module *nb_linear(int64_t in, int64_t out) { return nb_linear_ex(in, out, true); }

/* ------------------------------------------------------------ Maxout */

typedef struct {
    int64_t in, out;
    int k;
} maxout_cfg;

static nb_tensor *maxout_forward(nb_module *m, nb_tensor *x) {
    const maxout_cfg *c = m->data;
    return nb_maxout(affine(m, x, c->in), -1, c->k);
}

nb_module *nb_maxout_layer(int64_t in, int64_t out, int k) {
    if (!positive("Maxout", "in", in) || !positive("Maxout", "out", out) || !positive("Maxout", "k", k)) return NULL;
    if (!nb__weight_fits("Maxout", 3, (int64_t[]){out, k, in})) return NULL;
    nb_module *m = nb__layer_new("Maxout", maxout_forward, sizeof(maxout_cfg), "Maxout(in=%lld, out=%lld, k=%d)",
                                 (long long)in, (long long)out, k);
    if (!m) return NULL;
    *(maxout_cfg *)m->data = (maxout_cfg){in, out, k};
    nb_tensor *w = nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, NB_SHAPE(out * k, in)));
    nb_tensor *b = nb_module_add_param(m, "bias", nb__persistent_zeros(NB_F32, NB_SHAPE(out * k)));
    nb__init_default(w, b);
    return nb__layer_done(m);
}

/* ------------------------------------------------------------ Flatten */

static nb_tensor *flatten_forward(nb_module *m, nb_tensor *x) {
    if (!nb__check_input(m, x, 2, NB_MAX_DIMS, "(N, d1, ...) with at least 2 dims")) return NULL;
    return nb_flatten(x, 1, -1);
}
nb_module *nb_flatten_layer(void) { return nb__layer_new("Flatten", flatten_forward, 0, "Flatten()"); }

/* ------------------------------------------------------------ Dropout */

typedef struct {
    double p;
} dropout_cfg;

static nb_tensor *dropout_forward(nb_module *m, nb_tensor *x) {
    return nb_dropout(x, ((const dropout_cfg *)m->data)->p, m->training);
}

nb_module *nb_dropout_layer(double p) {
    if (!(p >= 0 && p < 1)) {
        nb_fail(NB_ERR_ARG, "Dropout", "p (the drop probability) must be in [0, 1), got %g", p);
        return NULL;
    }
    nb_module *m = nb__layer_new("Dropout", dropout_forward, sizeof(dropout_cfg), "Dropout(p=%g)", p);
    if (m) ((dropout_cfg *)m->data)->p = p;
    return m;
}

/* ------------------------------------------------------------ Embedding */

typedef struct {
    int64_t num, dim;
} embedding_cfg;

static nb_tensor *embedding_forward(nb_module *m, nb_tensor *idx) {
    const embedding_cfg *c = m->data;
    if (idx->dtype != NB_I64) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_DTYPE, "Embedding", "%s%s%s%s takes i64 indices; %s (%s)", m->path[0] ? "'" : "", m->path,
                m->path[0] ? "' " : "", m->desc, nb_describe(idx, "idx", d, sizeof d), nb_dtype_name(idx->dtype));
        return NULL;
    }
    if (idx->shape.ndim >= NB_MAX_DIMS) {
        nb_module_fail_shape(m, "indices of rank < 8", idx);
        return NULL;
    }
    const int64_t *I = nb_i64(idx);
    for (int64_t i = 0; i < idx->numel; i++) {
        if (I[i] < 0 || I[i] >= c->num) {
            nb_fail(NB_ERR_ARG, "Embedding", "%s%s%s%s: index %lld at position %lld is outside [0, %lld)",
                    m->path[0] ? "'" : "", m->path, m->path[0] ? "' " : "", m->desc, (long long)I[i], (long long)i,
                    (long long)c->num);
            return NULL;
        }
    }
    nb_tensor *rows = nb_index_select(nb_module_param(m, 0), 0, nb_reshape(idx, NB_SHAPE(idx->numel)));
    nb_shape s = idx->shape;
    s.d[s.ndim++] = c->dim;
    return nb_reshape(rows, s);
}

nb_module *nb_embedding(int64_t num, int64_t dim) {
    if (!positive("Embedding", "num", num) || !positive("Embedding", "dim", dim)) return NULL;
    if (!nb__weight_fits("Embedding", 2, (int64_t[]){num, dim})) return NULL;
    nb_module *m = nb__layer_new("Embedding", embedding_forward, sizeof(embedding_cfg), "Embedding(%lld, %lld)",
                                 (long long)num, (long long)dim);
    if (!m) return NULL;
    *(embedding_cfg *)m->data = (embedding_cfg){num, dim};
    nb_init_normal(nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, NB_SHAPE(num, dim))), 0, 1);
    return nb__layer_done(m);
}
