#ifndef DUET_PARALLEL_FSDP_H
#define DUET_PARALLEL_FSDP_H

/* Fully sharded data parallel (ZeRO / PyTorch FSDP over one flat
 * buffer). The model's flat parameter and gradient buffers are padded to a
 * multiple of the N ranks and cut into N equal shards; rank r owns shard r
 * of the parameters, of the averaged gradients and of the AdamW moments,
 * and updates only it. Each step:
 *   backward on the rank's share of the batch -> whole local gradients
 *   MPI_Reduce_scatter_block: rank r receives the sum of shard r, / N
 *   global gradient norm: shard sums of squares, MPI_Allreduce
 *   clip + AdamW on shard r of the parameters (each element decayed by
 *   its tensor), with the moments of shard r only
 *   MPI_Allgather in place into the one parameter buffer: every rank's
 *   updated shard, the whole parameters for the next forward
 * The gradient buffer is the backward's scratch; the moments exist only as
 * shards, and a checkpoint gathers them on the writing rank. The whole
 * model is gathered once per step (not layer by layer as FSDP does to
 * bound memory), which keeps the trainer's forward unchanged. */

#include <mpi.h>

#include "engine/train/trainer.h"

typedef struct duet_fsdp duet_fsdp;

/* A strategy over comm (the data axis); also set o's data-parallel fields
 * to it (each rank draws its share of the batch, losses are averaged). */
int duet_fsdp_new(MPI_Comm *comm, duet_train_opts *o, duet_fsdp **out, duet_train_strategy *s);
void duet_fsdp_free(duet_fsdp *f);

/* On a mesh with tp (fsdp=N,tp=M): the model the strategy shards is this
 * rank's tensor-parallel shard (attached through tp), the q/k-norm
 * gradients are summed over the tp group first, and the gradient norm
 * counts the split tensors over the tp group. */
struct duet_tp;
void duet_fsdp_set_tp(duet_fsdp *f, struct duet_tp *tp);

#endif
