#ifndef DUET_TOKENIZER_VOCAB_H
#define DUET_TOKENIZER_VOCAB_H

/* id -> token string table (model vocabulary plus added tokens); ids
 * without a token are holes (tok == NULL). */

#include <stddef.h>

typedef struct {
  char **tok;
  int *len;
  int n;    /* capacity */
  int size; /* max id + 1 */
} duet_vocab;

/* Sets id's string (copied), growing the table. */
int duet_vocab_set(duet_vocab *v, int id, const char *s, size_t len);
void duet_vocab_free(duet_vocab *v);

#endif
