/* nn/rnn.c — RNN, LSTM, GRU and their cells: compositions of ops.
 *
 * Per layer and direction the input projection of all T steps is ONE GEMM
 * (nb_affine over (T, B, in)); each step is then a view of it (nb_select), one GEMM
 * h·W_hhᵀ + b_hh, and the gate op(s) of ops/rnn_cell.c: 4 nodes per LSTM
 * step (slice, affine, gate_c, gate_h), 3 per GRU step, 4 per RNN step. Variable lengths mask the state update with nb_where, so the tape
 * holds exactly PyTorch's packed-sequence computation. LSTM and GRU layers
 * with full lengths run each direction's recurrence as one op instead
 * (nb_lstm_seq / nb_gru_seq, ops/rnn_seq.c: the same arithmetic, W_hh packed
 * once per sequence, dW_hh as one GEMM over the steps). */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>

typedef enum { MODE_RNN, MODE_LSTM, MODE_GRU } rnn_mode;

typedef struct {
    rnn_mode mode;
    int64_t in, H;
    int L, D, G, P; /* layers, directions, gate blocks, parameters per (layer, direction) */
    bool cell;
    nb_rnn_opts o;
} rnn_cfg;

static const char *mode_name(rnn_mode m, bool cell) {
    static const char *const names[2][3] = {{"RNN", "LSTM", "GRU"}, {"RNNCell", "LSTMCell", "GRUCell"}};
    return names[cell][m];
}

#define WHO_LEN (NB_MOD_PATH_MAX + NB_MOD_DESC_MAX + 8)
/* "'path' LSTM(...)" prefix for messages. */
static const char *who(const nb_module *m, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s%s", m->path[0] ? "'" : "", m->path, m->path[0] ? "' " : "", m->desc);
    return buf;
}

/* ------------------------------------------------------------ construction */

static nb_tensor *rnn_forward_default(nb_module *m, nb_tensor *x);
static nb_tensor *cell_forward_default(nb_module *m, nb_tensor *x);

