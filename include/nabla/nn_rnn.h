/* nabla/nn_rnn.h — recurrent layers (RNN, LSTM, GRU), their single-step
 * cells, and the pointwise gate ops they are composed of.
 *
 * The layers follow torch.nn.RNN/LSTM/GRU exactly: equations, gate order,
 * parameter names and shapes, initialization, the layout of inputs, outputs
 * and states, and the meaning of packed (variable-length) sequences. A
 * PyTorch state_dict's tensors load by name (nb_module_get). Every layer is a
 * composition of ops on the tape: per layer and direction one GEMM projects
 * all time steps' inputs, then each step is one GEMM (h·W_hhᵀ + b_hh) and
 * the gate op(s) below; with full-length sequences an LSTM or GRU runs each
 * direction's steps as one sequence op (nb_lstm_seq / nb_gru_seq, the same
 * arithmetic, faster). docs/nn.md has the equations and an example.
 *
 *     nb_module *lstm = nb_lstm(64, 256, 1, NULL);       // PyTorch defaults
 *     nb_tensor *hn, *cn;
 *     nb_tensor *y = nb_rnn_forward(lstm, x, NULL, NULL, NULL, &hn, &cn);
 *     // x (T, B, 64) -> y (T, B, 256), hn and cn (1, B, 256)
 */
#ifndef NABLA_NN_RNN_H
#define NABLA_NN_RNN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nb_module;

/* ================================================================ gate ops (ops/rnn_cell.c) */
/* Primitive ops (registry, gradcheck, PyTorch fixtures) for the pointwise
 * part of one step, σ the logistic sigmoid. Gate blocks of H columns in
 * PyTorch's order. All inputs 2-D, one float dtype. */

/* LSTM cell state. gx = x W_ihᵀ + b_ih and gh = h W_hhᵀ + b_hh, both (B, 4H)
 * in blocks i, f, g, o; their sum is the gates' pre-activation. c_prev (B, H):
 *   c = σ(f)·c_prev + σ(i)·tanh(g)       -> (B, H). The o block is unused. */
NB_API nb_tensor *nb_lstm_gate_c(nb_tensor *gx, nb_tensor *gh, nb_tensor *c_prev);
/* LSTM output. gx, gh as above, c (B, H) from nb_lstm_gate_c:
 *   h = σ(o)·tanh(c)                     -> (B, H). Only the o blocks are read. */
NB_API nb_tensor *nb_lstm_gate_h(nb_tensor *gx, nb_tensor *gh, nb_tensor *c);
/* GRU step. gx = x W_ihᵀ + b_ih and gh = h_prev W_hhᵀ + b_hh, both (B, 3H)
 * in blocks r, z, n; h_prev (B, H):
 *   r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r·gh_n),
 *   h = (1 − z)·n + z·h_prev             -> (B, H). */
NB_API nb_tensor *nb_gru_gate_h(nb_tensor *gx, nb_tensor *gh, nb_tensor *h_prev);

/* ================================================================ sequence ops (ops/rnn_seq.c) */
/* The whole recurrence of one direction of a layer as one primitive op
 * (registry, gradcheck, PyTorch fixtures; second order through the per-step
 * composition): W_hh is packed once per sequence and dW_hh is one GEMM over
 * all steps. xp (T, B, G·H) = x W_ihᵀ + b_ih of every step, w_hh (G·H, H),
 * b_hh (G·H), h0 (B, H); reverse: steps run from t = T-1 down to 0, outputs
 * stay in time order. nb_rnn_forward uses them when no lengths are given.
 *   LSTM (G = 4, c0 (B, H)): -> (T+1, B, H): rows 0..T-1 are h_t, row T the
 *        final cell state.
 *   GRU  (G = 3):            -> (T, B, H), the h_t. */
NB_API nb_tensor *nb_lstm_seq(nb_tensor *xp, nb_tensor *w_hh, nb_tensor *b_hh, nb_tensor *h0, nb_tensor *c0,
                              bool reverse);
NB_API nb_tensor *nb_gru_seq(nb_tensor *xp, nb_tensor *w_hh, nb_tensor *b_hh, nb_tensor *h0, bool reverse);

/* ================================================================ layers (nn/rnn.c) */

typedef enum nb_rnn_act {
    NB_RNN_TANH = 0, /* h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (the default) */
    NB_RNN_RELU      /* h' = relu(...)                                           */
} nb_rnn_act;

/* Options; an all-zero struct (or NULL) means PyTorch's defaults. */
typedef struct nb_rnn_opts {
    bool bidirectional;      /* a second, reversed direction per layer; outputs concatenated */
    bool batch_first;        /* x and y are (B, T, ·) instead of (T, B, ·); states never are */
    bool no_bias;            /* PyTorch's bias=False: no bias_ih / bias_hh                   */
    double dropout;          /* drop probability on each layer's output but the last, in
                               training mode only (nb_module_train); [0, 1)                */
    nb_rnn_act nonlinearity; /* nb_rnn and nb_rnn_cell only                                  */
} nb_rnn_opts;

