#ifndef DUET_TOKENIZER_HASHMAP_H
#define DUET_TOKENIZER_HASHMAP_H

/* Two open-addressing hash tables for the tokenizer's hot paths:
 * - duet_strmap: byte string -> int (vocabulary, added tokens, word cache
 *   keys). Keys are copied into one arena, so a lookup touches no malloc.
 * - duet_pairmap: (left id, right id) -> (merge rank, merged id), the BPE
 *   rank table. */

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t *slots;  /* index+1 into the entry arrays; 0 = empty */
  uint64_t *hashes; /* per entry */
  size_t *key_off;  /* per entry, into arena */
  int *key_len;
  int *val;
  size_t n, cap_entries, mask;
  char *arena;
  size_t arena_len, arena_cap;
} duet_strmap;

int duet_strmap_init(duet_strmap *m, size_t expect);
void duet_strmap_free(duet_strmap *m);
void duet_strmap_clear(duet_strmap *m);
/* Insert or overwrite. Returns 0 or DUET_ENOMEM. */
int duet_strmap_put(duet_strmap *m, const char *key, size_t len, int val);
/* Returns 1 and *val when found, else 0. */
int duet_strmap_get(const duet_strmap *m, const char *key, size_t len, int *val);
uint64_t duet_hash_bytes(const void *p, size_t len);

typedef struct {
  uint64_t *keys; /* (left << 32 | right) + 1; 0 = empty */
  int32_t *rank;
  int32_t *merged;
  size_t n, mask;
} duet_pairmap;

int duet_pairmap_init(duet_pairmap *m, size_t expect);
void duet_pairmap_free(duet_pairmap *m);
/* A repeated pair takes the later rank, as the reference's Map does. */
int duet_pairmap_put(duet_pairmap *m, int left, int right, int rank, int merged);

static inline uint64_t duet_pair_hash(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return k;
}
/* Returns the rank (>= 0) and *merged, or -1 when the pair never merges. */
static inline int duet_pairmap_get(const duet_pairmap *m, int left, int right, int *merged) {
  uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
  size_t i = duet_pair_hash(key) & m->mask;
  for (;;) {
    uint64_t k = m->keys[i];
    if (k == key) {
      *merged = m->merged[i];
      return m->rank[i];
    }
    if (k == 0) return -1;
    i = (i + 1) & m->mask;
  }
}

#endif
