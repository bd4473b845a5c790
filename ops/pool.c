/* ops/pool.c — max_pool2d, avg_pool2d, global_avg_pool2d over NCHW planes.
 *
 * Each (n, c) plane is pooled on its own, with PyTorch's semantics
 * (F.max_pool2d / F.avg_pool2d and aten's pooling_output_shape). Along an
 * axis of size n with kernel k, stride s, padding p, dilation d (max only),
 * the window of output i covers the positions i·s − p + q·d, q < k, and
 *
 *   out = ⌊(n + 2p − d(k−1) − 1 + (ceil_mode ? s − 1 : 0)) / s⌋ + 1,
 *   less one if ceil_mode and the last window starts at or past n + p
 *   (every window starts inside the image or its left/top padding).
 *
 * max_pool2d: padding (and the ceil-mode overhang) counts as −inf; a window
 * with no real element at all (possible only with dilation and padding)
 * gives −inf and passes no gradient. Forward saves, per output, the flat
 * index h·W + w of the winner in its plane (NB_I64, as PyTorch's indices;
 * −1 for an empty window); backward adds each output's gradient there, so
 * overlapping windows accumulate. The 2×2 stride-2 case without padding,
 * dilation or overhang has its own kernels (pool2_*: one byte per winner).
 *
 * avg_pool2d: the window is clipped to the padded image [−p, n + p) (the
 * ceil-mode overhang is not counted), then to the image. The divisor is the
 * clipped-to-padded window's size with count_include_pad, else the number of
 * real elements; without ceil_mode and with count_include_pad it is kh·kw.
 * The pad <= kernel/2 rule (PyTorch's) guarantees every avg window holds at
 * least one real element. */
#include <math.h>

#include "../autograd/internal.h"
#include "grad_graph.h"
#include "kernels/pool2.h"
#include "kernels/vmath.h"

#include <string.h>

typedef struct {
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t include_pad; /* avg: count_include_pad */
} pool_attr;

typedef nb_pool2_dims pool_dims; /* planes, H, W, Ho, Wo */

static pool_dims pdims(const nb_node *n) {
    const nb_tensor *x = n->in[0];
    return (pool_dims){x->shape.d[0] * x->shape.d[1], x->shape.d[2], x->shape.d[3], n->out->shape.d[2],
                       n->out->shape.d[3]};
}

/* The positions of the dilated window of output index i that lie in [0, n):
 * *lo, *lo + d, ... < *hi (empty when *lo >= *hi). */
static inline void window(int64_t i, int64_t s, int64_t p, int64_t k, int64_t d, int64_t n, int64_t *lo, int64_t *hi) {
    int64_t a = i * s - p, b = a + (k - 1) * d + 1;
    if (a < 0) a += (-a + d - 1) / d * d; /* the first position >= 0 */
    *lo = a;
    *hi = b > n ? n : b;
}

/* avg: the window of output i clipped to the padded axis [−p, n + p) — its
 * size *cnt counts padding — then to [0, n): [*lo, *hi). */
static inline void avg_window(int64_t i, int64_t s, int64_t p, int64_t k, int64_t n, int64_t *lo, int64_t *hi,
                              int64_t *cnt) {
    int64_t a = i * s - p, b = a + k;
    if (b > n + p) b = n + p;
    *cnt = b - a;
    *lo = a < 0 ? 0 : a;
    *hi = b > n ? n : b;
}

/* ------------------------------------------------------------ max */

/* 2×2 windows at stride 2 without padding (the usual CNN pooling): every
 * window lies inside the image; kernels/pool2.c. The winner of each window
 * is saved as one byte per output (in an I64 tensor of ⌈numel/8⌉ elements:
 * an eighth of the general path's indices, less memory traffic). Same
 * winner as the general path: the first max in row-major order, the first
 * NaN if any. */
static bool pool_two(const pool_attr *a, const pool_dims *d) {
    return a->kh == 2 && a->kw == 2 && a->sh == 2 && a->sw == 2 && a->ph == 0 && a->pw == 0 && a->dh == 1 &&
        a->dw == 1 && 2 * d->Ho <= d->H && 2 * d->Wo <= d->W; /* no ceil-mode overhang */
}

