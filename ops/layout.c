/* ops/layout.c — concat, stack, slice, pad, expand (copies) and squeeze,
 * unsqueeze (views through nb_reshape).
 *
 * These ops only move data, so forward copies elements by size whatever the
 * dtype (labels may be concatenated or sliced too); backward, for float
 * inputs, adds each output gradient element back to the input element it
 * came from. */
#include "broadcast.h"
#include "../autograd/internal.h"
#include "grad_graph.h"

static int64_t span(nb_shape s, int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= s.d[i];
    return p;
}

/* ------------------------------------------------------------ concat and stack */

/* Both are one kernel: seen as (outer, row) with outer = prod(out[:axis]),
 * the output row is the inputs' rows one after the other, input i giving
 * numel_i / outer elements (its part along axis times the inner size; for
 * stack, its part along the new axis is 1). attr: the axis in the output. */
typedef struct {
    int axis;
} cat_attr;

static void cat_fwd(nb_node *n) {
    const int axis = nb_attr(n, cat_attr)->axis;
    const int64_t outer = span(n->out->shape, 0, axis);
    if (outer == 0) return;
    const int64_t row = n->out->numel / outer;
    const size_t es = nb_dtype_size(n->out->dtype);
    char *O = n->out->data;
    int64_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        const int64_t chunk = n->in[i]->numel / outer;
        const char *X = n->in[i]->data;
        for (int64_t o = 0; o < outer; o++)
            memcpy(O + (size_t)(o * row + off) * es, X + (size_t)(o * chunk) * es, (size_t)chunk * es);
        off += chunk;
    }
}

static void cat_bwd(nb_node *n, const nb_tensor *g) {
    const int axis = nb_attr(n, cat_attr)->axis;
    const int64_t outer = span(n->out->shape, 0, axis);
    if (outer == 0) return;
    const int64_t row = n->out->numel / outer;
    int64_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        const int64_t chunk = n->in[i]->numel / outer;
        nb_tensor *gxt = nb_grad_buf(n->in[i]);
        if (gxt) {
            NB_FLOAT_DISPATCH(g->dtype, T, {
                const T *G = (const T *)g->data;
                T *GX = (T *)gxt->data;
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t t = 0; t < chunk; t++) GX[o * chunk + t] += G[o * row + off + t];
            });
        }
        off += chunk;
    }
}

GG_FN(cat);
static const nb_op concat_op = {"concat", cat_fwd, cat_bwd, NB_SAVES_NOTHING, false, cat_bwg};
static const nb_op stack_op = {"stack", cat_fwd, cat_bwd, NB_SAVES_NOTHING, false, cat_bwg};

/* n >= 1, the list is there, every input present, one dtype. false: fail
 * reported (or a NULL input, silently). */
static bool check_list(const char *op, nb_tensor *const *ts, int n) {
    if (n < 1 || !ts) {
        nb_fail(NB_ERR_ARG, op, "needs at least one tensor (n = %d%s)", n, ts ? "" : ", list NULL");
        return false;
    }
    for (int i = 0; i < n; i++)
        if (!ts[i]) return false; /* an earlier error, already kept */
    for (int i = 1; i < n; i++)
        if (ts[i]->dtype != ts[0]->dtype) {
            nb_fail(NB_ERR_DTYPE, op, "dtypes differ: ts[0] is %s, ts[%d] is %s (use nb_cast)",
                    nb_dtype_name(ts[0]->dtype), i, nb_dtype_name(ts[i]->dtype));
            return false;
        }
    return true;
}

