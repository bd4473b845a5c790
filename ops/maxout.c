/* ops/maxout.c — maxout: the max over groups of k consecutive entries along
 * an axis (Goodfellow et al. 2013). Seen as x (outer, L, inner) with
 * L = G*k, out (outer, G, inner) holds out[o,j,i] = max_t x[o, j*k+t, i].
 * Forward saves which t won (the first maximal one; a NaN wins, so NaN
 * propagates as in torch.max); backward routes the gradient there. */
#include "../autograd/internal.h"
#include "grad_graph.h"

typedef struct {
    int axis, k;
} maxout_attr;

static int64_t span(nb_shape s, int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= s.d[i];
    return p;
}

static void maxout_fwd(nb_node *n) {
    const maxout_attr *at = nb_attr(n, maxout_attr);
    const nb_tensor *x = n->in[0];
    const int64_t k = at->k, L = x->shape.d[at->axis], G = L / k;
    const int64_t outer = span(x->shape, 0, at->axis), inner = span(x->shape, at->axis + 1, x->shape.ndim);
    nb_tensor *arg = nb_node_save_new(n, NB_I64, n->out->shape); /* (out.shape) winning t */
    int64_t *A = arg ? nb_i64(arg) : NULL;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *O = (T *)n->out->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < G; j++) {
                T *orow = O + (o * G + j) * inner;
                int64_t *arow = A ? A + (o * G + j) * inner : NULL;
                const T *xg = X + (o * L + j * k) * inner; /* group j: k rows of inner */
                for (int64_t i = 0; i < inner; i++) orow[i] = xg[i];
                if (arow) memset(arow, 0, (size_t)inner * sizeof *arow);
                for (int64_t t = 1; t < k; t++)
                    for (int64_t i = 0; i < inner; i++) {
                        const T v = xg[t * inner + i], b = orow[i];
                        if (b == b && (v > b || v != v)) {
                            orow[i] = v;
                            if (arow) arow[i] = t;
                        }
                    }
            }
    });
}

static void maxout_bwd(nb_node *n, const nb_tensor *g) {
    const maxout_attr *at = nb_attr(n, maxout_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt || !n->saved) return;
    const int64_t k = at->k, L = x->shape.d[at->axis], G = L / k;
    const int64_t outer = span(x->shape, 0, at->axis), inner = span(x->shape, at->axis + 1, x->shape.ndim);
    const int64_t *A = nb_i64(n->saved);
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *GO = (const T *)g->data;
        T *GX = (T *)gxt->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < G; j++) {
                const int64_t r = (o * G + j) * inner;
                T *gxg = GX + (o * L + j * k) * inner;
                for (int64_t i = 0; i < inner; i++) gxg[A[r + i] * inner + i] += GO[r + i];
            }
    });
}

/* backward reads only the saved winners (owned by the node) */
GG_FN(maxout);
static const nb_op maxout_op = {"maxout", maxout_fwd, maxout_bwd, NB_SAVES_NOTHING, false, maxout_bwg};

nb_tensor *nb_maxout(nb_tensor *x, int axis, int k) {
    if (!nb_check_float_inputs("maxout", &x, 1)) return NULL;
    char d[NB_DESCRIBE_LEN];
    int a = nb_norm_axis("maxout", x, axis);
    if (a < 0) return NULL;
    if (k < 1) {
        nb_fail(NB_ERR_ARG, "maxout", "group size k must be >= 1, got %d: %s", k, nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    if (x->shape.d[a] % k) {
        nb_fail(NB_ERR_SHAPE, "maxout", "size %lld along axis %d is not divisible by k = %d: %s",
                (long long)x->shape.d[a], a, k, nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    nb_shape s = x->shape;
    s.d[a] /= k;
    maxout_attr at = {a, k};
    return nb_apply_ex(&maxout_op, &x, 1, s, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ registry */

/* iarg = axis, k. Uniform samples have no ties (almost surely), and the
 * gradcheck flags a max switching within ±eps as a kink, not a failure. */
static nb_tensor *maxout_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_maxout(in[0], (int)s->iarg[0], (int)s->iarg[1]);
}

static int maxout_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int axis, k;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(2, 6), 1, 2, "(2,6) axis 1 k 2"},        {NB_SHAPE(6, 3), 0, 3, "(6,3) axis 0 k 3"},
        {NB_SHAPE(2, 4, 3), -1, 3, "(2,4,3) axis -1 k 3"}, {NB_SHAPE(1, 5), 1, 5, "batch of one, one group of 5"},
        {NB_SHAPE(3, 2), 0, 1, "k 1: identity"},           {NB_SHAPE(2, 4, 3), 1, 2, "(2,4,3) axis 1 k 2 (inner 3)"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].axis, cases[c].k}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

const nb_op_entry nb_entry_maxout = {"maxout", maxout_entry_apply, maxout_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backward */

/* g repeated over each group (outer, G, k, inner) times the winners' 0/1
 * weights (a constant: the kernel run on ones) */
GG_FN(maxout) {
    const maxout_attr *at = nb_attr(n, maxout_attr);
    const nb_tensor *x = n->in[0];
    const int64_t k = at->k, L = x->shape.d[at->axis], G = L / k;
    const int64_t outer = span(x->shape, 0, at->axis), inner = span(x->shape, at->axis + 1, x->shape.ndim);
    nb_tensor *w = gg_kernel_vjp(n, 0, nb_ones(n->out->dtype, n->out->shape));
    nb_tensor *rep = nb_expand(nb_reshape(g, NB_SHAPE(outer, G, 1, inner)), NB_SHAPE(outer, G, k, inner));
    gin[0] = nb_mul(nb_reshape(rep, x->shape), w);
}
