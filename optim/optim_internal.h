/* optim/optim_internal.h — the optimizer struct shared by the optim/ sources. */
#ifndef NB_OPTIM_INTERNAL_H
#define NB_OPTIM_INTERNAL_H

#include "../autograd/internal.h"

#define NB_OPT_MAX_STATE 3

typedef struct nb__opt_param {
    char *name;
    nb_tensor *p;                       /* borrowed parameter             */
    nb_tensor *state[NB_OPT_MAX_STATE]; /* persistent, NULL where unused  */
    nb_tensor *step;                    /* persistent f64 scalar: updates */
    int group;                          /* its parameter group (0 without groups) */
} nb__opt_param;

/* One update of one parameter: g its gradient (with weight decay applied
 * where the rule says so), t the 1-based count of its updates. Runs under
 * no-grad inside the step's own scope. */
typedef void (*nb__opt_update)(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t);

struct nb_optim {
    nb_optim_opts o;
    nb__opt_param *ps;
    int n;
    int64_t steps;
    nb__opt_update update;
    const char *state_names[NB_OPT_MAX_STATE];
    nb_named_tensor *named; /* nb_optim_named_state's list, built once */
    char *named_buf;
    int nnamed;
    /* parameter groups (nb_optim_new_groups); NULL/0 without: o alone */
    nb_optim_opts *gopts;
    double *base_lr; /* each group's lr when made (nb_optim_set_lr keeps their ratios) */
    int ngroups;
};

void nb__sgd_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t);
void nb__adagrad_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t);
void nb__rmsprop_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t);
void nb__adadelta_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t);
void nb__adam_update(const nb_optim_opts *o, nb__opt_param *p, nb_tensor *g, double t);
/* The fused Adam(W) step of every parameter with a gradient in one parallel
 * region (counts included); false, touching nothing, where it does not
 * apply (not Adam, an unfused group, one thread or too little work): the
 * per-parameter loop then runs. Scratch in s. */
bool nb__adam_step_all(nb_optim *opt, nb_scope *s);

/* g + λθ as a new (scoped) tensor: torch's grad.add(param, alpha=λ). */
nb_tensor *nb__with_weight_decay(nb_tensor *g, nb_tensor *p, double wd);

#endif
