/* fuzz/fuzz_idx.c — nb_idx_load_mem on arbitrary bytes (plain IDX; a gzip
 * stream in the input goes through zlib too). The first byte picks the dtype
 * asked for; the rest is the file. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    nb_dtype dt = (nb_dtype)(data[0] % 3);
    nbf_init();
    nb_tensor *t = (nb_tensor *)1;
    char err[512];
    nb_status st = nb_idx_load_mem(data + 1, size - 1, dt, &t, err, sizeof err);
    nbf_check_err(st, err);
    if (st == NB_OK) {
        if (!t || t->dtype != dt || t->numel != nb_shape_numel(t->shape)) abort();
        /* the promised bytes are all in the input (plain) or its expansion */
        volatile double s = 0;
        for (int64_t i = 0; i < t->numel; i++) s += nb_get(t, i);
        (void)s;
        nb_tensor_free(t);
    } else if (t != NULL) {
        abort(); /* a failed call leaves *out NULL */
    }
    return 0;
}
