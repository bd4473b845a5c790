/* nn/transformer_layers.c — LayerNorm, RMSNorm, GELU, SiLU as modules (the
 * fused ops of ops/norm_act.c with torch.nn's parameters), and the
 * sinusoidal position table. Weight tying is in module.c
 * (nb_module_tie_param): it changes how the tree is walked. */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    nb_shape ns; /* normalized shape: the last ns.ndim dims of x */
    double eps;
    bool affine, bias, rms;
} norm_cfg;

/* "(4,8)" → "(*,4,8)" for the error message */
static void expected_shape(const nb_shape ns, char *buf, size_t size) {
    char s[NB_SHAPE_STRLEN];
    nb_shape_str(ns, s, sizeof s);
    snprintf(buf, size, "(*,%s", s + 1);
}

static nb_tensor *norm_forward(nb_module *m, nb_tensor *x) {
    const norm_cfg *c = m->data;
    char e[NB_SHAPE_STRLEN + 8];
    expected_shape(c->ns, e, sizeof e);
    if (!nb__check_input(m, x, c->ns.ndim, NB_MAX_DIMS, e)) return NULL;
    for (int i = 0; i < c->ns.ndim; i++)
        if (x->shape.d[x->shape.ndim - c->ns.ndim + i] != c->ns.d[i]) {
            nb_module_fail_shape(m, e, x);
            return NULL;
        }
    nb_tensor *w = c->affine ? nb_module_param(m, 0) : NULL;
    if (c->rms) return nb_rms_norm(x, c->ns.ndim, w, c->eps);
    return nb_layer_norm(x, c->ns.ndim, w, c->affine && c->bias ? nb_module_param(m, 1) : NULL, c->eps);
}

static nb_module *norm_new(const char *type, nb_shape ns, double eps, bool affine, bool bias, bool rms) {
    bool ok = ns.ndim >= 1 && ns.ndim <= NB_MAX_DIMS;
    for (int i = 0; ok && i < ns.ndim; i++) ok = ns.d[i] > 0;
    if (!ok) {
        nb_fail(NB_ERR_ARG, type, "normalized_shape must have 1 to %d dims, each > 0", NB_MAX_DIMS);
        return NULL;
    }
    if (!rms && !(eps >= 0 && isfinite(eps))) {
        nb_fail(NB_ERR_ARG, type, "eps must be finite and >= 0, got %g", eps);
        return NULL;
    }
    char s[NB_SHAPE_STRLEN], epss[32];
    nb_shape_str(ns, s, sizeof s);
    if (rms && eps < 0) snprintf(epss, sizeof epss, "None");
    else snprintf(epss, sizeof epss, "%g", eps);
    nb_module *m = nb__layer_new(type, norm_forward, sizeof(norm_cfg), "%s(%s, eps=%s, elementwise_affine=%s%s)", type,
                                 s, epss, affine ? "true" : "false", !rms && affine && !bias ? ", bias=false" : "");
    if (!m) return NULL;
    *(norm_cfg *)m->data = (norm_cfg){ns, rms && eps < 0 ? NB_RMS_NORM_EPS_DEFAULT : eps, affine, affine && bias, rms};
    if (affine) {
        nb_init_constant(nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, ns)), 1);
        if (!rms && bias) nb_module_add_param(m, "bias", nb__persistent_zeros(NB_F32, ns));
    }
    return m;
}

nb_module *nb_layernorm_ex(nb_shape normalized_shape, double eps, bool elementwise_affine, bool bias) {
    return norm_new("LayerNorm", normalized_shape, eps, elementwise_affine, bias, false);
}
nb_module *nb_layernorm(int64_t d) { return nb_layernorm_ex(NB_SHAPE(d), NB_LAYER_NORM_EPS, true, true); }
nb_module *nb_rmsnorm_ex(nb_shape normalized_shape, double eps, bool elementwise_affine) {
    return norm_new("RMSNorm", normalized_shape, eps, elementwise_affine, false, true);
}
nb_module *nb_rmsnorm(int64_t d) { return nb_rmsnorm_ex(NB_SHAPE(d), NB_RMS_NORM_EPS_DEFAULT, true); }

static nb_tensor *gelu_forward(nb_module *m, nb_tensor *x) {
    (void)m;
    return nb_gelu(x);
}
static nb_tensor *gelu_tanh_forward(nb_module *m, nb_tensor *x) {
    (void)m;
    return nb_gelu_tanh(x);
}
static nb_tensor *silu_forward(nb_module *m, nb_tensor *x) {
    (void)m;
    return nb_silu(x);
}

nb_module *nb_gelu_layer(void) { return nb__layer_new("GELU", gelu_forward, 0, "GELU(approximate='none')"); }
nb_module *nb_gelu_tanh_layer(void) { return nb__layer_new("GELU", gelu_tanh_forward, 0, "GELU(approximate='tanh')"); }
nb_module *nb_silu_layer(void) { return nb__layer_new("SiLU", silu_forward, 0, "SiLU()"); }

nb_tensor *nb_sinusoidal_positions(int64_t T, int64_t d, nb_dtype dt) {
    if (T < 0 || d < 1 || (dt != NB_F32 && dt != NB_F64)) {
        nb_fail(NB_ERR_ARG, "sinusoidal_positions", "needs T >= 0, d >= 1 and dtype f32 or f64; got T %lld, d %lld, %s",
                (long long)T, (long long)d, nb_dtype_name(dt));
        return NULL;
    }
    nb_tensor *pe = nb_empty(NB_F64, NB_SHAPE(T, d));
    if (!pe) return NULL;
    double *p = nb_f64(pe);
    for (int64_t i = 0; 2 * i < d; i++) {
        /* 1/10000^(2i/d) = e^(−2i·ln(10000)/d) */
        const double freq = exp(-(double)(2 * i) * log(10000.0) / (double)d);
        for (int64_t t = 0; t < T; t++) {
            p[t * d + 2 * i] = sin((double)t * freq);
            if (2 * i + 1 < d) p[t * d + 2 * i + 1] = cos((double)t * freq);
        }
    }
    if (dt == NB_F64) return pe;
    nb_tensor *r;
    NB_NO_GRAD { r = nb_cast(pe, NB_F32); }
    if (!nb_scope_current()) nb_tensor_free(pe);
    return r;
}
