/* tests/test_nan.c — NaN and infinities propagate as in PyTorch.
 *
 * tests/fixtures/nan/<op>.txt (written by tests/fixtures/gen_nan_fixtures.py)
 * holds, for every registry op, variants of a few of its samples with one
 * element of one floating input set to NaN, +Inf or -Inf, and PyTorch's
 * output and input gradients for each, in float64 and float32. The files
 * nn_<case>.txt do the same for losses and layers of nn/ that are
 * compositions (nb_svm_loss, nb_cross_entropy, ...), applied by the table
 * nn_cases below.
 *
 * Each variant runs through nabla in F64 and F32, under every ISA the CPU
 * has (kernels/cpu.h: scalar, AVX2, AVX-512 — the SIMD min/max instructions
 * treat NaN by operand order, so each path is checked; NB_NAN_BEST_ISA set:
 * only the CPU's best), and every element of the output and of each input
 * gradient must be of the same kind as PyTorch's: NaN where PyTorch has NaN,
 * the same infinity, and a finite value within
 * err = |nabla - torch| / max(|torch|, 1e-3) <= 1e-9 (F64) or 3e-4 (F32) of
 * PyTorch's. A self-test requires the checker to reject relu as it was
 * (x > 0 ? x : 0), and a file naming no op or case fails as stale. The rule: no op turns a NaN into a number unless PyTorch
 * does (docs/numerics.md). Deliberate differences are in `exceptions`, each
 * with its reason. NB_NAN_FIXTURES_DIR overrides the fixture directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nabla/nabla.h"
#include "kernels/cpu.h"
#include "ref_fixture.h"

#ifndef NB_NAN_FIXTURES
#define NB_NAN_FIXTURES "tests/fixtures/nan"
#endif

/* Finite values: F64 as the reference test; F32 at its loosest override
 * (test_reference.c: gelu, gelu_tanh, layer_norm), the finite values being
 * checked tightly there and the kinds of values here. */
#define TOL_F64 1e-9
#define TOL_F32 3e-4
#define REL_FLOOR 1e-3

/* Where nabla deliberately differs from PyTorch on non-finite input. An
 * entry matches a comparison by op, what ("output", "grad" or NULL for
 * both), the substituted value ("nan", "inf", "-inf"; NULL any) and a piece
 * of the variant's description (NULL any), and excuses one direction of
 * mismatch only (kind): nabla NaN where PyTorch has a number or an infinity
 * (the safe side), both non-finite but different, or nabla a number where
 * PyTorch has NaN (each such entry says why that number is right). Other
 * elements of the same tensor are still compared. */
