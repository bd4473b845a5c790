/* nabla/core.h — tensors, shapes, dtypes, scopes, grad mode, errors, RNG.
 *
 * Ownership in one paragraph: a tensor made while a scope is open
 * (nb_scope_begin) lives in that scope's arena and is freed, with every node
 * and gradient made inside it, by nb_scope_end. A tensor made while no scope is
 * open is "persistent": it lives on the heap and its owner frees it with
 * nb_tensor_free (parameters, optimizer state, datasets). Functions below say
 * "new tensor" for this rule; none of them hands out memory any other way.
 */
#ifndef NABLA_CORE_H
#define NABLA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NB_BUILDING_LIB) && defined(__GNUC__)
#define NB_API __attribute__((visibility("default")))
#else
#define NB_API
#endif

#if defined(__GNUC__)
#define NB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NB_PRINTF(a, b)
#endif

/* ------------------------------------------------------------------ dtype */

typedef enum nb_dtype {
    NB_F32 = 0, /* float: the default, for training */
    NB_F64 = 1, /* double: gradient checking, and users who want it */
    NB_I64 = 2  /* int64: indices and labels only; never differentiable */
} nb_dtype;

NB_API const char *nb_dtype_name(nb_dtype dt); /* "f32", "f64", "i64" */
NB_API size_t nb_dtype_size(nb_dtype dt);

/* ------------------------------------------------------------------ shape */

#define NB_MAX_DIMS 8

/* A shape is a small value: ndim sizes, row-major, contiguous. ndim 0 is a scalar. */
typedef struct nb_shape {
    int ndim;
    int64_t d[NB_MAX_DIMS];
} nb_shape;

/* NB_SHAPE(64, 784) — up to 8 sizes. NB_SCALAR is the 0-d shape. */
#define NB_SHAPE(...) \
    ((nb_shape){.ndim = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), .d = {__VA_ARGS__}})
#define NB_SCALAR ((nb_shape){.ndim = 0})

NB_API nb_shape nb_shape_make(int ndim, const int64_t *dims);
NB_API int64_t nb_shape_numel(nb_shape s);
NB_API bool nb_shape_eq(nb_shape a, nb_shape b);
/* "(64,784)" into buf (at least 8*21+3 bytes is always enough); returns buf. */
NB_API char *nb_shape_str(nb_shape s, char *buf, size_t size);
#define NB_SHAPE_STRLEN 176

/* ----------------------------------------------------------------- tensor */

typedef struct nb_tensor nb_tensor;
typedef struct nb_node nb_node;
typedef struct nb_scope nb_scope;
struct nb_module; /* nn/, declared in nabla/nn.h */

#define NB_NAME_MAX 64

/* The fields are public and read-only to users: ops (built-in and user) read
 * them directly, the way llm.c reads its buffers. Change them only through the
 * functions below. */
struct nb_tensor {
    nb_dtype dtype;
    bool requires_grad;  /* leaf: set by the user; non-leaf: any input did    */
    uint8_t flags;       /* internal bookkeeping (heap, view, ...)           */
    nb_tensor *nb__link; /* internal: its scope's list, then the quarantine  */
    nb_shape shape;
    int64_t numel;
    void *data;        /* numel elements of dtype, contiguous row-major    */
    nb_tensor *grad;   /* d(root)/d(this), same shape; NULL until first use */
    nb_node *node;     /* the node that produced it; NULL for a leaf       */
    uint32_t *version; /* bumped by every in-place write; shared by views  */
    uint32_t version_own;
    nb_scope *scope; /* owning scope, NULL when persistent               */
    nb_tensor *base; /* the tensor whose data a view shares; NULL if none */
    char name[NB_NAME_MAX];
};

/* Creation: each returns a new tensor (see the ownership rule above). */
NB_API nb_tensor *nb_empty(nb_dtype dt, nb_shape s); /* uninitialised */
NB_API nb_tensor *nb_zeros(nb_dtype dt, nb_shape s);
NB_API nb_tensor *nb_ones(nb_dtype dt, nb_shape s);
NB_API nb_tensor *nb_full(nb_dtype dt, nb_shape s, double value);
NB_API nb_tensor *nb_scalar(nb_dtype dt, double value); /* 0-d */
/* Copies numel(s) elements of dtype dt from data. */
NB_API nb_tensor *nb_from_data(nb_dtype dt, nb_shape s, const void *data);
NB_API nb_tensor *nb_from_f32(nb_shape s, const float *data);
NB_API nb_tensor *nb_from_f64(nb_shape s, const double *data);
NB_API nb_tensor *nb_from_i64(nb_shape s, const int64_t *data);
/* Like numpy.arange: start, start+step, ... < stop (> stop for step < 0). */
NB_API nb_tensor *nb_arange(nb_dtype dt, double start, double stop, double step);
/* Uniform on [lo, hi) and normal(mean, std) from the seeded generator. */
NB_API nb_tensor *nb_rand(nb_dtype dt, nb_shape s, double lo, double hi);
NB_API nb_tensor *nb_randn(nb_dtype dt, nb_shape s, double mean, double std);
/* Detached copy with the same dtype/shape/data; no grad, no node. */
NB_API nb_tensor *nb_copy(const nb_tensor *t);
/* Detached copy that is persistent whatever scope is open (to keep a result
 * past nb_scope_end). The caller frees it with nb_tensor_free. */
