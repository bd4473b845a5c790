/* ops/kernels/conv.h — the convolution paths behind ops/conv.c (internal).
 *
 * Graph-free: raw pointers, sizes and a thread count, outputs first where
 * there are several. Cross-correlation of N images x (N, C, H, W) with
 * w (O, C/groups, kh, kw), bias b (O) or NULL, into y (N, O, Ho, Wo);
 * backward adds into GX (x's gradient), GW, GB (each may be NULL: not
 * wanted) from G = dL/dy. ops/conv.c validates, picks the path, allocates
 * and calls one of:
 *
 *   gemm     im2col + GEMM, any geometry (conv_gemm.c). Per image n, with
 *            K = C·kh·kw and P = Ho·Wo: cols (K, P) = im2col(x[n]),
 *            y[n] (O, P) = W (O, K) @ cols (+ b[o] on row o). Backward:
 *            dW += G @ colsᵀ (cols recomputed), dcols = Wᵀ @ G,
 *            dx[n] += col2im(dcols), db[o] += Σ_p G[o, p]. Several images
 *            per GEMM: their cols side by side as (K, nb·P), `chunk` images
 *            at most (cols stays in L2). One thread (the GEMM owns any).
 *   wide     stride 1, dilation 1: the padded-width layout (conv_wide.c),
 *            images split between nt threads, single-threaded GEMMs inside.
 *   implicit stride 1, dilation 1 on AVX-512 (nb_convd_avail): the direct
 *            kernels of conv_direct.c driven image by image (conv_implicit.c).
 *   grouped  groups > 1: direct loops, one thread (conv_grouped.c).
 *
 * nt is the number of threads the call may use (nabla's count): the paths
 * split their images between them when the whole call carries at least
 * nb_par_min() multiply-adds (nb_conv_threads), and each GEMM decides for
 * itself (kernels/gemm.h; inside a region it stays on its thread).
 * Scratch comes from the caller's allocator (nb_conv_scratch: ops/conv.c
 * takes it from the scope's arena), asked for before any parallel region;
 * when it says no, y is zeroed (forward) or nothing is added (backward) —
 * the allocator has reported the error. Results do not depend on nt unless
 * said (the implicit path's dW and the wide path's dW sum per-thread
 * accumulators in thread order). */
#ifndef NB_KERNELS_CONV_H
#define NB_KERNELS_CONV_H

#include "im2col.h"
#include "par.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nb_conv_dims {
    nb_conv_geom g;
    int64_t N, O, K, P, chunk; /* K = C·kh·kw, P = Ho·Wo, chunk: images per GEMM */
    bool direct;               /* 1×1 kernel, stride 1, no padding: cols is x itself */
    bool wide;                 /* stride 1, dilation 1 (not direct): the wide/implicit paths */
    int64_t Hp, Wp, Pw, XP;    /* wide: padded image Hp×Wp, Pw = Ho·Wp columns per image,
                                  XP = padded image size + slack */
} nb_conv_dims;

/* The dims of N images of geometry g (C/groups input channels per kernel
 * for groups > 1 is the caller's business: g.C is x's C) and O outputs. */
nb_conv_dims nb_conv_dims_make(int64_t N, int64_t O, nb_conv_geom g);

/* Scratch memory: get returns 64-byte aligned memory or NULL (having
 * reported why); put gives it back. */
typedef struct nb_conv_scratch {
    void *(*get)(void *ctx, size_t bytes);
    void (*put)(void *ctx, void *p);
    void *ctx;
} nb_conv_scratch;
static inline void *nb_conv_get(const nb_conv_scratch *s, size_t bytes) { return s->get(s->ctx, bytes); }
static inline void nb_conv_put(const nb_conv_scratch *s, void *p) {
    if (p) s->put(s->ctx, p);
}

/* Threads for splitting the images of a call: nt when the call carries at
 * least nb_par_min() multiply-adds and no region is open, else 1. */
static inline int nb_conv_threads(const nb_conv_dims *d, int nt) {
    return nb_par_threads(nt, (double)d->N * (double)d->O * (double)d->K * (double)d->P);
}

/* im2col + GEMM (any geometry, groups 1). */
void nb_conv_gemm_fwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *B, float *Y,
                          const nb_conv_scratch *s);
void nb_conv_gemm_fwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *B, double *Y,
                          const nb_conv_scratch *s);
void nb_conv_gemm_bwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *G, float *GX,
                          float *GW, const nb_conv_scratch *s);
void nb_conv_gemm_bwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *G, double *GX,
                          double *GW, const nb_conv_scratch *s);
/* GB[o] += Σ over images and positions of G (N, O, P): each image's rows
 * summed as 8 partial sums over p mod 8, the tail, then the partial sums in
 * order (nb_convd_rowsums gives the same bits), images in order. */
void nb_conv_bias_grad_f32(const nb_conv_dims *d, const float *G, float *GB, const nb_conv_scratch *s);
void nb_conv_bias_grad_f64(const nb_conv_dims *d, const double *G, double *GB, const nb_conv_scratch *s);

/* Stride 1, dilation 1, not 1×1-direct (d->wide): the padded-width layout. */
void nb_conv_wide_fwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *B, float *Y,
                          const nb_conv_scratch *s);
void nb_conv_wide_fwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *B, double *Y,
                          const nb_conv_scratch *s);
void nb_conv_wide_bwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *G, float *GX,
                          float *GW, const nb_conv_scratch *s);
void nb_conv_wide_bwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *G, double *GX,
                          double *GW, const nb_conv_scratch *s);

/* Stride 1, dilation 1 on AVX-512 (nb_convd_avail()): the implicit GEMM.
 * The backward's dx needs every pad <= k − 1 (nb_conv_implicit_dx_ok);
 * otherwise pass GX NULL and take dx from the wide path. */
bool nb_conv_implicit_dx_ok(const nb_conv_dims *d);
void nb_conv_implicit_fwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *B, float *Y,
                              const nb_conv_scratch *s);
void nb_conv_implicit_fwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *B,
                              double *Y, const nb_conv_scratch *s);
void nb_conv_implicit_bwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *G, float *GX,
                              float *GW, float *GB, const nb_conv_scratch *s);
void nb_conv_implicit_bwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *G,
                              double *GX, double *GW, double *GB, const nb_conv_scratch *s);

/* groups > 1 (w is (O, C/groups, kh, kw)). */
void nb_conv_grouped_fwd_f32(const nb_conv_dims *d, int64_t groups, const float *X, const float *W, const float *B,
                             float *Y);
void nb_conv_grouped_fwd_f64(const nb_conv_dims *d, int64_t groups, const double *X, const double *W, const double *B,
                             double *Y);
void nb_conv_grouped_bwd_f32(const nb_conv_dims *d, int64_t groups, const float *X, const float *W, const float *G,
                             float *GX, float *GW, float *GB);
void nb_conv_grouped_bwd_f64(const nb_conv_dims *d, int64_t groups, const double *X, const double *W, const double *G,
                             double *GX, double *GW, double *GB);

#endif
