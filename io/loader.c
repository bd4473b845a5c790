/* io/loader.c — mini-batches, shuffling, train/validation split, normalization.
 *
 * The loader copies the rows of each batch into two buffers it owns (one set
 * for full batches, one for a short last batch), so a training loop makes no
 * allocation per step and its batches need no scope. Shuffles are
 * Fisher–Yates permutations drawn from the global generator (nb_seed), one
 * per epoch, so a seeded run sees the same batches every time.
 */
#include "io_internal.h"
#include <math.h>
#include <stdlib.h>

/* --------------------------------------------------------------- helpers */

static int64_t row_elems(const nb_tensor *t) {
    int64_t n = 1;
    for (int i = 1; i < t->shape.ndim; i++) n *= t->shape.d[i];
    return n;
}

static nb_shape with_rows(nb_shape s, int64_t rows) {
    s.d[0] = rows;
    return s;
}

/* Copies rows idx[0..n) of src into dst (rows 0..n). */
static void gather_rows(nb_tensor *dst, const nb_tensor *src, const int64_t *idx, int64_t n) {
    size_t rb = (size_t)row_elems(src) * nb_dtype_size(src->dtype);
    const char *s = src->data;
    char *d = dst->data;
    for (int64_t i = 0; i < n; i++) memcpy(d + (size_t)i * rb, s + (size_t)idx[i] * rb, rb);
}

static bool check_dataset(const nb_dataset *ds, const char *op) {
    if (!ds || !ds->x) {
        nb_fail(NB_ERR_ARG, op, "dataset or its x is NULL");
        return false;
    }
    if (ds->x->shape.ndim < 1 || ds->x->shape.d[0] < 1) {
        nb_fail(NB_ERR_SHAPE, op, "x must have at least one sample along axis 0");
        return false;
    }
    if (ds->y && (ds->y->shape.ndim < 1 || ds->y->shape.d[0] != ds->x->shape.d[0])) {
        char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN];
        nb_fail(NB_ERR_SHAPE, op, "x and y disagree on the number of samples: x is %s, y is %s",
                nb_shape_str(ds->x->shape, a, sizeof a), nb_shape_str(ds->y->shape, b, sizeof b));
        return false;
    }
    return true;
}

static void shuffle(int64_t *perm, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(nb_rand_u64() % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* A new persistent dataset of the rows idx[0..n) of ds. */
static nb_status take(const nb_dataset *ds, const int64_t *idx, int64_t n, nb_dataset *out) {
    nb_tensor *x = nb__tensor_new(ds->x->dtype, with_rows(ds->x->shape, n), NULL, false);
    nb_tensor *y = ds->y ? nb__tensor_new(ds->y->dtype, with_rows(ds->y->shape, n), NULL, false) : NULL;
    if (!x || (ds->y && !y)) {
        nb_tensor_free(x);
        nb_tensor_free(y);
        return NB_ERR_NOMEM;
    }
    gather_rows(x, ds->x, idx, n);
    if (y) gather_rows(y, ds->y, idx, n);
    out->x = x;
    out->y = y;
    return NB_OK;
}

nb_status nb_dataset_split(const nb_dataset *ds, double val_fraction, nb_dataset *train, nb_dataset *val) {
    if (train) train->x = train->y = NULL;
    if (val) val->x = val->y = NULL;
    if (!train || !val) {
        nb_fail(NB_ERR_ARG, "dataset_split", "train and val must not be NULL");
        return NB_ERR_ARG;
    }
    if (!check_dataset(ds, "dataset_split")) return nb_error() ? nb_error() : NB_ERR_ARG;
    if (!(val_fraction >= 0 && val_fraction <= 1)) {
        nb_fail(NB_ERR_ARG, "dataset_split", "val_fraction %g is not in [0, 1]", val_fraction);
        return NB_ERR_ARG;
    }
    int64_t n = ds->x->shape.d[0];
    int64_t nv = (int64_t)llround(val_fraction * (double)n);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)n);
    if (!perm) return NB_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    shuffle(perm, n);
    nb_status st = NB_OK;
    if (nv > 0) st = take(ds, perm, nv, val);
    if (st == NB_OK && n - nv > 0) st = take(ds, perm + nv, n - nv, train);
    free(perm);
    if (st != NB_OK) {
        nb_dataset_free(train);
        nb_dataset_free(val);
    }
    return st;
}

