/* ops/kernels/vmath_tmpl.h — vector loops of vmath.h for one ISA (included by
 * vmath_avx512.c / vmath_avx2.c; no include guard).
 * Required: SFX, VF/VD (vector types), LF/LD (lanes), and for each type the
 * loads/stores and the SLEEF calls: F_LOAD, F_STORE, F_EXP, F_LOG, F_TANH,
 * F_ABS, F_NEG, F_ADD, F_DIV, F_MUL, F_SET1, F_BLEND_NEG(x, a, b) = x < 0 ? a : b,
 * and the same with D_. */

#define V_CAT_(a, b) a##b
#define V_CAT(a, b) V_CAT_(a, b)
#define V_FN(name) V_CAT(name, SFX)

/* The loop: whole vectors, then the tail through a padded copy (padding 1, in
 * the domain of every function). */
#define V_LOOP(T, V, L, P, BODY)                                                 \
    {                                                                            \
        int64_t i = 0;                                                           \
        for (; i + L <= n; i += L) {                                             \
            V x = P##_LOAD(xs + i);                                              \
            BODY;                                                                \
            P##_STORE(ys + i, x);                                                \
        }                                                                        \
        if (i < n) {                                                             \
            T buf[L] __attribute__((aligned(64)));                               \
            for (int j = 0; j < L; j++) buf[j] = i + j < n ? xs[i + j] : (T)1;   \
            V x = P##_LOAD(buf);                                                 \
            BODY;                                                                \
            P##_STORE(buf, x);                                                   \
            for (int64_t j = 0; i + j < n; j++) ys[i + j] = buf[j];              \
        }                                                                        \
    }

/* sigmoid: e = exp(-|x|), r = 1/(1+e), x ≥ 0 ? r : e·r */
#define F_SIGMOID                                                                \
    {                                                                            \
        VF e = F_EXP(F_NEG(F_ABS(x)));                                           \
        VF r = F_DIV(F_SET1(1.0f), F_ADD(F_SET1(1.0f), e));                      \
        x = F_BLEND_NEG(x, F_MUL(e, r), r);                                      \
    }
#define D_SIGMOID                                                                \
    {                                                                            \
        VD e = D_EXP(D_NEG(D_ABS(x)));                                           \
        VD r = D_DIV(D_SET1(1.0), D_ADD(D_SET1(1.0), e));                        \
        x = D_BLEND_NEG(x, D_MUL(e, r), r);                                      \
    }

void V_CAT(nb_vexp_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_EXP(x))
void V_CAT(nb_vlog_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_LOG(x))
void V_CAT(nb_vtanh_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_TANH(x))
void V_CAT(nb_vsigmoid_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, F_SIGMOID)
void V_CAT(nb_vexp_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_EXP(x))
void V_CAT(nb_vlog_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_LOG(x))
void V_CAT(nb_vtanh_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_TANH(x))
void V_CAT(nb_vsigmoid_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, D_SIGMOID)

#undef V_CAT_
#undef V_CAT
#undef V_FN
#undef V_LOOP
#undef F_SIGMOID
#undef D_SIGMOID
