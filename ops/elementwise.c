/* ops/elementwise.c — elementwise extras: maximum/minimum (broadcast, ties
 * split), clamp, where (three-way broadcast), and the unary activations and
 * functions leaky_relu, elu, softplus, log1p, expm1, square, reciprocal.
 *
 * Binary ops walk the broadcast iteration (broadcast.h) and backward adds
 * each partial at the input's broadcast offset, so gradients are summed back
 * to each input's shape in the same pass. Unary ops are one UNARY line each:
 * forward expression of v (= x), backward expression of v, o (= y), gg (= g),
 * and the op's scalar arguments P, Q. elu, softplus, log1p and expm1 run
 * their transcendental part on the SLEEF vector loops of kernels/vmath.h
 * (UNARY_VEC; within 1-2 ULP of libm, bounds there), softplus's backward
 * its sigmoid too; the rest of each formula is unchanged. */
#include "elementwise.h"
#include "math_util.h"
#include "kernels/vmath.h"
#include "grad_graph.h"
#include <tgmath.h>

/* ------------------------------------------------------------ maximum, minimum */

/* Ties give each side half the gradient, the loser none (PyTorch's rule for
 * maximum/minimum); a NaN on either side makes both "not the loser": each
 * gets all of g, as PyTorch's masked_fill(a < b, 0) does. */
#define MINMAX(NAME, CMP)                                                                  \
    /* NaN in either input propagates, as in PyTorch */                                \
    NB_BINARY_KERNELS(NAME, a != a ? a : b != b ? b : (a CMP b ? a : b),                 \
                      gg * (a == b ? (T)0.5 : b CMP a ? 0 : 1),                          \
                      gg * (a == b ? (T)0.5 : a CMP b ? 0 : 1))                          \
    GG_FN(minmax);                                                                         \
    static const nb_op NAME##_op = {#NAME, NAME##_fwd, NAME##_bwd,                         \
                                    NB_SAVES_IN(0) | NB_SAVES_IN(1), false, minmax_bwg};   \
    nb_tensor *nb_##NAME(nb_tensor *a, nb_tensor *b) {                                     \
        nb_tensor *in[2] = {a, b};                                                         \
        static const char *const names[2] = {"a", "b"};                                    \
        nb_shape s;                                                                        \
        if (!mu_check_float(#NAME, 2, in, names) || !mu_broadcast(#NAME, 2, in, names, &s)) \
            return NULL;                                                                   \
        return nb_apply(&NAME##_op, in, 2, s);                                             \
    }

MINMAX(maximum, >)
MINMAX(minimum, <)

/* ------------------------------------------------------------ where */

/* Runs BODY once per output element o with oc, oa, ob the offsets into cond,
 * a and b (strides 0 along broadcast dims). */
#define WHERE_FOR(S, SC, SA, SB, BODY)                                                     \
    do {                                                                                   \
        int64_t idx_[NB_MAX_DIMS] = {0}, oc = 0, oa = 0, ob = 0;                           \
        const int64_t N_ = nb_shape_numel(S);                                              \
        for (int64_t o = 0; o < N_; o++) {                                                 \
            BODY                                                                           \
            for (int d_ = (S).ndim - 1; d_ >= 0; d_--) {                                   \
                idx_[d_]++; oc += SC[d_]; oa += SA[d_]; ob += SB[d_];                      \
                if (idx_[d_] < (S).d[d_]) break;                                           \
                oc -= SC[d_] * (S).d[d_]; oa -= SA[d_] * (S).d[d_]; ob -= SB[d_] * (S).d[d_]; \
                idx_[d_] = 0;                                                              \
            }                                                                              \
        }                                                                                  \
    } while (0)

static inline bool truth(const nb_tensor *c, int64_t i) {
    switch (c->dtype) {
    case NB_F32: return nb_f32(c)[i] != 0;
    case NB_F64: return nb_f64(c)[i] != 0;
    default: return nb_i64(c)[i] != 0;
    }
}

/* inputs: cond, a, b */
static void where_strides(const nb_node *n, int64_t *sc, int64_t *sa, int64_t *sb) {
    mu_bstrides(n->out->shape, n->in[0]->shape, sc);
    mu_bstrides(n->out->shape, n->in[1]->shape, sa);
    mu_bstrides(n->out->shape, n->in[2]->shape, sb);
}

static void where_fwd(nb_node *n) {
    int64_t sc[NB_MAX_DIMS], sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
    where_strides(n, sc, sa, sb);
    const nb_tensor *c = n->in[0];
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *A = (const T *)n->in[1]->data, *B = (const T *)n->in[2]->data;
        T *O = (T *)n->out->data;
        WHERE_FOR(n->out->shape, sc, sa, sb, { O[o] = truth(c, oc) ? A[oa] : B[ob]; });
    });
}

