/* tests/dump_samples.c — prints every registry op's samples as text, for
 * tests/fixtures/gen_fixtures.py (which feeds the same inputs to PyTorch).
 *
 *     dump_samples [OUT|-] [op ...]
 *
 * OUT is a path (default or "-": stdout); the op names, when given, limit the
 * dump to those ops. Each op's samples are generated inside a scope after
 * nb_seed(FNV-1a 64 of the op's name), so an op's samples don't depend on its
 * place in the registry. The format (one block per sample; values %.17g, I64
 * as integers, 4 per line) is described in tests/fixtures/README.md:
 *
 *     op add
 *     sample 0
 *     desc same shape (3,4)
 *     iarg 0 0 0 0 0 0 0 0
 *     farg 0 0 0 0
 *     nin 2
 *     input 0 dtype f64 requires_grad 1 ndim 2 shape 3 4
 *       v v v v
 *       ...
 *     end
 *
 * Exit status: 0, or 1 when a named op is not in the registry, an op makes
 * no samples, or the output can't be written. */
#include <stdio.h>
#include <string.h>
#include "nabla/nabla.h"
#include "op_seed.h"


static void dump_values(FILE *f, const nb_tensor *t) {
    for (int64_t j = 0; j < t->numel; j++) {
        fputs(j % 4 == 0 ? "  " : " ", f);
        if (t->dtype == NB_I64) fprintf(f, "%lld", (long long)nb_i64(t)[j]);
        else fprintf(f, "%.17g", nb_get(t, j));
        if (j % 4 == 3 || j == t->numel - 1) fputc('\n', f);
    }
}

/* Writes one op's samples; returns how many (0 = none, an error). */
static int dump_op(FILE *f, const nb_op_entry *e) {
    nb_scope *sc = nb_scope_begin();
    nb_seed(op_seed(e->name));
    nb_sample samples[NB_MAX_SAMPLES];
    int ns = e->samples(samples, NB_MAX_SAMPLES);
    for (int k = 0; k < ns; k++) {
        const nb_sample *s = &samples[k];
        fprintf(f, "op %s\nsample %d\ndesc %s\niarg", e->name, k, s->desc ? s->desc : "");
        for (int i = 0; i < 8; i++) fprintf(f, " %lld", (long long)s->iarg[i]);
        fputs("\nfarg", f);
        for (int i = 0; i < 4; i++) fprintf(f, " %.17g", s->farg[i]);
        fprintf(f, "\nnin %d\n", s->nin);
        for (int i = 0; i < s->nin; i++) {
            const nb_tensor *t = s->in[i];
            fprintf(f, "input %d dtype %s requires_grad %d ndim %d shape", i, nb_dtype_name(t->dtype),
                    t->requires_grad ? 1 : 0, t->shape.ndim);
            for (int d = 0; d < t->shape.ndim; d++) fprintf(f, " %lld", (long long)t->shape.d[d]);
            fputc('\n', f);
            dump_values(f, t);
        }
        fputs("end\n", f);
    }
    nb_scope_end(&sc);
    return ns;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "-";
    int status = 0;
    for (int a = 2; a < argc; a++)
        if (!nb_registry_find(argv[a])) {
            fprintf(stderr, "dump_samples: no op \"%s\" in the registry\n", argv[a]);
            status = 1;
        }
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    for (int i = 0; i < nb_registry_count(); i++) {
        const nb_op_entry *e = nb_registry_get(i);
        bool wanted = argc <= 2;
        for (int a = 2; a < argc && !wanted; a++) wanted = strcmp(argv[a], e->name) == 0;
        if (!wanted) continue;
        if (dump_op(f, e) <= 0) {
            fprintf(stderr, "dump_samples: op \"%s\" makes no samples\n", e->name);
            status = 1;
        }
    }
    if (fflush(f) != 0 || ferror(f)) status = 1;
    if (f != stdout && fclose(f) != 0) status = 1;
    return status;
}
