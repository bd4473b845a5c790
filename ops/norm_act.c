/* ops/norm_act.c — the transformer's non-attention primitives: layer_norm
 * and rms_norm over the last k dims (fused forward and backward, one row at
 * a time), and the activations gelu (exact, erf), gelu_tanh and silu.
 *
 * Norms see x as (rows, D), D the product of the last k dims (f32 on
 * AVX-512: kernels/norm_f32.h, sums in f32 over 16 lanes; the rest
 * kernels/norm_rows.h). Forward keeps
 * each row's statistics (layer_norm: mean and 1/σ; rms_norm: 1/rms) in a
 * saved F64 tensor of the node, so backward reads x, the weight and those,
 * never a recomputed reduction. Sums run in double with 8 lanes (so the
 * compiler vectorizes them and the order is fixed, whatever the ISA);
 * layer_norm's variance is the two-pass Σ(x − μ)²/D (no cancellation of
 * E[x²] − μ²). Rows are split between threads when long (NB_PAR_FOR);
 * the weight and bias gradients are a second pass split by columns, each
 * column summed over the rows in row order — the same bits for any thread
 * count.
 *
 * The activations work in chunks of ACT_CHUNK elements on the stack: erf,
 * tanh, exp and sigmoid by the SLEEF kernels of kernels/vmath.h in the
 * tensor's type, the rest of each formula in that type as PyTorch does;
 * f32 gelu on AVX-512 by kernels/gelu_f32.h instead (its own Φ, ~3x
 * faster than SLEEF's erfcf alone, within a few ULP, tails included). */
#include "math_util.h"
#include "kernels/cpu.h"
#include "kernels/vmath.h"
#include "kernels/gelu_f32.h"
#include "kernels/norm_f32.h"
#include "kernels/norm_rows.h"
#include "kernels/act_chunk.h"
#include "grad_graph.h"
#include <float.h>

/* ------------------------------------------------------------ norms */

typedef struct {
    double eps;
    int k;      /* normalized dims (the last k) */
    bool has_w; /* in[1] is the weight */
    bool has_b; /* in[1 + has_w] is the bias (layer_norm only) */
    bool rms;   /* rms_norm: no centring, no bias */
} norm_attr;

/* Multiply-add equivalents per element of a row pass (three or four light
 * passes over a row in cache; nb__elementwise_threads). */
#define NORM_COST 48

static void norm_dims(const nb_node *n, int64_t *rows, int64_t *D) {
    const nb_shape s = n->in[0]->shape;
    const int k = nb_attr(n, norm_attr)->k;
    int64_t d = 1;
    for (int i = s.ndim - k; i < s.ndim; i++) d *= s.d[i];
    *D = d;
    *rows = d ? n->in[0]->numel / d : 0;
}

/* F(T-suffixed kernel)(args) for T = float/double, AVX2 or baseline */
#define NORM_CALL(T, NAME, ...)                     \
    do {                                            \
        if (sizeof(T) == sizeof(float)) {           \
            if (avx2) NAME##_f32_avx2(__VA_ARGS__); \
            else NAME##_f32(__VA_ARGS__);           \
        } else {                                    \
            if (avx2) NAME##_f64_avx2(__VA_ARGS__); \
            else NAME##_f64(__VA_ARGS__);           \
        }                                           \
    } while (0)

/* Rows per parallel chunk (NB_PAR_FOR over chunks of rows). */
#define NORM_ROWS 16

/* Forward: per row, μ (layer_norm) or 0 (rms_norm), r = 1/√(var + eps)
 * (var = mean of (x − μ)²), saved as (μ, r) per row. */
