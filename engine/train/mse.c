#include "engine/train/mse.h"

float duet_mse_forward(const float *x, const float *y, long n) {
  double s = 0; /* double: n may be large and the terms all positive */
  for (long i = 0; i < n; i++) {
    double d = (double)x[i] - y[i];
    s += d * d;
  }
  return n > 0 ? (float)(s / n) : 0.0f;
}

void duet_mse_backward(float *dx, const float *x, const float *y, float dloss, long n) {
  if (n <= 0) return;
  float k = 2.0f * dloss / (float)n;
  for (long i = 0; i < n; i++) dx[i] += k * (x[i] - y[i]);
}
