// Pass/fail counting for the forward helper's tests (kv_cache, svg_plot,
// forward_*): each CHECK counts; main prints "N passed, M failed".
#ifndef DUET_TEST_FORWARD_CHECK_H
#define DUET_TEST_FORWARD_CHECK_H

#include <stdio.h>

#include "engine/error.h"

static int passed, failed;
#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (cond) passed++;                                                                  \
    else { failed++; fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #cond); } \
  } while (0)
#define CHECK_OK(expr)                                                                                   \
  do {                                                                                                   \
    int rc_ = (expr);                                                                                    \
    if (rc_ == DUET_OK) passed++;                                                                        \
    else { failed++; fprintf(stderr, "%s:%d: FAIL %s = %d: %s\n", __FILE__, __LINE__, #expr, rc_, duet_last_error()); } \
  } while (0)

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}

#endif
