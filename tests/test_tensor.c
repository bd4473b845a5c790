/* test_tensor.c — tensors: creation, shapes up to 8 dims, copies, casts,
 * names, element access, the seeded generator, dtype names and printing. */
#include "test_util.h"
#include <stdlib.h>

static nb_scope *scope;

static int setup(void **state) {
    tu_setup(state);
    scope = nb_scope_begin();
    return 0;
}

/* nb_fprint into a string (caller frees). */
static char *print_str(const nb_tensor *t) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    nb_fprint(f, t);
    fclose(f);
    return buf;
}

#define ASSERT_PRINTS(t, text)           \
    do {                                 \
        char *s_ = print_str(t);         \
        assert_string_equal(s_, (text)); \
        free(s_);                        \
    } while (0)

/* ------------------------------------------------------------ creation */

static void zeros_ones_full(void **state) {
    (void)state;
    nb_tensor *z = nb_zeros(NB_F32, NB_SHAPE(2, 3));
    assert_non_null(z);
    assert_int_equal(z->dtype, NB_F32);
    assert_int_equal(nb_ndim(z), 2);
    assert_int_equal(nb_numel(z), 6);
    assert_int_equal(nb_dim(z, 0), 2);
    assert_int_equal(nb_dim(z, -1), 3);
    assert_false(z->requires_grad);
    assert_null(z->grad);
    assert_true(nb_is_leaf(z));
    assert_ptr_equal(z->scope, scope);
    assert_int_equal(*z->version, 0);
    assert_int_equal((uintptr_t)z->data % 64, 0); /* aligned for SIMD */
    for (int i = 0; i < 6; i++) assert_true(nb_f32(z)[i] == 0.0f);
    nb_tensor *o = nb_ones(NB_F64, NB_SHAPE(4));
    for (int i = 0; i < 4; i++) assert_true(nb_f64(o)[i] == 1.0);
    nb_tensor *f = nb_full(NB_I64, NB_SHAPE(2, 2), -7.9);
    assert_int_equal(f->dtype, NB_I64);
    for (int i = 0; i < 4; i++) assert_int_equal(nb_i64(f)[i], -7);
    nb_tensor *ff = nb_full(NB_F32, NB_SHAPE(3), 0.1);
    assert_true(nb_f32(ff)[2] == 0.1f);
    nb_tensor *s = nb_scalar(NB_F64, 2.5);
    assert_int_equal(nb_ndim(s), 0);
    assert_int_equal(nb_numel(s), 1);
    assert_true(nb_item(s) == 2.5);
    nb_tensor *e = nb_empty(NB_F64, NB_SHAPE(0, 5));
    assert_non_null(e);
    assert_int_equal(nb_numel(e), 0);
    nb_tensor *e2 = nb_zeros(NB_F32, NB_SHAPE(3, 0));
    assert_int_equal(nb_numel(e2), 0);
    assert_int_equal(tu_err.count, 0);
}

static void from_data_copies(void **state) {
    (void)state;
    float src[6] = {1, 2, 3, 4, 5, 6};
    nb_tensor *t = nb_from_f32(NB_SHAPE(3, 2), src);
    src[0] = 100;
    assert_true(nb_f32(t)[0] == 1);
    assert_ptr_not_equal(t->data, src);
    assert_true(nb_get(t, 5) == 6);
    double d[2] = {0.25, -1e300};
    nb_tensor *td = nb_from_f64(NB_SHAPE(2), d);
    assert_true(nb_get(td, 1) == -1e300);
    int64_t l[3] = {INT64_MAX, -3, 0};
    nb_tensor *ti = nb_from_i64(NB_SHAPE(3), l);
    assert_true(nb_i64(ti)[0] == INT64_MAX);
    assert_true(nb_get(ti, 1) == -3);
    nb_tensor *g = nb_from_data(NB_F64, NB_SCALAR, (double[]){42});
    assert_true(nb_item(g) == 42);
}

