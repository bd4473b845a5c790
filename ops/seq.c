/* ops/seq.c — ops for sequence models: narrow and select (views when the
 * part is contiguous, else copies), chunk/split/unbind (made of them, one
 * node per output), flip, cumsum, masked_fill.
 *
 * Every tensor here is seen as (outer, L, inner) around the axis: outer =
 * prod(shape[:axis]), inner = prod(shape[axis+1:]). A piece [start, start+len)
 * of axis is `outer` blocks of len*inner contiguous elements; with outer == 1
 * it is one block, so narrow/select hand out a view (no copy, no memory).
 * Backward only adds gout into the piece's place in dx, whichever way forward
 * went. */
#include "broadcast.h"
#include "grad_graph.h"

static int64_t span(nb_shape s, int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= s.d[i];
    return p;
}

/* ------------------------------------------------------------ narrow and select */

/* attr: the axis in x and the piece [start, start+len) (len 1 for select,
 * whose output has the axis dropped: the layout is the same). */
typedef struct {
    int axis;
    int64_t start, len;
} piece_attr;

static void piece_copy_fwd(nb_node *n) {
    const piece_attr *at = nb_attr(n, piece_attr);
    const nb_tensor *x = n->in[0];
    const int64_t outer = span(x->shape, 0, at->axis), inner = span(x->shape, at->axis + 1, x->shape.ndim);
    const int64_t L = x->shape.d[at->axis];
    const size_t es = nb_dtype_size(x->dtype), blk = (size_t)(at->len * inner) * es;
    const char *X = (const char *)x->data + (size_t)(at->start * inner) * es;
    char *O = n->out->data;
    if (blk == 0) return;
    if (blk >= 64) {
        for (int64_t o = 0; o < outer; o++) /* out (outer, len, inner) <- x (outer, L, inner) */
            memcpy(O + (size_t)o * blk, X + (size_t)(o * L * inner) * es, blk);
        return;
    }
    /* short blocks (a column of a matrix): a plain loop, not a call per block */
    const int64_t m = at->len * inner, xs = L * inner;
    if (es == 4) {
        const uint32_t *Xs = (const uint32_t *)(const void *)X;
        uint32_t *Os = (uint32_t *)(void *)O;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t t = 0; t < m; t++) Os[o * m + t] = Xs[o * xs + t];
    } else {
        const uint64_t *Xs = (const uint64_t *)(const void *)X;
        uint64_t *Os = (uint64_t *)(void *)O;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t t = 0; t < m; t++) Os[o * m + t] = Xs[o * xs + t];
    }
}

/* The output header already points at x's data (is_view); move it to the piece. */
static void piece_view_fwd(nb_node *n) {
    const piece_attr *at = nb_attr(n, piece_attr);
    const nb_tensor *x = n->in[0];
    const int64_t inner = span(x->shape, at->axis + 1, x->shape.ndim);
    n->out->data = (char *)x->data + (size_t)(at->start * inner) * nb_dtype_size(x->dtype);
}

static void piece_bwd(nb_node *n, const nb_tensor *g) {
    const piece_attr *at = nb_attr(n, piece_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    const int64_t outer = span(x->shape, 0, at->axis), inner = span(x->shape, at->axis + 1, x->shape.ndim);
    const int64_t L = x->shape.d[at->axis], blk = at->len * inner;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data + at->start * inner;
        for (int64_t o = 0; o < outer; o++) {
            const T *gr = G + o * blk;
            T *gxr = GX + o * L * inner;
            for (int64_t t = 0; t < blk; t++) gxr[t] += gr[t];
        }
    });
}

/* The differentiable backward (second order, nabla/grad.h): dx = dout
 * padded with zeros around the piece, along the axis (select's dout first
 * gets its axis back); pad is linear, so its own backward_graph closes it. */
GG_FN(piece) {
    const piece_attr *at = nb_attr(n, piece_attr);
    const nb_tensor *x = n->in[0];
    const int nd = x->shape.ndim;
    nb_tensor *t = g->shape.ndim < nd ? nb_unsqueeze(g, at->axis) : g;
    int64_t pads[2 * NB_MAX_DIMS] = {0};
    pads[2 * at->axis] = at->start;
    pads[2 * at->axis + 1] = x->shape.d[at->axis] - at->start - at->len;
    gin[0] = nb_pad(t, pads, 2 * nd, 0);
}

