/* tests/test_kernels.c — the fast kernels against their plain references:
 * GEMM (built-in blocked kernel on every ISA the CPU has, and the BLAS
 * backend) against nb_gemm_ref_*, and the SLEEF vector math against libm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nabla/nabla.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/par.h"
#include "kernels/softmax_rows.h"
#include "kernels/vmath.h"

/* ------------------------------------------------------------------ GEMM */

static uint64_t rng = 88172645463325252ull;
static double urand(void) { /* xorshift, uniform [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}

static const char *isas[] = {"avx512", "avx2", "scalar"};

/* Checks backend/ISA's C = alpha op(A) op(B) + beta C against the reference,
 * element by element within (K+4)·eps·(|alpha|Σ|a||b| + |beta c|), on
 * matrices with padded leading dimensions. Returns the number of bad elements. */
#define CHECK_CASE(T, S, EPS)                                                                                          \
    static int check_##S(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, T beta, bool nan_c) {             \
        const int64_t pad = 3;                                                                                         \
        const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;                              \
        const int64_t lda = ac + pad, ldb = bc + pad, ldc = N + pad;                                                   \
        T *A = malloc(sizeof(T) * (size_t)(ar * lda)), *B = malloc(sizeof(T) * (size_t)(br * ldb));                    \
        T *C = malloc(sizeof(T) * (size_t)(M * ldc)), *R = malloc(sizeof(T) * (size_t)(M * ldc));                      \
        for (int64_t i = 0; i < ar * lda; i++) A[i] = (T)urand();                                                      \
        for (int64_t i = 0; i < br * ldb; i++) B[i] = (T)urand();                                                      \
        for (int64_t i = 0; i < M * ldc; i++) C[i] = R[i] = nan_c ? (T)NAN : (T)urand();                               \
        nb_gemm_##S(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                                             \
        T *R0 = malloc(sizeof(T) * (size_t)(M * ldc));                                                                 \
        memcpy(R0, R, sizeof(T) * (size_t)(M * ldc));                                                                  \
        nb_gemm_ref_##S(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);                                         \
        int bad = 0;                                                                                                   \
        for (int64_t i = 0; i < M; i++)                                                                                \
            for (int64_t j = 0; j < ldc; j++) {                                                                        \
                const T got = C[i * ldc + j], want = R[i * ldc + j];                                                   \
                if (j >= N) { /* padding must be untouched */                                                          \
                    if (!(got == want || (isnan(got) && isnan(want)))) bad++;                                          \
                    continue;                                                                                          \
                }                                                                                                      \
                double mag = beta == 0 ? 0 : fabs((double)beta * R0[i * ldc + j]);                                     \
                for (int64_t k = 0; k < K; k++)                                                                        \
                    mag += fabs((double)alpha * (ta ? A[k * lda + i] : A[i * lda + k]) *                               \
                                (tb ? B[j * ldb + k] : B[k * ldb + j]));                                               \
                if (!(fabs((double)got - want) <= (K + 4) * EPS * mag + 1e-300)) {                                     \
                    if (bad++ < 3)                                                                                     \
                        printf("  %s/%s %s ta=%d tb=%d M=%lld N=%lld K=%lld a=%g b=%g: C[%lld,%lld]=%.9g want %.9g\n", \
                               nb_gemm_backend(), nb_isa_name(nb_isa()), #S, ta, tb, (long long)M, (long long)N,       \
                               (long long)K, (double)alpha, (double)beta, (long long)i, (long long)j, (double)got,     \
                               (double)want);                                                                          \
                }                                                                                                      \
            }                                                                                                          \
        free(A);                                                                                                       \
        free(B);                                                                                                       \
        free(C);                                                                                                       \
        free(R);                                                                                                       \
        free(R0);                                                                                                      \
        return bad;                                                                                                    \
    }
CHECK_CASE(float, f32, 1.2e-7)
CHECK_CASE(double, f64, 2.3e-16)

static const int64_t sizes[] = {1, 7, 17, 63, 65, 130};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Every (M,N,K) from sizes, every transpose combination, a few alpha/beta. */
static int sweep(void) {
    static const struct { double alpha, beta; } ab[] = {{1, 0}, {1, 1}, {-0.5, 2.5}, {2, 0}};
    int bad = 0;
    for (size_t m = 0; m < NSIZES; m++)
        for (size_t n = 0; n < NSIZES; n++)
            for (size_t k = 0; k < NSIZES; k++)
                for (int t = 0; t < 4; t++) {
                    const size_t c = (m + n + k + (size_t)t) % 4; /* vary alpha/beta across cases */
                    bad += check_f32(t & 1, t & 2, sizes[m], sizes[n], sizes[k], (float)ab[c].alpha, (float)ab[c].beta,
                                     false);
                    bad += check_f64(t & 1, t & 2, sizes[m], sizes[n], sizes[k], ab[c].alpha, ab[c].beta, false);
                }
    /* Beyond one cache block in each direction (KC 256, MC 192/96, NC 3072/2048). */
    for (int t = 0; t < 4; t++) {
        bad += check_f32(t & 1, t & 2, 200, 33, 300, 1, 1, false);
        bad += check_f64(t & 1, t & 2, 100, 9, 520, 1, 0.5, false);
        bad += check_f32(t & 1, t & 2, 5, 3100, 70, 1, 0, false);
        bad += check_f64(t & 1, t & 2, 5, 2100, 40, -1, 1, false);
        /* Packed path: full MR-row panels of A (read in place when A is
         * row-major, packed when transposed), an edge panel of 3 rows, and K
         * not a multiple of 8 in every K block (256 + 256 + 233). */
        bad += check_f32(t & 1, t & 2, 67, 75, 745, 0.5f, -1.5f, false);
        bad += check_f64(t & 1, t & 2, 67, 75, 745, 0.5, -1.5, false);
        /* C wider than 512 columns: a row-major A packed again (8×8 register transposes) */
        bad += check_f32(t & 1, t & 2, 67, 600, 270, 1, 0.5f, false);
        bad += check_f64(t & 1, t & 2, 19, 530, 9, 1, 0, false);
        /* 2 threads sharing the packed B (M >= 128, several row blocks each,
         * three K blocks, a partial last panel of B). */
        bad += check_f32(t & 1, t & 2, 403, 70, 530, 1, 0.5, false);
        bad += check_f64(t & 1, t & 2, 403, 70, 530, -1, 0, false);
    }
    /* beta = 0 ignores NaN in C; alpha = 0 and K = 0 only scale C. */
    for (int t = 0; t < 4; t++) {
        bad += check_f32(t & 1, t & 2, 65, 33, 17, 1, 0, true);
        bad += check_f64(t & 1, t & 2, 17, 65, 63, 1, 0, true);
        bad += check_f32(t & 1, t & 2, 9, 40, 0, 1, 0.5, false);
        bad += check_f64(t & 1, t & 2, 9, 40, 0, 1, 0, true);
        bad += check_f32(t & 1, t & 2, 9, 40, 20, 0, 2, false);
    }
    return bad;
}

