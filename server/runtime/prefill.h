#ifndef DUET_RUNTIME_PREFILL_H
#define DUET_RUNTIME_PREFILL_H

/* The prefill role of one rank of a prefill group. The group's leader
 * (TP rank 0) takes prompts from the coordinator, batches them per step up
 * to a token budget (splitting a longer prompt into block-aligned chunks),
 * tells its followers each chunk (G_CHUNK), and samples the first token
 * from the last logits. Every rank sends each layer's KV blocks to the
 * same TP rank of the request's decode group as soon as the layer is done,
 * then an END marker; its blocks return to its pool when the sends have
 * completed. */

#include "engine/forward.h"
#include "engine/model.h"
#include "server/runtime/net.h"
#include "server/runtime/topo.h"

typedef struct {
  const duet_model *model;
  duet_topo topo;
  int group, tp_rank;
  int pool_blocks;  /* this rank's staging pool (0: 4 full contexts, at most 512 MiB) */
  int block_size;   /* 16 unless the decode side says otherwise */
  int token_budget; /* prompt tokens per step (0: 512); rounded to blocks */
  duet_forward_hooks tp; /* allreduce over the group (NULL when tp 1) */
  duet_net *net;
} duet_prefill_opts;

typedef struct duet_prefill_role duet_prefill_role;
int duet_prefill_role_new(const duet_prefill_opts *o, duet_prefill_role **out);
void duet_prefill_role_free(duet_prefill_role *p);
duet_role duet_prefill_role_iface(duet_prefill_role *p);

#endif
