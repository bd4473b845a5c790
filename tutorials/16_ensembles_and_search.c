/* 16 — hyperparameter search and model ensembles.
 *
 * Random search: sample each hyperparameter independently, and sample scale
 * parameters (learning rate, L2 strength) uniformly in LOG space,
 *   lr = 10^u, u ~ U(−4, −1.5),   λ = 10^v, v ~ U(−6, −2),
 * so that 1e-4..1e-3 gets as many trials as 1e-2..1e-1. Compared with a
 * grid, random search tries a new value of the important parameter in every
 * trial. Each trial is judged on a validation set, never the test set.
 * Ensembles: train several models with the best settings from different
 * random initializations and average their predicted probabilities,
 *   p(y|x) = (1/M) Σ_m softmax(f_m(x));
 * their errors are partly independent, so the average is more accurate than
 * the models it averages (typically by a point or two).
 * Data: 1000 Fashion-MNIST training images, 500 validation, 500 test; a
 * 784-64-10 ReLU network, Adam, 3 epochs per trial; 8 trials, 5 ensemble
 * members. --full: 20 trials, 5 epochs. */
#include "tutorial_data.h"
#include <math.h>
#include <string.h>

enum { MEMBERS = 5 };

static nb_module *train_model(const nb_dataset *train, double lr, double l2, int epochs, uint64_t seed) {
    nb_seed(seed);
    nb_module *m = nb_sequential(nb_linear(784, 64), nb_relu_layer(), nb_linear(64, 10));
    nb_optim *opt = nb_optim_adam(m, lr);
    nb_loader *loader = nb_loader_new(train, 50, NB_SHUFFLE);
    for (int e = 0; e < epochs; e++) {
        nb_batch b;
        while (nb_loader_next(loader, &b)) {
            nb_scope *sc = nb_scope_begin();
            nb_tensor *loss = nb_add(nb_cross_entropy(nb_forward(m, b.x), b.y, NB_REDUCE_MEAN), nb_l2_penalty(m, l2));
            nb_optim_zero_grad(opt);
            nb_backward(loss);
            nb_optim_step(opt);
            nb_scope_end(&sc);
        }
    }
    nb_loader_free(loader);
    nb_optim_free(opt);
    return m;
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    nb_dataset all, test, train, val;
    int rc = load_subset(NB_MNIST_FLAT, 1500, 500, &all, &test);
    if (rc) return rc;
    nb_dataset_slice(&all, 0, 1000, &train);
    nb_dataset_slice(&all, 1000, 500, &val);
    nb_dataset_free(&all);
    const int trials = full ? 20 : 8, epochs = full ? 5 : 3;

    printf("1. random search, %d trials: lr = 10^U(-4,-1.5), lambda = 10^U(-6,-2)\n", trials);
    nb_seed(16);
    double best_lr = 0, best_l2 = 0, best_acc = -1;
    for (int t = 0; t < trials; t++) {
        double lr = pow(10, -4 + 2.5 * nb_rand_uniform()), l2 = pow(10, -6 + 4 * nb_rand_uniform());
        nb_rng_state keep = nb_rng_get(); /* training draws from the same generator */
        nb_module *m = train_model(&train, lr, l2, epochs, 160 + (uint64_t)t);
        nb_rng_set(keep);
        double acc = accuracy(m, val.x, val.y);
        printf("   trial %2d  lr %.2e  lambda %.2e  validation accuracy %.1f%%\n", t + 1, lr, l2, 100 * acc);
        if (acc > best_acc) best_acc = acc, best_lr = lr, best_l2 = l2;
        nb_module_free(m);
    }
    printf("   best: lr %.2e, lambda %.2e (validation accuracy %.1f%%)\n", best_lr, best_l2, 100 * best_acc);

    printf("\n2. an ensemble of %d models trained with the best settings from different initializations\n", MEMBERS);
    nb_module *members[MEMBERS];
    double acc[MEMBERS], ens_acc = 0;
    int64_t n = nb_dataset_len(&test);
    nb_tensor *psum = nb_zeros(NB_F32, NB_SHAPE(n, 10));
    for (int k = 0; k < MEMBERS; k++) {
        members[k] = train_model(&train, best_lr, best_l2, epochs, 1600 + (uint64_t)k);
        acc[k] = accuracy(members[k], test.x, test.y);
        NB_NO_GRAD {
            nb_scope *sc = nb_scope_begin();
            nb_module_eval(members[k]);
            nb_add_(psum, nb_softmax(nb_forward(members[k], test.x), 1));
            nb_scope_end(&sc);
        }
        printf("   model %d  test accuracy %.1f%%\n", k + 1, 100 * acc[k]);
    }
    NB_NO_GRAD {
        nb_scope *sc = nb_scope_begin();
        nb_tensor *pred = nb_argmax(psum, 1, false); /* argmax of the sum = argmax of the mean */
        for (int64_t i = 0; i < n; i++) ens_acc += nb_i64(pred)[i] == nb_i64(test.y)[i];
        ens_acc /= (double)n;
        nb_scope_end(&sc);
    }
    double best_single = 0;
    for (int k = 0; k < MEMBERS; k++) best_single = fmax(best_single, acc[k]);
    printf("   averaged probabilities: test accuracy %.1f%% (best single model %.1f%%)\n", 100 * ens_acc,
           100 * best_single);
    int bad = !(ens_acc >= best_single);
    printf(bad ? "MISMATCH: the ensemble does not beat every member\n"
               : "OK: the ensemble beats each of its members\n");
    for (int k = 0; k < MEMBERS; k++) nb_module_free(members[k]);
    nb_tensor_free(psum);
    nb_dataset_free(&train);
    nb_dataset_free(&val);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
