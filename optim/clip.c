/* optim/clip.c — gradient clipping by global norm and by value (torch's
 * clip_grad_norm_ and clip_grad_value_), with tensor ops under no-grad. */
#include "optim_internal.h"

#include <math.h>

/* The tensors are ts[i] or, when ts is NULL, ps[i].t. */
#define AT(i) (ts ? ts[i] : ps[i].t)

static double clip_norm(nb_tensor *const *ts, const nb_named_tensor *ps, int n, double max_norm) {
    nb_scope *s = nb_scope_begin();
    double total = 0;
    NB_NO_GRAD {
        for (int i = 0; i < n; i++) /* ‖g‖² = Σ_i ‖g_i‖² */
            if (AT(i) && AT(i)->grad) total += nb_item(nb_sum_all(nb_mul(AT(i)->grad, AT(i)->grad)));
        total = sqrt(total);
        const double coef = max_norm / (total + 1e-6);
        /* a NaN norm (some gradient holds a NaN) gives a NaN coef: every
         * gradient becomes NaN, as torch's mul_ by clamp(coef, max=1) */
        if (!(coef >= 1))
            for (int i = 0; i < n; i++)
                if (AT(i) && AT(i)->grad) nb_scale_(AT(i)->grad, coef);
    }
    nb_scope_end(&s);
    return total;
}

static void clip_value(nb_tensor *const *ts, const nb_named_tensor *ps, int n, double clip) {
    nb_scope *s = nb_scope_begin();
    NB_NO_GRAD {
        for (int i = 0; i < n; i++)
            if (AT(i) && AT(i)->grad) nb_copy_(AT(i)->grad, nb_clamp(AT(i)->grad, -clip, clip));
    }
    nb_scope_end(&s);
}

double nb_clip_grad_norm_list(nb_tensor *const *ts, int n, double max_norm) {
    return ts ? clip_norm(ts, NULL, n, max_norm) : 0;
}
void nb_clip_grad_value_list(nb_tensor *const *ts, int n, double clip) {
    if (ts) clip_value(ts, NULL, n, clip);
}

double nb_clip_grad_norm(struct nb_module *m, double max_norm) {
    int n;
    const nb_named_tensor *ps = nb_module_parameter_view(m, &n);
    return clip_norm(NULL, ps, n, max_norm);
}
void nb_clip_grad_value(struct nb_module *m, double clip) {
    int n;
    const nb_named_tensor *ps = nb_module_parameter_view(m, &n);
    clip_value(NULL, ps, n, clip);
}
