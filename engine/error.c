#include "engine/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[1024];

const char *duet_strerror(int err) {
  switch (err) {
  case DUET_OK: return "success";
  case DUET_ENOMEM: return "out of memory";
  case DUET_EINVAL: return "invalid argument";
  case DUET_EIO: return "input/output error";
  case DUET_EFORMAT: return "malformed data";
  case DUET_EUNSUPPORTED: return "not supported";
  case DUET_ENOSPC: return "no space left (pool or queue full)";
  case DUET_ERANGE: return "value out of range";
  case DUET_ENOENT: return "not found";
  case DUET_ECANCELED: return "cancelled";
  case DUET_EPROTO: return "protocol error";
  case DUET_ECLOSED: return "connection closed";
  case DUET_EAGAIN: return "try again";
  case DUET_ETIMEDOUT: return "timed out";
  case DUET_EINTERNAL: return "internal error";
  default: return "unknown error";
  }
}

int duet_error(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_message, sizeof last_message, fmt, ap);
  va_end(ap);
  return err;
}

const char *duet_last_error(void) {
  return last_message[0] ? last_message : "no error recorded";
}
