/* bench/bench_conv.c — conv2d and max_pool2d alone, forward and
 * forward+backward, batch 64, F32 (twin: bench_conv.py):
 *   conv1  x (64,1,28,28)  w (8,1,5,5)   pad 2   (LeNet layer 1; x needs no grad)
 *   conv2  x (64,8,14,14)  w (16,8,5,5)  pad 2   (LeNet layer 2)
 *   conv3  x (64,32,16,16) w (64,32,3,3) pad 1   (a mid-size layer)
 *   pool1  max_pool2d 2×2 stride 2 of (64,8,28,28)
 * Forward is recorded (grad on), as in training; backward runs from y's
 * first element (flattened, sliced, summed: y's gradient is zeros but one,
 * the op's backward does its full work on it, and the loss costs next to
 * nothing, unlike a sum over y or a seed of y's shape). Each case: the fastest of 31 short repetitions
 * (ITERS iterations, a few ms: on a loaded machine some run unpreempted),
 * per iteration. Prints, per case,
 *   case: NAME fwd_s F fwdbwd_s FB
 * (bwd = FB − F) and "time_s: <sum of every case's FB>".
 * `bench_conv SCALE [CASE]` multiplies the iteration counts and runs only
 * CASE (profiling). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/nabla.h"
#include "bench_util.h"

typedef struct {
    const char *name;
    int pool; /* 1: max_pool2d 2×2/2 of x; else conv2d */
    int64_t n, c, h, w, o, k, pad;
    int x_grad;
    int iters;
} bcase;

static const bcase cases[] = {
    {"conv1", 0, 64, 1, 28, 28, 8, 5, 2, 0, 4},
    {"conv2", 0, 64, 8, 14, 14, 16, 5, 2, 1, 2},
    {"conv3", 0, 64, 32, 16, 16, 64, 3, 1, 1, 1},
    {"pool1", 1, 64, 8, 28, 28, 0, 0, 0, 1, 4},
};

static nb_tensor *run_op(const bcase *c, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    if (c->pool) return nb_max_pool2d(x, 2, 2, 2, 2, 0, 0);
    const nb_conv2d_opts o = {{1, 1}, {(int)c->pad, (int)c->pad}, {1, 1}, NB_PAD_EXPLICIT, 1};
    return nb_conv2d(x, w, b, &o);
}

/* Seconds per iteration: the fastest of REPS repetitions. */
#define REPS 31
static double time_case(const bcase *c, int iters, bool backward, nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    double best = 1e30;
    for (int rep = -1; rep < REPS; rep++) { /* rep -1: warm-up */
        double t0 = bench_now();
        for (int it = 0; it < iters; it++) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *y = run_op(c, x, w, b);
            if (backward) nb_backward(nb_sum_all(nb_slice(nb_reshape(y, NB_SHAPE(y->numel)), 0, 0, 1, 1)));
            nb_scope_end(&s);
        }
        double dt = (bench_now() - t0) / iters;
        if (rep >= 0 && dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    const int scale = argc > 1 ? atoi(argv[1]) : 1;
    nb_seed(1);
    double total = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bcase *c = &cases[i];
        if (argc > 2 && strcmp(argv[2], c->name) != 0) continue;
        nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(c->n, c->c, c->h, c->w), -1, 1), c->x_grad);
        nb_tensor *w = NULL, *b = NULL;
        if (!c->pool) {
            w = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(c->o, c->c, c->k, c->k), -0.2, 0.2), true);
            b = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(c->o), -0.2, 0.2), true);
        }
        const int iters = c->iters * (scale > 0 ? scale : 1);
        const double f = time_case(c, iters, false, x, w, b);
        const double fb = time_case(c, iters, true, x, w, b);
        printf("case: %s fwd_s %.6g fwdbwd_s %.6g  (bwd/fwd %.2f)\n", c->name, f, fb, (fb - f) / f);
        total += fb;
        nb_tensor_free(x);
        if (w) nb_tensor_free(w);
        if (b) nb_tensor_free(b);
    }
    printf("conv/pool layers, batch 64, %d threads\n", nb_get_num_threads());
    printf("time_s: %.6f\n", total);
    return 0;
}
