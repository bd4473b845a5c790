/* nn/conv.c — Conv2d, Conv1d, MaxPool2d, AvgPool2d layers over the conv ops. */
#include "nn_internal.h"
#include "nabla/nn_functional.h"

#include <math.h>
#include <stdio.h>

void nb__init_default(nb_tensor *w, nb_tensor *b); /* layers.c: PyTorch's Linear/Conv init */

typedef struct {
    int64_t in, out;
    int kh, kw;
    nb_conv2d_opts o;
} conv2d_cfg;

static bool check_channels(nb_module *m, nb_tensor *x, int ndim, int64_t in, const char *fmt) {
    char e[96];
    snprintf(e, sizeof e, fmt, (long long)in);
    if (!nb__check_input(m, x, ndim, ndim, e)) return false;
    if (x->shape.d[1] != in) {
        nb_module_fail_shape(m, e, x);
        return false;
    }
    return true;
}

static nb_tensor *conv2d_forward(nb_module *m, nb_tensor *x) {
    const conv2d_cfg *c = m->data;
    if (!check_channels(m, x, 4, c->in, "(N,%lld,H,W)")) return NULL;
    return nb_conv2d(x, nb_module_param(m, 0), nb_module_param(m, 1), &c->o);
}

nb_module *nb_conv2d_layer_ex(int64_t in, int64_t out, int kh, int kw, const nb_conv2d_opts *o, bool bias) {
    nb_conv2d_opts opts = o ? *o : NB_CONV2D_DEFAULT;
    if (in <= 0 || out <= 0 || kh <= 0 || kw <= 0 || opts.stride[0] < 1 || opts.stride[1] < 1 || opts.dilation[0] < 1 ||
        opts.dilation[1] < 1 || opts.pad[0] < 0 || opts.pad[1] < 0) {
        nb_fail(NB_ERR_ARG, "Conv2d",
                "needs in, out, kernel > 0, stride, dilation >= 1, pad >= 0; got in %lld, out %lld, kernel %dx%d, "
                "stride %d,%d, pad %d,%d, dilation %d,%d",
                (long long)in, (long long)out, kh, kw, opts.stride[0], opts.stride[1], opts.pad[0], opts.pad[1],
                opts.dilation[0], opts.dilation[1]);
        return NULL;
    }
    const int g = opts.groups > 1 ? opts.groups : 1;
    if (opts.groups < 0 || in % g || out % g) {
        nb_fail(NB_ERR_ARG, "Conv2d", "groups must be >= 0 and divide in and out; got groups %d, in %lld, out %lld",
                opts.groups, (long long)in, (long long)out);
        return NULL;
    }
    if (!nb__weight_fits("Conv2d", 4, (int64_t[]){out, in / g, kh, kw})) return NULL;
    static const char *pads[] = {"", ", padding=same", ", padding=valid"};
    char gs[32] = "";
    if (g > 1) snprintf(gs, sizeof gs, ", groups=%d", g);
    nb_module *m = nb__layer_new("Conv2d", conv2d_forward, sizeof(conv2d_cfg),
                                 "Conv2d(%lld, %lld, kernel=(%d,%d), stride=(%d,%d), pad=(%d,%d)%s%s%s)", (long long)in,
                                 (long long)out, kh, kw, opts.stride[0], opts.stride[1], opts.pad[0], opts.pad[1],
                                 pads[opts.padding % 3], gs, bias ? "" : ", bias=false");
    if (!m) return NULL;
    *(conv2d_cfg *)m->data = (conv2d_cfg){in, out, kh, kw, opts};
    /* (out, in/groups, kh, kw): the init's fan-in is in/groups·kh·kw, as torch.nn.Conv2d */
    nb_tensor *w = nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, NB_SHAPE(out, in / g, kh, kw)));
    nb_tensor *b = bias ? nb_module_add_param(m, "bias", nb__persistent_zeros(NB_F32, NB_SHAPE(out))) : NULL;
    nb__init_default(w, b);
    return nb__layer_done(m);
}

nb_module *nb_conv2d_layer(int64_t in, int64_t out, int k, int stride, int pad) {
    nb_conv2d_opts o = {{stride, stride}, {pad, pad}, {1, 1}, NB_PAD_EXPLICIT, 1};
    return nb_conv2d_layer_ex(in, out, k, k, &o, true);
}

typedef struct {
    int64_t in, out;
    int k, stride, pad, dilation, groups;
} conv1d_cfg;

static nb_tensor *conv1d_forward(nb_module *m, nb_tensor *x) {
    const conv1d_cfg *c = m->data;
    if (!check_channels(m, x, 3, c->in, "(N,%lld,L)")) return NULL;
    nb_tensor *b = nb_module_num_parameters(m) > 1 ? nb_module_param(m, 1) : NULL;
    return nb_conv1d_ex(x, nb_module_param(m, 0), b, c->stride, c->pad, c->dilation, c->groups);
}

