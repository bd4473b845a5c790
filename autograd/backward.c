/* autograd/backward.c — reverse-mode sweep over the tape, version checks,
 * the backward trace, anomaly mode, tape printing and Graphviz export. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* Anomaly mode, the trace and the node list are per thread; the visit mark
 * is process-wide, so a graph handed to another thread never meets a stale
 * mark equal to the new one. */
NB_TLS bool nb__anomaly;
static NB_TLS FILE *g_trace;
static NB_TLS bool g_trace_pause;
static NB_TLS nb__backward_observer g_obs; /* nb_graph_html's recorder */
static NB_TLS void *g_obs_ctx;
static _Atomic uint64_t g_mark;

/* Nodes reachable from a root, collected into a buffer kept between calls
 * (no malloc per step once it is big enough). */
static NB_TLS nb_node **g_nodes;
static NB_TLS size_t g_nodes_cap;

static void watch_clear(void);

void nb__backward_release(void) {
    watch_clear(); /* a thread's leaf hook goes with it */
    nb__free(g_nodes);
    g_nodes = NULL;
    g_nodes_cap = 0;
}

static bool push(size_t *len, nb_node *n) {
    if (*len == g_nodes_cap) {
        size_t cap = g_nodes_cap ? g_nodes_cap * 2 : 256;
        nb_node **p = nb__malloc(cap * sizeof *p);
        if (!p) return false;
        if (g_nodes) memcpy(p, g_nodes, *len * sizeof *p);
        nb__free(g_nodes);
        g_nodes = p;
        g_nodes_cap = cap;
    }
    g_nodes[(*len)++] = n;
    return true;
}

