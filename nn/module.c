/* nn/module.c — the module tree: named parameters, buffers and children,
 * train/eval, enumeration with dotted names, casting, freeing; Sequential.
 *
 * A module never computes anything itself: forward functions compose public
 * ops, so backward comes from the tape. Parameters are read by index
 * (nb_module_param) at every forward, which lets nb_module_swap_parameters
 * substitute other tensors (gradient checks w.r.t. parameters). */
#include "../autograd/internal.h"
#include "nn_internal.h"

#include <stdarg.h>
#include <stdlib.h>

/* Bumped by every change of a module tree's structure: flat listings
 * (names) are rebuilt when it moved. */
static _Atomic uint64_t g_struct_gen = 1; /* any thread's change bumps it */

nb_tensor *nb__persistent_zeros(nb_dtype dt, nb_shape s) {
    if (nb_shape_numel(s) < 0) {
        nb__fail_bad_shape("parameter", "shape", s);
        return NULL;
    }
    return nb__tensor_new(dt, s, NULL, true);
}

bool nb__weight_fits(const char *layer, int n, const int64_t *sizes) {
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        if (!nb__size_mul(p, sizes[i], &p)) {
            nb__fail_bad_shape(layer, "weight shape", nb_shape_make(n, sizes));
            return false;
        }
    return true;
}

nb_module *nb__layer_done(nb_module *m) {
    if (m && m->failed) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

static void *grow(void *p, int *cap, int need, size_t elem) {
    if (need <= *cap) return p;
    int nc = *cap ? *cap * 2 : 4;
    while (nc < need) nc *= 2;
    void *q = realloc(p, (size_t)nc * elem);
    if (!q) return NULL;
    *cap = nc;
    return q;
}

static bool valid_name(const char *op, const char *name) {
    if (!name || !*name || strchr(name, '.') || strlen(name) >= NB_NAME_MAX) {
        nb_fail(NB_ERR_ARG, op, "name '%s' must be non-empty, shorter than %d characters and without dots",
                name ? name : "(null)", NB_NAME_MAX);
        return false;
    }
    return true;
}

nb_module *nb_module_new(const char *type, nb_module_forward_fn forward, size_t data_size) {
    nb_module *m = calloc(1, sizeof *m);
    if (!m) {
        nb_fail(NB_ERR_NOMEM, "module_new", "out of memory");
        return NULL;
    }
    if (data_size) {
        m->data = calloc(1, data_size);
        if (!m->data) {
            free(m);
            nb_fail(NB_ERR_NOMEM, "module_new", "out of memory for %zu bytes of data", data_size);
            return NULL;
        }
    }
    snprintf(m->type, sizeof m->type, "%s", type ? type : "Module");
    snprintf(m->desc, sizeof m->desc, "%s", m->type);
    m->forward = forward;
    m->training = true;
    return m;
}

nb_module *nb__layer_new(const char *type, nb_module_forward_fn fwd, size_t data_size, const char *fmt, ...) {
    nb_module *m = nb_module_new(type, fwd, data_size);
    if (m && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->desc, sizeof m->desc, fmt, ap);
        va_end(ap);
    }
    return m;
}

void *nb_module_data(nb_module *m) { return m ? m->data : NULL; }
void nb_module_on_free(nb_module *m, void (*fn)(nb_module *m)) {
    if (m) m->on_free = fn;
}

static void set_path(nb_module *m, const char *parent_path, const char *name) {
    int k = parent_path && *parent_path ? snprintf(m->path, sizeof m->path, "%s.%s", parent_path, name)
                                        : snprintf(m->path, sizeof m->path, "%s", name);
    if (k >= (int)sizeof m->path) /* a path too deep to keep is cut, and says so */
        memcpy(m->path + sizeof m->path - 4, "...", 4);
    for (int i = 0; i < m->nchildren; i++) set_path(m->children[i].m, m->path, m->children[i].name);
}

static bool name_taken(const nb_module *m, const char *name) {
    for (int i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name)) return true;
    for (int i = 0; i < m->nbuffers; i++)
        if (!strcmp(m->buffers[i].name, name)) return true;
    for (int i = 0; i < m->nchildren; i++)
        if (!strcmp(m->children[i].name, name)) return true;
    return false;
}