enum { NABLA_NAN, BOTH_NONFINITE, NABLA_NUMBER };
static const struct {
    const char *op, *what, *value, *desc;
    int kind;
    const char *why;
} exceptions[] = {
    {"max", "grad", "nan", "axes 0 and", NABLA_NUMBER,
     "over several axes torch.amax's backward divides by the count of elements equal to the result, 0 when it "
     "is NaN, so the whole group gets NaN; nabla sends g to the NaN, as torch.max(x) and torch.max(x, dim) do"},
    {"min", "grad", "nan", "axes 0 and", NABLA_NUMBER, "as max"},
    {"elu", "grad", "nan", NULL, NABLA_NAN,
     "PyTorch's elu backward gives g at a NaN in its scalar loop (x <= 0 is false) and NaN in its vector loop "
     "(blend on x > 0), i.e. NaN except in a tensor's last few elements; nabla gives NaN everywhere"},
    {"bce_with_logits", "output", "-inf", NULL, BOTH_NONFINITE,
     "x = -inf: nabla gives the limit -x*y = +inf (y > 0); PyTorch's (1-y)x + max(-x,0) + ... is inf - inf = NaN"},
    {"nn_bce_with_logits_loss", "output", "-inf", NULL, BOTH_NONFINITE, "as bce_with_logits"},
    {"nn_multi_margin_p2", NULL, "nan", NULL, NABLA_NAN,
     "F.multi_margin_loss's kernel skips a NaN term (`if (z > 0)`): a NaN score gives a number; nabla's "
     "composition (relu, as torch.relu) gives NaN, the rule of docs/numerics.md"},
    {"layer_norm", "grad", "inf", "affine", BOTH_NONFINITE,
     "an infinite weight makes several terms of dx infinite; which of them cancel to NaN and which stay ±Inf "
     "depends on the order of the backward's sums (PyTorch: NaN, nabla: ±Inf)"},
    {"layer_norm", "grad", "-inf", "affine", BOTH_NONFINITE, "as for +inf"},
    {"layer_norm", "grad", "inf", "rows past", BOTH_NONFINITE, "as for the affine sample"},
    {"layer_norm", "grad", "-inf", "rows past", BOTH_NONFINITE, "as for the affine sample"},
    {"sdpa", "grad", NULL, "fully masked", NABLA_NAN,
     "a masked entry's weight is 0 and PyTorch's masked_fill gives it exactly 0 gradient; nabla's backward "
     "sees only the weights, so where dW is NaN (a NaN or infinite v) 0·NaN is NaN"},
    {"sdpa_packed", "grad", NULL, "key padding", NABLA_NAN,
     "as sdpa's fully masked row (masked entries of a row a NaN or an infinity reached)"},
    {"sdpa_packed", NULL, "inf", "key padding", NABLA_NUMBER,
     "an infinite q makes every unmasked score of a causal row -inf: nabla takes a row of -inf as fully masked "
     "(zeros, its documented rule; it cannot tell a -inf mask from a -inf score), PyTorch gives NaN"},
    {"sdpa", "grad", NULL, "causal", NABLA_NUMBER,
     "a causal row's entries past the diagonal are never computed (as in PyTorch's fused attention kernels), "
     "so a NaN or an infinity in a later key or value gives the row's q no gradient; PyTorch 1.13's math path "
     "multiplies their 0 weight by it (0*NaN)"},
    {"sdpa_packed", "grad", NULL, "causal", NABLA_NUMBER, "as sdpa's causal rows"},
    {NULL, NULL, NULL, NULL, 0, NULL}, /* end */
};

/* The exception excusing nabla's g against PyTorch's w in this comparison, or -1. */
static int excepted(const char *op, const char *what, const char *desc, double g, double w) {
    const char *eq = strrchr(desc, '='), *value = eq ? eq + 1 : "";
    const int kind = isnan(g)          ? NABLA_NAN
        : !isfinite(g) && !isfinite(w) ? BOTH_NONFINITE
        : isfinite(g) && isnan(w)      ? NABLA_NUMBER
                                       : -1;
    for (int i = 0; exceptions[i].op; i++)
        if (strcmp(exceptions[i].op, op) == 0 && (!exceptions[i].what || strstr(what, exceptions[i].what)) &&
            (!exceptions[i].value || strcmp(exceptions[i].value, value) == 0) &&
            (!exceptions[i].desc || strstr(desc, exceptions[i].desc)) &&
            (exceptions[i].kind == kind || (exceptions[i].kind == BOTH_NONFINITE && !isfinite(g) && !isfinite(w))))
            return i;
    return -1;
}

static const char *nan_dir(void) {
    const char *d = getenv("NB_NAN_FIXTURES_DIR");
    return d && *d ? d : NB_NAN_FIXTURES;
}

/* ------------------------------------------------------------ nn/ compositions */

/* iarg[0] is the reduction (nb_reduction order: mean, sum, none), as the
 * generator's NN_CASES read it. */
#define RED(s) ((nb_reduction)(s)->iarg[0])
static nb_tensor *nn_svm(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_svm_loss(in[0], in[1], s->farg[0], RED(s));
}
static nb_tensor *nn_mm(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_multi_margin_loss(in[0], in[1], (int)s->iarg[1], s->farg[0], NULL, RED(s));
}
static nb_tensor *nn_ce(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    if (s->farg[0] == 0) return nb_cross_entropy(in[0], in[1], RED(s));
    nb_ce_opts o = NB_CE_DEFAULT;
    o.label_smoothing = s->farg[0];
    o.reduction = RED(s);
    return nb_cross_entropy_ex(in[0], in[1], &o);
}
static nb_tensor *nn_mse(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_mse_loss(in[0], in[1], RED(s));
}
static nb_tensor *nn_bce(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_bce_with_logits_loss(in[0], in[1], RED(s));
}
static nb_tensor *nn_l1(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_l1_loss(in[0], in[1], RED(s));
}
static nb_tensor *nn_smooth_l1(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_smooth_l1_loss(in[0], in[1], s->farg[0], RED(s));
}
static nb_tensor *nn_huber(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_huber_loss(in[0], in[1], s->farg[0], RED(s));
}
static nb_tensor *nn_prelu(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_prelu(in[0], in[1]);
}
static nb_tensor *nn_softplus_ex(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_softplus_ex(in[0], s->farg[0], s->farg[1]);
}
static nb_tensor *nn_max_pool1d(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    nb_pool1d_opts o = NB_POOL1D_DEFAULT(3);
    o.stride = 2;
    o.pad = 1;
    return nb_max_pool1d(in[0], &o);
}

