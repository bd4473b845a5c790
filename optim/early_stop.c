/* optim/early_stop.c — early stopping on a validation metric with patience
 * and restore-best-weights (Keras's EarlyStopping). The best weights are a
 * persistent copy of the module's parameters and buffers. */
#include "optim_internal.h"

#include <math.h>
#include <stdlib.h>

struct nb_early_stop {
    nb_module *m;
    int patience;
    double min_delta;
    nb_es_mode mode;
    bool restore_best, stopped, have_best;
    double best;
    int64_t best_epoch, epoch;
    int wait;
    int n;
    nb_tensor **snap; /* copies of nb_module_named_tensors, in that order */
};

/* dst ← src for same-shaped tensors of any dtype (integer buffers too). */
static void copy_values(nb_tensor *dst, const nb_tensor *src) {
    if (dst->dtype == NB_I64) {
        memcpy(dst->data, src->data, (size_t)src->numel * sizeof(int64_t));
        nb_bump_version(dst);
    } else {
        NB_NO_GRAD { nb_copy_(dst, src); }
    }
}

nb_early_stop *nb_early_stop_new(struct nb_module *m, int patience, double min_delta, nb_es_mode mode,
                                 bool restore_best) {
    if (!m || patience < 0) {
        nb_fail(NB_ERR_ARG, "early_stop", "needs a module and patience >= 0 (got %d)", patience);
        return NULL;
    }
    nb_early_stop *es = calloc(1, sizeof *es);
    if (!es) return NULL;
    *es = (nb_early_stop){.m = m,
                          .patience = patience,
                          .min_delta = fabs(min_delta),
                          .mode = mode,
                          .restore_best = restore_best,
                          .best = mode == NB_ES_MAX ? -INFINITY : INFINITY,
                          .best_epoch = -1};
    if (restore_best) {
        es->n = nb_module_named_tensors(m, NULL, 0);
        nb_named_tensor *ts = malloc(sizeof *ts * (size_t)(es->n + 1));
        es->snap = calloc((size_t)es->n + 1, sizeof *es->snap);
        if (!ts || !es->snap) {
            free(ts);
            nb_early_stop_free(es);
            return NULL;
        }
        nb_module_named_tensors(m, ts, es->n);
        for (int i = 0; i < es->n; i++) es->snap[i] = nb_zeros_persistent(ts[i].t->dtype, ts[i].t->shape);
        free(ts);
    }
    return es;
}

bool nb_early_stop_update(nb_early_stop *es, double metric) {
    if (!es) return false;
    const bool better = es->mode == NB_ES_MAX ? metric > es->best + es->min_delta : metric < es->best - es->min_delta;
    if (better) {
        es->best = metric;
        es->best_epoch = es->epoch;
        es->wait = 0;
        es->have_best = true;
        if (es->restore_best) {
            nb_named_tensor *ts = malloc(sizeof *ts * (size_t)(es->n + 1));
            if (ts) {
                nb_module_named_tensors(es->m, ts, es->n);
                for (int i = 0; i < es->n; i++) copy_values(es->snap[i], ts[i].t);
                free(ts);
            }
        }
    } else {
        es->wait++;
    }
    es->epoch++;
    if (!es->stopped && es->wait >= es->patience && !better) {
        es->stopped = true;
        if (es->restore_best) nb_early_stop_restore(es);
    }
    return es->stopped;
}

bool nb_early_stop_should_stop(const nb_early_stop *es) { return es && es->stopped; }
double nb_early_stop_best(const nb_early_stop *es) { return es ? es->best : NAN; }
int64_t nb_early_stop_best_epoch(const nb_early_stop *es) { return es ? es->best_epoch : -1; }

bool nb_early_stop_restore(nb_early_stop *es) {
    if (!es || !es->restore_best || !es->have_best) return false;
    nb_named_tensor *ts = malloc(sizeof *ts * (size_t)(es->n + 1));
    if (!ts) return false;
    nb_module_named_tensors(es->m, ts, es->n);
    for (int i = 0; i < es->n; i++) copy_values(ts[i].t, es->snap[i]);
    free(ts);
    return true;
}

void nb_early_stop_free(nb_early_stop *es) {
    if (!es) return;
    for (int i = 0; es->snap && i < es->n; i++) nb_tensor_free(es->snap[i]);
    free(es->snap);
    free(es);
}
