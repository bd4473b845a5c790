/* ops/kernels/par.c — the threshold of par.h. */
#include "par.h"

#include <stdatomic.h>
#include <stdlib.h>

/* The least work (multiply-adds) one parallel region must carry before the
 * kernels split it between threads. A region costs the workers' wake-up and
 * the join: ~2 µs while they still spin from the last region (libgomp's
 * default spins a while, then sleeps), ~10 µs median (p90 ~45 µs on a
 * loaded machine) when they sleep at once (OMP_WAIT_POLICY=passive),
 * measured on the 2-core machine of bench/README.md. And in a chain of ops
 * the worker's half of the result sits in the other core's cache: in the MLP
 * benchmark, GEMMs of 2.1e6 multiply-adds that ran 1.45x faster on 2
 * threads alone made the epoch slower on 2 threads; with 4e6 as the floor
 * it was no slower. NB_PAR_MIN (multiply-adds) overrides it. (Read once,
 * atomically: two threads' first calls store the same value.) */
double nb_par_min(void) {
    static _Atomic double v;
    double r = atomic_load_explicit(&v, memory_order_relaxed);
    if (r <= 0) {
        const char *e = getenv("NB_PAR_MIN");
        const double x = e ? strtod(e, NULL) : 0;
        r = x > 0 ? x : 4e6;
        atomic_store_explicit(&v, r, memory_order_relaxed);
    }
    return r;
}