static void gemm_builtin_all_isas(void **state) {
    (void)state;
    assert_true(nb_gemm_set_backend(NB_GEMM_BUILTIN));
    int tested = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!nb_isa_set_cap(isas[i])) continue;
        for (int nt = 1; nt <= 2; nt++) {
            nb_set_num_threads(nt);
            printf("builtin %s, %d thread(s)\n", nb_isa_name(nb_isa()), nt);
            assert_int_equal(sweep(), 0);
            tested++;
        }
    }
    assert_true(tested >= 2);
    nb_set_num_threads(1);
    nb_gemm_set_backend(NB_GEMM_AUTO);
}

static void gemm_blas_and_ref(void **state) {
    (void)state;
    if (nb_gemm_set_backend(NB_GEMM_BLAS)) {
        assert_string_equal(nb_gemm_backend(), "openblas");
        assert_int_equal(sweep(), 0);
    } else {
        print_message("built without BLAS: skipped the BLAS backend\n");
    }
    assert_true(nb_gemm_set_backend(NB_GEMM_REF));
    assert_string_equal(nb_gemm_backend(), "ref");
    assert_int_equal(check_f32(true, false, 17, 9, 5, 1, 1, false), 0);
    nb_gemm_set_backend(NB_GEMM_AUTO);
}

/* nb_gemm_c0_*: C = alpha·op(A)op(B) + beta·C0 with C0 a bias row (ldc0 0)
 * or another matrix gives the bits of C0 copied into C and nb_gemm_* with
 * beta, on every backend, ISA and thread count; beta 0 never reads C0, and
 * C's padding is untouched. Returns the number of bad cases. */
#define C0_CASE(T, S)                                                                                                  \
    static int c0_##S(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, T beta, bool bias) {         \
        const int64_t pad = 2, ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;                     \
        const int64_t lda = ac + pad, ldb = bc + pad, ldc = N + pad, ldc0 = bias ? 0 : N + 5;                          \
        const int64_t n0 = bias ? N : M * ldc0;                                                                        \
        T *A = malloc(sizeof(T) * (size_t)(ar * lda)), *B = malloc(sizeof(T) * (size_t)(br * ldb));                    \
        T *C = malloc(sizeof(T) * (size_t)(M * ldc)), *R = malloc(sizeof(T) * (size_t)(M * ldc));                      \
        T *C0 = malloc(sizeof(T) * (size_t)n0);                                                                        \
        for (int64_t i = 0; i < ar * lda; i++) A[i] = (T)urand();                                                      \
        for (int64_t i = 0; i < br * ldb; i++) B[i] = (T)urand();                                                      \
        for (int64_t i = 0; i < n0; i++) C0[i] = beta == 0 ? (T)NAN : (T)urand();                                      \
        for (int64_t i = 0; i < M * ldc; i++) C[i] = R[i] = (T)NAN;                                                    \
        nb_gemm_c0_mt_##S(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, C, ldc);                         \
        for (int64_t i = 0; i < M; i++)                                                                                \
            for (int64_t j = 0; j < N; j++) R[i * ldc + j] = beta == 0 ? (T)NAN : C0[i * ldc0 + j];                    \
        nb_gemm_mt_##S(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);                                      \
        int bad = 0;                                                                                                   \
        for (int64_t i = 0; i < M * ldc; i++)                                                                          \
            if (memcmp(&C[i], &R[i], sizeof(T)) && !(isnan(C[i]) && isnan(R[i]))) bad++;                               \
        if (bad)                                                                                                       \
            printf("  c0 %s/%s %s nt=%d ta=%d tb=%d M=%lld N=%lld K=%lld beta=%g %s: %d elements differ\n",            \
                   nb_gemm_backend(), nb_isa_name(nb_isa()), #S, nt, ta, tb, (long long)M, (long long)N, (long long)K, \
                   (double)beta, bias ? "bias" : "matrix", bad);                                                       \
        free(A), free(B), free(C), free(R), free(C0);                                                                  \
        return bad != 0;                                                                                               \
    }
C0_CASE(float, f32)
C0_CASE(double, f64)

static int c0_sweep(int nt) {
    static const int64_t shapes[][3] = {{1, 1, 1},      {9, 40, 7},          {65, 33, 17},  {64, 130, 128},
                                        {403, 70, 530}, {2048 / 8, 65, 128}, {5, 3100, 70}, {96, 96, 0}};
    static const double betas[] = {1, 0, -0.5};
    int bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 4; t++)
            for (size_t b = 0; b < 3; b++)
                for (int bias = 0; bias < 2; bias++) {
                    const int64_t M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
                    bad += c0_f32(nt, t & 1, t & 2, M, N, K, 1, (float)betas[b], bias);
                    bad += c0_f64(nt, t & 1, t & 2, M, N, K, -0.5, betas[b], bias);
                }
    return bad;
}

static void gemm_c0(void **state) {
    (void)state;
    const nb_gemm_kind kinds[3] = {NB_GEMM_REF, NB_GEMM_BUILTIN, NB_GEMM_BLAS};
    const uint64_t saved = rng; /* the later tests' draws stay what they were */
    int tested = 0;
    for (int k = 0; k < 3; k++) {
        if (!nb_gemm_set_backend(kinds[k])) continue;
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            if (!nb_isa_set_cap(isas[i])) continue;
            for (int nt = 1; nt <= 2; nt++, tested++) assert_int_equal(c0_sweep(nt), 0);
        }
    }
    assert_true(tested >= 6);
    rng = saved;
    nb_isa_set_cap(NULL);
    nb_gemm_set_backend(NB_GEMM_AUTO);
}

/* nb_gemm_rs: op(A)'s row sums added to rs with the bits of a plain loop
 * over k (from rs's value, k upward), and C as nb_gemm's, bit for bit, on
 * every backend, ISA and 1 or 2 threads: the built-in kernel sums them in
 * its packing of Aᵀ (two-panel passes, a lone panel, an edge of fewer
 * than MR rows, several K blocks and row blocks; M < N splits columns, and
 * one band sums), the other paths by the loop. */
#define RS_CHECK(T, S)                                                                                              \
    static int rs_check_##S(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K) {                            \
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;                                                           \
        T *A = malloc(sizeof(T) * (size_t)(M * K)), *B = malloc(sizeof(T) * (size_t)(K * N));                       \
        T *C = malloc(sizeof(T) * (size_t)(M * N)), *D = malloc(sizeof(T) * (size_t)(M * N));                       \
        T *rs = malloc(sizeof(T) * (size_t)M), *want = malloc(sizeof(T) * (size_t)M);                               \
        for (int64_t i = 0; i < M * K; i++) A[i] = (T)urand();                                                      \
        for (int64_t i = 0; i < K * N; i++) B[i] = (T)urand();                                                      \
        for (int64_t i = 0; i < M; i++) {                                                                           \
            rs[i] = want[i] = (T)(3 * urand());                                                                     \
            for (int64_t k = 0; k < K; k++) want[i] += ta ? A[k * lda + i] : A[i * lda + k];                        \
        }                                                                                                           \
        nb_gemm_mt_##S(nt, ta, tb, M, N, K, (T)0.5, A, lda, B, ldb, 0, D, N);                                       \
        nb_gemm_rs_mt_##S(nt, ta, tb, M, N, K, (T)0.5, A, lda, B, ldb, 0, C, N, rs);                                \
        int bad = memcmp(rs, want, sizeof(T) * (size_t)M) != 0 || memcmp(C, D, sizeof(T) * (size_t)(M * N)) != 0;   \
        if (bad)                                                                                                    \
            printf("  rs %s %s nt=%d ta=%d tb=%d M=%lld N=%lld K=%lld: sums %s, C %s\n", #S, nb_gemm_backend(), nt, \
                   ta, tb, (long long)M, (long long)N, (long long)K,                                                \
                   memcmp(rs, want, sizeof(T) * (size_t)M) ? "differ" : "same",                                     \
                   memcmp(C, D, sizeof(T) * (size_t)(M * N)) ? "differs" : "same");                                 \
        free(A), free(B), free(C), free(D), free(rs), free(want);                                                   \
        return bad;                                                                                                 \
    }