static void norm_fwd(nb_node *n) {
    const norm_attr *a = nb_attr(n, norm_attr);
    int64_t rows, D;
    norm_dims(n, &rows, &D);
    nb_tensor *st = nb_node_save_new(n, NB_F64, NB_SHAPE(rows, 2));
    if (!st || rows == 0) return;
    double *S = nb_f64(st);
    const int nt = nb__elementwise_threads(rows * D, NORM_COST);
    const bool avx2 = norm_avx2();
    const bool f32_fast = n->out->dtype == NB_F32 && nb_norm_f32_fast(); /* kernels/norm_f32.h */
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const void *X = n->in[0]->data;
        const void *W = a->has_w ? n->in[1]->data : NULL;
        const void *B = a->has_b ? n->in[1 + a->has_w]->data : NULL;
        void *Y = n->out->data;
        NB_PAR_FOR(nt, for (int64_t r0 = 0; r0 < rows; r0 += NORM_ROWS), {
            const int64_t r1 = rows - r0 < NORM_ROWS ? rows : r0 + NORM_ROWS;
            if (sizeof(T) == sizeof(float) && f32_fast)
                nb_norm_fwd_rows_f32((float *)Y, (const float *)X, (const float *)W, (const float *)B, S, r0, r1, D,
                                     a->eps, a->rms);
            else NORM_CALL(T, norm_fwd_rows, Y, X, W, B, S, r0, r1, D, a->eps, a->rms);
        });
    });
}

/* Backward, with x̂ = (x − μ)·r and ĝ = g·w:
 *   layer_norm: dx += r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))
 *   rms_norm:   dx += r·(ĝ − x̂·mean(ĝ·x̂))
 *   dw += Σ_rows g·x̂, db += Σ_rows g, each column summed in row order: on
 *   one thread in the same pass as dx, on several by blocks of 64 columns
 *   (the same sums in the same order: the same bits); from NB_HALVES_MIN
 *   rows on, over each half of the rows apart, then added. */
