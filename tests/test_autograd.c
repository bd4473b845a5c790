/* test_autograd.c — the tape and backward: accumulation, seeds, reuse,
 * broadcasting, no-grad mode, views, version counters, tracing, anomaly mode
 * and scopes. Errors are caught by a handler and checked by text. */
#include "test_util.h"
#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static nb_tensor *vec(int n, const double *v, bool rg) { return nb_set_requires_grad(nb_from_f64(NB_SHAPE(n), v), rg); }

static void assert_vals(const nb_tensor *t, const double *want, int n, double tol) {
    assert_non_null(t);
    assert_int_equal(t->numel, n);
    for (int i = 0; i < n; i++) {
        if (fabs(nb_get(t, i) - want[i]) > tol) {
            fail_msg("element %d: got %.17g, want %.17g", i, nb_get(t, i), want[i]);
        }
    }
}

/* Reads everything written to a memstream so far. */
typedef struct {
    FILE *f;
    char *buf;
    size_t len;
} capture;

static void cap_open(capture *c) {
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}
static void cap_close(capture *c) {
    fclose(c->f);
    c->f = NULL;
}
static void cap_free(capture *c) { free(c->buf); }

/* ------------------------------------------------------------ accumulation */

static void grads_accumulate_over_two_backwards(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = vec(3, (double[]){1, -2, 3}, true);
    /* two separate graphs, one backward each */
    for (int k = 0; k < 2; k++) {
        nb_tensor *y = nb_sum_all(nb_mul_scalar(x, 3));
        assert_int_equal(nb_backward(y), NB_OK);
    }
    assert_vals(x->grad, (double[]){6, 6, 6}, 3, 0);
    /* the same graph twice (the graph is kept) */
    nb_tensor *y = nb_sum_all(nb_pow_scalar(x, 2));
    assert_int_equal(nb_backward(y), NB_OK);
    assert_int_equal(nb_backward(y), NB_OK);
    assert_vals(x->grad, (double[]){6 + 4, 6 - 8, 6 + 12}, 3, 1e-12);
    /* zero_grad keeps the buffer, zeroed */
    nb_tensor *g = x->grad;
    nb_zero_grad(x);
    assert_ptr_equal(x->grad, g);
    assert_vals(x->grad, (double[]){0, 0, 0}, 3, 0);
    assert_int_equal(nb_backward(y), NB_OK);
    assert_vals(x->grad, (double[]){2, -4, 6}, 3, 1e-12);
    nb_zero_grad((nb_tensor *)NULL); /* accepted */
    assert_int_equal(tu_err.count, 0);
    nb_scope_end(&s);
}

static void leaf_root_gets_the_seed(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_scalar(NB_F64, 3), true);
    assert_int_equal(nb_backward(x), NB_OK); /* d x / d x = 1, as x.backward() in PyTorch */
    assert_true(nb_item(x->grad) == 1);
    nb_tensor *v = nb_set_requires_grad(nb_zeros(NB_F32, NB_SHAPE(2)), true);
    assert_int_equal(nb_backward_with(v, nb_full(NB_F32, NB_SHAPE(2), 4)), NB_OK);
    assert_vals(v->grad, (double[]){4, 4}, 2, 0);
    assert_int_equal(nb_tape_len(v), 0);
    nb_scope_end(&s);
}

static void nonleaf_grads_restart_from_zero(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = vec(2, (double[]){0.5, 2}, true);
    nb_tensor *h = nb_mul(x, x); /* non-leaf */
    nb_tensor *y = nb_sum_all(nb_mul_scalar(h, 3));
    assert_false(nb_is_leaf(h));
    assert_true(h->requires_grad);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(nb_backward(y), NB_OK);
        assert_vals(h->grad, (double[]){3, 3}, 2, 0); /* not 6, not 9 */
        assert_vals(y->grad, (double[]){1}, 1, 0);
    }
    assert_vals(x->grad, (double[]){3 * 3 * 1.0, 3 * 3 * 4.0}, 2, 1e-12); /* leaves accumulate */
    nb_scope_end(&s);
}

