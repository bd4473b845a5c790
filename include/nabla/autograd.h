/* nabla/autograd.h — backward, the tape, tracing, gradient checking, the op registry. */
#ifndef NABLA_AUTOGRAD_H
#define NABLA_AUTOGRAD_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ backward */

/* Seeds d root/d root = 1 (root must hold one element) and walks the tape in
 * reverse, ADDING into the .grad of every tensor that requires grad (zero them
 * with nb_zero_grad between steps, as in PyTorch). Gradients of intermediate
 * (non-leaf) tensors are recomputed from zero on each call and stay readable
 * until their scope ends. The graph is kept: backward may run again (unless
 * an nb_grads without retain_graph released it: NB_ERR_GRAPH, nabla/grad.h).
 * Returns NB_OK or the error (a non-scalar root needs nb_backward_with). */
NB_API nb_status nb_backward(nb_tensor *root);
/* The general case: seed has root's shape and dtype. */
NB_API nb_status nb_backward_with(nb_tensor *root, const nb_tensor *seed);

/* Leaf-gradient hook, for sending gradients while backward still runs (the
 * data-parallel wrapper of dist.h uses it). Watches leaves[0..n): during each
 * nb_backward on this thread, fn(ctx, i) is called as soon as leaves[i]'s
 * .grad has received its last contribution of that backward — right after
 * the oldest node on the tape that takes leaves[i] as input has run its
 * backward (a node whose output got no gradient counts as run). Leaves the
 * backward does not reach are not reported; a leaf listed twice reports its
 * first index. One watch per thread: a call replaces the previous one, and
 * fn NULL or n 0 removes it. The list is copied, the tensors borrowed (they
 * must outlive the watch). Without a watch backward does no extra work. */
NB_API nb_status nb_backward_watch_leaves(nb_tensor *const *leaves, int n, void (*fn)(void *ctx, int i), void *ctx);

/* nb_zero_grad(t) zeroes a tensor's .grad; nb_zero_grad(module) every
 * parameter's (nn/). */
NB_API void nb_module_zero_grad(struct nb_module *m);
#define nb_zero_grad(x) _Generic((x), struct nb_module * : nb_module_zero_grad, default : nb_tensor_zero_grad)(x)

/* The nodes that lead to t, in tape (creation) order, printed one per line:
 * "#3 mul  in: q (1) z (1)  out: f (1)". */
NB_API void nb_tape_print(FILE *f, const nb_tensor *t);
/* Number of nodes that lead to t; -1 (an NB_ERR_SCOPE error) when t or a
 * tensor on its graph was freed. */
NB_API int nb_tape_len(const nb_tensor *t);

/* Backward trace: with it on, each node backward visits is printed to f:
 * op, shapes, the incoming gradient (values when ≤ 8 elements, else
 * statistics) and what it passed to each input. With pause on, waits for
 * Enter on stdin after each node (stepping through backprop). f NULL = off. */
NB_API void nb_trace_backward(FILE *f, bool pause);

/* Anomaly mode: the first op whose forward output or backward gradient holds
 * NaN/Inf is reported (NB_ERR_NAN) by name with its inputs' shapes. */
NB_API void nb_anomaly_mode(bool on);

/* Graphviz DOT of the graph behind t (ops as boxes, tensors with names and
 * shapes). Returns NB_OK or NB_ERR_IO. */
NB_API nb_status nb_graph_dot(const nb_tensor *t, const char *path);

/* A backprop stepper: one self-contained web page (works offline) with the
 * graph behind root drawn by Graphviz, every tensor's value, and the backward
 * walk node by node — buttons or arrow keys step it, the current node is
 * highlighted, its incoming gradient and what it passes to each input shown,
 * accumulated gradients filling in (#step=N or #end in the URL selects a
 * step). It runs a backward pass of its own to record the walk and leaves
 * the leaves' .grad as they were. NB_OK, NB_ERR_GRAPH (nothing to step
 * through) or NB_ERR_IO. */
NB_API nb_status nb_graph_html(nb_tensor *root, const char *path);

/* ------------------------------------------------------- gradient check */

/* The function under test: builds an output from the inputs (it may use any
 * ops and ctx). It is called many times, each time inside a fresh scope. */
typedef nb_tensor *(*nb_fn)(nb_tensor *const *in, int nin, void *ctx);

