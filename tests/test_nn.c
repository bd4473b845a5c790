/* tests/test_nn.c — modules, layers, losses and initializers:
 * gradcheck (F64) of every layer and loss w.r.t. inputs AND parameters,
 * the module API (names, buffers, children, custom struct models, cast,
 * swap, train/eval), dropout statistics, shape errors that name the layer,
 * and the initializers' statistics. The PyTorch comparisons are in
 * test_nn_reference.c. */
#include "test_util.h"
#include <stdlib.h>

/* ---------------------------------------------------------------- gradcheck helpers */

typedef struct {
    nb_module *m;
    int np;
    nb_dtype dt; /* the module's parameters' dtype */
} layer_ctx;

/* in[0] = x, in[1..np] = the parameters: the module computes with them. */
static nb_tensor *layer_fn(nb_tensor *const *in, int nin, void *ctx) {
    layer_ctx *c = ctx;
    nb_tensor *ps[16];
    for (int i = 0; i < c->np; i++) ps[i] = in[1 + i];
    assert_int_equal(nin, 1 + c->np);
    if (c->np > 0 && in[1]->dtype != c->dt) { /* gradcheck's F32 run: the module follows */
        assert_true(nb_module_cast(c->m, in[1]->dtype));
        c->dt = in[1]->dtype;
    }
    assert_true(nb_module_swap_parameters(c->m, ps, c->np));
    nb_tensor *y = nb_forward(c->m, in[0]);
    assert_true(nb_module_swap_parameters(c->m, ps, c->np));
    return y;
}

/* Gradchecks module m (cast to F64) at x w.r.t. x (if float) and every parameter. */
static void gradcheck_layer(nb_module *m, nb_tensor *x, const char *what) {
    assert_non_null(m);
    assert_true(nb_module_cast(m, NB_F64));
    layer_ctx c = {m, nb_module_num_parameters(m), NB_F64};
    nb_named_tensor ps[16];
    nb_module_parameters(m, ps, 16);
    nb_tensor *in[17] = {x};
    for (int i = 0; i < c.np; i++) in[1 + i] = nb_set_requires_grad(nb_copy_persistent(ps[i].t), true);
    if (x->dtype != NB_I64) nb_set_requires_grad(x, true);
    /* the parameters passed in really are what the module computes with:
     * each gets a nonzero gradient (else gradcheck would compare 0 with 0) */
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = layer_fn(in, 1 + c.np, &c);
    assert_non_null(y);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(y, y))), NB_OK);
    for (int i = 0; i < c.np; i++) {
        double g = 0;
        assert_non_null(in[1 + i]->grad);
        for (int64_t k = 0; k < in[1 + i]->numel; k++) g += fabs(nb_get(in[1 + i]->grad, k));
        assert_true(g > 0);
        nb_tensor_zero_grad(in[1 + i]);
    }
    nb_scope_end(&s);
    nb_gradcheck_report r = nb_gradcheck(layer_fn, in, 1 + c.np, &c, NULL);
    if (!r.ok) {
        fprintf(stderr, "gradcheck %s failed:\n", what);
        nb_gradcheck_print(stderr, &r);
    }
    assert_true(r.ok);
    assert_true(r.worst_input >= 0); /* something was compared */
    for (int i = 0; i < c.np; i++) nb_tensor_free(in[1 + i]);
    nb_tensor_free(x);
    nb_module_free(m);
}

static nb_tensor *randx(nb_shape s) {
    nb_tensor *t = nb_randn(NB_F64, s, 0, 1);
    return t;
}

