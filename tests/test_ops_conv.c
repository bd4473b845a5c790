/* Convolution and pooling: the lecture's 5×5 example, the output-size
 * formula, SAME/VALID shapes, im2col+GEMM against a naive direct convolution
 * (forward and all three gradients, F64, 1e-12), the im2col/col2im kernels
 * against their reference loops, max-pool routing (ties, padding, overlapping
 * windows accumulate), avg/global pooling values, memory outside a scope,
 * and a bad-input case for every rule (status and message). The registry
 * gradcheck (test_registry) and the PyTorch fixtures (test_reference) cover
 * the rest. */
#include "test_util.h"
#include "kernels/im2col.h"

/* ------------------------------------------------------------ helpers */

static nb_tensor *leaf(nb_dtype dt, nb_shape s, const double *v) {
    nb_tensor *t = nb_from_f64(s, v);
    if (dt == NB_F32) t = nb_cast(t, NB_F32);
    return nb_set_requires_grad(t, true);
}

/* ------------------------------------------------------------ naive convolution (the definition) */

typedef struct {
    int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo;
} geom;

/* y[n,o,i,j] = b[o] + Σ x[n,c,i·sh−ph+p·dh, j·sw−pw+q·dw] w[o,c,p,q]; ph/pw = padding before */
static void naive_fwd(double *y, const double *x, const double *w, const double *b, const geom *g) {
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < g->O; o++)
            for (int64_t i = 0; i < g->Ho; i++)
                for (int64_t j = 0; j < g->Wo; j++) {
                    double s = b ? b[o] : 0;
                    for (int64_t c = 0; c < g->C; c++)
                        for (int64_t p = 0; p < g->kh; p++)
                            for (int64_t q = 0; q < g->kw; q++) {
                                int64_t ih = i * g->sh - g->ph + p * g->dh, iw = j * g->sw - g->pw + q * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                s += x[((n * g->C + c) * g->H + ih) * g->W + iw] *
                                    w[((o * g->C + c) * g->kh + p) * g->kw + q];
                            }
                    y[((n * g->O + o) * g->Ho + i) * g->Wo + j] = s;
                }
}

static void naive_bwd(double *gx, double *gw, double *gb, const double *gy, const double *x, const double *w,
                      const geom *g) {
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < g->O; o++)
            for (int64_t i = 0; i < g->Ho; i++)
                for (int64_t j = 0; j < g->Wo; j++) {
                    const double gv = gy[((n * g->O + o) * g->Ho + i) * g->Wo + j];
                    gb[o] += gv;
                    for (int64_t c = 0; c < g->C; c++)
                        for (int64_t p = 0; p < g->kh; p++)
                            for (int64_t q = 0; q < g->kw; q++) {
                                int64_t ih = i * g->sh - g->ph + p * g->dh, iw = j * g->sw - g->pw + q * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                int64_t xi = ((n * g->C + c) * g->H + ih) * g->W + iw;
                                int64_t wi = ((o * g->C + c) * g->kh + p) * g->kw + q;
                                gx[xi] += gv * w[wi];
                                gw[wi] += gv * x[xi];
                            }
                }
}

static double max_rel_diff(const double *a, const double *b, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1.0, fmax(fabs(a[i]), fabs(b[i])));
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

/* ------------------------------------------------------------ the lecture's example */

static const double lec_x[25] = {3, 3, 2, 1, 0, 0, 0, 1, 3, 1, 3, 1, 2, 2, 3, 2, 0, 0, 2, 2, 2, 0, 0, 0, 1};
static const double lec_k[9] = {0, 1, 2, 2, 2, 0, 0, 1, 2};

static void lecture_5x5(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        const nb_dtype dt = d ? NB_F64 : NB_F32;
        nb_scope *sc = nb_scope_begin();
        nb_tensor *x = leaf(dt, NB_SHAPE(1, 1, 5, 5), lec_x), *k = leaf(dt, NB_SHAPE(1, 1, 3, 3), lec_k);
        nb_tensor *y = nb_conv2d(x, k, NULL, NULL);
        expect_shape(y, NB_SHAPE(1, 1, 3, 3));
        const double want[9] = {12, 12, 17, 10, 17, 19, 9, 6, 14};
        for (int i = 0; i < 9; i++) assert_true(nb_get(y, i) == want[i]); /* exact: small integers */
        /* d(sum y)/dk[p][q] = sum of the 3×3 block of x at (p, q); d/dx = how many windows
         * cover x, weighted by the kernel (the full correlation of ones with k). */
        assert_int_equal(nb_backward(nb_sum(y, NULL, 0, false)), NB_OK);
        for (int p = 0; p < 3; p++)
            for (int q = 0; q < 3; q++) {
                double s = 0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) s += lec_x[(p + i) * 5 + q + j];
                assert_true(nb_get(k->grad, p * 3 + q) == s);
            }
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 5; c++) {
                double s = 0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                        if (r - i >= 0 && r - i < 3 && c - j >= 0 && c - j < 3) s += lec_k[i * 3 + j];
                assert_true(nb_get(x->grad, r * 5 + c) == s);
            }
        /* padding 1 keeps 5×5 (the same example with a zero border) */
        nb_conv2d_opts o = NB_CONV2D_DEFAULT;
        o.pad[0] = o.pad[1] = 1;
        nb_tensor *yp = nb_conv2d(x, k, NULL, &o);
        expect_shape(yp, NB_SHAPE(1, 1, 5, 5));
        assert_true(nb_get(yp, 1 * 5 + 1) == 12 && nb_get(yp, 3 * 5 + 3) == 14);
        /* stride 2 keeps the corners of the 3×3 result */
        o = NB_CONV2D_DEFAULT;
        o.stride[0] = o.stride[1] = 2;
        EXPECT(nb_conv2d(x, k, NULL, &o), 12, 17, 9, 14);
        /* a bias adds per output channel */
        nb_tensor *b = nb_from_f64(NB_SHAPE(1), (double[]){0.5});
        if (dt == NB_F32) b = nb_cast(b, NB_F32);
        EXPECT(nb_conv2d(x, k, b, &o), 12.5, 17.5, 9.5, 14.5);
        nb_scope_end(&sc);
    }
}

/* ------------------------------------------------------------ shapes */

