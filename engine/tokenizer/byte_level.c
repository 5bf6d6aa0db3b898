#include "engine/tokenizer/byte_level.h"

#include "engine/tokenizer/utf8.h"

/* Printable Latin-1 bytes map to themselves; the other 68 bytes map, in
 * order, to U+0100 and up. */
static int printable(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t duet_byte_to_cp(unsigned char b) {
  if (printable(b)) return b;
  uint32_t n = 0;
  for (unsigned k = 0; k < b; k++) n += !printable(k);
  return 256 + n;
}

int duet_cp_to_byte(uint32_t cp) {
  if (cp < 256) return printable(cp) ? (int)cp : -1;
  if (cp >= 256 + 68) return -1;
  uint32_t n = cp - 256;
  for (unsigned b = 0; b < 256; b++)
    if (!printable(b) && n-- == 0) return (int)b;
  return -1;
}

long duet_byte_level_unmap(const char *s, size_t len, char *out) {
  const unsigned char *u = (const unsigned char *)s;
  long n = 0;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    i += (size_t)duet_utf8_next(u + i, &cp);
    int b = duet_cp_to_byte(cp);
    if (b < 0) return -1;
    out[n++] = (char)b;
  }
  return n;
}
