/* bench/bench_mlp.c — one epoch of a 784-256-128-10 ReLU MLP on
 * Fashion-MNIST-sized random data (60000×784, labels 0..9), batch 64,
 * log-softmax + NLL, SGD with momentum 0.9 (nb_optim, fused step), F32.
 * Layers are nb_affine (x·Wᵀ + b with W (out, in), as torch.nn.Linear).
 * Twin: bench_mlp.py. Prints "time_s: <epoch seconds>" and "rss_mib: <peak
 * RSS>" (data included: 180 MiB of it on both sides). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla/nabla.h"
#include "bench_mlp_model.h"
#include "bench_util.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"

#define BATCH 64

int main(int argc, char **argv) {
    const int epochs = argc > 1 ? atoi(argv[1]) : 1;
    const int maxb = argc > 2 ? atoi(argv[2]) * BATCH : NTRAIN; /* optional: fewer steps (profiling) */
    float *xs;
    int64_t *ys;
    nb_tensor *p[6];
    bench_mlp_model(&xs, &ys, p);
    nb_optim_opts oo = nb_optim_defaults(NB_OPTIM_SGD); /* as torch.optim.SGD(lr=0.01, momentum=0.9) */
    oo.lr = 0.01, oo.momentum = 0.9;
    nb_optim *opt = nb_optim_new_tensors(&oo, p, 6);

    double best = 1e30, loss = 0;
    for (int e = 0; e < epochs; e++) {
        double t0 = bench_now();
        for (int b = 0; b + BATCH <= maxb; b += BATCH) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *x = nb_from_f32(NB_SHAPE(BATCH, NIN), xs + (size_t)b * NIN);
            nb_tensor *y = nb_from_i64(NB_SHAPE(BATCH), ys + b);
            nb_tensor *h = nb_relu(nb_affine(x, p[0], p[1]));
            h = nb_relu(nb_affine(h, p[2], p[3]));
            nb_tensor *logits = nb_affine(h, p[4], p[5]);
            nb_tensor *l = nb_nll(nb_log_softmax(logits, 1), y, NB_REDUCE_MEAN);
            nb_optim_zero_grad(opt);
            nb_backward(l);
            nb_optim_step(opt); /* v = 0.9·v + g; w −= 0.01·v, one fused pass */
            loss = nb_item(l);
            nb_scope_end(&s);
        }
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    printf("mlp 784-256-128-10 epoch (batch %d, %d steps): last loss %.4f, gemm %s/%s, %d threads\n", BATCH,
           NTRAIN / BATCH, loss, nb_gemm_backend(), nb_isa_name(nb_isa()), nb_get_num_threads());
    printf("time_s: %.6f\n", best);
    printf("rss_mib: %.1f\n", bench_peak_rss_mib());
    nb_optim_free(opt);
    for (int i = 0; i < 6; i++) nb_tensor_free(p[i]);
    free(xs);
    free(ys);
    return 0;
}
