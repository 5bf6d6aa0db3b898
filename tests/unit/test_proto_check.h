#ifndef DUET_TEST_PROTO_CHECK_H
#define DUET_TEST_PROTO_CHECK_H

/* The check macro and summary line shared by the proto unit tests. */
#include <stdio.h>

static int passed, failed;
#define CHECK(c)                                                                  \
  do {                                                                            \
    if (c) passed++;                                                              \
    else {                                                                        \
      failed++;                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);       \
    }                                                                             \
  } while (0)

static int check_summary(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}

#endif
