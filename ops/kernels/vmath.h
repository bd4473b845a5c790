/* ops/kernels/vmath.h — elementwise math over arrays, on SLEEF (internal).
 *
 *   nb_v<f>_mt_<t>(nt, y, x, n):  y[i] = f(x[i]) for i < n   (y may equal x)
 *
 * on at most nt threads (taken when the call is long enough, kernels/par.h:
 * each thread a contiguous share, so the bits do not depend on nt). The
 * names without _mt (nb_v<f>_<t>(y, x, n)) are the same with nabla's thread
 * count, for ops: defined at op level in ops/threads.c.
 *
 * f: exp, log, tanh, sigmoid, log1p, expm1, erf, erfc, softplus (log(1 + e^x)) and
 * softplus_negabs (softplus(−|x|) = log1p(e^−|x|), the bounded part of
 * softplus: softplus(x) = max(x, 0) + softplus_negabs(x)). The vector width
 * is nb_isa() (kernels/cpu.h: the CPU's best, capped by NB_ISA): AVX-512F (Sleef_*f16/d8_u10avx512f),
 * AVX2+FMA (Sleef_*f8/d4_u10avx2), else the scalar reference (libm). A tail
 * shorter than a vector is run through the same vector function on a padded
 * copy, so every element gets the same result wherever it sits in the array.
 *
 * Accuracy (measured by tests/test_kernels.c against long-double libm, over
 * wide ranges and the special values, on every ISA the CPU has):
 * SLEEF's u10 functions are within 1.0 ULP (exp, log, tanh, log1p, expm1,
 * erf; f32 and f64), u15 erfc within 1.5 ULP; the scalar fallback is
 * glibc's (exp/log/log1p/expm1 1 ULP, tanhf 2 ULP, erfcf 3 ULP and erfc 4
 * ULP over 2·10⁷ inputs). sigmoid is computed as r = 1/(1 + e), e = exp(-|x|), y = r
 * for x >= 0 and e*r for x < 0: no overflow for any x, within 3 ULP (exp's
 * 1 ULP plus two roundings; 2 measured); y reaches 0 only below about -104
 * (f32) / -745 (f64), like the scalar formula. softplus_negabs is
 * log1p(exp(−|x|)): exp's error passes through log1p damped (the condition
 * number e/((1+e)·log1p(e)) is <= 1), so within 2 ULP (1 measured in f32);
 * softplus adds max(x, 0) with one more rounding: within 2 ULP (1 measured).
 * Neither overflows for any x (softplus(x) = x above about 17 (f32) / 37
 * (f64), = e^x below, 0 at −inf).
 * SLEEF 3.5's log1p returns +inf above 1e38 (f32) / 1e307 (f64); lanes above
 * 1e30 / 1e300 take log(x) instead, which there is log1p(x) rounded the same
 * (1/x is far below half an ULP of log x).
 * Special values follow libm: exp(-inf) = 0, log(0) = -inf, log(x<0) = NaN,
 * log1p(-1) = -inf, log1p(x<-1) = NaN, expm1(-inf) = -1, ±0 keep their sign
 * in log1p/expm1, NaN in gives NaN out. tests/test_kernels.c checks every ISA
 * against the reference (nb_v*_ref_*) within these bounds. */
#ifndef NB_VMATH_H
#define NB_VMATH_H

#include <stdint.h>

#define NB_VMATH_FUNCS(X) \
    X(exp) X(log) X(tanh) X(sigmoid) X(log1p) X(expm1) X(softplus) X(softplus_negabs) X(erf) X(erfc)

#define NB_VMATH_DECL(f)                                                  \
    void nb_v##f##_mt_f32(int nt, float *y, const float *x, int64_t n);   \
    void nb_v##f##_mt_f64(int nt, double *y, const double *x, int64_t n); \
    void nb_v##f##_f32(float *y, const float *x, int64_t n);              \
    void nb_v##f##_f64(double *y, const double *x, int64_t n);            \
    void nb_v##f##_ref_f32(float *y, const float *x, int64_t n);          \
    void nb_v##f##_ref_f64(double *y, const double *x, int64_t n);
