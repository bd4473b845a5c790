/* 04 — gradient checking.
 *
 * 1. The centered difference (f(x+h) − f(x−h)) / 2h against the analytic
 *    derivative, and the relative error |a − n| / max(|a|, |n|):
 *      > 1e-2 wrong; 1e-2..1e-4 uncomfortable; < 1e-4 fine with kinks,
 *      suspicious without; <= 1e-7 happy (cs231n).
 * 2. Why double precision: the same check in float loses most digits.
 * 3. A kink: relu at x within h of 0 — the numerical slope is ~0.5, the
 *    analytic one 0 or 1. nb_gradcheck flags it instead of failing.
 * 4. A new op written by the user (swish, y = x·σ(x)) with its forward and
 *    backward, checked in one call — and the same op with a bug, caught.
 * 5. Dtypes: swish's code reads doubles, and its nb_op says so (.dtypes), so
 *    an F32 tensor is refused with a clear error instead of being read as
 *    doubles. nb_gradcheck also runs the op in F32 against F64: the same
 *    code with nothing declared fails that check. */
#include <nabla/nabla.h>
#include <math.h>
#include <string.h>

/* ---- 1 and 2: by hand ---- */
static double f(double x) { return x * x * x - 2 * x; } /* f'(x) = 3x² − 2 */
static float ff(float x) { return x * x * x - 2 * x; }

/* ---- 4: a user-defined op ---- */
static double sig(double v) { return 1 / (1 + exp(-v)); }

static void swish_fwd(nb_node *n) {
    const double *x = nb_f64(n->in[0]);
    double *y = nb_f64(n->out);
    for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] * sig(x[i]);
}
/* dy/dx = σ(x) + x·σ(x)(1 − σ(x)) */
static void swish_bwd(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    const double *x = nb_f64(n->in[0]), *g = nb_f64(gy);
    for (int64_t i = 0; i < gy->numel; i++) {
        double s = sig(x[i]);
        nb_f64(gx)[i] += g[i] * (s + x[i] * s * (1 - s));
    }
}
/* the bug: forgets the product rule's second term */
static void swish_bwd_buggy(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    for (int64_t i = 0; i < gy->numel; i++) nb_f64(gx)[i] += nb_f64(gy)[i] * sig(nb_f64(n->in[0])[i]);
}
/* the last field: the dtypes the inputs may have (this code reads F64 only) */
static const nb_op SWISH = {"swish", swish_fwd, swish_bwd, NB_SAVES_IN(0), false, NULL, NB_DTYPE_BIT(NB_F64)};
static const nb_op SWISH_BUGGY = {"swish_buggy", swish_fwd, swish_bwd_buggy,     NB_SAVES_IN(0),
                                  false,         NULL,      NB_DTYPE_BIT(NB_F64)};
/* ---- 5: the same code, no dtypes declared (any dtype gets in) ---- */
static const nb_op SWISH_UNDECLARED = {"swish_undeclared", swish_fwd, swish_bwd, NB_SAVES_IN(0), false, NULL};
static nb_tensor *swish(nb_tensor *x) { return nb_apply(&SWISH, &x, 1, x->shape); }
static nb_tensor *swish_buggy(nb_tensor *x) { return nb_apply(&SWISH_BUGGY, &x, 1, x->shape); }
static nb_tensor *swish_undeclared(nb_tensor *x) { return nb_apply(&SWISH_UNDECLARED, &x, 1, x->shape); }

static double rel_err(double a, double n) {
    double m = fmax(fabs(a), fabs(n));
    return m > 0 ? fabs(a - n) / m : 0;
}

int main(void) {
    printf("1. f(x) = x^3 - 2x at x = 1.5, analytic f'(x) = 3x^2 - 2 = %.10f\n", 3 * 1.5 * 1.5 - 2);
    printf("   %-8s %-18s %-10s\n", "h", "numerical (f64)", "rel err");
    for (double h = 1e-1; h >= 1e-9; h /= 100) {
        double n = (f(1.5 + h) - f(1.5 - h)) / (2 * h);
        printf("   %-8.0e %-18.10f %.2e\n", h, n, rel_err(4.75, n));
    }
    printf("\n2. the same in float (h = 1e-3 and 1e-5):\n");
    for (float h = 1e-3f; h >= 1e-5f; h /= 100) {
        float n = (ff(1.5f + h) - ff(1.5f - h)) / (2 * h);
        printf("   h %.0e  numerical %.7f  rel err %.2e\n", (double)h, (double)n, rel_err(4.75, n));
    }
    printf("   -> check gradients in double; nb_gradcheck checks them in F64 (then compares an F32 run with it).\n");

    printf("\n3. a kink: relu at x = 1e-7 with h = 1e-6\n");
    double x0 = 1e-7, h = 1e-6;
    double n = (fmax(x0 + h, 0) - fmax(x0 - h, 0)) / (2 * h);
    printf("   numerical %.4f, analytic 1 -> rel err %.2f (not a bug: the check straddles the kink)\n", n,
           rel_err(1, n));
    nb_tensor *k = nb_from_f64(NB_SHAPE(3), (double[]){1e-7, 0.5, -2.0});
    nb_gradcheck_report r = nb_gradcheck1(nb_relu, k, NULL);
    printf("   nb_gradcheck(relu) at (1e-7, 0.5, -2): %s, %lld kink(s) flagged\n", r.ok ? "passed" : "FAILED",
           (long long)r.kinks);

    printf("\n4. a user-defined op: swish(x) = x * sigmoid(x)\n");
    nb_seed(4);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(2, 3), -3, 3);
    r = nb_gradcheck1(swish, x, NULL);
    printf("   swish:       %s, worst rel err %.1e (input element %lld)\n", r.ok ? "passed" : "FAILED", r.rel_err,
           (long long)r.worst_in_index);
    nb_gradcheck_opts quiet = nb_gradcheck_defaults();
    quiet.quiet = true;
    r = nb_gradcheck1(swish_buggy, x, &quiet);
    printf("   swish_buggy: %s, worst element %lld: analytic %.6f vs numerical %.6f (rel err %.2f)\n",
           r.ok ? "passed (?!)" : "FAILED as it should", (long long)r.worst_in_index, r.analytic, r.numeric, r.rel_err);
    printf("\nthe checker's report for the buggy op:\n%s", r.message);

    printf("\n5. dtypes: swish reads doubles, and its nb_op says so (.dtypes = NB_DTYPE_BIT(NB_F64))\n");
    nb_set_error_mode(NB_ERRORS_RECOVER); /* print the error instead of aborting */
    nb_tensor *x32 = nb_rand(NB_F32, NB_SHAPE(2, 3), -3, 3);
    nb_tensor *y32 = swish(x32);
    printf("   swish(f32 tensor): %s: %s\n", y32 ? "ran (?!)" : "refused", nb_error_message());
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
    r = nb_gradcheck1(swish_undeclared, x, &quiet);
    printf("   with nothing declared, nb_gradcheck's F32 run: %s\n", r.ok ? "passed (?!)" : "FAILED as it should");
    const char *line = strstr(r.message, "f32 MISMATCH");
    if (line) printf("   %.*s\n", (int)strcspn(line, "\n"), line);
    nb_tensor_free(x32);
    nb_tensor_free(k);
    nb_tensor_free(x);
    return 0;
}
