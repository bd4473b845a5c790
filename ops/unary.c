/* ops/unary.c — elementwise unary ops: y = f(x), dx += g * f'(x).
 *
 * Each op is one UNARY line: its forward expression of v (= x), its backward
 * expression of v, o (= y), gg (= upstream gradient) and P (the scalar
 * argument), and which tensors backward reads. Math goes through <tgmath.h>
 * so the same expression runs in float for f32 and double for f64.
 * exp, log, tanh and sigmoid run their forward on the SLEEF vector loops of
 * kernels/vmath.h (UNARY_VEC: same formulas, within 1-3 ULP of libm). */
#include "elementwise.h"
#include "grad_graph.h"
#include "kernels/vmath.h"
#include <tgmath.h>

#define UNARY(NAME, FWD, BWD, SAVES) NB_UNARY_FWD(NAME, FWD) UNARY_REST(NAME, BWD, SAVES)

/* Forward by the vector kernel nb_v<KERN>_f32/f64 (kernels/vmath.h). */
#define UNARY_VEC(NAME, KERN, BWD, SAVES)                                               \
    static void NAME##_fwd(nb_node *n) {                                                \
        if (n->out->dtype == NB_F32)                                                    \
            nb_v##KERN##_f32(nb_f32(n->out), nb_f32(n->in[0]), n->out->numel);          \
        else                                                                            \
            nb_v##KERN##_f64(nb_f64(n->out), nb_f64(n->in[0]), n->out->numel);          \
    }                                                                                   \
    UNARY_REST(NAME, BWD, SAVES)

