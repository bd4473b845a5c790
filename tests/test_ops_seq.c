/* Sequence ops (ops/seq.c) and nb_detach: values on hand-computed cases,
 * which results are views and which copies, separate gradient paths of the
 * pieces, I64 data, and a bad-input case for every op (status and message).
 * The registry gradcheck (test_registry) and the PyTorch fixtures
 * (test_reference) cover the gradients numerically. */
#include "test_util.h"

static nb_tensor *leaf(nb_shape s, const double *v) { return nb_set_requires_grad(nb_from_f64(s, v), true); }
static nb_tensor *iota(nb_shape s) { return nb_reshape(nb_arange(NB_F64, 0, (double)nb_shape_numel(s), 1), s); }

/* ------------------------------------------------------------ narrow, select */

static void narrow_select_values_views_grads(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(iota(NB_SHAPE(3, 4)), true); /* rows 0..3, 4..7, 8..11 */

    /* along axis 0: one contiguous block, a view sharing x's data and version */
    nb_tensor *r = nb_narrow(x, 0, 1, 2);
    expect_shape(r, NB_SHAPE(2, 4));
    EXPECT(r, 4, 5, 6, 7, 8, 9, 10, 11);
    assert_ptr_equal(r->data, nb_f64(x) + 4);
    assert_ptr_equal(r->version, x->version);
    /* along axis 1 with a negative start: a copy */
    nb_tensor *c = nb_narrow(x, -1, -3, 2);
    expect_shape(c, NB_SHAPE(3, 2));
    EXPECT(c, 1, 2, 5, 6, 9, 10);
    assert_true((double *)c->data < nb_f64(x) || (double *)c->data >= nb_f64(x) + 12);
    /* an empty piece and the whole axis */
    expect_shape(nb_narrow(x, 1, 4, 0), NB_SHAPE(3, 0));
    EXPECT(nb_narrow(x, 0, 0, 3), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);

    /* select drops the axis; a negative index counts from the end */
    nb_tensor *s0 = nb_select(x, 0, -1), *s1 = nb_select(x, 1, 2);
    expect_shape(s0, NB_SHAPE(4));
    EXPECT(s0, 8, 9, 10, 11);
    assert_ptr_equal(s0->data, nb_f64(x) + 8);
    expect_shape(s1, NB_SHAPE(3));
    EXPECT(s1, 2, 6, 10);
    nb_tensor *sc0 = nb_select(nb_select(x, 0, 1), 0, 3); /* down to a 0-d tensor */
    expect_shape(sc0, NB_SCALAR);
    EXPECT(sc0, 7);

    /* backward adds each piece's gradient into its place */
    nb_tensor *parts[] = {nb_reshape(r, NB_SHAPE(-1)), nb_reshape(c, NB_SHAPE(-1)), s1};
    nb_tensor *loss = nb_sum_all(nb_concat(parts, 3, 0));
    assert_int_equal(nb_backward(loss), NB_OK);
    EXPECT(x->grad, 0, 1, 2, 0, 1, 2, 3, 1, 1, 2, 3, 1); /* r: rows 1-2; c: cols 1-2; s1: col 2 */

    /* f32 and i64 data; a view of a view keeps pointing into the original */
    nb_tensor *x32 = nb_cast(iota(NB_SHAPE(2, 3)), NB_F32);
    EXPECT(nb_select(x32, 1, 1), 1, 4);
    const int64_t lv[] = {10, 11, 12, 13, 14, 15};
    nb_tensor *lab = nb_from_i64(NB_SHAPE(6), lv);
    nb_tensor *ln = nb_narrow(nb_narrow(lab, 0, 2, 4), 0, 1, 2);
    assert_int_equal(ln->dtype, NB_I64);
    EXPECT(ln, 13, 14);
    assert_ptr_equal(ln->data, nb_i64(lab) + 3);
    nb_scope_end(&sc);
}

/* An in-place write through a view is seen by x (and vice versa), and
 * backward through a node that saved x notices it, as in PyTorch. */
