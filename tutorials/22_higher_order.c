/* 22 — higher-order gradients: Hessian-vector products, Newton's method,
 * and a gradient penalty.
 *
 * Backprop gives the gradient g = ∇f(θ) in about the cost of one forward
 * pass. If the backward pass is itself recorded (nb_grads with
 * create_graph), g is a function of θ on the tape like any other, and we can
 * differentiate it again. The cheapest useful second-order quantity is the
 * Hessian-vector product
 *     H v = ∇_θ (g(θ) · v),
 * one more backward pass through the graph of g: a few times the cost of a
 * gradient, never the n² entries of H. Three uses:
 *
 * 1. Newton's method on the lectures' bowl f(x, y) = ½(x² + 100y²). Its
 *    Hessian is diag(1, 100): gradient descent must take steps below
 *    2/100 for the steep y direction and then crawls along x, while the
 *    Newton step θ − H⁻¹g lands on the minimum at once, because f is
 *    quadratic. H is built row by row: row i = H eᵢ, one HVP each.
 * 2. Logistic regression, L(w) = mean BCE(Xw, y) + ½λ|w|². Its Hessian has
 *    a closed form, H = Xᵀ diag(p(1−p)) X / N + λI with p = σ(Xw); the rows
 *    built from HVPs must match it, and Newton's method converges
 *    quadratically (the number of correct digits doubles every step).
 * 3. A gradient penalty (WGAN-GP): a critic D(x) is pushed towards
 *    |∇ₓD(x)| = 1 by the loss mean((|∇ₓD| − 1)²). The loss is a function of
 *    a gradient, so training it needs the gradient of a gradient with
 *    respect to the critic's weights. */
#include <nabla/nabla.h>
#include <math.h>
#include <stdio.h>

/* Solves A x = b (n×n, row-major; A and b are overwritten) by Gaussian
 * elimination with partial pivoting. */
static void solve(int n, double *A, double *b, double *x) {
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[p * n + c])) p = r;
        for (int k = 0; k < n; k++) {
            double t = A[c * n + k];
            A[c * n + k] = A[p * n + k];
            A[p * n + k] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (int k = c; k < n; k++) A[r * n + k] -= f * A[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double s = b[r];
        for (int k = r + 1; k < n; k++) s -= A[r * n + k] * x[k];
        x[r] = s / A[r * n + r];
    }
}

/* The gradient of loss(θ) as a tensor on the tape, and the Hessian row by
 * row: H[i, :] = ∇(g · eᵢ). Both into plain arrays. */
static void grad_and_hessian(nb_tensor *loss, nb_tensor *theta, double *g, double *H) {
    const int64_t n = theta->numel;
    nb_tensor *gt;
    nb_grads(&loss, 1, &theta, 1, NULL, &(nb_grad_opts){.create_graph = true}, &gt);
    for (int64_t i = 0; i < n; i++) g[i] = nb_get(gt, i);
    for (int64_t i = 0; i < n; i++) {
        nb_tensor *e = nb_zeros(NB_F64, theta->shape), *row;
        nb_set(e, i, 1);
        nb_tensor *gi = nb_sum_all(nb_mul(gt, e)); /* g · eᵢ */
        nb_grads(&gi, 1, &theta, 1, NULL, &(nb_grad_opts){.retain_graph = true}, &row);
        for (int64_t j = 0; j < n; j++) H[i * n + j] = nb_get(row, j);
    }
}

/* ------------------------------------------------------------ 1. the bowl */

static nb_tensor *bowl(nb_tensor *p) { /* ½(x² + 100y²) */
    nb_tensor *w = nb_from_f64(NB_SHAPE(2), (double[]){0.5, 50});
    return nb_sum_all(nb_mul(w, nb_square(p)));
}

