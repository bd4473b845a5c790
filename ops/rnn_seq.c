/* ops/rnn_seq.c — the recurrence of an LSTM or GRU layer over a whole
 * sequence as one primitive op each (nn/rnn.c uses them for one direction
 * of a layer when every sequence has full length).
 *
 * Why primitives: composed per time step (nb_affine for h·W_hhᵀ + b_hh, the
 * gate ops of ops/rnn_cell.c), every step repacks W_hh for its GEMM twice
 * (forward and backward), accumulates dW_hh with a GEMM of K = B per step,
 * and keeps a node and zero-filled gradient buffers per step. These ops pack
 * W_hh once per sequence and direction (kernels/gemm_packed.h), run each
 * step's product on the packed copy with the gate nonlinearity fused behind
 * it, and compute dW_hh, db_hh as one GEMM / one sum over all T·B rows after
 * the backward recurrence. The arithmetic is the composition's: the test
 * (tests/test_rnn_seq.c) compares both, the registry gradchecks the ops,
 * tests/fixtures/ref holds their PyTorch reference, and the second order
 * goes through that composition (backward_graph below).
 *
 *   lstm_seq(xp (T,B,4H), w_hh (4H,H), b_hh (4H), h0 (B,H), c0 (B,H))
 *       -> (T+1, B, H): rows 0..T-1 the outputs h_t in time order, row T the
 *          final cell state (c after the last step taken)
 *   gru_seq(xp (T,B,3H), w_hh (3H,H), b_hh (3H), h0 (B,H)) -> (T, B, H)
 *
 * xp = x W_ihᵀ + b_ih of every step (one GEMM, the caller's). reverse (an
 * attribute): the steps run t = T-1 down to 0 (a bidirectional layer's
 * second direction); outputs stay in time order. PyTorch's equations and
 * gate order (nabla/nn_rnn.h). */
#include "../autograd/internal.h"
#include "grad_graph.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "kernels/gemm_packed.h"
#include "kernels/par.h"
#include "kernels/vmath.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int reverse;
} seq_attr;

static char *desc(const nb_tensor *t, const char *name, char *buf) {
    return nb_describe(t, name, buf, NB_DESCRIBE_LEN);
}

/* Checks the inputs of lstm_seq (G = 4, nin 5) or gru_seq (G = 3, nin 4). */
static bool check_seq(const char *op, nb_tensor *const *in, int nin, int G) {
    if (!nb_check_float_inputs(op, in, nin)) return false;
    const nb_tensor *xp = in[0], *w = in[1], *b = in[2], *h0 = in[3], *c0 = nin > 4 ? in[4] : NULL;
    char a[NB_DESCRIBE_LEN], e[NB_DESCRIBE_LEN], f[NB_DESCRIBE_LEN], g[NB_DESCRIBE_LEN], h[NB_DESCRIBE_LEN];
    bool ok = xp->shape.ndim == 3 && xp->numel > 0 && w->shape.ndim == 2 && h0->shape.ndim == 2;
    if (ok) {
        const int64_t T = xp->shape.d[0], B = xp->shape.d[1], H = w->shape.d[1];
        (void)T;
        ok = H > 0 && w->shape.d[0] == G * H && xp->shape.d[2] == G * H && b->shape.ndim == 1 &&
            b->shape.d[0] == G * H && h0->shape.d[0] == B && h0->shape.d[1] == H &&
            (!c0 || nb_shape_eq(c0->shape, h0->shape));
    }
    if (!ok) {
        if (c0)
            nb_fail(NB_ERR_SHAPE, op,
                    "expects xp (T,B,%d*H), w_hh (%d*H,H), b_hh (%d*H), h0 (B,H), c0 (B,H): %s, %s, %s, %s, %s", G, G,
                    G, desc(xp, "xp", a), desc(w, "w_hh", e), desc(b, "b_hh", f), desc(h0, "h0", g), desc(c0, "c0", h));
        else
            nb_fail(NB_ERR_SHAPE, op, "expects xp (T,B,%d*H), w_hh (%d*H,H), b_hh (%d*H), h0 (B,H): %s, %s, %s, %s", G,
                    G, G, desc(xp, "xp", a), desc(w, "w_hh", e), desc(b, "b_hh", f), desc(h0, "h0", g));
    }
    return ok;
}

