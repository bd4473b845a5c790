/* tests/test_dist.c — data-parallel training (nabla/dist.h), run by
 * tests/run_mpi.sh as one process and under `mpirun -np 2` / `-np 3`.
 *
 *   test_dist unit          one process: the backward leaf hook, loader
 *                           sharding for worlds 1..4, the world-of-one stubs
 *   test_dist train DIR     any world size W: equivalence of W ranks x 32
 *                           samples with one process x 32·W samples
 *                           (MLP in F64 and F32, CNN with BatchNorm, no-sync
 *                           accumulation), metrics, rank-0 checkpoints and
 *                           resuming them in a world of one
 *   test_dist fault MODE DIR  a rank fails (kill: SIGKILL mid-epoch; stuck:
 *                           stops taking part; badfile: can't read its
 *                           file; twice: backward twice before the wait);
 *                           the script checks the job ends in bounded time
 *                           with a clear message
 *   test_dist load CKPT     the last checkpoint of a failed job loads
 */
#include <nabla/nabla.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_fails;
#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            fprintf(stderr, "rank %d: %s:%d: CHECK(%s) failed: ", nb_dist_rank(), __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                              \
            g_fails++;                                                                                        \
        }                                                                                                     \
    } while (0)

/* ------------------------------------------------------------ data and models */

/* n samples of 16 features, 4 classes from a fixed random linear rule. */
static nb_dataset make_data(int64_t n, bool image) {
    nb_rng_state keep = nb_rng_get();
    nb_seed(777);
    nb_dataset ds;
    ds.x = image ? nb_randn(NB_F32, NB_SHAPE(n, 1, 8, 8), 0, 1) : nb_randn(NB_F32, NB_SHAPE(n, 16), 0, 1);
    int64_t *lab = malloc(sizeof(int64_t) * (size_t)n);
    const float *x = nb_f32(ds.x);
    int64_t row = ds.x->numel / n;
    for (int64_t i = 0; i < n; i++) {
        double s0 = 0, s1 = 0;
        for (int64_t j = 0; j < row; j++)
            s0 += x[i * row + j] * ((j % 3) - 1.0), s1 += x[i * row + j] * ((j % 5) - 2.0);
        lab[i] = (s0 > 0) * 2 + (s1 > 0);
    }
    ds.y = nb_from_i64(NB_SHAPE(n), lab);
    free(lab);
    nb_rng_set(keep);
    return ds;
}

static nb_module *make_mlp(nb_dtype dt) {
    nb_module *m =
        nb_sequential(nb_linear(16, 32), nb_relu_layer(), nb_linear(32, 32), nb_relu_layer(), nb_linear(32, 4), NULL);
    nb_module_cast(m, dt);
    return m;
}

static nb_module *make_cnn(void) {
    return nb_sequential(nb_conv2d_layer(1, 4, 3, 1, 1), nb_batchnorm2d(4), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                         nb_flatten_layer(), nb_linear(4 * 4 * 4, 4), NULL);
}

static nb_tensor *cast_x(nb_tensor *x, nb_dtype dt) { return x->dtype == dt ? x : nb_cast(x, dt); }

/* Largest |a - b| over all parameters and buffers, and the largest |a|. */
static double max_diff(nb_module *a, nb_module *b, double *scale) {
    nb_named_tensor ta[64], tb[64];
    int n = nb_module_named_tensors(a, ta, 64);
    nb_module_named_tensors(b, tb, 64);
    double d = 0, s = 0;
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < ta[i].t->numel; k++) {
            double x = nb_get(ta[i].t, k), y = nb_get(tb[i].t, k);
            if (fabs(x - y) > d || isnan(x - y)) d = isnan(x - y) ? INFINITY : fabs(x - y);
            if (fabs(x) > s) s = fabs(x);
        }
    if (scale) *scale = s;
    return d;
}

/* The parameters' bits are the same on every rank: a hash of them compared
 * across ranks. */
static void check_same_on_all_ranks(nb_module *m, const char *what) {
    nb_named_tensor ts[64];
    int n = nb_module_named_tensors(m, ts, 64);
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        const unsigned char *p = ts[i].t->data;
        size_t len = (size_t)ts[i].t->numel * nb_dtype_size(ts[i].t->dtype);
        for (size_t k = 0; k < len; k++) h = (h ^ p[k]) * 1099511628211ULL;
    }
    /* all equal <=> (Σx)² = W·Σx² (Cauchy–Schwarz); 24-bit x keeps it exact */
    double mine = (double)(h >> 40), v[1] = {mine};
    double s[2] = {mine, mine * mine};
    nb_dist_sum_f64(s, 2);
    int w = nb_dist_world_size();
    CHECK(s[0] * s[0] == s[1] * w, "%s: the ranks' parameters differ (hash %.0f here)", what, v[0]);
}

/* ------------------------------------------------------------ unit (one process) */

