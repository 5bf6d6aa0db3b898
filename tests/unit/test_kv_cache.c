// Paged KV cache: allocation, all-or-nothing reserve, release, layout.
#include <stdio.h>
#include <string.h>

#include "engine/error.h"
#include "tests/unit/unit_check.h"
#include "engine/kv_cache.h"


static void test_bad_args(void) {
  duet_kv_pool *p = (duet_kv_pool *)1;
  CHECK(duet_kv_pool_new(0, 16, 2, 2, 8, &p) == DUET_EINVAL && p == NULL);
  CHECK(duet_kv_pool_new(4, -1, 2, 2, 8, &p) == DUET_EINVAL);
  CHECK(duet_kv_pool_new(1 << 30, 1 << 20, 64, 64, 128, &p) == DUET_EINVAL);
  CHECK(strstr(duet_last_error(), "too large") != NULL);
}

static void test_alloc_free(void) {
  duet_kv_pool *p;
  CHECK(duet_kv_pool_new(3, 4, 2, 2, 8, &p) == DUET_OK);
  CHECK(duet_kv_block_count(p) == 3 && duet_kv_block_size(p) == 4);
  CHECK(duet_kv_layer_floats(p) == 2 * 4 * 2 * 8);
  int a = duet_kv_alloc(p), b = duet_kv_alloc(p), c = duet_kv_alloc(p);
  CHECK(a == 0 && b == 1 && c == 2);
  CHECK(duet_kv_alloc(p) == DUET_ENOSPC && duet_kv_free_count(p) == 0);
  duet_kv_free(p, b);
  duet_kv_free(p, b); /* double free is ignored, not a second entry */
  duet_kv_free(p, 99);
  CHECK(duet_kv_free_count(p) == 1);
  CHECK(duet_kv_alloc(p) == b);
  // layers of blocks are disjoint contiguous runs
  float *l00 = duet_kv_layer_data(p, 0, 0), *l01 = duet_kv_layer_data(p, 0, 1), *l10 = duet_kv_layer_data(p, 1, 0);
  CHECK(l01 - l00 == (long)duet_kv_layer_floats(p) && l10 - l00 == 2 * (long)duet_kv_layer_floats(p));
  CHECK(duet_kv_layer_data(p, 3, 0) == NULL && duet_kv_layer_data(p, 0, 2) == NULL);
  duet_kv_pool_free(p);
}

static void test_seq(void) {
  duet_kv_pool *p;
  CHECK(duet_kv_pool_new(5, 4, 1, 1, 4, &p) == DUET_OK);
  CHECK(duet_kv_blocks_for(p, 0) == 0 && duet_kv_blocks_for(p, 4) == 1 && duet_kv_blocks_for(p, 5) == 2);
  duet_kv_seq s, t;
  duet_kv_seq_init(&s);
  duet_kv_seq_init(&t);
  CHECK(duet_kv_seq_reserve(p, &s, 9) == DUET_OK && s.n_blocks == 3);
  CHECK(duet_kv_seq_reserve(p, &s, 12) == DUET_OK && s.n_blocks == 3); /* fits already */
  CHECK(duet_kv_seq_reserve(p, &t, 4) == DUET_OK && t.n_blocks == 1);
  // 3 more blocks wanted, 1 free: all or nothing
  CHECK(duet_kv_seq_reserve(p, &t, 16) == DUET_ENOSPC && t.n_blocks == 1 && duet_kv_free_count(p) == 1);
  CHECK(duet_kv_seq_reserve(p, &t, -1) == DUET_EINVAL);
  // a released sequence can be reused; its blocks went back to the pool
  duet_kv_seq_release(p, &s);
  CHECK(s.n_blocks == 0 && s.blocks == NULL && duet_kv_free_count(p) == 4);
  CHECK(duet_kv_seq_reserve(p, &s, 16) == DUET_OK && s.n_blocks == 4 && duet_kv_free_count(p) == 0);
  for (int i = 0; i < s.n_blocks; i++)
    for (int j = 0; j < i; j++) CHECK(s.blocks[i] != s.blocks[j] && s.blocks[i] != t.blocks[0]);
  duet_kv_seq_release(p, &s);
  duet_kv_seq_release(p, &t);
  CHECK(duet_kv_free_count(p) == 5);
  duet_kv_pool_free(p);
}

int main(void) {
  test_bad_args();
  test_alloc_free();
  test_seq();
  return finish();
}
