/* ops/kernels/conv_direct.c — direct stride-1 convolution, AVX-512 (see
 * conv_direct.h). The functions carry target("avx512f") attributes (the
 * library's baseline stays x86-64) and run only after nb_convd_avail(). */
#include "conv_direct.h"
#include "cpu.h"
#include "gemm.h"

#include <string.h>

/* Register tile: MR output channels × up to NVMAX vectors. */
#define MR 8
#define NVMAX 3

typedef struct {
    nb_convd_geom g;
    int64_t K, Ho, Wo, nvec, vl;
    size_t wpk, off, vin, vout, vmask; /* byte offsets in the plan */
} plan_hdr;

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static int64_t vec_lanes(size_t elsize) { return elsize == 4 ? 16 : 8; }

static plan_hdr layout(const nb_convd_geom *g, size_t elsize) {
    plan_hdr h;
    memset(&h, 0, sizeof h);
    h.g = *g;
    h.K = g->Ci * g->kh * g->kw;
    h.Ho = g->Hi - g->kh + 1;
    h.Wo = g->Wi - g->kw + 1;
    const int64_t VL = vec_lanes(elsize), nseg = (h.Wo + VL - 1) / VL;
    h.vl = VL;
    h.nvec = h.Ho * nseg;
    const int64_t ot = (g->Co + MR - 1) / MR;
    size_t at = align64(sizeof h);
    h.wpk = at;
    at = align64(at + (size_t)(ot * h.K * MR) * elsize);
    h.off = at;
    at = align64(at + (size_t)h.K * sizeof(int64_t));
    h.vin = at;
    at = align64(at + (size_t)h.nvec * sizeof(int64_t));
    h.vout = at;
    at = align64(at + (size_t)h.nvec * sizeof(int64_t));
    h.vmask = at;
    return h;
}

size_t nb_convd_plan_bytes(const nb_convd_geom *g, size_t elsize) {
    const plan_hdr h = layout(g, elsize);
    return h.vmask + (size_t)h.nvec * sizeof(int64_t);
}

/* The shared part of a plan: header, offsets, vector table; returns the header. */
static plan_hdr *plan_common(void *mem, const nb_convd_geom *g, size_t elsize) {
    plan_hdr *h = mem;
    *h = layout(g, elsize);
    char *base = mem;
    int64_t *off = (int64_t *)(base + h->off), *vin = (int64_t *)(base + h->vin), *vout = (int64_t *)(base + h->vout);
    int64_t *vmask = (int64_t *)(base + h->vmask);
    int64_t k = 0;
    for (int64_t c = 0; c < g->Ci; c++)
        for (int64_t p = 0; p < g->kh; p++)
            for (int64_t q = 0; q < g->kw; q++) off[k++] = (c * g->Hi + p) * g->Wi + q;
    const int64_t VL = vec_lanes(elsize);
    int64_t v = 0;
    for (int64_t i = 0; i < h->Ho; i++)
        for (int64_t j = 0; j < h->Wo; j += VL, v++) {
            const int64_t n = h->Wo - j < VL ? h->Wo - j : VL;
            vin[v] = i * g->Wi + j;
            vout[v] = i * h->Wo + j;
            vmask[v] = (int64_t)(((uint64_t)1 << n) - 1);
        }
    return h;
}

size_t nb_convd_dw_acc_len(const void *plan) {
    const plan_hdr *h = plan;
    return (size_t)(h->g.Co * h->K * h->vl);
}

#define PLAN_DEF(T, SUF)                                                                              \
    void nb_convd_plan_##SUF(void *mem, const nb_convd_geom *g, const T *w, bool flip) {              \
        plan_hdr *h = plan_common(mem, g, sizeof(T));                                                 \
        T *wpk = (T *)((char *)mem + h->wpk);                                                         \
        const int64_t K = h->K, kk = g->kh * g->kw, ot = (g->Co + MR - 1) / MR;                       \
        for (int64_t t = 0; w && t < ot; t++) /* w NULL: a plan for dW only */                        \
            for (int64_t k = 0; k < K; k++)                                                           \
                for (int64_t r = 0; r < MR; r++) {                                                    \
                    const int64_t o = t * MR + r, c = k / kk, pq = k % kk;                            \
                    T v = 0;                                                                          \
                    if (o < g->Co) v = flip ? w[(c * g->Co + o) * kk + (kk - 1 - pq)] : w[o * K + k]; \
                    wpk[(t * K + k) * MR + r] = v;                                                    \
                }                                                                                     \
    }
PLAN_DEF(float, f32)
PLAN_DEF(double, f64)

bool nb_convd_dwr_ok(const void *plan) {
    const plan_hdr *h = plan;
    return h->g.kw <= 6;
}

int64_t nb_convd_dwr_gs(const void *plan) {
    const plan_hdr *h = plan;
    return (h->Wo + h->vl - 1) / h->vl * h->vl;
}

