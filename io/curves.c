/* io/curves.c — loss/accuracy curves as CSV and SVG; graph pictures via Graphviz.
 *
 * The SVG is written by hand (no dependency): two panels, loss and accuracy
 * per epoch, each with axes, "nice" ticks (1, 2, 5 × 10^k), a light grid and
 * a legend; train in blue, validation in red as in the lecture's
 * "Acc (Train=blue; test=red)" plot.
 */
#include "io_internal.h"
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

struct nb_curves {
    nb_epoch_stats *pts;
    int n, cap;
};

nb_epoch_stats nb_epoch_stats_new(int epoch) {
    return (nb_epoch_stats){
        .epoch = epoch, .train_loss = NAN, .train_acc = NAN, .val_loss = NAN, .val_acc = NAN, .seconds = 0};
}

nb_curves *nb_curves_new(void) { return nb__calloc(sizeof(nb_curves)); }

void nb_curves_add(nb_curves *c, const nb_epoch_stats *s) {
    if (!c || !s) return;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        nb_epoch_stats *p = nb__malloc(sizeof *p * (size_t)cap);
        if (!p) return;
        if (c->n) memcpy(p, c->pts, sizeof *p * (size_t)c->n);
        nb__free(c->pts);
        c->pts = p, c->cap = cap;
    }
    c->pts[c->n++] = *s;
}

int nb_curves_len(const nb_curves *c) { return c ? c->n : 0; }

void nb_curves_free(nb_curves *c) {
    if (!c) return;
    nb__free(c->pts);
    nb__free(c);
}

static void csv_num(FILE *f, double v) {
    if (!isnan(v)) fprintf(f, "%.6g", v);
}

nb_status nb_curves_write_csv(const nb_curves *c, const char *path, char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    if (!c || !path) return nb__io_err(err, errlen, NB_ERR_ARG, "curves: curves or path is NULL");
    FILE *f = fopen(path, "w");
    if (!f) return nb__io_err(err, errlen, NB_ERR_IO, "curves: %s: can't write: %s", path, strerror(errno));
    fprintf(f, "epoch,train_loss,val_loss,train_acc,val_acc,seconds\n");
    for (int i = 0; i < c->n; i++) {
        const nb_epoch_stats *s = &c->pts[i];
        fprintf(f, "%d,", s->epoch);
        csv_num(f, s->train_loss);
        fputc(',', f);
        csv_num(f, s->val_loss);
        fputc(',', f);
        csv_num(f, s->train_acc);
        fputc(',', f);
        csv_num(f, s->val_acc);
        fprintf(f, ",%.3f\n", s->seconds);
    }
    if (ferror(f) | (fclose(f) != 0)) return nb__io_err(err, errlen, NB_ERR_IO, "curves: %s: write error", path);
    return NB_OK;
}

/* ------------------------------------------------------------------ SVG */

/* A step of 1, 2 or 5 × 10^k giving about `want` intervals over range. */
static double nice_step(double range, int want) {
    if (!(range > 0)) return 1;
    double raw = range / want, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    if (fabs(v) < step * 1e-6) v = 0;
    snprintf(buf, n, "%.*f", dec, v);
}

typedef struct panel {
    double x0, y0, w, h; /* plot area in px */
    double xmin, xmax, ymin, ymax;
} panel;

static double px(const panel *p, double x) { return p->x0 + (x - p->xmin) / (p->xmax - p->xmin) * p->w; }
static double py(const panel *p, double y) { return p->y0 + p->h - (y - p->ymin) / (p->ymax - p->ymin) * p->h; }

/* which: 0 loss, 1 accuracy (in %). */
static double series(const nb_epoch_stats *s, int which, int val) {
    if (which == 0) return val ? s->val_loss : s->train_loss;
    double a = val ? s->val_acc : s->train_acc;
    return isnan(a) ? a : 100 * a;
}

