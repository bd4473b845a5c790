/* Pooling options (nb_pool2d_opts: ceil_mode, dilation, count_include_pad):
 *   - output sizes against a table made by PyTorch 1.13 (every n 1..8,
 *     k 1..4, s 1..3, p 0..k/2, d 1..3, ceil_mode on/off; '-' = refused);
 *   - forward values and gradients against PyTorch on small cases (ceil
 *     overhang divisors, count_include_pad=false, ties under dilation);
 *   - the general path against a brute-force definition over random
 *     configurations (F64 and F32, forward and backward, NaN included);
 *   - the short forms nb_max_pool2d/nb_avg_pool2d give the same bits as the
 *     _ex forms with NB_POOL2D_DEFAULT;
 *   - the 2×2/2 fast path in ceil mode (the overhang goes the general way);
 *   - a dilated window with no real element: −inf, no gradient;
 *   - every bad-input rule: status, the op's name, the shapes;
 *   - the nn layers nb_max_pool2d_layer_ex / nb_avg_pool2d_layer_ex.
 * The tables come from tests/fixtures/gen_pool_opts.py (needs torch). */
#include <stdlib.h>

#include "test_util.h"
#include "kernels/cpu.h"
#include "kernels/vmath.h"

static nb_tensor *leaf(nb_dtype dt, nb_shape s, const double *v) {
    nb_tensor *t = nb_from_f64(s, v);
    if (dt == NB_F32) t = nb_cast(t, NB_F32);
    return nb_set_requires_grad(t, true);
}

static nb_pool2d_opts opts(int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, bool ceil, bool incl) {
    nb_pool2d_opts o = NB_POOL2D_DEFAULT(kh, kw);
    o.stride[0] = sh, o.stride[1] = sw, o.pad[0] = ph, o.pad[1] = pw, o.dilation[0] = dh, o.dilation[1] = dw;
    o.ceil_mode = ceil, o.count_include_pad = incl;
    return o;
}

/* ------------------------------------------------------------ shapes vs PyTorch */

/* F.max_pool2d's output height, loop order n, k, s, p, d, ceil (see the generator) */
static const char POOL_SHAPES[] =
    "111111111111111111------2211---1----1111-1-1-1--1111-1------11----------11-----1----11-1--------"
    "------22-----------1----12-----------1----11-1--22222211111111111111----33221111-1--22121111-1-1"
    "111111------22-----1----12-1---1----11-1--------11----33----------11----22-1---1----11----12-1--"
    "3333332222221111112211--4433221211-12222121111-122121211----3311--11----2211--11-1--1211-1------"
    "22----4411---1----12----2311---1----12-1--2211--444444222222222222332211554433221211332322121211"
    "22221222----4422--12-1--2312-112-1--2212-111----33----5522--11----22-1--3312--11----12-1--2212-1"
    "5555553333332222224433226655442322123333232212122222223311--5533112211--3322111211-122121122----"
    "4411--6633--12----2311--3422-112-1--2211--2312-1666666333333222222554433776655332322443433222212"
    "3323234422--6644222312-13423122212-123221233----5522--77441122-1--3312--44231112-1--2312-1332211"
    "7777774444443333336655448877663433234444342323223333235533117755333322114433222312113323124411--"
    "6633--8855222311--3422-14533122211--2312-1332312888888444444333333776655998877443433554544332323"
    "3333336644228866443423124534232322123323225522--7744119966333312--4423115534222312-1332211342312";

