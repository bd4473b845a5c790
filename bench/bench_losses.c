/* bench/bench_losses.c — PyTorch's loss options and functional forms
 * (nabla/nn_functional.h, compositions of primitive ops) alone, forward and
 * forward+backward, F32 (twin: bench_losses.py):
 *   ce_all     cross-entropy, class weights, ignore_index, label smoothing 0.1
 *   nll_w      nll on log-probabilities, class weights
 *   bce_prob   binary cross-entropy on probabilities
 *   bce_pw     BCE with logits, pos_weight
 *   mm_p2      multi_margin_loss p = 2
 *   huber      Huber, delta 0.7
 *   kl         KL divergence, batchmean
 *   softplus_b softplus beta 2, threshold 5
 *   prelu      prelu with (C) weights, x (64, 100, 64)
 *   maxpool1d  max_pool1d k 3, stride 2, pad 1, x (64, 32, 512)
 * Losses are on (4096, 100) (N, C); backward from the scalar loss, or, for
 * the element-wise forms, from y's first element (flattened, sliced, summed).
 * Each case: the fastest of REPS repetitions. Prints "case: NAME fwd_s F
 * fwdbwd_s FB" per case and "time_s: <sum of FB>". `bench_losses REPS [CASE]`. */
#include <stdio.h>

#include "nabla/nabla.h"
#include "bench_util.h"

enum { N = 4096, C = 100 };

static const char *const names[] = {"ce_all", "nll_w", "bce_prob",   "bce_pw", "mm_p2",
                                    "huber",  "kl",    "softplus_b", "prelu",  "maxpool1d"};
#define NCASES (int)(sizeof names / sizeof names[0])

typedef struct {
    nb_tensor *x, *p, *t, *y, *y_all, *w, *lq, *q, *xp, *wp, *xs; /* y: every 17th -100; y_all: classes */
} data;

static nb_tensor *run_op(int c, void *ctx) {
    const data *d = ctx;
    nb_ce_opts o = NB_CE_DEFAULT;
    switch (c) {
    case 0: o.weight = d->w, o.label_smoothing = 0.1; return nb_cross_entropy_ex(d->x, d->y, &o);
    case 1: o.weight = d->w; return nb_nll_loss_ex(d->lq, d->y, &o);
    case 2: return nb_binary_cross_entropy(d->p, d->t, NULL, NB_REDUCE_MEAN);
    case 3: return nb_bce_with_logits_ex(d->x, d->t, NULL, d->w, NB_REDUCE_MEAN);
    case 4: return nb_multi_margin_loss(d->x, d->y_all, 2, 1.0, NULL, NB_REDUCE_MEAN);
    case 5: return nb_huber_loss(d->x, d->t, 0.7, NB_REDUCE_MEAN);
    case 6: return nb_kl_div(d->lq, d->q, false, NB_REDUCE_BATCHMEAN);
    case 7: return nb_softplus_ex(d->x, 2, 5);
    case 8: return nb_prelu(d->xp, d->wp);
    default: {
        nb_pool1d_opts po = {3, 2, 1, 1, false, true};
        return nb_max_pool1d(d->xs, &po);
    }
    }
}

int main(int argc, char **argv) {
    nb_seed(1);
    data d;
    d.x = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(N, C), 0, 2), true);
    d.p = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(N, C), 0.02, 0.98), true);
    d.t = nb_rand(NB_F32, NB_SHAPE(N, C), 0, 1);
    d.y = nb_empty(NB_I64, NB_SHAPE(N));
    d.y_all = nb_empty(NB_I64, NB_SHAPE(N));
    for (int i = 0; i < N; i++) {
        nb_i64(d.y_all)[i] = (int64_t)(nb_rand_u64() % C);
        nb_i64(d.y)[i] = i % 17 == 0 ? -100 : nb_i64(d.y_all)[i];
    }
    d.w = nb_rand(NB_F32, NB_SHAPE(C), 0.5, 2);
    nb_tensor *lq, *q;
    NB_NO_GRAD {
        lq = nb_log_softmax(nb_randn(NB_F32, NB_SHAPE(N, C), 0, 1), 1);
        q = nb_softmax(nb_randn(NB_F32, NB_SHAPE(N, C), 0, 1), 1);
    }
    d.lq = nb_set_requires_grad(lq, true);
    d.q = q;
    d.xp = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(64, 100, 64), 0, 1), true);
    d.wp = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(100), 0.1, 0.5), true);
    d.xs = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(64, 32, 512), 0, 1), true);
    const double total = bench_cases(argc, argv, names, NCASES, run_op, NULL, &d, 0);
    printf("losses (%d,%d) f32, %d threads\n", N, C, nb_get_num_threads());
    printf("time_s: %.6f\n", total);
    nb_tensor *all[] = {d.x, d.p, d.t, d.y, d.y_all, d.w, d.lq, d.q, d.xp, d.wp, d.xs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nb_tensor_free(all[i]);
    return 0;
}
