/* ops/conv.c — conv2d and conv1d (cross-correlation, NCHW), as im2col + GEMM.
 *
 * Per image n, with K = C·kh·kw and P = Ho·Wo:
 *   cols (K, P)  = im2col(x[n])                       (ops/kernels/im2col.c)
 *   y[n] (O, P)  = W (O, K) @ cols  (+ b[o] on row o)  (one nb_gemm)
 * Backward, from gout[n] = G (O, P):
 *   dW (O, K)   += G @ colsᵀ           (cols recomputed, not kept: memory)
 *   dcols (K,P)  = Wᵀ @ G,  dx[n] += col2im(dcols)
 *   db[o]       += Σ_p G[o, p]
 * Several images are processed per GEMM: their cols sit side by side as
 * (K, nb·P), so W @ cols is one wide product (small images such as 28×28
 * would otherwise make many tiny GEMMs); the (O, nb·P) result is then
 * scattered to (nb, O, P). The chunk is bounded (CHUNK_ELEMS) so scratch
 * stays small. Scratch comes from the current scope's arena (the heap,
 * freed at once, when no scope is open), taken before any parallel region.
 * Stride 1 / dilation 1 (the common case) has its own path below: the
 * padded-width layout, dW from a row-major im2row, AVX2 builds of its
 * helpers, and an OpenMP loop over the batch for big calls (conv_threads:
 * then the built-in GEMM runs single-threaded inside the region, so one
 * owner of the threads per op). The other cases run on one thread, the
 * GEMM owning any threads. conv1d is the same op with H = kh = 1.
 * On AVX-512 CPUs (and the GEMM ISA not capped below it) stride 1 /
 * dilation 1 instead runs the direct kernels of kernels/conv_direct.c: y and
 * dx as an implicit GEMM reading the padded image (dx: the padded gout with
 * flipped weights, when every pad ≤ k − 1), dW with lanes over output
 * channels (O a multiple of the vector width) or over output columns; the
 * backward (db, dW, dx) is one pass over the images (direct_bwd), so each
 * image's gout comes from memory once; the im2col + GEMM paths remain for
 * the other CPUs and the other cases.
 * Grouped convolution (groups > 1, depthwise included) takes none of these:
 * it runs the direct loops of grouped_* (one thread, fixed summation order),
 * row by row so the inner loop over output columns vectorizes at stride 1. */
#include "kernels/conv_direct.h"
#include "kernels/gemm.h"
#include "kernels/im2col.h"
#include "../autograd/internal.h"

/* Elements of cols per chunk of images (1 MiB of f64, 512 KiB of f32): cols
 * stays in L2 between im2col and the GEMM's packing of it (measured on the
 * CNN benchmark: 1 << 17 was ~20% faster per epoch than 1 << 20). */
#define CHUNK_ELEMS ((int64_t)1 << 17)

typedef struct {
    int64_t sh, sw, ph, pw, dh, dw; /* stride, padding before (top, left), dilation */
    int64_t groups;                 /* 1 = ungrouped (the paths below); > 1: grouped_* */
} conv_attr;

/* Scratch for one forward/backward call. */
static void *scratch(size_t bytes) {
    void *p = nb__scope_alloc(nb_scope_current(), bytes ? bytes : 1);
    if (!p) nb_fail(NB_ERR_NOMEM, "conv2d", "out of memory for %zu bytes of im2col scratch", bytes);
    return p;
}
static void scratch_done(void *p) {
    if (!nb_scope_current()) nb__free(p);
}

typedef struct {
    nb_conv_geom g;
    int64_t N, O, K, P, chunk;
    bool direct; /* 1×1 kernel, stride 1, no padding: cols is x itself */
    bool wide;   /* stride 1, dilation 1 (not direct): the padded-width layout below */
    int64_t Hp, Wp, Pw, XP; /* wide: padded image Hp×Wp, Pw = Ho·Wp columns per image, XP = padded image size */
} conv_dims;

static conv_dims dims_of(const nb_node *n) {
    const conv_attr *a = nb_attr(n, conv_attr);
    const nb_tensor *x = n->in[0], *w = n->in[1], *y = n->out;
    const bool one_d = x->shape.ndim == 3;
    conv_dims d;
    d.N = x->shape.d[0];
    d.O = w->shape.d[0];
    d.g = (nb_conv_geom){
        .C = x->shape.d[1],
        .H = one_d ? 1 : x->shape.d[2],
        .W = x->shape.d[x->shape.ndim - 1],
        .kh = one_d ? 1 : w->shape.d[2],
        .kw = w->shape.d[w->shape.ndim - 1],
        .sh = a->sh, .sw = a->sw, .ph = a->ph, .pw = a->pw, .dh = a->dh, .dw = a->dw,
        .Ho = one_d ? 1 : y->shape.d[2],
        .Wo = y->shape.d[y->shape.ndim - 1],
    };
    d.K = d.g.C * d.g.kh * d.g.kw;
    d.P = d.g.Ho * d.g.Wo;
    d.direct = d.g.kh == 1 && d.g.kw == 1 && a->sh == 1 && a->sw == 1 && a->ph == 0 && a->pw == 0;
    d.wide = !d.direct && a->sh == 1 && a->sw == 1 && a->dh == 1 && a->dw == 1;
    d.Hp = d.g.Ho + d.g.kh - 1;
    d.Wp = d.g.Wo + d.g.kw - 1;
    d.Pw = d.g.Ho * d.Wp;
    d.XP = d.g.C * d.Hp * d.Wp + d.g.kw + 8; /* + slack: the last runs read up to kw - 1 (im2col), 7 (im2row) past the end */
    int64_t per = d.K * (d.wide ? d.Pw : d.P);
    if (per < 1) per = 1;
    d.chunk = d.direct ? 1 : CHUNK_ELEMS / per;
    if (d.chunk < 1) d.chunk = 1;
    if (d.chunk > d.N) d.chunk = d.N > 0 ? d.N : 1;
    return d;
}

/* ---- stride 1, dilation 1: the padded-width layout.
 * The image is copied once into a zero-padded buffer xp (C, Hp, Wp),
 * Hp = Ho + kh − 1, Wp = Wo + kw − 1. Computing the output on the padded
 * width (Ho × Wp columns, the last kw − 1 of each row garbage), row (c,p,q)
 * of cols is ONE contiguous run of xp: xp[c, p, q .. q + Ho·Wp) — a memcpy
 * of Ho·Wp elements instead of Ho short rows with bounds. The GEMM runs on
 * Ho·Wp columns per image and the garbage columns are dropped when Y is
 * written. Backward zero-fills those columns of the gathered gout, so they
 * add nothing to dW, and dcols is exactly 0 there; col2im is then K
 * contiguous adds into a padded dx buffer, cropped into dx at the end. */
/* Threads for one call of the padded-width path, with `units` independent
 * pieces of work (chunks or groups of images): nabla's thread count when the
 * call is big enough (>= nb__par_min() multiply-adds) and not already inside
 * a parallel region, else 1. The GEMMs then run inside the region, where the
 * built-in GEMM stays on its thread (one owner of the threads per op). */
#if defined(_OPENMP)
#include <omp.h>
#define CONV_PAR _Pragma("omp parallel num_threads(nt) if (nt > 1)")
/* (with nt threads in scope: nt <= 1 runs as plain code, maybe inside a
 * caller's region, where the caller's thread number must not count) */
#define CONV_TID() (nt > 1 ? omp_get_thread_num() : 0)
#define CONV_NTH() (nt > 1 ? omp_get_num_threads() : 1)
#else
#define CONV_PAR
#define CONV_TID() 0
#define CONV_NTH() 1
#endif
/* Thread t's share [lo, hi) of n units of work (whole blocks, in thread order). */
static inline void conv_share(int64_t n, int t, int nth, int64_t *lo, int64_t *hi) {
    const int64_t per = (n + nth - 1) / nth;
    *lo = t * per;
    *hi = *lo + per < n ? *lo + per : n;
}
static int conv_threads(const conv_dims *d, int64_t units) {
#if defined(_OPENMP)
    int nt = nb_get_num_threads();
    if (nt <= 1 || omp_in_parallel() || (double)d->N * (double)d->O * (double)d->K * (double)d->P < nb__par_min()) return 1;
    return units < nt ? (int)(units > 0 ? units : 1) : nt;
#else
    (void)d, (void)units;
    return 1;
#endif
}

/* Images per dW GEMM call in the padded-width path (see wide_dw_*). */
static int64_t wide_dw_group(const conv_dims *d) { return d->P >= 256 ? 1 : 256 / d->P; }

