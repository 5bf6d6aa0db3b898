#ifndef DUET_KV_CACHE_H
#define DUET_KV_CACHE_H

/* Paged KV cache. A kv_block_pool is a fixed array of blocks; a block holds
 * K and V for block_size consecutive tokens of one sequence, for every
 * layer, for this shard's KV heads. A sequence owns a block table (the ids
 * of its blocks in order). Blocks are the unit of allocation, transfer
 * (prefill -> decode) and prefix sharing.
 *
 * Block memory layout (float32), chosen so that one layer of one block is
 * one contiguous run and can be sent as one message as soon as that layer
 * is computed:
 *   block b, layer l: K (block_size, n_kv_heads, head_dim) then
 *                     V (block_size, n_kv_heads, head_dim)
 *   duet_kv_layer_data(pool, b, l) points at that K, V run of
 *   duet_kv_layer_floats(pool) floats. */

#include <stddef.h>

#define DUET_KV_BLOCK_TOKENS 16 /* the serving runtime's block size (tokens per block) */

typedef struct duet_kv_pool duet_kv_pool;

int duet_kv_pool_new(int n_blocks, int block_size, int n_layers, int n_kv_heads, int head_dim,
                     duet_kv_pool **out);
void duet_kv_pool_free(duet_kv_pool *pool);

int duet_kv_alloc(duet_kv_pool *pool);          /* block id, or DUET_ENOSPC */
void duet_kv_free(duet_kv_pool *pool, int block);
int duet_kv_free_count(const duet_kv_pool *pool);
int duet_kv_block_count(const duet_kv_pool *pool);
int duet_kv_block_size(const duet_kv_pool *pool);

float *duet_kv_layer_data(duet_kv_pool *pool, int block, int layer); /* K then V */
size_t duet_kv_layer_floats(const duet_kv_pool *pool); /* 2*block_size*n_kv*hd */

/* A sequence's block table. n_tokens is how many positions hold KV. */
typedef struct {
  int *blocks;
  int n_blocks, cap;
  int n_tokens;
} duet_kv_seq;

void duet_kv_seq_init(duet_kv_seq *seq);
/* Make room for n_tokens positions in total (allocating blocks); all or
 * nothing: on DUET_ENOSPC the sequence is unchanged. */
int duet_kv_seq_reserve(duet_kv_pool *pool, duet_kv_seq *seq, int n_tokens);
/* Free every block and reset the table (the sequence may be reused). */
void duet_kv_seq_release(duet_kv_pool *pool, duet_kv_seq *seq);
/* Number of blocks needed for n tokens. */
int duet_kv_blocks_for(const duet_kv_pool *pool, int n_tokens);

#endif
