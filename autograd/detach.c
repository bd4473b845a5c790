/* autograd/detach.c — nb_detach: a view of a tensor's data cut off from the
 * graph (torch's x.detach()), for truncated backpropagation through time. */
#include "internal.h"

nb_tensor *nb_detach(nb_tensor *x) {
    if (!x) return NULL;
    if (!nb__alive("detach", "x", -1, x)) return NULL;
    /* a view header: the data and version counter are x's; node NULL,
     * requires_grad false, grad NULL (tensor_init zeroes them) */
    nb_tensor *v = nb__tensor_view(x, x->shape, nb_scope_current());
    if (!v) {
        nb_fail(NB_ERR_NOMEM, "detach", "no memory for a tensor header");
        return NULL;
    }
    memcpy(v->name, x->name, sizeof v->name); /* errors keep naming it */
    return v;
}