/* 64-byte aligned scratch of n elements of size es (NULL: out of memory). */
static void *scratch(size_t n, size_t es) {
    size_t bytes = (n * es + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* The packed GEMM for one dtype: T is float or double inside NB_FLOAT_DISPATCH. */
#define PK_LEN(T, K, N) (sizeof(T) == 4 ? nb_gemm_packed_len_f32(K, N) : nb_gemm_packed_len_f64(K, N))
#define PK_PACK(T, tb, K, N, B, ldb, dst)                                                 \
    (sizeof(T) == 4 ? nb_gemm_pack_f32(tb, K, N, (const float *)(B), ldb, (float *)(dst)) \
                    : nb_gemm_pack_f64(tb, K, N, (const double *)(B), ldb, (double *)(dst)))
#define GEMM_T(T, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)                                            \
    (sizeof(T) == 4 ? nb_gemm_f32(ta, tb, M, N, K, 1.0f, (const float *)(A), lda, (const float *)(B), ldb,  \
                                  (float)(beta), (float *)(C), ldc)                                         \
                    : nb_gemm_f64(ta, tb, M, N, K, 1.0, (const double *)(A), lda, (const double *)(B), ldb, \
                                  (double)(beta), (double *)(C), ldc))

/* After the backward recurrence, with dG (T, B, G·H) the gradients of the
 * pre-activations that pass through W_hh: dW_hh += Σ_t dG_tᵀ·h_prev(t) and
 * db_hh += Σ_{t,b} dG_t — one GEMM over the steps whose h_prev is an output
 * (out rows 0..T-2 or 1..T-1) and one of K = B for h0. */
#define WEIGHT_GRADS(T_, dW, dB, dG, out, h0, T, B, GH, H, reverse)                           \
    do {                                                                                      \
        if (dW) {                                                                             \
            T_ *dw = (T_ *)(dW)->data;                                                        \
            const T_ *h0p = (const T_ *)(h0)->data;                                           \
            const int64_t first = (reverse) ? (T)-1 : 0; /* the step whose h_prev is h0 */    \
            GEMM_T(T_, true, false, GH, H, B, dG + first * (B) * (GH), GH, h0p, H, 1, dw, H); \
            if ((T) > 1) {                                                                    \
                const T_ *dg1 = (reverse) ? dG : dG + (B) * (GH);                             \
                const T_ *hp = (reverse) ? out + (B) * (H) : out;                             \
                GEMM_T(T_, true, false, GH, H, ((T)-1) * (B), dg1, GH, hp, H, 1, dw, H);      \
            }                                                                                 \
        }                                                                                     \
        if (dB) {                                                                             \
            T_ *db = (T_ *)(dB)->data;                                                        \
            for (int64_t r = 0; r < (T) * (B); r++) {                                         \
                const T_ *g = dG + r * (GH);                                                  \
                for (int64_t j = 0; j < (GH); j++) db[j] += g[j];                             \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* ------------------------------------------------------------ threads */

/* Threads split the hidden units in blocks of whole micro-panels (each
 * thread takes the GEMM columns of its units in every gate block and their
 * gate arithmetic), one barrier per time step: the next step's product reads
 * all of h (forward) or all of the step's gate gradients (backward). Needs
 * H a multiple of the panel width, at least two panels and
 * enough work per step; else one thread. Every element is computed as on
 * one thread: the results do not depend on the thread count. */
static int seq_threads(int64_t B, int64_t G, int64_t H, int64_t nr) {
    const int nt = nb_par_threads(nb_get_num_threads(), (double)B * (double)G * (double)H);
    if (nt <= 1 || nr <= 1 || H % nr != 0) return 1;
    const int64_t most = H / nr; /* panels */
    return most < 2 ? 1 : most < nt ? (int)most : nt;
}
/* This thread's hidden units [*u0, *u1): whole panels of nr. */
static void seq_units(int nt, int64_t H, int64_t nr, int64_t *u0, int64_t *u1) {
    if (nt <= 1) {
        *u0 = 0, *u1 = H;
        return;
    }
    int64_t lo, hi;
    nb_par_share(H / nr, NB_PAR_TID(nt), NB_PAR_NTH(nt), &lo, &hi);
    *u0 = lo * nr, *u1 = hi * nr;
}
#define SEQ_BARRIER(nt)            \
    do {                           \
        if ((nt) > 1) {            \
            _Pragma("omp barrier") \
        }                          \
    } while (0)
#define PK_NR(T) (sizeof(T) == 4 ? nb_gemm_packed_nr_f32() : nb_gemm_packed_nr_f64())
/* C[:, n0:n1] of the packed product */
#define PK_MULR(T, M, N, K, A, lda, Bp, n0, n1, beta, C, ldc)                                                         \
    (sizeof(T) == 4 ? nb_gemm_packed_f32(false, M, N, K, 1.0f, (const float *)(A), lda, (const float *)(Bp), n0, n1,  \
                                         (float)(beta), (float *)(C), ldc)                                            \
                    : nb_gemm_packed_f64(false, M, N, K, 1.0, (const double *)(A), lda, (const double *)(Bp), n0, n1, \
                                         (double)(beta), (double *)(C), ldc))

/* ------------------------------------------------------------ row kernels */
/* The pointwise work of one batch row over n hidden units (pointers at the
 * first unit; H the gate block stride), as functions with restrict pointers
 * so that the compiler vectorizes them. Each is built twice: for the
 * library's baseline ISA and, on x86-64 with GCC or clang, for AVX-512
 * (taken when nb_isa() says so, like the GEMM). FMA contraction is off in
 * both, so they round alike. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ROW_X512 __attribute__((target("avx512f,avx2,fma"), optimize("fp-contract=off")))
#define HAVE_ROW_X512 1
#elif defined(__x86_64__) && defined(__clang__)
#define ROW_X512 __attribute__((target("avx512f,avx2,fma")))
#define HAVE_ROW_X512 1
#else
#define HAVE_ROW_X512 0
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* a[q·H + j] = x + (g + b) for the first nq gate blocks */
#define K_PRE(R)                                                                                                    \
    (int64_t n, int64_t H, int nq, const R *restrict x, const R *restrict g, const R *restrict bh, R *restrict a) { \
        for (int q = 0; q < nq; q++)                                                                                \
            for (int64_t j = 0; j < n; j++) a[q * H + j] = x[q * H + j] + (g[q * H + j] + bh[q * H + j]);           \
    }
/* LSTM: c = σ(f)·c_prev + σ(i)·tanh(g) from the activations a */
#define K_LSTM_C(R)                                                                    \
    (int64_t n, int64_t H, const R *restrict a, const R *restrict cp, R *restrict c) { \
        for (int64_t j = 0; j < n; j++) c[j] = a[H + j] * cp[j] + a[j] * a[2 * H + j]; \
    }
/* LSTM: h = σ(o)·tanh(c) */
#define K_LSTM_H(R)                                                                    \
    (int64_t n, int64_t H, const R *restrict a, const R *restrict tc, R *restrict h) { \
        for (int64_t j = 0; j < n; j++) h[j] = a[3 * H + j] * tc[j];                   \
    }
/* GRU: gh_n = g_n + b_hn (saved) and the pre-activation of n, x_n + r·gh_n */
#define K_GRU_N(R)                                                                                          \
    (int64_t n, int64_t H, const R *restrict x, const R *restrict g, const R *restrict bh, R *restrict a) { \
        for (int64_t j = 0; j < n; j++) {                                                                   \
            a[3 * H + j] = g[2 * H + j] + bh[2 * H + j];                                                    \
            a[2 * H + j] = x[2 * H + j] + a[j] * a[3 * H + j];                                              \
        }                                                                                                   \
    }
/* GRU: h = n + z·(h_prev − n), PyTorch's rounding order */
#define K_GRU_H(R)                                                                               \
    (int64_t n, int64_t H, const R *restrict a, const R *restrict hp, R *restrict h) {           \
        for (int64_t j = 0; j < n; j++) h[j] = a[2 * H + j] + a[H + j] * (hp[j] - a[2 * H + j]); \
    }
/* LSTM backward: a the row's saved σ(i), σ(f), tanh(g), σ(o), c, tanh(c);
 * dh, dc in: the gradients from later steps (dh without this step's output
 * gradient gt); d: the four gate pre-activations' gradients; dc out: c_prev's. */
#define K_LSTM_BWD(R)                                                                                              \
    (int64_t n, int64_t H, const R *restrict a, const R *restrict cpr, const R *restrict gt, const R *restrict dh, \
     R *restrict dc, R *restrict d) {                                                                              \
        const R *tc = a + 5 * H;                                                                                   \
        for (int64_t j = 0; j < n; j++) {                                                                          \
            const R si = a[j], sf = a[H + j], tg = a[2 * H + j], so = a[3 * H + j];                                \
            const R hdh = dh[j] + gt[j];                                                                           \
            const R dct = dc[j] + hdh * so * (1 - tc[j] * tc[j]);                                                  \
            d[j] = dct * tg * si * (1 - si);                                                                       \
            d[H + j] = dct * cpr[j] * sf * (1 - sf);                                                               \
            d[2 * H + j] = dct * si * (1 - tg * tg);                                                               \
            d[3 * H + j] = hdh * tc[j] * so * (1 - so);                                                            \
            dc[j] = dct * sf;                                                                                      \
        }                                                                                                          \
    }
/* GRU backward: a the row's saved r, z, n, gh_n; dh in: the gradient from
 * later steps, out: its direct part dht·z (the GEMM adds the rest); dg the
 * gradient of h_prev W_hhᵀ + b_hh, dx (NULL: not wanted) of xp's row. */
#define GRU_BWD_BODY(R)                                        \
    const R dht = dh[j] + gt[j];                               \
    const R dn = dht * (1 - z[j]), dz = dht * (hp[j] - nn[j]); \
    const R dan = dn * (1 - nn[j] * nn[j]);                    \
    const R dar = dan * ghn[j] * r[j] * (1 - r[j]);            \
    const R daz = dz * z[j] * (1 - z[j]);                      \
    dg[j] = dar, dg[H + j] = daz, dg[2 * H + j] = dan * r[j];  \
    dh[j] = dht * z[j];
#define K_GRU_BWD(R)                                                                                        \
    (int64_t n, int64_t H, const R *restrict a, const R *restrict hp, const R *restrict gt, R *restrict dh, \
     R *restrict dx, R *restrict dg) {                                                                      \
        const R *r = a, *z = a + H, *nn = a + 2 * H, *ghn = a + 3 * H;                                      \
        if (dx)                                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                               \
                GRU_BWD_BODY(R)                                                                             \
                dx[j] = dar, dx[H + j] = daz, dx[2 * H + j] = dan;                                          \
            }                                                                                               \
        else                                                                                                \
            for (int64_t j = 0; j < n; j++) {                                                               \
                GRU_BWD_BODY(R)                                                                             \
            }                                                                                               \
    }

#define K_ALL(X)                                                                                        \
    X(pre, K_PRE)                                                                                       \
    X(lstm_c, K_LSTM_C) X(lstm_h, K_LSTM_H) X(gru_n, K_GRU_N) X(gru_h, K_GRU_H) X(lstm_bwd, K_LSTM_BWD) \
        X(gru_bwd, K_GRU_BWD)
#define K_DEF_BASE(name, K) static void k_##name##_f32 K(float) static void k_##name##_f64 K(double)
K_ALL(K_DEF_BASE)
#if HAVE_ROW_X512
#define K_DEF_X512(name, K) static ROW_X512 void k_##name##_f32x K(float) static ROW_X512 void k_##name##_f64x K(double)
K_ALL(K_DEF_X512)
#define KCALL(x512, R, name, ...)                                              \
    (sizeof(R) == 4 ? ((x512) ? k_##name##_f32x : k_##name##_f32)(__VA_ARGS__) \
                    : ((x512) ? k_##name##_f64x : k_##name##_f64)(__VA_ARGS__))
#else
#define KCALL(x512, R, name, ...) (sizeof(R) == 4 ? k_##name##_f32(__VA_ARGS__) : k_##name##_f64(__VA_ARGS__))
#endif
/* Casting every pointer argument for the f32/f64 pick: the macros below
 * pass T-typed pointers, cast by the callee's prototype through void *. */
#define VP(p) ((void *)(p))

/* ------------------------------------------------------------ lstm_seq */

/* saved (T, B, 6H): per row σ(i), σ(f), tanh(g), σ(o), c, tanh(c). */
static void lstm_seq_fwd(nb_node *n) {
    const nb_tensor *XP = n->in[0], *W = n->in[1], *BH = n->in[2], *H0 = n->in[3], *C0 = n->in[4];
    const int64_t T = XP->shape.d[0], B = XP->shape.d[1], H = W->shape.d[1], G = 4 * H;
    const bool rev = nb_attr(n, seq_attr)->reverse;
    nb_tensor *sv = nb_node_save_new(n, XP->dtype, NB_SHAPE(T, B, 6 * H));
    if (!sv) return;
    NB_FLOAT_DISPATCH(XP->dtype, R, {
        R *wp = scratch(PK_LEN(R, H, G), sizeof(R)), *gh = scratch((size_t)(B * G), sizeof(R));
        if (!wp || !gh) {
            free(wp), free(gh);
            nb_fail(NB_ERR_NOMEM, "lstm_seq", "out of memory for the packed W_hh");
            return;
        }
        PK_PACK(R, true, H, G, W->data, H, wp); /* op(B) = W_hhᵀ (H × 4H) */
        const R *xp = (const R *)XP->data, *bh = (const R *)BH->data;
        R *out = (R *)n->out->data, *s = (R *)sv->data;
        const int64_t nr = PK_NR(R);
        const int nt = seq_threads(B, G, H, nr);
        const bool x5 = nb_isa() == ISA_AVX512; /* the row kernels' ISA */
        NB_PAR_REGION(nt, {
            int64_t u0, u1;
            seq_units(nt, H, nr, &u0, &u1);
            const int64_t nu = u1 - u0;
            const R *hp = (const R *)H0->data, *cp = (const R *)C0->data;
            int64_t cs = H; /* row stride of cp: c0's H, then the saved rows' 6H */
            for (int64_t k = 0; k < T; k++) {
                const int64_t t = rev ? T - 1 - k : k;
                if (nt <= 1) PK_MULR(R, B, G, H, hp, H, wp, 0, G, 0, gh, G);
                else /* column ranges start at multiples of the panel width (H is one) */
                    for (int q = 0; q < 4 && nu > 0; q++)
                        PK_MULR(R, B, G, H, hp, H, wp, q * H + u0, q * H + u1, 0, gh, G);
                R *ht = out + t * B * H;
                for (int64_t b = 0; b < B && nu > 0; b++) {
                    R *a = s + (t * B + b) * 6 * H, *c = a + 4 * H, *tc = a + 5 * H, *h = ht + b * H;
                    const R *x = xp + (t * B + b) * G, *g = gh + b * G, *cpr = cp + b * cs;
                    KCALL(x5, R, pre, nu, H, 4, VP(x + u0), VP(g + u0), VP(bh + u0), VP(a + u0));
                    NB_VMATH_T(sigmoid, R, a + u0, a + u0, nu);                 /* σ(i) */
                    NB_VMATH_T(sigmoid, R, a + H + u0, a + H + u0, nu);         /* σ(f) */
                    NB_VMATH_T(tanh, R, a + 2 * H + u0, a + 2 * H + u0, nu);    /* tanh(g) */
                    NB_VMATH_T(sigmoid, R, a + 3 * H + u0, a + 3 * H + u0, nu); /* σ(o) */
                    KCALL(x5, R, lstm_c, nu, H, VP(a + u0), VP(cpr + u0), VP(c + u0));
                    NB_VMATH_T(tanh, R, tc + u0, c + u0, nu);
                    KCALL(x5, R, lstm_h, nu, H, VP(a + u0), VP(tc + u0), VP(h + u0));
                }
                hp = ht;
                cp = s + t * B * 6 * H + 4 * H;
                cs = 6 * H;
                SEQ_BARRIER(nt);
            }
            /* the final cell state: row T */
            for (int64_t b = 0; b < B && nu > 0; b++)
                memcpy(out + (T * B + b) * H + u0, cp + b * cs + u0, (size_t)nu * sizeof(R));
        });
        free(wp);
        free(gh);
    });
}

/* gradient tensor t (may be NULL: nothing) += src, n elements of R */
#define ADD_INTO(R, t, src, n)                                                     \
    do {                                                                           \
        nb_tensor *t_ = (t);                                                       \
        if (t_)                                                                    \
            for (int64_t i_ = 0; i_ < (n); i_++) ((R *)t_->data)[i_] += (src)[i_]; \
    } while (0)

static void lstm_seq_bwd(nb_node *n, const nb_tensor *gout) {
    nb_tensor *XP = n->in[0], *W = n->in[1], *H0 = n->in[3], *C0 = n->in[4];
    const int64_t T = XP->shape.d[0], B = XP->shape.d[1], H = W->shape.d[1], G = 4 * H;
    const bool rev = nb_attr(n, seq_attr)->reverse;
    bool fresh; /* a new dXP is left unzeroed: the recurrence writes every element */
    nb_tensor *dXP = nb__grad_buf_fresh(XP, &fresh), *dW = nb_grad_buf(W), *dB = nb_grad_buf(n->in[2]);
    nb_tensor *dH0 = nb_grad_buf(H0), *dC0 = nb_grad_buf(C0);
    NB_FLOAT_DISPATCH(XP->dtype, R, {
        /* dG: the pre-activations' gradient; written straight into a fresh
         * (zero) dXP, else into scratch and added */
        const bool direct = dXP && fresh;
        R *dG = direct ? (R *)dXP->data : scratch((size_t)(T * B * G), sizeof(R));
        R *wp = scratch(PK_LEN(R, G, H), sizeof(R)), *dh = scratch((size_t)(B * H), sizeof(R));
        R *dc = scratch((size_t)(B * H), sizeof(R));
        if (!dG || !wp || !dh || !dc) {
            if (!direct) free(dG);
            else memset(dG, 0, (size_t)(T * B * G) * sizeof(R)); /* a new buffer is not left unwritten */
            free(wp), free(dh), free(dc);
            nb_fail(NB_ERR_NOMEM, "lstm_seq", "out of memory in backward");
            return;
        }
        PK_PACK(R, false, G, H, W->data, H, wp); /* op(B) = W_hh (4H × H) */
        const R *go = (const R *)gout->data, *s = (const R *)n->saved->data, *out = (const R *)n->out->data;
        const R *c0 = (const R *)C0->data;
        memcpy(dc, go + T * B * H, (size_t)(B * H) * sizeof(R));
        memset(dh, 0, (size_t)(B * H) * sizeof(R));
        const int64_t nr = PK_NR(R);
        const int nt = seq_threads(B, G, H, nr);
        const bool x5 = nb_isa() == ISA_AVX512; /* the row kernels' ISA */
        NB_PAR_REGION(nt, {
            int64_t u0, u1;
            seq_units(nt, H, nr, &u0, &u1);
            for (int64_t k = T - 1; k >= 0; k--) {
                const int64_t t = rev ? T - 1 - k : k, tp = rev ? t + 1 : t - 1; /* tp: the step before (k > 0) */
                const R *gt = go + t * B * H;
                for (int64_t b = 0; b < B; b++) {
                    const R *a = s + (t * B + b) * 6 * H + u0;
                    const R *cpr = (k > 0 ? s + (tp * B + b) * 6 * H + 4 * H : c0 + b * H) + u0;
                    R *d = dG + (t * B + b) * G + u0;
                    KCALL(x5, R, lstm_bwd, u1 - u0, H, VP(a), VP(cpr), VP(gt + b * H + u0), VP(dh + b * H + u0),
                          VP(dc + b * H + u0), VP(d));
                }
                SEQ_BARRIER(nt);
                if ((k > 0 || dH0) && u1 > u0) PK_MULR(R, B, H, G, dG + t * B * G, G, wp, u0, u1, 0, dh, H);
            }
        });
        ADD_INTO(R, dH0, dh, B * H);
        ADD_INTO(R, dC0, dc, B * H);
        WEIGHT_GRADS(R, dW, dB, dG, out, H0, T, B, G, H, rev);
        ADD_INTO(R, direct ? NULL : dXP, dG, T * B * G);
        if (!direct) free(dG);
        free(wp), free(dh), free(dc);
    });
}

/* ------------------------------------------------------------ gru_seq */

/* saved (T, B, 4H): per row r, z, n, gh_n = (h_prev W_hnᵀ + b_hn). */
static void gru_seq_fwd(nb_node *n) {
    const nb_tensor *XP = n->in[0], *W = n->in[1], *BH = n->in[2], *H0 = n->in[3];
    const int64_t T = XP->shape.d[0], B = XP->shape.d[1], H = W->shape.d[1], G = 3 * H;
    const bool rev = nb_attr(n, seq_attr)->reverse;
    nb_tensor *sv = nb_node_save_new(n, XP->dtype, NB_SHAPE(T, B, 4 * H));
    if (!sv) return;
    NB_FLOAT_DISPATCH(XP->dtype, R, {
        R *wp = scratch(PK_LEN(R, H, G), sizeof(R)), *gh = scratch((size_t)(B * G), sizeof(R));
        if (!wp || !gh) {
            free(wp), free(gh);
            nb_fail(NB_ERR_NOMEM, "gru_seq", "out of memory for the packed W_hh");
            return;
        }
        PK_PACK(R, true, H, G, W->data, H, wp);
        const R *xp = (const R *)XP->data, *bh = (const R *)BH->data;
        R *out = (R *)n->out->data, *s = (R *)sv->data;
        const int64_t nr = PK_NR(R);
        const int nt = seq_threads(B, G, H, nr);
        const bool x5 = nb_isa() == ISA_AVX512; /* the row kernels' ISA */
        NB_PAR_REGION(nt, {
            int64_t u0, u1;
            seq_units(nt, H, nr, &u0, &u1);
            const int64_t nu = u1 - u0;
            const R *hp = (const R *)H0->data;
            for (int64_t k = 0; k < T; k++) {
                const int64_t t = rev ? T - 1 - k : k;
                if (nt <= 1) PK_MULR(R, B, G, H, hp, H, wp, 0, G, 0, gh, G);
                else /* column ranges start at multiples of the panel width (H is one) */
                    for (int q = 0; q < 3 && nu > 0; q++)
                        PK_MULR(R, B, G, H, hp, H, wp, q * H + u0, q * H + u1, 0, gh, G);
                R *ht = out + t * B * H;
                for (int64_t b = 0; b < B && nu > 0; b++) {
                    R *a = s + (t * B + b) * 4 * H, *nn = a + 2 * H, *h = ht + b * H;
                    const R *x = xp + (t * B + b) * G, *g = gh + b * G, *hpr = hp + b * H;
                    KCALL(x5, R, pre, nu, H, 2, VP(x + u0), VP(g + u0), VP(bh + u0), VP(a + u0));
                    NB_VMATH_T(sigmoid, R, a + u0, a + u0, nu);                                  /* r */
                    NB_VMATH_T(sigmoid, R, a + H + u0, a + H + u0, nu);                          /* z */
                    KCALL(x5, R, gru_n, nu, H, VP(x + u0), VP(g + u0), VP(bh + u0), VP(a + u0)); /* gh_n, n's pre */
                    NB_VMATH_T(tanh, R, nn + u0, nn + u0, nu);
                    KCALL(x5, R, gru_h, nu, H, VP(a + u0), VP(hpr + u0), VP(h + u0));
                }
                hp = ht;
                SEQ_BARRIER(nt);
            }
        });
        free(wp);
        free(gh);
    });
}

static void gru_seq_bwd(nb_node *n, const nb_tensor *gout) {
    nb_tensor *XP = n->in[0], *W = n->in[1], *H0 = n->in[3];
    const int64_t T = XP->shape.d[0], B = XP->shape.d[1], H = W->shape.d[1], G = 3 * H;
    const bool rev = nb_attr(n, seq_attr)->reverse;
    bool fresh; /* a new dXP is left unzeroed: the recurrence writes every element */
    nb_tensor *dXP = nb__grad_buf_fresh(XP, &fresh), *dW = nb_grad_buf(W), *dB = nb_grad_buf(n->in[2]),
              *dH0 = nb_grad_buf(H0);
    NB_FLOAT_DISPATCH(XP->dtype, R, {
        const bool direct = dXP && fresh;
        /* dGX: the gradient of xp's rows; dGH: of h_prev W_hhᵀ + b_hh's */
        R *dGX = direct ? (R *)dXP->data : dXP ? scratch((size_t)(T * B * G), sizeof(R)) : NULL;
        R *dGH = scratch((size_t)(T * B * G), sizeof(R));
        R *wp = scratch(PK_LEN(R, G, H), sizeof(R)), *dh = scratch((size_t)(B * H), sizeof(R));
        if ((dXP && !dGX) || !dGH || !wp || !dh) {
            if (!direct) free(dGX);
            else memset(dGX, 0, (size_t)(T * B * G) * sizeof(R)); /* a new buffer is not left unwritten */
            free(dGH), free(wp), free(dh);
            nb_fail(NB_ERR_NOMEM, "gru_seq", "out of memory in backward");
            return;
        }
        PK_PACK(R, false, G, H, W->data, H, wp);
        const R *go = (const R *)gout->data, *s = (const R *)n->saved->data, *out = (const R *)n->out->data;
        const R *h0 = (const R *)H0->data;
        memset(dh, 0, (size_t)(B * H) * sizeof(R));
        const int64_t nr = PK_NR(R);
        const int nt = seq_threads(B, G, H, nr);
        const bool x5 = nb_isa() == ISA_AVX512; /* the row kernels' ISA */
        NB_PAR_REGION(nt, {
            int64_t u0, u1;
            seq_units(nt, H, nr, &u0, &u1);
            for (int64_t k = T - 1; k >= 0; k--) {
                const int64_t t = rev ? T - 1 - k : k, tp = rev ? t + 1 : t - 1;
                const R *gt = go + t * B * H, *hprev = k > 0 ? out + tp * B * H : h0;
                for (int64_t b = 0; b < B; b++) {
                    const R *a = s + (t * B + b) * 4 * H + u0;
                    R *dx = dGX ? dGX + (t * B + b) * G + u0 : NULL;
                    KCALL(x5, R, gru_bwd, u1 - u0, H, VP(a), VP(hprev + b * H + u0), VP(gt + b * H + u0),
                          VP(dh + b * H + u0), VP(dx), VP(dGH + (t * B + b) * G + u0));
                }
                SEQ_BARRIER(nt);
                if ((k > 0 || dH0) && u1 > u0) PK_MULR(R, B, H, G, dGH + t * B * G, G, wp, u0, u1, 1, dh, H);
            }
        });
        ADD_INTO(R, dH0, dh, B * H);
        WEIGHT_GRADS(R, dW, dB, dGH, out, H0, T, B, G, H, rev);
        ADD_INTO(R, direct ? NULL : dXP, dGX, T * B * G);
        if (!direct) free(dGX);
        free(dGH), free(wp), free(dh);
    });
}

/* ------------------------------------------------------------ the composition, and second order */

/* The same recurrence composed per step from nb_affine and the gate ops
 * (what nn/rnn.c builds for variable lengths); on the tape. */
static nb_tensor *rnn_seq_composed(nb_tensor *const *in, bool lstm, bool reverse) {
    nb_tensor *xp = in[0], *w = in[1], *bh = in[2], *h = in[3], *c = lstm ? in[4] : NULL;
    const int64_t T = xp->shape.d[0];
    nb_tensor **outs = calloc((size_t)T + 1, sizeof *outs);
    if (!outs) {
        nb_fail(NB_ERR_NOMEM, lstm ? "lstm_seq" : "gru_seq", "out of memory");
        return NULL;
    }
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = reverse ? T - 1 - k : k;
        nb_tensor *x = nb_select(xp, 0, t), *hh = nb_affine(h, w, bh);
        if (lstm) {
            c = nb_lstm_gate_c(x, hh, c);
            h = nb_lstm_gate_h(x, hh, c);
        } else {
            h = nb_gru_gate_h(x, hh, h);
        }
        outs[t] = h;
    }
    if (lstm) outs[T] = c;
    nb_tensor *y = nb_stack(outs, (int)(lstm ? T + 1 : T), 0);
    free(outs);
    return y;
}

/* Second order: the composition's differentiable backward (every piece has
 * one), recomputed from the node's inputs. */
static void seq_bwg(nb_node *n, nb_tensor *g, nb_tensor **gin, bool lstm) {
    nb_tensor *want[5];
    int idx[5], nw = 0;
    for (int i = 0; i < n->nin; i++)
        if (nb_grad_needed(n, i)) idx[nw] = i, want[nw++] = n->in[i];
    if (!nw) return;
    nb_tensor *y = rnn_seq_composed(n->in, lstm, nb_attr(n, seq_attr)->reverse);
    if (!y) return;
    nb_tensor *res[5] = {0};
    nb_grad_opts o = {.create_graph = true, .retain_graph = true, .allow_unused = true};
    if (nb_grads(&y, 1, want, nw, &g, &o, res) != NB_OK) return;
    for (int k = 0; k < nw; k++) gin[idx[k]] = res[k];
}
static void lstm_seq_bwg(nb_node *n, nb_tensor *g, nb_tensor **gin) { seq_bwg(n, g, gin, true); }
static void gru_seq_bwg(nb_node *n, nb_tensor *g, nb_tensor **gin) { seq_bwg(n, g, gin, false); }

/* backward reads every input and the output (the h_prev rows), backward_graph every input */
static const nb_op lstm_seq_op = {"lstm_seq", lstm_seq_fwd, lstm_seq_bwd, 0, false, lstm_seq_bwg};
static const nb_op gru_seq_op = {"gru_seq", gru_seq_fwd, gru_seq_bwd, 0, false, gru_seq_bwg};

nb_tensor *nb_lstm_seq(nb_tensor *xp, nb_tensor *w_hh, nb_tensor *b_hh, nb_tensor *h0, nb_tensor *c0, bool reverse) {
    nb_tensor *in[5] = {xp, w_hh, b_hh, h0, c0};
    if (!check_seq("lstm_seq", in, 5, 4)) return NULL;
    const seq_attr at = {reverse};
    return nb_apply_ex(&lstm_seq_op, in, 5, NB_SHAPE(xp->shape.d[0] + 1, xp->shape.d[1], h0->shape.d[1]), xp->dtype,
                       &at, sizeof at);
}

nb_tensor *nb_gru_seq(nb_tensor *xp, nb_tensor *w_hh, nb_tensor *b_hh, nb_tensor *h0, bool reverse) {
    nb_tensor *in[4] = {xp, w_hh, b_hh, h0};
    if (!check_seq("gru_seq", in, 4, 3)) return NULL;
    const seq_attr at = {reverse};
    return nb_apply_ex(&gru_seq_op, in, 4, NB_SHAPE(xp->shape.d[0], xp->shape.d[1], h0->shape.d[1]), xp->dtype, &at,
                       sizeof at);
}

/* ------------------------------------------------------------ registry */

/* Pre-activations stay within about ±3 (both tails of σ and tanh), no kinks.
 * B 9 is more than a micro-tile's rows (8 on AVX-512), H 5 not a multiple of
 * anything; iarg[0] = reverse. */
static const struct {
    int64_t T, B, H;
    int rev;
    const char *desc;
} seq_cases[] = {
    {3, 2, 3, 0, "T 3 B 2 H 3"},         {3, 2, 3, 1, "T 3 B 2 H 3 reverse"}, {1, 1, 2, 0, "T 1 B 1 H 2"},
    {2, 9, 2, 1, "T 2 B 9 H 2 reverse"}, {4, 1, 5, 0, "T 4 B 1 H 5"},
};
#define NSEQ ((int)(sizeof seq_cases / sizeof seq_cases[0]))

static int seq_samples(nb_sample *s, int max, int G) {
    int k = 0;
    for (int c = 0; c < NSEQ && k < max; c++, k++) {
        const int64_t T = seq_cases[c].T, B = seq_cases[c].B, H = seq_cases[c].H;
        s[k] = (nb_sample){.desc = seq_cases[c].desc, .nin = G == 4 ? 5 : 4};
        s[k].iarg[0] = seq_cases[c].rev;
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(T, B, G * H), -1.5, 1.5);
        s[k].in[1] = nb_sample_uniform(NB_SHAPE(G * H, H), -0.8, 0.8);
        s[k].in[2] = nb_sample_uniform(NB_SHAPE(G * H), -0.5, 0.5);
        s[k].in[3] = nb_sample_uniform(NB_SHAPE(B, H), -1, 1);
        if (G == 4) s[k].in[4] = nb_sample_uniform(NB_SHAPE(B, H), -1, 1);
    }
    return k;
}
static int lstm_seq_samples(nb_sample *s, int max) { return seq_samples(s, max, 4); }
static int gru_seq_samples(nb_sample *s, int max) { return seq_samples(s, max, 3); }
static nb_tensor *lstm_seq_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_lstm_seq(in[0], in[1], in[2], in[3], in[4], s->iarg[0] != 0);
}
static nb_tensor *gru_seq_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_gru_seq(in[0], in[1], in[2], in[3], s->iarg[0] != 0);
}
const nb_op_entry nb_entry_lstm_seq = {"lstm_seq", lstm_seq_entry_apply, lstm_seq_samples, 0, 0};
const nb_op_entry nb_entry_gru_seq = {"gru_seq", gru_seq_entry_apply, gru_seq_samples, 0, 0};
