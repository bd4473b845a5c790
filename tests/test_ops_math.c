/* Tests of the math op family (ops/elementwise.c, ops/reduce.c extras,
 * ops/softmax.c): forward values on hand-computed cases, gradients at ties
 * and bounds (PyTorch's rules), argmax/argmin, stability at ±1e4, and one
 * bad-input case per op, caught by an error handler that checks the status
 * and that the message names the op and the shapes. The registry test
 * gradchecks the same ops on random samples; the PyTorch reference test
 * compares them with torch. */
#include "test_util.h"

/* ------------------------------------------------------------ helpers */

static nb_tensor *f64(nb_shape s, const double *v, bool grad) { return nb_set_requires_grad(nb_from_f64(s, v), grad); }
#define V(...) ((const double[]){__VA_ARGS__})
#define I(...) ((const int64_t[]){__VA_ARGS__})
#define AX(...) ((const int[]){__VA_ARGS__})

static void expect_finite(const nb_tensor *t) {
    assert_non_null(t);
    for (int64_t i = 0; i < t->numel; i++) {
        if (!isfinite(nb_get(t, i))) {
            print_error("element %lld is %g\n", (long long)i, nb_get(t, i));
            fail();
        }
    }
}

static double sigm(double x) { return 1 / (1 + exp(-x)); }

/* ------------------------------------------------------------ maximum, minimum */

