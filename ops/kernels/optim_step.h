/* ops/kernels/optim_step.h — the fused optimizer updates' loops (internal).
 *
 * Graph-free: one parameter's arrays of n elements, updated in place on at
 * most nt threads (each a contiguous share, taken when n · NB_COST_MEM
 * reaches nb_par_min(): kernels/par.h; the bits do not depend on nt). The
 * formulas and their order of operations are those of the composed steps
 * in optim/sgd.c and optim/adam.c, every constant rounded to the element
 * type first, so the fused step gives the composed step's bits (SGD;
 * test_optim). */
#ifndef NB_KERNELS_OPTIM_STEP_H
#define NB_KERNELS_OPTIM_STEP_H

#include <stdbool.h>
#include <stdint.h>

/* SGD (torch.optim.SGD): g ← g + λθ; b ← g (first), else b ← μb + (1−τ)g;
 * g ← g + μb (nesterov), else g ← b; θ ← θ − γg. b NULL: no momentum. */
typedef struct nb_sgd_coef {
    double lr, weight_decay, momentum, dampening;
    bool nesterov, first;
} nb_sgd_coef;
void nb_sgd_step_mt_f32(int nt, float *th, float *b, const float *g, int64_t n, const nb_sgd_coef *c);
void nb_sgd_step_mt_f64(int nt, double *th, double *b, const double *g, int64_t n, const nb_sgd_coef *c);

/* Adam / AdamW: mode 1 (AdamW) θ ← θ(1 − γλ), mode 2 (Adam with weight
 * decay) g ← g + λθ, mode 0 neither; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
 * vmax (amsgrad; NULL: off) ← max(vmax, v), used for v;
 * θ ← θ − γ/bc1 · m/(√v/bc2_sqrt + eps). */
typedef struct nb_adam_coef {
    double lr, weight_decay, beta1, beta2, eps, bc1, bc2_sqrt;
    int mode;
} nb_adam_coef;
void nb_adam_step_mt_f32(int nt, float *th, float *m, float *v, float *vmax, const float *g, int64_t n,
                         const nb_adam_coef *c);
void nb_adam_step_mt_f64(int nt, double *th, double *m, double *v, double *vmax, const double *g, int64_t n,
                         const nb_adam_coef *c);

#endif
