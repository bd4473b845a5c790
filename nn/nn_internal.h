/* nn/nn_internal.h — the module struct, shared by nn/ and optim/ (never installed). */
#ifndef NB_NN_INTERNAL_H
#define NB_NN_INTERNAL_H

#include "nabla/nabla.h"

#include <string.h>

#define NB_MOD_TYPE_MAX 32
#define NB_MOD_DESC_MAX 128
#define NB_MOD_PATH_MAX 192

typedef struct nb__mod_entry {
    char name[NB_NAME_MAX];
    nb_tensor *t;
    bool tied; /* nb_module_tie_param: another module owns t; walks skip it */
} nb__mod_entry;

typedef struct nb__mod_child {
    char name[NB_NAME_MAX];
    nb_module *m;
} nb__mod_child;

/* A flat, dotted-name listing of a module tree, rebuilt when the tree changes. */
typedef struct nb__mod_flat {
    nb_named_tensor *items;
    char *names;
    int n;
    uint64_t gen; /* structure generation it was built at (0 = never) */
} nb__mod_flat;

struct nb_module {
    char type[NB_MOD_TYPE_MAX];
    char desc[NB_MOD_DESC_MAX];
    char path[NB_MOD_PATH_MAX];
    nb_module_forward_fn forward;
    void (*on_free)(nb_module *m);
    bool training;
    nb_module *parent;
    nb__mod_entry *params;
    int nparams, cap_params;
    nb__mod_entry *buffers;
    int nbuffers, cap_buffers;
    nb__mod_child *children;
    int nchildren, cap_children;
    void *data; /* layer configuration or the user's struct */
    nb__mod_flat flat_params, flat_all;
    bool failed; /* a parameter or buffer could not be made (nb__layer_done) */
};

/* A new persistent tensor (whatever scope is open), zeroed; NULL (reported)
 * for a shape no memory holds. */
nb_tensor *nb__persistent_zeros(nb_dtype dt, nb_shape s);
/* true when a weight of these n sizes fits in memory's addressing (checked
 * product at most 2^58); else reports it, naming the layer. Constructors ask
 * before allocating anything. */
bool nb__weight_fits(const char *layer, int n, const int64_t *sizes);
/* Ends a layer constructor: m, or NULL (m freed) when one of its parameters
 * or buffers could not be made. */
nb_module *nb__layer_done(nb_module *m);
/* A new persistent zeroed tensor with t's dtype and shape. */
static inline nb_tensor *nb__tensor_new_persistent_like(const nb_tensor *t) {
    return nb_zeros_persistent(t->dtype, t->shape);
}

/* The module's parameters (or parameters and buffers) as its cached flat
 * list: no allocation once built. Valid until the module's structure changes. */
const nb_named_tensor *nb__module_list(nb_module *m, bool buffers, int *n);

/* A layer module with data_size bytes of config, its description printf-style. */
nb_module *nb__layer_new(const char *type, nb_module_forward_fn fwd, size_t data_size, const char *fmt, ...)
    NB_PRINTF(4, 5);

/* r + linear(x) for a Linear module m, as one op (nb_affine_add): a
 * residual connection after the layer (the transformer block's). */
nb_tensor *nb__linear_add(nb_module *m, nb_tensor *x, nb_tensor *r);

/* Input checks for layers: false (error reported naming the layer) if x's
 * float dtype differs from the first parameter's, or ndim not in [lo, hi]. */
bool nb__check_input(nb_module *m, nb_tensor *x, int lo_ndim, int hi_ndim, const char *expected);

/* functional.c: a constant in x's float dtype, 1 where scale·x > threshold
 * and 0 elsewhere (NaN: 0), for nb_where's condition; *any (may be NULL)
 * tells whether one element is 1. NULL when out of memory. */
nb_tensor *nb__mask_above(const nb_tensor *x, double scale, double threshold, bool *any);

/* loss.c, shared with loss_ext.c: a loss's reduction (mean, sum, none) and
 * the "a and b must have the same shape" check naming both. */
nb_tensor *nb__loss_reduce(nb_tensor *l, nb_reduction red);
bool nb__loss_same_shape(const char *loss, const nb_tensor *a, const char *an, const nb_tensor *b, const char *bn);

/* norm.c: a BatchNorm's channels, eps, momentum, spatial dims (1 or 2);
 * false when m is not a BatchNorm1d/2d; with converted, also true for one
 * whose forward dist/dist.c replaced by its synchronized one. */
bool nb__batchnorm_config(const nb_module *m, bool converted, int64_t *ch, double *eps, double *momentum, int *spatial);

#endif
