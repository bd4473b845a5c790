/* io/idx.c — IDX files (MNIST, Fashion-MNIST), plain or gzip.
 *
 * IDX: bytes 0,1 = 0; byte 2 = type code; byte 3 = ndim; then ndim
 * big-endian u32 sizes; then prod(sizes) elements, big-endian, row-major.
 * One reader (idx_src below) serves a file and a buffer, plain or gzip
 * (zlib's inflate); nb_idx_load and nb_idx_load_mem share the parser.
 */
#include "io_internal.h"
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <zlib.h>

typedef struct idx_type {
    int code;
    int size;
    const char *name;
} idx_type;

static const idx_type IDX_TYPES[] = {
    {0x08, 1, "u8"}, {0x09, 1, "i8"}, {0x0B, 2, "i16"}, {0x0C, 4, "i32"}, {0x0D, 4, "f32"}, {0x0E, 8, "f64"},
};

static const idx_type *idx_type_find(int code) {
    for (size_t i = 0; i < sizeof IDX_TYPES / sizeof IDX_TYPES[0]; i++)
        if (IDX_TYPES[i].code == code) return &IDX_TYPES[i];
    return NULL;
}

/* ------------------------------------------------------------ the input
 *
 * One reader for the two entry points: a file (read in 128 KiB blocks) or a
 * caller's buffer (nb_idx_load_mem), each plain or gzip (1f 8b at the start).
 * gzip goes through zlib's inflate: concatenated members are read in turn;
 * a stream cut short, a corrupt block, a bad CRC/length trailer or bytes
 * after the last member that are not another member are errors. */
typedef struct idx_src {
    FILE *f;                 /* NULL: the input is all in memory        */
    const unsigned char *in; /* unread input                            */
    size_t in_n;
    bool in_eof;          /* nothing more to come after in[0..in_n)  */
    unsigned char *buf;   /* the file's read buffer                  */
    bool gz, zlive, zend; /* gzip; inflate initialized; member ended */
    z_stream z;
    const char *problem; /* the first error, as text                */
} idx_src;

enum { SRC_BUF = 1 << 17 };

static void src_refill(idx_src *s) {
    if (s->in_n || s->in_eof) return;
    if (!s->f) {
        s->in_eof = true;
        return;
    }
    size_t r = fread(s->buf, 1, SRC_BUF, s->f);
    if (r == 0) {
        s->in_eof = true;
        if (ferror(s->f)) s->problem = "read error";
    }
    s->in = s->buf;
    s->in_n = r;
}

/* Sets up the reader over what src_refill delivers; false = out of memory. */
static bool src_start(idx_src *s) {
    src_refill(s);
    s->gz = s->in_n >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (!s->gz) return true;
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) return false;
    s->zlive = true;
    return true;
}

static void src_end(idx_src *s) {
    if (s->zlive) inflateEnd(&s->z);
    if (s->f) fclose(s->f);
    free(s->buf);
}

/* Reads up to n bytes; returns the bytes read (short only at the end of the
 * input) or -1 with s->problem set. */
