#ifndef DUET_TOKENIZER_BYTE_LEVEL_H
#define DUET_TOKENIZER_BYTE_LEVEL_H

/* GPT-2's bytes_to_unicode: every byte maps to a printable code point so
 * byte-level vocabularies are strings. duet never builds the mapped text
 * on the encode path: the BPE runs on raw bytes against a vocabulary
 * keyed by raw bytes (see bpe.c), and decoding maps back with these. */

#include <stddef.h>
#include <stdint.h>

/* Code point of byte b. */
uint32_t duet_byte_to_cp(unsigned char b);
/* Byte of code point cp, or -1 when cp is not in the table. */
int duet_cp_to_byte(uint32_t cp);
/* Maps a byte-level string back to raw bytes into out (>= len bytes).
 * Returns the raw length, or -1 when a character is not in the table. */
long duet_byte_level_unmap(const char *s, size_t len, char *out);

#endif