nb_tensor *nb_concat(nb_tensor *const *ts, int n, int axis) {
    if (!check_list("concat", ts, n)) return NULL;
    char d0[NB_DESCRIBE_LEN], di[NB_DESCRIBE_LEN];
    if (ts[0]->shape.ndim == 0) {
        nb_fail(NB_ERR_SHAPE, "concat", "can't concatenate 0-d tensors (use nb_stack): %s",
                nb_describe(ts[0], "ts[0]", d0, sizeof d0));
        return NULL;
    }
    int a = nb_norm_axis("concat", ts[0], axis);
    if (a < 0) return NULL;
    nb_shape s = ts[0]->shape;
    for (int i = 1; i < n; i++) {
        const nb_shape si = ts[i]->shape;
        bool ok = si.ndim == s.ndim;
        for (int k = 0; ok && k < s.ndim; k++) ok = k == a || si.d[k] == s.d[k];
        if (!ok) {
            char name[24];
            snprintf(name, sizeof name, "ts[%d]", i);
            nb_fail(NB_ERR_SHAPE, "concat", "shapes must match except along axis %d: %s, %s", a,
                    nb_describe(ts[0], "ts[0]", d0, sizeof d0), nb_describe(ts[i], name, di, sizeof di));
            return NULL;
        }
        if (!nb__size_add(s.d[a], si.d[a], &s.d[a])) {
            nb_fail(NB_ERR_SHAPE, "concat",
                    "the sizes along axis %d add up to more elements than any memory holds "
                    "(at ts[%d])",
                    a, i);
            return NULL;
        }
    }
    cat_attr at = {a};
    return nb_apply_ex(&concat_op, ts, n, s, ts[0]->dtype, &at, sizeof at);
}

nb_tensor *nb_stack(nb_tensor *const *ts, int n, int axis) {
    if (!check_list("stack", ts, n)) return NULL;
    char d0[NB_DESCRIBE_LEN], di[NB_DESCRIBE_LEN];
    const int nd = ts[0]->shape.ndim;
    if (axis < -(nd + 1) || axis > nd) {
        nb_fail(NB_ERR_AXIS, "stack", "axis %d is out of range [%d,%d] for stacking %d-d tensors: %s", axis, -(nd + 1),
                nd, nd, nb_describe(ts[0], "ts[0]", d0, sizeof d0));
        return NULL;
    }
    if (nd + 1 > NB_MAX_DIMS) {
        nb_fail(NB_ERR_SHAPE, "stack", "the result would have %d dims (at most %d): %s", nd + 1, NB_MAX_DIMS,
                nb_describe(ts[0], "ts[0]", d0, sizeof d0));
        return NULL;
    }
    const int a = axis < 0 ? axis + nd + 1 : axis;
    for (int i = 1; i < n; i++)
        if (!nb_shape_eq(ts[i]->shape, ts[0]->shape)) {
            char name[24];
            snprintf(name, sizeof name, "ts[%d]", i);
            nb_fail(NB_ERR_SHAPE, "stack", "all tensors must have one shape: %s, %s",
                    nb_describe(ts[0], "ts[0]", d0, sizeof d0), nb_describe(ts[i], name, di, sizeof di));
            return NULL;
        }
    nb_shape s = {.ndim = nd + 1};
    for (int k = 0, j = 0; k < nd + 1; k++) s.d[k] = k == a ? n : ts[0]->shape.d[j++];
    cat_attr at = {a};
    return nb_apply_ex(&stack_op, ts, n, s, ts[0]->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ slice */

typedef struct {
    int axis;
    int64_t start, step;
} slice_attr;

static void slice_fwd(nb_node *n) {
    const slice_attr *at = nb_attr(n, slice_attr);
    const nb_tensor *x = n->in[0];
    const int64_t outer = span(x->shape, 0, at->axis), inner = span(x->shape, at->axis + 1, x->shape.ndim);
    const int64_t L = x->shape.d[at->axis], M = n->out->shape.d[at->axis];
    const size_t es = nb_dtype_size(x->dtype);
    const char *X = x->data;
    char *O = n->out->data;
    for (int64_t o = 0; o < outer; o++) /* out (outer, M, inner) <- x (outer, L, inner) */
        for (int64_t j = 0; j < M; j++)
            memcpy(O + (size_t)((o * M + j) * inner) * es,
                   X + (size_t)((o * L + at->start + j * at->step) * inner) * es, (size_t)inner * es);
}

static void slice_bwd(nb_node *n, const nb_tensor *g) {
    const slice_attr *at = nb_attr(n, slice_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    const int64_t outer = span(x->shape, 0, at->axis), inner = span(x->shape, at->axis + 1, x->shape.ndim);
    const int64_t L = x->shape.d[at->axis], M = n->out->shape.d[at->axis];
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < M; j++) {
                const T *gr = G + (o * M + j) * inner;
                T *gxr = GX + (o * L + at->start + j * at->step) * inner;
                for (int64_t t = 0; t < inner; t++) gxr[t] += gr[t];
            }
    });
}

