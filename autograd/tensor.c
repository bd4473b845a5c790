/* autograd/tensor.c — dtypes, shapes, tensor creation, access and printing. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

const char *nb_dtype_name(nb_dtype dt) {
    switch (dt) {
    case NB_F32: return "f32";
    case NB_F64: return "f64";
    case NB_I64: return "i64";
    }
    return "?";
}

size_t nb_dtype_size(nb_dtype dt) { return dt == NB_F32 ? 4 : 8; }

/* ------------------------------------------------------------ shapes */

nb_shape nb_shape_make(int ndim, const int64_t *dims) {
    nb_shape s = {0};
    if (ndim < 0 || ndim > NB_MAX_DIMS) {
        nb_fail(NB_ERR_SHAPE, "shape", "%d dims requested, at most %d are supported", ndim, NB_MAX_DIMS);
        s.ndim = -1;
        return s;
    }
    s.ndim = ndim;
    for (int i = 0; i < ndim; i++) s.d[i] = dims[i];
    return s;
}

int64_t nb_shape_numel(nb_shape s) {
    if (s.ndim < 0 || s.ndim > NB_MAX_DIMS) return -1;
    /* The product of the non-zero sizes must be valid too (not only the
     * product, 0 when a size is 0): kernels multiply partial runs of sizes
     * (strides, outer/inner spans) whatever the other sizes are. */
    int64_t n = 1;
    bool empty = false;
    for (int i = 0; i < s.ndim; i++) {
        if (s.d[i] == 0) empty = true;
        else if (!nb__size_mul(n, s.d[i], &n)) return -1; /* negative, or more than NB_NUMEL_MAX */
    }
    return empty ? 0 : n;
}

void nb__fail_bad_shape(const char *op, const char *what, nb_shape s) {
    char sh[NB_SHAPE_STRLEN];
    if (s.ndim < 0 || s.ndim > NB_MAX_DIMS) {
        nb_fail(NB_ERR_SHAPE, op, "%s has %d dims (0 to %d are supported)", what, s.ndim, NB_MAX_DIMS);
        return;
    }
    nb_shape_str(s, sh, sizeof sh);
    for (int i = 0; i < s.ndim; i++)
        if (s.d[i] < 0) {
            nb_fail(NB_ERR_SHAPE, op, "%s %s has a negative size", what, sh);
            return;
        }
    nb_fail(NB_ERR_SHAPE, op, "%s %s has more elements than any memory holds (at most 2^58)", what, sh);
}

bool nb_shape_eq(nb_shape a, nb_shape b) {
    if (a.ndim != b.ndim) return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i]) return false;
    return true;
}

char *nb_shape_str(nb_shape s, char *buf, size_t size) {
    size_t k = 0;
    int w = snprintf(buf, size, "(");
    k += w > 0 ? (size_t)w : 0;
    for (int i = 0; i < s.ndim && k < size; i++) {
        w = snprintf(buf + k, size - k, i ? ",%lld" : "%lld", (long long)s.d[i]);
        k += w > 0 ? (size_t)w : 0;
    }
    if (k < size) snprintf(buf + k, size - k, ")");
    return buf;
}

char *nb_describe(const nb_tensor *t, const char *argname, char *buf, size_t size) {
    char sh[NB_SHAPE_STRLEN];
    if (!t) snprintf(buf, size, "%s is NULL", argname);
    else if (t->name[0]) snprintf(buf, size, "%s '%s' is %s", argname, t->name, nb_shape_str(t->shape, sh, sizeof sh));
    else snprintf(buf, size, "%s is %s", argname, nb_shape_str(t->shape, sh, sizeof sh));
    return buf;
}

void nb__fail_dead(const char *op, const char *what, int index, const nb_tensor *t) {
    char w[48], nm[NB_NAME_MAX + 4] = "", sh[NB_SHAPE_STRLEN];
    if (index >= 0) snprintf(w, sizeof w, "%s %d", what, index);
    else snprintf(w, sizeof w, "%s", what);
    if (t->name[0]) snprintf(nm, sizeof nm, " '%s'", t->name);
    if (t->flags & NB_TF_FREED)
        nb_fail(NB_ERR_SCOPE, op, "%s%s %s was freed by nb_tensor_free and is used again", w, nm,
                nb_shape_str(t->shape, sh, sizeof sh));
    else
        nb_fail(NB_ERR_SCOPE, op,
                "%s%s %s was freed when its scope ended (nb_scope_end) and is used again; make it before "
                "nb_scope_begin, or keep a copy with nb_copy_persistent",
                w, nm, nb_shape_str(t->shape, sh, sizeof sh));
}

