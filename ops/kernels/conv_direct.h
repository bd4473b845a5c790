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
 * the padded gradient of the output). */
void nb_convd_plan_f32(void *mem, const nb_convd_geom *g, const float *w, bool flip);
void nb_convd_plan_f64(void *mem, const nb_convd_geom *g, const double *w, bool flip);

/* out (Co, Ho, Wo) = conv(in) + bias (bias may be NULL), or with accumulate
 * out += conv(in) (bias ignored). */
void nb_convd_run_f32(const void *plan, const float *in, float *out, const float *bias, bool accumulate);
void nb_convd_run_f64(const void *plan, const double *in, double *out, const double *bias, bool accumulate);

#endif