typedef struct hook_log {
    int fired[16], order[16], n;
    double snapshot[16]; /* grad sum at the moment the hook fired */
    nb_tensor *leaves[16];
} hook_log;

static void on_leaf(void *ctx, int i) {
    hook_log *h = ctx;
    h->fired[i]++;
    h->order[h->n++] = i;
    double s = 0;
    nb_tensor *g = h->leaves[i]->grad;
    for (int64_t k = 0; g && k < g->numel; k++) s += nb_get(g, k);
    h->snapshot[i] = s;
}

static void test_hook(void) {
    nb_seed(3);
    nb_module *m = make_mlp(NB_F64);
    nb_named_tensor ps[16];
    int np = nb_module_parameters(m, ps, 16);
    hook_log h = {0};
    nb_tensor *unused = nb_zeros(NB_F64, NB_SHAPE(3));
    nb_set_requires_grad(unused, true);
    for (int i = 0; i < np; i++) h.leaves[i] = ps[i].t;
    h.leaves[np] = unused;
    CHECK(nb_backward_watch_leaves(h.leaves, np + 1, on_leaf, &h) == NB_OK, "watch");
    nb_dataset ds = make_data(40, false);
    for (int rep = 0; rep < 2; rep++) { /* a second backward fires again, and accumulates */
        memset(h.fired, 0, sizeof h.fired);
        h.n = 0;
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, nb_cast(ds.x, NB_F64)), ds.y, NB_REDUCE_MEAN);
        CHECK(nb_backward(loss) == NB_OK, "backward");
        nb_scope_end(&s);
        for (int i = 0; i < np; i++) {
            double fin = 0;
            for (int64_t k = 0; k < ps[i].t->grad->numel; k++) fin += nb_get(ps[i].t->grad, k);
            CHECK(h.fired[i] == 1, "leaf %d fired %d times", i, h.fired[i]);
            CHECK(h.snapshot[i] == fin, "leaf %d: its grad changed after the hook said it was final", i);
        }
        CHECK(h.fired[np] == 0, "a leaf the backward does not reach fired");
        /* last layer first: bias/weight of layer 3 before those of layer 1 */
        CHECK(h.n == np && h.order[0] >= np - 2 && h.order[np - 1] < 2, "order %d..%d", h.order[0], h.order[np - 1]);
    }
    nb_backward_watch_leaves(NULL, 0, NULL, NULL);
    nb_tensor_free(unused);
    nb_dataset_free(&ds);
    nb_module_free(m);
}

static void test_shard(void) {
    const int64_t n = 23;
    nb_dataset ds = {nb_arange(NB_F64, 0, (double)n, 1), NULL};
    nb_tensor *ref = NULL;
    for (int flags = NB_SHUFFLE; flags <= (NB_SHUFFLE | NB_DROP_LAST); flags += NB_DROP_LAST) {
        for (int w = 1; w <= 4; w++) {
            for (int epoch = 0; epoch < 2; epoch++) {
                int count[64] = {0};
                int64_t per = (flags & NB_DROP_LAST) ? n / w : (n + w - 1) / w;
                double order[64];
                for (int r = 0; r < w; r++) {
                    nb_rng_state before = nb_rng_get();
                    nb_loader *l = nb_loader_new(&ds, 5, flags);
                    CHECK(nb_loader_shard(l, r, w, 99) == NB_OK, "shard");
                    nb_loader_set_epoch(l, epoch);
                    nb_batch b;
                    int64_t got = 0;
                    while (nb_loader_next(l, &b)) {
                        for (int64_t i = 0; i < b.size; i++) {
                            int v = (int)nb_get(b.x, i);
                            count[v]++;
                            order[r + (got + i) * w] = v; /* its place in the global order */
                        }
                        got += b.size;
                    }
                    int64_t want = (flags & NB_DROP_LAST) ? per / 5 * 5 : per;
                    CHECK(got == want, "world %d rank %d: %lld rows, want %lld", w, r, (long long)got, (long long)want);
                    nb_rng_state after = nb_rng_get();
                    CHECK(!memcmp(before.s, after.s, sizeof before.s), "sharding moved the global generator");
                    nb_loader_free(l);
                }
                int64_t seen = 0, twice = 0;
                for (int v = 0; v < n; v++) seen += count[v] > 0, twice += count[v] > 1;
                if (!(flags & NB_DROP_LAST)) {
                    CHECK(seen == n, "world %d: %lld of %lld rows seen", w, (long long)seen, (long long)n);
                    CHECK(twice == per * w - n, "world %d: %lld padded rows, want %lld", w, (long long)twice,
                          (long long)(per * w - n));
                    /* the global order is the world-1 order: the same permutation */
                    if (w == 1 && epoch == 0) ref = nb_from_f64(NB_SHAPE(n), order);
                    else if (epoch == 0)
                        for (int64_t i = 0; i < n; i++)
                            CHECK(order[i] == nb_f64(ref)[i], "world %d: global position %lld is %g, world 1 has %g", w,
                                  (long long)i, order[i], nb_f64(ref)[i]);
                } else {
                    CHECK(twice == 0, "drop-last repeats rows");
                }
            }
        }
        nb_tensor_free(ref);
        ref = NULL;
    }
    /* epochs differ, seeds differ */
    nb_loader *a = nb_loader_new(&ds, 23, NB_SHUFFLE), *b = nb_loader_new(&ds, 23, NB_SHUFFLE);
    nb_loader_shard(a, 0, 1, 1);
    nb_loader_shard(b, 0, 1, 2);
    nb_batch ba, bb;
    nb_loader_next(a, &ba);
    nb_loader_next(b, &bb);
    CHECK(memcmp(ba.x->data, bb.x->data, 23 * sizeof(double)) != 0, "two seeds gave the same order");
    nb_tensor *e0 = nb_copy_persistent(ba.x);
    nb_loader_next(a, &ba);
    nb_loader_next(a, &ba);
    CHECK(memcmp(ba.x->data, e0->data, 23 * sizeof(double)) != 0, "two epochs gave the same order");
    nb_tensor_free(e0);
    nb_loader_free(a);
    nb_loader_free(b);
    /* bad arguments are errors, not crashes */
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_loader *c = nb_loader_new(&ds, 4, NB_DROP_LAST);
    CHECK(nb_loader_shard(c, 2, 2, 0) == NB_ERR_ARG, "rank 2 of 2 accepted");
    nb_error_clear();
    CHECK(nb_loader_shard(c, 0, 24, 0) == NB_ERR_ARG, "24 ranks over 23 rows with drop-last accepted");
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_loader_free(c);
    nb_dataset_free(&ds);
}

