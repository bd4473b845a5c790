/* nabla/optim.h — optimizers, learning-rate schedules, clipping, early stopping, averaging.
 *
 * Optimizers update parameters in place, under no-grad, with the tensor ops
 * (nb_axpy_, nb_mul_, ...) so each update reads like its formula; the rules
 * and defaults are torch.optim's (docs/nn.md has every formula). Their state
 * (momentum buffers, moment estimates) is made of persistent tensors, exposed
 * by name for checkpoints; one step's temporaries live in a scope the step
 * opens itself, so a training loop's memory stays flat.
 *
 *     nb_optim *opt = nb_optim_adam(net, 1e-3);
 *     ... nb_zero_grad(net); nb_backward(loss); nb_optim_step(opt); ...
 *     nb_optim_free(opt);
 *
 * A parameter whose .grad was never made (it got no gradient) is skipped, as
 * torch skips p.grad is None.
 */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nb_module;

/* ================================================================ optimizers */

typedef enum nb_optim_kind {
    NB_OPTIM_SGD = 0,
    NB_OPTIM_ADAGRAD,
    NB_OPTIM_RMSPROP,
    NB_OPTIM_ADADELTA,
    NB_OPTIM_ADAM,
    NB_OPTIM_ADAMW
} nb_optim_kind;

/* Every hyper-parameter of every optimizer; nb_optim_defaults gives
 * torch.optim's defaults for a kind, then change what you need. */
typedef struct nb_optim_opts {
    nb_optim_kind kind;
    double lr;                        /* γ   SGD 1e-3*, Adagrad 1e-2, RMSprop 1e-2, Adadelta 1.0, Adam(W) 1e-3 */
    double weight_decay;              /* λ   0 (AdamW: 1e-2, decoupled); else g += λθ                         */
    double momentum;                  /* μ   SGD, RMSprop: 0                                                  */
    double dampening;                 /* τ   SGD: 0                                                           */
    bool nesterov;                    /*     SGD: false (needs momentum > 0 and dampening 0)                 */
    double beta1, beta2;              /*     Adam(W): 0.9, 0.999                                              */
    double eps;                       /*     Adam(W), RMSprop 1e-8; Adagrad 1e-10; Adadelta 1e-6              */
    bool amsgrad;                     /*     Adam(W): false                                                   */
    double alpha;                     /* α   RMSprop smoothing: 0.99                                          */
    bool centered;                    /*     RMSprop: false                                                   */
    double rho;                       /* ρ   Adadelta: 0.9                                                    */
    double lr_decay;                  /* η   Adagrad: 0                                                       */
    double initial_accumulator_value; /* Adagrad: 0                                             */
    /* SGD, Adam(W): one fused loop per parameter instead of the composed
     * ops (same arithmetic in the same order; test_optim checks they agree:
     * SGD bit for bit). nb_optim_defaults turns it on: the composed Adam step
     * costs about as much as forward+backward of a small MLP (docs/nn.md),
     * the composed SGD with momentum makes 3 passes over the parameters
     * (5 with weight decay or Nesterov). Ignored elsewhere. */
    bool fused;
} nb_optim_opts;
/* (* torch < 2 had no default SGD lr; 1e-3 is torch 2's.) */
NB_API nb_optim_opts nb_optim_defaults(nb_optim_kind kind);

typedef struct nb_optim nb_optim;

/* An optimizer over n named parameters (names copied; the tensors are
 * borrowed and must outlive it). Returns NULL (error reported) on a bad
 * option. Free with nb_optim_free. */
NB_API nb_optim *nb_optim_new(const nb_optim_opts *o, const nb_named_tensor *params, int n);
/* Over every parameter of a module (names as nb_module_parameters). */
NB_API nb_optim *nb_optim_new_module(const nb_optim_opts *o, struct nb_module *m);
/* Over plain tensors (named "0", "1", ...), for models without modules. */
NB_API nb_optim *nb_optim_new_tensors(const nb_optim_opts *o, nb_tensor *const *ts, int n);

