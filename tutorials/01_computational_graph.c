/* 01 — the computational graph.
 *
 * The lecture's first example: f(x, y, z) = (x + y) · z at x = -2, y = 5, z = -4.
 * Forward: q = x + y = 3, f = q · z = -12.
 * Backward, one local gradient at a time (the chain rule):
 *   df/df = 1
 *   df/dz = q = 3                 (mul: each input gets the other input)
 *   df/dq = z = -4
 *   df/dx = df/dq · dq/dx = -4    (add: passes the gradient through)
 *   df/dy = df/dq · dq/dy = -4
 *
 * Run with --trace to see each backward step, --step to pause at each node
 * (press Enter), --dot FILE to write the graph for Graphviz, --html FILE to
 * write a page that steps through backward in a browser. */
#include <nabla/nabla.h>
#include <string.h>

int main(int argc, char **argv) {
    bool trace = false, step = false;
    const char *dot = NULL, *html = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--trace")) trace = true;
        else if (!strcmp(argv[i], "--step")) trace = step = true;
        else if (!strcmp(argv[i], "--dot") && i + 1 < argc) dot = argv[++i];
        else if (!strcmp(argv[i], "--html") && i + 1 < argc) html = argv[++i];
    }
    nb_scope *s = nb_scope_begin();

    /* Leaves: the inputs we want gradients for. */
    nb_tensor *x = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -2), true), "x");
    nb_tensor *y = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, 5), true), "y");
    nb_tensor *z = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -4), true), "z");

    /* Forward: each op records a node on the tape. */
    nb_tensor *q = nb_set_name(nb_add(x, y), "q");
    nb_tensor *f = nb_set_name(nb_mul(q, z), "f");
    printf("forward:  q = x + y = %g\n", nb_item(q));
    printf("          f = q * z = %g\n", nb_item(f));

    printf("\nthe tape (creation order):\n");
    nb_tape_print(stdout, f);

    /* Backward: seed df/df = 1 and walk the tape in reverse. */
    if (trace) {
        printf("\nbackward trace:\n");
        nb_trace_backward(stdout, step);
    }
    nb_backward(f);
    nb_trace_backward(NULL, false);

    printf("\nbackward: df/dq = %g\n", nb_item(q->grad));
    printf("          df/dx = %g\n", nb_item(x->grad));
    printf("          df/dy = %g\n", nb_item(y->grad));
    printf("          df/dz = %g\n", nb_item(z->grad));

    if (dot && nb_graph_dot(f, dot) == NB_OK) printf("\ngraph written to %s (render: dot -Tsvg %s)\n", dot, dot);
    if (html && nb_graph_html(f, html) == NB_OK)
        printf("\nbackprop stepper written to %s (open it in a browser)\n", html);
    nb_scope_end(&s);
    return 0;
}