/* The child's tensors carry their dotted names, so errors, traces and graph
 * pictures say "0.weight" or "encoder.fc1.bias" as the model does: each
 * tensor still named by its place in the child (the name the module gave it,
 * not one the user set) gets "<name>." in front, and again when the parent is
 * added to its own parent. Names longer than NB_NAME_MAX - 1 keep their end. */
static void prefix_names(nb_module *child, const char *name) {
    int n;
    const nb_named_tensor *ts = nb__module_list(child, true, &n);
    for (int i = 0; i < n; i++) {
        nb_tensor *t = ts[i].t;
        if (strcmp(t->name, ts[i].name) != 0) continue; /* named by the user, or shared and renamed */
        char full[2 * NB_NAME_MAX + 2];
        const int len = snprintf(full, sizeof full, "%s.%s", name, ts[i].name);
        nb_set_name(t, len < NB_NAME_MAX ? full : full + (len - (NB_NAME_MAX - 1)));
    }
}

nb_module *nb_module_add(nb_module *parent, const char *name, nb_module *child) {
    if (!child) return NULL; /* its constructor failed and said so */
    if (!parent) {
        nb_fail(NB_ERR_ARG, "module_add", "parent module is NULL");
        return NULL;
    }
    if (child->parent || child == parent) { /* owned elsewhere: not ours to free */
        nb_fail(NB_ERR_ARG, "module_add", "module %s already has a parent ('%s')", child->desc, child->path);
        return NULL;
    }
    /* From here the child is ours (ownership passes on the call): a failure frees it,
     * so `net->fc1 = nb_module_add(m, "fc1", nb_linear(...))` never leaks. */
    if (!valid_name("module_add", name)) {
        nb_module_free(child);
        return NULL;
    }
    if (name_taken(parent, name)) {
        nb_fail(NB_ERR_ARG, "module_add", "%s already has a member named '%s'", parent->desc, name);
        nb_module_free(child);
        return NULL;
    }
    nb__mod_child *c = grow(parent->children, &parent->cap_children, parent->nchildren + 1, sizeof *c);
    if (!c) {
        nb_fail(NB_ERR_NOMEM, "module_add", "out of memory");
        nb_module_free(child);
        return NULL;
    }
    parent->children = c;
    snprintf(c[parent->nchildren].name, NB_NAME_MAX, "%s", name);
    c[parent->nchildren++].m = child;
    child->parent = parent;
    child->training = parent->training ? child->training : false;
    set_path(child, parent->path, name);
    atomic_fetch_add_explicit(&g_struct_gen, 1, memory_order_relaxed);
    prefix_names(child, name);
    return child;
}

static nb_tensor *add_entry(nb_module *m, const char *op, const char *name, nb_tensor *t, bool param) {
    if (!t) {
        if (m) m->failed = true;
        return NULL;
    }
    if (!m) {
        nb_fail(NB_ERR_ARG, op, "module is NULL");
        return NULL;
    }
    if (!valid_name(op, name)) return NULL;
    if (name_taken(m, name)) {
        nb_fail(NB_ERR_ARG, op, "%s already has a member named '%s'", m->desc, name);
        return NULL;
    }
    if (param && t->dtype == NB_I64) {
        nb_fail(NB_ERR_DTYPE, op, "parameter '%s' must be f32 or f64, not i64", name);
        return NULL;
    }
    if (t->scope || t->node) t = nb_copy_persistent(t); /* parameters outlive every scope */
    if (!t) return NULL;
    int *n = param ? &m->nparams : &m->nbuffers, *cap = param ? &m->cap_params : &m->cap_buffers;
    nb__mod_entry **arr = param ? &m->params : &m->buffers;
    nb__mod_entry *e = grow(*arr, cap, *n + 1, sizeof *e);
    if (!e) {
        nb_fail(NB_ERR_NOMEM, op, "out of memory");
        return NULL;
    }
    *arr = e;
    snprintf(e[*n].name, NB_NAME_MAX, "%s", name);
    e[*n].tied = false;
    e[(*n)++].t = t;
    if (!t->name[0]) nb_set_name(t, name);
    if (param) nb_set_requires_grad(t, true);
    atomic_fetch_add_explicit(&g_struct_gen, 1, memory_order_relaxed);
    return t;
}