static void shapes_match_pytorch(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    size_t at = 0;
    int checked = 0;
    for (int n = 1; n <= 8; n++) {
        nb_tensor *x = nb_zeros(NB_F64, NB_SHAPE(1, 1, n, 1));
        for (int k = 1; k <= 4; k++)
            for (int s = 1; s <= 3; s++)
                for (int p = 0; p <= k / 2; p++)
                    for (int d = 1; d <= 3; d++)
                        for (int c = 0; c <= 1; c++) {
                            assert_true(at < sizeof POOL_SHAPES - 1);
                            const char want = POOL_SHAPES[at++];
                            const nb_pool2d_opts o = opts(k, 1, s, 1, p, 0, d, 1, c, true);
                            for (int op = 0; op < (d == 1 ? 2 : 1); op++) { /* avg has no dilation */
                                tu_err_reset();
                                nb_tensor *y = op ? nb_avg_pool2d_ex(x, &o) : nb_max_pool2d_ex(x, &o);
                                if (want == '-') {
                                    if (y || tu_err.st != NB_ERR_SHAPE) {
                                        print_error("n %d k %d s %d p %d d %d ceil %d: PyTorch refuses, got %s\n", n, k,
                                                    s, p, d, c, y ? "a tensor" : nb_status_str(tu_err.st));
                                        fail();
                                    }
                                    assert_non_null(strstr(tu_err.msg, "the output would be empty"));
                                } else if (!y || y->shape.d[2] != want - '0' || y->shape.d[3] != 1) {
                                    print_error("n %d k %d s %d p %d d %d ceil %d (%s): height %lld, PyTorch %d\n", n,
                                                k, s, p, d, c, op ? "avg" : "max", y ? (long long)y->shape.d[2] : -1LL,
                                                want - '0');
                                    fail();
                                }
                                checked++;
                            }
                        }
    }
    assert_int_equal(at, sizeof POOL_SHAPES - 1);
    assert_true(checked > 1500);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ values vs PyTorch */

/* x = arange(1..numel) * 7 % 11 − 5 (ties on purpose: the first max wins) */
static nb_tensor *ramp(nb_dtype dt, nb_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.d[i];
    double v[64];
    assert_true(n <= 64);
    for (int64_t i = 0; i < n; i++) v[i] = (double)((i + 1) * 7 % 11) - 5;
    return leaf(dt, s, v);
}

static void check_case(nb_dtype dt, bool max, nb_shape xs, const nb_pool2d_opts *o, nb_shape ys, const double *y,
                       const double *gx) {
    nb_tensor *x = ramp(dt, xs);
    nb_tensor *out = max ? nb_max_pool2d_ex(x, o) : nb_avg_pool2d_ex(x, o);
    expect_shape(out, ys);
    const double tol = dt == NB_F32 ? 1e-6 : 1e-15;
    EXPECT_ARRAY(out, y, out->numel, tol);
    backward_ones(out);
    EXPECT_ARRAY(x->grad, gx, x->numel, tol);
}

static void values_match_pytorch(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        const nb_dtype dt = t ? NB_F32 : NB_F64;
        nb_scope *sc = nb_scope_begin();
        nb_pool2d_opts o = opts(2, 2, 2, 2, 0, 0, 1, 1, true, true);
        /* avg 2x2 s2 ceil: the overhang is not counted (divisors 2 and 1 on the edges) */
        check_case(dt, false, NB_SHAPE(1, 1, 3, 5), &o, NB_SHAPE(1, 1, 2, 3),
                   (const double[]){1.0, 1.25, -2.0, -1.5, 1.5, 1.0},
                   (const double[]){0.25, 0.25, 0.25, 0.25, 0.5, 0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0});
        /* max 2x2 s2 ceil */
        check_case(dt, true, NB_SHAPE(1, 1, 3, 5), &o, NB_SHAPE(1, 1, 2, 3),
                   (const double[]){4.0, 5.0, -1.0, 2.0, 5.0, 1.0},
                   (const double[]){0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 1});
        /* avg 3x3 s2 p1 ceil, count_include_pad: the last window counts its padding row, not the overhang */
        o = opts(3, 3, 2, 2, 1, 1, 1, 1, true, true);
        check_case(dt, false, NB_SHAPE(1, 1, 4, 4), &o, NB_SHAPE(1, 1, 3, 3),
                   (const double[]){0.1111111111111111, 0.4444444444444444, -0.5, 0.6666666666666666,
                                    -0.1111111111111111, -0.8333333333333334, 0.5, 0.5, -0.75},
                   (const double[]){0.1111111111111111, 0.2222222222222222, 0.1111111111111111, 0.2777777777777778,
                                    0.2222222222222222, 0.4444444444444444, 0.2222222222222222, 0.5555555555555556,
                                    0.1111111111111111, 0.2222222222222222, 0.1111111111111111, 0.2777777777777778,
                                    0.2777777777777778, 0.5555555555555555, 0.2777777777777778, 0.6944444444444444});
        /* the same, count_include_pad=false: divisor = real elements */
        o.count_include_pad = false;
        check_case(dt, false, NB_SHAPE(1, 1, 4, 4), &o, NB_SHAPE(1, 1, 3, 3),
                   (const double[]){0.25, 0.6666666666666666, -1.5, 1.0, -0.1111111111111111, -1.6666666666666667, 1.5,
                                    1.0, -3.0},
                   (const double[]){0.25, 0.41666666666666663, 0.16666666666666666, 0.6666666666666666,
                                    0.41666666666666663, 0.6944444444444444, 0.2777777777777778, 1.111111111111111,
                                    0.16666666666666666, 0.2777777777777778, 0.1111111111111111, 0.4444444444444444,
                                    0.6666666666666666, 1.1111111111111112, 0.4444444444444444, 1.7777777777777777});
        /* max 3x3 s1 p1 dilation 2, with ties: overlapping windows accumulate on the first max */
        o = opts(3, 3, 1, 1, 1, 1, 2, 2, false, true);
        check_case(dt, true, NB_SHAPE(1, 1, 5, 5), &o, NB_SHAPE(1, 1, 3, 3),
                   (const double[]){4.0, 4.0, 4.0, 5.0, 5.0, 5.0, 4.0, 4.0, 4.0},
                   (const double[]){0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0});
        nb_scope_end(&sc);
    }
}

