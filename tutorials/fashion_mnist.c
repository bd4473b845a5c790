/* fashion_mnist — the flagship demo: an MLP and a LeNet-style CNN trained on
 * Fashion-MNIST with a progress bar, loss/accuracy curves and a checkpoint.
 *
 *   fashion_mnist              short run: 1 epoch on 6000 images (seconds)
 *   fashion_mnist --full       the real thing: 10 epochs on 55000 images,
 *                              5000 held out for validation, tested on 10000
 *   options: --model mlp|cnn|both  --epochs N  --train N  --data DIR  --out DIR
 *   mpirun -np 2 fashion_mnist --full
 *                              the same on 2 processes (nabla/dist.h): each
 *                              takes 32 of every 64-image batch, gradients
 *                              are averaged; only rank 0 prints and writes
 *
 * What it does, in the order the lecture does it:
 *  1. load the IDX files (Debian's dataset-fashion-mnist, or --data DIR, or
 *     $NB_FASHION_MNIST), pixels scaled to [0, 1];
 *  2. hold out a validation set (a seeded shuffle) and normalize with the
 *     TRAINING set's mean/std (per channel), applied to every set;
 *  3. train with Adam (lr 1e-3, batch 64, reshuffled each epoch), one scope
 *     per step so memory stays flat, a progress bar on a terminal;
 *  4. after each epoch measure validation loss/accuracy; write the curves as
 *     CSV and SVG (train blue, validation red);
 *  5. test accuracy; save a checkpoint, load it into a freshly initialised
 *     model and check that it scores exactly the same; export the weights as
 *     safetensors for PyTorch.
 *
 * The models (bench/pytorch_fashion.py trains the same ones in PyTorch):
 *   MLP  784-256-128-10, ReLU
 *   CNN  conv5x5(1→16, pad 2) → ReLU → maxpool2 → conv5x5(16→32, pad 2) → ReLU
 *        → maxpool2 → dense(1568→128) → ReLU → dropout(0.25) → dense(128→10)
 */
#include <nabla/nabla.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    bool full;
    const char *model; /* "mlp", "cnn", "both" */
    int epochs;
    int64_t ntrain; /* training images used (before the validation split) */
    int64_t ntest;
    const char *data; /* NULL: the Debian package */
    const char *out;  /* where curves and checkpoints go */
    char set[64];     /* the dataset's name: "Fashion-MNIST", or --data's directory name */
    char tag[64];     /* file prefix: "fashion", or that name in lower case */
} config;

enum { BATCH = 64 };
static const double LR = 1e-3;

static nb_module *make_mlp(void) {
    return nb_sequential(nb_flatten_layer(), nb_linear(784, 256), nb_relu_layer(), nb_linear(256, 128), nb_relu_layer(),
                         nb_linear(128, 10));
}

static nb_module *make_cnn(void) {
    return nb_sequential(nb_conv2d_layer(1, 16, 5, 1, 2), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                         nb_conv2d_layer(16, 32, 5, 1, 2), nb_relu_layer(), nb_max_pool2d_layer(2, 2),
                         nb_flatten_layer(), nb_linear(32 * 7 * 7, 128), nb_relu_layer(), nb_dropout_layer(0.25),
                         nb_linear(128, 10));
}

/* Correct predictions among the rows of logits (B, 10). */
static int64_t count_correct(const nb_tensor *logits, const nb_tensor *y) {
    int64_t right = 0, b = nb_dim(logits, 0), c = nb_dim(logits, 1);
    const float *p = nb_f32(logits);
    for (int64_t i = 0; i < b; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < c; j++)
            if (p[i * c + j] > p[i * c + best]) best = j;
        right += best == nb_i64(y)[i];
    }
    return right;
}

/* Mean loss and accuracy on a whole set, in eval mode, without a graph.
 * With several ranks each scores its slice of the set and the sums are
 * added over the ranks. */
