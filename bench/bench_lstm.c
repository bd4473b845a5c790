/* bench/bench_lstm.c — a character-level language model's training step:
 * embedding 65 -> 64, a 1-layer LSTM (or GRU) 64 -> 256, linear 256 -> 65,
 * cross-entropy over every position, AdamW; batch 32, sequence 64, F32,
 * random characters. Twin: bench_lstm.py (torch.nn.LSTM / torch.nn.GRU).
 *
 *   bench_lstm [lstm|gru] [steps]       prints "time_s: <best mean step>" and
 *       "cpu_s: <best mean step CPU time, all threads>"
 *   bench_lstm [lstm|gru] soak [steps] [full]  a small model (batch 8,
 *       seq 16, hidden 64; "full": the benchmark's own model and sizes) for
 *       many steps (default 10000): nabla's heap, the arena and the peak RSS
 *       after 100 steps and at the end ("soak:" lines). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/nabla.h"
#include "bench_util.h"

#define VOCAB 65

/* Process CPU seconds (all threads): on a loaded machine a 1-thread run's
 * CPU time is steadier than its wall time. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    nb_module *net, *emb, *rnn, *head;
    nb_optim *opt;
    int T, B;
} lm;

static lm lm_new(bool gru, int T, int B, int E, int H) {
    lm m = {.T = T, .B = B};
    m.net = nb_module_new("CharLM", NULL, 0);
    m.emb = nb_module_add(m.net, "emb", nb_embedding(VOCAB, E));
    m.rnn = nb_module_add(m.net, "rnn", gru ? nb_gru(E, H, 1, NULL) : nb_lstm(E, H, 1, NULL));
    m.head = nb_module_add(m.net, "head", nb_linear(H, VOCAB));
    m.opt = nb_optim_adamw(m.net, 1e-3, 0.01);
    return m;
}

/* One step on idx (T, B) predicting tgt (T·B); returns the loss. */
static double lm_step(lm *m, const int64_t *idx, const int64_t *tgt) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_forward(m->emb, nb_from_i64(NB_SHAPE(m->T, m->B), idx)); /* (T, B, E) */
    nb_tensor *y = nb_forward(m->rnn, x);                                      /* (T, B, H) */
    nb_tensor *logits = nb_reshape(nb_forward(m->head, y), NB_SHAPE((int64_t)m->T * m->B, VOCAB));
    nb_tensor *loss = nb_cross_entropy(logits, nb_from_i64(NB_SHAPE((int64_t)m->T * m->B), tgt), NB_REDUCE_MEAN);
    nb_zero_grad(m->net);
    nb_backward(loss);
    nb_optim_step(m->opt);
    const double l = nb_item(loss);
    nb_scope_end(&s);
    return l;
}

static void fill(int64_t *idx, int64_t *tgt, int n) {
    for (int i = 0; i < n; i++) {
        idx[i] = (int64_t)(nb_rand_u64() % VOCAB);
        tgt[i] = (int64_t)(nb_rand_u64() % VOCAB);
    }
}

int main(int argc, char **argv) {
    const bool gru = argc > 1 && !strcmp(argv[1], "gru");
    const bool soak = argc > 2 && !strcmp(argv[2], "soak");
    nb_seed(1);
    if (soak) {
        const bool full = argc > 4 && !strcmp(argv[4], "full");
        const int steps = argc > 3 ? atoi(argv[3]) : 10000, T = full ? 64 : 16, B = full ? 32 : 8;
        lm m = full ? lm_new(gru, T, B, 64, 256) : lm_new(gru, T, B, 16, 64);
        int64_t idx[64 * 32], tgt[64 * 32];
        nb_mem_stats a = {0};
        double rss_a = 0, loss = 0;
        for (int i = 0; i < steps; i++) {
            fill(idx, tgt, T * B);
            loss = lm_step(&m, idx, tgt);
            if (i == 99) a = nb_mem_stats_get(), rss_a = bench_peak_rss_mib();
        }
        nb_mem_stats b = nb_mem_stats_get();
        printf("soak: %s%s, %d steps: after 100 heap %zu B arena %zu B peak RSS %.1f MiB; at the end heap %zu B arena "
               "%zu B peak RSS %.1f MiB; loss %.3f\n",
               gru ? "gru" : "lstm", full ? " (the benchmark's model)" : "", steps, a.heap_live, a.arena_reserved,
               rss_a, b.heap_live, b.arena_reserved, bench_peak_rss_mib(), loss);
        printf("soak_flat: %s\n", a.heap_live == b.heap_live && a.arena_reserved == b.arena_reserved ? "yes" : "NO");
        nb_optim_free(m.opt);
        nb_module_free(m.net);
        return a.heap_live == b.heap_live ? 0 : 1;
    }
    const int steps = argc > 2 ? atoi(argv[2]) : 10, T = 64, B = 32;
    lm m = lm_new(gru, T, B, 64, 256);
    int64_t *idx = malloc(sizeof(int64_t) * T * B), *tgt = malloc(sizeof(int64_t) * T * B);
    fill(idx, tgt, T * B);
    double loss = lm_step(&m, idx, tgt), best = 1e30, best_cpu = 1e30; /* warm-up */
    for (int r = 0; r < 3; r++) {
        double t0 = bench_now(), c0 = cpu_now();
        for (int i = 0; i < steps; i++) {
            fill(idx, tgt, T * B);
            loss = lm_step(&m, idx, tgt);
        }
        const double dt = (bench_now() - t0) / steps, dc = (cpu_now() - c0) / steps;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    printf("char-LM %s step (emb 64, hidden 256, vocab 65, batch %d, seq %d, AdamW): %.2f ms, loss %.3f, %d threads\n",
           gru ? "GRU" : "LSTM", B, T, 1e3 * best, loss, nb_get_num_threads());
    printf("time_s: %.6f\n", best);
    printf("cpu_s: %.6f\n", best_cpu);
    printf("rss_mib: %.1f\n", bench_peak_rss_mib());
    nb_optim_free(m.opt);
    nb_module_free(m.net);
    free(idx);
    free(tgt);
    return 0;
}
