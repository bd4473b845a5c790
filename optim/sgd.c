/* optim/sgd.c — SGD with momentum, dampening, Nesterov and weight decay
 * (torch.optim.SGD):
 *   g ← g + λθ
 *   b ← g (first step), else b ← μb + (1−τ)g
 *   g ← g + μb (Nesterov), else g ← b
 *   θ ← θ − γg                                                          */
#include "optim_internal.h"

/* The fused step: the composed update below, element by element, in one
 * pass over θ, b and g instead of up to five (same operations on the same
 * T-rounded constants in the same order: the same bits, test_optim). */
#define SGD_LOOP(T, WD, MOM, FIRST, NEST)                                            \
    for (int64_t i = 0; i < n; i++) {                                                \
        T gi = g[i];                                                                 \
        if (WD) gi = gi + lam * th[i];                                               \
        if (MOM) {                                                                   \
            T bi = gi;                                                               \
            if (!(FIRST)) {                                                          \
                bi = b[i] * mu;                                                      \
                bi = bi + damp * gi;                                                 \
            }                                                                        \
            b[i] = bi;                                                               \
            gi = (NEST) ? gi + mu * bi : bi;                                         \
        }                                                                            \
        th[i] = th[i] + step * gi;                                                   \
    }

static void sgd_fused(const nb_optim_opts *o, nb__opt_param *p, const nb_tensor *gt, double t) {
    nb_tensor *theta = p->p, *bt = o->momentum != 0 ? p->state[0] : NULL;
    const bool wd = o->weight_decay != 0, first = t == 1, nest = o->nesterov;
    const int nt = nb__elementwise_threads(theta->numel, NB_COST_MEM);
    NB_PAR_REGION(nt, {
        int64_t lo, n; /* this thread's contiguous share (all of it on one thread) */
        nb__thread_range(nt, theta->numel, &lo, &n);
        NB_FLOAT_DISPATCH(theta->dtype, T, {
            T *restrict th = (T *)theta->data + lo, *restrict b = bt ? (T *)bt->data + lo : NULL;
            const T *restrict g = (const T *)gt->data + lo;
            const T lam = (T)o->weight_decay, mu = (T)o->momentum, damp = (T)(1 - o->dampening),
                    step = (T)(-o->lr);
            /* branch-free loops (they vectorize) for the usual cases */
            if (b && !wd && !first && !nest) SGD_LOOP(T, 0, 1, 0, 0)
            else if (!b && !wd) SGD_LOOP(T, 0, 0, 0, 0)
            else SGD_LOOP(T, wd, b != NULL, first, nest)
        });
    });
    nb_bump_version(theta);
    if (bt) nb_bump_version(bt);
}

void nb__sgd_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t) {
    if (o->fused) {
        sgd_fused(o, p, g, t);
        return;
    }
    nb_tensor *theta = p->p, *b = p->state[0];
    g = nb__with_weight_decay(g, theta, o->weight_decay);
    if (o->momentum != 0) {
        if (t == 1) {
            nb_copy_(b, g);                    /* b₁ = g              */
        } else {
            nb_scale_(b, o->momentum);         /* b = μb + (1−τ)g     */
            nb_axpy_(b, 1 - o->dampening, g);
        }
        if (o->nesterov) g = nb_axpy_(nb_copy(g), o->momentum, b); /* g + μb */
        else g = b;
    }
    nb_axpy_(theta, -o->lr, g);                /* θ −= γg             */
}
