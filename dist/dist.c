/* dist/dist.c — data-parallel training over MPI (nabla/dist.h).
 *
 * Built with or without MPI (config.h's NB_HAVE_MPI). Without it, or when the
 * program was not started by a launcher, the world is one process and every
 * function here is what a world of one means: a sum returns its argument, a
 * broadcast copies nothing, the data-parallel wrapper watches nothing.
 *
 * Why every collective is non-blocking and polled: a blocking MPI_Allreduce
 * whose partner rank stopped participating (stuck, or returned early after
 * an error) waits forever. Polling MPI_Test lets us give up after a timeout
 * with a message naming the collective and the rank, and abort the job
 * (MPI_Abort); MPI_ERRORS_RETURN on our communicator turns MPI's own errors
 * into the same message instead of MPI's default abort without context. A
 * rank that dies outright is handled by Open MPI's launcher, which kills the
 * rest of the job as soon as it sees the death. Polling also drives progress
 * of the allreduces started during backward (Open MPI progresses
 * non-blocking collectives only inside MPI calls): a sleeping progress
 * thread polls them while backward computes (see "progress" below).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "autograd/internal.h"
#include "config.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if NB_HAVE_MPI
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#endif

static int g_rank = 0, g_size = 1, g_local = 1;
#if NB_HAVE_MPI
static bool g_mpi_on;  /* MPI in use by nabla and not finalised */
static bool g_own_mpi; /* nabla called MPI_Init (and so MPI_Finalize) */
#endif
static double g_timeout = -1;

bool nb_dist_available(void) { return NB_HAVE_MPI; }
int nb_dist_rank(void) { return g_rank; }
int nb_dist_world_size(void) { return g_size; }
int nb_dist_local_size(void) { return g_local; }

double nb_dist_timeout(void) {
    if (g_timeout <= 0) {
        const char *e = getenv("NB_DIST_TIMEOUT");
        double v = e ? strtod(e, NULL) : 0;
        g_timeout = v > 0 ? v : 120;
    }
    return g_timeout;
}

void nb_dist_set_timeout(double seconds) { g_timeout = seconds > 0 ? seconds : -1; }

#if NB_HAVE_MPI
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

static _Noreturn void vabort(int code, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "nabla: rank %d of %d: %s\n", g_rank, g_size, msg);
    fflush(stderr);
#if NB_HAVE_MPI
    if (g_mpi_on) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#endif
    exit(code ? code : 1);
}

_Noreturn void nb_dist_abort(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vabort(code, fmt, ap);
}

#if NB_HAVE_MPI

static MPI_Comm g_comm = MPI_COMM_NULL;

/* Every MPI call nabla makes once MPI is up holds g_mpi_mu: the progress
 * thread (below) calls MPI_Test on the buckets in flight while the main
 * thread computes, and MPI_THREAD_SERIALIZED asks the program to keep MPI
 * calls from different threads apart. Uncontended it costs ~20 ns a call. */
static pthread_mutex_t g_mpi_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_serialized; /* MPI gave at least MPI_THREAD_SERIALIZED */
#define LOCKED(call)                     \
    do {                                 \
        pthread_mutex_lock(&g_mpi_mu);   \
        int rc_ = (call);                \
        pthread_mutex_unlock(&g_mpi_mu); \
        check_mpi(rc_, what_);           \
    } while (0)

static void check_mpi(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return;
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    nb_dist_abort(3, "%s failed: %s; aborting the job", what, s);
}

/* Waits for r with the timeout: polls for up to NB_DIST_SPIN_US (default
 * 200 µs: a step's allreduce is usually done within that of the partner
 * arriving, and a sleeping rank may lose its core for a time slice), then
 * sleeps 50 µs between polls so that a waiting rank leaves its core to the
 * others (oversubscribed runs, a rank stuck far behind, a loaded machine:
 * at load 37 on 2 cores an epoch of bench_dist took 10.8 s polling 0 µs,
 * 19.2 s polling 2 ms, 35.8 s polling 20 ms). */
static double spin_s(void) {
    static double v = -1;
    if (v < 0) {
        const char *e = getenv("NB_DIST_SPIN_US");
        v = e ? strtod(e, NULL) * 1e-6 : 2e-4;
        if (!(v >= 0)) v = 2e-4;
    }
    return v;
}

static void wait_req(MPI_Request *r, const char *what) {
    const double t0 = now_s(), limit = nb_dist_timeout(), spin = spin_s();
    for (long k = 0;; k++) {
        int done = 0;
        const char *what_ = what;
        LOCKED(MPI_Test(r, &done, MPI_STATUS_IGNORE));
        if (done) return;
        if ((k & 63) == 0 && now_s() - t0 > spin) {
            if (now_s() - t0 > limit)
                nb_dist_abort(4,
                              "%s: no answer from the other ranks after %.0f s (NB_DIST_TIMEOUT): a rank failed or "
                              "stopped taking part; aborting the job",
                              what, limit);
            nanosleep(&(struct timespec){0, 50000}, NULL);
        }
    }
}

