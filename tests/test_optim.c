/* tests/test_optim.c — optimizers beyond the PyTorch trajectories of
 * test_nn_reference.c: flat memory over a 200-step Adam loop, named state
 * (and resuming from it exactly), skipped parameters, option checks,
 * schedules, early stopping with restore-best, EMA and weight averaging. */
#include "test_util.h"
#include <stdlib.h>

static nb_module *small_net(void) {
    return nb_sequential(nb_linear(6, 16), nb_batchnorm1d(16), nb_relu_layer(), nb_dropout_layer(0.2), nb_linear(16, 3),
                         NULL);
}

static void train_step(nb_module *m, nb_optim *opt, nb_tensor *X, nb_tensor *y) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *loss = nb_add(nb_cross_entropy(nb_forward(m, X), y, NB_REDUCE_MEAN), nb_l2_penalty(m, 1e-4));
    nb_zero_grad(m);
    assert_int_equal(nb_backward(loss), NB_OK);
    nb_clip_grad_norm(m, 5.0);
    assert_int_equal(nb_optim_step(opt), NB_OK);
    nb_scope_end(&s);
}

static void memory_is_flat(void **state) {
    (void)state;
    nb_seed(1);
    nb_module *m = small_net();
    nb_optim *opt = nb_optim_adam(m, 1e-3);
    nb_tensor *X = nb_randn(NB_F32, NB_SHAPE(32, 6), 0, 1);
    int64_t lab[32];
    for (int i = 0; i < 32; i++) lab[i] = i % 3;
    nb_tensor *y = nb_from_i64(NB_SHAPE(32), lab);
    nb_mem_stats warm = {0};
    for (int it = 0; it < 200; it++) {
        train_step(m, opt, X, y);
        if (it == 9) warm = nb_mem_stats_get();
    }
    nb_mem_stats end = nb_mem_stats_get();
    printf("after warm-up: heap_allocs %zu -> %zu, arena_peak %zu -> %zu, heap_live %zu -> %zu\n", warm.heap_allocs,
           end.heap_allocs, warm.arena_peak, end.arena_peak, warm.heap_live, end.heap_live);
    assert_int_equal(end.heap_allocs, warm.heap_allocs);
    assert_int_equal(end.arena_peak, warm.arena_peak);
    assert_int_equal(end.heap_live, warm.heap_live);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_tensor_free(X);
    nb_tensor_free(y);
}

static void named_state_and_resume(void **state) {
    (void)state;
    nb_seed(2);
    nb_module *a = nb_sequential(nb_linear(3, 4), nb_tanh_layer(), nb_linear(4, 2), NULL);
    nb_module *b = nb_sequential(nb_linear(3, 4), nb_tanh_layer(), nb_linear(4, 2), NULL);
    nb_module_cast(a, NB_F64), nb_module_cast(b, NB_F64);
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_ADAM);
    o.lr = 0.01, o.amsgrad = true, o.weight_decay = 0.01;
    nb_optim *oa = nb_optim_new_module(&o, a);
    nb_named_tensor st[32];
    int n = nb_optim_named_state(oa, st, 32);
    assert_int_equal(n, 4 * 4);
    assert_string_equal(st[0].name, "0.weight.exp_avg");
    assert_string_equal(st[1].name, "0.weight.exp_avg_sq");
    assert_string_equal(st[2].name, "0.weight.max_exp_avg_sq");
    assert_string_equal(st[3].name, "0.weight.step");
    assert_string_equal(st[15].name, "2.bias.step");
    assert_null(st[0].t->scope);

    nb_tensor *X = nb_randn(NB_F64, NB_SHAPE(8, 3), 0, 1), *Y = nb_randn(NB_F64, NB_SHAPE(8, 2), 0, 1);
