/* nn/init.c — weight initializers, PyTorch's torch.nn.init formulas.
 *
 * They write the tensor's data directly (an initializer is not an op and
 * records nothing, as PyTorch's run under no_grad) and bump its version, one
 * draw of the global generator per element in row-major order, so a seed
 * fixes every weight. */
#include "nn_internal.h"

#include <math.h>

double nb_init_gain(nb_nonlinearity nl, double a) {
    switch (nl) {
    case NB_NONLIN_TANH: return 5.0 / 3.0;
    case NB_NONLIN_RELU: return sqrt(2.0);
    case NB_NONLIN_LEAKY_RELU: return sqrt(2.0 / (1.0 + a * a));
    default: return 1.0;
    }
}

static bool float_tensor(const char *op, const nb_tensor *t) {
    if (!t) return false;
    if (t->dtype != NB_F32 && t->dtype != NB_F64) {
        nb_fail(NB_ERR_DTYPE, op, "initializes f32/f64 tensors, got %s", nb_dtype_name(t->dtype));
        return false;
    }
    return true;
}

bool nb_init_fans(const nb_tensor *t, int64_t *fan_in, int64_t *fan_out) {
    if (!t) return false;
    if (t->shape.ndim == 0) {
        nb_fail(NB_ERR_SHAPE, "init", "fans need a tensor of rank >= 1; t is a scalar");
        return false;
    }
    int64_t fi, fo;
    if (t->shape.ndim == 1) {
        fi = fo = t->shape.d[0];
    } else {
        int64_t rf = 1; /* receptive field: the kernel's spatial size */
        for (int i = 2; i < t->shape.ndim; i++) rf *= t->shape.d[i];
        fi = t->shape.d[1] * rf;
        fo = t->shape.d[0] * rf;
    }
    if (fan_in) *fan_in = fi;
    if (fan_out) *fan_out = fo;
    return true;
}

/* t[i] = draw(), then the version bump. */
#define FILL(t, EXPR)                                                  \
    do {                                                               \
        NB_FLOAT_DISPATCH((t)->dtype, T, {                             \
            T *D = (T *)(t)->data;                                     \
            for (int64_t i = 0; i < (t)->numel; i++) D[i] = (T)(EXPR); \
        });                                                            \
        nb_bump_version(t);                                            \
    } while (0)

nb_tensor *nb_init_uniform(nb_tensor *t, double lo, double hi) {
    if (!float_tensor("init_uniform", t)) return NULL;
    FILL(t, lo + (hi - lo) * nb_rand_uniform());
    return t;
}

nb_tensor *nb_init_normal(nb_tensor *t, double mean, double std) {
    if (!float_tensor("init_normal", t)) return NULL;
    if (!(std >= 0)) {
        nb_fail(NB_ERR_ARG, "init_normal", "std must be >= 0, got %g", std);
        return NULL;
    }
    FILL(t, mean + std * nb_rand_normal());
    return t;
}

nb_tensor *nb_init_constant(nb_tensor *t, double v) {
    if (!float_tensor("init_constant", t)) return NULL;
    FILL(t, v);
    return t;
}

/* Φ(x), the standard normal CDF. */
static double norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Φ⁻¹(p) for p in (0,1): Acklam's rational approximation (relative error
 * 1e-9) polished by two Halley steps on erfc, so accurate to double. */
static double norm_icdf(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    double x, q, r;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        q = sqrt(-2 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    for (int k = 0; k < 2; k++) { /* Halley on Φ(x) − p */
        double e = norm_cdf(x) - p;
        double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
        x = x - u / (1 + x * u / 2);
    }
    return x;
}

nb_tensor *nb_init_trunc_normal(nb_tensor *t, double mean, double std, double a, double b) {
    if (!float_tensor("init_trunc_normal", t)) return NULL;
    if (!(std > 0) || !(a < b)) {
        nb_fail(NB_ERR_ARG, "init_trunc_normal", "needs std > 0 and a < b; got std %g, [a, b] = [%g, %g]", std, a, b);
        return NULL;
    }
    /* Uniform on [Φ(α), Φ(β)] mapped back through Φ⁻¹, α, β the standardized
     * cut-offs; clamped to [a, b] against rounding, as PyTorch. */
    const double lo = norm_cdf((a - mean) / std), hi = norm_cdf((b - mean) / std);
    FILL(t, fmin(fmax(mean + std * norm_icdf(lo + (hi - lo) * nb_rand_uniform()), a), b));
    return t;
}

nb_tensor *nb_init_xavier_uniform(nb_tensor *t, double gain) {
    int64_t fi, fo;
    if (!float_tensor("init_xavier_uniform", t) || !nb_init_fans(t, &fi, &fo)) return NULL;
    const double bound = gain * sqrt(6.0 / (double)(fi + fo));
    return nb_init_uniform(t, -bound, bound);
}

nb_tensor *nb_init_xavier_normal(nb_tensor *t, double gain) {
    int64_t fi, fo;
    if (!float_tensor("init_xavier_normal", t) || !nb_init_fans(t, &fi, &fo)) return NULL;
    return nb_init_normal(t, 0, gain * sqrt(2.0 / (double)(fi + fo)));
}

static bool kaiming_std(const char *op, nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl, double *std) {
    int64_t fi, fo;
    if (!float_tensor(op, t) || !nb_init_fans(t, &fi, &fo)) return false;
    const int64_t fan = mode == NB_FAN_OUT ? fo : fi;
    if (fan <= 0) {
        nb_fail(NB_ERR_SHAPE, op, "fan is 0 for a tensor with %lld elements", (long long)t->numel);
        return false;
    }
    *std = nb_init_gain(nl, a) / sqrt((double)fan);
    return true;
}

nb_tensor *nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl) {
    double std;
    if (!kaiming_std("init_kaiming_uniform", t, a, mode, nl, &std)) return NULL;
    const double bound = sqrt(3.0) * std; /* U(±b) has std b/√3 */
    return nb_init_uniform(t, -bound, bound);
}

nb_tensor *nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, nb_nonlinearity nl) {
    double std;
    if (!kaiming_std("init_kaiming_normal", t, a, mode, nl, &std)) return NULL;
    return nb_init_normal(t, 0, std);
}