RS_CHECK(float, f32)
RS_CHECK(double, f64)

static void gemm_row_sums(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{67, 75, 745}, {403, 70, 530}, {200, 33, 300}, {21, 600, 270},
                                        {5, 9, 7},     {130, 40, 600}, {13, 3100, 20}};
    const nb_gemm_kind kinds[3] = {NB_GEMM_REF, NB_GEMM_BUILTIN, NB_GEMM_BLAS};
    const uint64_t saved = rng;
    int bad = 0, tested = 0;
    for (int k = 0; k < 3; k++) {
        if (!nb_gemm_set_backend(kinds[k])) continue;
        for (size_t i = 0; i < (kinds[k] == NB_GEMM_BUILTIN ? sizeof isas / sizeof isas[0] : 1); i++) {
            if (!nb_isa_set_cap(isas[i])) continue;
            for (int nt = 1; nt <= 2; nt++)
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                    for (int t = 0; t < 4; t++, tested++) {
                        bad += rs_check_f32(nt, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2]);
                        bad += rs_check_f64(nt, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2]);
                    }
        }
    }
    assert_true(tested >= 4 * 7 * 4);
    assert_int_equal(bad, 0);
    rng = saved;
    nb_isa_set_cap(NULL);
    nb_gemm_set_backend(NB_GEMM_AUTO);
}

/* The in-place softmax rows (attention's): the AVX-512 f32 path sums in the
 * generic loops' 8 double lanes, so the backward row has the same bits on
 * every ISA and the forward differs only by the ISAs' exponentials; rows
 * sum to 1, NaN rows stay NaN, an all -inf row is reported. */
static void softmax_rows_inplace_all_isas(void **state) {
    (void)state;
    const uint64_t saved = rng;
    enum { MAXN = 70, ROWS = 3 * MAXN };
    static float x[ROWS][MAXN], y[3][ROWS][MAXN], g[ROWS][MAXN], d[3][ROWS][MAXN];
    static bool ok[3][ROWS];
    for (int r = 0; r < ROWS; r++) {
        const int n = 1 + r % MAXN;
        for (int j = 0; j < n; j++) x[r][j] = (float)(6 * urand()), g[r][j] = (float)urand();
        if (r % 11 == 5) x[r][n - 1] = -INFINITY; /* a masked key */
        if (r % 13 == 6 && r % 7 != 3)
            for (int j = 0; j < n; j++) x[r][j] = -INFINITY; /* fully masked */
        if (r % 7 == 3) x[r][r % n] = NAN;                   /* a NaN row */
    }
    int tested = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!nb_isa_set_cap(isas[i])) continue;
        for (int r = 0; r < ROWS; r++) {
            const int n = 1 + r % MAXN;
            memcpy(y[i][r], x[r], sizeof x[r]);
            ok[i][r] = nb_softmax_row_inplace_f32(y[i][r], n);
            memcpy(d[i][r], g[r], sizeof g[r]);
            if (ok[i][r]) nb_softmax_row_bwd_inplace_f32(d[i][r], y[0][r], n); /* the same y: the same bits */
            if (i > 0) {
                assert_int_equal(ok[i][r], ok[0][r]);
                for (int j = 0; j < n && ok[i][r]; j++) /* the ISAs' exp differ by an ulp or two */
                    assert_true(fabsf(y[i][r][j] - y[0][r][j]) <= 4e-7f * fabsf(y[0][r][j]) + 1e-30f ||
                                (isnan(y[i][r][j]) && isnan(y[0][r][j])));
                assert_memory_equal(d[i][r], d[0][r], (size_t)n * sizeof(float));
            }
            if (r % 13 == 6 && r % 7 != 3) {
                assert_false(ok[i][r]);
                continue;
            }
            assert_true(ok[i][r]);
            double sum = 0;
            for (int j = 0; j < n; j++) sum += y[i][r][j];
            if (r % 7 == 3) assert_true(isnan(sum));
            else assert_true(fabs(sum - 1) < 1e-6);
        }
        tested++;
    }
    assert_true(tested >= 2);
    nb_isa_set_cap(NULL);
    rng = saved;
}

/* Same inputs, same thread count → same bits; and the built-in kernel gives
 * the same bits on 1 and 2 threads (each element sums in the same order). */
static void gemm_bit_identical(void **state) {
    (void)state;
    assert_true(nb_gemm_set_backend(NB_GEMM_BUILTIN));
    if (!nb_isa_set_cap(isas[0])) nb_isa_set_cap(isas[1]);
    const int64_t M = 150, N = 140, K = 300;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C[3];
    for (int64_t i = 0; i < M * K; i++) A[i] = (float)urand();
    for (int64_t i = 0; i < K * N; i++) B[i] = (float)urand();
    for (int r = 0; r < 3; r++) {
        C[r] = malloc(sizeof(float) * M * N);
        nb_set_num_threads(r == 2 ? 2 : 1);
        nb_gemm_f32(false, true, M, N, K, 1, A, K, B, K, 0, C[r], N);
    }
    assert_memory_equal(C[0], C[1], sizeof(float) * M * N);
    assert_memory_equal(C[0], C[2], sizeof(float) * M * N);
    for (int r = 0; r < 3; r++) free(C[r]);
    free(A);
    free(B);
    nb_set_num_threads(1);
    nb_gemm_set_backend(NB_GEMM_AUTO);
}

/* matmul through every backend agrees (the op layer passes transposes right). */
static void gemm_matmul_backends(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_seed(3);
    nb_tensor *a = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(37, 70), -1, 1), true);
    nb_tensor *b = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(70, 45), -1, 1), true);
    float out[3][37 * 45], ga[3][37 * 70], gb[3][70 * 45];
    const nb_gemm_kind kinds[3] = {NB_GEMM_REF, NB_GEMM_BUILTIN, NB_GEMM_BLAS};
    for (int r = 0; r < 3; r++) {
        if (!nb_gemm_set_backend(kinds[r])) nb_gemm_set_backend(NB_GEMM_BUILTIN);
        nb_tensor_zero_grad(a);
        nb_tensor_zero_grad(b);
        nb_tensor *c = nb_matmul(a, b);
        assert_int_equal(nb_backward(nb_sum_all(nb_mul(c, c))), NB_OK);
        memcpy(out[r], nb_f32(c), sizeof out[r]);
        memcpy(ga[r], nb_f32(a->grad), sizeof ga[r]);
        memcpy(gb[r], nb_f32(b->grad), sizeof gb[r]);
    }
    for (int r = 1; r < 3; r++) {
        for (int i = 0; i < 37 * 45; i++) assert_float_equal(out[r][i], out[0][i], 1e-4);
        for (int i = 0; i < 37 * 70; i++) assert_float_equal(ga[r][i], ga[0][i], 1e-3);
        for (int i = 0; i < 70 * 45; i++) assert_float_equal(gb[r][i], gb[0][i], 1e-3);
    }
    nb_gemm_set_backend(NB_GEMM_AUTO);
    nb_scope_end(&s);
}