static int run_unit(void) {
    CHECK(nb_dist_world_size() == 1 && nb_dist_rank() == 0, "a plain process is a world of one");
    CHECK(nb_dist_sum(2.5) == 2.5, "sum in a world of one");
    nb_dist_barrier();
    test_hook();
    test_shard();
    { /* the sum over ranks is the identity in a world of one, gradient included */
        nb_tensor *x = nb_randn(NB_F64, NB_SHAPE(3, 2), 0, 1);
        nb_gradcheck_report g = nb_gradcheck1(nb_dist_allreduce_sum, x, NULL);
        CHECK(g.ok, "gradcheck of dist_allreduce_sum");
        nb_tensor_free(x);
    }
    /* a wrapper in a world of one changes nothing and costs nothing */
    nb_module *m = make_mlp(NB_F32);
    nb_ddp *d = nb_ddp_new(m, NULL);
    CHECK(d != NULL, "ddp");
    nb_ddp_stats st = nb_ddp_get_stats(d);
    CHECK(st.buckets == 1 && st.bytes == 4 * nb_module_numel(m), "buckets %d bytes %lld", st.buckets,
          (long long)st.bytes);
    CHECK(st.progress == NB_DDP_PROGRESS_OFF && st.first_start_node == -1 && st.in_flight == 0 &&
              nb_ddp_bucket_start_node(d, 0) == -1 && nb_ddp_bucket_start_node(d, 5) == -1,
          "a world of one sends nothing: progress %d", (int)st.progress);
    nb_ddp_wait(d);
    nb_ddp_free(d);
    nb_set_error_mode(NB_ERRORS_RECOVER);
    CHECK(nb_ddp_new(m, &(nb_ddp_opts){.progress = (nb_ddp_progress)7}) == NULL && nb_error() == NB_ERR_ARG &&
              strstr(nb_error_message(), "opts.progress is 7"),
          "a bad progress mode: %s", nb_error_message());
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
    /* tiny buckets: one per parameter at most */
    d = nb_ddp_new(m, &(nb_ddp_opts){.bucket_mb = 1e-6});
    CHECK(nb_ddp_get_stats(d).buckets == nb_module_num_parameters(m), "tiny buckets");
    nb_ddp_free(d);
    nb_module_free(m);
    /* a model without parameters; a parameter list with a non-leaf: an error naming it */
    nb_module *act = nb_sequential(nb_relu_layer(), NULL);
    d = nb_ddp_new(act, NULL);
    CHECK(d && nb_ddp_get_stats(d).buckets == 0, "a module without parameters");
    nb_ddp_wait(d);
    nb_ddp_free(d);
    nb_module_free(act);
    nb_set_error_mode(NB_ERRORS_RECOVER);
    nb_tensor *leaf = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(2)), true);
    nb_scope *s = nb_scope_begin();
    nb_tensor *made = nb_mul_scalar(leaf, 2);
    CHECK(nb_ddp_new_params(&made, 1, NULL) == NULL && nb_error() == NB_ERR_ARG &&
              strstr(nb_error_message(), "parameter 0"),
          "a non-leaf parameter: %s", nb_error_message());
    nb_error_clear();
    nb_scope_end(&s);
    nb_tensor_free(leaf);
    nb_set_error_mode(NB_ERRORS_ABORT);
    printf("unit: %s\n", g_fails ? "FAILED" : "ok");
    return g_fails ? 1 : 0;
}

