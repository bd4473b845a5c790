/* tests/test_optim_status.c — nb_optim_step's status: an error still pending
 * when it is called is returned and the step is skipped (no parameter, state
 * or step count changes); once cleared, the step runs and returns NB_OK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "nabla/nabla.h"

static void step_with_pending_error_is_skipped(void **state) {
    (void)state;
    nb_set_error_mode(NB_ERRORS_RECOVER);
    const nb_optim_kind kinds[] = {NB_OPTIM_SGD, NB_OPTIM_ADAM};
    for (int k = 0; k < 2; k++) {
        const float init[4] = {1, -2, 3, -4};
        nb_tensor *p = nb_set_requires_grad(nb_from_f32(NB_SHAPE(4), init), true); /* no scope open: persistent */
        nb_optim_opts o = nb_optim_defaults(kinds[k]);
        o.lr = 0.1, o.momentum = kinds[k] == NB_OPTIM_SGD ? 0.9 : 0;
        nb_optim *opt = nb_optim_new_tensors(&o, &p, 1);
        assert_non_null(opt);
        nb_scope *s = nb_scope_begin();
        assert_int_equal(nb_backward(nb_sum_all(nb_mul(p, p))), NB_OK);
        nb_scope_end(&s);

        /* a failed op leaves an error pending */
        assert_null(nb_matmul(p, p));
        assert_int_equal(nb_error(), NB_ERR_SHAPE);
        assert_int_equal(nb_optim_step(opt), NB_ERR_SHAPE);
        assert_int_equal(nb_optim_step_count(opt), 0);
        for (int i = 0; i < 4; i++) assert_true(nb_get(p, i) == init[i]);
        nb_named_tensor st[4];
        const int ns = nb_optim_named_state(opt, st, 4);
        for (int j = 0; j < ns; j++)
            for (int64_t i = 0; i < st[j].t->numel; i++) assert_true(nb_get(st[j].t, i) == 0);
        assert_string_not_equal(nb_error_message(), "");

        /* cleared: the step runs, from the same gradient */
        nb_error_clear();
        assert_int_equal(nb_optim_step(opt), NB_OK);
        assert_int_equal(nb_optim_step_count(opt), 1);
        for (int i = 0; i < 4; i++) assert_true(nb_get(p, i) != init[i]);
        /* SGD: θ − γ·2θ */
        if (kinds[k] == NB_OPTIM_SGD)
            for (int i = 0; i < 4; i++) assert_true(nb_get(p, i) == (float)(init[i] + (float)-0.1 * (2 * init[i])));
        nb_optim_free(opt);
        nb_tensor_free(p);
    }
    nb_set_error_mode(NB_ERRORS_ABORT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(step_with_pending_error_is_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
