/* tests/test_parity.c — nn_functional.h against PyTorch (fixtures from
 * tests/fixtures/gen_parity_fixtures.py, tests/fixtures/nn/parity.txt): every
 * loss option (class weights, ignore_index, label smoothing, pos_weight,
 * probabilities with the −100 clamp, multi-margin p = 2, L1/SmoothL1/Huber,
 * KL both ways with batchmean), in every reduction, and the functional forms
 * (softplus β/threshold, prelu, 1-D pools, conv1d with dilation and groups,
 * padding on each side): values and the gradients of Σ out·r w.r.t. every
 * input PyTorch differentiates, F64 to 1e-10 and F32 to 1e-4 relative
 * (absolute below 1e-3). Then the layers loaded by name, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "nn_fixture.h"

#ifndef NB_NN_FIXTURES
#define NB_NN_FIXTURES "tests/fixtures/nn"
#endif

#define TOL64 1e-10
#define TOL32 1e-4
#define FLOOR 1e-3

static fixture *g_fx;

static int setup(void **state) {
    (void)state;
    g_fx = fixture_open(NB_NN_FIXTURES, "parity.txt");
    return g_fx && g_fx->n > 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fixture_free(g_fx);
    return 0;
}

/* fixture tensor name, or NULL (quietly) when absent */
static nb_tensor *find(const char *fmt, ...) NB_PRINTF(1, 2);
static nb_tensor *find(const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < g_fx->n; i++)
        if (!strcmp(g_fx->names[i], name)) return g_fx->ts[i];
    return NULL;
}

static int n_checked;

static void check(const char *what, const nb_tensor *got, const nb_tensor *want, nb_dtype dt) {
    assert_non_null(want);
    const double tol = dt == NB_F64 ? TOL64 : TOL32;
    if (!got) fprintf(stderr, "  %s (%s): no tensor\n", what, nb_dtype_name(dt));
    assert_non_null(got);
    bool ok = got->numel == want->numel;
    for (int64_t i = 0; ok && i < got->numel; i++) {
        const double a = nb_get(got, i), b = nb_get(want, i);
        const bool good = isnan(b) ? isnan(a) : isinf(b) ? a == b : fabs(a - b) / fmax(fabs(b), FLOOR) <= tol;
        if (!good) {
            fprintf(stderr, "  %s (%s): element %lld: nabla %.17g torch %.17g\n", what, nb_dtype_name(dt), (long long)i,
                    a, b);
            ok = false;
        }
    }
    assert_true(ok);
    n_checked++;
}

/* ------------------------------------------------------------ the cases */

typedef nb_tensor *(*case_fn)(nb_tensor **in, nb_tensor *labels, nb_reduction red);

