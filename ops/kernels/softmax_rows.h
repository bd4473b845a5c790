/* ops/kernels/softmax_rows.h — softmax / log_softmax over one contiguous row
 * (internal; graph-free). The exponentials run on vmath's vector kernels
 * (one thread: callers split rows between threads); sums in double. */
#ifndef NB_KERNELS_SOFTMAX_ROWS_H
#define NB_KERNELS_SOFTMAX_ROWS_H

#include <stdbool.h>
#include <stdint.h>

/* y = softmax(x) (logsm: log_softmax(x)) over n elements; y may not alias x. */
void nb_softmax_row_f32(float *y, const float *x, int64_t n, bool logsm);
void nb_softmax_row_f64(double *y, const double *x, int64_t n, bool logsm);
/* softmax backward from its output y: gx += y·(g − Σ g·y). */
void nb_softmax_row_bwd_f32(float *gx, const float *g, const float *y, int64_t n);
void nb_softmax_row_bwd_f64(double *gx, const double *g, const double *y, int64_t n);
/* log_softmax backward from its output y: gx += g − e^y Σ g; ey: n elements of scratch. */
void nb_log_softmax_row_bwd_f32(float *gx, const float *g, const float *y, float *ey, int64_t n);
void nb_log_softmax_row_bwd_f64(double *gx, const double *g, const double *y, double *ey, int64_t n);
/* In place over n elements: r = softmax(r), NaN anywhere making the row
 * NaN; false (r untouched) when every element is -inf. Sums in double in 8
 * lanes of fixed order on every ISA (only the exponentials differ). */
bool nb_softmax_row_inplace_f32(float *r, int64_t n);
bool nb_softmax_row_inplace_f64(double *r, int64_t n);
/* In place: d = y·(d − Σ d·y) (softmax backward, incoming gradient in d). */
void nb_softmax_row_bwd_inplace_f32(float *d, const float *y, int64_t n);
void nb_softmax_row_bwd_inplace_f64(double *d, const double *y, int64_t n);

#endif
