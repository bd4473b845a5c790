/* ops/kernels/gemm.c — GEMM dispatch: backend, ISA and thread count.
 * The kernels themselves are in gemm_tmpl.h (instantiated by gemm_avx512.c
 * and gemm_avx2.c, each compiled for its ISA) and the reference loop below. */
#include "gemm.h"
#include "cpu.h"
#include "par.h"
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if NB_HAVE_CBLAS
#include <cblas.h>
#endif
/* Reference: C = alpha*op(A)op(B) + beta*C, i-k-j order so the inner loop is
 * contiguous in B and C when B is not transposed. A zero in A is multiplied
 * like any other value (0·NaN and 0·inf are NaN in C, as in OpenBLAS and the
 * blocked kernels; skipping it hid a NaN of B). */
#define GEMM_REF(T, NAME)                                                                                      \
    void NAME(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, const T *B, \
              int64_t ldb, T beta, T *C, int64_t ldc) {                                                        \
        for (int64_t i = 0; i < M; i++) {                                                                      \
            T *c = C + i * ldc;                                                                                \
            if (beta == 0) memset(c, 0, (size_t)N * sizeof(T));                                                \
            else if (beta != 1)                                                                                \
                for (int64_t j = 0; j < N; j++) c[j] *= beta;                                                  \
            for (int64_t k = 0; k < K; k++) {                                                                  \
                T a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);                                          \
                if (!tb) {                                                                                     \
                    const T *b = B + k * ldb;                                                                  \
                    for (int64_t j = 0; j < N; j++) c[j] += a * b[j];                                          \
                } else                                                                                         \
                    for (int64_t j = 0; j < N; j++) c[j] += a * B[j * ldb + k];                                \
            }                                                                                                  \
        }                                                                                                      \
    }

GEMM_REF(float, nb_gemm_ref_f32)
GEMM_REF(double, nb_gemm_ref_f64)

/* The instantiations of gemm_tmpl.h (M, N, K > 0; nt threads), x86-64 only. */
#define GEMM_DECL(SFX, T)                                                                                          \
    void nb_gemm_blocked##SFX(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, \
                              const T *B, int64_t ldb, T beta, const T *C0, int64_t ldc0, const T *R, int64_t ldr, \
                              T *C, int64_t ldc, int nt, T *rs);
GEMM_DECL(_avx512_f32, float)
GEMM_DECL(_avx512_f64, double)
GEMM_DECL(_avx2_f32, float)
GEMM_DECL(_avx2_f64, double)
void nb_gemm_release_avx512_f32(void), nb_gemm_release_avx512_f64(void);
void nb_gemm_release_avx2_f32(void), nb_gemm_release_avx2_f64(void);

/* The calling thread's packing buffers go back to the heap. */
void nb__gemm_release(void);
void nb__gemm_release(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    nb_gemm_release_avx512_f32();
    nb_gemm_release_avx512_f64();
    nb_gemm_release_avx2_f32();
    nb_gemm_release_avx2_f64();
#endif
}

/* Process-wide, read by every thread: a relaxed atomic (a lazy first
 * resolution may run twice, with the same result). */
static _Atomic int g_kind = -1; /* resolved nb_gemm_kind, -1 before the first call */
#define RELAXED memory_order_relaxed

static int kind(void) {
    int have = atomic_load_explicit(&g_kind, RELAXED);
    if (have >= 0) return have;
    {
        const char *e = getenv("NB_GEMM");
        /* Default: the built-in kernel where it has AVX-512 (it matches
         * OpenBLAS at the same ISA, bench/README.md, and Debian's OpenBLAS is
         * often held to AVX2 by OPENBLAS_CORETYPE; one OpenMP pool for all of
         * nabla's threads), else BLAS when built with it. */
        int k = NB_HAVE_CBLAS && nb_isa() != ISA_AVX512 ? NB_GEMM_BLAS : NB_GEMM_BUILTIN;
        if (e && !strcmp(e, "builtin")) k = NB_GEMM_BUILTIN;
        else if (e && !strcmp(e, "ref")) k = NB_GEMM_REF;
        else if (e && !strcmp(e, "blas") && NB_HAVE_CBLAS) k = NB_GEMM_BLAS;
        atomic_store_explicit(&g_kind, k, RELAXED);
        return k;
    }
}

bool nb_gemm_set_backend(nb_gemm_kind k) {
    if (k == NB_GEMM_BLAS && !NB_HAVE_CBLAS) return false;
    if (k == NB_GEMM_AUTO) {
        atomic_store_explicit(&g_kind, -1, RELAXED);
        kind();
    } else {
        atomic_store_explicit(&g_kind, (int)k, RELAXED);
    }
    return true;
}

const char *nb_gemm_backend(void) {
    switch (kind()) {
    case NB_GEMM_BLAS: return "openblas";
    case NB_GEMM_REF: return "ref";
    default: return "builtin";
    }
}

/* Below this many multiply-adds the packing costs more than it saves. */
#define GEMM_SMALL (8 * 8 * 8)
/* Below nb_par_min() multiply-adds one thread beats waking a team. */
static int threads_for(int avail, int64_t M, int64_t N, int64_t K) { return nb_par_threads(avail, (double)M * N * K); }

#if NB_HAVE_CBLAS
/* OpenBLAS keeps its own pool: size it to the caller's count before each call. */
static void blas_threads(int n) {
    static _Atomic int have;
    if (n != atomic_load_explicit(&have, memory_order_relaxed)) {
        openblas_set_num_threads(n);
        atomic_store_explicit(&have, n, memory_order_relaxed);
    }
}
#endif

/* C0 into C (rows ldc0 apart, 0: one row broadcast), for the paths that
 * take beta·C only: afterwards C0 is C. */
