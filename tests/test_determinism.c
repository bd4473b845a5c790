/* test_determinism.c — the same training twice with the same seed.
 *
 * An MLP (nb_linear 32-64-64-10, ReLU) trained with Adam on random data for
 * 50 steps, F32. Single-threaded (nb_set_num_threads(1)): the 50 losses are
 * bit-identical between two runs, and so are the checkpoints (nb_train_save:
 * parameters, Adam's state, lr, step count, RNG), compared by the XXH3-64 of
 * the files. Multi-threaded (2 threads): two runs agree within the documented
 * tolerance, |Δloss| <= 1e-5·(1+|loss|) at every step (a different thread
 * count may sum in another order; with a fixed count the results are in
 * practice identical too, which the test reports but does not require).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include "nabla/nabla.h"

enum { STEPS = 50, N = 128, IN = 32, HID = 64, OUT = 10 };
#define MT_TOL 1e-5

static uint64_t file_hash(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    unsigned char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) XXH3_64bits_update(st, buf, n);
    fclose(f);
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

/* One training run; losses[STEPS] out, checkpoint saved at path. */
static void train(int threads, float *losses, const char *path) {
    nb_set_num_threads(threads);
    nb_seed(1234);
    nb_module *m =
        nb_sequential(nb_linear(IN, HID), nb_relu_layer(), nb_linear(HID, HID), nb_relu_layer(), nb_linear(HID, OUT));
    assert_non_null(m);
    nb_tensor *x = nb_randn(NB_F32, NB_SHAPE(N, IN), 0, 1);
    nb_tensor *y = nb_zeros(NB_I64, NB_SHAPE(N));
    for (int i = 0; i < N; i++) nb_i64(y)[i] = (int64_t)(nb_rand_u64() % OUT);
    nb_optim *opt = nb_optim_adam(m, 1e-2);
    assert_non_null(opt);
    for (int step = 0; step < STEPS; step++) {
        nb_scope *s = nb_scope_begin();
        nb_optim_zero_grad(opt);
        /* a dropout-free model, but draw from the RNG each step anyway so
         * the saved RNG state is part of what must match */
        (void)nb_rand_u64();
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, x), y, NB_REDUCE_MEAN);
        assert_non_null(loss);
        assert_int_equal(nb_backward(loss), NB_OK);
        losses[step] = (float)nb_item(loss);
        assert_int_equal(nb_optim_step(opt), NB_OK);
        nb_scope_end(&s);
    }
    char err[256];
    nb_ckpt_meta meta = nb_ckpt_meta_now(1, STEPS);
    assert_int_equal(nb_train_save(path, m, opt, &meta, err, sizeof err), NB_OK);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_tensor_free(x);
    nb_tensor_free(y);
}

static char dir[64];

static void single_thread_bit_identical(void **state) {
    (void)state;
    float a[STEPS], b[STEPS];
    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/a.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/b.ckpt", dir);
    train(1, a, pa);
    train(1, b, pb);
    assert_true(a[STEPS - 1] < a[0]); /* it trains */
    assert_memory_equal(a, b, sizeof a);
    uint64_t ha = file_hash(pa), hb = file_hash(pb);
    printf("1 thread: loss %.6f -> %.6f, losses bit-identical; checkpoint XXH3 %016llx %016llx\n", a[0], a[STEPS - 1],
           (unsigned long long)ha, (unsigned long long)hb);
    assert_true(ha == hb);
    remove(pa);
    remove(pb);
}

static void two_threads_within_tolerance(void **state) {
    (void)state;
    float a[STEPS], b[STEPS], c[STEPS];
    char pa[128], pb[128], pc[128];
    snprintf(pa, sizeof pa, "%s/a.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/b.ckpt", dir);
    snprintf(pc, sizeof pc, "%s/c.ckpt", dir);
    train(2, a, pa);
    train(2, b, pb);
    train(1, c, pc);
    double worst_ab = 0, worst_ac = 0;
    for (int i = 0; i < STEPS; i++) {
        double dab = fabs((double)a[i] - b[i]) / (1 + fabs((double)a[i]));
        double dac = fabs((double)a[i] - c[i]) / (1 + fabs((double)a[i]));
        if (dab > worst_ab) worst_ab = dab;
        if (dac > worst_ac) worst_ac = dac;
    }
    bool same = memcmp(a, b, sizeof a) == 0 && file_hash(pa) == file_hash(pb);
    printf("2 threads: run vs run max rel diff %.3g (%s), 2 vs 1 thread %.3g (tolerance %g)\n", worst_ab,
           same ? "bit-identical, checkpoints equal" : "not bit-identical", worst_ac, MT_TOL);
    assert_true(worst_ab <= MT_TOL);
    assert_true(worst_ac <= MT_TOL);
    remove(pa);
    remove(pb);
    remove(pc);
    nb_set_num_threads(1);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/nb_determinism_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_thread_bit_identical),
        cmocka_unit_test(two_threads_within_tolerance),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
