/* ops/elementwise.c — elementwise extras with more than one input:
 * maximum/minimum (broadcast, ties split) and where (three-way broadcast).
 * The unary ones (clamp, leaky_relu, elu, ...) are lines of
 * ops/defs/unary.def (ops/unary.c).
 *
 * They walk the broadcast iteration (broadcast.h) and backward adds each
 * partial at the input's broadcast offset, so gradients are summed back to
 * each input's shape in the same pass. */
#include "elementwise.h"
#include "math_util.h"
#include "grad_graph.h"

/* ------------------------------------------------------------ maximum, minimum */

/* Ties give each side half the gradient, NaN propagates (PyTorch's rules;
 * kernels/ew_binary.h). */
#define MINMAX(NAME)                                                                                     \
    NB_BINARY_KERNELS(NAME)                                                                              \
    GG_FN(minmax);                                                                                       \
    static const nb_op NAME##_op = {                                                                     \
        #NAME, NAME##_fwd, NAME##_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, minmax_bwg};              \
    nb_tensor *nb_##NAME(nb_tensor *a, nb_tensor *b) {                                                   \
        nb_tensor *in[2] = {a, b};                                                                       \
        static const char *const names[2] = {"a", "b"};                                                  \
        nb_shape s;                                                                                      \
        if (!mu_check_float(#NAME, 2, in, names) || !mu_broadcast(#NAME, 2, in, names, &s)) return NULL; \
        return nb_apply(&NAME##_op, in, 2, s);                                                           \
    }

MINMAX(maximum)
MINMAX(minimum)

/* ------------------------------------------------------------ where */

/* The walk over the output with cond's, a's and b's broadcast strides. */
static void where_walk(const nb_node *n, nb_ew_where_walk *w) {
    w->nd = n->out->shape.ndim;
    for (int d = 0; d < w->nd; d++) w->shape[d] = n->out->shape.d[d];
    mu_bstrides(n->out->shape, n->in[0]->shape, w->sc);
    mu_bstrides(n->out->shape, n->in[1]->shape, w->sa);
    mu_bstrides(n->out->shape, n->in[2]->shape, w->sb);
    const nb_dtype ct = n->in[0]->dtype;
    w->ct = ct == NB_F32 ? NB_EW_COND_F32 : ct == NB_F64 ? NB_EW_COND_F64 : NB_EW_COND_I64;
}

/* inputs: cond, a, b */
static void where_fwd(nb_node *n) {
    nb_ew_where_walk w;
    where_walk(n, &w);
    const void *c = n->in[0]->data;
    if (n->out->dtype == NB_F32) nb_ew_where_f32(&w, c, nb_f32(n->in[1]), nb_f32(n->in[2]), nb_f32(n->out));
    else nb_ew_where_f64(&w, c, nb_f64(n->in[1]), nb_f64(n->in[2]), nb_f64(n->out));
}

static void where_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gat = nb_grad_buf(n->in[1]), *gbt = nb_grad_buf(n->in[2]);
    if (!gat && !gbt) return;
    nb_ew_where_walk w;
    where_walk(n, &w);
    const void *c = n->in[0]->data;
    if (n->out->dtype == NB_F32)
        nb_ew_where_bwd_f32(&w, c, nb_f32(g), gat ? nb_f32(gat) : NULL, gbt ? nb_f32(gbt) : NULL);
    else nb_ew_where_bwd_f64(&w, c, nb_f64(g), gat ? nb_f64(gat) : NULL, gbt ? nb_f64(gbt) : NULL);
}

/* Backward reads only cond (a and b may change afterwards). */
GG_FN(where);
static const nb_op where_op = {"where", where_fwd, where_bwd, NB_SAVES_IN(0), false, where_bwg};

nb_tensor *nb_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b) {
    if (!cond || !a || !b) return NULL;
    nb_tensor *ab[2] = {a, b}, *in[3] = {cond, a, b};
    static const char *const names[3] = {"cond", "a", "b"};
    nb_shape s;
    if (!mu_check_float("where", 2, ab, names + 1) || !mu_broadcast("where", 3, in, names, &s)) return NULL;
    return nb_apply_ex(&where_op, in, 3, s, a->dtype, NULL, 0);
}

/* ------------------------------------------------------------ differentiable backwards */

/* maximum/minimum: each side's share of g (1, ½ at a tie, 0) is constant:
 * the kernel's own weights, run on ones. */
