/* ops/kernels/gelu_f32.h — exact GELU in f32 on AVX-512F (internal;
 * graph-free, one thread: the caller splits the array).
 *
 *   fwd:  t2 = 2Φ(x) = erfc(−x/√2), y = x·½·t2     (t2 kept for backward)
 *   bwd:  gx += g·(½·t2 + x·φ(x)), φ(x) = e^(−x²/2)/√(2π)  (or gx = 0 + ...)
 *
 * The same formulas as ops/norm_act.c's generic path, with Φ computed in
 * f32 by its own vector code instead of SLEEF's erfcf (3.2 ns an element
 * here, most of the GPT benchmark's GELU time):
 *   |x| < 1:   2Φ(x) = 1 + erf(x/√2), erf(w) = w·P(w²), P of degree 6
 *              fitted to erf(w)/w on |w| <= 1 (relative error 1.2e-9)
 *   |x| >= 1:  erfc(z) = t·exp(−z² + R(t)), z = |x|/√2, t = 1/(1 + z/2),
 *              R of degree 9 (the Chebyshev fit of Numerical Recipes'
 *              erfcc: relative error below 1.2e-7 for every z >= 0);
 *              2Φ = erfc(z) for x < 0, 2 − erfc(z) for x > 0.
 * The backward's gelu'(x) on |x| < 1 is its own polynomial with the root
 * of gelu' factored out (gelu_f32.c, gf_dmid: within 2.3 ULP).
 * z² = x²/2 is carried as hi + lo (an FMA gives lo) into one exp with an
 * extended argument, so the tail keeps its relative accuracy where Φ(x) is
 * tiny (x²/2 = 80 rounded to f32 alone would cost 4e-6 relative); exp is
 * 2^k·p(r) with p Cephes' degree-5 fit and 2^k by VSCALEFPS (gradual
 * underflow to the denormals). Measured against the f64 formula over 4M
 * inputs (tests/test_ops_nn.c): within a few f32 ULP of 2Φ everywhere,
 * tails included; NaN gives NaN; ±∞ give what the formula gives (+∞, NaN
 * for −∞·0, as the generic path).
 *
 * nb_gelu_f32_fast() is true when the CPU and the NB_ISA cap allow
 * AVX-512F; the callers use the generic path otherwise. */
#ifndef NB_KERNELS_GELU_F32_H
#define NB_KERNELS_GELU_F32_H

#include <stdbool.h>
#include <stdint.h>

bool nb_gelu_f32_fast(void);
/* y[i] = gelu(x[i]); t2 (may be NULL) gets 2Φ(x[i]) */
void nb_gelu_fwd_f32(float *y, float *t2, const float *x, int64_t n);
/* gx[i] += g[i]·gelu'(x[i]) (acc false: gx is not read, gx[i] = 0 + g·gelu');
 * t2: forward's 2Φ(x) (NULL: computed here, only for the lanes with
 * |x| >= 1, the only ones that use it) */
void nb_gelu_bwd_f32(float *gx, const float *g, const float *x, const float *t2, int64_t n, bool acc);

#endif
