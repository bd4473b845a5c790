/* ops/broadcast.c — broadcast shape rule and the strided iterator's setup. */
#include "broadcast.h"
#include "../autograd/internal.h"

bool nb_broadcast_shape(const char *op, const nb_tensor *a, const nb_tensor *b, nb_shape *out) {
    int nd = a->shape.ndim > b->shape.ndim ? a->shape.ndim : b->shape.ndim;
    nb_shape s = {.ndim = nd};
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->shape.ndim), ib = i - (nd - b->shape.ndim);
        int64_t da = ia >= 0 ? a->shape.d[ia] : 1, db = ib >= 0 ? b->shape.d[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char x[NB_DESCRIBE_LEN], y[NB_DESCRIBE_LEN];
            nb_fail(NB_ERR_SHAPE, op, "shapes don't broadcast (dim %d: %lld vs %lld): %s, %s", i, (long long)da,
                    (long long)db, nb_describe(a, "a", x, sizeof x), nb_describe(b, "b", y, sizeof y));
            return false;
        }
        s.d[i] = da == 1 ? db : da;
    }
    *out = s;
    return true;
}

static void strides_for(int64_t *st, nb_shape out, nb_shape in) {
    int64_t stride = 1;
    for (int i = out.ndim - 1; i >= 0; i--) {
        int j = i - (out.ndim - in.ndim);
        if (j >= 0 && in.d[j] != 1) {
            st[i] = stride;
            stride *= in.d[j];
        } else {
            st[i] = 0;
        }
    }
}

void nb_bc_init(nb_bc *bc, nb_shape out, nb_shape a, nb_shape b) {
    int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
    strides_for(sa, out, a);
    strides_for(sb, out, b);
    bc->numel = nb_shape_numel(out);
    /* Drop size-1 dims, then merge dim i into i+1 when every operand is
     * contiguous (or broadcast) across the pair. */
    int nd = 0;
    for (int i = 0; i < out.ndim; i++) {
        if (out.d[i] == 1) continue;
        if (nd > 0) {
            int p = nd - 1;
            int64_t inner = bc->shape[p];
            (void)inner;
            /* previous kept dim p is outer to i */
            if (bc->sa[p] == sa[i] * out.d[i] && bc->sb[p] == sb[i] * out.d[i] && ((sa[i] == 0) == (bc->sa[p] == 0)) &&
                ((sb[i] == 0) == (bc->sb[p] == 0))) {
                bc->shape[p] *= out.d[i];
                bc->sa[p] = sa[i];
                bc->sb[p] = sb[i];
                continue;
            }
        }
        bc->shape[nd] = out.d[i];
        bc->sa[nd] = sa[i];
        bc->sb[nd] = sb[i];
        nd++;
    }
    if (nd == 0) {
        bc->shape[0] = 1;
        bc->sa[0] = bc->sb[0] = 0;
        nd = 1;
    }
    bc->nd = nd;
}