static bool launched_by_mpirun(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

/* One nabla thread per core this rank may use: its CPU affinity (mpirun
 * binds each rank to a core by default for up to 2 ranks) and its share of
 * the machine's cores among the ranks on it, at least 1. */
static void pick_threads(void) {
    if (getenv("NB_NUM_THREADS") || g_size == 1) return;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int aff = (int)(online > 0 ? online : 1);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) aff = CPU_COUNT(&set);
    int share = (int)((online > 0 ? online : 1) / g_local);
    int t = aff < share ? aff : share;
    nb_set_num_threads(t > 0 ? t : 1);
}

nb_status nb_dist_init(int *argc, char ***argv) {
    if (g_mpi_on || !launched_by_mpirun()) return NB_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
            nb_fail(NB_ERR_IO, "dist_init", "MPI_Init_thread failed");
            return NB_ERR_IO;
        }
        g_own_mpi = true;
    }
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    g_serialized = level >= MPI_THREAD_SERIALIZED; /* else no progress thread (a program's own MPI_Init) */
    g_mpi_on = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &g_comm), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(g_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(g_comm, &g_rank);
    MPI_Comm_size(g_comm, &g_size);
    MPI_Comm node;
    check_mpi(MPI_Comm_split_type(g_comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
    MPI_Comm_size(node, &g_local);
    MPI_Comm_free(&node);
    pick_threads();
    return NB_OK;
}

static void progress_stop(void);

void nb_dist_finalize(void) {
    if (!g_mpi_on) return;
    nb_dist_barrier();
    progress_stop();
    MPI_Comm_free(&g_comm);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin && g_own_mpi) MPI_Finalize(); /* a program that started MPI itself ends it */
    g_own_mpi = false;
    g_mpi_on = false;
    g_rank = 0, g_size = g_local = 1;
}

void nb_dist_barrier(void) {
    if (g_size == 1) return;
    MPI_Request r;
    const char *what_ = "barrier";
    LOCKED(MPI_Ibarrier(g_comm, &r));
    wait_req(&r, "barrier");
}

void nb_dist_sum_f64(double *v, int n) {
    if (g_size == 1 || n <= 0) return;
    MPI_Request r;
    const char *what_ = "allreduce (metrics)";
    LOCKED(MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, g_comm, &r));
    wait_req(&r, "allreduce (metrics)");
}

static MPI_Datatype mpi_type(nb_dtype dt) {
    switch (dt) {
    case NB_F32: return MPI_FLOAT;
    case NB_F64: return MPI_DOUBLE;
    case NB_I64: return MPI_INT64_T;
    default: return MPI_BYTE;
    }
}

/* Starts a broadcast of t from root into r, after checking that every rank
 * has the same dtype and shape (a small allgather of a fingerprint). */
static void bcast_start(nb_tensor *t, int root, MPI_Request *r) {
    MPI_Datatype ty = mpi_type(t->dtype);
    int64_t count = t->numel;
    if (ty == MPI_BYTE) count *= (int64_t)nb_dtype_size(t->dtype);
    if (count > INT32_MAX)
        nb_dist_abort(5, "broadcast: %s has %lld elements, more than one MPI message carries",
                      t->name[0] ? t->name : "tensor", (long long)count);
    const char *what_ = "broadcast";
    LOCKED(MPI_Ibcast(t->data, (int)count, ty, root, g_comm, r));
}

/* Every rank's dtype and shape of ts[0..n) must be root's. */
static void check_same_shapes(nb_tensor *const *ts, int n, const char *what) {
    int64_t fp[2] = {0, 0}; /* dtype/ndim/dims hashed, numel summed */
    for (int i = 0; i < n; i++) {
        uint64_t h = (uint64_t)ts[i]->dtype * 1000003u + (uint64_t)ts[i]->shape.ndim;
        for (int k = 0; k < ts[i]->shape.ndim; k++) h = h * 1000003u + (uint64_t)ts[i]->shape.d[k];
        fp[0] = (int64_t)((uint64_t)fp[0] * 31u + h);
        fp[1] += ts[i]->numel;
    }
    int64_t mine[3] = {fp[0], fp[1], n}, lo[3], hi[3];
    MPI_Request r[2];
    const char *what_ = what;
    LOCKED(MPI_Iallreduce(mine, lo, 3, MPI_INT64_T, MPI_MIN, g_comm, &r[0]));
    wait_req(&r[0], what);
    LOCKED(MPI_Iallreduce(mine, hi, 3, MPI_INT64_T, MPI_MAX, g_comm, &r[1]));
    wait_req(&r[1], what);
    if (memcmp(lo, hi, sizeof lo))
        nb_dist_abort(5,
                      "%s: the ranks disagree on the tensors (this rank has %d tensors, %lld values; the counts "
                      "range over %lld..%lld tensors, %lld..%lld values): every rank must build the same model",
                      what, n, (long long)fp[1], (long long)lo[2], (long long)hi[2], (long long)lo[1],
                      (long long)hi[1]);
}

