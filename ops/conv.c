/* ops/conv.c — conv2d and conv1d (cross-correlation, NCHW): the op.
 *
 * Validation, output shapes, the choice of path and the forward/backward
 * glue live here; the paths themselves are graph-free functions in
 * ops/kernels/conv_*.c (kernels/conv.h describes each):
 *   groups > 1                          grouped loops (conv_grouped.c)
 *   stride 1, dilation 1, AVX-512       implicit GEMM on the direct kernels
 *                                       (conv_implicit.c, conv_direct.c);
 *                                       its dx needs pad <= k − 1, else dx
 *                                       from the wide path
 *   stride 1, dilation 1, otherwise     padded-width im2col + GEMM (conv_wide.c)
 *   anything else                       im2col + GEMM (conv_gemm.c)
 * Each path is handed nabla's thread count: the implicit and wide paths
 * split the images between the threads when the call is big enough, the
 * GEMMs inside their regions running on one thread each (one owner of the
 * threads per op). The other paths run
 * on one thread, the GEMM owning any threads. conv1d is the same op with
 * H = kh = 1. Scratch comes from the current scope's arena (the heap,
 * freed at once, when no scope is open). */
#include "kernels/conv.h"
#include "kernels/conv_direct.h"
#include "../autograd/internal.h"
#include "grad_graph.h"

typedef struct {
    int64_t sh, sw, ph, pw, dh, dw; /* stride, padding before (top, left), dilation */
    int64_t groups;                 /* 1 = ungrouped; > 1: the grouped path */
} conv_attr;

/* Scratch for one forward/backward call (kernels/conv.h's allocator). */
static void *scratch_get(void *ctx, size_t bytes) {
    (void)ctx;
    void *p = nb__scope_alloc(nb_scope_current(), bytes ? bytes : 1);
    if (!p) nb_fail(NB_ERR_NOMEM, "conv2d", "out of memory for %zu bytes of im2col scratch", bytes);
    return p;
}
static void scratch_put(void *ctx, void *p) {
    (void)ctx;
    if (!nb_scope_current()) nb__free(p);
}
static const nb_conv_scratch scratch = {scratch_get, scratch_put, NULL};

static nb_conv_dims dims_of(const nb_node *n) {
    const conv_attr *a = nb_attr(n, conv_attr);
    const nb_tensor *x = n->in[0], *w = n->in[1], *y = n->out;
    const bool one_d = x->shape.ndim == 3;
    const nb_conv_geom g = {
        .C = x->shape.d[1],
        .H = one_d ? 1 : x->shape.d[2],
        .W = x->shape.d[x->shape.ndim - 1],
        .kh = one_d ? 1 : w->shape.d[2],
        .kw = w->shape.d[w->shape.ndim - 1],
        .sh = a->sh,
        .sw = a->sw,
        .ph = a->ph,
        .pw = a->pw,
        .dh = a->dh,
        .dw = a->dw,
        .Ho = one_d ? 1 : y->shape.d[2],
        .Wo = y->shape.d[y->shape.ndim - 1],
    };
    return nb_conv_dims_make(x->shape.d[0], w->shape.d[0], g);
}

#define F32(t) ((t) ? (float *)(t)->data : NULL)
#define F64(t) ((t) ? (double *)(t)->data : NULL)

static void conv_fwd(nb_node *n) {
    const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    const nb_conv_dims d = dims_of(n);
    const int64_t groups = nb_attr(n, conv_attr)->groups;
    const bool f32 = x->dtype == NB_F32;
    if (groups > 1) {
        if (f32) nb_conv_grouped_fwd_f32(&d, groups, F32(x), F32(w), F32(b), F32(n->out));
        else nb_conv_grouped_fwd_f64(&d, groups, F64(x), F64(w), F64(b), F64(n->out));
    } else if (d.wide && nb_convd_avail()) {
        const int nt = nb_get_num_threads(); /* the kernel decides how many it uses */
        if (f32) nb_conv_implicit_fwd_f32(&d, nt, F32(x), F32(w), F32(b), F32(n->out), &scratch);
        else nb_conv_implicit_fwd_f64(&d, nt, F64(x), F64(w), F64(b), F64(n->out), &scratch);
    } else if (d.wide) {
        const int nt = nb_get_num_threads(); /* the kernel decides how many it uses */
        if (f32) nb_conv_wide_fwd_f32(&d, nt, F32(x), F32(w), F32(b), F32(n->out), &scratch);
        else nb_conv_wide_fwd_f64(&d, nt, F64(x), F64(w), F64(b), F64(n->out), &scratch);
    } else {
        if (f32) nb_conv_gemm_fwd_f32(&d, nb_get_num_threads(), F32(x), F32(w), F32(b), F32(n->out), &scratch);
        else nb_conv_gemm_fwd_f64(&d, nb_get_num_threads(), F64(x), F64(w), F64(b), F64(n->out), &scratch);
    }
}