static void norm_bwd(nb_node *n, const nb_tensor *gt) {
    const norm_attr *a = nb_attr(n, norm_attr);
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    nb_tensor *gwt = a->has_w ? nb_grad_buf(n->in[1]) : NULL;
    nb_tensor *gbt = a->has_b ? nb_grad_buf(n->in[1 + a->has_w]) : NULL;
    int64_t rows, D;
    norm_dims(n, &rows, &D);
    if (rows == 0 || D == 0) return;
    const double *S = nb_f64(n->saved);
    const int nt = nb__elementwise_threads(rows * D, NORM_COST);
    const bool avx2 = norm_avx2();
    const bool f32_fast = n->out->dtype == NB_F32 && nb_norm_f32_fast(); /* kernels/norm_f32.h */
    /* dw, db sums in double: 2·D. From NB_HALVES_MIN rows on, backward
     * takes the rows in two halves, one a thread (NB_PAR_HALVES): dx, and
     * dw and db's sums over the same chunk (in dx's pass in the f32 kernel,
     * after it while the chunk is in cache in the generic ones; one join);
     * each half's sums apart (4·D more), in row
     * order, then added: the same bits on any thread count and, every
     * kernel giving the same bits, every ISA. */
    const bool split = (gwt || gbt) && rows >= NB_HALVES_MIN;
    double *acc = NULL, *half = NULL;
    if (gwt || gbt) {
        acc = mu_scratch(n->op->name, (size_t)((split ? 6 : 2) * D) * sizeof(double));
        if (!acc) return;
        if (split) half = acc + 2 * D;
    }
    double *sw = gwt ? acc : NULL, *sb = gbt ? acc + D : NULL;
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const void *X = n->in[0]->data, *G = gt->data;
        const void *W = a->has_w ? n->in[1]->data : NULL;
        void *GX = gxt ? gxt->data : NULL;
        if (half) { /* two halves of the rows: dx, then dw and db, a chunk of rows at a time */
            NB_PAR_HALVES(nt, rows, part, r0, r1, {
                double *hw = sw ? half + 2 * D * part : NULL, *hb = sb ? half + 2 * D * part + D : NULL;
                for (int64_t c0 = r0; c0 < r1; c0 += NORM_ROWS) {
                    const int64_t c1 = r1 - c0 < NORM_ROWS ? r1 : c0 + NORM_ROWS;
                    const void *Gc = (const T *)G + c0 * D, *Xc = (const T *)X + c0 * D;
                    if (sizeof(T) == sizeof(float) && f32_fast) { /* dx with the sums in its pass */
                        if (GX)
                            nb_norm_gx_rows_f32((float *)GX, (const float *)G, (const float *)X, (const float *)W, S,
                                                c0, c1, D, a->rms, hw, hb);
                        else
                            nb_norm_wb_cols_f32((const float *)Gc, (const float *)Xc, S + 2 * c0, c1 - c0, D, 0, D, hw,
                                                hb);
                    } else {
                        if (GX) NORM_CALL(T, norm_bwd_rows, GX, G, X, W, S, c0, c1, D, a->rms, NULL, NULL);
                        if (hw || hb) NORM_CALL(T, norm_wb_cols, Gc, Xc, S + 2 * c0, c1 - c0, D, 0, D, hw, hb);
                    }
                }
            });
            for (int64_t j = 0; j < D; j++) {
                if (sw) sw[j] = half[j] + half[2 * D + j];
                if (sb) sb[j] = half[D + j] + half[3 * D + j];
            }
        } else if (sizeof(T) == sizeof(float) && f32_fast) { /* rows for dx, blocks of 64 columns for dw, db */
            if (GX)
                NB_PAR_FOR(nt, for (int64_t r0 = 0; r0 < rows; r0 += NORM_ROWS), {
                    const int64_t r1 = rows - r0 < NORM_ROWS ? rows : r0 + NORM_ROWS;
                    nb_norm_gx_rows_f32((float *)GX, (const float *)G, (const float *)X, (const float *)W, S, r0, r1, D,
                                        a->rms, NULL, NULL);
                });
            if (sw || sb) {
                const int64_t nblk = (D + 63) / 64;
                NB_PAR_FOR(nblk > 1 ? nt : 1, for (int64_t bk = 0; bk < nblk; bk++), {
                    const int64_t j0 = bk * 64, nj = D - j0 < 64 ? D - j0 : 64;
                    nb_norm_wb_cols_f32((const float *)G, (const float *)X, S, rows, D, j0, nj, sw ? sw + j0 : NULL,
                                        sb ? sb + j0 : NULL);
                });
            }
        } else if (nt <= 1) {
            if (GX || sw || sb) NORM_CALL(T, norm_bwd_rows, GX, G, X, W, S, 0, rows, D, a->rms, sw, sb);
        } else {
            if (GX)
                NB_PAR_FOR(nt, for (int64_t r0 = 0; r0 < rows; r0 += NORM_ROWS), {
                    const int64_t r1 = rows - r0 < NORM_ROWS ? rows : r0 + NORM_ROWS;
                    NORM_CALL(T, norm_bwd_rows, GX, G, X, W, S, r0, r1, D, a->rms, NULL, NULL);
                });
            if (sw || sb) {
                const int64_t nblk = (D + 63) / 64;
                NB_PAR_FOR(nblk > 1 ? nt : 1, for (int64_t bk = 0; bk < nblk; bk++), {
                    const int64_t j0 = bk * 64, nj = D - j0 < 64 ? D - j0 : 64;
                    NORM_CALL(T, norm_wb_cols, G, X, S, rows, D, j0, nj, sw ? sw + j0 : NULL, sb ? sb + j0 : NULL);
                });
            }
        }
        T *GW = gwt ? (T *)gwt->data : NULL, *GB = gbt ? (T *)gbt->data : NULL;
        for (int64_t j = 0; j < D; j++) {
            if (GW) GW[j] += (T)sw[j];
            if (GB) GB[j] += (T)sb[j];
        }
    });
    if (acc) mu_scratch_done(acc);
}

/* The differentiable backward (second order, nabla/grad.h): the formulas
 * above with nb_* ops, the statistics recomputed from x on the tape. */
GG_FN(norm) {
    const norm_attr *a = nb_attr(n, norm_attr);
    nb_tensor *x = n->in[0], *w = a->has_w ? n->in[1] : NULL;
    int axes[NB_MAX_DIMS];
    for (int i = 0; i < a->k; i++) axes[i] = x->shape.ndim - a->k + i;
    nb_tensor *d = a->rms ? x : nb_sub(x, nb_mean(x, axes, a->k, true));
    nb_tensor *r = nb_pow_scalar(nb_add_scalar(nb_mean(nb_mul(d, d), axes, a->k, true), a->eps), -0.5);
    nb_tensor *xh = nb_mul(d, r);
    if (GG_NEED(0)) {
        nb_tensor *gw = w ? nb_mul(g, w) : g;
        nb_tensor *in = nb_mul(xh, nb_mean(nb_mul(gw, xh), axes, a->k, true));
        if (!a->rms) in = nb_add(in, nb_mean(gw, axes, a->k, true));
        gin[0] = nb_mul(r, nb_sub(gw, in));
    }
    if (w && GG_NEED(1)) gin[1] = nb_sum_to(nb_mul(g, xh), w->shape);
    if (a->has_b && GG_NEED(1 + a->has_w)) gin[1 + a->has_w] = nb_sum_to(g, n->in[1 + a->has_w]->shape);
}

