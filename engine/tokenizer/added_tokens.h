#ifndef DUET_TOKENIZER_ADDED_TOKENS_H
#define DUET_TOKENIZER_ADDED_TOKENS_H

/* Added and special tokens ("added_tokens" of tokenizer.json), matched in
 * the text before pre-tokenization. Matching is a byte trie walked from
 * each position that can start a token (a 256-entry first-byte filter
 * skips the rest), taking the longest token at the leftmost position as
 * the reference's splitter does: O(text * longest token), no scan over
 * the token list. Tokens with normalized=true are matched in the
 * normalized text, the others in the raw text. */

#include "engine/tokenizer/buf.h"
#include "engine/tokenizer/hashmap.h"

#include <jansson.h>

typedef struct {
  char *content;
  size_t len;
  int id;
  int lstrip, rstrip, single_word, normalized, special;
} duet_added;

typedef struct {
  int first_child, sibling, token; /* token: index into tok, -1 none */
  unsigned char byte;
} duet_trie_node;

typedef struct {
  duet_trie_node *nodes;
  int n, cap;
  int root_child[256];
} duet_trie;

typedef struct {
  duet_added *tok;
  int n;
  duet_trie raw, norm; /* by content / by normalized content */
  duet_strmap by_content; /* content (and normalized content) -> index */
} duet_added_set;

/* One section of text: a token (tok >= 0, index into set->tok) or text. */
typedef struct {
  size_t off, len;
  int tok;
} duet_section;
typedef struct {
  duet_section *v;
  size_t n, cap;
} duet_sections;

int duet_added_set_init(duet_added_set *s);
/* Adds one token; norm_content (or NULL) is its normalized form, matched
 * in normalized text when tok->normalized. Takes a copy. */
int duet_added_add(duet_added_set *s, const duet_added *tok, const char *norm_content, size_t norm_len);
void duet_added_set_free(duet_added_set *s);
/* Splits text into sections with the raw (normalized = 0) or normalized
 * trie, then applies lstrip / rstrip to the neighbours of tokens. */
int duet_added_split(const duet_added_set *s, int normalized, const char *text, size_t len,
                     duet_sections *out);
/* Index of the added token whose content is exactly s, or -1. */
int duet_added_find(const duet_added_set *s, const char *str, size_t len);

#endif
