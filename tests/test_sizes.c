/* tests/test_sizes.c — extreme sizes through every builder, shape op and
 * registry op: an impossible size is an error naming the op, never
 * a wrapped count, a crash or undefined behaviour (./test.sh runs this under
 * UBSan and ASan too).
 *
 * Sizes whose product is tiny must work; a product beyond NB_NUMEL_MAX
 * (2^58) must fail with NB_ERR_SHAPE naming the op; a possible but huge one
 * (≥ 2^48 bytes, beyond any address space here) must fail with a named error
 * (no memory). Products in between are skipped: they might really be
 * allocated. */
#include "test_util.h"

#include <stdlib.h>

static const int64_t DIMS[] = {0,
                               1,
                               3,
                               (int64_t)1 << 32,
                               (int64_t)1 << 44,
                               (int64_t)1 << 58,
                               ((int64_t)1 << 58) + 1,
                               (int64_t)1 << 62,
                               INT64_MAX,
                               -1,
                               INT64_MIN};
enum { ND = sizeof DIMS / sizeof DIMS[0] };

typedef enum { TINY, IMPOSSIBLE, HUGE_ALLOC, SKIP } verdict;

/* What a tensor of these sizes and element size must do. */
static verdict judge(const int64_t *d, int n, int elem) {
    __int128 p = 1; /* the product of the non-zero sizes: at most 2^58 */
    bool empty = false;
    for (int i = 0; i < n; i++) {
        if (d[i] < 0) return IMPOSSIBLE;
        if (d[i] == 0) empty = true;
        else p *= d[i] > ((int64_t)1 << 60) ? ((int64_t)1 << 60) : d[i];
        if (p > ((__int128)1 << 60)) p = (__int128)1 << 60;
    }
    if (p > ((__int128)1 << 58)) return IMPOSSIBLE;
    if (empty || p <= 1 << 16) return TINY;
    if (p * elem >= ((__int128)1 << 48)) return HUGE_ALLOC;
    return SKIP;
}

/* The last call failed with one error naming op (a "nabla: op:" message). */
static void expect_named(const char *op, bool shape_error, const char *what) {
    if (tu_err.count == 0) fail_msg("%s: %s: no error reported", op, what);
    char want[64];
    snprintf(want, sizeof want, "nabla: %s", op);
    if (strncmp(tu_err.msg, want, strlen(want)) != 0)
        fail_msg("%s: %s: the message does not name the op: %s", op, what, tu_err.msg);
    if (shape_error && tu_err.st != NB_ERR_SHAPE && tu_err.st != NB_ERR_ARG)
        fail_msg("%s: %s: status %s (%s)", op, what, nb_status_str(tu_err.st), tu_err.msg);
    tu_err_reset();
}

static void check(const char *op, nb_tensor *t, verdict v, const char *what) {
    if (v == TINY) {
        if (!t) fail_msg("%s: %s: failed on a tiny size: %s", op, what, tu_err.msg);
        assert_int_equal(tu_err.count, 0);
    } else if (v == IMPOSSIBLE) {
        if (t) fail_msg("%s: %s: accepted an impossible size (numel %lld)", op, what, (long long)t->numel);
        expect_named(op, true, what);
    } else if (v == HUGE_ALLOC) {
        if (t) fail_msg("%s: %s: made a tensor of %lld elements", op, what, (long long)t->numel);
        if (tu_err.count == 0) fail_msg("%s: %s: no error", op, what);
        tu_err_reset();
    }
}

