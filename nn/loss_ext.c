/* nn/loss_ext.c — PyTorch's loss options (class weights, ignore_index, label
 * smoothing, pos_weight, probabilities, margins, L1/SmoothL1/Huber, KL) as
 * compositions of primitive ops. The per-sample constants a loss needs (which
 * samples count, each sample's class weight) are computed here from the
 * labels, never differentiated, as in PyTorch. */
#include <math.h>

#include "nn_internal.h"
#include "nabla/nn_functional.h"

static bool check_reduction(const char *loss, nb_reduction red, bool batchmean_ok) {
    if (red == NB_REDUCE_MEAN || red == NB_REDUCE_SUM || red == NB_REDUCE_NONE ||
        (batchmean_ok && red == NB_REDUCE_BATCHMEAN))
        return true;
    nb_fail(NB_ERR_ARG, loss, "unknown reduction %d (mean, sum or none%s)", (int)red,
            batchmean_ok ? ", batchmean" : "");
    return false;
}

/* pred/target float, one dtype, one shape, a known reduction. */
static bool pair_inputs(const char *loss, nb_tensor *pred, nb_tensor *target, nb_reduction red, bool batchmean_ok) {
    nb_tensor *in[2] = {pred, target};
    return nb_check_float_inputs(loss, in, 2) && nb__loss_same_shape(loss, pred, "input", target, "target") &&
        check_reduction(loss, red, batchmean_ok);
}

/* A per-class weight: float, x's dtype, shape (C). */
static bool check_class_weight(const char *loss, const nb_tensor *w, const nb_tensor *x, int64_t C) {
    char dw[NB_DESCRIBE_LEN], dx[NB_DESCRIBE_LEN];
    if (w->dtype != x->dtype) {
        nb_fail(NB_ERR_DTYPE, loss, "weight must have the input's dtype: %s is %s, input is %s",
                nb_describe(w, "weight", dw, sizeof dw), nb_dtype_name(w->dtype), nb_dtype_name(x->dtype));
        return false;
    }
    if (w->shape.ndim != 1 || w->shape.d[0] != C) {
        nb_fail(NB_ERR_SHAPE, loss, "weight must hold one value per class (%lld): %s, %s", (long long)C,
                nb_describe(w, "weight", dw, sizeof dw), nb_describe(x, "input", dx, sizeof dx));
        return false;
    }
    return true;
}

/* x (N, C) float and labels NB_I64 (N). */
static bool class_inputs(const char *loss, nb_tensor *x, nb_tensor *labels) {
    if (!labels || !nb_check_float_inputs(loss, &x, 1)) return false;
    char dx[NB_DESCRIBE_LEN], dl[NB_DESCRIBE_LEN];
    if (labels->dtype != NB_I64) {
        nb_fail(NB_ERR_DTYPE, loss, "labels must be i64 class indices: %s is %s",
                nb_describe(labels, "labels", dl, sizeof dl), nb_dtype_name(labels->dtype));
        return false;
    }
    if (x->shape.ndim != 2 || labels->shape.ndim != 1 || labels->shape.d[0] != x->shape.d[0]) {
        nb_fail(NB_ERR_SHAPE, loss, "expects input (N,C) and labels (N): %s, %s",
                nb_describe(x, "input", dx, sizeof dx), nb_describe(labels, "labels", dl, sizeof dl));
        return false;
    }
    return true;
}

/* The per-sample constants of a class loss: safe labels (ignored -> 0, so the
 * gather stays in range), wv[i] = w[y_i] (1 without weights) for a counted
 * sample, 0 for an ignored one, and their sum. false: a label out of range
 * (reported, naming the sample). */
