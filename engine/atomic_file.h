#ifndef DUET_ATOMIC_FILE_H
#define DUET_ATOMIC_FILE_H

/* Write a file so that readers see either the old file or the complete new
 * one, never a partial one (a crash mid-write of a checkpoint must not
 * destroy the previous checkpoint): write PATH.tmp.XXXXXX in the same
 * directory, fsync it, rename it over PATH, fsync the directory.
 *
 *   duet_atomic_file f;
 *   if ((rc = duet_atomic_open(&f, path)) < 0) return rc;
 *   rc = duet_atomic_write(&f, buf, n);         // any number of times
 *   rc = duet_atomic_commit(&f, rc);            // renames if rc == 0, else removes the temp file
 */

#include <stddef.h>

typedef struct {
  int fd;
  char path[4096], tmp[4096 + 16];
} duet_atomic_file;

/* DUET_OK when path does not exist or is a regular file; DUET_EINVAL
 * naming it otherwise: the rename would replace a device such as /dev/null
 * (or a FIFO, a socket) with a plain file. duet_atomic_open checks it;
 * a command can call it first to refuse before doing any work. */
int duet_atomic_check(const char *path);
int duet_atomic_open(duet_atomic_file *f, const char *path);
int duet_atomic_write(duet_atomic_file *f, const void *buf, size_t n);
/* Finish: when rc (the result of the writes so far) is DUET_OK, fsync and
 * rename into place; otherwise (or if that fails) remove the temp file.
 * Returns the final result. */
int duet_atomic_commit(duet_atomic_file *f, int rc);

/* The whole thing at once for a buffer that is already in memory. */
int duet_write_file_atomic(const char *path, const void *buf, size_t n);

#endif