GG_FN(slice);
static const nb_op slice_op = {"slice", slice_fwd, slice_bwd, NB_SAVES_NOTHING, false, slice_bwg};

/* Python's rule for one slice bound: negative counts from the end, then clamp. */
static int64_t clamp_bound(int64_t v, int64_t L) {
    if (v < 0) {
        v += L;
        if (v < 0) v = 0;
    }
    return v > L ? L : v;
}

nb_tensor *nb_slice(nb_tensor *x, int axis, int64_t start, int64_t stop, int64_t step) {
    if (!x) return NULL;
    char d[NB_DESCRIBE_LEN];
    int a = nb_norm_axis("slice", x, axis);
    if (a < 0) return NULL;
    if (step <= 0) {
        nb_fail(NB_ERR_ARG, "slice", "step must be > 0, got %lld (axis %d): %s", (long long)step, a,
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    const int64_t L = x->shape.d[a];
    const int64_t b = clamp_bound(start, L), e = clamp_bound(stop, L);
    nb_shape s = x->shape;
    s.d[a] = e > b ? (e - b - 1) / step + 1 : 0; /* ceil((e-b)/step) without overflow for any step */
    slice_attr at = {a, b, step};
    return nb_apply_ex(&slice_op, &x, 1, s, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ pad */

typedef struct {
    int64_t before[NB_MAX_DIMS];
    double value;
} pad_attr;

/* Walks x row by row (a row = its last dim; a 0-d x is one row of 1):
 * xo and oo are the row's offsets in x and in the padded output. */
#define PAD_ROWS(xs, os, before, BODY)                                       \
    do {                                                                     \
        const int nd_ = (xs).ndim;                                           \
        const int64_t last = nd_ ? (xs).d[nd_ - 1] : 1;                      \
        int64_t ost_[NB_MAX_DIMS], cnt_[NB_MAX_DIMS] = {0}, st_ = 1, oo = 0; \
        for (int d_ = nd_ - 1; d_ >= 0; d_--) {                              \
            ost_[d_] = st_;                                                  \
            st_ *= (os).d[d_];                                               \
        }                                                                    \
        for (int d_ = 0; d_ < nd_; d_++) oo += (before)[d_] * ost_[d_];      \
        const int64_t rows_ = last ? nb_shape_numel(xs) / last : 0;          \
        for (int64_t r_ = 0, xo = 0; r_ < rows_; r_++, xo += last) {         \
            BODY for (int d_ = nd_ - 2; d_ >= 0; d_--) {                     \
                cnt_[d_]++;                                                  \
                oo += ost_[d_];                                              \
                if (cnt_[d_] < (xs).d[d_]) break;                            \
                oo -= ost_[d_] * (xs).d[d_];                                 \
                cnt_[d_] = 0;                                                \
            }                                                                \
        }                                                                    \
    } while (0)

static void pad_fwd(nb_node *n) {
    const pad_attr *at = nb_attr(n, pad_attr);
    const nb_tensor *x = n->in[0];
    nb_tensor *out = n->out;
    switch (out->dtype) {
    case NB_F32:
        for (int64_t i = 0; i < out->numel; i++) nb_f32(out)[i] = (float)at->value;
        break;
    case NB_F64:
        for (int64_t i = 0; i < out->numel; i++) nb_f64(out)[i] = at->value;
        break;
    case NB_I64:
        for (int64_t i = 0; i < out->numel; i++) nb_i64(out)[i] = (int64_t)at->value;
        break;
    }
    const size_t es = nb_dtype_size(x->dtype);
    const char *X = x->data;
    char *O = out->data;
    PAD_ROWS(x->shape, out->shape, at->before,
             { memcpy(O + (size_t)oo * es, X + (size_t)xo * es, (size_t)last * es); });
}

static void pad_bwd(nb_node *n, const nb_tensor *g) {
    const pad_attr *at = nb_attr(n, pad_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        PAD_ROWS(x->shape, n->out->shape, at->before, {
            for (int64_t t = 0; t < last; t++) GX[xo + t] += G[oo + t];
        });
    });
}

GG_FN(pad);
static const nb_op pad_op = {"pad", pad_fwd, pad_bwd, NB_SAVES_NOTHING, false, pad_bwg};

nb_tensor *nb_pad(nb_tensor *x, const int64_t *pads, int npads, double value) {
    if (!x) return NULL;
    char d[NB_DESCRIBE_LEN];
    const int nd = x->shape.ndim;
    if (npads != 2 * nd || (npads > 0 && !pads)) {
        nb_fail(NB_ERR_ARG, "pad", "needs 2*ndim = %d pad sizes (before/after per dim), got %d%s: %s", 2 * nd, npads,
                pads ? "" : " (NULL list)", nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    pad_attr at = {{0}, value};
    nb_shape s = x->shape;
    for (int i = 0; i < nd; i++) {
        if (pads[2 * i] < 0 || pads[2 * i + 1] < 0) {
            nb_fail(NB_ERR_ARG, "pad", "pad sizes must be >= 0, dim %d has (%lld,%lld): %s", i, (long long)pads[2 * i],
                    (long long)pads[2 * i + 1], nb_describe(x, "x", d, sizeof d));
            return NULL;
        }
        at.before[i] = pads[2 * i];
        if (!nb__size_add(s.d[i], pads[2 * i], &s.d[i]) || !nb__size_add(s.d[i], pads[2 * i + 1], &s.d[i])) {
            nb_fail(NB_ERR_SHAPE, "pad", "dim %d padded by (%lld,%lld) has more elements than any memory holds: %s", i,
                    (long long)pads[2 * i], (long long)pads[2 * i + 1], nb_describe(x, "x", d, sizeof d));
            return NULL;
        }
    }
    return nb_apply_ex(&pad_op, &x, 1, s, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ expand */

static void expand_fwd(nb_node *n) {
    const nb_tensor *x = n->in[0];
    nb_bc bc;
    nb_bc_init(&bc, n->out->shape, x->shape, x->shape);
    COPY_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *O = (T *)n->out->data;
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++) O[oo + j] = X[oa + j * sa];
        });
    });
}

static void expand_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    nb_bc bc;
    nb_bc_init(&bc, n->out->shape, x->shape, x->shape);
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++) GX[oa + j * sa] += G[oo + j];
        });
    });
}

