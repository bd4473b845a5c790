/* The special-cased conv/pool kernels against the definitions:
 *   - max_pool2d 2×2 stride 2 (its own kernels: one byte per winner, selects)
 *     against a naive first-max-wins loop, exactly (values and gradients),
 *     with ties, NaNs, signed zeros, odd sizes, a row wider than the no-grad
 *     path's 256-output pieces, F32 and F64, recorded and not;
 *   - conv2d stride 1 (the padded-width path; dW from a row-major im2row in
 *     pieces of ≤ 256 output positions, kernels wider than 8 on their own
 *     branch) against a naive direct convolution (F64 1e-12, F32 1e-4);
 *   - the AVX-512 direct kernels (forward, dx, the three dW kernels, the
 *     one-pass backward) against the same definition, on every gradient
 *     combination (x, w, b needing grad or not), and the bias gradient the
 *     same bits on the direct and the im2col + GEMM paths;
 *   - the same path split over 2 threads against 1 thread.
 * test_ops_conv covers the LeNet geometries; test_registry gradchecks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "nabla/nabla.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"

/* ------------------------------------------------------------ max_pool2d 2×2 / 2 */

static bool same(double a, double b) { return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b)); }

/* The definition: the flat index of the first maximum of window (i, j) of
 * plane pl (row-major scan; a NaN wins over any number). */
static int64_t winner(const nb_tensor *x, int64_t pl, int64_t i, int64_t j, int64_t H, int64_t W) {
    int64_t at = -1;
    double best = 0;
    for (int p = 0; p < 2; p++)
        for (int q = 0; q < 2; q++) {
            const int64_t k = (pl * H + 2 * i + p) * W + 2 * j + q;
            const double v = nb_get(x, k);
            if (at < 0 || v > best || (isnan(v) && !isnan(best))) best = v, at = k;
        }
    return at;
}

static void check_pool2(nb_dtype dt, int64_t N, int64_t C, int64_t H, int64_t W, bool record) {
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_zeros(dt, NB_SHAPE(N, C, H, W));
    const int64_t Ho = H / 2, Wo = W / 2;
    for (int64_t i = 0; i < x->numel; i++) { /* few distinct values: many ties */
        const uint64_t r = nb_rand_u64() % 64;
        double v = (double)(r % 3);
        if (r == 63) v = NAN;
        else if (r == 62) v = -0.0;
        else if (r == 61) v = 0.0;
        else if (r < 6) v = -1.0 - (double)r;
        nb_set(x, i, v);
    }
    nb_set_requires_grad(x, record);
    nb_tensor *y = nb_max_pool2d(x, 2, 2, 2, 2, 0, 0);
    assert_non_null(y);
    nb_tensor *seed = nb_rand(dt, y->shape, -1, 1);
    if (record) assert_int_equal(nb_backward_with(y, seed), NB_OK);
    for (int64_t pl = 0; pl < N * C; pl++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++) {
                const int64_t at = winner(x, pl, i, j, H, W);
                const double best = nb_get(x, at), got = nb_get(y, (pl * Ho + i) * Wo + j);
                if (!same(got, best)) {
                    print_error("plane %lld (%lld,%lld): got %g, want %g\n", (long long)pl, (long long)i, (long long)j,
                                got, best);
                    fail();
                }
            }
    if (record) { /* the gradient: each output's seed at its window's winner, nothing elsewhere */
        nb_tensor *want = nb_zeros(dt, x->shape);
        for (int64_t pl = 0; pl < N * C; pl++)
            for (int64_t i = 0; i < Ho; i++)
                for (int64_t j = 0; j < Wo; j++) {
                    const int64_t at = winner(x, pl, i, j, H, W);
                    nb_set(want, at, nb_get(want, at) + nb_get(seed, (pl * Ho + i) * Wo + j));
                }
        for (int64_t i = 0; i < x->numel; i++)
            if (nb_get(x->grad, i) != nb_get(want, i)) {
                print_error("grad %lld: got %g, want %g\n", (long long)i, nb_get(x->grad, i), nb_get(want, i));
                fail();
            }
    }
    nb_scope_end(&sc);
}

static void pool2_matches_definition(void **state) {
    (void)state;
    nb_seed(7);
    for (int r = 0; r < 2; r++) {
        const bool rec = r == 0;
        check_pool2(NB_F32, 2, 3, 8, 8, rec);
        check_pool2(NB_F64, 2, 3, 8, 8, rec);
        check_pool2(NB_F32, 1, 2, 7, 9, rec); /* odd: the last row and column belong to no window */
        check_pool2(NB_F64, 3, 1, 5, 3, rec);
        check_pool2(NB_F32, 1, 1, 4, 602, rec); /* Wo = 301: more than one 256-output piece */
        check_pool2(NB_F64, 1, 2, 2, 2, rec);
    }
}

