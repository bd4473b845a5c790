/* ops/kernels/conv_wide_tmpl.h — the padded-width conv path for one element
 * type (and one ISA build), included by conv_wide.c (no include guard).
 *
 * Stride 1, dilation 1. The image is copied once into a zero-padded buffer
 * xp (C, Hp, Wp), Hp = Ho + kh − 1, Wp = Wo + kw − 1. Computing the output
 * on the padded width (Ho × Wp columns, the last kw − 1 of each row
 * garbage), row (c,p,q) of cols is ONE contiguous run of xp:
 * xp[c, p, q .. q + Ho·Wp) — a memcpy of Ho·Wp elements instead of Ho short
 * rows with bounds. The GEMM runs on Ho·Wp columns per image and the
 * garbage columns are dropped when Y is written. Backward zero-fills those
 * columns of the gathered gout, so they add nothing to dW, and zeroes them
 * in dcols (Wᵀ·0 is NaN for a non-finite weight); col2im is then K
 * contiguous adds into a padded dx buffer, cropped into dx at the end. Images (chunks or groups of them) are
 * split between threads; the GEMMs inside a region run on their thread
 * (the built-in GEMM stays on one thread there: one owner of the threads
 * per op).
 *
 * The includer defines T (float or double), FN(name) (the name of this
 * instance's function `name`), DT(name) (name with the element type's
 * suffix: nb_gemm_f32) and ATTR (function attributes, may be empty); they
 * are #undef'd at the end. */

/* Images per dW GEMM call (see wide_dw). */
#ifndef NB_CONV_WIDE_GROUP
#define NB_CONV_WIDE_GROUP
static int64_t wide_dw_group(const nb_conv_dims *d) { return d->P >= 256 ? 1 : 256 / d->P; }
#endif

