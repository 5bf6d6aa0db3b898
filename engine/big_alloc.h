#ifndef DUET_BIG_ALLOC_H
#define DUET_BIG_ALLOC_H

/* Large, long-lived buffers that are streamed every step (weights the
 * engine owns, the KV cache pool): 2 MiB-aligned, their whole 2 MiB pages
 * advised as transparent huge pages, so a pass over hundreds of MB walks a
 * few hundred TLB entries instead of ~100k 4 KiB pages. Where THP is off
 * the advice is ignored. Below 2 MiB: an ordinary 64-byte aligned block.
 * Weights used straight from a checkpoint's mmap stay in the page cache's
 * 4 KiB pages. Free with duet_big_free. NULL when out of memory or bytes
 * is 0. */

#include <stddef.h>

void *duet_big_alloc(size_t bytes);
void duet_big_free(void *p);

#endif
