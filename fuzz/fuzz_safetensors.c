/* fuzz/fuzz_safetensors.c — nb_safetensors_read_mem and
 * nb_safetensors_load_mem on arbitrary bytes. The model is the fixtures' CNN
 * (conv, BatchNorm with its I64 num_batches_tracked, linear), so a mutated
 * torch file reaches name matching, dtype conversion and shape checks. On
 * failure the model must be unchanged; on success every tensor read must
 * have the element count its shape says. */
#include "fuzz_common.h"

static nb_module *model(void) {
    static nb_module *m;
    if (!m)
        m = nb_sequential(nb_conv2d_layer(1, 4, 3, 1, 1), nb_batchnorm2d(4), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                          nb_flatten_layer(), nb_linear(64, 5), NULL);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nbf_init();
    char err[512];
    nb_named_tensor *ts;
    int n;
    nb_status st = nb_safetensors_read_mem(data, size, &ts, &n, err, sizeof err);
    nbf_check_err(st, err);
    if (st == NB_OK) {
        for (int i = 0; i < n; i++)
            if (nb_shape_numel(ts[i].t->shape) != ts[i].t->numel) abort();
        nb_safetensors_free(ts, n);
    }
    nb_module *m = model();
    nb_tensor *w = nb_module_get(m, "0.weight");
    float before[36];
    memcpy(before, w->data, sizeof before);
    nb_load_report r;
    st = nb_safetensors_load_mem(m, data, size, size & 1, &r, err, sizeof err);
    nbf_check_err(st, err);
    if (st != NB_OK && memcmp(before, w->data, sizeof before) != 0) abort(); /* changed on failure */
    nb_load_report_free(&r);
    return 0;
}
