/* fuzz/gen_seeds.c — writes the seed corpora with the library itself:
 *   gen_seeds <fuzz/corpus>
 * IDX files of every type code and a few shapes (plain and .gz), CSV tables
 * in several dialects, and checkpoints of the fuzz_checkpoint model. Each
 * seed starts with the harness's option byte (see each fuzz_*.c). */
#define _GNU_SOURCE
#include <nabla/nabla.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put(const char *dir, const char *name, const uint8_t *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t idx_make(uint8_t *b, int code, int ndim, const uint32_t *dims) {
    static const int sizes[16] = {[8] = 1, [9] = 1, [0xB] = 2, [0xC] = 4, [0xD] = 4, [0xE] = 8};
    size_t n = 0, numel = 1;
    b[n++] = 0, b[n++] = 0, b[n++] = (uint8_t)code, b[n++] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        for (int k = 3; k >= 0; k--) b[n++] = (uint8_t)(dims[i] >> (8 * k));
        numel *= dims[i];
    }
    for (size_t i = 0; i < numel; i++) {
        double v = (double)(i % 7) - 2.0;
        uint8_t e[8];
        switch (code) {
        case 8: e[0] = (uint8_t)(i * 37); break;
        case 9: e[0] = (uint8_t)(int8_t)v; break;
        case 0xB: {
            int16_t x = (int16_t)(v * 100);
            e[0] = (uint8_t)((uint16_t)x >> 8), e[1] = (uint8_t)x;
            break;
        }
        case 0xC: {
            int32_t x = (int32_t)(v * 1000);
            for (int k = 0; k < 4; k++) e[k] = (uint8_t)((uint32_t)x >> (24 - 8 * k));
            break;
        }
        case 0xD: {
            float f = (float)v * 0.5f;
            uint32_t u;
            memcpy(&u, &f, 4);
            for (int k = 0; k < 4; k++) e[k] = (uint8_t)(u >> (24 - 8 * k));
            break;
        }
        default: {
            double d = v;
            uint64_t u;
            memcpy(&u, &d, 8);
            for (int k = 0; k < 8; k++) e[k] = (uint8_t)(u >> (56 - 8 * k));
        }
        }
        memcpy(b + n, e, (size_t)sizes[code]);
        n += (size_t)sizes[code];
    }
    return n;
}

