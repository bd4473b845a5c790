/* ops/kernels/attn_f32.c — attention slices in f32 on AVX-512F
 * (attn_f32.h). Compiled with the library's baseline flags; the vector
 * functions carry target("avx512f") and run only after nb_isa() said
 * AVX-512. */
#include "attn_f32.h"

#include "cpu.h"
#include "softmax_rows.h"
#include "t8.h"

#include <stdatomic.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

static _Atomic bool g_off; /* nb__attn_f32_enable(false) */
void nb__attn_f32_enable(bool on) { atomic_store(&g_off, !on); }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool nb_attn_f32_fast(int64_t L, int64_t S, int64_t D) {
    return !atomic_load(&g_off) && nb_isa() >= ISA_AVX512 && L > 0 && S > 0 && D > 0 && L % 8 == 0 && S % 32 == 0 &&
        D % 32 == 0;
}

/* No contraction of a separate multiply and add into an FMA (gcc does it
 * by default, to vector intrinsics too): the GEMM's kernels and the
 * softmax rows are compiled without it, and the bits must match theirs. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define AT_FN __attribute__((target("avx512f")))
#define AT_INL __attribute__((target("avx512f"), always_inline)) static inline
#else
#define AT_FN __attribute__((target("avx512f"), optimize("fp-contract=off")))
#define AT_INL __attribute__((target("avx512f"), optimize("fp-contract=off"), always_inline)) static inline
#endif

/* SLEEF's AVX-512 expf (sleef.h declares it only under -mavx512f): the one
 * vmath's nb_vexp_f32 uses on this ISA, so the same exponentials. */
__attribute__((target("avx512f"))) __m512 Sleef_expf16_u10avx512f(__m512);

static inline int64_t at_min(int64_t a, int64_t b) { return a < b ? a : b; }

/* C[0:8, 0:16·nv] (rows ldc apart) = alpha·Σ_{k<kn} a(r, k)·b_k + (add ? C : 0),
 * a(r, k) = a[r·ars + k·aks], b_k the 16·nv floats at b + k·bks (nv 1 or
 * 2, a constant where inlined). The operations of the GEMM's micro-kernel:
 * FMAs upward from 0, one multiply by alpha, then the add; a column's sums
 * do not depend on nv. */
AT_INL void at_tile(int nv, int64_t kn, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks,
                    float alpha, float *C, int64_t ldc, bool add) {
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kn; k++) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = nv > 1 ? _mm512_loadu_ps(b + 16) : b0;
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const __m512 av = _mm512_set1_ps(a[r * ars]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            if (nv > 1) acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
        a += aks;
        b += bks;
    }
    const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
        for (int v = 0; v < nv; v++) {
            __m512 x = _mm512_mul_ps(acc[r][v], va);
            if (add) x = _mm512_add_ps(x, _mm512_loadu_ps(C + r * ldc + 16 * v));
            _mm512_storeu_ps(C + r * ldc + 16 * v, x);
        }
}

/* at_tile over k in blocks of the GEMM's KC (kernels/gemm_avx512.c: 256 for
 * f32), as its packed path sums a long K: alpha·(first block) (+ C), then
 * alpha·(each next block) + C */
#define AT_KC 256
AT_INL void at_tile_nk(int nv, int64_t kn, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks,
                       float alpha, float *C, int64_t ldc, bool add) {
    for (int64_t k0 = 0; k0 == 0 || k0 < kn; k0 += AT_KC)
        at_tile(nv, at_min(AT_KC, kn - k0), a + k0 * aks, ars, aks, b + k0 * bks, bks, alpha, C, ldc, add || k0 > 0);
}
AT_INL void at_tile_k(int64_t kn, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks, float alpha,
                      float *C, int64_t ldc, bool add) {
    at_tile_nk(2, kn, a, ars, aks, b, bks, alpha, C, ldc, add);
}

