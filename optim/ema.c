/* optim/ema.c — exponential moving average of the weights, swapped in for
 * evaluation, and the plain average of several models' weights. */
#include "optim_internal.h"

#include <stdlib.h>

struct nb_ema {
    nb_module *m;
    double decay;
    int n;
    nb_tensor **shadow, **backup; /* persistent, one per parameter */
    bool swapped;
};

/* The module's parameters: its cached list, no allocation. */
static const nb_named_tensor *params_of(nb_module *m, int *n) { return nb_module_parameter_view(m, n); }

nb_ema *nb_ema_new(struct nb_module *m, double decay) {
    if (!m || !(decay >= 0 && decay <= 1)) {
        nb_fail(NB_ERR_ARG, "ema", "needs a module and decay in [0, 1] (got %g)", decay);
        return NULL;
    }
    nb_ema *e = calloc(1, sizeof *e);
    int n;
    const nb_named_tensor *ps = params_of(m, &n);
    if (!e) return NULL;
    e->m = m, e->decay = decay, e->n = n;
    e->shadow = calloc((size_t)n + 1, sizeof *e->shadow);
    e->backup = calloc((size_t)n + 1, sizeof *e->backup);
    if (e->shadow && e->backup) {
        for (int i = 0; i < n; i++) {
            e->shadow[i] = nb_zeros_persistent(ps[i].t->dtype, ps[i].t->shape);
            e->backup[i] = nb_zeros_persistent(ps[i].t->dtype, ps[i].t->shape);
            NB_NO_GRAD { nb_copy_(e->shadow[i], ps[i].t); }
        }
    }
    return e;
}

void nb_ema_update(nb_ema *e) {
    if (!e || e->swapped) return; /* the module holds the shadow itself: nothing to average */
    int n;
    const nb_named_tensor *ps = params_of(e->m, &n);
    if (!ps) return;
    NB_NO_GRAD {
        for (int i = 0; i < n && i < e->n; i++) { /* shadow = d·shadow + (1−d)·θ */
            nb_scale_(e->shadow[i], e->decay);
            nb_axpy_(e->shadow[i], 1 - e->decay, ps[i].t);
        }
    }
}

void nb_ema_swap_in(nb_ema *e) {
    if (!e || e->swapped) return;
    int n;
    const nb_named_tensor *ps = params_of(e->m, &n);
    if (!ps) return;
    NB_NO_GRAD {
        for (int i = 0; i < n && i < e->n; i++) {
            nb_copy_(e->backup[i], ps[i].t);
            nb_copy_(ps[i].t, e->shadow[i]);
        }
    }
    e->swapped = true;
}

void nb_ema_swap_out(nb_ema *e) {
    if (!e || !e->swapped) return;
    int n;
    const nb_named_tensor *ps = params_of(e->m, &n);
    if (!ps) return;
    NB_NO_GRAD {
        for (int i = 0; i < n && i < e->n; i++) nb_copy_(ps[i].t, e->backup[i]);
    }
    e->swapped = false;
}

nb_tensor *nb_ema_shadow(nb_ema *e, int i) { return e && i >= 0 && i < e->n ? e->shadow[i] : NULL; }

void nb_ema_free(nb_ema *e) {
    if (!e) return;
    for (int i = 0; i < e->n; i++) {
        if (e->shadow) nb_tensor_free(e->shadow[i]);
        if (e->backup) nb_tensor_free(e->backup[i]);
    }
    free(e->shadow);
    free(e->backup);
    free(e);
}

bool nb_average_modules(struct nb_module *dst, struct nb_module *const *srcs, int n) {
    if (!dst || !srcs || n < 1) {
        nb_fail(NB_ERR_ARG, "average_modules", "needs a destination and at least one source");
        return false;
    }
    const int nt = nb_module_named_tensors(dst, NULL, 0);
    nb_named_tensor *d = malloc(sizeof *d * (size_t)(nt + 1)), *s = malloc(sizeof *s * (size_t)(nt + 1));
    bool ok = d && s;
    if (ok) nb_module_named_tensors(dst, d, nt);
    for (int k = 0; ok && k < n; k++) { /* same structure: names, shapes, dtypes */
        if (!srcs[k] || nb_module_named_tensors(srcs[k], s, nt) != nt) {
            nb_fail(NB_ERR_ARG, "average_modules", "source %d doesn't have the destination's %d tensors", k, nt);
            ok = false;
            break;
        }
        for (int i = 0; i < nt; i++) {
            if (strcmp(d[i].name, s[i].name) || !nb_shape_eq(d[i].t->shape, s[i].t->shape) ||
                d[i].t->dtype != s[i].t->dtype) {
                char a[NB_DESCRIBE_LEN], b[NB_DESCRIBE_LEN];
                nb_fail(NB_ERR_SHAPE, "average_modules", "source %d: '%s' doesn't match '%s': %s, %s", k, s[i].name,
                        d[i].name, nb_describe(s[i].t, "source", a, sizeof a),
                        nb_describe(d[i].t, "destination", b, sizeof b));
                ok = false;
                break;
            }
        }
    }
    if (ok) {
        for (int i = 0; i < nt; i++) {
            nb_module_named_tensors(srcs[0], s, nt);
            if (d[i].t->dtype == NB_I64) { /* counters: the first source's */
                if (d[i].t != s[i].t) memcpy(d[i].t->data, s[i].t->data, (size_t)d[i].t->numel * sizeof(int64_t));
                nb_bump_version(d[i].t);
                continue;
            }
            NB_NO_GRAD {
                nb_tensor *acc = nb_zeros_persistent(d[i].t->dtype, d[i].t->shape); /* dst may be one of the sources */
                for (int k = 0; k < n; k++) {
                    nb_module_named_tensors(srcs[k], s, nt);
                    nb_add_(acc, s[i].t);
                }
                nb_scale_(acc, 1.0 / n);
                nb_copy_(d[i].t, acc);
                nb_tensor_free(acc);
            }
        }
    }
    free(d);
    free(s);
    return ok;
}
