/* tests/test_transformer_layers.c — the transformer layers other than
 * attention against PyTorch (fixtures from
 * tests/fixtures/gen_transformer_fixtures.py, tests/fixtures/nn/transformer.txt):
 * LayerNorm/RMSNorm/GELU/SiLU modules (output, input and parameter
 * gradients, F64 to 1e-10, F32 to 1e-4), weight tying (the gradient is the
 * sum of both uses; listed, stepped, cast, swapped and freed once), AdamW
 * with two parameter groups under the warm-up + cosine schedule (12 steps,
 * F64 and F32), the schedule's values, the sinusoidal position table, and
 * learned positions through nb_embedding. Bad input: names the layer and
 * the shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "nn_fixture.h"
#include "test_util.h"

#ifndef NB_NN_FIXTURES
#define NB_NN_FIXTURES "tests/fixtures/nn"
#endif

#define TOL64 1e-10
#define TOL32 1e-4
#define FLOOR 1e-3

/* EXPECT_ERR for calls returning a module or optimizer pointer */
#define EXPECT_ERR_PTR(call, st, ...) EXPECT_ERR((const nb_tensor *)(const void *)(call), st, __VA_ARGS__)

static fixture *load(void) {
    fixture *fx = fixture_open(NB_NN_FIXTURES, "transformer.txt");
    assert_non_null(fx);
    return fx;
}

static void set_from(nb_tensor *t, const nb_tensor *src) { assert_true(fixture_copy_into(t, src)); }

static nb_tensor *as(const nb_tensor *src, nb_dtype dt) {
    assert_non_null(src);
    return fixture_as(src, dt);
}

static double worst[2];

static void check(const char *what, const nb_tensor *got, const nb_tensor *want, nb_dtype dt) {
    const double e = max_rel_err(got, want, FLOOR), tol = dt == NB_F64 ? TOL64 : TOL32;
    double *w = &worst[dt == NB_F32];
    if (e > *w || isnan(e)) *w = e;
    if (!(e <= tol)) fprintf(stderr, "  %s (%s): max rel err %.3g > %.1g\n", what, nb_dtype_name(dt), e, tol);
    assert_true(e <= tol);
}

/* ---------------------------------------------------------------- layers */

static nb_module *mk_ln(void) { return nb_layernorm(6); }
static nb_module *mk_ln2(void) { return nb_layernorm_ex(NB_SHAPE(3, 4), 1e-5, true, true); }
static nb_module *mk_ln_noaffine(void) { return nb_layernorm_ex(NB_SHAPE(5), 1e-5, false, false); }
static nb_module *mk_ln_nobias(void) { return nb_layernorm_ex(NB_SHAPE(5), 1e-5, true, false); }
static nb_module *mk_rms(void) { return nb_rmsnorm(6); }
static nb_module *mk_rms_eps(void) { return nb_rmsnorm_ex(NB_SHAPE(4), 1e-3, false); }
static nb_module *mk_gelu(void) { return nb_gelu_layer(); }
static nb_module *mk_gelu_tanh(void) { return nb_gelu_tanh_layer(); }
static nb_module *mk_silu(void) { return nb_silu_layer(); }

static const struct {
    const char *name;
    nb_module *(*make)(void);
    int nparams;
} LAYERS[] = {
    {"layernorm", mk_ln, 2},
    {"layernorm2", mk_ln2, 2},
    {"layernorm_noaffine", mk_ln_noaffine, 0},
    {"layernorm_nobias", mk_ln_nobias, 1},
    {"rmsnorm", mk_rms, 1},
    {"rmsnorm_eps", mk_rms_eps, 0},
    {"gelu", mk_gelu, 0},
    {"gelu_tanh", mk_gelu_tanh, 0},
    {"silu", mk_silu, 0},
};