static void builders(void **state) {
    (void)state;
    static const char *names[] = {"empty", "zeros", "ones", "full", "rand", "randn", "from_data"};
    static float buf[1 << 16];
    int cases = 0;
    for (int nd = 1; nd <= 3; nd++) {
        int idx[3] = {0};
        for (;;) {
            int64_t d[3];
            for (int i = 0; i < nd; i++) d[i] = DIMS[idx[i]];
            nb_shape s = nb_shape_make(nd, d);
            char what[128];
            snprintf(what, sizeof what, "shape (%lld,%lld,%lld)[:%d]", (long long)d[0], (long long)(nd > 1 ? d[1] : 0),
                     (long long)(nd > 2 ? d[2] : 0), nd);
            verdict v = judge(d, nd, 4);
            if (v != SKIP)
                for (int b = 0; b < 7; b++) {
                    nb_scope *sc = nb_scope_begin();
                    nb_tensor *t = b == 0 ? nb_empty(NB_F32, s)
                        : b == 1          ? nb_zeros(NB_F32, s)
                        : b == 2          ? nb_ones(NB_F32, s)
                        : b == 3          ? nb_full(NB_F32, s, 2.0)
                        : b == 4          ? nb_rand(NB_F32, s, 0, 1)
                        : b == 5          ? nb_randn(NB_F32, s, 0, 1)
                                          : nb_from_data(NB_F32, s, buf);
                    check(names[b], t, v, what);
                    nb_scope_end(&sc);
                    cases++;
                }
            int k = 0;
            while (k < nd && ++idx[k] == ND) idx[k++] = 0;
            if (k == nd) break;
        }
    }
    printf("# %d builder cases\n", cases);
}