static void output_size_formula(void **state) {
    (void)state;
    /* out = ⌊(n + 2p − d(k−1) − 1)/s⌋ + 1 */
    static const struct {
        int n, k, s, p, d, out;
    } cases[] = {
        {28, 5, 1, 2, 1, 28}, /* LeNet conv1 */
        {14, 5, 1, 2, 1, 14}, /* LeNet conv2 */
        {5, 3, 1, 0, 1, 3},   {5, 3, 2, 1, 1, 3},     {7, 3, 2, 0, 1, 3}, {8, 3, 2, 0, 1, 3},
        {10, 3, 1, 0, 2, 6},  {6, 4, 3, 1, 1, 2},     {5, 5, 1, 0, 1, 1}, {1, 3, 1, 1, 1, 1},
        {9, 3, 1, 2, 3, 7},   {227, 11, 4, 0, 1, 55}, /* AlexNet conv1 */
    };
    nb_scope *sc = nb_scope_begin();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_tensor *x = nb_zeros(NB_F32, NB_SHAPE(1, 1, cases[i].n, cases[i].n));
        nb_tensor *w = nb_zeros(NB_F32, NB_SHAPE(2, 1, cases[i].k, cases[i].k));
        nb_conv2d_opts o = {
            {cases[i].s, cases[i].s}, {cases[i].p, cases[i].p}, {cases[i].d, cases[i].d}, NB_PAD_EXPLICIT, 1};
        expect_shape(nb_conv2d(x, w, NULL, &o), NB_SHAPE(1, 2, cases[i].out, cases[i].out));
        /* the same along one axis: conv1d */
        nb_tensor *x1 = nb_zeros(NB_F32, NB_SHAPE(1, 1, cases[i].n)),
                  *w1 = nb_zeros(NB_F32, NB_SHAPE(2, 1, cases[i].k));
        expect_shape(nb_conv1d(x1, w1, NULL, cases[i].s, cases[i].p, cases[i].d), NB_SHAPE(1, 2, cases[i].out));
    }
    /* rectangular: height and width follow their own parameters */
    nb_conv2d_opts o = {{1, 2}, {2, 0}, {1, 1}, NB_PAD_EXPLICIT, 1};
    expect_shape(nb_conv2d(nb_zeros(NB_F32, NB_SHAPE(3, 2, 5, 9)), nb_zeros(NB_F32, NB_SHAPE(4, 2, 3, 2)), NULL, &o),
                 NB_SHAPE(3, 4, 7, 4));
    /* pooling: ⌊(n + 2p − k)/s⌋ + 1 */
    expect_shape(nb_max_pool2d(nb_zeros(NB_F32, NB_SHAPE(2, 3, 28, 28)), 2, 2, 2, 2, 0, 0), NB_SHAPE(2, 3, 14, 14));
    expect_shape(nb_max_pool2d(nb_zeros(NB_F32, NB_SHAPE(2, 3, 7, 7)), 2, 2, 2, 2, 0, 0), NB_SHAPE(2, 3, 3, 3));
    expect_shape(nb_avg_pool2d(nb_zeros(NB_F32, NB_SHAPE(1, 1, 5, 6)), 3, 3, 2, 2, 1, 1), NB_SHAPE(1, 1, 3, 3));
    expect_shape(nb_global_avg_pool2d(nb_zeros(NB_F32, NB_SHAPE(4, 7, 3, 5))), NB_SHAPE(4, 7));
    nb_scope_end(&sc);
}

static void same_valid_shapes(void **state) {
    (void)state;
    /* SAME: out = ⌈n/s⌉ whatever the kernel; VALID: ⌊(n − d(k−1) − 1)/s⌋ + 1 */
    static const struct {
        int n, k, s, d, same, valid;
    } cases[] = {
        {5, 3, 1, 1, 5, 3}, {5, 3, 2, 1, 3, 2}, {6, 3, 2, 1, 3, 2}, {28, 5, 1, 1, 28, 24},
        {7, 2, 3, 1, 3, 2}, {8, 3, 2, 2, 4, 2}, {4, 4, 1, 1, 4, 1}, {10, 1, 3, 1, 4, 4},
    };
    nb_scope *sc = nb_scope_begin();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_tensor *x = nb_zeros(NB_F64, NB_SHAPE(1, 1, cases[i].n, cases[i].n));
        nb_tensor *w = nb_zeros(NB_F64, NB_SHAPE(1, 1, cases[i].k, cases[i].k));
        nb_conv2d_opts o = {{cases[i].s, cases[i].s}, {7, 7} /* ignored */, {cases[i].d, cases[i].d}, NB_PAD_SAME, 1};
        expect_shape(nb_conv2d(x, w, NULL, &o), NB_SHAPE(1, 1, cases[i].same, cases[i].same));
        o.padding = NB_PAD_VALID;
        expect_shape(nb_conv2d(x, w, NULL, &o), NB_SHAPE(1, 1, cases[i].valid, cases[i].valid));
    }
    nb_scope_end(&sc);
}

/* SAME pads asymmetrically, the extra row/column after (TensorFlow): a 2×2
 * kernel at stride 1 on 3×3 pads 0 before and 1 after, so the last output
 * row/column sees the zero border. */
