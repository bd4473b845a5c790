/* Tests of ops/norm_act.c (layer_norm, rms_norm, gelu, gelu_tanh, silu)
 * beyond the registry's gradcheck and the PyTorch fixtures: hand-computed
 * values, stability (a constant row, a row offset by 1e4), the F32 kernels'
 * accuracy against the F64 ones over 200 000 inputs (the claim the F32
 * overrides in test_reference rest on), the same bits on 1 and 2 threads,
 * and one bad-input case per argument. */
#include "test_util.h"
#include "kernels/cpu.h"
#include "kernels/gelu_f32.h"
#include "kernels/gemm.h"

#define V(...) ((const double[]){__VA_ARGS__})

static nb_tensor *f64(nb_shape s, const double *v, bool grad) { return nb_set_requires_grad(nb_from_f64(s, v), grad); }

/* ------------------------------------------------------------ values */

static void layer_norm_values(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* row (1,2,3,4): μ 2.5, σ² 1.25 (biased) */
    nb_tensor *x = f64(NB_SHAPE(1, 4), V(1, 2, 3, 4), true);
    nb_tensor *w = f64(NB_SHAPE(4), V(1, 2, 1, 0.5), true), *b = f64(NB_SHAPE(4), V(0, 0, 1, -1), true);
    nb_tensor *y = nb_layer_norm(x, 1, w, b, 0);
    const double r = 1 / sqrt(1.25);
    EXPECT_VALS(y, 1e-14, -1.5 * r, -0.5 * r * 2, 0.5 * r + 1, 1.5 * r * 0.5 - 1);
    backward_ones(y);
    /* dbias = Σ g = 1 each; dweight = x̂ */
    EXPECT_VALS(b->grad, 0, 1, 1, 1, 1);
    EXPECT_VALS(w->grad, 1e-14, -1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r);
    /* Σ dx over a row is 0 (shift invariance) */
    double sum = 0;
    for (int j = 0; j < 4; j++) sum += nb_get(x->grad, j);
    assert_true(fabs(sum) < 1e-13);

    /* a constant row: σ² = 0, y = bias exactly, finite gradients */
    nb_tensor *c = f64(NB_SHAPE(2, 3), V(5, 5, 5, -1, 0, 1), true);
    nb_tensor *yc = nb_layer_norm(c, 1, NULL, f64(NB_SHAPE(3), V(0.5, 0.5, 0.5), false), 1e-5);
    EXPECT_VALS(yc, 1e-14, 0.5, 0.5, 0.5, -1 / sqrt(2.0 / 3 + 1e-5) + 0.5, 0.5, 1 / sqrt(2.0 / 3 + 1e-5) + 0.5);
    backward_ones(yc);
    for (int j = 0; j < 6; j++) assert_true(isfinite(nb_get(c->grad, j)));

    /* offset 1e4 in F32: the two-pass variance keeps the row's spread */
    nb_tensor *big = nb_cast(f64(NB_SHAPE(1, 4), V(1e4 + 1, 1e4 + 2, 1e4 + 3, 1e4 + 4), false), NB_F32);
    nb_tensor *yb = nb_layer_norm(big, 1, NULL, NULL, 0);
    for (int j = 0; j < 4; j++) assert_true(fabs(nb_get(yb, j) - (j - 1.5) * r) < 1e-6);
    nb_scope_end(&s);
}

static void rms_norm_values(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64(NB_SHAPE(2, 2), V(3, 4, 1, -1), true);
    nb_tensor *w = f64(NB_SHAPE(2), V(2, 1), true);
    /* rows: mean x² = 12.5 and 1 */
    nb_tensor *y = nb_rms_norm(x, 1, w, 0);
    EXPECT_VALS(y, 1e-14, 2 * 3 / sqrt(12.5), 4 / sqrt(12.5), 2.0, -1.0);
    /* eps = NB_RMS_NORM_EPS_DEFAULT: DBL_EPSILON for F64, FLT_EPSILON for F32 */
    nb_tensor *z = nb_rms_norm(f64(NB_SHAPE(1, 1), V(0), false), 1, NULL, NB_RMS_NORM_EPS_DEFAULT);
    EXPECT_VALS(z, 0, 0.0);
    nb_tensor *one = nb_rms_norm(f64(NB_SHAPE(1, 1), V(1e-8), false), 1, NULL, NB_RMS_NORM_EPS_DEFAULT);
    EXPECT_VALS(one, 1e-12, 1e-8 / sqrt(1e-16 + 2.220446049250313e-16));
    nb_tensor *one32 =
        nb_rms_norm(nb_cast(f64(NB_SHAPE(1, 1), V(1e-3), false), NB_F32), 1, NULL, NB_RMS_NORM_EPS_DEFAULT);
    assert_true(fabs(nb_get(one32, 0) - 1e-3 / sqrt(1e-6 + 1.1920928955078125e-07)) < 1e-6);
    nb_scope_end(&s);
}

