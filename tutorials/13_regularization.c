/* 13 — regularization: L2 weight decay and early stopping.
 *
 * L2: add λ·R(W) = λ Σ w² (weights only, not biases) to the data loss.
 * Its gradient 2λw pulls every weight toward 0 each step ("weight decay"):
 * large weights are only kept if they pay for themselves in data loss, so
 * the model is smoother and overfits less; too large a λ underfits.
 * Early stopping: watch the validation loss after every epoch and stop when
 * it has not improved for `patience` epochs, then restore the weights of the
 * best epoch (Keras's EarlyStopping(monitor='val_loss', patience=...,
 * restore_best_weights=True); nb_early_stop here).
 * Data: 500 Fashion-MNIST training images, 500 for validation, 500 for test;
 * a 784-128-10 ReLU network with Adam (lr 1e-3, batches of 50).
 * Part 1 sweeps λ over 0, 1e-4, 1e-3, 1e-2, 1e-1 (10 epochs each); part 2
 * trains without L2 for up to 60 epochs with patience 3. --full: 2000
 * training images and 20 epochs per λ. */
#include "tutorial_data.h"
#include <math.h>
#include <string.h>

static nb_module *make_net(void) { return nb_sequential(nb_linear(784, 128), nb_relu_layer(), nb_linear(128, 10)); }

/* one epoch of data loss + λ R(W) */
static void epoch_l2(nb_module *m, nb_optim *opt, nb_loader *l, double lambda) {
    nb_batch b;
    while (nb_loader_next(l, &b)) {
        nb_scope *sc = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, b.x), b.y, NB_REDUCE_MEAN);
        if (lambda > 0) loss = nb_add(loss, nb_l2_penalty(m, lambda));
        nb_optim_zero_grad(opt);
        nb_backward(loss);
        nb_optim_step(opt);
        nb_scope_end(&sc);
    }
}

static double data_loss(nb_module *m, const nb_dataset *ds) {
    double v = 0;
    NB_NO_GRAD {
        nb_scope *sc = nb_scope_begin();
        nb_module_eval(m);
        v = nb_item(nb_cross_entropy(nb_forward(m, ds->x), ds->y, NB_REDUCE_MEAN));
        nb_module_train(m, true);
        nb_scope_end(&sc);
    }
    return v;
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    const int64_t ntr = full ? 2000 : 500;
    nb_dataset all, test, train, val;
    int rc = load_subset(NB_MNIST_FLAT, ntr + 500, 500, &all, &test);
    if (rc) return rc;
    nb_dataset_slice(&all, 0, ntr, &train);
    nb_dataset_slice(&all, ntr, 500, &val);
    nb_dataset_free(&all);
    int bad = 0;

    const double lambdas[] = {0, 1e-4, 1e-3, 1e-2, 1e-1};
    const int nl = 5, epochs = full ? 20 : 10;
    double wnorm[5], tracc[5];
    printf("1. L2 strength sweep, %lld training images, %d epochs each\n", (long long)ntr, epochs);
    printf("   lambda   ||W||^2   train acc   val acc\n");
    for (int i = 0; i < nl; i++) {
        nb_seed(13);
        nb_module *m = make_net();
        nb_optim *opt = nb_optim_adam(m, 1e-3);
        nb_loader *loader = nb_loader_new(&train, 50, NB_SHUFFLE);
        for (int e = 0; e < epochs; e++) epoch_l2(m, opt, loader, lambdas[i]);
        NB_NO_GRAD {
            nb_scope *sc = nb_scope_begin();
            wnorm[i] = nb_item(nb_l2_penalty(m, 1.0)); /* R(W) = Σ w² */
            nb_scope_end(&sc);
        }
        tracc[i] = accuracy(m, train.x, train.y);
        printf("   %-6g %9.2f   %6.1f%%    %6.1f%%\n", lambdas[i], wnorm[i], 100 * tracc[i],
               100 * accuracy(m, val.x, val.y));
        nb_loader_free(loader);
        nb_optim_free(opt);
        nb_module_free(m);
    }
    for (int i = 1; i < nl; i++) bad += !(wnorm[i] < wnorm[i - 1]);
    bad += !(tracc[nl - 1] < tracc[0] - 0.05);
    printf(bad ? "   MISMATCH: a claim above does not hold\n"
               : "   OK: ||W||^2 shrinks as lambda grows, and lambda = 0.1 underfits\n");

    printf("\n2. early stopping on the validation loss, patience 3, at most 60 epochs\n");
    nb_seed(13);
    nb_module *m = make_net();
    nb_optim *opt = nb_optim_adam(m, 1e-3);
    nb_loader *loader = nb_loader_new(&train, 50, NB_SHUFFLE);
    nb_early_stop *es = nb_early_stop_new(m, 3, 0.0, NB_ES_MIN, true);
    int e = 0;
    while (e < 60) {
        epoch_l2(m, opt, loader, 0);
        double vl = data_loss(m, &val);
        bool stop = nb_early_stop_update(es, vl);
        printf("   epoch %2d  train loss %.4f  val loss %.4f%s\n", e + 1, data_loss(m, &train), vl,
               nb_early_stop_best_epoch(es) == e ? "  (best so far)" : "");
        e++;
        if (stop) break;
    }
    double restored = data_loss(m, &val);
    printf("   stopped after epoch %d; best epoch %lld (val loss %.4f); weights restored: val loss %.4f, "
           "test accuracy %.1f%%\n",
           e, (long long)nb_early_stop_best_epoch(es) + 1, nb_early_stop_best(es), restored,
           100 * accuracy(m, test.x, test.y));
    int b2 = !(e < 60 && nb_early_stop_best_epoch(es) == e - 4 && fabs(restored - nb_early_stop_best(es)) < 1e-6);
    printf(b2 ? "   MISMATCH: early stopping did not behave as described\n"
              : "   OK: stopped 3 epochs after the best one and restored its weights\n");
    bad += b2;
    nb_early_stop_free(es);
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_dataset_free(&train);
    nb_dataset_free(&val);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
