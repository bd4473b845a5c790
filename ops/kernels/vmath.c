/* ops/kernels/vmath.c — dispatch of vmath.h to the best ISA, and the scalar
 * references (libm) the vector loops are tested against and fall back to. */
#include "vmath.h"

#include <stdatomic.h>
#include "cpu.h"
#include "par.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ references */

#define REF_LOOPS(T, S, EXP, LOG, TANH, LOG1P, EXPM1, FABS, ERF, ERFC)  \
    void nb_vexp_ref_##S(T *y, const T *x, int64_t n) {                 \
        for (int64_t i = 0; i < n; i++) y[i] = EXP(x[i]);               \
    }                                                                   \
    void nb_vlog_ref_##S(T *y, const T *x, int64_t n) {                 \
        for (int64_t i = 0; i < n; i++) y[i] = LOG(x[i]);               \
    }                                                                   \
    void nb_vtanh_ref_##S(T *y, const T *x, int64_t n) {                \
        for (int64_t i = 0; i < n; i++) y[i] = TANH(x[i]);              \
    }                                                                   \
    /* stable for large |x|: never exp of a positive number */          \
    void nb_vsigmoid_ref_##S(T *y, const T *x, int64_t n) {             \
        for (int64_t i = 0; i < n; i++) {                               \
            const T v = x[i];                                           \
            if (v >= 0) y[i] = 1 / (1 + EXP(-v));                       \
            else {                                                      \
                const T e = EXP(v);                                     \
                y[i] = e / (1 + e);                                     \
            }                                                           \
        }                                                               \
    }                                                                   \
    void nb_vlog1p_ref_##S(T *y, const T *x, int64_t n) {               \
        for (int64_t i = 0; i < n; i++) y[i] = LOG1P(x[i]);             \
    }                                                                   \
    void nb_vexpm1_ref_##S(T *y, const T *x, int64_t n) {               \
        for (int64_t i = 0; i < n; i++) y[i] = EXPM1(x[i]);             \
    }                                                                   \
    void nb_verf_ref_##S(T *y, const T *x, int64_t n) {                 \
        for (int64_t i = 0; i < n; i++) y[i] = ERF(x[i]);               \
    }                                                                   \
    void nb_verfc_ref_##S(T *y, const T *x, int64_t n) {                \
        for (int64_t i = 0; i < n; i++) y[i] = ERFC(x[i]);              \
    }                                                                   \
    /* e^-|x| <= 1: never overflows */                                  \
    void nb_vsoftplus_negabs_ref_##S(T *y, const T *x, int64_t n) {     \
        for (int64_t i = 0; i < n; i++) y[i] = LOG1P(EXP(-FABS(x[i]))); \
    }                                                                   \
    void nb_vsoftplus_ref_##S(T *y, const T *x, int64_t n) {            \
        for (int64_t i = 0; i < n; i++) {                               \
            const T v = x[i];                                           \
            y[i] = (v > 0 ? v : 0) + LOG1P(EXP(-FABS(v)));              \
        }                                                               \
    }
REF_LOOPS(float, f32, expf, logf, tanhf, log1pf, expm1f, fabsf, erff, erfcf)
REF_LOOPS(double, f64, exp, log, tanh, log1p, expm1, fabs, erf, erfc)

/* ------------------------------------------------------------ dispatch */

#if defined(__x86_64__) && defined(__GNUC__)
#define ISA_DECL(f)                                               \
    void nb_v##f##_f32_avx512(float *, const float *, int64_t);   \
    void nb_v##f##_f64_avx512(double *, const double *, int64_t); \
    void nb_v##f##_f32_avx2(float *, const float *, int64_t);     \
    void nb_v##f##_f64_avx2(double *, const double *, int64_t);
NB_VMATH_FUNCS(ISA_DECL)
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define ISA_SWITCH(f, S, y, x, n)                             \
    switch (nb_isa()) {                                       \
    case ISA_AVX512: nb_v##f##_##S##_avx512(y, x, n); return; \
    case ISA_AVX2: nb_v##f##_##S##_avx2(y, x, n); return;     \
    default: break;                                           \
    }
#else
#define ISA_SWITCH(f, S, y, x, n)
#endif

/* Long arrays are split between the nt threads the caller allows (when
 * n · COST reaches nb_par_min(), kernels/par.h): each
 * thread takes one contiguous share, a whole number of 16-element vectors
 * but the last, so every element meets the same vector code wherever it
 * sits and the bits do not depend on the thread count. COST: multiply-add
 * equivalents per element (SPLIT_MEM for the memory-bound loops, SPLIT_MATH
 * for the SLEEF functions, ~4x dearer than a pass over memory). CALL uses
 * lo (first element) and len. */
#define SPLIT_MEM NB_COST_MEM
#define SPLIT_MATH NB_COST_MATH
#define SPLIT(COST, N, CALL) NB_PAR_SPLIT(nt, N, COST, CALL)

