#ifndef DUET_PARALLEL_FSDP_H
#define DUET_PARALLEL_FSDP_H

/* Fully sharded data parallel (ZeRO-3 / PyTorch FSDP over one flat
 * buffer). The flat parameter buffer, padded to a multiple of the N ranks,
 * is cut into N equal shards; rank r owns shard r of the parameters, of
 * the averaged gradients and of the AdamW moments, and updates only it.
 * Each step:
 *   backward on the rank's share of the batch -> full local gradients
 *   MPI_Reduce_scatter_block: rank r receives the sum of shard r, / N
 *   global gradient norm: shard sums of squares, MPI_Allreduce
 *   clip + AdamW on shard r (each element decayed by its tensor)
 *   MPI_Allgather of the updated shards: the whole parameters for the
 *   next forward (the model's flat buffer is that gathered copy)
 * The AdamW moments exist only as shards; a checkpoint gathers them on the
 * writing rank. */

#include <mpi.h>

#include "engine/train/trainer.h"

typedef struct duet_fsdp duet_fsdp;

/* A strategy over comm (the data axis); also set o's data-parallel fields
 * to it (each rank draws its share of the batch, losses are averaged). */
int duet_fsdp_new(MPI_Comm *comm, duet_train_opts *o, duet_fsdp **out, duet_train_strategy *s);
void duet_fsdp_free(duet_fsdp *f);

#endif
