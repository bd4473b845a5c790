/* 15 — softmax (cross-entropy) vs multiclass SVM (hinge) loss.
 *
 * Scores s = f(x; W) for classes cat, car, frog. For an example with label y:
 *   SVM:      L_i = Σ_{j≠y} max(0, s_j − s_y + 1)
 *   softmax:  L_i = −log( e^{s_y} / Σ_j e^{s_j} )
 * Gradients with respect to the scores:
 *   SVM:      ∂L/∂s_j = 1[s_j − s_y + 1 > 0] (j ≠ y),  ∂L/∂s_y = −Σ_{j≠y} 1[...]
 *   softmax:  ∂L/∂s_j = p_j − 1[j = y]
 * Part 1 reproduces the lecture's three examples, part 2 compares autograd's
 * gradients with these formulas, part 3 trains a linear classifier with each
 * loss on three Gaussian blobs. */
#include <nabla/nabla.h>
#include <math.h>

/* SVM loss composed from primitives: margins = relu(s − s_y + 1); the correct
 * class contributes exactly 1, subtracted back. Mean over the batch. */
static nb_tensor *svm_loss(nb_tensor *s, nb_tensor *y /* (N,1) i64 */) {
    nb_tensor *sy = nb_gather(s, 1, y); /* (N,1) */
    nb_tensor *margins = nb_relu(nb_add_scalar(nb_sub(s, sy), 1.0));
    double n = (double)s->shape.d[0];
    return nb_mul_scalar(nb_add_scalar(nb_sum_all(margins), -n), 1.0 / n);
}

static nb_tensor *softmax_loss(nb_tensor *s, nb_tensor *y /* (N,1) */) {
    return nb_nll(nb_log_softmax(s, 1), nb_reshape(y, NB_SHAPE(-1)), NB_REDUCE_MEAN);
}

int main(void) {
    const char *cls[3] = {"cat", "car", "frog"};
    /* rows: a cat image, a car image, a frog image; columns: class scores */
    const double S[3][3] = {{3.2, 5.1, -1.7}, {1.3, 4.9, 2.0}, {2.2, 2.5, -3.1}};
    const int64_t Y[3] = {0, 1, 2};
    nb_scope *sc = nb_scope_begin();

    printf("1. losses per example\n");
    for (int i = 0; i < 3; i++) {
        nb_tensor *s = nb_from_f64(NB_SHAPE(1, 3), S[i]);
        nb_tensor *y = nb_from_i64(NB_SHAPE(1, 1), &Y[i]);
        printf("   %-5s image, scores (%5.1f %5.1f %5.1f): SVM loss %5.2f, softmax loss %5.2f\n", cls[i], S[i][0],
               S[i][1], S[i][2], nb_item(svm_loss(s, y)), nb_item(softmax_loss(s, y)));
    }
    nb_tensor *s = nb_set_requires_grad(nb_from_f64(NB_SHAPE(3, 3), &S[0][0]), true);
    nb_tensor *y = nb_from_i64(NB_SHAPE(3, 1), Y);
    printf("   mean over the three: SVM %.2f, softmax %.2f\n", nb_item(svm_loss(s, y)), nb_item(softmax_loss(s, y)));

    printf("\n2. gradients with respect to the cat image's scores (autograd vs formula)\n");
    nb_tensor *s0 = nb_set_requires_grad(nb_from_f64(NB_SHAPE(1, 3), S[0]), true);
    nb_tensor *y0 = nb_from_i64(NB_SHAPE(1, 1), Y);
    nb_backward(svm_loss(s0, y0));
    double worst = 0;
    int count = 0;
    for (int j = 1; j < 3; j++) count += S[0][j] - S[0][0] + 1 > 0;
    for (int j = 0; j < 3; j++) {
        double formula = j == 0 ? -count : (S[0][j] - S[0][0] + 1 > 0);
        worst = fmax(worst, fabs(formula - nb_f64(s0->grad)[j]));
        printf("   SVM     dL/ds_%-4s autograd %+.4f  formula %+.4f\n", cls[j], nb_f64(s0->grad)[j], formula);
    }
    nb_zero_grad(s0);
    nb_backward(softmax_loss(s0, y0));
    double z = 0;
    for (int j = 0; j < 3; j++) z += exp(S[0][j]);
    for (int j = 0; j < 3; j++) {
        double formula = exp(S[0][j]) / z - (j == 0);
        worst = fmax(worst, fabs(formula - nb_f64(s0->grad)[j]));
        printf("   softmax dL/ds_%-4s autograd %+.4f  formula %+.4f\n", cls[j], nb_f64(s0->grad)[j], formula);
    }
    printf("   largest difference %.1e\n", worst);
    nb_scope_end(&sc);

    printf("\n3. a linear classifier on three Gaussian blobs (300 points), 200 steps of gradient descent\n");
    nb_seed(15);
    const int N = 300, K = 3;
    nb_tensor *X = nb_randn(NB_F64, NB_SHAPE(N, 2), 0, 0.7);
    nb_tensor *L = nb_empty(NB_I64, NB_SHAPE(N, 1));
    const double centers[3][2] = {{2, 0}, {-1, 1.7}, {-1, -1.7}};
    for (int i = 0; i < N; i++) {
        nb_i64(L)[i] = i % K;
        nb_f64(X)[2 * i] += centers[i % K][0];
        nb_f64(X)[2 * i + 1] += centers[i % K][1];
    }
    for (int which = 0; which < 2; which++) {
        nb_seed(150);
        nb_tensor *W = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(2, K), 0, 0.01), true);
        nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(K)), true);
        double loss = 0, acc = 0;
        for (int step = 0; step < 200; step++) {
            nb_scope *st = nb_scope_begin();
            nb_tensor *scores = nb_add(nb_matmul(X, W), b);
            nb_tensor *l = which == 0 ? svm_loss(scores, L) : softmax_loss(scores, L);
            nb_zero_grad(W);
            nb_zero_grad(b);
            nb_backward(l);
            NB_NO_GRAD {
                nb_axpy_(W, -0.5, W->grad);
                nb_axpy_(b, -0.5, b->grad);
            }
            loss = nb_item(l);
            nb_tensor *pred = nb_argmax(scores, 1, true);
            int right = 0;
            for (int i = 0; i < N; i++) right += nb_i64(pred)[i] == nb_i64(L)[i];
            acc = (double)right / N;
            nb_scope_end(&st);
        }
        printf("   %-8s final loss %.4f, training accuracy %.1f%%\n", which == 0 ? "SVM" : "softmax", loss, 100 * acc);
        nb_tensor_free(W);
        nb_tensor_free(b);
    }
    printf("   (the SVM is satisfied once margins exceed 1; softmax keeps pushing the correct class up)\n");
    nb_tensor_free(X);
    nb_tensor_free(L);
    return 0;
}
