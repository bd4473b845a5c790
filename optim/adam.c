/* optim/adam.c — Adam and AdamW (torch.optim.Adam / AdamW):
 *   AdamW: θ ← θ(1 − γλ);  Adam: g ← g + λθ
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
 *   (amsgrad: v_max ← max(v_max, v), used in place of v below)
 *   θ ← θ − γ/(1−β₁ᵗ) · m/(√v/√(1−β₂ᵗ) + eps)
 * (the bias corrections are applied before eps, as torch). */
#include "optim_internal.h"

#include <math.h>

/* The fused step: the composed update below, element by element, with the
 * same operations in the same order and precision (T), so it rounds the
 * same way; one pass over θ, g, m, v instead of about ten ops each making
 * a temporary. The mode tests are hoisted out of the loop (MODE: 0 plain,
 * 1 AdamW, 2 Adam with weight decay). Measured on a 784-256-10 MLP, f32,
 * one thread: 1.8 ms a step against 2.5 ms composed (fwd+bwd 1.0 ms). */
#define SQRT(x) _Generic((x), float: sqrtf, default: sqrt)(x)
#define ADAM_LOOP(T, MODE, AMS)                                                      \
    for (int64_t i = 0; i < n; i++) {                                                \
        T gi = g[i];                                                                 \
        if (MODE == 1) th[i] = th[i] * decay;                                        \
        if (MODE == 2) gi = gi + wd * th[i];                                         \
        const T mi = m[i] * b1 + c1 * gi;                                            \
        const T gg = gi * gi;                                                        \
        T vi = v[i] * b2;                                                            \
        vi = vi + c2 * gg;                                                           \
        m[i] = mi;                                                                   \
        v[i] = vi;                                                                   \
        if (AMS) {                                                                   \
            vi = vmax[i] > vi ? vmax[i] : vi;                                        \
            vmax[i] = vi;                                                            \
        }                                                                            \
        const T denom = SQRT(vi) * inv_bc2 + eps;                                    \
        th[i] = th[i] + step * (mi / denom);                                         \
    }

static void adam_fused(const nb_optim_opts *o, nb__opt_param *p, const nb_tensor *gt, double t) {
    nb_tensor *theta = p->p, *mt = p->state[0], *vt = p->state[1], *vmaxt = p->state[2];
    const double bc1 = 1 - pow(o->beta1, t), bc2_sqrt = sqrt(1 - pow(o->beta2, t));
    const int mode = o->kind == NB_OPTIM_ADAMW ? 1 : o->weight_decay != 0 ? 2 : 0;
    const int nt = nb__elementwise_threads(theta->numel, NB_COST_MEM);
    NB_PAR_REGION(nt, {
        int64_t lo, n; /* this thread's contiguous share (all of it on one thread) */
        nb__thread_range(nt, theta->numel, &lo, &n);
        NB_FLOAT_DISPATCH(theta->dtype, T, {
            T *restrict th = (T *)theta->data + lo, *restrict m = (T *)mt->data + lo;
            T *restrict v = (T *)vt->data + lo, *restrict vmax = vmaxt ? (T *)vmaxt->data + lo : NULL;
            const T *restrict g = (const T *)gt->data + lo;
            const T decay = (T)(1 - o->lr * o->weight_decay), wd = (T)o->weight_decay;
            const T b1 = (T)o->beta1, c1 = (T)(1 - o->beta1), b2 = (T)o->beta2, c2 = (T)(1 - o->beta2);
            const T inv_bc2 = (T)(1 / bc2_sqrt), eps = (T)o->eps, step = (T)(-o->lr / bc1);
            if (vmax) {
                if (mode == 0) ADAM_LOOP(T, 0, 1)
                else if (mode == 1) ADAM_LOOP(T, 1, 1)
                else ADAM_LOOP(T, 2, 1)
            } else {
                if (mode == 0) ADAM_LOOP(T, 0, 0)
                else if (mode == 1) ADAM_LOOP(T, 1, 0)
                else ADAM_LOOP(T, 2, 0)
            }
        });
    });
    nb_bump_version(theta);
    nb_bump_version(mt);
    nb_bump_version(vt);
    if (vmaxt) nb_bump_version(vmaxt);
}

void nb__adam_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t) {
    if (o->fused) {
        adam_fused(o, p, g, t);
        return;
    }
    nb_tensor *theta = p->p, *m = p->state[0], *v = p->state[1], *vmax = p->state[2];
    if (o->kind == NB_OPTIM_ADAMW) nb_scale_(theta, 1 - o->lr * o->weight_decay); /* decoupled decay */
    else g = nb__with_weight_decay(g, theta, o->weight_decay);
    nb_scale_(m, o->beta1);                                     /* m = β₁m + (1−β₁)g   */
    nb_axpy_(m, 1 - o->beta1, g);
    nb_scale_(v, o->beta2);                                     /* v = β₂v + (1−β₂)g²  */
    nb_axpy_(v, 1 - o->beta2, nb_mul(g, g));
    const double bc1 = 1 - pow(o->beta1, t), bc2_sqrt = sqrt(1 - pow(o->beta2, t));
    if (o->amsgrad) {
        nb_copy_(vmax, nb_maximum(vmax, v));                    /* v_max = max(v_max, v) */
        v = vmax;
    }
    nb_tensor *denom = nb_add_scalar(nb_mul_scalar(nb_sqrt(v), 1 / bc2_sqrt), o->eps); /* √v̂ + eps */
    nb_axpy_(theta, -o->lr / bc1, nb_div(m, denom));            /* θ −= γ m̂/(√v̂+eps)   */
}