static bool class_constants(const char *loss, const nb_tensor *labels, const nb_tensor *weight, int64_t C,
                            int64_t ignore_index, nb_dtype dt, nb_tensor **safe, nb_tensor **wv, double *wsum) {
    const int64_t N = labels->shape.d[0];
    const int64_t *y = nb_i64(labels);
    for (int64_t i = 0; i < N; i++)
        if (y[i] != ignore_index && (y[i] < 0 || y[i] >= C)) {
            nb_fail(NB_ERR_ARG, loss, "labels[%lld] = %lld is not a class in [0, %lld) nor ignore_index %lld",
                    (long long)i, (long long)y[i], (long long)C, (long long)ignore_index);
            return false;
        }
    *safe = nb_empty(NB_I64, NB_SHAPE(N));
    *wv = nb_empty(dt, NB_SHAPE(N));
    if (!*safe || !*wv) return false;
    double s = 0;
    for (int64_t i = 0; i < N; i++) {
        const bool on = y[i] != ignore_index;
        nb_i64(*safe)[i] = on ? y[i] : 0;
        const double w = !on ? 0.0 : weight ? nb_get(weight, y[i]) : 1.0;
        nb_set(*wv, i, w);
        s += dt == NB_F32 ? (double)(float)w : w;
    }
    *wsum = s;
    return true;
}

/* The shared body of nll and cross-entropy on log-probabilities logp (N, C). */
static nb_tensor *class_nll(const char *loss, nb_tensor *logp, nb_tensor *labels, const nb_ce_opts *o) {
    const nb_ce_opts d = NB_CE_DEFAULT;
    if (!o) o = &d;
    const int64_t N = logp->shape.d[0], C = logp->shape.d[1];
    if (!check_reduction(loss, o->reduction, false)) return NULL;
    if (o->weight && !check_class_weight(loss, o->weight, logp, C)) return NULL;
    if (!(o->label_smoothing >= 0 && o->label_smoothing <= 1)) {
        nb_fail(NB_ERR_ARG, loss, "label_smoothing must be in [0, 1], got %g", o->label_smoothing);
        return NULL;
    }
    nb_tensor *safe, *wv;
    double wsum;
    if (!class_constants(loss, labels, o->weight, C, o->ignore_index, logp->dtype, &safe, &wv, &wsum)) return NULL;
    const int ax = 1;
    /* nll_i = −w_{y_i}·logp[i, y_i] */
    nb_tensor *picked = nb_reshape(nb_gather(logp, 1, nb_reshape(safe, NB_SHAPE(N, 1))), NB_SHAPE(N));
    nb_tensor *l = nb_neg(nb_mul(picked, wv));
    const double eps = o->label_smoothing;
    if (eps > 0) {
        /* smooth_i = −Σ_c w_c·logp[i, c], 0 for an ignored sample */
        nb_tensor *lw = logp;
        if (o->weight) {
            nb_tensor *wc = nb_copy(o->weight); /* a constant: PyTorch does not differentiate weight */
            lw = nb_mul(logp, nb_reshape(wc, NB_SHAPE(1, C)));
        }
        nb_tensor *valid = nb_empty(logp->dtype, NB_SHAPE(N));
        if (!valid) return NULL;
        for (int64_t i = 0; i < N; i++) nb_set(valid, i, nb_i64(labels)[i] != o->ignore_index);
        nb_tensor *smooth = nb_neg(nb_mul(nb_sum(lw, &ax, 1, false), valid));
        l = nb_add(nb_mul_scalar(l, 1 - eps), nb_mul_scalar(smooth, eps / (double)C));
    }
    switch (o->reduction) {
    case NB_REDUCE_NONE: return l;
    case NB_REDUCE_SUM: return nb_sum_all(l);
    default: return nb_div(nb_sum_all(l), nb_scalar(logp->dtype, wsum)); /* 0/0 = NaN when all ignored */
    }
}

nb_tensor *nb_cross_entropy_ex(nb_tensor *logits, nb_tensor *labels, const nb_ce_opts *o) {
    if (!class_inputs("cross_entropy", logits, labels)) return NULL;
    return class_nll("cross_entropy", nb_log_softmax(logits, 1), labels, o);
}

nb_tensor *nb_nll_loss_ex(nb_tensor *logp, nb_tensor *labels, const nb_ce_opts *o) {
    if (!class_inputs("nll_loss", logp, labels)) return NULL;
    if (o && o->label_smoothing != 0) {
        nb_fail(NB_ERR_ARG, "nll_loss", "has no label_smoothing (got %g): use nb_cross_entropy_ex", o->label_smoothing);
        return NULL;
    }
    return class_nll("nll_loss", logp, labels, o);
}

