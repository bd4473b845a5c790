/* tests/test_nn_reference.c — nn/ and optim/ against PyTorch, with the same
 * weights and data (fixtures from tests/fixtures/gen_nn_fixtures.py):
 * every layer's output and input/parameter gradients, BatchNorm's running
 * statistics over several steps and its eval output, every loss, each
 * optimizer's 20-step trajectory on a small MLP (F64 and F32), the
 * learning-rate schedules and gradient clipping.
 *
 * Error measure: |nabla − torch| / max(|torch|, 1e-3) (relative; absolute
 * below 1e-3). F64 ≤ 1e-9, F32 ≤ 1e-4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "nn_fixture.h"

#ifndef NB_NN_FIXTURES
#define NB_NN_FIXTURES "tests/fixtures/nn"
#endif

#define TOL64 1e-9
#define TOL32 1e-4
#define FLOOR 1e-3

static fixture *load(const char *file) {
    fixture *fx = fixture_open(NB_NN_FIXTURES, file);
    assert_non_null(fx);
    return fx;
}

static void set_from(nb_tensor *t, const nb_tensor *src) { assert_true(fixture_copy_into(t, src)); }

static nb_tensor *as(const nb_tensor *src, nb_dtype dt) {
    assert_non_null(src);
    return fixture_as(src, dt);
}

static double worst_seen64, worst_seen32;

static void check(const char *what, const nb_tensor *got, const nb_tensor *want, nb_dtype dt) {
    const double e = max_rel_err(got, want, FLOOR), tol = dt == NB_F64 ? TOL64 : TOL32;
    double *w = dt == NB_F64 ? &worst_seen64 : &worst_seen32;
    if (e > *w || isnan(e)) *w = e;
    if (!(e <= tol)) {
        fprintf(stderr, "  %s (%s): max rel err %.3g > %.1g\n", what, nb_dtype_name(dt), e, tol);
        if (got && want)
            for (int64_t i = 0; i < got->numel && i < want->numel; i++) {
                double a = nb_get(got, i), b = nb_get(want, i);
                if (fabs(a - b) / fmax(fabs(b), FLOOR) > tol) {
                    fprintf(stderr, "    first bad element %lld: nabla %.17g torch %.17g\n", (long long)i, a, b);
                    break;
                }
            }
    }
    assert_true(e <= tol);
}

/* ---------------------------------------------------------------- layers */

typedef struct {
    const char *name;
    nb_module *(*make)(void);
} layer_case;

static nb_module *mk_linear(void) { return nb_linear(5, 3); }
static nb_module *mk_linear_nobias(void) { return nb_linear_ex(5, 3, false); }
static nb_module *mk_conv2d(void) { return nb_conv2d_layer(3, 4, 3, 1, 1); }
static nb_module *mk_conv2d_s2(void) { return nb_conv2d_layer(2, 3, 3, 2, 0); }
static nb_module *mk_conv1d(void) { return nb_conv1d_layer(3, 4, 3, 2, 1); }
static nb_module *mk_maxpool(void) { return nb_max_pool2d_layer(2, 2); }
static nb_module *mk_avgpool(void) { return nb_avg_pool2d_layer(3, 2); }
static nb_module *mk_flatten(void) { return nb_flatten_layer(); }
static nb_module *mk_sigmoid(void) { return nb_sigmoid_layer(); }
static nb_module *mk_tanh(void) { return nb_tanh_layer(); }
static nb_module *mk_relu(void) { return nb_relu_layer(); }
static nb_module *mk_leaky(void) { return nb_leaky_relu_layer(0.1); }
static nb_module *mk_elu(void) { return nb_elu_layer(0.7); }
static nb_module *mk_prelu1(void) { return nb_prelu_layer(1); }
static nb_module *mk_prelu3(void) { return nb_prelu_layer(3); }
static nb_module *mk_maxout(void) { return nb_maxout_layer(5, 3, 2); }
static nb_module *mk_embedding(void) { return nb_embedding(10, 4); }
static nb_module *mk_bn1d(void) { return nb_batchnorm1d(4); }
static nb_module *mk_bn1d3(void) { return nb_batchnorm1d(3); }
static nb_module *mk_bn2d(void) { return nb_batchnorm2d(3); }

