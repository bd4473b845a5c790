/* ops/rnn_cell.c — the pointwise part of an LSTM and a GRU step as primitive
 * ops (nn/rnn.c composes them with one GEMM per step).
 *
 * Why primitives: composed from slices, sigmoid, tanh, mul and add, one LSTM
 * step is 13 nodes, each with its own output and zero-filled gradient buffer
 * over (B, H); these ops make it 2 nodes (GRU: 1) that read the gate
 * pre-activations once and keep the activations their backward needs.
 * tests/test_rnn.c checks each against that composition, the registry
 * gradchecks them and tests/fixtures/ref holds their PyTorch reference.
 *
 * Gate layout is PyTorch's: an LSTM's (B, 4H) pre-activations are the blocks
 * i, f, g, o of H columns each; a GRU's (B, 3H) are r, z, n. */
#include "../autograd/internal.h"
#include "kernels/vmath.h"

static char *desc(const nb_tensor *t, const char *name, char *buf) { return nb_describe(t, name, buf, NB_DESCRIBE_LEN); }

/* gates (B, k·H) and a state (B, H) of the same dtype; returns H or -1. */
static int64_t check_gates(const char *op, nb_tensor *const *in, int k, const char *gname, const char *sname) {
    if (!nb_check_float_inputs(op, in, 2)) return -1;
    const nb_tensor *g = in[0], *s = in[1];
    char a[NB_DESCRIBE_LEN], b[NB_DESCRIBE_LEN];
    if (g->shape.ndim != 2 || s->shape.ndim != 2 || s->shape.d[0] != g->shape.d[0] ||
        g->shape.d[1] != (int64_t)k * s->shape.d[1]) {
        nb_fail(NB_ERR_SHAPE, op, "expects %s (B,%d*H) and %s (B,H): %s, %s", gname, k, sname, desc(g, gname, a),
                desc(s, sname, b));
        return -1;
    }
    return s->shape.d[1];
}

/* ------------------------------------------------------------ lstm_gate_c */

/* Forward: act (B, 3H) = σ(i), σ(f), tanh(g) per row, saved for backward;
 * c = σ(f)·c_prev + σ(i)·tanh(g). */
static void lstm_c_fwd(nb_node *n) {
    const nb_tensor *G = n->in[0], *C0 = n->in[1];
    const int64_t B = G->shape.d[0], H = C0->shape.d[1];
    nb_tensor *act = nb_node_save_new(n, G->dtype, NB_SHAPE(B, 3 * H));
    NB_FLOAT_DISPATCH(G->dtype, T, {
        const T *g = (const T *)G->data, *c0 = (const T *)C0->data;
        T *c = (T *)n->out->data, *a = (T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *gr = g + b * 4 * H;
            T *ar = a + b * 3 * H;
            NB_VMATH_T(sigmoid, T, ar, gr, 2 * H);           /* σ(i), σ(f) */
            NB_VMATH_T(tanh, T, ar + 2 * H, gr + 2 * H, H);  /* tanh(g)    */
            const T *si = ar, *sf = ar + H, *tg = ar + 2 * H, *cp = c0 + b * H;
            T *cr = c + b * H;
            for (int64_t j = 0; j < H; j++) cr[j] = sf[j] * cp[j] + si[j] * tg[j];
        }
    });
}

static void lstm_c_bwd(nb_node *n, const nb_tensor *gout) {
    const nb_tensor *C0 = n->in[1], *act = n->saved;
    nb_tensor *dG = nb_grad_buf(n->in[0]), *dC0 = nb_grad_buf(n->in[1]);
    const int64_t B = C0->shape.d[0], H = C0->shape.d[1];
    NB_FLOAT_DISPATCH(C0->dtype, T, {
        const T *dc = (const T *)gout->data, *c0 = (const T *)C0->data, *a = (const T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *si = a + b * 3 * H, *sf = si + H, *tg = si + 2 * H, *dcr = dc + b * H, *cp = c0 + b * H;
            if (dG) {
                T *gi = (T *)dG->data + b * 4 * H, *gf = gi + H, *gg = gi + 2 * H;
                for (int64_t j = 0; j < H; j++) {
                    gi[j] += dcr[j] * tg[j] * si[j] * (1 - si[j]);
                    gf[j] += dcr[j] * cp[j] * sf[j] * (1 - sf[j]);
                    gg[j] += dcr[j] * si[j] * (1 - tg[j] * tg[j]);
                }
            }
            if (dC0) {
                T *gc = (T *)dC0->data + b * H;
                for (int64_t j = 0; j < H; j++) gc[j] += dcr[j] * sf[j];
            }
        }
    });
}

