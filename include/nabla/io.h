/* nabla/io.h — datasets (IDX, CSV), loaders, checkpoints, progress and curves.
 *
 * Files never abort (DESIGN.md). Every function here that touches a file
 * returns an nb_status (NB_OK, or NB_ERR_IO for a missing, truncated, corrupt
 * or mismatched file, NB_ERR_ARG for a bad argument, NB_ERR_NOMEM) and writes a
 * one-line message naming the file and what is wrong into err[errlen]
 * (err may be NULL). The error handler and the abort mode are never used for
 * them, and a failed call leaves its outputs untouched (NULL / unchanged).
 *
 * Tensors these functions return are persistent whatever scope is open: the
 * caller frees them (nb_tensor_free, nb_dataset_free, nb_mnist_free).
 */
#ifndef NABLA_IO_H
#define NABLA_IO_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nb_module;
struct nb_optim;

/* ============================================================== datasets */

/* Inputs x (N, ...) and targets y (N, ...) or NULL; row i of each is sample i.
 * A dataset made by the functions below owns its tensors (nb_dataset_free);
 * one you fill yourself owns what you put in it. */
typedef struct nb_dataset {
    nb_tensor *x;
    nb_tensor *y;
} nb_dataset;

/* Frees ds->x and ds->y and sets them to NULL. Accepts NULL. */
NB_API void nb_dataset_free(nb_dataset *ds);
/* Number of samples (x's first dimension); 0 for an empty/NULL dataset. */
NB_API int64_t nb_dataset_len(const nb_dataset *ds);

/* ------------------------------------------------------------------ IDX */

/* Reads an IDX file (the MNIST format: 0x00 0x00 type ndim, ndim big-endian
 * u32 sizes, then the data big-endian), gzip-compressed or plain (detected
 * from the content). Type codes 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
 * 0x0E f64. Checks the magic, the type, every size and that the file holds
 * exactly the data the sizes promise (short or trailing bytes are errors).
 * *out = a new persistent tensor of dtype dt (values converted, not scaled)
 * with the file's shape. */
NB_API nb_status nb_idx_load(const char *path, nb_dtype dt, nb_tensor **out, char *err, size_t errlen);
/* The same from data[0..len) in memory (plain or gzip; messages name the
 * input "<memory>"). data is only read, and not kept. */
NB_API nb_status nb_idx_load_mem(const void *data, size_t len, nb_dtype dt, nb_tensor **out, char *err, size_t errlen);

/* MNIST-format directory: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each plain or with ".gz". */
typedef struct nb_mnist {
    nb_dataset train; /* x (60000,1,28,28) F32 in [0,1] (or (60000,784)), y (60000) I64 */
    nb_dataset test;  /* x (10000,1,28,28), y (10000)                                 */
} nb_mnist;

enum {
    NB_MNIST_FLAT = 1 /* images as (N, 784) instead of (N, 1, 28, 28) */
};

/* Where Debian's dataset-fashion-mnist package puts the files. */
#define NB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Loads an MNIST-format directory: images scaled to [0, 1] (pixel/255) as F32,
 * labels I64 in [0, 10); checks that the image and label counts agree, the
 * images are 28x28 and the labels < 10. On error *out is left zeroed. */
NB_API nb_status nb_mnist_load(const char *dir, int flags, nb_mnist *out, char *err, size_t errlen);
/* The same for Fashion-MNIST: dir NULL = $NB_FASHION_MNIST if set, else
 * NB_FASHION_MNIST_DIR. */
NB_API nb_status nb_fashion_mnist_load(const char *dir, int flags, nb_mnist *out, char *err, size_t errlen);
NB_API void nb_mnist_free(nb_mnist *m);
/* "T-shirt/top", "Trouser", ... "Ankle boot" for labels 0..9 (NULL otherwise). */
NB_API const char *nb_fashion_mnist_class(int label);

/* ------------------------------------------------------------------ CSV */