/* dst (D×S, rows S apart) = srcᵀ, src S×D with rows lds apart */
AT_FN static void at_transpose(float *dst, const float *src, int64_t lds, int64_t S, int64_t D) {
    for (int64_t j = 0; j < S; j += 8) /* S % 32 == 0, D % 32 == 0: whole 8×8 blocks */
        for (int64_t e = 0; e < D; e += 8) nb_gemm_t8_f32(src + j * lds + e, lds, dst + e * S + j, S);
}

/* The keys [0, ke) a block of rows [i0, i1) sees. */
static inline int64_t at_kend(const nb_attn_slice *s, int64_t i1) { return s->causal ? at_min(i1, s->S) : s->S; }
/* The generic path's causal blocks of 16 (ops/attention.c): rows of the
 * block holding row i sum over keys [0, kend(block end)); column j of Aᵀ
 * or dSᵀ over rows [start of j's block, L). */
static inline int64_t at_kend16(const nb_attn_slice *s, int64_t i) {
    return at_kend(s, at_min(s->L, (i & ~(int64_t)15) + 16));
}
static inline int64_t at_rstart16(const nb_attn_slice *s, int64_t j) { return s->causal ? (j & ~(int64_t)15) : 0; }

/* The 8 rows at a (rows ars apart) times the D×S matrix bt (Kᵀ or Vᵀ,
 * rows S apart), times alpha, into C (rows S apart) for the keys the rows
 * see, [0, ke), in tiles of 32 columns, and one of 16 where ke ends 16
 * short of a tile (the causal rows' last keys: a quarter of the products
 * of rows 0-7 otherwise, 6% of the slice's). The other columns are left
 * as they are; the callers zero them. */
AT_INL void at_rows_t(const nb_attn_slice *s, int64_t i0, const float *a, int64_t ars, const float *bt, float alpha,
                      float *C) {
    const int64_t S = s->S, ke = at_min(S, (at_kend(s, i0 + 8) + 15) & ~(int64_t)15);
    int64_t j0 = 0;
    for (; j0 + 32 <= ke; j0 += 32) at_tile_nk(2, s->D, a, ars, 1, bt + j0, S, alpha, C + j0, S, false);
    if (j0 < ke) at_tile_nk(1, s->D, a, ars, 1, bt + j0, S, alpha, C + j0, S, false);
}

/* C rows [j0, j0 + 8) (D columns) (+)= alpha·Xᵀ·Y over the rows [i0, L) of X
 * (columns j0.., rows S apart) and Y (rows ldy apart); rows no product
 * reaches are zeroed when fresh */
AT_INL void at_tn(const nb_attn_slice *s, const float *X, const float *Y, int64_t ldy, float alpha, float *C,
                  int64_t ldc, bool fresh) {
    for (int64_t j0 = 0; j0 < s->S; j0 += 8) {
        const int64_t i0 = at_rstart16(s, j0);
        if (i0 < s->L) {
            for (int64_t c = 0; c < s->D; c += 32)
                at_tile_k(s->L - i0, X + i0 * s->S + j0, 1, s->S, Y + i0 * ldy + c, ldy, alpha, C + j0 * ldc + c, ldc,
                          !fresh);
        } else if (fresh)
            for (int64_t j = j0; j < j0 + 8; j++) memset(C + j * ldc, 0, (size_t)s->D * sizeof(float));
    }
}

static inline __mmask16 at_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* Softmax of the 8 rows at A (S apart; row r over its keys [0, lim)), then
 * zeros past lim; a row whose scores are all −∞ is all zeros. The
 * operations of nb_softmax_row_inplace_f32 on AVX-512 (kernels/softmax_rows.c:
 * max with NaN sticking, x − max, SLEEF's exp, the sum in 8 double lanes,
 * the tail into lane 0, one reciprocal), each row as alone, the 8 rows'
 * steps side by side instead of one row's chain of dependent steps at a
 * time. */