/* Whether every element of t is finite. */
static bool all_finite(const nb_tensor *t) {
    bool ok = true;
    NB_FLOAT_DISPATCH(t->dtype, T, {
        const T *v = (const T *)t->data;
        for (int64_t i = 0; i < t->numel; i++) ok &= v[i] - v[i] == 0;
    });
    return ok;
}

static void conv_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    nb_tensor *gx = nb_grad_buf(x), *gw = nb_grad_buf(w), *gb = b ? nb_grad_buf(b) : NULL;
    const nb_conv_dims d = dims_of(n);
    const int64_t groups = nb_attr(n, conv_attr)->groups;
    const bool f32 = x->dtype == NB_F32;
    if (groups > 1) {
        if (f32) nb_conv_grouped_bwd_f32(&d, groups, F32(x), F32(w), F32(g), F32(gx), F32(gw), F32(gb));
        else nb_conv_grouped_bwd_f64(&d, groups, F64(x), F64(w), F64(g), F64(gx), F64(gw), F64(gb));
        return;
    }
    /* The implicit path multiplies zeros of its padding (gout's, for dx; the
     * lanes past a row, for dW) by weights and inputs: with a NaN or an
     * infinity among them, 0·NaN would reach gradients that value never
     * touches. Such calls take the wide path (a pass over w for dx, over x
     * for dW, to check: ~1% of conv3's backward in bench_conv). */
    if (d.wide && nb_convd_avail() && (!gx || all_finite(w)) && (!gw || all_finite(x))) {
        /* db, dW and (pad <= k − 1) dx in one pass over the images; else dx
         * from the wide path */
        const int nt = nb_get_num_threads(); /* the kernel decides how many it uses */
        const bool dir = gx && nb_conv_implicit_dx_ok(&d);
        nb_tensor *gx_wide = gx && !dir ? gx : NULL, *gx_dir = dir ? gx : NULL;
        if (gx_wide) {
            if (f32) nb_conv_wide_bwd_f32(&d, nt, F32(x), F32(w), F32(g), F32(gx_wide), NULL, &scratch);
            else nb_conv_wide_bwd_f64(&d, nt, F64(x), F64(w), F64(g), F64(gx_wide), NULL, &scratch);
        }
        if (!gb && !gw && !dir) return;
        if (f32) nb_conv_implicit_bwd_f32(&d, nt, F32(x), F32(w), F32(g), F32(gx_dir), F32(gw), F32(gb), &scratch);
        else nb_conv_implicit_bwd_f64(&d, nt, F64(x), F64(w), F64(g), F64(gx_dir), F64(gw), F64(gb), &scratch);
        return;
    }
    if (gb) {
        if (f32) nb_conv_bias_grad_f32(&d, F32(g), F32(gb), &scratch);
        else nb_conv_bias_grad_f64(&d, F64(g), F64(gb), &scratch);
    }
    if (!gx && !gw) return;
    if (d.wide) {
        const int nt = nb_get_num_threads(); /* the kernel decides how many it uses */
        if (f32) nb_conv_wide_bwd_f32(&d, nt, F32(x), F32(w), F32(g), F32(gx), F32(gw), &scratch);
        else nb_conv_wide_bwd_f64(&d, nt, F64(x), F64(w), F64(g), F64(gx), F64(gw), &scratch);
    } else {
        if (f32) nb_conv_gemm_bwd_f32(&d, nb_get_num_threads(), F32(x), F32(w), F32(g), F32(gx), F32(gw), &scratch);
        else nb_conv_gemm_bwd_f64(&d, nb_get_num_threads(), F64(x), F64(w), F64(g), F64(gx), F64(gw), &scratch);
    }
}

