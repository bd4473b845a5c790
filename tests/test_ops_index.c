/* Indexing and layout ops, dropout, maxout: forward values on hand-computed
 * cases, backward (repeated indices accumulate), dropout's statistics and
 * determinism, and a bad-input case for every op (status and message). The
 * registry gradcheck (test_registry) covers the gradients numerically. */
#include "test_util.h"

/* ------------------------------------------------------------ helpers */

static nb_tensor *leaf(nb_shape s, const double *v) { return nb_set_requires_grad(nb_from_f64(s, v), true); }

/* ------------------------------------------------------------ gather, index_select, one_hot */

static void gather_values_and_grad(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double xv[] = {1, 2, 3, 4, 5, 6};
    nb_tensor *x = leaf(NB_SHAPE(2, 3), xv);
    const int64_t iv[] = {2, 0, 1, 1}; /* row 1 picks column 1 twice */
    nb_tensor *idx = nb_from_i64(NB_SHAPE(2, 2), iv);
    nb_tensor *y = nb_gather(x, 1, idx);
    expect_shape(y, NB_SHAPE(2, 2));
    EXPECT(y, 3, 1, 5, 5);
    backward_ones(y);
    EXPECT(x->grad, 1, 0, 1, 0, 2, 0); /* the repeated index accumulates */

    /* axis 0 (negative), idx smaller than x in the other dim */
    const int64_t iv0[] = {1, 0};
    nb_tensor *y0 = nb_gather(x, -2, nb_from_i64(NB_SHAPE(1, 2), iv0));
    EXPECT(y0, 4, 2);

    /* f32, and an i64 x (labels) */
    nb_tensor *x32 = nb_cast(nb_from_f64(NB_SHAPE(2, 3), xv), NB_F32);
    nb_tensor *y32 = nb_gather(x32, 1, idx);
    assert_int_equal(y32->dtype, NB_F32);
    EXPECT(y32, 3, 1, 5, 5);
    const int64_t lv[] = {10, 11, 12, 13, 14, 15};
    nb_tensor *yl = nb_gather(nb_from_i64(NB_SHAPE(2, 3), lv), 1, idx);
    assert_int_equal(yl->dtype, NB_I64);
    EXPECT(yl, 12, 10, 14, 14);
    nb_scope_end(&sc);
}

static void index_select_values_and_grad(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double ev[] = {0, 1, 10, 11, 20, 21, 30, 31}; /* an embedding table (4,2) */
    nb_tensor *emb = leaf(NB_SHAPE(4, 2), ev);
    const int64_t iv[] = {3, 0, 3, 3};
    nb_tensor *y = nb_index_select(emb, 0, nb_from_i64(NB_SHAPE(4), iv));
    expect_shape(y, NB_SHAPE(4, 2));
    EXPECT(y, 30, 31, 0, 1, 30, 31, 30, 31);
    /* seed with distinct values so the sums are visible: row 3 gets rows 0, 2, 3 of the seed */
    const double gv[] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(nb_backward_with(y, nb_from_f64(NB_SHAPE(4, 2), gv)), NB_OK);
    EXPECT(emb->grad, 3, 4, 0, 0, 0, 0, 1 + 5 + 7, 2 + 6 + 8);

    /* along the last axis of a 3-D tensor */
    nb_tensor *x = nb_arange(NB_F64, 0, 12, 1);
    x = nb_reshape(x, NB_SHAPE(2, 2, 3));
    const int64_t jv[] = {2, 2, 0};
    nb_tensor *z = nb_index_select(x, -1, nb_from_i64(NB_SHAPE(3), jv));
    expect_shape(z, NB_SHAPE(2, 2, 3));
    EXPECT(z, 2, 2, 0, 5, 5, 3, 8, 8, 6, 11, 11, 9);
    nb_scope_end(&sc);
}

