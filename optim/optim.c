/* optim/optim.c — the optimizer object: options and their checks, state
 * allocation, the step loop (no-grad, its own scope), named state. The update
 * rules are in sgd.c, adagrad.c, rmsprop.c, adadelta.c and adam.c. */
#include "optim_internal.h"

#include <stdlib.h>

nb_optim_opts nb_optim_defaults(nb_optim_kind kind) {
    nb_optim_opts o = {.kind = kind, .beta1 = 0.9, .beta2 = 0.999, .alpha = 0.99, .rho = 0.9};
    switch (kind) {
    case NB_OPTIM_SGD: o.lr = 1e-3, o.fused = true; break;
    case NB_OPTIM_ADAGRAD: o.lr = 1e-2, o.eps = 1e-10; break;
    case NB_OPTIM_RMSPROP: o.lr = 1e-2, o.eps = 1e-8; break;
    case NB_OPTIM_ADADELTA: o.lr = 1.0, o.eps = 1e-6; break;
    case NB_OPTIM_ADAM: o.lr = 1e-3, o.eps = 1e-8, o.fused = true; break;
    case NB_OPTIM_ADAMW: o.lr = 1e-3, o.eps = 1e-8, o.weight_decay = 1e-2, o.fused = true; break;
    }
    return o;
}

static const char *kind_name(nb_optim_kind k) {
    static const char *names[] = {"SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"};
    return (unsigned)k < 6 ? names[k] : "optim";
}

static bool check_opts(const nb_optim_opts *o) {
    const char *op = kind_name(o->kind);
#define NEED(cond, ...)                       \
    if (!(cond)) {                            \
        nb_fail(NB_ERR_ARG, op, __VA_ARGS__); \
        return false;                         \
    }
    NEED((unsigned)o->kind <= NB_OPTIM_ADAMW, "unknown optimizer kind %d", (int)o->kind);
    NEED(o->lr >= 0, "lr must be >= 0, got %g", o->lr);
    NEED(o->weight_decay >= 0, "weight_decay must be >= 0, got %g", o->weight_decay);
    NEED(o->eps >= 0, "eps must be >= 0, got %g", o->eps);
    NEED(o->momentum >= 0, "momentum must be >= 0, got %g", o->momentum);
    NEED(!o->nesterov || (o->momentum > 0 && o->dampening == 0),
         "nesterov needs momentum > 0 and dampening 0 (got %g, %g)", o->momentum, o->dampening);
    NEED(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1, "betas must be in [0, 1), got (%g, %g)",
         o->beta1, o->beta2);
    NEED(o->alpha >= 0, "alpha must be >= 0, got %g", o->alpha);
    NEED(o->rho >= 0 && o->rho <= 1, "rho must be in [0, 1], got %g", o->rho);
    NEED(o->lr_decay >= 0 && o->initial_accumulator_value >= 0,
         "lr_decay and initial_accumulator_value must be >= 0, got %g, %g", o->lr_decay, o->initial_accumulator_value);
#undef NEED
    return true;
}

void nb_optim_free(nb_optim *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n; i++) {
        free(opt->ps[i].name);
        for (int k = 0; k < NB_OPT_MAX_STATE; k++) nb_tensor_free(opt->ps[i].state[k]);
        nb_tensor_free(opt->ps[i].step);
    }
    free(opt->ps);
    free(opt->gopts);
    free(opt->base_lr);
    free(opt->named);
    free(opt->named_buf);
    free(opt);
}