/* nb_clip_grad_norm_list on tensors whose gradients are in[0], in[1]: the
 * clipped gradients, flattened and concatenated. */
static nb_tensor *nn_clip(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    nb_tensor *p[2], *flat[2];
    for (int i = 0; i < 2; i++) {
        p[i] = nb_zeros(in[i]->dtype, in[i]->shape);
        nb_set_requires_grad(p[i], true);
        nb_copy_(nb_grad_buf(p[i]), in[i]);
    }
    nb_clip_grad_norm_list(p, 2, s->farg[0]);
    for (int i = 0; i < 2; i++) flat[i] = nb_reshape(p[i]->grad, NB_SHAPE(p[i]->numel));
    return nb_concat(flat, 2, 0);
}
static nb_tensor *nn_argmax(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_argmax(in[0], (int)s->iarg[0], false);
}
static nb_tensor *nn_argmin(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_argmin(in[0], (int)s->iarg[0], false);
}

static const nb_op_entry nn_cases[] = {
    {"nn_svm_loss", nn_svm, NULL, 0, 0},
    {"nn_svm_loss_none", nn_svm, NULL, 0, 0},
    {"nn_multi_margin_p2", nn_mm, NULL, 0, 0},
    {"nn_cross_entropy", nn_ce, NULL, 0, 0},
    {"nn_cross_entropy_none", nn_ce, NULL, 0, 0},
    {"nn_cross_entropy_smooth", nn_ce, NULL, 0, 0},
    {"nn_mse_loss", nn_mse, NULL, 0, 0},
    {"nn_bce_with_logits_loss", nn_bce, NULL, 0, 0},
    {"nn_l1_loss", nn_l1, NULL, 0, 0},
    {"nn_smooth_l1_loss", nn_smooth_l1, NULL, 0, 0},
    {"nn_huber_loss", nn_huber, NULL, 0, 0},
    {"nn_prelu", nn_prelu, NULL, 0, 0},
    {"nn_softplus_ex", nn_softplus_ex, NULL, 0, 0},
    {"nn_max_pool1d", nn_max_pool1d, NULL, 0, 0},
    {"nn_clip_grad_norm", nn_clip, NULL, 0, 0},
    {"nn_argmax", nn_argmax, NULL, 0, 0},
    {"nn_argmin", nn_argmin, NULL, 0, 0},
};
#define N_NN_CASES ((int)(sizeof nn_cases / sizeof nn_cases[0]))

/* ------------------------------------------------------------ checking */

typedef struct {
    const nb_op_entry *e;
    const char *isa;
    int variants, skipped, failures, printed, excepted;
    double worst[2];
} nan_result;

/* 0 NaN, 1 +Inf, 2 -Inf, 3 finite */
static int kind(double v) { return isnan(v) ? 0 : isinf(v) ? (v > 0 ? 1 : 2) : 3; }
static const char *kind_name(int k) { return (const char *[]){"NaN", "+Inf", "-Inf", "finite"}[k]; }