NB_VMATH_FUNCS(NB_VMATH_DECL)
#undef NB_VMATH_DECL

/* nb_v<f> for the element type T (float or double), e.g. inside
 * NB_FLOAT_DISPATCH: NB_VMATH_T(exp, T, y, x, n). */
#define NB_VMATH_T(f, T, y, x, n)                                                      \
    (sizeof(T) == sizeof(float) ? nb_v##f##_f32((float *)(y), (const float *)(x), (n)) \
                                : nb_v##f##_f64((double *)(y), (const double *)(x), (n)))

/* elu: y[i] = x[i] > 0 ? x[i] : alpha·expm1(x[i]) (expm1 as above, then one
 * rounding: within 2 ULP of alpha·expm1(x); the tail through the padded
 * vector as for f above), and its backward, exact given e[i] = exp(x[i])
 * (one rounding each, as the exact loops below):
 * gx[i] += x[i] > 0 ? g[i] : g[i]·(alpha·e[i]). (Not g·(y + alpha): in f32
 * y + alpha cancels for x << 0, ~1e-3 relative error at x = -10; PyTorch
 * also uses exp(x).) */
void nb_velu_mt_f32(int nt, float *y, const float *x, float alpha, int64_t n);
void nb_velu_mt_f64(int nt, double *y, const double *x, double alpha, int64_t n);
void nb_velu_bwd_mt_f32(int nt, float *gx, const float *g, const float *x, const float *e, float alpha, int64_t n);
void nb_velu_bwd_mt_f64(int nt, double *gx, const double *g, const double *x, const double *e, double alpha, int64_t n);
void nb_velu_f32(float *y, const float *x, float alpha, int64_t n);
void nb_velu_f64(double *y, const double *x, double alpha, int64_t n);
void nb_velu_bwd_f32(float *gx, const float *g, const float *x, const float *e, float alpha, int64_t n);
void nb_velu_bwd_f64(double *gx, const double *g, const double *x, const double *e, double alpha, int64_t n);

/* Exact elementwise loops (each result rounded once, as the scalar code):
 *   nb_vrelu:  y[i] = x[i] < 0 ? 0 : x[i]      nb_vaxpy:  y[i] += a * x[i]
 *   nb_vscale: y[i] *= a                       nb_vadd:   y[i] += x[i]
 * (mul then add, no FMA, so every ISA gives the scalar loop's bits). */
void nb_vrelu_mt_f32(int nt, float *y, const float *x, int64_t n);
void nb_vrelu_mt_f64(int nt, double *y, const double *x, int64_t n);
void nb_vaxpy_mt_f32(int nt, float *y, float a, const float *x, int64_t n);
void nb_vaxpy_mt_f64(int nt, double *y, double a, const double *x, int64_t n);
void nb_vscale_mt_f32(int nt, float *y, float a, int64_t n);
void nb_vscale_mt_f64(int nt, double *y, double a, int64_t n);
void nb_vadd_mt_f32(int nt, float *y, const float *x, int64_t n);
void nb_vadd_mt_f64(int nt, double *y, const double *x, int64_t n);
void nb_vrelu_f32(float *y, const float *x, int64_t n);
void nb_vrelu_f64(double *y, const double *x, int64_t n);
void nb_vaxpy_f32(float *y, float a, const float *x, int64_t n);
void nb_vaxpy_f64(double *y, double a, const double *x, int64_t n);
void nb_vscale_f32(float *y, float a, int64_t n);
void nb_vscale_f64(double *y, double a, int64_t n);
void nb_vadd_f32(float *y, const float *x, int64_t n);
void nb_vadd_f64(double *y, const double *x, int64_t n);

#endif