bool nb_convd_dwo_ok(const void *plan) {
    const plan_hdr *h = plan;
    return h->g.Co % h->vl == 0 && (double)h->vl * (double)(h->Ho * h->Wo) < 2e9;
}

#define DWO_FINISH(T, SUF)                                                               \
    void nb_convd_dwo_finish_##SUF(const void *plan, const T *dwt, T *dw) {              \
        const plan_hdr *h = plan;                                                        \
        for (int64_t o = 0; o < h->g.Co; o++)                                            \
            for (int64_t k = 0; k < h->K; k++) dw[o * h->K + k] += dwt[k * h->g.Co + o]; \
    }
DWO_FINISH(float, f32)
DWO_FINISH(double, f64)

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool nb_convd_avail(void) { return nb_isa() == ISA_AVX512; }

#define ATTR __attribute__((target("avx512f")))

#define TILE_INST(T, SUF, MRV, NV)                                                                         \
    ATTR static void tile##MRV##x##NV##_##SUF(int64_t K, const T *a, const int64_t *off, const T *in,      \
                                              const int64_t *vin, T *out, int64_t HW, const int64_t *vout, \
                                              const int64_t *vmask, int mv, const T *bias, bool accum) {   \
        tile_##SUF(MRV, NV, K, a, off, in, vin, out, HW, vout, vmask, mv, bias, accum);                    \
    }

/* One mr × nv tile (mr ≤ MR): rows o0 .. o0 + mv of out (mv ≤ mr), vectors
 * vin/vout/vmask[0..nv). */
