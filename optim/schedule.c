/* optim/schedule.c — learning-rate schedules in closed form. torch's
 * schedulers update the lr recursively (lr ← lr·γ at each boundary, the
 * cosine as a ratio of consecutive terms); in exact arithmetic both agree, in
 * floating point they differ by rounding (tested to 1e-12 relative). */
#include "optim_internal.h"

#include <math.h>

nb_lr_schedule nb_lr_step(double lr0, int64_t step_size, double gamma) {
    return (nb_lr_schedule){.kind = NB_LR_STEP, .lr0 = lr0, .gamma = gamma, .step_size = step_size > 0 ? step_size : 1};
}
nb_lr_schedule nb_lr_exponential(double lr0, double gamma) {
    return (nb_lr_schedule){.kind = NB_LR_EXPONENTIAL, .lr0 = lr0, .gamma = gamma};
}
nb_lr_schedule nb_lr_exp_decay(double lr0, double k) {
    return (nb_lr_schedule){.kind = NB_LR_EXP_DECAY, .lr0 = lr0, .k = k};
}
nb_lr_schedule nb_lr_inv_time(double lr0, double k) {
    return (nb_lr_schedule){.kind = NB_LR_INV_TIME, .lr0 = lr0, .k = k};
}
nb_lr_schedule nb_lr_cosine(double lr0, int64_t t_max, double eta_min) {
    return (nb_lr_schedule){.kind = NB_LR_COSINE, .lr0 = lr0, .t_max = t_max > 0 ? t_max : 1, .eta_min = eta_min};
}

nb_lr_schedule nb_lr_warmup_cosine(double max_lr, int64_t warmup, int64_t total, double min_lr) {
    return (nb_lr_schedule){.kind = NB_LR_WARMUP_COSINE,
                            .lr0 = max_lr,
                            .step_size = warmup > 0 ? warmup : 0,
                            .t_max = total,
                            .eta_min = min_lr};
}

double nb_lr_at(const nb_lr_schedule *s, int64_t t) {
    if (!s) return 0;
    const double td = (double)t;
    switch (s->kind) {
    case NB_LR_STEP: return s->lr0 * pow(s->gamma, (double)(t / s->step_size));
    case NB_LR_EXPONENTIAL: return s->lr0 * pow(s->gamma, td);
    case NB_LR_EXP_DECAY: return s->lr0 * exp(-s->k * td);
    case NB_LR_INV_TIME: return s->lr0 / (1 + s->k * td);
    case NB_LR_COSINE: return s->eta_min + 0.5 * (s->lr0 - s->eta_min) * (1 + cos(M_PI * td / (double)s->t_max));
    case NB_LR_WARMUP_COSINE: {
        const int64_t w = s->step_size, T = s->t_max;
        if (w > 0 && t <= w) return s->lr0 * td / (double)w;
        if (T <= w) return s->lr0;
        if (t > T) return s->eta_min;
        const double r = (double)(t - w) / (double)(T - w);
        return s->eta_min + 0.5 * (s->lr0 - s->eta_min) * (1 + cos(M_PI * r));
    }
    default: return s->lr0;
    }
}

double nb_lr_schedule_step(nb_lr_schedule *s, nb_optim *opt) {
    if (!s) return 0;
    s->t++;
    const double lr = nb_lr_at(s, s->t);
    if (opt) nb_optim_set_lr(opt, lr);
    return lr;
}