nb_optim *nb_optim_new(const nb_optim_opts *o, const nb_named_tensor *params, int n) {
    if (!o || (n > 0 && !params) || n < 0) {
        nb_fail(NB_ERR_ARG, "optim_new", "options or parameter list missing");
        return NULL;
    }
    if (!check_opts(o)) return NULL;
    const char *op = kind_name(o->kind);
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = params[i].t;
        if (!t) return NULL; /* an earlier error */
        if (!nb__alive(op, "parameter", i, t)) return NULL;
        if (t->dtype == NB_I64 || !t->requires_grad || t->node) {
            const char *nm = params[i].name && params[i].name[0] ? params[i].name : t->name;
            nb_fail(NB_ERR_ARG, op, "parameter %d%s%s%s must be a float leaf tensor that requires grad", i,
                    nm[0] ? " '" : "", nm, nm[0] ? "'" : "");
            return NULL;
        }
        if (t->scope) {
            nb_fail(NB_ERR_SCOPE, op, "parameter %d '%s' lives in a scope; parameters must be persistent", i,
                    params[i].name ? params[i].name : "");
            return NULL;
        }
        for (int j = 0; j < i; j++) /* one tensor listed twice would be stepped twice */
            if (params[j].t == t) {
                nb_fail(NB_ERR_ARG, op, "parameter %d '%s' is parameter %d '%s' again (a tied weight is listed once)",
                        i, params[i].name ? params[i].name : "", j, params[j].name ? params[j].name : "");
                return NULL;
            }
    }
    nb_optim *opt = calloc(1, sizeof *opt);
    if (!opt || !(opt->ps = calloc((size_t)n + 1, sizeof *opt->ps))) {
        free(opt);
        nb_fail(NB_ERR_NOMEM, op, "out of memory");
        return NULL;
    }
    opt->o = *o;
    opt->n = n;
    const char **sn = opt->state_names;
    switch (o->kind) {
    case NB_OPTIM_SGD:
        opt->update = nb__sgd_update;
        if (o->momentum > 0) sn[0] = "momentum_buffer";
        break;
    case NB_OPTIM_ADAGRAD: opt->update = nb__adagrad_update, sn[0] = "sum"; break;
    case NB_OPTIM_RMSPROP:
        opt->update = nb__rmsprop_update, sn[0] = "square_avg";
        if (o->momentum > 0) sn[1] = "momentum_buffer";
        if (o->centered) sn[2] = "grad_avg";
        break;
    case NB_OPTIM_ADADELTA: opt->update = nb__adadelta_update, sn[0] = "square_avg", sn[1] = "acc_delta"; break;
    case NB_OPTIM_ADAM:
    case NB_OPTIM_ADAMW:
        opt->update = nb__adam_update, sn[0] = "exp_avg", sn[1] = "exp_avg_sq";
        if (o->amsgrad) sn[2] = "max_exp_avg_sq";
        break;
    }
    for (int i = 0; i < n; i++) {
        nb__opt_param *p = &opt->ps[i];
        char nm[24];
        const char *name = params[i].name;
        if (!name) snprintf(nm, sizeof nm, "%d", i), name = nm;
        p->name = malloc(strlen(name) + 1);
        if (p->name) strcpy(p->name, name);
        p->p = params[i].t;
        p->step = nb_zeros_persistent(NB_F64, NB_SCALAR);
        bool ok = p->name && p->step;
        for (int k = 0; k < NB_OPT_MAX_STATE; k++) {
            if (!sn[k]) continue;
            p->state[k] = nb_zeros_persistent(p->p->dtype, p->p->shape);
            ok = ok && p->state[k];
        }
        if (!ok) {
            nb_optim_free(opt);
            nb_fail(NB_ERR_NOMEM, op, "out of memory for optimizer state");
            return NULL;
        }
        if (o->kind == NB_OPTIM_ADAGRAD && o->initial_accumulator_value != 0) {
            NB_NO_GRAD { nb_fill_(p->state[0], o->initial_accumulator_value); }
        }
    }
    return opt;
}

nb_optim *nb_optim_new_module(const nb_optim_opts *o, struct nb_module *m) {
    if (!m) {
        nb_fail(NB_ERR_ARG, "optim_new", "module is NULL");
        return NULL;
    }
    int n = nb_module_num_parameters(m);
    nb_named_tensor *ps = malloc(sizeof *ps * (size_t)(n + 1));
    if (!ps) return NULL;
    nb_module_parameters(m, ps, n);
    nb_optim *opt = nb_optim_new(o, ps, n);
    free(ps);
    return opt;
}

nb_optim *nb_optim_new_tensors(const nb_optim_opts *o, nb_tensor *const *ts, int n) {
    nb_named_tensor *ps = malloc(sizeof *ps * (size_t)(n + 1));
    if (!ps || n < 0 || (n > 0 && !ts)) {
        free(ps);
        nb_fail(NB_ERR_ARG, "optim_new", "bad tensor list");
        return NULL;
    }
    for (int i = 0; i < n; i++) ps[i] = (nb_named_tensor){NULL, ts[i]};
    nb_optim *opt = nb_optim_new(o, ps, n);
    free(ps);
    return opt;
}

static nb_optim *short_form(nb_optim_kind k, struct nb_module *m, double lr, double momentum, double wd, bool set_wd) {
    nb_optim_opts o = nb_optim_defaults(k);
    o.lr = lr;
    o.momentum = momentum;
    if (set_wd) o.weight_decay = wd;
    return nb_optim_new_module(&o, m);
}
nb_optim *nb_optim_sgd(struct nb_module *m, double lr, double momentum) {
    return short_form(NB_OPTIM_SGD, m, lr, momentum, 0, false);
}
nb_optim *nb_optim_adagrad(struct nb_module *m, double lr) { return short_form(NB_OPTIM_ADAGRAD, m, lr, 0, 0, false); }
nb_optim *nb_optim_rmsprop(struct nb_module *m, double lr) { return short_form(NB_OPTIM_RMSPROP, m, lr, 0, 0, false); }
nb_optim *nb_optim_adadelta(struct nb_module *m, double lr) {
    return short_form(NB_OPTIM_ADADELTA, m, lr, 0, 0, false);
}
nb_optim *nb_optim_adam(struct nb_module *m, double lr) { return short_form(NB_OPTIM_ADAM, m, lr, 0, 0, false); }
nb_optim *nb_optim_adamw(struct nb_module *m, double lr, double weight_decay) {
    return short_form(NB_OPTIM_ADAMW, m, lr, 0, weight_decay, true);
}

