/* autograd/gradcheck.c — analytic vs numerical gradients, in F64; then the
 * same function in F32 against F64 (f32_check).
 *
 * The rules are PyTorch's gradcheck (central differences, |a-n| <= atol +
 * rtol|n|, eps 1e-6, atol 1e-5, rtol 1e-3, reentrancy and zero-upstream
 * checks, a fast projected mode falling back to the full Jacobian), plus:
 * the worst element per input with its relative error |a-n|/max(|a|,|n|);
 * inputs that require no grad must get none; a second backward must
 * accumulate; and kink crossings are flagged instead of failed: where the
 * one-sided differences (f(x+h)-f(x))/h and (f(x)-f(x-h))/h disagree by more
 * than curvature explains, a max/relu/abs changed branch between x-h and x+h.
 *
 * Every evaluation of fn runs in its own scope and starts from the same RNG
 * state, so an op that draws random numbers (dropout) sees the same draws in
 * f(x+h), f(x-h) and the analytic pass. */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

NB_TLS bool nb__f32_trial;

nb_gradcheck_opts nb_gradcheck_defaults(void) {
    return (nb_gradcheck_opts){.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .seed = 0x5eed, .f32_tol = 1e-3};
}

typedef struct {
    nb_fn fn;
    void *ctx;
    int nin;
    nb_tensor **x;    /* persistent F64 copies of the inputs */
    int64_t *off;     /* offset of input i in the flat parameter vector (-1: fixed) */
    int64_t P, m;     /* parameters, output elements */
    nb_rng_state rng; /* every fn call starts from this state */
    uint64_t local;   /* the checker's own generator (u, v) */
    const char *op;
    nb_shape out_shape;
    bool failed_eval;
    bool *stray;    /* input i got a gradient although it requires none */
    bool misplaced; /* a backward set some .grad itself, in a scope */
} gc;

static double local_uniform(gc *g) { /* splitmix64 */
    uint64_t z = (g->local += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static nb_tensor *call(gc *g) {
    nb_rng_set(g->rng);
    nb_tensor *out = g->fn(g->x, g->nin, g->ctx);
    if (!out) {
        g->failed_eval = true;
        return NULL;
    }
    if (!g->op) g->op = out->node ? out->node->op->name : "fn";
    return out;
}

/* f(x) as m doubles into f; false if fn failed or the output changed shape. */
static bool eval(gc *g, double *f) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *out = call(g);
    bool ok = out && nb_shape_eq(out->shape, g->out_shape);
    if (ok)
        for (int64_t j = 0; j < g->m; j++) f[j] = nb_get(out, j);
    nb_scope_end(&s);
    return ok;
}

static void clear_grads(gc *g) {
    for (int i = 0; i < g->nin; i++) nb_tensor_zero_grad(g->x[i]);
}

/* Input gradients for upstream seed v (m values) into grad (P values);
 * times = 2 runs backward twice on the same graph. */
static bool analytic(gc *g, const double *v, double *grad, int times) {
    nb_scope *s = nb_scope_begin();
    clear_grads(g);
    nb_tensor *out = call(g);
    bool ok = out != NULL;
    if (ok && out->requires_grad) {
        nb_tensor *seed = nb_empty(out->dtype, out->shape);
        for (int64_t j = 0; j < g->m; j++) nb_set(seed, j, v[j]);
        for (int t = 0; t < times && ok; t++) ok = nb_backward_with(out, seed) == NB_OK;
    }

    for (int i = 0; ok && i < g->nin; i++) {
        if (g->off[i] < 0) continue;
        for (int64_t k = 0; k < g->x[i]->numel; k++)
            grad[g->off[i] + k] = g->x[i]->grad ? nb_f64(g->x[i]->grad)[k] : 0.0;
    }
    /* A backward that made an input's .grad itself instead of asking
     * nb_grad_buf: for an input requiring no grad (stray), or in this scope,
     * which is about to end (misplaced). Note it and drop the tensor, so that
     * no dangling .grad is left behind. */
    for (int i = 0; i < g->nin; i++) {
        nb_tensor *xi = g->x[i];
        if (!xi || !xi->grad) continue;
        bool stray = !xi->requires_grad, misplaced = xi->grad->scope != xi->scope;
        if (!stray && !misplaced) continue;
        if (stray) g->stray[i] = true;
        if (misplaced) g->misplaced = true;
        if (!xi->grad->scope) nb_tensor_free(xi->grad);
        xi->grad = NULL;
    }
    nb_scope_end(&s);
    return ok;
}

static void param_add(gc *g, int64_t p, double delta) {
    for (int i = 0; i < g->nin; i++)
        if (g->off[i] >= 0 && p >= g->off[i] && p < g->off[i] + g->x[i]->numel) {
            nb_f64(g->x[i])[p - g->off[i]] += delta;
            return;
        }
}

static double *param_ptr(gc *g, int64_t p) {
    for (int i = 0; i < g->nin; i++)
        if (g->off[i] >= 0 && p >= g->off[i] && p < g->off[i] + g->x[i]->numel) return &nb_f64(g->x[i])[p - g->off[i]];
    return NULL;
}

static int input_of(gc *g, int64_t p) {
    for (int i = 0; i < g->nin; i++)
        if (g->off[i] >= 0 && p >= g->off[i] && p < g->off[i] + g->x[i]->numel) return i;
    return -1;
}

static void appendf(nb_gradcheck_report *r, const char *fmt, ...) NB_PRINTF(2, 3);
static void appendf(nb_gradcheck_report *r, const char *fmt, ...) {
    size_t k = strlen(r->message);
    if (k + 1 >= sizeof r->message) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message + k, sizeof r->message - k, fmt, ap);
    va_end(ap);
}

