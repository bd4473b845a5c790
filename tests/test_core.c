#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include "nabla/nabla.h"

static void graph_01(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_scalar(NB_F64, -2), true);
    nb_tensor *y = nb_set_requires_grad(nb_scalar(NB_F64, 5), true);
    nb_tensor *z = nb_set_requires_grad(nb_scalar(NB_F64, -4), true);
    nb_tensor *q = nb_add(x, y), *f = nb_mul(q, z);
    assert_int_equal(nb_backward(f), NB_OK);
    assert_true(nb_item(f) == -12);
    assert_true(nb_item(x->grad) == -4);
    assert_true(nb_item(y->grad) == -4);
    assert_true(nb_item(z->grad) == 3);
    nb_scope_end(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(graph_01)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
