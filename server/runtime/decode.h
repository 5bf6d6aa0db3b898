#ifndef DUET_RUNTIME_DECODE_H
#define DUET_RUNTIME_DECODE_H

/* The decode role of one rank of a decode group. The leader (TP rank 0)
 * reserves blocks for prompt + max_tokens when a request arrives (in
 * arrival order; while the pool is full the request waits and the router
 * sees it in the stats), receives the prompt's KV straight into those
 * blocks, and runs continuous batching: every step decodes one token of
 * every active sequence as one duet_decode batch (G_STEP to followers);
 * sequences join at the next step once all their KV has landed on every
 * rank, and leave (blocks freed) the moment they finish or are cancelled. */

#include "engine/forward.h"
#include "engine/model.h"
#include "server/runtime/net.h"
#include "server/runtime/topo.h"

typedef struct {
  const duet_model *model;
  duet_topo topo;
  int group, tp_rank;
  int pool_blocks; /* 0: max_batch full contexts, at most 1 GiB */
  int block_size;  /* 16 */
  int max_batch;   /* sequences per step (0: 64) */
  duet_forward_hooks tp;
  duet_net *net;
} duet_decode_opts;

typedef struct duet_decode_role duet_decode_role;
int duet_decode_role_new(const duet_decode_opts *o, duet_decode_role **out);
void duet_decode_role_free(duet_decode_role *d);
duet_role duet_decode_role_iface(duet_decode_role *d);

#endif
