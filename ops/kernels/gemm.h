/* ops/kernels/gemm.h — the one GEMM entry point (internal).
 *
 *   C = alpha * op(A) @ op(B) + beta * C,   op(X) = X or Xᵀ
 *
 * Row-major; op(A) is M×K, op(B) is K×N, C is M×N with leading dimensions
 * lda, ldb, ldc (elements). Kernels know nothing of tensors or graphs. The
 * backend is BLAS (cblas_sgemm/dgemm) when built with it, else the built-in
 * kernel; nb_gemm_ref_* is the plain reference the fast ones are tested
 * against. */
#ifndef NB_GEMM_H
#define NB_GEMM_H

#include <stdbool.h>
#include <stdint.h>

void nb_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void nb_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double beta, double *C, int64_t ldc);

void nb_gemm_ref_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void nb_gemm_ref_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                     int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc);

/* The backend in use: "openblas" or "builtin". */
const char *nb_gemm_backend(void);

#endif