static void gradcheck_layers(void **state) {
    (void)state;
    nb_seed(11);
    gradcheck_layer(nb_linear(5, 3), randx(NB_SHAPE(4, 5)), "Linear");
    gradcheck_layer(nb_linear(5, 3), randx(NB_SHAPE(2, 3, 5)), "Linear 3-D input");
    gradcheck_layer(nb_linear(5, 3), randx(NB_SHAPE(5)), "Linear 1-D input");
    gradcheck_layer(nb_linear_ex(4, 2, false), randx(NB_SHAPE(3, 4)), "Linear without bias");
    gradcheck_layer(nb_conv2d_layer(2, 3, 3, 1, 1), randx(NB_SHAPE(2, 2, 5, 4)), "Conv2d");
    gradcheck_layer(nb_conv2d_layer(2, 2, 3, 2, 0), randx(NB_SHAPE(1, 2, 7, 7)), "Conv2d stride 2");
    gradcheck_layer(nb_conv1d_layer(2, 3, 3, 2, 1), randx(NB_SHAPE(2, 2, 9)), "Conv1d");
    const nb_conv2d_opts grouped = {{1, 1}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, 2};
    gradcheck_layer(nb_conv2d_layer_ex(4, 6, 3, 3, &grouped, true), randx(NB_SHAPE(2, 4, 5, 5)), "Conv2d groups 2");
    const nb_conv2d_opts depthwise = {{2, 2}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, 3};
    gradcheck_layer(nb_conv2d_layer_ex(3, 3, 3, 3, &depthwise, false), randx(NB_SHAPE(1, 3, 6, 6)), "Conv2d depthwise");
    gradcheck_layer(nb_max_pool2d_layer(2, 0), randx(NB_SHAPE(2, 2, 4, 6)), "MaxPool2d");
    gradcheck_layer(nb_avg_pool2d_layer(3, 2), randx(NB_SHAPE(1, 2, 7, 5)), "AvgPool2d");
    gradcheck_layer(nb_flatten_layer(), randx(NB_SHAPE(2, 3, 2)), "Flatten");
    gradcheck_layer(nb_sigmoid_layer(), randx(NB_SHAPE(3, 4)), "Sigmoid");
    gradcheck_layer(nb_tanh_layer(), randx(NB_SHAPE(3, 4)), "Tanh");
    gradcheck_layer(nb_relu_layer(), randx(NB_SHAPE(3, 4)), "ReLU");
    gradcheck_layer(nb_leaky_relu_layer(0.1), randx(NB_SHAPE(3, 4)), "LeakyReLU");
    gradcheck_layer(nb_elu_layer(0.7), randx(NB_SHAPE(3, 4)), "ELU");
    gradcheck_layer(nb_prelu_layer(1), randx(NB_SHAPE(3, 4)), "PReLU(1)");
    gradcheck_layer(nb_prelu_layer(3), randx(NB_SHAPE(2, 3, 4)), "PReLU(3)");
    gradcheck_layer(nb_maxout_layer(4, 3, 2), randx(NB_SHAPE(3, 4)), "Maxout");
    gradcheck_layer(nb_dropout_layer(0.4), randx(NB_SHAPE(4, 5)), "Dropout (train)");
    gradcheck_layer(nb_batchnorm1d(3), randx(NB_SHAPE(5, 3)), "BatchNorm1d (N,C)");
    gradcheck_layer(nb_batchnorm1d(2), randx(NB_SHAPE(3, 2, 4)), "BatchNorm1d (N,C,L)");
    gradcheck_layer(nb_batchnorm2d(2), randx(NB_SHAPE(2, 2, 3, 3)), "BatchNorm2d");
    nb_module *bn = nb_batchnorm2d(2);
    nb_module_eval(bn);
    gradcheck_layer(bn, randx(NB_SHAPE(2, 2, 3, 3)), "BatchNorm2d (eval)");
    int64_t idx[] = {1, 4, 4, 0, 2, 2};
    gradcheck_layer(nb_embedding(6, 3), nb_from_i64(NB_SHAPE(2, 3), idx), "Embedding");
    /* a whole model: parameters of every child at once */
    gradcheck_layer(nb_sequential(nb_conv2d_layer(1, 2, 3, 1, 1), nb_batchnorm2d(2), nb_elu_layer(1.0),
                                  nb_max_pool2d_layer(2, 2), nb_flatten_layer(), nb_linear(8, 3), NULL),
                    randx(NB_SHAPE(3, 1, 4, 4)), "Sequential CNN");
}