#define WIDE_HELPERS(T, SUF, GS, ATTR)                                                                          \
    ATTR static void wide_pad_##SUF(T *restrict xp, const T *restrict x, const conv_dims *d) {             \
        const int64_t H = d->g.H, W = d->g.W;                                                        \
        for (int64_t c = 0; c < d->g.C; c++)                                                         \
            for (int64_t h = 0; h < H; h++)                                                          \
                memcpy(xp + (c * d->Hp + h + d->g.ph) * d->Wp + d->g.pw, x + (c * H + h) * W,          \
                       (size_t)W * sizeof(T));                                                       \
    }                                                                                                \
    ATTR static void wide_im2col_##SUF(T *restrict cols, int64_t ld, const T *restrict xp, const conv_dims *d) { \
        for (int64_t c = 0; c < d->g.C; c++)                                                         \
            for (int64_t p = 0; p < d->g.kh; p++)                                                    \
                for (int64_t q = 0; q < d->g.kw; q++)                                                \
                    memcpy(cols + ((c * d->g.kh + p) * d->g.kw + q) * ld, xp + (c * d->Hp + p) * d->Wp + q,  \
                           (size_t)d->Pw * sizeof(T));                                               \
    }                                                                                                \
    ATTR static void wide_add_##SUF(T *restrict dst, const T *restrict src, int64_t n) {                  \
        for (int64_t t = 0; t < n; t++) dst[t] += src[t];                                            \
    }                                                                                                \
    /* dx (C,H,W) += col2im of dcols (K, Pw at ld), through the padded buffer dxp */                 \
    ATTR static void wide_col2im_##SUF(T *dx, T *dxp, const T *cols, int64_t ld, const conv_dims *d) {    \
        const int64_t H = d->g.H, W = d->g.W;                                                        \
        memset(dxp, 0, (size_t)d->XP * sizeof(T));                                                   \
        for (int64_t c = 0; c < d->g.C; c++)                                                         \
            for (int64_t p = 0; p < d->g.kh; p++)                                                    \
                for (int64_t q = 0; q < d->g.kw; q++)                                                \
                    wide_add_##SUF(dxp + (c * d->Hp + p) * d->Wp + q,                                \
                                   cols + ((c * d->g.kh + p) * d->g.kw + q) * ld, d->Pw);            \
        for (int64_t c = 0; c < d->g.C; c++)                                                         \
            for (int64_t h = 0; h < H; h++)                                                          \
                wide_add_##SUF(dx + (c * H + h) * W, dxp + (c * d->Hp + h + d->g.ph) * d->Wp + d->g.pw, W); \
    }                                                                                                \
    /* Chunks [c0, c1) of images (chunk c = images c·chunk ..), own scratch. */ \
    ATTR static void wide_fwd_chunks_##SUF(const conv_dims *dp, const T *X, const T *Wt, const T *B, T *Y,  \
                                           int64_t c0, int64_t c1, T *cols, T *ybuf, T *xp) {        \
        const conv_dims d = *dp;                                                                     \
        const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, Wo = d.g.Wo;                      \
        memset(xp, 0, (size_t)d.XP * sizeof(T));                                                     \
        for (int64_t c = c0; c < c1; c++) {                                                          \
            const int64_t n0 = c * d.chunk;                                                          \
            const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.Pw;              \
            for (int64_t i = 0; i < nb; i++) {                                                       \
                wide_pad_##SUF(xp, X + (n0 + i) * CHW, &d);                                          \
                wide_im2col_##SUF(cols + i * d.Pw, ld, xp, &d);                                      \
            }                                                                                        \
            nb_gemm_##GS(false, false, d.O, ld, d.K, 1, Wt, d.K, cols, ld, 0, ybuf, ld);            \
            for (int64_t i = 0; i < nb; i++)                                                         \
                for (int64_t o = 0; o < d.O; o++) {                                                  \
                    const T bo = B ? B[o] : (T)0;                                                    \
                    for (int64_t r = 0; r < d.g.Ho; r++) {                                           \
                        T *dst = Y + (n0 + i) * OP + o * d.P + r * Wo;                               \
                        const T *src = ybuf + o * ld + i * d.Pw + r * d.Wp;                          \
                        for (int64_t j = 0; j < Wo; j++) dst[j] = src[j] + bo;                       \
                    }                                                                                \
                }                                                                                    \
        }                                                                                            \
    }                                                                                                \
    ATTR static void wide_fwd_##SUF(nb_node *n, const conv_dims *dp) {                               \
        const conv_dims d = *dp;                                                                     \
        const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;             \
        const T *X = (const T *)x->data, *Wt = (const T *)w->data;                                   \
        const T *B = b ? (const T *)b->data : NULL;                                                  \
        T *Y = (T *)n->out->data;                                                                    \
        const int64_t nch = (d.N + d.chunk - 1) / d.chunk;                                           \
        const int nt = conv_threads(&d, nch);                                                        \
        const int64_t sc = d.K * d.chunk * d.Pw, sy = d.O * d.chunk * d.Pw;                          \
        T *cols = scratch((size_t)(nt * sc) * sizeof(T));                                            \
        T *ybuf = scratch((size_t)(nt * sy) * sizeof(T));                                            \
        T *xp = scratch((size_t)(nt * d.XP) * sizeof(T));                                            \
        if (!cols || !ybuf || !xp) {                                                                 \
            memset(Y, 0, (size_t)n->out->numel * sizeof(T));                                         \
        } else if (nt == 1) {                                                                        \
            wide_fwd_chunks_##SUF(&d, X, Wt, B, Y, 0, nch, cols, ybuf, xp);                          \
        } else {                                                                                     \
            CONV_PAR                                                                                 \
            {                                                                                        \
                const int t = CONV_TID(), nth = CONV_NTH();                                          \
                int64_t c0, c1; conv_share(nch, t, nth, &c0, &c1);                                   \
                if (c0 < c1)                                                                         \
                    wide_fwd_chunks_##SUF(&d, X, Wt, B, Y, c0, c1, cols + t * sc, ybuf + t * sy, xp + t * d.XP); \
            }                                                                                        \
        }                                                                                            \
        if (cols) scratch_done(cols);                                                                \
        if (ybuf) scratch_done(ybuf);                                                                \
        if (xp) scratch_done(xp);                                                                    \
    }                                                                                                \
    /* rows (P, ldt ≥ K − kw + 8): row i·Wo + j of colsᵀ, x's patch under output \
     * (i, j) in (c, p, q) order, from the padded image xp. Each (c, p) is a run \
     * of kw contiguous elements of xp; for kw ≤ 8 it is moved as 8 (one fixed-  \
     * size copy): the extra ones land where the next run goes, or past K in the \
     * row's slack, and are read from xp's slack. */                              \
    ATTR static void wide_im2row_##SUF(T *restrict rows, int64_t ldt, const T *restrict xp, const conv_dims *d) { \
        const int64_t Wo = d->g.Wo, kh = d->g.kh, kw = d->g.kw, C = d->g.C, Hp = d->Hp, Wp = d->Wp;  \
        for (int64_t i = 0; i < d->g.Ho; i++)                                                        \
            for (int64_t j = 0; j < Wo; j++) {                                                       \
                T *r = rows + (i * Wo + j) * ldt;                                                    \
                const T *s0 = xp + i * Wp + j;                                                       \
                if (kw <= 8) {                                                                       \
                    for (int64_t c = 0; c < C; c++)                                                  \
                        for (int64_t p = 0; p < kh; p++, r += kw)                                    \
                            memcpy(r, s0 + (c * Hp + p) * Wp, 8 * sizeof(T));                        \
                } else {                                                                             \
                    for (int64_t c = 0; c < C; c++)                                                  \
                        for (int64_t p = 0; p < kh; p++, r += kw)                                    \
                            memcpy(r, s0 + (c * Hp + p) * Wp, (size_t)kw * sizeof(T));               \
                }                                                                                    \
            }                                                                                        \
    }                                                                                                \
    /* dW (O, K) += G (O, P) @ colsᵀ (P, K): colsᵀ is built row-major (im2row),  \
     * so the GEMM reads both operands in place (no transposing pack of cols).    \
     * Each call covers at most 256 output positions (one K block of the GEMM:    \
     * its small, unpacked path): several whole images when P is small (their    \
     * gout rows gathered side by side), else one image in pieces. The product  \
     * is Kp = K rounded up to 32 columns wide (whole GEMM panels, so B is never  \
     * packed), into dwt (O, Kp); its extra columns are dropped. */               \
    ATTR static void wide_dw_##SUF(const conv_dims *dp, const T *X, const T *G, T *dwt, int64_t Kp, T *xp, T *rows, \
                                   int64_t ldt, T *gbuf, int64_t g0, int64_t g1) {                   \
        const conv_dims d = *dp;                                                                     \
        const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, grp = wide_dw_group(&d);          \
        const int64_t npiece = (d.P + 255) / 256, piece = (d.P + npiece - 1) / npiece;              \
        memset(xp, 0, (size_t)d.XP * sizeof(T));                                                     \
        for (int64_t gi = g0; gi < g1; gi++) { /* groups of grp images */                            \
            const int64_t n0 = gi * grp;                                                             \
            const int64_t nb = d.N - n0 < grp ? d.N - n0 : grp, ld = nb * d.P;                       \
            for (int64_t i = 0; i < nb; i++) {                                                       \
                wide_pad_##SUF(xp, X + (n0 + i) * CHW, &d);                                          \
                wide_im2row_##SUF(rows + i * d.P * ldt, ldt, xp, &d);                                \
            }                                                                                        \
            if (nb > 1) {                                                                            \
                for (int64_t o = 0; o < d.O; o++)                                                    \
                    for (int64_t i = 0; i < nb; i++)                                                 \
                        memcpy(gbuf + o * ld + i * d.P, G + (n0 + i) * OP + o * d.P, (size_t)d.P * sizeof(T)); \
                nb_gemm_##GS(false, false, d.O, Kp, ld, 1, gbuf, ld, rows, ldt, 1, dwt, Kp);         \
                continue;                                                                            \
            }                                                                                        \
            for (int64_t r0 = 0; r0 < d.P; r0 += piece) {                                            \
                const int64_t kb = d.P - r0 < piece ? d.P - r0 : piece;                              \
                nb_gemm_##GS(false, false, d.O, Kp, kb, 1, G + n0 * OP + r0, d.P, rows + r0 * ldt, ldt, 1, dwt, Kp); \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    /* dx for chunks [c0, c1): gout gathered on the padded width (zeros in the  \
     * gaps), dcols = Wᵀ·gout, col2im through the padded buffer dxp. */          \
    ATTR static void wide_dx_##SUF(const conv_dims *dp, const T *Wt, const T *G, T *GX, int64_t c0, int64_t c1, \
                                   T *cols, T *gbuf, T *dxp) {                                       \
        const conv_dims d = *dp;                                                                     \
        const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, Wo = d.g.Wo;                      \
        for (int64_t c = c0; c < c1; c++) {                                                          \
            const int64_t n0 = c * d.chunk;                                                          \
            const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.Pw;              \
            for (int64_t i = 0; i < nb; i++)                                                         \
                for (int64_t o = 0; o < d.O; o++)                                                    \
                    for (int64_t r = 0; r < d.g.Ho; r++) {                                           \
                        T *dst = gbuf + o * ld + i * d.Pw + r * d.Wp;                                \
                        memcpy(dst, G + (n0 + i) * OP + o * d.P + r * Wo, (size_t)Wo * sizeof(T));   \
                        for (int64_t j = Wo; j < d.Wp; j++) dst[j] = 0;                              \
                    }                                                                                \
            nb_gemm_##GS(true, false, d.K, ld, d.O, 1, Wt, d.K, gbuf, ld, 0, cols, ld);             \
            for (int64_t i = 0; i < nb; i++) wide_col2im_##SUF(GX + (n0 + i) * CHW, dxp, cols + i * d.Pw, ld, &d); \
        }                                                                                            \
    }                                                                                                \
    /* Threads (conv_threads): images split between them, single-threaded GEMMs \
     * inside; dW summed from one accumulator per thread, in thread order. */   \
    ATTR static void wide_bwd_##SUF(const conv_dims *dp, const T *X, const T *Wt, const T *G, T *GX, T *GW) { \
        const conv_dims d = *dp;                                                                     \
        const int64_t OP = d.O * d.P;                                                                \
        if (GW) {                                                                                    \
            /* rows: Kp columns read, and the kw <= 8 copies write up to K − kw + 8 */               \
            const int64_t Kp = (d.K + 31) / 32 * 32, grp = wide_dw_group(&d), ng = (d.N + grp - 1) / grp; \
            const int64_t ldt = Kp > d.K - d.g.kw + 8 ? Kp : d.K - d.g.kw + 8;                       \
            const int nt = conv_threads(&d, ng);                                                     \
            const int64_t sr = grp * d.P * ldt, sg = grp > 1 ? grp * OP : 0, sd = d.O * Kp;          \
            T *rows = scratch((size_t)(nt * sr) * sizeof(T));                                        \
            T *gb = grp > 1 ? scratch((size_t)(nt * sg) * sizeof(T)) : NULL;                         \
            T *dwt = scratch((size_t)(nt * sd) * sizeof(T));                                         \
            T *xp = scratch((size_t)(nt * d.XP) * sizeof(T));                                        \
            if (rows && (grp == 1 || gb) && dwt && xp) {                                             \
                memset(rows, 0, (size_t)(nt * sr) * sizeof(T)); /* columns past K: finite */         \
                memset(dwt, 0, (size_t)(nt * sd) * sizeof(T));                                       \
                int used = 1;                                                                        \
                if (nt == 1) {                                                                       \
                    wide_dw_##SUF(&d, X, G, dwt, Kp, xp, rows, ldt, gb, 0, ng);                      \
                } else {                                                                             \
                    CONV_PAR                                                                         \
                    {                                                                                \
                        const int t = CONV_TID(), nth = CONV_NTH();                                  \
                        int64_t g0, g1; conv_share(ng, t, nth, &g0, &g1);                            \
                        if (t == 0) used = nth;                                                      \
                        if (g0 < g1)                                                                 \
                            wide_dw_##SUF(&d, X, G, dwt + t * sd, Kp, xp + t * d.XP, rows + t * sr, ldt, \
                                          gb ? gb + t * sg : NULL, g0, g1);                          \
                    }                                                                                \
                }                                                                                    \
                for (int t = 0; t < used; t++)                                                       \
                    for (int64_t o = 0; o < d.O; o++)                                                \
                        for (int64_t k = 0; k < d.K; k++) GW[o * d.K + k] += dwt[t * sd + o * Kp + k]; \
            }                                                                                        \
            if (rows) scratch_done(rows);                                                            \
            if (gb) scratch_done(gb);                                                                \
            if (dwt) scratch_done(dwt);                                                              \
            if (xp) scratch_done(xp);                                                                \
        }                                                                                            \
        if (GX) {                                                                                    \
            const int64_t nch = (d.N + d.chunk - 1) / d.chunk;                                       \
            const int nt = conv_threads(&d, nch);                                                    \
            const int64_t sc = d.K * d.chunk * d.Pw, sy = d.O * d.chunk * d.Pw;                      \
            T *cols = scratch((size_t)(nt * sc) * sizeof(T));                                        \
            T *gbuf = scratch((size_t)(nt * sy) * sizeof(T));                                        \
            T *dxp = scratch((size_t)(nt * d.XP) * sizeof(T));                                       \
            if (cols && gbuf && dxp) {                                                               \
                if (nt == 1) {                                                                       \
                    wide_dx_##SUF(&d, Wt, G, GX, 0, nch, cols, gbuf, dxp);                           \
                } else {                                                                             \
                    CONV_PAR                                                                         \
                    {                                                                                \
                        const int t = CONV_TID(), nth = CONV_NTH();                                  \
                        int64_t c0, c1; conv_share(nch, t, nth, &c0, &c1);                           \
                        if (c0 < c1) wide_dx_##SUF(&d, Wt, G, GX, c0, c1, cols + t * sc, gbuf + t * sy, dxp + t * d.XP); \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
            if (cols) scratch_done(cols);                                                            \
            if (gbuf) scratch_done(gbuf);                                                            \
            if (dxp) scratch_done(dxp);                                                              \
        }                                                                                            \
    }

WIDE_HELPERS(float, f32, f32, )
WIDE_HELPERS(double, f64, f64, )
#if defined(__x86_64__) && defined(__GNUC__)
/* The same helpers compiled for AVX2 (the library's baseline is SSE2): the
 * 8-element im2row copies become one 32-byte move, the col2im adds, pads and
 * bias adds 8-wide. No multiplies in them, so no contraction: the results
 * are the same bits as the baseline versions'. Chosen at run time. */
#define NB_CONV_AVX2 1
WIDE_HELPERS(float, f32_avx2, f32, __attribute__((target("avx2"))))
WIDE_HELPERS(double, f64_avx2, f64, __attribute__((target("avx2"))))
static bool use_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
#define NB_CONV_AVX2 0
#define wide_bwd_f32_avx2 wide_bwd_f32
#define wide_bwd_f64_avx2 wide_bwd_f64
static bool use_avx2(void) { return false; }
#endif

/* ---- stride 1, dilation 1 on AVX-512: the direct kernels (kernels/conv_direct.c).
 * Forward: each image padded once into xp (as above), then the implicit GEMM
 * reads its B vectors from xp and writes y (and bias) with masked stores: no
 * cols, no GEMM packing, no scatter. dx is the same kernel on gout padded by
 * k − 1 − pad (the adjoint: a "full" correlation with the flipped, transposed
 * weights), added into dx; it needs pad ≤ k − 1 on every side (direct_dx_ok). */
#define DW_IMGS 4 /* images per dW kernel call: its accumulator tile stays in registers across them */
static bool direct_dx_ok(const conv_dims *d) {
    return d->g.ph <= d->g.kh - 1 && d->g.pw <= d->g.kw - 1 && d->g.Ho <= d->g.H + d->g.ph &&
           d->g.Wo <= d->g.W + d->g.pw;
}

/* The bias gradient of one image: out[o] = Σ of its row o of G (O, P), as 8
 * partial sums over p (p mod 8; the loop vectorizes), then the tail, then
 * the partial sums in order. nb_convd_rowsums (AVX-512 path) gives the same
 * bits, several rows at once. */
#define ROWSUM_DEF(T, SUF)                                                                           \
    static void rowsums_##SUF(const T *G, int64_t O, int64_t P, T *out) {                            \
        for (int64_t o = 0; o < O; o++) {                                                            \
            const T *r = G + o * P;                                                                  \
            T a8[8] = {0}, s = 0;                                                                    \
            int64_t p = 0;                                                                           \
            for (; p + 8 <= P; p += 8)                                                               \
                for (int l = 0; l < 8; l++) a8[l] += r[p + l];                                       \
            for (; p < P; p++) s += r[p];                                                            \
            for (int l = 0; l < 8; l++) s += a8[l];                                                  \
            out[o] = s;                                                                              \
        }                                                                                            \
    }
ROWSUM_DEF(float, f32)
ROWSUM_DEF(double, f64)

#define DIRECT_HELPERS(T, SUF)                                                                       \
    /* x[n] (C, H, W) into the zero-padded xp (C, Hp, Wp): its interior only */                     \
    static void direct_pad_##SUF(T *xp, const T *x, const conv_dims *d) {                            \
        for (int64_t c = 0; c < d->g.C; c++)                                                         \
            nb_convd_copy_##SUF(xp + (c * d->Hp + d->g.ph) * d->Wp + d->g.pw, d->Wp, x + c * d->g.H * d->g.W, d->g.W, \
                                d->g.H, d->g.W);                                                     \
    }                                                                                                \
    static void direct_fwd_##SUF(nb_node *n, const conv_dims *dp) {                                  \
        const conv_dims d = *dp;                                                                     \
        const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;             \
        const T *X = (const T *)x->data, *Wt = (const T *)w->data;                                   \
        const T *B = b ? (const T *)b->data : NULL;                                                  \
        T *Y = (T *)n->out->data;                                                                    \
        const nb_convd_geom cg = {d.g.C, d.Hp, d.Wp, d.g.kh, d.g.kw, d.O};                           \
        const int nt = conv_threads(&d, d.N);                                                        \
        const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, sx = d.g.C * d.Hp * d.Wp + NB_CONVD_SLACK; \
        void *plan = scratch(nb_convd_plan_bytes(&cg, sizeof(T)));                                   \
        T *xp = scratch((size_t)(nt * sx) * sizeof(T));                                              \
        if (!plan || !xp) {                                                                          \
            memset(Y, 0, (size_t)n->out->numel * sizeof(T));                                         \
        } else {                                                                                     \
            nb_convd_plan_##SUF(plan, &cg, Wt, false);                                               \
            NB_PAR_REGION(nt,                                                                        \
            {                                                                                        \
                const int t = CONV_TID(), nth = CONV_NTH();                                          \
                int64_t n0, n1; conv_share(d.N, t, nth, &n0, &n1);                                   \
                T *buf = xp + t * sx;                                                                \
                memset(buf, 0, (size_t)sx * sizeof(T));                                              \
                for (int64_t i = n0; i < n1; i++) {                                                  \
                    direct_pad_##SUF(buf, X + i * CHW, &d);                                          \
                    nb_convd_run_##SUF(plan, buf, Y + i * OP, B, false);                             \
                }                                                                                    \
            });                                                                                      \
        }                                                                                            \
        if (plan) scratch_done(plan);                                                                \
        if (xp) scratch_done(xp);                                                                    \
    }                                                                                                \
    /* Backward, one pass over the images (each thread its share), so that    \
     * each image's gout is read from memory once and then from cache by      \
     * all three:                                                             \
     * - db: each (image, channel) summed (nb_convd_rowsums), added into GB  \
     *   in image order at the end (the same bits for any thread count, and  \
     *   as rowsums on the other paths);                                     \
     * - dx (GX, when direct_dx_ok): gout padded by k − 1 − pad into gpx,     \
     *   the forward kernel with flipped, transposed weights adds it into dx; \
     * - dW: a per-thread accumulator, added into GW in thread order          \
     *   afterwards. O a multiple of the vector width: lanes over output      \
     *   channels (dwo, one image at a time, accumulator (K, O), gout         \
     *   transposed); else lanes over output columns (accumulator (O, K,      \
     *   lanes)), kw ≤ 6: dwr on gout copied into rows padded to whole        \
     *   vectors, as many images a call as keep that copy within 32 KiB (L1), \
     *   else dw, DW_IMGS images a call. */                                   \
    static void direct_bwd_##SUF(const conv_dims *dp, const T *X, const T *Wt, const T *G, T *GX, T *GW, T *GB) { \
        const conv_dims d = *dp;                                                                     \
        const int nt = conv_threads(&d, d.N);                                                        \
        const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, Ho = d.g.Ho, Wo = d.g.Wo;         \
        /* dW */                                                                                     \
        const nb_convd_geom cw = {d.g.C, d.Hp, d.Wp, d.g.kh, d.g.kw, d.O};                           \
        void *pw = GW ? scratch(nb_convd_plan_bytes(&cw, sizeof(T))) : NULL;                         \
        bool lo = false, rw = false;                                                                 \
        int64_t ni = 1, sx = 0, gsr = 0, sgi = 0, sa = 0, sgw = 0;                                   \
        if (pw) {                                                                                    \
            nb_convd_plan_##SUF(pw, &cw, NULL, false);                                               \
            lo = nb_convd_dwo_ok(pw), rw = !lo && nb_convd_dwr_ok(pw);                               \
            sx = (d.g.C * d.Hp * d.Wp + NB_CONVD_SLACK + 15) / 16 * 16; /* 64-byte multiples */      \
            gsr = rw ? nb_convd_dwr_gs(pw) : 0, sgi = (d.O * Ho * gsr + 15) / 16 * 16;               \
            ni = lo ? 1 : DW_IMGS;                                                                   \
            if (rw) {                                                                                \
                ni = (int64_t)(32768 / sizeof(T)) / (sgi > 0 ? sgi : 1);                             \
                ni = ni < 1 ? 1 : ni > DW_IMGS ? DW_IMGS : ni;                                       \
            }                                                                                        \
            sa = lo ? d.K * d.O : (int64_t)nb_convd_dw_acc_len(pw);                                  \
            sgw = lo ? (OP + 15) / 16 * 16 : rw ? ni * sgi : 0;                                      \
        }                                                                                            \
        /* dx: gout padded by k − 1 − pad, the adjoint's input */                                   \
        const int64_t Hg = d.g.H + d.g.kh - 1, Wg = d.g.W + d.g.kw - 1;                              \
        const int64_t top = d.g.kh - 1 - d.g.ph, left = d.g.kw - 1 - d.g.pw;                         \
        const nb_convd_geom cx = {d.O, Hg, Wg, d.g.kh, d.g.kw, d.g.C};                               \
        void *px = GX ? scratch(nb_convd_plan_bytes(&cx, sizeof(T))) : NULL;                         \
        const int64_t sgx = px ? (d.O * Hg * Wg + NB_CONVD_SLACK + 15) / 16 * 16 : 0;                \
        /* per thread: padded images, dW's gout copy, dx's padded gout */                            \
        const int64_t sb = (pw ? ni * sx + sgw : 0) + sgx;                                           \
        T *acc = pw ? scratch((size_t)(nt * sa) * sizeof(T)) : NULL;                                 \
        T *bufs = scratch((size_t)(nt * sb) * sizeof(T));                                            \
        T *dbs = GB ? scratch((size_t)(d.N * d.O) * sizeof(T)) : NULL;                               \
        if ((!GW || (pw && acc)) && (!GX || px) && bufs && (!GB || dbs)) {                           \
            if (px) nb_convd_plan_##SUF(px, &cx, Wt, true);                                          \
            int used = 1;                                                                            \
            NB_PAR_REGION(nt,                                                                        \
            {                                                                                        \
                const int t = CONV_TID(), nth = CONV_NTH();                                          \
                int64_t n0, n1; conv_share(d.N, t, nth, &n0, &n1);                                   \
                if (t == 0) used = nth;                                                              \
                T *xb = bufs + t * sb, *gb = xb + ni * sx, *gx = pw ? gb + sgw : xb;                 \
                T *a = acc ? acc + t * sa : NULL;                                                    \
                memset(xb, 0, (size_t)sb * sizeof(T)); /* pads, row tails: zero */                   \
                if (a) memset(a, 0, (size_t)sa * sizeof(T));                                         \
                for (int64_t i0 = n0; i0 < n1; i0 += ni) {                                           \
                    const int nb = (int)(n1 - i0 < ni ? n1 - i0 : ni);                               \
                    const T *ins[DW_IMGS], *gs[DW_IMGS];                                             \
                    for (int i = 0; i < nb; i++) {                                                   \
                        const int64_t im = i0 + i;                                                   \
                        const T *Gi = G + im * OP;                                                   \
                        if (GB) nb_convd_rowsums_##SUF(Gi, d.O, d.P, dbs + im * d.O);                \
                        if (px) {                                                                    \
                            for (int64_t o = 0; o < d.O; o++)                                        \
                                nb_convd_copy_##SUF(gx + (o * Hg + top) * Wg + left, Wg, Gi + o * d.P, Wo, Ho, Wo); \
                            nb_convd_run_##SUF(px, gx, GX + im * CHW, NULL, true);                   \
                        }                                                                            \
                        if (!pw) continue;                                                           \
                        direct_pad_##SUF(xb + i * sx, X + im * CHW, &d);                             \
                        ins[i] = xb + i * sx;                                                        \
                        gs[i] = Gi;                                                                  \
                        if (rw) {                                                                    \
                            nb_convd_copy_##SUF(gb + i * sgi, gsr, Gi, Wo, d.O * Ho, Wo);            \
                            gs[i] = gb + i * sgi;                                                    \
                        }                                                                            \
                    }                                                                                \
                    if (!pw) continue;                                                               \
                    if (lo) nb_convd_dwo_##SUF(pw, ins[0], gs[0], gb, a);                            \
                    else if (rw) nb_convd_dwr_##SUF(pw, nb, ins, gs, a);                             \
                    else nb_convd_dw_##SUF(pw, nb, ins, gs, a);                                      \
                }                                                                                    \
            });                                                                                      \
            for (int t = 0; pw && t < used; t++) {                                                   \
                if (lo) nb_convd_dwo_finish_##SUF(pw, acc + t * sa, GW);                             \
                else nb_convd_dw_finish_##SUF(pw, acc + t * sa, GW);                                 \
            }                                                                                        \
            for (int64_t im = 0; GB && im < d.N; im++)                                               \
                for (int64_t o = 0; o < d.O; o++) GB[o] += dbs[im * d.O + o];                        \
        }                                                                                            \
        if (pw) scratch_done(pw);                                                                    \
        if (px) scratch_done(px);                                                                    \
        if (acc) scratch_done(acc);                                                                  \
        if (bufs) scratch_done(bufs);                                                                \
        if (dbs) scratch_done(dbs);                                                                  \
    }