#define C0_INTO_C(T)                                                                               \
    if (C0 != C && beta != 0) {                                                                    \
        for (int64_t i = 0; i < M; i++) memcpy(C + i * ldc, C0 + i * ldc0, (size_t)N * sizeof(T)); \
    }

/* C = beta*C for the cases with no product (K == 0 or alpha == 0). */
#define SCALE_C(T)                                          \
    for (int64_t i = 0; i < M; i++) {                       \
        T *c = C + i * ldc;                                 \
        if (beta == 0) memset(c, 0, (size_t)N * sizeof(T)); \
        else if (beta != 1)                                 \
            for (int64_t j = 0; j < N; j++) c[j] *= beta;   \
    }

/* rs[i] += op(A)[i][k] for k upward: op(A) = Aᵀ row by row of A (each sum
 * still in k order; the inner loop contiguous), op(A) = A one row at a time */
#define ROW_SUMS_FN(T, S)                                                                                        \
    void nb_gemm_row_sums_##S(bool ta, int64_t M, int64_t K, const T *restrict A, int64_t lda, T *restrict rs) { \
        if (ta)                                                                                                  \
            for (int64_t k = 0; k < K; k++)                                                                      \
                for (int64_t i = 0; i < M; i++) rs[i] += A[k * lda + i];                                         \
        else                                                                                                     \
            for (int64_t i = 0; i < M; i++) {                                                                    \
                T acc = rs[i];                                                                                   \
                for (int64_t k = 0; k < K; k++) acc += A[i * lda + k];                                           \
                rs[i] = acc;                                                                                     \
            }                                                                                                    \
    }
ROW_SUMS_FN(float, f32)
ROW_SUMS_FN(double, f64)
/* where the built-in kernel does not sum them as it packs op(A) */
#define ROW_SUMS(T) nb_gemm_row_sums_##T(ta, M, K, A, lda, rs)

#define GEMM_DISPATCH(T, S, CBLAS)                                                                                    \
    static void gemm_##S(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, \
                         const T *B, int64_t ldb, T beta, const T *C0, int64_t ldc0, const T *R, int64_t ldr, T *C,   \
                         int64_t ldc, T *rs) {                                                                        \
        if (M <= 0) return;                                                                                           \
        const int k = kind();                                                                                         \
        if (N <= 0) {                                                                                                 \
            if (rs) ROW_SUMS(S);                                                                                      \
            return;                                                                                                   \
        }                                                                                                             \
        if (K > 0 && alpha != 0 && k != NB_GEMM_REF && (double)M * N * K > GEMM_SMALL &&                              \
            !(k == NB_GEMM_BLAS && !nb_par_in_region())) {                                                            \
            switch (nb_isa()) { X86_CASES(S) default : break; }                                                       \
        }                                                                                                             \
        if (rs) ROW_SUMS(S); /* not the built-in kernel */                                                            \
        C0_INTO_C(T);                                                                                                 \
        if (K <= 0 || alpha == 0) {                                                                                   \
            SCALE_C(T);                                                                                               \
        } else if (!(k == NB_GEMM_BLAS && !nb_par_in_region() && CBLAS)) { /* CBLAS: true when it ran */              \
            nb_gemm_ref_##S(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                                    \
        }                                                                                                             \
        if (R) /* added last, as by the kernels */                                                                    \
            for (int64_t i = 0; i < M; i++)                                                                           \
                for (int64_t j = 0; j < N; j++) C[i * ldc + j] = R[i * ldr + j] + C[i * ldc + j];                     \
    }                                                                                                                 \
    void nb_gemm_c0r_mt_##S(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A,           \
                            int64_t lda, const T *B, int64_t ldb, T beta, const T *C0, int64_t ldc0, const T *R,      \
                            int64_t ldr, T *C, int64_t ldc) {                                                         \
        gemm_##S(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc, NULL);                   \
    }                                                                                                                 \
    void nb_gemm_rs_mt_##S(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A,            \
                           int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc, T *rs) {                  \
        gemm_##S(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, 0, C, ldc, rs);                      \
    }                                                                                                                 \
    void nb_gemm_c0_mt_##S(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A,            \
                           int64_t lda, const T *B, int64_t ldb, T beta, const T *C0, int64_t ldc0, T *C,             \
                           int64_t ldc) {                                                                             \
        nb_gemm_c0r_mt_##S(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, NULL, 0, C, ldc);              \
    }                                                                                                                 \
    void nb_gemm_mt_##S(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda,  \
                        const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {                                         \
        nb_gemm_c0_mt_##S(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, C, ldc);                          \
    }

#define X86_CASES_(S)                                                                                      \
    case ISA_AVX512:                                                                                       \
        nb_gemm_blocked_avx512_##S(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc, \
                                   threads_for(nt, M, N, K), rs);                                          \
        return;                                                                                            \
    case ISA_AVX2:                                                                                         \
        nb_gemm_blocked_avx2_##S(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc,   \
                                 threads_for(nt, M, N, K), rs);                                            \
        return;
/* The ISA kernels are built on x86-64 only (ops/meson.build). */
#if defined(__x86_64__) && defined(__GNUC__)
#define X86_CASES(S) X86_CASES_(S)
#else
#define X86_CASES(S)
#endif

#if NB_HAVE_CBLAS
#define CALL_CBLAS(fn)                                                                                                \
    (blas_threads(nt),                                                                                                \
     fn(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, \
        A, (int)lda, B, (int)ldb, beta, C, (int)ldc),                                                                 \
     true)
#else
#define CALL_CBLAS(fn) false
#endif

GEMM_DISPATCH(float, f32, CALL_CBLAS(cblas_sgemm))
GEMM_DISPATCH(double, f64, CALL_CBLAS(cblas_dgemm))