static void run_layer(const fixture *fx, int k, nb_dtype dt) {
    const char *name = LAYERS[k].name;
    nb_module *m = LAYERS[k].make();
    assert_non_null(m);
    assert_true(nb_module_cast(m, dt));
    nb_named_tensor ps[4];
    const int np = nb_module_parameters(m, ps, 4);
    assert_int_equal(np, LAYERS[k].nparams);
    /* torch's names and initial values: weight 1, bias 0 */
    for (int i = 0; i < np; i++) {
        assert_true(!strcmp(ps[i].name, i == 0 ? "weight" : "bias"));
        for (int64_t j = 0; j < ps[i].t->numel; j++) assert_true(nb_get(ps[i].t, j) == (i == 0 ? 1.0 : 0.0));
        set_from(ps[i].t, fixture_get(fx, "%s.p.%s", name, ps[i].name));
    }
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(as(fixture_get(fx, "%s.x", name), dt), true);
    nb_tensor *y = nb_forward(m, x);
    assert_non_null(y);
    nb_module_zero_grad(m);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(y, as(fixture_get(fx, "%s.r", name), dt)))), NB_OK);
    char what[128];
    snprintf(what, sizeof what, "%s output", name);
    check(what, y, fixture_get(fx, "%s.y", name), dt);
    snprintf(what, sizeof what, "%s d/dx", name);
    check(what, x->grad, fixture_get(fx, "%s.gx", name), dt);
    for (int i = 0; i < np; i++) {
        snprintf(what, sizeof what, "%s d/d%s", name, ps[i].name);
        check(what, ps[i].t->grad, fixture_get(fx, "%s.g.%s", name, ps[i].name), dt);
    }
    nb_scope_end(&s);
    nb_module_free(m);
}

static void layers_match_torch(void **state) {
    (void)state;
    fixture *fx = load();
    worst[0] = worst[1] = 0;
    for (size_t k = 0; k < sizeof LAYERS / sizeof *LAYERS; k++) {
        run_layer(fx, (int)k, NB_F64);
        run_layer(fx, (int)k, NB_F32);
    }
    printf("transformer layers: %zu cases, worst rel err f64 %.2g, f32 %.2g\n", sizeof LAYERS / sizeof *LAYERS,
           worst[0], worst[1]);
    fixture_free(fx);
}

static void layer_bad_input(void **state) {
    (void)state;
    nb_module *ln = nb_layernorm(8);
    nb_module *seq = nb_sequential(nb_linear(4, 8), ln, NULL);
    nb_scope *s = nb_scope_begin();
    EXPECT_ERR(nb_forward(ln, nb_zeros(NB_F32, NB_SHAPE(2, 6))), NB_ERR_SHAPE, "LayerNorm", "'1' LayerNorm((8)",
               "expects (*,8)", "x is (2,6)");
    EXPECT_ERR(nb_forward(ln, nb_zeros(NB_F64, NB_SHAPE(2, 8))), NB_ERR_DTYPE, "LayerNorm", "computes in f32",
               "x is f64");
    nb_module *ln2 = nb_layernorm_ex(NB_SHAPE(3, 4), 1e-5, true, true);
    EXPECT_ERR(nb_forward(ln2, nb_zeros(NB_F32, NB_SHAPE(4))), NB_ERR_SHAPE, "LayerNorm", "expects (*,3,4)",
               "x is (4)");
    EXPECT_ERR(nb_forward(ln2, nb_zeros(NB_F32, NB_SHAPE(2, 4, 3))), NB_ERR_SHAPE, "LayerNorm", "x is (2,4,3)");
    nb_module *rms = nb_rmsnorm(5);
    EXPECT_ERR(nb_forward(rms, nb_zeros(NB_F32, NB_SHAPE(3, 4))), NB_ERR_SHAPE, "RMSNorm", "expects (*,5)",
               "x is (3,4)");
    EXPECT_ERR_PTR(nb_layernorm_ex(NB_SHAPE(0), 1e-5, true, true), NB_ERR_ARG, "LayerNorm", "normalized_shape");
    EXPECT_ERR_PTR(nb_layernorm_ex(NB_SHAPE(4), -1, true, true), NB_ERR_ARG, "LayerNorm", "eps");
    EXPECT_ERR(nb_sinusoidal_positions(-1, 4, NB_F32), NB_ERR_ARG, "sinusoidal_positions", "T -1");
    EXPECT_ERR(nb_sinusoidal_positions(4, 0, NB_F32), NB_ERR_ARG, "sinusoidal_positions", "d 0");
    nb_scope_end(&s);
    nb_module_free(seq), nb_module_free(ln2), nb_module_free(rms);
}

/* ---------------------------------------------------------------- weight tying */

typedef struct tied_model {
    nb_module *emb, *proj, *head;
} tied_model;

/* logits = tanh(E[idx]) @ W1 @ Eᵀ, the head's weight tied to the embedding's */
static nb_tensor *tied_forward(nb_module *m, nb_tensor *idx) {
    tied_model *t = nb_module_data(m);
    nb_tensor *h = nb_matmul(nb_tanh(nb_forward(t->emb, idx)), nb_module_param(t->proj, 0));
    return nb_matmul(h, nb_transpose(nb_module_param(t->head, 0), 0, 1));
}

