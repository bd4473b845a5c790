/* nabla/ops_conv.h — convolution and pooling. */
#ifndef NABLA_OPS_CONV_H
#define NABLA_OPS_CONV_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
