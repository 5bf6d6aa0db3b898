#ifndef DUET_RANDOM_MODEL_H
#define DUET_RANDOM_MODEL_H

/* A model of a given shape with random weights, built in memory (no
 * checkpoint): for benchmarks, which need the real shapes (15M, 110M, ...)
 * but not trained values. Weights are uniform with variance 1/fan_in (so
 * activations stay O(1) through the layers), deterministic for a seed,
 * stored in `dtype` (F32, BF16 or F16); norms are 1, no biases. The whole
 * model lives in one allocation. */

#include <stdint.h>

#include "engine/model.h"

typedef struct {
  duet_model model; /* pass &rm->model to the forward functions */
  void *arena;
} duet_random_model;

/* cfg needs dim, hidden, n_layers, n_heads, n_kv_heads, head_dim, vocab,
 * tied; the rest is used as given (norm_eps, rope_theta, pos, ...).
 * DUET_EINVAL for a bad shape, DUET_ENOMEM. */
int duet_random_model_new(const duet_config *cfg, duet_dtype dtype, uint64_t seed, duet_random_model **out);
void duet_random_model_free(duet_random_model *rm);

/* Parameters outside the embedding and the LM head (layers and final norm):
 * the "non-embedding parameters" of FLOP counts (2 per parameter per token). */
int64_t duet_model_nonembed_params(const duet_config *cfg);
/* Bytes of weights one decode step reads: every layer matrix and the LM
 * head in their stored dtype, the norm vectors, one embedding row. */
int64_t duet_model_decode_bytes(const duet_model *m);

#endif