#define STEP(m, opt)                                                   \
    do {                                                               \
        nb_scope *s_ = nb_scope_begin();                               \
        nb_zero_grad(m);                                               \
        nb_backward(nb_mse_loss(nb_forward(m, X), Y, NB_REDUCE_MEAN)); \
        nb_optim_step(opt);                                            \
        nb_scope_end(&s_);                                             \
    } while (0)
    for (int i = 0; i < 7; i++) STEP(a, oa);
    /* "checkpoint": copy parameters and optimizer state into a fresh pair */
    nb_named_tensor pa[8], pb[8];
    nb_module_named_tensors(a, pa, 8), nb_module_named_tensors(b, pb, 8);
    NB_NO_GRAD {
        for (int i = 0; i < 4; i++) nb_copy_(pb[i].t, pa[i].t);
    }
    nb_optim *ob = nb_optim_new_module(&o, b);
    nb_named_tensor sb[32];
    assert_int_equal(nb_optim_named_state(ob, sb, 32), n);
    NB_NO_GRAD {
        for (int i = 0; i < n; i++) {
            assert_string_equal(sb[i].name, st[i].name);
            nb_copy_(sb[i].t, st[i].t);
        }
    }
    nb_optim_set_step_count(ob, nb_optim_step_count(oa));
    for (int i = 0; i < 5; i++) {
        STEP(a, oa);
        STEP(b, ob);
    }
    for (int i = 0; i < 4; i++)
        for (int64_t k = 0; k < pa[i].t->numel; k++) assert_true(nb_get(pa[i].t, k) == nb_get(pb[i].t, k));
    assert_int_equal(nb_optim_step_count(ob), 12);

    /* SGD without momentum keeps only the step counter */
    nb_optim *sgd = nb_optim_sgd(a, 0.1, 0);
    assert_int_equal(nb_optim_named_state(sgd, NULL, 0), 4);
    nb_optim_free(sgd);
    nb_optim_free(oa), nb_optim_free(ob);
    nb_module_free(a), nb_module_free(b);
    nb_tensor_free(X), nb_tensor_free(Y);
#undef STEP
}

static void plain_tensors_and_skips(void **state) {
    (void)state;
    /* minimise (x − 3)² + (y + 1)², no module: converges for every kind */
    for (int kind = NB_OPTIM_SGD; kind <= NB_OPTIM_ADAMW; kind++) {
        nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(1)), true);
        nb_tensor *y = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(1)), true);
        nb_tensor *unused = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(2)), true);
        nb_tensor *ts[3] = {x, y, unused};
        nb_optim_opts o = nb_optim_defaults((nb_optim_kind)kind);
        o.lr = kind == NB_OPTIM_ADADELTA ? 10.0 : kind == NB_OPTIM_SGD ? 0.1 : 0.1;
        o.weight_decay = 0;
        nb_optim *opt = nb_optim_new_tensors(&o, ts, 3);
        for (int it = 0; it < 2000; it++) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *l = nb_add(nb_square(nb_add_scalar(x, -3)), nb_square(nb_add_scalar(y, 1)));
            nb_optim_zero_grad(opt);
            nb_backward(nb_sum_all(l));
            nb_optim_step(opt);
            nb_scope_end(&s);
        }
        if (fabs(nb_item(x) - 3) > 1e-2 || fabs(nb_item(y) + 1) > 1e-2)
            fprintf(stderr, "kind %d: x %g y %g\n", kind, nb_item(x), nb_item(y));
        assert_true(fabs(nb_item(x) - 3) < 1e-2 && fabs(nb_item(y) + 1) < 1e-2);
        assert_true(nb_get(unused, 0) == 1 && nb_get(unused, 1) == 1); /* no grad: skipped */
        nb_named_tensor st[16];
        int n = nb_optim_named_state(opt, st, 16);
        assert_string_equal(st[n - 1].name, "2.step");
        assert_true(nb_item(st[n - 1].t) == 0);
        for (int i = 0; i < n; i++)
            if (!strcmp(st[i].name, "1.step")) assert_true(nb_item(st[i].t) == 2000);
        nb_optim_free(opt);
        nb_tensor_free(x), nb_tensor_free(y), nb_tensor_free(unused);
    }
}

static void option_errors(void **state) {
    (void)state;
    nb_module *m = nb_linear(2, 2);
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_SGD);
    o.nesterov = true; /* needs momentum */
    tu_err_reset();
    assert_null(nb_optim_new_module(&o, m));
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    o = nb_optim_defaults(NB_OPTIM_ADAM);
    o.beta2 = 1.0; /* must be < 1 */
    tu_err_reset();
    assert_null(nb_optim_new_module(&o, m));
    assert_int_equal(tu_err.count, 1);
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "betas must be in [0, 1)"));
    tu_err_reset();
    assert_null(nb_optim_sgd(m, -1, 0)); /* lr < 0 */
    assert_int_equal(tu_err.count, 1);
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "lr must be >= 0, got -1"));
    nb_scope *s = nb_scope_begin();
    nb_tensor *scoped = nb_set_requires_grad(nb_zeros(NB_F32, NB_SHAPE(2)), true);
    tu_err_reset();
    o = nb_optim_defaults(NB_OPTIM_SGD);
    assert_null(nb_optim_new_tensors(&o, &scoped, 1));
    assert_int_equal(tu_err.st, NB_ERR_SCOPE);
    nb_scope_end(&s);
    /* torch's defaults */
    o = nb_optim_defaults(NB_OPTIM_ADAMW);
    assert_true(o.lr == 1e-3 && o.weight_decay == 1e-2 && o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8);
    o = nb_optim_defaults(NB_OPTIM_ADAGRAD);
    assert_true(o.lr == 1e-2 && o.eps == 1e-10);
    o = nb_optim_defaults(NB_OPTIM_RMSPROP);
    assert_true(o.lr == 1e-2 && o.alpha == 0.99 && o.eps == 1e-8);
    o = nb_optim_defaults(NB_OPTIM_ADADELTA);
    assert_true(o.lr == 1.0 && o.rho == 0.9 && o.eps == 1e-6);
    nb_optim_free(NULL);
    nb_module_free(m);
}