void nb_dist_broadcast(nb_tensor *t, int root) {
    if (g_size == 1 || !t) return;
    if (root < 0 || root >= g_size) nb_dist_abort(5, "broadcast: root %d is not a rank of %d", root, g_size);
    check_same_shapes(&t, 1, "broadcast");
    MPI_Request r;
    bcast_start(t, root, &r);
    wait_req(&r, "broadcast");
    nb_bump_version(t);
}

#else /* no MPI: a world of one */

nb_status nb_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return NB_OK;
}
void nb_dist_finalize(void) {}
void nb_dist_barrier(void) {}
void nb_dist_sum_f64(double *v, int n) { (void)v, (void)n; }
void nb_dist_broadcast(nb_tensor *t, int root) { (void)t, (void)root; }

#endif

double nb_dist_sum(double v) {
    nb_dist_sum_f64(&v, 1);
    return v;
}

/* ------------------------------------------------------------ sum over ranks, differentiable */

/* t summed over the ranks in place (blocking, with the timeout). */
static void sum_inplace(nb_tensor *t, const char *what) {
#if NB_HAVE_MPI
    if (g_size == 1) return;
    if (t->numel > INT32_MAX) nb_dist_abort(5, "%s: %lld elements in one allreduce", what, (long long)t->numel);
    MPI_Request r;
    const char *what_ = what;
    LOCKED(MPI_Iallreduce(MPI_IN_PLACE, t->data, (int)t->numel, mpi_type(t->dtype), MPI_SUM, g_comm, &r));
    wait_req(&r, what);
#else
    (void)t, (void)what;
#endif
}

static void allreduce_fwd(nb_node *n) {
    memcpy(n->out->data, n->in[0]->data, (size_t)n->out->numel * nb_dtype_size(n->out->dtype));
    sum_inplace(n->out, "dist_allreduce_sum (forward)");
}

/* y = Σ_r x_r on every rank, so d(Σ_r L_r)/dx_r = Σ_r' dL_r'/dy: the
 * incoming gradients summed over the ranks. */
static void allreduce_bwd(nb_node *n, const nb_tensor *gout) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    nb_tensor *g = nb_copy_persistent(gout);
    if (!g) nb_dist_abort(7, "dist_allreduce_sum: out of memory");
    sum_inplace(g, "dist_allreduce_sum (backward)");
    NB_FLOAT_DISPATCH(gx->dtype, T, {
        T *o = (T *)gx->data;
        const T *p = (const T *)g->data;
        for (int64_t i = 0; i < gx->numel; i++) o[i] += p[i];
    });
    nb_tensor_free(g);
}

static const nb_op ALLREDUCE_SUM = {
    .name = "dist_allreduce_sum", .forward = allreduce_fwd, .backward = allreduce_bwd, .saves = NB_SAVES_NOTHING};

nb_tensor *nb_dist_allreduce_sum(nb_tensor *x) {
    if (x && !nb__is_float(x->dtype)) {
        nb_fail(NB_ERR_DTYPE, "dist_allreduce_sum", "x must be f32 or f64, not %s", nb_dtype_name(x->dtype));
        return NULL;
    }
    return nb_apply(&ALLREDUCE_SUM, &x, 1, x ? x->shape : NB_SCALAR);
}

/* BatchNorm with the batch statistics of all ranks' samples together
 * (torch's SyncBatchNorm): BatchNorm's composition (nn/norm.c) with the
 * per-channel sums taken over ranks by the differentiable allreduce, so the
 * tape differentiates through the global statistics as well. W ranks x B
 * samples then compute what one process computes on W·B samples. */
