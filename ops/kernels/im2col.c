/* ops/kernels/im2col.c — im2col / col2im (see im2col.h).
 *
 * The fast versions work a row of cols at a time (one (c, p, q) and one
 * output row i): the input row ih = i·sh − ph + p·dh is either outside the
 * image (a run of zeros) or gives the range [jlo, jhi) of output columns
 * whose input column iw = j·sw + (q·dw − pw) lies inside it, worked out
 * once, so the inner loop is a plain strided copy (memcpy at stride 1)
 * with no bounds tests. */
#include "im2col.h"

#include <stdbool.h>
#include <string.h>

/* Output columns j in [*lo, *hi) read input columns j·s + off inside [0, n). */
static inline void col_range(int64_t off, int64_t s, int64_t n, int64_t Wo, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = n - 1 - off < 0 ? 0 : (n - 1 - off) / s + 1;
    if (b > Wo) b = Wo;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

#define NB_IM2COL_DEF(T, SUF)                                                                        \
    void nb_im2col_##SUF(T *cols, int64_t ldc, const T *x, const nb_conv_geom *g) {                  \
        const int64_t H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo, sw = g->sw;                        \
        for (int64_t c = 0; c < g->C; c++)                                                           \
            for (int64_t p = 0; p < g->kh; p++)                                                      \
                for (int64_t q = 0; q < g->kw; q++) {                                                \
                    T *row = cols + ((c * g->kh + p) * g->kw + q) * ldc; /* (Ho·Wo) */              \
                    const int64_t off = q * g->dw - g->pw;                                           \
                    int64_t lo, hi;                                                                  \
                    col_range(off, sw, W, Wo, &lo, &hi);                                             \
                    for (int64_t i = 0; i < Ho; i++) {                                               \
                        T *r = row + i * Wo;                                                         \
                        const int64_t ih = i * g->sh - g->ph + p * g->dh;                            \
                        if (ih < 0 || ih >= H || lo == hi) {                                         \
                            for (int64_t j = 0; j < Wo; j++) r[j] = 0;                               \
                            continue;                                                                \
                        }                                                                            \
                        const T *xr = x + (c * H + ih) * W + off + lo * sw; /* input of j = lo */    \
                        for (int64_t j = 0; j < lo; j++) r[j] = 0;                                   \
                        if (sw == 1) /* rows are short (28 for MNIST): a loop beats a memcpy call */ \
                            for (int64_t j = lo; j < hi; j++) r[j] = xr[j - lo];                     \
                        else                                                                         \
                            for (int64_t j = lo; j < hi; j++) r[j] = xr[(j - lo) * sw];              \
                        for (int64_t j = hi; j < Wo; j++) r[j] = 0;                                  \
                    }                                                                                \
                }                                                                                    \
    }                                                                                                \
                                                                                                     \
    void nb_col2im_##SUF(T *dx, const T *cols, int64_t ldc, const nb_conv_geom *g) {                 \
        const int64_t H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo, sw = g->sw;                        \
        for (int64_t c = 0; c < g->C; c++)                                                           \
            for (int64_t p = 0; p < g->kh; p++)                                                      \
                for (int64_t q = 0; q < g->kw; q++) {                                                \
                    const T *row = cols + ((c * g->kh + p) * g->kw + q) * ldc;                       \
                    const int64_t off = q * g->dw - g->pw;                                           \
                    int64_t lo, hi;                                                                  \
                    col_range(off, sw, W, Wo, &lo, &hi);                                             \
                    if (lo == hi) continue;                                                          \
                    for (int64_t i = 0; i < Ho; i++) {                                               \
                        const int64_t ih = i * g->sh - g->ph + p * g->dh;                            \
                        if (ih < 0 || ih >= H) continue;                                             \
                        const T *r = row + i * Wo;                                                   \
                        T *xr = dx + (c * H + ih) * W + off + lo * sw; /* input of j = lo */         \
                        if (sw == 1)                                                                 \
                            for (int64_t j = lo; j < hi; j++) xr[j - lo] += r[j];                    \
                        else                                                                         \
                            for (int64_t j = lo; j < hi; j++) xr[(j - lo) * sw] += r[j];             \
                    }                                                                                \
                }                                                                                    \
    }

NB_IM2COL_DEF(float, f32)
NB_IM2COL_DEF(double, f64)

/* The definitions, element by element. */
void nb_im2col_ref_f64(double *cols, int64_t ldc, const double *x, const nb_conv_geom *g) {
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t p = 0; p < g->kh; p++)
            for (int64_t q = 0; q < g->kw; q++)
                for (int64_t i = 0; i < g->Ho; i++)
                    for (int64_t j = 0; j < g->Wo; j++) {
                        int64_t ih = i * g->sh - g->ph + p * g->dh, iw = j * g->sw - g->pw + q * g->dw;
                        bool in = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W;
                        cols[((c * g->kh + p) * g->kw + q) * ldc + i * g->Wo + j] =
                            in ? x[(c * g->H + ih) * g->W + iw] : 0.0;
                    }
}

void nb_col2im_ref_f64(double *dx, const double *cols, int64_t ldc, const nb_conv_geom *g) {
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t p = 0; p < g->kh; p++)
            for (int64_t q = 0; q < g->kw; q++)
                for (int64_t i = 0; i < g->Ho; i++)
                    for (int64_t j = 0; j < g->Wo; j++) {
                        int64_t ih = i * g->sh - g->ph + p * g->dh, iw = j * g->sw - g->pw + q * g->dw;
                        if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W)
                            dx[(c * g->H + ih) * g->W + iw] +=
                                cols[((c * g->kh + p) * g->kw + q) * ldc + i * g->Wo + j];
                    }
}