static void test_maximum_minimum(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* broadcast (2,3) with (3); ties at [0,0] and [1,2] */
    nb_tensor *a = f64(NB_SHAPE(2, 3), V(1, 2, 3, -1, 5, 4), true);
    nb_tensor *b = f64(NB_SHAPE(3), V(1, 0, 4), true);
    nb_tensor *y = nb_maximum(a, b);
    assert_true(nb_shape_eq(y->shape, NB_SHAPE(2, 3)));
    EXPECT_VALS(y, 0, 1, 2, 4, 1, 5, 4);
    backward_ones(y);
    /* ties split g/2 each; b's gradient sums over the broadcast rows */
    EXPECT_VALS(a->grad, 0, 0.5, 1, 0, 0, 1, 0.5);
    EXPECT_VALS(b->grad, 0, 0.5 + 1, 0, 1 + 0.5);

    nb_tensor *a2 = f64(NB_SHAPE(3), V(1, 2, 3), true), *b2 = f64(NB_SHAPE(3), V(1, 0, 5), true);
    nb_tensor *m = nb_minimum(a2, b2);
    EXPECT_VALS(m, 0, 1, 0, 3);
    backward_ones(m);
    EXPECT_VALS(a2->grad, 0, 0.5, 0, 1);
    EXPECT_VALS(b2->grad, 0, 0.5, 1, 0);

    /* NaN propagates */
    nb_tensor *n1 = nb_maximum(f64(NB_SHAPE(2), V(NAN, 1), false), f64(NB_SHAPE(2), V(0, NAN), false));
    assert_true(isnan(nb_get(n1, 0)) && isnan(nb_get(n1, 1)));

    /* bad input: shapes that don't broadcast; dtypes that differ */
    nb_tensor *c = nb_zeros(NB_F64, NB_SHAPE(2, 4));
    EXPECT_ERR(nb_maximum(a, c), NB_ERR_SHAPE, "maximum", "a is (2,3)", "b is (2,4)");
    EXPECT_ERR(nb_minimum(nb_zeros(NB_F32, NB_SHAPE(3)), b), NB_ERR_DTYPE, "minimum", "a is (3) f32", "b is (3) f64");
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ clamp */

static void test_clamp(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64(NB_SHAPE(6), V(-2, -0.5, 0, 0.7, 2, NAN), true);
    nb_tensor *y = nb_clamp(x, -0.5, 0.7);
    EXPECT_VALS(y, 0, -0.5, -0.5, 0, 0.7, 0.7, NAN);
    backward_ones(y);
    /* gradient 1 on [lo, hi], bounds included (PyTorch) */
    EXPECT_VALS(x->grad, 0, 0, 1, 1, 1, 0, 0);
    /* one-sided */
    EXPECT_VALS(nb_clamp(f64(NB_SHAPE(2), V(-3, 3), false), 0, INFINITY), 0, 0, 3);
    EXPECT_ERR(nb_clamp(x, 1, -1), NB_ERR_ARG, "clamp", "lo 1, hi -1", "x is (6)");
    EXPECT_ERR(nb_clamp(nb_zeros(NB_I64, NB_SHAPE(2, 2)), 0, 1), NB_ERR_DTYPE, "clamp", "x is (2,2) i64");
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ where */

static void test_where(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *cond = nb_from_i64(NB_SHAPE(3), I(1, 0, 2));
    nb_tensor *a = f64(NB_SHAPE(2, 3), V(1, 2, 3, 4, 5, 6), true);
    nb_tensor *b = f64(NB_SCALAR, V(-1), true);
    nb_tensor *y = nb_where(cond, a, b);
    assert_true(nb_shape_eq(y->shape, NB_SHAPE(2, 3)));
    EXPECT_VALS(y, 0, 1, -1, 3, 4, -1, 6);
    nb_tensor *g = f64(NB_SHAPE(2, 3), V(1, 2, 3, 4, 5, 6), false);
    assert_int_equal(nb_backward_with(y, g), NB_OK);
    EXPECT_VALS(a->grad, 0, 1, 0, 3, 4, 0, 6);
    EXPECT_VALS(b->grad, 0, 2 + 5);
    /* a float condition, broadcast against both: (2,1) with (1,2) and (2) */
    nb_tensor *cf = nb_from_f32(NB_SHAPE(2, 1), (const float[]){0.5f, 0.0f});
    nb_tensor *y2 = nb_where(cf, f64(NB_SHAPE(1, 2), V(10, 20), false), f64(NB_SHAPE(2), V(-1, -2), false));
    EXPECT_VALS(y2, 0, 10, 20, -1, -2);
    /* cond never gets a gradient, even when it requires grad */
    nb_tensor *cg = f64(NB_SHAPE(2), V(1, 0), true), *a3 = f64(NB_SHAPE(2), V(1, 2), true);
    backward_ones(nb_where(cg, a3, f64(NB_SHAPE(2), V(0, 0), false)));
    assert_true(cg->grad == NULL || (nb_get(cg->grad, 0) == 0 && nb_get(cg->grad, 1) == 0));
    EXPECT_VALS(a3->grad, 0, 1, 0);

    EXPECT_ERR(nb_where(nb_zeros(NB_I64, NB_SHAPE(4)), a, b), NB_ERR_SHAPE, "where", "cond is (4)", "a is (2,3)",
               "b is ()");
    EXPECT_ERR(nb_where(cond, a, nb_zeros(NB_F32, NB_SHAPE(3))), NB_ERR_DTYPE, "where", "a is (2,3) f64",
               "b is (3) f32");
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ unary */

static void test_unary(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double xv[] = {-2, -0.5, 0.25, 3};
    const nb_shape sh = NB_SHAPE(4);
    nb_tensor *x;

    x = f64(sh, xv, true);
    nb_tensor *y = nb_leaky_relu(x, 0.1);
    EXPECT_VALS(y, 1e-15, -0.2, -0.05, 0.25, 3);
    backward_ones(y);
    EXPECT_VALS(x->grad, 0, 0.1, 0.1, 1, 1);

    x = f64(sh, xv, true);
    y = nb_elu(x, 1.5);
    EXPECT_VALS(y, 1e-15, 1.5 * expm1(-2), 1.5 * expm1(-0.5), 0.25, 3);
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-15, 1.5 * exp(-2), 1.5 * exp(-0.5), 1, 1);

    x = f64(sh, xv, true);
    y = nb_softplus(x);
    EXPECT_VALS(y, 1e-15, log1p(exp(-2)), log1p(exp(-0.5)), log1p(exp(0.25)), log1p(exp(3)));
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-15, sigm(-2), sigm(-0.5), sigm(0.25), sigm(3));

    x = f64(NB_SHAPE(3), V(-0.5, 1e-10, 2), true);
    y = nb_log1p(x);
    EXPECT_VALS(y, 1e-15, log(0.5), 1e-10, log(3));
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-15, 2, 1 / (1 + 1e-10), 1.0 / 3);

    x = f64(NB_SHAPE(3), V(-1, 1e-10, 2), true);
    y = nb_expm1(x);
    EXPECT_VALS(y, 1e-15, exp(-1) - 1, 1e-10, exp(2) - 1);
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-15, exp(-1), exp(1e-10), exp(2));

    x = f64(sh, xv, true);
    y = nb_square(x);
    EXPECT_VALS(y, 0, 4, 0.25, 0.0625, 9);
    backward_ones(y);
    EXPECT_VALS(x->grad, 0, -4, -1, 0.5, 6);

    x = f64(sh, xv, true);
    y = nb_reciprocal(x);
    EXPECT_VALS(y, 1e-15, -0.5, -2, 4, 1.0 / 3);
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-15, -0.25, -4, -16, -1.0 / 9);

    /* F32 gives the same values */
    nb_tensor *x32 = nb_from_f32(NB_SHAPE(2), (const float[]){-0.5f, 2.0f});
    EXPECT_VALS(nb_softplus(x32), 1e-6, log1p(exp(-0.5)), log1p(exp(2)));
    EXPECT_VALS(nb_elu(x32, 1), 1e-6, expm1(-0.5), 2);
    assert_int_equal(nb_square(x32)->dtype, NB_F32);

    /* bad input: an integer tensor */
    nb_tensor *xi = nb_zeros(NB_I64, NB_SHAPE(3));
    EXPECT_ERR(nb_leaky_relu(xi, 0.1), NB_ERR_DTYPE, "leaky_relu", "x is (3) i64");
    EXPECT_ERR(nb_elu(xi, 1), NB_ERR_DTYPE, "elu", "x is (3) i64");
    EXPECT_ERR(nb_softplus(xi), NB_ERR_DTYPE, "softplus", "x is (3) i64");
    EXPECT_ERR(nb_log1p(xi), NB_ERR_DTYPE, "log1p", "x is (3) i64");
    EXPECT_ERR(nb_expm1(xi), NB_ERR_DTYPE, "expm1", "x is (3) i64");
    EXPECT_ERR(nb_square(xi), NB_ERR_DTYPE, "square", "x is (3) i64");
    EXPECT_ERR(nb_reciprocal(xi), NB_ERR_DTYPE, "reciprocal", "x is (3) i64");
    /* NULL in, NULL out, no new error */
    tu_err_reset();
    assert_null(nb_softplus(NULL));
    assert_int_equal(tu_err.count, 0);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ max, min, argmax */

