#include "engine/train/rng.h"

#include <math.h>

void duet_rng_seed(duet_rng *r, uint64_t seed) { r->s = seed; }

uint64_t duet_rng_u64(duet_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t duet_rng_below(duet_rng *r, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
  do x = duet_rng_u64(r);
  while (x >= limit);
  return x % n;
}

float duet_rng_uniform(duet_rng *r) { return (float)(duet_rng_u64(r) >> 40) / 16777216.0f; }

float duet_rng_normal(duet_rng *r) {
  double u1 = ((duet_rng_u64(r) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1], never log(0) */
  double u2 = (duet_rng_u64(r) >> 11) / 9007199254740992.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}
