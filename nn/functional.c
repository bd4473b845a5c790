/* nn/functional.c — torch.nn.functional forms as compositions of primitive
 * ops: softplus with beta/threshold, prelu, 1-D pooling (the 2-D pools over
 * a (N, C, 1, L) view) and padding on each side (nb_pad, then the op with no
 * padding of its own — exactly what F.pad + conv computes). */
#include <math.h>

#include "nn_internal.h"
#include "nabla/nn_functional.h"

nb_tensor *nb__mask_above(const nb_tensor *x, double scale, double threshold, bool *any) {
    nb_tensor *m = nb_empty(x->dtype, x->shape);
    if (!m) return NULL;
    int64_t ones = 0;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *M = (T *)m->data;
        for (int64_t i = 0; i < x->numel; i++) {
            M[i] = (T)((double)X[i] * scale > threshold);
            ones += M[i] != 0;
        }
    });
    if (any) *any = ones > 0;
    return m;
}

nb_tensor *nb_softplus_ex(nb_tensor *x, double beta, double threshold) {
    if (!nb_check_float_inputs("softplus", &x, 1)) return NULL;
    if (!(beta > 0) || isinf(beta)) {
        nb_fail(NB_ERR_ARG, "softplus", "beta must be finite and > 0, got %g", beta);
        return NULL;
    }
    nb_tensor *bx = beta == 1 ? x : nb_mul_scalar(x, beta);
    nb_tensor *soft = beta == 1 ? nb_softplus(bx) : nb_mul_scalar(nb_softplus(bx), 1 / beta);
    /* PyTorch: x itself (gradient 1) where βx > threshold; a NaN stays NaN (the soft branch) */
    bool any;
    nb_tensor *above = nb__mask_above(x, beta, threshold, &any);
    if (!above) return NULL;
    return any ? nb_where(above, x, soft) : soft;
}

nb_tensor *nb_prelu(nb_tensor *x, nb_tensor *weight) {
    nb_tensor *in[2] = {x, weight};
    if (!nb_check_float_inputs("prelu", in, 2)) return NULL;
    char dx[NB_DESCRIBE_LEN], dw[NB_DESCRIBE_LEN];
    const int64_t n = weight->numel;
    const bool shared = weight->shape.ndim <= 1 && n == 1;
    if (weight->shape.ndim > 1 || (!shared && (x->shape.ndim < 2 || x->shape.d[1] != n))) {
        nb_fail(NB_ERR_SHAPE, "prelu", "weight must be (1) or (C) with x (N, C, ...): %s, %s",
                nb_describe(weight, "weight", dw, sizeof dw), nb_describe(x, "x", dx, sizeof dx));
        return NULL;
    }
    nb_tensor *w = weight;
    if (!shared) {
        nb_shape s = {.ndim = x->shape.ndim};
        for (int i = 0; i < s.ndim; i++) s.d[i] = i == 1 ? n : 1;
        w = nb_reshape(weight, s); /* (1, C, 1, ...) */
    } else if (weight->shape.ndim == 1) {
        w = nb_reshape(weight, NB_SCALAR);
    }
    /* x where x > 0, w·x elsewhere: dx = 1 or w (w at x = 0, as PyTorch), dw = Σ x over x <= 0; NaN stays NaN.
     * The w·x branch sees 0 where x > 0, so an infinite x or w there makes no 0·inf = NaN gradient. */
    nb_tensor *pos = nb__mask_above(x, 1, 0, NULL);
    return pos ? nb_where(pos, x, nb_mul(w, nb_where(pos, nb_scalar(x->dtype, 0), x))) : NULL;
}

/* ------------------------------------------------------------ 1-D pooling */

