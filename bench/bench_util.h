/* bench/bench_util.h — the clock and peak RSS, for the benchmark programs. */
#ifndef NB_BENCH_UTIL_H
#define NB_BENCH_UTIL_H

#include <sys/resource.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Peak resident set size of this process so far, in MiB. */
static inline double bench_peak_rss_mib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

#endif