static void evaluate(nb_module *m, const nb_dataset *ds, double *loss, double *acc) {
    nb_module_eval(m);
    const int w = nb_dist_world_size(), r = nb_dist_rank();
    const int64_t len = nb_dataset_len(ds), lo = len * r / w, hi = len * (r + 1) / w;
    nb_dataset part = *ds;
    if (w > 1 && nb_dataset_slice(ds, lo, hi - lo, &part) != NB_OK) nb_dist_abort(1, "evaluate: out of memory");
    nb_loader *l = nb_loader_new(&part, 1000, 0);
    double total = 0;
    int64_t right = 0;
    nb_batch b;
    NB_NO_GRAD {
        while (nb_loader_next(l, &b)) {
            nb_scope *s = nb_scope_begin();
            nb_tensor *logits = nb_forward(m, b.x);
            total += nb_item(nb_cross_entropy(logits, b.y, NB_REDUCE_SUM));
            right += count_correct(logits, b.y);
            nb_scope_end(&s);
        }
    }
    nb_loader_free(l);
    if (w > 1) nb_dataset_free(&part);
    nb_module_train(m, true);
    double sums[2] = {total, (double)right};
    nb_dist_sum_f64(sums, 2);
    if (loss) *loss = sums[0] / (double)len;
    if (acc) *acc = sums[1] / (double)len;
}

static void path_of(char *buf, size_t n, const config *cfg, const char *name, const char *ext) {
    snprintf(buf, n, "%s/%s_%s%s", cfg->out, cfg->tag, name, ext);
}