/* backward reads c_prev and the saved activations */
static const nb_op lstm_c_op = {"lstm_gate_c", lstm_c_fwd, lstm_c_bwd, NB_SAVES_IN(1), false, NULL};

nb_tensor *nb_lstm_gate_c(nb_tensor *gates, nb_tensor *c_prev) {
    nb_tensor *in[2] = {gates, c_prev};
    const int64_t H = check_gates("lstm_gate_c", in, 4, "gates", "c_prev");
    if (H < 0) return NULL;
    return nb_apply(&lstm_c_op, in, 2, c_prev->shape);
}

/* ------------------------------------------------------------ lstm_gate_h */

/* Forward: act (B, 2H) = σ(o), tanh(c), saved; h = σ(o)·tanh(c). */
static void lstm_h_fwd(nb_node *n) {
    const nb_tensor *G = n->in[0], *C = n->in[1];
    const int64_t B = G->shape.d[0], H = C->shape.d[1];
    nb_tensor *act = nb_node_save_new(n, G->dtype, NB_SHAPE(B, 2 * H));
    NB_FLOAT_DISPATCH(G->dtype, T, {
        const T *g = (const T *)G->data, *c = (const T *)C->data;
        T *h = (T *)n->out->data, *a = (T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            T *so = a + b * 2 * H, *tc = so + H, *hr = h + b * H;
            NB_VMATH_T(sigmoid, T, so, g + b * 4 * H + 3 * H, H);
            NB_VMATH_T(tanh, T, tc, c + b * H, H);
            for (int64_t j = 0; j < H; j++) hr[j] = so[j] * tc[j];
        }
    });
}

static void lstm_h_bwd(nb_node *n, const nb_tensor *gout) {
    const nb_tensor *C = n->in[1], *act = n->saved;
    nb_tensor *dG = nb_grad_buf(n->in[0]), *dC = nb_grad_buf(n->in[1]);
    const int64_t B = C->shape.d[0], H = C->shape.d[1];
    NB_FLOAT_DISPATCH(C->dtype, T, {
        const T *dh = (const T *)gout->data, *a = (const T *)act->data;
        for (int64_t b = 0; b < B; b++) {
            const T *so = a + b * 2 * H, *tc = so + H, *dhr = dh + b * H;
            if (dG) {
                T *go = (T *)dG->data + b * 4 * H + 3 * H;
                for (int64_t j = 0; j < H; j++) go[j] += dhr[j] * tc[j] * so[j] * (1 - so[j]);
            }
            if (dC) {
                T *gc = (T *)dC->data + b * H;
                for (int64_t j = 0; j < H; j++) gc[j] += dhr[j] * so[j] * (1 - tc[j] * tc[j]);
            }
        }
    });
}

/* backward reads only the saved activations */
static const nb_op lstm_h_op = {"lstm_gate_h", lstm_h_fwd, lstm_h_bwd, NB_SAVES_NOTHING, false, NULL};