#define NB_CSV_NO_LABEL (-1000000)

typedef struct nb_csv_opts {
    char delim;             /* ',' (0 = ',')                                     */
    int header;             /* 1 first line is a header, 0 it is data, -1 guess  */
                            /*   (a first line with a text cell is a header; an  */
                            /*   empty cell alone doesn't make one: docs/io.md)  */
    int label_col;          /* column of y: 0.., -1 the last, NB_CSV_NO_LABEL    */
    const char *label_name; /* or the header name of y's column (overrides)   */
    nb_dtype dtype;         /* x's dtype (NB_F32 / NB_F64)                       */
    nb_dtype label_dtype;   /* y's: NB_I64 (values must be integers) or a float  */
} nb_csv_opts;
/* delim ',', header guessed, label = last column as I64, x F32. */
NB_API nb_csv_opts nb_csv_defaults(void);

/* Reads a numeric table: every data row has the same number of columns,
 * every cell a number (leading/trailing blanks allowed, empty lines skipped,
 * "\r\n" accepted). out->x is (rows, cols−1) (all columns but the label;
 * (rows, cols) without one), out->y is (rows) or NULL. Errors name
 * "file:line:column". opts NULL = nb_csv_defaults(). */
NB_API nb_status nb_csv_load(const char *path, const nb_csv_opts *opts, nb_dataset *out, char *err, size_t errlen);
/* The same from data[0..len) in memory (messages say "<memory>:line:col"). */
NB_API nb_status nb_csv_load_mem(const void *data, size_t len, const nb_csv_opts *opts, nb_dataset *out, char *err,
                                 size_t errlen);

/* --------------------------------------------------------- split, subsets */

/* Splits ds into train and validation sets with a shuffle drawn from the
 * global seeded generator (nb_seed): n_val = round(val_fraction·N) samples go
 * to val, the rest to train, each a new dataset the caller frees. */
NB_API nb_status nb_dataset_split(const nb_dataset *ds, double val_fraction, nb_dataset *train, nb_dataset *val);
/* Rows [start, start+n) of ds as a new dataset (copies). */
NB_API nb_status nb_dataset_slice(const nb_dataset *ds, int64_t start, int64_t n, nb_dataset *out);

/* ---------------------------------------------------------- normalization */

typedef enum nb_norm_mode {
    NB_NORM_FEATURE = 0, /* one mean/std per feature: over axis 0 (x (N, F...)) */
    NB_NORM_CHANNEL,     /* one per channel: over every axis but 1 (N, C, ...)  */
    NB_NORM_GLOBAL       /* one mean/std for everything                         */
} nb_norm_mode;

/* The training set's statistics: mean and std (population, ddof 0) in F64,
 * shaped x.shape[1:] (FEATURE), (C) (CHANNEL) or () (GLOBAL). A std below
 * 1e-8 (a constant feature, e.g. MNIST's border pixels) is stored as 1. */
typedef struct nb_norm {
    nb_norm_mode mode;
    nb_tensor *mean, *std; /* persistent; nb_norm_free */
} nb_norm;

/* Computes the statistics of x (the training set). Returns NB_OK, or
 * NB_ERR_ARG/NB_ERR_SHAPE (x NULL, not float, too few dims) with *out zeroed. */
NB_API nb_status nb_norm_fit(const nb_tensor *x, nb_norm_mode mode, nb_norm *out);
/* x = (x − mean)/std in place (any set: train, validation, test), with the
 * statistics of the set they were fitted on. x's trailing shape must match. */
NB_API nb_status nb_norm_apply(const nb_norm *n, nb_tensor *x);
NB_API void nb_norm_free(nb_norm *n);

/* ---------------------------------------------------------------- loader */

enum {
    NB_SHUFFLE = 1,  /* a new permutation from the global generator each epoch */
    NB_DROP_LAST = 2 /* skip the last batch when it is smaller than `batch`    */
};

