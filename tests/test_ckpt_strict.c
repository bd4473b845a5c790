/* tests/test_ckpt_strict.c — checkpoint loading reports every disagreement
 * at once, and a non-strict load (PyTorch's strict=False) returns the
 * missing and unexpected names. */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdlib.h>
#include <unistd.h>

static char path[64];

static void all_mismatches_reported(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/nb_ckpt_strict_%d.ckpt", (int)getpid());
    char err[4096];
    nb_tensor *a = nb_full(NB_F32, NB_SHAPE(2, 3), 1), *b = nb_full(NB_F32, NB_SHAPE(4), 2),
              *c = nb_full(NB_F64, NB_SHAPE(2), 3), *d = nb_full(NB_F32, NB_SHAPE(1), 4);
    nb_named_tensor file[] = {{"a", a}, {"b", b}, {"c", c}, {"d", d}};
    assert_int_equal(nb_checkpoint_save(path, file, 4, NULL, err, sizeof err), NB_OK);

    /* model: a with another shape, b with another dtype, c fine, e missing; d unexpected */
    nb_tensor *a2 = nb_zeros(NB_F32, NB_SHAPE(3, 2)), *b2 = nb_zeros(NB_F64, NB_SHAPE(4)),
              *c2 = nb_zeros(NB_F64, NB_SHAPE(2)), *e2 = nb_zeros(NB_F32, NB_SHAPE(5));
    nb_named_tensor model[] = {{"a", a2}, {"b", b2}, {"c", c2}, {"e", e2}};
    assert_int_equal(nb_checkpoint_load(path, model, 4, NULL, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "4 tensors don't match the model"));
    assert_non_null(strstr(err, "tensor 'a' is f32 (2,3) in the file but f32 (3,2) in the model"));
    assert_non_null(strstr(err, "tensor 'b' is f32 (4) in the file but f64 (4) in the model"));
    assert_non_null(strstr(err, "holds tensor 'd', which the model doesn't have"));
    assert_non_null(strstr(err, "tensor 'e' is missing from the file"));
    assert_float_equal(nb_get(c2, 0), 0, 0); /* nothing written */

    /* non-strict: dtype/shape mismatches still fail, all named, nothing written */
    nb_ckpt_load_result res;
    assert_int_equal(nb_checkpoint_load_ex(path, model, 4, false, NULL, &res, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "2 tensors don't match the model"));
    assert_null(strstr(err, "'d'"));
    assert_float_equal(nb_get(c2, 0), 0, 0);

    /* non-strict with the shapes right: c loads, d and e are listed */
    nb_tensor_free(a2);
    a2 = nb_zeros(NB_F32, NB_SHAPE(2, 3));
    nb_named_tensor model2[] = {{"c", c2}, {"e", e2}, {"a", a2}};
    assert_int_equal(nb_checkpoint_load_ex(path, model2, 3, false, NULL, &res, err, sizeof err), NB_OK);
    assert_int_equal(res.missing, 1);
    assert_string_equal(res.missing_names, "e");
    assert_int_equal(res.unexpected, 2);
    assert_string_equal(res.unexpected_names, "b, d");
    assert_float_equal(nb_get(c2, 1), 3, 0);
    assert_float_equal(nb_get(a2, 5), 1, 0);
    assert_float_equal(nb_get(e2, 0), 0, 0); /* missing: untouched */
    /* strict, same model: refused, naming all three */
    assert_int_equal(nb_checkpoint_load_ex(path, model2, 3, true, NULL, &res, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "3 tensors don't match the model"));

    /* a module, non-strict: a bigger model loads its shared part */
    nb_module *m = nb_sequential(nb_linear(3, 4), NULL), *m2 = nb_sequential(nb_linear(3, 4), nb_linear(4, 2), NULL);
    assert_int_equal(nb_module_save(m, path, NULL, err, sizeof err), NB_OK);
    assert_int_equal(nb_module_load(m2, path, NULL, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "'1.weight' is missing"));
    assert_non_null(strstr(err, "'1.bias' is missing"));
    assert_int_equal(nb_module_load_ex(m2, path, false, NULL, &res, err, sizeof err), NB_OK);
    assert_int_equal(res.missing, 2);
    assert_string_equal(res.missing_names, "1.weight, 1.bias");
    assert_int_equal(res.unexpected, 0);
    assert_float_equal(nb_get(nb_module_get(m2, "0.weight"), 7), nb_get(nb_module_get(m, "0.weight"), 7), 0);
    nb_module_free(m), nb_module_free(m2);
    unlink(path);
    nb_tensor *all[] = {a, b, c, d, a2, b2, c2, e2};
    for (int i = 0; i < 8; i++) nb_tensor_free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(all_mismatches_reported)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