static void activation_values(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64(NB_SHAPE(5), V(-3, -0.5, 0, 1, 2.5), true);
    nb_tensor *g = nb_gelu(x), *gt = nb_gelu_tanh(x), *si = nb_silu(x);
    for (int j = 0; j < 5; j++) {
        const double v = nb_get(x, j);
        const double e = 0.5 * v * (1 + erf(v / sqrt(2)));
        const double t = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        assert_true(fabs(nb_get(g, j) - e) < 1e-15);
        assert_true(fabs(nb_get(gt, j) - t) < 1e-15);
        assert_true(fabs(nb_get(si, j) - v / (1 + exp(-v))) < 1e-15);
    }
    backward_ones(g);
    for (int j = 0; j < 5; j++) {
        const double v = nb_get(x, j);
        const double d = 0.5 * (1 + erf(v / sqrt(2))) + v * exp(-v * v / 2) / sqrt(2 * M_PI);
        assert_true(fabs(nb_get(x->grad, j) - d) < 1e-15);
    }
    /* far tails: finite, the right limits */
    nb_tensor *tails = f64(NB_SHAPE(4), V(-40, 40, -800, 800), false);
    nb_tensor *a = nb_gelu(tails), *b = nb_gelu_tanh(tails), *c = nb_silu(tails);
    EXPECT_VALS(a, 0, -0.0, 40, -0.0, 800);
    EXPECT_VALS(b, 0, -0.0, 40, -0.0, 800);
    EXPECT_VALS(c, 1e-15, -40 * exp(-40) / (1 + exp(-40)), 40, -0.0, 800);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ f32 accuracy */

/* Worst |f32 − f64| / max(|f64|, 1e-3) of y and of dx (upstream g) over n
 * inputs on [lo, hi), the f64 run on the f32-rounded inputs. */
typedef nb_tensor *(*unary_fn)(nb_tensor *);
static void f32_accuracy(unary_fn f, int64_t n, double lo, double hi, double *wy, double *wg) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *x32, *x64;
    NB_NO_GRAD {
        x32 = nb_cast(nb_rand(NB_F64, NB_SHAPE(n), lo, hi), NB_F32);
        x64 = nb_cast(x32, NB_F64);
    }
    nb_set_requires_grad(x32, true), nb_set_requires_grad(x64, true);
    nb_tensor *y32 = f(x32), *y64 = f(x64);
    nb_backward_with(y32, nb_ones(NB_F32, y32->shape));
    nb_backward_with(y64, nb_ones(NB_F64, y64->shape));
    *wy = *wg = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = nb_get(y64, i);
        *wy = fmax(*wy, fabs(nb_get(y32, i) - a) / fmax(fabs(a), 1e-3));
        a = nb_get(x64->grad, i);
        *wg = fmax(*wg, fabs(nb_get(x32->grad, i) - a) / fmax(fabs(a), 1e-3));
    }
    nb_scope_end(&s);
}
/* rows of 8 with a weight, so that an all-ones upstream gives dx != 0 */
static nb_tensor *ln_last(nb_tensor *x) {
    nb_tensor *w = nb_from_f64(NB_SHAPE(8), V(0.5, -1, 2, 0.25, 1.5, -0.75, 1, 3));
    NB_NO_GRAD { w = nb_cast(w, x->dtype); }
    return nb_layer_norm(nb_reshape(x, NB_SHAPE(x->numel / 8, 8)), 1, w, NULL, 1e-5);
}

