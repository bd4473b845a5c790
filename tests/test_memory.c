/* test_memory.c — a training loop's memory stays flat.
 *
 * An 8-16-4 MLP (F32, random data, a random teacher to fit) is trained for
 * 10,000 steps with plain SGD written with the in-place ops under nb_no_grad,
 * each step inside a scope. The heap and arena statistics after step 100 and
 * after step 10,000 must be identical: no growth and no malloc per step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "nabla/nabla.h"

typedef struct {
    nb_tensor *w1, *b1, *w2, *b2;
} mlp;

static nb_tensor *param(nb_shape s, double std, const char *name) {
    return nb_set_name(nb_set_requires_grad(nb_randn(NB_F32, s, 0, std), true), name);
}

static nb_tensor *forward(const mlp *m, nb_tensor *x) {
    nb_tensor *h = nb_relu(nb_add(nb_matmul(x, m->w1), m->b1));
    return nb_add(nb_matmul(h, m->w2), m->b2);
}

/* One SGD step in a scope; returns the loss before the update. */
static double step(mlp *m, nb_tensor *x, nb_tensor *y, double lr) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *d = nb_sub(forward(m, x), y);
    nb_tensor *loss = nb_mean_all(nb_mul(d, d));
    assert_non_null(loss);
    assert_int_equal(nb_backward(loss), NB_OK);
    nb_tensor *ps[] = {m->w1, m->b1, m->w2, m->b2};
    NB_NO_GRAD {
        for (int i = 0; i < 4; i++) {
            assert_non_null(nb_axpy_(ps[i], -lr, ps[i]->grad));
            nb_zero_grad(ps[i]);
        }
    }
    double l = nb_item(loss);
    nb_scope_end(&s);
    assert_null(s);
    return l;
}

static void mlp_training_memory_is_flat(void **state) {
    (void)state;
    nb_seed(2024);
    mlp m = {param(NB_SHAPE(8, 16), 0.35, "fc1.weight"), param(NB_SHAPE(16), 0.1, "fc1.bias"),
             param(NB_SHAPE(16, 4), 0.25, "fc2.weight"), param(NB_SHAPE(4), 0.1, "fc2.bias")};
    nb_tensor *x = nb_randn(NB_F32, NB_SHAPE(32, 8), 0, 1);
    /* the target: a fixed random nonlinear teacher of the same form */
    nb_tensor *t1 = nb_randn(NB_F32, NB_SHAPE(8, 4), 0, 0.5);
    nb_tensor *y;
    {
        nb_scope *s = nb_scope_begin();
        y = nb_copy_persistent(nb_tanh(nb_matmul(x, t1)));
        nb_scope_end(&s);
    }
    assert_null(y->scope);

    const double lr = 0.05;
    double first = step(&m, x, y, lr);
    assert_true(isfinite(first) && first > 0);
    for (int i = 2; i <= 100; i++) step(&m, x, y, lr);
    nb_mem_stats a = nb_mem_stats_get();
    double at100 = 0;
    for (int i = 101; i <= 10000; i++) {
        double l = step(&m, x, y, lr);
        if (i == 101) at100 = l;
        assert_true(isfinite(l));
    }
    nb_mem_stats b = nb_mem_stats_get();
    double last;
    {
        nb_scope *s = nb_scope_begin();
        nb_tensor *d = nb_sub(forward(&m, x), y);
        NB_NO_GRAD { last = nb_item(nb_mean_all(nb_mul(d, d))); }
        nb_scope_end(&s);
    }
    printf("# loss: step 1 %.5f, step 101 %.5f, after 10000 %.6f\n", first, at100, last);
    printf("# after step 100: heap_live %zu heap_peak %zu heap_allocs %zu arena_reserved %zu arena_peak %zu\n",
           a.heap_live, a.heap_peak, a.heap_allocs, a.arena_reserved, a.arena_peak);
    printf("# after step 10000: heap_live %zu heap_peak %zu heap_allocs %zu arena_reserved %zu arena_peak %zu\n",
           b.heap_live, b.heap_peak, b.heap_allocs, b.arena_reserved, b.arena_peak);
    assert_int_equal(a.heap_peak, b.heap_peak);
    assert_int_equal(a.heap_live, b.heap_live);
    assert_int_equal(a.heap_allocs, b.heap_allocs);
    assert_int_equal(a.arena_reserved, b.arena_reserved);
    assert_int_equal(a.arena_peak, b.arena_peak);
    assert_int_equal(b.arena_used, 0);
    assert_true(a.arena_peak > 0);
    /* the loss went down, a lot */
    assert_true(at100 < first);
    assert_true(last < 0.5 * at100);
    assert_true(last < 0.2 * first);

    nb_tensor *all[] = {m.w1, m.b1, m.w2, m.b2, x, t1, y};
    for (int i = 0; i < 7; i++) nb_tensor_free(all[i]);
}

/* Outside any scope everything is persistent: tensors, their grads and the
 * nodes (owned by their outputs). Freeing them all gives the heap back. */
