/* tests/test_safetensors.c — safetensors files written by PyTorch's side
 * (tests/fixtures/gen_safetensors.py, committed) load into the equivalent
 * nabla models by state_dict name and give torch's outputs: MLP in F32, F64,
 * F16 and BF16, a CNN with BatchNorm (running statistics and
 * num_batches_tracked), a 2-layer bidirectional LSTM and a pre-LN
 * transformer block; nabla's own files round-trip and are left for the
 * torch-side check (tests/test_safetensors_torch.sh); strict and non-strict
 * loading report every missing, unexpected and mis-shaped name and change
 * nothing on error; damaged files (every truncation, bad offsets, overflowing
 * shapes, overlaps, holes, bad JSON) are errors, never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/nabla.h"

#ifndef NB_ST_FIXTURES
#define NB_ST_FIXTURES "tests/fixtures/safetensors"
#endif
#ifndef NB_ST_OUT
#define NB_ST_OUT "."
#endif

static char err[1024];

static const char *fx(const char *name) {
    static char path[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", NB_ST_FIXTURES, name);
    return path[k];
}

static nb_module *mlp(int out) { return nb_sequential(nb_linear(8, 16), nb_relu_layer(), nb_linear(16, out), NULL); }

static nb_module *lstm(void) {
    nb_rnn_opts o = {.bidirectional = true, .batch_first = true};
    return nb_lstm(4, 6, 2, &o);
}

static nb_module *block(void) { return nb_transformer_block(16, 4, 32, 0.0); }

static nb_module *cnn(void) {
    return nb_sequential(nb_conv2d_layer(1, 4, 3, 1, 1), nb_batchnorm2d(4), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                         nb_flatten_layer(), nb_linear(64, 5), NULL);
}

/* The tensor called name in a read file (asserts it is there). */
static nb_tensor *get(nb_named_tensor *ts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ts[i].name, name)) return ts[i].t;
    fprintf(stderr, "no tensor '%s' in the file\n", name);
    fail();
    return NULL;
}

/* max |a−b| / max|b| */
static double rel_err(const nb_tensor *a, const nb_tensor *b) {
    assert_int_equal(a->numel, b->numel);
    double worst = 0, scale = 1e-30;
    for (int64_t i = 0; i < a->numel; i++) {
        worst = fmax(worst, fabs(nb_get(a, i) - nb_get(b, i)));
        scale = fmax(scale, fabs(nb_get(b, i)));
    }
    return worst / scale;
}

/* Loads weights into model m (cast to dt), runs it on io's x in eval mode
 * and compares with io's yname; returns the error. */
static double run_model(nb_module *m, nb_dtype dt, const char *weights, const char *io_file, const char *yname) {
    assert_true(nb_module_cast(m, dt));
    nb_module_train(m, false);
    nb_load_report r;
    nb_status st = nb_safetensors_load(m, fx(weights), true, &r, err, sizeof err);
    if (st != NB_OK) fprintf(stderr, "%s\n", err);
    assert_int_equal(st, NB_OK);
    assert_int_equal(r.n_missing + r.n_unexpected + r.n_mismatched, 0);
    nb_load_report_free(&r);
    nb_named_tensor *io;
    int n;
    assert_int_equal(nb_safetensors_read(fx(io_file), &io, &n, err, sizeof err), NB_OK);
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = nb_forward(m, nb_cast(get(io, n, "x"), dt));
    const double e = rel_err(y, get(io, n, yname));
    nb_scope_end(&s);
    nb_safetensors_free(io, n);
    printf("%-22s into %s: outputs within %.2g of torch's\n", weights, nb_dtype_name(dt), e);
    return e;
}

static void torch_files_load_by_name(void **state) {
    (void)state;
    nb_module *m = mlp(4);
    assert_true(run_model(m, NB_F32, "mlp.safetensors", "mlp_io.safetensors", "y") <= 1e-6);
    nb_module_free(m);
    m = mlp(4);
    assert_true(run_model(m, NB_F64, "mlp_f64.safetensors", "mlp_io.safetensors", "y_f64") <= 1e-12);
    nb_module_free(m);
    m = mlp(4);
    assert_true(run_model(m, NB_F32, "mlp_f16.safetensors", "mlp_io.safetensors", "y_f16") <= 1e-6);
    nb_module_free(m);
    m = mlp(4);
    assert_true(run_model(m, NB_F32, "mlp_bf16.safetensors", "mlp_io.safetensors", "y_bf16") <= 1e-6);
    nb_module_free(m);
    m = cnn();
    assert_true(run_model(m, NB_F32, "cnn.safetensors", "cnn_io.safetensors", "y") <= 1e-6);
    /* BatchNorm's buffers came with it */
    assert_true(nb_get(nb_module_get(m, "1.num_batches_tracked"), 0) == 3);
    assert_true(nb_get(nb_module_get(m, "1.running_var"), 0) != 1);
    nb_module_free(m);
    /* the sequence and attention layers: PyTorch's parameter names map directly */
    m = lstm();
    assert_true(run_model(m, NB_F32, "lstm.safetensors", "lstm_io.safetensors", "y") <= 1e-6);
    assert_non_null(nb_module_get(m, "weight_hh_l1_reverse"));
    nb_module_free(m);
    m = block();
    assert_true(run_model(m, NB_F32, "block.safetensors", "block_io.safetensors", "y") <= 1e-6);
    assert_non_null(nb_module_get(m, "self_attn.in_proj_weight"));
    nb_module_free(m);
}

