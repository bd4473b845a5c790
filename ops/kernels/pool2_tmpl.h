/* ops/kernels/pool2_tmpl.h — 2×2 stride-2 max pooling for one element type,
 * included by pool2.c (no include guard). The includer defines T (float or
 * double) and FN(name), and has defined FN(pool2_row_fn) (the row kernel's
 * type) and FN(pool2_row_fast)() (the row kernel for the ISA in use); T and
 * FN are #undef'd at the end. */

/* One output row, NaN-free (NaN-safe only in the sense that it reports
 * one): the max of the four as selects, the winner as the first element
 * equal to it. Returns whether the row held a NaN. */
static int FN(pool2_row)(const T *restrict r0, const T *restrict r1, T *restrict yr, uint8_t *restrict kr, int64_t Wo) {
    int nan = 0;
    for (int64_t j = 0; j < Wo; j++) {
        const T v0 = r0[2 * j], v1 = r0[2 * j + 1], v2 = r1[2 * j], v3 = r1[2 * j + 1];
        const T m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2, b = m23 > m01 ? m23 : m01;
        nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
        yr[j] = b;
        const uint8_t e0 = v0 != b, e1 = e0 & (v1 != b), e2 = e1 & (v2 != b);
        kr[j] = (uint8_t)(e0 + e1 + e2);
    }
    return nan;
}
/* The exact rule, element by element (rows with a NaN). */
static void FN(pool2_row_nan)(const T *r0, const T *r1, T *yr, uint8_t *kr, int64_t Wo) {
    for (int64_t j = 0; j < Wo; j++) {
        const T v[4] = {r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
        T b = v[0];
        int k = 0;
        for (int q = 1; q < 4; q++)
            if ((v[q] > b) | ((v[q] != v[q]) & (b == b))) b = v[q], k = q;
        yr[j] = b;
        if (kr) kr[j] = (uint8_t)k;
    }
}
/* Each output's gradient to its winner in rows g0 and g0 + W. */
static void FN(pool2_bwd_row)(T *restrict g0, int64_t W, const T *restrict gr, const uint8_t *restrict kr, int64_t Wo) {
    for (int64_t j = 0; j < Wo; j++) g0[(kr[j] >> 1) * W + 2 * j + (kr[j] & 1)] += gr[j];
}
void FN(nb_pool2_fwd)(T *restrict Y, uint8_t *restrict K, const T *restrict X, const nb_pool2_dims *d) {
    const int64_t H = d->H, W = d->W, Ho = d->Ho, Wo = d->Wo;
    const FN(pool2_row_fn) row = FN(pool2_row_fast)();
    for (int64_t pl = 0; pl < d->planes; pl++)
        for (int64_t i = 0; i < Ho; i++) {
            const T *r0 = X + (pl * H + 2 * i) * W, *r1 = r0 + W;
            T *yr = Y + (pl * Ho + i) * Wo;
            if (K) {
                uint8_t *kr = K + (pl * Ho + i) * Wo;
                if (row(r0, r1, yr, kr, Wo)) FN(pool2_row_nan)(r0, r1, yr, kr, Wo);
                continue;
            }
            uint8_t tmp[256]; /* winners not wanted: pieces of the row */
            for (int64_t j0 = 0; j0 < Wo; j0 += 256) {
                const int64_t m = Wo - j0 < 256 ? Wo - j0 : 256;
                if (row(r0 + 2 * j0, r1 + 2 * j0, yr + j0, tmp, m))
                    FN(pool2_row_nan)(r0 + 2 * j0, r1 + 2 * j0, yr + j0, NULL, m);
            }
        }
}
void FN(nb_pool2_bwd)(T *restrict GX, const T *restrict G, const uint8_t *restrict K, const nb_pool2_dims *d) {
    const int64_t H = d->H, W = d->W, Ho = d->Ho, Wo = d->Wo;
    for (int64_t pl = 0; pl < d->planes; pl++)
        for (int64_t i = 0; i < Ho; i++)
            FN(pool2_bwd_row)(GX + (pl * H + 2 * i) * W, W, G + (pl * Ho + i) * Wo, K + (pl * Ho + i) * Wo, Wo);
}

#undef T
#undef FN
