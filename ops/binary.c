/* ops/binary.c — elementwise binary ops with NumPy broadcasting.
 *
 * Forward iterates the output reading a and b through broadcast strides;
 * backward walks the same iteration and adds each input's partial into its
 * gradient at the broadcast offset, which sums the gradient back to the
 * input's shape in the same pass (no temporary, no separate reduction).
 * The formulas and loops are kernels/ew_binary.h's. */
#include "elementwise.h"
#include "grad_graph.h"

#define BINARY(NAME, SAVES) \
    NB_BINARY_KERNELS(NAME) \
    BINARY_OP(NAME, SAVES)
#define BINARY_OP(NAME, SAVES)                                                                         \
    GG_FN(NAME);                                                                                       \
    static const nb_op NAME##_op = {#NAME, NAME##_fwd, NAME##_bwd, SAVES, false, NAME##_bwg};          \
    nb_tensor *nb_##NAME(nb_tensor *a, nb_tensor *b) {                                                 \
        nb_tensor *in[2] = {a, b};                                                                     \
        nb_shape s;                                                                                    \
        if (!nb_check_float_inputs(#NAME, in, 2) || !nb_broadcast_shape(#NAME, a, b, &s)) return NULL; \
        return nb_apply(&NAME##_op, in, 2, s);                                                         \
    }

/* add: operands of the output's shape (a residual connection) take a
 * contiguous loop on nabla's threads forward, and backward hand g to their
 * gradients (copied into a new one); a broadcast operand takes the walk. */
static bool add_plain(const nb_node *n, int i) { return nb_shape_eq(n->in[i]->shape, n->out->shape); }
static void add_fwd(nb_node *n) {
    if (add_plain(n, 0) && add_plain(n, 1))
        nb__add_contig(n->out->dtype, n->out->data, n->in[0]->data, n->in[1]->data, n->out->numel);
    else nb_ew_binary_fwd(n, nb_ew_add_f32, nb_ew_add_f64);
}
static void add_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *walk[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        if (!n->in[i]->requires_grad) continue;
        if (add_plain(n, i)) nb__grad_accum(n->in[i], g);
        else walk[i] = nb_grad_buf(n->in[i]);
    }
    if (!walk[0] && !walk[1]) return;
    nb_bc bc;
    nb_bc_init(&bc, n->out->shape, n->in[0]->shape, n->in[1]->shape);
    if (n->out->dtype == NB_F32)
        nb_ew_add_bwd_f32(&bc, nb_f32(n->in[0]), nb_f32(n->in[1]), nb_f32(g), walk[0] ? nb_f32(walk[0]) : NULL,
                          walk[1] ? nb_f32(walk[1]) : NULL);
    else
        nb_ew_add_bwd_f64(&bc, nb_f64(n->in[0]), nb_f64(n->in[1]), nb_f64(g), walk[0] ? nb_f64(walk[0]) : NULL,
                          walk[1] ? nb_f64(walk[1]) : NULL);
}
BINARY_OP(add, NB_SAVES_NOTHING)
BINARY(sub, NB_SAVES_NOTHING)
BINARY(mul, NB_SAVES_IN(0) | NB_SAVES_IN(1))
BINARY(div, NB_SAVES_IN(0) | NB_SAVES_IN(1))

/* ------------------------------------------------------------ differentiable backwards */

/* DA and DB above with nb_* ops, summed back to each input's shape. */
#define BA n->in[0]
#define BB n->in[1]
GG_FN(add) {
    if (GG_NEED(0)) gin[0] = gg_sum_to(g, BA->shape);
    if (GG_NEED(1)) gin[1] = gg_sum_to(g, BB->shape);
}
GG_FN(sub) {
    if (GG_NEED(0)) gin[0] = gg_sum_to(g, BA->shape);
    if (GG_NEED(1)) gin[1] = gg_sum_to(nb_neg(g), BB->shape);
}
GG_FN(mul) {
    if (GG_NEED(0)) gin[0] = gg_sum_to(nb_mul(g, BB), BA->shape);
    if (GG_NEED(1)) gin[1] = gg_sum_to(nb_mul(g, BA), BB->shape);
}
GG_FN(div) {
    if (GG_NEED(0)) gin[0] = gg_sum_to(nb_div(g, BB), BA->shape);
    if (GG_NEED(1)) gin[1] = gg_sum_to(nb_neg(nb_div(nb_mul(g, BA), nb_mul(BB, BB))), BB->shape);
}

/* ------------------------------------------------------------ registry */

/* Same shapes; broadcasting both ways; a row against a batch; a scalar; a
 * batch of one; and a second input that needs no grad. b_away0 keeps the
 * divisor away from zero. */
static int binary_samples(nb_sample *s, int max, bool b_away0) {
    static const struct {
        nb_shape a, b;
        const char *desc;
        bool b_const;
    } cases[] = {
        {NB_SHAPE(3, 4), NB_SHAPE(3, 4), "same shape (3,4)", false},
        {NB_SHAPE(3, 1), NB_SHAPE(1, 4), "broadcast (3,1) with (1,4)", false},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(4), "bias-like (2,3,4) with (4)", false},
        {NB_SHAPE(5), NB_SCALAR, "vector with scalar", false},
        {NB_SHAPE(1, 3), NB_SHAPE(2, 1, 3), "batch of one, rank grows", false},
        {NB_SHAPE(2, 5), NB_SHAPE(2, 5), "b needs no grad", true},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 2};
        s[k].in[0] = nb_sample_uniform(cases[i].a, -2, 2);
        s[k].in[1] = b_away0 ? nb_sample_away0(cases[i].b, 0.5, 2) : nb_sample_uniform(cases[i].b, -2, 2);
        if (cases[i].b_const) nb_set_requires_grad(s[k].in[1], false);
    }
    return k;
}

#define BINARY_ENTRY(NAME, AWAY0)                                                                    \
    static nb_tensor *NAME##_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {        \
        (void)nin;                                                                                   \
        (void)s;                                                                                     \
        return nb_##NAME(in[0], in[1]);                                                              \
    }                                                                                                \
    static int NAME##_entry_samples(nb_sample *s, int max) { return binary_samples(s, max, AWAY0); } \
    const nb_op_entry nb_entry_##NAME = {#NAME, NAME##_entry_apply, NAME##_entry_samples, 0, 0};

BINARY_ENTRY(add, false)
BINARY_ENTRY(sub, false)
BINARY_ENTRY(mul, false)
BINARY_ENTRY(div, true)