/* ------------------------------------------------------------ conv2d, stride 1 */

typedef struct {
    int64_t N, C, H, W, O, kh, kw, ph, pw, Ho, Wo;
} geom;

static double naive_at(const nb_tensor *x, int64_t n, int64_t c, int64_t h, int64_t w, const geom *g) {
    return h < 0 || h >= g->H || w < 0 || w >= g->W ? 0.0 : nb_get(x, ((n * g->C + c) * g->H + h) * g->W + w);
}

static void check_conv_w(nb_dtype dt, geom g, double tol, bool with_bias, bool xgrad, bool wgrad) {
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(g.N, g.C, g.H, g.W), -1, 1), xgrad);
    nb_tensor *w = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(g.O, g.C, g.kh, g.kw), -1, 1), wgrad);
    nb_tensor *b = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(g.O), -1, 1), true);
    for (int64_t i = 0; !with_bias && i < g.O; i++) nb_set(b, i, 0.0); /* the reference adds b: zero */
    const nb_conv2d_opts o = {{1, 1}, {(int)g.ph, (int)g.pw}, {1, 1}, NB_PAD_EXPLICIT, 1};
    nb_tensor *y = nb_conv2d(x, w, with_bias ? b : NULL, &o);
    assert_non_null(y);
    assert_int_equal(y->shape.d[2], g.Ho);
    assert_int_equal(y->shape.d[3], g.Wo);
    nb_tensor *gy = nb_rand(dt, y->shape, -1, 1);
    assert_int_equal(nb_backward_with(y, gy), NB_OK);
    double ey = 0, ex = 0, ew = 0;
    nb_tensor *gx = nb_zeros(NB_F64, x->shape), *gw = nb_zeros(NB_F64, w->shape);
    double gbv[80] = {0};
    assert_true(g.O <= 80);
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t oc = 0; oc < g.O; oc++)
            for (int64_t i = 0; i < g.Ho; i++)
                for (int64_t j = 0; j < g.Wo; j++) {
                    const int64_t yi = ((n * g.O + oc) * g.Ho + i) * g.Wo + j;
                    double s = nb_get(b, oc);
                    const double gv = nb_get(gy, yi);
                    gbv[oc] += gv;
                    for (int64_t c = 0; c < g.C; c++)
                        for (int64_t p = 0; p < g.kh; p++)
                            for (int64_t q = 0; q < g.kw; q++) {
                                const int64_t h = i - g.ph + p, ww = j - g.pw + q;
                                const int64_t wi = ((oc * g.C + c) * g.kh + p) * g.kw + q;
                                const double xv = naive_at(x, n, c, h, ww, &g);
                                s += nb_get(w, wi) * xv;
                                nb_set(gw, wi, nb_get(gw, wi) + gv * xv);
                                if (h >= 0 && h < g.H && ww >= 0 && ww < g.W) {
                                    const int64_t xi = ((n * g.C + c) * g.H + h) * g.W + ww;
                                    nb_set(gx, xi, nb_get(gx, xi) + gv * nb_get(w, wi));
                                }
                            }
                    ey = fmax(ey, fabs(nb_get(y, yi) - s) / (1 + fabs(s)));
                }
    for (int64_t i = 0; xgrad && i < x->numel; i++)
        ex = fmax(ex, fabs(nb_get(x->grad, i) - nb_get(gx, i)) / (1 + fabs(nb_get(gx, i))));
    if (!xgrad) assert_null(x->grad);
    double eb = 0;
    for (int64_t i = 0; with_bias && i < g.O; i++)
        eb = fmax(eb, fabs(nb_get(b->grad, i) - gbv[i]) / (1 + fabs(gbv[i])));
    ew = fmax(ew, eb);
    if (!wgrad) assert_null(w->grad);
    for (int64_t i = 0; wgrad && i < w->numel; i++)
        ew = fmax(ew, fabs(nb_get(w->grad, i) - nb_get(gw, i)) / (1 + fabs(nb_get(gw, i))));
    if (!(ey <= tol && ex <= tol && ew <= tol)) {
        print_error("conv %lldx%lld on %lldx%lld (C %lld, O %lld): y %.3g, dx %.3g, dw %.3g (tol %.3g)\n",
                    (long long)g.kh, (long long)g.kw, (long long)g.H, (long long)g.W, (long long)g.C, (long long)g.O,
                    ey, ex, ew, tol);
        fail();
    }
    nb_scope_end(&sc);
}