/* ------------------------------------------------------------ training equivalence */

enum { B = 32 };

/* One optimizer step on this rank's batch (DDP) or on the batch of all
 * ranks (reference). accum: micro-batches per step (no-sync before the last). */
static void step(nb_module *m, nb_optim *opt, nb_ddp *ddp, nb_loader *l, nb_dtype dt, int accum) {
    nb_zero_grad(m);
    for (int a = 0; a < accum; a++) {
        nb_batch b;
        if (!nb_loader_next(l, &b)) nb_dist_abort(1, "loader ran out");
        if (ddp) nb_ddp_set_sync(ddp, a == accum - 1);
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, cast_x(b.x, dt)), b.y, NB_REDUCE_MEAN);
        if (accum > 1) loss = nb_mul_scalar(loss, 1.0 / accum);
        CHECK(nb_backward(loss) == NB_OK, "backward");
        nb_scope_end(&s);
    }
    nb_ddp_wait(ddp);
    nb_optim_step(opt);
}

/* W ranks x 32 samples for `steps` steps vs one process x 32W samples.
 * Returns the largest difference relative to the largest parameter. */
static double mlp_equivalence(nb_dtype dt, int steps, int accum, bool sgd) {
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    nb_dataset ds = make_data(2000, false);
    nb_seed(42 + (uint64_t)r); /* different initial weights per rank: the broadcast must fix them */
    nb_module *m = make_mlp(dt);
    nb_ddp *ddp = nb_ddp_new(m, NULL);
    nb_optim *opt = sgd ? nb_optim_sgd(m, 0.1, 0.9) : nb_optim_adam(m, 1e-2);
    nb_loader *l = nb_loader_new(&ds, B, NB_SHUFFLE);
    nb_loader_shard(l, r, w, 5);
    for (int k = 0; k < steps; k++) step(m, opt, ddp, l, dt, accum);
    check_same_on_all_ranks(m, "mlp");

    nb_seed(42); /* rank 0's initial weights */
    nb_module *ref = make_mlp(dt);
    nb_optim *ropt = sgd ? nb_optim_sgd(ref, 0.1, 0.9) : nb_optim_adam(ref, 1e-2);
    nb_loader *rl = nb_loader_new(&ds, (int64_t)B * w * accum, NB_SHUFFLE);
    nb_loader_shard(rl, 0, 1, 5);
    for (int k = 0; k < steps; k++) step(ref, ropt, NULL, rl, dt, 1);
    double scale, d = max_diff(m, ref, &scale);
    nb_loader_free(l);
    nb_loader_free(rl);
    nb_optim_free(opt);
    nb_optim_free(ropt);
    nb_ddp_free(ddp);
    nb_module_free(m);
    nb_module_free(ref);
    nb_dataset_free(&ds);
    return d / scale;
}

/* The CNN with BatchNorm, statistics per rank (each rank normalizes its 32
 * samples, as torch's DDP without SyncBatchNorm): the same as one process
 * accumulating the W ranks' batches as W micro-batches of 32, loss / W each.
 * Running statistics are rank 0's (broadcast after each step), so the
 * reference keeps those of its first micro-batch. */
static double cnn_equivalence(int steps, nb_dtype dt, bool sgd) {
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    nb_dataset ds = make_data(1000, true);
    nb_seed(11);
    nb_module *m = make_cnn();
    nb_module_cast(m, dt);
    nb_ddp *ddp = nb_ddp_new(m, NULL);
    nb_optim *opt = sgd ? nb_optim_sgd(m, 0.05, 0.9) : nb_optim_adam(m, 1e-2);
    nb_loader *l = nb_loader_new(&ds, B, NB_SHUFFLE);
    nb_loader_shard(l, r, w, 8);
    for (int k = 0; k < steps; k++) step(m, opt, ddp, l, dt, 1);
    check_same_on_all_ranks(m, "cnn");

    nb_seed(11);
    nb_module *ref = make_cnn();
    nb_module_cast(ref, dt);
    nb_optim *ropt = sgd ? nb_optim_sgd(ref, 0.05, 0.9) : nb_optim_adam(ref, 1e-2);
    nb_loader *rl[8];
    for (int q = 0; q < w; q++) {
        rl[q] = nb_loader_new(&ds, B, NB_SHUFFLE);
        nb_loader_shard(rl[q], q, w, 8);
    }
    nb_tensor *rm = nb_module_get(ref, "1.running_mean"), *rv = nb_module_get(ref, "1.running_var");
    nb_tensor *nbt = nb_module_get(ref, "1.num_batches_tracked");
    for (int k = 0; k < steps; k++) {
        nb_zero_grad(ref);
        nb_tensor *keep_m = NULL, *keep_v = NULL;
        for (int q = 0; q < w; q++) {
            nb_batch b;
            nb_loader_next(rl[q], &b);
            nb_scope *s = nb_scope_begin();
            nb_tensor *loss =
                nb_mul_scalar(nb_cross_entropy(nb_forward(ref, cast_x(b.x, dt)), b.y, NB_REDUCE_MEAN), 1.0 / w);
            nb_backward(loss);
            nb_scope_end(&s);
            if (q == 0) keep_m = nb_copy_persistent(rm), keep_v = nb_copy_persistent(rv);
        }
        memcpy(rm->data, keep_m->data, (size_t)rm->numel * nb_dtype_size(dt));
        memcpy(rv->data, keep_v->data, (size_t)rv->numel * nb_dtype_size(dt));
        nb_i64(nbt)[0] = k + 1;
        nb_tensor_free(keep_m);
        nb_tensor_free(keep_v);
        nb_optim_step(ropt);
    }
    double scale, d = max_diff(m, ref, &scale);
    for (int q = 0; q < w; q++) nb_loader_free(rl[q]);
    nb_loader_free(l);
    nb_optim_free(opt);
    nb_optim_free(ropt);
    nb_ddp_free(ddp);
    nb_module_free(m);
    nb_module_free(ref);
    nb_dataset_free(&ds);
    return d / scale;
}