static size_t gz(const uint8_t *p, size_t n, uint8_t *o, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)p, z.avail_in = (uInt)n, z.next_out = o, z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t r = cap - z.avail_out;
    deflateEnd(&z);
    return r;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds <corpus dir>\n");
        return 2;
    }
    const char *root = argv[1];
    char d_idx[512], d_gz[512], d_csv[512], d_ck[512], name[256];
    snprintf(d_idx, sizeof d_idx, "%s/fuzz_idx", root);
    snprintf(d_gz, sizeof d_gz, "%s/fuzz_idx_gz", root);
    snprintf(d_csv, sizeof d_csv, "%s/fuzz_csv", root);
    snprintf(d_ck, sizeof d_ck, "%s/fuzz_checkpoint", root);

    /* IDX: every type, 1-4 dims, as plain (fuzz_idx), gzip'ed raw and
     * to-be-compressed by the harness (fuzz_idx_gz). */
    static const int codes[6] = {8, 9, 0xB, 0xC, 0xD, 0xE};
    static const uint32_t shapes[4][4] = {{5}, {3, 4}, {2, 3, 3}, {2, 2, 2, 3}};
    static uint8_t b[1 << 16], z[1 << 16];
    for (int c = 0; c < 6; c++)
        for (int s = 0; s < 4; s++) {
            if ((c + s) % 2) continue; /* a dozen is enough */
            size_t n = idx_make(b + 1, codes[c], s + 1, shapes[s]);
            b[0] = (uint8_t)(c % 3);
            snprintf(name, sizeof name, "seed_t%02x_d%d.idx", codes[c], s + 1);
            put(d_idx, name, b, n + 1);
            b[0] = (uint8_t)(1 | ((c % 3) << 1));
            snprintf(name, sizeof name, "seed_t%02x_d%d.raw", codes[c], s + 1);
            put(d_gz, name, b, n + 1);
            z[0] = (uint8_t)((c % 3) << 1);
            size_t zn = gz(b + 1, n, z + 1, sizeof z - 1);
            snprintf(name, sizeof name, "seed_t%02x_d%d.gz", codes[c], s + 1);
            put(d_gz, name, z, zn + 1);
        }
    { /* an MNIST-like image block, 2 images 28x28 */
        uint32_t dims[3] = {2, 28, 28};
        size_t n = idx_make(b + 1, 8, 3, dims);
        b[0] = 0;
        put(d_idx, "seed_mnist2.idx", b, n + 1);
        z[0] = 0;
        size_t zn = gz(b + 1, n, z + 1, sizeof z - 1);
        put(d_gz, "seed_mnist2.gz", z, zn + 1);
    }

    /* CSV: option byte + text (see fuzz_csv.c for the byte's bits). */
    static const struct {
        unsigned opt;
        const char *text;
    } csvs[] = {
        {0x00, "a,b,y\n1,2,0\n3.5,-4e2,1\n"},
        {0x04, "1,2,3\n4,5,6\r\n\n7,8,9\n"},
        {0x01, "x1;x2;y\n0.5;1.5;2\n  2 ; 3 ;4\n"},
        {0x02, "1\t2\t3\n4\t5\t6\n"},
        {0x30, "1.0,2.0\n3.0,4.0\n"},
        {0x28, "\"y\",\"x\"\n1,0.25\n0,-0.75\n"},
        {0x88, "h1,h2\n1,2.5\n3,4.5\n"},
        {0x40, "nan,inf,1\n-inf,1e308,2\n0x1p3,  7  ,3\n"},
        {0x10, "2,1e-5,3\n1,2,3\n"},
    };
    for (size_t i = 0; i < sizeof csvs / sizeof csvs[0]; i++) {
        size_t n = strlen(csvs[i].text);
        b[0] = (uint8_t)csvs[i].opt;
        memcpy(b + 1, csvs[i].text, n);
        snprintf(name, sizeof name, "seed_%02zu.csv", i);
        put(d_csv, name, b, n + 1);
    }

    /* Checkpoints of the fuzz_checkpoint model, saved by the library. */
    nb_seed(1);
    nb_tensor *w = nb_randn(NB_F32, NB_SHAPE(2, 3), 0, 1), *bb = nb_randn(NB_F64, NB_SHAPE(3), 0, 1);
    nb_tensor *nn = nb_zeros(NB_I64, NB_SHAPE(2)), *s = nb_scalar(NB_F32, 3.5);
    nb_i64(nn)[0] = 42, nb_i64(nn)[1] = -1;
    nb_named_tensor ts[4] = {{"w", w}, {"b", bb}, {"n", nn}, {"s", s}};
    char tmp[] = "/tmp/nb_gen_seeds_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char path[600], err[256];
    for (int v = 0; v < 3; v++) {
        nb_ckpt_meta m = nb_ckpt_meta_now(v, 100 * v);
        for (int k = 0; k < v * 2; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", k);
            nb_ckpt_meta_set(&m, key, k * 0.5);
        }
        snprintf(path, sizeof path, "%s/c%d.ckpt", tmp, v);
        /* a different tensor order each time */
        nb_named_tensor o[4] = {ts[v % 4], ts[(v + 1) % 4], ts[(v + 2) % 4], ts[(v + 3) % 4]};
        if (nb_checkpoint_save(path, o, 4, &m, err, sizeof err) != NB_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        size_t n = 0;
        uint8_t *f = slurp(path, &n);
        memcpy(b + 1, f, n);
        free(f);
        remove(path);
        b[0] = 1;
        snprintf(name, sizeof name, "seed_fix%d.ckpt", v);
        put(d_ck, name, b, n + 1);
        b[0] = 0;
        snprintf(name, sizeof name, "seed_raw%d.ckpt", v);
        put(d_ck, name, b, n + 1);
    }
    remove(tmp);
    nb_tensor_free(w), nb_tensor_free(bb), nb_tensor_free(nn), nb_tensor_free(s);
    printf("seeds written under %s\n", root);
    return 0;
}
