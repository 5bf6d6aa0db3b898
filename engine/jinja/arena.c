#include "engine/jinja/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

struct jinja_chunk {
  jinja_chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

enum { CHUNK_MIN = 64 * 1024 };

/* On failure the message is recorded here, so the many callers that pass
 * a NULL up as DUET_ENOMEM need not each word one. */
void *jinja_alloc(jinja_arena *a, size_t n) {
  if (n > SIZE_MAX / 2) return duet_error(DUET_ENOMEM, "chat template: %zu-byte allocation refused", n), NULL;
  n = (n + 15) & ~(size_t)15;
  jinja_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
    c = malloc(sizeof *c + cap);
    if (!c) return duet_error(DUET_ENOMEM, "chat template: out of memory (%zu bytes)", cap), NULL;
    c->used = 0;
    c->cap = cap;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  a->total += n;
  memset(p, 0, n);
  return p;
}

char *jinja_strndup(jinja_arena *a, const char *s, size_t n) {
  char *p = jinja_alloc(a, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

void jinja_arena_free(jinja_arena *a) {
  jinja_chunk *c = a->head;
  while (c) {
    jinja_chunk *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
  a->total = 0;
}
