/* ops/softmax.c — the softmax family, as numerically stable primitives:
 * softmax and log_softmax along one axis (shifted by the row max), the
 * negative log-likelihood of labels, and binary cross-entropy on logits.
 *
 * softmax/log_softmax see x as (outer, len, inner) around the axis and work
 * row by row (a row is len elements `inner` apart); sums run in double. Every
 * exponential (softmax, log_softmax and its backward, along any axis) and
 * bce's log1p(e^−|x|) and sigmoid run on the SLEEF vector kernels of
 * kernels/vmath.h in the tensor's type (ULP bounds there). */
#include "math_util.h"
#include "kernels/softmax_rows.h"
#include "kernels/vmath.h"
#include "grad_graph.h"

typedef struct {
    int axis;
} sm_attr;

/* Elements per slice of the strided path's vector calls. */
#define SM_SLICE 1024
/* Multiply-add equivalents per element of a contiguous row pass (an
 * exponential and three or four light passes; nb__elementwise_threads). */
#define SM_COST 192

/* y[i] = e^x[i] for n elements of T (SLEEF through vmath; y may equal x) */
#define VEXP(T, y, x, n)                                                                    \
    do {                                                                                    \
        if (sizeof(T) == sizeof(float)) nb_vexp_f32((float *)(y), (const float *)(x), (n)); \
        else nb_vexp_f64((double *)(y), (const double *)(x), (n));                          \
    } while (0)

static void split_axis(nb_shape s, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
    *outer = 1, *inner = 1, *len = s.d[axis];
    for (int i = 0; i < axis; i++) *outer *= s.d[i];
    for (int i = axis + 1; i < s.ndim; i++) *inner *= s.d[i];
}

/* y = e^(x−m)/Σe^(x−m), or (log) y = x − m − log Σe^(x−m).
 * Rows along the last axis (inner == 1, the common case) are contiguous: the
 * exponentials go through the vector kernel, written into y and then scaled
 * (or, for log_softmax, overwritten). Strided rows use the scalar loop. */
static void softmax_fwd_impl(nb_node *n, bool logsm) {
    int64_t outer, len, inner;
    split_axis(n->in[0]->shape, nb_attr(n, sm_attr)->axis, &outer, &len, &inner);
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *X = (const T *)n->in[0]->data;
        T *Y = (T *)n->out->data;
        if (inner == 1) {
            /* rows are independent: long inputs split them between threads */
            const int nt = nb__elementwise_threads(outer * len, SM_COST);
            NB_PAR_FOR(nt, for (int64_t o = 0; o < outer; o++), {
                if (sizeof(T) == sizeof(float))
                    nb_softmax_row_f32((float *)(Y + o * len), (const float *)(X + o * len), len, logsm);
                else nb_softmax_row_f64((double *)(Y + o * len), (const double *)(X + o * len), len, logsm);
            });
            return;
        }
        /* Strided rows (inner > 1): the `inner` rows of a block side by side,
         * walked over slices of kb consecutive k (x[k·inner + i], contiguous:
         * kb·inner elements, about SM_SLICE); the exponentials of a slice go
         * through the vector kernel in T, the sums per row in double (the
         * accuracy argument of logsumexp in reduce.c). */
        const int64_t kb = inner >= SM_SLICE ? 1 : SM_SLICE / inner;
        double *s = mu_scratch(logsm ? "log_softmax" : "softmax",
                               (size_t)inner * (sizeof(double) + sizeof(T)) + (size_t)(kb * inner) * sizeof(T));
        if (!s) return;
        T *m = (T *)(s + inner), *e = m + inner;
        for (int64_t o = 0; o < outer; o++) {
            const T *x = X + o * len * inner;
            T *y = Y + o * len * inner;
            for (int64_t i = 0; i < inner; i++) m[i] = (T)-INFINITY, s[i] = 0;
            for (int64_t k = 0; k < len; k++)
                for (int64_t i = 0; i < inner; i++) m[i] = x[k * inner + i] > m[i] ? x[k * inner + i] : m[i];
            for (int64_t k0 = 0; k0 < len; k0 += kb) {
                const int64_t nk = len - k0 < kb ? len - k0 : kb;
                T *ek = logsm ? e : y + k0 * inner; /* softmax keeps e^(x−m) in y */
                const T *xk = x + k0 * inner;
                for (int64_t k = 0; k < nk; k++)
                    for (int64_t i = 0; i < inner; i++) ek[k * inner + i] = xk[k * inner + i] - m[i];
                VEXP(T, ek, ek, nk * inner);
                for (int64_t k = 0; k < nk; k++)
                    for (int64_t i = 0; i < inner; i++) s[i] += (double)ek[k * inner + i];
            }
            if (logsm) { /* y = x − (m + log s), one rounding */
                for (int64_t i = 0; i < inner; i++) s[i] = (double)m[i] + log(s[i]);
                for (int64_t k = 0; k < len; k++)
                    for (int64_t i = 0; i < inner; i++) y[k * inner + i] = (T)((double)x[k * inner + i] - s[i]);
            } else {
                for (int64_t i = 0; i < inner; i++) s[i] = 1 / s[i];
                for (int64_t k = 0; k < len; k++)
                    for (int64_t i = 0; i < inner; i++) y[k * inner + i] = (T)((double)y[k * inner + i] * s[i]);
            }
        }
        mu_scratch_done(s);
    });
}