typedef struct nb_gradcheck_opts {
    double eps;  /* central-difference step (default 1e-6)              */
    double atol; /* |a-n| <= atol + rtol*|n| (defaults 1e-5, 1e-3)      */
    double rtol;
    bool scale_eps;   /* step eps*max(1,|x|) instead of eps                  */
    bool fast;        /* projected vᵀJu check, full Jacobian on failure      */
    bool skip_extras; /* skip reentrancy/zero-grad/no-grad/accumulate checks */
    bool quiet;       /* don't print the report on failure                   */
    uint64_t seed;    /* for the projections and upstream gradients          */
    /* The F32 run: the function is also run on the inputs cast to F32, and
     * its output and its input gradients (for an all-ones upstream gradient)
     * must agree with the F64 run's: |f64 - f32| <= f32_tol * (1e-3 + |f64|)
     * for every element (the registry's rule for built-in ops). A function
     * that refuses F32 with an error (an op whose nb_op.dtypes excludes it)
     * is noted, not failed. */
    bool skip_f32;  /* don't run it                                        */
    double f32_tol; /* 0 = the default, 1e-3                               */
} nb_gradcheck_opts;
/* PyTorch's defaults: eps 1e-6, atol 1e-5, rtol 1e-3, slow mode, all checks;
 * and the F32 run with tolerance 1e-3. */
NB_API nb_gradcheck_opts nb_gradcheck_defaults(void);

typedef struct nb_gradcheck_report {
    bool ok;
    const char *op; /* the op the output came from, when known         */
    /* The worst Jacobian element over all inputs (by relative error). */
    int worst_input;                   /* -1 when no element was compared                 */
    int64_t worst_in_index;            /* element of that input (flat); -1 in fast mode:
                                the worst input's whole projection vᵀJ_i u_i   */
    int64_t worst_out_index;           /* element of the output (flat)                  */
    int64_t worst_in_pos[NB_MAX_DIMS]; /* worst_in_index as a multi-index     */
    int worst_in_ndim;
    char worst_input_name[NB_NAME_MAX];         /* that input's name ("" if none)     */
    double analytic, numeric, abs_err, rel_err; /* rel = |a-n|/max(|a|,|n|)    */
    int64_t mismatches;                         /* elements outside tolerance (not at kinks)       */
    int64_t kinks;                              /* elements where x±eps crosses a kink: flagged, not failed */
    bool fast_fallback;                         /* fast mode failed and the full check decided     */
    bool reentrant_ok, zero_grad_ok, no_grad_ok, accumulate_ok;
    bool f32_ran;       /* the F32 run happened (not skipped or refused)   */
    bool f32_ok;        /* ... and agreed with F64 (true when it didn't run) */
    double f32_err;     /* its worst |f64 - f32| / (1e-3 + |f64|)          */
    char message[1024]; /* human-readable summary (printed on failure)     */
} nb_gradcheck_report;

/* Checks analytic against numerical gradients of fn at inputs, in F64 (inputs
 * of other float dtypes are cast). Inputs that require grad are checked; the
 * others are held fixed (and must get no gradient). Then runs fn in F32 and
 * compares it with F64 (opts.skip_f32, f32_tol). opts NULL = defaults. */
NB_API nb_gradcheck_report nb_gradcheck(nb_fn fn, nb_tensor *const *in, int nin, void *ctx,
                                        const nb_gradcheck_opts *opts);
/* One-input form: nb_gradcheck1(nb_tanh, x, NULL). x need not require grad. */
NB_API nb_gradcheck_report nb_gradcheck1(nb_tensor *(*fn)(nb_tensor *), nb_tensor *x, const nb_gradcheck_opts *opts);
NB_API void nb_gradcheck_print(FILE *f, const nb_gradcheck_report *r);

/* --------------------------------------------------------- op registry */

/* One sample: inputs (F64, made in the caller's scope) and scalar arguments. */
#define NB_SAMPLE_MAX_IN 8
struct nb_op_entry;
typedef struct nb_sample {
    const struct nb_op_entry *entry; /* set by the registry walker */
    const char *desc;                /* "broadcast (3,1)+(4)", ... */
    int nin;
    nb_tensor *in[NB_SAMPLE_MAX_IN]; /* requires_grad set on differentiable ones */
    int64_t iarg[8];
    double farg[4];
} nb_sample;

typedef struct nb_op_entry {
    const char *name; /* the op's name, as in nb_op.name */
    /* Applies the op to a sample's inputs and arguments. */
    nb_tensor *(*apply)(nb_tensor *const *in, int nin, const nb_sample *s);
    /* Writes up to max samples (F64) and returns how many. */
    int (*samples)(nb_sample *out, int max);
    double atol, rtol; /* 0 = gradcheck defaults; looser ones are documented */
} nb_op_entry;

#define NB_MAX_SAMPLES 16
NB_API int nb_registry_count(void);
NB_API const nb_op_entry *nb_registry_get(int i);
NB_API const nb_op_entry *nb_registry_find(const char *name);
/* Runs a sample's apply as an nb_fn (ctx is the nb_sample*, entry set by it). */
NB_API nb_tensor *nb_sample_apply(nb_tensor *const *in, int nin, void *sample_ctx);

/* Sample helpers: a new F64 tensor uniform on [lo,hi) from the global
 * generator, requiring grad; and one bounded away from 0 (|x| in [lo,hi)). */
NB_API nb_tensor *nb_sample_uniform(nb_shape s, double lo, double hi);
NB_API nb_tensor *nb_sample_away0(nb_shape s, double lo, double hi);

#ifdef __cplusplus
}
#endif
#endif
