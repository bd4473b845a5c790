/* ops/kernels/gemm_tmpl.h — the built-in blocked GEMM, instantiated once per
 * (ISA, dtype) by gemm_avx512.c and gemm_avx2.c (no include guard: included
 * several times with different macros).
 *
 * The Goto/BLIS scheme, row-major:
 *
 *   for jc in N step NC:            B panel  KC×NC  packed   (L3)
 *     for pc in K step KC:
 *       pack op(B)[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels
 *       for ic in M step MC:        A block  MC×KC  packed*  (L2)
 *         pack op(A)[ic:ic+mc, pc:pc+kc] into MR-tall micro-panels
 *         for jr in nc step NR:     B micro-panel KC×NR      (L1)
 *           for ir in mc step MR:   MR×NR of C in registers
 *
 * * Where op(A) = A (row-major) and nc <= A_INPLACE_N, A's full MR-row
 * panels are read in place instead (only an edge panel of fewer than MR
 * rows is packed): the copy transposes every 8×8 block and writes and
 * reads the block once more, ~4% of the product's time on the tiny GPT's
 * layers, where A comes from memory (docs/decisions.md). A wide C reads
 * the block nc/NR times from MR rows apart, which the copy pays for
 * (2048²: 3% slower in place). Transposes are handled while packing, so
 * op(A), op(B) are never copied beyond the packed blocks. beta is applied
 * on the first K block only (beta 0 never reads C, so NaN there is
 * ignored); later K blocks accumulate.
 * Every element of C sums its K products in the same order whatever the
 * tiling, thread count or position, so results are bit-identical run to run
 * and across thread counts.
 *
 * Packing transposes 8×8 blocks in registers where the ISA file gives
 * PACK_T8 (A's full panels where packed, Bᵀ's full panels); the micro-kernel prefetches
 * its C tile on the packed path (C is large there and read once per K block).
 *
 * Threads: the output is split into nt row bands (or column bands when N is
 * the larger side), each computed by one thread with its own packing
 * buffers: no synchronisation but the region's start and end. (Threads that
 * shared one packed B panel and took row blocks of A in turn were 10-40%
 * slower on an otherwise idle machine, 256² to 2048² — each thread then
 * reads half the panel from the other core's cache — and needed a barrier
 * per K block.) Small products stay on one thread (caller's threshold).
 *
 * Required macros: T, SFX (suffix of every name), V (vector type), VL (lanes),
 * MR, NV (vectors per micro-tile row, NR = NV*VL), KC, MC, NC, DIRECT_MAX (largest
 * M·N·K computed without packing),
 * VZERO(), VLOAD(p) (aligned), VLOADU(p), VSTOREU(p, v), VSET1(x),
 * VFMA(a, b, c) = a*b + c, VMUL(a, b). Optional: PACK_T8(src, lda, dst, ds), which
 * stores the 8×8 block at src (rows lda apart) transposed: dst[k*ds + r] =
 * src[r*lda + k] (packs A's full panels and Bᵀ's; NR a multiple of 8). The includer provides <stdlib.h>,
 * <stdbool.h>, <stdint.h> and, with OpenMP, <omp.h>. Every macro above is
 * #undef'd at the end (docs/decisions.md, "Generic over F32/F64"). */

/* 8×8 transposes for packing (PACK_T8). */
#include "t8.h"
/* nb_gemm_row_sums: op(A)'s row sums by a plain loop where the packing does not take them */
#include "gemm.h"

#define NR (NV * VL)
#define G_CAT_(a, b) a##b
#define G_CAT(a, b) G_CAT_(a, b)
#define G_FN(name) G_CAT(name, SFX)