#define UNARY_REST(NAME, BWD, SAVES)                                                    \
    NB_UNARY_BWD(NAME, BWD)                                                             \
    GG_FN(NAME);                                                                        \
    static const nb_op NAME##_op = {#NAME, NAME##_fwd, NAME##_bwd, SAVES, false, NAME##_bwg}; \
    static nb_tensor *NAME##_apply(nb_tensor *x, double p) {                            \
        if (!nb_check_float_inputs(#NAME, &x, 1)) return NULL;                          \
        nb_ew_attr a = {p, 0};                                                          \
        return nb_apply_ex(&NAME##_op, &x, 1, x->shape, x->dtype, &a, sizeof a);        \
    }

#define SIGN(v) ((v) > 0 ? 1 : (v) < 0 ? -1 : 0)

UNARY(neg, -v, -gg, NB_SAVES_NOTHING)
UNARY_VEC(exp, exp, gg * o, NB_SAVES_OUT)
UNARY_VEC(log, log, gg / v, NB_SAVES_IN(0))
UNARY(sqrt, sqrt(v), gg / (2 * o), NB_SAVES_OUT)
UNARY(abs, fabs(v), gg * SIGN(v), NB_SAVES_IN(0))
/* d/dx x^p = p x^(p-1); p = 0 gives 0 everywhere (PyTorch does the same) */
UNARY(pow_scalar, pow(v, (T)P), P == 0 ? 0 : gg * (T)P * pow(v, (T)(P - 1)), NB_SAVES_IN(0))
UNARY_VEC(sigmoid, sigmoid, gg * o * (1 - o), NB_SAVES_OUT) /* stable: vmath.h */
UNARY_VEC(tanh, tanh, gg * (1 - o * o), NB_SAVES_OUT)
/* relu'(0) = 0, as in PyTorch; NaN passes through, with gradient gg (PyTorch's
 * threshold_backward: x <= 0 ? 0 : gg) */
UNARY_VEC(relu, relu, v <= 0 ? 0 : gg, NB_SAVES_IN(0)) /* y = x < 0 ? 0 : x */
UNARY(add_scalar, v + (T)P, gg, NB_SAVES_NOTHING)
UNARY(mul_scalar, v * (T)P, gg * (T)P, NB_SAVES_NOTHING)

nb_tensor *nb_neg(nb_tensor *x) { return neg_apply(x, 0); }
nb_tensor *nb_exp(nb_tensor *x) { return exp_apply(x, 0); }
nb_tensor *nb_log(nb_tensor *x) { return log_apply(x, 0); }
nb_tensor *nb_sqrt(nb_tensor *x) { return sqrt_apply(x, 0); }
nb_tensor *nb_abs(nb_tensor *x) { return abs_apply(x, 0); }
nb_tensor *nb_pow_scalar(nb_tensor *x, double p) { return pow_scalar_apply(x, p); }
nb_tensor *nb_sigmoid(nb_tensor *x) { return sigmoid_apply(x, 0); }
nb_tensor *nb_tanh(nb_tensor *x) { return tanh_apply(x, 0); }
nb_tensor *nb_relu(nb_tensor *x) { return relu_apply(x, 0); }
nb_tensor *nb_add_scalar(nb_tensor *x, double s) { return add_scalar_apply(x, s); }
nb_tensor *nb_mul_scalar(nb_tensor *x, double s) { return mul_scalar_apply(x, s); }

/* ------------------------------------------------------------ differentiable backwards */

/* The formulas of the UNARY lines above with nb_* ops (x = in[0], y = out). */
static double sign_of(double v, double p) { (void)p; return v > 0 ? 1 : v < 0 ? -1 : 0; }
static double step_of(double v, double p) { (void)p; return v <= 0 ? 0 : 1; }
#define UX n->in[0]
#define UY n->out
#define UP (nb_attr(n, nb_ew_attr)->p)
GG_FN(neg) { gin[0] = nb_neg(g); }
GG_FN(exp) { gin[0] = nb_mul(g, UY); }
GG_FN(log) { gin[0] = nb_div(g, UX); }
GG_FN(sqrt) { gin[0] = nb_div(g, nb_mul_scalar(UY, 2)); }
GG_FN(abs) { gin[0] = nb_mul(g, gg_map(UX, sign_of, 0)); }
GG_FN(pow_scalar) {
    gin[0] = UP == 0 ? nb_mul_scalar(g, 0) : nb_mul(g, nb_mul_scalar(nb_pow_scalar(UX, UP - 1), UP));
}
GG_FN(sigmoid) { gin[0] = nb_mul(g, nb_mul(UY, nb_add_scalar(nb_neg(UY), 1))); }
GG_FN(tanh) { gin[0] = nb_mul(g, nb_add_scalar(nb_neg(nb_mul(UY, UY)), 1)); }
GG_FN(relu) { gin[0] = nb_mul(g, gg_map(UX, step_of, 0)); }
GG_FN(add_scalar) { (void)n; gin[0] = g; }
GG_FN(mul_scalar) { gin[0] = nb_mul_scalar(g, UP); }

/* ------------------------------------------------------------ registry */

/* Shapes every unary op is checked on: a scalar, a vector, a batch of one,
 * an odd 3-D block. Values come from [lo, hi) (or ±[lo, hi) when away0). */
static int unary_samples(nb_sample *s, int max, double lo, double hi, bool away0, double p) {
    const nb_shape shapes[] = {NB_SCALAR, NB_SHAPE(7), NB_SHAPE(1, 5), NB_SHAPE(2, 3, 5)};
    const char *desc[] = {"scalar", "vector (7)", "batch of one (1,5)", "3-D (2,3,5)"};
    int k = 0;
    for (int i = 0; i < 4 && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = desc[i], .nin = 1};
        s[k].in[0] = away0 ? nb_sample_away0(shapes[i], lo, hi) : nb_sample_uniform(shapes[i], lo, hi);
        s[k].farg[0] = p;
    }
    return k;
}

#define UNARY_ENTRY(NAME, LO, HI, AWAY0, P)                                             \
    static nb_tensor *NAME##_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) { \
        (void)nin;                                                                      \
        return NAME##_apply(in[0], s->farg[0]);                                         \
    }                                                                                   \
    static int NAME##_entry_samples(nb_sample *s, int max) {                            \
        return unary_samples(s, max, LO, HI, AWAY0, P);                                 \
    }                                                                                   \
    const nb_op_entry nb_entry_##NAME = {#NAME, NAME##_entry_apply, NAME##_entry_samples, 0, 0};

UNARY_ENTRY(neg, -2, 2, false, 0)
UNARY_ENTRY(exp, -2, 2, false, 0)
UNARY_ENTRY(log, 0.2, 3, false, 0)         /* domain x > 0 */
UNARY_ENTRY(sqrt, 0.2, 3, false, 0)        /* away from the infinite slope at 0 */
UNARY_ENTRY(abs, 0.1, 2, true, 0)          /* away from the kink at 0 */
UNARY_ENTRY(pow_scalar, 0.3, 2, false, 2.5) /* x^2.5 on x > 0 */
UNARY_ENTRY(sigmoid, -4, 4, false, 0)
UNARY_ENTRY(tanh, -3, 3, false, 0)
UNARY_ENTRY(relu, 0.1, 2, true, 0)         /* away from the kink at 0 */
UNARY_ENTRY(add_scalar, -2, 2, false, 1.5)
UNARY_ENTRY(mul_scalar, -2, 2, false, -0.75)