static const nb_op narrow_op = {"narrow", piece_copy_fwd, piece_bwd, NB_SAVES_NOTHING, false, piece_bwg};
static const nb_op narrow_view_op = {"narrow", piece_view_fwd, piece_bwd, NB_SAVES_NOTHING, true, piece_bwg};
static const nb_op select_op = {"select", piece_copy_fwd, piece_bwd, NB_SAVES_NOTHING, false, piece_bwg};
static const nb_op select_view_op = {"select", piece_view_fwd, piece_bwd, NB_SAVES_NOTHING, true, piece_bwg};

/* The piece of x along axis a (already checked): a view when it is one block. */
static nb_tensor *piece(nb_tensor *x, int a, int64_t start, int64_t len, bool drop_axis) {
    nb_shape s = x->shape;
    if (drop_axis) {
        for (int i = a; i + 1 < s.ndim; i++) s.d[i] = s.d[i + 1];
        s.ndim--;
    } else {
        s.d[a] = len;
    }
    const bool view = span(x->shape, 0, a) == 1;
    const nb_op *op = drop_axis ? (view ? &select_view_op : &select_op) : (view ? &narrow_view_op : &narrow_op);
    piece_attr at = {a, start, len};
    return nb_apply_ex(op, &x, 1, s, x->dtype, &at, sizeof at);
}

