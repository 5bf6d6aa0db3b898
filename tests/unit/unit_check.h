// The check counters of every unit test (header only: each test is one
// program). A failed CHECK prints
// its line and message and the test goes on, so one run lists every
// failure; main() ends with `return finish();`.
#ifndef DUET_TEST_UNIT_CHECK_H
#define DUET_TEST_UNIT_CHECK_H

#include <stdio.h>
#include <string.h>

#include "engine/error.h"

static int passed, failed;

/* CHECK(cond) or CHECK(cond, fmt, ...): the optional fmt and arguments
 * explain a failure. */
#define CHECK(cond, ...)                                                  \
  do {                                                                    \
    if (cond) {                                                           \
      passed++;                                                           \
    } else {                                                              \
      failed++;                                                           \
      fprintf(stderr, "%s:%d: FAIL %s", __FILE__, __LINE__, #cond);       \
      __VA_OPT__(fputs(": ", stderr); fprintf(stderr, __VA_ARGS__);)      \
      fputc('\n', stderr);                                                \
    }                                                                     \
  } while (0)

/* expr must return DUET_OK. */
#define CHECK_OK(expr)                                                   \
  do {                                                                   \
    int rc_ = (expr);                                                    \
    CHECK(rc_ == DUET_OK, "%s = %d: %s", #expr, rc_, duet_last_error()); \
  } while (0)

/* expr must fail with code want and a message containing each of the
 * strings that follow (NULL-terminated list). */
#define CHECK_ERR(expr, want, ...)                                                       \
  do {                                                                                   \
    int rc_ = (expr);                                                                    \
    const char *subs_[] = {__VA_ARGS__, NULL};                                           \
    int ok_ = rc_ == (want);                                                             \
    for (int s_ = 0; ok_ && subs_[s_]; s_++) ok_ = strstr(duet_last_error(), subs_[s_]) != NULL; \
    CHECK(ok_, "%s = %d (want %d): \"%s\"", #expr, rc_, (int)(want), duet_last_error()); \
  } while (0)

/* The summary line ctest logs, and the exit status. */
static inline int finish(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#endif