#define TILE_DEF(T, SUF, V, VL, MASKT, LOADU, SET1, FMA, ADD, ZERO, MLOADZ, MSTORE)                                  \
    ATTR static inline __attribute__((always_inline)) void tile_##SUF(                                               \
        const int mr, const int nv, int64_t K, const T *restrict a, const int64_t *restrict off, const T *in,        \
        const int64_t *vin, T *out, int64_t HW, const int64_t *vout, const int64_t *vmask, int mv, const T *bias,    \
        bool accum) {                                                                                                \
        V acc[MR][NVMAX];                                                                                            \
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)    \
            acc[r][v] = ZERO();                                                                                      \
        const T *s0 = in + vin[0], *s1 = in + vin[nv > 1 ? 1 : 0], *s2 = in + vin[nv > 2 ? 2 : 0];                   \
        for (int64_t k = 0; k < K; k++, a += MR) {                                                                   \
            const int64_t o = off[k];                                                                                \
            V b[NVMAX];                                                                                              \
            b[0] = LOADU(s0 + o);                                                                                    \
            if (nv > 1) b[1] = LOADU(s1 + o);                                                                        \
            if (nv > 2) b[2] = LOADU(s2 + o);                                                                        \
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {                                                   \
                const V av = SET1(a[r]);                                                                             \
                _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) acc[r][v] = FMA(av, b[v], acc[r][v]);           \
            }                                                                                                        \
        }                                                                                                            \
        for (int r = 0; r < mv && r < mr; r++) /* mv <= mr (the bound for the compiler) */                           \
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) {                                                   \
                T *dst = out + r * HW + vout[v];                                                                     \
                const MASKT m = (MASKT)vmask[v];                                                                     \
                V x = acc[r][v];                                                                                     \
                if (accum) x = ADD(MLOADZ(m, dst), x);                                                               \
                else if (bias) x = ADD(x, SET1(bias[r]));                                                            \
                MSTORE(dst, m, x);                                                                                   \
            }                                                                                                        \
    }                                                                                                                \
    TILE_INST(T, SUF, 8, 1)                                                                                          \
    TILE_INST(T, SUF, 8, 2) TILE_INST(T, SUF, 8, 3) TILE_INST(T, SUF, 4, 1) TILE_INST(T, SUF, 4, 2)                  \
        TILE_INST(T, SUF, 4, 3) TILE_INST(T, SUF, 2, 1) TILE_INST(T, SUF, 2, 2) TILE_INST(T, SUF, 2, 3)              \
            TILE_INST(T, SUF, 1, 1) TILE_INST(T, SUF, 1, 2)                                                          \
                TILE_INST(T, SUF, 1, 3) /* tiles of nv vectors with mr rows (8, or the fewest of 4, 2, 1 that hold \
     * the mv rows of the last tile: Co or C not a multiple of 8 computes no   \
     * unused rows) */ \
        typedef void (*tilefn_##SUF)(int64_t, const T *, const int64_t *, const T *, const int64_t *, T *, int64_t,  \
                                     const int64_t *, const int64_t *, int, const T *, bool);                        \
    static const tilefn_##SUF tiles_##SUF[4][3] = {{tile8x1_##SUF, tile8x2_##SUF, tile8x3_##SUF},                    \
                                                   {tile4x1_##SUF, tile4x2_##SUF, tile4x3_##SUF},                    \
                                                   {tile2x1_##SUF, tile2x2_##SUF, tile2x3_##SUF},                    \
                                                   {tile1x1_##SUF, tile1x2_##SUF, tile1x3_##SUF}};                   \
    ATTR void nb_convd_run_##SUF(const void *plan, const T *in, T *out, const T *bias, bool accum) {                 \
        const plan_hdr *h = plan;                                                                                    \
        const char *base = plan;                                                                                     \
        const T *wpk = (const T *)(base + h->wpk);                                                                   \
        const int64_t *off = (const int64_t *)(base + h->off), *vin = (const int64_t *)(base + h->vin);              \
        const int64_t *vout = (const int64_t *)(base + h->vout), *vmask = (const int64_t *)(base + h->vmask);        \
        const int64_t K = h->K, Co = h->g.Co, HW = h->Ho * h->Wo;                                                    \
        for (int64_t o0 = 0; o0 < Co; o0 += MR) {                                                                    \
            const T *a = wpk + o0 * K;                                                                               \
            const int mv = (int)(Co - o0 < MR ? Co - o0 : MR);                                                       \
            T *ob = out + o0 * HW;                                                                                   \
            const T *bb = bias ? bias + o0 : NULL;                                                                   \
            /* tiles of 3 vectors; a remainder of 1 borrows one from the last 3 (2 + 2) */                           \
            const int64_t nv = h->nvec, n3 = nv % 3 == 1 && nv > 1 ? nv / 3 - 1 : nv / 3;                            \
            int64_t v = 0;                                                                                           \
            const tilefn_##SUF *tl = tiles_##SUF[mv > 4 ? 0 : mv > 2 ? 1 : mv > 1 ? 2 : 3];                          \
            for (; v < 3 * n3; v += 3) tl[2](K, a, off, in, vin + v, ob, HW, vout + v, vmask + v, mv, bb, accum);    \
            for (; v + 2 <= nv; v += 2) tl[1](K, a, off, in, vin + v, ob, HW, vout + v, vmask + v, mv, bb, accum);   \
            if (v < nv) tl[0](K, a, off, in, vin + v, ob, HW, vout + v, vmask + v, mv, bb, accum);                   \
        }                                                                                                            \
    }

/* dW: lanes over output columns. A tile is DMR output channels × NK rows k
 * of the implicit cols (NK = 4, 5 or 6, whichever wastes least of K); its
 * accumulators run over every vector of every image given, then go back to
 * acc (o, k, lane). Rows past Co / K repeat the last one and are not stored. */
#define DMR 4
#define DW_DEF(T, SUF, V, VL, MASKT, LOADU, FMA, ZERO, MLOADZ, REDUCE)                                                 \
    ATTR static inline __attribute__((always_inline)) void dwtile_##SUF(const int NK, const plan_hdr *h, int nimg,     \
                                                                        const T *const *in, const T *const *g, T *acc, \
                                                                        int64_t o0, int64_t k0) {                      \
        const char *base = (const char *)h;                                                                            \
        const int64_t *off = (const int64_t *)(base + h->off), *vin = (const int64_t *)(base + h->vin);                \
        const int64_t *vout = (const int64_t *)(base + h->vout), *vmask = (const int64_t *)(base + h->vmask);          \
        const int64_t K = h->K, Co = h->g.Co, HW = h->Ho * h->Wo, nvec = h->nvec;                                      \
        const int mo = (int)(Co - o0 < DMR ? Co - o0 : DMR), mk = (int)(K - k0 < NK ? K - k0 : NK);                    \
        int64_t ko[6], go[DMR];                                                                                        \
        for (int q = 0; q < NK; q++) ko[q] = off[k0 + (q < mk ? q : mk - 1)];                                          \
        for (int r = 0; r < DMR; r++) go[r] = (o0 + (r < mo ? r : mo - 1)) * HW;                                       \
        V a[DMR][6];                                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < DMR; r++) _Pragma("GCC unroll 6") for (int q = 0; q < NK; q++)     \
            a[r][q] = r < mo && q < mk ? LOADU(acc + ((o0 + r) * K + k0 + q) * VL) : ZERO();                           \
        for (int im = 0; im < nimg; im++) {                                                                            \
            const T *x = in[im], *gg = g[im];                                                                          \
            for (int64_t v = 0; v < nvec; v++) {                                                                       \
                const int64_t vi = vin[v], vo = vout[v];                                                               \
                const MASKT m = (MASKT)vmask[v];                                                                       \
                V xv[6];                                                                                               \
                _Pragma("GCC unroll 6") for (int q = 0; q < NK; q++) xv[q] = LOADU(x + ko[q] + vi);                    \
                _Pragma("GCC unroll 4") for (int r = 0; r < DMR; r++) { /* one g vector live at a time */              \
                    const V gv = MLOADZ(m, gg + go[r] + vo);                                                           \
                    _Pragma("GCC unroll 6") for (int q = 0; q < NK; q++) a[r][q] = FMA(gv, xv[q], a[r][q]);            \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 4") for (int r = 0; r < DMR; r++)                                                          \
            _Pragma("GCC unroll 6") for (int q = 0; q < NK; q++) if (r < mo && q < mk)                                 \
                _mm512_storeu_##SUF##_(acc + ((o0 + r) * K + k0 + q) * VL, a[r][q]);                                   \
    }                                                                                                                  \
    ATTR static void dwtile4_##SUF(const plan_hdr *h, int nimg, const T *const *in, const T *const *g, T *acc,         \
                                   int64_t o0, int64_t k0) {                                                           \
        dwtile_##SUF(4, h, nimg, in, g, acc, o0, k0);                                                                  \
    }                                                                                                                  \
    ATTR static void dwtile5_##SUF(const plan_hdr *h, int nimg, const T *const *in, const T *const *g, T *acc,         \
                                   int64_t o0, int64_t k0) {                                                           \
        dwtile_##SUF(5, h, nimg, in, g, acc, o0, k0);                                                                  \
    }                                                                                                                  \
    ATTR static void dwtile6_##SUF(const plan_hdr *h, int nimg, const T *const *in, const T *const *g, T *acc,         \
                                   int64_t o0, int64_t k0) {                                                           \
        dwtile_##SUF(6, h, nimg, in, g, acc, o0, k0);                                                                  \
    }                                                                                                                  \
    ATTR void nb_convd_dw_##SUF(const void *plan, int nimg, const T *const *in, const T *const *g, T *acc) {           \
        const plan_hdr *h = plan;                                                                                      \
        const int64_t K = h->K;                                                                                        \
        int nk = 6;                                                                                                    \
        for (int c = 5; c >= 4; c--)                                                                                   \
            if ((K + c - 1) / c * c < (K + nk - 1) / nk * nk) nk = c;                                                  \
        for (int64_t o0 = 0; o0 < h->g.Co; o0 += DMR)                                                                  \
            for (int64_t k0 = 0; k0 < K; k0 += nk) {                                                                   \
                if (nk == 6) dwtile6_##SUF(h, nimg, in, g, acc, o0, k0);                                               \
                else if (nk == 5) dwtile5_##SUF(h, nimg, in, g, acc, o0, k0);                                          \
                else dwtile4_##SUF(h, nimg, in, g, acc, o0, k0);                                                       \
            }                                                                                                          \
    }                                                                                                                  \
    ATTR void nb_convd_dw_finish_##SUF(const void *plan, const T *acc, T *dw) {                                        \
        const plan_hdr *h = plan;                                                                                      \
        for (int64_t i = 0; i < h->g.Co * h->K; i++) dw[i] += REDUCE(LOADU(acc + i * VL));                             \
    }

TILE_DEF(float, f32, __m512, 16, __mmask16, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
         _mm512_setzero_ps, _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
TILE_DEF(double, f64, __m512d, 8, __mmask8, _mm512_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
         _mm512_setzero_pd, _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)

#define COPY_DEF(T, SUF, VL, MASKT, LOADU, STOREU, MLOADZ, MSTORE)                                            \
    ATTR void nb_convd_copy_##SUF(T *dst, int64_t ds, const T *src, int64_t ss, int64_t rows, int64_t cols) { \
        const int64_t nf = cols / VL * VL;                                                                    \
        const MASKT m = (MASKT)(((uint32_t)1 << (cols % VL)) - 1);                                            \
        for (int64_t r = 0; r < rows; r++, dst += ds, src += ss) {                                            \
            int64_t j = 0;                                                                                    \
            for (; j < nf; j += VL) STOREU(dst + j, LOADU(src + j));                                          \
            if (m) MSTORE(dst + j, m, MLOADZ(m, src + j));                                                    \
        }                                                                                                     \
    }
COPY_DEF(float, f32, 16, __mmask16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
COPY_DEF(double, f64, 8, __mmask8, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)

/* out[o] = Σ of row o of G (O, P) as 8 partial sums over p (p mod 8), then
 * the tail in order, then the 8 partial sums in order (the bits of the
 * portable loop in conv_gemm_tmpl.h), 8 rows at a time: 8 independent chains of
 * 8-lane adds (one row alone is bound by the add latency). */
#define ROWSUMS_DEF(T, SUF, V8, LOAD8, ADD8, ZERO8, STORE8)                                             \
    ATTR void nb_convd_rowsums_##SUF(const T *G, int64_t O, int64_t P, T *out) {                        \
        for (int64_t o0 = 0; o0 < O; o0 += 8) {                                                         \
            const int m = (int)(O - o0 < 8 ? O - o0 : 8);                                               \
            const T *r[8];                                                                              \
            for (int j = 0; j < 8; j++) r[j] = G + (o0 + (j < m ? j : m - 1)) * P;                      \
            V8 a[8];                                                                                    \
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) a[j] = ZERO8();                         \
            int64_t p = 0;                                                                              \
            for (; p + 8 <= P; p += 8)                                                                  \
                _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) a[j] = ADD8(a[j], LOAD8(r[j] + p)); \
            for (int j = 0; j < m; j++) {                                                               \
                T lane[8], s = 0;                                                                       \
                STORE8(lane, a[j]);                                                                     \
                for (int64_t q = p; q < P; q++) s += r[j][q];                                           \
                for (int l = 0; l < 8; l++) s += lane[l];                                               \
                out[o0 + j] = s;                                                                        \
            }                                                                                           \
        }                                                                                               \
    }
ROWSUMS_DEF(float, f32, __m256, _mm256_loadu_ps, _mm256_add_ps, _mm256_setzero_ps, _mm256_storeu_ps)
ROWSUMS_DEF(double, f64, __m512d, _mm512_loadu_pd, _mm512_add_pd, _mm512_setzero_pd, _mm512_storeu_pd)

/* gt (P, Co) = gᵀ for g (Co, P), Co a multiple of VL: blocks of VL channels ×
 * VL positions transposed in registers (unpack and lane shuffles; the last
 * block of positions loaded with a mask and stored in part). */
ATTR static void transpose_f32(const float *g, int64_t P, int64_t Co, float *gt) {
    for (int64_t o0 = 0; o0 < Co; o0 += 16)
        for (int64_t t0 = 0; t0 < P; t0 += 16) {
            const int64_t n = P - t0 < 16 ? P - t0 : 16;
            const __mmask16 m = (__mmask16)(((uint32_t)1 << n) - 1);
            __m512 r[16], t[16];
            _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) r[i] =
                _mm512_maskz_loadu_ps(m, g + (o0 + i) * P + t0);
            _Pragma("GCC unroll 16") for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            _Pragma("GCC unroll 16") for (int i = 0; i < 16; i += 4) {
                r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
                r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
                r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
            }
            _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++) {
                t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
                t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
                t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
                t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
            }
            _Pragma("GCC unroll 16") for (int i = 0; i < 8;
                                          i++) { /* column i: (t[i], t[i + 8], 0x88); column i + 8: 0xDD */
                r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
                r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
            }
            _Pragma("GCC unroll 16") for (int i = 0; i < n; i++) _mm512_storeu_ps(gt + (t0 + i) * Co + o0, r[i]);
        }
}
ATTR static void transpose_f64(const double *g, int64_t P, int64_t Co, double *gt) {
    for (int64_t o0 = 0; o0 < Co; o0 += 8)
        for (int64_t t0 = 0; t0 < P; t0 += 8) {
            const int64_t n = P - t0 < 8 ? P - t0 : 8;
            const __mmask8 m = (__mmask8)((1u << n) - 1);
            __m512d r[8], t[8];
            _Pragma("GCC unroll 16") for (int i = 0; i < 8; i++) r[i] = _mm512_maskz_loadu_pd(m, g + (o0 + i) * P + t0);
            _Pragma("GCC unroll 16") for (int i = 0; i < 8; i += 2) {
                t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
            }
            _Pragma("GCC unroll 16") for (int i = 0; i < 8; i += 4) {
                r[i] = _mm512_shuffle_f64x2(t[i], t[i + 2], 0x88);
                r[i + 1] = _mm512_shuffle_f64x2(t[i + 1], t[i + 3], 0x88);
                r[i + 2] = _mm512_shuffle_f64x2(t[i], t[i + 2], 0xDD);
                r[i + 3] = _mm512_shuffle_f64x2(t[i + 1], t[i + 3], 0xDD);
            }
            _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++) {
                t[i] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0x88);
                t[i + 4] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0xDD);
            }
            _Pragma("GCC unroll 16") for (int i = 0; i < n; i++) _mm512_storeu_pd(gt + (t0 + i) * Co + o0, t[i]);
        }
}

