/* tests/ref_fixture.h — the parser of the PyTorch fixture files (format:
 * tests/fixtures/README.md), shared by tests/test_reference.c and
 * tests/test_nan.c. Include it once, in one test program: everything here is
 * static. Values go through strtod, so "nan", "inf" and "-inf" read back;
 * ref_sample_inputs makes a sample's inputs for a run. */
#ifndef NB_REF_FIXTURE_H
#define NB_REF_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nabla/nabla.h"

/* ------------------------------------------------------------ parsing */

typedef struct {
    char *p;          /* cursor into the file's text */
    const char *text; /* its start, for line numbers */
    const char *path;
    char err[512]; /* first parse error */
} parser;

typedef struct {
    nb_dtype dtype; /* inputs: f64/i64 (f32 read as float) */
    bool rg;
    nb_shape shape;
    int64_t numel;
    double *v;   /* float values */
    int64_t *iv; /* i64 values */
} ref_tensor;

typedef struct {
    int index;
    char desc[256];
    int64_t iarg[8];
    double farg[4];
    int nin;
    ref_tensor in[NB_SAMPLE_MAX_IN];
    bool skip;
    char skip_why[256];
    /* expected, [0] = f64 run, [1] = f32 run */
    ref_tensor out[2];
    int ngrad[2];
    int grad_of[2][NB_SAMPLE_MAX_IN];
    ref_tensor grad[2][NB_SAMPLE_MAX_IN];
} ref_sample;

