/* nabla/dist.h — data-parallel training over MPI (Open MPI), PyTorch DDP's design.
 *
 * Every rank (process) holds the whole model and takes its shard of each
 * global batch; after backward the gradients are averaged across ranks, so
 * every rank makes the same optimizer step and the models stay identical:
 *
 *     nb_dist_init(&argc, &argv);                 // first thing in main
 *     nb_seed(42);
 *     nb_module *net = make_model();
 *     nb_ddp *ddp = nb_ddp_new(net, NULL);        // rank 0's weights everywhere
 *     nb_optim *opt = nb_optim_adam(net, 1e-3);
 *     nb_loader *train = nb_loader_new(&ds, 32, NB_SHUFFLE);   // 32 per rank
 *     nb_loader_shard(train, nb_dist_rank(), nb_dist_world_size(), 1234);
 *     while (nb_loader_next(train, &b)) {
 *         nb_scope *s = nb_scope_begin();
 *         nb_tensor *loss = nb_cross_entropy(nb_forward(net, b.x), b.y, NB_REDUCE_MEAN);
 *         nb_zero_grad(net);
 *         nb_backward(loss);                      // buckets are sent during backward
 *         nb_ddp_wait(ddp);                       // averaged gradients in .grad
 *         nb_optim_step(opt);
 *         nb_scope_end(&s);
 *     }
 *     nb_ddp_free(ddp);
 *     nb_dist_finalize();
 *
 * and run it with `mpirun -np 2 ./train`. The same program runs as one
 * process without a launcher (world size 1, no MPI call is made) and in a
 * nabla built without MPI (-Dmpi=disabled): this header is always there and
 * every function works, as for a world of one rank. nb_dist_available() says
 * whether MPI was built in.
 *
 * Failure: a rank that dies (killed, a crash, nabla's abort on misuse) ends
 * the whole job: Open MPI's launcher kills the other ranks. A rank that stops
 * taking part without dying (a loop that never ends, a rank that returned
 * an error and skipped a collective) is caught by a timeout: every
 * collective here is non-blocking and polled, and one that has not finished
 * after nb_dist_timeout() seconds (default 120, NB_DIST_TIMEOUT overrides)
 * prints which collective, on which rank, and aborts the job (MPI_Abort).
 * No call here returns a "the job is broken" status that the program could
 * get wrong: a broken job ends, with a message, in bounded time.
 *
 * Threads: with several ranks on one machine, nb_dist_init sets nabla's
 * thread count to the cores this rank may use (its CPU affinity, which
 * mpirun binds) divided among the ranks sharing them, at least 1, unless
 * NB_NUM_THREADS is set; so ranks x threads does not oversubscribe the cores.
 */
#ifndef NABLA_DIST_H
#define NABLA_DIST_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nb_module;
struct nb_optim;
struct nb_ckpt_meta;

/* ------------------------------------------------------------ the world */

/* Starts MPI when the program was launched by mpirun/mpiexec (Open MPI's
 * environment says so) and MPI is built in; otherwise does nothing and the
 * world is this one process. argc/argv may be NULL. Safe to call twice.
 * NB_OK, or NB_ERR_IO when MPI failed to start (the message says why). */
NB_API nb_status nb_dist_init(int *argc, char ***argv);
/* Waits for every rank, then shuts MPI down. Safe without nb_dist_init. */
NB_API void nb_dist_finalize(void);
/* true when nabla was built with MPI (-Dmpi). */
NB_API bool nb_dist_available(void);
/* This process's rank in [0, world size), and the number of ranks (1 without MPI). */
NB_API int nb_dist_rank(void);
NB_API int nb_dist_world_size(void);
/* Ranks on this machine (1 without MPI). */
NB_API int nb_dist_local_size(void);
/* Seconds a collective may wait for the other ranks before the job is
 * aborted (default 120; NB_DIST_TIMEOUT or nb_dist_set_timeout). */
NB_API double nb_dist_timeout(void);
NB_API void nb_dist_set_timeout(double seconds);
/* Ends the whole job: prints "nabla: rank R of W: <message>" to stderr and
 * aborts every rank (MPI_Abort; exit(code) in a world of one). */
NB_API _Noreturn void nb_dist_abort(int code, const char *fmt, ...);

/* Blocks until every rank has called it (with the timeout above). */
NB_API void nb_dist_barrier(void);
/* v[0..n) summed over the ranks, in place, the same bits on every rank:
 * losses, counts of correct answers (exact up to 2^53). */
NB_API void nb_dist_sum_f64(double *v, int n);
/* One value summed over ranks. */
NB_API double nb_dist_sum(double v);
/* Copies root's t->data into t on every rank (same dtype and shape wanted;
 * a mismatch aborts the job with both shapes named). */
NB_API void nb_dist_broadcast(nb_tensor *t, int root);

/* y = Σ over ranks of x, the same on every rank; differentiable: dx = Σ over
 * ranks of dy (each rank's loss counts for all). A collective: every rank
 * must call it, in the same order. Identity in a world of one. */
NB_API nb_tensor *nb_dist_allreduce_sum(nb_tensor *x);

