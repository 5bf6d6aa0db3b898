#include "engine/cli_number.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "engine/error.h"

int duet_cli_int(const char *opt, const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end || errno == ERANGE || v < lo || v > hi)
    return duet_error(DUET_EINVAL, "%s: '%s' is not an integer in [%lld, %lld]", opt, s, lo, hi);
  *out = v;
  return DUET_OK;
}

int duet_cli_double(const char *opt, const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v)) return duet_error(DUET_EINVAL, "%s: '%s' is not a finite number", opt, s);
  *out = v;
  return DUET_OK;
}
