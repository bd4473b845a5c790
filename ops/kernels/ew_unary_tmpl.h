/* ops/kernels/ew_unary_tmpl.h — the unary kernels for one element type,
 * included by ew_unary.c (no include guard). The includer defines T (float
 * or double) and FN(name) (name with the type's suffix); both are #undef'd
 * at the end. */

/* UNARY: forward and backward are the line's expressions, one plain loop
 * each (vectorized by the compiler where the expression allows). */
#define UNARY(NAME, ARGS, FWD, BWD, READS, GRAD2, SAMPLES)                           \
    void FN(nb_ew_##NAME)(int nt, T *y, const T *x, int64_t n, double P, double Q) { \
        (void)nt, (void)P, (void)Q;                                                  \
        for (int64_t i = 0; i < n; i++) {                                            \
            const T v = x[i];                                                        \
            y[i] = (T)(FWD);                                                         \
        }                                                                            \
    }                                                                                \
    EW_BWD_LOOP(NAME, BWD)

/* UNARY_VEC: the forward is vmath.h's nb_v<VFN>. */
#define UNARY_VEC(NAME, ARGS, VFN, BWD, READS, GRAD2, SAMPLES)                       \
    void FN(nb_ew_##NAME)(int nt, T *y, const T *x, int64_t n, double P, double Q) { \
        (void)P, (void)Q;                                                            \
        FN(nb_v##VFN##_mt)(nt, y, x, n);                                             \
    }                                                                                \
    EW_BWD_LOOP(NAME, BWD)

#define EW_BWD_LOOP(NAME, BWD)                                                                                      \
    void FN(nb_ew_##NAME##_bwd)(int nt, T *gx, const T *g, const T *x, const T *y, int64_t n, double P, double Q) { \
        (void)nt, (void)P, (void)Q;                                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                                           \
            const T v = x[i], o = y[i], gg = g[i];                                                                  \
            (void)v, (void)o;                                                                                       \
            gx[i] += (T)(BWD);                                                                                      \
        }                                                                                                           \
    }

/* UNARY_KERNEL: written below. */
#define UNARY_KERNEL(NAME, ARGS, READS, GRAD2, SAMPLES)

#include "../defs/unary.def"

#undef UNARY
#undef UNARY_VEC
#undef UNARY_KERNEL
#undef EW_BWD_LOOP

/* softplus: forward on vmath.h; backward gx += g·sigmoid(x), the sigmoid by
 * the vector kernel over chunks on the stack. */
void FN(nb_ew_softplus)(int nt, T *y, const T *x, int64_t n, double P, double Q) {
    (void)P, (void)Q;
    FN(nb_vsoftplus_mt)(nt, y, x, n);
}
void FN(nb_ew_softplus_bwd)(int nt, T *gx, const T *g, const T *x, const T *y, int64_t n, double P, double Q) {
    (void)y, (void)P, (void)Q;
    nt = nb_par_threads(nt, (double)n * CHUNKED_COST);
    NB_PAR_FOR(nt, for (int64_t i = 0; i < n; i += SP_CHUNK), {
        T sig[SP_CHUNK];
        const int64_t len = n - i < SP_CHUNK ? n - i : SP_CHUNK;
        FN(nb_vsigmoid_mt)(1, sig, x + i, len);
        for (int64_t j = 0; j < len; j++) gx[i + j] += g[i + j] * sig[j];
    });
}

/* elu (P = alpha): both directions on vmath.h loops (nb_velu, then nb_vexp
 * and nb_velu_bwd), exp(x) through a stack buffer, ELU_CHUNK at a time. */
void FN(nb_ew_elu)(int nt, T *y, const T *x, int64_t n, double P, double Q) {
    (void)Q;
    FN(nb_velu_mt)(nt, y, x, (T)P, n);
}
void FN(nb_ew_elu_bwd)(int nt, T *gx, const T *g, const T *x, const T *y, int64_t n, double P, double Q) {
    (void)y, (void)Q;
    nt = nb_par_threads(nt, (double)n * CHUNKED_COST);
    NB_PAR_FOR(nt, for (int64_t i = 0; i < n; i += ELU_CHUNK), {
        T e[ELU_CHUNK];
        const int64_t len = n - i < ELU_CHUNK ? n - i : ELU_CHUNK;
        FN(nb_vexp_mt)(1, e, x + i, len);
        FN(nb_velu_bwd_mt)(1, gx + i, g + i, x + i, e, (T)P, len);
    });
}

#undef T
#undef FN
