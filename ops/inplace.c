/* ops/inplace.c — in-place updates (optimizers, accumulators). Not recorded:
 * they bump the version counter so backward catches a saved tensor that
 * changed, and they refuse to run on the graph while grad mode is on. */
#include "broadcast.h"
#include "kernels/vmath.h"
#include "../autograd/internal.h"

static bool inplace_ok(const char *op, nb_tensor *dst, const nb_tensor *src, bool needs_src) {
    if (!dst || (needs_src && !src)) return false; /* NULL: an earlier error, already kept */
    if (!nb__alive(op, "dst", -1, dst) || (src && !nb__alive(op, "src", -1, src))) return false;
    char d[NB_DESCRIBE_LEN], e[NB_DESCRIBE_LEN];
    if (!nb__is_float(dst->dtype) || (src && src->dtype != dst->dtype)) {
        nb_fail(NB_ERR_DTYPE, op, "needs matching float dtypes: dst is %s%s%s", nb_dtype_name(dst->dtype),
                src ? ", src is " : "", src ? nb_dtype_name(src->dtype) : "");
        return false;
    }
    if (nb_grad_enabled() && !dst->requires_grad && dst->base && dst->base->requires_grad) {
        nb_fail(NB_ERR_GRAPH, op,
                "%s is a view of '%s', a tensor that requires grad; writing through the view would change it "
                "behind the graph's back: run the update under nb_no_grad",
                nb_describe(dst, "dst", d, sizeof d), dst->base->name[0] ? dst->base->name : "(unnamed)");
        return false;
    }
    if (nb_grad_enabled() && dst->requires_grad) {
        nb_fail(NB_ERR_GRAPH, op, "%s and %s; in-place updates of it must run under nb_no_grad (as optimizers do)",
                nb_describe(dst, "dst", d, sizeof d),
                dst->node ? "is part of a recorded graph" : "is a leaf that requires grad");
        return false;
    }
    if (src) {
        nb_shape s;
        if (!nb_broadcast_shape(op, dst, src, &s)) return false;
        if (!nb_shape_eq(s, dst->shape)) {
            nb_fail(NB_ERR_SHAPE, op, "src must broadcast to dst without growing it: %s, %s",
                    nb_describe(dst, "dst", d, sizeof d), nb_describe(src, "src", e, sizeof e));
            return false;
        }
    }
    return true;
}

/* dst[i] = EXPR(dst[i], s) where s is src broadcast to dst (or the scalar A). */
#define INPLACE(dst, src, A, EXPR)                                                     \
    do {                                                                               \
        nb_bc bc;                                                                      \
        nb_bc_init(&bc, (dst)->shape, (dst)->shape, (src) ? (src)->shape : NB_SCALAR); \
        NB_FLOAT_DISPATCH((dst)->dtype, T, {                                           \
            T *D = (T *)(dst)->data;                                                   \
            const T *S = (src) ? (const T *)(src)->data : NULL;                        \
            const T al = (T)(A);                                                       \
            (void)al;                                                                  \
            NB_BC_FOR(&bc, {                                                           \
                for (int64_t j = 0; j < len; j++) {                                    \
                    T *dd = &D[oo + j];                                                \
                    const T s = S ? S[ob + j * sb] : 0;                                \
                    (void)s;                                                           \
                    *dd = (T)(EXPR);                                                   \
                }                                                                      \
            });                                                                        \
        });                                                                            \
        nb_bump_version(dst);                                                          \
    } while (0)

nb_tensor *nb_add_(nb_tensor *dst, const nb_tensor *b) {
    if (!inplace_ok("add_", dst, b, true)) return NULL;
    if (b->numel == dst->numel) { /* same shape: the vector loop (optimizers) */
        if (dst->dtype == NB_F32) nb_vadd_f32(nb_f32(dst), nb_f32(b), dst->numel);
        else nb_vadd_f64(nb_f64(dst), nb_f64(b), dst->numel);
        nb_bump_version(dst);
        return dst;
    }
    INPLACE(dst, b, 0, *dd + s);
    return dst;
}
nb_tensor *nb_sub_(nb_tensor *dst, const nb_tensor *b) {
    if (!inplace_ok("sub_", dst, b, true)) return NULL;
    INPLACE(dst, b, 0, *dd - s);
    return dst;
}
nb_tensor *nb_mul_(nb_tensor *dst, const nb_tensor *b) {
    if (!inplace_ok("mul_", dst, b, true)) return NULL;
    INPLACE(dst, b, 0, *dd * s);
    return dst;
}
nb_tensor *nb_axpy_(nb_tensor *dst, double alpha, const nb_tensor *x) {
    if (!inplace_ok("axpy_", dst, x, true)) return NULL;
    if (x->numel == dst->numel) { /* same shape: the vector loop (optimizers) */
        if (dst->dtype == NB_F32) nb_vaxpy_f32(nb_f32(dst), (float)alpha, nb_f32(x), dst->numel);
        else nb_vaxpy_f64(nb_f64(dst), alpha, nb_f64(x), dst->numel);
        nb_bump_version(dst);
        return dst;
    }
    INPLACE(dst, x, alpha, *dd + al * s);
    return dst;
}
nb_tensor *nb_scale_(nb_tensor *dst, double s_) {
    if (!inplace_ok("scale_", dst, NULL, false)) return NULL;
    if (dst->dtype == NB_F32) nb_vscale_f32(nb_f32(dst), (float)s_, dst->numel);
    else nb_vscale_f64(nb_f64(dst), s_, dst->numel);
    nb_bump_version(dst);
    return dst;
}
nb_tensor *nb_fill_(nb_tensor *dst, double v) {
    if (!inplace_ok("fill_", dst, NULL, false)) return NULL;
    INPLACE(dst, (const nb_tensor *)NULL, v, al);
    return dst;
}
nb_tensor *nb_copy_(nb_tensor *dst, const nb_tensor *src) {
    if (!inplace_ok("copy_", dst, src, true)) return NULL;
    INPLACE(dst, src, 0, s);
    return dst;
}
