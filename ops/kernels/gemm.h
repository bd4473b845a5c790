/* ops/kernels/gemm.h — the one GEMM entry point (internal).
 *
 *   C = alpha * op(A) @ op(B) + beta * C,   op(X) = X or Xᵀ
 *
 * Row-major; op(A) is M×K, op(B) is K×N, C is M×N with leading dimensions
 * lda, ldb, ldc (elements). beta == 0 never reads C (NaN there is ignored).
 * Kernels know nothing of tensors or graphs.
 *
 * Backends (one owner of the threads per call, never both):
 *   - "blas":    OpenBLAS through CBLAS (meson option blas, on when found);
 *                its own pthreads, set to the caller's thread count. Never called
 *                from inside an OpenMP parallel region (built-in used there).
 *   - "builtin": packed, cache-blocked, register-tiled kernel (gemm_tmpl.h)
 *                with AVX-512F or AVX2+FMA micro-kernels picked at run time
 *                from the CPU; OpenMP over row/column bands above a size
 *                threshold. Without AVX2 it is the reference loop.
 *   - "ref":     nb_gemm_ref_*, the plain loop the fast ones are tested against.
 * The default is builtin on CPUs with AVX-512 (measured: as fast as OpenBLAS
 * with its AVX-512 kernels, 1.3-1.7x faster on the MLP benchmark than
 * OpenBLAS held to AVX2 by OPENBLAS_CORETYPE=Haswell), else blas when built
 * with it, else builtin; the environment variable NB_GEMM=builtin|blas|ref
 * or nb_gemm_set_backend overrides it. The built-in kernel's ISA is
 * nb_isa() (kernels/cpu.h: the CPU's best, capped by NB_ISA or
 * nb_isa_set_cap, as for every kernel family). */
#ifndef NB_GEMM_H
#define NB_GEMM_H

#include <stdbool.h>
#include <stdint.h>

/* At most nt threads: the GEMM takes them when M·N·K >= nb_par_min()
 * multiply-adds and no parallel region is open (kernels/par.h), else one. */
void nb_gemm_mt_f32(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void nb_gemm_mt_f64(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                    int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc);
/* The same with nabla's thread count (nb_get_num_threads): for ops, defined
 * at op level in ops/threads.c (kernels call the _mt form). */
void nb_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void nb_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double beta, double *C, int64_t ldc);

/* C = alpha * op(A) @ op(B) + beta * C0: C0 is read in C's place (rows ldc0
 * apart; ldc0 0 adds the one row C0 to every row of C, a bias), and may be C
 * itself. The same sums as writing C0 into C and calling with beta: the
 * built-in kernel adds C0 as it stores its tiles, with no pass of its own. */
void nb_gemm_c0_mt_f32(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float beta, const float *C0, int64_t ldc0, float *C,
                       int64_t ldc);
void nb_gemm_c0_mt_f64(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                       int64_t lda, const double *B, int64_t ldb, double beta, const double *C0, int64_t ldc0,
                       double *C, int64_t ldc);
/* The same, then + R (rows ldr apart; NULL: none) added last: C = R +
 * (alpha·op(A)op(B) + beta·C0), the bits of a separate add of R to the
 * result (a residual connection): the built-in kernel adds R to each tile
 * as it stores it. */
void nb_gemm_c0r_mt_f32(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                        int64_t lda, const float *B, int64_t ldb, float beta, const float *C0, int64_t ldc0,
                        const float *R, int64_t ldr, float *C, int64_t ldc);
void nb_gemm_c0r_mt_f64(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                        int64_t lda, const double *B, int64_t ldb, double beta, const double *C0, int64_t ldc0,
                        const double *R, int64_t ldr, double *C, int64_t ldc);
void nb_gemm_c0r_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, const float *C0, int64_t ldc0, const float *R,
                     int64_t ldr, float *C, int64_t ldc);
void nb_gemm_c0r_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                     const double *B, int64_t ldb, double beta, const double *C0, int64_t ldc0, const double *R,
                     int64_t ldr, double *C, int64_t ldc);
void nb_gemm_c0_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, const float *C0, int64_t ldc0, float *C, int64_t ldc);
void nb_gemm_c0_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                    const double *B, int64_t ldb, double beta, const double *C0, int64_t ldc0, double *C, int64_t ldc);

/* C = alpha·op(A)op(B) + beta·C, and rs[i] += op(A)[i][k] for k upward,
 * each of op(A)'s row sums in the order of a plain loop over k (the bits
 * of that loop). The built-in kernel sums them as it packs op(A) = Aᵀ,
 * which reads every element of A once (dW = dyᵀ·x: db, dy's column sums,
 * without a pass over dy of their own); other cases run the loop. */
void nb_gemm_rs_mt_f32(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc, float *rs);
void nb_gemm_rs_mt_f64(int nt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                       int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc, double *rs);
/* rs[i] += op(A)[i][k] for k upward (op(A) M×K): the sums above by a
 * plain loop (where the kernel does not sum them as it packs). */
void nb_gemm_row_sums_f32(bool ta, int64_t M, int64_t K, const float *A, int64_t lda, float *rs);
void nb_gemm_row_sums_f64(bool ta, int64_t M, int64_t K, const double *A, int64_t lda, double *rs);
void nb_gemm_rs_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc, float *rs);
void nb_gemm_rs_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                    const double *B, int64_t ldb, double beta, double *C, int64_t ldc, double *rs);

void nb_gemm_ref_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void nb_gemm_ref_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                     const double *B, int64_t ldb, double beta, double *C, int64_t ldc);

typedef enum nb_gemm_kind {
    NB_GEMM_AUTO = 0, /* the default above (NB_GEMM overrides) */
    NB_GEMM_BUILTIN,
    NB_GEMM_BLAS, /* falls back to builtin when not built with BLAS */
    NB_GEMM_REF
} nb_gemm_kind;

/* Chooses the backend for every later call (NB_GEMM_AUTO: the default and
 * the NB_GEMM variable). Returns false, changing nothing, for blas when the
 * library was built without it. */
bool nb_gemm_set_backend(nb_gemm_kind k);
/* The backend in use: "openblas", "builtin" or "ref". */
const char *nb_gemm_backend(void);

#endif
