/* autograd/internal.h — what the library's .c files share and users don't see. */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#include "nabla/nabla.h"
#include <stdatomic.h>
#include <string.h>

/* Per-thread state (scopes, grad mode, errors, anomaly/trace, the default
 * generator, backward's node list): each thread that calls nabla has its own
 * (README, "Threads"). Shared counters are C11 atomics. */
#define NB_TLS _Thread_local

#define NB_ALIGN 64

/* tensor->flags */
enum {
    NB_TF_HEAP = 1,               /* persistent: data (unless a view) is a heap block   */
    NB_TF_VIEW = 2,               /* data belongs to another tensor                     */
    NB_TF_DEAD = NB_TENSOR_DEAD_, /* freed: its scope ended, or nb_tensor_free */
    NB_TF_FREED = 8               /* with DEAD: it was nb_tensor_free, not a scope end  */
};

/* Use after free: a tensor header is never given back to malloc
 * while the process runs (memory.c), so reading a stale handle's flags is
 * defined, and every public entry point checks its tensors with this one
 * test. false: t is dead and the error, naming op, `what` (with index when
 * >= 0: "input 1") and t's name and shape, is reported. */
void nb__fail_dead(const char *op, const char *what, int index, const nb_tensor *t);
static inline bool nb__alive(const char *op, const char *what, int index, const nb_tensor *t) {
    if (NB_UNLIKELY_(t->flags & NB_TF_DEAD)) {
        nb__fail_dead(op, what, index, t);
        return false;
    }
    return true;
}

/* Heap with accounting: every byte nabla takes from malloc goes through here,
 * 64-byte aligned. nb__free accepts NULL. */
void *nb__malloc(size_t size);
void *nb__calloc(size_t size);
void nb__free(void *p);

/* Arena allocation in scope s (NULL = heap, owned by the caller), 64-byte aligned. */
void *nb__scope_alloc(nb_scope *s, size_t size);

/* A new tensor (header + data) owned by scope s (NULL = persistent). */
nb_tensor *nb__tensor_new(nb_dtype dt, nb_shape s, nb_scope *where, bool zero);
/* nb_grad_buf, a new buffer unzeroed and *fresh true: the caller writes every element (apply.c). */
nb_tensor *nb__grad_buf_fresh(nb_tensor *t, bool *fresh);
/* t's gradient += g (g: t's shape and dtype), on nabla's threads: a new
 * gradient buffer is written as g's copy, with no zero-fill before it
 * (ops/threads.c). */
void nb__grad_accum(nb_tensor *t, const nb_tensor *g);
/* o = a + b elementwise over n contiguous elements of dtype dt, on nabla's
 * threads (ops/threads.c). */
void nb__add_contig(nb_dtype dt, void *o, const void *a, const void *b, int64_t n);
/* A view header over base's data, with shape s, in scope `where`. */
nb_tensor *nb__tensor_view(nb_tensor *base, nb_shape s, nb_scope *where);
/* Node for nin inputs in scope `where` (NULL = heap, owned by its output). */
nb_node *nb__node_new(int nin, nb_scope *where);
void nb__node_free(nb_node *n);

/* Grad mode and recording. */
bool nb__recording(void);
uint64_t nb__next_seq(void);

/* Frees what the calling thread holds for reuse (its arena pool and
 * backward's node list); run when a thread exits and at process exit. */
void nb__thread_release(void);
void nb__watch_thread(void);     /* registers the caller for nb__thread_release at its exit */
void nb__backward_release(void); /* backward.c: its node list */
void nb__gemm_release(void);     /* kernels/gemm.c: its packing buffers */

/* Errors: report and return; callers return NULL/status after it. */
#define NB_FAIL(st, op, ...) nb_fail((st), (op), __VA_ARGS__)

/* A trial whose errors neither abort nor reach the handler (error.c): the
 * caller's error mode, handler and sticky error are restored at the end, and
 * the trial's status and first message returned. */
