/* nabla — automatic differentiation in C on a dynamic computational graph.
 *
 *   #include <nabla/nabla.h>
 *
 * core.h      tensors, shapes, scopes (memory), grad mode, errors, RNG
 * op.h        writing an op: nb_op, nb_node, nb_apply
 * ops.h       the built-in primitive ops
 * autograd.h  backward, tracing, gradcheck, the op registry
 * nn.h        modules, layers, losses, initializers
 * optim.h     optimizers, schedules, clipping, early stopping
 * io.h        datasets, loaders, checkpoints, progress and curves
 * safetensors.h  weights exchanged with PyTorch (safetensors files)
 * ops_seq.h   sequence ops: narrow, select, chunk, split, unbind, flip, cumsum, masked_fill
 * ops_nn.h    layer_norm, rms_norm, gelu, gelu_tanh, silu
 * nn_transformer.h  LayerNorm, RMSNorm, GELU, SiLU layers, sinusoidal positions, weight tying
 * nn_rnn.h    recurrent layers (RNN, LSTM, GRU), cells, their gate ops
 * dist.h      data-parallel training over MPI (a world of one without it)
 */
#ifndef NABLA_H
#define NABLA_H

#include "core.h"
#include "op.h"
#include "ops.h"
#include "autograd.h"
#include "grad.h" /* nb_grad: higher-order gradients (create_graph), gradgradcheck */
#include "nn.h"
#include "optim.h"
#include "io.h"
#include "safetensors.h"
#include "nn_functional.h"
#include "ops_seq.h"      /* narrow, select, chunk, split, unbind, flip, cumsum, masked_fill */
#include "nn_attention.h" /* attention, MultiheadAttention, transformer block, tiny GPT */
#include "ops_nn.h"
#include "nn_transformer.h"
#include "nn_rnn.h"
#include "dist.h"

#define NABLA_VERSION_MAJOR 0
#define NABLA_VERSION_MINOR 1
#define NABLA_VERSION_PATCH 0

#endif