static int64_t src_read(idx_src *s, unsigned char *dst, size_t n) {
    size_t got = 0;
    while (got < n && !s->problem) {
        src_refill(s);
        if (s->problem) break;
        if (!s->gz) {
            if (!s->in_n) break;
            size_t k = n - got < s->in_n ? n - got : s->in_n;
            memcpy(dst + got, s->in, k);
            s->in += k, s->in_n -= k, got += k;
            continue;
        }
        if (s->zend) { /* a member ended: the end of the input, or another member */
            if (!s->in_n) break;
            if (s->in[0] != 0x1f || (s->in_n > 1 && s->in[1] != 0x8b)) {
                s->problem = "trailing garbage after the gzip stream (not another gzip member)";
                break;
            }
            inflateReset(&s->z);
            s->zend = false;
        }
        size_t want = n - got < (1u << 30) ? n - got : (1u << 30);
        size_t in_n = s->in_n < (1u << 30) ? s->in_n : (1u << 30);
        s->z.next_in = (Bytef *)s->in;
        s->z.avail_in = (uInt)in_n;
        s->z.next_out = dst + got;
        s->z.avail_out = (uInt)want;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        size_t used = in_n - s->z.avail_in, made = want - s->z.avail_out;
        s->in += used, s->in_n -= used, got += made;
        if (rc == Z_STREAM_END) {
            s->zend = true;
        } else if (rc == Z_BUF_ERROR || (rc == Z_OK && !used && !made)) { /* wants more input */
            if (s->in_n) s->problem = "corrupt gzip stream";
            else if (s->in_eof) s->problem = "gzip stream ends early (truncated .gz file)";
        } else if (rc != Z_OK) {
            s->problem = rc == Z_MEM_ERROR ? "out of memory in zlib" : s->z.msg ? s->z.msg : "corrupt gzip stream";
        }
    }
    return s->problem ? -1 : (int64_t)got;
}
static double decode(const unsigned char *p, int code) {
    switch (code) {
    case 0x08: return (double)p[0];
    case 0x09: return (double)(int8_t)p[0];
    case 0x0B: return (double)(int16_t)(uint16_t)((p[0] << 8) | p[1]);
    case 0x0C: return (double)(int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]);
    case 0x0D: {
        uint32_t u = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        float f;
        memcpy(&f, &u, 4);
        return (double)f;
    }
    default: {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | p[i];
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
}

#define IDX_MAX_ELEMS ((int64_t)1 << 36)

/* Parses the IDX content s delivers; size = the input's byte count (-1 if
 * unknown) bounds what the header may promise. name prefixes messages. */
static nb_status idx_read(idx_src *in, int64_t fsize, const char *path, nb_dtype dt, nb_tensor **out, char *err,
                          size_t errlen) {
    if (!src_start(in)) return nb__io_err(err, errlen, NB_ERR_NOMEM, "idx: %s: out of memory", path);
    nb_status st = NB_ERR_IO;
    nb_tensor *t = NULL;
    unsigned char *chunk = NULL;
    unsigned char hdr[4 + 4 * 255];

    int64_t r = src_read(in, hdr, 4);
    if (r < 0) {
        nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: %s", path, in->problem);
        goto done;
    }
    if (r < 4) {
        nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: file too short for an IDX header (%lld bytes)", path,
                   (long long)r);
        goto done;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        nb__io_err(err, errlen, NB_ERR_IO,
                   "idx: %s: bad magic %02x %02x %02x %02x (an IDX file starts with 00 00 <type> <ndim>)", path, hdr[0],
                   hdr[1], hdr[2], hdr[3]);
        goto done;
    }
    const idx_type *ty = idx_type_find(hdr[2]);
    if (!ty) {
        nb__io_err(err, errlen, NB_ERR_IO,
                   "idx: %s: unknown data type code 0x%02x (known: 08 u8, 09 i8, 0B i16, 0C i32, 0D f32, 0E f64)", path,
                   hdr[2]);
        goto done;
    }
    int ndim = hdr[3];
    if (ndim < 1 || ndim > NB_MAX_DIMS) {
        nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: %d dimensions (1 to %d supported)", path, ndim, NB_MAX_DIMS);
        goto done;
    }
    r = src_read(in, hdr + 4, (size_t)ndim * 4);
    if (r < 0) {
        nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: %s", path, in->problem);
        goto done;
    }
    if (r < ndim * 4) {
        nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: truncated in the header (%d dimension sizes expected)", path,
                   ndim);
        goto done;
    }
    nb_shape s = {.ndim = ndim};
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        uint32_t d = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        if (d == 0) {
            nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: dimension %d has size 0", path, i);
            goto done;
        }
        s.d[i] = (int64_t)d;
        if (numel > IDX_MAX_ELEMS / (int64_t)d) {
            nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: dimensions too large (more than 2^36 elements)", path);
            goto done;
        }
        numel *= (int64_t)d;
    }

    /* The input's size bounds what it can hold (exactly, plain; deflate
     * expands at most 1032:1): a header promising more is refused before any
     * allocation (found by fuzz/fuzz_idx). */
    int64_t room = in->gz ? fsize * 1032 + 1024 : fsize - 4 - 4 * ndim;
    if (fsize >= 0 && numel * ty->size > room) {
        char sh[NB_SHAPE_STRLEN];
        nb__io_err(err, errlen, NB_ERR_IO,
                   in->gz ? "idx: %s: truncated: the header promises %s %s = %lld data bytes, the file has %lld bytes"
                          : "idx: %s: truncated: the header promises %s %s = %lld data bytes, the file has %lld",
                   path, nb_shape_str(s, sh, sizeof sh), ty->name, (long long)(numel * ty->size),
                   (long long)(in->gz ? fsize : room));
        goto done;
    }
    t = nb__tensor_new(dt, s, NULL, false);
    enum { CHUNK = 1 << 16 };
    chunk = malloc((size_t)(numel < CHUNK ? numel : CHUNK) * (size_t)ty->size);
    if (!t || !chunk) {
        char sh[NB_SHAPE_STRLEN];
        nb__io_err(err, errlen, NB_ERR_NOMEM, "idx: %s: out of memory for a tensor %s", path,
                   nb_shape_str(s, sh, sizeof sh));
        st = NB_ERR_NOMEM;
        goto done;
    }
    for (int64_t i0 = 0; i0 < numel; i0 += CHUNK) {
        int64_t m = numel - i0 < CHUNK ? numel - i0 : CHUNK;
        size_t want = (size_t)m * (size_t)ty->size;
        r = src_read(in, chunk, want);
        if (r < 0) {
            nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: %s", path, in->problem);
            goto done;
        }
        if ((size_t)r < want) {
            char sh[NB_SHAPE_STRLEN];
            long long have = (long long)(i0 * ty->size + r), need = (long long)(numel * ty->size);
            nb__io_err(err, errlen, NB_ERR_IO,
                       "idx: %s: truncated: the header promises %s %s = %lld data bytes, the file has %lld", path,
                       nb_shape_str(s, sh, sizeof sh), ty->name, need, have);
            goto done;
        }
        if (ty->code == 0x08 && dt == NB_F32) {
            float *o = nb_f32(t) + i0;
            for (int64_t k = 0; k < m; k++) o[k] = (float)chunk[k];
        } else if (dt == NB_F32) {
            float *o = nb_f32(t) + i0;
            for (int64_t k = 0; k < m; k++) o[k] = (float)decode(chunk + k * ty->size, ty->code);
        } else if (dt == NB_F64) {
            double *o = nb_f64(t) + i0;
            for (int64_t k = 0; k < m; k++) o[k] = decode(chunk + k * ty->size, ty->code);
        } else {
            int64_t *o = nb_i64(t) + i0;
            for (int64_t k = 0; k < m; k++) {
                double v = decode(chunk + k * ty->size, ty->code);
                if (v != v || v > 9.2e18 || v < -9.2e18 || v != (double)(int64_t)v) {
                    nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: element %lld (%g) is not an integer (asked for i64)",
                               path, (long long)(i0 + k), v);
                    goto done;
                }
                o[k] = (int64_t)v;
            }
        }
    }
    /* Exactly the promised length: one more byte is garbage. */
    unsigned char extra[256];
    r = src_read(in, extra, sizeof extra);
    if (r < 0) {
        nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: %s", path, in->problem);
        goto done;
    }
    if (r > 0) {
        long long more = r;
        for (;;) {
            int64_t k = src_read(in, extra, sizeof extra);
            if (k <= 0) break;
            more += k;
        }
        char sh[NB_SHAPE_STRLEN];
        nb__io_err(err, errlen, NB_ERR_IO,
                   "idx: %s: %lld bytes of trailing data after the %s %s elements the header promises", path, more,
                   nb_shape_str(s, sh, sizeof sh), ty->name);
        goto done;
    }
    st = NB_OK;

