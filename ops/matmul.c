/* ops/matmul.c — (...,M,K) @ (...,K,N) -> (...,M,N), batch dims broadcast.
 *
 * Every product goes through nb_gemm. When b is a plain matrix, a's batch dims
 * fold into M and the whole op is one GEMM (forward and both gradients).
 * Backward: dA += dC·Bᵀ, dB += Aᵀ·dC, accumulated with beta = 1 so batches
 * that were broadcast sum their gradients. */
#include "broadcast.h"
#include "math_util.h"
#include "kernels/gemm.h"
#include "kernels/par.h"
#include "kernels/vmath.h"
#include "../autograd/internal.h"
#include "grad_graph.h"

static nb_shape batch_of(nb_shape s) {
    s.ndim -= 2;
    return s;
}

#define MM_DIMS(n)                                                                          \
    const nb_tensor *a_ = (n)->in[0], *b_ = (n)->in[1];                                     \
    const int64_t M = a_->shape.d[a_->shape.ndim - 2], K = a_->shape.d[a_->shape.ndim - 1]; \
    const int64_t N = b_->shape.d[b_->shape.ndim - 1];                                      \
    const bool fold = b_->shape.ndim == 2;                                                  \
    const int64_t rows = fold ? (N ? (n)->out->numel / N : 0) : M /* a's batch folded into M */

/* nb_gemm_f32 or nb_gemm_f64 for the element type T (inside NB_FLOAT_DISPATCH) */
#define GEMM_T(T) _Generic((T)0, float : nb_gemm_f32, double : nb_gemm_f64)
#define GEMM_C0_T(T) _Generic((T)0, float : nb_gemm_c0_f32, double : nb_gemm_c0_f64)
#define GEMM_C0R_T(T) _Generic((T)0, float : nb_gemm_c0r_f32, double : nb_gemm_c0r_f64)
#define GEMM_RS_T(T) _Generic((T)0, float : nb_gemm_rs_f32, double : nb_gemm_rs_f64)
#define ROW_SUMS_T(T) _Generic((T)0, float : nb_gemm_row_sums_f32, double : nb_gemm_row_sums_f64)
#define VADD_T(T) _Generic((T)0, float : nb_vadd_f32, double : nb_vadd_f64)

static void mm_fwd(nb_node *n) {
    MM_DIMS(n);
    const nb_shape bshape = batch_of(n->out->shape);
    NB_FLOAT_DISPATCH(a_->dtype, T, {
        const T *A = (const T *)a_->data, *B = (const T *)b_->data;
        T *C = (T *)n->out->data;
        if (fold) {
            GEMM_T(T)(false, false, rows, N, K, 1, A, K, B, N, 0, C, N);
            return;
        }
        nb_bc bc;
        nb_bc_init(&bc, bshape, batch_of(a_->shape), batch_of(b_->shape));
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++)
                GEMM_T(T)
                (false, false, M, N, K, 1, A + (oa + j * sa) * M * K, K, B + (ob + j * sb) * K * N, N, 0,
                 C + (oo + j) * M * N, N);
        });
    });
}

static void mm_bwd(nb_node *n, const nb_tensor *g) {
    MM_DIMS(n);
    nb_tensor *gat = nb_grad_buf(n->in[0]), *gbt = nb_grad_buf(n->in[1]);
    const nb_shape bshape = batch_of(n->out->shape);
    NB_FLOAT_DISPATCH(a_->dtype, T, {
        const T *A = (const T *)a_->data, *B = (const T *)b_->data, *G = (const T *)g->data;
        T *GA = gat ? (T *)gat->data : NULL, *GB = gbt ? (T *)gbt->data : NULL;
        if (fold) {
            if (GA) GEMM_T(T)(false, true, rows, K, N, 1, G, N, B, N, 1, GA, K);
            if (GB) GEMM_T(T)(true, false, K, N, rows, 1, A, K, G, N, 1, GB, N);
            return;
        }
        nb_bc bc;
        nb_bc_init(&bc, bshape, batch_of(a_->shape), batch_of(b_->shape));
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++) {
                const T *Gj = G + (oo + j) * M * N;
                if (GA)
                    GEMM_T(T)
                    (false, true, M, K, N, 1, Gj, N, B + (ob + j * sb) * K * N, N, 1, GA + (oa + j * sa) * M * K, K);
                if (GB)
                    GEMM_T(T)
                    (true, false, K, N, M, 1, A + (oa + j * sa) * M * K, K, Gj, N, 1, GB + (ob + j * sb) * K * N, N);
            }
        });
    });
}