static nb_tensor *ce_weight(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    nb_ce_opts o = NB_CE_DEFAULT;
    o.weight = in[1];
    o.reduction = r;
    return nb_cross_entropy_ex(in[0], y, &o);
}
static nb_tensor *ce_ignore(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    nb_ce_opts o = NB_CE_DEFAULT;
    o.ignore_index = 2;
    o.reduction = r;
    return nb_cross_entropy_ex(in[0], y, &o);
}
static nb_tensor *ce_smooth(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    nb_ce_opts o = NB_CE_DEFAULT;
    o.label_smoothing = 0.1;
    o.reduction = r;
    return nb_cross_entropy_ex(in[0], y, &o);
}
static nb_tensor *ce_all(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    nb_ce_opts o = {in[1], -100, 0.2, r};
    return nb_cross_entropy_ex(in[0], y, &o);
}
static nb_tensor *nll_wi(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    nb_ce_opts o = {in[1], 3, 0, r};
    return nb_nll_loss_ex(nb_log_softmax(in[0], 1), y, &o);
}
static nb_tensor *ce_plain(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    nb_ce_opts o = NB_CE_DEFAULT;
    o.reduction = r;
    return nb_cross_entropy_ex(in[0], y, &o);
}
static nb_tensor *bce_prob(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_binary_cross_entropy(in[0], in[1], NULL, r);
}
static nb_tensor *bce_prob_w(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_binary_cross_entropy(in[0], in[1], in[2], r);
}
static nb_tensor *bce_logits_pw(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_bce_with_logits_ex(in[0], in[1], NULL, in[2], r);
}
static nb_tensor *bce_logits_w_pw(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_bce_with_logits_ex(in[0], in[1], in[2], in[3], r);
}
static nb_tensor *bce_logits_w(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_bce_with_logits_ex(in[0], in[1], in[2], NULL, r);
}
static nb_tensor *mm_p1(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    return nb_multi_margin_loss(in[0], y, 1, 1.0, NULL, r);
}
static nb_tensor *mm_p2(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    return nb_multi_margin_loss(in[0], y, 2, 0.7, NULL, r);
}
static nb_tensor *mm_p2_w(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    return nb_multi_margin_loss(in[0], y, 2, 1.0, in[1], r);
}
static nb_tensor *l1(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_l1_loss(in[0], in[1], r);
}
static nb_tensor *smooth_l1(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_smooth_l1_loss(in[0], in[1], 0.5, r);
}
static nb_tensor *smooth_l1_b0(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_smooth_l1_loss(in[0], in[1], 0.0, r);
}
static nb_tensor *huber(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_huber_loss(in[0], in[1], 0.7, r);
}
static nb_tensor *kl(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_kl_div(in[0], in[1], false, r);
}
static nb_tensor *kl_log(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y;
    return nb_kl_div(in[0], in[1], true, r);
}
static nb_tensor *softplus_b2(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    return nb_softplus_ex(in[0], 2, 5);
}
static nb_tensor *softplus_b05(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    return nb_softplus_ex(in[0], 0.5, 1);
}
static nb_tensor *prelu(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    return nb_prelu(in[0], in[1]);
}
static nb_tensor *max_pool1d(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    nb_pool1d_opts o = {3, 2, 1, 2, true, true};
    return nb_max_pool1d(in[0], &o);
}
static nb_tensor *avg_pool1d(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    nb_pool1d_opts o = {3, 2, 1, 1, true, false};
    return nb_avg_pool1d(in[0], &o);
}
static nb_tensor *max_pool1d_2d(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    nb_pool1d_opts o = NB_POOL1D_DEFAULT(2);
    return nb_max_pool1d(in[0], &o);
}
static nb_tensor *conv1d_dg(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    return nb_conv1d_ex(in[0], in[1], in[2], 2, 1, 2, 2);
}
static nb_tensor *conv2d_padded(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    nb_conv2d_opts o = NB_CONV2D_DEFAULT;
    o.stride[0] = o.stride[1] = 2;
    return nb_conv2d_padded(in[0], in[1], in[2], (const int64_t[4]){1, 0, 2, 1}, &o);
}
static nb_tensor *conv1d_padded(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    return nb_conv1d_padded(in[0], in[1], NULL, (const int64_t[2]){0, 2}, 1, 2, 1);
}
static nb_tensor *max_pool2d_padded(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    nb_pool2d_opts o = NB_POOL2D_DEFAULT(2, 2);
    return nb_max_pool2d_padded(in[0], (const int64_t[4]){0, 1, 1, 0}, &o);
}
static nb_tensor *avg_pool2d_padded(nb_tensor **in, nb_tensor *y, nb_reduction r) {
    (void)y, (void)r;
    nb_pool2d_opts o = NB_POOL2D_DEFAULT(3, 3);
    o.stride[0] = o.stride[1] = 2;
    return nb_avg_pool2d_padded(in[0], (const int64_t[4]){2, 1, 0, 1}, &o);
}

typedef struct {
    const char *name;
    case_fn fn;
} pcase;

static const pcase CASES[] = {
    {"ce_weight", ce_weight},
    {"ce_ignore", ce_ignore},
    {"ce_smooth", ce_smooth},
    {"ce_all", ce_all},
    {"nll_wi", nll_wi},
    {"ce_none_counted", ce_plain},
    {"bce_prob", bce_prob},
    {"bce_prob_w", bce_prob_w},
    {"bce_prob_edge", bce_prob},
    {"bce_logits_pw", bce_logits_pw},
    {"bce_logits_w_pw", bce_logits_w_pw},
    {"bce_logits_w", bce_logits_w},
    {"mm_p1", mm_p1},
    {"mm_p2", mm_p2},
    {"mm_p2_w", mm_p2_w},
    {"l1", l1},
    {"smooth_l1", smooth_l1},
    {"smooth_l1_b0", smooth_l1_b0},
    {"huber", huber},
    {"kl", kl},
    {"kl_log", kl_log},
    {"kl_zero", kl},
    {"softplus_b2", softplus_b2},
    {"softplus_b05", softplus_b05},
    {"prelu_c", prelu},
    {"prelu_1", prelu},
    {"max_pool1d", max_pool1d},
    {"avg_pool1d", avg_pool1d},
    {"max_pool1d_2d", max_pool1d_2d},
    {"conv1d_dg", conv1d_dg},
    {"conv2d_padded", conv2d_padded},
    {"conv1d_padded", conv1d_padded},
    {"max_pool2d_padded", max_pool2d_padded},
    {"avg_pool2d_padded", avg_pool2d_padded},
};

