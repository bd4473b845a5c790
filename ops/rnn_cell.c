/* ops/rnn_cell.c — the pointwise part of an LSTM and a GRU step as primitive
 * ops (nn/rnn.c composes them with one GEMM per step).
 *
 * Why primitives: composed from an add, slices, sigmoid, tanh and mul, the
 * pointwise part of one LSTM step is 13 nodes, each with its own output and
 * zero-filled gradient buffer; these ops make it 2 nodes (GRU: 1) that read
 * the two GEMMs' results (gx = x W_ihᵀ + b_ih, gh = h W_hhᵀ + b_hh) once and
 * keep the activations their backward needs.
 * tests/test_rnn.c checks each against that composition, the registry
 * gradchecks them and tests/fixtures/ref holds their PyTorch reference.
 *
 * Gate layout is PyTorch's: an LSTM's (B, 4H) pre-activations are the blocks
 * i, f, g, o of H columns each; a GRU's (B, 3H) are r, z, n. */
#include "../autograd/internal.h"
#include "grad_graph.h"
#include "kernels/vmath.h"

static char *desc(const nb_tensor *t, const char *name, char *buf) {
    return nb_describe(t, name, buf, NB_DESCRIBE_LEN);
}

/* gx, gh (B, k·H) and a state (B, H) of one dtype; returns H or -1. */
static int64_t check_gates(const char *op, nb_tensor *const *in, int k, const char *sname) {
    if (!nb_check_float_inputs(op, in, 3)) return -1;
    const nb_tensor *gx = in[0], *gh = in[1], *s = in[2];
    char a[NB_DESCRIBE_LEN], b[NB_DESCRIBE_LEN], c[NB_DESCRIBE_LEN];
    if (gx->shape.ndim != 2 || !nb_shape_eq(gx->shape, gh->shape) || s->shape.ndim != 2 ||
        s->shape.d[0] != gx->shape.d[0] || gx->shape.d[1] != (int64_t)k * s->shape.d[1]) {
        nb_fail(NB_ERR_SHAPE, op, "expects gx (B,%d*H), gh (B,%d*H) and %s (B,H): %s, %s, %s", k, k, sname,
                desc(gx, "gx", a), desc(gh, "gh", b), desc(s, sname, c));
        return -1;
    }
    return s->shape.d[1];
}

/* ------------------------------------------------------------ differentiable backwards */
/* The same formulas with nb_* ops (nb_op.backward_graph, second order):
 * gate j of (B, k·H) pre-activations is nb_slice(pre, 1, j·H, (j+1)·H). */

static nb_tensor *blk(nb_tensor *pre, int j, int64_t H) { return nb_slice(pre, 1, j * H, (j + 1) * H, 1); }
static nb_tensor *one_minus(nb_tensor *x) { return nb_add_scalar(nb_neg(x), 1.0); }
/* σ'(a) = σ(1 − σ), tanh'(a) = 1 − tanh² */
static nb_tensor *dsig(nb_tensor *s) { return nb_mul(s, one_minus(s)); }
static nb_tensor *dtanh(nb_tensor *t) { return one_minus(nb_mul(t, t)); }
static nb_tensor *cat4(nb_tensor *a, nb_tensor *b, nb_tensor *c, nb_tensor *d) {
    nb_tensor *ts[4] = {a, b, c, d};
    return nb_concat(ts, d ? 4 : 3, 1);
}

/* ------------------------------------------------------------ lstm_gate_c */

/* Forward: act (B, 3H) = σ(i), σ(f), tanh(g) of gx + gh per row, saved for
 * backward; c = σ(f)·c_prev + σ(i)·tanh(g). */