static void part_bowl(void) {
    printf("1. the bowl f(x, y) = 0.5 (x^2 + 100 y^2) at (1, 1)\n");
    nb_tensor *p = nb_set_requires_grad(nb_from_f64(NB_SHAPE(2), (double[]){1, 1}), true);
    nb_scope *s = nb_scope_begin();
    double g[2], H[4], d[2];
    grad_and_hessian(bowl(p), p, g, H);
    printf("   gradient        (%g, %g)\n", g[0], g[1]);
    printf("   H e1 = (%g, %g), H e2 = (%g, %g)   (the Hessian, one HVP per row)\n", H[0], H[1], H[2], H[3]);
    /* one Hessian-vector product with v = (1, 1), as an optimizer would use it */
    nb_tensor *gt = nb_grad_of(bowl(p), p, true), *hv, *v = nb_ones(NB_F64, NB_SHAPE(2));
    nb_tensor *gv = nb_sum_all(nb_mul(gt, v));
    nb_grads(&gv, 1, &p, 1, NULL, NULL, &hv);
    printf("   H v for v = (1, 1): (%g, %g)\n", nb_get(hv, 0), nb_get(hv, 1));
    solve(2, H, g, d);
    printf("   Newton step: (1, 1) - H^-1 g = (%g, %g), f = %g: the minimum in one step\n", 1 - d[0], 1 - d[1],
           0.5 * ((1 - d[0]) * (1 - d[0]) + 100 * (1 - d[1]) * (1 - d[1])));
    nb_scope_end(&s);
    /* gradient descent with the largest stable rate's half, 1/100 */
    double x = 1, y = 1;
    int steps = 0;
    while (0.5 * (x * x + 100 * y * y) > 1e-6 && steps < 100000) {
        x -= 0.01 * x;
        y -= 0.01 * 100 * y;
        steps++;
    }
    printf("   gradient descent (rate 0.01) needs %d steps to reach f < 1e-6\n\n", steps);
    nb_tensor_free(p);
}

/* ------------------------------------------------------------ 2. logistic regression */

enum { N = 200, D = 4 }; /* 3 features and a constant column */
#define LAMBDA 0.01

static nb_tensor *logreg_loss(nb_tensor *w, nb_tensor *X, nb_tensor *y) {
    nb_tensor *z = nb_reshape(nb_matmul(X, nb_reshape(w, NB_SHAPE(D, 1))), NB_SHAPE(N));
    return nb_add(nb_bce_with_logits(z, y, NB_REDUCE_MEAN), nb_mul_scalar(nb_sum_all(nb_square(w)), 0.5 * LAMBDA));
}

static void part_logistic(void) {
    printf("2. logistic regression, %d points, %d weights, L2 %g\n", N, D, LAMBDA);
    nb_seed(22);
    nb_tensor *X = nb_randn(NB_F64, NB_SHAPE(N, D), 0, 1), *y = nb_empty(NB_F64, NB_SHAPE(N));
    const double wtrue[D] = {1.5, -2, 0.7, 0.3};
    for (int i = 0; i < N; i++) {
        nb_f64(X)[i * D + D - 1] = 1; /* the bias column */
        double z = 0;
        for (int j = 0; j < D; j++) z += nb_f64(X)[i * D + j] * wtrue[j];
        nb_f64(y)[i] = nb_rand_uniform() < 1 / (1 + exp(-z));
    }
    nb_tensor *w = nb_set_requires_grad(nb_zeros(NB_F64, NB_SHAPE(D)), true);
    for (int it = 0; it <= 8; it++) {
        nb_scope *s = nb_scope_begin();
        double g[D], H[D * D], Hc[D * D], d[D];
        nb_tensor *loss = logreg_loss(w, X, y);
        double L = nb_item(loss);
        grad_and_hessian(loss, w, g, H);
        /* the closed form: Xᵀ diag(p(1−p)) X / N + λI */
        double worst = 0, gnorm = 0;
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++) {
                double h = a == b ? LAMBDA : 0;
                for (int i = 0; i < N; i++) {
                    double z = 0;
                    for (int j = 0; j < D; j++) z += nb_f64(X)[i * D + j] * nb_f64(w)[j];
                    double p = 1 / (1 + exp(-z));
                    h += nb_f64(X)[i * D + a] * p * (1 - p) * nb_f64(X)[i * D + b] / N;
                }
                Hc[a * D + b] = h;
                worst = fmax(worst, fabs(h - H[a * D + b]));
            }
        for (int j = 0; j < D; j++) gnorm += g[j] * g[j];
        gnorm = sqrt(gnorm);
        if (it == 0) {
            printf("   Hessian at w = 0 from %d HVPs:\n", D);
            for (int a = 0; a < D; a++)
                printf("     %9.5f %9.5f %9.5f %9.5f\n", H[a * D], H[a * D + 1], H[a * D + 2], H[a * D + 3]);
            printf("   largest difference from the closed form: %.1e -> %s\n", worst,
                   worst < 1e-12 ? "the HVP rows match X^T diag(p(1-p)) X / N + lambda I" : "MISMATCH");
        }
        printf("   newton %d: loss %.12f  |grad| %.3e\n", it, L, gnorm);
        nb_scope_end(&s);
        if (gnorm < 1e-13) {
            printf("   converged in %d Newton steps (quadratic: the digits double each step)\n", it);
            break;
        }
        if (worst > 1e-12) break;
        solve(D, H, g, d);
        for (int j = 0; j < D; j++) nb_f64(w)[j] -= d[j];
        nb_bump_version(w);
        (void)Hc;
    }
    printf("   w = (%.4f, %.4f, %.4f, %.4f), the data came from (1.5, -2, 0.7, 0.3)\n\n", nb_f64(w)[0], nb_f64(w)[1],
           nb_f64(w)[2], nb_f64(w)[3]);
    nb_tensor_free(w);
    nb_tensor_free(X);
    nb_tensor_free(y);
}

