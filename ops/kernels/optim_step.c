/* ops/kernels/optim_step.c — optim_step.h for f32 and f64 (optim_step_tmpl.h). */
#include "optim_step.h"
#include "par.h"

#include <math.h>
#include <stddef.h>

#if defined(__GNUC__)
#define NB_ALWAYS_INLINE __attribute__((always_inline))
#else
#define NB_ALWAYS_INLINE
#endif

#define T float
#define FN(name) name##_f32
#define SQRT sqrtf
#include "optim_step_tmpl.h"

#define T double
#define FN(name) name##_f64
#define SQRT sqrt
#include "optim_step_tmpl.h"