static void lstm_c_fwd(nb_node *n) {
    const nb_tensor *GX = n->in[0], *GH = n->in[1], *C0 = n->in[2];
    const int64_t B = GX->shape.d[0], H = C0->shape.d[1];
    nb_tensor *act = nb_node_save_new(n, GX->dtype, NB_SHAPE(B, 3 * H));
    NB_FLOAT_DISPATCH(GX->dtype, T, {
        const T *gx = (const T *)GX->data, *gh = (const T *)GH->data, *c0 = (const T *)C0->data;
        T *c = (T *)n->out->data, *a = (T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *xr = gx + b * 4 * H, *hr = gh + b * 4 * H;
            T *ar = a + b * 3 * H;
            for (int64_t j = 0; j < 3 * H; j++) ar[j] = xr[j] + hr[j];
            NB_VMATH_T(sigmoid, T, ar, ar, 2 * H);          /* σ(i), σ(f) */
            NB_VMATH_T(tanh, T, ar + 2 * H, ar + 2 * H, H); /* tanh(g)    */
            const T *si = ar, *sf = ar + H, *tg = ar + 2 * H, *cp = c0 + b * H;
            T *cr = c + b * H;
            for (int64_t j = 0; j < H; j++) cr[j] = sf[j] * cp[j] + si[j] * tg[j];
        }
    });
}

static void lstm_c_bwd(nb_node *n, const nb_tensor *gout) {
    const nb_tensor *C0 = n->in[2], *act = n->saved;
    nb_tensor *dGX = nb_grad_buf(n->in[0]), *dGH = nb_grad_buf(n->in[1]), *dC0 = nb_grad_buf(n->in[2]);
    const int64_t B = C0->shape.d[0], H = C0->shape.d[1];
    NB_FLOAT_DISPATCH(C0->dtype, T, {
        const T *dc = (const T *)gout->data, *c0 = (const T *)C0->data, *a = (const T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *si = a + b * 3 * H, *sf = si + H, *tg = si + 2 * H, *dcr = dc + b * H, *cp = c0 + b * H;
            T *gx = dGX ? (T *)dGX->data + b * 4 * H : NULL, *gh = dGH ? (T *)dGH->data + b * 4 * H : NULL;
            for (int64_t j = 0; j < H; j++) {
                const T di = dcr[j] * tg[j] * si[j] * (1 - si[j]); /* d(pre-activation i) */
                const T df = dcr[j] * cp[j] * sf[j] * (1 - sf[j]); /* f */
                const T dg = dcr[j] * si[j] * (1 - tg[j] * tg[j]); /* g */
                if (gx) gx[j] += di, gx[H + j] += df, gx[2 * H + j] += dg;
                if (gh) gh[j] += di, gh[H + j] += df, gh[2 * H + j] += dg;
            }
            if (dC0) {
                T *gc = (T *)dC0->data + b * H;
                for (int64_t j = 0; j < H; j++) gc[j] += dcr[j] * sf[j];
            }
        }
    });
}

GG_FN(lstm_c) {
    nb_tensor *c0 = n->in[2], *pre = nb_add(n->in[0], n->in[1]);
    const int64_t H = c0->shape.d[1];
    nb_tensor *si = nb_sigmoid(blk(pre, 0, H)), *sf = nb_sigmoid(blk(pre, 1, H)), *tg = nb_tanh(blk(pre, 2, H));
    if (GG_NEED(0) || GG_NEED(1)) {
        nb_tensor *di = nb_mul(nb_mul(g, tg), dsig(si)), *df = nb_mul(nb_mul(g, c0), dsig(sf));
        nb_tensor *dg = nb_mul(nb_mul(g, si), dtanh(tg));
        nb_tensor *dpre = cat4(di, df, dg, nb_zeros(c0->dtype, c0->shape));
        if (GG_NEED(0)) gin[0] = dpre;
        if (GG_NEED(1)) gin[1] = dpre;
    }
    if (GG_NEED(2)) gin[2] = nb_mul(g, sf);
}

/* backward reads c_prev and the saved activations, backward_graph every input */
#define SAVES_IN3 (NB_SAVES_IN(0) | NB_SAVES_IN(1) | NB_SAVES_IN(2))
static const nb_op lstm_c_op = {"lstm_gate_c", lstm_c_fwd, lstm_c_bwd, SAVES_IN3, false, lstm_c_bwg};