static bool close_enough(double a, double n, double atol, double rtol) {
    return fabs(a - n) <= atol + rtol * fabs(n); /* false for NaN */
}

/* Full Jacobian comparison: numeric columns, analytic rows. */
/* "(1,2)" for flat element k of shape s ("()" for a 0-d tensor). */
static char *multi_index(nb_shape s, int64_t k, int64_t *pos, char *buf, size_t size) {
    int64_t at_[NB_MAX_DIMS] = {0};
    for (int d = s.ndim - 1; d >= 0; d--) {
        const int64_t n = s.d[d] > 0 ? s.d[d] : 1;
        at_[d] = k % n;
        k /= n;
    }
    if (pos) memcpy(pos, at_, sizeof at_);
    size_t at = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < s.ndim && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, d ? ",%lld" : "%lld", (long long)at_[d]);
    if (at < size) snprintf(buf + at, size - at, ")");
    return buf;
}

/* " 'W'" for a named input, "" otherwise */
static const char *quoted_name(const nb_tensor *t, char *buf, size_t size) {
    if (t->name[0]) snprintf(buf, size, " '%s'", t->name);
    else buf[0] = '\0';
    return buf;
}

static void full_check(gc *g, const nb_gradcheck_opts *o, nb_gradcheck_report *r, const double *f0) {
    const int64_t m = g->m, P = g->P;
    double *Ja = nb__calloc((size_t)(m * P) * sizeof(double) + 1);
    double *Jn = nb__calloc((size_t)(m * P) * sizeof(double) + 1);
    unsigned char *kink = nb__calloc((size_t)(m * P) + 1);
    double *fp = nb__malloc((size_t)m * sizeof(double) + 1), *fm = nb__malloc((size_t)m * sizeof(double) + 1);
    double *e = nb__calloc((size_t)m * sizeof(double) + 1), *row = nb__malloc((size_t)P * sizeof(double) + 1);
    for (int64_t j = 0; j < m && !g->failed_eval; j++) {
        e[j] = 1;
        if (!analytic(g, e, row, 1)) break;
        e[j] = 0;
        memcpy(Ja + j * P, row, (size_t)P * sizeof(double));
    }
    for (int64_t p = 0; p < P && !g->failed_eval; p++) {
        double *xp = param_ptr(g, p), x0 = *xp;
        double h = o->eps * (o->scale_eps ? fmax(1.0, fabs(x0)) : 1.0);
        *xp = x0 + h;
        double hp = *xp - x0; /* the step actually taken */
        bool ok = eval(g, fp);
        *xp = x0 - h;
        double hm = x0 - *xp;
        ok = ok && eval(g, fm);
        *xp = x0;
        if (!ok) break;
        for (int64_t j = 0; j < m; j++) {
            double num = (fp[j] - fm[j]) / (hp + hm);
            double right = (fp[j] - f0[j]) / hp, left = (f0[j] - fm[j]) / hm;
            Jn[j * P + p] = num;
            /* One-sided slopes of a smooth f differ by about h·|f''|; a kink
             * makes them differ by the jump in slope, which is O(1). */
            kink[j * P + p] = fabs(right - left) > 1e-3 * fmax(1.0, fmax(fabs(right), fabs(left)));
        }
    }
    /* worst per input, and overall */
    double worst_ratio = -1;
    for (int i = 0; i < g->nin; i++) {
        if (g->off[i] < 0) continue;
        double wr = -1, wa = 0, wn = 0;
        int64_t wk = -1, wj = -1, bad = 0, kinks = 0;
        for (int64_t k = 0; k < g->x[i]->numel; k++) {
            int64_t p = g->off[i] + k;
            for (int64_t j = 0; j < m; j++) {
                double a = Ja[j * P + p], n = Jn[j * P + p];
                double tol = o->atol + o->rtol * fabs(n), diff = fabs(a - n);
                double ratio = isnan(diff) ? INFINITY : diff / tol;
                bool fail = !close_enough(a, n, o->atol, o->rtol);
                if (fail && kink[j * P + p]) {
                    kinks++;
                    continue;
                }
                if (fail) bad++;
                if (ratio > wr) {
                    wr = ratio;
                    wa = a;
                    wn = n;
                    wk = k;
                    wj = j;
                }
            }
        }
        r->mismatches += bad;
        r->kinks += kinks;
        char sh[NB_SHAPE_STRLEN], ik[NB_SHAPE_STRLEN], ok_[NB_SHAPE_STRLEN], nm[NB_NAME_MAX + 4];
        double rel = fmax(fabs(wa), fabs(wn)) > 0 ? fabs(wa - wn) / fmax(fabs(wa), fabs(wn)) : 0;
        if (wk >= 0)
            appendf(r,
                    "  input %d%s %s: %s; worst element %s (output element %s): analytic %.10g, numerical %.10g, "
                    "abs err %.3g, rel err %.3g%s\n",
                    i, quoted_name(g->x[i], nm, sizeof nm), nb_shape_str(g->x[i]->shape, sh, sizeof sh),
                    bad ? "MISMATCH" : "ok", multi_index(g->x[i]->shape, wk, NULL, ik, sizeof ik),
                    multi_index(g->out_shape, wj, NULL, ok_, sizeof ok_), wa, wn, fabs(wa - wn), rel,
                    kinks ? " (kinks skipped)" : "");
        if (bad)
            appendf(r, "    %lld of %lld elements outside tolerance\n", (long long)bad,
                    (long long)(m * g->x[i]->numel));
        if (wr > worst_ratio && wk >= 0) {
            worst_ratio = wr;
            r->worst_input = i;
            r->worst_in_index = wk;
            r->worst_out_index = wj;
            r->worst_in_ndim = g->x[i]->shape.ndim;
            multi_index(g->x[i]->shape, wk, r->worst_in_pos, sh, sizeof sh);
            memcpy(r->worst_input_name, g->x[i]->name, sizeof r->worst_input_name);
            r->analytic = wa;
            r->numeric = wn;
            r->abs_err = fabs(wa - wn);
            r->rel_err = rel;
        }
    }
    if (r->kinks)
        appendf(r, "  %lld element(s) at kinks (a max/relu/abs branch changes within ±eps): flagged, not failed\n",
                (long long)r->kinks);
    nb__free(Ja);
    nb__free(Jn);
    nb__free(kink);
    nb__free(fp);
    nb__free(fm);
    nb__free(e);
    nb__free(row);
}