nb_tensor *nb_narrow(nb_tensor *x, int axis, int64_t start, int64_t length) {
    if (!x) return NULL;
    const int a = nb_norm_axis("narrow", x, axis);
    if (a < 0) return NULL;
    char d[NB_DESCRIBE_LEN];
    const int64_t L = x->shape.d[a];
    if (start < -L || start > L) {
        nb_fail(NB_ERR_ARG, "narrow", "start %lld is out of range [%lld,%lld] for axis %d of size %lld: %s",
                (long long)start, (long long)-L, (long long)L, axis, (long long)L, nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    const int64_t b = start < 0 ? start + L : start;
    if (length < 0 || length > L - b) {
        nb_fail(NB_ERR_ARG, "narrow", "start %lld + length %lld exceeds size %lld of axis %d%s: %s", (long long)b,
                (long long)length, (long long)L, axis, length < 0 ? " (length must be >= 0)" : "",
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    return piece(x, a, b, length, false);
}

nb_tensor *nb_select(nb_tensor *x, int axis, int64_t index) {
    if (!x) return NULL;
    const int a = nb_norm_axis("select", x, axis);
    if (a < 0) return NULL;
    const int64_t L = x->shape.d[a];
    if (index < -L || index >= L) {
        char d[NB_DESCRIBE_LEN];
        nb_fail(NB_ERR_ARG, "select", "index %lld is out of range [%lld,%lld) for axis %d of size %lld: %s",
                (long long)index, (long long)-L, (long long)L, axis, (long long)L, nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    return piece(x, a, index < 0 ? index + L : index, 1, true);
}

/* ------------------------------------------------------------ chunk, split, unbind */

static void clear_out(nb_tensor **out, int n) {
    if (out)
        for (int i = 0; i < n; i++) out[i] = NULL;
}

/* Makes the n pieces of the given sizes (checked to sum to L) along axis a;
 * -1 with out cleared when one fails (only out of memory can). */
static int make_pieces(nb_tensor *x, int a, const int64_t *sizes, int n, nb_tensor **out) {
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        out[i] = piece(x, a, start, sizes[i], false);
        if (!out[i]) {
            clear_out(out, n);
            return -1;
        }
        start += sizes[i];
    }
    return n;
}

int nb_chunk(nb_tensor *x, int chunks, int axis, nb_tensor **out) {
    if (!out) {
        nb_fail(NB_ERR_ARG, "chunk", "out is NULL (it must hold %d tensors)", chunks);
        return -1;
    }
    if (chunks >= 1) clear_out(out, chunks);
    if (!x) return -1;
    char d[NB_DESCRIBE_LEN];
    if (chunks < 1) {
        nb_fail(NB_ERR_ARG, "chunk", "chunks must be >= 1, got %d: %s", chunks, nb_describe(x, "x", d, sizeof d));
        return -1;
    }
    const int a = nb_norm_axis("chunk", x, axis);
    if (a < 0) return -1;
    const int64_t L = x->shape.d[a];
    const int64_t size = L / chunks + (L % chunks != 0); /* ceil without overflow */
    const int count = L == 0 ? chunks : (int)(L / size + (L % size != 0));
    int64_t sizes_inline[64], *sizes = count <= 64 ? sizes_inline : nb__malloc((size_t)count * sizeof *sizes);
    if (!sizes) {
        nb_fail(NB_ERR_NOMEM, "chunk", "no memory for %d pieces", count);
        return -1;
    }
    for (int i = 0; i < count; i++) sizes[i] = L == 0 ? 0 : (i + 1 < count ? size : L - size * (count - 1));
    const int r = make_pieces(x, a, sizes, count, out);
    if (sizes != sizes_inline) nb__free(sizes);
    return r;
}

int nb_split(nb_tensor *x, const int64_t *sizes, int n, int axis, nb_tensor **out) {
    if (!out) {
        nb_fail(NB_ERR_ARG, "split", "out is NULL (it must hold %d tensors)", n);
        return -1;
    }
    if (n >= 1) clear_out(out, n);
    if (!x) return -1;
    char d[NB_DESCRIBE_LEN];
    if (n < 1 || !sizes) {
        nb_fail(NB_ERR_ARG, "split", "needs n >= 1 sizes (n = %d%s): %s", n, sizes ? "" : ", sizes NULL",
                nb_describe(x, "x", d, sizeof d));
        return -1;
    }
    const int a = nb_norm_axis("split", x, axis);
    if (a < 0) return -1;
    const int64_t L = x->shape.d[a];
    int64_t sum = 0; /* stays <= L: no overflow */
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0 || sizes[i] > L - sum) {
            /* report the whole sum, saturated, so the message says what was asked */
            int64_t total = 0;
            bool neg = false;
            for (int k = 0; k < n; k++) {
                if (sizes[k] < 0) neg = true;
                else total = sizes[k] > INT64_MAX - total ? INT64_MAX : total + sizes[k];
            }
            nb_fail(NB_ERR_ARG, "split", "sizes must be >= 0 and sum to size %lld of axis %d, %s %lld: %s",
                    (long long)L, axis, neg ? "a size is negative, e.g. sizes[" : "they sum to",
                    neg ? (long long)i : (long long)total, nb_describe(x, "x", d, sizeof d));
            return -1;
        }
        sum += sizes[i];
    }
    if (sum != L) {
        nb_fail(NB_ERR_ARG, "split", "sizes must be >= 0 and sum to size %lld of axis %d, they sum to %lld: %s",
                (long long)L, axis, (long long)sum, nb_describe(x, "x", d, sizeof d));
        return -1;
    }
    return make_pieces(x, a, sizes, n, out);
}

int nb_unbind(nb_tensor *x, int axis, nb_tensor **out, int max) {
    if (!out || max < 0) {
        nb_fail(NB_ERR_ARG, "unbind", "out is NULL or max < 0 (max = %d)", max);
        return -1;
    }
    if (!x) return -1;
    const int a = nb_norm_axis("unbind", x, axis);
    if (a < 0) return -1;
    const int64_t L = x->shape.d[a];
    if (L > max) {
        char d[NB_DESCRIBE_LEN];
        clear_out(out, max);
        nb_fail(NB_ERR_ARG, "unbind", "axis %d has %lld entries but out holds %d: %s", axis, (long long)L, max,
                nb_describe(x, "x", d, sizeof d));
        return -1;
    }
    for (int64_t i = 0; i < L; i++) {
        out[i] = piece(x, a, i, 1, true);
        if (!out[i]) {
            clear_out(out, (int)L);
            return -1;
        }
    }
    return (int)L;
}

/* ------------------------------------------------------------ flip */

typedef struct {
    uint8_t flip[NB_MAX_DIMS];
} flip_attr;

/* Walks x (shape s) as rows of `blk` contiguous elements: the dims after the
 * last flipped one form one block, unchanged by the flip. For each output row
 * (offset oo) BODY sees xo, the offset of the x row it comes from. */
#define FLIP_FOR(s, fl, BODY)                                                          \
    do {                                                                               \
        int k_ = -1;                                                                   \
        for (int d_ = 0; d_ < (s).ndim; d_++)                                          \
            if ((fl)[d_]) k_ = d_;                                                     \
        const int64_t blk = span((s), k_ + 1, (s).ndim), rows_ = span((s), 0, k_ + 1); \
        int64_t st_[NB_MAX_DIMS], step_[NB_MAX_DIMS], idx_[NB_MAX_DIMS] = {0}, xo = 0; \
        for (int d_ = k_; d_ >= 0; d_--) {                                             \
            st_[d_] = d_ == k_ ? blk : st_[d_ + 1] * (s).d[d_ + 1];                    \
            step_[d_] = (fl)[d_] ? -st_[d_] : st_[d_];                                 \
            if ((fl)[d_]) xo += ((s).d[d_] - 1) * st_[d_];                             \
        }                                                                              \
        for (int64_t r_ = 0, oo = 0; blk > 0 && r_ < rows_; r_++, oo += blk) {         \
            BODY for (int d_ = k_; d_ >= 0; d_--) {                                    \
                idx_[d_]++;                                                            \
                xo += step_[d_];                                                       \
                if (idx_[d_] < (s).d[d_]) break;                                       \
                xo -= step_[d_] * (s).d[d_];                                           \
                idx_[d_] = 0;                                                          \
            }                                                                          \
        }                                                                              \
    } while (0)

static void flip_fwd(nb_node *n) {
    const flip_attr *at = nb_attr(n, flip_attr);
    const nb_tensor *x = n->in[0];
    const size_t es = nb_dtype_size(x->dtype);
    const char *X = x->data;
    char *O = n->out->data;
    if (es == 4) {
        const uint32_t *Xs = x->data;
        uint32_t *Os = n->out->data;
        FLIP_FOR(x->shape, at->flip, {
            if (blk >= 16) memcpy(O + (size_t)oo * es, X + (size_t)xo * es, (size_t)blk * es);
            else
                for (int64_t t = 0; t < blk; t++) Os[oo + t] = Xs[xo + t];
        });
    } else {
        const uint64_t *Xs = x->data;
        uint64_t *Os = n->out->data;
        FLIP_FOR(x->shape, at->flip, {
            if (blk >= 16) memcpy(O + (size_t)oo * es, X + (size_t)xo * es, (size_t)blk * es);
            else
                for (int64_t t = 0; t < blk; t++) Os[oo + t] = Xs[xo + t];
        });
    }
}

static void flip_bwd(nb_node *n, const nb_tensor *g) {
    const flip_attr *at = nb_attr(n, flip_attr);
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    NB_FLOAT_DISPATCH(x->dtype, T, {
        const T *G = (const T *)g->data;
        T *GX = (T *)gxt->data;
        FLIP_FOR(x->shape, at->flip, {
            for (int64_t t = 0; t < blk; t++) GX[xo + t] += G[oo + t];
        });
    });
}

/* dx = flip(dout) along the same axes: flip is its own adjoint. */
GG_FN(flip) {
    const flip_attr *at = nb_attr(n, flip_attr);
    int axes[NB_MAX_DIMS], k = 0;
    for (int d = 0; d < n->in[0]->shape.ndim; d++)
        if (at->flip[d]) axes[k++] = d;
    gin[0] = nb_flip(g, axes, k);
}

static const nb_op flip_op = {"flip", flip_fwd, flip_bwd, NB_SAVES_NOTHING, false, flip_bwg};

nb_tensor *nb_flip(nb_tensor *x, const int *axes, int n) {
    if (!x) return NULL;
    char d[NB_DESCRIBE_LEN];
    const int nd = x->shape.ndim;
    if (n < 0 || n > nd || (n > 0 && !axes)) {
        nb_fail(NB_ERR_ARG, "flip", "needs 0..%d axes, got n = %d%s: %s", nd, n, n > 0 && !axes ? " (axes NULL)" : "",
                nb_describe(x, "x", d, sizeof d));
        return NULL;
    }
    flip_attr at = {{0}};
    for (int i = 0; i < n; i++) {
        const int a = nb_norm_axis("flip", x, axes[i]);
        if (a < 0) return NULL;
        if (at.flip[a]) {
            nb_fail(NB_ERR_AXIS, "flip", "axis %d appears twice in the list (axes[%d] = %d): %s", a, i, axes[i],
                    nb_describe(x, "x", d, sizeof d));
            return NULL;
        }
        at.flip[a] = 1;
    }
    return nb_apply_ex(&flip_op, &x, 1, x->shape, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ cumsum */

typedef struct {
    int axis;
} cumsum_attr;

/* Running sums along L of (outer, L, inner), in the accumulator type A (double
 * for floats, int64 for I64), `acc` holding inner of them. Forward walks j up
 * and stores the sum; backward (rev) walks j down and adds it. */
#define CUMSUM_LOOP(T, A, SRC, DST, OP, rev)            \
    for (int64_t o = 0; o < outer; o++) {               \
        for (int64_t t = 0; t < inner; t++) acc[t] = 0; \
        for (int64_t jj = 0; jj < L; jj++) {            \
            const int64_t j = (rev) ? L - 1 - jj : jj;  \
            const T *src = (SRC) + (o * L + j) * inner; \
            T *dst = (DST) + (o * L + j) * inner;       \
            for (int64_t t = 0; t < inner; t++) {       \
                acc[t] += (A)src[t];                    \
                dst[t] OP(T) acc[t];                    \
            }                                           \
        }                                               \
    }

/* A scratch row of inner accumulators: on the stack when small. */
#define WITH_ACC(A, inner, ...)                                                             \
    do {                                                                                    \
        A acc_stack_[256];                                                                  \
        A *acc = (inner) <= 256 ? acc_stack_ : nb__malloc((size_t)(inner) * sizeof(A));     \
        if (!acc) {                                                                         \
            nb_fail(NB_ERR_NOMEM, "cumsum", "no memory for %lld sums", (long long)(inner)); \
            break;                                                                          \
        }                                                                                   \
        __VA_ARGS__                                                                         \
        if (acc != acc_stack_) nb__free(acc);                                               \
    } while (0)

static void cumsum_fwd(nb_node *n) {
    const int axis = nb_attr(n, cumsum_attr)->axis;
    const nb_tensor *x = n->in[0];
    const int64_t outer = span(x->shape, 0, axis), inner = span(x->shape, axis + 1, x->shape.ndim);
    const int64_t L = x->shape.d[axis];
    switch (x->dtype) {
    case NB_F32: WITH_ACC(double, inner, {CUMSUM_LOOP(float, double, nb_f32(x), nb_f32(n->out), =, false)}); break;
    case NB_F64: WITH_ACC(double, inner, {CUMSUM_LOOP(double, double, nb_f64(x), nb_f64(n->out), =, false)}); break;
    case NB_I64:
        /* wrapping, as int64 arithmetic in torch: done in unsigned so it is defined */
        WITH_ACC(uint64_t, inner, {CUMSUM_LOOP(int64_t, uint64_t, nb_i64(x), nb_i64(n->out), =, false)});
        break;
    }
}

static void cumsum_bwd(nb_node *n, const nb_tensor *g) {
    const int axis = nb_attr(n, cumsum_attr)->axis;
    nb_tensor *x = n->in[0], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    const int64_t outer = span(x->shape, 0, axis), inner = span(x->shape, axis + 1, x->shape.ndim);
    const int64_t L = x->shape.d[axis];
    if (x->dtype == NB_F32) WITH_ACC(double, inner, {CUMSUM_LOOP(float, double, nb_f32(g), nb_f32(gxt), +=, true)});
    else WITH_ACC(double, inner, {CUMSUM_LOOP(double, double, nb_f64(g), nb_f64(gxt), +=, true)});
}

/* dx = flip(cumsum(flip(dout))) along the axis: the reversed cumsum. */
GG_FN(cumsum) {
    const int axis = nb_attr(n, cumsum_attr)->axis;
    gin[0] = nb_flip(nb_cumsum(nb_flip(g, &axis, 1), axis), &axis, 1);
}

static const nb_op cumsum_op = {"cumsum", cumsum_fwd, cumsum_bwd, NB_SAVES_NOTHING, false, cumsum_bwg};

nb_tensor *nb_cumsum(nb_tensor *x, int axis) {
    if (!x) return NULL;
    const int a = nb_norm_axis("cumsum", x, axis);
    if (a < 0) return NULL;
    cumsum_attr at = {a};
    return nb_apply_ex(&cumsum_op, &x, 1, x->shape, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ masked_fill */

typedef struct {
    double value;
} fill_attr;

/* Runs BODY with M the mask's element type. */
#define MASK_DISPATCH(dt, M, ...)    \
    do {                             \
        if ((dt) == NB_F32) {        \
            typedef float M;         \
            __VA_ARGS__              \
        } else if ((dt) == NB_F64) { \
            typedef double M;        \
            __VA_ARGS__              \
        } else {                     \
            typedef int64_t M;       \
            __VA_ARGS__              \
        }                            \
    } while (0)

/* Over x's shape: oo is the offset in x and out, oa the mask's (stride sa). */
static void fill_fwd(nb_node *n) {
    const nb_tensor *x = n->in[0], *m = n->in[1];
    nb_bc bc;
    nb_bc_init(&bc, x->shape, m->shape, x->shape);
    const double v = nb_attr(n, fill_attr)->value;
    MASK_DISPATCH(m->dtype, M, {
        const M *K = (const M *)m->data;
        switch (x->dtype) {
        case NB_F32: {
            const float *X = nb_f32(x), fv = (float)v;
            float *O = nb_f32(n->out);
            NB_BC_FOR(&bc, {
                for (int64_t j = 0; j < len; j++) O[oo + j] = K[oa + j * sa] != 0 ? fv : X[oo + j];
            });
            break;
        }
        case NB_F64: {
            const double *X = nb_f64(x);
            double *O = nb_f64(n->out);
            NB_BC_FOR(&bc, {
                for (int64_t j = 0; j < len; j++) O[oo + j] = K[oa + j * sa] != 0 ? v : X[oo + j];
            });
            break;
        }
        case NB_I64: {
            const int64_t *X = nb_i64(x), iv = (int64_t)v;
            int64_t *O = nb_i64(n->out);
            NB_BC_FOR(&bc, {
                for (int64_t j = 0; j < len; j++) O[oo + j] = K[oa + j * sa] != 0 ? iv : X[oo + j];
            });
            break;
        }
        }
    });
}

static void fill_bwd(nb_node *n, const nb_tensor *g) {
    nb_tensor *x = n->in[0], *m = n->in[1], *gxt = nb_grad_buf(x);
    if (!gxt) return;
    nb_bc bc;
    nb_bc_init(&bc, x->shape, m->shape, x->shape);
    MASK_DISPATCH(m->dtype, M, {
        const M *K = (const M *)m->data;
        NB_FLOAT_DISPATCH(x->dtype, T, {
            const T *G = (const T *)g->data;
            T *GX = (T *)gxt->data;
            NB_BC_FOR(&bc, {
                for (int64_t j = 0; j < len; j++) GX[oo + j] += K[oa + j * sa] != 0 ? (T)0 : G[oo + j];
            });
        });
    });
}

/* Backward reads only the mask. */
/* dx = dout with the filled places zeroed: masked_fill(dout, mask, 0). */
GG_FN(masked_fill) { gin[0] = nb_masked_fill(g, n->in[1], 0); }

static const nb_op masked_fill_op = {"masked_fill", fill_fwd, fill_bwd, NB_SAVES_IN(1), false, masked_fill_bwg};

nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value) {
    if (!x || !mask) return NULL;
    char dx[NB_DESCRIBE_LEN], dm[NB_DESCRIBE_LEN];
    bool ok = mask->shape.ndim <= x->shape.ndim;
    for (int i = 1; ok && i <= mask->shape.ndim; i++) {
        const int64_t md = mask->shape.d[mask->shape.ndim - i], xd = x->shape.d[x->shape.ndim - i];
        ok = md == xd || md == 1;
    }
    if (!ok) {
        nb_fail(NB_ERR_SHAPE, "masked_fill", "mask can't be broadcast to x's shape: %s, %s",
                nb_describe(mask, "mask", dm, sizeof dm), nb_describe(x, "x", dx, sizeof dx));
        return NULL;
    }
    if (x->dtype == NB_I64 && !(value >= -9.2e18 && value <= 9.2e18)) {
        nb_fail(NB_ERR_ARG, "masked_fill", "value %g does not fit the i64 tensor: %s", value,
                nb_describe(x, "x", dx, sizeof dx));
        return NULL;
    }
    nb_tensor *in[2] = {x, mask};
    fill_attr at = {value};
    return nb_apply_ex(&masked_fill_op, in, 2, x->shape, x->dtype, &at, sizeof at);
}

/* ------------------------------------------------------------ registry */

/* iarg = axis, start, length */
static nb_tensor *narrow_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_narrow(in[0], (int)s->iarg[0], s->iarg[1], s->iarg[2]);
}

static int narrow_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t a[3];
        const char *desc;
    } cases[] = {
        {NB_SHAPE(5, 4), {0, 1, 3}, "(5,4) axis 0 [1:4] (a view)"},
        {NB_SHAPE(3, 7), {1, -4, 3}, "(3,7) axis 1 start -4 length 3"},
        {NB_SHAPE(2, 3, 6), {-1, 0, 6}, "(2,3,6) axis -1, the whole axis"},
        {NB_SHAPE(1, 4, 2), {1, 3, 1}, "batch of one (1,4,2) axis 1 [3:4] (a view)"},
        {NB_SHAPE(2, 5, 3), {-2, 2, 2}, "(2,5,3) axis -2 [2:4]"},
        {NB_SHAPE(3, 10, 4), {1, 2, 5}, "(3,10,4) axis 1 [2:7] (blocks of 20: memcpy)"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].a[0], cases[c].a[1], cases[c].a[2]}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg = axis, index */
static nb_tensor *select_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_select(in[0], (int)s->iarg[0], s->iarg[1]);
}

static int select_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t a[2];
        const char *desc;
    } cases[] = {
        {NB_SHAPE(4, 3), {0, 2}, "(4,3) axis 0 index 2 (a view)"}, {NB_SHAPE(3, 5), {1, -1}, "(3,5) axis 1 index -1"},
        {NB_SHAPE(2, 3, 4), {-2, 0}, "(2,3,4) axis -2 index 0"},   {NB_SHAPE(5), {0, 3}, "(5) index 3 to a scalar"},
        {NB_SHAPE(2, 1, 3), {1, -1}, "(2,1,3) axis 1 of size 1"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].a[0], cases[c].a[1]}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* The multi-output ops are checked through one tensor that depends on every
 * output by a different weight: y = concat_i( flatten(out_i) * (i+1) ), so a
 * piece in the wrong place, a missing piece or a crossed gradient path changes
 * y or dx. The PyTorch twins build the same y. */
static nb_tensor *weigh_pieces(nb_tensor **out, int count) {
    if (count < 1) return NULL;
    nb_tensor *flat[16];
    for (int i = 0; i < count && i < 16; i++) flat[i] = nb_mul_scalar(nb_reshape(out[i], NB_SHAPE(-1)), i + 1);
    return nb_concat(flat, count < 16 ? count : 16, 0);
}

/* iarg = chunks, axis */
static nb_tensor *chunk_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    nb_tensor *out[16];
    const int c = nb_chunk(in[0], (int)s->iarg[0], (int)s->iarg[1], out);
    return weigh_pieces(out, c);
}

static int chunk_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t a[2];
        const char *desc;
    } cases[] = {
        {NB_SHAPE(6, 2), {3, 0}, "(6,2) 3 chunks along axis 0 (views)"},
        {NB_SHAPE(2, 5), {3, 1}, "(2,5) 3 chunks along axis 1: 2,2,1"},
        {NB_SHAPE(2, 3, 4), {4, -1}, "(2,3,4) 4 chunks along axis -1"},
        {NB_SHAPE(6, 2), {4, 0}, "(6,2) 4 chunks asked, 3 made"},
        {NB_SHAPE(3, 2), {1, 1}, "(3,2) one chunk"},
        {NB_SHAPE(2, 8), {4, 1}, "(2,8) LSTM gates: 4 chunks along axis 1"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].a[0], cases[c].a[1]}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg = axis, n, sizes[0..n) */