static nb_module *make_tied(const fixture *fx) {
    nb_module *m = nb_module_new("Tied", tied_forward, sizeof(tied_model));
    tied_model *t = nb_module_data(m);
    t->emb = nb_module_add(m, "emb", nb_embedding(7, 4));
    t->proj = nb_module_add(m, "proj", nb_module_new("Proj", NULL, 0));
    nb_module_add_param(t->proj, "weight", nb_zeros(NB_F32, NB_SHAPE(4, 4)));
    t->head = nb_module_add(m, "head", nb_module_new("Head", NULL, 0));
    assert_non_null(nb_module_tie_param(t->head, "weight", nb_module_param(t->emb, 0)));
    if (fx) {
        set_from(nb_module_param(t->emb, 0), fixture_get(fx, "tied.E"));
        set_from(nb_module_param(t->proj, 0), fixture_get(fx, "tied.W1"));
    }
    return m;
}

static void weight_tying(void **state) {
    (void)state;
    fixture *fx = load();
    nb_module *m = make_tied(NULL);
    /* listed once, under the owner's name; numel once */
    nb_named_tensor ps[4];
    assert_int_equal(nb_module_parameters(m, ps, 4), 2);
    assert_string_equal(ps[0].name, "emb.weight");
    assert_string_equal(ps[1].name, "proj.weight");
    assert_int_equal(nb_module_numel(m), 7 * 4 + 4 * 4);
    assert_int_equal(nb_module_named_tensors(m, NULL, 0), 2);
    assert_null(nb_module_get(m, "head.weight"));
    /* cast keeps the tie: both slots are the same (new) tensor */
    assert_true(nb_module_cast(m, NB_F64));
    tied_model *t = nb_module_data(m);
    assert_ptr_equal(nb_module_param(t->head, 0), nb_module_param(t->emb, 0));
    assert_int_equal(nb_module_param(t->head, 0)->dtype, NB_F64);
    set_from(nb_module_param(t->emb, 0), fixture_get(fx, "tied.E"));
    set_from(nb_module_param(t->proj, 0), fixture_get(fx, "tied.W1"));

    /* the gradient is the sum of both uses: torch's */
    nb_scope *s = nb_scope_begin();
    nb_tensor *idx = nb_copy(fixture_get(fx, "tied.idx"));
    nb_tensor *logits = nb_forward(m, idx);
    check("tied logits", logits, fixture_get(fx, "tied.logits"), NB_F64);
    nb_module_zero_grad(m);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(logits, fixture_get(fx, "tied.r")))), NB_OK);
    check("tied dE (both uses)", nb_module_param(t->emb, 0)->grad, fixture_get(fx, "tied.gE"), NB_F64);
    check("tied dW1", nb_module_param(t->proj, 0)->grad, fixture_get(fx, "tied.gW1"), NB_F64);

    /* an optimizer steps it once: SGD lr 0.1 moves E by exactly −0.1·dE (E0, g0 scoped) */
    nb_tensor *E0 = nb_copy(nb_module_param(t->emb, 0)), *g0 = nb_copy(nb_module_param(t->emb, 0)->grad);
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_SGD);
    o.lr = 0.1;
    nb_optim *opt = nb_optim_new_module(&o, m);
    assert_non_null(opt);
    assert_int_equal(nb_optim_step(opt), NB_OK);
    for (int64_t i = 0; i < E0->numel; i++)
        assert_true(fabs(nb_get(nb_module_param(t->emb, 0), i) - (nb_get(E0, i) - 0.1 * nb_get(g0, i))) < 1e-15);
    nb_optim_free(opt);
    /* a list with the tensor twice is refused (it would be stepped twice) */
    nb_named_tensor twice[2] = {{"a", nb_module_param(t->emb, 0)}, {"b", nb_module_param(t->head, 0)}};
    EXPECT_ERR_PTR(nb_optim_new(&o, twice, 2), NB_ERR_ARG, "SGD", "parameter 1 'b' is parameter 0 'a' again");
    nb_scope_end(&s);

    /* swap_parameters (functional calls) keeps the tie too */
    nb_tensor *sw[2] = {nb_zeros(NB_F64, NB_SHAPE(7, 4)), nb_zeros(NB_F64, NB_SHAPE(4, 4))};
    nb_set_requires_grad(sw[0], true), nb_set_requires_grad(sw[1], true);
    nb_tensor *mine = sw[0];
    assert_true(nb_module_swap_parameters(m, sw, 2));
    assert_ptr_equal(nb_module_param(t->head, 0), mine);
    assert_true(nb_module_swap_parameters(m, sw, 2));
    assert_ptr_equal(nb_module_param(t->head, 0), nb_module_param(t->emb, 0));
    nb_tensor_free(sw[0]), nb_tensor_free(sw[1]);
    /* bad tie: a scoped tensor, a name taken */
    s = nb_scope_begin();
    EXPECT_ERR(nb_module_tie_param(t->proj, "w2", nb_zeros(NB_F64, NB_SHAPE(2))), NB_ERR_ARG, "module_tie_param",
               "persistent float parameter");
    EXPECT_ERR(nb_module_tie_param(t->proj, "weight", nb_module_param(t->emb, 0)), NB_ERR_ARG, "module_tie_param",
               "already has a member named 'weight'");
    nb_scope_end(&s);
    nb_module_free(m); /* frees E once (ASan would see a double free) */
    fixture_free(fx);
}