/* BatchNorm over all ranks (torch's SyncBatchNorm): switches every
 * BatchNorm1d/2d in m to batch statistics (mean, variance, their gradients)
 * computed over the samples of all ranks, so W ranks x B samples normalize as
 * one process with W·B; running statistics then agree on every rank. Returns
 * how many layers it switched. Without it (the default, as torch's DDP) each
 * rank normalizes with its own batch's statistics and nb_ddp_wait copies rank
 * 0's running statistics to all. Costs two small allreduces per layer per
 * forward and per backward. */
NB_API int nb_dist_sync_batchnorm(struct nb_module *m);

/* ---------------------------------------------------- the data-parallel wrapper */

typedef struct nb_ddp nb_ddp;

/* Who advances the allreduces started during backward (Open MPI moves a
 * non-blocking collective only inside MPI calls; docs/dist.md measures the
 * three). DEFAULT: NB_DDP_PROGRESS=thread|nodes|off in the environment, else
 * THREAD. */
typedef enum nb_ddp_progress {
    NB_DDP_PROGRESS_DEFAULT = 0,
    NB_DDP_PROGRESS_THREAD, /* a sleeping thread per rank polls every NB_DDP_PROGRESS_US (100) µs
                               while buckets are in flight (needs MPI_THREAD_SERIALIZED, which
                               nb_dist_init asks for; else NODES)                              */
    NB_DDP_PROGRESS_NODES,  /* backward polls between its nodes (at most every 20 µs)          */
    NB_DDP_PROGRESS_OFF,    /* polls only when a parameter's gradient becomes final            */
} nb_ddp_progress;

typedef struct nb_ddp_opts {
    double bucket_mb;    /* gradient bytes per allreduce (default 25, as DDP) */
    bool no_broadcast;   /* skip copying rank 0's parameters/buffers at start */
    bool no_buffer_sync; /* skip copying rank 0's buffers after each step     */
    nb_ddp_progress progress;
} nb_ddp_opts;

/* Wraps the parameters and buffers of m (borrowed; make the model final —
 * cast, loaded — before wrapping). Copies rank 0's parameters and buffers to
 * every rank, groups the gradients into buckets (reverse registration order:
 * the order backward completes them) and watches the parameters, so that
 * each bucket's allreduce starts during backward as soon as all its gradients
 * are final. opts NULL = defaults. One wrapper per thread is active at a time
 * (the latest made). Free it with nb_ddp_free before the module. */
NB_API nb_ddp *nb_ddp_new(struct nb_module *m, const nb_ddp_opts *opts);
/* The same over a list of parameters (leaf tensors that require grad), no buffers. */
NB_API nb_ddp *nb_ddp_new_params(nb_tensor *const *params, int n, const nb_ddp_opts *opts);
NB_API void nb_ddp_free(nb_ddp *d);
/* Gradient accumulation: with sync off, backward sends nothing and
 * nb_ddp_wait returns at once, gradients stay local and add up; the step
 * after turning it back on averages the sum (torch's no_sync()). */
NB_API void nb_ddp_set_sync(nb_ddp *d, bool on);
/* Before the optimizer step: starts the buckets backward did not complete
 * (parameters with no gradient count as zeros), waits for all, and leaves in
 * every .grad the mean over ranks; then copies rank 0's buffers (BatchNorm's
 * running statistics) to all ranks unless opts.no_buffer_sync. */
NB_API void nb_ddp_wait(nb_ddp *d);

/* What the last nb_ddp_wait cost (seconds): the time it blocked, and the
 * time from the first bucket's start to its end (communication hidden behind
 * backward is the difference). */
typedef struct nb_ddp_stats {
    int buckets;              /* number of buckets                          */
    int64_t bytes;            /* gradient bytes reduced per step            */
    int started_in_backward;  /* buckets started from the hook last step   */
    double wait_s;            /* time blocked in the last nb_ddp_wait       */
    double comm_s;            /* first bucket start -> all finished         */
    double issue_s;           /* time copying gradients into buckets and issuing their
                               allreduces (CPU work, in backward or in the wait) */
    int done_before_wait;     /* buckets whose allreduce had finished when nb_ddp_wait began */
    int backward_nodes;       /* nodes the last backward ran                */
    int first_start_node;     /* nodes backward had run when the first bucket's allreduce
                               started (-1: started in nb_ddp_wait)      */
    int64_t progress_polls;   /* polls by the progress thread or the node tick, all steps */
    int in_flight;            /* now: buckets started and not yet seen complete (no MPI call
                               is made to find out; the progress thread's last look)   */
    nb_ddp_progress progress; /* the mechanism in use                     */
} nb_ddp_stats;
NB_API nb_ddp_stats nb_ddp_get_stats(const nb_ddp *d);
/* Bucket k's start in the last step: the number of backward nodes that had
 * run when its allreduce was issued, or -1 when nb_ddp_wait issued it
 * (bucket 0 holds the last layers' gradients). */
NB_API int nb_ddp_bucket_start_node(const nb_ddp *d, int k);

/* ------------------------------------------------------------ checkpoints */

/* nb_train_save by rank 0 only; every rank returns its status (the others
 * wait for it), so all ranks agree whether the checkpoint exists. Loading is
 * the ordinary nb_train_load on every rank: the state is the same on every
 * rank, so a checkpoint resumes with any world size. */
NB_API nb_status nb_dist_train_save(const char *path, struct nb_module *m, struct nb_optim *opt,
                                    const struct nb_ckpt_meta *meta, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
