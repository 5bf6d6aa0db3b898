#ifndef DUET_TRAIN_RNG_H
#define DUET_TRAIN_RNG_H

/* The trainer's pseudo-random numbers: splitmix64, a 64-bit state that is
 * saved in checkpoints so that a resumed run draws exactly the numbers the
 * uninterrupted run would have (bit-for-bit reproducibility). */

#include <stdint.h>

typedef struct {
  uint64_t s;
} duet_rng;

void duet_rng_seed(duet_rng *r, uint64_t seed);
uint64_t duet_rng_u64(duet_rng *r);
/* Uniform in [0, n), n > 0 (unbiased: rejection of the short tail). */
uint64_t duet_rng_below(duet_rng *r, uint64_t n);
/* Uniform in [0, 1) with 24 bits. */
float duet_rng_uniform(duet_rng *r);
/* Standard normal (Box-Muller; uses two uniforms per call). */
float duet_rng_normal(duet_rng *r);

#endif