static nb_tensor *split_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    nb_tensor *out[16];
    const int c = nb_split(in[0], s->iarg + 2, (int)s->iarg[1], (int)s->iarg[0], out);
    return weigh_pieces(out, c);
}

static int split_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t a[8];
        const char *desc;
    } cases[] = {
        {NB_SHAPE(5, 3), {0, 2, 2, 3}, "(5,3) axis 0 sizes 2,3 (views)"},
        {NB_SHAPE(2, 7), {1, 4, 1, 0, 4, 2}, "(2,7) axis 1 sizes 1,0,4,2 (an empty piece)"},
        {NB_SHAPE(2, 3, 4), {-1, 1, 4}, "(2,3,4) axis -1 one piece"},
        {NB_SHAPE(3, 4, 2), {1, 4, 1, 1, 1, 1}, "(3,4,2) axis 1 sizes 1,1,1,1"},
        {NB_SHAPE(1, 6), {1, 2, 3, 3}, "batch of one (1,6) axis 1 sizes 3,3 (views)"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1};
        for (int i = 0; i < 8; i++) s[k].iarg[i] = cases[c].a[i];
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg[0] = axis */
static nb_tensor *unbind_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    nb_tensor *out[16];
    const int c = nb_unbind(in[0], (int)s->iarg[0], out, 16);
    return weigh_pieces(out, c);
}

