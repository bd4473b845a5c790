/* optim/rmsprop.c — RMSprop (torch.optim.RMSprop):
 *   g ← g + λθ;  v ← αv + (1−α)g²
 *   centered: ḡ ← αḡ + (1−α)g,  d = √(v − ḡ²) + eps;  else d = √v + eps
 *   momentum μ > 0: b ← μb + g/d,  θ ← θ − γb;  else θ ← θ − γ·g/d          */
#include "optim_internal.h"

void nb__rmsprop_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t) {
    (void)t;
    nb_tensor *theta = p->p, *v = p->state[0], *b = p->state[1], *gbar = p->state[2];
    g = nb__with_weight_decay(g, theta, o->weight_decay);
    nb_scale_(v, o->alpha); /* v = αv + (1−α)g²   */
    nb_axpy_(v, 1 - o->alpha, nb_mul(g, g));
    nb_tensor *d;
    if (o->centered) {
        nb_scale_(gbar, o->alpha); /* ḡ = αḡ + (1−α)g    */
        nb_axpy_(gbar, 1 - o->alpha, g);
        d = nb_add_scalar(nb_sqrt(nb_sub(v, nb_mul(gbar, gbar))), o->eps);
    } else {
        d = nb_add_scalar(nb_sqrt(v), o->eps);
    }
    if (o->momentum > 0) {
        nb_scale_(b, o->momentum); /* b = μb + g/d       */
        nb_add_(b, nb_div(g, d));
        nb_axpy_(theta, -o->lr, b); /* θ −= γb            */
    } else {
        nb_axpy_(theta, -o->lr, nb_div(g, d)); /* θ −= γg/d          */
    }
}
