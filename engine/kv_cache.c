#include "engine/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "engine/big_alloc.h"
#include "engine/error.h"

struct duet_kv_pool {
  int n_blocks, block_size, n_layers, n_kv_heads, head_dim;
  size_t layer_floats; /* one layer of one block: K then V */
  float *data;         /* n_blocks * n_layers * layer_floats */
  int *free_stack;     /* ids of free blocks; the top is handed out next */
  int n_free;
  unsigned char *in_use; /* catches double frees and frees of foreign ids */
};

int duet_kv_pool_new(int n_blocks, int block_size, int n_layers, int n_kv_heads, int head_dim,
                     duet_kv_pool **out) {
  *out = NULL;
  if (n_blocks <= 0 || block_size <= 0 || n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0)
    return duet_error(DUET_EINVAL, "kv pool: n_blocks %d, block_size %d, n_layers %d, n_kv_heads %d, head_dim %d must all be > 0",
                      n_blocks, block_size, n_layers, n_kv_heads, head_dim);
  size_t layer_floats = 2 * (size_t)block_size * (size_t)n_kv_heads * (size_t)head_dim;
  size_t total = layer_floats * (size_t)n_layers * (size_t)n_blocks;
  if (total / (size_t)n_blocks / (size_t)n_layers != layer_floats || total > ((size_t)1 << 40))
    return duet_error(DUET_EINVAL, "kv pool: %d blocks of %zu floats per layer is too large", n_blocks, layer_floats);
  duet_kv_pool *p = calloc(1, sizeof *p);
  if (!p) return duet_error(DUET_ENOMEM, "kv pool");
  p->n_blocks = n_blocks, p->block_size = block_size, p->n_layers = n_layers;
  p->n_kv_heads = n_kv_heads, p->head_dim = head_dim, p->layer_floats = layer_floats;
  p->data = duet_big_alloc(total * sizeof(float));
  p->free_stack = malloc((size_t)n_blocks * sizeof(int));
  p->in_use = calloc((size_t)n_blocks, 1);
  if (!p->data || !p->free_stack || !p->in_use) {
    duet_kv_pool_free(p);
    return duet_error(DUET_ENOMEM, "kv pool: %d blocks (%zu MiB)", n_blocks, total * sizeof(float) >> 20);
  }
  // lowest ids on top so allocation order is predictable (0, 1, 2, ...)
  for (int i = 0; i < n_blocks; i++) p->free_stack[i] = n_blocks - 1 - i;
  p->n_free = n_blocks;
  *out = p;
  return DUET_OK;
}

void duet_kv_pool_free(duet_kv_pool *p) {
  if (!p) return;
  duet_big_free(p->data);
  free(p->free_stack);
  free(p->in_use);
  free(p);
}

int duet_kv_alloc(duet_kv_pool *p) {
  if (p->n_free == 0) return duet_error(DUET_ENOSPC, "kv pool: all %d blocks in use", p->n_blocks);
  int b = p->free_stack[--p->n_free];
  p->in_use[b] = 1;
  return b;
}

void duet_kv_free(duet_kv_pool *p, int b) {
  // a bad id is a caller bug; ignoring it keeps the free list consistent
  if (b < 0 || b >= p->n_blocks || !p->in_use[b]) return;
  p->in_use[b] = 0;
  p->free_stack[p->n_free++] = b;
}

int duet_kv_free_count(const duet_kv_pool *p) { return p->n_free; }
int duet_kv_block_count(const duet_kv_pool *p) { return p->n_blocks; }
int duet_kv_block_size(const duet_kv_pool *p) { return p->block_size; }
size_t duet_kv_layer_floats(const duet_kv_pool *p) { return p->layer_floats; }

float *duet_kv_layer_data(duet_kv_pool *p, int block, int layer) {
  if (block < 0 || block >= p->n_blocks || layer < 0 || layer >= p->n_layers) return NULL;
  return p->data + ((size_t)block * (size_t)p->n_layers + (size_t)layer) * p->layer_floats;
}

void duet_kv_seq_init(duet_kv_seq *s) { memset(s, 0, sizeof *s); }

int duet_kv_blocks_for(const duet_kv_pool *p, int n_tokens) {
  return n_tokens <= 0 ? 0 : (n_tokens + p->block_size - 1) / p->block_size;
}

int duet_kv_seq_reserve(duet_kv_pool *p, duet_kv_seq *s, int n_tokens) {
  if (n_tokens < 0) return duet_error(DUET_EINVAL, "kv reserve: n_tokens %d < 0", n_tokens);
  int need = duet_kv_blocks_for(p, n_tokens);
  if (need <= s->n_blocks) return DUET_OK;
  if (need - s->n_blocks > p->n_free)
    return duet_error(DUET_ENOSPC, "kv pool: %d tokens need %d more blocks, %d free", n_tokens,
                      need - s->n_blocks, p->n_free);
  if (need > s->cap) {
    int cap = s->cap ? s->cap : 4;
    while (cap < need) cap *= 2;
    int *nb = realloc(s->blocks, (size_t)cap * sizeof(int));
    if (!nb) return duet_error(DUET_ENOMEM, "kv block table of %d", cap);
    s->blocks = nb, s->cap = cap;
  }
  while (s->n_blocks < need) s->blocks[s->n_blocks++] = duet_kv_alloc(p);
  return DUET_OK;
}

void duet_kv_seq_release(duet_kv_pool *p, duet_kv_seq *s) {
  for (int i = s->n_blocks - 1; i >= 0; i--) duet_kv_free(p, s->blocks[i]);
  free(s->blocks);
  duet_kv_seq_init(s);
}
