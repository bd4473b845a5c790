/* 19 — vanishing and exploding gradients through time.
 *
 * A recurrent net applies the same step T times:
 *   vanilla RNN  h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh)
 *   LSTM         (i, f, g, o) = chunk(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh, 4)
 *                c_t = σ(f)·c_{t−1} + σ(i)·tanh(g),   h_t = σ(o)·tanh(c_t)
 * (PyTorch's equations and gate order). Backprop through time multiplies the
 * gradient by one Jacobian per step:
 *   ∂L/∂h_{t−1} = ∂L/∂h_t · diag(1 − h_t²) W_hh         (vanilla)
 * so after k steps it has been multiplied by k such matrices. When their norm
 * is below 1 the gradient VANISHES exponentially (the loss can't learn from
 * what happened long ago); above 1 it EXPLODES (one step of SGD throws the
 * weights far away). The LSTM's cell adds instead of multiplying:
 *   ∂L/∂c_{t−1} = ∂L/∂c_t · σ(f_t) + (the paths through h)
 * and the forget gate σ(f) near 1 carries the gradient back almost unchanged
 * (the "constant error carousel"); a forget-gate bias of 1 (Jozefowicz et al.
 * 2015) starts it there.
 *
 * Part 0 checks one step of nn's LSTMCell (nabla/nn_rnn.h, PyTorch's
 * layer) against the equations above written with nabla's ops (nb_affine,
 * nb_chunk for the four gates, nb_sigmoid, nb_tanh): the same numbers.
 * Part 1 loops the cells (RNNCell with tanh, LSTMCell) over a 60-step
 * sequence itself, so every h_t is an ordinary tensor whose .grad backward
 * fills in, and measures ‖∂L/∂h_t‖ for every t with the loss on the last
 * state only: L = Σ_b h_T·v. W_hh is drawn N(0, g²/H), whose spectral radius
 * is about g: g = 0.5 vanishes, g = 3 explodes.
 * Part 2 trains a vanilla RNN on the edge (g = 1.3) with plain SGD, with and
 * without gradient clipping (nb_clip_grad_norm_list, torch's
 * clip_grad_norm_).
 *
 *   19_rnn_gradients [--svg PATH]   the plot (19_rnn_gradients.svg): log ‖∂L/∂h_t‖ against t
 */
#include <nabla/nabla.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { T = 60, B = 4, D = 4, H = 32, NCONF = 4 };

typedef struct net {
    bool lstm;
    nb_module *cell;  /* nn's RNNCell (tanh) or LSTMCell, in F64 */
    nb_tensor *ps[4]; /* its weight_ih (G·H, D), weight_hh (G·H, H), bias_ih, bias_hh */
} net;

static nb_tensor *param(nb_tensor *t) { return nb_set_requires_grad(t, true); }

/* PyTorch's init, U(±1/√H) for everything (the cell's own), then W_hh drawn
 * N(0, g²/H) (g > 0) and the forget gate's bias set (LSTM, forget_bias != 0). */
static net make_net(bool lstm, double g, double forget_bias) {
    net n = {lstm, lstm ? nb_lstm_cell(D, H, NULL) : nb_rnn_cell(D, H, NULL), {0}};
    nb_module_cast(n.cell, NB_F64);
    static const char *const names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int i = 0; i < 4; i++) n.ps[i] = nb_module_get(n.cell, names[i]);
    NB_NO_GRAD {
        if (g > 0) nb_init_normal(n.ps[1], 0, g / sqrt((double)H));
        if (lstm && forget_bias != 0)
            for (int j = H; j < 2 * H; j++) nb_f64(n.ps[2])[j] = forget_bias, nb_f64(n.ps[3])[j] = 0;
    }
    return n;
}

static void free_net(net *n) { nb_module_free(n->cell); }

/* Runs the cell over x (steps, batch, D) from zero states; hs[t] = h_{t+1}
 * (batch, H). Returns the number of steps (at most T). */
static int run(const net *n, nb_tensor *x, nb_tensor **hs) {
    nb_tensor *h = NULL, *c = NULL, *xs[T];
    const int steps = nb_unbind(x, 0, xs, T); /* the time steps: views, no copies */
    for (int t = 0; t < steps; t++) {
        h = nb_rnn_cell_forward(n->cell, xs[t], h, c, n->lstm ? &c : NULL);
        hs[t] = h;
    }
    return steps;
}