/* backward reads x and w (not b, not the output) */
GG_FN(conv);
static const nb_op conv2d_op = {"conv2d", conv_fwd, conv_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, conv_bwg};
static const nb_op conv1d_op = {"conv1d", conv_fwd, conv_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, conv_bwg};

/* ------------------------------------------------------------ builders */

/* Validates and applies conv with `sp` spatial dims (1 or 2); stride, pad,
 * dil have sp entries (the spatial axes in order). */
static nb_tensor *conv_build(const nb_op *op, int sp, nb_tensor *x, nb_tensor *w, nb_tensor *b, const int *stride,
                             const int *pad, const int *dil, nb_padding mode, int groups) {
    const char *name = op->name;
    nb_tensor *in[3] = {x, w, b};
    const int nin = b ? 3 : 2;
    if (!nb_check_float_inputs(name, in, nin)) return NULL;
    char dx[NB_DESCRIBE_LEN], dw[NB_DESCRIBE_LEN], db[NB_DESCRIBE_LEN];
    nb_describe(x, "x", dx, sizeof dx);
    nb_describe(w, "w", dw, sizeof dw);
    const char *xl = sp == 2 ? "(N,C,H,W)" : "(N,C,L)", *wl = sp == 2 ? "(O,C,kh,kw)" : "(O,C,k)";
    if (x->shape.ndim != sp + 2) {
        nb_fail(NB_ERR_SHAPE, name, "x must be %d-D %s: %s, %s", sp + 2, xl, dx, dw);
        return NULL;
    }
    if (w->shape.ndim != sp + 2) {
        nb_fail(NB_ERR_SHAPE, name, "w must be %d-D %s: %s, %s", sp + 2, wl, dx, dw);
        return NULL;
    }
    for (int i = 0; i < sp + 2; i++)
        if (w->shape.d[i] < 1) {
            nb_fail(NB_ERR_SHAPE, name, "w has an empty dimension: %s, %s", dx, dw);
            return NULL;
        }
    if (groups < 0) {
        nb_fail(NB_ERR_ARG, name, "groups must be >= 0 (0 or 1 = ungrouped), got %d: %s, %s", groups, dx, dw);
        return NULL;
    }
    const int64_t G = groups > 1 ? groups : 1;
    if (G > 1 && x->shape.d[1] % G != 0) {
        nb_fail(NB_ERR_SHAPE, name, "input channels C = %lld are not divisible by groups = %lld: %s, %s",
                (long long)x->shape.d[1], (long long)G, dx, dw);
        return NULL;
    }
    if (G > 1 && w->shape.d[0] % G != 0) {
        nb_fail(NB_ERR_SHAPE, name, "output channels O = %lld are not divisible by groups = %lld: %s, %s",
                (long long)w->shape.d[0], (long long)G, dx, dw);
        return NULL;
    }
    if (G > 1 && w->shape.d[1] != x->shape.d[1] / G) {
        nb_fail(NB_ERR_SHAPE, name, "w must have C/groups = %lld/%lld = %lld input channels, has %lld: %s, %s",
                (long long)x->shape.d[1], (long long)G, (long long)(x->shape.d[1] / G), (long long)w->shape.d[1], dx,
                dw);
        return NULL;
    }
    if (G == 1 && x->shape.d[1] != w->shape.d[1]) {
        nb_fail(NB_ERR_SHAPE, name, "channels differ: x has %lld, w expects %lld: %s, %s", (long long)x->shape.d[1],
                (long long)w->shape.d[1], dx, dw);
        return NULL;
    }
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != w->shape.d[0])) {
        nb_fail(NB_ERR_SHAPE, name, "bias must be (%lld), one per output channel: %s, %s", (long long)w->shape.d[0],
                nb_describe(b, "b", db, sizeof db), dw);
        return NULL;
    }
    if (mode != NB_PAD_EXPLICIT && mode != NB_PAD_SAME && mode != NB_PAD_VALID) {
        nb_fail(NB_ERR_ARG, name, "unknown padding mode %d: %s, %s", (int)mode, dx, dw);
        return NULL;
    }
    int64_t before[2] = {0, 0}, out[2] = {1, 1};
    for (int i = 0; i < sp; i++) {
        const char *ax = sp == 1 ? "" : i == 0 ? " (height)" : " (width)";
        if (stride[i] < 1) {
            nb_fail(NB_ERR_ARG, name, "stride%s must be >= 1, got %d: %s, %s", ax, stride[i], dx, dw);
            return NULL;
        }
        if (dil[i] < 1) {
            nb_fail(NB_ERR_ARG, name, "dilation%s must be >= 1, got %d: %s, %s", ax, dil[i], dx, dw);
            return NULL;
        }
        if (mode == NB_PAD_EXPLICIT && pad[i] < 0) {
            nb_fail(NB_ERR_ARG, name, "padding%s must be >= 0, got %d: %s, %s", ax, pad[i], dx, dw);
            return NULL;
        }
        const int64_t nsz = x->shape.d[2 + i], k = w->shape.d[2 + i], s = stride[i];
        int64_t ek; /* effective (dilated) kernel: dil*(k-1) + 1, checked */
        if (!nb__size_mul(dil[i], k - 1, &ek) || !nb__size_add(ek, 1, &ek)) {
            nb_fail(NB_ERR_SHAPE, name, "kernel%s of %lld with dilation %d spans more than any input holds: %s, %s", ax,
                    (long long)k, dil[i], dx, dw);
            return NULL;
        }
        int64_t total;
        if (mode == NB_PAD_SAME) {
            const int64_t o = (nsz + s - 1) / s;
            total = (o - 1) * s + ek - nsz;
            if (total < 0) total = 0;
            before[i] = total / 2;
        } else if (mode == NB_PAD_VALID) {
            total = 0;
        } else {
            total = 2 * (int64_t)pad[i];
            before[i] = pad[i];
        }
        if (ek > nsz + total) {
            nb_fail(
                NB_ERR_SHAPE, name,
                "kernel%s of %lld (dilated: %lld) is bigger than the padded input %lld (%lld + padding %lld): %s, %s",
                ax, (long long)k, (long long)ek, (long long)(nsz + total), (long long)nsz, (long long)total, dx, dw);
            return NULL;
        }
        out[i] = (nsz + total - ek) / s + 1;
    }
    conv_attr a;
    nb_shape s;
    if (sp == 2) {
        a = (conv_attr){stride[0], stride[1], before[0], before[1], dil[0], dil[1], G};
        s = NB_SHAPE(x->shape.d[0], w->shape.d[0], out[0], out[1]);
    } else {
        a = (conv_attr){1, stride[0], 0, before[0], 1, dil[0], G};
        s = NB_SHAPE(x->shape.d[0], w->shape.d[0], out[0]);
    }
    return nb_apply_ex(op, in, nin, s, x->dtype, &a, sizeof a);
}

nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o) {
    const nb_conv2d_opts opts = o ? *o : NB_CONV2D_DEFAULT;
    return conv_build(&conv2d_op, 2, x, w, b, opts.stride, opts.pad, opts.dilation, opts.padding, opts.groups);
}

nb_tensor *nb_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int pad, int dilation) {
    return conv_build(&conv1d_op, 1, x, w, b, &stride, &pad, &dilation, NB_PAD_EXPLICIT, 1);
}

nb_tensor *nb_conv1d_ex(nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int pad, int dilation, int groups) {
    return conv_build(&conv1d_op, 1, x, w, b, &stride, &pad, &dilation, NB_PAD_EXPLICIT, groups);
}

/* ------------------------------------------------------------ registry */

/* conv2d: in = x, w[, b]; iarg = stride h, w, pad h, w, dilation h, w, padding mode, groups (0 = 1). */
static nb_tensor *conv2d_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    const int64_t *a = s->iarg;
    nb_conv2d_opts o = {
        {(int)a[0], (int)a[1]}, {(int)a[2], (int)a[3]}, {(int)a[4], (int)a[5]}, (nb_padding)a[6], (int)a[7]};
    return nb_conv2d(in[0], in[1], nin > 2 ? in[2] : NULL, &o);
}

static int conv2d_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x, w;
        int bias;
        int st[2], pad[2], dil[2];
        nb_padding mode;
        const char *desc;
        int groups;
    } cases[] = {
        {NB_SHAPE(2, 2, 5, 4),
         NB_SHAPE(3, 2, 3, 3),
         1,
         {1, 1},
         {0, 0},
         {1, 1},
         NB_PAD_EXPLICIT,
         "(2,2,5,4) * (3,2,3,3)",
         0},
        {NB_SHAPE(2, 2, 5, 4), NB_SHAPE(3, 2, 3, 3), 1, {1, 1}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, "padding 1", 0},
        {NB_SHAPE(2, 2, 5, 4),
         NB_SHAPE(3, 2, 3, 3),
         1,
         {2, 2},
         {1, 1},
         {1, 1},
         NB_PAD_EXPLICIT,
         "stride 2, padding 1",
         0},
        {NB_SHAPE(2, 2, 6, 4),
         NB_SHAPE(2, 2, 3, 3),
         1,
         {2, 2},
         {0, 0},
         {1, 1},
         NB_PAD_SAME,
         "SAME stride 2 (pad 0/1)",
         0},
        {NB_SHAPE(1, 2, 4, 5), NB_SHAPE(2, 2, 2, 2), 1, {1, 1}, {0, 0}, {1, 1}, NB_PAD_SAME, "SAME 2x2 (pad 0/1)", 0},
        {NB_SHAPE(2, 1, 5, 6),
         NB_SHAPE(2, 1, 2, 3),
         1,
         {1, 2},
         {0, 0},
         {1, 1},
         NB_PAD_VALID,
         "VALID 2x3 stride (1,2)",
         0},
        {NB_SHAPE(2, 2, 5, 4),
         NB_SHAPE(2, 2, 3, 3),
         1,
         {1, 1},
         {1, 1},
         {2, 2},
         NB_PAD_EXPLICIT,
         "dilation 2, padding 1",
         0},
        {NB_SHAPE(1, 1, 4, 4),
         NB_SHAPE(2, 1, 2, 2),
         1,
         {1, 1},
         {0, 0},
         {1, 1},
         NB_PAD_EXPLICIT,
         "batch of 1, 1 channel",
         0},
        {NB_SHAPE(2, 3, 4, 3),
         NB_SHAPE(2, 3, 3, 2),
         0,
         {1, 1},
         {1, 0},
         {1, 1},
         NB_PAD_EXPLICIT,
         "no bias, pad (1,0)",
         0},
        {NB_SHAPE(3, 3, 3, 2),
         NB_SHAPE(2, 3, 1, 1),
         1,
         {1, 1},
         {0, 0},
         {1, 1},
         NB_PAD_EXPLICIT,
         "1x1 kernel (direct)",
         0},
        {NB_SHAPE(2, 4, 5, 4),
         NB_SHAPE(6, 2, 3, 3),
         1,
         {1, 1},
         {1, 1},
         {1, 1},
         NB_PAD_EXPLICIT,
         "groups 2 (C 4, O 6), padding 1",
         2},
        {NB_SHAPE(2, 3, 6, 5),
         NB_SHAPE(3, 1, 3, 3),
         1,
         {2, 2},
         {1, 1},
         {1, 1},
         NB_PAD_EXPLICIT,
         "depthwise C 3, stride 2, padding 1",
         3},
        {NB_SHAPE(1, 3, 6, 6),
         NB_SHAPE(6, 1, 3, 2),
         0,
         {1, 1},
         {2, 1},
         {2, 2},
         NB_PAD_EXPLICIT,
         "depthwise x2 (O 6), dilation 2, padding (2,1), no bias, batch of 1",
         3},
        {NB_SHAPE(2, 4, 5, 7),
         NB_SHAPE(2, 2, 2, 3),
         1,
         {2, 1},
         {0, 0},
         {1, 1},
         NB_PAD_SAME,
         "groups 2 (O 2), SAME stride (2,1)",
         2},
        {NB_SHAPE(1, 4, 4, 5),
         NB_SHAPE(4, 1, 1, 1),
         0,
         {1, 1},
         {0, 0},
         {1, 1},
         NB_PAD_EXPLICIT,
         "depthwise 1x1, no bias",
         4},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc,
                           .nin = cases[c].bias ? 3 : 2,
                           .iarg = {cases[c].st[0], cases[c].st[1], cases[c].pad[0], cases[c].pad[1], cases[c].dil[0],
                                    cases[c].dil[1], cases[c].mode, cases[c].groups}};
        s[k].in[0] = nb_sample_uniform(cases[c].x, -1, 1);
        s[k].in[1] = nb_sample_uniform(cases[c].w, -1, 1);
        if (cases[c].bias) s[k].in[2] = nb_sample_uniform(NB_SHAPE(cases[c].w.d[0]), -1, 1);
    }
    return k;
}

