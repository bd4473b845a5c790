/* ops/index.c — gather, index_select, one_hot.
 *
 * Index tensors are NB_I64 and are checked in the builders (every index in
 * range) so the kernels never read out of bounds. Forward copies elements
 * (any dtype: moving labels around is allowed); backward scatter-ADDs the
 * gradient into the source positions, so an index that appears twice
 * receives the sum of both gradients, as in PyTorch. */
#include "../autograd/internal.h"
#include "grad_graph.h"

typedef struct {
    int axis;
} axis_attr;

/* prod(s.d[lo:hi]) */
static int64_t span(nb_shape s, int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= s.d[i];
    return p;
}

/* The first index outside [0, L); -1 when all are inside. */
static int64_t bad_index(const nb_tensor *idx, int64_t L) {
    const int64_t *I = nb_i64(idx);
    for (int64_t i = 0; i < idx->numel; i++)
        if (I[i] < 0 || I[i] >= L) return i;
    return -1;
}

/* ------------------------------------------------------------ gather */

/* Walks idx (shape is) in order: o is the flat position in idx/out and xo
 * the offset in x of the element it picks (x strides xs, axis replaced by
 * the index value). */
#define GATHER_LOOP(x_shape, is, axis, I, BODY)                                \
    do {                                                                       \
        const int nd_ = (is).ndim;                                             \
        int64_t xs_[NB_MAX_DIMS], cnt_[NB_MAX_DIMS] = {0}, st_ = 1, base_ = 0; \
        for (int d_ = nd_ - 1; d_ >= 0; d_--) {                                \
            xs_[d_] = st_;                                                     \
            st_ *= (x_shape).d[d_];                                            \
        }                                                                      \
        const int64_t total_ = nb_shape_numel(is);                             \
        for (int64_t o = 0; o < total_; o++) {                                 \
            const int64_t xo = base_ + (I)[o] * xs_[(axis)];                   \
            BODY for (int d_ = nd_ - 1; d_ >= 0; d_--) {                       \
                cnt_[d_]++;                                                    \
                if (d_ != (axis)) base_ += xs_[d_];                            \
                if (cnt_[d_] < (is).d[d_]) break;                              \
                if (d_ != (axis)) base_ -= xs_[d_] * (is).d[d_];               \
                cnt_[d_] = 0;                                                  \
            }                                                                  \
        }                                                                      \
    } while (0)

static void gather_fwd(nb_node *n) {
    const int axis = nb_attr(n, axis_attr)->axis;
    const nb_tensor *x = n->in[0], *idx = n->in[1];
    const int64_t *I = nb_i64(idx);
    COPY_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *O = (T *)n->out->data;
        GATHER_LOOP(x->shape, idx->shape, axis, I, { O[o] = X[xo]; });
    });
}

static void gather_bwd(nb_node *n, const nb_tensor *g) {
    const int axis = nb_attr(n, axis_attr)->axis;
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    const nb_tensor *idx = n->in[1];
    const int64_t *I = nb_i64(idx);
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        GATHER_LOOP(x->shape, idx->shape, axis, I, { GX[xo] += G[o]; });
    });
}

/* backward reads idx only (x's shape, not its values) */
GG_FN(gather);
static const nb_op gather_op = {"gather", gather_fwd, gather_bwd, NB_SAVES_IN(1), false, gather_bwg};

/* Common checks: x present, idx NB_I64. */
static bool check_x_idx(const char *op, const nb_tensor *x, const nb_tensor *idx) {
    if (!x || !idx) return false;
    /* idx is read before nb_apply (its range): a dead one stops here */
    if (!nb__alive(op, "x", -1, x) || !nb__alive(op, "idx", -1, idx)) return false;
    if (idx->dtype != NB_I64) {
        nb_fail(NB_ERR_DTYPE, op, "idx must be i64, it is %s", nb_dtype_name(idx->dtype));
        return false;
    }
    return true;
}

