/* ops/attention.c — scaled dot-product attention as one primitive op.
 *
 *   A = softmax(scale·Q Kᵀ + mask) (masked entries −∞), O = dropout(A) V
 *
 * Why one op and not a composition of matmul, add and softmax:
 *  - a row whose every key is masked must give zeros (PyTorch gives NaN):
 *    softmax over all −∞ is 0/0, and no composition of the existing ops
 *    turns that into 0 without also poisoning the gradient with NaN·0;
 *  - Kᵀ is read in place by the GEMM (nb_matmul would need a transposed
 *    copy of K), the scaled, masked scores are never a tensor of their own
 *    (the composition writes the (…,L,S) scores four times: product, scale,
 *    mask, softmax), and the per-head GEMMs of all heads run in one
 *    parallel loop (nb_matmul walks its batch on one thread, each GEMM too
 *    small to split);
 *  - with the packed form (nb_sdpa_packed) MultiheadAttention reads the heads
 *    of q, k and v straight out of the in-projection's (B,L,3E) output and
 *    writes its (B,L,E) output, so splitting and merging heads costs no copy
 *    (the composition permutes (B,L,H,D) <-> (B,H,L,D) four times per layer,
 *    forward and backward).
 * bench/bench_gpt.c times both ways (--composed); docs/nn.md has the figures.
 *
 * Forward saves the attention weights A (and the scaled dropout keep mask);
 * backward, per (batch, head) slice, with W = A∘D (D the dropout mask):
 *   dV += Wᵀ dO,  dW = dO Vᵀ,  dA = dW∘D,  dS = A∘(dA − rowsum(dA∘A)),
 *   dQ += scale·dS K,  dK += scale·dS Q,  dmask += dS (summed to its shape).
 * A fully masked row has A = 0, so its dS is 0: no gradient, no NaN. */
#include "math_util.h"
#include "kernels/gemm.h"
#include "kernels/par.h"
#include "kernels/attn_f32.h"
#include "kernels/softmax_rows.h"
#include "kernels/vmath.h"
#include "grad_graph.h"

#include <math.h>

typedef enum { SDPA_PLAIN = 0, SDPA_PACKED = 1 } sdpa_layout;
typedef enum { SDPA_MASK_NONE = 0, SDPA_MASK_ADD = 1, SDPA_MASK_BOOL = 2 } sdpa_mask_kind;

typedef struct {
    int8_t layout, mask_kind, causal, weights_only; /* weights_only: out = A (no dropout), no backward */
    int8_t nbatch;                                  /* batch dims of the scores (all dims but L, S)          */
    int64_t L, S, E, Ev, H, nslice;                 /* nslice = Π batch dims (plain) or B·H (packed)        */
    double scale, p;                                /* p: dropout probability, 0 = none                      */
    int64_t bdim[6];                                /* those dims, for the mask's broadcast offsets          */
} sdpa_attr;
_Static_assert(sizeof(sdpa_attr) <= NB_ATTR_MAX, "sdpa_attr fits a node");

/* Where one (batch, head) slice lives: element offsets and row strides. */
typedef struct {
    int64_t q, k, v, o, ldq, ldk, ldv, ldo;
} sdpa_slice;

static sdpa_slice slice_of(const sdpa_attr *a, int64_t t) {
    sdpa_slice s;
    if (a->layout == SDPA_PLAIN) {
        s.q = t * a->L * a->E, s.k = t * a->S * a->E, s.v = t * a->S * a->Ev, s.o = t * a->L * a->Ev;
        s.ldq = s.ldk = a->E, s.ldv = s.ldo = a->Ev;
    } else { /* qkv (B, L, 3·H·D): row l of head h of q at column h·D, k at H·D + h·D, v at 2·H·D + h·D */
        const int64_t b = t / a->H, h = t % a->H, D = a->E, HD = a->H * D;
        s.q = b * a->L * 3 * HD + h * D, s.k = s.q + HD, s.v = s.q + 2 * HD;
        s.o = b * a->L * HD + h * D;
        s.ldq = s.ldk = s.ldv = 3 * HD, s.ldo = HD;
    }
    return s;
}

/* The mask's element strides read as the scores' shape (batch..., L, S), 0
 * along broadcast dims: st[0..nbatch) then the row and column strides. */
static void mask_strides(const sdpa_attr *a, const nb_tensor *m, int64_t *st) {
    nb_shape sc = {.ndim = a->nbatch + 2};
    for (int i = 0; i < a->nbatch; i++) sc.d[i] = a->bdim[i];
    sc.d[a->nbatch] = a->L, sc.d[a->nbatch + 1] = a->S;
    mu_bstrides(sc, m->shape, st);
}
static int64_t mask_offset(const sdpa_attr *a, const int64_t *st, int64_t t) {
    int64_t off = 0;
    for (int i = a->nbatch - 1; i >= 0; i--) {
        off += (t % a->bdim[i]) * st[i];
        t /= a->bdim[i];
    }
    return off;
}

#define GEMM_T(T) _Generic((T)0, float : nb_gemm_f32, double : nb_gemm_f64)
#define SOFTMAX_INPLACE_T(T) _Generic((T)0, float : nb_softmax_row_inplace_f32, double : nb_softmax_row_inplace_f64)
#define SOFTMAX_BWD_INPLACE_T(T) \
    _Generic((T)0, float : nb_softmax_row_bwd_inplace_f32, double : nb_softmax_row_bwd_inplace_f64)

/* Multiply-adds of one slice's forward (its two GEMMs): the parallel split's measure. */
static double slice_work(const sdpa_attr *a) { return (double)a->L * (double)a->S * (double)(a->E + a->Ev); }

static int sdpa_threads(const sdpa_attr *a) {
    return nb_par_clamp(nb_par_threads(nb_get_num_threads(), slice_work(a) * (double)a->nslice), a->nslice);
}

/* The f32 slices of kernels/attn_f32.h (AVX-512; no mask, no dropout, one
 * head dim; the generic slices' bits) apply. */
static bool sdpa_fast(const sdpa_attr *a, nb_dtype dt) {
    return dt == NB_F32 && a->mask_kind == SDPA_MASK_NONE && !(a->p > 0) && !a->weights_only && a->E == a->Ev &&
        nb_attn_f32_fast(a->L, a->S, a->E);
}
static nb_attn_slice fast_slice(const sdpa_attr *a, const sdpa_slice *s, const float *X0, const float *X1,
                                const float *X2) {
    return (nb_attn_slice){.q = X0 + s->q,
                           .k = X1 + s->k,
                           .v = X2 + s->v,
                           .ldq = s->ldq,
                           .ldk = s->ldk,
                           .ldv = s->ldv,
                           .L = a->L,
                           .S = a->S,
                           .D = a->E,
                           .scale = (float)a->scale,
                           .causal = a->causal};
}