static nb_tensor *sync_bn_forward(nb_module *m, nb_tensor *x) {
    int64_t ch;
    double eps, mom;
    int spatial;
    nb__batchnorm_config(m, true, &ch, &eps, &mom, &spatial);
    char e[96];
    if (spatial == 1) snprintf(e, sizeof e, "(N,%lld) or (N,%lld,L)", (long long)ch, (long long)ch);
    else snprintf(e, sizeof e, "(N,%lld,H,W)", (long long)ch);
    if (!nb__check_input(m, x, spatial == 1 ? 2 : 4, spatial == 1 ? 3 : 4, e)) return NULL;
    if (x->shape.d[1] != ch) {
        nb_module_fail_shape(m, e, x);
        return NULL;
    }
    const int nd = x->shape.ndim;
    int axes[NB_MAX_DIMS], na = 0;
    nb_shape bs = {.ndim = nd};
    for (int i = 0; i < nd; i++) {
        bs.d[i] = i == 1 ? ch : 1;
        if (i != 1) axes[na++] = i;
    }
    nb_tensor *gamma = nb_reshape(nb_module_param(m, 0), bs), *beta = nb_reshape(nb_module_param(m, 1), bs);
    nb_tensor *rm = nb_module_buffer(m, 0), *rv = nb_module_buffer(m, 1), *nbt = nb_module_buffer(m, 2);
    if (!m->training)
        return nb_add(
            nb_mul(nb_div(nb_sub(x, nb_reshape(rm, bs)), nb_sqrt(nb_add_scalar(nb_reshape(rv, bs), eps))), gamma),
            beta);
    const double n = nb_dist_sum((double)(x->numel / ch)); /* values per channel, all ranks */
    if (n <= 1) {
        nb_module_fail_shape(m, "more than 1 value per channel over all ranks when training", x);
        return NULL;
    }
    nb_tensor *mu = nb_mul_scalar(nb_dist_allreduce_sum(nb_sum(x, axes, na, true)), 1 / n);
    nb_tensor *d = nb_sub(x, mu);
    nb_tensor *var = nb_mul_scalar(nb_dist_allreduce_sum(nb_sum(nb_mul(d, d), axes, na, true)), 1 / n);
    nb_tensor *xhat = nb_div(d, nb_sqrt(nb_add_scalar(var, eps)));
    NB_NO_GRAD {
        nb_scale_(rm, 1 - mom);
        nb_axpy_(rm, mom, nb_reshape(mu, NB_SHAPE(ch)));
        nb_scale_(rv, 1 - mom);
        nb_axpy_(rv, mom * n / (n - 1), nb_reshape(var, NB_SHAPE(ch)));
    }
    nb_i64(nbt)[0] += 1;
    nb_bump_version(nbt);
    return nb_add(nb_mul(xhat, gamma), beta);
}

static int convert_bn(nb_module *m) {
    int64_t ch;
    double eps, mom;
    int spatial, k = 0;
    if (nb__batchnorm_config(m, false, &ch, &eps, &mom, &spatial)) {
        m->forward = sync_bn_forward;
        k++;
    }
    for (int i = 0; i < nb_module_num_children(m); i++) k += convert_bn(nb_module_child_at(m, i));
    return k;
}

int nb_dist_sync_batchnorm(struct nb_module *m) { return m ? convert_bn(m) : 0; }

/* ------------------------------------------------------------ DDP */

typedef struct bucket {
    int first, count; /* d->order[first .. first+count): parameter indices  */
    nb_dtype dt;
    int64_t numel;
    void *buf; /* (numel) the bucket's gradients, flat               */
    int ready; /* parameters whose gradient is final this step      */
    bool started;
    int start_node; /* backward nodes run when its allreduce started; -1: in nb_ddp_wait */
#if NB_HAVE_MPI
    MPI_Request req; /* MPI_REQUEST_NULL once complete; under g_mpi_mu   */
#endif
} bucket;

#if NB_HAVE_MPI
static NB_TLS nb_ddp *g_watching; /* the wrapper whose hook is installed */
#endif

struct nb_ddp {
    nb_tensor **params; /* (np) borrowed                                       */
    int np;
    nb_tensor **bufs; /* (nbuf) module buffers, borrowed                     */
    int nbuf;
    int *order;      /* (np) parameter indices, bucket by bucket            */
    int *bucket_of;  /* (np)                                                */
    int64_t *offset; /* (np) element offset of the parameter in its bucket  */
    bucket *b;
    int nb;
    int next;      /* next bucket to start (buckets start in order)       */
    int in_flight; /* started and not known complete (under g_mpi_mu)     */
    bool sync;
    nb_ddp_progress progress; /* resolved: THREAD, NODES or OFF               */
    double last_poll;         /* NODES: time of the last poll from the tick          */
    nb_ddp_opts opts;
    nb_ddp_stats stats;
    double t_first;
    double issue_acc; /* this step's time copying into buckets and issuing allreduces */
};

static nb_ddp_progress progress_mode(nb_ddp_progress asked) {
    if (asked != NB_DDP_PROGRESS_DEFAULT) return asked;
    const char *e = getenv("NB_DDP_PROGRESS");
    if (e && !strcmp(e, "thread")) return NB_DDP_PROGRESS_THREAD;
    if (e && !strcmp(e, "nodes")) return NB_DDP_PROGRESS_NODES;
    if (e && !strcmp(e, "off")) return NB_DDP_PROGRESS_OFF;
    return NB_DDP_PROGRESS_THREAD;
}

#if NB_HAVE_MPI
static void ddp_fill(nb_ddp *d, bucket *bk) {
    const double t0 = now_s();
    char *dst = bk->buf;
    size_t es = nb_dtype_size(bk->dt);
    for (int j = 0; j < bk->count; j++) {
        nb_tensor *p = d->params[d->order[bk->first + j]];
        if (p->grad) memcpy(dst, p->grad->data, (size_t)p->numel * es);
        else memset(dst, 0, (size_t)p->numel * es);
        dst += (size_t)p->numel * es;
    }
    d->issue_acc += now_s() - t0;
}