static void persistent_graph_is_freed(void **state) {
    (void)state;
    nb_mem_trim();
    nb_mem_stats a = nb_mem_stats_get();
    nb_mem_stats first = a;
    for (int rep = 0; rep < 3; rep++) {
        nb_tensor *w = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(10, 10)), true);
        nb_tensor *v = nb_set_requires_grad(nb_ones(NB_F64, NB_SHAPE(10)), true);
        nb_tensor *vc = nb_reshape(v, NB_SHAPE(10, 1));
        nb_tensor *h = nb_matmul(w, vc);
        nb_tensor *r = nb_reshape(h, NB_SHAPE(10));
        nb_tensor *p = nb_mul(r, v);
        nb_tensor *l = nb_sum_all(p);
        assert_null(l->scope);
        assert_int_equal(nb_backward(l), NB_OK);
        /* l = sum_i (10) * v_i with v = 1: dl/dv = 10 + sum_j w_ji * v_j... = 20 */
        assert_true(nb_f64(v->grad)[3] == 20);
        assert_true(nb_f64(w->grad)[0] == 1);
        nb_tensor *seq[] = {l, p, r, h, vc, w, v};
        for (int i = 0; i < 7; i++) nb_tensor_free(seq[i]);
        if (rep == 0) first = nb_mem_stats_get();
    }
    nb_mem_stats b = nb_mem_stats_get();
    /* the first backward may grow the node buffer once; then nothing stays behind */
    assert_int_equal(b.heap_live, first.heap_live);
    assert_true(b.heap_live - a.heap_live <= 256 * sizeof(void *));
    assert_int_equal(b.arena_reserved, 0);
}

/* Arena blocks are carved from 2 MiB-aligned chunks (autograd/memory.c): tensors small and big (one larger than a chunk),
 * in nested scopes, keep their data 64-byte aligned and apart (each filled
 * with its own value, read back after all were made); the same step again
 * takes no new heap memory; nb_mem_trim with no scope open gives every
 * chunk back; and trimming while a scope holds blocks keeps its chunk (its
 * data still readable, then freed with the scope's last block). Where the
 * kernel backs the chunks with huge pages, /proc/self/smaps says so
 * (printed, not asserted: THP may be off). */
static void arena_chunks(void **state) {
    (void)state;
    nb_mem_trim();
    const size_t base = nb_mem_stats_get().heap_live;
    static const int64_t sizes[] = {1, 100, 70000, 300000, 1 << 20, 9 << 20, 40 << 20, 5};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    size_t after_first = 0;
    for (int rep = 0; rep < 2; rep++) {
        nb_scope *outer = nb_scope_begin();
        nb_tensor *t[NS];
        for (int i = 0; i < NS; i++) {
            nb_scope *inner = i == 3 ? nb_scope_begin() : NULL;
            t[i] = nb_full(NB_F32, NB_SHAPE(sizes[i] / 4 + 1), (double)(i + 1));
            assert_non_null(t[i]);
            assert_int_equal((uintptr_t)t[i]->data % 64, 0);
            if (inner) {
                nb_tensor *tmp = nb_full(NB_F32, NB_SHAPE(1000), -1);
                assert_non_null(tmp);
                t[i] = nb_copy_persistent(t[i]);
                nb_scope_end(&inner);
            }
        }
        for (int i = 0; i < NS; i++)
            for (int64_t j = 0; j < t[i]->numel; j += 997) assert_true(nb_f32(t[i])[j] == (float)(i + 1));
#if defined(__linux__)
        FILE *f = rep == 0 ? fopen("/proc/self/smaps_rollup", "r") : NULL;
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "AnonHugePages:", 14)) printf("# with ~51 MB of tensors: %s", line);
        if (f) fclose(f);
#endif
        if (rep == 0) after_first = nb_mem_stats_get().heap_live;
        else assert_int_equal(nb_mem_stats_get().heap_live, after_first); /* the pool, no new chunk */
        nb_tensor_free(t[3]);
        nb_scope_end(&outer);
    }
    nb_mem_trim();
    assert_int_equal(nb_mem_stats_get().heap_live, base);
    assert_int_equal(nb_mem_stats_get().arena_reserved, 0);
    /* a trim while a scope holds a block keeps that block's chunk */
    nb_scope *s = nb_scope_begin();
    nb_scope *s2 = nb_scope_begin();
    nb_tensor *dead = nb_full(NB_F32, NB_SHAPE(1000), 3);
    (void)dead;
    nb_scope_end(&s2);
    nb_tensor *live = nb_full(NB_F32, NB_SHAPE(300000), 7);
    nb_mem_trim();
    assert_true(nb_f32(live)[299999] == 7);
    assert_true(nb_mem_stats_get().heap_live > base);
    nb_scope_end(&s);
    nb_mem_trim();
    assert_int_equal(nb_mem_stats_get().heap_live, base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mlp_training_memory_is_flat),
        cmocka_unit_test(persistent_graph_is_freed),
        cmocka_unit_test(arena_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
