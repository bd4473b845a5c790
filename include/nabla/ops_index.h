/* nabla/ops_index.h — indexing and layout ops, dropout, maxout. */
#ifndef NABLA_OPS_INDEX_H
#define NABLA_OPS_INDEX_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
