/* 03 — the two-layer network that learns XOR.
 *
 * The lecture's network: 4 examples of 3 inputs (the third is always 1 and
 * acts as a bias), targets XOR of the first two; a hidden layer of 4 sigmoid
 * units and one sigmoid output; full-batch gradient descent on
 * E = ½ Σ (y − ŷ)² with step 1, 5000 steps. Autograd computes what the
 * lecture writes by hand (l2_delta = (y − ŷ) ŷ (1 − ŷ), and so on).
 *
 * Each step runs in a scope: the graph and gradients of intermediate tensors
 * are freed at its end, so memory stays flat however long it trains.
 *
 * --html FILE writes the first step's graph as a backprop stepper page
 * (nb_graph_html) and prints that step's dE/dw1 to compare with the page. */
#include <nabla/nabla.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *html = argc == 3 && !strcmp(argv[1], "--html") ? argv[2] : NULL;
    const double X[4][3] = {{0, 0, 1}, {0, 1, 1}, {1, 0, 1}, {1, 1, 1}};
    const double Y[4] = {0, 1, 1, 0};
    nb_seed(1);

    /* parameters live outside any scope: uniform in [-1, 1) */
    nb_tensor *w0 = nb_set_name(nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(3, 4), -1, 1), true), "w0");
    nb_tensor *w1 = nb_set_name(nb_set_requires_grad(nb_rand(NB_F64, NB_SHAPE(4, 1), -1, 1), true), "w1");
    nb_tensor *x = nb_from_f64(NB_SHAPE(4, 3), &X[0][0]);
    nb_tensor *y = nb_from_f64(NB_SHAPE(4, 1), Y);
    const double lr = 1.0;

    for (int step = 0; step <= 5000; step++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *l1 = nb_sigmoid(nb_matmul(x, w0));  /* (4,4) hidden */
        nb_tensor *l2 = nb_sigmoid(nb_matmul(l1, w1)); /* (4,1) output */
        nb_tensor *loss = nb_mul_scalar(nb_sum_all(nb_pow_scalar(nb_sub(y, l2), 2)), 0.5);
        if (step % 1000 == 0) printf("step %4d  loss %.6f\n", step, nb_item(loss));
        if (step == 5000) {
            printf("\npredictions:\n");
            for (int i = 0; i < 4; i++)
                printf("  %g xor %g -> %.4f  (rounds to %d, target %g)\n", X[i][0], X[i][1], nb_f64(l2)[i],
                       nb_f64(l2)[i] > 0.5, Y[i]);
        } else {
            nb_zero_grad(w0);
            nb_zero_grad(w1);
            nb_backward(loss);
            if (step == 0 && html && nb_graph_html(loss, html) == NB_OK) {
                printf("backprop stepper written to %s; at its end dE/dw1 =", html);
                for (int i = 0; i < 4; i++) printf(" %.17g", nb_f64(w1->grad)[i]);
                printf("\n");
            }
            NB_NO_GRAD {
                nb_axpy_(w0, -lr, w0->grad); /* w -= lr * dE/dw */
                nb_axpy_(w1, -lr, w1->grad);
            }
        }
        nb_scope_end(&s);
    }
    nb_tensor_free(w0);
    nb_tensor_free(w1);
    nb_tensor_free(x);
    nb_tensor_free(y);
    return 0;
}