static const layer_case LAYERS[] = {
    {"linear", mk_linear},
    {"linear3d", mk_linear},
    {"linear_nobias", mk_linear_nobias},
    {"conv2d", mk_conv2d},
    {"conv2d_s2", mk_conv2d_s2},
    {"conv1d", mk_conv1d},
    {"maxpool", mk_maxpool},
    {"avgpool", mk_avgpool},
    {"flatten", mk_flatten},
    {"sigmoid", mk_sigmoid},
    {"tanh", mk_tanh},
    {"relu", mk_relu},
    {"leaky_relu", mk_leaky},
    {"elu", mk_elu},
    {"prelu1", mk_prelu1},
    {"prelu3", mk_prelu3},
    {"maxout", mk_maxout},
    {"embedding", mk_embedding},
    {"bn1d", mk_bn1d},
    {"bn1d3", mk_bn1d3},
    {"bn2d", mk_bn2d},
};

static void run_layer(const fixture *fx, const layer_case *lc, nb_dtype dt) {
    nb_module *m = lc->make();
    assert_non_null(m);
    assert_true(nb_module_cast(m, dt));
    nb_named_tensor ps[8];
    int np = nb_module_parameters(m, ps, 8);
    for (int i = 0; i < np; i++) set_from(ps[i].t, fixture_get(fx, "%s.p.%s", lc->name, ps[i].name));
    nb_scope *s = nb_scope_begin();
    const nb_tensor *fx_x = fixture_get(fx, "%s.x", lc->name);
    nb_tensor *x = as(fx_x, dt);
    if (x->dtype != NB_I64) nb_set_requires_grad(x, true);
    nb_tensor *y = nb_forward(m, x);
    assert_non_null(y);
    nb_tensor *loss = nb_sum_all(nb_mul(y, as(fixture_get(fx, "%s.r", lc->name), dt)));
    nb_module_zero_grad(m);
    assert_int_equal(nb_backward(loss), NB_OK);
    char what[128];
    snprintf(what, sizeof what, "%s output", lc->name);
    check(what, y, fixture_get(fx, "%s.y", lc->name), dt);
    if (x->dtype != NB_I64) {
        snprintf(what, sizeof what, "%s d/dx", lc->name);
        check(what, x->grad, fixture_get(fx, "%s.gx", lc->name), dt);
    }
    for (int i = 0; i < np; i++) {
        snprintf(what, sizeof what, "%s d/d%s", lc->name, ps[i].name);
        check(what, ps[i].t->grad, fixture_get(fx, "%s.g.%s", lc->name, ps[i].name), dt);
    }
    nb_scope_end(&s);
    nb_module_free(m);
}

static void layers_match_torch(void **state) {
    (void)state;
    fixture *fx = load("layers.txt");
    worst_seen64 = worst_seen32 = 0;
    for (size_t i = 0; i < sizeof LAYERS / sizeof *LAYERS; i++) {
        run_layer(fx, &LAYERS[i], NB_F64);
        run_layer(fx, &LAYERS[i], NB_F32);
    }
    printf("layers: %zu cases, worst rel err f64 %.2g, f32 %.2g\n", sizeof LAYERS / sizeof *LAYERS, worst_seen64,
           worst_seen32);
    fixture_free(fx);
}

/* ---------------------------------------------------------------- BatchNorm */