/* ------------------------------------------------------------ vector math */

static int64_t ord32(float f) {
    int32_t i;
    memcpy(&i, &f, 4);
    return i < 0 ? (int64_t)INT32_MIN - i : i;
}
static int64_t ord64(double f) {
    int64_t i;
    memcpy(&i, &f, 8);
    return i < 0 ? INT64_MIN - i : i;
}
static double ulps32(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : 1e30;
    if (a == b) return 0;
    return fabs((double)(ord32(a) - ord32(b)));
}
static double ulps64(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : 1e30;
    if (a == b) return 0;
    int64_t x = ord64(a), y = ord64(b);
    return x > y ? (double)(uint64_t)(x - y) : (double)(uint64_t)(y - x);
}

/* Accurate references in long double (64-bit mantissa), rounded once to
 * the type under test. */
typedef long double ld;
static ld exp_l(ld v) { return expl(v); }
static ld log_l(ld v) { return logl(v); }
static ld tanh_l(ld v) { return tanhl(v); }
static ld sig_l(ld v) { return v >= 0 ? 1 / (1 + expl(-v)) : expl(v) / (1 + expl(v)); }
static ld log1p_l(ld v) { return log1pl(v); }
static ld expm1_l(ld v) { return expm1l(v); }
static ld spna_l(ld v) { return log1pl(expl(-fabsl(v))); }
static ld softplus_l(ld v) { return (v > 0 ? v : 0) + log1pl(expl(-fabsl(v))); }
static ld erf_l(ld v) { return erfl(v); }
static ld erfc_l(ld v) { return erfcl(v); }

#define NV_TEST 4099 /* odd: exercises the tail */
typedef void (*vfn32)(float *, const float *, int64_t);
typedef void (*vfn64)(double *, const double *, int64_t);
static const struct {
    const char *name;
    vfn32 f32, ref32;
    vfn64 f64, ref64;
    ld (*acc)(ld);
    double lo, hi;   /* every other input uniform on [lo, hi) */
    double dlo, dhi; /* the others spread over the decades [dlo, dhi), signed when sneg (log1p: only |x| < 1) */
    bool sneg;
    double ulp32, ulp64; /* bounds vs the accurate value, every ISA (scalar = glibc) */
    /* glibc's where looser (the scalar ISA and the reference loops; 0: the
     * above): its erfc reaches 4 ULP in f64 and erfcf 3 (2·10⁷ inputs over
     * these ranges), so 2 held only for the inputs the generator happens to
     * give */
    double gulp32, gulp64;
} vcases[] = {
    {"exp", nb_vexp_f32, nb_vexp_ref_f32, nb_vexp_f64, nb_vexp_ref_f64, exp_l, -110, 90, 1e-30, 80, true, 1, 1},
    {"log", nb_vlog_f32, nb_vlog_ref_f32, nb_vlog_f64, nb_vlog_ref_f64, log_l, 0, 1e4, 1e-30, 3e38, false, 1, 1},
    {"tanh", nb_vtanh_f32, nb_vtanh_ref_f32, nb_vtanh_f64, nb_vtanh_ref_f64, tanh_l, -12, 12, 1e-30, 30, true, 2,
     2}, /* SLEEF 1, glibc tanhf 2 */
    {"sigmoid", nb_vsigmoid_f32, nb_vsigmoid_ref_f32, nb_vsigmoid_f64, nb_vsigmoid_ref_f64, sig_l, -110, 110, 1e-30,
     3e38, true, 3, 3},
    {"log1p", nb_vlog1p_f32, nb_vlog1p_ref_f32, nb_vlog1p_f64, nb_vlog1p_ref_f64, log1p_l, -1, 10, 1e-30, 3e38, true, 1,
     1},
    {"expm1", nb_vexpm1_f32, nb_vexpm1_ref_f32, nb_vexpm1_f64, nb_vexpm1_ref_f64, expm1_l, -110, 90, 1e-30, 80, true, 1,
     1},
    {"softplus", nb_vsoftplus_f32, nb_vsoftplus_ref_f32, nb_vsoftplus_f64, nb_vsoftplus_ref_f64, softplus_l, -120, 120,
     1e-30, 3e38, true, 2, 2},
    {"sp_negabs", nb_vsoftplus_negabs_f32, nb_vsoftplus_negabs_ref_f32, nb_vsoftplus_negabs_f64,
     nb_vsoftplus_negabs_ref_f64, spna_l, -120, 120, 1e-30, 3e38, true, 2, 2},
    {"erf", nb_verf_f32, nb_verf_ref_f32, nb_verf_f64, nb_verf_ref_f64, erf_l, -7, 7, 1e-30, 3e38, true, 2, 2},
    {"erfc", nb_verfc_f32, nb_verfc_ref_f32, nb_verfc_f64, nb_verfc_ref_f64, erfc_l, -7, 9, 1e-30, 3e38, true, 2, 2, 3,
     4},
};

/* Special values: the first ones of both arrays; the f64 array has its own
 * overflow edges after them. */
static const float specials[] = {0.0f,  -0.0f,  INFINITY, -INFINITY, NAN,     1.0f,    -1.0f,  1e-40f,       -1e-40f,
                                 88.7f, 88.72f, 88.73f,   -87.3f,    -103.9f, -104.0f, -1.5f,  -0.99999994f, 16.6f,
                                 17.0f, -16.6f, 1e38f,    2e38f,     3.4e38f, 1e-45f,  -1e-45f};
static const double specials64[] = {1e300,  1e307,  1.7e308, 709.78,  709.79, -708.4, -745.1,
                                    -745.2, 5e-324, -5e-324, -1e-310, 36.7,   37.0,   -0.9999999999999999};
#define NSPEC (int)(sizeof specials / sizeof specials[0])
#define NSPEC64 (int)(sizeof specials64 / sizeof specials64[0])

static void vmath_inputs(size_t c, float *x32, double *x64) {
    const double lo = vcases[c].lo, hi = vcases[c].hi, dlo = vcases[c].dlo, dhi = vcases[c].dhi;
    for (int i = 0; i < NV_TEST; i++) {
        const double u = (urand() + 1) / 2, sg = urand();
        double v = i % 2 ? lo + (hi - lo) * u : dlo * pow(dhi / dlo, u);
        if (i % 2 == 0 && vcases[c].sneg && sg < 0 && (strcmp(vcases[c].name, "log1p") != 0 || v < 1)) v = -v;
        x32[i] = (float)v;
        x64[i] = v;
    }
    for (int i = 0; i < NSPEC; i++) x32[i] = specials[i], x64[i] = specials[i];
    for (int i = 0; i < NSPEC64; i++) x64[NSPEC + i] = specials64[i];
}

