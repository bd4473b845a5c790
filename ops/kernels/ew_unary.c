/* ops/kernels/ew_unary.c — the kernels of the elementwise unary ops, made
 * from their lines in ops/defs/unary.def (ew_unary_tmpl.h, once per type). */
#include "ew_unary.h"
#include "par.h"
#include "vmath.h"

#include <tgmath.h>

/* abs's derivative: sign(v), 0 at 0 */
#define SIGN(v) ((v) > 0 ? 1 : (v) < 0 ? -1 : 0)

/* Multiply-add equivalents per element of a chunked backward (one SLEEF
 * function and a pass, kernels/par.h): long inputs split their chunks
 * between threads (each element computed alike wherever it falls). */
#define CHUNKED_COST 160
/* Elements per chunk of a backward's stack buffer (softplus, elu). */
#define SP_CHUNK 512
#define ELU_CHUNK 1024

#define T float
#define FN(name) name##_f32
#include "ew_unary_tmpl.h"

#define T double
#define FN(name) name##_f64
#include "ew_unary_tmpl.h"