GG_FN(expand);
static const nb_op expand_op = {"expand", expand_fwd, expand_bwd, NB_SAVES_NOTHING, false, expand_bwg};

nb_tensor *nb_expand(nb_tensor *x, nb_shape s) {
    if (!x) return NULL;
    char d[NB_DESCRIBE_LEN], sh[NB_SHAPE_STRLEN];
    if (s.ndim < 0 || s.ndim > NB_MAX_DIMS) {
        nb_fail(NB_ERR_SHAPE, "expand", "target has %d dims (0..%d allowed): %s", s.ndim, NB_MAX_DIMS,
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    const int lead = s.ndim - x->shape.ndim;
    if (lead < 0) {
        nb_fail(NB_ERR_SHAPE, "expand", "target %s has fewer dims than %s",
                s.ndim > NB_MAX_DIMS ? "(too many dims)" : nb_shape_str(s, sh, sizeof sh),
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    nb_shape t = s;
    for (int i = 0; i < s.ndim; i++) {
        const int j = i - lead;
        const int64_t xd = j >= 0 ? x->shape.d[j] : 1;
        if (j >= 0 && s.d[i] == -1) t.d[i] = xd;
        else if (s.d[i] < 0 || (xd != 1 && xd != s.d[i])) {
            nb_fail(NB_ERR_SHAPE, "expand", "%s, which can't be broadcast to %s (dim %d: %lld to %lld)",
                    nb_describe(x, "x", d, sizeof d), nb_shape_str(s, sh, sizeof sh), i, (long long)xd,
                    (long long)s.d[i]);
            return NULL;
        }
    }
    return nb_apply_ex(&expand_op, &x, 1, t, x->dtype, NULL, 0);
}

/* ------------------------------------------------------------ squeeze, unsqueeze: views */

nb_tensor *nb_squeeze(nb_tensor *x, int axis) {
    if (!x) return NULL;
    int a = nb_norm_axis("squeeze", x, axis);
    if (a < 0) return NULL;
    if (x->shape.d[a] != 1) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_SHAPE, "squeeze", "axis %d has size %lld, not 1: %s", axis, (long long)x->shape.d[a],
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    nb_shape s = {.ndim = x->shape.ndim - 1};
    for (int i = 0, j = 0; i < x->shape.ndim; i++)
        if (i != a) s.d[j++] = x->shape.d[i];
    return nb_reshape(x, s);
}

nb_tensor *nb_unsqueeze(nb_tensor *x, int axis) {
    if (!x) return NULL;
    char d[NB_DESCRIBE_LEN];
    const int nd = x->shape.ndim;
    if (axis < -(nd + 1) || axis > nd) {
        nb_fail(NB_ERR_AXIS, "unsqueeze", "axis %d is out of range [%d,%d]: %s", axis, -(nd + 1), nd,
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    if (nd + 1 > NB_MAX_DIMS) {
        nb_fail(NB_ERR_SHAPE, "unsqueeze", "the result would have %d dims (at most %d): %s", nd + 1, NB_MAX_DIMS,
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    const int a = axis < 0 ? axis + nd + 1 : axis;
    nb_shape s = {.ndim = nd + 1};
    for (int k = 0, j = 0; k < nd + 1; k++) s.d[k] = k == a ? 1 : x->shape.d[j++];
    return nb_reshape(x, s);
}

/* ------------------------------------------------------------ registry */

/* iarg[0] = axis for concat and stack */
static nb_tensor *concat_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    return nb_concat(in, nin, (int)s->iarg[0]);
}

static int concat_samples(nb_sample *s, int max) {
    static const struct {
        int n;
        nb_shape sh[6];
        int axis;
        const char *desc;
        bool first_const;
    } cases[] = {
        {2, {NB_SHAPE(2, 3), NB_SHAPE(4, 3)}, 0, "(2,3)+(4,3) axis 0", false},
        {3, {NB_SHAPE(2, 1), NB_SHAPE(2, 3), NB_SHAPE(2, 2)}, 1, "three along axis 1", false},
        {2, {NB_SHAPE(2, 3, 2), NB_SHAPE(2, 3, 1)}, -1, "3-D axis -1", false},
        {6,
         {NB_SHAPE(1, 2), NB_SHAPE(2, 2), NB_SHAPE(1, 2), NB_SHAPE(3, 2), NB_SHAPE(1, 2), NB_SHAPE(2, 2)},
         0,
         "six inputs (more than a node holds inline)",
         false},
        {1, {NB_SHAPE(3, 2)}, 1, "a single input", false},
        {3, {NB_SHAPE(1, 2, 2), NB_SHAPE(1, 1, 2), NB_SHAPE(1, 3, 2)}, 1, "batch of one, first needs no grad", true},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = cases[c].n, .iarg = {cases[c].axis}};
        for (int i = 0; i < cases[c].n; i++) s[k].in[i] = nb_sample_uniform(cases[c].sh[i], -2, 2);
        if (cases[c].first_const) nb_set_requires_grad(s[k].in[0], false);
    }
    return k;
}

static nb_tensor *stack_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    return nb_stack(in, nin, (int)s->iarg[0]);
}

static int stack_samples(nb_sample *s, int max) {
    static const struct {
        int n;
        nb_shape sh;
        int axis;
        const char *desc;
    } cases[] = {
        {3, NB_SHAPE(2, 3), 0, "three (2,3) on axis 0"},  {2, NB_SHAPE(2, 3), 2, "two (2,3) on a new last axis"},
        {2, NB_SHAPE(3, 1, 2), -2, "(3,1,2) on axis -2"}, {5, NB_SHAPE(4), 1, "five (4) on axis 1 (more than inline)"},
        {3, NB_SCALAR, 0, "three scalars into a vector"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = cases[c].n, .iarg = {cases[c].axis}};
        for (int i = 0; i < cases[c].n; i++) s[k].in[i] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg = axis, start, stop, step */
static nb_tensor *slice_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_slice(in[0], (int)s->iarg[0], s->iarg[1], s->iarg[2], s->iarg[3]);
}

static int slice_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t a[4];
        const char *desc;
    } cases[] = {
        {NB_SHAPE(5, 4), {0, 1, 4, 1}, "(5,4) axis 0 [1:4]"},
        {NB_SHAPE(3, 7), {1, -5, 100, 2}, "(3,7) axis 1 [-5:100:2], stop clamped"},
        {NB_SHAPE(2, 3, 6), {-1, 0, 6, 3}, "(2,3,6) axis -1 [::3]"},
        {NB_SHAPE(1, 5), {0, 0, 1, 1}, "batch of one, axis 0 [0:1]"},
        {NB_SHAPE(4, 3, 2), {1, -100, -1, 1}, "(4,3,2) axis 1 [-100:-1], start clamped"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){
            .desc = cases[c].desc, .nin = 1, .iarg = {cases[c].a[0], cases[c].a[1], cases[c].a[2], cases[c].a[3]}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg = the 2*ndim pads (dim 0 first), farg[0] = value */
static nb_tensor *pad_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_pad(in[0], s->iarg, 2 * in[0]->shape.ndim, s->farg[0]);
}

static int pad_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t p[8];
        double v;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(2, 3), {1, 0, 2, 1}, 0.5, "(2,3) pads (1,0,2,1) value 0.5"},
        {NB_SHAPE(3), {0, 2}, -1, "(3) pads (0,2) value -1"},
        {NB_SHAPE(1, 2, 3), {0, 0, 1, 1, 0, 2}, 0, "batch of one (1,2,3), zero pad"},
        {NB_SHAPE(2, 2), {0, 0, 0, 0}, 3, "no padding"},
        {NB_SHAPE(2, 1, 2, 2), {1, 1, 0, 0, 2, 0, 0, 1}, 0, "4-D (2,1,2,2)"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .farg = {cases[c].v}};
        for (int i = 0; i < 8; i++) s[k].iarg[i] = cases[c].p[i];
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg[0] = target ndim, iarg[1..] = target dims */
static nb_tensor *expand_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    nb_shape t = {.ndim = (int)s->iarg[0]};
    for (int i = 0; i < t.ndim && i < 7; i++) t.d[i] = s->iarg[1 + i];
    return nb_expand(in[0], t);
}

static int expand_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t t[8];
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 1), {2, 3, 4}, "(3,1) to (3,4)"},      {NB_SHAPE(4), {3, 2, 3, 4}, "(4) to (2,3,4)"},
        {NB_SHAPE(1, 1), {3, 2, 1, 5}, "(1,1) to (2,1,5)"}, {NB_SCALAR, {2, 2, 3}, "scalar to (2,3)"},
        {NB_SHAPE(3, 1), {2, -1, 4}, "(3,1) to (-1,4)"},    {NB_SHAPE(2, 3), {2, 2, 3}, "same shape"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1};
        for (int i = 0; i < 8; i++) s[k].iarg[i] = cases[c].t[i];
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg[0] = axis */
static nb_tensor *squeeze_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_squeeze(in[0], (int)s->iarg[0]);
}

static int squeeze_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int axis;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 1, 4), 1, "(3,1,4) axis 1"},
        {NB_SHAPE(1, 5), 0, "(1,5) axis 0"},
        {NB_SHAPE(2, 1), -1, "(2,1) axis -1"},
        {NB_SHAPE(1), 0, "(1) to a scalar"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].axis}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

