#ifndef DUET_TOKENIZER_PATTERN_H
#define DUET_TOKENIZER_PATTERN_H

/* A tokenizer.json pattern: {"String": literal} or {"Regex": oniguruma}.
 * Shared by the Replace normalizer, the Split pre-tokenizer and the
 * Replace decoder. Iteration follows JavaScript's global matching (after
 * an empty match the search moves on by one character). */

#include "engine/tokenizer/buf.h"
#include "engine/tokenizer/regex.h"

#include <jansson.h>

typedef struct {
  char *lit; /* literal, or NULL for a regex */
  size_t lit_len;
  duet_regex *re;
} duet_pattern;

int duet_pattern_load(json_t *p, const char *where, duet_pattern *out);
void duet_pattern_free(duet_pattern *p);
/* Next match at or after start: 1 with [*ms, *me), 0 none, <0 error. */
int duet_pattern_find(const duet_pattern *p, duet_regex_scratch *s, const char *text, size_t len,
                      size_t start, size_t *ms, size_t *me);
/* Appends text with every match replaced by content to out. */
int duet_pattern_replace_all(const duet_pattern *p, duet_regex_scratch *s, const char *text,
                             size_t len, const char *content, size_t content_len, duet_tbuf *out);

#endif