/* ---------------------------------------------------------------- loss gradchecks */

typedef struct {
    int which;
    nb_reduction red;
    nb_tensor *labels;
} loss_ctx;

static nb_tensor *loss_fn(nb_tensor *const *in, int nin, void *ctx) {
    (void)nin;
    loss_ctx *c = ctx;
    switch (c->which) {
    case 0: return nb_mse_loss(in[0], in[1], c->red);
    case 1: return nb_bce_with_logits_loss(in[0], in[1], c->red);
    case 2: return nb_cross_entropy(in[0], c->labels, c->red);
    case 3: return nb_svm_loss(in[0], c->labels, 1.0, c->red);
    default: return nb_l2_penalty_list(in, nin, 0.3);
    }
}

static void gradcheck_losses(void **state) {
    (void)state;
    nb_seed(5);
    int64_t lab[] = {2, 0, 3, 1, 3};
    nb_tensor *labels = nb_from_i64(NB_SHAPE(5), lab);
    for (int which = 0; which < 5; which++) {
        for (int r = 0; r < 3; r++) {
            loss_ctx c = {which, (nb_reduction)r, labels};
            nb_tensor *in[2] = {nb_set_requires_grad(randx(NB_SHAPE(5, 4)), true), NULL};
            int nin = 1;
            if (which == 0) in[1] = nb_set_requires_grad(randx(NB_SHAPE(5, 4)), true), nin = 2;
            if (which == 1) in[1] = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(5, 4), 0, 1), true), nin = 2;
            if (which == 4) in[1] = nb_set_requires_grad(randx(NB_SHAPE(3)), true), nin = 2;
            nb_gradcheck_report rep = nb_gradcheck(loss_fn, in, nin, &c, NULL);
            if (!rep.ok) {
                fprintf(stderr, "loss %d reduction %d:\n", which, r);
                nb_gradcheck_print(stderr, &rep);
            }
            assert_true(rep.ok);
            nb_tensor_free(in[0]);
            nb_tensor_free(in[1]);
        }
    }
    nb_tensor_free(labels);

    /* the L2 penalty of a module, w.r.t. its parameters (weights only count) */
    nb_module *m = nb_sequential(nb_linear(3, 2), nb_linear(2, 2), NULL);
    nb_module_cast(m, NB_F64);
    nb_scope *s = nb_scope_begin();
    nb_tensor *pen = nb_l2_penalty(m, 0.5);
    double want = 0;
    for (int i = 0; i < 2; i++) {
        nb_tensor *w = nb_module_get(m, i ? "1.weight" : "0.weight");
        for (int64_t k = 0; k < w->numel; k++) want += 0.5 * nb_get(w, k) * nb_get(w, k);
    }
    assert_true(fabs(nb_item(pen) - want) < 1e-14);
    nb_backward(pen);
    assert_non_null(nb_module_get(m, "0.weight")->grad);
    assert_null(nb_module_get(m, "0.bias")->grad); /* biases aren't penalised */
    nb_scope_end(&s);
    nb_module_free(m);
}

/* ---------------------------------------------------------------- module API */

typedef struct mlp {
    nb_module *fc1, *fc2;
} mlp;

static nb_tensor *mlp_forward(nb_module *m, nb_tensor *x) {
    mlp *net = nb_module_data(m);
    return nb_forward(net->fc2, nb_relu(nb_forward(net->fc1, x)));
}

static nb_module *mlp_new(void) {
    nb_module *m = nb_module_new("MLP", mlp_forward, sizeof(mlp));
    mlp *net = nb_module_data(m);
    net->fc1 = nb_module_add(m, "fc1", nb_linear(4, 8));
    net->fc2 = nb_module_add(m, "fc2", nb_linear(8, 2));
    return m;
}

