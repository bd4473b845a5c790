/* nabla/ops_math.h — elementwise extras, reductions with argmax, the softmax family. */
#ifndef NABLA_OPS_MATH_H
#define NABLA_OPS_MATH_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
