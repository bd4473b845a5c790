/* ops/kernels/reduce_tmpl.h — the reductions' loops for one element type,
 * included by reduce.c (no include guard). The includer defines T (float or
 * double) and FN(name) (name with the type's suffix); both are #undef'd at
 * the end. What each computes: reduce.h. */

/* ------------------------------------------------------------ sum, mean */

void FN(nb_red_sum)(const nb_bc *bc, const T *X, int64_t xn, T *R, int64_t rn, bool mean, int64_t count) {
    if (rn == 1) {
        double acc;
        SUM8(X, xn, acc);
        R[0] = (T)(mean ? acc / (double)(count ? count : 1) : acc);
        if (mean && count == 0) R[0] = (T)NAN;
        return;
    }
    for (int64_t i = 0; i < rn; i++) R[i] = 0;
    NB_BC_FOR(bc, {
        for (int64_t j = 0; j < len; j++) R[oa + j * sa] += X[oo + j];
    });
    if (mean) {
        const T inv = (T)1 / (T)count;
        for (int64_t i = 0; i < rn; i++) R[i] *= inv;
    }
}

void FN(nb_red_sum_bwd)(const nb_bc *bc, const T *G, T *GX, int64_t xn, int64_t rn, bool mean, int64_t count,
                        bool fresh) {
    const T scale = mean ? (T)1 / (T)count : (T)1;
    if (rn == 1) { /* every element gets the one gradient: a plain loop, not the walk */
        const T v = G[0] * scale;
        if (fresh)
            for (int64_t i = 0; i < xn; i++) GX[i] = v;
        else
            for (int64_t i = 0; i < xn; i++) GX[i] += v;
        return;
    }
    if (fresh) /* the walk visits each element of x once */
        NB_BC_FOR(bc, {
            for (int64_t j = 0; j < len; j++) GX[oo + j] = G[oa + j * sa] * scale;
        });
    else
        NB_BC_FOR(bc, {
            for (int64_t j = 0; j < len; j++) GX[oo + j] += G[oa + j * sa] * scale;
        });
}

/* ------------------------------------------------------------ max, min, argmax, argmin */

void FN(nb_red_maxmin)(const nb_bc *bc, const T *X, T *R, int64_t rn, bool is_min) {
    for (int64_t i = 0; i < rn; i++) R[i] = is_min ? (T)INFINITY : (T)-INFINITY;
    NB_BC_FOR(bc, {
        for (int64_t j = 0; j < len; j++) {
            const T v = X[oo + j];
            T *r = &R[oa + j * sa];
            if (BETTER(v, *r, is_min)) *r = v;
        }
    });
}

void FN(nb_red_maxmin_bwd)(const nb_bc *bc, const T *X, const T *Y, const T *G, T *GX, int64_t *cnt, bool split) {
    if (split) {
        NB_BC_FOR(bc, {
            for (int64_t j = 0; j < len; j++)
                if (HIT(X[oo + j], Y[oa + j * sa])) cnt[oa + j * sa]++;
        });
        NB_BC_FOR(bc, {
            for (int64_t j = 0; j < len; j++)
                if (HIT(X[oo + j], Y[oa + j * sa])) GX[oo + j] += G[oa + j * sa] / (T)cnt[oa + j * sa];
        });
    } else {
        NB_BC_FOR(bc, {
            for (int64_t j = 0; j < len; j++)
                if (!cnt[oa + j * sa] && HIT(X[oo + j], Y[oa + j * sa])) {
                    cnt[oa + j * sa] = 1;
                    GX[oo + j] += G[oa + j * sa];
                }
        });
    }
}

void FN(nb_red_arg)(const T *X, int64_t *R, int64_t outer, int64_t len, int64_t inner, bool is_min) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const T *row = X + o * len * inner + i;
            T best = row[0];
            int64_t bi = 0;
            for (int64_t k = 1; k < len; k++) {
                const T v = row[k * inner];
                if (BETTER(v, best, is_min)) best = v, bi = k;
            }
            R[o * inner + i] = bi;
        }
}

/* ------------------------------------------------------------ logsumexp */

