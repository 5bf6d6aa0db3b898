#include "engine/ops/swiglu.h"

#include <math.h>

#include "engine/ops/simd.h"

void duet_swiglu_forward_ref(float *out, const float *gate, const float *up, long n) {
  for (long i = 0; i < n; i++) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

/* AVX2: silu via the vector exp; reading gate and up before writing keeps
 * out == gate / out == up safe. */
void duet_swiglu_forward(float *out, const float *gate, const float *up, long n) {
  long nv = 0;
#if DUET_HAVE_AVX2
  nv = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n > DUET_OMP_MIN_WORK)
  for (long i = 0; i < nv; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i);
    __m256 e = duet_exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, u));
  }
#endif
  duet_swiglu_forward_ref(out + nv, gate + nv, up + nv, n - nv);
}

void duet_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, long n) {
#pragma omp parallel for schedule(static) if (n > DUET_OMP_MIN_WORK)
  for (long i = 0; i < n; i++) {
    float g = gate[i], sig = 1.0f / (1.0f + expf(-g));
    float silu = g * sig;
    /* d silu/dg = sig * (1 + g * (1 - sig)) */
    if (dgate) dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    if (dup) dup[i] += dout[i] * silu;
  }
}