static void backward_with_seed(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = vec(3, (double[]){1, 2, 3}, true);
    nb_tensor *y = nb_mul(x, x);
    nb_tensor *seed = nb_from_f64(NB_SHAPE(3), (double[]){1, 10, 100});
    assert_int_equal(nb_backward_with(y, seed), NB_OK);
    assert_vals(x->grad, (double[]){2, 40, 600}, 3, 0);
    /* a scalar root with an explicit seed */
    nb_zero_grad(x);
    nb_tensor *z = nb_sum_all(y);
    assert_int_equal(nb_backward_with(z, nb_scalar(NB_F64, -0.5)), NB_OK);
    assert_vals(x->grad, (double[]){-1, -2, -3}, 3, 0);
    /* wrong seed shape or dtype */
    assert_int_equal(nb_backward_with(y, nb_ones(NB_F64, NB_SHAPE(4))), NB_ERR_SHAPE);
    assert_non_null(strstr(tu_err.last_msg, "seed is (4) f64 but root is (3) f64"));
    assert_int_equal(nb_backward_with(y, nb_ones(NB_F32, NB_SHAPE(3))), NB_ERR_DTYPE);
    assert_non_null(strstr(tu_err.last_msg, "seed is (3) f32"));
    nb_scope_end(&s);
}

static void tensor_used_twice_gets_both(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = vec(3, (double[]){1.5, -2, 0.25}, true);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(x, x))), NB_OK);
    assert_vals(x->grad, (double[]){3, -4, 0.5}, 3, 0);
    /* diamond: y = exp(x) used by two branches */
    nb_zero_grad(x);
    nb_tensor *e = nb_exp(x);
    nb_tensor *l = nb_sum_all(nb_add(nb_mul_scalar(e, 2), nb_mul(e, x)));
    assert_int_equal(nb_backward(l), NB_OK);
    for (int i = 0; i < 3; i++) {
        double xv = nb_get(x, i);
        assert_true(fabs(nb_get(x->grad, i) - (2 * exp(xv) + exp(xv) * xv + exp(xv))) < 1e-12);
    }
    /* x + x and a reshape of x: add's and reshape's backward copy g into a
     * new gradient and add it to one that exists; long enough to be split
     * between threads */
    const int n = 1 << 18;
    nb_tensor *big = nb_set_requires_grad(nb_full(NB_F64, NB_SHAPE(n), 0.5), true);
    nb_tensor *w = nb_full(NB_F64, NB_SHAPE(n), 3);
    for (int round = 1; round <= 2; round++) { /* the second backward adds to the first's gradient */
        nb_tensor *y = nb_add(nb_add(big, big), nb_reshape(nb_reshape(big, NB_SHAPE(n / 2, 2)), NB_SHAPE(n)));
        assert_int_equal(nb_backward(nb_sum_all(nb_mul(y, w))), NB_OK);
        for (int i = 0; i < n; i += 4099) assert_true(nb_get(big->grad, i) == 9.0 * round);
        assert_true(nb_get(big->grad, n - 1) == 9.0 * round);
    }
    nb_scope_end(&s);
}