static nb_tensor *unsqueeze_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_unsqueeze(in[0], (int)s->iarg[0]);
}

static int unsqueeze_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int axis;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 4), 0, "(3,4) axis 0"},
        {NB_SHAPE(3, 4), 2, "(3,4) axis 2 (the end)"},
        {NB_SHAPE(2, 3), -1, "(2,3) axis -1"},
        {NB_SCALAR, 0, "scalar to (1)"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].axis}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

const nb_op_entry nb_entry_concat = {"concat", concat_entry_apply, concat_samples, 0, 0};
const nb_op_entry nb_entry_stack = {"stack", stack_entry_apply, stack_samples, 0, 0};
const nb_op_entry nb_entry_slice = {"slice", slice_entry_apply, slice_samples, 0, 0};
const nb_op_entry nb_entry_pad = {"pad", pad_entry_apply, pad_samples, 0, 0};
const nb_op_entry nb_entry_expand = {"expand", expand_entry_apply, expand_samples, 0, 0};
const nb_op_entry nb_entry_squeeze = {"squeeze", squeeze_entry_apply, squeeze_samples, 0, 0};
const nb_op_entry nb_entry_unsqueeze = {"unsqueeze", unsqueeze_entry_apply, unsqueeze_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backwards */

/* concat: each input's part of g (a slice); stack: its slice with the new
 * axis dropped */
GG_FN(cat) {
    const int axis = nb_attr(n, cat_attr)->axis;
    const bool stack = n->op == &stack_op;
    int64_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        const int64_t len = stack ? 1 : n->in[i]->shape.d[axis];
        if (GG_NEED(i)) {
            nb_tensor *part = nb_slice(g, axis, off, off + len, 1);
            gin[i] = stack ? nb_reshape(part, n->in[i]->shape) : part;
        }
        off += len;
    }
}

