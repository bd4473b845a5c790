/* 02 — the chain rule in a small sigmoid network, by hand and by autograd.
 *
 * Network (the lecture's 3-2-2): inputs x_i (3), hidden h_j = σ(Σ_i w_ji x_i)
 * (2), outputs ŷ_k = σ(Σ_j v_kj h_j) (2), error E = ½ Σ_k (y_k − ŷ_k)².
 *
 * Backpropagation as the lecture derives it, with σ'(a) = σ(a)(1 − σ(a)):
 *   output deltas  δ_k = (y_k − ŷ_k) ŷ_k (1 − ŷ_k)
 *   hidden deltas  μ_j = h_j (1 − h_j) Σ_k δ_k v_kj
 *   gradients      ∂E/∂v_kj = −δ_k h_j,   ∂E/∂w_ji = −μ_j x_i
 * (gradient descent then adds η δ_k h_j and η μ_j x_i to the weights).
 * The program computes δ and μ by hand, runs autograd on the same numbers,
 * and prints both gradients side by side. */
#include <nabla/nabla.h>
#include <math.h>

static double sigmoid(double a) { return 1 / (1 + exp(-a)); }

int main(void) {
    const double x[3] = {1.0, 0.5, -1.0}, y[2] = {1.0, 0.0};
    const double w[2][3] = {{0.1, -0.2, 0.3}, {0.4, 0.1, -0.5}}; /* input -> hidden */
    const double v[2][2] = {{0.7, -0.3}, {-0.2, 0.6}};           /* hidden -> output */

    /* ---- by hand ---- */
    double h[2], yh[2], delta[2], mu[2];
    for (int j = 0; j < 2; j++) {
        double a = 0;
        for (int i = 0; i < 3; i++) a += w[j][i] * x[i];
        h[j] = sigmoid(a);
    }
    for (int k = 0; k < 2; k++) {
        double a = 0;
        for (int j = 0; j < 2; j++) a += v[k][j] * h[j];
        yh[k] = sigmoid(a);
        delta[k] = (y[k] - yh[k]) * yh[k] * (1 - yh[k]);
    }
    for (int j = 0; j < 2; j++) {
        double back = 0;
        for (int k = 0; k < 2; k++) back += delta[k] * v[k][j];
        mu[j] = h[j] * (1 - h[j]) * back;
    }
    printf("by hand:   h = (%.6f, %.6f)  y_hat = (%.6f, %.6f)\n", h[0], h[1], yh[0], yh[1]);
    printf("           delta = (%.6f, %.6f)  mu = (%.6f, %.6f)\n", delta[0], delta[1], mu[0], mu[1]);

    /* ---- by autograd: the same network as tensor ops ---- */
    nb_scope *s = nb_scope_begin();
    nb_tensor *X = nb_from_f64(NB_SHAPE(3, 1), x);
    nb_tensor *W = nb_set_name(nb_set_requires_grad(nb_from_f64(NB_SHAPE(2, 3), &w[0][0]), true), "w");
    nb_tensor *V = nb_set_name(nb_set_requires_grad(nb_from_f64(NB_SHAPE(2, 2), &v[0][0]), true), "v");
    nb_tensor *Y = nb_from_f64(NB_SHAPE(2, 1), y);
    nb_tensor *H = nb_sigmoid(nb_matmul(W, X));
    nb_tensor *Yh = nb_sigmoid(nb_matmul(V, H));
    nb_tensor *E = nb_mul_scalar(nb_sum_all(nb_pow_scalar(nb_sub(Y, Yh), 2)), 0.5);
    nb_backward(E);
    printf("autograd:  E = %.6f\n\n", nb_item(E));

    double worst = 0;
    printf("  dE/dv[k][j]   by hand (-delta_k h_j)   autograd\n");
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 2; j++) {
            double hand = -delta[k] * h[j], ag = nb_f64(V->grad)[k * 2 + j];
            worst = fmax(worst, fabs(hand - ag));
            printf("  v[%d][%d]       %+.10f            %+.10f\n", k, j, hand, ag);
        }
    printf("  dE/dw[j][i]   by hand (-mu_j x_i)      autograd\n");
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 3; i++) {
            double hand = -mu[j] * x[i], ag = nb_f64(W->grad)[j * 3 + i];
            worst = fmax(worst, fabs(hand - ag));
            printf("  w[%d][%d]       %+.10f            %+.10f\n", j, i, hand, ag);
        }
    printf("\nlargest difference: %.3g -> %s\n", worst, worst < 1e-12 ? "hand and autograd agree" : "MISMATCH");
    nb_scope_end(&s);
    return worst < 1e-12 ? 0 : 1;
}
