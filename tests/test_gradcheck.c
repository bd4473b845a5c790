/* test_gradcheck.c — the checker itself: it must catch each kind of broken
 * backward (wrong value, ignores the upstream gradient, overwrites instead of
 * accumulating, gives a gradient to an input that needs none, not reentrant),
 * flag kinks instead of failing them, fall back from fast mode, check F32
 * inputs in F64 and honour custom tolerances. Each broken op is a user op. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "nabla/nabla.h"

/* ------------------------------------------------------------ y = x², in several flavours */

static void square_fwd(nb_node *n) {
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data;
        T *y = (T *)n->out->data;
        for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] * x[i];
    });
}

/* dy/dx = FACTOR x, times the upstream gradient g; ACC is += or = */
#define SQUARE_BWD(NAME, FACTOR, G, ACC)                                      \
    static void NAME(nb_node *n, const nb_tensor *gy) {                       \
        nb_tensor *gx = nb_grad_buf(n->in[0]);                                \
        if (!gx) return;                                                      \
        NB_FLOAT_DISPATCH(gx->dtype, T, {                                     \
            const T *x = (const T *)n->in[0]->data, *g = (const T *)gy->data; \
            T *d = (T *)gx->data;                                             \
            for (int64_t i = 0; i < gx->numel; i++) {                         \
                (void)g[i];                                                   \
                d[i] ACC(T)(G) * (T)(FACTOR)*x[i];                            \
            }                                                                 \
        });                                                                   \
    }

SQUARE_BWD(square_bwd, 2, g[i], +=)
SQUARE_BWD(square_bwd_3x, 3, g[i], +=)      /* wrong value */
SQUARE_BWD(square_bwd_noup, 2, 1, +=)       /* ignores the upstream gradient */
SQUARE_BWD(square_bwd_assign, 2, g[i], =)   /* overwrites */
SQUARE_BWD(square_bwd_1005, 2.01, g[i], +=) /* 0.5% off */

static int calls;
static void square_bwd_static(nb_node *n, const nb_tensor *gy) { /* not reentrant */
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    calls++;
    for (int64_t i = 0; i < gx->numel; i++)
        nb_f64(gx)[i] += nb_f64(gy)[i] * 2 * nb_f64(n->in[0])[i] * (1 + 1e-9 * calls);
}

/* (ops whose code reads F64 only say so: nb_apply refuses F32 for them) */
#define F64_ONLY NB_DTYPE_BIT(NB_F64)
static const nb_op SQUARE = {"square", square_fwd, square_bwd, NB_SAVES_IN(0), false, NULL};
static const nb_op SQUARE_3X = {"square_wrong", square_fwd, square_bwd_3x, NB_SAVES_IN(0), false, NULL};
static const nb_op SQUARE_NOUP = {"square_noup", square_fwd, square_bwd_noup, NB_SAVES_IN(0), false, NULL};
static const nb_op SQUARE_ASSIGN = {"square_assign", square_fwd, square_bwd_assign, NB_SAVES_IN(0), false, NULL};
static const nb_op SQUARE_1005 = {"square_1005", square_fwd, square_bwd_1005, NB_SAVES_IN(0), false, NULL};
static const nb_op SQUARE_STATIC = {"square_static", square_fwd, square_bwd_static, NB_SAVES_IN(0),
                                    false,           NULL,       F64_ONLY};

static nb_tensor *square(nb_tensor *x) { return nb_apply(&SQUARE, &x, 1, x->shape); }
static nb_tensor *square_wrong(nb_tensor *x) { return nb_apply(&SQUARE_3X, &x, 1, x->shape); }
static nb_tensor *square_noup(nb_tensor *x) { return nb_apply(&SQUARE_NOUP, &x, 1, x->shape); }
static nb_tensor *square_assign(nb_tensor *x) { return nb_apply(&SQUARE_ASSIGN, &x, 1, x->shape); }
static nb_tensor *square_1005(nb_tensor *x) { return nb_apply(&SQUARE_1005, &x, 1, x->shape); }
static nb_tensor *square_static(nb_tensor *x) { return nb_apply(&SQUARE_STATIC, &x, 1, x->shape); }

/* ------------------------------------------------------------ a two-input op: y = a * b */