done:
    free(chunk);
    if (st != NB_OK) {
        nb_tensor_free(t);
        return st == NB_ERR_NOMEM ? NB_ERR_NOMEM : NB_ERR_IO;
    }
    *out = t;
    return NB_OK;
}

static nb_status idx_args(const char *what, const void *p, const char *name, nb_dtype dt, nb_tensor **out, char *err,
                          size_t errlen) {
    nb__io_ok(err, errlen);
    if (!out) return nb__io_err(err, errlen, NB_ERR_ARG, "idx: out is NULL");
    *out = NULL;
    if (!p) return nb__io_err(err, errlen, NB_ERR_ARG, "idx: %s is NULL", what);
    if (dt != NB_F32 && dt != NB_F64 && dt != NB_I64)
        return nb__io_err(err, errlen, NB_ERR_ARG, "idx: %s: unknown dtype %d", name, (int)dt);
    return NB_OK;
}

nb_status nb_idx_load(const char *path, nb_dtype dt, nb_tensor **out, char *err, size_t errlen) {
    nb_status st = idx_args("path", path, path, dt, out, err, errlen);
    if (st != NB_OK) return st;
    idx_src s = {.f = fopen(path, "rb")};
    if (!s.f) return nb__io_err(err, errlen, NB_ERR_IO, "idx: %s: can't open: %s", path, strerror(errno));
    /* The file's size bounds what it can hold (deflate expands at most
     * 1032:1): a header promising more is refused before any allocation. */
    struct stat sb;
    int64_t fsize = fstat(fileno(s.f), &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : -1;
    s.buf = malloc(SRC_BUF);
    if (!s.buf) {
        fclose(s.f);
        return nb__io_err(err, errlen, NB_ERR_NOMEM, "idx: %s: out of memory", path);
    }
    st = idx_read(&s, fsize, path, dt, out, err, errlen);
    src_end(&s);
    return st;
}

nb_status nb_idx_load_mem(const void *data, size_t len, nb_dtype dt, nb_tensor **out, char *err, size_t errlen) {
    nb_status st = idx_args("data", data, "<memory>", dt, out, err, errlen);
    if (st != NB_OK) return st;
    idx_src s = {.in = data, .in_n = len, .in_eof = true};
    st = idx_read(&s, (int64_t)len, "<memory>", dt, out, err, errlen);
    src_end(&s);
    return st;
}

/* ------------------------------------------------------------- datasets */

void nb_dataset_free(nb_dataset *ds) {
    if (!ds) return;
    nb_tensor_free(ds->x);
    nb_tensor_free(ds->y);
    ds->x = ds->y = NULL;
}

int64_t nb_dataset_len(const nb_dataset *ds) {
    if (!ds || !ds->x || ds->x->shape.ndim < 1) return 0;
    return ds->x->shape.d[0];
}

/* Loads dir/name or dir/name.gz, whichever exists (the .gz first). */
static nb_status load_one(const char *dir, const char *name, nb_dtype dt, nb_tensor **out, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "rb");
    }
    if (!f) {
        return nb__io_err(err, errlen, NB_ERR_IO, "mnist: %s: neither %s nor %s.gz found there", dir, name, name);
    }
    fclose(f);
    return nb_idx_load(path, dt, out, err, errlen);
}

