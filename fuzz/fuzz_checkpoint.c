/* fuzz/fuzz_checkpoint.c — nb_checkpoint_load_mem on arbitrary bytes into a
 * fixed model: "w" f32 (2,3), "b" f64 (3), "n" i64 (2), "s" f32 ().
 *
 * Every header and record carries an XXH3 checksum, so random mutations
 * almost always stop at "checksum mismatch". Byte 0, bit 0 set: the harness
 * walks the format (as far as it parses) and rewrites every checksum before
 * loading, so mutations reach the shape/name/dtype/count checks behind them;
 * clear: the rest is loaded as is. On failure the model must be unchanged. */
#include "fuzz_common.h"
#include <xxhash.h>

static uint64_t rd(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites the checksums of b[0..n) in place as far as the layout parses. */
static void fix_sums(uint8_t *b, size_t n) {
    size_t pos = 8 + 4 + 4 + 8 + 8 + 8 + 32 + 8 + 4 + 4;
    if (n < pos) return;
    uint64_t count = rd(b + 16, 8);
    uint32_t nkv = (uint32_t)rd(b + pos - 4, 4);
    if (nkv > 64) return;
    for (uint32_t i = 0; i < nkv; i++) {
        if (n - pos < 2) return;
        size_t kl = (size_t)rd(b + pos, 2);
        if (n - pos - 2 < kl + 8) return;
        pos += 2 + kl + 8;
    }
    if (n - pos < 8) return;
    wr64(b + pos, XXH3_64bits(b, pos));
    pos += 8;
    for (uint64_t k = 0; k < count && k < 64; k++) {
        size_t start = pos;
        if (n - pos < 2) return;
        size_t nl = (size_t)rd(b + pos, 2);
        if (n - pos - 2 < nl + 2) return;
        pos += 2 + nl;
        unsigned dt = b[pos], nd = b[pos + 1];
        pos += 2;
        if (dt > 2 || nd > 8) return;
        uint64_t numel = 1;
        for (unsigned d = 0; d < nd; d++) {
            if (n - pos < 8) return;
            uint64_t v = rd(b + pos, 8);
            if (v > (1u << 20)) return;
            numel *= v;
            if (numel > (1u << 20)) return;
            pos += 8;
        }
        size_t nbytes = (size_t)numel * (dt == 0 ? 4 : 8);
        if (n - pos < nbytes + 8) return;
        pos += nbytes;
        wr64(b + pos, XXH3_64bits(b + start, pos - start));
        pos += 8;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static nb_tensor *w, *bb, *nn, *s;
    nbf_init();
    if (!w) {
        w = nb_zeros(NB_F32, NB_SHAPE(2, 3));
        bb = nb_zeros(NB_F64, NB_SHAPE(3));
        nn = nb_zeros(NB_I64, NB_SHAPE(2));
        s = nb_zeros(NB_F32, NB_SCALAR);
    }
    /* a known pattern, to see that a failed load writes nothing */
    for (int i = 0; i < 6; i++) nb_f32(w)[i] = 7.0f;
    for (int i = 0; i < 3; i++) nb_f64(bb)[i] = 7.0;
    for (int i = 0; i < 2; i++) nb_i64(nn)[i] = 7;
    nb_f32(s)[0] = 7.0f;
    nb_named_tensor ts[4] = {{"w", w}, {"b", bb}, {"n", nn}, {"s", s}};

    uint8_t *copy = NULL;
    if (data[0] & 1) {
        copy = malloc(size - 1 ? size - 1 : 1);
        if (!copy) abort();
        memcpy(copy, data + 1, size - 1);
        fix_sums(copy, size - 1);
    }
    nb_ckpt_meta meta;
    memset(&meta, 0x5a, sizeof meta);
    char err[512];
    nb_status st = nb_checkpoint_load_mem(copy ? copy : data + 1, size - 1, ts, 4, &meta, err, sizeof err);
    free(copy);
    nbf_check_err(st, err);
    if (st != NB_OK) {
        for (int i = 0; i < 6; i++)
            if (nb_f32(w)[i] != 7.0f) abort();
        for (int i = 0; i < 3; i++)
            if (nb_f64(bb)[i] != 7.0) abort();
        for (int i = 0; i < 2; i++)
            if (nb_i64(nn)[i] != 7) abort();
        if (nb_f32(s)[0] != 7.0f) abort();
        const uint8_t *m = (const uint8_t *)&meta;
        for (size_t i = 0; i < sizeof meta; i++)
            if (m[i] != 0x5a) abort();
    } else {
        if (meta.nkv < 0 || meta.nkv > NB_CKPT_MAX_KV) abort();
        for (int i = 0; i < meta.nkv; i++)
            if (strnlen(meta.kv[i].key, NB_CKPT_KEY_MAX) >= NB_CKPT_KEY_MAX) abort();
    }
    return 0;
}