static void perr(parser *P, const char *fmt, ...) {
    if (P->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char near[40] = "";
    if (P->p) {
        size_t n = strcspn(P->p, "\n");
        snprintf(near, sizeof near, "%.*s", (int)(n < 30 ? n : 30), P->p);
    }
    int line = 1;
    for (const char *q = P->text; q && q < P->p; q++) line += *q == '\n';
    snprintf(P->err, sizeof P->err, "%s:%d: %s (near \"%s\")", P->path, line, msg, near);
}

/* Skips blanks, newlines and '#' comment lines. */
static void skip_space(parser *P) {
    for (;;) {
        while (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r') P->p++;
        if (*P->p != '#') return;
        while (*P->p && *P->p != '\n') P->p++;
    }
}

/* The next whitespace-separated word into buf; false at the end or on error. */
static bool word(parser *P, char *buf, size_t size) {
    if (P->err[0]) return false;
    skip_space(P);
    size_t n = 0;
    while (*P->p && *P->p != ' ' && *P->p != '\t' && *P->p != '\n' && *P->p != '\r') {
        if (n + 1 < size) buf[n++] = *P->p;
        P->p++;
    }
    buf[n] = 0;
    return n > 0;
}

static bool expect_word(parser *P, const char *w) {
    char buf[64];
    if (!word(P, buf, sizeof buf) || strcmp(buf, w) != 0) {
        perr(P, "expected \"%s\", found \"%s\"", w, buf);
        return false;
    }
    return true;
}

static int64_t read_int(parser *P) {
    char buf[64], *end;
    if (!word(P, buf, sizeof buf)) {
        perr(P, "expected an integer");
        return 0;
    }
    long long v = strtoll(buf, &end, 10);
    if (*end) perr(P, "bad integer \"%s\"", buf);
    return (int64_t)v;
}

static double read_double(parser *P) {
    char buf[64], *end;
    if (!word(P, buf, sizeof buf)) {
        perr(P, "expected a number");
        return 0;
    }
    double v = strtod(buf, &end);
    if (*end) perr(P, "bad number \"%s\"", buf);
    return v;
}

/* The rest of the current line (after one blank), for desc and skip. */
static void rest_of_line(parser *P, char *buf, size_t size) {
    if (*P->p == ' ') P->p++;
    size_t n = strcspn(P->p, "\r\n");
    snprintf(buf, size, "%.*s", (int)n, P->p);
    P->p += n;
}

static nb_dtype parse_dtype(parser *P) {
    char buf[16];
    word(P, buf, sizeof buf);
    if (strcmp(buf, "f64") == 0) return NB_F64;
    if (strcmp(buf, "f32") == 0) return NB_F32;
    if (strcmp(buf, "i64") == 0) return NB_I64;
    perr(P, "unknown dtype \"%s\"", buf);
    return NB_F64;
}

/* "ndim <n> shape <d...>" then numel values */
static void parse_tensor_body(parser *P, ref_tensor *t) {
    expect_word(P, "ndim");
    int64_t nd = read_int(P);
    if (nd < 0 || nd > NB_MAX_DIMS) {
        perr(P, "bad ndim %lld", (long long)nd);
        return;
    }
    expect_word(P, "shape");
    t->shape.ndim = (int)nd;
    for (int d = 0; d < nd; d++) t->shape.d[d] = read_int(P);
    t->numel = nb_shape_numel(t->shape);
    if (P->err[0] || t->numel < 0 || t->numel > (1 << 24)) {
        perr(P, "bad shape");
        return;
    }
    if (t->dtype == NB_I64) {
        t->iv = calloc((size_t)t->numel + 1, sizeof *t->iv);
        for (int64_t j = 0; j < t->numel; j++) t->iv[j] = read_int(P);
    }
    t->v = calloc((size_t)t->numel + 1, sizeof *t->v);
    for (int64_t j = 0; j < t->numel; j++) t->v[j] = t->dtype == NB_I64 ? (double)t->iv[j] : read_double(P);
}

static void free_tensor(ref_tensor *t) {
    free(t->v);
    free(t->iv);
    t->v = NULL;
    t->iv = NULL;
}

static void free_sample(ref_sample *s) {
    for (int i = 0; i < s->nin; i++) free_tensor(&s->in[i]);
    for (int r = 0; r < 2; r++) {
        free_tensor(&s->out[r]);
        for (int g = 0; g < s->ngrad[r]; g++) free_tensor(&s->grad[r][g]);
    }
}

/* One expect block: "expect <f64|f32>", "output dtype ...", then "grad <i> ..." lines. */
static void parse_expect(parser *P, ref_sample *s, int r) {
    expect_word(P, "output");
    expect_word(P, "dtype");
    s->out[r].dtype = parse_dtype(P);
    parse_tensor_body(P, &s->out[r]);
    for (;;) {
        skip_space(P);
        if (strncmp(P->p, "grad ", 5) != 0) break;
        expect_word(P, "grad");
        int64_t i = read_int(P);
        if (i < 0 || i >= s->nin || s->ngrad[r] >= NB_SAMPLE_MAX_IN) {
            perr(P, "bad grad index");
            return;
        }
        int g = s->ngrad[r]++;
        s->grad_of[r][g] = (int)i;
        s->grad[r][g].dtype = NB_F64;
        parse_tensor_body(P, &s->grad[r][g]);
        if (P->err[0]) return;
    }
}

/* Parses the next sample of op; false at the end of the file or on error. */
static bool parse_sample(parser *P, const char *op, ref_sample *s) {
    memset(s, 0, sizeof *s);
    char buf[128];
    skip_space(P);
    if (!*P->p) return false;
    expect_word(P, "op");
    word(P, buf, sizeof buf);
    if (strcmp(buf, op) != 0) perr(P, "sample of op \"%s\" in the fixture of \"%s\"", buf, op);
    expect_word(P, "sample");
    s->index = (int)read_int(P);
    expect_word(P, "desc");
    rest_of_line(P, s->desc, sizeof s->desc);
    expect_word(P, "iarg");
    for (int i = 0; i < 8; i++) s->iarg[i] = read_int(P);
    expect_word(P, "farg");
    for (int i = 0; i < 4; i++) s->farg[i] = read_double(P);
    expect_word(P, "nin");
    int64_t nin = read_int(P);
    if (nin < 0 || nin > NB_SAMPLE_MAX_IN) {
        perr(P, "bad nin");
        return false;
    }
    for (int i = 0; i < nin && !P->err[0]; i++) {
        s->nin = i + 1;
        expect_word(P, "input");
        if (read_int(P) != i) perr(P, "input %d out of order", i);
        expect_word(P, "dtype");
        s->in[i].dtype = parse_dtype(P);
        expect_word(P, "requires_grad");
        s->in[i].rg = read_int(P) != 0;
        parse_tensor_body(P, &s->in[i]);
    }
    word(P, buf, sizeof buf);
    if (strcmp(buf, "skip") == 0) {
        s->skip = true;
        rest_of_line(P, s->skip_why, sizeof s->skip_why);
    } else {
        for (int r = 0; r < 2 && !P->err[0]; r++) {
            if (r == 1) word(P, buf, sizeof buf);
            if (strcmp(buf, "expect") != 0) {
                perr(P, "expected \"expect\" or \"skip\", found \"%s\"", buf);
                break;
            }
            word(P, buf, sizeof buf);
            if (strcmp(buf, r == 0 ? "f64" : "f32") != 0) perr(P, "expected the %s run", r == 0 ? "f64" : "f32");
            parse_expect(P, s, r);
        }
    }
    expect_word(P, "end");
    return !P->err[0];
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = 0;
    }
    fclose(f);
    return buf;
}

/* ------------------------------------------------------------ running */

/* The registry sample of fixture sample s for entry e, its floating inputs
 * made in dt (the fixture holds them in f64) and marked as it says. Call
 * inside a scope: the inputs are the scope's. */
static nb_sample ref_sample_inputs(const nb_op_entry *e, const ref_sample *s, nb_dtype dt) {
    nb_sample smp = {.entry = e, .desc = s->desc, .nin = s->nin};
    memcpy(smp.iarg, s->iarg, sizeof smp.iarg);
    memcpy(smp.farg, s->farg, sizeof smp.farg);
    for (int i = 0; i < s->nin; i++) {
        const ref_tensor *t = &s->in[i];
        if (t->dtype == NB_I64) {
            smp.in[i] = nb_from_i64(t->shape, t->iv);
        } else {
            smp.in[i] = nb_empty(dt, t->shape);
            for (int64_t j = 0; j < t->numel; j++) {
                if (dt == NB_F64) nb_f64(smp.in[i])[j] = t->v[j];
                else nb_f32(smp.in[i])[j] = (float)t->v[j];
            }
            nb_set_requires_grad(smp.in[i], t->rg);
        }
    }
    return smp;
}

#endif