static const struct {
    const char *name;
    nb_reduction red;
} REDS[] = {
    {"mean", NB_REDUCE_MEAN},           {"sum", NB_REDUCE_SUM},  {"none", NB_REDUCE_NONE},
    {"batchmean", NB_REDUCE_BATCHMEAN}, {"out", NB_REDUCE_NONE},
};

static void run_case(const pcase *c, const char *red_name, nb_reduction red, nb_dtype dt) {
    char what[160];
    nb_scope *s = nb_scope_begin();
    nb_tensor *in[8];
    int nin = 0;
    for (const nb_tensor *src; nin < 8 && (src = find("%s.in%d", c->name, nin)); nin++) {
        in[nin] = fixture_as(src, dt);
        if (find("%s.%s.grad%d", c->name, red_name, nin)) nb_set_requires_grad(in[nin], true);
    }
    assert_true(nin > 0);
    const nb_tensor *lab = find("%s.labels", c->name);
    nb_tensor *labels = lab ? nb_copy(lab) : NULL;
    nb_tensor *out = c->fn(in, labels, red);
    snprintf(what, sizeof what, "%s.%s output", c->name, red_name);
    check(what, out, find("%s.%s.out", c->name, red_name), dt);
    if (find("%s.%s.grad0", c->name, red_name) || find("%s.%s.grad1", c->name, red_name)) {
        const nb_tensor *r = find("%s.%s.r", c->name, red_name);
        nb_tensor *L = r ? nb_sum_all(nb_mul(out, fixture_as(r, dt))) : out;
        assert_int_equal(nb_backward(L), NB_OK);
        for (int i = 0; i < nin; i++) {
            const nb_tensor *g = find("%s.%s.grad%d", c->name, red_name, i);
            if (!g) continue;
            snprintf(what, sizeof what, "%s.%s d/din%d", c->name, red_name, i);
            check(what, in[i]->grad, g, dt);
        }
    }
    nb_scope_end(&s);
}

static void functional_matches_torch(void **state) {
    (void)state;
    int runs = 0;
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        int found = 0;
        for (size_t r = 0; r < sizeof REDS / sizeof REDS[0]; r++) {
            if (!find("%s.%s.out", CASES[k].name, REDS[r].name)) continue;
            found++;
            run_case(&CASES[k], REDS[r].name, REDS[r].red, NB_F64);
            run_case(&CASES[k], REDS[r].name, REDS[r].red, NB_F32);
            runs += 2;
        }
        if (!found) fprintf(stderr, "no fixture for case %s\n", CASES[k].name);
        assert_true(found > 0);
    }
    printf("parity: %d runs, %d tensors compared with PyTorch\n", runs, n_checked);
}

/* ------------------------------------------------------------ layers by name */

static void load_param(nb_module *m, const char *name, const nb_tensor *src) {
    nb_tensor *p = nb_module_get(m, name);
    assert_non_null(p);
    assert_non_null(src);
    assert_int_equal(p->numel, src->numel);
    for (int64_t i = 0; i < p->numel; i++) nb_set(p, i, nb_get(src, i));
}

static void layers_match_torch(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        const nb_dtype dt = d ? NB_F32 : NB_F64;
        nb_module *conv = nb_conv1d_layer_ex(4, 6, 3, 2, 1, 2, 2, true);
        assert_non_null(conv);
        assert_true(nb_module_cast(conv, dt));
        assert_int_equal(nb_dim(nb_module_get(conv, "weight"), 1), 2); /* (out, in/groups, k) */
        load_param(conv, "weight", find("conv1d_dg.in1"));
        load_param(conv, "bias", find("conv1d_dg.in2"));
        nb_pool1d_opts mo = {3, 2, 1, 2, true, true}, ao = {3, 2, 1, 1, true, false};
        nb_module *mp = nb_max_pool1d_layer(&mo), *ap = nb_avg_pool1d_layer(&ao);
        assert_non_null(mp);
        assert_non_null(ap);
        nb_scope *s = nb_scope_begin();
        check("Conv1d(dilation 2, groups 2) output", nb_forward(conv, fixture_as(find("conv1d_dg.in0"), dt)),
              find("conv1d_dg.out.out"), dt);
        check("MaxPool1d output", nb_forward(mp, fixture_as(find("max_pool1d.in0"), dt)), find("max_pool1d.out.out"),
              dt);
        check("AvgPool1d output", nb_forward(ap, fixture_as(find("avg_pool1d.in0"), dt)), find("avg_pool1d.out.out"),
              dt);
        nb_scope_end(&s);
        nb_module_free(conv);
        nb_module_free(mp);
        nb_module_free(ap);
    }
    nb_set_error_mode(NB_ERRORS_RECOVER);
    assert_null(nb_conv1d_layer_ex(4, 6, 3, 1, 0, 1, 3, false)); /* groups 3 does not divide 4 */
    assert_non_null(strstr(nb_error_message(), "Conv1d"));
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_module *nobias = nb_conv1d_layer_ex(4, 6, 3, 1, 0, 1, 2, false);
    assert_int_equal(nb_module_num_parameters(nobias), 1);
    nb_module_free(nobias);
}