nb_status nb_dataset_slice(const nb_dataset *ds, int64_t start, int64_t n, nb_dataset *out) {
    if (out) out->x = out->y = NULL;
    if (!out) {
        nb_fail(NB_ERR_ARG, "dataset_slice", "out is NULL");
        return NB_ERR_ARG;
    }
    if (!check_dataset(ds, "dataset_slice")) return nb_error() ? nb_error() : NB_ERR_ARG;
    int64_t len = ds->x->shape.d[0];
    if (start < 0 || n < 1 || start > len || n > len - start) {
        nb_fail(NB_ERR_ARG, "dataset_slice", "rows [%lld, %lld) are outside the dataset's %lld", (long long)start,
                (long long)(start + n), (long long)len);
        return NB_ERR_ARG;
    }
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    if (!idx) return NB_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) idx[i] = start + i;
    nb_status st = take(ds, idx, n, out);
    free(idx);
    return st;
}

/* --------------------------------------------------------- normalization */

nb_status nb_norm_fit(const nb_tensor *x, nb_norm_mode mode, nb_norm *out) {
    if (out) *out = (nb_norm){0};
    if (!x || !out) {
        nb_fail(NB_ERR_ARG, "norm_fit", "x or out is NULL");
        return NB_ERR_ARG;
    }
    if (!nb__is_float(x->dtype)) {
        nb_fail(NB_ERR_DTYPE, "norm_fit", "x must be f32 or f64, not %s", nb_dtype_name(x->dtype));
        return NB_ERR_DTYPE;
    }
    int need = mode == NB_NORM_CHANNEL ? 2 : 1;
    if (x->shape.ndim < need || x->shape.d[0] < 1) {
        char sh[NB_SHAPE_STRLEN];
        nb_fail(NB_ERR_SHAPE, "norm_fit", "x is %s: %s needs (N, %s) with N >= 1",
                nb_shape_str(x->shape, sh, sizeof sh),
                mode == NB_NORM_CHANNEL ? "per-channel statistics" : "statistics",
                mode == NB_NORM_CHANNEL ? "C, ..." : "...");
        return NB_ERR_SHAPE;
    }
    /* x viewed as (outer, groups, inner): statistics per group. */
    int64_t n0 = x->shape.d[0], outer, groups, inner;
    nb_shape ss;
    if (mode == NB_NORM_FEATURE) {
        outer = n0, groups = row_elems(x), inner = 1;
        ss = x->shape;
        ss.ndim--;
        for (int i = 0; i < ss.ndim; i++) ss.d[i] = x->shape.d[i + 1];
    } else if (mode == NB_NORM_CHANNEL) {
        groups = x->shape.d[1];
        outer = n0, inner = row_elems(x) / (groups ? groups : 1);
        ss = NB_SHAPE(groups);
    } else {
        outer = 1, groups = 1, inner = x->numel;
        ss = NB_SCALAR;
    }
    nb_tensor *mean = nb__tensor_new(NB_F64, ss, NULL, true);
    nb_tensor *sd = nb__tensor_new(NB_F64, ss, NULL, true);
    if (!mean || !sd) {
        nb_tensor_free(mean);
        nb_tensor_free(sd);
        return NB_ERR_NOMEM;
    }
    double *m = nb_f64(mean), *v = nb_f64(sd);
    double cnt = (double)outer * (double)inner;
    /* Two passes (mean, then squared deviations) in double: stable enough for
     * any dataset that fits in memory. */
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t o = 0; o < outer; o++)
            for (int64_t g = 0; g < groups; g++) {
                int64_t base = (o * groups + g) * inner;
                double acc = 0;
                if (x->dtype == NB_F32) {
                    const float *p = nb_f32(x) + base;
                    if (pass == 0)
                        for (int64_t i = 0; i < inner; i++) acc += p[i];
                    else
                        for (int64_t i = 0; i < inner; i++) acc += (p[i] - m[g]) * (p[i] - m[g]);
                } else {
                    const double *p = nb_f64(x) + base;
                    if (pass == 0)
                        for (int64_t i = 0; i < inner; i++) acc += p[i];
                    else
                        for (int64_t i = 0; i < inner; i++) acc += (p[i] - m[g]) * (p[i] - m[g]);
                }
                if (pass == 0) m[g] += acc;
                else v[g] += acc;
            }
        if (pass == 0)
            for (int64_t g = 0; g < groups; g++) m[g] /= cnt;
    }
    for (int64_t g = 0; g < groups; g++) {
        double s = sqrt(v[g] / cnt);
        v[g] = s < 1e-8 ? 1.0 : s;
    }
    nb_set_name(mean, "norm.mean");
    nb_set_name(sd, "norm.std");
    *out = (nb_norm){mode, mean, sd};
    return NB_OK;
}