static int unbind_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int axis;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 4), 0, "(3,4) axis 0 (views)"},         {NB_SHAPE(2, 3), 1, "(2,3) axis 1"},
        {NB_SHAPE(2, 3, 2), -1, "(2,3,2) axis -1"},          {NB_SHAPE(4), 0, "(4) into scalars"},
        {NB_SHAPE(1, 2, 3), 0, "(1,2,3) axis 0: one piece"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].axis}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg[0] = n, iarg[1..n] = axes */
static nb_tensor *flip_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    int axes[7];
    const int n = (int)s->iarg[0];
    for (int i = 0; i < n && i < 7; i++) axes[i] = (int)s->iarg[1 + i];
    return nb_flip(in[0], axes, n);
}

static int flip_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int64_t a[4];
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 4), {1, 0}, "(3,4) axis 0 (rows copied whole)"},
        {NB_SHAPE(3, 4), {1, 1}, "(3,4) axis 1"},
        {NB_SHAPE(2, 3, 4), {2, 0, 2}, "(2,3,4) axes 0,2"},
        {NB_SHAPE(2, 3, 4), {3, -1, -2, 0}, "(2,3,4) every axis"},
        {NB_SHAPE(5), {0}, "(5) no axis: a copy"},
        {NB_SHAPE(2, 1, 3), {1, 1}, "(2,1,3) axis 1 of size 1"},
        {NB_SHAPE(2, 20), {1, 0}, "(2,20) axis 0, rows of 20 (memcpy)"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1};
        for (int i = 0; i < 4; i++) s[k].iarg[i] = cases[c].a[i];
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* iarg[0] = axis */
static nb_tensor *cumsum_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_cumsum(in[0], (int)s->iarg[0]);
}

