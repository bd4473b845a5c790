/* io/progress.c — the progress bar on a terminal, one line per epoch elsewhere. */
#include "io_internal.h"
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct nb_progress {
    char label[64];
    int epochs, epoch;
    int64_t per_epoch; /* batches per epoch, 0 = unknown */
    FILE *f;
    bool tty;
    double t_epoch;  /* epoch start time               */
    double t_draw;   /* last redraw                    */
    int64_t done;    /* batches this epoch             */
    double loss_sum; /* over batches with a finite loss */
    int64_t loss_n;
    double loss_ema; /* running loss shown in the bar  */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

nb_progress *nb_progress_new(const char *label, int epochs, int64_t batches_per_epoch) {
    nb_progress *p = nb__calloc(sizeof *p);
    if (!p) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->epochs = epochs > 0 ? epochs : 0;
    p->per_epoch = batches_per_epoch > 0 ? batches_per_epoch : 0;
    p->f = stdout;
    p->tty = isatty(fileno(stdout)) != 0;
    p->loss_ema = NAN;
    return p;
}

void nb_progress_set_output(nb_progress *p, FILE *f, bool tty) {
    if (!p) return;
    p->f = f ? f : stdout;
    p->tty = tty;
}

void nb_progress_epoch_begin(nb_progress *p, int epoch) {
    if (!p) return;
    p->epoch = epoch;
    p->done = 0;
    p->loss_sum = 0;
    p->loss_n = 0;
    p->loss_ema = NAN;
    p->t_epoch = now_s();
    p->t_draw = 0;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 359999) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = lround(s);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void prefix(const nb_progress *p, char *buf, size_t n) {
    const char *sp = p->label[0] ? " " : "";
    if (p->epochs) snprintf(buf, n, "%s%sepoch %d/%d", p->label, sp, p->epoch, p->epochs);
    else snprintf(buf, n, "%s%sepoch %d", p->label, sp, p->epoch);
}

static void draw(nb_progress *p, double t) {
    char pre[128], eta[32], bar[41];
    prefix(p, pre, sizeof pre);
    double el = t - p->t_epoch, rate = el > 0 ? (double)p->done / el : 0;
    if (p->per_epoch) {
        double frac = (double)p->done / (double)p->per_epoch;
        if (frac > 1) frac = 1;
        int w = 30, fill = (int)(frac * w);
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[w] = '\0';
        fmt_time(eta, sizeof eta, rate > 0 ? (double)(p->per_epoch - p->done) / rate : -1);
        fprintf(p->f, "\r%s [%s] %3d%% %lld/%lld  %.1f batch/s  loss %.4f  ETA %s\033[K", pre, bar, (int)(frac * 100),
                (long long)p->done, (long long)p->per_epoch, rate, p->loss_ema, eta);
    } else {
        fprintf(p->f, "\r%s  %lld batches  %.1f batch/s  loss %.4f\033[K", pre, (long long)p->done, rate, p->loss_ema);
    }
    fflush(p->f);
}

void nb_progress_batch(nb_progress *p, double loss) {
    if (!p) return;
    p->done++;
    if (isfinite(loss)) {
        p->loss_sum += loss;
        p->loss_n++;
        p->loss_ema = isnan(p->loss_ema) ? loss : 0.95 * p->loss_ema + 0.05 * loss;
    }
    if (!p->tty) return;
    double t = now_s();
    if (t - p->t_draw >= 0.1 || (p->per_epoch && p->done == p->per_epoch)) {
        p->t_draw = t;
        draw(p, t);
    }
}

nb_epoch_stats nb_progress_epoch_end(nb_progress *p, nb_epoch_stats s) {
    if (!p) return s;
    double el = now_s() - p->t_epoch;
    if (s.epoch == 0) s.epoch = p->epoch;
    if (s.seconds == 0) s.seconds = el;
    if (isnan(s.train_loss) && p->loss_n) s.train_loss = p->loss_sum / (double)p->loss_n;
    char line[512], pre[128];
    prefix(p, pre, sizeof pre);
    size_t n = (size_t)snprintf(line, sizeof line, "%s", pre);
#define ADD(...) n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0, __VA_ARGS__)
    if (!isnan(s.train_loss)) ADD("  loss %.4f", s.train_loss);
    if (!isnan(s.train_acc)) ADD("  acc %.2f%%", 100 * s.train_acc);
    if (!isnan(s.val_loss)) ADD("  val_loss %.4f", s.val_loss);
    if (!isnan(s.val_acc)) ADD("  val_acc %.2f%%", 100 * s.val_acc);
    ADD("  %.1fs", s.seconds);
    if (p->done && el > 0) ADD("  %.1f batch/s", (double)p->done / el);
#undef ADD
    fprintf(p->f, p->tty ? "\r%s\033[K\n" : "%s\n", line);
    fflush(p->f);
    return s;
}

void nb_progress_free(nb_progress *p) { nb__free(p); }
