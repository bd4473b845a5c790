/* ops/kernels/im2col.h — im2col / col2im for convolution (internal).
 *
 * Graph-free: raw pointers and sizes, outputs first. One image x (C, H, W),
 * contiguous; a kernel kh×kw with stride (sh, sw), padding before (ph, pw)
 * (the padding after is implied by Ho, Wo: positions past the image read as
 * zero) and dilation (dh, dw); output size Ho×Wo.
 *
 *   im2col:  cols[(c·kh + p)·kw + q, col0 + i·Wo + j] = x[c, i·sh − ph + p·dh, j·sw − pw + q·dw]
 *            (0 outside the image); cols has C·kh·kw rows with leading
 *            dimension ldc, so several images can sit side by side
 *            (image b at col0 = b·Ho·Wo) and be multiplied by one GEMM.
 *   col2im:  the adjoint: dx[c, ih, iw] += every cols entry that im2col
 *            copied from (c, ih, iw). Adds (gradients accumulate).
 *
 * The reference versions (_ref_) are the plain per-element loops the fast
 * ones are tested against. */
#ifndef NB_IM2COL_H
#define NB_IM2COL_H

#include <stdint.h>

typedef struct nb_conv_geom {
    int64_t C, H, W; /* input channels and size */
    int64_t kh, kw;  /* kernel */
    int64_t sh, sw;  /* stride, >= 1 */
    int64_t ph, pw;  /* padding before (top, left), >= 0 */
    int64_t dh, dw;  /* dilation, >= 1 */
    int64_t Ho, Wo;  /* output size, >= 1 */
} nb_conv_geom;

void nb_im2col_f32(float *cols, int64_t ldc, const float *x, const nb_conv_geom *g);
void nb_im2col_f64(double *cols, int64_t ldc, const double *x, const nb_conv_geom *g);
void nb_col2im_f32(float *dx, const float *cols, int64_t ldc, const nb_conv_geom *g);
void nb_col2im_f64(double *dx, const double *cols, int64_t ldc, const nb_conv_geom *g);

void nb_im2col_ref_f64(double *cols, int64_t ldc, const double *x, const nb_conv_geom *g);
void nb_col2im_ref_f64(double *dx, const double *cols, int64_t ldc, const nb_conv_geom *g);

#endif
