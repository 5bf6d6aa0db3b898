#include "engine/tokenizer/buf.h"

#include "engine/error.h"

#include <stdlib.h>
#include <string.h>

int duet_grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return duet_error(DUET_ENOMEM, "tokenizer: out of memory (%zu items)", need);
  *p = q;
  *cap = c;
  return 0;
}

int duet_tbuf_reserve(duet_tbuf *b, size_t extra) {
  return duet_grow((void **)&b->p, &b->cap, b->n + extra + 1, 1);
}

int duet_tbuf_put(duet_tbuf *b, const void *p, size_t n) {
  int rc = duet_tbuf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

void duet_tbuf_free(duet_tbuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

int duet_ids_push(duet_ids *a, int id) {
  if (a->n == a->cap) {
    int rc = duet_grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v);
    if (rc) return rc;
  }
  a->v[a->n++] = id;
  return 0;
}

int duet_ids_append(duet_ids *a, const int *ids, size_t n) {
  int rc = duet_grow((void **)&a->v, &a->cap, a->n + n, sizeof *a->v);
  if (rc) return rc;
  if (n) memcpy(a->v + a->n, ids, n * sizeof *ids);
  a->n += n;
  return 0;
}

void duet_ids_free(duet_ids *a) {
  free(a->v);
  a->v = NULL;
  a->n = a->cap = 0;
}

int duet_pieces_push(duet_pieces *a, size_t off, size_t len) {
  if (a->n == a->cap) {
    int rc = duet_grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v);
    if (rc) return rc;
  }
  a->v[a->n].off = off;
  a->v[a->n].len = len;
  a->n++;
  return 0;
}

void duet_pieces_free(duet_pieces *a) {
  free(a->v);
  a->v = NULL;
  a->n = a->cap = 0;
}