nb_tensor *nb_gather(nb_tensor *x, int axis, nb_tensor *idx) {
    if (!check_x_idx("gather", x, idx)) return NULL;
    char dx[NB_DESCRIBE_LEN], di[NB_DESCRIBE_LEN];
    int a = nb_norm_axis("gather", x, axis);
    if (a < 0) return NULL;
    if (idx->shape.ndim != x->shape.ndim) {
        nb_fail(NB_ERR_SHAPE, "gather", "idx must have x's rank (%d): %s, %s", x->shape.ndim,
                nb_describe(x, "x", dx, sizeof dx), nb_describe(idx, "idx", di, sizeof di));
        return NULL;
    }
    for (int d = 0; d < x->shape.ndim; d++)
        if (d != a && idx->shape.d[d] > x->shape.d[d]) {
            nb_fail(NB_ERR_SHAPE, "gather", "idx is larger than x along dim %d (only axis %d may differ): %s, %s", d, a,
                    nb_describe(x, "x", dx, sizeof dx), nb_describe(idx, "idx", di, sizeof di));
            return NULL;
        }
    int64_t bad = bad_index(idx, x->shape.d[a]);
    if (bad >= 0) {
        nb_fail(NB_ERR_ARG, "gather", "index %lld at position %lld is out of range [0,%lld) along axis %d: %s, %s",
                (long long)nb_i64(idx)[bad], (long long)bad, (long long)x->shape.d[a], a,
                nb_describe(x, "x", dx, sizeof dx), nb_describe(idx, "idx", di, sizeof di));
        return NULL;
    }
    axis_attr at = {a};
    nb_tensor *in[2] = {x, idx};
    return nb_apply_ex(&gather_op, in, 2, idx->shape, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ index_select */

static void index_select_fwd(nb_node *n) {
    const int axis = nb_attr(n, axis_attr)->axis;
    const nb_tensor *x = n->in[0], *idx = n->in[1];
    const int64_t *I = nb_i64(idx), K = idx->numel, L = x->shape.d[axis];
    const int64_t outer = span(x->shape, 0, axis), inner = span(x->shape, axis + 1, x->shape.ndim);
    const size_t es = nb_dtype_size(x->dtype);
    const char *X = x->data;
    char *O = n->out->data;
    for (int64_t o = 0; o < outer; o++) /* out (outer, K, inner) <- x (outer, L, inner) */
        for (int64_t j = 0; j < K; j++)
            memcpy(O + (size_t)((o * K + j) * inner) * es, X + (size_t)((o * L + I[j]) * inner) * es,
                   (size_t)inner * es);
}

static void index_select_bwd(nb_node *n, const nb_tensor *g) {
    const int axis = nb_attr(n, axis_attr)->axis;
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    const nb_tensor *idx = n->in[1];
    const int64_t *I = nb_i64(idx), K = idx->numel, L = x->shape.d[axis];
    const int64_t outer = span(x->shape, 0, axis), inner = span(x->shape, axis + 1, x->shape.ndim);
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < K; j++) {
                const T *gr = G + (o * K + j) * inner;
                T *gxr = GX + (o * L + I[j]) * inner;
                for (int64_t t = 0; t < inner; t++) gxr[t] += gr[t];
            }
    });
}

GG_FN(index_select);
static const nb_op index_select_op = {"index_select", index_select_fwd, index_select_bwd, NB_SAVES_IN(1),
                                      false,          index_select_bwg};

nb_tensor *nb_index_select(nb_tensor *x, int axis, nb_tensor *idx) {
    if (!check_x_idx("index_select", x, idx)) return NULL;
    char dx[NB_DESCRIBE_LEN], di[NB_DESCRIBE_LEN];
    int a = nb_norm_axis("index_select", x, axis);
    if (a < 0) return NULL;
    if (idx->shape.ndim != 1) {
        nb_fail(NB_ERR_SHAPE, "index_select", "idx must be 1-D: %s, %s", nb_describe(x, "x", dx, sizeof dx),
                nb_describe(idx, "idx", di, sizeof di));
        return NULL;
    }
    int64_t bad = bad_index(idx, x->shape.d[a]);
    if (bad >= 0) {
        nb_fail(NB_ERR_ARG, "index_select",
                "index %lld at position %lld is out of range [0,%lld) along axis %d: %s, %s",
                (long long)nb_i64(idx)[bad], (long long)bad, (long long)x->shape.d[a], a,
                nb_describe(x, "x", dx, sizeof dx), nb_describe(idx, "idx", di, sizeof di));
        return NULL;
    }
    nb_shape s = x->shape;
    s.d[a] = idx->shape.d[0];
    axis_attr at = {a};
    nb_tensor *in[2] = {x, idx};
    return nb_apply_ex(&index_select_op, in, 2, s, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ one_hot */

static void one_hot_fwd(nb_node *n) {
    const nb_tensor *lab = n->in[0];
    const int64_t *L = nb_i64(lab), C = n->out->shape.d[n->out->shape.ndim - 1];
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        T *O = (T *)n->out->data;
        memset(O, 0, (size_t)n->out->numel * sizeof(T));
        for (int64_t i = 0; i < lab->numel; i++) O[i * C + L[i]] = 1;
    });
}