GG_FN(minmax) {
    nb_tensor *ones = nb_ones(n->out->dtype, n->out->shape);
    for (int i = 0; i < 2; i++)
        if (GG_NEED(i)) {
            /* the kernel sums back to in[i]'s shape; the weights are needed at
             * the output's shape, so run it on a copy of the node whose
             * inputs are broadcast to the output (expand: a new tensor) */
            nb_tensor *w;
            if (nb_shape_eq(n->in[i]->shape, n->out->shape)) {
                w = gg_kernel_vjp(n, i, ones);
            } else {
                nb_node m = *n;
                nb_tensor *ab[2];
                NB_NO_GRAD {
                    ab[0] = nb_expand(n->in[0], n->out->shape);
                    ab[1] = nb_expand(n->in[1], n->out->shape);
                }
                m.in = ab;
                w = gg_kernel_vjp(&m, i, ones);
            }
            gin[i] = gg_sum_to(nb_mul(g, w), n->in[i]->shape);
        }
}

/* where: g where cond holds to a, elsewhere to b */
GG_FN(where) {
    nb_tensor *zero = nb_zeros(g->dtype, NB_SCALAR);
    if (GG_NEED(1)) gin[1] = gg_sum_to(nb_where(n->in[0], g, zero), n->in[1]->shape);
    if (GG_NEED(2)) gin[2] = gg_sum_to(nb_where(n->in[0], zero, g), n->in[2]->shape);
}

/* ------------------------------------------------------------ registry */

/* maximum/minimum: same shape, broadcasting both ways, bias-like, with a
 * scalar, rank growing from a batch of one, and b needing no grad. a and b
 * come from interleaved grids (mu_sample_grid), so |a − b| >= 0.1 everywhere:
 * no tie within ±eps. */
static int minmax_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape a, b;
        const char *desc;
        bool b_const;
    } cases[] = {
        {NB_SHAPE(3, 4), NB_SHAPE(3, 4), "same shape (3,4)", false},
        {NB_SHAPE(3, 1), NB_SHAPE(1, 5), "broadcast (3,1) with (1,5)", false},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(4), "bias-like (2,3,4) with (4)", false},
        {NB_SHAPE(5), NB_SCALAR, "vector with scalar", false},
        {NB_SHAPE(1, 3), NB_SHAPE(2, 1, 3), "batch of one, rank grows", false},
        {NB_SHAPE(2, 5), NB_SHAPE(2, 5), "b needs no grad", true},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 2};
        s[k].in[0] = mu_sample_grid(cases[i].a, 5, 0.4, 0.0);
        s[k].in[1] = mu_sample_grid(cases[i].b, 5, 0.4, 0.2);
        if (cases[i].b_const) nb_set_requires_grad(s[k].in[1], false);
    }
    return k;
}

static nb_tensor *maximum_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_maximum(in[0], in[1]);
}
static nb_tensor *minimum_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_minimum(in[0], in[1]);
}
const nb_op_entry nb_entry_maximum = {"maximum", maximum_entry_apply, minmax_samples, 0, 0};
const nb_op_entry nb_entry_minimum = {"minimum", minimum_entry_apply, minmax_samples, 0, 0};

/* where: in[0] = cond (values in ±[0.2, 1), never 0, requires no grad). */
static int where_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape c, a, b;
        const char *desc;
        bool b_const;
    } cases[] = {
        {NB_SHAPE(3, 4), NB_SHAPE(3, 4), NB_SHAPE(3, 4), "same shape (3,4)", false},
        {NB_SHAPE(3, 1), NB_SHAPE(1, 5), NB_SHAPE(3, 5), "all three broadcast", false},
        {NB_SHAPE(4), NB_SHAPE(2, 3, 4), NB_SCALAR, "cond (4), a (2,3,4), b scalar", false},
        {NB_SHAPE(2, 1, 3), NB_SHAPE(1, 3), NB_SHAPE(1, 1, 3), "batch of one, rank grows", false},
        {NB_SHAPE(2, 5), NB_SHAPE(2, 5), NB_SHAPE(2, 5), "b needs no grad", true},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 3};
        s[k].in[0] = nb_set_requires_grad(nb_sample_away0(cases[i].c, 0.2, 1), false);
        s[k].in[1] = nb_sample_uniform(cases[i].a, -2, 2);
        s[k].in[2] = nb_sample_uniform(cases[i].b, -2, 2);
        if (cases[i].b_const) nb_set_requires_grad(s[k].in[2], false);
    }
    return k;
}
static nb_tensor *where_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_where(in[0], in[1], in[2]);
}
const nb_op_entry nb_entry_where = {"where", where_entry_apply, where_samples, 0, 0};
