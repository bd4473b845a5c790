/* optim/adadelta.c — Adadelta (torch.optim.Adadelta):
 *   g ← g + λθ;  v ← ρv + (1−ρ)g²;  Δ = √(u + eps)/√(v + eps)·g
 *   u ← ρu + (1−ρ)Δ²;  θ ← θ − γΔ                                           */
#include "optim_internal.h"

void nb__adadelta_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t) {
    (void)t;
    nb_tensor *theta = p->p, *v = p->state[0], *u = p->state[1];
    g = nb__with_weight_decay(g, theta, o->weight_decay);
    nb_scale_(v, o->rho); /* v = ρv + (1−ρ)g²  */
    nb_axpy_(v, 1 - o->rho, nb_mul(g, g));
    nb_tensor *std = nb_sqrt(nb_add_scalar(v, o->eps));
    nb_tensor *delta = nb_mul(nb_div(nb_sqrt(nb_add_scalar(u, o->eps)), std), g); /* Δ */
    nb_scale_(u, o->rho);                                                         /* u = ρu + (1−ρ)Δ²  */
    nb_axpy_(u, 1 - o->rho, nb_mul(delta, delta));
    nb_axpy_(theta, -o->lr, delta); /* θ −= γΔ           */
}
