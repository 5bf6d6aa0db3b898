#ifndef DUET_TOKENIZER_IMPL_H
#define DUET_TOKENIZER_IMPL_H

/* The tokenizer object, shared by engine/tokenizer.c (load), encode.c,
 * decode.c and detok.c. Immutable after load: encode and decode keep their
 * state on the caller's stack, so one tokenizer serves many threads. */

#include "engine/tokenizer.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/bpe.h"
#include "engine/tokenizer/decoders.h"
#include "engine/tokenizer/normalizers.h"
#include "engine/tokenizer/post_processor.h"
#include "engine/tokenizer/pre_tokenizers.h"
#include "engine/tokenizer/vocab.h"

struct duet_tokenizer {
  duet_normalizer *norm;
  duet_pretok *pretok;
  duet_bpe bpe;
  duet_post post;
  duet_decoder *dec;
  duet_added_set added;
  duet_vocab vocab;         /* id -> string, added tokens included */
  unsigned char *special;   /* per id: dropped by skip_special */
  int bos_id, eos_id;
  int cleanup;              /* clean_up_tokenization_spaces */
};

/* tokenizer_config.json (path may not exist: then defaults). */
int duet_tokenizer_load_config(duet_tokenizer *t, const char *path);
/* The reference's clean_up_tokenization: " ." -> "." and friends, in
 * order, each over the whole string. Rewrites s in place; returns length. */
size_t duet_cleanup_spaces(char *s, size_t len);
/* Token string -> id: added tokens first, then the model (or -1). */
int duet_tokenizer_lookup(const void *t, const char *s, size_t len);
/* Decodes ids into out (appended), without clean-up. */
/* The raw bytes of a byte token (byte-level or <0xNN>) into raw (>= the
 * token string's length); -1 when the token is text, not bytes. */
long duet_token_raw_bytes(const duet_tokenizer *t, int id, char *raw);
int duet_tokenizer_decode_raw(const duet_tokenizer *t, const int *ids, int n, int skip_special,
                              duet_tbuf *out);

#endif