static void custom_struct_model(void **state) {
    (void)state;
    nb_seed(3);
    nb_module *m = mlp_new();
    nb_named_tensor ps[8];
    assert_int_equal(nb_module_parameters(m, ps, 8), 4);
    assert_string_equal(ps[0].name, "fc1.weight");
    assert_string_equal(ps[1].name, "fc1.bias");
    assert_string_equal(ps[2].name, "fc2.weight");
    assert_string_equal(ps[3].name, "fc2.bias");
    assert_int_equal(nb_module_numel(m), 4 * 8 + 8 + 8 * 2 + 2);
    mlp *net = nb_module_data(m);
    assert_string_equal(nb_module_path(net->fc1), "fc1");
    assert_ptr_equal(nb_module_child(m, "fc2"), net->fc2);
    assert_ptr_equal(nb_module_get(m, "fc2.bias"), ps[3].t);
    assert_true(ps[0].t->requires_grad);

    /* the forward is the composition it says */
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_randn(NB_F32, NB_SHAPE(3, 4), 0, 1);
    nb_tensor *y = nb_forward(m, x);
    nb_tensor *h = nb_relu(nb_add(nb_matmul(x, nb_transpose(ps[0].t, 0, 1)), ps[1].t));
    nb_tensor *y2 = nb_add(nb_matmul(h, nb_transpose(ps[2].t, 0, 1)), ps[3].t);
    for (int64_t i = 0; i < y->numel; i++) assert_true(fabs(nb_get(y, i) - nb_get(y2, i)) < 1e-6);
    nb_scope_end(&s);

    /* and trains: 100 SGD steps on a fixed batch drive the loss down */
    nb_optim *opt = nb_optim_sgd(m, 0.1, 0.9);
    nb_tensor *X = nb_randn(NB_F32, NB_SHAPE(16, 4), 0, 1), *Y = nb_randn(NB_F32, NB_SHAPE(16, 2), 0, 1);
    double first = 0, last = 0;
    for (int it = 0; it < 100; it++) {
        s = nb_scope_begin();
        nb_tensor *loss = nb_mse_loss(nb_forward(m, X), Y, NB_REDUCE_MEAN);
        nb_zero_grad(m);
        nb_backward(loss);
        nb_optim_step(opt);
        if (it == 0) first = nb_item(loss);
        last = nb_item(loss);
        nb_scope_end(&s);
    }
    assert_true(last < 0.5 * first);
    nb_optim_free(opt);
    nb_tensor_free(X);
    nb_tensor_free(Y);
    nb_module_free(m);
}

static void sequential_and_buffers(void **state) {
    (void)state;
    nb_module *net = nb_sequential(nb_linear(3, 4), nb_batchnorm1d(4), nb_relu_layer(), nb_dropout_layer(0.5),
                                   nb_linear(4, 2), NULL);
    assert_non_null(net);
    assert_int_equal(nb_module_num_children(net), 5);
    assert_string_equal(nb_module_type(nb_module_child(net, "1")), "BatchNorm1d");
    nb_named_tensor ts[16];
    int n = nb_module_named_tensors(net, ts, 16);
    assert_int_equal(n, 2 + 5 + 2);
    const char *want[] = {
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "4.weight", "4.bias"};
    for (int i = 0; i < n; i++) assert_string_equal(ts[i].name, want[i]);
    assert_int_equal(nb_module_num_parameters(net), 6);
    assert_false(nb_module_get(net, "1.running_mean")->requires_grad);
    assert_int_equal(nb_module_get(net, "1.num_batches_tracked")->dtype, NB_I64);

    /* train/eval reaches every child */
    assert_true(nb_module_is_training(nb_module_child(net, "3")));
    nb_module_eval(net);
    assert_false(nb_module_is_training(nb_module_child(net, "3")));
    nb_module_train(net, true);

    /* zero_grad through the _Generic macro, print, cast */
    nb_scope *s = nb_scope_begin();
    nb_backward(nb_sum_all(nb_forward(net, nb_randn(NB_F32, NB_SHAPE(4, 3), 0, 1))));
    assert_non_null(nb_module_get(net, "0.weight")->grad);
    nb_zero_grad(net);
    for (int64_t i = 0; i < 12; i++) assert_true(nb_get(nb_module_get(net, "0.weight")->grad, i) == 0);
    nb_scope_end(&s);
    assert_int_equal(nb_get(nb_module_get(net, "1.num_batches_tracked"), 0), 1);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    nb_module_print(f, net);
    fclose(f);
    assert_non_null(strstr(buf, "(1): BatchNorm1d(4, eps=1e-05, momentum=0.1)"));
    assert_non_null(strstr(buf, "parameters: 6 tensors, 34 values"));
    free(buf);

    nb_tensor *w_before = nb_module_get(net, "0.weight");
    double v0 = nb_get(w_before, 0);
    assert_true(nb_module_cast(net, NB_F64));
    assert_int_equal(nb_module_get(net, "0.weight")->dtype, NB_F64);
    assert_int_equal(nb_module_get(net, "1.num_batches_tracked")->dtype, NB_I64);
    assert_true(nb_get(nb_module_get(net, "0.weight"), 0) == v0);
    assert_true(nb_module_get(net, "0.weight")->requires_grad);

    /* a persistent parameter made inside a scope survives it */
    s = nb_scope_begin();
    nb_module *lin = nb_linear(2, 2);
    nb_scope_end(&s);
    assert_null(nb_module_get(lin, "weight")->scope);
    nb_module_free(lin);
    nb_module_free(net);
    nb_module_free(NULL);
}