static void vmath_all_isas(void **state) {
    (void)state;
    static float x32[NV_TEST], y32[NV_TEST], r32[NV_TEST];
    static double x64[NV_TEST], y64[NV_TEST], r64[NV_TEST];
    int tested = 0;
    for (size_t is = 0; is < sizeof isas / sizeof isas[0]; is++) {
        if (!nb_isa_set_cap(isas[is])) continue;
        tested++;
        for (size_t c = 0; c < sizeof vcases / sizeof vcases[0]; c++) {
            vmath_inputs(c, x32, x64);
            double w32 = 0, w64 = 0;
            int64_t at32 = 0, at64 = 0;
            /* every length 0..40 (tails), then the whole array */
            for (int64_t n = 0; n <= 41; n++) {
                const int64_t len = n == 41 ? NV_TEST : n;
                vcases[c].f32(y32, x32, len);
                vcases[c].f64(y64, x64, len);
                for (int64_t i = 0; i < len; i++) {
                    double e32 = ulps32(y32[i], (float)vcases[c].acc((ld)x32[i]));
                    double e64 = ulps64(y64[i], (double)vcases[c].acc((ld)x64[i]));
                    if (e32 > w32) {
                        w32 = e32;
                        at32 = i;
                    }
                    if (e64 > w64) {
                        w64 = e64;
                        at64 = i;
                    }
                }
            }
            /* the reference loops (libm) agree with the accurate values too */
            vcases[c].ref32(r32, x32, NV_TEST);
            vcases[c].ref64(r64, x64, NV_TEST);
            double wr32 = 0, wr64 = 0;
            for (int i = 0; i < NV_TEST; i++) {
                double e = ulps32(r32[i], (float)vcases[c].acc((ld)x32[i]));
                if (e > wr32) wr32 = e;
                e = ulps64(r64[i], (double)vcases[c].acc((ld)x64[i]));
                if (e > wr64) wr64 = e;
            }
            printf("vmath %-6s %-9s f32 worst %.0f ulp at x=%g, f64 worst %.0f ulp at x=%g (libm %.0f / %.0f ulp)\n",
                   nb_isa_name(nb_isa()), vcases[c].name, w32, (double)x32[at32], w64, x64[at64], wr32, wr64);
            const double g32 = vcases[c].gulp32 ? vcases[c].gulp32 : vcases[c].ulp32;
            const double g64 = vcases[c].gulp64 ? vcases[c].gulp64 : vcases[c].ulp64;
            const bool glibc = !strcmp(isas[is], "scalar");
            assert_true(w32 <= (glibc ? g32 : vcases[c].ulp32));
            assert_true(w64 <= (glibc ? g64 : vcases[c].ulp64));
            assert_true(wr32 <= g32);
            assert_true(wr64 <= g64);
        }
    }
    assert_true(tested >= 2);
    if (!nb_isa_set_cap("avx512")) nb_isa_set_cap("avx2");
}

/* elu (alpha 1.3, and 1) against alpha·expm1 in long double, every ISA:
 * within 2 ULP (expm1's 1 plus the product's rounding). */
static void vmath_elu(void **state) {
    (void)state;
    static float x32[NV_TEST], y32[NV_TEST];
    static double x64[NV_TEST], y64[NV_TEST];
    vmath_inputs(5, x32, x64); /* expm1's inputs and specials */
    int tested = 0;
    for (size_t is = 0; is < sizeof isas / sizeof isas[0]; is++) {
        if (!nb_isa_set_cap(isas[is])) continue;
        tested++;
        for (int a = 0; a < 2; a++) {
            const double alpha = a ? 1.0 : 1.3;
            double w32 = 0, w64 = 0;
            for (int64_t n = 0; n <= 41; n++) {
                const int64_t len = n == 41 ? NV_TEST : n;
                nb_velu_f32(y32, x32, (float)alpha, len);
                nb_velu_f64(y64, x64, alpha, len);
                for (int64_t i = 0; i < len; i++) {
                    const ld v32 = x32[i], v64 = x64[i];
                    const ld w = v32 > 0 ? v32 : (ld)(float)alpha * expm1l(v32),
                             wd = v64 > 0 ? v64 : (ld)alpha * expm1l(v64);
                    double e = ulps32(y32[i], (float)w);
                    if (e > w32) w32 = e;
                    e = ulps64(y64[i], (double)wd);
                    if (e > w64) w64 = e;
                }
            }
            printf("vmath %-6s elu(%.1f)  f32 worst %.0f ulp, f64 worst %.0f ulp\n", nb_isa_name(nb_isa()), alpha, w32,
                   w64);
            assert_true(w32 <= 2 && w64 <= 2);
        }
    }
    assert_true(tested >= 2);
    if (!nb_isa_set_cap("avx512")) nb_isa_set_cap("avx2");
}

/* Every ISA gives the same bits for an element wherever it sits (the tail
 * goes through the vector function too), and signs of zero and the edges
 * follow libm. */
static void vmath_position_and_signs(void **state) {
    (void)state;
    enum { N = 37 };
    static float x[N], a[N], b[N];
    for (int i = 0; i < N; i++) x[i] = (float)(urand() * 30);
    for (size_t is = 0; is < sizeof isas / sizeof isas[0]; is++) {
        if (!nb_isa_set_cap(isas[is])) continue;
        for (size_t c = 0; c < sizeof vcases / sizeof vcases[0]; c++) {
            vcases[c].f32(a, x, N);
            for (int off = 1; off < 20; off++) { /* x[off..] alone: each element at another lane / in the tail */
                vcases[c].f32(b, x + off, N - off);
                assert_memory_equal(b, a + off, sizeof(float) * (size_t)(N - off));
            }
        }
        const float z[4] = {-0.0f, 0.0f, -1.0f, -2.0f};
        float y[4];
        nb_vlog1p_f32(y, z, 4);
        assert_true(y[0] == 0 && signbit(y[0]) && y[1] == 0 && !signbit(y[1]) && isinf(y[2]) && y[2] < 0 &&
                    isnan(y[3]));
        nb_vexpm1_f32(y, z, 2);
        assert_true(y[0] == 0 && signbit(y[0]) && y[1] == 0 && !signbit(y[1]));
        const double zd[4] = {-0.0, 1.7e308, -INFINITY, INFINITY};
        double yd[4];
        nb_vlog1p_f64(yd, zd, 2);
        assert_true(yd[0] == 0 && signbit(yd[0]) && fabs(yd[1] - 709.727) < 1e-3);
        nb_vexpm1_f64(yd, zd, 4);
        assert_true(yd[0] == 0 && signbit(yd[0]) && isinf(yd[1]) && yd[2] == -1 && isinf(yd[3]));
        nb_vsoftplus_f64(yd, zd, 4);
        assert_true(yd[0] == log(2.0) && yd[1] == 1.7e308 && yd[2] == 0 && isinf(yd[3]));
        const float big[3] = {3e38f, -3e38f, 100.0f};
        nb_vsoftplus_f32(y, big, 3);
        assert_true(y[0] == 3e38f && y[1] == 0 && y[2] == 100.0f);
        nb_vsoftplus_negabs_f32(y, big, 3);
        /* e^-100 is subnormal in f32: not flushed to 0 (1 ULP off: SLEEF's exp there) */
        assert_true(y[0] == 0 && y[1] == 0 && ulps32(y[2], (float)exp(-100.0)) <= 1);
    }
    if (!nb_isa_set_cap("avx512")) nb_isa_set_cap("avx2");
}

