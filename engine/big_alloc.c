#include "engine/big_alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *duet_big_alloc(size_t bytes) {
  if (bytes == 0 || bytes > (size_t)-1 - HUGE_PAGE) return NULL;
  if (bytes < HUGE_PAGE) return aligned_alloc(64, (bytes + 63) & ~(size_t)63); /* a huge page would be mostly waste */
  size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  void *p = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
  if (p) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure leaves 4 KiB pages */
#endif
  return p;
}

void duet_big_free(void *p) { free(p); }
