#ifndef DUET_TOKENIZER_PRE_TOKENIZERS_IMPL_H
#define DUET_TOKENIZER_PRE_TOKENIZERS_IMPL_H

/* Private to pre_tokenizers.c (loading) and pre_tokenizers_apply.c. */

#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/pre_tokenizers.h"

enum { P_SPLIT, P_BYTE_LEVEL, P_METASPACE, P_DIGITS, P_WS_SPLIT };
/* Hugging Face's SplitDelimiterBehavior: what becomes of a match */
enum { SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_PREVIOUS, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
enum { PREPEND_ALWAYS, PREPEND_NEVER, PREPEND_FIRST };

typedef struct {
  int kind;
  duet_pattern pat; /* Split; ByteLevel with use_regex (built-in pattern) */
  int behavior;     /* Split: SPLIT_* */
  int invert;       /* Split: the gaps are the delimiters */
  int prefix_space; /* ByteLevel add_prefix_space */
  int use_regex;    /* ByteLevel */
  char repl[8];     /* Metaspace replacement (one character) */
  int prepend;      /* Metaspace prepend_scheme */
  int individual;   /* Digits individual_digits */
} duet_pretok_step;

struct duet_pretok {
  duet_pretok_step *steps;
  int n, cap;
};

#endif