/* One LSTM step written out with ops: the numbers nn's LSTMCell must give. */
static double lstm_by_hand_vs_cell(void) {
    nb_seed(3);
    net n = make_net(true, 0, 0);
    nb_scope *sc = nb_scope_begin();
    nb_tensor *x = nb_randn(NB_F64, NB_SHAPE(B, D), 0, 1), *h = nb_randn(NB_F64, NB_SHAPE(B, H), 0, 1),
              *c = nb_randn(NB_F64, NB_SHAPE(B, H), 0, 1);
    nb_tensor *pre = nb_add(nb_affine(x, n.ps[0], n.ps[2]), nb_affine(h, n.ps[1], n.ps[3])); /* (B, 4H) */
    nb_tensor *gt[4];
    nb_chunk(pre, 4, 1, gt); /* i, f, g, o */
    nb_tensor *c1 = nb_add(nb_mul(nb_sigmoid(gt[1]), c), nb_mul(nb_sigmoid(gt[0]), nb_tanh(gt[2])));
    nb_tensor *h1 = nb_mul(nb_sigmoid(gt[3]), nb_tanh(c1));
    nb_tensor *c2, *h2 = nb_rnn_cell_forward(n.cell, x, h, c, &c2);
    double worst = 0;
    for (int64_t i = 0; i < h1->numel; i++)
        worst = fmax(worst, fmax(fabs(nb_f64(h1)[i] - nb_f64(h2)[i]), fabs(nb_f64(c1)[i] - nb_f64(c2)[i])));
    nb_scope_end(&sc);
    free_net(&n);
    return worst;
}

static double norm(const nb_tensor *t) {
    double s = 0;
    for (int64_t i = 0; t && i < t->numel; i++) s += nb_get(t, i) * nb_get(t, i);
    return sqrt(s);
}

/* ------------------------------------------------------------ the plot */

static const char *const COLORS[NCONF] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

/* log10 ‖∂L/∂h_t‖ against t for each configuration, decades as grid lines. */
static bool write_svg(const char *path, double g[NCONF][T], const char *const *names) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    double lo = INFINITY, hi = -INFINITY;
    for (int c = 0; c < NCONF; c++)
        for (int t = 0; t < T; t++)
            if (g[c][t] > 0) lo = fmin(lo, log10(g[c][t])), hi = fmax(hi, log10(g[c][t]));
    lo = floor(lo), hi = ceil(hi);
    if (hi <= lo) hi = lo + 1;
    const double W = 720, Hh = 440, L = 70, R = 200, Tm = 40, Bm = 50, pw = W - L - R, ph = Hh - Tm - Bm;
