/* tutorial_data.h — small helpers shared by the Fashion-MNIST tutorials.
 *
 *   load_subset(flags, ntrain, ntest, &train, &test)  the first ntrain training
 *       and ntest test images (flags: NB_MNIST_FLAT for (N, 784) rows); returns
 *       0, or 77 (meson's "skipped") after saying why when the files are missing;
 *   accuracy(m, x, y)   the fraction of rows of x that model m classifies as y,
 *       evaluated in eval mode, without a graph, in batches of 500;
 *   train_epoch(m, opt, loader)  one epoch of softmax cross-entropy; returns
 *       the mean training loss.
 * Everything returned is persistent: the caller frees it. */
#ifndef TUTORIAL_DATA_H
#define TUTORIAL_DATA_H
#include <nabla/nabla.h>

static inline int load_subset(int flags, int64_t ntrain, int64_t ntest, nb_dataset *train, nb_dataset *test) {
    nb_mnist m;
    char err[512];
    if (nb_fashion_mnist_load(NULL, flags, &m, err, sizeof err) != NB_OK) {
        fprintf(stderr,
                "Fashion-MNIST not found (%s).\nInstall Debian's dataset-fashion-mnist or set "
                "NB_FASHION_MNIST to its directory; skipping.\n",
                err);
        return 77;
    }
    nb_dataset_slice(&m.train, 0, ntrain, train);
    nb_dataset_slice(&m.test, 0, ntest, test);
    nb_mnist_free(&m);
    return 0;
}

static inline double accuracy(nb_module *m, const nb_tensor *x, const nb_tensor *y) {
    bool was = nb_module_is_training(m);
    nb_module_eval(m);
    int64_t n = nb_dim(x, 0), right = 0;
    NB_NO_GRAD {
        for (int64_t s = 0; s < n; s += 500) {
            nb_scope *sc = nb_scope_begin();
            int64_t e = s + 500 < n ? s + 500 : n;
            nb_tensor *pred = nb_argmax(nb_forward(m, nb_slice((nb_tensor *)x, 0, s, e, 1)), 1, false);
            for (int64_t i = 0; i < e - s; i++) right += nb_i64(pred)[i] == nb_i64(y)[s + i];
            nb_scope_end(&sc);
        }
    }
    nb_module_train(m, was);
    return (double)right / (double)n;
}

static inline double train_epoch(nb_module *m, nb_optim *opt, nb_loader *l) {
    nb_batch b;
    double total = 0;
    int64_t nb = 0;
    while (nb_loader_next(l, &b)) {
        nb_scope *sc = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, b.x), b.y, NB_REDUCE_MEAN);
        nb_optim_zero_grad(opt);
        nb_backward(loss);
        nb_optim_step(opt);
        total += nb_item(loss);
        nb++;
        nb_scope_end(&sc);
    }
    return total / (double)nb;
}
#endif