/* Projected check vᵀJu: one backward, two evaluations. */
static bool fast_check(gc *g, const nb_gradcheck_opts *o, nb_gradcheck_report *r) {
    const int64_t m = g->m, P = g->P;
    double *u = nb__malloc((size_t)P * sizeof(double) + 1), *v = nb__malloc((size_t)m * sizeof(double) + 1);
    double *grad = nb__malloc((size_t)P * sizeof(double) + 1);
    double *fp = nb__malloc((size_t)m * sizeof(double) + 1), *fm = nb__malloc((size_t)m * sizeof(double) + 1);
    double nu = 0, nv = 0;
    for (int64_t p = 0; p < P; p++) {
        u[p] = local_uniform(g) - 0.5;
        nu += u[p] * u[p];
    }
    for (int64_t j = 0; j < m; j++) {
        v[j] = local_uniform(g) - 0.5;
        nv += v[j] * v[j];
    }
    for (int64_t p = 0; p < P; p++) u[p] /= sqrt(nu);
    for (int64_t j = 0; j < m; j++) v[j] /= sqrt(nv);
    bool ok = analytic(g, v, grad, 1);
    double a = 0, n = 0;
    for (int64_t p = 0; p < P; p++) a += grad[p] * u[p];
    for (int64_t p = 0; p < P; p++) param_add(g, p, o->eps * u[p]);
    ok = ok && eval(g, fp);
    for (int64_t p = 0; p < P; p++) param_add(g, p, -2 * o->eps * u[p]);
    ok = ok && eval(g, fm);
    for (int64_t p = 0; p < P; p++) param_add(g, p, o->eps * u[p]);
    for (int64_t j = 0; ok && j < m; j++) n += v[j] * (fp[j] - fm[j]) / (2 * o->eps);
    bool pass = ok && close_enough(a, n, o->atol, o->rtol);
    if (!pass)
        appendf(r, "  fast mode: vᵀJu analytic %.10g vs numerical %.10g: falling back to the full Jacobian\n", a, n);
    /* passed: each input's own projection vᵀJ_i u_i (two evaluations per
     * input) names the worst input and fills the report's worst fields */
    double worst_ratio = -1;
    for (int i = 0; pass && i < g->nin; i++) {
        if (g->off[i] < 0) continue;
        const int64_t lo = g->off[i], hi = lo + g->x[i]->numel;
        double ai = 0, ni = 0;
        for (int64_t p = lo; p < hi; p++) ai += grad[p] * u[p];
        for (int64_t p = lo; p < hi; p++) param_add(g, p, o->eps * u[p]);
        bool oki = eval(g, fp);
        for (int64_t p = lo; p < hi; p++) param_add(g, p, -2 * o->eps * u[p]);
        oki = oki && eval(g, fm);
        for (int64_t p = lo; p < hi; p++) param_add(g, p, o->eps * u[p]);
        for (int64_t j = 0; oki && j < m; j++) ni += v[j] * (fp[j] - fm[j]) / (2 * o->eps);
        const double diff = fabs(ai - ni), ratio = oki ? diff / (o->atol + o->rtol * fabs(ni)) : INFINITY;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            r->worst_input = i;
            r->worst_in_index = -1;
            r->worst_out_index = -1;
            r->worst_in_ndim = 0;
            memcpy(r->worst_input_name, g->x[i]->name, sizeof r->worst_input_name);
            r->analytic = ai;
            r->numeric = ni;
            r->abs_err = diff;
            r->rel_err = fmax(fabs(ai), fabs(ni)) > 0 ? diff / fmax(fabs(ai), fabs(ni)) : 0;
        }
    }
    if (pass && r->worst_input >= 0) {
        char nm[NB_NAME_MAX + 4];
        appendf(r,
                "  fast mode: worst input %d%s, its projection vᵀJu: analytic %.10g, numerical %.10g, rel err %.3g\n",
                r->worst_input, quoted_name(g->x[r->worst_input], nm, sizeof nm), r->analytic, r->numeric, r->rel_err);
    }
    nb__free(u);
    nb__free(v);
    nb__free(grad);
    nb__free(fp);
    nb__free(fm);
    return pass;
}