/* A mini-batch: x (B, ...) and y (B, ...) (NULL when the dataset has no y).
 * The tensors are buffers the loader owns and reuses (persistent, not in any
 * scope, no malloc per step): valid until the next nb_loader_next on the same
 * loader. Copy them (nb_copy) to keep them. */
typedef struct nb_batch {
    nb_tensor *x, *y;
    int64_t size;  /* B                                         */
    int64_t index; /* batch number within the epoch, from 0     */
    int epoch;     /* the epoch it belongs to, from 0           */
} nb_batch;

typedef struct nb_loader nb_loader;

/* A loader over ds (borrowed: ds's tensors must outlive it). batch >= 1.
 * NULL (and NB_ERR_ARG through the error handler) on bad arguments. */
NB_API nb_loader *nb_loader_new(const nb_dataset *ds, int64_t batch, int flags);
/* The next batch of the current epoch: true and *b filled, or false at the end
 * of the epoch (the next call starts a new one, reshuffled):
 *     nb_batch b;
 *     while (nb_loader_next(train, &b)) { ...one step... }      // one epoch */
NB_API bool nb_loader_next(nb_loader *l, nb_batch *b);
/* Abandons the current epoch: the next nb_loader_next starts a new one. */
NB_API void nb_loader_reset(nb_loader *l);
/* Batches per epoch (with drop_last applied). */
NB_API int64_t nb_loader_num_batches(const nb_loader *l);
NB_API void nb_loader_free(nb_loader *l);
/* Data-parallel sharding (dist.h), torch's DistributedSampler: each epoch's
 * order is one permutation of ALL rows drawn from (seed, epoch) — the same on
 * every rank, and the global generator is neither used nor advanced — and
 * this rank takes its rows rank, rank + world, rank + 2·world, ... of it.
 * Every rank gets the same count: ceil(n/world) rows, the list padded by
 * wrapping to its start, or with NB_DROP_LAST floor(n/world) rows (and the
 * short last batch dropped as usual). With batch B per rank, batch k of all
 * ranks together is rows [k·B·world, (k+1)·B·world) of the permutation,
 * whatever the world size: a checkpoint resumes the same global batches on
 * another number of ranks. Call before the first nb_loader_next; world 1 is
 * a single process reading the same global order. NB_OK or NB_ERR_ARG. */
NB_API nb_status nb_loader_shard(nb_loader *l, int rank, int world, uint64_t seed);
/* Sets the number of epochs already done (resuming): the next nb_loader_next
 * starts epoch `epoch` (from 0) with that epoch's sharded permutation. */
NB_API void nb_loader_set_epoch(nb_loader *l, int epoch);

/* ============================================================ checkpoints */

/* Format (version 1, little-endian), every byte covered by an XXH3-64 hash:
 *   header: "NBCKPT\r\n", u32 version, u32 flags(0), u64 tensor count,
 *           i64 epoch, i64 step, u64 rng[4], f64 rng spare, u32 has_spare,
 *           u32 key/value count, per entry (u16 len, key, f64 value),
 *           u64 XXH3-64 of the header bytes before it;
 *   per tensor: u16 name length, name, u8 dtype, u8 ndim, i64 dims[ndim],
 *           data (numel·size bytes), u64 XXH3-64 of the record before it;
 *   nothing after the last record.
 * Saving writes a temporary file in the target's directory, flushes and
 * fsyncs it, renames it over the target and fsyncs the directory: a crash
 * leaves either the old checkpoint or the new one, never a half-written one.
 * Temporaries that killed saves left are removed (before writing, and on a
 * full disk before one more try); a new file's mode follows the umask, an
 * existing file keeps its mode; a symbolic link is written through; any name
 * up to NAME_MAX works (docs/io.md, "Saving a file"). */

#define NB_CKPT_VERSION 1
#define NB_CKPT_MAX_KV 32
#define NB_CKPT_KEY_MAX 48