static void arange_like_numpy(void **state) {
    (void)state;
    nb_tensor *a = nb_arange(NB_F64, 0, 5, 1);
    assert_true(nb_shape_eq(a->shape, NB_SHAPE(5)));
    for (int i = 0; i < 5; i++) assert_true(nb_get(a, i) == i);
    nb_tensor *n = nb_arange(NB_F32, 5, 0, -1); /* negative step */
    assert_int_equal(nb_numel(n), 5);
    for (int i = 0; i < 5; i++) assert_true(nb_get(n, i) == 5 - i);
    nb_tensor *h = nb_arange(NB_F64, 0, 1, 0.25);
    assert_int_equal(nb_numel(h), 4);
    assert_true(nb_get(h, 3) == 0.75);
    nb_tensor *t = nb_arange(NB_F64, 0, 1, 0.1);
    assert_int_equal(nb_numel(t), 10);              /* numpy: 10 */
    nb_tensor *odd = nb_arange(NB_F64, -3, 4, 2.5); /* -3, -0.5, 2 */
    assert_int_equal(nb_numel(odd), 3);
    assert_true(nb_get(odd, 2) == 2);
    nb_tensor *i = nb_arange(NB_I64, 10, -10, -7); /* 10, 3, -4 */
    assert_int_equal(nb_numel(i), 3);
    assert_int_equal(nb_i64(i)[2], -4);
    /* empty ranges */
    nb_tensor *e1 = nb_arange(NB_F32, 0, 0, 1), *e2 = nb_arange(NB_F32, 3, 0, 1), *e3 = nb_arange(NB_F32, 0, 3, -1);
    assert_non_null(e1);
    assert_true(nb_shape_eq(e1->shape, NB_SHAPE(0)));
    assert_int_equal(nb_numel(e2), 0);
    assert_int_equal(nb_numel(e3), 0);
    /* a fresh tensor starts at version 0 */
    assert_int_equal(*a->version, 0);
    assert_int_equal(tu_err.count, 0);
    assert_null(nb_arange(NB_F32, 0, INFINITY, 1));
    assert_int_equal(tu_err.last_st, NB_ERR_ARG);
}

static double mean_of(const nb_tensor *t) {
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += nb_get(t, i);
    return s / (double)t->numel;
}
static double std_of(const nb_tensor *t) {
    double m = mean_of(t), s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += (nb_get(t, i) - m) * (nb_get(t, i) - m);
    return sqrt(s / (double)(t->numel - 1));
}

static void rand_randn_seeded(void **state) {
    (void)state;
    const int N = 100000;
    nb_seed(42);
    nb_tensor *u1 = nb_rand(NB_F64, NB_SHAPE(N), -1, 3);
    nb_tensor *n1 = nb_randn(NB_F32, NB_SHAPE(N), 2, 0.5);
    nb_seed(42);
    nb_tensor *u2 = nb_rand(NB_F64, NB_SHAPE(N), -1, 3);
    nb_tensor *n2 = nb_randn(NB_F32, NB_SHAPE(N), 2, 0.5);
    assert_memory_equal(u1->data, u2->data, (size_t)N * 8);
    assert_memory_equal(n1->data, n2->data, (size_t)N * 4);
    nb_seed(43);
    nb_tensor *u3 = nb_rand(NB_F64, NB_SHAPE(N), -1, 3);
    assert_true(memcmp(u1->data, u3->data, 64) != 0);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < N; i++) {
        lo = fmin(lo, nb_get(u1, i));
        hi = fmax(hi, nb_get(u1, i));
    }
    assert_true(lo >= -1 && hi < 3);
    assert_true(lo < -0.99 && hi > 2.99);
    /* uniform on [-1,3): mean 1, std 4/sqrt(12) = 1.1547; standard error ~0.004 */
    assert_true(fabs(mean_of(u1) - 1) < 0.02);
    assert_true(fabs(std_of(u1) - 4 / sqrt(12)) < 0.02);
    assert_true(fabs(mean_of(n1) - 2) < 0.01);
    assert_true(fabs(std_of(n1) - 0.5) < 0.01);
    /* within 3 sigma: 99.73% */
    int inside = 0;
    for (int i = 0; i < N; i++) inside += fabs(nb_get(n1, i) - 2) < 1.5;
    assert_true(fabs(inside / (double)N - 0.9973) < 0.002);
    /* the generator state round-trips (checkpoints) */
    nb_rng_state st = nb_rng_get();
    double a = nb_rand_normal(), b = nb_rand_uniform();
    nb_rng_set(st);
    assert_true(nb_rand_normal() == a);
    assert_true(nb_rand_uniform() == b);
    /* integer uniform draws cover the range */
    nb_tensor *k = nb_rand(NB_I64, NB_SHAPE(1000), 0, 10);
    int seen[10] = {0};
    for (int i = 0; i < 1000; i++) {
        int64_t v = nb_i64(k)[i];
        assert_true(v >= 0 && v < 10);
        seen[v]++;
    }
    for (int i = 0; i < 10; i++) assert_true(seen[i] > 50);
}