static void one_hot_values(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const int64_t lv[] = {2, 0, 1, 2};
    nb_tensor *lab = nb_from_i64(NB_SHAPE(4), lv);
    nb_tensor *y = nb_one_hot(lab, 3, NB_F32);
    expect_shape(y, NB_SHAPE(4, 3));
    assert_int_equal(y->dtype, NB_F32);
    assert_false(y->requires_grad);
    EXPECT(y, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1);
    nb_tensor *y2 = nb_one_hot(lab, -1, NB_F64); /* infer C = 3 */
    expect_shape(y2, NB_SHAPE(4, 3));
    nb_tensor *y5 = nb_one_hot(nb_reshape(lab, NB_SHAPE(2, 2)), 5, NB_F64);
    expect_shape(y5, NB_SHAPE(2, 2, 5));
    EXPECT(y5, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ layout */

static void concat_values_and_grad(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double av[] = {1, 2, 3, 4}, bv[] = {5, 6};
    nb_tensor *a = leaf(NB_SHAPE(2, 2), av), *b = leaf(NB_SHAPE(2, 1), bv);
    nb_tensor *ab[] = {a, b};
    nb_tensor *y = nb_concat(ab, 2, 1);
    expect_shape(y, NB_SHAPE(2, 3));
    EXPECT(y, 1, 2, 5, 3, 4, 6);
    const double gv[] = {10, 20, 30, 40, 50, 60};
    assert_int_equal(nb_backward_with(y, nb_from_f64(NB_SHAPE(2, 3), gv)), NB_OK);
    EXPECT(a->grad, 10, 20, 40, 50);
    EXPECT(b->grad, 30, 60);

    /* axis 0, and the same tensor twice: its gradient gets both parts */
    nb_tensor *bb[] = {nb_reshape(b, NB_SHAPE(1, 2)), a, a};
    nb_tensor *z = nb_concat(bb, 3, 0);
    expect_shape(z, NB_SHAPE(5, 2));
    EXPECT(z, 5, 6, 1, 2, 3, 4, 1, 2, 3, 4);
    nb_tensor_zero_grad(a);
    backward_ones(nb_mul(z, z));
    EXPECT(a->grad, 4, 8, 12, 16); /* 2 uses * 2x */

    /* seven inputs: a node keeps 4 inline, the rest elsewhere */
    nb_tensor *in[7];
    for (int i = 0; i < 7; i++) in[i] = nb_set_requires_grad(nb_full(NB_F64, NB_SHAPE(1, i + 1), i), true);
    nb_tensor *w = nb_concat(in, 7, 1);
    expect_shape(w, NB_SHAPE(1, 28));
    assert_int_equal(nb_get(w, 27), 6);
    assert_int_equal(nb_get(w, 0), 0);
    assert_int_equal(nb_get(w, 1), 1);
    nb_tensor *seed = nb_arange(NB_F64, 0, 28, 1);
    assert_int_equal(nb_backward_with(w, nb_reshape(seed, NB_SHAPE(1, 28))), NB_OK);
    for (int i = 0, off = 0; i < 7; off += i + 1, i++)
        for (int j = 0; j <= i; j++) assert_true(nb_get(in[i]->grad, j) == off + j);

    /* i64 labels concatenate too (no grad) */
    const int64_t l1[] = {1, 2}, l2[] = {3};
    nb_tensor *ls[] = {nb_from_i64(NB_SHAPE(2), l1), nb_from_i64(NB_SHAPE(1), l2)};
    nb_tensor *l = nb_concat(ls, 2, 0);
    assert_int_equal(l->dtype, NB_I64);
    EXPECT(l, 1, 2, 3);
    nb_scope_end(&sc);
}

static void stack_values(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double av[] = {1, 2, 3}, bv[] = {4, 5, 6};
    nb_tensor *a = leaf(NB_SHAPE(3), av), *b = leaf(NB_SHAPE(3), bv);
    nb_tensor *ab[] = {a, b};
    nb_tensor *y0 = nb_stack(ab, 2, 0);
    expect_shape(y0, NB_SHAPE(2, 3));
    EXPECT(y0, 1, 2, 3, 4, 5, 6);
    nb_tensor *y1 = nb_stack(ab, 2, -1);
    expect_shape(y1, NB_SHAPE(3, 2));
    EXPECT(y1, 1, 4, 2, 5, 3, 6);
    const double gv[] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(nb_backward_with(y1, nb_from_f64(NB_SHAPE(3, 2), gv)), NB_OK);
    EXPECT(a->grad, 1, 3, 5);
    EXPECT(b->grad, 2, 4, 6);
    nb_tensor *sc3[] = {nb_scalar(NB_F32, 1), nb_scalar(NB_F32, 2), nb_scalar(NB_F32, 3)};
    nb_tensor *v = nb_stack(sc3, 3, 0);
    expect_shape(v, NB_SHAPE(3));
    EXPECT(v, 1, 2, 3);
    nb_scope_end(&sc);
}

static void slice_python_semantics(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_arange(NB_F64, 0, 10, 1), true);
    EXPECT(nb_slice(x, 0, 2, 8, 3), 2, 5);
    EXPECT(nb_slice(x, 0, -3, INT64_MAX, 1), 7, 8, 9);
    EXPECT(nb_slice(x, -1, -100, 100, 4), 0, 4, 8);
    EXPECT(nb_slice(x, 0, 1, -7, 1), 1, 2);
    EXPECT(nb_slice(x, 0, 9, 10, 5), 9);
    nb_tensor *e = nb_slice(x, 0, 8, 2, 1); /* empty, like x[8:2] */
    expect_shape(e, NB_SHAPE(0));
    expect_shape(nb_slice(x, 0, 20, 30, 1), NB_SHAPE(0));

    nb_tensor *y = nb_slice(x, 0, 1, 9, 3); /* 1, 4, 7 */
    backward_ones(y);
    EXPECT(x->grad, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0);

    nb_tensor *m = nb_reshape(nb_arange(NB_F64, 0, 12, 1), NB_SHAPE(3, 4));
    nb_tensor *c = nb_slice(m, 1, 1, 3, 1);
    expect_shape(c, NB_SHAPE(3, 2));
    EXPECT(c, 1, 2, 5, 6, 9, 10);
    nb_tensor *r = nb_slice(m, 0, -1, INT64_MAX, 1);
    expect_shape(r, NB_SHAPE(1, 4));
    EXPECT(r, 8, 9, 10, 11);
    nb_scope_end(&sc);
}

static void pad_values_and_grad(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double xv[] = {1, 2, 3, 4};
    nb_tensor *x = leaf(NB_SHAPE(2, 2), xv);
    const int64_t pads[] = {1, 0, 0, 2}; /* a row before, two columns after */
    nb_tensor *y = nb_pad(x, pads, 4, -1);
    expect_shape(y, NB_SHAPE(3, 4));
    EXPECT(y, -1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1);
    nb_tensor *g = nb_reshape(nb_arange(NB_F64, 0, 12, 1), NB_SHAPE(3, 4));
    assert_int_equal(nb_backward_with(y, g), NB_OK);
    EXPECT(x->grad, 4, 5, 8, 9);

    const double v3[] = {7, 8, 9};
    const int64_t p1[] = {2, 1};
    EXPECT(nb_pad(nb_from_f64(NB_SHAPE(3), v3), p1, 2, 0), 0, 0, 7, 8, 9, 0);
    const int64_t p0[] = {0, 0, 0, 0};
    EXPECT(nb_pad(x, p0, 4, 5), 1, 2, 3, 4);
    nb_scope_end(&sc);
}

static void expand_values_and_grad(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double xv[] = {1, 2, 3};
    nb_tensor *x = leaf(NB_SHAPE(3, 1), xv);
    nb_tensor *y = nb_expand(x, NB_SHAPE(2, 3, 2));
    expect_shape(y, NB_SHAPE(2, 3, 2));
    EXPECT(y, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3);
    backward_ones(y);
    EXPECT(x->grad, 4, 4, 4); /* the gradient sums over the 4 copies */

    nb_tensor *r = nb_expand(nb_from_f64(NB_SHAPE(3), xv), NB_SHAPE(2, -1));
    expect_shape(r, NB_SHAPE(2, 3));
    EXPECT(r, 1, 2, 3, 1, 2, 3);
    nb_scope_end(&sc);
}

static void squeeze_unsqueeze_views(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_arange(NB_F64, 0, 6, 1), true);
    nb_tensor *u = nb_unsqueeze(x, 0);
    expect_shape(u, NB_SHAPE(1, 6));
    assert_ptr_equal(u->data, x->data); /* a view */
    expect_shape(nb_unsqueeze(x, -1), NB_SHAPE(6, 1));
    expect_shape(nb_unsqueeze(nb_scalar(NB_F64, 1), 0), NB_SHAPE(1));
    nb_tensor *s = nb_squeeze(nb_unsqueeze(u, 2), -1);
    expect_shape(s, NB_SHAPE(1, 6));
    nb_tensor *q = nb_squeeze(s, 0);
    expect_shape(q, NB_SHAPE(6));
    assert_ptr_equal(q->data, x->data);
    backward_ones(nb_mul(q, q));
    EXPECT(x->grad, 0, 2, 4, 6, 8, 10);
    expect_shape(nb_squeeze(nb_ones(NB_F64, NB_SHAPE(1)), 0), NB_SCALAR);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ dropout */

static void dropout_eval_is_identity(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(4, 5), -1, 1), true);
    assert_ptr_equal(nb_dropout(x, 0.5, false), x);
    assert_ptr_equal(nb_dropout(x, 0.0, true), x);
    nb_scope_end(&sc);
}