static ATTR void FN(wide_pad)(T *restrict xp, const T *restrict x, const nb_conv_dims *d) {
    const int64_t H = d->g.H, W = d->g.W;
    for (int64_t c = 0; c < d->g.C; c++)
        for (int64_t h = 0; h < H; h++)
            memcpy(xp + (c * d->Hp + h + d->g.ph) * d->Wp + d->g.pw, x + (c * H + h) * W, (size_t)W * sizeof(T));
}
static ATTR void FN(wide_im2col)(T *restrict cols, int64_t ld, const T *restrict xp, const nb_conv_dims *d) {
    for (int64_t c = 0; c < d->g.C; c++)
        for (int64_t p = 0; p < d->g.kh; p++)
            for (int64_t q = 0; q < d->g.kw; q++)
                memcpy(cols + ((c * d->g.kh + p) * d->g.kw + q) * ld, xp + (c * d->Hp + p) * d->Wp + q,
                       (size_t)d->Pw * sizeof(T));
}
static ATTR void FN(wide_add)(T *restrict dst, const T *restrict src, int64_t n) {
    for (int64_t t = 0; t < n; t++) dst[t] += src[t];
}
/* dx (C,H,W) += col2im of dcols (K, Pw at ld), through the padded buffer dxp */
static ATTR void FN(wide_col2im)(T *dx, T *dxp, const T *cols, int64_t ld, const nb_conv_dims *d) {
    const int64_t H = d->g.H, W = d->g.W;
    memset(dxp, 0, (size_t)d->XP * sizeof(T));
    for (int64_t c = 0; c < d->g.C; c++)
        for (int64_t p = 0; p < d->g.kh; p++)
            for (int64_t q = 0; q < d->g.kw; q++)
                FN(wide_add)(dxp + (c * d->Hp + p) * d->Wp + q, cols + ((c * d->g.kh + p) * d->g.kw + q) * ld, d->Pw);
    for (int64_t c = 0; c < d->g.C; c++)
        for (int64_t h = 0; h < H; h++)
            FN(wide_add)(dx + (c * H + h) * W, dxp + (c * d->Hp + h + d->g.ph) * d->Wp + d->g.pw, W);
}
/* Chunks [c0, c1) of images (chunk c = images c·chunk ..), own scratch. */
static ATTR void FN(wide_fwd_chunks)(const nb_conv_dims *dp, int nthreads, const T *X, const T *Wt, const T *B, T *Y,
                                     int64_t c0, int64_t c1, T *cols, T *ybuf, T *xp) {
    const nb_conv_dims d = *dp;
    const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, Wo = d.g.Wo;
    memset(xp, 0, (size_t)d.XP * sizeof(T));
    for (int64_t c = c0; c < c1; c++) {
        const int64_t n0 = c * d.chunk;
        const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.Pw;
        for (int64_t i = 0; i < nb; i++) {
            FN(wide_pad)(xp, X + (n0 + i) * CHW, &d);
            FN(wide_im2col)(cols + i * d.Pw, ld, xp, &d);
        }
        DT(nb_gemm_mt)(nthreads, false, false, d.O, ld, d.K, 1, Wt, d.K, cols, ld, 0, ybuf, ld);
        for (int64_t i = 0; i < nb; i++)
            for (int64_t o = 0; o < d.O; o++) {
                const T bo = B ? B[o] : (T)0;
                for (int64_t r = 0; r < d.g.Ho; r++) {
                    T *dst = Y + (n0 + i) * OP + o * d.P + r * Wo;
                    const T *src = ybuf + o * ld + i * d.Pw + r * d.Wp;
                    for (int64_t j = 0; j < Wo; j++) dst[j] = src[j] + bo;
                }
            }
    }
}
/* The forward: chunks of images split between threads (nthreads at most). */
static ATTR void FN(wide_fwd)(const nb_conv_dims *dp, int nthreads, const T *X, const T *Wt, const T *B, T *Y,
                              const nb_conv_scratch *ws) {
    const nb_conv_dims d = *dp;
    const int64_t nch = (d.N + d.chunk - 1) / d.chunk;
    const int nt = nb_par_clamp(nb_conv_threads(&d, nthreads), nch);
    const int64_t sc = d.K * d.chunk * d.Pw, sy = d.O * d.chunk * d.Pw;
    T *cols = nb_conv_get(ws, (size_t)(nt * sc) * sizeof(T));
    T *ybuf = nb_conv_get(ws, (size_t)(nt * sy) * sizeof(T));
    T *xp = nb_conv_get(ws, (size_t)(nt * d.XP) * sizeof(T));
    if (!cols || !ybuf || !xp) {
        memset(Y, 0, (size_t)(d.N * d.O * d.P) * sizeof(T));
    } else if (nt == 1) {
        FN(wide_fwd_chunks)(&d, nthreads, X, Wt, B, Y, 0, nch, cols, ybuf, xp);
    } else {
        NB_PAR_REGION(nt, {
            const int t = NB_PAR_TID(nt), nth = NB_PAR_NTH(nt);
            int64_t c0, c1;
            nb_par_share(nch, t, nth, &c0, &c1);
            if (c0 < c1)
                FN(wide_fwd_chunks)(&d, nthreads, X, Wt, B, Y, c0, c1, cols + t * sc, ybuf + t * sy, xp + t * d.XP);
        });
    }
    nb_conv_put(ws, cols);
    nb_conv_put(ws, ybuf);
    nb_conv_put(ws, xp);
}
/* rows (P, ldt ≥ K − kw + 8): row i·Wo + j of colsᵀ, x's patch under output
 * (i, j) in (c, p, q) order, from the padded image xp. Each (c, p) is a run
 * of kw contiguous elements of xp; for kw ≤ 8 it is moved as 8 (one fixed-
 * size copy): the extra ones land where the next run goes, or past K in the
 * row's slack, and are read from xp's slack. */
static ATTR void FN(wide_im2row)(T *restrict rows, int64_t ldt, const T *restrict xp, const nb_conv_dims *d) {
    const int64_t Wo = d->g.Wo, kh = d->g.kh, kw = d->g.kw, C = d->g.C, Hp = d->Hp, Wp = d->Wp;
    for (int64_t i = 0; i < d->g.Ho; i++)
        for (int64_t j = 0; j < Wo; j++) {
            T *r = rows + (i * Wo + j) * ldt;
            const T *s0 = xp + i * Wp + j;
            if (kw <= 8) {
                for (int64_t c = 0; c < C; c++)
                    for (int64_t p = 0; p < kh; p++, r += kw) memcpy(r, s0 + (c * Hp + p) * Wp, 8 * sizeof(T));
            } else {
                for (int64_t c = 0; c < C; c++)
                    for (int64_t p = 0; p < kh; p++, r += kw) memcpy(r, s0 + (c * Hp + p) * Wp, (size_t)kw * sizeof(T));
            }
        }
}
/* dW (O, K) += G (O, P) @ colsᵀ (P, K): colsᵀ is built row-major (im2row),
 * so the GEMM reads both operands in place (no transposing pack of cols).
 * Each call covers at most 256 output positions (one K block of the GEMM:
 * its small, unpacked path): several whole images when P is small (their
 * gout rows gathered side by side), else one image in pieces. The product
 * is Kp = K rounded up to 32 columns wide (whole GEMM panels, so B is never
 * packed), into dwt (O, Kp); its extra columns are dropped. */
