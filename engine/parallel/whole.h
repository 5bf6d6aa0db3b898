#ifndef DUET_PARALLEL_WHOLE_H
#define DUET_PARALLEL_WHOLE_H

/* The whole model and optimizer state for a checkpoint, assembled from
 * shards that hold different parts of the model (tensor and pipeline
 * parallel): each strategy says how one flat buffer (the parameters, then
 * each AdamW moment) comes together on its writing rank. */

#include "engine/train/adamw.h"
#include "engine/train/llama_train.h"

/* Assemble local (this rank's buffer of m's layout) into whole (the writing
 * rank's; NULL elsewhere). Collective over the strategy's group. */
typedef void (*duet_whole_fn)(void *ctx, const duet_llama_train *m, const float *local, float *whole);

/* Gather parameters and both moments into full / full_opt (NULL except on
 * the writing rank) and point *full_m, *full_o at them. */
int duet_whole_gather(duet_whole_fn fn, void *ctx, const duet_llama_train *m, const duet_adamw *o,
                      duet_llama_train *full, duet_adamw *full_opt, const duet_llama_train **full_m,
                      const duet_adamw **full_o);

#endif