static void schedules(void **state) {
    (void)state;
    nb_lr_schedule e = nb_lr_exp_decay(0.5, 0.1), it = nb_lr_inv_time(0.5, 0.2), c = nb_lr_cosine(1.0, 10, 0.0);
    for (int t = 0; t < 30; t++) {
        assert_true(fabs(nb_lr_at(&e, t) - 0.5 * exp(-0.1 * t)) < 1e-15);
        assert_true(fabs(nb_lr_at(&it, t) - 0.5 / (1 + 0.2 * t)) < 1e-15);
    }
    assert_true(nb_lr_at(&c, 0) == 1.0 && fabs(nb_lr_at(&c, 5) - 0.5) < 1e-15 && fabs(nb_lr_at(&c, 10)) < 1e-15);
    nb_module *m = nb_linear(2, 2);
    nb_optim *opt = nb_optim_sgd(m, 0.5, 0.9);
    nb_lr_schedule s = nb_lr_step(0.5, 3, 0.1);
    for (int t = 1; t <= 7; t++) nb_lr_schedule_step(&s, opt);
    assert_int_equal(s.t, 7);
    assert_true(fabs(nb_optim_get_lr(opt) - 0.5 * 0.01) < 1e-15);
    nb_optim_free(opt);
    nb_module_free(m);
}

static void early_stopping(void **state) {
    (void)state;
    nb_module *m = nb_sequential(nb_linear(2, 2), nb_batchnorm1d(2), NULL);
    nb_tensor *w = nb_module_get(m, "0.weight");
    /* validation losses: best at update 2 (0.5), then 3 without improvement > min_delta */
    const double losses[] = {1.0, 0.8, 0.5, 0.499, 0.6, 0.7, 0.4};
    nb_early_stop *es = nb_early_stop_new(m, 3, 0.01, NB_ES_MIN, true);
    double best_w0 = 0;
    int stopped_at = -1;
    for (int e = 0; e < 7; e++) {
        NB_NO_GRAD { nb_fill_(w, (double)e); } /* "training" changes the weights */
        nb_set(nb_module_get(m, "1.num_batches_tracked"), 0, e);
        if (e == 2) best_w0 = nb_get(w, 0);
        if (nb_early_stop_update(es, losses[e])) {
            stopped_at = e;
            break;
        }
    }
    assert_int_equal(stopped_at, 5);
    assert_int_equal(nb_early_stop_best_epoch(es), 2);
    assert_true(nb_early_stop_best(es) == 0.5);
    assert_true(nb_early_stop_should_stop(es));
    assert_true(nb_get(w, 0) == best_w0); /* restored */
    assert_true(nb_get(nb_module_get(m, "1.num_batches_tracked"), 0) == 2);
    nb_early_stop_free(es);

    /* max mode (accuracy), no restore */
    es = nb_early_stop_new(m, 2, 0, NB_ES_MAX, false);
    assert_false(nb_early_stop_update(es, 0.5));
    assert_false(nb_early_stop_update(es, 0.6));
    assert_false(nb_early_stop_update(es, 0.6));
    assert_true(nb_early_stop_update(es, 0.55));
    assert_false(nb_early_stop_restore(es));
    nb_early_stop_free(es);
    nb_module_free(m);
}