static void run_bn(const fixture *fx, const char *name, nb_module *m, nb_dtype dt) {
    assert_true(nb_module_cast(m, dt));
    set_from(nb_module_get(m, "weight"), fixture_get(fx, "%s.weight", name));
    set_from(nb_module_get(m, "bias"), fixture_get(fx, "%s.bias", name));
    char what[128];
    for (int step = 0; step < 5; step++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *y = nb_forward(m, as(fixture_get(fx, "%s.step%d.x", name, step), dt));
        snprintf(what, sizeof what, "%s train step %d", name, step);
        check(what, y, fixture_get(fx, "%s.step%d.y", name, step), dt);
        nb_scope_end(&s);
    }
    snprintf(what, sizeof what, "%s running_mean", name);
    check(what, nb_module_get(m, "running_mean"), fixture_get(fx, "%s.running_mean", name), dt);
    snprintf(what, sizeof what, "%s running_var", name);
    check(what, nb_module_get(m, "running_var"), fixture_get(fx, "%s.running_var", name), dt);
    assert_int_equal(nb_get(nb_module_get(m, "num_batches_tracked"), 0),
                     nb_get(fixture_get(fx, "%s.num_batches_tracked", name), 0));
    nb_module_eval(m);
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = nb_forward(m, as(fixture_get(fx, "%s.eval.x", name), dt));
    snprintf(what, sizeof what, "%s eval", name);
    check(what, y, fixture_get(fx, "%s.eval.y", name), dt);
    nb_scope_end(&s);
    nb_module_free(m);
}

static void batchnorm_running_stats_match_torch(void **state) {
    (void)state;
    fixture *fx = load("bn.txt");
    worst_seen64 = worst_seen32 = 0;
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        run_bn(fx, "bn1d", nb_batchnorm1d(4), dt);
        run_bn(fx, "bn2d", nb_batchnorm2d(3), dt);
    }
    printf("batchnorm: worst rel err f64 %.2g, f32 %.2g\n", worst_seen64, worst_seen32);
    fixture_free(fx);
}

/* ---------------------------------------------------------------- losses */

typedef nb_tensor *(*loss2_fn)(nb_tensor *, nb_tensor *, nb_reduction);
static nb_tensor *svm1(nb_tensor *s, nb_tensor *y, nb_reduction r) { return nb_svm_loss(s, y, 1.0, r); }

static void run_loss(const fixture *fx, const char *name, loss2_fn fn, bool labels, nb_dtype dt) {
    static const char *reds[] = {"mean", "sum", "none"};
    for (int r = 0; r < 3; r++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *a = nb_set_requires_grad(as(fixture_get(fx, "%s.in0", name), dt), true);
        nb_tensor *b = labels ? as(fixture_get(fx, "%s.labels", name), dt) : as(fixture_get(fx, "%s.in1", name), dt);
        nb_tensor *l = fn(a, b, (nb_reduction)r);
        char what[128];
        snprintf(what, sizeof what, "%s %s", name, reds[r]);
        check(what, l, fixture_get(fx, "%s.%s", name, reds[r]), dt);
        if (r == 0) {
            assert_int_equal(nb_backward(l), NB_OK);
            snprintf(what, sizeof what, "%s d/dinput", name);
            check(what, a->grad, fixture_get(fx, "%s.grad", name), dt);
        }
        nb_scope_end(&s);
    }
}

static void losses_match_torch(void **state) {
    (void)state;
    fixture *fx = load("losses.txt");
    worst_seen64 = worst_seen32 = 0;
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        run_loss(fx, "mse", nb_mse_loss, false, dt);
        run_loss(fx, "bce", nb_bce_with_logits_loss, false, dt);
        run_loss(fx, "ce", nb_cross_entropy, true, dt);
        run_loss(fx, "svm", svm1, true, dt);
        /* L2 penalty: λΣw² over the weights of a two-Linear model, biases excluded */
        nb_module *m = nb_sequential(nb_linear(4, 3), nb_linear(3, 2), NULL);
        nb_module_cast(m, dt);
        set_from(nb_module_get(m, "0.weight"), fixture_get(fx, "l2.fc1.weight"));
        set_from(nb_module_get(m, "0.bias"), fixture_get(fx, "l2.fc1.bias"));
        set_from(nb_module_get(m, "1.weight"), fixture_get(fx, "l2.fc2.weight"));
        set_from(nb_module_get(m, "1.bias"), fixture_get(fx, "l2.fc2.bias"));
        nb_scope *s = nb_scope_begin();
        check("l2 penalty", nb_l2_penalty(m, 0.05), fixture_get(fx, "l2.value"), dt);
        nb_scope_end(&s);
        nb_module_free(m);
    }
    printf("losses: worst rel err f64 %.2g, f32 %.2g\n", worst_seen64, worst_seen32);
    fixture_free(fx);
}

