/* bench/bench_overhead.c — per-op overhead: y = a + b on two 0-d F32 tensors
 * inside a scope, with grad recording on (inputs require grad) and off.
 * Prints ns per op; twin: bench_overhead.py. */
#include <stdio.h>
#include <stdlib.h>

#include "nabla/nabla.h"
#include "bench_util.h"

static double run(bool grad, long n) {
    nb_tensor *a = nb_set_requires_grad(nb_scalar(NB_F32, 1), grad);
    nb_tensor *b = nb_set_requires_grad(nb_scalar(NB_F32, 2), grad);
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now();
        for (long i = 0; i < n; i += 100) { /* 100 ops per scope */
            nb_scope *s = nb_scope_begin();
            for (int k = 0; k < 100; k++) nb_add(a, b);
            nb_scope_end(&s);
        }
        double dt = (bench_now() - t0) / n;
        if (dt < best) best = dt;
    }
    nb_tensor_free(a);
    nb_tensor_free(b);
    return best * 1e9;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    double g = run(true, n), ng = run(false, n);
    printf("add of two 0-d f32 tensors in a scope: %.0f ns recorded, %.0f ns without grad\n", g, ng);
    printf("time_s: %.9f\n", g * 1e-9);
    return 0;
}