static void f32_accuracy_all(void **state) {
    (void)state;
    static const struct {
        const char *name;
        unary_fn f;
        double lo, hi, bound;
    } cases[] = {
        {"gelu", nb_gelu, -6, 6, 5e-5},
        {"gelu_tanh", nb_gelu_tanh, -6, 6, 5e-5},
        {"silu", nb_silu, -6, 6, 5e-5},
        {"layer_norm", ln_last, -2, 2, 5e-5},
    };
    nb_seed(11);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double wy, wg;
        f32_accuracy(cases[c].f, 200000, cases[c].lo, cases[c].hi, &wy, &wg);
        printf("%-10s f32 vs f64 over 200000 inputs: y %.2e, dx %.2e (bound %.0e)\n", cases[c].name, wy, wg,
               cases[c].bound);
        assert_true(wy <= cases[c].bound);
        assert_true(wg <= cases[c].bound);
    }
}

/* f32 gelu on every ISA this CPU has (AVX-512: kernels/gelu_f32.c's own Φ;
 * else SLEEF's erfc): relative error of y and dx with no floor over the
 * whole range, the far negative tail included (where Φ is tiny: 1e-38 at
 * x = -13), against the f64 op on the same inputs; the special values. */
static void gelu_f32_every_isa(void **state) {
    (void)state;
    const char *isas[2] = {"avx512", "avx2"};
    const char *keep = nb_isa_name(nb_isa());
    for (int ii = 0; ii < 2; ii++) {
        if (!nb_isa_set_cap(isas[ii])) continue;
        nb_scope *s = nb_scope_begin();
        const int64_t n = 100000;
        nb_tensor *x32;
        NB_NO_GRAD { x32 = nb_cast(nb_rand(NB_F64, NB_SHAPE(n), -13, 8), NB_F32); }
        nb_tensor *x64 = nb_set_requires_grad(nb_cast(x32, NB_F64), true);
        nb_set_requires_grad(x32, true);
        nb_tensor *y32 = nb_gelu(x32), *y64 = nb_gelu(x64);
        nb_backward_with(y32, nb_ones(NB_F32, y32->shape));
        nb_backward_with(y64, nb_ones(NB_F64, y64->shape));
        double wy = 0, wg = 0;
        for (int64_t i = 0; i < n; i++) {
            const double a = nb_get(y64, i), d = nb_get(x64->grad, i);
            if (fabs(a) > 1e-36) wy = fmax(wy, fabs(nb_get(y32, i) - a) / fabs(a)); /* normal f32 results */
            if (fabs(d) > 1e-36) wg = fmax(wg, fabs(nb_get(x32->grad, i) - d) / fmax(fabs(d), 1e-3));
        }
        /* AVX-512: 3.5e-7 and 8e-7 measured; SLEEF's path rounds z = -x/sqrt(2) to f32 first,
         * which costs up to x^2 * 6e-8 relative in the tail (1e-5 at x = -13) */
        const double by = ii == 0 ? 2e-6 : 3e-5;
        printf("gelu f32 on %s: y rel %.2e (bound %.0e), dx %.2e over [-13, 8)\n", isas[ii], wy, by, wg);
        assert_true(wy <= by);
        assert_true(wg <= 5e-5);
        nb_tensor *sp = nb_from_f64(NB_SHAPE(5), (double[]){NAN, INFINITY, -INFINITY, 0.0, -0.0});
        nb_tensor *ys = nb_gelu(nb_cast(sp, NB_F32));
        assert_true(isnan(nb_get(ys, 0)));
        assert_true(nb_get(ys, 1) == INFINITY);
        assert_true(isnan(nb_get(ys, 2))); /* -inf * Phi(-inf) = -inf * 0, as the formula (and the f64 op) */
        assert_true(nb_get(ys, 3) == 0 && nb_get(ys, 4) == 0);
        nb_scope_end(&s);
    }
    nb_isa_set_cap(keep);
}

/* kernels/gelu_f32.c computes each path only on the lanes that need it
 * (the forward packs the |x| >= 1 lanes into dense vectors; the backward
 * skips the exp path on groups of lanes all inside |x| < 1): an element's
 * bits must not depend on its neighbours. Every element of a mixed array
 * (runs all inside, runs all outside, single outliers, NaN, ±∞, ±0, the
 * boundary ±1, over several 1024-element blocks and a partial vector) is
 * compared with the same element computed alone, forward (y, 2Φ) and
 * backward (new and accumulated, from 2Φ and without it); the backward
 * without 2Φ over the array equals the one with it. */
