#define _GNU_SOURCE
/* test_io: IDX and MNIST directories, CSV, the loader, split, normalization,
 * progress output, curves (CSV/SVG) and graph pictures. Every bad file must
 * give NB_ERR_IO with a message naming the file and the problem. */
#include "test_util.h"
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>

static char g_err[512];

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}
static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
}
static void write_text(const char *path, const char *s) { write_file(path, s, strlen(s)); }

/* An IDX u8 file of shape dims with element i = (i*7) % 256 into buf; returns bytes. */
static size_t make_idx_u8(unsigned char *buf, int ndim, const uint32_t *dims) {
    size_t n = 0, numel = 1;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = 0x08, buf[n++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[n++] = (unsigned char)(dims[i] >> 24), buf[n++] = (unsigned char)(dims[i] >> 16);
        buf[n++] = (unsigned char)(dims[i] >> 8), buf[n++] = (unsigned char)dims[i];
        numel *= dims[i];
    }
    for (size_t i = 0; i < numel; i++) buf[n++] = (unsigned char)((i * 7) % 256);
    return n;
}

static void expect_err(nb_status st, const char *a, const char *b) {
    if (st != NB_ERR_IO || !strstr(g_err, a) || (b && !strstr(g_err, b)))
        fail_msg("status %d, message \"%s\"; wanted \"%s\" and \"%s\"", st, g_err, a, b ? b : "");
}

/* ------------------------------------------------------------------ IDX */