static void where_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gat = nb_grad_buf(n->in[1]), *gbt = nb_grad_buf(n->in[2]);
    if (!gat && !gbt) return;
    int64_t sc[NB_MAX_DIMS], sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
    where_strides(n, sc, sa, sb);
    const nb_tensor *c = n->in[0];
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *G = (const T *)g->data;
        T *GA = gat ? (T *)gat->data : NULL, *GB = gbt ? (T *)gbt->data : NULL;
        WHERE_FOR(n->out->shape, sc, sa, sb, {
            if (truth(c, oc)) { if (GA) GA[oa] += G[o]; }
            else if (GB) GB[ob] += G[o];
        });
    });
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

/* ------------------------------------------------------------ unary */

#define UNARY(NAME, FWD, BWD, SAVES) NB_UNARY_FWD(NAME, FWD) NB_UNARY_BWD(NAME, BWD) UNARY_REST(NAME, SAVES)

/* Forward y = KERN(x) by the vector kernel nb_v<KERN> (kernels/vmath.h);
 * BWD defines NAME##_bwd. */
#define UNARY_VEC(NAME, KERN, BWD, SAVES)                                               \
    static void NAME##_fwd(nb_node *n) {                                                \
        NB_FLOAT_DISPATCH(n->out->dtype, T, {                                           \
            NB_VMATH_T(KERN, T, n->out->data, n->in[0]->data, n->out->numel);           \
        });                                                                             \
    }                                                                                   \
    BWD                                                                                 \
    UNARY_REST(NAME, SAVES)

#define UNARY_REST(NAME, SAVES)                                                         \
    GG_FN(NAME);                                                                        \
    static const nb_op NAME##_op = {#NAME, NAME##_fwd, NAME##_bwd, SAVES, false, NAME##_bwg}; \
    static nb_tensor *NAME##_apply(nb_tensor *x, double p, double q) {                  \
        static const char *const names[1] = {"x"};                                      \
        if (!mu_check_float(#NAME, 1, &x, names)) return NULL;                          \
        nb_ew_attr a = {p, q};                                                             \
        return nb_apply_ex(&NAME##_op, &x, 1, x->shape, x->dtype, &a, sizeof a);        \
    }

/* Multiply-add equivalents per element of a chunked backward (one SLEEF
 * function and a pass; nb__elementwise_threads): long inputs split their
 * chunks between threads (each element computed alike wherever it falls). */
#define CHUNKED_COST 160

/* softplus backward: gx += g·sigmoid(x), the sigmoid by the vector kernel
 * (vmath.h: stable for any x) over chunks on the stack. */
#define SP_CHUNK 512
static void softplus_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt) return;
    const int64_t N = n->out->numel;
    const int nt = nb__elementwise_threads(N, CHUNKED_COST);
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data, *gp = (const T *)g->data;
        T *gx = (T *)gxt->data;
        NB_PAR_FOR(nt, for (int64_t i = 0; i < N; i += SP_CHUNK), {
            T sig[SP_CHUNK];
            const int64_t len = N - i < SP_CHUNK ? N - i : SP_CHUNK;
            NB_VMATH_T(sigmoid, T, sig, x + i, len);
            for (int64_t j = 0; j < len; j++) gx[i + j] += gp[i + j] * sig[j];
        });
    });
}

/* clamp: P = lo, Q = hi; NaN passes through; gradient 1 on [lo, hi] */
UNARY(clamp, v < (T)P ? (T)P : v > (T)Q ? (T)Q : v, (v >= (T)P && v <= (T)Q) ? gg : 0, NB_SAVES_IN(0))
UNARY(leaky_relu, v > 0 ? v : (T)P * v, v > 0 ? gg : gg * (T)P, NB_SAVES_IN(0))
/* y = x > 0 ? x : alpha·expm1(x); for x <= 0, d/dx alpha(e^x - 1) = alpha·e^x,
 * computed from x (as PyTorch), not as y + alpha, which cancels in f32 for
 * x << 0. Both directions are vmath loops (nb_velu, nb_vexp + nb_velu_bwd);
 * exp(x) goes through a stack buffer, ELU_CHUNK elements at a time. */
