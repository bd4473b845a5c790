/* 08 — weight initialization: what happens to activations in a deep net.
 *
 * 1000 random inputs (500 features, N(0,1)) go through 10 layers of 500 units,
 * h_l = f(h_{l−1} W_l) with no bias. For one unit, z = Σ_i h_i w_i sums
 * fan_in = 500 products, so Var z = fan_in · Var w · E[h²]:
 *   - small random numbers, w ~ N(0, 0.01²): each layer multiplies the scale
 *     by about 0.01·√500 ≈ 0.22 — the activations (and with them the
 *     gradients dL/dW = hᵀ δ) shrink to zero by layer 10;
 *   - Xavier/Glorot, Var w = 2/(fan_in + fan_out) = 1/fan_in here: the
 *     variance is kept (tanh is ≈ linear near 0), the std stays put;
 *   - with ReLU half the units are 0, E[h²] = Var z/2: Xavier halves the
 *     variance every layer; He/Kaiming, Var w = 2/fan_in, puts the 2 back.
 * The program prints the mean and std of every layer for each case (the
 * lecture's histograms as numbers); --csv FILE writes them as a table
 * (case,layer,mean,std), --svg FILE draws std per layer on a log scale.
 * --full uses 5000 inputs. */
#include <nabla/nabla.h>
#include <math.h>
#include <string.h>

enum { LAYERS = 10, WIDTH = 500 };
typedef enum { SMALL, XAVIER, HE } init_kind;
typedef struct {
    const char *name;
    bool relu;
    init_kind init;
} experiment;

/* The lecture's plot: activation std per layer, one line per case, on a log
 * scale (std from 1e-8 to 10), as a standalone SVG. */