/* The CNN with synchronized BatchNorm (nb_dist_sync_batchnorm): W ranks x 32
 * samples normalize as one process x 32W — the same parameters AND running
 * statistics as one process with the whole batch and plain BatchNorm. */
static double cnn_sync_equivalence(int steps, nb_dtype dt, bool sgd) {
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    nb_dataset ds = make_data(1000, true);
    nb_seed(12);
    nb_module *m = make_cnn();
    nb_module_cast(m, dt);
    CHECK(nb_dist_sync_batchnorm(m) == 1, "one BatchNorm switched");
    nb_ddp *ddp = nb_ddp_new(m, NULL);
    nb_optim *opt = sgd ? nb_optim_sgd(m, 0.05, 0.9) : nb_optim_adam(m, 1e-2);
    nb_loader *l = nb_loader_new(&ds, B, NB_SHUFFLE);
    nb_loader_shard(l, r, w, 9);
    for (int k = 0; k < steps; k++) step(m, opt, ddp, l, dt, 1);
    check_same_on_all_ranks(m, "cnn sync");

    nb_seed(12);
    nb_module *ref = make_cnn();
    nb_module_cast(ref, dt);
    nb_optim *ropt = sgd ? nb_optim_sgd(ref, 0.05, 0.9) : nb_optim_adam(ref, 1e-2);
    nb_loader *rl = nb_loader_new(&ds, (int64_t)B * w, NB_SHUFFLE);
    nb_loader_shard(rl, 0, 1, 9);
    for (int k = 0; k < steps; k++) step(ref, ropt, NULL, rl, dt, 1);
    /* eval mode reads the running statistics: they must agree too */
    double scale, d = max_diff(m, ref, &scale);
    nb_loader_free(l);
    nb_loader_free(rl);
    nb_optim_free(opt);
    nb_optim_free(ropt);
    nb_ddp_free(ddp);
    nb_module_free(m);
    nb_module_free(ref);
    nb_dataset_free(&ds);
    return d / scale;
}

/* The differentiable sum over ranks: y = Σ x_r, dx_r = Σ dy_r'. */
static void test_allreduce_op(void) {
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_requires_grad(nb_full(NB_F64, NB_SHAPE(3), r + 1), true);
    nb_tensor *y = nb_dist_allreduce_sum(x);
    CHECK(nb_get(y, 2) == w * (w + 1) / 2.0, "allreduce forward %g", nb_get(y, 2));
    nb_backward(nb_sum_all(nb_mul_scalar(y, r + 1))); /* dL_r/dy = r + 1 */
    CHECK(nb_get(x->grad, 0) == w * (w + 1) / 2.0, "allreduce backward %g", nb_get(x->grad, 0));
    nb_scope_end(&s);
}

/* Overlap: buckets are sent while backward still runs, and something moves
 * them while the main thread computes. The model is the MLP with one bucket
 * per parameter and, in front of it, an op whose backward (the last node of
 * the sweep) only waits: by then every bucket has been started from the leaf
 * hook, and the main thread makes no MPI call until the op returns, so only
 * the progress thread can complete the allreduces. With any progress mode
 * the first bucket (the last layer's bias) must have been issued before the
 * last backward node ran. */
static nb_ddp *g_slow_ddp;
static double g_slow_waited;
static int g_slow_left;