static void maxpool_fwd(nb_node *n) {
    const pool_attr *a = nb_attr(n, pool_attr);
    const nb_tensor *x = n->in[0];
    const pool_dims d = pdims(n);
    /* Only a recorded node needs the winners. */
    const bool rec = nb_grad_enabled() && x->requires_grad;
    if (pool_two(a, &d)) {
        const int64_t m = n->out->numel;
        nb_tensor *arg = rec ? nb_node_save_new(n, NB_I64, NB_SHAPE((m + 7) / 8)) : NULL;
        uint8_t *K = arg ? (uint8_t *)arg->data : NULL;
        if (x->dtype == NB_F32) nb_pool2_fwd_f32((float *)n->out->data, K, (const float *)x->data, &d);
        else nb_pool2_fwd_f64((double *)n->out->data, K, (const double *)x->data, &d);
        return;
    }
    nb_tensor *arg = rec ? nb_node_save_new(n, NB_I64, n->out->shape) : NULL;
    int64_t *A = arg ? nb_i64(arg) : NULL;
    const int64_t dh = a->dh, dw = a->dw;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *Y = (T *)n->out->data;
        for (int64_t pl = 0; pl < d.planes; pl++) {
            const T *xp = X + pl * d.H * d.W;
            T *yp = Y + pl * d.Ho * d.Wo;
            int64_t *ap = A ? A + pl * d.Ho * d.Wo : NULL;
            for (int64_t i = 0; i < d.Ho; i++) {
                int64_t h0, h1;
                window(i, a->sh, a->ph, a->kh, dh, d.H, &h0, &h1);
                for (int64_t j = 0; j < d.Wo; j++) {
                    int64_t w0, w1;
                    window(j, a->sw, a->pw, a->kw, dw, d.W, &w0, &w1);
                    if (h0 >= h1 || w0 >= w1) { /* all padding (dilated): PyTorch's −inf */
                        yp[i * d.Wo + j] = -(T)INFINITY;
                        if (ap) ap[i * d.Wo + j] = -1;
                        continue;
                    }
                    int64_t best_at = h0 * d.W + w0;
                    T best = xp[best_at];
                    for (int64_t h = h0; h < h1; h += dh) {
                        const T *r = xp + h * d.W;
                        for (int64_t w = w0; w < w1; w += dw) { /* first max; a NaN wins */
                            const int take = (r[w] > best) | ((r[w] != r[w]) & (best == best));
                            best = take ? r[w] : best;
                            best_at = take ? h * d.W + w : best_at;
                        }
                    }
                    yp[i * d.Wo + j] = best;
                    if (ap) ap[i * d.Wo + j] = best_at;
                }
            }
        }
    });
}

static void maxpool_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt || !n->saved) return;
    const pool_dims d = pdims(n);
    if (pool_two(nb_attr(n, pool_attr), &d)) {
        const uint8_t *K = (const uint8_t *)n->saved->data;
        if (gxt->dtype == NB_F32) nb_pool2_bwd_f32((float *)gxt->data, (const float *)g->data, K, &d);
        else nb_pool2_bwd_f64((double *)gxt->data, (const double *)g->data, K, &d);
        return;
    }
    const int64_t *A = nb_i64(n->saved), HW = d.H * d.W, P = d.Ho * d.Wo;
    NB_FLOAT_DISPATCH(gxt->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        for (int64_t pl = 0; pl < d.planes; pl++) {
            T *gp = GX + pl * HW;
            const T *gop = G + pl * P;
            const int64_t *ap = A + pl * P;
            for (int64_t o = 0; o < P; o++)
                if (ap[o] >= 0) gp[ap[o]] += gop[o]; /* −1: an empty window */
        }
    });
}

/* backward reads only the saved winners */
GG_FN(maxpool);
static const nb_op max_pool2d_op = {"max_pool2d", maxpool_fwd, maxpool_bwd, NB_SAVES_NOTHING, false, maxpool_bwg};

/* ------------------------------------------------------------ avg */

/* The divisor's reciprocal (multiplying keeps the bits of the kh·kw case). */
#define AVG_INV(T, a, cnt_h, cnt_w, h0, h1, w0, w1) \
    ((T)1 / (T)((a)->include_pad ? (cnt_h) * (cnt_w) : ((h1) - (h0)) * ((w1) - (w0))))