static void gelu_f32_lanes_alone(void **state) {
    (void)state;
    if (!nb_gelu_f32_fast()) {
        printf("gelu_f32_lanes_alone: no AVX-512 here, nothing to check\n");
        return;
    }
    enum { N = 3 * 1024 + 77 };
    static float x[N], y[N], t[N], g[N], gx[N], ga[N], gn[N], gz[N], gza[N];
    uint64_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        const double u = (double)(r >> 11) / 9007199254740992.0;
        const int kind = (i / 96) % 4; /* runs: small, mixed, large, small with an outlier */
        x[i] = (float)(kind == 0 ? 0.5 * (2 * u - 1) : kind == 1 ? 6 * (2 * u - 1) : kind == 2 ? 9 + 9 * u : 0.9 * u);
        if (kind == 3 && i % 37 == 0) x[i] = -3.5f;
        g[i] = (float)(1 - u);
        ga[i] = (float)(u - 0.25);
    }
    const float sp[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1.0f, -1.0f, 0.99999994f, -20.0f, -30.0f};
    for (int i = 0; i < (int)(sizeof sp / sizeof sp[0]); i++) x[(i * 733) % N] = sp[i];
    memcpy(gx, ga, sizeof gx);
    nb_gelu_fwd_f32(y, t, x, N);
    nb_gelu_bwd_f32(gn, g, x, t, N, false);
    nb_gelu_bwd_f32(gx, g, x, t, N, true);
    memcpy(gza, ga, sizeof gza);
    nb_gelu_bwd_f32(gz, g, x, NULL, N, false); /* 2Φ computed where needed */
    nb_gelu_bwd_f32(gza, g, x, NULL, N, true);
    assert_memory_equal(gz, gn, sizeof gz);
    assert_memory_equal(gza, gx, sizeof gza);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float y1, t1, gn1, gx1 = ga[i], gz1;
        nb_gelu_fwd_f32(&y1, &t1, x + i, 1);
        nb_gelu_bwd_f32(&gn1, g + i, x + i, &t1, 1, false);
        nb_gelu_bwd_f32(&gx1, g + i, x + i, &t1, 1, true);
        nb_gelu_bwd_f32(&gz1, g + i, x + i, NULL, 1, false);
        if (memcmp(&y1, y + i, 4) || memcmp(&t1, t + i, 4) || memcmp(&gn1, gn + i, 4) || memcmp(&gx1, gx + i, 4) ||
            memcmp(&gz1, gn + i, 4)) {
            if (bad++ < 5)
                printf("gelu lane %d x %.9g: alone y %.9g dx %.9g, in the array y %.9g dx %.9g\n", i, x[i], y1, gn1,
                       y[i], gn[i]);
        }
    }
    assert_int_equal(bad, 0);
}

/* gelu'(x) on |x| < 1 (kernels/gelu_f32.c's polynomial with the root of
 * gelu' factored out): relative error with no floor against the long double
 * formula, on a grid over [-1, 1) and on the 40001 floats around the root
 * x = -0.75179..., where a sum of Phi and x*phi in f32 would be off by 3e-8
 * absolute on results down to 1e-12 (a relative error up to 1e4). */
static void gelu_f32_deriv_inside(void **state) {
    (void)state;
    if (!nb_gelu_f32_fast()) {
        printf("gelu_f32_deriv_inside: no AVX-512 here, nothing to check\n");
        return;
    }
    enum { NG = 1 << 18, NR = 40001, N = NG + NR };
    static float x[N], g[N], gx[N];
    for (int i = 0; i < NG; i++) x[i] = -1.0f + 2.0f * (float)i / NG;
    float r = -0.7517915f;
    for (int i = 0; i < NR / 2; i++) r = nextafterf(r, -1.0f);
    for (int i = 0; i < NR; i++, r = nextafterf(r, 1.0f)) x[NG + i] = r;
    for (int i = 0; i < N; i++) g[i] = 1.0f;
    nb_gelu_bwd_f32(gx, g, x, NULL, N, false);
    double worst = 0, at = 0;
    for (int i = 0; i < N; i++) {
        const long double X = x[i];
        const long double d =
            0.5L * erfcl(-X / sqrtl(2.0L)) + X * expl(-X * X / 2) / sqrtl(2 * 3.14159265358979323846L);
        const double e = (double)fabsl((gx[i] - d) / d);
        if (e > worst) worst = e, at = x[i];
    }
    printf("gelu' f32 on |x| < 1: relative error %.2e (at %.9g; bound 3e-7)\n", worst, at);
    assert_true(worst <= 3e-7);
}

