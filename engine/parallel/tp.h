#ifndef DUET_PARALLEL_TP_H
#define DUET_PARALLEL_TP_H

/* Megatron-LM tensor parallel (Shoeybi et al. 2019) over a group of G
 * ranks. Attention is split by heads: q/k/v are column-parallel (rank r
 * keeps the rows of its n_heads/G query heads and n_kv_heads/G kv heads),
 * o_proj row-parallel (the matching columns). The MLP is split by hidden
 * units: gate/up column-parallel, down row-parallel. So a rank's shard is
 * itself a Llama with n_heads, n_kv_heads and hidden divided by G, built
 * with engine/train/llama_train.h, plus two conjugate operators on the
 * tape:
 *   f (before q/k/v and gate/up): identity forward; backward all-reduces
 *     the gradient of the normed input (each rank saw only its columns)
 *   g (after o_proj and down_proj): all-reduce forward (the partial sums
 *     of the row-parallel products); identity backward
 * Embeddings, norms and the LM head are replicated: every rank computes
 * the same residual stream and the same loss, so their gradients agree
 * without communication, except the Qwen3 q/k norms: shared by every head,
 * their gradient is the sum of each rank's heads' part (all-reduced). The
 * gradient norm adds the split tensors'
 * squares over the group to the replicated ones counted once.
 *
 * Composes with data parallel on a mesh (dp=2,tp=2): the strategy first
 * averages the shard's gradients over the data axis. */

#include <mpi.h>

#include "engine/model.h"
#include "engine/train/trainer.h"

typedef struct duet_tp duet_tp;

/* Refuse shapes the group size does not divide (heads, kv heads, hidden). */
int duet_tp_check_shape(const duet_config *c, int group);

/* A strategy over comm (the model axis); data_comm: the data axis, whose
 * gradients it averages first (NULL or size 1: none). */
int duet_tp_new(MPI_Comm *comm, MPI_Comm *data_comm, duet_tp **out, duet_train_strategy *s);
void duet_tp_free(duet_tp *p);

/* The pieces a strategy that shards the tensor-parallel shard again (fsdp
 * on a mesh) builds on: */
/* the strategy's attach and gather (ctx: the duet_tp) */
int duet_tp_attach(void *ctx, duet_llama_train **m, duet_adamw *o);
int duet_tp_gather(void *ctx, const duet_llama_train *m, const duet_adamw *o, const duet_llama_train **full_m,
                   const duet_adamw **full_o);
/* all-reduce over the group the gradients each rank holds only part of
 * (the q/k norms) */
void duet_tp_reduce_partial(const duet_tp *p, duet_llama_train *m);
/* squares of g (element lo of m's flat layout at g[0]) over [lo, hi), apart
 * for tensors split over the group and for replicas */
void duet_tp_sumsq_range(const duet_llama_train *m, const float *g, long lo, long hi, double *split, double *repl);
/* the squared global norm: split parts summed over the group */
double duet_tp_norm_sq(const duet_tp *p, double split, double repl);

#endif