/* The slice this thread takes after slice t (NB_PAR_EACH: thread 0 walks
 * up, thread 1 down), for the kernel to prefetch: its q, k, v rows and,
 * in the backward, its saved weights (A) and dO (G). */
static void fast_next(const sdpa_attr *a, nb_attn_slice *fs, int64_t t, int tid, const float *X0, const float *X1,
                      const float *X2, const float *A, const float *G) {
    const int64_t tn = tid ? t - 1 : t + 1;
    if (tn < 0 || tn >= a->nslice) return;
    const sdpa_slice sn = slice_of(a, tn);
    fs->nq = X0 + sn.q, fs->nk = X1 + sn.k, fs->nv = X2 + sn.v;
    fs->na = A ? A + tn * a->L * a->S : NULL, fs->ng = G ? G + sn.o : NULL;
}

/* Causal attention skips the products it knows to be zero: row i of A has
 * no weight past column i. The slice's rows go in blocks of CB; a block
 * [r0, r1) needs the score columns [0, r1) (rounded up to the GEMM's
 * 32-column panels: QKᵀ and dO·Vᵀ in blocks of CB_SCORES rows) and the
 * keys/values [0, r1) in the products summed over them (A·V, dS·K; and
 * from the other side Aᵀ·dO, dSᵀ·Q: row j of Aᵀ needs i >= j only). The
 * skipped terms are exact zeros (A = 0 there) and every kept element sums
 * the same products in the same order as the full GEMM (kernels/gemm.h):
 * the same values, up to the rounding of a block small enough for the GEMM's
 * plain reference loop (no FMA; 1e-15 relative measured), and but for 0·inf
 * (a masked position's infinite value no longer makes the sum NaN). */
#define CB 16
#define CB_SCORES 32
static inline int64_t sdpa_min(int64_t x, int64_t y) { return x < y ? x : y; }
/* rows [r0, r1) see keys [0, kend) */
static inline int64_t kend_of(const sdpa_attr *a, int64_t r1) { return a->causal ? sdpa_min(r1, a->S) : a->S; }

/* Forward of one slice: A (L,S) = masked softmax of the scores, O = (A∘D) V.
 * W is scratch (L,S) for A∘D when there is dropout. */
#define SDPA_FWD_SLICE(T)                                                                                          \
    static void sdpa_fwd_slice_##T(const sdpa_attr *a, const T *X0, const T *X1, const T *X2, const T *M,          \
                                   const int64_t *mst, int64_t t, T *A, const T *Dm, T *W, T *O) {                 \
        const sdpa_slice s = slice_of(a, t);                                                                       \
        const int64_t L = a->L, S = a->S;                                                                          \
        const int64_t rb = a->causal ? CB_SCORES : (L > 0 ? L : 1);                                                \
        for (int64_t r0 = 0; r0 < L; r0 += rb) {                                                                   \
            const int64_t r1 = sdpa_min(L, r0 + rb), ke = kend_of(a, r1);                                          \
            if (ke > 0) GEMM_T(T)                                                                                  \
            (false, true, r1 - r0, ke, a->E, (T)a->scale, X0 + s.q + r0 * s.ldq, s.ldq, X1 + s.k, s.ldk, 0,        \
             A + r0 * S, S);                                                                                       \
        }                                                                                                          \
        const T *m = M ? M + mask_offset(a, mst, t) : NULL;                                                        \
        const int64_t mr = M ? mst[a->nbatch] : 0, mc = M ? mst[a->nbatch + 1] : 0;                                \
        for (int64_t i = 0; i < L; i++) {                                                                          \
            T *r = A + i * S;                                                                                      \
            const int64_t lim = a->causal ? sdpa_min(i + 1, S) : S; /* columns past lim: weight 0 */               \
            if (m) {                                                                                               \
                const T *mi = m + i * mr;                                                                          \
                if (a->mask_kind == SDPA_MASK_ADD)                                                                 \
                    for (int64_t j = 0; j < lim; j++) r[j] += mi[j * mc];                                          \
                else                                                                                               \
                    for (int64_t j = 0; j < lim; j++)                                                              \
                        if (mi[j * mc] == 0) r[j] = (T)-INFINITY;                                                  \
            }                                                                                                      \
            if (!SOFTMAX_INPLACE_T(T)(r, lim)) { /* every key masked: zeros (PyTorch: NaN); NaN sticks */          \
                memset(r, 0, (size_t)S * sizeof(T));                                                               \
                continue;                                                                                          \
            }                                                                                                      \
            for (int64_t j = lim; j < S; j++) r[j] = 0;                                                            \
        }                                                                                                          \
        if (!O) return;                                                                                            \
        const T *P = A;                                                                                            \
        if (Dm) {                                                                                                  \
            for (int64_t j = 0; j < L * S; j++) W[j] = A[j] * Dm[j];                                               \
            P = W;                                                                                                 \
        }                                                                                                          \
        const int64_t ob = a->causal ? CB : (L > 0 ? L : 1);                                                       \
        for (int64_t r0 = 0; r0 < L; r0 += ob) {                                                                   \
            const int64_t r1 = sdpa_min(L, r0 + ob), ke = kend_of(a, r1);                                          \
            if (ke > 0) GEMM_T(T)                                                                                  \
            (false, false, r1 - r0, a->Ev, ke, 1, P + r0 * S, S, X2 + s.v, s.ldv, 0, O + s.o + r0 * s.ldo, s.ldo); \
            else for (int64_t i = r0; i < r1; i++) memset(O + s.o + i * s.ldo, 0, (size_t)a->Ev * sizeof(T)); }    \
    }
SDPA_FWD_SLICE(float)
SDPA_FWD_SLICE(double)

static nb_tensor *mask_of(const nb_node *n) {
    const sdpa_attr *a = nb_attr(n, sdpa_attr);
    return a->mask_kind == SDPA_MASK_NONE ? NULL : n->in[a->layout == SDPA_PLAIN ? 3 : 1];
}