static void avgpool_fwd(nb_node *n) {
    const pool_attr *a = nb_attr(n, pool_attr);
    const nb_tensor *x = n->in[0];
    const pool_dims d = pdims(n);
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *Y = (T *)n->out->data;
        for (int64_t pl = 0; pl < d.planes; pl++) {
            const T *xp = X + pl * d.H * d.W;
            T *yp = Y + pl * d.Ho * d.Wo;
            for (int64_t i = 0; i < d.Ho; i++) {
                int64_t h0, h1, ch;
                avg_window(i, a->sh, a->ph, a->kh, d.H, &h0, &h1, &ch);
                for (int64_t j = 0; j < d.Wo; j++) {
                    int64_t w0, w1, cw;
                    avg_window(j, a->sw, a->pw, a->kw, d.W, &w0, &w1, &cw);
                    T s = 0;
                    for (int64_t h = h0; h < h1; h++)
                        for (int64_t w = w0; w < w1; w++) s += xp[h * d.W + w];
                    yp[i * d.Wo + j] = s * AVG_INV(T, a, ch, cw, h0, h1, w0, w1);
                }
            }
        }
    });
}

static void avgpool_bwd(nb_node *n, const nb_tensor *g) {
    const pool_attr *a = nb_attr(n, pool_attr);
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt) return;
    const pool_dims d = pdims(n);
    NB_FLOAT_DISPATCH(gxt->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        for (int64_t pl = 0; pl < d.planes; pl++) {
            T *gp = GX + pl * d.H * d.W;
            const T *gop = G + pl * d.Ho * d.Wo;
            for (int64_t i = 0; i < d.Ho; i++) {
                int64_t h0, h1, ch;
                avg_window(i, a->sh, a->ph, a->kh, d.H, &h0, &h1, &ch);
                for (int64_t j = 0; j < d.Wo; j++) {
                    int64_t w0, w1, cw;
                    avg_window(j, a->sw, a->pw, a->kw, d.W, &w0, &w1, &cw);
                    const T v = gop[i * d.Wo + j] * AVG_INV(T, a, ch, cw, h0, h1, w0, w1);
                    for (int64_t h = h0; h < h1; h++)
                        for (int64_t w = w0; w < w1; w++) gp[h * d.W + w] += v;
                }
            }
        }
    });
}

/* backward reads nothing but the shapes */
GG_FN(avgpool);
static const nb_op avg_pool2d_op = {"avg_pool2d", avgpool_fwd, avgpool_bwd, NB_SAVES_NOTHING, false, avgpool_bwg};

/* ------------------------------------------------------------ builders */

