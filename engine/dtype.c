#include "engine/dtype.h"

#include <string.h>

size_t duet_dtype_size(duet_dtype t) {
  switch (t) {
  case DUET_F32: return 4;
  case DUET_BF16: return 2;
  case DUET_F16: return 2;
  }
  return 0;
}

const char *duet_dtype_name(duet_dtype t) {
  switch (t) {
  case DUET_F32: return "F32";
  case DUET_BF16: return "BF16";
  case DUET_F16: return "F16";
  }
  return "?";
}

void duet_to_f32(duet_dtype t, const void *src, float *dst, size_t n) {
  const unsigned char *s = src;
  if (t == DUET_F32) {
    memcpy(dst, src, n * 4);
  } else if (t == DUET_BF16) {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, s + 2 * i, 2);
      dst[i] = duet_bf16_to_f32(h);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, s + 2 * i, 2);
      dst[i] = duet_f16_to_f32(h);
    }
  }
}

void duet_from_f32(duet_dtype t, const float *src, void *dst, size_t n) {
  unsigned char *d = dst;
  if (t == DUET_F32) {
    memcpy(dst, src, n * 4);
  } else {
    uint16_t (*narrow)(float) = t == DUET_BF16 ? duet_f32_to_bf16 : duet_f32_to_f16;
    for (size_t i = 0; i < n; i++) {
      uint16_t h = narrow(src[i]);
      memcpy(d + 2 * i, &h, 2);
    }
  }
}