static void sdpa_fwd(nb_node *n) {
    const sdpa_attr *a = nb_attr(n, sdpa_attr);
    const int64_t LS = a->L * a->S, tot = a->nslice * LS;
    const bool drop = a->p > 0 && !a->weights_only;
    nb_tensor *mask = mask_of(n);
    int64_t mst[NB_MAX_DIMS] = {0};
    if (mask) mask_strides(a, mask, mst);
    /* A (and D) live in the node for backward; weights_only writes A into out */
    nb_tensor *sv = a->weights_only ? NULL : nb_node_save_new(n, n->out->dtype, NB_SHAPE(drop ? 2 * tot : tot));
    if (!a->weights_only && !sv) return;
    const int nt = sdpa_threads(a);
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        T *Abuf = a->weights_only ? (T *)n->out->data : (T *)sv->data;
        T *Dm = drop ? Abuf + tot : NULL, *W = NULL;
        if (Dm) { /* dropout keep mask, scaled: one uniform per weight in row-major order, as nb_dropout */
            const T keep = (T)(1.0 / (1.0 - a->p));
            for (int64_t i = 0; i < tot; i++) Dm[i] = nb_rand_uniform() >= a->p ? keep : (T)0;
            W = mu_scratch("sdpa", (size_t)nt * (size_t)LS * sizeof(T));
            if (!W) return;
        }
        const T *X0 = (const T *)n->in[0]->data;
        const T *X1 = a->layout == SDPA_PLAIN ? (const T *)n->in[1]->data : X0;
        const T *X2 = a->layout == SDPA_PLAIN ? (const T *)n->in[2]->data : X0;
        const T *M = mask && a->mask_kind == SDPA_MASK_ADD ? (const T *)mask->data : NULL;
        T *O = a->weights_only ? NULL : (T *)n->out->data;
        if (mask && a->mask_kind == SDPA_MASK_BOOL) {
            /* an i64 mask: read through a T copy of it (0 = masked) in the scratch */
            T *Mb = mu_scratch("sdpa", (size_t)mask->numel * sizeof(T));
            if (!Mb) return;
            for (int64_t i = 0; i < mask->numel; i++) Mb[i] = nb_i64(mask)[i] != 0 ? (T)1 : (T)0;
            M = Mb;
        }
        if (sdpa_fast(a, n->out->dtype)) {
            const int64_t per = nb_attn_fwd_scratch(a->S, a->E);
            float *scr = mu_scratch("sdpa", (size_t)nt * (size_t)per * sizeof(float));
            if (!scr) return;
            NB_PAR_EACH(nt, a->nslice, t, {
                const sdpa_slice sl = slice_of(a, t);
                nb_attn_slice fs = fast_slice(a, &sl, (const float *)X0, (const float *)X1, (const float *)X2);
                fast_next(a, &fs, t, NB_PAR_TID(nt), (const float *)X0, (const float *)X1, (const float *)X2, NULL,
                          NULL);
                nb_attn_fwd_f32(&fs, (float *)(Abuf + t * LS), (float *)O + sl.o, sl.ldo,
                                scr + (int64_t)NB_PAR_TID(nt) * per);
            });
            mu_scratch_done(scr);
            return;
        }
        NB_PAR_EACH(nt, a->nslice, t, {
            T *Wt = W ? W + (int64_t)NB_PAR_TID(nt) * LS : NULL;
            if (sizeof(T) == sizeof(float))
                sdpa_fwd_slice_float(a, (const float *)X0, (const float *)X1, (const float *)X2, (const float *)M, mst,
                                     t, (float *)(Abuf + t * LS), Dm ? (const float *)(Dm + t * LS) : NULL, (float *)Wt,
                                     (float *)O);
            else
                sdpa_fwd_slice_double(a, (const double *)X0, (const double *)X1, (const double *)X2, (const double *)M,
                                      mst, t, (double *)(Abuf + t * LS), Dm ? (const double *)(Dm + t * LS) : NULL,
                                      (double *)Wt, (double *)O);
        });
        if (mask && a->mask_kind == SDPA_MASK_BOOL) mu_scratch_done((void *)M);
        if (W) mu_scratch_done(W);
    });
}

/* Backward of one slice (see the top of the file). dW is scratch (L,S) and
 * W scratch (L,S) for A∘D when there is dropout. Causal: the blocks of
 * the forward (the comment above SDPA_FWD_SLICE). */