static void test_max_min(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* full reduction: the gradient is split evenly among tied maxima */
    nb_tensor *x = f64(NB_SHAPE(2, 3), V(1, 3, 3, 2, 3, 0), true);
    nb_tensor *y = nb_max(x, NULL, 0, false);
    assert_int_equal(y->shape.ndim, 0);
    EXPECT_VALS(y, 0, 3);
    assert_int_equal(nb_backward(y), NB_OK);
    EXPECT_VALS(x->grad, 1e-15, 0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3, 0);

    /* one axis: all of the gradient to the first maximum (argmax's index) */
    x = f64(NB_SHAPE(2, 3), V(1, 3, 3, 2, 2, 1), true);
    y = nb_max(x, AX(1), 1, false);
    EXPECT_VALS(y, 0, 3, 2);
    backward_ones(y);
    EXPECT_VALS(x->grad, 0, 0, 1, 0, 1, 0, 0);
    EXPECT_VALS(nb_argmax(x, 1, false), 0, 1, 0);

    /* several axes: split (torch.amax), keepdim keeps (1,1,2) */
    x = f64(NB_SHAPE(2, 2, 2), V(5, 1, 5, 2, 4, 2, 5, 0), true);
    y = nb_max(x, AX(0, 1), 2, true);
    assert_true(nb_shape_eq(y->shape, NB_SHAPE(1, 1, 2)));
    EXPECT_VALS(y, 0, 5, 2);
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-15, 1.0 / 3, 0, 1.0 / 3, 0.5, 0, 0.5, 1.0 / 3, 0);

    /* min, negative axis */
    x = f64(NB_SHAPE(2, 3), V(4, 1, 1, 0, 2, 0), true);
    y = nb_min(x, AX(-1), 1, true);
    assert_true(nb_shape_eq(y->shape, NB_SHAPE(2, 1)));
    EXPECT_VALS(y, 0, 1, 0);
    backward_ones(y);
    EXPECT_VALS(x->grad, 0, 0, 1, 0, 1, 0, 0);
    y = nb_min(f64(NB_SHAPE(3), V(2, -1, -1), true), NULL, 0, false);
    EXPECT_VALS(y, 0, -1);

    /* NaN propagates; argmax points at it */
    nb_tensor *xn = f64(NB_SHAPE(3), V(1, NAN, 2), false);
    assert_true(isnan(nb_item(nb_max(xn, NULL, 0, false))));
    EXPECT_VALS(nb_argmax(xn, 0, false), 0, 1);

    /* F32 */
    nb_tensor *x32 = nb_from_f32(NB_SHAPE(2, 2), (const float[]){1, -2, 3, 0.5f});
    EXPECT_VALS(nb_max(x32, AX(0), 1, false), 0, 3, 0.5);
    EXPECT_VALS(nb_min(x32, AX(1), 1, false), 0, -2, 0.5);

    EXPECT_ERR(nb_max(x, AX(2), 1, false), NB_ERR_AXIS, "max", "axis 2", "x is (2,3)");
    EXPECT_ERR(nb_min(x, AX(1, -1), 2, false), NB_ERR_AXIS, "min", "listed twice", "x is (2,3)");
    EXPECT_ERR(nb_max(nb_zeros(NB_F64, NB_SHAPE(0, 3)), AX(0), 1, false), NB_ERR_SHAPE, "max", "size 0", "(0,3)");
    EXPECT_ERR(nb_max(nb_zeros(NB_I64, NB_SHAPE(2)), NULL, 0, false), NB_ERR_DTYPE, "max", "x is (2) i64");
    nb_scope_end(&s);
}

static void test_argmax_argmin(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* (2,3,2), ties resolved to the first index */
    nb_tensor *x = f64(NB_SHAPE(2, 3, 2), V(1, 9, 7, 9, 7, 0, -1, -5, -1, -5, -3, 2), true);
    nb_tensor *a = nb_argmax(x, 1, false);
    assert_int_equal(a->dtype, NB_I64);
    assert_false(a->requires_grad);
    assert_true(nb_shape_eq(a->shape, NB_SHAPE(2, 2)));
    EXPECT_VALS(a, 0, 1, 0, 0, 2);
    nb_tensor *b = nb_argmin(x, -2, true);
    assert_true(nb_shape_eq(b->shape, NB_SHAPE(2, 1, 2)));
    EXPECT_VALS(b, 0, 0, 2, 2, 0);
    EXPECT_VALS(nb_argmax(x, 2, false), 0, 1, 1, 0, 0, 0, 1);
    EXPECT_VALS(nb_argmax(x, 0, false), 0, 0, 0, 0, 0, 0, 1);
    /* a 0-d tensor: index 0 over axis 0 or -1 (torch.argmax(tensor(3.), 0) == 0), any other axis is an error */
    nb_tensor *sc = nb_scalar(NB_F64, 3);
    nb_tensor *a0 = nb_argmin(sc, -1, false);
    assert_int_equal(a0->dtype, NB_I64);
    assert_int_equal(a0->shape.ndim, 0);
    assert_int_equal(nb_i64(a0)[0], 0);
    assert_int_equal(nb_i64(nb_argmax(sc, 0, true))[0], 0);
    /* agrees with the index nb_max sends the gradient to */
    nb_tensor *m = nb_max(x, AX(1), 1, false);
    backward_ones(m);
    for (int64_t o = 0; o < 2; o++)
        for (int64_t i = 0; i < 2; i++)
            for (int64_t k = 0; k < 3; k++)
                assert_true(nb_get(x->grad, o * 6 + k * 2 + i) == (k == nb_get(a, o * 2 + i) ? 1.0 : 0.0));
    /* a vector, F32 */
    EXPECT_VALS(nb_argmin(nb_from_f32(NB_SHAPE(4), (const float[]){3, -1, 2, -1}), 0, false), 0, 1);

    EXPECT_ERR(nb_argmax(x, 3, false), NB_ERR_AXIS, "argmax", "axis 3", "x is (2,3,2)");
    EXPECT_ERR(nb_argmin(x, -4, false), NB_ERR_AXIS, "argmin", "axis -4", "x is (2,3,2)");
    EXPECT_ERR(nb_argmax(nb_zeros(NB_F32, NB_SHAPE(2, 0)), 1, false), NB_ERR_SHAPE, "argmax", "(2,0)");
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ logsumexp, var, std */

static void test_logsumexp(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64(NB_SHAPE(2, 3), V(1, 2, 3, 0, 0, 0), true);
    nb_tensor *y = nb_logsumexp(x, AX(1), 1, false);
    const double l0 = log(exp(1) + exp(2) + exp(3)), l1 = log(3);
    EXPECT_VALS(y, 1e-14, l0, l1);
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-14, exp(1 - l0), exp(2 - l0), exp(3 - l0), 1.0 / 3, 1.0 / 3, 1.0 / 3);
    EXPECT_VALS(nb_logsumexp(x, NULL, 0, false), 1e-14, log(exp(1) + exp(2) + exp(3) + 3));

    /* ±1e4 stays finite, in both dtypes */
    nb_tensor *big = f64(NB_SHAPE(2, 2), V(1e4, 1e4, -1e4, 0), true);
    y = nb_logsumexp(big, AX(1), 1, true);
    assert_true(nb_shape_eq(y->shape, NB_SHAPE(2, 1)));
    EXPECT_VALS(y, 1e-14, 1e4 + log(2), 0);
    backward_ones(y);
    expect_finite(big->grad);
    /* e^(x − y) with y = 1e4 + log 2 rounded to double: ~1e-13 off */
    EXPECT_VALS(big->grad, 1e-12, 0.5, 0.5, 0, 1);
    nb_tensor *big32 = nb_from_f32(NB_SHAPE(3), (const float[]){1e4f, -1e4f, 1e4f});
    EXPECT_VALS(nb_logsumexp(big32, NULL, 0, false), 1e-7, 1e4 + log(2));
    /* all −inf gives −inf, not NaN */
    EXPECT_VALS(nb_logsumexp(f64(NB_SHAPE(2), V(-INFINITY, -INFINITY), false), NULL, 0, false), 0, -INFINITY);

    EXPECT_ERR(nb_logsumexp(x, AX(-3), 1, false), NB_ERR_AXIS, "logsumexp", "axis -3", "x is (2,3)");
    EXPECT_ERR(nb_logsumexp(nb_zeros(NB_I64, NB_SHAPE(2)), NULL, 0, false), NB_ERR_DTYPE, "logsumexp", "x is (2) i64");
    nb_scope_end(&s);
}