/* dW with lanes over output channels (Co a multiple of VL): g is first
 * transposed to gt (Ho·Wo, Co) (transpose_*); a tile is NO vectors of channels
 * × NK rows k, its accumulators held over a chunk of output rows (about
 * 4096 gt elements) while each position broadcasts its NK input values
 * (one FMA each with an embedded broadcast). dwt is (K, Co). */
#define DWO_DEF(T, SUF, V, VL, LOADU, STOREU, SET1, FMA, ZERO)                                                    \
    ATTR static inline __attribute__((always_inline)) void dwo_tile_##SUF(                                        \
        const int NO, const int NK, const plan_hdr *h, const T *in, const T *gt, T *dwt, int64_t k0, int64_t o0,  \
        int64_t i0, int64_t i1) {                                                                                 \
        const int64_t *off = (const int64_t *)((const char *)h + h->off);                                         \
        const int64_t K = h->K, Co = h->g.Co, Wo = h->Wo, Wi = h->g.Wi;                                           \
        const int mk = (int)(K - k0 < NK ? K - k0 : NK);                                                          \
        const T *pk[8];                                                                                           \
        for (int q = 0; q < NK; q++) pk[q] = in + off[k0 + (q < mk ? q : mk - 1)];                                \
        V a[4][8];                                                                                                \
        _Pragma("GCC unroll 4") for (int v = 0; v < NO; v++) _Pragma("GCC unroll 8") for (int q = 0; q < NK; q++) \
            a[v][q] = q < mk ? LOADU(dwt + (k0 + q) * Co + o0 + v * VL) : ZERO();                                 \
        for (int64_t i = i0; i < i1; i++) {                                                                       \
            const T *gr = gt + i * Wo * Co + o0;                                                                  \
            const T *pr[8];                                                                                       \
            _Pragma("GCC unroll 8") for (int q = 0; q < NK; q++) pr[q] = pk[q] + i * Wi;                          \
            for (int64_t j = 0; j < Wo; j++, gr += Co) {                                                          \
                V gv[4];                                                                                          \
                _Pragma("GCC unroll 4") for (int v = 0; v < NO; v++) gv[v] = LOADU(gr + v * VL);                  \
                _Pragma("GCC unroll 8") for (int q = 0; q < NK; q++) {                                            \
                    const V b = SET1(pr[q][j]);                                                                   \
                    _Pragma("GCC unroll 4") for (int v = 0; v < NO; v++) a[v][q] = FMA(gv[v], b, a[v][q]);        \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        _Pragma("GCC unroll 4") for (int v = 0; v < NO; v++)                                                      \
            _Pragma("GCC unroll 8") for (int q = 0; q < NK; q++) if (q < mk)                                      \
                STOREU(dwt + (k0 + q) * Co + o0 + v * VL, a[v][q]);                                               \
    }                                                                                                             \
    ATTR static void dwo18_##SUF(const plan_hdr *h, const T *in, const T *gt, T *dwt, int64_t k0, int64_t o0,     \
                                 int64_t i0, int64_t i1) {                                                        \
        dwo_tile_##SUF(1, 8, h, in, gt, dwt, k0, o0, i0, i1);                                                     \
    }                                                                                                             \
    ATTR static void dwo28_##SUF(const plan_hdr *h, const T *in, const T *gt, T *dwt, int64_t k0, int64_t o0,     \
                                 int64_t i0, int64_t i1) {                                                        \
        dwo_tile_##SUF(2, 8, h, in, gt, dwt, k0, o0, i0, i1);                                                     \
    }                                                                                                             \
    ATTR static void dwo46_##SUF(const plan_hdr *h, const T *in, const T *gt, T *dwt, int64_t k0, int64_t o0,     \
                                 int64_t i0, int64_t i1) {                                                        \
        dwo_tile_##SUF(4, 6, h, in, gt, dwt, k0, o0, i0, i1);                                                     \
    }                                                                                                             \
    ATTR void nb_convd_dwo_##SUF(const void *plan, const T *in, const T *g, T *gt, T *dwt) {                      \
        const plan_hdr *h = plan;                                                                                 \
        const int64_t K = h->K, Co = h->g.Co, Ho = h->Ho, Wo = h->Wo, P = Ho * Wo, nv = Co / VL;                  \
        transpose_##SUF(g, P, Co, gt);                                                                            \
        const int NO = nv % 4 == 0 ? 4 : nv % 2 == 0 ? 2 : 1, NK = NO == 4 ? 6 : 8;                               \
        int64_t R = 4096 / Co / Wo;                                                                               \
        if (R < 1) R = 1;                                                                                         \
        for (int64_t i0 = 0; i0 < Ho; i0 += R) {                                                                  \
            const int64_t i1 = i0 + R < Ho ? i0 + R : Ho;                                                         \
            for (int64_t k0 = 0; k0 < K; k0 += NK)                                                                \
                for (int64_t o0 = 0; o0 < Co; o0 += NO * VL) {                                                    \
                    if (NO == 4) dwo46_##SUF(h, in, gt, dwt, k0, o0, i0, i1);                                     \
                    else if (NO == 2) dwo28_##SUF(h, in, gt, dwt, k0, o0, i0, i1);                                \
                    else dwo18_##SUF(h, in, gt, dwt, k0, o0, i0, i1);                                             \
                }                                                                                                 \
        }                                                                                                         \
    }