nb_tensor *nb_lstm_gate_h(nb_tensor *gates, nb_tensor *c) {
    nb_tensor *in[2] = {gates, c};
    const int64_t H = check_gates("lstm_gate_h", in, 4, "gates", "c");
    if (H < 0) return NULL;
    return nb_apply(&lstm_h_op, in, 2, c->shape);
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
            for (int64_t j = 0; j < H; j++) out[j] = (1 - z[j]) * nn[j] + z[j] * hp[j];
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
                const T dan = dn * (1 - nn[j] * nn[j]);           /* d(gx_n + r·gh_n) */
                const T dar = dan * ghn[j] * r[j] * (1 - r[j]);   /* d(gx_r + gh_r)  */
                const T daz = dz * z[j] * (1 - z[j]);             /* d(gx_z + gh_z)  */
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

/* backward reads gh (for gh_n), h_prev and the saved activations */
static const nb_op gru_op = {"gru_gate_h", gru_fwd, gru_bwd, NB_SAVES_IN(1) | NB_SAVES_IN(2), false, NULL};

nb_tensor *nb_gru_gate_h(nb_tensor *gx, nb_tensor *gh, nb_tensor *h_prev) {
    nb_tensor *in[3] = {gx, gh, h_prev};
    if (!nb_check_float_inputs("gru_gate_h", in, 3)) return NULL;
    char a[NB_DESCRIBE_LEN], b[NB_DESCRIBE_LEN], c[NB_DESCRIBE_LEN];
    if (gx->shape.ndim != 2 || !nb_shape_eq(gx->shape, gh->shape) || h_prev->shape.ndim != 2 ||
        h_prev->shape.d[0] != gx->shape.d[0] || gx->shape.d[1] != 3 * h_prev->shape.d[1]) {
        nb_fail(NB_ERR_SHAPE, "gru_gate_h", "expects gx (B,3*H), gh (B,3*H) and h_prev (B,H): %s, %s, %s",
                desc(gx, "gx", a), desc(gh, "gh", b), desc(h_prev, "h_prev", c));
        return NULL;
    }
    return nb_apply(&gru_op, in, 3, h_prev->shape);
}

/* ------------------------------------------------------------ registry */

/* Pre-activations in [-3, 3] reach both tails of σ and tanh; states in
 * [-1.5, 1.5]. No kinks. */
static const struct { int64_t B, H; const char *desc; } cell_cases[] = {
    {2, 3, "B 2 H 3"},
    {1, 1, "B 1 H 1"},
    {3, 5, "B 3 H 5"},
    {4, 2, "B 4 H 2"},
};
#define NCASES ((int)(sizeof cell_cases / sizeof cell_cases[0]))

static nb_tensor *lstm_c_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_lstm_gate_c(in[0], in[1]);
}
static nb_tensor *lstm_h_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_lstm_gate_h(in[0], in[1]);
}
static int lstm_samples(nb_sample *s, int max) {
    int k = 0;
    for (int c = 0; c < NCASES && k < max; c++, k++) {
        const int64_t B = cell_cases[c].B, H = cell_cases[c].H;
        s[k] = (nb_sample){.desc = cell_cases[c].desc, .nin = 2};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(B, 4 * H), -3, 3);
        s[k].in[1] = nb_sample_uniform(NB_SHAPE(B, H), -1.5, 1.5);
    }
    return k;
}
const nb_op_entry nb_entry_lstm_gate_c = {"lstm_gate_c", lstm_c_entry_apply, lstm_samples, 0, 0};
const nb_op_entry nb_entry_lstm_gate_h = {"lstm_gate_h", lstm_h_entry_apply, lstm_samples, 0, 0};

static nb_tensor *gru_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_gru_gate_h(in[0], in[1], in[2]);
}
static int gru_samples(nb_sample *s, int max) {
    int k = 0;
    for (int c = 0; c < NCASES && k < max; c++, k++) {
        const int64_t B = cell_cases[c].B, H = cell_cases[c].H;
        s[k] = (nb_sample){.desc = cell_cases[c].desc, .nin = 3};
        s[k].in[0] = nb_sample_uniform(NB_SHAPE(B, 3 * H), -3, 3);
        s[k].in[1] = nb_sample_uniform(NB_SHAPE(B, 3 * H), -3, 3);
        s[k].in[2] = nb_sample_uniform(NB_SHAPE(B, H), -1.5, 1.5);
    }
    return k;
}
const nb_op_entry nb_entry_gru_gate_h = {"gru_gate_h", gru_entry_apply, gru_samples, 0, 0};