/* Parameter groups (torch's param_groups): each group has its own lr and
 * weight decay (a negative value takes the one in the optimizer's opts;
 * NB_OPTIM_INHERIT), every other option is the optimizer's. A tensor may be
 * in one group only (NB_ERR_ARG otherwise, as torch refuses it).
 * Named state and checkpoints are as without groups; the groups' lrs are
 * what nb_optim_set_lr rescales. */
#define NB_OPTIM_INHERIT (-1.0)
typedef struct nb_optim_group {
    const nb_named_tensor *params; /* borrowed: the tensors must outlive the optimizer */
    int n;
    double lr;           /* NB_OPTIM_INHERIT: the opts' lr */
    double weight_decay; /* NB_OPTIM_INHERIT: the opts' weight_decay */
} nb_optim_group;
NB_API nb_optim *nb_optim_new_groups(const nb_optim_opts *o, const nb_optim_group *groups, int ngroups);
/* The GPT recipe: two groups over m's parameters. Group 0: those with
 * ndim >= 2 (the weights of Linear, Conv, Embedding), with o's weight
 * decay; group 1: the rest (biases, LayerNorm/RMSNorm/BatchNorm weights),
 * weight_decay 0. Each in nb_module_parameters order; a tied weight
 * (nb_module_tie_param) once. With kind NB_OPTIM_ADAMW this is
 * torch.optim.AdamW([{"params": decay, "weight_decay": λ},
 *                    {"params": no_decay, "weight_decay": 0.0}], lr). */
NB_API nb_optim *nb_optim_new_module_decay(const nb_optim_opts *o, struct nb_module *m);
/* 1 for an optimizer made without groups. */
NB_API int nb_optim_num_groups(const nb_optim *opt);
/* Group g's options (lr and weight_decay as in use), or NULL. */
NB_API const nb_optim_opts *nb_optim_get_group_opts(const nb_optim *opt, int g);
NB_API void nb_optim_set_group_lr(nb_optim *opt, int g, double lr);
/* The group a parameter is in, or -1. */
NB_API int nb_optim_group_of(const nb_optim *opt, const nb_tensor *param);

/* The short forms (torch's defaults for everything not named): */
/* SGD: b = μb + (1−τ)g (b₁ = g), θ −= γ·(nesterov ? g + μb : b); μ = 0 is plain SGD. */
NB_API nb_optim *nb_optim_sgd(struct nb_module *m, double lr, double momentum);
/* Adagrad: s += g², θ −= γ/(1+(t−1)η) · g/(√s + eps). */
NB_API nb_optim *nb_optim_adagrad(struct nb_module *m, double lr);
/* RMSprop: v = αv + (1−α)g², θ −= γ·g/(√v + eps). */
NB_API nb_optim *nb_optim_rmsprop(struct nb_module *m, double lr);
/* Adadelta: v = ρv + (1−ρ)g², Δ = √(u+eps)/√(v+eps)·g, u = ρu + (1−ρ)Δ², θ −= γΔ. */
NB_API nb_optim *nb_optim_adadelta(struct nb_module *m, double lr);
/* Adam: m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², θ −= γ·m̂/(√v̂ + eps),
 * m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). */
NB_API nb_optim *nb_optim_adam(struct nb_module *m, double lr);
/* AdamW: θ −= γλθ, then Adam's step (decoupled weight decay λ). */
NB_API nb_optim *nb_optim_adamw(struct nb_module *m, double lr, double weight_decay);

/* One update of every parameter with a gradient. Must not be called while a
 * graph built from the parameters will still be backpropagated (the versions
 * change: backward would report it). Returns NB_OK, or the error: one still
 * pending when it is called (recover mode, not cleared with nb_error_clear:
 * the step is then skipped, no parameter or step count changes, since the
 * gradients may come from the failed computation) or one the update raised. */
NB_API nb_status nb_optim_step(nb_optim *opt);
/* Zeroes the gradients of the optimizer's parameters. */
NB_API void nb_optim_zero_grad(nb_optim *opt);
/* Frees the optimizer and its state (not the parameters). Accepts NULL. */
NB_API void nb_optim_free(nb_optim *opt);

