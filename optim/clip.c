/* optim/clip.c — gradient clipping by global norm and by value (torch's
 * clip_grad_norm_ and clip_grad_value_), with tensor ops under no-grad. */
#include "optim_internal.h"

#include <math.h>
#include <stdlib.h>

double nb_clip_grad_norm_list(nb_tensor *const *ts, int n, double max_norm) {
    nb_scope *s = nb_scope_begin();
    double total = 0;
    NB_NO_GRAD {
        for (int i = 0; i < n; i++) /* ‖g‖² = Σ_i ‖g_i‖² */
            if (ts[i] && ts[i]->grad) total += nb_item(nb_sum_all(nb_mul(ts[i]->grad, ts[i]->grad)));
        total = sqrt(total);
        const double coef = max_norm / (total + 1e-6);
        if (coef < 1)
            for (int i = 0; i < n; i++)
                if (ts[i] && ts[i]->grad) nb_scale_(ts[i]->grad, coef);
    }
    nb_scope_end(&s);
    return total;
}

void nb_clip_grad_value_list(nb_tensor *const *ts, int n, double clip) {
    nb_scope *s = nb_scope_begin();
    NB_NO_GRAD {
        for (int i = 0; i < n; i++)
            if (ts[i] && ts[i]->grad) nb_copy_(ts[i]->grad, nb_clamp(ts[i]->grad, -clip, clip));
    }
    nb_scope_end(&s);
}

/* The module's parameters as a plain list (malloc'd; caller frees). */
static nb_tensor **param_list(struct nb_module *m, int *n) {
    *n = nb_module_num_parameters(m);
    nb_named_tensor *ps = malloc(sizeof *ps * (size_t)(*n + 1));
    nb_tensor **ts = malloc(sizeof *ts * (size_t)(*n + 1));
    if (!ps || !ts) {
        free(ps), free(ts);
        *n = 0;
        return NULL;
    }
    nb_module_parameters(m, ps, *n);
    for (int i = 0; i < *n; i++) ts[i] = ps[i].t;
    free(ps);
    return ts;
}

double nb_clip_grad_norm(struct nb_module *m, double max_norm) {
    int n;
    nb_tensor **ts = param_list(m, &n);
    double r = nb_clip_grad_norm_list(ts, n, max_norm);
    free(ts);
    return r;
}

void nb_clip_grad_value(struct nb_module *m, double clip) {
    int n;
    nb_tensor **ts = param_list(m, &n);
    nb_clip_grad_value_list(ts, n, clip);
    free(ts);
}
