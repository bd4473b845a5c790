/* io/csv.c — numeric CSV tables into a dataset (x, y).
 *
 * The whole file is read, split into lines and cells; every cell must be a
 * number (strtod). Errors say "file:line:column: ..." with 1-based line and
 * character column, as compilers do, so an editor jumps to the cell.
 */
#include "io_internal.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

nb_csv_opts nb_csv_defaults(void) {
    return (nb_csv_opts){
        .delim = ',', .header = -1, .label_col = -1, .label_name = NULL, .dtype = NB_F32, .label_dtype = NB_I64};
}

/* Reads a whole file; NULL on error (errno set). *len = bytes. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

typedef struct cell {
    const char *p; /* start (after leading blanks) */
    size_t len;    /* without trailing blanks      */
    int col;       /* 1-based character column of p */
} cell;

/* Splits [line, end) at delim into cells (at most max; returns the count,
 * which may exceed max: the caller reports it). */
static int split(const char *line, const char *end, char delim, cell *cells, int max) {
    int n = 0;
    const char *p = line;
    for (;;) {
        const char *q = p;
        while (q < end && *q != delim) q++;
        const char *a = p, *b = q;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (n < max) cells[n] = (cell){a, (size_t)(b - a), (int)(a - line) + 1};
        n++;
        if (q >= end) break;
        p = q + 1;
    }
    return n;
}

/* Parses a whole cell as a number. The rule (docs/io.md): a decimal number
 * (sign, digits, '.', exponent) or, in any case, nan, inf or infinity with
 * an optional sign. Nothing else strtod would take: no hexadecimal ("0x10"
 * is not 16), no hex floats, no "nan(...)". */
static bool parse_num(const cell *c, double *v) {
    if (c->len == 0 || c->len > 127) return false;
    char tmp[128];
    memcpy(tmp, c->p, c->len);
    tmp[c->len] = '\0';
    const char *w = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (!strcasecmp(w, "nan") || !strcasecmp(w, "inf") || !strcasecmp(w, "infinity")) {
        *v = strtod(tmp, NULL);
        return true;
    }
    for (const char *q = tmp; *q; q++)
        if (!strchr("0123456789+-.eE", *q)) return false;
    char *endp;
    errno = 0;
    *v = strtod(tmp, &endp);
    return endp == tmp + c->len && endp != tmp;
}

static bool is_blank_line(const char *a, const char *b) {
    for (; a < b; a++)
        if (!isspace((unsigned char)*a)) return false;
    return true;
}

static nb_status csv_args(const char *what, const void *p, const char *name, const nb_csv_opts *opts_in, nb_csv_opts *o,
                          nb_dataset *out, char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    if (!out) return nb__io_err(err, errlen, NB_ERR_ARG, "csv: out is NULL");
    out->x = out->y = NULL;
    if (!p) return nb__io_err(err, errlen, NB_ERR_ARG, "csv: %s is NULL", what);
    *o = opts_in ? *opts_in : nb_csv_defaults();
    if (!o->delim) o->delim = ',';
    if (o->dtype != NB_F32 && o->dtype != NB_F64)
        return nb__io_err(err, errlen, NB_ERR_ARG, "csv: %s: x dtype must be f32 or f64", name);
    if (o->label_dtype != NB_F32 && o->label_dtype != NB_F64 && o->label_dtype != NB_I64)
        return nb__io_err(err, errlen, NB_ERR_ARG, "csv: %s: bad label dtype", name);
    return NB_OK;
}