static void idx_plain_and_gzip(void **state) {
    (void)state;
    unsigned char buf[256];
    uint32_t dims[3] = {3, 2, 5};
    size_t n = make_idx_u8(buf, 3, dims);
    write_file(tmp("a.idx"), buf, n);
    write_gz(tmp("a.idx.gz"), buf, n);
    for (int k = 0; k < 2; k++) {
        nb_tensor *t = NULL;
        nb_status st = nb_idx_load(tmp(k ? "a.idx.gz" : "a.idx"), NB_F32, &t, g_err, sizeof g_err);
        assert_int_equal(st, NB_OK);
        assert_non_null(t);
        assert_true(nb_shape_eq(t->shape, NB_SHAPE(3, 2, 5)));
        for (int i = 0; i < 30; i++) assert_true(nb_f32(t)[i] == (float)((i * 7) % 256));
        assert_null(t->scope);
        nb_tensor_free(t);
    }
    /* i64 and f64 conversions. */
    nb_tensor *t = NULL;
    assert_int_equal(nb_idx_load(tmp("a.idx"), NB_I64, &t, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_i64(t)[29], (29 * 7) % 256);
    nb_tensor_free(t);
    /* A persistent result even inside a scope. */
    nb_scope *s = nb_scope_begin();
    assert_int_equal(nb_idx_load(tmp("a.idx.gz"), NB_F64, &t, g_err, sizeof g_err), NB_OK);
    nb_scope_end(&s);
    assert_true(nb_f64(t)[3] == 21.0);
    nb_tensor_free(t);
}

static void idx_other_types(void **state) {
    (void)state;
    /* i16 (-2, 300), i32 (-70000), f32 (1.5), f64 (-0.25), big-endian. */
    unsigned char i16[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x2C};
    unsigned char i32[] = {0, 0, 0x0C, 1, 0, 0, 0, 1, 0xFF, 0xFE, 0xEE, 0x90};
    unsigned char f32[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0, 0};
    unsigned char f64[] = {0, 0, 0x0E, 1, 0, 0, 0, 1, 0xBF, 0xD0, 0, 0, 0, 0, 0, 0};
    unsigned char i8[] = {0, 0, 0x09, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0xF0};
    write_file(tmp("i16"), i16, sizeof i16);
    write_file(tmp("i32"), i32, sizeof i32);
    write_file(tmp("f32"), f32, sizeof f32);
    write_file(tmp("f64"), f64, sizeof f64);
    write_file(tmp("i8"), i8, sizeof i8);
    nb_tensor *t;
    assert_int_equal(nb_idx_load(tmp("i16"), NB_F64, &t, g_err, sizeof g_err), NB_OK);
    assert_true(nb_f64(t)[0] == -2 && nb_f64(t)[1] == 300);
    nb_tensor_free(t);
    assert_int_equal(nb_idx_load(tmp("i32"), NB_I64, &t, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_i64(t)[0], -70000);
    nb_tensor_free(t);
    assert_int_equal(nb_idx_load(tmp("f32"), NB_F32, &t, g_err, sizeof g_err), NB_OK);
    assert_true(nb_f32(t)[0] == 1.5f);
    nb_tensor_free(t);
    assert_int_equal(nb_idx_load(tmp("f64"), NB_F64, &t, g_err, sizeof g_err), NB_OK);
    assert_true(nb_f64(t)[0] == -0.25);
    nb_tensor_free(t);
    assert_int_equal(nb_idx_load(tmp("i8"), NB_F32, &t, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(t->shape, NB_SHAPE(1, 1)) && nb_f32(t)[0] == -16);
    nb_tensor_free(t);
    /* 1.5 is not an integer: asking for i64 is an error. */
    t = (nb_tensor *)1;
    expect_err(nb_idx_load(tmp("f32"), NB_I64, &t, g_err, sizeof g_err), "not an integer", NULL);
    assert_null(t);
}

static void idx_bad_files(void **state) {
    (void)state;
    unsigned char buf[256], bad[300];
    uint32_t dims[2] = {4, 6};
    size_t n = make_idx_u8(buf, 2, dims);
    nb_tensor *t = (nb_tensor *)1;

    /* Truncated data (and every shorter length, header included). */
    for (size_t len = 0; len < n; len++) {
        write_file(tmp("trunc"), buf, len);
        t = (nb_tensor *)1;
        nb_status st = nb_idx_load(tmp("trunc"), NB_F32, &t, g_err, sizeof g_err);
        assert_int_equal(st, NB_ERR_IO);
        assert_null(t);
        assert_non_null(strstr(g_err, tmp("trunc")));
    }
    write_file(tmp("trunc"), buf, n - 1);
    expect_err(nb_idx_load(tmp("trunc"), NB_F32, &t, g_err, sizeof g_err), "truncated", "(4,6)");
    /* Trailing garbage. */
    memcpy(bad, buf, n);
    bad[n] = 1, bad[n + 1] = 2;
    write_file(tmp("trail"), bad, n + 2);
    expect_err(nb_idx_load(tmp("trail"), NB_F32, &t, g_err, sizeof g_err), "2 bytes of trailing data", tmp("trail"));
    /* Dimensions that disagree with the length: header says 5 rows. */
    memcpy(bad, buf, n);
    bad[7] = 5;
    write_file(tmp("dims"), bad, n);
    expect_err(nb_idx_load(tmp("dims"), NB_F32, &t, g_err, sizeof g_err), "truncated", "(5,6)");
    bad[7] = 3; /* fewer rows: the rest is trailing */
    write_file(tmp("dims"), bad, n);
    expect_err(nb_idx_load(tmp("dims"), NB_F32, &t, g_err, sizeof g_err), "trailing", NULL);
    /* Bad magic. */
    memcpy(bad, buf, n);
    bad[0] = 0x12;
    write_file(tmp("magic"), bad, n);
    expect_err(nb_idx_load(tmp("magic"), NB_F32, &t, g_err, sizeof g_err), "bad magic", tmp("magic"));
    /* Bad type code. */
    memcpy(bad, buf, n);
    bad[2] = 0x07;
    write_file(tmp("type"), bad, n);
    expect_err(nb_idx_load(tmp("type"), NB_F32, &t, g_err, sizeof g_err), "type code 0x07", NULL);
    /* Zero and too many dimensions. */
    memcpy(bad, buf, n);
    bad[3] = 0;
    write_file(tmp("nd"), bad, n);
    expect_err(nb_idx_load(tmp("nd"), NB_F32, &t, g_err, sizeof g_err), "0 dimensions", NULL);
    bad[3] = 9;
    write_file(tmp("nd"), bad, n);
    expect_err(nb_idx_load(tmp("nd"), NB_F32, &t, g_err, sizeof g_err), "9 dimensions", NULL);
    /* A size of 0. */
    memcpy(bad, buf, n);
    bad[4] = bad[5] = bad[6] = bad[7] = 0;
    write_file(tmp("zero"), bad, n);
    expect_err(nb_idx_load(tmp("zero"), NB_F32, &t, g_err, sizeof g_err), "size 0", NULL);
    /* Missing file. */
    expect_err(nb_idx_load(tmp("nope"), NB_F32, &t, g_err, sizeof g_err), "can't open", tmp("nope"));
    /* Empty file. */
    write_file(tmp("empty"), buf, 0);
    expect_err(nb_idx_load(tmp("empty"), NB_F32, &t, g_err, sizeof g_err), "too short", NULL);
    assert_null(t);
    /* err may be NULL. */
    assert_int_equal(nb_idx_load(tmp("empty"), NB_F32, &t, NULL, 0), NB_ERR_IO);
}

static void idx_gzip_errors(void **state) {
    (void)state;
    unsigned char buf[256];
    uint32_t dims[2] = {4, 6};
    size_t n = make_idx_u8(buf, 2, dims);
    write_gz(tmp("g.gz"), buf, n);
    FILE *f = fopen(tmp("g.gz"), "rb");
    unsigned char gz[1024];
    size_t gn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    nb_tensor *t = (nb_tensor *)1;
    /* A gzip stream cut anywhere after its 10-byte header. */
    for (size_t len = 10; len < gn; len++) {
        write_file(tmp("gcut.gz"), gz, len);
        nb_status st = nb_idx_load(tmp("gcut.gz"), NB_F32, &t, g_err, sizeof g_err);
        if (st != NB_ERR_IO) fail_msg("gzip cut at %zu of %zu: status %d", len, gn, st);
        assert_null(t);
    }
    write_file(tmp("gcut.gz"), gz, gn - 4);
    expect_err(nb_idx_load(tmp("gcut.gz"), NB_F32, &t, g_err, sizeof g_err), "gcut.gz", NULL);
    /* gzip magic followed by garbage. */
    unsigned char junk[64] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3};
    for (int i = 10; i < 64; i++) junk[i] = (unsigned char)(i * 37 + 11);
    write_file(tmp("junk.gz"), junk, sizeof junk);
    nb_status st = nb_idx_load(tmp("junk.gz"), NB_F32, &t, g_err, sizeof g_err);
    assert_int_equal(st, NB_ERR_IO);
    assert_non_null(strstr(g_err, "junk.gz"));
    /* Corrupt the deflate data in the middle of a good stream. */
    memcpy(junk, gz, gn < 64 ? gn : 64);
    gz[gn / 2] ^= 0x55;
    write_file(tmp("flip.gz"), gz, gn);
    assert_int_equal(nb_idx_load(tmp("flip.gz"), NB_F32, &t, g_err, sizeof g_err), NB_ERR_IO);
}

/* A fake MNIST directory: 5 train, 3 test images of 28x28. */
/* ------------------------------------------------------- from memory */

/* gzip of data[0..n) into out (cap bytes); returns its length. */
static size_t gz_mem(const void *data, size_t n, unsigned char *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

/* msg with the first occurrence of path replaced by "<memory>". */
static const char *as_mem_msg(const char *msg, const char *path) {
    static char out[600];
    const char *p = strstr(msg, path);
    if (!p) return msg;
    snprintf(out, sizeof out, "%.*s<memory>%s", (int)(p - msg), msg, p + strlen(path));
    return out;
}

static bool same_tensor(const nb_tensor *a, const nb_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || !nb_shape_eq(a->shape, b->shape)) return false;
    return !memcmp(a->data, b->data, (size_t)a->numel * nb_dtype_size(a->dtype));
}

/* nb_idx_load_mem on bytes == nb_idx_load on a file of the same bytes:
 * the same status, tensor and message (the file's path read "<memory>"). */
static nb_status idx_both(const unsigned char *b, size_t n, nb_dtype dt) {
    const char *path = tmp("mem.idx");
    write_file(path, b, n);
    nb_tensor *tf = NULL, *tm = (nb_tensor *)1;
    char ef[512];
    nb_status sf = nb_idx_load(path, dt, &tf, ef, sizeof ef);
    nb_status sm = nb_idx_load_mem(b, n, dt, &tm, g_err, sizeof g_err);
    if (sf != sm || strcmp(as_mem_msg(ef, path), g_err) != 0)
        fail_msg("file: %d '%s'; memory: %d '%s'", sf, ef, sm, g_err);
    if (sf == NB_OK) assert_true(same_tensor(tf, tm));
    else assert_null(tm);
    nb_tensor_free(tf);
    nb_tensor_free(tm);
    return sm;
}

static void idx_from_memory(void **state) {
    (void)state;
    unsigned char raw[4096], gz[8192], two[8192];
    const uint32_t dims[3] = {5, 7, 9};
    size_t n = make_idx_u8(raw, 3, dims);
    for (int dt = 0; dt < 3; dt++) assert_int_equal(idx_both(raw, n, (nb_dtype)dt), NB_OK);
    size_t gn = gz_mem(raw, n, gz, sizeof gz);
    assert_int_equal(idx_both(gz, gn, NB_F32), NB_OK);
    /* two gzip members (as `cat a.gz b.gz` makes) are one stream */
    size_t h = gz_mem(raw, 100, two, sizeof two);
    h += gz_mem(raw + 100, n - 100, two + h, sizeof two - h);
    assert_int_equal(idx_both(two, h, NB_F64), NB_OK);
    /* every cut of the plain and the gzip file, and a flipped byte in each place */
    for (size_t k = 0; k < n; k += 13) assert_int_equal(idx_both(raw, k, NB_F32), NB_ERR_IO);
    for (size_t k = 0; k < gn; k++) assert_int_equal(idx_both(gz, k, NB_F32), NB_ERR_IO);
    for (size_t k = 0; k < gn; k++) {
        unsigned char c[8192];
        memcpy(c, gz, gn);
        c[k] ^= 0x20;
        idx_both(c, gn, NB_F32); /* most fail, a few flips (header flags, mtime) don't matter */
    }
    /* bytes after the gzip stream */
    memcpy(two, gz, gn);
    memcpy(two + gn, "junk", 4);
    expect_err(idx_both(two, gn + 4, NB_F32), "trailing garbage after the gzip stream", "<memory>");
    two[gn] = 0x1f; /* a broken second member */
    assert_int_equal(idx_both(two, gn + 4, NB_F32), NB_ERR_IO);
    /* arguments */
    nb_tensor *t = NULL;
    assert_int_equal(nb_idx_load_mem(NULL, 4, NB_F32, &t, g_err, sizeof g_err), NB_ERR_ARG);
    assert_int_equal(nb_idx_load_mem(raw, n, NB_F32, NULL, g_err, sizeof g_err), NB_ERR_ARG);
    assert_int_equal(nb_idx_load_mem(raw, n, (nb_dtype)9, &t, g_err, sizeof g_err), NB_ERR_ARG);
    assert_null(t);
}

/* Bigger than the file reader's 128 KiB block: two gzip members whose
 * boundary falls inside a block, and a plain file spanning three blocks. */
static void idx_large_from_memory(void **state) {
    (void)state;
    const uint32_t dims[2] = {300, 1000};
    size_t cap = 4 + 8 + 300000;
    unsigned char *raw = malloc(cap), *gz = malloc(2 * cap);
    assert_non_null(raw);
    assert_non_null(gz);
    size_t n = make_idx_u8(raw, 2, dims);
    uint64_t x = 1; /* random bytes: the gzip file stays over 128 KiB */
    for (size_t i = 12; i < n; i++)
        x = x * 6364136223846793005u + 1442695040888963407u, raw[i] = (unsigned char)(x >> 56);
    size_t h = gz_mem(raw, 150001, gz, 2 * cap);
    h += gz_mem(raw + 150001, n - 150001, gz + h, 2 * cap - h);
    assert_true(h > (1u << 17));
    assert_int_equal(idx_both(gz, h, NB_F32), NB_OK);
    assert_int_equal(idx_both(raw, n, NB_F64), NB_OK);
    assert_int_equal(idx_both(gz, h - 1, NB_F32), NB_ERR_IO);
    assert_int_equal(idx_both(raw, n - 1, NB_F32), NB_ERR_IO);
    free(raw);
    free(gz);
}

static void csv_from_memory(void **state) {
    (void)state;
    static const char *texts[] = {
        "a,b,y\n1,2,0\n3,4.5,1\n",  "1;2;3\n4;5;6\n", "1,2,0\n3,x,1\n", "1,2,0\n3,4\n", "", "a,b\n",
        "1,2,0\r\n\r\n3, 4 ,1\r\n", "1,2,0.5\n",
    };
    const char *path = tmp("mem.csv");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        nb_csv_opts o = nb_csv_defaults();
        if (i == 1) o.delim = ';';
        write_text(path, texts[i]);
        nb_dataset a = {0}, b = {(nb_tensor *)1, (nb_tensor *)1};
        char ef[512];
        nb_status sf = nb_csv_load(path, &o, &a, ef, sizeof ef);
        nb_status sm = nb_csv_load_mem(texts[i], strlen(texts[i]), &o, &b, g_err, sizeof g_err);
        if (sf != sm || strcmp(as_mem_msg(ef, path), g_err) != 0)
            fail_msg("text %zu: file: %d '%s'; memory: %d '%s'", i, sf, ef, sm, g_err);
        if (sf == NB_OK) {
            assert_true(same_tensor(a.x, b.x));
            assert_true(same_tensor(a.y, b.y));
        } else {
            assert_null(b.x);
            assert_null(b.y);
        }
        nb_dataset_free(&a);
        nb_dataset_free(&b);
    }
    /* not NUL-terminated: only len bytes are read */
    const char text[] = "1,2,0\n3,4,1\n9,9,9";
    nb_dataset d = {0};
    assert_int_equal(nb_csv_load_mem(text, 12, NULL, &d, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_dataset_len(&d), 2);
    nb_dataset_free(&d);
    assert_int_equal(nb_csv_load_mem("1,\0002\n", 6, NULL, &d, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "NUL"));
    assert_int_equal(nb_csv_load_mem(NULL, 3, NULL, &d, g_err, sizeof g_err), NB_ERR_ARG);
}

static void checkpoint_from_memory(void **state) {
    (void)state;
    nb_tensor *w = nb_randn(NB_F32, NB_SHAPE(3, 4), 0, 1), *b = nb_randn(NB_F64, NB_SHAPE(4), 0, 1);
    nb_named_tensor ts[2] = {{"w", w}, {"b", b}};
    nb_ckpt_meta meta = {.epoch = 3, .step = 77};
    nb_ckpt_meta_set(&meta, "lr", 0.25);
    const char *path = tmp("mem.ckpt");
    assert_int_equal(nb_checkpoint_save(path, ts, 2, &meta, g_err, sizeof g_err), NB_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    nb_tensor *w2 = nb_zeros(NB_F32, NB_SHAPE(3, 4)), *b2 = nb_zeros(NB_F64, NB_SHAPE(4));
    nb_named_tensor ts2[2] = {{"b", b2}, {"w", w2}};
    nb_ckpt_meta m2;
    assert_int_equal(nb_checkpoint_load_mem(buf, n, ts2, 2, &m2, g_err, sizeof g_err), NB_OK);
    assert_true(same_tensor(w, w2));
    assert_true(same_tensor(b, b2));
    assert_int_equal(m2.step, 77);
    assert_true(nb_ckpt_meta_get(&m2, "lr", 0) == 0.25);
    /* every flipped byte: the same verdict and message as from the file */
    for (size_t k = 0; k < n; k++) {
        unsigned char c[4096];
        memcpy(c, buf, n);
        c[k] ^= 0x01;
        write_file(path, c, n);
        char ef[512];
        nb_status sf = nb_checkpoint_load(path, ts2, 2, NULL, ef, sizeof ef);
        nb_status sm = nb_checkpoint_load_mem(c, n, ts2, 2, NULL, g_err, sizeof g_err);
        if (sf != NB_ERR_IO || sm != NB_ERR_IO || strcmp(as_mem_msg(ef, path), g_err) != 0)
            fail_msg("byte %zu: file: %d '%s'; memory: %d '%s'", k, sf, ef, sm, g_err);
    }
    assert_true(same_tensor(w, w2)); /* failed loads wrote nothing */
    assert_int_equal(nb_checkpoint_load_mem(buf, n - 1, ts2, 2, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "<memory>"));
    assert_int_equal(nb_checkpoint_load_mem(NULL, n, ts2, 2, NULL, g_err, sizeof g_err), NB_ERR_ARG);
    nb_tensor_free(w), nb_tensor_free(b), nb_tensor_free(w2), nb_tensor_free(b2);
}

static void make_mnist_dir(const char *dir, int ntrain, int ntest_labels, bool gz) {
    static unsigned char buf[5 * 784 + 64];
    const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                            "t10k-labels-idx1-ubyte"};
    int counts[4] = {ntrain, ntrain, 3, ntest_labels};
    for (int k = 0; k < 4; k++) {
        size_t n;
        if (k % 2 == 0) {
            uint32_t dims[3] = {(uint32_t)counts[k], 28, 28};
            n = make_idx_u8(buf, 3, dims);
        } else {
            n = 0;
            buf[n++] = 0, buf[n++] = 0, buf[n++] = 8, buf[n++] = 1;
            buf[n++] = 0, buf[n++] = 0, buf[n++] = 0, buf[n++] = (unsigned char)counts[k];
            for (int i = 0; i < counts[k]; i++) buf[n++] = (unsigned char)(i % 10);
        }
        char path[512];
        snprintf(path, sizeof path, "%s/%s%s", dir, names[k], gz ? ".gz" : "");
        if (gz) write_gz(path, buf, n);
        else write_file(path, buf, n);
    }
}

static void mnist_dirs(void **state) {
    (void)state;
    char d1[300], d2[300], d3[300];
    snprintf(d1, sizeof d1, "%s/m_plain", tu_dir);
    snprintf(d2, sizeof d2, "%s/m_gz", tu_dir);
    snprintf(d3, sizeof d3, "%s/m_bad", tu_dir);
    mkdir(d1, 0755), mkdir(d2, 0755), mkdir(d3, 0755);
    make_mnist_dir(d1, 5, 3, false);
    make_mnist_dir(d2, 5, 3, true);
    make_mnist_dir(d3, 5, 2, false); /* 3 test images, 2 labels */
    for (int k = 0; k < 2; k++) {
        nb_mnist m;
        assert_int_equal(nb_mnist_load(k ? d2 : d1, 0, &m, g_err, sizeof g_err), NB_OK);
        assert_true(nb_shape_eq(m.train.x->shape, NB_SHAPE(5, 1, 28, 28)));
        assert_true(nb_shape_eq(m.test.x->shape, NB_SHAPE(3, 1, 28, 28)));
        assert_true(nb_shape_eq(m.train.y->shape, NB_SHAPE(5)));
        assert_int_equal(m.train.y->dtype, NB_I64);
        assert_int_equal(nb_i64(m.train.y)[4], 4);
        assert_true(fabsf(nb_f32(m.train.x)[1] - 7.0f / 255.0f) < 1e-7f);
        nb_mnist_free(&m);
        assert_null(m.train.x);
    }
    nb_mnist m;
    assert_int_equal(nb_mnist_load(d1, NB_MNIST_FLAT, &m, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(m.train.x->shape, NB_SHAPE(5, 784)));
    nb_mnist_free(&m);
    expect_err(nb_mnist_load(d3, 0, &m, g_err, sizeof g_err), "labels (2)", "(3,28,28)");
    assert_null(m.train.x);
    expect_err(nb_fashion_mnist_load(tu_dir, 0, &m, g_err, sizeof g_err), "train-images-idx3-ubyte", tu_dir);
    assert_string_equal(nb_fashion_mnist_class(9), "Ankle boot");
    assert_null(nb_fashion_mnist_class(10));
}

static void fashion_mnist_debian(void **state) {
    (void)state;
    if (access(NB_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        print_message("dataset-fashion-mnist not installed: skipped\n");
        skip();
    }
    nb_mnist m;
    assert_int_equal(nb_fashion_mnist_load(NULL, 0, &m, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(m.train.x->shape, NB_SHAPE(60000, 1, 28, 28)));
    assert_true(nb_shape_eq(m.test.x->shape, NB_SHAPE(10000, 1, 28, 28)));
    int64_t count[10] = {0};
    for (int64_t i = 0; i < 10000; i++) count[nb_i64(m.test.y)[i]]++;
    for (int c = 0; c < 10; c++) assert_int_equal(count[c], 1000); /* balanced test set */
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < m.test.x->numel; i++)
        lo = fminf(lo, nb_f32(m.test.x)[i]), hi = fmaxf(hi, nb_f32(m.test.x)[i]);
    assert_true(lo == 0.0f && hi == 1.0f);
    nb_mnist_free(&m);
}

/* ------------------------------------------------------------------ CSV */

static void csv_good(void **state) {
    (void)state;
    write_text(tmp("h.csv"), "a, b ,label\r\n1,2.5,0\r\n\r\n-3,4e-1,2\r\n 5 , 6 ,1\r\n");
    nb_dataset ds;
    assert_int_equal(nb_csv_load(tmp("h.csv"), NULL, &ds, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(ds.x->shape, NB_SHAPE(3, 2)));
    assert_true(nb_shape_eq(ds.y->shape, NB_SHAPE(3)));
    float want[6] = {1, 2.5f, -3, 0.4f, 5, 6};
    for (int i = 0; i < 6; i++) assert_true(nb_f32(ds.x)[i] == want[i]);
    assert_int_equal(nb_i64(ds.y)[1], 2);
    assert_int_equal(nb_dataset_len(&ds), 3);
    nb_dataset_free(&ds);
    /* Label chosen by name, float label, f64 x. */
    nb_csv_opts o = nb_csv_defaults();
    o.label_name = "a";
    o.label_dtype = NB_F64;
    o.dtype = NB_F64;
    assert_int_equal(nb_csv_load(tmp("h.csv"), &o, &ds, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(ds.x->shape, NB_SHAPE(3, 2)));
    assert_true(nb_f64(ds.y)[1] == -3 && nb_f64(ds.x)[1] == 0 && nb_f64(ds.x)[2] == 0.4);
    nb_dataset_free(&ds);
    /* No header, label in column 0; no label at all; ';' delimiter. */
    write_text(tmp("n.csv"), "1;2;3\n4;5;6");
    o = nb_csv_defaults();
    o.delim = ';';
    o.label_col = 0;
    assert_int_equal(nb_csv_load(tmp("n.csv"), &o, &ds, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(ds.x->shape, NB_SHAPE(2, 2)) && nb_i64(ds.y)[1] == 4 && nb_f32(ds.x)[3] == 6);
    nb_dataset_free(&ds);
    o.label_col = NB_CSV_NO_LABEL;
    o.header = 0;
    assert_int_equal(nb_csv_load(tmp("n.csv"), &o, &ds, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(ds.x->shape, NB_SHAPE(2, 3)) && ds.y == NULL);
    nb_dataset_free(&ds);
}

static void csv_bad(void **state) {
    (void)state;
    nb_dataset ds = {(nb_tensor *)1, (nb_tensor *)1};
    write_text(tmp("b1.csv"), "x,y\n1,2\n3,abc\n");
    expect_err(nb_csv_load(tmp("b1.csv"), NULL, &ds, g_err, sizeof g_err), "b1.csv:3:3:", "'abc' is not a number");
    assert_null(ds.x);
    write_text(tmp("b2.csv"), "1,2,3\n4,5,6\n7,8\n");
    expect_err(nb_csv_load(tmp("b2.csv"), NULL, &ds, g_err, sizeof g_err), "b2.csv:3:4:", "2 fields, expected 3");
    write_text(tmp("b3.csv"), "1,2,3\n4,5,6,7\n");
    expect_err(nb_csv_load(tmp("b3.csv"), NULL, &ds, g_err, sizeof g_err), "b3.csv:2:7:", "4 fields");
    write_text(tmp("b4.csv"), "1,2,3\n1, ,3\n");
    expect_err(nb_csv_load(tmp("b4.csv"), NULL, &ds, g_err, sizeof g_err), "b4.csv:2:4:", "field 2 is empty");
    write_text(tmp("b5.csv"), "1,2,0.5\n");
    expect_err(nb_csv_load(tmp("b5.csv"), NULL, &ds, g_err, sizeof g_err), "b5.csv:1:5:", "not an integer");
    write_text(tmp("b6.csv"), "a,b\n");
    expect_err(nb_csv_load(tmp("b6.csv"), NULL, &ds, g_err, sizeof g_err), "no data rows", NULL);
    nb_csv_opts o = nb_csv_defaults();
    o.label_name = "zzz";
    write_text(tmp("b7.csv"), "a,b\n1,2\n");
    expect_err(nb_csv_load(tmp("b7.csv"), &o, &ds, g_err, sizeof g_err), "no column named 'zzz'", NULL);
    o = nb_csv_defaults();
    o.label_col = 5;
    expect_err(nb_csv_load(tmp("b7.csv"), &o, &ds, g_err, sizeof g_err), "label column 5", NULL);
    expect_err(nb_csv_load(tmp("missing.csv"), NULL, &ds, g_err, sizeof g_err), "can't read", "missing.csv");
    assert_null(ds.x);
    assert_null(ds.y);
}

/* --------------------------------------------------------------- loader */

static nb_dataset make_ds(int64_t n, int64_t f) {
    nb_dataset ds = {nb_empty(NB_F32, NB_SHAPE(n, f)), nb_empty(NB_I64, NB_SHAPE(n))};
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < f; j++) nb_f32(ds.x)[i * f + j] = (float)(i * 100 + j);
        nb_i64(ds.y)[i] = i;
    }
    return ds;
}

/* Runs one epoch; records the order of samples; returns the batch count. */
static int epoch_order(nb_loader *l, int64_t *order, int64_t *sizes) {
    nb_batch b;
    int nb = 0;
    int64_t k = 0;
    while (nb_loader_next(l, &b)) {
        assert_int_equal(b.index, nb);
        assert_int_equal(b.x->shape.d[0], b.size);
        assert_int_equal(b.y->shape.d[0], b.size);
        for (int64_t i = 0; i < b.size; i++) {
            int64_t id = nb_i64(b.y)[i];
            assert_true(nb_f32(b.x)[i * 3 + 2] == (float)(id * 100 + 2)); /* x and y stay paired */
            order[k++] = id;
        }
        sizes[nb++] = b.size;
    }
    return nb;
}

static void loader_batches(void **state) {
    (void)state;
    nb_dataset ds = make_ds(10, 3);
    int64_t order[10], sizes[10];
    nb_loader *l = nb_loader_new(&ds, 3, 0);
    assert_int_equal(nb_loader_num_batches(l), 4);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(epoch_order(l, order, sizes), 4);
        assert_int_equal(sizes[3], 1);
        for (int i = 0; i < 10; i++) assert_int_equal(order[i], i);
    }
    nb_loader_free(l);
    l = nb_loader_new(&ds, 3, NB_DROP_LAST);
    assert_int_equal(nb_loader_num_batches(l), 3);
    assert_int_equal(epoch_order(l, order, sizes), 3);
    assert_int_equal(sizes[2], 3);
    nb_loader_free(l);
    l = nb_loader_new(&ds, 64, 0); /* batch > N: one batch of N */
    assert_int_equal(epoch_order(l, order, sizes), 1);
    assert_int_equal(sizes[0], 10);
    nb_loader_free(l);
    l = nb_loader_new(&ds, 64, NB_DROP_LAST);
    assert_int_equal(nb_loader_num_batches(l), 0);
    assert_int_equal(epoch_order(l, order, sizes), 0);
    nb_loader_free(l);
    /* reset abandons an epoch. */
    l = nb_loader_new(&ds, 4, 0);
    nb_batch b;
    assert_true(nb_loader_next(l, &b));
    nb_loader_reset(l);
    assert_true(nb_loader_next(l, &b));
    assert_int_equal(b.index, 0);
    assert_int_equal(b.epoch, 1);
    nb_loader_free(l);
    nb_dataset_free(&ds);
}

static void loader_shuffle(void **state) {
    (void)state;
    nb_dataset ds = make_ds(50, 3);
    int64_t o1[3][50], o2[3][50], sizes[50];
    for (int run = 0; run < 2; run++) {
        nb_seed(1234);
        nb_loader *l = nb_loader_new(&ds, 7, NB_SHUFFLE);
        for (int e = 0; e < 3; e++) {
            int64_t *o = run ? o2[e] : o1[e];
            assert_int_equal(epoch_order(l, o, sizes), 8);
            bool seen[50] = {false};
            for (int i = 0; i < 50; i++) {
                assert_false(seen[o[i]]); /* each sample exactly once per epoch */
                seen[o[i]] = true;
            }
        }
        nb_loader_free(l);
    }
    assert_memory_equal(o1, o2, sizeof o1);               /* same seed, same batches */
    assert_true(memcmp(o1[0], o1[1], sizeof o1[0]) != 0); /* a new order each epoch */
    int fixed = 0;
    for (int i = 0; i < 50; i++) fixed += o1[0][i] == i;
    assert_true(fixed < 10);
    nb_seed(99);
    nb_loader *l = nb_loader_new(&ds, 7, NB_SHUFFLE);
    epoch_order(l, o2[0], sizes);
    assert_true(memcmp(o1[0], o2[0], sizeof o1[0]) != 0); /* another seed, another order */
    /* No allocation per step: the heap stays put over further epochs. */
    epoch_order(l, o2[0], sizes);
    nb_mem_stats m0 = nb_mem_stats_get();
    for (int e = 0; e < 5; e++) epoch_order(l, o2[0], sizes);
    nb_mem_stats m1 = nb_mem_stats_get();
    assert_int_equal(m0.heap_allocs, m1.heap_allocs);
    nb_loader_free(l);
    nb_dataset_free(&ds);
}

static void loader_in_training_scope(void **state) {
    (void)state;
    nb_dataset ds = make_ds(8, 3);
    nb_loader *l = nb_loader_new(&ds, 4, 0);
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_F32, NB_SHAPE(3, 1)), true);
    nb_batch b;
    double total = 0;
    while (nb_loader_next(l, &b)) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = nb_sum(nb_matmul(b.x, w), NULL, 0, false);
        assert_int_equal(nb_backward(loss), NB_OK);
        total += nb_item(loss);
        nb_scope_end(&s);
    }
    double want = 0;
    for (int i = 0; i < 8; i++) want += i * 300 + 3;
    assert_true(total == want);
    nb_tensor_free(w);
    nb_loader_free(l);
    nb_dataset_free(&ds);
}

static void split_and_slice(void **state) {
    (void)state;
    nb_dataset ds = make_ds(20, 3), tr, va, tr2, va2;
    nb_seed(5);
    assert_int_equal(nb_dataset_split(&ds, 0.25, &tr, &va), NB_OK);
    assert_int_equal(nb_dataset_len(&tr), 15);
    assert_int_equal(nb_dataset_len(&va), 5);
    bool seen[20] = {false};
    for (int i = 0; i < 15; i++) seen[nb_i64(tr.y)[i]] = true;
    for (int i = 0; i < 5; i++) {
        int64_t id = nb_i64(va.y)[i];
        assert_false(seen[id]);
        seen[id] = true;
        assert_true(nb_f32(va.x)[i * 3 + 1] == (float)(id * 100 + 1));
    }
    nb_seed(5);
    assert_int_equal(nb_dataset_split(&ds, 0.25, &tr2, &va2), NB_OK);
    assert_memory_equal(nb_i64(va.y), nb_i64(va2.y), 5 * sizeof(int64_t));
    nb_dataset_free(&tr), nb_dataset_free(&va), nb_dataset_free(&tr2), nb_dataset_free(&va2);
    nb_dataset sl;
    assert_int_equal(nb_dataset_slice(&ds, 4, 3, &sl), NB_OK);
    assert_int_equal(nb_dataset_len(&sl), 3);
    assert_int_equal(nb_i64(sl.y)[0], 4);
    nb_dataset_free(&sl);
    nb_dataset_free(&ds);
}

static void normalization(void **state) {
    (void)state;
    /* Features: column 0 = i, column 1 = 10 + 2i, column 2 constant 7. */
    double xs[5 * 3], ys[2 * 3] = {2, 14, 7, 4, 18, 7};
    for (int i = 0; i < 5; i++) xs[i * 3] = i, xs[i * 3 + 1] = 10 + 2 * i, xs[i * 3 + 2] = 7;
    nb_tensor *x = nb_from_f64(NB_SHAPE(5, 3), xs), *xv = nb_from_f64(NB_SHAPE(2, 3), ys);
    nb_norm nm;
    assert_int_equal(nb_norm_fit(x, NB_NORM_FEATURE, &nm), NB_OK);
    assert_true(nb_shape_eq(nm.mean->shape, NB_SHAPE(3)));
    assert_true(fabs(nb_f64(nm.mean)[0] - 2) < 1e-12 && fabs(nb_f64(nm.mean)[1] - 14) < 1e-12);
    assert_true(fabs(nb_f64(nm.std)[0] - sqrt(2.0)) < 1e-12 && fabs(nb_f64(nm.std)[1] - 2 * sqrt(2.0)) < 1e-12);
    assert_true(nb_f64(nm.std)[2] == 1.0); /* a constant feature keeps std 1 */
    assert_int_equal(nb_norm_apply(&nm, x), NB_OK);
    for (int j = 0; j < 3; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < 5; i++) m += nb_f64(x)[i * 3 + j] / 5;
        for (int i = 0; i < 5; i++) v += pow(nb_f64(x)[i * 3 + j] - m, 2) / 5;
        assert_true(fabs(m) < 1e-12);
        assert_true(fabs(v - (j < 2 ? 1 : 0)) < 1e-12);
    }
    /* The validation set is normalized with the TRAINING statistics. */
    assert_int_equal(nb_norm_apply(&nm, xv), NB_OK);
    assert_true(fabs(nb_f64(xv)[0] - 0) < 1e-12 && fabs(nb_f64(xv)[3] - 2 / sqrt(2.0)) < 1e-12);
    assert_true(fabs(nb_f64(xv)[4] - 4 / (2 * sqrt(2.0))) < 1e-12 && nb_f64(xv)[5] == 0);
    nb_norm_free(&nm);
    nb_tensor_free(x), nb_tensor_free(xv);

    /* Per channel on (N, C, H, W) = (2, 2, 1, 2): channel 0 = {0,1,2,3}, channel 1 = {10,10,30,30}. */
    float im[8] = {0, 1, 10, 10, 2, 3, 30, 30};
    nb_tensor *xi = nb_from_f32(NB_SHAPE(2, 2, 1, 2), im);
    assert_int_equal(nb_norm_fit(xi, NB_NORM_CHANNEL, &nm), NB_OK);
    assert_true(nb_shape_eq(nm.mean->shape, NB_SHAPE(2)));
    assert_true(fabs(nb_f64(nm.mean)[0] - 1.5) < 1e-12 && fabs(nb_f64(nm.mean)[1] - 20) < 1e-12);
    assert_true(fabs(nb_f64(nm.std)[0] - sqrt(1.25)) < 1e-12 && fabs(nb_f64(nm.std)[1] - 10) < 1e-12);
    assert_int_equal(nb_norm_apply(&nm, xi), NB_OK);
    assert_true(fabsf(nb_f32(xi)[2] + 1) < 1e-6f && fabsf(nb_f32(xi)[7] - 1) < 1e-6f);
    nb_norm_free(&nm);
    assert_int_equal(nb_norm_fit(xi, NB_NORM_GLOBAL, &nm), NB_OK);
    assert_int_equal(nm.mean->shape.ndim, 0);
    nb_norm_free(&nm);
    /* Mismatched shape: an error through the handler (recover mode here). */
    nb_set_error_mode(NB_ERRORS_RECOVER);
    assert_int_equal(nb_norm_fit(xi, NB_NORM_CHANNEL, &nm), NB_OK);
    nb_tensor *wrong = nb_zeros(NB_F32, NB_SHAPE(2, 3, 1, 2));
    assert_int_equal(nb_norm_apply(&nm, wrong), NB_ERR_SHAPE);
    assert_non_null(strstr(nb_error_message(), "(2,3,1,2)"));
    nb_error_clear();
    nb_set_error_mode(NB_ERRORS_ABORT);
    nb_norm_free(&nm);
    nb_tensor_free(wrong);
    nb_tensor_free(xi);
}

/* --------------------------------------------------- training experience */

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void progress_plain(void **state) {
    (void)state;
    FILE *f = fopen(tmp("progress.txt"), "w");
    nb_progress *p = nb_progress_new("mlp", 3, 4);
    nb_progress_set_output(p, f, false);
    nb_progress_epoch_begin(p, 1);
    for (int i = 1; i <= 4; i++) nb_progress_batch(p, i);
    nb_epoch_stats s = nb_epoch_stats_new(0);
    s.train_acc = 0.5, s.val_loss = 1.25, s.val_acc = 0.4;
    s = nb_progress_epoch_end(p, s);
    assert_int_equal(s.epoch, 1);
    assert_true(s.train_loss == 2.5);
    nb_progress_epoch_begin(p, 2);
    nb_progress_batch(p, NAN);
    nb_progress_epoch_end(p, nb_epoch_stats_new(0));
    nb_progress_free(p);
    fclose(f);
    char *out = read_all(tmp("progress.txt"));
    assert_null(strchr(out, '\r')); /* no bar when not a terminal */
    const char *want = "mlp epoch 1/3  loss 2.5000  acc 50.00%  val_loss 1.2500  val_acc 40.00%  ";
    if (strncmp(out, want, strlen(want)) != 0) fail_msg("got: %s", out);
    char *l2 = strchr(out, '\n');
    assert_non_null(l2);
    assert_int_equal(strncmp(l2 + 1, "mlp epoch 2/3  ", 15), 0);
    assert_null(strstr(l2 + 1, "loss")); /* nothing measured, nothing printed */
    assert_non_null(strstr(out, "batch/s\n"));
    int lines = 0;
    for (char *c = out; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 2);

    /* Terminal mode: a redrawn bar with percentage, rate, loss and ETA. */
    f = fopen(tmp("bar.txt"), "w");
    p = nb_progress_new(NULL, 2, 5);
    nb_progress_set_output(p, f, true);
    nb_progress_epoch_begin(p, 1);
    for (int i = 0; i < 5; i++) nb_progress_batch(p, 0.5);
    nb_progress_epoch_end(p, nb_epoch_stats_new(0));
    nb_progress_free(p);
    fclose(f);
    out = read_all(tmp("bar.txt"));
    assert_non_null(strstr(out, "\repoch 1/2 ["));
    assert_non_null(strstr(out, "100% 5/5"));
    assert_non_null(strstr(out, "batch/s  loss 0.5000  ETA"));
}

static void curves_csv_svg(void **state) {
    (void)state;
    nb_curves *c = nb_curves_new();
    double tl[4] = {0.9, 0.6, 0.45, 0.4}, vl[4] = {0.8, 0.62, 0.5, 0.49};
    for (int e = 1; e <= 4; e++) {
        nb_epoch_stats s = nb_epoch_stats_new(e);
        s.train_loss = tl[e - 1], s.val_loss = vl[e - 1];
        s.train_acc = 1 - tl[e - 1] / 3, s.val_acc = 1 - vl[e - 1] / 3;
        s.seconds = 1.5;
        nb_curves_add(c, &s);
    }
    assert_int_equal(nb_curves_len(c), 4);
    assert_int_equal(nb_curves_write_csv(c, tmp("c.csv"), g_err, sizeof g_err), NB_OK);
    char *csv = read_all(tmp("c.csv"));
    assert_int_equal(strncmp(csv, "epoch,train_loss,val_loss,train_acc,val_acc,seconds\n1,0.9,0.8,0.7,", 66), 0);
    /* The CSV reads back with our own reader. */
    nb_dataset ds;
    nb_csv_opts o = nb_csv_defaults();
    o.label_col = NB_CSV_NO_LABEL;
    assert_int_equal(nb_csv_load(tmp("c.csv"), &o, &ds, g_err, sizeof g_err), NB_OK);
    assert_true(nb_shape_eq(ds.x->shape, NB_SHAPE(4, 6)));
    nb_dataset_free(&ds);

    assert_int_equal(nb_curves_write_svg(c, tmp("c.svg"), "MLP on <Fashion-MNIST>", g_err, sizeof g_err), NB_OK);
    char *svg = read_all(tmp("c.svg"));
    assert_int_equal(strncmp(svg, "<svg ", 5), 0);
    assert_non_null(strstr(svg, "</svg>\n"));
    assert_non_null(strstr(svg, "<polyline class=\"train\""));
    assert_non_null(strstr(svg, "<polyline class=\"validation\""));
    assert_non_null(strstr(svg, "&lt;Fashion-MNIST&gt;"));
    int g_open = 0, g_close = 0, lt = 0, gt = 0;
    for (char *q = svg; (q = strstr(q, "<g>")); q++) g_open++;
    for (char *q = svg; (q = strstr(q, "</g>")); q++) g_close++;
    for (char *q = svg; *q; q++) lt += *q == '<', gt += *q == '>';
    assert_int_equal(g_open, 2);
    assert_int_equal(g_close, 2);
    assert_int_equal(lt, gt);
    if (access("/usr/bin/xmllint", X_OK) == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout %s", tmp("c.svg"));
        assert_int_equal(system(cmd), 0);
    }
    /* Unwritable path: an error, not an abort. */
    assert_int_equal(nb_curves_write_svg(c, "/nonexistent-dir/c.svg", NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "/nonexistent-dir/c.svg"));
    nb_curves_free(c);
    /* One epoch only, and an empty chart, are still valid pictures. */
    c = nb_curves_new();
    assert_int_equal(nb_curves_write_svg(c, tmp("e.svg"), NULL, g_err, sizeof g_err), NB_OK);
    nb_epoch_stats s = nb_epoch_stats_new(1);
    s.train_loss = 1;
    nb_curves_add(c, &s);
    assert_int_equal(nb_curves_write_svg(c, tmp("e.svg"), NULL, g_err, sizeof g_err), NB_OK);
    assert_non_null(strstr(read_all(tmp("e.svg")), "<polyline class=\"train\""));
    nb_curves_free(c);
}

static void graph_svg(void **state) {
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -2), true), "x");
    nb_tensor *y = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, 5), true), "y");
    nb_tensor *z = nb_set_name(nb_set_requires_grad(nb_scalar(NB_F64, -4), true), "z");
    nb_tensor *f = nb_set_name(nb_mul(nb_add(x, y), z), "f");
    assert_int_equal(nb_graph_svg(f, tmp("g.svg"), g_err, sizeof g_err), NB_OK);
    char *dot = read_all(tmp("g.dot"));
    assert_non_null(strstr(dot, "digraph"));
    assert_non_null(strstr(dot, "mul"));
    if (access("/usr/bin/dot", X_OK) == 0) {
        char *svg = read_all(tmp("g.svg"));
        assert_non_null(strstr(svg, "<svg"));
        assert_non_null(strstr(svg, "add"));
    }
    assert_int_equal(nb_graph_svg(f, "/nonexistent-dir/g.svg", g_err, sizeof g_err), NB_ERR_IO);
    nb_scope_end(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idx_plain_and_gzip),
        cmocka_unit_test(idx_other_types),
        cmocka_unit_test(idx_bad_files),
        cmocka_unit_test(idx_gzip_errors),
        cmocka_unit_test(idx_from_memory),
        cmocka_unit_test(idx_large_from_memory),
        cmocka_unit_test(csv_from_memory),
        cmocka_unit_test(checkpoint_from_memory),
        cmocka_unit_test(mnist_dirs),
        cmocka_unit_test(fashion_mnist_debian),
        cmocka_unit_test(csv_good),
        cmocka_unit_test(csv_bad),
        cmocka_unit_test(loader_batches),
        cmocka_unit_test(loader_shuffle),
        cmocka_unit_test(loader_in_training_scope),
        cmocka_unit_test(split_and_slice),
        cmocka_unit_test(normalization),
        cmocka_unit_test(progress_plain),
        cmocka_unit_test(curves_csv_svg),
        cmocka_unit_test(graph_svg),
    };
    return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