#define SDPA_BWD_SLICE(T)                                                                                               \
    static void sdpa_bwd_slice_##T(const sdpa_attr *a, const T *X0, const T *X1, const T *X2, const T *G, int64_t t,    \
                                   const T *A, const T *Dm, T *W, T *dW, T *GQ, T *GK, T *GV, T *GM,                    \
                                   const int64_t *mst, const bool *fresh) {                                             \
        const sdpa_slice s = slice_of(a, t);                                                                            \
        const int64_t L = a->L, S = a->S;                                                                               \
        const int64_t ob = a->causal ? CB : (L > 0 ? L : 1), sb = a->causal ? CB : (S > 0 ? S : 1);                     \
        const T *P = A;                                                                                                 \
        if (Dm) {                                                                                                       \
            for (int64_t j = 0; j < L * S; j++) W[j] = A[j] * Dm[j];                                                    \
            P = W;                                                                                                      \
        }                                                                                                               \
        /* dV += Pᵀ dO: row j of Pᵀ has weights from rows i >= j only (causal); a                                 \
         * fresh (new, unzeroed) gradient is written with beta 0, rows no product                                      \
         * reaches are zeroed */ \
        if (GV)                                                                                                         \
            for (int64_t c0 = 0; c0 < S; c0 += sb) {                                                                    \
                const int64_t c1 = sdpa_min(S, c0 + sb), i0 = a->causal ? c0 : 0;                                       \
                if (i0 < L) GEMM_T(T)                                                                                   \
                (true, false, c1 - c0, a->Ev, L - i0, 1, P + i0 * S + c0, S, G + s.o + i0 * s.ldo, s.ldo,               \
                 fresh[2] ? 0 : 1, GV + s.v + c0 * s.ldv, s.ldv);                                                       \
                else if (fresh[2]) for (int64_t j = c0; j < c1; j++)                                                    \
                    memset(GV + s.v + j * s.ldv, 0, (size_t)a->Ev * sizeof(T));                                         \
            }                                                                                                           \
        if (!GQ && !GK && !GM) return;                                                                                  \
        const int64_t rb = a->causal ? CB_SCORES : (L > 0 ? L : 1);                                                     \
        for (int64_t r0 = 0; r0 < L; r0 += rb) {                                                                        \
            const int64_t r1 = sdpa_min(L, r0 + rb), ke = kend_of(a, r1);                                               \
            if (ke > 0) GEMM_T(T)                                                                                       \
            (false, true, r1 - r0, ke, a->Ev, 1, G + s.o + r0 * s.ldo, s.ldo, X2 + s.v, s.ldv, 0, dW + r0 * S, S);      \
        }                                                                                                               \
        for (int64_t i = 0; i < L; i++) {                                                                               \
            T *d = dW + i * S;                                                                                          \
            const T *r = A + i * S;                                                                                     \
            const int64_t lim = a->causal ? sdpa_min(i + 1, S) : S;                                                     \
            if (Dm)                                                                                                     \
                for (int64_t j = 0; j < lim; j++) d[j] *= Dm[i * S + j];                                                \
            SOFTMAX_BWD_INPLACE_T(T)(d, r, lim);                                                                        \
            for (int64_t j = lim; j < S; j++) d[j] = 0;                                                                 \
        }                                                                                                               \
        if (GM) {                                                                                                       \
            T *gm = GM + mask_offset(a, mst, t);                                                                        \
            const int64_t mr = mst[a->nbatch], mc = mst[a->nbatch + 1];                                                 \
            for (int64_t i = 0; i < L; i++)                                                                             \
                for (int64_t j = 0; j < S; j++) gm[i * mr + j * mc] += dW[i * S + j];                                   \
        }                                                                                                               \
        if (GQ) /* dQ += scale·dS K: rows [r0, r1) over keys [0, kend) */                                              \
            for (int64_t r0 = 0; r0 < L; r0 += ob) {                                                                    \
                const int64_t r1 = sdpa_min(L, r0 + ob), ke = kend_of(a, r1);                                           \
                if (ke > 0) GEMM_T(T)                                                                                   \
                (false, false, r1 - r0, a->E, ke, (T)a->scale, dW + r0 * S, S, X1 + s.k, s.ldk, fresh[0] ? 0 : 1,       \
                 GQ + s.q + r0 * s.ldq, s.ldq);                                                                         \
                else if (fresh[0]) for (int64_t i = r0; i < r1; i++)                                                    \
                    memset(GQ + s.q + i * s.ldq, 0, (size_t)a->E * sizeof(T));                                          \
            }                                                                                                           \
        if (GK) /* dK += scale·dSᵀ Q: row j of dSᵀ from rows i >= j only (causal) */                               \
            for (int64_t c0 = 0; c0 < S; c0 += sb) {                                                                    \
                const int64_t c1 = sdpa_min(S, c0 + sb), i0 = a->causal ? c0 : 0;                                       \
                if (i0 < L) GEMM_T(T)                                                                                   \
                (true, false, c1 - c0, a->E, L - i0, (T)a->scale, dW + i0 * S + c0, S, X0 + s.q + i0 * s.ldq, s.ldq,    \
                 fresh[1] ? 0 : 1, GK + s.k + c0 * s.ldk, s.ldk);                                                       \
                else if (fresh[1]) for (int64_t j = c0; j < c1; j++)                                                    \
                    memset(GK + s.k + j * s.ldk, 0, (size_t)a->E * sizeof(T));                                          \
            }                                                                                                           \
    }
SDPA_BWD_SLICE(float)
SDPA_BWD_SLICE(double)

static void sdpa_bwd(nb_node *n, const nb_tensor *g) {
    const sdpa_attr *a = nb_attr(n, sdpa_attr);
    if (!n->saved) return;
    const bool plain = a->layout == SDPA_PLAIN, drop = a->p > 0;
    /* New gradient buffers are left unzeroed and written with beta 0 (fresh),
     * unless two of q, k, v are one tensor (its buffer then takes two
     * products: zeroed and added to, as before) */
    bool fresh[3] = {false, false, false};
    nb_tensor *gq = nb__grad_buf_fresh(n->in[0], &fresh[0]), *gk = gq, *gv = gq;
    if (plain) {
        gk = nb__grad_buf_fresh(n->in[1], &fresh[1]);
        gv = nb__grad_buf_fresh(n->in[2], &fresh[2]);
        if (n->in[0] == n->in[1] || n->in[0] == n->in[2] || n->in[1] == n->in[2]) {
            nb_tensor *gs[3] = {gq, gk, gv};
            for (int i = 0; i < 3; i++)
                if (fresh[i]) memset(gs[i]->data, 0, (size_t)gs[i]->numel * nb_dtype_size(gs[i]->dtype));
            fresh[0] = fresh[1] = fresh[2] = false;
        }
    } else {
        fresh[1] = fresh[2] = fresh[0];
    }
    nb_tensor *mask = mask_of(n);
    nb_tensor *gm = mask && a->mask_kind == SDPA_MASK_ADD ? nb_grad_buf(mask) : NULL;
    if (!gq && !gk && !gv && !gm) return;
    int64_t mst[NB_MAX_DIMS] = {0};
    if (mask) mask_strides(a, mask, mst);
    const int64_t LS = a->L * a->S, tot = a->nslice * LS;
    /* a broadcast mask's gradient sums over slices: one thread then */
    const int nt = gm ? 1 : sdpa_threads(a);
    const bool fast = sdpa_fast(a, g->dtype);
    const int64_t per = fast ? nb_attn_bwd_scratch(a->L, a->S, a->E) : LS * (drop ? 2 : 1);
    NB_FLOAT_DISPATCH(g->dtype, T, {
        T *scr = mu_scratch("sdpa", (size_t)nt * (size_t)per * sizeof(T));
        if (!scr) { /* the error is raised; a new buffer is not left unwritten */
            nb_tensor *gs[3] = {gq, gk, gv};
            for (int i = 0; i < 3; i++)
                if (fresh[i]) memset(gs[i]->data, 0, (size_t)gs[i]->numel * sizeof(T));
            return;
        }
        const T *A = (const T *)n->saved->data, *Dm = drop ? A + tot : NULL;
        const T *X0 = (const T *)n->in[0]->data;
        const T *X1 = plain ? (const T *)n->in[1]->data : X0, *X2 = plain ? (const T *)n->in[2]->data : X0;
        const T *G = (const T *)g->data;
        T *GQ = gq ? (T *)gq->data : NULL, *GK = gk ? (T *)gk->data : NULL, *GV = gv ? (T *)gv->data : NULL;
        T *GM = gm ? (T *)gm->data : NULL;
        if (fast) {
            NB_PAR_EACH(nt, a->nslice, t, {
                const sdpa_slice sl = slice_of(a, t);
                nb_attn_slice fs = fast_slice(a, &sl, (const float *)X0, (const float *)X1, (const float *)X2);
                fast_next(a, &fs, t, NB_PAR_TID(nt), (const float *)X0, (const float *)X1, (const float *)X2,
                          (const float *)A, (const float *)G);
                nb_attn_bwd_f32(&fs, (const float *)(A + t * LS), (const float *)G + sl.o, sl.ldo,
                                GQ ? (float *)GQ + sl.q : NULL, sl.ldq, GK ? (float *)GK + sl.k : NULL, sl.ldk,
                                GV ? (float *)GV + sl.v : NULL, sl.ldv, fresh,
                                (float *)scr + (int64_t)NB_PAR_TID(nt) * per);
            });
            mu_scratch_done(scr);
            return;
        }
        NB_PAR_EACH(nt, a->nslice, t, {
            T *dW = scr + (int64_t)NB_PAR_TID(nt) * per, *W = drop ? dW + LS : NULL;
            if (sizeof(T) == sizeof(float))
                sdpa_bwd_slice_float(a, (const float *)X0, (const float *)X1, (const float *)X2, (const float *)G, t,
                                     (const float *)(A + t * LS), Dm ? (const float *)(Dm + t * LS) : NULL, (float *)W,
                                     (float *)dW, (float *)GQ, (float *)GK, (float *)GV, (float *)GM, mst, fresh);
            else
                sdpa_bwd_slice_double(a, (const double *)X0, (const double *)X1, (const double *)X2, (const double *)G,
                                      t, (const double *)(A + t * LS), Dm ? (const double *)(Dm + t * LS) : NULL,
                                      (double *)W, (double *)dW, (double *)GQ, (double *)GK, (double *)GV, (double *)GM,
                                      mst, fresh);
        });
        mu_scratch_done(scr);
    });
}

