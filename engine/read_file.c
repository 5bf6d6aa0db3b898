#include "engine/read_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/error.h"

/* cap is a first guess at the size (the file size when known), so a
 * regular file is read with one fread plus the one that sees the end. */
static int read_all(FILE *f, const char *what, size_t cap, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  size_t n = 0;
  char *buf = NULL;
  for (;;) {
    if (!buf || n == cap) {
      if (buf) {
        if (cap > ((size_t)-1 - 1) / 2) {
          free(buf);
          return duet_error(DUET_ENOMEM, "%s: too large to read into memory", what);
        }
        cap *= 2;
      }
      char *q = realloc(buf, cap + 1); /* + 1: the NUL */
      if (!q) {
        free(buf);
        return duet_error(DUET_ENOMEM, "%s: out of memory reading %zu bytes", what, cap);
      }
      buf = q;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    return duet_error(DUET_EIO, "%s: read failed", what);
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return DUET_OK;
}

int duet_read_stream(FILE *f, const char *what, char **out, size_t *len) {
  return read_all(f, what, 1 << 16, out, len);
}

int duet_read_file(const char *path, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return duet_error(errno == ENOENT ? DUET_ENOENT : DUET_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  size_t cap = 1 << 16;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) cap = (size_t)st.st_size + 1;
  int rc = read_all(f, path, cap, out, len);
  fclose(f);
  return rc;
}