/* ---------------------------------------------------------------- AdamW groups + schedule */

static void adamw_groups_match_torch(void **state) {
    (void)state;
    fixture *fx = load();
    const nb_tensor *snaps = fixture_get(fx, "groups.snaps");
    for (int k = 0; k < 2; k++) {
        const nb_dtype dt = k ? NB_F32 : NB_F64;
        worst[0] = worst[1] = 0;
        nb_module *m = nb_sequential(nb_linear(4, 8), nb_layernorm(8), nb_gelu_layer(), nb_linear(8, 3), NULL);
        assert_non_null(m);
        assert_true(nb_module_cast(m, dt));
        nb_named_tensor ps[8];
        const int np = nb_module_parameters(m, ps, 8);
        assert_int_equal(np, 6);
        for (int i = 0; i < np; i++) set_from(ps[i].t, fixture_get(fx, "groups.init.%s", ps[i].name));
        nb_optim_opts o = nb_optim_defaults(NB_OPTIM_ADAMW);
        o.lr = 0.02, o.weight_decay = 0.1, o.beta2 = 0.95;
        nb_optim *opt = nb_optim_new_module_decay(&o, m);
        assert_non_null(opt);
        assert_int_equal(nb_optim_num_groups(opt), 2);
        /* decay: the two Linear weights; no decay: biases and LayerNorm's weight and bias */
        for (int i = 0; i < np; i++)
            assert_int_equal(nb_optim_group_of(opt, ps[i].t), ps[i].t->shape.ndim >= 2 ? 0 : 1);
        assert_true(nb_optim_get_group_opts(opt, 0)->weight_decay == 0.1);
        assert_true(nb_optim_get_group_opts(opt, 1)->weight_decay == 0.0);
        nb_lr_schedule sch = nb_lr_warmup_cosine(0.02, 3, 10, 0.002);
        nb_tensor *X = as(fixture_get(fx, "groups.X"), dt), *Y = as(fixture_get(fx, "groups.Y"), dt);
        const nb_tensor *lrs = fixture_get(fx, "groups.%s.lrs", k ? "f32" : "f64");
        int snap = 0;
        for (int step = 1; step <= 12; step++) {
            nb_scope *s = nb_scope_begin();
            nb_optim_zero_grad(opt);
            assert_int_equal(nb_backward(nb_mse_loss(nb_forward(m, X), Y, NB_REDUCE_MEAN)), NB_OK);
            const double lr = nb_lr_schedule_step(&sch, opt);
            assert_true(fabs(lr - nb_f64(lrs)[step - 1]) <= 1e-15 * lr);
            assert_true(nb_optim_get_group_opts(opt, 1)->lr == lr);
            assert_int_equal(nb_optim_step(opt), NB_OK);
            if (snap < snaps->numel && nb_i64(snaps)[snap] == step) {
                nb_tensor *f[8];
                for (int i = 0; i < np; i++) f[i] = nb_reshape(ps[i].t, NB_SHAPE(-1));
                char what[64];
                snprintf(what, sizeof what, "AdamW groups after step %d", step);
                check(what, nb_concat(f, np, 0), fixture_get(fx, "groups.%s.step%d", k ? "f32" : "f64", step), dt);
                snap++;
            }
            nb_scope_end(&s);
        }
        assert_int_equal(snap, snaps->numel);
        printf("AdamW two groups + warm-up/cosine, 12 steps (%s): worst rel err %.2g\n", nb_dtype_name(dt), worst[k]);
        nb_optim_free(opt);
        nb_module_free(m);
        nb_tensor_free(X), nb_tensor_free(Y);
    }
    fixture_free(fx);
}