/* ------------------------------------------------------------ brute force (the definition) */

/* y and the gradient for an all-`gy` upstream: PyTorch's semantics written
 * out tap by tap (see ops_conv.h). Output sizes come from the op (checked
 * against PyTorch above). */
static void brute(bool max, const nb_tensor *x, const nb_pool2d_opts *o, int64_t Ho, int64_t Wo, const double *gy,
                  double *y, double *gx) {
    const int64_t P = x->shape.d[0] * x->shape.d[1], H = x->shape.d[2], W = x->shape.d[3];
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++) {
                const int64_t oi = (pl * Ho + i) * Wo + j, h0 = i * o->stride[0] - o->pad[0],
                              w0 = j * o->stride[1] - o->pad[1];
                if (max) {
                    double best = -INFINITY;
                    int64_t at = -1;
                    for (int p = 0; p < o->kernel[0]; p++)
                        for (int q = 0; q < o->kernel[1]; q++) {
                            const int64_t h = h0 + p * o->dilation[0], w = w0 + q * o->dilation[1];
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            const double v = nb_get(x, (pl * H + h) * W + w);
                            if (at < 0 || v > best || (isnan(v) && !isnan(best))) best = v, at = (pl * H + h) * W + w;
                        }
                    y[oi] = best;
                    if (at >= 0) gx[at] += gy[oi];
                } else {
                    double s = 0;
                    int64_t real = 0, padded = 0;
                    for (int p = 0; p < o->kernel[0]; p++)
                        for (int q = 0; q < o->kernel[1]; q++) {
                            const int64_t h = h0 + p, w = w0 + q;
                            if (h >= H + o->pad[0] || w >= W + o->pad[1]) continue; /* overhang */
                            padded++;
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            real++;
                            s += nb_get(x, (pl * H + h) * W + w);
                        }
                    const double div = (double)(o->count_include_pad ? padded : real);
                    y[oi] = s / div;
                    for (int p = 0; p < o->kernel[0]; p++)
                        for (int q = 0; q < o->kernel[1]; q++) {
                            const int64_t h = h0 + p, w = w0 + q;
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            gx[(pl * H + h) * W + w] += gy[oi] / div;
                        }
                }
            }
}

static int rnd(int lo, int hi) { return lo + (int)(nb_rand_u64() % (uint64_t)(hi - lo + 1)); }

