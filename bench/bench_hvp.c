/* bench/bench_hvp.c — the cost of a Hessian-vector product over the cost of
 * a gradient, for a 784-256-128-10 tanh MLP (log-softmax + NLL, batch 64,
 * F32; tanh rather than bench_mlp's ReLU so that the curvature is not
 * piecewise zero). Per step:
 *   grad: forward + nb_grads of the loss (kernel backwards);
 *   hvp:  forward + nb_grads with create_graph + g·v + nb_grads of that
 *         (H·v = ∇(∇L·v), the double backward through backward_graph).
 * Theory: an HVP costs 2-4 gradients. Twin: bench_hvp.py, the same with
 * torch.autograd.grad. Prints grad_s and hvp_s (best of 3 runs of STEPS
 * steps, alternating) and "time_s" = hvp_s for bench/run.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla/nabla.h"
#include "bench_util.h"

#define NIN 784
#define BATCH 64
#define STEPS 100

static nb_tensor *p[6], *v[6];

static nb_tensor *loss_of(nb_tensor *x, nb_tensor *y) {
    nb_tensor *h = nb_tanh(nb_affine(x, p[0], p[1]));
    h = nb_tanh(nb_affine(h, p[2], p[3]));
    return nb_nll(nb_log_softmax(nb_affine(h, p[4], p[5]), 1), y, NB_REDUCE_MEAN);
}

static double run(bool hvp, const float *xs, const int64_t *ys, double *check) {
    double t0 = bench_now();
    for (int b = 0; b < STEPS; b++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *x = nb_from_f32(NB_SHAPE(BATCH, NIN), xs + (size_t)b * BATCH * NIN);
        nb_tensor *y = nb_from_i64(NB_SHAPE(BATCH), ys + b * BATCH);
        nb_tensor *l = loss_of(x, y), *g[6], *hv[6];
        if (!hvp) {
            nb_grads(&l, 1, p, 6, NULL, NULL, g);
            *check = nb_get(g[0], 0);
        } else {
            nb_grads(&l, 1, p, 6, NULL, &(nb_grad_opts){.create_graph = true}, g);
            nb_tensor *gv = NULL;
            for (int i = 0; i < 6; i++) {
                nb_tensor *t = nb_sum_all(nb_mul(g[i], v[i]));
                gv = gv ? nb_add(gv, t) : t;
            }
            nb_grads(&gv, 1, p, 6, NULL, NULL, hv);
            *check = nb_get(hv[0], 0);
        }
        nb_scope_end(&s);
    }
    return bench_now() - t0;
}

int main(void) {
    nb_seed(1);
    float *xs = malloc(sizeof(float) * (size_t)STEPS * BATCH * NIN);
    int64_t *ys = malloc(sizeof(int64_t) * STEPS * BATCH);
    for (size_t i = 0; i < (size_t)STEPS * BATCH * NIN; i++) xs[i] = (float)(nb_rand_u64() >> 40) / 16777216.0f;
    for (int i = 0; i < STEPS * BATCH; i++) ys[i] = (int64_t)(nb_rand_u64() % 10);
    const int64_t dims[4] = {NIN, 256, 128, 10};
    for (int l = 0; l < 3; l++) {
        double bound = 1 / sqrt((double)dims[l]);
        p[2 * l] = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(dims[l + 1], dims[l]), -bound, bound), true);
        p[2 * l + 1] = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(dims[l + 1]), -bound, bound), true);
        v[2 * l] = nb_randn(NB_F32, p[2 * l]->shape, 0, 1);
        v[2 * l + 1] = nb_randn(NB_F32, p[2 * l + 1]->shape, 0, 1);
    }
    double tg = 1e30, th = 1e30, cg = 0, ch = 0;
    run(false, xs, ys, &cg); /* warm up: arena blocks, BLAS */
    run(true, xs, ys, &ch);
    for (int r = 0; r < 3; r++) {
        double a = run(false, xs, ys, &cg), b = run(true, xs, ys, &ch);
        tg = a < tg ? a : tg;
        th = b < th ? b : th;
    }
    printf("hvp mlp 784-256-128-10 tanh, batch %d, %d steps, %d threads: grad %.3f ms/step, hvp %.3f ms/step "
           "(check %.4g %.4g)\n",
           BATCH, STEPS, nb_get_num_threads(), 1e3 * tg / STEPS, 1e3 * th / STEPS, cg, ch);
    printf("grad_s: %.6f\nhvp_s: %.6f\nhvp_over_grad: %.3f\ntime_s: %.6f\n", tg, th, th / tg, th);
    for (int i = 0; i < 6; i++) {
        nb_tensor_free(p[i]);
        nb_tensor_free(v[i]);
    }
    free(xs);
    free(ys);
    return 0;
}