/* weight (or pos_weight) broadcastable to x's shape, x's dtype. */
static bool check_broadcast_weight(const char *loss, const char *name, nb_tensor *w, nb_tensor *x) {
    char dw[NB_DESCRIBE_LEN], dx[NB_DESCRIBE_LEN];
    if (w->dtype != x->dtype) {
        nb_fail(NB_ERR_DTYPE, loss, "%s must have the input's dtype: %s is %s, input is %s", name,
                nb_describe(w, name, dw, sizeof dw), nb_dtype_name(w->dtype), nb_dtype_name(x->dtype));
        return false;
    }
    bool ok = w->shape.ndim <= x->shape.ndim;
    for (int i = 1; ok && i <= w->shape.ndim; i++) {
        const int64_t a = w->shape.d[w->shape.ndim - i], b = x->shape.d[x->shape.ndim - i];
        ok = a == 1 || a == b;
    }
    if (!ok) {
        nb_fail(NB_ERR_SHAPE, loss, "%s must broadcast to the input's shape: %s, %s", name,
                nb_describe(w, name, dw, sizeof dw), nb_describe(x, "input", dx, sizeof dx));
        return false;
    }
    return true;
}

nb_tensor *nb_binary_cross_entropy(nb_tensor *p, nb_tensor *y, nb_tensor *weight, nb_reduction red) {
    const char *loss = "binary_cross_entropy";
    if (!pair_inputs(loss, p, y, red, false)) return NULL;
    if (weight && !check_broadcast_weight(loss, "weight", weight, p)) return NULL;
    for (int64_t i = 0; i < p->numel; i++) {
        const double v = nb_get(p, i);
        if (!(v >= 0 && v <= 1)) {
            nb_fail(NB_ERR_ARG, loss,
                    "every element of input must be in [0, 1] (probabilities; for logits use "
                    "nb_bce_with_logits_ex): element %lld is %g",
                    (long long)i, v);
            return NULL;
        }
    }
    /* −(y·max(log p, −100) + (1−y)·max(log(1−p), −100)) */
    nb_tensor *lo = nb_scalar(p->dtype, -100);
    nb_tensor *logp = nb_maximum(nb_log(p), lo);
    nb_tensor *log1mp = nb_maximum(nb_log1p(nb_neg(p)), lo);
    nb_tensor *l = nb_neg(nb_add(nb_mul(y, logp), nb_mul(nb_add_scalar(nb_neg(y), 1), log1mp)));
    if (weight) l = nb_mul(l, weight);
    return nb__loss_reduce(l, red);
}

nb_tensor *nb_bce_with_logits_ex(nb_tensor *x, nb_tensor *y, nb_tensor *weight, nb_tensor *pos_weight,
                                 nb_reduction red) {
    const char *loss = "bce_with_logits";
    if (!pair_inputs(loss, x, y, red, false)) return NULL;
    if (weight && !check_broadcast_weight(loss, "weight", weight, x)) return NULL;
    if (pos_weight && !check_broadcast_weight(loss, "pos_weight", pos_weight, x)) return NULL;
    if (!weight && !pos_weight) return nb_bce_with_logits(x, y, red);
    nb_tensor *l;
    if (pos_weight) {
        /* (1−y)·x + (1 + (pw−1)·y)·softplus(−x) */
        nb_tensor *lw = nb_add_scalar(nb_mul(nb_add_scalar(pos_weight, -1), y), 1);
        l = nb_add(nb_mul(nb_add_scalar(nb_neg(y), 1), x), nb_mul(lw, nb_softplus(nb_neg(x))));
    } else {
        l = nb_bce_with_logits(x, y, NB_REDUCE_NONE);
    }
    if (weight) l = nb_mul(l, weight);
    return nb__loss_reduce(l, red);
}