/* ------------------------------------------------------------ 3. gradient penalty */

enum { M = 64, HID = 16 };

typedef struct {
    nb_tensor *w1, *b1, *w2, *b2;
} critic;

static nb_tensor *critic_fwd(const critic *c, nb_tensor *x) {
    return nb_affine(nb_tanh(nb_affine(x, c->w1, c->b1)), c->w2, c->b2);
}

/* mean over the points of (|∇ₓD(x)| − 1)² */
static nb_tensor *penalty(const critic *c, nb_tensor *x) {
    nb_tensor *d = critic_fwd(c, x), *gx;
    nb_tensor *ones = nb_ones(NB_F64, d->shape);
    nb_grads(&d, 1, &x, 1, &ones, &(nb_grad_opts){.create_graph = true}, &gx);
    const int ax1 = 1;
    nb_tensor *norm = nb_sqrt(nb_sum(nb_square(gx), &ax1, 1, false));
    return nb_mean_all(nb_square(nb_add_scalar(norm, -1)));
}

static void part_penalty(void) {
    printf("3. a gradient penalty: critic 2-%d-1 (tanh), loss mean((|grad_x D| - 1)^2) on %d points\n", HID, M);
    nb_seed(7);
    critic c = {nb_randn(NB_F64, NB_SHAPE(HID, 2), 0, 1.5), nb_zeros(NB_F64, NB_SHAPE(HID)),
                nb_randn(NB_F64, NB_SHAPE(1, HID), 0, 0.8), nb_zeros(NB_F64, NB_SHAPE(1))};
    nb_tensor *params[4] = {c.w1, c.b1, c.w2, c.b2};
    for (int i = 0; i < 4; i++) nb_set_requires_grad(params[i], true);
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_F64, NB_SHAPE(M, 2), 0, 1), true);

    /* the penalty's gradient with respect to a weight needs the gradient of a
     * gradient: check one element against central differences */
    {
        nb_scope *s = nb_scope_begin();
        nb_tensor *dp;
        nb_tensor *pen = penalty(&c, x);
        nb_grads(&pen, 1, &c.w1, 1, NULL, NULL, &dp);
        double analytic = nb_get(dp, 0), h = 1e-6, w0 = nb_f64(c.w1)[0];
        nb_f64(c.w1)[0] = w0 + h;
        double fp = nb_item(penalty(&c, x));
        nb_f64(c.w1)[0] = w0 - h;
        double fm = nb_item(penalty(&c, x));
        nb_f64(c.w1)[0] = w0;
        double numeric = (fp - fm) / (2 * h), err = fabs(analytic - numeric) / fmax(fabs(numeric), 1e-12);
        printf("   d penalty / d w1[0,0]: double backward %.8f, central difference %.8f -> %s\n", analytic, numeric,
               err < 1e-6 ? "finite-difference check ok" : "MISMATCH");
        nb_scope_end(&s);
    }
    double first = 0, last = 0;
    for (int step = 0; step <= 200; step++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *pen = penalty(&c, x);
        last = nb_item(pen);
        if (step == 0) first = last;
        if (step % 50 == 0) printf("   step %3d: penalty %.6f\n", step, last);
        for (int i = 0; i < 4; i++) nb_zero_grad(params[i]);
        nb_backward(pen); /* through the gradient's graph: second order */
        NB_NO_GRAD {
            for (int i = 0; i < 4; i++) nb_axpy_(params[i], -0.1, params[i]->grad);
        }
        nb_scope_end(&s);
    }
    printf("   penalty %.4f -> %.4f: %s\n", first, last,
           last < 0.1 * first ? "the critic's slope is pushed towards 1 at the data" : "DID NOT DECREASE");
    for (int i = 0; i < 4; i++) nb_tensor_free(params[i]);
    nb_tensor_free(x);
}

int main(void) {
    part_bowl();
    part_logistic();
    part_penalty();
    return 0;
}
