/* ops/kernels/vmath_tmpl.h — vector loops of vmath.h for one ISA (included by
 * vmath_avx512.c / vmath_avx2.c; no include guard).
 * Required: SFX, VF/VD (vector types), LF/LD (lanes), and for each type the
 * loads/stores and the SLEEF calls: F_LOAD, F_STORE, F_EXP, F_LOG, F_TANH,
 * F_LOG1P, F_EXPM1, F_ERF, F_ERFC, F_ABS, F_NEG, F_ADD, F_DIV, F_MUL, F_MAX, F_SET1,
 * F_BLEND_NEG(x, a, b) = x < 0 ? a : b, F_ANY_GT(x, c) = some lane of x > c,
 * F_BLEND_GT(x, c, a, b) = x > c ? a : b (lanewise), and the same with D_. */

#define V_CAT_(a, b) a##b
#define V_CAT(a, b) V_CAT_(a, b)
#define V_FN(name) V_CAT(name, SFX)

/* The loop: whole vectors, then the tail through a padded copy (padding 1, in
 * the domain of every function). */
#define V_LOOP(T, V, L, P, BODY)                                               \
    {                                                                          \
        int64_t i = 0;                                                         \
        for (; i + L <= n; i += L) {                                           \
            V x = P##_LOAD(xs + i);                                            \
            BODY;                                                              \
            P##_STORE(ys + i, x);                                              \
        }                                                                      \
        if (i < n) {                                                           \
            T buf[L] __attribute__((aligned(64)));                             \
            for (int j = 0; j < L; j++) buf[j] = i + j < n ? xs[i + j] : (T)1; \
            V x = P##_LOAD(buf);                                               \
            BODY;                                                              \
            P##_STORE(buf, x);                                                 \
            for (int64_t j = 0; i + j < n; j++) ys[i + j] = buf[j];            \
        }                                                                      \
    }

/* sigmoid: e = exp(-|x|), r = 1/(1+e), x ≥ 0 ? r : e·r */
#define F_SIGMOID                                           \
    {                                                       \
        VF e = F_EXP(F_NEG(F_ABS(x)));                      \
        VF r = F_DIV(F_SET1(1.0f), F_ADD(F_SET1(1.0f), e)); \
        x = F_BLEND_NEG(x, F_MUL(e, r), r);                 \
    }
#define D_SIGMOID                                         \
    {                                                     \
        VD e = D_EXP(D_NEG(D_ABS(x)));                    \
        VD r = D_DIV(D_SET1(1.0), D_ADD(D_SET1(1.0), e)); \
        x = D_BLEND_NEG(x, D_MUL(e, r), r);               \
    }

/* log1p: SLEEF 3.5 gives +inf above 1e38 (f32) / 1e307 (f64); there
 * log1p(x) = log(x) to far below half an ULP, so lanes above BIG take log
 * (computed only when some lane needs it). */
#define F_LOG1P_FIXED                                                                  \
    {                                                                                  \
        VF r = F_LOG1P(x);                                                             \
        if (F_ANY_GT(x, F_SET1(1e30f))) r = F_BLEND_GT(x, F_SET1(1e30f), F_LOG(x), r); \
        x = r;                                                                         \
    }
#define D_LOG1P_FIXED                                                                  \
    {                                                                                  \
        VD r = D_LOG1P(x);                                                             \
        if (D_ANY_GT(x, D_SET1(1e300))) r = D_BLEND_GT(x, D_SET1(1e300), D_LOG(x), r); \
        x = r;                                                                         \
    }
/* softplus(−|x|) = log1p(e^−|x|): the argument of log1p is in [0, 1] */
#define F_SP_NEGABS(x) F_LOG1P(F_EXP(F_NEG(F_ABS(x))))
#define D_SP_NEGABS(x) D_LOG1P(D_EXP(D_NEG(D_ABS(x))))
/* softplus = max(x, 0) + log1p(e^−|x|); max gives 0 for NaN, the sum NaN */
#define F_SOFTPLUS x = F_ADD(F_MAX(x, F_SET1(0.0f)), F_SP_NEGABS(x))
#define D_SOFTPLUS x = D_ADD(D_MAX(x, D_SET1(0.0)), D_SP_NEGABS(x))

/* One definition a line: clang-format would read the macro calls as one
 * statement. */
/* clang-format off */
void V_CAT(nb_vexp_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_EXP(x))
void V_CAT(nb_vlog_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_LOG(x))
void V_CAT(nb_vtanh_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_TANH(x))
void V_CAT(nb_vsigmoid_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, F_SIGMOID)
void V_CAT(nb_vexp_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_EXP(x))
void V_CAT(nb_vlog_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_LOG(x))
void V_CAT(nb_vtanh_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_TANH(x))
void V_CAT(nb_vsigmoid_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, D_SIGMOID)
void V_CAT(nb_vlog1p_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, F_LOG1P_FIXED)
void V_CAT(nb_vexpm1_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_EXPM1(x))
void V_CAT(nb_vsoftplus_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, F_SOFTPLUS)
void V_CAT(nb_vsoftplus_negabs_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_SP_NEGABS(x))
void V_CAT(nb_vlog1p_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, D_LOG1P_FIXED)
void V_CAT(nb_vexpm1_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_EXPM1(x))
void V_CAT(nb_vsoftplus_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, D_SOFTPLUS)
void V_CAT(nb_vsoftplus_negabs_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_SP_NEGABS(x))
void V_CAT(nb_verf_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_ERF(x))
void V_CAT(nb_verf_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_ERF(x))
void V_CAT(nb_verfc_f32, SFX)(float *ys, const float *xs, int64_t n) V_LOOP(float, VF, LF, F, x = F_ERFC(x))
void V_CAT(nb_verfc_f64, SFX)(double *ys, const double *xs, int64_t n) V_LOOP(double, VD, LD, D, x = D_ERFC(x))

