/* ops/shape.c — reshape/flatten (views), permute/transpose (copies), cast. */
#include "../autograd/internal.h"
#include "kernels/vmath.h"
#include "grad_graph.h"

/* ------------------------------------------------------------ reshape: a view */

static void reshape_fwd(nb_node *n) { (void)n; /* the output shares the input's data */ }

/* gx += g (a new gx is g's copy), long gradients split between threads */
static void reshape_bwd(nb_node *n, const nb_tensor *g) { nb__grad_accum(n->in[0], g); }

GG_FN(reshape);
static const nb_op reshape_op = {"reshape", reshape_fwd, reshape_bwd, NB_SAVES_NOTHING, true, reshape_bwg};

nb_tensor *nb_reshape(nb_tensor *x, nb_shape s) {
    if (!x) return NULL;
    char d[NB_DESCRIBE_LEN], sh[NB_SHAPE_STRLEN];
    int infer = -1;
    int64_t known = 1;
    if (s.ndim < 0 || s.ndim > NB_MAX_DIMS) {
        nb_fail(NB_ERR_SHAPE, "reshape", "target has %d dims (0..%d allowed)", s.ndim, NB_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < s.ndim; i++) {
        if (s.d[i] == -1 && infer < 0) infer = i;
        else if (s.d[i] < 0) {
            nb_fail(NB_ERR_SHAPE, "reshape", "bad target %s for %s (one -1 at most, others >= 0)",
                    nb_shape_str(s, sh, sizeof sh), nb_describe(x, "x", d, sizeof d));
            return NULL;
        } else if (!nb__size_mul(known, s.d[i], &known)) {
            nb_fail(NB_ERR_SHAPE, "reshape", "target %s has more elements than any memory holds, %s has %lld",
                    nb_shape_str(s, sh, sizeof sh), nb_describe(x, "x", d, sizeof d), (long long)x->numel);
            return NULL;
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known) {
            nb_fail(NB_ERR_SHAPE, "reshape", "can't infer -1 in %s for %s", nb_shape_str(s, sh, sizeof sh),
                    nb_describe(x, "x", d, sizeof d));
            return NULL;
        }
        s.d[infer] = x->numel / known;
        known *= s.d[infer];
    }
    if (known != x->numel) {
        nb_fail(NB_ERR_SHAPE, "reshape", "%s, %lld elements; the target %s has %lld", nb_describe(x, "x", d, sizeof d),
                (long long)x->numel, nb_shape_str(s, sh, sizeof sh), (long long)known);
        return NULL;
    }
    if (!nb__is_float(x->dtype)) { /* indices: a plain view, nothing to record */
        nb_tensor *v = nb__tensor_view(x, s, nb_scope_current());
        return v;
    }
    return nb_apply(&reshape_op, &x, 1, s);
}

nb_tensor *nb_flatten(nb_tensor *x, int start, int end) {
    if (!x) return NULL;
    if (x->shape.ndim == 0) return nb_reshape(x, NB_SHAPE(1));
    int a = nb_norm_axis("flatten", x, start), b = nb_norm_axis("flatten", x, end);
    if (a < 0 || b < 0) return NULL;
    if (a > b) {
        nb_fail(NB_ERR_AXIS, "flatten", "start axis %d comes after end axis %d", start, end);
        return NULL;
    }
    nb_shape s = {0};
    for (int i = 0; i < x->shape.ndim; i++) {
        if (i <= a || i > b) s.d[s.ndim++] = x->shape.d[i];
        else s.d[s.ndim - 1] *= x->shape.d[i];
    }
    return nb_reshape(x, s);
}

/* ------------------------------------------------------------ permute: a copy */

typedef struct {
    int perm[NB_MAX_DIMS];
} perm_attr;

/* Copies src (shape in) to dst permuted by perm, or, with add, adds src back
 * through the inverse (backward). Walks the output in order. */
#define PERMUTE_LOOP(T, SRC, DST, in_shape, perm, nd, INVERSE)                                  \
    do {                                                                                        \
        int64_t st_in[NB_MAX_DIMS], st[NB_MAX_DIMS], dims[NB_MAX_DIMS], idx[NB_MAX_DIMS] = {0}; \
        int64_t s_ = 1, total = 1;                                                              \
        for (int i = (nd)-1; i >= 0; i--) {                                                     \
            st_in[i] = s_;                                                                      \
            s_ *= (in_shape).d[i];                                                              \
        }                                                                                       \
        for (int i = 0; i < (nd); i++) {                                                        \
            dims[i] = (in_shape).d[(perm)[i]];                                                  \
            st[i] = st_in[(perm)[i]];                                                           \
            total *= dims[i];                                                                   \
        }                                                                                       \
        int64_t off = 0;                                                                        \
        for (int64_t o = 0; o < total; o++) {                                                   \
            if (INVERSE) (DST)[off] += (SRC)[o];                                                \
            else (DST)[o] = (SRC)[off];                                                         \
            for (int d = (nd)-1; d >= 0; d--) {                                                 \
                idx[d]++;                                                                       \
                off += st[d];                                                                   \
                if (idx[d] < dims[d]) break;                                                    \
                off -= st[d] * dims[d];                                                         \
                idx[d] = 0;                                                                     \
            }                                                                                   \
        }                                                                                       \
    } while (0)

static void permute_fwd(nb_node *n) {
    const perm_attr *at = nb_attr(n, perm_attr);
    const nb_tensor *x = n->in[0];
    NB_FLOAT_DISPATCH(
        x->dtype, T, { PERMUTE_LOOP(T, (const T *)x->data, (T *)n->out->data, x->shape, at->perm, x->shape.ndim, 0); });
}

static void permute_bwd(nb_node *n, const nb_tensor *g) {
    const perm_attr *at = nb_attr(n, perm_attr);
    nb_tensor *x = n->in[0], *gx = nb_grad_buf(x);
    if (!gx) return;
    NB_FLOAT_DISPATCH(x->dtype, T,
                      { PERMUTE_LOOP(T, (const T *)g->data, (T *)gx->data, x->shape, at->perm, x->shape.ndim, 1); });
}

GG_FN(permute);
static const nb_op permute_op = {"permute", permute_fwd, permute_bwd, NB_SAVES_NOTHING, false, permute_bwg};

nb_tensor *nb_permute(nb_tensor *x, const int *perm, int nperm) {
    if (!nb_check_float_inputs("permute", &x, 1)) return NULL;
    char d[NB_DESCRIBE_LEN];
    if (nperm != x->shape.ndim || (nperm > 0 && !perm)) {
        nb_fail(NB_ERR_AXIS, "permute", "needs %d axes, got %d: %s", x->shape.ndim, nperm,
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    perm_attr at = {{0}};
    uint32_t seen = 0;
    nb_shape s = {.ndim = nperm};
    for (int i = 0; i < nperm; i++) {
        int a = nb_norm_axis("permute", x, perm[i]);
        if (a < 0) return NULL;
        if (seen >> a & 1u) {
            nb_fail(NB_ERR_AXIS, "permute", "axis %d appears twice in the permutation", perm[i]);
            return NULL;
        }
        seen |= 1u << a;
        at.perm[i] = a;
        s.d[i] = x->shape.d[a];
    }
    return nb_apply_ex(&permute_op, &x, 1, s, x->dtype, &at, sizeof at);
}

nb_tensor *nb_transpose(nb_tensor *x, int d0, int d1) {
    if (!nb_check_float_inputs("transpose", &x, 1)) return NULL;
    int a = nb_norm_axis("transpose", x, d0), b = nb_norm_axis("transpose", x, d1);
    if (a < 0 || b < 0) return NULL;
    int perm[NB_MAX_DIMS];
    for (int i = 0; i < x->shape.ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return nb_permute(x, perm, x->shape.ndim);
}

/* ------------------------------------------------------------ cast */

static void cast_fwd(nb_node *n) {
    const nb_tensor *x = n->in[0];
    for (int64_t i = 0; i < x->numel; i++) {
        double v = nb_get(x, i);
        if (n->out->dtype == NB_F32) nb_f32(n->out)[i] = (float)v;
        else if (n->out->dtype == NB_F64) nb_f64(n->out)[i] = v;
        else nb_i64(n->out)[i] = (int64_t)v;
    }
}

static void cast_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    NB_FLOAT_DISPATCH(gx->dtype, T, {
        T *GX = (T *)gx->data;
        for (int64_t i = 0; i < g->numel; i++) GX[i] += (T)nb_get(g, i);
    });
}

GG_FN(cast);
static const nb_op cast_op = {"cast", cast_fwd, cast_bwd, NB_SAVES_NOTHING, false, cast_bwg};

nb_tensor *nb_cast(nb_tensor *x, nb_dtype dt) {
    if (!x) return NULL;
    if (dt != NB_F32 && dt != NB_F64 && dt != NB_I64) {
        nb_fail(NB_ERR_DTYPE, "cast", "unknown dtype %d", (int)dt);
        return NULL;
    }
    if (dt == NB_I64 && x->requires_grad && nb_grad_enabled()) {
        nb_fail(NB_ERR_DTYPE, "cast",
                "casting a tensor that requires grad to i64 would cut the graph; "
                "cast under nb_no_grad or cast a copy");
        return NULL;
    }
    return nb_apply_ex(&cast_op, &x, 1, x->shape, dt, NULL, 0);
}

/* ------------------------------------------------------------ registry */

static nb_tensor *reshape_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    /* iarg[0] selects: 0 reshape to (4,-1), 1 flatten(1,-1), 2 to scalar */
    if (s->iarg[0] == 1) return nb_flatten(in[0], 1, -1);
    if (s->iarg[0] == 2) return nb_reshape(in[0], NB_SCALAR);
    /* square the result so the gradient isn't a constant 1 */
    return nb_mul(nb_reshape(in[0], NB_SHAPE(4, -1)), nb_reshape(in[0], NB_SHAPE(4, -1)));
}

static int reshape_samples(nb_sample *s, int max) {
    int k = 0;
    if (k < max) {
        s[k] = (nb_sample){.desc = "(2,3,4) -> (4,6), squared", .nin = 1};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(2, 3, 4), -1, 1);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "flatten (2,3,2) from axis 1", .nin = 1, .iarg = {1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(2, 3, 2), -1, 1);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "(1,1) to scalar", .nin = 1, .iarg = {2}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(1, 1), -1, 1);
        k++;
    }
    return k;
}

