/* ops/kernels/conv_grouped.c — grouped convolution (groups G > 1): direct
 * loops (conv_grouped_tmpl.h for f32 and f64), one thread.
 *
 * Output channel o belongs to group k = o / (O/G) and reads the Cg = C/G
 * input channels k·Cg .. k·Cg + Cg − 1 of x; w is (O, Cg, kh, kw). Each
 * output row y[n,o,i,:] is built by one pass per tap (c, p, q): a row of x
 * scaled by w[o,c,p,q] and added over the output columns j whose input
 * column j·sw − pw + q·dw lies inside the image (grouped_span), row by row
 * so the inner loop over output columns vectorizes at stride 1. Backward
 * walks the same taps: dx rows get g-row · w (a scaled add), dW the dot
 * product of the g-row with the x-row. All sums run in a fixed order. */
#include "conv.h"

/* The output columns [*lo, *hi) whose input column j·sw + off is in [0, W). */
static void grouped_span(int64_t off, int64_t sw, int64_t W, int64_t Wo, int64_t *lo, int64_t *hi) {
    int64_t a = off < 0 ? (-off + sw - 1) / sw : 0, b = W - 1 - off >= 0 ? (W - 1 - off) / sw + 1 : 0;
    if (b > Wo) b = Wo;
    *lo = a;
    *hi = b > a ? b : a;
}

#define T float
#define FN(name) name##_f32
#include "conv_grouped_tmpl.h"

#define T double
#define FN(name) name##_f64
#include "conv_grouped_tmpl.h"
