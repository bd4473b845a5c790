/* ops/unary.c — the elementwise unary ops y = f(x), dx += g·f'(x): the op
 * side of their lines in ops/defs/unary.def. Per line: the nb_op (forward
 * and backward call the kernels ops/kernels/ew_unary.c makes from the same
 * line), the public nb_<name>, the differentiable backward (the line's
 * grad2) and the registry entry (the line's samples). */
#include "elementwise.h"
#include "grad_graph.h"
#include "kernels/ew_unary.h"
#include "math_util.h"

/* ------------------------------------------------------------ forward, backward, builders */

typedef void ew_fwd_f32(int, float *, const float *, int64_t, double, double);
typedef void ew_fwd_f64(int, double *, const double *, int64_t, double, double);
typedef void ew_bwd_f32(int, float *, const float *, const float *, const float *, int64_t, double, double);
typedef void ew_bwd_f64(int, double *, const double *, const double *, const double *, int64_t, double, double);

static inline void ew_fwd(nb_node *n, ew_fwd_f32 *f32, ew_fwd_f64 *f64) {
    const nb_ew_attr *a = nb_attr(n, nb_ew_attr);
    const int nt = nb_get_num_threads();
    if (n->out->dtype == NB_F32) f32(nt, nb_f32(n->out), nb_f32(n->in[0]), n->out->numel, a->p, a->q);
    else f64(nt, nb_f64(n->out), nb_f64(n->in[0]), n->out->numel, a->p, a->q);
}

static inline void ew_bwd(nb_node *n, const nb_tensor *g, ew_bwd_f32 *f32, ew_bwd_f64 *f64) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    const nb_ew_attr *a = nb_attr(n, nb_ew_attr);
    const int nt = nb_get_num_threads();
    if (n->out->dtype == NB_F32)
        f32(nt, nb_f32(gx), nb_f32(g), nb_f32(n->in[0]), nb_f32(n->out), n->out->numel, a->p, a->q);
    else f64(nt, nb_f64(gx), nb_f64(g), nb_f64(n->in[0]), nb_f64(n->out), n->out->numel, a->p, a->q);
}

static nb_tensor *ew_apply(const nb_op *op, nb_tensor *x, double p, double q) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float(op->name, 1, &x, names)) return NULL;
    nb_ew_attr a = {p, q};
    return nb_apply_ex(op, &x, 1, x->shape, x->dtype, &a, sizeof a);
}

/* args RANGE: lo <= hi, neither NaN (±INFINITY for one side). */
static nb_tensor *ew_apply_range(const nb_op *op, nb_tensor *x, double lo, double hi) {
    if (!x) return NULL;
    if (isnan(lo) || isnan(hi) || lo > hi) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_ARG, op->name, "needs lo <= hi, got lo %g, hi %g (%s)", lo, hi,
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    return ew_apply(op, x, lo, hi);
}

/* The public function for each `args` of a line, and the registry's call of
 * it with the sample's farg[0], farg[1]. */
#define EW_PUBLIC_0(NAME) \
    nb_tensor *nb_##NAME(nb_tensor *x) { return ew_apply(&NAME##_op, x, 0, 0); }
#define EW_PUBLIC_1(NAME) \
    nb_tensor *nb_##NAME(nb_tensor *x, double p) { return ew_apply(&NAME##_op, x, p, 0); }
#define EW_PUBLIC_RANGE(NAME) \
    nb_tensor *nb_##NAME(nb_tensor *x, double lo, double hi) { return ew_apply_range(&NAME##_op, x, lo, hi); }
#define EW_SAMPLE_ARGS_0
#define EW_SAMPLE_ARGS_1 , s->farg[0]
#define EW_SAMPLE_ARGS_RANGE , s->farg[0], s->farg[1]

#define EW_SAVES_NOTHING NB_SAVES_NOTHING
#define EW_SAVES_IN NB_SAVES_IN(0)
#define EW_SAVES_OUT NB_SAVES_OUT

/* ------------------------------------------------------------ registry samples */