/* f32 layer_norm and rms_norm: the AVX-512 row kernels (kernels/norm_f32.c)
 * give the same bits as the generic ones (AVX2 and baseline), y and every
 * gradient, at a width with a tail (D = 100) and at the GPT's (128), and
 * with rows enough for backward's two halves (ops/norm_act.c), whose
 * chunks end in rows the 4-row kernel leaves to the one-row one. */
static void norm_f32_same_bits_every_isa(void **state) {
    (void)state;
    const char *isas[3] = {"avx512", "avx2", "scalar"};
    const char *keep = nb_isa_name(nb_isa());
    /* 1100: dw, db in two halves (summed in dx's pass; at 100 after it) */
    const int64_t Ds[4] = {100, 128, 128, 100}, Rs[4] = {37, 37, 1100, 1100};
    for (int di = 0; di < 4; di++)
        for (int rms = 0; rms < 2; rms++) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *res[3][4] = {{0}};
            int have = 0;
            for (int ii = 0; ii < 3; ii++) {
                if (!nb_isa_set_cap(isas[ii])) continue;
                nb_seed(5);
                nb_tensor *x = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(Rs[di], Ds[di]), 0.3, 2), true);
                nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(Ds[di]), 0.5, 1.5), true);
                nb_tensor *b = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(Ds[di]), -1, 1), true);
                nb_tensor *r = nb_randn(NB_F32, NB_SHAPE(Rs[di], Ds[di]), 0, 1);
                nb_tensor *y = rms ? nb_rms_norm(x, 1, w, 1e-5) : nb_layer_norm(x, 1, w, b, 1e-5);
                assert_int_equal(nb_backward(nb_sum_all(nb_mul(y, r))), NB_OK);
                res[ii][0] = y, res[ii][1] = x->grad, res[ii][2] = w->grad, res[ii][3] = rms ? w->grad : b->grad;
                have |= 1 << ii;
            }
            for (int ii = 1; ii < 3; ii++)
                if ((have & 1) && (have >> ii & 1))
                    for (int k = 0; k < 4; k++)
                        assert_memory_equal(res[0][k]->data, res[ii][k]->data,
                                            (size_t)res[0][k]->numel * sizeof(float));
            nb_scope_end(&s);
        }
    nb_isa_set_cap(keep);
}

/* ------------------------------------------------------------ threads */

/* layer_norm forward and every gradient on a (2000, 96) input: the same
 * bits on 1 thread and on 2 (rows split for y and dx, columns for dw, db). */
static void norm_threads_same_bits(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    nb_tensor *res[2][4];
    for (int run = 0; run < 2; run++) {
        nb_set_num_threads(run + 1);
        nb_seed(3);
        nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(2000, 96), -2, 2), true);
        nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(96), 0.5, 1.5), true);
        nb_tensor *b = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(96), -1, 1), true);
        nb_tensor *y = nb_layer_norm(x, 1, w, b, 1e-5);
        nb_tensor *seed = nb_rand(NB_F32, y->shape, -1, 1);
        nb_backward_with(y, seed);
        nb_tensor_free(seed);
        res[run][0] = nb_copy(y), res[run][1] = nb_copy(x->grad);
        res[run][2] = nb_copy(w->grad), res[run][3] = nb_copy(b->grad);
        nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b), nb_tensor_free(y);
    }
    for (int k = 0; k < 4; k++) {
        assert_int_equal(res[0][k]->numel, res[1][k]->numel);
        assert_memory_equal(res[0][k]->data, res[1][k]->data, (size_t)res[0][k]->numel * sizeof(float));
        nb_tensor_free(res[0][k]), nb_tensor_free(res[1][k]);
    }
    nb_set_num_threads(saved);
}