/* no backward: the input is integer and never requires grad */
static const nb_op one_hot_op = {"one_hot", one_hot_fwd, NULL, NB_SAVES_NOTHING, false, NULL};

nb_tensor *nb_one_hot(nb_tensor *labels, int64_t num_classes, nb_dtype dt) {
    if (!labels || !nb__alive("one_hot", "labels", -1, labels)) return NULL;
    char d[NB_DESCRIBE_LEN];
    if (labels->dtype != NB_I64) {
        nb_fail(NB_ERR_DTYPE, "one_hot", "labels must be i64, they are %s (%s)", nb_dtype_name(labels->dtype),
                nb_describe(labels, "labels", d, sizeof d));
        return NULL;
    }
    if (dt != NB_F32 && dt != NB_F64) {
        nb_fail(NB_ERR_DTYPE, "one_hot", "output dtype must be f32 or f64, not %s", nb_dtype_name(dt));
        return NULL;
    }
    if (labels->shape.ndim >= NB_MAX_DIMS) {
        nb_fail(NB_ERR_SHAPE, "one_hot", "labels have %d dims; the output would exceed %d: %s", labels->shape.ndim,
                NB_MAX_DIMS, nb_describe(labels, "labels", d, sizeof d));
        return NULL;
    }
    if (num_classes == -1) { /* infer, as torch */
        num_classes = 0;
        for (int64_t i = 0; i < labels->numel; i++)
            if (nb_i64(labels)[i] >= num_classes && nb_i64(labels)[i] < INT64_MAX) num_classes = nb_i64(labels)[i] + 1;
    }
    if (num_classes <= 0) {
        nb_fail(NB_ERR_ARG, "one_hot", "num_classes must be > 0 (or -1 to infer), got %lld: %s", (long long)num_classes,
                nb_describe(labels, "labels", d, sizeof d));
        return NULL;
    }
    int64_t bad = bad_index(labels, num_classes);
    if (bad >= 0) {
        nb_fail(NB_ERR_ARG, "one_hot", "label %lld at position %lld is out of range [0,%lld): %s",
                (long long)nb_i64(labels)[bad], (long long)bad, (long long)num_classes,
                nb_describe(labels, "labels", d, sizeof d));
        return NULL;
    }
    nb_shape s = labels->shape;
    s.d[s.ndim++] = num_classes;
    return nb_apply_ex(&one_hot_op, &labels, 1, s, dt, NULL, 0);
}

/* ------------------------------------------------------------ registry */

/* i64 index tensor of shape s with entries in [0, L) from the seeded generator */
static nb_tensor *rand_idx(nb_shape s, int64_t L) {
    nb_tensor *t = nb_empty(NB_I64, s);
    for (int64_t i = 0; i < t->numel; i++) nb_i64(t)[i] = (int64_t)(nb_rand_u64() % (uint64_t)L);
    return t;
}

static nb_tensor *gather_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_gather(in[0], (int)s->iarg[0], in[1]);
}

