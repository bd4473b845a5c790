/* ops/kernels/cpu.c — the ISA policy of cpu.h. */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int nb_cpu_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
    return ISA_SCALAR;
}

/* "scalar" / "avx2" / "avx512" -> ISA_*, anything else -1. */
static int isa_from_name(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "avx512")) return ISA_AVX512;
    if (!strcmp(s, "avx2")) return ISA_AVX2;
    if (!strcmp(s, "scalar")) return ISA_SCALAR;
    return -1;
}

/* -1: not decided yet. Read by every thread: a relaxed atomic (a race
 * between first calls stores the same value). */
static _Atomic int g_isa = -1;

int nb_isa(void) {
    int v = atomic_load_explicit(&g_isa, memory_order_relaxed);
    if (v < 0) {
        const int best = nb_cpu_isa(), want = isa_from_name(getenv("NB_ISA"));
        v = want >= 0 && want < best ? want : best;
        atomic_store_explicit(&g_isa, v, memory_order_relaxed);
    }
    return v;
}

bool nb_isa_set_cap(const char *name) {
    if (!name) {
        atomic_store_explicit(&g_isa, nb_cpu_isa(), memory_order_relaxed);
        return true;
    }
    const int want = isa_from_name(name);
    if (want < 0 || want > nb_cpu_isa()) return false;
    atomic_store_explicit(&g_isa, want, memory_order_relaxed);
    return true;
}

const char *nb_isa_name(int isa) {
    static const char *names[] = {"scalar", "avx2", "avx512"};
    return isa >= ISA_SCALAR && isa <= ISA_AVX512 ? names[isa] : "?";
}
