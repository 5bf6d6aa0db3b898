#ifndef DUET_TOKENIZER_BPE_H
#define DUET_TOKENIZER_BPE_H

/* The BPE model of tokenizer.json: vocabulary, merge ranks, unk_token,
 * byte_fallback (<0xNN> tokens), ignore_merges, fuse_unk,
 * continuing_subword_prefix and end_of_word_suffix. In byte-level mode
 * (a ByteLevel pre-tokenizer is present) words are raw bytes and the
 * vocabulary is looked up by the raw bytes its strings stand for. */

#include "engine/tokenizer/buf.h"
#include "engine/tokenizer/hashmap.h"
#include "engine/tokenizer/nul_keys.h"
#include "engine/tokenizer/vocab.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
  duet_strmap vocab; /* token string -> id */
  duet_strmap raw;   /* byte-level: raw bytes -> id */
  duet_pairmap merges;
  int byte_level, byte_fallback, ignore_merges, fuse_unk;
  int unk_id;           /* -1 when none */
  int byte_id[256];     /* byte-level: the single-byte token of each byte */
  int fallback_id[256]; /* <0xNN> tokens, -1 when missing */
  char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix ("" = none) */
  int split_meta; /* words may be cut before each U+2581 after another char (see bpe.c) */
  size_t prefix_len, suffix_len;
} duet_bpe;

/* Reusable per-call state of the merge loop (no malloc per word). */
typedef struct {
  int *id, *prev, *next, *len;
  size_t *off;
  size_t cap;
  uint64_t *heap;
  size_t heap_n, heap_cap;
  duet_tbuf tmp;
} duet_bpe_scratch;

/* Loads the "model" object; fills vocab (id -> string). */
int duet_bpe_load(json_t *model, int byte_level, const duet_nul_sentinel *nul, duet_bpe *out, duet_vocab *vocab);
void duet_bpe_free(duet_bpe *b);
/* Appends the ids of one pre-tokenized word. */
int duet_bpe_encode_word(const duet_bpe *b, const char *w, size_t n, duet_bpe_scratch *s,
                         duet_ids *out);
void duet_bpe_scratch_free(duet_bpe_scratch *s);
/* Appends the ids of a word, cutting it first where split_meta allows;
 * encode(ctx, segment, len, out) encodes each segment. */
typedef int (*duet_word_fn)(void *ctx, const char *w, size_t n, duet_ids *out);
int duet_bpe_encode_split(const duet_bpe *b, const char *w, size_t n, duet_word_fn encode, void *ctx,
                          duet_ids *out);
/* Model-vocabulary id of a token string, or -1. */
int duet_bpe_token_id(const duet_bpe *b, const char *s, size_t len);

#endif
