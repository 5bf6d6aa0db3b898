#include "engine/tokenizer/vocab.h"

#include "engine/error.h"

#include <stdlib.h>
#include <string.h>

int duet_vocab_set(duet_vocab *v, int id, const char *s, size_t len) {
  if (id >= v->n) {
    int n = v->n ? v->n : 1024;
    while (n <= id) n *= 2;
    char **t = realloc(v->tok, (size_t)n * sizeof *t);
    if (!t) return duet_error(DUET_ENOMEM, "tokenizer: out of memory for vocabulary");
    v->tok = t;
    int *l = realloc(v->len, (size_t)n * sizeof *l);
    if (!l) return duet_error(DUET_ENOMEM, "tokenizer: out of memory for vocabulary");
    v->len = l;
    for (int i = v->n; i < n; i++) {
      t[i] = NULL;
      l[i] = 0;
    }
    v->n = n;
  }
  char *c = malloc(len + 1);
  if (!c) return duet_error(DUET_ENOMEM, "tokenizer: out of memory for vocabulary");
  memcpy(c, s, len);
  c[len] = 0;
  free(v->tok[id]);
  v->tok[id] = c;
  v->len[id] = (int)len;
  if (id + 1 > v->size) v->size = id + 1;
  return 0;
}

void duet_vocab_free(duet_vocab *v) {
  for (int i = 0; i < v->n; i++) free(v->tok[i]);
  free(v->tok);
  free(v->len);
  memset(v, 0, sizeof *v);
}