static void report(nan_result *R, const ref_sample *s, const char *what, const char *fmt, ...) {
    R->failures++;
    if (R->printed++ >= 6) return;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s [%s] sample %d [%s] %s: ", R->e->name, R->isa, s->index, s->desc, what);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* Compares got (NULL = zeros) with PyTorch's want, element by element. pad_only,
 * when given, marks elements where either answer is right (conv_pad_only). */
static void compare(nan_result *R, const ref_sample *s, int r, const char *what, const nb_tensor *got,
                    const ref_tensor *want, const bool *pad_only) {
    char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN];
    if (got && !nb_shape_eq(got->shape, want->shape)) {
        report(R, s, what, "shape %s, PyTorch %s", nb_shape_str(got->shape, a, sizeof a),
               nb_shape_str(want->shape, b, sizeof b));
        return;
    }
    const double tol = r == 0 ? TOL_F64 : TOL_F32;
    for (int64_t j = 0; j < want->numel; j++) {
        const double g = got ? nb_get(got, j) : 0.0, w = want->v[j];
        const int kg = kind(g), kw = kind(w);
        if (kg != kw) {
            if (pad_only && pad_only[j]) {
                R->excepted++;
                continue;
            }
            if (excepted(R->e->name, what, s->desc, g, w) >= 0) {
                R->excepted++;
                continue;
            }
            report(R, s, what, "element %lld is %.9g (%s), PyTorch %.9g (%s)", (long long)j, g, kind_name(kg), w,
                   kind_name(kw));
            return;
        }
        if (kw != 3) continue;
        const double err = g == w ? 0 : fabs(g - w) / fmax(fabs(w), REL_FLOOR);
        if (err > R->worst[r]) R->worst[r] = err;
        if (!(err <= tol)) {
            report(R, s, what, "element %lld is %.17g, PyTorch %.17g (error %.3g > %.0e)", (long long)j, g, w, err,
                   tol);
            return;
        }
    }
}

/* The input and element a variant replaced ("... | in1[7]=nan"); false if none. */
static bool variant_at(const ref_sample *s, int *input, int64_t *pos) {
    const char *p = strstr(s->desc, "| in");
    long long at;
    return p && sscanf(p, "| in%d[%lld]", input, &at) == 2 && (*pos = at, true);
}

/* conv2d/conv1d with a NaN or infinity in the weight: the output elements
 * where that weight meets only the zero padding. There 0·NaN is NaN for an
 * implementation that multiplies the padding (PyTorch's im2col path, nabla's
 * padded-width path) and absent for one that skips it (PyTorch's mkldnn path
 * for f32, nabla's grouped and implicit paths), so both answers are right.
 * Found by running the op on x = ones and a one-hot weight: the weight's
 * output channel, where that gives 0. NULL when not such a variant; else
 * the caller frees it. */
static bool *conv_pad_only(const nan_result *R, const ref_sample *s, const nb_tensor *y) {
    int in;
    int64_t pos;
    if ((strcmp(R->e->name, "conv2d") && strcmp(R->e->name, "conv1d")) || !variant_at(s, &in, &pos) || in != 1)
        return NULL;
    nb_sample smp = {.entry = R->e, .desc = s->desc, .nin = s->nin};
    memcpy(smp.iarg, s->iarg, sizeof smp.iarg);
    memcpy(smp.farg, s->farg, sizeof smp.farg);
    for (int i = 0; i < s->nin; i++) {
        smp.in[i] = nb_zeros(NB_F64, s->in[i].shape);
        if (i == 0) nb_fill_(smp.in[i], 1.0);
    }
    nb_f64(smp.in[1])[pos] = 1.0;
    nb_tensor *reach;
    NB_NO_GRAD { reach = R->e->apply(smp.in, smp.nin, &smp); }
    if (!reach || reach->numel != y->numel) return NULL;
    const int64_t O = s->in[1].shape.d[0], o = pos / (s->in[1].numel / O);
    const int64_t inner = y->numel / (y->shape.d[0] * O);
    bool *m = malloc((size_t)y->numel * sizeof *m);
    if (!m) return NULL;
    for (int64_t j = 0; j < y->numel; j++) m[j] = (j / inner) % O == o && nb_get(reach, j) == 0;
    return m;
}

