/* bench/bench_xor.c — one full training step of the 2-8-1 sigmoid XOR net
 * (forward, MSE loss, backward, in-place SGD), F32; twin: bench_xor.py.
 * Prints "time_s: <seconds per step>" (best of 5 batches of steps). */
#include <stdio.h>
#include <stdlib.h>

#include "nabla/nabla.h"
#include "bench_util.h"

int main(int argc, char **argv) {
    const long steps = argc > 1 ? atol(argv[1]) : 20000;
    nb_seed(1);
    const float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
    nb_tensor *X = nb_from_f32(NB_SHAPE(4, 2), xs), *Y = nb_from_f32(NB_SHAPE(4, 1), ys);
    nb_tensor *W1 = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(2, 8), -1, 1), true);
    nb_tensor *b1 = nb_set_requires_grad(nb_zeros(NB_F32, NB_SHAPE(8)), true);
    nb_tensor *W2 = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(8, 1), -1, 1), true);
    nb_tensor *b2 = nb_set_requires_grad(nb_zeros(NB_F32, NB_SHAPE(1)), true);
    nb_tensor *params[4] = {W1, b1, W2, b2};
    double best = 1e30, loss = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now();
        for (long it = 0; it < steps; it++) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *h = nb_sigmoid(nb_add(nb_matmul(X, W1), b1));
            nb_tensor *yh = nb_sigmoid(nb_add(nb_matmul(h, W2), b2));
            nb_tensor *d = nb_sub(yh, Y);
            nb_tensor *l = nb_mean_all(nb_mul(d, d));
            for (int p = 0; p < 4; p++) nb_tensor_zero_grad(params[p]);
            nb_backward(l);
            NB_NO_GRAD {
                for (int p = 0; p < 4; p++) nb_axpy_(params[p], -0.5, params[p]->grad);
            }
            if (it == steps - 1) loss = nb_item(l);
            nb_scope_end(&s);
        }
        double dt = (bench_now() - t0) / steps;
        if (dt < best) best = dt;
    }
    printf("xor 2-8-1 step, %ld steps x5: final loss %.4f\n", steps, loss);
    printf("time_s: %.9f\n", best);
    for (int p = 0; p < 4; p++) nb_tensor_free(params[p]);
    nb_tensor_free(X);
    nb_tensor_free(Y);
    return 0;
}