/* softmax: dx += y(g − Σ g·y); log_softmax: dx += g − e^y Σ g. Both read only y. */
static void softmax_bwd_impl(nb_node *n, const nb_tensor *gt, bool logsm) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt) return;
    int64_t outer, len, inner;
    split_axis(n->in[0]->shape, nb_attr(n, sm_attr)->axis, &outer, &len, &inner);
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *Y = (const T *)n->out->data, *G = (const T *)gt->data;
        T *GX = (T *)gxt->data;
        if (inner == 1) { /* contiguous rows; log_softmax: e^y through the vector kernel */
            const int nt = nb__elementwise_threads(outer * len, SM_COST);
            const int64_t ld = logsm ? (len + 15) / 16 * 16 : 0; /* a row of scratch per thread */
            T *eys = logsm ? mu_scratch("log_softmax", (size_t)(nt * ld) * sizeof(T)) : NULL;
            if (logsm && !eys) return;
            NB_PAR_FOR(nt, for (int64_t o = 0; o < outer; o++), {
                const T *y = Y + o * len, *g = G + o * len;
                T *gx = GX + o * len;
                if (!logsm) {
                    if (sizeof(T) == sizeof(float))
                        nb_softmax_row_bwd_f32((float *)gx, (const float *)g, (const float *)y, len);
                    else nb_softmax_row_bwd_f64((double *)gx, (const double *)g, (const double *)y, len);
                    continue;
                }
                T *ey = eys + NB_PAR_TID(nt) * ld;
                if (sizeof(T) == sizeof(float))
                    nb_log_softmax_row_bwd_f32((float *)gx, (const float *)g, (const float *)y, (float *)ey, len);
                else nb_log_softmax_row_bwd_f64((double *)gx, (const double *)g, (const double *)y, (double *)ey, len);
            });
            if (eys) mu_scratch_done(eys);
            return;
        }
        /* Strided rows: slices of kb consecutive k as in forward; e^y by the
         * vector kernel. */
        const int64_t kb = inner >= SM_SLICE ? 1 : SM_SLICE / inner;
        double *s = mu_scratch(logsm ? "log_softmax" : "softmax",
                               (size_t)inner * sizeof(double) + (size_t)(kb * inner) * sizeof(T));
        if (!s) return;
        T *e = (T *)(s + inner);
        for (int64_t o = 0; o < outer; o++) {
            const int64_t base = o * len * inner;
            const T *y = Y + base, *g = G + base;
            T *gx = GX + base;
            for (int64_t i = 0; i < inner; i++) s[i] = 0;
            for (int64_t k = 0; k < len; k++)
                for (int64_t i = 0; i < inner; i++)
                    s[i] += logsm ? (double)g[k * inner + i] : (double)g[k * inner + i] * (double)y[k * inner + i];
            for (int64_t k0 = 0; k0 < len; k0 += kb) {
                const int64_t nk = len - k0 < kb ? len - k0 : kb;
                const T *yk = y + k0 * inner, *gk = g + k0 * inner;
                T *gxk = gx + k0 * inner;
                if (logsm) VEXP(T, e, yk, nk * inner);
                for (int64_t k = 0; k < nk; k++)
                    for (int64_t i = 0; i < inner; i++) {
                        const int64_t j = k * inner + i;
                        gxk[j] += logsm ? (T)((double)gk[j] - (double)e[j] * s[i])
                                        : (T)((double)yk[j] * ((double)gk[j] - s[i]));
                    }
            }
        }
        mu_scratch_done(s);
    });
}