DIRECT_HELPERS(float, f32)
DIRECT_HELPERS(double, f64)

/* ---- grouped convolution (groups G > 1): direct loops.
 * Output channel o belongs to group k = o / (O/G) and reads the Cg = C/G
 * input channels k·Cg .. k·Cg + Cg − 1 of x; w is (O, Cg, kh, kw). Each
 * output row y[n,o,i,:] is built by one pass per tap (c, p, q): a row of x
 * scaled by w[o,c,p,q] and added over the output columns j whose input
 * column j·sw − pw + q·dw lies inside the image (grouped_span). Backward
 * walks the same taps: dx rows get g-row · w (a scaled add), dW the dot
 * product of the g-row with the x-row. All sums run in a fixed order. */
/* The output columns [*lo, *hi) whose input column j·sw + off is in [0, W). */
static void grouped_span(int64_t off, int64_t sw, int64_t W, int64_t Wo, int64_t *lo, int64_t *hi) {
    int64_t a = off < 0 ? (-off + sw - 1) / sw : 0, b = W - 1 - off >= 0 ? (W - 1 - off) / sw + 1 : 0;
    if (b > Wo) b = Wo;
    *lo = a;
    *hi = b > a ? b : a;
}

#define GROUPED_HELPERS(T, SUF)                                                                     \
    static void grouped_fwd_##SUF(nb_node *n, const conv_dims *dp, int64_t G) {                     \
        const conv_dims d = *dp;                                                                     \
        const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;             \
        const T *X = (const T *)x->data, *Wt = (const T *)w->data, *B = b ? (const T *)b->data : NULL; \
        T *Y = (T *)n->out->data;                                                                    \
        const int64_t C = d.g.C, H = d.g.H, W = d.g.W, kh = d.g.kh, kw = d.g.kw, Ho = d.g.Ho, Wo = d.g.Wo; \
        const int64_t Cg = C / G, Og = d.O / G, HW = H * W, KK = kh * kw, sw = d.g.sw;             \
        for (int64_t i = 0; i < d.N; i++)                                                            \
            for (int64_t o = 0; o < d.O; o++) {                                                      \
                const T *xg = X + (i * C + (o / Og) * Cg) * HW, *wo = Wt + o * Cg * KK;              \
                const T bo = B ? B[o] : (T)0;                                                        \
                for (int64_t r = 0; r < Ho; r++) {                                                   \
                    T *restrict yr = Y + ((i * d.O + o) * Ho + r) * Wo;                              \
                    for (int64_t j = 0; j < Wo; j++) yr[j] = bo;                                     \
                    for (int64_t c = 0; c < Cg; c++)                                                 \
                        for (int64_t p = 0; p < kh; p++) {                                           \
                            const int64_t ih = r * d.g.sh - d.g.ph + p * d.g.dh;                     \
                            if (ih < 0 || ih >= H) continue;                                         \
                            const T *xr = xg + c * HW + ih * W;                                      \
                            for (int64_t q = 0; q < kw; q++) {                                       \
                                const int64_t off = q * d.g.dw - d.g.pw;                             \
                                int64_t lo, hi;                                                      \
                                grouped_span(off, sw, W, Wo, &lo, &hi);                              \
                                const T wv = wo[(c * kh + p) * kw + q];                              \
                                const T *restrict xs = xr + lo * sw + off;                           \
                                T *restrict ys = yr + lo;                                            \
                                if (sw == 1)                                                         \
                                    for (int64_t j = 0; j < hi - lo; j++) ys[j] += wv * xs[j];       \
                                else                                                                 \
                                    for (int64_t j = 0; j < hi - lo; j++) ys[j] += wv * xs[j * sw];  \
                            }                                                                        \
                        }                                                                            \
                }                                                                                    \
            }                                                                                        \
    }                                                                                                \
    static void grouped_bwd_##SUF(const conv_dims *dp, int64_t G, const T *X, const T *Wt, const T *Gt, T *GX, \
                                  T *GW, T *GB) {                                                    \
        const conv_dims d = *dp;                                                                     \
        const int64_t C = d.g.C, H = d.g.H, W = d.g.W, kh = d.g.kh, kw = d.g.kw, Ho = d.g.Ho, Wo = d.g.Wo; \
        const int64_t Cg = C / G, Og = d.O / G, HW = H * W, KK = kh * kw, sw = d.g.sw;             \
        for (int64_t i = 0; i < d.N; i++)                                                            \
            for (int64_t o = 0; o < d.O; o++) {                                                      \
                const int64_t xoff = (i * C + (o / Og) * Cg) * HW;                                   \
                const T *xg = X + xoff, *wo = Wt + o * Cg * KK;                                      \
                T *gxg = GX ? GX + xoff : NULL, *gwo = GW ? GW + o * Cg * KK : NULL;                 \
                T bsum = 0;                                                                          \
                for (int64_t r = 0; r < Ho; r++) {                                                   \
                    const T *restrict gr = Gt + ((i * d.O + o) * Ho + r) * Wo;                       \
                    if (GB)                                                                          \
                        for (int64_t j = 0; j < Wo; j++) bsum += gr[j];                              \
                    if (!GX && !GW) continue;                                                        \
                    for (int64_t c = 0; c < Cg; c++)                                                 \
                        for (int64_t p = 0; p < kh; p++) {                                           \
                            const int64_t ih = r * d.g.sh - d.g.ph + p * d.g.dh;                     \
                            if (ih < 0 || ih >= H) continue;                                         \
                            for (int64_t q = 0; q < kw; q++) {                                       \
                                const int64_t off = q * d.g.dw - d.g.pw, t = (c * kh + p) * kw + q;  \
                                int64_t lo, hi;                                                      \
                                grouped_span(off, sw, W, Wo, &lo, &hi);                              \
                                const int64_t len = hi - lo, at = c * HW + ih * W + lo * sw + off;   \
                                const T *restrict gs = gr + lo;                                      \
                                if (GW) {                                                            \
                                    const T *restrict xs = xg + at;                                  \
                                    T a4[4] = {0}, s = 0; /* 4 partial sums: the loop vectorizes */  \
                                    int64_t j = 0;                                                   \
                                    if (sw == 1)                                                     \
                                        for (; j + 4 <= len; j += 4)                                 \
                                            for (int l = 0; l < 4; l++) a4[l] += gs[j + l] * xs[j + l]; \
                                    for (; j < len; j++) s += gs[j] * xs[j * sw];                    \
                                    gwo[t] += (a4[0] + a4[1]) + (a4[2] + a4[3]) + s;                 \
                                }                                                                    \
                                if (GX) {                                                            \
                                    T *restrict dxs = gxg + at;                                      \
                                    const T wv = wo[t];                                              \
                                    if (sw == 1)                                                     \
                                        for (int64_t j = 0; j < len; j++) dxs[j] += wv * gs[j];      \
                                    else                                                             \
                                        for (int64_t j = 0; j < len; j++) dxs[j * sw] += wv * gs[j]; \
                                }                                                                    \
                            }                                                                        \
                        }                                                                            \
                }                                                                                    \
                if (GB) GB[o] += bsum;                                                               \
            }                                                                                        \
    }
