/* tests/test_rnn_seq.c — the sequence ops nb_lstm_seq / nb_gru_seq
 * (ops/rnn_seq.c) against the per-step composition they replace (nb_affine
 * and the gate ops, each checked against PyTorch on its own):
 *   - F64 output and the gradient of every input agree within 1e-12
 *     relative, forward and reverse, with micro-tile edges (B 9, H 5) and
 *     with the multi-thread split (H a multiple of the GEMM panel);
 *   - one and two threads give bit-identical results (F32 and F64), under
 *     each GEMM ISA the CPU has;
 *   - the whole LSTM layer's final states (hn, cn) through the op;
 *   - bad shapes: errors naming the op and the inputs.
 * NB_PAR_MIN=1 (set before anything runs) lets small sizes take threads. */
#include <stdlib.h>

#include "test_util.h"
#include "kernels/cpu.h"

/* The composition: per step nb_affine(h, w_hh, b_hh) and the gate ops. */
static nb_tensor *composed(nb_tensor *const *in, bool lstm, bool reverse) {
    nb_tensor *xp = in[0], *h = in[3], *c = lstm ? in[4] : NULL, *outs[65];
    const int64_t T = xp->shape.d[0];
    assert_true(T <= 64);
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = reverse ? T - 1 - k : k;
        nb_tensor *x = nb_select(xp, 0, t), *hh = nb_affine(h, in[1], in[2]);
        if (lstm) {
            c = nb_lstm_gate_c(x, hh, c);
            h = nb_lstm_gate_h(x, hh, c);
        } else {
            h = nb_gru_gate_h(x, hh, h);
        }
        outs[t] = h;
    }
    if (lstm) outs[T] = c;
    return nb_stack(outs, (int)(lstm ? T + 1 : T), 0);
}

static nb_tensor *fused(nb_tensor *const *in, bool lstm, bool reverse) {
    return lstm ? nb_lstm_seq(in[0], in[1], in[2], in[3], in[4], reverse)
                : nb_gru_seq(in[0], in[1], in[2], in[3], reverse);
}

/* Inputs (T, B, H) of dtype dt, all requiring grad; nin 5 (LSTM) or 4. */
static int make_inputs(nb_tensor **in, nb_dtype dt, bool lstm, int64_t T, int64_t B, int64_t H) {
    const int64_t G = lstm ? 4 : 3;
    in[0] = nb_rand(dt, NB_SHAPE(T, B, G * H), -1.5, 1.5);
    in[1] = nb_rand(dt, NB_SHAPE(G * H, H), -0.3, 0.3);
    in[2] = nb_rand(dt, NB_SHAPE(G * H), -0.5, 0.5);
    in[3] = nb_rand(dt, NB_SHAPE(B, H), -1, 1);
    if (lstm) in[4] = nb_rand(dt, NB_SHAPE(B, H), -1, 1);
    const int nin = lstm ? 5 : 4;
    for (int i = 0; i < nin; i++) nb_set_requires_grad(in[i], true);
    return nin;
}

/* y and the input gradients for the seed v: out[0] = y, out[1 + i] = d<v, y>/d in[i]. */
static void run(nb_tensor *const *in, int nin, bool lstm, bool rev, bool use_fused, nb_tensor *v, nb_tensor **out) {
    for (int i = 0; i < nin; i++) nb_tensor_zero_grad(in[i]);
    nb_tensor *y = use_fused ? fused(in, lstm, rev) : composed(in, lstm, rev);
    assert_non_null(y);
    nb_backward(nb_sum_all(nb_mul(y, v)));
    out[0] = nb_copy(y);
    for (int i = 0; i < nin; i++) out[1 + i] = nb_copy(in[i]->grad);
}

static double max_rel(const nb_tensor *a, const nb_tensor *b) {
    double worst = 0, scale = 1e-300;
    for (int64_t i = 0; i < b->numel; i++) scale = fmax(scale, fabs(nb_get(b, i)));
    for (int64_t i = 0; i < a->numel; i++) worst = fmax(worst, fabs(nb_get(a, i) - nb_get(b, i)) / scale);
    return worst;
}

static void test_against_composition(void **state) {
    (void)state;
    static const int64_t sizes[][3] = {{5, 9, 5}, {4, 3, 64}, {1, 2, 3}, {6, 8, 32}};
    double worst = 0;
    for (int lstm = 0; lstm < 2; lstm++)
        for (int rev = 0; rev < 2; rev++)
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
                nb_scope *s = nb_scope_begin();
                nb_tensor *in[5], *a[6], *b[6];
                const int nin = make_inputs(in, NB_F64, lstm, sizes[z][0], sizes[z][1], sizes[z][2]);
                nb_tensor *y = fused(in, lstm, rev);
                assert_non_null(y);
                nb_tensor *v = nb_rand(NB_F64, y->shape, -1, 1);
                run(in, nin, lstm, rev, true, v, a);
                run(in, nin, lstm, rev, false, v, b);
                for (int i = 0; i < 1 + nin; i++) {
                    expect_shape(a[i], b[i]->shape);
                    const double e = max_rel(a[i], b[i]);
                    if (e > 1e-12)
                        fail_msg("%s rev %d T %lld B %lld H %lld: %s %d off by %.3g", lstm ? "lstm" : "gru", rev,
                                 (long long)sizes[z][0], (long long)sizes[z][1], (long long)sizes[z][2],
                                 i ? "gradient of input" : "output", i - 1, e);
                    worst = fmax(worst, e);
                }
                nb_scope_end(&s);
            }
    printf("fused vs composed, f64: worst relative difference %.2e\n", worst);
}