static void general_path_matches_definition(void **state) {
    (void)state;
    nb_seed(7);
    int ran = 0;
    for (int trial = 0; trial < 400; trial++) {
        nb_scope *sc = nb_scope_begin();
        const bool max = trial % 2 == 0;
        const nb_dtype dt = trial % 4 < 2 ? NB_F64 : NB_F32;
        const int64_t N = rnd(1, 2), C = rnd(1, 3), H = rnd(1, 9), W = rnd(1, 9);
        nb_pool2d_opts o = NB_POOL2D_DEFAULT(rnd(1, 4), rnd(1, 4));
        for (int a = 0; a < 2; a++) {
            o.stride[a] = rnd(1, 3);
            o.pad[a] = rnd(0, o.kernel[a] / 2);
            o.dilation[a] = max ? rnd(1, 3) : 1;
        }
        o.ceil_mode = rnd(0, 1), o.count_include_pad = rnd(0, 1);
        nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(N, C, H, W), -2, 2), true);
        if (trial % 8 == 0) nb_set(x, rnd(0, (int)x->numel - 1), NAN);
        tu_err_reset(); /* the recorder keeps errors from aborting */
        nb_tensor *y = max ? nb_max_pool2d_ex(x, &o) : nb_avg_pool2d_ex(x, &o);
        if (!y) { /* too big a window: the shape test covers the rule */
            assert_int_equal(nb_error(), NB_ERR_SHAPE);
            nb_error_clear();
            nb_scope_end(&sc);
            continue;
        }
        ran++;
        const int64_t Ho = y->shape.d[2], Wo = y->shape.d[3];
        double *gy = calloc((size_t)y->numel, sizeof *gy), *yw = calloc((size_t)y->numel, sizeof *yw),
               *gw = calloc((size_t)x->numel, sizeof *gw);
        for (int64_t i = 0; i < y->numel; i++) gy[i] = 0.5 + 0.25 * sin((double)i + 1);
        brute(max, x, &o, Ho, Wo, gy, yw, gw);
        nb_tensor *g = nb_from_f64(y->shape, gy);
        if (dt == NB_F32) g = nb_cast(g, NB_F32);
        assert_int_equal(nb_backward_with(y, g), NB_OK);
        const double tol = dt == NB_F32 ? 2e-6 : 1e-13;
        EXPECT_ARRAY(y, yw, y->numel, tol);
        EXPECT_ARRAY(x->grad, gw, x->numel, tol);
        free(gy), free(yw), free(gw);
        nb_scope_end(&sc);
    }
    printf("%d of 400 random configurations ran (the rest: window too big)\n", ran);
    assert_true(ran > 200);
}

/* ------------------------------------------------------------ short forms = _ex, bit for bit */

static void same_bits(bool max, nb_dtype dt, nb_shape xs, int kh, int kw, int sh, int sw, int ph, int pw) {
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_rand(dt, xs, -3, 3), true);
    nb_tensor *x2 = nb_set_requires_grad(nb_copy(x), true);
    nb_pool2d_opts o = NB_POOL2D_DEFAULT(kh, kw);
    o.stride[0] = sh, o.stride[1] = sw, o.pad[0] = ph, o.pad[1] = pw;
    nb_tensor *a = max ? nb_max_pool2d(x, kh, kw, sh, sw, ph, pw) : nb_avg_pool2d(x, kh, kw, sh, sw, ph, pw);
    nb_tensor *b = max ? nb_max_pool2d_ex(x2, &o) : nb_avg_pool2d_ex(x2, &o);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(nb_shape_eq(a->shape, b->shape));
    const size_t es = dt == NB_F32 ? 4 : 8;
    assert_memory_equal(a->data, b->data, (size_t)a->numel * es);
    backward_ones(a);
    backward_ones(b);
    assert_memory_equal(x->grad->data, x2->grad->data, (size_t)x->numel * es);
    nb_scope_end(&sc);
}

