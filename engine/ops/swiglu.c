#include "engine/ops/swiglu.h"

#include <math.h>
#include <string.h>

#include "engine/ops/simd.h"

void duet_swiglu_forward_ref(float *out, const float *gate, const float *up, long n) {
  for (long i = 0; i < n; i++) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

#if DUET_HAVE_AVX2
static inline __m256 swiglu8(__m256 g, __m256 u) {
  __m256 e = duet_exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}
#endif

/* AVX2: silu via the vector exp; reading gate and up before writing keeps
 * out == gate / out == up safe. The tail goes through the same vector
 * code, zero-padded: scalar expf differs from duet_exp8 in the last bit
 * for a few % of inputs, and the array is (N, hidden) flattened, so an
 * element's path would otherwise depend on N, and a sequence decoded in a
 * batch would not get the bits it gets alone. */
void duet_swiglu_forward(float *out, const float *gate, const float *up, long n) {
#if DUET_HAVE_AVX2
  long nv = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n > DUET_OMP_MIN_WORK)
  for (long i = 0; i < nv; i += 8)
    _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (nv < n) {
    float g[8] = {0}, u[8] = {0}, o[8];
    memcpy(g, gate + nv, (size_t)(n - nv) * sizeof(float));
    memcpy(u, up + nv, (size_t)(n - nv) * sizeof(float));
    _mm256_storeu_ps(o, swiglu8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    memcpy(out + nv, o, (size_t)(n - nv) * sizeof(float));
  }
#else
  duet_swiglu_forward_ref(out, gate, up, n);
#endif
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