static void dropout_statistics(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const int64_t N = 100000;
    const double ps[] = {0.1, 0.3, 0.5, 0.8};
    for (int k = 0; k < 4; k++) {
        const double p = ps[k];
        nb_seed(2024);
        nb_tensor *x = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(N)), true);
        nb_tensor *y = nb_dropout(x, p, true);
        assert_non_null(y);
        int64_t dropped = 0;
        double sum = 0;
        const float keep = (float)(1.0 / (1.0 - p));
        for (int64_t i = 0; i < N; i++) {
            const float v = nb_f32(y)[i];
            if (v == 0) dropped++;
            else assert_true(v == keep); /* kept values are scaled by 1/(1-p) */
            sum += v;
        }
        const double mean = sum / (double)N, frac = (double)dropped / (double)N;
        /* y is 0 or 1/(1-p): var y = p/(1-p). Within 1% for p <= 0.5 (at
         * least 4 standard errors); 4 standard errors beyond that. */
        const double se = sqrt(p / (1 - p) / (double)N), tol = p <= 0.5 ? 0.01 : 4 * se;
        printf("dropout p %.1f: mean %.4f (want 1 +- %.4f), dropped %.4f\n", p, mean, tol, frac);
        assert_true(fabs(mean - 1) < tol);
        assert_true(fabs(frac - p) < 0.01);

        /* backward uses the saved mask, even after the generator moved on */
        nb_rand_uniform();
        backward_ones(y);
        for (int64_t i = 0; i < N; i++) assert_true(nb_f32(x->grad)[i] == nb_f32(y)[i]);

        /* same seed, same mask; another seed, another mask */
        nb_seed(2024);
        nb_tensor *y2 = nb_dropout(x, p, true);
        assert_memory_equal(y->data, y2->data, (size_t)N * sizeof(float));
        nb_seed(2025);
        nb_tensor *y3 = nb_dropout(x, p, true);
        assert_memory_not_equal(y->data, y3->data, (size_t)N * sizeof(float));
    }
    /* f64 draws the same mask as f32 for the same seed */
    nb_seed(7);
    nb_tensor *a = nb_dropout(nb_ones(NB_F32, NB_SHAPE(1000)), 0.4, true);
    nb_seed(7);
    nb_tensor *b = nb_dropout(nb_ones(NB_F64, NB_SHAPE(1000)), 0.4, true);
    for (int64_t i = 0; i < 1000; i++) assert_true((nb_get(a, i) == 0) == (nb_get(b, i) == 0));
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ maxout */