DWO_DEF(float, f32, __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps)
DWO_DEF(double, f64, __m512d, 8, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_setzero_pd)

#define _mm512_storeu_f32_ _mm512_storeu_ps
#define _mm512_storeu_f64_ _mm512_storeu_pd
DW_DEF(float, f32, __m512, 16, __mmask16, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_setzero_ps, _mm512_maskz_loadu_ps,
       _mm512_reduce_add_ps)
DW_DEF(double, f64, __m512d, 8, __mmask8, _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_setzero_pd, _mm512_maskz_loadu_pd,
       _mm512_reduce_add_pd)

/* dW with lanes over output columns, one kernel row (c, p) per tile (kw ≤ 6,
 * nb_convd_dwr_ok): the kw taps of the row are the same input row shifted by
 * q = 0 .. kw − 1 columns, so each vector of output columns takes two loads
 * of the input row (columns j0 .. j0 + 2·VL) and builds the kw shifted
 * vectors with valign (no loads across cache lines, which held the per-tap
 * loads of nb_convd_dw back). g is read from a copy whose rows are padded
 * with zeros to a whole number of vectors (row stride gs = nb_convd_dwr_gs,
 * 64-byte aligned rows when g is): aligned loads, no masks. A tile is NR
 * output channels (8 for kw ≤ 3, else 4) × kw taps, its accumulators held
 * over every vector of every image given; acc is nb_convd_dw's (o, k, lane)
 * layout and nb_convd_dw_finish adds it up. */
