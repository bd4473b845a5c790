/* bench/bench_tfops.c — the transformer's non-attention ops alone, at the
 * tiny GPT's sizes (batch 32 × context 64 = 2048 rows; width 128, MLP 512),
 * F32, forward (recorded) and forward+backward (twin: bench_tfops.py):
 *   ln          layer_norm over the last dim of (2048,128), weight and bias
 *   ln_composed the same as mean/sub/mul/mean/sqrt/div/mul/add ops (why the
 *               fused op exists: nabla only, the twin reports F.layer_norm)
 *   gelu, gelu_tanh, silu   on (2048,512)
 *   affine_add  nb_affine_add(h, w2, b, x): x + h·w2ᵀ + b, h (2048,512), w2
 *               (128,512), the MLP's second layer and its residual as one op
 *   affine_add_composed  the same as nb_add(x, nb_affine(h, w2, b)) (nabla
 *               only, the twin reports x + F.linear again)
 * Backward runs from the sum of y·r (r fixed), so it does its full work.
 * Each case: the fastest of REPS repetitions. Prints, per case,
 *   case: NAME fwd_s F fwdbwd_s FB
 * and "time_s: <sum of the FB of ln, gelu, gelu_tanh, silu>".
 * `bench_tfops REPS [CASE]`. */
#include <stdio.h>

#include "nabla/nabla.h"
#include "bench_util.h"

enum { N = 2048, D = 128, H = 512 };

static const char *const names[] = {"ln",         "ln_composed",        "gelu", "gelu_tanh", "silu",
                                    "affine_add", "affine_add_composed"};
#define NCASES (int)(sizeof names / sizeof names[0])

static nb_tensor *ln_composed(nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    const int ax = -1;
    nb_tensor *d = nb_sub(x, nb_mean(x, &ax, 1, true));
    nb_tensor *var = nb_mean(nb_mul(d, d), &ax, 1, true);
    return nb_add(nb_mul(nb_div(d, nb_sqrt(nb_add_scalar(var, 1e-5))), w), b);
}

typedef struct {
    nb_tensor *x, *w, *b, *h, *rx, *rh, *w2;
} data;

static nb_tensor *run_op(int c, void *ctx) {
    const data *d = ctx;
    nb_tensor *x = d->x, *w = d->w, *b = d->b, *h = d->h;
    switch (c) {
    case 0: return nb_layer_norm(x, 1, w, b, 1e-5);
    case 1: return ln_composed(x, w, b);
    case 2: return nb_gelu(h);
    case 3: return nb_gelu_tanh(h);
    case 4: return nb_silu(h);
    case 5: return nb_affine_add(h, d->w2, b, x); /* the MLP's second layer and its residual */
    default: return nb_add(x, nb_affine(h, d->w2, b));
    }
}

/* sum(y·r): backward does its full work. */
static nb_tensor *loss_op(int c, nb_tensor *out, void *ctx) {
    const data *d = ctx;
    return nb_sum_all(nb_mul(out, c < 2 || c > 4 ? d->rx : d->rh));
}

int main(int argc, char **argv) {
    nb_seed(1);
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(N, D), -2, 2), true);
    nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(D), 0.5, 1.5), true);
    nb_tensor *b = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(D), -0.5, 0.5), true);
    nb_tensor *h = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(N, H), -4, 4), true);
    nb_tensor *rx = nb_rand(NB_F32, NB_SHAPE(N, D), -1, 1), *rh = nb_rand(NB_F32, NB_SHAPE(N, H), -1, 1);
    nb_tensor *w2 = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(D, H), -0.05, 0.05), true);
    data d = {x, w, b, h, rx, rh, w2};
    /* time_s: ln, gelu, gelu_tanh, silu (not the composed forms; affine_add has its own line) */
    const double total = bench_cases(argc, argv, names, NCASES, run_op, loss_op, &d, 1u << 1 | 1u << 5 | 1u << 6);
    printf("tfops (%d,%d) and (%d,%d) f32, %d threads\n", N, D, N, H, nb_get_num_threads());
    printf("time_s: %.6f\n", total);
    nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b), nb_tensor_free(h);
    nb_tensor_free(rx), nb_tensor_free(rh), nb_tensor_free(w2);
    return 0;
}
