#ifndef DUET_TOKENIZER_DECODERS_H
#define DUET_TOKENIZER_DECODERS_H

/* tokenizer.json "decoder": ByteLevel, Replace, ByteFallback, Fuse, Strip,
 * Metaspace and Sequence of these, with the reference's semantics: the
 * chain maps a list of token strings to a list of strings, joined at the
 * end. Byte-producing steps turn invalid UTF-8 into U+FFFD the way
 * TextDecoder does. Other decoders are refused at load by name. */

#include "engine/tokenizer/buf.h"
#include "engine/tokenizer/regex.h"

#include <jansson.h>

typedef struct duet_decoder duet_decoder;

/* A list of strings stored in one buffer. */
typedef struct {
  duet_tbuf text;
  duet_pieces parts;
} duet_strlist;

/* is_added(ctx, s, len): whether s is an added token's content (ByteLevel
 * passes those through undecoded, as the reference does). */
typedef int (*duet_is_added_fn)(const void *ctx, const char *s, size_t len);

int duet_decoder_load(json_t *j, duet_decoder **out); /* null j: *out = NULL */
void duet_decoder_free(duet_decoder *d);
/* Runs the chain over in (consumed; may be swapped with scratch) and
 * appends the joined result to out. */
int duet_decoder_run(const duet_decoder *d, duet_is_added_fn is_added, const void *ctx,
                     duet_regex_scratch *rs, duet_strlist *in, duet_strlist *scratch, duet_tbuf *out);
int duet_strlist_push(duet_strlist *l, const char *s, size_t len);
void duet_strlist_clear(duet_strlist *l);
void duet_strlist_free(duet_strlist *l);

#endif
