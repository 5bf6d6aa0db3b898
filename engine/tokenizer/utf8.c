#include "engine/tokenizer/utf8.h"

int duet_utf8_next(const unsigned char *s, uint32_t *cp) {
  unsigned char b = s[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  if (b < 0xE0) {
    *cp = ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F);
    return 2;
  }
  if (b < 0xF0) {
    *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return 3;
  }
  *cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
        ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  return 4;
}

int duet_utf8_put(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The WHATWG decoder's state for a lead byte: how many continuation bytes
 * follow and the allowed range of the first one (this is what rules out
 * overlongs, surrogates and code points above U+10FFFF). Returns -1 for a
 * byte that cannot start a character. */
static int lead_info(unsigned char b, unsigned char *lo, unsigned char *hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) return 1;
  if (b >= 0xE0 && b <= 0xEF) {
    if (b == 0xE0) *lo = 0xA0;
    if (b == 0xED) *hi = 0x9F;
    return 2;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (b == 0xF0) *lo = 0x90;
    if (b == 0xF4) *hi = 0x8F;
    return 3;
  }
  return -1;
}

/* Length of the valid prefix of the character starting at in[i]: returns
 * the full length when complete, or -(valid bytes seen) when it stops at a
 * bad or missing byte. */
static long char_span(const unsigned char *in, size_t len, size_t i) {
  if (in[i] < 0x80) return 1;
  unsigned char lo, hi;
  int need = lead_info(in[i], &lo, &hi);
  if (need < 0) return -1;
  size_t j = i + 1;
  for (int k = 0; k < need; k++, j++) {
    if (j >= len || in[j] < lo || in[j] > hi) return -(long)(j - i);
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

long duet_utf8_invalid_at(const char *s, size_t len) {
  const unsigned char *in = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    if (in[i] < 0x80) {
      i++;
      continue;
    }
    long n = char_span(in, len, i);
    if (n < 0) return (long)i;
    i += (size_t)n;
  }
  return -1;
}

size_t duet_utf8_lossy(const unsigned char *in, size_t len, char *out) {
  size_t i = 0, o = 0;
  while (i < len) {
    long n = char_span(in, len, i);
    if (n > 0) {
      for (long k = 0; k < n; k++) out[o++] = (char)in[i + k];
      i += (size_t)n;
    } else {
      /* One U+FFFD per maximal subpart; the offending byte is reprocessed. */
      out[o++] = (char)0xEF;
      out[o++] = (char)0xBF;
      out[o++] = (char)0xBD;
      i += (size_t)(-n);
    }
  }
  return o;
}

int duet_utf8_incomplete_tail(const unsigned char *s, size_t len) {
  /* A character is at most 4 bytes: look at the last 3 for a lead byte. */
  for (size_t back = 1; back <= 3 && back <= len; back++) {
    size_t i = len - back;
    if (s[i] >= 0x80 && s[i] < 0xC0) continue;
    unsigned char lo, hi;
    if (s[i] < 0x80 || lead_info(s[i], &lo, &hi) < 0) return 0;
    long n = char_span(s, len, i);
    /* Incomplete only if every byte present was acceptable. */
    return (n < 0 && (size_t)(-n) == back) ? (int)back : 0;
  }
  return 0;
}

int duet_js_is_space(uint32_t cp) {
  switch (cp) {
  case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0xA0:
  case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
  case 0xFEFF:
    return 1;
  default:
    return cp >= 0x2000 && cp <= 0x200A;
  }
}

size_t duet_utf8_count(const char *s, size_t n) {
  size_t cps = 0;
  for (size_t k = 0; k < n; k++) cps += ((unsigned char)s[k] & 0xC0) != 0x80; /* not a continuation byte */
  return cps;
}