static void slow_fwd(nb_node *n) { memcpy(n->out->data, n->in[0]->data, (size_t)n->out->numel * sizeof(double)); }
static void slow_bwd(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    for (int64_t i = 0; gx && i < gx->numel; i++) nb_f64(gx)[i] += nb_f64(gy)[i];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double el = 0;
    int left = 1;
    while (g_slow_ddp && (left = nb_ddp_get_stats(g_slow_ddp).in_flight) > 0 && el < 10) {
        nanosleep(&(struct timespec){0, 200000}, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }
    g_slow_waited = el, g_slow_left = left;
}
static const nb_op SLOW = {.name = "test_wait_for_buckets", .forward = slow_fwd, .backward = slow_bwd};

static void test_overlap(void) {
    const int w = nb_dist_world_size();
    if (w == 1) return;
    nb_dataset ds = make_data(64, false);
    static const nb_ddp_progress modes[] = {NB_DDP_PROGRESS_THREAD, NB_DDP_PROGRESS_NODES, NB_DDP_PROGRESS_OFF};
    for (int mi = 0; mi < 3; mi++) {
        nb_seed(9);
        nb_module *m = make_mlp(NB_F64);
        const int np = nb_module_num_parameters(m);
        nb_ddp *d = nb_ddp_new(m, &(nb_ddp_opts){.bucket_mb = 1e-6, .progress = modes[mi]});
        CHECK(nb_ddp_get_stats(d).progress == modes[mi], "progress mode %d in use, not %d",
              (int)nb_ddp_get_stats(d).progress, (int)modes[mi]);
        CHECK(nb_ddp_get_stats(d).buckets == np, "one bucket per parameter");
        g_slow_ddp = modes[mi] == NB_DDP_PROGRESS_THREAD ? d : NULL;
        for (int rep = 0; rep < 3; rep++) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *x = nb_set_requires_grad(nb_cast(ds.x, NB_F64), true);
            nb_tensor *in = nb_apply(&SLOW, &x, 1, x->shape);
            nb_tensor *loss = nb_cross_entropy(nb_forward(m, in), ds.y, NB_REDUCE_MEAN);
            nb_zero_grad(m);
            g_slow_left = -1;
            CHECK(nb_backward(loss) == NB_OK, "backward");
            nb_ddp_stats st0 = nb_ddp_get_stats(d);
            nb_ddp_wait(d);
            nb_ddp_stats st = nb_ddp_get_stats(d);
            const int first = nb_ddp_bucket_start_node(d, 0), last = nb_ddp_bucket_start_node(d, np - 1);
            CHECK(st.started_in_backward == np, "%d of %d buckets started in backward", st.started_in_backward, np);
            CHECK(first >= 0 && first < st.backward_nodes - 1,
                  "the first bucket started after %d of %d backward nodes, not before the last", first,
                  st.backward_nodes);
            for (int k = 1; k < np; k++)
                CHECK(nb_ddp_bucket_start_node(d, k) >= nb_ddp_bucket_start_node(d, k - 1), "buckets in order");
            CHECK(last <= st.backward_nodes - 1, "the first layer's weight issued at %d, before the waiting node",
                  last);
            if (modes[mi] == NB_DDP_PROGRESS_THREAD) {
                /* every allreduce completed while the main thread sat in the last node */
                CHECK(g_slow_left == 0 && st0.in_flight == 0,
                      "progress thread: %d buckets still in flight after %.1f s in the last backward node", g_slow_left,
                      g_slow_waited);
                CHECK(st.done_before_wait == np, "%d of %d buckets done before nb_ddp_wait", st.done_before_wait, np);
            }
            if (nb_dist_rank() == 0 && rep == 0)
                printf("overlap, progress %d: first bucket issued after %d of %d backward nodes, %d of %d done "
                       "before the wait%s\n",
                       (int)modes[mi], first, st.backward_nodes, st.done_before_wait, np,
                       modes[mi] == NB_DDP_PROGRESS_THREAD ? " (the last node waited for them)" : "");
            nb_scope_end(&s);
        }
        g_slow_ddp = NULL;
        nb_ddp_free(d);
        nb_module_free(m);
    }
    nb_dataset_free(&ds);
}

/* Rank 0 writes a checkpoint after epoch 1; the job trains epoch 2. A world
 * of one (every rank, alone) loads the checkpoint, trains epoch 2 with the
 * global batch, and must end where the W ranks did. */
