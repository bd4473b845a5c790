/* fuzz/fuzz_csv.c — nb_csv_load_mem on arbitrary bytes. Byte 0 picks the
 * options (delimiter, header mode, label column, dtypes); the rest is the file. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned b = data[0];
    nb_csv_opts o = nb_csv_defaults();
    static const char delims[4] = {',', ';', '\t', ' '};
    o.delim = delims[b & 3];
    o.header = (int)((b >> 2) % 3) - 1; /* -1, 0, 1      */
    static const int labels[4] = {-1, 0, 1, NB_CSV_NO_LABEL};
    o.label_col = labels[(b >> 4) & 3];
    o.dtype = (b >> 6) & 1 ? NB_F64 : NB_F32;
    o.label_dtype = (b >> 7) & 1 ? NB_F32 : NB_I64;
    if (((b >> 2) % 3) == 1 && ((b >> 4) & 3) == 2) o.label_name = "y";
    nbf_init();
    nb_dataset ds = {(nb_tensor *)1, (nb_tensor *)1};
    char err[512];
    nb_status st = nb_csv_load_mem(data + 1, size - 1, &o, &ds, err, sizeof err);
    nbf_check_err(st, err);
    if (st == NB_OK) {
        if (!ds.x || ds.x->shape.ndim != 2) abort();
        if (ds.y && (ds.y->shape.ndim != 1 || ds.y->shape.d[0] != ds.x->shape.d[0])) abort();
        volatile double s = 0;
        for (int64_t i = 0; i < ds.x->numel; i++) s += nb_get(ds.x, i);
        (void)s;
        nb_dataset_free(&ds);
    } else if (ds.x || ds.y) {
        abort();
    }
    return 0;
}
