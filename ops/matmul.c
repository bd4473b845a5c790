/* ops/matmul.c — (...,M,K) @ (...,K,N) -> (...,M,N), batch dims broadcast.
 *
 * Every product goes through nb_gemm. When b is a plain matrix, a's batch dims
 * fold into M and the whole op is one GEMM (forward and both gradients).
 * Backward: dA += dC·Bᵀ, dB += Aᵀ·dC, accumulated with beta = 1 so batches
 * that were broadcast sum their gradients. */
#include "broadcast.h"
#include "kernels/gemm.h"
#include "../autograd/internal.h"

static nb_shape batch_of(nb_shape s) {
    s.ndim -= 2;
    return s;
}

#define MM_DIMS(n)                                                                  \
    const nb_tensor *a_ = (n)->in[0], *b_ = (n)->in[1];                             \
    const int64_t M = a_->shape.d[a_->shape.ndim - 2], K = a_->shape.d[a_->shape.ndim - 1]; \
    const int64_t N = b_->shape.d[b_->shape.ndim - 1];                              \
    const bool fold = b_->shape.ndim == 2;                                          \
    const int64_t rows = fold ? (N ? (n)->out->numel / N : 0) : M /* a's batch folded into M */

static void mm_fwd(nb_node *n) {
    MM_DIMS(n);
    nb_shape bshape = batch_of(n->out->shape);
    if (a_->dtype == NB_F32) {
        const float *A = nb_f32(a_), *B = nb_f32(b_);
        float *C = nb_f32(n->out);
        if (fold) { nb_gemm_f32(false, false, rows, N, K, 1, A, K, B, N, 0, C, N); return; }
        nb_bc bc;
        nb_bc_init(&bc, bshape, batch_of(a_->shape), batch_of(b_->shape));
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++)
                nb_gemm_f32(false, false, M, N, K, 1, A + (oa + j * sa) * M * K, K, B + (ob + j * sb) * K * N, N, 0,
                            C + (oo + j) * M * N, N);
        });
    } else {
        const double *A = nb_f64(a_), *B = nb_f64(b_);
        double *C = nb_f64(n->out);
        if (fold) { nb_gemm_f64(false, false, rows, N, K, 1, A, K, B, N, 0, C, N); return; }
        nb_bc bc;
        nb_bc_init(&bc, bshape, batch_of(a_->shape), batch_of(b_->shape));
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++)
                nb_gemm_f64(false, false, M, N, K, 1, A + (oa + j * sa) * M * K, K, B + (ob + j * sb) * K * N, N, 0,
                            C + (oo + j) * M * N, N);
        });
    }
}

static void mm_bwd(nb_node *n, const nb_tensor *g) {
    MM_DIMS(n);
    nb_tensor *gat = nb_grad_buf(n->in[0]), *gbt = nb_grad_buf(n->in[1]);
    nb_shape bshape = batch_of(n->out->shape);
    if (a_->dtype == NB_F32) {
        const float *A = nb_f32(a_), *B = nb_f32(b_), *G = nb_f32(g);
        float *GA = gat ? nb_f32(gat) : NULL, *GB = gbt ? nb_f32(gbt) : NULL;
        if (fold) {
            if (GA) nb_gemm_f32(false, true, rows, K, N, 1, G, N, B, N, 1, GA, K);
            if (GB) nb_gemm_f32(true, false, K, N, rows, 1, A, K, G, N, 1, GB, N);
            return;
        }
        nb_bc bc;
        nb_bc_init(&bc, bshape, batch_of(a_->shape), batch_of(b_->shape));
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++) {
                const float *Gj = G + (oo + j) * M * N;
                if (GA) nb_gemm_f32(false, true, M, K, N, 1, Gj, N, B + (ob + j * sb) * K * N, N, 1,
                                    GA + (oa + j * sa) * M * K, K);
                if (GB) nb_gemm_f32(true, false, K, N, M, 1, A + (oa + j * sa) * M * K, K, Gj, N, 1,
                                    GB + (ob + j * sb) * K * N, N);
            }
        });
    } else {
        const double *A = nb_f64(a_), *B = nb_f64(b_), *G = nb_f64(g);
        double *GA = gat ? nb_f64(gat) : NULL, *GB = gbt ? nb_f64(gbt) : NULL;
        if (fold) {
            if (GA) nb_gemm_f64(false, true, rows, K, N, 1, G, N, B, N, 1, GA, K);
            if (GB) nb_gemm_f64(true, false, K, N, rows, 1, A, K, G, N, 1, GB, N);
            return;
        }
        nb_bc bc;
        nb_bc_init(&bc, bshape, batch_of(a_->shape), batch_of(b_->shape));
        NB_BC_FOR(&bc, {
            for (int64_t j = 0; j < len; j++) {
                const double *Gj = G + (oo + j) * M * N;
                if (GA) nb_gemm_f64(false, true, M, K, N, 1, Gj, N, B + (ob + j * sb) * K * N, N, 1,
                                    GA + (oa + j * sa) * M * K, K);
                if (GB) nb_gemm_f64(true, false, K, N, M, 1, A + (oa + j * sa) * M * K, K, Gj, N, 1,
                                    GB + (ob + j * sb) * K * N, N);
            }
        });
    }
}