static void maxout_values_and_grad(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    /* (2,6) axis 1, k 3: groups {1,5,3} {2,2,0}: a tie goes to the first */
    const double xv[] = {1, 5, 3, 2, 2, 0, -1, -4, -2, 7, 9, 8};
    nb_tensor *x = leaf(NB_SHAPE(2, 6), xv);
    nb_tensor *y = nb_maxout(x, 1, 3);
    expect_shape(y, NB_SHAPE(2, 2));
    EXPECT(y, 5, 2, -1, 9);
    const double gv[] = {10, 20, 30, 40};
    assert_int_equal(nb_backward_with(y, nb_from_f64(NB_SHAPE(2, 2), gv)), NB_OK);
    EXPECT(x->grad, 0, 10, 0, 20, 0, 0, 30, 0, 0, 0, 40, 0);

    /* axis 0 of (4,2), k 2: pairs of rows */
    const double zv[] = {1, 8, 3, 2, -5, 0, -6, 1};
    nb_tensor *z = nb_maxout(nb_from_f64(NB_SHAPE(4, 2), zv), 0, 2);
    expect_shape(z, NB_SHAPE(2, 2));
    EXPECT(z, 3, 8, -5, 1);
    /* f32 agrees */
    nb_tensor *z32 = nb_maxout(nb_cast(nb_from_f64(NB_SHAPE(4, 2), zv), NB_F32), -2, 2);
    EXPECT(z32, 3, 8, -5, 1);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ bad input */

static void bad_inputs(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(2, 3)), true);
    const int64_t iv[] = {0, 1, 2, 5};
    nb_tensor *idx1 = nb_from_i64(NB_SHAPE(2), iv), *idx4 = nb_from_i64(NB_SHAPE(4), iv);
    nb_tensor *idx22 = nb_from_i64(NB_SHAPE(2, 2), iv);

    /* gather */
    EXPECT_ERR(nb_gather(x, 1, idx1), NB_ERR_SHAPE, "gather", "(2,3)", "(2)");
    EXPECT_ERR(nb_gather(x, 2, idx22), NB_ERR_AXIS, "gather", "(2,3)");
    EXPECT_ERR(nb_gather(x, 1, idx22), NB_ERR_ARG, "gather", "index 5", "(2,3)", "(2,2)");
    EXPECT_ERR(nb_gather(x, 1, x), NB_ERR_DTYPE, "gather", "i64");
    EXPECT_ERR(nb_gather(x, 1, nb_from_i64(NB_SHAPE(3, 1), iv)), NB_ERR_SHAPE, "gather", "(3,1)");
    /* index_select */
    EXPECT_ERR(nb_index_select(x, 0, idx22), NB_ERR_SHAPE, "index_select", "(2,3)", "(2,2)");
    EXPECT_ERR(nb_index_select(x, 1, idx4), NB_ERR_ARG, "index_select", "index 5", "(2,3)", "(4)");
    EXPECT_ERR(nb_index_select(x, -3, idx1), NB_ERR_AXIS, "index_select", "(2,3)");
    /* one_hot */
    EXPECT_ERR(nb_one_hot(idx4, 3, NB_F32), NB_ERR_ARG, "one_hot", "label 5", "(4)");
    EXPECT_ERR(nb_one_hot(idx4, 0, NB_F32), NB_ERR_ARG, "one_hot", "(4)");
    EXPECT_ERR(nb_one_hot(x, 3, NB_F32), NB_ERR_DTYPE, "one_hot", "(2,3)");
    EXPECT_ERR(nb_one_hot(idx4, 6, NB_I64), NB_ERR_DTYPE, "one_hot");
    /* concat */
    nb_tensor *y = nb_zeros(NB_F64, NB_SHAPE(3, 2));
    nb_tensor *xy[] = {x, y};
    EXPECT_ERR(nb_concat(xy, 2, 0), NB_ERR_SHAPE, "concat", "(2,3)", "(3,2)");
    EXPECT_ERR(nb_concat(xy, 2, 2), NB_ERR_AXIS, "concat", "(2,3)");
    EXPECT_ERR(nb_concat(xy, 0, 0), NB_ERR_ARG, "concat");
    nb_tensor *xf[] = {x, nb_zeros(NB_F32, NB_SHAPE(2, 3))};
    EXPECT_ERR(nb_concat(xf, 2, 0), NB_ERR_DTYPE, "concat", "f64", "f32");
    nb_tensor *ss[] = {nb_scalar(NB_F64, 1), nb_scalar(NB_F64, 2)};
    EXPECT_ERR(nb_concat(ss, 2, 0), NB_ERR_SHAPE, "concat", "()");
    nb_tensor *x3[] = {x, nb_zeros(NB_F64, NB_SHAPE(2, 3, 1))};
    EXPECT_ERR(nb_concat(x3, 2, 0), NB_ERR_SHAPE, "concat", "(2,3,1)");
    /* stack */
    EXPECT_ERR(nb_stack(xy, 2, 0), NB_ERR_SHAPE, "stack", "(2,3)", "(3,2)");
    EXPECT_ERR(nb_stack(xy, 2, 3), NB_ERR_AXIS, "stack", "(2,3)");
    /* slice */
    EXPECT_ERR(nb_slice(x, 1, 0, 3, 0), NB_ERR_ARG, "slice", "step", "(2,3)");
    EXPECT_ERR(nb_slice(x, 1, 3, 0, -1), NB_ERR_ARG, "slice", "step", "(2,3)");
    EXPECT_ERR(nb_slice(x, 5, 0, 1, 1), NB_ERR_AXIS, "slice", "(2,3)");
    /* pad */
    const int64_t pads[] = {1, 1, 1, -1};
    EXPECT_ERR(nb_pad(x, pads, 3, 0), NB_ERR_ARG, "pad", "4", "(2,3)");
    EXPECT_ERR(nb_pad(x, pads, 4, 0), NB_ERR_ARG, "pad", ">= 0", "(2,3)");
    /* expand */
    EXPECT_ERR(nb_expand(x, NB_SHAPE(2, 4)), NB_ERR_SHAPE, "expand", "(2,3)", "(2,4)");
    EXPECT_ERR(nb_expand(x, NB_SHAPE(3)), NB_ERR_SHAPE, "expand", "(2,3)", "(3)");
    /* squeeze, unsqueeze */
    EXPECT_ERR(nb_squeeze(x, 1), NB_ERR_SHAPE, "squeeze", "(2,3)");
    EXPECT_ERR(nb_squeeze(x, 2), NB_ERR_AXIS, "squeeze", "(2,3)");
    EXPECT_ERR(nb_unsqueeze(x, 3), NB_ERR_AXIS, "unsqueeze", "(2,3)");
    EXPECT_ERR(nb_unsqueeze(nb_zeros(NB_F32, NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 1)), 0), NB_ERR_SHAPE, "unsqueeze",
               "(1,1,1,1,1,1,1,1)");
    /* dropout */
    EXPECT_ERR(nb_dropout(x, 1.0, true), NB_ERR_ARG, "dropout", "[0,1)", "(2,3)");
    EXPECT_ERR(nb_dropout(x, -0.1, true), NB_ERR_ARG, "dropout", "(2,3)");
    EXPECT_ERR(nb_dropout(x, NAN, false), NB_ERR_ARG, "dropout", "(2,3)");
    EXPECT_ERR(nb_dropout(idx4, 0.5, true), NB_ERR_DTYPE, "dropout", "i64");
    /* maxout */
    nb_tensor *x25 = nb_zeros(NB_F64, NB_SHAPE(2, 5));
    EXPECT_ERR(nb_maxout(x25, 1, 2), NB_ERR_SHAPE, "maxout", "divisible", "(2,5)");
    EXPECT_ERR(nb_maxout(x25, 1, 0), NB_ERR_ARG, "maxout", "(2,5)");
    EXPECT_ERR(nb_maxout(x25, 2, 5), NB_ERR_AXIS, "maxout", "(2,5)");

    /* NULL in, NULL out, no new error */
    tu_err_reset();
    nb_tensor *nul[] = {x, NULL};
    assert_null(nb_gather(NULL, 0, idx1));
    assert_null(nb_index_select(x, 0, NULL));
    assert_null(nb_one_hot(NULL, 3, NB_F32));
    assert_null(nb_concat(nul, 2, 0));
    assert_null(nb_stack(nul, 2, 0));
    assert_null(nb_slice(NULL, 0, 0, 1, 1));
    assert_null(nb_pad(NULL, pads, 4, 0));
    assert_null(nb_expand(NULL, NB_SHAPE(2)));
    assert_null(nb_squeeze(NULL, 0));
    assert_null(nb_unsqueeze(NULL, 0));
    assert_null(nb_dropout(NULL, 0.5, true));
    assert_null(nb_maxout(NULL, 0, 2));
    assert_int_equal(tu_err.count, 0);
    nb_scope_end(&sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gather_values_and_grad),
        cmocka_unit_test(index_select_values_and_grad),
        cmocka_unit_test(one_hot_values),
        cmocka_unit_test(concat_values_and_grad),
        cmocka_unit_test(stack_values),
        cmocka_unit_test(slice_python_semantics),
        cmocka_unit_test(pad_values_and_grad),
        cmocka_unit_test(expand_values_and_grad),
        cmocka_unit_test(squeeze_unsqueeze_views),
        cmocka_unit_test(dropout_eval_is_identity),
        cmocka_unit_test(dropout_statistics),
        cmocka_unit_test(maxout_values_and_grad),
        cmocka_unit_test_setup_teardown(bad_inputs, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