static void test_var_std(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64(NB_SHAPE(4), V(1, 2, 3, 4), true);
    nb_tensor *v = nb_var(x, NULL, 0, true, false);
    EXPECT_VALS(v, 1e-15, 5.0 / 3);
    assert_int_equal(nb_backward(v), NB_OK);
    /* 2(x − μ)/(N − 1), μ = 2.5 */
    EXPECT_VALS(x->grad, 1e-15, -1, -1.0 / 3, 1.0 / 3, 1);
    EXPECT_VALS(nb_var(x, NULL, 0, false, false), 1e-15, 1.25);

    nb_tensor *x2 = f64(NB_SHAPE(2, 3), V(1, 2, 6, 0, 0, 3), true);
    nb_tensor *sd = nb_std(x2, AX(1), 1, false, true);
    assert_true(nb_shape_eq(sd->shape, NB_SHAPE(2, 1)));
    EXPECT_VALS(sd, 1e-14, sqrt(14.0 / 3), sqrt(2.0));
    backward_ones(sd);
    /* (x − μ)/(N·σ) */
    const double s0 = sqrt(14.0 / 3), s1 = sqrt(2.0);
    EXPECT_VALS(x2->grad, 1e-14, -2 / (3 * s0), -1 / (3 * s0), 3 / (3 * s0), -1 / (3 * s1), -1 / (3 * s1),
                2 / (3 * s1));
    /* var along axis 0 */
    EXPECT_VALS(nb_var(x2, AX(0), 1, true, false), 1e-14, 0.5, 2, 4.5);

    /* constant input: std is 0 and its gradient 0 (PyTorch), not NaN */
    nb_tensor *c = f64(NB_SHAPE(3), V(2, 2, 2), true);
    nb_tensor *sc = nb_std(c, NULL, 0, true, false);
    EXPECT_VALS(sc, 0, 0);
    assert_int_equal(nb_backward(sc), NB_OK);
    EXPECT_VALS(c->grad, 0, 0, 0, 0);
    /* one element, unbiased: NaN, as in PyTorch */
    assert_true(isnan(nb_item(nb_var(f64(NB_SHAPE(1), V(3), false), NULL, 0, true, false))));
    /* F32 with a large offset: two passes keep it accurate */
    nb_tensor *x32 = nb_from_f32(NB_SHAPE(4), (const float[]){1000.5f, 1001.5f, 1002.5f, 1003.5f});
    EXPECT_VALS(nb_var(x32, NULL, 0, true, false), 1e-6, 5.0 / 3);

    EXPECT_ERR(nb_var(x2, AX(2), 1, true, false), NB_ERR_AXIS, "var", "axis 2", "x is (2,3)");
    EXPECT_ERR(nb_std(x2, AX(5), 1, true, false), NB_ERR_AXIS, "std", "axis 5", "x is (2,3)");
    EXPECT_ERR(nb_std(nb_zeros(NB_I64, NB_SHAPE(3)), NULL, 0, true, false), NB_ERR_DTYPE, "std", "x is (3) i64");
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ softmax family */

static void test_softmax(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double z = exp(1) + exp(2) + exp(3);
    nb_tensor *x = f64(NB_SHAPE(2, 3), V(1, 2, 3, 0, 0, 0), true);
    nb_tensor *y = nb_softmax(x, 1);
    EXPECT_VALS(y, 1e-15, exp(1) / z, exp(2) / z, exp(3) / z, 1.0 / 3, 1.0 / 3, 1.0 / 3);
    /* gradient with g = (1,0,0) per row: y0(δ − y) */
    nb_tensor *g = f64(NB_SHAPE(2, 3), V(1, 0, 0, 1, 0, 0), false);
    assert_int_equal(nb_backward_with(y, g), NB_OK);
    const double p0 = exp(1) / z, p1 = exp(2) / z, p2 = exp(3) / z;
    EXPECT_VALS(x->grad, 1e-14, p0 * (1 - p0), -p0 * p1, -p0 * p2, 1.0 / 3 * (2.0 / 3), -1.0 / 9, -1.0 / 9);

    /* along axis 0 (columns) */
    EXPECT_VALS(nb_softmax(f64(NB_SHAPE(2, 2), V(0, 1, 0, 1), false), 0), 1e-15, 0.5, 0.5, 0.5, 0.5);

    nb_tensor *xl = f64(NB_SHAPE(3), V(1, 2, 3), true);
    nb_tensor *ls = nb_log_softmax(xl, -1);
    EXPECT_VALS(ls, 1e-15, 1 - log(z), 2 - log(z), 3 - log(z));
    backward_ones(ls);
    /* g − e^y Σg = 1 − 3 softmax */
    EXPECT_VALS(xl->grad, 1e-14, 1 - 3 * p0, 1 - 3 * p1, 1 - 3 * p2);

    /* ±1e4: finite values and gradients, f64 and f32 */
    nb_tensor *big = f64(NB_SHAPE(3), V(1e4, -1e4, 0), true);
    nb_tensor *lb = nb_log_softmax(big, 0);
    EXPECT_VALS(lb, 1e-12, 0, -2e4, -1e4);
    backward_ones(lb);
    expect_finite(big->grad);
    EXPECT_VALS(big->grad, 1e-12, 1 - 3, 1, 1);
    nb_tensor *sb = nb_softmax(big, 0);
    EXPECT_VALS(sb, 0, 1, 0, 0);
    backward_ones(sb);
    expect_finite(big->grad);
    nb_tensor *big32 = nb_set_requires_grad(nb_from_f32(NB_SHAPE(1, 3), (const float[]){-1e4f, 1e4f, 1e4f}), true);
    nb_tensor *lb32 = nb_log_softmax(big32, 1);
    EXPECT_VALS(lb32, 1e-7, -2e4 - log(2), -log(2), -log(2));
    backward_ones(lb32);
    expect_finite(big32->grad);

    EXPECT_ERR(nb_softmax(x, 2), NB_ERR_AXIS, "softmax", "axis 2", "x is (2,3)");
    EXPECT_ERR(nb_log_softmax(x, -3), NB_ERR_AXIS, "log_softmax", "axis -3", "x is (2,3)");
    EXPECT_ERR(nb_softmax(nb_zeros(NB_I64, NB_SHAPE(2)), 0), NB_ERR_DTYPE, "softmax", "x is (2) i64");
    nb_scope_end(&s);
}

/* Long inputs split their rows between threads: the same bits as one thread
 * (values and gradients), and the contiguous rows agree with the strided
 * path (the transpose along axis 0). f64 and f32. */
static void softmax_threads_and_paths(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    for (int dt = 0; dt < 2; dt++)
        for (int logsm = 0; logsm < 2; logsm++) {
            nb_tensor *y[3], *gx[3];
            for (int run = 0; run < 3; run++) { /* 1 thread, 2 threads, strided on 2 */
                nb_set_num_threads(run == 0 ? 1 : 2);
                nb_seed(21);
                nb_tensor *x = nb_set_requires_grad(nb_randn(dt ? NB_F32 : NB_F64, NB_SHAPE(600, 700), 0, 3), true);
                nb_tensor *g = nb_randn(x->dtype, NB_SHAPE(600, 700), 0, 1);
                nb_scope *s = nb_scope_begin();
                nb_tensor *xin = run == 2 ? nb_transpose(x, 0, 1) : x;
                nb_tensor *out = logsm ? nb_log_softmax(xin, run == 2 ? 0 : 1) : nb_softmax(xin, run == 2 ? 0 : 1);
                if (run == 2) out = nb_transpose(out, 0, 1);
                assert_int_equal(nb_backward_with(out, g), NB_OK);
                y[run] = nb_copy_persistent(out), gx[run] = nb_copy_persistent(x->grad);
                nb_scope_end(&s);
                nb_tensor_free(x), nb_tensor_free(g);
            }
            const size_t bytes = (size_t)y[0]->numel * nb_dtype_size(y[0]->dtype);
            assert_memory_equal(y[0]->data, y[1]->data, bytes);
            assert_memory_equal(gx[0]->data, gx[1]->data, bytes);
            /* the two paths sum in different orders: compare each array's
             * largest difference with its largest value */
            double dy = 0, my = 0, dg = 0, mg = 0;
            for (int64_t i = 0; i < y[0]->numel; i++) {
                dy = fmax(dy, fabs(nb_get(y[0], i) - nb_get(y[2], i))), my = fmax(my, fabs(nb_get(y[0], i)));
                dg = fmax(dg, fabs(nb_get(gx[0], i) - nb_get(gx[2], i))), mg = fmax(mg, fabs(nb_get(gx[0], i)));
            }
            const double worst = fmax(dy / my, dg / mg);
            if (worst > (dt ? 1e-6 : 1e-14))
                printf("%s %s: contiguous vs strided %.3g\n", dt ? "f32" : "f64", logsm ? "log_softmax" : "softmax",
                       worst);
            assert_true(worst <= (dt ? 1e-6 : 1e-14));
            for (int r = 0; r < 3; r++) nb_tensor_free(y[r]), nb_tensor_free(gx[r]);
        }
    nb_set_num_threads(saved);
}

/* logsumexp over the last axis takes a row path that splits long inputs
 * between threads: the same bits on 1 and 2 threads (value and gradient),
 * and the general walk (the transpose, reduced along axis 0) agrees. */
static void logsumexp_threads_and_paths(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    for (int dt = 0; dt < 2; dt++) {
        nb_tensor *y[3], *gx[3];
        for (int run = 0; run < 3; run++) { /* 1 thread, 2 threads, general walk */
            nb_set_num_threads(run == 0 ? 1 : 2);
            nb_seed(22);
            nb_tensor *x = nb_set_requires_grad(nb_randn(dt ? NB_F32 : NB_F64, NB_SHAPE(600, 900), 0, 4), true);
            nb_tensor *g = nb_randn(x->dtype, NB_SHAPE(600), 0, 1);
            nb_scope *s = nb_scope_begin();
            nb_tensor *out = run == 2 ? nb_logsumexp(nb_transpose(x, 0, 1), (const int[]){0}, 1, false)
                                      : nb_logsumexp(x, (const int[]){1}, 1, false);
            assert_int_equal(nb_backward_with(out, g), NB_OK);
            y[run] = nb_copy_persistent(out), gx[run] = nb_copy_persistent(x->grad);
            nb_scope_end(&s);
            nb_tensor_free(x), nb_tensor_free(g);
        }
        assert_memory_equal(y[0]->data, y[1]->data, (size_t)y[0]->numel * nb_dtype_size(y[0]->dtype));
        assert_memory_equal(gx[0]->data, gx[1]->data, (size_t)gx[0]->numel * nb_dtype_size(gx[0]->dtype));
        double dy = 0, my = 0, dg = 0, mg = 0;
        for (int64_t i = 0; i < y[0]->numel; i++)
            dy = fmax(dy, fabs(nb_get(y[0], i) - nb_get(y[2], i))), my = fmax(my, fabs(nb_get(y[0], i)));
        for (int64_t i = 0; i < gx[0]->numel; i++)
            dg = fmax(dg, fabs(nb_get(gx[0], i) - nb_get(gx[2], i))), mg = fmax(mg, fabs(nb_get(gx[0], i)));
        const double worst = fmax(dy / my, dg / mg);
        if (worst > (dt ? 1e-6 : 1e-14)) printf("%s logsumexp: rows vs walk %.3g\n", dt ? "f32" : "f64", worst);
        assert_true(worst <= (dt ? 1e-6 : 1e-14));
        for (int r = 0; r < 3; r++) nb_tensor_free(y[r]), nb_tensor_free(gx[r]);
    }
    nb_set_num_threads(saved);
}

/* The chunked backward loops (softplus, elu, bce_with_logits) split long
 * inputs between threads: the same bits on 1 and 2 threads. */
typedef nb_tensor *(*build_fn)(nb_tensor *x, nb_tensor *t);
static nb_tensor *b_softplus(nb_tensor *x, nb_tensor *t) {
    (void)t;
    return nb_softplus(x);
}
static nb_tensor *b_elu(nb_tensor *x, nb_tensor *t) {
    (void)t;
    return nb_elu(x, 1.3);
}
static nb_tensor *b_bce(nb_tensor *x, nb_tensor *t) { return nb_bce_with_logits(x, t, NB_REDUCE_NONE); }
static void chunked_backward_threads(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    const build_fn fns[] = {b_softplus, b_elu, b_bce};
    for (int dt = 0; dt < 2; dt++)
        for (int f = 0; f < 3; f++) {
            nb_tensor *gx[2], *gt[2];
            for (int th = 0; th < 2; th++) {
                nb_set_num_threads(th + 1);
                nb_seed(23);
                const nb_dtype d = dt ? NB_F32 : NB_F64;
                nb_tensor *x = nb_set_requires_grad(nb_randn(d, NB_SHAPE(300, 1001), 0, 4), true);
                nb_tensor *t = nb_set_requires_grad(nb_rand(d, NB_SHAPE(300, 1001), 0, 1), true);
                nb_tensor *g = nb_randn(d, NB_SHAPE(300, 1001), 0, 1);
                nb_scope *s = nb_scope_begin();
                assert_int_equal(nb_backward_with(fns[f](x, t), g), NB_OK);
                nb_scope_end(&s);
                gx[th] = nb_copy_persistent(x->grad);
                gt[th] = t->grad ? nb_copy_persistent(t->grad) : NULL;
                nb_tensor_free(x), nb_tensor_free(t), nb_tensor_free(g);
            }
            const size_t bytes = (size_t)gx[0]->numel * nb_dtype_size(gx[0]->dtype);
            assert_memory_equal(gx[0]->data, gx[1]->data, bytes);
            assert_true((gt[0] == NULL) == (gt[1] == NULL));
            if (gt[0]) assert_memory_equal(gt[0]->data, gt[1]->data, bytes);
            for (int th = 0; th < 2; th++) nb_tensor_free(gx[th]), nb_tensor_free(gt[th]);
        }
    nb_set_num_threads(saved);
}

/* A step made by one thread inside the caller's own parallel region: nabla
 * stays on that thread (it never nests a team) and must still do all of the
 * work, with the bits a 2-thread run outside gives (dW to rounding: conv's
 * per-thread partial sums). conv2d (big enough to split), relu, log_softmax
 * over rows, logsumexp: value and every grad. */
static void step_graph(nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor **out) {
    nb_scope *s = nb_scope_begin();
    const nb_conv2d_opts o = {{1, 1}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, 1};
    nb_tensor *h = nb_reshape(nb_relu(nb_conv2d(x, w, b, &o)), NB_SHAPE(16, 4096));
    nb_tensor *l = nb_add(nb_sum_all(nb_log_softmax(h, 1)), nb_sum_all(nb_logsumexp(h, (const int[]){1}, 1, false)));
    assert_int_equal(nb_backward(l), NB_OK);
    out[0] = nb_copy_persistent(l);
    nb_scope_end(&s);
    out[1] = nb_copy_persistent(x->grad), out[2] = nb_copy_persistent(w->grad), out[3] = nb_copy_persistent(b->grad);
}
static void ops_inside_callers_region(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    nb_set_num_threads(2);
    nb_seed(24);
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(16, 8, 16, 16), 0, 1), true);
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(16, 8, 3, 3), 0, 0.3), true);
    nb_tensor *b = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(16), 0, 0.1), true);
    nb_tensor *r[2][4];
    for (int run = 0; run < 2; run++) {
        nb_tensor_zero_grad(x), nb_tensor_zero_grad(w), nb_tensor_zero_grad(b);
        if (run == 0) step_graph(x, w, b, r[0]);
        else {
#pragma omp parallel num_threads(2)
            {
#pragma omp single
                step_graph(x, w, b, r[1]);
            }
        }
    }
    for (int k = 0; k < 4; k++) {
        if (k == 2) { /* dW: conv's per-thread partial sums agree to rounding across thread counts */
            double d = 0, m = 0;
            for (int64_t i = 0; i < r[0][k]->numel; i++)
                d = fmax(d, fabs(nb_get(r[0][k], i) - nb_get(r[1][k], i))), m = fmax(m, fabs(nb_get(r[0][k], i)));
            assert_true(d <= 1e-5 * m);
        } else {
            assert_memory_equal(r[0][k]->data, r[1][k]->data, (size_t)r[0][k]->numel * sizeof(float));
        }
        nb_tensor_free(r[0][k]), nb_tensor_free(r[1][k]);
    }
    nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b);
    nb_set_num_threads(saved);
}

