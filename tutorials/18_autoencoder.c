/* 18 — an autoencoder: the lecture's unsupervised model.
 *
 * No labels: the network learns to copy its input through a bottleneck.
 *   encoder  x (784) → h = relu(x W₁ + b₁) (128) → z = h W₂ + b₂ (32)
 *   decoder  z (32)  → g = relu(z W₃ + b₃) (128) → x̂ = sigmoid(g W₄ + b₄) (784)
 * and the loss is the reconstruction error L = mean_i,j (x̂_ij − x_ij)², so
 * dL/dx̂ = 2 (x̂ − x) / (N·784) starts backprop exactly as a regression would.
 * The 32 numbers of z must hold what the 784 pixels say (24.5 times fewer):
 * the network can't copy, it must find the structure — shapes of shirts,
 * shoes and bags — that the pixels share.
 *
 * A yardstick: the best constant guess, the training set's mean image, scores
 * its variance. The autoencoder must do much better (the check at the end:
 * its test error is under half the mean image's).
 *
 * Output: the reconstruction loss per epoch (training and test), and a grid
 * (one test image of each class: originals above reconstructions) written as
 * a PNG any browser opens — PNG by hand: a signature, IHDR, the rows
 * deflated by zlib in one IDAT, IEND, each chunk with its CRC-32.
 *
 *   18_autoencoder             3000 training images, 3 epochs (seconds)
 *   18_autoencoder --full      60000 images, 10 epochs
 *   --png PATH                 where the grid goes (18_autoencoder.png)
 *
 * Adam, lr 2e-3, batches of 64; pixels in [0, 1]. */
#include "tutorial_data.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { BATCH = 64, SIDE = 28, PIX = SIDE * SIDE, SCALE = 3, GAP = 4 };

/* Mean squared error of the model's reconstructions of x (N, 784), without a
 * graph, in batches of 500. */
static double recon_mse(nb_module *ae, nb_tensor *x) {
    const int64_t n = nb_dim(x, 0);
    double total = 0;
    NB_NO_GRAD {
        for (int64_t s = 0; s < n; s += 500) {
            nb_scope *sc = nb_scope_begin();
            nb_tensor *xb = nb_narrow(x, 0, s, s + 500 < n ? 500 : n - s);
            total += nb_item(nb_mse_loss(nb_forward(ae, xb), xb, NB_REDUCE_SUM));
            nb_scope_end(&sc);
        }
    }
    return total / ((double)n * PIX);
}

/* The error of always answering the training set's mean image, on x. */
static double mean_image_mse(const nb_tensor *train, const nb_tensor *x) {
    const int64_t nt = nb_dim(train, 0), n = nb_dim(x, 0);
    double mean[PIX] = {0}, err = 0;
    for (int64_t i = 0; i < nt; i++)
        for (int j = 0; j < PIX; j++) mean[j] += nb_f32(train)[i * PIX + j];
    for (int j = 0; j < PIX; j++) mean[j] /= (double)nt;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < PIX; j++) {
            const double d = nb_f32(x)[i * PIX + j] - mean[j];
            err += d * d;
        }
    return err / ((double)n * PIX);
}

/* ------------------------------------------------------------ a grayscale PNG */

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* One chunk: length, type, data, CRC-32 of type and data. */
static bool png_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len) {
    unsigned char head[8], tail[4];
    put32(head, len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, len);
    put32(tail, (uint32_t)crc);
    return fwrite(head, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) && fwrite(tail, 1, 4, f) == 4;
}

/* 8-bit grayscale, w x h, rows of px; returns the file's size or -1. */
static long write_png_gray(const char *path, const unsigned char *px, int w, int h) {
    const size_t rowlen = (size_t)w + 1, rawlen = rowlen * (size_t)h;
    unsigned char *raw = malloc(rawlen);
    uLongf zlen = compressBound((uLong)rawlen);
    unsigned char *z = malloc(zlen);
    FILE *f = raw && z ? fopen(path, "wb") : NULL;
    long size = -1;
    if (f) {
        for (int y = 0; y < h; y++) { /* each row: filter type 0 (none), then the pixels */
            raw[y * rowlen] = 0;
            memcpy(raw + y * rowlen + 1, px + (size_t)y * (size_t)w, (size_t)w);
        }
        unsigned char ihdr[13];
        put32(ihdr, (uint32_t)w);
        put32(ihdr + 4, (uint32_t)h);
        ihdr[8] = 8, ihdr[9] = 0, ihdr[10] = 0, ihdr[11] = 0,
        ihdr[12] = 0; /* 8 bits, gray, deflate, adaptive, no interlace */
        static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        bool ok = compress2(z, &zlen, raw, (uLong)rawlen, 9) == Z_OK && fwrite(sig, 1, 8, f) == 8 &&
            png_chunk(f, "IHDR", ihdr, 13) && png_chunk(f, "IDAT", z, (uint32_t)zlen) && png_chunk(f, "IEND", NULL, 0);
        size = ok ? ftell(f) : -1;
        if (fclose(f) != 0) size = -1;
    }
    free(raw);
    free(z);
    return size;
}

