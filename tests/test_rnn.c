/* tests/test_rnn.c — RNN, LSTM, GRU and their cells.
 *
 *  - against PyTorch (tests/fixtures/rnn/rnn.txt, gen_rnn_fixtures.py): the
 *    torch state_dict loaded by name; outputs, final states and the gradients
 *    of L = Σ y·ry + Σ hn·rh + Σ cn·rc w.r.t. the input, the initial states
 *    and every parameter, in F64 to 1e-10 relative (F32 to 1e-3: a summed weight gradient of a 2-layer
 *    bidirectional relu RNN reaches 4e-4 in float);
 *  - the gate ops equal their composition from slices and activations;
 *  - a gradcheck of a whole 2-layer bidirectional LSTM (input, states, every
 *    parameter) with lengths; gradgradcheck of bidirectional LSTM and GRU;
 *  - dropout between layers in training mode only; PyTorch's init bounds;
 *  - bad input: a clear error naming the layer and the shapes;
 *  - memory stays flat over a training loop. */
#include "nn_fixture.h"
#include "test_util.h"

#ifndef NB_RNN_FIXTURES
#define NB_RNN_FIXTURES "tests/fixtures/rnn"
#endif

/* relative error, absolute below the floor (F32: as test_nn_reference) */
#define FLOOR64 1e-8
#define FLOOR32 1e-3

static fixture *fx;

static int load_fixture(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/rnn.txt", NB_RNN_FIXTURES);
    fx = fixture_load(path);
    return fx ? 0 : -1;
}
static int free_fixture(void **state) {
    (void)state;
    fixture_free(fx);
    fx = NULL;
    return 0;
}

/* A copy of a fixture tensor in dtype dt, in the open scope. */
static nb_tensor *as(const nb_tensor *src, nb_dtype dt, bool grad) {
    assert_non_null(src);
    nb_tensor *t = nb_empty(dt, src->shape);
    for (int64_t i = 0; i < t->numel; i++) nb_set(t, i, nb_get(src, i));
    return nb_set_requires_grad(t, grad);
}

static double worst64, worst32;

static void cmp(int k, const char *what, const nb_tensor *got, const nb_tensor *want, nb_dtype dt) {
    const double e = max_rel_err(got, want, dt == NB_F64 ? FLOOR64 : FLOOR32), tol = dt == NB_F64 ? 1e-10 : 1e-3;
    double *w = dt == NB_F64 ? &worst64 : &worst32;
    if (e > *w || isnan(e)) *w = e;
    if (!(e <= tol)) {
        print_error("case c%d %s (%s): worst relative error %.3g > %.0e\n", k, what, nb_dtype_name(dt), e, tol);
        fail();
    }
}

