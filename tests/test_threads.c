/* tests/test_threads.c — independent models on independent threads.
 *
 * Each worker seeds its own generator, builds its own model (Linear,
 * BatchNorm, Dropout: the generator and the tape), trains it with Adam in
 * scopes, evaluates it under no-grad, makes (and recovers from) an error,
 * runs a step in anomaly mode and saves a checkpoint. The bits of its final
 * parameters must equal those of the same worker run alone, with 2 and 4
 * threads at once. The per-thread state is checked one piece at a time too:
 * grad mode, error mode and message, the generator, scopes (refused on
 * another thread) and the pool (released when the thread exits).
 *
 * ./test.sh also runs this file under ThreadSanitizer (build-tsan, nabla
 * built without OpenMP: libgomp's barriers are invisible to TSan). */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { STEPS = 60 };

static pthread_barrier_t g_start; /* the workers of one run start together */

typedef struct {
    int id;
    uint64_t hash; /* FNV-1a of every parameter's and buffer's bytes */
    double loss;
    bool threaded;   /* wait at g_start */
    bool error_seen; /* its own error, with its own message */
    char msg[256];
} job;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void *train(void *arg) {
    job *j = arg;
    if (j->threaded) pthread_barrier_wait(&g_start);
    nb_seed(1000 + (uint64_t)j->id);
    nb_module *m = nb_sequential(nb_linear(6, 24), nb_batchnorm1d(24), nb_relu_layer(), nb_dropout_layer(0.25),
                                 nb_linear(24, 3), NULL);
    nb_optim *opt = nb_optim_adam(m, 1e-2);
    nb_tensor *X = nb_randn(NB_F32, NB_SHAPE(32, 6), 0, 1);
    int64_t lab[32];
    for (int i = 0; i < 32; i++) lab[i] = (i * 7 + j->id) % 3;
    nb_tensor *y = nb_from_i64(NB_SHAPE(32), lab);
    for (int it = 0; it < STEPS; it++) {
        nb_scope *s = nb_scope_begin();
        if (it == 3) nb_anomaly_mode(true); /* this thread only; finite values pass */
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, X), y, NB_REDUCE_MEAN);
        nb_zero_grad(m);
        assert_int_equal(nb_backward(loss), NB_OK);
        assert_int_equal(nb_optim_step(opt), NB_OK);
        nb_anomaly_mode(false);
        j->loss = nb_item(loss);
        if (it == 5) { /* a recovered error stays this thread's own */
            nb_set_error_mode(NB_ERRORS_RECOVER);
            char name[32];
            snprintf(name, sizeof name, "x_of_%d", j->id);
            nb_tensor *bad = nb_set_name(nb_zeros(NB_F32, NB_SHAPE(2, 5 + j->id)), name);
            assert_null(nb_matmul(bad, X));
            j->error_seen = nb_error() == NB_ERR_SHAPE && strstr(nb_error_message(), name);
            snprintf(j->msg, sizeof j->msg, "%s", nb_error_message());
            nb_error_clear();
            nb_set_error_mode(NB_ERRORS_ABORT);
        }
        nb_scope_end(&s);
    }
    nb_module_train(m, false);
    NB_NO_GRAD {
        nb_scope *s = nb_scope_begin();
        j->loss += nb_item(nb_cross_entropy(nb_forward(m, X), y, NB_REDUCE_MEAN));
        nb_scope_end(&s);
    }
    char path[64], err[256];
    snprintf(path, sizeof path, "/tmp/nb_test_threads_%d_%d.ckpt", (int)getpid(), j->id);
    assert_int_equal(nb_module_save(m, path, NULL, err, sizeof err), NB_OK);
    unlink(path);
    nb_named_tensor ts[16];
    int n = nb_module_named_tensors(m, ts, 16);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) h = fnv(h, ts[i].t->data, (size_t)ts[i].t->numel * nb_dtype_size(ts[i].t->dtype));
    j->hash = fnv(h, &j->loss, sizeof j->loss);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_tensor_free(X);
    nb_tensor_free(y);
    return NULL;
}

static void run_threads(job *jobs, int n) {
    pthread_t th[8];
    pthread_barrier_init(&g_start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) jobs[i].threaded = true;
    for (int i = 0; i < n; i++) assert_int_equal(pthread_create(&th[i], NULL, train, &jobs[i]), 0);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&g_start);
}