/* nabla saves a model loaded from torch's file plus "io.x" / "io.y" (its own
 * outputs); a fresh model loads it back to the same bits; the file is left
 * for tests/test_safetensors_torch.sh, which loads it into the torch model. */
static void save_round_trip(const char *model, nb_module *(*make)(void), const char *io_file) {
    nb_module *m = make();
    nb_module_train(m, false);
    assert_int_equal(nb_safetensors_load(m, fx(model), true, NULL, err, sizeof err), NB_OK);
    nb_named_tensor *io;
    int n;
    assert_int_equal(nb_safetensors_read(fx(io_file), &io, &n, err, sizeof err), NB_OK);
    nb_tensor *x = get(io, n, "x");
    nb_scope *sc = nb_scope_begin(); /* the model's intermediates (an LSTM makes many) go with it */
    nb_tensor *y = nb_forward(m, x);
    const int nt = nb_module_named_tensors(m, NULL, 0);
    nb_named_tensor *all = calloc((size_t)nt + 2, sizeof *all);
    nb_module_named_tensors(m, all, nt);
    all[nt] = (nb_named_tensor){"io.x", x};
    all[nt + 1] = (nb_named_tensor){"io.y", y};
    char path[1024];
    const char *dir = getenv("NB_ST_OUT");
    snprintf(path, sizeof path, "%s/nabla_%s", dir ? dir : NB_ST_OUT, model);
    nb_status st = nb_safetensors_save_tensors(path, all, nt + 2, NULL, 0, err, sizeof err);
    if (st != NB_OK) fprintf(stderr, "%s\n", err);
    assert_int_equal(st, NB_OK);
    free(all);

    nb_module *m2 = make();
    nb_module_train(m2, false);
    nb_load_report r;
    assert_int_equal(nb_safetensors_load(m2, path, false, &r, err, sizeof err), NB_OK);
    assert_int_equal(r.n_missing, 0);
    assert_int_equal(r.n_unexpected, 2); /* io.x, io.y */
    nb_load_report_free(&r);
    nb_tensor *y2 = nb_forward(m2, x);
    assert_memory_equal(y2->data, y->data, (size_t)y->numel * nb_dtype_size(y->dtype));
    nb_scope_end(&sc);
    nb_safetensors_free(io, n);
    nb_module_free(m);
    nb_module_free(m2);
}
static nb_module *mlp4(void) { return mlp(4); }
static void nabla_files_round_trip(void **state) {
    (void)state;
    save_round_trip("mlp.safetensors", mlp4, "mlp_io.safetensors");
    save_round_trip("cnn.safetensors", cnn, "cnn_io.safetensors");
    save_round_trip("lstm.safetensors", lstm, "lstm_io.safetensors");
    save_round_trip("block.safetensors", block, "block_io.safetensors");
}

static bool report_has(char **list, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strstr(list[i], s)) return true;
    return false;
}