static nb_status load_split(const char *dir, const char *prefix, int flags, nb_dataset *ds, char *err, size_t errlen) {
    char iname[64], lname[64];
    snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", prefix);
    snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", prefix);
    nb_tensor *x = NULL, *y = NULL;
    nb_status st = load_one(dir, iname, NB_F32, &x, err, errlen);
    if (st != NB_OK) return st;
    st = load_one(dir, lname, NB_I64, &y, err, errlen);
    if (st != NB_OK) {
        nb_tensor_free(x);
        return st;
    }
    char sx[NB_SHAPE_STRLEN], sy[NB_SHAPE_STRLEN];
    nb_shape_str(x->shape, sx, sizeof sx);
    nb_shape_str(y->shape, sy, sizeof sy);
    if (x->shape.ndim != 3 || x->shape.d[1] != 28 || x->shape.d[2] != 28) {
        st = nb__io_err(err, errlen, NB_ERR_IO, "mnist: %s/%s: images are %s, expected (N,28,28)", dir, iname, sx);
    } else if (y->shape.ndim != 1 || y->shape.d[0] != x->shape.d[0]) {
        st = nb__io_err(err, errlen, NB_ERR_IO, "mnist: %s: %s images %s but %s labels %s", dir, iname, sx, lname, sy);
    } else {
        for (int64_t i = 0; i < y->numel; i++)
            if (nb_i64(y)[i] < 0 || nb_i64(y)[i] > 9) {
                st = nb__io_err(err, errlen, NB_ERR_IO, "mnist: %s/%s: label %lld is %lld, expected 0..9", dir, lname,
                                (long long)i, (long long)nb_i64(y)[i]);
                break;
            }
    }
    if (st != NB_OK) {
        nb_tensor_free(x);
        nb_tensor_free(y);
        return st;
    }
    float *p = nb_f32(x);
    for (int64_t i = 0; i < x->numel; i++) p[i] *= 1.0f / 255.0f;
    /* Reshape in place: a persistent, contiguous tensor; only the header changes. */
    int64_t n = x->shape.d[0];
    x->shape = (flags & NB_MNIST_FLAT) ? NB_SHAPE(n, 784) : NB_SHAPE(n, 1, 28, 28);
    ds->x = x;
    ds->y = y;
    return NB_OK;
}

nb_status nb_mnist_load(const char *dir, int flags, nb_mnist *out, char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    if (!out) return nb__io_err(err, errlen, NB_ERR_ARG, "mnist: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir) return nb__io_err(err, errlen, NB_ERR_ARG, "mnist: dir is NULL");
    nb_mnist m = {0};
    nb_status st = load_split(dir, "train", flags, &m.train, err, errlen);
    if (st == NB_OK) st = load_split(dir, "t10k", flags, &m.test, err, errlen);
    if (st != NB_OK) {
        nb_mnist_free(&m);
        return st;
    }
    *out = m;
    return NB_OK;
}

nb_status nb_fashion_mnist_load(const char *dir, int flags, nb_mnist *out, char *err, size_t errlen) {
    if (!dir) dir = getenv("NB_FASHION_MNIST");
    if (!dir || !*dir) dir = NB_FASHION_MNIST_DIR;
    nb_status st = nb_mnist_load(dir, flags, out, err, errlen);
    if (st == NB_ERR_IO && !strcmp(dir, NB_FASHION_MNIST_DIR) && err && errlen) {
        size_t len = strlen(err);
        snprintf(err + len, errlen - len, " (install Debian's dataset-fashion-mnist, or pass a directory)");
    }
    return st;
}

void nb_mnist_free(nb_mnist *m) {
    if (!m) return;
    nb_dataset_free(&m->train);
    nb_dataset_free(&m->test);
}

const char *nb_fashion_mnist_class(int label) {
    static const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return label >= 0 && label < 10 ? names[label] : NULL;
}