static void ema_and_averaging(void **state) {
    (void)state;
    nb_module *m = nb_linear(3, 2);
    nb_module_cast(m, NB_F64);
    nb_tensor *w = nb_module_get(m, "weight");
    nb_ema *e = nb_ema_new(m, 0.9);
    double sh = nb_get(w, 0);
    for (int k = 1; k <= 5; k++) {
        NB_NO_GRAD { nb_fill_(w, k); }
        nb_ema_update(e);
        sh = 0.9 * sh + 0.1 * k;
    }
    assert_true(fabs(nb_get(nb_ema_shadow(e, 0), 0) - sh) < 1e-14);
    nb_ema_swap_in(e);
    assert_true(fabs(nb_get(w, 0) - sh) < 1e-14);
    nb_ema_swap_in(e); /* twice: no effect */
    nb_ema_swap_out(e);
    assert_true(nb_get(w, 0) == 5);
    nb_ema_free(e);

    nb_module *a = nb_linear(3, 2), *b = nb_linear(3, 2), *c = nb_linear(3, 2);
    nb_module *srcs[3] = {a, b, c};
    nb_module *dst = nb_linear(3, 2);
    assert_true(nb_average_modules(dst, srcs, 3));
    for (int64_t i = 0; i < 6; i++) {
        double want = (nb_get(nb_module_get(a, "weight"), i) + nb_get(nb_module_get(b, "weight"), i) +
                       nb_get(nb_module_get(c, "weight"), i)) /
            3;
        assert_true(fabs(nb_get(nb_module_get(dst, "weight"), i) - want) < 1e-6);
    }
    assert_true(nb_average_modules(a, srcs, 3)); /* in place into one of the sources */
    assert_true(fabs(nb_get(nb_module_get(a, "bias"), 1) - nb_get(nb_module_get(dst, "bias"), 1)) < 1e-6);
    tu_err_reset(); /* the handler keeps the error from aborting */
    nb_module *other = nb_linear(2, 2);
    nb_module *bad[1] = {other};
    assert_false(nb_average_modules(dst, bad, 1));
    nb_set_error_handler(NULL, NULL);
    nb_error_clear();
    nb_module_free(other);
    nb_module_free(a), nb_module_free(b), nb_module_free(c), nb_module_free(dst);
    nb_module_free(m);
}

/* Trains two copies of a small model 30 steps with options o, one with
 * o.fused off and one on; the largest relative difference between their
 * parameters and optimizer state. */
static double fused_vs_composed(nb_optim_opts o, nb_dtype dt) {
    nb_module *m[2];
    nb_optim *opt[2];
    for (int f = 0; f < 2; f++) {
        nb_seed(9);
        m[f] = nb_sequential(nb_linear(5, 7), nb_tanh_layer(), nb_linear(7, 2), NULL);
        nb_module_cast(m[f], dt);
        o.fused = f;
        opt[f] = nb_optim_new_module(&o, m[f]);
        assert_non_null(opt[f]);
    }
    nb_seed(10);
    nb_tensor *X = nb_randn(dt, NB_SHAPE(9, 5), 0, 1), *Y = nb_randn(dt, NB_SHAPE(9, 2), 0, 1);
    for (int it = 0; it < 30; it++)
        for (int f = 0; f < 2; f++) {
            nb_scope *s = nb_scope_begin();
            nb_zero_grad(m[f]);
            nb_backward(nb_mse_loss(nb_forward(m[f], X), Y, NB_REDUCE_MEAN));
            nb_optim_step(opt[f]);
            nb_scope_end(&s);
        }
    nb_named_tensor a[8], b[8], sa[32], sb[32];
    const int n = nb_module_parameters(m[0], a, 8), ns = nb_optim_named_state(opt[0], sa, 32);
    assert_int_equal(nb_module_parameters(m[1], b, 8), n);
    assert_int_equal(nb_optim_named_state(opt[1], sb, 32), ns);
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < a[i].t->numel; k++)
            worst = fmax(worst, fabs(nb_get(a[i].t, k) - nb_get(b[i].t, k)) / fmax(fabs(nb_get(a[i].t, k)), 1e-3));
    for (int i = 0; i < ns; i++)
        for (int64_t k = 0; k < sa[i].t->numel; k++)
            worst = fmax(worst, fabs(nb_get(sa[i].t, k) - nb_get(sb[i].t, k)) / fmax(fabs(nb_get(sa[i].t, k)), 1e-12));
    for (int f = 0; f < 2; f++) nb_optim_free(opt[f]), nb_module_free(m[f]);
    nb_tensor_free(X), nb_tensor_free(Y);
    return worst;
}