static void broadcast_backward_sums_to_input_shape(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_set_requires_grad(nb_from_f64(NB_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}), true);
    nb_tensor *row = nb_set_requires_grad(nb_from_f64(NB_SHAPE(3), (double[]){10, 20, 30}), true);
    nb_tensor *col = nb_set_requires_grad(nb_from_f64(NB_SHAPE(2, 1), (double[]){-1, 2}), true);
    nb_tensor *sc = nb_set_requires_grad(nb_scalar(NB_F64, 3), true);
    /* l = sum((a + row) * col * sc) */
    nb_tensor *l = nb_sum_all(nb_mul(nb_mul(nb_add(a, row), col), sc));
    assert_int_equal(nb_backward(l), NB_OK);
    assert_true(nb_shape_eq(row->grad->shape, NB_SHAPE(3)));
    assert_true(nb_shape_eq(col->grad->shape, NB_SHAPE(2, 1)));
    assert_true(nb_shape_eq(sc->grad->shape, NB_SCALAR));
    assert_true(nb_shape_eq(a->grad->shape, NB_SHAPE(2, 3)));
    /* d/d row_j = sc * sum_i col_i = 3 * 1 */
    assert_vals(row->grad, (double[]){3, 3, 3}, 3, 0);
    /* d/d col_i = sc * sum_j (a_ij + row_j) */
    assert_vals(col->grad, (double[]){3 * (6 + 60), 3 * (15 + 60)}, 2, 1e-12);
    assert_vals(a->grad, (double[]){-3, -3, -3, 6, 6, 6}, 6, 0);
    /* d/d sc = sum((a+row)*col) = -66 + 2*75 */
    assert_vals(sc->grad, (double[]){-66 + 150}, 1, 1e-12);
    /* a (1,3) with a (2,1,3): the rank grows, the gradient keeps (1,3) */
    nb_tensor *b13 = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(1, 3)), true);
    nb_tensor *b213 = nb_ones(NB_F64, NB_SHAPE(2, 1, 3));
    assert_int_equal(nb_backward(nb_sum_all(nb_sub(b213, b13))), NB_OK);
    assert_true(nb_shape_eq(b13->grad->shape, NB_SHAPE(1, 3)));
    assert_vals(b13->grad, (double[]){-2, -2, -2}, 3, 0);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ grad mode */

static void no_grad_records_nothing(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = vec(2, (double[]){1, 2}, true);
    nb_no_grad_begin();
    assert_false(nb_grad_enabled());
    nb_no_grad_begin(); /* nests */
    nb_tensor *y = nb_sum_all(nb_mul(x, x));
    nb_no_grad_end();
    assert_false(nb_grad_enabled());
    nb_tensor *z = nb_exp(x);
    nb_no_grad_end();
    assert_true(nb_grad_enabled());
    assert_true(nb_item(y) == 5);
    assert_false(y->requires_grad);
    assert_null(y->node);
    assert_false(z->requires_grad);
    assert_null(z->node);
    assert_int_equal(nb_tape_len(y), 0);
    /* backward of it is a graph error */
    assert_int_equal(nb_backward(y), NB_ERR_GRAPH);
    assert_non_null(strstr(tu_err.last_msg, "does not require grad"));
    assert_null(x->grad);
    /* unbalanced end is reported */
    tu_err.count = 0;
    nb_no_grad_end();
    assert_int_equal(tu_err.count, 1);
    assert_int_equal(tu_err.last_st, NB_ERR_ARG);
    assert_true(nb_grad_enabled());
    /* NB_NO_GRAD block */
    nb_tensor *w = NULL;
    NB_NO_GRAD {
        assert_false(nb_grad_enabled());
        w = nb_mul(x, x);
    }
    assert_true(nb_grad_enabled());
    assert_false(w->requires_grad);
    assert_null(w->node);
    /* and after it, recording is back on */
    nb_tensor *v = nb_mul(x, x);
    assert_true(v->requires_grad);
    assert_non_null(v->node);
    assert_string_equal(v->node->op->name, "mul");
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ views and versions */

static void reshape_is_a_view_sharing_the_version(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_arange(NB_F64, 0, 6, 1), true);
    nb_tensor *r = nb_reshape(x, NB_SHAPE(2, -1));
    assert_non_null(r);
    assert_true(nb_shape_eq(r->shape, NB_SHAPE(2, 3)));
    assert_ptr_equal(r->data, x->data);
    assert_ptr_equal(r->version, x->version);
    nb_tensor *f = nb_flatten(r, 0, -1);
    assert_ptr_equal(f->data, x->data);
    assert_ptr_equal(f->version, x->version);
    uint32_t v0 = *x->version;
    NB_NO_GRAD { nb_add_(r, nb_scalar(NB_F64, 0)); }
    assert_int_equal(*x->version, v0 + 1);
    assert_int_equal(*f->version, v0 + 1);
    /* backward through views reaches x with x's shape */
    nb_tensor *l = nb_sum_all(nb_mul(nb_reshape(x, NB_SHAPE(3, 2)), nb_reshape(x, NB_SHAPE(3, 2))));
    assert_int_equal(nb_backward(l), NB_OK);
    assert_true(nb_shape_eq(x->grad->shape, NB_SHAPE(6)));
    assert_vals(x->grad, (double[]){0, 2, 4, 6, 8, 10}, 6, 0);
    /* a write through the view is a write to x: a node that saved x notices */
    nb_tensor *y = nb_sum_all(nb_mul(x, x));
    NB_NO_GRAD { nb_add_(nb_reshape(x, NB_SHAPE(3, 2)), nb_scalar(NB_F64, 1)); }
    assert_true(nb_get(x, 0) == 1);
    assert_int_equal(nb_backward(y), NB_ERR_VERSION);
    assert_non_null(strstr(tu_err.last_msg, "mul"));
    nb_scope_end(&s);
}