/* backward reads q, k, v (or qkv) and its own saved weights; not the mask */
GG_FN(sdpa);
static const nb_op sdpa_op = {"sdpa", sdpa_fwd, sdpa_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1) | NB_SAVES_IN(2),
                              false,  sdpa_bwg};
static const nb_op sdpa_packed_op = {"sdpa_packed", sdpa_fwd, sdpa_bwd, NB_SAVES_IN(0), false, sdpa_bwg};
static const nb_op sdpa_weights_op = {"sdpa_weights", sdpa_fwd, NULL, NB_SAVES_NOTHING, false, NULL};

/* ------------------------------------------------------------ builders */

/* Checks the mask against the scores' shape sc: float of q's dtype (additive)
 * or i64 (boolean), and broadcastable TO sc (never widening it). */
static bool check_mask(const char *op, const nb_tensor *q, const nb_tensor *mask, nb_shape sc, int8_t *kind,
                       const char *what) {
    char d0[NB_DESCRIBE_LEN + 8], d1[NB_DESCRIBE_LEN + 8], sh[NB_SHAPE_STRLEN];
    if (!mask) {
        *kind = SDPA_MASK_NONE;
        return true;
    }
    if (mask->dtype == NB_I64) *kind = SDPA_MASK_BOOL;
    else if (mask->dtype == q->dtype) *kind = SDPA_MASK_ADD;
    else {
        nb_fail(NB_ERR_DTYPE, op, "mask must be %s (additive) or i64 (boolean): %s, %s", nb_dtype_name(q->dtype),
                mu_desc(mask, "mask", d0, sizeof d0), mu_desc(q, what, d1, sizeof d1));
        return false;
    }
    bool ok = mask->shape.ndim <= sc.ndim;
    for (int i = 0; ok && i < mask->shape.ndim; i++) {
        const int64_t m = mask->shape.d[mask->shape.ndim - 1 - i], s = sc.d[sc.ndim - 1 - i];
        ok = m == s || m == 1;
    }
    if (!ok) {
        nb_fail(NB_ERR_SHAPE, op, "%s doesn't broadcast to the attention scores %s (batch..., L, S) of %s",
                nb_describe(mask, "mask", d0, sizeof d0), nb_shape_str(sc, sh, sizeof sh),
                nb_describe(q, what, d1, sizeof d1));
        return false;
    }
    return true;
}

/* The saved weights (and dropout mask): 2·nslice·L·S elements must be addressable. */
static bool check_size(const char *op, const sdpa_attr *a) {
    int64_t n;
    if (__builtin_mul_overflow(a->nslice, a->L, &n) || __builtin_mul_overflow(n, a->S, &n) ||
        __builtin_mul_overflow(n, (int64_t)16, &n)) {
        nb_fail(NB_ERR_SHAPE, op, "the attention weights (%lld slices of %lld x %lld) are too large",
                (long long)a->nslice, (long long)a->L, (long long)a->S);
        return false;
    }
    return true;
}

static bool check_common(const char *op, double dropout_p, double scale, int nbatch) {
    if (!(dropout_p >= 0 && dropout_p < 1)) {
        nb_fail(NB_ERR_ARG, op, "dropout_p (the drop probability) must be in [0,1), got %g", dropout_p);
        return false;
    }
    if (!(scale >= 0) || isinf(scale)) {
        nb_fail(NB_ERR_ARG, op, "scale must be finite and > 0 (0 = 1/sqrt(E)), got %g", scale);
        return false;
    }
    if (nbatch > 6) {
        nb_fail(NB_ERR_SHAPE, op, "at most 6 batch dims before (L, E), got %d", nbatch);
        return false;
    }
    return true;
}