GROUPED_HELPERS(float, f32)
GROUPED_HELPERS(double, f64)

/* The body is the same for float and double: GEMM and the kernels are
 * picked by suffix. */
#define CONV_FWD_BODY(T, SUF)                                                                        \
    do {                                                                                             \
        const T *X = (const T *)x->data, *Wt = (const T *)w->data;                                   \
        const T *B = b ? (const T *)b->data : NULL;                                                  \
        T *Y = (T *)n->out->data;                                                                    \
        const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P;                                   \
        T *cols = NULL, *ybuf = NULL; /* (K, nb·P), (O, nb·P) */                                     \
        if (!d.direct) cols = scratch((size_t)(d.K * d.chunk * d.P) * sizeof(T));                     \
        if (d.chunk > 1) ybuf = scratch((size_t)(d.O * d.chunk * d.P) * sizeof(T));                  \
        if ((!d.direct && !cols) || (d.chunk > 1 && !ybuf)) {                                        \
            memset(Y, 0, (size_t)n->out->numel * sizeof(T));                                         \
        } else {                                                                                     \
            for (int64_t n0 = 0; n0 < d.N; n0 += d.chunk) {                                          \
                const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.P;           \
                const T *C_ = d.direct ? X + n0 * CHW : cols;                                        \
                if (!d.direct)                                                                       \
                    for (int64_t i = 0; i < nb; i++) nb_im2col_##SUF(cols + i * d.P, ld, X + (n0 + i) * CHW, &d.g); \
                if (nb == 1) {                                                                       \
                    T *yn = Y + n0 * OP; /* (O, P) */                                                \
                    nb_gemm_##SUF(false, false, d.O, d.P, d.K, 1, Wt, d.K, C_, d.P, 0, yn, d.P);     \
                    if (B)                                                                           \
                        for (int64_t o = 0; o < d.O; o++) {                                          \
                            T *r = yn + o * d.P, bo = B[o];                                          \
                            for (int64_t p = 0; p < d.P; p++) r[p] += bo;                            \
                        }                                                                            \
                } else {                                                                             \
                    nb_gemm_##SUF(false, false, d.O, ld, d.K, 1, Wt, d.K, C_, ld, 0, ybuf, ld);      \
                    for (int64_t i = 0; i < nb; i++)                                                 \
                        for (int64_t o = 0; o < d.O; o++) {                                          \
                            T *r = Y + (n0 + i) * OP + o * d.P;                                      \
                            const T *s = ybuf + o * ld + i * d.P, bo = B ? B[o] : (T)0;              \
                            for (int64_t p = 0; p < d.P; p++) r[p] = s[p] + bo;                      \
                        }                                                                            \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
        if (cols) scratch_done(cols);                                                                \
        if (ybuf) scratch_done(ybuf);                                                                \
    } while (0)

static void conv_fwd(nb_node *n) {
    const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    const conv_dims d = dims_of(n);
    const int64_t groups = nb_attr(n, conv_attr)->groups;
    if (groups > 1) {
        if (x->dtype == NB_F32) grouped_fwd_f32(n, &d, groups);
        else grouped_fwd_f64(n, &d, groups);
        return;
    }
    if (d.wide && nb_convd_avail()) {
        if (x->dtype == NB_F32) direct_fwd_f32(n, &d);
        else direct_fwd_f64(n, &d);
        return;
    }
    if (d.wide) {
#if NB_CONV_AVX2
        if (use_avx2()) {
            if (x->dtype == NB_F32) wide_fwd_f32_avx2(n, &d);
            else wide_fwd_f64_avx2(n, &d);
            return;
        }
#endif
        if (x->dtype == NB_F32) wide_fwd_f32(n, &d);
        else wide_fwd_f64(n, &d);
        return;
    }
    if (x->dtype == NB_F32) CONV_FWD_BODY(float, f32);
    else CONV_FWD_BODY(double, f64);
}

#define CONV_BWD_BODY(T, SUF)                                                                        \
    do {                                                                                             \
        const T *X = (const T *)x->data, *Wt = (const T *)w->data, *G = (const T *)g->data;         \
        T *GX = gxt ? (T *)gxt->data : NULL, *GW = gwt ? (T *)gwt->data : NULL;                      \
        const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P;                                   \
        T *GB = gbt ? (T *)gbt->data : NULL;                                                         \
        if (d.wide && nb_convd_avail()) { /* db, dW and (pad ≤ k − 1) dx in one pass: direct_bwd */   \
            const bool dir = GX && direct_dx_ok(&d);                                                 \
            if (GX && !dir) {                                                                        \
                if (NB_CONV_AVX2 && avx2) wide_bwd_##SUF##_avx2(&d, X, Wt, G, GX, NULL);             \
                else wide_bwd_##SUF(&d, X, Wt, G, GX, NULL);                                         \
            }                                                                                        \
            if (GB || GW || dir) direct_bwd_##SUF(&d, X, Wt, G, dir ? GX : NULL, GW, GB);            \
            break;                                                                                   \
        }                                                                                            \
        if (GB) {                                                                                    \
            T *sums = scratch((size_t)d.O * sizeof(T));                                              \
            for (int64_t i = 0; sums && i < d.N; i++) {                                              \
                rowsums_##SUF(G + i * OP, d.O, d.P, sums);                                           \
                for (int64_t o = 0; o < d.O; o++) GB[o] += sums[o];                                  \
            }                                                                                        \
            if (sums) scratch_done(sums);                                                            \
        }                                                                                            \
        if (!GX && !GW) break;                                                                       \
        if (d.wide) {                                                                                \
            if (NB_CONV_AVX2 && avx2) wide_bwd_##SUF##_avx2(&d, X, Wt, G, GX, GW);                   \
            else wide_bwd_##SUF(&d, X, Wt, G, GX, GW);                                               \
            break;                                                                                   \
        }                                                                                            \
        T *cols = NULL, *gbuf = NULL; /* (K, nb·P): cols, then dcols; (O, nb·P) gout gathered */     \
        if (!d.direct) cols = scratch((size_t)(d.K * d.chunk * d.P) * sizeof(T));                     \
        if (d.chunk > 1) gbuf = scratch((size_t)(d.O * d.chunk * d.P) * sizeof(T));                  \
        if ((d.direct || cols) && (d.chunk == 1 || gbuf)) {                                          \
            for (int64_t n0 = 0; n0 < d.N; n0 += d.chunk) {                                          \
                const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.P;           \
                const T *Gc = G + n0 * OP; /* (O, ld) */                                             \
                if (nb > 1) {                                                                        \
                    for (int64_t i = 0; i < nb; i++)                                                 \
                        for (int64_t o = 0; o < d.O; o++)                                            \
                            memcpy(gbuf + o * ld + i * d.P, G + (n0 + i) * OP + o * d.P,             \
                                   (size_t)d.P * sizeof(T));                                         \
                    Gc = gbuf;                                                                       \
                }                                                                                    \
                if (d.direct) {                                                                      \
                    const T *xn = X + n0 * CHW; /* (C, P): cols is x */                              \
                    if (GW) nb_gemm_##SUF(false, true, d.O, d.K, d.P, 1, Gc, d.P, xn, d.P, 1, GW, d.K); \
                    if (GX) nb_gemm_##SUF(true, false, d.K, d.P, d.O, 1, Wt, d.K, Gc, d.P, 1, GX + n0 * CHW, d.P); \
                    continue;                                                                        \
                }                                                                                    \
                if (GW) {                                                                            \
                    for (int64_t i = 0; i < nb; i++) nb_im2col_##SUF(cols + i * d.P, ld, X + (n0 + i) * CHW, &d.g); \
                    nb_gemm_##SUF(false, true, d.O, d.K, ld, 1, Gc, ld, cols, ld, 1, GW, d.K);       \
                }                                                                                    \
                if (GX) {                                                                            \
                    nb_gemm_##SUF(true, false, d.K, ld, d.O, 1, Wt, d.K, Gc, ld, 0, cols, ld);       \
                    for (int64_t i = 0; i < nb; i++) nb_col2im_##SUF(GX + (n0 + i) * CHW, cols + i * d.P, ld, &d.g); \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
        if (cols) scratch_done(cols);                                                                \
        if (gbuf) scratch_done(gbuf);                                                                \
    } while (0)

static void conv_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    nb_tensor *gxt = nb_grad_buf(x), *gwt = nb_grad_buf(w), *gbt = b ? nb_grad_buf(b) : NULL;
    const conv_dims d = dims_of(n);
    const int64_t groups = nb_attr(n, conv_attr)->groups;
    if (groups > 1) {
        if (x->dtype == NB_F32)
            grouped_bwd_f32(&d, groups, (const float *)x->data, (const float *)w->data, (const float *)g->data,
                            gxt ? (float *)gxt->data : NULL, gwt ? (float *)gwt->data : NULL,
                            gbt ? (float *)gbt->data : NULL);
        else
            grouped_bwd_f64(&d, groups, (const double *)x->data, (const double *)w->data, (const double *)g->data,
                            gxt ? (double *)gxt->data : NULL, gwt ? (double *)gwt->data : NULL,
                            gbt ? (double *)gbt->data : NULL);
        return;
    }
    const bool avx2 = use_avx2();
    if (x->dtype == NB_F32) CONV_BWD_BODY(float, f32);
    else CONV_BWD_BODY(double, f64);
}

/* backward reads x and w (not b, not the output) */
static const nb_op conv2d_op = {"conv2d", conv_fwd, conv_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false};
static const nb_op conv1d_op = {"conv1d", conv_fwd, conv_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false};

/* ------------------------------------------------------------ builders */

/* Validates and applies conv with `sp` spatial dims (1 or 2); stride, pad,
 * dil have sp entries (the spatial axes in order). */
static nb_tensor *conv_build(const nb_op *op, int sp, nb_tensor *x, nb_tensor *w, nb_tensor *b, const int *stride,
                             const int *pad, const int *dil, nb_padding mode, int groups) {
    const char *name = op->name;
    nb_tensor *in[3] = {x, w, b};
    const int nin = b ? 3 : 2;
    if (!nb_check_float_inputs(name, in, nin)) return NULL;
    char dx[NB_DESCRIBE_LEN], dw[NB_DESCRIBE_LEN], db[NB_DESCRIBE_LEN];
    nb_describe(x, "x", dx, sizeof dx);
    nb_describe(w, "w", dw, sizeof dw);
    const char *xl = sp == 2 ? "(N,C,H,W)" : "(N,C,L)", *wl = sp == 2 ? "(O,C,kh,kw)" : "(O,C,k)";
    if (x->shape.ndim != sp + 2) {
        nb_fail(NB_ERR_SHAPE, name, "x must be %d-D %s: %s, %s", sp + 2, xl, dx, dw);
        return NULL;
    }
    if (w->shape.ndim != sp + 2) {
        nb_fail(NB_ERR_SHAPE, name, "w must be %d-D %s: %s, %s", sp + 2, wl, dx, dw);
        return NULL;
    }
    for (int i = 0; i < sp + 2; i++)
        if (w->shape.d[i] < 1) {
            nb_fail(NB_ERR_SHAPE, name, "w has an empty dimension: %s, %s", dx, dw);
            return NULL;
        }
    if (groups < 0) {
        nb_fail(NB_ERR_ARG, name, "groups must be >= 0 (0 or 1 = ungrouped), got %d: %s, %s", groups, dx, dw);
        return NULL;
    }
    const int64_t G = groups > 1 ? groups : 1;
    if (G > 1 && x->shape.d[1] % G != 0) {
        nb_fail(NB_ERR_SHAPE, name, "input channels C = %lld are not divisible by groups = %lld: %s, %s",
                (long long)x->shape.d[1], (long long)G, dx, dw);
        return NULL;
    }
    if (G > 1 && w->shape.d[0] % G != 0) {
        nb_fail(NB_ERR_SHAPE, name, "output channels O = %lld are not divisible by groups = %lld: %s, %s",
                (long long)w->shape.d[0], (long long)G, dx, dw);
        return NULL;
    }
    if (G > 1 && w->shape.d[1] != x->shape.d[1] / G) {
        nb_fail(NB_ERR_SHAPE, name, "w must have C/groups = %lld/%lld = %lld input channels, has %lld: %s, %s",
                (long long)x->shape.d[1], (long long)G, (long long)(x->shape.d[1] / G), (long long)w->shape.d[1], dx,
                dw);
        return NULL;
    }
    if (G == 1 && x->shape.d[1] != w->shape.d[1]) {
        nb_fail(NB_ERR_SHAPE, name, "channels differ: x has %lld, w expects %lld: %s, %s", (long long)x->shape.d[1],
                (long long)w->shape.d[1], dx, dw);
        return NULL;
    }
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != w->shape.d[0])) {
        nb_fail(NB_ERR_SHAPE, name, "bias must be (%lld), one per output channel: %s, %s", (long long)w->shape.d[0],
                nb_describe(b, "b", db, sizeof db), dw);
        return NULL;
    }
    if (mode != NB_PAD_EXPLICIT && mode != NB_PAD_SAME && mode != NB_PAD_VALID) {
        nb_fail(NB_ERR_ARG, name, "unknown padding mode %d: %s, %s", (int)mode, dx, dw);
        return NULL;
    }
    int64_t before[2] = {0, 0}, out[2] = {1, 1};
    for (int i = 0; i < sp; i++) {
        const char *ax = sp == 1 ? "" : i == 0 ? " (height)" : " (width)";
        if (stride[i] < 1) {
            nb_fail(NB_ERR_ARG, name, "stride%s must be >= 1, got %d: %s, %s", ax, stride[i], dx, dw);
            return NULL;
        }
        if (dil[i] < 1) {
            nb_fail(NB_ERR_ARG, name, "dilation%s must be >= 1, got %d: %s, %s", ax, dil[i], dx, dw);
            return NULL;
        }
        if (mode == NB_PAD_EXPLICIT && pad[i] < 0) {
            nb_fail(NB_ERR_ARG, name, "padding%s must be >= 0, got %d: %s, %s", ax, pad[i], dx, dw);
            return NULL;
        }
        const int64_t nsz = x->shape.d[2 + i], k = w->shape.d[2 + i], s = stride[i];
        int64_t ek; /* effective (dilated) kernel: dil*(k-1) + 1, checked */
        if (!nb__size_mul(dil[i], k - 1, &ek) || !nb__size_add(ek, 1, &ek)) {
            nb_fail(NB_ERR_SHAPE, name, "kernel%s of %lld with dilation %d spans more than any input holds: %s, %s",
                    ax, (long long)k, dil[i], dx, dw);
            return NULL;
        }
        int64_t total;
        if (mode == NB_PAD_SAME) {
            const int64_t o = (nsz + s - 1) / s;
            total = (o - 1) * s + ek - nsz;
            if (total < 0) total = 0;
            before[i] = total / 2;
        } else if (mode == NB_PAD_VALID) {
            total = 0;
        } else {
            total = 2 * (int64_t)pad[i];
            before[i] = pad[i];
        }
        if (ek > nsz + total) {
            nb_fail(NB_ERR_SHAPE, name,
                    "kernel%s of %lld (dilated: %lld) is bigger than the padded input %lld (%lld + padding %lld): %s, %s",
                    ax, (long long)k, (long long)ek, (long long)(nsz + total), (long long)nsz, (long long)total, dx, dw);
            return NULL;
        }
        out[i] = (nsz + total - ek) / s + 1;
    }
    conv_attr a;
    nb_shape s;
    if (sp == 2) {
        a = (conv_attr){stride[0], stride[1], before[0], before[1], dil[0], dil[1], G};
        s = NB_SHAPE(x->shape.d[0], w->shape.d[0], out[0], out[1]);
    } else {
        a = (conv_attr){1, stride[0], 0, before[0], 1, dil[0], G};
        s = NB_SHAPE(x->shape.d[0], w->shape.d[0], out[0]);
    }
    return nb_apply_ex(op, in, nin, s, x->dtype, &a, sizeof a);
}

nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *o) {
    const nb_conv2d_opts opts = o ? *o : NB_CONV2D_DEFAULT;
    return conv_build(&conv2d_op, 2, x, w, b, opts.stride, opts.pad, opts.dilation, opts.padding, opts.groups);
}

nb_tensor *nb_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int pad, int dilation) {
    return conv_build(&conv1d_op, 1, x, w, b, &stride, &pad, &dilation, NB_PAD_EXPLICIT, 1);
}

nb_tensor *nb_conv1d_ex(nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int pad, int dilation, int groups) {
    return conv_build(&conv1d_op, 1, x, w, b, &stride, &pad, &dilation, NB_PAD_EXPLICIT, groups);
}

/* ------------------------------------------------------------ registry */

/* conv2d: in = x, w[, b]; iarg = stride h, w, pad h, w, dilation h, w, padding mode, groups (0 = 1). */
static nb_tensor *conv2d_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    const int64_t *a = s->iarg;
    nb_conv2d_opts o = {{(int)a[0], (int)a[1]}, {(int)a[2], (int)a[3]}, {(int)a[4], (int)a[5]}, (nb_padding)a[6],
                        (int)a[7]};
    return nb_conv2d(in[0], in[1], nin > 2 ? in[2] : NULL, &o);
}

