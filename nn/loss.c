/* nn/loss.c — losses as compositions of ops (the stable pieces, log_softmax,
 * nll and BCE-with-logits, are primitives). */
#include "nn_internal.h"

nb_tensor *nb__loss_reduce(nb_tensor *l, nb_reduction red) {
    switch (red) {
    case NB_REDUCE_SUM: return nb_sum_all(l);
    case NB_REDUCE_NONE: return l;
    default: return nb_mean_all(l);
    }
}

bool nb__loss_same_shape(const char *loss, const nb_tensor *a, const char *an, const nb_tensor *b, const char *bn) {
    if (nb_shape_eq(a->shape, b->shape)) return true;
    char da[NB_DESCRIBE_LEN], db[NB_DESCRIBE_LEN];
    nb_fail(NB_ERR_SHAPE, loss, "%s and %s must have the same shape: %s, %s", an, bn, nb_describe(a, an, da, sizeof da),
            nb_describe(b, bn, db, sizeof db));
    return false;
}

/* logits/scores (N, C) and labels i64 (N). */
static bool class_inputs(const char *loss, const nb_tensor *s, const nb_tensor *labels) {
    char da[NB_DESCRIBE_LEN], db[NB_DESCRIBE_LEN];
    if (labels->dtype != NB_I64) {
        nb_fail(NB_ERR_DTYPE, loss, "labels must be i64 class indices; %s (%s)",
                nb_describe(labels, "labels", db, sizeof db), nb_dtype_name(labels->dtype));
        return false;
    }
    if (s->shape.ndim != 2 || labels->shape.ndim != 1 || labels->shape.d[0] != s->shape.d[0]) {
        nb_fail(NB_ERR_SHAPE, loss, "expects scores (N,C) and labels (N): %s, %s",
                nb_describe(s, "scores", da, sizeof da), nb_describe(labels, "labels", db, sizeof db));
        return false;
    }
    return true;
}

nb_tensor *nb_mse_loss(nb_tensor *pred, nb_tensor *target, nb_reduction red) {
    nb_tensor *in[2] = {pred, target};
    if (!nb_check_float_inputs("mse_loss", in, 2) || !nb__loss_same_shape("mse_loss", pred, "pred", target, "target"))
        return NULL;
    nb_tensor *d = nb_sub(pred, target);
    return nb__loss_reduce(nb_mul(d, d), red);
}

nb_tensor *nb_bce_with_logits_loss(nb_tensor *x, nb_tensor *y, nb_reduction red) {
    nb_tensor *in[2] = {x, y};
    if (!nb_check_float_inputs("bce_with_logits_loss", in, 2) ||
        !nb__loss_same_shape("bce_with_logits_loss", x, "x", y, "y"))
        return NULL;
    return nb_bce_with_logits(x, y, red);
}

nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *labels, nb_reduction red) {
    if (!labels || !nb_check_float_inputs("cross_entropy", &logits, 1) ||
        !class_inputs("cross_entropy", logits, labels))
        return NULL;
    return nb_nll(nb_log_softmax(logits, 1), labels, red);
}

nb_tensor *nb_svm_loss(nb_tensor *scores, nb_tensor *labels, double margin, nb_reduction red) {
    if (!labels || !nb_check_float_inputs("svm_loss", &scores, 1) || !class_inputs("svm_loss", scores, labels))
        return NULL;
    const int64_t N = scores->shape.d[0], C = scores->shape.d[1];
    nb_tensor *sy = nb_gather(scores, 1, nb_reshape(labels, NB_SHAPE(N, 1)));          /* (N,1) s_y     */
    nb_tensor *hinge = nb_relu(nb_add_scalar(nb_sub(scores, sy), margin));             /* (N,C)         */
    nb_tensor *not_y = nb_add_scalar(nb_neg(nb_one_hot(labels, C, scores->dtype)), 1); /* [j ≠ y_i] */
    const int ax = 1;
    return nb__loss_reduce(nb_sum(nb_mul(hinge, not_y), &ax, 1, false), red); /* L_i, (N)      */
}

nb_tensor *nb_l2_penalty_list(nb_tensor *const *ts, int n, double lambda) {
    nb_tensor *r = NULL;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return NULL;
        nb_tensor *s = nb_sum_all(nb_mul(ts[i], ts[i]));
        r = r ? nb_add(r, s) : s;
    }
    if (!r) return nb_scalar(n > 0 && ts[0] ? ts[0]->dtype : NB_F32, 0);
    return nb_mul_scalar(r, lambda);
}

nb_tensor *nb_l2_penalty(nb_module *m, double lambda) {
    if (!m) {
        nb_fail(NB_ERR_ARG, "l2_penalty", "module is NULL");
        return NULL;
    }
    int np;
    const nb_named_tensor *ps = nb__module_list(m, false, &np);
    nb_tensor *r = NULL;
    for (int i = 0; i < np; i++) {
        nb_tensor *w = ps[i].t;
        if (w->shape.ndim < 2) continue; /* weights only, not biases/γ/β/α */
        nb_tensor *s = nb_sum_all(nb_mul(w, w));
        r = r ? nb_add(r, s) : s;
    }
    if (!r) return nb_scalar(np ? ps[0].t->dtype : NB_F32, 0);
    return nb_mul_scalar(r, lambda);
}
