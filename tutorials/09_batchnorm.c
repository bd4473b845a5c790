/* 09 — batch normalization.
 *
 * Between a linear layer and its nonlinearity, BatchNorm standardizes every
 * unit over the mini-batch and then lets the network rescale it:
 *   μ_B = mean_i z_i,  σ²_B = mean_i (z_i − μ_B)²,
 *   ẑ = (z − μ_B)/√(σ²_B + ε),  y = γ ẑ + β      (γ, β learned)
 * so every layer sees inputs of a steady scale whatever the layers below do
 * — a deep sigmoid net then trains where it otherwise stalls. At test time
 * there is no batch: the layer uses running averages of μ_B and σ²_B
 * collected during training (eval mode, nb_module_eval), so one image's
 * prediction does not depend on the others.
 * The same 8-layer, 64-unit sigmoid network with and without BatchNorm on
 * 2000 Fashion-MNIST images, 3 epochs of SGD with momentum; then the BN
 * network in train mode (batch statistics) vs eval mode (running
 * statistics). --full: 10000 images, 10 epochs. */
#include "tutorial_data.h"
#include <math.h>
#include <string.h>

enum { DEPTH = 8, WIDTH = 64 };

static nb_module *deep_net(bool bn) {
    nb_module *net = nb_sequential_n(NULL, 0);
    for (int l = 0; l < DEPTH; l++) {
        nb_sequential_append(net, nb_linear(l ? WIDTH : 784, WIDTH));
        if (bn) nb_sequential_append(net, nb_batchnorm1d(WIDTH));
        nb_sequential_append(net, nb_sigmoid_layer());
    }
    return nb_sequential_append(net, nb_linear(WIDTH, 10));
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    nb_dataset train, test;
    int rc = load_subset(NB_MNIST_FLAT, full ? 10000 : 2000, full ? 2000 : 500, &train, &test);
    if (rc) return rc;
    const int epochs = full ? 10 : 3;
    double acc[2] = {0, 0};
    int bad = 0;
    nb_module *bnnet = NULL;
    for (int bn = 0; bn < 2; bn++) {
        nb_seed(9);
        nb_module *net = deep_net(bn);
        printf("%s BatchNorm: %d x (Linear%s-Sigmoid), %d epochs\n", bn ? "with" : "without", DEPTH,
               bn ? "-BatchNorm" : "", epochs);
        nb_optim *opt = nb_optim_sgd(net, 0.05, 0.9);
        nb_loader *loader = nb_loader_new(&train, 32, NB_SHUFFLE);
        for (int e = 1; e <= epochs; e++) {
            double loss = train_epoch(net, opt, loader);
            acc[bn] = accuracy(net, test.x, test.y); /* accuracy() evaluates in eval mode */
            printf("   epoch %d  training loss %.4f  test accuracy %.1f%%\n", e, loss, 100 * acc[bn]);
        }
        nb_loader_free(loader);
        nb_optim_free(opt);
        if (bn) bnnet = net;
        else nb_module_free(net);
    }

    /* the BN net at test time: batch statistics vs running statistics */
    nb_tensor *rm = nb_module_get(bnnet, "1.running_mean"), *rv = nb_module_get(bnnet, "1.running_var");
    printf(
        "\nfirst BatchNorm layer's running statistics (units 0-3): mean %.3f %.3f %.3f %.3f, var %.3f %.3f %.3f %.3f\n",
        nb_f32(rm)[0], nb_f32(rm)[1], nb_f32(rm)[2], nb_f32(rm)[3], nb_f32(rv)[0], nb_f32(rv)[1], nb_f32(rv)[2],
        nb_f32(rv)[3]);
    double eval_acc = acc[1], train_mode_acc;
    int64_t right = 0, n = nb_dataset_len(&test);
    bool same = true;
    NB_NO_GRAD {
        nb_scope *sc = nb_scope_begin();
        nb_module_train(bnnet, true); /* batch statistics of the 500 test images (running stats get updated too) */
        nb_tensor *pred = nb_argmax(nb_forward(bnnet, test.x), 1, false);
        for (int64_t i = 0; i < n; i++) right += nb_i64(pred)[i] == nb_i64(test.y)[i];
        nb_module_eval(bnnet);
        nb_tensor *all = nb_forward(bnnet, test.x);
        for (int i = 0; i < 5; i++) { /* eval mode: one image alone gives the same scores as in the batch */
            nb_tensor *one = nb_forward(bnnet, nb_slice(test.x, 0, i, i + 1, 1));
            for (int k = 0; k < 10; k++) same &= fabsf(nb_f32(one)[k] - nb_f32(all)[10 * i + k]) < 1e-4f;
        }
        nb_scope_end(&sc);
    }
    train_mode_acc = (double)right / (double)n;
    printf("test accuracy, eval mode (running statistics) %.1f%%, train mode (this batch's statistics) %.1f%%\n",
           100 * eval_acc, 100 * train_mode_acc);
    printf("eval mode, images 0-4 one at a time: %s\n", same ? "the same scores as in the batch" : "DIFFERENT scores");
    bad += !same;
    bad += !(acc[1] > acc[0] + 0.2);
    bad += !(fabs(eval_acc - train_mode_acc) < 0.05);
    printf(
        bad ? "MISMATCH: a claim above does not hold\n"
            : "OK: BatchNorm trains the deep sigmoid net (%.1f%% vs %.1f%%), and eval mode uses running statistics\n",
        100 * acc[1], 100 * acc[0]);
    nb_module_free(bnnet);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