/* Trains one model; returns its test accuracy (or -1 on failure). */
static double run(const char *name, nb_module *(*make)(void), const config *cfg, const nb_dataset *train,
                  const nb_dataset *val, const nb_dataset *test) {
    char err[512] = "", path[1024];
    nb_seed(42);
    nb_module *net = make();
    nb_optim *opt = nb_optim_adam(net, LR);
    const int world = nb_dist_world_size(), rank = nb_dist_rank();
    printf("\n== %s: %lld parameters, Adam lr %g, batch %d, %d epoch%s on %lld images ==\n", name,
           (long long)nb_module_numel(net), LR, BATCH, cfg->epochs, cfg->epochs == 1 ? "" : "s",
           (long long)nb_dataset_len(train));

    /* Several ranks: rank 0's weights everywhere, each rank BATCH/world of
     * every batch (the same global batch), its own dropout masks. */
    nb_ddp *ddp = world > 1 ? nb_ddp_new(net, NULL) : NULL;
    const int64_t per_rank = (BATCH + world - 1) / world;
    if (world > 1) {
        printf("%d ranks x %lld images per batch, %d thread%s each\n", world, (long long)per_rank, nb_get_num_threads(),
               nb_get_num_threads() == 1 ? "" : "s");
        nb_seed(42 + 1000003ULL * (uint64_t)rank);
    }
    nb_loader *loader = nb_loader_new(train, per_rank, NB_SHUFFLE);
    if (world > 1) nb_loader_shard(loader, rank, world, 2024);
    nb_progress *bar = nb_progress_new(name, cfg->epochs, nb_loader_num_batches(loader));
    nb_curves *curves = nb_curves_new();
    for (int epoch = 1; epoch <= cfg->epochs; epoch++) {
        nb_progress_epoch_begin(bar, epoch);
        nb_batch b;
        int64_t right = 0, seen = 0;
        while (nb_loader_next(loader, &b)) {
            nb_scope *s = nb_scope_begin(); /* everything of this step is freed at its end */
            nb_tensor *logits = nb_forward(net, b.x);
            nb_tensor *loss = nb_cross_entropy(logits, b.y, NB_REDUCE_MEAN);
            nb_zero_grad(net);
            nb_backward(loss);
            nb_ddp_wait(ddp); /* gradients averaged over the ranks (nothing on one) */
            nb_optim_step(opt);
            right += count_correct(logits, b.y);
            seen += b.size;
            nb_progress_batch(bar, nb_item(loss));
            nb_scope_end(&s);
        }
        nb_epoch_stats st = nb_epoch_stats_new(epoch);
        double counts[2] = {(double)right, (double)seen};
        nb_dist_sum_f64(counts, 2);
        st.train_acc = counts[0] / counts[1]; /* running, with dropout on */
        if (val) evaluate(net, val, &st.val_loss, &st.val_acc);
        st = nb_progress_epoch_end(bar, st);
        nb_curves_add(curves, &st);
    }

    double test_acc, test_loss;
    evaluate(net, test, &test_loss, &test_acc);
    printf("%s: test accuracy %.2f%% (loss %.4f) on %lld images\n", name, 100 * test_acc, test_loss,
           (long long)nb_dataset_len(test));

    if (rank == 0) { /* one rank writes the files */
        path_of(path, sizeof path, cfg, name, "_curves.csv");
        if (nb_curves_write_csv(curves, path, err, sizeof err) != NB_OK) fprintf(stderr, "%s\n", err);
        path_of(path, sizeof path, cfg, name, "_curves.svg");
        char title[128];
        snprintf(title, sizeof title, "%s %s (test accuracy %.2f%%)", cfg->set, name, 100 * test_acc);
        if (nb_curves_write_svg(curves, path, title, err, sizeof err) != NB_OK) fprintf(stderr, "%s\n", err);
        else printf("curves: %s (and .csv)\n", path);
    }

    /* Checkpoint: save, reload into a freshly initialised model, evaluate. */
    double reloaded = -1;
    path_of(path, sizeof path, cfg, name, ".ckpt");
    nb_ckpt_meta meta = nb_ckpt_meta_now(cfg->epochs, nb_optim_step_count(opt));
    nb_ckpt_meta_set(&meta, "test_acc", test_acc);
    nb_status saved = nb_dist_rank() == 0 ? nb_module_save(net, path, &meta, err, sizeof err) : NB_OK;
    saved = (nb_status)nb_dist_sum((double)saved); /* rank 0 writes, the others wait for it */
    if (saved != NB_OK) {
        fprintf(stderr, "%s\n", err);
    } else {
        nb_seed(7);
        nb_module *fresh = make();
        double before;
        evaluate(fresh, test, NULL, &before);
        nb_ckpt_meta got;
        if (nb_module_load(fresh, path, &got, err, sizeof err) != NB_OK) {
            fprintf(stderr, "%s\n", err);
        } else {
            evaluate(fresh, test, NULL, &reloaded);
            printf("checkpoint %s: a fresh model scores %.2f%%, after loading it %.2f%% (%s)\n", path, 100 * before,
                   100 * reloaded, reloaded == test_acc ? "identical" : "DIFFERENT");
        }
        nb_module_free(fresh);
    }
    /* The same weights for PyTorch: safetensors with state_dict names (rank 0 writes). */
    path_of(path, sizeof path, cfg, name, ".safetensors");
    if (nb_dist_rank() != 0) {
    } else if (nb_safetensors_save(net, path, err, sizeof err) != NB_OK) fprintf(stderr, "%s\n", err);
    else printf("weights for PyTorch: %s (torch.nn.Sequential's state_dict names)\n", path);

    nb_curves_free(curves);
    nb_progress_free(bar);
    nb_ddp_free(ddp);
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_module_free(net);
    return reloaded == test_acc ? test_acc : -1;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--full] [--model mlp|cnn|both] [--epochs N] [--train N] [--data DIR] [--out DIR]\n"
            "  default: 1 epoch on 6000 training images, tested on 2000 (a quick look)\n"
            "  --full:  10 epochs on 55000 (+5000 validation), tested on all 10000\n",
            argv0);
}