static void test_nll(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *lp = f64(NB_SHAPE(2, 3), V(-1, -2, -3, -4, -5, -6), true);
    nb_tensor *lab = nb_from_i64(NB_SHAPE(2), I(2, 0));
    nb_tensor *l = nb_nll(lp, lab, NB_REDUCE_MEAN);
    assert_int_equal(l->shape.ndim, 0);
    EXPECT_VALS(l, 1e-15, (3 + 4) / 2.0);
    assert_int_equal(nb_backward(l), NB_OK);
    EXPECT_VALS(lp->grad, 0, 0, 0, -0.5, -0.5, 0, 0);
    EXPECT_VALS(nb_nll(lp, lab, NB_REDUCE_SUM), 0, 7);
    nb_tensor *ln = nb_nll(lp, lab, NB_REDUCE_NONE);
    assert_true(nb_shape_eq(ln->shape, NB_SHAPE(2)));
    EXPECT_VALS(ln, 0, 3, 4);
    nb_tensor_zero_grad(lp);
    assert_int_equal(nb_backward_with(ln, f64(NB_SHAPE(2), V(2, 3), false)), NB_OK);
    EXPECT_VALS(lp->grad, 0, 0, 0, -2, -3, 0, 0);

    /* with log_softmax at ±1e4: finite loss and gradient */
    nb_tensor *x = nb_set_requires_grad(nb_from_f32(NB_SHAPE(2, 2), (const float[]){1e4f, -1e4f, -1e4f, 1e4f}), true);
    nb_tensor *ce = nb_nll(nb_log_softmax(x, 1), nb_from_i64(NB_SHAPE(2), I(1, 1)), NB_REDUCE_MEAN);
    EXPECT_VALS(ce, 1e-7, 1e4);
    assert_int_equal(nb_backward(ce), NB_OK);
    expect_finite(x->grad);
    EXPECT_VALS(x->grad, 1e-6, 0.5, -0.5, 0, 0);

    /* bad input: a label out of range names index, label and C */
    EXPECT_ERR(nb_nll(lp, nb_from_i64(NB_SHAPE(2), I(0, 3)), NB_REDUCE_MEAN), NB_ERR_ARG, "nll", "label 3", "index 1",
               "[0, 3)", "logp is (2,3)");
    EXPECT_ERR(nb_nll(lp, nb_from_i64(NB_SHAPE(2), I(-1, 0)), NB_REDUCE_SUM), NB_ERR_ARG, "nll", "label -1", "index 0");
    EXPECT_ERR(nb_nll(lp, nb_zeros(NB_F64, NB_SHAPE(2)), NB_REDUCE_MEAN), NB_ERR_DTYPE, "nll", "labels is (2) f64");
    EXPECT_ERR(nb_nll(lp, nb_from_i64(NB_SHAPE(3), I(0, 0, 0)), NB_REDUCE_MEAN), NB_ERR_SHAPE, "nll", "logp is (2,3)",
               "labels is (3)");
    EXPECT_ERR(nb_nll(nb_zeros(NB_F64, NB_SHAPE(6)), lab, NB_REDUCE_MEAN), NB_ERR_SHAPE, "nll", "logp is (6)");
    EXPECT_ERR(nb_nll(lp, lab, (nb_reduction)7), NB_ERR_ARG, "nll", "reduction 7");
    nb_scope_end(&s);
}