GG_FN(mm);
static const nb_op matmul_op = {"matmul", mm_fwd, mm_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, mm_bwg};

nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b) {
    nb_tensor *in[2] = {a, b};
    if (!nb_check_float_inputs("matmul", in, 2)) return NULL;
    char x[NB_DESCRIBE_LEN], y[NB_DESCRIBE_LEN];
    if (a->shape.ndim < 2 || b->shape.ndim < 2) {
        nb_fail(NB_ERR_SHAPE, "matmul", "both operands need at least 2 dims: %s, %s", nb_describe(a, "a", x, sizeof x),
                nb_describe(b, "b", y, sizeof y));
        return NULL;
    }
    int64_t K = a->shape.d[a->shape.ndim - 1];
    if (K != b->shape.d[b->shape.ndim - 2]) {
        nb_fail(NB_ERR_SHAPE, "matmul", "inner dimensions differ: %s, %s", nb_describe(a, "a", x, sizeof x),
                nb_describe(b, "b", y, sizeof y));
        return NULL;
    }
    nb_tensor ba = {.shape = batch_of(a->shape)}, bb = {.shape = batch_of(b->shape)};
    nb_shape s;
    if (!nb_broadcast_shape("matmul", &ba, &bb, &s)) return NULL;
    s.d[s.ndim++] = a->shape.d[a->shape.ndim - 2];
    s.d[s.ndim++] = b->shape.d[b->shape.ndim - 1];
    return nb_apply(&matmul_op, in, 2, s);
}

/* ------------------------------------------------------------ affine
 *
 * y = x·Wᵀ + b (PyTorch's F.linear), x (..., in), W (out, in), b (out) or
 * none: one GEMM with W read transposed in place (no copy of Wᵀ), the bias
 * written into y first and the product accumulated onto it (beta = 1).
 * Backward: dx += dy·W, dW += dyᵀ·x (both GEMMs, no transposes), db += the
 * column sums of dy. nn's Linear is this op. */

/* y = x·Wᵀ (+ b) (+ r): the bias and the residual r are added as the GEMM
 * stores its tiles (b a broadcast C0, r added last: r + (x·Wᵀ + b), the
 * bits of nb_add(r, nb_affine(x, w, b))) */
static void affine_run(nb_node *n, const nb_tensor *b, const nb_tensor *r) {
    const nb_tensor *x = n->in[0], *w = n->in[1];
    const int64_t O = w->shape.d[0], I = w->shape.d[1], rows = O ? n->out->numel / O : 0;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        T *Y = (T *)n->out->data;
        GEMM_C0R_T(T)
        (false, true, rows, O, I, 1, (const T *)x->data, I, (const T *)w->data, I, b ? 1 : 0,
         b ? (const T *)b->data : Y, b ? 0 : O, r ? (const T *)r->data : NULL, O, Y, O);
    });
}
static void affine_fwd(nb_node *n) { affine_run(n, n->nin > 2 ? n->in[2] : NULL, NULL); }

/* dW (+)= dyᵀ·x and db (+)= the column sums of dy. From NB_HALVES_MIN
 * rows on, as two sums over the halves of the rows: the first half's
 * product into dW (added to it when not fresh), the second's into a
 * scratch, then added; db's columns summed in row order over each half
 * (the first from db's value, the second from 0), then added. On two
 * threads each takes a half: each reads half of dy and x, which the
 * forward wrote long before (from memory, not cache), where the GEMM split
 * by rows of dW has both threads pack all of x, and db is summed as the dW
 * GEMM packs dyᵀ (nb_gemm_rs); dx's rows of the half (dy·W, one
 * GEMM per half, the rows' sums as in one GEMM) in the same task, so dy's
 * half is read from memory once for all three and the three products
 * have one join (the halves of NB_PAR_HALVES: the same bits on any thread
 * count); after a barrier both threads add the halves' dW, each a share of
 * its elements, in the same region (not on one thread after the join). False
 * (nothing done): short, or no scratch; the caller runs one GEMM each. */