static double resume_other_world(const char *dir) {
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/dist_w%d.ckpt", dir, w);
    nb_dataset ds = make_data(64 * 3 * 2, false);
    nb_seed(5);
    nb_module *m = make_mlp(NB_F64);
    nb_ddp *ddp = nb_ddp_new(m, NULL);
    nb_optim *opt = nb_optim_adam(m, 1e-2);
    nb_loader *l = nb_loader_new(&ds, B, NB_SHUFFLE | NB_DROP_LAST);
    nb_loader_shard(l, r, w, 21);
    nb_batch b;
    for (int epoch = 0; epoch < 2; epoch++) {
        double sums[3] = {0, 0, 0}; /* loss·n, correct, n: reduced over ranks */
        while (nb_loader_next(l, &b)) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *logits = nb_forward(m, nb_cast(b.x, NB_F64));
            nb_tensor *loss = nb_cross_entropy(logits, b.y, NB_REDUCE_MEAN);
            nb_zero_grad(m);
            nb_backward(loss);
            nb_ddp_wait(ddp);
            nb_optim_step(opt);
            sums[0] += nb_item(loss) * (double)b.size;
            nb_tensor *pred = nb_argmax(logits, 1, false);
            for (int64_t i = 0; i < b.size; i++) sums[1] += nb_i64(pred)[i] == nb_i64(b.y)[i];
            sums[2] += (double)b.size;
            nb_scope_end(&s);
        }
        double local_n = sums[2];
        nb_dist_sum_f64(sums, 3);
        CHECK(sums[2] == local_n * w, "metrics: %g samples over the ranks, want %g", sums[2], local_n * w);
        CHECK(sums[1] >= 0 && sums[1] <= sums[2], "correct count");
        if (epoch == 0) {
            nb_ckpt_meta meta = nb_ckpt_meta_now(1, nb_optim_step_count(opt));
            CHECK(nb_dist_train_save(path, m, opt, &meta, err, sizeof err) == NB_OK, "save: %s", err);
            CHECK(access(path, F_OK) == 0, "rank %d does not see rank 0's checkpoint after the save returned", r);
        }
    }
    nb_seed(99);
    nb_module *one = make_mlp(NB_F64);
    nb_optim *oopt = nb_optim_adam(one, 1e-2);
    nb_ckpt_meta meta;
    CHECK(nb_train_load(path, one, oopt, &meta, err, sizeof err) == NB_OK, "load: %s", err);
    CHECK(meta.epoch == 1, "epoch %lld", (long long)meta.epoch);
    nb_loader *ol = nb_loader_new(&ds, (int64_t)B * w, NB_SHUFFLE | NB_DROP_LAST);
    nb_loader_shard(ol, 0, 1, 21);
    nb_loader_set_epoch(ol, (int)meta.epoch);
    while (nb_loader_next(ol, &b)) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_forward(one, nb_cast(b.x, NB_F64)), b.y, NB_REDUCE_MEAN);
        nb_zero_grad(one);
        nb_backward(loss);
        nb_optim_step(oopt);
        nb_scope_end(&s);
    }
    double scale, d = max_diff(m, one, &scale);
    nb_loader_free(l);
    nb_loader_free(ol);
    nb_optim_free(opt);
    nb_optim_free(oopt);
    nb_ddp_free(ddp);
    nb_module_free(m);
    nb_module_free(one);
    nb_dataset_free(&ds);
    return d / scale;
}

static int run_train(const char *dir) {
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    /* everything below runs twice: nabla's heap must be where the first run
     * left it (LeakSanitizer cannot watch MPI runs: Open MPI's plugins leak) */
    size_t live[2];
    /* ranks x threads never oversubscribe the cores (when the launcher left
     * the choice to nabla: NB_NUM_THREADS unset) */
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int nt = nb_get_num_threads(), loc = nb_dist_local_size();
    if (w > 1 && !getenv("NB_NUM_THREADS"))
        CHECK(nt == 1 || (long)nt * loc <= cores, "%d threads x %d ranks on %ld cores", nt, loc, cores);
    if (r == 0)
        printf("world %d: %d rank%s on this machine, %d thread%s each, %ld cores\n", w, loc, loc == 1 ? "" : "s", nt,
               nt == 1 ? "" : "s", cores);
    for (int rep = 0; rep < 2; rep++) {
        CHECK(nb_dist_sum((double)r + 1) == w * (w + 1) / 2.0, "sum of ranks");
        /* F64: the only differences are the summation orders of one GEMM over
         * 32W rows vs W GEMMs over 32 and a sum over ranks: ~1e-16 per step,
         * grown by training. F32 the same at ~1e-7. */
        double e64 = mlp_equivalence(NB_F64, 12, 1, true);
        double e32 = mlp_equivalence(NB_F32, 12, 1, true);
        double eacc = mlp_equivalence(NB_F64, 6, 2, false);
        double ecnn = cnn_equivalence(10, NB_F32, true), ecnn64 = cnn_equivalence(10, NB_F64, false);
        double esync = cnn_sync_equivalence(10, NB_F64, false), esync32 = cnn_sync_equivalence(10, NB_F32, true);
        double eres = resume_other_world(dir);
        test_allreduce_op();
        test_overlap();
        if (r == 0 && rep == 0)
            printf("world %d, relative max parameter difference from one process: MLP f64 %.2g, MLP f32 %.2g, "
                   "no-sync accumulation (Adam) %.2g, CNN+BatchNorm f32 %.2g f64 %.2g, CNN+SyncBatchNorm vs batch %d "
                   "f64 %.2g "
                   "f32 %.2g, resumed in a world of one %.2g\n",
                   w, e64, e32, eacc, ecnn, ecnn64, B * w, esync, esync32, eres);
        CHECK(e64 <= 1e-12, "MLP f64: %g", e64);
        CHECK(e32 <= 1e-5, "MLP f32: %g", e32);
        CHECK(eacc <= 1e-12, "accumulation: %g", eacc);
        CHECK(ecnn <= 1e-6, "CNN f32: %g", ecnn);
        CHECK(ecnn64 <= 1e-9, "CNN f64: %g", ecnn64);
        CHECK(eres <= 1e-12, "resume: %g", eres);
        CHECK(esync <= 1e-9, "CNN sync f64: %g", esync);
        CHECK(esync32 <= 1e-5, "CNN sync f32: %g", esync32);
        nb_mem_trim();
        live[rep] = nb_mem_stats_get().heap_live;
    }
    CHECK(live[1] == live[0], "nabla's heap grew from %zu to %zu bytes in a second run", live[0], live[1]);
    double fails = nb_dist_sum(g_fails);
    if (r == 0) printf("train: %s\n", fails ? "FAILED" : "ok");
    return fails ? 1 : 0;
}