/* Sets the lr; with groups, group 0's lr becomes lr and every other group's
 * lr × (its lr when made / group 0's lr when made): the groups keep their
 * ratios, as under torch's LambdaLR (all groups' lr = lr when they were
 * made equal). nb_optim_get_lr is group 0's. */
NB_API void nb_optim_set_lr(nb_optim *opt, double lr);
NB_API double nb_optim_get_lr(const nb_optim *opt);
NB_API const nb_optim_opts *nb_optim_get_opts(const nb_optim *opt);
/* Number of nb_optim_step calls so far (also restorable for checkpoints). */
NB_API int64_t nb_optim_step_count(const nb_optim *opt);
NB_API void nb_optim_set_step_count(nb_optim *opt, int64_t steps);
/* The state tensors, named "<param>.<state>" with torch's state names:
 * "fc1.weight.momentum_buffer" (SGD with momentum), ".sum" (Adagrad),
 * ".square_avg", ".grad_avg", ".momentum_buffer" (RMSprop), ".square_avg",
 * ".acc_delta" (Adadelta), ".exp_avg", ".exp_avg_sq", ".max_exp_avg_sq"
 * (Adam, AdamW), and ".step" for every parameter (an f64 scalar: the updates
 * it has had, which drives bias correction and lr decay). Persistent, owned
 * by the optimizer; a checkpoint restores them by copying values in.
 * Writes up to max and returns the total count. Names live as long as opt. */
NB_API int nb_optim_named_state(nb_optim *opt, nb_named_tensor *out, int max);

/* ================================================================ schedules */

typedef enum nb_lr_kind {
    NB_LR_CONSTANT = 0,
    NB_LR_STEP,         /* lr₀·γ^⌊t/step_size⌋               (torch StepLR)        */
    NB_LR_EXPONENTIAL,  /* lr₀·γ^t                            (torch ExponentialLR) */
    NB_LR_EXP_DECAY,    /* lr₀·e^(−kt)                        (the lecture's form)  */
    NB_LR_INV_TIME,     /* lr₀/(1 + kt)                       (1/t decay)           */
    NB_LR_COSINE,       /* η_min + ½(lr₀ − η_min)(1 + cos(π·t/T_max)) (CosineAnnealingLR) */
    NB_LR_WARMUP_COSINE /* linear warm-up, then cosine to η_min (GPT recipe; nb_lr_warmup_cosine) */
} nb_lr_kind;

/* A schedule is a value: the formula's constants and the position t (epochs
 * or steps, as the caller counts them; save t in checkpoints). */
typedef struct nb_lr_schedule {
    nb_lr_kind kind;
    double lr0;
    double gamma;      /* STEP, EXPONENTIAL */
    double k;          /* EXP_DECAY, INV_TIME */
    int64_t step_size; /* STEP; WARMUP_COSINE: the warm-up steps */
    int64_t t_max;     /* COSINE (t past t_max continues the cosine, like torch's closed form);
                          WARMUP_COSINE: the step where the decay ends */
    double eta_min;    /* COSINE */
    int64_t t;         /* position */
} nb_lr_schedule;

NB_API nb_lr_schedule nb_lr_step(double lr0, int64_t step_size, double gamma);
NB_API nb_lr_schedule nb_lr_exponential(double lr0, double gamma);
NB_API nb_lr_schedule nb_lr_exp_decay(double lr0, double k);
NB_API nb_lr_schedule nb_lr_inv_time(double lr0, double k);
NB_API nb_lr_schedule nb_lr_cosine(double lr0, int64_t t_max, double eta_min);
/* The GPT recipe (nanoGPT, llm.c), t the 1-based step number:
 *   t <= warmup:          max_lr · t / warmup
 *   warmup < t <= total:  min_lr + ½(max_lr − min_lr)(1 + cos(π (t − warmup)/(total − warmup)))
 *   t > total:            min_lr
 * Per step: nb_lr_schedule_step(&s, opt) BEFORE each nb_optim_step (the
 * first call gives step 1's lr, max_lr/warmup, never 0). warmup 0 starts at
 * max_lr; total <= warmup (or not given) stays at max_lr after the warm-up. */
