/* ops/reduce.c — reductions over axes, with keepdim: sum, mean, max, min,
 * logsumexp, var, std; and argmax/argmin along one axis: validation, shapes,
 * the walk's description, and the calls of their loops (kernels/reduce.h).
 *
 * Forward walks the input and combines each element into the output element
 * it reduces to (broadcast strides, 0 along reduced axes); backward is the
 * same walk the other way: each input element's gradient gets its output's
 * gradient times the local derivative (1, 1/count, a tie share, softmax,
 * 2(x−μ)/(N−d)). A full sum accumulates in double; logsumexp and var keep
 * their per-output accumulators in double for every dtype. */
#include "broadcast.h"
#include "math_util.h"
#include "kernels/reduce.h"
#include "grad_graph.h"

typedef struct {
    uint32_t mask; /* bit i: axis i is reduced */
    bool keepdim;
    bool mean;
} reduce_attr;

static nb_shape kept_shape(nb_shape x, uint32_t mask) {
    nb_shape k = x;
    for (int i = 0; i < x.ndim; i++)
        if (mask >> i & 1u) k.d[i] = 1;
    return k;
}

/* The walk over x with the kept shape as operand a (kernels/reduce.h). */
static void reduce_walk(nb_bc *bc, const nb_tensor *x, uint32_t mask) {
    nb_bc_init(bc, x->shape, kept_shape(x->shape, mask), x->shape);
}

static void reduce_fwd(nb_node *n) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    const nb_tensor *x = n->in[0];
    const int64_t rn = n->out->numel, count = rn ? x->numel / rn : 0;
    nb_bc bc; /* not needed (and not filled) for a full reduction: rn == 1 */
    if (rn != 1) reduce_walk(&bc, x, at->mask);
    if (x->dtype == NB_F32) nb_red_sum_f32(&bc, nb_f32(x), x->numel, nb_f32(n->out), rn, at->mean, count);
    else nb_red_sum_f64(&bc, nb_f64(x), x->numel, nb_f64(n->out), rn, at->mean, count);
}

static void reduce_bwd(nb_node *n, const nb_tensor *g) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    nb_tensor *x = n->in[0];
    const int64_t rn = n->out->numel, count = rn ? x->numel / rn : 1;
    bool fresh; /* a new gradient is written, not zeroed first and added to */
    nb_tensor *gxt = nb__grad_buf_fresh(x, &fresh);
    if (!gxt) return;
    nb_bc bc; /* not needed (and not filled) for a full reduction */
    if (rn != 1) reduce_walk(&bc, x, at->mask);
    if (x->dtype == NB_F32) nb_red_sum_bwd_f32(&bc, nb_f32(g), nb_f32(gxt), x->numel, rn, at->mean, count, fresh);
    else nb_red_sum_bwd_f64(&bc, nb_f64(g), nb_f64(gxt), x->numel, rn, at->mean, count, fresh);
}

GG_FN(reduce);
static const nb_op sum_op = {"sum", reduce_fwd, reduce_bwd, NB_SAVES_NOTHING, false, reduce_bwg};
static const nb_op mean_op = {"mean", reduce_fwd, reduce_bwd, NB_SAVES_NOTHING, false, reduce_bwg};

/* The axis list as a bitmask (naxes 0 = all); false with the error reported. */
static bool axes_mask(const char *op, const nb_tensor *x, const int *axes, int naxes, uint32_t *mask) {
    if (naxes < 0 || naxes > NB_MAX_DIMS || (naxes > 0 && !axes)) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_ARG, op, "bad axis list (naxes %d): %s", naxes, nb_describe(x, "x", d, sizeof d));
        return false;
    }
    *mask = 0;
    if (naxes == 0) *mask = x->shape.ndim ? (1u << x->shape.ndim) - 1 : 0;
    for (int i = 0; i < naxes; i++) {
        int a = nb_norm_axis(op, x, axes[i]);
        if (a < 0) return false;
        if (*mask >> a & 1u) {
            char d[NB_DESCRIBE_LEN];
            nb_fail(NB_ERR_AXIS, op, "axis %d is listed twice: %s", axes[i], nb_describe(x, "x", d, sizeof d));
            return false;
        }
        *mask |= 1u << a;
    }
    return true;
}