static void short_forms_are_ex_defaults(void **state) {
    (void)state;
    nb_seed(3);
    for (int t = 0; t < 2; t++) {
        const nb_dtype dt = t ? NB_F32 : NB_F64;
        for (int m = 0; m < 2; m++) {
            same_bits(m, dt, NB_SHAPE(2, 3, 8, 8), 2, 2, 2, 2, 0, 0); /* the 2×2/2 fast path (max) */
            same_bits(m, dt, NB_SHAPE(1, 2, 7, 9), 2, 2, 2, 2, 0, 0); /* odd: last row/column unused */
            same_bits(m, dt, NB_SHAPE(2, 1, 5, 5), 3, 3, 2, 2, 1, 1);
            same_bits(m, dt, NB_SHAPE(1, 1, 6, 7), 3, 2, 1, 2, 1, 0);
        }
        /* the defaults: stride = kernel, count_include_pad */
        nb_scope *sc = nb_scope_begin();
        nb_tensor *x = nb_rand(dt, NB_SHAPE(1, 2, 6, 6), -1, 1);
        const nb_pool2d_opts d = NB_POOL2D_DEFAULT(3, 2);
        assert_int_equal(d.stride[0], 3);
        assert_int_equal(d.stride[1], 2);
        assert_true(d.count_include_pad);
        assert_false(d.ceil_mode);
        expect_shape(nb_max_pool2d_ex(x, &d), NB_SHAPE(1, 2, 2, 3));
        nb_scope_end(&sc);
    }
}

/* ------------------------------------------------------------ 2×2/2 in ceil mode */

static void ceil_two_by_two(void **state) {
    (void)state;
    nb_seed(5);
    for (int t = 0; t < 2; t++) {
        const nb_dtype dt = t ? NB_F32 : NB_F64;
        nb_scope *sc = nb_scope_begin();
        nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(2, 3, 7, 9), -1, 1), true);
        nb_pool2d_opts o = NB_POOL2D_DEFAULT(2, 2);
        nb_tensor *fl = nb_max_pool2d_ex(x, &o);
        o.ceil_mode = true;
        nb_tensor *ce = nb_max_pool2d_ex(x, &o);
        expect_shape(fl, NB_SHAPE(2, 3, 3, 4));
        expect_shape(ce, NB_SHAPE(2, 3, 4, 5));
        for (int64_t pl = 0; pl < 6; pl++) {
            for (int64_t i = 0; i < 3; i++) /* the windows both modes have agree */
                for (int64_t j = 0; j < 4; j++)
                    assert_true(nb_get(fl, (pl * 3 + i) * 4 + j) == nb_get(ce, (pl * 4 + i) * 5 + j));
            /* the corner window holds one element: x[6][8] */
            assert_true(nb_get(ce, (pl * 4 + 3) * 5 + 4) == nb_get(x, (pl * 7 + 6) * 9 + 8));
        }
        backward_ones(ce);
        double total = 0;
        for (int64_t i = 0; i < x->numel; i++) total += nb_get(x->grad, i);
        assert_true(total == (double)ce->numel); /* each window routes its 1 to exactly one element */
        for (int64_t pl = 0; pl < 6; pl++) assert_true(nb_get(x->grad, (pl * 7 + 6) * 9 + 8) == 1.0);
        nb_scope_end(&sc);
    }
}

/* ------------------------------------------------------------ a window of padding only */

static void dilated_window_of_padding(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        const nb_dtype dt = t ? NB_F32 : NB_F64;
        nb_scope *sc = nb_scope_begin();
        /* rows: n 2, k 2, dilation 3, pad 1: the one window's taps are rows −1 and 2, both outside */
        nb_tensor *x = nb_set_requires_grad(nb_rand(dt, NB_SHAPE(1, 2, 2, 5), -1, 1), true);
        nb_pool2d_opts o = NB_POOL2D_DEFAULT(2, 2);
        o.stride[0] = o.stride[1] = 1, o.pad[0] = o.pad[1] = 1, o.dilation[0] = 3;
        nb_tensor *y = nb_max_pool2d_ex(x, &o);
        expect_shape(y, NB_SHAPE(1, 2, 1, 6));
        for (int64_t i = 0; i < y->numel; i++) assert_true(isinf(nb_get(y, i)) && nb_get(y, i) < 0);
        backward_ones(y);
        for (int64_t i = 0; i < x->numel; i++) assert_true(nb_get(x->grad, i) == 0.0);
        nb_scope_end(&sc);
    }
}