/* Image k of rows (N,784) in [0,1] drawn at grid cell (row, col), SCALE x. */
static void draw(unsigned char *canvas, int w, const float *img, int row, int col) {
    const int x0 = GAP + col * (SIDE * SCALE + GAP), y0 = GAP + row * (SIDE * SCALE + GAP);
    for (int y = 0; y < SIDE * SCALE; y++)
        for (int x = 0; x < SIDE * SCALE; x++) {
            const double v = img[(y / SCALE) * SIDE + x / SCALE];
            canvas[(size_t)(y0 + y) * (size_t)w + (size_t)(x0 + x)] = (unsigned char)lrint(255 *
                                                                                           (v < 0       ? 0
                                                                                                : v > 1 ? 1
                                                                                                        : v));
        }
}

int main(int argc, char **argv) {
    bool full = false;
    const char *png = "18_autoencoder.png";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) full = true;
        else if (!strcmp(argv[i], "--png") && i + 1 < argc) png = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--full] [--png PATH]\n", argv[0]);
            return 2;
        }
    }
    nb_dataset train, test;
    int rc = load_subset(NB_MNIST_FLAT, full ? 60000 : 3000, full ? 10000 : 1000, &train, &test);
    if (rc) return rc;
    const int epochs = full ? 10 : 3;

    nb_seed(18);
    nb_module *ae = nb_sequential(
        nb_sequential(nb_linear(PIX, 128), nb_relu_layer(), nb_linear(128, 32)),                      /* encoder */
        nb_sequential(nb_linear(32, 128), nb_relu_layer(), nb_linear(128, PIX), nb_sigmoid_layer())); /* decoder */
    printf("autoencoder 784-128-32-128-784: %lld parameters, code of 32 numbers per image\n",
           (long long)nb_module_numel(ae));
    printf("%lld training images, %lld test images, %d epochs, Adam lr 2e-3, batch %d\n",
           (long long)nb_dataset_len(&train), (long long)nb_dataset_len(&test), epochs, BATCH);
    const double base = mean_image_mse(train.x, test.x);
    printf("yardstick: the mean training image reconstructs the test set with error %.4f\n\n", base);

    nb_optim *opt = nb_optim_adam(ae, 2e-3);
    nb_loader *loader = nb_loader_new(&train, BATCH, NB_SHUFFLE);
    printf("epoch  train loss  test loss\n");
    double first_test = NAN, test_loss = NAN;
    bool falling = true;
    for (int e = 1; e <= epochs; e++) {
        nb_batch b;
        double total = 0;
        int64_t nbatch = 0;
        while (nb_loader_next(loader, &b)) {
            nb_scope *sc = nb_scope_begin();
            nb_tensor *loss = nb_mse_loss(nb_forward(ae, b.x), b.x, NB_REDUCE_MEAN); /* the input is the target */
            nb_optim_zero_grad(opt);
            nb_backward(loss);
            nb_optim_step(opt);
            total += nb_item(loss);
            nbatch++;
            nb_scope_end(&sc);
        }
        const double te = recon_mse(ae, test.x);
        if (e == 1) first_test = te;
        else falling &= te < test_loss;
        test_loss = te;
        printf("%5d  %10.4f  %9.4f\n", e, total / (double)nbatch, te);
    }

    /* the grid: the first test image of each class, originals above reconstructions */
    const int w = 10 * (SIDE * SCALE + GAP) + GAP, h = 2 * (SIDE * SCALE + GAP) + GAP;
    unsigned char *canvas = calloc((size_t)w * (size_t)h, 1);
    int shown = 0;
    NB_NO_GRAD {
        nb_scope *sc = nb_scope_begin();
        for (int cls = 0; cls < 10; cls++) {
            int64_t k = 0;
            while (k < nb_dim(test.y, 0) && nb_i64(test.y)[k] != cls) k++;
            if (k == nb_dim(test.y, 0)) continue;
            nb_tensor *x = nb_narrow(test.x, 0, k, 1); /* a view: no copy */
            nb_tensor *xh = nb_forward(ae, x);
            draw(canvas, w, nb_f32(x), 0, cls);
            draw(canvas, w, nb_f32(xh), 1, cls);
            shown++;
        }
        nb_scope_end(&sc);
    }
    const long bytes = write_png_gray(png, canvas, w, h);
    free(canvas);
    if (bytes > 0)
        printf("\nwrote %s: %dx%d PNG, %ld bytes, %d classes (originals on top, reconstructions below)\n", png, w, h,
               bytes, shown);
    else printf("\ncould not write %s\n", png);

    const bool ok = bytes > 0 && shown == 10 && falling && test_loss < 0.5 * base && test_loss < first_test;
    if (ok)
        printf("OK: the test reconstruction error fell every epoch, to %.4f: under half the mean image's %.4f\n",
               test_loss, base);
    else
        printf("MISMATCH: the test error %.4f (first epoch %.4f, mean image %.4f) or the picture is not as claimed\n",
               test_loss, first_test, base);
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_module_free(ae);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    return ok ? 0 : 1;
}