/* ---- progress
 * Open MPI advances a non-blocking collective only inside MPI calls made by
 * the process (its vader/shared-memory and TCP paths have no progress thread
 * of their own), so a bucket started during backward moves only when
 * something polls it. Three ways (nb_ddp_opts.progress, NB_DDP_PROGRESS):
 *   thread  a thread per rank sleeps on a condition variable while nothing is
 *           in flight and, from a bucket's start until all started buckets
 *           are done, wakes every NB_DDP_PROGRESS_US (default 100 µs) to
 *           MPI_Test them (beside nb_ddp_wait's own polls); it computes
 *           nothing, so ranks x compute threads still fit the cores
 *   nodes   backward polls between every two nodes, at most every 20 µs
 *   off     polls only when a leaf hook fires (the first version)
 * docs/dist.md gives the measurements behind the default (thread). */
static pthread_t g_prog_thread;
static bool g_prog_running, g_prog_quit;
static pthread_cond_t g_prog_cv;
static nb_ddp *g_prog; /* the wrapper with buckets in flight, under g_mpi_mu */

static double progress_gap_s(void) {
    static double v = -1;
    if (v < 0) {
        const char *e = getenv("NB_DDP_PROGRESS_US");
        v = e ? strtod(e, NULL) * 1e-6 : 1e-4;
        if (!(v >= 1e-6) || v > 1) v = 1e-4;
    }
    return v;
}

/* MPI_Test on the buckets in flight; the caller holds g_mpi_mu. */
static int poll_locked(nb_ddp *d) {
    int left = 0;
    for (int k = 0; k < d->next; k++) {
        bucket *bk = &d->b[k];
        if (bk->req == MPI_REQUEST_NULL) continue;
        int done = 0;
        int rc = MPI_Test(&bk->req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            pthread_mutex_unlock(&g_mpi_mu);
            check_mpi(rc, "allreduce (gradients)");
        }
        if (!done) left++;
    }
    d->in_flight = left;
    return left;
}

static void *progress_main(void *arg) {
    (void)arg;
    const double gap = progress_gap_s();
    pthread_mutex_lock(&g_mpi_mu);
    while (!g_prog_quit) {
        if (!g_prog) {
            pthread_cond_wait(&g_prog_cv, &g_mpi_mu);
            continue;
        }
        if (poll_locked(g_prog) == 0) { /* the next start signals again */
            g_prog = NULL;
            continue;
        }
        g_prog->stats.progress_polls++;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)(gap * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&g_prog_cv, &g_mpi_mu, &ts);
    }
    pthread_mutex_unlock(&g_mpi_mu);
    return NULL;
}

static bool progress_start(void) {
    if (g_prog_running) return true;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    bool ok = pthread_cond_init(&g_prog_cv, &a) == 0;
    pthread_condattr_destroy(&a);
    if (!ok) return false;
    g_prog_quit = false;
    if (pthread_create(&g_prog_thread, NULL, progress_main, NULL) != 0) {
        pthread_cond_destroy(&g_prog_cv);
        return false;
    }
    g_prog_running = true;
    return true;
}

static void progress_stop(void) {
    if (!g_prog_running) return;
    pthread_mutex_lock(&g_mpi_mu);
    g_prog_quit = true;
    g_prog = NULL;
    pthread_cond_signal(&g_prog_cv);
    pthread_mutex_unlock(&g_mpi_mu);
    pthread_join(g_prog_thread, NULL);
    pthread_cond_destroy(&g_prog_cv);
    g_prog_running = false;
}

/* Starts bucket d->next (the progress thread reads d->next, so it moves
 * under the lock). */
static void ddp_start(nb_ddp *d, bool in_backward) {
    bucket *bk = &d->b[d->next];
    const double t0 = now_s();
    if (d->next == 0) d->t_first = t0;
    bk->start_node = in_backward ? (int)nb__backward_position(NULL) : -1;
    bk->started = true;
    pthread_mutex_lock(&g_mpi_mu);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, bk->buf, (int)bk->numel, mpi_type(bk->dt), MPI_SUM, g_comm, &bk->req);
    if (rc == MPI_SUCCESS) {
        d->next++;
        d->in_flight++;
        if (d->progress == NB_DDP_PROGRESS_THREAD && g_prog_running) {
            g_prog = d;
            pthread_cond_signal(&g_prog_cv);
        }
    }
    pthread_mutex_unlock(&g_mpi_mu);
    check_mpi(rc, "allreduce (gradients)");
    d->issue_acc += now_s() - t0;
}

static void ddp_poll(nb_ddp *d) {
    pthread_mutex_lock(&g_mpi_mu);
    poll_locked(d);
    pthread_mutex_unlock(&g_mpi_mu);
}

/* Starts, in bucket order, every bucket whose gradients are all final: the
 * ranks must start their collectives in the same order, and the order in
 * which hooks fire could differ only if the graphs differed. */