static void same_is_asymmetric(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    nb_tensor *x = nb_from_f64(NB_SHAPE(1, 1, 3, 3), xv), *w = nb_ones(NB_F64, NB_SHAPE(1, 1, 2, 2));
    nb_conv2d_opts o = {{1, 1}, {0, 0}, {1, 1}, NB_PAD_SAME, 1};
    EXPECT(nb_conv2d(x, w, NULL, &o), 12, 16, 9, 24, 28, 15, 15, 17, 9);
    /* stride 2 on 6 with k 3: total 1 → 0 before, 1 after; on 5: total 2 → 1 and 1 */
    nb_tensor *x6 = nb_rand(NB_F64, NB_SHAPE(1, 1, 6, 5), -1, 1), *w3 = nb_rand(NB_F64, NB_SHAPE(1, 1, 3, 3), -1, 1);
    o.stride[0] = o.stride[1] = 2;
    nb_tensor *y = nb_conv2d(x6, w3, NULL, &o);
    expect_shape(y, NB_SHAPE(1, 1, 3, 3));
    geom g = {1, 1, 6, 5, 1, 3, 3, 2, 2, 0, 1, 1, 1, 3, 3};
    double want[9];
    naive_fwd(want, nb_f64(x6), nb_f64(w3), NULL, &g);
    EXPECT_ARRAY(y, want, 9, 1e-12);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ against the naive convolution */

static void check_against_naive(geom g, bool bias, nb_padding mode, const int pad[2]) {
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(g.N, g.C, g.H, g.W), -1, 1), true);
    nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(g.O, g.C, g.kh, g.kw), -1, 1), true);
    nb_tensor *b = bias ? nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(g.O), -1, 1), true) : NULL;
    nb_conv2d_opts o = {{(int)g.sh, (int)g.sw}, {pad[0], pad[1]}, {(int)g.dh, (int)g.dw}, mode, 1};
    nb_tensor *y = nb_conv2d(x, w, b, &o);
    expect_shape(y, NB_SHAPE(g.N, g.O, g.Ho, g.Wo));
    double *want = nb_f64(nb_empty(NB_F64, y->shape));
    naive_fwd(want, nb_f64(x), nb_f64(w), b ? nb_f64(b) : NULL, &g);
    double e = max_rel_diff(nb_f64(y), want, y->numel);
    if (e > 1e-12) {
        print_error("forward differs from the naive convolution by %.3g\n", e);
        fail();
    }
    nb_tensor *gy = nb_rand(NB_F64, y->shape, -1, 1);
    assert_int_equal(nb_backward_with(y, gy), NB_OK);
    double *gx = nb_f64(nb_zeros(NB_F64, x->shape)), *gw = nb_f64(nb_zeros(NB_F64, w->shape));
    double *gb = nb_f64(nb_zeros(NB_F64, NB_SHAPE(g.O)));
    naive_bwd(gx, gw, gb, nb_f64(gy), nb_f64(x), nb_f64(w), &g);
    double ex = max_rel_diff(nb_f64(x->grad), gx, x->numel), ew = max_rel_diff(nb_f64(w->grad), gw, w->numel);
    double eb = b ? max_rel_diff(nb_f64(b->grad), gb, g.O) : 0;
    if (ex > 1e-12 || ew > 1e-12 || eb > 1e-12) {
        print_error("gradients differ from the naive ones: dx %.3g, dw %.3g, db %.3g\n", ex, ew, eb);
        fail();
    }
    nb_scope_end(&sc);
}

static void im2col_gemm_matches_naive(void **state) {
    (void)state;
    nb_seed(7);
    /* N, C, H, W, O, kh, kw, sh, sw, ph(before), pw, dh, dw, Ho, Wo */
    const int p0[2] = {0, 0}, p1[2] = {1, 1}, p2[2] = {2, 2}, p21[2] = {2, 1};
    check_against_naive((geom){2, 3, 7, 6, 4, 3, 3, 1, 1, 0, 0, 1, 1, 5, 4}, true, NB_PAD_EXPLICIT, p0);
    check_against_naive((geom){2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 7, 6}, true, NB_PAD_EXPLICIT, p1);
    check_against_naive((geom){3, 2, 9, 8, 3, 3, 3, 2, 2, 1, 1, 1, 1, 5, 4}, false, NB_PAD_EXPLICIT, p1);
    check_against_naive((geom){2, 2, 9, 9, 2, 3, 3, 1, 1, 2, 2, 2, 2, 9, 9}, true, NB_PAD_EXPLICIT, p2);
    check_against_naive((geom){2, 2, 8, 7, 3, 4, 2, 3, 2, 2, 1, 1, 2, 3, 4}, true, NB_PAD_EXPLICIT, p21);
    check_against_naive((geom){2, 4, 5, 5, 3, 1, 1, 1, 1, 0, 0, 1, 1, 5, 5}, true, NB_PAD_EXPLICIT, p0); /* 1×1 */
    check_against_naive((geom){2, 4, 5, 5, 3, 1, 1, 2, 2, 0, 0, 1, 1, 3, 3}, true, NB_PAD_EXPLICIT, p0); /* 1×1 s2 */
    /* SAME, stride 2, 6×7 with 3×3: H total 1 (0/1), W total 2 (1/1) */
    check_against_naive((geom){2, 2, 6, 7, 2, 3, 3, 2, 2, 0, 1, 1, 1, 3, 4}, true, NB_PAD_SAME, p0);
    check_against_naive((geom){1, 2, 6, 7, 2, 3, 2, 1, 2, 0, 0, 1, 1, 4, 3}, true, NB_PAD_VALID, p0);
    /* LeNet's layers */
    check_against_naive((geom){3, 1, 28, 28, 8, 5, 5, 1, 1, 2, 2, 1, 1, 28, 28}, true, NB_PAD_EXPLICIT, p2);
    check_against_naive((geom){3, 8, 14, 14, 16, 5, 5, 1, 1, 2, 2, 1, 1, 14, 14}, true, NB_PAD_EXPLICIT, p2);
    /* cols of 27×3136 per image: chunks of 3 images, then the last 2 */
    check_against_naive((geom){5, 3, 58, 58, 2, 3, 3, 1, 1, 0, 0, 1, 1, 56, 56}, true, NB_PAD_EXPLICIT, p0);
    /* cols bigger than a chunk: one image per GEMM */
    check_against_naive((geom){2, 4, 70, 70, 2, 3, 3, 1, 1, 1, 1, 1, 1, 70, 70}, true, NB_PAD_EXPLICIT, p1);
}

static void conv1d_is_conv2d_with_height_1(void **state) {
    (void)state;
    nb_seed(11);
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(3, 2, 11), -1, 1), true);
    nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(4, 2, 3), -1, 1), true);
    nb_tensor *b = nb_rand(NB_F64, NB_SHAPE(4), -1, 1);
    nb_tensor *y = nb_conv1d(x, w, b, 2, 2, 2);
    expect_shape(y, NB_SHAPE(3, 4, 6));
    geom g = {3, 2, 1, 11, 4, 1, 3, 1, 2, 0, 2, 1, 2, 1, 6};
    double want[72];
    naive_fwd(want, nb_f64(x), nb_f64(w), nb_f64(b), &g);
    EXPECT_ARRAY(y, want, 72, 1e-12);
    nb_scope_end(&sc);
}

