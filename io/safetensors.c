/* io/safetensors.c — the safetensors exchange format (nabla/safetensors.h).
 *
 * Reading parses the whole file into a list of entries (name, dtype, shape,
 * a pointer to its bytes) after checking every size against the file, then
 * either copies matching entries into a module (converting dtypes) or makes
 * new tensors. Writing builds the header with jansson, pads it to 8 bytes,
 * and writes header and data to a temporary file that is renamed into place. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"
#include "nabla/safetensors.h"

#define ST_HEADER_MAX (100u << 20) /* the format's own bound on the header */

typedef enum { ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32 } st_dtype;
static const struct {
    const char *name;
    size_t size;
} ST_TYPES[] = {
    [ST_F64] = {"F64", 8},   [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4},
};

typedef struct {
    const char *name; /* borrowed from the JSON document */
    st_dtype dt;
    nb_shape shape;
    int64_t numel;
    uint64_t begin, end; /* offsets into the data section */
    const unsigned char *bytes;
} st_entry;

typedef struct {
    json_t *doc;
    st_entry *e;
    int n;
} st_file;

static void st_file_free(st_file *f) {
    free(f->e);
    if (f->doc) json_decref(f->doc);
    memset(f, 0, sizeof *f);
}

static bool host_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* n bytes little-endian at p as an unsigned integer of `size` bytes */
static uint64_t le_uint(const unsigned char *p, size_t size) {
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023;
    uint32_t bits;
    if (e == 31) bits = sign | 0x7f800000u | (m << 13);      /* inf, NaN */
    else if (e) bits = sign | ((e + 112) << 23) | (m << 13); /* normal: rebias 15 -> 127 */
    else if (!m) bits = sign;                                /* ±0 */
    else { /* subnormal: m·2^-24 */ float f = (float)m * 0x1p-24f;
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Element i of an entry as a double (floats) or integer (I64/I32). */
static double entry_get(const st_entry *e, int64_t i) {
    const unsigned char *p = e->bytes + (size_t)i * ST_TYPES[e->dt].size;
    const uint64_t u = le_uint(p, ST_TYPES[e->dt].size);
    switch (e->dt) {
    case ST_F64: {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    case ST_F32: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, 4);
        return f;
    }
    case ST_F16: return half_to_float((uint16_t)u);
    case ST_BF16: {
        uint32_t w = (uint32_t)u << 16;
        float f;
        memcpy(&f, &w, 4);
        return f;
    }
    case ST_I32: return (double)(int32_t)(uint32_t)u;
    default: return (double)(int64_t)u;
    }
}

static bool is_int_type(st_dtype dt) { return dt == ST_I64 || dt == ST_I32; }

/* Copies an entry into t (same numel; float entry -> float t, int -> I64). */
static void entry_copy(const st_entry *e, nb_tensor *t) {
    if (t->dtype == NB_I64) {
        for (int64_t i = 0; i < t->numel; i++) {
            const unsigned char *p = e->bytes + (size_t)i * ST_TYPES[e->dt].size;
            const uint64_t u = le_uint(p, ST_TYPES[e->dt].size);
            nb_i64(t)[i] = e->dt == ST_I32 ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
        }
    } else if (t->dtype == NB_F32 && e->dt == ST_F32 && host_le()) {
        memcpy(t->data, e->bytes, (size_t)t->numel * 4);
    } else if (t->dtype == NB_F64 && e->dt == ST_F64 && host_le()) {
        memcpy(t->data, e->bytes, (size_t)t->numel * 8);
    } else if (t->dtype == NB_F32) {
        for (int64_t i = 0; i < t->numel; i++) nb_f32(t)[i] = (float)entry_get(e, i);
    } else {
        for (int64_t i = 0; i < t->numel; i++) nb_f64(t)[i] = entry_get(e, i);
    }
}

static int cmp_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

#define BAD(...) nb__io_err(err, errlen, NB_ERR_IO, __VA_ARGS__)

/* One header entry: {"dtype": s, "shape": [...], "data_offsets": [b, e]}. */
static nb_status parse_entry(const char *name, json_t *v, uint64_t data_len, st_entry *out, char *err, size_t errlen) {
    if (!json_is_object(v)) return BAD("safetensors: tensor '%s': its header entry is not an object", name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        return BAD("safetensors: tensor '%s': needs dtype (string), shape (array) and data_offsets ([begin, end])",
                   name);
    const char *ds = json_string_value(jd);
    int dt = -1;
    for (int k = 0; k < (int)(sizeof ST_TYPES / sizeof ST_TYPES[0]); k++)
        if (!strcmp(ds, ST_TYPES[k].name)) dt = k;
    if (dt < 0)
        return BAD("safetensors: tensor '%s': dtype %s is not one nabla reads (F64, F32, F16, BF16, I64, I32)", name,
                   ds);
    const size_t nd = json_array_size(js);
    if (nd > NB_MAX_DIMS)
        return BAD("safetensors: tensor '%s': %zu dims (nabla has at most %d)", name, nd, NB_MAX_DIMS);
    out->name = name;
    out->dt = (st_dtype)dt;
    out->shape = (nb_shape){.ndim = (int)nd};
    int64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return BAD("safetensors: tensor '%s': shape[%zu] is not a size", name, i);
        out->shape.d[i] = (int64_t)json_integer_value(d);
        if (__builtin_mul_overflow(numel, out->shape.d[i], &numel))
            return BAD("safetensors: tensor '%s': its element count overflows", name);
    }
    out->numel = numel;
    json_t *b = json_array_get(jo, 0), *e = json_array_get(jo, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return BAD("safetensors: tensor '%s': data_offsets are not 0 <= begin <= end", name);
    out->begin = (uint64_t)json_integer_value(b);
    out->end = (uint64_t)json_integer_value(e);
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)numel, (uint64_t)ST_TYPES[dt].size, &bytes) || bytes != out->end - out->begin)
        return BAD("safetensors: tensor '%s': %s %lld elements need %llu bytes, data_offsets give %llu", name, ds,
                   (long long)numel, (unsigned long long)((uint64_t)numel * ST_TYPES[dt].size),
                   (unsigned long long)(out->end - out->begin));
    if (out->end > data_len)
        return BAD("safetensors: tensor '%s': data_offsets [%llu, %llu] run past the data (%llu bytes): truncated?",
                   name, (unsigned long long)out->begin, (unsigned long long)out->end, (unsigned long long)data_len);
    return NB_OK;
}