static ATTR void FN(wide_dw)(const nb_conv_dims *dp, int nthreads, const T *X, const T *G, T *dwt, int64_t Kp, T *xp,
                             T *rows, int64_t ldt, T *gbuf, int64_t g0, int64_t g1) {
    const nb_conv_dims d = *dp;
    const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, grp = wide_dw_group(&d);
    const int64_t npiece = (d.P + 255) / 256, piece = (d.P + npiece - 1) / npiece;
    memset(xp, 0, (size_t)d.XP * sizeof(T));
    for (int64_t gi = g0; gi < g1; gi++) { /* groups of grp images */
        const int64_t n0 = gi * grp;
        const int64_t nb = d.N - n0 < grp ? d.N - n0 : grp, ld = nb * d.P;
        for (int64_t i = 0; i < nb; i++) {
            FN(wide_pad)(xp, X + (n0 + i) * CHW, &d);
            FN(wide_im2row)(rows + i * d.P * ldt, ldt, xp, &d);
        }
        if (nb > 1) {
            for (int64_t o = 0; o < d.O; o++)
                for (int64_t i = 0; i < nb; i++)
                    memcpy(gbuf + o * ld + i * d.P, G + (n0 + i) * OP + o * d.P, (size_t)d.P * sizeof(T));
            DT(nb_gemm_mt)(nthreads, false, false, d.O, Kp, ld, 1, gbuf, ld, rows, ldt, 1, dwt, Kp);
            continue;
        }
        for (int64_t r0 = 0; r0 < d.P; r0 += piece) {
            const int64_t kb = d.P - r0 < piece ? d.P - r0 : piece;
            DT(nb_gemm_mt)
            (nthreads, false, false, d.O, Kp, kb, 1, G + n0 * OP + r0, d.P, rows + r0 * ldt, ldt, 1, dwt, Kp);
        }
    }
}
/* dx for chunks [c0, c1): gout gathered on the padded width (zeros in the
 * gaps), dcols = Wᵀ·gout, col2im through the padded buffer dxp. */
static ATTR void FN(wide_dx)(const nb_conv_dims *dp, int nthreads, const T *Wt, const T *G, T *GX, int64_t c0,
                             int64_t c1, T *cols, T *gbuf, T *dxp) {
    const nb_conv_dims d = *dp;
    const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P, Wo = d.g.Wo;
    for (int64_t c = c0; c < c1; c++) {
        const int64_t n0 = c * d.chunk;
        const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.Pw;
        for (int64_t i = 0; i < nb; i++)
            for (int64_t o = 0; o < d.O; o++)
                for (int64_t r = 0; r < d.g.Ho; r++) {
                    T *dst = gbuf + o * ld + i * d.Pw + r * d.Wp;
                    memcpy(dst, G + (n0 + i) * OP + o * d.P + r * Wo, (size_t)Wo * sizeof(T));
                    for (int64_t j = Wo; j < d.Wp; j++) dst[j] = 0;
                }
        DT(nb_gemm_mt)(nthreads, true, false, d.K, ld, d.O, 1, Wt, d.K, gbuf, ld, 0, cols, ld);
        /* the gaps of dcols are 0·w: NaN where w holds a NaN or an infinity, and
         * col2im would add them to real pixels (the gaps overlap the next row) */
        if (d.Wp > Wo)
            for (int64_t k = 0; k < d.K; k++)
                for (int64_t i = 0; i < nb; i++)
                    for (int64_t r = 0; r < d.g.Ho; r++)
                        memset(cols + k * ld + i * d.Pw + r * d.Wp + Wo, 0, (size_t)(d.Wp - Wo) * sizeof(T));
        for (int64_t i = 0; i < nb; i++) FN(wide_col2im)(GX + (n0 + i) * CHW, dxp, cols + i * d.Pw, ld, &d);
    }
}
/* Threads (nthreads at most): images split between them, single-threaded GEMMs
 * inside; dW summed from one accumulator per thread, in thread order. */