NB_API nb_tensor *nb_copy_persistent(const nb_tensor *t);
/* A new zeroed tensor that is persistent whatever scope is open (parameters,
 * optimizer state). The caller frees it with nb_tensor_free. */
NB_API nb_tensor *nb_zeros_persistent(nb_dtype dt, nb_shape s);
/* torch's x.detach(): a new tensor header sharing x's data (no copy) and
 * version counter, with no node and requires_grad false, so gradients stop
 * here (truncated backpropagation through time: h = nb_detach(h) between
 * chunks). It lives in the current scope (persistent when none is open: free
 * it with nb_tensor_free, which leaves x's data alone) and must not outlive
 * x's data; to carry a state past x's scope use nb_copy_persistent, which
 * is detached too. An in-place write to either is seen by both. NULL gives
 * NULL. (autograd/detach.c) */
NB_API nb_tensor *nb_detach(nb_tensor *x);

/* Frees a persistent tensor, its grad and (if any) its node. Accepts NULL.
 * Does nothing to a scoped tensor: its scope frees it. */
NB_API void nb_tensor_free(nb_tensor *t);

/* Names appear in error messages, graph pictures and traces. Returns t. */
NB_API nb_tensor *nb_set_name(nb_tensor *t, const char *name);
/* Marks a leaf as a parameter to differentiate. Returns t (NULL stays NULL). */
NB_API nb_tensor *nb_set_requires_grad(nb_tensor *t, bool on);

static inline int64_t nb_numel(const nb_tensor *t) { return t->numel; }
static inline nb_shape nb_shape_of(const nb_tensor *t) { return t->shape; }
static inline int nb_ndim(const nb_tensor *t) { return t->shape.ndim; }
/* The data accessors check that t is alive: a tensor whose scope ended (or
 * that nb_tensor_free freed) is an NB_ERR_SCOPE error naming it, and they
 * give NULL (README, "Memory: scopes"). */
#define NB_TENSOR_DEAD_ 4 /* t->flags bit: freed; read only by the accessors */
#if defined(__GNUC__)
#define NB_UNLIKELY_(x) __builtin_expect(!!(x), 0)
#else
#define NB_UNLIKELY_(x) (x)
#endif
NB_API void *nb__dead_data(const nb_tensor *t, const char *accessor);
static inline void *nb_data(const nb_tensor *t) {
    return NB_UNLIKELY_(t->flags & NB_TENSOR_DEAD_) ? nb__dead_data(t, "data") : t->data;
}
static inline float *nb_f32(const nb_tensor *t) {
    return NB_UNLIKELY_(t->flags & NB_TENSOR_DEAD_) ? (float *)nb__dead_data(t, "f32") : (float *)t->data;
}
static inline double *nb_f64(const nb_tensor *t) {
    return NB_UNLIKELY_(t->flags & NB_TENSOR_DEAD_) ? (double *)nb__dead_data(t, "f64") : (double *)t->data;
}
static inline int64_t *nb_i64(const nb_tensor *t) {
    return NB_UNLIKELY_(t->flags & NB_TENSOR_DEAD_) ? (int64_t *)nb__dead_data(t, "i64") : (int64_t *)t->data;
}
static inline nb_tensor *nb_grad(const nb_tensor *t) { return t ? t->grad : NULL; }
static inline bool nb_is_leaf(const nb_tensor *t) { return t->node == NULL; }
NB_API int64_t nb_dim(const nb_tensor *t, int axis); /* negative axis counts from the end */
/* Element i (flat, row-major) as a double, whatever the dtype. */
NB_API double nb_get(const nb_tensor *t, int64_t i);
NB_API void nb_set(nb_tensor *t, int64_t i, double v); /* bumps the version */
/* The value of a one-element tensor. */
NB_API double nb_item(const nb_tensor *t);

/* Printing, like PyTorch's repr: tensor([[...]], dtype=f32), with "..." past
 * 6 elements per dimension when the tensor has more than 1000 elements. */
NB_API void nb_print(const nb_tensor *t);
NB_API void nb_fprint(FILE *f, const nb_tensor *t);

/* Zeroes (keeps allocated) the tensor's .grad. */
NB_API void nb_tensor_zero_grad(nb_tensor *t);
/* The version counter: in-place writers call this; backward checks it. */
NB_API void nb_bump_version(nb_tensor *t);

/* ----------------------------------------------------------------- scopes */

/* Opens a scope: every tensor, node and gradient created until the matching
 * nb_scope_end lives in it and is freed by it. Scopes nest (LIFO). Memory is
 * an arena whose blocks are reused by the next scope, so a steady training
 * loop allocates nothing after its first step. */
NB_API nb_scope *nb_scope_begin(void);
/* Frees everything made in *s and sets *s = NULL. Must be the innermost. */
NB_API void nb_scope_end(nb_scope **s);
NB_API nb_scope *nb_scope_current(void);

