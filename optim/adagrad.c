/* optim/adagrad.c — Adagrad (torch.optim.Adagrad):
 *   g ← g + λθ;  γ̃ = γ/(1 + (t−1)η);  s ← s + g²;  θ ← θ − γ̃·g/(√s + eps) */
#include "optim_internal.h"

void nb__adagrad_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t) {
    nb_tensor *theta = p->p, *s = p->state[0];
    g = nb__with_weight_decay(g, theta, o->weight_decay);
    const double clr = o->lr / (1 + (t - 1) * o->lr_decay);
    nb_add_(s, nb_mul(g, g));                           /* s += g²            */
    nb_tensor *std = nb_add_scalar(nb_sqrt(s), o->eps); /* √s + eps           */
    nb_axpy_(theta, -clr, nb_div(g, std));              /* θ −= γ̃·g/(√s+eps)  */
}