static void softmax_fwd(nb_node *n) { softmax_fwd_impl(n, false); }
static void log_softmax_fwd(nb_node *n) { softmax_fwd_impl(n, true); }
static void softmax_bwd(nb_node *n, const nb_tensor *g) { softmax_bwd_impl(n, g, false); }
static void log_softmax_bwd(nb_node *n, const nb_tensor *g) { softmax_bwd_impl(n, g, true); }

GG_FN(softmax);
static const nb_op softmax_op = {"softmax", softmax_fwd, softmax_bwd, NB_SAVES_OUT, false, softmax_bwg};
GG_FN(log_softmax);
static const nb_op log_softmax_op = {"log_softmax", log_softmax_fwd, log_softmax_bwd,
                                     NB_SAVES_OUT,  false,           log_softmax_bwg};

static nb_tensor *softmax_apply(const nb_op *op, nb_tensor *x, int axis) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float(op->name, 1, &x, names)) return NULL;
    sm_attr at = {nb_norm_axis(op->name, x, axis)};
    if (at.axis < 0) return NULL;
    return nb_apply_ex(op, &x, 1, x->shape, x->dtype, &at, sizeof at);
}

nb_tensor *nb_softmax(nb_tensor *x, int axis) { return softmax_apply(&softmax_op, x, axis); }
nb_tensor *nb_log_softmax(nb_tensor *x, int axis) { return softmax_apply(&log_softmax_op, x, axis); }

/* ------------------------------------------------------------ nll */

typedef struct {
    nb_reduction r;
} loss_attr;

/* d loss_i / d out: g_i (none), g (sum), g/N (mean) */
#define LOSS_G(G, r, i, N) \
    ((r) == NB_REDUCE_NONE ? (double)(G)[i] : (r) == NB_REDUCE_SUM ? (double)(G)[0] : (double)(G)[0] / (double)(N))

static void nll_fwd(nb_node *n) {
    const nb_reduction r = nb_attr(n, loss_attr)->r;
    const int64_t N = n->in[0]->shape.d[0], C = n->in[0]->shape.d[1];
    const int64_t *lab = nb_i64(n->in[1]);
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *P = (const T *)n->in[0]->data;
        T *O = (T *)n->out->data;
        double acc = 0;
        for (int64_t i = 0; i < N; i++) {
            const double l = -(double)P[i * C + lab[i]];
            if (r == NB_REDUCE_NONE) O[i] = (T)l;
            acc += l;
        }
        if (r != NB_REDUCE_NONE) O[0] = (T)(r == NB_REDUCE_SUM ? acc : acc / (double)N); /* N = 0: NaN, as PyTorch */
    });
}

static void nll_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gpt = nb_grad_buf(n->in[0]);
    if (!gpt) return;
    const nb_reduction r = nb_attr(n, loss_attr)->r;
    const int64_t N = n->in[0]->shape.d[0], C = n->in[0]->shape.d[1];
    const int64_t *lab = nb_i64(n->in[1]);
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *G = (const T *)g->data;
        T *GP = (T *)gpt->data;
        for (int64_t i = 0; i < N; i++) GP[i * C + lab[i]] -= (T)LOSS_G(G, r, i, N);
    });
}

GG_FN(nll);
static const nb_op nll_op = {"nll", nll_fwd, nll_bwd, NB_SAVES_IN(1), false, nll_bwg};

