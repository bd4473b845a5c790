/* ops/kernels/act_chunk.h — the gelu, gelu_tanh and silu loops on one
 * chunk of a plain array (the op is ops/norm_act.c, its only includer):
 * ACT_CHUNK_BODY(T) expands inside a function that has kind, gelu_fast,
 * x, y, g, gx, sv, L and fresh (gx is written, not added to) in scope. Header-only, included once. */
#ifndef NB_KERNELS_ACT_CHUNK_H
#define NB_KERNELS_ACT_CHUNK_H

#include "gelu_f32.h"
#include "vmath.h"

#include <stdint.h>
#include <string.h>

#define ACT_CHUNK 512 /* elements a chunk (t and e on the stack) */

typedef enum { ACT_GELU, ACT_GELU_TANH, ACT_SILU } act_kind;
#define GELU_INV_SQRT2 0.70710678118654752440   /* 1/√2 */
#define GELU_INV_SQRT2PI 0.39894228040143267794 /* 1/√(2π) */
#define GELU_K 0.79788456080286535588           /* √(2/π) */
#define GELU_C 0.044715

/* One chunk of L elements, forward (gx == NULL: y = f(x)) or backward
 * (gx += g·f'(x); fresh: gx = 0 + g·f'(x), the bits of a zeroed gx). The SLEEF function runs in T on the chunk (t, e on the
 * stack); the rest of each formula in double, rounded once to T: the
 * derivatives are sums of O(1) terms that cancel (gelu' vanishes near
 * x = −0.75), where f32 arithmetic would cost ~1e-7 absolute.
 * Both GELUs are written without 1 + erf / 1 + tanh, which cancel for
 * x << 0 (f32 at x = −4: 1 + erf(x/√2) = 6.3e-5 from an erf rounded to
 * 6e-8, ~1e-3 relative; PyTorch computes it so):
 *   Φ(x) = ½(1 + erf(x/√2)) = ½·erfc(−x/√2)          (accurate for any x)
 *   ½(1 + tanh(u)) = sigmoid(2u),  ½(1 − tanh²(u)) = 2·s(1 − s). */
#define ACT_CHUNK_BODY(T)                                                                                           \
    do {                                                                                                            \
        T t[ACT_CHUNK], e[ACT_CHUNK];                                                                               \
        switch (kind) {                                                                                             \
        case ACT_GELU: /* y = x·Φ(x); f' = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π) */                     \
            if (sizeof(T) == sizeof(float) && gelu_fast) { /* kernels/gelu_f32.h */                                 \
                if (gx)                                                                                             \
                    nb_gelu_bwd_f32((float *)gx, (const float *)g, (const float *)x, (const float *)sv, L, !fresh); \
                else nb_gelu_fwd_f32((float *)y, (float *)sv, (const float *)x, L);                                 \
                break;                                                                                              \
            }                                                                                                       \
            if (gx && sv) { /* 2Φ(x) kept by forward */                                                            \
                memcpy(t, sv, (size_t)L * sizeof(T));                                                               \
            } else {                                                                                                \
                for (int64_t j = 0; j < L; j++) t[j] = (T)((double)x[j] * -GELU_INV_SQRT2);                         \
                NB_VMATH_T(erfc, T, t, t, L); /* t = 2Φ(x) */                                                      \
            }                                                                                                       \
            if (!gx) {                                                                                              \
                for (int64_t j = 0; j < L; j++) y[j] = (T)((double)x[j] * 0.5 * (double)t[j]);                      \
                if (sv) memcpy(sv, t, (size_t)L * sizeof(T));                                                       \
                break;                                                                                              \
            }                                                                                                       \
            for (int64_t j = 0; j < L; j++) e[j] = (T)((double)x[j] * (double)x[j] * -0.5);                         \
            NB_VMATH_T(exp, T, e, e, L);                                                                            \
            for (int64_t j = 0; j < L; j++)                                                                         \
                gx[j] = (fresh ? (T)0 : gx[j]) +                                                                    \
                    (T)((double)g[j] * (0.5 * (double)t[j] + (double)x[j] * (double)e[j] * GELU_INV_SQRT2PI));      \
            break;                                                                                                  \
        case ACT_GELU_TANH: /* y = ½x(1 + tanh(u)) = x·s, u = k(x + c·x³), s = sigmoid(2u) */                   \
            for (int64_t j = 0; j < L; j++) {                                                                       \
                const double xj = x[j];                                                                             \
                t[j] = (T)(2 * GELU_K * (xj + GELU_C * xj * xj * xj));                                              \
            }                                                                                                       \
            NB_VMATH_T(sigmoid, T, t, t, L);                                                                        \
            if (!gx) {                                                                                              \
                for (int64_t j = 0; j < L; j++) y[j] = (T)((double)x[j] * (double)t[j]);                            \
                break;                                                                                              \
            }                                                                                                       \
            /* f' = ½(1 + t) + ½x(1 − t²)·k(1 + 3c·x²) = s + 2x·s(1 − s)·k(1 + 3c·x²) */              \
            for (int64_t j = 0; j < L; j++) {                                                                       \
                const double xj = x[j], sj = t[j];                                                                  \
                gx[j] = (fresh ? (T)0 : gx[j]) +                                                                    \
                    (T)((double)g[j] * (sj + 2 * xj * sj * (1 - sj) * GELU_K * (1 + 3 * GELU_C * xj * xj)));        \
            }                                                                                                       \
            break;                                                                                                  \
        case ACT_SILU: /* y = x·s, s = sigmoid(x); f' = s(1 + x(1 − s)) */                                       \
            NB_VMATH_T(sigmoid, T, t, x, L);                                                                        \
            if (!gx) {                                                                                              \
                for (int64_t j = 0; j < L; j++) y[j] = (T)((double)x[j] * (double)t[j]);                            \
                break;                                                                                              \
            }                                                                                                       \
            for (int64_t j = 0; j < L; j++) {                                                                       \
                const double sj = t[j];                                                                             \
                gx[j] = (fresh ? (T)0 : gx[j]) + (T)((double)g[j] * (sj * (1 + (double)x[j] * (1 - sj))));          \
            }                                                                                                       \
            break;                                                                                                  \
        }                                                                                                           \
        (void)e;                                                                                                    \
    } while (0)

#endif
