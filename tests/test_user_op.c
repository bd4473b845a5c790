/* test_user_op.c — user-defined ops written only against the public header
 * and linked with the shared library (nabla_dep: include/ and libnabla.so, no
 * internal headers): swish y = x·σ(x), and a row-wise squared distance
 * d_i = Σ_k (a_ik − b_ik)². Each is checked in one call, used in a graph with
 * built-in ops, and its buggy twin is caught. */
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

/* ------------------------------------------------------------ swish */

static void swish_fwd(nb_node *n) {
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data;
        T *y = (T *)n->out->data;
        for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] / (1 + exp(-x[i]));
    });
}

/* dy/dx = σ(x) + x·σ(x)(1 − σ(x)) */
static void swish_bwd(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    NB_FLOAT_DISPATCH(gx->dtype, T, {
        const T *x = (const T *)n->in[0]->data, *g = (const T *)gy->data;
        T *d = (T *)gx->data;
        for (int64_t i = 0; i < gx->numel; i++) {
            T s = 1 / (1 + exp(-x[i]));
            d[i] += g[i] * (s + x[i] * s * (1 - s));
        }
    });
}

/* the classic slip: the product rule's second term forgotten */
static void swish_bwd_buggy(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    NB_FLOAT_DISPATCH(gx->dtype, T, {
        const T *x = (const T *)n->in[0]->data, *g = (const T *)gy->data;
        for (int64_t i = 0; i < gx->numel; i++) ((T *)gx->data)[i] += g[i] / (1 + exp(-x[i]));
    });
}

static const nb_op SWISH = {.name = "swish", .forward = swish_fwd, .backward = swish_bwd, .saves = NB_SAVES_IN(0)};
static const nb_op SWISH_BUGGY = {.name = "swish_buggy", .forward = swish_fwd, .backward = swish_bwd_buggy};

static nb_tensor *swish(nb_tensor *x) {
    if (!nb_check_float_inputs("swish", &x, 1)) return NULL;
    return nb_apply(&SWISH, &x, 1, nb_shape_of(x));
}
static nb_tensor *swish_buggy(nb_tensor *x) { return nb_apply(&SWISH_BUGGY, &x, 1, nb_shape_of(x)); }

/* ------------------------------------------------------------ row-wise squared distance */

static void sqdist_fwd(nb_node *n) {
    const nb_tensor *a = n->in[0], *b = n->in[1];
    const int64_t R = a->shape.d[0], K = a->shape.d[1];
    NB_FLOAT_DISPATCH(a->dtype, T, {
        const T *A = (const T *)a->data, *B = (const T *)b->data;
        T *D = (T *)n->out->data;
        for (int64_t r = 0; r < R; r++) {
            T s = 0;
            for (int64_t k = 0; k < K; k++) s += (A[r * K + k] - B[r * K + k]) * (A[r * K + k] - B[r * K + k]);
            D[r] = s;
        }
    });
}

/* dd_r/da_rk = 2(a − b), dd_r/db_rk = −2(a − b) */
static void sqdist_bwd(nb_node *n, const nb_tensor *g) {
    const nb_tensor *a = n->in[0], *b = n->in[1];
    nb_tensor *ga = nb_grad_buf(n->in[0]), *gb = nb_grad_buf(n->in[1]);
    const int64_t R = a->shape.d[0], K = a->shape.d[1];
    NB_FLOAT_DISPATCH(a->dtype, T, {
        const T *A = (const T *)a->data, *B = (const T *)b->data, *G = (const T *)g->data;
        for (int64_t r = 0; r < R; r++)
            for (int64_t k = 0; k < K; k++) {
                T d = 2 * G[r] * (A[r * K + k] - B[r * K + k]);
                if (ga) ((T *)ga->data)[r * K + k] += d;
                if (gb) ((T *)gb->data)[r * K + k] -= d;
            }
    });
}

static const nb_op SQDIST = {"sqdist", sqdist_fwd, sqdist_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, NULL};

/* Validation in the builder, as the built-in ops do. */
static nb_tensor *sqdist(nb_tensor *a, nb_tensor *b) {
    nb_tensor *in[2] = {a, b};
    if (!nb_check_float_inputs("sqdist", in, 2)) return NULL;
    if (nb_ndim(a) != 2 || !nb_shape_eq(a->shape, b->shape)) {
        char x[NB_DESCRIBE_LEN], y[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_SHAPE, "sqdist", "needs two (rows, k) tensors of one shape: %s, %s",
                nb_describe(a, "a", x, sizeof x), nb_describe(b, "b", y, sizeof y));
        return NULL;
    }
    return nb_apply(&SQDIST, in, 2, NB_SHAPE(a->shape.d[0]));
}

