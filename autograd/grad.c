/* autograd/grad.c — nb_grads (torch.autograd.grad): gradients returned as new
 * tensors, optionally recorded on the tape (create_graph), the
 * "graph already used" rule, and nb_gradgradcheck.
 *
 * The walk is nb_backward's (nodes behind the outputs, newest first) with
 * three differences: gradients live in slots owned by the walk instead of
 * .grad; only nodes that lead to a requested input run (as in PyTorch, so a
 * gradient with respect to x skips the weights' backward); and, under
 * create_graph, each node's backward_graph builds its input gradients with
 * nb_* ops, so the slots are tensors on the tape. Without create_graph the
 * kernel backwards run unchanged: each input's .grad pointer is pointed at
 * its slot for the duration of the call (the kernels only add into
 * nb_grad_buf), and inputs whose gradient is not wanted are marked as not
 * requiring grad for that call, so the kernels skip them. */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

/* ------------------------------------------------------------ pointer map */

/* Open addressing, pointer -> int; keys never removed. */
typedef struct {
    const void **keys;
    int *vals;
    size_t cap; /* a power of two, at least twice the entries */
} pmap;

static size_t phash(const void *p, size_t cap) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static bool pmap_init(pmap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    m->cap = cap;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    return m->keys && m->vals;
}

static void pmap_free(pmap *m) {
    free(m->keys);
    free(m->vals);
}