#define DWR_DEF(T, SUF, V, VL, LOADU, LOAD, FMA, ZERO, ALIGNR)                                                         \
    ATTR static inline __attribute__((always_inline)) V shift_##SUF(V a, V b, int q) {                                 \
        switch (q) { /* the shift must be an immediate */                                                              \
        case 1: return ALIGNR(b, a, 1);                                                                                \
        case 2: return ALIGNR(b, a, 2);                                                                                \
        case 3: return ALIGNR(b, a, 3);                                                                                \
        case 4: return ALIGNR(b, a, 4);                                                                                \
        case 5: return ALIGNR(b, a, 5);                                                                                \
        default: return a;                                                                                             \
        }                                                                                                              \
    }                                                                                                                  \
    ATTR static inline __attribute__((always_inline)) void dwr_tile_##SUF(                                             \
        const int KW, const int NR, const plan_hdr *h, int nimg, const T *const *in, const T *const *g, int64_t gs,    \
        T *acc, int64_t o0, int64_t c, int64_t p) {                                                                    \
        const int64_t Wi = h->g.Wi, Ho = h->Ho, nseg = (h->Wo + VL - 1) / VL, K = h->K, Co = h->g.Co;                  \
        const int64_t k0 = (c * h->g.kh + p) * KW, xo = (c * h->g.Hi + p) * Wi;                                        \
        const int mo = (int)(Co - o0 < NR ? Co - o0 : NR);                                                             \
        int64_t go[8];                                                                                                 \
        for (int r = 0; r < NR; r++) go[r] = (o0 + (r < mo ? r : mo - 1)) * Ho * gs;                                   \
        V a[8][6];                                                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) _Pragma("GCC unroll 6") for (int q = 0; q < KW; q++)      \
            a[r][q] = r < mo ? LOADU(acc + ((o0 + r) * K + k0 + q) * VL) : ZERO();                                     \
        for (int im = 0; im < nimg; im++) {                                                                            \
            const T *x = in[im] + xo, *gg = g[im];                                                                     \
            for (int64_t i = 0; i < Ho; i++, x += Wi, gg += gs)                                                        \
                for (int64_t j0 = 0; j0 < nseg * VL; j0 += VL) {                                                       \
                    const V A = LOADU(x + j0), B = LOADU(x + j0 + VL);                                                 \
                    V xs[6];                                                                                           \
                    _Pragma("GCC unroll 6") for (int q = 0; q < KW; q++) xs[q] = shift_##SUF(A, B, q);                 \
                    _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++) {                                             \
                        const V gv = LOAD(gg + go[r] + j0);                                                            \
                        _Pragma("GCC unroll 6") for (int q = 0; q < KW; q++) a[r][q] = FMA(gv, xs[q], a[r][q]);        \
                    }                                                                                                  \
                }                                                                                                      \
        }                                                                                                              \
        _Pragma("GCC unroll 8") for (int r = 0; r < NR; r++)                                                           \
            _Pragma("GCC unroll 6") for (int q = 0; q < KW; q++) if (r < mo)                                           \
                _mm512_storeu_##SUF##_(acc + ((o0 + r) * K + k0 + q) * VL, a[r][q]);                                   \
    }                                                                                                                  \
    DWR_INST(T, SUF, 1, 8)                                                                                             \
    DWR_INST(T, SUF, 2, 8) DWR_INST(T, SUF, 3, 8) DWR_INST(T, SUF, 4, 4) DWR_INST(T, SUF, 5, 4) DWR_INST(T, SUF, 6, 4) \
        ATTR void nb_convd_dwr_##SUF(const void *plan, int nimg, const T *const *in, const T *const *g, T *acc) {      \
        const plan_hdr *h = plan;                                                                                      \
        const int64_t kw = h->g.kw, gs = nb_convd_dwr_gs(plan), NR = kw <= 3 ? 8 : 4;                                  \
        for (int64_t o0 = 0; o0 < h->g.Co; o0 += NR)                                                                   \
            for (int64_t c = 0; c < h->g.Ci; c++)                                                                      \
                for (int64_t p = 0; p < h->g.kh; p++) switch (kw) {                                                    \
                    case 1: dwr1_##SUF(h, nimg, in, g, gs, acc, o0, c, p); break;                                      \
                    case 2: dwr2_##SUF(h, nimg, in, g, gs, acc, o0, c, p); break;                                      \
                    case 3: dwr3_##SUF(h, nimg, in, g, gs, acc, o0, c, p); break;                                      \
                    case 4: dwr4_##SUF(h, nimg, in, g, gs, acc, o0, c, p); break;                                      \
                    case 5: dwr5_##SUF(h, nimg, in, g, gs, acc, o0, c, p); break;                                      \
                    default: dwr6_##SUF(h, nimg, in, g, gs, acc, o0, c, p); break;                                     \
                    }                                                                                                  \
    }
