/* ops/kernels/conv_gemm_tmpl.h — the im2col + GEMM conv path and the bias
 * gradient for one element type, included by conv_gemm.c (no include guard).
 * The includer defines T (float or double), FN(name) and DT(name) (name with
 * the element type's suffix); they are #undef'd at the end. */

/* The bias gradient of one image: out[o] = Σ of its row o of G (O, P), as 8
 * partial sums over p (p mod 8; the loop vectorizes), then the tail, then
 * the partial sums in order. nb_convd_rowsums (AVX-512 path) gives the same
 * bits, several rows at once. */
static void FN(rowsums)(const T *G, int64_t O, int64_t P, T *out) {
    for (int64_t o = 0; o < O; o++) {
        const T *r = G + o * P;
        T a8[8] = {0}, s = 0;
        int64_t p = 0;
        for (; p + 8 <= P; p += 8)
            for (int l = 0; l < 8; l++) a8[l] += r[p + l];
        for (; p < P; p++) s += r[p];
        for (int l = 0; l < 8; l++) s += a8[l];
        out[o] = s;
    }
}

void FN(nb_conv_bias_grad)(const nb_conv_dims *d, const T *G, T *GB, const nb_conv_scratch *ws) {
    const int64_t OP = d->O * d->P;
    T *sums = nb_conv_get(ws, (size_t)d->O * sizeof(T));
    for (int64_t i = 0; sums && i < d->N; i++) {
        FN(rowsums)(G + i * OP, d->O, d->P, sums);
        for (int64_t o = 0; o < d->O; o++) GB[o] += sums[o];
    }
    nb_conv_put(ws, sums);
}

/* y = W @ cols + b, chunk images per GEMM; the (O, nb·P) result of a chunk
 * of several images is scattered to (nb, O, P). */
void FN(nb_conv_gemm_fwd)(const nb_conv_dims *dp, int nthreads, const T *X, const T *Wt, const T *B, T *Y,
                          const nb_conv_scratch *ws) {
    const nb_conv_dims d = *dp;
    const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P;
    T *cols = NULL, *ybuf = NULL; /* (K, nb·P), (O, nb·P) */
    if (!d.direct) cols = nb_conv_get(ws, (size_t)(d.K * d.chunk * d.P) * sizeof(T));
    if (d.chunk > 1) ybuf = nb_conv_get(ws, (size_t)(d.O * d.chunk * d.P) * sizeof(T));
    if ((!d.direct && !cols) || (d.chunk > 1 && !ybuf)) {
        memset(Y, 0, (size_t)(d.N * d.O * d.P) * sizeof(T));
    } else {
        for (int64_t n0 = 0; n0 < d.N; n0 += d.chunk) {
            const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.P;
            const T *C_ = d.direct ? X + n0 * CHW : cols;
            if (!d.direct)
                for (int64_t i = 0; i < nb; i++) DT(nb_im2col)(cols + i * d.P, ld, X + (n0 + i) * CHW, &d.g);
            if (nb == 1) {
                T *yn = Y + n0 * OP; /* (O, P) */
                DT(nb_gemm_mt)(nthreads, false, false, d.O, d.P, d.K, 1, Wt, d.K, C_, d.P, 0, yn, d.P);
                if (B)
                    for (int64_t o = 0; o < d.O; o++) {
                        T *r = yn + o * d.P, bo = B[o];
                        for (int64_t p = 0; p < d.P; p++) r[p] += bo;
                    }
            } else {
                DT(nb_gemm_mt)(nthreads, false, false, d.O, ld, d.K, 1, Wt, d.K, C_, ld, 0, ybuf, ld);
                for (int64_t i = 0; i < nb; i++)
                    for (int64_t o = 0; o < d.O; o++) {
                        T *r = Y + (n0 + i) * OP + o * d.P;
                        const T *src = ybuf + o * ld + i * d.P, bo = B ? B[o] : (T)0;
                        for (int64_t p = 0; p < d.P; p++) r[p] = src[p] + bo;
                    }
            }
        }
    }
    nb_conv_put(ws, cols);
    nb_conv_put(ws, ybuf);
}

/* dW += G @ colsᵀ (cols recomputed, not kept: memory), dcols = Wᵀ @ G,
 * dx += col2im(dcols), chunk images per GEMM. */
void FN(nb_conv_gemm_bwd)(const nb_conv_dims *dp, int nthreads, const T *X, const T *Wt, const T *G, T *GX, T *GW,
                          const nb_conv_scratch *ws) {
    const nb_conv_dims d = *dp;
    const int64_t CHW = d.g.C * d.g.H * d.g.W, OP = d.O * d.P;
    if (!GX && !GW) return;
    T *cols = NULL, *gbuf = NULL; /* (K, nb·P): cols, then dcols; (O, nb·P) gout gathered */
    if (!d.direct) cols = nb_conv_get(ws, (size_t)(d.K * d.chunk * d.P) * sizeof(T));
    if (d.chunk > 1) gbuf = nb_conv_get(ws, (size_t)(d.O * d.chunk * d.P) * sizeof(T));
    if ((d.direct || cols) && (d.chunk == 1 || gbuf)) {
        for (int64_t n0 = 0; n0 < d.N; n0 += d.chunk) {
            const int64_t nb = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, ld = nb * d.P;
            const T *Gc = G + n0 * OP; /* (O, ld) */
            if (nb > 1) {
                for (int64_t i = 0; i < nb; i++)
                    for (int64_t o = 0; o < d.O; o++)
                        memcpy(gbuf + o * ld + i * d.P, G + (n0 + i) * OP + o * d.P, (size_t)d.P * sizeof(T));
                Gc = gbuf;
            }
            if (d.direct) {
                const T *xn = X + n0 * CHW; /* (C, P): cols is x */
                if (GW) DT(nb_gemm_mt)(nthreads, false, true, d.O, d.K, d.P, 1, Gc, d.P, xn, d.P, 1, GW, d.K);
                if (GX)
                    DT(nb_gemm_mt)(nthreads, true, false, d.K, d.P, d.O, 1, Wt, d.K, Gc, d.P, 1, GX + n0 * CHW, d.P);
                continue;
            }
            if (GW) {
                for (int64_t i = 0; i < nb; i++) DT(nb_im2col)(cols + i * d.P, ld, X + (n0 + i) * CHW, &d.g);
                DT(nb_gemm_mt)(nthreads, false, true, d.O, d.K, ld, 1, Gc, ld, cols, ld, 1, GW, d.K);
            }
            if (GX) {
                DT(nb_gemm_mt)(nthreads, true, false, d.K, ld, d.O, 1, Wt, d.K, Gc, ld, 0, cols, ld);
                for (int64_t i = 0; i < nb; i++) DT(nb_col2im)(GX + (n0 + i) * CHW, cols + i * d.P, ld, &d.g);
            }
        }
    }
    nb_conv_put(ws, cols);
    nb_conv_put(ws, gbuf);
}

#undef T
#undef FN
#undef DT