/* ---------------------------------------------------------------- optimizers */

static const char *CONFIGS[] = {"sgd",      "sgd_momentum",  "sgd_damp_wd", "sgd_nesterov",
                                "adagrad",  "adagrad_decay", "rmsprop",     "rmsprop_centered",
                                "adadelta", "adadelta_wd",   "adam",        "adam_wd_amsgrad",
                                "adamw",    "adamw_amsgrad"};

static nb_optim_opts opts_from(const nb_tensor *cfg) {
    const double *c = nb_f64(cfg);
    nb_optim_opts o = nb_optim_defaults((nb_optim_kind)(int)c[0]);
    o.lr = c[1], o.weight_decay = c[2], o.momentum = c[3], o.dampening = c[4], o.nesterov = c[5] != 0;
    o.beta1 = c[6], o.beta2 = c[7], o.eps = c[8], o.amsgrad = c[9] != 0, o.alpha = c[10];
    o.centered = c[11] != 0, o.rho = c[12], o.lr_decay = c[13], o.initial_accumulator_value = c[14];
    return o;
}

static nb_module *make_mlp(const fixture *fx, nb_dtype dt) {
    nb_module *m = nb_sequential(nb_linear(4, 8), nb_tanh_layer(), nb_linear(8, 3), NULL);
    assert_non_null(m);
    nb_module_cast(m, dt);
    nb_named_tensor ps[4];
    assert_int_equal(nb_module_parameters(m, ps, 4), 4);
    for (int i = 0; i < 4; i++) set_from(ps[i].t, fixture_get(fx, "mlp.init.%s", ps[i].name));
    return m;
}

/* The module's parameters flattened, in order (scoped). */
static nb_tensor *flat_params(nb_module *m) {
    nb_named_tensor ps[8];
    int n = nb_module_parameters(m, ps, 8);
    nb_tensor *f[8];
    for (int i = 0; i < n; i++) f[i] = nb_reshape(ps[i].t, NB_SHAPE(-1));
    return nb_concat(f, n, 0);
}

static nb_tensor *flat_grads(nb_module *m) {
    nb_named_tensor ps[8];
    int n = nb_module_parameters(m, ps, 8);
    nb_tensor *f[8];
    for (int i = 0; i < n; i++) f[i] = nb_reshape(ps[i].t->grad, NB_SHAPE(-1));
    return nb_concat(f, n, 0);
}

