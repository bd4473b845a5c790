/* ops/kernels/bcast.h — NumPy broadcasting as strided iteration, for kernels
 * (internal; ops/broadcast.h fills an nb_bc from shapes).
 *
 * nb_bc describes iterating an output shape while reading up to two inputs
 * whose strides are 0 along broadcast dims. Adjacent dims that are contiguous
 * for every operand are merged, so the inner loop is as long as possible. */
#ifndef NB_KERNELS_BCAST_H
#define NB_KERNELS_BCAST_H

#include <stdint.h>

#define NB_BC_MAX_DIMS 8 /* = NB_MAX_DIMS (checked in ops/broadcast.h) */

typedef struct nb_bc {
    int nd; /* >= 1 after init */
    int64_t shape[NB_BC_MAX_DIMS];
    int64_t sa[NB_BC_MAX_DIMS]; /* element strides of operand a (0 = broadcast) */
    int64_t sb[NB_BC_MAX_DIMS];
    int64_t numel;
} nb_bc;

/* Runs INNER once per inner row with oo, oa, ob the row's starting offsets
 * (output, a, b) and `len`, `sa`, `sb` the inner length and strides. */
#define NB_BC_FOR(bc, ...)                                                      \
    do {                                                                        \
        const int64_t len = (bc)->shape[(bc)->nd - 1];                          \
        const int64_t sa = (bc)->sa[(bc)->nd - 1], sb = (bc)->sb[(bc)->nd - 1]; \
        int64_t idx_[NB_BC_MAX_DIMS] = {0}, oa = 0, ob = 0;                     \
        (void)sa;                                                               \
        (void)sb;                                                               \
        for (int64_t oo = 0; len > 0 && oo < (bc)->numel; oo += len) {          \
            __VA_ARGS__                                                         \
            for (int d_ = (bc)->nd - 2; d_ >= 0; d_--) {                        \
                idx_[d_]++;                                                     \
                oa += (bc)->sa[d_];                                             \
                ob += (bc)->sb[d_];                                             \
                if (idx_[d_] < (bc)->shape[d_]) break;                          \
                oa -= (bc)->sa[d_] * (bc)->shape[d_];                           \
                ob -= (bc)->sb[d_] * (bc)->shape[d_];                           \
                idx_[d_] = 0;                                                   \
            }                                                                   \
        }                                                                       \
        (void)oa;                                                               \
        (void)ob;                                                               \
    } while (0)

#endif