void *nb__dead_data(const nb_tensor *t, const char *accessor) {
    nb__fail_dead(accessor, "the tensor", -1, t);
    return NULL;
}

int nb_norm_axis(const char *op, const nb_tensor *t, int axis) {
    if (!nb__alive(op, "x", -1, t)) return -1;
    int nd = t->shape.ndim;
    if (axis < -nd || axis >= nd) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_AXIS, op, "axis %d is out of range for %d dim%s: %s", axis, nd, nd == 1 ? "" : "s",
                nb_describe(t, "x", d, sizeof d));
        return -1;
    }
    return axis < 0 ? axis + nd : axis;
}

bool nb_check_float_inputs(const char *op, nb_tensor *const *in, int nin) {
    for (int i = 0; i < nin; i++) {
        if (!in[i]) return false; /* NULL propagates silently: the error is already kept */
        if (!nb__alive(op, "input", i, in[i])) return false;
        if (!nb__is_float(in[i]->dtype)) {
            nb_fail(NB_ERR_DTYPE, op, "input %d has dtype %s; this op needs f32 or f64", i,
                    nb_dtype_name(in[i]->dtype));
            return false;
        }
        if (in[i]->dtype != in[0]->dtype) {
            nb_fail(NB_ERR_DTYPE, op, "dtypes differ: input 0 is %s, input %d is %s (use nb_cast)",
                    nb_dtype_name(in[0]->dtype), i, nb_dtype_name(in[i]->dtype));
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ creation */

static bool check_new(const char *op, nb_dtype dt, nb_shape s) {
    if (dt != NB_F32 && dt != NB_F64 && dt != NB_I64) {
        nb_fail(NB_ERR_DTYPE, op, "unknown dtype %d", (int)dt);
        return false;
    }
    if (nb_shape_numel(s) < 0) {
        nb__fail_bad_shape(op, "shape", s);
        return false;
    }
    return true;
}

static nb_tensor *empty_for(const char *op, nb_dtype dt, nb_shape s) {
    if (!check_new(op, dt, s)) return NULL;
    return nb__tensor_new(dt, s, nb_scope_current(), false);
}

nb_tensor *nb_empty(nb_dtype dt, nb_shape s) { return empty_for("empty", dt, s); }

nb_tensor *nb_zeros(nb_dtype dt, nb_shape s) {
    if (!check_new("zeros", dt, s)) return NULL;
    return nb__tensor_new(dt, s, nb_scope_current(), true);
}

nb_tensor *nb_zeros_persistent(nb_dtype dt, nb_shape s) {
    if (!check_new("zeros_persistent", dt, s)) return NULL;
    return nb__tensor_new(dt, s, NULL, true);
}

static void fill(nb_tensor *t, double v) {
    if (t->dtype == NB_F32)
        for (int64_t i = 0; i < t->numel; i++) nb_f32(t)[i] = (float)v;
    else if (t->dtype == NB_F64)
        for (int64_t i = 0; i < t->numel; i++) nb_f64(t)[i] = v;
    else
        for (int64_t i = 0; i < t->numel; i++) nb_i64(t)[i] = (int64_t)v;
}

static nb_tensor *full_for(const char *op, nb_dtype dt, nb_shape s, double value) {
    nb_tensor *t = empty_for(op, dt, s);
    if (t) fill(t, value);
    return t;
}

nb_tensor *nb_full(nb_dtype dt, nb_shape s, double value) { return full_for("full", dt, s, value); }
nb_tensor *nb_ones(nb_dtype dt, nb_shape s) { return full_for("ones", dt, s, 1.0); }
nb_tensor *nb_scalar(nb_dtype dt, double value) { return full_for("scalar", dt, NB_SCALAR, value); }

nb_tensor *nb_from_data(nb_dtype dt, nb_shape s, const void *data) {
    if (!data) {
        nb_fail(NB_ERR_ARG, "from_data", "data is NULL");
        return NULL;
    }
    nb_tensor *t = empty_for("from_data", dt, s);
    if (t) memcpy(t->data, data, (size_t)t->numel * nb_dtype_size(dt));
    return t;
}

nb_tensor *nb_from_f32(nb_shape s, const float *d) { return nb_from_data(NB_F32, s, d); }
nb_tensor *nb_from_f64(nb_shape s, const double *d) { return nb_from_data(NB_F64, s, d); }
nb_tensor *nb_from_i64(nb_shape s, const int64_t *d) { return nb_from_data(NB_I64, s, d); }

nb_tensor *nb_arange(nb_dtype dt, double start, double stop, double step) {
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
        nb_fail(NB_ERR_ARG, "arange", "start %g, stop %g, step %g: step must be non-zero and all finite", start, stop,
                step);
        return NULL;
    }
    double n = ceil((stop - start) / step);
    if (n > 0x1p52) { /* beyond what a double counts exactly, and no memory holds it */
        nb_fail(NB_ERR_ARG, "arange", "start %g, stop %g, step %g asks for %.3g elements", start, stop, step, n);
        return NULL;
    }
    nb_tensor *t = nb_empty(dt, NB_SHAPE(n > 0 ? (int64_t)n : 0));
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) nb_set(t, i, start + (double)i * step);
    *t->version = 0;
    return t;
}

nb_tensor *nb_rand(nb_dtype dt, nb_shape s, double lo, double hi) {
    nb_tensor *t = empty_for("rand", dt, s);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double u = lo + (hi - lo) * nb_rand_uniform();
        if (dt == NB_F32) nb_f32(t)[i] = (float)u;
        else if (dt == NB_F64) nb_f64(t)[i] = u;
        else nb_i64(t)[i] = (int64_t)floor(u);
    }
    return t;
}