static nb_tensor *pool_build(const nb_op *op, nb_tensor *x, const nb_pool2d_opts *o) {
    const char *name = op->name;
    const bool is_avg = op == &avg_pool2d_op;
    if (!nb_check_float_inputs(name, &x, 1)) return NULL;
    char dx[NB_DESCRIBE_LEN];
    nb_describe(x, "x", dx, sizeof dx);
    if (!o) {
        nb_fail(NB_ERR_ARG, name, "options are NULL (start from NB_POOL2D_DEFAULT(kh, kw)): %s", dx);
        return NULL;
    }
    if (x->shape.ndim != 4) {
        nb_fail(NB_ERR_SHAPE, name, "x must be 4-D (N,C,H,W): %s", dx);
        return NULL;
    }
    if (x->shape.d[2] < 1 || x->shape.d[3] < 1) {
        nb_fail(NB_ERR_SHAPE, name, "empty image (H and W must be >= 1): %s", dx);
        return NULL;
    }
    const int *k = o->kernel, *s = o->stride, *p = o->pad, *dil = o->dilation;
    if (is_avg && (dil[0] != 1 || dil[1] != 1)) {
        nb_fail(NB_ERR_ARG, name, "has no dilation (as in PyTorch): dilation must be (1,1), got (%d,%d): %s", dil[0],
                dil[1], dx);
        return NULL;
    }
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        const char *ax = i == 0 ? "height" : "width";
        if (k[i] < 1) {
            nb_fail(NB_ERR_ARG, name, "window %s must be >= 1, got %d: %s", ax, k[i], dx);
            return NULL;
        }
        if (s[i] < 1) {
            nb_fail(NB_ERR_ARG, name, "stride (%s) must be >= 1, got %d: %s", ax, s[i], dx);
            return NULL;
        }
        if (dil[i] < 1) {
            nb_fail(NB_ERR_ARG, name, "dilation (%s) must be >= 1, got %d: %s", ax, dil[i], dx);
            return NULL;
        }
        if (p[i] < 0) {
            nb_fail(NB_ERR_ARG, name, "padding (%s) must be >= 0, got %d: %s", ax, p[i], dx);
            return NULL;
        }
        if (p[i] > k[i] / 2) {
            nb_fail(NB_ERR_ARG, name, "padding (%s) %d is more than half the window %d (at most %d): %s", ax, p[i],
                    k[i], k[i] / 2, dx);
            return NULL;
        }
        /* aten's pooling_output_shape: ⌊·⌋ rounds toward −inf (div_rtn) */
        const int64_t n = x->shape.d[2 + i], ek = (int64_t)dil[i] * (k[i] - 1) + 1, padded = n + 2 * (int64_t)p[i];
        const int64_t num = padded - ek + (o->ceil_mode ? s[i] - 1 : 0);
        out[i] = (num >= 0 ? num / s[i] : -((-num + s[i] - 1) / s[i])) + 1;
        if (o->ceil_mode && (out[i] - 1) * s[i] >= n + p[i]) out[i]--; /* the last window starts in the image */
        if (out[i] < 1) { /* only when ek > padded: in ceil mode, by more than the stride − 1 */
            const char *ceil = o->ceil_mode ? " (even in ceil mode)" : "";
            if (dil[i] > 1)
                nb_fail(NB_ERR_SHAPE, name,
                        "window %s %d at dilation %d spans %lld, bigger than the padded input %lld (%lld + 2*%d): "
                        "the output would be empty%s: %s",
                        ax, k[i], dil[i], (long long)ek, (long long)padded, (long long)n, p[i], ceil, dx);
            else
                nb_fail(NB_ERR_SHAPE, name,
                        "window %s %d is bigger than the padded input %lld (%lld + 2*%d): the output would be "
                        "empty%s: %s",
                        ax, k[i], (long long)padded, (long long)n, p[i], ceil, dx);
            return NULL;
        }
    }
    pool_attr a = {k[0], k[1], s[0], s[1], p[0], p[1], dil[0], dil[1], o->count_include_pad};
    return nb_apply_ex(op, &x, 1, NB_SHAPE(x->shape.d[0], x->shape.d[1], out[0], out[1]), x->dtype, &a, sizeof a);
}

nb_tensor *nb_max_pool2d_ex(nb_tensor *x, const nb_pool2d_opts *o) { return pool_build(&max_pool2d_op, x, o); }

nb_tensor *nb_avg_pool2d_ex(nb_tensor *x, const nb_pool2d_opts *o) { return pool_build(&avg_pool2d_op, x, o); }

static nb_pool2d_opts plain_opts(int kh, int kw, int sh, int sw, int ph, int pw) {
    return (nb_pool2d_opts){{kh, kw}, {sh, sw}, {ph, pw}, {1, 1}, false, true};
}

nb_tensor *nb_max_pool2d(nb_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) {
    const nb_pool2d_opts o = plain_opts(kh, kw, sh, sw, ph, pw);
    return pool_build(&max_pool2d_op, x, &o);
}

nb_tensor *nb_avg_pool2d(nb_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) {
    const nb_pool2d_opts o = plain_opts(kh, kw, sh, sw, ph, pw);
    return pool_build(&avg_pool2d_op, x, &o);
}

/* ------------------------------------------------------------ global avg */

static void gap_fwd(nb_node *n) {
    const nb_tensor *x = n->in[0];
    const int64_t planes = n->out->numel, HW = planes ? x->numel / planes : 0;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = (const T *)x->data;
        T *Y = (T *)n->out->data;
        for (int64_t pl = 0; pl < planes; pl++) {
            const T *xp = X + pl * HW;
            T s = 0;
            for (int64_t i = 0; i < HW; i++) s += xp[i];
            Y[pl] = s / (T)HW;
        }
    });
}

