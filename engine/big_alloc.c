#include "engine/big_alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *duet_big_alloc(size_t bytes) {
  if (bytes == 0 || bytes > (size_t)-1 - HUGE_PAGE) return NULL;
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (bytes < HUGE_PAGE) return aligned_alloc(64, rounded); /* a huge page would be mostly waste */
  void *p = NULL;
  if (posix_memalign(&p, HUGE_PAGE, rounded) != 0) return NULL;
#ifdef MADV_HUGEPAGE
  /* Only the whole huge pages: advising the partial last one would fault
   * in 2 MiB for its first byte (a 2.25 MiB tensor would take 4 MiB). The
   * advice may fail (THP off): then the pages are ordinary ones. */
  (void)madvise(p, bytes & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
  return p;
}

void duet_big_free(void *p) { free(p); }