int main(int argc, char **argv) {
    nb_dist_init(&argc, &argv); /* under mpirun: this process is one rank of several */
    if (nb_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) return 1; /* rank 0 prints */
    config cfg = {.full = false, .model = "both", .epochs = 1, .ntrain = 6000, .ntest = 2000, .out = "."};
    int epochs = -1;
    int64_t ntrain = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--full")) cfg.full = true;
        else if (!strcmp(a, "--model") && v) cfg.model = v, i++;
        else if (!strcmp(a, "--epochs") && v) epochs = atoi(v), i++;
        else if (!strcmp(a, "--train") && v) ntrain = atoll(v), i++;
        else if (!strcmp(a, "--data") && v) cfg.data = v, i++;
        else if (!strcmp(a, "--out") && v) cfg.out = v, i++;
        else {
            usage(argv[0]);
            nb_dist_finalize();
            return 2;
        }
    }
    if (cfg.full) cfg.epochs = 10, cfg.ntrain = 60000, cfg.ntest = 10000;
    /* Name the run after its data: --data DIR calls it by DIR's last part
     * (".../mnist" -> "mnist", files "mnist_mlp.ckpt"). */
    snprintf(cfg.set, sizeof cfg.set, "Fashion-MNIST");
    snprintf(cfg.tag, sizeof cfg.tag, "fashion");
    if (cfg.data) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", cfg.data);
        for (size_t l = strlen(dir); l > 1 && dir[l - 1] == '/'; l--) dir[l - 1] = '\0';
        const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        snprintf(cfg.set, sizeof cfg.set, "%s", *base ? base : "data");
        size_t k = 0;
        for (const char *c = cfg.set; *c && k + 1 < sizeof cfg.tag; c++)
            cfg.tag[k++] = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '_';
        cfg.tag[k] = '\0';
    }
    if (epochs > 0) cfg.epochs = epochs;
    if (ntrain > 0) cfg.ntrain = ntrain;
    bool do_mlp = !strcmp(cfg.model, "mlp") || !strcmp(cfg.model, "both");
    bool do_cnn = !strcmp(cfg.model, "cnn") || !strcmp(cfg.model, "both");
    if (!do_mlp && !do_cnn) {
        usage(argv[0]);
        return 2;
    }

    /* 1. Data. */
    nb_mnist fm;
    char err[512];
    if (nb_fashion_mnist_load(cfg.data, 0, &fm, err, sizeof err) != NB_OK) {
        fprintf(stderr,
                "fashion_mnist: no IDX dataset %s%s (%s).\n"
                "It needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and\n"
                "t10k-labels-idx1-ubyte (plain or .gz): Fashion-MNIST comes with Debian's dataset-fashion-mnist\n"
                "(apt install dataset-fashion-mnist; ./demo.sh installs it), or pass --data DIR for another\n"
                "directory of IDX files such as MNIST's.\n",
                cfg.data ? "in " : "installed", cfg.data ? cfg.data : "", err);
        nb_dist_finalize();
        return cfg.data ? 1 : 77; /* a directory that was asked for: an error; the default: meson's "skipped" */
    }
    if (cfg.ntrain > nb_dataset_len(&fm.train)) cfg.ntrain = nb_dataset_len(&fm.train);
    if (cfg.ntest > nb_dataset_len(&fm.test)) cfg.ntest = nb_dataset_len(&fm.test);
    nb_dataset pool, train, val, test;
    nb_dataset_slice(&fm.train, 0, cfg.ntrain, &pool);
    nb_dataset_slice(&fm.test, 0, cfg.ntest, &test);
    nb_mnist_free(&fm);
    nb_seed(2024);
    nb_dataset_split(&pool, cfg.ntrain >= 10000 ? 1.0 / 12 : 0.1, &train, &val); /* 55000 + 5000 in --full */
    nb_dataset_free(&pool);

    /* 2. Normalize every set with the training set's statistics. */
    nb_norm norm;
    nb_norm_fit(train.x, NB_NORM_CHANNEL, &norm);
    printf("%s: %lld train, %lld validation, %lld test images; train mean %.4f, std %.4f\n", cfg.set,
           (long long)nb_dataset_len(&train), (long long)nb_dataset_len(&val), (long long)nb_dataset_len(&test),
           nb_f64(norm.mean)[0], nb_f64(norm.std)[0]);
    nb_norm_apply(&norm, train.x);
    nb_norm_apply(&norm, val.x);
    nb_norm_apply(&norm, test.x);
    nb_norm_free(&norm);

    /* 3-5. Train, plot, test, checkpoint. */
    int rc = 0;
    if (do_mlp && run("mlp", make_mlp, &cfg, &train, &val, &test) < 0) rc = 1;
    if (do_cnn && run("cnn", make_cnn, &cfg, &train, &val, &test) < 0) rc = 1;

    nb_dataset_free(&train);
    nb_dataset_free(&val);
    nb_dataset_free(&test);
    nb_dist_finalize();
    return rc;
}
