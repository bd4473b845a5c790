/* bench/bench_util.h — the clock, peak RSS and the best-of-N case loop, for
 * the benchmark programs. */
#ifndef NB_BENCH_UTIL_H
#define NB_BENCH_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nabla/nabla.h"

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

/* A benchmark case: case c's output, built (recorded) from the inputs in ctx. */
typedef nb_tensor *(*bench_case_fn)(int c, void *ctx);
/* The scalar to run backward from, given case c's output; NULL in
 * bench_cases: bench_first_elem. */
typedef nb_tensor *(*bench_loss_fn)(int c, nb_tensor *out, void *ctx);

/* out itself when it is a scalar, else the sum of its first element
 * (flattened, sliced): the op's backward does its full work on a gradient of
 * zeros but one. */
static inline nb_tensor *bench_first_elem(int c, nb_tensor *out, void *ctx) {
    (void)c, (void)ctx;
    return out->numel == 1 ? out : nb_sum_all(nb_slice(nb_reshape(out, NB_SHAPE(out->numel)), 0, 0, 1, 1));
}

/* The fastest of reps repetitions (after one warm-up) of case c, forward
 * only or forward+backward, each in its own scope, in seconds. */
static inline double bench_time_case(int c, int reps, bool backward, bench_case_fn run, bench_loss_fn loss, void *ctx) {
    double best = 1e30;
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        double t0 = bench_now();
        nb_scope *s = nb_scope_begin();
        nb_tensor *out = run(c, ctx);
        if (backward) nb_backward(loss(c, out, ctx));
        nb_scope_end(&s);
        double dt = bench_now() - t0;
        if (rep >= 0 && dt < best) best = dt;
    }
    return best;
}

/* `PROGRAM REPS [CASE]`: times every case of names[0..ncases) (or only CASE)
 * for REPS repetitions (default 15), forward and forward+backward, and prints
 *   case: NAME fwd_s F fwdbwd_s FB  (bwd/fwd R)
 * per case. Returns the sum of FB over the cases timed, less those whose bit
 * is set in untotalled. */
static inline double bench_cases(int argc, char **argv, const char *const *names, int ncases, bench_case_fn run,
                                 bench_loss_fn loss, void *ctx, unsigned untotalled) {
    const int reps = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 15;
    if (!loss) loss = bench_first_elem;
    double total = 0;
    for (int c = 0; c < ncases; c++) {
        if (argc > 2 && strcmp(argv[2], names[c]) != 0) continue;
        const double f = bench_time_case(c, reps, false, run, loss, ctx);
        const double fb = bench_time_case(c, reps, true, run, loss, ctx);
        printf("case: %s fwd_s %.6g fwdbwd_s %.6g  (bwd/fwd %.2f)\n", names[c], f, fb, (fb - f) / f);
        if (!(untotalled >> c & 1u)) total += fb;
    }
    return total;
}

#endif