nb_module *nb_conv1d_layer_ex(int64_t in, int64_t out, int k, int stride, int pad, int dilation, int groups,
                              bool bias) {
    if (in <= 0 || out <= 0 || k <= 0 || stride < 1 || pad < 0 || dilation < 1) {
        nb_fail(NB_ERR_ARG, "Conv1d",
                "needs in, out, k > 0, stride >= 1, pad >= 0, dilation >= 1; got %lld, %lld, %d, %d, %d, %d",
                (long long)in, (long long)out, k, stride, pad, dilation);
        return NULL;
    }
    const int g = groups > 1 ? groups : 1;
    if (groups < 0 || in % g || out % g) {
        nb_fail(NB_ERR_ARG, "Conv1d", "groups must be >= 0 and divide in and out; got groups %d, in %lld, out %lld",
                groups, (long long)in, (long long)out);
        return NULL;
    }
    if (!nb__weight_fits("Conv1d", 3, (int64_t[]){out, in / g, k})) return NULL;
    char extra[64] = "";
    size_t at = 0;
    if (dilation > 1) at += (size_t)snprintf(extra + at, sizeof extra - at, ", dilation=%d", dilation);
    if (g > 1) at += (size_t)snprintf(extra + at, sizeof extra - at, ", groups=%d", g);
    if (!bias) snprintf(extra + at, sizeof extra - at, ", bias=false");
    nb_module *m = nb__layer_new("Conv1d", conv1d_forward, sizeof(conv1d_cfg),
                                 "Conv1d(%lld, %lld, kernel=%d, stride=%d, pad=%d%s)", (long long)in, (long long)out, k,
                                 stride, pad, extra);
    if (!m) return NULL;
    *(conv1d_cfg *)m->data = (conv1d_cfg){in, out, k, stride, pad, dilation, g};
    /* (out, in/groups, k): fan-in in/groups·k, as torch.nn.Conv1d */
    nb_tensor *w = nb_module_add_param(m, "weight", nb__persistent_zeros(NB_F32, NB_SHAPE(out, in / g, k)));
    nb_tensor *b = bias ? nb_module_add_param(m, "bias", nb__persistent_zeros(NB_F32, NB_SHAPE(out))) : NULL;
    nb__init_default(w, b);
    return nb__layer_done(m);
}

nb_module *nb_conv1d_layer(int64_t in, int64_t out, int k, int stride, int pad) {
    return nb_conv1d_layer_ex(in, out, k, stride, pad, 1, 1, true);
}

typedef struct {
    nb_pool2d_opts o;
} pool_cfg;

static nb_tensor *max_pool_forward(nb_module *m, nb_tensor *x) {
    const pool_cfg *c = m->data;
    if (!nb__check_input(m, x, 4, 4, "(N,C,H,W)")) return NULL;
    return nb_max_pool2d_ex(x, &c->o);
}
static nb_tensor *avg_pool_forward(nb_module *m, nb_tensor *x) {
    const pool_cfg *c = m->data;
    if (!nb__check_input(m, x, 4, 4, "(N,C,H,W)")) return NULL;
    return nb_avg_pool2d_ex(x, &c->o);
}

static nb_module *pool_new(const char *type, nb_module_forward_fn f, int k, int stride) {
    if (stride == 0) stride = k;
    if (k <= 0 || stride < 1) {
        nb_fail(NB_ERR_ARG, type, "needs kernel > 0 and stride >= 0 (0 = kernel); got %d, %d", k, stride);
        return NULL;
    }
    nb_module *m = nb__layer_new(type, f, sizeof(pool_cfg), "%s(kernel=%d, stride=%d)", type, k, stride);
    nb_pool2d_opts o = NB_POOL2D_DEFAULT(k, k);
    o.stride[0] = o.stride[1] = stride;
    if (m) *(pool_cfg *)m->data = (pool_cfg){o};
    return m;
}

/* The options are checked here as far as they don't depend on the input
 * (the op checks the rest at forward). */
static nb_module *pool_new_ex(const char *type, nb_module_forward_fn f, const nb_pool2d_opts *o, bool avg) {
    if (!o) {
        nb_fail(NB_ERR_ARG, type, "options are NULL (start from NB_POOL2D_DEFAULT(kh, kw))");
        return NULL;
    }
    for (int i = 0; i < 2; i++)
        if (o->kernel[i] < 1 || o->stride[i] < 1 || o->dilation[i] < 1 || o->pad[i] < 0 ||
            o->pad[i] > o->kernel[i] / 2 || (avg && o->dilation[i] != 1)) {
            nb_fail(NB_ERR_ARG, type,
                    "needs kernel, stride, dilation >= 1%s, 0 <= pad <= kernel/2; got kernel (%d,%d), stride (%d,%d), "
                    "pad (%d,%d), dilation (%d,%d)",
                    avg ? " (dilation 1: no dilated average)" : "", o->kernel[0], o->kernel[1], o->stride[0],
                    o->stride[1], o->pad[0], o->pad[1], o->dilation[0], o->dilation[1]);
            return NULL;
        }
    nb_module *m = nb__layer_new(
        type, f, sizeof(pool_cfg), "%s(kernel=(%d,%d), stride=(%d,%d), pad=(%d,%d), dilation=(%d,%d), ceil_mode=%s%s)",
        type, o->kernel[0], o->kernel[1], o->stride[0], o->stride[1], o->pad[0], o->pad[1], o->dilation[0],
        o->dilation[1], o->ceil_mode ? "true" : "false",
        avg ? (o->count_include_pad ? ", count_include_pad=true" : ", count_include_pad=false") : "");
    if (m) *(pool_cfg *)m->data = (pool_cfg){*o};
    return m;
}

nb_module *nb_max_pool2d_layer_ex(const nb_pool2d_opts *o) {
    return pool_new_ex("MaxPool2d", max_pool_forward, o, false);
}
nb_module *nb_avg_pool2d_layer_ex(const nb_pool2d_opts *o) {
    return pool_new_ex("AvgPool2d", avg_pool_forward, o, true);
}

nb_module *nb_max_pool2d_layer(int k, int stride) { return pool_new("MaxPool2d", max_pool_forward, k, stride); }
nb_module *nb_avg_pool2d_layer(int k, int stride) { return pool_new("AvgPool2d", avg_pool_forward, k, stride); }
