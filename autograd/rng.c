/* autograd/rng.c — one seeded generator for every random draw: xoshiro256**
 * (Blackman & Vigna), seeded through splitmix64; normals by Box–Muller. */
#include "internal.h"

#include <math.h>

/* The default generator is per thread: every thread starts from the same
 * state, and nb_seed seeds the calling thread's. */
static NB_TLS nb_rng_state g_rng = {{0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull, 1}, 0, 0};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void nb_seed(uint64_t seed) {
    for (int i = 0; i < 4; i++) g_rng.s[i] = splitmix64(&seed);
    g_rng.has_spare = 0;
    g_rng.spare = 0;
}

nb_rng_state nb_rng_get(void) { return g_rng; }
void nb_rng_set(nb_rng_state st) { g_rng = st; }

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nb_rand_u64(void) {
    uint64_t *s = g_rng.s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

double nb_rand_uniform(void) { return (double)(nb_rand_u64() >> 11) * 0x1.0p-53; }

double nb_rand_normal(void) {
    if (g_rng.has_spare) {
        g_rng.has_spare = 0;
        return g_rng.spare;
    }
    double u1, u2;
    do u1 = nb_rand_uniform();
    while (u1 <= 0.0);
    u2 = nb_rand_uniform();
    double r = sqrt(-2.0 * log(u1)), th = 2.0 * 3.14159265358979323846 * u2;
    g_rng.spare = r * sin(th);
    g_rng.has_spare = 1;
    return r * cos(th);
}