static void modified_saved_input_is_caught(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_name(vec(3, (double[]){1, 2, 3}, true), "x");
    nb_tensor *w = nb_set_name(vec(3, (double[]){4, 5, 6}, true), "w");
    nb_tensor *y = nb_sum_all(nb_mul(x, w));
    NB_NO_GRAD { assert_non_null(nb_add_(x, nb_scalar(NB_F64, 1))); }
    assert_int_equal(nb_backward(y), NB_ERR_VERSION);
    assert_int_equal(tu_err.last_st, NB_ERR_VERSION);
    assert_int_equal(nb_error(), NB_ERR_VERSION);
    assert_non_null(strstr(tu_err.last_msg, "nabla: mul: input 0 'x' is (3), and it was modified in place"));
    assert_non_null(strstr(tu_err.last_msg, "now version 1, backward expected 0"));
    assert_null(w->grad); /* mul's backward did not run */
    nb_error_clear();
    /* an op that saves nothing (add) does not care */
    nb_tensor *a = vec(2, (double[]){1, 2}, true), *b = vec(2, (double[]){3, 4}, true);
    nb_tensor *z = nb_sum_all(nb_add(a, b));
    NB_NO_GRAD { nb_scale_(a, 2); }
    assert_int_equal(nb_backward(z), NB_OK);
    assert_vals(a->grad, (double[]){1, 1}, 2, 0);
    /* an op that saves its output (exp) notices the output changing */
    nb_tensor *e = nb_exp(a);
    nb_tensor *le = nb_sum_all(e);
    NB_NO_GRAD { nb_fill_(e, 0); }
    assert_int_equal(nb_backward(le), NB_ERR_VERSION);
    assert_non_null(strstr(tu_err.last_msg, "exp"));
    assert_non_null(strstr(tu_err.last_msg, "output was modified in place"));
    /* nb_set bumps the version too */
    nb_error_clear();
    nb_tensor *q = vec(2, (double[]){1, 2}, true);
    nb_tensor *lq = nb_sum_all(nb_log(q));
    nb_set(q, 0, 7);
    assert_int_equal(nb_backward(lq), NB_ERR_VERSION);
    assert_non_null(strstr(tu_err.last_msg, "nabla: log: "));
    nb_scope_end(&s);
}

