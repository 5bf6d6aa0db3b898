#include "server/runtime/topo.h"

#include "engine/error.h"
#include "proto/message.h"

int duet_topo_size(const duet_topo *t) { return 1 + (t->n_prefill + t->n_decode) * t->tp; }
int duet_topo_prefill_rank(const duet_topo *t, int g, int r) { return 1 + g * t->tp + r; }
int duet_topo_decode_rank(const duet_topo *t, int g, int r) { return 1 + (t->n_prefill + g) * t->tp + r; }

int duet_topo_place(const duet_topo *t, int rank, duet_place *out) {
  if (rank < 0 || rank >= duet_topo_size(t)) return duet_error(DUET_EINVAL, "rank %d outside the job", rank);
  if (rank == 0) {
    *out = (duet_place){DUET_ROLE_COORD, 0, 0};
    return DUET_OK;
  }
  int g = (rank - 1) / t->tp, r = (rank - 1) % t->tp;
  if (g < t->n_prefill) *out = (duet_place){DUET_ROLE_PREFILL, g, r};
  else *out = (duet_place){DUET_ROLE_DECODE, g - t->n_prefill, r};
  return DUET_OK;
}

int duet_topo_validate(const duet_topo *t, int world_size, int n_heads, int n_kv_heads, int hidden) {
  if (t->n_prefill < 1 || t->n_decode < 1 || t->tp < 1)
    return duet_error(DUET_EINVAL, "--prefill %d --decode %d --tp %d: each must be at least 1", t->n_prefill,
                      t->n_decode, t->tp);
  if (t->n_prefill > DUET_MAX_GROUPS || t->n_decode > DUET_MAX_GROUPS)
    return duet_error(DUET_EINVAL, "at most %d prefill and %d decode groups", DUET_MAX_GROUPS, DUET_MAX_GROUPS);
  if (world_size != duet_topo_size(t))
    return duet_error(DUET_EINVAL,
                      "--prefill %d --decode %d --tp %d needs 1+(%d+%d)*%d = %d MPI ranks, but the job has %d "
                      "(mpirun -np %d)",
                      t->n_prefill, t->n_decode, t->tp, t->n_prefill, t->n_decode, t->tp, duet_topo_size(t),
                      world_size, duet_topo_size(t));
  if (n_heads % t->tp || n_kv_heads % t->tp || hidden % t->tp)
    return duet_error(DUET_EINVAL,
                      "--tp %d must divide the model's attention heads (%d), KV heads (%d) and intermediate_size (%d)",
                      t->tp, n_heads, n_kv_heads, hidden);
  return DUET_OK;
}

int duet_pool_default_blocks(int max_pos, int n_layers, int n_kv_heads_local, int head_dim, int block_size,
                             int contexts, int extra, size_t budget_bytes) {
  size_t block_bytes = 2 * (size_t)block_size * (size_t)n_kv_heads_local * (size_t)head_dim * sizeof(float) * (size_t)n_layers;
  long ctx = (max_pos + block_size - 1) / block_size;
  long want = ctx * contexts + extra, cap = (long)(budget_bytes / block_bytes), floor = ctx + extra;
  long n = want < cap ? want : cap;
  return (int)(n > floor ? n : floor);
}