static inline int64_t G_FN(gmin)(int64_t a, int64_t b) { return a < b ? a : b; }
/* rs[i] += op(A)[i][k] for k upward (gemm.h's loop, this T) */
static inline void G_FN(row_sums)(bool ta, int64_t M, int64_t K, const T *A, int64_t lda, T *rs) {
    _Generic((T)0, float: nb_gemm_row_sums_f32, double: nb_gemm_row_sums_f64)(ta, M, K, A, lda, rs);
}

/* op(A)[0:mc, 0:kc] (A points at its first element) into micro-panels of MR
 * rows, each stored k-major: dst[k*MR + r]. Rows past mc are zero. rsum (ta
 * only; NULL: none): rsum[i] += op(A)[i][k] for k upward, each row's sum in
 * the order of a plain loop over k (a linear layer's bias gradient, the
 * column sums of dy, summed as dy passes through the packing for dW). */
static void G_FN(pack_a)(int64_t mc, int64_t kc, const T *A, int64_t lda, bool ta, T *restrict dst, T *restrict rsum) {
    int64_t i = 0;
    if (ta) /* two full panels a pass: each k's 2·MR elements, a whole line of op(A)'s row where aligned, at once */
        for (; i + 2 * MR <= mc; i += 2 * MR, dst += 2 * kc * MR) {
            if (!rsum) {
                for (int64_t k = 0; k < kc; k++) {
                    __builtin_memcpy(dst + k * MR, A + k * lda + i, MR * sizeof(T));
                    __builtin_memcpy(dst + (kc + k) * MR, A + k * lda + i + MR, MR * sizeof(T));
                }
                continue;
            }
            T s[2 * MR];
            for (int r = 0; r < 2 * MR; r++) s[r] = rsum[i + r];
            for (int64_t k = 0; k < kc; k++) {
                const T *src = A + k * lda + i;
                __builtin_memcpy(dst + k * MR, src, MR * sizeof(T));
                __builtin_memcpy(dst + (kc + k) * MR, src + MR, MR * sizeof(T));
#pragma GCC unroll 32
                for (int r = 0; r < 2 * MR; r++) s[r] += src[r];
            }
            for (int r = 0; r < 2 * MR; r++) rsum[i + r] = s[r];
        }
    for (; i < mc; i += MR, dst += kc * MR) {
        const int64_t m = G_FN(gmin)(MR, mc - i);
        if (ta) {
            if (m == MR) { /* a full panel: one fixed-size copy per k (a variable one is a libc call) */
                for (int64_t k = 0; k < kc; k++) __builtin_memcpy(dst + k * MR, A + k * lda + i, MR * sizeof(T));
            } else {
                for (int64_t k = 0; k < kc; k++) {
                    const T *src = A + k * lda + i;
                    int64_t r = 0;
                    for (; r < m; r++) dst[k * MR + r] = src[r];
                    for (; r < MR; r++) dst[k * MR + r] = 0;
                }
            }
            if (rsum) G_FN(row_sums)(true, m, kc, A + i, lda, rsum + i); /* a lone panel's sums: a pass of their own */
        } else {
#ifdef PACK_T8
            /* A full panel: MR×8 blocks transposed in registers. */
            if (m == MR) {
                const T *src = A + i * lda;
                int64_t k = 0;
                for (; k + 8 <= kc; k += 8) {
                    int r = 0;
                    for (; r + 8 <= MR; r += 8) PACK_T8(src + r * lda + k, lda, dst + k * MR + r, MR);
                    for (; r < MR; r++)
                        for (int q = 0; q < 8; q++) dst[(k + q) * MR + r] = src[r * lda + k + q];
                }
                for (; k < kc; k++)
                    for (int r = 0; r < MR; r++) dst[k * MR + r] = src[r * lda + k];
                continue;
            }
#endif
            for (int64_t r = 0; r < m; r++) {
                const T *src = A + (i + r) * lda;
                for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = src[k];
            }
            for (int64_t r = m; r < MR; r++)
                for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = 0;
        }
    }
}

