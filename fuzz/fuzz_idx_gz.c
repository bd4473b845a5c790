/* fuzz/fuzz_idx_gz.c — nb_idx_load_mem through the gzip path.
 * Byte 0: bit 0 set = gzip-compress the rest in the harness (so mutations
 * explore IDX structure behind a valid gzip stream), clear = write the rest
 * as is (seeds are .gz files: mutations explore corrupt gzip streams);
 * bits 1-2 = dtype asked for. */
#include "fuzz_common.h"
#include <zlib.h>

static uint8_t *gz(const uint8_t *p, size_t n, size_t *out_n) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *o = malloc(cap);
    if (!o) abort();
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    nb_dtype dt = (nb_dtype)((data[0] >> 1) % 3);
    nbf_init();
    uint8_t *z = NULL;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) in = z = gz(data + 1, size - 1, &n);
    nb_tensor *t = (nb_tensor *)1;
    char err[512];
    nb_status st = nb_idx_load_mem(in, n, dt, &t, err, sizeof err);
    free(z);
    nbf_check_err(st, err);
    if (st == NB_OK) {
        if (!t || t->dtype != dt) abort();
        volatile double s = 0;
        for (int64_t i = 0; i < t->numel; i++) s += nb_get(t, i);
        (void)s;
        nb_tensor_free(t);
    } else if (t != NULL) {
        abort();
    }
    return 0;
}
