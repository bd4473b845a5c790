/* ops/kernels/attn_f32.h — one (batch, head) slice of scaled dot-product
 * attention in f32 on AVX-512F, without mask or dropout (internal;
 * graph-free, one thread: the caller splits the slices).
 *
 * The same products as ops/attention.c's generic slice, which calls the
 * GEMM once per block (up to 20 calls a slice at the tiny GPT's sizes, each
 * dispatching, packing op(B) and transposing K or V again): here every
 * product is a run of 8×32 tiles through one inlined micro-kernel with A
 * read in place (rows or columns) and B in place (V, K, Q, dO) or from one
 * transposed copy per slice (Kᵀ, Vᵀ). Each element sums the same products
 * in the same order as the GEMM's micro-kernel (FMAs upward from 0, then
 * alpha, then + C), over the same causal ranges (blocks of 16 rows/columns),
 * and the softmax rows are the same functions: the results have the
 * generic path's bits (tests/test_attention.c checks them).
 *
 * Shapes: L % 8 == 0, S % 32 == 0, D % 32 == 0 (E = Ev = D); nb_attn_f32_fast
 * says whether the CPU (and the NB_ISA cap) and the shapes allow it. */
#ifndef NB_KERNELS_ATTN_F32_H
#define NB_KERNELS_ATTN_F32_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const float *q, *k, *v; /* the slice's first rows */
    int64_t ldq, ldk, ldv;  /* their row strides (elements) */
    int64_t L, S, D;        /* queries, keys, head dim */
    float scale;
    bool causal; /* row i sees keys [0, min(i + 1, S)) */
    /* the q, k, v rows this thread takes next (same strides and sizes),
     * fetched into the cache while this slice computes; NULL: none */
    const float *nq, *nk, *nv;
    const float *na, *ng; /* backward: the next slice's A and dO (rows S and ldg apart) */
} nb_attn_slice;

bool nb_attn_f32_fast(int64_t L, int64_t S, int64_t D);
/* Tests: false makes nb_attn_f32_fast false (the generic path runs). */
void nb__attn_f32_enable(bool on);

/* Scratch floats per thread: forward Kᵀ and 8 rows of A (D·S + 8·S);
 * backward dS and Vᵀ (L·S + D·S). 64-byte aligned. */
static inline int64_t nb_attn_fwd_scratch(int64_t S, int64_t D) { return D * S + 8 * S; }
static inline int64_t nb_attn_bwd_scratch(int64_t L, int64_t S, int64_t D) { return L * S + D * S; }

/* A (L×S, rows S apart) = softmax(scale·QKᵀ) (causal: 0 past the diagonal;
 * a row whose scores are all −∞ is 0), O (rows ldo apart) = A·V. */
void nb_attn_fwd_f32(const nb_attn_slice *s, float *A, float *O, int64_t ldo, float *scr);
/* From A and dO (G, rows ldg apart): GV (+)= Aᵀ·dO, GQ (+)= scale·dS·K,
 * GK (+)= scale·dSᵀ·Q, dS = softmax'(A)·(dO·Vᵀ). A NULL gradient is
 * skipped; fresh[i] (q, k, v): the gradient is new and written (rows no
 * product reaches are zeroed), else added to. */
void nb_attn_bwd_f32(const nb_attn_slice *s, const float *A, const float *G, int64_t ldg, float *GQ, int64_t ldgq,
                     float *GK, int64_t ldgk, float *GV, int64_t ldgv, const bool *fresh, float *scr);

#endif
