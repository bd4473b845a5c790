/* optim/sgd.c — SGD with momentum, dampening, Nesterov and weight decay
 * (torch.optim.SGD):
 *   g ← g + λθ
 *   b ← g (first step), else b ← μb + (1−τ)g
 *   g ← g + μb (Nesterov), else g ← b
 *   θ ← θ − γg                                                          */
#include "optim_internal.h"

void nb__sgd_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t) {
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