static void shape_ops(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(2, 8), -1, 1), true); /* 16 elements */
    /* reshape 16 elements to (17, 1085102592571150096): 17 times that is 2^64 + 16 */
    assert_null(nb_reshape(x, NB_SHAPE(17, 1085102592571150096LL)));
    expect_named("reshape", true, "(17, 1085102592571150096)");
    assert_null(nb_reshape(x, NB_SHAPE((int64_t)1 << 32, (int64_t)1 << 32, -1)));
    expect_named("reshape", true, "(2^32, 2^32, -1)");
    for (int i = 0; i < ND; i++)
        for (int j = 0; j < ND; j++) {
            const int64_t d[2] = {DIMS[i], DIMS[j]};
            char what[96];
            snprintf(what, sizeof what, "(%lld,%lld)", (long long)d[0], (long long)d[1]);
            nb_tensor *r = nb_reshape(x, NB_SHAPE(d[0], d[1]));
            bool valid; /* 16 elements: one -1 with a divisor of 16, or a product of 16 */
            if (d[0] == -1 && d[1] == -1) valid = false;
            else if (d[0] == -1 || d[1] == -1) {
                const int64_t o = d[0] == -1 ? d[1] : d[0];
                valid = o > 0 && o <= 16 && 16 % o == 0;
            } else valid = d[0] >= 0 && d[1] >= 0 && (__int128)d[0] * d[1] == 16;
            if (valid && !r) fail_msg("reshape to %s refused: %s", what, tu_err.msg);
            else if (!valid && r) fail_msg("reshape to %s accepted", what);
            else if (!valid) expect_named("reshape", true, what);
            /* expand (1,8) -> (a, 8) and (2,8) -> (a, 2, 8) */
            nb_tensor *row = nb_slice(x, 0, 0, 1, 1);
            verdict v = judge((int64_t[]){d[0], 8}, 2, 4);
            if (v != SKIP && d[0] != -1) check("expand", nb_expand(row, NB_SHAPE(d[0], 8)), v, what);
            else if (d[0] == -1) tu_err_reset(), nb_expand(row, NB_SHAPE(d[0], 8)), tu_err_reset();
            v = judge((int64_t[]){d[0], d[1], 2, 8}, 4, 4);
            if (v != SKIP && d[0] >= 0 && d[1] >= 0) check("expand", nb_expand(x, NB_SHAPE(d[0], d[1], 2, 8)), v, what);
            /* slice bounds and steps: the length is always within [0, 8] */
            nb_tensor *sl = nb_slice(x, 1, d[0], d[1], 1);
            assert_non_null(sl);
            int64_t want = 0;
            {
                int64_t b = d[0] < 0 ? (d[0] < -8 ? 0 : d[0] + 8) : (d[0] > 8 ? 8 : d[0]);
                int64_t e = d[1] < 0 ? (d[1] < -8 ? 0 : d[1] + 8) : (d[1] > 8 ? 8 : d[1]);
                want = e > b ? e - b : 0;
            }
            if (sl->shape.d[1] != want)
                fail_msg("slice [%s] has length %lld, want %lld", what, (long long)sl->shape.d[1], (long long)want);
            if (d[1] > 0) {
                nb_tensor *st = nb_slice(x, 1, INT64_MIN, INT64_MAX, d[1]);
                assert_non_null(st);
                assert_int_equal(st->shape.d[1], d[1] >= 8 ? 1 : (8 + d[1] - 1) / d[1]);
            }
            /* pad: (before, after) on the last dim */
            const int64_t pads[4] = {0, 0, d[0], d[1]};
            verdict pv = d[0] < 0 || d[1] < 0 ? IMPOSSIBLE : SKIP;
            if (pv == SKIP) {
                __int128 w = (__int128)8 + d[0] + d[1];
                int64_t w64 = w > INT64_MAX ? INT64_MAX : (int64_t)w;
                pv = w > INT64_MAX ? IMPOSSIBLE : judge((int64_t[]){2, w64}, 2, 4);
            }
            if (pv != SKIP) check("pad", nb_pad(x, pads, 4, 0.0), pv, what);
        }
    /* one_hot with 2^62 classes, and with a label at INT64_MAX (-1: infer) */
    nb_tensor *lab = nb_from_i64(NB_SHAPE(3), (int64_t[]){0, 2, 1});
    for (int i = 0; i < ND; i++) {
        char what[64];
        snprintf(what, sizeof what, "num_classes %lld", (long long)DIMS[i]);
        nb_tensor *oh = nb_one_hot(lab, DIMS[i], NB_F32);
        if (DIMS[i] == 3) assert_non_null(oh);
        else {
            verdict v = DIMS[i] <= 2 || DIMS[i] == -1 ? IMPOSSIBLE : judge((int64_t[]){3, DIMS[i]}, 2, 4);
            if (DIMS[i] == -1) assert_non_null(oh); /* inferred: 3 */
            else if (v != SKIP) check("one_hot", oh, v, what);
        }
        tu_err_reset();
    }
    nb_tensor *big = nb_from_i64(NB_SHAPE(2), (int64_t[]){INT64_MAX, 1});
    assert_null(nb_one_hot(big, -1, NB_F32));
    expect_named("one_hot", true, "label INT64_MAX, inferred classes");
    /* concat of sizes that add past 2^58 can't be made from real tensors;
     * stacking 2 of 16: fine; index_select with a long index list: real */
    nb_tensor *two[2] = {x, x};
    assert_non_null(nb_concat(two, 2, 0));
    assert_non_null(nb_stack(two, 2, 0));
    /* conv and pool output sizes with extreme strides, pads, dilations */
    nb_tensor *img = nb_rand(NB_F32, NB_SHAPE(1, 1, 5, 5), 0, 1), *w = nb_rand(NB_F32, NB_SHAPE(1, 1, 3, 3), 0, 1);
    static const int IV[] = {0, 1, 2, 1 << 20, INT32_MAX, -1, INT32_MIN};
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 7; b++) {
            nb_conv2d_opts o = NB_CONV2D_DEFAULT;
            o.stride[0] = IV[a], o.pad[1] = IV[b] > 1000 ? 2 : IV[b], o.dilation[0] = IV[b];
            nb_tensor *y = nb_conv2d(img, w, NULL, &o);
            if (!y) expect_named("conv2d", true, "conv2d options");
            nb_tensor *y1 = nb_conv1d(nb_reshape(img, NB_SHAPE(1, 1, 25)), nb_reshape(w, NB_SHAPE(1, 1, 9)), NULL,
                                      IV[a], IV[b] > 1000 ? 1 : IV[b], IV[b]);
            if (!y1) expect_named("conv1d", true, "conv1d options");
            nb_pool2d_opts po = NB_POOL2D_DEFAULT(IV[a] > 1000 ? 3 : IV[a], 2);
            po.stride[1] = IV[b], po.dilation[0] = IV[b];
            nb_tensor *p = nb_max_pool2d_ex(img, &po);
            if (!p) expect_named("max_pool2d", true, "pool options");
            p = nb_avg_pool2d_ex(img, &po);
            if (!p) expect_named("avg_pool2d", true, "pool options");
        }
    /* matmul batch broadcast of (2^32,1,1,1) and (1,2^32,1,1) can't be made
     * from real tensors either; 0-sized batches must work */
    nb_tensor *ea = nb_zeros(NB_F32, NB_SHAPE(0, 1, 2, 3)), *eb = nb_zeros(NB_F32, NB_SHAPE(1, 4, 3, 2));
    nb_tensor *mm = nb_matmul(ea, eb);
    assert_non_null(mm);
    assert_int_equal(mm->numel, 0);
    nb_scope_end(&sc);
}