#define ELU_CHUNK 1024
static void elu_fwd(nb_node *n) {
    const double alpha = nb_attr(n, nb_ew_attr)->p;
    if (n->out->dtype == NB_F32) nb_velu_f32(nb_f32(n->out), nb_f32(n->in[0]), (float)alpha, n->out->numel);
    else nb_velu_f64(nb_f64(n->out), nb_f64(n->in[0]), alpha, n->out->numel);
}
static void elu_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt) return;
    const double alpha = nb_attr(n, nb_ew_attr)->p;
    const int64_t numel = n->out->numel;
    const int nt = nb__elementwise_threads(numel, CHUNKED_COST);
    NB_FLOAT_DISPATCH(gxt->dtype, T, {
        T *gx = (T *)gxt->data;
        const T *x = (const T *)n->in[0]->data, *gp = (const T *)g->data;
        NB_PAR_FOR(nt, for (int64_t i = 0; i < numel; i += ELU_CHUNK), {
            T e[ELU_CHUNK];
            const int64_t len = numel - i < ELU_CHUNK ? numel - i : ELU_CHUNK;
            NB_VMATH_T(exp, T, e, x + i, len);
            if (sizeof(T) == sizeof(float))
                nb_velu_bwd_f32((float *)gx + i, (const float *)gp + i, (const float *)x + i, (const float *)e,
                                (float)alpha, len);
            else
                nb_velu_bwd_f64((double *)gx + i, (const double *)gp + i, (const double *)x + i, (const double *)e,
                                alpha, len);
        });
    });
}
UNARY_REST(elu, NB_SAVES_IN(0))
/* log(1+e^x) = max(x,0) + log1p(e^-|x|): e^-|x| <= 1 never overflows (vmath.h) */
UNARY_VEC(softplus, softplus, , NB_SAVES_IN(0))
UNARY_VEC(log1p, log1p, NB_UNARY_BWD(log1p, gg / (1 + v)), NB_SAVES_IN(0))
UNARY_VEC(expm1, expm1, NB_UNARY_BWD(expm1, gg * (o + 1)), NB_SAVES_OUT)
UNARY(square, v * v, 2 * gg * v, NB_SAVES_IN(0))
UNARY(reciprocal, 1 / v, -gg * o * o, NB_SAVES_OUT)

nb_tensor *nb_clamp(nb_tensor *x, double lo, double hi) {
    if (!x) return NULL;
    if (isnan(lo) || isnan(hi) || lo > hi) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_ARG, "clamp", "needs lo <= hi, got lo %g, hi %g (%s)", lo, hi, nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    return clamp_apply(x, lo, hi);
}
nb_tensor *nb_leaky_relu(nb_tensor *x, double slope) { return leaky_relu_apply(x, slope, 0); }
nb_tensor *nb_elu(nb_tensor *x, double alpha) { return elu_apply(x, alpha, 0); }
nb_tensor *nb_softplus(nb_tensor *x) { return softplus_apply(x, 0, 0); }
nb_tensor *nb_log1p(nb_tensor *x) { return log1p_apply(x, 0, 0); }
nb_tensor *nb_expm1(nb_tensor *x) { return expm1_apply(x, 0, 0); }
nb_tensor *nb_square(nb_tensor *x) { return square_apply(x, 0, 0); }
nb_tensor *nb_reciprocal(nb_tensor *x) { return reciprocal_apply(x, 0, 0); }

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

#define EX n->in[0]
#define EY n->out
#define EP (nb_attr(n, nb_ew_attr)->p)
static double leaky_slope_of(double v, double p) { return v > 0 ? 1 : p; }
static double pos_of(double v, double p) { (void)p; return v > 0; }
/* clamp: 1 on [lo, hi] (compared in the tensor's dtype, as the kernel) */
GG_FN(clamp) {
    const double lo = nb_attr(n, nb_ew_attr)->p, hi = nb_attr(n, nb_ew_attr)->q;
    nb_tensor *m = nb_empty(EX->dtype, EX->shape);
    if (m)
        NB_FLOAT_DISPATCH(m->dtype, T, {
            const T *x = (const T *)EX->data;
            T *mv = (T *)m->data;
            for (int64_t i = 0; i < m->numel; i++) mv[i] = (T)(x[i] >= (T)lo && x[i] <= (T)hi);
        });
    gin[0] = nb_mul(g, m);
}
GG_FN(leaky_relu) { gin[0] = nb_mul(g, gg_map(EX, leaky_slope_of, EP)); }
/* elu: 1 for x > 0, alpha·e^x otherwise (e^min(x,0): no overflow on the unused side) */
GG_FN(elu) {
    nb_tensor *pos = gg_map(EX, pos_of, 0);
    nb_tensor *neg = nb_mul_scalar(nb_exp(nb_clamp(EX, -INFINITY, 0)), EP);
    gin[0] = nb_mul(g, nb_where(pos, nb_ones(EX->dtype, NB_SCALAR), neg));
}
GG_FN(softplus) { gin[0] = nb_mul(g, nb_sigmoid(EX)); }
GG_FN(log1p) { gin[0] = nb_div(g, nb_add_scalar(EX, 1)); }
GG_FN(expm1) { gin[0] = nb_mul(g, nb_add_scalar(EY, 1)); }
GG_FN(square) { gin[0] = nb_mul_scalar(nb_mul(g, EX), 2); }
GG_FN(reciprocal) { gin[0] = nb_neg(nb_mul(g, nb_mul(EY, EY))); }

