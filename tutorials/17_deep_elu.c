/* 17 — how deep can a plain network go? A depth sweep with ELU.
 *
 * The lecture's experiment: stacks of 512-unit ELU layers,
 *   ELU(x) = x (x > 0),  α(eˣ − 1) (x ≤ 0),  α = 1,
 * He-initialized (Var w = 2/fan_in), trained with Adam and early stopping on
 * the validation accuracy, for depths up to 25. ELU's negative part keeps
 * the mean activation near zero and its gradient is never exactly 0, and
 * with He initialization the signal keeps its scale through the stack
 * (tutorial 08) — so even deep plain stacks train; the question is whether
 * depth still pays off on a small problem.
 * Default (a few seconds): 128-unit layers, depths 1, 2, 4, 8, on 1000
 * Fashion-MNIST images, at most 6 epochs, patience 2. --full: 512 units,
 * depths 1, 2, 4, 8, 16, 25, 10000 images, at most 30 epochs, patience 3. */
#include "tutorial_data.h"
#include <math.h>
#include <string.h>

static nb_module *elu_stack(int depth, int width) {
    nb_module *net = nb_sequential_n(NULL, 0);
    for (int l = 0; l < depth; l++) {
        nb_module *lin = nb_linear(l ? width : 784, width);
        nb_init_kaiming_normal(nb_module_param(lin, 0), 0, NB_FAN_IN, NB_NONLIN_RELU);
        nb_init_constant(nb_module_param(lin, 1), 0);
        nb_sequential_append(net, lin);
        nb_sequential_append(net, nb_elu_layer(1.0));
    }
    return nb_sequential_append(net, nb_linear(width, 10));
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    const int width = full ? 512 : 128, max_epochs = full ? 30 : 6, patience = full ? 3 : 2;
    const int depths_full[] = {1, 2, 4, 8, 16, 25}, depths_short[] = {1, 2, 4, 8};
    const int *depths = full ? depths_full : depths_short, nd = full ? 6 : 4;
    const int64_t ntr = full ? 10000 : 1000;
    nb_dataset all, test, train, val;
    int rc = load_subset(NB_MNIST_FLAT, ntr + 500, 500, &all, &test);
    if (rc) return rc;
    nb_dataset_slice(&all, 0, ntr, &train);
    nb_dataset_slice(&all, ntr, 500, &val);
    nb_dataset_free(&all);

    printf("%d-unit ELU layers, He init, Adam lr 1e-3, %lld training images, early stopping on validation "
           "accuracy (patience %d, at most %d epochs)\n\n",
           width, (long long)ntr, patience, max_epochs);
    printf("depth  parameters  epochs  best epoch  val acc  test acc\n");
    int bad = 0;
    for (int i = 0; i < nd; i++) {
        nb_seed(17);
        nb_module *net = elu_stack(depths[i], width);
        nb_optim *opt = nb_optim_adam(net, 1e-3);
        nb_loader *loader = nb_loader_new(&train, 50, NB_SHUFFLE);
        nb_early_stop *es = nb_early_stop_new(net, patience, 0.0, NB_ES_MAX, true);
        int e = 0;
        while (e < max_epochs) {
            train_epoch(net, opt, loader);
            e++;
            if (nb_early_stop_update(es, accuracy(net, val.x, val.y))) break;
        }
        nb_early_stop_restore(es); /* the best epoch's weights (also done on stopping) */
        double te = accuracy(net, test.x, test.y);
        printf("%5d  %10lld  %6d  %10lld  %6.1f%%  %7.1f%%\n", depths[i], (long long)nb_module_numel(net), e,
               (long long)nb_early_stop_best_epoch(es) + 1, 100 * nb_early_stop_best(es), 100 * te);
        bad += !(te > 0.65);
        nb_early_stop_free(es);
        nb_loader_free(loader);
        nb_optim_free(opt);
        nb_module_free(net);
    }
    printf(bad ? "MISMATCH: a network failed to train\n"
               : "OK: every depth trains (test accuracy above 65%%) with ELU and He initialization\n");
    nb_dataset_free(&train);
    nb_dataset_free(&val);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
