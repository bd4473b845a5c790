/* bench/bench_gpt.c — one training step of the tiny GPT of tutorial 21
 * (pre-LN, 4 layers, 4 heads, width 128, context 64, vocab 65, tied
 * embedding) on batch 32 of random tokens: forward, cross-entropy, backward,
 * AdamW (lr 3e-4, weight decay 0.01 on every parameter, as the twin's
 * torch.optim.AdamW defaults), F32. Twin: bench_gpt.py.
 *
 *   bench_gpt [STEPS]      time STEPS steps (default 20) in 3 rounds after 3
 *                          warm-up steps; prints the best round's time per
 *                          step as "time_s:", the achieved GFLOP/s
 *                          (6·params·tokens + attention) and the FMA peak of
 *                          this thread count measured as bench_gemm does;
 *                          "cpu_s:" is the best round's process CPU time
 *                          per step (on one thread, what a loaded machine
 *                          does not inflate by preemption) and on one
 *                          thread the GFLOP/s per CPU second beside the
 *                          peak (timed the same way)
 *   bench_gpt --attn       the attention alone (B 32, L 64, E 128, 4 heads,
 *                          causal), forward+backward: the fused op
 *                          (nb_sdpa_packed) against the same attention
 *                          composed of permute, matmul, scale, mask and
 *                          softmax (why the op exists: docs/nn.md)
 *   bench_gpt --soak N     N training steps; prints the RSS, nabla's heap and
 *                          arena bytes after step 10 and every N/10 steps,
 *                          then step 10 against step N (flat memory)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nabla/nabla.h"
#include "bench_peak.h"
#include "bench_util.h"
#include "cpu.h"
#include "kernels/gemm.h"

#define VOCAB 65
#define CTX 64
#define WIDTH 128
#define LAYERS 4
#define HEADS 4
#define BATCH 32

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The resident set now (MiB), from /proc/self/statm; 0 where there is none. */
static double rss_now_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void batch_of(int64_t *x, int64_t *y) { /* random tokens; y = x shifted (next-token targets) */
    int64_t seq[BATCH * (CTX + 1)];
    for (int i = 0; i < BATCH * (CTX + 1); i++) seq[i] = (int64_t)(nb_rand_u64() % VOCAB);
    for (int b = 0; b < BATCH; b++)
        for (int t = 0; t < CTX; t++) {
            x[b * CTX + t] = seq[b * (CTX + 1) + t];
            y[b * CTX + t] = seq[b * (CTX + 1) + t + 1];
        }
}

static double step(nb_module *m, nb_optim *opt, const int64_t *xs, const int64_t *ys) {
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_from_i64(NB_SHAPE(BATCH, CTX), xs), *y = nb_from_i64(NB_SHAPE(BATCH * CTX), ys);
    nb_tensor *logits = nb_forward(m, x);
    nb_tensor *loss = nb_cross_entropy(nb_reshape(logits, NB_SHAPE(BATCH * CTX, VOCAB)), y, NB_REDUCE_MEAN);
    nb_optim_zero_grad(opt);
    nb_backward(loss);
    nb_optim_step(opt);
    const double l = nb_item(loss);
    nb_scope_end(&s);
    return l;
}

/* The attention written with the general ops, as a user without nb_sdpa
 * would: heads permuted out of the (B,L,3E) projection, kᵀ copied, scores
 * scaled, the causal mask added, softmax, the product, heads merged. */
static nb_tensor *composed_attention(nb_tensor *qkv, nb_tensor *causal) {
    const int64_t B = qkv->shape.d[0], L = qkv->shape.d[1], E = qkv->shape.d[2] / 3, D = E / HEADS;
    nb_tensor *h = nb_permute(nb_reshape(qkv, NB_SHAPE(B, L, 3, HEADS, D)), (int[]){2, 0, 3, 1, 4}, 5);
    nb_tensor *q = nb_slice(h, 0, 0, 1, 1), *k = nb_slice(h, 0, 1, 2, 1), *v = nb_slice(h, 0, 2, 3, 1);
    q = nb_reshape(q, NB_SHAPE(B, HEADS, L, D)), k = nb_reshape(k, NB_SHAPE(B, HEADS, L, D));
    v = nb_reshape(v, NB_SHAPE(B, HEADS, L, D));
    nb_tensor *sc = nb_add(nb_mul_scalar(nb_matmul(q, nb_transpose(k, 2, 3)), 1 / sqrt((double)D)), causal);
    nb_tensor *o = nb_matmul(nb_softmax(sc, -1), v);
    return nb_reshape(nb_permute(o, (int[]){0, 2, 1, 3}, 4), NB_SHAPE(B, L, E));
}