static void views_share_versions(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = iota(NB_SHAPE(2, 3));
    nb_tensor *v = nb_select(x, 0, 1);
    nb_fill_(v, -1);
    EXPECT(x, 0, 1, 2, -1, -1, -1);
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(2, 3)), true);
    nb_tensor *y = nb_sum_all(nb_mul(w, x)); /* mul saves x for dw */
    nb_scale_(nb_select(x, 0, 0), 2);        /* ...which is then changed through a view */
    nb_set_error_mode(NB_ERRORS_RECOVER);
    assert_int_equal(nb_backward(y), NB_ERR_VERSION);
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ chunk, split, unbind */

static void chunk_split_unbind(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(iota(NB_SHAPE(2, 5)), true);
    nb_tensor *out[8];

    /* torch.chunk: pieces of ceil(5/3) = 2, the last smaller */
    assert_int_equal(nb_chunk(x, 3, 1, out), 3);
    EXPECT(out[0], 0, 1, 5, 6);
    EXPECT(out[1], 2, 3, 7, 8);
    EXPECT(out[2], 4, 9);
    /* fewer pieces than asked: 5 in chunks of ceil(5/4) = 2 gives 3; the rest NULL */
    for (int i = 0; i < 8; i++) out[i] = x;
    assert_int_equal(nb_chunk(x, 4, -1, out), 3);
    assert_null(out[3]);
    expect_shape(out[2], NB_SHAPE(2, 1));
    /* an empty axis gives `chunks` empty pieces (as torch) */
    nb_tensor *e = nb_zeros(NB_F64, NB_SHAPE(0, 3));
    assert_int_equal(nb_chunk(e, 3, 0, out), 3);
    expect_shape(out[2], NB_SHAPE(0, 3));

    /* each piece its own gradient path: use piece 1 only (times 3) */
    assert_int_equal(nb_chunk(x, 3, 1, out), 3);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul_scalar(out[1], 3))), NB_OK);
    EXPECT(x->grad, 0, 0, 3, 3, 0, 0, 0, 3, 3, 0);
    nb_tensor_zero_grad(x);

    /* chunks along axis 0 are views */
    nb_tensor *t = iota(NB_SHAPE(4, 2));
    assert_int_equal(nb_chunk(t, 2, 0, out), 2);
    assert_ptr_equal(out[1]->data, nb_f64(t) + 4);

    /* split with sizes, a zero size included */
    const int64_t sz[] = {1, 0, 4};
    assert_int_equal(nb_split(x, sz, 3, 1, out), 3);
    expect_shape(out[1], NB_SHAPE(2, 0));
    EXPECT(out[0], 0, 5);
    EXPECT(out[2], 1, 2, 3, 4, 6, 7, 8, 9);

    /* unbind: time steps of a (T,B,H) sequence along axis 0, free views */
    nb_tensor *seq = nb_set_requires_grad(iota(NB_SHAPE(3, 2, 2)), true);
    nb_tensor *steps[3];
    assert_int_equal(nb_unbind(seq, 0, steps, 3), 3);
    expect_shape(steps[2], NB_SHAPE(2, 2));
    EXPECT(steps[2], 8, 9, 10, 11);
    assert_ptr_equal(steps[1]->data, nb_f64(seq) + 4);
    assert_int_equal(nb_unbind(seq, -1, out, 8), 2);
    EXPECT(out[1], 1, 3, 5, 7, 9, 11);
    /* weights by time step: dseq[t] = t+1 */
    nb_tensor *acc = nb_mul_scalar(steps[0], 1);
    acc = nb_add(acc, nb_mul_scalar(steps[1], 2));
    acc = nb_add(acc, nb_mul_scalar(steps[2], 3));
    assert_int_equal(nb_backward(nb_sum_all(acc)), NB_OK);
    EXPECT(seq->grad, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ flip, cumsum, masked_fill */

static void flip_cumsum_masked_fill(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(iota(NB_SHAPE(2, 3)), true);
    EXPECT(nb_flip(x, (int[]){1}, 1), 2, 1, 0, 5, 4, 3);
    EXPECT(nb_flip(x, (int[]){0}, 1), 3, 4, 5, 0, 1, 2);
    EXPECT(nb_flip(x, (int[]){-1, 0}, 2), 5, 4, 3, 2, 1, 0);
    EXPECT(nb_flip(x, NULL, 0), 0, 1, 2, 3, 4, 5);
    const int64_t lv[] = {1, 2, 3};
    EXPECT(nb_flip(nb_from_i64(NB_SHAPE(3), lv), (int[]){0}, 1), 3, 2, 1);
    /* flip's backward flips the gradient back */
    const double gv[] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(nb_backward_with(nb_flip(x, (int[]){1}, 1), nb_from_f64(NB_SHAPE(2, 3), gv)), NB_OK);
    EXPECT(x->grad, 3, 2, 1, 6, 5, 4);
    nb_tensor_zero_grad(x);

    /* cumsum; backward is the reversed cumsum of the gradient */
    EXPECT(nb_cumsum(x, 1), 0, 1, 3, 3, 7, 12);
    EXPECT(nb_cumsum(x, 0), 0, 1, 2, 3, 5, 7);
    assert_int_equal(nb_backward_with(nb_cumsum(x, -1), nb_from_f64(NB_SHAPE(2, 3), gv)), NB_OK);
    EXPECT(x->grad, 6, 5, 3, 15, 11, 6);
    nb_tensor_zero_grad(x);
    EXPECT(nb_cumsum(nb_from_i64(NB_SHAPE(3), lv), 0), 1, 3, 6);
    /* f32 sums in double: 2^24 + 1 + 1 = 2^24 + 2 (a float sum stays at 2^24) */
    const float big[] = {16777216.0f, 1, 1};
    nb_tensor *cs = nb_cumsum(nb_from_f32(NB_SHAPE(3), big), 0);
    assert_true(nb_get(cs, 2) == 16777218.0);

    /* masked_fill: i64 mask broadcast over rows; the filled places get no gradient */
    const int64_t mv[] = {1, 0, 1};
    nb_tensor *m = nb_from_i64(NB_SHAPE(3), mv);
    nb_tensor *y = nb_masked_fill(x, m, -INFINITY);
    EXPECT(y, -INFINITY, 1, -INFINITY, -INFINITY, 4, -INFINITY);
    assert_int_equal(nb_backward_with(y, nb_from_f64(NB_SHAPE(2, 3), gv)), NB_OK);
    EXPECT(x->grad, 0, 2, 0, 0, 5, 0);
    /* a float mask (nonzero = fill) of shape (2,1), f32 x; an i64 x */
    const double fm[] = {0, 0.5};
    nb_tensor *x32 = nb_cast(iota(NB_SHAPE(2, 3)), NB_F32);
    EXPECT(nb_masked_fill(x32, nb_from_f64(NB_SHAPE(2, 1), fm), 9), 0, 1, 2, 9, 9, 9);
    const int64_t lab[] = {4, 5, 6};
    EXPECT(nb_masked_fill(nb_from_i64(NB_SHAPE(3), lab), m, -100), -100, 5, -100);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ detach */

static void detach_shares_data_and_stops_gradients(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double v[] = {1, 2, 3};
    nb_tensor *w = leaf(NB_SHAPE(3), v);
    nb_tensor *h = nb_mul(w, w); /* a non-leaf, like an RNN state */
    nb_set_name(h, "h");
    nb_tensor *hd = nb_detach(h);
    assert_non_null(hd);
    assert_false(hd->requires_grad);
    assert_null(hd->node);
    assert_null(hd->grad);
    assert_ptr_equal(hd->data, h->data); /* no copy */
    assert_string_equal(hd->name, "h");
    EXPECT(hd, 1, 4, 9);

    /* the loss sees h's values through hd, but no gradient reaches w through it */
    nb_tensor *u = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(3)), true);
    nb_tensor *loss = nb_sum_all(nb_mul(u, hd));
    assert_int_equal(nb_backward(loss), NB_OK);
    EXPECT(u->grad, 1, 4, 9);
    assert_null(w->grad);
    /* with the state used directly as well, only that path reaches w */
    nb_tensor *loss2 = nb_sum_all(nb_add(nb_mul(u, hd), h));
    assert_int_equal(nb_backward(loss2), NB_OK);
    EXPECT(w->grad, 2, 4, 6);

    /* shares the version counter: an in-place write to either shows in both */
    nb_tensor *p = nb_from_f64(NB_SHAPE(3), v);
    nb_tensor *pd = nb_detach(p);
    nb_fill_(pd, 7);
    EXPECT(p, 7, 7, 7);
    assert_ptr_equal(pd->version, p->version);
    /* i64 too; NULL in, NULL out, no error */
    const int64_t lv[] = {3, 4};
    EXPECT(nb_detach(nb_from_i64(NB_SHAPE(2), lv)), 3, 4);
    tu_err_reset();
    assert_null(nb_detach(NULL));
    assert_int_equal(tu_err.count, 0);
    nb_set_error_handler(NULL, NULL);
    nb_scope_end(&sc);

    /* persistent: the header is freed alone, the data stays with x */
    nb_tensor *px = nb_from_f64(NB_SHAPE(3), v);
    nb_tensor *pdx = nb_detach(px);
    nb_tensor_free(pdx);
    EXPECT(px, 1, 2, 3);
    nb_tensor_free(px);
}