static void inplace_on_graph_refused_with_grad_on(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *w = nb_set_name(vec(2, (double[]){1, 2}, true), "w");
    nb_tensor *d = nb_ones(NB_F64, NB_SHAPE(2));
    assert_null(nb_add_(w, d));
    assert_int_equal(tu_err.last_st, NB_ERR_GRAPH);
    assert_string_equal(tu_err.last_msg,
                        "nabla: add_: dst 'w' is (2) and is a leaf that requires grad; in-place updates of it "
                        "must run under nb_no_grad (as optimizers do)");
    assert_true(nb_get(w, 0) == 1);
    assert_int_equal(*w->version, 0);
    nb_tensor *h = nb_mul(w, w);
    assert_null(nb_scale_(h, 2));
    assert_non_null(strstr(tu_err.last_msg, "is part of a recorded graph"));
    /* a tensor that does not require grad is fine with grad on */
    assert_ptr_equal(nb_add_(d, d), d);
    assert_true(nb_get(d, 1) == 2);
    /* and the leaf under no-grad */
    NB_NO_GRAD { assert_ptr_equal(nb_axpy_(w, -0.5, d), w); }
    assert_vals(w, (double[]){0, 1}, 2, 0);
    assert_int_equal(*w->version, 1);
    /* a view made under no-grad doesn't require grad, but writing through it
     * would change w: refused with grad on, allowed under no-grad */
    nb_tensor *v = NULL;
    NB_NO_GRAD { v = nb_reshape(w, NB_SHAPE(2, 1)); }
    assert_false(v->requires_grad);
    tu_err.last_st = NB_OK;
    assert_null(nb_fill_(v, 7));
    assert_int_equal(tu_err.last_st, NB_ERR_GRAPH);
    assert_non_null(strstr(tu_err.last_msg, "is a view of 'w'"));
    assert_vals(w, (double[]){0, 1}, 2, 0);
    NB_NO_GRAD { assert_ptr_equal(nb_fill_(v, 7), v); }
    assert_vals(w, (double[]){7, 7}, 2, 0);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ seeing it */

static void tape_print_lists_ops_in_order(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -2), true), "x");
    nb_tensor *y = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, 5), true), "y");
    nb_tensor *z = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -4), true), "z");
    nb_tensor *q = nb_set_name(nb_add(x, y), "q");
    nb_tensor *f = nb_set_name(nb_mul(q, z), "f");
    nb_tensor *g = nb_exp(f);
    assert_int_equal(nb_tape_len(g), 3);
    assert_int_equal(nb_tape_len(q), 1);
    assert_int_equal(nb_tape_len(x), 0);
    capture c;
    cap_open(&c);
    nb_tape_print(c.f, g);
    cap_close(&c);
    /* three lines: add, mul, exp */
    char *l1 = c.buf, *l2 = strchr(l1, '\n'), *l3;
    assert_non_null(l2);
    l3 = strchr(l2 + 1, '\n');
    assert_non_null(l3);
    assert_string_equal(l3 + 1 + strcspn(l3 + 1, "\n"), "\n");
    assert_non_null(strstr(c.buf, " add "));
    assert_true(strstr(c.buf, " add ") < strstr(c.buf, " mul "));
    assert_true(strstr(c.buf, " mul ") < strstr(c.buf, " exp "));
    assert_true(strstr(c.buf, " add ") < l2);
    assert_non_null(strstr(c.buf, "in: x () y ()  out: q ()"));
    assert_non_null(strstr(c.buf, "in: q () z ()  out: f ()"));
    assert_true(l1[0] == '#');
    cap_free(&c);
    nb_scope_end(&s);
}

static void graph_dot_names_the_ops(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *w = nb_set_name(nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(3, 2)), true), "fc1.weight");
    nb_tensor *x = nb_set_name(nb_ones(NB_F64, NB_SHAPE(4, 3)), "input");
    nb_tensor *l = nb_set_name(nb_sum_all(nb_tanh(nb_set_name(nb_matmul(x, w), "hidden"))), "loss");
    char path[] = "/tmp/nabla_test_dot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(nb_graph_dot(l, path), NB_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    assert_true(strncmp(buf, "digraph", 7) == 0);
    assert_non_null(strstr(buf, "label=\"matmul\""));
    assert_non_null(strstr(buf, "label=\"tanh\""));
    assert_non_null(strstr(buf, "label=\"sum\""));
    assert_non_null(strstr(buf, "fc1.weight"));
    assert_non_null(strstr(buf, "input"));
    assert_non_null(strstr(buf, "loss"));
    assert_non_null(strstr(buf, "label=\"hidden\\n(4,2)\"")); /* a named intermediate on its edge */
    assert_string_equal(buf + n - 2, "}\n");
    /* an unwritable path is an i/o error, not a crash */
    assert_int_equal(nb_graph_dot(l, "/nonexistent-dir/x.dot"), NB_ERR_IO);
    assert_int_equal(tu_err.last_st, NB_ERR_IO);
    assert_non_null(strstr(tu_err.last_msg, "/nonexistent-dir/x.dot"));
    nb_scope_end(&s);
}

