/* ops/kernels/reduce.c — the reductions' loops (reduce_tmpl.h for f32 and
 * f64). */
#include "reduce.h"
#include "par.h"
#include "vmath.h"

#include <math.h>

/* v wins over r (NaN wins and then stays) */
#define BETTER(v, r, is_min) ((r) == (r) && ((v) != (v) || ((is_min) ? (v) < (r) : (v) > (r))))
/* v is (one of) the extremum y */
#define HIT(v, y) ((v) == (y) || ((v) != (v) && (y) != (y)))

/* logsumexp: the exponentials run on the SLEEF vector kernel in the
 * tensor's own type, LSE_CHUNK elements of a row of the walk at a time:
 * d = x − m in T (m is a max of T values, so a T itself), e^d (1 ULP), and
 * the sum S accumulates in double. For f32 the rounding of d adds |d|·2^-24
 * to each term's relative error, and |d|·e^d <= 1/e keeps the sum's
 * relative error within (2 + the e^d-weighted mean of |d|)·2^-24 — a few
 * ULP, which log S turns into an absolute error of the same size on a
 * result that is itself rounded to f32. */
#define LSE_CHUNK 512
/* Multiply-add equivalents per element of logsumexp's passes (an
 * exponential and two light passes; kernels/par.h). */
#define LSE_COST 160

/* Σ b[j] in double, 8 lanes (vectorizes; fixed order): element j into lane
 * j mod 8 (the tail into lane 0), the lanes added pairwise. 8 chains of
 * adds in flight where one chain would wait on each add's latency. */
#define SUM8(b, L, out)                                                                    \
    do {                                                                                   \
        double s_[8] = {0};                                                                \
        int64_t k_ = 0;                                                                    \
        for (; k_ + 8 <= (L); k_ += 8)                                                     \
            for (int l_ = 0; l_ < 8; l_++) s_[l_] += (double)(b)[k_ + l_];                 \
        for (; k_ < (L); k_++) s_[0] += (double)(b)[k_];                                   \
        (out) = ((s_[0] + s_[1]) + (s_[2] + s_[3])) + ((s_[4] + s_[5]) + (s_[6] + s_[7])); \
    } while (0)

#define T float
#define FN(name) name##_f32
#include "reduce_tmpl.h"

#define T double
#define FN(name) name##_f64
#include "reduce_tmpl.h"
