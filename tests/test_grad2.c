/* Higher-order gradients: nb_grads' semantics, and F64 results
 * against PyTorch (tests/fixtures/gen_grad2_fixtures.py): Hessian-vector
 * products of an MLP loss, a WGAN-GP gradient penalty through a conv critic
 * and its gradient with respect to the critic, a third derivative, and one
 * MAML inner step differentiated through — each to 1e-10 relative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "nabla/nabla.h"
#include "nn_fixture.h"

#ifndef NB_GRAD2_FIXTURE
#define NB_GRAD2_FIXTURE "tests/fixtures/grad2/grad2.txt"
#endif

static fixture *fx;

static int setup(void **state) {
    (void)state;
    fx = fixture_load(NB_GRAD2_FIXTURE);
    return fx ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    fixture_free(fx);
    return 0;
}

/* |a − b| / max(|b|, 1e-3·max|b|): relative, with a floor for elements far
 * below the tensor's scale (their absolute error is what rounding leaves). */
static double rel(const nb_tensor *a, const nb_tensor *b) {
    if (!a || !b || a->numel != b->numel) return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < b->numel; i++) m = fmax(m, fabs(nb_get(b, i)));
    return max_rel_err(a, b, fmax(1e-3 * m, 1e-300));
}

#define TOL 1e-10
#define EXPECT_CLOSE(a, b, what)                      \
    do {                                              \
        double e_ = rel((a), (b));                    \
        printf("  %-14s rel err %.2e\n", (what), e_); \
        assert_true(e_ <= TOL);                       \
    } while (0)

static nb_tensor *param(const char *fmt, int i) {
    nb_tensor *t = fixture_get(fx, fmt, i);
    assert_non_null(t);
    return nb_set_requires_grad(t, true);
}

/* ------------------------------------------------------------ MLP Hessian-vector product */

static nb_tensor *mlp_loss(nb_tensor *const *p, nb_tensor *x, nb_tensor *y) {
    nb_tensor *h = x;
    for (int i = 0; i < 5; i++) {
        h = nb_affine(h, p[2 * i], p[2 * i + 1]);
        switch (i) {
        case 0: h = nb_tanh(h); break;
        case 1: h = nb_softplus(h); break;
        case 2: h = nb_elu(h, 1.0); break;
        case 3: h = nb_sigmoid(h); break;
        default: break;
        }
    }
    return nb_nll(nb_log_softmax(h, 1), y, NB_REDUCE_MEAN);
}

