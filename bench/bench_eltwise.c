/* bench/bench_eltwise.c — elementwise math and the exp/log reductions alone,
 * forward and forward+backward, on 1024×1024 F32 tensors (twin:
 * bench_eltwise.py):
 *   softplus, elu (alpha 1), log1p      x in [-4, 4) (log1p: [-0.9, 3))
 *   lse_last   logsumexp over axis 1 (rows)      lse_0  over axis 0 (columns)
 *   lsm_0      log_softmax along axis 0 (the strided path)
 *   bce        bce_with_logits, mean, y in [0, 1) needing no grad
 * Forward is recorded (grad on), as in training; backward runs from y's
 * first element (flattened, sliced, summed: the op's backward does its full
 * work on a gradient of zeros but one), bce from its scalar loss. Each case:
 * the fastest of REPS repetitions of one iteration, in seconds. Prints, per case,
 *   case: NAME fwd_s F fwdbwd_s FB
 * and "time_s: <sum of every case's FB>". `bench_eltwise REPS [CASE]` sets the
 * repetitions and runs only CASE (profiling). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/nabla.h"
#include "bench_util.h"

enum { R = 1024, C = 1024 };

static const char *const names[] = {"softplus", "elu", "log1p", "lse_last", "lse_0", "lsm_0", "bce"};
#define NCASES (int)(sizeof names / sizeof names[0])

static nb_tensor *run_op(int c, nb_tensor *x, nb_tensor *xl, nb_tensor *y) {
    const int ax1 = 1, ax0 = 0;
    switch (c) {
    case 0: return nb_softplus(x);
    case 1: return nb_elu(x, 1.0);
    case 2: return nb_log1p(xl);
    case 3: return nb_logsumexp(x, &ax1, 1, false);
    case 4: return nb_logsumexp(x, &ax0, 1, false);
    case 5: return nb_log_softmax(x, 0);
    default: return nb_bce_with_logits(x, y, NB_REDUCE_MEAN);
    }
}

static double time_case(int c, int reps, bool backward, nb_tensor *x, nb_tensor *xl, nb_tensor *y) {
    double best = 1e30;
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        double t0 = bench_now();
        nb_scope *s = nb_scope_begin();
        nb_tensor *out = run_op(c, x, xl, y);
        if (backward) {
            nb_tensor *l =
                out->numel == 1 ? out : nb_sum_all(nb_slice(nb_reshape(out, NB_SHAPE(out->numel)), 0, 0, 1, 1));
            nb_backward(l);
        }
        nb_scope_end(&s);
        double dt = bench_now() - t0;
        if (rep >= 0 && dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 15;
    nb_seed(1);
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(R, C), -4, 4), true);
    nb_tensor *xl = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(R, C), -0.9, 3), true);
    nb_tensor *y = nb_rand(NB_F32, NB_SHAPE(R, C), 0, 1);
    double total = 0;
    for (int c = 0; c < NCASES; c++) {
        if (argc > 2 && strcmp(argv[2], names[c]) != 0) continue;
        const double f = time_case(c, reps, false, x, xl, y);
        const double fb = time_case(c, reps, true, x, xl, y);
        printf("case: %s fwd_s %.6g fwdbwd_s %.6g  (bwd/fwd %.2f)\n", names[c], f, fb, (fb - f) / f);
        total += fb;
    }
    printf("eltwise (%d,%d) f32, %d threads\n", R, C, nb_get_num_threads());
    printf("time_s: %.6f\n", total);
    nb_tensor_free(x);
    nb_tensor_free(xl);
    nb_tensor_free(y);
    return 0;
}
