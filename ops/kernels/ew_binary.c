/* ops/kernels/ew_binary.c — the kernels of the elementwise ops with more
 * than one input (ew_binary_tmpl.h for f32 and f64). */
#include "ew_binary.h"

#include <stdbool.h>

static inline bool truth(nb_ew_cond_type ct, const void *c, int64_t i) {
    switch (ct) {
    case NB_EW_COND_F32: return ((const float *)c)[i] != 0;
    case NB_EW_COND_F64: return ((const double *)c)[i] != 0;
    default: return ((const int64_t *)c)[i] != 0;
    }
}

/* Runs BODY once per output element o with oc, oa, ob the offsets into cond,
 * a and b (strides 0 along broadcast dims). */
#define WHERE_FOR(W, BODY)                                                  \
    do {                                                                    \
        int64_t idx_[NB_BC_MAX_DIMS] = {0}, oc = 0, oa = 0, ob = 0, N_ = 1; \
        for (int d_ = 0; d_ < (W)->nd; d_++) N_ *= (W)->shape[d_];          \
        for (int64_t o = 0; o < N_; o++) {                                  \
            BODY for (int d_ = (W)->nd - 1; d_ >= 0; d_--) {                \
                idx_[d_]++;                                                 \
                oc += (W)->sc[d_];                                          \
                oa += (W)->sa[d_];                                          \
                ob += (W)->sb[d_];                                          \
                if (idx_[d_] < (W)->shape[d_]) break;                       \
                oc -= (W)->sc[d_] * (W)->shape[d_];                         \
                oa -= (W)->sa[d_] * (W)->shape[d_];                         \
                ob -= (W)->sb[d_] * (W)->shape[d_];                         \
                idx_[d_] = 0;                                               \
            }                                                               \
        }                                                                   \
    } while (0)

#define T float
#define FN(name) name##_f32
#include "ew_binary_tmpl.h"

#define T double
#define FN(name) name##_f64
#include "ew_binary_tmpl.h"