static void strict_and_non_strict(void **state) {
    (void)state;
    /* a model with one more layer: 3.weight and 3.bias are missing */
    nb_module *big = nb_sequential(nb_linear(8, 16), nb_relu_layer(), nb_linear(16, 4), nb_linear(4, 2), NULL);
    nb_tensor *before = nb_copy_persistent(nb_module_get(big, "0.weight"));
    nb_load_report r;
    assert_int_equal(nb_safetensors_load(big, fx("mlp.safetensors"), true, &r, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "3.weight"));
    assert_non_null(strstr(err, "3.bias"));
    assert_int_equal(r.n_missing, 2);
    assert_memory_equal(nb_module_get(big, "0.weight")->data, before->data, (size_t)before->numel * 4);
    nb_load_report_free(&r);
    assert_int_equal(nb_safetensors_load(big, fx("mlp.safetensors"), false, &r, err, sizeof err), NB_OK);
    assert_int_equal(r.n_missing, 2);
    assert_true(report_has(r.missing, r.n_missing, "3.weight"));
    assert_int_equal(r.n_unexpected, 0);
    assert_memory_not_equal(nb_module_get(big, "0.weight")->data, before->data, (size_t)before->numel * 4);
    nb_load_report_free(&r);
    nb_tensor_free(before);
    nb_module_free(big);

    /* a smaller model: 2.weight and 2.bias are unexpected */
    nb_module *small = nb_sequential(nb_linear(8, 16), NULL);
    assert_int_equal(nb_safetensors_load(small, fx("mlp.safetensors"), true, &r, err, sizeof err), NB_ERR_IO);
    assert_int_equal(r.n_unexpected, 2);
    assert_true(report_has(r.unexpected, r.n_unexpected, "2.bias"));
    nb_load_report_free(&r);
    assert_int_equal(nb_safetensors_load(small, fx("mlp.safetensors"), false, NULL, err, sizeof err), NB_OK);
    nb_module_free(small);

    /* another output size: both mis-shaped names reported, nothing loaded even when not strict */
    nb_module *other = mlp(3);
    before = nb_copy_persistent(nb_module_get(other, "0.weight"));
    assert_int_equal(nb_safetensors_load(other, fx("mlp.safetensors"), false, &r, err, sizeof err), NB_ERR_IO);
    assert_int_equal(r.n_mismatched, 2);
    assert_true(report_has(r.mismatched, r.n_mismatched, "2.weight: file (4,16) F32, model (3,16) f32"));
    assert_non_null(strstr(err, "2.bias"));
    assert_memory_equal(nb_module_get(other, "0.weight")->data, before->data, (size_t)before->numel * 4);
    nb_load_report_free(&r);
    nb_tensor_free(before);
    nb_module_free(other);
}

/* ---------------------------------------------------------- damaged files */

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* A file from a header text and `data` zero bytes. */
static unsigned char *craft(const char *json, size_t data, size_t *len) {
    const size_t jl = strlen(json);
    *len = 8 + jl + data;
    unsigned char *b = calloc(*len, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(b + 8, json, jl);
    return b;
}

static void expect_bad(const char *json, size_t data, const char *needle) {
    size_t len;
    unsigned char *b = craft(json, data, &len);
    nb_named_tensor *ts;
    int n;
    nb_status st = nb_safetensors_read_mem(b, len, &ts, &n, err, sizeof err);
    if (st == NB_OK || !strstr(err, needle)) fprintf(stderr, "%s\n  -> %s (wanted '%s')\n", json, err, needle);
    assert_int_equal(st, NB_ERR_IO);
    assert_non_null(strstr(err, needle));
    free(b);
}

static void damaged_files_are_errors(void **state) {
    (void)state;
    size_t len;
    unsigned char *good = slurp(fx("cnn.safetensors"), &len);
    nb_module *m = cnn();
    for (size_t cut = 0; cut < len; cut++) /* every truncation */
        assert_int_equal(nb_safetensors_load_mem(m, good, cut, true, NULL, err, sizeof err), NB_ERR_IO);
    for (size_t i = 8; i < len; i += 7) { /* flipped bytes: an error or a load, never a crash */
        good[i] ^= 0x5a;
        nb_safetensors_load_mem(m, good, len, false, NULL, err, sizeof err);
        good[i] ^= 0x5a;
    }
    assert_int_equal(nb_safetensors_load_mem(m, good, len, true, NULL, err, sizeof err), NB_OK);
    free(good);
    nb_module_free(m);

    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "header JSON");
    expect_bad("[1,2]", 0, "not a JSON object");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12 bytes");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "run past the data");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8,
               "overflows");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "overlap");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "after the last tensor");
    expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "dtype U8");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "not a size");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "begin <= end");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dims");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "header JSON"); /* duplicate key */
    /* a header length past the end */
    unsigned char b[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    nb_named_tensor *ts;
    int n;
    assert_int_equal(nb_safetensors_read_mem(b, sizeof b, &ts, &n, err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "runs past the file"));
    /* files that are not there, or not files */
    assert_int_equal(nb_safetensors_read("/nonexistent/x.safetensors", &ts, &n, err, sizeof err), NB_ERR_IO);
    assert_int_equal(nb_safetensors_read(NB_ST_FIXTURES, &ts, &n, err, sizeof err), NB_ERR_IO);
    nb_module *mm = mlp(4);
    assert_int_equal(nb_safetensors_save(mm, "/nonexistent/dir/x.safetensors", err, sizeof err), NB_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/dir/x.safetensors"));
    nb_module_free(mm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torch_files_load_by_name),
        cmocka_unit_test(nabla_files_round_trip),
        cmocka_unit_test(strict_and_non_strict),
        cmocka_unit_test(damaged_files_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