static nb_status parse(const unsigned char *data, size_t len, st_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (!data || len < 8) return BAD("safetensors: %zu bytes: too short for the header length", len);
    const uint64_t hn = le_uint(data, 8);
    if (hn > len - 8)
        return BAD("safetensors: header length %llu runs past the file (%zu bytes): truncated or "
                   "not a safetensors file",
                   (unsigned long long)hn, len);
    if (hn > ST_HEADER_MAX)
        return BAD("safetensors: header length %llu is over the format's 100 MB", (unsigned long long)hn);
    json_error_t je;
    f->doc = json_loadb((const char *)data + 8, (size_t)hn, JSON_REJECT_DUPLICATES, &je);
    if (!f->doc) return BAD("safetensors: header JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    if (!json_is_object(f->doc)) {
        st_file_free(f);
        return BAD("safetensors: the header is not a JSON object");
    }
    const uint64_t data_len = len - 8 - hn;
    const unsigned char *base = data + 8 + hn;
    f->e = calloc(json_object_size(f->doc) + 1, sizeof *f->e);
    st_entry **order = calloc(json_object_size(f->doc) + 1, sizeof *order);
    nb_status st = f->e && order ? NB_OK : nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors: out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(f->doc, key, v) {
        if (st != NB_OK) break;
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v)) st = BAD("safetensors: __metadata__ is not an object");
            else
                json_object_foreach(v, mk, mv) if (st == NB_OK && !json_is_string(mv)) st =
                    BAD("safetensors: __metadata__ value '%s' is not a string", mk);
            continue;
        }
        st = parse_entry(key, v, data_len, &f->e[f->n], err, errlen);
        if (st == NB_OK) {
            f->e[f->n].bytes = base + f->e[f->n].begin;
            order[f->n] = &f->e[f->n];
            f->n++;
        }
    }
    if (st == NB_OK) { /* the data section is tiled exactly: no overlap, no hole */
        qsort(order, (size_t)f->n, sizeof *order, cmp_begin);
        uint64_t at = 0;
        for (int i = 0; i < f->n && st == NB_OK; i++) {
            if (order[i]->begin != at)
                st = BAD("safetensors: tensor '%s' starts at %llu where %llu was expected (tensors overlap or leave "
                         "a hole)",
                         order[i]->name, (unsigned long long)order[i]->begin, (unsigned long long)at);
            at = order[i]->end;
        }
        if (st == NB_OK && at != data_len)
            st = BAD("safetensors: %llu bytes of data after the last tensor", (unsigned long long)(data_len - at));
    }
    free(order);
    if (st != NB_OK) st_file_free(f);
    return st;
}

