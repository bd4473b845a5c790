/* ops/kernels/par.h — how kernels split work between threads (internal).
 *
 * Kernel-level: no tensors, no nodes, no nabla headers. A kernel is given
 * the number of threads it may use (`nt`, decided by its caller: 1, or
 * nabla's thread count when the call carries at least nb_par_min()
 * multiply-adds and no parallel region is open, see nb_par_threads) and
 * splits its work with the helpers below; nt <= 1 runs as plain code.
 *
 * Costs are in GEMM multiply-add equivalents: a call is split when
 * elements × cost >= nb_par_min(). */
#ifndef NB_KERNELS_PAR_H
#define NB_KERNELS_PAR_H

#include <stdbool.h>
#include <stdint.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

/* Cost of one element of a pass over memory (three to five streams: a fused
 * optimizer step, relu, axpy). */
#define NB_COST_MEM 32
/* Cost of one element through a SLEEF function (~4x a pass over memory). */
#define NB_COST_MATH 128

/* The least multiply-adds worth a parallel region (4e6 by default, measured:
 * see par.c; the environment variable NB_PAR_MIN overrides it). */
double nb_par_min(void);

/* True inside an OpenMP parallel region (a kernel then stays on its thread). */
static inline bool nb_par_in_region(void) {
#if defined(_OPENMP)
    return omp_in_parallel();
#else
    return false;
#endif
}

/* Threads for a call of `work` multiply-adds when `avail` threads are
 * available: avail if the work reaches nb_par_min() and no region is open,
 * else 1. */
static inline int nb_par_threads(int avail, double work) {
#if defined(_OPENMP)
    if (avail <= 1 || nb_par_in_region() || work < nb_par_min()) return 1;
    return avail;
#else
    (void)avail, (void)work;
    return 1;
#endif
}

/* nt threads for `units` independent pieces of work: never more threads
 * than pieces (at least 1). */
static inline int nb_par_clamp(int nt, int64_t units) { return units < nt ? (int)(units > 0 ? units : 1) : nt; }

/* This thread's number and the team's size inside a region of nt threads
 * (nt <= 1: plain code, perhaps inside a caller's region, whose thread
 * number must not count). */
#if defined(_OPENMP)
#define NB_PAR_TID(nt) ((nt) > 1 ? omp_get_thread_num() : 0)
#define NB_PAR_NTH(nt) ((nt) > 1 ? omp_get_num_threads() : 1)
#else
#define NB_PAR_TID(nt) 0
#define NB_PAR_NTH(nt) 1
#endif

/* Thread t's share [*lo, *hi) of n units of work: whole blocks of
 * ceil(n / nth), in thread order. */
static inline void nb_par_share(int64_t n, int t, int nth, int64_t *lo, int64_t *hi) {
    const int64_t per = (n + nth - 1) / nth;
    *lo = t * per;
    *hi = *lo + per < n ? *lo + per : n;
}

/* This thread's share [*lo, *lo + *n) of total elements in a region of nt
 * threads (nt <= 1: all of them, wherever it runs — inside someone else's
 * region too): contiguous, whole cache lines (16 elements) but the last. */
static inline void nb_par_range(int nt, int64_t total, int64_t *lo, int64_t *n) {
    const int64_t t = NB_PAR_TID(nt), nth = NB_PAR_NTH(nt);
    const int64_t per = ((total + nth - 1) / nth + 15) / 16 * 16;
    int64_t a = t * per, b = a + per;
    if (a > total) a = total;
    if (b > total) b = total;
    *lo = a, *n = b - a;
}

/* CALL on this thread's contiguous share [lo, lo + len) of n elements
 * (nb_par_range: whole cache lines, so every element meets the same vector
 * code wherever it sits), on up to nt threads when n · cost reaches
 * nb_par_min(), else on this thread alone; an empty share skips CALL. */
#define NB_PAR_SPLIT(nt, n, cost, CALL)                                \
    do {                                                               \
        const int nb_sp_ = nb_par_threads((nt), (double)(n) * (cost)); \
        NB_PAR_REGION(nb_sp_, {                                        \
            int64_t lo, len;                                           \
            nb_par_range(nb_sp_, (n), &lo, &len);                      \
            if (len > 0) CALL;                                         \
        });                                                            \
    } while (0)

/* An OpenMP region / loop over nt threads, or, when nt <= 1, the same code
 * run as plain code: entering a region, even under if(0), makes libgomp
 * build and free a team every time (a malloc per call: under ASan its
 * quarantine filled 300 MB in test_soak's 100 000 steps). The body is
 * written out twice; in NB_PAR_FOR it is the body of FOR_HEAD, a canonical
 * for loop, split statically. */
#define NB_PAR_REGION(nt, ...)                                          \
    do {                                                                \
        const int nb_nt_ = (nt);                                        \
        if (nb_nt_ > 1) {                                               \
            _Pragma("omp parallel num_threads(nb_nt_)") { __VA_ARGS__ } \
        } else {                                                        \
            __VA_ARGS__                                                 \
        }                                                               \
    } while (0)
#define NB_PAR_FOR(nt, FOR_HEAD, ...)                                                                 \
    do {                                                                                              \
        const int nb_nt_ = (nt);                                                                      \
        if (nb_nt_ > 1) {                                                                             \
            _Pragma("omp parallel for num_threads(nb_nt_) schedule(static)") FOR_HEAD { __VA_ARGS__ } \
        } else {                                                                                      \
            FOR_HEAD { __VA_ARGS__ }                                                                  \
        }                                                                                             \
    } while (0)

#endif
