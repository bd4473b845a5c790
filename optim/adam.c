/* optim/adam.c — Adam and AdamW (torch.optim.Adam / AdamW):
 *   AdamW: θ ← θ(1 − γλ);  Adam: g ← g + λθ
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
 *   (amsgrad: v_max ← max(v_max, v), used in place of v below)
 *   θ ← θ − γ/(1−β₁ᵗ) · m/(√v/√(1−β₂ᵗ) + eps)
 * (the bias corrections are applied before eps, as torch). */
#include "optim_internal.h"
#include "../ops/kernels/optim_step.h"

#include <math.h>

/* The fused step: the composed update below, element by element, with the
 * same operations in the same order and precision (T), so it rounds the
 * same way; one pass over θ, g, m, v instead of about ten ops each making
 * a temporary (the loop: ops/kernels/optim_step.c). Measured on a
 * 784-256-10 MLP, f32, one thread: 1.8 ms a step against 2.5 ms composed
 * (fwd+bwd 1.0 ms). */
static void adam_fused(const nb_optim_opts *o, nb__opt_param *p, const nb_tensor *gt, double t) {
    nb_tensor *theta = p->p, *mt = p->state[0], *vt = p->state[1], *vmaxt = p->state[2];
    const nb_adam_coef c = {o->lr,
                            o->weight_decay,
                            o->beta1,
                            o->beta2,
                            o->eps,
                            1 - pow(o->beta1, t),
                            sqrt(1 - pow(o->beta2, t)),
                            o->kind == NB_OPTIM_ADAMW  ? 1
                                : o->weight_decay != 0 ? 2
                                                       : 0};
    const int nt = nb_get_num_threads();
    if (theta->dtype == NB_F32)
        nb_adam_step_mt_f32(nt, (float *)theta->data, (float *)mt->data, (float *)vt->data,
                            vmaxt ? (float *)vmaxt->data : NULL, (const float *)gt->data, theta->numel, &c);
    else
        nb_adam_step_mt_f64(nt, (double *)theta->data, (double *)mt->data, (double *)vt->data,
                            vmaxt ? (double *)vmaxt->data : NULL, (const double *)gt->data, theta->numel, &c);
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
    nb_scale_(m, o->beta1); /* m = β₁m + (1−β₁)g   */
    nb_axpy_(m, 1 - o->beta1, g);
    nb_scale_(v, o->beta2); /* v = β₂v + (1−β₂)g²  */
    nb_axpy_(v, 1 - o->beta2, nb_mul(g, g));
    const double bc1 = 1 - pow(o->beta1, t), bc2_sqrt = sqrt(1 - pow(o->beta2, t));
    if (o->amsgrad) {
        nb_copy_(vmax, nb_maximum(vmax, v)); /* v_max = max(v_max, v) */
        v = vmax;
    }
    nb_tensor *denom = nb_add_scalar(nb_mul_scalar(nb_sqrt(v), 1 / bc2_sqrt), o->eps); /* √v̂ + eps */
    nb_axpy_(theta, -o->lr / bc1, nb_div(m, denom)); /* θ −= γ m̂/(√v̂+eps)   */
}