/* heap_* and arena_reserved count the whole process (all threads);
 * arena_used and arena_peak count the calling thread's scopes. */
typedef struct nb_mem_stats {
    size_t heap_live;        /* bytes nabla holds on the heap now (incl. the arena's chunks, whole) */
    size_t heap_peak;        /* high-water mark of heap_live                     */
    size_t arena_reserved;   /* bytes in arena blocks, in use or pooled           */
    size_t arena_used;       /* bytes handed out by this thread's open scopes now */
    size_t arena_peak;       /* high-water mark of arena_used (this thread)       */
    size_t heap_allocs;      /* number of heap allocations made so far            */
    size_t headers_reserved; /* bytes of tensor-header slabs, kept until exit so
                                a stale handle is checked safely (not in heap_*) */
} nb_mem_stats;
NB_API nb_mem_stats nb_mem_stats_get(void);
/* Frees the calling thread's pooled arena blocks (nothing that is in use). */
NB_API void nb_mem_trim(void);

/* -------------------------------------------------------------- grad mode */

/* While grad mode is off, ops record nothing and outputs don't require grad:
 * evaluation and optimizer updates run there. The calls nest. */
NB_API void nb_no_grad_begin(void);
NB_API void nb_no_grad_end(void);
NB_API bool nb_grad_enabled(void);
/* NB_NO_GRAD { ...statements... }  (don't leave the block with break/return) */
#define NB_NO_GRAD for (int nb__ng_once = (nb_no_grad_begin(), 1); nb__ng_once; nb__ng_once = (nb_no_grad_end(), 0))

/* ----------------------------------------------------------------- errors */

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_SHAPE,   /* shapes don't fit the op                            */
    NB_ERR_DTYPE,   /* dtype mismatch or unsupported                      */
    NB_ERR_AXIS,    /* axis or dimension index out of range               */
    NB_ERR_ARG,     /* bad argument value (stride 0, NULL, bad label...)  */
    NB_ERR_GRAPH,   /* backward misuse: non-scalar root, no grad, ...     */
    NB_ERR_VERSION, /* a saved tensor was modified in place               */
    NB_ERR_SCOPE,   /* scope misuse                                       */
    NB_ERR_IO,      /* files: missing, truncated, corrupt, mismatched     */
    NB_ERR_NOMEM,
    NB_ERR_NAN /* anomaly mode: NaN/Inf produced                     */
} nb_status;

typedef enum nb_error_mode {
    NB_ERRORS_ABORT = 0, /* default: print the message and abort()        */
    NB_ERRORS_RECOVER    /* the op returns NULL; nb_error() keeps the first */
} nb_error_mode;

NB_API void nb_set_error_mode(nb_error_mode mode);
NB_API nb_error_mode nb_get_error_mode(void);
/* A handler sees every error (status and "nabla: op: ..." message). With a
 * handler installed errors never abort: the op returns NULL and the error is
 * kept as in recover mode. Pass NULL to remove it. */
typedef void (*nb_error_handler)(nb_status st, const char *msg, void *user);
NB_API void nb_set_error_handler(nb_error_handler h, void *user);
/* The first error since the last nb_error_clear (sticky, like cairo). */
NB_API nb_status nb_error(void);
NB_API const char *nb_error_message(void); /* "" when none */
NB_API void nb_error_clear(void);
NB_API const char *nb_status_str(nb_status st);

/* Reports an error the way nabla's own ops do. For user ops and library code. */
NB_API void nb_fail(nb_status st, const char *op, const char *fmt, ...) NB_PRINTF(3, 4);

/* A tensor with a dotted name ("fc1.weight"): what modules, optimizers and
 * checkpoints exchange. The name is borrowed. */
typedef struct nb_named_tensor {
    const char *name;
    nb_tensor *t;
} nb_named_tensor;

/* Loss reductions, shared by the loss primitives and nn losses. */
typedef enum nb_reduction { NB_REDUCE_MEAN = 0, NB_REDUCE_SUM, NB_REDUCE_NONE } nb_reduction;

/* ---------------------------------------------------------------- threads */

/* Threads for nabla's own parallel loops (OpenMP) and its BLAS calls; one
 * owner per op, never both. Default: NB_NUM_THREADS from the environment,
 * else the number of cores. */
NB_API void nb_set_num_threads(int n);
NB_API int nb_get_num_threads(void);

/* ------------------------------------------------------------------- RNG */

/* One global generator (xoshiro256**); nb_seed makes every random draw of the
 * program repeatable. The state can be saved and restored (checkpoints). */
NB_API void nb_seed(uint64_t seed);
typedef struct nb_rng_state {
    uint64_t s[4];
    double spare;
    int has_spare;
} nb_rng_state;
NB_API nb_rng_state nb_rng_get(void);
NB_API void nb_rng_set(nb_rng_state st);
NB_API uint64_t nb_rand_u64(void);
NB_API double nb_rand_uniform(void); /* [0, 1) */
NB_API double nb_rand_normal(void);  /* N(0, 1) */

#ifdef __cplusplus
}
#endif
#endif
