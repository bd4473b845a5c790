/* tests/test_attention.c — scaled dot-product attention, MultiheadAttention,
 * the pre-LN transformer block and the tiny GPT against PyTorch (F64
 * fixtures from tests/fixtures/gen_attention_fixtures.py): outputs and the
 * gradients w.r.t. the inputs and EVERY parameter, parameters loaded from
 * torch's state_dict names, to 1e-10 relative (|a − b| / max(|b|, 1e-3)).
 * Then the conventions PyTorch doesn't share (a fully masked row gives
 * zeros), bad input (mask shapes, embed_dim vs heads, context length) and
 * memory over many training steps. */
#include "nn_fixture.h"
#include "test_util.h"
#include "kernels/attn_f32.h"

#ifndef NB_ATTN_FIXTURES
#define NB_ATTN_FIXTURES "tests/fixtures/attention"
#endif

#define TOL 1e-10
#define FLOOR 1e-3

static fixture *g_fx;

static int group_setup(void **state) {
    (void)state;
    char path[1024];
    const char *dir = getenv("NB_ATTN_FIXTURES_DIR");
    snprintf(path, sizeof path, "%s/attention.txt", dir ? dir : NB_ATTN_FIXTURES);
    g_fx = fixture_load(path);
    return g_fx ? 0 : -1;
}
static int group_teardown(void **state) {
    (void)state;
    fixture_free(g_fx);
    return 0;
}

static nb_tensor *fx(const char *fmt, const char *a) {
    nb_tensor *t = fixture_get(g_fx, fmt, a);
    assert_non_null(t);
    return t;
}

/* A scoped F64 copy of a fixture tensor (i64 stays i64), requiring grad if asked. */
static nb_tensor *input(const char *name, bool grad) {
    nb_tensor *t = fixture_get(g_fx, "%s", name);
    assert_non_null(t);
    return nb_set_requires_grad(nb_copy(t), grad && t->dtype != NB_I64);
}

static void check(const char *what, const nb_tensor *got, const nb_tensor *want) {
    assert_non_null(got);
    assert_non_null(want);
    if (got->numel != want->numel) {
        print_error("%s: %lld elements, torch has %lld\n", what, (long long)got->numel, (long long)want->numel);
        fail();
    }
    const double e = max_rel_err(got, want, FLOOR);
    if (!(e <= TOL)) {
        print_error("%s: worst relative error %.3g > %g\n", what, e, TOL);
        fail();
    }
    printf("  %-44s %.2e\n", what, e);
}

/* Loads "<c>.param.<name>" into every parameter of m (F64), by name; the
 * fixture must hold exactly m's parameters. */
static void load_params(nb_module *m, const char *c) {
    assert_true(nb_module_cast(m, NB_F64));
    nb_named_tensor ps[64];
    const int n = nb_module_parameters(m, ps, 64);
    assert_true(n <= 64);
    char pre[64];
    snprintf(pre, sizeof pre, "%s.param.", c);
    int in_fixture = 0;
    for (int i = 0; i < g_fx->n; i++) in_fixture += !strncmp(g_fx->names[i], pre, strlen(pre));
    assert_int_equal(in_fixture, n);
    for (int i = 0; i < n; i++) {
        nb_tensor *src = fixture_get(g_fx, "%s%s", pre, ps[i].name);
        assert_non_null(src);
        assert_true(nb_shape_eq(src->shape, ps[i].t->shape));
        NB_NO_GRAD { nb_copy_(ps[i].t, src); }
    }
}

/* Compares the gradient of every parameter with "<c>.grad.<name>". */
static void check_param_grads(nb_module *m, const char *c) {
    nb_named_tensor ps[64];
    const int n = nb_module_parameters(m, ps, 64);
    for (int i = 0; i < n; i++) {
        char what[128], key[128];
        snprintf(what, sizeof what, "%s d/d %s", c, ps[i].name);
        snprintf(key, sizeof key, "%s.grad.%s", c, ps[i].name);
        check(what, ps[i].t->grad, fixture_get(g_fx, "%s", key));
    }
}

/* backward of Σ y·r */
static void backward_r(nb_tensor *y, const char *c) {
    assert_non_null(y);
    char key[64];
    snprintf(key, sizeof key, "%s.r", c);
    nb_tensor *r = fixture_get(g_fx, "%s", key);
    assert_non_null(r);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(y, r))), NB_OK);
}