/* Modules whose sizes come from the user: Linear, Embedding, Conv2d, BatchNorm. */
static void layers(void **state) {
    (void)state;
    static const int64_t L[] = {(int64_t)1 << 32, (int64_t)1 << 62, INT64_MAX, -1, INT64_MIN};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            nb_module *m = nb_linear(L[i], L[j]);
            if (m) fail_msg("linear(%lld, %lld) was made", (long long)L[i], (long long)L[j]);
            assert_true(tu_err.count > 0);
            tu_err_reset();
            m = nb_embedding(L[i], L[j]);
            if (m) fail_msg("embedding(%lld, %lld) was made", (long long)L[i], (long long)L[j]);
            assert_true(tu_err.count > 0);
            tu_err_reset();
        }
    nb_module *bn = nb_batchnorm1d(INT64_MAX);
    assert_null(bn);
    tu_err_reset();
}

/* Every registry op, every sample, each integer argument replaced by an
 * extreme value: an error naming the op, or a result. */
static void registry_args(void **state) {
    (void)state;
    static const int64_t V[] = {-1, INT64_MIN, INT64_MAX, (int64_t)1 << 62, (int64_t)1 << 44, -((int64_t)1 << 31)};
    int cases = 0, failed = 0;
    for (int i = 0; i < nb_registry_count(); i++) {
        const nb_op_entry *e = nb_registry_get(i);
        nb_scope *sc = nb_scope_begin();
        nb_seed(99 + (uint64_t)i);
        nb_sample samples[NB_MAX_SAMPLES];
        int ns = e->samples(samples, NB_MAX_SAMPLES);
        for (int k = 0; k < ns && k < 4; k++)
            for (int a = 0; a < 8; a++)
                for (int v = 0; v < (int)(sizeof V / sizeof V[0]); v++) {
                    nb_sample s = samples[k];
                    s.entry = e;
                    s.iarg[a] = V[v];
                    tu_err_reset();
                    nb_scope *inner = nb_scope_begin();
                    nb_tensor *y = e->apply(s.in, s.nin, &s);
                    if (!y && (tu_err.count == 0 || strncmp(tu_err.msg, "nabla: ", 7) != 0)) {
                        printf("FAIL %s sample %d iarg[%d] = %lld: NULL without a named error (%s)\n", e->name, k, a,
                               (long long)V[v], tu_err.msg);
                        failed++;
                    }
                    nb_scope_end(&inner);
                    cases++;
                }
        nb_scope_end(&sc);
    }
    tu_err_reset();
    printf("# %d registry cases, %d failed\n", cases, failed);
    assert_int_equal(failed, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(builders, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(shape_ops, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(layers, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(registry_args, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