/* What makes training resumable besides the tensors. */
typedef struct nb_ckpt_meta {
    int64_t epoch, step;
    nb_rng_state rng; /* nb_rng_get() at save time                    */
    int nkv;          /* free-form scalars: optimizer lr/step, best   */
    struct {          /*   validation accuracy, schedule position...  */
        char key[NB_CKPT_KEY_MAX];
        double value;
    } kv[NB_CKPT_MAX_KV];
} nb_ckpt_meta;

/* A zeroed meta with rng = nb_rng_get(). */
NB_API nb_ckpt_meta nb_ckpt_meta_now(int64_t epoch, int64_t step);
/* Sets (adds or replaces) a key; false if the table is full or key too long. */
NB_API bool nb_ckpt_meta_set(nb_ckpt_meta *m, const char *key, double value);
/* The value of key, or dflt when absent. */
NB_API double nb_ckpt_meta_get(const nb_ckpt_meta *m, const char *key, double dflt);

/* Saves ts[0..n) (names must be non-empty, unique, < 65536 bytes; tensors of
 * any dtype, contiguous) and meta (NULL = zeros and the current RNG state)
 * to path atomically. On error the previous file at path is untouched. */
NB_API nb_status nb_checkpoint_save(const char *path, const nb_named_tensor *ts, int n, const nb_ckpt_meta *meta,
                                    char *err, size_t errlen);
/* Loads path into ts[0..n): the file must hold exactly these names (in any
 * order), each with the same dtype and shape. Every checksum, name, dtype and
 * shape is verified BEFORE anything is written: on any error (naming the
 * tensor that is wrong) no tensor and not *meta is changed. meta may be NULL.
 * Bumps the version of every tensor it writes. */
NB_API nb_status nb_checkpoint_load(const char *path, nb_named_tensor *ts, int n, nb_ckpt_meta *meta, char *err,
                                    size_t errlen);
/* What a load found beyond the model's names: names the model
 * has and the file lacks (missing) and names only in the file (unexpected),
 * as counts and comma-separated lists (ending "..." past 2 KB). */
typedef struct nb_ckpt_load_result {
    int missing, unexpected;
    char missing_names[2048];
    char unexpected_names[2048];
} nb_ckpt_load_result;
/* nb_checkpoint_load with PyTorch's strict flag: every name, dtype and shape
 * disagreement is reported in one message (strict or not, a dtype or shape
 * mismatch fails and writes nothing); with strict false, missing and
 * unexpected names are skipped, the rest is loaded, and *res (may be NULL)
 * lists them. */
NB_API nb_status nb_checkpoint_load_ex(const char *path, nb_named_tensor *ts, int n, bool strict, nb_ckpt_meta *meta,
                                       nb_ckpt_load_result *res, char *err, size_t errlen);
/* nb_module_load with the strict flag (nb_checkpoint_load_ex): strict false
 * loads what matches by name and lists the rest in *res. */
NB_API nb_status nb_module_load_ex(struct nb_module *m, const char *path, bool strict, nb_ckpt_meta *meta,
                                   nb_ckpt_load_result *res, char *err, size_t errlen);
/* The same from data[0..len) in memory (messages name it "<memory>"). */
NB_API nb_status nb_checkpoint_load_mem(const void *data, size_t len, nb_named_tensor *ts, int n, nb_ckpt_meta *meta,
                                        char *err, size_t errlen);

/* A module's parameters and buffers (nb_module_named_tensors: BatchNorm's
 * running statistics included), with meta (NULL = epoch/step 0, the RNG). */
NB_API nb_status nb_module_save(struct nb_module *m, const char *path, const nb_ckpt_meta *meta, char *err,
                                size_t errlen);
/* Loads into m (same architecture); nothing changes on error. meta may be NULL. */
NB_API nb_status nb_module_load(struct nb_module *m, const char *path, nb_ckpt_meta *meta, char *err, size_t errlen);