nb_tensor *nb_module_add_param(nb_module *m, const char *name, nb_tensor *t) {
    return add_entry(m, "module_add_param", name, t, true);
}
nb_tensor *nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t) {
    return add_entry(m, "module_add_buffer", name, t, false);
}

nb_tensor *nb_forward(nb_module *m, nb_tensor *x) {
    if (!m) {
        nb_fail(NB_ERR_ARG, "forward", "module is NULL");
        return NULL;
    }
    if (!x) return NULL;
    if (!m->forward) {
        nb_fail(NB_ERR_ARG, m->type, "%s has no forward function", m->desc);
        return NULL;
    }
    return m->forward(m, x);
}

static void flat_free(nb__mod_flat *f) {
    free(f->items);
    free(f->names);
    memset(f, 0, sizeof *f);
}

void nb_module_free(nb_module *m) {
    if (!m) return;
    if (m->on_free) m->on_free(m);
    for (int i = 0; i < m->nchildren; i++) nb_module_free(m->children[i].m);
    for (int i = 0; i < m->nparams; i++)
        if (!m->params[i].tied) nb_tensor_free(m->params[i].t);
    for (int i = 0; i < m->nbuffers; i++) nb_tensor_free(m->buffers[i].t);
    free(m->children);
    free(m->params);
    free(m->buffers);
    flat_free(&m->flat_params);
    flat_free(&m->flat_all);
    free(m->data);
    free(m);
    atomic_fetch_add_explicit(&g_struct_gen, 1, memory_order_relaxed);
}

void nb_module_train(nb_module *m, bool on) {
    if (!m) return;
    m->training = on;
    for (int i = 0; i < m->nchildren; i++) nb_module_train(m->children[i].m, on);
}
bool nb_module_is_training(const nb_module *m) { return m && m->training; }

/* ------------------------------------------------------------ enumeration */

/* Visits the tree in order: per module its parameters, (with buffers) its
 * buffers, then its children. visit gets the prefix ("fc1." or "") and the entry.
 * Tied parameter slots (nb_module_tie_param) are skipped: their tensor is
 * visited where its owner holds it, so every listing has it once. */
typedef void (*visit_fn)(void *ctx, const char *prefix, nb__mod_entry *e);

static void walk(nb_module *m, const char *prefix, bool buffers, visit_fn fn, void *ctx) {
    for (int i = 0; i < m->nparams; i++)
        if (!m->params[i].tied) fn(ctx, prefix, &m->params[i]);
    if (buffers)
        for (int i = 0; i < m->nbuffers; i++) fn(ctx, prefix, &m->buffers[i]);
    for (int i = 0; i < m->nchildren; i++) {
        char p[NB_MOD_PATH_MAX + NB_NAME_MAX + 2];
        snprintf(p, sizeof p, "%s%s.", prefix, m->children[i].name);
        walk(m->children[i].m, p, buffers, fn, ctx);
    }
}

typedef struct {
    int n;
    size_t chars;
    nb__mod_flat *f;
    char *w;
} flat_ctx;

static void count_v(void *ctx, const char *prefix, nb__mod_entry *e) {
    flat_ctx *c = ctx;
    c->n++;
    c->chars += strlen(prefix) + strlen(e->name) + 1;
}
static void fill_v(void *ctx, const char *prefix, nb__mod_entry *e) {
    flat_ctx *c = ctx;
    nb_named_tensor *it = &c->f->items[c->n++];
    if (c->w) {
        int len = sprintf(c->w, "%s%s", prefix, e->name);
        it->name = c->w;
        c->w += len + 1;
    }
    it->t = e->t;
}

static nb__mod_flat *flat_get(nb_module *m, bool buffers) {
    nb__mod_flat *f = buffers ? &m->flat_all : &m->flat_params;
    flat_ctx c = {0};
    const uint64_t gen = atomic_load_explicit(&g_struct_gen, memory_order_relaxed);
    if (f->gen != gen) {
        flat_free(f);
        walk(m, "", buffers, count_v, &c);
        f->items = calloc((size_t)c.n + 1, sizeof *f->items);
        f->names = malloc(c.chars + 1);
        if (!f->items || !f->names) {
            flat_free(f);
            nb_fail(NB_ERR_NOMEM, "module_parameters", "out of memory");
            return NULL;
        }
        f->n = c.n;
        c = (flat_ctx){.f = f, .w = f->names};
        walk(m, "", buffers, fill_v, &c);
        f->gen = gen;
    } else { /* same names; tensors may have been swapped or cast */
        c = (flat_ctx){.f = f};
        walk(m, "", buffers, fill_v, &c);
    }
    return f;
}

