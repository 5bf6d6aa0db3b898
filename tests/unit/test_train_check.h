#ifndef DUET_TEST_TRAIN_CHECK_H
#define DUET_TEST_TRAIN_CHECK_H

/* CHECK(cond, fmt, ...) for the trainer's unit tests: counts passes and
 * failures and prints each failure with its line; main() ends with
 * TRAIN_TEST_SUMMARY(). */
#include <stdio.h>

static int passed, failed;
#define CHECK(cond, ...)                          \
  do {                                            \
    if (cond) {                                   \
      passed++;                                   \
    } else {                                      \
      failed++;                                   \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                        \
      printf("\n");                               \
    }                                             \
  } while (0)

#define TRAIN_TEST_SUMMARY() (printf("%d passed, %d failed\n", passed, failed), failed != 0)

#endif