/* ------------------------------------------------------------ report */

static void push(char ***list, int *n, const char *s) {
    char **l = realloc(*list, sizeof **list * (size_t)(*n + 1));
    if (!l) return;
    *list = l;
    if ((l[*n] = strdup(s))) (*n)++;
}

void nb_load_report_free(nb_load_report *r) {
    if (!r) return;
    for (int i = 0; i < r->n_missing; i++) free(r->missing[i]);
    for (int i = 0; i < r->n_unexpected; i++) free(r->unexpected[i]);
    for (int i = 0; i < r->n_mismatched; i++) free(r->mismatched[i]);
    free(r->missing);
    free(r->unexpected);
    free(r->mismatched);
    memset(r, 0, sizeof *r);
}

/* "a, b, c" of up to 8 names into buf, "... (N in all)" past that */
static const char *name_list(char *buf, size_t size, char **names, int n) {
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && i < 8 && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? ", " : "", names[i]);
    if (n > 8 && at < size) snprintf(buf + at, size - at, ", ... (%d in all)", n);
    return buf;
}

/* ------------------------------------------------------------ load */

nb_status nb_safetensors_load_mem(struct nb_module *m, const void *data, size_t len, bool strict,
                                  nb_load_report *report, char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    nb_load_report r = {0};
    if (report) memset(report, 0, sizeof *report);
    if (!m) return nb__io_err(err, errlen, NB_ERR_ARG, "safetensors load: module is NULL");
    st_file f;
    nb_status st = parse(data, len, &f, err, errlen);
    if (st != NB_OK) return st;
    const int nt = nb_module_named_tensors(m, NULL, 0);
    nb_named_tensor *ts = malloc(sizeof *ts * (size_t)(nt > 0 ? nt : 1));
    const st_entry **match = calloc((size_t)(nt > 0 ? nt : 1), sizeof *match);
    bool *used = calloc((size_t)f.n + 1, 1);
    if (!ts || !match || !used) {
        st = nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors load: out of memory");
        goto done;
    }
    nb_module_named_tensors(m, ts, nt);
    for (int i = 0; i < nt; i++) {
        for (int k = 0; k < f.n && !match[i]; k++)
            if (!used[k] && !strcmp(f.e[k].name, ts[i].name)) match[i] = &f.e[k], used[k] = true;
        if (!match[i]) {
            push(&r.missing, &r.n_missing, ts[i].name);
            continue;
        }
        const bool t_int = ts[i].t->dtype == NB_I64;
        if (!nb_shape_eq(match[i]->shape, ts[i].t->shape) || t_int != is_int_type(match[i]->dt)) {
            char a[NB_SHAPE_STRLEN], b[NB_SHAPE_STRLEN], line[NB_NAME_MAX + 2 * NB_SHAPE_STRLEN + 64];
            snprintf(line, sizeof line, "%s: file %s %s, model %s %s", ts[i].name,
                     nb_shape_str(match[i]->shape, a, sizeof a), ST_TYPES[match[i]->dt].name,
                     nb_shape_str(ts[i].t->shape, b, sizeof b), nb_dtype_name(ts[i].t->dtype));
            push(&r.mismatched, &r.n_mismatched, line);
            match[i] = NULL;
        }
    }
    for (int k = 0; k < f.n; k++)
        if (!used[k]) push(&r.unexpected, &r.n_unexpected, f.e[k].name);
    char l1[512], l2[512];
    if (r.n_mismatched)
        st = BAD("safetensors load: %d tensor%s of another shape or kind, nothing loaded: %s", r.n_mismatched,
                 r.n_mismatched > 1 ? "s" : "", name_list(l1, sizeof l1, r.mismatched, r.n_mismatched));
    else if (strict && (r.n_missing || r.n_unexpected))
        st = BAD("safetensors load (strict): nothing loaded; missing %d [%s], unexpected %d [%s]", r.n_missing,
                 name_list(l1, sizeof l1, r.missing, r.n_missing), r.n_unexpected,
                 name_list(l2, sizeof l2, r.unexpected, r.n_unexpected));
    if (st == NB_OK)
        for (int i = 0; i < nt; i++)
            if (match[i]) {
                entry_copy(match[i], ts[i].t);
                nb_bump_version(ts[i].t);
            }
done:
    free(ts);
    free(match);
    free(used);
    st_file_free(&f);
    if (report) *report = r;
    else nb_load_report_free(&r);
    return st;
}