/* ------------------------------------------------------------ bad input */

static void expect_error(nb_tensor *got, const char *needle) {
    assert_null(got);
    assert_int_not_equal(nb_error(), NB_OK);
    if (!strstr(nb_error_message(), needle)) fprintf(stderr, "message '%s' lacks '%s'\n", nb_error_message(), needle);
    assert_non_null(strstr(nb_error_message(), needle));
    nb_error_clear();
}

static void bad_input_is_named(void **state) {
    (void)state;
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_randn(NB_F64, NB_SHAPE(3, 4), 0, 1);
    nb_tensor *y = nb_from_i64(NB_SHAPE(3), (int64_t[]){0, 5, 1});
    nb_tensor *y_ok = nb_from_i64(NB_SHAPE(3), (int64_t[]){0, 3, 1});
    nb_ce_opts o = NB_CE_DEFAULT;
    expect_error(nb_cross_entropy_ex(x, y, &o), "labels[1] = 5");
    o.weight = nb_ones(NB_F64, NB_SHAPE(3));
    expect_error(nb_cross_entropy_ex(x, y_ok, &o), "weight must hold one value per class (4)");
    o.weight = NULL;
    o.label_smoothing = 1.5;
    expect_error(nb_cross_entropy_ex(x, y_ok, &o), "label_smoothing");
    o.label_smoothing = 0.1;
    expect_error(nb_nll_loss_ex(x, y_ok, &o), "nll_loss");
    nb_tensor *p = nb_full(NB_F64, NB_SHAPE(3, 4), 0.5);
    nb_set(p, 5, 1.5);
    expect_error(nb_binary_cross_entropy(p, nb_zeros(NB_F64, NB_SHAPE(3, 4)), NULL, NB_REDUCE_MEAN), "element 5");
    expect_error(nb_l1_loss(x, nb_zeros(NB_F64, NB_SHAPE(4, 3)), NB_REDUCE_MEAN), "(4,3)");
    expect_error(nb_l1_loss(x, x, NB_REDUCE_BATCHMEAN), "unknown reduction");
    expect_error(nb_multi_margin_loss(x, y_ok, 3, 1, NULL, NB_REDUCE_MEAN), "p must be 1 or 2");
    expect_error(nb_huber_loss(x, x, 0, NB_REDUCE_MEAN), "delta");
    expect_error(nb_bce_with_logits_ex(x, x, NULL, nb_ones(NB_F64, NB_SHAPE(3)), NB_REDUCE_MEAN), "pos_weight");
    expect_error(nb_prelu(nb_randn(NB_F64, NB_SHAPE(2, 3, 4), 0, 1), nb_ones(NB_F64, NB_SHAPE(2))), "prelu");
    nb_pool1d_opts po = NB_POOL1D_DEFAULT(2);
    expect_error(nb_max_pool1d(nb_randn(NB_F64, NB_SHAPE(2, 3, 4, 5), 0, 1), &po), "max_pool1d");
    expect_error(nb_softplus_ex(x, 0, 20), "beta");
    nb_conv2d_opts co = NB_CONV2D_DEFAULT;
    co.pad[0] = 1;
    expect_error(nb_conv2d_padded(nb_randn(NB_F64, NB_SHAPE(1, 1, 5, 5), 0, 1), nb_ones(NB_F64, NB_SHAPE(1, 1, 3, 3)),
                                  NULL, (const int64_t[4]){1, 1, 1, 1}, &co),
                 "padding must be 0");
    /* every target ignored: PyTorch's 0/0 = NaN for mean, 0 for sum (documented) */
    nb_tensor *all_ign = nb_from_i64(NB_SHAPE(3), (int64_t[]){-100, -100, -100});
    o = NB_CE_DEFAULT;
    assert_true(isnan(nb_item(nb_cross_entropy_ex(x, all_ign, &o))));
    o.reduction = NB_REDUCE_SUM;
    assert_true(nb_item(nb_cross_entropy_ex(x, all_ign, &o)) == 0);
    nb_scope_end(&s);
    nb_set_error_mode(NB_ERRORS_ABORT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(functional_matches_torch),
        cmocka_unit_test(layers_match_torch),
        cmocka_unit_test(bad_input_is_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