/* elu: x > 0 ? x : alpha·expm1(x) (NaN: alpha·expm1(NaN) = NaN) */
#define F_ELU x = F_BLEND_GT(x, F_SET1(0.0f), x, F_MUL(F_SET1(alpha), F_EXPM1(x)))
#define D_ELU x = D_BLEND_GT(x, D_SET1(0.0), x, D_MUL(D_SET1(alpha), D_EXPM1(x)))
void V_CAT(nb_velu_f32, SFX)(float *ys, const float *xs, float alpha, int64_t n) V_LOOP(float, VF, LF, F, F_ELU)
void V_CAT(nb_velu_f64, SFX)(double *ys, const double *xs, double alpha, int64_t n) V_LOOP(double, VD, LD, D, D_ELU)

/* Exact elementwise ops (one rounding each, as the scalar loops): relu
 * (max(0, x) = 0 > x ? 0 : x, maxps returning its second operand for NaN
 * and ±0 ties: NaN stays NaN, as PyTorch; -0 stays -0, as the scalar
 * x < 0 ? 0 : x), y += a·x, y *= a, y += x.
 * The tail is the scalar expression, which rounds the same way. */
#define V_SIMPLE(T, V, L, P, NAME, ARGS, BODY, TAIL)                             \
    void V_CAT(NAME, SFX) ARGS {                                                 \
        int64_t i = 0;                                                           \
        for (; i + L <= n; i += L) { BODY; }                                     \
        for (; i < n; i++) { TAIL; }                                             \
    }
V_SIMPLE(float, VF, LF, F, nb_vrelu_f32, (float *y, const float *x, int64_t n),
         F_STORE(y + i, F_MAX(F_SET1(0.0f), F_LOAD(x + i))), y[i] = x[i] < 0 ? 0 : x[i])
V_SIMPLE(double, VD, LD, D, nb_vrelu_f64, (double *y, const double *x, int64_t n),
         D_STORE(y + i, D_MAX(D_SET1(0.0), D_LOAD(x + i))), y[i] = x[i] < 0 ? 0 : x[i])
V_SIMPLE(float, VF, LF, F, nb_vaxpy_f32, (float *y, float a, const float *x, int64_t n),
         F_STORE(y + i, F_ADD(F_LOAD(y + i), F_MUL(F_SET1(a), F_LOAD(x + i)))), y[i] = y[i] + a * x[i])
V_SIMPLE(double, VD, LD, D, nb_vaxpy_f64, (double *y, double a, const double *x, int64_t n),
         D_STORE(y + i, D_ADD(D_LOAD(y + i), D_MUL(D_SET1(a), D_LOAD(x + i)))), y[i] = y[i] + a * x[i])
V_SIMPLE(float, VF, LF, F, nb_vscale_f32, (float *y, float a, int64_t n),
         F_STORE(y + i, F_MUL(F_LOAD(y + i), F_SET1(a))), y[i] = y[i] * a)
V_SIMPLE(double, VD, LD, D, nb_vscale_f64, (double *y, double a, int64_t n),
         D_STORE(y + i, D_MUL(D_LOAD(y + i), D_SET1(a))), y[i] = y[i] * a)
V_SIMPLE(float, VF, LF, F, nb_vadd_f32, (float *y, const float *x, int64_t n),
         F_STORE(y + i, F_ADD(F_LOAD(y + i), F_LOAD(x + i))), y[i] = y[i] + x[i])
V_SIMPLE(double, VD, LD, D, nb_vadd_f64, (double *y, const double *x, int64_t n),
         D_STORE(y + i, D_ADD(D_LOAD(y + i), D_LOAD(x + i))), y[i] = y[i] + x[i])
/* elu backward: gx += x > 0 ? g : g·(alpha·e), e = exp(x) (NaN x: NaN, as
 * PyTorch's vector loop; its scalar tail gives g) */
V_SIMPLE(float, VF, LF, F, nb_velu_bwd_f32, (float *gx, const float *g, const float *x, const float *e, float alpha, int64_t n),
         F_STORE(gx + i, F_ADD(F_LOAD(gx + i), F_BLEND_GT(F_LOAD(x + i), F_SET1(0.0f), F_LOAD(g + i),
                                                          F_MUL(F_LOAD(g + i), F_MUL(F_SET1(alpha), F_LOAD(e + i)))))),
         gx[i] = gx[i] + (x[i] > 0 ? g[i] : g[i] * (alpha * e[i])))
V_SIMPLE(double, VD, LD, D, nb_velu_bwd_f64, (double *gx, const double *g, const double *x, const double *e, double alpha, int64_t n),
         D_STORE(gx + i, D_ADD(D_LOAD(gx + i), D_BLEND_GT(D_LOAD(x + i), D_SET1(0.0), D_LOAD(g + i),
                                                          D_MUL(D_LOAD(g + i), D_MUL(D_SET1(alpha), D_LOAD(e + i)))))),
         gx[i] = gx[i] + (x[i] > 0 ? g[i] : g[i] * (alpha * e[i])))

/* clang-format on */
#undef V_SIMPLE
#undef V_CAT_
#undef V_CAT
#undef V_FN
#undef V_LOOP
#undef F_SIGMOID
#undef D_SIGMOID
#undef F_LOG1P_FIXED
#undef D_LOG1P_FIXED
#undef F_SP_NEGABS
#undef D_SP_NEGABS
#undef F_SOFTPLUS
#undef D_SOFTPLUS
#undef F_ELU
#undef D_ELU