nb_tensor *nb__with_weight_decay(nb_tensor *g, nb_tensor *p, double wd) {
    if (wd == 0) return g;
    return nb_axpy_(nb_copy(g), wd, p); /* g + λθ, leaving p.grad as it is */
}

nb_status nb_optim_step(nb_optim *opt) {
    if (!opt) {
        nb_fail(NB_ERR_ARG, "optim_step", "optimizer is NULL");
        return NB_ERR_ARG;
    }
    /* An error still pending (recover mode, not cleared): the gradients may
     * come from the failed computation, so no parameter is touched. */
    const nb_status before = nb_error();
    if (before != NB_OK) return before;
    for (int i = 0; i < opt->n; i++) /* a parameter freed under the optimizer */
        if (!nb__alive("optim_step", "parameter", i, opt->ps[i].p)) return NB_ERR_SCOPE;
    nb_scope *s = nb_scope_begin(); /* this step's temporaries */
    nb_no_grad_begin();
    if (!nb__adam_step_all(opt, s)) /* else every parameter in one parallel region */
        for (int i = 0; i < opt->n; i++) {
            nb__opt_param *p = &opt->ps[i];
            if (!p->p->grad) continue; /* no gradient reached it: torch skips it too */
            double *t = nb_f64(p->step);
            *t += 1;
            opt->update(opt->gopts ? &opt->gopts[p->group] : &opt->o, p, p->p->grad, *t);
        }
    nb_no_grad_end();
    nb_scope_end(&s);
    opt->steps++;
    return nb_error();
}

void nb_optim_zero_grad(nb_optim *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n; i++) nb_tensor_zero_grad(opt->ps[i].p);
}

void nb_optim_set_lr(nb_optim *opt, double lr) {
    if (!opt) return;
    opt->o.lr = lr;
    for (int g = 0; g < opt->ngroups; g++) /* group 0 gets lr, the others keep their ratio to it */
        opt->gopts[g].lr = opt->base_lr[0] > 0 ? lr * (opt->base_lr[g] / opt->base_lr[0]) : lr;
}
double nb_optim_get_lr(const nb_optim *opt) { return opt ? opt->o.lr : 0; }
const nb_optim_opts *nb_optim_get_opts(const nb_optim *opt) { return opt ? &opt->o : NULL; }
int64_t nb_optim_step_count(const nb_optim *opt) { return opt ? opt->steps : 0; }
void nb_optim_set_step_count(nb_optim *opt, int64_t steps) {
    if (opt) opt->steps = steps;
}

int nb_optim_named_state(nb_optim *opt, nb_named_tensor *out, int max) {
    if (!opt) return 0;
    if (!opt->named) {
        int cnt = 0;
        size_t chars = 0;
        for (int i = 0; i < opt->n; i++) {
            for (int k = 0; k < NB_OPT_MAX_STATE; k++)
                if (opt->ps[i].state[k]) cnt++, chars += strlen(opt->ps[i].name) + strlen(opt->state_names[k]) + 2;
            cnt++, chars += strlen(opt->ps[i].name) + 6;
        }
        opt->named = calloc((size_t)cnt + 1, sizeof *opt->named);
        opt->named_buf = malloc(chars + 1);
        if (!opt->named || !opt->named_buf) {
            free(opt->named), free(opt->named_buf);
            opt->named = NULL, opt->named_buf = NULL;
            nb_fail(NB_ERR_NOMEM, "optim_named_state", "out of memory");
            return 0;
        }
        char *w = opt->named_buf;
        int j = 0;
        for (int i = 0; i < opt->n; i++) {
            for (int k = 0; k <= NB_OPT_MAX_STATE; k++) {
                nb_tensor *t = k < NB_OPT_MAX_STATE ? opt->ps[i].state[k] : opt->ps[i].step;
                if (!t) continue;
                int len = sprintf(w, "%s.%s", opt->ps[i].name, k < NB_OPT_MAX_STATE ? opt->state_names[k] : "step");
                opt->named[j++] = (nb_named_tensor){w, t};
                w += len + 1;
            }
        }
        opt->nnamed = j;
    }
    for (int i = 0; i < opt->nnamed && i < max && out; i++) out[i] = opt->named[i];
    return opt->nnamed;
}