/* Group lrs keep their ratio under nb_optim_set_lr; group options;
 * duplicates across groups refused; the old API unchanged (1 group). */
static void groups_api(void **state) {
    (void)state;
    nb_module *m = nb_sequential(nb_linear(3, 4), nb_linear(4, 2), NULL);
    nb_named_tensor ps[4];
    nb_module_parameters(m, ps, 4);
    nb_optim_group g[2] = {{ps, 2, 0.01, NB_OPTIM_INHERIT}, {ps + 2, 2, 0.03, 0.5}};
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_ADAMW);
    nb_optim *opt = nb_optim_new_groups(&o, g, 2);
    assert_non_null(opt);
    assert_true(nb_optim_get_group_opts(opt, 0)->weight_decay == o.weight_decay);
    assert_true(nb_optim_get_group_opts(opt, 1)->weight_decay == 0.5);
    nb_optim_set_lr(opt, 0.02);
    assert_true(fabs(nb_optim_get_group_opts(opt, 1)->lr - 0.06) < 1e-17);
    assert_true(nb_optim_get_lr(opt) == 0.02);
    nb_optim_set_group_lr(opt, 1, 0.5);
    assert_true(nb_optim_get_group_opts(opt, 1)->lr == 0.5);
    assert_null(nb_optim_get_group_opts(opt, 2));
    nb_optim_free(opt);
    nb_optim_group dup[2] = {{ps, 2, -1, -1}, {ps + 1, 2, -1, -1}};
    EXPECT_ERR_PTR(nb_optim_new_groups(&o, dup, 2), NB_ERR_ARG, "AdamW", "'0.bias' is parameter 1 '0.bias' again");
    nb_optim_group neg[1] = {{ps, -1, -1, -1}};
    EXPECT_ERR_PTR(nb_optim_new_groups(&o, neg, 1), NB_ERR_ARG, "group 0");
    nb_optim *plain = nb_optim_adamw(m, 1e-3, 0.01);
    assert_int_equal(nb_optim_num_groups(plain), 1);
    assert_true(nb_optim_get_group_opts(plain, 0)->lr == 1e-3);
    nb_optim_free(plain);
    nb_module_free(m);
}

static void schedule_matches_torch(void **state) {
    (void)state;
    fixture *fx = load();
    const nb_tensor *want = fixture_get(fx, "sched.warmup_cosine");
    nb_lr_schedule s = nb_lr_warmup_cosine(0.02, 3, 10, 0.002);
    for (int t = 1; t <= 40; t++) {
        const double lr = nb_lr_schedule_step(&s, NULL), w = nb_f64(want)[t - 1];
        assert_true(fabs(lr - w) <= 1e-15 * w);
    }
    /* the closed form: peak at the warm-up's end, min_lr from `total` on */
    assert_true(nb_lr_at(&s, 3) == 0.02 && nb_lr_at(&s, 10) == 0.002 && nb_lr_at(&s, 1000) == 0.002);
    nb_lr_schedule nw = nb_lr_warmup_cosine(0.1, 0, 4, 0.0);
    assert_true(nb_lr_at(&nw, 0) == 0.1 && fabs(nb_lr_at(&nw, 2) - 0.05) < 1e-16);
    fixture_free(fx);
}

/* ---------------------------------------------------------------- positions */

static void positions(void **state) {
    (void)state;
    fixture *fx = load();
    nb_scope *s = nb_scope_begin();
    for (int d = 6; d <= 7; d++) {
        nb_tensor *pe = nb_sinusoidal_positions(9, d, NB_F64);
        assert_false(pe->requires_grad);
        char what[32];
        snprintf(what, sizeof what, "positions (9,%d)", d);
        check(what, pe, fixture_get(fx, "pos.9_%d", d), NB_F64);
        check(what, nb_sinusoidal_positions(9, d, NB_F32), fixture_get(fx, "pos.9_%d", d), NB_F32);
    }
    /* learned positions: an Embedding over arange(T), added to the token
     * embedding; its gradient is the sum over the batch of each position's */
    nb_module *pos = nb_embedding(5, 3);
    nb_module_cast(pos, NB_F64);
    nb_tensor *ar = nb_zeros(NB_I64, NB_SHAPE(4));
    for (int i = 0; i < 4; i++) nb_i64(ar)[i] = i;
    nb_tensor *tok = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(2, 4, 3), -1, 1), true);
    nb_tensor *h = nb_add(tok, nb_forward(pos, ar)); /* (2,4,3) + (4,3) */
    nb_module_zero_grad(pos);
    backward_ones(nb_mul(h, h));
    nb_tensor *W = nb_module_param(pos, 0);
    for (int t = 0; t < 5; t++)
        for (int j = 0; j < 3; j++) {
            double want = 0;
            if (t < 4)
                for (int b = 0; b < 2; b++) want += 2 * nb_get(h, (b * 4 + t) * 3 + j);
            assert_true(fabs(nb_get(W->grad, t * 3 + j) - want) < 1e-14);
        }
    nb_scope_end(&s);
    nb_module_free(pos);
    fixture_free(fx);
}