static nb_tensor *permute_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    if (s->iarg[0] < 0) return nb_transpose(in[0], -1, -2);
    int perm[NB_MAX_DIMS];
    for (int i = 0; i < in[0]->shape.ndim; i++) perm[i] = (int)s->iarg[i];
    return nb_permute(in[0], perm, in[0]->shape.ndim);
}

static int permute_samples(nb_sample *s, int max) {
    int k = 0;
    if (k < max) {
        s[k] = (nb_sample){.desc = "(2,3,4) by (2,0,1)", .nin = 1, .iarg = {2, 0, 1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(2, 3, 4), -1, 1);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "transpose (3,5)", .nin = 1, .iarg = {-1}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(3, 5), -1, 1);
        k++;
    }
    if (k < max) {
        s[k] = (nb_sample){.desc = "(1,2,1,3) by (3,1,0,2)", .nin = 1, .iarg = {3, 1, 0, 2}};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(1, 2, 1, 3), -1, 1);
        k++;
    }
    return k;
}

static nb_tensor *cast_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    /* to f64: the identity in the F64 gradcheck, f32 -> f64 in the f32 run */
    return nb_cast(in[0], NB_F64);
}

static int cast_samples(nb_sample *s, int max) {
    if (max < 1) return 0;
    s[0] = (nb_sample){.desc = "(3,4) to f64", .nin = 1};
    s[0].in[0] = nb_sample_uniform(NB_SHAPE(3, 4), -1, 1);
    return 1;
}

const nb_op_entry nb_entry_reshape = {"reshape", reshape_entry_apply, reshape_samples, 0, 0};
const nb_op_entry nb_entry_permute = {"permute", permute_entry_apply, permute_samples, 0, 0};
const nb_op_entry nb_entry_cast = {"cast", cast_entry_apply, cast_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backwards */

GG_FN(reshape) { gin[0] = nb_reshape(g, n->in[0]->shape); }
GG_FN(permute) {
    const perm_attr *at = nb_attr(n, perm_attr);
    int inv[NB_MAX_DIMS];
    for (int i = 0; i < n->in[0]->shape.ndim; i++) inv[at->perm[i]] = i;
    gin[0] = nb_permute(g, inv, n->in[0]->shape.ndim);
}
GG_FN(cast) { gin[0] = nb_cast(g, n->in[0]->dtype); }