/* reentrancy, zero upstream, no grad for fixed inputs, accumulation */
static void extra_checks(gc *g, nb_gradcheck_report *r) {
    const int64_t m = g->m, P = g->P;
    double *v = nb__malloc((size_t)m * sizeof(double) + 1), *zero = nb__calloc((size_t)m * sizeof(double) + 1);
    double *g1 = nb__malloc((size_t)P * sizeof(double) + 1), *g2 = nb__malloc((size_t)P * sizeof(double) + 1);
    for (int64_t j = 0; j < m; j++) v[j] = 2 * local_uniform(g) - 1;
    bool ok1 = analytic(g, v, g1, 1), ok2 = analytic(g, v, g2, 1);
    r->reentrant_ok = ok1 && ok2 && memcmp(g1, g2, (size_t)P * sizeof(double)) == 0;
    if (!r->reentrant_ok)
        appendf(r, "  backward is not reentrant: two runs with the same input and upstream gradient differ\n");

    r->zero_grad_ok = analytic(g, zero, g2, 1);
    for (int64_t p = 0; r->zero_grad_ok && p < P; p++)
        if (g2[p] != 0) {
            r->zero_grad_ok = false;
            appendf(r,
                    "  a zero upstream gradient gives a non-zero gradient (%.6g) at input %d: backward is not "
                    "multiplied by the upstream gradient\n",
                    g2[p], input_of(g, p));
        }

    r->accumulate_ok = analytic(g, v, g2, 2);
    for (int64_t p = 0; r->accumulate_ok && p < P; p++)
        if (fabs(g2[p] - 2 * g1[p]) > 1e-12 * (1 + fabs(g1[p]))) {
            r->accumulate_ok = false;
            appendf(r, "  a second backward does not accumulate at input %d: %.10g after two runs, %.10g after one\n",
                    input_of(g, p), g2[p], g1[p]);
        }

    r->no_grad_ok = true;
    for (int i = 0; i < g->nin && g->nin > 1; i++) {
        if (g->off[i] < 0) continue;
        nb_tensor *xi = g->x[i];
        nb_tensor_free(xi->grad);
        xi->grad = NULL;
        xi->requires_grad = false;
        bool ok = analytic(g, v, g2, 1);
        xi->requires_grad = true;
        if (!ok) continue;
        if (g->stray[i]) {
            g->stray[i] = false;
            r->no_grad_ok = false;
            appendf(r, "  input %d requires no grad but got a gradient\n", i);
        }
        for (int j = 0; j < g->nin; j++) {
            if (j == i || g->off[j] < 0) continue;
            for (int64_t k = 0; k < g->x[j]->numel; k++) {
                int64_t p = g->off[j] + k;
                if (fabs(g2[p] - g1[p]) > 1e-12 * (1 + fabs(g1[p]))) {
                    r->no_grad_ok = false;
                    appendf(r, "  input %d's gradient changes when input %d requires no grad\n", j, i);
                    break;
                }
            }
        }
    }
    for (int i = 0; i < g->nin; i++)
        if (g->off[i] < 0 && g->stray[i]) {
            r->no_grad_ok = false;
            appendf(r, "  input %d requires no grad but got a gradient\n", i);
        }
    nb__free(v);
    nb__free(zero);
    nb__free(g1);
    nb__free(g2);
}

