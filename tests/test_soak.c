/* test_soak.c — memory over a long training run.
 *
 * 100,000 steps of a small MLP (nb_linear 16-32-4, ReLU, cross-entropy,
 * batch 16) with in-place optimizers (SGD with momentum, then Adam), every
 * step in its own scope. The process's peak RSS (VmHWM in /proc/self/status)
 * at the end must be within 1% of its value at step 1,000, and nabla's own
 * heap (nb_mem_stats) must not grow after step 1,000 either. Sized to run in
 * well under 30 s; NB_SOAK_STEPS overrides the step count (bench use).
 *
 * This process is small (~6 MB, mostly shared-library pages), and on a
 * loaded machine the kernel may drop one of its file-backed pages and fault
 * it back with fault-around (64 KiB, /sys/kernel/mm/transparent_hugepage is
 * not involved): VmHWM then grows by 64 KiB, ~1%, with no allocation at all.
 * So the anonymous memory (RssAnon: heap, arenas, stacks — what a leak would
 * grow), sampled every 1,000 steps, must stay within 1% of its step-1,000
 * value, and VmHWM within 1% plus one fault-around window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include "nabla/nabla.h"

/* A field of /proc/self/status in kB, read with open/read into a stack
 * buffer: no malloc (under ASan, fopen's freed buffers would sit in the
 * quarantine and grow the RSS this test watches). */
static long status_kb(const char *key) {
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    size_t kl = strlen(key);
    for (const char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (!strncmp(line, key, kl) && line[kl] == ':') return strtol(line + kl + 1, NULL, 10);
    return -1;
}

static void soak(nb_optim *(*make)(nb_module *), const char *name) {
    long steps = 100000;
    const char *env = getenv("NB_SOAK_STEPS");
    if (env) steps = atol(env);
    if (steps < 2000) steps = 2000;
    nb_set_num_threads(1);
    nb_seed(7);
    nb_module *m = nb_sequential(nb_linear(16, 32), nb_relu_layer(), nb_linear(32, 4));
    nb_optim *opt = make(m);
    assert_non_null(opt);
    nb_tensor *x = nb_randn(NB_F32, NB_SHAPE(256, 16), 0, 1);
    nb_tensor *y = nb_zeros(NB_I64, NB_SHAPE(256));
    for (int i = 0; i < 256; i++) nb_i64(y)[i] = (nb_f32(x)[i * 16] > 0) + 2 * (nb_f32(x)[i * 16 + 1] > 0);
    nb_tensor *xb = nb_zeros(NB_F32, NB_SHAPE(16, 16)), *yb = nb_zeros(NB_I64, NB_SHAPE(16));
    long hwm1k = 0, rss1k = 0, anon1k = 0, anon_peak = 0;
    size_t heap1k = 0, allocs1k = 0;
    double first = 0, last = 0;
    clock_t c0 = clock();
    for (long step = 0; step < steps; step++) {
        int off = (int)(step % 16) * 16;
        memcpy(nb_f32(xb), nb_f32(x) + off * 16, 16 * 16 * sizeof(float));
        memcpy(nb_i64(yb), nb_i64(y) + off, 16 * sizeof(int64_t));
        nb_scope *s = nb_scope_begin();
        nb_optim_zero_grad(opt);
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, xb), yb, NB_REDUCE_MEAN);
        if (nb_backward(loss) != NB_OK) fail();
        if (step == 0) first = nb_item(loss);
        last = nb_item(loss);
        nb_optim_step(opt);
        nb_scope_end(&s);
        if ((step + 1) % 1000 == 0) {
            long a = status_kb("RssAnon");
            if (a > anon_peak) anon_peak = a;
        }
        if (step + 1 == 1000) {
            anon1k = anon_peak;
            hwm1k = status_kb("VmHWM");
            rss1k = status_kb("VmRSS");
            nb_mem_stats ms = nb_mem_stats_get();
            heap1k = ms.heap_live;
            allocs1k = ms.heap_allocs;
        }
    }
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    long hwm = status_kb("VmHWM"), rss = status_kb("VmRSS");
    nb_mem_stats ms = nb_mem_stats_get();
    printf("%s: %ld steps in %.1f s CPU (%.1f us/step), loss %.3f -> %.3f; VmHWM %ld kB at step 1000, %ld kB at the "
           "end (%+.2f%%); VmRSS %ld -> %ld kB; RssAnon %ld kB at step 1000, peak %ld kB after (%+.2f%%); "
           "nabla heap %zu -> %zu bytes, %zu heap allocations after step 1000\n",
           name, steps, secs, 1e6 * secs / (double)steps, first, last, hwm1k, hwm,
           100.0 * (double)(hwm - hwm1k) / (double)hwm1k, rss1k, rss, anon1k, anon_peak,
           100.0 * (double)(anon_peak - anon1k) / (double)anon1k, heap1k, ms.heap_live, ms.heap_allocs - allocs1k);
    assert_true(hwm1k > 0 && anon1k > 0);
    assert_true((double)anon_peak <= 1.01 * (double)anon1k);
    assert_true((double)hwm <= 1.01 * (double)hwm1k + 64);
    assert_true(ms.heap_live <= heap1k);
    assert_true(last < first);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_tensor_free(x), nb_tensor_free(y), nb_tensor_free(xb), nb_tensor_free(yb);
}

static nb_optim *make_sgd(nb_module *m) { return nb_optim_sgd(m, 0.05, 0.9); }
static nb_optim *make_adam(nb_module *m) { return nb_optim_adam(m, 1e-3); }

static void sgd_momentum_flat_rss(void **state) {
    (void)state;
    soak(make_sgd, "SGD momentum");
}
static void adam_flat_rss(void **state) {
    (void)state;
    soak(make_adam, "Adam");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgd_momentum_flat_rss),
        cmocka_unit_test(adam_flat_rss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