/* ------------------------------------------------------------ SDPA */

static void test_sdpa_causal_padding(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *q = input("sdpa.q", true), *k = input("sdpa.k", true), *v = input("sdpa.v", true);
    nb_tensor *keep = input("sdpa.keep", false); /* (2,1,1,5) i64, 1 = attend (torch's SDPA) */
    nb_tensor *y = nb_sdpa(q, k, v, keep, true, 0, 0);
    check("sdpa y", y, fx("%s.y", "sdpa"));
    backward_r(y, "sdpa");
    check("sdpa dq", q->grad, fx("%s.grad.q", "sdpa"));
    check("sdpa dk", k->grad, fx("%s.grad.k", "sdpa"));
    check("sdpa dv", v->grad, fx("%s.grad.v", "sdpa"));
    nb_scope_end(&s);
}

/* is_causal skips the score blocks and key ranges it knows give zero
 * weight (ops/attention.c, in blocks of 16 and 32 rows): the same values
 * and gradients (to rounding) as the full computation under an explicit
 * additive causal mask, for lengths that cut the blocks every way (L = S, L < S, L > S,
 * one past a block), plain and packed (heads read out of one qkv). */
static double max_rel(const nb_tensor *a, const nb_tensor *b) {
    double w = 0;
    for (int64_t i = 0; i < a->numel; i++)
        w = fmax(w, fabs(nb_get(a, i) - nb_get(b, i)) / fmax(fabs(nb_get(b, i)), FLOOR));
    return w;
}
static nb_tensor *causal_additive(int64_t L, int64_t S) {
    nb_tensor *m = nb_zeros(NB_F64, NB_SHAPE(L, S));
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = i + 1; j < S; j++) nb_f64(m)[i * S + j] = -INFINITY;
    return m;
}
static void test_sdpa_causal_blocks(void **state) {
    (void)state;
    static const int64_t ls[][2] = {{70, 70}, {40, 75}, {75, 40}, {33, 33}, {17, 5}, {1, 1}};
    nb_seed(21);
    for (size_t c = 0; c < sizeof ls / sizeof ls[0]; c++) {
        const int64_t L = ls[c][0], S = ls[c][1];
        nb_scope *s = nb_scope_begin();
        nb_tensor *in[2][3], *y[2];
        for (int way = 0; way < 2; way++) { /* 0: is_causal, 1: the additive mask */
            nb_seed(22 + (uint64_t)c);
            in[way][0] = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(3, L, 8), 0, 1), true);
            in[way][1] = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(3, S, 8), 0, 1), true);
            in[way][2] = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(3, S, 6), 0, 1), true);
            nb_tensor *r = nb_randn(NB_F64, NB_SHAPE(3, L, 6), 0, 1);
            y[way] = way ? nb_sdpa(in[way][0], in[way][1], in[way][2], causal_additive(L, S), false, 0, 0)
                         : nb_sdpa(in[way][0], in[way][1], in[way][2], NULL, true, 0, 0);
            assert_int_equal(nb_backward(nb_sum_all(nb_mul(y[way], r))), NB_OK);
        }
        double w = max_rel(y[0], y[1]);
        for (int i = 0; i < 3; i++) w = fmax(w, max_rel(in[0][i]->grad, in[1][i]->grad));
        printf("causal blocks L %lld S %lld: y and grads within %.1e of the masked computation\n", (long long)L,
               (long long)S, w);
        assert_true(w <= 1e-12); /* rounding: a small block takes the GEMM's reference loop */
        nb_scope_end(&s);
    }
    /* packed: (B, L, 3·H·D), L = 70 */
    nb_scope *s = nb_scope_begin();
    nb_tensor *qkv[2], *y[2];
    for (int way = 0; way < 2; way++) {
        nb_seed(40);
        qkv[way] = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(2, 70, 3 * 2 * 4), 0, 1), true);
        nb_tensor *r = nb_randn(NB_F64, NB_SHAPE(2, 70, 8), 0, 1);
        y[way] = nb_sdpa_packed(qkv[way], 2, way ? causal_additive(70, 70) : NULL, way == 0, 0, 0);
        assert_int_equal(nb_backward(nb_sum_all(nb_mul(y[way], r))), NB_OK);
    }
    assert_true(max_rel(y[0], y[1]) <= 1e-12);
    assert_true(max_rel(qkv[0]->grad, qkv[1]->grad) <= 1e-12);
    nb_scope_end(&s);
    /* one tensor as q, k and v (then as q and k): its gradient is the sum of
     * the three (two) of separate copies */
    for (int shared = 3; shared >= 2; shared--) {
        s = nb_scope_begin();
        nb_seed(41);
        nb_tensor *x = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(3, 20, 8), 0, 1), true);
        nb_tensor *v = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(3, 20, 8), 0, 1), true);
        nb_tensor *c[3];
        for (int i = 0; i < 3; i++) c[i] = nb_set_requires_grad(nb_copy(i == 2 && shared == 2 ? v : x), true);
        nb_tensor *r = nb_randn(NB_F64, NB_SHAPE(3, 20, 8), 0, 1);
        nb_tensor *ys = nb_sdpa(x, x, shared == 3 ? x : v, NULL, true, 0, 0),
                  *yc = nb_sdpa(c[0], c[1], c[2], NULL, true, 0, 0);
        assert_int_equal(nb_backward(nb_sum_all(nb_mul(ys, r))), NB_OK);
        assert_int_equal(nb_backward(nb_sum_all(nb_mul(yc, r))), NB_OK);
        nb_tensor *want = nb_add(c[0]->grad, c[1]->grad);
        if (shared == 3) want = nb_add(want, c[2]->grad);
        else assert_true(max_rel(v->grad, c[2]->grad) <= 1e-12);
        assert_true(max_rel(ys, yc) <= 1e-12);
        assert_true(max_rel(x->grad, want) <= 1e-12);
        nb_scope_end(&s);
    }
}

