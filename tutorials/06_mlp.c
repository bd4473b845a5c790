/* 06 — the feed-forward network (multi-layer perceptron).
 *
 * x (784 pixels) → h₁ = f(x W₁ + b₁) (100 units) → h₂ = f(h₁ W₂ + b₂) (100)
 * → scores s = h₂ W₃ + b₃ (10) → softmax p_k = e^{s_k} / Σ_j e^{s_j}.
 * The loss is the cross-entropy −log p_y, whose gradient at the scores is
 * p − onehot(y); backprop carries it down through every layer (tutorial 02).
 * First f = sigmoid, the lecture's classic network, then f = ReLU, on the
 * same data and the same budget: 2000 Fashion-MNIST training images, 5
 * epochs of SGD with momentum (lr 0.05, 0.9, batches of 32); training and
 * test accuracy per epoch. The gap between them is overfitting (tutorials 10
 * and 13). --full: 20000 images, 10 epochs. */
#include "tutorial_data.h"
#include <math.h>
#include <string.h>

static nb_module *mlp(bool relu) {
    return nb_sequential(nb_linear(784, 100), relu ? nb_relu_layer() : nb_sigmoid_layer(), nb_linear(100, 100),
                         relu ? nb_relu_layer() : nb_sigmoid_layer(), nb_linear(100, 10));
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    nb_dataset train, test;
    int rc = load_subset(NB_MNIST_FLAT, full ? 20000 : 2000, full ? 5000 : 500, &train, &test);
    if (rc) return rc;
    const int epochs = full ? 10 : 5;
    double final_te[2] = {0, 0};
    int bad = 0;
    for (int relu = 0; relu < 2; relu++) {
        nb_seed(6);
        nb_module *net = mlp(relu);
        if (!relu) nb_module_print(stdout, net);
        printf("\n%s hidden units, %lld training images, %d epochs\n", relu ? "ReLU" : "sigmoid",
               (long long)nb_dataset_len(&train), epochs);
        nb_optim *opt = nb_optim_sgd(net, 0.05, 0.9);
        nb_loader *loader = nb_loader_new(&train, 32, NB_SHUFFLE);
        for (int e = 1; e <= epochs; e++) {
            double loss = train_epoch(net, opt, loader);
            double tr = accuracy(net, train.x, train.y), te = accuracy(net, test.x, test.y);
            printf("   epoch %d  loss %.4f  training accuracy %.1f%%  test accuracy %.1f%%  (gap %.1f)\n", e, loss,
                   100 * tr, 100 * te, 100 * (tr - te));
            final_te[relu] = te;
        }
        /* the softmax output of the first test image: a distribution over the classes */
        NB_NO_GRAD {
            nb_scope *sc = nb_scope_begin();
            nb_module_eval(net);
            nb_tensor *p = nb_softmax(nb_forward(net, nb_slice(test.x, 0, 0, 1, 1)), 1);
            double sum = 0;
            int best = 0;
            for (int k = 0; k < 10; k++) {
                sum += nb_f32(p)[k];
                if (nb_f32(p)[k] > nb_f32(p)[best]) best = k;
            }
            printf("   first test image: p = %.3f for %s (true: %s), the 10 probabilities sum to %.4f\n",
                   nb_f32(p)[best], nb_fashion_mnist_class(best), nb_fashion_mnist_class((int)nb_i64(test.y)[0]), sum);
            bad += fabs(sum - 1) > 1e-5;
            nb_scope_end(&sc);
        }
        nb_loader_free(loader);
        nb_optim_free(opt);
        nb_module_free(net);
    }
    bad += !(final_te[0] > 0.5 && final_te[1] > 0.7 && final_te[1] > final_te[0] + 0.05);
    printf(bad ? "\nMISMATCH: a claim above does not hold\n"
               : "\nOK: both networks learn and ReLU learns faster (test accuracy sigmoid %.1f%%, ReLU %.1f%%)\n",
           100 * final_te[0], 100 * final_te[1]);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
