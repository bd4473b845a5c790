/* test_use_after_scope.c — a tensor used after its scope ended, or after
 * nb_tensor_free, is an NB_ERR_SCOPE error naming the op and the tensor:
 * in an op, in backward and nb_grads, in the accessors; also when
 * its memory already holds a new tensor, from another thread, and in abort
 * mode (the default). The check reads only tensor headers, which nabla never
 * gives back while the process runs, so it is defined behaviour: this test
 * runs clean under ASan/UBSan and valgrind. */
#include "test_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define FREED_SCOPE "was freed when its scope ended (nb_scope_end) and is used again"
#define FREED_FREE "was freed by nb_tensor_free and is used again"

/* A named (2,3) tensor made in a scope that has ended. */
static nb_tensor *dead_tensor(const char *name) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = nb_set_name(nb_ones(NB_F32, NB_SHAPE(2, 3)), name);
    nb_scope_end(&s);
    return t;
}

static void op_after_scope(void **state) {
    (void)state;
    nb_tensor *w = dead_tensor("w");
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(2, 3));
    EXPECT_ERR(nb_add(x, w), NB_ERR_SCOPE, "nabla: add: input 1 'w' (2,3) " FREED_SCOPE);
    EXPECT_ERR(nb_mul(w, x), NB_ERR_SCOPE, "nabla: mul: input 0 'w' (2,3) " FREED_SCOPE);
    /* ops whose wrappers look at shapes first still name the dead tensor */
    EXPECT_ERR(nb_matmul(w, nb_ones(NB_F32, NB_SHAPE(3, 4))), NB_ERR_SCOPE, "matmul", "'w' (2,3)", FREED_SCOPE);
    EXPECT_ERR(nb_sum(w, (const int[]){0}, 1, false), NB_ERR_SCOPE, "sum", "'w' (2,3)", FREED_SCOPE);
    EXPECT_ERR(nb_reshape(w, NB_SHAPE(6)), NB_ERR_SCOPE, "'w' (2,3)", FREED_SCOPE);
    EXPECT_ERR(nb_relu(w), NB_ERR_SCOPE, "relu", "'w' (2,3)", FREED_SCOPE);
    /* an unnamed tensor: the message gives its position and shape */
    nb_scope *inner = nb_scope_begin();
    nb_tensor *u = nb_zeros(NB_F64, NB_SHAPE(4));
    nb_scope_end(&inner);
    EXPECT_ERR(nb_exp(u), NB_ERR_SCOPE, "nabla: exp: x (4) " FREED_SCOPE);
    nb_scope_end(&s);
}

static void backward_after_scope(void **state) {
    (void)state;
    nb_tensor *w = nb_set_name(nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(3)), true), "w");
    /* the root's scope ended */
    nb_scope *s = nb_scope_begin();
    nb_tensor *loss = nb_set_name(nb_sum_all(nb_mul(w, w)), "loss");
    nb_scope_end(&s);
    tu_err_reset();
    assert_int_equal(nb_backward(loss), NB_ERR_SCOPE);
    assert_int_equal(tu_err.count, 1);
    assert_non_null(strstr(tu_err.msg, "nabla: backward: root 'loss' () " FREED_SCOPE));
    nb_error_clear();
    /* a leaf on the graph was freed with nb_tensor_free before backward */
    nb_tensor *v = nb_set_name(nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(3)), true), "v");
    s = nb_scope_begin();
    nb_tensor *l2 = nb_sum_all(nb_mul(w, v));
    nb_tensor_free(v);
    tu_err_reset();
    assert_int_equal(nb_backward(l2), NB_ERR_SCOPE);
    assert_int_equal(tu_err.count, 1);
    assert_non_null(strstr(tu_err.msg, "nabla: backward: input 1 of mul 'v' (3) " FREED_FREE));
    nb_error_clear();
    /* nb_grads checks its outputs, inputs and the graph between them */
    nb_tensor *r[1];
    tu_err_reset();
    assert_int_equal(nb_grads(&l2, 1, &w, 1, NULL, NULL, r), NB_ERR_SCOPE);
    assert_non_null(strstr(tu_err.msg, "nabla: grad: input 1 of mul 'v' (3) " FREED_FREE));
    nb_error_clear();
    tu_err_reset();
    assert_int_equal(nb_grads(&loss, 1, &w, 1, NULL, NULL, r), NB_ERR_SCOPE);
    assert_non_null(strstr(tu_err.msg, "nabla: grad: outputs[0] 'loss' () " FREED_SCOPE));
    nb_error_clear();
    tu_err_reset();
    assert_int_equal(nb_tape_len(loss), -1);
    assert_int_equal(tu_err.last_st, NB_ERR_SCOPE);
    nb_error_clear();
    nb_scope_end(&s);
    /* w itself is still fine */
    s = nb_scope_begin();
    tu_err_reset();
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(w, w))), NB_OK);
    EXPECT(nb_grad(w), 2, 2, 2);
    nb_scope_end(&s);
    nb_tensor_free(w);
}