nb_status nb_norm_apply(const nb_norm *nm, nb_tensor *x) {
    if (!nm || !nm->mean || !nm->std || !x) {
        nb_fail(NB_ERR_ARG, "norm_apply", "statistics or x is NULL");
        return NB_ERR_ARG;
    }
    if (!nb__is_float(x->dtype)) {
        nb_fail(NB_ERR_DTYPE, "norm_apply", "x must be f32 or f64, not %s", nb_dtype_name(x->dtype));
        return NB_ERR_DTYPE;
    }
    char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN];
    int64_t groups = nm->mean->numel, outer, inner;
    bool ok = x->shape.ndim >= 1;
    if (ok && nm->mode == NB_NORM_FEATURE) {
        ok = x->shape.ndim == nm->mean->shape.ndim + 1;
        for (int i = 0; ok && i < nm->mean->shape.ndim; i++) ok = x->shape.d[i + 1] == nm->mean->shape.d[i];
        outer = x->shape.d[0], inner = 1;
    } else if (ok && nm->mode == NB_NORM_CHANNEL) {
        ok = x->shape.ndim >= 2 && x->shape.d[1] == groups;
        outer = x->shape.d[0], inner = ok ? row_elems(x) / groups : 0;
    } else {
        outer = 1, inner = x->numel;
    }
    if (!ok) {
        nb_fail(NB_ERR_SHAPE, "norm_apply", "x is %s but the statistics were fitted for %s %s",
                nb_shape_str(x->shape, a, sizeof a), nm->mode == NB_NORM_CHANNEL ? "channels" : "features",
                nb_shape_str(nm->mean->shape, b, sizeof b));
        return NB_ERR_SHAPE;
    }
    const double *m = nb_f64(nm->mean), *s = nb_f64(nm->std);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t g = 0; g < groups; g++) {
            int64_t base = (o * groups + g) * inner;
            double mg = m[g], inv = 1.0 / s[g];
            if (x->dtype == NB_F32) {
                float *p = nb_f32(x) + base;
                for (int64_t i = 0; i < inner; i++) p[i] = (float)((p[i] - mg) * inv);
            } else {
                double *p = nb_f64(x) + base;
                for (int64_t i = 0; i < inner; i++) p[i] = (p[i] - mg) * inv;
            }
        }
    nb_bump_version(x);
    return NB_OK;
}

void nb_norm_free(nb_norm *n) {
    if (!n) return;
    nb_tensor_free(n->mean);
    nb_tensor_free(n->std);
    n->mean = n->std = NULL;
}

/* ---------------------------------------------------------------- loader */

