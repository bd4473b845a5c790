/* The registry-wide gradcheck: every op, every sample, F64, PyTorch's
 * tolerances (looser only where the entry says so and why). Also runs each
 * sample in F32 and checks its forward and gradients against the F64 run.
 * An op without samples fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include "nabla/nabla.h"
#include "op_seed.h"

/* f32 vs f64: both forward values and input gradients (upstream all ones) */
static double f32_vs_f64(const nb_sample *s) {
    nb_tensor *in32[NB_SAMPLE_MAX_IN];
    for (int i = 0; i < s->nin; i++) {
        in32[i] = s->in[i]->dtype == NB_F64 ? nb_copy(s->in[i]) : s->in[i];
        if (s->in[i]->dtype == NB_F64) {
            NB_NO_GRAD { in32[i] = nb_cast(in32[i], NB_F32); }
            nb_set_requires_grad(in32[i], s->in[i]->requires_grad);
        }
        nb_tensor_zero_grad(s->in[i]);
    }
    nb_tensor *y64 = s->entry->apply(s->in, s->nin, s), *y32 = s->entry->apply(in32, s->nin, s);
    assert_non_null(y64);
    assert_non_null(y32);
    assert_int_equal(y64->numel, y32->numel);
    double worst = 0;
    for (int64_t j = 0; j < y64->numel; j++) {
        double a = nb_get(y64, j), b = nb_get(y32, j);
        worst = fmax(worst, fabs(a - b) / (1e-3 + fabs(a)));
    }
    if (y64->requires_grad && y32->requires_grad) {
        nb_backward_with(y64, nb_ones(y64->dtype, y64->shape));
        nb_backward_with(y32, nb_ones(y32->dtype, y32->shape));
        for (int i = 0; i < s->nin; i++) {
            if (!s->in[i]->requires_grad) continue;
            for (int64_t k = 0; k < s->in[i]->numel; k++) {
                double a = nb_get(s->in[i]->grad, k), b = nb_get(in32[i]->grad, k);
                worst = fmax(worst, fabs(a - b) / (1e-3 + fabs(a)));
            }
        }
    }
    return worst;
}

static void registry_gradcheck(void **state) {
    (void)state;
    int n = nb_registry_count(), failures = 0, total = 0;
    assert_true(n > 0);
    clock_t t0 = clock();
    for (int i = 0; i < n; i++) {
        const nb_op_entry *e = nb_registry_get(i);
        nb_scope *sc = nb_scope_begin();
        nb_seed(op_seed(e->name)); /* not its index: adding an op leaves the others' samples */
        nb_sample samples[NB_MAX_SAMPLES];
        int ns = e->samples(samples, NB_MAX_SAMPLES);
        if (ns <= 0) {
            printf("FAIL %-14s has no gradcheck samples\n", e->name);
            failures++;
        }
        for (int k = 0; k < ns; k++) {
            nb_sample *s = &samples[k];
            s->entry = e;
            nb_gradcheck_opts o = nb_gradcheck_defaults();
            if (e->atol > 0) o.atol = e->atol;
            if (e->rtol > 0) o.rtol = e->rtol;
            o.quiet = true;
            nb_gradcheck_report r = nb_gradcheck(nb_sample_apply, s->in, s->nin, s, &o);
            double d32 = f32_vs_f64(s);
            bool ok32 = d32 < 1e-4;
            total++;
            if (!r.ok || !ok32) {
                failures++;
                printf("FAIL %-14s [%s]\n%s", e->name, s->desc, r.message);
                if (!ok32) printf("  f32 run differs from f64 by %.3g (relative)\n", d32);
            } else {
                printf("ok   %-14s [%s] worst rel err %.2e, f32 vs f64 %.1e%s\n", e->name, s->desc, r.rel_err, d32,
                       r.kinks ? " (kinks flagged)" : "");
            }
        }
        nb_scope_end(&sc);
    }
    printf("registry: %d ops, %d samples, %d failed, %.2f s\n", n, total, failures,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(registry_gradcheck)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