/* The fused SGD loop gives the composed ops' bits, f64 and f32, every option. */
static void fused_sgd_equals_composed(void **state) {
    (void)state;
    static const struct {
        double mom, damp, wd;
        bool nest;
    } v[] = {
        {0, 0, 0, false},  {0.9, 0, 0, false},   {0.9, 0.25, 0, false},
        {0.9, 0, 0, true}, {0.8, 0, 0.05, true}, {0, 0, 0.1, false},
    };
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            nb_optim_opts o = nb_optim_defaults(NB_OPTIM_SGD);
            assert_true(o.fused); /* the default */
            o.lr = 0.05, o.momentum = v[i].mom, o.dampening = v[i].damp, o.weight_decay = v[i].wd,
            o.nesterov = v[i].nest;
            assert_true(fused_vs_composed(o, d ? NB_F32 : NB_F64) == 0);
        }
}

/* The fused Adam/AdamW loop equals the composed ops (same arithmetic, same
 * order): the same parameters and state after 30 steps, in f64 and f32. */
static void fused_adam_equals_composed(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++)
        for (int variant = 0; variant < 4; variant++) {
            nb_optim_opts o = nb_optim_defaults(variant < 2 ? NB_OPTIM_ADAM : NB_OPTIM_ADAMW);
            o.lr = 0.01, o.amsgrad = variant & 1;
            if (variant == 1) o.weight_decay = 0.05;
            const double worst = fused_vs_composed(o, d ? NB_F32 : NB_F64);
            if (worst > 0)
                printf("fused vs composed (%s, variant %d): max rel diff %.2g\n", d ? "f32" : "f64", variant, worst);
            assert_true(worst <= (d ? 1e-6 : 1e-14));
        }
}

/* Five steps of SGD with momentum (kind 0) or Adam (1), f32, on the same
 * gradients, with the thread count nt. */
static nb_tensor *five_steps(int kind, int64_t n, int nt) {
    nb_set_num_threads(nt);
    nb_seed(3);
    nb_tensor *p = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(n), 0, 1), true);
    nb_optim_opts o = nb_optim_defaults(kind ? NB_OPTIM_ADAM : NB_OPTIM_SGD);
    o.lr = 0.01, o.momentum = kind ? 0 : 0.9;
    nb_optim *opt = nb_optim_new_tensors(&o, &p, 1);
    assert_non_null(opt);
    for (int it = 0; it < 5; it++) {
        nb_scope *s = nb_scope_begin();
        nb_optim_zero_grad(opt);
        nb_backward(nb_sum_all(nb_mul(p, nb_tanh(p)))); /* g = tanh p + p (1 - tanh² p) */
        nb_optim_step(opt);
        nb_scope_end(&s);
    }
    nb_optim_free(opt);
    return p;
}

/* A parameter long enough for the fused steps to split it between threads
 * (nb__elementwise_threads) ends with the bits one thread gives; and so does
 * the whole training run made by one thread inside a parallel region of the
 * caller's (there nabla stays on that thread and must still do all of it). */
static void fused_steps_split_equal_one_thread(void **state) {
    (void)state;
    const int64_t n = 300 * 700 + 5; /* > the 125 000-element floor, odd tail */
    const int saved = nb_get_num_threads();
    for (int kind = 0; kind < 2; kind++) {
        nb_tensor *p[3];
        p[0] = five_steps(kind, n, 1);
        p[1] = five_steps(kind, n, 2);
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            p[2] = five_steps(kind, n, 2);
        }
        for (int r = 1; r < 3; r++) assert_memory_equal(p[0]->data, p[r]->data, (size_t)n * sizeof(float));
        for (int r = 0; r < 3; r++) nb_tensor_free(p[r]);
    }
    nb_set_num_threads(saved);
}

/* Adam(W) over many tensors, none long enough to split alone, in two
 * groups (lr, weight decay), f32 and f64, one without a gradient in the
 * first step: on 2 threads every tensor updates in one parallel region,
 * with the bits of the per-tensor loop on 1 thread (parameters and state). */
