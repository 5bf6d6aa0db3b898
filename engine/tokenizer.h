#ifndef DUET_TOKENIZER_H
#define DUET_TOKENIZER_H

/* Hugging Face tokenizers (tokenizer.json): BPE, byte-level BPE (Llama 3,
 * Qwen), SentencePiece-style BPE (Llama 2), with normalizers,
 * pre-tokenizers, post-processors, decoders and added tokens. */

#include <stddef.h>

/* A loaded tokenizer is immutable: encode, decode and detokenizers may
 * use one tokenizer from many threads at once. */
typedef struct duet_tokenizer duet_tokenizer;

/* path: a model directory (reads tokenizer.json and, if present,
 * tokenizer_config.json) or a tokenizer.json file. Unsupported components
 * are refused by name. */
int duet_tokenizer_load(const char *path, duet_tokenizer **out);
void duet_tokenizer_free(duet_tokenizer *t);

/* Encode UTF-8 text. add_special: apply the post-processor (BOS/EOS).
 * *ids is malloc'd; caller frees. */
int duet_tokenizer_encode(const duet_tokenizer *t, const char *text, size_t len, int add_special,
                          int **ids, int *n_ids);
/* Decode ids to UTF-8 text (malloc'd, NUL-terminated). skip_special drops
 * special added tokens as Hugging Face's skip_special_tokens does. */
int duet_tokenizer_decode(const duet_tokenizer *t, const int *ids, int n_ids, int skip_special,
                          char **text, size_t *len);

int duet_tokenizer_vocab_size(const duet_tokenizer *t);
int duet_tokenizer_token_id(const duet_tokenizer *t, const char *token); /* or DUET_ENOENT */
int duet_tokenizer_bos_id(const duet_tokenizer *t); /* -1 when none */
int duet_tokenizer_eos_id(const duet_tokenizer *t); /* -1 when none */
int duet_tokenizer_is_special(const duet_tokenizer *t, int id);
/* The bytes token id stands for inside a sequence (malloc'd, NUL-ended),
 * for logprobs: a byte token's raw bytes, which may be part of a UTF-8
 * character (OpenAI's "bytes" let clients join them back); a text token's
 * text as a decode shows it mid-sequence (SentencePiece "\u2581the" is " the",
 * where a decode of the token alone strips the space). */
int duet_tokenizer_token_bytes(const duet_tokenizer *t, int id, char **bytes, size_t *len);

/* Streaming detokenizer: feed ids one at a time; each call appends to out
 * the text that is now final (never a partial UTF-8 character) and returns
 * its byte length. Ownership: one per stream; free with _free. */
typedef struct duet_detok duet_detok;
int duet_detok_new(const duet_tokenizer *t, int skip_special, duet_detok **out);
void duet_detok_free(duet_detok *d);
/* Before the first push: the ids the stream continues (a prompt), so its
 * first token reads as it does after them (see detok.c). */
int duet_detok_prime(duet_detok *d, const int *ids, int n);
/* Appends up to out_cap bytes; returns bytes written or a negative error.
 * Text that does not fit stays queued and comes first from the next push
 * or finish; call finish until it returns 0 to drain everything. */
int duet_detok_push(duet_detok *d, int id, char *out, size_t out_cap);
/* Flush what is left at end of stream (invalid trailing bytes as U+FFFD). */
int duet_detok_finish(duet_detok *d, char *out, size_t out_cap);

#endif
