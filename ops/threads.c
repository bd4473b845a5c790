/* ops/threads.c — the kernels' entry points for ops, with nabla's thread
 * count: nb_gemm_<t> and nb_v<f>_<t> (kernels/gemm.h, kernels/vmath.h) call
 * the kernels' _mt forms with nb_get_num_threads(). The kernels themselves
 * know nothing of nabla: they are handed the count. */
#include "../autograd/internal.h"
#include "kernels/gemm.h"
#include "kernels/par.h"
#include "kernels/vmath.h"
#include "nabla/core.h"

#include <string.h>

void nb_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    nb_gemm_mt_f32(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void nb_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                 const double *B, int64_t ldb, double beta, double *C, int64_t ldc) {
    nb_gemm_mt_f64(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void nb_gemm_c0_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, const float *C0, int64_t ldc0, float *C, int64_t ldc) {
    nb_gemm_c0_mt_f32(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, C, ldc);
}
void nb_gemm_c0_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                    const double *B, int64_t ldb, double beta, const double *C0, int64_t ldc0, double *C, int64_t ldc) {
    nb_gemm_c0_mt_f64(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, C, ldc);
}

void nb_gemm_c0r_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, const float *C0, int64_t ldc0, const float *R,
                     int64_t ldr, float *C, int64_t ldc) {
    nb_gemm_c0r_mt_f32(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc);
}
void nb_gemm_c0r_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                     const double *B, int64_t ldb, double beta, const double *C0, int64_t ldc0, const double *R,
                     int64_t ldr, double *C, int64_t ldc) {
    nb_gemm_c0r_mt_f64(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc);
}

void nb_gemm_rs_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc, float *rs) {
    nb_gemm_rs_mt_f32(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, rs);
}
void nb_gemm_rs_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                    const double *B, int64_t ldb, double beta, double *C, int64_t ldc, double *rs) {
    nb_gemm_rs_mt_f64(nb_get_num_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, rs);
}

#define VMATH_OP(f)                                                                                              \
    void nb_v##f##_f32(float *y, const float *x, int64_t n) { nb_v##f##_mt_f32(nb_get_num_threads(), y, x, n); } \
    void nb_v##f##_f64(double *y, const double *x, int64_t n) { nb_v##f##_mt_f64(nb_get_num_threads(), y, x, n); }
NB_VMATH_FUNCS(VMATH_OP)

void nb_velu_f32(float *y, const float *x, float alpha, int64_t n) {
    nb_velu_mt_f32(nb_get_num_threads(), y, x, alpha, n);
}
void nb_velu_f64(double *y, const double *x, double alpha, int64_t n) {
    nb_velu_mt_f64(nb_get_num_threads(), y, x, alpha, n);
}
void nb_velu_bwd_f32(float *gx, const float *g, const float *x, const float *e, float alpha, int64_t n) {
    nb_velu_bwd_mt_f32(nb_get_num_threads(), gx, g, x, e, alpha, n);
}
void nb_velu_bwd_f64(double *gx, const double *g, const double *x, const double *e, double alpha, int64_t n) {
    nb_velu_bwd_mt_f64(nb_get_num_threads(), gx, g, x, e, alpha, n);
}
void nb_vrelu_f32(float *y, const float *x, int64_t n) { nb_vrelu_mt_f32(nb_get_num_threads(), y, x, n); }
void nb_vrelu_f64(double *y, const double *x, int64_t n) { nb_vrelu_mt_f64(nb_get_num_threads(), y, x, n); }
void nb_vaxpy_f32(float *y, float a, const float *x, int64_t n) { nb_vaxpy_mt_f32(nb_get_num_threads(), y, a, x, n); }
void nb_vaxpy_f64(double *y, double a, const double *x, int64_t n) {
    nb_vaxpy_mt_f64(nb_get_num_threads(), y, a, x, n);
}
void nb_vscale_f32(float *y, float a, int64_t n) { nb_vscale_mt_f32(nb_get_num_threads(), y, a, n); }
void nb_vscale_f64(double *y, double a, int64_t n) { nb_vscale_mt_f64(nb_get_num_threads(), y, a, n); }
void nb_vadd_f32(float *y, const float *x, int64_t n) { nb_vadd_mt_f32(nb_get_num_threads(), y, x, n); }
void nb_vadd_f64(double *y, const double *x, int64_t n) { nb_vadd_mt_f64(nb_get_num_threads(), y, x, n); }

/* Contiguous shares of n elements on nabla's threads (kernels/par.h), when
 * the pass is long enough to split. */
#define CONTIG_SPLIT(n, CALL) NB_PAR_SPLIT(nb_get_num_threads(), n, NB_COST_MEM, CALL)

void nb__grad_accum(nb_tensor *t, const nb_tensor *g) {
    bool fresh;
    nb_tensor *gx = nb__grad_buf_fresh(t, &fresh);
    if (!gx) return;
    const size_t es = nb_dtype_size(g->dtype);
    if (fresh) {
        unsigned char *d = gx->data;
        const unsigned char *s = g->data;
        CONTIG_SPLIT(g->numel, memcpy(d + (size_t)lo * es, s + (size_t)lo * es, (size_t)len * es));
    } else if (g->dtype == NB_F32) {
        nb_vadd_f32(nb_f32(gx), (const float *)g->data, g->numel);
    } else {
        nb_vadd_f64(nb_f64(gx), (const double *)g->data, g->numel);
    }
}

#define ADD_CONTIG(T)                                                      \
    do {                                                                   \
        T *o_ = o;                                                         \
        const T *a_ = a, *b_ = b;                                          \
        CONTIG_SPLIT(n, {                                                  \
            for (int64_t i = lo; i < lo + len; i++) o_[i] = a_[i] + b_[i]; \
        });                                                                \
    } while (0)
void nb__add_contig(nb_dtype dt, void *o, const void *a, const void *b, int64_t n) {
    if (dt == NB_F32) ADD_CONTIG(float);
    else ADD_CONTIG(double);
}
