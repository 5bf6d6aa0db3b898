#ifndef DUET_TOKENIZER_NORMALIZERS_H
#define DUET_TOKENIZER_NORMALIZERS_H

/* tokenizer.json "normalizer": Sequence, Prepend, Replace, NFC, NFD, NFKC,
 * NFKD, Strip. A Sequence is flattened into a list of steps applied in
 * order; anything else is refused at load by name. */

#include "engine/tokenizer/buf.h"
#include "engine/tokenizer/regex.h"

#include <jansson.h>

typedef struct duet_normalizer duet_normalizer;

/* j may be null (no normalizer): *out = NULL. */
int duet_normalizer_load(json_t *j, duet_normalizer **out);
void duet_normalizer_free(duet_normalizer *n);
/* Normalizes text[0..len) into out (cleared first). */
int duet_normalizer_apply(const duet_normalizer *n, duet_regex_scratch *s, const char *text,
                          size_t len, duet_tbuf *out);

#endif
