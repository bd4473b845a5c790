/* test_op_dtypes.c — user ops and dtypes, through the
 * public header and the shared library only: an op that declares the dtypes
 * it handles (nb_op.dtypes) refuses the others with an error naming the op,
 * the input and its dtype; nb_gradcheck also runs the op in F32 and compares
 * with F64, so an op that is wrong in F32 — or written for F64 alone without
 * saying so, the example — fails the check instead of passing it.
 * Runs in the default error mode (abort): the checker's F32 trial must not
 * abort on an op that refuses F32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include <nabla/nabla.h>

#ifdef NB_BUILDING_LIB
#error "this test must see only what a user sees"
#endif

/* ------------------------------------------------- y = x³ written for F64 alone */

static void cube64_fwd(nb_node *n) {
    const double *x = (const double *)n->in[0]->data;
    double *y = (double *)n->out->data;
    for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] * x[i] * x[i];
}
static void cube64_bwd(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    const double *x = (const double *)n->in[0]->data, *g = (const double *)gy->data;
    for (int64_t i = 0; i < gx->numel; i++) ((double *)gx->data)[i] += g[i] * 3 * x[i] * x[i];
}
/* declared: F64 only */
static const nb_op CUBE64 = {"cube64", cube64_fwd, cube64_bwd, NB_SAVES_IN(0), false, NULL, NB_DTYPE_BIT(NB_F64)};
/* the example: the same code, nothing declared */
static const nb_op CUBE64_UNDECLARED = {"cube64_undeclared", cube64_fwd, cube64_bwd, NB_SAVES_IN(0), false, NULL};

static nb_tensor *cube64(nb_tensor *x) { return nb_apply(&CUBE64, &x, 1, nb_shape_of(x)); }
static nb_tensor *cube64_undeclared(nb_tensor *x) { return nb_apply(&CUBE64_UNDECLARED, &x, 1, nb_shape_of(x)); }

/* ------------------------------------------------- a two-input op: a·b + b, floats and an i64 count */

static void axpb_fwd(nb_node *n) {
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *a = (const T *)n->in[0]->data, *b = (const T *)n->in[1]->data;
        for (int64_t i = 0; i < n->out->numel; i++) ((T *)n->out->data)[i] = a[i] * b[i] + b[i];
    });
}
static void axpb_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *ga = nb_grad_buf(n->in[0]), *gb = nb_grad_buf(n->in[1]);
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *a = (const T *)n->in[0]->data, *b = (const T *)n->in[1]->data, *gg = (const T *)g->data;
        for (int64_t i = 0; i < g->numel; i++) {
            if (ga) ((T *)ga->data)[i] += gg[i] * b[i];
            if (gb) ((T *)gb->data)[i] += gg[i] * (a[i] + 1);
        }
    });
}
static const nb_op AXPB = {.name = "axpb", .forward = axpb_fwd, .backward = axpb_bwd, .dtypes = NB_DTYPES_FLOAT};
static nb_tensor *call_axpb(nb_tensor *const *in, int nin, void *ctx) {
    (void)ctx;
    return nb_apply(&AXPB, in, nin, nb_shape_of(in[0]));
}

/* ------------------------------------------------- a tanh-like x(27+x²)/(27+9x²), F32 by its own code */

/* The F32 path is separate code (as a hand-tuned fast path would be); g_bug
 * breaks it in forward or backward, F64 staying right. */