#define PX(t) (L + pw * ((t)-1) / (T - 1))
#define PY(v) (Tm + ph * (hi - (v)) / (hi - lo))
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, Hh);
    fprintf(f,
            "<text x=\"%.0f\" y=\"22\" font-size=\"15\">Gradient through time: |dL/dh_t| (loss on h_%d only)</text>\n",
            L, T);
    const int step = hi - lo > 12 ? 2 : 1;
    for (int e = (int)lo; e <= (int)hi; e += step) {
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, L + pw, PY(e),
                PY(e));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n", L - 6, PY(e) + 4, e);
    }
    for (int t = 1; t <= T; t += (T > 30 ? 10 : 5)) {
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", PX(t), PX(t), Tm,
                Tm + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", PX(t), Tm + ph + 16, t);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", L, Tm,
            pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time step t</text>\n", L + pw / 2, Hh - 12);
    fprintf(f,
            "<text transform=\"translate(16,%.1f) rotate(-90)\" text-anchor=\"middle\">|dL/dh_t| (log scale)</text>\n",
            Tm + ph / 2);
    for (int c = 0; c < NCONF; c++) {
        fprintf(f, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"", COLORS[c]);
        for (int t = 0; t < T; t++)
            if (g[c][t] > 0) fprintf(f, "%.1f,%.1f ", PX(t + 1), PY(log10(g[c][t])));
        fprintf(f, "\"/>\n");
        const double ly = Tm + 16 + 22 * c;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                L + pw + 12, L + pw + 36, ly, ly, COLORS[c]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", L + pw + 42, ly + 4, names[c]);
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    return fclose(f) == 0;
}

/* ------------------------------------------------------------ part 2: clipping */

/* A memory task: the target is the first input's first feature, read from
 * the last state by a linear readout (B, H) -> (B). */
static double train_step(net *n, nb_tensor *wy, nb_tensor *x, nb_tensor *y, double lr, double clip, double *gnorm) {
    nb_scope *sc = nb_scope_begin();
    nb_tensor *hs[T];
    const int steps = run(n, x, hs);
    nb_tensor *pred = nb_reshape(nb_matmul(hs[steps - 1], wy), y->shape);
    nb_tensor *loss = nb_mse_loss(pred, y, NB_REDUCE_MEAN);
    nb_tensor *ps[5] = {n->ps[0], n->ps[1], n->ps[2], n->ps[3], wy};
    for (int i = 0; i < 5; i++) nb_tensor_zero_grad(ps[i]);
    nb_backward(loss);
    const double l = nb_item(loss);
    *gnorm = nb_clip_grad_norm_list(ps, 5, clip > 0 ? clip : INFINITY); /* returns |g| before clipping */
    NB_NO_GRAD {
        for (int i = 0; i < 5; i++) nb_axpy_(ps[i], -lr, ps[i]->grad);
    }
    nb_scope_end(&sc);
    return l;
}

int main(int argc, char **argv) {
    const char *svg = "19_rnn_gradients.svg";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--svg") && i + 1 < argc) svg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--svg PATH]\n", argv[0]);
            return 2;
        }
    }
    static const char *const names[NCONF] = {"RNN, g = 0.5", "RNN, g = 3", "LSTM (torch init)", "LSTM, forget bias 1"};
    const struct {
        bool lstm;
        double g, fb;
    } conf[NCONF] = {{false, 0.5, 0}, {false, 3.0, 0}, {true, 0, 0}, {true, 0, 1}};
    static double grad[NCONF][T];

    const double hand = lstm_by_hand_vs_cell();
    printf("0. one LSTMCell step against the equations written with ops (chunk, sigmoid, tanh): "
           "largest difference %.1e\n\n",
           hand);
    printf("1. |dL/dh_t| through %d steps, batch %d, input %d, hidden %d; L = sum of h_%d . v\n", T, B, D, H, T);
    nb_seed(19);
    nb_tensor *x = nb_randn(NB_F64, NB_SHAPE(T, B, D), 0, 1);
    nb_tensor *v = nb_randn(NB_F64, NB_SHAPE(H, 1), 0, 1);
    for (int c = 0; c < NCONF; c++) {
        nb_seed(100 + (uint64_t)c);
        net n = make_net(conf[c].lstm, conf[c].g, conf[c].fb);
        nb_scope *sc = nb_scope_begin();
        nb_tensor *hs[T];
        run(&n, x, hs);
        nb_backward(nb_sum_all(nb_matmul(hs[T - 1], v)));
        for (int t = 0; t < T; t++) grad[c][t] = norm(hs[t]->grad);
        nb_scope_end(&sc);
        free_net(&n);
    }
    printf("\n   t");
    for (int c = 0; c < NCONF; c++) printf("  %20s", names[c]);
    printf("\n");
    for (int t = T; t >= 1; t -= (t == T ? 4 : 5)) {
        printf("%4d", t);
        for (int c = 0; c < NCONF; c++) printf("  %20.3e", grad[c][t - 1]);
        printf("\n");
    }
    /* the rate per step, fitted between t = T and t = T - 20 */
    printf("\nfactor per step back in time (geometric mean over the last 20 steps):");
    double rate[NCONF];
    for (int c = 0; c < NCONF; c++) {
        rate[c] = pow(grad[c][T - 21] / grad[c][T - 1], 1.0 / 20);
        printf("%s %s %.3f", c ? "," : "", names[c], rate[c]);
    }
    printf("\n");
    printf(write_svg(svg, grad, names) ? "wrote %s\n" : "could not write %s\n", svg);

    /* ---------------------------------------------------------- part 2 */
    /* a net on the edge (g = 1.3): most gradients are moderate, a few are
     * cliffs; the target is the first feature of the input LAG steps back */
    enum { T2 = 30, B2 = 32, LAG = 3, STEPS = 80 };
    const double G2 = 1.3, LR = 0.3, MAXN = 1.0;
    printf("\n2. gradient clipping: plain SGD (lr %g), an RNN with g = %g over %d steps, %d sequences;\n"
           "   the target is the first input feature %d steps before the end; clipping at |g| = %g\n",
           LR, G2, T2, B2, LAG, MAXN);
    nb_seed(7);
    nb_tensor *x2 = nb_randn(NB_F64, NB_SHAPE(T2, B2, D), 0, 1);
    nb_tensor *y = nb_zeros(NB_F64, NB_SHAPE(B2));
    for (int b = 0; b < B2; b++) nb_f64(y)[b] = nb_f64(x2)[((T2 - LAG) * B2 + b) * D];
    static double loss[2][STEPS], gn[2][STEPS];
    for (int clip = 0; clip < 2; clip++) { /* the same start both times */
        nb_seed(101);
        net n = make_net(false, G2, 0);
        nb_seed(5);
        nb_tensor *wy = param(nb_randn(NB_F64, NB_SHAPE(H, 1), 0, 0.1));
        for (int s = 0; s < STEPS; s++) loss[clip][s] = train_step(&n, wy, x2, y, LR, clip ? MAXN : 0, &gn[clip][s]);
        nb_tensor_free(wy);
        free_net(&n);
    }
    printf("\nstep   without clipping: loss      |g|    with clipping: loss   |g| before clipping\n");
    int cliff = -1, clipped = 0; /* cliff: the first unclipped gradient over 100 */
    for (int s = 0; s < STEPS; s++) {
        if (cliff < 0 && gn[0][s] > 100) cliff = s;
        clipped += gn[1][s] > MAXN;
    }
    for (int s = 0; s < STEPS; s++)
        if (s < 5 || (s + 1) % 10 == 0 || s == cliff)
            printf("%4d   %22.4g   %9.3g   %19.4g   %9.3g%s\n", s + 1, loss[0][s], gn[0][s], loss[1][s], gn[1][s],
                   s == cliff ? "   <- a cliff: the first |g| over 100 without clipping" : "");
    printf("clipping scaled the gradient down in %d of %d steps\n", clipped, STEPS);

    /* ---------------------------------------------------------- the claims */
    int bad = 0;
    if (hand < 1e-12) printf("\nOK: nn's LSTMCell computes the equations above (to %.0e)\n", hand);
    else bad++, printf("\nMISMATCH: the LSTMCell and the equations differ by %.3g\n", hand);
    const double keep_rnn = grad[0][0] / grad[0][T - 1], keep_lstm = grad[3][0] / grad[3][T - 1];
    if (rate[0] < 0.7 && keep_rnn < 1e-12)
        printf("OK: the vanilla RNN with g = 0.5 loses a factor %.2f per step: |dL/dh_1| is %.1e of |dL/dh_%d|\n",
               rate[0], keep_rnn, T);
    else bad++, printf("MISMATCH: the g = 0.5 RNN's gradient did not vanish (factor %.3f)\n", rate[0]);
    if (rate[1] > 1.1 && grad[1][0] > 1e3 * grad[1][T - 1])
        printf("OK: with g = 3 it grows by %.2f per step: |dL/dh_1| is %.1e times |dL/dh_%d|\n", rate[1],
               grad[1][0] / grad[1][T - 1], T);
    else bad++, printf("MISMATCH: the g = 3 RNN's gradient did not explode (factor %.3f)\n", rate[1]);
    if (rate[3] > rate[2] && rate[2] > rate[0] && keep_lstm > 1e-6)
        printf("OK: the LSTM keeps more (%.2f per step, %.2f with forget bias 1: |dL/dh_1| still %.1e of |dL/dh_%d|)\n",
               rate[2], rate[3], keep_lstm, T);
    else bad++, printf("MISMATCH: the LSTM did not keep its gradient better than the RNN\n");
    const double end0 = loss[0][STEPS - 1], end1 = loss[1][STEPS - 1];
    if (!(end0 < 1e3 * loss[0][0]) && cliff >= 0 && end1 < 0.1 * loss[1][0])
        printf("OK: without clipping a gradient of %.3g at step %d threw the weights away (loss %.3g at the end); "
               "clipped, the same start learned (loss %.3g -> %.3g)\n",
               gn[0][cliff], cliff + 1, end0, loss[1][0], end1);
    else bad++, printf("MISMATCH: clipping's effect is not as claimed (loss %.3g vs %.3g)\n", end0, end1);
    nb_tensor_free(x2);
    nb_tensor_free(x);
    nb_tensor_free(v);
    nb_tensor_free(y);
    return bad ? 1 : 0;
}
