// Shared by test_safetensors.c, test_model_load.c and test_sampler.c
// (header only: each test is one program): a scratch
// directory, and the closed-form weights of the loader fixtures.
#ifndef DUET_TEST_LOADER_UTIL_H
#define DUET_TEST_LOADER_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"
#include "unit_check.h"

/* A fresh directory under $TMPDIR, removed (with its files) by
 * scratch_remove(). */
static char scratch_dir[256];
static inline const char *scratch_make(const char *tag) {
  const char *t = getenv("TMPDIR");
  snprintf(scratch_dir, sizeof scratch_dir, "%s/duet-%s-XXXXXX", t && *t ? t : "/tmp", tag);
  if (!mkdtemp(scratch_dir)) {
    perror("mkdtemp");
    exit(2);
  }
  return scratch_dir;
}
static inline void scratch_remove(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
  if (scratch_dir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch_dir);
}

static inline char *path_in(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
  return buf;
}

static inline int write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(p, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

/* tests/fixtures/loader/gen_safetensors_fixture.py: weight_value(). */
static inline float weight_value(const char *name, long i) {
  int salt = 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) salt += *p;
  salt %= 97;
  return (float)((i * 31 + salt * 7) % 97 - 48) / 64.0f;
}

#endif