/* ------------------------------------------------------------ shapes */

static void shapes_up_to_8_dims(void **state) {
    (void)state;
    nb_shape s = NB_SHAPE(1, 2, 1, 2, 1, 2, 1, 3);
    assert_int_equal(s.ndim, 8);
    assert_int_equal(nb_shape_numel(s), 24);
    char buf[NB_SHAPE_STRLEN];
    assert_string_equal(nb_shape_str(s, buf, sizeof buf), "(1,2,1,2,1,2,1,3)");
    assert_string_equal(nb_shape_str(NB_SCALAR, buf, sizeof buf), "()");
    assert_string_equal(nb_shape_str(NB_SHAPE(64, 784), buf, sizeof buf), "(64,784)");
    assert_int_equal(nb_shape_numel(NB_SCALAR), 1);
    nb_tensor *t = nb_arange(NB_F64, 0, 24, 1);
    nb_tensor *r = nb_reshape(t, s);
    assert_non_null(r);
    assert_int_equal(nb_ndim(r), 8);
    assert_int_equal(nb_dim(r, 7), 3);
    assert_int_equal(nb_dim(r, -8), 1);
    nb_tensor *z = nb_zeros(NB_F32, s);
    assert_int_equal(nb_numel(z), 24);
    int64_t dims[8] = {2, 2, 2, 2, 2, 2, 2, 2};
    nb_shape m = nb_shape_make(8, dims);
    assert_int_equal(nb_shape_numel(m), 256);
    assert_true(nb_shape_eq(nb_shape_make(2, (int64_t[]){3, 4}), NB_SHAPE(3, 4)));
    assert_false(nb_shape_eq(NB_SHAPE(3, 4), NB_SHAPE(4, 3)));
    assert_false(nb_shape_eq(NB_SHAPE(3), NB_SHAPE(3, 1)));
    /* a big 8-dim tensor sums right (the reduction walks every dim) */
    nb_tensor *o = nb_ones(NB_F64, NB_SHAPE(2, 3, 2, 3, 2, 3, 2, 3));
    assert_true(nb_item(nb_sum_all(o)) == 1296);
    nb_tensor *p = nb_sum(o, (int[]){0, 7}, 2, false);
    assert_int_equal(nb_ndim(p), 6);
    assert_true(nb_get(p, 0) == 6);
    /* a short buffer is not overrun */
    char small[5];
    nb_shape_str(NB_SHAPE(64, 784), small, sizeof small);
    assert_int_equal(strlen(small), 4);
    assert_int_equal(tu_err.count, 0);
}

/* ------------------------------------------------------------ copy, cast, names */

static void copy_is_detached(void **state) {
    (void)state;
    nb_tensor *x = nb_set_name(nb_set_requires_grad(nb_arange(NB_F32, 0, 4, 1), true), "x");
    nb_tensor *y = nb_mul(x, x);
    nb_tensor *c = nb_copy(y);
    assert_ptr_not_equal(c->data, y->data);
    assert_memory_equal(c->data, y->data, 16);
    assert_false(c->requires_grad);
    assert_null(c->node);
    assert_null(c->grad);
    assert_ptr_equal(c->scope, scope);
    assert_int_equal(c->dtype, NB_F32);
    assert_true(nb_shape_eq(c->shape, y->shape));
    nb_tensor *cx = nb_copy(x);
    assert_string_equal(cx->name, "x");
    nb_f32(c)[0] = 99; /* the copy is independent */
    assert_true(nb_f32(y)[0] == 0);
    nb_tensor *p = nb_copy_persistent(y);
    assert_null(p->scope);
    assert_true(nb_get(p, 3) == 9);
    assert_ptr_not_equal(p->version, y->version);
    nb_tensor_free(p);
    assert_null(nb_copy(NULL));
}