/* ---------------------------------------------------------------- memory */

/* A training loop over every piece (LayerNorm, RMSNorm, GELU, GELU-tanh,
 * SiLU, tied weight, AdamW with groups, the schedule): after the first steps
 * it allocates nothing on the heap and its memory stays flat. */
typedef struct mini_model {
    nb_module *emb, *ln, *fc, *rms, *head;
} mini_model;
static nb_tensor *mini_forward(nb_module *m, nb_tensor *idx) {
    mini_model *t = nb_module_data(m);
    nb_tensor *h = nb_forward(t->ln, nb_forward(t->emb, idx));
    h = nb_silu(nb_gelu_tanh(nb_gelu(nb_forward(t->fc, h))));
    h = nb_forward(t->rms, h);
    return nb_matmul(h, nb_transpose(nb_module_param(t->head, 0), 0, 1));
}
static void training_memory_flat(void **state) {
    (void)state;
    nb_seed(5);
    nb_module *m = nb_module_new("Mini", mini_forward, sizeof(mini_model));
    mini_model *t = nb_module_data(m);
    t->emb = nb_module_add(m, "emb", nb_embedding(11, 16));
    t->ln = nb_module_add(m, "ln", nb_layernorm(16));
    t->fc = nb_module_add(m, "fc", nb_linear(16, 16));
    t->rms = nb_module_add(m, "rms", nb_rmsnorm(16));
    t->head = nb_module_add(m, "head", nb_module_new("Head", NULL, 0));
    nb_module_tie_param(t->head, "weight", nb_module_param(t->emb, 0));
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_ADAMW);
    o.lr = 1e-2;
    nb_optim *opt = nb_optim_new_module_decay(&o, m);
    nb_lr_schedule sch = nb_lr_warmup_cosine(1e-2, 10, 200, 1e-3);
    nb_tensor *idx = nb_zeros(NB_I64, NB_SHAPE(32)), *lab = nb_zeros(NB_I64, NB_SHAPE(32));
    for (int i = 0; i < 32; i++) nb_i64(idx)[i] = i % 11, nb_i64(lab)[i] = (i * 3 + 1) % 11;
    size_t live = 0, allocs = 0;
    double first = 0, last = 0;
    for (int step = 1; step <= 300; step++) {
        nb_scope *s = nb_scope_begin();
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, idx), lab, NB_REDUCE_MEAN);
        assert_int_equal(nb_backward(loss), NB_OK);
        nb_lr_schedule_step(&sch, opt);
        assert_int_equal(nb_optim_step(opt), NB_OK);
        if (step == 1) first = nb_get(loss, 0);
        last = nb_get(loss, 0);
        nb_scope_end(&s);
        const nb_mem_stats ms = nb_mem_stats_get();
        if (step == 20) live = ms.heap_live, allocs = ms.heap_allocs;
        if (step > 20) {
            assert_true(ms.heap_live == live);
            assert_true(ms.heap_allocs == allocs);
        }
    }
    printf("mini transformer pieces, 300 steps: loss %.3f -> %.3f, heap flat at %zu bytes after step 20\n", first, last,
           live);
    assert_true(last < 0.5 * first);
    nb_tensor_free(idx), nb_tensor_free(lab);
    nb_optim_free(opt);
    nb_module_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layers_match_torch),
        cmocka_unit_test_setup_teardown(layer_bad_input, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(weight_tying, tu_setup, tu_teardown),
        cmocka_unit_test(adamw_groups_match_torch),
        cmocka_unit_test_setup_teardown(groups_api, tu_setup, tu_teardown),
        cmocka_unit_test(schedule_matches_torch),
        cmocka_unit_test(positions),
        cmocka_unit_test(training_memory_flat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