/* Runs one variant in F64 (r = 0) or F32 (r = 1) and compares. */
static void check_run(nan_result *R, const ref_sample *s, int r) {
    const nb_dtype dt = r == 0 ? NB_F64 : NB_F32;
    const char *run = r == 0 ? "f64" : "f32";
    char what[64];
    nb_scope *sc = nb_scope_begin();
    nb_sample smp = ref_sample_inputs(R->e, s, dt);
    nb_error_clear();
    nb_tensor *y = R->e->apply(smp.in, smp.nin, &smp);
    snprintf(what, sizeof what, "%s output", run);
    if (!y) {
        report(R, s, what, "apply returned NULL: %s", nb_error_message());
        nb_error_clear();
        nb_scope_end(&sc);
        return;
    }
    bool *pad_only = conv_pad_only(R, s, y);
    compare(R, s, r, what, y, &s->out[r], pad_only);
    free(pad_only);
    if (y->requires_grad && y->dtype != NB_I64) {
        nb_tensor *g = nb_empty(y->dtype, y->shape);
        for (int64_t j = 0; j < g->numel; j++) {
            double v = 0.5 + 0.25 * sin((double)(j + 1));
            if (g->dtype == NB_F64) nb_f64(g)[j] = v;
            else nb_f32(g)[j] = (float)v;
        }
        if (nb_backward_with(y, g) != NB_OK) report(R, s, run, "backward failed: %s", nb_error_message());
        nb_error_clear();
    }
    for (int k = 0; k < s->ngrad[r]; k++) {
        int i = s->grad_of[r][k];
        snprintf(what, sizeof what, "%s grad of input %d", run, i);
        compare(R, s, r, what, smp.in[i]->grad, &s->grad[r][k], NULL);
    }
    nb_scope_end(&sc);
}

/* Every variant of the file at path; false with err set when it is missing or malformed. */
static bool run_file(nan_result *R, const char *path, char *err, size_t errsize) {
    char *text = read_text(path);
    if (!text) {
        snprintf(err, errsize, "no NaN fixture for %s: run tests/fixtures/gen_nan_fixtures.py (%s)", R->e->name, path);
        return false;
    }
    parser P = {.p = text, .text = text, .path = path};
    skip_space(&P);
    expect_word(&P, "samples");
    int64_t declared = read_int(&P);
    int n = 0;
    static ref_sample s;
    while (!P.err[0] && parse_sample(&P, R->e->name, &s)) {
        n++;
        if (s.skip) {
            R->skipped++;
        } else {
            check_run(R, &s, 0);
            check_run(R, &s, 1);
            R->variants++;
        }
        free_sample(&s);
    }
    free_sample(&s);
    if (!P.err[0] && n != declared) perr(&P, "%d variants, the header says %lld", n, (long long)declared);
    free(text);
    if (P.err[0]) {
        snprintf(err, errsize, "%s: bad fixture: %s", R->e->name, P.err);
        return false;
    }
    return true;
}

/* ------------------------------------------------- the checker's own test */

/* relu as it once was: x > 0 ? x : 0, which turns NaN into 0 (its
 * gradient x > 0 ? g : 0 likewise). The checker must reject it against relu's
 * fixture, and pass the real relu. */
static void swallow_fwd(nb_node *n) {
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data;
        for (int64_t i = 0; i < n->out->numel; i++) ((T *)n->out->data)[i] = x[i] > 0 ? x[i] : 0;
    });
}
static void swallow_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *gx = nb_grad_buf(n->in[0]);
    if (!gx) return;
    NB_FLOAT_DISPATCH(n->out->dtype, T, {
        const T *x = (const T *)n->in[0]->data, *gg = (const T *)g->data;
        for (int64_t i = 0; i < n->out->numel; i++) ((T *)gx->data)[i] += x[i] > 0 ? gg[i] : 0;
    });
}
static const nb_op swallow_op = {"relu", swallow_fwd, swallow_bwd, NB_SAVES_IN(0), false, NULL};
static nb_tensor *swallow_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin, (void)s;
    return nb_apply(&swallow_op, in, 1, in[0]->shape);
}

static void test_checker_catches_swallowed_nan(void **state) {
    (void)state;
    const nb_op_entry *relu = nb_registry_find("relu");
    assert_non_null(relu);
    const nb_op_entry fake = {"relu", swallow_apply, relu->samples, 0, 0};
    char path[1024], err[1400];
    snprintf(path, sizeof path, "%s/relu.txt", nan_dir());
    nan_result bad = {.e = &fake, .isa = "-", .printed = 1000}, good = {.e = relu, .isa = "-"};
    if (!run_file(&bad, path, err, sizeof err) || !run_file(&good, path, err, sizeof err)) fail_msg("%s", err);
    printf("self-test: relu that turns NaN into 0: %d disagreements; the real relu: %d\n", bad.failures, good.failures);
    assert_true(bad.variants > 0);
    assert_true(bad.failures > 0);
    assert_int_equal(good.failures, 0);
}

