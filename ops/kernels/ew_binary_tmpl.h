/* ops/kernels/ew_binary_tmpl.h — ew_binary.h's kernels for one element
 * type, included by ew_binary.c (no include guard). The includer defines T
 * (float or double) and FN(name) (name with the type's suffix); both are
 * #undef'd at the end. */

#define EW_BINARY(NAME, FWD, DA, DB)                                                                 \
    void FN(nb_ew_##NAME)(const nb_bc *bc, const T *A, const T *B, T *O) {                           \
        NB_BC_FOR(bc, {                                                                              \
            for (int64_t j = 0; j < len; j++) {                                                      \
                const T a = A[oa + j * sa], b = B[ob + j * sb];                                      \
                O[oo + j] = (T)(FWD);                                                                \
            }                                                                                        \
        });                                                                                          \
    }                                                                                                \
    void FN(nb_ew_##NAME##_bwd)(const nb_bc *bc, const T *A, const T *B, const T *G, T *GA, T *GB) { \
        NB_BC_FOR(bc, {                                                                              \
            for (int64_t j = 0; j < len; j++) {                                                      \
                const T a = A[oa + j * sa], b = B[ob + j * sb], gg = G[oo + j];                      \
                (void)a, (void)b;                                                                    \
                if (GA) GA[oa + j * sa] += (T)(DA);                                                  \
                if (GB) GB[ob + j * sb] += (T)(DB);                                                  \
            }                                                                                        \
        });                                                                                          \
    }
NB_EW_BINARY_OPS(EW_BINARY)
#undef EW_BINARY

void FN(nb_ew_where)(const nb_ew_where_walk *w, const void *cond, const T *A, const T *B, T *O) {
    WHERE_FOR(w, { O[o] = truth(w->ct, cond, oc) ? A[oa] : B[ob]; });
}

void FN(nb_ew_where_bwd)(const nb_ew_where_walk *w, const void *cond, const T *G, T *GA, T *GB) {
    WHERE_FOR(w, {
        if (truth(w->ct, cond, oc)) {
            if (GA) GA[oa] += G[o];
        } else if (GB) GB[ob] += G[o];
    });
}

#undef T
#undef FN