nb_status nb_safetensors_load(struct nb_module *m, const char *path, bool strict, nb_load_report *report, char *err,
                              size_t errlen) {
    if (report) memset(report, 0, sizeof *report);
    unsigned char *buf;
    size_t len;
    nb_status st = nb__io_slurp("safetensors", path, &buf, &len, err, errlen);
    if (st != NB_OK) return st;
    st = nb_safetensors_load_mem(m, buf, len, strict, report, err, errlen);
    free(buf);
    if (st != NB_OK && err && errlen && !strstr(err, path)) { /* name the file */
        char *msg = strdup(err);
        if (msg) {
            snprintf(err, errlen, "%s: %s", path, msg);
            free(msg);
        }
    }
    return st;
}

/* ------------------------------------------------------------ read all */

void nb_safetensors_free(nb_named_tensor *ts, int n) {
    if (!ts) return;
    for (int i = 0; i < n; i++) {
        free((char *)ts[i].name);
        nb_tensor_free(ts[i].t);
    }
    free(ts);
}

nb_status nb_safetensors_read_mem(const void *data, size_t len, nb_named_tensor **out, int *n, char *err,
                                  size_t errlen) {
    nb__io_ok(err, errlen);
    if (!out || !n) return nb__io_err(err, errlen, NB_ERR_ARG, "safetensors read: out or n is NULL");
    *out = NULL;
    *n = 0;
    st_file f;
    nb_status st = parse(data, len, &f, err, errlen);
    if (st != NB_OK) return st;
    nb_named_tensor *ts = calloc((size_t)f.n + 1, sizeof *ts);
    if (!ts) st = nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors read: out of memory");
    for (int i = 0; st == NB_OK && i < f.n; i++) {
        nb_tensor *t = nb__tensor_new(is_int_type(f.e[i].dt)    ? NB_I64
                                          : f.e[i].dt == ST_F64 ? NB_F64
                                                                : NB_F32,
                                      f.e[i].shape, NULL, false);
        ts[i].name = strdup(f.e[i].name);
        if (!t || !ts[i].name) {
            nb_tensor_free(t);
            st = nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors read: out of memory for '%s'", f.e[i].name);
            break;
        }
        entry_copy(&f.e[i], t);
        ts[i].t = t;
        *n = i + 1;
    }
    st_file_free(&f);
    if (st != NB_OK) {
        nb_safetensors_free(ts, *n);
        *n = 0;
        return st;
    }
    *out = ts;
    return NB_OK;
}

nb_status nb_safetensors_read(const char *path, nb_named_tensor **out, int *n, char *err, size_t errlen) {
    if (out) *out = NULL;
    if (n) *n = 0;
    unsigned char *buf;
    size_t len;
    nb_status st = nb__io_slurp("safetensors", path, &buf, &len, err, errlen);
    if (st != NB_OK) return st;
    st = nb_safetensors_read_mem(buf, len, out, n, err, errlen);
    free(buf);
    return st;
}

/* ------------------------------------------------------------ save */

typedef struct {
    const unsigned char *b;
    size_t len;
} bytes_job;

static bool write_bytes(FILE *f, void *ctx) {
    const bytes_job *j = ctx;
    return fwrite(j->b, 1, j->len, f) == j->len;
}

static const char *st_name_of(nb_dtype dt) { return dt == NB_F64 ? "F64" : dt == NB_F32 ? "F32" : "I64"; }

