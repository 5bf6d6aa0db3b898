#include "engine/tokenizer/hashmap.h"

#include "engine/error.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over 8-byte words then a final mix: fast for the short keys
 * (tokens, words) this table holds. */
uint64_t duet_hash_bytes(const void *p, size_t len) {
  const unsigned char *s = p;
  uint64_t h = 0xcbf29ce484222325ULL ^ len;
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
    s += 8;
    len -= 8;
  }
  uint64_t w = 0;
  if (len) memcpy(&w, s, len);
  h = (h ^ w) * 0x100000001b3ULL;
  return duet_pair_hash(h);
}

static size_t pow2_at_least(size_t n) {
  size_t c = 16;
  while (c < n) c <<= 1;
  return c;
}

int duet_strmap_init(duet_strmap *m, size_t expect) {
  memset(m, 0, sizeof *m);
  size_t cap = pow2_at_least(expect * 2 + 2);
  m->slots = calloc(cap, sizeof *m->slots);
  m->cap_entries = expect + 16;
  m->hashes = malloc(m->cap_entries * sizeof *m->hashes);
  m->key_off = malloc(m->cap_entries * sizeof *m->key_off);
  m->key_len = malloc(m->cap_entries * sizeof *m->key_len);
  m->val = malloc(m->cap_entries * sizeof *m->val);
  m->arena_cap = expect * 8 + 64;
  m->arena = malloc(m->arena_cap);
  m->mask = cap - 1;
  if (!m->slots || !m->hashes || !m->key_off || !m->key_len || !m->val || !m->arena) {
    duet_strmap_free(m);
    return duet_error(DUET_ENOMEM, "tokenizer: out of memory for a hash table of %zu", expect);
  }
  return 0;
}

void duet_strmap_free(duet_strmap *m) {
  free(m->slots);
  free(m->hashes);
  free(m->key_off);
  free(m->key_len);
  free(m->val);
  free(m->arena);
  memset(m, 0, sizeof *m);
}

void duet_strmap_clear(duet_strmap *m) {
  memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
  m->n = 0;
  m->arena_len = 0;
}

static int strmap_find(const duet_strmap *m, const char *key, size_t len, uint64_t h) {
  size_t i = h & m->mask;
  for (;;) {
    uint32_t s = m->slots[i];
    if (s == 0) return -(int)i - 1;
    uint32_t e = s - 1;
    if (m->hashes[e] == h && (size_t)m->key_len[e] == len &&
        memcmp(m->arena + m->key_off[e], key, len) == 0)
      return (int)e;
    i = (i + 1) & m->mask;
  }
}

static int strmap_grow(duet_strmap *m) {
  size_t cap = (m->mask + 1) * 2;
  uint32_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return duet_error(DUET_ENOMEM, "tokenizer: out of memory growing a hash table");
  for (size_t e = 0; e < m->n; e++) {
    size_t i = m->hashes[e] & (cap - 1);
    while (slots[i]) i = (i + 1) & (cap - 1);
    slots[i] = (uint32_t)e + 1;
  }
  free(m->slots);
  m->slots = slots;
  m->mask = cap - 1;
  return 0;
}

static int grow_array(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return DUET_ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

static int strmap_reserve_entry(duet_strmap *m, size_t len) {
  if (m->n + 1 > m->cap_entries) {
    size_t c = m->cap_entries * 2;
    uint64_t *h = realloc(m->hashes, c * sizeof *h);
    if (h) m->hashes = h;
    size_t *o = realloc(m->key_off, c * sizeof *o);
    if (o) m->key_off = o;
    int *l = realloc(m->key_len, c * sizeof *l);
    if (l) m->key_len = l;
    int *v = realloc(m->val, c * sizeof *v);
    if (v) m->val = v;
    if (!h || !o || !l || !v) return duet_error(DUET_ENOMEM, "tokenizer: out of memory in a hash table");
    m->cap_entries = c;
  }
  if (grow_array((void **)&m->arena, &m->arena_cap, m->arena_len + len + 1, 1))
    return duet_error(DUET_ENOMEM, "tokenizer: out of memory in a hash table");
  if ((m->n + 1) * 2 > m->mask + 1) return strmap_grow(m);
  return 0;
}

int duet_strmap_put(duet_strmap *m, const char *key, size_t len, int val) {
  uint64_t h = duet_hash_bytes(key, len);
  int f = strmap_find(m, key, len, h);
  if (f >= 0) {
    m->val[f] = val;
    return 0;
  }
  int rc = strmap_reserve_entry(m, len);
  if (rc) return rc;
  f = strmap_find(m, key, len, h); /* the table may have grown */
  size_t e = m->n++;
  m->hashes[e] = h;
  m->key_off[e] = m->arena_len;
  m->key_len[e] = (int)len;
  m->val[e] = val;
  if (len) memcpy(m->arena + m->arena_len, key, len);
  m->arena_len += len;
  m->slots[(size_t)(-f - 1)] = (uint32_t)e + 1;
  return 0;
}

int duet_strmap_get(const duet_strmap *m, const char *key, size_t len, int *val) {
  int f = strmap_find(m, key, len, duet_hash_bytes(key, len));
  if (f < 0) return 0;
  *val = m->val[f];
  return 1;
}

int duet_pairmap_init(duet_pairmap *m, size_t expect) {
  memset(m, 0, sizeof *m);
  size_t cap = pow2_at_least(expect * 2 + 2);
  m->keys = calloc(cap, sizeof *m->keys);
  m->rank = malloc(cap * sizeof *m->rank);
  m->merged = malloc(cap * sizeof *m->merged);
  m->mask = cap - 1;
  if (!m->keys || !m->rank || !m->merged) {
    duet_pairmap_free(m);
    return duet_error(DUET_ENOMEM, "tokenizer: out of memory for %zu merges", expect);
  }
  return 0;
}

void duet_pairmap_free(duet_pairmap *m) {
  free(m->keys);
  free(m->rank);
  free(m->merged);
  memset(m, 0, sizeof *m);
}

int duet_pairmap_put(duet_pairmap *m, int left, int right, int rank, int merged) {
  if ((m->n + 1) * 2 > m->mask + 1) return duet_error(DUET_EINTERNAL, "tokenizer: merge table full");
  uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
  size_t i = duet_pair_hash(key) & m->mask;
  while (m->keys[i] && m->keys[i] != key) i = (i + 1) & m->mask;
  if (m->keys[i] != key) m->n++;
  m->keys[i] = key;
  m->rank[i] = rank;
  m->merged[i] = merged;
  return 0;
}
