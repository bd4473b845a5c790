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