/* F32 runs the same algorithm: agrees with F64 to float precision. */
static void f32_matches_f64(void **state) {
    (void)state;
    nb_seed(3);
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(4, 8, 14, 14), -1, 1), *w = nb_rand(NB_F64, NB_SHAPE(16, 8, 5, 5), -1, 1);
    nb_tensor *b = nb_rand(NB_F64, NB_SHAPE(16), -1, 1);
    nb_conv2d_opts o = {{1, 1}, {2, 2}, {1, 1}, NB_PAD_EXPLICIT, 1};
    nb_tensor *y64 = nb_conv2d(x, w, b, &o);
    nb_tensor *y32 = nb_conv2d(nb_cast(x, NB_F32), nb_cast(w, NB_F32), nb_cast(b, NB_F32), &o);
    assert_non_null(y32);
    assert_int_equal(y32->dtype, NB_F32);
    double worst = 0;
    for (int64_t i = 0; i < y64->numel; i++) worst = fmax(worst, fabs(nb_get(y32, i) - nb_get(y64, i)));
    assert_true(worst < 1e-5); /* |terms| ≤ 1, 200 of them */
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ the kernels */

static void im2col_kernels_match_reference(void **state) {
    (void)state;
    nb_seed(5);
    static const nb_conv_geom gs[] = {
        /* C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo */
        {2, 5, 4, 3, 3, 1, 1, 0, 0, 1, 1, 3, 2}, {2, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 5, 4},
        {3, 7, 9, 3, 2, 2, 3, 1, 1, 1, 1, 4, 3}, {1, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 9, 9},
        {2, 6, 7, 3, 3, 2, 2, 0, 1, 1, 1, 3, 4}, /* SAME: bottom/right padding implied */
        {1, 4, 4, 5, 5, 1, 1, 2, 2, 1, 1, 4, 4}, /* kernel wider than the image */
        {2, 3, 8, 1, 4, 1, 4, 0, 3, 1, 1, 3, 3},
    };
    for (size_t k = 0; k < sizeof gs / sizeof gs[0]; k++) {
        const nb_conv_geom *g = &gs[k];
        const int64_t K = g->C * g->kh * g->kw, P = g->Ho * g->Wo, ld = P + 3, HW = g->C * g->H * g->W;
        double x[1024], c1[4096], c2[4096], d1[1024], d2[1024];
        float xf[1024], cf[4096], df[1024];
        assert_true(HW <= 1024 && K * ld <= 4096);
        for (int64_t i = 0; i < HW; i++) xf[i] = (float)(x[i] = nb_rand_uniform() * 2 - 1);
        for (int64_t i = 0; i < K * ld; i++) c1[i] = c2[i] = -7; /* the gap past P stays untouched */
        nb_im2col_f64(c1, ld, x, g);
        nb_im2col_ref_f64(c2, ld, x, g);
        nb_im2col_f32(cf, ld, xf, g);
        for (int64_t r = 0; r < K; r++)
            for (int64_t j = 0; j < ld; j++) {
                assert_true(c1[r * ld + j] == c2[r * ld + j]);
                if (j < P) assert_true(cf[r * ld + j] == (float)c2[r * ld + j]);
            }
        for (int64_t i = 0; i < K * ld; i++) cf[i] = (float)(c1[i] = nb_rand_uniform());
        for (int64_t i = 0; i < HW; i++) df[i] = (float)(d1[i] = d2[i] = 0.25 * (double)i); /* adds */
        nb_col2im_f64(d1, c1, ld, g);
        nb_col2im_ref_f64(d2, c1, ld, g);
        nb_col2im_f32(df, cf, ld, g);
        for (int64_t i = 0; i < HW; i++) {
            assert_true(fabs(d1[i] - d2[i]) <= 1e-13);
            assert_true(fabs(df[i] - d2[i]) <= 1e-5);
        }
    }
}

/* ------------------------------------------------------------ pooling */

static void max_pool_routing(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double xv[16] = {1, 5, 2, 0, 3, 4, 8, 7, 9, 1, 0, 2, 6, 6, 3, 4};
    nb_tensor *x = leaf(NB_F64, NB_SHAPE(1, 1, 4, 4), xv);
    nb_tensor *y = nb_max_pool2d(x, 2, 2, 2, 2, 0, 0);
    EXPECT(y, 5, 8, 9, 4);
    assert_int_equal(nb_backward_with(y, nb_from_f64(y->shape, (double[]){10, 20, 30, 40})), NB_OK);
    EXPECT(x->grad, 0, 10, 0, 0, 0, 0, 20, 0, 30, 0, 0, 0, 0, 0, 0, 40);

    /* overlapping windows (2×2, stride 1) that share the maximum accumulate there */
    const double cv[9] = {1, 2, 3, 4, 9, 5, 6, 7, 8};
    nb_tensor *c = leaf(NB_F64, NB_SHAPE(1, 1, 3, 3), cv);
    nb_tensor *yc = nb_max_pool2d(c, 2, 2, 1, 1, 0, 0);
    EXPECT(yc, 9, 9, 9, 9);
    assert_int_equal(nb_backward_with(yc, nb_from_f64(yc->shape, (double[]){1, 2, 3, 4})), NB_OK);
    EXPECT(c->grad, 0, 0, 0, 0, 10, 0, 0, 0, 0);
    /* a second backward accumulates */
    nb_tensor *yc2 = nb_max_pool2d(c, 2, 2, 1, 1, 0, 0);
    assert_int_equal(nb_backward_with(yc2, nb_ones(NB_F64, yc2->shape)), NB_OK);
    EXPECT(c->grad, 0, 0, 0, 0, 14, 0, 0, 0, 0);

    /* ties: the first maximum in row-major window order wins (PyTorch) */
    nb_tensor *t = leaf(NB_F32, NB_SHAPE(1, 1, 2, 4), (double[]){3, 3, 1, 2, 3, 3, 2, 2});
    nb_tensor *yt = nb_max_pool2d(t, 2, 2, 2, 2, 0, 0);
    EXPECT(yt, 3, 2);
    assert_int_equal(nb_backward_with(yt, nb_ones(NB_F32, yt->shape)), NB_OK);
    EXPECT(t->grad, 1, 0, 0, 1, 0, 0, 0, 0);

    /* padding is −inf: with all-negative input it never wins */
    nb_tensor *ng = leaf(NB_F64, NB_SHAPE(1, 1, 2, 2), (double[]){-4, -3, -2, -1});
    nb_tensor *yn = nb_max_pool2d(ng, 3, 3, 1, 1, 1, 1);
    EXPECT(yn, -1, -1, -1, -1);
    assert_int_equal(nb_backward_with(yn, nb_ones(NB_F64, yn->shape)), NB_OK);
    EXPECT(ng->grad, 0, 0, 0, 4);

    /* NaN propagates */
    nb_tensor *nn = nb_from_f64(NB_SHAPE(1, 1, 2, 2), (double[]){1, NAN, 2, 3});
    assert_true(isnan(nb_item(nb_max_pool2d(nn, 2, 2, 2, 2, 0, 0))));

    /* per plane: channels and batch don't mix */
    nb_tensor *m = nb_from_f64(NB_SHAPE(2, 2, 2, 2), (double[]){1, 2, 3, 4, 8, 7, 6, 5, -1, -2, -3, -4, 0, 0, 9, 0});
    EXPECT(nb_max_pool2d(m, 2, 2, 2, 2, 0, 0), 4, 8, -1, 9);
    nb_scope_end(&sc);
}

