#ifndef DUET_TOKENIZER_BUF_H
#define DUET_TOKENIZER_BUF_H

/* Growable byte and int arrays used through the tokenizer pipeline. Each
 * grows geometrically so appends are amortised O(1); a failed growth
 * returns DUET_ENOMEM and leaves the contents intact. */

#include <stddef.h>

typedef struct {
  char *p;
  size_t n, cap;
} duet_tbuf;

typedef struct {
  int *v;
  size_t n, cap;
} duet_ids;

/* One piece of text: [off, off+len) of some buffer. */
typedef struct {
  size_t off, len;
} duet_piece;
typedef struct {
  duet_piece *v;
  size_t n, cap;
} duet_pieces;

int duet_tbuf_reserve(duet_tbuf *b, size_t extra);
int duet_tbuf_put(duet_tbuf *b, const void *p, size_t n);
void duet_tbuf_free(duet_tbuf *b);
int duet_ids_push(duet_ids *a, int id);
int duet_ids_append(duet_ids *a, const int *ids, size_t n);
void duet_ids_free(duet_ids *a);
int duet_pieces_push(duet_pieces *a, size_t off, size_t len);
void duet_pieces_free(duet_pieces *a);
/* Grows *p (an array of elem-byte items with capacity *cap) to hold need. */
int duet_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