static void optimizers_match_torch(void **state) {
    (void)state;
    fixture *fx = load("optim.txt");
    const nb_tensor *snaps = fixture_get(fx, "snapshots");
    for (size_t c = 0; c < sizeof CONFIGS / sizeof *CONFIGS; c++) {
        double w64 = 0, w32 = 0;
        for (int k = 0; k < 2; k++) {
            nb_dtype dt = k ? NB_F32 : NB_F64;
            worst_seen64 = worst_seen32 = 0;
            nb_module *m = make_mlp(fx, dt);
            nb_optim_opts o = opts_from(fixture_get(fx, "%s.cfg", CONFIGS[c]));
            nb_optim *opt = nb_optim_new_module(&o, m);
            assert_non_null(opt);
            nb_tensor *X = as(fixture_get(fx, "mlp.X"), dt), *Y = as(fixture_get(fx, "mlp.Y"), dt);
            int snap = 0;
            for (int step = 1; step <= 20; step++) {
                nb_scope *s = nb_scope_begin();
                nb_optim_zero_grad(opt);
                assert_int_equal(nb_backward(nb_mse_loss(nb_forward(m, X), Y, NB_REDUCE_MEAN)), NB_OK);
                assert_int_equal(nb_optim_step(opt), NB_OK);
                if (snap < snaps->numel && nb_i64(snaps)[snap] == step) {
                    char what[128];
                    snprintf(what, sizeof what, "%s after step %d", CONFIGS[c], step);
                    check(what, flat_params(m), fixture_get(fx, "%s.%s.step%d", CONFIGS[c], k ? "f32" : "f64", step),
                          dt);
                    snap++;
                }
                nb_scope_end(&s);
            }
            assert_int_equal(snap, snaps->numel);
            assert_int_equal(nb_optim_step_count(opt), 20);
            if (k) w32 = worst_seen32;
            else w64 = worst_seen64;
            nb_optim_free(opt);
            nb_module_free(m);
            nb_tensor_free(X);
            nb_tensor_free(Y);
        }
        printf("%-17s 20 steps: worst rel err f64 %.2g, f32 %.2g\n", CONFIGS[c], w64, w32);
    }
    fixture_free(fx);
}

static void schedules_match_torch(void **state) {
    (void)state;
    fixture *fx = load("optim.txt");
    nb_lr_schedule ss[3] = {nb_lr_step(0.1, 7, 0.5), nb_lr_exponential(0.1, 0.9), nb_lr_cosine(0.1, 10, 0.001)};
    const char *names[3] = {"step", "exponential", "cosine"};
    for (int k = 0; k < 3; k++) {
        const nb_tensor *want = fixture_get(fx, "sched.%s", names[k]);
        for (int t = 1; t <= 30; t++) {
            double lr = nb_lr_schedule_step(&ss[k], NULL), w = nb_f64(want)[t - 1];
            if (!(fabs(lr - w) <= 1e-12 * fabs(w) + 1e-15))
                fprintf(stderr, "%s epoch %d: %.17g vs torch %.17g\n", names[k], t, lr, w);
            assert_true(fabs(lr - w) <= 1e-12 * fabs(w) + 1e-15);
        }
    }
    fixture_free(fx);
}

static void clipping_matches_torch(void **state) {
    (void)state;
    fixture *fx = load("optim.txt");
    nb_module *m = make_mlp(fx, NB_F64);
    nb_tensor *X = fixture_get(fx, "mlp.X"), *Y = fixture_get(fx, "mlp.Y");
    for (int k = 0; k < 2; k++) {
        nb_scope *s = nb_scope_begin();
        nb_zero_grad(m);
        nb_backward(nb_mse_loss(nb_forward(m, X), Y, NB_REDUCE_MEAN));
        if (k == 0) {
            double total = nb_clip_grad_norm(m, 0.05);
            assert_true(fabs(total - nb_item(fixture_get(fx, "clip.norm.total"))) <= 1e-12 * total);
            check("clip_grad_norm grads", flat_grads(m), fixture_get(fx, "clip.norm.grads"), NB_F64);
        } else {
            nb_clip_grad_value(m, 0.02);
            check("clip_grad_value grads", flat_grads(m), fixture_get(fx, "clip.value.grads"), NB_F64);
        }
        nb_scope_end(&s);
    }
    nb_module_free(m);
    fixture_free(fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layers_match_torch),    cmocka_unit_test(batchnorm_running_stats_match_torch),
        cmocka_unit_test(losses_match_torch),    cmocka_unit_test(optimizers_match_torch),
        cmocka_unit_test(schedules_match_torch), cmocka_unit_test(clipping_matches_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
