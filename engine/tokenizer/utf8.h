#ifndef DUET_TOKENIZER_UTF8_H
#define DUET_TOKENIZER_UTF8_H

/* UTF-8 helpers shared by the tokenizer: strict decoding of valid text,
 * WHATWG-style lossy decoding (what JavaScript's TextDecoder and therefore
 * Hugging Face's decoders produce), and the whitespace sets that the
 * reference implementation uses. */

#include <stddef.h>
#include <stdint.h>

/* Decode one code point of VALID UTF-8 at s (caller checked validity).
 * Returns the byte length (1..4) and stores the code point. */
int duet_utf8_next(const unsigned char *s, uint32_t *cp);
/* Byte length of the character starting with lead byte b (1..4). */
static inline int duet_utf8_len(unsigned char b) {
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}
/* Code points in n bytes of valid UTF-8 (what Python's len() counts). */
size_t duet_utf8_count(const char *s, size_t n);
/* Encode cp into out (>= 4 bytes); returns the byte length. */
int duet_utf8_put(uint32_t cp, char *out);
/* Offset of the first invalid byte of s (strict UTF-8: no overlongs, no
 * surrogates, <= U+10FFFF), or -1 when all of s is valid. */
long duet_utf8_invalid_at(const char *s, size_t len);
/* Decode arbitrary bytes the way the WHATWG UTF-8 decoder does with
 * fatal=false: each maximal ill-formed subpart becomes one U+FFFD. out must
 * hold 3*len bytes (U+FFFD is 3 bytes for each bad byte at most).
 * Returns the output length. */
size_t duet_utf8_lossy(const unsigned char *in, size_t len, char *out);
/* Length of the incomplete (but so far valid) character at the end of s,
 * 0 when s ends on a character boundary or with bytes that can never
 * complete. Used by the streaming detokenizer to wait for more bytes. */
int duet_utf8_incomplete_tail(const unsigned char *s, size_t len);
/* JavaScript's String.prototype.trim whitespace (WhiteSpace and
 * LineTerminator of ECMA-262, which includes U+FEFF). */
int duet_js_is_space(uint32_t cp);

#endif