AT_INL void at_softmax8(const nb_attn_slice *s, float *A, int64_t i0) {
    const int64_t S = s->S;
    int64_t lim[8];
    float mx[8];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
        lim[r] = s->causal ? at_min(i0 + r + 1, S) : S;
        const float *x = A + r * S;
        __m512 mv = _mm512_set1_ps(-INFINITY);
        __mmask16 nan = 0;
        for (int64_t i = 0; i < lim[r]; i += 16) {
            const __mmask16 k = at_mask(lim[r] - i);
            const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + i);
            mv = _mm512_max_ps(mv, v);
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        }
        mx[r] = nan ? NAN : _mm512_reduce_max_ps(mv);
    }
    for (int r = 0; r < 8; r++) {
        float *x = A + r * S;
        if (mx[r] == -INFINITY) continue;
        const __m512 vm = _mm512_set1_ps(mx[r]);
        for (int64_t i = 0; i < lim[r]; i += 16) {
            const __mmask16 k = at_mask(lim[r] - i);
            _mm512_mask_storeu_ps(x + i, k,
                                  Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm)));
        }
    }
    double tot[8];
    for (int r = 0; r < 8; r++) {
        const float *x = A + r * S;
        __m512d acc = _mm512_setzero_pd();
        int64_t k = 0;
        for (; k + 8 <= lim[r]; k += 8) acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_loadu_ps(x + k)));
        double l[8];
        _mm512_storeu_pd(l, acc);
        for (; k < lim[r]; k++) l[0] += (double)x[k];
        tot[r] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    }
    for (int r = 0; r < 8; r++) {
        float *x = A + r * S;
        if (mx[r] == -INFINITY) { /* every key masked: zeros (the generic path's convention) */
            memset(x, 0, (size_t)S * sizeof(float));
            continue;
        }
        const __m512 inv = _mm512_set1_ps((float)(1.0 / tot[r]));
        for (int64_t i = 0; i < lim[r]; i += 16) {
            const __mmask16 k = at_mask(lim[r] - i);
            _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
        }
        memset(x + lim[r], 0, (size_t)(S - lim[r]) * sizeof(float));
    }
}

/* The 8 rows at src (S floats each, S % 16 == 0) to dst with non-temporal
 * stores: A is read again only by the backward, long after (from memory
 * whatever is done), so its lines skip the cache and are not read from
 * memory first to be overwritten (2 MiB a layer of the tiny GPT). */
AT_INL void at_stream8(float *dst, const float *src, int64_t S) {
    if (((uintptr_t)dst & 63) == 0)
        for (int64_t i = 0; i < 8 * S; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
    else memcpy(dst, src, (size_t)(8 * S) * sizeof(float));
}

/* Prefetch into L2 rows [r0, r1) of D floats at p (rows ld apart; NULL:
 * nothing), to be read or, write, overwritten */
AT_INL void at_pf_rows(const float *p, int64_t ld, int64_t r0, int64_t r1, int64_t D, bool write) {
    if (!p) return;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t e = 0; e < D; e += 16) {
            if (write) __builtin_prefetch(p + r * ld + e, 1, 2);
            else __builtin_prefetch(p + r * ld + e, 0, 2);
        }
}

/* The rows of the next slice's q-, k- and v-shaped matrices (rows ldq,
 * ldk, ldv apart) that go with rows [i0, i0 + 8) of this one */
AT_INL void at_pf_qkv(const nb_attn_slice *s, int64_t i0, const float *q, int64_t ldq, const float *k, int64_t ldk,
                      const float *v, int64_t ldv, bool write) {
    const int64_t k0 = i0 * s->S / s->L, k1 = (i0 + 8) * s->S / s->L;
    at_pf_rows(q, ldq, i0, i0 + 8, s->D, write);
    at_pf_rows(k, ldk, k0, k1, s->D, write);
    at_pf_rows(v, ldv, k0, k1, s->D, write);
}