static void backward_trace_prints_nodes_and_grads(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -2), true), "x");
    nb_tensor *y = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, 5), true), "y");
    nb_tensor *z = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -4), true), "z");
    nb_tensor *q = nb_set_name(nb_add(x, y), "q");
    nb_tensor *f = nb_set_name(nb_mul(q, z), "f");
    capture c;
    cap_open(&c);
    nb_trace_backward(c.f, false);
    assert_int_equal(nb_backward(f), NB_OK);
    nb_trace_backward(NULL, false);
    assert_int_equal(nb_backward(f), NB_OK); /* not traced */
    cap_close(&c);
    char *mul = strstr(c.buf, " mul -> f ()");
    char *add = strstr(c.buf, " add -> q ()");
    assert_non_null(mul);
    assert_non_null(add);
    assert_true(mul < add); /* reverse tape order */
    assert_non_null(strstr(mul, "incoming grad: () [1]"));
    assert_non_null(strstr(mul, "to input 0 q: () [-4]"));
    assert_non_null(strstr(mul, "to input 1 z: () [3]"));
    assert_non_null(strstr(add, "incoming grad: () [-4]"));
    assert_non_null(strstr(add, "to input 0 x: () [-4]"));
    assert_non_null(strstr(add, "to input 1 y: () [-4]"));
    /* one trace only */
    assert_null(strstr(add + 1, " mul -> f"));
    /* what a node passes on is its own contribution, not the accumulated grad */
    cap_free(&c);
    cap_open(&c);
    nb_trace_backward(c.f, false);
    assert_int_equal(nb_backward(f), NB_OK); /* x->grad already holds -8 */
    nb_trace_backward(NULL, false);
    cap_close(&c);
    assert_non_null(strstr(c.buf, "to input 0 x: () [-4]"));
    assert_true(nb_item(x->grad) == -12);
    cap_free(&c);
    /* big gradients are summarised */
    nb_tensor *v = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(20)), true);
    cap_open(&c);
    nb_trace_backward(c.f, false);
    assert_int_equal(nb_backward(nb_sum_all(nb_mul_scalar(v, 2))), NB_OK);
    nb_trace_backward(NULL, false);
    cap_close(&c);
    assert_non_null(strstr(c.buf, "(20) mean 2  std 0  min 2  max 2"));
    cap_free(&c);
    /* the same for a node with more inputs than are stored inline (6 > 4):
     * the sixth input's grad already holds 10 when stack passes it 3 */
    nb_tensor *e[6];
    for (int i = 0; i < 6; i++) e[i] = nb_set_requires_grad(nb_scalar(NB_F64, i), true);
    nb_set_name(e[5], "e5");
    nb_tensor *w6 = nb_from_f64(NB_SHAPE(6), (double[]){1, 1, 1, 1, 1, 3});
    nb_tensor *st = nb_stack(e, 6, 0);
    nb_tensor *tot = nb_add(nb_sum_all(nb_mul(st, w6)), nb_mul_scalar(e[5], 10));
    cap_open(&c);
    nb_trace_backward(c.f, false);
    assert_int_equal(nb_backward(tot), NB_OK);
    nb_trace_backward(NULL, false);
    cap_close(&c);
    char *stk = strstr(c.buf, " stack -> ");
    assert_non_null(stk);
    assert_non_null(strstr(stk, "to input 5 e5: () [3]"));
    assert_true(nb_item(e[5]->grad) == 13);
    cap_free(&c);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ anomaly mode */