nb_tensor *nb_sdpa(nb_tensor *q, nb_tensor *k, nb_tensor *v, nb_tensor *mask, bool is_causal, double dropout_p,
                   double scale) {
    nb_tensor *in[4] = {q, k, v, mask};
    static const char *const names[3] = {"q", "k", "v"};
    if (!mu_check_float("sdpa", 3, in, names)) return NULL;
    char d0[NB_DESCRIBE_LEN], d1[NB_DESCRIBE_LEN], d2[NB_DESCRIBE_LEN];
    const int nd = q->shape.ndim;
    bool ok = nd >= 2 && k->shape.ndim == nd && v->shape.ndim == nd;
    for (int i = 0; ok && i < nd - 2; i++) ok = k->shape.d[i] == q->shape.d[i] && v->shape.d[i] == q->shape.d[i];
    ok = ok && k->shape.d[nd - 1] == q->shape.d[nd - 1] && v->shape.d[nd - 2] == k->shape.d[nd - 2];
    if (!ok) {
        nb_fail(NB_ERR_SHAPE, "sdpa",
                "expects q (..., L, E), k (..., S, E), v (..., S, Ev) with equal batch dims: "
                "%s, %s, %s",
                nb_describe(q, "q", d0, sizeof d0), nb_describe(k, "k", d1, sizeof d1),
                nb_describe(v, "v", d2, sizeof d2));
        return NULL;
    }
    if (!check_common("sdpa", dropout_p, scale, nd - 2)) return NULL;
    sdpa_attr at = {.layout = SDPA_PLAIN, .causal = is_causal, .p = dropout_p, .nbatch = nd - 2, .nslice = 1};
    at.L = q->shape.d[nd - 2], at.S = k->shape.d[nd - 2], at.E = q->shape.d[nd - 1], at.Ev = v->shape.d[nd - 1];
    at.H = 1;
    at.scale = scale > 0 ? scale : 1.0 / sqrt((double)(at.E > 0 ? at.E : 1));
    nb_shape sc = q->shape, os = q->shape;
    sc.d[nd - 1] = at.S;
    os.d[nd - 1] = at.Ev;
    for (int i = 0; i < nd - 2; i++) at.bdim[i] = q->shape.d[i], at.nslice *= q->shape.d[i];
    if (!check_mask("sdpa", q, mask, sc, &at.mask_kind, "q") || !check_size("sdpa", &at)) return NULL;
    return nb_apply_ex(&sdpa_op, in, mask ? 4 : 3, os, q->dtype, &at, sizeof at);
}

nb_tensor *nb_sdpa_weights(nb_tensor *q, nb_tensor *k, nb_tensor *mask, bool is_causal, double scale) {
    nb_tensor *in[4] = {q, k, k, mask};
    static const char *const names[2] = {"q", "k"};
    if (!mu_check_float("sdpa_weights", 2, in, names)) return NULL;
    char d0[NB_DESCRIBE_LEN], d1[NB_DESCRIBE_LEN];
    const int nd = q->shape.ndim;
    bool ok = nd >= 2 && k->shape.ndim == nd;
    for (int i = 0; ok && i < nd - 2; i++) ok = k->shape.d[i] == q->shape.d[i];
    if (!ok || k->shape.d[nd - 1] != q->shape.d[nd - 1]) {
        nb_fail(NB_ERR_SHAPE, "sdpa_weights", "expects q (..., L, E), k (..., S, E) with equal batch dims: %s, %s",
                nb_describe(q, "q", d0, sizeof d0), nb_describe(k, "k", d1, sizeof d1));
        return NULL;
    }
    if (!check_common("sdpa_weights", 0, scale, nd - 2)) return NULL;
    sdpa_attr at = {.layout = SDPA_PLAIN, .causal = is_causal, .nbatch = nd - 2, .nslice = 1, .weights_only = 1};
    at.L = q->shape.d[nd - 2], at.S = k->shape.d[nd - 2], at.E = at.Ev = q->shape.d[nd - 1], at.H = 1;
    at.scale = scale > 0 ? scale : 1.0 / sqrt((double)(at.E > 0 ? at.E : 1));
    nb_shape sc = q->shape;
    sc.d[nd - 1] = at.S;
    for (int i = 0; i < nd - 2; i++) at.bdim[i] = q->shape.d[i], at.nslice *= q->shape.d[i];
    if (!check_mask("sdpa_weights", q, mask, sc, &at.mask_kind, "q") || !check_size("sdpa_weights", &at)) return NULL;
    nb_tensor *w = NULL;
    NB_NO_GRAD { w = nb_apply_ex(&sdpa_weights_op, in, mask ? 4 : 3, sc, q->dtype, &at, sizeof at); }
    return w;
}

/* The packed form's shapes: qkv (B, L, 3·H·D) -> scores (B, H, L, L). */
static bool packed_attr(const char *op, nb_tensor *qkv, int64_t heads, nb_tensor *mask, bool is_causal,
                        double dropout_p, double scale, sdpa_attr *at) {
    static const char *const names[1] = {"qkv"};
    if (!mu_check_float(op, 1, &qkv, names)) return false;
    char d0[NB_DESCRIBE_LEN];
    /* heads <= the last size first: 3*heads can't overflow */
    if (qkv->shape.ndim != 3 || heads <= 0 || heads > qkv->shape.d[2] || qkv->shape.d[2] % (3 * heads)) {
        nb_fail(NB_ERR_SHAPE, op, "expects qkv (B, L, 3*heads*D) with heads > 0: %s, heads %lld",
                nb_describe(qkv, "qkv", d0, sizeof d0), (long long)heads);
        return false;
    }
    if (!check_common(op, dropout_p, scale, 2)) return false;
    const int64_t B = qkv->shape.d[0], L = qkv->shape.d[1], D = qkv->shape.d[2] / (3 * heads);
    *at = (sdpa_attr){.layout = SDPA_PACKED,
                      .causal = is_causal,
                      .p = dropout_p,
                      .nbatch = 2,
                      .L = L,
                      .S = L,
                      .E = D,
                      .Ev = D,
                      .H = heads,
                      .nslice = B * heads,
                      .bdim = {B, heads}};
    at->scale = scale > 0 ? scale : 1.0 / sqrt((double)(D > 0 ? D : 1));
    return check_mask(op, qkv, mask, NB_SHAPE(B, heads, L, L), &at->mask_kind, "qkv") && check_size(op, at);
}

nb_tensor *nb_sdpa_packed(nb_tensor *qkv, int64_t heads, nb_tensor *mask, bool is_causal, double dropout_p,
                          double scale) {
    sdpa_attr at;
    if (!packed_attr("sdpa_packed", qkv, heads, mask, is_causal, dropout_p, scale, &at)) return NULL;
    nb_tensor *in[2] = {qkv, mask};
    return nb_apply_ex(&sdpa_packed_op, in, mask ? 2 : 1,
                       NB_SHAPE(at.L ? qkv->shape.d[0] : qkv->shape.d[0], at.L, at.H * at.E), qkv->dtype, &at,
                       sizeof at);
}

