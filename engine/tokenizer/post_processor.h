#ifndef DUET_TOKENIZER_POST_PROCESSOR_H
#define DUET_TOKENIZER_POST_PROCESSOR_H

/* tokenizer.json "post_processor" for single sequences: TemplateProcessing
 * (special tokens around $A), BertProcessing / RobertaProcessing ([cls] A
 * [sep]), ByteLevel (nothing to add for ids) and Sequence of these. The
 * result is a fixed list of ids before and after the sequence. */

#include "engine/tokenizer/buf.h"

#include <jansson.h>

typedef struct {
  duet_ids before, after;
} duet_post;

/* Resolves a token string to an id (added tokens, then the model). */
typedef int (*duet_token_lookup)(const void *ctx, const char *s, size_t len);

/* j may be null (nothing added). */
int duet_post_load(json_t *j, duet_token_lookup lookup, const void *ctx, duet_post *out);
void duet_post_free(duet_post *p);

#endif