/* Parses buf[0..len) (NUL-terminated at len; freed here). */
static nb_status csv_parse(char *buf, size_t len, const char *path, nb_csv_opts o, nb_dataset *out, char *err,
                           size_t errlen) {
    if (memchr(buf, '\0', len)) {
        free(buf);
        return nb__io_err(err, errlen, NB_ERR_IO, "csv: %s: contains NUL bytes (not a text file)", path);
    }

    nb_status st = NB_ERR_IO;
    enum { MAXC = 4096 };
    cell *cells = malloc(sizeof(cell) * MAXC);
    double *vals = NULL;
    size_t nvals = 0, capv = 0;
    int ncols = -1, label = -1, first_data_line = 0;
    int64_t rows = 0;
    bool header_done = false;
    if (!cells) {
        st = nb__io_err(err, errlen, NB_ERR_NOMEM, "csv: %s: out of memory", path);
        goto done;
    }

    int lineno = 0;
    for (const char *line = buf; line < buf + len;) {
        const char *end = memchr(line, '\n', (size_t)(buf + len - line));
        if (!end) end = buf + len;
        const char *next = end < buf + len ? end + 1 : end;
        lineno++;
        if (is_blank_line(line, end)) {
            line = next;
            continue;
        }
        int nc = split(line, end, o.delim, cells, MAXC);
        if (nc > MAXC) {
            nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:1: %d columns (at most %d supported)", path, lineno, nc,
                       MAXC);
            goto done;
        }
        if (!header_done) {
            header_done = true;
            bool is_header = o.header == 1;
            if (o.header == -1) {
                /* A header has a text cell. Empty cells don't make one: a
                 * first row of numbers with a missing value is data (and is
                 * then reported as such), never dropped as a header. */
                double v;
                for (int c = 0; c < nc; c++)
                    if (cells[c].len > 0 && !parse_num(&cells[c], &v)) is_header = true;
            }
            ncols = nc;
            if (o.label_name) {
                if (!is_header) {
                    nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:1: no header line to find the label column '%s'",
                               path, lineno, o.label_name);
                    goto done;
                }
                for (int c = 0; c < nc && label < 0; c++) {
                    const char *a = cells[c].p;
                    size_t l = cells[c].len;
                    if (l >= 2 && a[0] == '"' && a[l - 1] == '"') a++, l -= 2;
                    if (strlen(o.label_name) == l && !memcmp(a, o.label_name, l)) label = c;
                }
                if (label < 0) {
                    nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:1: no column named '%s' in the header", path, lineno,
                               o.label_name);
                    goto done;
                }
            } else if (o.label_col != NB_CSV_NO_LABEL) {
                label = o.label_col < 0 ? nc + o.label_col : o.label_col;
                if (label < 0 || label >= nc) {
                    nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:1: label column %d but the table has %d columns",
                               path, lineno, o.label_col, nc);
                    goto done;
                }
            }
            if (label >= 0 && nc < 2) {
                nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:1: one column, and it is the label: no features", path,
                           lineno);
                goto done;
            }
            if (is_header) {
                line = next;
                continue;
            }
        }
        if (nc != ncols) {
            const char *endc = end > line && end[-1] == '\r' ? end - 1 : end;
            nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:%d: %d fields, expected %d (as on line %d)", path, lineno,
                       nc > ncols ? cells[ncols].col : (int)(endc - line) + 1, nc, ncols,
                       first_data_line ? first_data_line : lineno);
            goto done;
        }
        if (!first_data_line) first_data_line = lineno;
        if (nvals + (size_t)nc > capv) {
            size_t nc2 = capv ? capv * 2 : 4096;
            while (nc2 < nvals + (size_t)nc) nc2 *= 2;
            double *nv = realloc(vals, nc2 * sizeof(double));
            if (!nv) {
                st = nb__io_err(err, errlen, NB_ERR_NOMEM, "csv: %s: out of memory", path);
                goto done;
            }
            vals = nv, capv = nc2;
        }
        for (int c = 0; c < nc; c++) {
            double v;
            if (!parse_num(&cells[c], &v)) {
                if (cells[c].len == 0)
                    nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:%d: field %d is empty", path, lineno, cells[c].col,
                               c + 1);
                else
                    nb__io_err(err, errlen, NB_ERR_IO, "csv: %s:%d:%d: field %d '%.*s' is not a number", path, lineno,
                               cells[c].col, c + 1, (int)(cells[c].len > 40 ? 40 : cells[c].len), cells[c].p);
                goto done;
            }
            if (c == label && o.label_dtype == NB_I64 && (!(fabs(v) < 9e15) || v != floor(v))) {
                nb__io_err(err, errlen, NB_ERR_IO,
                           "csv: %s:%d:%d: label '%.*s' is not an integer (class labels are i64)", path, lineno,
                           cells[c].col, (int)(cells[c].len > 40 ? 40 : cells[c].len), cells[c].p);
                goto done;
            }
            vals[nvals++] = v;
        }
        rows++;
        line = next;
    }
    if (rows == 0) {
        nb__io_err(err, errlen, NB_ERR_IO, "csv: %s: no data rows", path);
        goto done;
    }

    {
        int nx = label >= 0 ? ncols - 1 : ncols;
        nb_tensor *x = nb__tensor_new(o.dtype, NB_SHAPE(rows, nx), NULL, false);
        nb_tensor *y = label >= 0 ? nb__tensor_new(o.label_dtype, NB_SHAPE(rows), NULL, false) : NULL;
        if (!x || (label >= 0 && !y)) {
            nb_tensor_free(x);
            nb_tensor_free(y);
            st = nb__io_err(err, errlen, NB_ERR_NOMEM, "csv: %s: out of memory", path);
            goto done;
        }
        for (int64_t r = 0; r < rows; r++) {
            const double *row = vals + r * ncols;
            int64_t j = 0;
            for (int c = 0; c < ncols; c++) {
                if (c == label) {
                    if (o.label_dtype == NB_I64) nb_i64(y)[r] = (int64_t)row[c];
                    else if (o.label_dtype == NB_F32) nb_f32(y)[r] = (float)row[c];
                    else nb_f64(y)[r] = row[c];
                } else {
                    if (o.dtype == NB_F32) nb_f32(x)[r * nx + j] = (float)row[c];
                    else nb_f64(x)[r * nx + j] = row[c];
                    j++;
                }
            }
        }
        out->x = x;
        out->y = y;
        st = NB_OK;
    }

done:
    free(cells);
    free(vals);
    free(buf);
    return st;
}

nb_status nb_csv_load(const char *path, const nb_csv_opts *opts, nb_dataset *out, char *err, size_t errlen) {
    nb_csv_opts o = nb_csv_defaults();
    nb_status st = csv_args("path", path, path, opts, &o, out, err, errlen);
    if (st != NB_OK) return st;
    size_t len = 0;
    char *buf = slurp(path, &len);
    if (!buf) return nb__io_err(err, errlen, NB_ERR_IO, "csv: %s: can't read: %s", path, strerror(errno));
    return csv_parse(buf, len, path, o, out, err, errlen);
}

nb_status nb_csv_load_mem(const void *data, size_t len, const nb_csv_opts *opts, nb_dataset *out, char *err,
                          size_t errlen) {
    nb_csv_opts o = nb_csv_defaults();
    nb_status st = csv_args("data", data, "<memory>", opts, &o, out, err, errlen);
    if (st != NB_OK) return st;
    char *buf = len < SIZE_MAX ? malloc(len + 1) : NULL;
    if (!buf) return nb__io_err(err, errlen, NB_ERR_NOMEM, "csv: <memory>: out of memory (%zu bytes)", len);
    memcpy(buf, data, len);
    buf[len] = '\0';
    return csv_parse(buf, len, "<memory>", o, out, err, errlen);
}