/* The exact loops give the scalar loop's bits on every ISA. */
static void vmath_exact_loops(void **state) {
    (void)state;
    enum { N = 1003 };
    static float x[N], y[3][N];
    static double xd[N], yd[3][N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(urand() * 10);
        xd[i] = urand() * 10;
    }
    x[5] = NAN;
    xd[5] = NAN;
    x[6] = -0.0f;
    xd[6] = -0.0;
    static float g[N], yo[N]; /* yo: elu_bwd's e = exp(x) (any values do here) */
    static double gd[N], yod[N];
    for (int i = 0; i < N; i++) {
        g[i] = (float)urand();
        gd[i] = urand();
        yo[i] = (float)urand();
        yod[i] = urand();
    }
    for (int k = 0; k < 5; k++) {
        int r = 0;
        for (size_t is = 0; is < sizeof isas / sizeof isas[0]; is++) {
            if (!nb_isa_set_cap(isas[is])) continue;
            for (int i = 0; i < N; i++) {
                y[r][i] = (float)i / 7;
                yd[r][i] = (double)i / 7;
            }
            switch (k) {
            case 0:
                nb_vrelu_f32(y[r], x, N);
                nb_vrelu_f64(yd[r], xd, N);
                break;
            case 1:
                nb_vaxpy_f32(y[r], -0.3f, x, N);
                nb_vaxpy_f64(yd[r], -0.3, xd, N);
                break;
            case 2:
                nb_vscale_f32(y[r], 0.9f, N);
                nb_vscale_f64(yd[r], 0.9, N);
                break;
            case 3:
                nb_vadd_f32(y[r], x, N);
                nb_vadd_f64(yd[r], xd, N);
                break;
            default:
                nb_velu_bwd_f32(y[r], g, x, yo, 1.3f, N);
                nb_velu_bwd_f64(yd[r], gd, xd, yod, 1.3, N);
                break;
            }
            r++;
        }
        assert_true(r >= 2);
        for (int q = 1; q < r; q++) {
            assert_memory_equal(y[q], y[0], sizeof y[0]);
            assert_memory_equal(yd[q], yd[0], sizeof yd[0]);
        }
        /* relu keeps a NaN (as PyTorch) */
        if (k == 0) assert_true(isnan(y[0][5]) && isnan(yd[0][5]) && y[0][6] == 0 && y[0][7] == (x[7] > 0 ? x[7] : 0));
        if (k == 4)
            for (int i = 0; i < N; i++) {
                const float y0 = (float)i / 7;
                assert_true(y[0][i] == y0 + (x[i] > 0 ? g[i] : g[i] * (1.3f * yo[i])) ||
                            (isnan(x[i]) && isnan(y[0][i])));
            }
    }
    if (!nb_isa_set_cap("avx512")) nb_isa_set_cap("avx2");
}

/* sigmoid never overflows and saturates like the scalar formula. */
static void vmath_sigmoid_extremes(void **state) {
    (void)state;
    const float x[5] = {-1e30f, -200, 0, 200, 1e30f};
    float y[5];
    nb_vsigmoid_f32(y, x, 5);
    assert_true(y[0] == 0 && y[1] == 0 && y[2] == 0.5f && y[3] == 1 && y[4] == 1);
    const double xd[3] = {-1e300, 0, 1e300};
    double yd[3];
    nb_vsigmoid_f64(yd, xd, 3);
    assert_true(yd[0] == 0 && yd[1] == 0.5 && yd[2] == 1);
}

/* ------------------------------------------------------------ ops on vmath */

/* The ops moved onto the vector kernels, on tensors large enough to cross
 * every chunk/slice boundary (512-element chunks, 1024-element slices of the
 * strided softmax), F32 against F64 (same inputs): y within 4e-6 relative
 * (a few f32 ULP; bce's terms relative to |y| + 0.25, logsumexp's to |y| + 1), and the gradient of
 * sum(y·w) within 4e-6 of its largest element; F64 against a libm loop for
 * the elementwise ones (5e-16: 1-2 ULP). */
enum { OP_SOFTPLUS, OP_ELU, OP_LOG1P, OP_EXPM1, OP_LSE1, OP_LSE0, OP_LSE01, OP_SM0, OP_LSM0, OP_LSM1, OP_BCE, OP_N };
static nb_tensor *run_vop(int op, nb_tensor *x, nb_tensor *t) {
    const int a0 = 0, a1 = 1, a01[2] = {0, 1};
    switch (op) {
    case OP_SOFTPLUS: return nb_softplus(x);
    case OP_ELU: return nb_elu(x, 1.3);
    case OP_LOG1P: return nb_log1p(x);
    case OP_EXPM1: return nb_expm1(x);
    case OP_LSE1: return nb_logsumexp(x, &a1, 1, false);
    case OP_LSE0: return nb_logsumexp(x, &a0, 1, true);
    case OP_LSE01: return nb_logsumexp(x, a01, 2, false);
    case OP_SM0: return nb_softmax(x, 0);
    case OP_LSM0: return nb_log_softmax(x, 0);
    case OP_LSM1: return nb_log_softmax(x, 1);
    default: return nb_bce_with_logits(x, t, NB_REDUCE_NONE);
    }
}