nb_tensor *nb_lstm_gate_c(nb_tensor *gx, nb_tensor *gh, nb_tensor *c_prev) {
    nb_tensor *in[3] = {gx, gh, c_prev};
    if (check_gates("lstm_gate_c", in, 4, "c_prev") < 0) return NULL;
    return nb_apply(&lstm_c_op, in, 3, c_prev->shape);
}

/* ------------------------------------------------------------ lstm_gate_h */

/* Forward: act (B, 2H) = σ(o), tanh(c) with o = gx_o + gh_o, saved;
 * h = σ(o)·tanh(c). */
static void lstm_h_fwd(nb_node *n) {
    const nb_tensor *GX = n->in[0], *GH = n->in[1], *C = n->in[2];
    const int64_t B = GX->shape.d[0], H = C->shape.d[1];
    nb_tensor *act = nb_node_save_new(n, GX->dtype, NB_SHAPE(B, 2 * H));
    NB_FLOAT_DISPATCH(GX->dtype, T, {
        const T *gx = (const T *)GX->data, *gh = (const T *)GH->data, *c = (const T *)C->data;
        T *h = (T *)n->out->data, *a = (T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            T *so = a + b * 2 * H, *tc = so + H, *hr = h + b * H;
            const T *xo = gx + b * 4 * H + 3 * H, *ho = gh + b * 4 * H + 3 * H;
            for (int64_t j = 0; j < H; j++) so[j] = xo[j] + ho[j];
            NB_VMATH_T(sigmoid, T, so, so, H);
            NB_VMATH_T(tanh, T, tc, c + b * H, H);
            for (int64_t j = 0; j < H; j++) hr[j] = so[j] * tc[j];
        }
    });
}

static void lstm_h_bwd(nb_node *n, const nb_tensor *gout) {
    const nb_tensor *C = n->in[2], *act = n->saved;
    nb_tensor *dGX = nb_grad_buf(n->in[0]), *dGH = nb_grad_buf(n->in[1]), *dC = nb_grad_buf(n->in[2]);
    const int64_t B = C->shape.d[0], H = C->shape.d[1];
    NB_FLOAT_DISPATCH(C->dtype, T, {
        const T *dh = (const T *)gout->data, *a = (const T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *so = a + b * 2 * H, *tc = so + H, *dhr = dh + b * H;
            T *gx = dGX ? (T *)dGX->data + b * 4 * H + 3 * H : NULL;
            T *gh = dGH ? (T *)dGH->data + b * 4 * H + 3 * H : NULL;
            for (int64_t j = 0; j < H; j++) {
                const T d = dhr[j] * tc[j] * so[j] * (1 - so[j]);
                if (gx) gx[j] += d;
                if (gh) gh[j] += d;
            }
            if (dC) {
                T *gc = (T *)dC->data + b * H;
                for (int64_t j = 0; j < H; j++) gc[j] += dhr[j] * so[j] * (1 - tc[j] * tc[j]);
            }
        }
    });
}

GG_FN(lstm_h) {
    nb_tensor *c = n->in[2];
    const int64_t H = c->shape.d[1];
    nb_tensor *so = nb_sigmoid(nb_slice(nb_add(n->in[0], n->in[1]), 1, 3 * H, 4 * H, 1)), *tc = nb_tanh(c);
    if (GG_NEED(0) || GG_NEED(1)) {
        nb_tensor *dpre[2] = {nb_zeros(c->dtype, NB_SHAPE(c->shape.d[0], 3 * H)), nb_mul(nb_mul(g, tc), dsig(so))};
        nb_tensor *d = nb_concat(dpre, 2, 1);
        if (GG_NEED(0)) gin[0] = d;
        if (GG_NEED(1)) gin[1] = d;
    }
    if (GG_NEED(2)) gin[2] = nb_mul(nb_mul(g, so), dtanh(tc));
}

/* backward reads only the saved activations, backward_graph every input */
static const nb_op lstm_h_op = {"lstm_gate_h", lstm_h_fwd, lstm_h_bwd, SAVES_IN3, false, lstm_h_bwg};

