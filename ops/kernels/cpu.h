/* ops/kernels/cpu.h — which SIMD instruction set the kernels use (internal).
 *
 * One policy for every kernel family (GEMM, vector math, the direct and
 * padded-width conv, pooling): nb_isa() is the best ISA the CPU supports,
 * capped by the environment variable NB_ISA ("scalar", "avx2" or "avx512",
 * read once) or by nb_isa_set_cap — a cap can lower the ISA, never raise it
 * past the CPU. Tests and benchmarks force each ISA through nb_isa_set_cap.
 *
 *   ISA_AVX512  AVX-512F (the GEMM and vector-math kernels, the direct conv,
 *               the f32 pooling row)
 *   ISA_AVX2    AVX2 + FMA (GEMM, vector math, the padded-width conv helpers)
 *   ISA_SCALAR  the baseline build (SSE2 on x86-64) */
#ifndef NB_CPU_H
#define NB_CPU_H

#include <stdbool.h>

enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

/* The best ISA of this CPU. */
int nb_cpu_isa(void);
/* The ISA every kernel family uses (the CPU's best under the cap). */
int nb_isa(void);
/* Caps every family at "scalar", "avx2" or "avx512" (NULL: no cap, the
 * CPU's best); false, changing nothing, for another name or an ISA the CPU
 * lacks. */
bool nb_isa_set_cap(const char *name);
/* "scalar", "avx2" or "avx512". */
const char *nb_isa_name(int isa);

#endif