nb_tensor *nb_multi_margin_loss(nb_tensor *x, nb_tensor *labels, int p, double margin, nb_tensor *weight,
                                nb_reduction red) {
    const char *loss = "multi_margin_loss";
    if (!class_inputs(loss, x, labels) || !check_reduction(loss, red, false)) return NULL;
    if (p != 1 && p != 2) {
        nb_fail(NB_ERR_ARG, loss, "p must be 1 or 2, got %d", p);
        return NULL;
    }
    const int64_t N = x->shape.d[0], C = x->shape.d[1];
    if (weight && !check_class_weight(loss, weight, x, C)) return NULL;
    /* no ignore_index here: INT64_MIN never equals a label that passed the range check */
    nb_tensor *safe, *wv;
    double wsum;
    if (!class_constants(loss, labels, weight, C, INT64_MIN, x->dtype, &safe, &wv, &wsum)) return NULL;
    nb_tensor *xy = nb_gather(x, 1, nb_reshape(safe, NB_SHAPE(N, 1))); /* (N,1) x[i,y_i] */
    nb_tensor *h = nb_relu(nb_add_scalar(nb_sub(x, xy), margin));      /* (N,C)          */
    if (p == 2) h = nb_mul(h, h);
    nb_tensor *not_y = nb_add_scalar(nb_neg(nb_one_hot(safe, C, x->dtype)), 1); /* [j ≠ y_i]      */
    const int ax = 1;
    nb_tensor *l = nb_sum(nb_mul(h, not_y), &ax, 1, false); /* (N)            */
    l = nb_mul_scalar(nb_mul(l, wv), 1.0 / (double)C);
    return nb__loss_reduce(l, red);
}

nb_tensor *nb_l1_loss(nb_tensor *pred, nb_tensor *target, nb_reduction red) {
    if (!pair_inputs("l1_loss", pred, target, red, false)) return NULL;
    return nb__loss_reduce(nb_abs(nb_sub(pred, target)), red);
}

/* |d| − 0.5β where |d| > β, 0.5·d²/β elsewhere, and the gradient of the branch
 * each element is on. A NaN d takes the inner branch, whose gradient d/β keeps
 * it NaN (as PyTorch's); the inner branch squares d only where it is chosen
 * (0 elsewhere), so an infinite d meets no 0·inf in the backward. */
static nb_tensor *smooth_l1(nb_tensor *pred, nb_tensor *target, double beta) {
    nb_tensor *d = nb_sub(pred, target), *a = nb_abs(d);
    if (!a || beta == 0) return a;
    nb_tensor *out = nb__mask_above(a, 1, beta, NULL);
    if (!out) return NULL;
    nb_tensor *di = nb_where(out, nb_scalar(d->dtype, 0), d);
    return nb_where(out, nb_add_scalar(a, -0.5 * beta), nb_mul_scalar(nb_mul(di, di), 0.5 / beta));
}

nb_tensor *nb_smooth_l1_loss(nb_tensor *pred, nb_tensor *target, double beta, nb_reduction red) {
    if (!pair_inputs("smooth_l1_loss", pred, target, red, false)) return NULL;
    if (!(beta >= 0) || isinf(beta)) {
        nb_fail(NB_ERR_ARG, "smooth_l1_loss", "beta must be finite and >= 0, got %g", beta);
        return NULL;
    }
    return nb__loss_reduce(smooth_l1(pred, target, beta), red);
}

nb_tensor *nb_huber_loss(nb_tensor *pred, nb_tensor *target, double delta, nb_reduction red) {
    if (!pair_inputs("huber_loss", pred, target, red, false)) return NULL;
    if (!(delta > 0) || isinf(delta)) {
        nb_fail(NB_ERR_ARG, "huber_loss", "delta must be finite and > 0, got %g", delta);
        return NULL;
    }
    return nb__loss_reduce(nb_mul_scalar(smooth_l1(pred, target, delta), delta), red);
}

nb_tensor *nb_kl_div(nb_tensor *input, nb_tensor *target, bool log_target, nb_reduction red) {
    if (!pair_inputs("kl_div", input, target, red, true)) return NULL;
    nb_tensor *l;
    if (log_target) {
        l = nb_mul(nb_exp(target), nb_sub(target, input));
    } else {
        /* t·(log t − input) with 0·log 0 = 0: log of t where t > 0, of 1 elsewhere */
        nb_tensor *pos = nb__mask_above(target, 1, 0, NULL);
        if (!pos) return NULL;
        nb_tensor *safe = nb_where(pos, target, nb_scalar(target->dtype, 1));
        l = nb_mul(target, nb_sub(nb_log(safe), input));
    }
    if (red == NB_REDUCE_BATCHMEAN) {
        const double n = input->shape.ndim ? (double)input->shape.d[0] : 1.0;
        return nb_mul_scalar(nb_sum_all(l), 1.0 / n);
    }
    return nb__loss_reduce(l, red);
}