static nb_shape reduced_shape(nb_shape x, uint32_t mask, bool keepdim) {
    nb_shape s = {0};
    for (int i = 0; i < x.ndim; i++) {
        if (!(mask >> i & 1u)) s.d[s.ndim++] = x.d[i];
        else if (keepdim) s.d[s.ndim++] = 1;
    }
    return s;
}

static nb_tensor *reduce(const nb_op *op, nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float(op->name, 1, &x, names)) return NULL;
    reduce_attr at = {0, keepdim, op == &mean_op};
    if (!axes_mask(op->name, x, axes, naxes, &at.mask)) return NULL;
    return nb_apply_ex(op, &x, 1, reduced_shape(x->shape, at.mask, keepdim), x->dtype, &at, sizeof at);
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
        nb_fail(NB_ERR_SHAPE, "sum_to", "%s, which can't be summed to %s", nb_describe(x, "x", d, sizeof d),
                nb_shape_str(s, sh, sizeof sh));
        return NULL;
    }
    if (na == 0) return nb_reshape(x, s);
    return nb_reshape(nb_sum(x, axes, na, true), s);
}

static double mu_nonzero_of(double v, double p) {
    (void)p;
    return v != 0;
}

/* ------------------------------------------------------------ max, min */

typedef struct {
    uint32_t mask;
    bool keepdim;
    bool is_min;
    bool split; /* ties share the gradient evenly (naxes != 1); else the first gets it */
} maxmin_attr;

/* A reduced axis of size 0 with outputs to fill has no max: refuse it. */
static bool check_nonempty(const char *op, const nb_tensor *x, uint32_t mask) {
    for (int i = 0; i < x->shape.ndim; i++)
        if ((mask >> i & 1u) && x->shape.d[i] == 0) {
            char d[NB_DESCRIBE_LEN];
            nb_fail(NB_ERR_SHAPE, op, "can't reduce over axis %d of size 0: %s", i, nb_describe(x, "x", d, sizeof d));
            return false;
        }
    return true;
}

static void maxmin_fwd(nb_node *n) {
    const maxmin_attr *at = nb_attr(n, maxmin_attr);
    const nb_tensor *x = n->in[0];
    nb_bc bc;
    reduce_walk(&bc, x, at->mask);
    if (x->dtype == NB_F32) nb_red_maxmin_f32(&bc, nb_f32(x), nb_f32(n->out), n->out->numel, at->is_min);
    else nb_red_maxmin_f64(&bc, nb_f64(x), nb_f64(n->out), n->out->numel, at->is_min);
}

static void maxmin_bwd(nb_node *n, const nb_tensor *g) {
    const maxmin_attr *at = nb_attr(n, maxmin_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    nb_bc bc;
    reduce_walk(&bc, x, at->mask);
    /* split: how many elements tie for each output; first: whether the first
     * one (row-major, i.e. the argmax along a single axis) was seen yet */
    int64_t *cnt = mu_scratch(n->op->name, (size_t)n->out->numel * sizeof(int64_t));
    if (!cnt) return;
    if (x->dtype == NB_F32)
        nb_red_maxmin_bwd_f32(&bc, nb_f32(x), nb_f32(n->out), nb_f32(g), nb_f32(gxt), cnt, at->split);
    else nb_red_maxmin_bwd_f64(&bc, nb_f64(x), nb_f64(n->out), nb_f64(g), nb_f64(gxt), cnt, at->split);
    mu_scratch_done(cnt);
}

GG_FN(maxmin);
static const nb_op max_op = {"max", maxmin_fwd, maxmin_bwd, NB_SAVES_IN(0) | NB_SAVES_OUT, false, maxmin_bwg};
static const nb_op min_op = {"min", maxmin_fwd, maxmin_bwd, NB_SAVES_IN(0) | NB_SAVES_OUT, false, maxmin_bwg};

static nb_tensor *maxmin(const nb_op *op, nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float(op->name, 1, &x, names)) return NULL;
    maxmin_attr at = {0, keepdim, op == &min_op, naxes != 1};
    if (!axes_mask(op->name, x, axes, naxes, &at.mask) || !check_nonempty(op->name, x, at.mask)) return NULL;
    return nb_apply_ex(op, &x, 1, reduced_shape(x->shape, at.mask, keepdim), x->dtype, &at, sizeof at);
}