/* op(B)[0:kc, 0:nc] into micro-panels of NR columns: dst[k*NR + j]. */
static void G_FN(pack_b)(int64_t kc, int64_t nc, const T *B, int64_t ldb, bool tb, T *restrict dst) {
    for (int64_t j = 0; j < nc; j += NR, dst += kc * NR) {
        const int64_t n = G_FN(gmin)(NR, nc - j);
        if (tb) {
#ifdef PACK_T8
            if (n == NR) { /* a full panel: 8×8 blocks transposed in registers */
                const T *src = B + j * ldb;
                int64_t k = 0;
                for (; k + 8 <= kc; k += 8)
                    for (int c = 0; c < NR; c += 8) PACK_T8(src + c * ldb + k, ldb, dst + k * NR + c, NR);
                for (; k < kc; k++)
                    for (int c = 0; c < NR; c++) dst[k * NR + c] = src[c * ldb + k];
                continue;
            }
#endif
            for (int64_t c = 0; c < n; c++) {
                const T *src = B + (j + c) * ldb;
                for (int64_t k = 0; k < kc; k++) dst[k * NR + c] = src[k];
            }
            for (int64_t c = n; c < NR; c++)
                for (int64_t k = 0; k < kc; k++) dst[k * NR + c] = 0;
        } else {
            if (n == NR) { /* a full panel: fixed-size row copies, as for A above */
                for (int64_t k = 0; k < kc; k++) __builtin_memcpy(dst + k * NR, B + k * ldb + j, NR * sizeof(T));
                continue;
            }
            for (int64_t k = 0; k < kc; k++) {
                const T *src = B + k * ldb + j;
                int64_t c = 0;
                for (; c < n; c++) dst[k * NR + c] = src[c];
                for (; c < NR; c++) dst[k * NR + c] = 0;
            }
        }
    }
}

/* C[0:m, 0:n] = alpha * a·b + beta * C0  (beta 0: C0 is not read; C0 is C
 * itself, or another matrix with rows ldc0 apart, 0 for one row broadcast
 * down the tile, as a bias), then + R where R is not NULL (rows ldr apart:
 * a residual added last, as a separate add of the result would). a is MR×kc
 * with element (r, k) at a[r*ars + k*aks]; b is kc×NR with row k at b + k*bks
 * (contiguous NR). The full MR×NR tile lives in registers. Inlined into two
 * callers with constant strides: the packed one and the direct one. */
static inline __attribute__((always_inline)) void G_FN(ukr_s)(int64_t kc, const T *restrict a, int64_t ars, int64_t aks,
                                                              const T *restrict b, int64_t bks, T *C, int64_t ldc,
                                                              const T *c0, int64_t ldc0, const T *R, int64_t ldr,
                                                              int64_t m, int64_t n, T alpha, T beta, bool pf) {
    V acc[MR][NV];
    /* C is read (beta != 0) or written once per K block, after ~kc*MR*NV
     * FMAs: fetch its lines now so the misses overlap the arithmetic (the
     * packed path, where C is large; the direct one's C is small and hot). */
    for (int r = 0; pf && r < MR; r++) { /* and the next tile's, further down the rows (an address only) */
        const uintptr_t next = (uintptr_t)C + (uintptr_t)((r + MR) * ldc) * sizeof(T);
        __builtin_prefetch((const void *)next, 1, 2);
        __builtin_prefetch((const void *)(next + (NR - 1) * sizeof(T)), 1, 2);
    }
    for (int r = 0; pf && r < (int)m; r++) {
        __builtin_prefetch(C + r * ldc, 1, 3);
        __builtin_prefetch(C + r * ldc + NR - 1, 1, 3);
        if (R) { /* the residual, read as the tile is stored */
            __builtin_prefetch(R + r * ldr, 0, 3);
            __builtin_prefetch(R + r * ldr + NR - 1, 0, 3);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = VZERO();
    for (int64_t k = 0; k < kc; k++) {
        V bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) bv[v] = VLOADU(b + v * VL);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            const V av = VSET1(a[r * ars]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
        }
        a += aks;
        b += bks;
    }
    const V va = VSET1(alpha);
    if (m == MR && n == NR) {
        const V vb = VSET1(beta);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                V x = VMUL(acc[r][v], va);
                if (beta != 0) x = VFMA(vb, VLOADU(c0 + r * ldc0 + v * VL), x);
                if (R) x = VFMA(VSET1((T)1), VLOADU(R + r * ldr + v * VL), x); /* R + x, rounded once */
                VSTOREU(C + r * ldc + v * VL, x);
            }
        return;
    }
    T tmp[MR * NR] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) VSTOREU(tmp + r * NR + v * VL, VMUL(acc[r][v], va));
    for (int64_t r = 0; r < m; r++) {
        T *c = C + r * ldc;
        const T *s = c0 + r * ldc0;
        if (beta == 0)
            for (int64_t j = 0; j < n; j++) c[j] = tmp[r * NR + j];
        else
            for (int64_t j = 0; j < n; j++) c[j] = tmp[r * NR + j] + beta * s[j];
        if (R)
            for (int64_t j = 0; j < n; j++) c[j] = R[r * ldr + j] + c[j];
    }
}