static int conv2d_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x, w;
        int bias;
        int st[2], pad[2], dil[2];
        nb_padding mode;
        const char *desc;
        int groups;
    } cases[] = {
        {NB_SHAPE(2, 2, 5, 4), NB_SHAPE(3, 2, 3, 3), 1, {1, 1}, {0, 0}, {1, 1}, NB_PAD_EXPLICIT, "(2,2,5,4) * (3,2,3,3)", 0},
        {NB_SHAPE(2, 2, 5, 4), NB_SHAPE(3, 2, 3, 3), 1, {1, 1}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, "padding 1", 0},
        {NB_SHAPE(2, 2, 5, 4), NB_SHAPE(3, 2, 3, 3), 1, {2, 2}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, "stride 2, padding 1", 0},
        {NB_SHAPE(2, 2, 6, 4), NB_SHAPE(2, 2, 3, 3), 1, {2, 2}, {0, 0}, {1, 1}, NB_PAD_SAME, "SAME stride 2 (pad 0/1)", 0},
        {NB_SHAPE(1, 2, 4, 5), NB_SHAPE(2, 2, 2, 2), 1, {1, 1}, {0, 0}, {1, 1}, NB_PAD_SAME, "SAME 2x2 (pad 0/1)", 0},
        {NB_SHAPE(2, 1, 5, 6), NB_SHAPE(2, 1, 2, 3), 1, {1, 2}, {0, 0}, {1, 1}, NB_PAD_VALID, "VALID 2x3 stride (1,2)", 0},
        {NB_SHAPE(2, 2, 5, 4), NB_SHAPE(2, 2, 3, 3), 1, {1, 1}, {1, 1}, {2, 2}, NB_PAD_EXPLICIT, "dilation 2, padding 1", 0},
        {NB_SHAPE(1, 1, 4, 4), NB_SHAPE(2, 1, 2, 2), 1, {1, 1}, {0, 0}, {1, 1}, NB_PAD_EXPLICIT, "batch of 1, 1 channel", 0},
        {NB_SHAPE(2, 3, 4, 3), NB_SHAPE(2, 3, 3, 2), 0, {1, 1}, {1, 0}, {1, 1}, NB_PAD_EXPLICIT, "no bias, pad (1,0)", 0},
        {NB_SHAPE(3, 3, 3, 2), NB_SHAPE(2, 3, 1, 1), 1, {1, 1}, {0, 0}, {1, 1}, NB_PAD_EXPLICIT, "1x1 kernel (direct)", 0},
        {NB_SHAPE(2, 4, 5, 4), NB_SHAPE(6, 2, 3, 3), 1, {1, 1}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, "groups 2 (C 4, O 6), padding 1", 2},
        {NB_SHAPE(2, 3, 6, 5), NB_SHAPE(3, 1, 3, 3), 1, {2, 2}, {1, 1}, {1, 1}, NB_PAD_EXPLICIT, "depthwise C 3, stride 2, padding 1", 3},
        {NB_SHAPE(1, 3, 6, 6), NB_SHAPE(6, 1, 3, 2), 0, {1, 1}, {2, 1}, {2, 2}, NB_PAD_EXPLICIT,
         "depthwise x2 (O 6), dilation 2, padding (2,1), no bias, batch of 1", 3},
        {NB_SHAPE(2, 4, 5, 7), NB_SHAPE(2, 2, 2, 3), 1, {2, 1}, {0, 0}, {1, 1}, NB_PAD_SAME, "groups 2 (O 2), SAME stride (2,1)", 2},
        {NB_SHAPE(1, 4, 4, 5), NB_SHAPE(4, 1, 1, 1), 0, {1, 1}, {0, 0}, {1, 1}, NB_PAD_EXPLICIT, "depthwise 1x1, no bias", 4},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc,
                           .nin = cases[c].bias ? 3 : 2,
                           .iarg = {cases[c].st[0], cases[c].st[1], cases[c].pad[0], cases[c].pad[1],
                                    cases[c].dil[0], cases[c].dil[1], cases[c].mode, cases[c].groups}};
        s[k].in[0] = nb_sample_uniform(cases[c].x, -1, 1);
        s[k].in[1] = nb_sample_uniform(cases[c].w, -1, 1);
        if (cases[c].bias) s[k].in[2] = nb_sample_uniform(NB_SHAPE(cases[c].w.d[0]), -1, 1);
    }
    return k;
}