#define MANY 7
static void many_steps(int nt, bool ams, int kind, nb_tensor **p, nb_optim **out) {
    static const int64_t len[MANY] = {70001, 33, 50000, 17, 40000, 9, 20000};
    nb_set_num_threads(nt);
    nb_seed(5);
    for (int i = 0; i < MANY; i++)
        p[i] = nb_set_requires_grad(nb_randn(i == 4 ? NB_F64 : NB_F32, NB_SHAPE(len[i]), 0, 1), true);
    nb_named_tensor named[MANY];
    static const char *names[MANY] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6"};
    for (int i = 0; i < MANY; i++) named[i] = (nb_named_tensor){names[i], p[i]};
    nb_optim_opts o = nb_optim_defaults(kind);
    o.lr = 0.01, o.amsgrad = ams, o.weight_decay = 0.02;
    const nb_optim_group groups[2] = {{named, 4, NB_OPTIM_INHERIT, NB_OPTIM_INHERIT}, {named + 4, MANY - 4, 0.003, 0}};
    nb_optim *opt = nb_optim_new_groups(&o, groups, 2);
    assert_non_null(opt);
    for (int it = 0; it < 4; it++) {
        nb_scope *s = nb_scope_begin();
        nb_optim_zero_grad(opt);
        for (int i = 0; i < MANY; i++) {
            if (it == 0 && i == 3) continue; /* no gradient reaches p[3] in the first step */
            nb_tensor *x = i == 4 ? p[i] : nb_cast(p[i], NB_F64);
            assert_int_equal(nb_backward(nb_sum_all(nb_mul(x, nb_tanh(x)))), NB_OK);
        }
        assert_int_equal(nb_optim_step(opt), NB_OK);
        nb_scope_end(&s);
    }
    *out = opt;
}

static void adam_many_tensors_one_region(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    for (int v = 0; v < 4; v++) {
        nb_tensor *p[2][MANY];
        nb_optim *opt[2];
        for (int r = 0; r < 2; r++) many_steps(r + 1, v & 1, v & 2 ? NB_OPTIM_ADAMW : NB_OPTIM_ADAM, p[r], &opt[r]);
        for (int i = 0; i < MANY; i++)
            assert_memory_equal(p[0][i]->data, p[1][i]->data, (size_t)p[0][i]->numel * nb_dtype_size(p[0][i]->dtype));
        nb_named_tensor st[2][4 * MANY];
        const int ns = nb_optim_named_state(opt[0], st[0], 4 * MANY);
        assert_int_equal(nb_optim_named_state(opt[1], st[1], 4 * MANY), ns);
        assert_true(ns >= 3 * MANY && ns <= 4 * MANY);
        for (int k = 0; k < ns; k++) {
            assert_string_equal(st[0][k].name, st[1][k].name);
            assert_memory_equal(st[0][k].t->data, st[1][k].t->data,
                                (size_t)st[0][k].t->numel * nb_dtype_size(st[0][k].t->dtype));
        }
        for (int r = 0; r < 2; r++) {
            nb_optim_free(opt[r]);
            for (int i = 0; i < MANY; i++) nb_tensor_free(p[r][i]);
        }
    }
    nb_set_num_threads(saved);
}

static void clip_by_value_and_norm(void **state) {
    (void)state;
    nb_tensor *p = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(4)), true);
    nb_tensor *q = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(1)), true);
    nb_scope *s = nb_scope_begin();
    double c[] = {3, -4, 0.5, 0};
    nb_backward(nb_add(nb_sum_all(nb_mul(p, nb_from_f64(NB_SHAPE(4), c))), nb_mul_scalar(nb_sum_all(q), 12)));
    nb_scope_end(&s);
    nb_tensor *ts[2] = {p, q};
    const double total = sqrt(9 + 16 + 0.25 + 144);
    assert_true(fabs(nb_clip_grad_norm_list(ts, 2, 100) - total) < 1e-12); /* under: unchanged */
    assert_true(nb_get(p->grad, 0) == 3);
    assert_true(fabs(nb_clip_grad_norm_list(ts, 2, 1.0) - total) < 1e-12);
    assert_true(fabs(nb_get(q->grad, 0) - 12 / (total + 1e-6)) < 1e-12);
    nb_clip_grad_value_list(ts, 2, 0.1);
    assert_true(nb_get(q->grad, 0) == 0.1 && nb_get(p->grad, 1) == -0.1);
    nb_tensor_free(p), nb_tensor_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memory_is_flat),
        cmocka_unit_test(named_state_and_resume),
        cmocka_unit_test(plain_tensors_and_skips),
        cmocka_unit_test_setup_teardown(option_errors, tu_setup, tu_teardown),
        cmocka_unit_test(schedules),
        cmocka_unit_test(early_stopping),
        cmocka_unit_test(ema_and_averaging),
        cmocka_unit_test(clip_by_value_and_norm),
        cmocka_unit_test(fused_adam_equals_composed),
        cmocka_unit_test(fused_sgd_equals_composed),
        cmocka_unit_test(fused_steps_split_equal_one_thread),
        cmocka_unit_test(adam_many_tensors_one_region),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