static void accessors_after_scope(void **state) {
    (void)state;
    nb_tensor *t = dead_tensor("t");
    tu_err_reset();
    assert_true(isnan(nb_get(t, 0)));
    assert_int_equal(tu_err.last_st, NB_ERR_SCOPE);
    assert_non_null(strstr(tu_err.last_msg, "nabla: get: the tensor 't' (2,3) " FREED_SCOPE));
    tu_err_reset();
    assert_null(nb_f32(t));
    assert_non_null(strstr(tu_err.last_msg, "nabla: f32: the tensor 't' (2,3) " FREED_SCOPE));
    tu_err_reset();
    assert_null(nb_data(t));
    assert_null(nb_f64(t));
    assert_null(nb_i64(t));
    assert_int_equal(tu_err.count, 3);
    tu_err_reset();
    nb_set(t, 0, 1.0);
    assert_non_null(strstr(tu_err.last_msg, "nabla: set: the tensor 't'"));
    tu_err_reset();
    assert_true(isnan(nb_item(dead_tensor("s"))));
    assert_non_null(strstr(tu_err.last_msg, "nabla: item: the tensor 's' (2,3) " FREED_SCOPE));
    tu_err_reset();
    assert_int_equal(nb_dim(t, 0), -1);
    assert_non_null(strstr(tu_err.last_msg, "nabla: dim: x 't'"));
    EXPECT_ERR(nb_copy_persistent(t), NB_ERR_SCOPE, "nabla: copy: x 't'", FREED_SCOPE);
    EXPECT_ERR(nb_detach(t), NB_ERR_SCOPE, "nabla: detach: x 't'", FREED_SCOPE);
    EXPECT_ERR(nb_set_name(t, "u"), NB_ERR_SCOPE, "nabla: set_name: the tensor 't'", FREED_SCOPE);
    EXPECT_ERR(nb_set_requires_grad(t, true), NB_ERR_SCOPE, "set_requires_grad", FREED_SCOPE);
    /* in-place updates (optimizers' and users') */
    EXPECT_ERR(nb_scale_(t, 2.0), NB_ERR_SCOPE, "nabla: scale_: dst 't' (2,3)", FREED_SCOPE);
    nb_tensor *live = nb_ones(NB_F32, NB_SHAPE(2, 3));
    EXPECT_ERR(nb_add_(live, t), NB_ERR_SCOPE, "nabla: add_: src 't' (2,3)", FREED_SCOPE);
    nb_tensor_free(live);
    tu_err_reset();
    nb_tensor_zero_grad(t);
    nb_bump_version(t);
    assert_int_equal(tu_err.count, 2);
    assert_non_null(strstr(tu_err.msg, "nabla: zero_grad: the tensor 't'"));
    tu_err_reset();
    FILE *f = tmpfile();
    assert_non_null(f);
    nb_fprint(f, t);
    assert_int_equal(ftell(f), 0); /* nothing printed */
    fclose(f);
    assert_non_null(strstr(tu_err.msg, "nabla: print: the tensor 't'"));
    /* nb_tensor_free of a scoped tensor does nothing, before or after its scope ended */
    tu_err_reset();
    nb_tensor_free(t);
    assert_int_equal(tu_err.count, 0);
}

static void use_and_double_free_after_tensor_free(void **state) {
    (void)state;
    nb_tensor *p = nb_set_name(nb_ones(NB_F64, NB_SHAPE(5)), "p");
    nb_tensor *v = nb_detach(p); /* a persistent view: freeing it leaves p alone */
    nb_tensor_free(v);
    EXPECT(p, 1, 1, 1, 1, 1);
    EXPECT_ERR(nb_neg(v), NB_ERR_SCOPE, "nabla: neg: x 'p' (5) " FREED_FREE);
    nb_tensor_free(p);
    EXPECT_ERR(nb_add(p, p), NB_ERR_SCOPE, "nabla: add: input 0 'p' (5) " FREED_FREE);
    tu_err_reset();
    nb_tensor_free(p); /* twice */
    assert_int_equal(tu_err.count, 1);
    assert_non_null(strstr(tu_err.msg, "nabla: tensor_free: the tensor 'p' (5) " FREED_FREE));
    nb_error_clear();
}