/* |f64 - f32| / (1e-3 + |f64|); NaN on one side only is infinitely far. */
static double f32_diff(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INFINITY;
    if (isinf(a) || isinf(b)) return a == b ? 0 : INFINITY;
    return fabs(a - b) / (1e-3 + fabs(a));
}

/* The function on F32 copies of the inputs against F64: its output (f0) and
 * the input gradients for an all-ones upstream gradient. An error in the F32
 * run (an op refusing F32) is noted, not failed; it neither aborts nor
 * reaches the error handler, and the caller's error state is kept. */
static void f32_check(gc *g, const nb_gradcheck_opts *o, const double *f0, nb_gradcheck_report *r) {
    bool any_float = false;
    for (int i = 0; i < g->nin; i++) any_float |= g->x[i]->dtype == NB_F64;
    if (!any_float || g->m <= 0) return;
    const double tol = o->f32_tol > 0 ? o->f32_tol : 1e-3;
    const int64_t m = g->m, P = g->P;
    double *ones = nb__malloc((size_t)m * sizeof(double) + 1), *g64 = nb__calloc((size_t)P * sizeof(double) + 1);
    for (int64_t j = 0; j < m; j++) ones[j] = 1;
    nb_tensor **x32 = nb__calloc((size_t)(g->nin + 1) * sizeof *x32);
    if (P > 0 && !analytic(g, ones, g64, 1)) goto out; /* the F64 failure is reported already */
    nb__f32_trial = true;
    for (int i = 0; i < g->nin; i++) {
        if (g->x[i]->dtype != NB_F64) continue;
        x32[i] = nb__tensor_new(NB_F32, g->x[i]->shape, NULL, false);
        if (!x32[i]) goto out;
        for (int64_t k = 0; k < g->x[i]->numel; k++) nb_f32(x32[i])[k] = (float)nb_f64(g->x[i])[k];
        memcpy(x32[i]->name, g->x[i]->name, sizeof x32[i]->name);
        x32[i]->requires_grad = g->x[i]->requires_grad;
    }
    nb_tensor *args[NB_SAMPLE_MAX_IN * 2];
    nb_tensor **a = g->nin <= (int)(sizeof args / sizeof *args) ? args : nb__calloc((size_t)g->nin * sizeof *a);
    for (int i = 0; i < g->nin; i++) a[i] = x32[i] ? x32[i] : g->x[i];

    nb__error_saved sv;
    nb__error_quiet_begin(&sv);
    nb_scope *s = nb_scope_begin();
    nb_rng_set(g->rng);
    nb_tensor *out = g->fn(a, g->nin, g->ctx);
    char shape_a[NB_SHAPE_STRLEN] = "", shape_b[NB_SHAPE_STRLEN] = "", at_[NB_SHAPE_STRLEN] = "";
    double worst = 0, wa = 0, wb = 0;
    int worst_in = -2; /* -1: the output; i: input i's gradient */
    int64_t worst_k = -1;
    bool same_shape = out && nb_shape_eq(out->shape, g->out_shape), backward_ok = true;
    if (same_shape) {
        for (int64_t j = 0; j < m; j++) {
            double b = nb_get(out, j), d = f32_diff(f0[j], b);
            if (worst_in == -2 || d > worst) worst = d, wa = f0[j], wb = b, worst_in = -1, worst_k = j;
        }
        if (P > 0 && out->requires_grad) {
            backward_ok = nb_backward_with(out, nb_ones(out->dtype, out->shape)) == NB_OK;
            for (int i = 0; backward_ok && i < g->nin; i++) {
                if (g->off[i] < 0) continue;
                for (int64_t k = 0; k < g->x[i]->numel; k++) {
                    double ga = g64[g->off[i] + k], gb = x32[i]->grad ? nb_get(x32[i]->grad, k) : 0.0;
                    double d = f32_diff(ga, gb);
                    if (d > worst) worst = d, wa = ga, wb = gb, worst_in = i, worst_k = k;
                }
            }
        }
    } else if (out) {
        nb_shape_str(out->shape, shape_b, sizeof shape_b);
        nb_shape_str(g->out_shape, shape_a, sizeof shape_a);
    }
    nb_scope_end(&s);
    nb__f32_trial = false;
    char why[1024];
    nb__error_quiet_end(&sv, why, sizeof why);
    if (!out) {
        appendf(r, "  f32: not run: the function refuses f32 inputs (%s)\n", why[0] ? why : "it returned NULL");
    } else if (!same_shape) {
        r->f32_ran = true, r->f32_ok = false;
        appendf(r, "  f32 MISMATCH: the output is %s in f32 but %s in f64\n", shape_b, shape_a);
    } else if (!backward_ok) {
        r->f32_ran = true, r->f32_ok = false;
        appendf(r, "  f32 MISMATCH: backward failed in f32 (%s)\n", why);
    } else {
        r->f32_ran = true;
        r->f32_err = worst;
        r->f32_ok = worst <= tol;
        char nm[NB_NAME_MAX + 4];
        if (worst_in == -1) multi_index(g->out_shape, worst_k, NULL, at_, sizeof at_);
        else multi_index(g->x[worst_in]->shape, worst_k, NULL, at_, sizeof at_);
        if (r->f32_ok)
            appendf(r, "  f32 vs f64: output and gradients agree (worst |f64-f32|/(1e-3+|f64|) %.2g, tolerance %g)\n",
                    worst, tol);
        else if (worst_in == -1)
            appendf(r,
                    "  f32 MISMATCH: output element %s is %.10g in f64 but %.10g in f32 (|f64-f32|/(1e-3+|f64|) "
                    "%.3g > %g): the f32 path computes something else (an op written for f64 alone should say so "
                    "in nb_op.dtypes: NB_DTYPE_BIT(NB_F64))\n",
                    at_, wa, wb, worst, tol);
        else
            appendf(r,
                    "  f32 MISMATCH: the gradient of input %d%s at %s is %.10g in f64 but %.10g in f32 "
                    "(|f64-f32|/(1e-3+|f64|) %.3g > %g; upstream gradient all ones; an op written for f64 alone should "
                    "say so in nb_op.dtypes: NB_DTYPE_BIT(NB_F64))\n",
                    worst_in, quoted_name(g->x[worst_in], nm, sizeof nm), at_, wa, wb, worst, tol);
    }
    if (a != args) nb__free(a);
out:
    nb__f32_trial = false;
    for (int i = 0; i < g->nin; i++) nb_tensor_free(x32[i]);
    nb__free(x32);
    nb__free(ones);
    nb__free(g64);
}

