#ifndef DUET_TOKENIZER_UNICODE_NORM_H
#define DUET_TOKENIZER_UNICODE_NORM_H

/* Unicode normalization forms NFC, NFD, NFKC and NFKD (UAX #15) over
 * UTF-8, driven by tables generated from the Unicode Character Database
 * (unicode_tables.c, see gen_unicode_tables.mjs). */

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t first, last;
  uint8_t ccc;
} duet_ccc_range;
typedef struct {
  uint32_t cp, off;
  uint8_t len, flags; /* flags: 1 = compatibility mapping, 2 = primary composite */
} duet_decomp_entry;

extern const char duet_unicode_version[];
extern const duet_ccc_range duet_ccc_ranges[];
extern const int duet_n_ccc_ranges;
extern const uint32_t duet_decomp_data[];
extern const duet_decomp_entry duet_decomp_entries[];
extern const int duet_n_decomp_entries;

enum { DUET_NFC, DUET_NFD, DUET_NFKC, DUET_NFKD };

/* Normalizes valid UTF-8 in[0..len) into *out (malloc'd, NUL-terminated).
 * Returns 0 or DUET_ENOMEM. */
int duet_unicode_normalize(int form, const char *in, size_t len, char **out, size_t *out_len);

#endif
