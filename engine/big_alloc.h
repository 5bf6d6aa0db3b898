#ifndef DUET_BIG_ALLOC_H
#define DUET_BIG_ALLOC_H

/* Large, long-lived buffers that are streamed every step (weights, the KV
 * cache pool): 2 MiB-aligned and advised as transparent huge pages, so a
 * pass over hundreds of MB walks a few hundred TLB entries instead of
 * ~100k 4 KiB pages. Where THP is off (or "never") the advice is ignored
 * and the buffer is an ordinary one; below 2 MiB it is an ordinary 64-byte
 * aligned block. Free with duet_big_free (free() also
 * works: it is an aligned_alloc block). NULL when out of memory or bytes
 * is 0. */

#include <stddef.h>

void *duet_big_alloc(size_t bytes);
void duet_big_free(void *p);

#endif