static double bce_ref(double x, double y) { return -(y * log(sigm(x)) + (1 - y) * log(1 - sigm(x))); }

static void test_bce_with_logits(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64(NB_SHAPE(3), V(0, 2, -3), true), *y = f64(NB_SHAPE(3), V(1, 0, 0.5), true);
    nb_tensor *l = nb_bce_with_logits(x, y, NB_REDUCE_NONE);
    EXPECT_VALS(l, 1e-14, bce_ref(0, 1), bce_ref(2, 0), bce_ref(-3, 0.5));
    backward_ones(l);
    EXPECT_VALS(x->grad, 1e-14, sigm(0) - 1, sigm(2), sigm(-3) - 0.5);
    EXPECT_VALS(y->grad, 0, 0, -2, 3);
    nb_tensor *lm = nb_bce_with_logits(x, y, NB_REDUCE_MEAN);
    EXPECT_VALS(lm, 1e-14, (bce_ref(0, 1) + bce_ref(2, 0) + bce_ref(-3, 0.5)) / 3);
    nb_tensor_zero_grad(x);
    assert_int_equal(nb_backward(lm), NB_OK);
    EXPECT_VALS(x->grad, 1e-14, (sigm(0) - 1) / 3, sigm(2) / 3, (sigm(-3) - 0.5) / 3);
    EXPECT_VALS(nb_bce_with_logits(x, y, NB_REDUCE_SUM), 1e-14, bce_ref(0, 1) + bce_ref(2, 0) + bce_ref(-3, 0.5));

    /* ±1e4: the naive −y log σ(x) − (1−y) log(1−σ(x)) gives inf; this doesn't */
    nb_tensor *xb = f64(NB_SHAPE(4), V(1e4, -1e4, 1e4, -1e4), true);
    nb_tensor *yb = f64(NB_SHAPE(4), V(0, 1, 1, 0), false);
    nb_tensor *lb = nb_bce_with_logits(xb, yb, NB_REDUCE_NONE);
    EXPECT_VALS(lb, 1e-14, 1e4, 1e4, 0, 0);
    backward_ones(lb);
    EXPECT_VALS(xb->grad, 0, 1, -1, 0, 0);
    nb_tensor *xb32 = nb_set_requires_grad(nb_from_f32(NB_SHAPE(2), (const float[]){1e4f, -1e4f}), true);
    nb_tensor *lb32 = nb_bce_with_logits(xb32, nb_from_f32(NB_SHAPE(2), (const float[]){0, 1}), NB_REDUCE_MEAN);
    EXPECT_VALS(lb32, 1e-7, 1e4);
    assert_int_equal(nb_backward(lb32), NB_OK);
    expect_finite(xb32->grad);

    EXPECT_ERR(nb_bce_with_logits(x, f64(NB_SHAPE(4), V(0, 0, 0, 0), false), NB_REDUCE_MEAN), NB_ERR_SHAPE,
               "bce_with_logits", "x is (3)", "y is (4)");
    EXPECT_ERR(nb_bce_with_logits(x, nb_zeros(NB_F32, NB_SHAPE(3)), NB_REDUCE_MEAN), NB_ERR_DTYPE, "bce_with_logits",
               "x is (3) f64", "y is (3) f32");
    EXPECT_ERR(nb_bce_with_logits(x, y, (nb_reduction)-1), NB_ERR_ARG, "bce_with_logits", "reduction -1");
    nb_scope_end(&s);
}