static int list(nb_module *m, bool buffers, nb_named_tensor *out, int max) {
    if (!m) return 0;
    nb__mod_flat *f = flat_get(m, buffers);
    if (!f) return 0;
    for (int i = 0; i < f->n && i < max && out; i++) out[i] = f->items[i];
    return f->n;
}

const nb_named_tensor *nb_module_parameter_view(nb_module *m, int *n) { return nb__module_list(m, false, n); }

const nb_named_tensor *nb__module_list(nb_module *m, bool buffers, int *n) {
    nb__mod_flat *f = m ? flat_get(m, buffers) : NULL;
    *n = f ? f->n : 0;
    return f ? f->items : NULL;
}

int nb_module_parameters(nb_module *m, nb_named_tensor *out, int max) { return list(m, false, out, max); }
int nb_module_num_parameters(nb_module *m) { return list(m, false, NULL, 0); }
int nb_module_named_tensors(nb_module *m, nb_named_tensor *out, int max) { return list(m, true, out, max); }

int64_t nb_module_numel(nb_module *m) {
    if (!m) return 0;
    nb__mod_flat *f = flat_get(m, false);
    int64_t n = 0;
    for (int i = 0; f && i < f->n; i++) n += f->items[i].t->numel;
    return n;
}

nb_tensor *nb_module_get(nb_module *m, const char *name) {
    if (!m || !name) return NULL;
    nb__mod_flat *f = flat_get(m, true);
    for (int i = 0; f && i < f->n; i++)
        if (!strcmp(f->items[i].name, name)) return f->items[i].t;
    return NULL;
}

nb_tensor *nb_module_param(nb_module *m, int i) { return m && i >= 0 && i < m->nparams ? m->params[i].t : NULL; }
nb_tensor *nb_module_buffer(nb_module *m, int i) { return m && i >= 0 && i < m->nbuffers ? m->buffers[i].t : NULL; }

nb_module *nb_module_child(nb_module *m, const char *name) {
    if (!m || !name) return NULL;
    const char *dot = strchr(name, '.');
    size_t len = dot ? (size_t)(dot - name) : strlen(name);
    for (int i = 0; i < m->nchildren; i++)
        if (strlen(m->children[i].name) == len && !strncmp(m->children[i].name, name, len))
            return dot ? nb_module_child(m->children[i].m, dot + 1) : m->children[i].m;
    return NULL;
}
int nb_module_num_children(const nb_module *m) { return m ? m->nchildren : 0; }
nb_module *nb_module_child_at(nb_module *m, int i) { return m && i >= 0 && i < m->nchildren ? m->children[i].m : NULL; }

const char *nb_module_type(const nb_module *m) { return m ? m->type : ""; }
const char *nb_module_desc(const nb_module *m) { return m ? m->desc : ""; }
const char *nb_module_path(const nb_module *m) { return m ? m->path : ""; }

static void print_rec(FILE *f, nb_module *m, const char *name, int depth) {
    fprintf(f, "%*s%s%s%s", 2 * depth, "", name ? "(" : "", name ? name : "", name ? "): " : "");
    fprintf(f, "%s", m->desc);
    for (int i = 0; i < m->nparams; i++) {
        char sh[NB_SHAPE_STRLEN];
        fprintf(f, "%s%s %s", i ? ", " : "  [", m->params[i].name, nb_shape_str(m->params[i].t->shape, sh, sizeof sh));
        if (i == m->nparams - 1) fputc(']', f);
    }
    fputc('\n', f);
    for (int i = 0; i < m->nchildren; i++) print_rec(f, m->children[i].m, m->children[i].name, depth + 1);
}

