/* 10 — dropout.
 *
 * In training, every unit of a layer is zeroed with probability p (a fresh
 * mask each step), so the network cannot rely on any single unit: it trains
 * an ensemble of thinned networks that share weights. "Inverted" dropout
 * divides the kept units by 1 − p during training,
 *   y = x · m / (1 − p),   m_i ~ Bernoulli(1 − p),   E[y] = x,
 * so at test time nothing changes: y = x (eval mode), no rescaling needed.
 * Part 1 shows the mask statistics and the eval-mode identity; part 2
 * overfits 500 Fashion-MNIST images with a 784-256-256-10 ReLU network, with
 * and without dropout (p = 0.5 on both hidden layers), and compares the gap
 * between training and test accuracy. --full: 40 epochs instead of 20. */
#include "tutorial_data.h"
#include <math.h>
#include <string.h>

static nb_module *net(double p) {
    return nb_sequential(nb_linear(784, 256), nb_relu_layer(), nb_dropout_layer(p), nb_linear(256, 256),
                         nb_relu_layer(), nb_dropout_layer(p), nb_linear(256, 10));
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    int bad = 0;
    printf("1. nb_dropout(x = ones(100000), p = 0.5)\n");
    nb_seed(10);
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(100000));
    nb_tensor *y = nb_dropout(x, 0.5, true), *ye = nb_dropout(x, 0.5, false);
    int64_t kept = 0;
    double mean = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        kept += nb_f32(y)[i] != 0;
        mean += nb_f32(y)[i] / (double)x->numel;
    }
    printf("   train: %.1f%% of units kept, each scaled to %.1f, mean %.4f (E[y] = x = 1)\n", 100.0 * kept / x->numel,
           nb_f32(y)[0] ? nb_f32(y)[0] : nb_f32(y)[1], mean);
    printf("   eval:  %s\n", ye == x ? "y is x itself (the identity)" : "NOT the identity");
    bad += !(fabs(mean - 1) < 0.02 && ye == x);
    nb_scope_end(&sc);

    nb_dataset train, test;
    int rc = load_subset(NB_MNIST_FLAT, 500, 500, &train, &test);
    if (rc) return bad ? 1 : rc;
    const int epochs = full ? 40 : 20;
    double gap[2] = {0, 0}, te_acc[2] = {0, 0};
    for (int d = 0; d < 2; d++) {
        double p = d ? 0.5 : 0.0;
        printf("\n2%c. 784-256-256-10 on 500 images, dropout p = %.1f, Adam lr 1e-3, %d epochs\n", "ab"[d], p, epochs);
        nb_seed(100);
        nb_module *m = net(p);
        nb_optim *opt = nb_optim_adam(m, 1e-3);
        nb_loader *loader = nb_loader_new(&train, 50, NB_SHUFFLE);
        for (int e = 1; e <= epochs; e++) {
            double loss = train_epoch(m, opt, loader);
            if (e % 5 == 0 || e == epochs) {
                double tr = accuracy(m, train.x, train.y), te = accuracy(m, test.x, test.y);
                printf("   epoch %2d  loss %.4f  training accuracy %5.1f%%  test accuracy %5.1f%%  gap %4.1f\n", e,
                       loss, 100 * tr, 100 * te, 100 * (tr - te));
                gap[d] = tr - te;
                te_acc[d] = te;
            }
        }
        nb_loader_free(loader);
        nb_optim_free(opt);
        nb_module_free(m);
    }
    bad += !(gap[1] < gap[0] - 0.03); /* by more than 3 points */
    printf(bad ? "\nMISMATCH: a claim above does not hold\n"
               : "\nOK: dropout narrows the train/test gap (%.1f -> %.1f points; test accuracy %.1f%% -> %.1f%%)\n",
           100 * gap[0], 100 * gap[1], 100 * te_acc[0], 100 * te_acc[1]);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
