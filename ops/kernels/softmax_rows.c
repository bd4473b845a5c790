/* ops/kernels/softmax_rows.c — softmax_rows.h for f32 and f64 (softmax_rows_tmpl.h). */
#include "softmax_rows.h"
#include "vmath.h"

#include <math.h>

#define T float
#define FN(name) name##_f32
#include "softmax_rows_tmpl.h"

#define T double
#define FN(name) name##_f64
#include "softmax_rows_tmpl.h"