nb_gradcheck_report nb_gradcheck(nb_fn fn, nb_tensor *const *in, int nin, void *ctx, const nb_gradcheck_opts *opts) {
    nb_gradcheck_report r = {.worst_input = -1,
                             .reentrant_ok = true,
                             .zero_grad_ok = true,
                             .no_grad_ok = true,
                             .accumulate_ok = true,
                             .f32_ok = true};
    nb_gradcheck_opts o = opts ? *opts : nb_gradcheck_defaults();
    if (o.eps <= 0) o.eps = 1e-6;
    gc g = {.fn = fn, .ctx = ctx, .nin = nin, .local = o.seed};
    if (!fn || nin < 0 || (nin > 0 && !in)) {
        snprintf(r.message, sizeof r.message, "gradcheck: no function or inputs given\n");
        return r;
    }
    g.x = nb__calloc((size_t)(nin + 1) * sizeof *g.x);
    g.off = nb__calloc((size_t)(nin + 1) * sizeof *g.off);
    g.stray = nb__calloc((size_t)(nin + 1) * sizeof *g.stray);
    bool inputs_ok = true;
    for (int i = 0; i < nin; i++) {
        if (!in[i]) {
            inputs_ok = false;
            break;
        }
        nb_dtype dt = nb__is_float(in[i]->dtype) ? NB_F64 : in[i]->dtype;
        g.x[i] = nb__tensor_new(dt, in[i]->shape, NULL, false);
        for (int64_t k = 0; k < in[i]->numel; k++) {
            if (dt == NB_F64) nb_f64(g.x[i])[k] = nb_get(in[i], k);
            else nb_i64(g.x[i])[k] = nb_i64(in[i])[k];
        }
        memcpy(g.x[i]->name, in[i]->name, sizeof g.x[i]->name);
        g.x[i]->requires_grad = in[i]->requires_grad && dt == NB_F64;
        g.off[i] = g.x[i]->requires_grad ? g.P : -1;
        if (g.x[i]->requires_grad) g.P += in[i]->numel;
    }
    nb_rng_state saved_rng = nb_rng_get();
    g.rng = saved_rng;

    double *f0 = NULL;
    if (inputs_ok) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *out = call(&g);
        if (out) {
            g.out_shape = out->shape;
            g.m = out->numel;
        }
        nb_scope_end(&s);
    }
    r.op = g.op;
    r.message[0] = '\0';
    if (!inputs_ok || g.failed_eval) {
        appendf(&r, "  the function failed: %s\n", nb_error_message()[0] ? nb_error_message() : "(returned NULL)");
        goto done;
    }
    f0 = nb__malloc((size_t)g.m * sizeof(double) + 1);
    eval(&g, f0);
    if (g.P == 0) appendf(&r, "  no input requires grad; nothing to check\n");
    else
        appendf(&r, "  %lld output element(s), %lld parameter(s), eps %g, atol %g, rtol %g%s\n", (long long)g.m,
                (long long)g.P, o.eps, o.atol, o.rtol, o.fast ? ", fast mode" : "");

    bool jac_ok = true, said_misplaced = false;
    static const char misplaced_msg[] = "  backward set an input's .grad itself, to a tensor of the current scope: "
                                        "get gradient buffers with nb_grad_buf\n";
    if (g.P > 0 && g.m > 0) {
        if (o.fast && fast_check(&g, &o, &r)) {
            appendf(&r, "  fast mode: vᵀJu agrees\n");
        } else {
            r.fast_fallback = o.fast;
            full_check(&g, &o, &r, f0);
            jac_ok = r.mismatches == 0;
        }
        if ((said_misplaced = g.misplaced)) appendf(&r, "%s", misplaced_msg);
        if (!o.skip_extras && !g.failed_eval) extra_checks(&g, &r);
    }
    if (!o.skip_f32 && !g.failed_eval) f32_check(&g, &o, f0, &r);
    r.ok = !g.failed_eval && jac_ok && r.reentrant_ok && r.zero_grad_ok && r.no_grad_ok && r.accumulate_ok &&
        !g.misplaced && r.f32_ok;
    if (g.misplaced && !said_misplaced) appendf(&r, "%s", misplaced_msg);
    if (g.failed_eval) appendf(&r, "  the function failed during the check: %s\n", nb_error_message());

