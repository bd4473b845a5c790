/* tests/op_seed.h — the seed an op's registry samples are drawn with:
 * FNV-1a 64 of the op's name, so that an op's samples do not depend on its
 * place in the registry (adding an op leaves the others' samples as they
 * were). tests/dump_samples.c (the fixtures' inputs), test_reference.c and
 * test_registry.c. */
#ifndef NB_TEST_OP_SEED_H
#define NB_TEST_OP_SEED_H
#include <stdint.h>

static inline uint64_t op_seed(const char *name) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

#endif