static void ddp_start_ready(nb_ddp *d) {
    while (d->next < d->nb && d->b[d->next].ready == d->b[d->next].count) ddp_start(d, true);
    if (d->progress != NB_DDP_PROGRESS_THREAD) ddp_poll(d); /* let MPI progress the ones in flight */
}

static void ddp_hook(void *ctx, int i) {
    nb_ddp *d = ctx;
    if (!d->sync) return;
    bucket *bk = &d->b[d->bucket_of[i]];
    if (bk->started || bk->ready >= bk->count)
        nb_dist_abort(6,
                      "ddp: backward ran again before nb_ddp_wait: use nb_ddp_set_sync(ddp, false) "
                      "while accumulating gradients over several backwards");
    if (++bk->ready == bk->count) {
        ddp_fill(d, bk);
    }
    ddp_start_ready(d); /* and every completed gradient pokes the buckets in flight */
}

/* NB_DDP_PROGRESS_NODES: between backward's nodes, at most every 20 µs */
static void ddp_tick(void *ctx) {
    nb_ddp *d = ctx;
    if (!d->sync || d->next == 0 || d->in_flight == 0) return;
    const double t = now_s();
    if (t - d->last_poll < 2e-5) return;
    d->last_poll = t;
    d->stats.progress_polls++;
    ddp_poll(d);
}
#endif

static bool ddp_build(nb_ddp *d) {
    const size_t n1 = (size_t)d->np + 1; /* a model without parameters is allowed */
    d->order = nb__malloc(n1 * sizeof *d->order);
    d->bucket_of = nb__malloc(n1 * sizeof *d->bucket_of);
    d->offset = nb__malloc(n1 * sizeof *d->offset);
    d->b = nb__calloc(n1 * sizeof *d->b);
    if (!d->order || !d->bucket_of || !d->offset || !d->b) return false;
    const double cap = (d->opts.bucket_mb > 0 ? d->opts.bucket_mb : 25) * 1024 * 1024;
    /* reverse registration order: backward completes the last layer first */
    for (int j = 0; j < d->np; j++) d->order[j] = d->np - 1 - j;
    d->nb = 0;
    for (int j = 0; j < d->np; j++) {
        nb_tensor *p = d->params[d->order[j]];
        bucket *cur = d->nb ? &d->b[d->nb - 1] : NULL;
        size_t es = nb_dtype_size(p->dtype);
        if (!cur || cur->dt != p->dtype || (double)((cur->numel + p->numel) * (int64_t)es) > cap ||
            cur->numel + p->numel > INT32_MAX) {
            cur = &d->b[d->nb++];
            *cur = (bucket){.first = j, .dt = p->dtype, .start_node = -1};
#if NB_HAVE_MPI
            cur->req = MPI_REQUEST_NULL;
#endif
        }
        d->bucket_of[d->order[j]] = (int)(cur - d->b);
        d->offset[d->order[j]] = cur->numel;
        cur->count++;
        cur->numel += p->numel;
    }
    for (int k = 0; k < d->nb; k++) {
        d->b[k].buf = nb__malloc((size_t)d->b[k].numel * nb_dtype_size(d->b[k].dt) + 1);
        if (!d->b[k].buf) return false;
        d->stats.bytes += d->b[k].numel * (int64_t)nb_dtype_size(d->b[k].dt);
    }
    d->stats.buckets = d->nb;
    return true;
}