/* Multi-layer recurrent layers. input_size in, hidden_size H, num_layers L
 * (>= 1), D = 2 if bidirectional else 1. Parameters per layer k and direction
 * (suffix "" or "_reverse"), in this order, as PyTorch names them:
 *   weight_ih_l<k><sfx>  (G·H, in) for k = 0, (G·H, D·H) above
 *   weight_hh_l<k><sfx>  (G·H, H)
 *   bias_ih_l<k><sfx>    (G·H)        (absent with no_bias)
 *   bias_hh_l<k><sfx>    (G·H)
 * G = 1 (RNN), 4 (LSTM: rows i, f, g, o), 3 (GRU: rows r, z, n).
 * Init: every parameter U(−1/√H, 1/√H) (PyTorch). F32 when made. Per step:
 *   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)
 *   LSTM: i,f,g,o = W_ih x + b_ih + W_hh h + b_hh (blocks);
 *         c' = σ(f)c + σ(i)tanh(g);  h' = σ(o)tanh(c')
 *   GRU:  r = σ(..r), z = σ(..z), n = tanh(W_in x + b_in + r(W_hn h + b_hn)),
 *         h' = (1 − z)n + z h
 * Layer k > 0 reads layer k−1's output (after dropout). */
NB_API struct nb_module *nb_rnn(int64_t input_size, int64_t hidden_size, int num_layers, const nb_rnn_opts *o);
NB_API struct nb_module *nb_lstm(int64_t input_size, int64_t hidden_size, int num_layers, const nb_rnn_opts *o);
NB_API struct nb_module *nb_gru(int64_t input_size, int64_t hidden_size, int num_layers, const nb_rnn_opts *o);

/* Runs an RNN, LSTM or GRU layer over a sequence.
 *   x        (T, B, in), or (B, T, in) with batch_first, or (T, in) unbatched
 *   h0       (L·D, B, H) initial hidden states ((L·D, H) unbatched), or NULL: zeros
 *   c0       LSTM only: initial cell states, same shape as h0, or NULL: zeros
 *   lengths  NULL (every sequence has length T), or B lengths in [1, T]:
 *            sequence b is x[0:lengths[b]] along time, the rest padding (the
 *            meaning of PyTorch's pack_padded_sequence, in any order):
 *            outputs past a sequence's end are zero, and its final states
 *            are those of its last real step (the reverse direction starts
 *            there from h0).
 *   hn, cn   if not NULL, receive the final states (L·D, B, H), in PyTorch's
 *            order (layer-major, forward direction first); *cn is set to
 *            NULL for an RNN or GRU.
 * Returns y (T, B, D·H) (batch_first: (B, T, D·H); unbatched (T, D·H)): the
 * last layer's h at every step, directions concatenated [forward, reverse].
 * New tensors (scope rule). A wrong rank, feature size, state shape or
 * length is an error naming the layer and the shapes; NULL then.
 * nb_forward(m, x) is nb_rnn_forward(m, x, NULL, NULL, NULL, NULL, NULL). */
NB_API nb_tensor *nb_rnn_forward(struct nb_module *m, nb_tensor *x, nb_tensor *h0, nb_tensor *c0,
                                 const int64_t *lengths, nb_tensor **hn, nb_tensor **cn);

/* Single-step cells, for users who loop over time themselves. Parameters
 * weight_ih (G·H, in), weight_hh (G·H, H), bias_ih, bias_hh (G·H; not with
 * no_bias), U(−1/√H, 1/√H). Only no_bias and nonlinearity (RNNCell) of the
 * options apply; bidirectional, batch_first and dropout are refused. */
NB_API struct nb_module *nb_rnn_cell(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *o);
NB_API struct nb_module *nb_lstm_cell(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *o);
NB_API struct nb_module *nb_gru_cell(int64_t input_size, int64_t hidden_size, const nb_rnn_opts *o);

/* One step of a cell: x (B, in) or (in), h and c (LSTM) (B, H) or (H), or
 * NULL for zeros. Returns h' and, for an LSTMCell, c' in *c_out (which must
 * then be non-NULL; for the others it is set to NULL if given).
 * nb_forward(cell, x) is the step from zero states (h' only). */
NB_API nb_tensor *nb_rnn_cell_forward(struct nb_module *cell, nb_tensor *x, nb_tensor *h, nb_tensor *c,
                                      nb_tensor **c_out);

#ifdef __cplusplus
}
#endif
#endif
