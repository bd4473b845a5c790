/* test_errors.c — every error class through a handler (status and exact
 * message), NULL propagation and the sticky first error in recover mode, and
 * abort mode (the default) killing a child process with the message on stderr. */
#include "test_util.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int user_token;

static int setup(void **state) {
    (void)state;
    tu_err_reset();
    nb_set_error_handler(tu_on_error, &user_token);
    return 0;
}

/* Asserts exactly one new error was reported, with this status and message. */
#define EXPECT_ONE(status, text)                      \
    do {                                              \
        assert_int_equal(tu_err.count, 1);            \
        assert_int_equal(tu_err.last_st, (status));   \
        assert_string_equal(tu_err.last_msg, (text)); \
        assert_ptr_equal(tu_err.user, &user_token);   \
        tu_err.count = 0;                             \
        nb_error_clear();                             \
    } while (0)

/* ------------------------------------------------------------ shapes */

static void matmul_shapes(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_zeros(NB_F32, NB_SHAPE(64, 784)), *b = nb_zeros(NB_F32, NB_SHAPE(128, 10));
    assert_null(nb_matmul(a, b));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: matmul: inner dimensions differ: a is (64,784), b is (128,10)");
    assert_int_equal(nb_error(), NB_OK);
    nb_set_name(b, "fc1.weight");
    assert_null(nb_matmul(a, b));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: matmul: inner dimensions differ: a is (64,784), b 'fc1.weight' is (128,10)");
    nb_set_name(a, "x");
    assert_null(nb_matmul(a, b));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: matmul: inner dimensions differ: a 'x' is (64,784), b 'fc1.weight' is (128,10)");
    assert_null(nb_matmul(nb_zeros(NB_F32, NB_SHAPE(3)), nb_zeros(NB_F32, NB_SHAPE(3, 2))));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: matmul: both operands need at least 2 dims: a is (3), b is (3,2)");
    assert_null(nb_matmul(nb_zeros(NB_F32, NB_SHAPE(2, 3, 4)), nb_zeros(NB_F32, NB_SHAPE(5, 4, 2))));
    assert_int_equal(tu_err.last_st, NB_ERR_SHAPE);
    assert_non_null(strstr(tu_err.last_msg, "nabla: matmul: shapes don't broadcast"));
    tu_err.count = 0;
    nb_scope_end(&s);
}