static int write_svg(const char *path, const char *const *names, double sd[][LAYERS], int ncase) {
    static const char *colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    const double W = 640, H = 400, L = 70, R = 200, T = 30, B = 50;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"%g\" y=\"20\">activation std per layer (log scale)</text>\n", L);
    for (int d = -8; d <= 1; d++) { /* y grid: decades */
        double y = T + (1 - (d + 8) / 9.0) * (H - T - B);
        fprintf(f,
                "<line x1=\"%g\" x2=\"%g\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n",
                L, W - R, y, y, L - 6, y + 4, d);
    }
    for (int l = 0; l < LAYERS; l++) {
        double x = L + l * (W - L - R) / (LAYERS - 1);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%d</text>\n", x, H - B + 18, l + 1);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">layer</text>\n", (L + W - R) / 2, H - 10);
    for (int e = 0; e < ncase; e++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[e % 4]);
        for (int l = 0; l < LAYERS; l++) {
            double d = log10(fmax(sd[e][l], 1e-8));
            fprintf(f, "%.1f,%.1f ", L + l * (W - L - R) / (LAYERS - 1), T + (1 - (d + 8) / 9.0) * (H - T - B));
        }
        fprintf(f, "\"/>\n<text x=\"%g\" y=\"%d\" fill=\"%s\">%s</text>\n", W - R + 10, (int)T + 20 * (e + 1),
                colors[e % 4], names[e]);
    }
    fputs("</svg>\n", f);
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    int64_t n = 1000;
    const char *csv = NULL, *svg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) n = 5000;
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc) csv = argv[++i];
        else if (!strcmp(argv[i], "--svg") && i + 1 < argc) svg = argv[++i];
    }
    const experiment ex[] = {
        {"tanh, N(0, 0.01^2)", false, SMALL},
        {"tanh, Xavier", false, XAVIER},
        {"relu, Xavier", true, XAVIER},
        {"relu, He", true, HE},
    };
    const int NEX = (int)(sizeof ex / sizeof ex[0]);
    double mean[4][LAYERS], sd[4][LAYERS];
    nb_seed(8);
    nb_tensor *x = nb_randn(NB_F32, NB_SHAPE(n, WIDTH), 0, 1);

    for (int e = 0; e < NEX; e++) {
        nb_seed(80); /* the same draws for every case */
        nb_module *layers[LAYERS];
        for (int l = 0; l < LAYERS; l++) {
            layers[l] = nb_linear_ex(WIDTH, WIDTH, false);
            nb_tensor *w = nb_module_param(layers[l], 0);
            if (ex[e].init == SMALL) nb_init_normal(w, 0, 0.01);
            else if (ex[e].init == XAVIER) nb_init_xavier_normal(w, 1.0);
            else nb_init_kaiming_normal(w, 0, NB_FAN_IN, NB_NONLIN_RELU);
        }
        nb_scope *sc = nb_scope_begin();
        nb_tensor *h = x;
        for (int l = 0; l < LAYERS; l++) {
            nb_tensor *z = nb_forward(layers[l], h);
            h = ex[e].relu ? nb_relu(z) : nb_tanh(z);
            double s = 0, s2 = 0;
            for (int64_t i = 0; i < h->numel; i++) {
                double v = nb_f32(h)[i];
                s += v;
                s2 += v * v;
            }
            mean[e][l] = s / (double)h->numel;
            sd[e][l] = sqrt(fmax(s2 / (double)h->numel - mean[e][l] * mean[e][l], 0));
        }
        nb_scope_end(&sc);
        for (int l = 0; l < LAYERS; l++) nb_module_free(layers[l]);
    }
    nb_tensor_free(x);

    printf("activation mean / std per layer (%lld inputs, %d layers of %d units)\n\n", (long long)n, LAYERS, WIDTH);
    printf("layer");
    for (int e = 0; e < NEX; e++) printf(" | %-22s", ex[e].name);
    printf("\n");
    for (int l = 0; l < LAYERS; l++) {
        printf("%5d", l + 1);
        for (int e = 0; e < NEX; e++) printf(" | %+9.2e %10.3e ", mean[e][l], sd[e][l]);
        printf("\n");
    }

    /* The lecture's conclusions, checked. */
    double ratio_xr = sd[2][LAYERS - 1] / sd[2][0], ratio_he = sd[3][LAYERS - 1] / sd[3][0];
    printf("\nstd at layer 10: tanh small %.1e, tanh Xavier %.3f\n", sd[0][LAYERS - 1], sd[1][LAYERS - 1]);
    printf("std layer 10 / layer 1: relu Xavier %.3f (about 2^-4.5 = %.3f), relu He %.3f (about 1)\n", ratio_xr,
           pow(2, -4.5), ratio_he);
    int bad = 0;
    bad += !(sd[0][LAYERS - 1] < 1e-5);         /* small weights: activations vanish */
    bad += !(sd[1][LAYERS - 1] > 0.1);          /* Xavier keeps tanh alive */
    bad += !(ratio_xr < 0.15);                  /* Xavier + relu: halves the variance per layer */
    bad += !(ratio_he > 0.5 && ratio_he < 2.0); /* He keeps relu's scale */
    printf(bad ? "MISMATCH: a claim above does not hold\n"
               : "OK: small weights vanish, Xavier suits tanh, He suits relu\n");

    if (csv) {
        FILE *f = fopen(csv, "w");
        if (!f) {
            perror(csv);
            return 1;
        }
        fprintf(f, "case,layer,mean,std\n");
        for (int e = 0; e < NEX; e++)
            for (int l = 0; l < LAYERS; l++) fprintf(f, "\"%s\",%d,%g,%g\n", ex[e].name, l + 1, mean[e][l], sd[e][l]);
        fclose(f);
        printf("wrote %s\n", csv);
    }
    if (svg) {
        const char *names[4];
        for (int e = 0; e < NEX; e++) names[e] = ex[e].name;
        if (write_svg(svg, names, sd, NEX)) return 1;
        printf("wrote %s\n", svg);
    }
    return bad ? 1 : 0;
}
