/* 12 — learning-rate decay.
 *
 * With mini-batches the gradient is noisy: at a constant rate α, SGD stops
 * improving when the noise in α·g is as large as the remaining progress, and
 * bounces around the minimum. Decaying α lets it settle. The three schedules
 * (t = epoch):
 *   step         α_t = α₀ · γ^⌊t/s⌋          (halve every s epochs)
 *   exponential  α_t = α₀ · e^{−kt}
 *   1/t          α_t = α₀ / (1 + kt)
 * The task: linear regression y = x·w* + noise (noise std 0.5, so the best
 * mean squared error is about 0.25), 20 features, 1000 samples,
 * mini-batches of 10, SGD with α₀ = 0.05 for 20 epochs; the floor is the
 * least-squares minimum (full-batch gradient descent run to convergence). The program prints
 * each schedule's rate per epoch side by side and every run's final loss;
 * the decayed runs end closer to the noise floor. --full trains 60 epochs. */
#include <nabla/nabla.h>
#include <math.h>
#include <string.h>

enum { N = 1000, D = 20, NSCHED = 4 };

int main(int argc, char **argv) {
    int epochs = argc > 1 && !strcmp(argv[1], "--full") ? 60 : 20;
    const double lr0 = 0.05;
    nb_lr_schedule sched[NSCHED] = {nb_lr_step(lr0, 1000000, 1.0) /* constant */, nb_lr_step(lr0, 5, 0.5),
                                    nb_lr_exp_decay(lr0, 0.15), nb_lr_inv_time(lr0, 0.5)};
    const char *names[NSCHED] = {"constant", "step", "exp", "1/t"};

    /* the closed forms, checked against the library */
    int bad = 0;
    for (int t = 0; t < 30; t++) {
        bad += fabs(nb_lr_at(&sched[1], t) - lr0 * pow(0.5, t / 5)) > 1e-15;
        bad += fabs(nb_lr_at(&sched[2], t) - lr0 * exp(-0.15 * t)) > 1e-15;
        bad += fabs(nb_lr_at(&sched[3], t) - lr0 / (1 + 0.5 * t)) > 1e-15;
    }

    nb_seed(12);
    nb_dataset ds = {nb_randn(NB_F32, NB_SHAPE(N, D), 0, 1), NULL};
    nb_tensor *wstar = nb_randn(NB_F32, NB_SHAPE(D, 1), 0, 1);
    NB_NO_GRAD {
        nb_scope *sc = nb_scope_begin();
        ds.y = nb_copy_persistent(nb_add(nb_matmul(ds.x, wstar), nb_randn(NB_F32, NB_SHAPE(N, 1), 0, 0.5)));
        nb_scope_end(&sc);
    }
    /* the floor: the least-squares minimum, found by full-batch gradient
     * descent (x is well conditioned, 300 steps reach it) */
    double floor_loss = 0;
    {
        nb_seed(121);
        nb_module *best = nb_linear(D, 1);
        nb_optim *opt = nb_optim_sgd(best, 0.2, 0);
        for (int s = 0; s < 300; s++) {
            nb_scope *sc = nb_scope_begin();
            nb_tensor *loss = nb_mse_loss(nb_forward(best, ds.x), ds.y, NB_REDUCE_MEAN);
            floor_loss = nb_item(loss);
            nb_optim_zero_grad(opt);
            nb_backward(loss);
            nb_optim_step(opt);
            nb_scope_end(&sc);
        }
        nb_optim_free(opt);
        nb_module_free(best);
    }

    double lr[NSCHED][64], final[NSCHED];
    for (int k = 0; k < NSCHED; k++) {
        nb_seed(120); /* same init and batch order for every schedule */
        nb_module *model = nb_linear(D, 1);
        nb_optim *opt = nb_optim_sgd(model, nb_lr_at(&sched[k], 0), 0);
        nb_loader *loader = nb_loader_new(&ds, 10, NB_SHUFFLE);
        for (int e = 0; e < epochs; e++) {
            lr[k][e] = nb_optim_get_lr(opt);
            nb_batch b;
            while (nb_loader_next(loader, &b)) {
                nb_scope *sc = nb_scope_begin();
                nb_tensor *loss = nb_mse_loss(nb_forward(model, b.x), b.y, NB_REDUCE_MEAN);
                nb_optim_zero_grad(opt);
                nb_backward(loss);
                nb_optim_step(opt);
                nb_scope_end(&sc);
            }
            nb_lr_schedule_step(&sched[k], opt); /* after the epoch, as torch's scheduler.step() */
        }
        NB_NO_GRAD {
            nb_scope *sc = nb_scope_begin();
            final[k] = nb_item(nb_mse_loss(nb_forward(model, ds.x), ds.y, NB_REDUCE_MEAN));
            nb_scope_end(&sc);
        }
        nb_loader_free(loader);
        nb_optim_free(opt);
        nb_module_free(model);
    }

    printf("learning rate per epoch (lr0 %.2f; step: x0.5 every 5, exp: k = 0.15, 1/t: k = 0.5)\n\nepoch", lr0);
    for (int k = 0; k < NSCHED; k++) printf(" %9s", names[k]);
    printf("\n");
    for (int e = 0; e < epochs; e++) {
        printf("%5d", e);
        for (int k = 0; k < NSCHED; k++) printf(" %9.5f", lr[k][e]);
        printf("\n");
    }
    printf("\nfinal training loss after %d epochs (least-squares floor %.4f)\n", epochs, floor_loss);
    for (int k = 0; k < NSCHED; k++)
        printf("   %-9s %.4f  (%.4f above the floor)\n", names[k], final[k], final[k] - floor_loss);
    for (int k = 1; k < NSCHED; k++) bad += !(final[k] - floor_loss < 0.5 * (final[0] - floor_loss));
    printf(bad ? "MISMATCH: a claim above does not hold\n"
               : "OK: the rates follow their formulas and every decayed run ends at least 2x closer to the "
                 "floor than the constant rate\n");
    nb_dataset_free(&ds);
    nb_tensor_free(wstar);
    return bad ? 1 : 0;
}