/* affine's weight gradient over many rows (ops/matmul.c: two halves of
 * the rows, summed apart, then added): the same bits on 1 and 2 threads,
 * for a new gradient and one added to (a second backward), f32 and f64,
 * and within rounding of the F64 product (rows 3001: odd halves); db the
 * same with w frozen (summed by a loop, not in dW's packing). */
static void affine_long_rows(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    for (int f64 = 0; f64 < 2; f64++) {
        const nb_dtype dt = f64 ? NB_F64 : NB_F32;
        const size_t es = f64 ? sizeof(double) : sizeof(float);
        nb_tensor *gw[2][2], *gb[2][2], *gx[2][2], *ref = NULL, *refb = NULL;
        for (int run = 0; run < 2; run++) {
            nb_set_num_threads(run + 1);
            nb_scope *s = nb_scope_begin();
            nb_seed(9);
            nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(3001, 64), -1, 1), true);
            nb_tensor *w = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(64, 64), -1, 1), true);
            nb_tensor *b = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(64), -1, 1), true);
            nb_tensor *r = nb_rand(dt, NB_SHAPE(3001, 64), -1, 1);
            for (int pass = 0; pass < 2; pass++) {
                assert_int_equal(nb_backward(nb_sum_all(nb_mul(nb_affine(x, w, b), r))), NB_OK);
                gw[run][pass] = nb_copy_persistent(w->grad);
                gb[run][pass] = nb_copy_persistent(b->grad);
                gx[run][pass] = nb_copy_persistent(x->grad);
            }
            if (run == 0) { /* dW = rᵀ·x in F64, one plain sum per element */
                ref = nb_zeros_persistent(NB_F64, NB_SHAPE(64, 64));
                refb = nb_zeros_persistent(NB_F64, NB_SHAPE(64));
                for (int64_t k = 0; k < 3001; k++)
                    for (int64_t o = 0; o < 64; o++) nb_f64(refb)[o] += nb_get(r, k * 64 + o);
                for (int64_t o = 0; o < 64; o++)
                    for (int64_t i = 0; i < 64; i++) {
                        double acc = 0;
                        for (int64_t k = 0; k < 3001; k++) acc += nb_get(r, k * 64 + o) * nb_get(x, k * 64 + i);
                        nb_f64(ref)[o * 64 + i] = acc;
                    }
            }
            nb_scope_end(&s);
        }
        double err = 0;
        for (int64_t i = 0; i < ref->numel; i++)
            err = fmax(err, fabs(nb_get(gw[0][0], i) - nb_f64(ref)[i]) / fmax(fabs(nb_f64(ref)[i]), 1));
        for (int64_t i = 0; i < refb->numel; i++)
            err = fmax(err, fabs(nb_get(gb[0][0], i) - nb_f64(refb)[i]) / fmax(fabs(nb_f64(refb)[i]), 1));
        printf("affine dW, db over 3001 rows, %s: %.1e from the F64 sum\n", f64 ? "f64" : "f32", err);
        assert_true(err < (f64 ? 1e-13 : 1e-4)); /* 3001-term sums */
        for (int pass = 0; pass < 2; pass++) {
            assert_memory_equal(gw[0][pass]->data, gw[1][pass]->data, (size_t)ref->numel * es);
            assert_memory_equal(gb[0][pass]->data, gb[1][pass]->data, (size_t)refb->numel * es);
            assert_memory_equal(gx[0][pass]->data, gx[1][pass]->data, (size_t)gx[0][pass]->numel * es);
            nb_tensor_free(gx[0][pass]), nb_tensor_free(gx[1][pass]);
            nb_tensor_free(gw[0][pass]), nb_tensor_free(gw[1][pass]);
        }
        /* with w frozen, db is summed by its own loop, not in dW's packing:
         * the same bits as the first pass above (1 and 2 threads) */
        for (int run = 0; run < 2; run++) {
            nb_set_num_threads(run + 1);
            nb_scope *s = nb_scope_begin();
            nb_seed(9);
            nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(3001, 64), -1, 1), true);
            nb_tensor *w = nb_rand(dt, NB_SHAPE(64, 64), -1, 1);
            nb_tensor *b = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(64), -1, 1), true);
            nb_tensor *r = nb_rand(dt, NB_SHAPE(3001, 64), -1, 1);
            assert_int_equal(nb_backward(nb_sum_all(nb_mul(nb_affine(x, w, b), r))), NB_OK);
            assert_memory_equal(b->grad->data, gb[0][0]->data, (size_t)refb->numel * es);
            nb_scope_end(&s);
        }
        for (int pass = 0; pass < 2; pass++) {
            nb_tensor_free(gb[0][pass]), nb_tensor_free(gb[1][pass]);
        }
        nb_tensor_free(ref), nb_tensor_free(refb);
    }
    nb_set_num_threads(saved);
}