static void check_conv_ex(nb_dtype dt, geom g, double tol, bool with_bias, bool xgrad) {
    check_conv_w(dt, g, tol, with_bias, xgrad, true);
}

static void check_conv(nb_dtype dt, geom g, double tol) { check_conv_ex(dt, g, tol, true, true); }

static void conv_stride1_matches_definition(void **state) {
    (void)state;
    nb_seed(11);
    const geom gs[] = {
        {2, 2, 6, 20, 3, 2, 9, 0, 4, 5, 20},   /* kw 9 > 8: the general run copy */
        {1, 3, 5, 13, 2, 3, 10, 1, 0, 5, 4},   /* kw 10, no width padding */
        {2, 1, 20, 20, 4, 3, 3, 1, 1, 20, 20}, /* P = 400: two pieces of 200 */
        {1, 2, 17, 31, 3, 5, 8, 2, 3, 17, 30}, /* kw 8 exactly, P = 510: two pieces */
        {3, 2, 4, 4, 2, 1, 3, 0, 1, 4, 4},     /* 1×3 */
    };
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
        check_conv(NB_F64, gs[i], 1e-12);
        check_conv(NB_F32, gs[i], 1e-4);
    }
}

/* Shapes for the AVX-512 direct kernels (kernels/conv_direct.c) and their
 * edges: dW with lanes over output channels (O a multiple of 16 for f32, of 8
 * for f64: 1, 2 or 4 vectors a tile; K not a multiple of the tile), over
 * output columns (other O: kw ≤ 6 by shifts of one row load, gout rows
 * padded, channel tails of the 4- and 8-channel tiles; kw > 6 per tap,
 * K % 4..6 remainders; several images a call),
 * rows wider than a vector (masked tails), Wo = 1, padding > k − 1 (dx on
 * the fallback path), batch of 1, no bias, x needing no grad. Each runs on
 * the CPU's best ISA and again with the GEMM ISA capped to AVX2 (the im2col
 * + GEMM paths), both against the naive definition. */
static void conv_direct_kernels_match_definition(void **state) {
    (void)state;
    nb_seed(13);
    const geom gs[] = {
        {3, 3, 9, 11, 16, 3, 3, 1, 1, 9, 11}, /* O 16: f32 1 vector of channels, f64 2 */
        {2, 2, 7, 19, 32, 2, 3, 0, 1, 6, 19}, /* O 32, Wo 19 > 16: masked tail vector */
        {1, 3, 6, 6, 64, 3, 3, 1, 1, 6, 6},   /* O 64: 4 vectors a tile; batch of 1 */
        {5, 2, 8, 5, 8, 3, 2, 2, 1, 10, 6},   /* O 8 (f32: lanes over columns); pad = k − 1, the most for direct dx */
        {6, 1, 6, 34, 3, 5, 5, 2, 2, 6, 34},  /* O 3, K 25 (tiles of 5), Wo 34: 3 vectors a row; 6 images */
        {2, 3, 5, 3, 5, 2, 3, 3, 1, 10, 3},   /* ph 3 > kh − 1: dx on the fallback path; K 18 */
        {3, 2, 4, 1, 7, 3, 1, 1, 0, 4, 1},    /* Wo 1 */
        {5, 2, 7, 22, 10, 2, 6, 1, 2, 8, 21}, /* dW by row shifts: kw 6 (4 channels a tile: tail of 2), Wo 21 */
        {2, 3, 5, 17, 12, 3, 3, 1, 1, 5, 17}, /* kw 3: 8 channels a tile, tail of 4; Wo 17: a 1-lane tail */
    };
    const char *isas[2] = {"avx512", "avx2"};
    const char *keep = nb_isa_name(nb_isa());
    for (int ii = 0; ii < 2; ii++) {
        if (!nb_isa_set_cap(isas[ii])) continue;
        for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++)
            for (int v = 0; v < 5; v++) { /* all grads; no bias; x needs no grad; w needs none; only b */
                check_conv_w(NB_F64, gs[i], 1e-12, v != 1, v != 2 && v != 4, v < 3);
                check_conv_w(NB_F32, gs[i], 1e-4, v != 1, v != 2 && v != 4, v < 3);
            }
    }
    nb_isa_set_cap(keep);
}

/* The bias gradient is the same bits on the direct (AVX-512) path, which
 * sums several channels at once, as on the im2col + GEMM path (channel tails
 * of the 8-channel blocks, P with and without a tail of 8). */