static void G_FN(ukr)(int64_t kc, const T *restrict a, const T *restrict b, T *C, int64_t ldc, const T *c0,
                      int64_t ldc0, const T *R, int64_t ldr, int64_t m, int64_t n, T alpha, T beta) {
    G_FN(ukr_s)(kc, a, 1, MR, b, NR, C, ldc, c0, ldc0, R, ldr, m, n, alpha, beta, true);
}
/* The packed path's full MR-row panel of a row-major A read in place. */
static void G_FN(ukr_a)(int64_t kc, const T *restrict a, int64_t lda, const T *restrict b, T *C, int64_t ldc,
                        const T *c0, int64_t ldc0, const T *R, int64_t ldr, int64_t n, T alpha, T beta) {
    G_FN(ukr_s)(kc, a, lda, 1, b, NR, C, ldc, c0, ldc0, R, ldr, MR, n, alpha, beta, true);
}
/* A read in place, row-major (ars = lda, aks = 1) or transposed (1, lda). */
static void G_FN(ukr_rows)(int64_t kc, const T *restrict a, int64_t lda, const T *restrict b, int64_t bks, T *C,
                           int64_t ldc, const T *c0, int64_t ldc0, const T *R, int64_t ldr, int64_t m, int64_t n,
                           T alpha, T beta) {
    G_FN(ukr_s)(kc, a, lda, 1, b, bks, C, ldc, c0, ldc0, R, ldr, m, n, alpha, beta, false);
}
static void G_FN(ukr_cols)(int64_t kc, const T *restrict a, int64_t lda, const T *restrict b, int64_t bks, T *C,
                           int64_t ldc, const T *c0, int64_t ldc0, const T *R, int64_t ldr, int64_t m, int64_t n,
                           T alpha, T beta) {
    G_FN(ukr_s)(kc, a, 1, lda, b, bks, C, ldc, c0, ldc0, R, ldr, m, n, alpha, beta, false);
}

/* Packing buffers, one pair per thread, grown on demand and kept (a training
 * loop calls GEMM with the same shapes every step: no malloc in steady state). */
static _Thread_local T *G_FN(abuf);
static _Thread_local T *G_FN(bbuf);
static _Thread_local size_t G_FN(abuf_n), G_FN(bbuf_n);

void nb__watch_thread(void); /* autograd/memory.c: release at thread exit */
static T *G_FN(grow)(T **buf, size_t *have, size_t need) {
    if (*have < need) {
        nb__watch_thread();
        free(*buf);
        size_t bytes = (need * sizeof(T) + 63) & ~(size_t)63;
        *buf = aligned_alloc(64, bytes);
        *have = *buf ? need : 0;
    }
    return *buf;
}

