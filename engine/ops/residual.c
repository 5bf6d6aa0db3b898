#include "engine/ops/residual.h"

#include <stddef.h>

#include "engine/ops/simd.h"

void duet_residual_forward_ref(float *out, const float *a, const float *b, long n) {
  for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void duet_residual_forward(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for simd schedule(static) if (n > 4 * DUET_OMP_MIN_WORK)
  for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void duet_residual_backward(float *da, float *db, const float *dout, long n) {
  if (da) {
#pragma omp parallel for simd schedule(static) if (n > 4 * DUET_OMP_MIN_WORK)
    for (long i = 0; i < n; i++) da[i] += dout[i];
  }
  if (db) {
#pragma omp parallel for simd schedule(static) if (n > 4 * DUET_OMP_MIN_WORK)
    for (long i = 0; i < n; i++) db[i] += dout[i];
  }
}