static void vmath_ops_f32_vs_f64(void **state) {
    (void)state;
    static const int64_t shapes[][2] = {{37, 300}, {1500, 3}, {2, 2049}};
    for (size_t sh = 0; sh < 3; sh++) {
        const int64_t R = shapes[sh][0], C = shapes[sh][1], N = R * C;
        double *xd = malloc(sizeof(double) * (size_t)N), *td = malloc(sizeof(double) * (size_t)N);
        double *wd = malloc(sizeof(double) * (size_t)N);
        float *xf = malloc(sizeof(float) * (size_t)N), *tf = malloc(sizeof(float) * (size_t)N);
        float *wf = malloc(sizeof(float) * (size_t)N);
        for (int op = 0; op < OP_N; op++) {
            nb_scope *sc = nb_scope_begin();
            for (int64_t i = 0; i < N; i++) {
                const double lo = op == OP_LOG1P ? -0.9 : op == OP_BCE || op == OP_SOFTPLUS ? -30 : -8;
                xf[i] = (float)(lo + (8 - lo) * (urand() + 1) / 2);
                xd[i] = xf[i];
                tf[i] = (float)((urand() + 1) / 2);
                td[i] = tf[i];
                wf[i] = (float)urand();
                wd[i] = wf[i];
            }
            nb_tensor *x32 = nb_set_requires_grad(nb_from_f32(NB_SHAPE(R, C), xf), true);
            nb_tensor *x64 = nb_set_requires_grad(nb_from_f64(NB_SHAPE(R, C), xd), true);
            nb_tensor *t32 = nb_from_f32(NB_SHAPE(R, C), tf), *t64 = nb_from_f64(NB_SHAPE(R, C), td);
            nb_tensor *y32 = run_vop(op, x32, t32), *y64 = run_vop(op, x64, t64);
            assert_non_null(y32);
            assert_non_null(y64);
            const int64_t M = y32->numel;
            nb_tensor *w32 = nb_from_f32(y32->shape, wf), *w64 = nb_from_f64(y64->shape, wd);
            assert_int_equal(nb_backward(nb_sum_all(nb_mul(y32, w32))), NB_OK);
            assert_int_equal(nb_backward(nb_sum_all(nb_mul(y64, w64))), NB_OK);
            double wy = 0, wg = 0, wl = 0, welu = 0;
            for (int64_t i = 0; i < M; i++) {
                const double a = nb_f32(y32)[i], b = nb_f64(y64)[i];
                /* logsumexp: m + log S, S's few-ULP error is absolute in log S (reduce.c) */
                const double e = fabs(a - b) /
                    (fabs(b) +
                     (op == OP_BCE                          ? 0.25
                          : op >= OP_LSE1 && op <= OP_LSE01 ? 1
                                                            : 1e-30));
                if (e > wy) wy = e;
            }
            double gmax = 0;
            for (int64_t i = 0; i < N; i++) gmax = fmax(gmax, fabs(nb_f64(x64->grad)[i]));
            for (int64_t i = 0; i < N; i++) {
                /* normwise: some gradient formulas cancel in places (expm1's y + 1
                 * as y → −1, as PyTorch's; softmax's g − Σg·y), inherently in f32.
                 * elu's is alpha·exp(x) (not y + alpha): elementwise too. */
                const double a = nb_f32(x32->grad)[i], b = nb_f64(x64->grad)[i];
                const double e = fabs(a - b) / gmax;
                if (e > wg) wg = e;
                if (op == OP_ELU && b != 0 && fabs(a - b) / fabs(b) > welu) welu = fabs(a - b) / fabs(b);
                if (op <= OP_EXPM1) { /* F64 op against libm */
                    const double v = xd[i];
                    const double want = op == OP_SOFTPLUS ? (v > 0 ? v : 0) + log1p(exp(-fabs(v)))
                        : op == OP_ELU                    ? (v > 0 ? v : 1.3 * expm1(v))
                        : op == OP_LOG1P                  ? log1p(v)
                                                          : expm1(v);
                    const double el = fabs(nb_f64(y64)[i] - want) / (fabs(want) + 1e-300);
                    if (el > wl) wl = el;
                }
            }
            printf("op %2d on (%lld,%lld): f32 vs f64 y %.2g grad %.2g, f64 vs libm %.2g\n", op, (long long)R,
                   (long long)C, wy, wg, wl);
            assert_true(wy <= 4e-6);
            assert_true(wg <= 4e-6);
            assert_true(wl <= 5e-16);
            if (op == OP_ELU) printf("elu gradient f32 vs f64, elementwise: %.2g\n", welu);
            assert_true(welu <= 1e-6);
            nb_scope_end(&sc);
        }
        free(xd);
        free(td);
        free(wd);
        free(xf);
        free(tf);
        free(wf);
    }
}

/* Special values through the ops: ±inf and all −inf rows. */
/* Long arrays split between threads give the bits one thread gives: every
 * kernel of vmath.h, f32 and f64, on an odd length above every floor. */
#define SPLIT_LEN 300007
#define SAME_BITS(T, CALL)                                                                                        \
    do {                                                                                                          \
        T *out[2];                                                                                                \
        for (int th = 0; th < 2; th++) {                                                                          \
            nb_set_num_threads(th + 1);                                                                           \
            T *y = out[th] = malloc(sizeof(T) * SPLIT_LEN), *x = (T *)(sizeof(T) == 4 ? (void *)xf : (void *)xd); \
            memcpy(y, x, sizeof(T) * SPLIT_LEN); /* in-place kernels start from x */                              \
            CALL;                                                                                                 \
        }                                                                                                         \
        assert_memory_equal(out[0], out[1], sizeof(T) * SPLIT_LEN);                                               \
        free(out[0]), free(out[1]);                                                                               \
    } while (0)