#define DISPATCH(f)                                                        \
    static void f##_one_f32(float *y, const float *x, int64_t n) {         \
        ISA_SWITCH(f, f32, y, x, n)                                        \
        nb_v##f##_ref_f32(y, x, n);                                        \
    }                                                                      \
    static void f##_one_f64(double *y, const double *x, int64_t n) {       \
        ISA_SWITCH(f, f64, y, x, n)                                        \
        nb_v##f##_ref_f64(y, x, n);                                        \
    }                                                                      \
    void nb_v##f##_mt_f32(int nt, float *y, const float *x, int64_t n) {   \
        SPLIT(SPLIT_MATH, n, f##_one_f32(y + lo, x + lo, len));            \
    }                                                                      \
    void nb_v##f##_mt_f64(int nt, double *y, const double *x, int64_t n) { \
        SPLIT(SPLIT_MATH, n, f##_one_f64(y + lo, x + lo, len));            \
    }
NB_VMATH_FUNCS(DISPATCH)

/* ------------------------------------------------------------ exact loops */

/* ARGS_AT: the arguments for elements [lo, lo + len). */
#define UNPAREN(...) __VA_ARGS__
#define SIMPLE(NAME, S, T, COST, PARAMS, ARGS, ARGS_AT, BODY) \
    SIMPLE_DECL(NAME, S, PARAMS)                              \
    static void NAME##_one_##S PARAMS {                       \
        SIMPLE_SWITCH(NAME, S, ARGS)                          \
        for (int64_t i = 0; i < n; i++) {                     \
            BODY;                                             \
        }                                                     \
    }                                                         \
    void nb_v##NAME##_mt_##S(int nt, UNPAREN PARAMS) { SPLIT(COST, n, NAME##_one_##S ARGS_AT); }
#if defined(__x86_64__) && defined(__GNUC__)
#define SIMPLE_DECL(NAME, S, PARAMS)       \
    void nb_v##NAME##_##S##_avx512 PARAMS; \
    void nb_v##NAME##_##S##_avx2 PARAMS;
#define SIMPLE_SWITCH(NAME, S, ARGS)                         \
    switch (nb_isa()) {                                      \
    case ISA_AVX512: nb_v##NAME##_##S##_avx512 ARGS; return; \
    case ISA_AVX2: nb_v##NAME##_##S##_avx2 ARGS; return;     \
    default: break;                                          \
    }
#else
#define SIMPLE_DECL(NAME, S, PARAMS)
#define SIMPLE_SWITCH(NAME, S, ARGS)
#endif

#define M SPLIT_MEM
SIMPLE(relu, f32, float, M, (float *y, const float *x, int64_t n), (y, x, n), (y + lo, x + lo, len),
       y[i] = x[i] < 0 ? 0 : x[i])
SIMPLE(relu, f64, double, M, (double *y, const double *x, int64_t n), (y, x, n), (y + lo, x + lo, len),
       y[i] = x[i] < 0 ? 0 : x[i])
SIMPLE(axpy, f32, float, M, (float *y, float a, const float *x, int64_t n), (y, a, x, n), (y + lo, a, x + lo, len),
       y[i] = y[i] + a * x[i])
SIMPLE(axpy, f64, double, M, (double *y, double a, const double *x, int64_t n), (y, a, x, n), (y + lo, a, x + lo, len),
       y[i] = y[i] + a * x[i])
SIMPLE(scale, f32, float, M, (float *y, float a, int64_t n), (y, a, n), (y + lo, a, len), y[i] = y[i] * a)
SIMPLE(scale, f64, double, M, (double *y, double a, int64_t n), (y, a, n), (y + lo, a, len), y[i] = y[i] * a)
SIMPLE(add, f32, float, M, (float *y, const float *x, int64_t n), (y, x, n), (y + lo, x + lo, len), y[i] = y[i] + x[i])
SIMPLE(add, f64, double, M, (double *y, const double *x, int64_t n), (y, x, n), (y + lo, x + lo, len),
       y[i] = y[i] + x[i])
SIMPLE(elu_bwd, f32, float, M, (float *gx, const float *g, const float *x, const float *e, float alpha, int64_t n),
       (gx, g, x, e, alpha, n), (gx + lo, g + lo, x + lo, e + lo, alpha, len),
       gx[i] = gx[i] + (x[i] > 0 ? g[i] : g[i] * (alpha * e[i])))
SIMPLE(elu_bwd, f64, double, M,
       (double *gx, const double *g, const double *x, const double *e, double alpha, int64_t n),
       (gx, g, x, e, alpha, n), (gx + lo, g + lo, x + lo, e + lo, alpha, len),
       gx[i] = gx[i] + (x[i] > 0 ? g[i] : g[i] * (alpha * e[i])))
#undef M
/* elu: the scalar loop is the reference (libm expm1) */
SIMPLE(elu, f32, float, SPLIT_MATH, (float *y, const float *x, float alpha, int64_t n), (y, x, alpha, n),
       (y + lo, x + lo, alpha, len), y[i] = x[i] > 0 ? x[i] : alpha * expm1f(x[i]))
SIMPLE(elu, f64, double, SPLIT_MATH, (double *y, const double *x, double alpha, int64_t n), (y, x, alpha, n),
       (y + lo, x + lo, alpha, len), y[i] = x[i] > 0 ? x[i] : alpha * expm1(x[i]))
