/* ops/kernels/vmath.h — elementwise math over arrays, on SLEEF (internal).
 *
 *   nb_v<f>_<t>(y, x, n):  y[i] = f(x[i]) for i < n   (y may equal x)
 *
 * f: exp, log, tanh, sigmoid. The vector width is chosen at run time from the
 * CPU: AVX-512F (Sleef_*f16/d8_u10avx512f), AVX2+FMA (Sleef_*f8/d4_u10avx2),
 * else the scalar reference (libm). A tail shorter than a vector is run
 * through the same vector function on a padded copy, so every element gets
 * the same result wherever it sits in the array.
 *
 * Accuracy (measured by tests/test_kernels.c against libm in double):
 * SLEEF's u10 functions are within 1.0 ULP (exp, log, tanh; f32 and f64);
 * the scalar fallback is glibc's (exp/log 1 ULP, tanhf 2 ULP). sigmoid is
 * computed as r = 1/(1 + e), e = exp(-|x|), y = r for x >= 0 and e*r for
 * x < 0: no overflow for any x, within 3 ULP (exp's 1 ULP plus two
 * roundings; 2 measured); y reaches 0 only below about -104 (f32) / -745
 * (f64), like the scalar formula.
 * Special values follow libm: exp(-inf) = 0, log(0) = -inf, log(x<0) = NaN,
 * NaN in gives NaN out. tests/test_kernels.c checks every ISA against the
 * reference (nb_v*_ref_*) within these bounds. */
#ifndef NB_VMATH_H
#define NB_VMATH_H

#include <stdint.h>

#define NB_VMATH_FUNCS(X) X(exp) X(log) X(tanh) X(sigmoid)

#define NB_VMATH_DECL(f)                                                       \
    void nb_v##f##_f32(float *y, const float *x, int64_t n);                   \
    void nb_v##f##_f64(double *y, const double *x, int64_t n);                 \
    void nb_v##f##_ref_f32(float *y, const float *x, int64_t n);               \
    void nb_v##f##_ref_f64(double *y, const double *x, int64_t n);
NB_VMATH_FUNCS(NB_VMATH_DECL)
#undef NB_VMATH_DECL

/* Exact elementwise loops (each result rounded once, as the scalar code):
 *   nb_vrelu:  y[i] = x[i] > 0 ? x[i] : 0      nb_vaxpy:  y[i] += a * x[i]
 *   nb_vscale: y[i] *= a                       nb_vadd:   y[i] += x[i]
 * (mul then add, no FMA, so every ISA gives the scalar loop's bits). */
void nb_vrelu_f32(float *y, const float *x, int64_t n);
void nb_vrelu_f64(double *y, const double *x, int64_t n);
void nb_vaxpy_f32(float *y, float a, const float *x, int64_t n);
void nb_vaxpy_f64(double *y, double a, const double *x, int64_t n);
void nb_vscale_f32(float *y, float a, int64_t n);
void nb_vscale_f64(double *y, double a, int64_t n);
void nb_vadd_f32(float *y, const float *x, int64_t n);
void nb_vadd_f64(double *y, const double *x, int64_t n);

/* The ISA in use: "avx512", "avx2" or "scalar". nb_vmath_set_isa caps it
 * (tests compare all of them); false, changing nothing, if the CPU lacks it.
 * NB_VMATH_ISA in the environment does the same at start. */
const char *nb_vmath_isa(void);
int nb_vmath_set_isa(const char *isa);

#endif