nb_tensor *nb_randn(nb_dtype dt, nb_shape s, double mean, double std) {
    nb_tensor *t = empty_for("randn", dt, s);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = mean + std * nb_rand_normal();
        if (dt == NB_F32) nb_f32(t)[i] = (float)v;
        else if (dt == NB_F64) nb_f64(t)[i] = v;
        else nb_i64(t)[i] = (int64_t)llround(v);
    }
    return t;
}

static nb_tensor *copy_into(const nb_tensor *t, nb_scope *where) {
    if (!t || !nb__alive("copy", "x", -1, t)) return NULL;
    nb_tensor *c = nb__tensor_new(t->dtype, t->shape, where, false);
    if (!c) return NULL;
    memcpy(c->data, t->data, (size_t)t->numel * nb_dtype_size(t->dtype));
    memcpy(c->name, t->name, sizeof c->name);
    return c;
}

nb_tensor *nb_copy(const nb_tensor *t) { return copy_into(t, nb_scope_current()); }
nb_tensor *nb_copy_persistent(const nb_tensor *t) { return copy_into(t, NULL); }

nb_tensor *nb_set_name(nb_tensor *t, const char *name) {
    if (!t || !nb__alive("set_name", "the tensor", -1, t)) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    return t;
}

nb_tensor *nb_set_requires_grad(nb_tensor *t, bool on) {
    if (!t || !nb__alive("set_requires_grad", "the tensor", -1, t)) return NULL;
    if (on && !nb__is_float(t->dtype)) {
        nb_fail(NB_ERR_DTYPE, "set_requires_grad", "only f32/f64 tensors can require grad; %s is %s",
                t->name[0] ? t->name : "this tensor", nb_dtype_name(t->dtype));
        return NULL;
    }
    if (t->node && !on) {
        nb_fail(NB_ERR_GRAPH, "set_requires_grad",
                "can't turn off requires_grad of a non-leaf tensor (it was made by %s); copy it instead",
                t->node->op->name);
        return NULL;
    }
    t->requires_grad = on;
    return t;
}

/* ------------------------------------------------------------ access */

int64_t nb_dim(const nb_tensor *t, int axis) {
    int a = nb_norm_axis("dim", t, axis);
    return a < 0 ? -1 : t->shape.d[a];
}

double nb_get(const nb_tensor *t, int64_t i) {
    if (!nb__alive("get", "the tensor", -1, t)) return NAN;
    switch (t->dtype) {
    case NB_F32: return nb_f32(t)[i];
    case NB_F64: return nb_f64(t)[i];
    case NB_I64: return (double)nb_i64(t)[i];
    }
    return 0;
}

void nb_set(nb_tensor *t, int64_t i, double v) {
    if (!nb__alive("set", "the tensor", -1, t)) return;
    switch (t->dtype) {
    case NB_F32: nb_f32(t)[i] = (float)v; break;
    case NB_F64: nb_f64(t)[i] = v; break;
    case NB_I64: nb_i64(t)[i] = (int64_t)v; break;
    }
    nb_bump_version(t);
}

double nb_item(const nb_tensor *t) {
    if (!t || !nb__alive("item", "the tensor", -1, t)) return NAN;
    if (t->numel != 1) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_SHAPE, "item", "needs a one-element tensor: %s", nb_describe(t, "x", d, sizeof d));
        return NAN;
    }
    return nb_get(t, 0);
}

void nb_bump_version(nb_tensor *t) {
    if (t && nb__alive("bump_version", "the tensor", -1, t)) (*t->version)++;
}

void nb_tensor_zero_grad(nb_tensor *t) {
    if (t && nb__alive("zero_grad", "the tensor", -1, t) && t->grad)
        memset(t->grad->data, 0, (size_t)t->grad->numel * nb_dtype_size(t->grad->dtype));
}

