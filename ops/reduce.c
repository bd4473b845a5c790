/* ops/reduce.c — sum and mean over axes, with keepdim.
 *
 * Forward walks the input and adds each element into the output element it
 * reduces to (broadcast strides, 0 along reduced axes); backward is the same
 * walk the other way: each input element's gradient gets its output's
 * gradient (times 1/count for mean). A full reduction accumulates in double. */
#include "broadcast.h"
#include "../autograd/internal.h"
#include <math.h>

typedef struct {
    uint32_t mask;   /* bit i: axis i is reduced */
    bool keepdim;
    bool mean;
} reduce_attr;

static nb_shape kept_shape(nb_shape x, uint32_t mask) {
    nb_shape k = x;
    for (int i = 0; i < x.ndim; i++)
        if (mask >> i & 1u) k.d[i] = 1;
    return k;
}

static void reduce_fwd(nb_node *n) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    const nb_tensor *x = n->in[0];
    int64_t count = n->out->numel ? x->numel / n->out->numel : 0;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *R = (T *)n->out->data;
        if (n->out->numel == 1) {
            double acc = 0;
            for (int64_t i = 0; i < x->numel; i++) acc += X[i];
            R[0] = (T)(at->mean ? acc / (double)(count ? count : 1) : acc);
            if (at->mean && count == 0) R[0] = (T)NAN;
        } else {
            memset(R, 0, (size_t)n->out->numel * sizeof(T));
            nb_bc bc;
            nb_bc_init(&bc, x->shape, kept_shape(x->shape, at->mask), x->shape);
            NB_BC_FOR(&bc, {
                for (int64_t j = 0; j < len; j++) R[oa + j * sa] += X[oo + j];
            });
            if (at->mean) {
                const T inv = (T)1 / (T)count;
                for (int64_t i = 0; i < n->out->numel; i++) R[i] *= inv;
            }
        }
    });
}

static void reduce_bwd(nb_node *n, const nb_tensor *g) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    int64_t count = n->out->numel ? x->numel / n->out->numel : 1;
    nb_bc bc;
    nb_bc_init(&bc, x->shape, kept_shape(x->shape, at->mask), x->shape);
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        const T scale = at->mean ? (T)1 / (T)count : (T)1;
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++) GX[oo + j] += G[oa + j * sa] * scale;
        });
    });
}

static const nb_op sum_op = {"sum", reduce_fwd, reduce_bwd, NB_SAVES_NOTHING, false};
static const nb_op mean_op = {"mean", reduce_fwd, reduce_bwd, NB_SAVES_NOTHING, false};

static nb_tensor *reduce(const nb_op *op, nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    if (!nb_check_float_inputs(op->name, &x, 1)) return NULL;
    if (naxes < 0 || (naxes > 0 && !axes)) {
        nb_fail(NB_ERR_ARG, op->name, "bad axis list (naxes %d)", naxes);
        return NULL;
    }
    reduce_attr at = {0, keepdim, op == &mean_op};
    if (naxes == 0) at.mask = x->shape.ndim ? (1u << x->shape.ndim) - 1 : 0;
    for (int i = 0; i < naxes; i++) {
        int a = nb_norm_axis(op->name, x, axes[i]);
        if (a < 0) return NULL;
        if (at.mask >> a & 1u) {
            nb_fail(NB_ERR_AXIS, op->name, "axis %d is listed twice", axes[i]);
            return NULL;
        }
        at.mask |= 1u << a;
    }
    nb_shape s = {0};
    for (int i = 0; i < x->shape.ndim; i++) {
        if (!(at.mask >> i & 1u)) s.d[s.ndim++] = x->shape.d[i];
        else if (keepdim) s.d[s.ndim++] = 1;
    }
    return nb_apply_ex(op, &x, 1, s, x->dtype, &at, sizeof at);
}

nb_tensor *nb_sum(nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    return reduce(&sum_op, x, axes, naxes, keepdim);
}
nb_tensor *nb_mean(nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    return reduce(&mean_op, x, axes, naxes, keepdim);
}
nb_tensor *nb_sum_all(nb_tensor *x) { return nb_sum(x, NULL, 0, false); }
nb_tensor *nb_mean_all(nb_tensor *x) { return nb_mean(x, NULL, 0, false); }

nb_tensor *nb_sum_to(nb_tensor *x, nb_shape s) {
    if (!x) return NULL;
    int axes[NB_MAX_DIMS], na = 0, lead = x->shape.ndim - s.ndim;
    bool ok = lead >= 0;
    for (int i = 0; ok && i < x->shape.ndim; i++) {
        int j = i - lead;
        if (j < 0 || (s.d[j] == 1 && x->shape.d[i] != 1)) axes[na++] = i;
        else if (s.d[j] != x->shape.d[i]) ok = false;
    }
    if (!ok) {
        char d[NB_DESCRIBE_LEN], sh[NB_SHAPE_STRLEN];
        nb_fail(NB_ERR_SHAPE, "sum_to", "%s can't be summed to %s", nb_describe(x, "x", d, sizeof d),
                nb_shape_str(s, sh, sizeof sh));
        return NULL;
    }
    if (na == 0) return nb_reshape(x, s);
    return nb_reshape(nb_sum(x, axes, na, true), s);
}

/* ------------------------------------------------------------ registry */

/* iarg[0]: bitmask of axes (0 = all), iarg[1]: keepdim */
static nb_tensor *reduce_entry_apply(const nb_op *op, nb_tensor *x, const nb_sample *s) {
    int axes[NB_MAX_DIMS], na = 0;
    for (int i = 0; i < NB_MAX_DIMS; i++)
        if (s->iarg[0] >> i & 1) axes[na++] = i;
    return reduce(op, x, axes, na, s->iarg[1] != 0);
}

static int reduce_samples(nb_sample *s, int max) {
    static const struct { nb_shape x; int64_t mask, keep; const char *desc; } cases[] = {
        {NB_SHAPE(3, 4), 0, 0, "all of (3,4)"},
        {NB_SHAPE(3, 4), 1, 0, "axis 0 of (3,4)"},
        {NB_SHAPE(2, 3, 4), 4, 1, "last axis, keepdim"},
        {NB_SHAPE(2, 3, 5), 5, 0, "axes 0 and 2"},
        {NB_SHAPE(1, 6), 2, 1, "batch of one, axis 1 keepdim"},
        {NB_SCALAR, 0, 0, "scalar"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 1};
        s[k].in[0] = nb_sample_uniform(cases[i].x, -2, 2);
        s[k].iarg[0] = cases[i].mask;
        s[k].iarg[1] = cases[i].keep;
    }
    return k;
}

static nb_tensor *sum_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return reduce_entry_apply(&sum_op, in[0], s);
}
static nb_tensor *mean_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return reduce_entry_apply(&mean_op, in[0], s);
}
const nb_op_entry nb_entry_sum = {"sum", sum_entry_apply, reduce_samples, 0, 0};
const nb_op_entry nb_entry_mean = {"mean", mean_entry_apply, reduce_samples, 0, 0};