/* Backward reads x, the weight and the saved statistics; not the bias, not y. */
static const nb_op layer_norm_op = {"layer_norm", norm_fwd, norm_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, norm_bwg};
static const nb_op rms_norm_op = {"rms_norm", norm_fwd, norm_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, norm_bwg};

/* Checks x float of rank >= k >= 1, the weight and bias (if any) of x's
 * dtype and of shape x.shape[-k:]; applies the op. */
static nb_tensor *norm_apply(const nb_op *op, nb_tensor *x, int k, nb_tensor *w, nb_tensor *b, double eps, bool rms) {
    const char *name = op->name;
    if (!x) return NULL;
    char d0[NB_DESCRIBE_LEN + 8], d1[NB_DESCRIBE_LEN + 8];
    if (!nb__is_float(x->dtype)) {
        nb_fail(NB_ERR_DTYPE, name, "%s: this op needs f32 or f64", mu_desc(x, "x", d0, sizeof d0));
        return NULL;
    }
    if (k < 1 || k > x->shape.ndim) {
        nb_fail(NB_ERR_ARG, name, "normalized_ndim %d must be in [1, %d] (%s)", k, x->shape.ndim,
                nb_describe(x, "x", d0, sizeof d0));
        return NULL;
    }
    if (!(eps >= 0) || isinf(eps)) {
        nb_fail(NB_ERR_ARG, name, "eps must be finite and >= 0, got %g", eps);
        return NULL;
    }
    nb_shape ns = {.ndim = k};
    for (int i = 0; i < k; i++) ns.d[i] = x->shape.d[x->shape.ndim - k + i];
    nb_tensor *const aff[2] = {w, b};
    static const char *const affn[2] = {"weight", "bias"};
    for (int i = 0; i < 2; i++) {
        nb_tensor *t = aff[i];
        if (!t) continue;
        if (t->dtype != x->dtype) {
            nb_fail(NB_ERR_DTYPE, name, "dtypes differ: %s, %s (use nb_cast)", mu_desc(x, "x", d0, sizeof d0),
                    mu_desc(t, affn[i], d1, sizeof d1));
            return NULL;
        }
        if (!nb_shape_eq(t->shape, ns)) {
            char want[NB_SHAPE_STRLEN];
            nb_shape_str(ns, want, sizeof want);
            nb_fail(NB_ERR_SHAPE, name, "%s must have the normalized shape %s (the last %d dims of %s)",
                    nb_describe(t, affn[i], d1, sizeof d1), want, k, nb_describe(x, "x", d0, sizeof d0));
            return NULL;
        }
    }
    nb_tensor *in[3] = {x};
    int nin = 1;
    if (w) in[nin++] = w;
    if (b) in[nin++] = b;
    norm_attr at = {eps, k, w != NULL, b != NULL, rms};
    return nb_apply_ex(op, in, nin, x->shape, x->dtype, &at, sizeof at);
}

nb_tensor *nb_layer_norm(nb_tensor *x, int normalized_ndim, nb_tensor *weight, nb_tensor *bias, double eps) {
    return norm_apply(&layer_norm_op, x, normalized_ndim, weight, bias, eps, false);
}

nb_tensor *nb_rms_norm(nb_tensor *x, int normalized_ndim, nb_tensor *weight, double eps) {
    if (x && eps < 0 && nb__is_float(x->dtype)) /* NB_RMS_NORM_EPS_DEFAULT: finfo(dtype).eps */
        eps = x->dtype == NB_F32 ? (double)FLT_EPSILON : DBL_EPSILON;
    return norm_apply(&rms_norm_op, x, normalized_ndim, weight, NULL, eps, true);
}

/* ------------------------------------------------------------ activations */

/* multiply-add equivalents per element (one or two SLEEF functions and a pass) */
#define ACT_COST 160

typedef struct {
    act_kind kind;
} act_attr;