static int g_bug; /* 0: right, 1: F32 forward wrong, 2: F32 backward wrong, 3: F32 forward 1% off */
static float tanh_fast(float x) {
    const float x2 = x * x;
    if (g_bug == 1) return x * (10 + x2) / (10 + 9 * x2);
    return x * (27 + x2) / (27 + 9 * x2) * (g_bug == 3 ? 1.01f : 1.0f);
}
static void mytanh_fwd(nb_node *n) {
    if (n->out->dtype == NB_F32) {
        const float *x = (const float *)n->in[0]->data;
        for (int64_t i = 0; i < n->out->numel; i++) ((float *)n->out->data)[i] = tanh_fast(x[i]);
    } else {
        const double *x = (const double *)n->in[0]->data;
        for (int64_t i = 0; i < n->out->numel; i++)
            ((double *)n->out->data)[i] = x[i] * (27 + x[i] * x[i]) / (27 + 9 * x[i] * x[i]);
    }
}
/* d/dx u/v = (u'v - uv')/v², u = x(27+x²), v = 27+9x² */
static void mytanh_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    NB_FLOAT_DISPATCH(gx->dtype, T, {
        const T *x = (const T *)n->in[0]->data, *gg = (const T *)g->data;
        for (int64_t i = 0; i < gx->numel; i++) {
            T u = x[i] * (27 + x[i] * x[i]), du = 27 + 3 * x[i] * x[i];
            T v = 27 + 9 * x[i] * x[i], dv = 18 * x[i];
            T d = (du * v - u * dv) / (v * v);
            if (sizeof(T) == 4 && g_bug == 2) d = du / v; /* the quotient rule half-forgotten, F32 only */
            ((T *)gx->data)[i] += gg[i] * d;
        }
    });
}
static const nb_op MYTANH = {"mytanh", mytanh_fwd, mytanh_bwd, NB_SAVES_IN(0), false, NULL, NB_DTYPES_FLOAT};
static nb_tensor *mytanh(nb_tensor *x) { return nb_apply(&MYTANH, &x, 1, nb_shape_of(x)); }

static nb_gradcheck_opts quiet(void) {
    nb_gradcheck_opts o = nb_gradcheck_defaults();
    o.quiet = true;
    return o;
}

/* ------------------------------------------------- the tests */

static void errors_recorded(nb_status st, const char *msg, void *user) {
    (void)st;
    snprintf((char *)user, 1024, "%s", msg);
}

/* An F64-only op fed F32: a clear error before forward runs, not garbage. */
static void declared_dtypes_refused(void **state) {
    (void)state;
    char seen[1024] = "";
    nb_set_error_handler(errors_recorded, seen);
    nb_tensor *x32 = nb_full(NB_F32, NB_SHAPE(2, 3), 2), *x64 = nb_full(NB_F64, NB_SHAPE(2, 3), 2);
    nb_set_name(x32, "x");
    assert_null(cube64(x32));
    assert_int_equal(nb_error(), NB_ERR_DTYPE);
    printf("refused: %s\n", nb_error_message());
    assert_non_null(strstr(nb_error_message(), "cube64"));
    assert_non_null(strstr(nb_error_message(), "input 0 'x' is f32"));
    assert_non_null(strstr(nb_error_message(), "takes only f64"));
    assert_string_equal(seen, nb_error_message()); /* the handler saw it */
    nb_error_clear();
    nb_tensor *y = cube64(x64);
    assert_non_null(y);
    assert_true(nb_f64(y)[5] == 8);
    nb_tensor_free(y);
    /* two inputs: the second one is named; an i64 input to a float op */
    nb_tensor *a = nb_ones(NB_F64, NB_SHAPE(3)), *b = nb_zeros(NB_I64, NB_SHAPE(3));
    nb_set_name(b, "counts");
    nb_tensor *in[2] = {a, b};
    assert_null(call_axpb(in, 2, NULL));
    printf("refused: %s\n", nb_error_message());
    assert_non_null(strstr(nb_error_message(), "axpb: input 1 'counts' is i64, but the op takes only f32, f64"));
    nb_error_clear();
    nb_set_error_handler(NULL, NULL);
    nb_tensor_free(x32), nb_tensor_free(x64), nb_tensor_free(a), nb_tensor_free(b);
}

/* The example: nothing declared, F64-only code. gradcheck used to
 * pass it (F64 only); its F32 run now catches it — and stays within the
 * buffers while doing so (the test runs under ASan too). */
