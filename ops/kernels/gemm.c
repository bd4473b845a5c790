/* ops/kernels/gemm.c — GEMM: BLAS backend when present, reference otherwise. */
#include "gemm.h"
#include "config.h"

#include <string.h>

#if NB_HAVE_CBLAS
#include <cblas.h>
#endif

/* Reference: C = alpha*op(A)op(B) + beta*C, i-k-j order so the inner loop is
 * contiguous in B and C when B is not transposed. */
#define GEMM_REF(T, NAME)                                                                      \
    void NAME(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, \
              const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {                            \
        for (int64_t i = 0; i < M; i++) {                                                      \
            T *c = C + i * ldc;                                                                \
            if (beta == 0) memset(c, 0, (size_t)N * sizeof(T));                                \
            else if (beta != 1) for (int64_t j = 0; j < N; j++) c[j] *= beta;                  \
            for (int64_t k = 0; k < K; k++) {                                                  \
                T a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);                          \
                if (a == 0) continue;                                                          \
                if (!tb) { const T *b = B + k * ldb; for (int64_t j = 0; j < N; j++) c[j] += a * b[j]; } \
                else for (int64_t j = 0; j < N; j++) c[j] += a * B[j * ldb + k];               \
            }                                                                                  \
        }                                                                                      \
    }

GEMM_REF(float, nb_gemm_ref_f32)
GEMM_REF(double, nb_gemm_ref_f64)

void nb_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
#if NB_HAVE_CBLAS
    if (K > 0) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    nb_gemm_ref_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void nb_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double beta, double *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
#if NB_HAVE_CBLAS
    if (K > 0) {
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    nb_gemm_ref_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *nb_gemm_backend(void) { return NB_HAVE_CBLAS ? "openblas" : "builtin"; }