/* A scalar, a vector, a batch of one, an odd 3-D block. farg[0], farg[1]
 * are the op's scalar arguments; values uniform on [lo, hi) (±[lo, hi) when
 * away0), then moved at least `gap` away from p and q (when gap > 0). */
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
#define EW_UNPAREN(...) __VA_ARGS__

/* ------------------------------------------------------------ helpers of the grad2 expressions */

/* Piecewise-constant factors enter as constants (grad_graph.h). */
static double sign_of(double v, double p) {
    (void)p;
    return v > 0 ? 1 : v < 0 ? -1 : 0;
}
static double step_of(double v, double p) {
    (void)p;
    return v <= 0 ? 0 : 1;
}
static double leaky_slope_of(double v, double p) { return v > 0 ? 1 : p; }
static double pos_of(double v, double p) {
    (void)p;
    return v > 0;
}

/* clamp: 1 on [lo, hi] (compared in the tensor's dtype, as the kernel) */
static nb_tensor *clamp_mask(const nb_tensor *x, double lo, double hi) {
    nb_tensor *m = nb_empty(x->dtype, x->shape);
    if (m)
        NB_FLOAT_DISPATCH(m->dtype, T, {
            const T *xv = (const T *)x->data;
            T *mv = (T *)m->data;
            for (int64_t i = 0; i < m->numel; i++) mv[i] = (T)(xv[i] >= (T)lo && xv[i] <= (T)hi);
        });
    return m;
}

/* elu: 1 for x > 0, alpha·e^x otherwise (e^min(x,0): no overflow on the unused side) */
static nb_tensor *elu_slope(nb_tensor *x, double alpha) {
    nb_tensor *pos = gg_map(x, pos_of, 0);
    nb_tensor *neg = nb_mul_scalar(nb_exp(nb_clamp(x, -INFINITY, 0)), alpha);
    return nb_where(pos, nb_ones(x->dtype, NB_SCALAR), neg);
}

/* ------------------------------------------------------------ the ops */

#define EW_OP(NAME, ARGS, READS, GRAD2, SAMPLES)                                                                     \
    static void NAME##_fwd(nb_node *n) { ew_fwd(n, nb_ew_##NAME##_f32, nb_ew_##NAME##_f64); }                        \
    static void NAME##_bwd(nb_node *n, const nb_tensor *g) {                                                         \
        ew_bwd(n, g, nb_ew_##NAME##_bwd_f32, nb_ew_##NAME##_bwd_f64);                                                \
    }                                                                                                                \
    static void NAME##_bwg(nb_node *n, nb_tensor *g, nb_tensor **gin) {                                              \
        const double P = nb_attr(n, nb_ew_attr)->p, Q = nb_attr(n, nb_ew_attr)->q;                                   \
        nb_tensor *X = n->in[0], *Y = n->out;                                                                        \
        (void)P, (void)Q, (void)X, (void)Y;                                                                          \
        gin[0] = (GRAD2);                                                                                            \
    }                                                                                                                \
    static const nb_op NAME##_op = {#NAME, NAME##_fwd, NAME##_bwd, EW_SAVES_##READS, false, NAME##_bwg};             \
    EW_PUBLIC_##ARGS(NAME) static nb_tensor *NAME##_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) { \
        (void)nin, (void)s;                                                                                          \
        return nb_##NAME(in[0] EW_SAMPLE_ARGS_##ARGS);                                                               \
    }                                                                                                                \
    static int NAME##_entry_samples(nb_sample *s, int max) { return ew_samples(s, max, EW_UNPAREN SAMPLES); }        \
    const nb_op_entry nb_entry_##NAME = {#NAME, NAME##_entry_apply, NAME##_entry_samples, 0, 0};

#define UNARY(NAME, ARGS, FWD, BWD, READS, GRAD2, SAMPLES) EW_OP(NAME, ARGS, READS, GRAD2, SAMPLES)
#define UNARY_VEC(NAME, ARGS, VFN, BWD, READS, GRAD2, SAMPLES) EW_OP(NAME, ARGS, READS, GRAD2, SAMPLES)
#define UNARY_KERNEL(NAME, ARGS, READS, GRAD2, SAMPLES) EW_OP(NAME, ARGS, READS, GRAD2, SAMPLES)
#include "defs/unary.def"
