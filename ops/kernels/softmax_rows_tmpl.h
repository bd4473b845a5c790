/* ops/kernels/softmax_rows_tmpl.h — the softmax family's contiguous rows for
 * one element type, included by softmax_rows.c (no include guard). The
 * includer defines T (float or double) and FN(name) (name with the element
 * type's suffix); they are #undef'd at the end.
 *
 * The helpers are written with 8 independent lanes so the compiler
 * vectorizes them, and the result doesn't depend on the ISA: the summation
 * order is fixed. Sums run in double. */

static T FN(row_max)(const T *restrict x, int64_t n) {
    T m[8];
    for (int j = 0; j < 8; j++) m[j] = (T)-INFINITY;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) m[j] = x[k + j] > m[j] ? x[k + j] : m[j];
    for (; k < n; k++) m[0] = x[k] > m[0] ? x[k] : m[0];
    for (int j = 1; j < 8; j++) m[0] = m[j] > m[0] ? m[j] : m[0];
    return m[0];
}
static double FN(row_sum)(const T *restrict x, int64_t n) {
    double s[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) s[j] += (double)x[k + j];
    for (; k < n; k++) s[0] += (double)x[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
static void FN(row_sub)(T *restrict y, const T *restrict x, T m, int64_t n) {
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) y[k + j] = x[k + j] - m;
    for (; k < n; k++) y[k] = x[k] - m;
}
static void FN(row_shift)(T *restrict y, T c, int64_t n) {
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) y[k + j] -= c;
    for (; k < n; k++) y[k] -= c;
}
/* gx += g − e·s  (log_softmax backward) */
static void FN(row_lsm_bwd)(T *restrict gx, const T *restrict g, const T *restrict e, T s, int64_t n) {
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) gx[k + j] += g[k + j] - e[k + j] * s;
    for (; k < n; k++) gx[k] += g[k] - e[k] * s;
}
/* Σ g·y in double (softmax backward) */
static double FN(row_dot)(const T *restrict g, const T *restrict y, int64_t n) {
    double s[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) s[j] += (double)g[k + j] * (double)y[k + j];
    for (; k < n; k++) s[0] += (double)g[k] * (double)y[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
/* gx += y·(g − s), in double, one rounding (softmax backward) */
static void FN(row_sm_bwd)(T *restrict gx, const T *restrict g, const T *restrict y, double s, int64_t n) {
    for (int64_t k = 0; k < n; k++) gx[k] += (T)((double)y[k] * ((double)g[k] - s));
}
static void FN(row_scale)(T *restrict y, T a, int64_t n) {
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) y[k + j] *= a;
    for (; k < n; k++) y[k] *= a;
}

/* One contiguous row of n: y = softmax(x), or with logsm y = log_softmax(x)
 * = (x − m) − log Σ e^(x−m) (two roundings, each relative to its own term). */
void FN(nb_softmax_row)(T *restrict y, const T *restrict x, int64_t n, bool logsm) {
    const T m = FN(row_max)(x, n);
    FN(row_sub)(y, x, m, n);
    FN(nb_vexp_mt)(1, y, y, n);
    const double s = FN(row_sum)(y, n);
    if (logsm) {
        FN(row_sub)(y, x, m, n);
        FN(row_shift)(y, (T)log(s), n);
    } else {
        FN(row_scale)(y, (T)(1 / s), n);
    }
}

/* softmax backward of one row: gx += y·(g − Σ g·y) */
void FN(nb_softmax_row_bwd)(T *restrict gx, const T *restrict g, const T *restrict y, int64_t n) {
    FN(row_sm_bwd)(gx, g, y, FN(row_dot)(g, y, n), n);
}

/* log_softmax backward of one row: gx += g − e^y Σ g, e^y into ey (n elements) */
void FN(nb_log_softmax_row_bwd)(T *restrict gx, const T *restrict g, const T *restrict y, T *restrict ey, int64_t n) {
    const double s = FN(row_sum)(g, n);
    FN(nb_vexp_mt)(1, ey, y, n);
    FN(row_lsm_bwd)(gx, g, ey, (T)s, n);
}

/* The largest of x[0..n), NaN if any is NaN (8 lanes, fixed order). */
static T FN(row_max_nan)(const T *restrict x, int64_t n) {
    T m[8];
    T u[8]; /* 0, or a NaN once one passed (branch-free lanes) */
    for (int j = 0; j < 8; j++) m[j] = (T)-INFINITY, u[j] = 0;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) {
            const T v = x[k + j];
            m[j] = v > m[j] ? v : m[j];
            u[j] = v != v ? v : u[j];
        }
    for (; k < n; k++) {
        m[0] = x[k] > m[0] ? x[k] : m[0];
        u[0] = x[k] != x[k] ? x[k] : u[0];
    }
    for (int j = 1; j < 8; j++) {
        m[0] = m[j] > m[0] ? m[j] : m[0];
        u[0] = u[j] != u[j] ? u[j] : u[0];
    }
    return u[0] != u[0] ? u[0] : m[0];
}

/* In place: r = softmax(r) over n elements; a NaN makes the row NaN. Returns
 * false, leaving r as it was, when every element is -inf (a fully masked
 * row: the caller decides what it holds). */
static bool FN(sm_inplace)(T *restrict r, int64_t n) {
    const T mx = FN(row_max_nan)(r, n);
    if (mx == (T)-INFINITY) return false;
    FN(row_shift)(r, mx, n);
    FN(nb_vexp_mt)(1, r, r, n);
    FN(row_scale)(r, (T)(1.0 / FN(row_sum)(r, n)), n);
    return true;
}

/* In place: d = y·(d − Σ d·y), in double, one rounding (softmax backward
 * with the incoming gradient in d). */
static void FN(sm_bwd_inplace)(T *restrict d, const T *restrict y, int64_t n) {
    const double s = FN(row_dot)(d, y, n);
    for (int64_t k = 0; k < n; k++) d[k] = (T)((double)y[k] * ((double)d[k] - s));
}

#undef T
#undef FN
