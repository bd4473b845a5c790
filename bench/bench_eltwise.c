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

#include "nabla/nabla.h"
#include "bench_util.h"

enum { R = 1024, C = 1024 };

static const char *const names[] = {"softplus", "elu", "log1p", "lse_last", "lse_0", "lsm_0", "bce"};
#define NCASES (int)(sizeof names / sizeof names[0])

typedef struct {
    nb_tensor *x, *xl, *y;
} data;

static nb_tensor *run_op(int c, void *ctx) {
    const data *d = ctx;
    nb_tensor *x = d->x, *xl = d->xl, *y = d->y;
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

int main(int argc, char **argv) {
    nb_seed(1);
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(R, C), -4, 4), true);
    nb_tensor *xl = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(R, C), -0.9, 3), true);
    nb_tensor *y = nb_rand(NB_F32, NB_SHAPE(R, C), 0, 1);
    data d = {x, xl, y};
    const double total = bench_cases(argc, argv, names, NCASES, run_op, NULL, &d, 0);
    printf("eltwise (%d,%d) f32, %d threads\n", R, C, nb_get_num_threads());
    printf("time_s: %.6f\n", total);
    nb_tensor_free(x);
    nb_tensor_free(xl);
    nb_tensor_free(y);
    return 0;
}
