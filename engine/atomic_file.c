#include "engine/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"

int duet_atomic_check(const char *path) {
  struct stat st;
  if (path && stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return duet_error(DUET_EINVAL, "%s: exists and is not a regular file (it would be replaced by one)", path);
  return DUET_OK;
}

int duet_atomic_open(duet_atomic_file *f, const char *path) {
  f->fd = -1;
  if (!path || !*path) return duet_error(DUET_EINVAL, "atomic write: empty path");
  int rc = duet_atomic_check(path);
  if (rc < 0) return rc;
  if (strlen(path) >= sizeof f->path) return duet_error(DUET_EINVAL, "atomic write: path too long: %.64s...", path);
  snprintf(f->path, sizeof f->path, "%s", path);
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp.XXXXXX", path);
  f->fd = mkstemp(f->tmp);
  if (f->fd < 0) return duet_error(DUET_EIO, "%s: cannot create temporary file: %s", f->tmp, strerror(errno));
  /* mkstemp makes 0600; a checkpoint should be readable like any file
   * written with open(0666) under the usual umask (reading the umask would
   * mean setting it, which races with other threads). */
  (void)fchmod(f->fd, 0644);
  return DUET_OK;
}

int duet_atomic_write(duet_atomic_file *f, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return duet_error(DUET_EIO, "%s: write failed: %s", f->tmp, w < 0 ? strerror(errno) : "no progress");
    p += w;
    n -= (size_t)w;
  }
  return DUET_OK;
}

static void fsync_dir(const char *path) {
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)fsync(dfd); /* best effort: some filesystems refuse fsync on directories */
    close(dfd);
  }
}

int duet_atomic_commit(duet_atomic_file *f, int rc) {
  if (f->fd < 0) return rc < 0 ? rc : duet_error(DUET_EINVAL, "atomic write: file not open");
  if (rc == DUET_OK && fsync(f->fd) != 0) rc = duet_error(DUET_EIO, "%s: fsync failed: %s", f->tmp, strerror(errno));
  if (close(f->fd) != 0 && rc == DUET_OK) rc = duet_error(DUET_EIO, "%s: close failed: %s", f->tmp, strerror(errno));
  f->fd = -1;
  if (rc == DUET_OK && rename(f->tmp, f->path) != 0)
    rc = duet_error(DUET_EIO, "%s: rename from %s failed: %s", f->path, f->tmp, strerror(errno));
  if (rc != DUET_OK) {
    unlink(f->tmp);
    return rc;
  }
  fsync_dir(f->path);
  return DUET_OK;
}

int duet_write_file_atomic(const char *path, const void *buf, size_t n) {
  duet_atomic_file f;
  int rc = duet_atomic_open(&f, path);
  if (rc < 0) return rc;
  return duet_atomic_commit(&f, duet_atomic_write(&f, buf, n));
}