static void same_bits_as_alone(void **state) {
    (void)state;
    job alone[4];
    for (int i = 0; i < 4; i++) {
        alone[i] = (job){.id = i};
        train(&alone[i]);
        assert_true(alone[i].error_seen);
    }
    for (int i = 1; i < 4; i++) assert_true(alone[i].hash != alone[0].hash); /* the seeds matter */
    for (int n = 2; n <= 4; n += 2) {
        for (int rep = 0; rep < 2; rep++) {
            job jobs[4];
            for (int i = 0; i < n; i++) jobs[i] = (job){.id = i};
            run_threads(jobs, n);
            for (int i = 0; i < n; i++) {
                if (jobs[i].hash != alone[i].hash)
                    fail_msg("%d threads: worker %d ended with other bits than alone (loss %.9g vs %.9g)", n, i,
                             jobs[i].loss, alone[i].loss);
                assert_true(jobs[i].error_seen);
                assert_string_equal(jobs[i].msg, alone[i].msg);
            }
        }
    }
}

/* ---------------------------------------------- one piece of state at a time */

typedef struct {
    bool grad_enabled;
    nb_error_mode mode;
    nb_status status;
    double draw;
    nb_scope *scope; /* the main thread's scope, to end from here */
    nb_status end_status;
    char end_msg[256];
    size_t arena_used;
} probe;

static void *look(void *arg) {
    probe *p = arg;
    p->grad_enabled = nb_grad_enabled();
    p->mode = nb_get_error_mode();
    p->status = nb_error();
    p->draw = nb_rand_uniform();
    p->arena_used = nb_mem_stats_get().arena_used;
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_scope *s = p->scope;
    nb_scope_end(&s); /* refused: not this thread's */
    p->end_status = nb_error();
    snprintf(p->end_msg, sizeof p->end_msg, "%s", nb_error_message());
    /* this thread's own scope and pool; released when it exits */
    nb_scope *mine = nb_scope_begin();
    nb_zeros(NB_F32, NB_SHAPE(1000));
    nb_scope_end(&mine);
    return NULL;
}

static void state_is_per_thread(void **state) {
    (void)state;
    nb_seed(7);
    const double first = nb_rand_uniform();
    nb_seed(7);
    nb_no_grad_begin();
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_fail(NB_ERR_ARG, "main", "an error of the main thread");
    nb_scope *s = nb_scope_begin();
    nb_zeros(NB_F32, NB_SHAPE(100));
    nb_mem_trim(); /* the worker's pool must come from nothing */
    const size_t live0 = nb_mem_stats_get().heap_live;

    probe p = {.scope = s};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, look, &p), 0);
    pthread_join(th, NULL);

    assert_true(p.grad_enabled);               /* the main thread's no-grad is its own */
    assert_int_equal(p.mode, NB_ERRORS_ABORT); /* so is its error mode */
    assert_int_equal(p.status, NB_OK);         /* and its error */
    assert_int_equal(p.arena_used, 0);         /* and its scopes */
    assert_true(p.draw != first);              /* the worker has its own generator, unseeded ... */
    assert_true(nb_rand_uniform() == first);   /* ... and did not advance this one */
    assert_int_equal(p.end_status, NB_ERR_SCOPE);
    assert_non_null(strstr(p.end_msg, "another thread"));
    assert_int_equal(nb_mem_stats_get().heap_live, live0); /* the worker's pool went back at its exit */

    /* the main thread's state is untouched by the worker */
    assert_false(nb_grad_enabled());
    assert_int_equal(nb_error(), NB_ERR_ARG);
    assert_non_null(strstr(nb_error_message(), "an error of the main thread"));
    assert_non_null(s);
    nb_scope_end(&s);
    assert_null(s);
    nb_no_grad_end();
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
}

/* A node's tape number is above its inputs' even when they were made on
 * another thread whose counter ran further (the order stays topological). */
typedef struct {
    nb_tensor *w, *h;
} handover;
static void *make_far(void *arg) {
    handover *h = arg;
    for (int i = 0; i < 50; i++) nb_tensor_free(nb_mul(h->w, h->w)); /* advance this thread's counter */
    h->h = nb_mul(h->w, h->w);                                       /* persistent, seq ~51 */
    return NULL;
}

static void handover_keeps_tape_order(void **state) {
    (void)state;
    nb_tensor *w = nb_set_requires_grad(nb_full(NB_F64, NB_SHAPE(3), 2.0), true);
    handover h = {.w = w};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, make_far, &h), 0);
    pthread_join(th, NULL);
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_exp(nb_mul_scalar(w, 0.0)); /* = 1, a node with a small number here */
    nb_tensor *loss = nb_sum_all(nb_mul(h.h, a)); /* d/dw sum(w^2 * 1) = 2w */
    assert_int_equal(nb_backward(loss), NB_OK);
    for (int i = 0; i < 3; i++) assert_float_equal(nb_get(w->grad, i), 4.0, 1e-12);
    nb_scope_end(&s);
    nb_tensor_free(h.h);
    nb_tensor_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_bits_as_alone),
        cmocka_unit_test(state_is_per_thread),
        cmocka_unit_test(handover_keeps_tape_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
