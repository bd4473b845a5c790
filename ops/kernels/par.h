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
#include <stdatomic.h>
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

/* A barrier of the enclosing region's team, as a statement of its own in braces (a region of NB_PAR_REGION with
 * nt > 1: every thread must reach it; without OpenMP, nothing). */
#if defined(_OPENMP)
#define NB_PAR_BARRIER() _Pragma("omp barrier")
#else
#define NB_PAR_BARRIER() ((void)0)
#endif

/* Rows from which an op may sum over the two fixed halves of its rows
 * (NB_PAR_HALVES): below it, one pass costs less than the split. */
#define NB_HALVES_MIN 1024
/* BODY once for each half [r0, r1) of n rows — [0, n/2), then [n/2, n) —
 * one a thread when nt > 1, else in that order (part: 0 or 1; r0, r1
 * declared here). The halves depend on n alone: an op that sums over the
 * rows half by half and then adds the two in a fixed order gets the same
 * bits on any thread count, and each thread reads its half of the rows
 * once for all it computes from them (linear's and layer_norm's backward). */
#define NB_PAR_HALVES(nt, n, part, r0, r1, ...)                           \
    NB_PAR_FOR((nt) > 1 ? 2 : 1, for (int part = 0; part < 2; part++), {  \
        const int64_t r0 = part ? (n) / 2 : 0, r1 = part ? (n) : (n) / 2; \
        __VA_ARGS__                                                       \
    })

/* BODY for every i in [0, n) (int64_t i, declared here), on up to nt
 * threads. Two threads take the pieces from both ends — thread 0 upward
 * from 0, thread 1 downward from n − 1, one shared count of pieces taken —
 * so the one that runs faster takes more. In the tiny GPT's step the worker
 * ran its static half of the attention slices 5-30% slower than the main
 * thread did (same work; the cause is the thread, not the CPU: it held
 * with the two swapped), and the main thread waited that long at the join.
 * Each thread's pieces stay contiguous (adjacent heads share cache lines of
 * the output). Other
 * team sizes: NB_PAR_FOR's static shares. The pieces must be independent,
 * their results not depending on the thread (NB_PAR_TID for scratch). */
#if defined(_OPENMP)
#define NB_PAR_EACH(nt, n, i, ...)                                                                                 \
    do {                                                                                                           \
        const int64_t nb_pe_n_ = (n);                                                                              \
        const int nb_pe_nt_ = nb_par_clamp((nt), nb_pe_n_);                                                        \
        if (nb_pe_nt_ == 2) {                                                                                      \
            struct { /* a cache line of its own: no false sharing with the stack */                                \
                _Alignas(64) _Atomic int64_t v;                                                                    \
                char pad[56];                                                                                      \
            } nb_pe_taken_ = {0};                                                                                  \
            _Pragma("omp parallel num_threads(2)") {                                                               \
                const int nb_pe_t_ = omp_get_thread_num();                                                         \
                for (int64_t nb_pe_k_ = 0;                                                                         \
                     atomic_fetch_add_explicit(&nb_pe_taken_.v, 1, memory_order_relaxed) < nb_pe_n_; nb_pe_k_++) { \
                    const int64_t i = nb_pe_t_ == 0 ? nb_pe_k_ : nb_pe_n_ - 1 - nb_pe_k_;                          \
                    __VA_ARGS__                                                                                    \
                }                                                                                                  \
            }                                                                                                      \
        } else NB_PAR_FOR(nb_pe_nt_, for (int64_t i = 0; i < nb_pe_n_; i++), __VA_ARGS__);                         \
    } while (0)
#else
#define NB_PAR_EACH(nt, n, i, ...)          \
    do {                                    \
        (void)(nt);                         \
        for (int64_t i = 0; i < (n); i++) { \
            __VA_ARGS__                     \
        }                                   \
    } while (0)
#endif
#endif