/* Truncated BPTT in miniature: the state carried into the second chunk is
 * detached, so the second chunk's loss reaches w only through that chunk. */
static void detach_truncates_bptt(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const double wv[] = {0.5};
    nb_tensor *w = leaf(NB_SHAPE(1), wv);
    nb_tensor *h = nb_ones(NB_F64, NB_SHAPE(1));
    for (int t = 0; t < 3; t++) h = nb_mul(h, w); /* chunk 1: h = w^3 */
    h = nb_detach(h);
    nb_tensor *h2 = h;
    for (int t = 0; t < 2; t++) h2 = nb_mul(h2, w); /* chunk 2: h2 = h·w^2 */
    assert_int_equal(nb_backward(nb_sum_all(h2)), NB_OK);
    /* d(h·w^2)/dw with h held = 2·h·w = 2·0.125·0.5 (untruncated: 5·w^4 = 0.3125) */
    EXPECT(w->grad, 0.125);
    nb_scope_end(&sc);
}

/* ------------------------------------------------------------ bad input */

static void bad_inputs(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(2, 5)), true);
    nb_set_name(x, "seq");
    nb_tensor *out[8];

    /* narrow */
    EXPECT_ERR(nb_narrow(x, 1, 3, 3), NB_ERR_ARG, "narrow", "start 3 + length 3", "size 5", "seq", "(2,5)");
    EXPECT_ERR(nb_narrow(x, 1, 6, 0), NB_ERR_ARG, "narrow", "start 6", "(2,5)");
    EXPECT_ERR(nb_narrow(x, 1, -6, 1), NB_ERR_ARG, "narrow", "start -6", "(2,5)");
    EXPECT_ERR(nb_narrow(x, 1, 0, -1), NB_ERR_ARG, "narrow", "length", "(2,5)");
    EXPECT_ERR(nb_narrow(x, 2, 0, 1), NB_ERR_AXIS, "narrow", "(2,5)");
    EXPECT_ERR(nb_narrow(nb_scalar(NB_F64, 1), 0, 0, 1), NB_ERR_AXIS, "narrow", "()");
    /* select */
    EXPECT_ERR(nb_select(x, 0, 2), NB_ERR_ARG, "select", "index 2", "[-2,2)", "(2,5)");
    EXPECT_ERR(nb_select(x, -1, -6), NB_ERR_ARG, "select", "index -6", "(2,5)");
    EXPECT_ERR(nb_select(x, -3, 0), NB_ERR_AXIS, "select", "(2,5)");
    /* chunk: every out[] cleared on error */
    out[0] = out[1] = x;
    tu_err_reset();
    assert_int_equal(nb_chunk(x, 0, 1, out), -1);
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "chunk"));
    assert_non_null(strstr(tu_err.msg, "(2,5)"));
    tu_err_reset();
    assert_int_equal(nb_chunk(x, 2, 3, out), -1);
    assert_int_equal(tu_err.st, NB_ERR_AXIS);
    assert_null(out[0]);
    assert_null(out[1]);
    tu_err_reset();
    assert_int_equal(nb_chunk(x, 2, 0, NULL), -1);
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    /* split: sizes that don't sum to the axis, negative, huge (no overflow) */
    tu_err_reset();
    assert_int_equal(nb_split(x, (int64_t[]){2, 2}, 2, 1, out), -1);
    assert_non_null(strstr(tu_err.msg, "split"));
    assert_non_null(strstr(tu_err.msg, "sum to 4"));
    assert_non_null(strstr(tu_err.msg, "size 5"));
    assert_non_null(strstr(tu_err.msg, "(2,5)"));
    tu_err_reset();
    assert_int_equal(nb_split(x, (int64_t[]){6, -1}, 2, 1, out), -1);
    assert_non_null(strstr(tu_err.msg, "negative"));
    tu_err_reset();
    assert_int_equal(nb_split(x, (int64_t[]){INT64_MAX, INT64_MAX, 5}, 3, 1, out), -1);
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "split"));
    tu_err_reset();
    assert_int_equal(nb_split(x, NULL, 2, 1, out), -1);
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    /* unbind: out too small */
    tu_err_reset();
    assert_int_equal(nb_unbind(x, 1, out, 4), -1);
    assert_int_equal(tu_err.st, NB_ERR_ARG);
    assert_non_null(strstr(tu_err.msg, "5 entries but out holds 4"));
    assert_non_null(strstr(tu_err.msg, "(2,5)"));
    /* flip */
    EXPECT_ERR(nb_flip(x, (int[]){1, -1}, 2), NB_ERR_AXIS, "flip", "twice", "(2,5)");
    EXPECT_ERR(nb_flip(x, (int[]){2}, 1), NB_ERR_AXIS, "flip", "(2,5)");
    EXPECT_ERR(nb_flip(x, NULL, 1), NB_ERR_ARG, "flip", "NULL", "(2,5)");
    EXPECT_ERR(nb_flip(x, (int[]){0, 1, 0}, 3), NB_ERR_ARG, "flip", "(2,5)");
    /* cumsum */
    EXPECT_ERR(nb_cumsum(x, 2), NB_ERR_AXIS, "cumsum", "(2,5)");
    EXPECT_ERR(nb_cumsum(nb_scalar(NB_F64, 1), 0), NB_ERR_AXIS, "cumsum", "()");
    /* masked_fill */
    nb_tensor *m3 = nb_zeros(NB_I64, NB_SHAPE(3));
    EXPECT_ERR(nb_masked_fill(x, m3, 0), NB_ERR_SHAPE, "masked_fill", "mask is (3)", "seq", "(2,5)");
    EXPECT_ERR(nb_masked_fill(x, nb_zeros(NB_I64, NB_SHAPE(1, 2, 5)), 0), NB_ERR_SHAPE, "masked_fill", "(1,2,5)");
    EXPECT_ERR(nb_masked_fill(nb_zeros(NB_I64, NB_SHAPE(3)), m3, 1e30), NB_ERR_ARG, "masked_fill", "i64");

    /* NULL in, NULL out (or -1), no new error */
    tu_err_reset();
    assert_null(nb_narrow(NULL, 0, 0, 1));
    assert_null(nb_select(NULL, 0, 0));
    assert_int_equal(nb_chunk(NULL, 2, 0, out), -1);
    assert_null(out[1]);
    assert_int_equal(nb_split(NULL, (int64_t[]){1}, 1, 0, out), -1);
    assert_int_equal(nb_unbind(NULL, 0, out, 8), -1);
    assert_null(nb_flip(NULL, NULL, 0));
    assert_null(nb_cumsum(NULL, 0));
    assert_null(nb_masked_fill(x, NULL, 0));
    assert_null(nb_masked_fill(NULL, m3, 0));
    assert_int_equal(tu_err.count, 0);
    nb_scope_end(&sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(narrow_select_values_views_grads),
        cmocka_unit_test_teardown(views_share_versions, tu_teardown),
        cmocka_unit_test(chunk_split_unbind),
        cmocka_unit_test(flip_cumsum_masked_fill),
        cmocka_unit_test_teardown(detach_shares_data_and_stops_gradients, tu_teardown),
        cmocka_unit_test(detach_truncates_bptt),
        cmocka_unit_test_setup_teardown(bad_inputs, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