static void run_case(int k, nb_dtype dt) {
    const nb_tensor *cfg = fixture_get(fx, "c%d.cfg", k);
    assert_non_null(cfg);
    const int64_t *c = nb_i64(cfg);
    const int mode = (int)c[0], L = (int)c[2];
    const bool relu = c[1], bidir = c[3], bf = c[4], bias = c[5], has_len = c[6], has_state = c[7], cell = c[9];
    const int64_t in = c[10], H = c[11];
    nb_rnn_opts o = {
        .bidirectional = bidir, .batch_first = bf, .no_bias = !bias, .nonlinearity = relu ? NB_RNN_RELU : NB_RNN_TANH};
    nb_module *m = cell ? (mode == 0       ? nb_rnn_cell
                               : mode == 1 ? nb_lstm_cell
                                           : nb_gru_cell)(in, H, &o)
                        : (mode == 0       ? nb_rnn
                               : mode == 1 ? nb_lstm
                                           : nb_gru)(in, H, L, &o);
    assert_non_null(m);
    assert_true(nb_module_cast(m, dt));
    /* Load the torch state_dict by name: every parameter, and no other. */
    nb_named_tensor ps[64];
    const int np = nb_module_parameters(m, ps, 64);
    int nfix = 0;
    char pre[32];
    snprintf(pre, sizeof pre, "c%d.p.", k);
    for (int i = 0; i < fx->n; i++) nfix += !strncmp(fx->names[i], pre, strlen(pre));
    assert_int_equal(np, nfix);
    NB_NO_GRAD {
        for (int i = 0; i < np; i++) {
            const nb_tensor *src = fixture_get(fx, "c%d.p.%s", k, ps[i].name);
            assert_non_null(src);
            assert_true(nb_shape_eq(src->shape, ps[i].t->shape));
            for (int64_t j = 0; j < src->numel; j++) nb_set(ps[i].t, j, nb_get(src, j));
        }
    }
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = as(fixture_get(fx, "c%d.x", k), dt, true);
    nb_tensor *h0 = has_state ? as(fixture_get(fx, "c%d.h0", k), dt, true) : NULL;
    nb_tensor *c0 = has_state && mode == 1 ? as(fixture_get(fx, "c%d.c0", k), dt, true) : NULL;
    const nb_tensor *lens = has_len ? fixture_get(fx, "c%d.lengths", k) : NULL;
    nb_tensor *hn = NULL, *cn = NULL, *y;
    if (cell) y = nb_rnn_cell_forward(m, x, h0, c0, mode == 1 ? &cn : NULL);
    else y = nb_rnn_forward(m, x, h0, c0, lens ? nb_i64(lens) : NULL, &hn, &cn);
    if (!y) print_error("c%d: %s\n", k, nb_error_message());
    assert_non_null(y);
    nb_tensor *loss = nb_sum_all(nb_mul(y, as(fixture_get(fx, "c%d.ry", k), dt, false)));
    if (!cell) loss = nb_add(loss, nb_sum_all(nb_mul(hn, as(fixture_get(fx, "c%d.rh", k), dt, false))));
    if (mode == 1) loss = nb_add(loss, nb_sum_all(nb_mul(cn, as(fixture_get(fx, "c%d.rc", k), dt, false))));
    nb_module_zero_grad(m);
    assert_int_equal(nb_backward(loss), NB_OK);
    cmp(k, "y", y, fixture_get(fx, "c%d.y", k), dt);
    assert_true(nb_shape_eq(y->shape, fixture_get(fx, "c%d.y", k)->shape));
    if (!cell) {
        cmp(k, "hn", hn, fixture_get(fx, "c%d.hn", k), dt);
        assert_true(nb_shape_eq(hn->shape, fixture_get(fx, "c%d.hn", k)->shape));
    }
    if (mode == 1) cmp(k, "cn", cn, fixture_get(fx, "c%d.cn", k), dt);
    else assert_null(cn);
    cmp(k, "dx", x->grad, fixture_get(fx, "c%d.dx", k), dt);
    if (h0) cmp(k, "dh0", h0->grad, fixture_get(fx, "c%d.dh0", k), dt);
    if (c0) cmp(k, "dc0", c0->grad, fixture_get(fx, "c%d.dc0", k), dt);
    for (int i = 0; i < np; i++) {
        char what[96];
        snprintf(what, sizeof what, "d %s", ps[i].name);
        cmp(k, what, ps[i].t->grad, fixture_get(fx, "c%d.dp.%s", k, ps[i].name), dt);
    }
    nb_scope_end(&s);
    nb_module_free(m);
}

static void test_torch_fixtures(void **state) {
    (void)state;
    const nb_tensor *n = fixture_get(fx, "ncases");
    assert_non_null(n);
    const int ncases = (int)nb_i64(n)[0];
    assert_true(ncases >= 90);
    for (int k = 0; k < ncases; k++) {
        run_case(k, NB_F64);
        run_case(k, NB_F32);
    }
    printf("rnn fixtures: %d cases, worst relative error f64 %.2e (tol 1e-10), f32 %.2e (tol 1e-3)\n", ncases, worst64,
           worst32);
}

/* ------------------------------------------------------------ gate ops = composition */

static nb_tensor *block(nb_tensor *g, int j, int64_t H) { return nb_slice(g, 1, j * H, (j + 1) * H, 1); }

static void expect_close(const nb_tensor *a, const nb_tensor *b, double tol) {
    assert_non_null(a);
    assert_non_null(b);
    const double e = max_rel_err(a, b, 1e-12);
    if (!(e <= tol)) {
        print_error("fused vs composed: %.3g > %.0e\n", e, tol);
        fail();
    }
}