static void broadcast_and_reshape_shapes(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_set_name(nb_zeros(NB_F64, NB_SHAPE(2, 3)), "h"), *b = nb_zeros(NB_F64, NB_SHAPE(4));
    assert_null(nb_add(a, b));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: add: shapes don't broadcast (dim 1: 3 vs 4): a 'h' is (2,3), b is (4)");
    assert_null(nb_mul(b, a));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: mul: shapes don't broadcast (dim 1: 4 vs 3): a is (4), b 'h' is (2,3)");
    assert_null(nb_reshape(a, NB_SHAPE(4, 2)));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: reshape: x 'h' is (2,3), 6 elements; the target (4,2) has 8");
    assert_null(nb_reshape(a, NB_SHAPE(-1, 4)));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: reshape: can't infer -1 in (-1,4) for x 'h' is (2,3)");
    assert_true(isnan(nb_item(a)));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: item: needs a one-element tensor: x 'h' is (2,3)");
    /* in place: src must broadcast to dst without growing it */
    assert_null(nb_add_(b, a));
    assert_int_equal(tu_err.last_st, NB_ERR_SHAPE);
    tu_err.count = 0;
    assert_null(nb_add_(nb_zeros(NB_F64, NB_SHAPE(3)), a));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: add_: src must broadcast to dst without growing it: dst is (3), src 'h' is (2,3)");
    /* invalid shapes at creation */
    nb_shape bad = NB_SHAPE(2, -3);
    assert_null(nb_zeros(NB_F32, bad));
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: zeros: shape (2,-3) has a negative size");
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    nb_shape sh = nb_shape_make(9, nine);
    assert_int_equal(sh.ndim, -1);
    EXPECT_ONE(NB_ERR_SHAPE, "nabla: shape: 9 dims requested, at most 8 are supported");
    assert_null(nb_empty(NB_F32, sh));
    assert_int_equal(tu_err.last_st, NB_ERR_SHAPE);
    tu_err.count = 0;
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ dtypes, axes, args */

static void dtype_errors(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *f = nb_zeros(NB_F32, NB_SHAPE(3)), *d = nb_zeros(NB_F64, NB_SHAPE(3)),
              *i = nb_zeros(NB_I64, NB_SHAPE(3));
    assert_null(nb_add(f, d));
    EXPECT_ONE(NB_ERR_DTYPE, "nabla: add: dtypes differ: input 0 is f32, input 1 is f64 (use nb_cast)");
    assert_null(nb_matmul(nb_zeros(NB_F64, NB_SHAPE(2, 2)), nb_zeros(NB_F32, NB_SHAPE(2, 2))));
    EXPECT_ONE(NB_ERR_DTYPE, "nabla: matmul: dtypes differ: input 0 is f64, input 1 is f32 (use nb_cast)");
    assert_null(nb_exp(i));
    EXPECT_ONE(NB_ERR_DTYPE, "nabla: exp: x is (3) i64: this op needs f32 or f64");
    assert_null(nb_set_requires_grad(nb_set_name(i, "labels"), true));
    EXPECT_ONE(NB_ERR_DTYPE, "nabla: set_requires_grad: only f32/f64 tensors can require grad; labels is i64");
    assert_null(nb_zeros((nb_dtype)7, NB_SHAPE(2)));
    EXPECT_ONE(NB_ERR_DTYPE, "nabla: zeros: unknown dtype 7");
    assert_null(nb_cast(f, (nb_dtype)9));
    EXPECT_ONE(NB_ERR_DTYPE, "nabla: cast: unknown dtype 9");
    nb_set_requires_grad(f, true);
    assert_null(nb_cast(f, NB_I64));
    assert_int_equal(tu_err.last_st, NB_ERR_DTYPE);
    tu_err.count = 0;
    assert_null(nb_axpy_(d, 1, f));
    EXPECT_ONE(NB_ERR_DTYPE, "nabla: axpy_: needs matching float dtypes: dst is f64, src is f32");
    nb_scope_end(&s);
}

static void axis_errors(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_name(nb_zeros(NB_F32, NB_SHAPE(2, 3)), "logits");
    assert_null(nb_sum(x, (int[]){2}, 1, false));
    EXPECT_ONE(NB_ERR_AXIS, "nabla: sum: axis 2 is out of range for 2 dims: x 'logits' is (2,3)");
    assert_null(nb_mean(x, (int[]){-3}, 1, true));
    EXPECT_ONE(NB_ERR_AXIS, "nabla: mean: axis -3 is out of range for 2 dims: x 'logits' is (2,3)");
    assert_null(nb_sum(x, (int[]){1, -1}, 2, false));
    EXPECT_ONE(NB_ERR_AXIS, "nabla: sum: axis -1 is listed twice: x 'logits' is (2,3)");
    assert_null(nb_transpose(x, 0, 5));
    assert_int_equal(tu_err.last_st, NB_ERR_AXIS);
    tu_err.count = 0;
    assert_null(nb_permute(x, (int[]){0}, 1));
    assert_int_equal(tu_err.last_st, NB_ERR_AXIS);
    tu_err.count = 0;
    assert_int_equal(nb_dim(x, 2), -1);
    EXPECT_ONE(NB_ERR_AXIS, "nabla: dim: axis 2 is out of range for 2 dims: x 'logits' is (2,3)");
    assert_int_equal(nb_dim(x, -1), 3);
    assert_int_equal(tu_err.count, 0);
    nb_scope_end(&s);
}

static void arg_errors(void **state) {
    (void)state;
    assert_null(nb_arange(NB_F32, 0, 1, 0));
    EXPECT_ONE(NB_ERR_ARG, "nabla: arange: start 0, stop 1, step 0: step must be non-zero and all finite");
    assert_null(nb_from_data(NB_F32, NB_SHAPE(2), NULL));
    EXPECT_ONE(NB_ERR_ARG, "nabla: from_data: data is NULL");
    nb_no_grad_end();
    EXPECT_ONE(NB_ERR_ARG, "nabla: no_grad_end: called without a matching nb_no_grad_begin");
    assert_int_equal(nb_backward(NULL), NB_ERR_ARG);
    EXPECT_ONE(NB_ERR_ARG, "nabla: backward: root is NULL");
    /* an op with no forward */
    static const nb_op noop = {"noop", NULL, NULL, 0, false, NULL};
    assert_null(nb_apply(&noop, NULL, 0, NB_SCALAR));
    EXPECT_ONE(NB_ERR_ARG, "nabla: noop: op has no forward function");
}

/* ------------------------------------------------------------ graph */

static void graph_errors(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(4, 10)), true);
    nb_tensor *y = nb_set_name(nb_mul(x, x), "scores");
    assert_int_equal(nb_backward(y), NB_ERR_GRAPH);
    EXPECT_ONE(NB_ERR_GRAPH,
               "nabla: backward: a gradient can be implicitly created only for a one-element root, and "
               "root 'scores' is (4,10); use nb_backward_with(root, seed)");
    nb_tensor *c = nb_ones(NB_F32, NB_SCALAR);
    assert_int_equal(nb_backward(c), NB_ERR_GRAPH);
    EXPECT_ONE(NB_ERR_GRAPH,
               "nabla: backward: root is () but does not require grad: no input of its graph requires "
               "grad, or it was built under nb_no_grad");
    assert_null(nb_set_requires_grad(y, false));
    EXPECT_ONE(NB_ERR_GRAPH,
               "nabla: set_requires_grad: can't turn off requires_grad of a non-leaf tensor (it was "
               "made by mul); copy it instead");
    nb_scope_end(&s);
}