static bool pool1d_view(const char *op, nb_tensor *x, const nb_pool1d_opts *o, nb_tensor **x4, nb_pool2d_opts *o2) {
    if (!x) return false;
    if (!o) {
        nb_fail(NB_ERR_ARG, op, "options are NULL (start from NB_POOL1D_DEFAULT(k))");
        return false;
    }
    char dx[NB_DESCRIBE_LEN];
    if (x->shape.ndim != 2 && x->shape.ndim != 3) {
        nb_fail(NB_ERR_SHAPE, op, "expects x (N, C, L) or (C, L): %s", nb_describe(x, "x", dx, sizeof dx));
        return false;
    }
    const int nd = x->shape.ndim;
    const int64_t N = nd == 3 ? x->shape.d[0] : 1, C = x->shape.d[nd - 2], L = x->shape.d[nd - 1];
    *x4 = nb_reshape(x, NB_SHAPE(N, C, 1, L));
    *o2 = (nb_pool2d_opts){{1, o->kernel},   {1, o->stride}, {0, o->pad},
                           {1, o->dilation}, o->ceil_mode,   o->count_include_pad};
    return *x4 != NULL;
}

static nb_tensor *pool1d_back(nb_tensor *y4, const nb_tensor *x) {
    if (!y4) return NULL;
    const int64_t Lo = y4->shape.d[3];
    if (x->shape.ndim == 3) return nb_reshape(y4, NB_SHAPE(x->shape.d[0], x->shape.d[1], Lo));
    return nb_reshape(y4, NB_SHAPE(x->shape.d[0], Lo));
}

nb_tensor *nb_max_pool1d(nb_tensor *x, const nb_pool1d_opts *o) {
    nb_tensor *x4;
    nb_pool2d_opts o2;
    if (!pool1d_view("max_pool1d", x, o, &x4, &o2)) return NULL;
    return pool1d_back(nb_max_pool2d_ex(x4, &o2), x);
}

nb_tensor *nb_avg_pool1d(nb_tensor *x, const nb_pool1d_opts *o) {
    nb_tensor *x4;
    nb_pool2d_opts o2;
    if (!pool1d_view("avg_pool1d", x, o, &x4, &o2)) return NULL;
    if (o->dilation != 1) {
        nb_fail(NB_ERR_ARG, "avg_pool1d", "has no dilation (got %d)", o->dilation);
        return NULL;
    }
    return pool1d_back(nb_avg_pool2d_ex(x4, &o2), x);
}

typedef struct {
    nb_pool1d_opts o;
} pool1d_cfg;

static nb_tensor *max_pool1d_forward(nb_module *m, nb_tensor *x) {
    return nb_max_pool1d(x, &((const pool1d_cfg *)m->data)->o);
}
static nb_tensor *avg_pool1d_forward(nb_module *m, nb_tensor *x) {
    return nb_avg_pool1d(x, &((const pool1d_cfg *)m->data)->o);
}

static nb_module *pool1d_layer(const char *type, nb_module_forward_fn f, const nb_pool1d_opts *o, bool avg) {
    if (!o) {
        nb_fail(NB_ERR_ARG, type, "options are NULL (start from NB_POOL1D_DEFAULT(k))");
        return NULL;
    }
    if (o->kernel < 1 || o->stride < 1 || o->dilation < 1 || o->pad < 0 || o->pad > o->kernel / 2 ||
        (avg && o->dilation != 1)) {
        nb_fail(NB_ERR_ARG, type,
                "needs kernel, stride, dilation >= 1%s, 0 <= pad <= kernel/2; got kernel %d, "
                "stride %d, pad %d, dilation %d",
                avg ? " (dilation 1)" : "", o->kernel, o->stride, o->pad, o->dilation);
        return NULL;
    }
    nb_module *m = nb__layer_new(type, f, sizeof(pool1d_cfg), "%s(kernel=%d, stride=%d, pad=%d%s%s)", type, o->kernel,
                                 o->stride, o->pad, o->ceil_mode ? ", ceil_mode" : "",
                                 avg && !o->count_include_pad ? ", count_include_pad=false" : "");
    if (m) ((pool1d_cfg *)m->data)->o = *o;
    return m;
}

nb_module *nb_max_pool1d_layer(const nb_pool1d_opts *o) {
    return pool1d_layer("MaxPool1d", max_pool1d_forward, o, false);
}
nb_module *nb_avg_pool1d_layer(const nb_pool1d_opts *o) {
    return pool1d_layer("AvgPool1d", avg_pool1d_forward, o, true);
}

