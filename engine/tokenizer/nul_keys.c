#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "engine/tokenizer/nul_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Candidates: the 32 noncharacters U+FDD0..U+FDEF, UTF-8 EF B7 90..AF. */
enum { FIRST = 0xFDD0, COUNT = 32 };

// The index of the quote closing the string whose opening quote is buf[i], or n.
static size_t string_end(const char *buf, size_t n, size_t i) {
  for (i++; i < n; i++) {
    if (buf[i] == '\\') i++;
    else if (buf[i] == '"') return i;
  }
  return n;
}

// Whether the escape at buf[j] (a backslash) is \u0000.
static int nul_escape(const char *buf, size_t end, size_t j) { return end - j >= 6 && !memcmp(buf + j, "\\u0000", 6); }

/* Bit k set: candidate k occurs in the file, raw or escaped (an escaped
 * backslash before "uFDD0" counts too: it only rules a candidate out). */
static unsigned long long used_candidates(const char *buf, size_t n) {
  unsigned long long used = 0;
  for (size_t i = 0; i + 2 < n; i++) {
    const unsigned char *u = (const unsigned char *)buf + i;
    if (u[0] == 0xEF && u[1] == 0xB7 && u[2] >= 0x90 && u[2] <= 0xAF) used |= 1ULL << (u[2] - 0x90);
    if (u[0] == '\\' && u[1] == 'u' && i + 6 <= n) {
      char hex[5] = {buf[i + 2], buf[i + 3], buf[i + 4], buf[i + 5], 0};
      char *end;
      unsigned long cp = strtoul(hex, &end, 16);
      if (*end == 0 && cp >= FIRST && cp < FIRST + COUNT) used |= 1ULL << (cp - FIRST);
    }
  }
  return used;
}

// Rewrites the \u0000 escapes of the string buf(s, e) to \uXXXX; 1 if any.
static int rewrite_string(char *buf, size_t s, size_t e, const char *hex4) {
  int any = 0;
  for (size_t j = s + 1; j < e; j++) {
    if (buf[j] != '\\') continue;
    if (nul_escape(buf, e, j)) memcpy(buf + j + 2, hex4, 4), any = 1;
    j++; /* the escaped character */
  }
  return any;
}

void duet_nul_keys_escape(char *buf, size_t n, duet_nul_sentinel *s) {
  s->len = 0;
  if (!memmem(buf, n, "\\u0000", 6)) return;
  unsigned long long used = used_candidates(buf, n);
  int k = 0;
  while (k < COUNT && (used >> k & 1)) k++;
  if (k == COUNT) return;
  char hex4[5];
  snprintf(hex4, sizeof hex4, "%04X", FIRST + k);
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    if (buf[i] != '"') continue;
    size_t e = string_end(buf, n, i), j = e + 1;
    while (j < n && (buf[j] == ' ' || buf[j] == '\t' || buf[j] == '\n' || buf[j] == '\r')) j++;
    if (j < n && buf[j] == ':') any |= rewrite_string(buf, i, e, hex4); /* a key: values stay as they are */
    i = e;
  }
  if (!any) return;
  s->utf8[0] = (char)0xEF, s->utf8[1] = (char)0xB7, s->utf8[2] = (char)(0x90 + k);
  s->len = 3;
}

size_t duet_nul_keys_restore(const duet_nul_sentinel *s, const char *key, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (s->len && len - i >= s->len && !memcmp(key + i, s->utf8, s->len)) out[o++] = 0, i += s->len;
    else out[o++] = key[i++];
  }
  return o;
}