static int cumsum_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape sh;
        int axis;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(5), 0, "(5)"},
        {NB_SHAPE(3, 4), 1, "(3,4) axis 1"},
        {NB_SHAPE(3, 4), 0, "(3,4) axis 0"},
        {NB_SHAPE(2, 3, 4), -2, "(2,3,4) axis -2"},
        {NB_SHAPE(1, 6), -1, "batch of one (1,6) axis -1"},
        {NB_SHAPE(4, 1), 1, "(4,1) axis 1 of size 1"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 1, .iarg = {cases[c].axis}};
        s[k].in[0] = nb_sample_uniform(cases[c].sh, -2, 2);
    }
    return k;
}

/* in[1] = mask (no grad), farg[0] = value; iarg[0] = the mask's kind: 0 a
 * random I64 0/1 mask, 1 a float mask alternating nonzero and 0, 2 all ones. */
static nb_tensor *masked_fill_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin;
    return nb_masked_fill(in[0], in[1], s->farg[0]);
}

static int masked_fill_samples(nb_sample *s, int max) {
    static const struct {
        nb_shape x, m;
        int kind;
        double v;
        const char *desc;
    } cases[] = {
        {NB_SHAPE(3, 4), NB_SHAPE(3, 4), 0, -1.5, "(3,4) i64 mask (3,4), value -1.5"},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(4), 0, 0, "(2,3,4) i64 mask (4) broadcast, value 0"},
        {NB_SHAPE(2, 3), NB_SHAPE(2, 1), 1, 7, "(2,3) float mask (2,1), value 7"},
        {NB_SHAPE(3), NB_SHAPE(3), 2, 2.5, "(3) everything filled"},
        {NB_SHAPE(2, 2, 3), NB_SHAPE(2, 1, 3), 0, -1e9, "(2,2,3) i64 mask (2,1,3), value -1e9"},
    };
    int k = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0] && k < max; c++, k++) {
        s[k] = (nb_sample){.desc = cases[c].desc, .nin = 2, .iarg = {cases[c].kind}, .farg = {cases[c].v}};
        s[k].in[0] = nb_sample_uniform(cases[c].x, -2, 2);
        const bool f = cases[c].kind == 1;
        nb_tensor *m = nb_zeros(f ? NB_F64 : NB_I64, cases[c].m);
        for (int64_t i = 0; i < m->numel; i++) {
            const double u = nb_rand_uniform();
            const bool on = cases[c].kind == 2 || (f ? i % 2 == 0 : u < 0.5); /* the float mask alternates */
            if (f) nb_f64(m)[i] = on ? 0.25 + u : 0;
            else nb_i64(m)[i] = on;
        }
        s[k].in[1] = m;
    }
    return k;
}

const nb_op_entry nb_entry_narrow = {"narrow", narrow_entry_apply, narrow_samples, 0, 0};
const nb_op_entry nb_entry_select = {"select", select_entry_apply, select_samples, 0, 0};
const nb_op_entry nb_entry_chunk = {"chunk", chunk_entry_apply, chunk_samples, 0, 0};
const nb_op_entry nb_entry_split = {"split", split_entry_apply, split_samples, 0, 0};
const nb_op_entry nb_entry_unbind = {"unbind", unbind_entry_apply, unbind_samples, 0, 0};
const nb_op_entry nb_entry_flip = {"flip", flip_entry_apply, flip_samples, 0, 0};
const nb_op_entry nb_entry_cumsum = {"cumsum", cumsum_entry_apply, cumsum_samples, 0, 0};
const nb_op_entry nb_entry_masked_fill = {"masked_fill", masked_fill_entry_apply, masked_fill_samples, 0, 0};