/* ------------------------------------------------------------ NaN in an overhanging window */

static void nan_in_overhang(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double v[] = {1, 2, 3, 4, 5, 6, 7, 8, NAN}; /* (1,1,3,3) */
    nb_tensor *x = leaf(NB_F32, NB_SHAPE(1, 1, 3, 3), v);
    nb_pool2d_opts o = NB_POOL2D_DEFAULT(2, 2);
    o.ceil_mode = true;
    nb_tensor *y = nb_max_pool2d_ex(x, &o);
    EXPECT(y, 5, 6, 8, NAN);
    backward_ones(y);
    EXPECT(x->grad, 0, 0, 0, 0, 1, 1, 0, 1, 1);
    nb_tensor *a = nb_avg_pool2d_ex(x, &o);
    EXPECT(a, 3, 4.5, 7.5, NAN);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ bad input */

/* The 2×2/2 kernels' AVX-512 rows (f32) give the scalar rows' bits: values,
 * winners (through the gradient), on widths around
 * the 16-output step, with ties, ±0 and NaN rows. */
static nb_tensor *pool2_run(nb_tensor *x, nb_tensor *g, nb_tensor **gx) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = nb_max_pool2d(x, 2, 2, 2, 2, 0, 0);
    assert_int_equal(nb_backward_with(y, g), NB_OK);
    nb_tensor *out = nb_copy_persistent(y);
    nb_scope_end(&s);
    *gx = nb_copy_persistent(x->grad);
    return out;
}
static void two_by_two_vector_rows(void **state) {
    (void)state;
    if (!nb_isa_set_cap("avx512")) skip();
    static const int64_t W[] = {2, 3, 16, 17, 30, 32, 33, 34, 62, 64, 66, 100};
    static const float vals[] = {-1, 0, -0.0f, 1, 2, 2, 0.5f, -3};
    nb_seed(31);
    for (size_t w = 0; w < sizeof W / sizeof W[0]; w++) {
        const nb_shape xs = NB_SHAPE(2, 3, 5, W[w]), gs = NB_SHAPE(2, 3, 2, W[w] / 2);
        nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_F32, xs), true), *g = nb_randn(NB_F32, gs, 0, 1);
        float *xp = nb_f32(x);
        for (int64_t i = 0; i < x->numel; i++) xp[i] = vals[nb_rand_u64() % 8];
        if (w % 3 == 0) xp[(int64_t)(nb_rand_u64() % (uint64_t)x->numel)] = NAN;
        nb_tensor *y[2], *gx[2];
        nb_tensor_free(pool2_run(x, g, &gx[0])), nb_tensor_free(gx[0]); /* x->grad exists from here on */
        for (int v = 0; v < 2; v++) {
            assert_true(nb_isa_set_cap(v ? "avx512" : "scalar"));
            nb_tensor_zero_grad(x);
            if (x->grad) nb_f32(x->grad)[0] = -0.0f; /* an untouched element keeps its sign */
            y[v] = pool2_run(x, g, &gx[v]);
        }
        assert_memory_equal(nb_f32(y[0]), nb_f32(y[1]), (size_t)y[0]->numel * sizeof(float));
        assert_memory_equal(nb_f32(gx[0]), nb_f32(gx[1]), (size_t)gx[0]->numel * sizeof(float));
        for (int v = 0; v < 2; v++) nb_tensor_free(y[v]), nb_tensor_free(gx[v]);
        nb_tensor_free(x), nb_tensor_free(g);
    }
    nb_isa_set_cap("avx512");
}