/* ------------------------------------------------------------ padding on each side */

/* x (…, H, W) padded by pads = {left, right, top, bottom} on its last two
 * dims (1-D: {left, right} on the last), filled with value. */
static nb_tensor *pad_last(const char *op, nb_tensor *x, const int64_t *pads, int nspatial, int rank, double value) {
    if (!x) return NULL;
    char dx[NB_DESCRIBE_LEN];
    if (!pads) {
        nb_fail(NB_ERR_ARG, op, "pads is NULL");
        return NULL;
    }
    if (x->shape.ndim != rank) {
        nb_fail(NB_ERR_SHAPE, op, "expects a %d-d input: %s", rank, nb_describe(x, "x", dx, sizeof dx));
        return NULL;
    }
    int64_t p[2 * NB_MAX_DIMS] = {0};
    for (int i = 0; i < 2 * nspatial; i++)
        if (pads[i] < 0) {
            nb_fail(NB_ERR_ARG, op, "pads must be >= 0, pads[%d] is %lld", i, (long long)pads[i]);
            return NULL;
        }
    /* F.pad order (last dim first) -> nb_pad order (dim 0 first) */
    for (int s = 0; s < nspatial; s++) {
        const int dim = rank - 1 - s;
        p[2 * dim] = pads[2 * s];
        p[2 * dim + 1] = pads[2 * s + 1];
    }
    return nb_pad(x, p, 2 * rank, value);
}

static bool no_own_padding(const char *op, const int *pad, int n) {
    for (int i = 0; i < n; i++)
        if (pad[i] != 0) {
            nb_fail(NB_ERR_ARG, op, "the options' own padding must be 0 with explicit pads (got %d)", pad[i]);
            return false;
        }
    return true;
}

nb_tensor *nb_conv2d_padded(nb_tensor *x, nb_tensor *w, nb_tensor *b, const int64_t pads[4], const nb_conv2d_opts *o) {
    nb_conv2d_opts opts = o ? *o : NB_CONV2D_DEFAULT;
    if (opts.padding != NB_PAD_EXPLICIT && opts.padding != NB_PAD_VALID) {
        nb_fail(NB_ERR_ARG, "conv2d", "explicit pads need padding EXPLICIT or VALID in the options");
        return NULL;
    }
    if (opts.padding == NB_PAD_EXPLICIT && !no_own_padding("conv2d", opts.pad, 2)) return NULL;
    return nb_conv2d(pad_last("conv2d", x, pads, 2, 4, 0), w, b, &opts);
}

nb_tensor *nb_conv1d_padded(nb_tensor *x, nb_tensor *w, nb_tensor *b, const int64_t pads[2], int stride, int dilation,
                            int groups) {
    return nb_conv1d_ex(pad_last("conv1d", x, pads, 1, 3, 0), w, b, stride, 0, dilation, groups);
}

nb_tensor *nb_max_pool2d_padded(nb_tensor *x, const int64_t pads[4], const nb_pool2d_opts *o) {
    if (!o) {
        nb_fail(NB_ERR_ARG, "max_pool2d", "options are NULL (start from NB_POOL2D_DEFAULT(kh, kw))");
        return NULL;
    }
    if (!no_own_padding("max_pool2d", o->pad, 2)) return NULL;
    return nb_max_pool2d_ex(pad_last("max_pool2d", x, pads, 2, 4, -INFINITY), o);
}

nb_tensor *nb_avg_pool2d_padded(nb_tensor *x, const int64_t pads[4], const nb_pool2d_opts *o) {
    if (!o) {
        nb_fail(NB_ERR_ARG, "avg_pool2d", "options are NULL (start from NB_POOL2D_DEFAULT(kh, kw))");
        return NULL;
    }
    if (!no_own_padding("avg_pool2d", o->pad, 2)) return NULL;
    return nb_avg_pool2d_ex(pad_last("avg_pool2d", x, pads, 2, 4, 0), o);
}