/* Every registry op, every sample, each input position in turn given a tensor
 * whose scope ended (the other inputs alive): the op fails with the error
 * naming it, and under ASan nothing reads the dead tensor's data first. */
static void every_op_refuses_a_dead_input(void **state) {
    (void)state;
    int checked = 0;
    for (int i = 0; i < nb_registry_count(); i++) {
        const nb_op_entry *e = nb_registry_get(i);
        nb_sample alive[NB_MAX_SAMPLES], dead[NB_MAX_SAMPLES];
        nb_scope *s = nb_scope_begin();
        nb_seed(7);
        const int ns = e->samples(alive, NB_MAX_SAMPLES);
        nb_scope *inner = nb_scope_begin();
        nb_seed(7);
        assert_int_equal(e->samples(dead, NB_MAX_SAMPLES), ns);
        nb_scope_end(&inner);
        for (int k = 0; k < ns; k++) {
            alive[k].entry = e;
            for (int j = 0; j < alive[k].nin; j++) {
                if (!dead[k].in[j]) continue;
                nb_tensor *in[NB_SAMPLE_MAX_IN];
                memcpy(in, alive[k].in, sizeof in);
                in[j] = dead[k].in[j];
                tu_err_reset();
                nb_tensor *y = e->apply(in, alive[k].nin, &alive[k]);
                if (y || tu_err.count < 1 || tu_err.st != NB_ERR_SCOPE || !strstr(tu_err.msg, FREED_SCOPE)) {
                    print_error("%s, sample '%s', dead input %d: result %p, %d errors: %s\n", e->name,
                                alive[k].desc ? alive[k].desc : "", j, (void *)y, tu_err.count, tu_err.msg);
                    fail();
                }
                nb_error_clear();
                checked++;
            }
        }
        nb_scope_end(&s);
    }
    printf("# %d registry ops: %d (sample, input) pairs refused a dead input\n", nb_registry_count(), checked);
    assert_true(checked > nb_registry_count());
}

/* An optimizer whose parameter was freed under it refuses to step. */
static void optimizer_with_a_freed_parameter(void **state) {
    (void)state;
    nb_tensor *w = nb_set_name(nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(3)), true), "w");
    nb_optim_opts o = nb_optim_defaults(NB_OPTIM_SGD);
    nb_optim *opt = nb_optim_new_tensors(&o, &w, 1);
    assert_non_null(opt);
    nb_scope *s = nb_scope_begin();
    assert_int_equal(nb_backward(nb_sum_all(nb_mul(w, w))), NB_OK);
    nb_scope_end(&s);
    nb_tensor_free(w);
    tu_err_reset();
    assert_int_equal(nb_optim_step(opt), NB_ERR_SCOPE);
    assert_non_null(strstr(tu_err.msg, "nabla: optim_step: parameter 0 'w' (3) " FREED_FREE));
    nb_error_clear();
    nb_optim_free(opt);
    /* and one cannot be made from a dead tensor */
    nb_tensor *d = dead_tensor("d");
    EXPECT_ERR((const nb_tensor *)nb_optim_new_tensors(&o, &d, 1), NB_ERR_SCOPE, "parameter 0 'd' (2,3)", FREED_SCOPE);
}

/* The dead tensor's memory already holds a new tensor: the new tensor's data
 * sits where the old one's was (the arena gives the same blocks to the next
 * scope), yet the old handle is still reported, because headers live apart
 * and are reused only after a quarantine. */
