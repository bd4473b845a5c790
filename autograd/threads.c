/* autograd/threads.c — the thread count nabla's loops and BLAS calls use. */
#include "internal.h"
#include "config.h"
#if NB_HAVE_CBLAS
#include <cblas.h> /* openblas_set_num_threads: BLAS calls use the same count */
#endif

#include <stdlib.h>
#include <unistd.h>

static int g_threads; /* 0: not decided yet */

int nb_get_num_threads(void) {
    if (g_threads <= 0) {
        const char *e = getenv("NB_NUM_THREADS");
        long n = e ? strtol(e, NULL, 10) : 0;
        if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
        g_threads = n > 0 ? (int)n : 1;
    }
    return g_threads;
}

void nb_set_num_threads(int n) {
    g_threads = n > 0 ? n : 1;
#if NB_HAVE_CBLAS
    openblas_set_num_threads(g_threads);
#endif
}

/* The least work (multiply-adds) one parallel region must carry before the
 * kernels split it between threads. A region costs the workers' wake-up and
 * the join: ~2 µs while they still spin from the last region (libgomp's
 * default spins a while, then sleeps), ~10 µs median (p90 ~45 µs on a
 * loaded machine) when they sleep at once (OMP_WAIT_POLICY=passive),
 * measured on the 2-core machine of bench/README.md. And in a chain of ops
 * the worker's half of the result sits in the other core's cache: in the MLP
 * benchmark, GEMMs of 2.1e6 multiply-adds that ran 1.45x faster on 2
 * threads alone made the epoch slower on 2 threads; with 4e6 as the floor
 * it was no slower. NB_PAR_MIN (multiply-adds) overrides it. */
double nb__par_min(void) {
    static double v;
    if (v <= 0) {
        const char *e = getenv("NB_PAR_MIN");
        const double x = e ? strtod(e, NULL) : 0;
        v = x > 0 ? x : 4e6;
    }
    return v;
}