nb_tensor *nb_nll(nb_tensor *logp, nb_tensor *labels, nb_reduction r) {
    static const char *const names[1] = {"logp"};
    if (!logp || !labels || !mu_check_float("nll", 1, &logp, names) || !mu_check_reduction("nll", r)) return NULL;
    if (!nb__alive("nll", "labels", -1, labels)) return NULL; /* read below, before nb_apply */
    char d0[NB_DESCRIBE_LEN + 8], d1[NB_DESCRIBE_LEN + 8];
    if (labels->dtype != NB_I64) {
        nb_fail(NB_ERR_DTYPE, "nll", "labels must be i64 class indices: %s, %s", mu_desc(logp, "logp", d0, sizeof d0),
                mu_desc(labels, "labels", d1, sizeof d1));
        return NULL;
    }
    if (logp->shape.ndim != 2 || labels->shape.ndim != 1 || labels->shape.d[0] != logp->shape.d[0]) {
        nb_fail(NB_ERR_SHAPE, "nll", "needs logp (N,C) and labels (N): %s, %s",
                nb_describe(logp, "logp", d0, sizeof d0), nb_describe(labels, "labels", d1, sizeof d1));
        return NULL;
    }
    const int64_t N = logp->shape.d[0], C = logp->shape.d[1];
    for (int64_t i = 0; i < N; i++) {
        const int64_t y = nb_i64(labels)[i];
        if (y < 0 || y >= C) {
            nb_fail(NB_ERR_ARG, "nll", "label %lld at index %lld is out of range [0, %lld): %s", (long long)y,
                    (long long)i, (long long)C, nb_describe(logp, "logp", d0, sizeof d0));
            return NULL;
        }
    }
    loss_attr at = {r};
    nb_tensor *in[2] = {logp, labels};
    return nb_apply_ex(&nll_op, in, 2, r == NB_REDUCE_NONE ? NB_SHAPE(N) : NB_SCALAR, logp->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ bce_with_logits */

/* loss = max(x,0) − x·y + log1p(e^−|x|), the first two terms as x·(1 − y)
 * for x > 0 (PyTorch's form: x = +inf gives +inf, not inf − inf) and −x·y
 * otherwise (x = −inf gives +inf·y, where PyTorch's form has inf − inf: NaN;
 * tests/test_nan.c lists it); the last term, in [0, log 2], by
 * the vector kernel softplus_negabs in T (within 2 ULP of itself, vmath.h),
 * the rest and the sum in double as before (no cancellation against the
 * rounded term: it is added, never subtracted). Chunks of BCE_CHUNK on the
 * stack. */
#define BCE_CHUNK 512
/* element j of a chunk: the loss in place of sp[j], added to lane `lane` */
#define BCE_TERM(j, lane)                                                                                    \
    do {                                                                                                     \
        const double xj = x[j], l = (xj > 0 ? xj * (1 - (double)y[j]) : -xj * (double)y[j]) + (double)sp[j]; \
        sp[j] = (T)l;                                                                                        \
        acc8[lane] += l;                                                                                     \
    } while (0)
static void bce_fwd(nb_node *n) {
    const nb_reduction r = nb_attr(n, loss_attr)->r;
    const int64_t N = n->in[0]->numel;
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *X = (const T *)n->in[0]->data, *Yt = (const T *)n->in[1]->data;
        T *O = (T *)n->out->data, sp[BCE_CHUNK];
        double acc8[8] = {0}; /* 8 lanes: vectorizes, fixed order */
        for (int64_t i0 = 0; i0 < N; i0 += BCE_CHUNK) {
            const int64_t L = N - i0 < BCE_CHUNK ? N - i0 : BCE_CHUNK;
            const T *x = X + i0, *y = Yt + i0;
            NB_VMATH_T(softplus_negabs, T, sp, x, L);
            int64_t j = 0; /* the loss, in place of sp */
            for (; j + 8 <= L; j += 8)
                for (int q = 0; q < 8; q++) BCE_TERM(j + q, q);
            for (; j < L; j++) BCE_TERM(j, 0);
            if (r == NB_REDUCE_NONE) memcpy(O + i0, sp, (size_t)L * sizeof(T));
        }
        const double acc = ((acc8[0] + acc8[1]) + (acc8[2] + acc8[3])) + ((acc8[4] + acc8[5]) + (acc8[6] + acc8[7]));
        if (r != NB_REDUCE_NONE) O[0] = (T)(r == NB_REDUCE_SUM ? acc : acc / (double)N);
    });
}