/* ------------------------------------------------------------ parameter groups */

nb_optim *nb_optim_new_groups(const nb_optim_opts *o, const nb_optim_group *groups, int ngroups) {
    if (!o || !groups || ngroups < 1) {
        nb_fail(NB_ERR_ARG, "optim_new_groups", "options or groups missing (ngroups %d)", ngroups);
        return NULL;
    }
    if (!check_opts(o)) return NULL;
    nb_optim_opts *go = calloc((size_t)ngroups, sizeof *go);
    double *base = calloc((size_t)ngroups, sizeof *base);
    int n = 0;
    for (int g = 0; g < ngroups; g++) n += groups[g].n > 0 ? groups[g].n : 0;
    nb_named_tensor *all = malloc(sizeof *all * (size_t)(n + 1));
    int *gid = malloc(sizeof *gid * (size_t)(n + 1));
    if (!go || !base || !all || !gid) {
        free(go), free(base), free(all), free(gid);
        nb_fail(NB_ERR_NOMEM, "optim_new_groups", "out of memory");
        return NULL;
    }
    int k = 0;
    bool ok = true;
    for (int g = 0; g < ngroups && ok; g++) {
        go[g] = *o;
        if (groups[g].lr >= 0) go[g].lr = groups[g].lr;
        if (groups[g].weight_decay >= 0) go[g].weight_decay = groups[g].weight_decay;
        if (groups[g].n < 0 || (groups[g].n > 0 && !groups[g].params)) {
            nb_fail(NB_ERR_ARG, kind_name(o->kind), "group %d: bad parameter list (n %d)", g, groups[g].n);
            ok = false;
        }
        ok = ok && check_opts(&go[g]);
        base[g] = go[g].lr;
        for (int i = 0; ok && i < groups[g].n; i++) gid[k] = g, all[k++] = groups[g].params[i];
    }
    nb_optim *opt = ok ? nb_optim_new(&go[0], all, n) : NULL; /* checks every tensor, no duplicates */
    if (opt) {
        for (int i = 0; i < n; i++) opt->ps[i].group = gid[i];
        opt->gopts = go, opt->base_lr = base, opt->ngroups = ngroups;
    } else {
        free(go), free(base);
    }
    free(all), free(gid);
    return opt;
}

nb_optim *nb_optim_new_module_decay(const nb_optim_opts *o, struct nb_module *m) {
    if (!m || !o) {
        nb_fail(NB_ERR_ARG, "optim_new_module_decay", "module or options are NULL");
        return NULL;
    }
    int n = nb_module_num_parameters(m);
    nb_named_tensor *ps = malloc(sizeof *ps * (size_t)(2 * n + 2));
    if (!ps) {
        nb_fail(NB_ERR_NOMEM, "optim_new_module_decay", "out of memory");
        return NULL;
    }
    nb_named_tensor *decay = ps + n + 1; /* ndim >= 2 first, the rest after, each in module order */
    nb_module_parameters(m, ps, n);
    int nd = 0, nn = 0;
    for (int i = 0; i < n; i++)
        if (ps[i].t->shape.ndim >= 2) decay[nd++] = ps[i];
    for (int i = 0; i < n; i++)
        if (ps[i].t->shape.ndim < 2) decay[nd + nn++] = ps[i];
    nb_optim_group g[2] = {{decay, nd, -1, -1}, {decay + nd, nn, -1, 0}};
    nb_optim *opt = nb_optim_new_groups(o, g, 2);
    free(ps);
    return opt;
}

int nb_optim_num_groups(const nb_optim *opt) { return !opt ? 0 : opt->ngroups ? opt->ngroups : 1; }

const nb_optim_opts *nb_optim_get_group_opts(const nb_optim *opt, int g) {
    if (!opt || g < 0 || g >= nb_optim_num_groups(opt)) return NULL;
    return opt->gopts ? &opt->gopts[g] : &opt->o;
}

void nb_optim_set_group_lr(nb_optim *opt, int g, double lr) {
    if (!opt || g < 0 || g >= nb_optim_num_groups(opt)) {
        nb_fail(NB_ERR_ARG, "optim_set_group_lr", "no group %d (the optimizer has %d)", g, nb_optim_num_groups(opt));
        return;
    }
    if (!opt->gopts) {
        opt->o.lr = lr;
        return;
    }
    opt->gopts[g].lr = lr;
    if (g == 0) opt->o.lr = lr;
}

int nb_optim_group_of(const nb_optim *opt, const nb_tensor *param) {
    if (!opt) return -1;
    for (int i = 0; i < opt->n; i++)
        if (opt->ps[i].p == param) return opt->ps[i].group;
    return -1;
}