/* In eval (no grad) max_pool2d saves no indices and records nothing. */
static void max_pool_no_grad(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(2, 3, 8, 8), -1, 1), true);
    nb_tensor *y = NULL;
    NB_NO_GRAD { y = nb_max_pool2d(x, 2, 2, 2, 2, 0, 0); }
    assert_non_null(y);
    assert_null(y->node);
    assert_false(y->requires_grad);
    nb_tensor *y2 = nb_max_pool2d(x, 2, 2, 2, 2, 0, 0);
    for (int64_t i = 0; i < y->numel; i++) assert_true(nb_get(y, i) == nb_get(y2, i));
    nb_scope_end(&sc);
}

static void avg_pool_values(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double xv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    nb_tensor *x = leaf(NB_F64, NB_SHAPE(1, 1, 4, 4), xv);
    nb_tensor *y = nb_avg_pool2d(x, 2, 2, 2, 2, 0, 0);
    EXPECT(y, 3.5, 5.5, 11.5, 13.5);
    assert_int_equal(nb_backward_with(y, nb_from_f64(y->shape, (double[]){4, 8, 12, 16})), NB_OK);
    EXPECT(x->grad, 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4);
    /* padding counts in the divisor (count_include_pad): ones, 3×3 window, padding 1 */
    nb_tensor *o = leaf(NB_F32, NB_SHAPE(1, 1, 2, 2), (double[]){1, 1, 1, 1});
    nb_tensor *yo = nb_avg_pool2d(o, 3, 3, 1, 1, 1, 1);
    EXPECT(yo, 4.0 / 9, 4.0 / 9, 4.0 / 9, 4.0 / 9);
    assert_int_equal(nb_backward_with(yo, nb_ones(NB_F32, yo->shape)), NB_OK);
    EXPECT(o->grad, 4.0 / 9, 4.0 / 9, 4.0 / 9, 4.0 / 9);
    /* overlapping: 3×3 stride 1 on 3×4, each output averages its window */
    nb_tensor *r = nb_from_f64(NB_SHAPE(1, 1, 3, 4), xv);
    EXPECT(nb_avg_pool2d(r, 3, 3, 1, 1, 0, 0), 6, 7);
    nb_scope_end(&sc);
}

static void global_avg_pool_values(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double xv[12] = {1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60};
    nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 1, 2, 3), xv);
    nb_tensor *y = nb_global_avg_pool2d(x);
    expect_shape(y, NB_SHAPE(2, 1));
    EXPECT(y, 3.5, 35);
    assert_int_equal(nb_backward_with(y, nb_from_f64(y->shape, (double[]){6, 12})), NB_OK);
    EXPECT(x->grad, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2);
    /* equals avg_pool2d over the whole image */
    nb_tensor *z = nb_rand(NB_F32, NB_SHAPE(3, 4, 5, 6), -1, 1);
    nb_tensor *a = nb_global_avg_pool2d(z), *b = nb_avg_pool2d(z, 5, 6, 1, 1, 0, 0);
    for (int64_t i = 0; i < a->numel; i++) assert_true(fabs(nb_get(a, i) - nb_get(b, i)) < 1e-6);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ memory */

/* Outside any scope, conv's scratch goes back to the heap at once: only the
 * (persistent) result remains, and freeing it returns to the baseline. */
static void no_scope_no_leak(void **state) {
    (void)state;
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(4, 3, 20, 20), -1, 1), *w = nb_rand(NB_F32, NB_SHAPE(5, 3, 3, 3), -1, 1);
    nb_tensor *b = nb_rand(NB_F32, NB_SHAPE(5), -1, 1);
    nb_mem_stats before = nb_mem_stats_get();
    for (int i = 0; i < 3; i++) {
        nb_tensor *y = nb_conv2d(x, w, b, NULL);
        assert_non_null(y);
        nb_tensor *p = nb_max_pool2d(y, 2, 2, 2, 2, 0, 0);
        assert_non_null(p);
        nb_tensor_free(p);
        nb_tensor_free(y);
    }
    nb_mem_stats after = nb_mem_stats_get();
    assert_int_equal(after.heap_live, before.heap_live);
    /* backward outside a scope too: its scratch is freed, only the grads stay */
    nb_set_requires_grad(w, true);
    nb_tensor *y = nb_conv2d(x, w, b, NULL);
    nb_tensor *seed = nb_ones(NB_F32, y->shape);
    assert_int_equal(nb_backward_with(y, seed), NB_OK);
    assert_non_null(w->grad);
    const size_t with_grad = nb_mem_stats_get().heap_live;
    nb_tensor *y2 = nb_conv2d(x, w, b, NULL);
    assert_int_equal(nb_backward_with(y2, seed), NB_OK);
    nb_tensor_free(y2);
    assert_int_equal(nb_mem_stats_get().heap_live, with_grad);
    nb_tensor_free(y);
    nb_tensor_free(seed);
    nb_tensor_free(x);
    nb_tensor_free(w);
    nb_tensor_free(b);
}