static void anomaly_forward_names_the_op(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = vec(3, (double[]){1, 0, 2}, true);
    nb_tensor *y = nb_log(x); /* not in anomaly mode: nothing said */
    assert_non_null(y);
    assert_int_equal(tu_err.count, 0);
    assert_true(isinf(nb_get(y, 1)));
    nb_anomaly_mode(true);
    y = nb_log(x);
    assert_int_equal(tu_err.count, 1);
    assert_int_equal(tu_err.last_st, NB_ERR_NAN);
    assert_int_equal(nb_error(), NB_ERR_NAN);
    assert_non_null(strstr(tu_err.last_msg, "nabla: log: "));
    assert_non_null(strstr(tu_err.last_msg, "forward"));
    assert_non_null(strstr(tu_err.last_msg, "-inf"));
    assert_non_null(strstr(tu_err.last_msg, "element 1"));
    assert_non_null(strstr(tu_err.last_msg, "(3)"));
    /* NaN and +inf are told apart */
    nb_tensor *nan_in = nb_from_f64(NB_SHAPE(2), (double[]){-1, 1});
    nb_sqrt(nan_in);
    assert_non_null(strstr(tu_err.last_msg, "nabla: sqrt: "));
    assert_non_null(strstr(tu_err.last_msg, "NaN at element 0"));
    nb_exp(nb_from_f64(NB_SHAPE(2), (double[]){1, 1000}));
    assert_non_null(strstr(tu_err.last_msg, "nabla: exp: "));
    assert_non_null(strstr(tu_err.last_msg, " inf at element 1"));
    nb_anomaly_mode(false);
    tu_err.count = 0;
    nb_log(x);
    assert_int_equal(tu_err.count, 0);
    nb_scope_end(&s);
}