/* Frees the calling thread's packing buffers (at thread and process exit:
 * nb__thread_release). */
void G_FN(nb_gemm_release)(void) {
    free(G_FN(abuf));
    free(G_FN(bbuf));
    G_FN(abuf) = G_FN(bbuf) = NULL;
    G_FN(abuf_n) = G_FN(bbuf_n) = 0;
}

/* Out of memory for packing: the plain triple loop, same contract. */
static void G_FN(naive)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, const T *B,
                        int64_t ldb, T beta, const T *C0, int64_t ldc0, const T *R, int64_t ldr, T *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            T s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = alpha * s + (beta == 0 ? (T)0 : beta * C0[i * ldc0 + j]);
            if (R) C[i * ldc + j] = R[i * ldr + j] + C[i * ldc + j];
        }
}

/* A walk over the cache lines of a region (rows of len elements, ld
 * apart) that prefetches them into L2 a few at a time: serial fetches the
 * next blocks of op(A) and op(B) while the micro-kernels compute on this
 * one (in a training step they come from memory). */
typedef struct {
    const char *p, *end;     /* the next line; the end of its row */
    int64_t rows, ldb, lenb; /* rows after this one; their stride and length in bytes */
} G_FN(pf_walk);

/* The walk over rows×len at p (ld apart); *lines: about how many lines it
 * has (each row's two partial ends counted) */
static inline G_FN(pf_walk) G_FN(pf_region)(const T *p, int64_t rows, int64_t len, int64_t ld, int64_t *lines) {
    const char *b = (const char *)p;
    *lines = rows * (len * (int64_t)sizeof(T) / 64 + 2);
    G_FN(pf_walk)
    w = {(const char *)((uintptr_t)b & ~(uintptr_t)63), b + len * (int64_t)sizeof(T), rows - 1, ld * (int64_t)sizeof(T),
         len * (int64_t)sizeof(T)};
    if (rows <= 0 || len <= 0) w.p = NULL;
    return w;
}
static inline void G_FN(pf_next)(G_FN(pf_walk) * w, int64_t n) {
    for (; n > 0 && w->p; n--) {
        __builtin_prefetch(w->p, 0, 2);
        w->p += 64;
        if (w->p >= w->end) {
            if (w->rows-- <= 0) {
                w->p = NULL;
                return;
            }
            const char *row = w->end - w->lenb + w->ldb;
            w->p = (const char *)((uintptr_t)row & ~(uintptr_t)63), w->end = row + w->lenb;
        }
    }
}

/* The widest C block whose row-major A is read in place (see serial) */
#define A_INPLACE_N 512

/* One thread's share: the whole blocked algorithm on a sub-problem;
 * rsum (NULL: none): rsum[i] += op(A)[i][k] over k (nb_gemm_blocked). */
