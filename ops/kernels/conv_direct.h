/* ops/kernels/conv_direct.h — direct (implicit-GEMM) stride-1 convolution
 * with AVX-512 micro-kernels (internal).
 *
 * Graph-free. One image at a time, "valid" correlation of an already padded
 * input in (Ci, Hi, Wi) with a kh×kw kernel, stride 1, dilation 1:
 *
 *   out[o, i, j] (+)= Σ_{c,p,q} w[o, c, p, q] · in[c, i + p, j + q]  (+ bias[o])
 *
 * out is (Co, Ho, Wo), Ho = Hi − kh + 1, Wo = Wi − kw + 1, contiguous. No
 * im2col: row k = (c, p, q) of the implicit cols matrix is `in` shifted by
 * off[k] = (c·Hi + p)·Wi + q, so the micro-kernel loads its B vectors
 * straight from the padded image (which stays in L1/L2) and broadcasts the
 * weights from a k-major packed copy. A register tile is MR output channels
 * × NV vectors of VL output columns of one output row each (a row wider
 * than VL is several vectors, the last one masked); the tile is stored into
 * out with masked stores (no scatter). Every output sums its Ci·kh·kw
 * products in k order, one FMA each, then adds bias (or the old value):
 * the same bits whatever the thread count or tiling position.
 *
 * `in` must have NB_CONVD_SLACK readable (finite, e.g. zero) elements past
 * its Ci·Hi·Wi: the last vector of a row reads up to VL − 1 past the row.
 *
 * Use: nb_convd_avail() (the CPU has AVX-512F and the GEMM ISA cap allows
 * it), then a plan (packed weights, offsets, vector table) made once per call
 * in plan_bytes of caller memory (64-byte aligned), then run per image (any
 * thread: the plan is read-only). */
#ifndef NB_CONV_DIRECT_H
#define NB_CONV_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_CONVD_SLACK 32

typedef struct nb_convd_geom {
    int64_t Ci, Hi, Wi; /* padded input image */
    int64_t kh, kw;     /* kernel */
    int64_t Co;         /* output channels; output is (Co, Hi − kh + 1, Wi − kw + 1) */
} nb_convd_geom;

bool nb_convd_avail(void);

/* Bytes of plan memory for geometry g and element size (4 or 8). */
size_t nb_convd_plan_bytes(const nb_convd_geom *g, size_t elsize);

/* Fills the plan at mem (64-byte aligned). w is (Co, Ci, kh, kw); with flip,
 * w is instead (Ci, Co, kh, kw) and the kernel used is
 * w'[o, c, p, q] = w[c, o, kh − 1 − p, kw − 1 − q] (the adjoint: dx from
 * the padded gradient of the output). w may be NULL for a plan used only
 * by nb_convd_dw. */
void nb_convd_plan_f32(void *mem, const nb_convd_geom *g, const float *w, bool flip);
void nb_convd_plan_f64(void *mem, const nb_convd_geom *g, const double *w, bool flip);

/* out (Co, Ho, Wo) = conv(in) + bias (bias may be NULL), or with accumulate
 * out += conv(in) (bias ignored). */
void nb_convd_run_f32(const void *plan, const float *in, float *out, const float *bias, bool accumulate);
void nb_convd_run_f64(const void *plan, const double *in, double *out, const double *bias, bool accumulate);

/* The weight gradient, with a forward plan (flip false; its weights are not
 * read): for nimg images, in[i] padded (Ci, Hi, Wi) as above and g[i] the
 * output gradient (Co, Ho, Wo),
 *   acc[(o·K + k)·VL + l] += Σ over the columns j ≡ l (per vector) of g·in,
 * per-lane partial sums (VL = 16 for f32, 8 for f64; K = Ci·kh·kw); acc has
 * nb_convd_dw_acc_len elements, zeroed by the caller once. Then
 * nb_convd_dw_finish adds each (o, k)'s lanes, in a fixed order, into
 * dw (Co, K). Lanes run along output columns (a vector of columns of one
 * output row, as in the forward), so no transpose of g is needed. */
size_t nb_convd_dw_acc_len(const void *plan);
void nb_convd_dw_f32(const void *plan, int nimg, const float *const *in, const float *const *g, float *acc);
void nb_convd_dw_f64(const void *plan, int nimg, const double *const *in, const double *const *g, double *acc);
void nb_convd_dw_finish_f32(const void *plan, const float *acc, float *dw);
void nb_convd_dw_finish_f64(const void *plan, const double *acc, double *dw);

/* The same weight gradient (the same acc layout, finished by
 * nb_convd_dw_finish) by a kernel that shifts one load of an input row into
 * the kw taps of a kernel row, when nb_convd_dwr_ok(plan) (kw ≤ 6). g[i] is
 * the output gradient with rows padded to nb_convd_dwr_gs(plan) elements (a
 * multiple of VL; zeros past Wo) and 64-byte aligned; in[i] as above, with
 * NB_CONVD_SLACK readable elements past it (each vector reads 2·VL input
 * columns). */
bool nb_convd_dwr_ok(const void *plan);
int64_t nb_convd_dwr_gs(const void *plan);
void nb_convd_dwr_f32(const void *plan, int nimg, const float *const *in, const float *const *g, float *acc);
void nb_convd_dwr_f64(const void *plan, int nimg, const double *const *in, const double *const *g, double *acc);

/* The weight gradient with lanes over output channels, when
 * nb_convd_dwo_ok(plan) (Co a multiple of VL): per image, g is transposed
 * into gt (Ho·Wo·Co elements of caller scratch) and dwt (K, Co) += the
 * image's dW, transposed; each element sums its positions in order.
 * nb_convd_dwo_finish adds dwt into dw (Co, K). */
bool nb_convd_dwo_ok(const void *plan);
void nb_convd_dwo_f32(const void *plan, const float *in, const float *g, float *gt, float *dwt);
void nb_convd_dwo_f64(const void *plan, const double *in, const double *g, double *gt, double *dwt);
void nb_convd_dwo_finish_f32(const void *plan, const float *dwt, float *dw);
void nb_convd_dwo_finish_f64(const void *plan, const double *dwt, double *dw);

/* rows × cols elements from src (row stride ss) to dst (row stride ds), in
 * vectors (the last one of a row masked): the padding copies of the direct
 * path, many short rows (a call of memcpy each cost more than the copy). */
void nb_convd_copy_f32(float *dst, int64_t ds, const float *src, int64_t ss, int64_t rows, int64_t cols);
void nb_convd_copy_f64(double *dst, int64_t ds, const double *src, int64_t ss, int64_t rows, int64_t cols);

/* out[o] (o < O) = the sum of row o of G (O, P), the bias gradient of one
 * image, with the bits of the portable loop (8 partial sums over p mod 8,
 * the tail, then the partial sums in order), several rows at once. */
void nb_convd_rowsums_f32(const float *G, int64_t O, int64_t P, float *out);
void nb_convd_rowsums_f64(const double *G, int64_t O, int64_t P, double *out);

#endif