static void gap_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt) return;
    const int64_t planes = n->out->numel, HW = planes ? gxt->numel / planes : 0;
    NB_FLOAT_DISPATCH(gxt->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        for (int64_t pl = 0; pl < planes; pl++) {
            T *gp = GX + pl * HW;
            const T v = G[pl] / (T)HW;
            for (int64_t i = 0; i < HW; i++) gp[i] += v;
        }
    });
}

GG_FN(gap);
static const nb_op gap_op = {"global_avg_pool2d", gap_fwd, gap_bwd, NB_SAVES_NOTHING, false, gap_bwg};

nb_tensor *nb_global_avg_pool2d(nb_tensor *x) {
    if (!nb_check_float_inputs("global_avg_pool2d", &x, 1)) return NULL;
    char dx[NB_DESCRIBE_LEN];
    if (x->shape.ndim != 4) {
        nb_fail(NB_ERR_SHAPE, "global_avg_pool2d", "x must be 4-D (N,C,H,W): %s", nb_describe(x, "x", dx, sizeof dx));
        return NULL;
    }
    if (x->shape.d[2] < 1 || x->shape.d[3] < 1) {
        nb_fail(NB_ERR_SHAPE, "global_avg_pool2d", "empty image (mean of nothing): %s",
                nb_describe(x, "x", dx, sizeof dx));
        return NULL;
    }
    return nb_apply(&gap_op, &x, 1, NB_SHAPE(x->shape.d[0], x->shape.d[1]));
}

/* ------------------------------------------------------------ registry */

/* Distinct values, at least 0.5 apart (a shuffled ramp plus uniform jitter),
 * so no window holds a tie or a near-tie the gradcheck step could flip. */
static nb_tensor *distinct_sample(nb_shape s) {
    nb_tensor *t = nb_sample_uniform(s, 0, 0.5);
    const int64_t n = t->numel;
    double *v = nb_f64(t);
    int64_t perm[256];
    if (n > 256) return t; /* samples stay small */
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(nb_rand_u64() % (uint64_t)(i + 1)), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int64_t i = 0; i < n; i++) v[i] += (double)perm[i] - 0.5 * (double)n;
    return t;
}

/* iarg = kh, kw, sh, sw, ph, pw, flags, dilation: flags 1 = ceil_mode,
 * 2 = count_include_pad off (avg); dilation = 10·dh + dw, 0 = none (so the
 * old six-number samples read as before). */
enum { POOL_CEIL = 1, POOL_EXCLUDE_PAD = 2 };

static nb_pool2d_opts sample_opts(const int64_t *a) {
    nb_pool2d_opts o = NB_POOL2D_DEFAULT((int)a[0], (int)a[1]);
    o.stride[0] = (int)a[2], o.stride[1] = (int)a[3], o.pad[0] = (int)a[4], o.pad[1] = (int)a[5];
    o.ceil_mode = (a[6] & POOL_CEIL) != 0;
    o.count_include_pad = (a[6] & POOL_EXCLUDE_PAD) == 0;
    if (a[7]) o.dilation[0] = (int)(a[7] / 10), o.dilation[1] = (int)(a[7] % 10);
    return o;
}

static nb_tensor *max_pool2d_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    const nb_pool2d_opts o = sample_opts(s->iarg);
    return nb_max_pool2d_ex(in[0], &o);
}

static nb_tensor *avg_pool2d_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    const nb_pool2d_opts o = sample_opts(s->iarg);
    return nb_avg_pool2d_ex(in[0], &o);
}

typedef struct {
    nb_shape x;
    int k[2], s[2], p[2], flags, dil;
    const char *desc;
} pool_case;