static void nofwd_bwd_fwd(nb_node *n) { (void)n; }
static const nb_op no_backward_op = {"forward_only", nofwd_bwd_fwd, NULL, 0, false, NULL};

static void op_without_backward(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(2)), true);
    assert_null(nb_apply(&no_backward_op, &x, 1, x->shape));
    EXPECT_ONE(NB_ERR_GRAPH, "nabla: forward_only: op has no backward but an input requires grad (use nb_no_grad)");
    nb_tensor *y = NULL;
    NB_NO_GRAD { y = nb_apply(&no_backward_op, &x, 1, x->shape); }
    assert_non_null(y);
    assert_int_equal(tu_err.count, 0);
    nb_scope_end(&s);
}

/* Module tensors carry their dotted names into errors: a backward after an
 * optimizer step names the layer's weight as the model does. */
static void errors_name_module_tensors(void **state) {
    (void)state;
    nb_module *net = nb_sequential(nb_linear(3, 2), nb_relu_layer(), nb_sequential(nb_linear(2, 1), NULL), NULL);
    assert_string_equal(nb_module_get(net, "0.weight")->name, "0.weight");
    assert_string_equal(nb_module_get(net, "2.0.bias")->name, "2.0.bias");
    nb_optim *opt = nb_optim_sgd(net, 0.1, 0);
    nb_scope *s = nb_scope_begin();
    nb_tensor *loss = nb_sum_all(nb_forward(net, nb_ones(NB_F32, NB_SHAPE(4, 3))));
    assert_int_equal(nb_backward(loss), NB_OK);
    nb_optim_step(opt); /* the weights move on: the old graph is stale */
    assert_int_equal(nb_backward(loss), NB_ERR_VERSION);
    assert_int_equal(tu_err.count, 1);
    assert_non_null(
        strstr(tu_err.last_msg, "'2.0.weight' is (1,2), and it was modified in place after the op saved it"));
    tu_err.count = 0;
    nb_error_clear();
    nb_scope_end(&s);
    /* a name the user gave is kept */
    nb_module *lin = nb_linear(2, 2);
    nb_set_name(nb_module_get(lin, "weight"), "W_enc");
    nb_module *outer = nb_sequential(lin, NULL);
    assert_string_equal(nb_module_get(outer, "0.weight")->name, "W_enc");
    nb_module_free(outer);
    nb_optim_free(opt);
    nb_module_free(net);
}

static void version_and_scope_errors(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *w = nb_set_name(nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(3)), true), "w");
    nb_tensor *l = nb_sum_all(nb_mul(w, w));
    NB_NO_GRAD { nb_scale_(w, 0.5); }
    assert_int_equal(nb_backward(l), NB_ERR_VERSION);
    EXPECT_ONE(NB_ERR_VERSION,
               "nabla: mul: input 0 'w' is (3), and it was modified in place after the op saved it (now "
               "version 1, backward expected 0): an optimizer step or another in-place update between "
               "this graph's forward and its backward. Run backward before updating, or update a copy");
    nb_scope *inner = nb_scope_begin();
    nb_scope_end(&s);
    EXPECT_ONE(NB_ERR_SCOPE,
               "nabla: scope_end: scopes must end innermost first: this scope is at depth 1, the "
               "innermost at 2");
    nb_scope_end(&inner);
    nb_scope_end(&s);
    assert_int_equal(tu_err.count, 0);
}

/* ------------------------------------------------------------ handler and recover mode */

static void handler_sees_every_error_sticky_keeps_first(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_zeros(NB_F32, NB_SHAPE(2, 3));
    nb_add(a, nb_zeros(NB_F32, NB_SHAPE(4)));    /* shape */
    nb_add(a, nb_zeros(NB_F64, NB_SHAPE(2, 3))); /* dtype */
    assert_int_equal(tu_err.count, 2);
    assert_int_equal(tu_err.last_st, NB_ERR_DTYPE); /* the handler saw the latest */
    assert_int_equal(nb_error(), NB_ERR_SHAPE);     /* the sticky status is the first */
    assert_non_null(strstr(nb_error_message(), "nabla: add: shapes don't broadcast"));
    nb_error_clear();
    assert_int_equal(nb_error(), NB_OK);
    assert_string_equal(nb_error_message(), "");
    assert_string_equal(nb_status_str(NB_ERR_VERSION), "modified in place");
    assert_string_equal(nb_status_str(NB_OK), "ok");
    assert_string_equal(nb_status_str((nb_status)99), "unknown error");
    /* nb_fail for user code */
    tu_err.count = 0;
    nb_fail(NB_ERR_ARG, "my_op", "bad %s %d", "value", 3);
    EXPECT_ONE(NB_ERR_ARG, "nabla: my_op: bad value 3");
    nb_scope_end(&s);
}

