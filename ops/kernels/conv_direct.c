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
    int64_t K, Ho, Wo, nvec;
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

#define PLAN_DEF(T, SUF)                                                                             \
    void nb_convd_plan_##SUF(void *mem, const nb_convd_geom *g, const T *w, bool flip) {              \
        plan_hdr *h = plan_common(mem, g, sizeof(T));                                                 \
        T *wpk = (T *)((char *)mem + h->wpk);                                                         \
        const int64_t K = h->K, kk = g->kh * g->kw, ot = (g->Co + MR - 1) / MR;                       \
        for (int64_t t = 0; t < ot; t++)                                                              \
            for (int64_t k = 0; k < K; k++)                                                           \
                for (int64_t r = 0; r < MR; r++) {                                                    \
                    const int64_t o = t * MR + r, c = k / kk, pq = k % kk;                            \
                    T v = 0;                                                                          \
                    if (o < g->Co)                                                                    \
                        v = flip ? w[(c * g->Co + o) * kk + (kk - 1 - pq)] : w[o * K + k];            \
                    wpk[(t * K + k) * MR + r] = v;                                                    \
                }                                                                                     \
    }
PLAN_DEF(float, f32)
PLAN_DEF(double, f64)

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool nb_convd_avail(void) {
    return nb_cpu_isa() == ISA_AVX512 && !strcmp(nb_gemm_isa(), "avx512");
}

#define ATTR __attribute__((target("avx512f")))

/* One MR × NV tile: rows o0 .. o0 + mv of out, vectors vin/vout/vmask[0..NV). */
#define TILE_DEF(T, SUF, V, VL, MASKT, LOADU, SET1, FMA, ADD, ZERO, MLOADZ, MSTORE)                   \
    ATTR static inline __attribute__((always_inline)) void tile_##SUF(                                 \
        const int nv, int64_t K, const T *restrict a, const int64_t *restrict off, const T *in,       \
        const int64_t *vin, T *out, int64_t HW, const int64_t *vout, const int64_t *vmask, int mv,     \
        const T *bias, bool accum) {                                                                  \
        V acc[MR][NVMAX];                                                                             \
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++)                                          \
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) acc[r][v] = ZERO();                  \
        const T *s0 = in + vin[0], *s1 = in + vin[nv > 1 ? 1 : 0], *s2 = in + vin[nv > 2 ? 2 : 0];    \
        for (int64_t k = 0; k < K; k++, a += MR) {                                                    \
            const int64_t o = off[k];                                                                 \
            V b[NVMAX];                                                                               \
            b[0] = LOADU(s0 + o);                                                                     \
            if (nv > 1) b[1] = LOADU(s1 + o);                                                         \
            if (nv > 2) b[2] = LOADU(s2 + o);                                                         \
            _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {                                    \
                const V av = SET1(a[r]);                                                              \
                _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) acc[r][v] = FMA(av, b[v], acc[r][v]); \
            }                                                                                         \
        }                                                                                             \
        for (int r = 0; r < mv; r++)                                                                  \
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++) {                                    \
                T *dst = out + r * HW + vout[v];                                                      \
                const MASKT m = (MASKT)vmask[v];                                                      \
                V x = acc[r][v];                                                                      \
                if (accum) x = ADD(MLOADZ(m, dst), x);                                                \
                else if (bias) x = ADD(x, SET1(bias[r]));                                             \
                MSTORE(dst, m, x);                                                                    \
            }                                                                                         \
    }                                                                                                 \
    ATTR static void tile1_##SUF(int64_t K, const T *a, const int64_t *off, const T *in, const int64_t *vin, T *out, \
                                 int64_t HW, const int64_t *vout, const int64_t *vmask, int mv, const T *bias,   \
                                 bool accum) {                                                        \
        tile_##SUF(1, K, a, off, in, vin, out, HW, vout, vmask, mv, bias, accum);                      \
    }                                                                                                 \
    ATTR static void tile2_##SUF(int64_t K, const T *a, const int64_t *off, const T *in, const int64_t *vin, T *out, \
                                 int64_t HW, const int64_t *vout, const int64_t *vmask, int mv, const T *bias,   \
                                 bool accum) {                                                        \
        tile_##SUF(2, K, a, off, in, vin, out, HW, vout, vmask, mv, bias, accum);                      \
    }                                                                                                 \
    ATTR static void tile3_##SUF(int64_t K, const T *a, const int64_t *off, const T *in, const int64_t *vin, T *out, \
                                 int64_t HW, const int64_t *vout, const int64_t *vmask, int mv, const T *bias,   \
                                 bool accum) {                                                        \
        tile_##SUF(3, K, a, off, in, vin, out, HW, vout, vmask, mv, bias, accum);                      \
    }                                                                                                 \
    ATTR void nb_convd_run_##SUF(const void *plan, const T *in, T *out, const T *bias, bool accum) {  \
        const plan_hdr *h = plan;                                                                     \
        const char *base = plan;                                                                      \
        const T *wpk = (const T *)(base + h->wpk);                                                    \
        const int64_t *off = (const int64_t *)(base + h->off), *vin = (const int64_t *)(base + h->vin); \
        const int64_t *vout = (const int64_t *)(base + h->vout), *vmask = (const int64_t *)(base + h->vmask); \
        const int64_t K = h->K, Co = h->g.Co, HW = h->Ho * h->Wo;                                     \
        for (int64_t o0 = 0; o0 < Co; o0 += MR) {                                                     \
            const T *a = wpk + o0 * K;                                                                \
            const int mv = (int)(Co - o0 < MR ? Co - o0 : MR);                                        \
            T *ob = out + o0 * HW;                                                                    \
            const T *bb = bias ? bias + o0 : NULL;                                                    \
            int64_t v = 0;                                                                            \
            for (; v + 3 <= h->nvec; v += 3)                                                          \
                tile3_##SUF(K, a, off, in, vin + v, ob, HW, vout + v, vmask + v, mv, bb, accum);      \
            if (h->nvec - v == 2) tile2_##SUF(K, a, off, in, vin + v, ob, HW, vout + v, vmask + v, mv, bb, accum); \
            else if (h->nvec - v == 1) tile1_##SUF(K, a, off, in, vin + v, ob, HW, vout + v, vmask + v, mv, bb, accum); \
        }                                                                                             \
    }

TILE_DEF(float, f32, __m512, 16, __mmask16, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
         _mm512_setzero_ps, _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
TILE_DEF(double, f64, __m512d, 8, __mmask8, _mm512_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd,
         _mm512_setzero_pd, _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)

#else
bool nb_convd_avail(void) { return false; }
void nb_convd_run_f32(const void *plan, const float *in, float *out, const float *bias, bool accumulate) {
    (void)plan, (void)in, (void)out, (void)bias, (void)accumulate;
}
void nb_convd_run_f64(const void *plan, const double *in, double *out, const double *bias, bool accumulate) {
    (void)plan, (void)in, (void)out, (void)bias, (void)accumulate;
}
#endif
