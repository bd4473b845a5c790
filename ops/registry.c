/* ops/registry.c — the op registry, expanded from ops/ops.def, and the
 * helpers op files use to make sample inputs. */
#include "../autograd/internal.h"

#define NB_OP(name) extern const nb_op_entry nb_entry_##name;
#include "ops.def"
#undef NB_OP

static const nb_op_entry *const g_registry[] = {
#define NB_OP(name) &nb_entry_##name,
#include "ops.def"
#undef NB_OP
};

int nb_registry_count(void) { return (int)(sizeof g_registry / sizeof g_registry[0]); }

const nb_op_entry *nb_registry_get(int i) { return i >= 0 && i < nb_registry_count() ? g_registry[i] : NULL; }

const nb_op_entry *nb_registry_find(const char *name) {
    for (int i = 0; i < nb_registry_count(); i++)
        if (strcmp(g_registry[i]->name, name) == 0) return g_registry[i];
    return NULL;
}

nb_tensor *nb_sample_apply(nb_tensor *const *in, int nin, void *ctx) {
    const nb_sample *s = ctx;
    return s->entry->apply(in, nin, s);
}

nb_tensor *nb_sample_uniform(nb_shape s, double lo, double hi) {
    return nb_set_requires_grad(nb_rand(NB_F64, s, lo, hi), true);
}

nb_tensor *nb_sample_away0(nb_shape s, double lo, double hi) {
    nb_tensor *t = nb_rand(NB_F64, s, lo, hi);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++)
        if (nb_rand_uniform() < 0.5) nb_f64(t)[i] = -nb_f64(t)[i];
    return nb_set_requires_grad(t, true);
}