static const nb_op matmul_op = {"matmul", mm_fwd, mm_bwd, NB_SAVES_IN(0) | NB_SAVES_IN(1), false};

nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b) {
    nb_tensor *in[2] = {a, b};
    if (!nb_check_float_inputs("matmul", in, 2)) return NULL;
    char x[NB_DESCRIBE_LEN], y[NB_DESCRIBE_LEN];
    if (a->shape.ndim < 2 || b->shape.ndim < 2) {
        nb_fail(NB_ERR_SHAPE, "matmul", "both operands need at least 2 dims: %s, %s", nb_describe(a, "a", x, sizeof x),
                nb_describe(b, "b", y, sizeof y));
        return NULL;
    }
    int64_t K = a->shape.d[a->shape.ndim - 1];
    if (K != b->shape.d[b->shape.ndim - 2]) {
        nb_fail(NB_ERR_SHAPE, "matmul", "inner dimensions differ: %s, %s", nb_describe(a, "a", x, sizeof x),
                nb_describe(b, "b", y, sizeof y));
        return NULL;
    }
    nb_tensor ba = {.shape = batch_of(a->shape)}, bb = {.shape = batch_of(b->shape)};
    nb_shape s;
    if (!nb_broadcast_shape("matmul", &ba, &bb, &s)) return NULL;
    s.d[s.ndim++] = a->shape.d[a->shape.ndim - 2];
    s.d[s.ndim++] = b->shape.d[b->shape.ndim - 1];
    return nb_apply(&matmul_op, in, 2, s);
}

/* ------------------------------------------------------------ registry */

static nb_tensor *matmul_entry_apply(nb_tensor *const *in, int nin, const nb_sample *s) {
    (void)nin; (void)s;
    return nb_matmul(in[0], in[1]);
}

static int matmul_samples(nb_sample *s, int max) {
    static const struct { nb_shape a, b; const char *desc; } cases[] = {
        {NB_SHAPE(3, 4), NB_SHAPE(4, 5), "2-D (3,4)@(4,5)"},
        {NB_SHAPE(1, 3), NB_SHAPE(3, 1), "row times column"},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(4, 2), "batched a, matrix b (folded)"},
        {NB_SHAPE(2, 3, 4), NB_SHAPE(2, 4, 3), "batched both"},
        {NB_SHAPE(3, 1, 2, 3), NB_SHAPE(2, 3, 2), "batch dims broadcast"},
        {NB_SHAPE(2, 3), NB_SHAPE(2, 3, 2), "matrix a, batched b"},
    };
    int k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && k < max; i++, k++) {
        s[k] = (nb_sample){.desc = cases[i].desc, .nin = 2};
        s[k].in[0] = nb_sample_uniform(cases[i].a, -1, 1);
        s[k].in[1] = nb_sample_uniform(cases[i].b, -1, 1);
    }
    return k;
}

const nb_op_entry nb_entry_matmul = {"matmul", matmul_entry_apply, matmul_samples, 0, 0};
