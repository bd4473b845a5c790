/* autograd/threads.c — the thread count nabla's loops and BLAS calls use. */
#include "internal.h"
#include "config.h"
#if NB_HAVE_CBLAS
#include <cblas.h> /* openblas_set_num_threads: BLAS calls use the same count */
#endif

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

/* Settings shared by all threads: relaxed atomics (a lazy first decision
 * may run twice, with the same result). */
static _Atomic int g_threads; /* 0: not decided yet */
#define RELAXED memory_order_relaxed

/* A child made by fork() runs on one thread: GNU OpenMP cannot start a team
 * in the child of a process whose team exists (the first parallel region
 * there hangs), so the child never opens one. Every decision to split goes
 * through nb_get_num_threads, which registers the handler before the first
 * region. */
static _Atomic bool g_forked;
static void on_fork_child(void) { atomic_store_explicit(&g_forked, true, RELAXED); }
static void register_fork(void) { (void)pthread_atfork(NULL, NULL, on_fork_child); }
static void watch_fork(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork);
}

int nb_get_num_threads(void) {
    int t = atomic_load_explicit(&g_threads, RELAXED);
    if (t <= 0) {
        const char *e = getenv("NB_NUM_THREADS");
        long n = e ? strtol(e, NULL, 10) : 0;
        if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
        t = n > 0 ? (int)n : 1;
        watch_fork();
        atomic_store_explicit(&g_threads, t, RELAXED);
    }
    return atomic_load_explicit(&g_forked, RELAXED) ? 1 : t;
}

void nb_set_num_threads(int n) {
    watch_fork();
    atomic_store_explicit(&g_threads, n > 0 ? n : 1, RELAXED);
#if NB_HAVE_CBLAS
    openblas_set_num_threads(n > 0 ? n : 1);
#endif
}

/* Threads for an elementwise pass over n elements costing about `cost`
 * GEMM multiply-adds each, under the same floor as GEMM and conv
 * (nb_par_min, ops/kernels/par.c): an element of a pass over three to five
 * streams of memory (a fused optimizer step) costs ~32, so from 125 000
 * elements by default (the MLP benchmark's first weight, 200 704, is split;
 * the others are not). Measured there: splitting that SGD step took the
 * 2-thread epoch from 0.59-0.65 s to 0.42-0.46 s with passive waiting (the
 * update had read a gradient half of which sat in the other core's cache). */
int nb__elementwise_threads(int64_t n, double cost) { return nb_par_threads(nb_get_num_threads(), (double)n * cost); }
