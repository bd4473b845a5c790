/* bench/bench_dist.c — data-parallel training (nabla/dist.h), global batch
 * 64, SGD momentum 0.9, F32, run alone (one process, any NB_NUM_THREADS) or
 * under `mpirun -np W` (each rank 64/W of every batch):
 *
 *   bench_dist [EPOCHS] [BUCKET_MB] [MODEL] [STEPS]
 *
 * MODEL mlp (default): bench_mlp's 784-256-128-10 ReLU MLP on 60000 random
 * Fashion-MNIST-sized samples, an epoch of 937 steps (STEPS limits it);
 * MODEL cnn: the demo's CNN (conv5x5 1->16, ReLU, pool, conv5x5 16->32, ReLU,
 * pool, dense 1568->128, ReLU, dense 128->10; no dropout), STEPS steps
 * (default 150).
 *
 * Prints the epoch time (best of EPOCHS), and with several ranks the
 * overlap measurement: STEPS_M further steps, each begun with a barrier (so
 * the time waited is communication, not a rank arriving late), timing
 *   backward_ms   nb_backward (compute, with the buckets started inside it),
 *                 wall clock; backward_cpu_ms the CPU time of the whole
 *                 process meanwhile (the progress thread included)
 *   exposed_ms    from the last rank's end of backward to the last rank's
 *                 end of nb_ddp_wait: the communication backward did not
 *                 hide (the ranks share one clock on one machine; waiting
 *                 for a partner still computing is not communication)
 *   total_ms      the same buckets reduced with nothing beside them (a
 *                 barrier, then nb_ddp_wait alone), timed the same way, less
 *                 the time it spent copying the gradients into the buckets
 *                 and issuing the allreduces (in a training step backward
 *                 does that work and it counts as backward's)
 *   overlap       1 − exposed/total (medians over the steps)
 * Lines "key: value" for bench/dist.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/nabla.h"
#include "bench_mlp_model.h"
#include "bench_util.h"

#define GLOBAL_BATCH 64

/* CPU seconds of the whole process (all its threads: the progress thread's
 * polls count) */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0;
}

typedef struct run {
    bool cnn;
    float *xs;
    int64_t *ys;
    nb_tensor *p[6]; /* mlp */
    nb_module *net;  /* cnn */
    int per, rank;
} run;

/* loss of global batch b on this rank's rows */
static nb_tensor *forward(run *m, int b) {
    const int row = b * GLOBAL_BATCH + m->rank * m->per;
    nb_tensor *y = nb_from_i64(NB_SHAPE(m->per), m->ys + row);
    if (m->cnn) {
        nb_tensor *x = nb_from_f32(NB_SHAPE(m->per, 1, 28, 28), m->xs + (size_t)row * NIN);
        return nb_cross_entropy(nb_forward(m->net, x), y, NB_REDUCE_MEAN);
    }
    nb_tensor *x = nb_from_f32(NB_SHAPE(m->per, NIN), m->xs + (size_t)row * NIN);
    nb_tensor *h = nb_relu(nb_affine(x, m->p[0], m->p[1]));
    h = nb_relu(nb_affine(h, m->p[2], m->p[3]));
    return nb_nll(nb_log_softmax(nb_affine(h, m->p[4], m->p[5]), 1), y, NB_REDUCE_MEAN);
}