#define DWR_INST(T, SUF, KW, NR)                                                                                     \
    ATTR static void dwr##KW##_##SUF(const plan_hdr *h, int nimg, const T *const *in, const T *const *g, int64_t gs, \
                                     T *acc, int64_t o0, int64_t c, int64_t p) {                                     \
        dwr_tile_##SUF(KW, NR, h, nimg, in, g, gs, acc, o0, c, p);                                                   \
    }
#define ALIGNR_f32(b, a, q) _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(a), q))
#define ALIGNR_f64(b, a, q) _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(b), _mm512_castpd_si512(a), q))
DWR_DEF(float, f32, __m512, 16, _mm512_loadu_ps, _mm512_load_ps, _mm512_fmadd_ps, _mm512_setzero_ps, ALIGNR_f32)
DWR_DEF(double, f64, __m512d, 8, _mm512_loadu_pd, _mm512_load_pd, _mm512_fmadd_pd, _mm512_setzero_pd, ALIGNR_f64)

#else
bool nb_convd_avail(void) { return false; }
void nb_convd_run_f32(const void *plan, const float *in, float *out, const float *bias, bool accumulate) {
    (void)plan, (void)in, (void)out, (void)bias, (void)accumulate;
}
void nb_convd_run_f64(const void *plan, const double *in, double *out, const double *bias, bool accumulate) {
    (void)plan, (void)in, (void)out, (void)bias, (void)accumulate;
}
void nb_convd_dw_f32(const void *plan, int nimg, const float *const *in, const float *const *g, float *acc) {
    (void)plan, (void)nimg, (void)in, (void)g, (void)acc;
}
void nb_convd_dw_f64(const void *plan, int nimg, const double *const *in, const double *const *g, double *acc) {
    (void)plan, (void)nimg, (void)in, (void)g, (void)acc;
}
void nb_convd_dw_finish_f32(const void *plan, const float *acc, float *dw) { (void)plan, (void)acc, (void)dw; }
void nb_convd_dwo_f32(const void *plan, const float *in, const float *g, float *gt, float *dwt) {
    (void)plan, (void)in, (void)g, (void)gt, (void)dwt;
}
void nb_convd_dwo_f64(const void *plan, const double *in, const double *g, double *gt, double *dwt) {
    (void)plan, (void)in, (void)g, (void)gt, (void)dwt;
}
void nb_convd_dw_finish_f64(const void *plan, const double *acc, double *dw) { (void)plan, (void)acc, (void)dw; }
void nb_convd_dwr_f32(const void *plan, int nimg, const float *const *in, const float *const *g, float *acc) {
    (void)plan, (void)nimg, (void)in, (void)g, (void)acc;
}
void nb_convd_dwr_f64(const void *plan, int nimg, const double *const *in, const double *const *g, double *acc) {
    (void)plan, (void)nimg, (void)in, (void)g, (void)acc;
}
void nb_convd_copy_f32(float *dst, int64_t ds, const float *src, int64_t ss, int64_t rows, int64_t cols) {
    (void)dst, (void)ds, (void)src, (void)ss, (void)rows, (void)cols;
}
void nb_convd_rowsums_f32(const float *G, int64_t O, int64_t P, float *out) { (void)G, (void)O, (void)P, (void)out; }
void nb_convd_rowsums_f64(const double *G, int64_t O, int64_t P, double *out) { (void)G, (void)O, (void)P, (void)out; }
void nb_convd_copy_f64(double *dst, int64_t ds, const double *src, int64_t ss, int64_t rows, int64_t cols) {
    (void)dst, (void)ds, (void)src, (void)ss, (void)rows, (void)cols;
}
#endif