static void test_gate_ops_equal_composition(void **state) {
    (void)state;
    nb_seed(7);
    nb_scope *s = nb_scope_begin();
    const int64_t B = 5, H = 7;
    nb_tensor *lx = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(B, 4 * H), -2, 2), true);
    nb_tensor *lh = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(B, 4 * H), -2, 2), true);
    nb_tensor *c0 = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(B, H), -2, 2), true);
    nb_tensor *r1 = nb_rand(NB_F64, NB_SHAPE(B, H), -1, 1), *r2 = nb_rand(NB_F64, NB_SHAPE(B, H), -1, 1);
    /* fused */
    nb_tensor *c = nb_lstm_gate_c(lx, lh, c0), *h = nb_lstm_gate_h(lx, lh, c);
    assert_int_equal(nb_backward(nb_add(nb_sum_all(nb_mul(c, r1)), nb_sum_all(nb_mul(h, r2)))), NB_OK);
    nb_tensor *dlx = nb_copy(lx->grad), *dlh = nb_copy(lh->grad), *dc0 = nb_copy(c0->grad);
    nb_tensor_zero_grad(lx);
    nb_tensor_zero_grad(lh);
    nb_tensor_zero_grad(c0);
    /* composed */
    nb_tensor *g = nb_add(lx, lh);
    nb_tensor *cc =
        nb_add(nb_mul(nb_sigmoid(block(g, 1, H)), c0), nb_mul(nb_sigmoid(block(g, 0, H)), nb_tanh(block(g, 2, H))));
    nb_tensor *hc = nb_mul(nb_sigmoid(block(g, 3, H)), nb_tanh(cc));
    assert_int_equal(nb_backward(nb_add(nb_sum_all(nb_mul(cc, r1)), nb_sum_all(nb_mul(hc, r2)))), NB_OK);
    expect_close(c, cc, 1e-14);
    expect_close(h, hc, 1e-14);
    expect_close(dlx, lx->grad, 1e-13);
    expect_close(dlh, lh->grad, 1e-13);
    expect_close(dc0, c0->grad, 1e-13);

    nb_tensor *gx = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(B, 3 * H), -3, 3), true);
    nb_tensor *gh = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(B, 3 * H), -3, 3), true);
    nb_tensor *hp = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(B, H), -2, 2), true);
    nb_tensor *hf = nb_gru_gate_h(gx, gh, hp);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(hf, r1))), NB_OK);
    nb_tensor *dgx = nb_copy(gx->grad), *dgh = nb_copy(gh->grad), *dhp = nb_copy(hp->grad);
    nb_tensor_zero_grad(gx);
    nb_tensor_zero_grad(gh);
    nb_tensor_zero_grad(hp);
    nb_tensor *r = nb_sigmoid(nb_add(block(gx, 0, H), block(gh, 0, H)));
    nb_tensor *z = nb_sigmoid(nb_add(block(gx, 1, H), block(gh, 1, H)));
    nb_tensor *n = nb_tanh(nb_add(block(gx, 2, H), nb_mul(r, block(gh, 2, H))));
    nb_tensor *hcmp = nb_add(nb_mul(nb_sub(nb_ones(NB_F64, NB_SHAPE(1)), z), n), nb_mul(z, hp));
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(hcmp, r1))), NB_OK);
    expect_close(hf, hcmp, 1e-14);
    expect_close(dgx, gx->grad, 1e-13);
    expect_close(dgh, gh->grad, 1e-13);
    expect_close(dhp, hp->grad, 1e-13);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ gradcheck of a whole LSTM */

typedef struct {
    nb_module *m;
    int np;
} gc_ctx;

static const int64_t gc_lengths[3] = {4, 2, 3};

/* in: x, h0, c0, then the parameters (swapped into the module). */
static nb_tensor *lstm_fn(nb_tensor *const *in, int nin, void *ctx) {
    gc_ctx *g = ctx;
    nb_tensor *ps[32];
    for (int i = 0; i < g->np; i++) ps[i] = in[3 + i];
    assert_int_equal(nin, 3 + g->np);
    nb_module_swap_parameters(g->m, ps, g->np);
    nb_tensor *hn, *cn;
    nb_tensor *y = nb_rnn_forward(g->m, in[0], in[1], in[2], gc_lengths, &hn, &cn);
    nb_module_swap_parameters(g->m, ps, g->np);
    /* one output covering y, hn and cn */
    nb_tensor *parts[3] = {nb_reshape(y, NB_SHAPE(-1)), nb_reshape(hn, NB_SHAPE(-1)), nb_reshape(cn, NB_SHAPE(-1))};
    return nb_concat(parts, 3, 0);
}