nb_tensor *nb_lstm_gate_h(nb_tensor *gx, nb_tensor *gh, nb_tensor *c) {
    nb_tensor *in[3] = {gx, gh, c};
    if (check_gates("lstm_gate_h", in, 4, "c") < 0) return NULL;
    return nb_apply(&lstm_h_op, in, 3, c->shape);
}

/* ------------------------------------------------------------ gru_gate_h */

/* Forward: act (B, 3H) = r, z, n, saved;
 * r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r·gh_n),
 * h = (1 − z)·n + z·h_prev. */
static void gru_fwd(nb_node *n) {
    const nb_tensor *GX = n->in[0], *GH = n->in[1], *H0 = n->in[2];
    const int64_t B = GX->shape.d[0], H = H0->shape.d[1];
    nb_tensor *act = nb_node_save_new(n, GX->dtype, NB_SHAPE(B, 3 * H));
    NB_FLOAT_DISPATCH(GX->dtype, T, {
        const T *gx = (const T *)GX->data, *gh = (const T *)GH->data, *h0 = (const T *)H0->data;
        T *h = (T *)n->out->data, *a = (T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *xr = gx + b * 3 * H, *hr = gh + b * 3 * H, *hp = h0 + b * H;
            T *ar = a + b * 3 * H, *out = h + b * H;
            for (int64_t j = 0; j < 2 * H; j++) ar[j] = xr[j] + hr[j];
            NB_VMATH_T(sigmoid, T, ar, ar, 2 * H); /* r, z */
            T *nn = ar + 2 * H;
            for (int64_t j = 0; j < H; j++) nn[j] = xr[2 * H + j] + ar[j] * hr[2 * H + j];
            NB_VMATH_T(tanh, T, nn, nn, H);
            const T *z = ar + H;
            for (int64_t j = 0; j < H; j++) out[j] = nn[j] + z[j] * (hp[j] - nn[j]); /* PyTorch's rounding order */
        }
    });
}

static void gru_bwd(nb_node *n, const nb_tensor *gout) {
    const nb_tensor *GH = n->in[1], *H0 = n->in[2], *act = n->saved;
    nb_tensor *dGX = nb_grad_buf(n->in[0]), *dGH = nb_grad_buf(n->in[1]), *dH0 = nb_grad_buf(n->in[2]);
    const int64_t B = H0->shape.d[0], H = H0->shape.d[1];
    NB_FLOAT_DISPATCH(H0->dtype, T, {
        const T *dh = (const T *)gout->data, *gh = (const T *)GH->data, *h0 = (const T *)H0->data;
        const T *a = (const T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *r = a + b * 3 * H, *z = r + H, *nn = r + 2 * H, *hp = h0 + b * H, *dhr = dh + b * H;
            const T *ghn = gh + b * 3 * H + 2 * H;
            T *gxr = dGX ? (T *)dGX->data + b * 3 * H : NULL, *ghr = dGH ? (T *)dGH->data + b * 3 * H : NULL;
            for (int64_t j = 0; j < H; j++) {
                const T dn = dhr[j] * (1 - z[j]), dz = dhr[j] * (hp[j] - nn[j]);
                const T dan = dn * (1 - nn[j] * nn[j]);         /* d(gx_n + r·gh_n) */
                const T dar = dan * ghn[j] * r[j] * (1 - r[j]); /* d(gx_r + gh_r)  */
                const T daz = dz * z[j] * (1 - z[j]);           /* d(gx_z + gh_z)  */
                if (gxr) {
                    gxr[j] += dar;
                    gxr[H + j] += daz;
                    gxr[2 * H + j] += dan;
                }
                if (ghr) {
                    ghr[j] += dar;
                    ghr[H + j] += daz;
                    ghr[2 * H + j] += dan * r[j];
                }
            }
            if (dH0) {
                T *g0 = (T *)dH0->data + b * H;
                for (int64_t j = 0; j < H; j++) g0[j] += dhr[j] * z[j];
            }
        }
    });
}

