/* ops/kernels/cpu.h — which SIMD instruction set the kernels may use (internal).
 *
 * One rule for every dispatching kernel family (GEMM, vector math): the best
 * ISA the CPU supports, optionally capped by an environment variable or an
 * API call naming "scalar", "avx2" or "avx512" — a cap can lower the ISA,
 * never raise it past the CPU. */
#ifndef NB_CPU_H
#define NB_CPU_H

#include <stdlib.h>
#include <string.h>

enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

static inline int nb_cpu_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
    return ISA_SCALAR;
}

/* "scalar" / "avx2" / "avx512" -> ISA_*, anything else -1. */
static inline int nb_isa_from_name(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "avx512")) return ISA_AVX512;
    if (!strcmp(s, "avx2")) return ISA_AVX2;
    if (!strcmp(s, "scalar")) return ISA_SCALAR;
    return -1;
}

/* The ISA to use: the CPU's best, capped by the environment variable env. */
static inline int nb_isa_resolve(const char *env) {
    int best = nb_cpu_isa(), want = nb_isa_from_name(getenv(env));
    return want >= 0 && want < best ? want : best;
}

/* A cap set through the API: ISA_* or -1 if the name is bad or above the CPU. */
static inline int nb_isa_cap(const char *name) {
    int want = nb_isa_from_name(name);
    return want < 0 || want > nb_cpu_isa() ? -1 : want;
}

static inline const char *nb_isa_name(int isa) {
    static const char *names[] = {"scalar", "avx2", "avx512"};
    return names[isa];
}

#endif