/* sv: gelu's 2Φ(x), written by forward and read by backward (NULL: none) */
static void act_run(act_kind kind, nb_dtype dt, void *yv, const void *xv, void *gxv, const void *gv, void *svv,
                    int64_t N, bool fresh) {
    const int nt = nb__elementwise_threads(N, ACT_COST);
    const bool gelu_fast = kind == ACT_GELU && dt == NB_F32 && nb_gelu_f32_fast();
    NB_FLOAT_DISPATCH(dt, T, {
        T *Y = (T *)yv, *GX = (T *)gxv, *SV = (T *)svv;
        const T *X = (const T *)xv, *G = (const T *)gv;
        NB_PAR_FOR(nt, for (int64_t i0 = 0; i0 < N; i0 += ACT_CHUNK), {
            const int64_t L = N - i0 < ACT_CHUNK ? N - i0 : ACT_CHUNK;
            const T *x = X + i0, *g = G ? G + i0 : NULL;
            T *y = Y ? Y + i0 : NULL, *gx = GX ? GX + i0 : NULL, *sv = SV ? SV + i0 : NULL;
            (void)y;
            (void)g;
            (void)sv;
            (void)fresh;
            ACT_CHUNK_BODY(T);
        });
    });
}

/* gelu keeps 2Φ(x) (one tensor like x) for backward when the node is
 * recorded: SLEEF's erfc is most of gelu's cost (3.2 ns an element in f32
 * here, exp 0.3), and backward would compute it again. Not the f32 kernel
 * of kernels/gelu_f32.h: its backward needs 2Φ only where |x| >= 1 and
 * computes it there, cheaper than writing and reading it back where most
 * inputs are inside (the GPT benchmark: 4 MiB less to write and read a
 * layer). A backward that finds no 2Φ computes it. */
static void act_fwd(nb_node *n) {
    const act_kind kind = nb_attr(n, act_attr)->kind;
    const bool fast = n->out->dtype == NB_F32 && nb_gelu_f32_fast();
    const bool keep = kind == ACT_GELU && !fast && nb_grad_enabled() && n->in[0]->requires_grad;
    nb_tensor *sv = keep ? nb_node_save_new(n, n->out->dtype, n->out->shape) : NULL;
    act_run(kind, n->out->dtype, n->out->data, n->in[0]->data, NULL, NULL, sv ? sv->data : NULL, n->out->numel, false);
}
static void act_bwd(nb_node *n, const nb_tensor *g) {
    bool fresh; /* a new gx is written, not zeroed and added to */
    nb_tensor *gxt = nb__grad_buf_fresh(n->in[0], &fresh);
    if (!gxt) return;
    const nb_tensor *sv = n->saved && nb_shape_eq(n->saved->shape, n->out->shape) ? n->saved : NULL;
    act_run(nb_attr(n, act_attr)->kind, n->out->dtype, NULL, n->in[0]->data, gxt->data, g->data, sv ? sv->data : NULL,
            n->out->numel, fresh);
}

/* Differentiable backwards (second order). gelu's needs Φ(x) as an op with
 * its own derivative φ(x): the internal op gelu_cdf (not in the registry;
 * checked through gelu's gradgradcheck). */
static void cdf_fwd(nb_node *n) { /* y = Φ(x) = ½·erfc(−x/√2) */
    const int64_t N = n->out->numel;
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data;
        T *y = (T *)n->out->data;
        for (int64_t i = 0; i < N; i++) y[i] = (T)((double)x[i] * -GELU_INV_SQRT2);
        NB_VMATH_T(erfc, T, y, y, N);
        for (int64_t i = 0; i < N; i++) y[i] = (T)(0.5 * (double)y[i]);
    });
}
static nb_tensor *gg_pdf(nb_tensor *x) { /* φ(x) = e^(−x²/2)/√(2π), on the tape */
    return nb_mul_scalar(nb_exp(nb_mul_scalar(nb_mul(x, x), -0.5)), GELU_INV_SQRT2PI);
}
static void cdf_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gxt = nb_grad_buf(n->in[0]);
    if (!gxt) return;
    const int64_t N = n->out->numel;
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data, *gp = (const T *)g->data;
        T *gx = (T *)gxt->data;
        for (int64_t i = 0; i < N; i++) {
            const double v = x[i];
            gx[i] += (T)((double)gp[i] * exp(-0.5 * v * v) * GELU_INV_SQRT2PI);
        }
    });
}
GG_FN(cdf) { gin[0] = nb_mul(g, gg_pdf(n->in[0])); }
static const nb_op cdf_op = {"gelu_cdf", cdf_fwd, cdf_bwd, NB_SAVES_IN(0), false, cdf_bwg};