static void prod_fwd(nb_node *n) {
    for (int64_t i = 0; i < n->out->numel; i++) nb_f64(n->out)[i] = nb_f64(n->in[0])[i] * nb_f64(n->in[1])[i];
}
static void prod_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *ga = nb_grad_buf(n->in[0]), *gb = nb_grad_buf(n->in[1]);
    for (int64_t i = 0; i < g->numel; i++) {
        if (ga) nb_f64(ga)[i] += nb_f64(g)[i] * nb_f64(n->in[1])[i];
        if (gb) nb_f64(gb)[i] += nb_f64(g)[i] * nb_f64(n->in[0])[i];
    }
}
/* The bug: always computes b's gradient, making one when b needs none. */
static void prod_bwd_forces_grad(nb_node *n, const nb_tensor *g) {
    nb_tensor *b = n->in[1];
    nb_tensor *gb = nb_grad_buf(b);
    if (!gb) {
        if (!b->grad) b->grad = nb_zeros(b->dtype, b->shape);
        gb = b->grad;
    }
    nb_tensor *ga = nb_grad_buf(n->in[0]);
    for (int64_t i = 0; i < g->numel; i++) {
        if (ga) nb_f64(ga)[i] += nb_f64(g)[i] * nb_f64(n->in[1])[i];
        nb_f64(gb)[i] += nb_f64(g)[i] * nb_f64(n->in[0])[i];
    }
}
/* Worse: makes every gradient itself, in the current scope. */
static void prod_bwd_own_grads(nb_node *n, const nb_tensor *g) {
    for (int k = 0; k < 2; k++) {
        nb_tensor *x = n->in[k], *o = n->in[1 - k];
        if (!x->requires_grad) continue;
        if (!x->grad) x->grad = nb_zeros(x->dtype, x->shape);
        for (int64_t i = 0; i < g->numel; i++) nb_f64(x->grad)[i] += nb_f64(g)[i] * nb_f64(o)[i];
    }
}
static const nb_op PROD = {"prod", prod_fwd, prod_bwd, 0, false, NULL, F64_ONLY};
static const nb_op PROD_FORCE = {"prod_forces_grad", prod_fwd, prod_bwd_forces_grad, 0, false, NULL, F64_ONLY};
static const nb_op PROD_OWN = {"prod_own_grads", prod_fwd, prod_bwd_own_grads, 0, false, NULL, F64_ONLY};

static nb_tensor *call_op(nb_tensor *const *in, int nin, void *ctx) {
    return nb_apply((const nb_op *)ctx, in, nin, in[0]->shape);
}

/* ------------------------------------------------------------ helpers */

static nb_gradcheck_opts quiet(void) {
    nb_gradcheck_opts o = nb_gradcheck_defaults();
    o.quiet = true;
    return o;
}

static nb_tensor *sample(void) { return nb_from_f64(NB_SHAPE(3), (double[]){0.5, -1.5, 2.0}); }

static int setup(void **state) {
    (void)state;
    nb_error_clear();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    assert_null(nb_scope_current());
    assert_int_equal(nb_error(), NB_OK);
    return 0;
}

/* ------------------------------------------------------------ tests */

static void defaults_are_pytorchs(void **state) {
    (void)state;
    nb_gradcheck_opts o = nb_gradcheck_defaults();
    assert_true(o.eps == 1e-6 && o.atol == 1e-5 && o.rtol == 1e-3);
    assert_false(o.fast);
    assert_false(o.skip_extras);
    assert_false(o.scale_eps);
}

static void correct_op_passes(void **state) {
    (void)state;
    nb_tensor *x = sample();
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck1(square, x, &o);
    assert_true(r.ok);
    assert_string_equal(r.op, "square");
    assert_true(r.reentrant_ok && r.zero_grad_ok && r.no_grad_ok && r.accumulate_ok);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(r.kinks, 0);
    assert_true(r.rel_err < 1e-7);
    assert_non_null(strstr(r.message, "gradcheck: square: PASSED"));
    assert_false(x->requires_grad); /* left as it was */
    assert_null(x->grad);
    /* the input's values are untouched */
    assert_true(nb_get(x, 0) == 0.5 && nb_get(x, 1) == -1.5 && nb_get(x, 2) == 2.0);
    nb_tensor_free(x);
}

