#ifndef DUET_FORWARD_H
#define DUET_FORWARD_H

/* The transformer's forward pass. Two entry points share all layer code:
 *  - duet_prefill: many tokens of one sequence (a prompt, or one chunk of
 *    it), causal, writing their KV into the sequence's blocks;
 *  - duet_decode: one new token for each of many sequences of different
 *    lengths, attending over each one's paged KV.
 * Neither knows about MPI: a tensor-parallel shard passes an allreduce hook
 * (sum over the group), called once after attention's output projection and
 * once after the MLP's down projection. */

#include "engine/kv_cache.h"
#include "engine/model.h"

typedef struct {
  /* Sum buf[0..n) across the tensor-parallel group, in place. NULL when
   * the model is whole (tp_size 1). */
  void (*allreduce)(float *buf, size_t n, void *ctx);
  void *allreduce_ctx;
  /* Called by prefill after layer `layer` has written its KV for the chunk
   * (positions first_pos .. first_pos+n-1), so the caller can start sending
   * those blocks while the next layers compute. May be NULL. */
  void (*layer_done)(int layer, int first_pos, int n, void *ctx);
  void *layer_done_ctx;
} duet_forward_hooks;

/* Scratch memory for one forward call of up to max_tokens tokens (prefill)
 * or max_tokens sequences (decode). Not shared between threads. */
typedef struct duet_workspace duet_workspace;
int duet_workspace_new(const duet_model *m, int max_tokens, duet_workspace **out);
void duet_workspace_free(duet_workspace *ws);

/* Prefill n tokens at positions seq->n_tokens .. seq->n_tokens+n-1 (so a
 * long prompt can be prefilled in chunks). Reserves blocks as needed (may
 * return DUET_ENOSPC, leaving seq unchanged) and advances seq->n_tokens.
 * logits: NULL (no LM head, e.g. a non-leader TP rank or a middle chunk),
 * or (1, vocab) for the last position, or (n, vocab) when all_logits. */
int duet_prefill(const duet_model *m, duet_kv_pool *pool, duet_kv_seq *seq, const int *tokens, int n,
                 float *logits, int all_logits, duet_workspace *ws, const duet_forward_hooks *hooks);

/* Decode one token per sequence: tokens[i] goes at position
 * seqs[i]->n_tokens. Reserves a block when a sequence crosses a block
 * boundary (DUET_ENOSPC leaves every sequence unchanged). logits: NULL or
 * (n_seqs, vocab). */
int duet_decode(const duet_model *m, duet_kv_pool *pool, duet_kv_seq **seqs, const int *tokens,
                int n_seqs, float *logits, duet_workspace *ws, const duet_forward_hooks *hooks);

#endif