/* f32 slices on AVX-512 (kernels/attn_f32.h) against the generic slices
 * (the GEMM per block): outputs and gradients bit for bit, in the plain and
 * packed layouts, causal or not, L ≠ S both ways, sums longer than the
 * GEMM's K block (256), new gradients and ones added to (a second
 * backward); and the fast ones within 1e-5 of the F64 computation (max
 * |difference| over max |value|). */
/* max |a − b| over max |b| */
static double norm_err(const nb_tensor *a, const nb_tensor *b) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        d = fmax(d, fabs(nb_get(a, i) - nb_get(b, i)));
        m = fmax(m, fabs(nb_get(b, i)));
    }
    return d / fmax(m, 1e-30);
}
static bool same_bits(const nb_tensor *a, const nb_tensor *b) {
    return a && b && a->numel == b->numel && memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)) == 0;
}
static void test_sdpa_f32_fast_slices(void **state) {
    (void)state;
    static const struct {
        int64_t B, L, S, D, H; /* H 0: plain (B, L, D) q, k, v; else packed qkv (B, L, 3·H·D) */
        bool causal;
    } cs[] = {{3, 64, 64, 32, 0, true},   {2, 64, 64, 32, 4, true},    {2, 40, 96, 64, 0, true},
              {2, 96, 32, 32, 0, true},   {2, 64, 64, 32, 2, false},   {1, 24, 96, 32, 0, false},
              {1, 264, 288, 32, 0, true}, {1, 288, 256, 64, 0, false}, {2, 32, 32, 96, 3, true}};
    if (!nb_attn_f32_fast(64, 64, 32)) printf("f32 attention slices: not on this CPU; generic against itself\n");
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        nb_scope *sc = nb_scope_begin();
        const bool packed = cs[c].H > 0;
        const int64_t B = cs[c].B, L = cs[c].L, S = packed ? L : cs[c].S, D = cs[c].D, H = packed ? cs[c].H : 1;
        nb_tensor *in[2][3] = {{0}}, *y[2], *grads[2][3] = {{0}}, *r = NULL;
        for (int way = 0; way < 2; way++) { /* 0: fast slices, 1: generic */
            nb__attn_f32_enable(way == 0);
            nb_seed(60 + (uint64_t)c);
            if (packed) {
                in[way][0] = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(B, L, 3 * H * D), 0, 1), true);
            } else
                for (int i = 0; i < 3; i++)
                    in[way][i] = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(B, i ? S : L, D), 0, 1), true);
            r = nb_randn(NB_F32, NB_SHAPE(B, L, H * D), 0, 1);
            for (int pass = 0; pass < 2; pass++) { /* the second backward adds to the gradients */
                y[way] = packed ? nb_sdpa_packed(in[way][0], H, NULL, cs[c].causal, 0, 0)
                                : nb_sdpa(in[way][0], in[way][1], in[way][2], NULL, cs[c].causal, 0, 0);
                assert_int_equal(nb_backward(nb_sum_all(nb_mul(y[way], r))), NB_OK);
                if (pass == 0)
                    for (int i = 0; i < 3; i++) grads[way][i] = in[way][i] ? nb_copy(in[way][i]->grad) : NULL;
            }
        }
        nb__attn_f32_enable(true);
        bool same = same_bits(y[0], y[1]);
        for (int i = 0; i < 3; i++)
            if (in[0][i])
                same = same && same_bits(grads[0][i], grads[1][i]) && same_bits(in[0][i]->grad, in[1][i]->grad);
        /* F64: the same inputs, the generic path */
        nb_tensor *in64[3] = {0};
        for (int i = 0; i < 3; i++)
            if (in[0][i]) in64[i] = nb_set_requires_grad(nb_cast(in[0][i], NB_F64), true);
        nb_tensor *r64 = nb_cast(r, NB_F64);
        nb_tensor *y64 = packed ? nb_sdpa_packed(in64[0], H, NULL, cs[c].causal, 0, 0)
                                : nb_sdpa(in64[0], in64[1], in64[2], NULL, cs[c].causal, 0, 0);
        assert_int_equal(nb_backward(nb_sum_all(nb_mul(y64, r64))), NB_OK);
        double w = norm_err(y[0], y64);
        for (int i = 0; i < 3; i++)
            if (in[0][i]) w = fmax(w, norm_err(grads[0][i], in64[i]->grad));
        printf("f32 slices B %lld L %lld S %lld D %lld H %lld%s: %s the generic path, %.1e from F64\n", (long long)B,
               (long long)L, (long long)S, (long long)D, (long long)H, cs[c].causal ? " causal" : "",
               same ? "same bits as" : "NOT the bits of", w);
        assert_true(same);
        assert_true(w <= 1e-5);
        nb_scope_end(&sc);
    }
    /* A NaN in one query row (that row NaN) and a row whose scores are all
     * −∞ (zeros): the same bits as the generic path, y and gradients. */
    nb_scope *sc = nb_scope_begin();
    nb_tensor *y[2], *in[2][3];
    for (int way = 0; way < 2; way++) {
        nb__attn_f32_enable(way == 0);
        nb_seed(70);
        for (int i = 0; i < 3; i++) in[way][i] = nb_randn(NB_F32, NB_SHAPE(2, 32, 32), 0, 1);
        for (int64_t j = 0; j < 64; j++) nb_f32(in[way][1])[j * 32] = fabsf(nb_f32(in[way][1])[j * 32]) + 1;
        nb_f32(in[way][0])[5 * 32 + 3] = NAN;          /* batch 0, row 5 */
        nb_f32(in[way][0])[(32 + 9) * 32] = -INFINITY; /* batch 1, row 9: every score −∞ */
        for (int i = 0; i < 3; i++) nb_set_requires_grad(in[way][i], true);
        y[way] = nb_sdpa(in[way][0], in[way][1], in[way][2], NULL, true, 0, 0);
        assert_int_equal(nb_backward(nb_sum_all(y[way])), NB_OK);
    }
    nb__attn_f32_enable(true);
    assert_true(isnan(nb_f32(y[0])[5 * 32]) && nb_f32(y[0])[(32 + 9) * 32] == 0);
    assert_true(same_bits(y[0], y[1]));
    for (int i = 0; i < 3; i++) assert_true(same_bits(in[0][i]->grad, in[1][i]->grad));
    nb_scope_end(&sc);
}

