#ifndef DUET_JSON_FILE_H
#define DUET_JSON_FILE_H

/* Load a JSON file from a model directory (config.json, an index...),
 * refusing what is not a regular file (a FIFO would block the reader
 * forever) or is larger than max_bytes, with messages naming the file and
 * the line/column of a syntax error. Duplicate keys are refused. */

#include <jansson.h>
#include <stddef.h>

/* DUET_ENOENT (missing), DUET_EIO, DUET_EFORMAT (not JSON, too large). */
int duet_json_load_file(const char *path, size_t max_bytes, json_t **out);

#endif