static void G_FN(serial)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda,
                         const T *B, int64_t ldb, T beta, const T *C0, int64_t ldc0, const T *R, int64_t ldr, T *C,
                         int64_t ldc, T *rsum) {
    const int64_t kcmax = G_FN(gmin)(KC, K);
    const int64_t mcmax = (G_FN(gmin)(MC, M) + MR - 1) / MR * MR;
    const int64_t ncmax = (G_FN(gmin)(NC, N) + NR - 1) / NR * NR;
    T *ab = G_FN(grow)(&G_FN(abuf), &G_FN(abuf_n), (size_t)(mcmax * kcmax));
    T *bb = G_FN(grow)(&G_FN(bbuf), &G_FN(bbuf_n), (size_t)(ncmax * kcmax));
    const bool direct = K <= KC && (double)M * N * K <= DIRECT_MAX;
    if (rsum && (!ta || direct || !ab || !bb)) {
        /* where the packing does not see each element of op(A) once (a
         * row-major A read in place, the direct path): a loop of its own */
        G_FN(row_sums)(ta, M, K, A, lda, rsum);
        rsum = NULL;
    }
    if (!ab || !bb) {
        G_FN(naive)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc);
        return;
    }
    if (direct) {
        /* Small: one K block, so the same sums as the packed path; A is read in
         * place (full MR-row tiles) and so is B when not transposed (full
         * NR-column panels); only edge tiles and Bᵀ panels are packed. */
        for (int64_t jr = 0; jr < N; jr += NR) {
            const int64_t n = G_FN(gmin)(NR, N - jr);
            const T *bp = B + jr;
            int64_t bks = ldb;
            if (tb || n < NR) {
                G_FN(pack_b)(K, n, tb ? B + jr * ldb : B + jr, ldb, tb, bb);
                bp = bb;
                bks = NR;
            }
            for (int64_t ir = 0; ir < M; ir += MR) {
                const int64_t m = G_FN(gmin)(MR, M - ir);
                T *c = C + ir * ldc + jr;
                const T *c0 = C0 + ir * ldc0 + jr, *r = R ? R + ir * ldr + jr : NULL;
                if (m < MR) {
                    G_FN(pack_a)(m, K, ta ? A + ir : A + ir * lda, lda, ta, ab, NULL);
                    G_FN(ukr_cols)
                    (K, ab, MR, bp, bks, c, ldc, c0, ldc0, r, ldr, m, n, alpha, beta); /* packed: (r,k) at r + k*MR */
                } else if (ta) {
                    G_FN(ukr_cols)(K, A + ir, lda, bp, bks, c, ldc, c0, ldc0, r, ldr, m, n, alpha, beta);
                } else {
                    G_FN(ukr_rows)(K, A + ir * lda, lda, bp, bks, c, ldc, c0, ldc0, r, ldr, m, n, alpha, beta);
                }
            }
        }
        return;
    }
    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = G_FN(gmin)(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = G_FN(gmin)(KC, K - pc);
            /* the first K block adds beta·C0, the later ones what C holds */
            const T bt = pc == 0 ? beta : (T)1;
            const T *cs = pc == 0 ? C0 : C;
            const int64_t lds = pc == 0 ? ldc0 : ldc;
            const T *rs = pc + kc >= K ? R : NULL; /* R after the last K block's sum */
            G_FN(pack_b)(kc, nc, tb ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, tb, bb);
            /* the next K block's op(B), fetched over this K block's tiles */
            const int64_t kn = G_FN(gmin)(KC, K - pc - KC);
            int64_t lb = 0;
            G_FN(pf_walk) pb = {0};
            if (kn > 0)
                pb = tb ? G_FN(pf_region)(B + jc * ldb + pc + KC, nc, kn, ldb, &lb)
                        : G_FN(pf_region)(B + (pc + KC) * ldb + jc, kn, nc, ldb, &lb);
            const int64_t perb = lb / ((nc + NR - 1) / NR * ((M + MR - 1) / MR)) + 1;
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = G_FN(gmin)(MC, M - ic);
                /* the next block of op(A) (this K block's next rows, or the
                 * next K block's first), fetched over this block's tiles */
                const int64_t mn = G_FN(gmin)(MC, ic + MC < M ? M - ic - MC : M);
                int64_t la = 0;
                G_FN(pf_walk) pa = {0};
                if (ic + MC < M)
                    pa = ta ? G_FN(pf_region)(A + pc * lda + ic + MC, kc, mn, lda, &la)
                            : G_FN(pf_region)(A + (ic + MC) * lda + pc, mn, kc, lda, &la);
                else if (kn > 0)
                    pa = ta ? G_FN(pf_region)(A + (pc + KC) * lda, kn, mn, lda, &la)
                            : G_FN(pf_region)(A + pc + KC, mn, kn, lda, &la);
                const int64_t pera = la / ((nc + NR - 1) / NR * ((mc + MR - 1) / MR)) + 1;
                /* rows [0, mp) read in place (op(A) = A, a narrow C), the
                 * rest packed into ab (op(A) = Aᵀ in place: each k of a
                 * panel would be another cache line, measured slower) */
                const int64_t mp = ta || nc > A_INPLACE_N ? 0 : mc / MR * MR;
                if (mp < mc) /* rsum: op(A)'s rows summed once, at the first column block (ta: mp = 0) */
                    G_FN(pack_a)
                    (mc - mp, kc, ta ? A + pc * lda + ic : A + (ic + mp) * lda + pc, lda, ta, ab,
                     rsum && jc == 0 ? rsum + ic : NULL);
                for (int64_t jr = 0; jr < nc; jr += NR)
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        G_FN(pf_next)(&pa, pera);
                        G_FN(pf_next)(&pb, perb);
                        T *c = C + (ic + ir) * ldc + jc + jr;
                        const T *c0 = cs + (ic + ir) * lds + jc + jr, *r = rs ? rs + (ic + ir) * ldr + jc + jr : NULL;
                        const int64_t m = G_FN(gmin)(MR, mc - ir), n = G_FN(gmin)(NR, nc - jr);
                        if (ir < mp)
                            G_FN(ukr_a)
                            (kc, A + (ic + ir) * lda + pc, lda, bb + jr * kc, c, ldc, c0, lds, r, ldr, n, alpha, bt);
                        else G_FN(ukr)(kc, ab + (ir - mp) * kc, bb + jr * kc, c, ldc, c0, lds, r, ldr, m, n, alpha, bt);
                    }
            }
        }
    }
}