void nb_module_print(FILE *f, nb_module *m) {
    if (!m) return;
    if (!f) f = stdout;
    print_rec(f, m, NULL, 0);
    fprintf(f, "parameters: %d tensors, %lld values\n", nb_module_num_parameters(m), (long long)nb_module_numel(m));
}

/* ------------------------------------------------------------ grads, cast, swap */

static void zero_v(void *ctx, const char *prefix, nb__mod_entry *e) {
    (void)ctx, (void)prefix;
    nb_tensor_zero_grad(e->t);
}
void nb_module_zero_grad(struct nb_module *m) {
    if (m) walk(m, "", false, zero_v, NULL);
}

/* Points every tied slot (nb_module_tie_param) under m that holds `from`
 * at `to`: the owner's tensor was replaced (cast, swap). */
static void retie(nb_module *m, const nb_tensor *from, nb_tensor *to) {
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].tied && m->params[i].t == from) m->params[i].t = to;
    for (int i = 0; i < m->nchildren; i++) retie(m->children[i].m, from, to);
}

typedef struct {
    nb_dtype dt;
    bool ok;
    nb_module *root;
} cast_ctx;

static void cast_v(void *ctx, const char *prefix, nb__mod_entry *e) {
    (void)prefix;
    cast_ctx *c = ctx;
    nb_tensor *t = e->t;
    if (!c->ok || t->dtype == NB_I64 || t->dtype == c->dt) return;
    nb_tensor *u = nb__tensor_new(c->dt, t->shape, NULL, false);
    if (!u) {
        c->ok = false;
        return;
    }
    for (int64_t i = 0; i < t->numel; i++) {
        if (c->dt == NB_F64) nb_f64(u)[i] = nb_get(t, i);
        else nb_f32(u)[i] = (float)nb_get(t, i);
    }
    memcpy(u->name, t->name, sizeof u->name);
    u->requires_grad = t->requires_grad;
    retie(c->root, t, u);
    nb_tensor_free(t);
    e->t = u;
}

bool nb_module_cast(nb_module *m, nb_dtype dt) {
    if (!m) return false;
    if (dt != NB_F32 && dt != NB_F64) {
        nb_fail(NB_ERR_DTYPE, "module_cast", "modules are f32 or f64, not %s", nb_dtype_name(dt));
        return false;
    }
    cast_ctx c = {dt, true, m};
    walk(m, "", true, cast_v, &c);
    if (!c.ok) nb_fail(NB_ERR_NOMEM, "module_cast", "out of memory");
    return c.ok;
}

typedef struct {
    nb__mod_entry **e;
    int n;
} entries_ctx;
static void entries_v(void *ctx, const char *prefix, nb__mod_entry *e) {
    (void)prefix;
    entries_ctx *c = ctx;
    c->e[c->n++] = e;
}

bool nb_module_swap_parameters(nb_module *m, nb_tensor **ts, int n) {
    if (!m || !ts) {
        nb_fail(NB_ERR_ARG, "module_swap_parameters", "module or tensor list is NULL");
        return false;
    }
    int np = nb_module_num_parameters(m);
    if (n != np) {
        nb_fail(NB_ERR_ARG, "module_swap_parameters", "%s has %d parameter%s, %d tensor%s given", m->desc, np,
                np == 1 ? "" : "s", n, n == 1 ? "" : "s");
        return false;
    }
    nb__mod_entry **es = malloc(sizeof *es * (size_t)(np + 1));
    if (!es) return false;
    entries_ctx c = {es, 0};
    walk(m, "", false, entries_v, &c);
    for (int i = 0; i < n; i++) {
        if (!ts[i] || !nb_shape_eq(ts[i]->shape, es[i]->t->shape) || ts[i]->dtype != es[i]->t->dtype) {
            char a[NB_DESCRIBE_LEN], b[NB_DESCRIBE_LEN];
            if (ts[i])
                nb_fail(NB_ERR_SHAPE, "module_swap_parameters",
                        "tensor %d doesn't match parameter '%s': %s (%s), %s (%s)", i, es[i]->name,
                        nb_describe(ts[i], "given", a, sizeof a), nb_dtype_name(ts[i]->dtype),
                        nb_describe(es[i]->t, "parameter", b, sizeof b), nb_dtype_name(es[i]->t->dtype));
            else nb_fail(NB_ERR_ARG, "module_swap_parameters", "tensor %d is NULL", i);
            free(es);
            return false;
        }
    }
    for (int i = 0; i < n; i++) {
        nb_tensor *t = es[i]->t;
        es[i]->t = ts[i];
        ts[i] = t;
        retie(m, t, es[i]->t);
    }
    free(es);
    return true;
}

