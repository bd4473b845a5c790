/* ops/kernels/conv_implicit.c — stride 1 / dilation 1 convolution on the
 * AVX-512 direct kernels (conv_implicit_tmpl.h for f32 and f64; used after
 * nb_convd_avail()).
 *
 * dx is the same kernel on gout padded by k − 1 − pad (the adjoint: a
 * "full" correlation with the flipped, transposed weights), added into dx;
 * it needs pad <= k − 1 on every side (nb_conv_implicit_dx_ok). */
#include "conv.h"
#include "conv_direct.h"
#include "par.h"

#include <string.h>

#define DW_IMGS 4 /* images per dW kernel call: its accumulator tile stays in registers across them */

bool nb_conv_implicit_dx_ok(const nb_conv_dims *d) {
    return d->g.ph <= d->g.kh - 1 && d->g.pw <= d->g.kw - 1 && d->g.Ho <= d->g.H + d->g.ph &&
        d->g.Wo <= d->g.W + d->g.pw;
}

#define T float
#define FN(name) name##_f32
#define DT(name) name##_f32
#include "conv_implicit_tmpl.h"

#define T double
#define FN(name) name##_f64
#define DT(name) name##_f64
#include "conv_implicit_tmpl.h"