static nb_ddp *ddp_new(nb_tensor *const *params, int np, nb_tensor *const *bufs, int nbuf, const nb_ddp_opts *o) {
    for (int i = 0; i < np; i++)
        if (!params[i] || params[i]->node || !params[i]->requires_grad || !nb__is_float(params[i]->dtype)) {
            nb_fail(NB_ERR_ARG, "ddp_new", "parameter %d (%s) must be a float leaf tensor that requires grad", i,
                    params[i] && params[i]->name[0] ? params[i]->name : "unnamed");
            return NULL;
        }
    if (o && (o->progress < NB_DDP_PROGRESS_DEFAULT || o->progress > NB_DDP_PROGRESS_OFF)) {
        nb_fail(NB_ERR_ARG, "ddp_new", "opts.progress is %d, not an nb_ddp_progress", (int)o->progress);
        return NULL;
    }
    nb_ddp *d = nb__calloc(sizeof *d);
    if (!d) goto oom;
    d->np = np;
    d->nbuf = nbuf;
    d->sync = true;
    if (o) d->opts = *o;
    d->progress = progress_mode(d->opts.progress);
    d->stats.first_start_node = -1;
    d->params = nb__malloc((size_t)(np + 1) * sizeof *d->params);
    d->bufs = nb__malloc((size_t)(nbuf + 1) * sizeof *d->bufs);
    if (!d->params || !d->bufs) goto oom;
    if (np) memcpy(d->params, params, (size_t)np * sizeof *params);
    if (nbuf) memcpy(d->bufs, bufs, (size_t)nbuf * sizeof *bufs);
    if (!ddp_build(d)) goto oom;
#if NB_HAVE_MPI
    if (g_size > 1) {
        check_same_shapes(d->params, d->np, "ddp_new (parameters)");
        check_same_shapes(d->bufs, d->nbuf, "ddp_new (buffers)");
        if (!d->opts.no_broadcast) {
            for (int i = 0; i < d->np; i++) {
                MPI_Request r;
                bcast_start(d->params[i], 0, &r);
                wait_req(&r, "ddp_new: broadcast of rank 0's parameters");
                nb_bump_version(d->params[i]);
            }
            for (int i = 0; i < d->nbuf; i++) {
                MPI_Request r;
                bcast_start(d->bufs[i], 0, &r);
                wait_req(&r, "ddp_new: broadcast of rank 0's buffers");
                nb_bump_version(d->bufs[i]);
            }
        }
        /* no thread without MPI_THREAD_SERIALIZED (a program that started MPI
         * itself at a lower level) or when it can't be made: poll from nodes */
        if (d->progress == NB_DDP_PROGRESS_THREAD && (!g_serialized || !progress_start()))
            d->progress = NB_DDP_PROGRESS_NODES;
        if (nb_backward_watch_leaves(d->params, d->np, ddp_hook, d) != NB_OK) goto fail;
        nb__backward_set_tick(d->progress == NB_DDP_PROGRESS_NODES ? ddp_tick : NULL, d);
        g_watching = d;
    }
#endif
    if (g_size == 1) d->progress = NB_DDP_PROGRESS_OFF; /* nothing to send */
    d->stats.progress = d->progress;
    return d;
oom:
    nb_fail(NB_ERR_NOMEM, "ddp_new", "out of memory for %d parameters", np);
#if NB_HAVE_MPI
fail:
#endif
    nb_ddp_free(d);
    return NULL;
}

nb_ddp *nb_ddp_new_params(nb_tensor *const *params, int n, const nb_ddp_opts *opts) {
    if ((!params && n > 0) || n < 0) {
        nb_fail(NB_ERR_ARG, "ddp_new", "params is NULL or n (%d) < 0", n);
        return NULL;
    }
    return ddp_new(params, n, NULL, 0, opts);
}

nb_ddp *nb_ddp_new(struct nb_module *m, const nb_ddp_opts *opts) {
    if (!m) {
        nb_fail(NB_ERR_ARG, "ddp_new", "module is NULL");
        return NULL;
    }
    int np = nb_module_parameters(m, NULL, 0), nt = nb_module_named_tensors(m, NULL, 0);
    nb_named_tensor *all = nb__malloc((size_t)(nt + np + 1) * sizeof *all);
    nb_tensor **ts = nb__malloc((size_t)(nt + np + 1) * sizeof *ts);
    if (!all || !ts) {
        nb__free(all);
        nb__free(ts);
        nb_fail(NB_ERR_NOMEM, "ddp_new", "out of memory");
        return NULL;
    }
    nb_module_parameters(m, all, np);
    for (int i = 0; i < np; i++) ts[i] = all[i].t;
    nb_module_named_tensors(m, all, nt);
    int nbuf = 0;
    for (int i = 0; i < nt; i++) { /* buffers: the named tensors that are not parameters */
        bool is_param = false;
        for (int j = 0; j < np && !is_param; j++) is_param = ts[j] == all[i].t;
        if (!is_param) ts[np + nbuf++] = all[i].t;
    }
    nb_ddp *d = ddp_new(ts, np, ts + np, nbuf, opts);
    nb__free(all);
    nb__free(ts);
    return d;
}

void nb_ddp_free(nb_ddp *d) {
    if (!d) return;
#if NB_HAVE_MPI
    if (g_watching == d) { /* a newer wrapper's hook stays */
        nb_backward_watch_leaves(NULL, 0, NULL, NULL);
        nb__backward_set_tick(NULL, NULL);
        g_watching = NULL;
    }
    pthread_mutex_lock(&g_mpi_mu);
    if (g_prog == d) g_prog = NULL; /* the progress thread lets go of it */
    pthread_mutex_unlock(&g_mpi_mu);
    for (int k = 0; k < d->nb; k++)
        if (d->b && d->b[k].started && d->b[k].req != MPI_REQUEST_NULL) wait_req(&d->b[k].req, "ddp_free");
#endif
    for (int k = 0; d->b && k < d->nb; k++) nb__free(d->b[k].buf);
    nb__free(d->b);
    nb__free(d->order);
    nb__free(d->bucket_of);
    nb__free(d->offset);
    nb__free(d->params);
    nb__free(d->bufs);
    nb__free(d);
}

void nb_ddp_set_sync(nb_ddp *d, bool on) {
    if (d) d->sync = on;
}