NB_API nb_lr_schedule nb_lr_warmup_cosine(double max_lr, int64_t warmup, int64_t total, double min_lr);
/* The learning rate at position t (closed form). */
NB_API double nb_lr_at(const nb_lr_schedule *s, int64_t t);
/* Advances t by one and sets opt's lr to nb_lr_at(s, t) (opt may be NULL);
 * returns the new lr. Call once per epoch, after the epoch, as torch's
 * scheduler.step(). */
NB_API double nb_lr_schedule_step(nb_lr_schedule *s, nb_optim *opt);

/* ================================================================ clipping */

/* Scales every gradient by max_norm/(‖g‖ + 1e-6) when the global L2 norm
 * ‖g‖ (over all parameters' gradients together) exceeds max_norm (torch's
 * clip_grad_norm_). Returns ‖g‖ before clipping. A NaN in any gradient makes
 * ‖g‖ NaN and every gradient NaN, as torch's (NaN propagates). */
NB_API double nb_clip_grad_norm(struct nb_module *m, double max_norm);
NB_API double nb_clip_grad_norm_list(nb_tensor *const *ts, int n, double max_norm);
/* Clamps every gradient element to [−clip, clip] (torch's clip_grad_value_). */
NB_API void nb_clip_grad_value(struct nb_module *m, double clip);
NB_API void nb_clip_grad_value_list(nb_tensor *const *ts, int n, double clip);

/* ================================================================ early stopping */

typedef enum nb_es_mode { NB_ES_MIN = 0, NB_ES_MAX } nb_es_mode;

/* Early stopping on a validation metric (Keras's EarlyStopping): a value
 * improves when it is below best − min_delta (NB_ES_MIN, a loss) or above
 * best + min_delta (NB_ES_MAX, an accuracy). After `patience` updates in a row
 * without improvement it says stop. With restore_best, each improvement
 * snapshots the module's parameters and buffers, and stopping copies the
 * best ones back (nb_early_stop_restore does it on demand). */
typedef struct nb_early_stop nb_early_stop;
NB_API nb_early_stop *nb_early_stop_new(struct nb_module *m, int patience, double min_delta, nb_es_mode mode,
                                        bool restore_best);
/* Feeds the metric of one epoch; returns true when training should stop. */
NB_API bool nb_early_stop_update(nb_early_stop *es, double metric);
NB_API bool nb_early_stop_should_stop(const nb_early_stop *es);
NB_API double nb_early_stop_best(const nb_early_stop *es);
/* The update index (0-based) of the best metric, -1 before any. */
NB_API int64_t nb_early_stop_best_epoch(const nb_early_stop *es);
/* Copies the best snapshot back into the module; false if there is none. */
NB_API bool nb_early_stop_restore(nb_early_stop *es);
NB_API void nb_early_stop_free(nb_early_stop *es);

/* ================================================================ averaging */

/* Exponential moving average of a module's parameters (the lecture's
 * "running average parameter vector" for test time):
 * shadow = decay·shadow + (1 − decay)·θ after every update; the shadow starts
 * at the parameters' values when made. */
typedef struct nb_ema nb_ema;
NB_API nb_ema *nb_ema_new(struct nb_module *m, double decay);
NB_API void nb_ema_update(nb_ema *e);
/* Puts the averaged weights into the module (keeping the trained ones aside)
 * and back. swap_in twice or swap_out without swap_in does nothing. */
NB_API void nb_ema_swap_in(nb_ema *e);
NB_API void nb_ema_swap_out(nb_ema *e);
/* The shadow of the i-th parameter (nb_module_parameters order). */
NB_API nb_tensor *nb_ema_shadow(nb_ema *e, int i);
NB_API void nb_ema_free(nb_ema *e);

/* dst's float parameters and buffers = the mean of those of srcs[0..n)
 * (modules of the same structure, e.g. several checkpoints loaded into copies
 * of the model). Integer buffers are taken from srcs[0]. Returns success. */
NB_API bool nb_average_modules(struct nb_module *dst, struct nb_module *const *srcs, int n);

#ifdef __cplusplus
}
#endif
#endif