static int by_seq_desc(const void *a, const void *b) {
    uint64_t x = (*(nb_node *const *)a)->seq, y = (*(nb_node *const *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Collects the nodes behind t into g_nodes[0..len), newest first. The buffer
 * is used as the DFS stack too: entries [done, len) are still to expand.
 * A dead tensor on the way (freed by nb_tensor_free or its scope's end) is
 * op's error: *ok false, and nothing is collected. */
static size_t collect(const char *op, const nb_tensor *t, bool *ok) {
    size_t len = 0;
    *ok = true;
    if (t && !nb__alive(op, "root", -1, t)) *ok = false;
    if (!t || !*ok || !t->node) return 0;
    const uint64_t mark = atomic_fetch_add_explicit(&g_mark, 1, memory_order_relaxed) + 1;
    t->node->mark = mark;
    if (!push(&len, t->node)) return 0;
    for (size_t done = 0; done < len; done++) {
        nb_node *n = g_nodes[done];
        for (int i = 0; i < n->nin; i++) {
            if (NB_UNLIKELY_(n->in[i]->flags & NB_TF_DEAD)) {
                char what[64];
                snprintf(what, sizeof what, "input %d of %s", i, n->op->name);
                nb__fail_dead(op, what, -1, n->in[i]);
                *ok = false;
                return 0;
            }
            nb_node *m = n->in[i]->node;
            if (m && m->mark != mark && n->in[i]->requires_grad) {
                m->mark = mark;
                if (!push(&len, m)) return 0;
            }
        }
    }
    qsort(g_nodes, len, sizeof *g_nodes, by_seq_desc);
    return len;
}

static const char *tname(const nb_tensor *t, char *buf, size_t size) {
    if (t->name[0]) return t->name;
    if (t->node) snprintf(buf, size, "%%%llu", (unsigned long long)t->node->seq);
    else snprintf(buf, size, "leaf");
    return buf;
}

/* always inlined: nb_backward's loop keeps it inline although grad.c calls it too */
static inline __attribute__((always_inline)) bool check_versions(nb_node *n) {
    uint32_t saves = n->op->saves ? n->op->saves : ~0u & ~NB_SAVES_NOTHING;
    if (saves & NB_SAVES_NOTHING) return true;
    for (int i = 0; i < n->nin; i++) {
        bool saved = i < 30 ? (saves >> i) & 1u : (saves & ((1u << 30) - 1)) == ((1u << 30) - 1);
        uint32_t want = *nb__in_version_slot(n, i);
        if (saved && *n->in[i]->version != want) {
            char d[NB_DESCRIBE_LEN], arg[24];
            snprintf(arg, sizeof arg, "input %d", i);
            nb_fail(NB_ERR_VERSION, n->op->name,
                    "%s, and it was modified in place after the op saved it (now version %u, backward expected %u): an "
                    "optimizer step or another in-place update between this graph's forward and its backward. "
                    "Run backward before updating, or update a copy",
                    nb_describe(n->in[i], arg, d, sizeof d), *n->in[i]->version, want);
            return false;
        }
    }
    if ((saves & NB_SAVES_OUT) && *n->out->version != n->out_version) {
        nb_fail(NB_ERR_VERSION, n->op->name, "its output was modified in place after forward (version %u, expected %u)",
                *n->out->version, n->out_version);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ trace */

static void trace_values(FILE *f, const nb_tensor *g) {
    if (!g) {
        fputs("(none)\n", f);
        return;
    }
    char sh[NB_SHAPE_STRLEN];
    fprintf(f, "%s ", nb_shape_str(g->shape, sh, sizeof sh));
    if (g->numel <= 8) {
        fputc('[', f);
        for (int64_t i = 0; i < g->numel; i++) fprintf(f, i ? ", %.6g" : "%.6g", nb_get(g, i));
        fputs("]\n", f);
        return;
    }
    double s = 0, s2 = 0, mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < g->numel; i++) {
        double v = nb_get(g, i);
        s += v;
        s2 += v * v;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
    double mean = s / (double)g->numel, var = s2 / (double)g->numel - mean * mean;
    fprintf(f, "mean %.4g  std %.4g  min %.4g  max %.4g  norm %.4g\n", mean, sqrt(var > 0 ? var : 0), mn, mx, sqrt(s2));
}

void nb_trace_backward(FILE *f, bool pause) {
    g_trace = f;
    g_trace_pause = pause;
}

void nb__set_backward_observer(nb__backward_observer fn, void *ctx) {
    g_obs = fn;
    g_obs_ctx = ctx;
}

void nb_anomaly_mode(bool on) { nb__anomaly = on; }

bool nb__check_finite(const char *op, const char *where, const nb_tensor *t, nb_node *n) {
    if (!t || !nb__is_float(t->dtype)) return true;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = nb_get(t, i);
        if (!isfinite(v)) {
            char shapes[512] = "", sh[NB_SHAPE_STRLEN];
            size_t k = 0;
            for (int j = 0; n && j < n->nin && k < sizeof shapes; j++) {
                int w = snprintf(shapes + k, sizeof shapes - k, "%s%s", j ? ", " : "",
                                 nb_shape_str(n->in[j]->shape, sh, sizeof sh));
                k += w > 0 ? (size_t)w : 0;
            }
            nb_fail(NB_ERR_NAN, op, "anomaly: %s produced %s at element %lld (inputs %s)", where,
                    isnan(v)    ? "NaN"
                        : v > 0 ? "inf"
                                : "-inf",
                    (long long)i, shapes);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ leaf hook */

/* nb_backward_watch_leaves: a pointer -> index table of the watched leaves
 * (open addressing, power-of-two size, at most half full), the backward
 * counter that stamps a leaf as "already scheduled", and the (node, leaf)
 * pairs of one backward: the node after whose backward the leaf's gradient
 * is complete. Per thread, like the tape. */
typedef struct leaf_watch {
    void (*fn)(void *ctx, int i);
    void *ctx;
    nb_tensor **keys; /* (cap) NULL = empty slot */
    int *idx;         /* (cap)                   */
    size_t cap;
    uint64_t *stamp; /* (n) backward number that last scheduled leaf i */
    int n;
    uint64_t pass;
    int64_t *fire; /* (2 * fire_cap): node position k, leaf index     */
    size_t fire_cap;
} leaf_watch;
static NB_TLS leaf_watch g_watch;

static size_t ptr_hash(const void *p, size_t cap) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static int watch_find(const nb_tensor *t) {
    for (size_t h = ptr_hash(t, g_watch.cap);; h = (h + 1) & (g_watch.cap - 1)) {
        if (!g_watch.keys[h]) return -1;
        if (g_watch.keys[h] == t) return g_watch.idx[h];
    }
}

static void watch_clear(void) {
    nb__free(g_watch.keys);
    nb__free(g_watch.idx);
    nb__free(g_watch.stamp);
    nb__free(g_watch.fire);
    memset(&g_watch, 0, sizeof g_watch);
}

nb_status nb_backward_watch_leaves(nb_tensor *const *leaves, int n, void (*fn)(void *ctx, int i), void *ctx) {
    watch_clear();
    if (!fn || n <= 0) return NB_OK;
    if (!leaves || n > (1 << 28)) {
        nb_fail(NB_ERR_ARG, "backward_watch_leaves", "leaves is NULL or n (%d) is too large", n);
        return NB_ERR_ARG;
    }
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    g_watch.keys = nb__calloc(cap * sizeof *g_watch.keys);
    g_watch.idx = nb__calloc(cap * sizeof *g_watch.idx);
    g_watch.stamp = nb__calloc((size_t)n * sizeof *g_watch.stamp);
    if (!g_watch.keys || !g_watch.idx || !g_watch.stamp) {
        watch_clear();
        nb_fail(NB_ERR_NOMEM, "backward_watch_leaves", "out of memory for %d leaves", n);
        return NB_ERR_NOMEM;
    }
    g_watch.cap = cap;
    for (int i = 0; i < n; i++) {
        if (!leaves[i] || leaves[i]->node) {
            watch_clear();
            nb_fail(NB_ERR_ARG, "backward_watch_leaves", "entry %d is %s", i,
                    leaves[i] ? "not a leaf (it was made by an op)" : "NULL");
            return NB_ERR_ARG;
        }
        size_t h = ptr_hash(leaves[i], cap);
        while (g_watch.keys[h] && g_watch.keys[h] != leaves[i]) h = (h + 1) & (cap - 1);
        if (!g_watch.keys[h]) g_watch.keys[h] = leaves[i], g_watch.idx[h] = i; /* a repeat keeps the first */
    }
    g_watch.n = n;
    g_watch.fn = fn;
    g_watch.ctx = ctx;
    return NB_OK;
}

/* The schedule of one backward over g_nodes[0..len): walking from the oldest
 * node (swept last) to the newest, the first node met that takes a watched
 * leaf as input is the last to add into its gradient. Pairs are appended in
 * that walk, so the sweep consumes them from the end. Returns the count, or
 * -1 when out of memory. */
static int64_t watch_schedule(size_t len) {
    int64_t nf = 0;
    ++g_watch.pass;
    for (size_t k = len; k-- > 0;) {
        nb_node *n = g_nodes[k];
        for (int i = 0; i < n->nin; i++) {
            const nb_tensor *t = n->in[i];
            if (t->node || !t->requires_grad) continue;
            int j = watch_find(t);
            if (j < 0 || g_watch.stamp[j] == g_watch.pass) continue;
            g_watch.stamp[j] = g_watch.pass;
            if ((size_t)nf == g_watch.fire_cap) {
                size_t cap = g_watch.fire_cap ? 2 * g_watch.fire_cap : 64;
                int64_t *p = nb__malloc(2 * cap * sizeof *p);
                if (!p) return -1;
                if (nf) memcpy(p, g_watch.fire, 2 * (size_t)nf * sizeof *p);
                nb__free(g_watch.fire);
                g_watch.fire = p;
                g_watch.fire_cap = cap;
            }
            g_watch.fire[2 * nf] = (int64_t)k;
            g_watch.fire[2 * nf + 1] = j;
            nf++;
        }
    }
    return nf;
}

/* nb__backward_set_tick / nb__backward_position (internal.h): a callback
 * between nodes (the data-parallel wrapper drives MPI progress from it) and
 * the sweep's position, for the leaf hook to record where it fired. */
static NB_TLS void (*g_tick)(void *ctx);
static NB_TLS void *g_tick_ctx;
static NB_TLS int64_t g_pos, g_len;

void nb__backward_set_tick(void (*fn)(void *ctx), void *ctx) {
    g_tick = fn;
    g_tick_ctx = ctx;
}

int64_t nb__backward_position(int64_t *len) {
    if (len) *len = g_len;
    return g_pos;
}

/* ------------------------------------------------------------ backward */

/* grad.c: the graph-already-used error (nb_grad without retain_graph) */
nb_status nb__check_released(const nb_node *n, const char *who, const nb_tensor *root);
/* for grad.c's walk */
bool nb__check_versions(nb_node *n);
bool nb__check_versions(nb_node *n) { return check_versions(n); }

static nb_status fail_root(nb_status st, const char *fmt, const nb_tensor *root) {
    char d[NB_DESCRIBE_LEN];
    nb_fail(st, "backward", fmt, nb_describe(root, "root", d, sizeof d));
    return st;
}

nb_status nb_backward_with(nb_tensor *root, const nb_tensor *seed) {
    if (!root) {
        nb_status st = nb_error();
        if (st == NB_OK) nb_fail(st = NB_ERR_ARG, "backward", "root is NULL");
        return st;
    }
    if (!nb__alive("backward", "root", -1, root) || (seed && !nb__alive("backward", "seed", -1, seed)))
        return NB_ERR_SCOPE;
    if (!root->requires_grad)
        return fail_root(NB_ERR_GRAPH,
                         "%s but does not require grad: no input of its graph requires grad, or it was built "
                         "under nb_no_grad",
                         root);
    if (!seed && root->numel != 1)
        return fail_root(NB_ERR_GRAPH,
                         "a gradient can be implicitly created only for a one-element root, and %s; "
                         "use nb_backward_with(root, seed)",
                         root);
    if (seed && (!nb_shape_eq(seed->shape, root->shape) || seed->dtype != root->dtype)) {
        char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN];
        nb_status st = nb_shape_eq(seed->shape, root->shape) ? NB_ERR_DTYPE : NB_ERR_SHAPE;
        nb_fail(st, "backward", "seed is %s %s but root is %s %s", nb_shape_str(seed->shape, a, sizeof a),
                nb_dtype_name(seed->dtype), nb_shape_str(root->shape, b, sizeof b), nb_dtype_name(root->dtype));
        return st;
    }
    bool ok;
    size_t len = collect("backward", root, &ok);
    if (!ok) return NB_ERR_SCOPE;
    /* Intermediate gradients restart from zero on every backward; leaves accumulate. */
    for (size_t i = 0; i < len; i++) nb_tensor_zero_grad(g_nodes[i]->out);
    nb_tensor *g = nb_grad_buf(root);
    if (!g) return NB_ERR_NOMEM;
    NB_FLOAT_DISPATCH(root->dtype, T, {
        T *gp = (T *)g->data;
        const T *sp = seed ? (const T *)seed->data : NULL; /* the seed's dtype is the root's (checked) */
        if (sp)
            for (int64_t i = 0; i < g->numel; i++) gp[i] += sp[i];
        else
            for (int64_t i = 0; i < g->numel; i++) gp[i] += (T)1;
    });

    /* watched leaves (nb_backward_watch_leaves): fire[2*(nf-1)] is the next
     * node position after which a leaf is complete */
    int64_t nf = g_watch.fn ? watch_schedule(len) : 0;
    if (nf < 0) {
        nb_fail(NB_ERR_NOMEM, "backward", "out of memory scheduling the leaf hook");
        return NB_ERR_NOMEM;
    }
    g_len = (int64_t)len;
    for (size_t k = 0; k < len; k++) {
        nb_node *n = g_nodes[k];
        g_pos = (int64_t)k; /* nodes swept so far */
        if (nf)             /* the leaves completed by the node before this one */
            while (nf > 0 && g_watch.fire[2 * (nf - 1)] < (int64_t)k) {
                nf--;
                g_watch.fn(g_watch.ctx, (int)g_watch.fire[2 * nf + 1]);
            }
        if (g_tick && k) g_tick(g_tick_ctx);
        const nb_tensor *gout = n->out->grad;
        if (!gout) continue;
        if ((n->flags & NB_NODE_RELEASED) && nb__check_released(n, "backward", root) != NB_OK) return NB_ERR_GRAPH;
        if (!check_versions(n)) return NB_ERR_VERSION;
        /* the trace (and an observer) shows what this node passed to each
         * input: its grad after minus before (a copy per input; tracing only,
         * so malloc is fine) */
        const bool watch = g_trace || g_obs;
        nb_tensor *before_inline[NB_NODE_INLINE_IN] = {0}, **before = before_inline;
        if (watch && n->nin > NB_NODE_INLINE_IN) {
            before = calloc((size_t)n->nin, sizeof *before);
            if (!before) return NB_ERR_NOMEM;
        }
        if (g_trace) {
            char sh[NB_SHAPE_STRLEN], nm[32];
            fprintf(g_trace, "backward #%llu %s -> %s %s\n  incoming grad: ", (unsigned long long)n->seq, n->op->name,
                    tname(n->out, nm, sizeof nm), nb_shape_str(n->out->shape, sh, sizeof sh));
            trace_values(g_trace, gout);
        }
        if (watch)
            for (int i = 0; i < n->nin; i++)
                if (n->in[i]->grad) before[i] = nb_copy_persistent(n->in[i]->grad);
        n->op->backward(n, gout);
        if (watch) {
            for (int i = 0; i < n->nin; i++) {
                char nm[32];
                if (g_trace) fprintf(g_trace, "  to input %d %s: ", i, tname(n->in[i], nm, sizeof nm));
                if (!n->in[i]->requires_grad) {
                    if (g_trace) fputs("(no grad needed)\n", g_trace);
                    continue;
                }
                nb_tensor *passed = nb_copy_persistent(n->in[i]->grad);
                if (passed && before[i])
                    NB_FLOAT_DISPATCH(passed->dtype, T, {
                        for (int64_t j = 0; j < passed->numel; j++) ((T *)passed->data)[j] -= ((T *)before[i]->data)[j];
                    });
                if (g_trace) trace_values(g_trace, passed);
                if (g_obs) g_obs(g_obs_ctx, n, gout, i, passed);
                nb_tensor_free(passed);
                nb_tensor_free(before[i]);
            }
            if (before != before_inline) free(before);
        }
        if (g_trace) {
            fflush(g_trace);
            if (g_trace_pause) {
                fputs("  [Enter] next node ", g_trace);
                fflush(g_trace);
                int c;
                while ((c = getchar()) != '\n' && c != EOF) {}
                if (!isatty(STDIN_FILENO)) fputc('\n', g_trace); /* no echoed Enter: end the prompt's line */
            }
        }
        if (nb__anomaly)
            for (int i = 0; i < n->nin; i++)
                if (!nb__check_finite(n->op->name, "backward", n->in[i]->grad, n)) return NB_ERR_NAN;
    }
    g_pos = (int64_t)len;
    while (nf > 0) { /* those completed by the last nodes */
        nf--;
        g_watch.fn(g_watch.ctx, (int)g_watch.fire[2 * nf + 1]);
    }
    return NB_OK;
}

nb_status nb_backward(nb_tensor *root) { return nb_backward_with(root, NULL); }

/* ------------------------------------------------------------ tape */

int nb_tape_len(const nb_tensor *t) {
    bool ok;
    size_t len = collect("tape_len", t, &ok);
    return ok ? (int)len : -1;
}

size_t nb__tape_nodes(const nb_tensor *t, nb_node *const **nodes) {
    bool ok;
    size_t len = collect("graph_html", t, &ok);
    (void)ok; /* a dead tensor: the error is reported, and the tape is empty */
    *nodes = g_nodes;
    return len;
}

void nb_tape_print(FILE *f, const nb_tensor *t) {
    bool ok;
    size_t len = collect("tape_print", t, &ok);
    (void)ok; /* a dead tensor: the error is reported, and nothing is printed */
    for (size_t k = len; k-- > 0;) {
        nb_node *n = g_nodes[k];
        char sh[NB_SHAPE_STRLEN], nm[32];
        fprintf(f, "#%-3llu %-10s in:", (unsigned long long)n->seq, n->op->name);
        for (int i = 0; i < n->nin; i++)
            fprintf(f, " %s %s", tname(n->in[i], nm, sizeof nm), nb_shape_str(n->in[i]->shape, sh, sizeof sh));
        fprintf(f, "  out: %s %s\n", tname(n->out, nm, sizeof nm), nb_shape_str(n->out->shape, sh, sizeof sh));
    }
}

nb_status nb_graph_dot(const nb_tensor *t, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        nb_fail(NB_ERR_IO, "graph_dot", "can't open %s for writing", path);
        return NB_ERR_IO;
    }
    bool ok;
    size_t len = collect("graph_dot", t, &ok);
    if (!ok) {
        fclose(f);
        return NB_ERR_SCOPE;
    }
    fprintf(f, "digraph nabla {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    for (size_t k = len; k-- > 0;) {
        nb_node *n = g_nodes[k];
        char sh[NB_SHAPE_STRLEN], nm[32];
        fprintf(f, "  op%llu [shape=box, style=filled, fillcolor=\"#dde8f7\", label=\"%s\"];\n",
                (unsigned long long)n->seq, n->op->name);
        for (int i = 0; i < n->nin; i++) {
            const nb_tensor *x = n->in[i];
            if (x->node) {
                /* an intermediate the user named (nb_set_name) shows its name on the edge */
                fprintf(f, "  op%llu -> op%llu [label=\"%s%s%s\"];\n", (unsigned long long)x->node->seq,
                        (unsigned long long)n->seq, x->name, x->name[0] ? "\\n" : "",
                        nb_shape_str(x->shape, sh, sizeof sh));
            } else {
                fprintf(f, "  t%p [shape=ellipse, label=\"%s\\n%s\"];\n  t%p -> op%llu;\n", (const void *)x,
                        tname(x, nm, sizeof nm), nb_shape_str(x->shape, sh, sizeof sh), (const void *)x,
                        (unsigned long long)n->seq);
            }
        }
    }
    if (t && t->node) {
        char sh[NB_SHAPE_STRLEN], nm[32];
        fprintf(f, "  out [shape=ellipse, style=bold, label=\"%s\\n%s\"];\n  op%llu -> out;\n", tname(t, nm, sizeof nm),
                nb_shape_str(t->shape, sh, sizeof sh), (unsigned long long)t->node->seq);
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        nb_fail(NB_ERR_IO, "graph_dot", "error writing %s", path);
        return NB_ERR_IO;
    }
    return NB_OK;
}
