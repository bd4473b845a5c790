/* nabla — automatic differentiation in C on a dynamic computational graph.
 *
 *   #include <nabla/nabla.h>
 *
 * core.h      tensors, shapes, scopes (memory), grad mode, errors, RNG
 * op.h        writing an op: nb_op, nb_node, nb_apply
 * ops.h       the built-in primitive ops
 * autograd.h  backward, tracing, gradcheck, the op registry
 */
#ifndef NABLA_H
#define NABLA_H

#include "core.h"
#include "op.h"
#include "ops.h"
#include "autograd.h"

#define NABLA_VERSION_MAJOR 0
#define NABLA_VERSION_MINOR 1
#define NABLA_VERSION_PATCH 0

#endif
