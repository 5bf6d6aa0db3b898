#include "engine/json_file.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/error.h"

int duet_json_load_file(const char *path, size_t max_bytes, json_t **out) {
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0)
    return duet_error(errno == ENOENT ? DUET_ENOENT : DUET_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return duet_error(DUET_EIO, "%s: not a regular file", path);
  if ((unsigned long long)st.st_size > max_bytes)
    return duet_error(DUET_EFORMAT, "%s: %lld bytes, over the %zu-byte limit for this file", path,
                      (long long)st.st_size, max_bytes);
  json_error_t jerr;
  *out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!*out)
    return duet_error(DUET_EFORMAT, "%s: not valid JSON (line %d column %d: %s)", path, jerr.line, jerr.column,
                      jerr.text);
  return DUET_OK;
}