/* gelu: f' = Φ(x) + x·φ(x) */
GG_FN(gelu) {
    nb_tensor *x = n->in[0];
    nb_tensor *cdf = nb_apply_ex(&cdf_op, &x, 1, x->shape, x->dtype, NULL, 0);
    gin[0] = nb_mul(g, nb_add(cdf, nb_mul(x, gg_pdf(x))));
}
/* gelu_tanh: f' = s + 2x·s(1 − s)·k(1 + 3c·x²), s = sigmoid(2k(x + c·x³)) */
GG_FN(gelu_tanh) {
    nb_tensor *x = n->in[0], *x2 = nb_mul(x, x);
    nb_tensor *s = nb_sigmoid(nb_mul_scalar(nb_add(x, nb_mul_scalar(nb_mul(x2, x), GELU_C)), 2 * GELU_K));
    nb_tensor *ds = nb_mul(s, nb_add_scalar(nb_neg(s), 1));
    nb_tensor *du = nb_mul_scalar(nb_add_scalar(nb_mul_scalar(x2, 3 * GELU_C), 1), 2 * GELU_K);
    gin[0] = nb_mul(g, nb_add(s, nb_mul(nb_mul(x, ds), du)));
}
/* silu: f' = s(1 + x(1 − s)) */
GG_FN(silu) {
    nb_tensor *x = n->in[0], *s = nb_sigmoid(x);
    gin[0] = nb_mul(g, nb_mul(s, nb_add_scalar(nb_mul(x, nb_add_scalar(nb_neg(s), 1)), 1)));
}

static const nb_op gelu_op = {"gelu", act_fwd, act_bwd, NB_SAVES_IN(0), false, gelu_bwg};
static const nb_op gelu_tanh_op = {"gelu_tanh", act_fwd, act_bwd, NB_SAVES_IN(0), false, gelu_tanh_bwg};
static const nb_op silu_op = {"silu", act_fwd, act_bwd, NB_SAVES_IN(0), false, silu_bwg};

static nb_tensor *act_apply(const nb_op *op, act_kind kind, nb_tensor *x) {
    static const char *const names[1] = {"x"};
    if (!mu_check_float(op->name, 1, &x, names)) return NULL;
    act_attr a = {kind};
    return nb_apply_ex(op, &x, 1, x->shape, x->dtype, &a, sizeof a);
}

nb_tensor *nb_gelu(nb_tensor *x) { return act_apply(&gelu_op, ACT_GELU, x); }
nb_tensor *nb_gelu_tanh(nb_tensor *x) { return act_apply(&gelu_tanh_op, ACT_GELU_TANH, x); }
nb_tensor *nb_silu(nb_tensor *x) { return act_apply(&silu_op, ACT_SILU, x); }

/* ------------------------------------------------------------ registry */

/* layer_norm / rms_norm: iarg[0] = normalized_ndim, iarg[1] = has weight,
 * iarg[2] = has bias (layer_norm); farg[0] = eps. Inputs: x, then the
 * weight and bias that are present. Values: x on [-2, 2) plus a per-sample
 * offset (layer_norm must remove it), weight around 1, bias around 0; a
 * large eps in one sample so eps is seen in the result. */