static ATTR void FN(wide_bwd)(const nb_conv_dims *dp, int nthreads, const T *X, const T *Wt, const T *G, T *GX, T *GW,
                              const nb_conv_scratch *ws) {
    const nb_conv_dims d = *dp;
    const int64_t OP = d.O * d.P;
    if (GW) {
        /* rows: Kp columns read, and the kw <= 8 copies write up to K − kw + 8 */
        const int64_t Kp = (d.K + 31) / 32 * 32, grp = wide_dw_group(&d), ng = (d.N + grp - 1) / grp;
        const int64_t ldt = Kp > d.K - d.g.kw + 8 ? Kp : d.K - d.g.kw + 8;
        const int nt = nb_par_clamp(nb_conv_threads(&d, nthreads), ng);
        const int64_t sr = grp * d.P * ldt, sg = grp > 1 ? grp * OP : 0, sd = d.O * Kp;
        T *rows = nb_conv_get(ws, (size_t)(nt * sr) * sizeof(T));
        T *gb = grp > 1 ? nb_conv_get(ws, (size_t)(nt * sg) * sizeof(T)) : NULL;
        T *dwt = nb_conv_get(ws, (size_t)(nt * sd) * sizeof(T));
        T *xp = nb_conv_get(ws, (size_t)(nt * d.XP) * sizeof(T));
        if (rows && (grp == 1 || gb) && dwt && xp) {
            memset(rows, 0, (size_t)(nt * sr) * sizeof(T)); /* columns past K: finite */
            memset(dwt, 0, (size_t)(nt * sd) * sizeof(T));
            int used = 1;
            if (nt == 1) {
                FN(wide_dw)(&d, nthreads, X, G, dwt, Kp, xp, rows, ldt, gb, 0, ng);
            } else {
                NB_PAR_REGION(nt, {
                    const int t = NB_PAR_TID(nt), nth = NB_PAR_NTH(nt);
                    int64_t g0, g1;
                    nb_par_share(ng, t, nth, &g0, &g1);
                    if (t == 0) used = nth;
                    if (g0 < g1)
                        FN(wide_dw)
                        (&d, nthreads, X, G, dwt + t * sd, Kp, xp + t * d.XP, rows + t * sr, ldt,
                         gb ? gb + t * sg : NULL, g0, g1);
                });
            }
            for (int t = 0; t < used; t++)
                for (int64_t o = 0; o < d.O; o++)
                    for (int64_t k = 0; k < d.K; k++) GW[o * d.K + k] += dwt[t * sd + o * Kp + k];
        }
        nb_conv_put(ws, rows);
        nb_conv_put(ws, gb);
        nb_conv_put(ws, dwt);
        nb_conv_put(ws, xp);
    }
    if (GX) {
        const int64_t nch = (d.N + d.chunk - 1) / d.chunk;
        const int nt = nb_par_clamp(nb_conv_threads(&d, nthreads), nch);
        const int64_t sc = d.K * d.chunk * d.Pw, sy = d.O * d.chunk * d.Pw;
        T *cols = nb_conv_get(ws, (size_t)(nt * sc) * sizeof(T));
        T *gbuf = nb_conv_get(ws, (size_t)(nt * sy) * sizeof(T));
        T *dxp = nb_conv_get(ws, (size_t)(nt * d.XP) * sizeof(T));
        if (cols && gbuf && dxp) {
            if (nt == 1) {
                FN(wide_dx)(&d, nthreads, Wt, G, GX, 0, nch, cols, gbuf, dxp);
            } else {
                NB_PAR_REGION(nt, {
                    const int t = NB_PAR_TID(nt), nth = NB_PAR_NTH(nt);
                    int64_t c0, c1;
                    nb_par_share(nch, t, nth, &c0, &c1);
                    if (c0 < c1)
                        FN(wide_dx)(&d, nthreads, Wt, G, GX, c0, c1, cols + t * sc, gbuf + t * sy, dxp + t * d.XP);
                });
            }
        }
        nb_conv_put(ws, cols);
        nb_conv_put(ws, gbuf);
        nb_conv_put(ws, dxp);
    }
}

#undef T
#undef FN
#undef DT
#undef ATTR
