#ifndef DUET_ERROR_H
#define DUET_ERROR_H

/* Errors are negative ints (libuv style). A function that fails returns one
 * and may leave a detailed, human-readable message (naming the tensor, the
 * file, the parameter...) in a thread-local buffer read by duet_last_error(),
 * the way dlerror() works. Success is DUET_OK (0); counts are >= 0. */
enum {
  DUET_OK = 0,
  DUET_ENOMEM = -1,       /* out of memory */
  DUET_EINVAL = -2,       /* invalid argument or parameter */
  DUET_EIO = -3,          /* read/write/open failed */
  DUET_EFORMAT = -4,      /* malformed file or message */
  DUET_EUNSUPPORTED = -5, /* valid but not supported (architecture, dtype...) */
  DUET_ENOSPC = -6,       /* pool or queue full */
  DUET_ERANGE = -7,       /* value out of range (token id, position...) */
  DUET_ENOENT = -8,       /* no such file, tensor or request */
  DUET_ECANCELED = -9,    /* operation cancelled */
  DUET_EPROTO = -10,      /* protocol violation by a peer */
  DUET_ECLOSED = -11,     /* peer or transport closed */
  DUET_EAGAIN = -12,      /* try again later */
  DUET_ETIMEDOUT = -13,   /* timed out */
  DUET_EINTERNAL = -14,   /* a bug: an invariant did not hold */
};

/* Short fixed description of an error code ("out of memory"). */
const char *duet_strerror(int err);

/* printf-style: records the detailed message for this thread and returns
 * err, so callers can write `return duet_error(DUET_EFORMAT, "...", ...)`. */
int duet_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The detailed message of this thread's last duet_error(), or the
 * strerror text of nothing was recorded. Valid until the next call. */
const char *duet_last_error(void);

#endif