nb_tensor *nb_max(nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    return maxmin(&max_op, x, axes, naxes, keepdim);
}
nb_tensor *nb_min(nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    return maxmin(&min_op, x, axes, naxes, keepdim);
}

/* ------------------------------------------------------------ argmax, argmin */

typedef struct {
    int axis;
    bool is_min;
} arg_attr;

static void arg_fwd(nb_node *n) {
    const arg_attr *at = nb_attr(n, arg_attr);
    const nb_tensor *x = n->in[0];
    int64_t outer = 1, len = x->shape.d[at->axis], inner = 1;
    for (int i = 0; i < at->axis; i++) outer *= x->shape.d[i];
    for (int i = at->axis + 1; i < x->shape.ndim; i++) inner *= x->shape.d[i];
    if (x->dtype == NB_F32) nb_red_arg_f32(nb_f32(x), nb_i64(n->out), outer, len, inner, at->is_min);
    else nb_red_arg_f64(nb_f64(x), nb_i64(n->out), outer, len, inner, at->is_min);
}

/* No backward: an index is not differentiable (the builder runs it with
 * recording off, so its result never requires grad). */
static const nb_op argmax_op = {"argmax", arg_fwd, NULL, NB_SAVES_NOTHING, false, NULL};
static const nb_op argmin_op = {"argmin", arg_fwd, NULL, NB_SAVES_NOTHING, false, NULL};

static nb_tensor *argmaxmin(const nb_op *op, nb_tensor *x, int axis, bool keepdim) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float(op->name, 1, &x, names)) return NULL;
    if (x->shape.ndim == 0) { /* torch: argmax of a 0-d tensor over dim 0 or -1 is 0 */
        if (axis != 0 && axis != -1) {
            nb_fail(NB_ERR_AXIS, op->name, "axis %d is out of range for a 0-d tensor (0 or -1)", axis);
            return NULL;
        }
        return nb_zeros(NB_I64, NB_SCALAR);
    }
    arg_attr at = {nb_norm_axis(op->name, x, axis), op == &argmin_op};
    if (at.axis < 0 || !check_nonempty(op->name, x, 1u << at.axis)) return NULL;
    nb_no_grad_begin();
    nb_tensor *r = nb_apply_ex(op, &x, 1, reduced_shape(x->shape, 1u << at.axis, keepdim), NB_I64, &at, sizeof at);
    nb_no_grad_end();
    return r;
}

nb_tensor *nb_argmax(nb_tensor *x, int axis, bool keepdim) { return argmaxmin(&argmax_op, x, axis, keepdim); }
nb_tensor *nb_argmin(nb_tensor *x, int axis, bool keepdim) { return argmaxmin(&argmin_op, x, axis, keepdim); }

/* ------------------------------------------------------------ logsumexp */

/* When the last axis alone is reduced (the common case), x is `rows`
 * contiguous rows of `len`, each reduced to its own output: the row kernels
 * (split between threads when long) give the same bits as the general walk. */
static bool lse_rows(const nb_tensor *x, uint32_t mask, int64_t *rows, int64_t *len) {
    const int nd = x->shape.ndim;
    if (nd == 0 || x->numel == 0 || mask != 1u << (nd - 1)) return false;
    *len = x->shape.d[nd - 1];
    *rows = x->numel / *len;
    return true;
}

