#include "engine/ops/dtype.h"

#include <string.h>

#include "engine/error.h"
#include "engine/ops/simd.h"

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

float duet_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t duet_f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even */
  return (uint16_t)(u >> 16);
}

float duet_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf / NaN */
  if (exp == 0) {
    /* zero or subnormal: man * 2^-24, exact in float32 */
    float v = (float)man * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t duet_f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;            /* NaN */
  if (a >= 0x477ff000u) return sign | 0x7c00u;           /* >= 65520 rounds to inf */
  if (a < 0x38800000u) {                                 /* below 2^-14: subnormal or zero */
    if (a < 0x33000000u) return sign;                    /* < 2^-25 rounds to 0 */
    uint32_t man = (a & 0x7fffffu) | 0x800000u;
    int shift = 126 - (int)(a >> 23);                    /* 14..24 (+1 for implicit scaling) */
    uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return sign | (uint16_t)r;
  }
  uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
  r += 0xfffu + ((r >> 13) & 1u);
  return sign | (uint16_t)(r >> 13);
}

/* 8 at a time with AVX2: the BF16/F16 prefill path widens every weight
 * once per call, so this should run at memory speed. */
void duet_widen_f32(float *dst, const void *src, duet_dtype t, long n) {
  if (t == DUET_F32) {
    memcpy(dst, src, (size_t)n * sizeof(float));
    return;
  }
  const uint16_t *s = src;
  long i = 0;
#if DUET_HAVE_AVX2
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128((const __m128i *)(s + i));
    __m256 f = t == DUET_F16 ? _mm256_cvtph_ps(h)
                             : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    _mm256_storeu_ps(dst + i, f);
  }
#endif
  if (t == DUET_BF16) {
    for (; i < n; i++) dst[i] = bits_f32((uint32_t)s[i] << 16);
  } else {
    for (; i < n; i++) dst[i] = duet_f16_to_f32(s[i]);
  }
}

int duet_matrix_rows_f32(float *dst, const duet_matrix *W, int row0, int nrows) {
  if (row0 < 0 || nrows < 0 || row0 > W->rows - nrows)
    return duet_error(DUET_EINVAL, "matrix rows %d..%d outside a %dx%d matrix", row0, row0 + nrows, W->rows, W->cols);
  size_t es;
  switch (W->dtype) {
  case DUET_F32: es = 4; break;
  case DUET_BF16:
  case DUET_F16: es = 2; break;
  default: return duet_error(DUET_EUNSUPPORTED, "matrix dtype %d is not F32, BF16 or F16", (int)W->dtype);
  }
  const char *src = (const char *)W->data + (size_t)row0 * (size_t)W->cols * es;
  duet_widen_f32(dst, src, W->dtype, (long)nrows * W->cols);
  return DUET_OK;
}
