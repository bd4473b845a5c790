/* 14 — convolution, by hand and in a network.
 *
 * A convolutional layer slides an f×f kernel over the input and takes a dot
 * product at every position (deep learning's "convolution" is the
 * cross-correlation: the kernel is not flipped):
 *   y[i][j] = Σ_{a<f} Σ_{b<f} x[i·s + a][j·s + b] · w[a][b]
 * With padding p and stride s, an n×n input gives an output of side
 *   ⌊(n + 2p − f)/s⌋ + 1.
 * "VALID" means p = 0; "SAME" pads so that the output side is ⌈n/s⌉
 * (n itself at stride 1: p = (f − 1)/2 for odd f).
 * Part 1 computes the lecture's 5×5 example with loops and with nb_conv2d;
 * part 2 checks the size formula against nb_conv2d's output shapes; part 3
 * trains a small CNN (conv-relu-pool ×2, linear) on 2000 Fashion-MNIST
 * images for 2 epochs (--full: 10000 images, 5 epochs). */
#include "tutorial_data.h"
#include <math.h>
#include <string.h>

static int out_size(int n, int f, int p, int s) { return (n + 2 * p - f) / s + 1; }

/* the output side nb_conv2d gives for an n×n input and an f×f kernel */
static int64_t conv_side(int n, int f, nb_conv2d_opts o) {
    nb_scope *sc = nb_scope_begin();
    nb_tensor *y = nb_conv2d(nb_zeros(NB_F32, NB_SHAPE(1, 1, n, n)), nb_zeros(NB_F32, NB_SHAPE(1, 1, f, f)), NULL, &o);
    int64_t side = y ? nb_dim(y, 3) : -1;
    nb_scope_end(&sc);
    return side;
}

typedef struct cnn {
    nb_module *c1, *c2, *fc;
} cnn;
static nb_tensor *cnn_forward(nb_module *m, nb_tensor *x) {
    cnn *net = nb_module_data(m);
    nb_tensor *h = nb_max_pool2d(nb_relu(nb_forward(net->c1, x)), 2, 2, 2, 2, 0, 0); /* (N, 8, 14, 14) */
    h = nb_max_pool2d(nb_relu(nb_forward(net->c2, h)), 2, 2, 2, 2, 0, 0);            /* (N, 16, 7, 7) */
    return nb_forward(net->fc, nb_flatten(h, 1, -1));                                /* (N, 10) */
}