static void undeclared_f64_only_op_fails_gradcheck(void **state) {
    (void)state;
    nb_seed(3);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(3, 4), -1, 1);
    nb_gradcheck_opts o = quiet();
    o.skip_f32 = true; /* what the check did before: F64 alone, and it passes */
    assert_true(nb_gradcheck1(cube64_undeclared, x, &o).ok);
    o.skip_f32 = false;
    nb_gradcheck_report r = nb_gradcheck1(cube64_undeclared, x, &o);
    printf("%s", r.message);
    assert_false(r.ok);
    assert_true(r.f32_ran);
    assert_false(r.f32_ok);
    assert_true(r.mismatches == 0);                     /* the F64 Jacobian is right... */
    assert_non_null(strstr(r.message, "f32 MISMATCH")); /* ...the F32 run isn't */
    assert_non_null(strstr(r.message, "NB_DTYPE_BIT(NB_F64)"));
    /* declared, it passes: the F32 run is refused (noted, not failed), in
     * abort mode without aborting, and the caller's error state is kept */
    assert_int_equal(nb_error(), NB_OK);
    r = nb_gradcheck1(cube64, x, &o);
    printf("%s", r.message);
    assert_true(r.ok);
    assert_false(r.f32_ran);
    assert_non_null(strstr(r.message, "f32: not run: the function refuses f32 inputs"));
    assert_non_null(strstr(r.message, "input 0 is f32, but the op takes only f64"));
    assert_int_equal(nb_error(), NB_OK);
    nb_tensor_free(x);
}

/* An op whose F32 path is wrong, in forward or in backward: gradcheck's F64
 * Jacobian can't see it; the F32 comparison reports it. */
static void wrong_in_f32_is_reported(void **state) {
    (void)state;
    nb_seed(4);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(5), -2, 2);
    nb_gradcheck_opts o = quiet();
    g_bug = 0;
    nb_gradcheck_report r = nb_gradcheck1(mytanh, x, &o);
    printf("%s", r.message);
    assert_true(r.ok);
    assert_true(r.f32_ran && r.f32_ok);
    assert_true(r.f32_err < 1e-4);
    assert_non_null(strstr(r.message, "f32 vs f64: output and gradients agree"));

    g_bug = 1; /* F32 forward wrong */
    r = nb_gradcheck1(mytanh, x, &o);
    printf("%s", r.message);
    assert_false(r.ok);
    assert_int_equal(r.mismatches, 0);
    assert_false(r.f32_ok);
    assert_non_null(strstr(r.message, "f32 MISMATCH: output element ("));

    g_bug = 2; /* F32 backward wrong */
    r = nb_gradcheck1(mytanh, x, &o);
    printf("%s", r.message);
    assert_false(r.ok);
    assert_int_equal(r.mismatches, 0);
    assert_non_null(strstr(r.message, "f32 MISMATCH: the gradient of input 0"));

    g_bug = 3; /* F32 forward 1% off: fails the default tolerance, passes a looser one */
    r = nb_gradcheck1(mytanh, x, &o);
    assert_false(r.ok);
    assert_true(r.f32_err > 5e-3 && r.f32_err < 2e-2);
    o.f32_tol = 0.05;
    r = nb_gradcheck1(mytanh, x, &o);
    assert_true(r.ok);
    o.f32_tol = 0;
    o.skip_f32 = true;
    g_bug = 1;
    assert_true(nb_gradcheck1(mytanh, x, &o).ok); /* skipped: not looked at */
    g_bug = 0;
    nb_tensor_free(x);
}

/* Multi-input ops with inputs that need no grad, and F32 inputs given to the
 * checker (checked in F64, compared in F32). */
static void two_inputs_and_f32_inputs(void **state) {
    (void)state;
    nb_seed(5);
    nb_tensor *in[2] = {nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(2, 3), -1, 1), true),
                        nb_rand(NB_F32, NB_SHAPE(2, 3), -1, 1)};
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck(call_axpb, in, 2, NULL, &o);
    printf("%s", r.message);
    assert_true(r.ok);
    assert_true(r.f32_ran && r.f32_ok);
    nb_set_requires_grad(in[1], true);
    r = nb_gradcheck(call_axpb, in, 2, NULL, &o);
    assert_true(r.ok);
    assert_true(r.f32_ran && r.f32_ok);
    nb_tensor_free(in[0]), nb_tensor_free(in[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(declared_dtypes_refused),
        cmocka_unit_test(undeclared_f64_only_op_fails_gradcheck),
        cmocka_unit_test(wrong_in_f32_is_reported),
        cmocka_unit_test(two_inputs_and_f32_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
