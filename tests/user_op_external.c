/* user_op_external.c — a program outside the build: it includes the
 * installed <nabla/nabla.h>, links the installed libnabla through pkg-config
 * (tests/test_installed.sh), defines an op of its own and gradchecks it.
 * Prints PASS and exits 0 when everything holds. */
#include <math.h>
#include <stdio.h>
#include <nabla/nabla.h>

/* y = x·σ(x) */
static void swish_fwd(nb_node *n) {
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data;
        T *y = (T *)n->out->data;
        for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] / (1 + exp(-x[i]));
    });
}

static void swish_bwd(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    NB_FLOAT_DISPATCH(gx->dtype, T, {
        const T *x = (const T *)n->in[0]->data, *g = (const T *)gy->data;
        T *d = (T *)gx->data;
        for (int64_t i = 0; i < gx->numel; i++) {
            T s = 1 / (1 + exp(-x[i]));
            d[i] += g[i] * (s + x[i] * s * (1 - s));
        }
    });
}

/* the same op with the product rule's second term forgotten */
static void swish_bwd_buggy(nb_node *n, const nb_tensor *gy) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    for (int64_t i = 0; i < gx->numel; i++) nb_f64(gx)[i] += nb_f64(gy)[i] / (1 + exp(-nb_f64(n->in[0])[i]));
}

/* The last field: the dtypes the op's inputs may have. swish's code is
 * generic; the buggy twin's backward reads F64 only, and says so (nb_apply
 * refuses F32 instead of letting it read past the buffers). */
static const nb_op SWISH = {"swish", swish_fwd, swish_bwd, NB_SAVES_IN(0), false, NULL, NB_DTYPES_FLOAT};
static const nb_op SWISH_BUGGY = {"swish_buggy", swish_fwd, swish_bwd_buggy,     NB_SAVES_IN(0),
                                  false,         NULL,      NB_DTYPE_BIT(NB_F64)};

static nb_tensor *swish(nb_tensor *x) { return nb_apply(&SWISH, &x, 1, nb_shape_of(x)); }
static nb_tensor *swish_buggy(nb_tensor *x) { return nb_apply(&SWISH_BUGGY, &x, 1, nb_shape_of(x)); }

int main(void) {
    int failures = 0;
    nb_seed(1);
    nb_tensor *x = nb_rand(NB_F64, NB_SHAPE(4, 5), -3, 3);

    nb_gradcheck_report r = nb_gradcheck1(swish, x, NULL);
    printf("swish: %s (worst rel err %.2e)\n", r.ok ? "ok" : "FAILED", r.rel_err);
    failures += !r.ok;

    nb_gradcheck_opts quiet = nb_gradcheck_defaults();
    quiet.quiet = true;
    r = nb_gradcheck1(swish_buggy, x, &quiet);
    printf("swish_buggy: %s\n", r.ok ? "passed (wrong!)" : "caught");
    failures += r.ok;

    /* one training-style step: scope, forward, backward */
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(3)), true);
    nb_scope *s = nb_scope_begin();
    nb_tensor *loss = nb_sum_all(swish(nb_mul(w, nb_full(NB_F32, NB_SHAPE(3), 2))));
    failures += nb_backward(loss) != NB_OK;
    nb_scope_end(&s);
    double sg = 1 / (1 + exp(-2.0)), want = 2 * (sg + 2 * sg * (1 - sg));
    failures += fabs(nb_f32(w->grad)[0] - want) > 1e-5;
    printf("grad through swish: %.6f (want %.6f)\n", nb_f32(w->grad)[0], want);

    nb_tensor_free(w);
    nb_tensor_free(x);
    puts(failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