/* ------------------------------------------------------------ printing */

typedef struct {
    FILE *f;
    const nb_tensor *t;
    bool summarize, sci, integral;
    int width, prec;
} printer;

static void print_elem(const printer *p, int64_t i) {
    double v = nb_get(p->t, i);
    if (p->t->dtype == NB_I64) fprintf(p->f, "%*lld", p->width, (long long)nb_i64(p->t)[i]);
    else if (!isfinite(v)) fprintf(p->f, "%*s", p->width, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    else if (p->sci) fprintf(p->f, "%*.*e", p->width, p->prec, v);
    else if (p->integral) fprintf(p->f, "%*.0f.", p->width - 1, v);
    else fprintf(p->f, "%*.*f", p->width, p->prec, v);
}

static void print_rec(const printer *p, int dim, int64_t off, int indent) {
    const nb_shape *s = &p->t->shape;
    if (dim == s->ndim) {
        print_elem(p, off);
        return;
    }
    int64_t n = s->d[dim], stride = 1;
    for (int k = dim + 1; k < s->ndim; k++) stride *= s->d[k];
    fputc('[', p->f);
    for (int64_t i = 0; i < n; i++) {
        if (p->summarize && n > 6 && i == 3) {
            fputs(dim == s->ndim - 1 ? "..., " : "...,\n", p->f);
            if (dim < s->ndim - 1) fprintf(p->f, "%*s", indent + 1, "");
            i = n - 3;
        }
        print_rec(p, dim + 1, off + i * stride, indent + 1);
        if (i < n - 1) {
            if (dim == s->ndim - 1) fputs(", ", p->f);
            else {
                fputc(',', p->f);
                for (int k = dim; k < s->ndim - 1; k++) fputc('\n', p->f);
                fprintf(p->f, "%*s", indent + 1, "");
            }
        }
    }
    fputc(']', p->f);
}

void nb_fprint(FILE *f, const nb_tensor *t) {
    if (!t) {
        fprintf(f, "tensor(NULL)\n");
        return;
    }
    if (!nb__alive("print", "the tensor", -1, t)) return;
    printer p = {f, t, t->numel > 1000, false, true, 1, 4};
    /* Like PyTorch: every element is as wide as the widest one, which is
     * the largest or the most negative value (or a nan/inf/-inf). */
    double amax = 0, amin = INFINITY, vmax = 0, vmin = 0;
    int nonfinite_w = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = nb_get(t, i);
        if (!isfinite(v)) {
            int w = isnan(v) || v > 0 ? 3 : 4;
            if (w > nonfinite_w) nonfinite_w = w;
            continue;
        }
        if (v != floor(v)) p.integral = false;
        double a = fabs(v);
        if (a > amax) amax = a;
        if (a > 0 && a < amin) amin = a;
        if (v > vmax) vmax = v;
        if (v < vmin) vmin = v;
    }
    if (t->dtype != NB_I64) {
        if (amax >= 1e8 || (amin < 1e-4 && amin > 0) || (amax / (amin > 0 ? amin : 1) > 1000 && !p.integral)) {
            p.sci = true;
            p.integral = false;
        }
        char buf[64];
        const char *fmt = p.sci ? "%.4e" : p.integral ? "%.0f." : "%.4f";
        int w1 = snprintf(buf, sizeof buf, fmt, vmax), w2 = snprintf(buf, sizeof buf, fmt, vmin);
        p.width = w1 > w2 ? w1 : w2;
        if (p.width < nonfinite_w) p.width = nonfinite_w;
    } else {
        char buf[32];
        int64_t mx = 0, mn = 0;
        for (int64_t i = 0; i < t->numel; i++) {
            if (nb_i64(t)[i] > mx) mx = nb_i64(t)[i];
            if (nb_i64(t)[i] < mn) mn = nb_i64(t)[i];
        }
        int w1 = snprintf(buf, sizeof buf, "%lld", (long long)mx),
            w2 = snprintf(buf, sizeof buf, "%lld", (long long)mn);
        p.width = w1 > w2 ? w1 : w2;
    }
    fputs("tensor(", f);
    print_rec(&p, 0, 0, 7);
    fprintf(f, ", dtype=%s", nb_dtype_name(t->dtype));
    if (t->node) fprintf(f, ", op=%s", t->node->op->name);
    else if (t->requires_grad) fputs(", requires_grad=true", f);
    if (t->name[0]) fprintf(f, ", name='%s'", t->name);
    fputs(")\n", f);
}

void nb_print(const nb_tensor *t) { nb_fprint(stdout, t); }