static void test_gradcheck_bilstm(void **state) {
    (void)state;
    nb_seed(11);
    nb_module *m = nb_lstm(2, 3, 2, &(nb_rnn_opts){.bidirectional = true, .batch_first = true});
    assert_non_null(m);
    assert_true(nb_module_cast(m, NB_F64));
    gc_ctx g = {m, nb_module_num_parameters(m)};
    assert_int_equal(g.np, 16);
    nb_tensor *in[3 + 16];
    in[0] = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(3, 4, 2), -1, 1), true); /* (B, T, in) */
    in[1] = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(4, 3, 3), -1, 1), true);
    in[2] = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(4, 3, 3), -1, 1), true);
    nb_named_tensor ps[16];
    nb_module_parameters(m, ps, 16);
    for (int i = 0; i < 16; i++) in[3 + i] = nb_set_requires_grad(nb_copy_persistent(ps[i].t), true);
    nb_gradcheck_report r = nb_gradcheck(lstm_fn, in, 3 + 16, &g, NULL);
    if (!r.ok) nb_gradcheck_print(stderr, &r);
    assert_true(r.ok);
    printf("gradcheck 2-layer bidirectional LSTM with lengths: worst rel err %.2e\n", r.rel_err);
    for (int i = 0; i < 3 + 16; i++) nb_tensor_free(in[i]);
    nb_module_free(m);
}

/* Second order through whole layers: every op an LSTM/GRU forward records
 * has a differentiable backward, so gradgradcheck passes on x and h0. */
typedef struct {
    nb_module *m;
} gg_ctx;

static nb_tensor *layer_fn(nb_tensor *const *in, int nin, void *ctx) {
    (void)nin;
    nb_tensor *hn;
    nb_tensor *y = nb_rnn_forward(((gg_ctx *)ctx)->m, in[0], in[1], NULL, gc_lengths, &hn, NULL);
    nb_tensor *parts[2] = {nb_reshape(y, NB_SHAPE(-1)), nb_reshape(hn, NB_SHAPE(-1))};
    return nb_concat(parts, 2, 0);
}

static void test_gradgradcheck_layers(void **state) {
    (void)state;
    nb_seed(17);
    for (int k = 0; k < 2; k++) {
        nb_module *m = k ? nb_gru(2, 2, 1, &(nb_rnn_opts){.bidirectional = true})
                         : nb_lstm(2, 2, 1, &(nb_rnn_opts){.bidirectional = true});
        assert_true(nb_module_cast(m, NB_F64));
        gg_ctx g = {m};
        nb_tensor *in[2];
        in[0] = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(4, 3, 2), -1, 1), true);
        in[1] = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(2, 3, 2), -1, 1), true);
        /* skip_extras: nb_gradgradcheck's "no grad" extra fails for any
         * function with two differentiable inputs (even nb_mul(a, b)): the
         * function it checks, the VJP over the inputs that require grad,
         * itself changes when one stops requiring grad. */
        nb_gradcheck_opts o = nb_gradcheck_defaults();
        o.skip_extras = true;
        nb_gradcheck_report r = nb_gradgradcheck(layer_fn, in, 2, &g, &o);
        if (!r.ok) nb_gradcheck_print(stderr, &r);
        assert_true(r.ok);
        printf("gradgradcheck bidirectional %s with lengths: worst rel err %.2e\n", k ? "GRU" : "LSTM", r.rel_err);
        nb_tensor_free(in[0]);
        nb_tensor_free(in[1]);
        nb_module_free(m);
    }
}

/* ------------------------------------------------------------ behaviour */