/* header + data of ts, in memory */
static nb_status build(const nb_named_tensor *ts, int n, const char *const (*meta)[2], int n_meta, unsigned char **out,
                       size_t *out_len, char *err, size_t errlen) {
    json_t *h = json_object();
    if (!h) return nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors save: out of memory");
    nb_status st = NB_OK;
    if (n_meta > 0) {
        json_t *md = json_object();
        for (int i = 0; i < n_meta && md; i++)
            if (!meta[i][0] || !meta[i][1] || json_object_set_new(md, meta[i][0], json_string(meta[i][1])))
                st = nb__io_err(err, errlen, NB_ERR_ARG, "safetensors save: metadata %d is not a UTF-8 key/value", i);
        if (!md || json_object_set_new(h, "__metadata__", md))
            st = nb__io_err(err, errlen, NB_ERR_NOMEM, "out of memory");
    }
    uint64_t at = 0;
    for (int i = 0; i < n && st == NB_OK; i++) {
        const nb_tensor *t = ts[i].t;
        if (!ts[i].name || !t) {
            st = nb__io_err(err, errlen, NB_ERR_ARG, "safetensors save: tensor %d has no name or is NULL", i);
            break;
        }
        if (json_object_get(h, ts[i].name) || !strcmp(ts[i].name, "__metadata__")) {
            st = nb__io_err(err, errlen, NB_ERR_ARG, "safetensors save: the name '%s' is used twice (or reserved)",
                            ts[i].name);
            break;
        }
        json_t *shape = json_array();
        for (int d = 0; d < t->shape.ndim; d++) json_array_append_new(shape, json_integer(t->shape.d[d]));
        const uint64_t bytes = (uint64_t)t->numel * nb_dtype_size(t->dtype);
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", st_name_of(t->dtype), "shape", shape, "data_offsets",
                              (json_int_t)at, (json_int_t)(at + bytes));
        if (!e || json_object_set_new(h, ts[i].name, e))
            st = nb__io_err(err, errlen, NB_ERR_ARG,
                            "safetensors save: can't write the entry of '%s' (name not UTF-8?)", ts[i].name);
        at += bytes;
    }
    char *js = st == NB_OK ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    if (st != NB_OK) return st;
    if (!js) return nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors save: out of memory");
    const size_t jl = strlen(js), hl = (jl + 7) & ~(size_t)7; /* padded with spaces to 8 bytes */
    *out_len = 8 + hl + (size_t)at;
    unsigned char *b = malloc(*out_len);
    if (!b) {
        free(js);
        return nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors save: out of memory for %zu bytes", *out_len);
    }
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, js, jl);
    memset(b + 8 + jl, ' ', hl - jl);
    free(js);
    unsigned char *p = b + 8 + hl;
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = ts[i].t;
        const size_t es = nb_dtype_size(t->dtype), bytes = (size_t)t->numel * es;
        const unsigned char *src = t->data;
        if (host_le()) memcpy(p, src, bytes);
        else /* each element's bytes reversed */
            for (size_t k = 0; k < bytes; k += es)
                for (size_t j = 0; j < es; j++) p[k + j] = src[k + es - 1 - j];
        p += bytes;
    }
    *out = b;
    return NB_OK;
}

nb_status nb_safetensors_save_tensors(const char *path, const nb_named_tensor *ts, int n, const char *const (*meta)[2],
                                      int n_meta, char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    if (!path || (n > 0 && !ts) || n < 0)
        return nb__io_err(err, errlen, NB_ERR_ARG, "safetensors save: path or tensors NULL, or n < 0");
    for (int i = 0; i < n; i++)
        if (ts[i].t && ts[i].t->dtype != NB_F32 && ts[i].t->dtype != NB_F64 && ts[i].t->dtype != NB_I64)
            return nb__io_err(err, errlen, NB_ERR_DTYPE, "safetensors save: '%s' has dtype %s", ts[i].name,
                              nb_dtype_name(ts[i].t->dtype));
    unsigned char *b = NULL;
    size_t len = 0;
    nb_status st = build(ts, n, meta, n_meta, &b, &len, err, errlen);
    if (st != NB_OK) return st;
    bytes_job out = {b, len};
    st = nb__io_save_atomic("safetensors", path, write_bytes, &out, err, errlen);
    free(b);
    return st;
}

nb_status nb_safetensors_save(struct nb_module *m, const char *path, char *err, size_t errlen) {
    if (!m) return nb__io_err(err, errlen, NB_ERR_ARG, "safetensors save: module is NULL");
    const int n = nb_module_named_tensors(m, NULL, 0);
    nb_named_tensor *ts = malloc(sizeof *ts * (size_t)(n > 0 ? n : 1));
    if (!ts) return nb__io_err(err, errlen, NB_ERR_NOMEM, "safetensors save: out of memory");
    nb_module_named_tensors(m, ts, n);
    static const char *const meta[1][2] = {{"format", "pt"}};
    nb_status st = nb_safetensors_save_tensors(path, ts, n, meta, 1, err, errlen);
    free(ts);
    return st;
}