static void recover_mode_propagates_null(void **state) {
    (void)state;
    nb_set_error_handler(NULL, NULL);
    nb_set_error_mode(NB_ERRORS_RECOVER);
    assert_int_equal(nb_get_error_mode(), NB_ERRORS_RECOVER);
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(64, 784)), true);
    nb_tensor *w = nb_set_name(nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(128, 10)), true), "fc1.weight");
    nb_tensor *h = nb_matmul(x, w); /* the mistake */
    assert_null(h);
    /* the rest of the step runs on NULL, silently */
    nb_tensor *r = nb_relu(nb_add(h, nb_ones(NB_F32, NB_SHAPE(10))));
    assert_null(r);
    nb_tensor *loss = nb_mean_all(nb_mul(r, r));
    assert_null(loss);
    assert_null(nb_reshape(loss, NB_SHAPE(1)));
    assert_null(nb_sum(loss, NULL, 0, false));
    assert_null(nb_cast(loss, NB_F64));
    assert_null(nb_transpose(loss, 0, 1));
    assert_null(nb_copy(loss));
    assert_null(nb_set_name(loss, "x"));
    assert_null(nb_set_requires_grad(loss, true));
    assert_true(isnan(nb_item(loss)));
    nb_no_grad_begin();
    assert_null(nb_axpy_(loss, 1, w));
    assert_null(nb_axpy_(w, 1, loss));
    nb_no_grad_end();
    assert_int_equal(nb_backward(loss), NB_ERR_SHAPE); /* reports the kept error */
    /* a second, different error does not replace the first */
    assert_null(nb_add(x, nb_ones(NB_F64, NB_SHAPE(1))));
    assert_int_equal(nb_error(), NB_ERR_SHAPE);
    assert_string_equal(nb_error_message(),
                        "nabla: matmul: inner dimensions differ: a is (64,784), b 'fc1.weight' is (128,10)");
    nb_error_clear();
    assert_int_equal(nb_error(), NB_OK);
    assert_string_equal(nb_error_message(), "");
    /* after clear, the next error is kept */
    assert_null(nb_add(x, nb_ones(NB_F64, NB_SHAPE(1))));
    assert_int_equal(nb_error(), NB_ERR_DTYPE);
    nb_error_clear();
    /* and valid work goes on */
    nb_tensor *ok = nb_sum_all(nb_mul(x, x));
    assert_non_null(ok);
    assert_int_equal(nb_backward(ok), NB_OK);
    assert_int_equal(nb_error(), NB_OK);
    nb_scope_end(&s); /* x and w were made in s: freed here */
}

/* ------------------------------------------------------------ abort mode */

static void child_matmul(void) {
    nb_tensor *a = nb_zeros(NB_F32, NB_SHAPE(64, 784)), *b = nb_zeros(NB_F32, NB_SHAPE(128, 10));
    nb_matmul(a, b);
}
static void child_backward(void) {
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(3)), true);
    nb_backward(nb_exp(x));
}
static void child_fine(void) {
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(3));
    nb_tensor_free(nb_exp(x));
    nb_tensor_free(x);
}

static void abort_mode_is_default_and_aborts(void **state) {
    (void)state;
    char buf[2048];
    int st = run_child(child_matmul, buf, sizeof buf);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_string_equal(buf, "nabla: matmul: inner dimensions differ: a is (64,784), b is (128,10)\n");
    st = run_child(child_backward, buf, sizeof buf);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(buf, "use nb_backward_with"));
    /* a program without mistakes exits normally */
    st = run_child(child_fine, buf, sizeof buf);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(buf, "");
}

int main(void) {
    /* abort is the default, before anything changes it */
    if (nb_get_error_mode() != NB_ERRORS_ABORT) {
        fprintf(stderr, "error mode is not abort by default\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(matmul_shapes, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(broadcast_and_reshape_shapes, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(dtype_errors, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(axis_errors, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(arg_errors, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(graph_errors, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(op_without_backward, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(version_and_scope_errors, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(errors_name_module_tensors, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(handler_sees_every_error_sticky_keeps_first, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(recover_mode_propagates_null, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(abort_mode_is_default_and_aborts, setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