nb_tensor *nb_sdpa_packed_weights(nb_tensor *qkv, int64_t heads, nb_tensor *mask, bool is_causal, double scale) {
    sdpa_attr at;
    if (!packed_attr("sdpa_weights", qkv, heads, mask, is_causal, 0, scale, &at)) return NULL;
    at.weights_only = 1;
    nb_tensor *in[2] = {qkv, mask}, *w = NULL;
    NB_NO_GRAD {
        w = nb_apply_ex(&sdpa_weights_op, in, mask ? 2 : 1, NB_SHAPE(qkv->shape.d[0], heads, at.L, at.L), qkv->dtype,
                        &at, sizeof at);
    }
    return w;
}

/* ------------------------------------------------------------ differentiable backward */

/* The kernel backward's formulas with nb_* ops, per (batch, head) slice as
 * batched matmuls over the scores' shape (batch..., L, S):
 *   W = A∘D, dV = Wᵀ dO, dA = (dO Vᵀ)∘D, dS = A∘(dA − rowsum(dA∘A)),
 *   dQ = scale·dS K, dK = scale·dSᵀ Q, dmask = dS summed to its shape.
 * A must be a function of q, k (and an additive mask) on the tape: it is
 * this op again with v the identity and no dropout (the same kernel, so the
 * same bits as the saved A, fully masked rows giving zeros), so every order
 * works. D, the scaled dropout mask forward drew, is a constant. The packed
 * form splits qkv into (B, H, L, D) heads by slices and permutes, and joins
 * the three gradients back. */
GG_FN(sdpa) {
    const sdpa_attr *a = nb_attr(n, sdpa_attr);
    if (!n->saved) {
        nb_fail(NB_ERR_GRAPH, n->op->name, "the node kept no attention weights");
        return;
    }
    const bool plain = a->layout == SDPA_PLAIN;
    nb_tensor *mask = mask_of(n), *q, *k, *v, *go = g;
    const int midx = plain ? 3 : 1;
    const int64_t HD = a->H * a->E;
    if (plain) {
        q = n->in[0], k = n->in[1], v = n->in[2];
    } else {
        const int64_t B = n->in[0]->shape.d[0], L = a->L;
        static const int perm[4] = {0, 2, 1, 3};
        nb_tensor *part[3];
        for (int j = 0; j < 3; j++)
            part[j] = nb_permute(nb_reshape(nb_slice(n->in[0], 2, j * HD, (j + 1) * HD, 1), NB_SHAPE(B, L, a->H, a->E)),
                                 perm, 4);
        q = part[0], k = part[1], v = part[2];
        go = nb_permute(nb_reshape(g, NB_SHAPE(B, L, a->H, a->E)), perm, 4);
    }
    if (!q || !k || !v || !go) return;
    nb_shape sc = q->shape; /* (batch..., L, S) */
    sc.d[sc.ndim - 1] = a->S;
    nb_shape es = sc; /* (batch..., S, S) */
    es.d[es.ndim - 2] = a->S;
    nb_tensor *eye = nb_zeros(q->dtype, NB_SHAPE(a->S, a->S));
    if (!eye) return;
    for (int64_t i = 0; i < a->S; i++) nb_set(eye, i * a->S + i, 1);
    nb_tensor *A = nb_sdpa(q, k, nb_expand(eye, es), mask, a->causal, 0, a->scale);
    nb_tensor *D = NULL;
    if (a->p > 0) { /* the saved keep mask, after A in the node's buffer */
        D = nb_empty(q->dtype, sc);
        if (!D) return;
        memcpy(D->data, (const char *)n->saved->data + (size_t)D->numel * nb_dtype_size(D->dtype),
               (size_t)D->numel * nb_dtype_size(D->dtype));
    }
    const bool need_qk = plain ? GG_NEED(0) || GG_NEED(1) : GG_NEED(0);
    const bool need_v = plain ? GG_NEED(2) : GG_NEED(0);
    const bool need_m = mask && a->mask_kind == SDPA_MASK_ADD && GG_NEED(midx);
    nb_tensor *gq = NULL, *gk = NULL, *gv = NULL, *dS = NULL;
    if (need_v) gv = nb_matmul(nb_transpose(D ? nb_mul(A, D) : A, -2, -1), go);
    if (need_qk || need_m) {
        nb_tensor *dA = nb_matmul(go, nb_transpose(v, -2, -1));
        if (D) dA = nb_mul(dA, D);
        const int last = -1;
        dS = nb_mul(A, nb_sub(dA, nb_sum(nb_mul(dA, A), &last, 1, true)));
    }
    if (need_qk) {
        gq = nb_mul_scalar(nb_matmul(dS, k), a->scale);
        gk = nb_mul_scalar(nb_matmul(nb_transpose(dS, -2, -1), q), a->scale);
    }
    if (need_m) gin[midx] = gg_sum_to(dS, mask->shape);
    if (plain) {
        if (GG_NEED(0)) gin[0] = gq;
        if (GG_NEED(1)) gin[1] = gk;
        if (GG_NEED(2)) gin[2] = gv;
        return;
    }
    if (!GG_NEED(0)) return;
    const int64_t B = n->in[0]->shape.d[0], L = a->L;
    static const int perm[4] = {0, 2, 1, 3};
    nb_tensor *parts[3] = {gq, gk, gv};
    for (int j = 0; j < 3; j++) {
        if (!parts[j]) parts[j] = nb_zeros(q->dtype, q->shape);
        parts[j] = nb_reshape(nb_permute(parts[j], perm, 4), NB_SHAPE(B, L, HD));
    }
    gin[0] = nb_concat(parts, 3, 2);
}

/* ------------------------------------------------------------ registry */

/* Masks for samples: kind 1 additive (values in [-2, 2), with -inf at the
 * entries listed), kind 2 boolean i64 (1 = attend). */
static nb_tensor *sample_mask(nb_shape s, int kind, bool grad) {
    if (kind == 1) return nb_set_requires_grad(nb_sample_uniform(s, -2, 2), grad);
    nb_tensor *m = nb_zeros(NB_I64, s);
    for (int64_t i = 0; i < m->numel; i++) nb_i64(m)[i] = nb_rand_uniform() < 0.7;
    return m;
}

/* sdpa: iarg[0] = causal, iarg[1] = mask kind (0 none, 1 additive, 2
 * boolean), iarg[2] = dropout seed, iarg[3] = which row(s) to mask fully
 * (-1 none: row r of every mask slice gets -inf / 0 everywhere);
 * farg[0] = scale (0 = 1/sqrt(E)), farg[1] = dropout p. */
