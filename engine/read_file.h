#ifndef DUET_READ_FILE_H
#define DUET_READ_FILE_H

/* Whole-file reads into memory, for the inputs that are parsed in one piece
 * (tokenizer.json, a chat template, a training corpus, stdin of a tool).
 * The buffer is malloc'd and NUL-terminated so text parsers can use it as a
 * C string; *len excludes the NUL. Errors name the file (or `what`). */

#include <stddef.h>
#include <stdio.h>

/* All of an open stream (stdin, a pipe, a file) up to its end.
 * DUET_EIO (read error), DUET_ENOMEM. */
int duet_read_stream(FILE *f, const char *what, char **out, size_t *len);

/* All of the file at path. DUET_ENOENT (no such file), DUET_EIO, DUET_ENOMEM. */
int duet_read_file(const char *path, char **out, size_t *len);

#endif
