#ifndef DUET_OPS_SIMD_H
#define DUET_OPS_SIMD_H

/* Internal to the engine: small AVX2/FMA helpers shared by the fast paths.
 * Every user keeps a scalar tail, and a build without AVX2 compiles the
 * scalar loops only (DUET_HAVE_AVX2 is 0). */

#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
#define DUET_HAVE_AVX2 1
#include <immintrin.h>

/* expf for 8 lanes (Cephes polynomial, ~2 ulp on [-87, 88]); inputs below
 * -88.4 (including -inf) give 0, above 88.4 are clamped. */
static inline __m256 duet_exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)), _mm256_set1_ps(88.3762626647949f));
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127));
  e = _mm256_max_epi32(e, _mm256_setzero_si256()); /* 2^-127 and below flush to 0 */
  return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

static inline float duet_hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float duet_hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#else
#define DUET_HAVE_AVX2 0
#endif

/* max of x[0..n) (-inf when empty). */
static inline float duet_row_max(const float *x, int n) {
  int i = 0;
  float m = -INFINITY;
#if DUET_HAVE_AVX2
  __m256 vm = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  m = duet_hmax8(vm);
#endif
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

/* sum of exp(x[i] - m) over [0, n), also storing each term in out[i] when
 * out is not NULL (out may equal x). */
static inline float duet_row_exp_sum(float *out, const float *x, int n, float m) {
  int i = 0;
  float s = 0;
#if DUET_HAVE_AVX2
  __m256 vs = _mm256_setzero_ps(), vm = _mm256_set1_ps(m);
  for (; i + 8 <= n; i += 8) {
    __m256 e = duet_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    if (out) _mm256_storeu_ps(out + i, e);
    vs = _mm256_add_ps(vs, e);
  }
  s = duet_hsum8(vs);
#endif
  for (; i < n; i++) {
    float e = expf(x[i] - m);
    if (out) out[i] = e;
    s += e;
  }
  return s;
}

/* dot(a, b) over n floats: two 8-wide accumulators, then the tail. */
static inline float duet_dot(const float *a, const float *b, int n) {
  int i = 0;
  float s = 0;
#if DUET_HAVE_AVX2
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  if (i + 8 <= n) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0), i += 8;
  s = duet_hsum8(_mm256_add_ps(s0, s1));
#endif
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

/* out[j] = dot(a, b + j * stride) for j < 4: four rows against one
 * vector, their sums reduced together (3 hadds for 4 results, where 4
 * duet_dot calls would spend a whole reduction each). */
static inline void duet_dot4(float *out, const float *a, const float *b, size_t stride, int n) {
  int i = 0;
  float tail[4] = {0, 0, 0, 0};
#if DUET_HAVE_AVX2
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (; i + 8 <= n; i += 8) {
    __m256 va = _mm256_loadu_ps(a + i);
    s0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b + stride + i), s1);
    s2 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b + 2 * stride + i), s2);
    s3 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b + 3 * stride + i), s3);
  }
  __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
  _mm_storeu_ps(tail, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
#endif
  for (int j = 0; j < 4; j++) {
    float s = tail[j];
    for (int k = i; k < n; k++) s += a[k] * b[j * stride + k];
    out[j] = s;
  }
}

/* y[0..n) += a * x[0..n) */
static inline void duet_axpy(float *y, float a, const float *x, int n) {
  int i = 0;
#if DUET_HAVE_AVX2
  __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#endif
  for (; i < n; i++) y[i] += a * x[i];
}

/* Below this many elements an OpenMP team costs more than it saves. */
#define DUET_OMP_MIN_WORK 32768

#endif
