/* test_checkpoint: round trips, every flipped byte and every truncation of a
 * small checkpoint detected without touching the target tensors, mismatched
 * names/dtypes/shapes reported by name, and a failed save that keeps the
 * previous file. */
#define _GNU_SOURCE
#include "test_util.h"
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static char g_err[512];

/* A small model: four tensors of every dtype and rank 0..2. */
typedef struct model {
    nb_tensor *w, *b, *idx, *s;
    nb_named_tensor nt[4];
} model;

static void model_init(model *m, double v0) {
    m->w = nb_empty(NB_F32, NB_SHAPE(3, 4));
    m->b = nb_empty(NB_F64, NB_SHAPE(5));
    m->idx = nb_empty(NB_I64, NB_SHAPE(2, 2));
    m->s = nb_empty(NB_F32, NB_SCALAR);
    for (int i = 0; i < 12; i++) nb_f32(m->w)[i] = (float)(v0 + i * 0.25);
    for (int i = 0; i < 5; i++) nb_f64(m->b)[i] = v0 - i / 3.0;
    for (int i = 0; i < 4; i++) nb_i64(m->idx)[i] = (int64_t)v0 * 1000 + i - 2;
    nb_f32(m->s)[0] = (float)(v0 * 2);
    m->nt[0] = (nb_named_tensor){"fc.weight", m->w};
    m->nt[1] = (nb_named_tensor){"fc.bias", m->b};
    m->nt[2] = (nb_named_tensor){"table", m->idx};
    m->nt[3] = (nb_named_tensor){"scale", m->s};
}
static void model_free(model *m) {
    nb_tensor_free(m->w), nb_tensor_free(m->b), nb_tensor_free(m->idx), nb_tensor_free(m->s);
}
static bool model_eq(const model *a, const model *b) {
    return !memcmp(a->w->data, b->w->data, 12 * 4) && !memcmp(a->b->data, b->b->data, 5 * 8) &&
        !memcmp(a->idx->data, b->idx->data, 4 * 8) && !memcmp(a->s->data, b->s->data, 4);
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *buf = malloc(*n + 1);
    assert_int_equal(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}
static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void round_trip(void **state) {
    (void)state;
    model a, b;
    model_init(&a, 1.5);
    nb_seed(77);
    nb_rand_normal(); /* leave a spare normal in the generator state */
    nb_ckpt_meta meta = nb_ckpt_meta_now(3, 1234);
    assert_true(nb_ckpt_meta_set(&meta, "lr", 0.05));
    assert_true(nb_ckpt_meta_set(&meta, "adam.t", 1234));
    assert_true(nb_ckpt_meta_set(&meta, "lr", 0.025)); /* replaces */
    assert_int_equal(meta.nkv, 2);
    assert_int_equal(nb_checkpoint_save(tmp("a.ckpt"), a.nt, 4, &meta, g_err, sizeof g_err), NB_OK);
    assert_string_equal(g_err, "");
    /* Another order of the same names loads too. */
    model_init(&b, 0);
    nb_named_tensor rev[4] = {b.nt[3], b.nt[2], b.nt[1], b.nt[0]};
    uint32_t v0 = *b.w->version;
    nb_ckpt_meta got;
    assert_int_equal(nb_checkpoint_load(tmp("a.ckpt"), rev, 4, &got, g_err, sizeof g_err), NB_OK);
    assert_true(model_eq(&a, &b));
    assert_true(*b.w->version != v0); /* an in-place write */
    assert_int_equal(got.epoch, 3);
    assert_int_equal(got.step, 1234);
    assert_memory_equal(&got.rng.s, &meta.rng.s, sizeof meta.rng.s);
    assert_true(got.rng.has_spare == meta.rng.has_spare && got.rng.spare == meta.rng.spare);
    assert_true(nb_ckpt_meta_get(&got, "lr", 0) == 0.025);
    assert_true(nb_ckpt_meta_get(&got, "adam.t", 0) == 1234);
    assert_true(nb_ckpt_meta_get(&got, "missing", -1) == -1);
    /* Restoring the RNG state repeats the draws. */
    nb_rng_set(got.rng);
    double r1 = nb_rand_normal();
    nb_rng_set(meta.rng);
    assert_true(nb_rand_normal() == r1);
    /* NULL meta on both sides; zero tensors. */
    assert_int_equal(nb_checkpoint_save(tmp("b.ckpt"), a.nt, 4, NULL, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_checkpoint_load(tmp("b.ckpt"), b.nt, 4, NULL, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_checkpoint_save(tmp("empty.ckpt"), NULL, 0, NULL, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_checkpoint_load(tmp("empty.ckpt"), NULL, 0, &got, g_err, sizeof g_err), NB_OK);
    /* No temporary files left behind. */
    DIR *d = opendir(tu_dir);
    struct dirent *e;
    while ((e = readdir(d))) assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
    model_free(&a), model_free(&b);
}

static void flip_and_truncate_sweep(void **state) {
    (void)state;
    model a, b, ref;
    model_init(&a, 2);
    nb_ckpt_meta meta = nb_ckpt_meta_now(1, 2);
    nb_ckpt_meta_set(&meta, "lr", 0.1);
    assert_int_equal(nb_checkpoint_save(tmp("s.ckpt"), a.nt, 4, &meta, g_err, sizeof g_err), NB_OK);
    size_t n;
    unsigned char *good = read_file(tmp("s.ckpt"), &n);
    unsigned char *bad = malloc(n + 1);
    model_init(&b, -7);
    model_init(&ref, -7);
    nb_ckpt_meta m = {.epoch = -99};
    int cases = 0;
    /* Every byte flipped, three ways (lowest bit, highest bit, all bits). */
    static const unsigned char masks[3] = {0x01, 0x80, 0xFF};
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            memcpy(bad, good, n);
            bad[i] ^= masks[k];
            write_file(tmp("bad.ckpt"), bad, n);
            nb_status st = nb_checkpoint_load(tmp("bad.ckpt"), b.nt, 4, &m, g_err, sizeof g_err);
            if (st != NB_ERR_IO) fail_msg("byte %zu ^ 0x%02x of %zu: status %d", i, masks[k], n, st);
            if (!strstr(g_err, "bad.ckpt")) fail_msg("message doesn't name the file: %s", g_err);
            cases++;
        }
    /* Every truncation, and one extra byte. */
    for (size_t len = 0; len < n; len++) {
        write_file(tmp("bad.ckpt"), good, len);
        nb_status st = nb_checkpoint_load(tmp("bad.ckpt"), b.nt, 4, &m, g_err, sizeof g_err);
        if (st != NB_ERR_IO) fail_msg("truncated to %zu of %zu: status %d", len, n, st);
        cases++;
    }
    memcpy(bad, good, n);
    bad[n] = 0;
    write_file(tmp("bad.ckpt"), bad, n + 1);
    assert_int_equal(nb_checkpoint_load(tmp("bad.ckpt"), b.nt, 4, &m, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "trailing"));
    /* Nothing was ever written into the targets or the meta. */
    assert_true(model_eq(&b, &ref));
    assert_int_equal(m.epoch, -99);
    print_message("%d corrupt files (size %zu) all rejected\n", cases, n);
    /* Named failures. */
    memcpy(bad, good, n);
    bad[n - 9] ^= 1; /* last data byte of the last tensor, "scale" */
    write_file(tmp("bad.ckpt"), bad, n);
    assert_int_equal(nb_checkpoint_load(tmp("bad.ckpt"), b.nt, 4, &m, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "checksum mismatch in tensor #3 'scale'"));
    memcpy(bad, good, n);
    bad[20] ^= 1; /* inside the header */
    write_file(tmp("bad.ckpt"), bad, n);
    assert_int_equal(nb_checkpoint_load(tmp("bad.ckpt"), b.nt, 4, &m, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "header checksum"));
    write_file(tmp("bad.ckpt"), "hello", 5);
    assert_int_equal(nb_checkpoint_load(tmp("bad.ckpt"), b.nt, 4, &m, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "not a nabla checkpoint"));
    assert_true(model_eq(&b, &ref));
    free(good), free(bad);
    model_free(&a), model_free(&b), model_free(&ref);
}

static void mismatches_named(void **state) {
    (void)state;
    model a, b, ref;
    model_init(&a, 1);
    model_init(&b, 5);
    model_init(&ref, 5);
    assert_int_equal(nb_checkpoint_save(tmp("m.ckpt"), a.nt, 4, NULL, g_err, sizeof g_err), NB_OK);
    /* A shape mismatch. */
    nb_tensor *w2 = nb_zeros(NB_F32, NB_SHAPE(4, 3));
    nb_named_tensor ts[4] = {b.nt[0], b.nt[1], b.nt[2], b.nt[3]};
    ts[0].t = w2;
    assert_int_equal(nb_checkpoint_load(tmp("m.ckpt"), ts, 4, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "tensor 'fc.weight' is f32 (3,4) in the file but f32 (4,3) in the model"));
    /* A dtype mismatch. */
    nb_tensor *b2 = nb_zeros(NB_F32, NB_SHAPE(5));
    ts[0] = b.nt[0];
    ts[1].t = b2;
    assert_int_equal(nb_checkpoint_load(tmp("m.ckpt"), ts, 4, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "'fc.bias' is f64 (5) in the file but f32 (5)"));
    /* A name the file doesn't hold; a tensor the model doesn't have. */
    ts[1] = b.nt[1];
    ts[2].name = "table2";
    assert_int_equal(nb_checkpoint_load(tmp("m.ckpt"), ts, 4, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "holds tensor 'table', which the model doesn't have"));
    assert_int_equal(nb_checkpoint_load(tmp("m.ckpt"), b.nt, 3, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "'scale', which the model doesn't have"));
    nb_tensor *extra = nb_zeros(NB_F32, NB_SHAPE(1));
    nb_named_tensor more[5] = {b.nt[0], b.nt[1], b.nt[2], b.nt[3], {"extra", extra}};
    assert_int_equal(nb_checkpoint_load(tmp("m.ckpt"), more, 5, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "tensor 'extra' is missing from the file"));
    assert_true(model_eq(&b, &ref)); /* untouched by every failed load */
    /* Bad arguments: NB_ERR_ARG, never an abort. */
    nb_named_tensor dup[2] = {b.nt[0], {"fc.weight", b.b}};
    assert_int_equal(nb_checkpoint_save(tmp("d.ckpt"), dup, 2, NULL, g_err, sizeof g_err), NB_ERR_ARG);
    assert_non_null(strstr(g_err, "'fc.weight' appears twice"));
    nb_named_tensor nul[1] = {{"x", NULL}};
    assert_int_equal(nb_checkpoint_save(tmp("d.ckpt"), nul, 1, NULL, g_err, sizeof g_err), NB_ERR_ARG);
    assert_int_equal(nb_checkpoint_load(tmp("nope.ckpt"), b.nt, 4, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "nope.ckpt: can't open"));
    nb_tensor_free(w2), nb_tensor_free(b2), nb_tensor_free(extra);
    model_free(&a), model_free(&b), model_free(&ref);
}

static void failed_save_keeps_previous(void **state) {
    (void)state;
    model a, big;
    model_init(&a, 3);
    assert_int_equal(nb_checkpoint_save(tmp("keep.ckpt"), a.nt, 4, NULL, g_err, sizeof g_err), NB_OK);
    size_t n0;
    unsigned char *before = read_file(tmp("keep.ckpt"), &n0);
    /* An unwritable directory. */
    assert_int_equal(nb_checkpoint_save("/nonexistent-dir/x.ckpt", a.nt, 4, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "/nonexistent-dir/x.ckpt"));
    /* A write that fails half-way (the disk "fills up": a file size limit). */
    nb_tensor *huge = nb_zeros(NB_F32, NB_SHAPE(256, 1024)); /* 1 MiB */
    nb_named_tensor ts[1] = {{"huge", huge}};
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    nb_status st = nb_checkpoint_save(tmp("keep.ckpt"), ts, 1, NULL, g_err, sizeof g_err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, NB_ERR_IO);
    assert_non_null(strstr(g_err, "the previous file is kept"));
    size_t n1;
    unsigned char *after = read_file(tmp("keep.ckpt"), &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    /* ...and it still loads. */
    model_init(&big, 0);
    assert_int_equal(nb_checkpoint_load(tmp("keep.ckpt"), big.nt, 4, NULL, g_err, sizeof g_err), NB_OK);
    assert_true(model_eq(&a, &big));
    DIR *d = opendir(tu_dir);
    struct dirent *e;
    while ((e = readdir(d))) assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
    /* A successful save replaces it. */
    assert_int_equal(nb_checkpoint_save(tmp("keep.ckpt"), ts, 1, NULL, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_checkpoint_load(tmp("keep.ckpt"), ts, 1, NULL, g_err, sizeof g_err), NB_OK);
    free(before), free(after);
    nb_tensor_free(huge);
    model_free(&a), model_free(&big);
}

/* A model and its Adam state saved mid-training and restored into a fresh
 * model: one more identical step gives identical parameters. */
static nb_module *small_net(int hidden) {
    return nb_sequential(nb_linear(4, hidden), nb_batchnorm1d(hidden), nb_relu_layer(), nb_linear(hidden, 2));
}
static void train_step(nb_module *m, nb_optim *opt) {
    nb_scope *s = nb_scope_begin();
    nb_seed(11); /* same batch both times */
    nb_tensor *x = nb_randn(NB_F32, NB_SHAPE(16, 4), 0, 1);
    int64_t yv[16];
    for (int i = 0; i < 16; i++) yv[i] = i % 2;
    nb_tensor *y = nb_from_i64(NB_SHAPE(16), yv);
    nb_tensor *loss = nb_cross_entropy(nb_forward(m, x), y, NB_REDUCE_MEAN);
    nb_zero_grad(m);
    assert_int_equal(nb_backward(loss), NB_OK);
    assert_int_equal(nb_optim_step(opt), NB_OK);
    nb_scope_end(&s);
}
static void module_and_optimizer(void **state) {
    (void)state;
    nb_seed(1);
    nb_module *a = small_net(8);
    nb_optim *oa = nb_optim_adam(a, 1e-2);
    for (int i = 0; i < 3; i++) train_step(a, oa);
    nb_optim_set_lr(oa, 5e-3);
    nb_ckpt_meta meta = nb_ckpt_meta_now(2, 3);
    assert_int_equal(nb_train_save(tmp("train.ckpt"), a, oa, &meta, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_module_save(a, tmp("model.ckpt"), NULL, g_err, sizeof g_err), NB_OK);

    nb_seed(2);
    nb_module *b = small_net(8);
    nb_optim *ob = nb_optim_adam(b, 1e-2);
    nb_ckpt_meta got;
    assert_int_equal(nb_train_load(tmp("train.ckpt"), b, ob, &got, g_err, sizeof g_err), NB_OK);
    assert_true(nb_optim_get_lr(ob) == 5e-3);
    assert_int_equal(nb_optim_step_count(ob), 3);
    assert_int_equal(got.epoch, 2);
    train_step(a, oa);
    train_step(b, ob);
    nb_named_tensor pa[16], pb[16];
    int n = nb_module_named_tensors(a, pa, 16);
    assert_int_equal(nb_module_named_tensors(b, pb, 16), n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(pa[i].name, pb[i].name);
        assert_memory_equal(pa[i].t->data, pb[i].t->data, (size_t)pa[i].t->numel * nb_dtype_size(pa[i].t->dtype));
    }
    /* The model-only file loads into a model; a wrong architecture is named. */
    nb_module *c = small_net(8), *d = small_net(9);
    assert_int_equal(nb_module_load(c, tmp("model.ckpt"), NULL, g_err, sizeof g_err), NB_OK);
    assert_int_equal(nb_module_load(d, tmp("model.ckpt"), NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "tensor '0.weight' is f32 (8,4) in the file but f32 (9,4) in the model"));
    /* A model-only file lacks the optimizer state: named too. */
    assert_int_equal(nb_train_load(tmp("model.ckpt"), b, ob, NULL, g_err, sizeof g_err), NB_ERR_IO);
    assert_non_null(strstr(g_err, "'optim.0.weight."));
    nb_optim_free(oa), nb_optim_free(ob);
    nb_module_free(a), nb_module_free(b), nb_module_free(c), nb_module_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),           cmocka_unit_test(flip_and_truncate_sweep),
        cmocka_unit_test(mismatches_named),     cmocka_unit_test(failed_save_keeps_previous),
        cmocka_unit_test(module_and_optimizer),
    };
    return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