/* The instantiation's entry: C = alpha·op(A)op(B) + beta·C0 (C0 may be C,
 * or rows ldc0 apart: 0 broadcasts one row), then + R (NULL: none; rows
 * ldr apart). M, N, K > 0 (the dispatcher handles the empty cases). nt:
 * threads to use (1 = this thread only). rsum (NULL: none): rsum[i] +=
 * op(A)[i][k] for k upward, each row's sum in a plain loop's order (with
 * op(A) = Aᵀ summed in the packing, which reads every element once). */
void G_FN(nb_gemm_blocked)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda,
                           const T *B, int64_t ldb, T beta, const T *C0, int64_t ldc0, const T *R, int64_t ldr, T *C,
                           int64_t ldc, int nt, T *rsum) {
    /* Split the larger side into bands of whole micro-tiles: every thread
     * packs the whole of the other operand (rows: all of op(B), K·N; columns:
     * all of op(A), M·K), so the duplicated packing is the smaller one. */
    const bool by_rows = M >= N;
    const int64_t tiles = by_rows ? (M + MR - 1) / MR : (N + NR - 1) / NR;
    if (nt > tiles) nt = (int)tiles;
    if (nt <= 1) {
        G_FN(serial)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc, rsum);
        return;
    }
#if defined(_OPENMP)
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), nth = omp_get_num_threads();
        const int64_t per = (tiles + nth - 1) / nth, lo = t * per, hi = G_FN(gmin)(tiles, lo + per);
        if (lo < hi) {
            if (by_rows) {
                const int64_t i0 = lo * MR, m = G_FN(gmin)(M, hi * MR) - i0;
                G_FN(serial)
                (ta, tb, m, N, K, alpha, ta ? A + i0 : A + i0 * lda, lda, B, ldb, beta, C0 + i0 * ldc0, ldc0,
                 R ? R + i0 * ldr : NULL, ldr, C + i0 * ldc, ldc, rsum ? rsum + i0 : NULL);
            } else {
                const int64_t j0 = lo * NR, n = G_FN(gmin)(N, hi * NR) - j0;
                G_FN(serial)
                (ta, tb, M, n, K, alpha, A, lda, tb ? B + j0 * ldb : B + j0, ldb, beta, C0 + j0, ldc0,
                 R ? R + j0 : NULL, ldr, C + j0, ldc, j0 == 0 ? rsum : NULL); /* each band packs all of op(A) */
            }
        }
    }