/* ------------------------------------------------------------ faults */

static int run_fault(const char *mode, const char *dir) {
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/fault.ckpt", dir);
    if (!strcmp(mode, "badfile")) { /* every rank reads its own shard file; rank 1's is missing */
        char f[1024];
        snprintf(f, sizeof f, "%s/no-such-shard-%d.csv", dir, r);
        nb_dataset ds;
        if (r == 1 && nb_csv_load(f, NULL, &ds, err, sizeof err) != NB_OK) nb_dist_abort(2, "%s", err);
        nb_dist_barrier(); /* rank 0 would wait here forever without the abort */
        return 0;
    }
    nb_dataset ds = make_data(32 * w * 20, false);
    nb_seed(1);
    nb_module *m = make_mlp(NB_F32);
    nb_ddp *ddp = nb_ddp_new(m, NULL);
    if (!strcmp(mode, "twice")) { /* misuse: two backwards with sync on before nb_ddp_wait */
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, ds.x), ds.y, NB_REDUCE_MEAN);
        nb_backward(loss);
        nb_backward(loss);
        nb_scope_end(&s);
        return 0; /* not reached */
    }
    nb_optim *opt = nb_optim_sgd(m, 0.05, 0.9);
    nb_loader *l = nb_loader_new(&ds, B, NB_SHUFFLE);
    nb_loader_shard(l, r, w, 3);
    nb_batch b;
    int64_t k = 0;
    while (nb_loader_next(l, &b)) {
        if (k == 9 && r == 1) {
            fprintf(stderr, "rank 1: failing at step %lld (%s)\n", (long long)k, mode);
            fflush(stderr);
            if (!strcmp(mode, "kill")) raise(SIGKILL);
            if (!strcmp(mode, "stuck"))
                for (;;) pause();
        }
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_forward(m, b.x), b.y, NB_REDUCE_MEAN);
        nb_zero_grad(m);
        nb_backward(loss);
        nb_ddp_wait(ddp);
        nb_optim_step(opt);
        nb_scope_end(&s);
        if (++k % 4 == 0) {
            nb_ckpt_meta meta = nb_ckpt_meta_now(0, k);
            if (nb_dist_train_save(path, m, opt, &meta, err, sizeof err) != NB_OK) nb_dist_abort(2, "%s", err);
        }
    }
    return 0; /* not reached: rank 1 fails at step 9 */
}

static int run_load(const char *path) {
    char err[512];
    nb_module *m = make_mlp(NB_F32);
    nb_optim *opt = nb_optim_sgd(m, 0.05, 0.9);
    nb_ckpt_meta meta;
    nb_status st = nb_train_load(path, m, opt, &meta, err, sizeof err);
    if (st != NB_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("loaded %s: step %lld, optimizer steps %lld\n", path, (long long)meta.step,
           (long long)nb_optim_step_count(opt));
    int ok = meta.step == 8 && nb_optim_step_count(opt) == 8;
    nb_optim_free(opt);
    nb_module_free(m);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (nb_dist_init(&argc, &argv) != NB_OK) return 1;
    const char *mode = argc > 1 ? argv[1] : "unit";
    int rc;
    if (!strcmp(mode, "unit")) rc = run_unit();
    else if (!strcmp(mode, "train") && argc > 2) rc = run_train(argv[2]);
    else if (!strcmp(mode, "fault") && argc > 3) rc = run_fault(argv[2], argv[3]);
    else if (!strcmp(mode, "load") && argc > 2) rc = run_load(argv[2]);
    else {
        fprintf(stderr, "usage: test_dist unit | train DIR | fault kill|stuck|badfile|twice DIR | load CKPT\n");
        rc = 2;
    }
    nb_dist_finalize();
    return rc;
}