static void wrong_gradient_fails_with_report(void **state) {
    (void)state;
    nb_tensor *x = sample();
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck1(square_wrong, x, &o);
    assert_false(r.ok);
    assert_string_equal(r.op, "square_wrong");
    assert_int_equal(r.mismatches, 3);
    assert_int_equal(r.worst_input, 0);
    assert_int_equal(r.worst_in_index, 2); /* |3x - 2x| is largest at x = 2 */
    assert_int_equal(r.worst_out_index, 2);
    assert_true(fabs(r.analytic - 6.0) < 1e-12);
    assert_true(fabs(r.numeric - 4.0) < 1e-6);
    assert_true(fabs(r.abs_err - 2.0) < 1e-6);
    assert_true(fabs(r.rel_err - 1.0 / 3) < 1e-6);
    assert_non_null(strstr(r.message, "gradcheck: square_wrong: FAILED"));
    assert_non_null(strstr(r.message, "MISMATCH"));
    assert_non_null(strstr(r.message, "worst element (2) (output element (2))"));
    assert_int_equal(r.worst_in_ndim, 1);
    assert_int_equal(r.worst_in_pos[0], 2);
    assert_non_null(strstr(r.message, "analytic 6"));
    assert_non_null(strstr(r.message, "numerical 4"));
    assert_non_null(strstr(r.message, "3 of 9 elements outside tolerance"));
    /* not quiet: the report is printed (to stderr); nb_gradcheck_print writes the same */
    char buf[2048];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    nb_gradcheck_print(f, &r);
    fclose(f);
    assert_string_equal(buf, r.message);
    nb_tensor_free(x);
}

static void ignoring_upstream_fails_zero_grad_check(void **state) {
    (void)state;
    nb_tensor *x = sample();
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck1(square_noup, x, &o);
    assert_false(r.ok);
    assert_false(r.zero_grad_ok);
    assert_non_null(strstr(r.message, "backward is not multiplied by the upstream gradient"));
    nb_tensor_free(x);
}

static void overwriting_fails_accumulate_check(void **state) {
    (void)state;
    nb_tensor *x = sample();
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck1(square_assign, x, &o);
    assert_false(r.ok);
    assert_int_equal(r.mismatches, 0); /* the Jacobian alone looks right */
    assert_true(r.reentrant_ok);
    assert_true(r.zero_grad_ok);
    assert_false(r.accumulate_ok);
    assert_non_null(strstr(r.message, "a second backward does not accumulate at input 0"));
    /* with the extra checks off it would pass: the check is what catches it */
    o.skip_extras = true;
    r = nb_gradcheck1(square_assign, x, &o);
    assert_true(r.ok);
    nb_tensor_free(x);
}

static void grad_to_input_not_requiring_it_fails(void **state) {
    (void)state;
    nb_tensor *in[2] = {nb_set_requires_grad(sample(), true), nb_set_requires_grad(sample(), true)};
    nb_set_name(in[1], "b");
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck(call_op, in, 2, (void *)&PROD, &o);
    assert_true(r.ok);
    assert_string_equal(r.op, "prod");
    r = nb_gradcheck(call_op, in, 2, (void *)&PROD_FORCE, &o);
    assert_false(r.ok);
    assert_int_equal(r.mismatches, 0);
    assert_false(r.no_grad_ok);
    assert_non_null(strstr(r.message, "input 1 requires no grad but got a gradient"));
    /* the caller's tensors are untouched */
    assert_null(in[0]->grad);
    assert_null(in[1]->grad);
    /* b fixed from the start: b is not checked and the gradcheck passes for prod */
    nb_set_requires_grad(in[1], false);
    r = nb_gradcheck(call_op, in, 2, (void *)&PROD, &o);
    assert_true(r.ok);
    assert_non_null(strstr(r.message, "3 parameter(s)"));
    /* and a backward that gives b a gradient anyway is caught there too */
    r = nb_gradcheck(call_op, in, 2, (void *)&PROD_FORCE, &o);
    assert_false(r.ok);
    assert_false(r.no_grad_ok);
    assert_non_null(strstr(r.message, "input 1 requires no grad but got a gradient"));
    assert_null(in[1]->grad);
    /* gradients made in the checker's scope are caught (and never left dangling) */
    nb_set_requires_grad(in[1], true);
    r = nb_gradcheck(call_op, in, 2, (void *)&PROD_OWN, &o);
    assert_false(r.ok);
    if (!strstr(r.message, "get gradient buffers with nb_grad_buf")) fail_msg("%s", r.message);
    nb_tensor_free(in[0]);
    nb_tensor_free(in[1]);
}

static void non_reentrant_backward_fails(void **state) {
    (void)state;
    nb_tensor *x = sample();
    nb_gradcheck_opts o = quiet();
    calls = 0;
    nb_gradcheck_report r = nb_gradcheck1(square_static, x, &o);
    assert_true(calls > 0);
    assert_false(r.ok);
    assert_int_equal(r.mismatches, 0);
    assert_false(r.reentrant_ok);
    assert_non_null(strstr(r.message, "backward is not reentrant"));
    nb_tensor_free(x);
}

