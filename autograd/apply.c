/* autograd/apply.c — nb_apply: the single path by which every op (built-in or
 * user) runs its forward and records its node on the tape. */
#include "internal.h"

static NB_TLS int g_no_grad; /* nesting depth of nb_no_grad_begin (per thread) */
/* Tape order, per thread. A node's number is above its inputs' nodes' even
 * when they were made on another thread (a Lamport clock: nb_apply_ex raises
 * the counter to the inputs' first), so the order stays topological. */
static NB_TLS uint64_t g_seq;

void nb_no_grad_begin(void) { g_no_grad++; }
void nb_no_grad_end(void) {
    if (g_no_grad > 0) g_no_grad--;
    else nb_fail(NB_ERR_ARG, "no_grad_end", "called without a matching nb_no_grad_begin");
}
bool nb_grad_enabled(void) { return g_no_grad == 0; }
uint64_t nb__next_seq(void) { return ++g_seq; }

/* op->dtypes (nabla/op.h): false, the error reported, when an input's dtype
 * is not among them. */
static bool dtypes_ok(const nb_op *op, nb_tensor *const *in, int nin) {
    for (int i = 0; i < nin; i++) {
        if (op->dtypes & NB_DTYPE_BIT(in[i]->dtype)) continue;
        char allowed[64] = "";
        for (int d = NB_F32; d <= NB_I64; d++)
            if (op->dtypes & NB_DTYPE_BIT(d))
                snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", allowed[0] ? ", " : "",
                         nb_dtype_name((nb_dtype)d));
        nb_fail(NB_ERR_DTYPE, op->name, "input %d%s%s%s is %s, but the op takes only %s (its nb_op.dtypes)", i,
                in[i]->name[0] ? " '" : "", in[i]->name, in[i]->name[0] ? "'" : "", nb_dtype_name(in[i]->dtype),
                allowed[0] ? allowed : "no dtype");
        return false;
    }
    return true;
}

nb_tensor *nb_apply(const nb_op *op, nb_tensor *const *in, int nin, nb_shape out_shape) {
    nb_dtype dt = nin > 0 && in[0] ? in[0]->dtype : NB_F32;
    return nb_apply_ex(op, in, nin, out_shape, dt, NULL, 0);
}

nb_tensor *nb_apply_ex(const nb_op *op, nb_tensor *const *in, int nin, nb_shape out_shape, nb_dtype out_dtype,
                       const void *attr, size_t attr_size) {
    if (!op || !op->forward) {
        nb_fail(NB_ERR_ARG, op && op->name ? op->name : "apply", "op has no forward function");
        return NULL;
    }
    if (nin < 0 || (nin > 0 && !in)) {
        nb_fail(NB_ERR_ARG, op->name, "bad input list (nin %d)", nin);
        return NULL;
    }
    bool needs_grad = false;
    for (int i = 0; i < nin; i++) {
        if (!in[i]) return NULL; /* an earlier error; it is already kept */
        if (!nb__alive(op->name, "input", i, in[i])) return NULL;
        needs_grad |= in[i]->requires_grad;
    }
    if (attr_size > NB_ATTR_MAX) {
        nb_fail(NB_ERR_ARG, op->name, "attributes of %zu bytes exceed NB_ATTR_MAX (%d)", attr_size, NB_ATTR_MAX);
        return NULL;
    }
    if (op->dtypes && !dtypes_ok(op, in, nin)) return NULL;
    if (nb_shape_numel(out_shape) < 0) {
        nb__fail_bad_shape(op->name, "output shape", out_shape);
        return NULL;
    }
    bool record = needs_grad && nb_grad_enabled();
    if (record && !op->backward) {
        nb_fail(NB_ERR_GRAPH, op->name, "op has no backward but an input requires grad (use nb_no_grad)");
        return NULL;
    }
    nb_scope *where = nb_scope_current();

    nb_node stack_node, *n;
    if (record) {
        n = nb__node_new(nin, where);
        if (!n) return NULL;
        for (int i = 0; i < nin; i++) n->in[i] = in[i];
    } else {
        /* Not recorded: the node lives on the stack just for forward. */
        n = &stack_node;
        memset(n, 0, offsetof(nb_node, attr));
        n->nin = nin;
        n->in = (nb_tensor **)in;
    }
    n->op = op;
    if (attr_size) memcpy(n->attr, attr, attr_size);

    nb_tensor *out = op->is_view && nin > 0 ? nb__tensor_view(in[0], out_shape, where)
                                            : nb__tensor_new(out_dtype, out_shape, where, false);
    if (!out) {
        if (record && !where) nb__free(n);
        return NULL;
    }
    n->out = out;
    op->forward(n);

    if (record) {
        for (int i = 0; i < nin; i++)
            if (in[i]->node && in[i]->node->seq > g_seq) g_seq = in[i]->node->seq;
        n->seq = nb__next_seq();
        for (int i = 0; i < nin; i++) *nb__in_version_slot(n, i) = *in[i]->version;
        n->out_version = *out->version;
        out->node = n;
        out->requires_grad = true;
    } else if (n->saved && !n->saved->scope) {
        nb_tensor_free(n->saved); /* nobody will read it */
    }
    if (nb__anomaly) nb__check_finite(op->name, "forward", out, n);
    return out;
}

nb_tensor *nb_grad_buf(nb_tensor *t) {
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) t->grad = nb__tensor_new(t->dtype, t->shape, t->scope, true);
    return t->grad;
}

nb_tensor *nb_node_save_new(nb_node *n, nb_dtype dt, nb_shape s) {
    nb_tensor *t = nb__tensor_new(dt, s, n->out ? n->out->scope : nb_scope_current(), false);
    n->saved = t;
    return t;
}

/* nb_grad_buf for a kernel that writes (not adds) every element when the
 * buffer is new (a GEMM with beta 0): *fresh says whether it is, and a new
 * buffer is left unzeroed. */
nb_tensor *nb__grad_buf_fresh(nb_tensor *t, bool *fresh) {
    *fresh = false;
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) {
        t->grad = nb__tensor_new(t->dtype, t->shape, t->scope, false);
        *fresh = t->grad != NULL;
    }
    return t->grad;
}
