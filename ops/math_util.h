/* ops/math_util.h — helpers shared by the math family (elementwise.c,
 * reduce.c, softmax.c): input validation whose messages name every tensor
 * with its shape and dtype, n-way broadcasting, and sample makers that keep
 * values away from ties and kinks. Internal. */
#ifndef NB_MATH_UTIL_H
#define NB_MATH_UTIL_H

#include "../autograd/internal.h"
#include <math.h>
#include <stdio.h>

/* "x is (2,3) i64" */
static inline char *mu_desc(const nb_tensor *t, const char *name, char *buf, size_t size) {
    char d[NB_DESCRIBE_LEN];
    snprintf(buf, size, "%s %s", nb_describe(t, name, d, sizeof d), nb_dtype_name(t->dtype));
    return buf;
}

/* Every tensor non-NULL (NULL: false, silently — the error is kept already),
 * float, and of the first one's dtype; otherwise NB_ERR_DTYPE naming them. */
static inline bool mu_check_float(const char *op, int n, nb_tensor *const *t, const char *const *names) {
    for (int i = 0; i < n; i++)
        if (!t[i]) return false;
    for (int i = 0; i < n; i++)
        if (!nb__alive(op, names[i], -1, t[i])) return false;
    for (int i = 0; i < n; i++) {
        char d[NB_DESCRIBE_LEN + 8], d0[NB_DESCRIBE_LEN + 8];
        if (!nb__is_float(t[i]->dtype)) {
            nb_fail(NB_ERR_DTYPE, op, "%s: this op needs f32 or f64", mu_desc(t[i], names[i], d, sizeof d));
            return false;
        }
        if (t[i]->dtype != t[0]->dtype) {
            nb_fail(NB_ERR_DTYPE, op, "dtypes differ: %s, %s (use nb_cast)", mu_desc(t[0], names[0], d0, sizeof d0),
                    mu_desc(t[i], names[i], d, sizeof d));
            return false;
        }
    }
    return true;
}

/* NumPy broadcast of n shapes into *out; NB_ERR_SHAPE naming all otherwise. */
static inline bool mu_broadcast(const char *op, int n, nb_tensor *const *t, const char *const *names, nb_shape *out) {
    nb_shape s = {0};
    for (int i = 0; i < n; i++)
        if (t[i]->shape.ndim > s.ndim) s.ndim = t[i]->shape.ndim;
    bool ok = true;
    for (int k = 0; k < s.ndim; k++) {
        int64_t d = 1;
        for (int i = 0; i < n; i++) {
            int j = t[i]->shape.ndim - s.ndim + k;
            int64_t e = j >= 0 ? t[i]->shape.d[j] : 1;
            if (e == d || e == 1) continue;
            if (d == 1) d = e;
            else ok = false;
        }
        s.d[k] = d;
    }
    if (!ok) {
        char msg[3 * NB_DESCRIBE_LEN + 16] = "";
        size_t k = 0;
        for (int i = 0; i < n; i++) {
            char d[NB_DESCRIBE_LEN];
            k += (size_t)snprintf(msg + k, sizeof msg - k, "%s%s", i ? ", " : "",
                                  nb_describe(t[i], names[i], d, sizeof d));
            if (k >= sizeof msg) break;
        }
        nb_fail(NB_ERR_SHAPE, op, "shapes don't broadcast: %s", msg);
        return false;
    }
    *out = s;
    return true;
}

/* Element strides of a tensor of shape `in` read as shape `out` (0 along
 * broadcast dims), aligned to out's ndim. */
static inline void mu_bstrides(nb_shape out, nb_shape in, int64_t *st) {
    int64_t acc = 1;
    for (int k = out.ndim - 1; k >= 0; k--) {
        int j = in.ndim - out.ndim + k;
        if (j < 0 || in.d[j] == 1) st[k] = 0;
        else st[k] = acc;
        if (j >= 0) acc *= in.d[j];
    }
}

/* Scratch for one forward/backward call: from the open scope's arena (so a
 * steady training loop allocates nothing), from the heap when no scope is
 * open; give it back with mu_scratch_done. Zero-filled. */
static inline void *mu_scratch(const char *op, size_t bytes) {
    void *p = nb__scope_alloc(nb_scope_current(), bytes ? bytes : 1);
    if (!p) nb_fail(NB_ERR_NOMEM, op, "out of memory for %zu bytes of scratch", bytes);
    else memset(p, 0, bytes);
    return p;
}
static inline void mu_scratch_done(void *p) {
    if (!nb_scope_current()) nb__free(p);
}

static inline bool mu_check_reduction(const char *op, nb_reduction r) {
    if (r == NB_REDUCE_MEAN || r == NB_REDUCE_SUM || r == NB_REDUCE_NONE) return true;
    nb_fail(NB_ERR_ARG, op, "unknown reduction %d (use NB_REDUCE_MEAN, _SUM or _NONE)", (int)r);
    return false;
}

/* ------------------------------------------------------------ samples */

/* Values k·step + off + jitter (k a random integer in [-K, K], jitter in
 * [0, step/4)): two tensors with different `off` never come within
 * min(|off_a − off_b|, step − |off_a − off_b|) − step/4 of each other. */
static inline nb_tensor *mu_sample_grid(nb_shape s, int K, double step, double off) {
    nb_tensor *t = nb_sample_uniform(s, 0, 1);
    for (int64_t i = 0; i < t->numel; i++) {
        int k = (int)(nb_rand_uniform() * (2 * K + 1)) - K;
        nb_f64(t)[i] = k * step + off + nb_f64(t)[i] * step / 4;
    }
    return t;
}

/* Distinct values: a random permutation of i·step (i < numel) plus a small
 * jitter, shifted to centre on 0 — no two elements within 0.75·step. */
static inline nb_tensor *mu_sample_distinct(nb_shape s, double step) {
    nb_tensor *t = nb_sample_uniform(s, 0, 1);
    int64_t n = t->numel;
    double *v = nb_f64(t);
    for (int64_t i = 0; i < n; i++) v[i] = (double)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(nb_rand_uniform() * (double)(i + 1));
        double tmp = v[i];
        v[i] = v[j];
        v[j] = tmp;
    }
    for (int64_t i = 0; i < n; i++) v[i] = (v[i] - (double)(n - 1) / 2) * step + nb_rand_uniform() * step / 4;
    return t;
}

/* Moves each value that is within `gap` of `kink` to `kink ± 2·gap`. */
static inline void mu_sample_avoid(nb_tensor *t, double kink, double gap) {
    for (int64_t i = 0; i < t->numel; i++) {
        double *v = &nb_f64(t)[i];
        if (fabs(*v - kink) < gap) *v = kink + (*v >= kink ? 2 * gap : -2 * gap);
    }
}

#endif