static void kinks_are_flagged_not_failed(void **state) {
    (void)state;
    nb_tensor *x = nb_from_f64(NB_SHAPE(4), (double[]){1e-7, 0.5, -1.0, -3e-7});
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck1(nb_abs, x, &o);
    assert_true(r.ok);
    assert_int_equal(r.kinks, 2);
    assert_int_equal(r.mismatches, 0);
    assert_non_null(strstr(r.message, "2 element(s) at kinks"));
    /* relu the same */
    r = nb_gradcheck1(nb_relu, x, &o);
    assert_true(r.ok);
    assert_int_equal(r.kinks, 2);
    /* a kink does not hide a real bug elsewhere */
    nb_tensor *y = nb_from_f64(NB_SHAPE(2), (double[]){1e-7, 0.7});
    r = nb_gradcheck1(square_wrong, y, &o);
    assert_false(r.ok);
    assert_int_equal(r.kinks, 0); /* x² has no kink: the 3x error is never excused */
    nb_tensor_free(x);
    nb_tensor_free(y);
}

/* The report names the input and gives the worst element as a multi-index. */
static void report_names_input_and_multi_index(void **state) {
    (void)state;
    nb_tensor *x = nb_set_name(nb_from_f64(NB_SHAPE(2, 3), (double[]){0.5, -1.5, 2.0, 0.25, 3.0, -1.0}), "W");
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck1(square_wrong, x, &o);
    assert_false(r.ok);
    assert_string_equal(r.worst_input_name, "W");
    assert_int_equal(r.worst_in_index, 4); /* |3x - 2x| is largest at x = 3: row 1, column 1 */
    assert_int_equal(r.worst_in_ndim, 2);
    assert_int_equal(r.worst_in_pos[0], 1);
    assert_int_equal(r.worst_in_pos[1], 1);
    assert_non_null(strstr(r.message, "input 0 'W' (2,3): MISMATCH; worst element (1,1) (output element (1,1))"));
    nb_tensor_free(x);
}

static void fast_mode(void **state) {
    (void)state;
    nb_seed(11);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(4, 5), -2, 2);
    nb_gradcheck_opts o = quiet();
    o.fast = true;
    nb_gradcheck_report r = nb_gradcheck1(square, x, &o);
    assert_true(r.ok);
    assert_false(r.fast_fallback);
    assert_non_null(strstr(r.message, "fast mode: vᵀJu agrees"));
    /* no element-wise comparison was needed: the worst fields hold the input's own projection */
    assert_int_equal(r.worst_input, 0);
    assert_int_equal(r.worst_in_index, -1);
    assert_true(r.rel_err < 1e-6 && r.abs_err <= 1e-5 + 1e-3 * fabs(r.numeric));
    assert_true(r.analytic != 0);
    assert_non_null(strstr(r.message, "fast mode: worst input 0"));
    r = nb_gradcheck1(nb_tanh, x, &o);
    assert_true(r.ok);
    assert_false(r.fast_fallback);
    r = nb_gradcheck1(square_wrong, x, &o);
    assert_false(r.ok);
    assert_true(r.fast_fallback);
    assert_true(r.mismatches > 0);
    assert_non_null(strstr(r.message, "falling back to the full Jacobian"));
    assert_non_null(strstr(r.message, "MISMATCH"));
    nb_tensor_free(x);
}

static int seen_dtype = -1;
static void exp_fwd(nb_node *n) {
    seen_dtype = (int)n->in[0]->dtype;
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        for (int64_t i = 0; i < n->out->numel; i++) ((T *)n->out->data)[i] = (T)exp(((const T *)n->in[0]->data)[i]);
    });
}
static void exp_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    NB_FLOAT_DISPATCH(gx->dtype, T, {
        for (int64_t i = 0; i < gx->numel; i++)
            ((T *)gx->data)[i] += ((const T *)g->data)[i] * ((const T *)n->out->data)[i];
    });
}
static const nb_op MYEXP = {"myexp", exp_fwd, exp_bwd, NB_SAVES_OUT, false, NULL};
static nb_tensor *myexp(nb_tensor *x) { return nb_apply(&MYEXP, &x, 1, x->shape); }

