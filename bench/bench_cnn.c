/* bench/bench_cnn.c — one epoch of a LeNet-style CNN on Fashion-MNIST-sized
 * random data (60000×1×28×28, labels 0..9), batch 64, F32:
 *   conv5×5(1→8, pad 2) → ReLU → maxpool2 → conv5×5(8→16, pad 2) → ReLU
 *   → maxpool2 → flatten → fc(784→64) → ReLU → fc(64→10),
 * cross-entropy (mean), SGD momentum 0.9 (nb_optim_sgd), one scope per step.
 * Twin: bench_cnn.py. Prints "time_s: <epoch seconds>" and "rss_mib".
 * `bench_cnn EPOCHS STEPS` runs fewer steps (profiling). */
#include <stdio.h>
#include <stdlib.h>

#include "nabla/nabla.h"
#include "bench_util.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"

#define NTRAIN 60000
#define NIN (28 * 28)
#define BATCH 64

int main(int argc, char **argv) {
    const int epochs = argc > 1 ? atoi(argv[1]) : 1;
    const int maxb = argc > 2 ? atoi(argv[2]) * BATCH : NTRAIN; /* optional: fewer steps (profiling) */
    nb_seed(1);
    float *xs = malloc(sizeof(float) * (size_t)NTRAIN * NIN);
    int64_t *ys = malloc(sizeof(int64_t) * NTRAIN);
    if (!xs || !ys) return 1;
    for (size_t i = 0; i < (size_t)NTRAIN * NIN; i++) xs[i] = (float)(nb_rand_u64() >> 40) / 16777216.0f;
    for (int i = 0; i < NTRAIN; i++) ys[i] = (int64_t)(nb_rand_u64() % 10);

    nb_module *net = nb_sequential(nb_conv2d_layer(1, 8, 5, 1, 2), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                                   nb_conv2d_layer(8, 16, 5, 1, 2), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                                   nb_flatten_layer(), nb_linear(16 * 7 * 7, 64), nb_relu_layer(), nb_linear(64, 10));
    nb_optim *opt = nb_optim_sgd(net, 0.01, 0.9);
    if (!net || !opt) return 1;

    double best = 1e30, loss = 0;
    for (int e = 0; e < epochs; e++) {
        double t0 = bench_now();
        for (int b = 0; b + BATCH <= maxb; b += BATCH) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *x = nb_from_f32(NB_SHAPE(BATCH, 1, 28, 28), xs + (size_t)b * NIN);
            nb_tensor *y = nb_from_i64(NB_SHAPE(BATCH), ys + b);
            nb_tensor *l = nb_cross_entropy(nb_forward(net, x), y, NB_REDUCE_MEAN);
            nb_optim_zero_grad(opt);
            nb_backward(l);
            nb_optim_step(opt);
            loss = nb_item(l);
            nb_scope_end(&s);
        }
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    printf("cnn lenet 1-8-16 fc784-64-10 epoch (batch %d, %d steps): last loss %.4f, gemm %s/%s, %d threads\n", BATCH,
           maxb / BATCH, loss, nb_gemm_backend(), nb_isa_name(nb_isa()), nb_get_num_threads());
    printf("time_s: %.6f\n", best);
    printf("rss_mib: %.1f\n", bench_peak_rss_mib());
    nb_optim_free(opt);
    nb_module_free(net);
    free(xs);
    free(ys);
    return 0;
}