GG_FN(gru) {
    nb_tensor *gx = n->in[0], *gh = n->in[1], *h0 = n->in[2];
    const int64_t H = h0->shape.d[1];
    nb_tensor *r = nb_sigmoid(nb_add(blk(gx, 0, H), blk(gh, 0, H)));
    nb_tensor *z = nb_sigmoid(nb_add(blk(gx, 1, H), blk(gh, 1, H)));
    nb_tensor *hn = blk(gh, 2, H), *nn = nb_tanh(nb_add(blk(gx, 2, H), nb_mul(r, hn)));
    nb_tensor *dan = nb_mul(nb_mul(g, one_minus(z)), dtanh(nn)); /* d(gx_n + r·gh_n) */
    nb_tensor *dar = nb_mul(nb_mul(dan, hn), dsig(r));           /* d(gx_r + gh_r)  */
    nb_tensor *daz = nb_mul(nb_mul(g, nb_sub(h0, nn)), dsig(z)); /* d(gx_z + gh_z)  */
    if (GG_NEED(0)) gin[0] = cat4(dar, daz, dan, NULL);
    if (GG_NEED(1)) gin[1] = cat4(dar, daz, nb_mul(dan, r), NULL);
    if (GG_NEED(2)) gin[2] = nb_mul(g, z);
}

/* backward reads gh (for gh_n), h_prev and the saved activations,
 * backward_graph every input */
static const nb_op gru_op = {"gru_gate_h", gru_fwd, gru_bwd, SAVES_IN3, false, gru_bwg};

nb_tensor *nb_gru_gate_h(nb_tensor *gx, nb_tensor *gh, nb_tensor *h_prev) {
    nb_tensor *in[3] = {gx, gh, h_prev};
    if (check_gates("gru_gate_h", in, 3, "h_prev") < 0) return NULL;
    return nb_apply(&gru_op, in, 3, h_prev->shape);
}

/* ------------------------------------------------------------ registry */

/* Pre-activations gx + gh in [-3.5, 3.5] reach both tails of σ and tanh;
 * states in [-1.5, 1.5]. No kinks. */
static const struct {
    int64_t B, H;
    const char *desc;
} cell_cases[] = {
    {2, 3, "B 2 H 3"},
    {1, 1, "B 1 H 1"},
    {3, 5, "B 3 H 5"},
    {4, 2, "B 4 H 2"},
};
#define NCASES ((int)(sizeof cell_cases / sizeof cell_cases[0]))

static nb_tensor *lstm_c_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_lstm_gate_c(in[0], in[1], in[2]);
}
static nb_tensor *lstm_h_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_lstm_gate_h(in[0], in[1], in[2]);
}
/* gx, gh (B, G·H) and a state (B, H) */
static int gate_samples(nb_sample *s, int max, int G) {
    int k = 0;
    for (int c = 0; c < NCASES && k < max; c++, k++) {
        const int64_t B = cell_cases[c].B, H = cell_cases[c].H;
        s[k] = (nb_sample){.desc = cell_cases[c].desc, .nin = 3};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(B, G * H), -2, 2);
        s[k].in[1] = nb_sample_uniform(NB_SHAPE(B, G * H), -1.5, 1.5);
        s[k].in[2] = nb_sample_uniform(NB_SHAPE(B, H), -1.5, 1.5);
    }
    return k;
}
static int lstm_samples(nb_sample *s, int max) { return gate_samples(s, max, 4); }
const nb_op_entry nb_entry_lstm_gate_c = {"lstm_gate_c", lstm_c_entry_apply, lstm_samples, 0, 0};
const nb_op_entry nb_entry_lstm_gate_h = {"lstm_gate_h", lstm_h_entry_apply, lstm_samples, 0, 0};

static nb_tensor *gru_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_gru_gate_h(in[0], in[1], in[2]);
}
static int gru_samples(nb_sample *s, int max) { return gate_samples(s, max, 3); }
const nb_op_entry nb_entry_gru_gate_h = {"gru_gate_h", gru_entry_apply, gru_samples, 0, 0};