nb_ddp_stats nb_ddp_get_stats(const nb_ddp *d) {
    if (!d) return (nb_ddp_stats){0};
#if NB_HAVE_MPI
    pthread_mutex_lock(&g_mpi_mu); /* the progress thread updates in_flight and its poll count */
#endif
    nb_ddp_stats st = d->stats;
    st.in_flight = d->in_flight;
#if NB_HAVE_MPI
    pthread_mutex_unlock(&g_mpi_mu);
#endif
    return st;
}

int nb_ddp_bucket_start_node(const nb_ddp *d, int k) { return d && k >= 0 && k < d->nb ? d->b[k].start_node : -1; }

void nb_ddp_wait(nb_ddp *d) {
    if (!d || !d->sync || g_size == 1) return;
#if NB_HAVE_MPI
    const double t0 = now_s();
    int64_t len = 0;
    nb__backward_position(&len);
    d->stats.backward_nodes = (int)len;
    pthread_mutex_lock(&g_mpi_mu); /* the progress thread keeps polling while this one waits */
    int done = 0;
    for (int k = 0; k < d->next; k++) done += d->b[k].req == MPI_REQUEST_NULL;
    pthread_mutex_unlock(&g_mpi_mu);
    d->stats.done_before_wait = done;
    for (int k = d->next; k < d->nb; k++) { /* buckets backward did not finish */
        bucket *bk = &d->b[k];
        if (bk->ready != bk->count) ddp_fill(d, bk);
        bk->ready = bk->count;
    }
    d->stats.started_in_backward = d->next;
    while (d->next < d->nb) ddp_start(d, false);
    for (int k = 0; k < d->nb; k++) {
        bucket *bk = &d->b[k];
        wait_req(&bk->req, "allreduce (gradients)");
        /* mean over ranks, back into each .grad */
        const size_t es = nb_dtype_size(bk->dt);
        const char *src = bk->buf;
        for (int j = 0; j < bk->count; j++) {
            nb_tensor *p = d->params[d->order[bk->first + j]];
            nb_tensor *g = nb_grad_buf(p);
            if (!g) nb_dist_abort(7, "ddp_wait: out of memory for a gradient");
            if (bk->dt == NB_F32) {
                const float *s = (const float *)src;
                float *o = g->data, sc = 1.0f / (float)g_size;
                for (int64_t e = 0; e < p->numel; e++) o[e] = s[e] * sc;
            } else {
                const double *s = (const double *)src;
                double *o = g->data, sc = 1.0 / (double)g_size;
                for (int64_t e = 0; e < p->numel; e++) o[e] = s[e] * sc;
            }
            nb_bump_version(g);
            src += (size_t)p->numel * es;
        }
        bk->ready = 0;
        bk->started = false;
    }
    pthread_mutex_lock(&g_mpi_mu);
    if (g_prog == d) g_prog = NULL;
    d->in_flight = 0;
    d->next = 0;
    pthread_mutex_unlock(&g_mpi_mu);
    const double t1 = now_s();
    d->stats.first_start_node = d->nb ? d->b[0].start_node : -1;
    d->stats.comm_s = t1 - d->t_first;
    d->stats.wait_s = t1 - t0;
    d->stats.issue_s = d->issue_acc;
    d->issue_acc = 0;
    if (!d->opts.no_buffer_sync && d->nbuf > 0) {
        MPI_Request *rs = nb__malloc((size_t)d->nbuf * sizeof *rs);
        if (!rs) nb_dist_abort(7, "ddp_wait: out of memory");
        for (int i = 0; i < d->nbuf; i++) bcast_start(d->bufs[i], 0, &rs[i]);
        for (int i = 0; i < d->nbuf; i++) {
            wait_req(&rs[i], "broadcast of rank 0's buffers");
            nb_bump_version(d->bufs[i]);
        }
        nb__free(rs);
    }
#endif
}

/* ------------------------------------------------------------ checkpoints */

nb_status nb_dist_train_save(const char *path, struct nb_module *m, struct nb_optim *opt,
                             const struct nb_ckpt_meta *meta, char *err, size_t errlen) {
    char msg[512] = "";
    int64_t st = NB_OK;
    if (g_rank == 0) {
        st = nb_train_save(path, m, opt, meta, msg, sizeof msg);
    }
#if NB_HAVE_MPI
    if (g_size > 1) { /* everyone learns rank 0's status and message */
        MPI_Request r[2];
        const char *what_ = "checkpoint status";
        LOCKED(MPI_Ibcast(&st, 1, MPI_INT64_T, 0, g_comm, &r[0]));
        wait_req(&r[0], "checkpoint status (waiting for rank 0 to write it)");
        LOCKED(MPI_Ibcast(msg, (int)sizeof msg, MPI_CHAR, 0, g_comm, &r[1]));
        wait_req(&r[1], "checkpoint status");
        msg[sizeof msg - 1] = 0;
    }
#endif
    if (st != NB_OK && err && errlen) snprintf(err, errlen, "%s%s", g_rank ? "rank 0: " : "", msg);
    return (nb_status)st;
}