/* Every fixture file names a registry op or an nn case (else it is stale: delete it). */
static void test_no_stale_fixtures(void **state) {
    (void)state;
    DIR *d = opendir(nan_dir());
    if (!d) fail_msg("can't open the fixture directory %s", nan_dir());
    int stale = 0, files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".txt") != 0) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(n - 4), de->d_name);
        files++;
        bool known = nb_registry_find(name) != NULL;
        for (int i = 0; i < N_NN_CASES && !known; i++) known = strcmp(nn_cases[i].name, name) == 0;
        if (!known) {
            printf("FAIL stale fixture %s/%s: no op or nn case \"%s\" (delete it)\n", nan_dir(), de->d_name, name);
            stale++;
        }
    }
    closedir(d);
    printf("%d NaN fixture files, %d registry ops, %d nn cases, %d stale\n", files, nb_registry_count(), N_NN_CASES,
           stale);
    assert_int_equal(stale, 0);
}

static const char *isas[] = {"scalar", "avx2", "avx512"};

static void test_entry(void **state) {
    const nb_op_entry *e = *state;
    char path[1024], err[1400];
    snprintf(path, sizeof path, "%s/%s.txt", nan_dir(), e->name);
    int failures = 0;
    const bool best_only = getenv("NB_NAN_BEST_ISA") != NULL; /* test_nan_all_split: threads, not ISAs */
    for (int i = 0; i < 3; i++) {
        if (best_only && i != nb_cpu_isa()) continue;
        if (!nb_isa_set_cap(isas[i])) continue; /* the CPU lacks it */
        nan_result R = {.e = e, .isa = isas[i]};
        if (!run_file(&R, path, err, sizeof err)) {
            nb_isa_set_cap(NULL);
            fail_msg("%s", err);
        }
        printf("%-4s %-24s %-6s %3d variants%s, worst finite f64 %.1e, f32 %.1e%s\n", R.failures ? "FAIL" : "ok",
               e->name, isas[i], R.variants, R.skipped ? " (some skipped: torch raises)" : "", R.worst[0], R.worst[1],
               R.excepted ? " (documented exceptions met)" : "");
        if (R.variants == 0) failures++;
        failures += R.failures;
    }
    nb_isa_set_cap(NULL);
    if (failures) fail_msg("%s: %d disagreement(s) with PyTorch on NaN/Inf input", e->name, failures);
}

int main(void) {
    nb_set_error_mode(NB_ERRORS_RECOVER);
    for (int i = 0; exceptions[i].op; i++)
        printf("exception: %s %s, %s%s%s, nabla %s: %s\n", exceptions[i].op,
               exceptions[i].what ? exceptions[i].what : "", exceptions[i].value ? exceptions[i].value : "any value",
               exceptions[i].desc ? ", sample " : "", exceptions[i].desc ? exceptions[i].desc : "",
               (const char *[]){"NaN", "non-finite", "a number"}[exceptions[i].kind], exceptions[i].why);
    const int n = nb_registry_count();
    struct CMUnitTest *tests = calloc((size_t)(n + N_NN_CASES + 2), sizeof *tests);
    if (!tests) return 1;
    tests[0] = (struct CMUnitTest)cmocka_unit_test(test_no_stale_fixtures);
    tests[1] = (struct CMUnitTest)cmocka_unit_test(test_checker_catches_swallowed_nan);
    for (int i = 0; i < n; i++) {
        const nb_op_entry *e = nb_registry_get(i);
        tests[2 + i] = (struct CMUnitTest){e->name, test_entry, NULL, NULL, (void *)e};
    }
    for (int i = 0; i < N_NN_CASES; i++)
        tests[2 + n + i] = (struct CMUnitTest){nn_cases[i].name, test_entry, NULL, NULL, (void *)&nn_cases[i]};
    int rc = _cmocka_run_group_tests("test_nan", tests, (size_t)(n + N_NN_CASES + 2), NULL, NULL);
    free(tests);
    return rc;
}
