/* ops/kernels/gemm_packed.h — GEMM with a pre-packed right operand (internal).
 *
 * For a product repeated with the same B and new A's (a recurrent layer's
 * h·W_hhᵀ at every time step): pack op(B) (K×N) once with nb_gemm_pack_*,
 * then each nb_gemm_packed_* computes
 *
 *   C[:, n0:n1] = alpha · op(A) · op(B)[:, n0:n1] + beta · C[:, n0:n1]
 *
 * on the calling thread (n0 a multiple of nb_gemm_packed_nr_*(): threads
 * split the columns). Row-major, leading dimensions in elements; beta == 0
 * never reads C. The layout is the built-in kernel's for the ISA of the
 * moment (nb_isa()), or plain K×N for the reference backend (NB_GEMM=ref, or
 * no AVX2): pack and multiply under the same ISA cap. Same sums as
 * nb_gemm_*: bit-identical whatever the column split. */
#ifndef NB_GEMM_PACKED_H
#define NB_GEMM_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Elements the packed op(B) needs. */
size_t nb_gemm_packed_len_f32(int64_t K, int64_t N);
size_t nb_gemm_packed_len_f64(int64_t K, int64_t N);
/* Column granularity of a split (the micro-panel width). */
int64_t nb_gemm_packed_nr_f32(void);
int64_t nb_gemm_packed_nr_f64(void);
void nb_gemm_pack_f32(bool tb, int64_t K, int64_t N, const float *B, int64_t ldb, float *dst);
void nb_gemm_pack_f64(bool tb, int64_t K, int64_t N, const double *B, int64_t ldb, double *dst);
void nb_gemm_packed_f32(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                        const float *Bp, int64_t n0, int64_t n1, float beta, float *C, int64_t ldc);
void nb_gemm_packed_f64(bool ta, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                        const double *Bp, int64_t n0, int64_t n1, double beta, double *C, int64_t ldc);

#endif