int main(int argc, char **argv) {
    nb_dist_init(&argc, &argv);
    const int epochs = argc > 1 ? atoi(argv[1]) : 1;
    const double bucket_mb = argc > 2 ? atof(argv[2]) : 25;
    run m = {.cnn = argc > 3 && !strcmp(argv[3], "cnn")};
    int steps = argc > 4 ? atoi(argv[4]) : m.cnn ? 150 : NTRAIN / GLOBAL_BATCH;
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    m.per = GLOBAL_BATCH / w, m.rank = r;
    nb_optim *opt;
    nb_ddp_opts dopts = {.bucket_mb = bucket_mb};
    nb_ddp *ddp;
    if (!m.cnn) {
        bench_mlp_model(&m.xs, &m.ys, m.p);
        nb_optim_opts oo = nb_optim_defaults(NB_OPTIM_SGD);
        oo.lr = 0.01, oo.momentum = 0.9;
        opt = nb_optim_new_tensors(&oo, m.p, 6);
        ddp = nb_ddp_new_params(m.p, 6, &dopts);
    } else {
        nb_seed(1);
        m.xs = malloc(sizeof(float) * (size_t)NTRAIN * NIN);
        m.ys = malloc(sizeof(int64_t) * NTRAIN);
        for (size_t i = 0; i < (size_t)NTRAIN * NIN; i++) m.xs[i] = (float)(nb_rand_u64() >> 40) / 16777216.0f;
        for (int i = 0; i < NTRAIN; i++) m.ys[i] = (int64_t)(nb_rand_u64() % 10);
        m.net = nb_sequential(nb_conv2d_layer(1, 16, 5, 1, 2), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                              nb_conv2d_layer(16, 32, 5, 1, 2), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                              nb_flatten_layer(), nb_linear(32 * 7 * 7, 128), nb_relu_layer(), nb_linear(128, 10));
        opt = nb_optim_sgd(m.net, 0.01, 0.9);
        ddp = nb_ddp_new(m.net, &dopts);
    }
    const int measure = steps < 200 ? steps : 200; /* steps of the overlap measurement */
    if (steps * GLOBAL_BATCH > NTRAIN) steps = NTRAIN / GLOBAL_BATCH;

    double best = 1e30, best_cpu = 0, loss = 0;
    for (int e = 0; e < epochs; e++) {
        nb_dist_barrier();
        double t0 = bench_now(), c0 = cpu_now();
        for (int b = 0; b < steps; b++) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *l = forward(&m, b);
            nb_optim_zero_grad(opt);
            nb_backward(l);
            nb_ddp_wait(ddp);
            nb_optim_step(opt);
            loss = nb_item(l);
            nb_scope_end(&s);
        }
        double dt = bench_now() - t0, dc = cpu_now() - c0;
        dt = nb_dist_sum(dt) / w; /* the ranks' mean */
        dc = nb_dist_sum(dc) / w;
        if (dt < best) best = dt, best_cpu = dc;
    }
    nb_ddp_stats st = nb_ddp_get_stats(ddp);
    const int64_t polls0 = st.progress_polls;
    double *bwd = calloc((size_t)measure, sizeof *bwd), *exp_ = calloc((size_t)measure, sizeof *exp_),
           *tot = calloc((size_t)measure, sizeof *tot), *bcpu = calloc((size_t)measure, sizeof *bcpu);
    double done = 0, started = 0, first_node = 0, nodes = 0;
    if (w > 1) {
        /* ranks on one machine share CLOCK_MONOTONIC: the times of all ranks
         * say when the last rank finished backward, and the communication
         * left after that is what backward did not hide (a rank waiting
         * for a late partner is not communication) */
        double *t = calloc(2 * (size_t)w, sizeof *t);
        for (int b = 0; b < measure; b++) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *l = forward(&m, b);
            nb_optim_zero_grad(opt);
            nb_dist_barrier();
            double t0 = bench_now(), c0 = cpu_now();
            nb_backward(l);
            double t1 = bench_now(), c1 = cpu_now();
            nb_ddp_wait(ddp);
            double t2 = bench_now();
            nb_optim_step(opt);
            nb_scope_end(&s);
            st = nb_ddp_get_stats(ddp);
            done += st.done_before_wait;
            started += st.started_in_backward;
            first_node += st.first_start_node;
            nodes += st.backward_nodes;
            memset(t, 0, 2 * (size_t)w * sizeof *t);
            t[r] = t1, t[w + r] = t2;
            nb_dist_sum_f64(t, 2 * w);
            double last1 = 0, last2 = 0;
            for (int k = 0; k < w; k++) last1 = fmax(last1, t[k]), last2 = fmax(last2, t[w + k]);
            bwd[b] = t1 - t0, exp_[b] = last2 - last1, bcpu[b] = c1 - c0;
        }
        /* the same buckets alone: nb_ddp_wait with no backward before it
         * starts every bucket itself and waits; timed the same way, from the
         * last rank's start to the last rank's end */
        for (int b = 0; b < measure; b++) {
            nb_dist_barrier();
            double t0 = bench_now();
            nb_ddp_wait(ddp);
            double t2 = bench_now() - nb_ddp_get_stats(ddp).issue_s; /* less the copying in and issuing */
            memset(t, 0, 2 * (size_t)w * sizeof *t);
            t[r] = t0, t[w + r] = t2;
            nb_dist_sum_f64(t, 2 * w);
            double last0 = 0, last2 = 0;
            for (int k = 0; k < w; k++) last0 = fmax(last0, t[k]), last2 = fmax(last2, t[w + k]);
            tot[b] = last2 - last0;
        }
        free(t);
    }
    const double mbc = median(bcpu, measure), mb = median(bwd, measure), me = median(exp_, measure),
                 mt = median(tot, measure);
    const int64_t polls = nb_ddp_get_stats(ddp).progress_polls - polls0;
    if (r == 0) {
        static const char *pname[] = {"default", "thread", "nodes", "off"};
        printf("%s epoch of %d steps, global batch %d: %d rank%s x %d rows x %d thread%s, %d bucket%s "
               "(%.3g MB cap) of %.2f MB gradients, progress %s, last loss %.4f\n",
               m.cnn ? "cnn 1-16-32 fc1568-128-10" : "mlp 784-256-128-10", steps, GLOBAL_BATCH, w, w == 1 ? "" : "s",
               m.per, nb_get_num_threads(), nb_get_num_threads() == 1 ? "" : "s", st.buckets,
               st.buckets == 1 ? "" : "s", bucket_mb, (double)st.bytes / 1e6, pname[st.progress], loss);
        printf("time_s: %.6f\n", best);
        printf("step_ms: %.4f\n", 1e3 * best / (double)steps);
        printf("step_cpu_ms: %.4f\n", 1e3 * best_cpu / (double)steps); /* process CPU, ranks' mean */
        if (w > 1) {
            const double overlap = mt > 0 ? 1 - me / mt : 0;
            printf("backward_ms: %.4f\n", 1e3 * mb);
            printf("backward_cpu_ms: %.4f\n", 1e3 * mbc);
            printf("exposed_ms: %.4f\n", 1e3 * me);
            printf("total_ms: %.4f\n", 1e3 * mt);
            printf("overlap: %.3f\n", overlap);
            printf("buckets_started_in_backward: %.2f of %d\n", started / measure, st.buckets);
            printf("buckets_done_before_wait: %.2f of %d\n", done / measure, st.buckets);
            printf("first_bucket_start_node: %.1f of %.1f\n", first_node / measure, nodes / measure);
            printf("progress_polls_per_step: %.1f\n", (double)polls / measure);
        }
    }
    free(bwd);
    free(exp_);
    free(tot);
    free(bcpu);
    nb_ddp_free(ddp);
    nb_optim_free(opt);
    if (m.net) nb_module_free(m.net);
    else
        for (int i = 0; i < 6; i++) nb_tensor_free(m.p[i]);
    free(m.xs);
    free(m.ys);
    nb_dist_finalize();
    return 0;
}