#define AFFINE_SPLIT(T)                                                                                           \
    static void affine_half_##T(int part, int64_t O, int64_t I, int64_t rows, const T *G, const T *X, const T *W, \
                                T *GX, bool fx, T *GW, bool fresh, T *P, T *acc, const T *GB) {                   \
        const int64_t r0 = part ? rows / 2 : 0, r1 = part ? rows : rows / 2;                                      \
        if (GX) GEMM_T(T)(false, false, r1 - r0, I, O, 1, G + r0 * O, O, W, I, fx ? 0 : 1, GX + r0 * I, I);       \
        if (GB)                                                                                                   \
            for (int64_t j = 0; j < O; j++) acc[j] = part ? 0 : GB[j];                                            \
        if (GW) /* db's column sums of dy as the GEMM packs dyᵀ (in row order: a plain loop's bits) */          \
            GEMM_RS_T(T)                                                                                          \
        (true, false, O, I, r1 - r0, 1, G + r0 * O, O, X + r0 * I, I, part || fresh ? 0 : 1, part ? P : GW, I,    \
         GB ? acc : NULL);                                                                                        \
        else if (GB) ROW_SUMS_T(T)(true, O, r1 - r0, G + r0 * O, O, acc); }                                       \
    static bool affine_split_##T(int64_t O, int64_t I, int64_t rows, const T *G, const T *X, const T *W, T *GX,   \
                                 bool fx, T *GW, bool fresh, T *GB) {                                             \
        const int64_t OI = O * I;                                                                                 \
        if (rows < NB_HALVES_MIN || (!GW && !GB)) return false;                                                   \
        T *P = nb__scope_alloc(nb_scope_current(), (size_t)(OI + 2 * O) * sizeof(T)); /* all written below */     \
        if (!P) return false;                                                                                     \
        T *sb[2] = {P + OI, P + OI + O};                                                                          \
        const int nt = nb_par_threads(nb_get_num_threads(), (double)(OI + O) * rows) > 1 ? 2 : 1;                 \
        NB_PAR_REGION(nt, {                                                                                       \
            const int tid = NB_PAR_TID(nt), nth = NB_PAR_NTH(nt);                                                 \
            for (int part = tid; part < 2; part += nth)                                                           \
                affine_half_##T(part, O, I, rows, G, X, W, GX, fx, GW, fresh, P, sb[part], GB);                   \
            if (GW) { /* dW = first half + second, each thread a share of the elements once both are done */      \
                if (nth > 1) {                                                                                    \
                    NB_PAR_BARRIER();                                                                             \
                }                                                                                                 \
                int64_t lo, len;                                                                                  \
                nb_par_range(nt, OI, &lo, &len);                                                                  \
                VADD_T(T)(GW + lo, P + lo, len); /* GW[i] += P[i] */                                              \
            }                                                                                                     \
        });                                                                                                       \
        if (GB)                                                                                                   \
            for (int64_t j = 0; j < O; j++) GB[j] = sb[0][j] + sb[1][j];                                          \
        mu_scratch_done(P);                                                                                       \
        return true;                                                                                              \
    }
AFFINE_SPLIT(float)
AFFINE_SPLIT(double)

/* dx, dW, db of y = x·Wᵀ + b (b: NULL for none) from dy = g */
static void affine_grads(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_tensor *g) {
    const int64_t O = w->shape.d[0], I = w->shape.d[1], rows = O ? g->numel / O : 0;
    bool fx, fw; /* a new gradient buffer is written by the GEMM (beta 0), not zeroed and added to */
    nb_tensor *gx = nb__grad_buf_fresh(x, &fx), *gw = nb__grad_buf_fresh(w, &fw);
    nb_tensor *gb = b ? nb_grad_buf(b) : NULL;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = gx ? (T *)gx->data : NULL, *GW = gw ? (T *)gw->data : NULL, *GB = gb ? (T *)gb->data : NULL;
        if (_Generic((T)0, float
                     : affine_split_float, double
                     : affine_split_double)(O, I, rows, G, (const T *)x->data, (const T *)w->data, GX, fx, GW, fw, GB))
            gx = gw = gb = NULL; /* done */
        if (gx) GEMM_T(T)(false, false, rows, I, O, 1, G, O, (const T *)w->data, I, fx ? 0 : 1, GX, I);
        if (gw) GEMM_T(T)(true, false, O, I, rows, 1, G, O, (const T *)x->data, I, fw ? 0 : 1, GW, I);
        if (gb) { /* column sums in row order, in blocks of 64 columns split between threads: same bits */
            const int64_t nblk = (O + 63) / 64;
            const int nt = nb_par_clamp(nb_par_threads(nb_get_num_threads(), (double)rows * O * NB_COST_MEM), nblk);
            NB_PAR_FOR(nt, for (int64_t bk = 0; bk < nblk; bk++), {
                const int64_t j0 = bk * 64, nj = O - j0 < 64 ? O - j0 : 64;
                T acc[64];
                for (int64_t j = 0; j < nj; j++) acc[j] = GB[j0 + j];
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t j = 0; j < nj; j++) acc[j] += G[r * O + j0 + j];
                for (int64_t j = 0; j < nj; j++) GB[j0 + j] = acc[j];
            });
        }
    });
}