/* A training-like loop in scopes keeps the arena flat. */
static void scoped_steps_stay_flat(void **state) {
    (void)state;
    nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(8, 1, 5, 5), -0.2, 0.2), true);
    nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_F32, NB_SHAPE(8)), true);
    size_t peak = 0;
    for (int step = 0; step < 4; step++) {
        nb_scope *sc = nb_scope_begin();
        nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(16, 1, 28, 28), 0, 1);
        nb_conv2d_opts o = {{1, 1}, {2, 2}, {1, 1}, NB_PAD_EXPLICIT, 1};
        nb_tensor *y = nb_max_pool2d(nb_relu(nb_conv2d(x, w, b, &o)), 2, 2, 2, 2, 0, 0);
        assert_int_equal(nb_backward(nb_mean(y, NULL, 0, false)), NB_OK);
        nb_scope_end(&sc);
        nb_mem_stats m = nb_mem_stats_get();
        if (step == 1) peak = m.heap_live;
        if (step > 1) assert_int_equal(m.heap_live, peak);
    }
    nb_tensor_free(w);
    nb_tensor_free(b);
}

/* ------------------------------------------------------------ errors */

/* ------------------------------------------------------------ groups */

/* A grouped conv equals the ungrouped conv with the block-diagonal weight
 * (zero outside each group's channels): y, dx, db, and dW on the blocks (the
 * dense dW's blocks; off them the grouped w has no entries). F64, sizes big
 * enough for the vectorized row loops (Wo > 8), stride 1 and 2, dilation,
 * padding; depthwise with channel multiplier 1 and 2. */
static void grouped_is_block_diagonal(void **state) {
    (void)state;
    static const struct {
        int N, C, H, W, O, G, kh, kw, s, p, d;
    } cases[] = {
        {2, 4, 9, 13, 6, 2, 3, 3, 1, 1, 1},  {1, 6, 11, 17, 6, 6, 3, 3, 1, 1, 1}, {2, 3, 10, 19, 6, 3, 5, 3, 2, 2, 1},
        {1, 4, 12, 21, 8, 4, 3, 3, 1, 2, 2}, {2, 6, 7, 9, 3, 3, 2, 4, 2, 0, 1},   {1, 2, 5, 30, 2, 2, 1, 1, 1, 0, 1},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int N = cases[t].N, C = cases[t].C, O = cases[t].O, G = cases[t].G, kh = cases[t].kh, kw = cases[t].kw;
        const int Cg = C / G, Og = O / G, KK = kh * kw;
        nb_scope *sc = nb_scope_begin();
        nb_seed(77 + t);
        nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(N, C, cases[t].H, cases[t].W), -1, 1), true);
        nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(O, Cg, kh, kw), -1, 1), true);
        nb_tensor *b = nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(O), -1, 1), true);
        nb_tensor *wd = nb_zeros(NB_F64, NB_SHAPE(O, C, kh, kw));
        const double *W = (const double *)w->data;
        double *WD = (double *)wd->data;
        for (int o = 0; o < O; o++)
            for (int c = 0; c < Cg; c++)
                for (int k = 0; k < KK; k++) WD[(o * C + (o / Og) * Cg + c) * KK + k] = W[(o * Cg + c) * KK + k];
        nb_set_requires_grad(wd, true);
        nb_tensor *x2 = nb_set_requires_grad(nb_copy(x), true), *b2 = nb_set_requires_grad(nb_copy(b), true);
        nb_conv2d_opts o = {
            {cases[t].s, cases[t].s}, {cases[t].p, cases[t].p}, {cases[t].d, cases[t].d}, NB_PAD_EXPLICIT, G};
        nb_tensor *y = nb_conv2d(x, w, b, &o);
        o.groups = 1;
        nb_tensor *yd = nb_conv2d(x2, wd, b2, &o);
        assert_non_null(y);
        assert_non_null(yd);
        assert_true(nb_shape_eq(y->shape, yd->shape));
        double worst = 0;
        for (int64_t j = 0; j < y->numel; j++) worst = fmax(worst, fabs(nb_get(y, j) - nb_get(yd, j)));
        /* a non-uniform upstream gradient */
        nb_tensor *g = nb_rand(NB_F64, y->shape, -1, 1);
        nb_backward_with(y, g);
        nb_backward_with(yd, g);
        for (int64_t j = 0; j < x->numel; j++) worst = fmax(worst, fabs(nb_get(x->grad, j) - nb_get(x2->grad, j)));
        for (int64_t j = 0; j < O; j++) worst = fmax(worst, fabs(nb_get(b->grad, j) - nb_get(b2->grad, j)));
        for (int oo = 0; oo < O; oo++)
            for (int c = 0; c < Cg; c++)
                for (int k = 0; k < KK; k++)
                    worst = fmax(worst,
                                 fabs(nb_get(w->grad, (oo * Cg + c) * KK + k) -
                                      nb_get(wd->grad, (oo * C + (oo / Og) * Cg + c) * KK + k)));
        if (worst > 1e-12) fprintf(stderr, "case %zu: grouped vs block-diagonal differ by %g\n", t, worst);
        assert_true(worst <= 1e-12);
        /* groups 0 is groups 1: the same bits */
        o.groups = 0;
        nb_tensor *y0 = nb_conv2d(x2, wd, b2, &o);
        for (int64_t j = 0; j < y->numel; j++) assert_true(nb_get(y0, j) == nb_get(yd, j));
        nb_scope_end(&sc);
    }
}

/* conv1d_ex with groups is conv2d with groups on height 1 (the same op) */
static void grouped_conv1d_matches_conv2d(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_seed(5);
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(2, 6, 20), -1, 1), *w = nb_rand(NB_F32, NB_SHAPE(9, 2, 3), -1, 1);
    nb_tensor *y = nb_conv1d_ex(x, w, NULL, 2, 1, 2, 3);
    nb_conv2d_opts o = {{1, 2}, {0, 1}, {1, 2}, NB_PAD_EXPLICIT, 3};
    nb_tensor *y2 = nb_conv2d(nb_reshape(x, NB_SHAPE(2, 6, 1, 20)), nb_reshape(w, NB_SHAPE(9, 2, 1, 3)), NULL, &o);
    assert_non_null(y);
    assert_non_null(y2);
    assert_int_equal(y->numel, y2->numel);
    expect_shape(y, NB_SHAPE(2, 9, 9));
    for (int64_t j = 0; j < y->numel; j++) assert_true(nb_get(y, j) == nb_get(y2, j));
    nb_scope_end(&sc);
}

