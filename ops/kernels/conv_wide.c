/* ops/kernels/conv_wide.c — the padded-width conv path (conv_wide_tmpl.h),
 * for f32 and f64, each also built for AVX2. */
#include "conv.h"
#include "cpu.h"
#include "gemm.h"
#include "par.h"

#include <string.h>

#define T float
#define FN(name) name##_f32
#define DT(name) name##_f32
#define ATTR
#include "conv_wide_tmpl.h"

#define T double
#define FN(name) name##_f64
#define DT(name) name##_f64
#define ATTR
#include "conv_wide_tmpl.h"

#if defined(__x86_64__) && defined(__GNUC__)
/* The same code compiled for AVX2 (the library's baseline is SSE2): the
 * 8-element im2row copies become one 32-byte move, the col2im adds, pads and
 * bias adds 8-wide. No multiplies in it, so no contraction: the results are
 * the same bits as the baseline build's. Chosen by nb_isa() (cpu.h). */
#define NB_CONV_AVX2 1
#define T float
#define FN(name) name##_f32_avx2
#define DT(name) name##_f32
#define ATTR __attribute__((target("avx2")))
#include "conv_wide_tmpl.h"

#define T double
#define FN(name) name##_f64_avx2
#define DT(name) name##_f64
#define ATTR __attribute__((target("avx2")))
#include "conv_wide_tmpl.h"

static bool use_avx2(void) { return nb_isa() >= ISA_AVX2; }
#else
#define NB_CONV_AVX2 0
static bool use_avx2(void) { return false; }
#endif

void nb_conv_wide_fwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *B, float *Y,
                          const nb_conv_scratch *ws) {
#if NB_CONV_AVX2
    if (use_avx2()) {
        wide_fwd_f32_avx2(d, nt, X, W, B, Y, ws);
        return;
    }
#endif
    wide_fwd_f32(d, nt, X, W, B, Y, ws);
}

void nb_conv_wide_fwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *B, double *Y,
                          const nb_conv_scratch *ws) {
#if NB_CONV_AVX2
    if (use_avx2()) {
        wide_fwd_f64_avx2(d, nt, X, W, B, Y, ws);
        return;
    }
#endif
    wide_fwd_f64(d, nt, X, W, B, Y, ws);
}

void nb_conv_wide_bwd_f32(const nb_conv_dims *d, int nt, const float *X, const float *W, const float *G, float *GX,
                          float *GW, const nb_conv_scratch *ws) {
#if NB_CONV_AVX2
    if (use_avx2()) {
        wide_bwd_f32_avx2(d, nt, X, W, G, GX, GW, ws);
        return;
    }
#endif
    wide_bwd_f32(d, nt, X, W, G, GX, GW, ws);
}

void nb_conv_wide_bwd_f64(const nb_conv_dims *d, int nt, const double *X, const double *W, const double *G, double *GX,
                          double *GW, const nb_conv_scratch *ws) {
#if NB_CONV_AVX2
    if (use_avx2()) {
        wide_bwd_f64_avx2(d, nt, X, W, G, GX, GW, ws);
        return;
    }
#endif
    wide_bwd_f64(d, nt, X, W, G, GX, GW, ws);
}