/* affine_add(x, w, b, r) has the bits of add(r, affine(x, w, b)): output
 * and every gradient (r's is dy), through each GEMM path: the direct one
 * (small), the packed one (large), two K blocks (in 300 > KC 256), edge
 * tiles (37 rows, 65 outputs), no bias, 1 and 2 threads, AVX-512 and AVX2
 * kernels and the reference GEMM; f32 and f64. */
static void affine_add_same_bits(void **state) {
    (void)state;
    static const struct {
        int64_t rows, in, out;
        bool bias;
    } cases[] = {
        {5, 7, 3, true}, {37, 40, 65, true}, {300, 128, 96, true}, {37, 300, 65, false}, {2048, 128, 64, true}};
    static const char *isas[3] = {"avx512", "avx2", "ref"};
    const int saved = nb_get_num_threads();
    const char *keep = nb_isa_name(nb_isa());
    int checked = 0;
    for (int ii = 0; ii < 3; ii++) {
        if (ii < 2 && !nb_isa_set_cap(isas[ii])) continue;
        if (ii == 2) nb_gemm_set_backend(NB_GEMM_REF);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int f64 = 0; f64 < 2; f64++)
                for (int nt = 1; nt <= 2; nt++) {
                    nb_set_num_threads(nt);
                    const nb_dtype dt = f64 ? NB_F64 : NB_F32;
                    nb_scope *s = nb_scope_begin();
                    nb_seed(40 + c);
                    nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(cases[c].rows, cases[c].in), -1, 1), true);
                    nb_tensor *w = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(cases[c].out, cases[c].in), -1, 1), true);
                    nb_tensor *b =
                        cases[c].bias ? nb_set_requires_grad(nb_rand(dt, NB_SHAPE(cases[c].out), -1, 1), true) : NULL;
                    nb_tensor *r =
                        nb_set_requires_grad(nb_rand(dt, NB_SHAPE(cases[c].rows, cases[c].out), -1, 1), true);
                    nb_tensor *up = nb_rand(dt, NB_SHAPE(cases[c].rows, cases[c].out), -1, 1);
                    nb_tensor *got[2][5];
                    for (int fused = 0; fused < 2; fused++) {
                        nb_tensor *ins[4] = {x, w, r, b};
                        for (int i = 0; i < 4; i++)
                            if (ins[i]) nb_tensor_zero_grad(ins[i]);
                        nb_tensor *y = fused ? nb_affine_add(x, w, b, r) : nb_add(r, nb_affine(x, w, b));
                        assert_non_null(y);
                        assert_int_equal(nb_backward_with(y, up), NB_OK);
                        got[fused][0] = nb_copy(y);
                        for (int i = 0; i < 4; i++) got[fused][1 + i] = ins[i] ? nb_copy(ins[i]->grad) : NULL;
                    }
                    for (int k = 0; k < 5; k++) {
                        if (!got[0][k]) continue;
                        assert_int_equal(got[0][k]->numel, got[1][k]->numel);
                        if (memcmp(got[0][k]->data, got[1][k]->data, (size_t)got[0][k]->numel * nb_dtype_size(dt)) !=
                            0) {
                            printf("affine_add vs add(affine): %s, case %zu, %s, %d threads: %s differs\n", isas[ii], c,
                                   f64 ? "f64" : "f32", nt, (const char *[]){"y", "dx", "dw", "dr", "db"}[k]);
                            fail();
                        }
                    }
                    checked++;
                    nb_scope_end(&s);
                }
        if (ii == 2) nb_gemm_set_backend(NB_GEMM_AUTO);
        nb_isa_set_cap(keep);
    }
    printf("affine_add: %d runs bit-identical to add(r, affine(x, w, b))\n", checked);
    assert_true(checked >= 20);
    nb_set_num_threads(saved);
}

