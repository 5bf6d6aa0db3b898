#ifndef DUET_TOKENIZER_PRE_TOKENIZERS_H
#define DUET_TOKENIZER_PRE_TOKENIZERS_H

/* tokenizer.json "pre_tokenizer": Sequence, Split (every behavior:
 * Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous; and
 * invert), ByteLevel, Metaspace, Digits, WhitespaceSplit. A Sequence is
 * flattened; ByteLevel must come last (it switches the model to raw-byte
 * words, see bpe.h). Other components are refused at load by name. */

#include "engine/tokenizer/buf.h"
#include "engine/tokenizer/regex.h"

#include <jansson.h>

typedef struct duet_pretok duet_pretok;

/* Per-call buffers: the pieces point into *base. */
typedef struct {
  duet_pieces a, b;
  duet_tbuf buf[2];
  const char *base;
  duet_pieces *out;
} duet_pretok_scratch;

/* j may be null: *out = NULL (the whole text is one word). */
int duet_pretok_load(json_t *j, duet_pretok **out);
void duet_pretok_free(duet_pretok *p);
/* Whether a ByteLevel step is present (the model works on raw bytes). */
int duet_pretok_byte_level(const duet_pretok *p);
/* Splits text into words: on return s->base and s->out hold them.
 * section_index: index of this text among the added-token sections
 * (Metaspace's prepend_scheme "first" uses it, as the reference does). */
int duet_pretok_apply(const duet_pretok *p, duet_regex_scratch *rs, const char *text, size_t len,
                      int section_index, duet_pretok_scratch *s);
void duet_pretok_scratch_free(duet_pretok_scratch *s);

#endif