static int gather_samples(nb_sample *s, int max) {
    int k = 0;
    if (k < max) { /* every row picks column 1 twice: the gradient there sums */
        static const int64_t I[] = {1, 1, 0, 3, 1, 2, 2, 2, 0, 3, 1, 1, 3, 0, 1};
        s[k] = (nb_sample){.desc = "(3,4) axis 1, idx (3,5) with repeats", .nin = 2, .iarg = {1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(3, 4), -2, 2);
        s[k].in[1] = nb_from_i64(NB_SHAPE(3, 5), I);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "(4,3) axis 0, idx (2,2) smaller", .nin = 2, .iarg = {0}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(4, 3), -2, 2);
        s[k].in[1] = rand_idx(NB_SHAPE(2, 2), 4);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "(2,3,5) axis -1, idx (2,3,2)", .nin = 2, .iarg = {-1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(2, 3, 5), -2, 2);
        s[k].in[1] = rand_idx(NB_SHAPE(2, 3, 2), 5);
        k++;
    }
    if (k < max) { /* picking the logit of each row's label, as a loss does */
        s[k] = (nb_sample){.desc = "batch of one (1,6) axis 1, idx (1,1)", .nin = 2, .iarg = {1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(1, 6), -2, 2);
        s[k].in[1] = rand_idx(NB_SHAPE(1, 1), 6);
        k++;
    }
    return k;
}

static nb_tensor *index_select_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_index_select(in[0], (int)s->iarg[0], in[1]);
}

static int index_select_samples(nb_sample *s, int max) {
    int k = 0;
    if (k < max) { /* an embedding lookup; row 4 is used three times */
        static const int64_t I[] = {4, 0, 4, 2, 4, 1};
        s[k] = (nb_sample){.desc = "embedding (5,3) rows [4,0,4,2,4,1]", .nin = 2, .iarg = {0}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(5, 3), -2, 2);
        s[k].in[1] = nb_from_i64(NB_SHAPE(6), I);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "(2,5,3) axis 1, 4 picks", .nin = 2, .iarg = {1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(2, 5, 3), -2, 2);
        s[k].in[1] = rand_idx(NB_SHAPE(4), 5);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "(3,4) axis -1, 7 picks", .nin = 2, .iarg = {-1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(3, 4), -2, 2);
        s[k].in[1] = rand_idx(NB_SHAPE(7), 4);
        k++;
    }
    if (k < max) {
        static const int64_t I[] = {3};
        s[k] = (nb_sample){.desc = "batch of one (1,4) axis 1, one pick", .nin = 2, .iarg = {1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(1, 4), -2, 2);
        s[k].in[1] = nb_from_i64(NB_SHAPE(1), I);
        k++;
    }
    return k;
}

/* one_hot has no gradient of its own; the entry checks its values through
 * one_hot(labels, C) * w, whose gradient with respect to w is the one-hot
 * matrix itself (torch: F.one_hot(labels, C).to(w.dtype) * w). */
static nb_tensor *one_hot_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_mul(nb_one_hot(in[0], s->iarg[0], in[1]->dtype), in[1]);
}

static int one_hot_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape lab, w;
        int64_t C;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(6), NB_SHAPE(6, 4), 4, "labels (6), C 4, w (6,4)"},
        {NB_SHAPE(1), NB_SHAPE(1, 3), 3, "batch of one, C 3"},
        {NB_SHAPE(5), NB_SHAPE(7), 7, "labels (5), C 7, w (7) broadcast"},
        {NB_SHAPE(2, 3), NB_SHAPE(2, 3, 2), 2, "labels (2,3), C 2"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 2, .iarg = {cases[i].C}};
        s[k].in[0] = rand_idx(cases[i].lab, cases[i].C);
        s[k].in[1] = nb_sample_uniform(cases[i].w, -2, 2);
    }
    return k;
}

const nb_op_entry nb_entry_gather = {"gather", gather_entry_apply, gather_samples, 0, 0};
const nb_op_entry nb_entry_index_select = {"index_select", index_select_entry_apply, index_select_samples, 0, 0};
const nb_op_entry nb_entry_one_hot = {"one_hot", one_hot_entry_apply, one_hot_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backwards */

/* Both are linear in x with idx held: the adjoint (a scatter-add by the
 * kernel backward) is an op whose own derivative is the gather again. */
NB_ADJOINT_OP(gather_adj, "gather_backward");
NB_ADJOINT_OP(index_select_adj, "index_select_backward");
GG_FN(gather) { gin[0] = nb__adjoint(&gather_adj, n, 0, 1u, 2, sizeof(axis_attr), g); }
GG_FN(index_select) { gin[0] = nb__adjoint(&index_select_adj, n, 0, 1u, 2, sizeof(axis_attr), g); }