static const pool_case pool_cases[] = {
    /* both ops */
    {NB_SHAPE(2, 2, 4, 4), {2, 2}, {2, 2}, {0, 0}, 0, 0, "(2,2,4,4) 2x2 stride 2"},
    {NB_SHAPE(2, 2, 5, 5), {3, 3}, {2, 2}, {1, 1}, 0, 0, "3x3 stride 2 padding 1 (overlapping)"},
    {NB_SHAPE(1, 3, 5, 4), {3, 2}, {1, 1}, {1, 1}, 0, 0, "batch of 1, 3x2 stride 1 (overlapping), padding 1"},
    {NB_SHAPE(2, 1, 5, 7), {2, 3}, {1, 2}, {0, 1}, 0, 0, "odd sizes, 2x3 stride (1,2), padding (0,1)"},
};

static const pool_case max_cases[] = {
    {NB_SHAPE(1, 2, 5, 7),
     {2, 2},
     {2, 2},
     {0, 0},
     POOL_CEIL,
     0,
     "batch of 1, 2x2 stride 2 ceil_mode (last row and column overhang)"},
    {NB_SHAPE(2, 1, 5, 6),
     {2, 2},
     {2, 2},
     {1, 1},
     POOL_CEIL,
     0,
     "2x2 stride 2 padding 1 ceil_mode (a last row window dropped, a column one overhangs)"},
    {NB_SHAPE(2, 1, 7, 6), {3, 2}, {1, 2}, {1, 1}, 0, 22, "dilation 2, 3x2 stride (1,2), padding 1"},
    {NB_SHAPE(1, 3, 6, 5),
     {2, 3},
     {2, 2},
     {1, 1},
     POOL_CEIL,
     21,
     "batch of 1, dilation (2,1), 2x3 stride 2, padding 1, ceil_mode (overhang)"},
};

static const pool_case avg_cases[] = {
    {NB_SHAPE(2, 2, 5, 5),
     {3, 3},
     {2, 2},
     {1, 1},
     POOL_EXCLUDE_PAD,
     0,
     "count_include_pad=false, 3x3 stride 2 padding 1"},
    {NB_SHAPE(1, 2, 6, 7),
     {3, 3},
     {2, 2},
     {1, 1},
     POOL_CEIL,
     0,
     "batch of 1, 3x3 stride 2 padding 1, ceil_mode (overhang: divisor 6)"},
    {NB_SHAPE(1, 1, 5, 8),
     {2, 3},
     {2, 2},
     {1, 0},
     POOL_CEIL | POOL_EXCLUDE_PAD,
     0,
     "ceil_mode, count_include_pad=false, 2x3 stride 2 padding (1,0)"},
    {NB_SHAPE(2, 1, 4, 7),
     {2, 2},
     {1, 3},
     {0, 0},
     POOL_CEIL,
     0,
     "odd sizes, 2x2 stride (1,3) ceil_mode (a last window of one column)"},
};

static int add_cases(nb_sample *s, int k, int max, const pool_case *c, size_t nc, bool distinct) {
    for (size_t i = 0; i < nc && k < max; i++, k++) {
        s[k] = (nb_sample){
            .desc = c[i].desc,
            .nin = 1,
            .iarg = {c[i].k[0], c[i].k[1], c[i].s[0], c[i].s[1], c[i].p[0], c[i].p[1], c[i].flags, c[i].dil}};
        s[k].in[0] = distinct ? distinct_sample(c[i].x) : nb_sample_uniform(c[i].x, -1, 1);
    }
    return k;
}

#define NCASES(a) (sizeof(a) / sizeof(a)[0])
static int max_pool2d_samples(nb_sample *s, int max) {
    return add_cases(s, add_cases(s, 0, max, pool_cases, NCASES(pool_cases), true), max, max_cases, NCASES(max_cases),
                     true);
}
static int avg_pool2d_samples(nb_sample *s, int max) {
    return add_cases(s, add_cases(s, 0, max, pool_cases, NCASES(pool_cases), false), max, avg_cases, NCASES(avg_cases),
                     false);
}

const nb_op_entry nb_entry_max_pool2d = {"max_pool2d", max_pool2d_entry_apply, max_pool2d_samples, 0, 0};
const nb_op_entry nb_entry_avg_pool2d = {"avg_pool2d", avg_pool2d_entry_apply, avg_pool2d_samples, 0, 0};

static nb_tensor *gap_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_global_avg_pool2d(in[0]);
}

