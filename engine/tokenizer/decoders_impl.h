#ifndef DUET_TOKENIZER_DECODERS_IMPL_H
#define DUET_TOKENIZER_DECODERS_IMPL_H

/* Private to decoders.c (loading) and decoders_run.c. */

#include "engine/tokenizer/decoders.h"
#include "engine/tokenizer/pattern.h"

enum { D_BYTE_LEVEL, D_REPLACE, D_BYTE_FALLBACK, D_FUSE, D_STRIP, D_METASPACE };

typedef struct {
  int kind;
  duet_pattern pat; /* Replace */
  char *str;        /* Replace content, Strip content, Metaspace replacement */
  size_t str_len;
  int start, stop; /* Strip */
} duet_decoder_step;

struct duet_decoder {
  duet_decoder_step *steps;
  int n, cap;
};

#endif