/* dx = g·(sigmoid(x) − y), the sigmoid by the vector kernel (stable for any
 * x); dy = −g·x. */
static void bce_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]), *gyt = nb_grad_buf(n->in[1]);
    const nb_reduction r = nb_attr(n, loss_attr)->r;
    const int64_t N = n->in[0]->numel;
    const int nt = nb__elementwise_threads(N, SM_COST); /* chunks independent: split when long */
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *X = (const T *)n->in[0]->data, *Yt = (const T *)n->in[1]->data, *G = (const T *)g->data;
        T *GX = gxt ? (T *)gxt->data : NULL, *GY = gyt ? (T *)gyt->data : NULL;
        NB_PAR_FOR(nt, for (int64_t i0 = 0; i0 < N; i0 += BCE_CHUNK), {
            T sig[BCE_CHUNK];
            const int64_t L = N - i0 < BCE_CHUNK ? N - i0 : BCE_CHUNK;
            if (GX) NB_VMATH_T(sigmoid, T, sig, X + i0, L);
            for (int64_t j = 0; j < L; j++) {
                const int64_t i = i0 + j;
                const double x = X[i], gi = LOSS_G(G, r, i, N);
                if (GX) GX[i] += (T)(gi * ((double)sig[j] - (double)Yt[i]));
                if (GY) GY[i] += (T)(-gi * x);
            }
        });
    });
}

GG_FN(bce);
static const nb_op bce_op = {"bce_with_logits", bce_fwd, bce_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, bce_bwg};

nb_tensor *nb_bce_with_logits(nb_tensor *x, nb_tensor *y, nb_reduction r) {
    nb_tensor *in[2] = {x, y};
    static const char *const names[2] = {"x", "y"};
    if (!mu_check_float("bce_with_logits", 2, in, names) || !mu_check_reduction("bce_with_logits", r)) return NULL;
    if (!nb_shape_eq(x->shape, y->shape)) {
        char d0[NB_DESCRIBE_LEN], d1[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_SHAPE, "bce_with_logits", "x and y must have the same shape: %s, %s",
                nb_describe(x, "x", d0, sizeof d0), nb_describe(y, "y", d1, sizeof d1));
        return NULL;
    }
    loss_attr at = {r};
    return nb_apply_ex(&bce_op, in, 2, r == NB_REDUCE_NONE ? x->shape : NB_SCALAR, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ differentiable backwards */

/* softmax: y·(g − Σ g·y); log_softmax: g − e^y·Σ g (sums along the axis, kept) */
GG_FN(softmax) {
    const int axis = nb_attr(n, sm_attr)->axis;
    nb_tensor *y = n->out;
    gin[0] = nb_mul(y, nb_sub(g, nb_sum(nb_mul(g, y), &axis, 1, true)));
}
GG_FN(log_softmax) {
    const int axis = nb_attr(n, sm_attr)->axis;
    gin[0] = nb_sub(g, nb_mul(nb_exp(n->out), nb_sum(g, &axis, 1, true)));
}

/* g broadcast to each element of a loss's input: g_i (none), g (sum), g/N (mean) */
static nb_tensor *loss_upstream(nb_tensor *g, nb_reduction r, nb_shape s, int64_t N) {
    if (r == NB_REDUCE_NONE) return g;
    nb_tensor *e = nb_expand(g, s);
    return r == NB_REDUCE_SUM ? e : nb_mul_scalar(e, 1.0 / (double)N);
}

/* nll: −g at each row's label; the kernel's weights (−1, −1/N at the labels)
 * times g broadcast along the classes */
GG_FN(nll) {
    const nb_reduction r = nb_attr(n, loss_attr)->r;
    nb_tensor *w = gg_kernel_vjp(n, 0, nb_ones(n->out->dtype, n->out->shape));
    nb_tensor *gb = r == NB_REDUCE_NONE ? nb_expand(nb_reshape(g, NB_SHAPE(g->numel, 1)), n->in[0]->shape)
                                        : nb_expand(g, n->in[0]->shape);
    gin[0] = nb_mul(w, gb);
}

/* bce_with_logits: dx = g·(sigmoid(x) − y), dy = −g·x */
GG_FN(bce) {
    const nb_reduction r = nb_attr(n, loss_attr)->r;
    nb_tensor *x = n->in[0], *y = n->in[1];
    nb_tensor *gs = loss_upstream(g, r, x->shape, x->numel);
    if (GG_NEED(0)) gin[0] = nb_mul(gs, nb_sub(nb_sigmoid(x), y));
    if (GG_NEED(1)) gin[1] = nb_neg(nb_mul(gs, x));
}

/* ------------------------------------------------------------ registry */

/* softmax, log_softmax: iarg[0] = axis (negatives too). */
static int softmax_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x;
        int axis;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 5), 1, "rows of (3,5)"},
        {NB_SHAPE(3, 5), 0, "columns of (3,5)"},
        {NB_SHAPE(2, 3, 4), 1, "middle axis of (2,3,4)"},
        {NB_SHAPE(2, 3, 4), -1, "axis -1 of (2,3,4)"},
        {NB_SHAPE(1, 7), -1, "batch of one (1,7)"},
        {NB_SHAPE(5), 0, "vector (5)"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 1};
        s[k].in[0] = nb_sample_uniform(cases[i].x, -3, 3);
        s[k].iarg[0] = cases[i].axis;
    }
    return k;
}
static nb_tensor *softmax_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_softmax(in[0], (int)s->iarg[0]);
}
static nb_tensor *log_softmax_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_log_softmax(in[0], (int)s->iarg[0]);
}
const nb_op_entry nb_entry_softmax = {"softmax", softmax_entry_apply, softmax_samples, 0, 0};
const nb_op_entry nb_entry_log_softmax = {"log_softmax", log_softmax_entry_apply, softmax_samples, 0, 0};

