/* ops/kernels/gemm_packed.c — dispatch of the pre-packed-B GEMM
 * (gemm_packed.h) to the ISA instantiations of gemm_tmpl.h, or to the
 * reference loop on a plain K×N copy. */
#include "gemm_packed.h"
#include "gemm.h"
#include "cpu.h"

#include <string.h>

#define PK_DECL(SFX, T)                                                                                               \
    size_t nb_gemm_packed_len##SFX(int64_t K, int64_t N);                                                             \
    void nb_gemm_pack##SFX(bool tb, int64_t K, int64_t N, const T *B, int64_t ldb, T *dst);                           \
    void nb_gemm_packed##SFX(bool ta, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, const T *Bp, \
                             int64_t n0, int64_t n1, T beta, T *C, int64_t ldc);
PK_DECL(_avx512_f32, float)
PK_DECL(_avx512_f64, double)
PK_DECL(_avx2_f32, float)
PK_DECL(_avx2_f64, double)

/* Which layout: 2 AVX-512, 1 AVX2, 0 the reference's plain K×N. */
static int layout(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (strcmp(nb_gemm_backend(), "ref") != 0) {
        const int isa = nb_isa();
        if (isa == ISA_AVX512) return 2;
        if (isa == ISA_AVX2) return 1;
    }
#endif
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define ISA_CALL(S, call512, call2) \
    case 2: call512; break;         \
    case 1:                         \
        call2;                      \
        break;
#else
#define ISA_CALL(S, call512, call2)
#endif

#define PK_DISPATCH(T, S, NR512, NR2)                                                                                 \
    size_t nb_gemm_packed_len_##S(int64_t K, int64_t N) {                                                             \
        switch (layout()) {                                                                                           \
            ISA_CALL(S, return nb_gemm_packed_len_avx512_##S(K, N), return nb_gemm_packed_len_avx2_##S(K, N))         \
        default: return (size_t)K * (size_t)N;                                                                        \
        }                                                                                                             \
    }                                                                                                                 \
    int64_t nb_gemm_packed_nr_##S(void) {                                                                             \
        const int l = layout();                                                                                       \
        return l == 2 ? NR512 : l == 1 ? NR2 : 1;                                                                     \
    }                                                                                                                 \
    void nb_gemm_pack_##S(bool tb, int64_t K, int64_t N, const T *B, int64_t ldb, T *dst) {                           \
        if (K <= 0 || N <= 0) return;                                                                                 \
        switch (layout()) {                                                                                           \
            ISA_CALL(S, nb_gemm_pack_avx512_##S(tb, K, N, B, ldb, dst), nb_gemm_pack_avx2_##S(tb, K, N, B, ldb, dst)) \
        default:                                                                                                      \
            for (int64_t k = 0; k < K; k++)                                                                           \
                for (int64_t j = 0; j < N; j++) dst[k * N + j] = tb ? B[j * ldb + k] : B[k * ldb + j];                \
        }                                                                                                             \
    }                                                                                                                 \
    void nb_gemm_packed_##S(bool ta, int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t lda, const T *Bp,  \
                            int64_t n0, int64_t n1, T beta, T *C, int64_t ldc) {                                      \
        if (n1 > N) n1 = N;                                                                                           \
        if (M <= 0 || n0 >= n1) return;                                                                               \
        if (K <= 0 || alpha == 0) {                                                                                   \
            for (int64_t i = 0; i < M; i++)                                                                           \
                for (int64_t j = n0; j < n1; j++) C[i * ldc + j] = beta == 0 ? (T)0 : beta * C[i * ldc + j];          \
            return;                                                                                                   \
        }                                                                                                             \
        switch (layout()) {                                                                                           \
            ISA_CALL(S, nb_gemm_packed_avx512_##S(ta, M, N, K, alpha, A, lda, Bp, n0, n1, beta, C, ldc),              \
                     nb_gemm_packed_avx2_##S(ta, M, N, K, alpha, A, lda, Bp, n0, n1, beta, C, ldc))                   \
        default: nb_gemm_ref_##S(ta, false, M, n1 - n0, K, alpha, A, lda, Bp + n0, N, beta, C + n0, ldc);             \
        }                                                                                                             \
    }

/* NR = NV·VL of each instantiation (gemm_avx512.c, gemm_avx2.c) */
PK_DISPATCH(float, f32, 32, 16)
PK_DISPATCH(double, f64, 16, 8)