/* A query whose keys are all masked gets zeros (PyTorch: NaN), and its
 * gradients are zero and finite. */
static void test_sdpa_fully_masked_row_is_zero(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_seed(3);
    nb_tensor *q = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(2, 3, 4), 0, 1), true);
    nb_tensor *k = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(2, 5, 4), 0, 1), true);
    nb_tensor *v = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(2, 5, 2), 0, 1), true);
    nb_tensor *m = nb_zeros(NB_F32, NB_SHAPE(2, 3, 5));
    for (int j = 0; j < 5; j++) nb_set(m, 1 * 15 + 2 * 5 + j, -INFINITY); /* batch 1, query 2 */
    nb_tensor *y = nb_sdpa(q, k, v, m, false, 0, 0);
    assert_non_null(y);
    for (int64_t i = 0; i < y->numel; i++) assert_true(isfinite(nb_get(y, i)));
    assert_true(nb_get(y, 1 * 6 + 2 * 2) == 0 && nb_get(y, 1 * 6 + 2 * 2 + 1) == 0);
    assert_true(nb_get(y, 0) != 0);
    assert_int_equal(nb_backward(nb_sum_all(y)), NB_OK);
    for (int64_t i = 0; i < q->numel; i++) assert_true(isfinite(nb_get(q->grad, i)));
    for (int64_t i = 0; i < 4; i++) assert_true(nb_get(q->grad, 12 + 2 * 4 + i) == 0);
    for (int64_t i = 0; i < k->numel; i++) assert_true(isfinite(nb_get(k->grad, i)));
    /* an i64 mask of zeros masks everything: all zeros */
    nb_tensor *none = nb_zeros(NB_I64, NB_SHAPE(5));
    nb_tensor *z = nb_sdpa(q, k, v, none, false, 0, 0);
    for (int64_t i = 0; i < z->numel; i++) assert_true(nb_get(z, i) == 0);
    nb_scope_end(&s);
}

