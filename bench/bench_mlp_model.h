/* bench/bench_mlp_model.h — the MLP benchmark's data and model, shared by
 * bench_mlp (one process) and bench_dist (ranks): 60 000 random 784-pixel
 * images with random labels, and a 784-256-128-10 MLP's parameters (weight,
 * bias per layer, U(±1/√fan_in) as torch.nn.Linear), drawn in this order
 * after nb_seed(1) so both programs train the same thing. */
#ifndef NB_BENCH_MLP_MODEL_H
#define NB_BENCH_MLP_MODEL_H

#include <math.h>
#include <stdlib.h>

#include "nabla/nabla.h"

#define NTRAIN 60000
#define NIN 784

/* *xs (NTRAIN·NIN) and *ys (NTRAIN) malloc'd; p[6] persistent, requiring grad. */
static inline void bench_mlp_model(float **xs, int64_t **ys, nb_tensor *p[6]) {
    nb_seed(1);
    *xs = malloc(sizeof(float) * (size_t)NTRAIN * NIN);
    *ys = malloc(sizeof(int64_t) * NTRAIN);
    for (size_t i = 0; i < (size_t)NTRAIN * NIN; i++) (*xs)[i] = (float)(nb_rand_u64() >> 40) / 16777216.0f;
    for (int i = 0; i < NTRAIN; i++) (*ys)[i] = (int64_t)(nb_rand_u64() % 10);
    const int64_t dims[4] = {NIN, 256, 128, 10};
    for (int l = 0; l < 3; l++) {
        double bound = 1 / sqrt((double)dims[l]);
        p[2 * l] = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(dims[l + 1], dims[l]), -bound, bound), true);
        p[2 * l + 1] = nb_set_requires_grad(nb_rand(NB_F32, NB_SHAPE(dims[l + 1]), -bound, bound), true);
    }
}
#endif