static void test_init_and_names(void **state) {
    (void)state;
    nb_seed(3);
    nb_module *m = nb_gru(5, 8, 2, &(nb_rnn_opts){.bidirectional = true});
    assert_non_null(m);
    const char *names[] = {"weight_ih_l0",         "weight_hh_l0",         "bias_ih_l0",         "bias_hh_l0",
                           "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                           "weight_ih_l1",         "weight_hh_l1",         "bias_ih_l1",         "bias_hh_l1",
                           "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
    nb_named_tensor ps[16];
    assert_int_equal(nb_module_parameters(m, ps, 16), 16);
    for (int i = 0; i < 16; i++) assert_string_equal(ps[i].name, names[i]);
    assert_true(nb_shape_eq(ps[0].t->shape, NB_SHAPE(24, 5)));
    assert_true(nb_shape_eq(ps[8].t->shape, NB_SHAPE(24, 16))); /* layer 1 reads both directions */
    const double bound = 1 / sqrt(8.0);
    double lo = 1, hi = -1;
    for (int i = 0; i < 16; i++)
        for (int64_t j = 0; j < ps[i].t->numel; j++) {
            double v = nb_get(ps[i].t, j);
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    assert_true(lo >= -bound && hi <= bound && lo < -0.9 * bound && hi > 0.9 * bound);
    nb_module_free(m);
    m = nb_lstm_cell(3, 4, &(nb_rnn_opts){.no_bias = true});
    assert_int_equal(nb_module_parameters(m, ps, 16), 2);
    assert_string_equal(ps[1].name, "weight_hh");
    assert_true(nb_shape_eq(ps[1].t->shape, NB_SHAPE(16, 4)));
    nb_module_free(m);
}

static void test_dropout_train_only(void **state) {
    (void)state;
    nb_seed(5);
    nb_module *m = nb_lstm(3, 6, 2, &(nb_rnn_opts){.dropout = 0.5});
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(4, 2, 3), -1, 1);
    nb_tensor *a = nb_forward(m, x), *b = nb_forward(m, x);
    assert_true(max_rel_err(a, b, 1e-6) > 1e-3); /* different masks */
    nb_module_eval(m);
    a = nb_forward(m, x);
    b = nb_forward(m, x);
    assert_true(max_rel_err(a, b, 1e-6) == 0);
    nb_scope_end(&s);
    nb_module_free(m);
}

/* nb_forward's default and an LSTMCell loop give nb_rnn_forward's result. */
static void test_cell_loop_matches_layer(void **state) {
    (void)state;
    nb_seed(9);
    nb_module *layer = nb_lstm(3, 5, 1, NULL), *cell = nb_lstm_cell(3, 5, NULL);
    nb_named_tensor lp[4], cp[4];
    nb_module_parameters(layer, lp, 4);
    nb_module_parameters(cell, cp, 4);
    NB_NO_GRAD {
        for (int i = 0; i < 4; i++) nb_copy_(cp[i].t, lp[i].t);
    }
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(6, 2, 3), -1, 1);
    nb_tensor *y = nb_forward(layer, x);
    nb_tensor *h = NULL, *c = NULL;
    for (int t = 0; t < 6; t++) {
        nb_tensor *xt = nb_reshape(nb_slice(x, 0, t, t + 1, 1), NB_SHAPE(2, 3));
        h = nb_rnn_cell_forward(cell, xt, h, c, &c);
        nb_tensor *yt = nb_reshape(nb_slice(y, 0, t, t + 1, 1), NB_SHAPE(2, 5));
        assert_true(max_rel_err(h, yt, 1e-6) < 1e-6);
    }
    nb_scope_end(&s);
    nb_module_free(layer);
    nb_module_free(cell);
}

/* With zero initial states the first step skips h·W_hhᵀ; W_hh still gets a
 * (zero) gradient when nothing else uses it (T = 1, or lengths all 1), as
 * in PyTorch, so an optimizer treats it the same. */