static void bad_input(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_zeros(NB_F32, NB_SHAPE(2, 3, 5, 5));
    nb_pool2d_opts o;
#define WITH(field_stmt) (o = NB_POOL2D_DEFAULT(2, 2), field_stmt, &o)
    EXPECT_ERR(nb_max_pool2d_ex(x, WITH(o.kernel[0] = 0)), NB_ERR_ARG, "max_pool2d", "window height must be >= 1",
               "got 0", "x is (2,3,5,5)");
    EXPECT_ERR(nb_avg_pool2d_ex(x, WITH(o.kernel[1] = -2)), NB_ERR_ARG, "avg_pool2d", "window width", "got -2",
               "x is (2,3,5,5)");
    EXPECT_ERR(nb_max_pool2d_ex(x, WITH(o.stride[1] = 0)), NB_ERR_ARG, "max_pool2d", "stride (width) must be >= 1",
               "got 0", "x is (2,3,5,5)");
    EXPECT_ERR(nb_max_pool2d_ex(x, WITH(o.dilation[0] = 0)), NB_ERR_ARG, "max_pool2d", "dilation (height) must be >= 1",
               "got 0", "x is (2,3,5,5)");
    EXPECT_ERR(nb_max_pool2d_ex(x, WITH(o.dilation[1] = -1)), NB_ERR_ARG, "max_pool2d", "dilation (width)", "got -1");
    EXPECT_ERR(nb_avg_pool2d_ex(x, WITH(o.dilation[0] = 2)), NB_ERR_ARG, "avg_pool2d", "no dilation", "(2,1)",
               "x is (2,3,5,5)");
    EXPECT_ERR(nb_max_pool2d_ex(x, WITH(o.pad[0] = -1)), NB_ERR_ARG, "max_pool2d", "padding (height)", "got -1");
    EXPECT_ERR(nb_avg_pool2d_ex(x, WITH(o.pad[1] = 2)), NB_ERR_ARG, "avg_pool2d",
               "padding (width) 2 is more than half the window 2 (at most 1)", "x is (2,3,5,5)");
    /* PyTorch's rule is on the undilated kernel: 3 taps at dilation 2 may pad 1, not 2 */
    o = NB_POOL2D_DEFAULT(3, 3);
    o.dilation[0] = 2, o.pad[0] = 2;
    EXPECT_ERR(nb_max_pool2d_ex(x, &o), NB_ERR_ARG, "max_pool2d", "more than half the window 3");
    o.pad[0] = 1;
    assert_non_null(nb_max_pool2d_ex(x, &o));
    /* the output would be empty */
    o = NB_POOL2D_DEFAULT(4, 2);
    o.dilation[0] = 2; /* spans 7 > 5 */
    EXPECT_ERR(nb_max_pool2d_ex(x, &o), NB_ERR_SHAPE, "max_pool2d", "window height 4 at dilation 2 spans 7",
               "bigger than the padded input 5 (5 + 2*0)", "the output would be empty", "x is (2,3,5,5)");
    /* ceil mode lets a window overhang the padded input by up to stride − 1 (PyTorch) */
    o.ceil_mode = true;
    o.stride[0] = 4;
    expect_shape(nb_max_pool2d_ex(x, &o), NB_SHAPE(2, 3, 1, 3));
    o.stride[0] = 2;
    EXPECT_ERR(nb_max_pool2d_ex(x, &o), NB_ERR_SHAPE, "max_pool2d", "the output would be empty (even in ceil mode)");
    EXPECT_ERR(nb_avg_pool2d_ex(x, WITH(o.kernel[1] = 6)), NB_ERR_SHAPE, "avg_pool2d",
               "window width 6 is bigger than the padded input 5", "x is (2,3,5,5)");
    /* rank, empty image, dtype, NULL options, NULL input */
    EXPECT_ERR(nb_max_pool2d_ex(nb_zeros(NB_F32, NB_SHAPE(3, 5, 5)), WITH((void)0)), NB_ERR_SHAPE, "max_pool2d", "4-D",
               "x is (3,5,5)");
    EXPECT_ERR(nb_avg_pool2d_ex(nb_zeros(NB_F32, NB_SHAPE(1, 1, 0, 4)), WITH(o.pad[0] = o.pad[1] = 1)), NB_ERR_SHAPE,
               "avg_pool2d", "empty image", "x is (1,1,0,4)");
    EXPECT_ERR(nb_max_pool2d(nb_zeros(NB_F32, NB_SHAPE(1, 1, 4, 0)), 2, 2, 1, 1, 1, 1), NB_ERR_SHAPE, "max_pool2d",
               "empty image", "x is (1,1,4,0)");
    EXPECT_ERR(nb_max_pool2d_ex(nb_zeros(NB_I64, NB_SHAPE(1, 1, 4, 4)), WITH((void)0)), NB_ERR_DTYPE, "max_pool2d");
    EXPECT_ERR(nb_max_pool2d_ex(x, NULL), NB_ERR_ARG, "max_pool2d", "options are NULL", "x is (2,3,5,5)");
    EXPECT_ERR(nb_avg_pool2d_ex(x, NULL), NB_ERR_ARG, "avg_pool2d", "options are NULL");
#undef WITH
    tu_err_reset();
    o = NB_POOL2D_DEFAULT(2, 2);
    assert_null(nb_max_pool2d_ex(NULL, &o));
    assert_null(nb_avg_pool2d_ex(NULL, NULL));
    assert_int_equal(tu_err.count, 0);
    /* batch of 0 is fine (no planes) */
    expect_shape(nb_max_pool2d_ex(nb_zeros(NB_F32, NB_SHAPE(0, 3, 4, 4)), &o), NB_SHAPE(0, 3, 2, 2));
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ nn layers */

static void layers_ex(void **state) {
    (void)state;
    nb_seed(9);
    nb_pool2d_opts o = NB_POOL2D_DEFAULT(3, 2);
    o.stride[0] = 2, o.stride[1] = 1, o.pad[0] = 1, o.dilation[1] = 2, o.ceil_mode = true;
    nb_module *mp = nb_max_pool2d_layer_ex(&o);
    o.dilation[1] = 1, o.count_include_pad = false;
    nb_module *ap = nb_avg_pool2d_layer_ex(&o);
    assert_non_null(mp);
    assert_non_null(ap);
    o.dilation[1] = 2; /* the layer keeps its own copy */
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(2, 3, 8, 7), -1, 1);
    nb_tensor *ym = nb_forward(mp, x), *ya = nb_forward(ap, x);
    nb_tensor *rm = nb_max_pool2d_ex(x, &o);
    o.dilation[1] = 1;
    nb_tensor *ra = nb_avg_pool2d_ex(x, &o);
    assert_non_null(ym);
    assert_non_null(ya);
    assert_true(nb_shape_eq(ym->shape, rm->shape));
    assert_true(nb_shape_eq(ya->shape, ra->shape));
    assert_memory_equal(ym->data, rm->data, (size_t)rm->numel * 4);
    assert_memory_equal(ya->data, ra->data, (size_t)ra->numel * 4);
    EXPECT_ERR(nb_forward(mp, nb_zeros(NB_F32, NB_SHAPE(2, 3, 4))), NB_ERR_SHAPE, "MaxPool2d");
    nb_scope_end(&sc);
    nb_module_free(mp);
    nb_module_free(ap);
    /* bad options: at construction */
    o = NB_POOL2D_DEFAULT(2, 2);
    o.pad[0] = 2;
    tu_err_reset();
    assert_null(nb_max_pool2d_layer_ex(&o));
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "MaxPool2d"));
    assert_non_null(strstr(tu_err.msg, "pad (2,0)"));
    o = NB_POOL2D_DEFAULT(2, 2);
    o.dilation[0] = 2;
    tu_err_reset();
    assert_null(nb_avg_pool2d_layer_ex(&o));
    assert_non_null(strstr(tu_err.msg, "AvgPool2d"));
    assert_non_null(strstr(tu_err.msg, "dilation (2,1)"));
    tu_err_reset();
    assert_null(nb_max_pool2d_layer_ex(NULL));
    assert_non_null(strstr(tu_err.msg, "options are NULL"));
    nb_error_clear();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(shapes_match_pytorch, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(values_match_pytorch, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(general_path_matches_definition, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(short_forms_are_ex_defaults, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(ceil_two_by_two, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(dilated_window_of_padding, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(nan_in_overhang, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(bad_input, tu_setup, tu_teardown),
        cmocka_unit_test(two_by_two_vector_rows),
        cmocka_unit_test_setup_teardown(layers_ex, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