static void affine_bwd(nb_node *n, const nb_tensor *g) {
    affine_grads(n->in[0], n->in[1], n->nin > 2 ? n->in[2] : NULL, g);
}

GG_FN(affine);
static const nb_op affine_op = {"affine", affine_fwd, affine_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false, affine_bwg};

/* The result's shape (..., out) in *s, or false with the error raised
 * naming op and every operand: x (..., in), w (out, in), b (out) or NULL,
 * and r (affine_add; NULL for affine) the result's shape. */
static bool affine_shape(const char *op, const nb_tensor *x, const nb_tensor *w, const nb_tensor *b, const nb_tensor *r,
                         nb_shape *s) {
    bool ok = x->shape.ndim >= 1 && w->shape.ndim == 2 && x->shape.d[x->shape.ndim - 1] == w->shape.d[1] &&
        (!b || (b->shape.ndim == 1 && b->shape.d[0] == w->shape.d[0]));
    *s = x->shape;
    if (ok) s->d[s->ndim - 1] = w->shape.d[0];
    if (ok && (!r || nb_shape_eq(r->shape, *s))) return true;
    char d0[NB_DESCRIBE_LEN], d1[NB_DESCRIBE_LEN], d2[NB_DESCRIBE_LEN], d3[NB_DESCRIBE_LEN];
    nb_fail(NB_ERR_SHAPE, op, "expected x (..., in), w (out, in)%s%s: %s, %s%s%s%s%s", b ? ", b (out)" : "",
            r ? " and r (..., out) of the result's shape" : "", nb_describe(x, "x", d0, sizeof d0),
            nb_describe(w, "w", d1, sizeof d1), b ? ", " : "", b ? nb_describe(b, "b", d2, sizeof d2) : "",
            r ? ", " : "", r ? nb_describe(r, "r", d3, sizeof d3) : "");
    return false;
}

nb_tensor *nb_affine(nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    nb_tensor *in[3] = {x, w, b};
    nb_shape s;
    if (!nb_check_float_inputs("affine", in, b ? 3 : 2) || !affine_shape("affine", x, w, b, NULL, &s)) return NULL;
    return nb_apply(&affine_op, in, b ? 3 : 2, s);
}

/* ------------------------------------------------------------ affine_add
 *
 * y = r + (x·Wᵀ + b), a residual connection after a linear layer, as one
 * op: r is added as the GEMM stores its tiles, with the bits of
 * nb_add(r, nb_affine(x, w, b)); backward hands dy to r's gradient and runs
 * affine's backward on dy itself. Against the two ops this saves the add's
 * pass (read two tensors, write one) and a copy of dy. Inputs x, w, r, then
 * b when present. */

static void affine_add_fwd(nb_node *n) { affine_run(n, n->nin > 3 ? n->in[3] : NULL, n->in[2]); }
static void affine_add_bwd(nb_node *n, const nb_tensor *g) {
    if (n->in[2]->requires_grad) nb__grad_accum(n->in[2], g);
    affine_grads(n->in[0], n->in[1], n->nin > 3 ? n->in[3] : NULL, g);
}
GG_FN(affine_add);
static const nb_op affine_add_op = {"affine_add", affine_add_fwd, affine_add_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1),
                                    false,        affine_add_bwg};

nb_tensor *nb_affine_add(nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *r) {
    nb_tensor *in[4] = {x, w, r, b};
    nb_shape s;
    if (!nb_check_float_inputs("affine_add", in, b ? 4 : 3) || !affine_shape("affine_add", x, w, b, r, &s)) return NULL;
    return nb_apply(&affine_add_op, in, b ? 4 : 3, s);
}

/* ------------------------------------------------------------ registry */

static nb_tensor *matmul_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    (void)s;
    return nb_matmul(in[0], in[1]);
}

static int matmul_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape a, b;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 4), NB_SHAPE(4, 5), "2-D (3,4)@(4,5)"},
        {NB_SHAPE(1, 3), NB_SHAPE(3, 1), "row times column"},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(4, 2), "batched a, matrix b (folded)"},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(2, 4, 3), "batched both"},
        {NB_SHAPE(3, 1, 2, 3), NB_SHAPE(2, 3, 2), "batch dims broadcast"},
        {NB_SHAPE(2, 3), NB_SHAPE(2, 3, 2), "matrix a, batched b"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 2};
        s[k].in[0] = nb_sample_uniform(cases[i].a, -1, 1);
        s[k].in[1] = nb_sample_uniform(cases[i].b, -1, 1);
    }
    return k;
}

