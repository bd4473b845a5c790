/* ops/broadcast.h — NumPy broadcasting as strided iteration (internal): the
 * iteration itself (nb_bc, NB_BC_FOR) is kernels/bcast.h; this fills it from
 * shapes. */
#ifndef NB_BROADCAST_H
#define NB_BROADCAST_H

#include "kernels/bcast.h"
#include "nabla/nabla.h"

_Static_assert(NB_BC_MAX_DIMS == NB_MAX_DIMS, "kernels/bcast.h: NB_BC_MAX_DIMS must equal NB_MAX_DIMS");

/* a and b must broadcast to out (checked by the caller). */
void nb_bc_init(nb_bc *bc, nb_shape out, nb_shape a, nb_shape b);

#endif