#else
    G_FN(serial)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc0, R, ldr, C, ldc, rsum);
#endif
}

/* ---- A pre-packed B: a recurrent layer multiplies by the same
 * W_hh at every time step; it packs op(B) once per sequence and runs each
 * step's product on the packed copy. Layout: for each KC block of K (at
 * pc·Np, Np = N rounded up to NR) the NR-wide micro-panels of pack_b, panel
 * j at j·kc. The sums are those of the packed path above (same KC blocks,
 * same order), so a product does not depend on the column range a thread
 * takes. */

/* Elements of the packed op(B) (K×N). */
size_t G_FN(nb_gemm_packed_len)(int64_t K, int64_t N) { return (size_t)((N + NR - 1) / NR * NR) * (size_t)K; }

void G_FN(nb_gemm_pack)(bool tb, int64_t K, int64_t N, const T *B, int64_t ldb, T *restrict dst) {
    const int64_t Np = (N + NR - 1) / NR * NR;
    for (int64_t pc = 0; pc < K; pc += KC)
        G_FN(pack_b)(G_FN(gmin)(KC, K - pc), N, tb ? B + pc : B + pc * ldb, ldb, tb, dst + pc * Np);
}

/* C[:, n0:n1] = alpha·op(A)·B[:, n0:n1] + beta·C[:, n0:n1] with B packed by
 * nb_gemm_pack (K×N); n0 a multiple of NR. A is read in place (full MR-row
 * tiles) or packed on the stack (edge tiles): no heap. */
void G_FN(nb_gemm_packed)(bool ta, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, const T *Bp,
                          int64_t n0, int64_t n1, T beta, T *C, int64_t ldc) {
    const int64_t Np = (N + NR - 1) / NR * NR;
    T ap[MR * KC] __attribute__((aligned(64)));
    if (n1 > N) n1 = N;
    for (int64_t pc = 0; pc < K; pc += KC) {
        const int64_t kc = G_FN(gmin)(KC, K - pc);
        const T bt = pc == 0 ? beta : (T)1;
        const T *bblk = Bp + pc * Np;
        for (int64_t jr = n0; jr < n1; jr += NR) {
            const int64_t n = G_FN(gmin)(NR, n1 - jr);
            const T *bp = bblk + jr * kc;
            for (int64_t ir = 0; ir < M; ir += MR) {
                const int64_t m = G_FN(gmin)(MR, M - ir);
                T *c = C + ir * ldc + jr;
                const T *a = ta ? A + pc * lda + ir : A + ir * lda + pc;
                if (m < MR) {
                    G_FN(pack_a)(m, kc, a, lda, ta, ap, NULL);
                    G_FN(ukr_cols)(kc, ap, MR, bp, NR, c, ldc, c, ldc, NULL, 0, m, n, alpha, bt);
                } else if (ta) {
                    G_FN(ukr_cols)(kc, a, lda, bp, NR, c, ldc, c, ldc, NULL, 0, m, n, alpha, bt);
                } else {
                    G_FN(ukr_rows)(kc, a, lda, bp, NR, c, ldc, c, ldc, NULL, 0, m, n, alpha, bt);
                }
            }
        }
    }
}

#undef NR
#undef A_INPLACE_N
#undef G_CAT_
#undef G_CAT
#undef G_FN
/* the includer's parameters: the next instance defines its own */
#undef T
#undef SFX
#undef V
#undef VL
#undef MR
#undef NV
#undef KC
#undef MC
#undef NC
#undef DIRECT_MAX
#undef PACK_T8
#undef VZERO
#undef VLOAD
#undef VLOADU
#undef VSTOREU
#undef VSET1
#undef VFMA
#undef VMUL