/* slice: g scattered back into zeros: step s > 1 spreads g with s − 1 zeros
 * after each element (unsqueeze, pad, reshape), then pads before start and
 * after the end (all ops with their own differentiable backward) */
GG_FN(slice) {
    const slice_attr *at = nb_attr(n, slice_attr);
    const nb_tensor *x = n->in[0];
    const int a = at->axis, nd = x->shape.ndim;
    const int64_t L = x->shape.d[a], M = n->out->shape.d[a], s = at->step;
    nb_tensor *t = g;
    int64_t len = M;
    if (s > 1 && M > 0) {
        nb_shape us = g->shape; /* (..., M, 1, ...) */
        for (int i = nd; i > a + 1; i--) us.d[i] = us.d[i - 1];
        us.d[a + 1] = 1;
        us.ndim = nd + 1;
        int64_t pads[2 * NB_MAX_DIMS] = {0};
        pads[2 * (a + 1) + 1] = s - 1;
        t = nb_pad(nb_reshape(g, us), pads, 2 * (nd + 1), 0);
        nb_shape ms = g->shape;
        ms.d[a] = M * s;
        t = nb_reshape(t, ms);
        len = M * s;
        if (len > L - at->start) {
            t = nb_slice(t, a, 0, L - at->start, 1);
            len = L - at->start;
        }
    }
    int64_t pads[2 * NB_MAX_DIMS] = {0};
    pads[2 * a] = at->start;
    pads[2 * a + 1] = L - at->start - len;
    gin[0] = nb_pad(t, pads, 2 * nd, 0);
}

/* pad: the part of g inside the padding, one slice per padded dim */
GG_FN(pad) {
    const pad_attr *at = nb_attr(n, pad_attr);
    const nb_tensor *x = n->in[0];
    nb_tensor *t = g;
    for (int i = 0; i < x->shape.ndim; i++)
        if (g->shape.d[i] != x->shape.d[i]) t = nb_slice(t, i, at->before[i], at->before[i] + x->shape.d[i], 1);
    gin[0] = t;
}

/* expand: g summed back to x's shape */
GG_FN(expand) { gin[0] = nb_sum_to(g, n->in[0]->shape); }
