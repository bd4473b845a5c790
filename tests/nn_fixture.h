/* tests/nn_fixture.h — reads the text fixtures of tests/fixtures/gen_nn_fixtures.py:
 * records "<name> <f64|i64> <ndim> <dims...>" followed by a line of values. */
#ifndef NB_TEST_NN_FIXTURE_H
#define NB_TEST_NN_FIXTURE_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/nabla.h"

typedef struct fixture {
    int n, cap;
    char **names;
    nb_tensor **ts; /* persistent */
} fixture;

static inline fixture *fixture_load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fixture: can't open %s\n", path);
        return NULL;
    }
    fixture *fx = calloc(1, sizeof *fx);
    char name[256], kind[8];
    int c;
    for (;;) {
        while ((c = fgetc(f)) == '#')
            while ((c = fgetc(f)) != '\n' && c != EOF) {}
        if (c == EOF) break;
        ungetc(c, f);
        int ndim;
        if (fscanf(f, "%255s %7s %d", name, kind, &ndim) != 3) break;
        nb_shape s = {.ndim = ndim};
        for (int i = 0; i < ndim; i++)
            if (fscanf(f, "%lld", (long long *)&s.d[i]) != 1) goto bad;
        nb_tensor *t = nb_empty(strcmp(kind, "i64") ? NB_F64 : NB_I64, s);
        for (int64_t i = 0; i < t->numel; i++) {
            if (t->dtype == NB_I64) {
                long long v;
                if (fscanf(f, "%lld", &v) != 1) goto bad;
                nb_i64(t)[i] = v;
            } else {
                char tok[64];
                if (fscanf(f, "%63s", tok) != 1) goto bad;
                nb_f64(t)[i] = strtod(tok, NULL); /* handles inf/nan too */
            }
        }
        if (fx->n == fx->cap) {
            fx->cap = fx->cap ? 2 * fx->cap : 64;
            fx->names = realloc(fx->names, sizeof *fx->names * (size_t)fx->cap);
            fx->ts = realloc(fx->ts, sizeof *fx->ts * (size_t)fx->cap);
        }
        fx->names[fx->n] = strdup(name);
        fx->ts[fx->n++] = t;
        while ((c = fgetc(f)) != '\n' && c != EOF) {}
    }
    fclose(f);
    return fx;
bad:
    fprintf(stderr, "fixture: %s: bad record '%s'\n", path, name);
    fclose(f);
    return fx;
}

static inline void fixture_free(fixture *fx) {
    if (!fx) return;
    for (int i = 0; i < fx->n; i++) {
        free(fx->names[i]);
        nb_tensor_free(fx->ts[i]);
    }
    free(fx->names);
    free(fx->ts);
    free(fx);
}

/* dir/file with dir = $NB_NN_FIXTURES_DIR when set, else default_dir (the
 * test's compiled-in fixture directory); NULL (said on stderr) when absent. */
static inline fixture *fixture_open(const char *default_dir, const char *file) {
    char path[1024];
    const char *dir = getenv("NB_NN_FIXTURES_DIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : default_dir, file);
    return fixture_load(path);
}

/* Copies src's values into t (F32, F64 or I64) and bumps t's version; false
 * when either is NULL or their sizes differ. */
static inline bool fixture_copy_into(nb_tensor *t, const nb_tensor *src) {
    if (!t || !src || t->numel != src->numel) return false;
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == NB_F64) nb_f64(t)[i] = nb_get(src, i);
        else if (t->dtype == NB_F32) nb_f32(t)[i] = (float)nb_get(src, i);
        else nb_i64(t)[i] = (int64_t)nb_get(src, i);
    }
    nb_bump_version(t);
    return true;
}

/* A copy of a fixture tensor in float dtype dt (I64 ones stay I64), in the
 * current scope (persistent when none is open). */
static inline nb_tensor *fixture_as(const nb_tensor *src, nb_dtype dt) {
    if (!src) return NULL;
    if (src->dtype == NB_I64) return nb_copy(src);
    nb_tensor *t = nb_empty(dt, src->shape);
    fixture_copy_into(t, src);
    return t;
}

/* The tensor named name (printf-style), or NULL. */
static inline nb_tensor *fixture_get(const fixture *fx, const char *fmt, ...) NB_PRINTF(2, 3);
static inline nb_tensor *fixture_get(const fixture *fx, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; fx && i < fx->n; i++)
        if (!strcmp(fx->names[i], name)) return fx->ts[i];
    fprintf(stderr, "fixture: no tensor '%s'\n", name);
    return NULL;
}

/* Worst |a−b|/max(|b|, floor) over the elements (a, b same numel; any dtypes).
 * Returns INFINITY on a size mismatch or a NULL. */
static inline double max_rel_err(const nb_tensor *a, const nb_tensor *b, double floor_) {
    if (!a || !b || a->numel != b->numel) return INFINITY;
    double worst = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = nb_get(a, i), y = nb_get(b, i);
        double e = fabs(x - y) / fmax(fabs(y), floor_);
        if (!(e <= worst)) worst = e; /* NaN propagates as worst */
    }
    return worst;
}

#endif
