/* ops/dropout.c — inverted dropout with PyTorch's convention (p = drop
 * probability; the lecture's keep probability is 1 - p).
 *
 * Forward draws one uniform per element from the seeded generator, in
 * row-major order, and keeps the element when u >= p (probability 1 - p).
 * The mask it saves already holds the scale, 1/(1-p) for a kept element and
 * 0 for a dropped one, so y = x * mask and backward is dx += dy * mask: the
 * same mask, whatever x became after forward. */
#include "../autograd/internal.h"
#include "grad_graph.h"

#include <math.h>

typedef struct {
    double p;
} dropout_attr;

static void dropout_fwd(nb_node *n) {
    const double p = nb_attr(n, dropout_attr)->p, scale = 1.0 / (1.0 - p);
    const nb_tensor *x = n->in[0];
    nb_tensor *m = nb_node_save_new(n, x->dtype, x->shape); /* (x.shape) scaled keep mask */
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *Y = (T *)n->out->data, *M = m ? (T *)m->data : NULL;
        for (int64_t i = 0; i < x->numel; i++) {
            const T mi = nb_rand_uniform() >= p ? (T)scale : (T)0;
            if (M) M[i] = mi;
            Y[i] = X[i] * mi;
        }
    });
}

static void dropout_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt || !n->saved) return;
    NB_FLOAT_DISPATCH(g->dtype, T, {
        const T *G = (const T *)g->data, *M = (const T *)n->saved->data;
        T *GX = (T *)gxt->data;
        for (int64_t i = 0; i < g->numel; i++) GX[i] += G[i] * M[i];
    });
}

/* backward reads only the mask, which the node owns */
GG_FN(dropout);
static const nb_op dropout_op = {"dropout", dropout_fwd, dropout_bwd, NB_SAVES_NOTHING, false, dropout_bwg};

nb_tensor *nb_dropout(nb_tensor *x, double p, bool train) {
    if (!nb_check_float_inputs("dropout", &x, 1)) return NULL;
    if (!(p >= 0 && p < 1)) { /* also catches NaN */
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_ARG, "dropout", "p (the drop probability) must be in [0,1), got %g: %s", p,
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    if (!train || p == 0) return x; /* eval: the identity, like torch's F.dropout(training=False) */
    dropout_attr at = {p};
    return nb_apply_ex(&dropout_op, &x, 1, x->shape, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ registry */

/* iarg[0] = seed, iarg[1] = train, farg[0] = p.
 *
 * The apply seeds the generator itself before drawing the mask. The
 * gradcheck already restarts the generator before each evaluation, but the
 * registry test also compares an f32 run with an f64 run, and the PyTorch
 * reference test needs the mask to be known: with the seed fixed, the mask
 * is a function of (seed, p, numel) alone, and tests/fixtures/torch_ops/index.py
 * redraws it with the same generator (xoshiro256** seeded by splitmix64,
 * re-implemented in Python) and computes x * mask / (1-p) in torch. So train
 * mode is checked against torch's arithmetic and autograd; torch's own RNG
 * is not involved. */
static nb_tensor *dropout_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    nb_seed((uint64_t)s->iarg[0]);
    return nb_dropout(in[0], s->farg[0], s->iarg[1] != 0);
}

static int dropout_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t seed, train;
        double p;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(4, 5), 7, 1, 0.3, "train (4,5) p 0.3"},
        {NB_SHAPE(2, 3, 4), 11, 1, 0.5, "train (2,3,4) p 0.5"},
        {NB_SHAPE(1, 7), 3, 1, 0.1, "train, batch of one, p 0.1"},
        {NB_SHAPE(40), 5, 1, 0.9, "train (40) p 0.9"},
        {NB_SHAPE(3, 4), 9, 0, 0.5, "eval: identity"},
        {NB_SHAPE(3, 2), 9, 1, 0.0, "train with p 0: identity"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] =
            (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].seed, cases[c].train}, .farg = {cases[c].p}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

const nb_op_entry nb_entry_dropout = {"dropout", dropout_entry_apply, dropout_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backward */

/* g times the saved scaled mask (a constant) */
GG_FN(dropout) { gin[0] = n->saved ? nb_mul(g, n->saved) : g; }