static int sdpa_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape q, k, v, m;
        int causal, kind, full_row, mask_grad;
        double scale, p;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(2, 3, 4), NB_SHAPE(2, 5, 4), NB_SHAPE(2, 5, 3), {0}, 0, 0, -1, 0, 0, 0, "no mask, L 3 S 5"},
        {NB_SHAPE(2, 2, 4, 3), NB_SHAPE(2, 2, 4, 3), NB_SHAPE(2, 2, 4, 5), {0}, 1, 0, -1, 0, 0, 0, "causal, heads"},
        {NB_SHAPE(2, 4, 3), NB_SHAPE(2, 5, 3), NB_SHAPE(2, 5, 2), NB_SHAPE(4, 5), 0, 1, -1, 1, 0, 0,
         "additive mask (4,5) broadcast, requires grad"},
        {NB_SHAPE(2, 2, 3, 4), NB_SHAPE(2, 2, 5, 4), NB_SHAPE(2, 2, 5, 4), NB_SHAPE(2, 1, 1, 5), 0, 2, -1, 0, 0, 0,
         "key padding (2,1,1,5) boolean"},
        {NB_SHAPE(3, 4, 2), NB_SHAPE(3, 4, 2), NB_SHAPE(3, 4, 3), NB_SHAPE(4, 4), 1, 2, 2, 0, 0, 0,
         "causal + boolean (4,4), row 2 fully masked"},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(2, 4, 4), NB_SHAPE(2, 4, 2), NB_SHAPE(2, 3, 4), 0, 1, 0, 0, 0, 0,
         "additive with a row of -inf (zeros, not NaN)"},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(2, 3, 4), NB_SHAPE(2, 3, 4), {0}, 0, 0, -1, 0, 0.7, 0, "scale 0.7"},
        {NB_SHAPE(2, 4, 3), NB_SHAPE(2, 5, 3), NB_SHAPE(2, 5, 2), NB_SHAPE(4, 5), 1, 1, -1, 0, 0, 0.3,
         "dropout p 0.3, causal, mask"},
        {NB_SHAPE(1, 1, 4), NB_SHAPE(1, 1, 4), NB_SHAPE(1, 1, 4), {0}, 1, 0, -1, 0, 0, 0, "one query, one key"},
        {NB_SHAPE(3, 2), NB_SHAPE(4, 2), NB_SHAPE(4, 3), NB_SHAPE(4), 0, 2, -1, 0, 0, 0, "2-D, mask (4) over keys"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = cases[i].kind ? 4 : 3};
        s[k].in[0] = nb_sample_uniform(cases[i].q, -1, 1);
        s[k].in[1] = nb_sample_uniform(cases[i].k, -1, 1);
        s[k].in[2] = nb_sample_uniform(cases[i].v, -1, 1);
        if (cases[i].kind) {
            nb_tensor *m = sample_mask(cases[i].m, cases[i].kind, cases[i].mask_grad);
            const int nd = m->shape.ndim;
            const int64_t S = m->shape.d[nd - 1], rows = nd >= 2 ? m->numel / S : 1;
            const int64_t L = nd >= 2 ? m->shape.d[nd - 2] : 1;
            for (int64_t r = 0; r < rows; r++) /* the chosen fully masked row of each slice */
                if (cases[i].full_row >= 0 && r % L == cases[i].full_row)
                    for (int64_t j = 0; j < S; j++) {
                        if (cases[i].kind == 1) nb_f64(m)[r * S + j] = -INFINITY;
                        else nb_i64(m)[r * S + j] = 0;
                    }
            s[k].in[3] = m;
        }
        s[k].iarg[0] = cases[i].causal, s[k].iarg[1] = cases[i].kind, s[k].iarg[2] = 17 + (int64_t)i;
        s[k].iarg[3] = cases[i].full_row;
        s[k].farg[0] = cases[i].scale, s[k].farg[1] = cases[i].p;
    }
    return k;
}
static nb_tensor *sdpa_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    if (s->farg[1] > 0) nb_seed((uint64_t)s->iarg[2]); /* the dropout mask, redrawn by the PyTorch twin */
    return nb_sdpa(in[0], in[1], in[2], nin > 3 ? in[3] : NULL, s->iarg[0] != 0, s->farg[1], s->farg[0]);
}
const nb_op_entry nb_entry_sdpa = {"sdpa", sdpa_entry_apply, sdpa_samples, 0, 0};

/* sdpa_packed: qkv (B, L, 3·H·D); iarg[0] = heads, iarg[1] = causal,
 * iarg[2] = mask kind, iarg[3] = dropout seed; farg[1] = dropout p. */
static int sdpa_packed_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x, m;
        int heads, causal, kind;
        double p;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(2, 3, 12), {0}, 2, 0, 0, 0, "B 2 L 3 heads 2 D 2"},
        {NB_SHAPE(2, 4, 9), {0}, 1, 1, 0, 0, "causal, one head D 3"},
        {NB_SHAPE(2, 4, 12), NB_SHAPE(2, 1, 1, 4), 2, 1, 2, 0, "causal + key padding boolean"},
        {NB_SHAPE(1, 3, 18), NB_SHAPE(3, 3), 3, 0, 1, 0, "additive mask (3,3), 3 heads"},
        {NB_SHAPE(2, 3, 12), {0}, 2, 1, 0, 0.25, "dropout p 0.25, causal"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = cases[i].kind ? 2 : 1};
        s[k].in[0] = nb_sample_uniform(cases[i].x, -1, 1);
        if (cases[i].kind) s[k].in[1] = sample_mask(cases[i].m, cases[i].kind, false);
        if (cases[i].kind == 2) nb_i64(s[k].in[1])[0] = 1; /* no batch fully padded */
        s[k].iarg[0] = cases[i].heads, s[k].iarg[1] = cases[i].causal, s[k].iarg[2] = cases[i].kind;
        s[k].iarg[3] = 29 + (int64_t)i;
        s[k].farg[1] = cases[i].p;
    }
    return k;
}
static nb_tensor *sdpa_packed_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    if (s->farg[1] > 0) nb_seed((uint64_t)s->iarg[3]);
    return nb_sdpa_packed(in[0], s->iarg[0], nin > 1 ? in[1] : NULL, s->iarg[1] != 0, s->farg[1], s->farg[0]);
}
const nb_op_entry nb_entry_sdpa_packed = {"sdpa_packed", sdpa_packed_entry_apply, sdpa_packed_samples, 0, 0};