/* ------------------------------------------------------------ registry */

/* maximum/minimum: same shape, broadcasting both ways, bias-like, with a
 * scalar, rank growing from a batch of one, and b needing no grad. a and b
 * come from interleaved grids (mu_sample_grid), so |a − b| >= 0.1 everywhere:
 * no tie within ±eps. */
static int minmax_samples(nb_sample *s, int max) {
    static const struct { nb_shape a, b; const char *desc; bool b_const; } cases[] = {
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
    (void)nin; (void)s;
    return nb_maximum(in[0], in[1]);
}
static nb_tensor *minimum_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin; (void)s;
    return nb_minimum(in[0], in[1]);
}
const nb_op_entry nb_entry_maximum = {"maximum", maximum_entry_apply, minmax_samples, 0, 0};
const nb_op_entry nb_entry_minimum = {"minimum", minimum_entry_apply, minmax_samples, 0, 0};

/* where: in[0] = cond (values in ±[0.2, 1), never 0, requires no grad). */
static int where_samples(nb_sample *s, int max) {
    static const struct { nb_shape c, a, b; const char *desc; bool b_const; } cases[] = {
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
    (void)nin; (void)s;
    return nb_where(in[0], in[1], in[2]);
}
const nb_op_entry nb_entry_where = {"where", where_entry_apply, where_samples, 0, 0};

/* Unary: a scalar, a vector, a batch of one, an odd 3-D block. farg[0], farg[1]
 * are the op's scalar arguments; values uniform on [lo, hi) (±[lo, hi) when
 * away0), then moved at least `gap` away from the kinks k0 and k1 (when gap > 0). */
static int ew_samples(nb_sample *s, int max, double lo, double hi, bool away0, double p, double q, double gap) {
    const nb_shape shapes[] = {NB_SCALAR, NB_SHAPE(7), NB_SHAPE(1, 5), NB_SHAPE(2, 3, 5)};
    const char *desc[] = {"scalar", "vector (7)", "batch of one (1,5)", "3-D (2,3,5)"};
    int k = 0;
    for (int i = 0; i < 4 && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = desc[i], .nin = 1};
        s[k].in[0] = away0 ? nb_sample_away0(shapes[i], lo, hi) : nb_sample_uniform(shapes[i], lo, hi);
        if (gap > 0) {
            mu_sample_avoid(s[k].in[0], p, gap);
            mu_sample_avoid(s[k].in[0], q, gap);
        }
        s[k].farg[0] = p;
        s[k].farg[1] = q;
    }
    return k;
}

#define EW_ENTRY(NAME, LO, HI, AWAY0, P, Q, GAP)                                        \
    static nb_tensor *NAME##_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) { \
        (void)nin;                                                                      \
        return nb_##NAME##_entry(in[0], s->farg[0], s->farg[1]);                        \
    }                                                                                   \
    static int NAME##_entry_samples(nb_sample *s, int max) {                            \
        return ew_samples(s, max, LO, HI, AWAY0, P, Q, GAP);                            \
    }                                                                                   \
    const nb_op_entry nb_entry_##NAME = {#NAME, NAME##_entry_apply, NAME##_entry_samples, 0, 0};

/* The public builders, with the samples' (farg[0], farg[1]) arguments. */
#define nb_clamp_entry(x, p, q) nb_clamp(x, p, q)
#define nb_leaky_relu_entry(x, p, q) nb_leaky_relu(x, p)
#define nb_elu_entry(x, p, q) nb_elu(x, p)
#define nb_softplus_entry(x, p, q) nb_softplus(x)
#define nb_log1p_entry(x, p, q) nb_log1p(x)
#define nb_expm1_entry(x, p, q) nb_expm1(x)
#define nb_square_entry(x, p, q) nb_square(x)
#define nb_reciprocal_entry(x, p, q) nb_reciprocal(x)

EW_ENTRY(clamp, -2, 2, false, -0.5, 0.7, 0.05)   /* values at least 0.05 from lo and hi */
EW_ENTRY(leaky_relu, 0.1, 2, true, 0.01, 0, 0)  /* away from the kink at 0 */
EW_ENTRY(elu, 0.1, 2, true, 1.3, 0, 0)          /* away from the kink at 0 (alpha != 1) */
EW_ENTRY(softplus, -5, 5, false, 0, 0, 0)
EW_ENTRY(log1p, -0.7, 3, false, 0, 0, 0)        /* domain x > -1 */
EW_ENTRY(expm1, -2, 2, false, 0, 0, 0)
EW_ENTRY(square, -2, 2, false, 0, 0, 0)
EW_ENTRY(reciprocal, 0.3, 2, true, 0, 0, 0)     /* away from the pole at 0 */