/* Dropout on the weights: p = 0 is the plain op, and in train mode the kept
 * weights are scaled by 1/(1−p); the same seed gives the same output. */
static void test_sdpa_dropout(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_seed(5);
    nb_tensor *q = nb_randn(NB_F64, NB_SHAPE(2, 6, 4), 0, 1), *k = nb_randn(NB_F64, NB_SHAPE(2, 6, 4), 0, 1);
    nb_tensor *v = nb_randn(NB_F64, NB_SHAPE(2, 6, 3), 0, 1);
    nb_seed(9);
    nb_tensor *a = nb_sdpa(q, k, v, NULL, true, 0.5, 0);
    nb_seed(9);
    nb_tensor *b = nb_sdpa(q, k, v, NULL, true, 0.5, 0);
    nb_tensor *c = nb_sdpa(q, k, v, NULL, true, 0, 0);
    double diff = 0, same = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        same = fmax(same, fabs(nb_get(a, i) - nb_get(b, i)));
        diff = fmax(diff, fabs(nb_get(a, i) - nb_get(c, i)));
    }
    assert_true(same == 0);
    assert_true(diff > 1e-3);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ MultiheadAttention */

static void mha_check(const char *c, bool batch_first, bool self, bool kpm, bool am) {
    nb_scope *s = nb_scope_begin();
    nb_module *m = nb_multihead_attention(8, 2, true, batch_first, 0);
    assert_non_null(m);
    load_params(m, c);
    char key[64];
    snprintf(key, sizeof key, "%s.query", c);
    nb_tensor *q = input(key, true), *k = q, *v = q;
    if (!self) {
        snprintf(key, sizeof key, "%s.key", c);
        k = input(key, true);
        snprintf(key, sizeof key, "%s.value", c);
        v = input(key, true);
    }
    nb_tensor *weights = NULL;
    nb_mha_opts o = {.need_weights = true, .average_attn_weights = true, .weights = &weights};
    if (kpm) snprintf(key, sizeof key, "%s.key_padding_mask", c), o.key_padding_mask = input(key, false);
    if (am) snprintf(key, sizeof key, "%s.attn_mask", c), o.attn_mask = input(key, false);
    nb_tensor *y = nb_mha_forward(m, q, k, v, &o);
    char what[64];
    snprintf(what, sizeof what, "%s y", c);
    check(what, y, fx("%s.y", c));
    snprintf(what, sizeof what, "%s weights", c);
    check(what, weights, fx("%s.weights", c));
    backward_r(y, c);
    snprintf(what, sizeof what, "%s d query", c);
    check(what, q->grad, fx("%s.grad.query", c));
    if (!self) {
        snprintf(what, sizeof what, "%s d key", c);
        check(what, k->grad, fx("%s.grad.key", c));
        snprintf(what, sizeof what, "%s d value", c);
        check(what, v->grad, fx("%s.grad.value", c));
    }
    check_param_grads(m, c);
    nb_scope_end(&s);
    nb_module_free(m);
}