static void test_zero_state_gradients(void **state) {
    (void)state;
    nb_seed(21);
    nb_module *m = nb_gru(3, 4, 1, NULL);
    nb_scope *s = nb_scope_begin();
    const int64_t ones[2] = {1, 1};
    for (int v = 0; v < 2; v++) {
        nb_module_zero_grad(m);
        nb_tensor *x = nb_rand(NB_F32, v ? NB_SHAPE(3, 2, 3) : NB_SHAPE(1, 2, 3), -1, 1);
        nb_tensor *y = nb_rnn_forward(m, x, NULL, NULL, v ? ones : NULL, NULL, NULL);
        assert_int_equal(nb_backward(nb_sum_all(y)), NB_OK);
        nb_tensor *g = nb_module_get(m, "weight_hh_l0")->grad;
        assert_non_null(g);
        for (int64_t i = 0; i < g->numel; i++) assert_true(nb_get(g, i) == 0);
        assert_true(fabs(nb_get(nb_module_get(m, "bias_hh_l0")->grad, 0)) > 0);
    }
    nb_scope_end(&s);
    nb_module_free(m);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input(void **state) {
    (void)state;
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_module *m = nb_lstm(3, 4, 2, &(nb_rnn_opts){.bidirectional = true});
    nb_module *gru = nb_gru(3, 4, 1, NULL);
    nb_module *cell = nb_gru_cell(3, 4, NULL);
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(5, 2, 3), -1, 1);
    EXPECT_ERR(nb_forward(m, nb_rand(NB_F32, NB_SHAPE(2, 5, 2, 3), -1, 1)), NB_ERR_SHAPE, "LSTM(3, 4",
               "expects (T,B,3)", "(2,5,2,3)");
    EXPECT_ERR(nb_forward(m, nb_rand(NB_F32, NB_SHAPE(5, 2, 7), -1, 1)), NB_ERR_SHAPE, "LSTM", "(T,B,3)", "(5,2,7)");
    EXPECT_ERR(nb_forward(m, nb_rand(NB_F64, NB_SHAPE(5, 2, 3), -1, 1)), NB_ERR_DTYPE, "LSTM", "f32", "f64");
    const int64_t long_len[2] = {5, 6}, zero_len[2] = {0, 3};
    EXPECT_ERR(nb_rnn_forward(m, x, NULL, NULL, long_len, NULL, NULL), NB_ERR_ARG, "LSTM", "lengths[1] = 6",
               "[1, T = 5]", "(5,2,3)");
    EXPECT_ERR(nb_rnn_forward(m, x, NULL, NULL, zero_len, NULL, NULL), NB_ERR_ARG, "LSTM", "lengths[0] = 0");
    EXPECT_ERR(nb_rnn_forward(m, x, nb_zeros(NB_F32, NB_SHAPE(2, 2, 4)), NULL, NULL, NULL, NULL), NB_ERR_SHAPE, "LSTM",
               "h0 of shape (4,2,4)", "h0 is (2,2,4)");
    EXPECT_ERR(nb_rnn_forward(m, x, NULL, nb_zeros(NB_F32, NB_SHAPE(4, 3, 4)), NULL, NULL, NULL), NB_ERR_SHAPE, "LSTM",
               "c0 of shape (4,2,4)", "c0 is (4,3,4)");
    EXPECT_ERR(nb_rnn_forward(gru, x, NULL, nb_zeros(NB_F32, NB_SHAPE(1, 2, 4)), NULL, NULL, NULL), NB_ERR_ARG, "GRU",
               "no cell state");
    EXPECT_ERR(nb_rnn_forward(cell, x, NULL, NULL, NULL, NULL, NULL), NB_ERR_ARG, "GRUCell", "not an RNN, LSTM or GRU");
    EXPECT_ERR(nb_forward(cell, x), NB_ERR_SHAPE, "GRUCell", "(B,3)", "(5,2,3)");
    EXPECT_ERR(
        nb_rnn_cell_forward(cell, nb_zeros(NB_F32, NB_SHAPE(2, 3)), nb_zeros(NB_F32, NB_SHAPE(3, 4)), NULL, NULL),
        NB_ERR_SHAPE, "GRUCell", "h of shape (2,4)", "h is (3,4)");
    EXPECT_ERR(nb_forward(m, nb_zeros(NB_F32, NB_SHAPE(0, 2, 3))), NB_ERR_SHAPE, "LSTM", "(0,2,3)");
    EXPECT_ERR(nb_lstm_gate_c(nb_zeros(NB_F32, NB_SHAPE(2, 8)), nb_zeros(NB_F32, NB_SHAPE(2, 8)),
                              nb_zeros(NB_F32, NB_SHAPE(2, 3))),
               NB_ERR_SHAPE, "lstm_gate_c", "gx is (2,8)", "c_prev is (2,3)");
    EXPECT_ERR(nb_gru_gate_h(nb_zeros(NB_F32, NB_SHAPE(2, 9)), nb_zeros(NB_F32, NB_SHAPE(2, 6)),
                             nb_zeros(NB_F32, NB_SHAPE(2, 3))),
               NB_ERR_SHAPE, "gru_gate_h", "gh is (2,6)");
    nb_scope_end(&s);
    tu_err_reset();
    assert_null(nb_lstm(3, 4, 0, NULL));
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "LSTM"));
    assert_non_null(strstr(tu_err.msg, "num_layers must be >= 1, got 0"));
    tu_err_reset();
    assert_null(nb_gru(0, 4, 1, NULL));
    assert_non_null(strstr(tu_err.msg, "GRU: input_size and hidden_size must be > 0"));
    tu_err_reset();
    assert_null(nb_rnn(3, 4, 1, &(nb_rnn_opts){.dropout = 1.0}));
    assert_non_null(strstr(tu_err.msg, "dropout"));
    tu_err_reset();
    assert_null(nb_lstm_cell(3, 4, &(nb_rnn_opts){.bidirectional = true}));
    assert_non_null(strstr(tu_err.msg, "LSTMCell"));
    tu_err_reset();
    assert_null(nb_gru(3, 4, 1, &(nb_rnn_opts){.nonlinearity = NB_RNN_RELU}));
    assert_non_null(strstr(tu_err.msg, "nonlinearity"));
    nb_module_free(m);
    nb_module_free(gru);
    nb_module_free(cell);
    nb_set_error_handler(NULL, NULL);
    nb_error_clear();
}