static void bad_input_names_layer(void **state) {
    (void)state;
    nb_module *m = mlp_new();
    nb_scope *s = nb_scope_begin();

    tu_err_reset();
    assert_null(nb_forward(m, nb_zeros(NB_F32, NB_SHAPE(2, 5))));
    assert_int_equal(tu_err.st, NB_ERR_SHAPE);
    assert_non_null(strstr(tu_err.msg, "Linear"));
    assert_non_null(strstr(tu_err.msg, "'fc1'"));
    assert_non_null(strstr(tu_err.msg, "(*,4)"));
    assert_non_null(strstr(tu_err.msg, "(2,5)"));

    nb_module *conv = nb_sequential(nb_conv2d_layer(3, 8, 3, 1, 1), NULL);
    tu_err_reset();
    assert_null(nb_forward(conv, nb_zeros(NB_F32, NB_SHAPE(2, 1, 8, 8))));
    assert_non_null(strstr(tu_err.msg, "Conv2d"));
    assert_non_null(strstr(tu_err.msg, "(N,3,H,W)"));
    assert_non_null(strstr(tu_err.msg, "(2,1,8,8)"));
    tu_err_reset();
    assert_null(nb_forward(conv, nb_zeros(NB_F32, NB_SHAPE(8, 8))));
    assert_non_null(strstr(tu_err.msg, "(8,8)"));

    nb_module *bn = nb_batchnorm2d(4);
    tu_err_reset();
    assert_null(nb_forward(bn, nb_zeros(NB_F32, NB_SHAPE(2, 3, 4, 4))));
    assert_non_null(strstr(tu_err.msg, "BatchNorm2d"));
    assert_non_null(strstr(tu_err.msg, "(N,4,H,W)"));
    assert_non_null(strstr(tu_err.msg, "(2,3,4,4)"));

    tu_err_reset(); /* dtype: an f64 input to an f32 layer */
    assert_null(nb_forward(m, nb_zeros(NB_F64, NB_SHAPE(2, 4))));
    assert_int_equal(tu_err.st, NB_ERR_DTYPE);

    nb_module *emb = nb_embedding(5, 2);
    int64_t bad[] = {1, 5};
    tu_err_reset();
    assert_null(nb_forward(emb, nb_from_i64(NB_SHAPE(2), bad)));
    assert_non_null(strstr(tu_err.msg, "index 5"));

    tu_err_reset(); /* a failed constructor inside nb_sequential gives NULL, no leak */
    assert_null(nb_sequential(nb_linear(2, 2), nb_linear(0, 2), nb_relu_layer(), NULL));
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    tu_err_reset();
    assert_null(nb_module_add(m, "fc1", nb_relu_layer())); /* a taken name */
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    tu_err_reset();
    assert_null(nb_forward(m, NULL)); /* NULL in, NULL out, no new error */
    assert_int_equal(nb_error(), NB_OK);

    nb_scope_end(&s);
    nb_module_free(m);
    nb_module_free(conv);
    nb_module_free(bn);
    nb_module_free(emb);
}