/* ------------------------------------------------------------ bad input */

static void bad_input(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_zeros(NB_F64, NB_SHAPE(2, 3, 4));
    nb_tensor *w4 = nb_zeros(NB_F64, NB_SHAPE(4)), *w3 = nb_zeros(NB_F64, NB_SHAPE(3));
    EXPECT_ERR(nb_layer_norm(x, 1, w3, NULL, 1e-5), NB_ERR_SHAPE, "layer_norm", "weight is (3)", "normalized shape (4)",
               "x is (2,3,4)");
    EXPECT_ERR(nb_layer_norm(x, 2, w4, NULL, 1e-5), NB_ERR_SHAPE, "layer_norm", "weight is (4)",
               "normalized shape (3,4)");
    EXPECT_ERR(nb_layer_norm(x, 1, w4, w3, 1e-5), NB_ERR_SHAPE, "layer_norm", "bias is (3)");
    EXPECT_ERR(nb_layer_norm(x, 0, NULL, NULL, 1e-5), NB_ERR_ARG, "layer_norm", "normalized_ndim 0", "[1, 3]");
    EXPECT_ERR(nb_layer_norm(x, 4, NULL, NULL, 1e-5), NB_ERR_ARG, "layer_norm", "normalized_ndim 4");
    EXPECT_ERR(nb_layer_norm(x, 1, NULL, NULL, -1), NB_ERR_ARG, "layer_norm", "eps");
    EXPECT_ERR(nb_layer_norm(x, 1, NULL, NULL, NAN), NB_ERR_ARG, "layer_norm", "eps");
    EXPECT_ERR(nb_layer_norm(x, 1, nb_zeros(NB_F32, NB_SHAPE(4)), NULL, 1e-5), NB_ERR_DTYPE, "layer_norm",
               "x is (2,3,4) f64", "weight is (4) f32");
    EXPECT_ERR(nb_layer_norm(nb_zeros(NB_I64, NB_SHAPE(2, 2)), 1, NULL, NULL, 1e-5), NB_ERR_DTYPE, "layer_norm",
               "x is (2,2) i64");
    EXPECT_ERR(nb_rms_norm(x, 1, w3, 1e-5), NB_ERR_SHAPE, "rms_norm", "weight is (3)", "x is (2,3,4)");
    EXPECT_ERR(nb_rms_norm(x, 9, NULL, 1e-5), NB_ERR_ARG, "rms_norm", "normalized_ndim 9");
    nb_tensor *xi = nb_zeros(NB_I64, NB_SHAPE(3));
    EXPECT_ERR(nb_gelu(xi), NB_ERR_DTYPE, "gelu", "x is (3) i64");
    EXPECT_ERR(nb_gelu_tanh(xi), NB_ERR_DTYPE, "gelu_tanh", "x is (3) i64");
    EXPECT_ERR(nb_silu(xi), NB_ERR_DTYPE, "silu", "x is (3) i64");
    /* NULL in, NULL out, nothing new reported */
    tu_err_reset();
    assert_null(nb_layer_norm(NULL, 1, NULL, NULL, 1e-5));
    assert_null(nb_gelu(NULL));
    assert_int_equal(tu_err.count, 0);
    /* an empty batch: no rows, no error */
    nb_tensor *e = nb_layer_norm(nb_zeros(NB_F64, NB_SHAPE(0, 4)), 1, w4, NULL, 1e-5);
    assert_non_null(e);
    assert_int_equal(e->numel, 0);
    nb_scope_end(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(layer_norm_values, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(rms_norm_values, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(activation_values, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(f32_accuracy_all, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(gelu_f32_every_isa, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(gelu_f32_lanes_alone, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(gelu_f32_deriv_inside, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(norm_f32_same_bits_every_isa, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(norm_threads_same_bits, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(affine_long_rows, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(affine_add_same_bits, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(bad_input, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
