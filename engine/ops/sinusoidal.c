#include "engine/ops/sinusoidal.h"

#include <math.h>

#include "engine/ops/simd.h"

/* PE(p, 2i) = sin(p * f_i), PE(p, 2i+1) = cos(p * f_i), f_i = base^(-2i/C),
 * in double (the same as the documented PyTorch float64 reference). */
static void add_pe_row(float *out, const float *x, int p, int C, double log_base) {
  for (int i = 0; i < C / 2; i++) {
    double f = exp((double)(2 * i) * (-log_base / C));
    double a = (double)p * f;
    out[2 * i] = x[2 * i] + (float)sin(a);
    out[2 * i + 1] = x[2 * i + 1] + (float)cos(a);
  }
}

void duet_sinusoidal_forward_ref(float *out, const float *x, const int *pos, int N, int C, float base) {
  for (int n = 0; n < N; n++) add_pe_row(out + (long)n * C, x + (long)n * C, pos[n], C, log((double)base));
}

/* Rows are independent; sin/cos in double dominate, so spread rows over
 * threads (the frequencies are recomputed per row: cheap next to sin/cos). */
void duet_sinusoidal_forward(float *out, const float *x, const int *pos, int N, int C, float base) {
  double lb = log((double)base);
#pragma omp parallel for schedule(static) if ((long)N * C > DUET_OMP_MIN_WORK / 8)
  for (int n = 0; n < N; n++) add_pe_row(out + (long)n * C, x + (long)n * C, pos[n], C, lb);
}

void duet_sinusoidal_backward(float *dx, const float *dout, int N, int C) {
  long n = (long)N * C;
  for (long i = 0; i < n; i++) dx[i] += dout[i];
}
