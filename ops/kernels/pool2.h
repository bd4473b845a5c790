/* ops/kernels/pool2.h — 2×2 max pooling at stride 2 without padding (internal).
 *
 * Graph-free. `planes` images (H, W), contiguous, into (Ho, Wo) with
 * 2·Ho <= H, 2·Wo <= W (every window inside the image). The winner of each
 * window is saved as its position k = 2·row + col in the window, one byte
 * per output (K; NULL when not wanted), and is the first max in row-major
 * order, the first NaN if any (the general path's rule). The compares are
 * selects over whole rows; on AVX-512 (the ISA policy of cpu.h) the f32
 * rows run 16 outputs a step with the same bits. */
#ifndef NB_KERNELS_POOL2_H
#define NB_KERNELS_POOL2_H

#include <stdint.h>

typedef struct nb_pool2_dims {
    int64_t planes, H, W, Ho, Wo;
} nb_pool2_dims;

void nb_pool2_fwd_f32(float *Y, uint8_t *K, const float *X, const nb_pool2_dims *d);
void nb_pool2_fwd_f64(double *Y, uint8_t *K, const double *X, const nb_pool2_dims *d);
/* GX += each output's gradient at its window's winner. */
void nb_pool2_bwd_f32(float *GX, const float *G, const uint8_t *K, const nb_pool2_dims *d);
void nb_pool2_bwd_f64(double *GX, const double *G, const uint8_t *K, const nb_pool2_dims *d);

#endif