static int gap_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(2, 3, 4, 5), "(2,3,4,5)"},
        {NB_SHAPE(1, 2, 1, 1), "batch of 1, 1x1 image"},
        {NB_SHAPE(3, 1, 3, 2), "one channel"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1};
        s[k].in[0] = nb_sample_uniform(cases[c].x, -1, 1);
    }
    return k;
}

const nb_op_entry nb_entry_global_avg_pool2d = {"global_avg_pool2d", gap_entry_apply, gap_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backwards */

/* avg_pool2d and global_avg_pool2d are linear: their adjoints (the kernel
 * backwards, as ops whose derivative is the pooling again). */
NB_ADJOINT_OP(avg_pool2d_adj, "avg_pool2d_backward");
NB_ADJOINT_OP(gap_adj, "global_avg_pool2d_backward");
GG_FN(avgpool) { gin[0] = nb__adjoint(&avg_pool2d_adj, n, 0, 1u, 1, sizeof(pool_attr), g); }
GG_FN(gap) { gin[0] = nb__adjoint(&gap_adj, n, 0, 1u, 1, 0, g); }

/* max_pool2d with its winners held is a gather: y = x (N,C,H·W) gathered at
 * the winners (N,C,Ho·Wo) along the last axis, so its gradient is the
 * gather's. The winners come from the node: its saved indices, or, for the
 * packed 2×2 case (disjoint windows), the kernel backward run on 1..P per
 * plane, which lands p + 1 on output p's winner. Empty windows (all padding:
 * −inf, index −1) pass no gradient: g is masked there. */
GG_FN(maxpool) {
    nb_tensor *x = n->in[0];
    if (!n->saved) {
        nb_fail(NB_ERR_GRAPH, "max_pool2d", "the node kept no winners (its input required no grad in forward)");
        return;
    }
    const pool_dims d = pdims(n);
    const int64_t HW = d.H * d.W, P = d.Ho * d.Wo, N = x->shape.d[0], C = x->shape.d[1];
    nb_tensor *idx = nb_empty(NB_I64, NB_SHAPE(N, C, P)), *valid = NULL;
    if (!idx) return;
    int64_t *I = nb_i64(idx);
    if (pool_two(nb_attr(n, pool_attr), &d)) {
        nb_tensor *ramp = nb_empty(NB_F64, n->out->shape);
        if (!ramp) return;
        for (int64_t pl = 0; pl < d.planes; pl++)
            for (int64_t p = 0; p < P; p++) nb_f64(ramp)[pl * P + p] = (double)(p + 1);
        nb_node m = *n;
        nb_tensor xh = *x, *xin[1] = {&xh};
        xh.dtype = NB_F64; /* the kernel only reads shapes and the winners */
        m.in = xin;
        nb_tensor *hit = gg_kernel_vjp(&m, 0, ramp);
        if (!hit) return;
        for (int64_t i = 0; i < idx->numel; i++) I[i] = 0;
        for (int64_t pl = 0; pl < d.planes; pl++)
            for (int64_t q = 0; q < HW; q++) {
                const int64_t v = (int64_t)nb_f64(hit)[pl * HW + q];
                if (v > 0) I[pl * P + v - 1] = q;
            }
    } else {
        const int64_t *A = nb_i64(n->saved);
        bool empty = false;
        for (int64_t i = 0; i < idx->numel; i++) {
            I[i] = A[i] >= 0 ? A[i] : 0;
            empty |= A[i] < 0;
        }
        if (empty) {
            valid = nb_empty(x->dtype, NB_SHAPE(N, C, P));
            if (!valid) return;
            for (int64_t i = 0; i < idx->numel; i++) nb_set(valid, i, A[i] >= 0);
        }
    }
    nb_tensor *gf = nb_reshape(g, NB_SHAPE(N, C, P));
    if (valid) gf = nb_mul(gf, valid);
    nb_tensor *y = nb_gather(nb_reshape(x, NB_SHAPE(N, C, HW)), 2, idx);
    if (!y || !gf) return;
    nb_tensor *gx[2] = {NULL, NULL};
    if (y->node && y->node->op->backward_graph) y->node->op->backward_graph(y->node, gf, gx);
    gin[0] = gx[0] ? nb_reshape(gx[0], x->shape) : NULL;
}
