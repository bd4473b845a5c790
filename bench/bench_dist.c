/* bench/bench_dist.c — bench_mlp's epoch (784-256-128-10 ReLU MLP, 60000
 * random Fashion-MNIST-sized samples, global batch 64, SGD momentum 0.9, F32)
 * trained data-parallel (nabla/dist.h): run it alone (one process, any
 * NB_NUM_THREADS) or under `mpirun -np W` (each rank 64/W of every batch).
 *
 *   bench_dist [EPOCHS] [BUCKET_MB]
 *
 * Prints the epoch time (best of EPOCHS), and with several ranks per step:
 * the time blocked in nb_ddp_wait (communication backward did not hide),
 * the time the same bytes take in a blocking allreduce alone, and the
 * overlap fraction 1 − blocked/alone; the compute time per step is measured
 * in a world of one. Lines "key: value" for bench/run.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla/nabla.h"
#include "bench_mlp_model.h"
#include "bench_util.h"

#define GLOBAL_BATCH 64

int main(int argc, char **argv) {
    nb_dist_init(&argc, &argv);
    const int epochs = argc > 1 ? atoi(argv[1]) : 1;
    const double bucket_mb = argc > 2 ? atof(argv[2]) : 25;
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    const int per = GLOBAL_BATCH / w; /* rows of each global batch on this rank */
    float *xs;
    int64_t *ys;
    nb_tensor *p[6];
    bench_mlp_model(&xs, &ys, p);
    nb_optim_opts oo = nb_optim_defaults(NB_OPTIM_SGD);
    oo.lr = 0.01, oo.momentum = 0.9;
    nb_optim *opt = nb_optim_new_tensors(&oo, p, 6);
    nb_ddp *ddp = nb_ddp_new_params(p, 6, &(nb_ddp_opts){.bucket_mb = bucket_mb});

    double best = 1e30, loss = 0, wait_sum = 0, comm_sum = 0;
    int64_t steps = 0, hooked = 0;
    for (int e = 0; e < epochs; e++) {
        nb_dist_barrier();
        double t0 = bench_now();
        wait_sum = comm_sum = 0;
        steps = hooked = 0;
        for (int b = 0; b + GLOBAL_BATCH <= NTRAIN; b += GLOBAL_BATCH) {
            const int row = b + r * per;
            nb_scope *s = nb_scope_begin();
            nb_tensor *x = nb_from_f32(NB_SHAPE(per, NIN), xs + (size_t)row * NIN);
            nb_tensor *y = nb_from_i64(NB_SHAPE(per), ys + row);
            nb_tensor *h = nb_relu(nb_affine(x, p[0], p[1]));
            h = nb_relu(nb_affine(h, p[2], p[3]));
            nb_tensor *l = nb_nll(nb_log_softmax(nb_affine(h, p[4], p[5]), 1), y, NB_REDUCE_MEAN);
            nb_optim_zero_grad(opt);
            nb_backward(l);
            nb_ddp_wait(ddp);
            nb_optim_step(opt);
            loss = nb_item(l);
            nb_scope_end(&s);
            nb_ddp_stats st = nb_ddp_get_stats(ddp);
            wait_sum += st.wait_s;
            comm_sum += st.comm_s;
            hooked += st.started_in_backward;
            steps++;
        }
        double dt = bench_now() - t0;
        dt = nb_dist_sum(dt) / w; /* the ranks' mean */
        if (dt < best) best = dt;
    }
    nb_ddp_stats st = nb_ddp_get_stats(ddp);
    /* the same bytes in one blocking allreduce, no compute beside it */
    double alone = 0;
    if (w > 1) {
        const int n = (int)(st.bytes / 8);
        double *buf = calloc((size_t)n, sizeof *buf);
        nb_dist_sum_f64(buf, n);
        const int reps = 200;
        nb_dist_barrier();
        double t0 = bench_now();
        for (int i = 0; i < reps; i++) nb_dist_sum_f64(buf, n);
        alone = (bench_now() - t0) / reps;
        free(buf);
    }
    if (r == 0) {
        printf("mlp 784-256-128-10 epoch, global batch %d: %d rank%s x %d rows x %d thread%s, %d bucket%s "
               "(%.3g MB cap) of %.2f MB gradients, last loss %.4f\n",
               GLOBAL_BATCH, w, w == 1 ? "" : "s", per, nb_get_num_threads(), nb_get_num_threads() == 1 ? "" : "s",
               st.buckets, st.buckets == 1 ? "" : "s", bucket_mb, (double)st.bytes / 1e6, loss);
        printf("time_s: %.6f\n", best);
        if (w > 1) {
            double wait = wait_sum / (double)steps, comm = comm_sum / (double)steps;
            double overlap = alone > 0 ? 1 - wait / alone : 0;
            printf("step_ms: %.4f\n", 1e3 * best / (double)steps);
            printf("allreduce_alone_ms: %.4f\n", 1e3 * alone);
            printf("allreduce_inflight_ms: %.4f\n", 1e3 * comm);
            printf("blocked_ms: %.4f\n", 1e3 * wait);
            printf("buckets_started_in_backward: %.2f of %d\n", (double)hooked / (double)steps, st.buckets);
            printf("overlap: %.3f\n", overlap < 0 ? 0 : overlap);
        }
    }
    nb_ddp_free(ddp);
    nb_optim_free(opt);
    for (int i = 0; i < 6; i++) nb_tensor_free(p[i]);
    free(xs);
    free(ys);
    nb_dist_finalize();
    return 0;
}
