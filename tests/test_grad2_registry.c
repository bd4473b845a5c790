/* Second order over the whole op registry.
 *
 * For every op and every sample, in F64:
 *  - the op's two backwards agree: nb_grads without create_graph (the kernel
 *    backward) and with it (backward_graph, nb_* ops) give the same input
 *    gradients for a random upstream gradient, to rounding (1e-12 relative to
 *    the gradient's largest element);
 *  - nb_gradgradcheck passes: the numerical Jacobian of the vector-Jacobian
 *    product, with respect to the inputs and the upstream gradient, against
 *    the analytic one (backward through the create_graph result), at the
 *    entry's tolerances.
 * An op whose graph holds an op without backward_graph fails the test unless
 * it is listed in no_second_order below with the reason. The run prints one
 * line per op: the table of docs/higher_order.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "nabla/nabla.h"

/* Registry ops without a second derivative: none today (one_hot's entry
 * differentiates one_hot(labels) * w with respect to w; one_hot itself has
 * integer input and no gradient at all). */
static const char *const no_second_order[] = {
    /* ops/attention.c: the fused attention's backward is written as kernels
     * (GEMMs over the saved weights); for second order, compose the same
     * attention from nb_matmul and nb_softmax (docs/nn.md). */
    "sdpa", "sdpa_packed", NULL};

static bool excused(const char *name) {
    for (int i = 0; no_second_order[i]; i++)
        if (strcmp(no_second_order[i], name) == 0) return true;
    return false;
}

/* Largest |fast − graph| over the input gradients, relative to the largest
 * |fast| element (at least 1e-300); -1 when the create_graph walk failed. */
static double agreement(const nb_sample *s, char *why, size_t whylen) {
    nb_scope *sc = nb_scope_begin();
    nb_tensor *y = s->entry->apply(s->in, s->nin, s);
    double worst = 0;
    if (!y || !y->requires_grad) {
        nb_scope_end(&sc);
        return 0;
    }
    nb_tensor *v = nb_rand(NB_F64, y->shape, -1, 1);
    nb_tensor *want[NB_SAMPLE_MAX_IN], *fast[NB_SAMPLE_MAX_IN], *slow[NB_SAMPLE_MAX_IN];
    int nw = 0;
    for (int i = 0; i < s->nin; i++)
        if (s->in[i]->requires_grad) want[nw++] = s->in[i];
    nb_grad_opts keep = {.retain_graph = true, .allow_unused = true};
    nb_grad_opts graph = {.create_graph = true, .allow_unused = true};
    if (nb_grads(&y, 1, want, nw, &v, &keep, fast) != NB_OK || nb_grads(&y, 1, want, nw, &v, &graph, slow) != NB_OK) {
        snprintf(why, whylen, "%s", nb_error_message());
        nb_error_clear();
        nb_scope_end(&sc);
        return -1;
    }
    for (int i = 0; i < nw; i++) {
        if (!fast[i] != !slow[i]) {
            snprintf(why, whylen, "input %d: one backward gives a gradient, the other none", i);
            nb_scope_end(&sc);
            return -1;
        }
        if (!fast[i]) continue;
        double scale = 1e-300, d = 0;
        for (int64_t k = 0; k < fast[i]->numel; k++) {
            scale = fmax(scale, fabs(nb_get(fast[i], k)));
            d = fmax(d, fabs(nb_get(fast[i], k) - nb_get(slow[i], k)));
        }
        worst = fmax(worst, d / scale);
    }
    nb_scope_end(&sc);
    return worst;
}

static void registry_second_order(void **state) {
    (void)state;
    nb_set_error_mode(NB_ERRORS_RECOVER);
    int n = nb_registry_count(), failures = 0, total = 0, supported = 0;
    clock_t t0 = clock();
    printf("%-18s %-8s %-10s %s\n", "op", "samples", "agree", "gradgradcheck worst rel err");
    for (int i = 0; i < n; i++) {
        const nb_op_entry *e = nb_registry_get(i);
        nb_scope *sc = nb_scope_begin();
        nb_seed(4321 + (uint64_t)i);
        nb_sample samples[NB_MAX_SAMPLES];
        int ns = e->samples(samples, NB_MAX_SAMPLES);
        double worst_agree = 0, worst_gg = 0;
        bool op_ok = true, unsupported = false;
        char why[1024] = "";
        for (int k = 0; k < ns; k++) {
            nb_sample *s = &samples[k];
            s->entry = e;
            total++;
            double a = agreement(s, why, sizeof why);
            if (a < 0) {
                unsupported = true;
                break;
            }
            worst_agree = fmax(worst_agree, a);
            if (a > 1e-12) {
                op_ok = false;
                printf("FAIL %-14s [%s] backwards differ by %.3g (relative)\n", e->name, s->desc, a);
            }
            nb_gradcheck_opts o = nb_gradcheck_defaults();
            if (e->atol > 0) o.atol = e->atol;
            if (e->rtol > 0) o.rtol = e->rtol;
            o.quiet = true;
            o.skip_extras = true; /* the first-order extras are test_registry's */
            nb_gradcheck_report r = nb_gradgradcheck(nb_sample_apply, s->in, s->nin, s, &o);
            if (!r.ok) {
                op_ok = false;
                printf("FAIL %-14s [%s] gradgradcheck\n%s", e->name, s->desc, r.message);
                if (nb_error() != NB_OK) printf("  error: %s\n", nb_error_message());
                nb_error_clear();
            }
            worst_gg = fmax(worst_gg, r.rel_err);
        }
        if (unsupported) {
            if (!excused(e->name)) {
                printf("FAIL %-14s no second order: %s\n", e->name, why);
                failures++;
            } else {
                printf("%-18s %-8d unsupported (listed)\n", e->name, ns);
            }
        } else {
            supported++;
            if (!op_ok) failures++;
            printf("%-18s %-8d %-10.1e %.2e%s\n", e->name, ns, worst_agree, worst_gg, op_ok ? "" : "  FAILED");
        }
        nb_scope_end(&sc);
    }
    printf("second order: %d of %d registry ops, %d samples, %d failed, %.2f s\n", supported, n, total, failures,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(registry_second_order)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
