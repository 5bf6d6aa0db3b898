// engine/read_file.h: whole files and streams come back byte-exact and
// NUL-terminated (empty ones too, and ones larger than the first buffer
// guess), a missing file is DUET_ENOENT naming the path, a directory is
// DUET_EIO.
#include <stdlib.h>
#include <string.h>

#include "engine/read_file.h"
#include "tests/unit/loader_util.h"

/* n bytes of a pattern with NULs in it, so a strlen-based reader fails. */
static char *pattern(size_t n) {
  char *p = malloc(n ? n : 1);
  for (size_t i = 0; p && i < n; i++) p[i] = (char)(i * 7 % 251);
  return p;
}

static void check_file_roundtrip(const char *dir, size_t n) {
  char path[512];
  path_in(path, sizeof path, dir, "data.bin");
  char *want = pattern(n), *got = NULL;
  size_t len = 12345;
  CHECK(want && write_bytes(path, want, n) == 0, "write %zu bytes", n);
  CHECK_OK(duet_read_file(path, &got, &len));
  CHECK(got && len == n && !memcmp(got, want, n) && got[n] == 0, "file of %zu bytes: got %zu", n, len);
  free(got);
  FILE *f = fopen(path, "rb"); /* the same through the stream reader */
  got = NULL;
  CHECK_OK(f ? duet_read_stream(f, "data.bin", &got, &len) : DUET_EIO);
  CHECK(got && len == n && !memcmp(got, want, n) && got[n] == 0, "stream of %zu bytes: got %zu", n, len);
  if (f) fclose(f);
  free(got);
  free(want);
}

int main(void) {
  const char *dir = scratch_make("read-file");
  size_t sizes[] = {0, 1, 65535, 65536, 65537, 300000};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) check_file_roundtrip(dir, sizes[i]);

  char missing[512], *out = (char *)1;
  size_t len;
  path_in(missing, sizeof missing, dir, "no-such-file");
  CHECK_ERR(duet_read_file(missing, &out, &len), DUET_ENOENT, "no-such-file");
  CHECK(out == NULL, "out is cleared on failure");
  CHECK_ERR(duet_read_file(dir, &out, &len), DUET_EIO, dir);
  CHECK(out == NULL, "out is cleared on failure");

  scratch_remove();
  return finish();
}