static void f32_inputs_are_checked_in_f64(void **state) {
    (void)state;
    nb_seed(5);
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(6), -1, 2);
    nb_gradcheck_opts o = quiet();
    o.skip_f32 = true; /* (the F32 comparison runs the op in F32 last) */
    nb_gradcheck_report r = nb_gradcheck1(myexp, x, &o);
    assert_int_equal(seen_dtype, NB_F64);
    assert_true(r.ok);
    assert_false(r.f32_ran);
    o.skip_f32 = false;
    r = nb_gradcheck1(myexp, x, &o);
    assert_true(r.ok);
    assert_true(r.f32_ran);
    assert_true(r.f32_err < 1e-5);
    assert_true(r.rel_err < 1e-6); /* impossible with f32 central differences at eps 1e-6 */
    assert_int_equal(x->dtype, NB_F32);
    assert_null(x->grad);
    /* the same op run in f32 by hand: differences at eps 1e-6 are noise */
    seen_dtype = -1;
    nb_tensor *y = myexp(x);
    assert_int_equal(seen_dtype, NB_F32);
    nb_tensor_free(y);
    nb_tensor_free(x);
}

static void custom_tolerances(void **state) {
    (void)state;
    nb_tensor *x = sample();
    nb_gradcheck_opts o = quiet();
    o.skip_extras = true;
    nb_gradcheck_report r = nb_gradcheck1(square_1005, x, &o); /* 0.5% off: fails rtol 1e-3 */
    assert_false(r.ok);
    assert_true(fabs(r.rel_err - 0.01 / 2.01) < 1e-6);
    o.rtol = 1e-2;
    r = nb_gradcheck1(square_1005, x, &o);
    assert_true(r.ok);
    assert_non_null(strstr(r.message, "rtol 0.01"));
    /* atol alone: the largest error is 0.01*2 = 0.02 */
    o.rtol = 0;
    o.atol = 0.015;
    r = nb_gradcheck1(square_1005, x, &o);
    assert_false(r.ok);
    assert_int_equal(r.mismatches, 1);
    o.atol = 0.025;
    r = nb_gradcheck1(square_1005, x, &o);
    assert_true(r.ok);
    /* a big step: eps 1e-2 still exact for x² (central differences are exact for quadratics) */
    o = quiet();
    o.eps = 1e-2;
    r = nb_gradcheck1(square, x, &o);
    assert_true(r.ok);
    assert_true(r.abs_err < 1e-10);
    assert_non_null(strstr(r.message, "eps 0.01"));
    nb_tensor_free(x);
}

static nb_tensor *bad_matmul(nb_tensor *const *in, int nin, void *ctx) {
    (void)nin;
    (void)ctx;
    return nb_matmul(in[0], in[0]); /* (2,3)@(2,3): a shape error */
}

static void failing_function_is_reported(void **state) {
    (void)state;
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_tensor *in[2] = {nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(2, 3)), true), NULL};
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck(bad_matmul, in, 1, NULL, &o);
    assert_false(r.ok);
    assert_non_null(strstr(r.message, "the function failed: nabla: matmul: inner dimensions differ"));
    nb_error_clear();
    /* a NULL input */
    r = nb_gradcheck(call_op, in, 2, (void *)&PROD, &o);
    assert_false(r.ok);
    assert_non_null(strstr(r.message, "the function failed"));
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_tensor_free(in[0]);
}

static void registry_ops_pass_at_random_points(void **state) {
    (void)state;
    /* a composite: the registry's ops combined still check out */
    nb_seed(3);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(3, 4), 0.5, 2);
    nb_gradcheck_opts o = quiet();
    nb_gradcheck_report r = nb_gradcheck1(nb_sqrt, x, &o);
    assert_true(r.ok);
    r = nb_gradcheck1(nb_log, x, &o);
    assert_true(r.ok);
    r = nb_gradcheck1(nb_sigmoid, x, &o);
    assert_true(r.ok);
    nb_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults_are_pytorchs, setup, teardown),
        cmocka_unit_test_setup_teardown(correct_op_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_gradient_fails_with_report, setup, teardown),
        cmocka_unit_test_setup_teardown(ignoring_upstream_fails_zero_grad_check, setup, teardown),
        cmocka_unit_test_setup_teardown(overwriting_fails_accumulate_check, setup, teardown),
        cmocka_unit_test_setup_teardown(grad_to_input_not_requiring_it_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(non_reentrant_backward_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(kinks_are_flagged_not_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(fast_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(report_names_input_and_multi_index, setup, teardown),
        cmocka_unit_test_setup_teardown(f32_inputs_are_checked_in_f64, setup, teardown),
        cmocka_unit_test_setup_teardown(custom_tolerances, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_function_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(registry_ops_pass_at_random_points, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
