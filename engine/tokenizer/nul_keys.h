#ifndef DUET_TOKENIZER_NUL_KEYS_H
#define DUET_TOKENIZER_NUL_KEYS_H

/* Vocabulary keys holding U+0000 ("\u0000": InternLM2's tokenizer.json has
 * one), which jansson cannot hold: object keys are C strings there. Before
 * parsing, each \u0000 escape inside an object key is rewritten in place
 * (same length) to the escape of a noncharacter the file does not contain
 * (the sentinel); the vocabulary loader turns the sentinel back into a
 * NUL byte. */

#include <stddef.h>

/* The sentinel's UTF-8 bytes and its length: 0 when no key was rewritten. */
typedef struct {
  char utf8[4];
  size_t len;
} duet_nul_sentinel;

/* Rewrites buf[0..n) as above; s->len stays 0 when no key holds \u0000
 * or every candidate sentinel already occurs in the file (jansson then
 * refuses the file, naming the key). */
void duet_nul_keys_escape(char *buf, size_t n, duet_nul_sentinel *s);

/* key (len bytes) with each sentinel turned back into a NUL byte, into out
 * (at least len bytes); returns the new length. */
size_t duet_nul_keys_restore(const duet_nul_sentinel *s, const char *key, size_t len, char *out);

#endif