/* softplus at ±1e4: finite, and the gradient too */
static void test_softplus_stable(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64(NB_SHAPE(4), V(1e4, -1e4, 800, -800), true);
    nb_tensor *y = nb_softplus(x);
    EXPECT_VALS(y, 1e-15, 1e4, 0, 800, exp(-800));
    backward_ones(y);
    EXPECT_VALS(x->grad, 1e-15, 1, 0, 1, 0);
    nb_tensor *x32 = nb_set_requires_grad(nb_from_f32(NB_SHAPE(2), (const float[]){1e4f, -1e4f}), true);
    nb_tensor *y32 = nb_softplus(x32);
    EXPECT_VALS(y32, 1e-7, 1e4, 0);
    backward_ones(y32);
    EXPECT_VALS(x32->grad, 0, 1, 0);
    nb_scope_end(&s);
}

/* A training-like step through these ops allocates nothing from the heap
 * once the arena is warm (their scratch comes from the scope). */
static void math_step(nb_tensor *x, nb_tensor *lab) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *l = nb_nll(nb_log_softmax(x, 1), lab, NB_REDUCE_MEAN);
    l = nb_add(l, nb_sum_all(nb_max(x, AX(1), 1, false)));
    l = nb_add(l, nb_sum_all(nb_min(x, NULL, 0, false)));
    l = nb_add(l, nb_sum_all(nb_logsumexp(x, AX(0), 1, false)));
    l = nb_add(l, nb_sum_all(nb_std(x, AX(1), 1, true, false)));
    l = nb_add(l, nb_sum_all(nb_softmax(x, 0)));
    l = nb_add(l, nb_bce_with_logits(x, nb_sigmoid(x), NB_REDUCE_MEAN));
    l = nb_add(l, nb_sum_all(nb_where(x, nb_maximum(x, nb_softplus(x)), nb_clamp(x, -1, 1))));
    assert_int_equal(nb_backward(l), NB_OK);
    nb_scope_end(&s);
}

static void test_steady_state_memory(void **state) {
    (void)state;
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(64, 10), 0, 1), true);
    nb_tensor *lab = nb_zeros(NB_I64, NB_SHAPE(64));
    for (int i = 0; i < 3; i++) math_step(x, lab);
    nb_mem_stats a = nb_mem_stats_get();
    for (int i = 0; i < 50; i++) math_step(x, lab);
    nb_mem_stats b = nb_mem_stats_get();
    assert_int_equal(a.heap_allocs, b.heap_allocs);
    assert_int_equal(a.heap_live, b.heap_live);
    nb_tensor_free(x);
    nb_tensor_free(lab);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_maximum_minimum, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_clamp, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_where, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_unary, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_max_min, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_argmax_argmin, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_logsumexp, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_var_std, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_softmax, tu_setup, tu_teardown),
        cmocka_unit_test(softmax_threads_and_paths),
        cmocka_unit_test(logsumexp_threads_and_paths),
        cmocka_unit_test(chunked_backward_threads),
        cmocka_unit_test(ops_inside_callers_region),
        cmocka_unit_test_setup_teardown(test_nll, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_bce_with_logits, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_softplus_stable, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_steady_state_memory, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