static void mlp_hvp(void **state) {
    (void)state;
    nb_tensor *p[10], *v[10];
    for (int i = 0; i < 10; i++) {
        p[i] = param("mlp.p%d", i);
        v[i] = fixture_get(fx, "mlp.v%d", i);
    }
    nb_scope *s = nb_scope_begin();
    nb_tensor *loss = mlp_loss(p, fixture_get(fx, "mlp.x"), fixture_get(fx, "mlp.y"));
    EXPECT_CLOSE(loss, fixture_get(fx, "mlp.loss"), "loss");
    nb_tensor *g[10], *hv[10];
    assert_int_equal(nb_grads(&loss, 1, p, 10, NULL, &(nb_grad_opts){.create_graph = true}, g), NB_OK);
    nb_tensor *gv = NULL;
    for (int i = 0; i < 10; i++) {
        char what[32];
        snprintf(what, sizeof what, "grad %d", i);
        EXPECT_CLOSE(g[i], fixture_get(fx, "mlp.g%d", i), what);
        nb_tensor *t = nb_sum_all(nb_mul(g[i], v[i]));
        gv = gv ? nb_add(gv, t) : t;
    }
    assert_int_equal(nb_grads(&gv, 1, p, 10, NULL, NULL, hv), NB_OK);
    for (int i = 0; i < 10; i++) {
        char what[32];
        snprintf(what, sizeof what, "H·v %d", i);
        EXPECT_CLOSE(hv[i], fixture_get(fx, "mlp.hv%d", i), what);
        assert_null(p[i]->grad); /* nb_grads touches no .grad */
    }
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ WGAN-GP gradient penalty */

static void gradient_penalty(void **state) {
    (void)state;
    nb_tensor *cw = param("gp.cw", 0), *cb = param("gp.cb", 0), *lw = param("gp.lw", 0), *lb = param("gp.lb", 0);
    nb_tensor *xhat = param("gp.xhat", 0);
    nb_scope *s = nb_scope_begin();
    nb_conv2d_opts o = NB_CONV2D_DEFAULT;
    o.pad[0] = o.pad[1] = 1;
    nb_tensor *h = nb_softplus(nb_conv2d(xhat, cw, cb, &o));
    h = nb_avg_pool2d(h, 2, 2, 2, 2, 0, 0);
    nb_tensor *d = nb_affine(nb_reshape(h, NB_SHAPE(4, 27)), lw, lb);
    EXPECT_CLOSE(d, fixture_get(fx, "gp.d"), "D(x)");
    nb_tensor *ones = nb_ones(NB_F64, d->shape), *gx;
    assert_int_equal(nb_grads(&d, 1, &xhat, 1, &ones, &(nb_grad_opts){.create_graph = true}, &gx), NB_OK);
    EXPECT_CLOSE(gx, fixture_get(fx, "gp.gx"), "grad_x D");
    const int ax1 = 1;
    nb_tensor *norms = nb_sqrt(nb_sum(nb_square(nb_reshape(gx, NB_SHAPE(4, 36))), &ax1, 1, false));
    nb_tensor *gp = nb_mean_all(nb_square(nb_add_scalar(norms, -1)));
    EXPECT_CLOSE(gp, fixture_get(fx, "gp.penalty"), "penalty");
    nb_tensor *w[3] = {cw, cb, lw}, *dw[3];
    assert_int_equal(nb_grads(&gp, 1, w, 3, NULL, &(nb_grad_opts){.retain_graph = true}, dw), NB_OK);
    EXPECT_CLOSE(dw[0], fixture_get(fx, "gp.d_cw"), "d gp/d conv w");
    EXPECT_CLOSE(dw[1], fixture_get(fx, "gp.d_cb"), "d gp/d conv b");
    EXPECT_CLOSE(dw[2], fixture_get(fx, "gp.d_lw"), "d gp/d linear w");
    /* the last bias does not enter grad_x D: an error naming it, NULL with allow_unused */
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_tensor *dlb = (nb_tensor *)1;
    assert_int_equal(nb_grads(&gp, 1, &lb, 1, NULL, &(nb_grad_opts){.retain_graph = true}, &dlb), NB_ERR_GRAPH);
    assert_null(dlb);
    assert_non_null(strstr(nb_error_message(), "allow_unused"));
    nb_error_clear();
    assert_int_equal(nb_grads(&gp, 1, &lb, 1, NULL, &(nb_grad_opts){.retain_graph = true, .allow_unused = true}, &dlb),
                     NB_OK);
    assert_null(dlb);
    /* the training step's way: nb_backward through the penalty's graph adds the same into .grad */
    assert_int_equal(nb_backward(gp), NB_OK);
    EXPECT_CLOSE(cw->grad, fixture_get(fx, "gp.d_cw"), "backward: cw");
    EXPECT_CLOSE(lw->grad, fixture_get(fx, "gp.d_lw"), "backward: lw");
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_scope_end(&s);
    for (int i = 0; i < 3; i++) nb_tensor_zero_grad(w[i]);
}

/* ------------------------------------------------------------ third derivative */

static void third_derivative(void **state) {
    (void)state;
    nb_tensor *x = param("third.x", 0);
    nb_scope *s = nb_scope_begin();
    nb_tensor *x2 = nb_mul(x, x);
    nb_tensor *f = nb_add(nb_add(nb_mul(nb_tanh(x), nb_exp(nb_mul_scalar(x, 0.5))), nb_log(nb_add_scalar(x2, 1))),
                          nb_div(nb_pow_scalar(x, 4), nb_add_scalar(x2, 1)));
    EXPECT_CLOSE(f, fixture_get(fx, "third.f"), "f");
    nb_tensor *d1 = nb_grad_of(nb_sum_all(f), x, true);
    nb_tensor *d2 = nb_grad_of(nb_sum_all(d1), x, true);
    nb_tensor *d3 = nb_grad_of(nb_sum_all(d2), x, false);
    EXPECT_CLOSE(d1, fixture_get(fx, "third.d1"), "f'");
    EXPECT_CLOSE(d2, fixture_get(fx, "third.d2"), "f''");
    EXPECT_CLOSE(d3, fixture_get(fx, "third.d3"), "f'''");
    assert_true(d2->requires_grad);
    assert_false(d3->requires_grad);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ MAML */

static nb_tensor *maml_f(nb_tensor *const *p, nb_tensor *x) {
    return nb_affine(nb_tanh(nb_affine(x, p[0], p[1])), p[2], p[3]);
}
static nb_tensor *mse(nb_tensor *a, nb_tensor *b) { return nb_mean_all(nb_square(nb_sub(a, b))); }

static void maml_step(void **state) {
    (void)state;
    nb_tensor *p[4];
    for (int i = 0; i < 4; i++) p[i] = param("maml.p%d", i);
    nb_scope *s = nb_scope_begin();
    nb_tensor *inner = mse(maml_f(p, fixture_get(fx, "maml.xs")), fixture_get(fx, "maml.ys"));
    EXPECT_CLOSE(inner, fixture_get(fx, "maml.inner"), "inner loss");
    nb_tensor *g[4], *fast[4], *meta[4];
    assert_int_equal(nb_grads(&inner, 1, p, 4, NULL, &(nb_grad_opts){.create_graph = true}, g), NB_OK);
    for (int i = 0; i < 4; i++) fast[i] = nb_sub(p[i], nb_mul_scalar(g[i], 0.1));
    nb_tensor *outer = mse(maml_f(fast, fixture_get(fx, "maml.xq")), fixture_get(fx, "maml.yq"));
    EXPECT_CLOSE(outer, fixture_get(fx, "maml.outer"), "query loss");
    assert_int_equal(nb_grads(&outer, 1, p, 4, NULL, NULL, meta), NB_OK);
    for (int i = 0; i < 4; i++) {
        char what[32];
        snprintf(what, sizeof what, "meta-grad %d", i);
        EXPECT_CLOSE(meta[i], fixture_get(fx, "maml.meta%d", i), what);
    }
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ semantics */

/* y = x³ summed: dy/dx = 3x², d²/dx² = 6x */
static void basics(void **state) {
    (void)state;
    nb_tensor *x = nb_set_requires_grad(nb_from_f64(NB_SHAPE(3), (double[]){1, -2, 0.5}), true);
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = nb_sum_all(nb_pow_scalar(x, 3));
    nb_tensor *g = nb_grad_of(y, x, true);
    assert_non_null(g);
    assert_true(g->requires_grad);
    for (int i = 0; i < 3; i++) assert_float_equal(nb_get(g, i), 3 * nb_get(x, i) * nb_get(x, i), 1e-14);
    nb_tensor *h = nb_grad_of(nb_sum_all(g), x, false);
    for (int i = 0; i < 3; i++) assert_float_equal(nb_get(h, i), 6 * nb_get(x, i), 1e-14);
    assert_null(x->grad);
    /* a gradient with respect to an intermediate tensor */
    nb_tensor *u = nb_mul_scalar(x, 2), *z = nb_sum_all(nb_square(u));
    nb_tensor *gu = nb_grad_of(z, u, false); /* 2u */
    for (int i = 0; i < 3; i++) assert_float_equal(nb_get(gu, i), 4 * nb_get(x, i), 1e-14);
    /* create_graph inside no_grad still records, and grad mode comes back off */
    nb_tensor *y2 = nb_sum_all(nb_pow_scalar(x, 3)), *g2 = NULL;
    NB_NO_GRAD { g2 = nb_grad_of(y2, x, true); }
    assert_true(g2->requires_grad);
    assert_true(nb_grad_enabled());
    nb_scope_end(&s);
    nb_tensor_free(x);
}

/* nb_gradgradcheck with PyTorch's defaults (opts NULL) */
static nb_tensor *softplus_times(nb_tensor *const *in, int nin, void *ctx) {
    (void)nin;
    (void)ctx;
    return nb_mul(nb_softplus(in[0]), nb_tanh(in[1]));
}
static void gradgradcheck_defaults(void **state) {
    (void)state;
    nb_tensor *in[2] = {nb_set_requires_grad(nb_from_f64(NB_SHAPE(3), (double[]){0.3, -1.2, 2}), true),
                        nb_set_requires_grad(nb_from_f64(NB_SHAPE(3), (double[]){-0.4, 0.9, 0.1}), true)};
    nb_gradcheck_report r = nb_gradgradcheck(softplus_times, in, 2, NULL, NULL);
    if (!r.ok) nb_gradcheck_print(stdout, &r);
    assert_true(r.ok);
    assert_string_equal(r.op, "mul");
    nb_tensor_free(in[0]);
    nb_tensor_free(in[1]);
}

static void user_fwd(nb_node *n) {
    for (int64_t i = 0; i < n->out->numel; i++) nb_f64(n->out)[i] = 2 * nb_f64(n->in[0])[i];
}
static void user_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (gx)
        for (int64_t i = 0; i < g->numel; i++) nb_f64(gx)[i] += 2 * nb_f64(g)[i];
}
static const nb_op USER_DOUBLE = {"user_double", user_fwd, user_bwd, NB_SAVES_NOTHING, false, NULL};

static void errors(void **state) {
    (void)state;
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_tensor *x = nb_set_requires_grad(nb_from_f64(NB_SHAPE(2), (double[]){0.3, -0.7}), true);
    nb_scope *s = nb_scope_begin();
    nb_tensor *r = NULL;

    /* an op without a differentiable backward refuses create_graph, naming itself */
    nb_tensor *y = nb_sum_all(nb_apply(&USER_DOUBLE, &x, 1, x->shape));
    assert_int_equal(nb_grads(&y, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &r), NB_ERR_GRAPH);
    assert_non_null(strstr(nb_error_message(), "user_double"));
    nb_error_clear();
    assert_int_equal(nb_grads(&y, 1, &x, 1, NULL, &(nb_grad_opts){.retain_graph = true}, &r), NB_OK);
    assert_float_equal(nb_get(r, 0), 2, 0);

    /* a non-scalar output needs grad_outputs; a mismatched seed is named */
    nb_tensor *v = nb_tanh(x);
    assert_int_equal(nb_grads(&v, 1, &x, 1, NULL, NULL, &r), NB_ERR_GRAPH);
    assert_non_null(strstr(nb_error_message(), "grad_outputs"));
    nb_error_clear();
    nb_tensor *bad = nb_ones(NB_F64, NB_SHAPE(3));
    assert_int_equal(nb_grads(&v, 1, &x, 1, &bad, NULL, &r), NB_ERR_SHAPE);
    assert_non_null(strstr(nb_error_message(), "grad_outputs[0] is (3) (f64) does not match outputs[0] is (2) (f64)"));
    nb_error_clear();
    /* inputs must require grad */
    nb_tensor *c = nb_ones(NB_F64, NB_SHAPE(2));
    nb_tensor *yc = nb_sum_all(nb_mul(x, c));
    assert_int_equal(nb_grads(&yc, 1, &c, 1, NULL, NULL, &r), NB_ERR_GRAPH);
    assert_non_null(strstr(nb_error_message(), "inputs[0] is (2) but does not require grad"));
    nb_error_clear();

    /* graph reuse: without retain_graph a second walk through an op that saved
     * tensors fails, naming the op; nb_backward too */
    nb_tensor *e = nb_sum_all(nb_exp(x));
    assert_int_equal(nb_grads(&e, 1, &x, 1, NULL, NULL, &r), NB_OK);
    assert_int_equal(nb_grads(&e, 1, &x, 1, NULL, NULL, &r), NB_ERR_GRAPH);
    assert_non_null(strstr(nb_error_message(), "already used"));
    assert_non_null(strstr(nb_error_message(), "'exp'"));
    nb_error_clear();
    assert_int_equal(nb_backward(e), NB_ERR_GRAPH);
    assert_non_null(strstr(nb_error_message(), "retain_graph"));
    nb_error_clear();
    /* retained: walked again, same result */
    nb_tensor *e2 = nb_sum_all(nb_exp(x)), *r1, *r2;
    assert_int_equal(nb_grads(&e2, 1, &x, 1, NULL, &(nb_grad_opts){.retain_graph = true}, &r1), NB_OK);
    assert_int_equal(nb_grads(&e2, 1, &x, 1, NULL, NULL, &r2), NB_OK);
    for (int i = 0; i < 2; i++) assert_float_equal(nb_get(r1, i), nb_get(r2, i), 0);
    /* an op that saved nothing (add) can be walked again, as in PyTorch */
    nb_tensor *a = nb_sum_all(nb_add_scalar(x, 1));
    assert_int_equal(nb_grads(&a, 1, &x, 1, NULL, NULL, &r), NB_OK);
    assert_int_equal(nb_grads(&a, 1, &x, 1, NULL, NULL, &r), NB_OK);
    /* nb_backward keeps its graph: a second backward accumulates (unchanged) */
    nb_tensor *b = nb_sum_all(nb_exp(x));
    assert_int_equal(nb_backward(b), NB_OK);
    assert_int_equal(nb_backward(b), NB_OK);
    assert_float_equal(nb_get(x->grad, 0), 2 * exp(0.3), 1e-14);
    assert_int_equal(nb_error(), NB_OK);
    nb_scope_end(&s);
    nb_tensor_free(x);
    nb_set_error_mode(NB_ERRORS_ABORT);
}

/* An HVP loop in a scope per step: memory stays flat */
static void memory_flat(void **state) {
    (void)state;
    nb_tensor *p[10], *v[10];
    for (int i = 0; i < 10; i++) {
        p[i] = param("mlp.p%d", i);
        v[i] = fixture_get(fx, "mlp.v%d", i);
    }
    size_t live = 0, reserved = 0;
    for (int step = 0; step < 60; step++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = mlp_loss(p, fixture_get(fx, "mlp.x"), fixture_get(fx, "mlp.y")), *g[10], *hv[10];
        assert_int_equal(nb_grads(&loss, 1, p, 10, NULL, &(nb_grad_opts){.create_graph = true}, g), NB_OK);
        nb_tensor *gv = NULL;
        for (int i = 0; i < 10; i++) {
            nb_tensor *t = nb_sum_all(nb_mul(g[i], v[i]));
            gv = gv ? nb_add(gv, t) : t;
        }
        assert_int_equal(nb_grads(&gv, 1, p, 10, NULL, NULL, hv), NB_OK);
        nb_scope_end(&s);
        nb_mem_stats m = nb_mem_stats_get();
        if (step == 10) {
            live = m.heap_live;
            reserved = m.arena_reserved;
        } else if (step > 10) {
            assert_int_equal(m.heap_live, live);
            assert_int_equal(m.arena_reserved, reserved);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basics),    cmocka_unit_test(errors),           cmocka_unit_test(gradgradcheck_defaults),
        cmocka_unit_test(mlp_hvp),   cmocka_unit_test(gradient_penalty), cmocka_unit_test(third_derivative),
        cmocka_unit_test(maml_step), cmocka_unit_test(memory_flat),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