static void cast_f32_f64(void **state) {
    (void)state;
    nb_tensor *d = nb_from_f64(NB_SHAPE(3), (double[]){0.1, -2.5, 1e40});
    nb_tensor *f = nb_cast(d, NB_F32);
    assert_int_equal(f->dtype, NB_F32);
    assert_true(nb_f32(f)[0] == 0.1f);
    assert_true(nb_f32(f)[1] == -2.5f);
    assert_true(isinf(nb_f32(f)[2]));
    nb_tensor *back = nb_cast(f, NB_F64);
    assert_int_equal(back->dtype, NB_F64);
    assert_true(nb_f64(back)[0] == (double)0.1f);
    nb_tensor *i = nb_cast(nb_from_f64(NB_SHAPE(2), (double[]){2.9, -2.9}), NB_I64);
    assert_int_equal(nb_i64(i)[0], 2);
    assert_int_equal(nb_i64(i)[1], -2);
    /* gradients come back in the input's dtype */
    nb_tensor *x = nb_set_requires_grad(nb_from_f32(NB_SHAPE(2), (float[]){1.5f, -2}), true);
    nb_tensor *x64 = nb_cast(x, NB_F64);
    assert_true(x64->requires_grad);
    nb_tensor *l = nb_sum_all(nb_mul(x64, x64));
    assert_int_equal(nb_backward(l), NB_OK);
    assert_int_equal(x->grad->dtype, NB_F32);
    assert_true(nb_f32(x->grad)[0] == 3.0f);
    assert_true(nb_f32(x->grad)[1] == -4.0f);
    assert_int_equal(tu_err.count, 0);
}

static void names(void **state) {
    (void)state;
    nb_tensor *t = nb_zeros(NB_F32, NB_SHAPE(2));
    assert_string_equal(t->name, "");
    assert_ptr_equal(nb_set_name(t, "fc1.weight"), t);
    assert_string_equal(t->name, "fc1.weight");
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    nb_set_name(t, longname);
    assert_int_equal(strlen(t->name), NB_NAME_MAX - 1);
    nb_set_name(t, NULL);
    assert_string_equal(t->name, "");
    assert_null(nb_set_name(NULL, "x"));
    /* names reach error messages */
    nb_set_name(t, "bias");
    nb_add(t, nb_zeros(NB_F32, NB_SHAPE(3)));
    assert_non_null(strstr(tu_err.last_msg, "a 'bias' is (2)"));
    /* and nb_describe */
    char d[NB_DESCRIBE_LEN];
    assert_string_equal(nb_describe(t, "w", d, sizeof d), "w 'bias' is (2)");
    assert_string_equal(nb_describe(NULL, "w", d, sizeof d), "w is NULL");
}

static void item_get_set(void **state) {
    (void)state;
    assert_true(nb_item(nb_scalar(NB_F32, 1.5)) == 1.5);
    assert_true(nb_item(nb_full(NB_F64, NB_SHAPE(1, 1, 1), -3)) == -3);
    assert_true(nb_item(nb_full(NB_I64, NB_SHAPE(1), 12)) == 12);
    assert_true(isnan(nb_item(NULL)));
    assert_int_equal(tu_err.count, 0);
    assert_true(isnan(nb_item(nb_zeros(NB_F32, NB_SHAPE(2)))));
    assert_int_equal(tu_err.last_st, NB_ERR_SHAPE);
    assert_true(isnan(nb_item(nb_zeros(NB_F32, NB_SHAPE(0)))));
    nb_tensor *t = nb_zeros(NB_F32, NB_SHAPE(2, 2));
    nb_set(t, 3, 2.5);
    assert_true(nb_get(t, 3) == 2.5);
    assert_int_equal(*t->version, 1);
    nb_tensor *i = nb_zeros(NB_I64, NB_SHAPE(2));
    nb_set(i, 1, -9);
    assert_int_equal(nb_i64(i)[1], -9);
}

static void dtype_names_and_sizes(void **state) {
    (void)state;
    assert_string_equal(nb_dtype_name(NB_F32), "f32");
    assert_string_equal(nb_dtype_name(NB_F64), "f64");
    assert_string_equal(nb_dtype_name(NB_I64), "i64");
    assert_string_equal(nb_dtype_name((nb_dtype)42), "?");
    assert_int_equal(nb_dtype_size(NB_F32), 4);
    assert_int_equal(nb_dtype_size(NB_F64), 8);
    assert_int_equal(nb_dtype_size(NB_I64), 8);
}