static int attention_only(void) {
    nb_seed(2);
    nb_tensor *qkv = nb_set_requires_grad(nb_randn(NB_F32, NB_SHAPE(BATCH, CTX, 3 * WIDTH), 0, 1), true);
    nb_tensor *causal = nb_zeros(NB_F32, NB_SHAPE(CTX, CTX));
    for (int i = 0; i < CTX; i++)
        for (int j = i + 1; j < CTX; j++) nb_f32(causal)[i * CTX + j] = -INFINITY;
    double best[2] = {1e30, 1e30};
    for (int round = 0; round < 7; round++)
        for (int way = 0; way < 2; way++) {
            const int reps = 20;
            double t0 = bench_now();
            for (int r = 0; r < reps; r++) {
                nb_scope *s = nb_scope_begin();
                nb_tensor *o = way ? composed_attention(qkv, causal) : nb_sdpa_packed(qkv, HEADS, NULL, true, 0, 0);
                nb_backward(nb_sum_all(o));
                nb_scope_end(&s);
            }
            const double dt = (bench_now() - t0) / reps;
            if (dt < best[way]) best[way] = dt;
        }
    printf("attention fwd+bwd (B %d, L %d, E %d, %d heads, causal), %d threads: fused sdpa_packed %.3f ms, "
           "composed %.3f ms (composed/fused %.2f)\n",
           BATCH, CTX, WIDTH, HEADS, nb_get_num_threads(), 1e3 * best[0], 1e3 * best[1], best[1] / best[0]);
    nb_tensor_free(qkv);
    nb_tensor_free(causal);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--attn")) return attention_only();
    const bool soak = argc > 2 && !strcmp(argv[1], "--soak");
    const int steps = soak ? atoi(argv[2]) : argc > 1 ? atoi(argv[1]) : 20;
    nb_seed(1);
    nb_module *m = nb_gpt(VOCAB, CTX, WIDTH, LAYERS, HEADS, 0);
    nb_optim_opts oo = nb_optim_defaults(NB_OPTIM_ADAMW); /* torch.optim.AdamW: wd 0.01 */
    oo.lr = 3e-4;
    nb_optim *opt = nb_optim_new_module(&oo, m);
    int64_t *xs = malloc(sizeof(int64_t) * BATCH * CTX), *ys = malloc(sizeof(int64_t) * BATCH * CTX);
    batch_of(xs, ys);
    double loss = 0;
    if (soak) {
        nb_mem_stats a = {0};
        for (int i = 1; i <= steps; i++) {
            loss = step(m, opt, xs, ys);
            if (i == 10) a = nb_mem_stats_get();
            if (i == 10 || i % (steps / 10 > 0 ? steps / 10 : 1) == 0) { /* the curve: start, middle, end */
                const nb_mem_stats c = nb_mem_stats_get();
                printf("soak step %d: RSS %.1f MiB, heap_live %zu bytes, arena_reserved %zu, loss %.4f\n", i,
                       rss_now_mib(), c.heap_live, c.arena_reserved, loss);
                fflush(stdout);
            }
        }
        nb_mem_stats b = nb_mem_stats_get();
        printf("soak %d steps: loss %.4f; heap_live %zu -> %zu bytes, arena_reserved %zu -> %zu, heap allocations "
               "%zu -> %zu, peak RSS %.1f MiB\n",
               steps, loss, a.heap_live, b.heap_live, a.arena_reserved, b.arena_reserved, a.heap_allocs, b.heap_allocs,
               bench_peak_rss_mib());
    } else {
        for (int i = 0; i < 3; i++) loss = step(m, opt, xs, ys);
        double best = 1e30, best_cpu = 1e30;
        for (int round = 0; round < 3; round++) {
            const double t0 = bench_now(), c0 = cpu_now();
            for (int i = 0; i < steps; i++) loss = step(m, opt, xs, ys);
            const double dt = (bench_now() - t0) / steps, dc = (cpu_now() - c0) / steps;
            if (dt < best) best = dt;
            if (dc < best_cpu) best_cpu = dc;
        }
        const double params = (double)nb_module_numel(m), tokens = (double)BATCH * CTX;
        const double flops = 6 * params * tokens + (double)LAYERS * 12 * BATCH * (double)CTX * CTX * WIDTH;
        const double peak = bench_fma_peak(nb_isa() == ISA_AVX512, nb_get_num_threads(), 3);
        printf("gpt step (batch %d, context %d, %.0f params, AdamW), %d threads, gemm %s/%s: loss %.4f, "
               "%.1f ms/step, %.1f GFLOP/s of %.1f GFLOP/step (peak %.0f GFLOP/s, %.0f%%)\n",
               BATCH, CTX, params, nb_get_num_threads(), nb_gemm_backend(), nb_isa_name(nb_isa()), loss, 1e3 * best,
               flops / best / 1e9, flops / 1e9, peak, 100 * flops / best / 1e9 / peak);
        /* the 1-thread peak is timed in process CPU time: on a loaded machine compare it with this */
        if (nb_get_num_threads() == 1)
            printf("per CPU second: %.1f GFLOP/s (%.0f%% of the peak)\n", flops / best_cpu / 1e9,
                   100 * flops / best_cpu / 1e9 / peak);
        printf("rss_mib: %.1f\n", bench_peak_rss_mib());
        printf("cpu_s: %.6f\n", best_cpu); /* process CPU time per step: robust to a loaded machine on 1 thread */
        printf("time_s: %.6f\n", best);
    }
    nb_optim_free(opt);
    nb_module_free(m);
    free(xs), free(ys);
    return 0;
}