/* ------------------------------------------------------------ memory */

/* A char-LM-like training step (embedding, LSTM with lengths, linear,
 * cross-entropy, AdamW) repeated: nabla's heap and the arena stay flat. */
static void test_memory_flat(void **state) {
    (void)state;
    nb_seed(13);
    nb_module *emb = nb_embedding(11, 8), *lstm = nb_lstm(8, 16, 1, NULL), *head = nb_linear(16, 11);
    nb_module *net = nb_module_new("LM", NULL, 0);
    nb_module_add(net, "emb", emb);
    nb_module_add(net, "lstm", lstm);
    nb_module_add(net, "head", head);
    nb_optim *opt = nb_optim_adamw(net, 1e-2, 0.01);
    const int T = 6, B = 4;
    int64_t idx[24], tgt[24];
    const int64_t lens[4] = {6, 3, 5, 6};
    nb_mem_stats warm = {0};
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        for (int i = 0; i < T * B; i++) {
            idx[i] = (i * 7 + step) % 11;
            tgt[i] = (idx[i] + 1) % 11;
        }
        nb_scope *s = nb_scope_begin();
        nb_tensor *x = nb_forward(emb, nb_from_i64(NB_SHAPE(T, B), idx));
        nb_tensor *y = nb_rnn_forward(lstm, x, NULL, NULL, step % 2 ? lens : NULL, NULL, NULL);
        nb_tensor *logits = nb_reshape(nb_forward(head, y), NB_SHAPE(T * B, 11));
        nb_tensor *loss = nb_cross_entropy(logits, nb_from_i64(NB_SHAPE(T * B), tgt), NB_REDUCE_MEAN);
        nb_zero_grad(net);
        assert_int_equal(nb_backward(loss), NB_OK);
        nb_optim_step(opt);
        if (step == 0) first = nb_item(loss);
        last = nb_item(loss);
        nb_scope_end(&s);
        if (step == 20) warm = nb_mem_stats_get();
    }
    nb_mem_stats now = nb_mem_stats_get();
    printf("memory after 20 steps: heap %zu B, arena %zu B; after 300: heap %zu B, arena %zu B; loss %.3f -> %.3f\n",
           warm.heap_live, warm.arena_reserved, now.heap_live, now.arena_reserved, first, last);
    assert_true(now.heap_live == warm.heap_live);
    assert_true(now.arena_reserved == warm.arena_reserved);
    assert_true(last < 0.5 * first);
    nb_optim_free(opt);
    nb_module_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_fixtures),
        cmocka_unit_test(test_gate_ops_equal_composition),
        cmocka_unit_test(test_gradcheck_bilstm),
        cmocka_unit_test(test_gradgradcheck_layers),
        cmocka_unit_test(test_init_and_names),
        cmocka_unit_test(test_dropout_train_only),
        cmocka_unit_test(test_cell_loop_matches_layer),
        cmocka_unit_test(test_zero_state_gradients),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_memory_flat),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