static void dropout_train_and_eval(void **state) {
    (void)state;
    nb_seed(99);
    nb_module *d = nb_dropout_layer(0.3);
    nb_scope *s = nb_scope_begin();
    const int64_t n = 200000;
    nb_tensor *x = nb_full(NB_F64, NB_SHAPE(n), 2.0);
    nb_tensor *y = nb_forward(d, x);
    double sum = 0;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = nb_get(y, i);
        sum += v;
        zeros += v == 0;
        assert_true(v == 0 || fabs(v - 2.0 / 0.7) < 1e-12); /* survivors scaled by 1/(1-p) */
    }
    /* mean preserved: E[y] = 2; sd of the mean = 2·√(p/(1-p)/n) ≈ 0.003 */
    assert_true(fabs(sum / n - 2.0) < 0.015);
    assert_true(fabs((double)zeros / n - 0.3) < 0.005);
    nb_module_eval(d);
    nb_tensor *ye = nb_forward(d, x);
    for (int64_t i = 0; i < n; i += 997) assert_true(nb_get(ye, i) == 2.0);
    nb_scope_end(&s);
    nb_module_free(d);
}

/* ---------------------------------------------------------------- initializers */

static void moments(const nb_tensor *t, double *mean, double *sd, double *lo, double *hi) {
    double s = 0, s2 = 0;
    *lo = INFINITY, *hi = -INFINITY;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = nb_get(t, i);
        s += v, s2 += v * v;
        *lo = fmin(*lo, v), *hi = fmax(*hi, v);
    }
    *mean = s / t->numel;
    *sd = sqrt(s2 / t->numel - *mean * *mean);
}

