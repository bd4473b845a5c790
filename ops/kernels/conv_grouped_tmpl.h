/* ops/kernels/conv_grouped_tmpl.h — grouped convolution for one element
 * type, included by conv_grouped.c (no include guard). The includer defines
 * T (float or double) and FN(name); they are #undef'd at the end. */

void FN(nb_conv_grouped_fwd)(const nb_conv_dims *dp, int64_t G, const T *X, const T *Wt, const T *B, T *Y) {
    const nb_conv_dims d = *dp;
    const int64_t C = d.g.C, H = d.g.H, W = d.g.W, kh = d.g.kh, kw = d.g.kw, Ho = d.g.Ho, Wo = d.g.Wo;
    const int64_t Cg = C / G, Og = d.O / G, HW = H * W, KK = kh * kw, sw = d.g.sw;
    for (int64_t i = 0; i < d.N; i++)
        for (int64_t o = 0; o < d.O; o++) {
            const T *xg = X + (i * C + (o / Og) * Cg) * HW, *wo = Wt + o * Cg * KK;
            const T bo = B ? B[o] : (T)0;
            for (int64_t r = 0; r < Ho; r++) {
                T *restrict yr = Y + ((i * d.O + o) * Ho + r) * Wo;
                for (int64_t j = 0; j < Wo; j++) yr[j] = bo;
                for (int64_t c = 0; c < Cg; c++)
                    for (int64_t p = 0; p < kh; p++) {
                        const int64_t ih = r * d.g.sh - d.g.ph + p * d.g.dh;
                        if (ih < 0 || ih >= H) continue;
                        const T *xr = xg + c * HW + ih * W;
                        for (int64_t q = 0; q < kw; q++) {
                            const int64_t off = q * d.g.dw - d.g.pw;
                            int64_t lo, hi;
                            grouped_span(off, sw, W, Wo, &lo, &hi);
                            const T wv = wo[(c * kh + p) * kw + q];
                            const T *restrict xs = xr + lo * sw + off;
                            T *restrict ys = yr + lo;
                            if (sw == 1)
                                for (int64_t j = 0; j < hi - lo; j++) ys[j] += wv * xs[j];
                            else
                                for (int64_t j = 0; j < hi - lo; j++) ys[j] += wv * xs[j * sw];
                        }
                    }
            }
        }
}
void FN(nb_conv_grouped_bwd)(const nb_conv_dims *dp, int64_t G, const T *X, const T *Wt, const T *Gt, T *GX, T *GW,
                             T *GB) {
    const nb_conv_dims d = *dp;
    const int64_t C = d.g.C, H = d.g.H, W = d.g.W, kh = d.g.kh, kw = d.g.kw, Ho = d.g.Ho, Wo = d.g.Wo;
    const int64_t Cg = C / G, Og = d.O / G, HW = H * W, KK = kh * kw, sw = d.g.sw;
    for (int64_t i = 0; i < d.N; i++)
        for (int64_t o = 0; o < d.O; o++) {
            const int64_t xoff = (i * C + (o / Og) * Cg) * HW;
            const T *xg = X + xoff, *wo = Wt + o * Cg * KK;
            T *gxg = GX ? GX + xoff : NULL, *gwo = GW ? GW + o * Cg * KK : NULL;
            T bsum = 0;
            for (int64_t r = 0; r < Ho; r++) {
                const T *restrict gr = Gt + ((i * d.O + o) * Ho + r) * Wo;
                if (GB)
                    for (int64_t j = 0; j < Wo; j++) bsum += gr[j];
                if (!GX && !GW) continue;
                for (int64_t c = 0; c < Cg; c++)
                    for (int64_t p = 0; p < kh; p++) {
                        const int64_t ih = r * d.g.sh - d.g.ph + p * d.g.dh;
                        if (ih < 0 || ih >= H) continue;
                        for (int64_t q = 0; q < kw; q++) {
                            const int64_t off = q * d.g.dw - d.g.pw, t = (c * kh + p) * kw + q;
                            int64_t lo, hi;
                            grouped_span(off, sw, W, Wo, &lo, &hi);
                            const int64_t len = hi - lo, at = c * HW + ih * W + lo * sw + off;
                            const T *restrict gs = gr + lo;
                            if (GW) {
                                const T *restrict xs = xg + at;
                                T a4[4] = {0}, s = 0; /* 4 partial sums: the loop vectorizes */
                                int64_t j = 0;
                                if (sw == 1)
                                    for (; j + 4 <= len; j += 4)
                                        for (int l = 0; l < 4; l++) a4[l] += gs[j + l] * xs[j + l];
                                for (; j < len; j++) s += gs[j] * xs[j * sw];
                                gwo[t] += (a4[0] + a4[1]) + (a4[2] + a4[3]) + s;
                            }
                            if (GX) {
                                T *restrict dxs = gxg + at;
                                const T wv = wo[t];
                                if (sw == 1)
                                    for (int64_t j = 0; j < len; j++) dxs[j] += wv * gs[j];
                                else
                                    for (int64_t j = 0; j < len; j++) dxs[j * sw] += wv * gs[j];
                            }
                        }
                    }
            }
            if (GB) GB[o] += bsum;
        }
}

#undef T
#undef FN
