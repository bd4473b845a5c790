/* ops/kernels/vmath.c — dispatch of vmath.h to the best ISA, and the scalar
 * references (libm) the vector loops are tested against and fall back to. */
#include "vmath.h"
#include "cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ references */

#define REF_LOOPS(T, S, EXP, LOG, TANH, LOG1P, EXPM1, FABS)                                 \
    void nb_vexp_ref_##S(T *y, const T *x, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = EXP(x[i]); } \
    void nb_vlog_ref_##S(T *y, const T *x, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = LOG(x[i]); } \
    void nb_vtanh_ref_##S(T *y, const T *x, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = TANH(x[i]); } \
    /* stable for large |x|: never exp of a positive number */                              \
    void nb_vsigmoid_ref_##S(T *y, const T *x, int64_t n) {                                 \
        for (int64_t i = 0; i < n; i++) {                                                   \
            const T v = x[i];                                                               \
            if (v >= 0) y[i] = 1 / (1 + EXP(-v));                                           \
            else { const T e = EXP(v); y[i] = e / (1 + e); }                                \
        }                                                                                   \
    }                                                                                       \
    void nb_vlog1p_ref_##S(T *y, const T *x, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = LOG1P(x[i]); } \
    void nb_vexpm1_ref_##S(T *y, const T *x, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = EXPM1(x[i]); } \
    /* e^-|x| <= 1: never overflows */                                                      \
    void nb_vsoftplus_negabs_ref_##S(T *y, const T *x, int64_t n) {                         \
        for (int64_t i = 0; i < n; i++) y[i] = LOG1P(EXP(-FABS(x[i])));                      \
    }                                                                                       \
    void nb_vsoftplus_ref_##S(T *y, const T *x, int64_t n) {                                \
        for (int64_t i = 0; i < n; i++) {                                                   \
            const T v = x[i];                                                               \
            y[i] = (v > 0 ? v : 0) + LOG1P(EXP(-FABS(v)));                                  \
        }                                                                                   \
    }
REF_LOOPS(float, f32, expf, logf, tanhf, log1pf, expm1f, fabsf)
REF_LOOPS(double, f64, exp, log, tanh, log1p, expm1, fabs)

/* ------------------------------------------------------------ dispatch */


#if defined(__x86_64__) && defined(__GNUC__)
#define ISA_DECL(f)                                                          \
    void nb_v##f##_f32_avx512(float *, const float *, int64_t);              \
    void nb_v##f##_f64_avx512(double *, const double *, int64_t);            \
    void nb_v##f##_f32_avx2(float *, const float *, int64_t);                \
    void nb_v##f##_f64_avx2(double *, const double *, int64_t);
NB_VMATH_FUNCS(ISA_DECL)
#endif

static int g_isa = -1;

static int isa(void) {
    if (g_isa < 0) g_isa = nb_isa_resolve("NB_VMATH_ISA");
    return g_isa;
}

int nb_vmath_set_isa(const char *name) {
    int want = nb_isa_cap(name);
    if (want < 0) return 0;
    g_isa = want;
    return 1;
}

const char *nb_vmath_isa(void) {
    return nb_isa_name(isa());
}

#if defined(__x86_64__) && defined(__GNUC__)
#define ISA_SWITCH(f, S, y, x, n)                                 \
    switch (isa()) {                                              \
    case ISA_AVX512: nb_v##f##_##S##_avx512(y, x, n); return;     \
    case ISA_AVX2: nb_v##f##_##S##_avx2(y, x, n); return;         \
    default: break;                                               \
    }
#else
#define ISA_SWITCH(f, S, y, x, n)
#endif

#define DISPATCH(f)                                                                          \
    void nb_v##f##_f32(float *y, const float *x, int64_t n) {                                \
        ISA_SWITCH(f, f32, y, x, n)                                                          \
        nb_v##f##_ref_f32(y, x, n);                                                          \
    }                                                                                        \
    void nb_v##f##_f64(double *y, const double *x, int64_t n) {                              \
        ISA_SWITCH(f, f64, y, x, n)                                                          \
        nb_v##f##_ref_f64(y, x, n);                                                          \
    }
NB_VMATH_FUNCS(DISPATCH)

/* ------------------------------------------------------------ exact loops */

#define SIMPLE(NAME, S, T, PARAMS, ARGS, BODY)                                         \
    SIMPLE_DECL(NAME, S, PARAMS)                                                       \
    void nb_v##NAME##_##S PARAMS {                                                     \
        SIMPLE_SWITCH(NAME, S, ARGS)                                                   \
        for (int64_t i = 0; i < n; i++) { BODY; }                                      \
    }
#if defined(__x86_64__) && defined(__GNUC__)
#define SIMPLE_DECL(NAME, S, PARAMS) void nb_v##NAME##_##S##_avx512 PARAMS; void nb_v##NAME##_##S##_avx2 PARAMS;
#define SIMPLE_SWITCH(NAME, S, ARGS)                                                   \
    switch (isa()) {                                                                   \
    case ISA_AVX512: nb_v##NAME##_##S##_avx512 ARGS; return;                           \
    case ISA_AVX2: nb_v##NAME##_##S##_avx2 ARGS; return;                               \
    default: break;                                                                    \
    }
#else
#define SIMPLE_DECL(NAME, S, PARAMS)
#define SIMPLE_SWITCH(NAME, S, ARGS)
#endif

SIMPLE(relu, f32, float, (float *y, const float *x, int64_t n), (y, x, n), y[i] = x[i] > 0 ? x[i] : 0)
SIMPLE(relu, f64, double, (double *y, const double *x, int64_t n), (y, x, n), y[i] = x[i] > 0 ? x[i] : 0)
SIMPLE(axpy, f32, float, (float *y, float a, const float *x, int64_t n), (y, a, x, n), y[i] = y[i] + a * x[i])
SIMPLE(axpy, f64, double, (double *y, double a, const double *x, int64_t n), (y, a, x, n), y[i] = y[i] + a * x[i])
SIMPLE(scale, f32, float, (float *y, float a, int64_t n), (y, a, n), y[i] = y[i] * a)
SIMPLE(scale, f64, double, (double *y, double a, int64_t n), (y, a, n), y[i] = y[i] * a)
SIMPLE(add, f32, float, (float *y, const float *x, int64_t n), (y, x, n), y[i] = y[i] + x[i])
SIMPLE(add, f64, double, (double *y, const double *x, int64_t n), (y, x, n), y[i] = y[i] + x[i])
SIMPLE(elu_bwd, f32, float, (float *gx, const float *g, const float *x, const float *e, float alpha, int64_t n),
       (gx, g, x, e, alpha, n), gx[i] = gx[i] + (x[i] > 0 ? g[i] : g[i] * (alpha * e[i])))
SIMPLE(elu_bwd, f64, double, (double *gx, const double *g, const double *x, const double *e, double alpha, int64_t n),
       (gx, g, x, e, alpha, n), gx[i] = gx[i] + (x[i] > 0 ? g[i] : g[i] * (alpha * e[i])))
/* elu: the scalar loop is the reference (libm expm1) */
SIMPLE(elu, f32, float, (float *y, const float *x, float alpha, int64_t n), (y, x, alpha, n),
       y[i] = x[i] > 0 ? x[i] : alpha * expm1f(x[i]))
SIMPLE(elu, f64, double, (double *y, const double *x, double alpha, int64_t n), (y, x, alpha, n),
       y[i] = x[i] > 0 ? x[i] : alpha * expm1(x[i]))