const nb_op_entry nb_entry_matmul = {"matmul", matmul_entry_apply, matmul_samples, 0, 0};

static nb_tensor *affine_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)s;
    return nb_affine(in[0], in[1], nin > 2 ? in[2] : NULL);
}

/* affine's samples (x, w, then b when present) and affine_add's (x, w, r,
 * then b; in the last case r needs no grad), drawn in that order */
static int affine_fill(nb_sample *s, int max, bool residual) {
    static const struct {
        nb_shape x;
        int64_t out;
        bool bias;
        const char *desc, *desc_r;
    } cases[] = {
        {NB_SHAPE(3, 4), 5, true, "(3,4) -> 5, bias", "(3,4) -> 5, bias"},
        {NB_SHAPE(3, 4), 5, false, "(3,4) -> 5, no bias", "(3,4) -> 5, no bias"},
        {NB_SHAPE(1, 6), 1, true, "batch of 1, one output", "batch of 1, one output"},
        {NB_SHAPE(2, 3, 4), 3, true, "(2,3,4): leading dims kept", "(2,3,4): leading dims kept"},
        {NB_SHAPE(4), 2, true, "1-D x", "1-D x, r needs no grad"},
    };
    const int nc = (int)(sizeof cases / sizeof cases[0]);
    int k = 0;
    for (int i = 0; i < nc && k < max; i++, k++) {
        const int64_t in = cases[i].x.d[cases[i].x.ndim - 1];
        nb_shape ys = cases[i].x;
        ys.d[ys.ndim - 1] = cases[i].out;
        s[k] = (nb_sample){.desc = residual ? cases[i].desc_r : cases[i].desc,
                           .nin = 2 + (int)cases[i].bias + (int)residual};
        s[k].in[0] = nb_sample_uniform(cases[i].x, -1, 1);
        s[k].in[1] = nb_sample_uniform(NB_SHAPE(cases[i].out, in), -1, 1);
        if (residual) s[k].in[2] = nb_sample_uniform(ys, -1, 1);
        if (cases[i].bias) s[k].in[2 + (int)residual] = nb_sample_uniform(NB_SHAPE(cases[i].out), -1, 1);
        if (residual && i == nc - 1) nb_set_requires_grad(s[k].in[2], false);
    }
    return k;
}
static int affine_samples(nb_sample *s, int max) { return affine_fill(s, max, false); }

const nb_op_entry nb_entry_affine = {"affine", affine_entry_apply, affine_samples, 0, 0};

static nb_tensor *affine_add_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)s;
    return nb_affine_add(in[0], in[1], nin > 3 ? in[3] : NULL, in[2]);
}

static int affine_add_samples(nb_sample *s, int max) { return affine_fill(s, max, true); }

const nb_op_entry nb_entry_affine_add = {"affine_add", affine_add_entry_apply, affine_add_samples, 0, 0};

/* ------------------------------------------------------------ differentiable backwards */

/* dA = dC·Bᵀ, dB = Aᵀ·dC, summed over broadcast batch dims */
GG_FN(mm) {
    nb_tensor *a = n->in[0], *b = n->in[1];
    if (GG_NEED(0)) gin[0] = gg_sum_to(nb_matmul(g, nb_transpose(b, -2, -1)), a->shape);
    if (GG_NEED(1)) gin[1] = gg_sum_to(nb_matmul(nb_transpose(a, -2, -1), g), b->shape);
}

/* dx = dy·W, dW = dyᵀ·x (rows flattened), db = Σ dy over rows (input ib) */
static void affine_graph(nb_node *n, nb_tensor *g, nb_tensor **gin, int ib) {
    nb_tensor *x = n->in[0], *w = n->in[1];
    const int64_t O = w->shape.d[0], I = w->shape.d[1], rows = O ? g->numel / O : 0;
    nb_tensor *g2 = nb_reshape(g, NB_SHAPE(rows, O));
    if (GG_NEED(0)) gin[0] = nb_reshape(nb_matmul(g2, w), x->shape);
    if (GG_NEED(1)) gin[1] = nb_matmul(nb_transpose(g2, 0, 1), nb_reshape(x, NB_SHAPE(rows, I)));
    if (n->nin > ib && GG_NEED(ib)) {
        const int axis0 = 0;
        gin[ib] = nb_sum(g2, &axis0, 1, false);
    }
}
GG_FN(affine) { affine_graph(n, g, gin, 2); }
/* affine's, and dr = dy */
GG_FN(affine_add) {
    affine_graph(n, g, gin, 3);
    if (GG_NEED(2)) gin[2] = g;
}