static void memory_reused_by_a_new_tensor(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_set_name(nb_full(NB_F32, NB_SHAPE(4), 7), "a");
    void *old_data = a->data;
    nb_scope_end(&s);
    s = nb_scope_begin();
    nb_tensor *b = nb_full(NB_F32, NB_SHAPE(4), 3);
    assert_ptr_equal(b->data, old_data); /* same memory... */
    assert_ptr_not_equal(b, a);          /* ... but a new header */
    EXPECT_ERR(nb_add(b, a), NB_ERR_SCOPE, "nabla: add: input 1 'a' (4) " FREED_SCOPE);
    EXPECT(b, 3, 3, 3, 3);
    nb_scope_end(&s);

    /* A training step's tensors stay recognisably dead through the whole
     * next step however many tensors a step makes (up to 16384; at least
     * 64 frees in any case): here 3000 per step. */
    enum { N = 3000 };
    static nb_tensor *prev[N];
    s = nb_scope_begin();
    for (int i = 0; i < N; i++) prev[i] = nb_scalar(NB_F32, i);
    nb_scope_end(&s);
    for (int step = 0; step < 3; step++) {
        s = nb_scope_begin();
        nb_tensor *now[N];
        for (int i = 0; i < N; i++) {
            now[i] = nb_scalar(NB_F32, i);
            for (int k = i % 7; k < N; k += 97) assert_ptr_not_equal(now[i], prev[k]);
        }
        tu_err_reset();
        for (int i = 0; i < N; i += 37) assert_true(isnan(nb_get(prev[i], 0)));
        assert_int_equal(tu_err.last_st, NB_ERR_SCOPE);
        nb_error_clear();
        nb_scope_end(&s);
        memcpy(prev, now, sizeof prev);
    }
}

/* Memory stays flat: the header slabs stop growing once the quarantine is full. */
static void headers_stay_flat(void **state) {
    (void)state;
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(8)), true);
    size_t at1000 = 0;
    for (int step = 0; step < 2000; step++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *y = w;
        for (int k = 0; k < 10; k++) y = nb_tanh(nb_mul(y, w));
        assert_int_equal(nb_backward(nb_sum_all(y)), NB_OK);
        nb_scope_end(&s);
        if (step == 1000) at1000 = nb_mem_stats_get().headers_reserved;
    }
    assert_true(at1000 > 0);
    assert_int_equal(nb_mem_stats_get().headers_reserved, at1000);
    nb_tensor_free(w);
}

/* A thread's tensors outlive nothing: its ended scope's tensors are dead for
 * the thread that gets the handles, and its persistent tensors stay usable
 * after it exits (their headers are not freed with the thread). */
typedef struct {
    nb_tensor *scoped, *persistent;
} worker_out;

static void *worker(void *arg) {
    worker_out *o = arg;
    o->persistent = nb_set_name(nb_full(NB_F32, NB_SHAPE(2), 5), "kept");
    nb_scope *s = nb_scope_begin();
    o->scoped = nb_set_name(nb_add(o->persistent, o->persistent), "gone");
    nb_scope_end(&s);
    return NULL;
}

static void tensors_of_an_exited_thread(void **state) {
    (void)state;
    for (int rep = 0; rep < 4; rep++) {
        worker_out o = {0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, worker, &o), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        EXPECT_ERR(nb_neg(o.scoped), NB_ERR_SCOPE, "nabla: neg: x 'gone' (2) " FREED_SCOPE);
        nb_scope *s = nb_scope_begin();
        EXPECT(nb_neg(o.persistent), -5, -5);
        nb_scope_end(&s);
        nb_tensor_free(o.persistent);
    }
}

/* ------------------------------------------------------------ abort mode (the default) */

static void child_step_after_scope(void) {
    nb_tensor *h = dead_tensor("hidden");
    nb_scope *s = nb_scope_begin();
    nb_tanh(h);
    nb_scope_end(&s);
}
static void child_read_after_scope(void) {
    nb_tensor *h = dead_tensor("hidden");
    float v = nb_f32(h)[0]; /* nabla aborts in nb_f32, before the read */
    fprintf(stderr, "read %g\n", v);
}

static void abort_mode_stops_at_the_use(void **state) {
    (void)state;
    char buf[4096];
    int st = run_child(child_step_after_scope, buf, sizeof buf);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    assert_non_null(strstr(buf, "nabla: tanh: x 'hidden' (2,3) " FREED_SCOPE));
    st = run_child(child_read_after_scope, buf, sizeof buf);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    assert_non_null(strstr(buf, "nabla: f32: the tensor 'hidden' (2,3) " FREED_SCOPE));
    assert_null(strstr(buf, "read "));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(op_after_scope, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(backward_after_scope, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(accessors_after_scope, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(use_and_double_free_after_tensor_free, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(every_op_refuses_a_dead_input, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(optimizer_with_a_freed_parameter, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(memory_reused_by_a_new_tensor, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(headers_stay_flat, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(tensors_of_an_exited_thread, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(abort_mode_stops_at_the_use, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