static void logsumexp_fwd(nb_node *n) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    const nb_tensor *x = n->in[0];
    const int64_t m = n->out->numel;
    int64_t rows, rlen;
    if (lse_rows(x, at->mask, &rows, &rlen)) {
        const int nt = nb_get_num_threads();
        if (x->dtype == NB_F32) nb_red_lse_rows_f32(nt, nb_f32(x), nb_f32(n->out), rows, rlen);
        else nb_red_lse_rows_f64(nt, nb_f64(x), nb_f64(n->out), rows, rlen);
        return;
    }
    nb_bc bc;
    reduce_walk(&bc, x, at->mask);
    double *M = mu_scratch("logsumexp", (size_t)(2 * m) * sizeof(double)), *S = M + m;
    if (!M) return;
    if (x->dtype == NB_F32) nb_red_lse_f32(&bc, nb_f32(x), nb_f32(n->out), M, S, m);
    else nb_red_lse_f64(&bc, nb_f64(x), nb_f64(n->out), M, S, m);
    mu_scratch_done(M);
}

/* gx += g·e^(x − y), e^ by the vector kernel in T as in forward. */
static void logsumexp_bwd(nb_node *n, const nb_tensor *g) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    int64_t rows, rlen;
    if (lse_rows(x, at->mask, &rows, &rlen)) {
        const int nt = nb_get_num_threads();
        if (x->dtype == NB_F32)
            nb_red_lse_rows_bwd_f32(nt, nb_f32(x), nb_f32(n->out), nb_f32(g), nb_f32(gxt), rows, rlen);
        else nb_red_lse_rows_bwd_f64(nt, nb_f64(x), nb_f64(n->out), nb_f64(g), nb_f64(gxt), rows, rlen);
        return;
    }
    nb_bc bc;
    reduce_walk(&bc, x, at->mask);
    if (x->dtype == NB_F32) nb_red_lse_bwd_f32(&bc, nb_f32(x), nb_f32(n->out), nb_f32(g), nb_f32(gxt));
    else nb_red_lse_bwd_f64(&bc, nb_f64(x), nb_f64(n->out), nb_f64(g), nb_f64(gxt));
}

GG_FN(logsumexp);
static const nb_op logsumexp_op = {"logsumexp", logsumexp_fwd, logsumexp_bwd, NB_SAVES_IN(0) | NB_SAVES_OUT,
                                   false,       logsumexp_bwg};

nb_tensor *nb_logsumexp(nb_tensor *x, const int *axes, int naxes, bool keepdim) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float("logsumexp", 1, &x, names)) return NULL;
    reduce_attr at = {0, keepdim, false};
    if (!axes_mask("logsumexp", x, axes, naxes, &at.mask)) return NULL;
    return nb_apply_ex(&logsumexp_op, &x, 1, reduced_shape(x->shape, at.mask, keepdim), x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ var, std */

typedef struct {
    uint32_t mask;
    bool keepdim;
    bool unbiased;
    bool is_std;
} var_attr;

/* Forward keeps the per-output mean (F64) in n->saved for backward. */
static void var_fwd(nb_node *n) {
    const var_attr *at = nb_attr(n, var_attr);
    const nb_tensor *x = n->in[0];
    const int64_t m = n->out->numel, count = m ? x->numel / m : 0;
    const double denom = (double)count - (at->unbiased ? 1.0 : 0.0);
    nb_tensor *mt = nb_node_save_new(n, NB_F64, n->out->shape);
    if (!mt) return;
    double *SS = mu_scratch(n->op->name, (size_t)m * sizeof(double));
    if (!SS) return;
    nb_bc bc;
    reduce_walk(&bc, x, at->mask);
    if (x->dtype == NB_F32) nb_red_var_f32(&bc, nb_f32(x), nb_f32(n->out), nb_f64(mt), SS, m, count, denom, at->is_std);
    else nb_red_var_f64(&bc, nb_f64(x), nb_f64(n->out), nb_f64(mt), SS, m, count, denom, at->is_std);
    mu_scratch_done(SS);
}

static void var_bwd(nb_node *n, const nb_tensor *g) {
    const var_attr *at = nb_attr(n, var_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt || !n->saved) return;
    const int64_t m = n->out->numel, count = m ? x->numel / m : 0;
    const double denom = (double)count - (at->unbiased ? 1.0 : 0.0);
    nb_bc bc;
    reduce_walk(&bc, x, at->mask);
    if (x->dtype == NB_F32)
        nb_red_var_bwd_f32(&bc, nb_f32(x), nb_f32(n->out), nb_f32(g), nb_f32(gxt), nb_f64(n->saved), denom, at->is_std);
    else
        nb_red_var_bwd_f64(&bc, nb_f64(x), nb_f64(n->out), nb_f64(g), nb_f64(gxt), nb_f64(n->saved), denom, at->is_std);
}

GG_FN(var);
static const nb_op var_op = {"var", var_fwd, var_bwd, NB_SAVES_IN(0), false, var_bwg};
static const nb_op std_op = {"std", var_fwd, var_bwd, NB_SAVES_IN(0) | NB_SAVES_OUT, false, var_bwg};

static nb_tensor *var_std(const nb_op *op, nb_tensor *x, const int *axes, int naxes, bool unbiased, bool keepdim) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float(op->name, 1, &x, names)) return NULL;
    var_attr at = {0, keepdim, unbiased, op == &std_op};
    if (!axes_mask(op->name, x, axes, naxes, &at.mask)) return NULL;
    return nb_apply_ex(op, &x, 1, reduced_shape(x->shape, at.mask, keepdim), x->dtype, &at, sizeof at);
}