done : {
    /* one summary line in front of the details */
    char head[256];
    snprintf(head, sizeof head, "gradcheck: %s: %s\n", g.op ? g.op : "?", r.ok ? "PASSED" : "FAILED");
    size_t hl = strlen(head), ml = strlen(r.message);
    if (hl + ml < sizeof r.message) {
        memmove(r.message + hl, r.message, ml + 1);
        memcpy(r.message, head, hl);
    }
}
    nb_rng_set(saved_rng);
    for (int i = 0; i < nin; i++) nb_tensor_free(g.x[i]);
    nb__free(g.x);
    nb__free(g.off);
    nb__free(g.stray);
    nb__free(f0);
    if (!r.ok && !o.quiet) nb_gradcheck_print(stderr, &r);
    return r;
}

typedef struct {
    nb_tensor *(*fn)(nb_tensor *);
} unary_ctx;

static nb_tensor *call_unary(nb_tensor *const *in, int nin, void *ctx) {
    (void)nin;
    return ((unary_ctx *)ctx)->fn(in[0]);
}

nb_gradcheck_report nb_gradcheck1(nb_tensor *(*fn)(nb_tensor *), nb_tensor *x, const nb_gradcheck_opts *opts) {
    unary_ctx c = {fn};
    bool had = x && x->requires_grad;
    if (x && nb__is_float(x->dtype)) x->requires_grad = true;
    nb_gradcheck_report r = nb_gradcheck(call_unary, &x, 1, &c, opts);
    if (x) x->requires_grad = had;
    return r;
}

void nb_gradcheck_print(FILE *f, const nb_gradcheck_report *r) { fputs(r->message, f); }