static int pmap_get(const pmap *m, const void *k) {
    for (size_t i = phash(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return -1;
        if (m->keys[i] == k) return m->vals[i];
    }
}

/* Inserts k -> v unless k is present; returns the value k maps to. */
static int pmap_put(pmap *m, const void *k, int v) {
    for (size_t i = phash(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) {
            m->keys[i] = k;
            m->vals[i] = v;
            return v;
        }
        if (m->keys[i] == k) return m->vals[i];
    }
}

/* ------------------------------------------------------------ nb_grad_needed */

/* The node whose backward_graph runs now and which of its inputs need a
 * gradient (bit i; inputs past 63 are always computed). */
static _Thread_local const nb_node *g_bg_node;
static _Thread_local uint64_t g_bg_mask;

bool nb_grad_needed(const nb_node *n, int i) {
    if (!n || i < 0 || i >= n->nin || !n->in[i]->requires_grad) return false;
    if (n == g_bg_node && i < 64) return (g_bg_mask >> i) & 1u;
    return true;
}

/* ------------------------------------------------------------ the walk */

static const char *tname(const nb_tensor *t, char *buf, size_t size) {
    if (t->name[0]) return t->name;
    if (t->node) snprintf(buf, size, "%%%llu", (unsigned long long)t->node->seq);
    else snprintf(buf, size, "leaf");
    return buf;
}

static int by_seq_desc(const void *a, const void *b) {
    uint64_t x = (*(nb_node *const *)a)->seq, y = (*(nb_node *const *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

typedef struct {
    nb_node **nodes; /* behind the outputs, newest first */
    size_t len, cap;
    bool *need;       /* node k leads to a requested input */
    pmap node_ix;     /* node -> k */
    pmap in_ix;       /* requested input tensor -> j */
    nb_tensor **slot; /* [0, n_in): the inputs' gradients; n_in + k: node k's output's */
    int n_in;
} walk;

static bool wpush(walk *w, nb_node *n) {
    if (pmap_get(&w->node_ix, n) >= 0) return true;
    if (w->len == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        nb_node **p = realloc(w->nodes, cap * sizeof *p);
        if (!p) return false;
        w->nodes = p;
        w->cap = cap;
    }
    /* the map is sized for the final count below; here it only marks visits,
     * so grow it with the list */
    if (2 * (w->len + 1) + 2 > w->node_ix.cap) {
        pmap bigger;
        if (!pmap_init(&bigger, 2 * w->node_ix.cap)) return false;
        for (size_t k = 0; k < w->len; k++) pmap_put(&bigger, w->nodes[k], (int)k);
        pmap_free(&w->node_ix);
        w->node_ix = bigger;
    }
    pmap_put(&w->node_ix, n, (int)w->len);
    w->nodes[w->len++] = n;
    return true;
}

/* The slot index of tensor t's gradient, or -1 when the walk does not want it. */
static int slot_of(const walk *w, const nb_tensor *t) {
    if (!t->requires_grad) return -1;
    int j = pmap_get(&w->in_ix, t);
    if (j >= 0) return j;
    if (!t->node) return -1;
    int k = pmap_get(&w->node_ix, t->node);
    return k >= 0 && w->need[k] ? w->n_in + k : -1;
}

static void walk_free(walk *w) {
    free(w->nodes);
    free(w->need);
    free(w->slot);
    pmap_free(&w->node_ix);
    pmap_free(&w->in_ix);
}

static nb_status fail(nb_status st, const char *fmt, ...) NB_PRINTF(2, 3);
static nb_status fail(nb_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nb_fail(st, "grad", "%s", msg);
    return st;
}

bool nb__check_versions(nb_node *n); /* backward.c */

/* A released node that saved tensors can't run again (nb_backward checks the
 * same through nb__check_released). */
nb_status nb__check_released(const nb_node *n, const char *who, const nb_tensor *root) {
    if (!(n->flags & NB_NODE_RELEASED)) return NB_OK;
    char d[NB_DESCRIBE_LEN], nm[32];
    nb_fail(NB_ERR_GRAPH, who,
            "the graph was already used: node #%llu '%s' (output %s) was walked by an nb_grads without "
            "retain_graph, which released what it saved; %s. Pass retain_graph (or create_graph) to the first "
            "call to walk the graph again",
            (unsigned long long)n->seq, n->op->name, tname(n->out, nm, sizeof nm),
            root ? nb_describe(root, "root", d, sizeof d) : "root unknown");
    return NB_ERR_GRAPH;
}

nb_status nb_grads(nb_tensor *const *outputs, int n_out, nb_tensor *const *inputs, int n_in,
                   nb_tensor *const *grad_outputs, const nb_grad_opts *opts, nb_tensor **result) {
    const nb_grad_opts o = opts ? *opts : (nb_grad_opts){0};
    if (result)
        for (int j = 0; j < n_in; j++) result[j] = NULL;
    if (nb_error() != NB_OK) return nb_error(); /* an earlier error: the sticky rule */
    if (!outputs || n_out < 1 || !inputs || n_in < 1 || !result)
        return fail(NB_ERR_ARG, "needs outputs (%d), inputs (%d) and a result array", n_out, n_in);
    char d[NB_DESCRIBE_LEN], e[NB_DESCRIBE_LEN], an[32], bn[32];
    for (int k = 0; k < n_out; k++) {
        nb_tensor *y = outputs[k], *s = grad_outputs ? grad_outputs[k] : NULL;
        if (!y) return fail(NB_ERR_ARG, "outputs[%d] is NULL", k);
        snprintf(an, sizeof an, "outputs[%d]", k);
        snprintf(bn, sizeof bn, "grad_outputs[%d]", k);
        if (!nb__alive("grad", an, -1, y) || (s && !nb__alive("grad", bn, -1, s))) return NB_ERR_SCOPE;
        if (!y->requires_grad)
            return fail(NB_ERR_GRAPH,
                        "%s but does not require grad: no input of its graph requires grad, or it was built under "
                        "nb_no_grad",
                        nb_describe(y, an, d, sizeof d));
        if (!s && y->numel != 1)
            return fail(NB_ERR_GRAPH,
                        "a gradient can be implicitly created only for a one-element output, and %s; pass grad_outputs",
                        nb_describe(y, an, d, sizeof d));
        snprintf(bn, sizeof bn, "grad_outputs[%d]", k);
        if (s && (!nb_shape_eq(s->shape, y->shape) || s->dtype != y->dtype))
            return fail(nb_shape_eq(s->shape, y->shape) ? NB_ERR_DTYPE : NB_ERR_SHAPE, "%s (%s) does not match %s (%s)",
                        nb_describe(s, bn, d, sizeof d), nb_dtype_name(s->dtype), nb_describe(y, an, e, sizeof e),
                        nb_dtype_name(y->dtype));
    }
    for (int j = 0; j < n_in; j++) {
        if (!inputs[j]) return fail(NB_ERR_ARG, "inputs[%d] is NULL", j);
        snprintf(an, sizeof an, "inputs[%d]", j);
        if (!nb__alive("grad", an, -1, inputs[j])) return NB_ERR_SCOPE;
        if (!inputs[j]->requires_grad)
            return fail(NB_ERR_GRAPH, "%s but does not require grad", nb_describe(inputs[j], an, d, sizeof d));
    }

    walk w = {.n_in = n_in};
    nb_status st = NB_OK;
    if (!pmap_init(&w.node_ix, 64) || !pmap_init(&w.in_ix, (size_t)n_in)) {
        walk_free(&w);
        return fail(NB_ERR_NOMEM, "out of memory");
    }
    for (int j = 0; j < n_in; j++) pmap_put(&w.in_ix, inputs[j], j);
    /* collect: DFS through inputs that require grad */
    for (int k = 0; k < n_out; k++)
        if (outputs[k]->node && !wpush(&w, outputs[k]->node)) st = NB_ERR_NOMEM;
    for (size_t done = 0; st == NB_OK && done < w.len; done++) {
        nb_node *n = w.nodes[done];
        for (int i = 0; i < n->nin && st == NB_OK; i++) {
            if (NB_UNLIKELY_(n->in[i]->flags & NB_TF_DEAD)) {
                char what[64];
                snprintf(what, sizeof what, "input %d of %s", i, n->op->name);
                nb__fail_dead("grad", what, -1, n->in[i]);
                walk_free(&w);
                return NB_ERR_SCOPE;
            }
            if (n->in[i]->node && n->in[i]->requires_grad && !wpush(&w, n->in[i]->node)) st = NB_ERR_NOMEM;
        }
    }
    if (st == NB_OK && w.len > 1) qsort(w.nodes, w.len, sizeof *w.nodes, by_seq_desc);
    if (st == NB_OK) {
        pmap_free(&w.node_ix);
        if (!pmap_init(&w.node_ix, w.len)) st = NB_ERR_NOMEM;
        else
            for (size_t k = 0; k < w.len; k++) pmap_put(&w.node_ix, w.nodes[k], (int)k);
    }
    w.need = st == NB_OK ? calloc(w.len + 1, sizeof *w.need) : NULL;
    w.slot = st == NB_OK ? calloc((size_t)n_in + w.len + 1, sizeof *w.slot) : NULL;
    if (st != NB_OK || !w.need || !w.slot) {
        walk_free(&w);
        return fail(NB_ERR_NOMEM, "out of memory");
    }
    /* need: oldest first, a node is needed when an input of it is requested
     * or made by a needed node */
    for (size_t k = w.len; k-- > 0;) {
        nb_node *n = w.nodes[k];
        for (int i = 0; i < n->nin && !w.need[k]; i++) {
            const nb_tensor *t = n->in[i];
            if (!t->requires_grad) continue;
            if (pmap_get(&w.in_ix, t) >= 0) w.need[k] = true;
            else if (t->node) {
                int m = pmap_get(&w.node_ix, t->node);
                if (m >= 0 && w.need[m]) w.need[k] = true;
            }
        }
    }

    /* create_graph records: grad mode on for the walk (restored after) */
    int ng_depth = 0;
    if (o.create_graph)
        while (!nb_grad_enabled() && ng_depth < 1000) {
            nb_no_grad_end();
            ng_depth++;
        }

    /* seeds */
    for (int k = 0; k < n_out && st == NB_OK; k++) {
        int s = slot_of(&w, outputs[k]);
        if (s < 0) continue;
        nb_tensor *seed = grad_outputs ? grad_outputs[k] : NULL;
        if (o.create_graph) {
            if (!seed) seed = nb_ones(outputs[k]->dtype, outputs[k]->shape);
            w.slot[s] = w.slot[s] ? nb_add(w.slot[s], seed) : seed;
        } else {
            if (!w.slot[s]) w.slot[s] = nb__tensor_new(outputs[k]->dtype, outputs[k]->shape, nb_scope_current(), true);
            nb_tensor *g = w.slot[s];
            if (!g) {
                st = NB_ERR_NOMEM;
                break;
            }
            NB_FLOAT_DISPATCH(g->dtype, T, {
                T *gp = (T *)g->data;
                if (seed)
                    for (int64_t i = 0; i < g->numel; i++) gp[i] += ((const T *)seed->data)[i];
                else
                    for (int64_t i = 0; i < g->numel; i++) gp[i] += (T)1;
            });
        }
        if (!w.slot[s]) st = nb_error() != NB_OK ? nb_error() : NB_ERR_NOMEM;
    }

    for (size_t k = 0; k < w.len && st == NB_OK; k++) {
        nb_node *n = w.nodes[k];
        if (!w.need[k]) continue;
        const int so = slot_of(&w, n->out);
        if (so < 0 || !w.slot[so]) continue;
        nb_tensor *gout = w.slot[so];
        if ((st = nb__check_released(n, "grad", outputs[0])) != NB_OK) break;
        if (!nb__check_versions(n)) {
            st = NB_ERR_VERSION;
            break;
        }
        nb_tensor *gin_inline[NB_NODE_INLINE_IN], **gin = gin_inline;
        int slots_inline[NB_NODE_INLINE_IN], *sl = slots_inline;
        if (n->nin > NB_NODE_INLINE_IN) {
            gin = calloc((size_t)n->nin, sizeof *gin);
            sl = calloc((size_t)n->nin, sizeof *sl);
            if (!gin || !sl) {
                free(gin == gin_inline ? NULL : gin);
                free(sl == slots_inline ? NULL : sl);
                st = NB_ERR_NOMEM;
                break;
            }
        }
        uint64_t mask = 0;
        for (int i = 0; i < n->nin; i++) {
            gin[i] = NULL;
            sl[i] = slot_of(&w, n->in[i]);
            if (sl[i] >= 0 && i < 64) mask |= 1ull << i;
        }
        if (o.create_graph) {
            if (!n->op->backward_graph) {
                char sh[NB_SHAPE_STRLEN];
                st = fail(NB_ERR_GRAPH,
                          "op '%s' (node #%llu, output %s) has no differentiable backward, so create_graph can't "
                          "go through it (docs/higher_order.md lists the ops that support second order)",
                          n->op->name, (unsigned long long)n->seq, nb_shape_str(n->out->shape, sh, sizeof sh));
            } else {
                const nb_node *prev_node = g_bg_node;
                uint64_t prev_mask = g_bg_mask;
                g_bg_node = n;
                g_bg_mask = mask;
                n->op->backward_graph(n, gout, gin);
                g_bg_node = prev_node;
                g_bg_mask = prev_mask;
                if (nb_error() != NB_OK) st = nb_error();
                for (int i = 0; i < n->nin && st == NB_OK; i++) {
                    if (sl[i] < 0 || !gin[i]) continue;
                    if (!nb_shape_eq(gin[i]->shape, n->in[i]->shape) || gin[i]->dtype != n->in[i]->dtype) {
                        char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN];
                        st =
                            fail(NB_ERR_SHAPE, "op '%s': backward_graph gave input %d a gradient %s %s for %s %s",
                                 n->op->name, i, nb_shape_str(gin[i]->shape, a, sizeof a), nb_dtype_name(gin[i]->dtype),
                                 nb_shape_str(n->in[i]->shape, b, sizeof b), nb_dtype_name(n->in[i]->dtype));
                        break;
                    }
                    w.slot[sl[i]] = w.slot[sl[i]] ? nb_add(w.slot[sl[i]], gin[i]) : gin[i];
                    if (!w.slot[sl[i]]) st = nb_error() != NB_OK ? nb_error() : NB_ERR_NOMEM;
                }
            }
        } else {
            /* the kernel backward, adding into the slots */
            nb_tensor *old_grad_inline[NB_NODE_INLINE_IN], **old_grad = old_grad_inline;
            bool old_rg_inline[NB_NODE_INLINE_IN], *old_rg = old_rg_inline;
            if (n->nin > NB_NODE_INLINE_IN) {
                old_grad = calloc((size_t)n->nin, sizeof *old_grad);
                old_rg = calloc((size_t)n->nin, sizeof *old_rg);
            }
            if (!old_grad || !old_rg) st = NB_ERR_NOMEM;
            for (int i = 0; i < n->nin && st == NB_OK; i++) {
                nb_tensor *t = n->in[i];
                old_grad[i] = t->grad;
                old_rg[i] = t->requires_grad;
                if (sl[i] >= 0) {
                    if (!w.slot[sl[i]]) w.slot[sl[i]] = nb__tensor_new(t->dtype, t->shape, nb_scope_current(), true);
                    if (!w.slot[sl[i]]) {
                        st = NB_ERR_NOMEM;
                        for (int j = i; j >= 0; j--) {
                            n->in[j]->grad = old_grad[j];
                            n->in[j]->requires_grad = old_rg[j];
                        }
                        break;
                    }
                    t->grad = w.slot[sl[i]];
                } else {
                    t->requires_grad = false;
                }
            }
            if (st == NB_OK) {
                n->op->backward(n, gout);
                for (int i = n->nin; i-- > 0;) {
                    n->in[i]->grad = old_grad[i];
                    n->in[i]->requires_grad = old_rg[i];
                }
            }
            if (old_grad != old_grad_inline) free(old_grad);
            if (old_rg != old_rg_inline) free(old_rg);
        }
        if (st == NB_OK && nb__anomaly)
            for (int i = 0; i < n->nin; i++)
                if (sl[i] >= 0 && !nb__check_finite(n->op->name, "grad", w.slot[sl[i]], n)) st = NB_ERR_NAN;
        if (gin != gin_inline) free(gin);
        if (sl != slots_inline) free(sl);
        if (st == NB_OK && !o.create_graph && !o.retain_graph && !(n->op->saves & NB_SAVES_NOTHING))
            n->flags |= NB_NODE_RELEASED;
    }

    for (int j = 0; j < ng_depth; j++) nb_no_grad_begin();

    for (int j = 0; j < n_in && st == NB_OK; j++) {
        if (w.slot[j] || o.allow_unused) continue;
        st = fail(NB_ERR_GRAPH,
                  "input %d (%s) is not used by the outputs' graph (no output depends on it); pass allow_unused "
                  "to get NULL for it",
                  j, nb_describe(inputs[j], "input", d, sizeof d));
    }
    if (st == NB_OK)
        for (int j = 0; j < n_in; j++) result[j] = w.slot[j];
    walk_free(&w);
    return st;
}

nb_tensor *nb_grad_of(nb_tensor *out, nb_tensor *in, bool create_graph) {
    nb_tensor *r = NULL;
    nb_grad_opts o = {.create_graph = create_graph};
    return nb_grads(&out, 1, &in, 1, NULL, &o, &r) == NB_OK ? r : NULL;
}

/* ------------------------------------------------------------ gradgradcheck */

typedef struct {
    nb_fn fn;
    void *ctx;
    int nin; /* inputs of fn; in[nin] is v */
} ggc_ctx;

/* (inputs, v) -> the gradients of <fn(inputs), v> w.r.t. the inputs that
 * require grad, each flattened, concatenated (zeros for unused ones). */
static nb_tensor *ggc_fn(nb_tensor *const *in, int nin, void *vctx) {
    (void)nin;
    const ggc_ctx *c = vctx;
    nb_tensor *y = c->fn(in, c->nin, c->ctx);
    if (!y) return NULL;
    nb_tensor *want[NB_SAMPLE_MAX_IN * 2], *res[NB_SAMPLE_MAX_IN * 2], *flat[NB_SAMPLE_MAX_IN * 2];
    int nw = 0;
    for (int i = 0; i < c->nin && nw < NB_SAMPLE_MAX_IN * 2; i++)
        if (in[i]->requires_grad) want[nw++] = in[i];
    nb_tensor *v = in[c->nin];
    nb_grad_opts o = {.create_graph = true, .allow_unused = true};
    if (nb_grads(&y, 1, want, nw, &v, &o, res) != NB_OK) return NULL;
    for (int i = 0; i < nw; i++) {
        nb_tensor *r = res[i] ? res[i] : nb_zeros(want[i]->dtype, want[i]->shape);
        flat[i] = nb_reshape(r, NB_SHAPE(r->numel));
    }
    return nw == 1 ? flat[0] : nb_concat(flat, nw, 0);
}

nb_gradcheck_report nb_gradgradcheck(nb_fn fn, nb_tensor *const *in, int nin, void *ctx,
                                     const nb_gradcheck_opts *opts) {
    nb_gradcheck_report r = {0};
    nb_gradcheck_opts o = opts ? *opts : nb_gradcheck_defaults();
    if (!fn || nin < 0 || nin >= 2 * NB_SAMPLE_MAX_IN || (nin > 0 && !in)) {
        nb_fail(NB_ERR_ARG, "gradgradcheck", "bad arguments (nin %d)", nin);
        snprintf(r.message, sizeof r.message, "gradgradcheck: bad arguments\n");
        return r;
    }
    /* v: the upstream gradient, shaped like fn's output, uniform on [-1, 1) */
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = fn(in, nin, ctx);
    nb_shape ys = y ? y->shape : NB_SCALAR;
    bool y_ok = y && y->requires_grad;
    const char *op = y && y->node ? y->node->op->name : "fn"; /* ops are static: the name outlives the scope */
    nb_scope_end(&s);
    if (!y_ok) {
        snprintf(r.message, sizeof r.message, "gradgradcheck: fn failed or its output does not require grad\n");
        return r;
    }
    nb_tensor *v = nb_empty(NB_F64, ys);
    uint64_t z = o.seed ^ 0xa5a5a5a5ull;
    for (int64_t i = 0; i < v->numel; i++) {
        z += 0x9E3779B97F4A7C15ull;
        uint64_t q = z;
        q = (q ^ (q >> 30)) * 0xBF58476D1CE4E5B9ull;
        q = (q ^ (q >> 27)) * 0x94D049BB133111EBull;
        nb_f64(v)[i] = 2.0 * (double)((q ^ (q >> 31)) >> 11) * 0x1.0p-53 - 1.0;
    }
    nb_set_requires_grad(v, true);
    nb_tensor *all[2 * NB_SAMPLE_MAX_IN + 1];
    for (int i = 0; i < nin; i++) all[i] = in[i];
    all[nin] = v;
    ggc_ctx c = {fn, ctx, nin};
    /* Jacobians only: the first-order extras (reentrancy, zero upstream,
     * no-grad, accumulation) are nb_gradcheck's, and the no-grad one does not
     * apply here (turning an input's requires_grad off changes which
     * gradients the checked function returns) */
    o.skip_extras = true;
    o.skip_f32 = true; /* the first-order nb_gradcheck runs the F32 comparison */
    r = nb_gradcheck(ggc_fn, all, nin + 1, &c, &o);
    nb_tensor_free(v);
    r.op = op;
    /* name the op under test, not the concat that joins its gradients */
    char head[1024];
    snprintf(head, sizeof head, "gradgradcheck of %s (inputs 0..%d, then the upstream gradient v):\n", op, nin - 1);
    size_t hl = strlen(head);
    if (hl + strlen(r.message) < sizeof r.message) {
        memmove(r.message + hl, r.message, strlen(r.message) + 1);
        memcpy(r.message, head, hl);
    }
    return r;
}

/* ------------------------------------------------------------ adjoints of multilinear ops */

/* A(g, in…) = J_tᵀ g for an op that is linear in input t (and in each input
 * of `lin`, with the others held: indices, a bias): the op's own kernel
 * backward run on a copy of the node whose input t gets the output buffer
 * as its gradient. Its derivatives are the op again: d/dg <A, U> is the op's
 * forward with input t replaced by U (the first nfwd inputs: a bias is
 * dropped), d/d in_j <A, U> is the adjoint for input j with input t replaced
 * by U. So a conv, a gather or a pooling differentiates to any order. */
typedef struct {
    const nb_op *op;  /* the forward op */
    const nb_op *adj; /* this adjoint op, for its name */
    int32_t target, nfwd;
    uint32_t lin, attr_size;
    _Alignas(16) unsigned char attr[NB_ATTR_MAX - 32];
} adj_attr;
_Static_assert(sizeof(adj_attr) <= NB_ATTR_MAX, "adj_attr fits a node");

#define ADJ_MAXIN 8

/* A node copy for running a's op: inputs are header copies of ins (input
 * `grad_of` gets grad, others none), out is a header over out_data shaped like
 * y. */
static void fake_node(nb_node *f, nb_tensor *hdr, nb_tensor **hp, const adj_attr *a, nb_tensor *const *ins, int nin,
                      int grad_of, nb_tensor *grad, nb_tensor *out) {
    memset(f, 0, sizeof *f);
    f->op = a->op;
    f->nin = nin;
    for (int j = 0; j < nin; j++) {
        hdr[j] = *ins[j];
        hdr[j].requires_grad = j == grad_of;
        hdr[j].grad = j == grad_of ? grad : NULL;
        hp[j] = &hdr[j];
    }
    f->in = hp;
    f->out = out;
    memcpy(f->attr, a->attr, a->attr_size);
}

void nb__adj_fwd(nb_node *m);
void nb__adj_fwd(nb_node *m) {
    const adj_attr *a = nb_attr(m, adj_attr);
    memset(m->out->data, 0, (size_t)m->out->numel * nb_dtype_size(m->out->dtype));
    nb_node f;
    nb_tensor hdr[ADJ_MAXIN], *hp[ADJ_MAXIN], yh = *m->in[0];
    fake_node(&f, hdr, hp, a, m->in + 1, m->nin - 1, a->target, m->out, &yh);
    a->op->backward(&f, m->in[0]);
}

void nb__adj_bwd(nb_node *m, const nb_tensor *u);
void nb__adj_bwd(nb_node *m, const nb_tensor *u) {
    const adj_attr *a = nb_attr(m, adj_attr);
    nb_tensor *g = m->in[0], *ins[ADJ_MAXIN], uh = *u;
    const int nin = m->nin - 1;
    for (int j = 0; j < nin; j++) ins[j] = m->in[1 + j];
    ins[a->target] = &uh; /* shape of input t, data of u */
    uh.shape = m->in[1 + a->target]->shape;
    nb_tensor *gg = nb_grad_buf(g);
    nb_node f;
    nb_tensor hdr[ADJ_MAXIN], *hp[ADJ_MAXIN];
    if (gg) { /* the op's forward on U, added into g's gradient */
        nb_tensor *tmp = nb__tensor_new(g->dtype, g->shape, nb_scope_current(), false);
        if (!tmp) return;
        fake_node(&f, hdr, hp, a, ins, a->nfwd, -1, NULL, tmp);
        a->op->forward(&f);
        NB_FLOAT_DISPATCH(g->dtype, T, {
            T *d = (T *)gg->data;
            const T *s = (const T *)tmp->data;
            for (int64_t i = 0; i < gg->numel; i++) d[i] += s[i];
        });
        if (f.saved && !f.saved->scope) nb_tensor_free(f.saved);
        nb_tensor_free(tmp);
    }
    for (int j = 0; j < nin; j++) {
        if (j == a->target || !((a->lin >> j) & 1u)) continue;
        nb_tensor *gj = nb_grad_buf(m->in[1 + j]);
        if (!gj) continue;
        nb_tensor yh = *g;
        fake_node(&f, hdr, hp, a, ins, nin, j, gj, &yh);
        a->op->backward(&f, g);
    }
}

void nb__adj_bwg(nb_node *m, nb_tensor *u, nb_tensor **gin);
void nb__adj_bwg(nb_node *m, nb_tensor *u, nb_tensor **gin) {
    const adj_attr *a = nb_attr(m, adj_attr);
    nb_tensor *g = m->in[0], *ins[ADJ_MAXIN];
    const int nin = m->nin - 1;
    for (int j = 0; j < nin; j++) ins[j] = m->in[1 + j];
    ins[a->target] = u;
    if (nb_grad_needed(m, 0)) gin[0] = nb_apply_ex(a->op, ins, a->nfwd, g->shape, g->dtype, a->attr, a->attr_size);
    for (int j = 0; j < nin; j++)
        if (j != a->target && ((a->lin >> j) & 1u) && nb_grad_needed(m, 1 + j)) {
            adj_attr b = *a;
            b.target = j;
            nb_tensor *all[ADJ_MAXIN + 1] = {g};
            for (int k = 0; k < nin; k++) all[1 + k] = ins[k];
            gin[1 + j] = nb_apply_ex(a->adj, all, nin + 1, m->in[1 + j]->shape, g->dtype, &b, sizeof b);
        }
}

nb_tensor *nb__adjoint(const nb_op *adj, const nb_node *n, int target, uint32_t lin, int nfwd, size_t attr_size,
                       nb_tensor *g);
nb_tensor *nb__adjoint(const nb_op *adj, const nb_node *n, int target, uint32_t lin, int nfwd, size_t attr_size,
                       nb_tensor *g) {
    if (!g) return NULL;
    if (n->nin + 1 > ADJ_MAXIN || attr_size > sizeof(((adj_attr *)0)->attr)) {
        nb_fail(NB_ERR_ARG, n->op->name, "no adjoint for %d inputs / %zu bytes of attributes", n->nin, attr_size);
        return NULL;
    }
    adj_attr a = {n->op, adj, target, nfwd, lin, (uint32_t)attr_size, {0}};
    memcpy(a.attr, n->attr, attr_size);
    nb_tensor *all[ADJ_MAXIN + 1] = {g};
    for (int k = 0; k < n->nin; k++) all[1 + k] = n->in[k];
    return nb_apply_ex(adj, all, n->nin + 1, n->in[target]->shape, g->dtype, &a, sizeof a);
}