nb_tensor *nb_var(nb_tensor *x, const int *axes, int naxes, bool unbiased, bool keepdim) {
    return var_std(&var_op, x, axes, naxes, unbiased, keepdim);
}
nb_tensor *nb_std(nb_tensor *x, const int *axes, int naxes, bool unbiased, bool keepdim) {
    return var_std(&std_op, x, axes, naxes, unbiased, keepdim);
}

/* ------------------------------------------------------------ differentiable backwards */

/* sum: g broadcast back; mean: and divided by the count. */
GG_FN(reduce) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    const nb_tensor *x = n->in[0];
    nb_tensor *gx = gg_unreduce(g, x->shape, at->mask);
    if (at->mean) {
        const int64_t count = n->out->numel ? x->numel / n->out->numel : 1;
        gx = nb_mul_scalar(gx, 1.0 / (double)count);
    }
    gin[0] = gx;
}

/* max/min: g broadcast back times the kernel's tie weights (constant: the
 * selection does not change under a small move away from ties). */
GG_FN(maxmin) {
    const maxmin_attr *at = nb_attr(n, maxmin_attr);
    nb_tensor *w = gg_kernel_vjp(n, 0, nb_ones(n->out->dtype, n->out->shape));
    gin[0] = nb_mul(gg_unreduce(g, n->in[0]->shape, at->mask), w);
}

/* logsumexp: g·e^(x − y) */
GG_FN(logsumexp) {
    const reduce_attr *at = nb_attr(n, reduce_attr);
    nb_tensor *x = n->in[0];
    nb_tensor *p = nb_exp(nb_sub(x, gg_unreduce(n->out, x->shape, at->mask)));
    gin[0] = nb_mul(gg_unreduce(g, x->shape, at->mask), p);
}

