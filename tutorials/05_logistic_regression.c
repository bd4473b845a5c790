/* 05 — logistic regression: one neuron, binary cross-entropy.
 *
 * Two classes of Fashion-MNIST: sneaker (y = 0) and ankle boot (y = 1).
 * The model: z = x·w + b, p = σ(z) = P(y = 1 | x). Its loss is the binary
 * cross-entropy, the negative log-likelihood of the labels:
 *   L = −(1/N) Σ [ y log p + (1 − y) log(1 − p) ]
 * computed from the logit z (never from p, which rounds to 0 or 1) as
 *   l = max(z, 0) − z·y + log(1 + e^{−|z|}).
 * Its gradient is strikingly simple: ∂L/∂z = (p − y)/N, so
 *   ∂L/∂w = Xᵀ(p − y)/N,   ∂L/∂b = Σ(p − y)/N.
 * The program checks autograd against these formulas, then runs full-batch
 * gradient descent w −= α ∂L/∂w and prints training and test accuracy.
 * Default: the two classes among the first 8000 training / 2000 test images,
 * 100 steps; --full: all of them, 300 steps. */
#include "tutorial_data.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NEG = 7, POS = 9 }; /* sneaker, ankle boot */

/* rows of ds whose label is NEG or POS: x (n, 784), y (n, 1) F32 in {0, 1} */
static void two_classes(const nb_dataset *ds, nb_dataset *out) {
    int64_t n = nb_dataset_len(ds), k = 0;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++)
        if (nb_i64(ds->y)[i] == NEG || nb_i64(ds->y)[i] == POS) idx[k++] = i;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *ix = nb_from_i64(NB_SHAPE(k), idx);
    out->x = nb_copy_persistent(nb_index_select(ds->x, 0, ix));
    nb_scope_end(&sc);
    out->y = nb_empty(NB_F32, NB_SHAPE(k, 1)); /* outside the scope: persistent */
    for (int64_t i = 0; i < k; i++) nb_f32(out->y)[i] = nb_i64(ds->y)[idx[i]] == POS;
    free(idx);
}

static double accuracy01(nb_tensor *w, nb_tensor *b, const nb_dataset *ds) {
    int64_t right = 0, n = nb_dataset_len(ds);
    NB_NO_GRAD {
        nb_scope *sc = nb_scope_begin();
        nb_tensor *z = nb_add(nb_matmul(ds->x, w), b);
        for (int64_t i = 0; i < n; i++) right += (nb_f32(z)[i] > 0) == (nb_f32(ds->y)[i] > 0.5f);
        nb_scope_end(&sc);
    }
    return (double)right / (double)n;
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    nb_dataset all_tr, all_te, train, test;
    int rc = load_subset(NB_MNIST_FLAT, full ? 60000 : 8000, full ? 10000 : 2000, &all_tr, &all_te);
    if (rc) return rc;
    two_classes(&all_tr, &train);
    two_classes(&all_te, &test);
    nb_dataset_free(&all_tr);
    nb_dataset_free(&all_te);
    const int64_t N = nb_dataset_len(&train);
    printf("%s (0) vs %s (1): %lld training, %lld test images of 784 pixels\n", nb_fashion_mnist_class(NEG),
           nb_fashion_mnist_class(POS), (long long)N, (long long)nb_dataset_len(&test));

    nb_seed(5);
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(784, 1), 0, 0.01), true);
    nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_F32, NB_SHAPE(1)), true);
    const double lr = 0.5;
    const int steps = full ? 300 : 100;
    int bad = 0;
    for (int t = 0; t <= steps; t++) {
        nb_scope *sc = nb_scope_begin();
        nb_tensor *z = nb_add(nb_matmul(train.x, w), b);
        nb_tensor *loss = nb_bce_with_logits_loss(z, train.y, NB_REDUCE_MEAN);
        nb_zero_grad(w);
        nb_zero_grad(b);
        nb_backward(loss);
        if (t == 0) {
            /* ∂L/∂w = Xᵀ(σ(z) − y)/N by hand */
            nb_tensor *gw =
                nb_mul_scalar(nb_matmul(nb_transpose(train.x, 0, 1), nb_sub(nb_sigmoid(z), train.y)), 1.0 / (double)N);
            double worst = 0, gb = 0;
            for (int64_t i = 0; i < 784; i++) worst = fmax(worst, fabs(nb_f32(gw)[i] - nb_f32(w->grad)[i]));
            for (int64_t i = 0; i < N; i++) gb += (1 / (1 + exp(-nb_f32(z)[i])) - nb_f32(train.y)[i]) / (double)N;
            worst = fmax(worst, fabs(gb - nb_f32(b->grad)[0]));
            printf("gradient at the start: autograd vs X^T(p - y)/N, largest difference %.1e\n", worst);
            bad += !(worst < 1e-5);
        }
        if (t % (steps / 5) == 0)
            printf("step %4d  loss %.4f  training accuracy %.1f%%\n", t, nb_item(loss), 100 * accuracy01(w, b, &train));
        if (t < steps) NB_NO_GRAD {
                nb_axpy_(w, -lr, w->grad);
                nb_axpy_(b, -lr, b->grad);
            }
        nb_scope_end(&sc);
    }
    double tr = accuracy01(w, b, &train), te = accuracy01(w, b, &test);
    printf("final: training accuracy %.1f%%, test accuracy %.1f%%\n", 100 * tr, 100 * te);
    bad += !(tr > 0.85 && te > 0.85);
    printf(bad ? "MISMATCH: a claim above does not hold\n"
               : "OK: autograd matches the formula and one neuron separates the two classes\n");
    nb_tensor_free(w);
    nb_tensor_free(b);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