/* 1 and 2 threads, bit for bit, under every GEMM ISA this CPU has. */
static void test_threads_identical(void **state) {
    (void)state;
    const int keep = nb_get_num_threads();
    const char *keep_isa = nb_isa_name(nb_isa());
    static const char *const isas[] = {"avx512", "avx2", "scalar"};
    for (size_t q = 0; q < 3; q++) {
        if (!nb_isa_set_cap(isas[q])) continue;
        for (int dt = 0; dt < 2; dt++)
            for (int lstm = 0; lstm < 2; lstm++)
                for (int rev = 0; rev < 2; rev++) {
                    nb_scope *s = nb_scope_begin();
                    nb_tensor *in[5], *a[6], *b[6];
                    const int nin = make_inputs(in, dt ? NB_F64 : NB_F32, lstm, 4, 9, 64);
                    nb_tensor *v = nb_rand(in[0]->dtype, NB_SHAPE(lstm ? 5 : 4, 9, 64), -1, 1);
                    nb_set_num_threads(1);
                    run(in, nin, lstm, rev, true, v, a);
                    nb_set_num_threads(2);
                    run(in, nin, lstm, rev, true, v, b);
                    for (int i = 0; i < 1 + nin; i++)
                        if (max_rel(a[i], b[i]) != 0)
                            fail_msg("%s %s %s rev %d: %s %d differs between 1 and 2 threads", isas[q],
                                     dt ? "f64" : "f32", lstm ? "lstm" : "gru", rev, i ? "gradient" : "output", i - 1);
                    nb_scope_end(&s);
                }
    }
    nb_isa_set_cap(keep_isa);
    nb_set_num_threads(keep);
}

/* The layer's final states come from the op's rows: hn = last output of each
 * direction (t = T-1 forward, t = 0 reverse), cn = row T. */
static void test_layer_states(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_module *m = nb_lstm(3, 4, 1, &(nb_rnn_opts){.bidirectional = true});
    nb_tensor *x = nb_rand(NB_F32, NB_SHAPE(5, 2, 3), -1, 1), *hn, *cn;
    nb_tensor *y = nb_rnn_forward(m, x, NULL, NULL, NULL, &hn, &cn);
    expect_shape(y, NB_SHAPE(5, 2, 8));
    expect_shape(hn, NB_SHAPE(2, 2, 4));
    expect_shape(cn, NB_SHAPE(2, 2, 4));
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < 4; j++) {
            assert_true(nb_get(hn, b * 4 + j) == nb_get(y, (4 * 2 + b) * 8 + j));         /* forward: t = 4 */
            assert_true(nb_get(hn, 8 + b * 4 + j) == nb_get(y, (0 * 2 + b) * 8 + 4 + j)); /* reverse: t = 0 */
        }
    /* hn and cn as the masked composition gives them: a 6-step input with
     * lengths {5, 5} (not all full, so no op) holds the same 5 steps */
    int64_t len[2] = {5, 5};
    nb_tensor *x6 = nb_concat((nb_tensor *[]){x, nb_rand(NB_F32, NB_SHAPE(1, 2, 3), -1, 1)}, 2, 0), *hn2, *cn2;
    nb_tensor *y2 = nb_rnn_forward(m, x6, NULL, NULL, len, &hn2, &cn2);
    assert_non_null(y2);
    for (int64_t i = 0; i < hn->numel; i++) {
        assert_true(fabs(nb_get(hn, i) - nb_get(hn2, i)) < 1e-5);
        assert_true(fabs(nb_get(cn, i) - nb_get(cn2, i)) < 1e-5);
    }
    nb_module_free(m);
    nb_scope_end(&s);
}

static void test_bad_input(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *xp = nb_zeros(NB_F32, NB_SHAPE(3, 2, 8)), *w = nb_zeros(NB_F32, NB_SHAPE(8, 2));
    nb_tensor *b = nb_zeros(NB_F32, NB_SHAPE(8)), *h = nb_zeros(NB_F32, NB_SHAPE(2, 2));
    nb_tensor *h3 = nb_zeros(NB_F32, NB_SHAPE(2, 3)), *w12 = nb_zeros(NB_F32, NB_SHAPE(12, 3));
    EXPECT_ERR(nb_lstm_seq(xp, w, b, h3, h, false), NB_ERR_SHAPE, "lstm_seq", "h0 is (2,3)", "xp is (3,2,8)");
    EXPECT_ERR(nb_lstm_seq(xp, w12, b, h, h, false), NB_ERR_SHAPE, "lstm_seq", "w_hh is (12,3)");
    EXPECT_ERR(nb_gru_seq(xp, w, b, h, false), NB_ERR_SHAPE, "gru_seq", "(T,B,3*H)", "xp is (3,2,8)");
    EXPECT_ERR(nb_lstm_seq(nb_zeros(NB_F64, NB_SHAPE(3, 2, 8)), w, b, h, h, false), NB_ERR_DTYPE, "lstm_seq");
    nb_scope_end(&s);
}

int main(void) {
    setenv("NB_PAR_MIN", "1", 1);
    nb_seed(14);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_against_composition, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_threads_identical, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_layer_states, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
