/* ops/kernels/conv_gemm.c — conv dims, the im2col + GEMM path and the bias
 * gradient (conv_gemm_tmpl.h for f32 and f64). */
#include "conv.h"
#include "gemm.h"
#include "im2col.h"

#include <string.h>

/* Elements of cols per chunk of images (1 MiB of f64, 512 KiB of f32): cols
 * stays in L2 between im2col and the GEMM's packing of it (measured on the
 * CNN benchmark: 1 << 17 was ~20% faster per epoch than 1 << 20). */
#define CHUNK_ELEMS ((int64_t)1 << 17)

nb_conv_dims nb_conv_dims_make(int64_t N, int64_t O, nb_conv_geom g) {
    nb_conv_dims d;
    d.N = N;
    d.O = O;
    d.g = g;
    d.K = g.C * g.kh * g.kw;
    d.P = g.Ho * g.Wo;
    d.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
    d.wide = !d.direct && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
    d.Hp = g.Ho + g.kh - 1;
    d.Wp = g.Wo + g.kw - 1;
    d.Pw = g.Ho * d.Wp;
    d.XP =
        g.C * d.Hp * d.Wp + g.kw + 8; /* + slack: the last runs read up to kw - 1 (im2col), 7 (im2row) past the end */
    int64_t per = d.K * (d.wide ? d.Pw : d.P);
    if (per < 1) per = 1;
    d.chunk = d.direct ? 1 : CHUNK_ELEMS / per;
    if (d.chunk < 1) d.chunk = 1;
    if (d.chunk > d.N) d.chunk = d.N > 0 ? d.N : 1;
    return d;
}

#define T float
#define FN(name) name##_f32
#define DT(name) name##_f32
#include "conv_gemm_tmpl.h"

#define T double
#define FN(name) name##_f64
#define DT(name) name##_f64
#include "conv_gemm_tmpl.h"