const nb_op_entry nb_entry_conv2d = {"conv2d", conv2d_entry_apply, conv2d_samples, 0, 0};

/* conv1d: in = x, w[, b]; iarg = stride, pad, dilation, groups (0 = 1). */
static nb_tensor *conv1d_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    return nb_conv1d_ex(in[0], in[1], nin > 2 ? in[2] : NULL, (int)s->iarg[0], (int)s->iarg[1], (int)s->iarg[2],
                        (int)s->iarg[3]);
}

static int conv1d_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x, w;
        int bias, st, pad, dil;
        const char *desc;
        int groups;
    } cases[] = {
        {NB_SHAPE(2, 2, 7), NB_SHAPE(3, 2, 3), 1, 1, 1, 1, "(2,2,7) * (3,2,3) padding 1", 0},
        {NB_SHAPE(2, 2, 9), NB_SHAPE(2, 2, 3), 1, 2, 2, 2, "stride 2, padding 2, dilation 2", 0},
        {NB_SHAPE(1, 3, 5), NB_SHAPE(2, 3, 2), 0, 1, 0, 1, "batch of 1, no bias", 0},
        {NB_SHAPE(2, 4, 8), NB_SHAPE(6, 2, 3), 1, 2, 1, 1, "groups 2 (C 4, O 6), stride 2, padding 1", 2},
        {NB_SHAPE(1, 3, 9), NB_SHAPE(3, 1, 3), 0, 1, 2, 2, "depthwise, dilation 2, padding 2, no bias", 3},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = cases[c].bias ? 3 : 2,
                           .iarg = {cases[c].st, cases[c].pad, cases[c].dil, cases[c].groups}};
        s[k].in[0] = nb_sample_uniform(cases[c].x, -1, 1);
        s[k].in[1] = nb_sample_uniform(cases[c].w, -1, 1);
        if (cases[c].bias) s[k].in[2] = nb_sample_uniform(NB_SHAPE(cases[c].w.d[0]), -1, 1);
    }
    return k;
}

const nb_op_entry nb_entry_conv1d = {"conv1d", conv1d_entry_apply, conv1d_samples, 0, 0};