static void test_mha_self_masks(void **state) {
    (void)state;
    mha_check("mha_self", true, true, true, true);
}
static void test_mha_cross_float_mask(void **state) {
    (void)state;
    mha_check("mha_cross", true, false, false, true);
}
static void test_mha_sequence_first(void **state) {
    (void)state;
    mha_check("mha_seq", false, true, false, false);
}

/* torch's parameter names and order, and nb_forward = unmasked self-attention. */
static void test_mha_layout(void **state) {
    (void)state;
    nb_module *m = nb_multihead_attention(12, 3, true, true, 0.1);
    nb_named_tensor ps[8];
    assert_int_equal(nb_module_parameters(m, ps, 8), 4);
    const char *names[4] = {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"};
    const nb_shape shapes[4] = {NB_SHAPE(36, 12), NB_SHAPE(36), NB_SHAPE(12, 12), NB_SHAPE(12)};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(ps[i].name, names[i]);
        assert_true(nb_shape_eq(ps[i].t->shape, shapes[i]));
    }
    nb_module *nob = nb_multihead_attention(12, 3, false, true, 0);
    assert_int_equal(nb_module_parameters(nob, NULL, 0), 2);
    nb_module_eval(m);
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_randn(NB_F32, NB_SHAPE(2, 4, 12), 0, 1);
    nb_tensor *a = nb_forward(m, x), *b = nb_mha_forward(m, x, x, x, NULL);
    expect_shape(a, NB_SHAPE(2, 4, 12));
    for (int64_t i = 0; i < a->numel; i++) assert_true(nb_get(a, i) == nb_get(b, i));
    /* unbatched (L, E) */
    nb_tensor *u = nb_forward(m, nb_reshape(nb_slice(x, 0, 0, 1, 1), NB_SHAPE(4, 12)));
    expect_shape(u, NB_SHAPE(4, 12));
    for (int64_t i = 0; i < u->numel; i++) assert_true(fabs(nb_get(u, i) - nb_get(a, i)) < 1e-6);
    nb_scope_end(&s);
    nb_module_free(m);
    nb_module_free(nob);
}

/* ------------------------------------------------------------ block and GPT */

/* = TransformerEncoderLayer(norm_first=True, activation='gelu', batch_first=True, dropout=0) */
static void test_block_matches_torch(void **state) {
    (void)state;
    nb_module *m = nb_transformer_block(8, 2, 16, 0);
    assert_non_null(m);
    load_params(m, "block");
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = input("block.x", true);
    nb_tensor *causal = nb_zeros(NB_I64, NB_SHAPE(5, 5)); /* torch's src_mask: nonzero = may not attend */
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++) nb_i64(causal)[i * 5 + j] = 1;
    nb_mha_opts o = {.attn_mask = causal, .key_padding_mask = input("block.key_padding_mask", false)};
    nb_tensor *y = nb_transformer_block_forward(m, x, &o);
    check("block y", y, fx("%s.y", "block"));
    backward_r(y, "block");
    check("block dx", x->grad, fx("%s.grad.x", "block"));
    check_param_grads(m, "block");
    /* is_causal gives the same as the explicit causal mask */
    o = (nb_mha_opts){.is_causal = true, .key_padding_mask = o.key_padding_mask};
    check("block y (is_causal)", nb_transformer_block_forward(m, x, &o), fx("%s.y", "block"));
    nb_scope_end(&s);
    nb_module_free(m);
}

/* The tied GPT: logits, loss and every gradient (the token embedding's is the
 * sum of its two uses). */
static void test_gpt_matches_torch(void **state) {
    (void)state;
    nb_module *m = nb_gpt(11, 6, 8, 2, 2, 0);
    assert_non_null(m);
    load_params(m, "gpt");
    nb_scope *s = nb_scope_begin();
    nb_tensor *idx = input("gpt.idx", false), *tgt = input("gpt.targets", false);
    nb_tensor *logits = nb_forward(m, idx);
    check("gpt logits", logits, fx("%s.logits", "gpt"));
    nb_tensor *loss =
        nb_cross_entropy(nb_reshape(logits, NB_SHAPE(12, 11)), nb_reshape(tgt, NB_SHAPE(12)), NB_REDUCE_MEAN);
    check("gpt loss", loss, fx("%s.loss", "gpt"));
    assert_int_equal(nb_backward(loss), NB_OK);
    check_param_grads(m, "gpt");
    nb_scope_end(&s);
    nb_module_free(m);
}

