#ifndef DUET_PAGED_ATTENTION_H
#define DUET_PAGED_ATTENTION_H

/* Attention over a sequence's paged KV cache (engine/kv_cache.h).
 *
 * duet_kv_write: store K and V rows of n tokens at positions p0 .. p0+n-1
 *   of one layer into the sequence's blocks:
 *   k, v (n, nkv, hd) -> blocks (the blocks must already be reserved).
 * duet_kv_gather: the inverse for positions 0 .. n-1, into contiguous
 *   k, v (n, nkv, hd) (prefill of a later chunk attends over all of them).
 * duet_paged_attention_decode: one query per sequence, each at position
 *   seqs[i]->n_tokens - 1 after its own KV was written, attending over
 *   positions 0 .. n_tokens-1 of its blocks:
 *   q (S, nh, hd) -> out (S, nh, hd). Parallel over sequences (and over
 *   kv-head ranges when there are fewer sequences than threads).
 *   scratch: slots * nh * max_len floats, max_len >= every sequence's
 *   n_tokens; at most `slots` threads run (one scratch slot each), so a
 *   thread count raised after the scratch was sized cannot overrun it. */

#include "engine/kv_cache.h"

void duet_kv_write(duet_kv_pool *pool, const duet_kv_seq *seq, int layer, int p0, int n, const float *k,
                   const float *v, int nkv, int hd);
void duet_kv_gather(duet_kv_pool *pool, const duet_kv_seq *seq, int layer, int n, float *k, float *v, int nkv,
                    int hd);
void duet_paged_attention_decode(float *out, const float *q, duet_kv_pool *pool, duet_kv_seq *const *seqs, int S,
                                 int layer, int nh, int nkv, int hd, float *scratch, int slots, int max_len);

#endif