static nb_tensor *sqdist_fn(nb_tensor *const *in, int nin, void *ctx) {
    (void)nin;
    (void)ctx;
    return sqdist(in[0], in[1]);
}

/* ------------------------------------------------------------ tests */

static void swish_gradchecks_in_one_call(void **state) {
    (void)state;
    nb_seed(4);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(3, 4), -4, 4);
    nb_gradcheck_report r = nb_gradcheck1(swish, x, NULL);
    assert_true(r.ok);
    assert_string_equal(r.op, "swish");
    assert_true(r.rel_err < 1e-6);
    assert_true(r.reentrant_ok && r.zero_grad_ok && r.accumulate_ok);
    /* in F32 too (checked in F64 underneath) */
    nb_tensor *xf = nb_rand(NB_F32, NB_SHAPE(5), -3, 3);
    assert_true(nb_gradcheck1(swish, xf, NULL).ok);
    nb_tensor_free(x);
    nb_tensor_free(xf);
}

static void swish_buggy_is_caught(void **state) {
    (void)state;
    nb_seed(4);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(6), -3, 3);
    nb_gradcheck_opts o = nb_gradcheck_defaults();
    o.quiet = true;
    nb_gradcheck_report r = nb_gradcheck1(swish_buggy, x, &o);
    assert_false(r.ok);
    assert_string_equal(r.op, "swish_buggy");
    assert_true(r.mismatches > 0);
    /* the worst element is where x·σ'(x) is largest in magnitude */
    double xw = nb_get(x, r.worst_in_index), s = 1 / (1 + exp(-xw));
    assert_true(fabs(r.analytic - s) < 1e-9);
    assert_true(fabs(r.numeric - (s + xw * s * (1 - s))) < 1e-6);
    assert_non_null(strstr(r.message, "swish_buggy: FAILED"));
    nb_tensor_free(x);
}

static void swish_values_and_graph(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_from_f32(NB_SHAPE(3), (float[]){-1, 0, 2}), true);
    nb_tensor *y = swish(x);
    assert_int_equal(y->dtype, NB_F32);
    assert_true(fabsf(nb_f32(y)[0] - (float)(-1 / (1 + exp(1)))) < 1e-6f);
    assert_true(nb_f32(y)[1] == 0);
    assert_string_equal(y->node->op->name, "swish");
    /* mixed with built-in ops: l = Σ swish(x)·3 */
    nb_tensor *l = nb_sum_all(nb_mul_scalar(y, 3));
    assert_int_equal(nb_tape_len(l), 3);
    assert_int_equal(nb_backward(l), NB_OK);
    assert_true(fabsf(nb_f32(x->grad)[1] - 1.5f) < 1e-6f); /* swish'(0) = 1/2 */
    nb_scope_end(&sc);
}

static void sqdist_two_inputs(void **state) {
    (void)state;
    nb_seed(9);
    nb_tensor *in[2] = {nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(4, 3), -1, 1), true),
                        nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(4, 3), -1, 1), true)};
    nb_gradcheck_report r = nb_gradcheck(sqdist_fn, in, 2, NULL, NULL);
    assert_true(r.ok);
    assert_true(r.no_grad_ok);
    assert_string_equal(r.op, "sqdist");
    /* b held fixed */
    nb_set_requires_grad(in[1], false);
    nb_gradcheck_opts o = nb_gradcheck_defaults();
    o.fast = true;
    r = nb_gradcheck(sqdist_fn, in, 2, NULL, &o);
    assert_true(r.ok);
    assert_false(r.fast_fallback);
    /* its validation reports like a built-in op */
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_scope *sc = nb_scope_begin();
    assert_null(sqdist(in[0], nb_zeros(NB_F64, NB_SHAPE(3, 4))));
    assert_int_equal(nb_error(), NB_ERR_SHAPE);
    assert_string_equal(nb_error_message(),
                        "nabla: sqdist: needs two (rows, k) tensors of one shape: a is (4,3), b is (3,4)");
    nb_error_clear();
    assert_null(sqdist(in[0], nb_zeros(NB_F32, NB_SHAPE(4, 3))));
    assert_int_equal(nb_error(), NB_ERR_DTYPE);
    nb_error_clear();
    assert_null(sqdist(NULL, in[1]));
    assert_int_equal(nb_error(), NB_OK);
    nb_scope_end(&sc);
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_tensor_free(in[0]);
    nb_tensor_free(in[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(swish_gradchecks_in_one_call),
        cmocka_unit_test(swish_buggy_is_caught),
        cmocka_unit_test(swish_values_and_graph),
        cmocka_unit_test(sqdist_two_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
