/* The BPE merge loop: symbols in a doubly linked list over arrays, a
 * binary min-heap of candidate merges keyed (rank, position). A merge
 * pushes at most two new candidates and stale ones are dropped when
 * popped, so a word of n symbols costs O(n log n), not O(n^2). The order
 * (lowest rank first, leftmost on ties) is the reference's. */
#include "engine/tokenizer/bpe.h"

#include "engine/error.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

static int scratch_reserve(duet_bpe_scratch *s, size_t n) {
  if (n <= s->cap) return 0;
  size_t c = s->cap ? s->cap : 64;
  while (c < n) c *= 2;
  int *id = realloc(s->id, c * sizeof *id);
  if (id) s->id = id;
  int *pv = realloc(s->prev, c * sizeof *pv);
  if (pv) s->prev = pv;
  int *nx = realloc(s->next, c * sizeof *nx);
  if (nx) s->next = nx;
  int *ln = realloc(s->len, c * sizeof *ln);
  if (ln) s->len = ln;
  size_t *of = realloc(s->off, c * sizeof *of);
  if (of) s->off = of;
  if (!id || !pv || !nx || !ln || !of) return duet_error(DUET_ENOMEM, "tokenizer: out of memory (BPE)");
  s->cap = c;
  return 0;
}

static int heap_push(duet_bpe_scratch *s, uint64_t key) {
  if (s->heap_n == s->heap_cap) {
    int rc = duet_grow((void **)&s->heap, &s->heap_cap, s->heap_n + 1, sizeof *s->heap);
    if (rc) return rc;
  }
  uint64_t *h = s->heap;
  size_t i = s->heap_n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h[p] <= key) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = key;
  return 0;
}

static uint64_t heap_pop(duet_bpe_scratch *s) {
  uint64_t *h = s->heap, top = h[0], last = h[--s->heap_n];
  size_t n = s->heap_n, i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && h[c + 1] < h[c]) c++;
    if (last <= h[c]) break;
    h[i] = h[c];
    i = c;
  }
  if (n) h[i] = last;
  return top;
}

/* Pushes the candidate merge of symbol i with its successor, if any. */
static int push_pair(const duet_bpe *b, duet_bpe_scratch *s, int i) {
  int j = s->next[i], merged;
  if (j < 0 || s->id[i] < 0 || s->id[j] < 0) return 0;
  int rank = duet_pairmap_get(&b->merges, s->id[i], s->id[j], &merged);
  if (rank < 0) return 0;
  return heap_push(s, ((uint64_t)(uint32_t)rank << 32) | (uint32_t)i);
}

/* Initial symbols: bytes (byte-level) or characters with the optional
 * continuing-subword prefix and end-of-word suffix. Unknown ones get -1. */
static int init_symbols(const duet_bpe *b, const char *w, size_t n, duet_bpe_scratch *s, int *count) {
  int rc = scratch_reserve(s, n + 1);
  if (rc) return rc;
  int k = 0;
  for (size_t i = 0; i < n; k++) {
    size_t cl = b->byte_level ? 1 : (size_t)duet_utf8_len((unsigned char)w[i]);
    s->off[k] = i;
    s->len[k] = (int)cl;
    if (b->byte_level) {
      s->id[k] = b->byte_id[(unsigned char)w[i]];
    } else if (!b->prefix_len && !b->suffix_len) {
      s->id[k] = duet_bpe_token_id(b, w + i, cl);
    } else {
      s->tmp.n = 0;
      if (i > 0) rc = duet_tbuf_put(&s->tmp, b->prefix, b->prefix_len);
      rc = rc ? rc : duet_tbuf_put(&s->tmp, w + i, cl);
      if (!rc && i + cl == n) rc = duet_tbuf_put(&s->tmp, b->suffix, b->suffix_len);
      if (rc) return rc;
      s->id[k] = duet_bpe_token_id(b, s->tmp.p, s->tmp.n);
    }
    s->prev[k] = k - 1;
    s->next[k] = i + cl < n ? k + 1 : -1;
    i += cl;
  }
  *count = k;
  return 0;
}

/* Emits one final symbol: its id, or its bytes as <0xNN> tokens when the
 * model falls back to bytes, or unk (the reference drops it without one). */
static int emit_symbol(const duet_bpe *b, const char *w, duet_bpe_scratch *s, int k, duet_ids *out) {
  if (s->id[k] >= 0) return duet_ids_push(out, s->id[k]);
  if (b->byte_fallback) {
    int ok = 1;
    for (int i = 0; i < s->len[k]; i++) ok &= b->fallback_id[(unsigned char)w[s->off[k] + i]] >= 0;
    if (ok) {
      for (int i = 0; i < s->len[k]; i++) {
        int rc = duet_ids_push(out, b->fallback_id[(unsigned char)w[s->off[k] + i]]);
        if (rc) return rc;
      }
      return 0;
    }
  }
  return b->unk_id >= 0 ? duet_ids_push(out, b->unk_id) : 0;
}

int duet_bpe_encode_word(const duet_bpe *b, const char *w, size_t n, duet_bpe_scratch *s,
                         duet_ids *out) {
  if (n == 0) return 0;
  if (b->ignore_merges) {
    int id;
    if (duet_strmap_get(b->byte_level ? &b->raw : &b->vocab, w, n, &id)) return duet_ids_push(out, id);
  }
  int count, rc = init_symbols(b, w, n, s, &count);
  if (rc) return rc;
  s->heap_n = 0;
  for (int i = 0; i + 1 < count && !rc; i++) rc = push_pair(b, s, i);
  while (!rc && s->heap_n) {
    uint64_t top = heap_pop(s);
    int i = (int)(uint32_t)top, rank = (int)(top >> 32), merged = -1;
    int j = s->next[i];
    /* Stale candidate: i was absorbed, or its pair changed since. */
    if (s->id[i] < 0 || j < 0 || s->id[j] < 0 ||
        duet_pairmap_get(&b->merges, s->id[i], s->id[j], &merged) != rank)
      continue;
    s->id[i] = merged;
    s->len[i] += s->len[j];
    s->next[i] = s->next[j];
    if (s->next[j] >= 0) s->prev[s->next[j]] = i;
    s->id[j] = -2; /* dead */
    if (s->prev[i] >= 0) rc = push_pair(b, s, s->prev[i]);
    if (!rc) rc = push_pair(b, s, i);
  }
  for (int k = 0; k >= 0 && !rc; k = s->next[k]) rc = emit_symbol(b, w, s, k, out);
  return rc;
}