/* var: g·2(x − μ)/(N − d); std: g·(x − μ)/((N − d)·y), 0 where y == 0. */
GG_FN(var) {
    const var_attr *at = nb_attr(n, var_attr);
    nb_tensor *x = n->in[0];
    const int64_t count = n->out->numel ? x->numel / n->out->numel : 0;
    const double denom = (double)count - (at->unbiased ? 1.0 : 0.0);
    int axes[NB_MAX_DIMS];
    const int na = gg_axes(at->mask, x->shape.ndim, axes);
    nb_tensor *d = nb_sub(x, nb_mean(x, axes, na, true)); /* x − μ, differentiable in x */
    nb_tensor *gx = nb_mul(gg_unreduce(g, x->shape, at->mask), d);
    if (!at->is_std) {
        gin[0] = nb_mul_scalar(gx, 2.0 / denom);
        return;
    }
    nb_tensor *nz = gg_map(n->out, mu_nonzero_of, 0);                        /* y != 0 */
    nb_tensor *ys = nb_where(nz, n->out, nb_ones(n->out->dtype, NB_SCALAR)); /* y, 1 where y == 0 */
    gin[0] = nb_div(nb_mul(gx, gg_unreduce(nz, x->shape, at->mask)),
                    nb_mul_scalar(gg_unreduce(ys, x->shape, at->mask), denom));
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
    static const struct {
        nb_shape x;
        int64_t mask, keep;
        const char *desc;
    } cases[] = {
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

/* max/min, logsumexp, var, std: the same axis cases (iarg[0] axis bitmask,
 * 0 = all; iarg[1] keepdim; iarg[2] unbiased for var/std). max/min values are
 * distinct (at least 0.3 apart), so no tie is within ±eps; one-axis cases
 * check the "to the argmax" rule, the others the split rule (without ties,
 * both send the gradient to the unique extremum). */
static const struct {
    nb_shape x;
    int64_t mask, keep, unbiased;
    const char *desc;
} ext_cases[] = {
    {NB_SHAPE(3, 4), 0, 0, 1, "all of (3,4)"},
    {NB_SHAPE(3, 4), 1, 0, 0, "axis 0 of (3,4)"},
    {NB_SHAPE(2, 3, 5), 4, 1, 1, "last axis of (2,3,5), keepdim"},
    {NB_SHAPE(2, 3, 5), 5, 0, 1, "axes 0 and 2 of (2,3,5)"},
    {NB_SHAPE(1, 7), 2, 1, 0, "batch of one (1,7), axis 1 keepdim"},
    {NB_SHAPE(5), 0, 1, 1, "vector (5), all, keepdim"},
};

static int ext_samples(nb_sample *s, int max, bool distinct, bool with_scalar) {
    int k = 0;
    for (size_t i = 0; i < sizeof ext_cases / sizeof ext_cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = ext_cases[i].desc, .nin = 1};
        s[k].in[0] = distinct ? mu_sample_distinct(ext_cases[i].x, 0.4) : nb_sample_uniform(ext_cases[i].x, -2, 2);
        s[k].iarg[0] = ext_cases[i].mask;
        s[k].iarg[1] = ext_cases[i].keep;
        s[k].iarg[2] = ext_cases[i].unbiased;
    }
    if (with_scalar && k < max) {
        s[k] = (nb_sample){.desc = "scalar", .nin = 1};
        s[k++].in[0] = nb_sample_uniform(NB_SCALAR, -2, 2);
    }
    return k;
}
static int maxmin_samples(nb_sample *s, int max) { return ext_samples(s, max, true, true); }
static int lse_samples(nb_sample *s, int max) { return ext_samples(s, max, false, true); }
static int var_samples(nb_sample *s, int max) { return ext_samples(s, max, false, false); }

static int sample_axes(const nb_sample *s, int *axes) {
    int na = 0;
    for (int i = 0; i < NB_MAX_DIMS; i++)
        if (s->iarg[0] >> i & 1) axes[na++] = i;
    return na;
}

#define EXT_ENTRY(NAME, CALL, SAMPLES)                                                        \
    static nb_tensor *NAME##_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) { \
        (void)nin;                                                                            \
        int axes[NB_MAX_DIMS], na = sample_axes(s, axes);                                     \
        nb_tensor *x = in[0];                                                                 \
        bool keep = s->iarg[1] != 0, unb = s->iarg[2] != 0;                                   \
        (void)unb;                                                                            \
        return CALL;                                                                          \
    }                                                                                         \
    const nb_op_entry nb_entry_##NAME = {#NAME, NAME##_entry_apply, SAMPLES, 0, 0};

EXT_ENTRY(max, nb_max(x, axes, na, keep), maxmin_samples)
EXT_ENTRY(min, nb_min(x, axes, na, keep), maxmin_samples)
EXT_ENTRY(logsumexp, nb_logsumexp(x, axes, na, keep), lse_samples)
EXT_ENTRY(var, nb_var(x, axes, na, unb, keep), var_samples)
EXT_ENTRY(std, nb_std(x, axes, na, unb, keep), var_samples)