static void initializers(void **state) {
    (void)state;
    nb_seed(2024);
    double mean, sd, lo, hi;
    nb_tensor *t = nb_zeros(NB_F32, NB_SHAPE(400, 250)); /* fan_in 250, fan_out 400 */
    int64_t fi, fo;
    assert_true(nb_init_fans(t, &fi, &fo));
    assert_int_equal(fi, 250);
    assert_int_equal(fo, 400);
    nb_tensor *k = nb_zeros(NB_F64, NB_SHAPE(16, 8, 3, 5));
    assert_true(nb_init_fans(k, &fi, &fo));
    assert_int_equal(fi, 8 * 15);
    assert_int_equal(fo, 16 * 15);

    nb_init_normal(t, 0, 0.01); /* the lecture's small random numbers */
    moments(t, &mean, &sd, &lo, &hi);
    assert_true(fabs(mean) < 1e-4 && fabs(sd - 0.01) < 2e-4);

    nb_init_trunc_normal(t, 0, 1, -2, 2);
    moments(t, &mean, &sd, &lo, &hi);
    assert_true(lo >= -2 && hi <= 2 && lo < -1.99 && hi > 1.99);
    assert_true(fabs(mean) < 0.01 && fabs(sd - 0.8796) < 0.01); /* truncated N(0,1) on [-2,2]: sd 0.8796 */
    nb_init_trunc_normal(t, 1, 0.5, 0.0, 3.0);                  /* absolute cut-offs */
    moments(t, &mean, &sd, &lo, &hi);
    assert_true(lo >= 0 && hi <= 3);

    double b = sqrt(6.0 / 650);
    nb_init_xavier_uniform(t, 1.0);
    moments(t, &mean, &sd, &lo, &hi);
    assert_true(lo >= -b && hi <= b && fabs(sd - sqrt(2.0 / 650)) < 0.01 * sqrt(2.0 / 650));
    nb_init_xavier_normal(t, 2.0);
    moments(t, &mean, &sd, &lo, &hi);
    assert_true(fabs(sd - 2 * sqrt(2.0 / 650)) < 0.01 * 2 * sqrt(2.0 / 650));

    nb_init_kaiming_normal(t, 0, NB_FAN_IN, NB_NONLIN_RELU);
    moments(t, &mean, &sd, &lo, &hi);
    assert_true(fabs(sd - sqrt(2.0 / 250)) < 0.01 * sqrt(2.0 / 250));
    nb_init_kaiming_uniform(t, 0, NB_FAN_OUT, NB_NONLIN_LEAKY_RELU);
    moments(t, &mean, &sd, &lo, &hi);
    b = sqrt(2.0) * sqrt(3.0 / 400);
    assert_true(lo >= -b && hi <= b && lo < -0.99 * b);
    assert_true(fabs(nb_init_gain(NB_NONLIN_TANH, 0) - 5.0 / 3) < 1e-15);
    assert_true(fabs(nb_init_gain(NB_NONLIN_LEAKY_RELU, sqrt(5.0)) - sqrt(1.0 / 3)) < 1e-15);

    nb_init_constant(t, 0.25);
    moments(t, &mean, &sd, &lo, &hi);
    assert_true(lo == 0.25 && hi == 0.25);

    /* layer defaults: Linear/Conv U(±1/√fan_in) for weight and bias (PyTorch) */
    nb_module *lin = nb_linear(100, 300), *conv = nb_conv2d_layer(4, 64, 5, 1, 2);
    moments(nb_module_get(lin, "weight"), &mean, &sd, &lo, &hi);
    assert_true(lo >= -0.1 && hi <= 0.1 && hi > 0.099 && fabs(sd - 0.1 / sqrt(3)) < 0.002);
    moments(nb_module_get(lin, "bias"), &mean, &sd, &lo, &hi);
    assert_true(lo >= -0.1 && hi <= 0.1);
    moments(nb_module_get(conv, "weight"), &mean, &sd, &lo, &hi);
    assert_true(lo >= -0.1 && hi <= 0.1 && hi > 0.099); /* fan_in = 4·5·5 = 100 */
    /* grouped: weight (out, in/groups, k, k), fan_in = (16/4)·5·5 = 100 */
    const nb_conv2d_opts g4 = {{1, 1}, {2, 2}, {1, 1}, NB_PAD_EXPLICIT, 4};
    nb_module *gconv = nb_conv2d_layer_ex(16, 8, 5, 5, &g4, true);
    expect_shape(nb_module_get(gconv, "weight"), NB_SHAPE(8, 4, 5, 5));
    moments(nb_module_get(gconv, "weight"), &mean, &sd, &lo, &hi);
    assert_true(lo >= -0.1 && hi <= 0.1 && hi > 0.095);
    nb_module_free(gconv);
    /* the same seed gives the same weights */
    nb_seed(7);
    nb_module *a = nb_linear(5, 5);
    nb_seed(7);
    nb_module *c = nb_linear(5, 5);
    for (int64_t i = 0; i < 25; i++)
        assert_true(nb_get(nb_module_get(a, "weight"), i) == nb_get(nb_module_get(c, "weight"), i));
    nb_module *p = nb_prelu_layer(3), *e = nb_embedding(1000, 10);
    assert_true(nb_get(nb_module_get(p, "weight"), 2) == 0.25);
    moments(nb_module_get(e, "weight"), &mean, &sd, &lo, &hi);
    assert_true(fabs(sd - 1) < 0.03);
    nb_module_free(lin), nb_module_free(conv), nb_module_free(a), nb_module_free(c), nb_module_free(p);
    nb_module_free(e);
    nb_tensor_free(t);
    nb_tensor_free(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gradcheck_layers),
        cmocka_unit_test(gradcheck_losses),
        cmocka_unit_test(custom_struct_model),
        cmocka_unit_test(sequential_and_buffers),
        cmocka_unit_test_setup_teardown(bad_input_names_layer, tu_setup, tu_teardown),
        cmocka_unit_test(dropout_train_and_eval),
        cmocka_unit_test(initializers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
