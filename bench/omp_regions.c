/* bench/omp_regions.c — where nabla's two threads wait: an LD_PRELOAD
 * library that wraps libgomp's GOMP_parallel (every `#pragma omp parallel`
 * of a gcc build) and, per outlined region function, sums the region's wall
 * time and each thread's busy time inside it; at exit it prints the regions
 * by idle thread-time (2·wall − busy0 − busy1: a thread waiting at the
 * join, or the team's fork/join), most first, and the time spent outside
 * every region (the main thread alone). Two threads are measured (threads
 * 0 and 1 of each team).
 *
 *   cc -O2 -shared -fPIC -fopenmp -o /tmp/omp_regions.so bench/omp_regions.c -ldl
 *   NB_NUM_THREADS=2 LD_PRELOAD=/tmp/omp_regions.so build-bench/bench/bench_gpt 40
 *   addr2line -f -e build-bench/bench/bench_gpt 0xOFFSET   (a static region's name: "-")
 *
 * Figures are totals over the whole run (warm-up and the peak measurement
 * included); divide by the steps run. Not built by meson: a developer's
 * tool, used for bench/README's "where the threads wait". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*region_fn)(void *);
typedef struct {
    region_fn fn;
    long calls;
    double wall, busy[2];
} region;

enum { MAX_REGIONS = 512 };
static region regions[MAX_REGIONS];
static int nregions;
static double t_start, t_inside;
static region_fn current;  /* regions do not nest in nabla (kernels/par.h) */
static double busy_now[2]; /* this region's busy time per thread */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void timed(void *data) {
    const int t = omp_get_thread_num();
    const double a = now();
    current(data);
    if (t < 2) busy_now[t] = now() - a;
}

static double idle(const region *r) { return 2 * r->wall - r->busy[0] - r->busy[1]; }
static int by_idle(const void *a, const void *b) {
    const double x = idle(a), y = idle(b);
    return x < y ? 1 : x > y ? -1 : 0;
}

static void report(void) {
    qsort(regions, (size_t)nregions, sizeof *regions, by_idle);
    double total = 0;
    for (int i = 0; i < nregions; i++) total += idle(&regions[i]);
    fprintf(stderr, "omp_regions: %.3f s outside regions, %.3f s inside; idle thread-time inside %.3f s\n",
            now() - t_start - t_inside, t_inside, total);
    for (int i = 0; i < nregions; i++) {
        Dl_info di;
        const region *r = &regions[i];
        const unsigned long off =
            dladdr((void *)r->fn, &di) ? (unsigned long)((const char *)(void *)r->fn - (const char *)di.dli_fbase) : 0;
        fprintf(stderr, "  0x%-8lx %-36s calls %7ld  wall %.3f s  busy %.3f / %.3f s  idle %.3f s\n", off,
                di.dli_sname ? di.dli_sname : "-", r->calls, r->wall, r->busy[0], r->busy[1], idle(r));
    }
}

__attribute__((constructor)) static void start(void) {
    t_start = now();
    atexit(report);
}

void GOMP_parallel(region_fn fn, void *data, unsigned num_threads, unsigned flags) {
    static void (*real)(region_fn, void *, unsigned, unsigned);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "GOMP_parallel");
    int i = 0;
    while (i < nregions && regions[i].fn != fn) i++;
    if (i == nregions && nregions < MAX_REGIONS) regions[nregions++].fn = fn;
    current = fn;
    busy_now[0] = busy_now[1] = 0;
    const double a = now();
    real(timed, data, num_threads, flags);
    const double w = now() - a;
    t_inside += w;
    if (i < MAX_REGIONS) {
        regions[i].calls++;
        regions[i].wall += w;
        regions[i].busy[0] += busy_now[0];
        regions[i].busy[1] += busy_now[1];
    }
}