static nb_module *make(rnn_mode mode, bool cell, int64_t in, int64_t H, int L, const nb_rnn_opts *op) {
    const char *name = mode_name(mode, cell);
    nb_rnn_opts o = op ? *op : (nb_rnn_opts){0};
    if (in <= 0 || H <= 0) {
        nb_fail(NB_ERR_ARG, name, "input_size and hidden_size must be > 0, got %lld and %lld", (long long)in,
                (long long)H);
        return NULL;
    }
    if (L < 1) {
        nb_fail(NB_ERR_ARG, name, "num_layers must be >= 1, got %d", L);
        return NULL;
    }
    if (!(o.dropout >= 0 && o.dropout < 1)) {
        nb_fail(NB_ERR_ARG, name, "dropout (the drop probability) must be in [0, 1), got %g", o.dropout);
        return NULL;
    }
    if (o.nonlinearity != NB_RNN_TANH && o.nonlinearity != NB_RNN_RELU) {
        nb_fail(NB_ERR_ARG, name, "nonlinearity must be NB_RNN_TANH or NB_RNN_RELU, got %d", (int)o.nonlinearity);
        return NULL;
    }
    if (mode != MODE_RNN && o.nonlinearity != NB_RNN_TANH) {
        nb_fail(NB_ERR_ARG, name, "has no nonlinearity option (it is RNN's)");
        return NULL;
    }
    if (cell && (o.bidirectional || o.batch_first || o.dropout > 0)) {
        nb_fail(NB_ERR_ARG, name, "a cell takes one step: bidirectional, batch_first and dropout don't apply");
        return NULL;
    }
    const int G = mode == MODE_LSTM ? 4 : mode == MODE_GRU ? 3 : 1;
    if (H > INT64_MAX / 4 / (in > H ? in : H) || in > INT64_MAX / 8) {
        nb_fail(NB_ERR_ARG, name, "sizes too large: input_size %lld, hidden_size %lld", (long long)in, (long long)H);
        return NULL;
    }
    char desc[NB_MOD_DESC_MAX];
    int k = snprintf(desc, sizeof desc, "%s(%lld, %lld", name, (long long)in, (long long)H);
    if (!cell && L != 1) k += snprintf(desc + k, sizeof desc - (size_t)k, ", num_layers=%d", L);
    if (o.no_bias) k += snprintf(desc + k, sizeof desc - (size_t)k, ", bias=false");
    if (o.nonlinearity == NB_RNN_RELU) k += snprintf(desc + k, sizeof desc - (size_t)k, ", nonlinearity=relu");
    if (o.batch_first) k += snprintf(desc + k, sizeof desc - (size_t)k, ", batch_first=true");
    if (o.dropout > 0) k += snprintf(desc + k, sizeof desc - (size_t)k, ", dropout=%g", o.dropout);
    if (o.bidirectional) k += snprintf(desc + k, sizeof desc - (size_t)k, ", bidirectional=true");
    snprintf(desc + k, sizeof desc - (size_t)k, ")");

    nb_module *m = nb__layer_new(name, cell ? cell_forward_default : rnn_forward_default, sizeof(rnn_cfg), "%s", desc);
    if (!m) return NULL;
    rnn_cfg *c = m->data;
    *c = (rnn_cfg){mode, in, H, cell ? 1 : L, o.bidirectional ? 2 : 1, G, o.no_bias ? 2 : 4, cell, o};
    const double bound = 1.0 / sqrt((double)H);
    for (int l = 0; l < c->L; l++)
        for (int d = 0; d < c->D; d++) {
            char sfx[32], pn[NB_NAME_MAX];
            if (cell) sfx[0] = 0;
            else snprintf(sfx, sizeof sfx, "_l%d%s", l, d ? "_reverse" : "");
            const int64_t lin = l == 0 ? in : c->D * H;
            static const char *const base[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
            const nb_shape shapes[4] = {NB_SHAPE(G * H, lin), NB_SHAPE(G * H, H), NB_SHAPE(G * H), NB_SHAPE(G * H)};
            for (int j = 0; j < c->P; j++) {
                snprintf(pn, sizeof pn, "%s%s", base[j], sfx);
                nb_tensor *p = nb_module_add_param(m, pn, nb__persistent_zeros(NB_F32, shapes[j]));
                if (!p) {
                    nb_module_free(m);
                    return NULL;
                }
                nb_init_uniform(p, -bound, bound);
            }
        }
    return m;
}

nb_module *nb_rnn(int64_t in, int64_t H, int L, const nb_rnn_opts *o) { return make(MODE_RNN, false, in, H, L, o); }
nb_module *nb_lstm(int64_t in, int64_t H, int L, const nb_rnn_opts *o) { return make(MODE_LSTM, false, in, H, L, o); }
nb_module *nb_gru(int64_t in, int64_t H, int L, const nb_rnn_opts *o) { return make(MODE_GRU, false, in, H, L, o); }
nb_module *nb_rnn_cell(int64_t in, int64_t H, const nb_rnn_opts *o) { return make(MODE_RNN, true, in, H, 1, o); }
nb_module *nb_lstm_cell(int64_t in, int64_t H, const nb_rnn_opts *o) { return make(MODE_LSTM, true, in, H, 1, o); }
nb_module *nb_gru_cell(int64_t in, int64_t H, const nb_rnn_opts *o) { return make(MODE_GRU, true, in, H, 1, o); }

/* The recurrent layers and cells are recognised by their forward function. */
static const rnn_cfg *cfg_of(nb_module *m, bool cell, const char *fn) {
    if (m && m->forward == (cell ? cell_forward_default : rnn_forward_default)) return m->data;
    nb_fail(NB_ERR_ARG, fn, "%s is not %s", m ? m->desc : "NULL module",
            cell ? "an RNNCell, LSTMCell or GRUCell" : "an RNN, LSTM or GRU layer");
    return NULL;
}

/* ------------------------------------------------------------ one step */

/* xp: x·W_ihᵀ + b_ih (B, G·H); h, c: the state (c LSTM only). Returns h'
 * and sets *c_new (LSTM). w = the (layer, direction)'s first parameter.
 * h_zero: h is all zeros (no h0 given, first step), so h·W_hhᵀ is skipped. */
static nb_tensor *step(const rnn_cfg *cf, nb_module *m, int w, nb_tensor *xp, nb_tensor *h, nb_tensor *c, bool h_zero,
                       nb_tensor **c_new) {
    nb_tensor *bhh = cf->P == 4 ? nb_module_param(m, w + 3) : NULL;
    nb_tensor *hh = h_zero ? NULL : nb_affine(h, nb_module_param(m, w + 1), bhh);
    switch (cf->mode) {
    case MODE_LSTM:
        if (!hh) hh = bhh ? nb_expand(bhh, xp->shape) : nb_zeros(xp->dtype, xp->shape);
        *c_new = nb_lstm_gate_c(xp, hh, c);
        return nb_lstm_gate_h(xp, hh, *c_new);
    case MODE_GRU:
        if (!hh) hh = bhh ? nb_expand(bhh, xp->shape) : nb_zeros(xp->dtype, xp->shape);
        return nb_gru_gate_h(xp, hh, h);
    default: {
        nb_tensor *a = hh ? nb_add(xp, hh) : bhh ? nb_add(xp, bhh) : xp;
        return cf->o.nonlinearity == NB_RNN_RELU ? nb_relu(a) : nb_tanh(a);
    }
    }
}

/* ------------------------------------------------------------ layers */

static bool check_state(nb_module *m, const char *arg, nb_tensor *s, nb_shape want, nb_dtype dt) {
    char w[WHO_LEN], e[NB_SHAPE_STRLEN], d[NB_DESCRIBE_LEN];
    if (!nb_shape_eq(s->shape, want)) {
        nb_fail(NB_ERR_SHAPE, m->type, "%s expects %s of shape %s; %s", who(m, w, sizeof w), arg,
                nb_shape_str(want, e, sizeof e), nb_describe(s, arg, d, sizeof d));
        return false;
    }
    if (s->dtype != dt) {
        nb_fail(NB_ERR_DTYPE, m->type, "%s computes in %s; %s is %s", who(m, w, sizeof w), nb_dtype_name(dt), arg,
                nb_dtype_name(s->dtype));
        return false;
    }
    return true;
}

/* State k (of L·D) of h0/c0 (L·D, B, H) as a (B, H) view, or zeros. */
static nb_tensor *state_at(nb_tensor *s0, int k, int64_t B, int64_t H, nb_dtype dt) {
    return s0 ? nb_select(s0, 0, k) : nb_zeros(dt, NB_SHAPE(B, H));
}

nb_tensor *nb_rnn_forward(nb_module *m, nb_tensor *x, nb_tensor *h0, nb_tensor *c0, const int64_t *lengths,
                          nb_tensor **hn, nb_tensor **cn) {
    if (hn) *hn = NULL;
    if (cn) *cn = NULL;
    const rnn_cfg *cf = cfg_of(m, false, "rnn_forward");
    if (!cf || !x) return NULL;
    char w[WHO_LEN], e[64];
    const int64_t H = cf->H;
    const int L = cf->L, D = cf->D;
    snprintf(e, sizeof e, cf->o.batch_first ? "(B,T,%lld) or (T,%lld)" : "(T,B,%lld) or (T,%lld)", (long long)cf->in,
             (long long)cf->in);
    if (!nb__check_input(m, x, 2, 3, e)) return NULL;
    if (x->shape.d[x->shape.ndim - 1] != cf->in || x->numel == 0) {
        nb_module_fail_shape(m, e, x);
        return NULL;
    }
    const nb_dtype dt = x->dtype;
    const bool unbatched = x->shape.ndim == 2;
    const int64_t T = unbatched || !cf->o.batch_first ? x->shape.d[0] : x->shape.d[1];
    const int64_t B = unbatched ? 1 : cf->o.batch_first ? x->shape.d[0] : x->shape.d[1];
    const nb_shape sshape = unbatched ? NB_SHAPE(L * D, H) : NB_SHAPE(L * D, B, H);
    if (h0 && !check_state(m, "h0", h0, sshape, dt)) return NULL;
    if (c0 && cf->mode != MODE_LSTM) {
        nb_fail(NB_ERR_ARG, m->type, "%s has no cell state: c0 must be NULL", who(m, w, sizeof w));
        return NULL;
    }
    if (c0 && !check_state(m, "c0", c0, sshape, dt)) return NULL;
    bool all_full = true;
    if (lengths)
        for (int64_t b = 0; b < B; b++) {
            if (lengths[b] < 1 || lengths[b] > T) {
                char xs[NB_DESCRIBE_LEN];
                nb_fail(NB_ERR_ARG, m->type, "%s: lengths[%lld] = %lld is outside [1, T = %lld]; %s",
                        who(m, w, sizeof w), (long long)b, (long long)lengths[b], (long long)T,
                        nb_describe(x, "x", xs, sizeof xs));
                return NULL;
            }
            if (lengths[b] != T) all_full = false;
        }
    if (all_full) lengths = NULL;

    /* Time-major (T, B, in) inside. */
    nb_tensor *X = unbatched ? nb_reshape(x, NB_SHAPE(T, 1, cf->in)) : cf->o.batch_first ? nb_transpose(x, 0, 1) : x;
    nb_tensor *H0 = h0 && unbatched ? nb_reshape(h0, NB_SHAPE(L * D, 1, H)) : h0;
    nb_tensor *C0 = c0 && unbatched ? nb_reshape(c0, NB_SHAPE(L * D, 1, H)) : c0;

    /* Per step masks (B, 1): 1 where t < lengths[b]; steps nobody takes are skipped. */
    nb_tensor **mask = NULL, *zero = NULL;
    int64_t tmax = T;
    nb_tensor *finals_h[2 * 64], *finals_c[2 * 64];
    nb_tensor **fh = L * D <= 128 ? finals_h : calloc((size_t)(L * D), sizeof *fh);
    nb_tensor **fc = L * D <= 128 ? finals_c : calloc((size_t)(L * D), sizeof *fc);
    nb_tensor **outs = calloc((size_t)T, sizeof *outs);
    nb_tensor *y = NULL;
    if (!fh || !fc || !outs) {
        nb_fail(NB_ERR_NOMEM, m->type, "out of memory");
        goto done;
    }
    if (lengths) {
        mask = calloc((size_t)T, sizeof *mask);
        if (!mask) {
            nb_fail(NB_ERR_NOMEM, m->type, "out of memory");
            goto done;
        }
        tmax = 0;
        for (int64_t b = 0; b < B; b++) tmax = lengths[b] > tmax ? lengths[b] : tmax;
        zero = nb_zeros(dt, NB_SHAPE(1, 1));
        for (int64_t t = 0; t < tmax; t++) {
            nb_tensor *mt = nb_empty(dt, NB_SHAPE(B, 1));
            if (!mt) goto done;
            for (int64_t b = 0; b < B; b++) nb_set(mt, b, t < lengths[b] ? 1.0 : 0.0);
            mask[t] = mt;
        }
    }

    nb_tensor *in = X;
    for (int l = 0; l < L && in; l++) {
        nb_tensor *dir_out[2] = {NULL, NULL};
        for (int d = 0; d < D; d++) {
            const int k = l * D + d, pw = k * cf->P;
            /* (T, B, G·H): every step's input projection, one GEMM */
            nb_tensor *xproj = nb_affine(in, nb_module_param(m, pw), cf->P == 4 ? nb_module_param(m, pw + 2) : NULL);
            nb_tensor *h = state_at(H0, k, B, H, dt);
            nb_tensor *c = cf->mode == MODE_LSTM ? state_at(C0, k, B, H, dt) : NULL;
            if (!mask && cf->mode != MODE_RNN) {
                /* Full lengths: the whole recurrence as one op (ops/rnn_seq.c:
                 * W_hh packed once, dW_hh one GEMM over the steps). */
                nb_tensor *w_hh = nb_module_param(m, pw + 1);
                nb_tensor *b_hh = cf->P == 4 ? nb_module_param(m, pw + 3) : nb_zeros(dt, NB_SHAPE(cf->G * H));
                if (cf->mode == MODE_LSTM) {
                    nb_tensor *o = nb_lstm_seq(xproj, w_hh, b_hh, h, c, d == 1);
                    dir_out[d] = nb_narrow(o, 0, 0, T);
                    fc[k] = nb_select(o, 0, T);
                } else {
                    dir_out[d] = nb_gru_seq(xproj, w_hh, b_hh, h, d == 1);
                }
                fh[k] = nb_select(dir_out[d], 0, d ? 0 : T - 1);
                continue;
            }
            /* Zero h0: the first step computed skips h·W_hhᵀ. Only when a later
             * step uses W_hh, so that its gradient exists (zeros) as in PyTorch. */
            bool h_zero = !H0 && tmax > 1;
            for (int64_t s = 0; s < T; s++) {
                const int64_t t = d ? T - 1 - s : s;
                if (t >= tmax) { /* padding for every sequence: zero output, state kept */
                    outs[t] = nb_zeros(dt, NB_SHAPE(B, H));
                    continue;
                }
                nb_tensor *xp = nb_select(xproj, 0, t); /* (B, G·H), a view */
                nb_tensor *cn_t = NULL, *hn_t = step(cf, m, pw, xp, h, c, h_zero, &cn_t);
                h_zero = false;
                if (mask) { /* PyTorch's packed sequences: past its end a sequence keeps its state */
                    outs[t] = nb_where(mask[t], hn_t, zero);
                    h = nb_where(mask[t], hn_t, h);
                    if (c) c = nb_where(mask[t], cn_t, c);
                } else {
                    outs[t] = h = hn_t;
                    c = cn_t;
                }
            }
            fh[k] = h;
            fc[k] = c;
            dir_out[d] = nb_stack(outs, (int)T, 0); /* (T, B, H) */
        }
        nb_tensor *lo = D == 2 ? nb_concat(dir_out, 2, 2) : dir_out[0];
        if (l + 1 < L && cf->o.dropout > 0) lo = nb_dropout(lo, cf->o.dropout, m->training);
        in = lo;
    }
    if (!in) goto done;
    y = unbatched ? nb_reshape(in, NB_SHAPE(T, D * H)) : cf->o.batch_first ? nb_transpose(in, 0, 1) : in;
    if (hn) *hn = nb_reshape(nb_stack(fh, L * D, 0), sshape);
    if (cn && cf->mode == MODE_LSTM) *cn = nb_reshape(nb_stack(fc, L * D, 0), sshape);
done:
    if (fh != finals_h) free(fh);
    if (fc != finals_c) free(fc);
    free(outs);
    free(mask);
    return y;
}

static nb_tensor *rnn_forward_default(nb_module *m, nb_tensor *x) {
    return nb_rnn_forward(m, x, NULL, NULL, NULL, NULL, NULL);
}

/* ------------------------------------------------------------ cells */

nb_tensor *nb_rnn_cell_forward(nb_module *m, nb_tensor *x, nb_tensor *h, nb_tensor *c, nb_tensor **c_out) {
    if (c_out) *c_out = NULL;
    const rnn_cfg *cf = cfg_of(m, true, "rnn_cell_forward");
    if (!cf || !x) return NULL;
    char w[WHO_LEN], e[64];
    snprintf(e, sizeof e, "(B,%lld) or (%lld)", (long long)cf->in, (long long)cf->in);
    if (!nb__check_input(m, x, 1, 2, e)) return NULL;
    if (x->shape.d[x->shape.ndim - 1] != cf->in || x->numel == 0) {
        nb_module_fail_shape(m, e, x);
        return NULL;
    }
    if (cf->mode == MODE_LSTM && !c_out) {
        nb_fail(NB_ERR_ARG, m->type, "%s returns two states: pass c_out", who(m, w, sizeof w));
        return NULL;
    }
    if (c && cf->mode != MODE_LSTM) {
        nb_fail(NB_ERR_ARG, m->type, "%s has no cell state: c must be NULL", who(m, w, sizeof w));
        return NULL;
    }
    const bool unbatched = x->shape.ndim == 1;
    const int64_t B = unbatched ? 1 : x->shape.d[0], H = cf->H;
    const nb_shape ss = unbatched ? NB_SHAPE(H) : NB_SHAPE(B, H);
    if (h && !check_state(m, "h", h, ss, x->dtype)) return NULL;
    if (c && !check_state(m, "c", c, ss, x->dtype)) return NULL;
    nb_tensor *X = unbatched ? nb_reshape(x, NB_SHAPE(1, cf->in)) : x;
    nb_tensor *h2 = h ? nb_reshape(h, NB_SHAPE(B, H)) : nb_zeros(x->dtype, NB_SHAPE(B, H));
    nb_tensor *c2 = cf->mode != MODE_LSTM ? NULL
        : c                               ? nb_reshape(c, NB_SHAPE(B, H))
                                          : nb_zeros(x->dtype, NB_SHAPE(B, H));
    nb_tensor *xp = nb_affine(X, nb_module_param(m, 0), cf->P == 4 ? nb_module_param(m, 2) : NULL);
    /* no skip here: W_hh gets its (zero) gradient from zero states, as in PyTorch */
    nb_tensor *cn = NULL, *hn = step(cf, m, 0, xp, h2, c2, false, &cn);
    if (!hn) return NULL;
    if (c_out && cf->mode == MODE_LSTM) *c_out = nb_reshape(cn, ss);
    return nb_reshape(hn, ss);
}

static nb_tensor *cell_forward_default(nb_module *m, nb_tensor *x) {
    const rnn_cfg *cf = m->data;
    nb_tensor *c = NULL;
    return nb_rnn_cell_forward(m, x, NULL, NULL, cf->mode == MODE_LSTM ? &c : NULL);
}