/* nll: logp (N,C) in [-3, 0), labels random in [0, C) (i64, no grad);
 * iarg[0] = reduction. */
static int nll_samples(nb_sample *s, int max) {
    static const struct {
        int64_t N, C;
        nb_reduction r;
        const char *desc;
    } cases[] = {
        {4, 5, NB_REDUCE_MEAN, "(4,5) mean"},
        {3, 7, NB_REDUCE_SUM, "(3,7) sum"},
        {5, 3, NB_REDUCE_NONE, "(5,3) none"},
        {1, 4, NB_REDUCE_MEAN, "batch of one (1,4) mean"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 2};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(cases[i].N, cases[i].C), -3, 0);
        s[k].in[1] = nb_zeros(NB_I64, NB_SHAPE(cases[i].N));
        for (int64_t j = 0; j < cases[i].N; j++)
            nb_i64(s[k].in[1])[j] = (int64_t)(nb_rand_uniform() * (double)cases[i].C);
        s[k].iarg[0] = cases[i].r;
    }
    return k;
}
static nb_tensor *nll_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_nll(in[0], in[1], (nb_reduction)s->iarg[0]);
}
const nb_op_entry nb_entry_nll = {"nll", nll_entry_apply, nll_samples, 0, 0};

/* bce_with_logits: x in [-3, 3), y in [0, 1) (with and without grad);
 * iarg[0] = reduction. */
static int bce_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x;
        nb_reduction r;
        bool y_grad;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(4, 5), NB_REDUCE_MEAN, false, "(4,5) mean, y fixed"},
        {NB_SHAPE(3, 7), NB_REDUCE_SUM, true, "(3,7) sum, y requires grad"},
        {NB_SHAPE(7), NB_REDUCE_NONE, true, "(7) none"},
        {NB_SHAPE(1, 1), NB_REDUCE_MEAN, false, "batch of one (1,1)"},
        {NB_SHAPE(2, 3, 5), NB_REDUCE_MEAN, true, "3-D (2,3,5) mean"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 2};
        s[k].in[0] = nb_sample_uniform(cases[i].x, -3, 3);
        s[k].in[1] = nb_set_requires_grad(nb_sample_uniform(cases[i].x, 0, 1), cases[i].y_grad);
        s[k].iarg[0] = cases[i].r;
    }
    return k;
}
static nb_tensor *bce_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_bce_with_logits(in[0], in[1], (nb_reduction)s->iarg[0]);
}
const nb_op_entry nb_entry_bce_with_logits = {"bce_with_logits", bce_entry_apply, bce_samples, 0, 0};