void FN(nb_red_lse_rows)(int nt, const T *X, T *R, int64_t rows, int64_t len) {
    nt = nb_par_threads(nt, (double)(rows * len) * LSE_COST);
    NB_PAR_FOR(nt, for (int64_t r = 0; r < rows; r++), {
        const T *xr = X + r * len;
        T mx[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
        int64_t j = 0;
        for (; j + 8 <= len; j += 8)
            for (int l = 0; l < 8; l++) mx[l] = xr[j + l] > mx[l] ? xr[j + l] : mx[l];
        for (; j < len; j++) mx[0] = xr[j] > mx[0] ? xr[j] : mx[0];
        double M = -INFINITY, S = 0;
        for (int l = 0; l < 8; l++)
            if (mx[l] > M) M = mx[l];
        if (!isfinite(M)) M = 0;
        /* a stack buffer larger than the chunk: with exactly LSE_CHUNK the
         * frame put buf where its stores 4K-aliased the loads of x's rows in
         * bench_eltwise's lse_last (1024-float rows): 8% slower */
        T bufpad_[LSE_CHUNK + 256];
        T *const buf = bufpad_;
        for (int64_t j0 = 0; j0 < len; j0 += LSE_CHUNK) {
            const int64_t L = len - j0 < LSE_CHUNK ? len - j0 : LSE_CHUNK;
            const T mk = (T)M;
            for (int64_t k = 0; k < L; k++) buf[k] = xr[j0 + k] - mk;
            FN(nb_vexp_mt)(1, buf, buf, L);
            double s;
            SUM8(buf, L, s);
            S += s;
        }
        R[r] = (T)(M + log(S));
    });
}

void FN(nb_red_lse_rows_bwd)(int nt, const T *X, const T *Y, const T *G, T *GX, int64_t rows, int64_t len) {
    nt = nb_par_threads(nt, (double)(rows * len) * LSE_COST);
    NB_PAR_FOR(nt, for (int64_t r = 0; r < rows; r++), {
        T bufpad_[LSE_CHUNK + 256]; /* as in forward */
        T *const buf = bufpad_;
        const T yk = Y[r], gk = G[r];
        for (int64_t j0 = 0; j0 < len; j0 += LSE_CHUNK) {
            const int64_t L = len - j0 < LSE_CHUNK ? len - j0 : LSE_CHUNK;
            const T *xr = X + r * len + j0;
            T *gxr = GX + r * len + j0;
            for (int64_t j = 0; j < L; j++) buf[j] = xr[j] - yk;
            FN(nb_vexp_mt)(1, buf, buf, L);
            for (int64_t j = 0; j < L; j++) gxr[j] += gk * buf[j];
        }
    });
}

void FN(nb_red_lse)(const nb_bc *bc, const T *X, T *R, double *M, double *S, int64_t rn) {
    T buf[LSE_CHUNK];
    for (int64_t i = 0; i < rn; i++) M[i] = -INFINITY, S[i] = 0;
    /* the max (NaN never wins: it comes back through exp), in lanes that
     * vectorize for the two common walks: a row into one output, a row into
     * consecutive outputs */
    NB_BC_FOR(bc, {
        const T *xr = X + oo;
        if (sa == 0) {
            T mx[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
            int64_t j = 0;
            for (; j + 8 <= len; j += 8)
                for (int l = 0; l < 8; l++) mx[l] = xr[j + l] > mx[l] ? xr[j + l] : mx[l];
            for (; j < len; j++) mx[0] = xr[j] > mx[0] ? xr[j] : mx[0];
            for (int l = 0; l < 8; l++)
                if (mx[l] > M[oa]) M[oa] = mx[l];
        } else if (sa == 1) {
            double *Mr = M + oa;
            for (int64_t j = 0; j < len; j++) Mr[j] = (double)xr[j] > Mr[j] ? (double)xr[j] : Mr[j];
        } else {
            for (int64_t j = 0; j < len; j++)
                if (xr[j] > M[oa + j * sa]) M[oa + j * sa] = xr[j];
        }
    });
    /* shift by the max; by 0 when it is ±inf (all −inf → −inf, +inf → +inf) */
    for (int64_t i = 0; i < rn; i++)
        if (!isfinite(M[i])) M[i] = 0;
    NB_BC_FOR(bc, {
        for (int64_t j0 = 0; j0 < len; j0 += LSE_CHUNK) {
            const int64_t L = len - j0 < LSE_CHUNK ? len - j0 : LSE_CHUNK;
            const T *xr = X + oo + j0;
            if (sa == 0) { /* the row reduces to one output */
                const T mk = (T)M[oa];
                for (int64_t j = 0; j < L; j++) buf[j] = xr[j] - mk;
                FN(nb_vexp_mt)(1, buf, buf, L);
                double s;
                SUM8(buf, L, s);
                S[oa] += s;
            } else {
                const double *Mr = M + oa + j0 * sa;
                double *Sr = S + oa + j0 * sa;
                for (int64_t j = 0; j < L; j++) buf[j] = xr[j] - (T)Mr[j * sa];
                FN(nb_vexp_mt)(1, buf, buf, L);
                for (int64_t j = 0; j < L; j++) Sr[j * sa] += (double)buf[j];
            }
        }
    });
    for (int64_t i = 0; i < rn; i++) R[i] = (T)(M[i] + log(S[i]));
}

void FN(nb_red_lse_bwd)(const nb_bc *bc, const T *X, const T *Y, const T *G, T *GX) {
    T buf[LSE_CHUNK];
    NB_BC_FOR(bc, {
        for (int64_t j0 = 0; j0 < len; j0 += LSE_CHUNK) {
            const int64_t L = len - j0 < LSE_CHUNK ? len - j0 : LSE_CHUNK;
            const T *xr = X + oo + j0, *yr = Y + oa + j0 * sa, *gr = G + oa + j0 * sa;
            T *gxr = GX + oo + j0;
            if (sa == 0) {
                const T yk = yr[0], gk = gr[0];
                for (int64_t j = 0; j < L; j++) buf[j] = xr[j] - yk;
                FN(nb_vexp_mt)(1, buf, buf, L);
                for (int64_t j = 0; j < L; j++) gxr[j] += gk * buf[j];
            } else {
                for (int64_t j = 0; j < L; j++) buf[j] = xr[j] - yr[j * sa];
                FN(nb_vexp_mt)(1, buf, buf, L);
                for (int64_t j = 0; j < L; j++) gxr[j] += gr[j * sa] * buf[j];
            }
        }
    });
}

/* ------------------------------------------------------------ var, std */

void FN(nb_red_var)(const nb_bc *bc, const T *X, T *R, double *MU, double *SS, int64_t rn, int64_t count, double denom,
                    bool is_std) {
    for (int64_t i = 0; i < rn; i++) MU[i] = 0, SS[i] = 0;
    NB_BC_FOR(bc, {
        for (int64_t j = 0; j < len; j++) MU[oa + j * sa] += (double)X[oo + j];
    });
    for (int64_t i = 0; i < rn; i++) MU[i] /= (double)count;
    NB_BC_FOR(bc, {
        for (int64_t j = 0; j < len; j++) {
            const double d = (double)X[oo + j] - MU[oa + j * sa];
            SS[oa + j * sa] += d * d;
        }
    });
    for (int64_t i = 0; i < rn; i++) {
        /* N − d <= 0 (one element, unbiased): NaN, as in PyTorch */
        const double v = denom > 0 ? SS[i] / denom : NAN;
        R[i] = (T)(is_std ? sqrt(v) : v);
    }
}

void FN(nb_red_var_bwd)(const nb_bc *bc, const T *X, const T *Y, const T *G, T *GX, const double *MU, double denom,
                        bool is_std) {
    NB_BC_FOR(bc, {
        for (int64_t j = 0; j < len; j++) {
            const int64_t r = oa + j * sa;
            const double d = (double)X[oo + j] - MU[r];
            double w;
            if (!is_std) w = 2 * d / denom;
            else w = Y[r] == 0 ? 0 : d / (denom * (double)Y[r]); /* std'(0) := 0, as PyTorch */
            GX[oo + j] += (T)((double)G[r] * w);
        }
    });
}

#undef T
#undef FN