const nb_op_entry nb_entry_conv2d = {"conv2d", conv2d_entry_apply, conv2d_samples, 0, 0};

/* conv1d: in = x, w[, b]; iarg = stride, pad, dilation, groups (0 = 1). */
static nb_tensor *conv1d_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    return nb_conv1d_ex(in[0], in[1], nin > 2 ? in[2] : NULL, (int)s->iarg[0], (int)s->iarg[1], (int)s->iarg[2],
                        (int)s->iarg[3]);
}

static int conv1d_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x, w;
        int bias, st, pad, dil;
        const char *desc;
        int groups;
    } cases[] = {
        {NB_SHAPE(2, 2, 7), NB_SHAPE(3, 2, 3), 1, 1, 1, 1, "(2,2,7) * (3,2,3) padding 1", 0},
        {NB_SHAPE(2, 2, 9), NB_SHAPE(2, 2, 3), 1, 2, 2, 2, "stride 2, padding 2, dilation 2", 0},
        {NB_SHAPE(1, 3, 5), NB_SHAPE(2, 3, 2), 0, 1, 0, 1, "batch of 1, no bias", 0},
        {NB_SHAPE(2, 4, 8), NB_SHAPE(6, 2, 3), 1, 2, 1, 1, "groups 2 (C 4, O 6), stride 2, padding 1", 2},
        {NB_SHAPE(1, 3, 9), NB_SHAPE(3, 1, 3), 0, 1, 2, 2, "depthwise, dilation 2, padding 2, no bias", 3},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc,
                           .nin = cases[c].bias ? 3 : 2,
                           .iarg = {cases[c].st, cases[c].pad, cases[c].dil, cases[c].groups}};
        s[k].in[0] = nb_sample_uniform(cases[c].x, -1, 1);
        s[k].in[1] = nb_sample_uniform(cases[c].w, -1, 1);
        if (cases[c].bias) s[k].in[2] = nb_sample_uniform(NB_SHAPE(cases[c].w.d[0]), -1, 1);
    }
    return k;
}

const nb_op_entry nb_entry_conv1d = {"conv1d", conv1d_entry_apply, conv1d_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backwards */

/* conv is bilinear in (x, w): dx and dw are its adjoints (the kernel
 * backward above, as ops on the tape whose derivatives are the conv and the
 * other adjoint again); db sums g over the batch and the positions. */
NB_ADJOINT_OP(conv2d_adj, "conv2d_backward");
NB_ADJOINT_OP(conv1d_adj, "conv1d_backward");
GG_FN(conv) {
    const nb_op *adj = n->op == &conv1d_op ? &conv1d_adj : &conv2d_adj;
    for (int i = 0; i < 2; i++)
        if (GG_NEED(i)) gin[i] = nb__adjoint(adj, n, i, 3u, 2, sizeof(conv_attr), g);
    if (n->nin > 2 && GG_NEED(2)) {
        static const int axes2[3] = {0, 2, 3}, axes1[2] = {0, 2};
        gin[2] = g->shape.ndim == 4 ? nb_sum(g, axes2, 3, false) : nb_sum(g, axes1, 2, false);
    }
}