AT_FN void nb_attn_fwd_f32(const nb_attn_slice *s, float *A, float *O, int64_t ldo, float *scr) {
    const int64_t L = s->L, S = s->S, D = s->D;
    float *Kt = scr, *A8 = scr + D * S; /* A8: 8 rows of A, in cache while PV reads them */
    at_transpose(Kt, s->k, s->ldk, S, D);
    for (int64_t i0 = 0; i0 < L; i0 += 8) {
        at_pf_qkv(s, i0, s->nq, s->ldq, s->nk, s->ldk, s->nv, s->ldv, false);
        at_rows_t(s, i0, s->q + i0 * s->ldq, s->ldq, Kt, s->scale, A8);
        at_softmax8(s, A8, i0);
        const int64_t kv = at_kend16(s, i0);
        for (int64_t c = 0; c < D; c += 32) at_tile_k(kv, A8, S, 1, s->v + c, s->ldv, 1, O + i0 * ldo + c, ldo, false);
        at_stream8(A + i0 * S, A8, S);
    }
    _mm_sfence(); /* the streamed lines visible before another thread reads A */
}

AT_FN void nb_attn_bwd_f32(const nb_attn_slice *s, const float *A, const float *G, int64_t ldg, float *GQ, int64_t ldgq,
                           float *GK, int64_t ldgk, float *GV, int64_t ldgv, const bool *fresh, float *scr) {
    const int64_t L = s->L, S = s->S, D = s->D;
    if (GV) at_tn(s, A, G, ldg, 1, GV, ldgv, fresh[2]); /* dV = Aᵀ dO */
    if (!GQ && !GK) return;
    float *dS = scr, *Vt = scr + L * S;
    at_transpose(Vt, s->v, s->ldv, S, D);
    for (int64_t i0 = 0; i0 < L; i0 += 8) {
        at_pf_qkv(s, i0, s->nq, s->ldq, s->nk, s->ldk, s->nv, s->ldv, false);
        at_pf_rows(s->na, S, i0, i0 + 8, S, false);
        at_pf_rows(s->ng, ldg, i0, i0 + 8, D, false);
        if (s->nq) /* the next slice's gradient rows, to be written: the same offsets in GQ, GK, GV */
            at_pf_qkv(s, i0, GQ ? GQ + (s->nq - s->q) : NULL, ldgq, GK ? GK + (s->nk - s->k) : NULL, ldgk,
                      GV ? GV + (s->nv - s->v) : NULL, ldgv, true);
        at_rows_t(s, i0, G + i0 * ldg, ldg, Vt, 1, dS + i0 * S); /* dP = dO Vᵀ */
        for (int64_t i = i0; i < i0 + 8; i++) {
            const int64_t lim = s->causal ? at_min(i + 1, S) : S;
            nb_softmax_row_bwd_inplace_f32(dS + i * S, A + i * S, lim);
            memset(dS + i * S + lim, 0, (size_t)(S - lim) * sizeof(float));
        }
        if (GQ) { /* dQ = scale·dS K over the rows' keys */
            const int64_t kq = at_kend16(s, i0);
            for (int64_t c = 0; c < D; c += 32)
                at_tile_k(kq, dS + i0 * S, S, 1, s->k + c, s->ldk, s->scale, GQ + i0 * ldgq + c, ldgq, !fresh[0]);
        }
    }
    if (GK) at_tn(s, dS, s->q, s->ldq, s->scale, GK, ldgk, fresh[1]); /* dK = scale·dSᵀ Q */
}

#else
bool nb_attn_f32_fast(int64_t L, int64_t S, int64_t D) { return (void)L, (void)S, (void)D, false; }
void nb_attn_fwd_f32(const nb_attn_slice *s, float *A, float *O, int64_t ldo, float *scr) {
    (void)s, (void)A, (void)O, (void)ldo, (void)scr;
}
void nb_attn_bwd_f32(const nb_attn_slice *s, const float *A, const float *G, int64_t ldg, float *GQ, int64_t ldgq,
                     float *GK, int64_t ldgk, float *GV, int64_t ldgv, const bool *fresh, float *scr) {
    (void)s, (void)A, (void)G, (void)ldg, (void)GQ, (void)ldgq, (void)GK, (void)ldgk, (void)GV, (void)ldgv;
    (void)fresh, (void)scr;
}
#endif
