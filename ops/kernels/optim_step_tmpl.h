/* ops/kernels/optim_step_tmpl.h — optim_step.h for one element type,
 * included by optim_step.c (no include guard). The includer defines T
 * (float or double), FN(name) (name with the element type's suffix) and
 * SQRT (sqrtf or sqrt); they are #undef'd at the end.
 *
 * The loops take their mode flags as arguments and are inlined where each
 * is called with constants, so the usual cases are branch-free loops that
 * vectorize. */

static inline NB_ALWAYS_INLINE void FN(sgd_loop)(T *restrict th, T *restrict b, const T *restrict g, int64_t n, T lam,
                                                 T mu, T damp, T step, bool wd, bool mom, bool first, bool nest) {
    for (int64_t i = 0; i < n; i++) {
        T gi = g[i];
        if (wd) gi = gi + lam * th[i];
        if (mom) {
            T bi = gi;
            if (!first) {
                bi = b[i] * mu;
                bi = bi + damp * gi;
            }
            b[i] = bi;
            gi = nest ? gi + mu * bi : bi;
        }
        th[i] = th[i] + step * gi;
    }
}

static void FN(sgd_range)(T *restrict th, T *restrict b, const T *restrict g, int64_t n, const nb_sgd_coef *c) {
    const bool wd = c->weight_decay != 0, first = c->first, nest = c->nesterov;
    const T lam = (T)c->weight_decay, mu = (T)c->momentum, damp = (T)(1 - c->dampening), step = (T)(-c->lr);
    if (b && !wd && !first && !nest) FN(sgd_loop)(th, b, g, n, lam, mu, damp, step, false, true, false, false);
    else if (!b && !wd) FN(sgd_loop)(th, b, g, n, lam, mu, damp, step, false, false, false, false);
    else FN(sgd_loop)(th, b, g, n, lam, mu, damp, step, wd, b != NULL, first, nest);
}

void FN(nb_sgd_step_mt)(int nt, T *th, T *b, const T *g, int64_t n, const nb_sgd_coef *c) {
    const int nth = nb_par_threads(nt, (double)n * NB_COST_MEM);
    NB_PAR_REGION(nth, {
        int64_t lo, len; /* this thread's contiguous share (all of it on one thread) */
        nb_par_range(nth, n, &lo, &len);
        FN(sgd_range)(th + lo, b ? b + lo : NULL, g + lo, len, c);
    });
}

/* mode: 0 plain, 1 AdamW, 2 Adam with weight decay; ams: vmax in use */
static inline NB_ALWAYS_INLINE void FN(adam_loop)(T *restrict th, T *restrict m, T *restrict v, T *restrict vmax,
                                                  const T *restrict g, int64_t n, const nb_adam_coef *c, int mode,
                                                  bool ams) {
    const T decay = (T)(1 - c->lr * c->weight_decay), wd = (T)c->weight_decay;
    const T b1 = (T)c->beta1, c1 = (T)(1 - c->beta1), b2 = (T)c->beta2, c2 = (T)(1 - c->beta2);
    const T inv_bc2 = (T)(1 / c->bc2_sqrt), eps = (T)c->eps, step = (T)(-c->lr / c->bc1);
    for (int64_t i = 0; i < n; i++) {
        T gi = g[i];
        if (mode == 1) th[i] = th[i] * decay;
        if (mode == 2) gi = gi + wd * th[i];
        const T mi = m[i] * b1 + c1 * gi;
        const T gg = gi * gi;
        T vi = v[i] * b2;
        vi = vi + c2 * gg;
        m[i] = mi;
        v[i] = vi;
        if (ams) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        const T denom = SQRT(vi) * inv_bc2 + eps;
        th[i] = th[i] + step * (mi / denom);
    }
}

static void FN(adam_range)(T *restrict th, T *restrict m, T *restrict v, T *restrict vmax, const T *restrict g,
                           int64_t n, const nb_adam_coef *c) {
    if (vmax) {
        if (c->mode == 0) FN(adam_loop)(th, m, v, vmax, g, n, c, 0, true);
        else if (c->mode == 1) FN(adam_loop)(th, m, v, vmax, g, n, c, 1, true);
        else FN(adam_loop)(th, m, v, vmax, g, n, c, 2, true);
    } else {
        if (c->mode == 0) FN(adam_loop)(th, m, v, vmax, g, n, c, 0, false);
        else if (c->mode == 1) FN(adam_loop)(th, m, v, vmax, g, n, c, 1, false);
        else FN(adam_loop)(th, m, v, vmax, g, n, c, 2, false);
    }
}

void FN(nb_adam_step_mt)(int nt, T *th, T *m, T *v, T *vmax, const T *g, int64_t n, const nb_adam_coef *c) {
    const int nth = nb_par_threads(nt, (double)n * NB_COST_MEM);
    NB_PAR_REGION(nth, {
        int64_t lo, len; /* this thread's contiguous share (all of it on one thread) */
        nb_par_range(nth, n, &lo, &len);
        FN(adam_range)(th + lo, m + lo, v + lo, vmax ? vmax + lo : NULL, g + lo, len, c);
    });
}

#undef T
#undef FN
#undef SQRT
