/* bench/bench_tfops.c — the transformer's non-attention ops alone, at the
 * tiny GPT's sizes (batch 32 × context 64 = 2048 rows; width 128, MLP 512),
 * F32, forward (recorded) and forward+backward (twin: bench_tfops.py):
 *   ln          layer_norm over the last dim of (2048,128), weight and bias
 *   ln_composed the same as mean/sub/mul/mean/sqrt/div/mul/add ops (why the
 *               fused op exists: nabla only, the twin reports F.layer_norm)
 *   gelu, gelu_tanh, silu   on (2048,512)
 * Backward runs from the sum of y·r (r fixed), so it does its full work.
 * Each case: the fastest of REPS repetitions. Prints, per case,
 *   case: NAME fwd_s F fwdbwd_s FB
 * and "time_s: <sum of the FB of ln, gelu, gelu_tanh, silu>".
 * `bench_tfops REPS [CASE]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/nabla.h"
#include "bench_util.h"

enum { N = 2048, D = 128, H = 512 };

static const char *const names[] = {"ln", "ln_composed", "gelu", "gelu_tanh", "silu"};
#define NCASES (int)(sizeof names / sizeof names[0])

static nb_tensor *ln_composed(nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    const int ax = -1;
    nb_tensor *d = nb_sub(x, nb_mean(x, &ax, 1, true));
    nb_tensor *var = nb_mean(nb_mul(d, d), &ax, 1, true);
    return nb_add(nb_mul(nb_div(d, nb_sqrt(nb_add_scalar(var, 1e-5))), w), b);
}

static nb_tensor *run_op(int c, nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *h) {
    switch (c) {
    case 0: return nb_layer_norm(x, 1, w, b, 1e-5);
    case 1: return ln_composed(x, w, b);
    case 2: return nb_gelu(h);
    case 3: return nb_gelu_tanh(h);
    default: return nb_silu(h);
    }
}

static double time_case(int c, int reps, bool backward, nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *h,
                        nb_tensor *rx, nb_tensor *rh) {
    double best = 1e30;
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        double t0 = bench_now();
        nb_scope *s = nb_scope_begin();
        nb_tensor *out = run_op(c, x, w, b, h);
        if (backward) nb_backward(nb_sum_all(nb_mul(out, c < 2 ? rx : rh)));
        nb_scope_end(&s);
        double dt = bench_now() - t0;
        if (rep >= 0 && dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 15;
    nb_seed(1);
    nb_tensor *x = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(N, D), -2, 2), true);
    nb_tensor *w = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(D), 0.5, 1.5), true);
    nb_tensor *b = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(D), -0.5, 0.5), true);
    nb_tensor *h = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(N, H), -4, 4), true);
    nb_tensor *rx = nb_rand(NB_F32, NB_SHAPE(N, D), -1, 1), *rh = nb_rand(NB_F32, NB_SHAPE(N, H), -1, 1);
    double total = 0;
    for (int c = 0; c < NCASES; c++) {
        if (argc > 2 && strcmp(argv[2], names[c]) != 0) continue;
        const double f = time_case(c, reps, false, x, w, b, h, rx, rh);
        const double fb = time_case(c, reps, true, x, w, b, h, rx, rh);
        printf("case: %s fwd_s %.6g fwdbwd_s %.6g  (bwd/fwd %.2f)\n", names[c], f, fb, (fb - f) / f);
        if (c != 1) total += fb;
    }
    printf("tfops (%d,%d) and (%d,%d) f32, %d threads\n", N, D, N, H, nb_get_num_threads());
    printf("time_s: %.6f\n", total);
    nb_tensor_free(x), nb_tensor_free(w), nb_tensor_free(b), nb_tensor_free(h);
    nb_tensor_free(rx), nb_tensor_free(rh);
    return 0;
}