/* No separate output weight: the parameter list is torch's TinyGPT's. */
static void test_gpt_layout(void **state) {
    (void)state;
    nb_module *m = nb_gpt(65, 64, 128, 4, 4, 0);
    assert_non_null(m);
    nb_named_tensor ps[128];
    const int n = nb_module_parameters(m, ps, 128);
    assert_int_equal(n, 2 + 4 * 12 + 2);
    assert_string_equal(ps[0].name, "tok_emb.weight");
    assert_string_equal(ps[1].name, "pos_emb.weight");
    assert_string_equal(ps[2].name, "blocks.0.self_attn.in_proj_weight");
    assert_string_equal(ps[n - 1].name, "ln_f.bias");
    /* 12·d² + 13·d per block, embeddings, final norm */
    assert_int_equal(nb_module_numel(m), 65 * 128 + 64 * 128 + 4 * (12 * 128 * 128 + 13 * 128) + 2 * 128);
    nb_module_free(m);
}

/* A GPT training loop (forward, loss, backward, clipping, AdamW in groups,
 * warm-up + cosine) holds its memory flat: after the first steps nabla's
 * heap, arena and allocation count don't move (bench_gpt --soak runs the
 * benchmark's model for 10 000 steps the same way). */
static void test_gpt_memory_flat(void **state) {
    (void)state;
    nb_seed(7);
    nb_module *m = nb_gpt(13, 8, 16, 2, 2, 0.1);
    nb_optim_opts oo = nb_optim_defaults(NB_OPTIM_ADAMW);
    oo.weight_decay = 0.1;
    nb_optim *opt = nb_optim_new_module_decay(&oo, m);
    nb_lr_schedule sched = nb_lr_warmup_cosine(1e-3, 10, 300, 1e-4);
    int64_t x[4 * 8], y[4 * 8];
    nb_mem_stats a = {0};
    double first = 0, last = 0;
    for (int step = 1; step <= 300; step++) {
        for (int i = 0; i < 32; i++) x[i] = (i * 7 + step) % 13, y[i] = (x[i] + 1) % 13;
        nb_scope *s = nb_scope_begin();
        nb_tensor *logits = nb_forward(m, nb_from_i64(NB_SHAPE(4, 8), x));
        nb_tensor *loss =
            nb_cross_entropy(nb_reshape(logits, NB_SHAPE(32, 13)), nb_from_i64(NB_SHAPE(32), y), NB_REDUCE_MEAN);
        nb_zero_grad(m);
        assert_int_equal(nb_backward(loss), NB_OK);
        nb_clip_grad_norm(m, 1.0);
        nb_lr_schedule_step(&sched, opt);
        assert_int_equal(nb_optim_step(opt), NB_OK);
        if (step == 1) first = nb_item(loss);
        last = nb_item(loss);
        nb_scope_end(&s);
        if (step == 20) a = nb_mem_stats_get();
    }
    nb_mem_stats b = nb_mem_stats_get();
    assert_int_equal(a.heap_live, b.heap_live);
    assert_int_equal(a.arena_reserved, b.arena_reserved);
    assert_int_equal(a.heap_allocs, b.heap_allocs);
    assert_true(last < first - 1); /* and it learned the shifted sequence */
    nb_optim_free(opt);
    nb_module_free(m);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *q = nb_zeros(NB_F32, NB_SHAPE(2, 3, 4)), *k = nb_zeros(NB_F32, NB_SHAPE(2, 5, 4));
    nb_tensor *v = nb_zeros(NB_F32, NB_SHAPE(2, 5, 6));
    EXPECT_ERR(nb_sdpa(q, k, v, nb_zeros(NB_F32, NB_SHAPE(4, 5)), false, 0, 0), NB_ERR_SHAPE, "sdpa", "mask is (4,5)",
               "scores (2,3,5)", "q is (2,3,4)");
    EXPECT_ERR(nb_sdpa(q, k, v, nb_zeros(NB_F32, NB_SHAPE(4, 2, 3, 5)), false, 0, 0), NB_ERR_SHAPE, "sdpa", "(4,2,3,5)",
               "doesn't broadcast");
    EXPECT_ERR(nb_sdpa(q, v, v, NULL, false, 0, 0), NB_ERR_SHAPE, "sdpa", "q is (2,3,4)", "k is (2,5,6)");
    EXPECT_ERR(nb_sdpa(q, k, v, NULL, false, 1.5, 0), NB_ERR_ARG, "sdpa", "dropout_p");
    EXPECT_ERR(nb_sdpa(q, k, v, nb_zeros(NB_F64, NB_SHAPE(3, 5)), false, 0, 0), NB_ERR_DTYPE, "sdpa", "mask");
    EXPECT_ERR(nb_sdpa_packed(nb_zeros(NB_F32, NB_SHAPE(2, 3, 10)), 2, NULL, false, 0, 0), NB_ERR_SHAPE, "sdpa_packed",
               "(2,3,10)", "heads 2");

    tu_err_reset();
    assert_null(nb_multihead_attention(130, 4, true, true, 0));
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "MultiheadAttention"));
    assert_non_null(strstr(tu_err.msg, "embed_dim 130"));
    assert_non_null(strstr(tu_err.msg, "num_heads 4"));
    nb_error_clear();

    nb_module *m = nb_multihead_attention(8, 2, true, true, 0);
    nb_tensor *x = nb_zeros(NB_F32, NB_SHAPE(2, 5, 8));
    EXPECT_ERR(nb_forward(m, nb_zeros(NB_F32, NB_SHAPE(2, 5, 6))), NB_ERR_SHAPE, "MultiheadAttention", "(2,5,6)",
               "(B,L,8)");
    nb_mha_opts o = {.key_padding_mask = nb_zeros(NB_I64, NB_SHAPE(3, 5))};
    EXPECT_ERR(nb_mha_forward(m, x, x, x, &o), NB_ERR_SHAPE, "MultiheadAttention", "key_padding_mask", "(3,5)",
               "(B,S) = (2,5)");
    o = (nb_mha_opts){.attn_mask = nb_zeros(NB_I64, NB_SHAPE(5, 4))};
    EXPECT_ERR(nb_mha_forward(m, x, x, x, &o), NB_ERR_SHAPE, "MultiheadAttention", "attn_mask is (5,4)",
               "(L,S) = (5,5)", "(B*heads,L,S) = (4,5,5)");
    EXPECT_ERR(nb_mha_forward(m, x, nb_zeros(NB_F32, NB_SHAPE(3, 5, 8)), nb_zeros(NB_F32, NB_SHAPE(3, 5, 8)), NULL),
               NB_ERR_SHAPE, "MultiheadAttention", "key is (3,5,8)");
    nb_scope_end(&s);
    nb_module_free(m);

    tu_err_reset();
    assert_null(nb_transformer_block(10, 4, 16, 0));
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "TransformerBlock"));
    assert_non_null(strstr(tu_err.msg, "d_model 10"));
    nb_error_clear();
    tu_err_reset();
    assert_null(nb_gpt(65, 64, 130, 4, 4, 0));
    assert_non_null(strstr(tu_err.msg, "width 130 is not divisible by heads 4"));
    nb_error_clear();

    nb_module *g = nb_gpt(11, 6, 8, 1, 2, 0);
    s = nb_scope_begin();
    EXPECT_ERR(nb_forward(g, nb_zeros(NB_I64, NB_SHAPE(2, 7))), NB_ERR_SHAPE, "GPT", "context 7",
               "position table (6 positions)", "idx is (2,7)");
    EXPECT_ERR(nb_forward(g, nb_zeros(NB_F32, NB_SHAPE(2, 3))), NB_ERR_SHAPE, "GPT", "i64");
    nb_module *blk = nb_module_child(g, "blocks.0");
    EXPECT_ERR(nb_forward(blk, nb_zeros(NB_F32, NB_SHAPE(2, 3, 5))), NB_ERR_SHAPE, "TransformerBlock", "(2,3,5)");
    nb_scope_end(&s);
    nb_module_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sdpa_causal_padding, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_sdpa_causal_blocks, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_sdpa_f32_fast_slices, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_sdpa_fully_masked_row_is_zero, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_sdpa_dropout, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_mha_self_masks, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_mha_cross_float_mask, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_mha_sequence_first, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_mha_layout, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_block_matches_torch, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_gpt_matches_torch, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_gpt_layout, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_gpt_memory_flat, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