nb_tensor *nb_module_tie_param(nb_module *m, const char *name, nb_tensor *shared) {
    if (!shared) return NULL;
    if (!m) {
        nb_fail(NB_ERR_ARG, "module_tie_param", "module is NULL");
        return NULL;
    }
    if (!valid_name("module_tie_param", name)) return NULL;
    if (name_taken(m, name)) {
        nb_fail(NB_ERR_ARG, "module_tie_param", "%s already has a member named '%s'", m->desc, name);
        return NULL;
    }
    if (!(shared->dtype == NB_F32 || shared->dtype == NB_F64) || shared->scope || shared->node ||
        !shared->requires_grad) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_ARG, "module_tie_param",
                "'%s' of %s: the shared tensor must be a persistent float parameter that requires grad; %s", name,
                m->desc, nb_describe(shared, "shared", d, sizeof d));
        return NULL;
    }
    nb__mod_entry *e = grow(m->params, &m->cap_params, m->nparams + 1, sizeof *e);
    if (!e) {
        nb_fail(NB_ERR_NOMEM, "module_tie_param", "out of memory");
        return NULL;
    }
    m->params = e;
    snprintf(e[m->nparams].name, NB_NAME_MAX, "%s", name);
    e[m->nparams].t = shared;
    e[m->nparams++].tied = true;
    g_struct_gen++;
    return shared;
}

/* ------------------------------------------------------------ layer helpers */

void nb_module_fail_shape(const nb_module *m, const char *expected, const nb_tensor *x) {
    char d[NB_DESCRIBE_LEN];
    if (!m) return;
    nb_fail(NB_ERR_SHAPE, m->type, "%s%s%s%s expects %s; %s", m->path[0] ? "'" : "", m->path, m->path[0] ? "' " : "",
            m->desc, expected, x ? nb_describe(x, "x", d, sizeof d) : "x is NULL");
}

bool nb__check_input(nb_module *m, nb_tensor *x, int lo_ndim, int hi_ndim, const char *expected) {
    nb_tensor *p = nb_module_param(m, 0);
    if (x->dtype == NB_I64 || (p && p->dtype != x->dtype)) {
        nb_fail(NB_ERR_DTYPE, m->type, "%s%s%s%s computes in %s; x is %s", m->path[0] ? "'" : "", m->path,
                m->path[0] ? "' " : "", m->desc, p ? nb_dtype_name(p->dtype) : "f32/f64", nb_dtype_name(x->dtype));
        return false;
    }
    if (x->shape.ndim < lo_ndim || x->shape.ndim > hi_ndim) {
        nb_module_fail_shape(m, expected, x);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ Sequential */

static nb_tensor *sequential_forward(nb_module *m, nb_tensor *x) {
    for (int i = 0; i < m->nchildren && x; i++) x = nb_forward(m->children[i].m, x);
    return x;
}

nb_module *nb_sequential_append(nb_module *seq, nb_module *m) {
    if (!seq || !m) return NULL;
    char name[24];
    snprintf(name, sizeof name, "%d", seq->nchildren);
    return nb_module_add(seq, name, m) ? seq : NULL;
}

nb_module *nb_sequential_n(nb_module *const *mods, int n) {
    if (n > 0 && !mods[n - 1]) n--; /* the optional NULL terminator */
    bool bad = false;
    for (int i = 0; i < n; i++) bad |= !mods[i];
    nb_module *seq = bad ? NULL : nb_module_new("Sequential", sequential_forward, 0);
    if (!seq) { /* a layer failed (its error is kept): free the others */
        for (int i = 0; i < n; i++) nb_module_free(mods[i]);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!nb_sequential_append(seq, mods[i])) { /* mods[i] was freed by nb_module_add */
            for (int j = i + 1; j < n; j++)
                if (!mods[j]->parent) nb_module_free(mods[j]);
            nb_module_free(seq);
            return NULL;
        }
    }
    return seq;
}
