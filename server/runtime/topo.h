#ifndef DUET_RUNTIME_TOPO_H
#define DUET_RUNTIME_TOPO_H

/* Who is who in a worker job. Endpoint (MPI world rank) 0 is the
 * coordinator; then P prefill groups and D decode groups of T ranks each:
 *   prefill group g, TP rank r: 1 + g*T + r
 *   decode  group g, TP rank r: 1 + (P+g)*T + r
 * The in-process runtime uses the same numbering with P = D = T = 1. */

#include <stddef.h>

typedef enum { DUET_ROLE_COORD = 0, DUET_ROLE_PREFILL = 1, DUET_ROLE_DECODE = 2 } duet_role_kind;

typedef struct {
  int n_prefill, n_decode, tp;
} duet_topo;

typedef struct {
  duet_role_kind kind;
  int group, tp_rank;
} duet_place;

int duet_topo_size(const duet_topo *t); /* 1 + (P+D)*T */
int duet_topo_prefill_rank(const duet_topo *t, int group, int tp_rank);
int duet_topo_decode_rank(const duet_topo *t, int group, int tp_rank);
/* Where endpoint `rank` sits; DUET_EINVAL when outside the job. */
int duet_topo_place(const duet_topo *t, int rank, duet_place *out);
/* Check counts against the job size and the model's heads (T must divide
 * the query and KV heads and intermediate_size); a clear message otherwise. */
int duet_topo_validate(const duet_topo *t, int world_size, int n_heads, int n_kv_heads, int hidden);

/* Default KV pool size of a rank: room for `contexts` full contexts of
 * the model (plus `extra` blocks), capped at budget_bytes of this shard's
 * KV, but never below one full context plus `extra`. */
int duet_pool_default_blocks(int max_pos, int n_layers, int n_kv_heads_local, int head_dim, int block_size,
                             int contexts, int extra, size_t budget_bytes);

#endif