static const struct {
    nb_shape x;
    int k;
    bool w, b;
    double eps, off;
    const char *desc;
} norm_cases[] = {
    {NB_SHAPE(3, 5), 1, true, true, 1e-5, 0, "rows of (3,5), affine"},
    {NB_SHAPE(2, 3, 4), 2, true, true, 1e-5, 1.5, "last 2 dims of (2,3,4), affine, offset 1.5"},
    {NB_SHAPE(4, 6), 1, false, false, 1e-5, 0, "(4,6) no affine"},
    {NB_SHAPE(2, 2, 5), 1, true, false, 0.3, -1, "(2,2,5) weight only, eps 0.3"},
    {NB_SHAPE(3, 4), 1, false, true, 1e-5, 0, "(3,4) bias only"},
    {NB_SHAPE(1, 7), 1, true, true, 1e-5, 0, "batch of one (1,7)"},
    {NB_SHAPE(6), 1, true, true, 1e-5, 0, "vector (6), one row"},
    {NB_SHAPE(3, 1, 20), 1, true, true, 1e-5, 0, "(3,1,20): rows past 8 lanes with a tail"},
    {NB_SHAPE(2, 3), 2, true, true, 1e-5, 0, "whole (2,3) normalized"},
};
static int norm_samples(nb_sample *s, int max, bool rms) {
    int k = 0;
    for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0] && k < max; i++) {
        if (rms && norm_cases[i].b && !norm_cases[i].w) continue; /* no bias in rms_norm */
        s[k] = (nb_sample){.desc = norm_cases[i].desc, .nin = 1};
        s[k].in[0] = nb_sample_uniform(norm_cases[i].x, -2 + norm_cases[i].off, 2 + norm_cases[i].off);
        nb_shape ns = {.ndim = norm_cases[i].k};
        for (int d = 0; d < ns.ndim; d++) ns.d[d] = norm_cases[i].x.d[norm_cases[i].x.ndim - ns.ndim + d];
        if (norm_cases[i].w) s[k].in[s[k].nin++] = nb_sample_uniform(ns, 0.5, 1.5);
        if (norm_cases[i].b && !rms) s[k].in[s[k].nin++] = nb_sample_uniform(ns, -0.5, 0.5);
        s[k].iarg[0] = norm_cases[i].k;
        s[k].iarg[1] = norm_cases[i].w;
        s[k].iarg[2] = norm_cases[i].b && !rms;
        s[k].farg[0] = norm_cases[i].eps;
        k++;
    }
    return k;
}
static int layer_norm_samples(nb_sample *s, int max) { return norm_samples(s, max, false); }
static int rms_norm_samples(nb_sample *s, int max) { return norm_samples(s, max, true); }
static nb_tensor *layer_norm_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    nb_tensor *w = s->iarg[1] ? in[1] : NULL, *b = s->iarg[2] ? in[1 + (s->iarg[1] != 0)] : NULL;
    return nb_layer_norm(in[0], (int)s->iarg[0], w, b, s->farg[0]);
}
static nb_tensor *rms_norm_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_rms_norm(in[0], (int)s->iarg[0], s->iarg[1] ? in[1] : NULL, s->farg[0]);
}
const nb_op_entry nb_entry_layer_norm = {"layer_norm", layer_norm_entry_apply, layer_norm_samples, 0, 0};
const nb_op_entry nb_entry_rms_norm = {"rms_norm", rms_norm_entry_apply, rms_norm_samples, 0, 0};

/* Activations: a scalar, a vector, a batch of one, a 3-D block, and a
 * 1100-element vector (past one chunk, with a tail); values on [-4, 4)
 * (both tails of erf and tanh, the curved middle). */
static int act_samples(nb_sample *s, int max) {
    const nb_shape shapes[] = {NB_SCALAR, NB_SHAPE(7), NB_SHAPE(1, 5), NB_SHAPE(2, 3, 5), NB_SHAPE(1100)};
    const char *desc[] = {"scalar", "vector (7)", "batch of one (1,5)", "3-D (2,3,5)", "(1100): two chunks and a tail"};
    int k = 0;
    for (int i = 0; i < 5 && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = desc[i], .nin = 1};
        s[k].in[0] = nb_sample_uniform(shapes[i], -4, 4);
    }
    return k;
}
static nb_tensor *gelu_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_gelu(in[0]);
}
static nb_tensor *gelu_tanh_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_gelu_tanh(in[0]);
}
static nb_tensor *silu_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_silu(in[0]);
}
const nb_op_entry nb_entry_gelu = {"gelu", gelu_entry_apply, act_samples, 0, 0};
const nb_op_entry nb_entry_gelu_tanh = {"gelu_tanh", gelu_tanh_entry_apply, act_samples, 0, 0};
const nb_op_entry nb_entry_silu = {"silu", silu_entry_apply, act_samples, 0, 0};