static void vmath_threads_same_bits(void **state) {
    (void)state;
    float *xf = malloc(sizeof(float) * SPLIT_LEN), *gf = malloc(sizeof(float) * SPLIT_LEN);
    double *xd = malloc(sizeof(double) * SPLIT_LEN), *gd = malloc(sizeof(double) * SPLIT_LEN);
    nb_seed(5);
    for (int64_t i = 0; i < SPLIT_LEN; i++) {
        xd[i] = ((double)(nb_rand_u64() >> 11) / 9007199254740992.0 - 0.5) * 40;
        xf[i] = (float)xd[i];
        gd[i] = (double)(nb_rand_u64() >> 11) / 9007199254740992.0, gf[i] = (float)gd[i];
    }
    const int saved = nb_get_num_threads();
#define ONE_FUNC(f)                                   \
    SAME_BITS(float, nb_v##f##_f32(y, x, SPLIT_LEN)); \
    SAME_BITS(double, nb_v##f##_f64(y, x, SPLIT_LEN));
    NB_VMATH_FUNCS(ONE_FUNC)
#undef ONE_FUNC
    SAME_BITS(float, nb_vrelu_f32(y, x, SPLIT_LEN));
    SAME_BITS(double, nb_vrelu_f64(y, x, SPLIT_LEN));
    SAME_BITS(float, nb_vaxpy_f32(y, 0.3f, gf, SPLIT_LEN));
    SAME_BITS(double, nb_vaxpy_f64(y, 0.3, gd, SPLIT_LEN));
    SAME_BITS(float, nb_vscale_f32(y, 1.7f, SPLIT_LEN));
    SAME_BITS(double, nb_vscale_f64(y, 1.7, SPLIT_LEN));
    SAME_BITS(float, nb_vadd_f32(y, gf, SPLIT_LEN));
    SAME_BITS(double, nb_vadd_f64(y, gd, SPLIT_LEN));
    SAME_BITS(float, nb_velu_f32(y, x, 1.5f, SPLIT_LEN));
    SAME_BITS(double, nb_velu_f64(y, x, 1.5, SPLIT_LEN));
    SAME_BITS(float, nb_velu_bwd_f32(y, gf, x, gf, 1.5f, SPLIT_LEN));
    SAME_BITS(double, nb_velu_bwd_f64(y, gd, x, gd, 1.5, SPLIT_LEN));
    nb_set_num_threads(saved);
    free(xf), free(gf), free(xd), free(gd);
}

/* A child made by fork() after the parent ran parallel regions still runs
 * long ops (on one thread: GNU OpenMP would hang opening a team there). */
/* NB_PAR_EACH runs its body once for every index, whatever the team:
 * 1, 2 (both ends, meeting where the threads meet) and 3 threads (static
 * shares), n from 0 to past the team; on 2 threads each thread's indices
 * are contiguous (thread 0 a prefix, thread 1 the rest). */
static void par_each_every_index_once(void **state) {
    (void)state;
    static const int64_t ns[] = {0, 1, 2, 3, 7, 64, 1000};
    for (int nt = 1; nt <= 3; nt++)
        for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
            const int64_t n = ns[c];
            int hits[1000] = {0}, who[1000];
            NB_PAR_EACH(nt, n, i, {
                __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
                who[i] = NB_PAR_TID(nt);
            });
            for (int64_t i = 0; i < n; i++) assert_int_equal(hits[i], 1);
            if (nt == 2)
                for (int64_t i = 1; i < n; i++) assert_true(who[i] >= who[i - 1]);
        }
}

static void fork_after_threads(void **state) {
    (void)state;
    const int saved = nb_get_num_threads();
    nb_set_num_threads(2);
    float *x = malloc(sizeof(float) * SPLIT_LEN);
    for (int64_t i = 0; i < SPLIT_LEN; i++) x[i] = (float)(i % 97) / 50;
    nb_vexp_f32(x, x, SPLIT_LEN); /* the parent's team exists now */
    fflush(NULL);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        nb_vexp_f32(x, x, SPLIT_LEN);
        float *a = calloc(300 * 300, sizeof(float)), *c = calloc(300 * 300, sizeof(float));
        nb_gemm_f32(false, false, 300, 300, 300, 1, a, 300, a, 300, 0, c, 300); /* 27 M multiply-adds */
        _exit(nb_get_num_threads() == 1 ? 0 : 3);
    }
    int st = 0;
    for (int i = 0; i < 400 && waitpid(pid, &st, WNOHANG) == 0; i++) usleep(50 * 1000);
    if (waitpid(pid, &st, WNOHANG) == 0) { /* still running after 20 s: hung */
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("the forked child hung in a parallel region");
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    free(x);
    nb_set_num_threads(saved);
}

static void vmath_ops_specials(void **state) {
    (void)state;
    nb_scope *sc = nb_scope_begin();
    const int a1 = 1, a0 = 0;
    /* rows: {+inf, 0, 1}, {-inf, -inf, -inf}, {-inf, 2, 3} */
    const float v[9] = {INFINITY, 0, 1, -INFINITY, -INFINITY, -INFINITY, -INFINITY, 2, 3};
    nb_tensor *x = nb_from_f32(NB_SHAPE(3, 3), v);
    nb_tensor *l = nb_logsumexp(x, &a1, 1, false);
    assert_true(isinf(nb_f32(l)[0]) && nb_f32(l)[0] > 0);
    assert_true(isinf(nb_f32(l)[1]) && nb_f32(l)[1] < 0);
    assert_float_equal(nb_f32(l)[2], log(exp(2.0) + exp(3.0)), 1e-6);
    nb_tensor *sm = nb_log_softmax(nb_transpose(x, 0, 1), 0); /* the strided path, columns = rows of x */
    assert_true(isinf(nb_f32(sm)[2]) && nb_f32(sm)[2] < 0);   /* −inf in a finite row → −inf */
    assert_float_equal(nb_f32(sm)[8], 3 - log(exp(2.0) + exp(3.0)), 1e-6);
    (void)a0;
    const float sv[5] = {-INFINITY, INFINITY, -1e30f, 1e30f, NAN};
    nb_tensor *s5 = nb_softplus(nb_from_f32(NB_SHAPE(5), sv));
    assert_true(nb_f32(s5)[0] == 0 && isinf(nb_f32(s5)[1]) && nb_f32(s5)[2] == 0 && nb_f32(s5)[3] == 1e30f &&
                isnan(nb_f32(s5)[4]));
    const float bx[2] = {1e30f, -1e30f}, by[2] = {1, 0};
    nb_tensor *b = nb_bce_with_logits(nb_from_f32(NB_SHAPE(2), bx), nb_from_f32(NB_SHAPE(2), by), NB_REDUCE_NONE);
    assert_true(nb_f32(b)[0] == 0 && nb_f32(b)[1] == 0); /* certain and right: no loss, no overflow */
    nb_scope_end(&sc);
}

/* Neumaier's compensated sum (the reference: within a few ULP of the exact
 * sum, in plain doubles; long double would be 64-bit under valgrind) */
static void nsum_add(double *s, double *c, double v) {
    const double t = *s + v;
    *c += fabs(*s) >= fabs(v) ? (*s - t) + v : (v - t) + *s;
    *s = t;
}

/* A full sum (nb_sum_all, nb_mean of every axis) adds in 8 double lanes:
 * every element once, whatever n mod 8 (the tail), within the error of 8
 * chains of n/8 double adds of a compensated sum; for f32 also the
 * rounding of the result. Terms near 1000 so a lost or doubled element
 * shows at any n. */
static void sum_all_lanes(void **state) {
    (void)state;
    static const int64_t ns[] = {1, 7, 8, 9, 15, 17, 1000003};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        const int64_t n = ns[c];
        nb_scope *sc = nb_scope_begin();
        nb_tensor *x64 = nb_empty(NB_F64, NB_SHAPE(n)), *x32 = nb_empty(NB_F32, NB_SHAPE(n));
        double a64 = 0, c64 = 0, a32 = 0, c32 = 0, abs64 = 0;
        uint64_t u = 0x9E3779B97F4A7C15ull; /* its own generator: urand's sequence feeds the vmath cases */
        for (int64_t i = 0; i < n; i++) {
            u = u * 6364136223846793005ull + 1442695040888963407ull;
            nb_f64(x64)[i] = 1000 + ((double)(u >> 11) * 0x1p-53) * (i % 3 ? 1 : -2000);
            nb_f32(x32)[i] = (float)nb_f64(x64)[i];
            nsum_add(&a64, &c64, nb_f64(x64)[i]), nsum_add(&a32, &c32, nb_f32(x32)[i]);
            abs64 += fabs(nb_f64(x64)[i]);
        }
        const double r64 = a64 + c64, r32 = a32 + c32, lanes = ((double)n / 8 + 4) * 0x1p-53 * abs64;
        const double s64 = nb_item(nb_sum_all(x64)), s32 = nb_item(nb_sum_all(x32));
        const double m64 = nb_item(nb_mean(x64, NULL, 0, false));
        if (fabs(s64 - r64) > lanes || fabs(s32 - r32) > lanes + 0x1p-24 * fabs(r32) ||
            fabs(m64 - r64 / (double)n) > (lanes + 0x1p-52 * fabs(r64)) / (double)n)
            fail_msg("n = %lld: sum f64 %.17g (ref %.17g), f32 %.9g (ref %.9g), mean %.17g", (long long)n, s64, r64,
                     s32, r32, m64);
        nb_scope_end(&sc);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemm_builtin_all_isas),
        cmocka_unit_test(gemm_blas_and_ref),
        cmocka_unit_test(gemm_bit_identical),
        cmocka_unit_test(gemm_matmul_backends),
        cmocka_unit_test(gemm_c0),
        cmocka_unit_test(gemm_row_sums),
        cmocka_unit_test(softmax_rows_inplace_all_isas),
        cmocka_unit_test(sum_all_lanes),
        cmocka_unit_test(vmath_all_isas),
        cmocka_unit_test(vmath_sigmoid_extremes),
        cmocka_unit_test(vmath_position_and_signs),
        cmocka_unit_test(vmath_elu),
        cmocka_unit_test(vmath_ops_f32_vs_f64),
        cmocka_unit_test(vmath_ops_specials),
        cmocka_unit_test(vmath_exact_loops),
        cmocka_unit_test(vmath_threads_same_bits),
        cmocka_unit_test(par_each_every_index_once),
        cmocka_unit_test(fork_after_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