static void draw_panel(FILE *f, const nb_curves *c, int which, double ox, double oy, double W, double H) {
    const char *title =
        which == 0 ? "Loss (train = blue; validation = red)" : "Accuracy % (train = blue; validation = red)";
    panel p = {ox + 60, oy + 36, W - 80, H - 86, 0, 1, 0, 1};
    /* Ranges. */
    double lo = INFINITY, hi = -INFINITY;
    int emin = 1 << 30, emax = -(1 << 30);
    for (int i = 0; i < c->n; i++) {
        emin = c->pts[i].epoch < emin ? c->pts[i].epoch : emin;
        emax = c->pts[i].epoch > emax ? c->pts[i].epoch : emax;
        for (int v = 0; v < 2; v++) {
            double y = series(&c->pts[i], which, v);
            if (isfinite(y)) lo = fmin(lo, y), hi = fmax(hi, y);
        }
    }
    if (c->n == 0) emin = 0, emax = 1;
    if (emax == emin) emax = emin + 1;
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
    double ystep = nice_step(hi - lo, 5);
    p.ymin = floor(lo / ystep) * ystep;
    p.ymax = ceil(hi / ystep) * ystep;
    if (p.ymax <= p.ymin) p.ymax = p.ymin + ystep;
    p.xmin = emin, p.xmax = emax;
    double xstep = nice_step(emax - emin, emax - emin < 10 ? emax - emin : 8);
    if (xstep < 1) xstep = 1;

    fprintf(f,
            "<g>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
            p.x0 + p.w / 2, oy + 20, title);
    /* Grid and ticks. */
    char buf[32];
    for (double y = p.ymin; y <= p.ymax + ystep * 1e-6; y += ystep) {
        double Y = py(&p, y);
        fmt_tick(buf, sizeof buf, y, ystep);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", p.x0, Y, p.x0 + p.w,
                Y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", p.x0 - 5, Y, p.x0, Y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%s</text>\n", p.x0 - 8, Y + 4,
                buf);
    }
    for (double x = ceil(emin / xstep) * xstep; x <= emax + 1e-9; x += xstep) {
        double X = px(&p, x);
        fmt_tick(buf, sizeof buf, x, 1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", X, p.y0, X,
                p.y0 + p.h);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", X, p.y0 + p.h, X,
                p.y0 + p.h + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n", X,
                p.y0 + p.h + 18, buf);
    }
    /* Axes and labels. */
    fprintf(f, "<polyline class=\"axes\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
            p.x0, p.y0, p.x0, p.y0 + p.h, p.x0 + p.w, p.y0 + p.h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n", p.x0 + p.w / 2,
            p.y0 + p.h + 36);
    fprintf(f,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 %.1f "
            "%.1f)\">%s</text>\n",
            ox + 16, p.y0 + p.h / 2, ox + 16, p.y0 + p.h / 2, which == 0 ? "loss" : "accuracy (%)");
    /* Series. */
    static const char *color[2] = {"#1f5fd6", "#d62728"};
    static const char *label[2] = {"train", "validation"};
    for (int v = 0; v < 2; v++) {
        int cnt = 0;
        for (int i = 0; i < c->n; i++) cnt += isfinite(series(&c->pts[i], which, v));
        if (!cnt) continue;
        fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", label[v],
                color[v]);
        for (int i = 0; i < c->n; i++) {
            double y = series(&c->pts[i], which, v);
            if (isfinite(y)) fprintf(f, "%.1f,%.1f ", px(&p, c->pts[i].epoch), py(&p, y));
        }
        fprintf(f, "\"/>\n");
        for (int i = 0; i < c->n; i++) {
            double y = series(&c->pts[i], which, v);
            if (isfinite(y))
                fprintf(
                    f,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s epoch %d: %.4g</title></circle>\n",
                    px(&p, c->pts[i].epoch), py(&p, y), color[v], label[v], c->pts[i].epoch, y);
        }
    }
    /* Legend inside the plot, away from where the curves usually go: top
     * right for losses (falling), bottom right for accuracies (rising). */
    double lx = p.x0 + p.w - 118, ly = which == 0 ? p.y0 + 8 : p.y0 + p.h - 52;
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"110\" height=\"44\" fill=\"white\" fill-opacity=\"0.85\" "
            "stroke=\"#999\"/>\n",
            lx, ly);
    for (int v = 0; v < 2; v++) {
        double yy = ly + 15 + 18 * v;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", lx + 8,
                yy, lx + 32, yy, color[v]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n", lx + 38, yy + 4, label[v]);
    }
    fprintf(f, "</g>\n");
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

nb_status nb_curves_write_svg(const nb_curves *c, const char *path, const char *title, char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    if (!c || !path) return nb__io_err(err, errlen, NB_ERR_ARG, "curves: curves or path is NULL");
    FILE *f = fopen(path, "w");
    if (!f) return nb__io_err(err, errlen, NB_ERR_IO, "curves: %s: can't write: %s", path, strerror(errno));
    const double W = 900, H = 400, top = title && *title ? 28 : 0;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"Helvetica, Arial, sans-serif\">\n",
            W, H + top, W, H + top);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    if (top) {
        fprintf(f, "<text x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">", W / 2);
        xml_text(f, title);
        fprintf(f, "</text>\n");
    }
    draw_panel(f, c, 0, 0, top, W / 2, H);
    draw_panel(f, c, 1, W / 2, top, W / 2, H);
    fprintf(f, "</svg>\n");
    if (ferror(f) | (fclose(f) != 0)) return nb__io_err(err, errlen, NB_ERR_IO, "curves: %s: write error", path);
    return NB_OK;
}

/* ------------------------------------------------------ graph pictures */

nb_status nb_graph_svg(const nb_tensor *t, const char *path, char *err, size_t errlen) {
    nb__io_ok(err, errlen);
    if (!t || !path || !*path) return nb__io_err(err, errlen, NB_ERR_ARG, "graph_svg: tensor or path is NULL");
    size_t n = strlen(path);
    char *dot = malloc(n + 8);
    if (!dot) return nb__io_err(err, errlen, NB_ERR_NOMEM, "graph_svg: out of memory");
    memcpy(dot, path, n + 1);
    if (n > 4 && !strcmp(path + n - 4, ".svg")) dot[n - 4] = '\0';
    strcat(dot, ".dot");
    /* Probe first: nb_graph_dot reports through the error handler (which may
     * abort), and files never abort. */
    FILE *probe = fopen(dot, "w");
    if (!probe) {
        nb_status st = nb__io_err(err, errlen, NB_ERR_IO, "graph_svg: %s: can't write: %s", dot, strerror(errno));
        free(dot);
        return st;
    }
    fclose(probe);
    if (nb_graph_dot(t, dot) != NB_OK) {
        nb_status st = nb__io_err(err, errlen, NB_ERR_IO, "graph_svg: %s: can't write the DOT file", dot);
        free(dot);
        return st;
    }
    char *argv[] = {"dot", "-Tsvg", "-o", (char *)path, dot, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "dot", NULL, NULL, argv, environ);
    nb_status st = NB_OK;
    if (rc != 0) {
        /* No Graphviz: the .dot file is the result. */
        nb__io_err(err, errlen, NB_OK, "graph_svg: Graphviz 'dot' not found; wrote only %s", dot);
    } else {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            nb__io_err(err, errlen, NB_OK, "graph_svg: Graphviz 'dot' not found; wrote only %s", dot);
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            st = nb__io_err(err, errlen, NB_ERR_IO, "graph_svg: dot -Tsvg %s failed (status %d)", dot,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    free(dot);
    return st;
}