/* Everything to resume training exactly: the module's tensors, the
 * optimizer's state tensors (named "optim.<param>.<state>"), its learning
 * rate and step count (meta keys "optim.lr", "optim.steps"), epoch, step and
 * the RNG state. opt may be NULL. Loading restores the optimizer's lr and step
 * count, but not the global RNG: call nb_rng_set(meta.rng) to resume it. */
NB_API nb_status nb_train_save(const char *path, struct nb_module *m, struct nb_optim *opt, const nb_ckpt_meta *meta,
                               char *err, size_t errlen);
NB_API nb_status nb_train_load(const char *path, struct nb_module *m, struct nb_optim *opt, nb_ckpt_meta *meta,
                               char *err, size_t errlen);

/* ===================================================== training experience */

/* What one epoch measured; NAN for what wasn't measured. */
typedef struct nb_epoch_stats {
    int epoch;                    /* 1-based                         */
    double train_loss, train_acc; /* accuracies are fractions (0..1) */
    double val_loss, val_acc;
    double seconds; /* filled by nb_progress_epoch_end when 0 */
} nb_epoch_stats;
/* Every measurement NAN (not measured), seconds 0: fill in what you have. */
NB_API nb_epoch_stats nb_epoch_stats_new(int epoch);

/* Progress of a training run. On a terminal (isatty(stdout)) one line is
 * redrawn as batches go: "epoch 2/10 [=====>    ]  45%  210/469  512.3 batch/s
 * loss 0.4321  ETA 0:05"; elsewhere (a log file, a pipe, a test) only one
 * plain line per epoch is printed:
 *   "epoch 2/10  loss 0.4321  acc 84.12%  val_loss 0.4012  val_acc 85.50%  3.1s  151.2 batch/s"
 * (fields that are NAN are left out). */
typedef struct nb_progress nb_progress;
/* label may be NULL; epochs and batches_per_epoch >= 1 (0 = unknown). */
NB_API nb_progress *nb_progress_new(const char *label, int epochs, int64_t batches_per_epoch);
/* Output stream and mode (tests): tty true = the redrawn bar. */
NB_API void nb_progress_set_output(nb_progress *p, FILE *f, bool tty);
NB_API void nb_progress_epoch_begin(nb_progress *p, int epoch); /* 1-based */
/* After each batch: its loss (NAN if unknown); redraws at most ~10 times/s. */
NB_API void nb_progress_batch(nb_progress *p, double loss);
/* Ends the epoch: prints the epoch line (train_loss NAN = the running mean
 * of the batch losses; seconds 0 = measured). Returns the stats as printed. */
NB_API nb_epoch_stats nb_progress_epoch_end(nb_progress *p, nb_epoch_stats s);
NB_API void nb_progress_free(nb_progress *p);

/* Loss/accuracy curves, train and validation, one point per epoch. */
typedef struct nb_curves nb_curves;
NB_API nb_curves *nb_curves_new(void);
NB_API void nb_curves_add(nb_curves *c, const nb_epoch_stats *s);
NB_API int nb_curves_len(const nb_curves *c);
/* epoch,train_loss,val_loss,train_acc,val_acc (empty cells for NAN). */
NB_API nb_status nb_curves_write_csv(const nb_curves *c, const char *path, char *err, size_t errlen);
/* Two charts side by side, loss and accuracy per epoch, with axes, ticks and
 * a legend: train blue, validation red (the lecture's "Acc (Train=blue;
 * test=red)"). A standalone SVG any browser opens. */
NB_API nb_status nb_curves_write_svg(const nb_curves *c, const char *path, const char *title, char *err, size_t errlen);
NB_API void nb_curves_free(nb_curves *c);

/* The graph behind t as a picture: writes <path without .svg>.dot
 * (nb_graph_dot) and runs Graphviz `dot -Tsvg` to make path. When dot is
 * not installed, returns NB_OK having written only the .dot file. */
NB_API nb_status nb_graph_svg(const nb_tensor *t, const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
