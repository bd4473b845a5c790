/* tests/test_csv_rules.c — CSV header guessing and number spellings:
 * no row is lost silently, and a cell is a number only by the
 * documented rule (docs/io.md, "CSV"). */
#include "test_util.h"

static nb_status load(const char *text, nb_dataset *ds, char *err, size_t errlen) {
    return nb_csv_load_mem(text, strlen(text), NULL, ds, err, errlen);
}

/* A first row of numbers with a missing value is data, never a header: it is
 * reported (an empty field), not dropped. */
static void missing_value_is_not_a_header(void **state) {
    (void)state;
    char err[256];
    nb_dataset ds = {0};
    assert_int_equal(load("1,,0\n4,5,1\n7,8,0\n", &ds, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "<memory>:1:3: field 2 is empty"));
    assert_null(ds.x);
    /* a real header still is one */
    assert_int_equal(load("a,b,label\n4,5,1\n7,8,0\n", &ds, err, sizeof err), NB_OK);
    assert_int_equal(nb_dim(ds.x, 0), 2);
    nb_dataset_free(&ds);
    /* a header with an empty name is one too (it has a text cell) */
    assert_int_equal(load("a,,label\n4,5,1\n", &ds, err, sizeof err), NB_OK);
    assert_int_equal(nb_dim(ds.x, 0), 1);
    nb_dataset_free(&ds);
    /* all numbers: three data rows */
    assert_int_equal(load("1,2,0\n4,5,1\n7,8,0\n", &ds, err, sizeof err), NB_OK);
    assert_int_equal(nb_dim(ds.x, 0), 3);
    nb_dataset_free(&ds);
}

static void number_spellings(void **state) {
    (void)state;
    char err[256];
    nb_dataset ds = {0};
    /* hexadecimal is not a number here: 0x10 is refused, not read as 16 */
    assert_int_equal(load("1,2,0\n0x10,5,1\n", &ds, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "<memory>:2:1: field 1 '0x10' is not a number"));
    assert_int_equal(load("1,2,0\n0x1p3,5,1\n", &ds, err, sizeof err), NB_ERR_IO);
    assert_int_equal(load("1,2,0\nnan(1),5,1\n", &ds, err, sizeof err), NB_ERR_IO);
    /* as a first row, a hex cell is text: a header (reported by name when asked) */
    assert_int_equal(load("0x10,b,label\n1,2,0\n", &ds, err, sizeof err), NB_OK);
    assert_int_equal(nb_dim(ds.x, 0), 1);
    nb_dataset_free(&ds);
    /* decimal, exponents, nan, inf, infinity in any case, with a sign */
    assert_int_equal(load("-1.5e2,+.25,0\nNaN,-INF,1\ninfinity,1E-3,0\n", &ds, err, sizeof err), NB_OK);
    assert_int_equal(nb_dim(ds.x, 0), 3);
    assert_float_equal(nb_get(ds.x, 0), -150.0, 0);
    assert_float_equal(nb_get(ds.x, 1), 0.25, 0);
    assert_true(isnan(nb_get(ds.x, 2)));
    assert_true(isinf(nb_get(ds.x, 3)) && nb_get(ds.x, 3) < 0);
    assert_true(isinf(nb_get(ds.x, 4)) && nb_get(ds.x, 4) > 0);
    nb_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_value_is_not_a_header),
        cmocka_unit_test(number_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