static void anomaly_backward_names_the_op(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* sqrt at 0: forward is fine (0), its gradient is inf, times 0 upstream: NaN */
    nb_tensor *x = vec(2, (double[]){4, 0}, true);
    nb_tensor *zero = nb_zeros(NB_F64, NB_SHAPE(2));
    nb_tensor *l = nb_sum_all(nb_mul(nb_sqrt(x), zero));
    nb_anomaly_mode(true);
    assert_int_equal(tu_err.count, 0);
    assert_int_equal(nb_backward(l), NB_ERR_NAN);
    assert_int_equal(tu_err.count, 1);
    assert_non_null(strstr(tu_err.last_msg, "nabla: sqrt: "));
    assert_non_null(strstr(tu_err.last_msg, "backward"));
    assert_non_null(strstr(tu_err.last_msg, "NaN at element 1"));
    /* still caught when an older, unrelated error is sticky */
    nb_error_clear();
    nb_item(x); /* a shape error, kept */
    assert_int_equal(nb_error(), NB_ERR_SHAPE);
    nb_zero_grad(x);
    tu_err.count = 0;
    assert_int_equal(nb_backward(l), NB_ERR_NAN);
    assert_int_equal(tu_err.count, 1);
    assert_int_equal(nb_error(), NB_ERR_SHAPE); /* the first error stays */
    nb_anomaly_mode(false);
    /* without anomaly mode: NaN quietly */
    nb_zero_grad(x);
    assert_int_equal(nb_backward(l), NB_OK);
    assert_true(isnan(nb_get(x->grad, 1)));
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ scopes */

static void scopes_nest_and_end_innermost_first(void **state) {
    (void)state;
    assert_null(nb_scope_current());
    nb_tensor *p = nb_full(NB_F32, NB_SHAPE(4), 7); /* persistent */
    assert_null(p->scope);
    nb_scope *s1 = nb_scope_begin();
    assert_ptr_equal(nb_scope_current(), s1);
    nb_tensor *a = nb_ones(NB_F32, NB_SHAPE(3));
    assert_ptr_equal(a->scope, s1);
    nb_scope *s2 = nb_scope_begin();
    assert_ptr_not_equal(s1, s2);
    assert_ptr_equal(nb_scope_current(), s2);
    nb_tensor *b = nb_ones(NB_F32, NB_SHAPE(3));
    assert_ptr_equal(b->scope, s2);
    nb_tensor *pc = nb_copy_persistent(b); /* persistent even inside a scope */
    assert_null(pc->scope);
    /* ending the outer one first is an error; nothing is freed */
    nb_scope *s1_copy = s1;
    nb_scope_end(&s1);
    assert_int_equal(tu_err.last_st, NB_ERR_SCOPE);
    assert_non_null(strstr(tu_err.last_msg, "nabla: scope_end: scopes must end innermost first"));
    assert_ptr_equal(s1, s1_copy);
    assert_ptr_equal(nb_scope_current(), s2);
    assert_true(nb_get(b, 2) == 1);
    nb_scope_end(&s2);
    assert_null(s2);
    assert_ptr_equal(nb_scope_current(), s1);
    assert_true(nb_get(a, 0) == 1);
    nb_scope_end(&s1);
    assert_null(s1);
    assert_null(nb_scope_current());
    nb_scope_end(&s1); /* NULL: nothing */
    nb_scope_end(NULL);
    /* persistent tensors outlive every scope */
    assert_true(nb_get(p, 3) == 7);
    assert_true(nb_get(pc, 0) == 1);
    nb_tensor_free(p);
    nb_tensor_free(pc);
    nb_tensor_free(NULL);
}

static void persistent_grad_outlives_scope(void **state) {
    (void)state;
    nb_tensor *w = nb_set_requires_grad(nb_full(NB_F64, NB_SHAPE(2), 3), true);
    for (int step = 1; step <= 3; step++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *l = nb_sum_all(nb_mul(w, w));
        assert_int_equal(nb_backward(l), NB_OK);
        nb_scope_end(&s);
        /* the grad of a persistent parameter is persistent */
        assert_non_null(w->grad);
        assert_null(w->grad->scope);
        assert_true(nb_get(w->grad, 1) == 6.0 * step);
        assert_null(w->node);
    }
    /* a scoped tensor freed with nb_tensor_free is left to its scope */
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = nb_ones(NB_F64, NB_SHAPE(2));
    nb_tensor_free(t);
    assert_true(nb_get(t, 0) == 1);
    nb_scope_end(&s);
    nb_tensor_free(w);
}

static void many_scopes_reuse_memory(void **state) {
    (void)state;
    /* same-size work in successive scopes takes the same arena blocks */
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_zeros(NB_F32, NB_SHAPE(1000));
    void *first = a->data;
    nb_scope_end(&s);
    nb_mem_stats m0 = nb_mem_stats_get();
    for (int i = 0; i < 100; i++) {
        s = nb_scope_begin();
        a = nb_zeros(NB_F32, NB_SHAPE(1000));
        assert_ptr_equal(a->data, first);
        nb_tensor *big = nb_zeros(NB_F64, NB_SHAPE(200000)); /* a block of its own */
        assert_non_null(big);
        nb_scope_end(&s);
    }
    nb_mem_stats m1 = nb_mem_stats_get();
    assert_true(m1.heap_allocs - m0.heap_allocs <= 1); /* the big block, once */
    assert_int_equal(m1.arena_used, 0);
    /* too deep nesting is refused, not a crash */
    nb_scope *st[70];
    int opened = 0;
    for (int i = 0; i < 70; i++) {
        st[i] = nb_scope_begin();
        if (!st[i]) break;
        opened++;
    }
    assert_true(opened < 70);
    assert_int_equal(tu_err.last_st, NB_ERR_SCOPE);
    while (opened > 0) nb_scope_end(&st[--opened]);
    assert_null(nb_scope_current());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(grads_accumulate_over_two_backwards, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(leaf_root_gets_the_seed, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(nonleaf_grads_restart_from_zero, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(backward_with_seed, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(tensor_used_twice_gets_both, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(broadcast_backward_sums_to_input_shape, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(no_grad_records_nothing, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(reshape_is_a_view_sharing_the_version, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(modified_saved_input_is_caught, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(inplace_on_graph_refused_with_grad_on, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(tape_print_lists_ops_in_order, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(graph_dot_names_the_ops, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(backward_trace_prints_nodes_and_grads, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(anomaly_forward_names_the_op, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(anomaly_backward_names_the_op, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(scopes_nest_and_end_innermost_first, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(persistent_grad_outlives_scope, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(many_scopes_reuse_memory, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