static nb_conv2d_opts opts(int s, int p, int d, nb_padding m) { return (nb_conv2d_opts){{s, s}, {p, p}, {d, d}, m, 1}; }

static void bad_inputs(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_zeros(NB_F32, NB_SHAPE(2, 3, 5, 5)), *w = nb_zeros(NB_F32, NB_SHAPE(4, 3, 3, 3));
    nb_tensor *b = nb_zeros(NB_F32, NB_SHAPE(4));
    nb_conv2d_opts o;

    /* rank */
    EXPECT_ERR(nb_conv2d(nb_zeros(NB_F32, NB_SHAPE(3, 5, 5)), w, b, NULL), NB_ERR_SHAPE, "conv2d", "4-D",
               "x is (3,5,5)", "w is (4,3,3,3)");
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(4, 3, 3)), b, NULL), NB_ERR_SHAPE, "conv2d", "w must be 4-D",
               "x is (2,3,5,5)", "w is (4,3,3)");
    EXPECT_ERR(nb_conv1d(x, w, NULL, 1, 0, 1), NB_ERR_SHAPE, "conv1d", "3-D", "x is (2,3,5,5)");
    /* channels */
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(4, 2, 3, 3)), NULL, NULL), NB_ERR_SHAPE, "conv2d",
               "channels differ", "x is (2,3,5,5)", "w is (4,2,3,3)");
    EXPECT_ERR(nb_conv1d(nb_zeros(NB_F32, NB_SHAPE(2, 3, 9)), nb_zeros(NB_F32, NB_SHAPE(4, 1, 3)), NULL, 1, 0, 1),
               NB_ERR_SHAPE, "conv1d", "channels differ", "x is (2,3,9)", "w is (4,1,3)");
    /* bias */
    EXPECT_ERR(nb_conv2d(x, w, nb_zeros(NB_F32, NB_SHAPE(3)), NULL), NB_ERR_SHAPE, "conv2d", "bias", "b is (3)",
               "w is (4,3,3,3)");
    EXPECT_ERR(nb_conv2d(x, w, nb_zeros(NB_F32, NB_SHAPE(4, 1)), NULL), NB_ERR_SHAPE, "conv2d", "bias", "b is (4,1)");
    /* dtype */
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F64, NB_SHAPE(4, 3, 3, 3)), NULL, NULL), NB_ERR_DTYPE, "conv2d");
    EXPECT_ERR(nb_conv2d(x, w, nb_zeros(NB_I64, NB_SHAPE(4)), NULL), NB_ERR_DTYPE, "conv2d");
    /* kernel bigger than the padded input (also when dilated) */
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(4, 3, 7, 3)), NULL, NULL), NB_ERR_SHAPE, "conv2d",
               "bigger than the padded input", "x is (2,3,5,5)", "w is (4,3,7,3)");
    o = opts(1, 0, 3, NB_PAD_EXPLICIT); /* 3×3 dilated 3 spans 7 */
    EXPECT_ERR(nb_conv2d(x, w, b, &o), NB_ERR_SHAPE, "conv2d", "dilated: 7", "x is (2,3,5,5)");
    o = opts(1, 1, 1, NB_PAD_EXPLICIT); /* 7 on 5 + 2 fits */
    assert_non_null(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(4, 3, 7, 7)), NULL, &o));
    EXPECT_ERR(nb_conv1d(nb_zeros(NB_F32, NB_SHAPE(1, 1, 2)), nb_zeros(NB_F32, NB_SHAPE(1, 1, 3)), NULL, 1, 0, 1),
               NB_ERR_SHAPE, "conv1d", "bigger", "x is (1,1,2)", "w is (1,1,3)");
    /* stride, dilation, padding values */
    o = opts(0, 0, 1, NB_PAD_EXPLICIT);
    EXPECT_ERR(nb_conv2d(x, w, b, &o), NB_ERR_ARG, "conv2d", "stride", "got 0", "x is (2,3,5,5)", "w is (4,3,3,3)");
    o = (nb_conv2d_opts){{1, -2}, {0, 0}, {1, 1}, NB_PAD_EXPLICIT, 1};
    EXPECT_ERR(nb_conv2d(x, w, b, &o), NB_ERR_ARG, "conv2d", "stride (width)", "got -2", "x is (2,3,5,5)");
    EXPECT_ERR(nb_conv1d(nb_zeros(NB_F32, NB_SHAPE(1, 3, 9)), w, NULL, -1, 0, 1), NB_ERR_SHAPE, "conv1d");
    EXPECT_ERR(nb_conv1d(nb_zeros(NB_F32, NB_SHAPE(1, 3, 9)), nb_zeros(NB_F32, NB_SHAPE(2, 3, 3)), NULL, -1, 0, 1),
               NB_ERR_ARG, "conv1d", "stride", "got -1", "x is (1,3,9)");
    o = opts(1, 0, 0, NB_PAD_EXPLICIT);
    EXPECT_ERR(nb_conv2d(x, w, b, &o), NB_ERR_ARG, "conv2d", "dilation", "got 0", "x is (2,3,5,5)");
    o = opts(1, -1, 1, NB_PAD_EXPLICIT);
    EXPECT_ERR(nb_conv2d(x, w, b, &o), NB_ERR_ARG, "conv2d", "padding", "got -1", "x is (2,3,5,5)");
    o = opts(1, -1, 1, NB_PAD_SAME); /* pad is ignored with SAME/VALID */
    expect_shape(nb_conv2d(x, w, b, &o), NB_SHAPE(2, 4, 5, 5));
    o = opts(1, 0, 1, (nb_padding)9);
    EXPECT_ERR(nb_conv2d(x, w, b, &o), NB_ERR_ARG, "conv2d", "padding mode 9");
    o = opts(1, 0, 1, NB_PAD_VALID);
    EXPECT_ERR(nb_conv2d(nb_zeros(NB_F32, NB_SHAPE(1, 3, 2, 9)), w, b, &o), NB_ERR_SHAPE, "conv2d", "height",
               "x is (1,3,2,9)");
    /* groups */
    o = opts(1, 1, 1, NB_PAD_EXPLICIT);
    o.groups = -1;
    EXPECT_ERR(nb_conv2d(x, w, b, &o), NB_ERR_ARG, "conv2d", "groups must be >= 0", "got -1", "x is (2,3,5,5)");
    o.groups = 2; /* C = 3 */
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(4, 1, 3, 3)), NULL, &o), NB_ERR_SHAPE, "conv2d",
               "input channels C = 3 are not divisible by groups = 2", "x is (2,3,5,5)", "w is (4,1,3,3)");
    o.groups = 3; /* O = 4 */
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(4, 1, 3, 3)), NULL, &o), NB_ERR_SHAPE, "conv2d",
               "output channels O = 4 are not divisible by groups = 3", "w is (4,1,3,3)");
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(6, 3, 3, 3)), NULL, &o), NB_ERR_SHAPE, "conv2d",
               "C/groups = 3/3 = 1", "has 3", "x is (2,3,5,5)", "w is (6,3,3,3)");
    EXPECT_ERR(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(6, 1, 3, 3)), b, &o), NB_ERR_SHAPE, "conv2d", "bias", "b is (4)");
    expect_shape(nb_conv2d(x, nb_zeros(NB_F32, NB_SHAPE(6, 1, 3, 3)), NULL, &o), NB_SHAPE(2, 6, 5, 5));
    EXPECT_ERR(nb_conv1d_ex(nb_zeros(NB_F32, NB_SHAPE(1, 4, 9)), nb_zeros(NB_F32, NB_SHAPE(4, 1, 3)), NULL, 1, 0, 1, 2),
               NB_ERR_SHAPE, "conv1d", "C/groups = 4/2 = 2", "x is (1,4,9)", "w is (4,1,3)");
    EXPECT_ERR(
        nb_conv1d_ex(nb_zeros(NB_F32, NB_SHAPE(1, 4, 9)), nb_zeros(NB_F32, NB_SHAPE(4, 1, 3)), NULL, 1, 0, 1, -3),
        NB_ERR_ARG, "conv1d", "groups", "got -3");
    /* NULL in, NULL out, silently (the earlier error is kept) */
    tu_err_reset();
    assert_null(nb_conv2d(NULL, w, b, NULL));
    assert_null(nb_conv2d(x, NULL, NULL, NULL));
    assert_null(nb_max_pool2d(NULL, 2, 2, 2, 2, 0, 0));
    assert_null(nb_global_avg_pool2d(NULL));
    assert_int_equal(tu_err.count, 0);

    /* pooling */
    EXPECT_ERR(nb_max_pool2d(nb_zeros(NB_F32, NB_SHAPE(3, 5, 5)), 2, 2, 2, 2, 0, 0), NB_ERR_SHAPE, "max_pool2d", "4-D",
               "x is (3,5,5)");
    EXPECT_ERR(nb_avg_pool2d(nb_zeros(NB_F32, NB_SHAPE(5, 5)), 2, 2, 2, 2, 0, 0), NB_ERR_SHAPE, "avg_pool2d",
               "x is (5,5)");
    EXPECT_ERR(nb_max_pool2d(x, 0, 2, 2, 2, 0, 0), NB_ERR_ARG, "max_pool2d", "window height", "x is (2,3,5,5)");
    EXPECT_ERR(nb_max_pool2d(x, 2, 2, 0, 2, 0, 0), NB_ERR_ARG, "max_pool2d", "stride", "got 0", "x is (2,3,5,5)");
    EXPECT_ERR(nb_avg_pool2d(x, 2, 2, 2, -1, 0, 0), NB_ERR_ARG, "avg_pool2d", "stride (width)", "got -1");
    EXPECT_ERR(nb_max_pool2d(x, 2, 2, 2, 2, -1, 0), NB_ERR_ARG, "max_pool2d", "padding", "got -1");
    EXPECT_ERR(nb_max_pool2d(x, 3, 3, 1, 1, 2, 0), NB_ERR_ARG, "max_pool2d", "more than half the window",
               "x is (2,3,5,5)");
    EXPECT_ERR(nb_avg_pool2d(x, 2, 2, 1, 1, 0, 2), NB_ERR_ARG, "avg_pool2d", "more than half", "x is (2,3,5,5)");
    EXPECT_ERR(nb_max_pool2d(x, 6, 2, 1, 1, 0, 0), NB_ERR_SHAPE, "max_pool2d", "bigger than the padded input",
               "x is (2,3,5,5)");
    EXPECT_ERR(nb_avg_pool2d(x, 2, 8, 1, 1, 0, 1), NB_ERR_SHAPE, "avg_pool2d", "window width 8", "x is (2,3,5,5)");
    assert_non_null(nb_max_pool2d(x, 6, 6, 1, 1, 1, 1)); /* 6 fits 5 + 2 */
    EXPECT_ERR(nb_max_pool2d(nb_zeros(NB_I64, NB_SHAPE(1, 1, 4, 4)), 2, 2, 2, 2, 0, 0), NB_ERR_DTYPE, "max_pool2d");
    EXPECT_ERR(nb_global_avg_pool2d(nb_zeros(NB_F32, NB_SHAPE(2, 3))), NB_ERR_SHAPE, "global_avg_pool2d", "x is (2,3)");
    EXPECT_ERR(nb_global_avg_pool2d(nb_zeros(NB_F32, NB_SHAPE(2, 3, 0, 4))), NB_ERR_SHAPE, "global_avg_pool2d",
               "x is (2,3,0,4)");
    nb_scope_end(&sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lecture_5x5),
        cmocka_unit_test(output_size_formula),
        cmocka_unit_test(same_valid_shapes),
        cmocka_unit_test(same_is_asymmetric),
        cmocka_unit_test(im2col_gemm_matches_naive),
        cmocka_unit_test(conv1d_is_conv2d_with_height_1),
        cmocka_unit_test(f32_matches_f64),
        cmocka_unit_test(im2col_kernels_match_reference),
        cmocka_unit_test(max_pool_routing),
        cmocka_unit_test(max_pool_no_grad),
        cmocka_unit_test(avg_pool_values),
        cmocka_unit_test(global_avg_pool_values),
        cmocka_unit_test(grouped_is_block_diagonal),
        cmocka_unit_test(grouped_conv1d_matches_conv2d),
        cmocka_unit_test(no_scope_no_leak),
        cmocka_unit_test(scoped_steps_stay_flat),
        cmocka_unit_test_setup_teardown(bad_inputs, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