static void conv_bias_grad_same_bits_on_every_path(void **state) {
    (void)state;
    const geom gs[] = {
        {3, 2, 5, 7, 3, 3, 3, 1, 1, 5, 7},  /* O 3, P 35 */
        {2, 1, 8, 8, 12, 3, 3, 1, 1, 8, 8}, /* O 12: a block of 8 and one of 4; P 64 */
        {2, 2, 6, 5, 17, 2, 2, 0, 1, 5, 6}, /* O 17, P 30 */
    };
    const char *keep = nb_isa_name(nb_isa());
    for (int dti = 0; dti < 2; dti++)
        for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
            const nb_dtype dt = dti ? NB_F64 : NB_F32;
            const geom g = gs[i];
            nb_scope *sc = nb_scope_begin();
            nb_seed(21 + i);
            nb_tensor *x = nb_rand(dt, NB_SHAPE(g.N, g.C, g.H, g.W), -1, 1);
            nb_tensor *w = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(g.O, g.C, g.kh, g.kw), -1, 1), true);
            nb_tensor *gy = nb_rand(dt, NB_SHAPE(g.N, g.O, g.Ho, g.Wo), -1, 1);
            const nb_conv2d_opts o = {{1, 1}, {(int)g.ph, (int)g.pw}, {1, 1}, NB_PAD_EXPLICIT, 1};
            nb_tensor *db[2] = {NULL, NULL};
            const char *isas[2] = {"avx512", "avx2"};
            for (int ii = 0; ii < 2; ii++) {
                if (!nb_isa_set_cap(isas[ii])) continue;
                nb_tensor *b = nb_set_requires_grad(nb_zeros(dt, NB_SHAPE(g.O)), true);
                nb_tensor *y = nb_conv2d(x, w, b, &o);
                assert_non_null(y);
                assert_int_equal(nb_backward_with(y, gy), NB_OK);
                db[ii] = b->grad;
            }
            for (int64_t k = 0; db[0] && db[1] && k < g.O; k++) assert_true(nb_get(db[0], k) == nb_get(db[1], k));
            nb_scope_end(&sc);
        }
    nb_isa_set_cap(keep);
}

/* Big enough calls split the images between threads (OpenMP, single-threaded
 * GEMMs inside): y and dx are the same bits as on one thread, dW (one
 * accumulator per thread, summed in order) agrees to rounding and is the
 * same bits run to run. */
static void conv_threads_match_one_thread(void **state) {
    (void)state;
    const int keep = nb_get_num_threads();
    for (int dti = 0; dti < 2; dti++) {
        const nb_dtype dt = dti ? NB_F64 : NB_F32;
        nb_scope *sc = nb_scope_begin();
        nb_seed(5);
        nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(13, 8, 14, 14), -1, 1), true);
        nb_tensor *w = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(16, 8, 5, 5), -1, 1), true);
        nb_tensor *b = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(16), -1, 1), true);
        const nb_conv2d_opts o = {{1, 1}, {2, 2}, {1, 1}, NB_PAD_EXPLICIT, 1};
        nb_tensor *res[3][4];
        const int threads[3] = {1, 2, 2};
        for (int r = 0; r < 3; r++) {
            nb_set_num_threads(threads[r]);
            nb_tensor_zero_grad(x);
            nb_tensor_zero_grad(w);
            nb_tensor_zero_grad(b);
            nb_tensor *y = nb_conv2d(x, w, b, &o);
            assert_non_null(y);
            nb_seed(9);
            assert_int_equal(nb_backward_with(y, nb_rand(dt, y->shape, -1, 1)), NB_OK);
            res[r][0] = y;
            res[r][1] = nb_copy(x->grad);
            res[r][2] = nb_copy(w->grad);
            res[r][3] = nb_copy(b->grad);
        }
        nb_set_num_threads(keep);
        for (int k = 0; k < 4; k++)
            for (int64_t i = 0; i < res[0][k]->numel; i++) {
                const double a = nb_get(res[0][k], i), t2 = nb_get(res[1][k], i), t3 = nb_get(res[2][k], i);
                assert_true(t2 == t3); /* run to run */
                /* y and dx are the same bits as on one thread when both use the
                 * built-in GEMM (the AVX-512 default); on AVX2 CPUs one thread
                 * uses OpenBLAS and the threaded path the built-in GEMM (never
                 * BLAS inside an OpenMP region), so they agree within rounding.
                 * dW sums per-thread accumulators: always within rounding. */
                const double tol = k == 2 ? (dti ? 1e-12 : 1e-4) : (dti ? 1e-13 : 1e-5);
                assert_true(fabs(a - t2) <= tol * (1 + fabs(a)));
            }
        nb_scope_end(&sc);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool2_matches_definition),
        cmocka_unit_test(conv_stride1_matches_definition),
        cmocka_unit_test(conv_direct_kernels_match_definition),
        cmocka_unit_test(conv_bias_grad_same_bits_on_every_path),
        cmocka_unit_test(conv_threads_match_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
