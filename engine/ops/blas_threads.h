#ifndef DUET_OPS_BLAS_THREADS_H
#define DUET_OPS_BLAS_THREADS_H

/* Internal to engine/ops: one thread pool, not two. The ops split large
 * products over OpenMP threads themselves and call OpenBLAS single-threaded
 * inside (a matrix slice per thread, a head per thread). Letting OpenBLAS's
 * own pthreads run beside OpenMP's makes the two pools trade the cores
 * (each spins while the other works); measured on this 2-core machine,
 * 48 attention heads of 256x256x48: 11.5 ms with OpenBLAS threads per head,
 * 38.6 ms calling threaded OpenBLAS from an OpenMP loop, 2.4 ms with one
 * OpenMP thread per head and single-threaded OpenBLAS.
 * The OpenBLAS thread count is process-wide: two threads of one process
 * running ops at once may see each other's setting (results stay exact;
 * only the speed of the other thread's BLAS calls changes). */

#include <cblas.h>

/* Returns the previous OpenBLAS thread count, to pass to _end. */
static inline int duet_blas_serial_begin(void) {
  int n = openblas_get_num_threads();
  if (n > 1) openblas_set_num_threads(1);
  return n;
}

static inline void duet_blas_serial_end(int n) {
  if (n > 1) openblas_set_num_threads(n);
}

#endif