typedef struct {
    nb_error_mode mode;
    nb_error_handler handler;
    void *user;
    nb_status status;
    char message[1024];
} nb__error_saved;
/* Set during gradcheck's F32 run: new F32 tensors get room (zeroed) for as
 * many F64 elements (memory.c), so an undeclared F64-only op stays in bounds. */
extern NB_TLS bool nb__f32_trial;
void nb__error_quiet_begin(nb__error_saved *sv);
nb_status nb__error_quiet_end(const nb__error_saved *sv, char *msg, size_t size);

/* Anomaly mode (backward.c): checks t for NaN/Inf after op `op` ran; false
 * (the error reported) when it found one. */
extern NB_TLS bool nb__anomaly;
bool nb__check_finite(const char *op, const char *where, const nb_tensor *t, nb_node *n);

/* Versions a node remembers for input i. */
static inline uint32_t *nb__in_version_slot(nb_node *n, int i) {
    return i < NB_NODE_INLINE_IN ? &n->in_version[i] : &n->in_version_ext[i - NB_NODE_INLINE_IN];
}

/* Threads for an elementwise pass over n elements costing about `cost`
 * multiply-adds each, with nabla's thread count (threads.c), and the thread
 * helpers of the kernels (NB_PAR_REGION, NB_PAR_FOR, NB_COST_MEM,
 * nb_par_range: ops/kernels/par.h). */
#include "../ops/kernels/par.h"
int nb__elementwise_threads(int64_t n, double cost);
/* This thread's contiguous share of total elements in a region of nt threads. */
static inline void nb__thread_range(int nt, int64_t total, int64_t *lo, int64_t *n) { nb_par_range(nt, total, lo, n); }

/* Checked size arithmetic: every element or byte count computed
 * from user input goes through these. A count is valid when it is >= 0 and
 * at most NB_NUMEL_MAX, which keeps numel * 8 bytes, the header and the
 * alignment far from size_t's and ptrdiff_t's ends. false: it is not (the
 * caller reports the error, naming its op). */
#define NB_NUMEL_MAX ((int64_t)1 << 58)
static inline bool nb__size_mul(int64_t a, int64_t b, int64_t *r) {
    return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, r) && *r <= NB_NUMEL_MAX;
}
static inline bool nb__size_add(int64_t a, int64_t b, int64_t *r) {
    return a >= 0 && b >= 0 && !__builtin_add_overflow(a, b, r) && *r <= NB_NUMEL_MAX;
}
/* Reports an invalid shape `s` made by op: negative sizes, too many dims, or
 * more elements than NB_NUMEL_MAX. */
void nb__fail_bad_shape(const char *op, const char *what, nb_shape s);

static inline bool nb__is_float(nb_dtype dt) { return dt == NB_F32 || dt == NB_F64; }

/* backward.c: an observer of each node's backward (nb_graph_html): called,
 * per input i needing a gradient, with the node's incoming gradient and
 * what it passed to input i. Per thread; NULL turns it off. */
typedef void (*nb__backward_observer)(void *ctx, const nb_node *n, const nb_tensor *gout, int i,
                                      const nb_tensor *passed);
void nb__set_backward_observer(nb__backward_observer fn, void *ctx);
/* backward.c: fn(ctx) between every two nodes of each backward on this
 * thread (NULL: off); and, inside a leaf hook or tick, the nodes the sweep
 * has run so far and (*len) how many it will run. Per thread. */
void nb__backward_set_tick(void (*fn)(void *ctx), void *ctx);
int64_t nb__backward_position(int64_t *len);
/* The nodes behind t, newest first (backward's order), in a per-thread
 * buffer valid until the next backward or tape walk on this thread. */
size_t nb__tape_nodes(const nb_tensor *t, nb_node *const **nodes);

/* Element copies (gather, layout moves) only care about the element size:
 * f32 moves as uint32_t, f64 and i64 as uint64_t. */
#define COPY_DISPATCH(dt, T, ...)     \
    do {                              \
        if (nb_dtype_size(dt) == 4) { \
            typedef uint32_t T;       \
            __VA_ARGS__               \
        } else {                      \
            typedef uint64_t T;       \
            __VA_ARGS__               \
        }                             \
    } while (0)

#endif