int main(int argc, char **argv) {
    bool full = argc > 1 && !strcmp(argv[1], "--full");
    int bad = 0;
    const double X[5][5] = {{3, 3, 2, 1, 0}, {0, 0, 1, 3, 1}, {3, 1, 2, 2, 3}, {2, 0, 0, 2, 2}, {2, 0, 0, 0, 1}};
    const double Wk[3][3] = {{0, 1, 2}, {2, 2, 0}, {0, 1, 2}};
    const double expect[3][3] = {{12, 12, 17}, {10, 17, 19}, {9, 6, 14}};

    printf("1. the 5x5 input convolved with the 3x3 kernel (stride 1, no padding)\n   by loops      by nb_conv2d\n");
    nb_scope *sc = nb_scope_begin();
    nb_tensor *y = nb_conv2d(nb_from_f64(NB_SHAPE(1, 1, 5, 5), &X[0][0]), nb_from_f64(NB_SHAPE(1, 1, 3, 3), &Wk[0][0]),
                             NULL, NULL);
    for (int i = 0; i < 3; i++) {
        double byhand[3];
        for (int j = 0; j < 3; j++) {
            byhand[j] = 0;
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) byhand[j] += X[i + a][j + b] * Wk[a][b];
            bad += byhand[j] != expect[i][j] || nb_f64(y)[3 * i + j] != expect[i][j];
        }
        printf("   %3g %3g %3g   %3g %3g %3g\n", byhand[0], byhand[1], byhand[2], nb_f64(y)[3 * i],
               nb_f64(y)[3 * i + 1], nb_f64(y)[3 * i + 2]);
    }
    nb_scope_end(&sc);

    printf("\n2. output side floor((n + 2p - f)/s) + 1 against nb_conv2d\n");
    const struct {
        int n, f, p, s;
        nb_padding pad;
        const char *what;
    } cases[] = {
        {5, 3, 0, 1, NB_PAD_EXPLICIT, "the example above"},
        {5, 3, 1, 1, NB_PAD_EXPLICIT, "p = (f-1)/2 keeps the size"},
        {7, 3, 0, 2, NB_PAD_EXPLICIT, "stride 2"},
        {32, 5, 2, 1, NB_PAD_EXPLICIT, "32x32 image, 5x5 filters, pad 2"},
        {28, 5, 0, 2, NB_PAD_VALID, "VALID = no padding"},
        {28, 5, 0, 1, NB_PAD_SAME, "SAME, stride 1: n"},
        {28, 5, 0, 2, NB_PAD_SAME, "SAME, stride 2: ceil(n/s)"},
        {7, 3, 0, 3, NB_PAD_EXPLICIT, "stride 3 doesn't fit: floor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_conv2d_opts o = NB_CONV2D_DEFAULT;
        o.stride[0] = o.stride[1] = cases[i].s;
        o.pad[0] = o.pad[1] = cases[i].p;
        o.padding = cases[i].pad;
        int formula = cases[i].pad == NB_PAD_SAME ? (cases[i].n + cases[i].s - 1) / cases[i].s
                                                  : out_size(cases[i].n, cases[i].f, cases[i].p, cases[i].s);
        int64_t got = conv_side(cases[i].n, cases[i].f, o);
        bad += got != formula;
        printf("   n=%-2d f=%d p=%d s=%d %-5s -> %2d (nb_conv2d %2lld)  %s\n", cases[i].n, cases[i].f,
               cases[i].pad == NB_PAD_EXPLICIT ? cases[i].p : 0, cases[i].s,
               cases[i].pad == NB_PAD_SAME        ? "SAME"
                   : cases[i].pad == NB_PAD_VALID ? "VALID"
                                                  : "",
               formula, (long long)got, cases[i].what);
    }
    printf(bad ? "MISMATCH in parts 1-2\n" : "OK: loops, nb_conv2d and the formula agree\n");

    int64_t ntrain = full ? 10000 : 2000, ntest = full ? 2000 : 500;
    int epochs = full ? 5 : 2;
    nb_dataset train, test;
    int rc = load_subset(0, ntrain, ntest, &train, &test);
    if (rc) return bad ? 1 : rc;
    printf("\n3. a small CNN on %lld Fashion-MNIST images, %d epochs of Adam (lr 2e-3, batches of 32)\n",
           (long long)ntrain, epochs);
    nb_seed(14);
    nb_module *m = nb_module_new("CNN", cnn_forward, sizeof(cnn));
    cnn *net = nb_module_data(m);
    net->c1 = nb_module_add(m, "c1", nb_conv2d_layer(1, 8, 3, 1, 1));
    net->c2 = nb_module_add(m, "c2", nb_conv2d_layer(8, 16, 3, 1, 1));
    net->fc = nb_module_add(m, "fc", nb_linear(16 * 7 * 7, 10));
    nb_module_print(stdout, m);
    nb_optim *opt = nb_optim_adam(m, 2e-3);
    nb_loader *loader = nb_loader_new(&train, 32, NB_SHUFFLE);
    double acc_tr = 0, acc_te = 0;
    for (int e = 1; e <= epochs; e++) {
        double loss = train_epoch(m, opt, loader);
        acc_tr = accuracy(m, train.x, train.y);
        acc_te = accuracy(m, test.x, test.y);
        printf("   epoch %d  loss %.4f  training accuracy %.1f%%  test accuracy %.1f%%\n", e, loss, 100 * acc_tr,
               100 * acc_te);
    }
    bad += !(acc_te > 0.70);
    printf(bad ? "MISMATCH: the CNN did not learn\n" : "OK: the CNN classifies over 70%% of the test images\n");
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_module_free(m);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    return bad ? 1 : 0;
}