struct nb_loader {
    nb_tensor *x, *y; /* borrowed dataset                                 */
    int64_t n, batch;
    int flags;
    int64_t *perm; /* (n) order of this epoch                          */
    int64_t pos;   /* next row of perm                                 */
    int64_t index; /* next batch number                                */
    int epoch;     /* epochs started                                   */
    bool in_epoch;
    nb_tensor *bx, *by; /* full-batch buffers (batch, ...)                  */
    nb_tensor *lx, *ly; /* last short batch (n % batch, ...), made on demand */
    /* nb_loader_shard: this rank's slice of one permutation of all rows */
    int rank, world; /* world 0: not sharded                             */
    uint64_t seed;
    int64_t n_all; /* rows in the dataset (n is this rank's count)     */
    int64_t *all;  /* (n_all) the epoch's permutation of every row     */
};

nb_loader *nb_loader_new(const nb_dataset *ds, int64_t batch, int flags) {
    if (!check_dataset(ds, "loader_new")) return NULL;
    if (batch < 1) {
        nb_fail(NB_ERR_ARG, "loader_new", "batch size %lld must be >= 1", (long long)batch);
        return NULL;
    }
    if (flags & ~(NB_SHUFFLE | NB_DROP_LAST)) {
        nb_fail(NB_ERR_ARG, "loader_new", "unknown flags 0x%x", flags);
        return NULL;
    }
    nb_loader *l = nb__calloc(sizeof *l);
    if (!l) return NULL;
    l->x = ds->x;
    l->y = ds->y;
    l->n = ds->x->shape.d[0];
    l->batch = batch < l->n ? batch : l->n;
    if ((flags & NB_DROP_LAST) && batch > l->n) l->batch = batch; /* no full batch: zero batches */
    l->flags = flags;
    l->perm = nb__malloc(sizeof(int64_t) * (size_t)l->n);
    int64_t b = l->batch < l->n ? l->batch : l->n;
    l->bx = nb__tensor_new(l->x->dtype, with_rows(l->x->shape, b), NULL, false);
    l->by = l->y ? nb__tensor_new(l->y->dtype, with_rows(l->y->shape, b), NULL, false) : NULL;
    if (!l->perm || !l->bx || (l->y && !l->by)) {
        nb_loader_free(l);
        nb_fail(NB_ERR_NOMEM, "loader_new", "out of memory");
        return NULL;
    }
    nb_set_name(l->bx, "batch.x");
    if (l->by) nb_set_name(l->by, "batch.y");
    for (int64_t i = 0; i < l->n; i++) l->perm[i] = i;
    return l;
}

int64_t nb_loader_num_batches(const nb_loader *l) {
    if (!l) return 0;
    return (l->flags & NB_DROP_LAST) ? l->n / l->batch : (l->n + l->batch - 1) / l->batch;
}

void nb_loader_reset(nb_loader *l) {
    if (l) l->in_epoch = false;
}

bool nb_loader_next(nb_loader *l, nb_batch *b) {
    if (!l || !b) return false;
    if (!l->in_epoch && l->world) {
        /* Sharded: the same permutation on every rank, drawn from (seed,
         * epoch) without touching the global generator, and this rank's
         * rows rank, rank + world, ... of it (padded by wrapping around). */
        for (int64_t i = 0; i < l->n_all; i++) l->all[i] = i;
        if (l->flags & NB_SHUFFLE) {
            nb_rng_state keep = nb_rng_get();
            nb_seed(l->seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(l->epoch + 1));
            shuffle(l->all, l->n_all);
            nb_rng_set(keep);
        }
        for (int64_t i = 0; i < l->n; i++) l->perm[i] = l->all[(l->rank + i * l->world) % l->n_all];
        l->pos = 0;
        l->index = 0;
        l->epoch++;
        l->in_epoch = true;
    }
    if (!l->in_epoch) {
        /* The identity order, or a fresh permutation of it each epoch. */
        for (int64_t i = 0; i < l->n; i++) l->perm[i] = i;
        if (l->flags & NB_SHUFFLE) shuffle(l->perm, l->n);
        l->pos = 0;
        l->index = 0;
        l->epoch++;
        l->in_epoch = true;
    }
    int64_t left = l->n - l->pos;
    int64_t m = left < l->batch ? left : l->batch;
    if (m <= 0 || (m < l->batch && (l->flags & NB_DROP_LAST))) {
        l->in_epoch = false;
        memset(b, 0, sizeof *b);
        b->epoch = l->epoch;
        return false;
    }
    nb_tensor *x = l->bx, *y = l->by;
    if (m < l->batch) {
        if (!l->lx) {
            l->lx = nb__tensor_new(l->x->dtype, with_rows(l->x->shape, m), NULL, false);
            l->ly = l->y ? nb__tensor_new(l->y->dtype, with_rows(l->y->shape, m), NULL, false) : NULL;
            if (!l->lx || (l->y && !l->ly)) {
                nb_fail(NB_ERR_NOMEM, "loader_next", "out of memory");
                return false;
            }
            nb_set_name(l->lx, "batch.x");
            if (l->ly) nb_set_name(l->ly, "batch.y");
        }
        x = l->lx, y = l->ly;
    }
    gather_rows(x, l->x, l->perm + l->pos, m);
    nb_bump_version(x);
    if (y) {
        gather_rows(y, l->y, l->perm + l->pos, m);
        nb_bump_version(y);
    }
    l->pos += m;
    b->x = x;
    b->y = y;
    b->size = m;
    b->index = l->index++;
    b->epoch = l->epoch - 1;
    return true;
}