/* ------------------------------------------------------------ printing */

static void print_small_exact(void **state) {
    (void)state;
    ASSERT_PRINTS(nb_from_f32(NB_SHAPE(2, 2), (float[]){1, 2, 3, 4}),
                  "tensor([[1., 2.],\n"
                  "        [3., 4.]], dtype=f32)\n");
    ASSERT_PRINTS(nb_from_f32(NB_SHAPE(3), (float[]){-1, 2.5f, 3}), "tensor([-1.0000,  2.5000,  3.0000], dtype=f32)\n");
    ASSERT_PRINTS(nb_from_f64(NB_SHAPE(2), (double[]){-1, 25.5}), "tensor([-1.0000, 25.5000], dtype=f64)\n");
    ASSERT_PRINTS(nb_scalar(NB_F64, 3.25), "tensor(3.2500, dtype=f64)\n");
    ASSERT_PRINTS(nb_from_f64(NB_SHAPE(2), (double[]){1e-5, 1}), "tensor([1.0000e-05, 1.0000e+00], dtype=f64)\n");
    ASSERT_PRINTS(nb_from_i64(NB_SHAPE(3), (int64_t[]){1, -20, 3}), "tensor([  1, -20,   3], dtype=i64)\n");
    ASSERT_PRINTS(nb_from_f64(NB_SHAPE(3), (double[]){NAN, 1, -INFINITY}), "tensor([ nan,   1., -inf], dtype=f64)\n");
    ASSERT_PRINTS(nb_from_f64(NB_SHAPE(2), (double[]){INFINITY, 0.5}), "tensor([   inf, 0.5000], dtype=f64)\n");
    ASSERT_PRINTS(nb_zeros(NB_F32, NB_SHAPE(0)), "tensor([], dtype=f32)\n");
    ASSERT_PRINTS(nb_from_f32(NB_SHAPE(2, 1, 2), (float[]){1, 2, 3, 4}),
                  "tensor([[[1., 2.]],\n"
                  "\n"
                  "        [[3., 4.]]], dtype=f32)\n");
    /* leaf requiring grad, op output, name */
    nb_tensor *w = nb_set_name(nb_set_requires_grad(nb_zeros(NB_F32, NB_SHAPE(2)), true), "w");
    ASSERT_PRINTS(w, "tensor([0., 0.], dtype=f32, requires_grad=true, name='w')\n");
    ASSERT_PRINTS(nb_exp(w), "tensor([1., 1.], dtype=f32, op=exp)\n");
    ASSERT_PRINTS(NULL, "tensor(NULL)\n");
    /* fmemopen works the same */
    char buf[256];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    nb_fprint(f, nb_ones(NB_F64, NB_SHAPE(1)));
    fclose(f);
    assert_string_equal(buf, "tensor([1.], dtype=f64)\n");
}

static void print_large_summarised(void **state) {
    (void)state;
    ASSERT_PRINTS(nb_arange(NB_F32, 0, 2000, 1),
                  "tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.], dtype=f32)\n");
    /* 1000 elements exactly: printed in full */
    char *s = print_str(nb_zeros(NB_F32, NB_SHAPE(1000)));
    assert_null(strstr(s, "..."));
    assert_int_equal(strlen(s), strlen("tensor([") + 1000 * 2 + 999 * 2 + strlen("], dtype=f32)\n"));
    free(s);
    s = print_str(nb_reshape(nb_arange(NB_F32, 0, 1600, 1), NB_SHAPE(40, 40)));
    assert_true(strncmp(s, "tensor([[   0.,    1.,    2., ...,   37.,   38.,   39.],\n", 56) == 0);
    assert_non_null(strstr(s, "\n        ...,\n        [1480., 1481., 1482., ..., 1517., 1518., 1519.],\n"));
    assert_non_null(strstr(s, "[1560., 1561., 1562., ..., 1597., 1598., 1599.]], dtype=f32)\n"));
    /* 7 rows printed: 3, "...", 3 */
    int lines = 0;
    for (char *c = s; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 7);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(zeros_ones_full, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(from_data_copies, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(arange_like_numpy, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(rand_randn_seeded, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(shapes_up_to_8_dims, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(copy_is_detached, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(cast_f32_f64, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(names, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(item_get_set, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(dtype_names_and_sizes, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(print_small_exact, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(print_large_summarised, setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
