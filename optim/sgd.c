/* optim/sgd.c — SGD with momentum, dampening, Nesterov and weight decay
 * (torch.optim.SGD):
 *   g ← g + λθ
 *   b ← g (first step), else b ← μb + (1−τ)g
 *   g ← g + μb (Nesterov), else g ← b
 *   θ ← θ − γg                                                          */
#include "optim_internal.h"
#include "../ops/kernels/optim_step.h"

/* The fused step: the composed update below, element by element, in one
 * pass over θ, b and g instead of up to five (same operations on the same
 * T-rounded constants in the same order: the same bits, test_optim); the
 * loop is ops/kernels/optim_step.c. */
static void sgd_fused(const nb_optim_opts *o, nb__opt_param *p, const nb_tensor *gt, double t) {
    nb_tensor *theta = p->p, *bt = o->momentum != 0 ? p->state[0] : NULL;
    const nb_sgd_coef c = {o->lr, o->weight_decay, o->momentum, o->dampening, o->nesterov, t == 1};
    const int nt = nb_get_num_threads();
    if (theta->dtype == NB_F32)
        nb_sgd_step_mt_f32(nt, (float *)theta->data, bt ? (float *)bt->data : NULL, (const float *)gt->data,
                           theta->numel, &c);
    else
        nb_sgd_step_mt_f64(nt, (double *)theta->data, bt ? (double *)bt->data : NULL, (const double *)gt->data,
                           theta->numel, &c);
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
            nb_copy_(b, g); /* b₁ = g              */
        } else {
            nb_scale_(b, o->momentum); /* b = μb + (1−τ)g     */
            nb_axpy_(b, 1 - o->dampening, g);
        }
        if (o->nesterov) g = nb_axpy_(nb_copy(g), o->momentum, b); /* g + μb */
        else g = b;
    }
    nb_axpy_(theta, -o->lr, g); /* θ −= γg             */
}