nb_status nb_loader_shard(nb_loader *l, int rank, int world, uint64_t seed) {
    if (!l || world < 1 || rank < 0 || rank >= world) {
        nb_fail(NB_ERR_ARG, "loader_shard", "rank %d must be in [0, world %d) and world >= 1%s", rank, world,
                l ? "" : " (loader is NULL)");
        return NB_ERR_ARG;
    }
    int64_t n_all = l->world ? l->n_all : l->n;
    /* DistributedSampler's sizes: drop the tail that does not divide, or pad */
    int64_t n = (l->flags & NB_DROP_LAST) ? n_all / world : (n_all + world - 1) / world;
    if (n < 1) {
        nb_fail(NB_ERR_ARG, "loader_shard", "%lld samples are fewer than the %d ranks with drop-last", (long long)n_all,
                world);
        return NB_ERR_ARG;
    }
    int64_t *all = l->all ? l->all : nb__malloc(sizeof(int64_t) * (size_t)n_all);
    if (!all) {
        nb_fail(NB_ERR_NOMEM, "loader_shard", "out of memory");
        return NB_ERR_NOMEM;
    }
    l->all = all;
    l->n_all = n_all;
    l->n = n;
    l->rank = rank, l->world = world, l->seed = seed;
    /* the batch as asked, clamped to this rank's rows as nb_loader_new does */
    int64_t b = l->batch < n ? l->batch : n;
    if (!(l->flags & NB_DROP_LAST) || l->batch <= n) l->batch = b;
    if (l->bx->shape.d[0] != b) {
        nb_tensor_free(l->bx);
        nb_tensor_free(l->by);
        l->bx = nb__tensor_new(l->x->dtype, with_rows(l->x->shape, b), NULL, false);
        l->by = l->y ? nb__tensor_new(l->y->dtype, with_rows(l->y->shape, b), NULL, false) : NULL;
        if (!l->bx || (l->y && !l->by)) {
            nb_fail(NB_ERR_NOMEM, "loader_shard", "out of memory");
            return NB_ERR_NOMEM;
        }
        nb_set_name(l->bx, "batch.x");
        if (l->by) nb_set_name(l->by, "batch.y");
    }
    nb_tensor_free(l->lx); /* the short last batch may have another size now */
    nb_tensor_free(l->ly);
    l->lx = l->ly = NULL;
    l->in_epoch = false;
    return NB_OK;
}

void nb_loader_set_epoch(nb_loader *l, int epoch) {
    if (!l) return;
    l->epoch = epoch > 0 ? epoch : 0;
    l->in_epoch = false;
}

void nb_loader_free(nb_loader *l) {
    if (!l) return;
    nb__free(l->all);
    nb_tensor_free(l->bx);
    nb_tensor_free(l->by);
    nb_tensor_free(l->lx);
    nb_tensor_free(l->ly);
    nb__free(l->perm);
    nb__free(l);
}
