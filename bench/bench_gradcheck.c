/* bench/bench_gradcheck.c — total time to gradcheck every sample of every op
 * in the registry (F64, PyTorch's defaults, all extra checks), as
 * tests/test_registry.c does without the F32 comparison. Prints time_s. */
#include <stdio.h>

#include "nabla/nabla.h"
#include "bench_util.h"

int main(void) {
    int n = nb_registry_count(), total = 0, failed = 0;
    double t0 = bench_now();
    for (int i = 0; i < n; i++) {
        const nb_op_entry *e = nb_registry_get(i);
        nb_scope *sc = nb_scope_begin();
        nb_seed(1234 + (uint64_t)i);
        nb_sample samples[NB_MAX_SAMPLES];
        int ns = e->samples(samples, NB_MAX_SAMPLES);
        for (int k = 0; k < ns; k++) {
            samples[k].entry = e;
            nb_gradcheck_opts o = nb_gradcheck_defaults();
            if (e->atol > 0) o.atol = e->atol;
            if (e->rtol > 0) o.rtol = e->rtol;
            o.quiet = true;
            nb_gradcheck_report r = nb_gradcheck(nb_sample_apply, samples[k].in, samples[k].nin, &samples[k], &o);
            total++;
            failed += !r.ok;
        }
        nb_scope_end(&sc);
    }
    printf("gradcheck of the registry: %d ops, %d samples, %d failed\n", n, total, failed);
    printf("time_s: %.6f\n", bench_now() - t0);
    return 0;
}
